//! Descriptor and completion formats in host memory.
//!
//! Three structures, all little-endian, all naturally aligned in their rings:
//! - [`TX_DESCRIPTOR`] (32 bytes): one buffer of a frame to send, plus the offload request on the
//!   first descriptor of the frame (SOP). A frame spans descriptors SOP..EOP (scatter-gather).
//! - [`RX_DESCRIPTOR`] (16 bytes): one empty buffer for one received frame.
//! - [`COMPLETION`] (32 bytes): what the device reports for each TX frame request and each
//!   received frame. The `PHASE` bit is in the last byte and the device writes it last: an
//!   entry is valid when its phase equals the driver's expected phase, which starts at 1 and
//!   flips each time the completion ring wraps.
//!
//! Bits not covered by a field are reserved: software writes them as zero and the device
//! rejects a TX descriptor with reserved bits set (`BAD_FLAGS`). [`TxDescriptor::decode`] and
//! friends give the same verdict with a typed [`DecodeError`].

use crate::enums::{CsumStatus, ErrorCode, L4Csum, QueueKind, RssType};
use crate::layout::{BitField, DescriptorLayout};

/// TX descriptor fields.
pub mod txd {
    use super::BitField;
    /// Size in bytes.
    pub const SIZE: usize = 32;
    /// Buffer IOVA.
    pub const ADDR: BitField = BitField::new("ADDR", 0, 64, "Buffer IOVA");
    /// Buffer length.
    pub const LEN: BitField = BitField::new("LEN", 64, 32, "Bytes in this buffer (at least 1)");
    /// First descriptor of a frame.
    pub const SOP: BitField =
        BitField::new("SOP", 96, 1, "Start of packet: first buffer of a frame");
    /// Last descriptor of a frame.
    pub const EOP: BitField = BitField::new("EOP", 97, 1, "End of packet: last buffer of a frame");
    /// IPv4 header checksum request.
    pub const IP_CSUM: BitField = BitField::new(
        "IP_CSUM",
        98,
        1,
        "Compute and insert the IPv4 header checksum",
    );
    /// L4 checksum request.
    pub const L4_CSUM: BitField = BitField::new(
        "L4_CSUM",
        99,
        2,
        "Compute and insert the L4 checksum (enum L4_CSUM)",
    );
    /// TCP segmentation offload request.
    pub const TSO: BitField = BitField::new(
        "TSO",
        101,
        1,
        "Segment into MSS-sized TCP frames (needs IP_CSUM and L4_CSUM = TCP)",
    );
    /// TSO segment payload.
    pub const MSS: BitField = BitField::new("MSS", 112, 16, "TSO: TCP payload bytes per segment");
    /// Ethernet header length.
    pub const L2_LEN: BitField = BitField::new(
        "L2_LEN",
        128,
        8,
        "Bytes before the IPv4 header (14, or 18 with a VLAN tag)",
    );
    /// TCP/UDP header length.
    pub const L4_LEN: BitField = BitField::new(
        "L4_LEN",
        136,
        8,
        "TCP header bytes, options included (TSO only)",
    );
    /// IPv4 header length.
    pub const L3_LEN: BitField =
        BitField::new("L3_LEN", 144, 16, "IPv4 header bytes, options included");
    /// Every field, in bit order.
    pub const FIELDS: &[BitField] = &[
        ADDR, LEN, SOP, EOP, IP_CSUM, L4_CSUM, TSO, MSS, L2_LEN, L4_LEN, L3_LEN,
    ];
}

/// RX descriptor fields.
pub mod rxd {
    use super::BitField;
    /// Size in bytes.
    pub const SIZE: usize = 16;
    /// Buffer IOVA.
    pub const ADDR: BitField = BitField::new("ADDR", 0, 64, "Buffer IOVA");
    /// Buffer capacity.
    pub const LEN: BitField = BitField::new(
        "LEN",
        64,
        32,
        "Buffer capacity in bytes; longer frames are dropped and counted",
    );
    /// Every field, in bit order.
    pub const FIELDS: &[BitField] = &[ADDR, LEN];
}

