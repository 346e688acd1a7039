//! Statistics: the device's counters (read over MMIO, off the hot path) and the driver's own
//! per-queue counters (kept in memory on the hot path), and the fault record of a queue.
//!
//! Owns the counter structures, reading the device's `STATS` and `CONTROL` counters (64-bit
//! ones by `HI`, `LO`, `HI`, retried while the halves move), and [`QueueFault`], the first
//! misbehaviour a queue saw with the completion bytes that showed it.

use std::fmt;

use hw_spec::regs::{control, header, ident, stats};
use hw_spec::{ErrorCode, QueueKind};

use super::desc::CPL_WORDS;
use super::discover::{DeviceInfo, not_responding};
use crate::access::DeviceAccess;
use crate::error::DeviceError;

/// Counters of one TX queue, as the device keeps them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxQueueCounters {
    /// Frames on the wire (after segmentation).
    pub frames: u64,
    /// Bytes of those frames.
    pub bytes: u64,
    /// Requests (descriptor chains) completed, errors included.
    pub requests: u32,
    /// Wire frames in which the device inserted a checksum.
    pub csum_inserted: u32,
    /// Wire frames produced by TSO.
    pub tso_segments: u32,
    /// Requests completed with an error.
    pub errors: u32,
}

/// Counters of one RX queue, as the device keeps them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxQueueCounters {
    /// Frames delivered.
    pub frames: u64,
    /// Bytes delivered.
    pub bytes: u64,
    /// Frames dropped (no buffer, buffer too small, completion queue full, too long).
    pub drops: u32,
    /// Frames delivered with a bad checksum.
    pub csum_bad: u32,
    /// Frames delivered with good checksums.
    pub csum_good: u32,
    /// Error completions.
    pub errors: u32,
}

/// The most recent error the device recorded (`CONTROL.LAST_ERROR`, `LAST_ERROR_ADDR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastError {
    /// The error code (`None` for a value this driver does not know: `code_raw` has it).
    pub code: Option<ErrorCode>,
    /// The raw code.
    pub code_raw: u8,
    /// The queue concerned.
    pub queue: u16,
    /// Its kind.
    pub queue_kind: Option<QueueKind>,
    /// Faulting IOVA, or the BAR0 offset of a register error.
    pub addr: u64,
}

impl fmt::Display for LastError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(c) => write!(f, "{c}")?,
            None => write!(f, "unknown code {}", self.code_raw)?,
        }
        match self.queue_kind {
            Some(QueueKind::None) | None => {}
            Some(k) => write!(f, " on {} queue {}", k.spec_name(), self.queue)?,
        }
        write!(f, " at {:#x}", self.addr)
    }
}

/// The device's counters and error state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Per TX queue.
    pub tx: Vec<TxQueueCounters>,
    /// Per RX queue.
    pub rx: Vec<RxQueueCounters>,
    /// Frames dropped before reaching an RX queue (`CONTROL.RX_DROPS_NO_QUEUE`).
    pub rx_drops_no_queue: u32,
    /// Errors recorded since reset (`CONTROL.ERROR_COUNT`).
    pub error_count: u32,
    /// Sticky error bits (`CONTROL.ERROR_STATUS`).
    pub error_status: u32,
    /// The most recent error, when `error_count` is not zero.
    pub last_error: Option<LastError>,
    /// Device time in ns.
    pub timestamp_ns: u64,
}

impl DeviceStats {
    /// The names of the sticky error bits that are set.
    pub fn error_status_names(&self) -> Vec<&'static str> {
        [
            control::ERROR_STATUS_DMA_FAULT,
            control::ERROR_STATUS_BAD_DESCRIPTOR,
            control::ERROR_STATUS_BAD_COMMAND,
            control::ERROR_STATUS_BAD_REGISTER_ACCESS,
            control::ERROR_STATUS_QUEUE_STOPPED,
        ]
        .iter()
        .filter(|f| f.get32(self.error_status) == 1)
        .map(|f| f.name)
        .collect()
    }
}

/// Reads the register at `offset`; a value of all ones from a device that is gone
/// ([`device_gone`]) is a not-responding error, never a register value (a saturated counter or
/// a scratch word of all ones on a live device is read as it is).
pub(crate) fn read_reg<D: DeviceAccess + ?Sized>(dev: &D, offset: u32) -> Result<u32, DeviceError> {
    let v = dev
        .read32(offset as usize)
        .map_err(|e| DeviceError::register(dev.location(), e))?;
    if v == u32::MAX && device_gone(dev) {
        return Err(not_responding(dev, offset as usize));
    }
    Ok(v)
}

