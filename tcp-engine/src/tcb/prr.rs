//! Proportional Rate Reduction (RFC 9937, which obsoletes RFC 6937) for SACK loss recovery:
//! how much may be sent on each ACK while recovery repairs the holes.
//!
//! RFC 6675 alone sets `cwnd = ssthresh` at the start of recovery and sends while
//! `pipe < cwnd`: after a single loss the pipe stays above the halved window for half a round
//! trip (silence, no ACK clock for the data waiting), then every ACK releases a segment; after
//! heavy loss the pipe lies far below ssthresh and the first ACK releases `ssthresh - pipe` at
//! once (a burst into a path that just dropped packets). PRR spreads the reduction over the
//! recovery instead (RFC 9937 section 6):
//!
//! * at the start (the ACK that starts recovery included): `RecoverFS` = the bytes outstanding
//!   before that ACK and not SACKed before it, `prr_delivered = prr_out = 0`;
//! * on every ACK of the recovery except the one that ends it, `DeliveredData` = bytes newly
//!   acknowledged cumulatively + the change in SACKed bytes; an ACK that delivers nothing
//!   changes nothing; otherwise `prr_delivered += DeliveredData` and, with RFC 6675's pipe,
//!   * `pipe > ssthresh`: `sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out`
//!     (the proportional part: ssthresh/RecoverFS of what was delivered goes out, 1/2 with
//!     NewReno, 7/10 with CUBIC, from the first ACK on);
//!   * `pipe <= ssthresh`: `sndcnt = MIN(ssthresh - pipe, MAX(prr_delivered - prr_out,
//!     DeliveredData) [+ SMSS])`, the reduction bound: PRR-CRB (conservative, never more than
//!     delivered) unless the ACK is "safe" (it advanced SND.UNA and showed no further loss),
//!     when PRR-SSRB adds one SMSS (slow start back towards ssthresh, one segment per ACK
//!     beyond what was delivered, never a burst);
//!   * `sndcnt = SMSS` when nothing was sent in recovery yet and nothing else is allowed (the
//!     fast retransmission goes out whatever the window, here through `FAST_RTX` anyway);
//!   * `cwnd = pipe + sndcnt`: the planner keeps sending while `pipe < cwnd` (holes) or
//!     within `cwnd - pipe` (new data), so it sends exactly `sndcnt` (a retransmission may
//!     overshoot by less than a segment, which `prr_out` takes back at the next ACK);
//! * on every data segment committed during recovery (new data, retransmissions, the fast
//!   retransmission, a TSO super-segment counted whole): `prr_out += bytes sent`;
//! * at the end (the ACK reaching `recover`): `cwnd = ssthresh` (RFC 9937 section 6, as
//!   before); a retransmission timeout ends PRR with the recovery.
//!
//! The state (12 bytes) lives in the connection's [`LossState`](super::LossState), lent only
//! to connections in loss recovery. When the endpoint's pool has no state to lend, the
//! connection works on an empty scratch state each call: `RecoverFS` is then 0 ("not
//! running") and recovery falls back to RFC 6675 alone with `cwnd = ssthresh` (the behaviour
//! before PRR). NewReno recovery without SACK keeps RFC 6582's window inflation (no PRR).
//!
//! Owns the three PRR counters; the computation of `sndcnt` is a pure function of them and
//! of what the caller passes. It must not touch the scoreboard, the `Tcb` or any timer: the
//! `Tcb` side is elsewhere: `input.rs` (`ack_in_loss`, the out-of-line path of every ACK
//! with SACK blocks or during recovery) notes the scoreboard before the ACK changes it,
//! `congestion.rs` starts the state in `enter_recovery` and computes DeliveredData,
//! SafeACK and `cwnd` in `prr_on_ack`, and `output.rs` counts `prr_out` at commit. The
//! common ACK and the common commit pay one flag test each for all of it.

/// The PRR state of one recovery episode (RFC 9937 section 5's variables).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Prr {
    /// RecoverFS: bytes outstanding and not SACKed when recovery started. 0 = PRR not running
    /// in this state (no recovery, or the recovery started on another state: fallback).
    pub(crate) recover_fs: u32,
    /// prr_delivered: bytes delivered to the receiver since recovery started.
    pub(crate) delivered: u32,
    /// prr_out: bytes sent since recovery started.
    pub(crate) out: u32,
}

