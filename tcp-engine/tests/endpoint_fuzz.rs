//! The endpoint fed arbitrary and mutated frames, interleaved with the application's calls
//! (including calls with stale keys), sends, refused sends and jumps of the clock (proptest).
//! Whatever arrives: no panic, every frame we send parses with valid checksums, and after every
//! step the endpoint's bookkeeping (queues, timer wheel, listener chains, slot accounting) and
//! every connection's state-machine invariants hold.
//!
//! Frames are received one by one (`receive`, `receive_direct`) and in bursts of four through
//! `poll_direct`, whose software GRO coalesces runs of predicted segments.
//!
//! Segments are built around the real sequence numbers of the connections most of the time, so
//! the state machines get past the acceptability checks and into every state.
//!
//! Each run has a SYN-cookie policy (off, under pressure, always). The SYN-ACKs answered in
//! place are remembered, and ACKs returning them (intact, with a bit flipped, late, with data)
//! are among the operations: a returned cookie may open a connection, a tampered one never
//! does (the endpoint accepts no more cookies than intact ones were returned).

mod common;

use common::{Ep, ip, mac};
use proptest::prelude::*;
use tcp_engine::device::{ChecksumState, FrameDevice, OffloadCaps, RxMeta, TxMeta};
use tcp_engine::endpoint::{Buffers, EndpointConfig, Outbound, Received, ReplyKind, SynCookies};
use tcp_engine::link::offload_caps;
use tcp_engine::segment::{SackBlock, TcpFlags, TcpHeader, TcpOptions};
use tcp_engine::seq::SeqNum;
use tcp_engine::table::HashSecret;
use tcp_engine::table::SlotKey;
use tcp_engine::tcb::{CongestionControl, EcnMode, TcbConfig};
use tcp_engine::time::{Duration, Instant};
use tcp_engine::wire::frame::{TcpFrameAddresses, emit_arp_frame, emit_tcp_frame, parse_frame};
use tcp_engine::wire::{
    ArpOperation, ArpRepr, EtherType, EthernetFrame, EthernetRepr, IcmpEchoKind, IcmpEchoRepr,
    IcmpErrorKind, IcmpErrorRepr, IcmpPacket, IpProtocol, Ipv4Address, Ipv4Cidr, Ipv4Repr,
    QuotedRepr, RxPayload, TxChecksum,
};

const CAPACITY: usize = 6;
const PORTS: [u16; 3] = [80, 81, 5000];

/// MSS, window scale, SACK-permitted, timestamps, number of SACK blocks.
type OptionPicks = (Option<u16>, Option<u8>, bool, Option<(u32, u32)>, u8);

#[derive(Clone, Debug)]
enum Op {
    Segment {
        /// Aim at the tuple of a known connection (`Some(key selector)`), or at the fields
        /// below.
        target: Option<u8>,
        peer: u8,
        sport: u16,
        dport: u8,
        flags: u16,
        seq: (u8, i32),
        ack: (u8, i32),
        window: u16,
        options: Option<OptionPicks>,
        payload: u16,
        flip: Option<(u16, u8)>,
        trusted: bool,
        /// The IPv4 header's ECN field (3: marked CE on the way).
        ecn: u8,
    },
    Raw(Vec<u8>),
    /// An ICMP echo request with `options` words of IPv4 options and `len` data bytes.
    Ping {
        options: u8,
        len: u16,
        flip: Option<(u16, u8)>,
    },
    Arp {
        request: bool,
        peer: u8,
        for_us: bool,
    },
    /// An ICMP error from a router (destination unreachable with `code`, code 4 carrying
    /// `mtu`; time exceeded when `time_exceeded`) quoting a segment of the connection `target`
    /// selects (or of no connection), its sequence number picked around SND.UNA/SND.NXT/SND.MAX
    /// like a segment's ACK, with a byte flipped (`flip`).
    IcmpError {
        target: u8,
        time_exceeded: bool,
        code: u8,
        mtu: u16,
        seq: (u8, i32),
        flip: Option<(u16, u8)>,
    },
    Send {
        frames: u8,
        refuse_every: u8,
        small: bool,
    },
    Tick(u32),
    Write(u8, u16),
    Read(u8),
    Close(u8),
    Abort(u8),
    Release(u8),
    Recycle(u8),
    Listen(u8),
    Connect(u8, u8),
    /// The ACK returning a SYN-ACK answered in place (selector), with a bit of its ACK number
    /// flipped (`Some(bit)`), and `payload` bytes of data.
    CookieAck {
        pick: u8,
        flip: Option<u8>,
        payload: u16,
    },
}

