//! ICMP errors, frame by frame: RFC 1191 "fragmentation needed" lowers the MSS and resends the
//! flight at once (per-frame transmit, software segmentation in `poll`, TSO); forged errors
//! (RFC 5927) change nothing and are counted by reason; hard errors abort SYN-SENT only.

use super::gro::Burst;
use super::scenarios::establish;
use super::*;
use crate::tcb::Events;
use crate::wire::icmp::unreachable;
use crate::wire::{EtherType, IcmpErrorKind, IcmpErrorRepr, IcmpPacket, IpProtocol, QuotedRepr};

const T0: Instant = Instant::from_secs(1);
/// A router between us and the peer.
const ROUTER_IP: Ipv4Address = Ipv4Address([198, 18, 0, 254]);

/// The ICMP error `kind` quoting a 1500-byte segment of ours to PEER:80 from `port` with
/// sequence number `seq`.
fn icmp_error(kind: IcmpErrorKind, port: u16, seq: u32) -> IcmpErrorRepr {
    IcmpErrorRepr {
        kind,
        quoted: QuotedRepr {
            src_addr: OUR_IP,
            dst_addr: PEER_IP,
            protocol: IpProtocol::TCP,
            total_len: 1500,
            src_port: port,
            dst_port: 80,
            seq,
        },
    }
}

/// [`icmp_error`] as message bytes.
fn icmp_message(kind: IcmpErrorKind, port: u16, seq: u32) -> Vec<u8> {
    icmp_message_of(&icmp_error(kind, port, seq))
}

fn icmp_message_of(repr: &IcmpErrorRepr) -> Vec<u8> {
    let mut m = vec![0u8; repr.buffer_len()];
    repr.emit(&mut IcmpPacket::new_unchecked(&mut m[..]));
    m
}

/// An Ethernet frame from the router (through the peer's MAC, the next hop) to `dst`
/// carrying ICMP message `msg`.
fn icmp_frame_to(dst: Ipv4Address, msg: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20];
    EthernetRepr {
        src_addr: PEER_MAC,
        dst_addr: OUR_MAC,
        ethertype: EtherType::IPV4,
    }
    .emit_bytes(&mut f);
    let ip = Ipv4Repr {
        src_addr: ROUTER_IP,
        dst_addr: dst,
        protocol: IpProtocol::ICMP,
        payload_len: msg.len(),
        ttl: 64,
        ident: 5,
        dont_frag: false,
        dscp_ecn: 0,
    };
    f[14..].copy_from_slice(&ip.header_bytes(TxChecksum::Software));
    f.extend_from_slice(msg);
    f
}

fn icmp_frame(msg: &[u8]) -> Vec<u8> {
    icmp_frame_to(OUR_IP, msg)
}

fn frag_needed(mtu: u16) -> IcmpErrorKind {
    IcmpErrorKind::FragmentationNeeded { next_hop_mtu: mtu }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len as u32).map(|i| (i % 251) as u8).collect()
}

/// The (offset from `iss + 1`, length) of each segment, and checks each payload against
/// `data`.
fn layout(sent: &[Sent], iss: u32, data: &[u8]) -> Vec<(u32, usize)> {
    sent.iter()
        .map(|s| {
            let off = s.h.seq.0.wrapping_sub(iss + 1);
            let at = off as usize;
            assert_eq!(s.payload, data[at..at + s.payload.len()], "bytes at {off}");
            (off, s.payload.len())
        })
        .collect()
}

