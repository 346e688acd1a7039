//! One queue pair: its rings, its completion queues, its pools, and the bursts.
//!
//! Owns the ring protocol of hw-spec sections 5 to 7 from the driver's side: descriptor
//! writes, doorbells, completion polling by phase, lazy consumer returns, RX refill, TX
//! reclaim, the checks on every completion, and the bounded waits (TX drain, RX wait). Must
//! not touch registers of other queue pairs.
//!
//! Ring memory (one DMA region): TX descriptor ring, RX descriptor ring, TX completion ring,
//! RX completion ring, each 4 KiB aligned. Pointers are free-running `u16`s as in the spec; a
//! ring index is the pointer masked by the ring size.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hw_spec::descriptors::{cpl, rxd, txd};
use hw_spec::regs::{RING_ALIGN, queue as qregs};
use hw_spec::{
    CompletionKind, CsumStatus, DeviceCaps, ErrorCode, QueueCommand, QueueKind, TxPlan,
    validate_tx_request,
};

use super::NicShared;
use super::batch::PacketBatch;
use super::desc::{self, CPL_PHASE_BIT, CPL_PHASE_BYTE, CPL_WORDS};
use super::pool::{BufHandle, PacketBuf, PacketPool, RxInfo};
use super::stats::{
    self, Direction, FaultKind, QueueFault, QueueStats, RxQueueCounters, TxQueueCounters,
};
use crate::access::DeviceAccess;
use crate::dma::{DmaMemory, DmaRegion};
use crate::error::{DeviceError, DeviceErrorKind};

/// Options of one queue pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// TX ring entries, log2 (default 9: 512).
    pub tx_ring_log2: u8,
    /// RX ring entries, log2 (default 9: 512).
    pub rx_ring_log2: u8,
    /// Buffers in the queue pair's pool: enough to fill the RX ring with plenty left for the
    /// application and the TX ring (default 2048).
    pub buffers: u32,
    /// Bytes per buffer (default 2048: a standard frame). The device drops received frames
    /// longer than this and counts them.
    pub buf_size: u32,
    /// Buffers in the pool of large buffers, for TSO super-frames and other frames longer than
    /// `buf_size` (default 0: no such pool).
    pub large_buffers: u32,
    /// Bytes per large buffer (0: the device's largest TX request, its maximal headers plus
    /// `MAX_TSO_PAYLOAD`, or `MAX_FRAME_LEN` without TSO).
    pub large_buf_size: u32,
    /// RX buffers refilled per RX doorbell (the doorbell comes sooner when the device's posted
    /// buffers run below this many). Default 32.
    pub rx_doorbell_batch: u16,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            tx_ring_log2: 9,
            rx_ring_log2: 9,
            buffers: 2048,
            buf_size: 2048,
            large_buffers: 0,
            large_buf_size: 0,
            rx_doorbell_batch: 32,
        }
    }
}

impl QueueConfig {
    /// Rings of `2^log2` entries and a pool four times that.
    pub fn with_rings(log2: u8) -> QueueConfig {
        QueueConfig {
            tx_ring_log2: log2,
            rx_ring_log2: log2,
            buffers: 4u32 << log2,
            ..QueueConfig::default()
        }
    }
}

/// A completion queue as the driver sees it.
struct Cq {
    index: u32,
    base: usize,
    log2: u8,
    mask: u16,
    cons: u16,
    returned: u16,
    return_batch: u16,
    cmd: u32,
    vector: Option<u32>,
}

impl Cq {
    /// The next entry when the device has written it (phase equals the expected one).
    #[inline(always)]
    fn peek(&self, mem: &DmaMemory) -> Option<[u64; CPL_WORDS]> {
        let off = self.base + usize::from(self.cons & self.mask) * cpl::SIZE;
        let expected = (self.cons >> self.log2) & 1 == 0;
        let last = mem.load_acquire_u8(off + CPL_PHASE_BYTE).ok()?;
        if ((last >> CPL_PHASE_BIT) & 1 == 1) != expected {
            return None;
        }
        mem.read_words(off).ok()
    }
}

struct TxRing {
    base: usize,
    size: u16,
    mask: u16,
    prod: u16,
    clean: u16,
    /// The buffer of each request in flight.
    slots: Box<[Option<BufHandle>]>,
    /// The wire frames each request in flight should make (1, or its TSO segment count).
    segments: Box<[u32]>,
    cmd: u32,
}

struct RxRing {
    base: usize,
    size: u16,
    mask: u16,
    /// Buffers written to the ring (free-running).
    prod: u16,
    /// Buffers the driver has taken back (free-running).
    cons: u16,
    /// The producer the device was last told.
    doorbelled: u16,
    doorbell_batch: u16,
    buf_len: u32,
    bufs: Box<[u32]>,
    cmd: u32,
}

/// One TX queue, one RX queue and their two completion queues, with a packet pool. Closes its
/// queues when dropped.
pub struct QueuePair<D: DeviceAccess> {
    nic: Arc<NicShared<D>>,
    index: u16,
    caps: DeviceCaps,
    rings: DmaRegion,
    tx: TxRing,
    rx: RxRing,
    tx_cq: Cq,
    rx_cq: Cq,
    pool: PacketPool,
    large: Option<PacketPool>,
    stats: QueueStats,
    fault: Option<QueueFault>,
}

