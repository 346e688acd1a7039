//! Undoing window reductions that turn out to be spurious (RFC 3522 Eifel detection, RFC
//! 3708's D-SACK detection, RFC 4015's response in part; the idea of Linux's
//! `tcp_try_undo_*`).
//!
//! A fast retransmit or SACK recovery, a retransmission timeout and the tail loss probe's
//! response each cut the congestion window on the presumption that a segment was lost. On a
//! path that reorders (or whose receiver delays its ACKs past our RTO) the original arrives
//! after all, and the cut only cost throughput. This module remembers, per episode:
//!
//! * the window before the cut: cwnd, ssthresh and CUBIC's W_max (`prior_*`);
//! * `end`, the `recover` point the cut set (the episode is over once SND.UNA reaches it;
//!   another reduction since, e.g. an ECN echo, moves `recover` and voids the undo);
//! * the first retransmission: its sequence number and the timestamp value (TSval) it
//!   carried, for Eifel;
//! * what the episode retransmitted: the range `[rxt_lo, rxt_hi)` and the payload bytes (a
//!   TSO super-segment counted whole; a FIN alone as one), less the bytes D-SACKs since
//!   reported.
//!
//! Two detectors:
//!
//! * **Eifel** (RFC 3522, with timestamps): the first ACK that covers the first
//!   retransmission echoes the TSval of the copy that filled the hole at the receiver (RFC
//!   7323: TS.Recent is taken from the segment at the left edge). An echo older than the
//!   retransmission's TSval says the original filled it: the episode was spurious. After a
//!   timeout or a tail loss probe it is undone at once; a fast recovery is left to run to its
//!   end (`recover`, as Linux's `tcp_try_undo_recovery`) and undone then: undoing it
//!   mid-way and cutting again for the next reordered hole in the same window measured
//!   slower, with more retransmissions, on the reordering links of the endpoint tests. A
//!   timestamp clock that did not tick between the original and the retransmission cannot
//!   tell: no undo.
//! * **D-SACK** (RFC 3708's idea): each D-SACK subtracts the bytes it reports inside the
//!   retransmitted range, each byte once (a watermark: blocks below what earlier D-SACKs
//!   reported count nothing, so a repeated block cannot be counted twice). When every
//!   retransmitted byte was reported and the episode is over (or the ACK ends it), the
//!   retransmissions were all unnecessary: undone.
//!
//! The undo (`undo_reduction`): `cwnd = max(cwnd, prior cwnd)` (a NewReno recovery's
//! inflation removed first), `ssthresh = max(ssthresh, prior ssthresh)`, CUBIC's W_max
//! restored and its epoch restarted from the window as it stands, a recovery still running
//! left (PRR state cleared, `recover` back to SND.UNA), the tail loss probe's `WINDOW_CUT`
//! cleared (a real loss still in that window starts a recovery, and a cut, of its own). After a timeout shown spurious
//! by Eifel, go-back-N stops (SND.NXT = SND.MAX, RFC 4015's "resume with new data"). A
//! fast recovery Eifel shows spurious also raises the reordering level as a D-SACK would
//! (DupThresh learning, deviation 27). Only maxima with the values remembered: a lying
//! receiver (a forged D-SACK, a forged old echo) gets at most the window of before the cut,
//! never more (RFC 3708 and RFC 3522's security notes).
//!
//! # State and its lifetime
//! 40 bytes in the connection's [`LossState`](super::LossState), lent by the endpoint's
//! pool: a connection the pool cannot serve does no undo (counted as
//! `loss_states_exhausted`). An episode keeps the state lent until its D-SACKs had a round
//! trip to arrive: once the episode is over, until SND.UNA passes the SND.MAX of that moment
//! (`hold`), or, when the flight drained, for one RTO on the otherwise idle retransmission
//! timer (a timeout with nothing outstanding drops the record); the next episode replaces
//! it, closing or TIME-WAIT gives it back.
//!
//! Owns the `Undo` record; the `Tcb` methods here change cwnd, ssthresh, CUBIC's W_max, the
//! recovery flags, `recover`, SND.NXT (after a spurious timeout) and the PRR state. They
//! never touch the scoreboard, the buffers, the timers or the receive side. The callers:
//! `congestion.rs` and `output.rs` begin episodes at each cut, `output.rs` counts
//! retransmissions at commit, `input.rs` feeds D-SACKs and ACKs of new data.

