//! The driver side of a link: what a driver backend (host-driver's simulation backend, tests,
//! benchmarks) calls to reach a simulated device.
//!
//! Owns the producer end of the posted-write FIFO, BAR0 reads with PCIe ordering (a read waits
//! until every earlier posted write is applied, then reads the image), DMA region registration
//! (the simulated IOMMU's map/unmap, posted in order with the writes), and waiting for
//! interrupts. Every wait is bounded by a timeout: a dead device gives
//! [`LinkError::DeviceNotResponding`] or [`LinkError::DeviceStopped`], never a hang.
//!
//! A device stepped by the caller (no thread of its own) cannot apply writes while the driver
//! waits; give the link a [`pump`](DriverLink::set_pump) that steps it, and waits run it instead
//! of sleeping.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hw_spec::regs::{BAR0_SIZE, RING_ALIGN};

use crate::error::LinkError;
use crate::files::{BarImage, DeviceWaker, LinkPaths, Mapped};
use crate::layout::*;
use crate::shm::{SharedRegion, futex_wait};

/// How long a driver waits for the device by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A function that lets a device stepped by the caller make progress (see
/// [`DriverLink::set_pump`]).
pub type Pump = Box<dyn FnMut() + Send>;

/// Options of [`DriverLink::attach`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttachOptions {
    /// Bound of every wait for the device.
    pub timeout: Duration,
    /// Take the link over even if another live process is attached.
    pub force: bool,
}

impl Default for AttachOptions {
    fn default() -> Self {
        AttachOptions {
            timeout: DEFAULT_TIMEOUT,
            force: false,
        }
    }
}

/// The driver's end of a link. One per link (the FIFO has a single producer); `&mut self`
/// methods make that a compile-time fact within a process.
pub struct DriverLink {
    files: Mapped,
    image: BarImage,
    waker: DeviceWaker,
    produced: u32,
    regions: Vec<Option<(u64, u64)>>,
    timeout: Duration,
    pump: Option<Pump>,
    /// When the driver attached: the origin of `liveness_checked_ms`.
    attached_at: Instant,
    /// When `check_alive` last looked at the device process (milliseconds since
    /// `attached_at`).
    liveness_checked_ms: AtomicU64,
}

/// How often register accesses and waits also check that the device's process still runs
/// (one read of `/proc/PID/stat`): a device killed by a signal it cannot handle (SIGKILL)
/// leaves its link marked running, and the driver would otherwise read a frozen register
/// image, or wait out its timeout on the first posted write.
const LIVENESS_INTERVAL_MS: u64 = 100;

impl std::fmt::Debug for DriverLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverLink")
            .field("paths", &self.files.paths)
            .field("timeout", &self.timeout)
            .field("pumped", &self.pump.is_some())
            .finish()
    }
}

/// Whether process `pid` still runs: it exists and is not a zombie (a driver killed with
/// SIGKILL whose parent has not reaped it, e.g. under a container's init that never reaps,
/// holds no link any more).
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold any byte.
        Ok(stat) => !matches!(
            stat.rsplit(')')
                .next()
                .map(str::trim_start)
                .and_then(|s| s.chars().next()),
            Some('Z' | 'X')
        ),
        Err(_) => Path::new(&format!("/proc/{pid}")).exists(),
    }
}

