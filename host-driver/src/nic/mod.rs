//! The driver of the ferrotoe NIC, generic over [`DeviceAccess`]: it runs unchanged on real
//! hardware through VFIO, on the simulated NIC through sim-link, and on a fake.
//!
//! # Shape
//!
//! ```text
//! let nic = Nic::open(device, NicConfig::default())?;       // discover, reset, interrupts
//! let mut qp = nic.open_queue_pair(0, &QueueConfig::default())?;  // rings, pool, buffers posted
//! nic.start()?;                                             // RSS, CTRL.ENABLE
//! let mut batch = PacketBatch::with_capacity(32);
//! qp.rx_burst(&mut batch);                                  // received frames, zero copy
//! qp.tx_burst(&mut batch);                                  // send them (offload per packet)
//! ```
//!
//! - [`Nic`]: one device. Walks the block chain ([`DeviceInfo`]), refuses what it cannot drive,
//!   resets the device and enables interrupt vectors. Shared between threads (`Clone`, `Sync`
//!   when the backend is); each thread opens its own [`QueuePair`].
//! - [`QueuePair`]: TX queue `i`, RX queue `i` and completion queues `2i` (TX) and `2i + 1`
//!   (RX), with their rings in one DMA region and a [`PacketPool`] of buffers (plus an optional
//!   pool of large buffers for TSO super-frames). Lives on the thread that opened it (its pool
//!   is `Rc`-shared with its packets, which makes a packet handle free of atomics).
//! - Bursts in the DPDK/ixy shape: [`QueuePair::rx_burst`] and [`QueuePair::tx_burst`] move
//!   [`PacketBuf`]s in and out of a fixed-capacity [`PacketBatch`] and return how many moved.
//!   Per packet, TX carries hw-spec's [`TxOffloadRequest`](hw_spec::TxOffloadRequest)
//!   (checksums, TSO with MSS and header lengths) and RX reports [`RxInfo`] (checksum status
//!   per layer, RSS hash). [`QueuePair::tx_prepare`] checks requests with
//!   [`hw_spec::validate_tx_request`] before they go out.
//!
//! # The hot path
//!
//! - Completions are read from host memory by their phase bit: no MMIO read.
//! - One doorbell per TX burst; RX refills are posted with one doorbell per
//!   `rx_doorbell_batch` buffers (or sooner when the device runs low); completion queue entries
//!   are returned with a lazy `SET_CONS` once a threshold has been consumed. Completion rings are
//!   twice the size of their descriptor ring where the device allows, so the lag never stalls or
//!   drops anything.
//! - No allocation: rings, pools, slot tables and batches are sized at set-up.
//!
//! # A device that misbehaves
//!
//! Every completion is checked before the driver acts on it: it must decode, be of the right
//! kind and queue, name exactly the next ring index in flight, span the descriptors the request
//! had, and (RX) report a length within the buffer and checksum statuses hw-spec section 7.1
//! can produce (impossible ones are replaced by `UNKNOWN`, so the stack verifies in software,
//! and noted as a fault: a device's verdict is never trusted beyond its contract). A violation
//! is counted in [`Misbehaviour`], latched as the queue's first [`QueueFault`] (with the entry's bytes), and
//! touches no buffer it should not; error completions are counted by code and their buffers
//! recycled. Waits for the device are bounded ([`NicConfig::timeout`]) and end in a
//! [`DeviceError`]; a device that reads all ones (gone, or a stopped simulator) is reported as
//! not responding. One burst (`rx_burst`, `reclaim_tx`) takes at most one ring's worth of
//! completion entries, however many a device keeps writing. Nothing a device does makes the driver panic, hang or touch memory outside
//! its own DMA regions.
//!
//! Owns the driver's logic; all register offsets and descriptor fields come from `hw-spec`, all
//! device access goes through [`DeviceAccess`]. Must not know which backend it runs on.

mod batch;
pub(crate) mod desc;
mod discover;
#[allow(unsafe_code)]
mod pool;
mod queue;
mod stats;

pub use batch::PacketBatch;
pub use discover::{BlockBases, BlockInfo, DeviceInfo, MAX_BLOCKS, block_name};
pub use pool::{CapacityError, PacketBuf, PacketPool, RxInfo};
pub use queue::{QueueConfig, QueuePair};
pub use stats::{
    DeviceStats, Direction, ErrorCounts, FaultKind, LastError, Misbehaviour, QueueFault,
    QueueStats, RxQueueCounters, TxQueueCounters, read_device_stats,
};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hw_spec::layout::Register;
use hw_spec::regs::{control, queue as qregs, rss};
use hw_spec::{QueueCommand, QueueKind};

use crate::access::{DeviceAccess, ResetOutcome};
use crate::error::{DeviceError, DeviceErrorKind};

