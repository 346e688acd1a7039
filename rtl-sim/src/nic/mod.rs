//! The simulated NIC: a device core on a sim-link, with a wire port, run either by the caller
//! (stepped, deterministic) or on a thread of its own (or as the main loop of `ferrotoe nicsim`).
//!
//! One [`SimNic::step`] applies every posted MMIO write (in order, then acknowledges them so
//! driver reads proceed), lets the core work a bounded amount (TX requests, received frames),
//! and publishes counters. Nothing else happens between steps, so a stepped NIC whose clock the
//! caller sets is deterministic.
//!
//! - Stepped: [`SimNic::step`] / [`SimNic::run_until_idle`] from the caller's loop, or a
//!   [`SteppedNic`] shared with a driver whose waits pump it.
//! - Threaded: [`SimNic::spawn`]; the thread sleeps on the link's futex when idle (no busy
//!   spinning), woken by doorbells, cable peers and port threads.
//!
//! Owns the run loop and the adapters from sim-link's device side to the core's interfaces
//! ([`Dma`], [`IrqOut`], [`RegisterImage`]); it must not contain device behaviour.

mod backend;

pub use backend::{Backend, BackendError, RTL_AVAILABLE, build_core, rtl_build_summary};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sim_link::{
    AttachOptions, BarImage, DeviceLink, DeviceWaker, DmaFault, DriverLink, Iommu, LinkError,
    LinkEvent, LinkPaths,
};

use crate::device::{DeviceCore, DeviceIo, Dma, IrqOut, RegisterImage, StepReport};
use crate::wire::Port;

/// Work a core may do per step: TX requests and RX frames each.
pub const STEP_BUDGET: u32 = 64;
/// Longest a threaded NIC sleeps without being woken (a safety net, not a poll interval).
pub const IDLE_SLEEP: Duration = Duration::from_millis(50);
/// Shortest sleep until a port's next timed event (see [`SimNic::run`]).
pub const MIN_TIMED_SLEEP: Duration = Duration::from_micros(5);

struct LinkDma<'a>(&'a Iommu);

impl Dma for LinkDma<'_> {
    #[inline]
    fn read(&mut self, iova: u64, buf: &mut [u8]) -> Result<(), DmaFault> {
        self.0.read(iova, buf)
    }
    #[inline]
    fn write(&mut self, iova: u64, data: &[u8]) -> Result<(), DmaFault> {
        self.0.write(iova, data)
    }
    #[inline]
    fn check(&mut self, iova: u64, len: u64) -> Result<(), DmaFault> {
        self.0.check(iova, len)
    }
}

struct LinkImage<'a>(&'a BarImage);

impl RegisterImage for LinkImage<'_> {
    #[inline]
    fn store(&mut self, offset: u32, value: u32) {
        self.0.store(offset, value);
    }
    #[inline]
    fn begin_batch(&mut self) {
        self.0.begin_update();
    }
    #[inline]
    fn end_batch(&mut self) {
        self.0.end_update();
    }
}

struct LinkIrq<'a>(&'a DeviceLink);

impl IrqOut for LinkIrq<'_> {
    #[inline]
    fn signal(&mut self, vector: u32) {
        self.0.signal_irq(vector);
    }
}

/// The [`DeviceIo`] of a [`SimNic`]: its link's IOMMU, interrupts and image, and its port.
macro_rules! link_io {
    ($nic:expr, $now:expr) => {
        DeviceIo {
            dma: &mut LinkDma($nic.link.iommu()),
            wire: &mut $nic.port,
            irq: &mut LinkIrq(&$nic.link),
            image: &mut LinkImage($nic.link.image()),
            now_ns: $now,
        }
    };
}

/// Where a NIC's device time comes from.
#[derive(Clone, Copy, Debug)]
pub enum Clock {
    /// Nanoseconds since the NIC was built (wall time).
    Real(Instant),
    /// Set by the caller ([`SimNic::set_time`], [`SimNic::advance_time`]): deterministic runs.
    Manual(u64),
}

impl Clock {
    fn now(&self) -> u64 {
        match self {
            Clock::Real(start) => start.elapsed().as_nanos() as u64,
            Clock::Manual(t) => *t,
        }
    }
}

