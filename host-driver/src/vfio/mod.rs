//! The VFIO backend: a real PCI device, driven from userspace through Linux's vfio-pci.
//!
//! Owns [`VfioDevice`], the [`DeviceAccess`] implementation for hardware. Opening follows the
//! sequence every VFIO driver follows, each step with its own error and fix:
//!
//! 1. pre-flight from sysfs (module `diagnose`): the device exists and has the expected IDs, it has an
//!    IOMMU group (else the IOMMU is off), it is bound to vfio-pci, every device of its group is
//!    bound to vfio-pci or unbound (the group is viable), `/dev/vfio/vfio` and `/dev/vfio/<group>`
//!    exist and can be opened;
//! 2. container, group and device through `pci-driver` (API version, Type1v2 IOMMU, viability);
//! 3. memory space and bus mastering on in the command register;
//! 4. BAR0 mapped read-write (`raw::Bar0`);
//! 5. DMA memory from 2 MiB hugepages (or ordinary pages) mapped at IOVAs taken from the IOMMU's
//!    valid IOVA ranges below the device's DMA mask ([`IovaAllocator`]), never identity-mapped;
//! 6. MSI-X (or MSI) vectors bound to eventfds on demand; polling otherwise;
//! 7. function reset through `VFIO_DEVICE_RESET` where the device has one (`EINVAL`/`ENOTTY`
//!    means it has none: reported as [`ResetOutcome::Unsupported`]);
//! 8. on drop, quiesce: vectors unbound, bus mastering off. DMA regions may outlive the device;
//!    each unmaps itself.
//!
//! Why `pci-driver` rather than `vfio-ioctls`: it checks group viability, reads the IOMMU's
//! valid IOVA ranges, exposes MSI and MSI-X with eventfds and typed config space, and returns
//! errors instead of logging them (vfio-ioctls's `reset()` silently does nothing on devices
//! without reset, and its region I/O only logs failures).
//!
//! Must not know what the device's registers mean (the driver's job).

mod address;
mod diagnose;
#[allow(unsafe_code)]
mod raw;
mod sysfs;

use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use pci_driver::backends::vfio::VfioPciDevice;
use pci_driver::device::PciDevice;

pub use address::{PciAddress, PciAddressError};
pub use sysfs::{GroupMember, HugepageCounts, Sysfs};

use crate::access::{DeviceAccess, DmaConstraints, ResetOutcome};
use crate::dma::{DmaMemory, DmaRegion, HUGEPAGE_2M};
use crate::error::{DeviceError, DeviceErrorKind, RegisterError, errno_name, strerror};
use crate::iova::IovaAllocator;
use crate::irq::InterruptEvent;

/// How to open a device.
#[derive(Clone, Debug)]
pub struct VfioOptions {
    /// Address bits the device's DMA engine drives (64 for most NICs, 28 for QEMU's `edu`).
    /// Every IOVA handed out lies below `2^dma_mask_bits`.
    pub dma_mask_bits: u8,
    /// Back DMA memory with 2 MiB hugepages (default). Without them DMA memory uses ordinary
    /// pages: it works, but costs more IOTLB misses and more IOMMU mappings.
    pub hugepages: bool,
    /// Refuse the device unless it has these vendor and device IDs.
    pub expect_ids: Option<(u16, u16)>,
    /// Where sysfs and `/dev` are for the pre-flight checks and error messages (the real ones by
    /// default; tests point them at a fake tree). The VFIO open itself always uses `/dev/vfio`.
    pub sysfs: Sysfs,
}

impl Default for VfioOptions {
    fn default() -> Self {
        VfioOptions {
            dma_mask_bits: 64,
            hugepages: true,
            expect_ids: None,
            sysfs: Sysfs::default(),
        }
    }
}

/// The PCI addresses of every device with these vendor and device IDs.
pub fn find_devices(sysfs: &Sysfs, vendor: u16, device: u16) -> std::io::Result<Vec<PciAddress>> {
    Ok(sysfs
        .devices()?
        .into_iter()
        .filter(|&(_, v, d)| (v, d) == (vendor, device))
        .map(|(a, _, _)| a)
        .collect())
}

