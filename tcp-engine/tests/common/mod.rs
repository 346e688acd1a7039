//! Shared pieces of the endpoint integration tests: hosts on 198.18.0.0/24, a verifiable
//! byte pattern, and a one-thread driver that runs two endpoints over the in-memory link on a
//! simulated clock until a bulk transfer in both directions is complete.

#![allow(dead_code)]

use tcp_engine::device::{FrameDevice, OffloadCaps};
use tcp_engine::endpoint::{BoxedEndpoint, Buffers, EndpointConfig, Open, Recycled};
use tcp_engine::link::{LinkConfig, LinkCounters, LinkEnd, SimClock, pair};
use tcp_engine::pcap::Capture;
use tcp_engine::table::{HashSecret, SlotKey};
use tcp_engine::tcb::{Events, RingBuffer, State, TcbConfig, TcbCounters};
use tcp_engine::time::{Duration, Instant};
use tcp_engine::wire::{
    EtherType, EthernetAddress, EthernetFrame, EthernetRepr, IcmpErrorRepr, IcmpPacket, IpProtocol,
    Ipv4Address, Ipv4Cidr, Ipv4Repr, TxChecksum,
};

pub type Bufs = Buffers<RingBuffer<Box<[u8]>>>;
pub type Ep = BoxedEndpoint<Bufs>;

/// Writes into the start of `buf` an Ethernet frame `src_mac` -> `dst_mac` carrying ICMP
/// error `error` in an IPv4 datagram `src_ip` -> `dst_ip`, and returns its length. Allocates
/// nothing; `buf` must hold `14 + 20 + error.buffer_len()` bytes.
pub fn write_icmp_error(
    buf: &mut [u8],
    (src_mac, dst_mac): (EthernetAddress, EthernetAddress),
    (src_ip, dst_ip): (Ipv4Address, Ipv4Address),
    error: &IcmpErrorRepr,
) -> usize {
    let len = 14 + 20 + error.buffer_len();
    EthernetRepr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        ethertype: EtherType::IPV4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut buf[..14]));
    let ip = Ipv4Repr {
        src_addr: src_ip,
        dst_addr: dst_ip,
        protocol: IpProtocol::ICMP,
        payload_len: error.buffer_len(),
        ttl: 64,
        ident: 1,
        dont_frag: false,
        dscp_ecn: 0,
    };
    buf[14..34].copy_from_slice(&ip.header_bytes(TxChecksum::Software));
    error.emit(&mut IcmpPacket::new_unchecked(&mut buf[34..len]));
    len
}

/// [`write_icmp_error`] into a new buffer of the frame's length.
pub fn icmp_error_frame(
    macs: (EthernetAddress, EthernetAddress),
    ips: (Ipv4Address, Ipv4Address),
    error: &IcmpErrorRepr,
) -> Vec<u8> {
    let mut buf = vec![0u8; 14 + 20 + error.buffer_len()];
    write_icmp_error(&mut buf, macs, ips, error);
    buf
}

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
    host_with_loss_states(n, caps, tcb, capacity, None)
}