/// Completion entry fields.
pub mod cpl {
    use super::BitField;
    /// Size in bytes.
    pub const SIZE: usize = 32;
    /// Queue index.
    pub const QUEUE: BitField =
        BitField::new("QUEUE", 0, 16, "Index of the TX or RX queue (see RX)");
    /// Ring index.
    pub const INDEX: BitField = BitField::new(
        "INDEX",
        16,
        16,
        "TX: ring index of the frame's last (EOP) descriptor; RX: ring index of the buffer",
    );
    /// Length.
    pub const LEN: BitField = BitField::new(
        "LEN",
        32,
        32,
        "TX: bytes of the request (sum of its descriptors); RX: frame length",
    );
    /// RSS hash.
    pub const RSS_HASH: BitField = BitField::new(
        "RSS_HASH",
        64,
        32,
        "RX: Toeplitz hash (see RSS_TYPE); TX: 0",
    );
    /// TSO segments.
    pub const SEGMENTS: BitField = BitField::new(
        "SEGMENTS",
        96,
        16,
        "TX: wire frames sent for this request (0 on error); RX: 0",
    );
    /// Descriptor count.
    pub const DESC_COUNT: BitField = BitField::new(
        "DESC_COUNT",
        112,
        8,
        "TX: descriptors the request spanned; RX: 1",
    );
    /// Error code.
    pub const ERROR: BitField = BitField::new("ERROR", 120, 8, "Error code (enum ERROR_CODE)");
    /// Device timestamp.
    pub const TIMESTAMP: BitField = BitField::new(
        "TIMESTAMP",
        128,
        64,
        "Device time in ns: TX when the last frame left, RX when the frame arrived",
    );
    /// IPv4 checksum status.
    pub const IP_CSUM: BitField = BitField::new(
        "IP_CSUM",
        240,
        2,
        "RX: IPv4 header checksum status (enum CSUM_STATUS)",
    );
    /// L4 checksum status.
    pub const L4_CSUM: BitField = BitField::new(
        "L4_CSUM",
        242,
        2,
        "RX: TCP/UDP checksum status (enum CSUM_STATUS)",
    );
    /// RSS hash input type.
    pub const RSS_TYPE: BitField = BitField::new(
        "RSS_TYPE",
        244,
        2,
        "RX: what RSS_HASH covers (enum RSS_TYPE)",
    );
    /// Receive completion flag.
    pub const RX: BitField = BitField::new("RX", 248, 1, "1: receive completion; 0: transmit");
    /// Phase (owner) bit.
    pub const PHASE: BitField = BitField::new(
        "PHASE",
        255,
        1,
        "Phase: 1 on the first pass through the ring, flipping on every wrap; written last",
    );
    /// Every field, in bit order.
    pub const FIELDS: &[BitField] = &[
        QUEUE, INDEX, LEN, RSS_HASH, SEGMENTS, DESC_COUNT, ERROR, TIMESTAMP, IP_CSUM, L4_CSUM,
        RSS_TYPE, RX, PHASE,
    ];
}

/// The TX descriptor layout as data.
pub const TX_DESCRIPTOR: DescriptorLayout = DescriptorLayout {
    name: "TXD",
    size: txd::SIZE as u32,
    doc: "TX descriptor: one buffer of a frame; the SOP descriptor carries the offload request",
    fields: txd::FIELDS,
};

/// The RX descriptor layout as data.
pub const RX_DESCRIPTOR: DescriptorLayout = DescriptorLayout {
    name: "RXD",
    size: rxd::SIZE as u32,
    doc: "RX descriptor: one empty buffer for one received frame",
    fields: rxd::FIELDS,
};