impl DriverLink {
    /// Attaches to the link at `paths` (created by the device side).
    pub fn attach(paths: &LinkPaths, opts: AttachOptions) -> Result<DriverLink, LinkError> {
        let files = Mapped::open(paths)?;
        // A device process killed by a signal it does not handle leaves its link marked
        // running: its pid says it is gone (else every read would wait out the timeout).
        let device_pid = files
            .link
            .atomic_u32(DEVICE_PID_OFF)
            .load(Ordering::Acquire);
        if files.device_state() != Some(DeviceState::Running)
            || (device_pid != 0 && !process_alive(device_pid))
        {
            return Err(LinkError::DeviceStopped {
                path: paths.link.clone(),
            });
        }
        let me = std::process::id();
        let owner = files.link.atomic_u32(DRIVER_PID_OFF);
        let previous = loop {
            let cur = owner.load(Ordering::Acquire);
            if cur != 0 && cur != me && !opts.force && process_alive(cur) {
                return Err(LinkError::DriverAttached {
                    path: paths.link.clone(),
                    pid: cur,
                });
            }
            if owner
                .compare_exchange(cur, me, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                break cur;
            }
        };
        let produced = files
            .link
            .atomic_u32(FIFO_PRODUCER_OFF)
            .load(Ordering::Acquire);
        let mut regions = vec![None; files.layout.region_slots as usize];
        for (slot, r) in regions.iter_mut().enumerate() {
            let base = files.layout.region_slot(slot as u32);
            if files
                .link
                .atomic_u32(base + SLOT_STATE)
                .load(Ordering::Acquire)
                == slot_state::MAPPED
            {
                *r = Some((
                    files
                        .link
                        .atomic_u64(base + SLOT_IOVA)
                        .load(Ordering::Relaxed),
                    files
                        .link
                        .atomic_u64(base + SLOT_LEN)
                        .load(Ordering::Relaxed),
                ));
            }
        }
        let mut link = DriverLink {
            image: BarImage::new(&files),
            waker: DeviceWaker::new(Arc::clone(&files.link)),
            files,
            produced,
            regions,
            timeout: opts.timeout,
            pump: None,
            attached_at: Instant::now(),
            liveness_checked_ms: AtomicU64::new(0),
        };
        if previous != me {
            // Regions still mapped belong to a driver that is gone (it died without detaching,
            // or was forced out): unmap them, as the kernel tears down a closed VFIO
            // container's mappings, so this driver finds the IOVA space and slots free.
            let stale: Vec<u64> = link
                .regions
                .iter()
                .flatten()
                .map(|&(iova, _)| iova)
                .collect();
            for iova in stale {
                link.unmap_dma(iova)?;
            }
        }
        Ok(link)
    }

    /// Attaches to the link in `dir` (`dir/bar0`, `dir/link`).
    pub fn attach_dir(dir: &Path) -> Result<DriverLink, LinkError> {
        Self::attach(&LinkPaths::in_dir(dir), AttachOptions::default())
    }

    /// The link's files.
    pub fn paths(&self) -> &LinkPaths {
        &self.files.paths
    }

    /// The link's geometry.
    pub fn layout(&self) -> LinkLayout {
        self.files.layout
    }

    /// Changes the bound of every wait.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Installs a pump: waits for the device call it repeatedly instead of sleeping. Use it when
    /// the device is stepped by the caller on this thread (an in-process stepped NIC gives one).
    pub fn set_pump(&mut self, pump: Pump) {
        self.pump = Some(pump);
    }

    fn word(&self, off: usize) -> &AtomicU32 {
        self.files.link.atomic_u32(off)
    }

    /// The device side's link says it is running.
    fn check_running(&self) -> Result<(), LinkError> {
        match self.files.device_state() {
            Some(DeviceState::Running) => Ok(()),
            _ => Err(LinkError::DeviceStopped {
                path: self.files.paths.link.clone(),
            }),
        }
    }

    /// The device side is running: its link says so, and (checked every
    /// [`LIVENESS_INTERVAL_MS`]) its process still exists.
    fn check_alive(&self) -> Result<(), LinkError> {
        self.check_running()?;
        let now = u64::try_from(self.attached_at.elapsed().as_millis()).unwrap_or(u64::MAX);
        if now.saturating_sub(self.liveness_checked_ms.load(Ordering::Relaxed))
            >= LIVENESS_INTERVAL_MS
        {
            self.liveness_checked_ms.store(now, Ordering::Relaxed);
            let pid = self
                .files
                .link
                .atomic_u32(DEVICE_PID_OFF)
                .load(Ordering::Acquire);
            if pid != 0 && !process_alive(pid) {
                return Err(LinkError::DeviceStopped {
                    path: self.files.paths.link.clone(),
                });
            }
        }
        Ok(())
    }

