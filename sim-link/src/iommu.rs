//! The simulated IOMMU: the device side's view of the DMA memory the driver registered.
//!
//! Owns the device's mappings of the driver's DMA files and the translation of IOVAs to them
//! (IOVA = region base + offset into the file). A device access that is not wholly inside
//! registered memory is a [`DmaFault`] naming the first byte that is not, and nothing is read or
//! written for it. Only files that cannot shrink are mapped, so no driver can make a device
//! access raise `SIGBUS`. It must not decide what a fault means for the device: the device
//! model reports faults as hw-spec says.

use std::cell::Cell;
use std::sync::atomic::Ordering;

use crate::shm::SharedRegion;

/// A device access outside the memory mapped for the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaFault {
    /// The first IOVA of the access that no region covers.
    pub iova: u64,
}

impl std::fmt::Display for DmaFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DMA fault at IOVA {:#x}: no region mapped there",
            self.iova
        )
    }
}

impl std::error::Error for DmaFault {}

#[derive(Debug)]
struct Region {
    iova: u64,
    len: u64,
    slot: u32,
    mem: SharedRegion,
}

impl Region {
    #[inline]
    fn contains(&self, iova: u64) -> bool {
        iova >= self.iova && iova - self.iova < self.len
    }
}

/// The device's IOMMU: registered regions, kept sorted by IOVA.
#[derive(Debug, Default)]
pub struct Iommu {
    regions: Vec<Region>,
    last_hit: Cell<usize>,
}

impl Iommu {
    /// An IOMMU with nothing mapped (every access faults).
    pub fn new() -> Iommu {
        Iommu::default()
    }

    /// Maps `len` bytes of `mem` (from its start) at `iova`. Fails with `EEXIST` if the range
    /// overlaps a mapped region, `EINVAL` if `mem` is shorter than `len` or the range wraps, and
    /// `EPERM` if the file behind `mem` could shrink ([`SharedRegion::seal_against_shrinking`]):
    /// the driver could then crash the device with `SIGBUS` by truncating it.
    pub(crate) fn map(
        &mut self,
        slot: u32,
        iova: u64,
        len: u64,
        mem: SharedRegion,
    ) -> Result<(), i32> {
        if len == 0 || (mem.len() as u64) < len || iova.checked_add(len).is_none() {
            return Err(libc::EINVAL);
        }
        if self
            .regions
            .iter()
            .any(|r| iova < r.iova + r.len && r.iova < iova + len)
        {
            return Err(libc::EEXIST);
        }
        if mem.seal_against_shrinking().is_err() {
            return Err(libc::EPERM);
        }
        // Pinned, as an IOMMU mapping pins host memory: no page faults in the device's DMA
        // later. Only a speed-up, so a kernel without MADV_POPULATE_WRITE (before 5.14) maps
        // the region all the same.
        let _ = mem.populate();
        let at = self.regions.partition_point(|r| r.iova < iova);
        self.regions.insert(
            at,
            Region {
                iova,
                len,
                slot,
                mem,
            },
        );
        self.last_hit.set(0);
        Ok(())
    }

    /// Removes the region registered through `slot`, if any.
    pub(crate) fn unmap_slot(&mut self, slot: u32) -> bool {
        let before = self.regions.len();
        self.regions.retain(|r| r.slot != slot);
        self.last_hit.set(0);
        before != self.regions.len()
    }

    /// Number of mapped regions.
    pub fn region_count(&self) -> usize {
        self.regions.len()
    }

    #[inline]
    fn find(&self, iova: u64) -> Option<usize> {
        let hint = self.last_hit.get();
        if self.regions.get(hint).is_some_and(|r| r.contains(iova)) {
            return Some(hint);
        }
        let i = self.regions.partition_point(|r| r.iova + r.len <= iova);
        if self.regions.get(i).is_some_and(|r| r.contains(iova)) {
            self.last_hit.set(i);
            Some(i)
        } else {
            None
        }
    }

    /// Checks that `len` bytes at `iova` are mapped (possibly across adjacent regions).
    #[inline]
    pub fn check(&self, iova: u64, len: u64) -> Result<(), DmaFault> {
        let end = iova.saturating_add(len);
        let mut at = iova;
        while at < end {
            let i = self.find(at).ok_or(DmaFault { iova: at })?;
            let r = &self.regions[i];
            at = r.iova + r.len;
        }
        if iova.checked_add(len).is_none() {
            // No region reaches the top of the address space (`map` refuses wrapping ranges).
            return Err(DmaFault { iova: u64::MAX });
        }
        Ok(())
    }

