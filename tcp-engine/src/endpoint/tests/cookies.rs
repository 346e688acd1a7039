//! SYN cookies (RFC 4987) at the endpoint, frame by frame: a flood of spoofed SYNs takes the
//! listening slots down to the reserve, and a legitimate client still connects through a
//! cookie and exchanges data; options through the timestamp; forged, expired and replayed
//! ACKs; a valid cookie with no slot left; the `Off` policy as before.

use super::*;
use crate::table::{CookieOptions, FourTuple, SynCookieCodec};
use crate::tcb::{Events, State};

const T0: Instant = Instant::from_secs(1);
const PERIOD: Duration = Duration::from_secs(64);

/// The codec the endpoint must use (the test secret, 64 s periods, two of them valid).
fn codec() -> SynCookieCodec {
    SynCookieCodec::new(
        HashSecret::from_bytes(*b"endpoint tests!!").derive(b"syn cookies"),
        PERIOD.micros(),
        1,
    )
}

fn endpoint_with(policy: SynCookies, tcb: TcbConfig) -> Ep {
    let mut c = config(OffloadCaps::none(1514));
    c.syn_cookies = policy;
    c.tcb = tcb;
    let mut ep = Ep::with_capacity(c, 64).unwrap();
    ep.add_neighbor(Instant::ZERO, PEER_IP, PEER_MAC);
    ep
}

fn listen_n(ep: &mut Ep, n: usize, b: impl Fn() -> Bufs) -> Vec<SlotKey> {
    (0..n)
        .map(|_| ep.listen(80, b()).map_err(|(e, _)| e).unwrap())
        .collect()
}

fn syn_from(sport: u16, seq: u32) -> TcpHeader {
    let mut h = seg(sport, 80, seq, None, TcpFlags::SYN, 8192);
    h.options.mss = Some(1460);
    h
}

/// A SYN-ACK we answered in place, taken apart.
fn synack_in_place(r: Received, frame: &[u8]) -> Sent {
    let r = reply(r);
    assert_eq!(r.kind, ReplyKind::SynAckCookie);
    let s = parse_sent(&frame[..r.len], r.meta);
    assert_eq!(s.h.flags, TcpFlags::SYN | TcpFlags::ACK);
    s
}

