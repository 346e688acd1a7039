//! The test twin: a [`DeviceAccess`] backend over plain memory, so device logic is testable
//! without `/dev/vfio` or a simulator.
//!
//! Owns [`FakeDevice`] (the driver's side) and [`FakeHandle`] (the device's side). BAR0 is an
//! array of registers in memory; a write stores the value and then calls the device model's
//! [`WriteHook`], which may change registers, do DMA through a simulated IOMMU (only to memory
//! the driver allocated and still has mapped, and only while bus mastering is on; anything else
//! is a [`FakeDmaFault`]) and raise interrupt vectors. DMA memory is heap memory at IOVAs from the
//! same [`IovaAllocator`] the real backends use. No `unsafe` here: memory is reached through
//! [`DmaMemory`]'s accessors.
//!
//! Must not model any particular device: models are hooks written by tests (see
//! [`crate::edu::fake_edu`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::access::{DeviceAccess, DmaConstraints, ResetOutcome};
use crate::dma::{DeviceMapping, DmaMemory, DmaRegion};
use crate::error::{DeviceError, DeviceErrorKind, RegisterError, check_register_access};
use crate::iova::IovaAllocator;
use crate::irq::InterruptEvent;

/// A device model's reaction to a register write: called after the value is stored, with the
/// device's side of the fake, the offset and the value written.
pub type WriteHook = Box<dyn FnMut(&FakeHandle, usize, u32) + Send>;

/// Why a fake device's DMA failed (what an IOMMU fault or a disabled bus master would do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FakeDmaFault {
    /// The IOVA range is not (wholly) inside memory the driver has mapped.
    NotMapped {
        /// First IOVA of the access.
        iova: u64,
        /// Bytes of the access.
        len: usize,
    },
    /// Bus mastering is off (the device was quiesced).
    BusMasterOff,
}

struct Shared {
    location: String,
    regs: Box<[AtomicU32]>,
    hook: Mutex<Option<WriteHook>>,
    iommu: Mutex<FakeIommu>,
    bus_master: AtomicBool,
    vectors: Mutex<Vec<Arc<InterruptEvent>>>,
    write_count: AtomicU64,
    write_log: Option<Mutex<Vec<(usize, u32)>>>,
}

struct FakeIommu {
    allocator: IovaAllocator,
    mapped: BTreeMap<u64, Arc<DmaMemory>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking device model in one test must not turn every later access into a panic.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The device's side of a [`FakeDevice`]: what a device model may do.
#[derive(Clone)]
pub struct FakeHandle {
    shared: Arc<Shared>,
}

impl FakeHandle {
    /// The register at `offset` (0 outside BAR0 or misaligned, as undefined registers read).
    pub fn reg(&self, offset: usize) -> u32 {
        match check_register_access(offset, self.shared.regs.len() * 4) {
            Ok(()) => self.shared.regs[offset / 4].load(Ordering::Acquire),
            Err(_) => 0,
        }
    }

    /// Sets the register at `offset` (ignored outside BAR0 or misaligned).
    pub fn set_reg(&self, offset: usize, value: u32) {
        if check_register_access(offset, self.shared.regs.len() * 4).is_ok() {
            self.shared.regs[offset / 4].store(value, Ordering::Release);
        }
    }

    /// Whether bus mastering is on (off after quiesce).
    pub fn bus_master(&self) -> bool {
        self.shared.bus_master.load(Ordering::Acquire)
    }

    fn with_mapped<R>(
        &self,
        iova: u64,
        len: usize,
        f: impl FnOnce(&DmaMemory, usize) -> R,
    ) -> Result<R, FakeDmaFault> {
        if !self.bus_master() {
            return Err(FakeDmaFault::BusMasterOff);
        }
        let fault = FakeDmaFault::NotMapped { iova, len };
        let iommu = lock(&self.shared.iommu);
        let (&base, memory) = iommu.mapped.range(..=iova).next_back().ok_or(fault)?;
        let offset = usize::try_from(iova - base).map_err(|_| fault)?;
        match offset.checked_add(len) {
            Some(end) if end <= memory.len() => Ok(f(memory, offset)),
            _ => Err(fault),
        }
    }

    /// Reads `buf.len()` bytes of host memory at `iova`, as the device's DMA engine would.
    pub fn dma_read(&self, iova: u64, buf: &mut [u8]) -> Result<(), FakeDmaFault> {
        let len = buf.len();
        self.with_mapped(iova, len, |m, off| m.read_bytes(off, buf))?
            .map_err(|_| FakeDmaFault::NotMapped { iova, len })
    }

