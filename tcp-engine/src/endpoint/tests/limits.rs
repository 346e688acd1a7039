//! Fixed capacities of the endpoint driven to exhaustion and past: what the user sees (the
//! typed error and its message, or the counter that rose) and that the endpoint recovers
//! once the pressure goes (slots, pool entries and queues come back, invariants hold): owed
//! immediate ACKs, the abort RST queue, the send buffer, the loss-state pool, listening slots
//! and the table under SYN floods, the neighbour cache, segments that cannot leave, a
//! deadline far beyond the timer wheel, the poll helper's reply stash, and a TSO super-segment
//! refused by a full transmit ring.
//!
//! Limits with tests elsewhere: slot exhaustion on `connect`/`listen` (`scenarios`, scenario
//! 17), SYN floods against listening slots with cookies (`cookies`), ephemeral ports through
//! a steering filter (`steering`), the D-SACK loss-state borrow (`scenarios`).

use super::scenarios::establish;
use super::*;
use crate::table::FourTuple;
use crate::tcb::{CloseReason, Events, State};
use crate::time::Duration;
use crate::wire::{ArpOperation, EtherType};

const T0: Instant = Instant::from_secs(1);

/// A data segment from PEER:80 to our `port`, `len` bytes at `seq`.
fn data_from_peer(port: u16, seq: u32, ack: u32, len: usize) -> Vec<u8> {
    let h = seg(80, port, seq, Some(ack), TcpFlags::NONE, 65535);
    PEER.tcp(&h, &vec![7u8; len])
}

/// Delivers [`data_from_peer`] at `T0`.
fn data_in(ep: &mut Ep, port: u16, seq: u32, ack: u32, len: usize) -> Received {
    deliver(
        ep,
        T0,
        data_from_peer(port, seq, ack, len),
        RxMeta::UNVERIFIED,
    )
    .0
}

#[test]
fn owed_immediate_acks_stop_at_256_and_a_filled_hole_forgives_the_rest() {
    // Every out-of-order segment is owed its own immediate ACK (RFC 5681 4.2); a burst of
    // them from a hostile peer must not make the send phase answer without bound.
    let mut ep = endpoint_with_peer(2);
    let (key, port, iss, y) = establish(&mut ep, T0);
    // 300 copies of one out-of-order segment (a hole of 100 bytes before it), one burst.
    for _ in 0..300 {
        let r = data_in(&mut ep, port, y + 101, iss + 1, 100);
        assert!(
            !matches!(r, Received::Reply(_)),
            "answered in the send phase"
        );
    }
    let acks = drain_tcp(&mut ep, T0);
    assert_eq!(
        acks.len(),
        256,
        "at most 256 immediate ACKs are owed at once"
    );
    assert!(
        acks.iter()
            .all(|a| (a.h.ack.0, a.payload.len()) == (y + 1, 0)),
        "duplicate ACKs of RCV.NXT"
    );
    assert!(drain_tcp(&mut ep, T0).is_empty(), "the debt is paid");
    // More out-of-order segments, then the hole fills in the same burst: one ACK for all.
    for _ in 0..10 {
        data_in(&mut ep, port, y + 101, iss + 1, 100);
    }
    data_in(&mut ep, port, y + 1, iss + 1, 100);
    let acks = drain_tcp(&mut ep, T0);
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(acks[0].h.ack.0, y + 201);
    let mut got = [0u8; 300];
    assert_eq!(ep.read(key, &mut got), Ok(200));
}

