//! Whole frames: the one-pass Ethernet + IPv4 + TCP header builder of the transmit hot path,
//! the receive-side parser that takes a frame apart layer by layer (honouring the device's
//! checksum verdicts), and small emitters for ARP and ICMP echo reply frames.
//!
//! Owns the composition of the layers only; what to send and what to accept belongs to the
//! endpoint and the state machine.
//!
//! ## Transmit
//!
//! ```text
//! let layout = write_tcp_headers(buf, &addrs, ident, &header, payload.len(), csum)?;
//! buf[layout.payload_range()].copy_from_slice(payload);      // the caller's copy
//! finish_tcp_checksum(buf, &layout);                           // Software mode only
//! device.submit(&buf[..layout.frame_len()], layout.tx_meta(csum, tso_mss));
//! ```
//!
//! [`write_tcp_headers`] writes the three headers with whole-field copies, fills the IPv4
//! header checksum (Software) or leaves it zero (Device), and in Software mode keeps the sum of
//! the pseudo-header and TCP header in the layout so that [`finish_tcp_checksum`] only sums the
//! payload. [`emit_tcp_frame`] does all three steps for a payload given in pieces (a ring
//! buffer that wraps) and sums each piece right after copying it, while it is in cache.
//!
//! With TSO the frame is a super-frame: its IPv4 total length is written saturated at 65535
//! and the device rewrites it per segment (hw-spec `SPEC.md` 6.3); TSO requires
//! `TxChecksum::Device`. [`SegmentTemplate`] stamps the frames of a run of segments (software
//! segmentation) from headers written once.
//!
//! ## Receive
//!
//! [`parse_frame`] takes any frame apart layer by layer; [`parse_tcp_fast`] is the receive fast
//! path's one-pass parser for the shape nearly every established segment has, and gives up
//! (leaving the verdict to [`parse_frame`]) on anything else.

use super::arp::{ArpPacket, ArpRepr};
use super::ethernet::{self, EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
use super::icmp::{self, IcmpEchoRepr, IcmpErrorRepr, IcmpPacket};
use super::ipv4::{self, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr};
use super::tcp::{self, TcpPacket, TcpRepr};
use super::{Error, Result, TxChecksum, write_u16};
use crate::checksum::{self, Checksum};
use crate::device::{RxMeta, TxMeta};
use crate::segment::TcpHeader;
use core::ops::Range;

/// The link and network fields of a connection's TCP frames (everything but the TCP header,
/// the IPv4 identification and the lengths).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpFrameAddresses {
    /// Our MAC.
    pub src_mac: EthernetAddress,
    /// The next hop's MAC (from the neighbour cache).
    pub dst_mac: EthernetAddress,
    /// Our IPv4 address.
    pub src_ip: Ipv4Address,
    /// The peer's IPv4 address.
    pub dst_ip: Ipv4Address,
    /// Time to live.
    pub ttl: u8,
    /// DSCP/ECN byte (ECN bits ECT(0) = `0b10` on ECN-capable data segments).
    pub dscp_ecn: u8,
}

/// Where the headers and payload of a frame written by [`write_tcp_headers`] lie, and what
/// the device needs to know about them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameLayout {
    /// Ethernet header bytes (14).
    pub l2_len: u8,
    /// IPv4 header bytes (20).
    pub l3_len: u8,
    /// TCP header bytes, options included (20 to 60).
    pub l4_len: u8,
    /// TCP payload bytes.
    pub payload_len: usize,
    /// Software mode: the folded sum of pseudo-header and TCP header, awaiting the payload.
    partial_sum: u16,
}

impl FrameLayout {
    /// Bytes before the payload.
    #[inline]
    pub const fn header_len(&self) -> usize {
        self.l2_len as usize + self.l3_len as usize + self.l4_len as usize
    }

    /// Bytes of the whole frame.
    #[inline]
    pub const fn frame_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// The payload's byte range in the frame.
    #[inline]
    pub const fn payload_range(&self) -> Range<usize> {
        self.header_len()..self.frame_len()
    }

    /// The offload request to submit with the frame. `tso_mss` asks the device to segment (it
    /// needs `TxChecksum::Device`).
    #[inline]
    pub const fn tx_meta(&self, csum: TxChecksum, tso_mss: Option<u16>) -> TxMeta {
        TxMeta {
            checksum: matches!(csum, TxChecksum::Device),
            tso_mss,
            l2_len: self.l2_len,
            l3_len: self.l3_len as u16,
            l4_len: self.l4_len,
        }
    }
}

