//! The descriptor-level device test suite against the Rust reference model.

use rtl_sim::device::DeviceConfig;
use rtl_sim::device::model::ModelDevice;

rtl_sim::conformance_suite!(|| ModelDevice::new(DeviceConfig::REFERENCE).expect("reference config"));
