//! Proportional Rate Reduction (RFC 9937) in SACK recovery, segment by segment: a sender with
//! a flight of 20 segments and more data waiting, a receiver model that acknowledges every
//! arriving segment at once with SACK blocks, and a FIFO path (a retransmission arrives after
//! everything sent before it, one round trip later). No clock advances unless the path runs
//! dry, so no timer fires by accident.

use super::*;
use crate::device::TsoCaps;
use std::collections::VecDeque;

pub(super) const MSS: u32 = 1000;

/// Sequence number of segment `k` of the transfer.
pub(super) fn s(k: u32) -> u32 {
    ISS + 1 + MSS * k
}

/// A SACK client (MSS 1000, no timestamps) with `cwnd` set to 20 segments in congestion
/// avoidance and `bytes` written.
pub(super) fn sack_client(
    congestion: CongestionControl,
    tso: Option<TsoCaps>,
    bytes: usize,
) -> Host {
    let cfg = TcbConfig {
        sack: true,
        congestion,
        tso,
        ..plain()
    };
    let mut c = Host::client(cfg, ISS, 200_000, 4000);
    c.send_one().expect("SYN");
    let mut sa = seg(Y, Some(ISS + 1), TcpFlags::SYN, 60000);
    sa.options = syn_opts(1000);
    sa.options.sack_permitted = true;
    c.deliver(sa, &[]);
    c.send_all();
    c.tcb.cwnd = 20 * MSS;
    c.tcb.set_ssthresh(20 * MSS);
    let data: Vec<u8> = (0..bytes).map(|i| (i * 7 % 251) as u8).collect();
    assert_eq!(c.write(&data), bytes);
    c
}

/// The receiver: the byte ranges it holds above ISS + 1, merged.
#[derive(Default)]
struct Receiver {
    ranges: Vec<(u32, u32)>,
}

impl Receiver {
    fn take(&mut self, from: u32, to: u32) {
        let (mut lo, mut hi) = (from, to);
        let mut kept = Vec::new();
        for &(a, b) in &self.ranges {
            if b < lo || a > hi {
                kept.push((a, b));
            } else {
                lo = lo.min(a);
                hi = hi.max(b);
            }
        }
        kept.push((lo, hi));
        kept.sort_unstable();
        self.ranges = kept;
    }

    /// The ACK for what it holds: cumulative up to the first hole, the ranges above it as
    /// SACK blocks (at most four).
    fn ack(&self) -> TcpHeader {
        let cum = match self.ranges.first() {
            Some(&(a, b)) if a <= ISS + 1 => b,
            _ => ISS + 1,
        };
        let blocks: Vec<(u32, u32)> = self
            .ranges
            .iter()
            .filter(|r| r.0 > cum)
            .take(4)
            .copied()
            .collect();
        let mut h = ack(Y + 1, cum, 60000);
        h.options = sack(&blocks);
        h
    }
}

/// What the sender did in answer to one ACK.
#[derive(Clone, Copy, Debug)]
struct Step {
    /// In recovery before and after the ACK.
    before: bool,
    after: bool,
    /// Payload bytes the receiver newly got with the segment this ACK answers.
    delivered: u32,
    /// Payload bytes sent in answer.
    sent: u32,
    /// ssthresh and cwnd after the ACK.
    ssthresh: u32,
    cwnd: u32,
}

/// Runs the transfer until everything written is acknowledged: the first transmission of
/// every segment in `lost` is dropped. With `exhausted` every call works on a fresh empty
/// loss state, kept only while it needs none, as an endpoint whose pool has nothing to lend
/// does (`endpoint::loss::settle_loss`).
fn run(c: &mut Host, lost: &[u32], exhausted: bool) -> Vec<Step> {
    let end = c.tcb.snd_una() + c.snd.len() as u32;
    let mut path: VecDeque<Seg> = VecDeque::new();
    let mut sent_once = std::collections::BTreeSet::new();
    let mut rcv = Receiver::default();
    let mut steps = Vec::new();
    path.extend(send(c, exhausted));
    while c.tcb.snd_una() != end {
        let Some(x) = path.pop_front() else {
            // The path ran dry: the next deadline (a probe or the RTO).
            c.advance_to_deadline();
            path.extend(send(c, exhausted));
            continue;
        };
        let first = sent_once.insert(x.h.seq.0);
        if first && lost.iter().any(|&k| s(k) == x.h.seq.0) {
            continue;
        }
        let len = x.data.len() as u32;
        let held = |r: &Receiver| r.ranges.iter().map(|&(a, b)| b - a).sum::<u32>();
        let had = held(&rcv);
        rcv.take(x.h.seq.0, x.h.seq.0 + len);
        let delivered = held(&rcv) - had;
        let before = c.tcb.in_recovery();
        if exhausted {
            c.loss = LossState::EMPTY;
        }
        c.deliver(rcv.ack(), &[]);
        let after = c.tcb.in_recovery();
        let out = send(c, exhausted);
        let sent = out.iter().map(|x| x.data.len() as u32).sum();
        path.extend(out);
        steps.push(Step {
            before,
            after,
            delivered,
            sent,
            ssthresh: c.tcb.ssthresh(),
            cwnd: c.tcb.cwnd(),
        });
        assert!(steps.len() < 10_000, "runaway transfer");
    }
    steps
}

