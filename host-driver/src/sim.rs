//! The simulation backend: [`DeviceAccess`] over a `sim-link` to a simulated ferrotoe NIC.
//!
//! Owns [`SimDevice`]: BAR0 reads and posted writes through a [`DriverLink`], DMA memory as
//! sealed memfds registered with the link's simulated IOMMU at IOVAs from an
//! [`IovaAllocator`], interrupt vectors as eventfds fed from the link's interrupt counts, and the
//! stepping of a device that runs on the caller's thread. The device may be
//! - **stepped** in this process ([`SimDevice::stepped`]: the driver's waits step it),
//! - **threaded** in this process ([`SimDevice::from_link`] on a link whose NIC has its own
//!   thread), or
//! - a **separate process**, `ferrotoe nicsim --link DIR` ([`SimDevice::attach_dir`]).
//!
//! A simulated device that stops (its process exits, its link times out) behaves as hardware
//! that fell off the bus: reads return all ones and writes are dropped, and
//! [`failure`](DeviceAccess::failure) says what happened. The first link failure is latched:
//! later accesses fail at once instead of each waiting out the link's timeout.
//!
//! Must not know what the registers mean (that is `hw-spec` and the driver) nor anything about
//! the device's implementation (`rtl-sim`): it sees the link only.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sim_link::{AttachOptions, DriverLink, Interrupts, LinkError, LinkPaths};

use crate::access::{DeviceAccess, DmaConstraints, ResetOutcome};
use crate::dma::{DeviceMapping, DmaMemory, DmaRegion};
use crate::error::{DeviceError, DeviceErrorKind, RegisterError, check_register_access};
use crate::iova::IovaAllocator;
use crate::irq::InterruptEvent;

/// Address bits of the simulated IOMMU (a 48-bit IOVA space, as x86 IOMMUs with 4-level tables).
pub const SIM_DMA_MASK_BITS: u8 = 48;
/// Granule of simulated DMA memory: a 4 KiB page (the link wants 4 KiB aligned regions).
pub const SIM_DMA_GRANULE: usize = 4096;

/// A function that steps a simulated device running on the caller's thread.
pub type StepFn = Arc<dyn Fn() + Send + Sync>;

struct LinkState {
    link: DriverLink,
    iova: IovaAllocator,
    /// The first link failure; every later access short-circuits.
    failure: Option<String>,
}

fn lock(m: &Mutex<LinkState>) -> MutexGuard<'_, LinkState> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Translates a link error into a device error with the step that failed and a fix.
pub fn link_error(location: &str, step: &str, e: LinkError) -> DeviceError {
    use DeviceErrorKind as K;
    let (kind, fix) = match &e {
        LinkError::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => (
            K::PermissionDenied,
            "run the driver as the user that runs `ferrotoe nicsim`, or as root (the driver \
             reads and writes the link's files `bar0` and `link`)",
        ),
        LinkError::Io { .. } => (
            K::NotFound,
            "start the simulated NIC first (`ferrotoe nicsim --link DIR`), or use \
             `ferrotoe probe --spawn-sim` for one in this process",
        ),
        LinkError::NotALink { .. } => (
            K::WrongDevice,
            "point the driver at the directory a running `ferrotoe nicsim --link DIR` created",
        ),
        LinkError::LayoutVersion { .. } => (
            K::WrongDevice,
            "run `ferrotoe nicsim` and the driver from the same ferrotoe build (restart the \
             NIC with this build's `ferrotoe nicsim`)",
        ),
        LinkError::DriverAttached { .. } => (
            K::GroupBusy,
            "stop the other driver process (one driver per simulated NIC)",
        ),
        LinkError::DeviceStopped { .. } => (
            K::NotFound,
            "restart the simulated NIC (`ferrotoe nicsim --link DIR`)",
        ),
        LinkError::DeviceNotResponding { .. } => (
            K::Timeout,
            "check that the simulated NIC's process, thread or stepping loop is running",
        ),
        LinkError::NoFreeRegionSlot { .. } => (
            K::TooManyMappings,
            "start the simulated NIC with more DMA region slots (`ferrotoe nicsim --dma-regions N`)",
        ),
        LinkError::DeviceCouldNotMap { .. } => (
            K::PermissionDenied,
            "run the simulator as the driver's user (it maps the driver's DMA memory through \
             /proc/<pid>/fd), or as root",
        ),
        LinkError::NoSuchVector { .. } => (
            K::Unsupported,
            "ask for at most max_interrupt_vectors() vectors",
        ),
        _ => (
            K::Io,
            "this is a driver bug: report it with the message above",
        ),
    };
    DeviceError::new(kind, location, step, e.to_string()).with_fix(fix)
}

