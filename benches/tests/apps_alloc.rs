//! The applications allocate nothing after set-up: a counting global allocator watches the
//! server (echo, chargen, HTTP with keep-alive, pipelining, an error response) and the bulk
//! client through whole connections, handshake to close, over the in-memory link.

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