/// Whether the device is gone: its backend says it failed, or the `IDENT` block header at
/// BAR0 offset 0 reads all ones (it holds vendor `0xF70E` in its upper half on every live
/// device, so all ones there means that reads no longer reach the device: surprise removal,
/// a bus error, a device in reset or a stopped simulator).
pub(crate) fn device_gone<D: DeviceAccess + ?Sized>(dev: &D) -> bool {
    let ident_type = (ident::BASE + header::TYPE_OFFSET) as usize;
    dev.failure().is_some() || dev.read32(ident_type).is_ok_and(|v| v == u32::MAX)
}

/// Reads a 64-bit counter from its `LO`/`HI` pair: `HI`, `LO`, `HI`, retried while the `HI`
/// halves differ (at most 16 times).
pub(crate) fn read_u64<D: DeviceAccess + ?Sized>(
    dev: &D,
    lo_offset: u32,
) -> Result<u64, DeviceError> {
    let mut hi = read_reg(dev, lo_offset + 4)?;
    for _ in 0..16 {
        let lo = read_reg(dev, lo_offset)?;
        let hi2 = read_reg(dev, lo_offset + 4)?;
        if hi2 == hi {
            return Ok((u64::from(hi) << 32) | u64::from(lo));
        }
        hi = hi2;
    }
    Err(DeviceError::new(
        crate::error::DeviceErrorKind::DeviceMisbehaved,
        dev.location(),
        format!("reading the 64-bit counter at BAR0 offset {lo_offset:#x}"),
        "its high half changed on every one of 16 reads",
    )
    .with_fix("the counter is not updated as hw-spec section 1 says; check the device"))
}

/// The counters of TX queue `q`.
pub(crate) fn read_tx_counters<D: DeviceAccess + ?Sized>(
    dev: &D,
    info: &DeviceInfo,
    q: u32,
) -> Result<TxQueueCounters, DeviceError> {
    let at = |r: &hw_spec::layout::Register| {
        info.bases.stats + stats::TX_ARRAY_OFFSET + q * stats::STRIDE + r.offset
    };
    Ok(TxQueueCounters {
        frames: read_u64(dev, at(&stats::FRAMES_LO))?,
        bytes: read_u64(dev, at(&stats::BYTES_LO))?,
        requests: read_reg(dev, at(&stats::TX_REQUESTS))?,
        csum_inserted: read_reg(dev, at(&stats::TX_CSUM_INSERTED))?,
        tso_segments: read_reg(dev, at(&stats::TX_TSO_SEGMENTS))?,
        errors: read_reg(dev, at(&stats::TX_ERRORS))?,
    })
}

/// The counters of RX queue `q`.
pub(crate) fn read_rx_counters<D: DeviceAccess + ?Sized>(
    dev: &D,
    info: &DeviceInfo,
    q: u32,
) -> Result<RxQueueCounters, DeviceError> {
    let at = |r: &hw_spec::layout::Register| {
        info.bases.stats + stats::RX_ARRAY_OFFSET + q * stats::STRIDE + r.offset
    };
    Ok(RxQueueCounters {
        frames: read_u64(dev, at(&stats::FRAMES_LO))?,
        bytes: read_u64(dev, at(&stats::BYTES_LO))?,
        drops: read_reg(dev, at(&stats::RX_DROPS))?,
        csum_bad: read_reg(dev, at(&stats::RX_CSUM_BAD))?,
        csum_good: read_reg(dev, at(&stats::RX_CSUM_GOOD))?,
        errors: read_reg(dev, at(&stats::RX_ERRORS))?,
    })
}

/// Reads every counter and the error state of a device (MMIO; not for the hot path).
pub fn read_device_stats<D: DeviceAccess + ?Sized>(
    dev: &D,
    info: &DeviceInfo,
) -> Result<DeviceStats, DeviceError> {
    let c = |r: &hw_spec::layout::Register| info.bases.control + r.offset;
    let mut s = DeviceStats {
        tx: Vec::with_capacity(info.tx_queues.into()),
        rx: Vec::with_capacity(info.rx_queues.into()),
        rx_drops_no_queue: read_reg(dev, c(&control::RX_DROPS_NO_QUEUE))?,
        error_count: read_reg(dev, c(&control::ERROR_COUNT))?,
        error_status: read_reg(dev, c(&control::ERROR_STATUS))?,
        last_error: None,
        timestamp_ns: read_u64(dev, c(&control::TIMESTAMP_LO))?,
    };
    for q in 0..u32::from(info.tx_queues) {
        s.tx.push(read_tx_counters(dev, info, q)?);
    }
    for q in 0..u32::from(info.rx_queues) {
        s.rx.push(read_rx_counters(dev, info, q)?);
    }
    if s.error_count != 0 {
        s.last_error = Some(read_last_error(dev, info)?);
    }
    Ok(s)
}

