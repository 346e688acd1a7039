//! Runs every `unsafe` block of the harness's `sys` module natively, then again under
//! valgrind's memcheck (which fails the test on any invalid read or write, use of uninitialised
//! memory, or definite leak), through `ferrotoe_benches::measure`: `getrusage` of the process
//! and of a waited-for child, `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`, and a perf counter's
//! open, reset, enable, disable and read (the task clock, which every Linux has; the cycle
//! counter where the machine has one, else its refused open).
//!
//! Re-executes itself under valgrind through `testsupport/under_valgrind.rs`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use ferrotoe_benches::measure::{
    CyclesStatus, Meter, children_cpu_time, process_cpu_time, thread_cpu_time,
};

#[path = "../../testsupport/under_valgrind.rs"]
mod under_valgrind;
use under_valgrind::{Exercise, check, text};

fn spin_for(wall: Duration) -> u64 {
    let t0 = Instant::now();
    let mut x = 1u64;
    while t0.elapsed() < wall {
        for _ in 0..1_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    x
}

fn cpu_clocks() -> Result<(), String> {
    let (p0, t0) = (
        process_cpu_time().map_err(text)?,
        thread_cpu_time().map_err(text)?,
    );
    spin_for(Duration::from_millis(30));
    let (p1, t1) = (
        process_cpu_time().map_err(text)?,
        thread_cpu_time().map_err(text)?,
    );
    check(t1 > t0, "thread CPU time advances while spinning")?;
    check(
        p1.total() > p0.total() && p1.user >= p0.user && p1.system >= p0.system,
        "process CPU time advances while spinning",
    )?;
    let c0 = children_cpu_time().map_err(text)?;
    let status = std::process::Command::new("sh")
        .args(["-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"])
        .status()
        .map_err(|e| format!("running sh failed ({e}): install dash"))?;
    check(status.success(), "the child shell ran")?;
    let c1 = children_cpu_time().map_err(text)?;
    check(
        c1.total() > c0.total(),
        "children's CPU time includes the waited-for child",
    )
}

fn perf_counters() -> Result<(), String> {
    let mut meter = Meter::with_task_clock().map_err(text)?;
    let (_, busy) = meter
        .measure(|| spin_for(Duration::from_millis(20)))
        .map_err(text)?;
    let (_, idle) = meter.measure(|| ()).map_err(text)?;
    let (busy_ns, idle_ns) = (
        busy.cycles.ok_or("task clock read")?,
        idle.cycles.ok_or("task clock read")?,
    );
    check(busy_ns > 1_000_000, "task clock counted the 20 ms spin")?;
    check(idle_ns < busy_ns / 2, "the counter is reset between runs")?;
    check(
        matches!(meter.cycles_status(), CyclesStatus::Counting { .. }),
        "the counter stayed up",
    )?;
    // The cycle counter: counting where the machine has one, else a reason naming the call.
    let mut cycles = Meter::new();
    let (_, m) = cycles
        .measure(|| spin_for(Duration::from_millis(5)))
        .map_err(text)?;
    match cycles.cycles_status() {
        CyclesStatus::Counting { .. } => check(m.cycles.is_some_and(|c| c > 0), "cycles")?,
        CyclesStatus::Unavailable { reason } => check(
            reason.contains("perf_event_open") && m.cycles.is_none(),
            "no cycle counter, and the reason says which call failed",
        )?,
    }
    check(m.wall >= Duration::from_millis(5), "wall time measured")
}

fn main() -> ExitCode {
    under_valgrind::main(
        "sys_under_valgrind",
        &[
            Exercise {
                name: "cpu_clocks",
                run: cpu_clocks,
            },
            Exercise {
                name: "perf_counters",
                run: perf_counters,
            },
        ],
        &[],
    )
}
