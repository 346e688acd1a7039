//! Shared pieces of the endpoint integration tests: hosts on 198.18.0.0/24, a verifiable
//! byte pattern, and a one-thread driver that runs two endpoints over the in-memory link on a
//! simulated clock until a bulk transfer in both directions is complete.

#![allow(dead_code)]

use tcp_engine::device::{FrameDevice, OffloadCaps};
use tcp_engine::endpoint::{BoxedEndpoint, Buffers, EndpointConfig, Recycled};
use tcp_engine::link::{LinkConfig, LinkCounters, LinkEnd, SimClock, pair};
use tcp_engine::pcap::Capture;
use tcp_engine::table::{HashSecret, SlotKey};
use tcp_engine::tcb::{Events, RingBuffer, State, TcbConfig, TcbCounters};
use tcp_engine::time::{Duration, Instant};
use tcp_engine::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr};

pub type Bufs = Buffers<RingBuffer<Box<[u8]>>>;
pub type Ep = BoxedEndpoint<Bufs>;

pub const PORT: u16 = 5000;
pub const MIB: u64 = 1 << 20;

pub fn ip(n: u8) -> Ipv4Address {
    Ipv4Address::new(198, 18, 0, n)
}

pub fn mac(n: u8) -> EthernetAddress {
    EthernetAddress([2, 0, 0, 0, 0, n])
}

/// Host `n` (198.18.0.n) with `capacity` slots.
pub fn host(n: u8, caps: OffloadCaps, tcb: TcbConfig, capacity: usize) -> Ep {
    let mut config = EndpointConfig::new(
        mac(n),
        Ipv4Cidr::new(ip(n), 24).unwrap(),
        caps,
        HashSecret::from_bytes([n; 16]),
    );
    config.tcb = tcb;
    Ep::with_capacity(config, capacity).unwrap()
}

/// Bytes of the repeating pattern (a prime multiple, so offsets do not alias page sizes).
const PATTERN: usize = 251 * 4096;

/// The byte at `offset` of stream `id`: a repeating pattern, rotated per stream.
pub struct Pattern {
    bytes: Vec<u8>,
}

impl Pattern {
    pub fn new(id: u8) -> Pattern {
        Pattern {
            bytes: (0..PATTERN + (1 << 20))
                .map(|i| ((i % 251) as u8) ^ id.wrapping_mul(0x5b))
                .collect(),
        }
    }

    /// Up to `max` bytes starting at stream offset `offset`.
    pub fn at(&self, offset: u64, max: usize) -> &[u8] {
        let o = (offset % PATTERN as u64) as usize;
        &self.bytes[o..o + max.min(1 << 20)]
    }
}

/// One direction of a transfer.
pub struct Stream {
    pub total: u64,
    pub written: u64,
    pub received: u64,
    pub closed: bool,
    pub peer_closed: bool,
    pattern: Pattern,
    scratch: Vec<u8>,
}

impl Stream {
    pub fn new(id: u8, total: u64) -> Stream {
        Stream {
            total,
            written: 0,
            received: 0,
            closed: false,
            peer_closed: false,
            pattern: Pattern::new(id),
            scratch: vec![0; 256 << 10],
        }
    }

    /// Writes what the send buffer takes; closes once everything is written. Returns whether
    /// anything happened.
    pub fn write(&mut self, ep: &mut Ep, now: Instant, key: SlotKey) -> bool {
        let mut progress = false;
        while self.written < self.total {
            let want = (self.total - self.written).min(1 << 20) as usize;
            let n = ep.write(key, self.pattern.at(self.written, want)).unwrap();
            if n == 0 {
                break;
            }
            self.written += n as u64;
            progress = true;
        }
        if self.written == self.total && !self.closed {
            ep.close(now, key).unwrap();
            self.closed = true;
            progress = true;
        }
        progress
    }

