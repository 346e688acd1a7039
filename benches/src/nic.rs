//! The TCP engine's frame device on the ferrotoe NIC: [`NicFrameDevice`] implements
//! [`tcp_engine::device::FrameDevice`] over one host-driver [`QueuePair`], so the engine runs
//! unchanged on the simulated NIC and on real hardware.
//!
//! Owns the translation between the two vocabularies and nothing else:
//! - offload capabilities from the device's `IDENT` block ([`DeviceCaps`]) to [`OffloadCaps`]
//!   (TX checksums need IPv4 and TCP insertion; TSO needs the device's TSO and a pool of large
//!   buffers; the largest frame is bounded by the RX buffers too);
//! - [`TxMeta`] to hw-spec's [`TxOffloadRequest`] (checked with
//!   [`QueuePair::prepare`] before the frame goes out: a request the device would refuse is
//!   dropped and counted here instead of costing an error completion);
//! - the device's per-layer [`CsumStatus`] to [`ChecksumState`] in [`RxMeta`].
//!
//! Frames are zero-copy both ways: the engine writes into a pool buffer and reads received
//! frames in place. Queued frames go to the device with one doorbell per
//! [`flush`](FrameDevice::flush) (or when the adapter's batch is full). Nothing here allocates
//! after [`NicFrameDevice::new`].

use host_driver::DeviceAccess;
use host_driver::nic::{PacketBatch, PacketBuf, PacketPool, QueuePair};
use hw_spec::offload::{MAX_L2_LEN, MAX_L3_LEN, MAX_TCP_LEN};
use hw_spec::{CsumStatus, DeviceCaps, TxOffloadRequest};
use tcp_engine::device::{ChecksumState, FrameDevice, OffloadCaps, RxMeta, TsoCaps, TxMeta};

/// Frames the adapter holds between bursts, each way.
pub const ADAPTER_BATCH: usize = 64;

/// What the adapter counted on its own (the driver's counters are in [`QueuePair::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdapterStats {
    /// Frames whose offload request the device would refuse: dropped before the device saw
    /// them.
    pub tx_rejected: u64,
    /// Times `transmit` found no free buffer (or no room to queue).
    pub tx_no_buffer: u64,
    /// Frames longer than their buffer (a bug of the caller): dropped.
    pub tx_too_long: u64,
}

/// [`FrameDevice`] over one queue pair of the ferrotoe NIC.
pub struct NicFrameDevice<D: DeviceAccess> {
    qp: QueuePair<D>,
    caps: OffloadCaps,
    tx_pool: PacketPool,
    rx: PacketBatch,
    tx: PacketBatch,
    stats: AdapterStats,
}

impl<D: DeviceAccess> std::fmt::Debug for NicFrameDevice<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NicFrameDevice")
            .field("queue_pair", &self.qp)
            .field("caps", &self.caps)
            .finish()
    }
}

/// The engine's view of a device's offloads, given the buffers the adapter can fill.
///
/// `tx_buf` is the size of the buffers `transmit` hands out, `large_buf` that of the large pool
/// (TSO needs one: a super-frame is headers plus up to `MAX_TSO_PAYLOAD` bytes), `rx_buf` that of
/// the receive buffers (the device drops longer frames).
pub fn offload_caps(
    caps: &DeviceCaps,
    rx_checksum: bool,
    rx_buf: u32,
    large_buf: Option<u32>,
) -> OffloadCaps {
    let headers = MAX_L2_LEN + MAX_L3_LEN + MAX_TCP_LEN;
    let tso = match large_buf {
        Some(size) if caps.tso && size > headers => Some(TsoCaps {
            max_payload: caps.max_tso_payload.min(size - headers),
            min_mss: caps.min_mss,
            max_mss: caps.max_mss,
        }),
        _ => None,
    };
    OffloadCaps {
        tx_checksum: caps.tx_ipv4_csum && caps.tx_tcp_csum,
        rx_checksum,
        tso,
        max_frame_len: caps
            .max_frame_len
            .min(u16::try_from(rx_buf).unwrap_or(u16::MAX)),
    }
}

/// The device's offload request for an engine frame.
pub fn tx_request(meta: &TxMeta) -> TxOffloadRequest {
    match meta.tso_mss {
        Some(mss) => TxOffloadRequest::tso(mss, meta.l2_len, meta.l3_len, meta.l4_len),
        None if meta.checksum => TxOffloadRequest::tcp_checksums(meta.l2_len, meta.l3_len),
        None => TxOffloadRequest::NONE,
    }
}

