//! # ferrotoe-benches: the offload benchmarking harness
//!
//! Owns the workloads the `ferrotoe bench` command and the criterion benchmarks run (bulk
//! transfer, request/response, per-packet driver cost) and the report formats (table, JSON,
//! SVG). Ties `tcp-engine`, `host-driver` and `rtl-sim` together; nothing depends on it but the
//! CLI.
//!
//! - [`nic`]: the TCP engine's frame device over the ferrotoe NIC's driver.
//!
//! Status: the harness arrives with issues #3, #5 and #6.

pub mod nic;
