//! ICMP (RFC 792): echo request and reply, enough to answer pings, and the two error messages
//! a TCP sender acts on, destination unreachable (type 3, every code, with the RFC 1191
//! next-hop MTU of "fragmentation needed", code 4) and time exceeded (type 11), with the
//! start of the datagram they quote ([`QuotedDatagram`]: its IPv4 header, options included,
//! and the first 8 bytes of its payload, the TCP ports and sequence number). The checksum
//! covers the whole message and is always computed and verified in software (devices offload
//! only TCP and UDP checksums). Other ICMP types are [`Error::Unsupported`].
//!
//! Whether an error names one of our connections (RFC 5927) is for the endpoint to decide:
//! this module only says what the bytes hold.

use super::ipv4::{self, IpProtocol, Ipv4Address};
use super::{Error, Layer, Result, read_u16, read_u32, write_u16, write_u32};
use crate::checksum;

/// Length of the echo header (type, code, checksum, identifier, sequence number).
pub const HEADER_LEN: usize = 8;

/// ICMP type of an echo reply.
pub const TYPE_ECHO_REPLY: u8 = 0;
/// ICMP type of an echo request.
pub const TYPE_ECHO_REQUEST: u8 = 8;
/// ICMP type of destination unreachable.
pub const TYPE_DEST_UNREACHABLE: u8 = 3;
/// ICMP type of time exceeded.
pub const TYPE_TIME_EXCEEDED: u8 = 11;

/// Destination unreachable codes (RFC 792, RFC 1122 3.2.2.1, RFC 1812 5.2.7.1).
pub mod unreachable {
    /// Net unreachable.
    pub const NET: u8 = 0;
    /// Host unreachable.
    pub const HOST: u8 = 1;
    /// Protocol unreachable: the destination host does not run the protocol (a hard error).
    pub const PROTOCOL: u8 = 2;
    /// Port unreachable: nothing bound to the port (a hard error).
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set; carries the next hop's MTU (RFC 1191).
    pub const FRAG_NEEDED: u8 = 4;
}

/// Bytes of the quoted datagram's payload an ICMP error carries at least (RFC 792): for TCP
/// the ports and the sequence number.
pub const QUOTED_PAYLOAD_MIN: usize = 8;

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const IDENT: usize = 4;
    pub const SEQ: usize = 6;
    /// Destination unreachable, code 4: the next-hop MTU (RFC 1191), after 2 unused bytes.
    pub const NEXT_HOP_MTU: usize = 6;
}

super::packet_view! {
    /// A zero-copy view of an ICMP message (the whole IPv4 payload).
    IcmpPacket
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Checks that the 8-byte echo header is present.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated(Layer::Icmp))
        } else {
            Ok(())
        }
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Echo identifier.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// Echo sequence number.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SEQ)
    }

    /// Echo data (everything after the header); for error messages, the quoted datagram.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Destination unreachable, code 4: the next hop's MTU (RFC 1191; 0 from routers older
    /// than it).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::NEXT_HOP_MTU)
    }

    /// Whether the checksum over the whole message verifies.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::is_valid_sum(checksum::sum(self.buffer.as_ref()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    /// Sets the type.
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    /// Sets the code.
    #[inline]
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Sets the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT, v);
    }

    /// Sets the echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::SEQ, v);
    }

    /// Sets the 4 bytes after the checksum of an error message: zero, and for "fragmentation
    /// needed" the next-hop MTU in the low 2.
    #[inline]
    pub fn set_next_hop_mtu(&mut self, v: u16) {
        write_u32(self.buffer.as_mut(), field::IDENT, u32::from(v));
    }

    /// Echo data, mutable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Computes the checksum over the whole buffer and stores it.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// Echo request or reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcmpEchoKind {
    /// Type 8.
    Request,
    /// Type 0.
    Reply,
}

/// An ICMP echo message borrowing its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IcmpEchoRepr<'a> {
    /// Request or reply.
    pub kind: IcmpEchoKind,
    /// Identifier.
    pub ident: u16,
    /// Sequence number.
    pub seq_no: u16,
    /// Data, echoed back in the reply.
    pub data: &'a [u8],
}