/// Writes the Ethernet, IPv4 and TCP headers of a frame carrying `payload_len` bytes into the
/// start of `buf` and returns the layout. The caller then copies the payload to
/// `layout.payload_range()` and, with `TxChecksum::Software`, calls [`finish_tcp_checksum`].
///
/// Errors with [`Error::BufferTooSmall`] when `buf` cannot hold the whole frame, or when
/// software checksums are asked for a datagram longer than 65535 bytes (only a TSO
/// super-frame, checksummed by the device, may be longer).
// Always inlined: every frame the engine sends comes through `emit_tcp_frame`, and as a call
// of its own this spilled registers and returned the layout through memory (-43 instructions
// a frame).
#[inline(always)]
pub fn write_tcp_headers(
    buf: &mut [u8],
    addrs: &TcpFrameAddresses,
    ident: u16,
    header: &TcpHeader,
    payload_len: usize,
    csum: TxChecksum,
) -> Result<FrameLayout> {
    const L2: usize = ethernet::HEADER_LEN;
    const L3: usize = ipv4::HEADER_LEN;
    let l4 = header.buffer_len();
    let frame_len = L2 + L3 + l4 + payload_len;
    if buf.len() < frame_len
        || (csum == TxChecksum::Software && L3 + l4 + payload_len > usize::from(u16::MAX))
    {
        return Err(Error::BufferTooSmall);
    }
    let (eth, rest) = buf.split_at_mut(L2);
    let (ip, rest) = rest.split_at_mut(L3);
    EthernetRepr {
        src_addr: addrs.src_mac,
        dst_addr: addrs.dst_mac,
        ethertype: EtherType::IPV4,
    }
    .emit_bytes(eth);
    let ip_repr = Ipv4Repr {
        src_addr: addrs.src_ip,
        dst_addr: addrs.dst_ip,
        protocol: IpProtocol::TCP,
        payload_len: l4 + payload_len,
        ttl: addrs.ttl,
        ident,
        dont_frag: true,
        dscp_ecn: addrs.dscp_ecn,
    };
    ip.copy_from_slice(&ip_repr.header_bytes(csum));
    let written = header.emit_header_bytes(rest);
    debug_assert_eq!(written, l4);
    let partial_sum = if csum == TxChecksum::Software {
        let pseudo = checksum::pseudo_header_sum(
            addrs.src_ip.0,
            addrs.dst_ip.0,
            IpProtocol::TCP.0,
            (l4 + payload_len) as u32,
        );
        checksum::add(pseudo, checksum::sum(&rest[..l4]))
    } else {
        0
    };
    Ok(FrameLayout {
        l2_len: L2 as u8,
        l3_len: L3 as u8,
        l4_len: l4 as u8,
        payload_len,
        partial_sum,
    })
}

/// Completes the TCP checksum of a frame written by [`write_tcp_headers`] in Software mode once
/// its payload is in place (sums the payload only). `frame` must hold `layout.frame_len()`
/// bytes.
#[inline]
pub fn finish_tcp_checksum(frame: &mut [u8], layout: &FrameLayout) {
    let payload_sum = checksum::sum(&frame[layout.payload_range()]);
    finish_tcp_checksum_with_payload_sum(frame, layout, payload_sum);
}

/// [`finish_tcp_checksum`] with the payload's [`checksum::sum`] already known (for instance
/// computed while copying it).
#[inline]
pub fn finish_tcp_checksum_with_payload_sum(
    frame: &mut [u8],
    layout: &FrameLayout,
    payload_sum: u16,
) {
    let value = !checksum::add(layout.partial_sum, payload_sum);
    let at = usize::from(layout.l2_len) + usize::from(layout.l3_len) + tcp::CHECKSUM_OFFSET;
    write_u16(frame, at, value);
}

/// Writes a whole TCP frame: headers, the payload given in pieces (concatenated in order), and
/// in Software mode the TCP checksum, summing each piece right after copying it.
pub fn emit_tcp_frame(
    buf: &mut [u8],
    addrs: &TcpFrameAddresses,
    ident: u16,
    header: &TcpHeader,
    payload: &[&[u8]],
    csum: TxChecksum,
) -> Result<FrameLayout> {
    emit_tcp_frame_inlined(buf, addrs, ident, header, payload, csum)
}