impl<D: DeviceAccess> std::fmt::Debug for QueuePair<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuePair")
            .field("device", &self.nic.location())
            .field("index", &self.index)
            .field("tx_ring", &self.tx.size)
            .field("rx_ring", &self.rx.size)
            .field("tx_in_flight", &self.tx_in_flight())
            .finish()
    }
}

fn page(bytes: usize) -> usize {
    bytes.next_multiple_of(RING_ALIGN as usize)
}

impl<D: DeviceAccess> QueuePair<D> {
    pub(super) fn open(
        nic: Arc<NicShared<D>>,
        index: u16,
        cfg: &QueueConfig,
    ) -> Result<QueuePair<D>, DeviceError> {
        let info = &nic.info;
        let step = format!("opening queue pair {index}");
        let bad = |detail: String, fix: &str| {
            DeviceError::new(DeviceErrorKind::Unsupported, nic.location(), &step, detail)
                .with_fix(fix)
        };
        for (name, log2) in [("TX", cfg.tx_ring_log2), ("RX", cfg.rx_ring_log2)] {
            if log2 < info.ring_min_log2 || log2 > info.ring_max_log2 {
                return Err(bad(
                    format!(
                        "a {name} ring of 2^{log2} entries is outside the device's ring sizes \
                         2^{}..2^{}",
                        info.ring_min_log2, info.ring_max_log2
                    ),
                    "choose ring sizes within IDENT.RING_LIMITS",
                ));
            }
        }
        let (tx_size, rx_size) = (1u32 << cfg.tx_ring_log2, 1u32 << cfg.rx_ring_log2);
        if cfg.buffers <= rx_size {
            return Err(bad(
                format!(
                    "a pool of {} buffers cannot fill an RX ring of {rx_size} and leave buffers \
                     to send with",
                    cfg.buffers
                ),
                "give the pool more buffers than the RX ring has entries (QueueConfig::buffers)",
            ));
        }
        if cfg.buf_size < 64 || cfg.buf_size > 1 << 24 {
            return Err(bad(
                format!("a buffer size of {} bytes", cfg.buf_size),
                "use buffers of 64 bytes to 16 MiB",
            ));
        }
        let tx_cq_log2 = (cfg.tx_ring_log2 + 1).min(info.ring_max_log2);
        let rx_cq_log2 = (cfg.rx_ring_log2 + 1).min(info.ring_max_log2);

        // Ring memory: TX ring, RX ring, TX CQ, RX CQ.
        let tx_at = 0;
        let rx_at = tx_at + page(tx_size as usize * txd::SIZE);
        let tx_cq_at = rx_at + page(rx_size as usize * rxd::SIZE);
        let rx_cq_at = tx_cq_at + page((1usize << tx_cq_log2) * cpl::SIZE);
        let total = rx_cq_at + page((1usize << rx_cq_log2) * cpl::SIZE);
        let rings = nic.dev.alloc_dma(total)?;
        let pool = PacketPool::new(&nic.dev, cfg.buffers, cfg.buf_size, "packet")?;
        let large = if cfg.large_buffers > 0 {
            let size = if cfg.large_buf_size > 0 {
                cfg.large_buf_size
            } else {
                large_request_len(&info.caps)
            };
            Some(PacketPool::new(&nic.dev, cfg.large_buffers, size, "large")?)
        } else {
            None
        };

        let q = u32::from(index);
        let cq_of = |i: u32, at: usize, log2: u8| {
            let size = 1u32 << log2;
            let ring = if i % 2 == 0 { tx_size } else { rx_size };
            Cq {
                index: i,
                base: at,
                log2,
                mask: (size - 1) as u16,
                cons: 0,
                returned: 0,
                return_batch: (size - ring).max(size / 8).max(1) as u16,
                cmd: nic.queue_reg(QueueKind::Cq, i, &qregs::CMD),
                vector: (nic.vectors > 0).then(|| i % nic.vectors),
            }
        };
        let tx_cq = cq_of(2 * q, tx_cq_at, tx_cq_log2);
        let rx_cq = cq_of(2 * q + 1, rx_cq_at, rx_cq_log2);
        let mut qp = QueuePair {
            caps: info.caps,
            index,
            tx: TxRing {
                base: tx_at,
                size: tx_size as u16,
                mask: (tx_size - 1) as u16,
                prod: 0,
                clean: 0,
                slots: (0..tx_size).map(|_| None).collect(),
                segments: vec![0; tx_size as usize].into_boxed_slice(),
                cmd: nic.queue_reg(QueueKind::Tx, q, &qregs::CMD),
            },
            rx: RxRing {
                base: rx_at,
                size: rx_size as u16,
                mask: (rx_size - 1) as u16,
                prod: 0,
                cons: 0,
                doorbelled: 0,
                doorbell_batch: cfg.rx_doorbell_batch.clamp(1, rx_size as u16),
                buf_len: pool.buf_size(),
                bufs: vec![0; rx_size as usize].into_boxed_slice(),
                cmd: nic.queue_reg(QueueKind::Rx, q, &qregs::CMD),
            },
            tx_cq,
            rx_cq,
            rings,
            pool,
            large,
            stats: QueueStats::default(),
            fault: None,
            nic,
        };
        qp.program()?;
        Ok(qp)
    }