/// What one ACK told PRR.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PrrAck {
    /// DeliveredData of this ACK (bytes), already known to be non-zero.
    pub(crate) delivered: u32,
    /// RFC 6675 pipe after the ACK.
    pub(crate) pipe: u32,
    /// The target flight, ssthresh.
    pub(crate) ssthresh: u32,
    /// Sender MSS (payload bytes).
    pub(crate) smss: u32,
    /// RFC 9937 SafeACK: SND.UNA advanced and no further loss was indicated.
    pub(crate) safe: bool,
}

impl Prr {
    /// Not running.
    pub(crate) const EMPTY: Prr = Prr {
        recover_fs: 0,
        delivered: 0,
        out: 0,
    };

    /// Whether this state holds a running episode.
    #[inline]
    pub(crate) fn running(&self) -> bool {
        self.recover_fs != 0
    }

    /// Recovery starts with `recover_fs` bytes outstanding and not SACKed (at least one byte:
    /// recovery only starts with data outstanding, and 0 means "not running").
    pub(crate) fn start(&mut self, recover_fs: u32) {
        *self = Prr {
            recover_fs: recover_fs.max(1),
            delivered: 0,
            out: 0,
        };
    }

    /// `bytes` were sent during recovery (nothing when not running).
    #[inline]
    pub(crate) fn sent(&mut self, bytes: u32) {
        if self.running() {
            self.out = self.out.saturating_add(bytes);
        }
    }

    /// Takes one ACK that delivered data and returns `sndcnt`, the bytes this ACK lets go
    /// out (RFC 9937 section 6).
    pub(crate) fn on_ack(&mut self, a: PrrAck) -> u32 {
        self.delivered = self.delivered.saturating_add(a.delivered);
        let sndcnt = if a.pipe > a.ssthresh {
            // Proportional Rate Reduction; the ceiling keeps the decrease multiplicative.
            let target = (u64::from(self.delivered) * u64::from(a.ssthresh))
                .div_ceil(u64::from(self.recover_fs.max(1)));
            target
                .saturating_sub(u64::from(self.out))
                .min(u64::from(u32::MAX)) as u32
        } else {
            // The reduction bound: PRR-CRB, plus one SMSS (PRR-SSRB) on a safe ACK.
            let mut limit = self.delivered.saturating_sub(self.out).max(a.delivered);
            if a.safe {
                limit = limit.saturating_add(a.smss);
            }
            limit.min(a.ssthresh - a.pipe)
        };
        if self.out == 0 && sndcnt == 0 {
            // The fast retransmission goes out on the ACK that starts recovery.
            return a.smss;
        }
        sndcnt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(delivered: u32, pipe: u32, safe: bool) -> PrrAck {
        PrrAck {
            delivered,
            pipe,
            ssthresh: 10_000,
            smss: 1000,
            safe,
        }
    }

    #[test]
    fn proportional_part_sends_ssthresh_over_recover_fs_of_what_was_delivered() {
        let mut p = Prr::EMPTY;
        assert!(!p.running());
        p.sent(1000);
        assert_eq!(p.out, 0, "nothing counted while not running");
        p.start(20_000);
        // First ACK: 500 bytes allowed, but nothing sent yet: the fast retransmission.
        assert_eq!(p.on_ack(ack(1000, 18_000, false)), 500);
        p.sent(1000);
        assert_eq!(p.on_ack(ack(1000, 17_000, false)), 0);
        assert_eq!(p.on_ack(ack(1000, 16_000, false)), 500);
        assert_eq!(p.on_ack(ack(1000, 15_000, false)), 1000);
        p.sent(1000);
        // 20 000 delivered: exactly ssthresh sent in all.
        for _ in 4..20 {
            let n = p.on_ack(ack(1000, 12_000, false));
            p.sent(n);
        }
        assert_eq!((p.delivered, p.out), (20_000, 10_000));
    }

    #[test]
    fn reduction_bound_crb_then_ssrb_on_safe_acks() {
        let mut p = Prr::EMPTY;
        p.start(20_000);
        p.sent(1000);
        // pipe 2000, far below ssthresh: no burst of 8000, only what was delivered (CRB).
        assert_eq!(p.on_ack(ack(1000, 2000, false)), 1000);
        p.sent(1000);
        // A safe ACK adds one SMSS (SSRB): two segments for one delivered.
        assert_eq!(p.on_ack(ack(1000, 2000, true)), 2000);
        p.sent(2000);
        // Never beyond ssthresh - pipe.
        assert_eq!(p.on_ack(ack(5000, 9500, true)), 500);
        // The fast retransmission is never held back.
        let mut q = Prr::EMPTY;
        q.start(1);
        assert_eq!(q.on_ack(ack(1, 10_000, false)), 1000);
    }
}
