//! DCTCP (RFC 8257) for the connections whose [`TcbConfig::congestion`] selects it: the
//! sender's estimate of the fraction of its data the network marks (alpha) and its
//! proportional window reduction on an ECN echo; the receiver's echo of each data segment's
//! CE mark as it is (no RFC 3168 latch), with the ACK of the data before a change of mark
//! sent first under the old echo.
//!
//! Methods on [`Tcb`]. The ECN bits (`ecn`), the loss and timer machinery (`congestion`) and
//! the planner (`output`) call in here only for a connection that runs DCTCP (flag test
//! first): a NewReno or CUBIC connection pays nothing on its ACK path. This module changes
//! `cwnd`, `ssthresh`, `recover`, `ca_acked` and the ECN flags only in the window reduction
//! of an echo, the overlaid fields below, and `rcv_fin` (see below); never the buffers, the
//! timers or the sequence spaces.
//!
//! # Design
//! * **When it runs.** Chosen at creation ([`CongestionControl::Dctcp`]); kept at
//!   establishment only when ECN was negotiated and our data goes ECN-capable (flag `ECN`
//!   without `NO_ECT`). Otherwise the connection becomes NewReno, exactly (flag cleared,
//!   HyStart++ as configured), as Linux falls back: without marks there is nothing for alpha
//!   to measure.
//! * **Slow start, growth, loss, RTO, undo: NewReno's.** Slow start (RFC 3465, L = 2 SMSS),
//!   congestion avoidance, fast retransmit and SACK recovery with PRR, the tail loss probe
//!   and the RTO all halve and grow as NewReno does (RFC 8257 3.5: DCTCP reacts to loss as
//!   standard TCP). An ACK with ECE does not grow the window (as RFC 3168 6.1.2, and Linux,
//!   whose CWR state does not grow).
//! * **No HyStart++.** DCTCP and HyStart++ both want the overlaid fields; ECN marks at the
//!   threshold end the initial slow start with a cut proportional to the marks, before the
//!   queue grows (HyStart++ exists for paths that mark nothing), and Linux's DCTCP has no
//!   HyStart either. [`TcbConfig::hystart`] is ignored for a DCTCP connection.
//! * **alpha** (RFC 8257 3.3): initially 1 (Linux's conservative default
//!   `dctcp_alpha_on_init`: the first echo halves the window as RFC 3168 would), then at the
//!   end of each observation window `alpha = (1 - g) * alpha + g * F` with g = 1/16 and F the
//!   fraction of the window's acknowledged data whose ACK carried ECE.
//! * **Observation window.** RFC 8257 ends a window when SND.UNA passes `WindowEnd` (the
//!   SND.NXT at its start). Here the mark is the RTT estimator's timed segment (`rtt_seq`, the
//!   SND.NXT after the first new data sent once the last timed segment was acknowledged,
//!   Karn's rule aside): a window ends at the ACK whose SND.UNA passes `rtt_seq` (it lay
//!   above SND.UNA before the ACK), i.e. once per round trip, with no byte of state for the
//!   mark. No segment is timed during loss recovery (Karn), so a window that spans a
//!   recovery ends at the first timed ACK after it (no echo is acted on in recovery
//!   anyway). A window also ends when it has counted [`MAX_UNITS`] segments (1.5 MB at MSS
//!   1460; larger than a round trip at 100 Gbit/s and 100 us), so a larger window updates
//!   alpha more than once per round trip.
//! * **Counting** in segments, not bytes: each ACK of new data counts
//!   `ceil(acked / SMSS)` (a full-sized segment 1, a FIN or a partial segment 1), and as
//!   marked when it carries ECE. F is the fraction of segments, equal to the RFC's byte
//!   fraction when segments are full-sized (bulk data), slightly more weight on small
//!   segments otherwise. Duplicate ACKs count nothing (they acknowledge no byte); SACKed data
//!   counts when cumulatively acknowledged.
//! * **Reduction** (RFC 8257 3.3 step 9): an ACK with ECE, at most once per window of data
//!   (the guard of RFC 3168 in `ecn`: not in loss recovery, not before the last reduction was
//!   announced with CWR, and only once SND.UNA passes the SND.MAX of the last reduction, kept
//!   in `recover`), sets `ssthresh = max(cwnd * (1 - alpha / 2), 2 SMSS)` and `cwnd =
//!   min(cwnd, ssthresh)` at once, alpha updated by this ACK first. The next new data carries
//!   CWR (an RFC 3168 receiver needs it to stop echoing; a DCTCP receiver ignores it). Like
//!   RFC 3168's echo it moves `recover` past every loss-undo episode's end, which voids the
//!   undo record (module `undo`): an echo's reduction is never undone, and no later undo
//!   restores a window from before it.
//! * **Receiver** (RFC 8257 3.2): ECE on every segment we send is the CE mark of the last
//!   data segment received (flag `ECE_DUE` with DCTCP meaning; the peer's CWR does not clear
//!   it). When the mark of an arriving data segment differs, an ACK goes at once (flag
//!   `ACK_NOW`); and when data received before it was not acknowledged yet (a delayed ACK
//!   pending, or an ACK not yet planned in this receive burst), an ACK of exactly that data,
//!   carrying the old mark, goes before it, so that the sender sees the marked and unmarked
//!   bytes apart. Its acknowledgement number (RCV.NXT before the segment) is kept in
//!   `rcv_fin` (below) until the planner sends it.
//!
//! # State: no byte of its own (the `Tcb` stays 176 bytes)
//! * Identity: the flag bit `CUBIC_EPOCH` on a connection without `CUBIC` (named
//!   `flag::DCTCP`). CUBIC's epoch flag is meaningless without CUBIC; every place that ends
//!   an epoch clears the bit only on a CUBIC connection (`end_cubic_epoch`).
//! * `cubic_w_max` and `cubic_origin` (32 bits, CUBIC's and HyStart++'s, both unused by a
//!   DCTCP connection) form one word, [`Tcb::dctcp_word`]: bits 0-11 alpha in units of
//!   1/2048 (0 to [`ALPHA_ONE`]: twice Linux's 1/1024 precision), bits 12-21 the segments
//!   acknowledged in the current window, bits 22-31 those acknowledged with ECE (never more
//!   than the former). Zero on a connection that does not run DCTCP (`check_invariants`).
//! * `rcv_fin` (the peer's FIN beyond a hole, meaningful only with flag `RCV_FIN`) holds the
//!   acknowledgement number of the old-mark ACK while one is due. Due means: DCTCP runs,
//!   `RCV_FIN` is clear, and `rcv_fin` lies in (Last.ACK.sent, RCV.NXT]; sending it makes
//!   Last.ACK.sent reach it, which ends the due state by itself. While none is due the
//!   planner keeps `rcv_fin` at Last.ACK.sent (so the sequence space never wraps onto a
//!   stale value), and a segment with FIN, which writes `rcv_fin`, has it restored after
//!   (to Last.ACK.sent when a FIN waiting beyond a hole is consumed).
//!
//! # Deviations from RFC 8257
//! See deviation 30 in the `tcb` module: the observation window is the RTT timer's, capped
//! at [`MAX_UNITS`] segments; counting is in segments; alpha has 11 bits of precision;
//! an out-of-order FIN pending (flag `RCV_FIN`) or a second change of mark in one receive
//! burst before the send phase gives no (or one merged) old-mark ACK; DCTCP needs ECN
//! negotiated in the handshake (RFC 8257 3.1's ECT on SYNs is not done: SYNs stay not
//! ECN-capable, as RFC 3168 says).
//!
//! [`TcbConfig::congestion`]: super::TcbConfig::congestion
//! [`TcbConfig::hystart`]: super::TcbConfig::hystart
//! [`CongestionControl::Dctcp`]: super::CongestionControl::Dctcp