    /// hw-spec section 4's order: completion queues, then the RX queue (buffers posted), then
    /// the TX queue. Each queue is disabled and its pointers reset first, so a queue pair that
    /// was open before (and closed) starts clean.
    fn program(&mut self) -> Result<(), DeviceError> {
        let tx_log2 = self.tx.size.trailing_zeros() as u8;
        let rx_log2 = self.rx.size.trailing_zeros() as u8;
        let nic = Arc::clone(&self.nic);
        let q = u32::from(self.index);
        let base = self.rings.iova();
        let setup = |kind: QueueKind, i: u32, at: usize, log2: u8| -> Result<(), DeviceError> {
            let iova = base + at as u64;
            nic.command(kind, i, QueueCommand::Disable)?;
            nic.command(kind, i, QueueCommand::ResetPointers)?;
            nic.write(nic.queue_reg(kind, i, &qregs::BASE_LO), iova as u32)?;
            nic.write(nic.queue_reg(kind, i, &qregs::BASE_HI), (iova >> 32) as u32)?;
            nic.command(kind, i, QueueCommand::SetLog2Size(log2))
        };
        for cq in [&self.tx_cq, &self.rx_cq] {
            setup(QueueKind::Cq, cq.index, cq.base, cq.log2)?;
            if let Some(v) = cq.vector {
                nic.command(QueueKind::Cq, cq.index, QueueCommand::SetIrq(v as u8))?;
            }
            nic.command(QueueKind::Cq, cq.index, QueueCommand::Enable)?;
        }
        setup(QueueKind::Rx, q, self.rx.base, rx_log2)?;
        nic.command(
            QueueKind::Rx,
            q,
            QueueCommand::SetCq(self.rx_cq.index as u8),
        )?;
        self.refill_rx();
        nic.command(QueueKind::Rx, q, QueueCommand::Enable)?;
        setup(QueueKind::Tx, q, self.tx.base, tx_log2)?;
        nic.command(
            QueueKind::Tx,
            q,
            QueueCommand::SetCq(self.tx_cq.index as u8),
        )?;
        nic.command(QueueKind::Tx, q, QueueCommand::Enable)?;
        // The device applies commands it can and ignores (and reports) the rest: check that
        // every queue is enabled with the size and binding asked for.
        let checks = [
            (
                QueueKind::Cq,
                self.tx_cq.index,
                self.tx_cq.log2,
                self.tx_cq.vector,
            ),
            (
                QueueKind::Cq,
                self.rx_cq.index,
                self.rx_cq.log2,
                self.rx_cq.vector,
            ),
            (QueueKind::Rx, q, rx_log2, Some(self.rx_cq.index)),
            (QueueKind::Tx, q, tx_log2, Some(self.tx_cq.index)),
        ];
        for (kind, i, log2, binding) in checks {
            let status = nic.read(nic.queue_reg(kind, i, &qregs::STATUS))?;
            let ok = qregs::STATUS_ENABLED.get32(status) == 1
                && qregs::STATUS_LOG2_SIZE.get32(status) == u32::from(log2)
                && binding.is_none_or(|b| qregs::STATUS_BINDING.get32(status) == b);
            if !ok {
                let last = stats::read_last_error(&nic.dev, &nic.info)
                    .map(|l| l.to_string())
                    .unwrap_or_else(|e| format!("unreadable ({e})"));
                return Err(DeviceError::new(
                    DeviceErrorKind::DeviceMisbehaved,
                    nic.location(),
                    format!("opening queue pair {}", self.index),
                    format!(
                        "{} queue {i} did not come up: STATUS {status:#010x} (wanted enabled, \
                         2^{log2} entries, binding {binding:?}); the device's last error: {last}",
                        kind.spec_name()
                    ),
                )
                .with_fix("check the device's error state (ferrotoe probe) and reset it"));
            }
        }
        Ok(())
    }

    /// Disables the pair's four queues (completion queues last) and waits, bounded, for the TX
    /// queue to finish its frame in flight. `Err` (why) when the device did not confirm that it
    /// stopped.
    fn disable(&self) -> Result<(), DeviceError> {
        let nic = &self.nic;
        let q = u32::from(self.index);
        let _ = nic.command(QueueKind::Tx, q, QueueCommand::Disable);
        let _ = nic.command(QueueKind::Rx, q, QueueCommand::Disable);
        let _ = nic.command(QueueKind::Cq, self.tx_cq.index, QueueCommand::Disable);
        let _ = nic.command(QueueKind::Cq, self.rx_cq.index, QueueCommand::Disable);
        let status = nic.queue_reg(QueueKind::Tx, q, &qregs::STATUS);
        if let Some(why) = nic.dev.failure() {
            return Err(DeviceError::new(
                DeviceErrorKind::Timeout,
                nic.location(),
                format!("disabling queue pair {}", self.index),
                format!("the device stopped answering: {why}"),
            )
            .with_fix("restart the device and open it again"));
        }
        nic.wait_register(status, "waiting for the TX queue to stop", |v| {
            qregs::STATUS_ENABLED.get32(v) == 0
        })
        .map(|_| ())
    }