/// Reads `CONTROL.LAST_ERROR` and `LAST_ERROR_ADDR`.
pub(crate) fn read_last_error<D: DeviceAccess + ?Sized>(
    dev: &D,
    info: &DeviceInfo,
) -> Result<LastError, DeviceError> {
    let c = |r: &hw_spec::layout::Register| info.bases.control + r.offset;
    let w = read_reg(dev, c(&control::LAST_ERROR))?;
    let code_raw = control::LAST_ERROR_CODE.get32(w) as u8;
    Ok(LastError {
        code: ErrorCode::from_bits(code_raw.into()),
        code_raw,
        queue: control::LAST_ERROR_QUEUE.get32(w) as u16,
        queue_kind: QueueKind::from_bits(control::LAST_ERROR_QUEUE_KIND.get32(w)),
        addr: read_u64(dev, c(&control::LAST_ERROR_ADDR_LO))?,
    })
}

/// Error completions by error code (indexed by the code's value).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorCounts([u64; 32]);

impl ErrorCounts {
    #[inline]
    pub(crate) fn add(&mut self, code: ErrorCode) {
        self.0[(code.bits() as usize) & 31] += 1;
    }

    /// Completions with `code`.
    pub fn get(&self, code: ErrorCode) -> u64 {
        self.0[(code.bits() as usize) & 31]
    }

    /// All of them.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The codes seen, with their counts.
    pub fn iter(&self) -> impl Iterator<Item = (ErrorCode, u64)> + '_ {
        ErrorCode::ALL
            .iter()
            .map(|c| (*c, self.get(*c)))
            .filter(|(_, n)| *n != 0)
    }
}

/// Ways a device broke the completion protocol, each counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Misbehaviour {
    /// Completions that did not decode (reserved bits, an error code without a meaning).
    pub undecodable: u64,
    /// TX completions on the RX completion queue, or the reverse.
    pub wrong_kind: u64,
    /// Completions naming another queue than the one bound to the completion queue.
    pub wrong_queue: u64,
    /// Completions while nothing was posted (for an index never posted).
    pub not_posted: u64,
    /// Completions for another ring index than the next one in flight.
    pub bad_index: u64,
    /// Completions spanning another number of descriptors than the request had.
    pub bad_desc_count: u64,
    /// RX completions with a length of 0 or beyond the buffer.
    pub bad_length: u64,
    /// TX completions whose length differs from the request's, or whose segment count is
    /// impossible.
    pub bad_tx_report: u64,
    /// RX completions with checksum statuses hw-spec section 7.1 never produces (a verdict
    /// while verification is off, `UNKNOWN` while it is on, an L4 verdict under a bad or absent
    /// IPv4 header). Their frames are delivered with both statuses `UNKNOWN`.
    pub bad_rx_status: u64,
}

impl Misbehaviour {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.undecodable
            + self.wrong_kind
            + self.wrong_queue
            + self.not_posted
            + self.bad_index
            + self.bad_desc_count
            + self.bad_length
            + self.bad_tx_report
            + self.bad_rx_status
    }

    pub(crate) fn count(&mut self, kind: FaultKind) {
        let c = match kind {
            FaultKind::Undecodable => &mut self.undecodable,
            FaultKind::WrongKind => &mut self.wrong_kind,
            FaultKind::WrongQueue => &mut self.wrong_queue,
            FaultKind::NotPosted => &mut self.not_posted,
            FaultKind::BadIndex => &mut self.bad_index,
            FaultKind::BadDescCount => &mut self.bad_desc_count,
            FaultKind::BadLength => &mut self.bad_length,
            FaultKind::BadTxReport => &mut self.bad_tx_report,
            FaultKind::BadRxStatus => &mut self.bad_rx_status,
        };
        *c += 1;
    }
}

