//! The benchmark report: raw samples of every run, per-cell statistics, the ratios users read
//! (each offload mode against `none`, each stack against smoltcp on identical work), what was
//! skipped and why, and what failed. Serialises to JSON (serde) and renders as a terminal
//! table ([`table`]) and an SVG chart ([`svg`]).
//!
//! Owns the report's data model and the arithmetic from samples to figures. Must not run or
//! time anything (`crate::runner` does).

pub mod svg;
pub mod table;

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::measure::CyclesStatus;
use crate::stats::{Summary, paired_ratio};
use crate::workload::{Backend, BulkConfig, Congestion, OffloadMode};

/// Version of the JSON layout; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// The stack name of the in-tree smoltcp harness, the reference of every comparison.
pub const SMOLTCP: &str = "smoltcp";

/// The stack name under which runs of the external `smoltcp-bulk` binary are reported.
pub const SMOLTCP_EXTERNAL: &str = "smoltcp-bulk";

/// Report order of stacks: ours first, then the smoltcp harness, then the external binary.
fn stack_rank(stack: &str) -> u8 {
    match stack {
        SMOLTCP => 1,
        SMOLTCP_EXTERNAL => 2,
        _ => 0,
    }
}

/// One cell of the matrix: a stack on a backend with an offload mode at an MTU.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CellKey {
    /// The stack's name ([`SMOLTCP_EXTERNAL`] for the external binary).
    pub stack: String,
    /// What carried the frames.
    pub backend: Backend,
    /// Offloads the stack could use.
    pub offload: OffloadMode,
    /// IP MTU.
    pub mtu: u16,
}

impl CellKey {
    /// Sort order of reports: by MTU, then offload mode, then stack (ours first, then the
    /// smoltcp harness, then the external binary), then backend.
    fn sort_key(&self) -> (u16, OffloadMode, u8, &str, Backend) {
        (
            self.mtu,
            self.offload,
            stack_rank(&self.stack),
            &self.stack,
            self.backend,
        )
    }

    /// "stack/backend", the name of a chart series.
    pub fn series(&self) -> String {
        format!("{}/{}", self.stack, self.backend)
    }
}

impl Ord for CellKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for CellKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for CellKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {}, offload {}, MTU {}",
            self.stack, self.backend, self.offload, self.mtu
        )
    }
}

/// One measured run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Repetition number (0-based); runs with the same number ran in the same round.
    pub rep: u32,
    /// Position in the whole benchmark's run order (0-based).
    pub order: u32,
    /// Application bytes delivered.
    pub bytes: u64,
    /// Every byte was verified against the pattern.
    pub verified: bool,
    /// Wall-clock time of the transfer, in nanoseconds.
    pub wall_ns: u64,
    /// User CPU time, in nanoseconds.
    pub cpu_user_ns: u64,
    /// System CPU time, in nanoseconds.
    pub cpu_system_ns: u64,
    /// CPU cycles, where counted.
    pub cycles: Option<u64>,
    /// Frames from client to server.
    pub data_frames: u64,
    /// Frames from server to client.
    pub reverse_frames: u64,
    /// Transmit requests of the client (fewer than `data_frames` with TSO).
    pub tx_requests: u64,
    /// Poll-loop iterations.
    pub polls: u64,
    /// Retransmitted segments, where the stack counts them.
    pub retransmissions: Option<u64>,
    /// CPU time of the simulated NICs, in nanoseconds (backends `model` and `rtl`): included
    /// in the user and system CPU time above.
    #[serde(default)]
    pub nic_cpu_ns: Option<u64>,
}

impl Sample {
    fn wall_s(&self) -> f64 {
        self.wall_ns.max(1) as f64 / 1e9
    }

    /// Application goodput in Gbit/s.
    pub fn goodput_gbps(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.wall_s() / 1e9
    }

    /// CPU time per application byte (the whole process: hosts, and simulated NICs where
    /// there are any), in nanoseconds.
    pub fn cpu_ns_per_byte(&self) -> f64 {
        (self.cpu_user_ns + self.cpu_system_ns) as f64 / self.bytes.max(1) as f64
    }

