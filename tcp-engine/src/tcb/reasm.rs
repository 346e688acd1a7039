//! Out-of-order bookkeeping of the receive side: a bounded, sorted list of the byte ranges
//! received beyond RCV.NXT.
//!
//! The bytes themselves sit in the user's receive buffer at their offset; this list only says
//! which ranges are present. It also produces the SACK blocks this host reports (RFC 2018: the
//! block holding the most recent segment first), led by a D-SACK block (RFC 2883) when a
//! duplicate arrived since the last ACK. Owns the ranges and the pending duplicate report;
//! must not touch buffers.

use crate::segment::{SackBlock, TcpOptions};
use crate::seq::SeqNum;

/// Most out-of-order ranges remembered; a segment that would need one more is dropped.
pub const MAX_OOO_RANGES: usize = 4;

/// Sorted, disjoint, non-adjacent ranges `[start, end)`, all beyond RCV.NXT.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reassembly {
    ranges: [SackBlock; MAX_OOO_RANGES],
    count: u8,
    /// Index of the range holding the most recently received out-of-order segment.
    recent: u8,
    /// A duplicate received since the last ACK went out, to report as the first SACK block
    /// of the next one (RFC 2883 D-SACK); empty (`left == right`) when there is none.
    duplicate: SackBlock,
}

/// What an insertion did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Insert {
    /// The range is now remembered (possibly merged with others).
    Stored,
    /// All of it was already present.
    Duplicate,
    /// It would need more than [`MAX_OOO_RANGES`] ranges: not stored.
    Full,
}

impl Reassembly {
    /// No ranges.
    pub(crate) const EMPTY: Reassembly = Reassembly {
        ranges: [SackBlock {
            left: SeqNum(0),
            right: SeqNum(0),
        }; MAX_OOO_RANGES],
        count: 0,
        recent: 0,
        duplicate: SackBlock {
            left: SeqNum(0),
            right: SeqNum(0),
        },
    };

    /// The remembered ranges, ascending.
    #[inline]
    pub(crate) fn ranges(&self) -> &[SackBlock] {
        &self.ranges[..usize::from(self.count).min(MAX_OOO_RANGES)]
    }

    /// Whether nothing is held out of order.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Forgets the out-of-order ranges (a pending duplicate report stays).
    pub(crate) fn clear(&mut self) {
        *self = Reassembly {
            duplicate: self.duplicate,
            ..Reassembly::EMPTY
        };
    }

    /// Whether the next ACK carries SACK blocks: out-of-order ranges or a duplicate to report.
    #[inline]
    pub(crate) fn reports_sack(&self) -> bool {
        self.count != 0 || self.duplicate_pending()
    }

    /// Whether a duplicate waits to be reported.
    #[inline]
    pub(crate) fn duplicate_pending(&self) -> bool {
        self.duplicate.left != self.duplicate.right
    }

    /// Remembers `[start, end)` as received twice, for the next ACK's D-SACK block (RFC 2883
    /// section 4: only the latest duplicate is reported; an empty range is ignored).
    pub(crate) fn note_duplicate(&mut self, start: SeqNum, end: SeqNum) {
        if start.lt(end) {
            self.duplicate = SackBlock {
                left: start,
                right: end,
            };
        }
    }

    /// The duplicate `block` went out in an ACK: it is not reported again (RFC 2883 section 4,
    /// rule 2). A different pending duplicate (a newer one) stays.
    pub(crate) fn duplicate_reported(&mut self, block: SackBlock) {
        if self.duplicate == block {
            self.duplicate = SackBlock::default();
        }
    }

    /// Remembers `[start, end)` (non-empty, beyond RCV.NXT).
    pub(crate) fn insert(&mut self, start: SeqNum, end: SeqNum) -> Insert {
        if !start.lt(end) {
            return Insert::Duplicate;
        }
        let (mut lo, mut hi) = (start, end);
        let mut keep = [SackBlock::default(); MAX_OOO_RANGES];
        let mut kept = 0usize;
        for r in self.ranges() {
            if r.left.le(start) && end.le(r.right) {
                return Insert::Duplicate;
            }
            if r.left.le(hi) && lo.le(r.right) {
                lo = lo.min(r.left);
                hi = hi.max(r.right);
            } else if kept < MAX_OOO_RANGES {
                keep[kept] = *r;
                kept += 1;
            }
        }
        if kept >= MAX_OOO_RANGES {
            return Insert::Full;
        }
        // Insert [lo, hi) into the kept ranges at its sorted position.
        let pos = keep[..kept]
            .iter()
            .position(|r| lo.lt(r.left))
            .unwrap_or(kept);
        let mut out = [SackBlock::default(); MAX_OOO_RANGES];
        let mut n = 0usize;
        for (i, r) in keep[..kept].iter().enumerate() {
            if i == pos {
                out[n] = SackBlock {
                    left: lo,
                    right: hi,
                };
                n += 1;
            }
            out[n] = *r;
            n += 1;
        }
        if pos == kept {
            out[n] = SackBlock {
                left: lo,
                right: hi,
            };
            n += 1;
        }
        self.ranges = out;
        self.count = n as u8;
        self.recent = pos as u8;
        Insert::Stored
    }

    /// Removes and returns the end of the first range when it starts at or before `rcv_nxt`
    /// (the hole before it is filled).
    pub(crate) fn pop_ready(&mut self, rcv_nxt: SeqNum) -> Option<SeqNum> {
        let first = *self.ranges().first()?;
        if first.left.gt(rcv_nxt) {
            return None;
        }
        let n = usize::from(self.count);
        self.ranges.copy_within(1..n, 0);
        self.count -= 1;
        self.recent = self.recent.saturating_sub(1);
        Some(first.right)
    }

