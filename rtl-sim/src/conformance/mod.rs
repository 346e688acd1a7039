//! The descriptor-level test suite of the device, written once and run against every
//! implementation of [`crate::device::DeviceCore`]: the reference model
//! (`tests/device_conformance.rs`) and the RTL device (`tests/rtl_device_conformance.rs`,
//! feature `rtl`).
//!
//! - [`bench`](mod@bench): the test bench (host memory with an IOMMU window, a recording wire, interrupt
//!   counters, the register image checked against the core's reads, a minimal driver);
//! - [`flat`]: allocation-free stand-ins for DMA, wire, interrupts and image (allocation test,
//!   benchmarks);
//! - [`frames`]: test frames and checksum checks written independently of the engines;
//! - [`suite`]: the tests, each a generic function;
//! - [`link_driver`]: a minimal driver over sim-link, for tests and benchmarks of the simulated
//!   NIC as a whole (threads, processes, wires).
//!
//! Instantiate the whole suite for an implementation with [`crate::conformance_suite!`]:
//!
//! ```text
//! rtl_sim::conformance_suite!(|| rtl_sim::device::model::ModelDevice::new(
//!     rtl_sim::device::DeviceConfig::REFERENCE).expect("reference config"));
//! ```
//!
//! Owns test code only; nothing in the simulator proper uses it.

pub mod bench;
pub mod flat;
pub mod frames;
pub mod link_driver;
pub mod suite;

/// Expands to one `#[test]` per suite function, each calling it with the given device factory
/// (an expression of type `impl Fn() -> impl DeviceCore`).
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@tests $make;
            ident_and_discovery,
            reset_values,
            register_access_rules,
            bring_up_sequence,
            tx_single_frame,
            tx_scatter_gather_checksums,
            tx_tso,
            tx_error_codes,
            tx_hostile_requests,
            rx_checksum_status,
            rx_rss_steering,
            rx_drops,
            rx_port_knows_the_step_time,
            cq_wraparound_and_full,
            interrupts_and_arming,
            command_errors,
            dma_faults,
            tx_queues_and_disable,
            statistics
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::suite::$name(&$make);
            }
        )*
    };
}
