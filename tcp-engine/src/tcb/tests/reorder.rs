//! Reordering learnt from D-SACKs, segment by segment: a SACK sender (the `prr` tests' client:
//! MSS 1000, a flight of 20 segments, more data waiting) whose fast retransmission the
//! receiver reports as a duplicate (RFC 2883 D-SACK) raises its DupThresh from 3 to 6; a tail
//! loss probe's D-SACK does not; with DupThresh 6 a segment overtaken by five others is not
//! retransmitted (and Limited Transmit sends a new segment on every one of those duplicates),
//! while one overtaken by six is, by the duplicate-ACK trigger and `IsLost` alike; a
//! retransmission timeout sets the threshold back to 3.

use super::prr::{MSS, s, sack_client};
use super::*;

/// The peer's ACK: cumulative `cum`, SACK blocks `blocks`.
fn sack_ack(cum: u32, blocks: &[(u32, u32)]) -> TcpHeader {
    let mut h = ack(Y + 1, cum, 60000);
    h.options = sack(blocks);
    h
}

/// Segments `first..=last` SACKed above a hole at `hole`, one ACK per segment (each a
/// duplicate of `hole`), sending after each; returns the segments sent after each ACK.
fn overtake(c: &mut Host, hole: u32, first: u32, last: u32) -> Vec<Vec<Seg>> {
    (first..=last)
        .map(|k| {
            c.deliver(sack_ack(s(hole), &[(s(first), s(k + 1))]), &[]);
            c.send_all()
        })
        .collect()
}

/// Segment numbers (of `s`) of what was sent.
fn numbers(out: &[Seg]) -> Vec<u32> {
    out.iter().map(|x| (x.h.seq.0 - s(0)) / MSS).collect()
}

/// A sender whose DupThresh is 6: segment 0 of its first flight arrived after segments 1 to
/// 3, the fast retransmission it drew came back as a D-SACK after the recovery ended.
fn learnt_once() -> Host {
    let mut c = sack_client(CongestionControl::NewReno, None, 150 * MSS as usize);
    c.cfg.rto_min = Duration::from_millis(200);
    assert_eq!(c.tcb.dup_thresh(), 3);
    assert_eq!(c.send_all().len(), 20);
    let out = overtake(&mut c, 0, 1, 3);
    // RFC 3042 Limited Transmit on the first two duplicates, then fast retransmit.
    assert_eq!(numbers(&out[0]), [20]);
    assert_eq!(numbers(&out[1]), [21]);
    assert!(c.tcb.in_recovery());
    assert_eq!(
        numbers(&out[2])[0],
        0,
        "fast retransmission: {:?}",
        numbers(&out[2])
    );
    assert_eq!(c.tcb.counters().retransmitted_segments, 1);
    // Segment 0 arrives after all and so does everything else: the recovery ends.
    let end = c.tcb.snd_max().0;
    c.deliver(sack_ack(end, &[]), &[]);
    assert!(!c.tcb.in_recovery());
    assert_eq!(c.tcb.dup_thresh(), 3, "nothing learnt before the D-SACK");
    // Then the retransmission arrives: a duplicate, reported below the cumulative ACK.
    let r = c.deliver(sack_ack(end, &[(s(0), s(1))]), &[]);
    assert!(r.dsack_received);
    assert_eq!(c.tcb.dup_thresh(), 6, "the recovery was spurious");
    // A second D-SACK for the same recovery does not raise it again.
    c.deliver(sack_ack(end, &[(s(0), s(1))]), &[]);
    assert_eq!(c.tcb.dup_thresh(), 6, "one step per recovery");
    c
}

#[test]
fn a_spurious_fast_retransmission_raises_dup_thresh() {
    learnt_once();
}

#[test]
fn without_adaptive_reordering_dup_thresh_stays_3() {
    let mut c = sack_client(CongestionControl::NewReno, None, 150 * MSS as usize);
    c.cfg.adaptive_reordering = false;
    c.send_all();
    overtake(&mut c, 0, 1, 3);
    assert!(c.tcb.in_recovery());
    c.send_all();
    let end = c.tcb.snd_max().0;
    c.deliver(sack_ack(end, &[]), &[]);
    assert!(
        c.deliver(sack_ack(end, &[(s(0), s(1))]), &[])
            .dsack_received
    );
    assert_eq!(c.tcb.dup_thresh(), 3);
}

#[test]
fn a_tail_loss_probe_dsack_does_not_raise_dup_thresh() {
    let mut c = sack_client(CongestionControl::NewReno, None, 40 * MSS as usize);
    assert_eq!(c.send_all().len(), 20);
    // Segment 0 is lost: a recovery repairs it (its retransmission is no duplicate), then all
    // is acknowledged a millisecond later (an RTT sample for the probe timeout).
    overtake(&mut c, 0, 1, 3);
    assert!(c.tcb.in_recovery());
    c.send_all();
    c.advance(Duration::from_millis(1));
    // Everything sent so far acknowledged; the rest of the data goes.
    c.deliver(sack_ack(c.tcb.snd_max().0, &[]), &[]);
    assert!(!c.tcb.in_recovery());
    c.send_all();
    // All but the last segment acknowledged until nothing more goes out.
    let tail = loop {
        let tail = (c.tcb.snd_max().0 - s(0)) / MSS - 1;
        c.deliver(sack_ack(s(tail), &[]), &[]);
        if c.send_all().is_empty() {
            break tail;
        }
    };
    assert_eq!(tail, 39);
    // No ACK for the last segment: the probe timeout sends it again.
    let rtx = c.tcb.counters().retransmitted_segments;
    c.advance_to_deadline();
    let probe = c.send_all();
    assert_eq!(numbers(&probe), [tail], "the tail loss probe");
    assert_eq!(c.tcb.counters().retransmitted_segments, rtx + 1);
    // The original and the probe both arrive: the probe's D-SACK says nothing about
    // reordering.
    c.deliver(sack_ack(s(tail + 1), &[]), &[]);
    let r = c.deliver(sack_ack(s(tail + 1), &[(s(tail), s(tail + 1))]), &[]);
    assert!(r.dsack_received);
    assert_eq!(c.tcb.dup_thresh(), 3);
}

