//! The applications allocate nothing after set-up: a counting global allocator watches the
//! server (echo, chargen, HTTP with keep-alive, pipelining, an error response) and the bulk
//! client through whole connections, handshake to close, over the in-memory link; and the
//! iperf3 server through whole tests (normal, reverse, a refused UDP test) from a raw client.

mod apps_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use apps_support::{Net, SERVER_IP, endpoint_config, offload_caps, small_server_config};
use ferrotoe_benches::apps::AppBuffers;
use ferrotoe_benches::apps::client::{Client, ClientConfig, Expect, Progress, RecvMode};
use ferrotoe_benches::apps::http::response::Status;
use tcp_engine::link::Impairments;
use tcp_engine::tcb::{Events, State};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only an
// atomic and a const-initialised thread-local (neither allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns how many allocations it made on this thread.
fn counted(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

fn drive(net: &mut Net, client: &mut Client) {
    for _ in 0..2_000_000 {
        let now = net.clock.now();
        let s = net.server.poll(now, &mut net.dev_s);
        let c = client.poll(now, &mut net.dev_c);
        if client.progress() != Progress::Running {
            return;
        }
        if s.received + s.transmitted + c.received + c.transmitted > 0 {
            net.clock.advance_us(1);
        } else {
            let next = [client.next_deadline(), net.server.next_deadline()]
                .into_iter()
                .flatten()
                .min()
                .unwrap();
            net.clock.set_us(next.micros().max(now.micros() + 1));
        }
    }
}

#[test]
fn server_and_client_allocate_nothing_after_set_up() {
    assert_eq!(
        counted(|| drop(std::hint::black_box(vec![1u8; 10]))),
        1,
        "the counter sees allocations"
    );
    let mut net = Net::new(
        small_server_config(&["echo", "chargen", "http"]),
        Impairments::NONE,
    );
    let bulk = |net: &Net, port, send, recv, expect| {
        Client::new(
            endpoint_config(3, offload_caps()),
            ClientConfig {
                remote: SERVER_IP,
                port,
                send,
                recv,
                expect,
                send_buffer: 128 << 10,
                recv_buffer: 128 << 10,
            },
            net.clock.now(),
        )
        .unwrap()
    };
    // Echo, both directions verified.
    let mut echo = bulk(&net, 7, 2 << 20, RecvMode::UntilClose, Expect::Pattern);
    let n = counted(|| drive(&mut net, &mut echo));
    assert_eq!(echo.progress(), Progress::Done);
    assert_eq!(n, 0, "allocations during an echo connection");
    // Chargen.
    let mut chargen = bulk(&net, 19, 0, RecvMode::Bytes(1 << 20), Expect::Chargen);
    let n = counted(|| drive(&mut net, &mut chargen));
    assert_eq!(chargen.progress(), Progress::Done);
    assert_eq!(n, 0, "allocations during a chargen connection");

    // HTTP: pipelined keep-alive requests, a 404, then a close, on a raw client whose
    // buffers exist before counting; the response bytes are counted, not kept.
    let requests: &[u8] = b"GET /pattern-1m.bin HTTP/1.1\r\nHost: t\r\n\r\n\
        HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\n\
        GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let (n, got, closed) = raw_exchange(&mut net, requests);
    assert!(closed, "the server closed after the last response");
    assert!(got > 1 << 20, "the responses arrived ({got} bytes)");
    let st = net.server.stats();
    assert_eq!(
        (
            st.http_requests,
            st.http_status[Status::Ok.index()],
            st.http_status[Status::NotFound.index()]
        ),
        (4, 3, 1)
    );
    assert_eq!(n, 0, "allocations during an HTTP connection");

    // Hostile input: a head that never ends (431), bytes without a line end that stop coming
    // (408 after the idle timeout), and bytes that are no request (400).
    let mut endless = b"GET / HTTP/1.1\r\nX: ".to_vec();
    endless.extend(std::iter::repeat_n(b'y', 40_000));
    for junk in [
        &endless[..],
        &[0xffu8; 3000][..],
        b"\x00\x01 / HTTP/1.1\r\n\r\n",
    ] {
        let (n, got, closed) = raw_exchange(&mut net, junk);
        assert!(closed && got > 0, "answered and closed");
        assert_eq!(n, 0, "allocations while refusing hostile input");
    }
    let st = net.server.stats();
    let count = |s: Status| st.http_status[s.index()];
    assert_eq!(
        (
            count(Status::HeadTooLarge),
            count(Status::RequestTimeout),
            count(Status::BadRequest)
        ),
        (1, 1, 1)
    );
    assert_eq!(st.http_timeouts, 1);
}

/// Opens a raw client connection to the HTTP port, writes `input` once established, reads
/// until the server closes; returns the allocations made, the bytes received, whether the
/// server closed. The client's buffers are allocated before counting starts.
fn raw_exchange(net: &mut Net, input: &[u8]) -> (u64, usize, bool) {
    let bufs = AppBuffers::with_capacity(256 << 10, 256 << 10);
    let mut got = 0usize;
    let mut closed = false;
    let n = counted(|| {
        let k = net
            .client
            .connect(net.clock.now(), SERVER_IP, 80, bufs)
            .map_err(|(e, _)| e)
            .unwrap();
        let mut written = 0;
        for _ in 0..2_000_000 {
            if written < input.len() && net.client.state(k) == Some(State::Established) {
                written += net.client.write(k, &input[written..]).unwrap_or(0);
            }
            let now = net.clock.now();
            let s = net.server.poll(now, &mut net.dev_s);
            let c = net.client.poll(now, &mut net.dev_c, |ep, open| {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = ep.read(open.key, &mut buf) {
                    got += n;
                }
                closed |= open.events.contains(Events::PEER_CLOSED);
            });
            if closed {
                let _ = net.client.close(now, k);
                break;
            }
            if s.received + s.transmitted + c.received + c.transmitted > 0 {
                net.clock.advance_us(1);
            } else {
                let next = [net.client.next_deadline(), net.server.next_deadline()]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap();
                net.clock.set_us(next.micros().max(now.micros() + 1));
            }
        }
    });
    (n, got, closed)
}

/// What the raw iperf3 client of [`iperf3_session`] does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    Cookie,
    Params,
    CreateStreams,
    DataCookies,
    Running,
    Results,
    Display,
    Closing,
}

