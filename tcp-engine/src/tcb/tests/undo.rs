//! Undoing window reductions shown spurious (`undo`): segment by segment, with exact windows.
//!
//! The sender is the `prr` tests' SACK client (payload MSS 1000, cwnd = ssthresh = 20
//! segments, a flight of 20) or the same with timestamps (MSS 1012: 1000 payload bytes after
//! the option) for Eifel. Segment 0 is overtaken by segments 1 to 3: Limited Transmit sends
//! segments 20 and 21, the third duplicate starts recovery with `ssthresh = FlightSize / 2 =
//! 22 000 / 2 = 11 000` and retransmits segment 0. Whether the cut is undone then depends on
//! what comes back: a D-SACK for segment 0, an echo of the original's timestamp, or neither.

use super::prr::{MSS, s, sack_client};
use super::*;

/// The peer's ACK: cumulative `cum`, SACK blocks `blocks`.
fn sack_ack(cum: u32, blocks: &[(u32, u32)]) -> TcpHeader {
    let mut h = ack(Y + 1, cum, 60000);
    h.options = sack(blocks);
    h
}

/// As [`sack_ack`] with a timestamp option: the peer's TSval `tsval`, echoing `tsecr`.
fn ts_ack(cum: u32, blocks: &[(u32, u32)], tsval: u32, tsecr: u32) -> TcpHeader {
    let mut h = sack_ack(cum, blocks);
    h.options.timestamps = Some((tsval, tsecr));
    h
}

/// A SACK client with timestamps (payload MSS 1000), cwnd = ssthresh = 20 segments, `bytes`
/// written; `sack_on` false leaves SACK off (NewReno, no tail loss probe).
fn ts_client(sack_on: bool, bytes: usize) -> Host {
    let cfg = TcbConfig {
        mss: 1012,
        sack: sack_on,
        timestamps: true,
        ..plain()
    };
    let mut c = Host::client(cfg, ISS, 200_000, 4000);
    let syn = c.send_one().expect("SYN");
    let syn_ts = syn.h.options.timestamps.expect("timestamps offered").0;
    let mut sa = seg(Y, Some(ISS + 1), TcpFlags::SYN, 60000);
    sa.options = syn_opts(1012);
    sa.options.sack_permitted = sack_on;
    sa.options.timestamps = Some((1, syn_ts));
    c.deliver(sa, &[]);
    c.send_all();
    assert_eq!(c.tcb.payload_mss(), MSS);
    c.tcb.cwnd = 20 * MSS;
    c.tcb.set_ssthresh(20 * MSS);
    let data: Vec<u8> = (0..bytes).map(|i| (i * 7 % 251) as u8).collect();
    assert_eq!(c.write(&data), bytes);
    c
}

/// The TSval a segment carried.
fn tsval(x: &Seg) -> u32 {
    x.h.options.timestamps.expect("timestamp option").0
}

/// Sends the flight of 20 and lets segments 1 to 3 overtake segment 0 (each SACKed by its
/// own duplicate ACK, with timestamps when `echo` is given): recovery starts. Returns the
/// flight and what was sent again of segment 0.
fn overtake_segment_0(c: &mut Host, echo: Option<u32>) -> (Vec<Seg>, Option<Seg>) {
    let flight = c.send_all();
    assert_eq!(flight.len(), 20);
    c.advance(Duration::from_millis(5));
    let mut rtx = None;
    for k in 1..=3 {
        let h = match echo {
            Some(e) => ts_ack(s(0), &[(s(1), s(k + 1))], 10 + k, e),
            None => sack_ack(s(0), &[(s(1), s(k + 1))]),
        };
        c.deliver(h, &[]);
        for x in c.send_all() {
            if x.h.seq.0 == s(0) {
                rtx = Some(x);
            }
        }
    }
    assert!(c.tcb.in_recovery());
    (flight, rtx)
}

/// [`overtake_segment_0`] with NewReno: `ssthresh = 22 000 / 2`, the cut recorded. Returns
/// the flight and the fast retransmission.
fn spurious_looking_recovery(c: &mut Host, echo: Option<u32>) -> (Vec<Seg>, Seg) {
    let (flight, rtx) = overtake_segment_0(c, echo);
    assert_eq!(c.tcb.ssthresh(), 11 * MSS, "FlightSize 22 000 / 2");
    assert!(c.loss.undo_pending());
    (flight, rtx.expect("the fast retransmission of segment 0"))
}

