//! Raw MMIO: 32-bit volatile register access to a mapped BAR.
//!
//! Owns [`MmioWindow`], the only place that dereferences a pointer into a device's register
//! space. Every access is bounds-checked and 4-byte aligned (through
//! [`check_register_access`]), little-endian, and volatile: the compiler neither merges, splits,
//! reorders nor drops it. Writes are ordered after the caller's earlier writes to DMA memory (a
//! release fence before each write), so a doorbell never overtakes the descriptors it announces;
//! reads are ordered before later DMA memory reads (an acquire fence after each read).
//!
//! Must not know what the registers mean (that is `hw-spec` and the driver), nor how the window
//! was mapped (the backends).
//!
//! Why not register structs (`volatile-register`, `#[repr(C)]` blocks over the BAR): their field
//! order would be a second, hand-written copy of the register map, which hw-spec forbids (every
//! offset comes from its definitions), and the map is discovered at run time (block chain,
//! queue counts), so no fixed struct fits it. One bounds-checked 32-bit window is the whole
//! unsafe surface instead, small enough for valgrind and Miri to cover.

use std::ptr::NonNull;
use std::sync::atomic::{Ordering, fence};

use crate::error::{RegisterError, check_register_access};

/// A mapped register window (a BAR, or memory standing in for one) accessed with 32-bit
/// volatile reads and writes.
#[derive(Debug)]
pub struct MmioWindow {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the window is a pointer into device registers (or memory standing in for them); every
// access is a volatile 32-bit access through `&self`, which the device (and the memory model of
// MMIO) treats as independent transactions. Moving or sharing the window between threads moves
// no Rust-owned data.
unsafe impl Send for MmioWindow {}
// SAFETY: as above; concurrent register accesses are what hardware registers are made for.
unsafe impl Sync for MmioWindow {}

impl MmioWindow {
    /// Wraps `len` bytes of mapped register space at `base`.
    ///
    /// Returns `None` when `base` is null or not 4-byte aligned.
    ///
    /// # Safety
    ///
    /// `base..base + len` must stay mapped, readable and writable, for as long as the window
    /// exists, and must not be accessed through Rust references (only volatile accesses) while
    /// it does. For a real device it is an MMIO mapping of a BAR; for a test it may be memory
    /// the caller owns and keeps alive.
    pub unsafe fn new(base: *mut u8, len: usize) -> Option<Self> {
        let base = NonNull::new(base)?;
        if base.as_ptr() as usize % 4 != 0 {
            return None;
        }
        Some(MmioWindow { base, len })
    }

    /// Length of the window in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the window has no registers.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads the 32-bit register at byte `offset`.
    #[inline]
    pub fn read32(&self, offset: usize) -> Result<u32, RegisterError> {
        check_register_access(offset, self.len)?;
        // SAFETY: `offset + 4 <= len` and `offset % 4 == 0` were just checked, `base` is 4-byte
        // aligned (constructor) and the window is mapped for its lifetime (constructor contract).
        let raw = unsafe { self.base.as_ptr().add(offset).cast::<u32>().read_volatile() };
        fence(Ordering::Acquire);
        Ok(u32::from_le(raw))
    }

    /// Writes the 32-bit register at byte `offset`, after all earlier writes of this thread to
    /// DMA memory.
    #[inline]
    pub fn write32(&self, offset: usize, value: u32) -> Result<(), RegisterError> {
        check_register_access(offset, self.len)?;
        fence(Ordering::Release);
        // SAFETY: as in `read32`: in bounds, aligned, mapped for the window's lifetime.
        unsafe {
            self.base
                .as_ptr()
                .add(offset)
                .cast::<u32>()
                .write_volatile(value.to_le())
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RegisterErrorKind;

    /// Memory standing in for a BAR: u32s, so the base is 4-byte aligned.
    fn window_over(regs: &mut [u32]) -> MmioWindow {
        let len = std::mem::size_of_val(regs);
        // SAFETY: the slice outlives the window in every test below and is only accessed
        // through the window while it exists.
        unsafe { MmioWindow::new(regs.as_mut_ptr().cast(), len) }.unwrap()
    }

    #[test]
    fn reads_and_writes_land_at_their_offsets() {
        let mut regs = [0u32; 8];
        let w = window_over(&mut regs);
        w.write32(0, 0x1122_3344).unwrap();
        w.write32(28, 0xdead_beef).unwrap();
        assert_eq!(w.read32(0).unwrap(), 0x1122_3344);
        assert_eq!(w.read32(28).unwrap(), 0xdead_beef);
        assert_eq!(w.read32(4).unwrap(), 0);
        assert_eq!(w.len(), 32);
        assert_eq!(regs[0], 0x1122_3344u32.to_le());
        assert_eq!(regs[7], 0xdead_beefu32.to_le());
    }

    #[test]
    fn refuses_out_of_bounds_and_unaligned() {
        let mut regs = [0u32; 4];
        let w = window_over(&mut regs);
        assert_eq!(
            w.read32(16).unwrap_err().kind,
            RegisterErrorKind::OutOfBounds
        );
        assert_eq!(
            w.write32(13, 1).unwrap_err().kind,
            RegisterErrorKind::Unaligned
        );
        assert_eq!(
            w.write32(usize::MAX & !3, 1).unwrap_err().kind,
            RegisterErrorKind::OutOfBounds
        );
        assert_eq!(regs, [0; 4], "a refused write must not touch memory");
    }

    #[test]
    fn refuses_null_and_unaligned_bases() {
        // SAFETY: the constructor rejects these pointers before anything is dereferenced.
        unsafe {
            assert!(MmioWindow::new(std::ptr::null_mut(), 4).is_none());
            let mut regs = [0u32; 2];
            let p = regs.as_mut_ptr().cast::<u8>().add(1);
            assert!(MmioWindow::new(p, 4).is_none());
        }
    }
}