/// The driver's side of a simulated ferrotoe NIC.
pub struct SimDevice {
    location: String,
    state: Arc<Mutex<LinkState>>,
    irq: Interrupts,
    step: Option<StepFn>,
    vectors: Vec<Arc<InterruptEvent>>,
    seen: Box<[AtomicU32]>,
    bridge: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
    /// Mirror of `state.failure.is_some()`, read without the lock.
    failed: Arc<AtomicBool>,
}

impl std::fmt::Debug for SimDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDevice")
            .field("location", &self.location)
            .field("stepped", &self.step.is_some())
            .field("vectors", &self.vectors.len())
            .finish()
    }
}

impl SimDevice {
    /// Attaches to the simulated NIC whose link files are in `dir` (what `ferrotoe nicsim
    /// --link DIR` creates).
    pub fn attach_dir(dir: &Path, opts: AttachOptions) -> Result<SimDevice, DeviceError> {
        let location = format!("sim:{}", dir.display());
        let link = DriverLink::attach(&LinkPaths::in_dir(dir), opts).map_err(|e| {
            link_error(&location, "attaching to the simulated NIC's link", e).with_path(dir)
        })?;
        Ok(Self::build(location, link, None))
    }

    /// Attaches to the simulated NIC whose link files are at `paths`.
    pub fn attach(paths: &LinkPaths, opts: AttachOptions) -> Result<SimDevice, DeviceError> {
        let location = format!("sim:{}", paths.link.display());
        let link = DriverLink::attach(paths, opts).map_err(|e| {
            link_error(&location, "attaching to the simulated NIC's link", e).with_path(&paths.link)
        })?;
        Ok(Self::build(location, link, None))
    }

    /// Wraps a link to a device that runs by itself (its own thread or process).
    pub fn from_link(link: DriverLink) -> SimDevice {
        let location = format!("sim:{}", link.link_path().display());
        Self::build(location, link, None)
    }

    /// Wraps a link to a device stepped by this process: `step` runs one device step. Every
    /// wait of the driver (register reads, completions, interrupts) steps the device instead of
    /// sleeping, so nothing moves unless the driver waits or the caller steps.
    pub fn stepped(mut link: DriverLink, step: impl Fn() + Send + Sync + 'static) -> SimDevice {
        let step: StepFn = Arc::new(step);
        let for_link = Arc::clone(&step);
        link.set_pump(Box::new(move || for_link()));
        let location = format!("sim:{}", link.link_path().display());
        Self::build(location, link, Some(step))
    }