/// What the fuzzer remembers of a SYN-ACK it got in place: enough to return it.
#[derive(Clone, Copy, Debug)]
struct SynAckSeen {
    peer: Ipv4Address,
    peer_mac: u8,
    sport: u16,
    dport: u16,
    seq: SeqNum,
    ack: SeqNum,
    tsval: Option<u32>,
}

/// Every SYN-cookie policy.
fn cookie_policy() -> impl Strategy<Value = SynCookies> {
    prop_oneof![
        Just(SynCookies::Off),
        Just(SynCookies::UnderPressure),
        Just(SynCookies::Always)
    ]
}

/// Every ECN mode of the endpoint under test.
fn ecn_mode() -> impl Strategy<Value = EcnMode> {
    prop_oneof![Just(EcnMode::Off), Just(EcnMode::Accept), Just(EcnMode::On)]
}

fn op() -> impl Strategy<Value = Op> {
    let flags = prop_oneof![
        4 => Just(TcpFlags::ACK.0),
        3 => Just((TcpFlags::ACK | TcpFlags::PSH).0),
        2 => Just(TcpFlags::SYN.0),
        1 => Just((TcpFlags::SYN | TcpFlags::ACK).0),
        2 => Just((TcpFlags::FIN | TcpFlags::ACK).0),
        1 => Just(TcpFlags::RST.0),
        1 => Just((TcpFlags::RST | TcpFlags::ACK).0),
        2 => 0u16..0x200,
        // ECN (RFC 3168): setup SYNs and SYN-ACKs, echoes, window-reduced announcements.
        1 => Just((TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR).0),
        1 => Just((TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE).0),
        1 => Just((TcpFlags::ACK | TcpFlags::ECE).0),
        1 => Just((TcpFlags::ACK | TcpFlags::PSH | TcpFlags::CWR).0),
    ];
    let pick = || prop_oneof![4 => (Just(0u8), -2i32..2), 1 => (0u8..4, -3000i32..3000)];
    let segment = (
        (
            proptest::option::weighted(0.7, any::<u8>()),
            0u8..3,
            prop_oneof![Just(40000u16), Just(40001), any::<u16>()],
            0u8..4,
            flags,
        ),
        (
            pick(),
            pick(),
            prop_oneof![3 => Just(65535u16), 1 => any::<u16>()],
        ),
        proptest::option::weighted(
            0.3,
            (
                proptest::option::of(any::<u16>()),
                proptest::option::of(0u8..20),
                any::<bool>(),
                proptest::option::of((any::<u32>(), any::<u32>())),
                0u8..5,
            ),
        ),
        (
            prop_oneof![2 => Just(0u16), 3 => 0u16..3000],
            proptest::option::weighted(0.1, (any::<u16>(), 1u8..=255)),
            proptest::bool::weighted(0.1),
            prop_oneof![3 => Just(0u8), 2 => Just(0b10), 1 => Just(0b11), 1 => Just(0b01)],
        ),
    )
        .prop_map(
            |(
                (target, peer, sport, dport, flags),
                (seq, ack, window),
                options,
                (payload, flip, trusted, ecn),
            )| {
                Op::Segment {
                    target,
                    peer,
                    sport,
                    dport,
                    flags,
                    seq,
                    ack,
                    window,
                    options,
                    payload,
                    flip,
                    trusted,
                    ecn,
                }
            },
        );
    prop_oneof![
        30 => segment,
        2 => proptest::collection::vec(any::<u8>(), 0..200).prop_map(Op::Raw),
        2 => (0u8..11, 0u16..2000, proptest::option::weighted(0.3, (any::<u16>(), 1u8..=255)))
            .prop_map(|(options, len, flip)| Op::Ping { options, len, flip }),
        2 => (any::<bool>(), 0u8..3, any::<bool>()).prop_map(|(request, peer, for_us)| Op::Arp { request, peer, for_us }),
        3 => (any::<u8>(), proptest::bool::weighted(0.2), prop_oneof![3 => Just(4u8), 1 => Just(3u8), 1 => 0u8..16],
              prop_oneof![Just(0u16), 552u16..700, 500u16..1600, any::<u16>()],
              prop_oneof![4 => (0u8..3, -2i32..2), 1 => (0u8..4, -3000i32..3000)],
              proptest::option::weighted(0.2, (any::<u16>(), 1u8..=255)))
            .prop_map(|(target, time_exceeded, code, mtu, seq, flip)| Op::IcmpError { target, time_exceeded, code, mtu, seq, flip }),
        12 => (1u8..40, 0u8..6, proptest::bool::weighted(0.1)).prop_map(|(frames, refuse_every, small)| Op::Send { frames, refuse_every, small }),
        6 => prop_oneof![0u32..2_000, 0u32..5_000_000, Just(61_000_000u32)].prop_map(Op::Tick),
        4 => (any::<u8>(), 0u16..20_000).prop_map(|(k, n)| Op::Write(k, n)),
        3 => any::<u8>().prop_map(Op::Read),
        2 => any::<u8>().prop_map(Op::Close),
        1 => any::<u8>().prop_map(Op::Abort),
        2 => any::<u8>().prop_map(Op::Release),
        1 => any::<u8>().prop_map(Op::Recycle),
        2 => any::<u8>().prop_map(Op::Listen),
        2 => (0u8..3, any::<u8>()).prop_map(|(p, port)| Op::Connect(p, port)),
        4 => (any::<u8>(), proptest::option::weighted(0.3, 0u8..32), prop_oneof![2 => Just(0u16), 1 => 0u16..2000])
            .prop_map(|(pick, flip, payload)| Op::CookieAck { pick, flip, payload }),
    ]
}

