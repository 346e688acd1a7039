//! The descriptor-level device test suite against the RTL device (feature `rtl`): the same
//! tests as `device_conformance.rs` (the reference model), on the Verilated `ft_device`; and
//! once more with the DMA and MAC sides withholding a third of all handshakes at random (only
//! timing may change).
#![cfg(feature = "rtl")]

use rtl_sim::rtl::RtlDevice;

rtl_sim::conformance_suite!(|| RtlDevice::new().unwrap_or_else(|e| panic!("{e}")));

mod under_back_pressure {
    use super::RtlDevice;

    rtl_sim::conformance_suite!(|| {
        let mut dev = RtlDevice::new().unwrap_or_else(|e| panic!("{e}"));
        dev.set_back_pressure(33, 0xB0A7);
        dev
    });
}