/// [`host`] with `loss_states` loss-recovery states (`None`: the endpoint's default).
pub fn host_with_loss_states(
    n: u8,
    caps: OffloadCaps,
    tcb: TcbConfig,
    capacity: usize,
    loss_states: Option<usize>,
) -> Ep {
    let mut config = EndpointConfig::new(
        mac(n),
        Ipv4Cidr::new(ip(n), 24).unwrap(),
        caps,
        HashSecret::from_bytes([n; 16]),
    );
    config.tcb = tcb;
    config.loss_states = loss_states;
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
    /// Offers from a zero-copy receive sink so far (picks how much the next one takes).
    offers: u64,
    /// Bytes taken straight from frames.
    pub direct: u64,
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
            offers: 0,
            direct: 0,
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

    /// A zero-copy receive sink's offer: verifies and takes all of `data`, its first half or
    /// nothing, in turn (so the receive buffer's fallback path runs too). Returns the bytes
    /// taken.
    pub fn take_direct(&mut self, data: &[u8]) -> usize {
        self.offers += 1;
        let take = match self.offers % 3 {
            0 => data.len(),
            1 => data.len() / 2,
            _ => 0,
        };
        let expected = self.pattern.at(self.received, take);
        if data[..take] != expected[..take] {
            let at = (0..take).find(|&i| data[i] != expected[i]).unwrap();
            panic!(
                "stream corrupt at byte {} (zero-copy)",
                self.received + at as u64
            );
        }
        self.received += take as u64;
        self.direct += take as u64;
        assert!(self.received <= self.total, "more bytes than were sent");
        take
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
    /// Loss states each endpoint still lent out when the run ended (client, server).
    pub loss_states_lent: (usize, usize),
}

impl Report {
    /// One line of what both senders did: simulated time, retransmissions, fast retransmits,
    /// timeouts, tail loss probes, D-SACKs received and window reductions undone as spurious.
    pub fn summary(&self) -> String {
        let (c, s) = (&self.client, &self.server);
        format!(
            "simulated {} ms, retransmitted {}, fast retransmits {}, timeouts {}, probes {}, \
             D-SACKs {}, undone {}",
            self.simulated.micros() / 1000,
            c.retransmitted_segments + s.retransmitted_segments,
            c.fast_retransmits + s.fast_retransmits,
            c.timeouts + s.timeouts,
            self.client_ep.loss_probes + self.server_ep.loss_probes,
            self.client_ep.dsacks_received + self.server_ep.dsacks_received,
            self.client_ep.spurious_recoveries_undone + self.server_ep.spurious_recoveries_undone,
        )
    }
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

/// Two endpoints over a link: host 1 (client, caps A) and host 2 (server, caps B, listening on
/// [`PORT`]), a connection being opened from 1 to 2, and a stream each way.
pub struct Pair<DA, DB> {
    pub clock: SimClock,
    pub dev_a: DA,
    pub dev_b: DB,
    pub a: Ep,
    pub b: Ep,
    pub ka: SlotKey,
    pub kb: Option<SlotKey>,
    pub up: Stream,
    pub down: Stream,
    pub start: Instant,
    /// Both applications take in-order payload straight from frames
    /// ([`Endpoint::poll_direct`](tcp_engine::endpoint::Endpoint::poll_direct) with
    /// [`Stream::take_direct`]) instead of only reading their receive buffers.
    pub direct: bool,
}

impl Pair<LinkEnd, LinkEnd> {
    /// Everything allocated: endpoints, buffers, link, streams; the client's SYN is queued.
    pub fn new(link: &LinkConfig, tcb: TcbConfig, bufs: usize, bytes: (u64, u64)) -> Self {
        let clock = SimClock::new();
        clock.set_us(1_000_000);
        let (dev_a, dev_b) = pair(link, &clock).unwrap();
        Pair::on(link, tcb, bufs, bytes, clock, dev_a, dev_b)
    }
}

impl<DA: Arrivals, DB: Arrivals> Pair<DA, DB> {
    fn on(
        link: &LinkConfig,
        tcb: TcbConfig,
        bufs: usize,
        bytes: (u64, u64),
        clock: SimClock,
        dev_a: DA,
        dev_b: DB,
    ) -> Self {
        Pair::on_with(link, (tcb, tcb), bufs, bytes, clock, (dev_a, dev_b), None)
    }

    /// [`Pair::on`] with the client's and the server's configs `(client, server)` and
    /// `loss_states` loss-recovery states in each endpoint.
    fn on_with(
        link: &LinkConfig,
        (tcb_a, tcb_b): (TcbConfig, TcbConfig),
        bufs: usize,
        bytes: (u64, u64),
        clock: SimClock,
        (dev_a, dev_b): (DA, DB),
        loss_states: Option<usize>,
    ) -> Self {
        let mut a = host_with_loss_states(1, link.caps_a, tcb_a, 4, loss_states);
        let mut b = host_with_loss_states(2, link.caps_b, tcb_b, 4, loss_states);
        b.listen(PORT, Buffers::with_capacity(bufs, bufs))
            .map_err(|(e, _)| e)
            .unwrap();
        let start = clock.now();
        let ka = a
            .connect(start, ip(2), PORT, Buffers::with_capacity(bufs, bufs))
            .map_err(|(e, _)| e)
            .unwrap();
        Pair {
            clock,
            dev_a,
            dev_b,
            a,
            b,
            ka,
            kb: None,
            up: Stream::new(1, bytes.0),
            down: Stream::new(2, bytes.1),
            start,
            direct: false,
        }
    }

    /// One round: both endpoints poll their devices, both applications move data. Returns
    /// whether anything happened.
    pub fn step(&mut self) -> bool {
        let now = self.clock.now();
        let Pair {
            a,
            b,
            ka,
            kb,
            up,
            down,
            dev_a,
            dev_b,
            direct,
            ..
        } = self;
        let ka = *ka;
        let (mut down_closed, mut up_closed) = (false, false);
        let on_a = |_: &mut Ep, open: Open| {
            assert_eq!(open.key, ka);
            down_closed |= open.events.contains(Events::PEER_CLOSED);
            assert!(!open.events.contains(Events::RESET), "client reset");
        };
        let ra = match *direct {
            true => a.poll_direct(now, dev_a, on_a, |_, data: &[u8]| down.take_direct(data)),
            false => a.poll(now, dev_a, on_a),
        };
        let on_b = |_: &mut Ep, open: Open| {
            if open.events.contains(Events::SYN_TO_LISTENER) {
                *kb = Some(open.key);
            }
            up_closed |= open.events.contains(Events::PEER_CLOSED);
            assert!(!open.events.contains(Events::RESET), "server reset");
        };
        let rb = match *direct {
            true => b.poll_direct(now, dev_b, on_b, |_, data: &[u8]| up.take_direct(data)),
            false => b.poll(now, dev_b, on_b),
        };
        down.peer_closed |= down_closed;
        up.peer_closed |= up_closed;
        let mut progress = ra.received + ra.transmitted + ra.events > 0
            || rb.received + rb.transmitted + rb.events > 0;
        if a.state(ka).is_some_and(|s| s.is_synchronized()) {
            progress |= up.write(a, now, ka);
        }
        progress |= down.read(a, ka);
        if let Some(kb) = *kb {
            if b.state(kb).is_some_and(|s| s.is_synchronized()) {
                progress |= down.write(b, now, kb);
            }
            progress |= up.read(b, kb);
        }
        progress
    }

    /// Moves the clock to the next event when a step did nothing.
    pub fn wait(&mut self) {
        let now = self.clock.now();
        let future = |t: Option<Instant>| t.filter(|&t| t > now);
        let next = [
            future(self.dev_a.next_arrival()),
            future(self.dev_b.next_arrival()),
            future(self.a.next_deadline()),
            future(self.b.next_deadline()),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or_else(|| {
            panic!(
                "stalled at {now:?}: nothing in flight and no deadline\n{}",
                self.diagnosis()
            )
        });
        self.clock.set_us(next.micros());
    }

    fn diagnosis(&self) -> String {
        format!(
            "up {}/{} (closed by peer: {}), down {}/{} ({})\nA {:#?}\nB {:#?}\nA {:?}\nB {:?}",
            self.up.received,
            self.up.total,
            self.up.peer_closed,
            self.down.received,
            self.down.total,
            self.down.peer_closed,
            self.a.tcb(self.ka),
            self.kb.and_then(|k| self.b.tcb(k)),
            self.a.counters(),
            self.b.counters()
        )
    }

    /// Whether everything arrived, both sides saw the other's FIN and both connections are
    /// over (CLOSED or TIME-WAIT).
    pub fn done(&self) -> bool {
        let over = |s: Option<State>| matches!(s, Some(State::Closed | State::TimeWait));
        self.up.received == self.up.total
            && self.down.received == self.down.total
            && self.up.peer_closed
            && self.down.peer_closed
            && over(self.a.state(self.ka))
            && over(self.kb.and_then(|k| self.b.state(k)))
    }

    /// Steps until [`done`](Self::done); panics with a diagnosis after `limit` of simulated
    /// time.
    pub fn run(&mut self, limit: Duration) {
        while !self.done() {
            let now = self.clock.now();
            if now - self.start > limit {
                panic!(
                    "not done after {:?}\n{}",
                    now - self.start,
                    self.diagnosis()
                );
            }
            if !self.step() {
                self.wait();
            }
        }
    }

    pub fn report(&self) -> Report {
        Report {
            simulated: self.clock.now() - self.start,
            client: *self.a.tcb(self.ka).unwrap().counters(),
            server: *self.b.tcb(self.kb.unwrap()).unwrap().counters(),
            a_to_b: self.dev_b.link().received_counters(),
            b_to_a: self.dev_b.link().sent_counters(),
            client_ep: *self.a.counters(),
            server_ep: *self.b.counters(),
            loss_states_lent: (self.a.loss_states_lent(), self.b.loss_states_lent()),
        }
    }
}

/// Connects host 1 to host 2 over `link`, sends `bytes.0` from client to server and `bytes.1`
/// back at the same time, closes both ways, and runs until everything arrived byte-exact and
/// both connections are over; then the server recycles its connection into listening again.
/// Panics with a diagnosis when `limit` of simulated time passes.
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
            finish(Pair::on(link, tcb, bufs, bytes, clock, dev_a, dev_b), limit)
        }
        None => finish(Pair::on(link, tcb, bufs, bytes, clock, dev_a, dev_b), limit),
    }
}