const IPERF_COOKIE: &[u8; 37] = b"allocationfreeiperf3cookie0123456789\0";

/// A whole iperf3 test over the in-memory link from a raw client speaking the protocol
/// (cookie, parameters, `streams` data connections, `amount` bytes per stream one way or the
/// other, `TEST_END`, results, `IPERF_DONE`), its buffers allocated before counting. Returns
/// the allocations made and everything the server sent on the control connection.
fn iperf3_session(
    net: &mut Net,
    params: &[u8],
    streams: usize,
    reverse: bool,
    amount: usize,
) -> (u64, Vec<u8>) {
    let ctl_bufs = AppBuffers::with_capacity(64 << 10, 64 << 10);
    let mut data_bufs: Vec<Option<AppBuffers>> = (0..streams)
        .map(|_| Some(AppBuffers::with_capacity(256 << 10, 256 << 10)))
        .collect();
    let mut framed = [0u8; 512];
    framed[..4].copy_from_slice(&(params.len() as u32).to_be_bytes());
    framed[4..4 + params.len()].copy_from_slice(params);
    let framed = &framed[..4 + params.len()];
    let results_json: &[u8] = br#"{"cpu_util_total":0,"streams":[]}"#;
    let mut client_results = [0u8; 64];
    client_results[..4].copy_from_slice(&(results_json.len() as u32).to_be_bytes());
    client_results[4..4 + results_json.len()].copy_from_slice(results_json);
    let client_results = &client_results[..4 + results_json.len()];
    let zeros = [0u8; 16 << 10];
    let mut ctl_in = [0u8; 16 << 10];
    let mut ctl_len = 0usize;
    let mut stage = Stage::Cookie;
    let mut data = [None; 4];
    let mut cookie_sent = [false; 4];
    let mut written = [0usize; 4];
    let mut received = 0usize;
    let n = counted(|| {
        let ctl = net
            .client
            .connect(net.clock.now(), SERVER_IP, 5201, ctl_bufs)
            .map_err(|(e, _)| e)
            .unwrap();
        for _ in 0..4_000_000 {
            let now = net.clock.now();
            let s = net.server.poll(now, &mut net.dev_s);
            let c = net.client.poll(now, &mut net.dev_c, |ep, open| {
                if open.key == ctl {
                    while let Ok(n @ 1..) = ep.read(open.key, &mut ctl_in[ctl_len..]) {
                        ctl_len += n;
                    }
                } else {
                    while let Ok(n @ 1..) = ep.read_with(open.key, |b| b.len()) {
                        received += n;
                    }
                }
            });
            let ep = &mut net.client;
            let established = |ep: &ferrotoe_benches::apps::AppEndpoint, k| {
                ep.state(k) == Some(State::Established)
            };
            match stage {
                Stage::Cookie if established(ep, ctl) => {
                    ep.write(ctl, IPERF_COOKIE).unwrap();
                    stage = Stage::Params;
                }
                Stage::Params if ctl_len == 1 => {
                    assert_eq!(ctl_in[0], 9, "PARAM_EXCHANGE");
                    ep.write(ctl, framed).unwrap();
                    stage = Stage::CreateStreams;
                }
                Stage::CreateStreams if ctl_len >= 2 => {
                    if ctl_in[1] != 10 {
                        // Refused: SERVER_ERROR and its numbers.
                        if ctl_len >= 10 {
                            ep.close(now, ctl).unwrap();
                            stage = Stage::Closing;
                        }
                    } else {
                        for (i, b) in data_bufs.iter_mut().enumerate() {
                            let k = ep.connect(now, SERVER_IP, 5201, b.take().unwrap());
                            data[i] = Some(k.map_err(|(e, _)| e).unwrap());
                        }
                        stage = Stage::DataCookies;
                    }
                }
                Stage::DataCookies => {
                    for i in 0..streams {
                        let k = data[i].unwrap();
                        if !cookie_sent[i] && established(ep, k) {
                            ep.write(k, IPERF_COOKIE).unwrap();
                            cookie_sent[i] = true;
                        }
                    }
                    if ctl_len >= 4 {
                        assert_eq!(&ctl_in[2..4], [1, 2], "TEST_START, TEST_RUNNING");
                        stage = Stage::Running;
                    }
                }
                Stage::Running => {
                    let mut done = true;
                    for i in 0..streams {
                        if !reverse && written[i] < amount {
                            let k = data[i].unwrap();
                            let want = (amount - written[i]).min(zeros.len());
                            written[i] += ep.write(k, &zeros[..want]).unwrap();
                            done = false;
                        }
                    }
                    if reverse {
                        done = received >= amount * streams;
                    }
                    if done {
                        ep.write(ctl, &[4]).unwrap();
                        stage = Stage::Results;
                    }
                }
                Stage::Results if ctl_len >= 5 => {
                    assert_eq!(ctl_in[4], 13, "EXCHANGE_RESULTS");
                    ep.write(ctl, client_results).unwrap();
                    stage = Stage::Display;
                }
                Stage::Display if ctl_len >= 9 => {
                    let len = u32::from_be_bytes(ctl_in[5..9].try_into().unwrap()) as usize;
                    if ctl_len == 9 + len + 1 {
                        assert_eq!(ctl_in[9 + len], 14, "DISPLAY_RESULTS");
                        ep.write(ctl, &[16]).unwrap();
                        ep.close(now, ctl).unwrap();
                        for k in data[..streams].iter().flatten() {
                            let _ = ep.close(now, *k);
                        }
                        stage = Stage::Closing;
                    }
                }
                Stage::Closing if net.server.open_connections() == 0 => break,
                _ => {}
            }
            if s.received + s.transmitted + c.received + c.transmitted > 0 {
                net.clock.advance_us(1);
            } else {
                let next = [net.client.next_deadline(), net.server.next_deadline()]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(now);
                net.clock.set_us(next.micros().max(now.micros() + 1));
            }
        }
    });
    assert_eq!(stage, Stage::Closing, "the session ran to its end");
    (n, ctl_in[..ctl_len].to_vec())
}

