//! The brief's scenarios that need an endpoint, with exact expected segments.

use super::*;
use crate::table::{FourTuple, PortRange};
use crate::tcb::{CloseReason, DropReason, Events, State};
use crate::wire::{
    ArpOperation, EtherType, IcmpEchoKind, IcmpEchoRepr, IcmpPacket, IpProtocol, Ipv4Packet,
};

const T0: Instant = Instant::from_secs(1);

fn ms(v: u64) -> crate::time::Duration {
    crate::time::Duration::from_millis(v)
}

/// The ISS the endpoint must use for `tuple` at `now` (RFC 6528 with the test secret).
fn expected_iss(local_port: u16, remote_port: u16, now: Instant) -> u32 {
    let isn = IsnGenerator::new(HashSecret::from_bytes(*b"endpoint tests!!").derive(b"isn"));
    let tuple = FourTuple::new(OUR_IP.into(), local_port, PEER_IP.into(), remote_port);
    isn.isn(&tuple, now.micros()).0
}

/// Active open to PEER:80 completed: (key, our local port, ISS, the peer's ISN).
pub(super) fn establish(ep: &mut Ep, now: Instant) -> (SlotKey, u16, u32, u32) {
    let key = ep
        .connect(now, PEER_IP, 80, bufs())
        .map_err(|(e, _)| e)
        .unwrap();
    let out = drain_tcp(ep, now);
    assert_eq!(out.len(), 1, "exactly the SYN: {out:?}");
    let syn = &out[0];
    assert_eq!(syn.h.flags, TcpFlags::SYN);
    let port = syn.h.src_port;
    let iss = syn.h.seq.0;
    let y = 9000;
    let mut sa = seg(80, port, y, Some(iss + 1), TcpFlags::SYN, 65535);
    sa.options.mss = Some(1460);
    let o = open(deliver(ep, now, PEER.tcp(&sa, &[]), RxMeta::UNVERIFIED).0);
    assert!(o.events.contains(Events::ESTABLISHED));
    let ack = drain_tcp(ep, now);
    assert_eq!(ack.len(), 1, "the handshake ACK");
    assert_eq!((ack[0].h.seq.0, ack[0].h.ack.0), (iss + 1, y + 1));
    (key, port, iss, y)
}

#[test]
fn scenario_1_closed_port_answers_per_rfc9293() {
    let mut ep = endpoint(4);
    // SYN seq=100 -> <SEQ=0><ACK=101><RST,ACK>
    let syn = PEER.tcp(&seg(40000, 81, 100, None, TcpFlags::SYN, 1000), &[]);
    let (r, frame) = deliver(&mut ep, T0, syn, RxMeta::UNVERIFIED);
    let r = reply(r);
    assert_eq!(r.kind, ReplyKind::Rst);
    let s = parse_sent(&frame[..r.len], r.meta);
    assert_eq!(s.h.seq, SeqNum(0));
    assert_eq!(s.h.ack, SeqNum(101));
    assert_eq!(s.h.flags, TcpFlags::RST | TcpFlags::ACK);
    assert_eq!((s.h.src_port, s.h.dst_port, s.h.window), (81, 40000, 0));
    assert_eq!((s.eth.src_addr, s.eth.dst_addr), (OUR_MAC, PEER_MAC));
    assert_eq!((s.ip.src_addr, s.ip.dst_addr), (OUR_IP, PEER_IP));
    assert!(s.payload.is_empty());
    assert_eq!(r.len, 54, "no options, no payload");

    // SYN + 5 bytes + FIN occupies 7 sequence numbers.
    let f = PEER.tcp(
        &seg(40000, 81, 100, None, TcpFlags::SYN | TcpFlags::FIN, 1000),
        b"hello",
    );
    let (r, frame) = deliver(&mut ep, T0, f, RxMeta::UNVERIFIED);
    let s = parse_sent(&frame[..reply(r).len], TxMeta::NONE);
    assert_eq!((s.h.seq.0, s.h.ack.0), (0, 107));

    // An ACK-bearing segment -> <SEQ=SEG.ACK><RST>
    let a = PEER.tcp(&seg(40000, 81, 5, Some(777), TcpFlags::NONE, 1000), b"data");
    let (r, frame) = deliver(&mut ep, T0, a, RxMeta::UNVERIFIED);
    let s = parse_sent(&frame[..reply(r).len], TxMeta::NONE);
    assert_eq!((s.h.seq.0, s.h.flags), (777, TcpFlags::RST));

    // A RST -> no answer.
    let rst = PEER.tcp(&seg(40000, 81, 5, Some(777), TcpFlags::RST, 0), &[]);
    assert_eq!(
        deliver(&mut ep, T0, rst, RxMeta::UNVERIFIED).0,
        Received::Dropped(RxDrop::NoConnection)
    );
    assert_eq!(ep.counters().rst_for_unknown, 3);
    // Source port 0: no answer at all.
    let bad = PEER.tcp(&seg(0, 81, 5, None, TcpFlags::SYN, 0), &[]);
    assert_eq!(
        deliver(&mut ep, T0, bad, RxMeta::UNVERIFIED).0,
        Received::Dropped(RxDrop::BadAddress)
    );
    assert!(ep.is_empty());
}