/// [`emit_tcp_frame`], always inlined: for the send phase's one call per segment, where the
/// addresses, header and payload pieces are at hand in registers and the layout is used
/// right away (as a call, they went through memory both ways).
#[inline(always)]
pub(crate) fn emit_tcp_frame_inlined(
    buf: &mut [u8],
    addrs: &TcpFrameAddresses,
    ident: u16,
    header: &TcpHeader,
    payload: &[&[u8]],
    csum: TxChecksum,
) -> Result<FrameLayout> {
    let payload_len = payload.iter().map(|p| p.len()).sum();
    let layout = write_tcp_headers(buf, addrs, ident, header, payload_len, csum)?;
    let sum = copy_payload(buf, layout.header_len(), payload, csum);
    if csum == TxChecksum::Software {
        finish_tcp_checksum_with_payload_sum(buf, &layout, sum.sum());
    }
    Ok(layout)
}

/// Copies the payload pieces into `buf` from `at` on; with software checksums, sums them as
/// they are copied (while the bytes are in the cache).
#[inline]
fn copy_payload(buf: &mut [u8], mut at: usize, payload: &[&[u8]], csum: TxChecksum) -> Checksum {
    let mut sum = Checksum::new();
    for piece in payload {
        if piece.is_empty() {
            // The second half of a send ring that did not wrap, mostly: no call to copy
            // nothing.
            continue;
        }
        let dst = &mut buf[at..at + piece.len()];
        dst.copy_from_slice(piece);
        if csum == TxChecksum::Software {
            sum.add_bytes(dst);
        }
        at += piece.len();
    }
    sum
}

/// Bytes of a [`SegmentTemplate`]: the longest Ethernet, IPv4 and TCP headers.
const TEMPLATE_LEN: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN + tcp::MAX_HEADER_LEN;

/// The headers of a run of TCP frames of one connection that differ only in sequence number,
/// IPv4 identification, flags and payload (software segmentation of a super-segment): built
/// once with [`write_tcp_headers`], then stamped into each frame by
/// [`emit`](SegmentTemplate::emit) with a copy and a few stores instead of being composed
/// field by field again. Frames come out byte for byte as [`emit_tcp_frame`] writes them.
#[derive(Clone, Copy, Debug)]
pub struct SegmentTemplate {
    bytes: [u8; TEMPLATE_LEN],
    layout: FrameLayout,
    seq: u32,
    src_ip: Ipv4Address,
    dst_ip: Ipv4Address,
    csum: TxChecksum,
}

impl SegmentTemplate {
    /// The template of frames with `header` (its sequence number is the run's first) between
    /// `addrs`, checksums per `csum`.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] never happens for a valid header; kept for symmetry with the
    /// emitters.
    pub fn new(addrs: &TcpFrameAddresses, header: &TcpHeader, csum: TxChecksum) -> Result<Self> {
        let mut bytes = [0u8; TEMPLATE_LEN];
        let layout = write_tcp_headers(&mut bytes, addrs, 0, header, 0, TxChecksum::Device)?;
        Ok(SegmentTemplate {
            bytes,
            layout,
            seq: header.seq.0,
            src_ip: addrs.src_ip,
            dst_ip: addrs.dst_ip,
            csum,
        })
    }

    /// Writes one frame into `buf`: the template's headers with sequence number
    /// `seq_offset` past the first, IPv4 identification `ident`, TCP `flags`, and the payload
    /// given in pieces, checksummed per the template's mode (in software while each piece is
    /// in cache). Returns the frame's layout.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] when `buf` cannot hold the frame (or, with software
    /// checksums, the datagram exceeds 65535 bytes).
    #[inline(always)]
    pub fn emit(
        &self,
        buf: &mut [u8],
        ident: u16,
        seq_offset: u32,
        flags: crate::segment::TcpFlags,
        payload: &[&[u8]],
    ) -> Result<FrameLayout> {
        const L3: usize = ethernet::HEADER_LEN;
        const L4: usize = L3 + ipv4::HEADER_LEN;
        let payload_len: usize = payload.iter().map(|p| p.len()).sum();
        let l4 = usize::from(self.layout.l4_len);
        let headers = L4 + l4;
        let datagram = ipv4::HEADER_LEN + l4 + payload_len;
        if buf.len() < headers + payload_len
            || (self.csum == TxChecksum::Software && datagram > usize::from(u16::MAX))
        {
            return Err(Error::BufferTooSmall);
        }
        // The whole template in one fixed-size copy (a few vector moves, no `memcpy` call)
        // when the buffer has room for it: bytes past the headers are overwritten by the
        // payload or lie past the frame's end.
        if let Some(head) = buf.first_chunk_mut::<TEMPLATE_LEN>() {
            *head = self.bytes;
        } else {
            buf[..headers].copy_from_slice(&self.bytes[..headers]);
        }
        write_u16(buf, L3 + 2, datagram.min(usize::from(u16::MAX)) as u16);
        write_u16(buf, L3 + 4, ident);
        buf[L4 + 4..L4 + 8].copy_from_slice(&self.seq.wrapping_add(seq_offset).to_be_bytes());
        let off_flags = ((l4 as u16 / 4) << 12) | (flags.0 & 0x01FF);
        write_u16(buf, L4 + 12, off_flags);
        let sum = copy_payload(buf, headers, payload, self.csum);
        let mut layout = FrameLayout {
            payload_len,
            partial_sum: 0,
            ..self.layout
        };
        if self.csum == TxChecksum::Software {
            let ip_sum = !checksum::sum(&buf[L3..L4]);
            write_u16(buf, L3 + 10, ip_sum);
            let pseudo = checksum::pseudo_header_sum(
                self.src_ip.0,
                self.dst_ip.0,
                IpProtocol::TCP.0,
                (l4 + payload_len) as u32,
            );
            let header_sum = checksum::add(pseudo, checksum::sum(&buf[L4..headers]));
            let value = !checksum::add(header_sum, sum.sum());
            write_u16(buf, L4 + tcp::CHECKSUM_OFFSET, value);
            layout.partial_sum = header_sum;
        }
        Ok(layout)
    }
}