/// Everything the sender sends now; with `exhausted`, each plan and each commit on a fresh
/// empty loss state.
fn send(c: &mut Host, exhausted: bool) -> Vec<Seg> {
    if !exhausted {
        return c.send_all();
    }
    let mut out = Vec::new();
    loop {
        c.loss = LossState::EMPTY;
        let Some(plan) = c
            .tcb
            .poll_transmit(&c.cfg, c.now, &c.snd, &c.rcv, &mut c.loss)
        else {
            return out;
        };
        let (a, b) = c
            .snd
            .peek(plan.payload_offset as usize, plan.payload_len as usize);
        let data = [a, b].concat();
        c.loss = LossState::EMPTY;
        c.tcb
            .commit(&c.cfg, c.now, &plan, &mut c.loss)
            .expect("fresh plan");
        c.check();
        out.push(Seg {
            h: plan.header,
            data,
            tso: plan.tso_mss,
        });
        assert!(out.len() < 1000, "runaway transmit loop");
    }
}

/// The ACK that ended the (first) recovery episode.
fn exit(steps: &[Step]) -> Step {
    let rec = recovery(steps);
    let start = steps.iter().position(|x| !x.before && x.after).unwrap();
    steps[start + rec.len()]
}

/// The ACKs of the recovery episode: from the one that started it to the last one before
/// the ACK that ended it.
fn recovery(steps: &[Step]) -> &[Step] {
    let start = steps
        .iter()
        .position(|x| !x.before && x.after)
        .expect("recovery started");
    let len = steps[start..]
        .iter()
        .position(|x| !x.after)
        .expect("recovery ended");
    &steps[start..start + len]
}

/// RFC 9937's first example: one segment of a flight of 20 lost, more data waiting. From the
/// ACK that starts recovery on, every ACK delivering a segment lets ssthresh / RecoverFS of
/// a segment go out (NewReno: 11 of 20 here, the flight being 22 after Limited Transmit;
/// CUBIC: 15.4 of 20): never two ACKs in a row with nothing sent, no half round trip of
/// silence. RFC 6675 alone (cwnd = ssthresh at once) sends nothing until the pipe falls
/// below ssthresh, then one segment per ACK. Recovery ends with cwnd = ssthresh.
fn single_loss(congestion: CongestionControl, ssthresh: u32) {
    let mut c = sack_client(congestion, None, 60_000);
    let steps = run(&mut c, &[0], false);
    let rec = recovery(&steps);
    // Limited Transmit sent 2 segments on the first two duplicates: FlightSize 22 at entry.
    assert_eq!(rec[0].ssthresh, ssthresh, "{congestion:?}: {steps:?}");
    assert_eq!(rec[0].sent, MSS, "the fast retransmission on the entry ACK");
    // Whole segments only: after the fast retransmission has taken a segment of credit, or
    // while the credit is a fraction of a segment, an ACK may send nothing, but never three
    // in a row (RFC 6675 alone: 8 with NewReno).
    let silent = rec
        .windows(3)
        .filter(|w| w.iter().all(|x| x.sent == 0))
        .count();
    assert_eq!(
        silent, 0,
        "{congestion:?}: three silent ACKs in a row: {rec:?}"
    );
    // The first half of the recovery sends its share too.
    let half = &rec[..rec.len() / 2];
    let (d, o): (u32, u32) = (
        half.iter().map(|x| x.delivered).sum(),
        half.iter().map(|x| x.sent).sum(),
    );
    assert!(
        u64::from(o) * 20_000 + 2 * u64::from(MSS) * 20_000 >= u64::from(d) * u64::from(ssthresh),
        "{congestion:?}: {o} sent for {d} delivered in the first half: {rec:?}"
    );
    // RecoverFS = 22 outstanding - 2 SACKed before the entry ACK; everything delivered in
    // recovery, times ssthresh / RecoverFS, was sent (rounded up once), fast retransmission
    // included.
    let delivered: u32 = rec.iter().map(|x| x.delivered).sum();
    let sent: u32 = rec.iter().map(|x| x.sent).sum();
    let expected = (u64::from(delivered) * u64::from(ssthresh)).div_ceil(20_000) as u32;
    assert!(
        sent.abs_diff(expected) <= MSS,
        "{congestion:?}: sent {sent} for {delivered} delivered, expected about {expected}"
    );
    let end = exit(&steps);
    assert_eq!(
        end.cwnd, ssthresh,
        "cwnd = ssthresh after recovery: {end:?}"
    );
    let k = c.tcb.counters();
    assert_eq!((k.fast_retransmits, k.timeouts), (1, 0), "{k:?}");
}