use super::prr::Prr;
use super::{LossState, NEVER, Reaction, Tcb, TcbConfig, flag};
use crate::segment::TcpHeader;
use crate::seq::SeqNum;
use crate::time::Instant;

/// Episode bits.
mod bit {
    /// The episode's cut was (or became) a retransmission timeout.
    pub const TIMEOUT: u8 = 1 << 0;
    /// A retransmission was noted: `first_rxt`, `rxt_lo`, `rxt_hi` are valid.
    pub const RXT: u8 = 1 << 1;
    /// `tsval` holds the first retransmission's timestamp value.
    pub const TSVAL: u8 = 1 << 2;
    /// The ACK covering the first retransmission was seen (Eifel decided).
    pub const EIFEL_DONE: u8 = 1 << 3;
    /// SND.UNA reached `end`: the episode is over; `first_rxt` now holds `hold`.
    pub const OVER: u8 = 1 << 4;
    /// The cut was a fast recovery of its own (flag `RXT_EPISODE` then): an Eifel undo
    /// raises the reordering level.
    pub const RECOVERY: u8 = 1 << 5;
    /// Eifel found the episode spurious during a recovery: undone when it ends.
    pub const SPURIOUS: u8 = 1 << 6;
}

/// The undo record of one window reduction (40 bytes). `prior_cwnd == 0`: none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Undo {
    prior_cwnd: u32,
    prior_ssthresh: u32,
    /// `recover` as the cut set it.
    end: SeqNum,
    /// The first retransmission's sequence number (Eifel); once the episode is over, the
    /// SND.MAX until which the record is kept (`hold`).
    first_rxt: SeqNum,
    /// The range retransmitted in the episode.
    rxt_lo: SeqNum,
    rxt_hi: SeqNum,
    /// D-SACKed bytes below this were counted already.
    dsack_hi: SeqNum,
    /// Bytes retransmitted in the episode and not reported by a D-SACK yet.
    retrans: u32,
    /// TSval of the first retransmission.
    tsval: u32,
    /// CUBIC's W_max before the cut (0 for NewReno).
    prior_w_max: u16,
    bits: u8,
}

impl Undo {
    /// No episode.
    pub(crate) const EMPTY: Undo = Undo {
        prior_cwnd: 0,
        prior_ssthresh: 0,
        end: SeqNum(0),
        first_rxt: SeqNum(0),
        rxt_lo: SeqNum(0),
        rxt_hi: SeqNum(0),
        dsack_hi: SeqNum(0),
        retrans: 0,
        tsval: 0,
        prior_w_max: 0,
        bits: 0,
    };

    /// Whether an episode is recorded.
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.prior_cwnd != 0
    }

    #[inline]
    fn has(&self, b: u8) -> bool {
        self.bits & b != 0
    }
}

/// The window before a cut, taken by [`Tcb::undo_prior`] just before it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Prior {
    cwnd: u32,
    ssthresh: u32,
    w_max: u16,
}

/// How a cut came about, for [`Tcb::undo_begin`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cut {
    /// Fast retransmit or SACK recovery with its own reduction.
    Recovery,
    /// A retransmission timeout.
    Timeout,
    /// The tail loss probe's reduction.
    Probe,
}

impl Tcb {
    /// The window as it is before a cut. Every cut ends HyStart++ (RFC 9406), whose state
    /// overlays `ssthresh` and CUBIC's W_max in the initial slow start (module `hystart`):
    /// it is ended here, first, so that the window remembered, and restored by an undo, is
    /// the plain one (`ssthresh` at its initial value, no W_max), never the overlay.
    #[inline]
    pub(super) fn undo_prior(&mut self) -> Prior {
        self.hystart_end();
        Prior {
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            w_max: self.cubic_w_max,
        }
    }

