//! The services of `ferrotoe serve` against hostile and careless clients over the in-memory
//! link (simulated clock): heads split byte by byte, empty lines without end, pipelining past
//! `Connection: close`, clients that never read or never close, resets mid-response, and
//! echo/chargen into a closed window. Every case ends with bounded work (a round budget on
//! simulated time: a server that spins would exhaust it), no application error, the slot back
//! in the pool and the drop counted.

mod apps_support;

use apps_support::{Net, small_server_config};
use ferrotoe_benches::apps::http::site::{HELLO_TXT, INDEX_HTML, PATTERN_PAGE_LEN};
use tcp_engine::link::Impairments;
use tcp_engine::table::SlotKey;
use tcp_engine::tcb::{Events, State};

/// Rounds allowed per simulated second of an idle or stalled connection (timers and probes
/// only; a spinning poll loop would need about a million per second).
const ROUNDS_PER_IDLE_SEC: usize = 200;

fn established(net: &mut Net, port: u16) -> SlotKey {
    let key = net.connect(port);
    net.run_until(10_000, |n| n.client.state(key) == Some(State::Established));
    key
}

/// Waits until everything the raw client wrote on `key` was acknowledged.
fn flush(net: &mut Net, key: SlotKey) {
    net.run_until(10_000, |n| n.client.send_space(key) == Some(256 << 10));
}

/// The server's pool is whole again: no connection open, every listener back.
fn all_slots_back(net: &mut Net) {
    net.run_until(100_000, |n| n.server.open_connections() == 0);
    for s in net.server.services() {
        assert_eq!(s.listening, 2, "{s:?}");
    }
    assert_eq!(net.server.stats().app_errors, 0);
}