    /// Reads and verifies what arrived. Returns whether anything was read.
    pub fn read(&mut self, ep: &mut Ep, key: SlotKey) -> bool {
        let mut progress = false;
        loop {
            let n = ep.read(key, &mut self.scratch).unwrap();
            if n == 0 {
                return progress;
            }
            let expected = self.pattern.at(self.received, n);
            if self.scratch[..n] != expected[..n] {
                let at = (0..n).find(|&i| self.scratch[i] != expected[i]).unwrap();
                panic!("stream corrupt at byte {}", self.received + at as u64);
            }
            self.received += n as u64;
            assert!(self.received <= self.total, "more bytes than were sent");
            progress = true;
        }
    }
}

/// What a two-endpoint transfer measured.
#[derive(Debug)]
pub struct Report {
    pub simulated: Duration,
    pub client: TcbCounters,
    pub server: TcbCounters,
    pub a_to_b: LinkCounters,
    pub b_to_a: LinkCounters,
    pub client_ep: tcp_engine::endpoint::EndpointCounters,
    pub server_ep: tcp_engine::endpoint::EndpointCounters,
}

/// A device whose next frame arrival is known (the link, or a capture around it).
pub trait Arrivals: FrameDevice {
    /// The link end.
    fn link(&self) -> &LinkEnd;

    /// When the next frame for this end becomes receivable.
    fn next_arrival(&self) -> Option<Instant> {
        self.link().next_arrival_us().map(Instant::from_micros)
    }
}

impl Arrivals for LinkEnd {
    fn link(&self) -> &LinkEnd {
        self
    }
}

impl<W: std::io::Write, C: FnMut() -> u64> Arrivals for Capture<LinkEnd, W, C> {
    fn link(&self) -> &LinkEnd {
        self.inner()
    }
}

/// Connects host 1 (client, caps A) to host 2 (server, caps B) over `link`, sends `bytes.0`
/// from client to server and `bytes.1` back at the same time, closes both ways, and runs until
/// everything arrived byte-exact and both connections are over. Panics with a diagnosis when
/// `limit` of simulated time passes.
///
/// With `ENDPOINT_PCAP=path` in the environment, each end's frames are captured to `path.a`
/// and `path.b`.
pub fn bulk(
    link: &LinkConfig,
    tcb: TcbConfig,
    bufs: usize,
    bytes: (u64, u64),
    limit: Duration,
) -> Report {
    let clock = SimClock::new();
    clock.set_us(1_000_000);
    let (dev_a, dev_b) = pair(link, &clock).unwrap();
    match std::env::var_os("ENDPOINT_PCAP") {
        Some(path) => {
            let capture = |dev: LinkEnd, suffix: &str| {
                let c = clock.clone();
                let mut path = path.clone();
                path.push(suffix);
                let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
                Capture::new(dev, file, move || c.now_us()).unwrap()
            };
            let (dev_a, dev_b) = (capture(dev_a, ".a"), capture(dev_b, ".b"));
            bulk_on(link, tcb, bufs, bytes, limit, &clock, dev_a, dev_b)
        }
        None => bulk_on(link, tcb, bufs, bytes, limit, &clock, dev_a, dev_b),
    }
}

