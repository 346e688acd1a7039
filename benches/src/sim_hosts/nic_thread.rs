//! The NICs' own thread (`SimHostsConfig::nic_thread`): both simulated NICs and the cable
//! between them stepped by a second thread, in parallel with the hosts, as real NICs run beside
//! their hosts' CPUs.
//!
//! The thread steps both NICs in turn for as long as either has work; hosts and NICs form a
//! pipeline (the parent module's docs say what that means for rounds and the clock). The hosts'
//! thread talks to it in three ways: [`NicThread::kick`] after a round in which it rang
//! doorbells; [`NicThread::wait_progress`] after a round in which it did nothing, which
//! returns once the NICs have moved something since the previous call, or have run a whole
//! idle pass begun after the call (everything rung before it served, nothing in flight); and
//! [`NicThread::settle`], which waits for the latter (before counters are read). What the
//! parallel mode gives up is determinism: the NICs move frames while the hosts poll, so which
//! frames a poll sees depends on timing. Transfers stay exact (every byte verified); only the
//! interleaving varies.
//!
//! The thread spins briefly when idle (a doorbell is usually a few microseconds away), then
//! yields, and after a longer idle spell parks until kicked; its CPU time, spinning included,
//! is what [`NicThread::cpu`] reports: the cost of the simulated NICs, kept apart from the
//! hosts'.
//!
//! The device time the thread steps the NICs at is either set by the hosts' thread
//! ([`NicTime::Set`], [`NicThread::set_time`]: the simulated clock of the rounds) or read by
//! the thread itself from the wall clock ([`NicTime::Wall`]: the threaded sharded hosts,
//! whose shards run free on that clock). The sharded hosts' shard threads idle as this thread
//! does ([`Backoff`]), ring it the same way ([`NicThread::waker`]), and are woken by it after
//! every pass in which a NIC did something, as a queue's interrupt wakes its core.
//!
//! Owns the thread and its handshake with the hosts' thread(s); must not contain device
//! behaviour (that is rtl-sim's) or round logic (the parent module's).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtl_sim::nic::SteppedNic;

use crate::measure;

/// Idle passes the thread spins through before it starts yielding the CPU.
const SPIN_PASSES: u32 = 200;
/// Idle passes after which the thread parks until the hosts ring (see [`NicThread::kick`]).
const YIELD_PASSES: u32 = 2_000;
/// Longest the thread stays parked without a kick (a safety net, not a poll interval).
const PARK_TIMEOUT: Duration = Duration::from_millis(1);

/// State shared by the NIC thread and the hosts' thread.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    /// Sync requests made by the hosts' thread (a counter).
    requested: AtomicU64,
    /// The latest request the NIC thread has answered with a whole idle pass.
    answered: AtomicU64,
    /// The NIC thread's CPU time so far, in nanoseconds (updated when it goes idle).
    cpu_ns: AtomicU64,
    /// A step of a NIC panicked: the thread stopped.
    failed: AtomicBool,
    /// Device time for the NICs' next steps, in nanoseconds.
    time_ns: AtomicU64,
    /// Passes in which a NIC did something (a counter).
    work: AtomicU64,
}

/// Where the NIC thread takes the device time of its steps from.
#[derive(Clone, Copy, Debug)]
pub(super) enum NicTime {
    /// Set by the hosts' thread ([`NicThread::set_time`]); this many nanoseconds at first.
    Set(u64),
    /// The wall clock: `base_ns` at `start`, on since.
    Wall {
        /// When the clock read `base_ns`.
        start: Instant,
        /// Device time at `start`, nanoseconds.
        base_ns: u64,
    },
}

/// How a thread with nothing to do waits: it spins through a few passes (work is usually a
/// few microseconds away), then yields the CPU, and after a longer idle spell parks until
/// woken ([`std::thread::Thread::unpark`]) or for at most `PARK_TIMEOUT` (or less, as its
/// caller says).
#[derive(Debug, Default)]
pub(super) struct Backoff {
    idle_passes: u32,
}

impl Backoff {
    /// A pass that did something: the next idle spell starts with spinning.
    pub(super) fn busy(&mut self) {
        self.idle_passes = 0;
    }

    /// A pass that did nothing: spin, yield or park (at most `most`) as the spell's length
    /// says.
    pub(super) fn idle(&mut self, most: Duration) {
        self.idle_passes = self.idle_passes.saturating_add(1);
        if self.idle_passes < SPIN_PASSES {
            std::hint::spin_loop();
        } else if self.idle_passes < YIELD_PASSES {
            std::thread::yield_now();
        } else {
            // Nothing for a while (set-up, a quiet workload): stop taking a core until woken.
            std::thread::park_timeout(most.min(PARK_TIMEOUT));
        }
    }
}

/// Both NICs of the pair on a thread of their own. Dropping it stops and joins the thread.
#[derive(Debug)]
pub(super) struct NicThread {
    shared: Arc<Shared>,
    /// The work counter as the hosts' thread last saw it.
    seen_work: std::cell::Cell<u64>,
    handle: Option<JoinHandle<()>>,
}

