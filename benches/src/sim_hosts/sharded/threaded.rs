//! The threaded mode of the sharded hosts: one OS thread per shard, for both hosts (2 x N
//! shard threads), and both NICs with the cable on the NIC thread of the parent module's
//! `nic_thread` (its thread, its idle back-off and its doorbell wake-up, not a copy), as a
//! multi-queue appliance runs one TCP endpoint per core per queue (mTCP, Seastar).
//!
//! # What a shard thread owns and shares
//! Each thread opens its own queue pair on its host's NIC (host-driver's model: the `Nic` is
//! shared, a `QueuePair` and its packet pool live on the thread that opened it), builds its
//! endpoint on it, runs its part of the workload (the bulk `ShardApp`: the streams of its
//! connections, its scratch buffer) and closes it all on the same thread; what comes back is
//! plain data (a [`ShardSnapshot`] of its counters, its application's streams). It shares what
//! real hardware shares: the NIC and its rings, through the driver; and one explicit channel, the host's ICMP error inboxes
//! (`forward` module: a fixed ring per shard behind a lock, skipped without locking when
//! empty; what does not fit is dropped and counted). Besides those, the threads share only
//! the run's control block: a stop flag (set by a failing or panicking shard), a count of
//! shards done (a shard keeps serving its connections, e.g. ACKing a retransmitted FIN from
//! TIME-WAIT, until every shard of both hosts is done) and each shard's verified bytes for the
//! progress report. No lock is taken on the data path.
//!
//! # The clock
//! The stepped mode's simulated clock is advanced by the one thread that owns the round; free
//! threads have no round. Here every shard and the NIC thread read one shared monotonic clock
//! instead, as a real deployment does: the wall time since the run began, added to the
//! simulated clock's value at that moment (so timers set earlier stay valid, and the hosts'
//! clock is moved to the run's end afterwards). The NICs' device time follows the same clock
//! (`nic_thread`'s `NicTime::Wall`). Consequences, reported rather than hidden: timers run in real time (a
//! 1 ms minimum RTO is 1 ms of wall time), so a shard thread preempted for longer than its RTO
//! on a loaded machine times out and retransmits (counted in the outcome's retransmissions);
//! "simulated time" is then wall time, and goodput over it is a wall-clock figure. No line
//! rate is modelled: frames move as fast as the NIC thread steps the devices.
//!
//! # Not deterministic
//! Which frames a poll sees depends on how the OS schedules the threads, so runs are not
//! reproducible frame for frame (as with the NIC thread): every byte is still verified, and
//! the seeded impairment stays seeded per frame, but the frames it hits vary.
//!
//! # Set-up
//! In three steps, each a wait of the shard threads on a flag or count of the control block
//! (bounded by the stall timeout): every shard opens its queue pair; the calling thread starts
//! both NICs (RSS over the queue pairs open then) and the NIC thread; every server shard
//! builds its endpoint and listens, then every client shard opens its connections. At the
//! end every shard thread takes its figures and keeps its shard open until the supervisor has
//! made its last progress report and taken the transfer's wall and CPU time; closing the
//! shards is teardown. Between the first progress report (every shard set up) and the last,
//! no thread allocates (`tests/sim_hosts_no_alloc.rs`).
//!
//! # Stalls and failures
//! A shard thread that has not finished its part and moves no byte for the stall timeout
//! ends the run with an error naming the host, shard and queue pair and what it waited for;
//! a shard whose application fails (a byte that does not match) ends it with that error; a
//! panicking shard thread stops the others (a guard sets the stop flag as it unwinds) and its
//! panic becomes an error naming the shard. A NIC thread that fails stops the run too. The
//! calling thread supervises: it reports progress, watches the NIC thread and joins the
//! shards; nothing waits without a bound.
//!
//! Owns the shard threads, their set-up and loop, the shared clock and the run's control
//! block; reuses the stepped mode's NIC, cable and shard set-up, its shard poll, the bulk
//! workload (`bulk` module) and the NIC thread.
//! Must not contain protocol, driver or device logic.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::ThreadId;
use std::time::Duration;

use host_driver::nic::DeviceStats;
use tcp_engine::time::Instant;

