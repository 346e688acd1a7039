//! Bounds of one connection under a hostile or stuck peer: a receive window closed for a day
//! (persist, with the peer answering and with the peer gone), out-of-order ranges and the
//! SACK scoreboard under worst-case blocks. Each asserts what the connection shows (probes,
//! counters, drop reasons, its state) and that it recovers when the pressure goes.

use super::*;
use crate::tcb::reasm::MAX_OOO_RANGES;
use crate::tcb::scoreboard::SCOREBOARD_RANGES;

#[test]
fn a_window_closed_for_a_day_is_probed_at_most_every_rto_max_and_never_given_up() {
    // RFC 1122 4.2.2.17: while the peer answers its probes, the connection lives however long
    // the window stays closed; the probes back off to the maximum RTO and stay there.
    let mut c = window_closed_with_data_waiting();
    let start = c.now;
    let day = Duration::from_secs(24 * 3600);
    let mut probes = 0u32;
    let mut last_gap = Duration::ZERO;
    while c.now < start + day {
        let before = c.now;
        c.advance_to_deadline();
        let gap = c.now - before;
        assert!(
            gap <= c.cfg.rto_max,
            "a probe interval beyond rto_max: {gap:?}"
        );
        assert!(gap >= last_gap, "the backoff never shrinks while closed");
        last_gap = gap;
        let out = c.send_all();
        assert_eq!(out.len(), 1, "one probe per expiry");
        assert_eq!((out[0].h.seq.0, out[0].data.len()), (ISS + 2001, 1));
        probes += 1;
        c.deliver(ack(Y + 1, ISS + 2001, 0), &[]);
        assert_eq!(c.tcb.state(), State::Established);
    }
    // A day at 120 s between probes, after a few doublings from 1 s.
    let at_most = (day.micros() / c.cfg.rto_max.micros()) as u32 + 8;
    assert!(probes <= at_most, "{probes} probes");
    assert_eq!(c.tcb.counters().window_probes, probes);
    assert_eq!(c.tcb.counters().timeouts, 0);
    // The window opens: the rest goes at once.
    c.deliver(ack(Y + 1, ISS + 2001, 4000), &[]);
    let out = c.send_all();
    assert_eq!(out.iter().map(|s| s.data.len()).sum::<usize>(), 3000);
    c.deliver(ack(Y + 1, ISS + 5001, 4000), &[]);
    assert_eq!(c.tcb.snd_una(), c.tcb.snd_max());
}

#[test]
fn a_window_closed_by_a_peer_that_then_vanishes_times_out() {
    // Probes nobody answers are retransmissions: after `max_retransmissions` the connection
    // closes (TimedOut) instead of probing forever.
    let mut c = established(plain(), 10000, 4000, 2000);
    c.write(&[9; 5000]);
    c.send_all();
    c.deliver(ack(Y + 1, ISS + 2001, 0), &[]);
    let start = c.now;
    let mut expiries = 0;
    while c.tcb.state() != State::Closed {
        c.advance_to_deadline();
        c.send_all();
        expiries += 1;
        assert!(expiries <= 64, "never gave up");
    }
    assert_eq!(c.tcb.close_reason(), CloseReason::TimedOut);
    assert_eq!(c.tcb.next_deadline(), None);
    let took = c.now - start;
    assert!(
        took.micros() <= c.cfg.rto_max.micros() * (u64::from(c.cfg.max_retransmissions) + 2),
        "{took:?}"
    );
}