/// Counters of the NIC's run loop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NicCounters {
    /// Steps run.
    pub steps: u64,
    /// Posted MMIO writes applied.
    pub mmio_writes: u64,
    /// TX requests completed.
    pub tx_requests: u64,
    /// Frames sent.
    pub tx_frames: u64,
    /// Frames taken from the wire.
    pub rx_frames: u64,
    /// Times the run loop slept (threaded mode).
    pub sleeps: u64,
}

/// A device core on a link, with a wire port.
pub struct SimNic {
    core: Box<dyn DeviceCore>,
    link: DeviceLink,
    port: Box<dyn Port>,
    clock: Clock,
    counters: NicCounters,
}

impl std::fmt::Debug for SimNic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimNic")
            .field("link", &self.link)
            .field("port", &self.port.describe())
            .field("counters", &self.counters)
            .finish()
    }
}

impl SimNic {
    /// Puts `core` behind `link` with `port` as its wire: publishes the register image and
    /// connects the port to the device's waker.
    pub fn new(
        mut core: Box<dyn DeviceCore>,
        link: DeviceLink,
        mut port: Box<dyn Port>,
        clock: Clock,
    ) -> SimNic {
        core.publish_image(&mut LinkImage(link.image()));
        port.connect(&link.waker());
        SimNic {
            core,
            link,
            port,
            clock,
            counters: NicCounters::default(),
        }
    }

    /// The link's files (what a driver attaches to).
    pub fn paths(&self) -> &LinkPaths {
        self.link.paths()
    }

    /// The device side of the link.
    pub fn link(&self) -> &DeviceLink {
        &self.link
    }

    /// The wire port.
    pub fn port(&self) -> &dyn Port {
        &*self.port
    }

    /// The device core.
    pub fn core_mut(&mut self) -> &mut dyn DeviceCore {
        &mut *self.core
    }

    /// Run-loop counters.
    pub fn counters(&self) -> NicCounters {
        self.counters
    }

    /// Sets device time (manual clock; switches a real clock to manual).
    pub fn set_time(&mut self, ns: u64) {
        self.clock = Clock::Manual(ns);
    }

    /// Advances a manual clock by `ns` (a real clock ignores it).
    pub fn advance_time(&mut self, ns: u64) {
        if let Clock::Manual(t) = &mut self.clock {
            *t = t.wrapping_add(ns);
        }
    }

    /// A waker for this NIC's device.
    pub fn waker(&self) -> DeviceWaker {
        self.link.waker()
    }

    /// One step: apply posted writes, run the core, apply writes that arrived meanwhile.
    pub fn step(&mut self) -> StepReport {
        let now = self.clock.now();
        let applied = self.apply_posted(now);
        let report = {
            let mut io = link_io!(self, now);
            self.core.step(&mut io, STEP_BUDGET)
        };
        let c = &mut self.counters;
        c.steps += 1;
        c.mmio_writes += applied;
        c.tx_requests += u64::from(report.tx_requests);
        c.tx_frames += u64::from(report.tx_frames);
        c.rx_frames += u64::from(report.rx_frames);
        let mut report = report;
        report.more |= applied > 0 || self.link.pending();
        report
    }

    fn apply_posted(&mut self, now: u64) -> u64 {
        let mut n = 0;
        while let Some(ev) = self.link.poll_event() {
            n += 1;
            let mut io = link_io!(self, now);
            match ev {
                LinkEvent::Write { offset, value } => self.core.mmio_write(offset, value, &mut io),
                LinkEvent::BadRead { offset } => self.core.report_bad_read(offset, &mut io),
            }
        }
        self.link.ack();
        n
    }

    /// Steps until a step does nothing (at most `max_steps`); returns the steps taken.
    pub fn run_until_idle(&mut self, max_steps: u64) -> u64 {
        for i in 0..max_steps {
            let r = self.step();
            if !r.did_work() && !r.more {
                return i + 1;
            }
        }
        max_steps
    }