    /// Returns every buffer the device holds: TX buffers in flight (whether or not their frames
    /// went out) and posted RX buffers.
    fn release_buffers(&mut self) {
        for slot in self.tx.slots.iter_mut() {
            slot.take();
        }
        self.tx.clean = self.tx.prod;
        while self.rx.cons != self.rx.prod {
            let slot = usize::from(self.rx.cons & self.rx.mask);
            self.pool.return_from_device(self.rx.bufs[slot]);
            self.rx.cons = self.rx.cons.wrapping_add(1);
        }
    }

    /// Brings the queue pair back after the device broke the completion protocol or stopped one
    /// of its queues on a fault (hw-spec section 8: the driver reprograms the queue). Disables
    /// the four queues, gives every buffer in flight back to its pool (TX frames in flight may
    /// or may not have been sent), clears the completion rings and programs the queues afresh.
    /// The counters and the fault record stay.
    pub fn recover(&mut self) -> Result<(), DeviceError> {
        if let Err(e) = self.disable() {
            return Err(DeviceError::new(
                e.kind(),
                self.nic.location(),
                format!("recovering queue pair {}", self.index),
                format!("the TX queue did not stop: {}", e.detail()),
            )
            .with_fix(
                e.fix()
                    .unwrap_or("reset the whole device (drop the Nic and open it again)"),
            ));
        }
        self.release_buffers();
        self.tx.prod = 0;
        self.tx.clean = 0;
        self.rx.prod = 0;
        self.rx.cons = 0;
        self.rx.doorbelled = 0;
        for cq in [&mut self.tx_cq, &mut self.rx_cq] {
            cq.cons = 0;
            cq.returned = 0;
            let bytes = (usize::from(cq.mask) + 1) * cpl::SIZE;
            self.rings
                .fill(cq.base, bytes, 0)
                .map_err(|e| DeviceError::dma_access(self.nic.location(), e))?;
        }
        self.program()
    }

    /// The queue pair's index.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// The pool of packet buffers (RX buffers come from it; allocate TX buffers from it).
    pub fn pool(&self) -> &PacketPool {
        &self.pool
    }

    /// The pool of large buffers, when configured.
    pub fn large_pool(&self) -> Option<&PacketPool> {
        self.large.as_ref()
    }

    /// The device's capabilities.
    pub fn caps(&self) -> &DeviceCaps {
        &self.caps
    }

    /// Whether received frames carry the device's checksum verdicts: the device verifies (its
    /// `CAPS.RX_CSUM`) and the NIC was configured to let it ([`NicConfig::rx_checksum`]).
    ///
    /// [`NicConfig::rx_checksum`]: super::NicConfig::rx_checksum
    pub fn rx_checksum(&self) -> bool {
        self.caps.rx_csum && self.nic.cfg.rx_checksum
    }

    /// The driver's counters.
    pub fn stats(&self) -> &QueueStats {
        &self.stats
    }

    /// The first protocol violation the device committed on this queue pair, if any.
    pub fn fault(&self) -> Option<&QueueFault> {
        self.fault.as_ref()
    }

    /// Takes the fault record, so the next violation is recorded.
    pub fn take_fault(&mut self) -> Option<QueueFault> {
        self.fault.take()
    }

    /// TX requests handed to the device and not completed yet.
    pub fn tx_in_flight(&self) -> u16 {
        self.tx.prod.wrapping_sub(self.tx.clean)
    }

    /// Room in the TX ring.
    pub fn tx_room(&self) -> u16 {
        self.tx.size - self.tx_in_flight()
    }

    /// RX buffers posted to the device (told with a doorbell).
    pub fn rx_posted(&self) -> u16 {
        self.rx.doorbelled.wrapping_sub(self.rx.cons)
    }

    /// RX buffers in the ring: posted, or written and waiting for the next doorbell.
    pub fn rx_in_ring(&self) -> u16 {
        self.rx.prod.wrapping_sub(self.rx.cons)
    }

    /// Entries of the TX and RX rings.
    pub fn ring_sizes(&self) -> (u16, u16) {
        (self.tx.size, self.rx.size)
    }

    /// `Ok` while neither the device nor its backend has failed and the device has committed
    /// no protocol violation on this queue pair; otherwise the error that says which.
    pub fn health(&self) -> Result<(), DeviceError> {
        if let Some(why) = self.nic.dev.failure() {
            return Err(DeviceError::new(
                DeviceErrorKind::Timeout,
                self.nic.location(),
                format!("running queue pair {}", self.index),
                format!("the device stopped answering: {why}"),
            )
            .with_fix("restart the device and open it again"));
        }
        if let Some(f) = &self.fault {
            return Err(DeviceError::new(
                DeviceErrorKind::DeviceMisbehaved,
                self.nic.location(),
                format!("running queue pair {}", self.index),
                f.to_string(),
            )
            .with_fix("the device broke the completion protocol (hw-spec section 5): reset it"));
        }
        Ok(())
    }

