//! Interop with smoltcp 0.14 over the impaired in-memory link: our endpoint as client and as
//! server, data both ways at once on one connection, 1 % loss plus reordering and corruption in
//! both directions. smoltcp checks every checksum itself; our side runs once with software
//! checksums and once with checksum offload and TSO (the link's NIC model segments for
//! smoltcp, as a real NIC would), with NewReno on both sides; a third run has CUBIC on both.

mod common;

use common::{Ep, PORT, Pattern, host, ip};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp::{self, CongestionControl};
use smoltcp::wire::{EthernetAddress as SmolMac, HardwareAddress, IpAddress, IpCidr};
use tcp_engine::device::{FrameDevice, OffloadCaps, TxMeta};
use tcp_engine::endpoint::Buffers;
use tcp_engine::link::{Impairments, LinkConfig, LinkEnd, Loss, SimClock, offload_caps, pair};
use tcp_engine::table::SlotKey;
use tcp_engine::tcb::{self as tcb, Events, State, TcbConfig};
use tcp_engine::time::{Duration, Instant};

/// smoltcp's view of a link end.
struct SmolDevice(LinkEnd);

struct RxToken(Vec<u8>);

struct TxToken<'a>(&'a mut LinkEnd);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0u8; len];
        let r = f(&mut frame);
        self.0.transmit(|buf| {
            buf[..len].copy_from_slice(&frame);
            Some((len, TxMeta::NONE))
        });
        r
    }
}

impl Device for SmolDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(RxToken, TxToken<'_>)> {
        let mut frame = None;
        self.0.rx_burst(1, |f, _| frame = Some(f.to_vec()));
        frame.map(|f| (RxToken(f), TxToken(&mut self.0)))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<TxToken<'_>> {
        Some(TxToken(&mut self.0))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

fn smol_now(now: Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(now.micros() as i64)
}

/// Bytes each way.
const BYTES: u64 = 8 << 20;

/// The smoltcp side: interface, one socket, its two streams.
struct Smol<'a> {
    iface: Interface,
    dev: SmolDevice,
    sockets: SocketSet<'a>,
    handle: SocketHandle,
    /// What smoltcp sends, and how much of it went into its socket.
    out: Pattern,
    sent: u64,
    /// What smoltcp receives and how much of it was verified.
    inp: Pattern,
    received: u64,
    scratch: Vec<u8>,
}

impl Smol<'_> {
    /// Moves data in and out of the socket, verifying what arrives; closes once everything
    /// is sent. Returns whether anything moved.
    fn app(&mut self) -> bool {
        let s = self.sockets.get_mut::<tcp::Socket>(self.handle);
        let mut progress = false;
        while s.can_send() && self.sent < BYTES {
            let want = (BYTES - self.sent).min(64 << 10) as usize;
            let n = s.send_slice(self.out.at(self.sent, want)).unwrap();
            if n == 0 {
                break;
            }
            self.sent += n as u64;
            progress = true;
        }
        if self.sent == BYTES && s.may_send() {
            s.close();
            progress = true;
        }
        while s.can_recv() {
            let n = s.recv_slice(&mut self.scratch).unwrap();
            if n == 0 {
                break;
            }
            assert_eq!(
                &self.scratch[..n],
                self.inp.at(self.received, n),
                "smoltcp received corrupt bytes at {}",
                self.received
            );
            self.received += n as u64;
            progress = true;
        }
        progress
    }

    fn done(&self) -> bool {
        let s = self.sockets.get::<tcp::Socket>(self.handle);
        self.received == BYTES
            && matches!(
                s.state(),
                tcp::State::Closed | tcp::State::TimeWait | tcp::State::Listen
            )
    }
}

fn smol_socket(cc: CongestionControl) -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 256 << 10]),
        tcp::SocketBuffer::new(vec![0; 256 << 10]),
    );
    s.set_congestion_control(cc);
    s
}