/// Writes an Ethernet frame carrying `arp` (to broadcast for requests, to the target for
/// replies) and returns its length (42: minimum-frame padding is left to the device).
pub fn emit_arp_frame(buf: &mut [u8], our_mac: EthernetAddress, arp: &ArpRepr) -> Result<usize> {
    let len = ethernet::HEADER_LEN + arp.buffer_len();
    if buf.len() < len {
        return Err(Error::BufferTooSmall);
    }
    let buf = &mut buf[..len];
    let mut frame = EthernetFrame::new_unchecked(&mut *buf);
    EthernetRepr {
        src_addr: our_mac,
        dst_addr: arp.link_destination(),
        ethertype: EtherType::ARP,
    }
    .emit(&mut frame);
    arp.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
    Ok(len)
}

/// Writes the echo reply to an echo `request` received in `ip` from `peer_mac`, and returns
/// the frame length. The reply goes from our address (the request's destination) back to the
/// sender, with TTL `ttl`, identification `ident` and the request's data. IPv4 options are not
/// echoed.
pub fn emit_echo_reply(
    buf: &mut [u8],
    our_mac: EthernetAddress,
    peer_mac: EthernetAddress,
    ip: &Ipv4Repr,
    request: &IcmpEchoRepr<'_>,
    ident: u16,
    ttl: u8,
) -> Result<usize> {
    let reply = request.reply();
    let icmp_len = reply.buffer_len();
    let len = ethernet::HEADER_LEN + ipv4::HEADER_LEN + icmp_len;
    if buf.len() < len || ipv4::HEADER_LEN + icmp_len > usize::from(u16::MAX) {
        return Err(Error::BufferTooSmall);
    }
    let buf = &mut buf[..len];
    EthernetRepr {
        src_addr: our_mac,
        dst_addr: peer_mac,
        ethertype: EtherType::IPV4,
    }
    .emit_bytes(buf);
    let ip_reply = Ipv4Repr {
        src_addr: ip.dst_addr,
        dst_addr: ip.src_addr,
        protocol: IpProtocol::ICMP,
        payload_len: icmp_len,
        ttl,
        ident,
        dont_frag: false,
        dscp_ecn: 0,
    };
    let (_, rest) = buf.split_at_mut(ethernet::HEADER_LEN);
    let (ip_bytes, icmp_bytes) = rest.split_at_mut(ipv4::HEADER_LEN);
    ip_bytes.copy_from_slice(&ip_reply.header_bytes(TxChecksum::Software));
    reply.emit(&mut IcmpPacket::new_unchecked(icmp_bytes));
    Ok(len)
}

/// A TCP/IPv4 segment of the common shape, taken apart by [`parse_tcp_fast`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FastTcp {
    /// The sender's MAC.
    pub src_mac: EthernetAddress,
    /// The IPv4 source.
    pub src_ip: Ipv4Address,
    /// The IPv4 destination.
    pub dst_ip: Ipv4Address,
    /// The TCP header (options: timestamps or none).
    pub header: TcpHeader,
    /// Where the payload lies in the frame (a range, not a slice, so the frame stays free for
    /// an in-place answer while the header is in use).
    pub payload: Range<usize>,
}