#[test]
fn a_full_rst_queue_counts_the_rst_it_drops_and_every_slot_still_comes_back() {
    let n = 20;
    let mut ep = endpoint_with_peer(n);
    let keys: Vec<SlotKey> = (0..n).map(|_| establish(&mut ep, T0).0).collect();
    assert_eq!(ep.len(), n);
    let (err, _) = ep.connect(T0, PEER_IP, 81, bufs()).unwrap_err();
    assert_eq!(
        err,
        EndpointError::Table(TableError::SlotsExhausted { capacity: n })
    );
    // Aborts with no send phase in between: 16 RSTs wait, the rest are dropped and counted.
    for &k in &keys {
        ep.abort(T0, k).unwrap();
        ep.check_invariants().unwrap();
    }
    assert_eq!(ep.len(), 0, "every slot freed at once");
    assert_eq!(ep.counters().rst_queue_full, (n - PENDING_RSTS) as u64);
    let rsts = drain_tcp(&mut ep, T0);
    assert_eq!(rsts.len(), PENDING_RSTS);
    assert!(rsts.iter().all(|s| s.h.flags.rst()));
    assert_eq!(ep.counters().tx_aborts, PENDING_RSTS as u64);
    // The table and the queue are whole again.
    let again: Vec<SlotKey> = (0..n).map(|_| connect_to_peer(&mut ep, T0)).collect();
    assert_eq!(ep.len(), n);
    for k in again {
        ep.abort(T0, k).unwrap();
    }
    // SYN-SENT connections whose SYN never left need no RST.
    assert_eq!(ep.counters().rst_queue_full, (n - PENDING_RSTS) as u64);
    assert!(drain_tcp(&mut ep, T0).is_empty());
}

#[test]
fn a_full_send_buffer_takes_part_then_nothing_and_space_comes_back_with_acks() {
    let mut ep = endpoint_with_peer(2);
    let (key, port, iss, y) = establish(&mut ep, T0);
    let cap = 16 << 10;
    let data = vec![3u8; cap + 5000];
    assert_eq!(ep.write(key, &data), Ok(cap), "a short write: what fits");
    assert_eq!(ep.send_space(key), Some(0));
    assert_eq!(ep.write(key, &data), Ok(0), "full: nothing taken, no error");
    let sent = drain_tcp(&mut ep, T0);
    let bytes: usize = sent.iter().map(|s| s.payload.len()).sum();
    assert!(bytes > 0);
    assert_eq!(
        ep.write(key, b"x"),
        Ok(0),
        "sent but unacknowledged data stays"
    );
    // The peer acknowledges what arrived: space comes back, with an event.
    let h = seg(
        80,
        port,
        y + 1,
        Some(iss + 1 + bytes as u32),
        TcpFlags::NONE,
        65535,
    );
    let o = open(deliver(&mut ep, T0, PEER.tcp(&h, &[]), RxMeta::UNVERIFIED).0);
    assert!(o.events.contains(Events::SEND_SPACE), "{:?}", o.events);
    assert_eq!(ep.send_space(key), Some(bytes));
    assert_eq!(ep.write(key, &data), Ok(bytes));
}

/// An endpoint of `capacity` slots whose configuration `set` changed, knowing the peer.
fn endpoint_configured(capacity: usize, set: impl FnOnce(&mut EndpointConfig)) -> Ep {
    let mut cfg = config(OffloadCaps::none(1514));
    set(&mut cfg);
    let mut ep = Ep::with_capacity(cfg, capacity).unwrap();
    ep.add_neighbor(Instant::ZERO, PEER_IP, PEER_MAC);
    ep
}

/// Completes an active open to PEER:80 with SACK: (key, local port, ISS, peer ISN).
fn establish_sack(ep: &mut Ep) -> (SlotKey, u16, u32, u32) {
    let key = connect_to_peer(ep, T0);
    let syn = drain_tcp(ep, T0).remove(0);
    let (port, iss, y) = (syn.h.src_port, syn.h.seq.0, 9000);
    let mut sa = seg(80, port, y, Some(iss + 1), TcpFlags::SYN, 65535);
    sa.options.mss = Some(1460);
    sa.options.sack_permitted = true;
    let o = open(deliver(ep, T0, PEER.tcp(&sa, &[]), RxMeta::UNVERIFIED).0);
    assert!(o.events.contains(Events::ESTABLISHED));
    drain_tcp(ep, T0);
    (key, port, iss, y)
}

