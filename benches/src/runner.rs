//! The benchmark matrix runner behind `ferrotoe bench`: stack x backend x MTU x offload mode,
//! several repetitions of each, interleaved (each round runs every cell once, starting one cell
//! further along than the round before) so that noise from a shared machine falls on all cells
//! alike and ratios between cells of one round stay meaningful.
//!
//! For every run the runner asks the stack to [`prepare`](BulkStack::prepare) (untimed), then
//! measures [`BulkRun::run`](crate::workload::BulkRun::run) with the [`Meter`]: wall time,
//! process CPU time, and cycles when the machine counts them. The optional external
//! `smoltcp-bulk` binary runs in the same rounds. Results go to a [`BenchReport`].
//!
//! Owns the order and bookkeeping of runs. Must not know any stack's internals (they come in
//! as [`BulkStack`] objects, registered in `crate::stacks`) nor format output (`crate::report`).

use std::fmt;
use std::time::Duration;

use crate::external::ExternalBaseline;
use crate::measure::{MeasureError, Meter};
use crate::report::{
    BenchReport, BuildInfo, CellKey, CellRuns, HostInfo, RunFailure, SMOLTCP_EXTERNAL, Sample,
    SkippedCell, WorkloadSettings, table::human_bytes,
};
use crate::workload::{Backend, BulkConfig, BulkStack, ConfigError, OffloadMode};

/// What to run.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixPlan {
    /// Offload modes.
    pub offloads: Vec<OffloadMode>,
    /// IP MTUs.
    pub mtus: Vec<u16>,
    /// Backends.
    pub backends: Vec<Backend>,
    /// Repetitions of every cell (rounds).
    pub reps: u32,
    /// The work of every run.
    pub workload: WorkloadSettings,
    /// A run without progress for this long fails as stalled.
    pub stall_timeout: Duration,
}

impl MatrixPlan {
    /// The matrix of issue #6: every offload mode at MTU 1500 and 9000 on the in-memory link,
    /// five rounds, the reference work (1 GiB verified).
    pub fn standard() -> MatrixPlan {
        MatrixPlan {
            offloads: OffloadMode::ALL.to_vec(),
            mtus: vec![1500, 9000],
            backends: vec![Backend::Link],
            reps: 5,
            workload: WorkloadSettings::REFERENCE,
            stall_timeout: BulkConfig::REFERENCE.stall_timeout,
        }
    }

    fn config(&self, mtu: u16, offload: OffloadMode, backend: Backend) -> BulkConfig {
        BulkConfig {
            stall_timeout: self.stall_timeout,
            ..self.workload.config(mtu, offload, backend)
        }
    }
}

/// What the runner reports while it works.
#[derive(Debug)]
pub enum Progress<'a> {
    /// The matrix is laid out.
    Planned {
        /// Cells that will run.
        cells: usize,
        /// Cells skipped (a stack cannot run them).
        skipped: usize,
        /// Runs in total (cells x rounds).
        runs: usize,
    },
    /// One run finished.
    Ran {
        /// 1-based number of this run.
        index: usize,
        /// Runs in total.
        runs: usize,
        /// The cell.
        key: &'a CellKey,
        /// The round (0-based).
        rep: u32,
        /// The sample, or what went wrong.
        outcome: Result<&'a Sample, &'a str>,
    },
}