#[test]
fn frag_needed_lowers_the_mss_and_resends_the_flight_at_once() {
    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, _) = establish(&mut ep, T0);
    let data = pattern(5000);
    ep.write(key, &data).unwrap();
    let first = drain_tcp(&mut ep, T0);
    assert_eq!(
        layout(&first, iss, &data),
        [(0, 1460), (1460, 1460), (2920, 1460), (4380, 620)]
    );
    let cwnd = ep.tcb(key).unwrap().cwnd();
    // The router refused the second segment (a 1500-byte datagram) toward a 1280-byte hop.
    let msg = icmp_message(frag_needed(1280), port, iss + 1 + 1460);
    let (r, _) = deliver(&mut ep, T0, icmp_frame(&msg), RxMeta::UNVERIFIED);
    assert_eq!(r, Received::Nothing);
    assert_eq!(ep.counters().icmp_frag_needed, 1);
    let tcb = ep.tcb(key).unwrap();
    assert_eq!(tcb.send_mss(), 1240, "1280 - 20 (IPv4) - 20 (TCP)");
    assert_eq!(tcb.cwnd(), cwnd, "no congestion window cut");
    // At once, without a timer: everything from SND.UNA in segments of the new size.
    let resent = drain_tcp(&mut ep, T0);
    assert_eq!(
        layout(&resent, iss, &data),
        [
            (0, 1240),
            (1240, 1240),
            (2480, 1240),
            (3720, 1240),
            (4960, 40)
        ]
    );
    for s in &resent {
        assert!(
            s.ip.payload_len <= 1280,
            "datagram of {} bytes",
            s.ip.payload_len
        );
    }
    // The same message again (a router sends one per refused segment): nothing to lower.
    let (r, _) = deliver(&mut ep, T0, icmp_frame(&msg), RxMeta::UNVERIFIED);
    assert_eq!(r, Received::Nothing);
    assert_eq!(ep.counters().icmp_frag_needed, 1);
    assert_eq!(ep.counters().icmp_frag_needed_unneeded, 1);
    assert!(drain_tcp(&mut ep, T0).is_empty(), "no second resend");
    // A larger MTU never raises the MSS.
    let msg = icmp_message(frag_needed(1400), port, iss + 1);
    deliver(&mut ep, T0, icmp_frame(&msg), RxMeta::UNVERIFIED);
    assert_eq!(ep.tcb(key).unwrap().send_mss(), 1240);
    assert_eq!(ep.counters().icmp_frag_needed_unneeded, 2);
    // Once acknowledged, new data goes in segments of the new size.
    let ack = seg(80, port, 9001, Some(iss + 1 + 5000), TcpFlags::NONE, 65535);
    deliver(&mut ep, T0, PEER.tcp(&ack, &[]), RxMeta::UNVERIFIED);
    let more = pattern(2000);
    ep.write(key, &more).unwrap();
    let next = drain_tcp(&mut ep, T0);
    let lens: Vec<usize> = next.iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, [1240, 760]);
    assert_eq!(ep.counters().timeouts, 0);
    assert_eq!(ep.tcb(key).unwrap().counters().timeouts, 0);
}

#[test]
fn frag_needed_from_a_router_without_rfc1191_uses_the_plateau_below_the_length() {
    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, _) = establish(&mut ep, T0);
    ep.write(key, &pattern(3000)).unwrap();
    assert_eq!(drain_tcp(&mut ep, T0).len(), 3);
    // MTU field 0, the refused datagram was 1500 bytes: the plateau below is 1492.
    let msg = icmp_message(frag_needed(0), port, iss + 1);
    deliver(&mut ep, T0, icmp_frame(&msg), RxMeta::UNVERIFIED);
    assert_eq!(ep.tcb(key).unwrap().send_mss(), 1452);
    assert_eq!(ep.counters().icmp_frag_needed, 1);
    let lens: Vec<usize> = drain_tcp(&mut ep, T0)
        .iter()
        .map(|s| s.payload.len())
        .collect();
    assert_eq!(lens, [1452, 1452, 96]);
}

