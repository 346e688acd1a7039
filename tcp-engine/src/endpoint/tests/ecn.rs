//! ECN (RFC 3168) through the endpoint: the IPv4 ECN field of the frames it emits (ECT(0)
//! only on new data), CE marks read from received frames, and the counters.

use super::*;
use crate::tcb::{EcnMode, Events};
use crate::wire::ipv4::{ECN_CE, ECN_ECT0, ECN_MASK};

const T0: Instant = Instant::from_secs(1);
const ECE: TcpFlags = TcpFlags::ECE;
const CWR: TcpFlags = TcpFlags::CWR;

/// [`endpoint_with_peer`] with ECN `mode`.
pub(super) fn ecn_endpoint(mode: EcnMode) -> Ep {
    let mut c = config(OffloadCaps::none(1514));
    c.tcb.ecn = mode;
    let mut ep = Ep::with_capacity(c, 4).unwrap();
    ep.add_neighbor(Instant::ZERO, PEER_IP, PEER_MAC);
    ep
}

/// The ECN field of frame `f` (its IPv4 header's, straight from the bytes).
pub(super) fn ecn_field(f: &[u8]) -> u8 {
    f[15] & ECN_MASK
}

/// Active open to PEER:80 asking for ECN, the peer agreeing: (key, port, ISS, peer's ISS).
/// Checks the SYN and the handshake ACK byte for byte where ECN shows.
pub(super) fn establish_ecn(ep: &mut Ep, now: Instant) -> (SlotKey, u16, u32, u32) {
    let key = connect_to_peer(ep, now);
    let (frames, _) = drain(ep, now);
    assert_eq!(frames.len(), 1, "the SYN");
    let syn = parse_sent(&frames[0].0, frames[0].1);
    assert_eq!(syn.h.flags, TcpFlags::SYN | ECE | CWR, "an ECN-setup SYN");
    assert_eq!(ecn_field(&frames[0].0), 0, "a SYN is not ECN-capable");
    let (port, iss, y) = (syn.h.src_port, syn.h.seq.0, 9000);
    let mut sa = seg(80, port, y, Some(iss + 1), TcpFlags::SYN | ECE, 65535);
    sa.options.mss = Some(1460);
    let (r, _) = deliver(ep, now, PEER.tcp(&sa, &[]), RxMeta::UNVERIFIED);
    assert!(matches!(r, Received::Open(o) if o.events.contains(Events::ESTABLISHED)));
    let (frames, _) = drain(ep, now);
    assert_eq!(frames.len(), 1, "the handshake ACK");
    assert_eq!(parse_sent(&frames[0].0, frames[0].1).h.flags, TcpFlags::ACK);
    assert_eq!(ecn_field(&frames[0].0), 0);
    assert!(ep.tcb(key).unwrap().ecn_negotiated());
    (key, port, iss, y)
}

#[test]
fn emitted_frames_are_ect_only_for_new_data() {
    let mut ep = ecn_endpoint(EcnMode::On);
    let (key, port, iss, y) = establish_ecn(&mut ep, T0);
    assert_eq!(ep.counters().ecn_connections, 1);
    ep.write(key, &[7; 3000]).unwrap();
    let (frames, _) = drain(&mut ep, T0);
    assert_eq!(frames.len(), 3);
    for (f, m) in &frames {
        assert_eq!(ecn_field(f), ECN_ECT0, "new data is ECT(0)");
        assert_eq!(f[15] >> 2, 0, "DSCP untouched");
        assert!(!parse_sent(f, *m).h.flags.intersects(ECE | CWR));
    }
    // The retransmission after a timeout is not ECN-capable, and its checksums hold (the
    // parse checks them) with the ECN bits in the header either way.
    let rto = ep.next_deadline().expect("RTO armed");
    let (frames, _) = drain(&mut ep, rto);
    assert_eq!(frames.len(), 1, "go-back-N: one segment after the timeout");
    let s = parse_sent(&frames[0].0, frames[0].1);
    assert_eq!((s.h.seq.0, s.payload.len()), (iss + 1, 1460));
    assert_eq!(ecn_field(&frames[0].0), 0, "a retransmission is not ECT");
    // A pure ACK is not; the peer's data arrives CE-marked and our ACK echoes it.
    let data = seg(80, port, y + 1, Some(iss + 3001), TcpFlags::PSH, 65535);
    let (r, _) = deliver(
        &mut ep,
        rto,
        PEER.tcp_tos(&data, b"hi", ECN_CE),
        RxMeta::UNVERIFIED,
    );
    assert!(matches!(r, Received::Open(o) if o.events.contains(Events::READABLE)));
    assert_eq!(ep.counters().rx_ce_marked, 1);
    let (frames, _) = drain(&mut ep, rto);
    assert_eq!(frames.len(), 1);
    let a = parse_sent(&frames[0].0, frames[0].1);
    assert_eq!(
        (a.h.seq.0, a.h.ack.0, a.h.flags, a.payload.len()),
        (iss + 3001, y + 3, TcpFlags::ACK | ECE, 0)
    );
    assert_eq!(ecn_field(&frames[0].0), 0, "a pure ACK is not ECT");
    // The abort's RST is not.
    ep.write(key, b"x").unwrap();
    ep.abort(rto, key).unwrap();
    let (frames, _) = drain(&mut ep, rto);
    let rst: Vec<_> = frames
        .iter()
        .filter(|(f, m)| parse_sent(f, *m).h.flags.rst())
        .collect();
    assert_eq!(rst.len(), 1);
    assert_eq!(ecn_field(&rst[0].0), 0, "a RST is not ECT");
}