/// The NewReno SACK client in [`spurious_looking_recovery`]; returns it and SND.MAX.
fn recovering() -> (Host, u32) {
    let mut c = sack_client(CongestionControl::NewReno, None, 150 * MSS as usize);
    spurious_looking_recovery(&mut c, None);
    let end = c.tcb.snd_max().0;
    (c, end)
}

#[test]
fn a_fast_retransmission_dsacked_after_the_recovery_is_undone() {
    // The original of segment 0 arrives after all, and with it everything: recovery ends at
    // the reduced window.
    let (mut c, end) = recovering();
    let r = c.deliver(sack_ack(end, &[]), &[]);
    assert!(!r.spurious_undone);
    assert!(!c.tcb.in_recovery());
    assert_eq!((c.tcb.cwnd(), c.tcb.ssthresh()), (11 * MSS, 11 * MSS));
    assert!(
        c.loss.undo_pending(),
        "kept for the D-SACK a round trip later"
    );
    // The retransmission arrives: reported as a duplicate below the cumulative ACK.
    let r = c.deliver(sack_ack(end, &[(s(0), s(1))]), &[]);
    assert!(r.dsack_received && r.spurious_undone);
    assert_eq!(
        (c.tcb.cwnd(), c.tcb.ssthresh()),
        (20 * MSS, 20 * MSS),
        "the window before the cut"
    );
    assert_eq!(c.tcb.dup_thresh(), 6, "and the reordering is learnt too");
    assert!(!c.loss.undo_pending());
    assert!(!c.tcb.needs_loss_state(&c.loss), "the state can go back");
    c.check();
}

#[test]
fn a_dsack_during_the_recovery_undoes_when_the_recovery_ends() {
    let (mut c, end) = recovering();
    // Segment 0 arrives twice, after the first three: D-SACK with a partial ACK, which
    // resends the segment at SND.UNA (deviation 12).
    let r = c.deliver(sack_ack(s(4), &[(s(0), s(1))]), &[]);
    assert!(r.dsack_received && !r.spurious_undone);
    let resent: Vec<u32> = c
        .send_all()
        .iter()
        .filter(|x| x.h.seq.lt(SeqNum(end)))
        .map(|x| x.h.seq.0)
        .collect();
    assert_eq!(resent, [s(4)]);
    // That one arrives twice as well, reported by the ACK that ends the recovery.
    assert!(c.tcb.in_recovery());
    let r = c.deliver(sack_ack(end, &[(s(4), s(5))]), &[]);
    assert!(
        r.spurious_undone,
        "the ACK that ends the recovery undoes it"
    );
    assert!(!c.tcb.in_recovery());
    assert_eq!((c.tcb.cwnd(), c.tcb.ssthresh()), (20 * MSS, 20 * MSS));
    c.check();
}

#[test]
fn a_genuine_loss_is_not_undone_and_the_record_is_given_back() {
    let (mut c, end) = recovering();
    // Segment 0 was lost: its retransmission fills the hole, no D-SACK ever comes. A
    // network duplicate of segment 5 (not retransmitted) is reported instead: it counts for
    // nothing.
    c.deliver(sack_ack(end, &[]), &[]);
    let r = c.deliver(sack_ack(end, &[(s(5), s(6))]), &[]);
    assert!(r.dsack_received && !r.spurious_undone);
    assert_eq!((c.tcb.cwnd(), c.tcb.ssthresh()), (11 * MSS, 11 * MSS));
    // More data goes out and is acknowledged beyond what was sent when the episode ended.
    let more = c.send_all();
    assert!(!more.is_empty());
    c.deliver(sack_ack(c.tcb.snd_max().0, &[]), &[]);
    assert!(
        !c.loss.undo_pending(),
        "a round trip later the record is dropped"
    );
    assert!(!c.tcb.needs_loss_state(&c.loss));
    assert_eq!(c.tcb.ssthresh(), 11 * MSS, "the cut stands");
    c.check();
}