#[test]
fn scenario_6_passive_open_on_a_listening_slot() {
    let mut ep = endpoint_with_peer(4);
    let key = ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
    assert_eq!(ep.state(key), Some(State::Listen));

    // An ACK to a listener -> <SEQ=SEG.ACK><RST>, and it keeps listening.
    let a = PEER.tcp(&seg(40000, 80, 5, Some(4242), TcpFlags::NONE, 1000), &[]);
    let (r, frame) = deliver(&mut ep, T0, a, RxMeta::UNVERIFIED);
    let s = parse_sent(&frame[..reply(r).len], TxMeta::NONE);
    assert_eq!(
        (s.h.seq.0, s.h.flags, s.h.dst_port),
        (4242, TcpFlags::RST, 40000)
    );
    assert_eq!(ep.counters().tcp_drops[DropReason::ListenAck.index()], 1);
    // A RST, or a segment with neither SYN nor ACK, to a listener: dropped silently.
    let rst = PEER.tcp(&seg(40000, 80, 5, None, TcpFlags::RST, 0), &[]);
    assert_eq!(
        deliver(&mut ep, T0, rst, RxMeta::UNVERIFIED).0,
        Received::Dropped(RxDrop::Segment(DropReason::ListenRst))
    );
    let fin = PEER.tcp(&seg(40000, 80, 5, None, TcpFlags::FIN, 0), &[]);
    assert_eq!(
        deliver(&mut ep, T0, fin, RxMeta::UNVERIFIED).0,
        Received::Dropped(RxDrop::Segment(DropReason::ListenNoSyn))
    );
    assert!(drain(&mut ep, T0).0.is_empty(), "nothing else answered");
    assert_eq!(ep.state(key), Some(State::Listen));

    // SYN -> this slot becomes the connection (SYN-RECEIVED) and answers with a SYN-ACK.
    let y = 5000;
    let mut syn = seg(40000, 80, y, None, TcpFlags::SYN, 8192);
    syn.options.mss = Some(1000);
    let o = open(deliver(&mut ep, T0, PEER.tcp(&syn, &[]), RxMeta::UNVERIFIED).0);
    assert_eq!(o.key, key);
    assert_eq!(o.events, Events::SYN_TO_LISTENER);
    assert_eq!(ep.state(key), Some(State::SynReceived));
    let peer_tuple = FourTuple::new(OUR_IP.into(), 80, PEER_IP.into(), 40000);
    assert_eq!(
        ep.tuple(key),
        Some(peer_tuple),
        "re-keyed to the concrete peer"
    );
    let out = drain_tcp(&mut ep, T0);
    assert_eq!(out.len(), 1);
    let sa = &out[0];
    let iss = expected_iss(80, 40000, T0);
    assert_eq!(sa.h.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!((sa.h.seq.0, sa.h.ack.0), (iss, y + 1));
    assert_eq!(sa.h.options.mss, Some(1460));
    assert_eq!(sa.h.window, 16384, "a real window: the receive buffer");

    // The listener tuple is free now: another peer's SYN finds the port out of slots and is
    // dropped (it retransmits)...
    let other = PEER.tcp(&seg(40001, 80, 1, None, TcpFlags::SYN, 1000), &[]);
    let (r, _) = deliver(&mut ep, T0, other.clone(), RxMeta::UNVERIFIED);
    assert_eq!(r, Received::Dropped(RxDrop::NoListeningSlot));

    // The final ACK -> ESTABLISHED.
    let ack = PEER.tcp(
        &seg(40000, 80, y + 1, Some(iss + 1), TcpFlags::NONE, 8192),
        &[],
    );
    let o = open(deliver(&mut ep, T0, ack, RxMeta::UNVERIFIED).0);
    assert_eq!((o.key, o.events), (key, Events::ESTABLISHED));
    assert_eq!(ep.state(key), Some(State::Established));
    assert_eq!(ep.counters().accepts, 1);

    // ... and 3 s later, no slot having come back, meets a closed port.
    let later = T0 + crate::time::Duration::from_secs(3);
    let (r, frame) = deliver(&mut ep, later, other, RxMeta::UNVERIFIED);
    let s = parse_sent(&frame[..reply(r).len], TxMeta::NONE);
    assert_eq!(s.h.flags, TcpFlags::RST | TcpFlags::ACK);
}

#[test]
fn listening_slots_chain_and_recycle() {
    let mut ep = endpoint_with_peer(8);
    let k1 = ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
    let k2 = ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
    let syn = |port: u16| PEER.tcp(&seg(port, 80, 100, None, TcpFlags::SYN, 8192), &[]);
    assert_eq!(
        open(deliver(&mut ep, T0, syn(1000), RxMeta::UNVERIFIED).0).key,
        k1
    );
    assert_eq!(
        open(deliver(&mut ep, T0, syn(1001), RxMeta::UNVERIFIED).0).key,
        k2
    );
    // Two slots, two connections: the third SYN finds no listener, dropped (the port is out
    // of slots for the moment) for the peer to retransmit.
    let (r, _) = deliver(&mut ep, T0, syn(1002), RxMeta::UNVERIFIED);
    assert_eq!(r, Received::Dropped(RxDrop::NoListeningSlot));
    let out = drain_tcp(&mut ep, T0);
    assert_eq!(out.len(), 2, "two SYN-ACKs");

    // Passive close of k1: the peer's ACK and FIN, our FIN, its ACK.
    let iss1 = expected_iss(80, 1000, T0);
    let fin = PEER.tcp(
        &seg(1000, 80, 101, Some(iss1 + 1), TcpFlags::FIN, 8192),
        &[],
    );
    let o = open(deliver(&mut ep, T0, fin, RxMeta::UNVERIFIED).0);
    assert!(o.events.contains(Events::ESTABLISHED | Events::PEER_CLOSED));
    assert_eq!(ep.state(k1), Some(State::CloseWait));
    assert!(matches!(
        ep.release(k1),
        Err(EndpointError::WrongState { .. })
    ));
    ep.close(T0, k1).unwrap();
    let out = drain_tcp(&mut ep, T0);
    let our_fin = out.iter().find(|s| s.h.flags.fin()).expect("our FIN");
    assert_eq!((our_fin.h.seq.0, our_fin.h.ack.0), (iss1 + 1, 102));
    let last = PEER.tcp(
        &seg(1000, 80, 102, Some(iss1 + 2), TcpFlags::NONE, 8192),
        &[],
    );
    let o = open(deliver(&mut ep, T0, last, RxMeta::UNVERIFIED).0);
    assert_eq!(o.events, Events::CLOSED);
    assert_eq!(ep.close_reason(k1), Some(CloseReason::Normal));
    // Recycled: the buffers listen on port 80 again, in a new slot.
    let Recycled::Listening(k3) = ep.recycle(k1).unwrap() else {
        panic!("a passive connection listens again");
    };
    assert_eq!(ep.state(k1), None, "the old key is stale");
    // In place: the slot a release frees is the next one taken, so the key is the one a
    // release and a `listen` would give (same slot, next generation).
    assert_eq!(
        (k3.index(), k3.generation()),
        (k1.index(), k1.generation() + 1)
    );
    assert_eq!(ep.state(k3), Some(State::Listen));
    assert_eq!(ep.readable(k3), Some(0), "the buffers were emptied");
    ep.check_invariants().unwrap();
    assert_eq!(
        open(deliver(&mut ep, T0, syn(1003), RxMeta::UNVERIFIED).0).key,
        k3
    );
    // Closing a parked listener unchains it; the chain keeps the others.
    let k4 = ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
    let k5 = ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
    ep.close(T0, k5).unwrap();
    assert_eq!(ep.state(k5), Some(State::Closed));
    ep.release(k5).unwrap();
    assert_eq!(
        open(deliver(&mut ep, T0, syn(1004), RxMeta::UNVERIFIED).0).key,
        k4
    );
    let (r, _) = deliver(&mut ep, T0, syn(1005), RxMeta::UNVERIFIED);
    assert_eq!(
        r,
        Received::Dropped(RxDrop::NoListeningSlot),
        "k5 no longer listens: k4 took the port's last slot"
    );
    ep.check_invariants().unwrap();
}

#[test]
fn rst_in_syn_received_returns_the_slot_to_listening() {
    let mut ep = endpoint_with_peer(4);
    let key = ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
    let syn = PEER.tcp(&seg(2000, 80, 100, None, TcpFlags::SYN, 8192), &[]);
    open(deliver(&mut ep, T0, syn, RxMeta::UNVERIFIED).0);
    drain(&mut ep, T0);
    let rst = PEER.tcp(&seg(2000, 80, 101, None, TcpFlags::RST, 0), &[]);
    let o = open(deliver(&mut ep, T0, rst, RxMeta::UNVERIFIED).0);
    assert!(o.events.contains(Events::BACK_TO_LISTEN));
    assert_eq!(ep.state(key), Some(State::Listen));
    assert_eq!(ep.tuple(key), Some(FourTuple::listener(OUR_IP.into(), 80)));
    let again = PEER.tcp(&seg(2001, 80, 7, None, TcpFlags::SYN, 8192), &[]);
    assert_eq!(
        open(deliver(&mut ep, T0, again, RxMeta::UNVERIFIED).0).key,
        key
    );
}

#[test]
fn scenario_2_data_rides_on_the_ack_that_completes_the_handshake() {
    let mut ep = endpoint_with_peer(4);
    let key = ep
        .connect(T0, PEER_IP, 80, bufs())
        .map_err(|(e, _)| e)
        .unwrap();
    assert_eq!(ep.write(key, b"GET / HTTP/1.0\r\n\r\n"), Ok(18));
    let out = drain_tcp(&mut ep, T0);
    assert_eq!(out.len(), 1, "no data in the SYN");
    let syn = &out[0];
    let iss = expected_iss(syn.h.src_port, 80, T0);
    assert_eq!((syn.h.seq.0, syn.h.flags), (iss, TcpFlags::SYN));
    assert_eq!(syn.h.options.mss, Some(1460), "MSS option");
    assert_eq!(syn.h.window, 16384, "a real window");
    assert!(syn.payload.is_empty());
    let mut sa = seg(
        80,
        syn.h.src_port,
        9000,
        Some(iss + 1),
        TcpFlags::SYN,
        65535,
    );
    sa.options.mss = Some(1460);
    let t1 = T0 + ms(1);
    deliver(&mut ep, t1, PEER.tcp(&sa, &[]), RxMeta::UNVERIFIED);
    let out = drain_tcp(&mut ep, t1);
    assert_eq!(
        out.len(),
        1,
        "the ACK and the data are one segment: {out:?}"
    );
    assert_eq!((out[0].h.seq.0, out[0].h.ack.0), (iss + 1, 9001));
    assert_eq!(out[0].h.flags, TcpFlags::ACK | TcpFlags::PSH);
    assert_eq!(out[0].payload, b"GET / HTTP/1.0\r\n\r\n");
}

#[test]
fn scenario_3_syn_retransmitted_at_the_rto_then_timeout_event() {
    let mut cfg = config(OffloadCaps::none(1514));
    cfg.tcb.max_syn_retransmissions = 2;
    let mut ep = Ep::with_capacity(cfg, 2).unwrap();
    ep.add_neighbor(Instant::ZERO, PEER_IP, PEER_MAC);
    let key = ep
        .connect(T0, PEER_IP, 80, bufs())
        .map_err(|(e, _)| e)
        .unwrap();
    let first = drain_tcp(&mut ep, T0);
    assert_eq!(first.len(), 1);
    let deadline = ep.next_deadline().expect("the SYN's RTO");
    assert_eq!(deadline, T0 + crate::time::Duration::from_secs(1));
    assert!(
        drain(&mut ep, Instant::from_micros(deadline.micros() - 1))
            .0
            .is_empty()
    );
    let again = drain_tcp(&mut ep, deadline);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].h.seq, first[0].h.seq, "same ISS");
    // Exponential backoff: 2 s, then the open fails with an event from the send phase.
    let d2 = ep.next_deadline().unwrap();
    assert_eq!(d2 - deadline, crate::time::Duration::from_secs(2));
    assert_eq!(drain_tcp(&mut ep, d2).len(), 1);
    let d3 = ep.next_deadline().unwrap();
    let (frames, events) = drain(&mut ep, d3);
    assert!(frames.is_empty());
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].key, events[0].events), (key, Events::CLOSED));
    assert_eq!(ep.close_reason(key), Some(CloseReason::TimedOut));
    assert_eq!(ep.counters().timeouts, 1);
    assert_eq!(ep.next_deadline(), None);
    ep.release(key).unwrap();
    assert!(ep.is_empty());
}

#[test]
fn scenario_15_checksums_software_and_device_verdicts() {
    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, y) = establish(&mut ep, T0);
    let good = PEER.tcp(
        &seg(80, port, y + 1, Some(iss + 1), TcpFlags::PSH, 65535),
        b"hello",
    );
    let mut corrupt = good.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x20; // "hellO"
    // Software verification: dropped and counted, nothing delivered.
    let (r, _) = deliver(&mut ep, T0, corrupt.clone(), RxMeta::UNVERIFIED);
    assert_eq!(
        r,
        Received::Dropped(RxDrop::Wire(crate::wire::Error::BadChecksum(
            crate::wire::Layer::Tcp
        )))
    );
    assert_eq!(ep.counters().rx_bad_tcp_checksum, 1);
    assert_eq!(ep.readable(key), Some(0));
    // The device says it verified the segment: trusted.
    let nic_good = RxMeta {
        ip: ChecksumState::Good,
        l4: ChecksumState::Good,
    };
    let o = open(deliver(&mut ep, T0, corrupt, nic_good).0);
    assert!(o.events.contains(Events::READABLE));
    let mut out = [0u8; 8];
    assert_eq!(ep.read(key, &mut out), Ok(5));
    assert_eq!(&out[..5], b"hellO");
    // The device says bad: dropped even though the bytes are fine.
    let nic_bad = RxMeta {
        ip: ChecksumState::Good,
        l4: ChecksumState::Bad,
    };
    let (r, _) = deliver(&mut ep, T0, good.clone(), nic_bad);
    assert!(matches!(r, Received::Dropped(RxDrop::Wire(_))));
    assert_eq!(ep.counters().rx_bad_tcp_checksum, 2);
    // A flipped bit in the IPv4 header.
    let mut ip_bad = good;
    ip_bad[22] ^= 1; // TTL
    let (r, _) = deliver(&mut ep, T0, ip_bad, RxMeta::UNVERIFIED);
    assert!(matches!(
        r,
        Received::Dropped(RxDrop::Wire(crate::wire::Error::BadChecksum(
            crate::wire::Layer::Ipv4
        )))
    ));
    assert_eq!(ep.counters().rx_bad_ipv4_checksum, 1);
}

