//! The sender's SACK scoreboard (RFC 6675), bounded to a few ranges.
//!
//! Remembers which ranges above SND.UNA the peer reported holding, the highest SACKed sequence
//! number and HighRxt (the end of the last retransmission in this recovery). From these it
//! answers RFC 6675's questions: which bytes are lost (`IsLost`), how much is in the network
//! (`SetPipe`) and what to retransmit next (`NextSeg` rules 1 and 3), and notices
//! retransmissions lost again (SND.MAX at the latest retransmission, `rxt_fence`, is
//! overtaken by SACKs). When more ranges are reported
//! than fit, the highest ones are forgotten: that only underestimates what the peer holds, which
//! makes the sender more conservative, never wrong. Owns the ranges; must not touch buffers,
//! timers or the congestion window.

use crate::segment::SackBlock;
use crate::seq::SeqNum;

/// Ranges the scoreboard remembers.
pub const SCOREBOARD_RANGES: usize = 4;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scoreboard {
    ranges: [SackBlock; SCOREBOARD_RANGES],
    count: u8,
    /// End of the last retransmission of this recovery episode (RFC 6675 HighRxt).
    pub(crate) high_rxt: SeqNum,
    /// SND.MAX when the latest retransmission went out: data above it was sent after every
    /// retransmission so far, so once some of it is SACKed, retransmissions still un-SACKed
    /// below HighRxt were lost again. Not armed when at or below SND.UNA.
    pub(crate) rxt_fence: SeqNum,
}

fn unsigned(a: SeqNum, b: SeqNum) -> u32 {
    if a.lt(b) { b - a } else { 0 }
}

impl Scoreboard {
    /// No ranges.
    pub(crate) const EMPTY: Scoreboard = Scoreboard {
        ranges: [SackBlock {
            left: SeqNum(0),
            right: SeqNum(0),
        }; SCOREBOARD_RANGES],
        count: 0,
        high_rxt: SeqNum(0),
        rxt_fence: SeqNum(0),
    };

    /// Remembered ranges, ascending.
    #[inline]
    pub(crate) fn ranges(&self) -> &[SackBlock] {
        &self.ranges[..usize::from(self.count).min(SCOREBOARD_RANGES)]
    }

    /// Forgets everything (after a retransmission timeout, RFC 2018 section 8).
    pub(crate) fn clear(&mut self, snd_una: SeqNum) {
        *self = Scoreboard::default();
        self.high_rxt = snd_una;
        self.rxt_fence = snd_una;
    }

    /// Lost retransmission detection (not in RFC 6675, which leaves a lost retransmission to
    /// the RTO): when data sent after the latest retransmission has been SACKed while SND.UNA
    /// is still missing, the retransmissions below HighRxt that are not SACKed were lost too
    /// (unless the path reorders), so HighRxt goes back to SND.UNA and `NextSeg` sends them
    /// again. Returns whether it did.
    pub(crate) fn retransmissions_lost(&mut self, snd_una: SeqNum, snd_max: SeqNum) -> bool {
        let fence = self.rxt_fence;
        let lost = fence.gt(snd_una)
            && fence.lt(snd_max)
            && self.high_rxt.gt(snd_una)
            && !self.is_sacked(snd_una)
            && self.sacked_in(fence, snd_max) > 0;
        if lost {
            self.high_rxt = snd_una;
            self.rxt_fence = snd_una;
        }
        lost
    }

    /// Takes the SACK blocks of one ACK. Blocks outside `(snd_una, snd_max]` (D-SACKs,
    /// forgeries) are ignored. Returns whether anything new was learnt.
    pub(crate) fn update(
        &mut self,
        snd_una: SeqNum,
        snd_max: SeqNum,
        blocks: &[SackBlock],
    ) -> bool {
        let mut learnt = false;
        for b in blocks {
            let left = b.left.max(snd_una);
            let right = b.right;
            if !left.lt(right) || right.gt(snd_max) || !b.left.lt(b.right) {
                continue;
            }
            learnt |= self.insert(left, right);
        }
        learnt
    }