#[test]
fn a_record_kept_after_the_flight_drained_ends_with_an_rto() {
    let mut c = sack_client(CongestionControl::NewReno, None, 22 * MSS as usize);
    spurious_looking_recovery(&mut c, None);
    // Everything acknowledged, nothing more to send, no D-SACK: the idle retransmission
    // timer bounds the wait.
    c.deliver(sack_ack(c.tcb.snd_max().0, &[]), &[]);
    assert!(c.send_all().is_empty());
    assert!(c.loss.undo_pending());
    let at = c.tcb.next_deadline().expect("the timer bounds the wait");
    c.advance_to_deadline();
    assert!(c.send_all().is_empty(), "nothing is sent");
    assert_eq!(c.tcb.counters().timeouts, 0);
    assert!(c.now >= at);
    assert!(!c.loss.undo_pending());
    assert_eq!(c.tcb.next_deadline(), None);
    c.check();
}

#[test]
fn eifel_detects_at_the_first_ack_echoing_the_original_and_undoes_at_the_end() {
    let mut c = ts_client(true, 150 * MSS as usize);
    let (flight, rtx) = spurious_looking_recovery(&mut c, Some(1));
    assert!(tsval(&rtx) > tsval(&flight[0]), "5 ms later");
    // The original of segment 0 filled the hole: the ACK echoes its timestamp. The
    // recovery goes on to its end (`recover` = segment 22), at the reduced rate.
    let r = c.deliver(ts_ack(s(4), &[], 20, tsval(&flight[0])), &[]);
    assert!(!r.spurious_undone);
    assert!(c.tcb.in_recovery());
    assert_eq!(c.tcb.dup_thresh(), 6, "Eifel shows the reordering too");
    c.send_all();
    let r = c.deliver(ts_ack(s(22), &[], 21, tsval(&flight[19])), &[]);
    assert!(r.spurious_undone, "undone as the recovery ends");
    assert!(!c.tcb.in_recovery());
    assert_eq!((c.tcb.cwnd(), c.tcb.ssthresh()), (20 * MSS, 20 * MSS));
    assert!(!c.loss.undo_pending());
    c.check();
}

#[test]
fn eifel_keeps_the_cut_when_the_retransmission_filled_the_hole() {
    let mut c = ts_client(true, 150 * MSS as usize);
    let (_, rtx) = spurious_looking_recovery(&mut c, Some(1));
    // The retransmission filled the hole: the echo is its own timestamp.
    let r = c.deliver(ts_ack(s(4), &[], 20, tsval(&rtx)), &[]);
    assert!(!r.spurious_undone);
    assert!(c.tcb.in_recovery());
    assert_eq!(c.tcb.ssthresh(), 11 * MSS);
    c.check();
}

#[test]
fn a_spurious_timeout_is_undone_and_go_back_n_stops() {
    // No SACK: no tail loss probe, the timer fires.
    let mut c = ts_client(false, 150 * MSS as usize);
    let flight = c.send_all();
    assert_eq!(flight.len(), 20);
    c.advance_to_deadline();
    let rtx = c.send_all();
    assert_eq!(c.tcb.counters().timeouts, 1);
    assert_eq!(rtx.len(), 1, "cwnd is one segment");
    assert_eq!(rtx[0].h.seq.0, s(0));
    assert_eq!((c.tcb.cwnd(), c.tcb.ssthresh()), (MSS, 10 * MSS));
    // The ACKs were only late: the first one, for segments 0 to 9, echoes the originals.
    let r = c.deliver(ts_ack(s(10), &[], 20, tsval(&flight[0])), &[]);
    assert!(r.spurious_undone);
    assert_eq!((c.tcb.cwnd(), c.tcb.ssthresh()), (20 * MSS, 20 * MSS));
    // RFC 4015: segments 10 to 19 are not sent again; new data goes.
    let next = c.send_all();
    assert_eq!(next[0].h.seq.0, s(20), "new data, no go-back-N");
    assert_eq!(c.tcb.counters().retransmitted_segments, 1);
    c.check();
}

#[test]
fn a_timeout_whose_retransmission_was_needed_stays_cut() {
    let mut c = ts_client(false, 150 * MSS as usize);
    c.send_all();
    c.advance_to_deadline();
    let rtx = c.send_all();
    let r = c.deliver(ts_ack(s(10), &[], 20, tsval(&rtx[0])), &[]);
    assert!(!r.spurious_undone);
    assert_eq!(c.tcb.ssthresh(), 10 * MSS);
    assert_eq!(c.tcb.cwnd(), 3 * MSS, "slow start from one segment");
}