#[test]
fn scenario_16_isns_per_rfc6528() {
    let mut cfg = config(OffloadCaps::none(1514));
    cfg.ports = PortRange::new(50000, 50000).unwrap();
    let mut ep = Ep::with_capacity(cfg, 4).unwrap();
    ep.add_neighbor(Instant::ZERO, PEER_IP, PEER_MAC);
    let syn_seq = |ep: &mut Ep, now: Instant, port: u16| {
        let key = ep
            .connect(now, PEER_IP, port, bufs())
            .map_err(|(e, _)| e)
            .unwrap();
        let out = drain_tcp(ep, now);
        let syn = out
            .iter()
            .find(|s| s.h.flags.syn() && s.h.dst_port == port)
            .unwrap()
            .h
            .seq
            .0;
        (key, syn)
    };
    let (k1, a) = syn_seq(&mut ep, T0, 80);
    assert_eq!(a, expected_iss(50000, 80, T0));
    let (_, b) = syn_seq(&mut ep, T0, 81);
    assert_ne!(a, b, "different 4-tuples, different ISNs");
    assert!(
        a.wrapping_sub(b) > 1 << 16 && b.wrapping_sub(a) > 1 << 16,
        "{a} {b}: unrelated"
    );
    // The same tuple one second later: 250000 ticks of the 4 us clock further.
    ep.abort(T0, k1).unwrap();
    drain(&mut ep, T0);
    let later = T0 + crate::time::Duration::from_secs(1);
    let (_, c) = syn_seq(&mut ep, later, 80);
    assert_eq!(c.wrapping_sub(a), 250_000);
}

#[test]
fn scenario_17_stale_keys_and_exhaustion() {
    let mut ep = endpoint_with_peer(1);
    let k1 = ep
        .connect(T0, PEER_IP, 80, bufs())
        .map_err(|(e, _)| e)
        .unwrap();
    // Full: an explicit exhaustion error, buffers returned.
    let (err, _buffers) = ep.connect(T0, PEER_IP, 81, bufs()).unwrap_err();
    assert_eq!(
        err,
        EndpointError::Table(TableError::SlotsExhausted { capacity: 1 })
    );
    let (err, _) = ep.listen(90, bufs()).unwrap_err();
    assert_eq!(
        err,
        EndpointError::Table(TableError::SlotsExhausted { capacity: 1 })
    );
    assert_eq!(ep.counters().slots_exhausted, 2);
    assert!(err.to_string().contains("all 1 slots are in use"));
    // Abort frees the slot at once (the SYN had not even left).
    ep.abort(T0, k1).unwrap();
    let k2 = ep
        .connect(T0, PEER_IP, 80, bufs())
        .map_err(|(e, _)| e)
        .unwrap();
    assert_eq!(k2.index(), k1.index(), "the slot is reused");
    assert_ne!(k2, k1);
    assert_eq!(ep.state(k1), None);
    assert_eq!(ep.tcb(k1).map(|t| t.state()), None);
    assert_eq!(ep.write(k1, b"x"), Err(EndpointError::StaleKey(k1)));
    assert!(matches!(ep.abort(T0, k1), Err(EndpointError::StaleKey(_))));
    assert!(matches!(ep.close(T0, k1), Err(EndpointError::StaleKey(_))));
    assert_eq!(ep.state(k2), Some(State::SynSent));
}

#[test]
fn every_out_of_order_segment_of_a_burst_gets_its_own_ack_in_the_send_phase() {
    // RFC 5681 4.2: an immediate (duplicate) ACK per out-of-order segment. A receive burst
    // handles several segments of one connection before the send phase runs; the ACKs they
    // owe must all leave then, not one for the burst, or the sender never sees three
    // duplicates.
    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, y) = establish(&mut ep, T0);
    let data: Vec<u8> = (0..6000u32).map(|i| (i % 251) as u8).collect();
    let from = |k: usize| {
        let h = seg(
            80,
            port,
            y + 1 + 1000 * k as u32,
            Some(iss + 1),
            TcpFlags::NONE,
            65535,
        );
        PEER.tcp(&h, &data[1000 * k..1000 * (k + 1)])
    };
    // One burst: segment 0 in order, segment 1 lost, segments 2 to 4 out of order.
    for k in [0, 2, 3, 4] {
        deliver(&mut ep, T0, from(k), RxMeta::UNVERIFIED);
    }
    let acks = drain_tcp(&mut ep, T0);
    let view: Vec<_> = acks
        .iter()
        .map(|a| (a.h.seq.0, a.h.ack.0, a.h.flags, a.payload.len()))
        .collect();
    assert_eq!(
        view,
        vec![(iss + 1, y + 1001, TcpFlags::ACK, 0); 4],
        "one ACK for the in-order segment and one duplicate per out-of-order segment"
    );
    // The next burst fills the hole and brings segment 5: one ACK covers everything (a hole
    // filled is acknowledged at once; in-order data may be acknowledged together).
    for k in [1, 5] {
        deliver(&mut ep, T0, from(k), RxMeta::UNVERIFIED);
    }
    let acks = drain_tcp(&mut ep, T0);
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(acks[0].h.ack.0, y + 6001);
    let mut got = vec![0u8; 6000];
    assert_eq!(ep.read(key, &mut got), Ok(6000));
    assert_eq!(got, data);
}

#[test]
fn scenario_18_arp_miss_sends_the_syn_when_the_neighbour_answers() {
    let mut ep = endpoint(4);
    let key = ep
        .connect(T0, PEER_IP, 80, bufs())
        .map_err(|(e, _)| e)
        .unwrap();
    let (frames, _) = drain(&mut ep, T0);
    assert_eq!(frames.len(), 1, "only the ARP request");
    let p = parse_frame(&frames[0].0, RxMeta::UNVERIFIED).unwrap();
    assert_eq!(p.ethernet.dst_addr, EthernetAddress::BROADCAST);
    assert_eq!(p.ethernet.ethertype, EtherType::ARP);
    let RxPayload::Arp(req) = p.payload else {
        panic!()
    };
    assert_eq!(req, ArpRepr::request(OUR_MAC, OUR_IP, PEER_IP));
    assert_eq!(ep.counters().arp_requests_sent, 1);
    // The SYN was not committed: no RTO runs; the next thing due is the ARP retry.
    assert_eq!(ep.tcb(key).unwrap().next_deadline(), None);
    assert_eq!(
        ep.next_deadline(),
        Some(T0 + crate::time::Duration::from_secs(1))
    );
    // The neighbour answers 3 ms later: the SYN leaves at once, not after any RTO.
    let t1 = T0 + ms(3);
    let answer = ArpRepr {
        operation: ArpOperation::Reply,
        source_hardware_addr: PEER_MAC,
        source_protocol_addr: PEER_IP,
        target_hardware_addr: OUR_MAC,
        target_protocol_addr: OUR_IP,
    };
    let (r, _) = deliver(&mut ep, t1, PEER.arp(&answer), RxMeta::UNVERIFIED);
    assert_eq!(r, Received::Nothing);
    let out = drain_tcp(&mut ep, t1);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].h.flags, TcpFlags::SYN);
    assert_eq!(out[0].h.seq.0, expected_iss(out[0].h.src_port, 80, T0));
    assert_eq!(out[0].eth.dst_addr, PEER_MAC);
    // The RTO runs from the moment the SYN really left.
    assert_eq!(
        ep.next_deadline(),
        Some(t1 + crate::time::Duration::from_secs(1))
    );
}

#[test]
fn arp_retries_then_unreachable_and_a_failed_commit_is_planned_again() {
    let mut ep = endpoint(4);
    let key = connect_to_peer(&mut ep, T0);
    let mut buf = vec![0u8; 2048];
    // The device refuses the ARP request (no commit): it stays due.
    let Outbound::Frame(f) = ep.poll_transmit(T0, &mut buf) else {
        panic!()
    };
    assert_eq!(f.connection(), None);
    let Outbound::Frame(f2) = ep.poll_transmit(T0, &mut buf) else {
        panic!("still due")
    };
    ep.commit(T0, &f2).unwrap();
    assert_eq!(ep.poll_transmit(T0, &mut buf), Outbound::Nothing);
    // Retries every second, three requests in all, then the neighbour is unreachable.
    let mut requests = 1;
    while ep.counters().neighbor_unreachable == 0 {
        let now = ep.next_deadline().expect("the resolution is timed");
        assert!(
            now < T0 + crate::time::Duration::from_secs(30),
            "resolution never ends"
        );
        requests += drain(&mut ep, now).0.len();
    }
    assert_eq!(requests, 3);
    assert_eq!(ep.counters().neighbor_unreachable, 1);
    assert_eq!(
        ep.state(key),
        Some(State::SynSent),
        "the SYN waits for its RTO"
    );
    // The RTO plans the SYN again (a new resolution once the failure hold is over), until the
    // open times out.
    let mut events = Vec::new();
    while let Some(now) = ep.next_deadline() {
        assert!(
            now < T0 + crate::time::Duration::from_secs(600),
            "the open never ends"
        );
        events.extend(drain(&mut ep, now).1);
    }
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].key, events[0].events), (key, Events::CLOSED));
    assert_eq!(ep.close_reason(key), Some(CloseReason::TimedOut));
}

