//! The engine backend of a simulated NIC: the Rust reference model (default) or the RTL.
//!
//! Owns the choice and its errors. The RTL device (a Verilated register file and queue engine
//! behind the `rtl` feature) is not integrated yet: asking for it is a typed error that says so,
//! never a silent fallback to the model.

use crate::device::model::ModelDevice;
use crate::device::{ConfigError, DeviceConfig, DeviceCore};

/// Which implementation runs the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// The Rust reference model.
    #[default]
    Model,
    /// The Verilog RTL under Verilator.
    Rtl,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Backend, String> {
        match s {
            "model" => Ok(Backend::Model),
            "rtl" => Ok(Backend::Rtl),
            _ => Err(format!("unknown backend `{s}` (use `model` or `rtl`)")),
        }
    }
}

/// Why a backend cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendError {
    /// This build has no RTL backend: rtl-sim was compiled without the `rtl` feature.
    RtlNotBuilt,
    /// The `rtl` feature is on, but the whole-device RTL (register file and queue engine) is not
    /// integrated as a device core yet; only the offload engines are.
    RtlDeviceNotIntegrated,
    /// The configuration is invalid.
    Config(ConfigError),
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendError::RtlNotBuilt => write!(
                f,
                "backend `rtl` is not available: this binary was built without the `rtl` \
                 feature of rtl-sim (rebuild with `--features rtl-sim/rtl`, which needs \
                 Verilator), or use `--backend model`"
            ),
            BackendError::RtlDeviceNotIntegrated => write!(
                f,
                "backend `rtl` is not available yet: the RTL offload engines are built, but \
                 the RTL register file and queue engine are not integrated as a device core; \
                 use `--backend model`"
            ),
            BackendError::Config(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BackendError {}

/// Builds the device core of `backend` with `cfg`.
pub fn build_core(
    backend: Backend,
    cfg: DeviceConfig,
) -> Result<Box<dyn DeviceCore>, BackendError> {
    match backend {
        Backend::Model => Ok(Box::new(
            ModelDevice::new(cfg).map_err(BackendError::Config)?,
        )),
        Backend::Rtl if cfg!(feature = "rtl") => Err(BackendError::RtlDeviceNotIntegrated),
        Backend::Rtl => Err(BackendError::RtlNotBuilt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_and_errors() {
        assert_eq!("model".parse::<Backend>(), Ok(Backend::Model));
        assert!("verilog".parse::<Backend>().unwrap_err().contains("model"));
        let core = build_core(Backend::Model, DeviceConfig::REFERENCE).unwrap();
        assert_eq!(core.implementation(), hw_spec::Implementation::Model);
        let e = build_core(Backend::Rtl, DeviceConfig::REFERENCE)
            .err()
            .unwrap();
        let expected = if cfg!(feature = "rtl") {
            BackendError::RtlDeviceNotIntegrated
        } else {
            BackendError::RtlNotBuilt
        };
        assert_eq!(e, expected);
        assert!(e.to_string().contains("--backend model"));
        let mut bad = DeviceConfig::REFERENCE;
        bad.tx_queues = 0;
        assert!(matches!(
            build_core(Backend::Model, bad),
            Err(BackendError::Config(_))
        ));
    }
}