/// A device holding the frames queued for one `poll_direct` burst; what the endpoint sends
/// through it is checked as the send phase's frames are, then dropped.
struct BurstDevice {
    caps: OffloadCaps,
    rx: Vec<(Vec<u8>, RxMeta)>,
    tx: Vec<u8>,
}

impl FrameDevice for BurstDevice {
    fn caps(&self) -> OffloadCaps {
        self.caps
    }

    fn rx_burst<F: FnMut(&mut [u8], RxMeta)>(&mut self, max: usize, mut on_frame: F) -> usize {
        let n = self.rx.len().min(max);
        for (mut frame, meta) in self.rx.drain(..n) {
            on_frame(&mut frame, meta);
        }
        n
    }

    fn transmit<F: FnOnce(&mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        fill: F,
    ) -> Option<(usize, TxMeta)> {
        let (len, meta) = fill(&mut self.tx)?;
        if !meta.checksum && meta.tso_mss.is_none() {
            parse_frame(&self.tx[..len], RxMeta::UNVERIFIED).expect("our frames parse");
        } else {
            assert!(
                self.caps.tx_checksum,
                "offload requested from a device without it"
            );
        }
        Some((len, meta))
    }
}

struct Fuzz {
    ep: Ep,
    /// Frames waiting for a `poll_direct` burst.
    burst: BurstDevice,
    now: Instant,
    /// Every key ever handed out (stale ones included).
    keys: Vec<SlotKey>,
    buf: Vec<u8>,
    offload: bool,
    /// Frames delivered (picks how each is received).
    turn: u32,
    /// SYN-ACKs answered in place with a cookie (the last 16).
    cookies: Vec<SynAckSeen>,
    /// Intact cookie ACKs sent: the most connections cookies may have opened.
    intact_cookie_acks: u64,
}

impl Fuzz {
    fn key(&self, sel: u8) -> Option<SlotKey> {
        (!self.keys.is_empty()).then(|| self.keys[usize::from(sel) % self.keys.len()])
    }

    fn peer_ip(peer: u8) -> Ipv4Address {
        match peer {
            0 => ip(2),
            1 => ip(3),
            _ => Ipv4Address::new(203, 0, 113, 7),
        }
    }

    /// A sequence number chosen relative to the connection a segment may belong to.
    fn pick(
        &self,
        sel: (u8, i32),
        dport: u16,
        sport: u16,
        peer: Ipv4Address,
        ours_seq: bool,
    ) -> SeqNum {
        let tcb = self
            .keys
            .iter()
            .filter_map(|&k| {
                let t = self.ep.tuple(k)?;
                (t.local_port == dport
                    && t.remote_port == sport
                    && Ipv4Address::from(t.remote_addr) == peer)
                    .then(|| self.ep.tcb(k))
                    .flatten()
            })
            .next();
        let base = match (tcb, sel.0) {
            (Some(t), 0) if ours_seq => t.rcv_nxt(),
            (Some(t), 1) if ours_seq => t.rcv_nxt() + 1000,
            (Some(t), 0) => t.snd_nxt(),
            (Some(t), 1) => t.snd_una(),
            (Some(t), 2) => t.snd_max(),
            _ => SeqNum(sel.1 as u32 ^ 0x5555_0000),
        };
        SeqNum(base.0.wrapping_add(sel.1 as u32))
    }

