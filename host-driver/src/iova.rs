//! IOVA allocation: where in the device's address space DMA memory is mapped.
//!
//! Owns [`IovaAllocator`], a first-fit allocator over the IOVA ranges an IOMMU accepts, clipped
//! to the device's DMA mask (QEMU's `edu` sees 28 bits; an IOMMU with a 39-bit address width
//! rejects anything above 2^39), with IOVA 0 left out so a zero address in a descriptor is always
//! a bug. Never assumes IOVA = physical or virtual address. Pure bookkeeping: it maps nothing.

use std::fmt;
use std::ops::Range;

/// Allocates aligned IOVA ranges from a set of valid ranges (half-open).
#[derive(Clone, Debug)]
pub struct IovaAllocator {
    /// Free ranges, sorted, disjoint, non-empty, not adjacent.
    free: Vec<Range<u64>>,
    /// The usable ranges this allocator started from (for messages).
    usable: Vec<Range<u64>>,
    align: u64,
}

/// Why an IOVA range could not be handed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IovaExhausted {
    /// Bytes asked for.
    pub len: u64,
    /// Alignment asked for.
    pub align: u64,
    /// The largest free range left (in bytes).
    pub largest_free: u64,
    /// The usable ranges (valid ranges within the DMA mask).
    pub usable: Vec<Range<u64>>,
}

impl fmt::Display for IovaExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no free IOVA range of {:#x} bytes aligned to {:#x} (largest free: {:#x} bytes; usable ranges:",
            self.len, self.align, self.largest_free
        )?;
        if self.usable.is_empty() {
            write!(f, " none")?;
        }
        for r in &self.usable {
            write!(f, " [{:#x}, {:#x})", r.start, r.end)?;
        }
        write!(f, ")")
    }
}

