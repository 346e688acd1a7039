//! # rtl-sim: the NIC's offload datapath in hardware and in software
//!
//! Owns three things that must agree bit for bit:
//! - the Verilog of the offload engines (TX checksum insertion, RX checksum verification, TCP
//!   segmentation offload, descriptor/queue engine) in `rtl/`, compiled with Verilator behind the
//!   `rtl` cargo feature;
//! - a Rust reference model of the same engines and of the whole device;
//! - the simulated NIC: a BAR in shared memory laid out exactly as [`hw_spec`] says, DMA into
//!   memory the driver registers, and a wire port (cable, TAP or pcap).
//!
//! Depends on `hw-spec` and `sim-link` only. It must not depend on `host-driver` or
//! `tcp-engine`: the driver talks to this device through the same registers and rings it would
//! use on real hardware, across `sim-link`.
//!
//! Modules:
//! - [`engines`]: bit-exact Rust models of the offload engines (frame arithmetic only);
//! - [`device`]: the [`device::DeviceCore`] trait, the interfaces a device drives (DMA, wire,
//!   interrupts, register image), the configuration, and the reference model
//!   [`device::model::ModelDevice`];
//! - [`conformance`]: the descriptor-level test suite, generic over the device core;
//! - [`wire`]: wire ports (cable with impairment, TAP, pcap writer);
//! - [`nic`]: the simulated NIC: a device core on a sim-link, stepped by the caller or on its
//!   own thread, and the backend choice (`model`, `rtl`);
//! - `rtl` (feature `rtl`): the Verilog under Verilator, driven from Rust: the offload engines
//!   alone (differential tests, benchmarks) and the whole device as a device core (the `rtl`
//!   backend of the simulated NIC).
pub mod conformance;
pub mod device;
pub mod engines;
pub mod nic;
#[cfg(feature = "rtl")]
pub mod rtl;
pub mod wire;
