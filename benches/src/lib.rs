//! # ferrotoe-benches: the offload benchmarking harness
//!
//! Owns the workloads the `ferrotoe bench` command and the criterion benchmarks run, their
//! measurement, the benchmark matrix and its reports (terminal table, JSON, SVG). Ties
//! `tcp-engine`, `host-driver` and `rtl-sim` together; nothing depends on it but the CLI.
//!
//! ## The bulk benchmark
//!
//! Every TCP stack under test implements [`workload::BulkStack`]: one connection, both ends on
//! one thread, N bytes client to server over an in-memory link or a simulated NIC, the data
//! copied in and verified out. [`stacks::bulk_stack`] is the one place where stacks are
//! registered: our engine ([`ferrotoe_bulk`]) and smoltcp 0.14 ([`smoltcp_bulk`], the work of
//! `../shared/baselines/smoltcp-bulk` in our own harness), the baseline every figure is
//! compared with. [`runner::run_matrix`]
//! runs stack x backend x MTU x offload mode for several interleaved rounds and returns a
//! [`report::BenchReport`].
//!
//! ```no_run
//! use ferrotoe_benches::measure::Meter;
//! use ferrotoe_benches::report::{svg, table};
//! use ferrotoe_benches::runner::{MatrixPlan, run_matrix};
//! use ferrotoe_benches::stacks::{StackId, bulk_stack};
//!
//! let stacks = vec![bulk_stack(StackId::Smoltcp)?];
//! let report = run_matrix(&MatrixPlan::standard(), &stacks, None, &mut Meter::new(), &mut |_| {})?;
//! print!("{}", table::render(&report));
//! std::fs::write("bench.svg", svg::render(&report))?;
//! std::fs::write("bench.json", report.to_json())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Module map
//!
//! | module | owns |
//! |---|---|
//! | [`workload`] | the bulk workload's vocabulary: `BulkConfig`, `BulkCounts`, errors, the `BulkStack`/`BulkRun` traits |
//! | [`stacks`] | the registry of stacks (`StackId`, `bulk_stack`) |
//! | [`nic`] | the TCP engine's frame device (`FrameDevice`) over the ferrotoe NIC's driver |
//! | [`ferrotoe_bulk`] | our engine's bulk workload over the in-memory link (generic over a backend's frame devices); the `model`/`rtl` backends go to [`sim_hosts`] |
//! | [`sim_hosts`] | two hosts (engine + driver + simulated NIC) joined by a simulated cable; bulk and request/response over them; the benchmark's `model`/`rtl` backends |
//! | [`apps`] | echo, discard, chargen, an HTTP/1.1 static responder and an iperf3 server over the engine; the server and bulk client of `ferrotoe serve`/`connect` and their poll loops over TAP, the simulated NIC on a TAP, or the in-memory link |
//! | [`smoltcp_bulk`] | smoltcp 0.14 over an in-memory Ethernet wire |
//! | [`lifecycle`] | connection lifecycles per second (handshake, request, response, close) |
//! | [`million`] | a million established connections in one endpoint and their receive loop (issue #3's 1k vs 1M) |
//! | [`pattern`] | the verification pattern (fill, check) |
//! | [`measure`] | wall time, `getrusage` CPU time, `perf_event_open` cycles |
//! | [`runner`] | the interleaved matrix runner |
//! | [`demo`] | `ferrotoe demo`: the bulk and request/response phases over [`sim_hosts`], measured, and their report |
//! | [`external`] | the external `smoltcp-bulk` binary as a cross-check |
//! | [`stats`] | median, min, max, spread, paired ratios |
//! | [`report`] | the report model, JSON, terminal table, SVG chart |
//! | `sys` (private) | every raw system call of the crate, each `unsafe` block with its `SAFETY:` argument |

pub mod apps;
pub mod demo;
pub mod external;
pub mod ferrotoe_bulk;
pub mod lifecycle;
pub mod measure;
pub mod million;
pub mod nic;
pub mod pattern;
pub mod report;
pub mod runner;
pub mod sim_hosts;
pub mod smoltcp_bulk;
pub mod stacks;
pub mod stats;
mod sys;
pub mod workload;