#[test]
fn the_iperf3_server_allocates_nothing_after_set_up() {
    let mut net = Net::new(small_server_config(&["iperf3"]), Impairments::NONE);
    // Normal, two streams: the server receives.
    let (n, ctl) = iperf3_session(
        &mut net,
        br#"{"tcp":true,"time":1,"parallel":2,"len":131072}"#,
        2,
        false,
        1 << 20,
    );
    assert_eq!(n, 0, "allocations during a normal iperf3 test");
    let results = String::from_utf8_lossy(&ctl[9..ctl.len() - 1]).into_owned();
    assert!(results.contains(r#""id":1,"bytes":"#), "{results}");
    assert!(results.contains(r#""id":3,"bytes":"#), "{results}");
    // Reverse: the server sends.
    let (n, _) = iperf3_session(
        &mut net,
        br#"{"tcp":true,"time":1,"parallel":1,"reverse":true}"#,
        1,
        true,
        1 << 20,
    );
    assert_eq!(n, 0, "allocations during a reverse iperf3 test");
    // UDP: refused.
    let (n, ctl) = iperf3_session(&mut net, br#"{"udp":true,"parallel":1}"#, 0, false, 0);
    assert_eq!(n, 0, "allocations while refusing a UDP test");
    assert_eq!(ctl[1], 0xfe, "SERVER_ERROR");
    let st = net.server.stats().iperf3;
    assert_eq!((st.completed, st.refused_udp), (2, 1), "{st:?}");
    assert!(st.bytes_received > 0 && st.bytes_sent >= 1 << 20, "{st:?}");
}