#[test]
fn a_flood_fills_all_but_the_reserve_and_a_client_still_connects_by_cookie() {
    let mut ep = endpoint_with(SynCookies::UnderPressure, plain_tcb());
    let slots = listen_n(&mut ep, 20, bufs);
    // 20 slots, 10 % kept: a SYN takes a slot while more than 2 listen.
    let mut taken = 0;
    for i in 0..60u16 {
        let spoofed = Peer {
            mac: PEER_MAC,
            ip: Ipv4Address([198, 18, 0, 10 + (i % 200) as u8]),
        };
        let frame = spoofed.tcp(&syn_from(1024 + i, 7 * u32::from(i)), &[]);
        let (r, frame) = deliver(&mut ep, T0, frame, RxMeta::UNVERIFIED);
        if i < 18 {
            let o = open(r);
            assert_eq!(o.events, Events::SYN_TO_LISTENER);
            assert_eq!(ep.state(o.key), Some(State::SynReceived));
            taken += 1;
        } else {
            let s = synack_in_place(r, &frame);
            assert_eq!(s.ip.dst_addr, spoofed.ip);
            assert_eq!(s.h.ack.0, 7 * u32::from(i) + 1);
        }
    }
    assert_eq!((taken, ep.counters().syn_cookies_sent), (18, 42));
    assert_eq!(ep.counters().accepts, 18);
    let _ = drain(&mut ep, T0); // the 18 half-open connections' SYN-ACKs and ARP requests

    // The legitimate client: a cookie SYN-ACK, exactly.
    let y = 5000;
    let (r, frame) = deliver(
        &mut ep,
        T0,
        PEER.tcp(&syn_from(40000, y), &[]),
        RxMeta::UNVERIFIED,
    );
    let sa = synack_in_place(r, &frame);
    let tuple = FourTuple::new(OUR_IP.into(), 80, PEER_IP.into(), 40000);
    let cookie = codec().make(&tuple, SeqNum(y), 1460, CookieOptions::NONE, T0.micros());
    assert_eq!((sa.eth.dst_addr, sa.ip.dst_addr), (PEER_MAC, PEER_IP));
    assert_eq!((sa.h.src_port, sa.h.dst_port), (80, 40000));
    assert_eq!((sa.h.seq, sa.h.ack.0), (cookie, y + 1));
    assert_eq!(sa.h.window, 16384, "the listener's receive buffer");
    assert_eq!(sa.h.options.mss, Some(1460));
    assert_eq!(
        (
            sa.h.options.window_scale,
            sa.h.options.sack_permitted,
            sa.h.options.timestamps
        ),
        (None, false, None)
    );
    assert!(sa.payload.is_empty());

    // Its ACK carries the request: the connection exists, established, in a listening slot.
    let request: Vec<u8> = (0..100u8).collect();
    let ack = seg(40000, 80, y + 1, Some(cookie.0 + 1), TcpFlags::PSH, 8192);
    let t1 = T0 + Duration::from_millis(1);
    let o = open(deliver(&mut ep, t1, PEER.tcp(&ack, &request), RxMeta::UNVERIFIED).0);
    assert!(
        o.events
            .contains(Events::SYN_TO_LISTENER | Events::ESTABLISHED | Events::READABLE),
        "{:?}",
        o.events
    );
    assert!(slots.contains(&o.key), "one of the listening slots");
    assert_eq!(ep.state(o.key), Some(State::Established));
    assert_eq!(ep.tuple(o.key), Some(tuple));
    assert_eq!(ep.counters().syn_cookies_accepted, 1);
    assert_eq!(ep.counters().accepts, 19);
    let mut got = [0u8; 200];
    assert_eq!(ep.read(o.key, &mut got).unwrap(), 100);
    assert_eq!(&got[..100], &request[..]);

    // The response, byte-exact, then the client's ACK of it.
    let response: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(ep.write(o.key, &response).unwrap(), 1000);
    let out = drain_tcp(&mut ep, t1);
    let data: Vec<&Sent> = out.iter().filter(|s| s.ip.dst_addr == PEER_IP).collect();
    let mut sent = Vec::new();
    for s in &data {
        assert_eq!(s.h.seq.0, cookie.0 + 1 + sent.len() as u32);
        assert_eq!(s.h.ack.0, y + 101);
        sent.extend_from_slice(&s.payload);
    }
    assert_eq!(sent, response);
    let ack = seg(
        40000,
        80,
        y + 101,
        Some(cookie.0 + 1001),
        TcpFlags::NONE,
        8192,
    );
    deliver(&mut ep, t1, PEER.tcp(&ack, &[]), RxMeta::UNVERIFIED);
    assert_eq!(ep.tcb(o.key).unwrap().snd_una().0, cookie.0 + 1001);
    assert_eq!(
        ep.tcb(o.key).unwrap().send_mss(),
        1460,
        "the MSS from the cookie"
    );
}

