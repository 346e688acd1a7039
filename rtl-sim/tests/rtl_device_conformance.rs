//! The descriptor-level device test suite against the RTL device (feature `rtl`): the same
//! tests as `device_conformance.rs` (the reference model), on the Verilated `ft_device` at 512
//! bits (the reference build); once more with the DMA and MAC sides withholding a third of all
//! handshakes at random (only timing may change); and on the 64-bit build.
#![cfg(feature = "rtl")]

use rtl_sim::rtl::{DataWidth, RtlDevice};

rtl_sim::conformance_suite!(|| RtlDevice::new().unwrap_or_else(|e| panic!("{e}")));

mod under_back_pressure {
    use super::RtlDevice;

    rtl_sim::conformance_suite!(|| {
        let mut dev = RtlDevice::new().unwrap_or_else(|e| panic!("{e}"));
        dev.set_back_pressure(33, 0xB0A7);
        dev
    });
}

mod width_64 {
    use super::{DataWidth, RtlDevice};

    rtl_sim::conformance_suite!(|| {
        RtlDevice::with_width(DataWidth::Bits64).unwrap_or_else(|e| panic!("{e}"))
    });
}