    /// Receives `frame`: one time in three through `receive`, one through zero-copy receive
    /// with a sink that takes all, half or none of what it is offered, and one queued for a
    /// burst of four that `poll_direct` receives (software GRO) with such a sink.
    fn deliver(&mut self, mut frame: Vec<u8>, meta: RxMeta) {
        self.turn = self.turn.wrapping_add(1);
        let share = (self.turn / 3) % 3;
        let mut sink = move |_: SlotKey, data: &[u8]| match share {
            0 => data.len(),
            1 => data.len() / 2,
            _ => 0,
        };
        match self.turn % 3 {
            0 => {
                let r = self.ep.receive(self.now, &mut frame, meta);
                self.remember_cookie(r, &frame);
            }
            1 => {
                let r = self
                    .ep
                    .receive_direct(self.now, &mut frame, meta, &mut sink);
                self.remember_cookie(r, &frame);
            }
            _ => {
                self.burst.rx.push((frame, meta));
                if self.burst.rx.len() >= 4 {
                    self.poll_burst(sink);
                }
            }
        }
    }

    /// Remembers a cookie SYN-ACK answered in place (checking that it parses).
    fn remember_cookie(&mut self, r: Received, frame: &[u8]) {
        let Received::Reply(reply) = r else {
            return;
        };
        if reply.kind != ReplyKind::SynAckCookie {
            return;
        }
        // Checksums left to the device are not there to verify.
        let meta = if reply.meta.checksum {
            RxMeta {
                ip: ChecksumState::Good,
                l4: ChecksumState::Good,
            }
        } else {
            RxMeta::UNVERIFIED
        };
        let parsed = parse_frame(&frame[..reply.len], meta).expect("SYN-ACK parses");
        let RxPayload::Tcp { ip, tcp, .. } = parsed.payload else {
            panic!("a cookie SYN-ACK is TCP: {parsed:?}");
        };
        let h = tcp.header;
        assert_eq!(h.flags, TcpFlags::SYN | TcpFlags::ACK);
        let peer_mac = (2..5)
            .find(|&m| mac(m) == parsed.ethernet.dst_addr)
            .unwrap_or(2);
        if self.cookies.len() == 16 {
            self.cookies.remove(0);
        }
        self.cookies.push(SynAckSeen {
            peer: ip.dst_addr,
            peer_mac,
            sport: h.dst_port,
            dport: h.src_port,
            seq: h.ack,
            ack: h.seq + 1,
            tsval: h.options.timestamps.map(|(v, _)| v),
        });
    }

