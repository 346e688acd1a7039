//! The applications of `ferrotoe serve` and the client of `ferrotoe connect` over the
//! in-memory link (simulated clock, deterministic): echo, discard and chargen byte-exact (with
//! loss and reordering too), the HTTP responder's statuses, keep-alive, pipelining and
//! closing rules, listeners topped up under concurrency, the iperf3 server's limits (busy,
//! idle tests and connections), and hostile input.

mod apps_support;

use apps_support::{Net, SERVER_IP, small_server_config};
use ferrotoe_benches::apps::chargen::Chargen;
use ferrotoe_benches::apps::client::{ClientConfig, Expect, Progress, RecvMode};
use ferrotoe_benches::apps::http::response::Status;
use ferrotoe_benches::apps::http::site::{HELLO_TXT, INDEX_HTML, PATTERN_PAGE_LEN};
use ferrotoe_benches::pattern::Pattern;
use proptest::prelude::*;
use tcp_engine::link::{Impairments, Loss};
use tcp_engine::table::SlotKey;
use tcp_engine::tcb::{Events, State};

fn pattern(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    Pattern::new(n).fill(0, &mut v);
    v
}

fn bulk(port: u16, send: u64, recv: RecvMode, expect: Expect) -> ClientConfig {
    ClientConfig {
        remote: SERVER_IP,
        port,
        send,
        recv,
        expect,
        send_buffer: 256 << 10,
        recv_buffer: 256 << 10,
    }
}

fn lossy() -> Impairments {
    Impairments {
        loss: Loss::Uniform(0.01),
        reorder: 0.01,
        reorder_hold_us: 50,
        duplicate: 0.005,
        ..Impairments::NONE
    }
}

#[test]
fn echo_returns_every_byte_then_closes_after_the_client() {
    let mut net = Net::new(small_server_config(&["echo"]), Impairments::NONE);
    let key = net.connect(7);
    let data = pattern(300_000);
    net.send_all(key, &data);
    net.client.close(net.clock.now(), key).unwrap();
    net.run_until(200_000, |n| {
        n.saw(key, Events::CLOSED) || n.client.state(key) == Some(State::TimeWait)
    });
    assert!(net.got(key) == data, "echoed byte-exact");
    assert!(
        net.saw(key, Events::PEER_CLOSED),
        "the server closed after the client"
    );
    net.run_until(10_000, |n| n.server.open_connections() == 0);
    let s = net.server.services()[0];
    assert_eq!((s.accepted, s.finished, s.listening), (1, 1, 2));
    assert_eq!((s.bytes_in, s.bytes_out), (300_000, 300_000));
    assert_eq!(net.server.stats().app_errors, 0);
}

#[test]
fn bulk_through_echo_both_directions_with_loss_and_reordering() {
    let mut net = Net::new(small_server_config(&["echo"]), lossy());
    let n = 4 << 20;
    let client = net.run_bulk(bulk(7, n, RecvMode::UntilClose, Expect::Pattern));
    assert_eq!(client.progress(), Progress::Done, "{client:?}");
    let r = client.report(net.clock.now());
    assert_eq!((r.sent, r.received, r.extra), (n, n, 0));
    assert!(
        r.tcb.retransmitted_segments > 0,
        "the loss was felt: {:?}",
        r.tcb
    );
}

#[test]
fn discard_takes_everything_and_chargen_sends_rfc_864_lines() {
    let mut net = Net::new(small_server_config(&["discard", "chargen"]), lossy());
    let client = net.run_bulk(bulk(9, 2 << 20, RecvMode::None, Expect::Any));
    assert_eq!(client.progress(), Progress::Done, "{client:?}");
    net.run_until(100_000, |n| n.server.services()[0].finished == 1);
    assert_eq!(net.server.services()[0].bytes_in, 2 << 20);
    assert_eq!(net.server.services()[0].bytes_out, 0);

    let client = net.run_bulk(bulk(19, 0, RecvMode::Bytes(1 << 20), Expect::Chargen));
    assert_eq!(client.progress(), Progress::Done, "{client:?}");
    let r = client.report(net.clock.now());
    assert_eq!(r.received, 1 << 20, "verified against the chargen stream");
    net.run_until(100_000, |n| n.server.services()[1].finished == 1);
    assert!(net.server.services()[1].bytes_out >= 1 << 20);
    assert_eq!(net.server.open_connections(), 0);
}