#[test]
fn a_fifth_out_of_order_range_is_dropped_counted_and_room_returns_as_holes_fill() {
    let mut c = established(plain(), 1000, 20000, 10000);
    // Four disjoint ranges with holes between them, then a fifth.
    let at = |k: u32| Y + 1 + 1000 * k;
    for k in 0..MAX_OOO_RANGES as u32 {
        let r = c.deliver(ack(at(2 * k + 1), ISS + 1, 10000), &[k as u8; 1000]);
        assert_eq!(r.dropped, None);
    }
    let r = c.deliver(ack(at(9), ISS + 1, 10000), &[9; 1000]);
    assert_eq!(r.dropped, Some(DropReason::ReassemblyFull));
    assert_eq!(c.tcb.counters().dropped_segments, 1, "counted");
    assert_eq!(c.loss.reasm.ranges().len(), MAX_OOO_RANGES);
    c.send_all();
    // A segment joining two ranges fits (it needs no new range).
    let r = c.deliver(ack(at(2), ISS + 1, 10000), &[1; 1000]);
    assert_eq!(r.dropped, None);
    // The first hole fills: three ranges become in-order data, room for more.
    c.deliver(ack(at(0), ISS + 1, 10000), &[0; 1000]);
    assert_eq!(c.tcb.rcv_nxt(), SeqNum(at(4)));
    let r = c.deliver(ack(at(9), ISS + 1, 10000), &[9; 1000]);
    assert_eq!(r.dropped, None, "the fifth range is kept now");
    for k in [4, 6, 8] {
        c.deliver(ack(at(k), ISS + 1, 10000), &[k as u8; 1000]);
    }
    assert_eq!(c.tcb.rcv_nxt(), SeqNum(at(10)));
    assert_eq!(c.read_all().len(), 10_000);
}

#[test]
fn hostile_sack_blocks_keep_the_scoreboard_bounded_and_recovery_correct() {
    // Every ACK carries four SACK blocks: disjoint ones that would need more ranges than the
    // scoreboard has, inverted ones, ones beyond SND.MAX or below SND.UNA, and wrapping ones.
    let mut c = super::scenarios::established_sack_buffers(40_000, 4000);
    c.write(&[4; 20_000]);
    let sent = c.send_all();
    assert!(!sent.is_empty());
    let una = ISS + 1;
    let max = c.tcb.snd_max().0;
    for round in 0..2000u32 {
        let k = round % 8;
        let blocks = [
            (una + 1000 * (2 * k + 1), una + 1000 * (2 * k + 2)),
            (una + 1000 * (2 * k + 3) + 500, una + 1000 * (2 * k + 3)), // inverted
            (max + 1000, max + 5000),                                   // beyond SND.MAX
            (una.wrapping_sub(0x8000_0000), una.wrapping_add(0x7fff_0000)), // wraps
        ];
        let mut h = ack(Y + 1, una, 60000);
        h.options = sack(&blocks);
        c.deliver(h, &[]);
        assert!(c.loss.sb.ranges().len() <= SCOREBOARD_RANGES);
        c.send_all();
    }
    // The peer finally acknowledges everything: the scoreboard empties, all data arrives.
    for _ in 0..100 {
        let end = c.tcb.snd_max().0;
        c.deliver(ack(Y + 1, end, 60000), &[]);
        assert!(c.loss.sb.ranges().is_empty());
        if c.send_all().is_empty() {
            break;
        }
    }
    assert_eq!(c.tcb.snd_una(), c.tcb.snd_max());
    assert_eq!(c.tcb.snd_una().0, ISS + 1 + 20_000);
}

#[test]
fn a_closing_connection_probing_a_closed_window_lives_while_the_peer_answers() {
    // The count of unanswered probes starts over with every answer in FIN-WAIT-1 too.
    let mut c = established(plain(), 10000, 4000, 2000);
    c.write(&[9; 5000]);
    c.tcb.close(&c.snd);
    c.send_all();
    c.deliver(ack(Y + 1, ISS + 2001, 0), &[]);
    assert_eq!(c.tcb.state(), State::FinWait1);
    for _ in 0..3 * u32::from(c.cfg.max_retransmissions) {
        c.advance_to_deadline();
        assert_eq!(c.send_all().len(), 1, "a probe");
        c.deliver(ack(Y + 1, ISS + 2001, 0), &[]);
        assert_eq!(c.tcb.state(), State::FinWait1);
    }
    // The window opens: the data and the FIN go.
    c.deliver(ack(Y + 1, ISS + 2001, 4000), &[]);
    let out = c.send_all();
    assert_eq!(out.iter().map(|s| s.data.len()).sum::<usize>(), 3000);
    assert!(out.last().unwrap().h.flags.fin());
}