use super::{LossState, RecvBuffer, SegmentKind, Tcb, TcbConfig, TxPlan, flag};
use crate::segment::TcpFlags;
use crate::seq::SeqNum;
use crate::time::Instant;

/// alpha = 1 in the fixed-point representation (units of 1/2048).
pub(super) const ALPHA_ONE: u32 = 1 << 11;
/// The EWMA gain g = 1/16 as a shift (RFC 8257's recommended `DCTCP.G`).
pub(super) const G_SHIFT: u32 = 4;
/// Most segments one observation window counts (10-bit counters).
pub(super) const MAX_UNITS: u32 = (1 << 10) - 1;

const ALPHA_MASK: u32 = (1 << 12) - 1;
const ACKED_SHIFT: u32 = 12;
const MARKED_SHIFT: u32 = 22;

/// `alpha' = (1 - g) * alpha + g * marked / acked` in units of 1/[`ALPHA_ONE`], rounded down
/// (one division, exact to the unit; `acked` 0 leaves alpha as it is).
pub(super) fn next_alpha(alpha: u32, acked: u32, marked: u32) -> u32 {
    if acked == 0 {
        return alpha;
    }
    let keep: u32 = (1 << G_SHIFT) - 1;
    let num = u64::from(keep) * u64::from(alpha) * u64::from(acked)
        + u64::from(ALPHA_ONE) * u64::from(marked.min(acked));
    (num / (u64::from(acked) << G_SHIFT)).min(u64::from(ALPHA_ONE)) as u32
}