    /// Writes up to `max` SACK blocks into `opts`. A pending duplicate goes first as the
    /// D-SACK block, followed by the range that holds it if there is one (RFC 2883 section 4);
    /// then the range of the most recent segment, then the others ascending (RFC 2018 section
    /// 4).
    pub(crate) fn write_sack(&self, opts: &mut TcpOptions, max: usize) {
        let ranges = self.ranges();
        let mut first = usize::from(self.recent);
        if self.duplicate_pending() && max > 0 {
            opts.push_sack(self.duplicate);
            let d = self.duplicate;
            if let Some(i) = ranges
                .iter()
                .position(|r| r.left.le(d.left) && d.right.le(r.right))
            {
                first = i;
            }
        }
        if let Some(r) = ranges.get(first) {
            if usize::from(opts.sack_count) < max {
                opts.push_sack(*r);
            }
        }
        for (i, r) in ranges.iter().enumerate() {
            if i != first && usize::from(opts.sack_count) < max {
                opts.push_sack(*r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(a: u32, b: u32) -> SackBlock {
        SackBlock {
            left: SeqNum(a),
            right: SeqNum(b),
        }
    }

    #[test]
    fn merges_and_bounds() {
        let mut q = Reassembly::default();
        assert_eq!(q.insert(SeqNum(30), SeqNum(40)), Insert::Stored);
        assert_eq!(q.insert(SeqNum(10), SeqNum(20)), Insert::Stored);
        assert_eq!(q.insert(SeqNum(50), SeqNum(60)), Insert::Stored);
        assert_eq!(q.insert(SeqNum(70), SeqNum(80)), Insert::Stored);
        assert_eq!(q.ranges(), &[r(10, 20), r(30, 40), r(50, 60), r(70, 80)]);
        assert_eq!(q.insert(SeqNum(90), SeqNum(95)), Insert::Full);
        assert_eq!(q.insert(SeqNum(32), SeqNum(38)), Insert::Duplicate);
        // Bridging three ranges frees two slots.
        assert_eq!(q.insert(SeqNum(15), SeqNum(55)), Insert::Stored);
        assert_eq!(q.ranges(), &[r(10, 60), r(70, 80)]);
        // Adjacent ranges merge.
        assert_eq!(q.insert(SeqNum(60), SeqNum(70)), Insert::Stored);
        assert_eq!(q.ranges(), &[r(10, 80)]);
        assert_eq!(q.pop_ready(SeqNum(9)), None);
        assert_eq!(q.pop_ready(SeqNum(10)), Some(SeqNum(80)));
        assert!(q.is_empty());
    }

    #[test]
    fn sack_lists_most_recent_first() {
        let mut q = Reassembly::default();
        q.insert(SeqNum(10), SeqNum(20));
        q.insert(SeqNum(50), SeqNum(60));
        q.insert(SeqNum(30), SeqNum(40));
        let mut o = TcpOptions::default();
        q.write_sack(&mut o, 3);
        assert_eq!(o.sacks(), &[r(30, 40), r(10, 20), r(50, 60)]);
        let mut o = TcpOptions::default();
        q.write_sack(&mut o, 2);
        assert_eq!(o.sacks(), &[r(30, 40), r(10, 20)]);
    }

    #[test]
    fn duplicate_leads_with_its_containing_range_next() {
        let mut q = Reassembly::default();
        q.insert(SeqNum(10), SeqNum(20));
        q.insert(SeqNum(50), SeqNum(60));
        q.insert(SeqNum(30), SeqNum(40));
        q.note_duplicate(SeqNum(52), SeqNum(55));
        assert!(q.reports_sack());
        let mut o = TcpOptions::default();
        q.write_sack(&mut o, 3);
        assert_eq!(o.sacks(), &[r(52, 55), r(50, 60), r(10, 20)]);
        // Below RCV.NXT: no containing range, the most recent follows.
        q.note_duplicate(SeqNum(1), SeqNum(5));
        let mut o = TcpOptions::default();
        q.write_sack(&mut o, 4);
        assert_eq!(o.sacks(), &[r(1, 5), r(30, 40), r(10, 20), r(50, 60)]);
        // Reported once; an older report does not clear a newer one.
        q.duplicate_reported(r(52, 55));
        assert!(q.duplicate_pending());
        q.duplicate_reported(r(1, 5));
        assert!(!q.duplicate_pending());
        let mut o = TcpOptions::default();
        q.write_sack(&mut o, 3);
        assert_eq!(o.sacks(), &[r(30, 40), r(10, 20), r(50, 60)]);
    }

    #[test]
    fn a_duplicate_alone_is_reported_and_survives_clearing_the_ranges() {
        let mut q = Reassembly::default();
        assert!(!q.reports_sack());
        q.note_duplicate(SeqNum(7), SeqNum(7));
        assert!(!q.reports_sack(), "an empty range is no duplicate");
        q.note_duplicate(SeqNum(u32::MAX - 1), SeqNum(3));
        q.clear();
        assert!(q.is_empty() && q.reports_sack());
        let mut o = TcpOptions::default();
        q.write_sack(&mut o, 1);
        assert_eq!(o.sacks(), &[r(u32::MAX - 1, 3)]);
    }

    #[test]
    fn wraps_around_zero() {
        let mut q = Reassembly::default();
        q.insert(SeqNum(u32::MAX - 5), SeqNum(5));
        q.insert(SeqNum(10), SeqNum(20));
        assert_eq!(q.insert(SeqNum(4), SeqNum(11)), Insert::Stored);
        assert_eq!(q.ranges(), &[r(u32::MAX - 5, 20)]);
    }
}
