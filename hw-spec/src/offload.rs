//! Offload semantics as code: device capabilities, TSO flag masks, and the validation of a TX
//! request in the exact order the device applies it.
//!
//! The prose is in `SPEC.md` (the crate documentation). What is executable lives here so that
//! the reference model, the RTL test benches and the driver's `tx_prepare` all share it.

use crate::descriptors::TxOffloadRequest;
use crate::enums::{ErrorCode, L4Csum};
use crate::regs::ident;

/// Bytes of an Ethernet II header without VLAN tag: the smallest legal `L2_LEN` and frame.
pub const MIN_L2_LEN: u32 = 14;
/// Largest `L2_LEN` the device accepts.
pub const MAX_L2_LEN: u32 = 64;
/// Smallest IPv4 header.
pub const MIN_L3_LEN: u32 = 20;
/// Largest IPv4 header (IHL = 15).
pub const MAX_L3_LEN: u32 = 60;
/// Smallest TCP header.
pub const MIN_TCP_LEN: u32 = 20;
/// Largest TCP header (data offset = 15).
pub const MAX_TCP_LEN: u32 = 60;
/// UDP header length.
pub const UDP_LEN: u32 = 8;
/// Offset of the checksum field inside a TCP header.
pub const TCP_CSUM_OFFSET: u32 = 16;
/// Offset of the checksum field inside a UDP header.
pub const UDP_CSUM_OFFSET: u32 = 6;
/// Offset of the checksum field inside an IPv4 header.
pub const IPV4_CSUM_OFFSET: u32 = 10;
/// IPv4 protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IPv4 protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// Ethertype of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;

/// TCP flag bits as they sit in the 9-bit flags field (byte 13 of the TCP header plus the NS bit).
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u16 = 0x001;
    /// SYN.
    pub const SYN: u16 = 0x002;
    /// RST.
    pub const RST: u16 = 0x004;
    /// PSH.
    pub const PSH: u16 = 0x008;
    /// ACK.
    pub const ACK: u16 = 0x010;
    /// URG.
    pub const URG: u16 = 0x020;
    /// ECE.
    pub const ECE: u16 = 0x040;
    /// CWR.
    pub const CWR: u16 = 0x080;
    /// NS (bit 0 of byte 12 of the TCP header).
    pub const NS: u16 = 0x100;
    /// All nine bits.
    pub const ALL: u16 = 0x1FF;
}

/// Which TCP flags each segment of a TSO request keeps (`CONTROL.TSO_FLAGS_*`).
///
/// Segment `i` of `n` carries `flags & mask`, where the mask is `first` for `i == 0`, `last` for
/// `i == n - 1`, `middle` otherwise, and `first | last` when `n == 1` (a sole segment is both
/// first and last, so a flag survives if either position keeps it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TsoFlagMasks {
    /// Mask of the first segment.
    pub first: u16,
    /// Mask of middle segments.
    pub middle: u16,
    /// Mask of the last segment.
    pub last: u16,
}

impl TsoFlagMasks {
    /// What Linux's software segmentation does (the reset values): FIN and PSH only on the last
    /// segment, CWR only on the first, everything else on every segment.
    pub const LINUX: TsoFlagMasks = TsoFlagMasks {
        first: tcp_flags::ALL & !(tcp_flags::FIN | tcp_flags::PSH),
        middle: tcp_flags::ALL & !(tcp_flags::FIN | tcp_flags::PSH | tcp_flags::CWR),
        last: tcp_flags::ALL & !tcp_flags::CWR,
    };

    /// The mask for segment `index` of `count`.
    pub const fn mask_for(&self, index: u32, count: u32) -> u16 {
        if count <= 1 {
            self.first | self.last
        } else if index == 0 {
            self.first
        } else if index + 1 == count {
            self.last
        } else {
            self.middle
        }
    }
}