    fn build(location: String, link: DriverLink, step: Option<StepFn>) -> SimDevice {
        let irq = link.interrupts();
        let iova = IovaAllocator::new(
            std::slice::from_ref(&(0..u64::MAX)),
            SIM_DMA_MASK_BITS,
            SIM_DMA_GRANULE as u64,
        );
        SimDevice {
            location,
            state: Arc::new(Mutex::new(LinkState {
                link,
                iova,
                failure: None,
            })),
            irq,
            step,
            vectors: Vec::new(),
            seen: Box::new([]),
            bridge: None,
            failed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the device is stepped by this process.
    pub fn is_stepped(&self) -> bool {
        self.step.is_some()
    }

    /// Changes the bound of every wait for the device (default [`sim_link::DEFAULT_TIMEOUT`]).
    pub fn set_timeout(&self, timeout: Duration) {
        lock(&self.state).link.set_timeout(timeout);
    }

    /// Asks a device process to exit (`ferrotoe nicsim` honours it).
    pub fn request_device_shutdown(&self) {
        lock(&self.state).link.request_device_shutdown();
    }

    fn fail(&self, state: &mut LinkState, what: &str, e: LinkError) {
        if state.failure.is_none() {
            state.failure = Some(format!("{what}: {e}"));
            self.failed.store(true, Ordering::Release);
        }
    }

    fn stop_bridge(&mut self) {
        if let Some((stop, handle)) = self.bridge.take() {
            stop.store(true, Ordering::Release);
            let _ = handle.join();
        }
    }
}

/// Forwards the link's interrupt counts to eventfds, so event loops can wait on a simulated
/// device's vectors like on VFIO's.
fn spawn_bridge(
    irq: Interrupts,
    events: Vec<Arc<InterruptEvent>>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ferrotoe-sim-irq".into())
        .spawn(move || {
            let mut last: Vec<u32> = (0..events.len() as u32)
                .map(|v| irq.count(v).unwrap_or(0))
                .collect();
            while !stop.load(Ordering::Acquire) {
                let any = irq.count_any();
                for (v, event) in events.iter().enumerate() {
                    let c = irq.count(v as u32).unwrap_or(last[v]);
                    if c != last[v] {
                        last[v] = c;
                        let _ = event.signal();
                    }
                }
                // Bounded, so a stop request is seen within 20 ms.
                irq.wait_any(any, Duration::from_millis(20));
            }
        })
}

struct SimMapping {
    state: Arc<Mutex<LinkState>>,
    iova: u64,
    len: u64,
}

impl DeviceMapping for SimMapping {
    fn revoke(self: Box<Self>) -> Result<(), String> {
        let mut st = lock(&self.state);
        if !st.link.device_running() {
            // The device side is gone, and its mappings with it.
            st.iova.free(self.iova, self.len);
            return Ok(());
        }
        if let Some(why) = &st.failure {
            return Err(format!(
                "the simulated device stopped answering ({why}) but may still run"
            ));
        }
        match st.link.unmap_dma(self.iova) {
            Ok(()) => {
                st.iova.free(self.iova, self.len);
                Ok(())
            }
            Err(e) if !st.link.device_running() => {
                let _ = e;
                st.iova.free(self.iova, self.len);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

impl DeviceAccess for SimDevice {
    fn location(&self) -> &str {
        &self.location
    }

    fn bar0_len(&self) -> usize {
        hw_spec::regs::BAR0_SIZE as usize
    }

    fn read32(&self, offset: usize) -> Result<u32, RegisterError> {
        check_register_access(offset, self.bar0_len())?;
        if self.failed.load(Ordering::Acquire) {
            return Ok(u32::MAX);
        }
        let mut st = lock(&self.state);
        match st.link.read32(offset as u32) {
            Ok(v) => Ok(v),
            Err(e) => {
                self.fail(&mut st, &format!("reading BAR0 offset {offset:#x}"), e);
                Ok(u32::MAX)
            }
        }
    }

    fn write32(&self, offset: usize, value: u32) -> Result<(), RegisterError> {
        check_register_access(offset, self.bar0_len())?;
        if self.failed.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut st = lock(&self.state);
        if let Err(e) = st.link.write32(offset as u32, value) {
            self.fail(&mut st, &format!("writing BAR0 offset {offset:#x}"), e);
        }
        Ok(())
    }

    fn dma_constraints(&self) -> DmaConstraints {
        DmaConstraints {
            granule: SIM_DMA_GRANULE,
            dma_mask_bits: SIM_DMA_MASK_BITS,
        }
    }

    fn alloc_dma(&self, len: usize) -> Result<DmaRegion, DeviceError> {
        let rounded = len.max(1).next_multiple_of(SIM_DMA_GRANULE);
        let step = format!("allocating {rounded} bytes of DMA memory");
        let (memory, file) = DmaMemory::shared_memfd("ferrotoe-dma", rounded).map_err(|e| {
            DeviceError::from_io(DeviceErrorKind::Io, &self.location, &step, e)
                .with_fix("check the memory limits of this process (`ulimit -v`, cgroups)")
        })?;
        let mut st = lock(&self.state);
        if let Some(why) = &st.failure {
            return Err(DeviceError::new(
                DeviceErrorKind::Timeout,
                &self.location,
                step,
                format!("the simulated device has stopped answering: {why}"),
            )
            .with_fix("restart the simulated NIC and attach again"));
        }
        let iova = st.iova.alloc(rounded as u64).map_err(|e| {
            DeviceError::new(
                DeviceErrorKind::IovaExhausted,
                &self.location,
                &step,
                e.to_string(),
            )
            .with_fix("free DMA regions you no longer need")
        })?;
        // The device opens the memfd through /proc while `file` is open, then keeps its own
        // mapping; `map_dma_path` returns once it has.
        let path = format!("/proc/{}/fd/{}", std::process::id(), {
            use std::os::fd::AsRawFd;
            file.as_raw_fd()
        });
        if let Err(e) = st.link.map_dma_path(Path::new(&path), rounded as u64, iova) {
            st.iova.free(iova, rounded as u64);
            return Err(link_error(&self.location, &step, e).with_path(&path));
        }
        drop(st);
        drop(file);
        Ok(DmaRegion::new(
            Arc::new(memory),
            iova,
            Box::new(SimMapping {
                state: Arc::clone(&self.state),
                iova,
                len: rounded as u64,
            }),
        ))
    }

    fn max_interrupt_vectors(&self) -> u32 {
        self.irq.vectors()
    }

    fn enable_interrupts(&mut self, count: u32) -> Result<(), DeviceError> {
        if count > self.irq.vectors() {
            return Err(DeviceError::new(
                DeviceErrorKind::Unsupported,
                &self.location,
                format!("enabling {count} interrupt vectors"),
                format!(
                    "the simulated NIC's link has {} vectors",
                    self.irq.vectors()
                ),
            )
            .with_fix("ask for at most max_interrupt_vectors() vectors, or poll"));
        }
        self.stop_bridge();
        let mut events = Vec::with_capacity(count as usize);
        for _ in 0..count {
            events.push(Arc::new(InterruptEvent::new().map_err(|e| {
                DeviceError::from_io(
                    DeviceErrorKind::Io,
                    &self.location,
                    "creating an eventfd for an interrupt vector",
                    e,
                )
            })?));
        }
        self.seen = (0..count)
            .map(|v| AtomicU32::new(self.irq.count(v).unwrap_or(0)))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let handle =
            spawn_bridge(self.irq.clone(), events.clone(), Arc::clone(&stop)).map_err(|e| {
                DeviceError::from_io(
                    DeviceErrorKind::Io,
                    &self.location,
                    "starting the interrupt forwarding thread",
                    e,
                )
            })?;
        self.bridge = Some((stop, handle));
        self.vectors = events;
        Ok(())
    }

    fn disable_interrupts(&mut self) -> Result<(), DeviceError> {
        self.stop_bridge();
        self.vectors.clear();
        self.seen = Box::new([]);
        Ok(())
    }

    fn interrupt(&self, vector: u32) -> Option<&InterruptEvent> {
        self.vectors.get(vector as usize).map(|v| &**v)
    }

    /// Waits on the link's count for `vector` (stepping a stepped device meanwhile): the same
    /// events the eventfd sees, counted separately.
    fn wait_interrupt(&self, vector: u32, timeout: Duration) -> Result<u64, DeviceError> {
        let Some(seen) = self.seen.get(vector as usize) else {
            return Err(DeviceError::new(
                DeviceErrorKind::Unsupported,
                &self.location,
                format!("waiting for interrupt vector {vector}"),
                "the vector is not enabled",
            )
            .with_fix("call enable_interrupts with a count above the vector first"));
        };
        let before = seen.load(Ordering::Acquire);
        let now = match &self.step {
            Some(step) => {
                let start = Instant::now();
                loop {
                    let c = self.irq.count(vector).unwrap_or(before);
                    if c != before || start.elapsed() >= timeout {
                        break c;
                    }
                    step();
                }
            }
            None => self
                .irq
                .wait(vector, before, timeout)
                .map_err(|e| {
                    link_error(
                        &self.location,
                        &format!("waiting for interrupt vector {vector}"),
                        e,
                    )
                })?
                .unwrap_or(before),
        };
        seen.store(now, Ordering::Release);
        Ok(u64::from(now.wrapping_sub(before)))
    }

    fn relax(&self, attempt: u32) {
        match &self.step {
            Some(step) => step(),
            None if attempt < 32 => std::hint::spin_loop(),
            None if attempt < 256 => std::thread::yield_now(),
            None => std::thread::sleep(Duration::from_micros(20)),
        }
    }

    fn failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.state).failure.clone()
    }

    /// A simulated NIC has no function-level reset: the driver resets it through its control
    /// register.
    fn reset(&mut self) -> Result<ResetOutcome, DeviceError> {
        Ok(ResetOutcome::Unsupported {
            reason: "a simulated NIC has no function-level reset (use CONTROL.CTRL.RESET)".into(),
        })
    }

    /// Unbinds the interrupt vectors. The simulated device has no bus-master switch: its DMA
    /// ends when the driver's regions are unmapped from the simulated IOMMU, which dropping
    /// them does.
    fn quiesce(&mut self) -> Result<(), DeviceError> {
        self.disable_interrupts()
    }
}

impl Drop for SimDevice {
    fn drop(&mut self) {
        let _ = self.quiesce();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What attaching to `/run/nic0` with link error `e` reports: its kind and its fix.
    fn attach_error(e: LinkError) -> (DeviceErrorKind, String) {
        let e = link_error("sim:/run/nic0", "attaching to the simulated NIC's link", e);
        (e.kind(), e.fix().unwrap_or_default().to_owned())
    }

    fn bar0_open_error(kind: std::io::ErrorKind) -> LinkError {
        LinkError::Io {
            what: "opening the BAR0 file: cannot open /run/nic0/bar0".into(),
            source: std::io::Error::from(kind),
        }
    }

    /// A link whose files the driver's user may not open is not a NIC that is missing: the
    /// error says so and how to get access, not "start the simulated NIC first".
    #[test]
    fn link_files_without_permission_say_how_to_get_access() {
        let (kind, fix) = attach_error(bar0_open_error(std::io::ErrorKind::PermissionDenied));
        assert_eq!(kind, DeviceErrorKind::PermissionDenied, "{fix}");
        assert!(
            fix.contains("the user that runs `ferrotoe nicsim`") && fix.contains("root"),
            "{fix}"
        );
        // A missing file still says to start the NIC.
        let (kind, fix) = attach_error(bar0_open_error(std::io::ErrorKind::NotFound));
        assert_eq!(kind, DeviceErrorKind::NotFound, "{fix}");
        assert!(fix.contains("start the simulated NIC first"), "{fix}");
    }

    /// A link of another layout version is a NIC of another build: the fix says to use one.
    #[test]
    fn a_link_of_another_build_says_to_run_both_sides_from_one_build() {
        let (kind, fix) = attach_error(LinkError::LayoutVersion {
            path: "/run/nic0/link".into(),
            found: 9,
            expected: 1,
        });
        assert_eq!(kind, DeviceErrorKind::WrongDevice, "{fix}");
        assert!(fix.contains("from the same ferrotoe build"), "{fix}");
    }
}