/// The completion layout as data.
pub const COMPLETION: DescriptorLayout = DescriptorLayout {
    name: "CPL",
    size: cpl::SIZE as u32,
    doc: "Completion entry: one per TX frame request and per received frame",
    fields: cpl::FIELDS,
};

/// Every descriptor layout, for the generators.
pub const DESCRIPTORS: &[DescriptorLayout] = &[TX_DESCRIPTOR, RX_DESCRIPTOR, COMPLETION];

/// Why bytes do not decode as a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// A reserved bit is set.
    ReservedBitsSet {
        /// Layout name (`TXD`, `RXD`, `CPL`).
        layout: &'static str,
        /// Lowest reserved bit that is set.
        bit: u32,
    },
    /// A field holds a value without a meaning.
    InvalidValue {
        /// Layout name.
        layout: &'static str,
        /// Field name.
        field: &'static str,
        /// The value.
        value: u64,
    },
    /// Offload fields are set on a descriptor that is not the first of its frame.
    OffloadOnNonSop,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::ReservedBitsSet { layout, bit } => {
                write!(f, "{layout}: reserved bit {bit} is set")
            }
            DecodeError::InvalidValue {
                layout,
                field,
                value,
            } => write!(f, "{layout}.{field}: value {value:#x} has no meaning"),
            DecodeError::OffloadOnNonSop => {
                write!(f, "TXD: offload fields set on a descriptor without SOP")
            }
        }
    }
}

/// The reserved bits of a layout (bits no field covers) as a byte mask, computed at compile
/// time. Layouts are at most 32 bytes.
pub const fn reserved_mask(layout: &DescriptorLayout) -> [u8; 32] {
    let mut mask = [0u8; 32];
    let mut byte = 0;
    while byte < layout.size as usize {
        mask[byte] = 0xFF;
        byte += 1;
    }
    let mut i = 0;
    while i < layout.fields.len() {
        let f = &layout.fields[i];
        let mut bit = f.lsb;
        while bit <= f.msb() {
            mask[(bit / 8) as usize] &= !(1u8 << (bit % 8));
            bit += 1;
        }
        i += 1;
    }
    mask
}

const TXD_RESERVED: [u8; 32] = reserved_mask(&TX_DESCRIPTOR);
const RXD_RESERVED: [u8; 32] = reserved_mask(&RX_DESCRIPTOR);
const CPL_RESERVED: [u8; 32] = reserved_mask(&COMPLETION);

/// Returns the lowest reserved bit of `bytes` that is set, given the layout's reserved mask.
#[inline]
fn first_reserved_bit_set(reserved: &[u8; 32], bytes: &[u8]) -> Option<u32> {
    bytes
        .iter()
        .zip(reserved)
        .position(|(b, m)| b & m != 0)
        .map(|i| i as u32 * 8 + (bytes[i] & reserved[i]).trailing_zeros())
}

/// The offload request carried by the first (SOP) descriptor of a TX frame.
///
/// All fields zero means "send as is". See [`crate::offload`] for what the device does with it
/// and which combinations it rejects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TxOffloadRequest {
    /// Insert the IPv4 header checksum.
    pub ip_csum: bool,
    /// Insert an L4 checksum.
    pub l4_csum: L4Csum,
    /// Segment (TCP segmentation offload).
    pub tso: bool,
    /// TSO segment payload in bytes.
    pub mss: u16,
    /// Bytes before the IPv4 header.
    pub l2_len: u8,
    /// IPv4 header bytes.
    pub l3_len: u16,
    /// TCP header bytes (TSO only).
    pub l4_len: u8,
}

impl Default for TxOffloadRequest {
    fn default() -> Self {
        TxOffloadRequest::NONE
    }
}

impl TxOffloadRequest {
    /// No offload: the device sends the bytes as they are.
    pub const NONE: TxOffloadRequest = TxOffloadRequest {
        ip_csum: false,
        l4_csum: L4Csum::None,
        tso: false,
        mss: 0,
        l2_len: 0,
        l3_len: 0,
        l4_len: 0,
    };