#[test]
fn a_client_that_expects_the_wrong_bytes_fails_with_the_offset() {
    let mut net = Net::new(small_server_config(&["chargen"]), Impairments::NONE);
    let client = net.run_bulk(bulk(19, 0, RecvMode::Bytes(10_000), Expect::Pattern));
    match client.progress() {
        Progress::Failed(ferrotoe_benches::apps::client::ClientError::Mismatch(m)) => {
            assert_eq!(m.offset, 0);
            assert_eq!(m.got, Chargen::new().slice(0, 1)[0]);
        }
        other => panic!("{other:?}"),
    }
    let refused = net.run_bulk(bulk(4242, 10, RecvMode::None, Expect::Any));
    assert_eq!(
        refused.progress(),
        Progress::Failed(ferrotoe_benches::apps::client::ClientError::Refused)
    );
}

/// One parsed response: status, header fields (lower-case names), body.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Splits `data` into responses; `head_only[i]`: response i answers a HEAD.
fn responses(mut data: &[u8], head_only: &[bool]) -> Vec<Resp> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let end = data
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete head")
            + 4;
        let head = std::str::from_utf8(&data[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
        let status = status_line[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(": ").unwrap();
                (n.to_ascii_lowercase(), v.to_owned())
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().unwrap())
            .expect("every response has a Content-Length");
        let body_len = if head_only.get(out.len()).copied().unwrap_or(false) {
            0
        } else {
            len
        };
        let body = data[end..end + body_len].to_vec();
        data = &data[end + body_len..];
        out.push(Resp {
            status,
            headers,
            body,
        });
    }
    out
}

fn http_exchange(net: &mut Net, key: SlotKey, request: &[u8], until: impl Fn(&Net) -> bool) {
    net.send_all(key, request);
    net.run_until(200_000, |n| until(n));
}

#[test]
fn http_serves_pages_with_keep_alive_and_pipelining() {
    let mut net = Net::new(small_server_config(&["http"]), Impairments::NONE);
    let key = net.connect(80);
    // Two pipelined requests in one write, then a third on the same connection.
    let reqs =
        b"GET / HTTP/1.1\r\nHost: t\r\n\r\n\r\nHEAD /pattern-1m.bin HTTP/1.1\r\nHost: t\r\n\r\n";
    http_exchange(&mut net, key, reqs, |n| {
        n.got(key).windows(4).filter(|w| *w == b"\r\n\r\n").count() >= 2
            && n.got(key).len() > INDEX_HTML.len()
    });
    let r = responses(net.got(key), &[false, true]);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].status, 200);
    assert_eq!(r[0].body, INDEX_HTML.as_bytes());
    assert_eq!(
        r[0].header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(r[0].header("connection"), Some("keep-alive"));
    assert!(r[0].header("date").is_some_and(|d| d.ends_with(" GMT")));
    assert_eq!(r[1].status, 200);
    assert_eq!(
        r[1].header("content-length"),
        Some(&*PATTERN_PAGE_LEN.to_string())
    );
    assert!(r[1].body.is_empty(), "HEAD has no body");
    net.received.clear();
    let page = b"GET /pattern-1m.bin HTTP/1.1\r\nHost: t\r\n\r\n";
    http_exchange(&mut net, key, page, |n| n.got(key).len() > PATTERN_PAGE_LEN);
    let r = responses(net.got(key), &[]);
    assert!(
        r[0].body == pattern(PATTERN_PAGE_LEN),
        "the pattern page is byte-exact"
    );
    // A POST with a body: 405, the body skipped, the connection kept.
    net.received.clear();
    let post = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello=worldGET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    http_exchange(&mut net, key, post, |n| {
        n.got(key).ends_with(HELLO_TXT.as_bytes())
    });
    let r = responses(net.got(key), &[]);
    assert_eq!(r[0].status, 405);
    assert_eq!(r[0].header("allow"), Some("GET, HEAD"));
    assert_eq!(r[1].status, 200);
    assert_eq!(r[1].body, HELLO_TXT.as_bytes());
    // 404, then the client asks to close: the server closes after the response.
    net.received.clear();
    let close = b"GET /missing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    http_exchange(&mut net, key, close, |n| n.saw(key, Events::PEER_CLOSED));
    let r = responses(net.got(key), &[]);
    assert_eq!((r.len(), r[0].status), (1, 404));
    assert_eq!(r[0].header("connection"), Some("close"));
    let st = net.server.stats();
    assert_eq!(st.http_requests, 6);
    assert_eq!(st.http_status[Status::Ok.index()], 4, "200s");
}