#[test]
fn an_exhausted_loss_state_pool_drops_out_of_order_data_counted_and_refills() {
    let mut ep = endpoint_configured(4, |c| {
        c.tcb.sack = true;
        c.loss_states = Some(1);
    });
    let (ka, pa, ia, ya) = establish_sack(&mut ep);
    let (kb, pb, ib, yb) = establish_sack(&mut ep);
    // A holds the only loss state for its out-of-order range.
    data_in(&mut ep, pa, ya + 1001, ia + 1, 500);
    assert_eq!(ep.loss_states_lent(), 1);
    let a = drain_tcp(&mut ep, T0);
    assert_eq!(a[0].h.options.sack_count, 1, "A reports its range");
    // B gets none: its out-of-order data is dropped and counted, and still acknowledged.
    data_in(&mut ep, pb, yb + 1001, ib + 1, 500);
    assert_eq!(ep.counters().loss_states_exhausted, 1);
    let b = drain_tcp(&mut ep, T0);
    assert_eq!(b.len(), 1);
    assert_eq!((b[0].h.ack.0, b[0].h.options.sack_count), (yb + 1, 0));
    // A's hole fills: its state goes back to the pool.
    data_in(&mut ep, pa, ya + 1, ia + 1, 1000);
    assert_eq!(drain_tcp(&mut ep, T0)[0].h.ack.0, ya + 1501);
    assert_eq!(ep.loss_states_lent(), 0, "given back once the hole filled");
    // B's retransmitted out-of-order segment is kept now.
    data_in(&mut ep, pb, yb + 1001, ib + 1, 500);
    assert_eq!(ep.loss_states_lent(), 1);
    assert_eq!(ep.counters().loss_states_exhausted, 1);
    let b = drain_tcp(&mut ep, T0);
    assert_eq!(b[0].h.options.sack_count, 1, "B reports its range now");
    data_in(&mut ep, pb, yb + 1, ib + 1, 1000);
    assert_eq!(drain_tcp(&mut ep, T0)[0].h.ack.0, yb + 1501);
    assert_eq!(ep.loss_states_lent(), 0);
    let mut got = [0u8; 2000];
    assert_eq!(ep.read(ka, &mut got), Ok(1500));
    assert_eq!(ep.read(kb, &mut got), Ok(1500));
}

fn syn_to_80(sport: u16) -> Vec<u8> {
    let mut h = seg(sport, 80, 77, None, TcpFlags::SYN, 8192);
    h.options.mss = Some(1460);
    PEER.tcp(&h, &[])
}

#[test]
fn a_syn_flood_on_exhausted_listening_slots_without_cookies_recovers_when_half_opens_time_out() {
    let mut ep = endpoint_configured(4, |c| c.syn_cookies = SynCookies::Off);
    let listeners: Vec<SlotKey> = (0..4)
        .map(|_| ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap())
        .collect();
    let (err, _) = ep.listen(80, bufs()).unwrap_err();
    assert!(err.to_string().contains("all 4 slots are in use"), "{err}");
    // A flood of spoofed SYNs that never complete: each slot takes one, the rest are dropped
    // and counted (the port listens, out of slots for the moment), not each answered.
    for i in 0..50u16 {
        let (r, _) = deliver(&mut ep, T0, syn_to_80(2000 + i), RxMeta::UNVERIFIED);
        if i < 4 {
            assert_eq!(open(r).events, Events::SYN_TO_LISTENER);
        } else {
            assert_eq!(r, Received::Dropped(RxDrop::NoListeningSlot), "SYN {i}");
        }
    }
    assert_eq!(ep.counters().accepts, 4);
    assert_eq!(ep.counters().syn_no_listening_slot, 46);
    assert_eq!(ep.counters().rst_for_unknown, 0);
    // The half-open connections retransmit their SYN-ACKs, give up and tell the
    // application, which puts the slots back to listening.
    let mut now = T0;
    let mut relisten = 0;
    loop {
        let (_, events) = drain(&mut ep, now);
        for o in events {
            assert_eq!(o.events, Events::CLOSED);
            assert_eq!(ep.close_reason(o.key), Some(CloseReason::TimedOut));
            assert!(matches!(ep.recycle(o.key), Ok(Recycled::Listening(_))));
            relisten += 1;
        }
        if relisten == listeners.len() {
            break;
        }
        now = ep
            .next_deadline()
            .expect("half-open connections have timers");
        assert!(
            now < T0 + Duration::from_secs(600),
            "SYN-RECEIVED never gave up"
        );
    }
    assert_eq!(ep.len(), 4);
    assert_eq!(ep.counters().timeouts, 4);
    // A real client connects.
    let (r, _) = deliver(&mut ep, now, syn_to_80(9999), RxMeta::UNVERIFIED);
    let o = open(r);
    assert_eq!(ep.state(o.key), Some(State::SynReceived));
}