    /// The simulated NICs' share of [`cpu_ns_per_byte`](Sample::cpu_ns_per_byte), where known.
    pub fn nic_cpu_ns_per_byte(&self) -> Option<f64> {
        self.nic_cpu_ns
            .map(|ns| ns as f64 / self.bytes.max(1) as f64)
    }

    /// CPU cycles per application byte, where counted.
    pub fn cycles_per_byte(&self) -> Option<f64> {
        self.cycles.map(|c| c as f64 / self.bytes.max(1) as f64)
    }

    /// Client-to-server wire frames per second.
    pub fn frames_per_s(&self) -> f64 {
        self.data_frames as f64 / self.wall_s()
    }
}

/// A comparison of a cell with a reference cell, from runs paired by repetition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// The cell compared against.
    pub reference: CellKey,
    /// Goodput of this cell / goodput of the reference (above 1: faster).
    pub goodput: Summary,
    /// CPU time per byte of this cell / of the reference (below 1: cheaper).
    pub cpu_per_byte: Summary,
}

/// Statistics of one cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellReport {
    /// Which cell.
    pub key: CellKey,
    /// Every successful run of it.
    pub samples: Vec<Sample>,
    /// Goodput, Gbit/s.
    pub goodput_gbps: Summary,
    /// Host CPU time per byte, ns.
    pub cpu_ns_per_byte: Summary,
    /// CPU cycles per byte, where counted.
    pub cycles_per_byte: Option<Summary>,
    /// Client-to-server frames per second.
    pub frames_per_s: Summary,
    /// Against the same stack, backend and MTU with offload `none`.
    pub vs_none: Option<Ratio>,
    /// Against the in-tree smoltcp harness at the same MTU (same offload mode, or `csum`, the
    /// most smoltcp can use, when smoltcp lacks the mode).
    pub vs_smoltcp: Option<Ratio>,
}

/// A cell that was not run, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkippedCell {
    /// The cell.
    pub key: CellKey,
    /// Why it was not run.
    pub reason: String,
}

/// A run that failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunFailure {
    /// The cell.
    pub key: CellKey,
    /// The repetition.
    pub rep: u32,
    /// What went wrong.
    pub error: String,
}

/// The workload knobs shared by every cell (MTU, offload and backend vary by cell).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSettings {
    /// Application bytes per run.
    pub bytes: u64,
    /// Socket send and receive buffer, bytes.
    pub socket_buffer: usize,
    /// Congestion control.
    pub congestion: Congestion,
    /// Applications copy the pattern in and verify it out.
    pub verify: bool,
    /// Nagle's algorithm.
    pub nagle: bool,
    /// Frames received per end per poll, at most (`None`: unlimited).
    pub rx_burst: Option<u32>,
    /// Simulated NICs on a thread of their own (backends `model` and `rtl`).
    #[serde(default)]
    pub nic_thread: bool,
}

impl WorkloadSettings {
    /// The settings of [`BulkConfig::REFERENCE`].
    pub const REFERENCE: WorkloadSettings = WorkloadSettings {
        bytes: BulkConfig::REFERENCE.bytes,
        socket_buffer: BulkConfig::REFERENCE.socket_buffer,
        congestion: BulkConfig::REFERENCE.congestion,
        verify: BulkConfig::REFERENCE.verify,
        nagle: BulkConfig::REFERENCE.nagle,
        rx_burst: BulkConfig::REFERENCE.rx_burst,
        nic_thread: BulkConfig::REFERENCE.nic_thread,
    };

    /// The full configuration of one cell.
    pub fn config(&self, mtu: u16, offload: OffloadMode, backend: Backend) -> BulkConfig {
        BulkConfig {
            bytes: self.bytes,
            mtu,
            offload,
            backend,
            socket_buffer: self.socket_buffer,
            congestion: self.congestion,
            verify: self.verify,
            nagle: self.nagle,
            rx_burst: self.rx_burst,
            stall_timeout: BulkConfig::REFERENCE.stall_timeout,
            nic_thread: self.nic_thread,
        }
    }
}

/// The machine the benchmark ran on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// 1-minute load average when the benchmark started (how busy the machine was).
    pub load_average_1m: Option<f64>,
    /// CPU model name.
    pub cpu_model: Option<String>,
}