#[allow(clippy::too_many_arguments)]
fn bulk_on<DA: Arrivals, DB: Arrivals>(
    link: &LinkConfig,
    tcb: TcbConfig,
    bufs: usize,
    bytes: (u64, u64),
    limit: Duration,
    clock: &SimClock,
    mut dev_a: DA,
    mut dev_b: DB,
) -> Report {
    let mut a = host(1, link.caps_a, tcb, 4);
    let mut b = host(2, link.caps_b, tcb, 4);
    b.listen(PORT, Buffers::with_capacity(bufs, bufs))
        .map_err(|(e, _)| e)
        .unwrap();
    let start = clock.now();
    let ka = a
        .connect(start, ip(2), PORT, Buffers::with_capacity(bufs, bufs))
        .map_err(|(e, _)| e)
        .unwrap();
    let mut kb: Option<SlotKey> = None;
    let mut up = Stream::new(1, bytes.0);
    let mut down = Stream::new(2, bytes.1);
    let (mut a_state, mut b_state) = (State::SynSent, State::Listen);
    let over = |s: State| matches!(s, State::Closed | State::TimeWait);
    let mut iterations = 0u64;
    loop {
        iterations += 1;
        let now = clock.now();
        assert!(
            now - start <= limit,
            "not done after {:?}: up {}/{} down {}/{} a {:?} b {:?}\nA {:#?}\nB {:#?}",
            now - start,
            up.received,
            up.total,
            down.received,
            down.total,
            a_state,
            b_state,
            a.tcb(ka),
            kb.and_then(|k| b.tcb(k))
        );
        let mut progress = false;
        let ra = a.poll(now, &mut dev_a, |_, open| {
            assert_eq!(open.key, ka);
            if open.events.contains(Events::PEER_CLOSED) {
                down.peer_closed = true;
            }
            assert!(!open.events.contains(Events::RESET), "client reset");
        });
        let rb = b.poll(now, &mut dev_b, |_, open| {
            if open.events.contains(Events::SYN_TO_LISTENER) {
                kb = Some(open.key);
            }
            if open.events.contains(Events::PEER_CLOSED) {
                up.peer_closed = true;
            }
            assert!(!open.events.contains(Events::RESET), "server reset");
        });
        progress |= ra.received + ra.transmitted + rb.received + rb.transmitted > 0;
        if a.state(ka).is_some_and(|s| s.is_synchronized()) {
            progress |= up.write(&mut a, now, ka);
        }
        progress |= down.read(&mut a, ka);
        if let Some(kb) = kb {
            if b.state(kb).is_some_and(|s| s.is_synchronized()) {
                progress |= down.write(&mut b, now, kb);
            }
            progress |= up.read(&mut b, kb);
            b_state = b.state(kb).unwrap_or(State::Closed);
        }
        a_state = a.state(ka).unwrap_or(State::Closed);
        if up.received == up.total
            && down.received == down.total
            && up.peer_closed
            && down.peer_closed
            && over(a_state)
            && over(b_state)
        {
            break;
        }
        if !progress {
            let future = |t: Option<Instant>| t.filter(|&t| t > now);
            let next = [
                future(dev_a.next_arrival()),
                future(dev_b.next_arrival()),
                future(a.next_deadline()),
                future(b.next_deadline()),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| {
                panic!(
                    "stalled at {now:?}: nothing in flight and no deadline; a {a_state:?} b \
                     {b_state:?} ({:?}); up {}/{} {} down {}/{} {}\nA {:#?}\nB {:#?}\nA {:?}\nB {:?}",
                    kb.and_then(|k| b.close_reason(k)),
                    up.received,
                    up.total,
                    up.peer_closed,
                    down.received,
                    down.total,
                    down.peer_closed,
                    a.tcb(ka),
                    kb.and_then(|k| b.tcb(k)),
                    a.counters(),
                    b.counters()
                )
            });
            clock.set_us(next.micros());
        }
    }
    a.check_invariants().unwrap();
    b.check_invariants().unwrap();
    let _ = iterations;
    let report = Report {
        simulated: clock.now() - start,
        client: *a.tcb(ka).unwrap().counters(),
        server: *b.tcb(kb.unwrap()).unwrap().counters(),
        a_to_b: dev_b.link().received_counters(),
        b_to_a: dev_b.link().sent_counters(),
        client_ep: *a.counters(),
        server_ep: *b.counters(),
    };
    // The server recycles its connection into listening again; the client takes its buffers.
    if b.state(kb.unwrap()) == Some(State::Closed) {
        assert!(matches!(
            b.recycle(kb.unwrap()).unwrap(),
            Recycled::Listening(_)
        ));
    }
    report
}

/// A link end's devices for tests that drive frames by hand.
pub fn link_pair(config: &LinkConfig) -> (SimClock, LinkEnd, LinkEnd) {
    let clock = SimClock::new();
    let (a, b) = pair(config, &clock).unwrap();
    (clock, a, b)
}