    /// A cut was made (`recover` already set): remember `prior`. An episode still running
    /// (SND.UNA below its end) goes on with its earlier window and first retransmission
    /// (a timeout in a recovery, a recovery inside a probe's window); otherwise a new one
    /// replaces what was there.
    #[cold]
    #[inline(never)]
    pub(super) fn undo_begin(
        &mut self,
        enabled: bool,
        loss: &mut LossState,
        prior: Prior,
        cut: Cut,
    ) {
        if !enabled || prior.cwnd == 0 {
            return;
        }
        let u = &mut loss.undo;
        let running = u.active() && !u.has(bit::OVER) && self.snd_una.lt(u.end);
        if !running {
            *u = Undo {
                prior_cwnd: prior.cwnd,
                prior_ssthresh: prior.ssthresh,
                prior_w_max: prior.w_max,
                ..Undo::EMPTY
            };
            if cut == Cut::Recovery {
                u.bits |= bit::RECOVERY;
            }
        } else if cut != Cut::Recovery {
            u.bits &= !bit::RECOVERY;
        }
        if cut == Cut::Timeout {
            u.bits |= bit::TIMEOUT;
        }
        u.end = self.recover;
    }

    /// A recovery began without a cut of its own inside a window already reduced: an
    /// episode running for that window (a tail loss probe's) now ends at the new `recover`.
    pub(super) fn undo_extend(&mut self, loss: &mut LossState) {
        let u = &mut loss.undo;
        if u.active() && !u.has(bit::OVER) && self.snd_una.lt(u.end) {
            u.end = self.recover;
        }
    }

    /// A retransmission of `len` payload bytes from `h.seq` was committed during an episode
    /// (callers pass at least 1: a FIN alone counts as its sequence number, so an episode
    /// that resent only a FIN is never taken for "every byte reported").
    #[cold]
    #[inline(never)]
    pub(super) fn undo_note_rxt(&mut self, loss: &mut LossState, h: &TcpHeader, len: u32) {
        let u = &mut loss.undo;
        if !u.active() {
            return;
        }
        let end = h.seq + len;
        if !u.has(bit::RXT) {
            u.bits |= bit::RXT;
            u.rxt_lo = h.seq;
            u.rxt_hi = end;
            u.dsack_hi = h.seq;
            if !u.has(bit::OVER) {
                u.first_rxt = h.seq;
            }
            if let (true, Some((tsval, _))) = (self.has(flag::TS), h.options.timestamps) {
                u.tsval = tsval;
                u.bits |= bit::TSVAL;
            }
        } else {
            u.rxt_lo = u.rxt_lo.min(h.seq);
            u.rxt_hi = u.rxt_hi.max(end);
        }
        u.retrans = u.retrans.saturating_add(len);
    }

    /// A D-SACK (RFC 2883) reported `[left, right)`: the bytes of it inside the range the
    /// episode retransmitted, and not reported before, were received twice. When that makes
    /// every retransmitted byte reported and the episode is over, undo.
    #[cold]
    #[inline(never)]
    pub(super) fn undo_on_dsack(
        &mut self,
        loss: &mut LossState,
        left: SeqNum,
        right: SeqNum,
        rx: &mut Reaction,
    ) {
        let u = &mut loss.undo;
        if !u.active() || !u.has(bit::RXT) || u.retrans == 0 {
            return;
        }
        let lo = left.max(u.rxt_lo).max(u.dsack_hi);
        let hi = right.min(u.rxt_hi);
        if lo.lt(hi) {
            u.retrans = u.retrans.saturating_sub(hi - lo);
            u.dsack_hi = hi;
        }
        if u.retrans == 0 && self.snd_una.ge(u.end) {
            self.undo_reduction(loss, false, rx);
        }
    }