    fn insert(&mut self, start: SeqNum, end: SeqNum) -> bool {
        let (mut lo, mut hi) = (start, end);
        let mut keep = [SackBlock::default(); SCOREBOARD_RANGES + 1];
        let mut kept = 0usize;
        for r in self.ranges() {
            if r.left.le(start) && end.le(r.right) {
                return false;
            }
            if r.left.le(hi) && lo.le(r.right) {
                lo = lo.min(r.left);
                hi = hi.max(r.right);
            } else {
                keep[kept] = *r;
                kept += 1;
            }
        }
        let pos = keep[..kept]
            .iter()
            .position(|r| lo.lt(r.left))
            .unwrap_or(kept);
        keep.copy_within(pos..kept, pos + 1);
        keep[pos] = SackBlock {
            left: lo,
            right: hi,
        };
        kept += 1;
        // Forget the highest ranges when over capacity.
        let n = kept.min(SCOREBOARD_RANGES);
        self.ranges[..n].copy_from_slice(&keep[..n]);
        self.count = n as u8;
        true
    }

    /// SND.UNA advanced: drop what it covers.
    pub(crate) fn advance(&mut self, snd_una: SeqNum) {
        if self.count == 0 {
            // No ranges (every ACK without SACK blocks): nothing to drop or rebuild.
            if self.high_rxt.lt(snd_una) {
                self.high_rxt = snd_una;
            }
            return;
        }
        let mut out = [SackBlock::default(); SCOREBOARD_RANGES];
        let mut n = 0usize;
        for r in self.ranges() {
            if r.right.gt(snd_una) {
                out[n] = SackBlock {
                    left: r.left.max(snd_una),
                    right: r.right,
                };
                n += 1;
            }
        }
        self.ranges = out;
        self.count = n as u8;
        if self.high_rxt.lt(snd_una) {
            self.high_rxt = snd_una;
        }
    }

    /// Bytes SACKed inside `[a, b)`.
    pub(crate) fn sacked_in(&self, a: SeqNum, b: SeqNum) -> u32 {
        self.ranges()
            .iter()
            .map(|r| unsigned(r.left.max(a), r.right.min(b)))
            .sum()
    }

    /// Whether `seq` was SACKed.
    pub(crate) fn is_sacked(&self, seq: SeqNum) -> bool {
        self.ranges().iter().any(|r| seq.in_window(r.left, r.right))
    }

    /// The end of the lost prefix: every un-SACKed byte below it is lost by RFC 6675's
    /// `IsLost` (`dup_thresh` SACKed ranges above it, or more than (`dup_thresh` - 1) * SMSS
    /// SACKed bytes above it; with a DupThresh above [`SCOREBOARD_RANGES`] only the bytes
    /// count). Equals `snd_una` when nothing is lost.
    pub(crate) fn lost_boundary(&self, snd_una: SeqNum, smss: u32, dup_thresh: u32) -> SeqNum {
        let mut bytes = 0u32;
        for (i, r) in self.ranges().iter().enumerate().rev() {
            bytes = bytes.saturating_add(unsigned(r.left, r.right));
            let ranges_above = (self.ranges().len() - i) as u32;
            if ranges_above >= dup_thresh || bytes > (dup_thresh - 1).saturating_mul(smss) {
                return r.left.max(snd_una);
            }
        }
        snd_una
    }

    /// RFC 6675 SetPipe: bytes presumed in the network between `snd_una` and `snd_max`
    /// (`IsLost` with `dup_thresh`).
    pub(crate) fn pipe(&self, snd_una: SeqNum, snd_max: SeqNum, smss: u32, dup_thresh: u32) -> u32 {
        let outstanding = unsigned(snd_una, snd_max);
        let sacked = self.sacked_in(snd_una, snd_max);
        let boundary = self.lost_boundary(snd_una, smss, dup_thresh);
        let lost = unsigned(snd_una, boundary) - self.sacked_in(snd_una, boundary);
        let rxt_end = self.high_rxt.max(snd_una).min(snd_max);
        let retransmitted = unsigned(snd_una, rxt_end) - self.sacked_in(snd_una, rxt_end);
        outstanding
            .saturating_sub(sacked)
            .saturating_sub(lost)
            .saturating_add(retransmitted)
    }