/// The receive fast path's parser: takes apart, in one pass over fixed offsets, a frame of the
/// shape nearly every segment of an established connection has (Ethernet II to `our_mac`,
/// IPv4 without options or fragmentation and not marked CE (RFC 3168: the general parser
/// reports marks), TCP with no options or exactly `NOP NOP
/// timestamps`, ACK set, none of SYN, RST and URG; a FIN is fine: every close sends two),
/// checksums vouched for by the device
/// or verified here. `None` for anything else, including bad checksums: the caller then runs
/// [`parse_frame`], which decides (and counts) what is wrong. Whenever this returns a
/// segment, [`parse_frame`] returns the same one. Never panics.
#[inline]
pub fn parse_tcp_fast(frame: &[u8], meta: RxMeta, our_mac: EthernetAddress) -> Option<FastTcp> {
    use crate::segment::TcpFlags;
    const L3: usize = ethernet::HEADER_LEN;
    const L4: usize = L3 + ipv4::HEADER_LEN;
    let head: &[u8; L4 + tcp::HEADER_LEN] = frame.get(..L4 + tcp::HEADER_LEN)?.try_into().ok()?;
    if head[..6] != our_mac.0 || head[12..14] != [0x08, 0x00] || head[L3] != 0x45 {
        return None;
    }
    // A datagram marked Congestion Experienced (RFC 3168) is rare: the general parser takes
    // it and reports the mark ([`TcpFlags::IP_CE`]).
    if !head[L3 + 1] & ipv4::ECN_CE == 0 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([head[L3 + 2], head[L3 + 3]]));
    // No fragment offset and no more-fragments flag (don't-fragment is fine); TCP.
    if head[L3 + 6] & 0x3F != 0 || head[L3 + 7] != 0 || head[L3 + 9] != IpProtocol::TCP.0 {
        return None;
    }
    let segment = frame.get(L3 + ipv4::HEADER_LEN..L3 + total)?;
    let t = &head[L4..];
    let doff = usize::from(t[12] >> 4) * 4;
    let flags = TcpFlags(u16::from_be_bytes([t[12], t[13]]) & TcpFlags::HEADER_BITS);
    if !flags.ack() || flags.intersects(TcpFlags::SYN | TcpFlags::RST | TcpFlags::URG) {
        return None;
    }
    let mut header = TcpHeader {
        src_port: u16::from_be_bytes([t[0], t[1]]),
        dst_port: u16::from_be_bytes([t[2], t[3]]),
        seq: crate::seq::SeqNum(u32::from_be_bytes([t[4], t[5], t[6], t[7]])),
        ack: crate::seq::SeqNum(u32::from_be_bytes([t[8], t[9], t[10], t[11]])),
        flags,
        window: u16::from_be_bytes([t[14], t[15]]),
        urgent: u16::from_be_bytes([t[18], t[19]]),
        ..TcpHeader::default()
    };
    match doff {
        tcp::HEADER_LEN => {}
        32 => match *segment.get(tcp::HEADER_LEN..32)? {
            [1, 1, 8, 10, v0, v1, v2, v3, e0, e1, e2, e3] => {
                header.options.timestamps = Some((
                    u32::from_be_bytes([v0, v1, v2, v3]),
                    u32::from_be_bytes([e0, e1, e2, e3]),
                ));
            }
            _ => return None,
        },
        _ => return None,
    }
    if doff > segment.len() {
        return None;
    }
    let payload = L4 + doff..L3 + total;
    let src_ip = Ipv4Address([head[L3 + 12], head[L3 + 13], head[L3 + 14], head[L3 + 15]]);
    let dst_ip = Ipv4Address([head[L3 + 16], head[L3 + 17], head[L3 + 18], head[L3 + 19]]);
    if !tcp_checksums_ok(&head[L3..L4], segment, meta) {
        return None;
    }
    Some(FastTcp {
        src_mac: EthernetAddress([head[6], head[7], head[8], head[9], head[10], head[11]]),
        src_ip,
        dst_ip,
        header,
        payload,
    })
}

/// The checksum verdicts of a TCP/IPv4 frame with IPv4 header `ip` (20 bytes, no options)
/// and TCP segment `segment`: the device's where it checked, else computed here. `false` for
/// a bad checksum, or a layer the device says has none.
#[inline(always)]
pub(crate) fn tcp_checksums_ok(ip: &[u8], segment: &[u8], meta: RxMeta) -> bool {
    use crate::device::ChecksumState::Good;
    // Both verified by the device (the common case with receive offload): no call.
    if meta.ip == Good && meta.l4 == Good {
        return true;
    }
    tcp_checksums_checked(ip, segment, meta)
}