/// Which interrupt mechanism the device's vectors use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterruptKind {
    /// MSI-X (preferred).
    MsiX,
    /// MSI (devices without MSI-X, such as QEMU's `edu`).
    Msi,
    /// Neither: the driver polls.
    None,
}

/// A PCI device opened through VFIO.
pub struct VfioDevice {
    location: String,
    address: PciAddress,
    group: u32,
    ids: (u16, u16),
    bar0: raw::Bar0,
    pci: VfioPciDevice,
    allocator: Arc<Mutex<IovaAllocator>>,
    valid_iova: Vec<Range<u64>>,
    granule: usize,
    dma_mask_bits: u8,
    hugepages: bool,
    sysfs: Sysfs,
    irq_kind: InterruptKind,
    max_vectors: u32,
    vectors: Vec<InterruptEvent>,
}

impl std::fmt::Debug for VfioDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VfioDevice")
            .field("address", &self.location)
            .field("group", &self.group)
            .field("bar0_len", &self.bar0.window().len())
            .field("irq_kind", &self.irq_kind)
            .finish()
    }
}

impl VfioDevice {
    /// Opens the device at `address` (e.g. `0000:03:00.0`, or `03:00.0`).
    pub fn open_str(address: &str, options: VfioOptions) -> Result<VfioDevice, DeviceError> {
        let parsed: PciAddress = address.parse().map_err(|e: PciAddressError| {
            DeviceError::new(
                DeviceErrorKind::InvalidAddress,
                address,
                "parsing the PCI address",
                e.reason,
            )
            .with_fix("give the address as DDDD:BB:DD.F, e.g. 0000:03:00.0 (`lspci -D` lists them)")
        })?;
        VfioDevice::open(parsed, options)
    }

    /// Opens the device at `address`: the whole sequence of the module documentation.
    pub fn open(address: PciAddress, options: VfioOptions) -> Result<VfioDevice, DeviceError> {
        let location = address.to_string();
        let pre = diagnose::preflight(&options.sysfs, &address, options.expect_ids)?;
        let group = pre.group;
        let device_dir = options.sysfs.device_dir(&address);
        let group_node = options.sysfs.group_node(group);

        let pci = VfioPciDevice::open(&device_dir).map_err(|e| {
            let members = options.sysfs.group_members(group).unwrap_or_default();
            diagnose::open_failed(
                &address,
                group,
                "opening the VFIO container, group and device",
                &group_node,
                e,
                &members,
            )
        })?;

        let step_err = |step: &str, e: std::io::Error| {
            DeviceError::from_io(DeviceErrorKind::Io, location.clone(), step, e)
                .with_group(group)
                .with_path(&device_dir)
        };
        enable_memory_and_bus_master(&pci)
            .map_err(|e| step_err("enabling memory space and bus mastering", e))?;

        let bar = pci.bar(0).ok_or_else(|| {
            DeviceError::new(
                DeviceErrorKind::Unsupported,
                location.clone(),
                "finding BAR0",
                "the device has no BAR0",
            )
            .with_group(group)
            .with_path(&device_dir)
            .with_fix("this device is not one ferrotoe can drive: check the address")
        })?;
        if !bar.is_mappable() {
            return Err(DeviceError::new(
                DeviceErrorKind::Unsupported,
                location,
                "mapping BAR0",
                "VFIO does not allow BAR0 to be mapped (an I/O-port BAR, or a BAR smaller than a page)",
            )
            .with_group(group)
            .with_path(&device_dir)
            .with_fix("this device is not one ferrotoe can drive: check the address"));
        }
        let bar0 = raw::Bar0::map(&bar).map_err(|e| step_err("mapping BAR0", e))?;

        let iommu = pci.iommu();
        let valid_iova = iommu.valid_iova_ranges().to_vec();
        let page = if options.hugepages { HUGEPAGE_2M } else { 4096 };
        let granule = page.max(iommu.alignment());
        let allocator = IovaAllocator::new(&valid_iova, options.dma_mask_bits, granule as u64);

        let msix = pci.interrupts().msi_x().max();
        let msi = pci.interrupts().msi().max();
        let (irq_kind, max_vectors) = if msix > 0 {
            (InterruptKind::MsiX, msix)
        } else if msi > 0 {
            (InterruptKind::Msi, msi)
        } else {
            (InterruptKind::None, 0)
        };

        Ok(VfioDevice {
            location,
            address,
            group,
            ids: pre.ids,
            bar0,
            pci,
            allocator: Arc::new(Mutex::new(allocator)),
            valid_iova,
            granule,
            dma_mask_bits: options.dma_mask_bits,
            hugepages: options.hugepages,
            sysfs: options.sysfs,
            irq_kind,
            max_vectors: u32::try_from(max_vectors).unwrap_or(u32::MAX),
            vectors: Vec::new(),
        })
    }