#[test]
fn frag_needed_with_tso_resends_then_segments_at_the_new_mss() {
    let caps = OffloadCaps {
        tx_checksum: true,
        rx_checksum: true,
        tso: Some(crate::device::TsoCaps {
            max_payload: 65535 - 80,
            min_mss: 256,
            max_mss: 9000,
        }),
        max_frame_len: 1514,
    };
    let mut ep = Ep::with_capacity(config(caps), 4).unwrap();
    ep.add_neighbor(Instant::ZERO, PEER_IP, PEER_MAC);
    let (key, port, iss, _) = establish(&mut ep, T0);
    let data = pattern(16 << 10);
    assert_eq!(ep.write(key, &data).unwrap(), data.len());
    let (frames, _) = drain(&mut ep, T0);
    assert_eq!(frames.len(), 1, "one super-frame of the initial window");
    assert_eq!(frames[0].1.tso_mss, Some(1460));
    assert_eq!(parse_sent(&frames[0].0, frames[0].1).payload.len(), 14_600);
    let msg = icmp_message(frag_needed(1280), port, iss + 1 + 2920);
    deliver(&mut ep, T0, icmp_frame(&msg), RxMeta::UNVERIFIED);
    assert_eq!(ep.counters().icmp_frag_needed, 1);
    // The resend: whole cwnd at once, in frames of the new MSS (a retransmission is never a
    // super-frame).
    let (frames, _) = drain(&mut ep, T0);
    let sent: Vec<Sent> = frames.iter().map(|(f, m)| parse_sent(f, *m)).collect();
    let mut want: Vec<(u32, usize)> = (0..11).map(|k| (k * 1240, 1240)).collect();
    want.push((13_640, 960));
    assert_eq!(layout(&sent, iss, &data), want);
    assert!(frames.iter().all(|(_, m)| m.tso_mss.is_none()));
    // Acknowledged: the rest (1784 bytes) goes as a super-frame the device cuts at 1240.
    let ack = seg(
        80,
        port,
        9001,
        Some(iss + 1 + 14_600),
        TcpFlags::NONE,
        65535,
    );
    deliver(&mut ep, T0, PEER.tcp(&ack, &[]), RxMeta::UNVERIFIED);
    let (frames, _) = drain(&mut ep, T0);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].1.tso_mss, Some(1240));
    let s = parse_sent(&frames[0].0, frames[0].1);
    assert_eq!(layout(&[s], iss, &data), [(14_600, 1784)]);
}

#[test]
fn frag_needed_with_software_segmentation_in_poll() {
    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, _) = establish(&mut ep, T0);
    let data = pattern(8000);
    ep.write(key, &data).unwrap();
    let mut dev = Burst {
        rx: Vec::new(),
        tx: Vec::new(),
    };
    ep.poll(T0, &mut dev, |_, _| {});
    assert!(ep.counters().gso_batches >= 1, "poll segments in software");
    let sent: Vec<Sent> = dev.tx.drain(..).map(|(f, m)| parse_sent(&f, m)).collect();
    let lens: Vec<usize> = sent.iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, [1460, 1460, 1460, 1460, 1460, 700]);
    let msg = icmp_message(frag_needed(1000), port, iss + 1 + 4380);
    dev.rx.push((icmp_frame(&msg), RxMeta::UNVERIFIED));
    ep.poll(T0, &mut dev, |_, _| {});
    assert_eq!(ep.counters().icmp_frag_needed, 1);
    let sent: Vec<Sent> = dev.tx.drain(..).map(|(f, m)| parse_sent(&f, m)).collect();
    let mut want: Vec<(u32, usize)> = (0..8).map(|k| (k * 960, 960)).collect();
    want.push((7680, 320));
    assert_eq!(layout(&sent, iss, &data), want);
    // New data after the ACK: software-segmented super-segments cut at 960.
    let ack = seg(80, port, 9001, Some(iss + 1 + 8000), TcpFlags::NONE, 65535);
    dev.rx.push((PEER.tcp(&ack, &[]), RxMeta::UNVERIFIED));
    ep.write(key, &pattern(3000)).unwrap();
    let batches = ep.counters().gso_batches;
    ep.poll(T0, &mut dev, |_, _| {});
    let lens: Vec<usize> = dev
        .tx
        .iter()
        .map(|(f, m)| parse_sent(f, *m).payload.len())
        .collect();
    assert_eq!(lens, [960, 960, 960, 120]);
    assert_eq!(ep.counters().gso_batches, batches + 1);
}

/// Which counter a forged message must raise.
#[derive(Debug, Clone, Copy)]
enum Counted {
    Quote,
    NoConnection,
    Sequence,
    Mtu,
    NotForUs,
    BadChecksum,
    Malformed,
}