    /// IPv4 header and TCP checksums for one frame with the given header lengths.
    pub const fn tcp_checksums(l2_len: u8, l3_len: u16) -> TxOffloadRequest {
        TxOffloadRequest {
            ip_csum: true,
            l4_csum: L4Csum::Tcp,
            tso: false,
            mss: 0,
            l2_len,
            l3_len,
            l4_len: 0,
        }
    }

    /// TCP segmentation with the given MSS and header lengths (checksums included).
    pub const fn tso(mss: u16, l2_len: u8, l3_len: u16, l4_len: u8) -> TxOffloadRequest {
        TxOffloadRequest {
            ip_csum: true,
            l4_csum: L4Csum::Tcp,
            tso: true,
            mss,
            l2_len,
            l3_len,
            l4_len,
        }
    }

    /// Whether any offload is requested or any offload field is non-zero.
    pub const fn is_none(&self) -> bool {
        !self.ip_csum
            && matches!(self.l4_csum, L4Csum::None)
            && !self.tso
            && self.mss == 0
            && self.l2_len == 0
            && self.l3_len == 0
            && self.l4_len == 0
    }
}

/// A TX descriptor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TxDescriptor {
    /// Buffer IOVA.
    pub addr: u64,
    /// Bytes in the buffer.
    pub len: u32,
    /// First buffer of a frame.
    pub sop: bool,
    /// Last buffer of a frame.
    pub eop: bool,
    /// Offload request; must be [`TxOffloadRequest::NONE`] unless `sop`.
    pub offload: TxOffloadRequest,
}

impl TxDescriptor {
    /// A single-buffer frame.
    pub const fn single(addr: u64, len: u32, offload: TxOffloadRequest) -> TxDescriptor {
        TxDescriptor {
            addr,
            len,
            sop: true,
            eop: true,
            offload,
        }
    }

    /// Encodes into ring bytes.
    pub fn encode(&self) -> [u8; txd::SIZE] {
        let mut b = [0u8; txd::SIZE];
        self.encode_into(&mut b);
        b
    }

    /// Encodes into the first [`txd::SIZE`] bytes of `out` (reserved bits are zeroed).
    ///
    /// # Panics
    /// Panics if `out` is shorter than [`txd::SIZE`].
    #[inline]
    pub fn encode_into(&self, out: &mut [u8]) {
        let b = &mut out[..txd::SIZE];
        b.fill(0);
        b[0..8].copy_from_slice(&self.addr.to_le_bytes());
        txd::LEN.set_le(b, self.len.into());
        txd::SOP.set_le(b, self.sop.into());
        txd::EOP.set_le(b, self.eop.into());
        let o = &self.offload;
        txd::IP_CSUM.set_le(b, o.ip_csum.into());
        txd::L4_CSUM.set_le(b, o.l4_csum.bits().into());
        txd::TSO.set_le(b, o.tso.into());
        txd::MSS.set_le(b, o.mss.into());
        txd::L2_LEN.set_le(b, o.l2_len.into());
        txd::L3_LEN.set_le(b, o.l3_len.into());
        txd::L4_LEN.set_le(b, o.l4_len.into());
    }