    /// The device's PCI address.
    pub fn address(&self) -> PciAddress {
        self.address
    }

    /// The device's IOMMU group.
    pub fn group(&self) -> u32 {
        self.group
    }

    /// The device's vendor and device IDs.
    pub fn ids(&self) -> (u16, u16) {
        self.ids
    }

    /// The IOVA ranges the IOMMU accepts (half-open), before the DMA mask is applied.
    pub fn valid_iova_ranges(&self) -> &[Range<u64>] {
        &self.valid_iova
    }

    /// The interrupt mechanism vectors use.
    pub fn interrupt_kind(&self) -> InterruptKind {
        self.irq_kind
    }

    fn error(&self, kind: DeviceErrorKind, step: &str, e: std::io::Error) -> DeviceError {
        DeviceError::from_io(kind, self.location.clone(), step, e)
            .with_group(self.group)
            .with_path(self.sysfs.device_dir(&self.address))
    }

    fn alloc_memory(&self, len: usize) -> Result<DmaMemory, DeviceError> {
        if !self.hugepages {
            return DmaMemory::anonymous(len)
                .map_err(|e| self.error(DeviceErrorKind::Io, "allocating DMA memory", e));
        }
        let nr_path = self.sysfs.hugepages_2m_dir().join("nr_hugepages");
        let needed = (len / HUGEPAGE_2M) as u64;
        let counts = self.sysfs.hugepages_2m().ok();
        if counts.is_none_or(|c| c.free < needed) {
            return Err(diagnose::no_hugepages(
                &self.address,
                self.group,
                len,
                counts,
                &nr_path,
                None,
            ));
        }
        DmaMemory::hugepages_2m(len).map_err(|e| match e.raw_os_error() {
            // The pool ran dry between the check and the mapping (another process took pages).
            Some(errno @ (12 | 22)) => diagnose::no_hugepages(
                &self.address,
                self.group,
                len,
                self.sysfs.hugepages_2m().ok(),
                &nr_path,
                Some(errno),
            ),
            _ => self.error(DeviceErrorKind::Io, "allocating hugepage DMA memory", e),
        })
    }

    fn free_iova(&self, iova: u64, len: usize) {
        let mut allocator = self
            .allocator
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let _ = allocator.free(iova, len as u64);
    }
}

fn enable_memory_and_bus_master(pci: &VfioPciDevice) -> std::io::Result<()> {
    let config = pci.config();
    let command = config.command();
    command.memory_space_enable().write(true)?;
    command.bus_master_enable().write(true)
}

impl DeviceAccess for VfioDevice {
    fn location(&self) -> &str {
        &self.location
    }

    fn bar0_len(&self) -> usize {
        self.bar0.window().len()
    }

    #[inline]
    fn read32(&self, offset: usize) -> Result<u32, RegisterError> {
        self.bar0.window().read32(offset)
    }

    #[inline]
    fn write32(&self, offset: usize, value: u32) -> Result<(), RegisterError> {
        self.bar0.window().write32(offset, value)
    }