#[test]
fn arp_requests_for_us_are_answered_in_place() {
    let mut ep = endpoint(4);
    let req = ArpRepr::request(PEER_MAC, PEER_IP, OUR_IP);
    let (r, frame) = deliver(&mut ep, T0, PEER.arp(&req), RxMeta::UNVERIFIED);
    let r = reply(r);
    assert_eq!((r.kind, r.len), (ReplyKind::Arp, 42));
    let p = parse_frame(&frame[..r.len], RxMeta::UNVERIFIED).unwrap();
    assert_eq!(
        (p.ethernet.src_addr, p.ethernet.dst_addr),
        (OUR_MAC, PEER_MAC)
    );
    assert_eq!(p.payload, RxPayload::Arp(ArpRepr::reply_to(&req, OUR_MAC)));
    // The requester was learnt: a connection to it needs no ARP.
    ep.connect(T0, PEER_IP, 80, bufs())
        .map_err(|(e, _)| e)
        .unwrap();
    assert_eq!(drain_tcp(&mut ep, T0).len(), 1);
    // A request for another address: no answer.
    let other = ArpRepr::request(PEER_MAC, PEER_IP, Ipv4Address::new(198, 18, 0, 9));
    assert_eq!(
        deliver(&mut ep, T0, PEER.arp(&other), RxMeta::UNVERIFIED).0,
        Received::Nothing
    );
    assert_eq!(ep.counters().arp_requests_answered, 1);
}

/// An echo request frame from the peer, with `options` bytes of IPv4 options (NOPs).
fn echo_request(data: &[u8], options: usize) -> Vec<u8> {
    let icmp_len = 8 + data.len();
    let ihl = 20 + options;
    let mut f = vec![0u8; 14 + ihl + icmp_len];
    EthernetRepr {
        src_addr: PEER_MAC,
        dst_addr: OUR_MAC,
        ethertype: EtherType::IPV4,
    }
    .emit_bytes(&mut f);
    let ip = Ipv4Repr {
        src_addr: PEER_IP,
        dst_addr: OUR_IP,
        protocol: IpProtocol::ICMP,
        payload_len: icmp_len,
        ttl: 64,
        ident: 77,
        dont_frag: false,
        dscp_ecn: 0,
    };
    let mut header = ip.header_bytes(TxChecksum::Software).to_vec();
    if options > 0 {
        header[0] = 0x40 | (ihl / 4) as u8;
        let total = (ihl + icmp_len) as u16;
        header[2..4].copy_from_slice(&total.to_be_bytes());
        header.resize(ihl, 1);
        header[10] = 0;
        header[11] = 0;
        let c = crate::checksum::checksum(&header);
        header[10..12].copy_from_slice(&c.to_be_bytes());
    }
    f[14..14 + ihl].copy_from_slice(&header);
    IcmpEchoRepr {
        kind: IcmpEchoKind::Request,
        ident: 0x1234,
        seq_no: 7,
        data,
    }
    .emit(&mut IcmpPacket::new_unchecked(&mut f[14 + ihl..]));
    assert!(Ipv4Packet::new_checked(&f[14..]).is_ok());
    f
}

#[test]
fn icmp_echo_is_answered_in_place() {
    let mut ep = endpoint(4);
    for options in [0, 8] {
        let data: Vec<u8> = (0..56u8).collect();
        let (r, frame) = deliver(
            &mut ep,
            T0,
            echo_request(&data, options),
            RxMeta::UNVERIFIED,
        );
        let r = reply(r);
        assert_eq!(r.kind, ReplyKind::IcmpEcho);
        assert_eq!(r.len, 14 + 20 + 8 + 56, "options are not echoed");
        let p = parse_frame(&frame[..r.len], RxMeta::UNVERIFIED).expect("valid checksums");
        assert_eq!(
            (p.ethernet.src_addr, p.ethernet.dst_addr),
            (OUR_MAC, PEER_MAC)
        );
        let RxPayload::IcmpEcho { ip, echo } = p.payload else {
            panic!("{p:?}")
        };
        assert_eq!((ip.src_addr, ip.dst_addr), (OUR_IP, PEER_IP));
        assert_eq!(echo.kind, IcmpEchoKind::Reply);
        assert_eq!((echo.ident, echo.seq_no, echo.data), (0x1234, 7, &data[..]));
    }
    assert_eq!(ep.counters().icmp_echo_answered, 2);
    // Not for our address: dropped.
    let mut other = echo_request(b"x", 0);
    other[33] = 9;
    assert!(matches!(
        deliver(&mut ep, T0, other, RxMeta::UNVERIFIED).0,
        Received::Dropped(_)
    ));
}

#[test]
fn active_close_time_wait_and_release() {
    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, y) = establish(&mut ep, T0);
    assert_eq!(ep.write(key, b"abc"), Ok(3));
    ep.close(T0, key).unwrap();
    assert!(matches!(
        ep.write(key, b"d"),
        Err(EndpointError::WrongState { .. })
    ));
    let out = drain_tcp(&mut ep, T0);
    assert_eq!(out.len(), 1, "data and FIN in one segment");
    assert_eq!(
        out[0].h.flags,
        TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN
    );
    assert_eq!(out[0].payload, b"abc");
    // The peer acknowledges everything and closes too.
    let fin = PEER.tcp(
        &seg(80, port, y + 1, Some(iss + 5), TcpFlags::FIN, 65535),
        &[],
    );
    let o = open(deliver(&mut ep, T0, fin, RxMeta::UNVERIFIED).0);
    assert!(o.events.contains(Events::PEER_CLOSED));
    assert_eq!(ep.state(key), Some(State::TimeWait));
    let ack = drain_tcp(&mut ep, T0);
    assert_eq!((ack.len(), ack[0].h.ack.0), (1, y + 2));
    // Buffers back in TIME-WAIT; the slot lingers without them and goes by itself.
    let _b = ep.release(key).unwrap();
    assert_eq!(ep.len(), 1);
    assert_eq!(
        ep.state(key),
        None,
        "released: the key no longer names a connection"
    );
    let end = ep.next_deadline().unwrap();
    assert_eq!(end, T0 + crate::time::Duration::from_secs(60));
    let (frames, events) = drain(&mut ep, end);
    assert!(frames.is_empty() && events.is_empty());
    assert!(ep.is_empty());
    assert_eq!(ep.next_deadline(), None);
}

#[test]
fn peer_reset_closes_and_release_frees() {
    let mut ep = endpoint_with_peer(4);
    let (key, port, _iss, y) = establish(&mut ep, T0);
    let rst = PEER.tcp(&seg(80, port, y + 1, None, TcpFlags::RST, 0), &[]);
    let o = open(deliver(&mut ep, T0, rst, RxMeta::UNVERIFIED).0);
    assert!(o.events.contains(Events::RESET | Events::CLOSED));
    assert_eq!(ep.close_reason(key), Some(CloseReason::Reset));
    assert_eq!(ep.counters().resets, 1);
    // A segment to the closed (not yet released) connection gets a RST.
    let late = PEER.tcp(&seg(80, port, y + 1, Some(5), TcpFlags::NONE, 100), &[]);
    assert_eq!(
        reply(deliver(&mut ep, T0, late, RxMeta::UNVERIFIED).0).kind,
        ReplyKind::Rst
    );
    ep.release(key).unwrap();
    assert!(ep.is_empty());
}

#[test]
fn abort_sends_a_rst() {
    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, _) = establish(&mut ep, T0);
    ep.abort(T0, key).unwrap();
    assert!(ep.is_empty());
    let out = drain_tcp(&mut ep, T0);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].h.flags, out[0].h.seq.0), (TcpFlags::RST, iss + 1));
    assert_eq!((out[0].h.src_port, out[0].h.dst_port), (port, 80));
    assert_eq!(ep.counters().tx_aborts, 1);
}

#[test]
fn frames_fit_the_device_with_every_option() {
    // Timestamps and SACK blocks take option room: payloads shrink so frames stay within
    // max_frame_len (one options_len for planning and emission).
    let mut cfg = config(OffloadCaps::none(1514));
    cfg.tcb = TcbConfig {
        delayed_ack: None,
        ..TcbConfig::RFC
    };
    let mut ep = Ep::with_capacity(cfg, 2).unwrap();
    ep.add_neighbor(Instant::ZERO, PEER_IP, PEER_MAC);
    let key = ep
        .connect(
            T0,
            PEER_IP,
            80,
            Buffers::with_capacity(256 << 10, 256 << 10),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    let syn = drain_tcp(&mut ep, T0).remove(0);
    let iss = syn.h.seq.0;
    let mut sa = seg(80, syn.h.src_port, 1, Some(iss + 1), TcpFlags::SYN, 65535);
    sa.options = TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some((100, syn.h.options.timestamps.unwrap().0)),
        ..TcpOptions::default()
    };
    deliver(&mut ep, T0, PEER.tcp(&sa, &[]), RxMeta::UNVERIFIED);
    let data = vec![7u8; 200_000];
    assert!(ep.write(key, &data).unwrap() > 100_000);
    let out = drain_tcp(&mut ep, T0);
    assert!(out.len() >= 10);
    for s in &out {
        let frame_len = 14 + 20 + s.h.buffer_len() + s.payload.len();
        assert!(frame_len <= 1514, "frame of {frame_len} bytes");
    }
    assert!(
        out.iter().any(|s| s.payload.len() == 1448),
        "full segments: 1460 - 12"
    );
}