/// [`bulk`] between endpoints that have `loss_states` loss-recovery states each (0: every
/// connection recovers without one, as when an endpoint's pool is exhausted).
pub fn bulk_with_loss_states(
    link: &LinkConfig,
    tcb: TcbConfig,
    bufs: usize,
    bytes: (u64, u64),
    limit: Duration,
    loss_states: usize,
) -> Report {
    bulk_plain(link, (tcb, tcb), bufs, bytes, limit, Some(loss_states))
}

/// [`bulk`] between a client under `client` and a server under `server` (e.g. two congestion
/// controls, or two ECN modes).
pub fn bulk_between(
    link: &LinkConfig,
    client: TcbConfig,
    server: TcbConfig,
    bufs: usize,
    bytes: (u64, u64),
    limit: Duration,
) -> Report {
    bulk_plain(link, (client, server), bufs, bytes, limit, None)
}

/// [`bulk`] without capture, with the two ends' configs and optionally `loss_states`.
fn bulk_plain(
    link: &LinkConfig,
    tcbs: (TcbConfig, TcbConfig),
    bufs: usize,
    bytes: (u64, u64),
    limit: Duration,
    loss_states: Option<usize>,
) -> Report {
    let clock = SimClock::new();
    clock.set_us(1_000_000);
    let devs = pair(link, &clock).unwrap();
    finish(
        Pair::on_with(link, tcbs, bufs, bytes, clock, devs, loss_states),
        limit,
    )
}

fn finish<DA: Arrivals, DB: Arrivals>(mut pair: Pair<DA, DB>, limit: Duration) -> Report {
    pair.run(limit);
    pair.a.check_invariants().unwrap();
    pair.b.check_invariants().unwrap();
    let report = pair.report();
    let kb = pair.kb.unwrap();
    if pair.b.state(kb) == Some(State::Closed) {
        assert!(matches!(
            pair.b.recycle(kb).unwrap(),
            Recycled::Listening(_)
        ));
    }
    report
}

/// Cases a property test runs: `default`, multiplied by the `FERROTOE_FUZZ_SCALE` environment
/// variable when set (a positive integer; `FERROTOE_FUZZ_SCALE=100` for a long campaign). An
/// unparsable value panics with what to fix rather than silently running the default.
pub fn fuzz_cases(default: u32) -> u32 {
    match std::env::var("FERROTOE_FUZZ_SCALE") {
        Err(_) => default,
        Ok(text) => match text.trim().parse::<u32>() {
            Ok(scale) if scale > 0 => default.saturating_mul(scale),
            _ => panic!("FERROTOE_FUZZ_SCALE={text:?}: expected a positive integer, e.g. 100"),
        },
    }
}
