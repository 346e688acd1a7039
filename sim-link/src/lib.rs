//! # sim-link: the wire between a simulated ferrotoe NIC and its driver
//!
//! A real NIC sits across PCIe: the driver reads and writes BAR0, the device reads and writes
//! host memory through the IOMMU, and signals interrupts. This crate is that boundary in shared
//! memory, so a simulated device (the Rust model or a Verilated RTL device, in a thread or in a
//! process of its own) and a driver backend meet exactly as they would on hardware. `rtl-sim`
//! (device side) and `host-driver` (driver side) both depend on it; neither on the other.
//!
//! ## The pieces
//!
//! - **BAR0**: a file of exactly `hw_spec::regs::BAR0_SIZE` bytes laid out as hw-spec says: the
//!   register image. The driver reads it directly; the device keeps it current.
//! - **Posted writes**: MMIO writes go into a lock-free single-producer FIFO in the link file;
//!   the device applies them in order. A driver read first waits until every earlier write is
//!   applied (PCIe: reads do not pass posted writes), then reads the image. Writes of several
//!   image words that belong together (64-bit counters) are bracketed by a seqlock, so the
//!   spec's `HI`/`LO`/`HI` read works.
//! - **Simulated IOMMU**: DMA memory is a memfd the driver registers: path + length at an IOVA;
//!   IOVA = region base + offset into the file. Registration travels in the FIFO, so it is
//!   ordered with the register writes that use it. A device access outside registered memory is
//!   a [`DmaFault`], which the device reports as hw-spec section 8 says. The device maps only
//!   files that cannot shrink under it (sealed with `F_SEAL_SHRINK`, or sealable and then sealed
//!   by the device; regular files are refused): a driver truncating its DMA file would otherwise
//!   crash the device process with `SIGBUS`.
//! - **Interrupts**: per-vector signal counts in the link file, and futex waits on them.
//! - **Doorbell wake-up**: a device with nothing to do sleeps on a futex; a driver write, a
//!   cable peer or a port thread wakes it through a [`DeviceWaker`] (one fence and one load when
//!   it is awake, one syscall when it sleeps).
//!
//! ## Why futexes for interrupts and wake-ups
//!
//! The two sides may be separate processes that only share files by path (`ferrotoe nicsim
//! --link DIR`). A futex works on any word of a shared mapping, costs nothing unless somebody
//! sleeps (the signaller checks a waiter count), needs no file descriptors to pass between
//! processes (eventfds would need a Unix socket and `SCM_RIGHTS`), and a waiter can still fall
//! back to polling the counts (a driver that polls its completion queues never sleeps at all).
//! A device stepped by the caller's own loop cannot run while that thread sleeps, so the driver
//! side takes a [`Pump`] that steps it instead.
//!
//! ## Driver API in brief
//!
//! ```text
//! let mut link = DriverLink::attach_dir(dir)?;             // or attach(&paths, opts)
//! link.write32(off, v)?;  link.read32(off)?;  link.read64(lo_off)?;
//! let mem = SharedRegion::anonymous("dma", len)?;  link.map_dma(&mem, iova)?;
//! let irq = link.interrupts();  irq.wait(vector, seen, timeout)?;
//! ```
//!
//! ## Device API in brief
//!
//! ```text
//! let mut dev = DeviceLink::create_in_dir(dir, &LinkConfig::default())?;
//! while let Some(ev) = dev.poll_event() { /* apply LinkEvent::Write / BadRead */ }
//! dev.ack();                                   // releases waiting driver reads
//! dev.image().store(off, v);  dev.iommu().read(iova, buf)?;  dev.signal_irq(v);
//! dev.sleep(timeout, || other_work());
//! ```
//!
//! All `unsafe` code (mmap, atomics on shared memory, futex) is in [`shm`].

pub mod device;
pub mod driver;
pub mod error;
pub mod files;
pub mod iommu;
pub mod layout;
pub mod shm;

pub use device::{DeviceLink, LinkConfig, LinkEvent};
pub use driver::{AttachOptions, DEFAULT_TIMEOUT, DriverLink, Interrupts, Pump};
pub use error::LinkError;
pub use files::{BarImage, DeviceWaker, LinkPaths};
pub use iommu::{DmaFault, Iommu};
pub use shm::SharedRegion;