    /// An ACK of new data during an episode (SND.UNA already advanced, `tsecr` its echo):
    /// Eifel's test on the first ACK covering the first retransmission, the D-SACK test when
    /// this ACK ends the episode, and the end of the record's life.
    #[cold]
    #[inline(never)]
    pub(super) fn undo_on_ack(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        loss: &mut LossState,
        tsecr: Option<u32>,
        rx: &mut Reaction,
    ) {
        let u = loss.undo;
        if self.recover != u.end {
            // Another reduction (an ECN echo) moved `recover`: that one stands.
            loss.undo = Undo::EMPTY;
            return;
        }
        let eifel_due = u.has(bit::RXT)
            && !u.has(bit::EIFEL_DONE)
            && !u.has(bit::OVER)
            && self.snd_una.gt(u.first_rxt);
        if eifel_due {
            loss.undo.bits |= bit::EIFEL_DONE;
            // The echo is the TSval of the copy that filled the hole: older than the
            // retransmission's, the original did (RFC 3522).
            let older = |echo: u32| (echo.wrapping_sub(u.tsval) as i32) < 0;
            if u.has(bit::TSVAL) && tsecr.is_some_and(older) {
                if cfg.adaptive_reordering && u.has(bit::RECOVERY) && self.has(flag::RXT_EPISODE) {
                    // The path reordered deeper than DupThresh, as a D-SACK would have said
                    // (`on_dsack`).
                    self.raise_reordering();
                }
                if self.has(flag::RECOVERY) {
                    loss.undo.bits |= bit::SPURIOUS;
                } else {
                    self.undo_reduction(loss, true, rx);
                    return;
                }
            }
        }
        if !u.has(bit::OVER) {
            if self.snd_una.lt(u.end) {
                return;
            }
            if loss.undo.has(bit::SPURIOUS) || (u.has(bit::RXT) && u.retrans == 0) {
                self.undo_reduction(loss, false, rx);
                return;
            }
            if !u.has(bit::RXT) {
                // Nothing retransmitted: nothing to be reported twice.
                loss.undo = Undo::EMPTY;
                return;
            }
            // The episode is over; its last D-SACKs are at most a round trip away.
            loss.undo.bits |= bit::OVER;
            loss.undo.first_rxt = self.snd_max;
        } else if self.snd_una.gt(u.first_rxt) {
            // SND.UNA passed what was sent when the episode ended: its D-SACKs are in.
            loss.undo = Undo::EMPTY;
            return;
        }
        if self.snd_una == self.snd_max && self.rtx_at == NEVER {
            // The flight drained: no ACK of later data may come to end the wait, so the
            // retransmission timer, idle now, bounds it to one RTO (`on_rtx_timeout` then
            // drops the record; new data restarts the timer from its own send).
            self.rtx_at = (now + self.rtt.rto(cfg)).micros();
        }
    }

    /// Undoes the episode's cut (see the module documentation) and forgets it. `eifel`:
    /// detected by Eifel on the first ACK after the retransmission (go-back-N after a
    /// timeout then stops).
    fn undo_reduction(&mut self, loss: &mut LossState, eifel: bool, rx: &mut Reaction) {
        let u = loss.undo;
        loss.undo = Undo::EMPTY;
        if self.recover != u.end {
            // Another reduction (an ECN echo) moved `recover` since: that one stands.
            return;
        }
        if self.has(flag::RECOVERY) {
            if !self.has(flag::SACK) {
                // NewReno's inflation goes first.
                self.cwnd = self.cwnd.min(self.ssthresh);
            }
            self.flags &= !(flag::RECOVERY | flag::PARTIAL_SEEN | flag::FAST_RTX);
            self.dupacks = 0;
            loss.prr = Prr::EMPTY;
        }
        self.cwnd = self.cwnd.max(u.prior_cwnd).min(super::congestion::MAX_CWND);
        self.ssthresh = self.ssthresh.max(u.prior_ssthresh);
        if self.has(flag::CUBIC) {
            self.cubic_w_max = u.prior_w_max;
            self.flags &= !flag::CUBIC_EPOCH;
        }
        self.ca_acked = 0;
        self.flags &= !flag::WINDOW_CUT;
        if self.snd_una.lt(self.recover) {
            self.recover = self.snd_una;
        }
        if eifel && u.has(bit::TIMEOUT) && self.snd_nxt.lt(self.snd_max) {
            // RFC 4015: the originals arrived; resend no more of them, go on with new data.
            self.snd_nxt = self.snd_max;
        }
        rx.spurious_undone = true;
    }

    /// The retransmission timer expired with nothing outstanding: a record kept for late
    /// D-SACKs has waited long enough.
    pub(super) fn undo_expire(&mut self, loss: &mut LossState) {
        loss.undo = Undo::EMPTY;
    }
}