    /// Reads the `STATUS` of the pair's four queues (MMIO; not for the hot path): `Ok` while
    /// all are enabled, otherwise an error naming the queue, whether the device stopped it on a
    /// DMA fault (hw-spec section 8; [`recover`](Self::recover) reprograms it) and the device's
    /// last error.
    pub fn check_queues(&self) -> Result<(), DeviceError> {
        let nic = &self.nic;
        let q = u32::from(self.index);
        for (kind, i) in [
            (QueueKind::Cq, self.tx_cq.index),
            (QueueKind::Cq, self.rx_cq.index),
            (QueueKind::Rx, q),
            (QueueKind::Tx, q),
        ] {
            let status = nic.read(nic.queue_reg(kind, i, &qregs::STATUS))?;
            if qregs::STATUS_ENABLED.get32(status) == 1 {
                continue;
            }
            let why = if qregs::STATUS_STOPPED_ON_FAULT.get32(status) == 1 {
                "the device stopped it on a DMA fault"
            } else {
                "it is disabled"
            };
            let last = stats::read_last_error(&nic.dev, &nic.info)
                .map(|l| l.to_string())
                .unwrap_or_else(|e| format!("unreadable ({e})"));
            return Err(DeviceError::new(
                DeviceErrorKind::DeviceMisbehaved,
                nic.location(),
                format!("checking queue pair {}", self.index),
                format!(
                    "{} queue {i}: {why} (STATUS {status:#010x}); the device's last error: {last}",
                    kind.spec_name()
                ),
            )
            .with_fix("QueuePair::recover reprograms the queue pair"));
        }
        Ok(())
    }

    #[inline]
    fn doorbell(&mut self, cmd_offset: u32, command: QueueCommand) {
        if self
            .nic
            .dev
            .write32(cmd_offset as usize, command.encode())
            .is_err()
        {
            // Offsets were checked at set-up; a refusal here means the backend changed its
            // mind. Count it where a user will look.
            self.stats.doorbell_errors += 1;
        }
    }

    #[cold]
    fn note_fault(
        &mut self,
        direction: Direction,
        kind: FaultKind,
        expected: u16,
        cq_pointer: u16,
        words: &[u64; CPL_WORDS],
    ) {
        self.stats.misbehaviour.count(kind);
        if self.fault.is_none() {
            self.fault = Some(QueueFault::new(
                self.index, direction, kind, expected, cq_pointer, words,
            ));
        }
    }

    #[inline]
    fn return_cq(&mut self, tx: bool) {
        let cq = if tx { &mut self.tx_cq } else { &mut self.rx_cq };
        if cq.cons.wrapping_sub(cq.returned) >= cq.return_batch {
            let (cmd, cons) = (cq.cmd, cq.cons);
            cq.returned = cons;
            self.stats.cq_returns += 1;
            self.doorbell(cmd, QueueCommand::SetCons(cons));
        }
    }

    // ---------------------------------------------------------------------------------- RX

    /// Moves up to `out.room()` received frames into `out` and returns how many. Refills the
    /// RX ring from the pool (one doorbell per `rx_doorbell_batch` buffers) and returns
    /// completion entries lazily. Never waits, never allocates, never reads a register.
    ///
    /// Takes at most one RX ring's worth of completion entries per call: an honest device has
    /// no more waiting (one completion per posted buffer, and nothing is posted during the
    /// call), so error completions and faulty entries a hostile device keeps writing cannot
    /// hold the caller here; the rest waits for the next call.
    pub fn rx_burst(&mut self, out: &mut PacketBatch) -> usize {
        let room = out.room();
        let mut taken = 0;
        let mut examined = 0u16;
        while taken < room && examined < self.rx.size {
            let Some(words) = self.rx_cq.peek(&self.rings) else {
                break;
            };
            let at = self.rx_cq.cons;
            self.rx_cq.cons = at.wrapping_add(1);
            examined += 1;
            match self.check_rx(&words, at) {
                Ok(Some(buf)) => {
                    // `taken < room`, so this cannot fail; a refusal would drop the buffer
                    // back into its pool.
                    let _ = out.push(buf);
                    taken += 1;
                }
                Ok(None) => {}
                Err((kind, expected)) => self.note_fault(Direction::Rx, kind, expected, at, &words),
            }
        }
        if self.rx.prod.wrapping_sub(self.rx.cons) < self.rx.size {
            self.refill_rx();
        }
        if examined > 0 {
            self.return_cq(false);
        }
        taken
    }