impl NicThread {
    /// Starts stepping `nics`.
    /// `wake`: threads to unpark after every pass in which a NIC did something (the shard
    /// threads of the threaded sharded hosts, parked when idle: what an interrupt does for a
    /// real NIC's queues; empty for one hosts' thread, which never parks).
    pub(super) fn spawn(
        nics: [SteppedNic; 2],
        time: NicTime,
        wake: Vec<std::thread::Thread>,
    ) -> std::io::Result<NicThread> {
        let shared = Arc::new(Shared::default());
        if let NicTime::Set(now_ns) = time {
            shared.time_ns.store(now_ns, Ordering::Release);
        }
        let for_thread = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("ferrotoe-nics".into())
            .spawn(move || {
                let shared = for_thread;
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run(&nics, &shared, time, &wake)
                }));
                if run.is_err() {
                    shared.failed.store(true, Ordering::Release);
                }
            })?;
        Ok(NicThread {
            shared,
            seen_work: std::cell::Cell::new(0),
            handle: Some(handle),
        })
    }

    /// Waits until the NICs have done something since the last call, or have served
    /// everything rung before this call and are idle; returns whether they did something.
    /// Gives up after `timeout` and says why.
    pub(super) fn wait_progress(&self, timeout: Duration) -> Result<bool, String> {
        let ticket = self.shared.requested.fetch_add(1, Ordering::AcqRel) + 1;
        self.kick();
        let started = Instant::now();
        let mut spins = 0u32;
        loop {
            if self.take_progress() {
                return Ok(true);
            }
            if self.shared.answered.load(Ordering::Acquire) >= ticket {
                // A busy pass may have come just before the idle one.
                return Ok(self.take_progress());
            }
            if self.shared.failed.load(Ordering::Acquire) {
                return Err("the NIC thread stopped: a device step panicked".into());
            }
            spins += 1;
            if spins < SPIN_PASSES {
                std::hint::spin_loop();
            } else {
                if started.elapsed() > timeout {
                    return Err(format!(
                        "the simulated NICs did not go idle within {timeout:?} (a device that \
                         never stops working)"
                    ));
                }
                std::thread::yield_now();
            }
        }
    }

    /// Waits until the NICs are idle with nothing in flight.
    pub(super) fn settle(&self, timeout: Duration) -> Result<(), String> {
        let started = Instant::now();
        while self.wait_progress(timeout)? {
            if started.elapsed() > timeout {
                return Err(format!(
                    "the simulated NICs kept working for {timeout:?} without settling"
                ));
            }
        }
        Ok(())
    }

    fn take_progress(&self) -> bool {
        let w = self.shared.work.load(Ordering::Acquire);
        let moved = w != self.seen_work.get();
        self.seen_work.set(w);
        moved
    }

    /// Wakes the thread if it is parked: the hosts have rung doorbells (cheap when it is not).
    pub(super) fn kick(&self) {
        if let Some(h) = &self.handle {
            h.thread().unpark();
        }
    }

    /// A handle that wakes the thread when parked (for threads that ring doorbells).
    pub(super) fn waker(&self) -> Option<std::thread::Thread> {
        self.handle.as_ref().map(|h| h.thread().clone())
    }

    /// A step of a NIC panicked: the thread has stopped.
    pub(super) fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }

    /// Sets the device time of the NICs' next steps (with [`NicTime::Set`]).
    pub(super) fn set_time(&self, ns: u64) {
        self.shared.time_ns.store(ns, Ordering::Release);
    }

    /// CPU time the NIC thread has used (as of its last idle pass).
    pub(super) fn cpu(&self) -> Duration {
        Duration::from_nanos(self.shared.cpu_ns.load(Ordering::Acquire))
    }
}

impl Drop for NicThread {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The thread's loop: step both NICs; after a pass in which neither did anything, answer the
/// sync requests read before the pass began.
fn run(nics: &[SteppedNic; 2], shared: &Shared, time: NicTime, wake: &[std::thread::Thread]) {
    let mut backoff = Backoff::default();
    while !shared.stop.load(Ordering::Acquire) {
        let ticket = shared.requested.load(Ordering::Acquire);
        let now_ns = match time {
            NicTime::Set(_) => shared.time_ns.load(Ordering::Acquire),
            NicTime::Wall { start, base_ns } => {
                base_ns.saturating_add(start.elapsed().as_nanos() as u64)
            }
        };
        let mut busy = false;
        for nic in nics {
            let r = nic.with(|n| {
                n.set_time(now_ns);
                n.step()
            });
            busy |= r.did_work() || r.more || r.tx_frames > 0;
        }
        if busy {
            shared.work.fetch_add(1, Ordering::AcqRel);
            // Cheap for a thread that is not parked (an atomic swap).
            for t in wake {
                t.unpark();
            }
            backoff.busy();
            continue;
        }
        if shared.answered.load(Ordering::Relaxed) < ticket {
            if let Ok(cpu) = measure::thread_cpu_time() {
                shared
                    .cpu_ns
                    .store(cpu.as_nanos() as u64, Ordering::Release);
            }
            shared.answered.store(ticket, Ordering::Release);
        }
        backoff.idle(PARK_TIMEOUT);
    }
}