#[test]
fn offloads_checksums_and_tso() {
    for (tso, name) in [(false, "checksum offload"), (true, "TSO")] {
        let caps = crate::link::offload_caps(1500, tso);
        let mut ep = Ep::with_capacity(config(caps), 2).unwrap();
        ep.add_neighbor(Instant::ZERO, PEER_IP, PEER_MAC);
        let (key, _, _, _) = establish(&mut ep, T0);
        let data = vec![1u8; 16_000];
        assert_eq!(
            ep.write(key, &data),
            Ok(16_000).map(|n: usize| n.min(16 << 10))
        );
        let (frames, _) = drain(&mut ep, T0);
        assert!(!frames.is_empty(), "{name}");
        for (f, meta) in &frames {
            assert!(meta.checksum, "{name}: checksums left to the device");
            assert_eq!(&f[50..52], &[0, 0], "{name}: TCP checksum field left zero");
            assert_eq!(&f[24..26], &[0, 0], "{name}: IPv4 checksum field left zero");
        }
        if tso {
            let (f, meta) = &frames[0];
            assert_eq!(meta.tso_mss, Some(1460));
            assert_eq!(f.len(), 54 + 14_600, "one super-frame of IW10");
            assert_eq!(ep.counters().tx_tso_frames, 1);
        } else {
            assert!(
                frames
                    .iter()
                    .all(|(f, m)| f.len() <= 1514 && m.tso_mss.is_none())
            );
            assert_eq!(frames.len(), 10, "IW10 in MSS-sized frames");
        }
    }
}

#[test]
fn a_small_transmit_buffer_gets_a_smaller_segment() {
    let mut ep = endpoint_with_peer(2);
    let (key, _, iss, _) = establish(&mut ep, T0);
    ep.write(key, &[9u8; 3000]).unwrap();
    let mut small = [0u8; 600];
    let Outbound::Frame(f) = ep.poll_transmit(T0, &mut small) else {
        panic!()
    };
    let s = parse_sent(&small[..f.len], f.meta);
    assert_eq!(s.payload.len(), 600 - 54);
    ep.commit(T0, &f).unwrap();
    let rest = drain_tcp(&mut ep, T0);
    assert_eq!(
        rest[0].h.seq.0,
        iss + 1 + 546,
        "the next segment continues where it ended"
    );
    let mut tiny = [0u8; 40];
    assert_eq!(ep.poll_transmit(T0, &mut tiny), Outbound::Nothing);
}

#[test]
fn stale_commit_is_refused() {
    let mut ep = endpoint_with_peer(2);
    let (key, port, iss, y) = establish(&mut ep, T0);
    ep.write(key, b"abc").unwrap();
    let mut buf = vec![0u8; 2048];
    let Outbound::Frame(f) = ep.poll_transmit(T0, &mut buf) else {
        panic!()
    };
    // Data arrives between planning and commit: the plan is stale.
    let data = PEER.tcp(
        &seg(80, port, y + 1, Some(iss + 1), TcpFlags::PSH, 65535),
        b"xyz",
    );
    deliver(&mut ep, T0, data, RxMeta::UNVERIFIED);
    assert_eq!(ep.commit(T0, &f), Err(CommitError::StalePlan(key)));
    assert_eq!(ep.counters().tx_stale_commits, 1);
    let out = drain_tcp(&mut ep, T0);
    assert_eq!(out[0].payload, b"abc");
    assert_eq!(out[0].h.ack.0, y + 4, "replanned with the new ACK");
}

#[test]
fn connect_rejects_bad_destinations() {
    let mut ep = endpoint(2);
    for bad in [
        Ipv4Address::UNSPECIFIED,
        Ipv4Address::BROADCAST,
        OUR_IP,
        Ipv4Address::new(198, 18, 0, 255),
        Ipv4Address::new(224, 0, 0, 1),
        Ipv4Address::new(127, 0, 0, 1),
    ] {
        let (e, _) = ep.connect(T0, bad, 80, bufs()).unwrap_err();
        assert_eq!(e, EndpointError::BadAddress(bad));
    }
    assert_eq!(
        ep.connect(T0, PEER_IP, 0, bufs()).unwrap_err().0,
        EndpointError::BadPort
    );
    assert_eq!(ep.listen(0, bufs()).unwrap_err().0, EndpointError::BadPort);
    // Off-link without a gateway: the SYN has no route.
    let key = ep
        .connect(T0, Ipv4Address::new(10, 0, 0, 1), 80, bufs())
        .map_err(|(e, _)| e)
        .unwrap();
    assert!(drain(&mut ep, T0).0.is_empty());
    assert_eq!(ep.counters().no_route, 1);
    assert_eq!(ep.state(key), Some(State::SynSent));
}

/// An endpoint with SACK on and `loss_states` loss states, its connection established with a
/// SACK-permitting peer that has sent 2000 bytes in order (acknowledged).
fn sack_receiver(loss_states: usize) -> (Ep, u16, u32, u32) {
    let mut cfg = config(OffloadCaps::none(1514));
    cfg.tcb.sack = true;
    cfg.loss_states = Some(loss_states);
    let mut ep = Ep::with_capacity(cfg, 2).unwrap();
    ep.add_neighbor(Instant::ZERO, PEER_IP, PEER_MAC);
    ep.connect(T0, PEER_IP, 80, bufs())
        .map_err(|(e, _)| e)
        .unwrap();
    let syn = drain_tcp(&mut ep, T0).remove(0);
    assert!(syn.h.options.sack_permitted);
    let (port, iss, y) = (syn.h.src_port, syn.h.seq.0, 9000);
    let mut sa = seg(80, port, y, Some(iss + 1), TcpFlags::SYN, 65535);
    sa.options.mss = Some(1460);
    sa.options.sack_permitted = true;
    deliver(&mut ep, T0, PEER.tcp(&sa, &[]), RxMeta::UNVERIFIED);
    drain_tcp(&mut ep, T0);
    let h = seg(80, port, y + 1, Some(iss + 1), TcpFlags::ACK, 65535);
    deliver(&mut ep, T0, PEER.tcp(&h, &[5; 2000]), RxMeta::UNVERIFIED);
    let a = drain_tcp(&mut ep, T0);
    assert_eq!(a.last().unwrap().h.ack.0, y + 2001);
    (ep, port, iss, y)
}

#[test]
fn dsack_borrows_a_loss_state_until_reported() {
    let (mut ep, port, iss, y) = sack_receiver(4);
    assert_eq!(ep.loss_states_lent(), 0);
    // The first 1000 bytes again.
    let h = seg(80, port, y + 1, Some(iss + 1), TcpFlags::ACK, 65535);
    deliver(&mut ep, T0, PEER.tcp(&h, &[5; 1000]), RxMeta::UNVERIFIED);
    assert_eq!(ep.loss_states_lent(), 1, "the report waits in a lent state");
    let a = drain_tcp(&mut ep, T0);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].h.ack.0, y + 2001);
    assert_eq!(
        a[0].h.options.sacks(),
        &[crate::segment::SackBlock {
            left: SeqNum(y + 1),
            right: SeqNum(y + 1001)
        }]
    );
    assert_eq!(ep.loss_states_lent(), 0, "given back once reported");
    assert_eq!(ep.counters().loss_states_exhausted, 0);
}

#[test]
fn dsack_without_a_free_loss_state_is_skipped_and_counted() {
    let (mut ep, port, iss, y) = sack_receiver(0);
    let h = seg(80, port, y + 1, Some(iss + 1), TcpFlags::ACK, 65535);
    deliver(&mut ep, T0, PEER.tcp(&h, &[5; 1000]), RxMeta::UNVERIFIED);
    let a = drain_tcp(&mut ep, T0);
    assert_eq!(a.len(), 1, "the duplicate is still acknowledged");
    assert_eq!(a[0].h.ack.0, y + 2001);
    assert_eq!(a[0].h.options.sack_count, 0);
    assert_eq!(ep.counters().loss_states_exhausted, 1);
}

#[test]
fn engine_state_per_connection_fits_256_bytes_at_a_million() {
    let bytes = Ep::engine_bytes_per_connection(1_000_000);
    let slot =
        core::mem::size_of::<Slot<Connection<Bufs>>>() - core::mem::size_of::<Option<Bufs>>();
    let buckets = Ep::buckets_for(1_000_000);
    let losses = Ep::default_loss_states(1_000_000);
    std::println!(
        "engine bytes per connection at 1M: {bytes:.1} = slot {slot} (Tcb {}, endpoint fields {}, \
         slot map 8) + tuple map {:.1} ({buckets} buckets of {}) + loss states {:.1} ({losses} of {})",
        core::mem::size_of::<Tcb>(),
        slot - core::mem::size_of::<Tcb>() - 8,
        (buckets * core::mem::size_of::<Bucket>()) as f64 / 1e6,
        core::mem::size_of::<Bucket>(),
        (losses * core::mem::size_of::<LossSlot>()) as f64 / 1e6,
        core::mem::size_of::<LossSlot>(),
    );
    assert!(bytes <= 256.0, "{bytes} bytes per connection");
}