    fn dma_constraints(&self) -> DmaConstraints {
        DmaConstraints {
            granule: self.granule,
            dma_mask_bits: self.dma_mask_bits,
        }
    }

    fn alloc_dma(&self, len: usize) -> Result<DmaRegion, DeviceError> {
        let len = len.max(1).next_multiple_of(self.granule);
        let memory = Arc::new(self.alloc_memory(len)?);
        let iova = {
            let mut allocator = self
                .allocator
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            allocator.alloc(len as u64).map_err(|e| {
                diagnose::iova_exhausted(&self.address, self.group, &e, self.dma_mask_bits)
            })?
        };
        let container_path = self.sysfs.container_node();
        raw::map_region(self.pci.container(), &self.allocator, memory, iova).map_err(|e| {
            self.free_iova(iova, len);
            match diagnose::errno_of(&e) {
                Some(12) => {
                    let limit = rustix::process::getrlimit(rustix::process::Resource::Memlock);
                    diagnose::locked_memory_limit(
                        &self.address,
                        self.group,
                        len,
                        limit.current,
                        &container_path,
                    )
                }
                Some(28) => diagnose::too_many_mappings(&self.address, self.group, &container_path),
                errno => {
                    let mut err = DeviceError::new(
                        DeviceErrorKind::Io,
                        self.location.clone(),
                        format!("mapping {len} bytes of DMA memory at IOVA {iova:#x} (VFIO_IOMMU_MAP_DMA)"),
                        e.to_string(),
                    )
                    .with_group(self.group)
                    .with_path(&container_path)
                    .with_fix("see `dmesg | tail` for the IOMMU's side of the failure");
                    if let Some(errno) = errno {
                        err = err.with_errno(errno);
                    }
                    err
                }
            }
        })
    }

    fn max_interrupt_vectors(&self) -> u32 {
        self.max_vectors
    }

    fn enable_interrupts(&mut self, count: u32) -> Result<(), DeviceError> {
        if count > self.max_vectors {
            return Err(DeviceError::new(
                DeviceErrorKind::Unsupported,
                self.location.clone(),
                format!("enabling {count} interrupt vectors"),
                format!(
                    "the device offers {} vectors ({:?})",
                    self.max_vectors, self.irq_kind
                ),
            )
            .with_group(self.group)
            .with_fix("ask for at most max_interrupt_vectors() vectors, or poll"));
        }
        self.disable_interrupts()?;
        if count == 0 {
            return Ok(());
        }
        let mut events = Vec::with_capacity(count as usize);
        for _ in 0..count {
            events.push(InterruptEvent::new().map_err(|e| {
                self.error(
                    DeviceErrorKind::Io,
                    "creating an eventfd for an interrupt vector",
                    e,
                )
            })?);
        }
        let fds: Vec<i32> = events.iter().map(InterruptEvent::as_raw_fd).collect();
        let interrupts = self.pci.interrupts();
        let result = match self.irq_kind {
            InterruptKind::MsiX => interrupts.msi_x().enable(&fds),
            InterruptKind::Msi => interrupts.msi().enable(&fds),
            InterruptKind::None => Ok(()),
        };
        result.map_err(|e| {
            self.error(
                DeviceErrorKind::Io,
                &format!(
                    "binding {count} {:?} vectors to eventfds (VFIO_DEVICE_SET_IRQS)",
                    self.irq_kind
                ),
                e,
            )
        })?;
        self.vectors = events;
        Ok(())
    }

    fn disable_interrupts(&mut self) -> Result<(), DeviceError> {
        if self.vectors.is_empty() {
            return Ok(());
        }
        let interrupts = self.pci.interrupts();
        let result = match self.irq_kind {
            InterruptKind::MsiX => interrupts.msi_x().disable(),
            InterruptKind::Msi => interrupts.msi().disable(),
            InterruptKind::None => Ok(()),
        };
        result.map_err(|e| {
            self.error(
                DeviceErrorKind::Io,
                "unbinding interrupt vectors (VFIO_DEVICE_SET_IRQS)",
                e,
            )
        })?;
        self.vectors.clear();
        Ok(())
    }

