//! The VFIO backend's two unsafe operations: wrapping the BAR0 mapping as an [`MmioWindow`],
//! and mapping DMA memory into the IOMMU.
//!
//! Owns [`Bar0`] (the window together with the mapping it points into, so the window cannot
//! outlive the mapping) and [`map_region`], which maps memory at an IOVA and returns it as a
//! [`DmaRegion`] whose drop unmaps the IOVA (and returns it to the allocator) before the memory
//! can be freed. Doing both in one function is what makes the mapping sound: no caller can map
//! memory and then free it while the device still reaches it.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use pci_driver::backends::vfio::VfioContainer;
use pci_driver::regions::{MappedOwningPciRegion, OwningPciRegion, Permissions};

use crate::dma::{DeviceMapping, DmaMemory, DmaRegion};
use crate::iova::IovaAllocator;
use crate::mmio::MmioWindow;

/// BAR0 mapped read-write, and the register window over it.
#[derive(Debug)]
pub(super) struct Bar0 {
    window: MmioWindow,
    /// Keeps the mapping alive as long as the window; unmapped when `Bar0` drops.
    _mapping: MappedOwningPciRegion,
}

impl Bar0 {
    /// Maps the whole BAR read-write.
    pub(super) fn map(bar: &OwningPciRegion) -> io::Result<Bar0> {
        let mapping = bar.map(.., Permissions::ReadWrite)?;
        // SAFETY: `mapping` is a fresh read-write MMIO mapping of `mapping.len()` bytes of the
        // BAR that lives exactly as long as the window (both are fields of `Bar0`, neither
        // handed out), and it is only accessed through the window's volatile accessors.
        let window =
            unsafe { MmioWindow::new(mapping.as_mut_ptr(), mapping.len()) }.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "BAR0 mapping is not 4-byte aligned",
                )
            })?;
        Ok(Bar0 {
            window,
            _mapping: mapping,
        })
    }

    /// The register window.
    #[inline]
    pub(super) fn window(&self) -> &MmioWindow {
        &self.window
    }
}

/// An IOMMU mapping of a region, undone on revoke.
struct VfioDmaMapping {
    container: Arc<VfioContainer>,
    allocator: Arc<Mutex<IovaAllocator>>,
    iova: u64,
    len: usize,
}

impl DeviceMapping for VfioDmaMapping {
    fn revoke(self: Box<Self>) -> Result<(), String> {
        self.container
            .iommu()
            .unmap(self.iova, self.len)
            .map_err(|e| format!("VFIO_IOMMU_UNMAP_DMA: {e}"))?;
        let mut allocator = self
            .allocator
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The IOVA is unmapped whatever the allocator says; a refusal here is a bookkeeping bug
        // that only costs IOVA space, so it does not keep the memory alive.
        let _ = allocator.free(self.iova, self.len as u64);
        Ok(())
    }
}

/// Maps `memory` for the container's devices at `iova` (read and write) and returns the region.
/// On failure nothing is mapped and the IOVA is still the caller's to give back.
pub(super) fn map_region(
    container: &Arc<VfioContainer>,
    allocator: &Arc<Mutex<IovaAllocator>>,
    memory: Arc<DmaMemory>,
    iova: u64,
) -> io::Result<DmaRegion> {
    let len = memory.len();
    // SAFETY: `memory` is a live allocation of `len` bytes owned through the `Arc` that the
    // returned region holds; the region's drop unmaps `iova..iova + len` (revoke) before it
    // releases that `Arc`, and leaks the memory if unmapping fails, so the device can never reach
    // freed memory. The memory is only accessed through `DmaMemory`'s volatile/atomic accessors,
    // so device writes never alias a Rust reference.
    unsafe {
        container
            .iommu()
            .map(iova, len, memory.as_ptr(), Permissions::ReadWrite)?
    };
    Ok(DmaRegion::new(
        memory,
        iova,
        Box::new(VfioDmaMapping {
            container: Arc::clone(container),
            allocator: Arc::clone(allocator),
            iova,
            len,
        }),
    ))
}