#[test]
fn a_full_table_under_a_syn_flood_with_cookies_answers_in_place_and_recovers() {
    let mut ep = endpoint_configured(2, |c| c.syn_cookies = SynCookies::Always);
    let listener = ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
    let other = connect_to_peer(&mut ep, T0);
    // The table is full.
    let (err, _) = ep.listen(80, bufs()).unwrap_err();
    assert_eq!(
        err,
        EndpointError::Table(TableError::SlotsExhausted { capacity: 2 })
    );
    // A flood: every SYN gets a cookie SYN-ACK in place; no slot, no state.
    let mut cookies = Vec::new();
    for i in 0..100u16 {
        let (r, f) = deliver(&mut ep, T0, syn_to_80(3000 + i), RxMeta::UNVERIFIED);
        let r = reply(r);
        assert_eq!(r.kind, ReplyKind::SynAckCookie);
        cookies.push(parse_sent(&f[..r.len], r.meta).h.seq.0);
    }
    assert_eq!(ep.counters().syn_cookies_sent, 100);
    assert_eq!((ep.len(), ep.state(listener)), (2, Some(State::Listen)));
    let ack = |i: usize| {
        let h = seg(
            3000 + i as u16,
            80,
            78,
            Some(cookies[i] + 1),
            TcpFlags::NONE,
            8192,
        );
        PEER.tcp(&h, &[])
    };
    // The first returned cookie takes the listening slot; the next finds none and is
    // dropped, counted (its peer retransmits).
    let o = open(deliver(&mut ep, T0, ack(0), RxMeta::UNVERIFIED).0);
    assert_eq!(o.key, listener);
    assert_eq!(ep.state(o.key), Some(State::Established));
    let (r, _) = deliver(&mut ep, T0, ack(1), RxMeta::UNVERIFIED);
    assert_eq!(r, Received::Dropped(RxDrop::NoListeningSlot));
    assert_eq!(ep.counters().syn_cookie_no_slot, 1);
    // The application frees a slot and listens again: the retransmitted ACK connects.
    ep.abort(T0, other).unwrap();
    ep.listen(80, bufs()).map_err(|(e, _)| e).unwrap();
    let o = open(deliver(&mut ep, T0, ack(1), RxMeta::UNVERIFIED).0);
    assert_eq!(ep.state(o.key), Some(State::Established));
    assert_eq!(
        ep.tuple(o.key),
        Some(FourTuple::new(OUR_IP.into(), 80, PEER_IP.into(), 3001))
    );
    assert_eq!(ep.counters().syn_cookies_accepted, 2);
}

/// The ARP requests among `frames`: the addresses asked for.
fn arp_requests(frames: &[(Vec<u8>, TxMeta)]) -> Vec<Ipv4Address> {
    frames
        .iter()
        .filter_map(|(f, _)| {
            let p = parse_frame(f, RxMeta::UNVERIFIED).ok()?;
            if p.ethernet.ethertype != EtherType::ARP {
                return None;
            }
            match p.payload {
                RxPayload::Arp(a) if a.operation == ArpOperation::Request => {
                    Some(a.target_protocol_addr)
                }
                _ => None,
            }
        })
        .collect()
}

