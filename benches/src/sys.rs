//! Every raw system call of the benchmark harness, each `unsafe` block with its `SAFETY:`
//! argument and an `io::Result` out: `getrusage` (process and waited-for children's CPU time),
//! `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` (the calling thread's CPU time) and the CPU-cycle
//! counter of `perf_event_open(2)` (open, enable, disable, reset, read).
//!
//! Owns the kernel ABI structures it passes (`perf_event_attr` up to `PERF_ATTR_SIZE_VER5`).
//! Must not hold policy: whether a missing counter is fatal is `crate::measure`'s decision.
//! Nothing else in the crate uses `unsafe`. Every `unsafe` block here runs under valgrind's
//! memcheck in `tests/unsafe_under_valgrind.rs`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// User and system CPU time, as `getrusage` reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Rusage {
    pub(crate) user: Duration,
    pub(crate) system: Duration,
}

/// Whose CPU time `getrusage` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RusageWho {
    /// This process, all threads.
    Process,
    /// Children of this process that have terminated and been waited for.
    Children,
}

fn timeval(tv: libc::timeval) -> Duration {
    // The kernel reports non-negative seconds and microseconds below 1,000,000.
    Duration::new(tv.tv_sec.max(0) as u64, 0) + Duration::from_micros(tv.tv_usec.max(0) as u64)
}

/// `getrusage(who)`: CPU time consumed so far.
pub(crate) fn getrusage(who: RusageWho) -> io::Result<Rusage> {
    let who = match who {
        RusageWho::Process => libc::RUSAGE_SELF,
        RusageWho::Children => libc::RUSAGE_CHILDREN,
    };
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, exclusively borrowed `struct rusage` for the duration of the
    // call; getrusage writes only into it and `who` is one of the documented values.
    let rc = unsafe { libc::getrusage(who, usage.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the buffer was zero-initialised (a valid `rusage`: plain integers) and the
    // successful call filled it.
    let usage = unsafe { usage.assume_init() };
    Ok(Rusage {
        user: timeval(usage.ru_utime),
        system: timeval(usage.ru_stime),
    })
}

/// `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`: CPU time the calling thread has used (user and
/// system together, nanosecond resolution).
pub(crate) fn thread_cpu_time() -> io::Result<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, exclusively borrowed `struct timespec` for the duration of the
    // call; clock_gettime writes only into it, and the clock id is a documented constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // The kernel reports non-negative seconds and nanoseconds below 1,000,000,000.
    Ok(Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    ))
}

/// `struct perf_event_attr` as of `PERF_ATTR_SIZE_VER5` (Linux 4.1); later kernels accept it.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
    config2: u64,
    branch_sample_type: u64,
    sample_regs_user: u64,
    sample_stack_user: u32,
    clockid: i32,
    sample_regs_intr: u64,
    aux_watermark: u32,
    sample_max_stack: u16,
    reserved: u16,
}

const PERF_ATTR_SIZE_VER5: u32 = 112;
const _: () = assert!(std::mem::size_of::<PerfEventAttr>() == PERF_ATTR_SIZE_VER5 as usize);

const PERF_TYPE_HARDWARE: u32 = 0;
const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_COUNT_HW_CPU_CYCLES: u64 = 0;
const PERF_COUNT_SW_TASK_CLOCK: u64 = 1;
const PERF_FORMAT_TOTAL_TIME_ENABLED: u64 = 1 << 0;
const PERF_FORMAT_TOTAL_TIME_RUNNING: u64 = 1 << 1;
const ATTR_FLAG_DISABLED: u64 = 1 << 0;
const ATTR_FLAG_INHERIT: u64 = 1 << 1;
const ATTR_FLAG_EXCLUDE_KERNEL: u64 = 1 << 5;
const ATTR_FLAG_EXCLUDE_HV: u64 = 1 << 6;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;
// _IO('$', n)
const PERF_EVENT_IOC_ENABLE: u64 = 0x2400;
const PERF_EVENT_IOC_DISABLE: u64 = 0x2401;
const PERF_EVENT_IOC_RESET: u64 = 0x2403;

/// What a perf counter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PerfCounter {
    /// CPU cycles (a hardware counter: absent in most virtual machines).
    CpuCycles,
    /// Task clock in nanoseconds (a software counter every Linux has; the same system calls,
    /// so tests exercise this module where no hardware counter exists).
    TaskClock,
}