#[test]
fn with_timestamps_window_scale_and_sack_survive_the_cookie() {
    let tcb = TcbConfig {
        window_scaling: true,
        timestamps: true,
        sack: true,
        ..plain_tcb()
    };
    let mut ep = endpoint_with(SynCookies::Always, tcb);
    let big = || Buffers::with_capacity(64 << 10, 1 << 20);
    let keys = listen_n(&mut ep, 2, big);
    let y = 90_000;
    let mut syn = syn_from(40000, y);
    syn.options.window_scale = Some(7);
    syn.options.sack_permitted = true;
    syn.options.timestamps = Some((77, 0));
    let t = T0 + Duration::from_millis(5);
    let (r, frame) = deliver(&mut ep, t, PEER.tcp(&syn, &[]), RxMeta::UNVERIFIED);
    let sa = synack_in_place(r, &frame);
    let opts = CookieOptions {
        peer_wscale: Some(7),
        our_wscale: 5, // a 1 MiB receive buffer
        sack: true,
        timestamps: true,
    };
    let tuple = FourTuple::new(OUR_IP.into(), 80, PEER_IP.into(), 40000);
    let cookie = codec().make(&tuple, SeqNum(y), 1460, opts, t.micros());
    assert_eq!((sa.h.seq, sa.h.ack.0), (cookie, y + 1));
    assert_eq!(sa.h.options.window_scale, Some(5));
    assert!(sa.h.options.sack_permitted);
    let (tsval, echo) = sa.h.options.timestamps.expect("timestamps echoed");
    assert_eq!(echo, 77);
    assert_eq!(CookieOptions::from_ts_bits(tsval), Some(opts));
    assert_eq!(ep.counters().accepts, 0, "Always: the SYN took no slot");
    assert_eq!(ep.state(keys[0]), Some(State::Listen));

    let mut ack = seg(40000, 80, y + 1, Some(cookie.0 + 1), TcpFlags::NONE, 1000);
    ack.options.timestamps = Some((78, tsval));
    let o = open(deliver(&mut ep, t, PEER.tcp(&ack, &[]), RxMeta::UNVERIFIED).0);
    assert!(
        o.events
            .contains(Events::SYN_TO_LISTENER | Events::ESTABLISHED)
    );
    let tcb = ep.tcb(o.key).unwrap();
    assert_eq!(tcb.negotiated(), (true, true, true));
    assert_eq!(tcb.window_scales(), (5, 7));
    assert_eq!(tcb.snd_wnd(), 1000 << 7, "the peer's window, scaled");

    // Our data: timestamps echo the peer's, the window field is scaled by 5.
    ep.write(o.key, &[0x42; 3000]).unwrap();
    let out = drain_tcp(&mut ep, t + Duration::from_millis(1));
    assert!(!out.is_empty());
    for s in &out {
        let (ours, echo) = s.h.options.timestamps.expect("timestamps on every segment");
        assert_eq!(echo, 78);
        assert!(
            ours.wrapping_sub(tsval) as i32 >= 0,
            "our TSvals never go back"
        );
        assert_eq!(u32::from(s.h.window), (1 << 20) >> 5);
    }
    let total: usize = out.iter().map(|s| s.payload.len()).sum();
    assert_eq!(total, 3000);
    // A SACK from the peer is taken (SACK is in use): the second segment arrived, not the
    // first.
    let first_len = out[0].payload.len() as u32;
    let mut sack = seg(40000, 80, y + 1, Some(cookie.0 + 1), TcpFlags::NONE, 1000);
    sack.options.timestamps = Some((79, tsval));
    sack.options.push_sack(crate::segment::SackBlock {
        left: cookie + 1 + first_len,
        right: cookie + 1 + 3000,
    });
    assert_eq!(ep.loss_states_lent(), 0);
    deliver(&mut ep, t, PEER.tcp(&sack, &[]), RxMeta::UNVERIFIED);
    assert_eq!(
        ep.loss_states_lent(),
        1,
        "the SACK block went on a scoreboard"
    );
}