#[test]
fn off_link_peers_go_through_the_gateway() {
    let gateway = Ipv4Address::new(198, 18, 0, 254);
    let gateway_mac = EthernetAddress([2, 0, 0, 0, 0, 0xfe]);
    let mut cfg = config(OffloadCaps::none(1514));
    cfg.gateway = Some(gateway);
    let mut ep = Ep::with_capacity(cfg, 2).unwrap();
    let far = Ipv4Address::new(203, 0, 113, 9);
    ep.connect(T0, far, 443, bufs())
        .map_err(|(e, _)| e)
        .unwrap();
    // The gateway's MAC is resolved, not the peer's.
    let (frames, _) = drain(&mut ep, T0);
    let p = parse_frame(&frames[0].0, RxMeta::UNVERIFIED).unwrap();
    let RxPayload::Arp(req) = p.payload else {
        panic!("{p:?}")
    };
    assert_eq!(req.target_protocol_addr, gateway);
    ep.add_neighbor(T0, gateway, gateway_mac);
    let out = drain_tcp(&mut ep, T0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].eth.dst_addr, gateway_mac);
    assert_eq!(out[0].ip.dst_addr, far);
    // A gateway outside the subnet is refused at set-up.
    let mut bad = config(OffloadCaps::none(1514));
    bad.gateway = Some(Ipv4Address::new(10, 0, 0, 1));
    assert!(matches!(
        Ep::with_capacity(bad, 2),
        Err(SetupError::Config(_))
    ));
}

#[test]
fn closing_the_registered_listener_hands_over_to_a_parked_one() {
    let mut ep = endpoint_with_peer(4);
    let k1 = ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
    let k2 = ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
    let k3 = ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
    ep.close(T0, k1).unwrap();
    let _buffers = ep.release(k1).unwrap();
    let syn = |port: u16| PEER.tcp(&seg(port, 80, 100, None, TcpFlags::SYN, 8192), &[]);
    let first = open(deliver(&mut ep, T0, syn(1000), RxMeta::UNVERIFIED).0).key;
    let second = open(deliver(&mut ep, T0, syn(1001), RxMeta::UNVERIFIED).0).key;
    let mut got = [first, second];
    got.sort();
    let mut want = [k2, k3];
    want.sort();
    assert_eq!(got, want, "both remaining slots accept, k1 does not");
    // Out of slots for the moment (connections took them; the application did not stop
    // listening): dropped for the peer to retransmit.
    assert_eq!(
        deliver(&mut ep, T0, syn(1002), RxMeta::UNVERIFIED).0,
        Received::Dropped(RxDrop::NoListeningSlot)
    );
    // Releasing a listening slot directly also stops it listening.
    let k4 = ep.listen(81, bufs()).map_err(|(e, _)| e).unwrap();
    ep.release(k4).unwrap();
    let (r, _) = deliver(
        &mut ep,
        T0,
        PEER.tcp(&seg(1, 81, 1, None, TcpFlags::SYN, 1), &[]),
        RxMeta::UNVERIFIED,
    );
    assert_eq!(reply(r).kind, ReplyKind::Rst);
    assert_eq!(ep.len(), 2);
}

#[test]
fn a_commit_that_leaves_nothing_to_send_takes_the_connection_off_the_ready_queue() {
    // The SYN: nothing more until the SYN-ACK or the retransmission timer.
    let mut ep = endpoint_with_peer(4);
    let key = connect_to_peer(&mut ep, T0);
    let mut buf = vec![0u8; 2048];
    let Outbound::Frame(f) = ep.poll_transmit(T0, &mut buf) else {
        panic!("the SYN");
    };
    assert_eq!(ep.ready.head, key.index(), "queued until committed");
    ep.commit(T0, &f).unwrap();
    assert_eq!(ep.ready.head, wheel::NIL, "nothing after the SYN");
    assert_eq!(ep.poll_transmit(T0, &mut buf), Outbound::Nothing);
    ep.check_invariants().unwrap();

    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, y) = establish(&mut ep, T0);
    let mut buf = vec![0u8; 2048];

    // One segment of data: off the queue with its commit, not after a planning pass that
    // would find nothing.
    assert_eq!(ep.write(key, b"request"), Ok(7));
    let Outbound::Frame(f) = ep.poll_transmit(T0, &mut buf) else {
        panic!("the request");
    };
    assert_eq!(ep.ready.head, key.index(), "queued until committed");
    ep.commit(T0, &f).unwrap();
    assert_eq!(ep.ready.head, wheel::NIL, "nothing left to send");
    ep.check_invariants().unwrap();
    assert_eq!(ep.poll_transmit(T0, &mut buf), Outbound::Nothing);

    // Three segments' worth: it stays queued while it has output (Nagle holds nothing once
    // the request is acknowledged).
    let ack = seg(80, port, y + 1, Some(iss + 1 + 7), TcpFlags::NONE, 65535);
    deliver(&mut ep, T0, PEER.tcp(&ack, &[]), RxMeta::UNVERIFIED);
    assert_eq!(ep.write(key, &[7u8; 3 * 1460]), Ok(3 * 1460));
    let mut sent = 0;
    while let Outbound::Frame(f) = ep.poll_transmit(T0, &mut buf) {
        ep.commit(T0, &f).unwrap();
        sent += 1;
        let queued = ep.ready.head == key.index();
        assert_eq!(queued, sent < 3, "queued after segment {sent} of 3");
        ep.check_invariants().unwrap();
    }
    assert_eq!(sent, 3);
}

#[test]
fn time_wait_ending_with_its_ack_still_owed_sends_the_ack_then_closes() {
    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, y) = establish(&mut ep, T0);
    ep.close(T0, key).unwrap();
    let out = drain_tcp(&mut ep, T0);
    assert_eq!(out[0].h.flags, TcpFlags::ACK | TcpFlags::FIN);
    let fin = PEER.tcp(
        &seg(80, port, y + 1, Some(iss + 2), TcpFlags::FIN, 65535),
        &[],
    );
    deliver(&mut ep, T0, fin, RxMeta::UNVERIFIED);
    assert_eq!(ep.state(key), Some(State::TimeWait));
    // No send phase until 2*MSL has passed: the ACK is still owed when TIME-WAIT ends, which
    // then ends right after the ACK leaves (its deadline is due, not filed in the wheel).
    let end = T0 + crate::time::Duration::from_secs(60);
    let (frames, events) = drain(&mut ep, end);
    let acks: Vec<Sent> = frames
        .iter()
        .filter(|(f, _)| f.len() > 42) // the neighbour's ARP refresh aside
        .map(|(f, m)| parse_sent(f, *m))
        .collect();
    assert_eq!(acks.len(), 1, "the ACK of the FIN: {acks:?}");
    assert_eq!(acks[0].h.ack.0, y + 2);
    assert!(
        events.iter().any(|e| e.events.contains(Events::CLOSED)),
        "TIME-WAIT ends once its ACK left: {events:?}"
    );
    assert_eq!(ep.state(key), Some(State::Closed));
}

/// Everything an endpoint keeps about its slots and their bookkeeping, for comparing two
/// endpoints that should have ended in the same place.
fn recycle_snapshot(ep: &Ep) -> std::string::String {
    let mut s = std::format!(
        "len {} map {} zombies {} wheel {} ready {}..{} arp {}..{} loss {} counters {:?}\n",
        ep.table.len(),
        ep.table.map().len(),
        ep.zombies,
        ep.wheel.len(),
        ep.ready.head,
        ep.ready.tail,
        ep.arp_wait.head,
        ep.arp_wait.tail,
        ep.loss.in_use,
        ep.counters(),
    );
    for (key, c) in ep.table.slots().iter() {
        let listening = if c.has(role::REGISTERED) && !c.timer.is_linked() {
            std::format!(" listening {} peak {}", c.listening(), c.listening_peak())
        } else {
            std::string::String::new()
        };
        let chain = if c.timer.is_linked() {
            u32::MAX
        } else {
            c.timer.spare_next()
        };
        s += &std::format!(
            "{key:?} role {:#x} q {:?} loss {} next {} chain {chain} remote {}:{} local {}{listening} \
             tuple {:?} buffers {:?} tcb {:?}\n",
            c.role,
            c.qstate,
            c.loss,
            c.queue_next,
            c.remote_addr,
            c.remote_port,
            c.local_port,
            ep.registered_tuple(c),
            c.buffers
                .as_ref()
                .map(|b| (b.send_buffer().len(), b.recv_buffer().len())),
            c.tcb,
        );
    }
    s
}

/// What `recycle` did before it re-listened in place: release, empty the buffers, listen.
fn recycle_by_release_and_listen(ep: &mut Ep, key: SlotKey) -> Recycled<Bufs> {
    let passive = ep.table.get(key).unwrap().has(role::PASSIVE);
    let port = ep.table.get(key).unwrap().local_port;
    let mut b = ep.release(key).unwrap();
    if !passive {
        return Recycled::Released(b);
    }
    b.clear();
    match ep.listen(port, b) {
        Ok(k) => Recycled::Listening(k),
        Err((_, b)) => Recycled::Released(b),
    }
}