#[test]
fn more_peers_than_neighbour_entries_and_pending_resolutions_all_connect_in_the_end() {
    // 40 on-link peers at once: more than the 8 resolutions that may be pending and more
    // than the 32 cache entries. The excess is counted busy and retried at the SYN timer;
    // every SYN leaves once its neighbour answers.
    let n = 40usize;
    let mut ep = endpoint(n);
    let peer_ip = |i: usize| Ipv4Address([198, 18, 0, 10 + i as u8]);
    let peer_mac = |i: usize| EthernetAddress([2, 0, 0, 0, 1, i as u8]);
    let keys: Vec<SlotKey> = (0..n)
        .map(|i| {
            ep.connect(T0, peer_ip(i), 80, bufs())
                .map_err(|(e, _)| e)
                .unwrap()
        })
        .collect();
    let mut syn_seen = vec![false; n];
    let mut now = T0;
    for round in 0..40 {
        let (frames, _) = drain(&mut ep, now);
        let asked = arp_requests(&frames);
        assert!(
            asked.len() <= 8,
            "round {round}: at most max_pending requests at once, got {}",
            asked.len()
        );
        for (f, m) in &frames {
            let p = parse_frame(f, RxMeta::UNVERIFIED).unwrap();
            if p.ethernet.ethertype == EtherType::IPV4 {
                let s = parse_sent(f, *m);
                assert!(s.h.flags.syn());
                let i = usize::from(s.ip.dst_addr.0[3]) - 10;
                assert_eq!(s.eth.dst_addr, peer_mac(i), "the resolved MAC");
                syn_seen[i] = true;
            }
        }
        // Each asked neighbour answers.
        for ip in asked {
            let i = usize::from(ip.0[3]) - 10;
            let peer = Peer {
                mac: peer_mac(i),
                ip,
            };
            let answer = ArpRepr {
                operation: ArpOperation::Reply,
                source_hardware_addr: peer_mac(i),
                source_protocol_addr: ip,
                target_hardware_addr: OUR_MAC,
                target_protocol_addr: OUR_IP,
            };
            deliver(&mut ep, now, peer.arp(&answer), RxMeta::UNVERIFIED);
        }
        if syn_seen.iter().all(|&s| s) {
            break;
        }
        now = ep
            .next_deadline()
            .expect("connections wait for SYN timers")
            .max(now);
    }
    let missing: Vec<usize> = (0..n).filter(|&i| !syn_seen[i]).collect();
    assert!(missing.is_empty(), "no SYN for peers {missing:?}");
    assert!(ep.counters().neighbor_busy > 0, "the excess was counted");
    assert_eq!(ep.counters().neighbor_unreachable, 0);
    for k in keys {
        assert_eq!(ep.state(k), Some(State::SynSent));
    }
}

#[test]
fn a_syn_that_can_never_leave_is_retried_at_its_rto_and_times_out() {
    // No route to an off-link peer (no gateway): the SYN is never committed. It must be
    // planned again at the retransmission timer and the open must end, not wait forever.
    let mut ep = endpoint(2);
    let off_link = Ipv4Address([198, 19, 0, 1]);
    let key = ep
        .connect(T0, off_link, 80, bufs())
        .map_err(|(e, _)| e)
        .unwrap();
    let mut now = T0;
    let mut closed = Vec::new();
    loop {
        let (frames, events) = drain(&mut ep, now);
        assert!(frames.is_empty(), "nothing can leave");
        closed.extend(events);
        let Some(next) = ep.next_deadline() else {
            break;
        };
        assert!(next > now, "no busy loop");
        assert!(next < T0 + Duration::from_secs(600), "the open never ends");
        now = next;
    }
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!((closed[0].key, closed[0].events), (key, Events::CLOSED));
    assert_eq!(ep.close_reason(key), Some(CloseReason::TimedOut));
    let retries = u64::from(TcbConfig::RFC.max_syn_retransmissions);
    assert_eq!(ep.counters().no_route, 1 + retries);
    assert_eq!(ep.counters().timeouts, 1);
    // The slot comes back.
    ep.release(key).unwrap();
    assert!(ep.is_empty());
}