    /// Checks one RX completion (at CQ pointer `at`) and takes its buffer: `Some` frame, `None`
    /// for an error completion (counted, buffer recycled), or the violation. Impossible
    /// checksum statuses are noted as a fault here and the frame is delivered without them.
    #[inline]
    fn check_rx(
        &mut self,
        words: &[u64; CPL_WORDS],
        at: u16,
    ) -> Result<Option<PacketBuf>, (FaultKind, u16)> {
        let expected = self.rx.cons & self.rx.mask;
        let c = check_completion(
            words,
            CompletionKind::Rx,
            self.index,
            self.rx.doorbelled == self.rx.cons,
            expected,
        )?;
        let buf_index = self.rx.bufs[usize::from(expected)];
        self.rx.cons = self.rx.cons.wrapping_add(1);
        if !c.error.is_ok() {
            self.stats.rx_errors.add(c.error);
            self.pool.return_from_device(buf_index);
            return Ok(None);
        }
        if c.len == 0 || c.len > self.rx.buf_len {
            self.pool.return_from_device(buf_index);
            return Err((FaultKind::BadLength, expected));
        }
        let (ip_csum, l4_csum) = if csum_statuses_possible(self.rx_checksum(), c.ip_csum, c.l4_csum)
        {
            (c.ip_csum, c.l4_csum)
        } else {
            // Trust neither verdict: the stack verifies in software.
            self.note_fault(Direction::Rx, FaultKind::BadRxStatus, expected, at, words);
            (CsumStatus::Unknown, CsumStatus::Unknown)
        };
        let info = RxInfo {
            ip_csum,
            l4_csum,
            rss_hash: c.rss_hash,
            rss_type: c.rss_type,
        };
        match self.pool.hand_out(buf_index, c.len, info) {
            Some(buf) => {
                self.stats.rx_packets += 1;
                self.stats.rx_bytes += u64::from(c.len);
                if ip_csum == CsumStatus::Bad || l4_csum == CsumStatus::Bad {
                    self.stats.rx_csum_bad += 1;
                }
                Ok(Some(buf))
            }
            // The ring's bookkeeping and the pool's disagree: never hand out the buffer.
            None => Err((FaultKind::BadIndex, expected)),
        }
    }

    /// Posts free pool buffers into the RX ring's empty slots; rings the doorbell once a batch
    /// is ready or the device runs low.
    fn refill_rx(&mut self) {
        let mem: &DmaMemory = &self.rings;
        while self.rx.prod.wrapping_sub(self.rx.cons) < self.rx.size {
            let Some((buf, iova)) = self.pool.take_for_device() else {
                self.stats.rx_refill_starved += 1;
                break;
            };
            let slot = self.rx.prod & self.rx.mask;
            self.rx.bufs[usize::from(slot)] = buf;
            let w = desc::rx_words(iova, self.rx.buf_len);
            let _ = mem.write_words(self.rx.base + usize::from(slot) * rxd::SIZE, &w);
            self.rx.prod = self.rx.prod.wrapping_add(1);
        }
        let pending = self.rx.prod.wrapping_sub(self.rx.doorbelled);
        let visible = self.rx.doorbelled.wrapping_sub(self.rx.cons);
        if pending > 0 && (pending >= self.rx.doorbell_batch || visible < self.rx.doorbell_batch) {
            self.rx.doorbelled = self.rx.prod;
            self.stats.rx_doorbells += 1;
            let (cmd, prod) = (self.rx.cmd, self.rx.prod);
            self.doorbell(cmd, QueueCommand::SetProd(prod));
        }
    }

    /// Waits up to `timeout` for a received frame to be ready: `true` when one is. Sleeps on
    /// the RX completion queue's interrupt (armed here) when the NIC was opened with
    /// interrupts, polls otherwise.
    pub fn wait_rx(&mut self, timeout: Duration) -> Result<bool, DeviceError> {
        let start = Instant::now();
        let mut attempt = 0u32;
        loop {
            if self.rx_cq.peek(&self.rings).is_some() {
                return Ok(true);
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Ok(false);
            }
            if let Some(why) = self.nic.dev.failure() {
                return Err(DeviceError::new(
                    DeviceErrorKind::Timeout,
                    self.nic.location(),
                    format!("waiting for frames on RX queue {}", self.index),
                    format!("the device stopped answering: {why}"),
                )
                .with_fix("restart the device and open it again"));
            }
            match self.rx_cq.vector {
                Some(v) => {
                    let (cmd, cons) = (self.rx_cq.cmd, self.rx_cq.cons);
                    self.rx_cq.returned = cons;
                    self.doorbell(cmd, QueueCommand::SetConsArm(cons));
                    self.nic.dev.wait_interrupt(v, timeout - waited)?;
                }
                None => self.nic.dev.relax(attempt),
            }
            attempt = attempt.saturating_add(1);
        }
    }

    // ---------------------------------------------------------------------------------- TX

    /// Checks every packet's offload request against the device's capabilities and its bytes,
    /// in the device's order (hw-spec section 6.1, F1 to F10): how many packets from the front
    /// would be accepted. The packet at that position (if any) would fail; see
    /// [`prepare`](Self::prepare) for why.
    pub fn tx_prepare(&self, pkts: &PacketBatch) -> usize {
        pkts.iter().take_while(|b| self.prepare(b).is_ok()).count()
    }

    /// What the device would do with one packet: the plan, or the error code its completion
    /// would carry.
    pub fn prepare(&self, buf: &PacketBuf) -> Result<TxPlan, ErrorCode> {
        validate_tx_request(&buf.tx_offload(), buf.data(), buf.len() as u32, &self.caps)
    }

