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
//! Depends on `hw-spec` only. It must not depend on `host-driver` or `tcp-engine`: the driver
//! talks to this device through the same registers and rings it would use on real hardware.
//!
//! Modules: [`engines`] (bit-exact Rust models of the offload engines); `rtl` (feature `rtl`:
//! the Verilog engines under Verilator, driven from Rust). The device model and the simulated
//! NIC arrive with issue #4.
pub mod engines;
#[cfg(feature = "rtl")]
pub mod rtl;