/// The window after an echo: `cwnd * (1 - alpha / 2)`, at least `2 * smss` (RFC 8257 3.3).
pub(super) fn reduced_window(cwnd: u32, alpha: u32, smss: u32) -> u32 {
    let cut = (u64::from(cwnd) * u64::from(alpha)) / u64::from(2 * ALPHA_ONE);
    (cwnd - cut as u32).max(2 * smss)
}

impl Tcb {
    /// Whether the connection runs DCTCP (created with it, and ECN negotiated once
    /// established).
    #[inline]
    pub(super) fn dctcp(&self) -> bool {
        self.flags & (flag::CUBIC | flag::DCTCP) == flag::DCTCP
    }

    /// DCTCP's state word (module docs): alpha, the window's acknowledged and marked segments.
    #[inline]
    pub(super) fn dctcp_word(&self) -> u32 {
        (u32::from(self.cubic_w_max) << 16) | u32::from(self.cubic_origin)
    }

    #[inline]
    fn set_dctcp_word(&mut self, word: u32) {
        self.cubic_w_max = (word >> 16) as u16;
        self.cubic_origin = word as u16;
    }

    /// alpha in units of 1/[`ALPHA_ONE`] (0 on a connection without DCTCP).
    #[inline]
    pub(super) fn dctcp_alpha_units(&self) -> u32 {
        self.dctcp_word() & ALPHA_MASK
    }

    /// Segments acknowledged, and acknowledged with ECE, in the current observation window.
    #[inline]
    pub(super) fn dctcp_window_counts(&self) -> (u32, u32) {
        let w = self.dctcp_word();
        (
            (w >> ACKED_SHIFT) & MAX_UNITS,
            (w >> MARKED_SHIFT) & MAX_UNITS,
        )
    }

    /// The handshake completed: DCTCP goes on with alpha = 1 when ECN was negotiated and our
    /// data goes ECN-capable; otherwise the connection becomes NewReno. Returns whether it
    /// runs (HyStart++ then does not).
    #[inline]
    pub(super) fn dctcp_establish(&mut self) -> bool {
        if !self.dctcp() {
            return false;
        }
        if self.flags & (flag::ECN | flag::NO_ECT) == flag::ECN {
            self.set_dctcp_word(ALPHA_ONE);
            // Nothing due: the old-mark ACK's point starts at Last.ACK.sent (RCV.NXT now),
            // not at the 0 the field was created with. Only a synchronized planner parks it,
            // and a listener's first data, before its first plan, may cover sequence 0.
            if !self.has(flag::RCV_FIN) {
                self.rcv_fin = self.rcv_nxt;
            }
            true
        } else {
            self.flags &= !flag::DCTCP;
            self.set_dctcp_word(0);
            false
        }
    }