impl IovaAllocator {
    /// An allocator over `valid` (the IOMMU's valid IOVA ranges, half-open, any order), clipped
    /// to `[align, 2^dma_mask_bits)`. `align` must be a power of two (the IOMMU page size, or the
    /// DMA memory's page size when larger).
    pub fn new(valid: &[Range<u64>], dma_mask_bits: u8, align: u64) -> IovaAllocator {
        let align = align.max(1).next_power_of_two();
        let limit = if dma_mask_bits >= 64 {
            u64::MAX
        } else {
            1u64 << dma_mask_bits
        };
        let mut usable: Vec<Range<u64>> = valid
            .iter()
            .map(|r| r.start.max(align)..r.end.min(limit))
            .filter(|r| r.start < r.end)
            .collect();
        usable.sort_by_key(|r| r.start);
        // Merge overlapping or adjacent input ranges.
        let mut merged: Vec<Range<u64>> = Vec::with_capacity(usable.len());
        for r in usable {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        IovaAllocator {
            free: merged.clone(),
            usable: merged,
            align,
        }
    }

    /// The alignment of every range handed out.
    pub fn align(&self) -> u64 {
        self.align
    }

    /// The usable ranges (valid ranges within the DMA mask, IOVA 0 excluded).
    pub fn usable(&self) -> &[Range<u64>] {
        &self.usable
    }

    /// Free bytes left.
    pub fn free_bytes(&self) -> u64 {
        self.free.iter().map(|r| r.end - r.start).sum()
    }

    /// Hands out `len` bytes (rounded up to the alignment) at an aligned IOVA: the lowest that
    /// fits.
    pub fn alloc(&mut self, len: u64) -> Result<u64, IovaExhausted> {
        let rounded = len
            .max(1)
            .checked_next_multiple_of(self.align)
            .ok_or_else(|| self.exhausted(len))?;
        for i in 0..self.free.len() {
            let r = self.free[i].clone();
            let Some(start) = r.start.checked_next_multiple_of(self.align) else {
                continue;
            };
            let Some(end) = start.checked_add(rounded) else {
                continue;
            };
            if end > r.end {
                continue;
            }
            // Split r into [r.start, start) and [end, r.end).
            let before = r.start..start;
            let after = end..r.end;
            match (before.is_empty(), after.is_empty()) {
                (true, true) => {
                    self.free.remove(i);
                }
                (true, false) => self.free[i] = after,
                (false, true) => self.free[i] = before,
                (false, false) => {
                    self.free[i] = before;
                    self.free.insert(i + 1, after);
                }
            }
            return Ok(start);
        }
        Err(self.exhausted(len))
    }

    /// Gives back a range handed out by [`alloc`](Self::alloc) with the same `len`. Returns
    /// `false` (and changes nothing) when the range is not wholly allocated: a double free or a
    /// range this allocator never handed out.
    pub fn free(&mut self, iova: u64, len: u64) -> bool {
        let Some(rounded) = len.max(1).checked_next_multiple_of(self.align) else {
            return false;
        };
        let Some(end) = iova.checked_add(rounded) else {
            return false;
        };
        let inside_usable = self.usable.iter().any(|u| u.start <= iova && end <= u.end);
        if !inside_usable {
            return false;
        }
        // Position of the first free range starting at or after `iova`.
        let pos = self.free.partition_point(|r| r.start < iova);
        if pos > 0 && self.free[pos - 1].end > iova {
            return false; // overlaps the previous free range
        }
        if pos < self.free.len() && self.free[pos].start < end {
            return false; // overlaps the next free range
        }
        let merge_prev = pos > 0 && self.free[pos - 1].end == iova;
        let merge_next = pos < self.free.len() && self.free[pos].start == end;
        match (merge_prev, merge_next) {
            (true, true) => {
                self.free[pos - 1].end = self.free[pos].end;
                self.free.remove(pos);
            }
            (true, false) => self.free[pos - 1].end = end,
            (false, true) => self.free[pos].start = iova,
            (false, false) => self.free.insert(pos, iova..end),
        }
        true
    }

    fn exhausted(&self, len: u64) -> IovaExhausted {
        IovaExhausted {
            len,
            align: self.align,
            largest_free: self.free.iter().map(|r| r.end - r.start).max().unwrap_or(0),
            usable: self.usable.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn respects_dma_mask_and_skips_iova_zero() {
        // A typical VT-d picture: everything but the MSI window, 39 bits wide.
        let valid = [0..0xfee0_0000, 0xfef0_0000..(1u64 << 39)];
        let mut a = IovaAllocator::new(&valid, 28, 2 * MIB);
        assert_eq!(a.usable(), std::slice::from_ref(&(2 * MIB..(1 << 28))));
        let first = a.alloc(2 * MIB).unwrap();
        assert_eq!(first, 2 * MIB, "IOVA 0 is never handed out");
        let mut last = first;
        while let Ok(iova) = a.alloc(2 * MIB) {
            assert!(
                iova + 2 * MIB <= 1 << 28,
                "beyond the 28-bit mask: {iova:#x}"
            );
            last = iova;
        }
        assert_eq!(last, (1 << 28) - 2 * MIB);
        let err = a.alloc(1).unwrap_err();
        assert_eq!(err.largest_free, 0);
        assert!(err.to_string().contains("[0x200000, 0x10000000)"), "{err}");
    }

    #[test]
    fn skips_holes_and_rounds_up() {
        let valid = [0x1000..0x3000, 0x10000..0x20000];
        let mut a = IovaAllocator::new(&valid, 64, 0x1000);
        assert_eq!(a.alloc(1).unwrap(), 0x1000);
        assert_eq!(
            a.alloc(0x1001).unwrap(),
            0x10000,
            "does not fit in the first hole"
        );
        assert_eq!(a.alloc(0x1000).unwrap(), 0x2000);
        assert!(a.free(0x10000, 0x1001));
        assert!(!a.free(0x10000, 0x1001), "double free refused");
        assert!(!a.free(0x5000, 0x1000), "never handed out");
        assert_eq!(a.alloc(0x2000).unwrap(), 0x10000, "freed space is reused");
    }

    #[test]
    fn no_usable_range_is_reported() {
        let mut a = IovaAllocator::new(std::slice::from_ref(&((1 << 40)..(1 << 41))), 32, 4096);
        let err = a.alloc(4096).unwrap_err();
        assert!(err.usable.is_empty());
        assert!(err.to_string().contains("usable ranges: none"), "{err}");
    }

    #[test]
    fn huge_lengths_do_not_overflow() {
        let mut a = IovaAllocator::new(std::slice::from_ref(&(0..u64::MAX)), 64, 4096);
        assert!(a.alloc(u64::MAX).is_err());
        assert!(a.alloc(u64::MAX - 4095).is_err());
        assert!(!a.free(u64::MAX - 10, 4096));
    }

    proptest! {
        /// Whatever the sequence of allocations and frees: handed-out ranges are aligned, inside
        /// the usable ranges, never overlap, and freeing everything restores the free space.
        #[test]
        #[cfg_attr(miri, ignore = "pure bookkeeping without unsafe; proptest needs file access")]
        fn allocations_are_disjoint_aligned_and_inside(
            ops in proptest::collection::vec((1u64..(6 * MIB), any::<bool>()), 1..60),
            mask in 24u8..40,
        ) {
            let valid = [0..0xfee0_0000, 0xfef0_0000..(1u64 << 39)];
            let mut a = IovaAllocator::new(&valid, mask, 4096);
            let total = a.free_bytes();
            let mut live: Vec<(u64, u64)> = Vec::new();
            for (len, free_one) in ops {
                if free_one && !live.is_empty() {
                    let (iova, len) = live.swap_remove(0);
                    prop_assert!(a.free(iova, len));
                    continue;
                }
                if let Ok(iova) = a.alloc(len) {
                    let end = iova + len.next_multiple_of(4096);
                    prop_assert_eq!(iova % 4096, 0);
                    prop_assert!(iova > 0);
                    prop_assert!(end <= 1u64 << mask);
                    prop_assert!(a.usable().iter().any(|u| u.start <= iova && end <= u.end));
                    for &(o, olen) in &live {
                        let oend = o + olen.next_multiple_of(4096);
                        prop_assert!(end <= o || oend <= iova, "overlap");
                    }
                    live.push((iova, len));
                }
            }
            for (iova, len) in live {
                prop_assert!(a.free(iova, len));
            }
            prop_assert_eq!(a.free_bytes(), total);
            prop_assert_eq!(a.free.len(), a.usable.len());
        }
    }
}
