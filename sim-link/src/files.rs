//! Creating, opening and validating the two files of a link (BAR0 and the link file), and the
//! pieces both sides use on them: the BAR0 image with its seqlock, and the device's doorbell.
//!
//! Owns file-level concerns only; the posted-write protocol is in `device`/`driver`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant};

use hw_spec::regs::BAR0_SIZE;

use crate::error::LinkError;
use crate::layout::*;
use crate::shm::{SharedRegion, futex_wake};

/// Where the two files of a link live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkPaths {
    /// BAR0: exactly `hw_spec::regs::BAR0_SIZE` bytes, the register image.
    pub bar0: PathBuf,
    /// The link file: posted-write FIFO, region table, interrupts (see [`crate::layout`]).
    pub link: PathBuf,
}

impl LinkPaths {
    /// `dir/bar0` and `dir/link`, the names `ferrotoe nicsim --link DIR` uses.
    pub fn in_dir(dir: &Path) -> LinkPaths {
        LinkPaths {
            bar0: dir.join("bar0"),
            link: dir.join("link"),
        }
    }
}

/// Both mapped files of a link and its geometry.
#[derive(Clone, Debug)]
pub(crate) struct Mapped {
    pub paths: LinkPaths,
    pub bar: Arc<SharedRegion>,
    pub link: Arc<SharedRegion>,
    pub layout: LinkLayout,
}

impl Mapped {
    /// Writes a fresh header; the caller created zeroed files.
    pub fn init(bar: SharedRegion, link: SharedRegion, layout: LinkLayout) -> Mapped {
        link.atomic_u32(VERSION_OFF)
            .store(LAYOUT_VERSION, Ordering::Relaxed);
        link.atomic_u32(FIFO_CAPACITY_OFF)
            .store(layout.fifo_capacity, Ordering::Relaxed);
        link.atomic_u32(REGION_SLOTS_OFF)
            .store(layout.region_slots, Ordering::Relaxed);
        link.atomic_u32(IRQ_VECTORS_OFF)
            .store(layout.irq_vectors, Ordering::Relaxed);
        link.atomic_u32(DEVICE_PID_OFF)
            .store(std::process::id(), Ordering::Relaxed);
        link.atomic_u32(DEVICE_STATE_OFF)
            .store(DeviceState::Running as u32, Ordering::Relaxed);
        // The magic goes last: a reader that sees it sees the rest.
        link.atomic_u64(MAGIC_OFF).store(MAGIC, Ordering::Release);
        Mapped {
            paths: LinkPaths {
                bar0: bar.path().to_path_buf(),
                link: link.path().to_path_buf(),
            },
            bar: Arc::new(bar),
            link: Arc::new(link),
            layout,
        }
    }

    /// Maps an existing link and checks it.
    pub fn open(paths: &LinkPaths) -> Result<Mapped, LinkError> {
        let bar = SharedRegion::open(&paths.bar0)
            .map_err(|e| LinkError::io("opening the BAR0 file", e))?;
        if bar.len() != BAR0_SIZE as usize {
            return Err(LinkError::NotALink {
                path: paths.bar0.clone(),
                reason: format!("{} bytes, BAR0 has {BAR0_SIZE}", bar.len()),
            });
        }
        let link = open_link_file(&paths.link)?;
        let layout = layout_of(&link);
        Ok(Mapped {
            paths: paths.clone(),
            bar: Arc::new(bar),
            link: Arc::new(link),
            layout,
        })
    }

    pub fn device_state(&self) -> Option<DeviceState> {
        DeviceState::from_word(
            self.link
                .atomic_u32(DEVICE_STATE_OFF)
                .load(Ordering::Acquire),
        )
    }
}

/// Opens a link file and checks its magic, version and size.
pub(crate) fn open_link_file(path: &Path) -> Result<SharedRegion, LinkError> {
    let link = SharedRegion::open(path).map_err(|e| LinkError::io("opening the link file", e))?;
    let not_a_link = |reason: String| LinkError::NotALink {
        path: path.to_path_buf(),
        reason,
    };
    if link.len() < FIFO_OFF {
        return Err(not_a_link(format!("only {} bytes", link.len())));
    }
    if link.atomic_u64(MAGIC_OFF).load(Ordering::Acquire) != MAGIC {
        return Err(not_a_link("bad magic".into()));
    }
    let version = link.atomic_u32(VERSION_OFF).load(Ordering::Relaxed);
    if version != LAYOUT_VERSION {
        return Err(LinkError::LayoutVersion {
            path: path.to_path_buf(),
            found: version,
            expected: LAYOUT_VERSION,
        });
    }
    let layout = layout_of(&link);
    layout
        .check()
        .map_err(|e| not_a_link(format!("geometry: {e}")))?;
    if layout.total_len() != link.len() {
        return Err(not_a_link(format!(
            "{} bytes, its geometry needs {}",
            link.len(),
            layout.total_len()
        )));
    }
    Ok(link)
}