    /// Decodes ring bytes, rejecting reserved bits, the reserved L4 type and offload fields on a
    /// descriptor without SOP.
    ///
    /// # Panics
    /// Panics if `bytes` is shorter than [`txd::SIZE`].
    pub fn decode(bytes: &[u8]) -> Result<TxDescriptor, DecodeError> {
        let b = &bytes[..txd::SIZE];
        if let Some(bit) = first_reserved_bit_set(&TXD_RESERVED, b) {
            return Err(DecodeError::ReservedBitsSet { layout: "TXD", bit });
        }
        let l4_bits = txd::L4_CSUM.get_le(b);
        let l4_csum = L4Csum::from_bits(l4_bits as u32).ok_or(DecodeError::InvalidValue {
            layout: "TXD",
            field: "L4_CSUM",
            value: l4_bits,
        })?;
        let desc = TxDescriptor {
            addr: txd::ADDR.get_le(b),
            len: txd::LEN.get_le(b) as u32,
            sop: txd::SOP.get_le(b) == 1,
            eop: txd::EOP.get_le(b) == 1,
            offload: TxOffloadRequest {
                ip_csum: txd::IP_CSUM.get_le(b) == 1,
                l4_csum,
                tso: txd::TSO.get_le(b) == 1,
                mss: txd::MSS.get_le(b) as u16,
                l2_len: txd::L2_LEN.get_le(b) as u8,
                l3_len: txd::L3_LEN.get_le(b) as u16,
                l4_len: txd::L4_LEN.get_le(b) as u8,
            },
        };
        if !desc.sop && !desc.offload.is_none() {
            return Err(DecodeError::OffloadOnNonSop);
        }
        Ok(desc)
    }
}

/// An RX buffer descriptor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RxDescriptor {
    /// Buffer IOVA.
    pub addr: u64,
    /// Buffer capacity in bytes.
    pub len: u32,
}

impl RxDescriptor {
    /// Encodes into ring bytes.
    pub fn encode(&self) -> [u8; rxd::SIZE] {
        let mut b = [0u8; rxd::SIZE];
        self.encode_into(&mut b);
        b
    }

    /// Encodes into the first [`rxd::SIZE`] bytes of `out`.
    ///
    /// # Panics
    /// Panics if `out` is shorter than [`rxd::SIZE`].
    #[inline]
    pub fn encode_into(&self, out: &mut [u8]) {
        let b = &mut out[..rxd::SIZE];
        b.fill(0);
        rxd::ADDR.set_le(b, self.addr);
        rxd::LEN.set_le(b, self.len.into());
    }

    /// Decodes ring bytes, rejecting reserved bits.
    ///
    /// # Panics
    /// Panics if `bytes` is shorter than [`rxd::SIZE`].
    pub fn decode(bytes: &[u8]) -> Result<RxDescriptor, DecodeError> {
        let b = &bytes[..rxd::SIZE];
        if let Some(bit) = first_reserved_bit_set(&RXD_RESERVED, b) {
            return Err(DecodeError::ReservedBitsSet { layout: "RXD", bit });
        }
        Ok(RxDescriptor {
            addr: rxd::ADDR.get_le(b),
            len: rxd::LEN.get_le(b) as u32,
        })
    }
}

/// A completion entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Completion {
    /// Whether this completes a received frame (`Rx`) or a TX request (`Tx`).
    pub kind: CompletionKind,
    /// Index of the TX or RX queue.
    pub queue: u16,
    /// TX: ring index of the EOP descriptor; RX: ring index of the buffer.
    pub index: u16,
    /// TX: request bytes; RX: frame length.
    pub len: u32,
    /// RX: RSS hash.
    pub rss_hash: u32,
    /// RX: what the hash covers.
    pub rss_type: RssType,
    /// TX: wire frames sent for the request.
    pub segments: u16,
    /// TX: descriptors of the request; RX: 1.
    pub desc_count: u8,
    /// Error code ([`ErrorCode::None`] on success).
    pub error: ErrorCode,
    /// Device time in ns.
    pub timestamp: u64,
    /// RX: IPv4 header checksum status.
    pub ip_csum: CsumStatus,
    /// RX: TCP/UDP checksum status.
    pub l4_csum: CsumStatus,
    /// Phase bit.
    pub phase: bool,
}

/// The two kinds of completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompletionKind {
    /// A TX frame request finished.
    Tx,
    /// A frame was received.
    Rx,
}

impl From<CompletionKind> for QueueKind {
    fn from(k: CompletionKind) -> QueueKind {
        match k {
            CompletionKind::Tx => QueueKind::Tx,
            CompletionKind::Rx => QueueKind::Rx,
        }
    }
}