impl<'a> IcmpEchoRepr<'a> {
    /// Validates (checksum, echo type, code 0) and reads a message.
    /// The data borrows from the buffer the view wraps.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &IcmpPacket<&'a T>) -> Result<IcmpEchoRepr<'a>> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::BadChecksum(Layer::Icmp));
        }
        let kind = match (packet.msg_type(), packet.msg_code()) {
            (TYPE_ECHO_REQUEST, 0) => IcmpEchoKind::Request,
            (TYPE_ECHO_REPLY, 0) => IcmpEchoKind::Reply,
            _ => return Err(Error::Unsupported(Layer::Icmp)),
        };
        Ok(IcmpEchoRepr {
            kind,
            ident: packet.echo_ident(),
            seq_no: packet.echo_seq_no(),
            data: &packet.buffer.as_ref()[HEADER_LEN..],
        })
    }

    /// The reply to this request (same identifier, sequence number and data).
    #[inline]
    pub const fn reply(&self) -> IcmpEchoRepr<'a> {
        IcmpEchoRepr {
            kind: IcmpEchoKind::Reply,
            ..*self
        }
    }

    /// Bytes [`emit`](Self::emit) writes: header plus data.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data.len()
    }

    /// Writes the message and its checksum into the first `buffer_len()` bytes of the packet.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut IcmpPacket<T>) {
        let buf = &mut packet.buffer.as_mut()[..self.buffer_len()];
        let mut p = IcmpPacket::new_unchecked(&mut *buf);
        p.set_msg_type(match self.kind {
            IcmpEchoKind::Request => TYPE_ECHO_REQUEST,
            IcmpEchoKind::Reply => TYPE_ECHO_REPLY,
        });
        p.set_msg_code(0);
        p.set_echo_ident(self.ident);
        p.set_echo_seq_no(self.seq_no);
        p.data_mut().copy_from_slice(self.data);
        p.fill_checksum();
    }
}

super::packet_view! {
    /// A zero-copy view of the datagram an ICMP error quotes: its IPv4 header (options
    /// included) and at least [`QUOTED_PAYLOAD_MIN`] bytes of its payload. Its total length
    /// field names the original datagram, usually longer than the quote.
    QuotedDatagram
}

mod quoted {
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: usize = 2;
    pub const PROTOCOL: usize = 9;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
    /// In the payload: source port, destination port, sequence number (TCP).
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
}

impl<T: AsRef<[u8]>> QuotedDatagram<T> {
    /// Checks the quote: IPv4 (version 4, else [`Error::Unsupported`]), IHL at least 5 (else
    /// [`Error::BadHeaderLength`]), and the header plus [`QUOTED_PAYLOAD_MIN`] bytes present
    /// (else [`Error::Truncated`]); all for [`Layer::Icmp`].
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        let Some(&ver_ihl) = b.get(quoted::VER_IHL) else {
            return Err(Error::Truncated(Layer::Icmp));
        };
        if ver_ihl >> 4 != 4 {
            return Err(Error::Unsupported(Layer::Icmp));
        }
        let ihl = usize::from(ver_ihl & 0x0F) * 4;
        if ihl < ipv4::HEADER_LEN {
            return Err(Error::BadHeaderLength(Layer::Icmp));
        }
        if b.len() < ihl + QUOTED_PAYLOAD_MIN {
            return Err(Error::Truncated(Layer::Icmp));
        }
        Ok(())
    }

    /// IPv4 header length in bytes (options included).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[quoted::VER_IHL] & 0x0F) * 4
    }

    /// The original datagram's total length.
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), quoted::TOTAL_LEN)
    }

    /// The original datagram's protocol.
    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[quoted::PROTOCOL])
    }

    /// The original datagram's source.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Address {
        Ipv4Address(read_u32(self.buffer.as_ref(), quoted::SRC).to_be_bytes())
    }

    /// The original datagram's destination.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Address {
        Ipv4Address(read_u32(self.buffer.as_ref(), quoted::DST).to_be_bytes())
    }

    /// The first [`QUOTED_PAYLOAD_MIN`] bytes of the original payload.
    #[inline]
    fn payload_head(&self) -> &[u8] {
        let at = self.header_len();
        &self.buffer.as_ref()[at..at + QUOTED_PAYLOAD_MIN]
    }

    /// The quoted segment's source port (the first 2 payload bytes).
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.payload_head(), quoted::SRC_PORT)
    }

    /// The quoted segment's destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.payload_head(), quoted::DST_PORT)
    }

    /// The quoted segment's sequence number (payload bytes 4 to 7).
    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(self.payload_head(), quoted::SEQ)
    }
}