fn count_of(c: &EndpointCounters, which: Counted) -> u64 {
    match which {
        Counted::Quote => c.icmp_rejected_quote,
        Counted::NoConnection => c.icmp_rejected_no_connection,
        Counted::Sequence => c.icmp_rejected_sequence,
        Counted::Mtu => c.icmp_rejected_mtu,
        Counted::NotForUs => c.rx_not_for_us,
        Counted::BadChecksum => c.rx_bad_icmp_checksum,
        Counted::Malformed => c.rx_malformed,
    }
}

#[test]
fn forged_errors_change_nothing_and_are_counted() {
    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, _) = establish(&mut ep, T0);
    ep.write(key, &pattern(3000)).unwrap();
    assert_eq!(drain_tcp(&mut ep, T0).len(), 3);
    let una = iss + 1;
    let valid = icmp_error(frag_needed(1280), port, una);
    let with = |f: &dyn Fn(&mut QuotedRepr)| {
        let mut r = valid;
        f(&mut r.quoted);
        icmp_frame(&icmp_message_of(&r))
    };
    let mut cases: Vec<(&str, Vec<u8>, Counted)> = vec![
        (
            "seq below SND.UNA",
            with(&|q| q.seq = una - 1),
            Counted::Sequence,
        ),
        (
            "seq at SND.NXT",
            with(&|q| q.seq = una + 3000),
            Counted::Sequence,
        ),
        (
            "seq far off",
            with(&|q| q.seq = una ^ 0x8000_0000),
            Counted::Sequence,
        ),
        (
            "our port wrong",
            with(&|q| q.src_port = port + 1),
            Counted::NoConnection,
        ),
        (
            "peer port wrong",
            with(&|q| q.dst_port = 81),
            Counted::NoConnection,
        ),
        (
            "peer address wrong",
            with(&|q| q.dst_addr = Ipv4Address([198, 18, 0, 3])),
            Counted::NoConnection,
        ),
        (
            "not from our address",
            with(&|q| q.src_addr = Ipv4Address([198, 18, 0, 9])),
            Counted::Quote,
        ),
        (
            "not TCP",
            with(&|q| q.protocol = IpProtocol::UDP),
            Counted::Quote,
        ),
        (
            "the listener tuple",
            with(&|q| {
                q.dst_addr = Ipv4Address([0, 0, 0, 0]);
                q.dst_port = 0;
            }),
            Counted::Quote,
        ),
        (
            "outer destination not us",
            icmp_frame_to(Ipv4Address([198, 18, 0, 7]), &icmp_message_of(&valid)),
            Counted::NotForUs,
        ),
    ];
    let mut below_floor = valid;
    below_floor.kind = frag_needed(551);
    cases.push((
        "MTU below the floor",
        icmp_frame(&icmp_message_of(&below_floor)),
        Counted::Mtu,
    ));
    let mut bad_sum = icmp_message_of(&valid);
    bad_sum[30] ^= 0x01;
    cases.push(("bad checksum", icmp_frame(&bad_sum), Counted::BadChecksum));
    let mut short = icmp_message_of(&valid);
    short.truncate(8 + 20 + 7);
    IcmpPacket::new_unchecked(&mut short[..]).fill_checksum();
    cases.push((
        "quote without 8 TCP bytes",
        icmp_frame(&short),
        Counted::Malformed,
    ));
    let mut bad_ihl = icmp_message_of(&valid);
    bad_ihl[8] = 0x43;
    IcmpPacket::new_unchecked(&mut bad_ihl[..]).fill_checksum();
    cases.push(("quoted IHL 3", icmp_frame(&bad_ihl), Counted::Malformed));
    // Hard errors forged the same way do not abort either.
    let mut port_unreachable = valid;
    port_unreachable.kind = IcmpErrorKind::Unreachable(unreachable::PORT);
    port_unreachable.quoted.seq = una - 1;
    cases.push((
        "port unreachable, seq below SND.UNA",
        icmp_frame(&icmp_message_of(&port_unreachable)),
        Counted::Sequence,
    ));

    for (what, frame, counted) in cases {
        let before = *ep.counters();
        let (r, _) = deliver(&mut ep, T0, frame, RxMeta::UNVERIFIED);
        assert!(matches!(r, Received::Dropped(_)), "{what}: {r:?}");
        let after = ep.counters();
        assert_eq!(
            count_of(after, counted),
            count_of(&before, counted) + 1,
            "{what}: counted as {counted:?}"
        );
        assert_eq!(after.icmp_frag_needed, 0, "{what}");
        assert_eq!(after.icmp_hard_errors + after.icmp_soft_errors, 0, "{what}");
        let tcb = ep.tcb(key).unwrap();
        assert_eq!(tcb.send_mss(), 1460, "{what}: MSS unchanged");
        assert_eq!(tcb.state(), State::Established, "{what}");
        assert_eq!(tcb.snd_nxt(), SeqNum(una + 3000), "{what}: no go-back");
        assert!(drain_tcp(&mut ep, T0).is_empty(), "{what}: nothing resent");
    }
    // The valid message still works afterwards.
    deliver(
        &mut ep,
        T0,
        icmp_frame(&icmp_message_of(&valid)),
        RxMeta::UNVERIFIED,
    );
    assert_eq!(ep.counters().icmp_frag_needed, 1);
}