    /// Waits until `done()` holds, pumping or sleeping on `futex` (with `waiters` counted).
    fn wait_for(
        &mut self,
        what: &'static str,
        futex: usize,
        waiters: usize,
        done: impl Fn(&Self) -> bool,
    ) -> Result<(), LinkError> {
        if done(self) {
            return Ok(());
        }
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            if done(self) {
                return Ok(());
            }
            self.check_alive()?;
            let waited = start.elapsed();
            if waited >= self.timeout {
                return Err(LinkError::DeviceNotResponding {
                    path: self.files.paths.link.clone(),
                    what,
                    waited,
                });
            }
            if let Some(pump) = self.pump.as_mut() {
                pump();
                continue;
            }
            if spins < 64 {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            let word = self.files.link.atomic_u32(futex);
            let seen = word.load(Ordering::SeqCst);
            let w = self.files.link.atomic_u32(waiters);
            w.fetch_add(1, Ordering::SeqCst);
            if !done(self) {
                let slice = (self.timeout - waited).min(Duration::from_millis(10));
                futex_wait(word, seen, Some(slice));
            }
            w.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn applied(&self) -> u32 {
        self.word(FIFO_APPLIED_OFF).load(Ordering::SeqCst)
    }

    fn push(&mut self, kind: u32, arg: u32, value: u32) -> Result<(), LinkError> {
        let cap = self.files.layout.fifo_capacity;
        if self.produced.wrapping_sub(self.applied()) >= cap {
            self.waker.wake();
            self.wait_for(
                "room in the posted-write FIFO",
                FIFO_APPLIED_OFF,
                FIFO_WAITERS_OFF,
                |s| s.produced.wrapping_sub(s.applied()) < cap,
            )?;
        }
        let slot = self.produced % cap;
        self.files
            .link
            .atomic_u64(self.files.layout.fifo_entry(slot))
            .store(entry::pack(kind, arg, value), Ordering::Relaxed);
        self.produced = self.produced.wrapping_add(1);
        self.word(FIFO_PRODUCER_OFF)
            .store(self.produced, Ordering::Release);
        self.waker.wake();
        Ok(())
    }

    /// Posts a 32-bit write of `value` at BAR0 `offset`. Returns once the write is queued; the
    /// device applies writes in order. A stopped device is an error at once. An unaligned offset is passed on for the device to
    /// report (`BAD_REGISTER_ACCESS`).
    pub fn write32(&mut self, offset: u32, value: u32) -> Result<(), LinkError> {
        if offset >= BAR0_SIZE {
            return Err(LinkError::OutOfBar { offset });
        }
        // The link's state only: a posted write (a doorbell) is hot, and a dead device
        // process is noticed by the next read or wait (`check_alive`).
        self.check_running()?;
        self.push(entry::WRITE32, offset, value)
    }

    /// Waits until the device has applied every write posted so far.
    pub fn flush(&mut self) -> Result<(), LinkError> {
        let target = self.produced;
        self.wait_for(
            "the device to apply posted writes",
            FIFO_APPLIED_OFF,
            FIFO_WAITERS_OFF,
            |s| s.applied().wrapping_sub(target) as i32 >= 0,
        )
    }

    /// Reads the 32-bit register at BAR0 `offset`: first waits until every earlier posted
    /// write is applied (reads do not pass writes), then reads the image.
    ///
    /// An unaligned read returns 0 and is reported to the device (`BAD_REGISTER_ACCESS`).
    pub fn read32(&mut self, offset: u32) -> Result<u32, LinkError> {
        if offset >= BAR0_SIZE {
            return Err(LinkError::OutOfBar { offset });
        }
        self.check_alive()?;
        self.read32_checked(offset)
    }

    /// [`read32`](Self::read32) once the offset is in BAR0 and the device is known alive.
    fn read32_checked(&mut self, offset: u32) -> Result<u32, LinkError> {
        if offset % 4 != 0 {
            self.push(entry::BAD_READ, offset, 0)?;
            return Ok(0);
        }
        self.flush()?;
        self.image
            .read_consistent(offset, self.timeout)
            .ok_or_else(|| LinkError::DeviceNotResponding {
                path: self.files.paths.link.clone(),
                what: "a consistent register image",
                waited: self.timeout,
            })
    }

    /// Reads a 64-bit counter from its `LO`/`HI` pair as the spec says (`HI`, `LO`, `HI`,
    /// retried while the two `HI` values differ).
    pub fn read64(&mut self, lo_offset: u32) -> Result<u64, LinkError> {
        if lo_offset.saturating_add(4) >= BAR0_SIZE {
            return Err(LinkError::OutOfBar {
                offset: lo_offset.saturating_add(4),
            });
        }
        // Checked once: the three reads of a try stay close together, so a counter that
        // changes often is still caught holding still.
        self.check_alive()?;
        for _ in 0..1000 {
            let hi = self.read32_checked(lo_offset + 4)?;
            let lo = self.read32_checked(lo_offset)?;
            if self.read32_checked(lo_offset + 4)? == hi {
                return Ok((u64::from(hi) << 32) | u64::from(lo));
            }
        }
        Err(LinkError::DeviceNotResponding {
            path: self.files.paths.link.clone(),
            what: "a 64-bit counter to hold still",
            waited: self.timeout,
        })
    }

    /// Registers the first `len` bytes of the file at `path` as DMA memory at `iova` (the
    /// simulated IOMMU's map). The device maps the file itself; this returns once it has, or
    /// with its error. `iova` must be 4 KiB aligned and the range free.
    pub fn map_dma_path(&mut self, path: &Path, len: u64, iova: u64) -> Result<(), LinkError> {
        if iova % RING_ALIGN != 0 {
            return Err(LinkError::BadRegion {
                iova,
                len,
                reason: "the IOVA is not 4 KiB aligned",
            });
        }
        if len == 0 || iova.checked_add(len).is_none() {
            return Err(LinkError::BadRegion {
                iova,
                len,
                reason: "the length is 0 or the range wraps",
            });
        }
        if let Some((other, _)) = self
            .regions
            .iter()
            .flatten()
            .find(|(o, l)| iova < o + l && *o < iova + len)
        {
            return Err(LinkError::RegionOverlap {
                iova,
                len,
                other: *other,
            });
        }
        let bytes = path.as_os_str().as_encoded_bytes();
        if bytes.len() > MAX_PATH_LEN || std::str::from_utf8(bytes).is_err() {
            return Err(LinkError::PathTooLong {
                path: path.to_path_buf(),
                max: MAX_PATH_LEN,
            });
        }
        let slot =
            self.regions
                .iter()
                .position(Option::is_none)
                .ok_or(LinkError::NoFreeRegionSlot {
                    slots: self.files.layout.region_slots,
                })? as u32;
        let base = self.files.layout.region_slot(slot);
        let link = Arc::clone(&self.files.link);
        link.atomic_u64(base + SLOT_IOVA)
            .store(iova, Ordering::Relaxed);
        link.atomic_u64(base + SLOT_LEN)
            .store(len, Ordering::Relaxed);
        link.atomic_u32(base + SLOT_PATH_LEN)
            .store(bytes.len() as u32, Ordering::Relaxed);
        link.write((base + SLOT_PATH) as u64, bytes)
            .expect("slot inside the link file");
        link.atomic_u32(base + SLOT_STATE)
            .store(slot_state::REQUESTED, Ordering::Release);
        self.push(entry::MAP_REGION, slot, 0)?;
        self.flush()?;
        match link.atomic_u32(base + SLOT_STATE).load(Ordering::Acquire) {
            slot_state::MAPPED => {
                self.regions[slot as usize] = Some((iova, len));
                Ok(())
            }
            _ => {
                let errno = link.atomic_u32(base + SLOT_ERRNO).load(Ordering::Relaxed) as i32;
                link.atomic_u32(base + SLOT_STATE)
                    .store(slot_state::FREE, Ordering::Release);
                Err(LinkError::DeviceCouldNotMap {
                    path: path.to_path_buf(),
                    errno,
                })
            }
        }
    }

    /// Registers the whole of `mem` as DMA memory at `iova` (see [`map_dma_path`]).
    ///
    /// [`map_dma_path`]: Self::map_dma_path
    pub fn map_dma(&mut self, mem: &SharedRegion, iova: u64) -> Result<(), LinkError> {
        self.map_dma_path(mem.path(), mem.len() as u64, iova)
    }

    /// Removes the DMA region registered at `iova`; returns once the device has unmapped it.
    pub fn unmap_dma(&mut self, iova: u64) -> Result<(), LinkError> {
        let slot = self
            .regions
            .iter()
            .position(|r| r.is_some_and(|(o, _)| o == iova))
            .ok_or(LinkError::NotMapped { iova })?;
        self.push(entry::UNMAP_REGION, slot as u32, 0)?;
        self.flush()?;
        self.regions[slot] = None;
        Ok(())
    }

    /// The interrupt side of the link: a handle other threads may keep.
    pub fn interrupts(&self) -> Interrupts {
        Interrupts {
            link: Arc::clone(&self.files.link),
            layout: self.files.layout,
        }
    }

    /// Waits (pumping a stepped device) until vector `vector` has been signalled since the
    /// driver saw count `seen`; returns the new count, or `None` on timeout.
    pub fn wait_irq(
        &mut self,
        vector: u32,
        seen: u32,
        timeout: Duration,
    ) -> Result<Option<u32>, LinkError> {
        let irq = self.interrupts();
        if self.pump.is_none() {
            return irq.wait(vector, seen, timeout);
        }
        let start = Instant::now();
        loop {
            let c = irq.count(vector)?;
            if c != seen {
                return Ok(Some(c));
            }
            if start.elapsed() >= timeout {
                return Ok(None);
            }
            self.check_alive()?;
            if let Some(p) = self.pump.as_mut() {
                p();
            }
        }
    }

    /// Asks a device process to exit (`ferrotoe nicsim` honours it).
    pub fn request_device_shutdown(&self) {
        self.word(SHUTDOWN_OFF).store(1, Ordering::Release);
        self.waker.wake();
    }

    /// Whether the device side is running.
    pub fn device_running(&self) -> bool {
        self.files.device_state() == Some(DeviceState::Running)
    }

    /// Path of the link file (for messages).
    pub fn link_path(&self) -> PathBuf {
        self.files.paths.link.clone()
    }
}

impl Drop for DriverLink {
    fn drop(&mut self) {
        let _ = self.word(DRIVER_PID_OFF).compare_exchange(
            std::process::id(),
            0,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }
}

/// The interrupt lines of a link, as the driver sees them: per-vector signal counts, and waits.
///
/// Signals are counts, not flags: a driver remembers the count it last handled and waits for it
/// to change, so no signal is lost between a check and a wait. Masked vectors are counted in the
/// device's `IRQ.VECTOR.EVENTS` but not signalled here.
#[derive(Clone, Debug)]
pub struct Interrupts {
    link: Arc<SharedRegion>,
    layout: LinkLayout,
}

impl Interrupts {
    /// Number of vectors.
    pub fn vectors(&self) -> u32 {
        self.layout.irq_vectors
    }

    fn line(&self, vector: Option<u32>) -> Result<usize, LinkError> {
        match vector {
            None => Ok(self.layout.irq_any_off()),
            Some(v) if v < self.layout.irq_vectors => Ok(self.layout.irq_vector_off(v)),
            Some(v) => Err(LinkError::NoSuchVector {
                vector: v,
                vectors: self.layout.irq_vectors,
            }),
        }
    }

    /// Signals on `vector` so far (wrapping).
    pub fn count(&self, vector: u32) -> Result<u32, LinkError> {
        let off = self.line(Some(vector))?;
        Ok(self
            .link
            .atomic_u32(off + IRQ_COUNT)
            .load(Ordering::Acquire))
    }

    /// Signals on all vectors so far (wrapping).
    pub fn count_any(&self) -> u32 {
        self.link
            .atomic_u32(self.layout.irq_any_off() + IRQ_COUNT)
            .load(Ordering::Acquire)
    }

    fn wait_line(&self, off: usize, seen: u32, timeout: Duration) -> Option<u32> {
        let count = self.link.atomic_u32(off + IRQ_COUNT);
        let waiters = self.link.atomic_u32(off + IRQ_WAITERS);
        let start = Instant::now();
        loop {
            let c = count.load(Ordering::SeqCst);
            if c != seen {
                return Some(c);
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return None;
            }
            waiters.fetch_add(1, Ordering::SeqCst);
            if count.load(Ordering::SeqCst) == seen {
                futex_wait(count, seen, Some(timeout - waited));
            }
            waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Sleeps until `vector`'s count differs from `seen`; the new count, or `None` after
    /// `timeout`. Not for a device stepped by this thread (use [`DriverLink::wait_irq`]).
    pub fn wait(
        &self,
        vector: u32,
        seen: u32,
        timeout: Duration,
    ) -> Result<Option<u32>, LinkError> {
        Ok(self.wait_line(self.line(Some(vector))?, seen, timeout))
    }

    /// Sleeps until any vector is signalled after the "any" count `seen`.
    pub fn wait_any(&self, seen: u32, timeout: Duration) -> Option<u32> {
        self.wait_line(self.layout.irq_any_off(), seen, timeout)
    }
}