/// The driver's counters of one queue pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Frames handed to the application.
    pub rx_packets: u64,
    /// Bytes of those frames.
    pub rx_bytes: u64,
    /// Of those, frames with a `BAD` checksum status.
    pub rx_csum_bad: u64,
    /// RX error completions, by code (their buffers were recycled).
    pub rx_errors: ErrorCounts,
    /// Times the RX ring could not be refilled completely (the pool was empty).
    pub rx_refill_starved: u64,
    /// RX doorbells (`SET_PROD`) written.
    pub rx_doorbells: u64,
    /// TX requests completed without error.
    pub tx_packets: u64,
    /// Bytes of those requests.
    pub tx_bytes: u64,
    /// Wire frames the device sent for them (TSO segments counted one by one).
    pub tx_segments: u64,
    /// TX error completions, by code (nothing was sent for them).
    pub tx_errors: ErrorCounts,
    /// Packets a TX burst could not take because the ring was full.
    pub tx_ring_full: u64,
    /// TX doorbells written.
    pub tx_doorbells: u64,
    /// Completion queue consumer updates (`SET_CONS`) written.
    pub cq_returns: u64,
    /// Doorbell writes the backend refused (a backend bug: offsets are checked at set-up).
    pub doorbell_errors: u64,
    /// Protocol violations by the device.
    pub misbehaviour: Misbehaviour,
}

/// Which half of a queue pair a fault concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The TX queue and its completion queue.
    Tx,
    /// The RX queue and its completion queue.
    Rx,
}

/// How a completion broke the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// It did not decode.
    Undecodable,
    /// A TX completion on the RX completion queue, or the reverse.
    WrongKind,
    /// It names another queue.
    WrongQueue,
    /// Nothing was posted.
    NotPosted,
    /// Another ring index than the next in flight.
    BadIndex,
    /// Another descriptor count than the request's.
    BadDescCount,
    /// An RX length of 0 or beyond the buffer.
    BadLength,
    /// A TX length or segment count that does not match the request.
    BadTxReport,
    /// RX checksum statuses that cannot occur together, or with verification in the state
    /// the driver set (the frame is delivered with both statuses `UNKNOWN`).
    BadRxStatus,
}

impl FaultKind {
    fn text(self) -> &'static str {
        match self {
            FaultKind::Undecodable => "a completion that does not decode",
            FaultKind::WrongKind => "a completion of the other direction",
            FaultKind::WrongQueue => "a completion naming another queue",
            FaultKind::NotPosted => "a completion while nothing was posted",
            FaultKind::BadIndex => "a completion for a ring index that is not the next in flight",
            FaultKind::BadDescCount => "a completion with a wrong descriptor count",
            FaultKind::BadLength => "a receive completion with a length of 0 or beyond the buffer",
            FaultKind::BadTxReport => {
                "a transmit completion whose length or segment count does not match the request"
            }
            FaultKind::BadRxStatus => {
                "a receive completion with an impossible checksum status (the frame was delivered \
                 with both statuses UNKNOWN, for software to verify)"
            }
        }
    }
}

/// The first protocol violation a queue pair saw: what, where, and the completion's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueFault {
    /// Queue pair index.
    pub queue: u16,
    /// TX or RX side.
    pub direction: Direction,
    /// What was wrong.
    pub kind: FaultKind,
    /// The ring index the driver expected next (TX: the EOP index of the oldest request in
    /// flight; RX: the oldest posted buffer).
    pub expected_index: u16,
    /// The completion consumer pointer at which the entry was read.
    pub cq_pointer: u16,
    /// The completion's bytes as the device wrote them.
    pub entry: [u8; 32],
}

impl QueueFault {
    pub(crate) fn new(
        queue: u16,
        direction: Direction,
        kind: FaultKind,
        expected_index: u16,
        cq_pointer: u16,
        words: &[u64; CPL_WORDS],
    ) -> QueueFault {
        QueueFault {
            queue,
            direction,
            kind,
            expected_index,
            cq_pointer,
            entry: super::desc::to_bytes(words),
        }
    }
}

impl fmt::Display for QueueFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = match self.direction {
            Direction::Tx => "TX",
            Direction::Rx => "RX",
        };
        write!(
            f,
            "{dir} queue {}: the device wrote {} at completion pointer {} (expected ring index \
             {}); entry bytes",
            self.queue,
            self.kind.text(),
            self.cq_pointer,
            self.expected_index
        )?;
        for b in self.entry {
            write!(f, " {b:02x}")?;
        }
        Ok(())
    }
}