#[test]
fn http_refuses_bad_requests_with_their_status_and_closes() {
    let cases: [(&[u8], u16); 6] = [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/3.0\r\nHost: t\r\n\r\n", 505),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
            501,
        ),
        (b"GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        (b"DELETE / HTTP/1.0\r\n\r\n", 405),
    ];
    let mut net = Net::new(small_server_config(&["http"]), Impairments::NONE);
    for (request, status) in cases {
        let key = net.connect(80);
        http_exchange(&mut net, key, request, |n| n.saw(key, Events::PEER_CLOSED));
        let r = responses(net.got(key), &[]);
        assert_eq!(r.len(), 1, "{:?}", String::from_utf8_lossy(request));
        assert_eq!(
            r[0].status,
            status,
            "{:?}",
            String::from_utf8_lossy(request)
        );
        assert_eq!(r[0].header("connection"), Some("close"));
        net.client.close(net.clock.now(), key).unwrap();
    }
    // A head that never ends: 431 once the limit is reached, whatever else arrives.
    let key = net.connect(80);
    let mut long = b"GET / HTTP/1.1\r\nHost: t\r\nX-Long: ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 20_000));
    http_exchange(&mut net, key, &long, |n| n.saw(key, Events::PEER_CLOSED));
    let r = responses(net.got(key), &[]);
    assert_eq!(r[0].status, 431);
    net.client.close(net.clock.now(), key).unwrap();
    // A client that closes mid-head gets a 400.
    let key = net.connect(80);
    net.run_until(10_000, |n| n.client.state(key) == Some(State::Established));
    net.send_all(key, b"GET / HTT");
    net.client.close(net.clock.now(), key).unwrap();
    net.run_until(100_000, |n| n.saw(key, Events::PEER_CLOSED));
    assert_eq!(responses(net.got(key), &[])[0].status, 400);
    net.run_until(100_000, |n| n.server.open_connections() == 0);
    assert_eq!(net.server.stats().app_errors, 0);
    assert_eq!(net.server.services()[0].listening, 2);
}