    /// Writes `data` to host memory at `iova`, as the device's DMA engine would.
    pub fn dma_write(&self, iova: u64, data: &[u8]) -> Result<(), FakeDmaFault> {
        let len = data.len();
        self.with_mapped(iova, len, |m, off| m.write_bytes(off, data))?
            .map_err(|_| FakeDmaFault::NotMapped { iova, len })
    }

    /// Raises interrupt vector `vector`; false when it is not enabled (the event is lost, as
    /// with a masked MSI without pending-bit support).
    pub fn raise(&self, vector: u32) -> bool {
        let vectors = lock(&self.shared.vectors);
        match vectors.get(vector as usize) {
            Some(v) => v.signal().is_ok(),
            None => false,
        }
    }
}

/// Options of a [`FakeDevice`].
pub struct FakeBuilder {
    location: String,
    bar0_len: usize,
    dma_mask_bits: u8,
    granule: usize,
    max_vectors: u32,
    reset_supported: bool,
    write_log: bool,
    hook: Option<WriteHook>,
}

impl FakeBuilder {
    /// The device's DMA mask (default 64 bits).
    pub fn dma_mask_bits(mut self, bits: u8) -> Self {
        self.dma_mask_bits = bits;
        self
    }

    /// The DMA granule (default 4096 bytes; rounded up to a power of two).
    pub fn granule(mut self, granule: usize) -> Self {
        self.granule = granule.max(1).next_power_of_two();
        self
    }

    /// How many interrupt vectors the device has (default 0: polling only).
    pub fn vectors(mut self, n: u32) -> Self {
        self.max_vectors = n;
        self
    }

    /// Whether [`DeviceAccess::reset`] resets (zeroes every register) or reports
    /// [`ResetOutcome::Unsupported`] (default).
    pub fn reset_supported(mut self, yes: bool) -> Self {
        self.reset_supported = yes;
        self
    }

    /// Records every register write (allocates per write: for tests that inspect the sequence).
    pub fn log_writes(mut self) -> Self {
        self.write_log = true;
        self
    }

    /// The device model.
    pub fn on_write(mut self, hook: impl FnMut(&FakeHandle, usize, u32) + Send + 'static) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// Builds the device: registers zero, bus mastering on, no DMA memory, no vectors enabled.
    pub fn build(self) -> FakeDevice {
        let regs = (0..self.bar0_len.div_ceil(4))
            .map(|_| AtomicU32::new(0))
            .collect();
        let allocator = IovaAllocator::new(
            std::slice::from_ref(&(0..u64::MAX)),
            self.dma_mask_bits,
            self.granule as u64,
        );
        FakeDevice {
            shared: Arc::new(Shared {
                location: self.location,
                regs,
                hook: Mutex::new(self.hook),
                iommu: Mutex::new(FakeIommu {
                    allocator,
                    mapped: BTreeMap::new(),
                }),
                bus_master: AtomicBool::new(true),
                vectors: Mutex::new(Vec::new()),
                write_count: AtomicU64::new(0),
                write_log: self.write_log.then(|| Mutex::new(Vec::new())),
            }),
            vectors: Vec::new(),
            max_vectors: self.max_vectors,
            dma_mask_bits: self.dma_mask_bits,
            granule: self.granule,
            reset_supported: self.reset_supported,
        }
    }
}

/// A device over plain memory, with a device model as a write hook.
pub struct FakeDevice {
    shared: Arc<Shared>,
    vectors: Vec<Arc<InterruptEvent>>,
    max_vectors: u32,
    dma_mask_bits: u8,
    granule: usize,
    reset_supported: bool,
}

impl FakeDevice {
    /// Starts a fake device at `location` with a BAR0 of `bar0_len` bytes (rounded up to 4).
    pub fn builder(location: impl Into<String>, bar0_len: usize) -> FakeBuilder {
        FakeBuilder {
            location: location.into(),
            bar0_len,
            dma_mask_bits: 64,
            granule: 4096,
            max_vectors: 0,
            reset_supported: false,
            write_log: false,
            hook: None,
        }
    }