#[test]
fn port_unreachable_aborts_syn_sent() {
    for code in [unreachable::PORT, unreachable::PROTOCOL] {
        let mut ep = endpoint_with_peer(4);
        let key = connect_to_peer(&mut ep, T0);
        let syn = drain_tcp(&mut ep, T0);
        let (port, iss) = (syn[0].h.src_port, syn[0].h.seq.0);
        // The ISS + 1 is not the SYN: rejected.
        let msg = icmp_message(IcmpErrorKind::Unreachable(code), port, iss + 1);
        let (r, _) = deliver(&mut ep, T0, icmp_frame(&msg), RxMeta::UNVERIFIED);
        assert_eq!(
            r,
            Received::Dropped(RxDrop::IcmpRejected(IcmpRejection::Sequence))
        );
        assert_eq!(ep.state(key), Some(State::SynSent));
        // A soft error (host unreachable) is counted; the SYN goes on being retried.
        let msg = icmp_message(IcmpErrorKind::Unreachable(unreachable::HOST), port, iss);
        let (r, _) = deliver(&mut ep, T0, icmp_frame(&msg), RxMeta::UNVERIFIED);
        assert_eq!(r, Received::Nothing);
        assert_eq!(ep.counters().icmp_soft_errors, 1);
        assert_eq!(ep.state(key), Some(State::SynSent));
        let msg = icmp_message(IcmpErrorKind::Unreachable(code), port, iss);
        let o = open(deliver(&mut ep, T0, icmp_frame(&msg), RxMeta::UNVERIFIED).0);
        assert_eq!(o.key, key);
        assert!(o.events.contains(Events::CLOSED));
        assert_eq!(ep.close_reason(key), Some(CloseReason::Unreachable));
        assert_eq!(ep.counters().icmp_hard_errors, 1);
        assert_eq!(ep.counters().closes, 1);
        let text = CloseReason::Unreachable.to_string();
        assert!(text.contains("ICMP") && text.contains("port"), "{text}");
        assert!(
            drain_tcp(&mut ep, T0).is_empty(),
            "no RST, no SYN after the abort"
        );
        assert_eq!(ep.next_deadline(), None, "no timer left");
        // CLOSED and not yet released: the tuple names no connection any more (RFC 9293:
        // no TCB), so the same error again is rejected as for no connection.
        let (r, _) = deliver(&mut ep, T0, icmp_frame(&msg), RxMeta::UNVERIFIED);
        assert_eq!(
            r,
            Received::Dropped(RxDrop::IcmpRejected(IcmpRejection::NoConnection))
        );
        assert_eq!(ep.counters().icmp_hard_errors, 1);
        assert_eq!(ep.close_reason(key), Some(CloseReason::Unreachable));
        ep.check_invariants().unwrap();
    }
}