impl HostInfo {
    /// "2 CPUs (model), load average 1.50 at start", for report headers.
    pub fn describe(&self) -> String {
        let mut text = format!("{} CPUs", self.cpus);
        if let Some(model) = &self.cpu_model {
            text.push_str(&format!(" ({model})"));
        }
        if let Some(load) = self.load_average_1m {
            text.push_str(&format!(", load average {load:.2} at start"));
        }
        text
    }

    /// Reads the current machine's figures (from `/proc` where needed).
    pub fn current() -> HostInfo {
        let load_average_1m = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok());
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        });
        HostInfo {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_average_1m,
            cpu_model,
        }
    }
}

/// How the benchmark binary was built.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// Cargo's profile directory (`perf` for the benchmark-grade profile; `release` for
    /// `release` and `bench`; `debug` for `dev`).
    pub profile_dir: String,
    /// Built with debug assertions (an unoptimised build, as a rule).
    pub debug_assertions: bool,
}

/// The profile that builds like the smoltcp-bulk baseline (fat LTO, one codegen unit).
pub const PERF_PROFILE: &str = "perf";

impl BuildInfo {
    /// How this crate was built.
    pub fn current() -> BuildInfo {
        BuildInfo {
            profile_dir: env!("FERROTOE_BENCHES_PROFILE_DIR").to_owned(),
            debug_assertions: cfg!(debug_assertions),
        }
    }

    /// A warning for reports when the build is not the benchmark-grade one.
    pub fn caveat(&self) -> Option<String> {
        if self.debug_assertions {
            return Some(format!(
                "This is a debug build ({} profile directory): its figures say nothing about \
                 the code's speed. Benchmark with `cargo run --profile {PERF_PROFILE} -- bench`.",
                self.profile_dir
            ));
        }
        (self.profile_dir != PERF_PROFILE).then(|| {
            format!(
                "Built with the `{}` profile, not `{PERF_PROFILE}` (fat LTO, one codegen unit, \
                 as smoltcp-bulk is built): the in-tree smoltcp figures read about 10 % below \
                 smoltcp-bulk's for that reason alone. Ratios between cells of this run are \
                 unaffected. Like-for-like figures: `cargo run --profile {PERF_PROFILE} -- bench`.",
                self.profile_dir
            )
        })
    }
}

/// Everything a benchmark run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// [`SCHEMA_VERSION`] of the layout.
    pub schema_version: u32,
    /// The machine.
    pub host: HostInfo,
    /// The build of the benchmark.
    pub build: BuildInfo,
    /// The work every cell did.
    pub workload: WorkloadSettings,
    /// Repetitions per cell (interleaved: every cell runs once per round).
    pub reps: u32,
    /// Whether cycles were counted, and why not.
    pub cycles: CyclesStatus,
    /// Cells with at least one successful run, in report order.
    pub cells: Vec<CellReport>,
    /// Cells not run, with the reason.
    pub skipped: Vec<SkippedCell>,
    /// Runs that failed.
    pub failures: Vec<RunFailure>,
    /// Remarks a reader needs (how a figure was obtained, caveats).
    pub notes: Vec<String>,
}

/// Raw results of one cell, as the runner collected them.
#[derive(Clone, Debug, PartialEq)]
pub struct CellRuns {
    /// The cell.
    pub key: CellKey,
    /// Its successful runs.
    pub samples: Vec<Sample>,
}

fn summary_of(samples: &[Sample], metric: impl Fn(&Sample) -> f64) -> Option<Summary> {
    let values: Vec<f64> = samples.iter().map(metric).collect();
    Summary::of(&values)
}

/// Values of `metric` for the repetitions both cells completed, in repetition order.
fn paired(a: &[Sample], b: &[Sample], metric: impl Fn(&Sample) -> f64) -> (Vec<f64>, Vec<f64>) {
    a.iter()
        .filter_map(|x| {
            let y = b.iter().find(|y| y.rep == x.rep)?;
            Some((metric(x), metric(y)))
        })
        .unzip()
}