/// Our endpoint (host 1) and smoltcp (host 2) over a link with 1 % loss, reordering and
/// corruption both ways; `we_connect` chooses who opens, `cubic` puts both on CUBIC (else
/// NewReno and smoltcp's Reno).
fn interop(our_caps: OffloadCaps, we_connect: bool, cubic: bool, seed: u64) {
    let (ours, theirs) = if cubic {
        (tcb::CongestionControl::Cubic, CongestionControl::Cubic)
    } else {
        (tcb::CongestionControl::NewReno, CongestionControl::Reno)
    };
    let clock = SimClock::new();
    clock.set_us(1_000_000);
    let mut link = LinkConfig::new(our_caps).impaired(Impairments {
        loss: Loss::Uniform(0.01),
        reorder: 0.01,
        reorder_hold_us: 300,
        corrupt: 0.002,
        delay_us: 100,
        ..Impairments::NONE
    });
    link.caps_b = OffloadCaps::none(1514);
    link.seed = seed;
    let (mut dev_a, dev_b) = pair(&link, &clock).unwrap();
    let tcb = TcbConfig {
        rto_min: Duration::from_millis(10),
        congestion: ours,
        ..TcbConfig::RFC
    };
    let mut ep: Ep = host(1, our_caps, tcb, 4);

    let mut dev = SmolDevice(dev_b);
    let config = Config::new(HardwareAddress::Ethernet(SmolMac([2, 0, 0, 0, 0, 2])));
    let mut iface = Interface::new(config, &mut dev, smol_now(clock.now()));
    iface.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::v4(198, 18, 0, 2), 24))
            .unwrap()
    });
    let mut storage = [SocketStorage::EMPTY; 1];
    let mut sockets = SocketSet::new(&mut storage[..]);
    let mut socket = smol_socket(theirs);
    let mut key: Option<SlotKey> = None;
    if we_connect {
        socket.listen(PORT).unwrap();
    } else {
        ep.listen(PORT, Buffers::with_capacity(256 << 10, 256 << 10))
            .map_err(|(e, _)| e)
            .unwrap();
        let remote = (IpAddress::v4(198, 18, 0, 1), PORT);
        socket.connect(iface.context(), remote, 40000).unwrap();
    }
    let handle = sockets.add(socket);
    if we_connect {
        let k = ep
            .connect(
                clock.now(),
                ip(2),
                PORT,
                Buffers::with_capacity(256 << 10, 256 << 10),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        key = Some(k);
    }
    let mut smol = Smol {
        iface,
        dev,
        sockets,
        handle,
        out: Pattern::new(2),
        sent: 0,
        inp: Pattern::new(1),
        received: 0,
        scratch: vec![0; 64 << 10],
    };
    let mut up = common::Stream::new(1, BYTES);
    let mut down = common::Stream::new(2, BYTES);
    let start = clock.now();
    loop {
        let now = clock.now();
        assert!(
            now - start < Duration::from_secs(3600),
            "not done: we received {}/{BYTES}, smoltcp {}/{BYTES}; our state {:?}, smoltcp {:?}",
            down.received,
            smol.received,
            key.and_then(|k| ep.state(k)),
            smol.sockets.get::<tcp::Socket>(handle).state()
        );
        let report = ep.poll(now, &mut dev_a, |_, open| {
            if open.events.contains(Events::SYN_TO_LISTENER) {
                key = Some(open.key);
            }
            if open.events.contains(Events::PEER_CLOSED) {
                down.peer_closed = true;
            }
            assert!(!open.events.contains(Events::RESET), "reset: {open:?}");
        });
        let changed = smol
            .iface
            .poll(smol_now(now), &mut smol.dev, &mut smol.sockets);
        let mut progress = report.received + report.transmitted > 0
            || changed == smoltcp::iface::PollResult::SocketStateChanged;
        progress |= smol.app();
        if let Some(k) = key {
            if ep.state(k).is_some_and(State::is_synchronized) {
                progress |= up.write(&mut ep, now, k);
            }
            progress |= down.read(&mut ep, k);
        }
        let ours_over = key
            .and_then(|k| ep.state(k))
            .is_some_and(|s| matches!(s, State::Closed | State::TimeWait));
        if ours_over && down.received == BYTES && down.peer_closed && smol.done() {
            break;
        }
        if !progress {
            let future = |t: Option<Instant>| t.filter(|&t| t > now);
            let smol_at = smol
                .iface
                .poll_at(smol_now(now), &smol.sockets)
                .map(|t| Instant::from_micros(t.total_micros() as u64));
            let next = [
                future(dev_a.next_arrival_us().map(Instant::from_micros)),
                future(smol.dev.0.next_arrival_us().map(Instant::from_micros)),
                future(ep.next_deadline()),
                future(smol_at),
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("stalled: nothing in flight and no timer");
            clock.set_us(next.micros());
        }
    }
    ep.check_invariants().unwrap();
    let k = key.unwrap();
    assert_eq!(ep.tcb(k).unwrap().congestion_control(), ours);
    let counters = *ep.tcb(k).unwrap().counters();
    println!(
        "{:?} simulated; our counters {counters:?}; link a->b {:?} b->a {:?}",
        clock.now() - start,
        dev_a.sent_counters(),
        dev_a.received_counters()
    );
    assert!(dev_a.sent_counters().lost > 10 && dev_a.received_counters().lost > 10);
    assert!(counters.retransmitted_segments > 0, "we repaired losses");
}

#[test]
fn we_connect_to_smoltcp_software_checksums() {
    interop(OffloadCaps::none(1514), true, false, 11);
}

#[test]
fn smoltcp_connects_to_us_with_checksum_offload_and_tso() {
    interop(offload_caps(1500, true), false, false, 12);
}

#[test]
fn we_connect_to_smoltcp_both_on_cubic_with_tso() {
    interop(offload_caps(1500, true), true, true, 13);
}