#[test]
fn an_echo_is_counted_as_one_reduction_per_window() {
    let mut ep = ecn_endpoint(EcnMode::On);
    let (key, port, iss, y) = establish_ecn(&mut ep, T0);
    ep.write(key, &[7; 10 * 1460]).unwrap();
    assert_eq!(drain(&mut ep, T0).0.len(), 10);
    for k in 1..=3u32 {
        let a = seg(80, port, y + 1, Some(iss + 1 + k * 1460), ECE, 65535);
        deliver(&mut ep, T0, PEER.tcp(&a, &[]), RxMeta::UNVERIFIED);
    }
    assert_eq!(ep.counters().ecn_window_reductions, 1);
    let t = ep.tcb(key).unwrap();
    // Reduced once, at the first echo: half the 10 segments in flight when it came.
    assert_eq!(t.ssthresh(), 10 * 1460 / 2);
    assert_eq!(t.counters().retransmitted_segments, 0);
}

#[test]
fn a_listener_agrees_to_an_ecn_setup_syn_only_when_allowed() {
    for (mode, agreed) in [
        (EcnMode::Off, false),
        (EcnMode::Accept, true),
        (EcnMode::On, true),
    ] {
        let mut ep = ecn_endpoint(mode);
        let key = ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
        let syn = seg(40000, 80, 500, None, TcpFlags::SYN | ECE | CWR, 65535);
        deliver(&mut ep, T0, PEER.tcp(&syn, &[]), RxMeta::UNVERIFIED);
        let (frames, _) = drain(&mut ep, T0);
        assert_eq!(frames.len(), 1, "the SYN-ACK");
        let sa = parse_sent(&frames[0].0, frames[0].1);
        let flags = if agreed {
            TcpFlags::SYN | TcpFlags::ACK | ECE
        } else {
            TcpFlags::SYN | TcpFlags::ACK
        };
        assert_eq!(sa.h.flags, flags, "{mode:?}");
        assert_eq!(ecn_field(&frames[0].0), 0, "a SYN-ACK is not ECN-capable");
        let a = seg(40000, 80, 501, Some(sa.h.seq.0 + 1), TcpFlags::NONE, 65535);
        deliver(&mut ep, T0, PEER.tcp(&a, &[]), RxMeta::UNVERIFIED);
        assert_eq!(ep.state(key), Some(crate::tcb::State::Established));
        assert_eq!(ep.tcb(key).unwrap().ecn_negotiated(), agreed);
        assert_eq!(ep.counters().ecn_connections, u64::from(agreed), "{mode:?}");
    }
}

#[test]
fn parsers_report_ce_and_only_ce() {
    let h = seg(80, 40000, 1, Some(2), TcpFlags::PSH, 100);
    for (tos, ce) in [
        (0, false),
        (1, false),
        (2, false),
        (3, true),
        (0xB8 | 3, true),
    ] {
        let frame = PEER.tcp_tos(&h, b"data", tos);
        let parsed = parse_frame(&frame, RxMeta::UNVERIFIED).unwrap();
        let RxPayload::Tcp { tcp, .. } = parsed.payload else {
            panic!("TCP");
        };
        assert_eq!(
            tcp.header.flags.intersects(TcpFlags::IP_CE),
            ce,
            "TOS {tos:#x}"
        );
        // The fast parser leaves a marked datagram to the general one.
        match crate::wire::frame::parse_tcp_fast(&frame, RxMeta::UNVERIFIED, OUR_MAC) {
            Some(fast) => assert_eq!(fast.header, tcp.header, "both parsers agree"),
            None => assert!(ce, "only a CE mark leaves the fast shape"),
        }
        // The pseudo-flag never reaches a wire.
        let mut again = tcp.header;
        again.flags |= TcpFlags::IP_CE;
        let out = PEER.tcp(&again, b"data");
        assert_eq!(out[14 + 20 + 12] & 0x0F, 0, "reserved bits stay zero");
        assert_eq!(out[14 + 20 + 13], (TcpFlags::ACK | TcpFlags::PSH).0 as u8);
    }
}