/// Drives two alike endpoints through passive opens, closes and recycles; `a` recycles,
/// `b` releases and listens (the path recycle took before it re-listened in place). Every
/// slot and every piece of bookkeeping must agree after each step, and so must the answers
/// to what follows (the old tuples, a second recycle of a renewed slot).
fn recycle_in_place_agrees_with_release_and_listen(mut a: Ep, mut b: Ep) {
    let same = |a: &Ep, b: &Ep, what: &str| {
        a.check_invariants().unwrap();
        b.check_invariants().unwrap();
        assert_eq!(recycle_snapshot(a), recycle_snapshot(b), "{what}");
    };
    let both = |a: &mut Ep, b: &mut Ep, frame: Vec<u8>| {
        let (ra, fa) = deliver(a, T0, frame.clone(), RxMeta::UNVERIFIED);
        let (rb, fb) = deliver(b, T0, frame, RxMeta::UNVERIFIED);
        assert_eq!(std::format!("{ra:?}"), std::format!("{rb:?}"));
        assert_eq!(fa, fb);
        (ra, fa)
    };
    // A passive open to `dport` from the peer's `sport`, through a SYN cookie when the
    // endpoint answers with one; ESTABLISHED. Returns the key.
    let establish_passive = |a: &mut Ep, b: &mut Ep, sport: u16, dport: u16| {
        let mut syn = seg(sport, dport, 100, None, TcpFlags::SYN, 8192);
        syn.options.mss = Some(1460);
        let (r, frame) = both(a, b, PEER.tcp(&syn, &[]));
        let iss = match r {
            Received::Open(o) => {
                assert!(o.events.contains(Events::SYN_TO_LISTENER));
                let out = drain_tcp(a, T0);
                assert_eq!(out.len(), drain_tcp(b, T0).len());
                out[0].h.seq.0
            }
            Received::Reply(r) => {
                assert_eq!(r.kind, ReplyKind::SynAckCookie);
                parse_sent(&frame[..r.len], r.meta).h.seq.0
            }
            other => panic!("a SYN to a listening port: {other:?}"),
        };
        let ack = seg(sport, dport, 101, Some(iss + 1), TcpFlags::NONE, 8192);
        let o = open(both(a, b, PEER.tcp(&ack, &[])).0);
        assert_eq!(a.state(o.key), Some(State::Established));
        o.key
    };
    let rst =
        |sport: u16, dport: u16| PEER.tcp(&seg(sport, dport, 101, None, TcpFlags::RST, 0), &[]);
    let recycle_both = |a: &mut Ep, b: &mut Ep, key: SlotKey, what: &str| {
        let (ra, rb) = (
            a.recycle(key).unwrap(),
            recycle_by_release_and_listen(b, key),
        );
        let (Recycled::Listening(na), Recycled::Listening(nb)) = (ra, rb) else {
            panic!("{what}: both listen again");
        };
        assert_eq!(na, nb, "{what}");
        assert_eq!(a.state(key), None, "{what}: the old key is stale");
        assert_eq!(a.state(na), Some(State::Listen), "{what}");
        same(a, b, what);
        na
    };
    for ep in [&mut a, &mut b] {
        for port in [80, 80, 81] {
            ep.listen(port, bufs()).map_err(|(e, _)| e).unwrap();
        }
    }
    same(&a, &b, "listening");
    let k1 = establish_passive(&mut a, &mut b, 1000, 80);
    let k2 = establish_passive(&mut a, &mut b, 1001, 80);
    let k3 = establish_passive(&mut a, &mut b, 2000, 81);
    same(&a, &b, "established");
    // 1. Port 80 has no listening slot left: the recycled slot registers the listener tuple.
    let o = open(both(&mut a, &mut b, rst(1000, 80)).0);
    assert!(o.events.contains(Events::CLOSED));
    recycle_both(&mut a, &mut b, k1, "as the port's registered listener");
    // 2. Port 80 has a registered listener: the recycled slot parks behind it.
    for ep in [&mut a, &mut b] {
        ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
    }
    let o = open(both(&mut a, &mut b, rst(1001, 80)).0);
    assert!(o.events.contains(Events::CLOSED));
    recycle_both(&mut a, &mut b, k2, "behind the port's registered listener");
    // 3. The old tuple: an ACK gets the listener's RST, a SYN is a new passive open.
    let late = PEER.tcp(&seg(1000, 80, 101, Some(5), TcpFlags::NONE, 8192), &[]);
    assert_eq!(reply(both(&mut a, &mut b, late).0).kind, ReplyKind::Rst);
    let k4 = establish_passive(&mut a, &mut b, 1000, 80);
    same(&a, &b, "the old tuple opened again");
    // 4. The same slot again (a slot renewed before): closed, recycled.
    let o = open(both(&mut a, &mut b, rst(1000, 80)).0);
    assert!(o.events.contains(Events::CLOSED));
    recycle_both(&mut a, &mut b, k4, "a slot renewed twice");
    // 5. A connection closed while queued (data to send when the RST came) is recycled
    // through a release; both still agree.
    assert_eq!(a.write(k3, b"x"), Ok(1));
    assert_eq!(b.write(k3, b"x"), Ok(1));
    let o = open(both(&mut a, &mut b, rst(2000, 81)).0);
    assert!(o.events.contains(Events::CLOSED));
    recycle_both(&mut a, &mut b, k3, "while queued");
    let (fa, ea) = drain(&mut a, T0);
    let (fb, eb) = drain(&mut b, T0);
    assert_eq!((fa.len(), ea.len()), (fb.len(), eb.len()));
    same(&a, &b, "after the send phase");
}

#[test]
fn recycle_in_place_ends_where_release_and_listen_end() {
    recycle_in_place_agrees_with_release_and_listen(endpoint_with_peer(8), endpoint_with_peer(8));
}

#[test]
fn recycle_in_place_of_a_cookie_accepted_connection_ends_where_release_and_listen_end() {
    let cookies = || {
        let mut c = config(OffloadCaps::none(1514));
        c.syn_cookies = SynCookies::Always;
        let mut ep = Ep::with_capacity(c, 8).unwrap();
        ep.add_neighbor(Instant::ZERO, PEER_IP, PEER_MAC);
        ep
    };
    recycle_in_place_agrees_with_release_and_listen(cookies(), cookies());
}

#[test]
fn a_syn_for_the_tuple_of_a_connection_released_while_queued_reaches_the_listener() {
    // A connection the peer resets while it has data queued for the send phase is released
    // (here: recycled) before that phase frees its slot. Its tuple is over: the peer's next
    // SYN on it must find the port's listener (RFC 9293 3.10.7.2), not a RST as if the port
    // were closed.
    for recycle in [true, false] {
        let mut ep = endpoint_with_peer(4);
        ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
        ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
        let syn = |seq: u32| PEER.tcp(&seg(1000, 80, seq, None, TcpFlags::SYN, 8192), &[]);
        let key = open(deliver(&mut ep, T0, syn(100), RxMeta::UNVERIFIED).0).key;
        let iss = drain_tcp(&mut ep, T0)[0].h.seq.0;
        let ack = PEER.tcp(
            &seg(1000, 80, 101, Some(iss + 1), TcpFlags::NONE, 8192),
            &[],
        );
        open(deliver(&mut ep, T0, ack, RxMeta::UNVERIFIED).0);
        assert_eq!(ep.write(key, b"queued"), Ok(6));
        let rst = PEER.tcp(&seg(1000, 80, 101, None, TcpFlags::RST, 0), &[]);
        let o = open(deliver(&mut ep, T0, rst, RxMeta::UNVERIFIED).0);
        assert!(o.events.contains(Events::CLOSED));
        if recycle {
            assert!(matches!(ep.recycle(key), Ok(Recycled::Listening(_))));
        } else {
            ep.release(key).unwrap();
        }
        ep.check_invariants().unwrap();
        let (r, _) = deliver(&mut ep, T0, syn(5000), RxMeta::UNVERIFIED);
        let Received::Open(o) = r else {
            panic!("recycle {recycle}: the SYN must reach a listener, got {r:?}");
        };
        assert!(o.events.contains(Events::SYN_TO_LISTENER));
        assert_ne!(o.key, key);
        assert_eq!(ep.state(o.key), Some(State::SynReceived));
        ep.check_invariants().unwrap();
        // The send phase frees the released slot and answers the SYN; nothing of the old
        // connection goes out.
        let out = drain_tcp(&mut ep, T0);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].h.flags, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(out[0].h.ack.0, 5001);
        ep.check_invariants().unwrap();
    }
}

#[test]
fn recycle_near_the_last_generation_renews_once_then_retires_the_slot() {
    // A slot whose key reaches the last generation is retired when it is freed (keys never
    // repeat); recycling in place must not renew past it but fall back to release and listen,
    // which retires the slot and listens in another.
    let mut ep = endpoint_with_peer(2);
    ep.table.set_vacant_generation_for_test(0, u32::MAX - 1);
    ep.table.set_vacant_generation_for_test(1, 7);
    let k0 = ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
    assert_eq!((k0.index(), k0.generation()), (0, u32::MAX - 1));
    let cycle = |ep: &mut Ep, listening: SlotKey, sport: u16| {
        let syn = PEER.tcp(&seg(sport, 80, 100, None, TcpFlags::SYN, 8192), &[]);
        let key = open(deliver(ep, T0, syn, RxMeta::UNVERIFIED).0).key;
        assert_eq!(key, listening);
        let iss = drain_tcp(ep, T0)[0].h.seq.0;
        let ack = PEER.tcp(
            &seg(sport, 80, 101, Some(iss + 1), TcpFlags::NONE, 8192),
            &[],
        );
        open(deliver(ep, T0, ack, RxMeta::UNVERIFIED).0);
        let rst = PEER.tcp(&seg(sport, 80, 101, None, TcpFlags::RST, 0), &[]);
        assert!(
            open(deliver(ep, T0, rst, RxMeta::UNVERIFIED).0)
                .events
                .contains(Events::CLOSED)
        );
        let Ok(Recycled::Listening(next)) = ep.recycle(key) else {
            panic!("listens again");
        };
        assert_eq!(ep.state(key), None, "the old key is stale");
        assert_eq!(ep.state(next), Some(State::Listen));
        ep.check_invariants().unwrap();
        next
    };
    // Renewed in place to the last generation.
    let k1 = cycle(&mut ep, k0, 1000);
    assert_eq!((k1.index(), k1.generation()), (0, u32::MAX));
    assert_eq!(ep.table.slots().retired(), 0);
    // Not renewed again: slot 0 retires, slot 1 listens.
    let k2 = cycle(&mut ep, k1, 1001);
    assert_eq!((k2.index(), k2.generation()), (1, 7));
    assert_eq!(ep.table.slots().retired(), 1);
    assert_eq!(ep.len(), 1);
    let k3 = cycle(&mut ep, k2, 1002);
    assert_eq!((k3.index(), k3.generation()), (1, 8));
}