    /// The device's side, for tests that act as the device from outside a hook.
    pub fn handle(&self) -> FakeHandle {
        FakeHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Register writes so far.
    pub fn write_count(&self) -> u64 {
        self.shared.write_count.load(Ordering::Relaxed)
    }

    /// The recorded writes (empty unless built with [`FakeBuilder::log_writes`]).
    pub fn write_log(&self) -> Vec<(usize, u32)> {
        self.shared
            .write_log
            .as_ref()
            .map(|log| lock(log).clone())
            .unwrap_or_default()
    }

    /// How many DMA regions are mapped for the device now.
    pub fn mapped_regions(&self) -> usize {
        lock(&self.shared.iommu).mapped.len()
    }
}

struct FakeMapping {
    shared: Arc<Shared>,
    iova: u64,
    len: u64,
}

impl DeviceMapping for FakeMapping {
    fn revoke(self: Box<Self>) -> Result<(), String> {
        let mut iommu = lock(&self.shared.iommu);
        if iommu.mapped.remove(&self.iova).is_none() {
            return Err(format!("IOVA {:#x} was not mapped", self.iova));
        }
        if !iommu.allocator.free(self.iova, self.len) {
            return Err(format!("IOVA {:#x} was not allocated", self.iova));
        }
        Ok(())
    }
}

impl DeviceAccess for FakeDevice {
    fn location(&self) -> &str {
        &self.shared.location
    }

    fn bar0_len(&self) -> usize {
        self.shared.regs.len() * 4
    }

    fn read32(&self, offset: usize) -> Result<u32, RegisterError> {
        check_register_access(offset, self.bar0_len())?;
        Ok(self.shared.regs[offset / 4].load(Ordering::Acquire))
    }

    fn write32(&self, offset: usize, value: u32) -> Result<(), RegisterError> {
        check_register_access(offset, self.bar0_len())?;
        self.shared.regs[offset / 4].store(value, Ordering::Release);
        self.shared.write_count.fetch_add(1, Ordering::Relaxed);
        if let Some(log) = &self.shared.write_log {
            lock(log).push((offset, value));
        }
        let handle = self.handle();
        if let Some(hook) = lock(&self.shared.hook).as_mut() {
            hook(&handle, offset, value);
        }
        Ok(())
    }

    fn dma_constraints(&self) -> DmaConstraints {
        DmaConstraints {
            granule: self.granule,
            dma_mask_bits: self.dma_mask_bits,
        }
    }

    fn alloc_dma(&self, len: usize) -> Result<DmaRegion, DeviceError> {
        let rounded = len.max(1).next_multiple_of(self.granule);
        let mut iommu = lock(&self.shared.iommu);
        let iova = iommu.allocator.alloc(rounded as u64).map_err(|e| {
            DeviceError::new(
                DeviceErrorKind::IovaExhausted,
                self.location(),
                format!("allocating {rounded} bytes of DMA memory"),
                e.to_string(),
            )
            .with_fix("free DMA regions you no longer need, or allocate fewer/smaller ones")
        })?;
        let memory = Arc::new(DmaMemory::heap(rounded));
        iommu.mapped.insert(iova, Arc::clone(&memory));
        drop(iommu);
        Ok(DmaRegion::new(
            memory,
            iova,
            Box::new(FakeMapping {
                shared: Arc::clone(&self.shared),
                iova,
                len: rounded as u64,
            }),
        ))
    }

    fn max_interrupt_vectors(&self) -> u32 {
        self.max_vectors
    }

    fn enable_interrupts(&mut self, count: u32) -> Result<(), DeviceError> {
        if count > self.max_vectors {
            return Err(DeviceError::new(
                DeviceErrorKind::Unsupported,
                self.location(),
                format!("enabling {count} interrupt vectors"),
                format!("the device has {} vectors", self.max_vectors),
            )
            .with_fix("ask for at most max_interrupt_vectors() vectors, or poll"));
        }
        let mut fresh = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let event = InterruptEvent::new().map_err(|e| {
                DeviceError::from_io(
                    DeviceErrorKind::Io,
                    self.location(),
                    "creating an eventfd for an interrupt vector",
                    e,
                )
            })?;
            fresh.push(Arc::new(event));
        }
        *lock(&self.shared.vectors) = fresh.clone();
        self.vectors = fresh;
        Ok(())
    }

    fn disable_interrupts(&mut self) -> Result<(), DeviceError> {
        lock(&self.shared.vectors).clear();
        self.vectors.clear();
        Ok(())
    }

    fn interrupt(&self, vector: u32) -> Option<&InterruptEvent> {
        self.vectors.get(vector as usize).map(|v| &**v)
    }

    fn reset(&mut self) -> Result<ResetOutcome, DeviceError> {
        if !self.reset_supported {
            return Ok(ResetOutcome::Unsupported {
                reason: "the fake device was built without reset support".into(),
            });
        }
        for r in self.shared.regs.iter() {
            r.store(0, Ordering::Release);
        }
        Ok(ResetOutcome::Reset)
    }

