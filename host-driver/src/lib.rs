//! # host-driver: the userspace driver of the ferrotoe NIC
//!
//! Owns device access (BAR MMIO, DMA memory, interrupts) behind one small interface with several
//! backends, and the driver proper: discovery by walking [`hw_spec`]'s register blocks, queue
//! set-up, packet buffer pools, `rx_burst`/`tx_burst` with per-packet offload metadata, defences
//! against a misbehaving device, statistics.
//!
//! ## Device access
//!
//! - [`access::DeviceAccess`]: the interface the driver is written against. BAR0 registers
//!   (32-bit, bounds-checked), DMA memory ([`dma::DmaRegion`]: CPU mapping + IOVA, unmapped on
//!   drop), interrupt vectors ([`irq::InterruptEvent`], eventfds) or polling, function reset,
//!   quiesce on drop, and a `relax` hook the driver calls while it waits for the device. No VFIO
//!   type appears in it.
//! - [`vfio::VfioDevice`]: real PCI devices through vfio-pci (built on `pci-driver`; DMA memory
//!   from 2 MiB hugepages at IOVAs from the IOMMU's valid ranges).
//! - [`sim::SimDevice`]: the simulated NIC over `sim-link` (stepped in this process, on its own
//!   thread, or a `ferrotoe nicsim` process): DMA memory as sealed memfds registered with the
//!   simulated IOMMU, interrupts as eventfds fed from the link.
//! - [`fake::FakeDevice`]: the test twin over plain memory, with device models as write hooks
//!   ([`edu::fake_edu`] models QEMU's `edu`).
//!
//! ## The driver
//!
//! [`nic`]: [`Nic`] (one device: discovery, reset, interrupts, start/stop, device statistics)
//! and [`QueuePair`] (a TX queue, an RX queue, their completion queues and a [`PacketPool`];
//! bursts of [`PacketBuf`]s in a [`PacketBatch`]). See the module for the hot path's design and
//! what the driver does when the device breaks the contract.
//!
//! ## Where the `unsafe` is
//!
//! The crate denies `unsafe_code` except in four small modules, each block with a `SAFETY:`
//! comment: [`mmio`] (volatile register access), [`dma`] (DMA memory: allocation, volatile and
//! atomic accessors), `nic::pool` (zero-copy views of packet buffers the driver owns) and
//! `vfio::raw` (wrapping the BAR0 mapping, mapping DMA memory into the IOMMU).
//! `tests/unsafe_under_valgrind.rs` runs the first three, and the driver's hot path over a
//! stepped simulated NIC, under valgrind's memcheck in every `cargo test`; with a nightly
//! toolchain that has Miri, `cargo +nightly miri test -p host-driver --lib -- mmio:: dma::
//! fake:: edu:: nic::pool::` runs their unit tests under Miri too. `vfio::raw` is exercised for
//! real by `tests/vfio_qemu`, which boots a QEMU guest with an emulated IOMMU and QEMU's `edu`
//! device.
//!
//! Depends on `hw-spec` (every register offset and descriptor field of the ferrotoe NIC comes
//! from there) and `sim-link` (the simulation backend's transport) among our crates. It must not
//! depend on `tcp-engine` (`ferrotoe-benches` adapts the driver to the engine's device
//! interface) nor on `rtl-sim` (a dev-dependency only: tests run the driver against it).

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