#[test]
fn a_released_time_wait_slot_still_does_what_time_wait_does() {
    // RFC 9293 3.10.7.4 after `release` took the buffers in TIME-WAIT (one slot access now):
    // a retransmitted FIN is acknowledged again and restarts 2*MSL, a RST is ignored
    // (RFC 1337), a SYN gets a challenge ACK (RFC 5961 4.2), and the slot goes by itself.
    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, y) = establish(&mut ep, T0);
    ep.close(T0, key).unwrap();
    assert_eq!(drain_tcp(&mut ep, T0).len(), 1, "our FIN");
    let fin = PEER.tcp(
        &seg(80, port, y + 1, Some(iss + 2), TcpFlags::FIN, 65535),
        &[],
    );
    open(deliver(&mut ep, T0, fin.clone(), RxMeta::UNVERIFIED).0);
    assert_eq!(ep.state(key), Some(State::TimeWait));
    assert_eq!(drain_tcp(&mut ep, T0).len(), 1, "the ACK of its FIN");
    ep.release(key).unwrap();
    assert!(matches!(ep.release(key), Err(EndpointError::StaleKey(_))));
    ep.check_invariants().unwrap();
    let t1 = T0 + ms(10_000);
    deliver(&mut ep, t1, fin, RxMeta::UNVERIFIED);
    let ack = drain_tcp(&mut ep, t1);
    assert_eq!(ack.len(), 1, "the FIN acknowledged again: {ack:?}");
    assert_eq!((ack[0].h.flags, ack[0].h.ack.0), (TcpFlags::ACK, y + 2));
    assert_eq!(
        ep.next_deadline(),
        Some(t1 + crate::time::Duration::from_secs(60))
    );
    let rst = PEER.tcp(&seg(80, port, y + 2, None, TcpFlags::RST, 0), &[]);
    deliver(&mut ep, t1, rst, RxMeta::UNVERIFIED);
    assert_eq!(ep.len(), 1, "a RST does not end TIME-WAIT");
    let syn = PEER.tcp(&seg(80, port, y + 100_000, None, TcpFlags::SYN, 65535), &[]);
    deliver(&mut ep, t1, syn, RxMeta::UNVERIFIED);
    let out = drain_tcp(&mut ep, t1);
    assert_eq!(out.len(), 1, "a challenge ACK: {out:?}");
    assert_eq!((out[0].h.flags, out[0].h.ack.0), (TcpFlags::ACK, y + 2));
    ep.check_invariants().unwrap();
    let end = ep.next_deadline().unwrap();
    let (frames, events) = drain(&mut ep, end);
    assert!(frames.is_empty() && events.is_empty());
    assert!(ep.is_empty());
}

/// A passive connection from PEER:`sport` to port 80, ESTABLISHED, with `data` from the peer
/// received, then CLOSED: by the peer's FIN and our close (`reset` false: CLOSE-WAIT,
/// LAST-ACK, CLOSED) or by the peer's RST. Everything we sent is drained; the connection is
/// not released. Returns its key and the peer's next sequence number.
fn passive_closed_unreleased(ep: &mut Ep, sport: u16, data: &[u8], reset: bool) -> (SlotKey, u32) {
    let syn = PEER.tcp(&seg(sport, 80, 100, None, TcpFlags::SYN, 8192), &[]);
    let key = open(deliver(ep, T0, syn, RxMeta::UNVERIFIED).0).key;
    let iss = drain_tcp(ep, T0)[0].h.seq.0;
    let ack = PEER.tcp(
        &seg(sport, 80, 101, Some(iss + 1), TcpFlags::NONE, 8192),
        data,
    );
    open(deliver(ep, T0, ack, RxMeta::UNVERIFIED).0);
    let mut next = 101 + data.len() as u32;
    if reset {
        let rst = PEER.tcp(&seg(sport, 80, next, None, TcpFlags::RST, 0), &[]);
        assert!(
            open(deliver(ep, T0, rst, RxMeta::UNVERIFIED).0)
                .events
                .contains(Events::CLOSED)
        );
    } else {
        let fin = PEER.tcp(
            &seg(sport, 80, next, Some(iss + 1), TcpFlags::FIN, 8192),
            &[],
        );
        deliver(ep, T0, fin, RxMeta::UNVERIFIED);
        next += 1;
        assert_eq!(ep.state(key), Some(State::CloseWait));
        ep.close(T0, key).unwrap();
        let out = drain_tcp(ep, T0);
        assert!(out.iter().any(|s| s.h.flags.fin()), "our FIN: {out:?}");
        let last = PEER.tcp(
            &seg(sport, 80, next, Some(iss + 2), TcpFlags::NONE, 8192),
            &[],
        );
        assert!(
            open(deliver(ep, T0, last, RxMeta::UNVERIFIED).0)
                .events
                .contains(Events::CLOSED)
        );
    }
    assert_eq!(ep.state(key), Some(State::Closed));
    assert!(drain_tcp(ep, T0).is_empty(), "nothing left to send");
    ep.check_invariants().unwrap();
    (key, next)
}

#[test]
fn a_syn_from_the_port_of_a_closed_unreleased_connection_reaches_the_listener() {
    // A client reuses its port while our side of its old connection is CLOSED but not yet
    // released (the application still reads its data and close reason). A CLOSED connection
    // has no TCB for the tuple (RFC 9293), so the SYN belongs to the port's listener: a
    // SYN-ACK and an accept, not the RST of a closed connection.
    for reset in [false, true] {
        let mut ep = endpoint_with_peer(4);
        ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
        ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
        let (old, _) = passive_closed_unreleased(&mut ep, 1000, b"hello", reset);
        let tuple = ep.tuple(old).unwrap();
        let syn = PEER.tcp(&seg(1000, 80, 5000, None, TcpFlags::SYN, 8192), &[]);
        let (r, _) = deliver(&mut ep, T0, syn, RxMeta::UNVERIFIED);
        let Received::Open(o) = r else {
            panic!("reset {reset}: the SYN must reach the listener, got {r:?}");
        };
        assert!(o.events.contains(Events::SYN_TO_LISTENER), "{o:?}");
        assert_ne!(o.key, old);
        assert_eq!(ep.state(o.key), Some(State::SynReceived));
        assert_eq!(ep.tuple(o.key), Some(tuple));
        ep.check_invariants().unwrap();
        let out = drain_tcp(&mut ep, T0);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].h.flags, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!((out[0].h.dst_port, out[0].h.ack.0), (1000, 5001));
        // The application's view of the old connection is unchanged.
        let reason = if reset {
            CloseReason::Reset
        } else {
            CloseReason::Normal
        };
        assert_eq!(ep.state(old), Some(State::Closed));
        assert_eq!(ep.close_reason(old), Some(reason));
        assert_eq!(ep.tuple(old), Some(tuple));
        let mut buf = [0u8; 16];
        assert_eq!(ep.read(old, &mut buf), Ok(5));
        assert_eq!(&buf[..5], b"hello");
        // Recycling it listens again (the new connection keeps the tuple).
        assert!(matches!(ep.recycle(old), Ok(Recycled::Listening(_))));
        assert_eq!(ep.state(old), None, "the old key is stale");
        assert_eq!(ep.state(o.key), Some(State::SynReceived));
        ep.check_invariants().unwrap();
    }
}

#[test]
fn a_segment_for_a_closed_unreleased_connection_gets_the_closed_port_rst() {
    // With no listener left on the port (for longer than the 3 s a port out of listening
    // slots drops SYNs), what reaches the tuple of a CLOSED (unreleased) connection is
    // answered exactly as by an endpoint that never had it: the closed-port RST (RFC 9293
    // 3.10.7.1), counted as for an unknown tuple.
    let later = T0 + Duration::from_secs(3);
    for reset in [false, true] {
        let mut ep = endpoint_with_peer(4);
        let mut fresh = endpoint_with_peer(4);
        ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
        let (old, next) = passive_closed_unreleased(&mut ep, 1000, b"hello", reset);
        let before = ep.counters().rst_for_unknown;
        let frames = [
            seg(1000, 80, 5000, None, TcpFlags::SYN, 8192),
            seg(1000, 80, next, Some(777), TcpFlags::NONE, 8192),
            seg(1000, 80, next, Some(777), TcpFlags::FIN, 8192),
            seg(1000, 80, next, None, TcpFlags::RST, 0),
        ];
        for h in frames {
            let frame = PEER.tcp(&h, b"x");
            let (r, out) = deliver(&mut ep, later, frame.clone(), RxMeta::UNVERIFIED);
            let (want, want_out) = deliver(&mut fresh, later, frame, RxMeta::UNVERIFIED);
            assert_eq!(r, want, "reset {reset}: {h:?}");
            if let Received::Reply(r) = r {
                assert_eq!(r.kind, ReplyKind::Rst);
                // The same segment (the IP header differs only in its ident counter).
                assert_eq!(out[34..r.len], want_out[34..r.len], "reset {reset}: {h:?}");
            }
            assert!(drain_tcp(&mut ep, later).is_empty());
        }
        assert_eq!(
            ep.counters().rst_for_unknown - before,
            fresh.counters().rst_for_unknown
        );
        assert_eq!(fresh.counters().rst_for_unknown, 3);
        assert_eq!(ep.state(old), Some(State::Closed));
        ep.release(old).unwrap();
        assert!(ep.is_empty());
        ep.check_invariants().unwrap();
    }
}