#[test]
fn http_connections_that_stall_are_ended() {
    let mut net = Net::new(small_server_config(&["http"]), Impairments::NONE);
    // A head begun and never finished: 408 after the idle timeout (30 s of simulated time).
    let slow = net.connect(80);
    net.run_until(10_000, |n| n.client.state(slow) == Some(State::Established));
    let started = net.clock.now();
    net.send_all(slow, b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nX-Slow: ");
    net.run_until(1_000_000, |n| n.saw(slow, Events::PEER_CLOSED));
    let waited = net.clock.now() - started;
    assert!(
        waited >= tcp_engine::time::Duration::from_secs(30)
            && waited < tcp_engine::time::Duration::from_secs(32),
        "{waited:?}"
    );
    let r = responses(net.got(slow), &[]);
    assert_eq!((r.len(), r[0].status), (1, 408));
    // (Clients that close in turn: one that lingers half-open is reset after the idle timeout
    // and counted too, see apps_hostile.rs.)
    net.client.close(net.clock.now(), slow).unwrap();
    // A keep-alive connection left idle after a response is closed without a response.
    let idle = net.connect(80);
    http_exchange(
        &mut net,
        idle,
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        |n| n.got(idle).ends_with(HELLO_TXT.as_bytes()),
    );
    net.received.clear();
    net.run_until(1_000_000, |n| n.saw(idle, Events::PEER_CLOSED));
    assert!(net.got(idle).is_empty(), "closed without a response");
    net.client.close(net.clock.now(), idle).unwrap();
    assert_eq!(net.server.stats().http_timeouts, 2);
    // An open connection that keeps talking is not ended.
    let busy = net.connect(80);
    for _ in 0..40 {
        http_exchange(
            &mut net,
            busy,
            b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n",
            |_| true,
        );
        let until = net.clock.now() + tcp_engine::time::Duration::from_secs(1);
        net.run_until(1_000_000, |n| n.clock.now() >= until);
    }
    assert!(
        !net.saw(busy, Events::PEER_CLOSED),
        "40 s of requests, one a second"
    );
    assert_eq!(net.server.stats().http_timeouts, 2);
}

/// An iperf3 cookie: 36 characters (the last one `c`) and a NUL.
fn iperf3_cookie(c: u8) -> [u8; 37] {
    let mut k = *b"ferrotoeappstestcookie0123456789abcX\0";
    k[35] = c;
    k
}

#[test]
fn iperf3_tests_beyond_the_table_are_told_busy_and_idle_ones_are_ended() {
    use ferrotoe_benches::apps::iperf3::MAX_TESTS;
    use ferrotoe_benches::apps::iperf3::control::IDLE_LIMIT;
    let mut net = Net::new(small_server_config(&["iperf3"]), Impairments::NONE);
    let open = |net: &mut Net, cookie: &[u8]| {
        let k = net.connect(5201);
        net.run_until(10_000, |n| n.client.state(k) == Some(State::Established));
        net.send_all(k, cookie);
        k
    };
    let started = net.clock.now();
    let tests: Vec<SlotKey> = (0..MAX_TESTS as u8)
        .map(|i| open(&mut net, &iperf3_cookie(b'a' + i)))
        .collect();
    for &k in &tests {
        net.run_until(100_000, |n| n.got(k) == [9]);
    }
    // One more test: ACCESS_DENIED (the server is busy), then the close.
    let extra = open(&mut net, &iperf3_cookie(b'z'));
    net.run_until(100_000, |n| n.saw(extra, Events::PEER_CLOSED));
    assert_eq!(net.got(extra), [0xff]);
    assert_eq!(net.server.stats().iperf3.busy, 1);
    // A connection that never sends its cookie, and the tests that never send their
    // parameters, are ended after the idle limit.
    let silent = net.connect(5201);
    net.run_until(1_000_000, |n| {
        n.saw(silent, Events::PEER_CLOSED) && tests.iter().all(|&k| n.saw(k, Events::PEER_CLOSED))
    });
    let waited = net.clock.now() - started;
    assert!(
        waited > IDLE_LIMIT && waited < IDLE_LIMIT + tcp_engine::time::Duration::from_secs(3),
        "{waited:?}"
    );
    let st = net.server.stats().iperf3;
    assert_eq!(
        (st.aborted, st.bad_cookies, st.completed),
        (MAX_TESTS as u64, 1, 0)
    );
    assert_eq!(net.server.iperf3_tests_active(), 0);
    // The table is free again.
    let next = open(&mut net, &iperf3_cookie(b'y'));
    net.run_until(100_000, |n| n.got(next) == [9]);
}

#[test]
fn more_clients_than_listeners_are_all_served() {
    let mut net = Net::new(small_server_config(&["http"]), Impairments::NONE);
    let keys: Vec<SlotKey> = (0..12).map(|_| net.connect(80)).collect();
    for &k in &keys {
        net.client
            .write(
                k,
                b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
    }
    net.run_until(500_000, |n| {
        keys.iter().all(|&k| n.saw(k, Events::PEER_CLOSED))
    });
    for &k in &keys {
        let r = responses(net.got(k), &[]);
        assert_eq!(
            (r[0].status, r[0].body.as_slice()),
            (200, HELLO_TXT.as_bytes())
        );
    }
    assert_eq!(net.server.services()[0].accepted, 12);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Arbitrary bytes, or a valid request with bytes flipped, never upset the server: it
    /// answers or closes, keeps its listeners, and serves the next client.
    #[test]
    fn hostile_http_input_is_answered_or_closed(
        junk in proptest::collection::vec(any::<u8>(), 0..12_000),
        flips in proptest::collection::vec((0usize..60, any::<u8>()), 0..6),
        valid_prefix in any::<bool>(),
    ) {
        let mut net = Net::new(small_server_config(&["http"]), Impairments::NONE);
        let mut input = if valid_prefix {
            b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\n".to_vec()
        } else {
            Vec::new()
        };
        for (at, b) in flips {
            if let Some(x) = input.get_mut(at) {
                *x = b;
            }
        }
        input.extend_from_slice(&junk);
        let key = net.connect(80);
        net.run_until(10_000, |n| n.client.state(key) == Some(State::Established));
        net.send_all(key, &input);
        net.client.close(net.clock.now(), key).unwrap();
        net.run_until(500_000, |n| n.server.open_connections() == 0);
        prop_assert_eq!(net.server.services()[0].accepted, 1);
        prop_assert!(input.is_empty() || net.server.services()[0].bytes_in > 0);
        prop_assert_eq!(net.server.stats().app_errors, 0);
        prop_assert_eq!(net.server.services()[0].listening, 2);
        let got = net.got(key).to_vec();
        prop_assert!(got.is_empty() || got.starts_with(b"HTTP/1.1 "));
        let next = net.connect(80);
        http_exchange(&mut net, next, b"GET /hello.txt HTTP/1.0\r\n\r\n", |n| n.saw(next, Events::PEER_CLOSED));
        let r = responses(net.got(next), &[]);
        prop_assert_eq!(r[0].status, 200);
    }
}
