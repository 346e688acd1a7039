//! # host-driver: the userspace driver of the ferrotoe NIC
//!
//! Owns device access (BAR MMIO, DMA memory, interrupts) behind one small interface with several
//! backends, and (with issue #5's later parts) the driver proper: discovery by walking
//! [`hw_spec`]'s register blocks, queue set-up, buffer pool, `rx_burst`/`tx_burst` with
//! per-packet offload metadata, statistics.
//!
//! ## Device access
//!
//! - [`access::DeviceAccess`]: the interface the driver is written against. BAR0 registers
//!   (32-bit, bounds-checked), DMA memory ([`dma::DmaRegion`]: CPU mapping + IOVA, unmapped on
//!   drop), interrupt vectors ([`irq::InterruptEvent`], eventfds) or polling, function reset,
//!   quiesce on drop. No VFIO type appears in it.
//! - [`vfio::VfioDevice`]: real PCI devices through vfio-pci (built on `pci-driver`; DMA memory
//!   from 2 MiB hugepages at IOVAs from the IOMMU's valid ranges).
//! - [`fake::FakeDevice`]: the test twin over plain memory, with device models as write hooks
//!   ([`edu::fake_edu`] models QEMU's `edu`).
//! - The simulated NIC's backend (shared-memory BAR and DMA files) implements the same trait.
//!
//! ## Where the `unsafe` is
//!
//! The crate denies `unsafe_code` except in three small modules, each block with a `SAFETY:`
//! comment: [`mmio`] (volatile register access), [`dma`] (DMA memory: allocation, volatile and
//! atomic accessors) and `vfio::raw` (wrapping the BAR0 mapping, mapping DMA memory into the
//! IOMMU). `tests/unsafe_under_valgrind.rs` runs the first two under valgrind's memcheck in
//! every `cargo test`; with a nightly toolchain that has Miri,
//! `cargo +nightly miri test -p host-driver --lib -- mmio:: dma:: fake:: edu::` runs their unit
//! tests under Miri too (about 5 minutes). `vfio::raw` is exercised for real by
//! `tests/vfio_qemu`, which boots a QEMU guest with an emulated IOMMU and QEMU's `edu` device.
//!
//! Depends on `hw-spec` only among our crates; every register offset and descriptor field of the
//! ferrotoe NIC comes from there. It must not depend on `tcp-engine` (the CLI adapts the driver
//! to the engine's device interface) nor on `rtl-sim`'s internals.

#![deny(unsafe_code)]

pub mod access;
#[allow(unsafe_code)]
pub mod dma;
pub mod edu;
pub mod error;
pub mod fake;
pub mod iova;
pub mod irq;
#[allow(unsafe_code)]
pub mod mmio;
pub mod nic;
pub mod sim;
pub mod vfio;

pub use access::{DeviceAccess, DmaConstraints, ResetOutcome};
pub use dma::{DeviceMapping, DmaMemory, DmaRegion};
pub use error::{DeviceError, DeviceErrorKind, DmaAccessError, RegisterError};
pub use irq::InterruptEvent;
pub use nic::{
    DeviceInfo, Nic, NicConfig, PacketBatch, PacketBuf, PacketPool, QueueConfig, QueuePair, RxInfo,
};
pub use sim::SimDevice;