/// [`tcp_checksums_ok`] for a frame the device did not fully verify.
#[inline(never)]
fn tcp_checksums_checked(ip: &[u8], segment: &[u8], meta: RxMeta) -> bool {
    use crate::device::ChecksumState::{Good, Unknown};
    let ip_ok = match meta.ip {
        Good => true,
        Unknown => checksum::is_valid_sum(checksum::sum(ip)),
        _ => false,
    };
    ip_ok
        && match meta.l4 {
            Good => true,
            Unknown if ip.len() >= 20 => {
                let addr = |at: usize| [ip[at], ip[at + 1], ip[at + 2], ip[at + 3]];
                let pseudo = checksum::pseudo_header_sum(
                    addr(12),
                    addr(16),
                    IpProtocol::TCP.0,
                    segment.len() as u32,
                );
                checksum::is_valid_sum(checksum::add(pseudo, checksum::sum(segment)))
            }
            _ => false,
        }
}

/// A received frame taken apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxFrame<'a> {
    /// The Ethernet header.
    pub ethernet: EthernetRepr,
    /// What the frame carries.
    pub payload: RxPayload<'a>,
}

/// The payload of a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxPayload<'a> {
    /// An ARP request or reply.
    Arp(ArpRepr),
    /// A TCP segment with verified checksums.
    Tcp {
        /// The IPv4 header.
        ip: Ipv4Repr,
        /// The TCP header and the payload's place within the segment.
        tcp: TcpRepr,
        /// Offset of the TCP header in the frame (so `tcp.payload_range()` shifted by it is the
        /// payload's range in the frame).
        l4_offset: usize,
        /// The payload.
        payload: &'a [u8],
    },
    /// An ICMP echo request or reply with a verified checksum.
    IcmpEcho {
        /// The IPv4 header.
        ip: Ipv4Repr,
        /// The echo message.
        echo: IcmpEchoRepr<'a>,
    },
    /// An ICMP destination unreachable or time exceeded message with a verified checksum and
    /// a well-formed quote (whether it names one of our connections is the endpoint's call).
    IcmpError {
        /// The IPv4 header.
        ip: Ipv4Repr,
        /// The error and what it quotes.
        error: IcmpErrorRepr,
    },
    /// An IPv4 datagram of another protocol (UDP; other ICMP types are errors): header
    /// checked, payload not looked at.
    OtherIpv4 {
        /// The IPv4 header.
        ip: Ipv4Repr,
    },
    /// A frame of another EtherType (IPv6, VLAN-tagged, ...), not looked at.
    OtherEtherType,
}

/// Takes a received frame apart: Ethernet, then ARP or IPv4, then TCP, ICMP echo or ICMP
/// errors (destination unreachable, time exceeded), verifying
/// each checksum unless the device's verdict in `meta` vouches for it (or condemns it).
/// Trailing padding after the IPv4 total length is ignored. Never panics, whatever `frame`
/// holds.
pub fn parse_frame(frame: &[u8], meta: RxMeta) -> Result<RxFrame<'_>> {
    let eth_frame = EthernetFrame::new_checked(frame)?;
    let ethernet = EthernetRepr::parse(&eth_frame)?;
    let l3 = &frame[ethernet::HEADER_LEN..];
    let payload = match ethernet.ethertype {
        EtherType::ARP => RxPayload::Arp(ArpRepr::parse(&ArpPacket::new_checked(l3)?)?),
        EtherType::IPV4 => {
            let packet = Ipv4Packet::new_checked(l3)?;
            let ip = Ipv4Repr::parse(&packet, meta.ip)?;
            let header_len = usize::from(packet.header_len());
            let l4 = &l3[header_len..header_len + ip.payload_len];
            match ip.protocol {
                IpProtocol::TCP => {
                    let segment = TcpPacket::new_checked(l4)?;
                    let mut tcp = TcpRepr::parse(&segment, ip.src_addr, ip.dst_addr, meta.l4)?;
                    // The IPv4 ECN field's CE mark travels with the segment (RFC 3168).
                    if ip.dscp_ecn & ipv4::ECN_CE == ipv4::ECN_CE {
                        tcp.header.flags |= crate::segment::TcpFlags::IP_CE;
                    }
                    RxPayload::Tcp {
                        ip,
                        tcp,
                        l4_offset: ethernet::HEADER_LEN + header_len,
                        payload: &l4[tcp.payload_range()],
                    }
                }
                IpProtocol::ICMP => {
                    let packet = IcmpPacket::new_checked(l4)?;
                    match packet.msg_type() {
                        icmp::TYPE_DEST_UNREACHABLE | icmp::TYPE_TIME_EXCEEDED => {
                            let error = IcmpErrorRepr::parse(&packet)?;
                            RxPayload::IcmpError { ip, error }
                        }
                        _ => RxPayload::IcmpEcho {
                            ip,
                            echo: IcmpEchoRepr::parse(&packet)?,
                        },
                    }
                }
                _ => RxPayload::OtherIpv4 { ip },
            }
        }
        _ => RxPayload::OtherEtherType,
    };
    Ok(RxFrame { ethernet, payload })
}