#[test]
fn a_deadline_far_beyond_the_timer_wheel_fires_on_time_after_few_wake_ups() {
    // The wheel spans 2^40 us (about 12.7 days); a keepalive 400 days out is filed early and
    // re-filed: each wake-up before it does nothing, and there are few of them.
    let idle = Duration::from_secs(400 * 24 * 3600);
    let mut ep = endpoint_configured(2, |c| {
        c.tcb.keepalive = Some(crate::tcb::Keepalive {
            idle,
            interval: Duration::from_secs(1),
            probes: 1,
        });
        // The peer's MAC stays valid as long (no ARP refresh in between).
        c.neighbor.reachable_time = idle + idle;
    });
    let (key, ..) = establish(&mut ep, T0);
    let due = T0 + idle;
    let mut now;
    let mut wake_ups = 0;
    let probe = loop {
        now = ep.next_deadline().expect("the keepalive is armed");
        assert!(now <= due, "woken after the deadline: {now:?}");
        wake_ups += 1;
        assert!(wake_ups <= 64, "too many wake-ups before {due:?}");
        let out = drain_tcp(&mut ep, now);
        if !out.is_empty() {
            break out;
        }
        ep.check_invariants().unwrap();
    };
    assert_eq!(now, due, "the probe goes at its deadline");
    assert_eq!(probe.len(), 1);
    assert_eq!(probe[0].payload.len(), 0, "a keepalive probe");
    // Unanswered, the connection ends one interval later.
    let (_, events) = drain(&mut ep, due + Duration::from_secs(1));
    assert_eq!(events.len(), 1);
    assert_eq!(ep.close_reason(key), Some(CloseReason::KeepaliveTimedOut));
}

#[test]
fn replies_beyond_the_poll_stash_are_dropped_counted_and_the_next_burst_is_answered() {
    // A receive burst of 64 segments to a closed port: each is answered in place with a RST,
    // kept for after the burst in a stash of 32 replies. The rest are dropped and counted, as
    // a NIC drops what its queue cannot hold.
    let mut ep = endpoint_with_peer(2);
    let syns = |n: u16| -> Vec<(Vec<u8>, RxMeta)> {
        (0..n)
            .map(|i| {
                let h = seg(1000 + i, 81, 5, None, TcpFlags::SYN, 1000);
                (PEER.tcp(&h, &[]), RxMeta::UNVERIFIED)
            })
            .collect()
    };
    let mut dev = super::gro::Burst {
        rx: syns(64),
        tx: Vec::new(),
    };
    ep.poll(T0, &mut dev, |_, _| {});
    let rsts: Vec<Sent> = dev.tx.iter().map(|(f, m)| parse_sent(f, *m)).collect();
    assert_eq!(rsts.len(), 32, "the stash's 32 replies");
    assert!(rsts.iter().all(|s| s.h.flags.rst()));
    assert_eq!(ep.counters().rst_for_unknown, 64);
    assert_eq!(ep.counters().replies_dropped, 32);
    ep.check_invariants().unwrap();
    // The stash is empty again for the next burst.
    dev.tx.clear();
    dev.rx = syns(10);
    ep.poll(T0, &mut dev, |_, _| {});
    assert_eq!(dev.tx.len(), 10);
    assert_eq!(ep.counters().replies_dropped, 32);
}

