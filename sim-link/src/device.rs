//! The device side of a link: what a simulated NIC (the Rust model or an RTL harness) uses.
//!
//! Owns the creation of the link files, the consumer end of the posted-write FIFO (including
//! the DMA map/unmap requests that travel in it, applied to the [`Iommu`] in order with the
//! register writes), the BAR0 image, raising interrupts, and the device's sleep/wake protocol.
//! It must not interpret register writes: it hands them to the device as [`LinkEvent`]s.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hw_spec::regs::BAR0_SIZE;

use crate::error::LinkError;
use crate::files::{BarImage, DeviceWaker, LinkPaths, Mapped};
use crate::iommu::Iommu;
use crate::layout::*;
use crate::shm::{SharedRegion, futex_wait, futex_wake};

/// Geometry of a link the device creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// Posted-write FIFO entries (a power of two, 16 to 65536). A driver that posts more writes
    /// than this without the device applying them waits (bounded by its timeout).
    pub fifo_capacity: u32,
    /// DMA regions the driver may map at once.
    pub region_slots: u32,
    /// Interrupt vectors (the device's `QUEUE_COUNTS.IRQ`).
    pub irq_vectors: u32,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            fifo_capacity: 4096,
            region_slots: 32,
            irq_vectors: 8,
        }
    }
}

impl LinkConfig {
    fn layout(&self) -> LinkLayout {
        LinkLayout {
            fifo_capacity: self.fifo_capacity,
            region_slots: self.region_slots,
            irq_vectors: self.irq_vectors,
        }
    }
}

/// A posted request the device must act on, in the order the driver issued them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// A 32-bit MMIO write (the offset may be unaligned: the device reports that).
    Write {
        /// BAR0 offset.
        offset: u32,
        /// Value.
        value: u32,
    },
    /// A read the driver side did not serve from the image (unaligned); the device reports it.
    BadRead {
        /// BAR0 offset.
        offset: u32,
    },
}

/// The device's end of a link.
pub struct DeviceLink {
    files: Mapped,
    image: BarImage,
    iommu: Iommu,
    consumed: u32,
    acked: u32,
}

impl std::fmt::Debug for DeviceLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceLink")
            .field("paths", &self.files.paths)
            .field("layout", &self.files.layout)
            .finish()
    }
}

impl DeviceLink {
    /// Creates (or replaces) the link files at `paths`, zeroed, and marks the device running.
    pub fn create(paths: &LinkPaths, cfg: &LinkConfig) -> Result<DeviceLink, LinkError> {
        let layout = cfg.layout();
        layout.check()?;
        let bar = SharedRegion::create(&paths.bar0, BAR0_SIZE as usize)
            .map_err(|e| LinkError::io("creating the BAR0 file", e))?;
        let link = SharedRegion::create(&paths.link, layout.total_len())
            .map_err(|e| LinkError::io("creating the link file", e))?;
        Ok(Self::from_files(Mapped::init(bar, link, layout)))
    }

    /// Creates the link files `dir/bar0` and `dir/link` (the directory must exist).
    pub fn create_in_dir(dir: &Path, cfg: &LinkConfig) -> Result<DeviceLink, LinkError> {
        Self::create(&LinkPaths::in_dir(dir), cfg)
    }

    /// Creates a link in anonymous shared memory (memfds). Its [`paths`](Self::paths) are
    /// `/proc/<pid>/fd/<n>`: a driver in this process, or another process of the same user,
    /// attaches through them while the link lives.
    pub fn create_anonymous(cfg: &LinkConfig) -> Result<DeviceLink, LinkError> {
        let layout = cfg.layout();
        layout.check()?;
        let bar = SharedRegion::anonymous("ferrotoe-bar0", BAR0_SIZE as usize)
            .map_err(|e| LinkError::io("creating an anonymous BAR0", e))?;
        let link = SharedRegion::anonymous("ferrotoe-link", layout.total_len())
            .map_err(|e| LinkError::io("creating an anonymous link file", e))?;
        Ok(Self::from_files(Mapped::init(bar, link, layout)))
    }

