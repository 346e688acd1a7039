//! The descriptor-level device test suite against the RTL device (feature `rtl`): the same
//! tests as `device_conformance.rs` (the reference model), on the Verilated `ft_device`.
#![cfg(feature = "rtl")]

use rtl_sim::rtl::RtlDevice;

rtl_sim::conformance_suite!(|| RtlDevice::new().unwrap_or_else(|e| panic!("{e}")));
