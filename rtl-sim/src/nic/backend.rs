//! The engine backend of a simulated NIC: the Rust reference model (default) or the RTL.
//!
//! Owns the choice and its errors. The RTL device (the Verilated `ft_device`, feature `rtl`)
//! is built at Verilation time with fixed queue counts and limits: asking for it with another
//! configuration, or in a build without the feature, is a typed error that says so, never a
//! silent fallback to the model.

use crate::device::model::ModelDevice;
use crate::device::{ConfigError, DeviceConfig, DeviceCore};

/// Whether this build has the RTL backend (rtl-sim's `rtl` feature).
pub const RTL_AVAILABLE: bool = cfg!(feature = "rtl");

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
    /// The RTL device is built for another configuration than the one asked for.
    RtlConfigMismatch {
        /// What was asked for.
        requested: Box<DeviceConfig>,
        /// What the RTL build's `IDENT` says.
        built: Box<DeviceConfig>,
    },
    /// The Verilated device could not be created.
    Rtl(String),
    /// The configuration is invalid.
    Config(ConfigError),
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendError::RtlNotBuilt => write!(
                f,
                "backend `rtl` is not available: this binary was built without the `rtl` \
                 feature of rtl-sim (rebuild the `ferrotoe` program with `cargo build --release \
                 --features rtl`, another crate with `--features rtl-sim/rtl`; both need \
                 Verilator: `apt-get install verilator`), or use `--backend model`"
            ),
            BackendError::RtlConfigMismatch { requested, built } => write!(
                f,
                "backend `rtl`: the RTL device is built (at Verilation, `rtl-sim/build.rs`) with \
                 other parameters than asked for (built vs asked: {}); use the RTL build's \
                 configuration (`DeviceConfig::REFERENCE`, the default options of `ferrotoe \
                 nicsim`), change the parameters of `ft_device` in build.rs, or use \
                 `--backend model`",
                built.differences(requested).join(", ")
            ),
            BackendError::Rtl(e) => write!(f, "backend `rtl`: {e}"),
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
        Backend::Rtl => rtl_core(cfg),
    }
}

/// What the `rtl` backend's Verilog was built from, in one line (the reference RTL, or the
/// `FERROTOE_RTL_OVERLAY` directory of the build and its files: [`crate::rtl::sources`]), or
/// `None` when this build has no `rtl` backend.
pub fn rtl_build_summary() -> Option<&'static str> {
    #[cfg(feature = "rtl")]
    {
        Some(crate::rtl::built_summary())
    }
    #[cfg(not(feature = "rtl"))]
    {
        None
    }
}

#[cfg(feature = "rtl")]
fn rtl_core(cfg: DeviceConfig) -> Result<Box<dyn DeviceCore>, BackendError> {
    cfg.check().map_err(BackendError::Config)?;
    let dev = crate::rtl::RtlDevice::new().map_err(|e| BackendError::Rtl(e.to_string()))?;
    if *dev.config() != cfg {
        return Err(BackendError::RtlConfigMismatch {
            requested: Box::new(cfg),
            built: Box::new(*dev.config()),
        });
    }
    Ok(Box::new(dev))
}

#[cfg(not(feature = "rtl"))]
fn rtl_core(_cfg: DeviceConfig) -> Result<Box<dyn DeviceCore>, BackendError> {
    Err(BackendError::RtlNotBuilt)
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
        assert_eq!(core.simulated_cycles(), None, "the model has no clock");
        assert_eq!(rtl_build_summary().is_some(), cfg!(feature = "rtl"));
        if cfg!(feature = "rtl") {
            // The RTL build is the reference device, reporting itself as the RTL and counting
            // its clock (its reset cycles at least), which `ferrotoe demo` reports per second.
            let core = build_core(Backend::Rtl, DeviceConfig::REFERENCE).unwrap();
            assert_eq!(core.implementation(), hw_spec::Implementation::RtlVerilator);
            assert!(
                core.simulated_cycles().is_some_and(|c| c > 0),
                "the RTL device counts simulated cycles"
            );
            let mut other = DeviceConfig::REFERENCE;
            other.tx_queues = 2;
            let e = build_core(Backend::Rtl, other).err().unwrap();
            assert!(matches!(e, BackendError::RtlConfigMismatch { .. }), "{e}");
            assert!(e.to_string().contains("--backend model"));
        } else {
            let e = build_core(Backend::Rtl, DeviceConfig::REFERENCE)
                .err()
                .unwrap();
            assert_eq!(e, BackendError::RtlNotBuilt);
            assert!(e.to_string().contains("--backend model"));
        }
        let mut bad = DeviceConfig::REFERENCE;
        bad.tx_queues = 0;
        assert!(matches!(
            build_core(Backend::Model, bad),
            Err(BackendError::Config(_))
        ));
    }
}