/// A symmetric Toeplitz key (the 16-bit pattern `0x6d5a` repeated): both directions of a flow
/// hash alike, so a connection's frames land on one queue whichever way they travel.
pub const SYMMETRIC_RSS_KEY: [u8; hw_spec::rss::KEY_LEN] = {
    let mut k = [0u8; hw_spec::rss::KEY_LEN];
    let mut i = 0;
    while i < k.len() {
        k[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    k
};

/// Entries of the RSS indirection table (`RSS_TABLE`).
pub const RSS_TABLE_ENTRIES: usize = rss::TABLE_ENTRIES as usize;

/// The RSS indirection table [`Nic::start`] programs when `queues` are open (ascending): entry
/// `e` names queue `queues[e mod queues.len()]`, spreading hash values evenly over them. A
/// host that must know where the NIC steers a flow (one TCP endpoint per queue) computes the
/// queue from this table and the key: `table[toeplitz(key, input) mod 128]`. Empty `queues`:
/// every entry names queue 0.
pub fn rss_indirection_table(queues: &[u16]) -> [u16; RSS_TABLE_ENTRIES] {
    core::array::from_fn(|e| match queues.len() {
        0 => 0,
        n => queues[e % n],
    })
}

/// Device-wide options of [`Nic::open`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicConfig {
    /// Verify checksums on receive (`CTRL.RX_CSUM_ENABLE`) when the device can.
    pub rx_checksum: bool,
    /// Spread received flows over the open queue pairs (`CTRL.RSS_ENABLE`) when the device can
    /// and more than one queue pair is open at [`Nic::start`].
    pub rss: bool,
    /// The Toeplitz key for RSS.
    pub rss_key: [u8; hw_spec::rss::KEY_LEN],
    /// Bind completion queues to interrupt vectors (eventfds) so [`QueuePair::wait_rx`] can
    /// sleep; otherwise it polls.
    pub interrupts: bool,
    /// Try a function-level reset before the device's own reset.
    pub function_reset: bool,
    /// Bound of every wait for the device (reset, queue stop, TX drain).
    pub timeout: Duration,
}

impl Default for NicConfig {
    fn default() -> Self {
        NicConfig {
            rx_checksum: true,
            rss: true,
            rss_key: SYMMETRIC_RSS_KEY,
            interrupts: false,
            function_reset: true,
            timeout: Duration::from_secs(2),
        }
    }
}

pub(crate) struct NicShared<D: DeviceAccess> {
    pub(crate) dev: D,
    pub(crate) info: DeviceInfo,
    pub(crate) cfg: NicConfig,
    pub(crate) vectors: u32,
    open: Mutex<Vec<bool>>,
    started: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<D: DeviceAccess> NicShared<D> {
    pub(crate) fn location(&self) -> &str {
        self.dev.location()
    }

    /// BAR0 offset of register `reg` of queue `index` of `kind`.
    pub(crate) fn queue_reg(&self, kind: QueueKind, index: u32, reg: &Register) -> u32 {
        let base = match kind {
            QueueKind::Tx => self.info.bases.txq,
            QueueKind::Rx => self.info.bases.rxq,
            QueueKind::Cq | QueueKind::None => self.info.bases.cq,
        };
        base + qregs::ARRAY_OFFSET + index * qregs::STRIDE + reg.offset
    }

    pub(crate) fn control_reg(&self, reg: &Register) -> u32 {
        self.info.bases.control + reg.offset
    }

    /// A set-up or control-path write.
    pub(crate) fn write(&self, offset: u32, value: u32) -> Result<(), DeviceError> {
        self.dev
            .write32(offset as usize, value)
            .map_err(|e| DeviceError::register(self.location(), e))
    }

    pub(crate) fn command(
        &self,
        kind: QueueKind,
        index: u32,
        cmd: QueueCommand,
    ) -> Result<(), DeviceError> {
        self.write(self.queue_reg(kind, index, &qregs::CMD), cmd.encode())
    }

    pub(crate) fn read(&self, offset: u32) -> Result<u32, DeviceError> {
        stats::read_reg(&self.dev, offset)
    }

    /// Whether the device has stopped answering (a backend failure, or all-ones reads).
    pub(crate) fn is_dead(&self) -> bool {
        stats::device_gone(&self.dev)
    }

    /// Polls the register at `offset` until `done` holds, letting the device run between
    /// reads, for at most the configured timeout.
    pub(crate) fn wait_register(
        &self,
        offset: u32,
        what: &str,
        done: impl Fn(u32) -> bool,
    ) -> Result<u32, DeviceError> {
        let start = Instant::now();
        let mut attempt = 0u32;
        loop {
            let v = self
                .dev
                .read32(offset as usize)
                .map_err(|e| DeviceError::register(self.location(), e))?;
            if v == u32::MAX && (!done(v) || stats::device_gone(&self.dev)) {
                return Err(discover::not_responding(&self.dev, offset as usize));
            }
            if done(v) {
                return Ok(v);
            }
            if start.elapsed() >= self.cfg.timeout {
                return Err(DeviceError::timeout(
                    self.location(),
                    what,
                    self.cfg.timeout,
                ));
            }
            self.dev.relax(attempt);
            attempt = attempt.saturating_add(1);
        }
    }

    fn release(&self, index: u16) {
        if let Some(slot) = lock(&self.open).get_mut(usize::from(index)) {
            *slot = false;
        }
    }
}

impl<D: DeviceAccess> Drop for NicShared<D> {
    fn drop(&mut self) {
        // Every queue pair is closed by now (each holds a reference and disabled its queues
        // when it closed). Disable the device, leaving its counters for a later probe, then let
        // the backend stop its DMA and interrupts.
        if !self.is_dead() {
            let ctrl = self.control_reg(&control::CTRL);
            let _ = self.dev.write32(ctrl as usize, 0);
            // A read waits for the write on backends with posted writes.
            let _ = self.dev.read32(ctrl as usize);
        }
        let _ = self.dev.quiesce();
    }
}

/// One ferrotoe NIC, brought up. Cheap to clone; shareable between threads when the backend
/// is `Send + Sync`.
pub struct Nic<D: DeviceAccess> {
    shared: Arc<NicShared<D>>,
}

impl<D: DeviceAccess> Clone for Nic<D> {
    fn clone(&self) -> Self {
        Nic {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<D: DeviceAccess> std::fmt::Debug for Nic<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nic")
            .field("location", &self.shared.location())
            .field("queue_pairs", &self.shared.info.queue_pairs())
            .finish()
    }
}

impl<D: DeviceAccess> Nic<D> {
    /// Discovers the device (refusing one it cannot drive), resets it (function-level reset
    /// when the backend has one and [`NicConfig::function_reset`] asks, then `CTRL.RESET`, and
    /// waits for it to take effect) and enables interrupt vectors when asked. The device is
    /// left disabled: open queue pairs, then [`start`](Self::start).
    pub fn open(mut dev: D, cfg: NicConfig) -> Result<Nic<D>, DeviceError> {
        let info = DeviceInfo::discover(&dev)?;
        if cfg.function_reset {
            match dev.reset()? {
                ResetOutcome::Reset | ResetOutcome::Unsupported { .. } => {}
            }
        }
        let ctrl = info.bases.control + control::CTRL.offset;
        dev.write32(ctrl as usize, control::CTRL_RESET.mask32())
            .map_err(|e| DeviceError::register(dev.location(), e))?;
        let vectors = if cfg.interrupts {
            let n = dev
                .max_interrupt_vectors()
                .min(info.irq_vectors.into())
                .min(info.completion_queues.into());
            if n == 0 {
                return Err(DeviceError::new(
                    DeviceErrorKind::Unsupported,
                    dev.location(),
                    "enabling interrupts",
                    "the device (or its backend) has no interrupt vectors",
                )
                .with_fix("open the NIC with interrupts off and poll"));
            }
            dev.enable_interrupts(n)?;
            n
        } else {
            0
        };
        let pairs = usize::from(info.queue_pairs());
        let shared = NicShared {
            dev,
            info,
            cfg,
            vectors,
            open: Mutex::new(vec![false; pairs]),
            started: AtomicBool::new(false),
        };
        let status = shared.control_reg(&control::STATUS);
        shared.wait_register(ctrl, "waiting for CTRL.RESET to clear", |v| {
            control::CTRL_RESET.get32(v) == 0
        })?;
        shared.wait_register(
            status,
            "waiting for the device to be disabled after reset",
            |v| control::STATUS_ENABLED.get32(v) == 0,
        )?;
        Ok(Nic {
            shared: Arc::new(shared),
        })
    }

    /// What the device is and can do.
    pub fn info(&self) -> &DeviceInfo {
        &self.shared.info
    }

    /// The device access backend.
    pub fn device(&self) -> &D {
        &self.shared.dev
    }

    /// Where the device is.
    pub fn location(&self) -> &str {
        self.shared.location()
    }

    /// Interrupt vectors enabled (0: polling).
    pub fn interrupt_vectors(&self) -> u32 {
        self.shared.vectors
    }

    /// Opens queue pair `index` with `cfg`: allocates its rings and pools, programs and enables
    /// its completion queues, RX queue (every buffer posted) and TX queue, in that order, and
    /// checks that the device took every command. Fails when the pair is already open.
    pub fn open_queue_pair(
        &self,
        index: u16,
        cfg: &QueueConfig,
    ) -> Result<QueuePair<D>, DeviceError> {
        let pairs = self.shared.info.queue_pairs();
        {
            let mut open = lock(&self.shared.open);
            match open.get_mut(usize::from(index)) {
                None => {
                    return Err(DeviceError::new(
                        DeviceErrorKind::Unsupported,
                        self.location(),
                        format!("opening queue pair {index}"),
                        format!("the device has {pairs} queue pairs (0..{pairs})"),
                    )
                    .with_fix("use a queue pair index below DeviceInfo::queue_pairs()"));
                }
                Some(true) => {
                    return Err(DeviceError::new(
                        DeviceErrorKind::GroupBusy,
                        self.location(),
                        format!("opening queue pair {index}"),
                        "the queue pair is already open",
                    )
                    .with_fix("drop the other QueuePair first"));
                }
                Some(slot) => *slot = true,
            }
        }
        match QueuePair::open(Arc::clone(&self.shared), index, cfg) {
            Ok(qp) => Ok(qp),
            Err(e) => {
                self.shared.release(index);
                Err(e)
            }
        }
    }

    /// Queue pairs open now.
    pub fn open_queue_pairs(&self) -> Vec<u16> {
        lock(&self.shared.open)
            .iter()
            .enumerate()
            .filter(|(_, o)| **o)
            .map(|(i, _)| i as u16)
            .collect()
    }

    /// Enables the device: receive checksum verification when configured and available, RSS
    /// over the queue pairs open now when more than one is, then `CTRL.ENABLE` (hw-spec
    /// section 4: after the queues). Waits until the device reports itself enabled.
    pub fn start(&self) -> Result<(), DeviceError> {
        let s = &self.shared;
        let mut ctrl = control::CTRL_ENABLE.mask32();
        if s.cfg.rx_checksum && s.info.caps.rx_csum {
            ctrl |= control::CTRL_RX_CSUM_ENABLE.mask32();
        }
        let open = self.open_queue_pairs();
        if let (true, true, Some(base), true) =
            (s.cfg.rss, s.info.caps.rss, s.info.bases.rss, open.len() > 1)
        {
            for (i, w) in hw_spec::rss::key_to_words(&s.cfg.rss_key)
                .into_iter()
                .enumerate()
            {
                s.write(base + rss::KEY_OFFSET + 4 * i as u32, w)?;
            }
            for (e, q) in (0u32..).zip(rss_indirection_table(&open)) {
                s.write(
                    base + rss::TABLE_OFFSET + 4 * e,
                    rss::ENTRY_QUEUE.set32(0, q.into()),
                )?;
            }
            ctrl |= control::CTRL_RSS_ENABLE.mask32();
        }
        s.write(s.control_reg(&control::CTRL), ctrl)?;
        s.wait_register(
            s.control_reg(&control::STATUS),
            "waiting for the device to report itself enabled",
            |v| control::STATUS_ENABLED.get32(v) == 1,
        )?;
        s.started.store(true, Ordering::Release);
        Ok(())
    }

    /// Disables the device (`CTRL.ENABLE` clear): no TX queue runs, received frames are
    /// dropped and counted. Queue pairs stay open.
    pub fn stop(&self) -> Result<(), DeviceError> {
        let s = &self.shared;
        s.write(s.control_reg(&control::CTRL), 0)?;
        s.started.store(false, Ordering::Release);
        s.wait_register(
            s.control_reg(&control::STATUS),
            "waiting for the device to report itself disabled",
            |v| control::STATUS_ENABLED.get32(v) == 0,
        )
        .map(|_| ())
    }

    /// Whether [`start`](Self::start) ran (and [`stop`](Self::stop) did not since).
    pub fn is_started(&self) -> bool {
        self.shared.started.load(Ordering::Acquire)
    }

    /// Reads the device's counters and error state (MMIO; not for the hot path).
    pub fn device_stats(&self) -> Result<DeviceStats, DeviceError> {
        read_device_stats(&self.shared.dev, &self.shared.info)
    }

    /// `Ok` while the device has recorded no error; otherwise an error naming the sticky
    /// `ERROR_STATUS` bits and the last error.
    pub fn check_errors(&self) -> Result<(), DeviceError> {
        let s = &self.shared;
        let status = s.read(s.control_reg(&control::ERROR_STATUS))?;
        if status == 0 {
            return Ok(());
        }
        let last = stats::read_last_error(&s.dev, &s.info)?;
        let names = DeviceStats {
            error_status: status,
            ..DeviceStats::default()
        }
        .error_status_names()
        .join(", ");
        Err(DeviceError::new(
            DeviceErrorKind::DeviceMisbehaved,
            s.location(),
            "checking CONTROL.ERROR_STATUS",
            format!("the device recorded errors ({names}); the last: {last}"),
        )
        .with_fix("see hw-spec section 8 for what the device reports and why"))
    }
}