/// What an ICMP error reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcmpErrorKind {
    /// Destination unreachable (type 3) with a code other than 4 (see [`mod@unreachable`]).
    Unreachable(u8),
    /// Destination unreachable, fragmentation needed and DF set (type 3 code 4), with the
    /// next hop's MTU (RFC 1191; 0 from older routers).
    FragmentationNeeded {
        /// The next hop's MTU in bytes (0: not given).
        next_hop_mtu: u16,
    },
    /// Time exceeded (type 11) with its code (0 in transit, 1 in reassembly).
    TimeExceeded(u8),
}

/// The start of the datagram an ICMP error quotes, as far as a TCP sender needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QuotedRepr {
    /// Source of the original datagram (ours, if it was ours).
    pub src_addr: Ipv4Address,
    /// Its destination.
    pub dst_addr: Ipv4Address,
    /// Its protocol.
    pub protocol: IpProtocol,
    /// Its total length (the whole datagram, not the quote).
    pub total_len: u16,
    /// Payload bytes 0-1: the TCP (or UDP) source port.
    pub src_port: u16,
    /// Payload bytes 2-3: the destination port.
    pub dst_port: u16,
    /// Payload bytes 4-7: the TCP sequence number.
    pub seq: u32,
}

/// An ICMP destination unreachable or time exceeded message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IcmpErrorRepr {
    /// What it reports.
    pub kind: IcmpErrorKind,
    /// What it quotes.
    pub quoted: QuotedRepr,
}

/// Bytes of the quote [`IcmpErrorRepr::emit`] writes: an IPv4 header without options and
/// [`QUOTED_PAYLOAD_MIN`] payload bytes.
const EMITTED_QUOTE_LEN: usize = ipv4::HEADER_LEN + QUOTED_PAYLOAD_MIN;

impl IcmpErrorRepr {
    /// Validates (checksum, type 3 or 11, a well-formed quote) and reads a message. A
    /// different type is [`Error::Unsupported`]; a quote that is not IPv4, has an impossible
    /// header length or ends before 8 payload bytes is [`Error::Unsupported`],
    /// [`Error::BadHeaderLength`] or [`Error::Truncated`] (all [`Layer::Icmp`]).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &IcmpPacket<&T>) -> Result<IcmpErrorRepr> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::BadChecksum(Layer::Icmp));
        }
        let kind = match (packet.msg_type(), packet.msg_code()) {
            (TYPE_DEST_UNREACHABLE, unreachable::FRAG_NEEDED) => {
                IcmpErrorKind::FragmentationNeeded {
                    next_hop_mtu: packet.next_hop_mtu(),
                }
            }
            (TYPE_DEST_UNREACHABLE, code) => IcmpErrorKind::Unreachable(code),
            (TYPE_TIME_EXCEEDED, code) => IcmpErrorKind::TimeExceeded(code),
            _ => return Err(Error::Unsupported(Layer::Icmp)),
        };
        let q = QuotedDatagram::new_checked(packet.data())?;
        Ok(IcmpErrorRepr {
            kind,
            quoted: QuotedRepr {
                src_addr: q.src_addr(),
                dst_addr: q.dst_addr(),
                protocol: q.protocol(),
                total_len: q.total_len(),
                src_port: q.src_port(),
                dst_port: q.dst_port(),
                seq: q.seq_number(),
            },
        })
    }

    /// Bytes [`emit`](Self::emit) writes: the 8-byte header and a 28-byte quote.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + EMITTED_QUOTE_LEN
    }

    /// Writes the message (as a router would, quoting an IPv4 header without options, with
    /// its checksum, and the first 8 bytes of the segment: ports and sequence number) and its
    /// checksum into the first `buffer_len()` bytes of the packet.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut IcmpPacket<T>) {
        let buf = &mut packet.buffer.as_mut()[..self.buffer_len()];
        let mut p = IcmpPacket::new_unchecked(&mut *buf);
        let (ty, code, mtu) = match self.kind {
            IcmpErrorKind::Unreachable(code) => (TYPE_DEST_UNREACHABLE, code, 0),
            IcmpErrorKind::FragmentationNeeded { next_hop_mtu } => (
                TYPE_DEST_UNREACHABLE,
                unreachable::FRAG_NEEDED,
                next_hop_mtu,
            ),
            IcmpErrorKind::TimeExceeded(code) => (TYPE_TIME_EXCEEDED, code, 0),
        };
        p.set_msg_type(ty);
        p.set_msg_code(code);
        p.set_next_hop_mtu(mtu);
        let q = &self.quoted;
        let quote = p.data_mut();
        let ip = &mut quote[..ipv4::HEADER_LEN];
        ip.fill(0);
        ip[0] = 0x45;
        write_u16(ip, quoted::TOTAL_LEN, q.total_len);
        ip[6] = 0x40; // DF
        ip[8] = 64;
        ip[quoted::PROTOCOL] = q.protocol.0;
        ip[quoted::SRC..quoted::SRC + 4].copy_from_slice(&q.src_addr.0);
        ip[quoted::DST..quoted::DST + 4].copy_from_slice(&q.dst_addr.0);
        let sum = checksum::checksum(ip);
        write_u16(ip, 10, sum);
        let l4 = &mut quote[ipv4::HEADER_LEN..];
        write_u16(l4, quoted::SRC_PORT, q.src_port);
        write_u16(l4, quoted::DST_PORT, q.dst_port);
        write_u32(l4, quoted::SEQ, q.seq);
        p.fill_checksum();
    }
}