    /// An acceptable segment with `flags`, sequence number `seq`, acknowledgement `ack` and
    /// `has_data` on a DCTCP connection (ECN negotiated), after ACK processing moved SND.UNA
    /// from `una_before`: the sender's window accounting, alpha and the reduction on an echo,
    /// then the receiver's mirror of the segment's CE mark. Returns whether the window was
    /// reduced.
    #[inline(never)]
    pub(super) fn dctcp_on_segment(
        &mut self,
        flags: TcpFlags,
        seq: SeqNum,
        ack: SeqNum,
        una_before: SeqNum,
        has_data: bool,
    ) -> bool {
        let echo = flags.intersects(TcpFlags::ECE);
        let acked = if self.snd_una.gt(una_before) {
            self.snd_una - una_before
        } else {
            0
        };
        if acked > 0 {
            let smss = self.payload_mss();
            let units = acked.div_ceil(smss);
            let w = self.dctcp_word();
            let alpha = w & ALPHA_MASK;
            let (old_acked, old_marked) = self.dctcp_window_counts();
            // Not capped here: a window that would overflow the counters ends with this ACK
            // at its full weight (capping the sum would keep the earlier segments' marks and
            // cut this ACK short).
            let total = old_acked.saturating_add(units);
            let marked = old_marked.saturating_add(if echo { units } else { 0 });
            // The window ends when SND.UNA passes the timed segment (it lay above SND.UNA
            // before this ACK), or when the counters are full.
            let mark_passed = self.rtt_seq.gt(una_before) && self.rtt_seq.le(self.snd_una);
            let word = if mark_passed || total >= MAX_UNITS {
                next_alpha(alpha, total, marked)
            } else {
                alpha | total << ACKED_SHIFT | marked << MARKED_SHIFT
            };
            self.set_dctcp_word(word);
        }
        // The reduction, once per window of data as RFC 3168's (`ecn`), by alpha / 2.
        let reduce = self.echo_reduces(flags, ack);
        if reduce {
            let smss = self.payload_mss();
            self.cut_for_signal(reduced_window(self.cwnd, self.dctcp_alpha_units(), smss));
        }
        // The receiver (RFC 8257 3.2). A data segment with CWR is acknowledged at once, as
        // Linux does for every congestion control (the sender has just cut its window); CWR
        // does not end the echo.
        if has_data {
            if flags.intersects(TcpFlags::CWR) {
                self.flags |= flag::ACK_NOW;
            }
            let ce = flags.intersects(TcpFlags::IP_CE);
            if ce != self.has(flag::ECE_DUE) {
                self.flags ^= flag::ECE_DUE;
                // At once; a segment beyond RCV.NXT (out of order) gets its own immediate
                // ACK from the receive path anyway (one, not two).
                if seq.le(self.rcv_nxt) {
                    self.flags |= flag::ACK_NOW;
                }
                if self.rcv_nxt != self.rcv_acked && !self.has(flag::RCV_FIN) {
                    // The data before this segment, not acknowledged yet, is acknowledged
                    // first with the old mark (a second change in the same burst moves the
                    // point: the old ACK then carries the mark before this change).
                    self.rcv_fin = self.rcv_nxt;
                }
            }
        }
        reduce
    }

    /// Whether an ACK of the data before a change of CE mark, with the old mark, is due
    /// (module docs): DCTCP runs, no FIN is pending beyond a hole, and the point kept in
    /// `rcv_fin` lies in (Last.ACK.sent, RCV.NXT].
    #[inline]
    pub(super) fn dctcp_prior_ack_due(&self) -> bool {
        self.dctcp()
            && !self.has(flag::RCV_FIN)
            && self.rcv_fin.gt(self.rcv_acked)
            && self.rcv_fin.le(self.rcv_nxt)
    }