fn ratio(this: &CellRuns, reference: &CellRuns) -> Option<Ratio> {
    let (a, b) = paired(&this.samples, &reference.samples, Sample::goodput_gbps);
    let goodput = paired_ratio(&a, &b)?;
    let (a, b) = paired(&this.samples, &reference.samples, Sample::cpu_ns_per_byte);
    let cpu_per_byte = paired_ratio(&a, &b)?;
    Some(Ratio {
        reference: reference.key.clone(),
        goodput,
        cpu_per_byte,
    })
}

impl BenchReport {
    /// Builds the report from the runner's raw results: per-cell statistics and ratios.
    /// Cells without a successful run are left out of `cells` (their failures are listed).
    #[allow(clippy::too_many_arguments)]
    pub fn assemble(
        host: HostInfo,
        build: BuildInfo,
        workload: WorkloadSettings,
        reps: u32,
        cycles: CyclesStatus,
        runs: Vec<CellRuns>,
        skipped: Vec<SkippedCell>,
        failures: Vec<RunFailure>,
        notes: Vec<String>,
    ) -> BenchReport {
        let mut runs: Vec<CellRuns> = runs.into_iter().filter(|r| !r.samples.is_empty()).collect();
        runs.sort_by(|a, b| a.key.cmp(&b.key));
        let find = |key: &CellKey| runs.iter().find(|r| &r.key == key);
        let cells = runs
            .iter()
            .filter_map(|cell| {
                let k = &cell.key;
                let vs_none = (k.offload != OffloadMode::None)
                    .then(|| {
                        find(&CellKey {
                            offload: OffloadMode::None,
                            ..k.clone()
                        })
                    })
                    .flatten()
                    .and_then(|reference| ratio(cell, reference));
                let smoltcp_cell = |offload| CellKey {
                    stack: SMOLTCP.into(),
                    backend: Backend::Link,
                    offload,
                    mtu: k.mtu,
                };
                let vs_smoltcp = (k.stack != SMOLTCP)
                    .then(|| {
                        find(&smoltcp_cell(k.offload))
                            .or_else(|| find(&smoltcp_cell(OffloadMode::Csum)))
                    })
                    .flatten()
                    .and_then(|reference| ratio(cell, reference));
                Some(CellReport {
                    key: k.clone(),
                    samples: cell.samples.clone(),
                    goodput_gbps: summary_of(&cell.samples, Sample::goodput_gbps)?,
                    cpu_ns_per_byte: summary_of(&cell.samples, Sample::cpu_ns_per_byte)?,
                    cycles_per_byte: cell
                        .samples
                        .iter()
                        .map(Sample::cycles_per_byte)
                        .collect::<Option<Vec<f64>>>()
                        .and_then(|v| Summary::of(&v)),
                    frames_per_s: summary_of(&cell.samples, Sample::frames_per_s)?,
                    vs_none,
                    vs_smoltcp,
                })
            })
            .collect();
        BenchReport {
            schema_version: SCHEMA_VERSION,
            host,
            build,
            workload,
            reps,
            cycles,
            cells,
            skipped,
            failures,
            notes,
        }
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain data (no maps with non-string keys, no non-finite floats: the
        // summaries reject them) cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Reads a report written by [`to_json`](Self::to_json).
    pub fn from_json(text: &str) -> Result<BenchReport, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The cell with this key.
    pub fn cell(&self, key: &CellKey) -> Option<&CellReport> {
        self.cells.iter().find(|c| &c.key == key)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn key(stack: &str, offload: OffloadMode, mtu: u16) -> CellKey {
        CellKey {
            stack: stack.into(),
            backend: Backend::Link,
            offload,
            mtu,
        }
    }

    /// A run of `gbps` goodput over 1 GB using `cpu_ns_per_byte` of CPU.
    pub(crate) fn sample(rep: u32, gbps: f64, cpu_ns_per_byte: f64) -> Sample {
        let bytes = 1_000_000_000u64;
        let wall_ns = (bytes as f64 * 8.0 / gbps).round() as u64;
        Sample {
            rep,
            order: rep,
            bytes,
            verified: true,
            wall_ns,
            cpu_user_ns: (cpu_ns_per_byte * bytes as f64).round() as u64,
            cpu_system_ns: 0,
            cycles: None,
            data_frames: bytes / 1460,
            reverse_frames: bytes / 1460 / 300,
            tx_requests: bytes / 1460,
            polls: 1000,
            retransmissions: None,
            nic_cpu_ns: None,
        }
    }

    pub(crate) fn example_report() -> BenchReport {
        let cell = |stack: &str, offload, mtu, runs: &[(f64, f64)]| CellRuns {
            key: key(stack, offload, mtu),
            samples: (0u32..)
                .zip(runs)
                .map(|(rep, &(gbps, cpu))| sample(rep, gbps, cpu))
                .collect(),
        };
        let runs = vec![
            cell(
                SMOLTCP,
                OffloadMode::Csum,
                1500,
                &[(30.0, 0.25), (32.0, 0.24), (28.0, 0.27)],
            ),
            cell(
                SMOLTCP,
                OffloadMode::None,
                1500,
                &[(20.0, 0.40), (16.0, 0.48), (21.0, 0.38)],
            ),
            cell(
                "ferrotoe",
                OffloadMode::Tso,
                1500,
                &[(90.0, 0.08), (96.0, 0.08), (84.0, 0.09)],
            ),
            cell(
                "ferrotoe",
                OffloadMode::None,
                1500,
                &[(45.0, 0.18), (48.0, 0.16), (42.0, 0.18)],
            ),
            cell(
                SMOLTCP_EXTERNAL,
                OffloadMode::Csum,
                1500,
                &[(31.0, 0.25), (31.0, 0.25)],
            ),
            cell("ferrotoe", OffloadMode::Csum, 9000, &[]),
        ];
        BenchReport::assemble(
            HostInfo {
                cpus: 2,
                load_average_1m: Some(1.5),
                cpu_model: Some("Test CPU <&>".into()),
            },
            BuildInfo {
                profile_dir: PERF_PROFILE.into(),
                debug_assertions: false,
            },
            WorkloadSettings::REFERENCE,
            3,
            CyclesStatus::Unavailable {
                reason: "no PMU".into(),
            },
            runs,
            vec![SkippedCell {
                key: key(SMOLTCP, OffloadMode::Tso, 1500),
                reason: "smoltcp 0.14 has no TCP segmentation offload".into(),
            }],
            vec![RunFailure {
                key: key("ferrotoe", OffloadMode::Csum, 9000),
                rep: 0,
                error: "stalled".into(),
            }],
            vec!["a note".into()],
        )
    }

    #[test]
    fn sample_metrics_follow_their_definitions() {
        let s = sample(0, 40.0, 0.2);
        assert!((s.goodput_gbps() - 40.0).abs() < 1e-6);
        assert!((s.cpu_ns_per_byte() - 0.2).abs() < 1e-9);
        assert_eq!(s.cycles_per_byte(), None);
        let per_s = s.data_frames as f64 / (s.wall_ns as f64 / 1e9);
        assert!((s.frames_per_s() - per_s).abs() < 1e-6);
        let with_cycles = Sample {
            cycles: Some(500_000_000),
            ..s
        };
        assert_eq!(with_cycles.cycles_per_byte(), Some(0.5));
    }

    #[test]
    fn cells_are_summarised_and_ordered() {
        let r = example_report();
        let order: Vec<String> = r.cells.iter().map(|c| c.key.to_string()).collect();
        assert_eq!(
            order,
            [
                "ferrotoe on link, offload none, MTU 1500",
                "smoltcp on link, offload none, MTU 1500",
                "smoltcp on link, offload csum, MTU 1500",
                "smoltcp-bulk on link, offload csum, MTU 1500",
                "ferrotoe on link, offload tso, MTU 1500",
            ]
        );
        let smol = r.cell(&key(SMOLTCP, OffloadMode::Csum, 1500)).unwrap();
        assert!((smol.goodput_gbps.median - 30.0).abs() < 1e-6);
        assert!((smol.goodput_gbps.min - 28.0).abs() < 1e-6);
        assert!((smol.cpu_ns_per_byte.median - 0.25).abs() < 1e-9);
        assert_eq!(smol.cycles_per_byte, None);
        assert!(
            r.cell(&key("ferrotoe", OffloadMode::Csum, 9000)).is_none(),
            "no runs, no row"
        );
    }

    #[test]
    fn offload_modes_compare_with_none_of_the_same_stack() {
        let r = example_report();
        let tso = r.cell(&key("ferrotoe", OffloadMode::Tso, 1500)).unwrap();
        let vs_none = tso.vs_none.as_ref().unwrap();
        assert_eq!(vs_none.reference, key("ferrotoe", OffloadMode::None, 1500));
        // Paired by repetition: 90/45, 96/48, 84/42 are all exactly 2.
        assert!((vs_none.goodput.median - 2.0).abs() < 1e-6);
        assert!(vs_none.goodput.spread_pct < 1e-6);
        // 0.08/0.18, 0.08/0.16, 0.09/0.18: median 0.5.
        assert!((vs_none.cpu_per_byte.median - 0.5).abs() < 1e-9);
        let smol_csum = r.cell(&key(SMOLTCP, OffloadMode::Csum, 1500)).unwrap();
        // 30/20, 32/16, 28/21: median 1.5.
        assert!((smol_csum.vs_none.as_ref().unwrap().goodput.median - 1.5).abs() < 1e-6);
        let none = r.cell(&key(SMOLTCP, OffloadMode::None, 1500)).unwrap();
        assert!(none.vs_none.is_none(), "none is the reference itself");
    }

    #[test]
    fn stacks_compare_with_smoltcp_on_the_same_or_nearest_work() {
        let r = example_report();
        let tso = r.cell(&key("ferrotoe", OffloadMode::Tso, 1500)).unwrap();
        let vs = tso.vs_smoltcp.as_ref().unwrap();
        // smoltcp has no TSO: the reference is its checksum-offload cell.
        assert_eq!(vs.reference, key(SMOLTCP, OffloadMode::Csum, 1500));
        assert!((vs.goodput.median - 3.0).abs() < 1e-6, "{vs:?}");
        let none = r.cell(&key("ferrotoe", OffloadMode::None, 1500)).unwrap();
        assert_eq!(
            none.vs_smoltcp.as_ref().unwrap().reference,
            key(SMOLTCP, OffloadMode::None, 1500)
        );
        // The external binary is compared with the in-tree harness, rep by rep (2 pairs).
        let ext = r
            .cell(&key(SMOLTCP_EXTERNAL, OffloadMode::Csum, 1500))
            .unwrap();
        let vs = ext.vs_smoltcp.as_ref().unwrap();
        assert_eq!(vs.goodput.n, 2);
        assert!((vs.goodput.median - (31.0 / 30.0 + 31.0 / 32.0) / 2.0).abs() < 1e-6);
        let smol = r.cell(&key(SMOLTCP, OffloadMode::Csum, 1500)).unwrap();
        assert!(smol.vs_smoltcp.is_none());
    }

    #[test]
    fn builds_other_than_perf_come_with_a_caveat() {
        let perf = BuildInfo {
            profile_dir: PERF_PROFILE.into(),
            debug_assertions: false,
        };
        assert_eq!(perf.caveat(), None);
        let release = BuildInfo {
            profile_dir: "release".into(),
            ..perf.clone()
        };
        assert!(release.caveat().unwrap().contains("--profile perf"));
        let debug = BuildInfo {
            profile_dir: "debug".into(),
            debug_assertions: true,
        };
        assert!(debug.caveat().unwrap().contains("debug build"));
        // The build script found the profile directory of this very build.
        let here = BuildInfo::current();
        assert_eq!(here.debug_assertions, cfg!(debug_assertions));
        assert!(["debug", "release", PERF_PROFILE].contains(&here.profile_dir.as_str()));
    }

    #[test]
    fn json_round_trips() {
        let r = example_report();
        let text = r.to_json();
        let back = BenchReport::from_json(&text).unwrap();
        assert_eq!(back, r);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["schema_version"], SCHEMA_VERSION);
        assert_eq!(value["cells"][0]["key"]["offload"], "none");
        assert_eq!(value["cycles"]["state"], "unavailable");
        assert_eq!(value["skipped"][0]["key"]["offload"], "tso");
    }
}