/// What a device can do, as read from its `IDENT` block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeviceCaps {
    /// Inserts IPv4 header checksums.
    pub tx_ipv4_csum: bool,
    /// Inserts TCP checksums.
    pub tx_tcp_csum: bool,
    /// Inserts UDP checksums.
    pub tx_udp_csum: bool,
    /// Verifies checksums on receive.
    pub rx_csum: bool,
    /// TCP segmentation offload.
    pub tso: bool,
    /// Receive-side scaling.
    pub rss: bool,
    /// Completion timestamps.
    pub timestamp: bool,
    /// Multi-descriptor TX frames.
    pub tx_scatter_gather: bool,
    /// Largest TSO payload.
    pub max_tso_payload: u32,
    /// Largest frame (Ethernet header included, FCS excluded).
    pub max_frame_len: u16,
    /// Smallest TSO MSS.
    pub min_mss: u16,
    /// Largest TSO MSS.
    pub max_mss: u16,
    /// Most descriptors per TX frame.
    pub max_sg: u8,
}

/// Why a set of capabilities is not self-consistent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CapsError {
    /// `MIN_MSS` is 0 or above `MAX_MSS`.
    MssRange,
    /// A TSO request could need more than 65535 segments (`MAX_TSO_PAYLOAD / MIN_MSS`).
    TooManySegments,
    /// `MAX_SG` is 0, or above 1 without scatter-gather.
    MaxSg,
    /// TSO advertised without IPv4 and TCP checksum insertion.
    TsoWithoutChecksums,
    /// `MAX_FRAME_LEN` below 60 bytes.
    MaxFrameLen,
}

impl DeviceCaps {
    /// The capability word (`IDENT.CAPS`).
    pub const fn caps_word(&self) -> u32 {
        let mut w = 0;
        w = ident::CAPS_TX_IPV4_CSUM.set32(w, self.tx_ipv4_csum as u32);
        w = ident::CAPS_TX_TCP_CSUM.set32(w, self.tx_tcp_csum as u32);
        w = ident::CAPS_TX_UDP_CSUM.set32(w, self.tx_udp_csum as u32);
        w = ident::CAPS_RX_CSUM.set32(w, self.rx_csum as u32);
        w = ident::CAPS_TSO.set32(w, self.tso as u32);
        w = ident::CAPS_RSS.set32(w, self.rss as u32);
        w = ident::CAPS_TIMESTAMP.set32(w, self.timestamp as u32);
        ident::CAPS_TX_SCATTER_GATHER.set32(w, self.tx_scatter_gather as u32)
    }

    /// The `IDENT.MSS_LIMITS` word.
    pub const fn mss_limits_word(&self) -> u32 {
        ident::MSS_LIMITS_MIN.set32(
            ident::MSS_LIMITS_MAX.set32(0, self.max_mss as u32),
            self.min_mss as u32,
        )
    }

    /// Reassembles capabilities from the `IDENT` registers (`CAPS`, `MAX_TSO_PAYLOAD`,
    /// `MAX_FRAME_LEN`, `MSS_LIMITS`, `RING_LIMITS`).
    pub const fn from_registers(
        caps: u32,
        max_tso_payload: u32,
        max_frame_len: u32,
        mss_limits: u32,
        ring_limits: u32,
    ) -> DeviceCaps {
        DeviceCaps {
            tx_ipv4_csum: ident::CAPS_TX_IPV4_CSUM.get32(caps) == 1,
            tx_tcp_csum: ident::CAPS_TX_TCP_CSUM.get32(caps) == 1,
            tx_udp_csum: ident::CAPS_TX_UDP_CSUM.get32(caps) == 1,
            rx_csum: ident::CAPS_RX_CSUM.get32(caps) == 1,
            tso: ident::CAPS_TSO.get32(caps) == 1,
            rss: ident::CAPS_RSS.get32(caps) == 1,
            timestamp: ident::CAPS_TIMESTAMP.get32(caps) == 1,
            tx_scatter_gather: ident::CAPS_TX_SCATTER_GATHER.get32(caps) == 1,
            max_tso_payload,
            max_frame_len: ident::MAX_FRAME_LEN_BYTES.get32(max_frame_len) as u16,
            min_mss: ident::MSS_LIMITS_MIN.get32(mss_limits) as u16,
            max_mss: ident::MSS_LIMITS_MAX.get32(mss_limits) as u16,
            max_sg: ident::RING_LIMITS_MAX_SG.get32(ring_limits) as u8,
        }
    }