    /// Receives the queued burst through `poll_direct` (its sends are checked and dropped).
    fn poll_burst(&mut self, sink: impl FnMut(SlotKey, &[u8]) -> usize) {
        self.ep
            .poll_direct(self.now, &mut self.burst, |_, _| {}, sink);
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Segment {
                target,
                peer,
                sport,
                dport,
                flags,
                seq,
                ack,
                window,
                options,
                payload,
                flip,
                trusted,
                ecn,
            } => {
                let aimed = target
                    .and_then(|t| self.key(t))
                    .and_then(|k| self.ep.tuple(k))
                    .filter(|t| t.remote_port != 0);
                let (peer, peer_ip, sport, dport) = match aimed {
                    Some(t) => {
                        let ip = Ipv4Address::from(t.remote_addr);
                        let peer = if ip == Self::peer_ip(0) {
                            0
                        } else if ip == Self::peer_ip(1) {
                            1
                        } else {
                            2
                        };
                        (peer, ip, t.remote_port, t.local_port)
                    }
                    None => {
                        let dport = PORTS
                            .get(usize::from(dport))
                            .copied()
                            .unwrap_or(sport ^ 0x1111);
                        (peer, Self::peer_ip(peer), sport, dport)
                    }
                };
                let mut h = TcpHeader {
                    src_port: sport,
                    dst_port: dport,
                    seq: self.pick(seq, dport, sport, peer_ip, true),
                    ack: self.pick(ack, dport, sport, peer_ip, false),
                    flags: TcpFlags(flags),
                    window,
                    urgent: 0,
                    options: TcpOptions::default(),
                };
                if let Some((mss, ws, sack_ok, ts, sacks)) = options {
                    h.options.mss = mss;
                    h.options.window_scale = ws;
                    h.options.sack_permitted = sack_ok;
                    h.options.timestamps = ts;
                    for i in 0..u32::from(sacks) {
                        h.options.push_sack(SackBlock {
                            left: h.ack + i * 3000 + 1000,
                            right: h.ack + i * 3000 + 2000,
                        });
                    }
                }
                let addrs = TcpFrameAddresses {
                    src_mac: mac(2 + peer),
                    dst_mac: mac(1),
                    src_ip: peer_ip,
                    dst_ip: ip(1),
                    ttl: 64,
                    dscp_ecn: ecn,
                };
                let data: Vec<u8> = (0..payload).map(|i| i as u8).collect();
                let mut frame = vec![0u8; 14 + 20 + 60 + data.len()];
                let Ok(layout) =
                    emit_tcp_frame(&mut frame, &addrs, 1, &h, &[&data], TxChecksum::Software)
                else {
                    return;
                };
                frame.truncate(layout.frame_len());
                if let Some((at, x)) = flip {
                    let i = usize::from(at) % frame.len();
                    frame[i] ^= x;
                }
                let meta = if trusted {
                    RxMeta {
                        ip: ChecksumState::Good,
                        l4: ChecksumState::Good,
                    }
                } else {
                    RxMeta::UNVERIFIED
                };
                self.deliver(frame, meta);
            }
            Op::Raw(bytes) => self.deliver(bytes, RxMeta::UNVERIFIED),
            Op::Ping { options, len, flip } => {
                let ihl = 20 + 4 * usize::from(options);
                let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                let mut frame = vec![0u8; 14 + ihl + 8 + data.len()];
                EthernetRepr {
                    src_addr: mac(2),
                    dst_addr: mac(1),
                    ethertype: EtherType::IPV4,
                }
                .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
                let ip = Ipv4Repr {
                    src_addr: ip(2),
                    dst_addr: ip(1),
                    protocol: IpProtocol::ICMP,
                    payload_len: 8 + data.len(),
                    ttl: 64,
                    ident: 1,
                    dont_frag: false,
                    dscp_ecn: 0,
                };
                let mut header = ip.header_bytes(TxChecksum::Software).to_vec();
                header[0] = 0x40 | (ihl / 4) as u8;
                header[2..4].copy_from_slice(&((ihl + 8 + data.len()) as u16).to_be_bytes());
                header.resize(ihl, 1);
                header[10..12].copy_from_slice(&[0, 0]);
                let c = tcp_engine::checksum::checksum(&header);
                header[10..12].copy_from_slice(&c.to_be_bytes());
                frame[14..14 + ihl].copy_from_slice(&header);
                IcmpEchoRepr {
                    kind: IcmpEchoKind::Request,
                    ident: 9,
                    seq_no: 1,
                    data: &data,
                }
                .emit(&mut IcmpPacket::new_unchecked(&mut frame[14 + ihl..]));
                if let Some((at, x)) = flip {
                    let i = usize::from(at) % frame.len();
                    frame[i] ^= x;
                }
                let mut copy = frame.clone();
                if let Received::Reply(r) = self.ep.receive(self.now, &mut copy, RxMeta::UNVERIFIED)
                {
                    // An intact request gets an intact reply.
                    parse_frame(&copy[..r.len], RxMeta::UNVERIFIED).expect("echo reply parses");
                    if flip.is_none() {
                        assert_eq!(r.len, 14 + 20 + 8 + data.len(), "options are not echoed");
                    }
                }
            }
            Op::IcmpError {
                target,
                time_exceeded,
                code,
                mtu,
                seq,
                flip,
            } => {
                let tuple = self.key(target).and_then(|k| self.ep.tuple(k));
                let (sport, dport, peer) = match tuple {
                    Some(t) => (
                        t.local_port,
                        t.remote_port,
                        Ipv4Address::from(t.remote_addr),
                    ),
                    None => (40000, 80, ip(2)),
                };
                let kind = match (time_exceeded, code) {
                    (true, c) => IcmpErrorKind::TimeExceeded(c),
                    (false, 4) => IcmpErrorKind::FragmentationNeeded { next_hop_mtu: mtu },
                    (false, c) => IcmpErrorKind::Unreachable(c),
                };
                let error = IcmpErrorRepr {
                    kind,
                    quoted: QuotedRepr {
                        src_addr: ip(1),
                        dst_addr: peer,
                        protocol: IpProtocol::TCP,
                        total_len: 1500,
                        src_port: sport,
                        dst_port: dport,
                        seq: self.pick(seq, sport, dport, peer, false).0,
                    },
                };
                let router = Ipv4Address::new(198, 18, 0, 254);
                let mut frame = common::icmp_error_frame((mac(2), mac(1)), (router, ip(1)), &error);
                if let Some((at, x)) = flip {
                    let i = usize::from(at) % frame.len();
                    frame[i] ^= x;
                }
                self.deliver(frame, RxMeta::UNVERIFIED);
            }
            Op::Arp {
                request,
                peer,
                for_us,
            } => {
                let target = if for_us { ip(1) } else { ip(9) };
                let arp = ArpRepr {
                    operation: if request {
                        ArpOperation::Request
                    } else {
                        ArpOperation::Reply
                    },
                    source_hardware_addr: mac(2 + peer),
                    source_protocol_addr: Self::peer_ip(peer),
                    target_hardware_addr: mac(1),
                    target_protocol_addr: target,
                };
                let mut frame = vec![0u8; 60];
                let n = emit_arp_frame(&mut frame, mac(2 + peer), &arp).unwrap();
                frame.truncate(n);
                self.deliver(frame, RxMeta::UNVERIFIED);
            }
            Op::Send {
                frames,
                refuse_every,
                small,
            } => {
                let len = if small { 300 } else { self.buf.len() };
                for i in 0..frames {
                    let mut buf = std::mem::take(&mut self.buf);
                    match self.ep.poll_transmit(self.now, &mut buf[..len]) {
                        Outbound::Frame(f) => {
                            let frame = &buf[..f.len];
                            if !f.meta.checksum && f.meta.tso_mss.is_none() {
                                parse_frame(frame, RxMeta::UNVERIFIED).expect("our frames parse");
                            } else {
                                assert!(self.offload, "offload requested from a device without it");
                            }
                            if refuse_every == 0 || i % refuse_every != 0 {
                                let _ = self.ep.commit(self.now, &f);
                            }
                        }
                        Outbound::Event(_) => {}
                        Outbound::Nothing => {
                            self.buf = buf;
                            break;
                        }
                    }
                    self.buf = buf;
                }
            }
            Op::Tick(us) => self.now += Duration::from_micros(u64::from(us)),
            Op::Write(k, n) => {
                if let Some(k) = self.key(k) {
                    let _ = self.ep.write(k, &vec![7u8; usize::from(n)]);
                }
            }
            Op::Read(k) => {
                if let Some(k) = self.key(k) {
                    let _ = self.ep.read(k, &mut [0u8; 5000]);
                }
            }
            Op::Close(k) => {
                if let Some(k) = self.key(k) {
                    let _ = self.ep.close(self.now, k);
                }
            }
            Op::Abort(k) => {
                if let Some(k) = self.key(k) {
                    let _ = self.ep.abort(self.now, k);
                }
            }
            Op::Release(k) => {
                if let Some(k) = self.key(k) {
                    let _ = self.ep.release(k);
                }
            }
            Op::Recycle(k) => {
                if let Some(k) = self.key(k) {
                    if let Ok(tcp_engine::endpoint::Recycled::Listening(new)) = self.ep.recycle(k) {
                        self.keys.push(new);
                    }
                }
            }
            Op::Listen(p) => {
                let port = PORTS[usize::from(p) % PORTS.len()];
                if let Ok(k) = self.ep.listen(port, Buffers::with_capacity(4096, 4096)) {
                    self.keys.push(k);
                }
            }
            Op::CookieAck {
                pick,
                flip,
                payload,
            } => {
                if self.cookies.is_empty() {
                    return;
                }
                let c = self.cookies[usize::from(pick) % self.cookies.len()];
                let mut h = TcpHeader {
                    src_port: c.sport,
                    dst_port: c.dport,
                    seq: c.seq,
                    ack: SeqNum(c.ack.0 ^ flip.map_or(0, |b| 1 << b)),
                    flags: TcpFlags::ACK,
                    window: 8192,
                    urgent: 0,
                    options: TcpOptions::default(),
                };
                h.options.timestamps = c.tsval.map(|v| (1, v));
                if flip.is_none() {
                    self.intact_cookie_acks += 1;
                }
                let addrs = TcpFrameAddresses {
                    src_mac: mac(c.peer_mac),
                    dst_mac: mac(1),
                    src_ip: c.peer,
                    dst_ip: ip(1),
                    ttl: 64,
                    dscp_ecn: 0,
                };
                let data: Vec<u8> = (0..payload).map(|i| i as u8).collect();
                let mut frame = vec![0u8; 14 + 20 + 60 + data.len()];
                let layout =
                    emit_tcp_frame(&mut frame, &addrs, 1, &h, &[&data], TxChecksum::Software)
                        .expect("an ACK frame fits");
                frame.truncate(layout.frame_len());
                self.deliver(frame, RxMeta::UNVERIFIED);
            }
            Op::Connect(peer, port) => {
                let port = PORTS[usize::from(port) % PORTS.len()];
                if let Ok(k) = self.ep.connect(
                    self.now,
                    Self::peer_ip(peer),
                    port,
                    Buffers::with_capacity(8192, 8192),
                ) {
                    self.keys.push(k);
                }
            }
        }
    }
}

