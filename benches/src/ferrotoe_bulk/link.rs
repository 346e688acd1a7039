//! The in-memory link backend of the ferrotoe bulk workload: two [`LinkEnd`]s of
//! `tcp_engine::link`, a perfect wire (no loss, no delay), whose ports play the NIC.
//!
//! The offload mode decides what each port does, matching what the smoltcp workload's wire
//! does for smoltcp:
//! - `none`: the ports offload nothing; the engine computes every checksum on transmit and
//!   verifies every checksum on receive in software (smoltcp with `CSUM=1`).
//! - `csum`: checksum offload on both ports, with the link's arithmetic elided
//!   ([`LinkConfig::elide_offloaded_checksums`]): a NIC computes and verifies checksums in
//!   hardware at no host cost, so the link reports intact frames as verified without summing
//!   them (smoltcp with checksums "ignored", its default).
//! - `tso`: as `csum`, plus TCP segmentation offload up to 64 KiB, with super-frames delivered
//!   whole ([`TsoDelivery::Whole`]): the receiving "NIC" coalesces (LRO/GRO), so the receiving
//!   engine sees one large segment per super-frame. Nothing segments the frames on the host:
//!   that copy is the NIC's DMA. The wire counts report the segments a real wire would carry.
//!
//! Owns the link set-up and its wire counts. Must not contain workload logic.

use tcp_engine::device::{FrameDevice, OffloadCaps, RxMeta, TxMeta};
use tcp_engine::link::{LinkConfig, LinkEnd, SimClock, TsoDelivery, offload_caps, pair};

use super::{BulkDevices, WireCounts, setup_error};
use crate::workload::{BulkConfig, BulkError, OffloadMode};

/// Frames the link's queues hold per direction, beyond one window of MSS-sized frames.
const QUEUE_SLACK: usize = 64;

/// The link's port offloads for an offload mode at `mtu`.
pub fn caps_for(offload: OffloadMode, mtu: u16) -> OffloadCaps {
    match offload {
        OffloadMode::None => OffloadCaps::none(mtu + 14),
        OffloadMode::Csum => offload_caps(mtu, false),
        OffloadMode::Tso => offload_caps(mtu, true),
    }
}

/// The link configuration of a bulk run: a perfect wire with the mode's offloads, checksum
/// arithmetic elided where it is offloaded, TSO super-frames delivered whole, queues deep
/// enough for a whole window of MSS-sized frames.
pub fn link_config(config: &BulkConfig) -> LinkConfig {
    let caps = caps_for(config.offload, config.mtu);
    let mut link = LinkConfig::new(caps);
    link.elide_offloaded_checksums = config.offload != OffloadMode::None;
    link.tso_delivery = TsoDelivery::Whole;
    let mss = usize::from(config.mtu) - 40;
    link.queue_frames = config.socket_buffer.div_ceil(mss) + QUEUE_SLACK;
    link
}

/// A link end that counts what it sends as a wire would carry it.
#[derive(Debug)]
pub struct CountedEnd {
    end: LinkEnd,
    /// Transmit requests accepted.
    requests: u64,
    /// Wire frames they stand for (TSO super-frames as their segments).
    frames: u64,
    /// Bytes of those wire frames.
    bytes: u64,
}

impl CountedEnd {
    fn new(end: LinkEnd) -> CountedEnd {
        CountedEnd {
            end,
            requests: 0,
            frames: 0,
            bytes: 0,
        }
    }

    /// The link end.
    pub fn link_end(&self) -> &LinkEnd {
        &self.end
    }
}

impl FrameDevice for CountedEnd {
    #[inline]
    fn caps(&self) -> OffloadCaps {
        self.end.caps()
    }

    #[inline]
    fn rx_burst<F: FnMut(&mut [u8], RxMeta)>(&mut self, max: usize, on_frame: F) -> usize {
        self.end.rx_burst(max, on_frame)
    }