#[test]
fn forged_acks_never_open_a_connection() {
    let tcb = TcbConfig {
        timestamps: true,
        ..plain_tcb()
    };
    let mut ep = endpoint_with(SynCookies::Always, tcb);
    let keys = listen_n(&mut ep, 1, bufs);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let n = 20_000;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut ack = seg(
            (x as u16).max(1),
            80,
            (x >> 16) as u32,
            Some((x >> 32) as u32),
            TcpFlags::NONE,
            1000,
        );
        if i % 2 == 0 {
            ack.options.timestamps = Some((x as u32, (x >> 40) as u32));
        }
        let mut frame = PEER.tcp(&ack, &[]);
        let r = ep.receive(T0, &mut frame, RxMeta::UNVERIFIED);
        assert_eq!(reply(r).kind, ReplyKind::Rst, "try {i}");
    }
    let c = ep.counters();
    assert_eq!((c.syn_cookies_rejected, c.syn_cookies_accepted), (n, 0));
    assert_eq!(c.accepts, 0);
    assert_eq!(ep.state(keys[0]), Some(State::Listen));
    assert_eq!(ep.len(), 1);
    ep.check_invariants().unwrap();
}

#[test]
fn cookies_expire_and_a_replayed_ack_goes_to_the_connection() {
    let mut ep = endpoint_with(SynCookies::Always, plain_tcb());
    listen_n(&mut ep, 2, bufs);
    let cookie_for = |ep: &mut Ep, port: u16, at: Instant| {
        let (r, frame) = deliver(
            ep,
            at,
            PEER.tcp(&syn_from(port, 100), &[]),
            RxMeta::UNVERIFIED,
        );
        synack_in_place(r, &frame).h.seq.0
    };
    let ack_for = |port: u16, cookie: u32| {
        PEER.tcp(
            &seg(port, 80, 101, Some(cookie + 1), TcpFlags::NONE, 8192),
            &[],
        )
    };
    // Made in period 0 (T0 = 1 s): still good in period 1, gone in period 2.
    let c1 = cookie_for(&mut ep, 1001, T0);
    let c2 = cookie_for(&mut ep, 1002, T0);
    let late = Instant::from_secs(2 * 64);
    let (r, frame) = deliver(&mut ep, late, ack_for(1001, c1), RxMeta::UNVERIFIED);
    let rst = parse_sent(&frame[..reply(r).len], TxMeta::NONE);
    assert_eq!((rst.h.flags, rst.h.seq.0), (TcpFlags::RST, c1 + 1));
    assert_eq!(ep.counters().syn_cookies_rejected, 1);
    let in_time = Instant::from_secs(2 * 64 - 1);
    let o = open(deliver(&mut ep, in_time, ack_for(1002, c2), RxMeta::UNVERIFIED).0);
    assert_eq!(ep.state(o.key), Some(State::Established));
    // The same ACK again finds the connection: nothing new is created.
    let (r, _) = deliver(&mut ep, in_time, ack_for(1002, c2), RxMeta::UNVERIFIED);
    assert!(
        !matches!(r, Received::Open(o) if o.events.contains(Events::SYN_TO_LISTENER)),
        "{r:?}"
    );
    assert_eq!(ep.counters().syn_cookies_accepted, 1);
    assert_eq!(ep.counters().accepts, 1);
    assert_eq!(ep.state(o.key), Some(State::Established));
}