#[test]
fn single_loss_newreno_sends_half_a_segment_per_ack_from_the_first_ack() {
    single_loss(CongestionControl::NewReno, 11 * MSS);
}

#[test]
fn single_loss_cubic_sends_seven_tenths_of_a_segment_per_ack_from_the_first_ack() {
    single_loss(CongestionControl::Cubic, 15_400);
}

/// Heavy loss: 12 of 20 segments lost, so the pipe at the start of recovery (22 - 3 SACKed -
/// 12 lost = 7 segments) lies far below ssthresh (11). RFC 6675 alone sends ssthresh - pipe
/// at once on the first ACK (the fast retransmission and 3 more); PRR's reduction bound
/// sends what was delivered, plus one segment on a safe ACK (SND.UNA advanced, no further
/// loss): never more than delivered + 1 SMSS per ACK.
#[test]
fn heavy_loss_sends_no_more_than_delivered_plus_one_segment_per_ack() {
    for congestion in [CongestionControl::NewReno, CongestionControl::Cubic] {
        let mut c = sack_client(congestion, None, 60_000);
        let steps = run(&mut c, &(0..12).collect::<Vec<_>>(), false);
        let rec = recovery(&steps);
        assert_eq!(
            rec[0].sent, MSS,
            "{congestion:?}: only the fast retransmission"
        );
        for x in rec {
            assert!(
                x.sent <= x.delivered + MSS,
                "{congestion:?}: a burst in recovery: {x:?} in {rec:?}"
            );
        }
        // Slow start back towards ssthresh happened: some safe ACKs sent two segments.
        assert!(
            rec.iter().any(|x| x.sent == 2 * MSS && x.delivered == MSS),
            "{congestion:?}: {rec:?}"
        );
        let end = exit(&steps);
        assert_eq!(end.cwnd, rec[0].ssthresh, "{congestion:?}: {end:?}");
        assert_eq!(c.tcb.counters().timeouts, 0, "{congestion:?}");
    }
}

/// An endpoint whose loss-state pool is exhausted hands the connection an empty state for
/// every call: PRR never runs (RecoverFS is 0 on every call), and recovery is RFC 6675's
/// with cwnd = ssthresh, as before PRR. The transfer completes, the invariants hold after
/// every event (the `Host` helpers check them), the window ends at ssthresh.
#[test]
fn without_a_loss_state_recovery_falls_back_to_rfc_6675() {
    let mut c = sack_client(CongestionControl::NewReno, None, 60_000);
    let steps = run(&mut c, &[0], true);
    let rec = recovery(&steps);
    assert_eq!(rec[0].sent, MSS, "the fast retransmission");
    assert_eq!(rec[0].ssthresh, 11 * MSS);
    // RFC 6675: silence while the pipe exceeds cwnd = ssthresh (every ACK's scoreboard is
    // its own SACK blocks here, which still show the whole range above the hole).
    assert!(rec[1..].iter().take(5).all(|x| x.sent == 0), "{rec:?}");
    assert!(
        rec[1..].iter().all(|x| x.cwnd == 11 * MSS),
        "cwnd = ssthresh: {rec:?}"
    );
    assert_eq!(exit(&steps).cwnd, 11 * MSS);
    assert_eq!(c.tcb.counters().timeouts, 0);
    // The same loss with a loss state: PRR ran, it never fell silent for that long.
    let mut d = sack_client(CongestionControl::NewReno, None, 60_000);
    let rec_prr = run(&mut d, &[0], false);
    assert!(recovery(&rec_prr)[1..6].iter().any(|x| x.sent > 0));
}

