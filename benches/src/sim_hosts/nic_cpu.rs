//! The stepped NICs' CPU time: what [`super::SimHosts::nic_cpu`] reports when one thread
//! steps hosts and NICs.
//!
//! Reading the thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`) is a system call, about a
//! microsecond in these VMs, and entering the kernel also leaves the code after it running
//! slower (caches and predictors disturbed): two reads per round were about 2 % of a bulk run's
//! samples, and timing only some rounds that way charged them, and so the estimate, the
//! disturbance too. So each round's NIC stepping is timed on the monotonic clock (the vDSO:
//! no kernel entry, tens of nanoseconds), and that wall time is scaled by the fraction of the
//! thread's wall time it spent on a CPU (its CPU clock read once at the start and once per
//! report): time lost to preemption is discounted at the rate the whole
//! thread lost it, hosts and NICs alike.
//!
//! The scaling is per stretch between two reports, so a phase of a run (bulk, then
//! request/response) is scaled by its own on-CPU fraction. Owns the arithmetic and the
//! wall-time sums; the caller reads the clocks (so the estimate can be tested without them).

use std::time::Duration;

/// The NICs' stepping time since the last report, and the estimate of the reports before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NicCpuMeter {
    reported: Duration,
    nic_wall: Duration,
}

impl NicCpuMeter {
    /// Adds one round's NIC stepping, timed on the wall clock.
    pub fn add(&mut self, wall: Duration) {
        self.nic_wall += wall;
    }

    /// The NICs' estimated CPU time so far, given the thread's CPU time and wall time since
    /// the last report (or the start): the stepping time since then scaled by the thread's
    /// on-CPU fraction over that stretch (at most 1; unscaled when no wall time passed), added
    /// to what the earlier reports estimated.
    pub fn report(&mut self, thread_cpu: Duration, thread_wall: Duration) -> Duration {
        let wall = thread_wall.as_secs_f64();
        let on_cpu = if wall > 0.0 {
            (thread_cpu.as_secs_f64() / wall).clamp(0.0, 1.0)
        } else {
            1.0
        };
        self.reported += self.nic_wall.mul_f64(on_cpu);
        self.nic_wall = Duration::ZERO;
        self.reported
    }
}

/// A [`NicCpuMeter`] with the clocks it needs: the stepping thread's CPU time and the wall
/// clock at the last report. Used by the hosts that step their NICs on their own thread
/// ([`super::SimHosts`] without a NIC thread, [`super::ShardedHosts`]).
#[derive(Clone, Copy, Debug)]
pub struct NicCpuClock {
    meter: NicCpuMeter,
    mark: (Duration, std::time::Instant),
}

impl NicCpuClock {
    /// Starts the clock now, on the calling thread (the one that will step the NICs).
    pub fn start() -> NicCpuClock {
        NicCpuClock {
            meter: NicCpuMeter::default(),
            mark: (
                crate::measure::thread_cpu_time().unwrap_or_default(),
                std::time::Instant::now(),
            ),
        }
    }

    /// Adds one round's NIC stepping, timed on the wall clock.
    pub fn add(&mut self, wall: Duration) {
        self.meter.add(wall);
    }

    /// The NICs' estimated CPU time so far (reads the thread's CPU clock: a system call).
    pub fn cpu(&mut self) -> Duration {
        let (cpu0, wall0) = self.mark;
        let (cpu, wall) = (
            crate::measure::thread_cpu_time().unwrap_or(cpu0),
            std::time::Instant::now(),
        );
        self.mark = (cpu, wall);
        self.meter.report(cpu.saturating_sub(cpu0), wall - wall0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn stepping_time_sums_over_rounds_when_never_preempted() {
        let mut m = NicCpuMeter::default();
        m.add(3 * MS);
        m.add(4 * MS);
        assert_eq!(m.report(100 * MS, 100 * MS), 7 * MS);
    }

    #[test]
    fn preemption_is_discounted_at_the_threads_rate_of_each_stretch() {
        let mut m = NicCpuMeter::default();
        m.add(40 * MS);
        // The thread was on a CPU for 75 of its 100 ms.
        assert_eq!(m.report(75 * MS, 100 * MS), 30 * MS);
        // The next stretch: 20 ms of stepping, on a CPU half the time. Earlier reports stand.
        m.add(20 * MS);
        assert_eq!(m.report(50 * MS, 100 * MS), 30 * MS + 10 * MS);
        // Nothing new: the total again.
        assert_eq!(m.report(MS, MS), 40 * MS);
    }

    #[test]
    fn never_scaled_above_the_stepping_time() {
        // A coarse CPU clock may read ahead of the wall clock.
        let mut m = NicCpuMeter::default();
        m.add(40 * MS);
        assert_eq!(m.report(101 * MS, 100 * MS), 40 * MS);
    }

    #[test]
    fn the_estimate_never_exceeds_the_threads_cpu_time() {
        // Stepping is part of the thread's wall time, so its scaled share is at most the
        // thread's CPU time over the stretch, whatever the on-CPU fraction.
        for (step, cpu, wall) in [(100, 100, 100), (100, 30, 100), (99, 1, 100), (7, 5, 9)] {
            let mut m = NicCpuMeter::default();
            m.add(step * MS);
            let nic = m.report(cpu * MS, wall * MS);
            assert!(
                nic <= cpu * MS,
                "{nic:?} for {step} ms of {wall} ms, {cpu} ms on CPU"
            );
        }
    }

    #[test]
    fn with_no_wall_time_passed_the_stepping_time_stands() {
        let mut m = NicCpuMeter::default();
        assert_eq!(m.report(Duration::ZERO, Duration::ZERO), Duration::ZERO);
        m.add(2 * MS);
        assert_eq!(m.report(Duration::ZERO, Duration::ZERO), 2 * MS);
    }
}