use super::bulk::{Fault, ShardApp, plan};
use super::forward::Inboxes;
use super::{
    RssSteering, ShardSnapshot, ShardedBulkOutcome, ShardedBulkSpec, build_shard, check_sharded,
    host_counters,
};
use crate::measure;
use crate::pattern::Pattern;
use crate::sim_hosts::nic_thread::{Backoff, NicThread, NicTime};
use crate::sim_hosts::{
    NIC_THREAD_TIMEOUT, OffloadMode, OpenNic, START_US, Side, SimHostsConfig, SimHostsCounters,
    SimHostsError, build_cable, line_rate, open_nic, setup, with_cable,
};

/// How often the supervising (calling) thread reports progress and checks the NIC thread.
const SUPERVISE_EVERY: Duration = Duration::from_millis(2);
/// How long a shard thread sleeps between looks at a set-up step it waits for.
const SETUP_POLL: Duration = Duration::from_micros(100);

/// What one host of a threaded run counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadedHost {
    /// Each shard's counters, by queue (taken on its thread at its end).
    pub shards: Vec<ShardSnapshot>,
    /// The NIC's statistics registers after the run.
    pub device: DeviceStats,
}

/// What [`run_threaded_sharded_bulk`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct ThreadedBulkOutcome {
    /// The transfer's outcome; `simulated_us` is wall time on the shared clock and `rounds`
    /// is 0 (there are no rounds: see `polls`).
    pub bulk: ShardedBulkOutcome,
    /// The OS thread each shard's endpoint ran on (index: client 0, server 1; then shard).
    pub shard_threads: [Vec<ThreadId>; 2],
    /// Polls each shard thread made (index as `shard_threads`).
    pub polls: [Vec<u64>; 2],
    /// CPU time of each shard thread (index as `shard_threads`; zero where the thread's CPU
    /// clock cannot be read).
    pub shard_cpu: [Vec<Duration>; 2],
    /// CPU time of the NIC thread during the run (its idle spinning included).
    pub nic_cpu: Duration,
    /// Wall time of the transfer: from the NICs' start (every queue pair open) until every
    /// shard thread returned; the hosts' set-up before it is not included.
    pub wall: Duration,
    /// The process's CPU time (user and system) over `wall`.
    pub process_cpu: Duration,
    /// What the hosts (all their shards), NICs and cable counted, set-up included.
    pub counters: SimHostsCounters,
    /// Client and server: each shard's counters and the device's statistics.
    pub hosts: [ThreadedHost; 2],
    /// Faults found after the run (a queue pair's or a device's health check).
    pub faults: Vec<String>,
    /// The offload mode in use.
    pub offload: OffloadMode,
    /// The line rate of the device's datapath, bit/s (not modelled in this mode).
    pub line_rate_bps: u64,
}

/// The clock every shard thread and the NIC thread read: the simulated clock's start value,
/// on by the wall time since the hosts were built (see the module docs).
#[derive(Clone, Copy, Debug)]
struct SharedClock {
    start: std::time::Instant,
    base_us: u64,
}

impl SharedClock {
    fn now(&self) -> Instant {
        Instant::from_micros(self.base_us + self.start.elapsed().as_micros() as u64)
    }
}

/// What the shard threads share to set up, run and stop together.
struct Control {
    /// Set when the run fails: every shard thread returns.
    stop: AtomicBool,
    /// Shard threads that tried to open their queue pair.
    opened: AtomicUsize,
    /// Both NICs started: shards may build their endpoints.
    started: AtomicBool,
    /// Server shards listening: client shards may connect.
    listening: AtomicUsize,
    /// Shard threads through their set-up (connections open), in the run proper.
    running: AtomicUsize,
    /// Shards (of both hosts) whose part is done.
    done: AtomicUsize,
    /// Shard threads that saw every shard done and took their figures: the transfer is over.
    finished: AtomicUsize,
    /// The supervisor has taken its last figures: shard threads may close their shards.
    released: AtomicBool,
    /// Shards per host.
    queues: usize,
    /// The NIC thread, to wake when a shard rang a doorbell (set before `started`).
    nic: OnceLock<std::thread::Thread>,
    /// Bytes each shard has verified (index: host * queues + shard), each on a cache line of
    /// its own (written by one shard thread, read by the supervisor).
    verified: Box<[CacheLine]>,
}

/// A counter alone on its cache line: shard threads writing their own never contend.
#[repr(align(64))]
#[derive(Default)]
struct CacheLine(AtomicU64);

impl Control {
    fn shards(&self) -> usize {
        2 * self.queues
    }
}