fn layout_of(link: &SharedRegion) -> LinkLayout {
    LinkLayout {
        fifo_capacity: link.atomic_u32(FIFO_CAPACITY_OFF).load(Ordering::Relaxed),
        region_slots: link.atomic_u32(REGION_SLOTS_OFF).load(Ordering::Relaxed),
        irq_vectors: link.atomic_u32(IRQ_VECTORS_OFF).load(Ordering::Relaxed),
    }
}

/// The BAR0 register image as the device side updates it.
///
/// Single words are stored atomically. Several words that must change together (a 64-bit
/// counter's `LO`/`HI`, a batch of statistics) are written between [`begin_update`] and
/// [`end_update`]: a driver read never returns a word from the middle of such a batch (the
/// driver side retries around the seqlock), so the spec's `HI`, `LO`, `HI` read of 64-bit
/// counters works even though the image is written one 32-bit word at a time.
///
/// [`begin_update`]: BarImage::begin_update
/// [`end_update`]: BarImage::end_update
#[derive(Clone, Debug)]
pub struct BarImage {
    bar: Arc<SharedRegion>,
    link: Arc<SharedRegion>,
}

impl BarImage {
    pub(crate) fn new(m: &Mapped) -> BarImage {
        BarImage {
            bar: Arc::clone(&m.bar),
            link: Arc::clone(&m.link),
        }
    }

    /// The word at `offset`.
    ///
    /// # Panics
    /// Panics if `offset` is unaligned or beyond BAR0 (callers decode offsets first).
    #[inline]
    pub fn load(&self, offset: u32) -> u32 {
        self.bar.atomic_u32(offset as usize).load(Ordering::Acquire)
    }

    /// Stores the word at `offset`.
    ///
    /// # Panics
    /// As [`load`](Self::load).
    #[inline]
    pub fn store(&self, offset: u32, value: u32) {
        self.bar
            .atomic_u32(offset as usize)
            .store(value, Ordering::Release);
    }

    /// Starts a batch of stores that readers must see all or nothing of. Batches do not nest.
    #[inline]
    pub fn begin_update(&self) {
        let seq = self.link.atomic_u32(IMAGE_SEQ_OFF);
        seq.store(
            seq.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
        fence(Ordering::Release);
    }

    /// Ends the batch started by [`begin_update`](Self::begin_update).
    #[inline]
    pub fn end_update(&self) {
        let seq = self.link.atomic_u32(IMAGE_SEQ_OFF);
        seq.store(
            seq.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Release,
        );
    }

    /// Reads one word consistently with the seqlock; `None` when a batch stayed open for the
    /// whole `timeout` (a device that died mid-update).
    pub(crate) fn read_consistent(&self, offset: u32, timeout: Duration) -> Option<u32> {
        let seq = self.link.atomic_u32(IMAGE_SEQ_OFF);
        let word = self.bar.atomic_u32(offset as usize);
        let mut deadline: Option<Instant> = None;
        loop {
            let s1 = seq.load(Ordering::Acquire);
            if s1 % 2 == 0 {
                let v = word.load(Ordering::Relaxed);
                fence(Ordering::Acquire);
                if seq.load(Ordering::Relaxed) == s1 {
                    return Some(v);
                }
            }
            let d = *deadline.get_or_insert_with(|| Instant::now() + timeout);
            if Instant::now() >= d {
                return None;
            }
            std::hint::spin_loop();
            std::thread::yield_now();
        }
    }
}

/// Wakes a sleeping device: what a driver's doorbell, a cable peer or a TAP reader calls after
/// giving the device work. Cheap when the device is awake (a fence and a load); one futex
/// syscall when it sleeps.
#[derive(Clone, Debug)]
pub struct DeviceWaker {
    link: Arc<SharedRegion>,
}

impl DeviceWaker {
    pub(crate) fn new(link: Arc<SharedRegion>) -> DeviceWaker {
        DeviceWaker { link }
    }

    /// Maps the link file at `path` (of a device in another process) to wake its device.
    pub fn open(path: &Path) -> Result<DeviceWaker, LinkError> {
        Ok(DeviceWaker {
            link: Arc::new(open_link_file(path)?),
        })
    }

    /// The link file this waker wakes.
    pub fn link_path(&self) -> &Path {
        self.link.path()
    }

    /// Wakes the device if it sleeps. Call after publishing the work (with Release ordering).
    #[inline]
    pub fn wake(&self) {
        // Pairs with the device's SeqCst store of DEVICE_SLEEPING before it re-checks for
        // work: either it sees our work, or we see it sleeping.
        fence(Ordering::SeqCst);
        if self
            .link
            .atomic_u32(DEVICE_SLEEPING_OFF)
            .load(Ordering::Relaxed)
            != 0
        {
            let w = self.link.atomic_u32(WAKE_SEQ_OFF);
            w.fetch_add(1, Ordering::SeqCst);
            futex_wake(w, 1);
        }
    }
}
