//! The device-access interface: everything the driver needs from a device, and nothing else.
//!
//! Owns the [`DeviceAccess`] trait and its small vocabulary ([`DmaConstraints`],
//! [`ResetOutcome`]). Three backends implement it: [`crate::vfio::VfioDevice`] (real PCI devices
//! through VFIO), [`crate::sim::SimDevice`] (the simulated NIC: BAR writes through a
//! posted-write FIFO, DMA regions as shared-memory files registered with the simulated IOMMU),
//! and [`crate::fake::FakeDevice`] (plain memory, for tests). The interface names no VFIO type,
//! so a driver written against it runs unchanged on all three.
//!
//! What an implementation promises:
//! - **Registers**: BAR0 only, 32-bit, 4-byte aligned, bounds-checked (refusals are
//!   [`RegisterError`]s, never panics); little-endian; a write is ordered after the caller's
//!   earlier DMA memory writes (a doorbell never overtakes its descriptors).
//! - **DMA memory**: [`alloc_dma`](DeviceAccess::alloc_dma) returns zeroed memory mapped for the
//!   device at an IOVA inside the device's DMA mask (never IOVA 0), sized up to
//!   [`DmaConstraints::granule`]; dropping the region unmaps it before freeing it.
//! - **Interrupts**: vectors are eventfds ([`InterruptEvent`]); a driver may also ignore them and
//!   poll its completion queues.
//! - **Reset and quiesce**: [`reset`](DeviceAccess::reset) says whether the function was reset;
//!   [`quiesce`](DeviceAccess::quiesce) stops the device's DMA (bus mastering off) and its
//!   interrupts, and runs on drop.
//!
//! Must not know what the registers mean (that is `hw-spec` and the driver).

use std::time::Duration;

use crate::dma::DmaRegion;
use crate::error::{DeviceError, DeviceErrorKind, RegisterError};
use crate::irq::InterruptEvent;

/// What DMA memory a device can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaConstraints {
    /// Allocations are rounded up to a multiple of this many bytes (2 MiB for hugepage-backed
    /// memory, the page size otherwise); IOVAs are aligned to it.
    pub granule: usize,
    /// Address bits the device can drive: every IOVA handed out is below `2^dma_mask_bits`.
    pub dma_mask_bits: u8,
}

/// What [`DeviceAccess::reset`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResetOutcome {
    /// The function was reset (function-level reset or the backend's equivalent).
    Reset,
    /// The device has no reset the backend can use (QEMU's `edu`, many simple devices): the
    /// driver must bring the device to a known state itself (e.g. through its control register).
    Unsupported {
        /// Why, for logs ("VFIO_DEVICE_RESET: EINVAL, no reset method").
        reason: String,
    },
}

/// Access to one device: BAR0 registers, DMA memory, interrupt vectors, reset and quiesce.
pub trait DeviceAccess {
    /// Where the device is, for messages: a PCI address (`0000:03:00.0`), a simulator's path.
    fn location(&self) -> &str;

    /// Length of BAR0 in bytes.
    fn bar0_len(&self) -> usize;

    /// Reads the 32-bit register at byte `offset` of BAR0.
    fn read32(&self, offset: usize) -> Result<u32, RegisterError>;

    /// Writes the 32-bit register at byte `offset` of BAR0, after the caller's earlier writes to
    /// DMA memory.
    fn write32(&self, offset: usize, value: u32) -> Result<(), RegisterError>;

    /// The granule and address width of this device's DMA memory.
    fn dma_constraints(&self) -> DmaConstraints;

    /// Allocates at least `len` bytes of zeroed DMA memory, mapped for the device (rounded up to
    /// the granule). Set-up time only: this may take locks, make system calls and allocate.
    fn alloc_dma(&self, len: usize) -> Result<DmaRegion, DeviceError>;

    /// How many interrupt vectors the device can raise (0: polling only).
    fn max_interrupt_vectors(&self) -> u32;

    /// Binds vectors `0..count` to eventfds (replacing any earlier binding).
    fn enable_interrupts(&mut self, count: u32) -> Result<(), DeviceError>;

    /// Unbinds every vector; the driver polls from then on.
    fn disable_interrupts(&mut self) -> Result<(), DeviceError>;

    /// The eventfd of an enabled vector, to wait on, poll, or add to an event loop.
    fn interrupt(&self, vector: u32) -> Option<&InterruptEvent>;

    /// Waits up to `timeout` for `vector` and returns how many times it was raised since the last
    /// wait (0 when the timeout ran out; `Duration::ZERO` polls).
    fn wait_interrupt(&self, vector: u32, timeout: Duration) -> Result<u64, DeviceError> {
        let Some(event) = self.interrupt(vector) else {
            return Err(DeviceError::new(
                DeviceErrorKind::Unsupported,
                self.location(),
                format!("waiting for interrupt vector {vector}"),
                "the vector is not enabled",
            )
            .with_fix("call enable_interrupts with a count above the vector first"));
        };
        event.wait(timeout).map_err(|e| {
            DeviceError::from_io(
                DeviceErrorKind::Io,
                self.location(),
                format!("waiting for interrupt vector {vector}"),
                e,
            )
        })
    }

    /// Lets the device make progress while the driver waits for it by polling host memory (a
    /// completion it expects), called between polls with the number of polls so far. The
    /// driver bounds the whole wait with its own timeout.
    ///
    /// The default spins briefly, then yields, then sleeps 20 us: a real device works on its
    /// own. A simulated device stepped by the caller's thread is stepped here instead.
    fn relax(&self, attempt: u32) {
        if attempt < 64 {
            std::hint::spin_loop();
        } else if attempt < 256 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(20));
        }
    }

    /// Why the device stopped answering, when the backend knows more than the registers show
    /// (a simulator process that exited, a link that timed out). `None` while it is healthy,
    /// and on hardware, where a dead device just reads all ones.
    fn failure(&self) -> Option<String> {
        None
    }

    /// Resets the function when the device can be reset, and says whether it was.
    fn reset(&mut self) -> Result<ResetOutcome, DeviceError>;

    /// Stops the device reaching memory and raising interrupts (bus mastering off, vectors
    /// unbound). Idempotent; also done on drop. The driver disables its queues first.
    fn quiesce(&mut self) -> Result<(), DeviceError>;
}

/// Polls a register until `done(value)` holds or `timeout` runs out: the bounded wait for device
/// state changes (reset done, queue stopped, DMA finished).
pub fn poll_register<D: DeviceAccess + ?Sized>(
    dev: &D,
    offset: usize,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(u32) -> bool,
) -> Result<u32, DeviceError> {
    let start = std::time::Instant::now();
    let mut spins = 0u32;
    loop {
        let value = dev
            .read32(offset)
            .map_err(|e| DeviceError::register(dev.location(), e))?;
        if done(value) {
            return Ok(value);
        }
        if start.elapsed() >= timeout {
            return Err(DeviceError::timeout(dev.location(), what, timeout));
        }
        spins = spins.saturating_add(1);
        if spins < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}