    /// Runs until `stop` is set or the driver asks the device to shut down, sleeping on the
    /// link's futex whenever a step finds nothing to do.
    pub fn run(&mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Acquire) && !self.link.shutdown_requested() {
            let r = self.step();
            if !r.did_work() && !r.more {
                // A port that holds frames on time (a bottleneck's queue) needs a step when
                // the next one is due: sleep no longer than that (and at least
                // MIN_TIMED_SLEEP, so a frame that cannot move yet, behind a full cable ring,
                // costs no spinning).
                let timeout = match self.port.next_event_ns() {
                    Some(t) => Duration::from_nanos(t.saturating_sub(self.clock.now()))
                        .clamp(MIN_TIMED_SLEEP, IDLE_SLEEP),
                    None => IDLE_SLEEP,
                };
                self.counters.sleeps += 1;
                let port = &self.port;
                let blocked = r.wire_blocked as usize;
                // Wake-ups come from doorbells and from the port (a frame arrived, or the
                // peer made room on a cable); the predicate closes the race with them.
                self.link.sleep(timeout, || {
                    port.rx_pending()
                        || (blocked > 0 && port.tx_ready(blocked))
                        || stop.load(Ordering::Acquire)
                });
            }
        }
    }

    /// Runs the NIC on a thread of its own until [`NicThread::stop`].
    pub fn spawn(self) -> std::io::Result<NicThread> {
        let stop = Arc::new(AtomicBool::new(false));
        let waker = self.link.waker();
        let paths = self.link.paths().clone();
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("ferrotoe-nic".into())
            .spawn(move || {
                let mut nic = self;
                nic.run(&flag);
                nic
            })?;
        Ok(NicThread {
            stop,
            waker,
            paths,
            handle: Some(handle),
        })
    }

    /// Makes the NIC shareable with drivers that pump it (stepped mode).
    pub fn into_stepped(self) -> SteppedNic {
        SteppedNic {
            nic: Arc::new(Mutex::new(self)),
        }
    }
}

/// A NIC running on its own thread.
#[derive(Debug)]
pub struct NicThread {
    stop: Arc<AtomicBool>,
    waker: DeviceWaker,
    paths: LinkPaths,
    handle: Option<JoinHandle<SimNic>>,
}

impl NicThread {
    /// The link's files (what a driver attaches to).
    pub fn paths(&self) -> &LinkPaths {
        &self.paths
    }

    /// Stops the thread and returns the NIC (whose link stays up until it is dropped).
    pub fn stop(mut self) -> SimNic {
        self.halt().expect("the NIC thread was joined only here")
    }

    fn halt(&mut self) -> Option<SimNic> {
        self.stop.store(true, Ordering::Release);
        self.waker.wake();
        self.handle.take().and_then(|h| h.join().ok())
    }
}

impl Drop for NicThread {
    fn drop(&mut self) {
        self.halt();
    }
}

/// A NIC stepped by its users: the caller's loop and the waits of drivers attached through
/// [`attach_driver`](SteppedNic::attach_driver), which pump it instead of sleeping.
#[derive(Clone)]
pub struct SteppedNic {
    nic: Arc<Mutex<SimNic>>,
}

impl std::fmt::Debug for SteppedNic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SteppedNic").finish_non_exhaustive()
    }
}

impl SteppedNic {
    /// Runs `f` with the NIC locked.
    pub fn with<R>(&self, f: impl FnOnce(&mut SimNic) -> R) -> R {
        let mut guard = self.nic.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// One step.
    pub fn step(&self) -> StepReport {
        self.with(SimNic::step)
    }

    /// Steps until idle (at most `max_steps`).
    pub fn run_until_idle(&self, max_steps: u64) -> u64 {
        self.with(|n| n.run_until_idle(max_steps))
    }

    /// Attaches a driver to this NIC's link whose waits step the NIC.
    pub fn attach_driver(&self, opts: AttachOptions) -> Result<DriverLink, LinkError> {
        let paths = self.with(|n| n.paths().clone());
        let mut drv = DriverLink::attach(&paths, opts)?;
        let nic = Arc::clone(&self.nic);
        drv.set_pump(Box::new(move || {
            if let Ok(mut n) = nic.lock() {
                n.step();
            }
        }));
        Ok(drv)
    }
}