/// The largest RFC 1191 section 7 plateau strictly below `total_len` (the length of a
/// datagram a router without RFC 1191 support refused with a next-hop MTU of 0), or `None`
/// below 68, the smallest.
pub fn mtu_plateau_below(total_len: u16) -> Option<u16> {
    const PLATEAUS: [u16; 11] = [
        65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68,
    ];
    PLATEAUS.into_iter().find(|&p| p < total_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Echo request id 0x0100 seq 7 data "abcd"; checksum verified with python3.
    const REQUEST: [u8; 12] = [
        0x08, 0x00, 0x32, 0x32, 0x01, 0x00, 0x00, 0x07, 0x61, 0x62, 0x63, 0x64,
    ];

    #[test]
    fn parses_known_request() {
        let p = IcmpPacket::new_checked(&REQUEST[..]).unwrap();
        let r = IcmpEchoRepr::parse(&p).unwrap();
        assert_eq!(r.kind, IcmpEchoKind::Request);
        assert_eq!(r.ident, 0x0100);
        assert_eq!(r.seq_no, 7);
        assert_eq!(r.data, b"abcd");
    }

    #[test]
    fn reply_round_trip() {
        let p = IcmpPacket::new_checked(&REQUEST[..]).unwrap();
        let reply = IcmpEchoRepr::parse(&p).unwrap().reply();
        let mut out = [0u8; 12];
        reply.emit(&mut IcmpPacket::new_unchecked(&mut out[..]));
        assert_eq!(out[0], TYPE_ECHO_REPLY);
        // Type 8 -> 0 raises the checksum by 0x0800.
        assert_eq!(read_u16(&out, 2), 0x3232 + 0x0800);
        assert_eq!(&out[4..], &REQUEST[4..]);
        let p = IcmpPacket::new_checked(&out[..]).unwrap();
        assert_eq!(IcmpEchoRepr::parse(&p).unwrap(), reply);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            IcmpPacket::new_checked(&REQUEST[..7]).unwrap_err(),
            Error::Truncated(Layer::Icmp)
        );
        let mut b = REQUEST;
        b[11] ^= 1;
        assert_eq!(
            IcmpEchoRepr::parse(&IcmpPacket::new_unchecked(&b[..])).unwrap_err(),
            Error::BadChecksum(Layer::Icmp)
        );
        // Destination unreachable (type 3) with a valid checksum.
        let mut b = REQUEST;
        b[0] = 3;
        IcmpPacket::new_unchecked(&mut b[..]).fill_checksum();
        assert_eq!(
            IcmpEchoRepr::parse(&IcmpPacket::new_unchecked(&b[..])).unwrap_err(),
            Error::Unsupported(Layer::Icmp)
        );
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    // Fragmentation needed, next-hop MTU 1280, quoting a 1500-byte datagram 198.18.0.1 ->
    // 198.19.0.2 with one 4-byte IPv4 option (IHL 6), TCP 49152 -> 5001, seq 0x01020304.
    // Both checksums computed with python3.
    const FRAG_NEEDED: [u8; 40] = [
        0x03, 0x04, 0x20, 0x6c, 0x00, 0x00, 0x05, 0x00, 0x46, 0x00, 0x05, 0xdc, 0x12, 0x34, 0x40,
        0x00, 0x3f, 0x06, 0x95, 0xbe, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x13, 0x00, 0x02, 0x01, 0x01,
        0x00, 0x00, 0xc0, 0x00, 0x13, 0x89, 0x01, 0x02, 0x03, 0x04,
    ];

    fn parse(b: &[u8]) -> Result<IcmpErrorRepr> {
        IcmpErrorRepr::parse(&IcmpPacket::new_checked(b)?)
    }

    fn refill(b: &mut [u8]) {
        IcmpPacket::new_unchecked(b).fill_checksum();
    }

    #[test]
    fn parses_known_frag_needed_with_quoted_options() {
        let r = parse(&FRAG_NEEDED).unwrap();
        assert_eq!(
            r,
            IcmpErrorRepr {
                kind: IcmpErrorKind::FragmentationNeeded { next_hop_mtu: 1280 },
                quoted: QuotedRepr {
                    src_addr: Ipv4Address([198, 18, 0, 1]),
                    dst_addr: Ipv4Address([198, 19, 0, 2]),
                    protocol: IpProtocol::TCP,
                    total_len: 1500,
                    src_port: 49152,
                    dst_port: 5001,
                    seq: 0x0102_0304,
                },
            }
        );
        let q = QuotedDatagram::new_checked(&FRAG_NEEDED[8..]).unwrap();
        assert_eq!(q.header_len(), 24);
    }

    #[test]
    fn every_unreachable_code_and_time_exceeded() {
        for code in 0..=15u8 {
            let mut b = FRAG_NEEDED;
            b[1] = code;
            refill(&mut b);
            let want = if code == unreachable::FRAG_NEEDED {
                IcmpErrorKind::FragmentationNeeded { next_hop_mtu: 1280 }
            } else {
                IcmpErrorKind::Unreachable(code)
            };
            assert_eq!(parse(&b).unwrap().kind, want, "code {code}");
        }
        let mut b = FRAG_NEEDED;
        b[0] = TYPE_TIME_EXCEEDED;
        b[1] = 0;
        refill(&mut b);
        assert_eq!(parse(&b).unwrap().kind, IcmpErrorKind::TimeExceeded(0));
    }

    #[test]
    fn rejects_malformed_errors() {
        let mut b = FRAG_NEEDED;
        b[20] ^= 0x10;
        assert_eq!(parse(&b), Err(Error::BadChecksum(Layer::Icmp)));
        // Quote cut one byte before the 8 payload bytes end.
        let mut b = FRAG_NEEDED[..39].to_vec();
        refill(&mut b);
        assert_eq!(parse(&b), Err(Error::Truncated(Layer::Icmp)));
        // No quote at all.
        let mut b = FRAG_NEEDED[..8].to_vec();
        refill(&mut b);
        assert_eq!(parse(&b), Err(Error::Truncated(Layer::Icmp)));
        // IHL 4; IHL 15 (60 bytes of header the quote does not hold); version 6.
        for (ver_ihl, err) in [
            (0x44, Error::BadHeaderLength(Layer::Icmp)),
            (0x4F, Error::Truncated(Layer::Icmp)),
            (0x66, Error::Unsupported(Layer::Icmp)),
        ] {
            let mut b = FRAG_NEEDED;
            b[8] = ver_ihl;
            refill(&mut b);
            assert_eq!(parse(&b), Err(err), "version/IHL {ver_ihl:#x}");
        }
        // Other types (echo request, redirect) are not errors this parser takes.
        for ty in [TYPE_ECHO_REQUEST, 5] {
            let mut b = FRAG_NEEDED;
            b[0] = ty;
            refill(&mut b);
            assert_eq!(parse(&b), Err(Error::Unsupported(Layer::Icmp)));
        }
    }

    #[test]
    fn emit_round_trips() {
        let mut r = parse(&FRAG_NEEDED).unwrap();
        for kind in [
            IcmpErrorKind::FragmentationNeeded { next_hop_mtu: 0 },
            IcmpErrorKind::Unreachable(unreachable::PORT),
            IcmpErrorKind::TimeExceeded(1),
        ] {
            r.kind = kind;
            let mut out = vec![0u8; r.buffer_len()];
            r.emit(&mut IcmpPacket::new_unchecked(&mut out[..]));
            assert_eq!(parse(&out), Ok(r));
            // The quoted IPv4 header's checksum is right, as a router writes it.
            assert!(checksum::is_valid_sum(checksum::sum(&out[8..28])));
        }
    }

    #[test]
    fn plateaus_below_the_refused_length() {
        assert_eq!(mtu_plateau_below(1500), Some(1492));
        assert_eq!(mtu_plateau_below(1492), Some(1006));
        assert_eq!(mtu_plateau_below(9000), Some(8166));
        assert_eq!(mtu_plateau_below(576), Some(508));
        assert_eq!(mtu_plateau_below(68), None);
        assert_eq!(mtu_plateau_below(u16::MAX), Some(32000));
    }
}