#[cfg(test)]
mod tests {
    use super::super::Layer;
    use super::*;
    use crate::device::ChecksumState;
    use crate::segment::{TcpFlags, TcpOptions};
    use crate::seq::SeqNum;

    pub(crate) const ADDRS: TcpFrameAddresses = TcpFrameAddresses {
        src_mac: EthernetAddress([2, 0, 0, 0, 0, 1]),
        dst_mac: EthernetAddress([2, 0, 0, 0, 0, 2]),
        src_ip: Ipv4Address([198, 18, 0, 1]),
        dst_ip: Ipv4Address([198, 18, 0, 2]),
        ttl: 64,
        dscp_ecn: 0,
    };

    fn data_header() -> TcpHeader {
        TcpHeader {
            src_port: 80,
            dst_port: 49152,
            seq: SeqNum(1000),
            ack: SeqNum(2000),
            flags: TcpFlags::ACK | TcpFlags::PSH,
            window: 512,
            urgent: 0,
            options: TcpOptions {
                timestamps: Some((5, 6)),
                ..TcpOptions::default()
            },
        }
    }

    #[test]
    fn software_frame_parses_back() {
        let payload = b"hello, world";
        let mut buf = [0u8; 200];
        let layout = emit_tcp_frame(
            &mut buf,
            &ADDRS,
            7,
            &data_header(),
            &[&payload[..5], &payload[5..]],
            TxChecksum::Software,
        )
        .unwrap();
        assert_eq!((layout.l2_len, layout.l3_len, layout.l4_len), (14, 20, 32));
        assert_eq!(layout.frame_len(), 14 + 20 + 32 + 12);
        let meta = layout.tx_meta(TxChecksum::Software, None);
        assert!(!meta.checksum);
        assert_eq!((meta.l2_len, meta.l3_len, meta.l4_len), (14, 20, 32));
        let rx = parse_frame(&buf[..layout.frame_len()], RxMeta::UNVERIFIED).unwrap();
        assert_eq!(rx.ethernet.src_addr, ADDRS.src_mac);
        let RxPayload::Tcp {
            ip,
            tcp,
            l4_offset,
            payload: got,
        } = rx.payload
        else {
            panic!("not tcp: {rx:?}");
        };
        assert_eq!(ip.ident, 7);
        assert!(ip.dont_frag);
        assert_eq!(ip.payload_len, 44);
        assert_eq!(tcp.header, data_header());
        assert_eq!(got, payload);
        assert_eq!(l4_offset, 34);
    }

    #[test]
    fn device_mode_leaves_checksums_zero() {
        let mut buf = [0u8; 100];
        let layout = emit_tcp_frame(
            &mut buf,
            &ADDRS,
            1,
            &data_header(),
            &[b"x"],
            TxChecksum::Device,
        )
        .unwrap();
        assert_eq!(&buf[24..26], &[0, 0], "ipv4 checksum");
        assert_eq!(&buf[50..52], &[0, 0], "tcp checksum");
        assert!(layout.tx_meta(TxChecksum::Device, Some(1448)).checksum);
        // The device's verdicts let it through; software verification does not.
        let frame = &buf[..layout.frame_len()];
        assert_eq!(
            parse_frame(frame, RxMeta::UNVERIFIED).unwrap_err(),
            Error::BadChecksum(Layer::Ipv4)
        );
        let good = RxMeta {
            ip: ChecksumState::Good,
            l4: ChecksumState::Good,
        };
        assert!(parse_frame(frame, good).is_ok());
    }

    #[test]
    fn split_steps_equal_one_shot() {
        let payload = [0x5Au8; 999];
        let mut a = [0u8; 1200];
        let mut b = [0u8; 1200];
        let la = emit_tcp_frame(
            &mut a,
            &ADDRS,
            9,
            &data_header(),
            &[&payload],
            TxChecksum::Software,
        )
        .unwrap();
        let lb = write_tcp_headers(
            &mut b,
            &ADDRS,
            9,
            &data_header(),
            payload.len(),
            TxChecksum::Software,
        )
        .unwrap();
        b[lb.payload_range()].copy_from_slice(&payload);
        finish_tcp_checksum(&mut b, &lb);
        assert_eq!(la, lb);
        assert_eq!(a, b);
    }