/// With TSO the planner sends new data in recovery as super-segments: prr_out counts every
/// byte of one, so the bytes sent still follow ssthresh / RecoverFS of those delivered, and
/// the next ACKs send correspondingly less.
#[test]
fn tso_super_segments_count_whole_in_prr_out() {
    let tso = TsoCaps {
        max_payload: 65536,
        min_mss: 64,
        max_mss: 9000,
    };
    let mut c = sack_client(CongestionControl::NewReno, Some(tso), 100_000);
    c.tcb.cwnd = 40 * MSS;
    c.tcb.set_ssthresh(40 * MSS);
    let out = c.send_all();
    assert_eq!(sizes_of(&out), vec![(40 * MSS as usize, Some(1000))]);
    let sacked = |c: &mut Host, to: u32| {
        let mut h = ack(Y + 1, s(0), 60000);
        h.options = sack(&[(s(1), s(to))]);
        c.deliver(h, &[]);
        c.send_all()
    };
    // Segment 0 lost; the receiver coalesces its ACKs: one ACK SACKs 3 segments (recovery,
    // ssthresh 20 segments, RecoverFS 40), the next 13 more.
    assert_eq!(sizes_of(&sacked(&mut c, 4)), vec![(MSS as usize, None)]);
    assert!(c.tcb.in_recovery());
    assert_eq!(c.tcb.ssthresh(), 20 * MSS);
    assert_eq!(c.loss.prr.recover_fs, 40 * MSS);
    assert_eq!(c.loss.prr.out, MSS, "the fast retransmission");
    // 16 segments delivered, pipe 40 - 16 SACKed - 1 lost + 1 retransmitted = 24 above
    // ssthresh: CEIL(16000 * 20000 / 40000) - 1000 = 7000 bytes, one super-segment of 7.
    let out = sacked(&mut c, 17);
    assert_eq!(
        sizes_of(&out),
        vec![(7 * MSS as usize, Some(1000))],
        "{out:?}"
    );
    assert_eq!(c.loss.prr.out, 8 * MSS, "the super-segment counted whole");
    assert_eq!(c.loss.prr.delivered, 16 * MSS);
    // One more segment delivered: 8500 - 8000 = 500, not a whole segment: nothing; one more:
    // 9000 - 8000, one segment.
    assert_eq!(sacked(&mut c, 18), vec![]);
    assert_eq!(sizes_of(&sacked(&mut c, 19)), vec![(MSS as usize, None)]);
    assert_eq!(c.loss.prr.out, 9 * MSS);
}

fn sizes_of(out: &[Seg]) -> Vec<(usize, Option<u16>)> {
    out.iter().map(|x| (x.data.len(), x.tso)).collect()
}

/// A tail loss probe reduces the window as a loss would (deviation 20). When the probe's ACK
/// then shows a loss in the same window, SACK recovery starts without a second reduction:
/// one reduction per window of data (with CUBIC, one fast convergence). Before, the probe's
/// reduction did not move `recover`, and recovery cut ssthresh and W_max again.
#[test]
fn tail_loss_probe_and_recovery_in_one_window_reduce_once() {
    for congestion in [CongestionControl::NewReno, CongestionControl::Cubic] {
        let mut c = sack_client(congestion, None, 10_000);
        // W_max above the window, so that CUBIC's fast convergence applies at each cut.
        c.tcb.cubic_w_max = if congestion == CongestionControl::Cubic {
            40
        } else {
            0
        };
        assert_eq!(c.send_all().len(), 10);
        // Segment 0 is acknowledged after 10 ms (an RTT sample); then silence.
        c.advance(Duration::from_millis(10));
        c.deliver(ack(Y + 1, s(1), 60000), &[]);
        c.advance_to_deadline();
        let probe = c.send_all();
        assert_eq!(probe.len(), 1, "{congestion:?}: the probe");
        assert_eq!(probe[0].h.seq, SeqNum(s(9)));
        let (ssthresh, w_max) = (c.tcb.ssthresh(), c.tcb.cubic_w_max);
        let flight = 9 * MSS;
        let expect = match congestion {
            CongestionControl::NewReno | CongestionControl::Dctcp => flight / 2,
            CongestionControl::Cubic => flight * 7 / 10,
        };
        assert_eq!(ssthresh, expect, "{congestion:?}: the probe's reduction");
        // The probe's ACK: segment 1 arrived, segment 2 was lost, 3 to 9 arrived. Recovery
        // starts (FlightSize 8 segments now), nothing is cut again.
        let mut h = ack(Y + 1, s(2), 60000);
        h.options = sack(&[(s(3), s(10))]);
        c.deliver(h, &[]);
        assert!(c.tcb.in_recovery(), "{congestion:?}");
        assert_eq!(c.tcb.counters().fast_retransmits, 1);
        assert_eq!(
            (c.tcb.ssthresh(), c.tcb.cubic_w_max),
            (ssthresh, w_max),
            "{congestion:?}: a second reduction in the same window"
        );
        c.send_all();
        c.deliver(ack(Y + 1, s(10), 60000), &[]);
        assert!(!c.tcb.in_recovery());
        assert_eq!(c.tcb.cwnd(), ssthresh, "{congestion:?}");
    }
}