#[test]
fn a_tail_loss_probe_dsacked_is_undone() {
    let mut c = sack_client(CongestionControl::NewReno, None, 21 * MSS as usize);
    c.send_all();
    c.advance(Duration::from_millis(1));
    // All but the last segment acknowledged (an RTT sample), then silence.
    c.deliver(sack_ack(s(20), &[]), &[]);
    c.send_all();
    let (cwnd, ssthresh) = (c.tcb.cwnd(), c.tcb.ssthresh());
    c.advance_to_deadline();
    let probe = c.send_all();
    assert_eq!(probe.len(), 1);
    assert_eq!(probe[0].h.seq.0, s(20), "the tail loss probe");
    assert!(c.tcb.cwnd() < cwnd, "the probe's reduction");
    // The original arrives, then the probe: a D-SACK.
    c.deliver(sack_ack(s(21), &[]), &[]);
    let r = c.deliver(sack_ack(s(21), &[(s(20), s(21))]), &[]);
    assert!(r.spurious_undone);
    assert_eq!((c.tcb.cwnd(), c.tcb.ssthresh()), (cwnd, ssthresh));
    assert_eq!(
        c.tcb.dup_thresh(),
        3,
        "a probe says nothing about reordering"
    );
    c.check();
}

#[test]
fn cubic_gets_its_w_max_back() {
    let mut c = sack_client(CongestionControl::Cubic, None, 150 * MSS as usize);
    c.tcb.cubic_w_max = 30;
    overtake_segment_0(&mut c, None);
    // Fast convergence: the window at the cut (20) is below the last W_max (30): W_max =
    // 20 * (1 + 0.7) / 2 = 17 segments, ssthresh = 0.7 * 22 000.
    assert_eq!(c.tcb.cubic_w_max, 17);
    assert_eq!(c.tcb.ssthresh(), 15_400);
    let end = c.tcb.snd_max().0;
    c.deliver(sack_ack(end, &[]), &[]);
    let r = c.deliver(sack_ack(end, &[(s(0), s(1))]), &[]);
    assert!(r.spurious_undone);
    assert_eq!((c.tcb.cwnd(), c.tcb.ssthresh()), (20 * MSS, 20 * MSS));
    assert_eq!(c.tcb.cubic_w_max, 30, "W_max before the cut");
    assert!(
        !c.tcb.has(flag::CUBIC_EPOCH),
        "a new epoch from the restored window"
    );
    c.check();
}

#[test]
fn switched_off_nothing_is_recorded_or_undone() {
    let mut c = sack_client(CongestionControl::NewReno, None, 150 * MSS as usize);
    c.cfg.spurious_undo = false;
    overtake_segment_0(&mut c, None);
    assert!(!c.loss.undo_pending());
    let end = c.tcb.snd_max().0;
    c.deliver(sack_ack(end, &[]), &[]);
    let r = c.deliver(sack_ack(end, &[(s(0), s(1))]), &[]);
    assert!(r.dsack_received && !r.spurious_undone);
    assert_eq!(c.tcb.ssthresh(), 11 * MSS);
}

#[test]
fn a_lying_receiver_gets_no_more_than_the_window_before_the_cut() {
    let (mut c, _) = recovering();
    // Segment 4 is lost too and retransmitted in the same recovery.
    c.deliver(sack_ack(s(1), &[(s(5), s(22)), (s(1), s(4))]), &[]);
    let sent = c.send_all();
    assert!(sent.iter().any(|x| x.h.seq.0 == s(4)), "segment 4 resent");
    c.deliver(sack_ack(c.tcb.snd_max().0, &[]), &[]);
    let end = c.tcb.snd_max().0;
    // The liar reports segment 0 twice over and over: each byte counts once, so segment 4's
    // retransmission stays unreported and nothing is undone.
    for _ in 0..5 {
        let r = c.deliver(sack_ack(end, &[(s(0), s(1))]), &[]);
        assert!(!r.spurious_undone);
    }
    // D-SACKs for what lies beyond the retransmissions count for nothing either.
    let r = c.deliver(sack_ack(end, &[(s(6), s(19))]), &[]);
    assert!(!r.spurious_undone);
    assert_eq!(c.tcb.ssthresh(), 11 * MSS);
    // Claiming segment 4 too undoes the cut, to the window before it and no further, however
    // often it is said.
    let r = c.deliver(sack_ack(end, &[(s(4), s(5))]), &[]);
    assert!(r.spurious_undone);
    assert_eq!((c.tcb.cwnd(), c.tcb.ssthresh()), (20 * MSS, 20 * MSS));
    for _ in 0..5 {
        let r = c.deliver(sack_ack(end, &[(s(0), s(5))]), &[]);
        assert!(!r.spurious_undone);
    }
    assert_eq!((c.tcb.cwnd(), c.tcb.ssthresh()), (20 * MSS, 20 * MSS));
    c.check();
}