    #[test]
    fn too_small_and_too_long() {
        let mut buf = [0u8; 80];
        assert_eq!(
            write_tcp_headers(
                &mut buf,
                &ADDRS,
                0,
                &data_header(),
                15,
                TxChecksum::Software
            ),
            Err(Error::BufferTooSmall)
        );
        let mut big = vec![0u8; 70_000];
        assert_eq!(
            write_tcp_headers(
                &mut big,
                &ADDRS,
                0,
                &data_header(),
                65_536,
                TxChecksum::Software
            ),
            Err(Error::BufferTooSmall)
        );
        // A TSO super-frame: total length saturates, the device rewrites it.
        let layout = write_tcp_headers(
            &mut big,
            &ADDRS,
            0,
            &data_header(),
            65_536,
            TxChecksum::Device,
        )
        .unwrap();
        assert_eq!(&big[16..18], &[0xFF, 0xFF]);
        assert_eq!(layout.payload_len, 65_536);
    }

    #[test]
    fn arp_and_echo_frames() {
        let mut buf = [0u8; 128];
        let req = ArpRepr::request(ADDRS.src_mac, ADDRS.src_ip, ADDRS.dst_ip);
        let n = emit_arp_frame(&mut buf, ADDRS.src_mac, &req).unwrap();
        assert_eq!(n, 42);
        let rx = parse_frame(&buf[..n], RxMeta::UNVERIFIED).unwrap();
        assert_eq!(rx.ethernet.dst_addr, EthernetAddress::BROADCAST);
        assert_eq!(rx.payload, RxPayload::Arp(req));

        // An echo request from the peer, answered.
        let ip = Ipv4Repr {
            src_addr: ADDRS.dst_ip,
            dst_addr: ADDRS.src_ip,
            protocol: IpProtocol::ICMP,
            payload_len: 0,
            ttl: 64,
            ident: 0,
            dont_frag: false,
            dscp_ecn: 0,
        };
        let echo = IcmpEchoRepr {
            kind: super::super::IcmpEchoKind::Request,
            ident: 3,
            seq_no: 4,
            data: b"ping",
        };
        let n =
            emit_echo_reply(&mut buf, ADDRS.src_mac, ADDRS.dst_mac, &ip, &echo, 11, 64).unwrap();
        let rx = parse_frame(&buf[..n], RxMeta::UNVERIFIED).unwrap();
        assert_eq!(rx.ethernet.dst_addr, ADDRS.dst_mac);
        let RxPayload::IcmpEcho { ip: rip, echo: got } = rx.payload else {
            panic!("not echo: {rx:?}");
        };
        assert_eq!(got, echo.reply());
        assert_eq!(rip.src_addr, ADDRS.src_ip);
        assert_eq!(rip.dst_addr, ADDRS.dst_ip);
        assert_eq!(rip.ident, 11);
    }

    #[test]
    fn other_payloads() {
        let mut buf = [0u8; 60];
        EthernetRepr {
            src_addr: ADDRS.src_mac,
            dst_addr: ADDRS.dst_mac,
            ethertype: EtherType::IPV6,
        }
        .emit_bytes(&mut buf);
        assert_eq!(
            parse_frame(&buf, RxMeta::UNVERIFIED).unwrap().payload,
            RxPayload::OtherEtherType
        );
        let ip = Ipv4Repr {
            src_addr: ADDRS.dst_ip,
            dst_addr: ADDRS.src_ip,
            protocol: IpProtocol::UDP,
            payload_len: 8,
            ttl: 1,
            ident: 0,
            dont_frag: false,
            dscp_ecn: 0,
        };
        EthernetRepr {
            src_addr: ADDRS.src_mac,
            dst_addr: ADDRS.dst_mac,
            ethertype: EtherType::IPV4,
        }
        .emit_bytes(&mut buf);
        ip.emit(
            &mut Ipv4Packet::new_unchecked(&mut buf[14..]),
            TxChecksum::Software,
        );
        // 60-byte frame: 14 + 28 bytes of datagram + 18 bytes of padding.
        assert_eq!(
            parse_frame(&buf, RxMeta::UNVERIFIED).unwrap().payload,
            RxPayload::OtherIpv4 { ip }
        );
    }
}
