//! What one benchmark run costs: wall-clock time, the process's CPU time (`getrusage`: every
//! thread, user and system) and, where the machine exposes a hardware counter, CPU cycles
//! (`perf_event_open`). When cycles are unavailable (virtual machines without a virtual PMU, or
//! a restrictive `kernel.perf_event_paranoid`) the [`Meter`] says why in
//! [`CyclesStatus::Unavailable`] and reports CPU time alone; reports print that note.
//!
//! Owns the measurement around a closure. Must not know what is measured (the runner decides)
//! and makes its system calls only through `crate::sys`.

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::sys::{self, PerfCounter, RusageWho};

/// CPU time, split as the kernel accounts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CpuTime {
    /// Time spent in user space.
    pub user: Duration,
    /// Time spent in the kernel on the process's behalf.
    pub system: Duration,
}

impl CpuTime {
    /// User plus system.
    pub fn total(&self) -> Duration {
        self.user + self.system
    }

    /// `self - earlier`, field by field, never negative.
    pub fn since(&self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// CPU time of this process so far (all threads).
pub fn process_cpu_time() -> io::Result<CpuTime> {
    sys::getrusage(RusageWho::Process).map(|r| CpuTime {
        user: r.user,
        system: r.system,
    })
}

/// CPU time of the calling thread so far (user and system together; `clock_gettime` with
/// `CLOCK_THREAD_CPUTIME_ID`, nanosecond resolution). Costs one system call: bracket phases
/// with it, not single packets.
pub fn thread_cpu_time() -> io::Result<Duration> {
    sys::thread_cpu_time()
}

/// CPU time of this process's children that have terminated and been waited for.
pub fn children_cpu_time() -> io::Result<CpuTime> {
    sys::getrusage(RusageWho::Children).map(|r| CpuTime {
        user: r.user,
        system: r.system,
    })
}

/// Whether runs are measured in CPU cycles too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum CyclesStatus {
    /// A hardware cycle counter runs during each measured run.
    Counting {
        /// Kernel-mode cycles are counted too (false: user space only, because
        /// `kernel.perf_event_paranoid` forbids more).
        kernel_included: bool,
    },
    /// No cycle counter; CPU time from `getrusage` stands in for it.
    Unavailable {
        /// Why, and how to get cycles where that is possible.
        reason: String,
    },
}

impl fmt::Display for CyclesStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CyclesStatus::Counting {
                kernel_included: true,
            } => f.write_str("CPU cycles counted with perf_event_open (user and kernel)"),
            CyclesStatus::Counting {
                kernel_included: false,
            } => f.write_str(
                "CPU cycles counted with perf_event_open in user space only \
                 (kernel.perf_event_paranoid forbids kernel counting)",
            ),
            CyclesStatus::Unavailable { reason } => write!(
                f,
                "CPU cycles unavailable: {reason}; host CPU time from getrusage is reported \
                 instead"
            ),
        }
    }
}

fn paranoid_level() -> String {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// Explains a failed `perf_event_open` in a user's terms.
fn explain_open_error(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(libc::ENOENT | libc::ENODEV | libc::EOPNOTSUPP) => format!(
            "perf_event_open(PERF_COUNT_HW_CPU_CYCLES) failed ({err}): this machine exposes \
             no hardware cycle counter (usual in virtual machines without a virtual PMU)"
        ),
        Some(libc::EACCES | libc::EPERM) => format!(
            "perf_event_open(PERF_COUNT_HW_CPU_CYCLES) was refused ({err}) with \
             kernel.perf_event_paranoid = {}: run as root or `sysctl -w \
             kernel.perf_event_paranoid=1`",
            paranoid_level()
        ),
        _ => format!("perf_event_open(PERF_COUNT_HW_CPU_CYCLES) failed: {err}"),
    }
}

/// Measures closures: wall time, process CPU time, cycles when available.
pub struct Meter {
    counter: Option<OwnedFd>,
    status: CyclesStatus,
}

impl fmt::Debug for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Meter")
            .field("status", &self.status)
            .finish()
    }
}

/// What one measured closure cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measured {
    /// Wall-clock time.
    pub wall: Duration,
    /// Process CPU time (all threads).
    pub cpu: CpuTime,
    /// CPU cycles, when the [`Meter`] has a counter.
    pub cycles: Option<u64>,
}