#[test]
fn a_network_duplicate_before_any_recovery_does_not_raise_dup_thresh() {
    let mut c = sack_client(CongestionControl::NewReno, None, 40 * MSS as usize);
    c.send_all();
    c.deliver(sack_ack(s(20), &[]), &[]);
    // Segment 3 came twice (the network duplicated it): no retransmission of ours.
    assert!(
        c.deliver(sack_ack(s(20), &[(s(3), s(4))]), &[])
            .dsack_received
    );
    assert_eq!(c.tcb.dup_thresh(), 3);
}

#[test]
fn learnt_reordering_rides_out_depth_five_but_repairs_a_real_loss() {
    let mut c = learnt_once();
    // A fresh flight of 20 segments from where the sender stands.
    let base = (c.tcb.snd_max().0 - s(0)) / MSS;
    c.tcb.cwnd = 20 * MSS;
    let flight = c.send_all();
    assert_eq!(numbers(&flight), (base..base + 20).collect::<Vec<_>>());
    let rtx = c.tcb.counters().retransmitted_segments;
    // Segment `base` is overtaken by five: five duplicates, five SACKed segments (not more
    // than (6 - 1) * SMSS bytes above it), no recovery.
    let out = overtake(&mut c, base, base + 1, base + 5);
    assert!(!c.tcb.in_recovery());
    assert_eq!(c.tcb.counters().retransmitted_segments, rtx);
    // Limited Transmit up to DupThresh - 1 duplicates (RFC 4653's extension): a new segment
    // for every one of them.
    for (i, sent) in out.iter().enumerate() {
        assert_eq!(
            numbers(sent),
            [base + 20 + i as u32],
            "after duplicate {}",
            i + 1
        );
    }
    // Then it arrives: nothing was retransmitted, the window is whole.
    let cwnd = c.tcb.cwnd;
    c.deliver(sack_ack(s(base + 6), &[]), &[]);
    assert!(c.tcb.cwnd >= cwnd, "no reduction");
    assert_eq!(c.tcb.counters().retransmitted_segments, rtx);
    c.send_all();

    // A real loss: segment `lost` never arrives and six segments overtake it.
    let lost = (c.tcb.snd_una().0 - s(0)) / MSS;
    let out = overtake(&mut c, lost, lost + 1, lost + 5);
    assert!(!c.tcb.in_recovery(), "five are not enough");
    assert!(out.iter().all(|o| numbers(o).iter().all(|&k| k > lost)));
    c.deliver(sack_ack(s(lost), &[(s(lost + 1), s(lost + 7))]), &[]);
    assert!(c.tcb.in_recovery(), "the sixth duplicate starts recovery");
    let sent = c.send_all();
    assert_eq!(
        numbers(&sent)[0],
        lost,
        "fast retransmission of the lost segment"
    );
    assert_eq!(c.tcb.counters().retransmitted_segments, rtx + 1);
}

#[test]
fn is_lost_uses_the_learnt_threshold() {
    let mut c = learnt_once();
    let base = (c.tcb.snd_max().0 - s(0)) / MSS;
    c.tcb.cwnd = 20 * MSS;
    c.send_all();
    // One ACK (a receiver that coalesces) SACKs five segments above `base`: not lost with
    // DupThresh 6 (5 * SMSS is not more than (6 - 1) * SMSS) ...
    c.deliver(sack_ack(s(base), &[(s(base + 1), s(base + 6))]), &[]);
    assert!(!c.tcb.in_recovery());
    // ... six are (one more SACKed segment: new SACK information, RFC 6675 section 5).
    c.deliver(sack_ack(s(base), &[(s(base + 1), s(base + 7))]), &[]);
    assert!(c.tcb.in_recovery());
    assert_eq!(numbers(&c.send_all())[0], base);
}

#[test]
fn a_timeout_with_sacked_data_resets_dup_thresh() {
    let mut c = learnt_once();
    let base = (c.tcb.snd_max().0 - s(0)) / MSS;
    c.tcb.cwnd = 20 * MSS;
    c.send_all();
    // Three segments SACKed above `base`: recovery would have started with DupThresh 3.
    c.deliver(sack_ack(s(base), &[(s(base + 1), s(base + 4))]), &[]);
    assert!(!c.tcb.in_recovery());
    // Nothing more arrives: the probe, then the retransmission timeout.
    c.send_all();
    while c.tcb.counters().timeouts == 0 {
        c.advance_to_deadline();
        c.send_all();
    }
    assert_eq!(
        c.tcb.dup_thresh(),
        3,
        "the timeout forgets the reordering learnt"
    );
}