    /// Reclaims completed TX requests (their buffers return to their pools), then hands as
    /// many packets from the front of `pkts` to the TX ring as it has room for, with one
    /// doorbell; returns how many it took. The rest stay in `pkts`, in order. Never waits,
    /// never allocates, never reads a register.
    pub fn tx_burst(&mut self, pkts: &mut PacketBatch) -> usize {
        self.reclaim_tx();
        let room = usize::from(self.tx.size - self.tx.prod.wrapping_sub(self.tx.clean));
        let n = room.min(pkts.len());
        if n < pkts.len() {
            self.stats.tx_ring_full += (pkts.len() - n) as u64;
        }
        for _ in 0..n {
            let Some(buf) = pkts.pop() else { break };
            self.post_tx(buf);
        }
        if n > 0 {
            self.stats.tx_doorbells += 1;
            let (cmd, prod) = (self.tx.cmd, self.tx.prod);
            self.doorbell(cmd, QueueCommand::SetProd(prod));
        }
        n
    }

    /// Sends one packet (a burst of one); gives it back when the ring is full.
    pub fn tx_one(&mut self, buf: PacketBuf) -> Result<(), PacketBuf> {
        self.reclaim_tx();
        if self.tx_room() == 0 {
            self.stats.tx_ring_full += 1;
            return Err(buf);
        }
        self.post_tx(buf);
        self.stats.tx_doorbells += 1;
        let (cmd, prod) = (self.tx.cmd, self.tx.prod);
        self.doorbell(cmd, QueueCommand::SetProd(prod));
        Ok(())
    }

    /// Writes the descriptor of a single-buffer frame at the TX producer and keeps the buffer
    /// in its slot until the completion (no doorbell). The caller checked the room.
    #[inline(always)]
    fn post_tx(&mut self, buf: PacketBuf) {
        let slot = usize::from(self.tx.prod & self.tx.mask);
        let req = buf.tx_request();
        let w = desc::tx_words(buf.iova(), buf.len() as u32, true, true, req);
        self.tx.segments[slot] = expected_segments(req, buf.len() as u32);
        let _ = self.rings.write_words(self.tx.base + slot * txd::SIZE, &w);
        self.tx.slots[slot] = Some(buf.into_handle());
        self.tx.prod = self.tx.prod.wrapping_add(1);
    }

    /// Takes the TX completions the device has written; returns how many. Takes at most one TX
    /// ring's worth per call (an honest device has no more waiting: one completion per request
    /// in flight), so a device that keeps writing entries cannot hold the caller here.
    pub fn reclaim_tx(&mut self) -> usize {
        let mut n = 0;
        while n < usize::from(self.tx.size) {
            let Some(words) = self.tx_cq.peek(&self.rings) else {
                break;
            };
            let at = self.tx_cq.cons;
            self.tx_cq.cons = at.wrapping_add(1);
            n += 1;
            if let Err((kind, expected)) = self.check_tx(&words) {
                self.note_fault(Direction::Tx, kind, expected, at, &words);
            }
        }
        if n > 0 {
            self.return_cq(true);
        }
        n
    }

    #[inline]
    fn check_tx(&mut self, words: &[u64; CPL_WORDS]) -> Result<(), (FaultKind, u16)> {
        let expected = self.tx.clean & self.tx.mask;
        let c = check_completion(
            words,
            CompletionKind::Tx,
            self.index,
            self.tx.prod == self.tx.clean,
            expected,
        )?;
        let slot = usize::from(expected);
        let Some(len) = self.tx.slots[slot].as_ref().map(|b| u64::from(b.len())) else {
            return Err((FaultKind::NotPosted, expected));
        };
        // The buffer goes back to its pool where it lies (no copy of the handle).
        self.tx.slots[slot] = None;
        self.tx.clean = self.tx.clean.wrapping_add(1);
        let mut report_ok = u64::from(c.len) == len;
        if c.error.is_ok() {
            report_ok &= u32::from(c.segments) == self.tx.segments[slot];
            self.stats.tx_packets += 1;
            self.stats.tx_bytes += len;
            self.stats.tx_segments += u64::from(c.segments);
        } else {
            report_ok &= c.segments == 0;
            self.stats.tx_errors.add(c.error);
        }
        if report_ok {
            Ok(())
        } else {
            Err((FaultKind::BadTxReport, expected))
        }
    }

    /// Waits until the device has completed every TX request in flight (their buffers are back
    /// in their pools), for at most `timeout`.
    pub fn flush_tx(&mut self, timeout: Duration) -> Result<(), DeviceError> {
        let start = Instant::now();
        let mut attempt = 0u32;
        loop {
            self.reclaim_tx();
            if self.tx.prod == self.tx.clean {
                return Ok(());
            }
            if start.elapsed() >= timeout || self.nic.dev.failure().is_some() {
                return Err(self.stuck_tx_error(timeout));
            }
            self.nic.dev.relax(attempt);
            attempt = attempt.saturating_add(1);
        }
    }