    fn from_files(files: Mapped) -> DeviceLink {
        DeviceLink {
            image: BarImage::new(&files),
            files,
            iommu: Iommu::new(),
            consumed: 0,
            acked: 0,
        }
    }

    /// Where the link's files are (what a driver attaches to).
    pub fn paths(&self) -> &LinkPaths {
        &self.files.paths
    }

    /// The link's geometry.
    pub fn layout(&self) -> LinkLayout {
        self.files.layout
    }

    /// The BAR0 image the driver reads.
    pub fn image(&self) -> &BarImage {
        &self.image
    }

    /// The DMA memory the driver registered.
    pub fn iommu(&self) -> &Iommu {
        &self.iommu
    }

    fn word(&self, off: usize) -> &std::sync::atomic::AtomicU32 {
        self.files.link.atomic_u32(off)
    }

    /// Whether posted requests wait to be taken.
    #[inline]
    pub fn pending(&self) -> bool {
        self.word(FIFO_PRODUCER_OFF).load(Ordering::Acquire) != self.consumed
    }

    /// Takes the next posted request. DMA map/unmap requests are applied to the IOMMU here, in
    /// order, and not returned. Entries stay owned by the device (the driver cannot reuse their
    /// slots and its reads keep waiting) until [`ack`](Self::ack).
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        loop {
            let produced = self.word(FIFO_PRODUCER_OFF).load(Ordering::Acquire);
            if produced == self.consumed {
                return None;
            }
            let cap = self.files.layout.fifo_capacity;
            if produced.wrapping_sub(self.acked) > cap {
                // The producer claims more entries than the FIFO holds: a broken driver side.
                self.protocol_error();
                self.consumed = produced;
                return None;
            }
            let slot = self.consumed % cap;
            let raw = self
                .files
                .link
                .atomic_u64(self.files.layout.fifo_entry(slot))
                .load(Ordering::Relaxed);
            self.consumed = self.consumed.wrapping_add(1);
            let (kind, arg, value) = entry::unpack(raw);
            match kind {
                entry::WRITE32 => return Some(LinkEvent::Write { offset: arg, value }),
                entry::BAD_READ => return Some(LinkEvent::BadRead { offset: arg }),
                entry::MAP_REGION => self.map_region(arg),
                entry::UNMAP_REGION => self.unmap_region(arg),
                _ => self.protocol_error(),
            }
        }
    }

    /// Declares every request taken so far applied: frees their FIFO slots and releases driver
    /// reads waiting for them. Call after the device has acted on them (register image
    /// included).
    pub fn ack(&mut self) {
        if self.acked == self.consumed {
            return;
        }
        self.acked = self.consumed;
        let applied = self.word(FIFO_APPLIED_OFF);
        applied.store(self.consumed, Ordering::SeqCst);
        if self.word(FIFO_WAITERS_OFF).load(Ordering::SeqCst) != 0 {
            futex_wake(applied, u32::MAX);
        }
    }

    fn protocol_error(&self) {
        let w = self.word(PROTOCOL_ERRORS_OFF);
        let v = w.load(Ordering::Relaxed);
        w.store(v.saturating_add(1), Ordering::Relaxed);
    }

    /// Malformed FIFO entries skipped so far (a broken driver side, not a buggy driver: those
    /// produce register errors in the device).
    pub fn protocol_errors(&self) -> u32 {
        self.word(PROTOCOL_ERRORS_OFF).load(Ordering::Relaxed)
    }

    fn map_region(&mut self, slot: u32) {
        if slot >= self.files.layout.region_slots {
            self.protocol_error();
            return;
        }
        let base = self.files.layout.region_slot(slot);
        let link = Arc::clone(&self.files.link);
        let state = link.atomic_u32(base + SLOT_STATE);
        if state.load(Ordering::Acquire) != slot_state::REQUESTED {
            self.protocol_error();
            return;
        }
        let iova = link.atomic_u64(base + SLOT_IOVA).load(Ordering::Relaxed);
        let len = link.atomic_u64(base + SLOT_LEN).load(Ordering::Relaxed);
        let path_len = (link
            .atomic_u32(base + SLOT_PATH_LEN)
            .load(Ordering::Relaxed) as usize)
            .min(MAX_PATH_LEN);
        let mut path = vec![0u8; path_len];
        link.read((base + SLOT_PATH) as u64, &mut path)
            .expect("slot inside the link file");
        let result = match String::from_utf8(path) {
            Err(_) => Err(libc::EINVAL),
            Ok(p) => match SharedRegion::open(&PathBuf::from(p)) {
                Err(e) => Err(errno_of(&e)),
                Ok(mem) => self.iommu.map(slot, iova, len, mem),
            },
        };
        let (st, errno) = match result {
            Ok(()) => (slot_state::MAPPED, 0),
            Err(errno) => (slot_state::FAILED, errno),
        };
        link.atomic_u32(base + SLOT_ERRNO)
            .store(errno as u32, Ordering::Relaxed);
        state.store(st, Ordering::Release);
    }

    fn unmap_region(&mut self, slot: u32) {
        if slot >= self.files.layout.region_slots {
            self.protocol_error();
            return;
        }
        self.iommu.unmap_slot(slot);
        let base = self.files.layout.region_slot(slot);
        self.files
            .link
            .atomic_u32(base + SLOT_STATE)
            .store(slot_state::FREE, Ordering::Release);
    }

    /// Signals interrupt vector `vector` (the device has already counted it in its `IRQ` block
    /// and checked the mask). Returns false for a vector the link does not have.
    pub fn signal_irq(&self, vector: u32) -> bool {
        let layout = &self.files.layout;
        if vector >= layout.irq_vectors {
            return false;
        }
        for off in [layout.irq_vector_off(vector), layout.irq_any_off()] {
            let count = self.word(off + IRQ_COUNT);
            count.fetch_add(1, Ordering::SeqCst);
            if self.word(off + IRQ_WAITERS).load(Ordering::SeqCst) != 0 {
                futex_wake(count, u32::MAX);
            }
        }
        true
    }

    /// A handle that wakes this device when it sleeps (for cable peers and port threads).
    pub fn waker(&self) -> DeviceWaker {
        DeviceWaker::new(Arc::clone(&self.files.link))
    }

    /// Sleeps until woken (by a driver write, a [`DeviceWaker`]) or `timeout`, unless posted
    /// requests are pending or `has_other_work()` says there is something to do. Call only when
    /// the last step found nothing to do.
    pub fn sleep(&self, timeout: Duration, has_other_work: impl Fn() -> bool) {
        let seq = self.word(WAKE_SEQ_OFF).load(Ordering::SeqCst);
        let sleeping = self.word(DEVICE_SLEEPING_OFF);
        sleeping.store(1, Ordering::SeqCst);
        if !self.pending() && !has_other_work() {
            futex_wait(self.word(WAKE_SEQ_OFF), seq, Some(timeout));
        }
        sleeping.store(0, Ordering::Relaxed);
    }

    /// Whether the driver asked the device process to exit.
    pub fn shutdown_requested(&self) -> bool {
        self.word(SHUTDOWN_OFF).load(Ordering::Acquire) != 0
    }

    /// Pid of the attached driver, if any.
    pub fn driver_pid(&self) -> Option<u32> {
        match self.word(DRIVER_PID_OFF).load(Ordering::Acquire) {
            0 => None,
            p => Some(p),
        }
    }

    /// Marks the device stopped for good: drivers waiting on it fail at once instead of timing
    /// out. Also done on drop.
    pub fn mark_stopped(&self) {
        self.word(DEVICE_STATE_OFF)
            .store(DeviceState::Stopped as u32, Ordering::SeqCst);
        futex_wake(self.word(FIFO_APPLIED_OFF), u32::MAX);
    }
}

/// The errno behind an I/O error (wrapped errors keep only their kind).
fn errno_of(e: &std::io::Error) -> i32 {
    use std::io::ErrorKind::*;
    e.raw_os_error().unwrap_or(match e.kind() {
        NotFound => libc::ENOENT,
        PermissionDenied => libc::EACCES,
        InvalidInput | InvalidData => libc::EINVAL,
        OutOfMemory => libc::ENOMEM,
        _ => libc::EIO,
    })
}

impl Drop for DeviceLink {
    fn drop(&mut self) {
        self.mark_stopped();
    }
}