    /// Calls `f(region, offset_in_region, range_in_buffer)` for each piece of a checked range.
    #[inline]
    fn pieces(&self, iova: u64, len: usize, mut f: impl FnMut(&SharedRegion, u64, usize, usize)) {
        let mut done = 0usize;
        while done < len {
            let at = iova + done as u64;
            let i = self.find(at).expect("range checked before");
            let r = &self.regions[i];
            let off = at - r.iova;
            let n = ((r.len - off) as usize).min(len - done);
            f(&r.mem, off, done, done + n);
            done += n;
        }
    }

    /// Reads `buf.len()` bytes at `iova` from host memory. Reads nothing on a fault.
    #[inline]
    pub fn read(&self, iova: u64, buf: &mut [u8]) -> Result<(), DmaFault> {
        self.check(iova, buf.len() as u64)?;
        self.pieces(iova, buf.len(), |mem, off, a, b| {
            mem.read(off, &mut buf[a..b]).expect("inside the region");
        });
        Ok(())
    }

    /// Writes `data` at `iova` into host memory. Writes nothing on a fault.
    ///
    /// The bytes become visible in address order as far as it matters to the driver: the last
    /// byte is stored last, with Release ordering, after every other byte of this and of all
    /// earlier writes. A completion entry, whose last byte holds the phase bit, is therefore
    /// never seen valid before its contents (hw-spec section 5).
    #[inline]
    pub fn write(&self, iova: u64, data: &[u8]) -> Result<(), DmaFault> {
        let Some((&last, body)) = data.split_last() else {
            return Ok(());
        };
        self.check(iova, data.len() as u64)?;
        self.pieces(iova, body.len(), |mem, off, a, b| {
            mem.write(off, &body[a..b]).expect("inside the region");
        });
        let at = iova + body.len() as u64;
        let i = self.find(at).expect("range checked before");
        let r = &self.regions[i];
        r.mem
            .atomic_u8((at - r.iova) as usize)
            .store(last, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(len: usize) -> SharedRegion {
        SharedRegion::anonymous("iommu-test", len).unwrap()
    }

    #[test]
    fn translation_faults_and_adjacent_regions() {
        let mut m = Iommu::new();
        let a = region(8192);
        let a_view = SharedRegion::open(a.path()).unwrap();
        m.map(0, 0x10_0000, 8192, a).unwrap();
        m.map(1, 0x10_2000, 4096, region(4096)).unwrap();
        assert_eq!(m.map(2, 0x10_1000, 4096, region(4096)), Err(libc::EEXIST));
        assert_eq!(m.map(2, 0x20_0000, 8192, region(4096)), Err(libc::EINVAL));
        assert_eq!(m.region_count(), 2);

        // Writes land at IOVA - base in the file.
        m.write(0x10_0010, b"abc").unwrap();
        let mut buf = [0u8; 3];
        a_view.read(0x10, &mut buf).unwrap();
        assert_eq!(&buf, b"abc");

        // A transfer across the boundary of two adjacent regions works.
        let data: Vec<u8> = (0..32u8).collect();
        m.write(0x10_1FF0, &data).unwrap();
        let mut back = [0u8; 32];
        m.read(0x10_1FF0, &mut back).unwrap();
        assert_eq!(&back[..], &data[..]);

        // Faults name the first unmapped byte, and write nothing.
        assert_eq!(m.read(0xFFF, &mut [0u8; 2]), Err(DmaFault { iova: 0xFFF }));
        assert_eq!(
            m.write(0x10_2FFF, &[1, 2]),
            Err(DmaFault { iova: 0x10_3000 })
        );
        let mut one = [0u8; 1];
        m.read(0x10_2FFF, &mut one).unwrap();
        assert_eq!(one, [0]);
        assert!(m.check(u64::MAX - 1, 4).is_err());
        assert_eq!(m.check(0x10_0000, 0x3000), Ok(()));

        assert!(m.unmap_slot(0));
        assert!(!m.unmap_slot(0));
        assert_eq!(
            m.read(0x10_0010, &mut buf),
            Err(DmaFault { iova: 0x10_0010 })
        );
    }
}