impl Completion {
    /// Encodes into ring bytes (the phase bit included; a device writes the last byte last).
    pub fn encode(&self) -> [u8; cpl::SIZE] {
        // Built as words, stored once: a device model writes one entry per frame.
        let mut w = [0u64; cpl::SIZE / 8];
        cpl::QUEUE.set_le_words(&mut w, self.queue.into());
        cpl::INDEX.set_le_words(&mut w, self.index.into());
        cpl::LEN.set_le_words(&mut w, self.len.into());
        cpl::RSS_HASH.set_le_words(&mut w, self.rss_hash.into());
        cpl::SEGMENTS.set_le_words(&mut w, self.segments.into());
        cpl::DESC_COUNT.set_le_words(&mut w, self.desc_count.into());
        cpl::ERROR.set_le_words(&mut w, self.error.bits().into());
        cpl::TIMESTAMP.set_le_words(&mut w, self.timestamp);
        cpl::IP_CSUM.set_le_words(&mut w, self.ip_csum.bits().into());
        cpl::L4_CSUM.set_le_words(&mut w, self.l4_csum.bits().into());
        cpl::RSS_TYPE.set_le_words(&mut w, self.rss_type.bits().into());
        cpl::RX.set_le_words(&mut w, matches!(self.kind, CompletionKind::Rx).into());
        cpl::PHASE.set_le_words(&mut w, self.phase.into());
        let mut b = [0u8; cpl::SIZE];
        for (bytes, word) in b.chunks_exact_mut(8).zip(w) {
            bytes.copy_from_slice(&word.to_le_bytes());
        }
        b
    }

    /// Reads only the phase bit of an entry (what a driver polls).
    ///
    /// # Panics
    /// Panics if `bytes` is shorter than [`cpl::SIZE`].
    #[inline]
    pub fn phase_of(bytes: &[u8]) -> bool {
        cpl::PHASE.get_le(bytes) == 1
    }

