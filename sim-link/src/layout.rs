//! The byte layout of the link file: everything the two sides share besides BAR0 and DMA memory.
//!
//! Owns offsets and encodings only (no behaviour). The link file is a sequence of 64-byte lines
//! so that words written by different sides never share a cache line:
//!
//! | line / area | contents | written by |
//! |---|---|---|
//! | header | magic, layout version, geometry, device state and pid, driver pid, shutdown request, protocol error count | both (each its own words) |
//! | image seqlock | sequence number of multi-word BAR0 image updates | device |
//! | doorbell | `WAKE_SEQ` (futex) and `DEVICE_SLEEPING` | wakers / device |
//! | FIFO producer | count of entries pushed | driver |
//! | FIFO applied | count of entries applied (futex), readers waiting | device / driver |
//! | FIFO entries | `capacity` x u64 posted-write entries | driver |
//! | region table | `region_slots` x 256-byte slots: IOVA, length, state, errno, path | driver (request) / device (state) |
//! | interrupts | an "any vector" line, then one line per vector: signal count (futex), waiters | device / driver |
//!
//! All integers are little-endian (the host's order: both sides run on one machine).

/// `FTOELNK1`: the first 8 bytes of a link file.
pub const MAGIC: u64 = u64::from_le_bytes(*b"FTOELNK1");
/// Version of this layout; both sides must agree.
pub const LAYOUT_VERSION: u32 = 1;

/// Cache line size the layout is built from.
pub const LINE: usize = 64;

/// Header: [`MAGIC`] (u64).
pub const MAGIC_OFF: usize = 0x00;
/// Header: [`LAYOUT_VERSION`] (u32).
pub const VERSION_OFF: usize = 0x08;
/// Header: FIFO capacity in entries (u32).
pub const FIFO_CAPACITY_OFF: usize = 0x0C;
/// Header: number of DMA region slots (u32).
pub const REGION_SLOTS_OFF: usize = 0x10;
/// Header: number of interrupt vectors (u32).
pub const IRQ_VECTORS_OFF: usize = 0x14;
/// Header: [`DeviceState`] (u32).
pub const DEVICE_STATE_OFF: usize = 0x18;
/// Header: pid of the device process (u32).
pub const DEVICE_PID_OFF: usize = 0x1C;
/// Header: pid of the attached driver, 0 when none (u32).
pub const DRIVER_PID_OFF: usize = 0x20;
/// Header: non-zero when the driver asks a device process to exit (u32).
pub const SHUTDOWN_OFF: usize = 0x24;
/// Header: malformed FIFO entries the device skipped (u32, saturating).
pub const PROTOCOL_ERRORS_OFF: usize = 0x28;

/// Image seqlock: odd while the device updates several BAR0 words as one (u32).
pub const IMAGE_SEQ_OFF: usize = LINE;
/// Doorbell: bumped by a waker when the device sleeps; the device futex-waits on it (u32).
pub const WAKE_SEQ_OFF: usize = 2 * LINE;
/// Doorbell: non-zero while the device sleeps or is about to (u32).
pub const DEVICE_SLEEPING_OFF: usize = 2 * LINE + 4;
/// Entries pushed by the driver, wrapping (u32).
pub const FIFO_PRODUCER_OFF: usize = 3 * LINE;
/// Entries applied by the device, wrapping; readers futex-wait on it (u32).
pub const FIFO_APPLIED_OFF: usize = 4 * LINE;
/// Driver threads waiting for `FIFO_APPLIED` to move (u32).
pub const FIFO_WAITERS_OFF: usize = 4 * LINE + 4;
/// First FIFO entry.
pub const FIFO_OFF: usize = 5 * LINE;