    /// The planner of a DCTCP connection, before anything else is sent: replaces `plan` by
    /// the old-mark ACK when one is due (acknowledgement `rcv_fin`, ECE as before the change,
    /// the window's right edge where it was) and returns `true`; else parks `rcv_fin` at
    /// Last.ACK.sent and returns `false`. The ACK after it stays owed (`ACK_NOW`, one owed ACK
    /// counted for the commit to take).
    #[inline(never)]
    pub(super) fn dctcp_prior_ack<R: RecvBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        rcv: &R,
        loss: &LossState,
        plan: &mut TxPlan,
    ) -> bool {
        if !self.state.is_synchronized() {
            return false;
        }
        if !self.dctcp_prior_ack_due() {
            if !self.has(flag::RCV_FIN) {
                self.rcv_fin = self.rcv_acked;
            }
            return false;
        }
        debug_assert!(
            self.has(flag::ACK_NOW),
            "an old-mark ACK due without ACK_NOW"
        );
        // Its commit takes one owed ACK and leaves ACK_NOW for the ACK of the rest.
        self.flags |= flag::ACK_NOW;
        self.acks_owed = self.acks_owed.max(1);
        *plan = self.plan_ack(cfg, now, rcv, loss, SegmentKind::Ack);
        let point = self.rcv_fin;
        plan.header.ack = point;
        // The right edge already promised, relative to the older acknowledgement (rounded up:
        // it never moves left).
        let shift = self.rcv_wscale;
        let bytes = if self.rcv_adv.gt(point) {
            self.rcv_adv - point
        } else {
            0
        };
        let field = bytes.div_ceil(1 << shift).min(u32::from(u16::MAX));
        plan.header.window = field as u16;
        plan.advertised = field << shift;
        // ECE as it was before the last change of mark; nothing else of ECN applies to a
        // bare ACK.
        if !self.has(flag::ECE_DUE) {
            plan.header.flags |= TcpFlags::ECE;
        }
        true
    }

    /// Before the receive path takes a segment (`fin`: it carries one): what `rcv_fin` must
    /// hold after it, when the path may write it (a FIN arrives, or one waits beyond a hole
    /// and may be consumed): DCTCP's point, or Last.ACK.sent (nothing due) when the field
    /// holds the waiting FIN. `None`: the path leaves the field alone.
    #[inline]
    pub(super) fn dctcp_point_before_text(&self, fin: bool) -> Option<SeqNum> {
        if self.has(flag::RCV_FIN) {
            Some(self.rcv_acked)
        } else if fin {
            Some(self.rcv_fin)
        } else {
            None
        }
    }

    /// A segment with FIN, or any while a FIN waited beyond a hole, went through the
    /// receive path (which keeps the FIN's sequence number in `rcv_fin`): once the FIN is
    /// consumed (`RCV_FIN` clear), `rcv_fin` is DCTCP's again and gets `saved`: what it held
    /// before, or Last.ACK.sent (nothing due) when the FIN had it.
    #[inline(never)]
    pub(super) fn dctcp_after_fin(&mut self, saved: SeqNum) {
        if !self.has(flag::RCV_FIN) {
            self.rcv_fin = saved;
        }
    }

    /// `check_invariants`' part for DCTCP.
    pub(super) fn dctcp_invariants(&self) -> Result<(), &'static str> {
        let (acked, marked) = self.dctcp_window_counts();
        if self.dctcp_alpha_units() > ALPHA_ONE {
            return Err("DCTCP alpha above 1");
        }
        if marked > acked {
            return Err("DCTCP window counts more marked than acknowledged segments");
        }
        if self.hystart_running() {
            return Err("HyStart++ runs on a DCTCP connection");
        }
        if self.dctcp_prior_ack_due() && !self.has(flag::ACK_NOW) {
            return Err("a DCTCP old-mark ACK is due without an ACK due after it");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_update_by_hand() {
        // (15 * 2048 * 10 + 2048 * 0) / 160 = 1920: a window without marks from alpha = 1.
        assert_eq!(next_alpha(ALPHA_ONE, 10, 0), 1920);
        // (15 * 1920 * 10 + 2048 * 5) / 160 = 298240 / 160 = 1864.
        assert_eq!(next_alpha(1920, 10, 5), 1864);
        // Every segment marked keeps alpha at 1; (15 * 0 * 7 + 2048 * 7) / 112 = 128 = g.
        assert_eq!(next_alpha(ALPHA_ONE, 3, 3), ALPHA_ONE);
        assert_eq!(next_alpha(0, 7, 7), 128);
        // (15 * 100 * 3 + 2048 * 1) / 48 = 6548 / 48 = 136 (rounded down from 136.4).
        assert_eq!(next_alpha(100, 3, 1), 136);
        // Decay to zero without marks: (15 * 1) / 16 = 0.
        assert_eq!(next_alpha(1, 1, 0), 0);
        // An empty window changes nothing; more marked than acknowledged is clamped.
        assert_eq!(next_alpha(777, 0, 0), 777);
        assert_eq!(next_alpha(0, 2, 9), 128);
        // Without marks alpha falls by 1/16 per window: 2048 -> 1920 -> 1800 -> 1687.
        let mut a = ALPHA_ONE;
        for want in [1920, 1800, 1687, 1581] {
            a = next_alpha(a, 50, 0);
            assert_eq!(a, want);
        }
    }

    #[test]
    fn reduction_by_hand() {
        // alpha = 1 halves; alpha = 1/2 takes a quarter; alpha = 0 keeps the window.
        assert_eq!(reduced_window(100_000, ALPHA_ONE, 1448), 50_000);
        assert_eq!(reduced_window(100_000, ALPHA_ONE / 2, 1448), 75_000);
        assert_eq!(reduced_window(100_000, 0, 1448), 100_000);
        // 100000 - 100000 * 100 / 4096 = 100000 - 2441 = 97559.
        assert_eq!(reduced_window(100_000, 100, 1448), 97_559);
        // Never below 2 SMSS.
        assert_eq!(reduced_window(3000, ALPHA_ONE, 1448), 2896);
    }
}