#[test]
fn unreachables_and_time_exceeded_are_soft_when_established() {
    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, _) = establish(&mut ep, T0);
    ep.write(key, &pattern(1000)).unwrap();
    assert_eq!(drain_tcp(&mut ep, T0).len(), 1);
    let mut kinds: Vec<IcmpErrorKind> = (0..=15)
        .filter(|&c| c != unreachable::FRAG_NEEDED)
        .map(IcmpErrorKind::Unreachable)
        .collect();
    kinds.extend([
        IcmpErrorKind::TimeExceeded(0),
        IcmpErrorKind::TimeExceeded(1),
    ]);
    let n = kinds.len() as u64;
    for kind in kinds {
        let msg = icmp_message(kind, port, iss + 1 + 500);
        let (r, _) = deliver(&mut ep, T0, icmp_frame(&msg), RxMeta::UNVERIFIED);
        assert_eq!(r, Received::Nothing, "{kind:?}");
        assert_eq!(ep.state(key), Some(State::Established), "{kind:?}");
        assert!(drain_tcp(&mut ep, T0).is_empty(), "{kind:?}");
    }
    assert_eq!(ep.counters().icmp_soft_errors, n);
    assert_eq!(ep.counters().icmp_hard_errors, 0);
}

/// One step of [`frag_needed_anywhere_keeps_the_stream_exact`].
#[derive(Clone, Debug)]
enum Step {
    /// The application writes this many bytes (what fits).
    Write(u16),
    /// The send phase runs; its frames join the wire.
    Send,
    /// The peer takes the first `n` frames off the wire (in order; out-of-order data is
    /// dropped and answered with a duplicate ACK, in-order data acknowledged).
    Deliver(u8),
    /// The wire loses its first frame.
    Lose,
    /// "Fragmentation needed" with this MTU (below 552 it is rejected), quoting SND.UNA plus
    /// this offset (sometimes outside the flight).
    FragNeeded(u16, i16),
    /// The clock moves to the next deadline (a retransmission timeout, mostly).
    Timeout,
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        3 => (1u16..6000).prop_map(Step::Write),
        4 => Just(Step::Send),
        4 => (1u8..12).prop_map(Step::Deliver),
        1 => Just(Step::Lose),
        2 => (500u16..1500, -100i16..6000).prop_map(|(m, o)| Step::FragNeeded(m, o)),
        1 => Just(Step::Timeout),
    ]
}