#[test]
fn persist_after_unanswered_keepalive_probes_counts_its_own_probes_from_zero() {
    // Reviewer: keepalive and persist share the `keepalive_probes` count. The peer closed its
    // window, the connection went idle and sent keepalive probes nobody answered; then the
    // application writes. Persist must still send `max_retransmissions` zero-window probes
    // before it gives up (it gave up at its first expiry, sending none).
    let cfg = with_keepalive(3);
    let mut c = established(cfg, 10000, 4000, 4000);
    c.write(&[1; 500]);
    assert_eq!(c.send_all().len(), 1);
    c.deliver(ack(Y + 1, ISS + 501, 0), &[]);
    for _ in 0..5 {
        c.advance_to_deadline();
        let out = c.send_all();
        assert_eq!(out.len(), 1, "a keepalive probe");
        assert!(out[0].data.is_empty());
    }
    c.write(&[2; 500]);
    assert!(c.send_all().is_empty(), "the window is closed");
    let mut probes = 0;
    while c.tcb.state() != State::Closed {
        c.advance_to_deadline();
        let out = c.send_all();
        assert!(out.len() <= 1);
        probes += out.len();
        assert!(probes <= 64, "never gave up");
    }
    assert_eq!(c.tcb.close_reason(), CloseReason::TimedOut);
    assert_eq!(probes, 3, "max_retransmissions zero-window probes");
}

/// Plans what the connection wants to send at `c.now` and reports it could not leave (no
/// route, neighbour unreachable): [`Tcb::unsendable`], as the endpoint calls it.
fn cannot_leave(c: &mut Host) -> Option<TxPlan> {
    let plan = c
        .tcb
        .poll_transmit(&c.cfg, c.now, &c.snd, &c.rcv, &mut c.loss);
    c.tcb.unsendable(&c.cfg, c.now);
    plan
}

#[test]
fn data_that_can_never_leave_with_nothing_in_flight_backs_off_and_times_out() {
    // Reviewer: data written to an idle connection whose next hop stays unreachable. The
    // retransmission timer `unsendable` arms retried it every (unbacked) RTO forever; like a
    // retransmission it must back off and end TimedOut after `max_retransmissions`.
    let mut c = established_giving_up_after(4);
    c.write(&[1; 1000]);
    let mut gaps = Vec::new();
    while c.tcb.state() != State::Closed {
        let plan = cannot_leave(&mut c);
        if c.tcb.state() == State::Closed {
            break;
        }
        assert!(
            plan.is_some_and(|p| p.payload_len == 1000),
            "the data again"
        );
        let before = c.now;
        c.advance_to_deadline();
        gaps.push(c.now - before);
        assert!(gaps.len() <= 64, "never gave up: {gaps:?}");
    }
    assert_timed_out_after_backed_off_tries(&c, &gaps, 4);
}

#[test]
fn a_keepalive_probe_that_can_never_leave_backs_off_and_times_out() {
    let cfg = with_keepalive(3);
    let mut c = established(cfg, 10000, 4000, 4000);
    c.advance_to_deadline();
    let mut tries = 0;
    while c.tcb.state() != State::Closed {
        let plan = cannot_leave(&mut c);
        if c.tcb.state() == State::Closed {
            break;
        }
        assert_eq!(plan.map(|p| p.kind), Some(SegmentKind::Keepalive));
        tries += 1;
        assert!(tries <= 64, "never gave up");
        c.advance_to_deadline();
    }
    assert_eq!(tries, 4, "the first try and one per backed-off RTO");
    assert_eq!(c.tcb.close_reason(), CloseReason::TimedOut);
}