#[test]
fn a_valid_cookie_with_no_slot_left_is_dropped_not_reset() {
    let mut ep = endpoint_with(SynCookies::Always, plain_tcb());
    listen_n(&mut ep, 1, bufs);
    let (r, f) = deliver(
        &mut ep,
        T0,
        PEER.tcp(&syn_from(1, 10), &[]),
        RxMeta::UNVERIFIED,
    );
    let ca = synack_in_place(r, &f).h.seq.0;
    let (r, f) = deliver(
        &mut ep,
        T0,
        PEER.tcp(&syn_from(2, 20), &[]),
        RxMeta::UNVERIFIED,
    );
    let cb = synack_in_place(r, &f).h.seq.0;
    let ack = |port: u16, seq: u32, cookie: u32| {
        PEER.tcp(
            &seg(port, 80, seq + 1, Some(cookie + 1), TcpFlags::NONE, 8192),
            &[],
        )
    };
    let o = open(deliver(&mut ep, T0, ack(1, 10, ca), RxMeta::UNVERIFIED).0);
    assert_eq!(ep.state(o.key), Some(State::Established));
    // The port has no listening slot now: B's valid cookie is dropped (B retransmits later).
    let (r, _) = deliver(&mut ep, T0, ack(2, 20, cb), RxMeta::UNVERIFIED);
    assert_eq!(r, Received::Dropped(RxDrop::NoListeningSlot));
    assert_eq!(ep.counters().syn_cookie_no_slot, 1);
    // An ACK without a valid cookie to the closed port is reset as always.
    let (r, _) = deliver(&mut ep, T0, ack(2, 20, cb ^ 0x100), RxMeta::UNVERIFIED);
    assert_eq!(reply(r).kind, ReplyKind::Rst);
    // Once the application listens again, B's retransmitted ACK connects.
    ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
    let o = open(deliver(&mut ep, T0, ack(2, 20, cb), RxMeta::UNVERIFIED).0);
    assert_eq!(ep.state(o.key), Some(State::Established));
}

#[test]
fn off_keeps_the_behaviour_without_cookies() {
    let mut ep = endpoint_with(SynCookies::Off, plain_tcb());
    listen_n(&mut ep, 20, bufs);
    for i in 0..25u16 {
        let (r, _) = deliver(
            &mut ep,
            T0,
            PEER.tcp(&syn_from(1000 + i, 1), &[]),
            RxMeta::UNVERIFIED,
        );
        if i < 20 {
            assert_eq!(open(r).events, Events::SYN_TO_LISTENER);
        } else {
            assert_eq!(
                r,
                Received::Dropped(RxDrop::NoListeningSlot),
                "every slot taken"
            );
        }
    }
    let c = ep.counters();
    assert_eq!(
        (c.accepts, c.syn_cookies_sent, c.syn_cookies_rejected),
        (20, 0, 0)
    );
    assert_eq!((c.syn_no_listening_slot, c.rst_for_unknown), (5, 0));
}

#[test]
fn under_pressure_leaves_small_ports_alone() {
    // Fewer than ten slots: no reserve, every SYN takes a slot as before.
    let mut ep = endpoint_with(SynCookies::UnderPressure, plain_tcb());
    listen_n(&mut ep, 9, bufs);
    for i in 0..9u16 {
        let (r, _) = deliver(
            &mut ep,
            T0,
            PEER.tcp(&syn_from(1000 + i, 1), &[]),
            RxMeta::UNVERIFIED,
        );
        assert_eq!(open(r).events, Events::SYN_TO_LISTENER);
    }
    assert_eq!(ep.counters().syn_cookies_sent, 0);
}