    #[inline]
    fn transmit<F: FnOnce(&mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        fill: F,
    ) -> Option<(usize, TxMeta)> {
        let (len, meta) = self.end.transmit(fill)?;
        let (frames, bytes) = wire_count(len, &meta);
        self.requests += 1;
        self.frames += frames;
        self.bytes += bytes;
        Some((len, meta))
    }

    /// The link end's batch, counted as [`transmit`](Self::transmit) counts each frame.
    #[inline]
    fn transmit_batch<F: FnMut(usize, &mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        count: usize,
        mut fill: F,
    ) -> usize {
        // Frames are accepted in order up to the first that is not: each written frame is
        // counted, and the last one taken back when the device stopped at it.
        let (mut calls, mut frames, mut bytes, mut last) = (0usize, 0u64, 0u64, (0u64, 0u64));
        let sent = self.end.transmit_batch(count, |i, buf| {
            calls += 1;
            let out = fill(i, buf);
            last = out.map_or((0, 0), |(len, meta)| wire_count(len, &meta));
            frames += last.0;
            bytes += last.1;
            out
        });
        if calls > sent {
            frames -= last.0;
            bytes -= last.1;
        }
        self.requests += sent as u64;
        self.frames += frames;
        self.bytes += bytes;
        sent
    }

    #[inline]
    fn flush(&mut self) {
        self.end.flush();
    }

    #[inline]
    fn peek_rx<F: FnMut(&[u8])>(&mut self, max: usize, on_frame: F) {
        self.end.peek_rx(max, on_frame);
    }
}

/// The wire frames and bytes one accepted request of `len` bytes with `meta` stands for (TSO
/// super-frames as their segments).
fn wire_count(len: usize, meta: &TxMeta) -> (u64, u64) {
    match meta.tso_mss {
        Some(mss) if mss > 0 => {
            let headers =
                usize::from(meta.l2_len) + usize::from(meta.l3_len) + usize::from(meta.l4_len);
            let payload = len.saturating_sub(headers);
            let segments = payload.div_ceil(usize::from(mss)).max(1);
            (segments as u64, (payload + segments * headers) as u64)
        }
        _ => (1, len as u64),
    }
}

/// The two ends of a perfect in-memory link: client first.
#[derive(Debug)]
pub struct LinkDevices {
    client: CountedEnd,
    server: CountedEnd,
    /// The link's clock: it stays at 0, so every frame is receivable at once (no delay).
    _clock: SimClock,
}

impl LinkDevices {
    /// The link for `config` (see [`link_config`]).
    pub fn new(config: &BulkConfig) -> Result<LinkDevices, BulkError> {
        Self::with_link(&link_config(config))
    }

    /// A link of any configuration (tests impair it). Its clock stays at 0: a link with
    /// delays never delivers.
    pub fn with_link(link: &LinkConfig) -> Result<LinkDevices, BulkError> {
        let clock = SimClock::new();
        let (a, b) = pair(link, &clock)
            .map_err(|e| setup_error(format!("building the in-memory link: {e}")))?;
        Ok(LinkDevices {
            client: CountedEnd::new(a),
            server: CountedEnd::new(b),
            _clock: clock,
        })
    }

    /// The client's end.
    pub fn client(&self) -> &CountedEnd {
        &self.client
    }

    /// The server's end.
    pub fn server(&self) -> &CountedEnd {
        &self.server
    }
}

impl BulkDevices for LinkDevices {
    type Device = CountedEnd;

    #[inline]
    fn ends(&mut self) -> (&mut CountedEnd, &mut CountedEnd) {
        (&mut self.client, &mut self.server)
    }

    fn wire_counts(&self) -> WireCounts {
        WireCounts {
            data_frames: self.client.frames,
            data_wire_bytes: self.client.bytes,
            reverse_frames: self.server.frames,
            tx_requests: self.client.requests,
        }
    }
}