/// Random writes, losses, duplicate ACKs and "fragmentation needed" at any point of the flight
/// (recovery included): the endpoint's invariants hold after every step, no segment sent after
/// a message exceeds the MSS it set, the MSS only ever falls, and the peer ends up with exactly
/// the bytes written.
#[test]
fn frag_needed_anywhere_keeps_the_stream_exact() {
    use proptest::prelude::*;
    let config = ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    };
    proptest!(config, |(steps in proptest::collection::vec(step(), 1..60))| {
        let mut ep = endpoint_with_peer(4);
        let (key, port, iss, y) = establish(&mut ep, T0);
        let mut now = T0;
        let mut written: Vec<u8> = Vec::new();
        let mut received: Vec<u8> = Vec::new();
        let mut wire: std::collections::VecDeque<Sent> = std::collections::VecDeque::new();
        let mut mss = ep.tcb(key).unwrap().send_mss();
        let ack_of = |received: &Vec<u8>| {
            let h = seg(80, port, y + 1, Some(iss + 1 + received.len() as u32), TcpFlags::NONE, 65535);
            PEER.tcp(&h, &[])
        };
        let run = |ep: &mut Ep, step: &Step, now: &mut Instant, wire: &mut std::collections::VecDeque<Sent>,
                       written: &mut Vec<u8>, received: &mut Vec<u8>, mss: &mut u32| {
            match *step {
                Step::Write(n) => {
                    let data = pattern(written.len() + usize::from(n));
                    let took = ep.write(key, &data[written.len()..]).unwrap();
                    written.extend_from_slice(&data[written.len()..written.len() + took]);
                }
                Step::Send => {
                    for s in drain_tcp(ep, *now) {
                        assert!(s.payload.len() as u32 <= *mss, "{} bytes above MSS {mss}", s.payload.len());
                        wire.push_back(s);
                    }
                }
                Step::Deliver(n) => {
                    for _ in 0..n {
                        let Some(s) = wire.pop_front() else { break };
                        let off = s.h.seq.0.wrapping_sub(iss + 1) as usize;
                        if off == received.len() && !s.payload.is_empty() {
                            assert_eq!(s.payload, written[off..off + s.payload.len()], "bytes at {off}");
                            received.extend_from_slice(&s.payload);
                        } else if off < received.len() && off + s.payload.len() > received.len() {
                            let new = &s.payload[received.len() - off..];
                            received.extend_from_slice(new);
                        }
                        deliver(ep, *now, ack_of(received), RxMeta::UNVERIFIED);
                    }
                }
                Step::Lose => {
                    wire.pop_front();
                }
                Step::FragNeeded(mtu, off) => {
                    let una = ep.tcb(key).unwrap().snd_una().0;
                    let seq = una.wrapping_add(off as i32 as u32);
                    let msg = icmp_message(frag_needed(mtu), port, seq);
                    deliver(ep, *now, icmp_frame(&msg), RxMeta::UNVERIFIED);
                    let now_mss = ep.tcb(key).unwrap().send_mss();
                    assert!(now_mss <= *mss, "the MSS rose from {mss} to {now_mss}");
                    if now_mss < *mss {
                        assert!(mtu >= DEFAULT_MIN_PATH_MTU && now_mss == u32::from(mtu) - 40);
                    }
                    *mss = now_mss;
                }
                Step::Timeout => {
                    if let Some(d) = ep.next_deadline() {
                        *now = d.max(*now);
                        // The peer's address stays known: backed-off timeouts pass the
                        // neighbour entry's lifetime, and this test's wire carries no ARP.
                        ep.add_neighbor(*now, PEER_IP, PEER_MAC);
                        wire.extend(drain_tcp(ep, *now));
                    }
                }
            }
        };
        for s in &steps {
            run(&mut ep, s, &mut now, &mut wire, &mut written, &mut received, &mut mss);
        }
        // Then a clean wire until everything written arrived.
        for _ in 0..10_000 {
            if received.len() == written.len() {
                break;
            }
            run(&mut ep, &Step::Send, &mut now, &mut wire, &mut written, &mut received, &mut mss);
            if wire.is_empty() {
                run(&mut ep, &Step::Timeout, &mut now, &mut wire, &mut written, &mut received, &mut mss);
            }
            run(&mut ep, &Step::Deliver(64), &mut now, &mut wire, &mut written, &mut received, &mut mss);
        }
        prop_assert_eq!(received.len(), written.len());
        prop_assert!(received == written);
        prop_assert_eq!(ep.state(key), Some(State::Established));
    });
}

#[test]
fn the_mtu_floor_is_configurable_and_checked() {
    let mut c = config(OffloadCaps::none(1514));
    c.min_path_mtu = 67;
    match Ep::with_capacity(c, 4) {
        Err(SetupError::Config(why)) => assert!(why.contains("min_path_mtu"), "{why}"),
        Err(other) => panic!("wrong error: {other:?}"),
        Ok(_) => panic!("a floor below the IPv4 minimum was accepted"),
    }
    for (floor, mtu, applied) in [(1300, 1280, false), (576, 600, true), (552, 576, true)] {
        let mut c = config(OffloadCaps::none(1514));
        c.min_path_mtu = floor;
        let mut ep = Ep::with_capacity(c, 4).unwrap();
        ep.add_neighbor(Instant::ZERO, PEER_IP, PEER_MAC);
        let (key, port, iss, _) = establish(&mut ep, T0);
        ep.write(key, &pattern(2000)).unwrap();
        assert_eq!(drain_tcp(&mut ep, T0).len(), 2);
        let msg = icmp_message(frag_needed(mtu), port, iss + 1);
        deliver(&mut ep, T0, icmp_frame(&msg), RxMeta::UNVERIFIED);
        let want = if applied { u32::from(mtu) - 40 } else { 1460 };
        assert_eq!(
            ep.tcb(key).unwrap().send_mss(),
            want,
            "floor {floor}, MTU {mtu}"
        );
        assert_eq!(ep.counters().icmp_frag_needed, u64::from(applied));
        assert_eq!(ep.counters().icmp_rejected_mtu, u64::from(!applied));
    }
}