#[test]
fn a_syn_while_every_listening_slot_is_taken_is_dropped_for_its_retransmission_not_refused() {
    // A burst takes every listening slot of a port with fewer than ten (no cookie reserve),
    // with cookies off or under pressure. The next client's SYN must not see "connection
    // refused": as Linux drops a SYN to a full accept queue, it is dropped (counted) and its
    // retransmission finds the slot the application listens with meanwhile. A port that stays
    // without a slot for 3 s, or whose application stopped listening itself, answers RST.
    let syn = |ep: &mut Ep, now: Instant, sport: u16| {
        deliver(
            ep,
            now,
            PEER.tcp(&syn_from(sport, 100), &[]),
            RxMeta::UNVERIFIED,
        )
        .0
    };
    let listen = |ep: &mut Ep| ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
    for policy in [SynCookies::Off, SynCookies::UnderPressure] {
        let mut ep = endpoint_with(policy, plain_tcb());
        listen_n(&mut ep, 2, bufs);
        for sport in [3000, 3001] {
            assert_eq!(
                open(syn(&mut ep, T0, sport)).events,
                Events::SYN_TO_LISTENER
            );
        }
        assert_eq!(
            syn(&mut ep, T0, 3002),
            Received::Dropped(RxDrop::NoListeningSlot),
            "{policy:?}: every slot taken for a moment: dropped, not refused"
        );
        assert_eq!(ep.counters().syn_no_listening_slot, 1, "{policy:?}");
        assert_eq!(ep.counters().rst_for_unknown, 0, "{policy:?}");

        // The application listens again; the SYN retransmitted 1 s later connects.
        let t1 = T0 + Duration::from_secs(1);
        listen(&mut ep);
        let o = open(syn(&mut ep, t1, 3002));
        assert_eq!(ep.state(o.key), Some(State::SynReceived), "{policy:?}");
        assert_eq!(
            syn(&mut ep, t1 + Duration::from_millis(2999), 3003),
            Received::Dropped(RxDrop::NoListeningSlot),
            "{policy:?}: out of slots again, for under 3 s"
        );
        // No slot for 3 s: the port is taken as closed.
        let r = syn(&mut ep, t1 + Duration::from_secs(3), 3003);
        assert_eq!(reply(r).kind, ReplyKind::Rst, "{policy:?}");
        assert_eq!(ep.counters().rst_for_unknown, 1, "{policy:?}");
        assert_eq!(ep.counters().syn_no_listening_slot, 2, "{policy:?}");

        // Out of slots a moment ago, then the application listens and stops listening
        // itself (aborts its last listening slot): the port is closed, RST at once.
        let t2 = t1 + Duration::from_secs(10);
        listen(&mut ep);
        open(syn(&mut ep, t2, 3004));
        let last = listen(&mut ep);
        ep.abort(t2, last).unwrap();
        let r = syn(&mut ep, t2, 3005);
        assert_eq!(
            reply(r).kind,
            ReplyKind::Rst,
            "{policy:?}: stopped listening"
        );
        assert_eq!(ep.counters().rst_for_unknown, 2, "{policy:?}");
        // A port that never listened: RST as always.
        let never = PEER.tcp(&seg(3006, 81, 100, None, TcpFlags::SYN, 8192), &[]);
        let r = deliver(&mut ep, t2, never, RxMeta::UNVERIFIED).0;
        assert_eq!(reply(r).kind, ReplyKind::Rst, "{policy:?}: never listened");
        assert_eq!(ep.counters().syn_no_listening_slot, 2, "{policy:?}");
    }
}

#[test]
fn sixteen_ports_out_of_listening_slots_are_remembered_at_once_then_the_oldest_is_refused() {
    // Seventeen ports each lose their one listening slot to a connection, a millisecond
    // apart: the endpoint remembers sixteen, so the first is forgotten (its SYNs meet a closed
    // port again) and the other sixteen still drop SYNs for their clients to retransmit.
    let mut ep = endpoint_with(SynCookies::Off, plain_tcb());
    let syn =
        |sport: u16, port: u16| PEER.tcp(&seg(sport, port, 100, None, TcpFlags::SYN, 8192), &[]);
    for i in 0..17u16 {
        ep.listen(100 + i, bufs()).map_err(|(e, _)| e).unwrap();
        let at = T0 + Duration::from_millis(u64::from(i));
        open(deliver(&mut ep, at, syn(4000, 100 + i), RxMeta::UNVERIFIED).0);
    }
    // Other clients (another source port) of the same ports.
    let now = T0 + Duration::from_millis(20);
    let r = deliver(&mut ep, now, syn(4001, 100), RxMeta::UNVERIFIED).0;
    assert_eq!(reply(r).kind, ReplyKind::Rst, "the oldest was forgotten");
    for port in 101..117u16 {
        assert_eq!(
            deliver(&mut ep, now, syn(4001, port), RxMeta::UNVERIFIED).0,
            Received::Dropped(RxDrop::NoListeningSlot),
            "port {port}"
        );
    }
    assert_eq!(ep.counters().syn_no_listening_slot, 16);
}