#[test]
fn http_head_split_byte_by_byte_after_empty_lines_is_served() {
    let mut net = Net::new(small_server_config(&["http"]), Impairments::NONE);
    let key = established(&mut net, 80);
    let request =
        b"\r\n\r\n\nGET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\nHEAD / HTTP/1.1\r\nHost: t\r\n\r\n";
    for b in request {
        net.client.write(key, &[*b]).unwrap();
        flush(&mut net, key);
    }
    net.run_until(100_000, |n| n.server.stats().http_requests == 2);
    net.run_until(100_000, |n| {
        n.got(key).ends_with(b"\r\n\r\n") && n.got(key).len() > HELLO_TXT.len() + 100
    });
    let got = String::from_utf8_lossy(net.got(key)).into_owned();
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert_eq!(got.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{got}");
    assert!(
        got.contains(&format!("\r\n\r\n{HELLO_TXT}HTTP/1.1 200")),
        "{got}"
    );
    assert!(
        got.contains(&format!("Content-Length: {}\r\n", INDEX_HTML.len())),
        "HEAD gives the page's length"
    );
    assert!(!got.contains("<html"), "and no body");
}

#[test]
fn http_head_trickled_a_byte_at_a_time_without_end_gets_408() {
    // Slowloris: a byte every 5 s and never the end of the head. Bytes of an unfinished head
    // are not progress: the idle timeout counts from the request's start.
    let mut net = Net::new(small_server_config(&["http"]), Impairments::NONE);
    let key = established(&mut net, 80);
    let started = net.clock.now();
    net.send_all(key, b"GET /hello.txt HTTP/1.1\r\nX: ");
    for _ in 0..20 {
        net.send_all(key, b"a");
        net.run_for(5, 5 * ROUNDS_PER_IDLE_SEC);
        if net.saw(key, Events::PEER_CLOSED) {
            break;
        }
    }
    assert!(net.got(key).starts_with(b"HTTP/1.1 408 "));
    let waited = net.clock.now() - started;
    assert!(
        waited < tcp_engine::time::Duration::from_secs(40),
        "{waited:?}"
    );
    net.client.close(net.clock.now(), key).unwrap();
    all_slots_back(&mut net);
}

#[test]
fn http_requests_pipelined_after_connection_close_are_not_answered() {
    let mut net = Net::new(small_server_config(&["http"]), Impairments::NONE);
    let key = established(&mut net, 80);
    net.send_all(
        key,
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    net.run_until(100_000, |n| n.saw(key, Events::PEER_CLOSED));
    let got = String::from_utf8_lossy(net.got(key)).into_owned();
    assert_eq!(got.matches("HTTP/1.1").count(), 1, "{got}");
    assert!(got.ends_with(HELLO_TXT), "{got}");
    assert_eq!(
        net.server.stats().http_requests,
        1,
        "the rest was discarded"
    );
    net.client.close(net.clock.now(), key).unwrap();
    all_slots_back(&mut net);
}

#[test]
fn http_client_that_never_reads_its_response_is_ended() {
    let mut net = Net::new(small_server_config(&["http"]), Impairments::NONE);
    let key = established(&mut net, 80);
    net.unread.insert(key);
    net.send_all(key, b"GET /pattern-1m.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    // The client's window closes; the server holds only its fixed send buffer and probes.
    net.run_for(5, 100_000);
    let out = net.server.services()[0].bytes_out;
    assert!(out < 1 << 20, "{out}");
    net.run_for(120, 120 * ROUNDS_PER_IDLE_SEC);
    // The server gave up on it: slot and buffers back, counted.
    all_slots_back(&mut net);
    let st = net.server.stats();
    assert_eq!((st.http_timeouts, st.app_errors), (1, 0));
    assert_eq!(net.server.services()[0].finished, 1);
    // The abort's RST reached the client inside its shut window (see
    // `an_abort_reaches_a_client_whose_window_is_shut`).
    assert!(net.saw(key, Events::RESET), "{:?}", net.client.state(key));
}

#[test]
fn http_empty_lines_without_end_do_not_keep_a_connection() {
    let mut net = Net::new(small_server_config(&["http"]), Impairments::NONE);
    let key = established(&mut net, 80);
    for _ in 0..12 {
        net.send_all(key, b"\r\n");
        net.run_for(10, 10 * ROUNDS_PER_IDLE_SEC);
        if net.saw(key, Events::PEER_CLOSED) {
            break;
        }
    }
    assert!(
        net.saw(key, Events::PEER_CLOSED),
        "two minutes of bare CRLFs are no request: the idle timeout applies"
    );
    assert!(net.got(key).is_empty(), "closed without a response");
    assert_eq!(net.server.stats().http_timeouts, 1);
    net.client.close(net.clock.now(), key).unwrap();
    all_slots_back(&mut net);
}

#[test]
fn http_client_that_never_closes_after_the_final_response_is_ended() {
    let mut net = Net::new(small_server_config(&["http"]), Impairments::NONE);
    let key = established(&mut net, 80);
    net.send_all(key, b"BAD\r\n\r\n");
    net.run_until(100_000, |n| n.saw(key, Events::PEER_CLOSED));
    assert!(net.got(key).starts_with(b"HTTP/1.1 400 "));
    // The client neither closes nor stops talking: a byte every 10 s, read and discarded.
    for _ in 0..12 {
        if net.saw(key, Events::RESET) {
            break;
        }
        net.send_all(key, b"x");
        net.run_for(10, 10 * ROUNDS_PER_IDLE_SEC);
    }
    assert!(
        net.saw(key, Events::RESET),
        "a closing connection lingers at most the idle timeout"
    );
    all_slots_back(&mut net);
}

#[test]
fn http_slow_reader_of_a_final_response_is_not_cut_off() {
    // Connection: close on a 1 MiB page, read in bursts 20 s apart: the response is written
    // and our side closed long before the client has it all. Acknowledged bytes are
    // progress, so the lingering limit does not reset the connection.
    let mut net = Net::new(small_server_config(&["http"]), Impairments::NONE);
    let key = established(&mut net, 80);
    net.unread.insert(key);
    net.send_all(
        key,
        b"GET /pattern-1m.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    for _ in 0..20 {
        net.run_for(20, 20 * ROUNDS_PER_IDLE_SEC);
        net.resume_reading(key);
        net.unread.insert(key);
        if net.got(key).len() > PATTERN_PAGE_LEN {
            break;
        }
    }
    net.unread.remove(&key);
    net.run_until(100_000, |n| n.saw(key, Events::PEER_CLOSED));
    assert!(!net.saw(key, Events::RESET));
    assert!(
        net.got(key).len() > PATTERN_PAGE_LEN,
        "{}",
        net.got(key).len()
    );
    assert_eq!(net.server.stats().http_timeouts, 0);
    net.client.close(net.clock.now(), key).unwrap();
    all_slots_back(&mut net);
}

#[test]
fn http_paths_cannot_leave_the_site_and_long_ones_are_bounded() {
    // A directory site with a secret beside it: dot segments, encoded or not, are looked up
    // literally among the pages read at start-up, never resolved on the file system.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("site");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("a.txt"), "page a\n").unwrap();
    std::fs::write(dir.path().join("secret"), "do not serve\n").unwrap();
    let site = ferrotoe_benches::apps::http::site::Site::from_dir(&root).unwrap();
    let mut net = Net::new(
        ferrotoe_benches::apps::server::ServerConfig {
            site,
            ..small_server_config(&["http"])
        },
        Impairments::NONE,
    );
    let long_404 = format!("/{}", "x".repeat(7000));
    let long_431 = format!("/{}", "x".repeat(9000));
    let cases: [(&str, &str); 8] = [
        ("/a.txt", "200 OK"),
        ("/%61.txt", "200 OK"),
        ("/../secret", "404 Not Found"),
        ("/%2e%2e/secret", "404 Not Found"),
        ("/..%2fsecret", "404 Not Found"),
        ("/a.txt/../a.txt", "404 Not Found"),
        (&long_404, "404 Not Found"),
        (&long_431, "431 Request Header Fields Too Large"),
    ];
    for (path, status) in cases {
        let key = established(&mut net, 80);
        let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        net.send_all(key, request.as_bytes());
        net.run_until(100_000, |n| n.saw(key, Events::PEER_CLOSED));
        let got = String::from_utf8_lossy(net.got(key)).into_owned();
        assert!(
            got.starts_with(&format!("HTTP/1.1 {status}\r\n")),
            "{}: {got}",
            &path[..path.len().min(40)]
        );
        assert!(!got.contains("do not serve"));
        net.client.close(net.clock.now(), key).unwrap();
    }
    all_slots_back(&mut net);
}

/// The RST of an abort reaches a client whose window is shut. It used to carry SND.MAX, one
/// past the byte of an outstanding zero-window probe, so a peer whose window is shut dropped it
/// as out of window (RFC 9293 3.10.7.4, RFC 5961 3.2) and stayed ESTABLISHED until it next
/// sent; `Tcb::abort` now sends min(SND.MAX, SND.UNA + SND.WND), as Linux does.
#[test]
fn an_abort_reaches_a_client_whose_window_is_shut() {
    let mut net = Net::new(small_server_config(&["http"]), Impairments::NONE);
    let key = established(&mut net, 80);
    net.unread.insert(key);
    net.send_all(key, b"GET /pattern-1m.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    net.run_for(120, 120 * ROUNDS_PER_IDLE_SEC);
    assert_eq!(net.server.stats().http_timeouts, 1, "the server aborted");
    assert!(
        net.saw(key, Events::RESET),
        "the client still thinks it is {:?}",
        net.client.state(key)
    );
}

#[test]
fn http_reset_mid_response_frees_the_connection() {
    let mut net = Net::new(small_server_config(&["http"]), Impairments::NONE);
    let key = established(&mut net, 80);
    net.send_all(key, b"GET /pattern-1m.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    net.run_until(100_000, |n| n.got(key).len() > 100_000);
    let _ = net.client.abort(net.clock.now(), key).unwrap();
    all_slots_back(&mut net);
    assert_eq!(net.server.stats().resets, 1);
    assert_eq!(net.server.services()[0].finished, 1);
    // The next client is served.
    let next = established(&mut net, 80);
    net.send_all(next, b"GET /hello.txt HTTP/1.0\r\n\r\n");
    net.run_until(100_000, |n| n.saw(next, Events::PEER_CLOSED));
    assert!(net.got(next).ends_with(HELLO_TXT.as_bytes()));
}

#[test]
fn echo_and_chargen_into_a_closed_window_stall_without_spinning() {
    let mut net = Net::new(small_server_config(&["echo", "chargen"]), Impairments::NONE);
    let echo = established(&mut net, 7);
    let chargen = established(&mut net, 19);
    net.unread.insert(echo);
    net.unread.insert(chargen);
    // Echo: 1 MiB in, none read back: the server's send buffer fills, then its receive
    // buffer, then the client's send buffer; the writer is stalled, not the server's memory.
    let data = vec![0x5a; 1 << 20];
    let mut at = 0;
    for _ in 0..2000 {
        at += net.client.write(echo, &data[at..]).unwrap();
        net.run_for(1, 100_000);
        if at == data.len() || net.client.send_space(echo) == Some(0) {
            break;
        }
    }
    net.run_for(5, 100_000);
    let (echo_in, chargen_out) = (
        net.server.services()[0].bytes_in,
        net.server.services()[1].bytes_out,
    );
    // What the server took is what its send ring and the client's window hold.
    assert!(echo_in <= (64 + 256) << 10, "{echo_in}");
    assert!(at < data.len(), "the client's writes stalled: {at}");
    assert!(
        chargen_out <= (64 + 256) << 10,
        "send buffer and client window: {chargen_out}"
    );
    // Two minutes of stall: only probes, nothing moves, the budget is not exhausted.
    net.run_for(120, 120 * ROUNDS_PER_IDLE_SEC);
    assert_eq!(net.server.services()[0].bytes_in, echo_in);
    assert_eq!(net.server.services()[1].bytes_out, chargen_out);
    // The client reads again: the echo catches up byte-exact and chargen resumes.
    net.resume_reading(echo);
    net.resume_reading(chargen);
    net.run_until(1_000_000, |n| n.got(echo).len() == at);
    assert!(net.got(echo).iter().all(|&b| b == 0x5a));
    assert!(net.server.services()[1].bytes_out > chargen_out);
    assert_eq!(net.server.stats().app_errors, 0);
}

#[test]
fn stream_idle_limit_resets_silent_and_non_reading_clients_only() {
    let mut cfg = small_server_config(&["echo", "discard", "chargen"]);
    cfg.stream_idle = Some(tcp_engine::time::Duration::from_secs(30));
    let mut net = Net::new(cfg, Impairments::NONE);
    let silent = established(&mut net, 9);
    let stalled = established(&mut net, 19);
    net.unread.insert(stalled);
    let talker = established(&mut net, 7);
    let started = net.clock.now();
    for round in 0..9 {
        if round == 5 {
            assert_eq!(net.server.stats().stream_timeouts, 0, "not before 30 s");
        }
        net.send_all(talker, b"ping");
        net.run_for(5, 5 * ROUNDS_PER_IDLE_SEC);
    }
    assert!(net.saw(silent, Events::RESET), "silent for 30 s: reset");
    // The non-reading chargen client is reset too, its RST inside its shut window.
    assert!(
        net.saw(stalled, Events::RESET),
        "not reading for 30 s: reset"
    );
    let waited = net.clock.now() - started;
    assert!(
        waited >= tcp_engine::time::Duration::from_secs(30),
        "{waited:?}"
    );
    assert!(
        !net.saw(talker, Events::RESET),
        "a byte every 5 s is progress"
    );
    assert!(net.got(talker).ends_with(b"pingping"));
    assert_eq!(net.server.stats().stream_timeouts, 2);
    assert_eq!(net.server.services()[1].finished, 1);
    assert_eq!(net.server.services()[2].finished, 1);
    net.client.close(net.clock.now(), talker).unwrap();
    all_slots_back(&mut net);
}

#[test]
fn echo_half_close_with_data_pending_echoes_everything_then_closes() {
    let mut net = Net::new(small_server_config(&["echo"]), Impairments::NONE);
    let key = established(&mut net, 7);
    net.unread.insert(key);
    // More than the client's window and the server's rings take: echo data stays pending at
    // the server when the FIN arrives.
    let data: Vec<u8> = (0..500_000u32).map(|i| (i % 251) as u8).collect();
    net.send_all(key, &data);
    net.client.close(net.clock.now(), key).unwrap();
    net.run_for(10, 100_000);
    assert!(
        !net.saw(key, Events::PEER_CLOSED),
        "the server does not close with echo data pending"
    );
    net.resume_reading(key);
    net.run_until(1_000_000, |n| n.saw(key, Events::PEER_CLOSED));
    assert!(net.got(key) == data, "every byte echoed before the FIN");
    all_slots_back(&mut net);
}
