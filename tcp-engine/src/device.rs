//! The engine's only view of hardware: what a frame device can offload, the per-frame offload
//! metadata that travels with a transmitted frame, the checksum verdict that travels with a
//! received one, and the burst-oriented [`FrameDevice`] trait that poll loops drive.
//!
//! The state machine never calls a device. It is handed received frames (with [`RxMeta`]) and
//! transmit buffers, and answers with the [`TxMeta`] to submit alongside the frame it wrote.
//! [`FrameDevice`] is for the loops that connect an endpoint to a TAP device, an in-memory
//! link, or the ferrotoe NIC's driver. This module must not name any concrete device.

/// TCP segmentation offload limits of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TsoCaps {
    /// Largest TCP payload one TSO frame may carry.
    pub max_payload: u32,
    /// Smallest MSS the device accepts.
    pub min_mss: u16,
    /// Largest MSS the device accepts.
    pub max_mss: u16,
}

/// What a frame device does for the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OffloadCaps {
    /// The device computes IPv4 header and TCP checksums (pseudo-header included) on transmit;
    /// the engine leaves the checksum fields zero and sets [`TxMeta::checksum`].
    pub tx_checksum: bool,
    /// The device verifies checksums on receive and reports them in [`RxMeta`].
    pub rx_checksum: bool,
    /// The device segments TCP super-frames.
    pub tso: Option<TsoCaps>,
    /// Largest frame the device sends or receives without TSO (Ethernet header included).
    pub max_frame_len: u16,
}

impl OffloadCaps {
    /// A device that offloads nothing, with the given largest frame.
    pub const fn none(max_frame_len: u16) -> OffloadCaps {
        OffloadCaps {
            tx_checksum: false,
            rx_checksum: false,
            tso: None,
            max_frame_len,
        }
    }
}

/// Offload request submitted with one transmitted frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TxMeta {
    /// Ask the device for the IPv4 header and TCP checksums. When false the frame's checksums
    /// are already correct (computed in software) or the frame is not TCP/IPv4.
    pub checksum: bool,
    /// Segment the frame's TCP payload into segments of this many bytes.
    pub tso_mss: Option<u16>,
    /// Bytes before the IPv4 header.
    pub l2_len: u8,
    /// IPv4 header bytes.
    pub l3_len: u16,
    /// TCP header bytes.
    pub l4_len: u8,
}

impl TxMeta {
    /// No offload: the frame is complete as written.
    pub const NONE: TxMeta = TxMeta {
        checksum: false,
        tso_mss: None,
        l2_len: 0,
        l3_len: 0,
        l4_len: 0,
    };
}

/// Checksum verdict of one layer of a received frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ChecksumState {
    /// The device did not check: verify in software.
    #[default]
    Unknown,
    /// The device checked and it is correct.
    Good,
    /// The device checked and it is wrong: drop and count.
    Bad,
    /// Nothing to check at this layer.
    None,
}

/// What the device reports with one received frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RxMeta {
    /// IPv4 header checksum verdict.
    pub ip: ChecksumState,
    /// TCP/UDP checksum verdict.
    pub l4: ChecksumState,
}

impl RxMeta {
    /// Nothing verified: the engine checks every checksum itself.
    pub const UNVERIFIED: RxMeta = RxMeta {
        ip: ChecksumState::Unknown,
        l4: ChecksumState::Unknown,
    };
}

/// A device that moves Ethernet frames in bursts. Implemented by the TAP device, the in-memory
/// test link and the adapter over the ferrotoe NIC driver.
pub trait FrameDevice {
    /// What the device offloads.
    fn caps(&self) -> OffloadCaps;

    /// Hands up to `max` received frames to `on_frame`, one at a time, and returns how many.
    /// The frame buffer is mutable so the engine may answer in place.
    fn rx_burst<F: FnMut(&mut [u8], RxMeta)>(&mut self, max: usize, on_frame: F) -> usize;

    /// Offers one transmit buffer to `fill`. `fill` writes a frame and returns its length and
    /// offload metadata, or `None` to give the buffer back unused. Returns `Some` of what
    /// `fill` returned only when the frame was accepted for sending (queued or sent; loss on
    /// the wire afterwards still counts as sent). Returns `None` when no buffer was free
    /// (`fill` was not called), when `fill` declined, **and when `fill` wrote a frame that the
    /// device then refused** (an offload request it cannot honour, a length beyond its limits):
    /// nothing was sent in that case. Callers that advance protocol state for a written frame
    /// (the endpoint's two-phase transmit) must do so only on `Some`.
    ///
    /// The buffer holds at least `max_frame_len` bytes, or headers plus `TsoCaps::max_payload`
    /// when the device offers TSO.
    fn transmit<F: FnOnce(&mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        fill: F,
    ) -> Option<(usize, TxMeta)>;

    /// Offers up to `count` transmit buffers in turn to `fill`, which is called with the
    /// frame's index in the batch (0, 1, ...) and a buffer, as [`transmit`](Self::transmit)'s
    /// `fill` is; returns how many frames the device accepted. The batch stops at the first
    /// frame that [`transmit`](Self::transmit) would have answered `None` for (no buffer free,
    /// `fill` declined, or the device refused what `fill` wrote): frames `0..returned` were
    /// accepted in order, nothing after them was sent, and `fill` may have been called once
    /// more (for the frame that was declined or refused).
    ///
    /// The default calls [`transmit`](Self::transmit) once per frame; a device may take the
    /// batch in one go (one lock, one clock read, one doorbell's worth of bookkeeping) as long
    /// as what it sends is frame for frame what the default would send.
    fn transmit_batch<F: FnMut(usize, &mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        count: usize,
        fill: F,
    ) -> usize {
        transmit_each(self, count, fill)
    }

    /// Pushes queued frames to the device (one doorbell per burst). Devices that send at once
    /// may do nothing.
    fn flush(&mut self) {}

    /// Shows up to `max` of the frames the next [`rx_burst`](Self::rx_burst) would hand out,
    /// in order, without taking them, so that a caller can prefetch what they will touch.
    /// Devices that cannot look ahead show nothing (the default).
    fn peek_rx<F: FnMut(&[u8])>(&mut self, max: usize, on_frame: F) {
        let _ = (max, on_frame);
    }
}

/// [`FrameDevice::transmit_batch`] as one [`FrameDevice::transmit`] per frame (its default):
/// for devices that take some batches whole and hand others back to the single-frame path.
pub fn transmit_each<D: FrameDevice + ?Sized>(
    device: &mut D,
    count: usize,
    mut fill: impl FnMut(usize, &mut [u8]) -> Option<(usize, TxMeta)>,
) -> usize {
    let mut sent = 0;
    while sent < count && device.transmit(|buf| fill(sent, buf)).is_some() {
        sent += 1;
    }
    sent
}