/// A TSO device whose transmit ring is full while `full` is set: it lets the engine write the
/// frame, then refuses it.
struct TsoRing {
    full: bool,
    tx: Vec<(Vec<u8>, TxMeta)>,
}

impl crate::device::FrameDevice for TsoRing {
    fn caps(&self) -> OffloadCaps {
        crate::link::offload_caps(1500, true)
    }

    fn rx_burst<F: FnMut(&mut [u8], RxMeta)>(&mut self, _max: usize, _on_frame: F) -> usize {
        0
    }

    fn transmit<F: FnOnce(&mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        fill: F,
    ) -> Option<(usize, TxMeta)> {
        let mut buf = vec![0u8; 70_000];
        let (len, meta) = fill(&mut buf)?;
        if self.full {
            return None;
        }
        buf.truncate(len);
        self.tx.push((buf, meta));
        Some((len, meta))
    }
}

#[test]
fn a_tso_super_segment_the_full_ring_refuses_advances_nothing_and_goes_whole_later() {
    let mut ep = Ep::with_capacity(config(crate::link::offload_caps(1500, true)), 2).unwrap();
    ep.add_neighbor(Instant::ZERO, PEER_IP, PEER_MAC);
    let (key, _, iss, _) = establish(&mut ep, T0);
    assert_eq!(ep.write(key, &[6u8; 16_384]), Ok(16_384));
    let mut dev = TsoRing {
        full: true,
        tx: Vec::new(),
    };
    ep.poll(T0, &mut dev, |_, _| {});
    assert!(dev.tx.is_empty());
    assert_eq!(ep.counters().tx_device_refused, 1, "written, then refused");
    let tcb = ep.tcb(key).unwrap();
    assert_eq!(
        (tcb.snd_nxt().0, tcb.snd_max().0),
        (iss + 1, iss + 1),
        "nothing advanced"
    );
    assert_eq!(ep.counters().tx_tso_frames, 0);
    ep.check_invariants().unwrap();
    // Room in the ring: the same super-segment goes, whole, and only now counts.
    dev.full = false;
    ep.poll(T0, &mut dev, |_, _| {});
    let sent: Vec<Sent> = dev.tx.iter().map(|(f, m)| parse_sent(f, *m)).collect();
    assert!(!sent.is_empty());
    assert_eq!(sent[0].h.seq.0, iss + 1);
    assert!(
        dev.tx[0].1.tso_mss.is_some() && sent[0].payload.len() > 1460,
        "a super-segment"
    );
    let bytes: usize = sent.iter().map(|s| s.payload.len()).sum();
    assert_eq!(ep.tcb(key).unwrap().snd_nxt().0, iss + 1 + bytes as u32);
    assert_eq!(ep.counters().tx_device_refused, 1);
    assert!(ep.counters().tx_tso_frames >= 1);
}

#[test]
fn data_to_a_neighbour_gone_for_good_backs_off_and_the_connection_times_out() {
    // Reviewer: an established connection, idle long enough that the peer's neighbour entry
    // expired; the application writes and the peer's MAC never answers ARP again. The data
    // (nothing in flight) alternates between ARP resolutions and `unsendable`; its
    // retransmission timer must back off and end the connection (TimedOut) with a CLOSED
    // event, with no busy loop and the endpoint's invariants intact.
    let mut ep = endpoint_configured(2, |c| c.tcb.max_retransmissions = 4);
    let (key, _, _, _) = establish(&mut ep, T0);
    let mut now = T0 + Duration::from_secs(200);
    assert_eq!(ep.write(key, b"hello").unwrap(), 5);
    let mut closed = Vec::new();
    let mut wake_ups = 0;
    loop {
        let (frames, events) = drain(&mut ep, now);
        ep.check_invariants().expect("endpoint invariants");
        for (f, _) in &frames {
            let p = parse_frame(f, RxMeta::UNVERIFIED).unwrap();
            assert_eq!(
                p.ethernet.ethertype,
                EtherType::ARP,
                "only ARP requests leave"
            );
        }
        closed.extend(events);
        let Some(next) = ep.next_deadline() else {
            break;
        };
        assert!(next > now, "no busy loop");
        now = next;
        wake_ups += 1;
        assert!(wake_ups < 2000, "the connection never ends");
    }
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!((closed[0].key, closed[0].events), (key, Events::CLOSED));
    assert_eq!(ep.close_reason(key), Some(CloseReason::TimedOut));
    assert!(ep.counters().neighbor_unreachable > 0);
    // 4 backed-off RTOs of at least 1, 2, 4, 8 s each, then the fifth ends it.
    assert!(now >= T0 + Duration::from_secs(200 + 15), "{now:?}");
    ep.release(key).unwrap();
    assert!(ep.is_empty());
}