    fn interrupt(&self, vector: u32) -> Option<&InterruptEvent> {
        self.vectors.get(vector as usize)
    }

    fn reset(&mut self) -> Result<ResetOutcome, DeviceError> {
        match self.pci.reset() {
            Ok(()) => {
                enable_memory_and_bus_master(&self.pci).map_err(|e| {
                    self.error(
                        DeviceErrorKind::Io,
                        "re-enabling memory space and bus mastering after reset",
                        e,
                    )
                })?;
                Ok(ResetOutcome::Reset)
            }
            Err(e) if matches!(e.raw_os_error(), Some(22 | 25 | 95)) => {
                let errno = e.raw_os_error().unwrap_or(0);
                let methods = self.sysfs.reset_methods(&self.address);
                Ok(ResetOutcome::Unsupported {
                    reason: format!(
                        "VFIO_DEVICE_RESET: {} ({}); reset methods the kernel knows for {}: {}",
                        strerror(errno),
                        errno_name(errno),
                        self.location,
                        if methods.is_empty() { "none" } else { &methods }
                    ),
                })
            }
            Err(e) => Err(self.error(
                DeviceErrorKind::Io,
                "resetting the function (VFIO_DEVICE_RESET)",
                e,
            )),
        }
    }

    fn quiesce(&mut self) -> Result<(), DeviceError> {
        let irq = self.disable_interrupts();
        let config = self.pci.config();
        config
            .command()
            .bus_master_enable()
            .write(false)
            .map_err(|e| self.error(DeviceErrorKind::Io, "turning bus mastering off", e))?;
        irq
    }
}

impl Drop for VfioDevice {
    fn drop(&mut self) {
        if let Err(e) = self.quiesce() {
            eprintln!("host-driver: quiescing on drop failed: {e}");
        }
    }
}

/// Whether bus mastering is on, read from sysfs's copy of config space (for checks after the
/// device was dropped).
pub fn bus_master_enabled(sysfs: &Sysfs, address: &PciAddress) -> std::io::Result<bool> {
    Ok(sysfs.command_register(address)? & 0x4 != 0)
}

#[cfg(test)]
mod tests {
    use super::sysfs::fixture::FakeSys;
    use super::*;

    #[test]
    fn open_reports_preflight_failures_before_touching_vfio() {
        let fake = FakeSys::new();
        fake.add_device("0000:00:02.0", (0x1234, 0x11e8), Some("e1000e"), Some(2));
        let options = VfioOptions {
            sysfs: fake.sysfs(),
            ..VfioOptions::default()
        };
        let err = VfioDevice::open_str("00:02.0", options.clone()).unwrap_err();
        assert_eq!(err.kind(), DeviceErrorKind::NotBoundToVfio);
        let err = VfioDevice::open_str("00:02", options).unwrap_err();
        assert_eq!(err.kind(), DeviceErrorKind::InvalidAddress);
        assert!(
            err.to_string()
                .starts_with("00:02: parsing the PCI address failed"),
            "{err}"
        );
    }

    #[test]
    fn the_device_can_move_between_threads() {
        fn is_send_sync<T: Send + Sync>() {}
        is_send_sync::<VfioDevice>();
    }

    #[test]
    fn find_devices_filters_by_ids() {
        let fake = FakeSys::new();
        fake.add_device("0000:00:02.0", (0x1234, 0x11e8), None, None);
        fake.add_device("0000:00:03.0", (0x8086, 0x10d3), None, None);
        fake.add_device("0000:00:04.0", (0x1234, 0x11e8), None, None);
        let found = find_devices(&fake.sysfs(), 0x1234, 0x11e8).unwrap();
        assert_eq!(
            found.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["0000:00:02.0", "0000:00:04.0"]
        );
        let sysfs = fake.sysfs();
        let a: PciAddress = "00:02.0".parse().unwrap();
        assert!(bus_master_enabled(&sysfs, &a).unwrap());
    }
}