    /// Checks that the capabilities make sense together (a driver refuses a device whose
    /// capabilities do not).
    pub const fn check(&self) -> Result<(), CapsError> {
        if self.max_frame_len < 60 {
            return Err(CapsError::MaxFrameLen);
        }
        if self.max_sg == 0 || (self.max_sg > 1 && !self.tx_scatter_gather) {
            return Err(CapsError::MaxSg);
        }
        if self.tso {
            if !self.tx_ipv4_csum || !self.tx_tcp_csum {
                return Err(CapsError::TsoWithoutChecksums);
            }
            if self.min_mss == 0 || self.min_mss > self.max_mss {
                return Err(CapsError::MssRange);
            }
            if self.max_tso_payload.div_ceil(self.min_mss as u32) > u16::MAX as u32 {
                return Err(CapsError::TooManySegments);
            }
        }
        Ok(())
    }
}

/// What an accepted TX request will put on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TxPlan {
    /// Wire frames (1 unless TSO splits the payload).
    pub segments: u16,
    /// Bytes of headers replayed in every segment (TSO), or 0.
    pub header_len: u32,
    /// TSO payload bytes, or 0.
    pub payload_len: u32,
    /// Whether the device computes at least one checksum for this request.
    pub checksummed: bool,
}

/// Validates one TX request in the order the device checks it (first failure wins).
///
/// `frame` holds the frame's bytes: at least its first `min(frame_len, l2+l3+l4)` bytes (more is
/// fine). `frame_len` is the whole frame's length (the sum of its descriptors). Descriptor-chain
/// checks (reserved bits, SOP/EOP, zero-length buffers, `MAX_SG`, DMA faults) come before this
/// and are the queue engine's; this function covers the frame-level rules F1 to F10 of the spec:
///
/// | step | rule | error |
/// |---|---|---|
/// | F1 | frame at least 14 bytes | `BAD_LENGTH` |
/// | F2 | every requested offload is advertised in `CAPS` | `UNSUPPORTED_OFFLOAD` |
/// | F3 | TSO needs `IP_CSUM` and `L4_CSUM = TCP` | `BAD_FLAGS` |
/// | F4 | without TSO, frame at most `MAX_FRAME_LEN` | `BAD_LENGTH` |
/// | F5 | header lengths in range and inside the frame | `HEADER_LENGTHS` |
/// | F6 | IPv4 version 4 and IHL * 4 == L3_LEN | `NOT_IPV4` |
/// | F7 | IPv4 protocol matches the L4 request | `L4_PROTOCOL` |
/// | F8 | TSO MSS within `MSS_LIMITS`, MSS + headers <= `MAX_FRAME_LEN` | `TSO_BAD_MSS` |
/// | F9 | TSO payload in 1..=`MAX_TSO_PAYLOAD` | `TSO_BAD_PAYLOAD` |
/// | F10 | TCP data offset * 4 == L4_LEN | `TSO_TCP_HEADER` |
pub fn validate_tx_request(
    req: &TxOffloadRequest,
    frame: &[u8],
    frame_len: u32,
    caps: &DeviceCaps,
) -> Result<TxPlan, ErrorCode> {
    // F1
    if frame_len < MIN_L2_LEN {
        return Err(ErrorCode::BadLength);
    }
    // F2
    let wants_l4 = !matches!(req.l4_csum, L4Csum::None);
    let supported = (!req.ip_csum || caps.tx_ipv4_csum)
        && match req.l4_csum {
            L4Csum::None => true,
            L4Csum::Tcp => caps.tx_tcp_csum,
            L4Csum::Udp => caps.tx_udp_csum,
        }
        && (!req.tso || caps.tso);
    if !supported {
        return Err(ErrorCode::UnsupportedOffload);
    }
    // F3
    if req.tso && !(req.ip_csum && matches!(req.l4_csum, L4Csum::Tcp)) {
        return Err(ErrorCode::BadFlags);
    }
    // F4
    if !req.tso && frame_len > u32::from(caps.max_frame_len) {
        return Err(ErrorCode::BadLength);
    }
    if !req.ip_csum && !wants_l4 {
        return Ok(TxPlan {
            segments: 1,
            header_len: 0,
            payload_len: 0,
            checksummed: false,
        });
    }
    // F5
    let l2 = u32::from(req.l2_len);
    let l3 = u32::from(req.l3_len);
    let l4 = u32::from(req.l4_len);
    let l4_min = match req.l4_csum {
        _ if req.tso => l4,
        L4Csum::Tcp => MIN_TCP_LEN,
        L4Csum::Udp => UDP_LEN,
        L4Csum::None => 0,
    };
    let lengths_ok = (MIN_L2_LEN..=MAX_L2_LEN).contains(&l2)
        && (MIN_L3_LEN..=MAX_L3_LEN).contains(&l3)
        && l3 % 4 == 0
        && (!req.tso || ((MIN_TCP_LEN..=MAX_TCP_LEN).contains(&l4) && l4 % 4 == 0))
        && l2 + l3 + l4_min <= frame_len
        && ((l2 + l3 + l4_min) as usize) <= frame.len();
    if !lengths_ok {
        return Err(ErrorCode::HeaderLengths);
    }
    let byte = |off: u32| frame[off as usize];
    // F6
    let vihl = byte(l2);
    if vihl >> 4 != 4 || u32::from(vihl & 0x0F) * 4 != l3 {
        return Err(ErrorCode::NotIpv4);
    }
    // F7
    let proto = byte(l2 + 9);
    let proto_ok = match req.l4_csum {
        L4Csum::None => true,
        L4Csum::Tcp => proto == IPPROTO_TCP,
        L4Csum::Udp => proto == IPPROTO_UDP,
    };
    if !proto_ok {
        return Err(ErrorCode::L4Protocol);
    }
    if !req.tso {
        return Ok(TxPlan {
            segments: 1,
            header_len: 0,
            payload_len: 0,
            checksummed: true,
        });
    }
    // F8
    let mss = u32::from(req.mss);
    let header_len = l2 + l3 + l4;
    if mss < u32::from(caps.min_mss)
        || mss > u32::from(caps.max_mss)
        || mss == 0
        || header_len + mss > u32::from(caps.max_frame_len)
    {
        return Err(ErrorCode::TsoBadMss);
    }
    // F9
    let payload_len = frame_len - header_len;
    if payload_len == 0 || payload_len > caps.max_tso_payload {
        return Err(ErrorCode::TsoBadPayload);
    }
    // F10
    if u32::from(byte(l2 + l3 + 12) >> 4) * 4 != l4 {
        return Err(ErrorCode::TsoTcpHeader);
    }
    let segments = payload_len.div_ceil(mss);
    Ok(TxPlan {
        segments: u16::try_from(segments).map_err(|_| ErrorCode::TsoBadPayload)?,
        header_len,
        payload_len,
        checksummed: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const CAPS: DeviceCaps = DeviceCaps {
        tx_ipv4_csum: true,
        tx_tcp_csum: true,
        tx_udp_csum: true,
        rx_csum: true,
        tso: true,
        rss: true,
        timestamp: true,
        tx_scatter_gather: true,
        max_tso_payload: 65535,
        max_frame_len: 9216,
        min_mss: 64,
        max_mss: 9162,
        max_sg: 16,
    };

    /// Ethernet + IPv4 (IHL 5, TCP) + TCP (data offset 8: 32 bytes) + `payload` zero bytes.
    fn tcp_frame(payload: usize) -> std::vec::Vec<u8> {
        let mut f = std::vec![0u8; 14 + 20 + 32 + payload];
        f[12] = 0x08;
        f[14] = 0x45;
        f[14 + 9] = IPPROTO_TCP;
        f[14 + 20 + 12] = 8 << 4;
        f
    }

    #[test]
    fn linux_masks() {
        let m = TsoFlagMasks::LINUX;
        assert_eq!(m.first, 0x1F6);
        assert_eq!(m.middle, 0x176);
        assert_eq!(m.last, 0x17F);
        assert_eq!(m.mask_for(0, 1), 0x1FF);
        assert_eq!(m.mask_for(0, 3), 0x1F6);
        assert_eq!(m.mask_for(1, 3), 0x176);
        assert_eq!(m.mask_for(2, 3), 0x17F);
    }

    #[test]
    fn caps_words_round_trip() {
        assert_eq!(CAPS.check(), Ok(()));
        let ring_limits = ident::RING_LIMITS_MAX_SG.set32(0, CAPS.max_sg.into());
        let back = DeviceCaps::from_registers(
            CAPS.caps_word(),
            CAPS.max_tso_payload,
            CAPS.max_frame_len.into(),
            CAPS.mss_limits_word(),
            ring_limits,
        );
        assert_eq!(back, CAPS);
    }

    #[test]
    fn caps_consistency() {
        let mut c = CAPS;
        c.min_mss = 0;
        assert_eq!(c.check(), Err(CapsError::MssRange));
        c.min_mss = 1;
        c.max_tso_payload = 1 << 17;
        assert_eq!(c.check(), Err(CapsError::TooManySegments));
        let mut c = CAPS;
        c.tx_tcp_csum = false;
        assert_eq!(c.check(), Err(CapsError::TsoWithoutChecksums));
    }

    #[test]
    fn tso_plan_counts_segments() {
        let f = tcp_frame(65535);
        let req = TxOffloadRequest::tso(1448, 14, 20, 32);
        let plan = validate_tx_request(&req, &f, f.len() as u32, &CAPS).unwrap();
        assert_eq!(plan.segments, 46);
        assert_eq!(plan.header_len, 66);
        assert_eq!(plan.payload_len, 65535);
    }

    #[test]
    fn each_rule_has_its_error() {
        let f = tcp_frame(100);
        let len = f.len() as u32;
        let tso = TxOffloadRequest::tso(1448, 14, 20, 32);
        let check = |req: &TxOffloadRequest, frame: &[u8], len: u32| {
            validate_tx_request(req, frame, len, &CAPS)
        };
        assert_eq!(
            check(&TxOffloadRequest::NONE, &f[..13], 13),
            Err(ErrorCode::BadLength)
        );
        let mut no_tso = CAPS;
        no_tso.tso = false;
        assert_eq!(
            validate_tx_request(&tso, &f, len, &no_tso),
            Err(ErrorCode::UnsupportedOffload)
        );
        let mut r = tso;
        r.ip_csum = false;
        assert_eq!(check(&r, &f, len), Err(ErrorCode::BadFlags));
        let big = tcp_frame(9216);
        assert_eq!(
            check(&TxOffloadRequest::NONE, &big, big.len() as u32),
            Err(ErrorCode::BadLength)
        );
        let mut r = tso;
        r.l3_len = 22;
        assert_eq!(check(&r, &f, len), Err(ErrorCode::HeaderLengths));
        let mut r = tso;
        r.l4_len = 200;
        assert_eq!(check(&r, &f, len), Err(ErrorCode::HeaderLengths));
        let mut g = f.clone();
        g[14] = 0x46;
        assert_eq!(check(&tso, &g, len), Err(ErrorCode::NotIpv4));
        let mut g = f.clone();
        g[14 + 9] = IPPROTO_UDP;
        assert_eq!(check(&tso, &g, len), Err(ErrorCode::L4Protocol));
        let mut r = tso;
        r.mss = 0;
        assert_eq!(check(&r, &f, len), Err(ErrorCode::TsoBadMss));
        r.mss = 9162;
        assert_eq!(check(&r, &f, len), Err(ErrorCode::TsoBadMss));
        let hdr_only = tcp_frame(0);
        assert_eq!(
            check(&tso, &hdr_only, hdr_only.len() as u32),
            Err(ErrorCode::TsoBadPayload)
        );
        let mut g = f.clone();
        g[14 + 20 + 12] = 5 << 4;
        assert_eq!(check(&tso, &g, len), Err(ErrorCode::TsoTcpHeader));
        assert_eq!(
            check(&TxOffloadRequest::tcp_checksums(14, 20), &f, len).map(|p| p.segments),
            Ok(1)
        );
    }

    #[test]
    fn never_panics_on_short_prefix() {
        let f = tcp_frame(10);
        let tso = TxOffloadRequest::tso(1448, 14, 20, 32);
        for cut in 0..f.len() {
            let _ = validate_tx_request(&tso, &f[..cut], f.len() as u32, &CAPS);
        }
    }
}