/// The engine's checksum verdict for the device's status of one layer.
pub fn checksum_state(s: CsumStatus) -> ChecksumState {
    match s {
        CsumStatus::Unknown => ChecksumState::Unknown,
        CsumStatus::Good => ChecksumState::Good,
        CsumStatus::Bad => ChecksumState::Bad,
        CsumStatus::None => ChecksumState::None,
    }
}

/// The engine's metadata of a received packet.
pub fn rx_meta(buf: &PacketBuf) -> RxMeta {
    let info = buf.rx_info();
    RxMeta {
        ip: checksum_state(info.ip_csum),
        l4: checksum_state(info.l4_csum),
    }
}

impl<D: DeviceAccess> NicFrameDevice<D> {
    /// Wraps an open queue pair. With TSO the engine is offered large buffers for every frame
    /// (the [`FrameDevice`] contract: any transmit buffer can hold a super-frame), so give the
    /// queue pair a large pool ([`host_driver::QueueConfig::large_buffers`]) to use TSO.
    pub fn new(qp: QueuePair<D>) -> NicFrameDevice<D> {
        let caps = offload_caps(
            qp.caps(),
            qp.rx_checksum(),
            qp.pool().buf_size(),
            qp.large_pool().map(PacketPool::buf_size),
        );
        let tx_pool = match (&caps.tso, qp.large_pool()) {
            (Some(_), Some(large)) => large.clone(),
            _ => qp.pool().clone(),
        };
        NicFrameDevice {
            caps,
            tx_pool,
            rx: PacketBatch::with_capacity(ADAPTER_BATCH),
            tx: PacketBatch::with_capacity(ADAPTER_BATCH),
            stats: AdapterStats::default(),
            qp,
        }
    }

    /// The queue pair (counters, health, interrupts).
    pub fn queue_pair(&self) -> &QueuePair<D> {
        &self.qp
    }

    /// The queue pair, mutable (for `wait_rx`, `flush_tx`, `recover`).
    pub fn queue_pair_mut(&mut self) -> &mut QueuePair<D> {
        &mut self.qp
    }

    /// The adapter's own counters.
    pub fn stats(&self) -> AdapterStats {
        self.stats
    }

    /// Frames queued and not yet handed to the device.
    pub fn tx_pending(&self) -> usize {
        self.tx.len()
    }

    /// Gives the adapter back its queue pair.
    pub fn into_inner(mut self) -> QueuePair<D> {
        self.flush();
        self.qp
    }
}

impl<D: DeviceAccess> FrameDevice for NicFrameDevice<D> {
    fn caps(&self) -> OffloadCaps {
        self.caps
    }

    fn rx_burst<F: FnMut(&mut [u8], RxMeta)>(&mut self, max: usize, mut on_frame: F) -> usize {
        let mut n = 0;
        while n < max {
            if self.rx.is_empty() && self.qp.rx_burst(&mut self.rx) == 0 {
                break;
            }
            let Some(mut p) = self.rx.pop() else { break };
            let meta = rx_meta(&p);
            on_frame(p.data_mut(), meta);
            n += 1;
        }
        n
    }

    fn transmit<F: FnOnce(&mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        fill: F,
    ) -> Option<(usize, TxMeta)> {
        if self.tx.room() == 0 {
            self.flush();
        }
        let buf = match self.tx_pool.alloc() {
            Some(b) => Some(b),
            None => {
                // Completed frames give their buffers back.
                self.qp.reclaim_tx();
                self.tx_pool.alloc()
            }
        };
        let (Some(mut buf), true) = (buf, self.tx.room() > 0) else {
            self.stats.tx_no_buffer += 1;
            return None;
        };
        let (len, meta) = fill(buf.buffer_mut())?;
        if buf.set_len(len).is_err() {
            self.stats.tx_too_long += 1;
            return None;
        }
        buf.set_tx_offload(tx_request(&meta));
        if self.qp.prepare(&buf).is_err() {
            self.stats.tx_rejected += 1;
            return None;
        }
        // Room was checked above.
        let _ = self.tx.push(buf);
        Some((len, meta))
    }

    fn flush(&mut self) {
        if !self.tx.is_empty() {
            self.qp.tx_burst(&mut self.tx);
        }
    }
}