#[test]
fn the_queue_of_due_arp_requests_holds_its_worst_case_so_no_refresh_is_dropped() {
    // A stale neighbour's refresh and every retry of the resolutions in progress may wait
    // for the device at once. The queue (16) never fills: a new resolution or refresh is
    // queued only from the send phase, which serves connections only once the queue is
    // empty, and the retries that join it later are of resolutions in progress (at most
    // max_pending, 8). The worst case, built here with the device refusing every frame,
    // holds max_pending + 1 requests; once the device takes frames again each goes out once.
    let mut ep = endpoint(16);
    let stale = Ipv4Address([198, 18, 0, 50]);
    ep.add_neighbor(T0, stale, EthernetAddress([2, 0, 0, 0, 1, 50]));
    // Past the reachable time (60 s): the entry is stale, used while it is confirmed.
    let t1 = T0 + Duration::from_secs(61);
    let unknown: Vec<Ipv4Address> = (0..8).map(|i| Ipv4Address([198, 18, 0, 60 + i])).collect();
    for &ip in &unknown {
        ep.connect(t1, ip, 80, bufs()).map_err(|(e, _)| e).unwrap();
    }
    let (frames, _) = drain(&mut ep, t1);
    assert_eq!(arp_requests(&frames), unknown, "eight resolutions start");
    // The connection to the stale neighbour: its SYN leaves, and the refresh is due.
    ep.connect(t1, stale, 80, bufs())
        .map_err(|(e, _)| e)
        .unwrap();
    let mut buf = vec![0u8; 2048];
    let Outbound::Frame(syn) = ep.poll_transmit(t1, &mut buf) else {
        panic!("the SYN to the stale neighbour");
    };
    ep.commit(t1, &syn).unwrap();
    // The device refuses everything from here: nothing is committed.
    let asked = |buf: &[u8], f: TxFrame| arp_requests(&[(buf[..f.len].to_vec(), f.meta)]);
    let Outbound::Frame(f) = ep.poll_transmit(t1, &mut buf) else {
        panic!("the refresh");
    };
    assert_eq!(asked(&buf, f), [stale]);
    // A retry interval later the eight resolutions are due again too.
    let t2 = t1 + Duration::from_secs(1);
    let Outbound::Frame(f) = ep.poll_transmit(t2, &mut buf) else {
        panic!("the refresh, still first");
    };
    assert_eq!(asked(&buf, f), [stale]);
    assert_eq!(
        ep.arp_due_len,
        ep.neighbors.max_pending() + 1,
        "the worst case"
    );
    assert!(ep.arp_due_len < ARP_DUE, "with room to spare");
    ep.check_invariants().unwrap();
    // The device takes frames again: the refresh and the eight retries, each once (then the
    // stale entry's next refresh, due with its SYN's retransmission a retry interval on).
    let (frames, _) = drain(&mut ep, t2);
    let mut want = vec![stale];
    want.extend(&unknown);
    let sent = arp_requests(&frames);
    assert_eq!(sent[..want.len()], want[..], "{sent:?}");
    assert_eq!(sent[want.len()..], [stale], "{sent:?}");
    assert_eq!(ep.arp_due_len, 0);
}