    /// Decodes ring bytes. A driver must treat a decode error as a misbehaving device.
    ///
    /// # Panics
    /// Panics if `bytes` is shorter than [`cpl::SIZE`].
    pub fn decode(bytes: &[u8]) -> Result<Completion, DecodeError> {
        let b = &bytes[..cpl::SIZE];
        if let Some(bit) = first_reserved_bit_set(&CPL_RESERVED, b) {
            return Err(DecodeError::ReservedBitsSet { layout: "CPL", bit });
        }
        let invalid = |field: &'static str, value: u64| DecodeError::InvalidValue {
            layout: "CPL",
            field,
            value,
        };
        let error_bits = cpl::ERROR.get_le(b);
        let error = ErrorCode::from_bits(error_bits as u32).ok_or(invalid("ERROR", error_bits))?;
        // Two-bit enums with four values always decode.
        let csum =
            |f: &BitField| CsumStatus::from_bits(f.get_le(b) as u32).unwrap_or(CsumStatus::Unknown);
        let rss_type = RssType::from_bits(cpl::RSS_TYPE.get_le(b) as u32).unwrap_or(RssType::None);
        Ok(Completion {
            kind: if cpl::RX.get_le(b) == 1 {
                CompletionKind::Rx
            } else {
                CompletionKind::Tx
            },
            queue: cpl::QUEUE.get_le(b) as u16,
            index: cpl::INDEX.get_le(b) as u16,
            len: cpl::LEN.get_le(b) as u32,
            rss_hash: cpl::RSS_HASH.get_le(b) as u32,
            rss_type,
            segments: cpl::SEGMENTS.get_le(b) as u16,
            desc_count: cpl::DESC_COUNT.get_le(b) as u8,
            error,
            timestamp: cpl::TIMESTAMP.get_le(b),
            ip_csum: csum(&cpl::IP_CSUM),
            l4_csum: csum(&cpl::L4_CSUM),
            phase: cpl::PHASE.get_le(b) == 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_fit_and_do_not_overlap() {
        for layout in DESCRIPTORS {
            assert!(layout.size.is_power_of_two());
            for (i, f) in layout.fields.iter().enumerate() {
                assert!(f.width >= 1 && f.width <= 64, "{}.{}", layout.name, f.name);
                assert!(
                    f.msb() < layout.size * 8,
                    "{}.{} beyond size",
                    layout.name,
                    f.name
                );
                for g in &layout.fields[i + 1..] {
                    let disjoint = f.msb() < g.lsb || g.msb() < f.lsb;
                    assert!(disjoint, "{}.{} overlaps {}", layout.name, f.name, g.name);
                    assert_ne!(f.name, g.name);
                }
            }
        }
    }

    #[test]
    fn phase_bit_is_in_the_last_byte() {
        assert_eq!(cpl::PHASE.lsb / 8, cpl::SIZE as u32 - 1);
    }

    #[test]
    fn tx_descriptor_known_bytes() {
        let d = TxDescriptor::single(
            0x1122_3344_5566_7788,
            1514,
            TxOffloadRequest::tso(1448, 14, 20, 32),
        );
        let b = d.encode();
        assert_eq!(&b[0..8], &0x1122_3344_5566_7788u64.to_le_bytes());
        assert_eq!(&b[8..12], &1514u32.to_le_bytes());
        // SOP | EOP | IP_CSUM | L4=TCP (bit 99) | TSO (bit 101) in byte 12.
        assert_eq!(b[12], 0b0010_1111);
        assert_eq!(b[13], 0);
        assert_eq!(&b[14..16], &1448u16.to_le_bytes());
        assert_eq!(b[16], 14);
        assert_eq!(b[17], 32);
        assert_eq!(&b[18..20], &20u16.to_le_bytes());
        assert!(b[20..].iter().all(|&x| x == 0));
        assert_eq!(TxDescriptor::decode(&b), Ok(d));
    }

    #[test]
    fn tx_descriptor_rejects_reserved_and_invalid() {
        let mut b = TxDescriptor::single(0x1000, 60, TxOffloadRequest::NONE).encode();
        b[31] = 0x80;
        assert_eq!(
            TxDescriptor::decode(&b),
            Err(DecodeError::ReservedBitsSet {
                layout: "TXD",
                bit: 255
            })
        );
        let mut b = TxDescriptor::single(0x1000, 60, TxOffloadRequest::NONE).encode();
        txd::L4_CSUM.set_le(&mut b, 3);
        assert!(matches!(
            TxDescriptor::decode(&b),
            Err(DecodeError::InvalidValue {
                field: "L4_CSUM",
                value: 3,
                ..
            })
        ));
        let mut d = TxDescriptor::single(0x1000, 60, TxOffloadRequest::tcp_checksums(14, 20));
        d.sop = false;
        assert_eq!(
            TxDescriptor::decode(&d.encode()),
            Err(DecodeError::OffloadOnNonSop)
        );
    }

    #[test]
    fn completion_known_bytes() {
        let c = Completion {
            kind: CompletionKind::Rx,
            queue: 3,
            index: 0x1234,
            len: 60,
            rss_hash: 0xDEAD_BEEF,
            rss_type: RssType::Ipv4Tcp,
            segments: 0,
            desc_count: 1,
            error: ErrorCode::None,
            timestamp: 0x0102_0304_0506_0708,
            ip_csum: CsumStatus::Good,
            l4_csum: CsumStatus::Bad,
            phase: true,
        };
        let b = c.encode();
        assert_eq!(&b[0..2], &[3, 0]);
        assert_eq!(&b[2..4], &[0x34, 0x12]);
        assert_eq!(b[30], 0b10_10_01);
        assert_eq!(b[31], 0x81);
        assert!(Completion::phase_of(&b));
        assert_eq!(Completion::decode(&b), Ok(c));
    }
}