    /// RFC 6675 NextSeg rule 1: the first lost, un-SACKed, not yet retransmitted range below
    /// `limit`, at most `max_len` bytes: `(seq, len)`.
    pub(crate) fn next_hole(
        &self,
        snd_una: SeqNum,
        limit: SeqNum,
        max_len: u32,
    ) -> Option<(SeqNum, u32)> {
        let mut seq = self.high_rxt.max(snd_una);
        // Skip SACKed ranges covering `seq` (ranges are ascending).
        for r in self.ranges() {
            if seq.in_window(r.left, r.right) {
                seq = r.right;
            }
        }
        if !seq.lt(limit) {
            return None;
        }
        let next_sacked = self
            .ranges()
            .iter()
            .find(|r| seq.lt(r.left))
            .map_or(limit, |r| r.left.min(limit));
        let len = unsigned(seq, next_sacked).min(max_len);
        (len > 0).then_some((seq, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(a: u32, z: u32) -> SackBlock {
        SackBlock {
            left: SeqNum(a),
            right: SeqNum(z),
        }
    }

    #[test]
    fn loss_pipe_and_next_hole() {
        let mut s = Scoreboard::default();
        s.clear(SeqNum(1000));
        // Segments of 100: 1000 lost, 1100..1400 SACKed, 1400 lost, 1500..1600 SACKed.
        assert!(s.update(SeqNum(1000), SeqNum(1700), &[b(1100, 1400), b(1500, 1600)]));
        assert!(
            !s.update(SeqNum(1000), SeqNum(1700), &[b(1100, 1200)]),
            "nothing new"
        );
        assert!(
            !s.update(SeqNum(1000), SeqNum(1700), &[b(900, 1000), b(1600, 1800)]),
            "invalid"
        );
        assert_eq!(s.sacked_in(SeqNum(1000), SeqNum(1700)), 400);
        // 400 SACKed bytes > 2 * 100 above 1000: 1000..1100 is lost; above 1400 only 100.
        assert_eq!(s.lost_boundary(SeqNum(1000), 100, 3), SeqNum(1100));
        // outstanding 700 - sacked 400 - lost 100 = 200 (1400..1500 and 1600..1700).
        assert_eq!(s.pipe(SeqNum(1000), SeqNum(1700), 100, 3), 200);
        assert_eq!(
            s.next_hole(SeqNum(1000), SeqNum(1100), 100),
            Some((SeqNum(1000), 100))
        );
        s.high_rxt = SeqNum(1100);
        assert_eq!(s.pipe(SeqNum(1000), SeqNum(1700), 100, 3), 300);
        assert_eq!(s.next_hole(SeqNum(1000), SeqNum(1100), 100), None);
        s.advance(SeqNum(1400));
        assert_eq!(s.ranges(), &[b(1500, 1600)]);
        assert!(s.is_sacked(SeqNum(1550)) && !s.is_sacked(SeqNum(1600)));
    }

    #[test]
    fn a_retransmission_is_lost_once_later_data_is_sacked() {
        let mut s = Scoreboard::default();
        s.clear(SeqNum(1000));
        assert!(s.update(SeqNum(1000), SeqNum(1500), &[b(1100, 1400)]));
        // 1000..1100 retransmitted while SND.MAX was 1500; then 1500..1600 is sent.
        s.high_rxt = SeqNum(1100);
        s.rxt_fence = SeqNum(1500);
        assert!(
            !s.retransmissions_lost(SeqNum(1000), SeqNum(1600)),
            "nothing above the fence"
        );
        // Data sent after the retransmission arrives first: the retransmission was lost.
        s.update(SeqNum(1000), SeqNum(1600), &[b(1100, 1400), b(1500, 1600)]);
        assert!(s.retransmissions_lost(SeqNum(1000), SeqNum(1600)));
        assert_eq!((s.high_rxt, s.rxt_fence), (SeqNum(1000), SeqNum(1000)));
        assert!(
            !s.retransmissions_lost(SeqNum(1000), SeqNum(1600)),
            "disarmed until the next"
        );
        assert_eq!(
            s.next_hole(SeqNum(1000), SeqNum(1100), 100),
            Some((SeqNum(1000), 100))
        );
    }

    #[test]
    fn keeps_lowest_ranges_when_full() {
        let mut s = Scoreboard::default();
        s.clear(SeqNum(0));
        for i in 0..6u32 {
            s.update(
                SeqNum(0),
                SeqNum(10_000),
                &[b(100 * (2 * i + 1), 100 * (2 * i + 2))],
            );
        }
        assert_eq!(s.ranges().len(), SCOREBOARD_RANGES);
        assert_eq!(s.ranges()[0], b(100, 200));
        assert_eq!(s.ranges()[3], b(700, 800));
    }
}