/// [`plain`] with keepalive (60 s idle, 10 s between probes, 9 probes) and
/// `max_retransmissions`.
fn with_keepalive(max_retransmissions: u8) -> TcbConfig {
    TcbConfig {
        max_retransmissions,
        keepalive: Some(crate::tcb::Keepalive {
            idle: Duration::from_secs(60),
            interval: Duration::from_secs(10),
            probes: 9,
        }),
        ..plain()
    }
}

#[test]
fn keepalive_after_a_persist_episode_counts_its_own_probes_from_zero() {
    // The reverse of the test above: persist probes went unanswered for a while, then the
    // peer opened its window, took the data and went silent. Keepalive must send all its
    // probes before it gives up (KeepaliveTimedOut), not the ones persist left over.
    let mut c = established(with_keepalive(3), 10000, 4000, 4000);
    c.write(&[1; 500]);
    assert_eq!(c.send_all().len(), 1);
    c.deliver(ack(Y + 1, ISS + 501, 0), &[]);
    c.write(&[2; 500]);
    assert!(c.send_all().is_empty(), "the window is closed");
    for _ in 0..2 {
        c.advance_to_deadline();
        assert_eq!(c.send_all().len(), 1, "an unanswered zero-window probe");
    }
    c.deliver(ack(Y + 1, ISS + 501, 4000), &[]);
    let out = c.send_all();
    assert_eq!(out.iter().map(|s| s.data.len()).sum::<usize>(), 500);
    c.deliver(ack(Y + 1, ISS + 1001, 4000), &[]);
    let mut probes = 0;
    while c.tcb.state() != State::Closed {
        c.advance_to_deadline();
        let out = c.send_all();
        assert!(
            out.iter().all(|s| s.data.is_empty()),
            "keepalive probes only"
        );
        probes += out.len();
        assert!(probes <= 64, "never gave up");
    }
    assert_eq!(c.tcb.close_reason(), CloseReason::KeepaliveTimedOut);
    assert_eq!(probes, 9, "all the keepalive probes");
}

#[test]
fn a_zero_window_probe_that_cannot_leave_once_does_not_end_a_connection_the_peer_answers() {
    // Reviewer: the peer answered every probe for a long while (the RTO backoff grew past
    // max_retransmissions: answers acknowledge nothing new, so nothing resets it); then one
    // probe could not leave (neighbour busy for a moment). The retransmission timer that
    // waited for it took it for a data timeout and closed the connection (TimedOut) at once.
    // It is one unanswered probe: persist goes on.
    let mut c = window_closed_with_data_waiting();
    for _ in 0..20 {
        c.advance_to_deadline();
        assert_eq!(c.send_all().len(), 1);
        c.deliver(ack(Y + 1, ISS + 2001, 0), &[]);
    }
    assert!(c.tcb.rtt.backoff() >= c.cfg.max_retransmissions);
    c.advance_to_deadline();
    let plan = cannot_leave(&mut c);
    assert_eq!(plan.map(|p| p.kind), Some(SegmentKind::WindowProbe));
    for _ in 0..5 {
        c.advance_to_deadline();
        let out = c.send_all();
        assert_eq!(
            c.tcb.state(),
            State::Established,
            "one probe lost to the host"
        );
        assert!(out.len() <= 1);
        for s in &out {
            assert_eq!(
                (s.h.seq.0, s.data.len()),
                (ISS + 2001, 1),
                "the probe again"
            );
        }
        c.deliver(ack(Y + 1, ISS + 2001, 0), &[]);
    }
    assert_eq!(c.tcb.counters().timeouts, 0, "no data timed out");
    // The window opens: the rest goes.
    c.deliver(ack(Y + 1, ISS + 2001, 4000), &[]);
    let out = c.send_all();
    assert_eq!(out.iter().map(|s| s.data.len()).sum::<usize>(), 3000);
}