/// Bytes of one region slot.
pub const REGION_SLOT_SIZE: usize = 256;
/// Region slot: IOVA of the region's first byte (u64).
pub const SLOT_IOVA: usize = 0x00;
/// Region slot: length in bytes (u64).
pub const SLOT_LEN: usize = 0x08;
/// Region slot: [`slot_state`] (u32).
pub const SLOT_STATE: usize = 0x10;
/// Region slot: errno of a failed mapping (u32).
pub const SLOT_ERRNO: usize = 0x14;
/// Region slot: bytes of the path (u32).
pub const SLOT_PATH_LEN: usize = 0x18;
/// Region slot: the path of the file to map (UTF-8 bytes, not NUL-terminated).
pub const SLOT_PATH: usize = 0x20;
/// Longest path a slot holds.
pub const MAX_PATH_LEN: usize = REGION_SLOT_SIZE - SLOT_PATH;

/// Interrupt line: signals raised, wrapping; waiters futex-wait on it (u32).
pub const IRQ_COUNT: usize = 0;
/// Interrupt line: threads waiting (u32).
pub const IRQ_WAITERS: usize = 4;

/// Most interrupt vectors a link carries (the `IRQ` block's room).
pub const MAX_IRQ_VECTORS: u32 = 252;
/// Most DMA regions a link maps.
pub const MAX_REGION_SLOTS: u32 = 256;
/// Smallest and largest FIFO capacity.
pub const FIFO_CAPACITY_RANGE: std::ops::RangeInclusive<u32> = 16..=65536;

/// FIFO entry kinds (bits 31:24 of an entry's low word).
pub mod entry {
    /// `WRITE32`: arg = BAR offset, high word = value.
    pub const WRITE32: u32 = 1;
    /// `MAP_REGION`: arg = region slot.
    pub const MAP_REGION: u32 = 2;
    /// `UNMAP_REGION`: arg = region slot.
    pub const UNMAP_REGION: u32 = 3;
    /// `BAD_READ`: arg = BAR offset of a read the driver side could not serve (unaligned).
    pub const BAD_READ: u32 = 4;

    /// Packs an entry: kind in bits 31:24, a 24-bit argument, the value in the high word.
    pub const fn pack(kind: u32, arg: u32, value: u32) -> u64 {
        ((value as u64) << 32) | ((kind as u64 & 0xFF) << 24) | (arg as u64 & 0xFF_FFFF)
    }

    /// Unpacks `(kind, arg, value)`.
    pub const fn unpack(e: u64) -> (u32, u32, u32) {
        (
            ((e >> 24) & 0xFF) as u32,
            (e & 0xFF_FFFF) as u32,
            (e >> 32) as u32,
        )
    }
}

/// What the device side is doing (`DEVICE_STATE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum DeviceState {
    /// The device runs and applies posted writes.
    Running = 1,
    /// The device has stopped for good (its process exited or it was dropped).
    Stopped = 2,
}

impl DeviceState {
    /// Decodes the header word.
    pub fn from_word(w: u32) -> Option<DeviceState> {
        match w {
            1 => Some(DeviceState::Running),
            2 => Some(DeviceState::Stopped),
            _ => None,
        }
    }
}

/// States of a region slot (`SLOT_STATE`).
pub mod slot_state {
    /// Unused.
    pub const FREE: u32 = 0;
    /// The driver filled the slot and posted `MAP_REGION`.
    pub const REQUESTED: u32 = 1;
    /// The device mapped the region.
    pub const MAPPED: u32 = 2;
    /// The device could not map the region (`SLOT_ERRNO` says why).
    pub const FAILED: u32 = 3;
}

/// The geometry of one link file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkLayout {
    /// FIFO entries (a power of two in [`FIFO_CAPACITY_RANGE`]).
    pub fifo_capacity: u32,
    /// DMA region slots (1 to [`MAX_REGION_SLOTS`]).
    pub region_slots: u32,
    /// Interrupt vectors (1 to [`MAX_IRQ_VECTORS`]).
    pub irq_vectors: u32,
}

/// Why a geometry is not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// FIFO capacity not a power of two in range.
    FifoCapacity(u32),
    /// Region slot count out of range.
    RegionSlots(u32),
    /// Vector count out of range.
    IrqVectors(u32),
}

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayoutError::FifoCapacity(n) => write!(
                f,
                "FIFO capacity {n} is not a power of two between {} and {}",
                FIFO_CAPACITY_RANGE.start(),
                FIFO_CAPACITY_RANGE.end()
            ),
            LayoutError::RegionSlots(n) => {
                write!(f, "{n} DMA region slots: use 1 to {MAX_REGION_SLOTS}")
            }
            LayoutError::IrqVectors(n) => {
                write!(f, "{n} interrupt vectors: use 1 to {MAX_IRQ_VECTORS}")
            }
        }
    }
}