/// A measurement failed (a system call the meter needs did not work).
#[derive(Debug)]
pub struct MeasureError {
    /// What was being done.
    pub what: &'static str,
    /// The system's error.
    pub source: io::Error,
}

impl fmt::Display for MeasureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "measuring a run: {} failed: {}", self.what, self.source)
    }
}

impl std::error::Error for MeasureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn step<T>(what: &'static str, r: io::Result<T>) -> Result<T, MeasureError> {
    r.map_err(|source| MeasureError { what, source })
}

impl Meter {
    /// A meter with a cycle counter if the machine gives one (user and kernel cycles, else user
    /// cycles only), else with CPU time only and the reason in [`Meter::cycles_status`].
    pub fn new() -> Meter {
        match sys::open_counter(PerfCounter::CpuCycles, false) {
            Ok(fd) => Meter {
                counter: Some(fd),
                status: CyclesStatus::Counting {
                    kernel_included: true,
                },
            },
            Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
                match sys::open_counter(PerfCounter::CpuCycles, true) {
                    Ok(fd) => Meter {
                        counter: Some(fd),
                        status: CyclesStatus::Counting {
                            kernel_included: false,
                        },
                    },
                    Err(e) => Meter::without_cycles(explain_open_error(&e)),
                }
            }
            Err(e) => Meter::without_cycles(explain_open_error(&e)),
        }
    }

    /// A meter that does not count cycles, for the given reason.
    pub fn without_cycles(reason: impl Into<String>) -> Meter {
        Meter {
            counter: None,
            status: CyclesStatus::Unavailable {
                reason: reason.into(),
            },
        }
    }

    /// Whether cycles are counted, and why not.
    pub fn cycles_status(&self) -> &CyclesStatus {
        &self.status
    }

    /// Stops counting cycles for good (a counter that fails mid-benchmark is dropped, not
    /// fatal: CPU time still measures every run).
    fn drop_counter(&mut self, what: &str, err: &io::Error) {
        self.counter = None;
        self.status = CyclesStatus::Unavailable {
            reason: format!("the cycle counter failed while {what}: {err}"),
        };
    }

    fn counter_step(&mut self, what: &str, op: fn(&OwnedFd) -> io::Result<()>) {
        if let Some(fd) = &self.counter
            && let Err(e) = op(fd)
        {
            self.drop_counter(what, &e);
        }
    }

    /// Runs `f` and measures it.
    pub fn measure<R>(&mut self, f: impl FnOnce() -> R) -> Result<(R, Measured), MeasureError> {
        self.counter_step("resetting", sys::perf_reset);
        let cpu0 = step("getrusage before the run", process_cpu_time())?;
        self.counter_step("enabling", sys::perf_enable);
        let t0 = Instant::now();
        let result = f();
        let wall = t0.elapsed();
        self.counter_step("disabling", sys::perf_disable);
        let cpu1 = step("getrusage after the run", process_cpu_time())?;
        let cycles = match self.counter.as_ref().map(sys::perf_read) {
            None => None,
            Some(Ok(cycles)) => Some(cycles),
            Some(Err(e)) => {
                self.drop_counter("reading", &e);
                None
            }
        };
        Ok((
            result,
            Measured {
                wall,
                cpu: cpu1.since(cpu0),
                cycles,
            },
        ))
    }

    /// A meter counting the task clock (nanoseconds this process ran) in place of cycles: the
    /// counter's system calls (open, reset, enable, disable, read) on machines without a
    /// hardware cycle counter (most virtual machines), for tests of that path. Its
    /// [`Measured::cycles`] are nanoseconds, not cycles: never report them as cycles.
    ///
    /// # Errors
    /// `perf_event_open(PERF_COUNT_SW_TASK_CLOCK)` failed (a kernel without perf events).
    pub fn with_task_clock() -> io::Result<Meter> {
        let fd = sys::open_counter(PerfCounter::TaskClock, true)?;
        Ok(Meter {
            counter: Some(fd),
            status: CyclesStatus::Counting {
                kernel_included: false,
            },
        })
    }
}