/// The benchmark could not run.
#[derive(Debug)]
pub enum BenchError {
    /// The plan is unusable.
    Plan(String),
    /// A cell's configuration is invalid.
    Config {
        /// The cell.
        key: CellKey,
        /// What is wrong.
        error: ConfigError,
    },
    /// Measuring failed.
    Measure(MeasureError),
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Plan(why) => write!(f, "benchmark plan: {why}"),
            BenchError::Config { key, error } => write!(f, "{key}: {error}"),
            BenchError::Measure(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for BenchError {}

/// Who runs a cell.
#[derive(Clone, Copy)]
enum Runner<'a> {
    Stack(&'a dyn BulkStack),
    External(&'a ExternalBaseline),
}

struct Cell<'a> {
    key: CellKey,
    config: BulkConfig,
    runner: Runner<'a>,
    samples: Vec<Sample>,
}

fn dedup<T: PartialEq + Clone>(items: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

/// Runs `plan` for `stacks` (and the external baseline binary, if given) and reports.
///
/// A run that fails (a stalled or corrupted transfer) is recorded in
/// [`BenchReport::failures`] and the matrix goes on; measurement failures and invalid
/// configurations end the benchmark with an error.
pub fn run_matrix(
    plan: &MatrixPlan,
    stacks: &[Box<dyn BulkStack>],
    external: Option<&ExternalBaseline>,
    meter: &mut Meter,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<BenchReport, BenchError> {
    let (offloads, mtus, backends) = (
        dedup(&plan.offloads),
        dedup(&plan.mtus),
        dedup(&plan.backends),
    );
    if offloads.is_empty() || mtus.is_empty() || backends.is_empty() {
        return Err(BenchError::Plan(
            "at least one offload mode, MTU and backend are needed".into(),
        ));
    }
    if stacks.is_empty() && external.is_none() {
        return Err(BenchError::Plan("no stack to run".into()));
    }
    if plan.reps == 0 {
        return Err(BenchError::Plan("at least one repetition is needed".into()));
    }
    let host = HostInfo::current();

    let mut cells: Vec<Cell<'_>> = Vec::new();
    let mut skipped = Vec::new();
    let runners = stacks
        .iter()
        .map(|s| (s.name(), Runner::Stack(s.as_ref())))
        .chain(external.map(|e| (SMOLTCP_EXTERNAL, Runner::External(e))));
    for (name, runner) in runners {
        for &backend in &backends {
            for &mtu in &mtus {
                for &offload in &offloads {
                    let key = CellKey {
                        stack: name.to_owned(),
                        backend,
                        offload,
                        mtu,
                    };
                    let config = plan.config(mtu, offload, backend);
                    if let Err(error) = config.validate() {
                        return Err(BenchError::Config { key, error });
                    }
                    let supported = match &runner {
                        Runner::Stack(s) => s.supports(&config),
                        Runner::External(e) => e.supports(&config),
                    };
                    match supported {
                        Ok(()) => cells.push(Cell {
                            key,
                            config,
                            runner,
                            samples: Vec::new(),
                        }),
                        Err(u) => skipped.push(SkippedCell {
                            key,
                            reason: u.reason,
                        }),
                    }
                }
            }
        }
    }
    let runs = cells.len() * plan.reps as usize;
    progress(Progress::Planned {
        cells: cells.len(),
        skipped: skipped.len(),
        runs,
    });

    let mut failures = Vec::new();
    let mut order = 0u32;
    let n = cells.len();
    for rep in 0..plan.reps {
        for i in 0..n {
            let cell = &mut cells[(i + rep as usize) % n];
            let outcome = run_once(cell, rep, order, meter)?;
            order += 1;
            match outcome {
                Ok(sample) => {
                    cell.samples.push(sample);
                    progress(Progress::Ran {
                        index: order as usize,
                        runs,
                        key: &cell.key,
                        rep,
                        outcome: Ok(&sample),
                    });
                }
                Err(error) => {
                    progress(Progress::Ran {
                        index: order as usize,
                        runs,
                        key: &cell.key,
                        rep,
                        outcome: Err(&error),
                    });
                    failures.push(RunFailure {
                        key: cell.key.clone(),
                        rep,
                        error,
                    });
                }
            }
        }
    }

    let build = BuildInfo::current();
    let mut notes: Vec<String> = build.caveat().into_iter().collect();
    notes.push(
        "Wall time runs from the connection attempt to the last byte received (and verified); \
         buffers, sockets and devices are set up before it."
            .to_owned(),
    );
    if cells.iter().any(|c| c.key.stack == crate::report::SMOLTCP) {
        notes.push(
            "smoltcp: offload `none` computes and verifies checksums in software (smoltcp-bulk \
             CSUM=1); `csum` skips them as a NIC would do them (the smoltcp-bulk default)."
                .into(),
        );
    }
    if let Some(e) = external {
        let mut note = format!(
            "{SMOLTCP_EXTERNAL}: the external binary {} (always 1 GiB, self-timed; its CPU time \
             includes process start-up and set-up, and it counts no cycles).",
            e.path().display()
        );
        if plan.workload.bytes != crate::external::EXTERNAL_BYTES {
            note.push_str(&format!(
                " The other cells moved {} per run: compare rates, not totals.",
                human_bytes(plan.workload.bytes)
            ));
        }
        notes.push(note);
    }
    Ok(BenchReport::assemble(
        host,
        build,
        plan.workload,
        plan.reps,
        meter.cycles_status().clone(),
        cells
            .into_iter()
            .map(|c| CellRuns {
                key: c.key,
                samples: c.samples,
            })
            .collect(),
        skipped,
        failures,
        notes,
    ))
}

/// One run of one cell: `Ok(Err(why))` is a failed run the matrix survives.
fn run_once(
    cell: &Cell<'_>,
    rep: u32,
    order: u32,
    meter: &mut Meter,
) -> Result<Result<Sample, String>, BenchError> {
    match cell.runner {
        Runner::Stack(stack) => {
            let mut transfer = match stack.prepare(&cell.config) {
                Ok(t) => t,
                Err(e) => return Ok(Err(e.to_string())),
            };
            let (result, measured) = meter
                .measure(|| transfer.run())
                .map_err(BenchError::Measure)?;
            drop(transfer);
            let counts = match result {
                Ok(c) => c,
                Err(e) => return Ok(Err(e.to_string())),
            };
            if counts.bytes < cell.config.bytes {
                return Ok(Err(format!(
                    "the stack reported success after {} of {} bytes",
                    counts.bytes, cell.config.bytes
                )));
            }
            if cell.config.verify && !counts.verified {
                return Ok(Err("verification was asked for but not done".into()));
            }
            Ok(Ok(Sample {
                rep,
                order,
                bytes: counts.bytes,
                verified: counts.verified,
                wall_ns: measured.wall.as_nanos() as u64,
                cpu_user_ns: measured.cpu.user.as_nanos() as u64,
                cpu_system_ns: measured.cpu.system.as_nanos() as u64,
                cycles: measured.cycles,
                data_frames: counts.data_frames,
                reverse_frames: counts.reverse_frames,
                tx_requests: counts.tx_requests,
                polls: counts.polls,
                retransmissions: counts.retransmissions,
                nic_cpu_ns: counts.nic_cpu.map(|d| d.as_nanos() as u64),
            }))
        }
        Runner::External(binary) => Ok(binary
            .run(&cell.config)
            .map(|r| Sample {
                rep,
                order,
                bytes: r.bytes,
                verified: cell.config.verify,
                wall_ns: r.wall.as_nanos() as u64,
                cpu_user_ns: r.cpu.user.as_nanos() as u64,
                cpu_system_ns: r.cpu.system.as_nanos() as u64,
                cycles: None,
                data_frames: r.data_frames,
                reverse_frames: r.reverse_frames,
                tx_requests: r.data_frames,
                polls: r.polls,
                retransmissions: None,
                nic_cpu_ns: None,
            })
            .map_err(|e| e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{BulkCounts, BulkError, BulkRun, Unsupported};
    use std::cell::RefCell;
    use std::rc::Rc;

    /// The cells a fake stack ran, in order.
    type RunLog = Rc<RefCell<Vec<(u16, OffloadMode)>>>;

    /// A stack that moves nothing and records the order of its runs.
    struct FakeStack {
        name: &'static str,
        log: RunLog,
        fail_mtu: Option<u16>,
    }

    struct FakeRun {
        config: BulkConfig,
        log: RunLog,
        fail: bool,
    }

    impl BulkStack for FakeStack {
        fn name(&self) -> &'static str {
            self.name
        }
        fn supports(&self, config: &BulkConfig) -> Result<(), Unsupported> {
            if config.offload == OffloadMode::Tso {
                return Err(Unsupported {
                    stack: self.name.into(),
                    reason: "no TSO here".into(),
                });
            }
            Ok(())
        }
        fn prepare(&self, config: &BulkConfig) -> Result<Box<dyn BulkRun>, BulkError> {
            Ok(Box::new(FakeRun {
                config: *config,
                log: self.log.clone(),
                fail: Some(config.mtu) == self.fail_mtu,
            }))
        }
    }

    impl BulkRun for FakeRun {
        fn run(&mut self) -> Result<BulkCounts, BulkError> {
            self.log
                .borrow_mut()
                .push((self.config.mtu, self.config.offload));
            if self.fail {
                return Err(BulkError::Corrupt {
                    stack: "fake",
                    offset: 42,
                });
            }
            // A little real work so the clock moves.
            let mut x = 0u64;
            for i in 0..10_000u64 {
                x = std::hint::black_box(x ^ i.wrapping_mul(31));
            }
            Ok(BulkCounts {
                bytes: self.config.bytes,
                verified: self.config.verify,
                data_frames: self.config.bytes / 1460 + 1,
                data_wire_bytes: self.config.bytes + 54,
                reverse_frames: 3,
                tx_requests: self.config.bytes / 1460 + 1,
                polls: 10 + x % 2,
                retransmissions: Some(0),
                nic_cpu: None,
            })
        }
    }

    fn plan(reps: u32) -> MatrixPlan {
        MatrixPlan {
            offloads: vec![OffloadMode::None, OffloadMode::Csum, OffloadMode::Tso],
            mtus: vec![1500, 9000],
            backends: vec![Backend::Link],
            reps,
            workload: WorkloadSettings {
                bytes: 1 << 20,
                ..WorkloadSettings::REFERENCE
            },
            stall_timeout: Duration::from_secs(1),
        }
    }

    fn fake(fail_mtu: Option<u16>) -> (Box<dyn BulkStack>, RunLog) {
        let log = Rc::new(RefCell::new(Vec::new()));
        (
            Box::new(FakeStack {
                name: "fake",
                log: log.clone(),
                fail_mtu,
            }),
            log,
        )
    }

    #[test]
    fn every_cell_runs_once_per_round_in_rotating_order() {
        let (stack, log) = fake(None);
        let mut events = Vec::new();
        let report = run_matrix(
            &plan(3),
            &[stack],
            None,
            &mut Meter::without_cycles("test"),
            &mut |p| {
                if let Progress::Ran { index, key, .. } = p {
                    events.push((index, key.mtu, key.offload));
                }
            },
        )
        .unwrap();
        let log = log.borrow();
        assert_eq!(log.len(), 4 * 3, "4 supported cells x 3 rounds");
        let cells = [
            (1500, OffloadMode::None),
            (1500, OffloadMode::Csum),
            (9000, OffloadMode::None),
            (9000, OffloadMode::Csum),
        ];
        for (round, runs) in log.chunks(4).enumerate() {
            let mut sorted = runs.to_vec();
            sorted.sort();
            assert_eq!(sorted, cells, "round {round} runs each cell once");
            assert_eq!(
                runs[0],
                cells[round % 4],
                "round {round} starts one cell later"
            );
        }
        assert_eq!(events.len(), 12);
        assert_eq!(
            events.iter().map(|e| e.0).collect::<Vec<_>>(),
            (1..=12).collect::<Vec<_>>()
        );

        assert_eq!(report.cells.len(), 4);
        assert!(report.failures.is_empty());
        assert_eq!(report.skipped.len(), 2, "TSO at both MTUs");
        assert!(report.skipped.iter().all(|s| s.reason == "no TSO here"));
        for cell in &report.cells {
            assert_eq!(cell.samples.len(), 3);
            let reps: Vec<u32> = cell.samples.iter().map(|s| s.rep).collect();
            assert_eq!(reps, [0, 1, 2]);
            assert!(
                cell.samples
                    .iter()
                    .all(|s| s.bytes == 1 << 20 && s.verified)
            );
            assert!(cell.goodput_gbps.median > 0.0);
        }
        let csum = report
            .cells
            .iter()
            .find(|c| c.key.offload == OffloadMode::Csum && c.key.mtu == 1500)
            .unwrap();
        assert_eq!(
            csum.vs_none.as_ref().unwrap().reference.offload,
            OffloadMode::None
        );
    }

    #[test]
    fn failed_runs_are_recorded_and_the_matrix_goes_on() {
        let (stack, log) = fake(Some(9000));
        let report = run_matrix(
            &plan(2),
            &[stack],
            None,
            &mut Meter::without_cycles("test"),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(log.borrow().len(), 8);
        assert_eq!(
            report.failures.len(),
            4,
            "two cells at MTU 9000, two rounds"
        );
        assert!(report.failures[0].error.contains("stream offset 42"));
        assert_eq!(
            report.cells.len(),
            2,
            "cells without a good run have no row"
        );
    }

    #[test]
    fn bad_plans_are_refused_before_anything_runs() {
        let (stack, log) = fake(None);
        let stacks = [stack];
        let mut meter = Meter::without_cycles("test");
        let mut bad = plan(0);
        assert!(matches!(
            run_matrix(&bad, &stacks, None, &mut meter, &mut |_| {}),
            Err(BenchError::Plan(_))
        ));
        bad = MatrixPlan {
            mtus: vec![100],
            ..plan(1)
        };
        let err = run_matrix(&bad, &stacks, None, &mut meter, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("MTU 100"), "{err}");
        assert!(matches!(
            run_matrix(&plan(1), &[], None, &mut meter, &mut |_| {}),
            Err(BenchError::Plan(_))
        ));
        assert!(log.borrow().is_empty());
    }

    #[test]
    fn the_real_smoltcp_stack_runs_in_the_matrix() {
        let plan = MatrixPlan {
            offloads: vec![OffloadMode::Csum, OffloadMode::Tso],
            mtus: vec![1500],
            reps: 2,
            workload: WorkloadSettings {
                bytes: 512 << 10,
                socket_buffer: 64 << 10,
                ..WorkloadSettings::REFERENCE
            },
            ..MatrixPlan::standard()
        };
        let stacks = [crate::stacks::bulk_stack(crate::stacks::StackId::Smoltcp).unwrap()];
        let report = run_matrix(&plan, &stacks, None, &mut Meter::new(), &mut |_| {}).unwrap();
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        assert_eq!(report.cells.len(), 1);
        let cell = &report.cells[0];
        assert_eq!(cell.samples.len(), 2);
        assert!(
            cell.samples
                .iter()
                .all(|s| s.verified && s.bytes == 512 << 10)
        );
        assert!(
            cell.samples
                .iter()
                .all(|s| s.data_frames >= (512 << 10) / 1460)
        );
        assert_eq!(report.skipped[0].key.offload, OffloadMode::Tso);
    }
}