    #[cold]
    fn stuck_tx_error(&self, timeout: Duration) -> DeviceError {
        let q = u32::from(self.index);
        let cons = self
            .nic
            .read(self.nic.queue_reg(QueueKind::Tx, q, &qregs::CONS))
            .map(|v| format!("{v:#x}"))
            .unwrap_or_else(|_| "unreadable".into());
        let status = self
            .nic
            .read(self.nic.queue_reg(QueueKind::Tx, q, &qregs::STATUS))
            .map(|v| format!("{v:#010x}"))
            .unwrap_or_else(|_| "unreadable".into());
        let why = self
            .nic
            .dev
            .failure()
            .map(|w| format!("; the device stopped answering: {w}"))
            .unwrap_or_default();
        DeviceError::new(
            DeviceErrorKind::Timeout,
            self.nic.location(),
            format!("draining TX queue {}", self.index),
            format!(
                "{} requests still in flight after {} ms (driver producer {:#x}, oldest {:#x}; \
                 device CONS {cons}, STATUS {status}){why}",
                self.tx_in_flight(),
                timeout.as_millis(),
                self.tx.prod,
                self.tx.clean
            ),
        )
        .with_fix(
            "check that the device is enabled (Nic::start) and alive; reset it if it is stuck",
        )
    }

    /// The device's counters of this pair's TX and RX queues (MMIO; not for the hot path).
    pub fn device_counters(&self) -> Result<(TxQueueCounters, RxQueueCounters), DeviceError> {
        let q = u32::from(self.index);
        Ok((
            stats::read_tx_counters(&self.nic.dev, &self.nic.info, q)?,
            stats::read_rx_counters(&self.nic.dev, &self.nic.info, q)?,
        ))
    }
}

/// The checks every completion passes before the driver acts on it: it decodes, is of the
/// completion queue's kind and queue pair, something is in flight, it names the next ring index
/// in flight, and it spans one descriptor (the driver posts single-descriptor frames and RX
/// buffers).
#[inline(always)]
fn check_completion(
    words: &[u64; CPL_WORDS],
    kind: CompletionKind,
    queue: u16,
    nothing_in_flight: bool,
    expected: u16,
) -> Result<hw_spec::Completion, (FaultKind, u16)> {
    let c = desc::decode(words).map_err(|_| (FaultKind::Undecodable, expected))?;
    if c.kind != kind {
        return Err((FaultKind::WrongKind, expected));
    }
    if c.queue != queue {
        return Err((FaultKind::WrongQueue, expected));
    }
    if nothing_in_flight {
        return Err((FaultKind::NotPosted, expected));
    }
    if c.index != expected {
        return Err((FaultKind::BadIndex, expected));
    }
    if c.desc_count != 1 {
        return Err((FaultKind::BadDescCount, expected));
    }
    Ok(c)
}

/// Whether a device can report IP and L4 checksum statuses `ip` and `l4` for one frame (hw-spec
/// section 7.1) with receive verification enabled (`verifying`) or not: both `UNKNOWN` when it
/// is off; when it is on, neither `UNKNOWN`, and an L4 verdict only under a good IPv4 header
/// (a bad or absent one leaves L4 `NONE`).
#[inline(always)]
fn csum_statuses_possible(verifying: bool, ip: CsumStatus, l4: CsumStatus) -> bool {
    use CsumStatus::{Good, None, Unknown};
    if !verifying {
        return ip == Unknown && l4 == Unknown;
    }
    match ip {
        Unknown => false,
        Good => l4 != Unknown,
        _ => l4 == None,
    }
}

/// The wire frames a successful request of `len` bytes makes: 1, or the TSO segment count.
#[inline(always)]
fn expected_segments(o: &hw_spec::TxOffloadRequest, len: u32) -> u32 {
    if !o.tso || o.mss == 0 {
        return 1;
    }
    let headers = u32::from(o.l2_len) + u32::from(o.l3_len) + u32::from(o.l4_len);
    len.saturating_sub(headers).div_ceil(u32::from(o.mss))
}

/// The largest TX request a device can be asked to gather: maximal headers plus its largest
/// TSO payload, or its largest frame.
pub(crate) fn large_request_len(caps: &DeviceCaps) -> u32 {
    use hw_spec::offload::{MAX_L2_LEN, MAX_L3_LEN, MAX_TCP_LEN};
    let tso = if caps.tso {
        MAX_L2_LEN + MAX_L3_LEN + MAX_TCP_LEN + caps.max_tso_payload
    } else {
        0
    };
    tso.max(caps.max_frame_len.into())
}

impl<D: DeviceAccess> Drop for QueuePair<D> {
    fn drop(&mut self) {
        // hw-spec section 4, in reverse: TX and RX queues, then their completion queues. A TX
        // queue finishes the frame in flight before it stops; wait for that (bounded) before
        // the rings and buffers are unmapped.
        if self.disable().is_ok() {
            // Buffers go back to their pools (which live on while packets of them do).
            self.release_buffers();
        } else {
            // The device did not confirm that it stopped: it may still read the TX buffers and
            // write the RX buffers, so none of them may be handed out again. TX buffers are
            // leaked with their pool's reference; RX buffers stay marked as the device's.
            for slot in self.tx.slots.iter_mut() {
                if let Some(buf) = slot.take() {
                    std::mem::forget(buf);
                }
            }
        }
        self.nic.release(self.index);
    }
}