/// `perf_event_open` of a disabled counter for this process (all CPUs, threads created later
/// included), counting kernel time too unless `user_only`.
pub(crate) fn open_counter(counter: PerfCounter, user_only: bool) -> io::Result<OwnedFd> {
    let mut flags = ATTR_FLAG_DISABLED | ATTR_FLAG_INHERIT | ATTR_FLAG_EXCLUDE_HV;
    if user_only {
        flags |= ATTR_FLAG_EXCLUDE_KERNEL;
    }
    let (kind, config) = match counter {
        PerfCounter::CpuCycles => (PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES),
        PerfCounter::TaskClock => (PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK),
    };
    let attr = PerfEventAttr {
        kind,
        size: PERF_ATTR_SIZE_VER5,
        config,
        read_format: PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING,
        flags,
        ..PerfEventAttr::default()
    };
    let (pid, cpu, group_fd): (libc::pid_t, libc::c_int, libc::c_int) = (0, -1, -1);
    // SAFETY: `attr` is a valid `perf_event_attr` of the size its `size` field states and lives
    // across the call; pid 0 / cpu -1 / group -1 are the documented "this process, any CPU,
    // no group" values; the kernel only reads `attr`.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            pid,
            cpu,
            group_fd,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

fn perf_ioctl(fd: &OwnedFd, request: u64) -> io::Result<()> {
    // SAFETY: `fd` is an open perf event descriptor (borrowed for the call); the ENABLE,
    // DISABLE and RESET requests take an integer flag argument (0: this event only) and touch
    // no memory of ours.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, 0 as libc::c_int) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Zeroes the counter.
pub(crate) fn perf_reset(fd: &OwnedFd) -> io::Result<()> {
    perf_ioctl(fd, PERF_EVENT_IOC_RESET)
}

/// Starts counting.
pub(crate) fn perf_enable(fd: &OwnedFd) -> io::Result<()> {
    perf_ioctl(fd, PERF_EVENT_IOC_ENABLE)
}

/// Stops counting.
pub(crate) fn perf_disable(fd: &OwnedFd) -> io::Result<()> {
    perf_ioctl(fd, PERF_EVENT_IOC_DISABLE)
}

/// The counter's value, scaled up when the kernel multiplexed it (ran it for only part of the
/// time it was enabled).
pub(crate) fn perf_read(fd: &OwnedFd) -> io::Result<u64> {
    let mut values = [0u64; 3];
    let want = std::mem::size_of_val(&values);
    // SAFETY: `values` is a valid, exclusively borrowed buffer of `want` bytes for the call;
    // read(2) writes at most `want` bytes into it.
    let got = unsafe { libc::read(fd.as_raw_fd(), values.as_mut_ptr().cast(), want) };
    if got < 0 {
        return Err(io::Error::last_os_error());
    }
    if got as usize != want {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("perf counter read returned {got} of {want} bytes"),
        ));
    }
    let [value, enabled, running] = values;
    if running == 0 || running >= enabled {
        return Ok(value);
    }
    Ok((value as u128 * enabled as u128 / running as u128).min(u64::MAX as u128) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_cpu_time_advances_while_spinning() {
        let before = getrusage(RusageWho::Process).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut x = 1u64;
        loop {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            let now = getrusage(RusageWho::Process).unwrap();
            if now.user + now.system > before.user + before.system {
                assert!(now.user >= before.user && now.system >= before.system);
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "getrusage reported no CPU time for 20 s of spinning"
            );
        }
    }

    #[test]
    fn a_perf_counter_counts_only_while_enabled() {
        // The task clock (software, present on every Linux) through the same calls the cycle
        // counter uses: open, reset, enable, disable, read.
        let fd = open_counter(PerfCounter::TaskClock, true)
            .or_else(|_| open_counter(PerfCounter::TaskClock, false))
            .expect("perf_event_open(PERF_COUNT_SW_TASK_CLOCK): needs Linux with perf events");
        perf_reset(&fd).unwrap();
        assert_eq!(
            perf_read(&fd).unwrap(),
            0,
            "a disabled counter stays at zero"
        );
        perf_enable(&fd).unwrap();
        let t0 = std::time::Instant::now();
        let mut x = 1u64;
        while t0.elapsed() < Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        perf_disable(&fd).unwrap();
        let counted = perf_read(&fd).unwrap();
        // Task-clock nanoseconds of this process: it ran for part of those 20 ms at least (other
        // test threads may add to it).
        assert!(counted > 1_000_000, "{counted} ns");
        let mut y = x;
        for _ in 0..1_000_000 {
            y = std::hint::black_box(y.wrapping_add(1));
        }
        assert_eq!(
            perf_read(&fd).unwrap(),
            counted,
            "nothing counted while disabled"
        );
        perf_reset(&fd).unwrap();
        assert_eq!(perf_read(&fd).unwrap(), 0);
    }

    #[test]
    fn children_cpu_time_includes_a_waited_for_child() {
        let before = getrusage(RusageWho::Children).unwrap();
        // A child that spins for a while in the shell (well above the tick granularity).
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
            .status()
            .expect("run sh (Debian package dash)");
        assert!(status.success());
        let after = getrusage(RusageWho::Children).unwrap();
        assert!(
            after.user + after.system > before.user + before.system,
            "before {before:?}, after {after:?}"
        );
    }
}