#[test]
fn a_forged_old_echo_restores_at_most_the_window_before_the_cut() {
    let mut c = ts_client(true, 150 * MSS as usize);
    let (_, rtx) = spurious_looking_recovery(&mut c, Some(1));
    // A liar echoes a timestamp older than anything: Eifel undoes at the end of the
    // recovery, to the window of before.
    let old = tsval(&rtx).wrapping_sub(1_000_000);
    c.deliver(ts_ack(s(4), &[], 20, old), &[]);
    c.send_all();
    let r = c.deliver(ts_ack(s(22), &[], 21, old), &[]);
    assert!(r.spurious_undone);
    assert_eq!((c.tcb.cwnd(), c.tcb.ssthresh()), (20 * MSS, 20 * MSS));
    // Later old echoes find nothing to undo.
    for k in 0..5 {
        let r = c.deliver(ts_ack(s(23 + k), &[], 22 + k, 0), &[]);
        assert!(!r.spurious_undone);
    }
    assert!(c.tcb.cwnd() <= 20 * MSS + 5 * MSS, "only ordinary growth");
    assert_eq!(c.tcb.ssthresh(), 20 * MSS);
}

#[test]
fn an_undo_in_the_initial_slow_start_restores_no_hystart_state() {
    // HyStart++ keeps its state in `ssthresh` (above MAX_CWND) and in CUBIC's W_max while
    // the initial slow start runs. A timeout there, shown spurious, must bring back the
    // plain initial window (slow start, ssthresh at its initial value, no W_max), not that
    // overlay: HyStart++ does not run again after the first cut.
    for congestion in [CongestionControl::NewReno, CongestionControl::Cubic] {
        let cfg = TcbConfig {
            mss: 1012,
            sack: false,
            timestamps: true,
            congestion,
            ..plain()
        };
        assert!(cfg.hystart.is_some(), "HyStart++ is on by default");
        let mut c = Host::client(cfg, ISS, 200_000, 4000);
        let syn = c.send_one().expect("SYN");
        let syn_ts = syn.h.options.timestamps.expect("timestamps offered").0;
        let mut sa = seg(Y, Some(ISS + 1), TcpFlags::SYN, 60000);
        sa.options = syn_opts(1012);
        sa.options.timestamps = Some((1, syn_ts));
        c.deliver(sa, &[]);
        c.send_all();
        c.tcb.cwnd = 20 * MSS;
        assert_eq!(c.tcb.hystart_phase(), Some(HyStartPhase::SlowStart));
        let data: Vec<u8> = (0..150 * MSS as usize).map(|i| (i % 251) as u8).collect();
        c.write(&data);
        let flight = c.send_all();
        assert_eq!(flight.len(), 20);
        c.advance_to_deadline();
        c.send_all();
        assert_eq!(c.tcb.counters().timeouts, 1);
        assert_eq!(c.tcb.hystart_phase(), None, "the timeout ended HyStart++");
        let r = c.deliver(ts_ack(s(10), &[], 20, tsval(&flight[0])), &[]);
        assert!(r.spurious_undone, "{congestion:?}");
        assert_eq!(c.tcb.cwnd(), 20 * MSS, "{congestion:?}");
        assert_eq!(
            c.tcb.ssthresh,
            crate::tcb::congestion::MAX_CWND,
            "{congestion:?}: the initial ssthresh"
        );
        assert_eq!(
            c.tcb.hystart_phase(),
            None,
            "{congestion:?}: no HyStart++ again"
        );
        assert_eq!(
            c.tcb.cubic_w_max, 0,
            "{congestion:?}: no W_max before any loss"
        );
        c.check();
    }
}