fn run(
    caps: OffloadCaps,
    ecn: EcnMode,
    congestion: CongestionControl,
    cookies: SynCookies,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let tcb = TcbConfig {
        rto_min: Duration::from_millis(1),
        rto_initial: Duration::from_millis(20),
        ecn,
        congestion,
        ..TcbConfig::DATACENTER
    };
    let mut config = EndpointConfig::new(
        mac(1),
        Ipv4Cidr::new(ip(1), 24).unwrap(),
        caps,
        HashSecret::from_bytes([1; 16]),
    );
    config.tcb = tcb;
    config.syn_cookies = cookies;
    // Under pressure with the few slots here: a reserve of one in three listening.
    config.syn_cookie_reserve_percent = 34;
    let mut f = Fuzz {
        ep: Ep::with_capacity(config, CAPACITY).unwrap(),
        now: Instant::from_secs(1),
        keys: Vec::new(),
        buf: vec![0u8; 70_000],
        offload: caps.tx_checksum,
        turn: 0,
        cookies: Vec::new(),
        intact_cookie_acks: 0,
        burst: BurstDevice {
            caps,
            rx: Vec::new(),
            tx: vec![0u8; 70_000],
        },
    };
    f.ep.add_neighbor(f.now, ip(2), mac(2));
    for port in [80, 80, 81] {
        let k =
            f.ep.listen(port, Buffers::with_capacity(4096, 4096))
                .map_err(|(e, _)| e)
                .unwrap();
        f.keys.push(k);
    }
    for op in ops.into_iter().chain([Op::Tick(0)]) {
        f.apply(op.clone());
        if let Op::Tick(_) = op {
            // Whatever waits for a burst arrives now (and at the end).
            f.poll_burst(|_, d: &[u8]| d.len());
        }
        if let Err(e) = f.ep.check_invariants() {
            return Err(TestCaseError::fail(format!("after {op:?}: {e}")));
        }
        prop_assert!(f.ep.len() <= CAPACITY);
        prop_assert!(
            f.ep.counters().syn_cookies_accepted <= f.intact_cookie_acks,
            "{} cookies accepted, {} returned intact",
            f.ep.counters().syn_cookies_accepted,
            f.intact_cookie_acks
        );
        let live = f.keys.iter().filter(|&&k| f.ep.state(k).is_some()).count();
        prop_assert!(
            live <= f.ep.len(),
            "live keys {} > slots in use {}",
            live,
            f.ep.len()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: common::fuzz_cases(128), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_frames_and_calls_software(
        ecn in ecn_mode(),
        congestion in proptest::sample::select(CongestionControl::ALL.to_vec()),
        cookies in cookie_policy(),
        ops in proptest::collection::vec(op(), 1..300),
    ) {
        run(OffloadCaps::none(1514), ecn, congestion, cookies, ops)?;
    }

    #[test]
    fn arbitrary_frames_and_calls_tso(
        ecn in ecn_mode(),
        congestion in proptest::sample::select(CongestionControl::ALL.to_vec()),
        cookies in cookie_policy(),
        ops in proptest::collection::vec(op(), 1..300),
    ) {
        run(offload_caps(1500, true), ecn, congestion, cookies, ops)?;
    }
}