/// Sets the stop flag if its thread unwinds (a panic), so the other shards do not wait.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Release);
        }
    }
}

/// How one shard thread ended well.
struct ShardRun {
    thread: ThreadId,
    polls: u64,
    cpu: Duration,
    snapshot: ShardSnapshot,
}

/// A shard thread's failure and when it happened (the earliest is the run's cause).
type ShardFailure = (std::time::Instant, SimHostsError);

/// Everything a shard thread reads but does not own.
#[derive(Clone, Copy)]
struct ShardEnv<'a> {
    cfg: &'a SimHostsConfig,
    open: &'a OpenNic,
    inboxes: &'a Inboxes,
    steering: RssSteering,
    clock: SharedClock,
    spec: &'a ShardedBulkSpec,
    stall: Duration,
    pattern: &'a Pattern,
    control: &'a Control,
}

/// Builds two multi-queue hosts of `queues` queue pairs as
/// [`ShardedHosts::new`](super::ShardedHosts::new) does and runs the bulk transfer of `spec`
/// on them with one thread per shard and the NICs on a thread of their own (see the module
/// docs); `progress` gets the bytes verified so far and the total, every few milliseconds.
/// `cfg.nic_thread` is implied.
///
/// # Errors
/// What [`ShardedHosts::new`](super::ShardedHosts::new) and
/// [`run_sharded_bulk`](super::run_sharded_bulk) refuse; no stall timeout (`spec.stall_timeout`
/// is the only bound free threads have); a thread that cannot start; a shard that fails,
/// stalls or panics (the error names the host, shard and queue pair); the NIC thread failing.
pub fn run_threaded_sharded_bulk(
    cfg: &SimHostsConfig,
    queues: u16,
    spec: &ShardedBulkSpec,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ThreadedBulkOutcome, SimHostsError> {
    run_with_faults(cfg, queues, spec, progress, &[])
}

/// [`run_threaded_sharded_bulk`] with `faults` injected into shards' applications (tests).
pub(super) fn run_with_faults(
    cfg: &SimHostsConfig,
    queues: u16,
    spec: &ShardedBulkSpec,
    progress: &mut dyn FnMut(u64, u64),
    faults: &[(Side, u16, Fault)],
) -> Result<ThreadedBulkOutcome, SimHostsError> {
    let Some(stall) = spec.stall_timeout else {
        return Err(SimHostsError::Config(
            "the threaded sharded bulk transfer needs a stall timeout: free-running shard \
             threads have no simulated clock on which a stall shows, so a wall-clock bound is \
             the only one (give --stall-timeout, or stall_timeout in the spec)"
                .into(),
        ));
    };
    let (device_cfg, steering) = check_sharded(cfg, queues)?;
    let mut run = plan(spec, queues, cfg.connections)?;
    for &(side, shard, fault) in faults {
        if let Some(app) = run.apps[side.index()].get_mut(usize::from(shard)) {
            app.inject(fault);
        }
    }
    let clock = SharedClock {
        start: std::time::Instant::now(),
        base_us: START_US,
    };
    let (port_a, port_b) = build_cable(cfg)?;
    let opens = [
        open_nic(cfg, device_cfg, Side::Client, port_a, queues > 1)?,
        open_nic(cfg, device_cfg, Side::Server, port_b, queues > 1)?,
    ];
    let inboxes = [
        Inboxes::new(queues, cfg.max_frame_len()),
        Inboxes::new(queues, cfg.max_frame_len()),
    ];
    let n = usize::from(queues);
    let control = Control {
        stop: AtomicBool::new(false),
        opened: AtomicUsize::new(0),
        started: AtomicBool::new(false),
        listening: AtomicUsize::new(0),
        running: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
        released: AtomicBool::new(false),
        queues: n,
        nic: OnceLock::new(),
        verified: (0..2 * n).map(|_| CacheLine::default()).collect(),
    };
    let total = run.total;
    let pattern = &run.pattern;
    let [client_apps, server_apps] = &mut run.apps;
    let ended = std::thread::scope(|scope| {
        let mut threads = Vec::with_capacity(2 * n);
        for (side, apps) in [(Side::Client, client_apps), (Side::Server, server_apps)] {
            let env = ShardEnv {
                cfg,
                open: &opens[side.index()],
                inboxes: &inboxes[side.index()],
                steering,
                clock,
                spec,
                stall,
                pattern,
                control: &control,
            };
            for app in apps.iter_mut() {
                let q = app.shard;
                let spawned = std::thread::Builder::new()
                    .name(format!("ferrotoe-{}-shard-{q}", side.as_str()))
                    .spawn_scoped(scope, move || shard_thread(app, env));
                match spawned {
                    Ok(handle) => threads.push((side, q, handle)),
                    Err(e) => {
                        control.stop.store(true, Ordering::Release);
                        return Err(setup(
                            side.as_str(),
                            "starting a shard thread",
                            format!("shard {q}: {e}"),
                        ));
                    }
                }
            }
        }
        // Every queue pair open: start both NICs (RSS over them) and the NIC thread.
        let mut nic_thread = None;
        let mut fault = None;
        let mut transfer = (std::time::Instant::now(), process_cpu());
        let opened = wait_for(&control, stall, || {
            control.opened.load(Ordering::Acquire) == control.shards()
        });
        if opened {
            let started = (opens.iter().zip(Side::BOTH)).try_for_each(|(o, side)| o.start(side));
            let spawned = started.and_then(|()| {
                let nics = [opens[0].sim.clone(), opens[1].sim.clone()];
                let time = NicTime::Wall {
                    start: clock.start,
                    base_ns: clock.base_us.saturating_mul(1000),
                };
                let shards = threads.iter().map(|(_, _, h)| h.thread().clone()).collect();
                NicThread::spawn(nics, time, shards)
                    .map_err(|e| setup("NICs", "starting the NIC thread", e))
            });
            match spawned {
                Ok(t) => {
                    if let Some(w) = t.waker() {
                        let _ = control.nic.set(w);
                    }
                    nic_thread = Some(t);
                    transfer = (std::time::Instant::now(), process_cpu());
                    control.started.store(true, Ordering::Release);
                }
                Err(e) => fault = Some(e),
            }
        } else if !control.stop.load(Ordering::Acquire) {
            fault = Some(SimHostsError::Connection(format!(
                "the shard threads did not open their queue pairs within {stall:?}: raise \
                 --stall-timeout if the machine is just slow"
            )));
        }
        if fault.is_some() {
            control.stop.store(true, Ordering::Release);
        }
        // Supervise: progress, the NIC thread, until every shard thread has returned.
        // Progress is reported from when every shard is through its set-up until every shard
        // thread has taken its figures (the run proper, allocation-free:
        // `tests/sim_hosts_no_alloc.rs`); then the shard threads are released to close their
        // shards (teardown, not timed).
        let verified = || {
            control
                .verified
                .iter()
                .map(|v| v.0.load(Ordering::Acquire))
                .sum()
        };
        let mut transfer_end = None;
        while !threads.iter().all(|(_, _, h)| h.is_finished()) {
            let over = control.finished.load(Ordering::Acquire) == control.shards();
            if control.running.load(Ordering::Acquire) == control.shards() && transfer_end.is_none()
            {
                progress(verified(), total);
            }
            if over && transfer_end.is_none() {
                transfer_end = Some((transfer.0.elapsed(), process_cpu()));
                control.released.store(true, Ordering::Release);
            }
            if fault.is_none() && nic_thread.as_ref().is_some_and(NicThread::failed) {
                fault = Some(SimHostsError::NicThread(
                    "a device step panicked during the threaded run: the shards were stopped"
                        .into(),
                ));
                control.stop.store(true, Ordering::Release);
            }
            std::thread::sleep(SUPERVISE_EVERY);
        }
        let (wall, cpu_end) = transfer_end.unwrap_or_else(|| (transfer.0.elapsed(), process_cpu()));
        let process_cpu = cpu_end.saturating_sub(transfer.1);
        let mut runs = [Vec::with_capacity(n), Vec::with_capacity(n)];
        let mut failures: Vec<ShardFailure> = Vec::new();
        for (side, q, handle) in threads {
            match handle.join() {
                Ok(Ok(Some(r))) => runs[side.index()].push(r),
                Ok(Ok(None)) => {}
                Ok(Err(f)) => failures.push(f),
                Err(panic) => failures.push((
                    std::time::Instant::now(),
                    SimHostsError::Connection(format!(
                        "{} shard {q} (queue pair {q}): its thread panicked: {}",
                        side.as_str(),
                        panic_message(panic.as_ref())
                    )),
                )),
            }
        }
        // The NICs go idle (nothing in flight), so the counters of both ends agree.
        let (settled, nic_cpu) = match &nic_thread {
            // Settling first: the thread's CPU time is updated when it answers.
            Some(t) => (t.settle(NIC_THREAD_TIMEOUT), t.cpu()),
            None => (Ok(()), Duration::ZERO),
        };
        drop(nic_thread);
        if let Some(e) = first_failure(failures) {
            return Err(e);
        }
        if let Some(e) = fault {
            return Err(e);
        }
        settled.map_err(SimHostsError::NicThread)?;
        Ok((runs, nic_cpu, wall, process_cpu))
    });
    let end = clock.now();
    let (runs, nic_cpu, wall, process_cpu) = ended?;
    let mut hosts: [ThreadedHost; 2] = Default::default();
    let mut counters = [Default::default(); 2];
    let mut faults = Vec::new();
    for (i, open) in opens.iter().enumerate() {
        let host = Side::BOTH[i].as_str();
        let device = open
            .nic
            .device_stats()
            .map_err(|error| SimHostsError::Device { host, error })?;
        if let Err(e) = open.nic.check_errors() {
            faults.push(format!("{host}: {e}"));
        }
        let shards: Vec<ShardSnapshot> = runs[i].iter().map(|r| r.snapshot.clone()).collect();
        faults.extend(shards.iter().filter_map(|s| {
            s.fault
                .as_ref()
                .map(|f| format!("{host} shard {}: {f}", s.queue))
        }));
        counters[i] = host_counters(&device, shards.iter().map(|s| s.counters));
        hosts[i] = ThreadedHost { shards, device };
    }
    Ok(ThreadedBulkOutcome {
        shard_threads: per_shard(&runs, |r| r.thread),
        polls: per_shard(&runs, |r| r.polls),
        shard_cpu: per_shard(&runs, |r| r.cpu),
        nic_cpu,
        wall,
        process_cpu,
        counters: with_cable(counters, [&opens[0].sim, &opens[1].sim]),
        hosts,
        faults,
        offload: opens[0].mode,
        line_rate_bps: line_rate(cfg, &opens[0].nic),
        bulk: run.outcome(end.micros() - clock.base_us, 0),
    })
}

/// The process's CPU time so far (zero where it cannot be read).
fn process_cpu() -> Duration {
    measure::process_cpu_time()
        .map(|c| c.total())
        .unwrap_or_default()
}

/// The earliest of the shard threads' failures, saying how many followed it.
fn first_failure(failures: Vec<ShardFailure>) -> Option<SimHostsError> {
    let first = failures.iter().map(|(at, _)| *at).min()?;
    let others = failures.len() - 1;
    let (_, e) = failures.into_iter().find(|(at, _)| *at == first)?;
    Some(match e {
        SimHostsError::Connection(m) if others > 0 => SimHostsError::Connection(format!(
            "{m} (and {others} other shard thread(s) failed after it)"
        )),
        e => e,
    })
}

/// Waits (sleeping briefly) until `ready`; false when the run stopped or `limit` passed.
fn wait_for(control: &Control, limit: Duration, ready: impl Fn() -> bool) -> bool {
    let started = std::time::Instant::now();
    while !ready() {
        if control.stop.load(Ordering::Acquire) || started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(SETUP_POLL);
    }
    true
}

/// One shard thread: open the queue pair, build the shard, open the connections; then poll,
/// take new connections and work every stream until every shard of both hosts is done or the
/// run stops (`None`). The shard is closed on this thread.
fn shard_thread(app: &mut ShardApp, env: ShardEnv<'_>) -> Result<Option<ShardRun>, ShardFailure> {
    let control = env.control;
    let _guard = StopOnPanic(&control.stop);
    let (side, q) = (app.side, app.shard);
    let failed = |e: SimHostsError| {
        control.stop.store(true, Ordering::Release);
        (std::time::Instant::now(), e)
    };
    let stalled = |what: &str| {
        failed(SimHostsError::Connection(format!(
            "{} shard {q} (queue pair {q}, thread {}) waited {:?} of wall time for {what}: \
             raise --stall-timeout if the run is just slow",
            side.as_str(),
            std::thread::current().name().unwrap_or("unnamed"),
            env.stall,
        )))
    };
    // Set-up (see the module docs).
    let qp = env.open.open_queue_pair(side, q);
    control.opened.fetch_add(1, Ordering::AcqRel);
    let qp = qp.map_err(failed)?;
    if !wait_for(control, env.stall, || {
        control.started.load(Ordering::Acquire)
    }) {
        return stopped_or(control, || stalled("the NICs to start"));
    }
    let mut shard = build_shard(env.open, env.cfg, side, q, qp, env.steering).map_err(failed)?;
    if side == Side::Client
        && !wait_for(control, env.stall, || {
            control.listening.load(Ordering::Acquire) == control.queues
        })
    {
        return stopped_or(control, || stalled("the server's shards to listen"));
    }
    app.open(&mut shard, env.clock.now(), env.spec)
        .map_err(failed)?;
    if side == Side::Server {
        control.listening.fetch_add(1, Ordering::AcqRel);
    }
    control.running.fetch_add(1, Ordering::AcqRel);
    if app.fault == Some(Fault::Panic) {
        panic!("injected fault: {} shard {q} panics", side.as_str());
    }
    // The run.
    let slot = side.index() * control.queues + usize::from(q);
    let mut backoff = Backoff::default();
    let mut polls = 0;
    let mut done = false;
    let mut last_progress = std::time::Instant::now();
    while !control.stop.load(Ordering::Acquire) {
        let mut busy = false;
        if app.fault != Some(Fault::Freeze) {
            let now = env.clock.now();
            let events = &mut app.events;
            let (report, _) = shard.poll(now, env.inboxes, &env.steering, |_, open| {
                events.push(open.key)
            });
            polls += 1;
            if report.transmitted > 0
                && let Some(nic) = control.nic.get()
            {
                // The NIC thread may be parked after an idle spell.
                nic.unpark();
            }
            app.take_events(&shard.endpoint).map_err(failed)?;
            let moved = app
                .work(&mut shard.endpoint, now, env.spec, env.pattern)
                .map_err(failed)?;
            if moved > 0 {
                control.verified[slot]
                    .0
                    .store(app.verified(), Ordering::Release);
                last_progress = std::time::Instant::now();
            }
            busy = moved > 0 || report.received + report.transmitted + report.events > 0;
            if !done && app.done(&shard.endpoint, env.spec) {
                done = true;
                control.done.fetch_add(1, Ordering::AcqRel);
            }
        }
        if control.done.load(Ordering::Acquire) == control.shards() {
            let run = ShardRun {
                thread: std::thread::current().id(),
                polls,
                cpu: measure::thread_cpu_time().unwrap_or_default(),
                snapshot: shard.snapshot(),
            };
            // Keep the shard open until the supervisor has its last figures (closing it is
            // teardown); a bounded wait, cut short if the run stops.
            control.finished.fetch_add(1, Ordering::AcqRel);
            wait_for(control, env.stall, || {
                control.released.load(Ordering::Acquire)
            });
            return Ok(Some(run));
        }
        if busy {
            backoff.busy();
            continue;
        }
        if !done && last_progress.elapsed() > env.stall {
            return Err(failed(SimHostsError::Connection(format!(
                "{side} shard {q} (queue pair {q}, thread {name}) made no progress for {stall:?} \
                 of wall time, waiting for {what}: raise --stall-timeout if the run is just slow",
                side = side.as_str(),
                name = std::thread::current().name().unwrap_or("unnamed"),
                stall = env.stall,
                what = app.waiting_for(env.spec),
            ))));
        }
        // Idle: park no longer than the endpoint's next timer.
        let until_timer = shard.endpoint.next_deadline().map_or(Duration::MAX, |t| {
            Duration::from_micros(t.micros().saturating_sub(env.clock.now().micros()))
        });
        backoff.idle(until_timer);
    }
    Ok(None)
}

/// `None` when the run was stopped by another thread, else the failure `why` makes.
fn stopped_or(
    control: &Control,
    why: impl FnOnce() -> ShardFailure,
) -> Result<Option<ShardRun>, ShardFailure> {
    if control.stop.load(Ordering::Acquire) {
        Ok(None)
    } else {
        Err(why())
    }
}

/// One figure of every shard thread's run, by host and shard.
fn per_shard<T>(runs: &[Vec<ShardRun>; 2], f: impl Fn(&ShardRun) -> T) -> [Vec<T>; 2] {
    runs.each_ref().map(|r| r.iter().map(&f).collect())
}

/// The message of a panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests;
