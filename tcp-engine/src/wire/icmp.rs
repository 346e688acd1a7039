//! ICMP echo request and reply (RFC 792), enough to answer pings. The checksum covers the
//! whole message and is always computed and verified in software (devices offload only TCP and
//! UDP checksums). Other ICMP types are [`Error::Unsupported`].

use super::{Error, Layer, Result, read_u16, write_u16};
use crate::checksum;

/// Length of the echo header (type, code, checksum, identifier, sequence number).
pub const HEADER_LEN: usize = 8;

/// ICMP type of an echo reply.
pub const TYPE_ECHO_REPLY: u8 = 0;
/// ICMP type of an echo request.
pub const TYPE_ECHO_REQUEST: u8 = 8;

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const IDENT: usize = 4;
    pub const SEQ: usize = 6;
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

    /// Echo data (everything after the header).
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
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