    fn quiesce(&mut self) -> Result<(), DeviceError> {
        self.disable_interrupts()?;
        self.shared.bus_master.store(false, Ordering::Release);
        Ok(())
    }
}

impl Drop for FakeDevice {
    fn drop(&mut self) {
        // Same contract as the real backends: no DMA and no interrupts after the driver lets go.
        let _ = self.quiesce();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn registers_store_and_refuse_bad_offsets() {
        let dev = FakeDevice::builder("fake0", 64).log_writes().build();
        dev.write32(8, 0xabcd).unwrap();
        assert_eq!(dev.read32(8).unwrap(), 0xabcd);
        assert!(dev.write32(64, 1).is_err());
        assert!(dev.read32(3).is_err());
        assert_eq!(dev.write_log(), vec![(8, 0xabcd)]);
        assert_eq!(dev.write_count(), 1);
    }

    #[test]
    fn dma_reaches_only_mapped_memory_and_stops_after_quiesce() {
        let mut dev = FakeDevice::builder("fake0", 64).dma_mask_bits(28).build();
        let side = dev.handle();
        let region = dev.alloc_dma(100).unwrap();
        assert_eq!(region.len(), 4096, "rounded up to the granule");
        assert!(region.iova() > 0 && region.iova() + 4096 <= 1 << 28);
        region.write_bytes(10, b"hello").unwrap();
        let mut buf = [0u8; 5];
        side.dma_read(region.iova() + 10, &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        side.dma_write(region.iova() + 4091, b"world").unwrap();
        let mut back = [0u8; 5];
        region.read_bytes(4091, &mut back).unwrap();
        assert_eq!(&back, b"world");
        // One byte past the end of the region is an IOMMU fault.
        assert_eq!(
            side.dma_write(region.iova() + 4092, b"world"),
            Err(FakeDmaFault::NotMapped {
                iova: region.iova() + 4092,
                len: 5
            })
        );
        assert!(side.dma_read(0, &mut buf).is_err());
        let iova = region.iova();
        drop(region);
        assert_eq!(dev.mapped_regions(), 0);
        assert!(matches!(
            side.dma_read(iova, &mut buf),
            Err(FakeDmaFault::NotMapped { .. })
        ));
        let region = dev.alloc_dma(1).unwrap();
        assert_eq!(
            region.iova(),
            iova,
            "the IOVA is reused after the region is freed"
        );
        dev.quiesce().unwrap();
        assert_eq!(
            side.dma_read(region.iova(), &mut buf),
            Err(FakeDmaFault::BusMasterOff)
        );
    }

    #[test]
    fn hooks_model_the_device_and_raise_vectors() {
        let mut dev = FakeDevice::builder("fake0", 16)
            .vectors(2)
            .on_write(|side, offset, value| {
                if offset == 0 {
                    side.set_reg(4, !value);
                    side.raise(1);
                }
            })
            .build();
        assert!(dev.enable_interrupts(3).is_err());
        dev.enable_interrupts(2).unwrap();
        dev.write32(0, 0x0f0f_0f0f).unwrap();
        assert_eq!(dev.read32(4).unwrap(), 0xf0f0_f0f0);
        assert_eq!(dev.wait_interrupt(1, Duration::from_secs(5)).unwrap(), 1);
        assert_eq!(dev.wait_interrupt(0, Duration::ZERO).unwrap(), 0);
        assert!(dev.wait_interrupt(2, Duration::ZERO).is_err());
        dev.disable_interrupts().unwrap();
        assert!(!dev.handle().raise(1));
    }

    #[test]
    fn reset_is_reported_as_supported_or_not() {
        let mut plain = FakeDevice::builder("fake0", 16).build();
        assert!(matches!(
            plain.reset().unwrap(),
            ResetOutcome::Unsupported { .. }
        ));
        let mut resettable = FakeDevice::builder("fake1", 16)
            .reset_supported(true)
            .build();
        resettable.write32(4, 9).unwrap();
        assert_eq!(resettable.reset().unwrap(), ResetOutcome::Reset);
        assert_eq!(resettable.read32(4).unwrap(), 0);
    }

    #[test]
    fn iova_exhaustion_is_a_typed_error_with_a_fix() {
        let dev = FakeDevice::builder("fake0", 16).dma_mask_bits(14).build();
        // [4096, 16384): three pages.
        let _a = dev.alloc_dma(8192).unwrap();
        let _b = dev.alloc_dma(4096).unwrap();
        let err = dev.alloc_dma(4096).unwrap_err();
        assert_eq!(err.kind(), DeviceErrorKind::IovaExhausted);
        assert!(
            err.to_string().starts_with("fake0: allocating 4096 bytes"),
            "{err}"
        );
        assert!(err.fix().is_some());
    }
}