/// An established connection (plain config) that sent 2000 of 5000 bytes written, all
/// acknowledged by a peer that closed its window: 3000 bytes wait, nothing in flight.
fn window_closed_with_data_waiting() -> Host {
    let mut c = established(plain(), 10000, 4000, 2000);
    c.write(&[9; 5000]);
    assert_eq!(c.send_all().len(), 2);
    c.deliver(ack(Y + 1, ISS + 2001, 0), &[]);
    c
}

/// An established connection ([`plain`]) that gives up after `max_retransmissions`.
fn established_giving_up_after(max_retransmissions: u8) -> Host {
    let cfg = TcbConfig {
        max_retransmissions,
        ..plain()
    };
    established(cfg, 10000, 4000, 4000)
}

/// Checks that `c` ended TimedOut with no deadline left, after tries of a segment that could
/// never leave spaced `gaps` apart: the initial RTO, doubled at each of `max_retransmissions`
/// expiries.
fn assert_timed_out_after_backed_off_tries(c: &Host, gaps: &[Duration], max_retransmissions: u32) {
    assert_eq!(c.tcb.close_reason(), CloseReason::TimedOut);
    assert_eq!(c.tcb.next_deadline(), None);
    let rto = c.cfg.rto_initial;
    let expected: Vec<Duration> = (0..=max_retransmissions)
        .map(|k| rto.saturating_shl(k))
        .collect();
    assert_eq!(gaps, expected, "one try per backed-off RTO, then the end");
}

/// Drives `c`, whose only output is a bare ACK (`what`), through tries that can never leave:
/// the gaps between tries until the connection closes (at most 64 tries).
fn gaps_of_an_ack_that_can_never_leave(c: &mut Host, what: &str) -> Vec<Duration> {
    let mut gaps = Vec::new();
    loop {
        let plan = cannot_leave(c);
        if c.tcb.state() == State::Closed {
            return gaps;
        }
        assert_eq!(plan.map(|p| p.kind), Some(SegmentKind::Ack), "{what} again");
        assert_eq!(plan.map(|p| p.payload_len), Some(0), "{what}: no payload");
        let before = c.now;
        c.advance_to_deadline();
        gaps.push(c.now - before);
        assert!(
            gaps.len() <= 64,
            "{what} that can never leave is tried without end: {:?}...",
            &gaps[..8]
        );
    }
}

#[test]
fn a_window_update_that_can_never_leave_backs_off_and_times_out() {
    // The application frees receive space on an otherwise idle connection whose next hop
    // stays unreachable: the window update (no data, FIN, probe or owed ACK) is all the
    // connection has to send. Like the owed ACK below, it must back off and end TimedOut
    // after `max_retransmissions`, not be tried every RTO forever.
    let mut c = established_giving_up_after(4);
    for i in 0..3u32 {
        c.deliver(ack(Y + 1 + 1000 * i, ISS + 1, 4000), &[5; 1000]);
    }
    c.send_all();
    while c.tcb.next_deadline().is_some() {
        c.advance_to_deadline();
        c.send_all();
    }
    let acked = c.send_all();
    assert!(acked.is_empty(), "every ACK went out: {acked:?}");
    assert_eq!(c.read_all().len(), 3000, "the application reads it all");
    let gaps = gaps_of_an_ack_that_can_never_leave(&mut c, "the window update");
    assert_timed_out_after_backed_off_tries(&c, &gaps, 4);
    assert_eq!(c.tcb.counters().timeouts, 4);
}

#[test]
fn an_owed_ack_that_can_never_leave_backs_off_and_times_out() {
    // An out-of-order segment owes an immediate ACK (RFC 5681 4.2); the next hop stays
    // unreachable. The owed ACK backs off and ends TimedOut (f81b687 made it so; pinned here).
    let mut c = established_giving_up_after(4);
    c.deliver(ack(Y + 1 + 1000, ISS + 1, 4000), &[5; 1000]);
    let gaps = gaps_of_an_ack_that_can_never_leave(&mut c, "the owed ACK");
    assert_timed_out_after_backed_off_tries(&c, &gaps, 4);
}