impl Default for Meter {
    fn default() -> Self {
        Meter::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin_for(wall: Duration) -> u64 {
        let t0 = Instant::now();
        let mut x = 1u64;
        while t0.elapsed() < wall {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        x
    }

    #[test]
    fn thread_cpu_time_counts_this_threads_work_only() {
        let before = thread_cpu_time().unwrap();
        spin_for(Duration::from_millis(20));
        let busy = thread_cpu_time().unwrap() - before;
        // Spinning for 20 ms of wall time uses most of it as CPU time, unless the machine
        // preempts the test thread heavily; it never uses more.
        assert!(busy > Duration::from_millis(2), "{busy:?}");
        // A thread that sleeps uses (almost) none.
        let other = std::thread::spawn(|| {
            let t0 = thread_cpu_time().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            thread_cpu_time().unwrap() - t0
        })
        .join()
        .unwrap();
        assert!(other < Duration::from_millis(5), "{other:?}");
    }

    #[test]
    fn measured_wall_time_covers_the_closure() {
        let mut meter = Meter::without_cycles("test");
        let (value, m) = meter
            .measure(|| spin_for(Duration::from_millis(20)))
            .unwrap();
        assert_ne!(value, 0);
        assert!(m.wall >= Duration::from_millis(20), "{m:?}");
        assert_eq!(m.cycles, None);
        // The closure ran on this process's CPU time (other test threads may add to it).
        assert!(m.cpu.total() > Duration::ZERO, "{m:?}");
    }

    #[test]
    fn the_meter_counts_cycles_or_says_why_not() {
        let mut meter = Meter::new();
        match meter.cycles_status().clone() {
            CyclesStatus::Counting { .. } => {
                let (_, m) = meter
                    .measure(|| spin_for(Duration::from_millis(20)))
                    .unwrap();
                let cycles = m.cycles.expect("a counting meter reports cycles");
                // 20 ms of spinning is millions of cycles at any clock a server runs.
                assert!(cycles > 1_000_000, "{cycles} cycles in {m:?}");
            }
            CyclesStatus::Unavailable { reason } => {
                assert!(reason.contains("perf_event_open"), "{reason}");
                let (_, m) = meter
                    .measure(|| spin_for(Duration::from_millis(1)))
                    .unwrap();
                assert_eq!(m.cycles, None);
                let note = meter.cycles_status().to_string();
                assert!(note.contains("getrusage is reported instead"), "{note}");
            }
        }
    }

    #[test]
    fn a_counter_runs_during_the_closure_only() {
        let mut meter = Meter::with_task_clock()
            .expect("perf_event_open(PERF_COUNT_SW_TASK_CLOCK): needs Linux with perf events");
        let (_, busy) = meter
            .measure(|| spin_for(Duration::from_millis(20)))
            .unwrap();
        let (_, idle) = meter.measure(|| ()).unwrap();
        let (busy, idle) = (busy.cycles.unwrap(), idle.cycles.unwrap());
        // Task-clock nanoseconds: milliseconds for the spin, next to nothing for the empty
        // closure (the counter is reset between runs).
        assert!(busy > 1_000_000, "{busy}");
        assert!(idle < busy / 10, "{idle} vs {busy}");
        assert!(matches!(
            meter.cycles_status(),
            CyclesStatus::Counting { .. }
        ));
    }

    #[test]
    fn explains_refusal_with_the_fix() {
        let text = explain_open_error(&io::Error::from_raw_os_error(libc::EACCES));
        assert!(text.contains("perf_event_paranoid"), "{text}");
        let text = explain_open_error(&io::Error::from_raw_os_error(libc::ENOENT));
        assert!(text.contains("no hardware cycle counter"), "{text}");
    }

    #[test]
    fn cpu_time_difference_saturates() {
        let a = CpuTime {
            user: Duration::from_millis(5),
            system: Duration::from_millis(1),
        };
        let b = CpuTime {
            user: Duration::from_millis(7),
            system: Duration::ZERO,
        };
        assert_eq!(
            b.since(a),
            CpuTime {
                user: Duration::from_millis(2),
                system: Duration::ZERO
            }
        );
        assert_eq!(b.since(a).total(), Duration::from_millis(2));
    }
}