impl std::error::Error for LayoutError {}

impl LinkLayout {
    /// Checks the geometry.
    pub fn check(&self) -> Result<(), LayoutError> {
        if !self.fifo_capacity.is_power_of_two()
            || !FIFO_CAPACITY_RANGE.contains(&self.fifo_capacity)
        {
            return Err(LayoutError::FifoCapacity(self.fifo_capacity));
        }
        if !(1..=MAX_REGION_SLOTS).contains(&self.region_slots) {
            return Err(LayoutError::RegionSlots(self.region_slots));
        }
        if !(1..=MAX_IRQ_VECTORS).contains(&self.irq_vectors) {
            return Err(LayoutError::IrqVectors(self.irq_vectors));
        }
        Ok(())
    }

    /// Offset of FIFO entry `i` (already reduced modulo the capacity).
    pub fn fifo_entry(&self, i: u32) -> usize {
        FIFO_OFF + 8 * i as usize
    }

    /// Offset of the region table.
    pub fn regions_off(&self) -> usize {
        (FIFO_OFF + 8 * self.fifo_capacity as usize).next_multiple_of(LINE)
    }

    /// Offset of region slot `slot`.
    pub fn region_slot(&self, slot: u32) -> usize {
        self.regions_off() + REGION_SLOT_SIZE * slot as usize
    }

    /// Offset of the "any vector" interrupt line.
    pub fn irq_any_off(&self) -> usize {
        self.regions_off() + REGION_SLOT_SIZE * self.region_slots as usize
    }

    /// Offset of the line of interrupt vector `v`.
    pub fn irq_vector_off(&self, v: u32) -> usize {
        self.irq_any_off() + LINE * (1 + v as usize)
    }

    /// Total bytes of the link file.
    pub fn total_len(&self) -> usize {
        self.irq_vector_off(self.irq_vectors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_do_not_overlap_and_are_line_aligned() {
        let l = LinkLayout {
            fifo_capacity: 16,
            region_slots: 3,
            irq_vectors: 2,
        };
        l.check().unwrap();
        assert!(l.fifo_entry(15) + 8 <= l.regions_off());
        assert_eq!(l.regions_off() % LINE, 0);
        assert_eq!(l.irq_any_off(), l.region_slot(3));
        assert_eq!(l.irq_vector_off(0) % LINE, 0);
        assert_eq!(l.total_len(), l.irq_vector_off(1) + LINE);
        for off in [
            IMAGE_SEQ_OFF,
            WAKE_SEQ_OFF,
            FIFO_PRODUCER_OFF,
            FIFO_APPLIED_OFF,
            FIFO_OFF,
        ] {
            assert_eq!(off % LINE, 0);
        }
    }

    #[test]
    fn geometry_limits() {
        let ok = LinkLayout {
            fifo_capacity: 4096,
            region_slots: 32,
            irq_vectors: 8,
        };
        assert_eq!(ok.check(), Ok(()));
        let mut l = ok;
        l.fifo_capacity = 1000;
        assert_eq!(l.check(), Err(LayoutError::FifoCapacity(1000)));
        let mut l = ok;
        l.irq_vectors = 253;
        assert_eq!(l.check(), Err(LayoutError::IrqVectors(253)));
        let mut l = ok;
        l.region_slots = 0;
        assert_eq!(l.check(), Err(LayoutError::RegionSlots(0)));
    }

    #[test]
    fn entries_round_trip() {
        let e = entry::pack(entry::WRITE32, 0x1008, 0xDEAD_BEEF);
        assert_eq!(entry::unpack(e), (entry::WRITE32, 0x1008, 0xDEAD_BEEF));
        assert_eq!(
            entry::unpack(entry::pack(0xFF, 0xFFFF_FFFF, 0)).1,
            0xFF_FFFF
        );
    }
}
