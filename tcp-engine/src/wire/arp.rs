//! ARP for IPv4 over Ethernet (RFC 826): the 28-byte packet view and the request/reply
//! representation. Other hardware or protocol types are [`Error::Unsupported`].
//!
//! Owns the format only; who to answer and what to learn is the neighbour cache's and the
//! endpoint's business (`crate::neighbor`).

use super::ethernet::EthernetAddress;
use super::ipv4::Ipv4Address;
use super::{Error, Layer, Result, read_u16, write_u16};

/// Length of an ARP packet for IPv4 over Ethernet.
pub const PACKET_LEN: usize = 28;

/// Hardware type Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// Protocol type IPv4 (the EtherType).
pub const PTYPE_IPV4: u16 = 0x0800;

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
}

/// ARP operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// Who has the target protocol address? (1)
    Request,
    /// The sender has the sender protocol address. (2)
    Reply,
}

impl ArpOperation {
    /// The operation's code.
    pub const fn code(self) -> u16 {
        match self {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
        }
    }
}

super::packet_view! {
    /// A zero-copy view of an ARP packet for IPv4 over Ethernet.
    ArpPacket
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Checks that the buffer holds the 28 bytes every accessor reads. Trailing bytes
    /// (Ethernet padding) are allowed.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < PACKET_LEN {
            Err(Error::Truncated(Layer::Arp))
        } else {
            Ok(())
        }
    }

    /// Hardware type (1 for Ethernet).
    #[inline]
    pub fn hardware_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::HTYPE)
    }

    /// Protocol type (0x0800 for IPv4).
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PTYPE)
    }

    /// Hardware address length (6 for Ethernet).
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length (4 for IPv4).
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Operation code.
    #[inline]
    pub fn operation(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::OPER)
    }

    /// Sender hardware address.
    #[inline]
    pub fn source_hardware_addr(&self) -> EthernetAddress {
        let b = &self.buffer.as_ref()[field::SHA..field::SHA + 6];
        EthernetAddress([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// Sender protocol address.
    #[inline]
    pub fn source_protocol_addr(&self) -> Ipv4Address {
        let b = &self.buffer.as_ref()[field::SPA..field::SPA + 4];
        Ipv4Address([b[0], b[1], b[2], b[3]])
    }

    /// Target hardware address.
    #[inline]
    pub fn target_hardware_addr(&self) -> EthernetAddress {
        let b = &self.buffer.as_ref()[field::THA..field::THA + 6];
        EthernetAddress([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// Target protocol address.
    #[inline]
    pub fn target_protocol_addr(&self) -> Ipv4Address {
        let b = &self.buffer.as_ref()[field::TPA..field::TPA + 4];
        Ipv4Address([b[0], b[1], b[2], b[3]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Writes the fixed Ethernet/IPv4 preamble (hardware and protocol type and lengths).
    #[inline]
    pub fn set_ethernet_ipv4(&mut self) {
        let b = self.buffer.as_mut();
        write_u16(b, field::HTYPE, HTYPE_ETHERNET);
        write_u16(b, field::PTYPE, PTYPE_IPV4);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
    }

    /// Sets the operation code.
    #[inline]
    pub fn set_operation(&mut self, op: ArpOperation) {
        write_u16(self.buffer.as_mut(), field::OPER, op.code());
    }

    /// Sets the sender hardware address.
    #[inline]
    pub fn set_source_hardware_addr(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::SHA..field::SHA + 6].copy_from_slice(&a.0);
    }

    /// Sets the sender protocol address.
    #[inline]
    pub fn set_source_protocol_addr(&mut self, a: Ipv4Address) {
        self.buffer.as_mut()[field::SPA..field::SPA + 4].copy_from_slice(&a.0);
    }

    /// Sets the target hardware address.
    #[inline]
    pub fn set_target_hardware_addr(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::THA..field::THA + 6].copy_from_slice(&a.0);
    }

    /// Sets the target protocol address.
    #[inline]
    pub fn set_target_protocol_addr(&mut self, a: Ipv4Address) {
        self.buffer.as_mut()[field::TPA..field::TPA + 4].copy_from_slice(&a.0);
    }
}

/// An ARP request or reply for IPv4 over Ethernet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Request or reply.
    pub operation: ArpOperation,
    /// Sender hardware address.
    pub source_hardware_addr: EthernetAddress,
    /// Sender protocol address.
    pub source_protocol_addr: Ipv4Address,
    /// Target hardware address (zero in requests).
    pub target_hardware_addr: EthernetAddress,
    /// Target protocol address.
    pub target_protocol_addr: Ipv4Address,
}

impl ArpRepr {
    /// Validates and reads a checked packet.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<ArpRepr> {
        packet.check_len()?;
        if packet.hardware_type() != HTYPE_ETHERNET
            || packet.protocol_type() != PTYPE_IPV4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(Error::Unsupported(Layer::Arp));
        }
        let operation = match packet.operation() {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            _ => return Err(Error::Unsupported(Layer::Arp)),
        };
        Ok(ArpRepr {
            operation,
            source_hardware_addr: packet.source_hardware_addr(),
            source_protocol_addr: packet.source_protocol_addr(),
            target_hardware_addr: packet.target_hardware_addr(),
            target_protocol_addr: packet.target_protocol_addr(),
        })
    }

    /// A request from `(our_mac, our_ip)` asking who has `target`.
    #[inline]
    pub const fn request(
        our_mac: EthernetAddress,
        our_ip: Ipv4Address,
        target: Ipv4Address,
    ) -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: our_mac,
            source_protocol_addr: our_ip,
            target_hardware_addr: EthernetAddress::ZERO,
            target_protocol_addr: target,
        }
    }

    /// The reply to `request` saying that `our_mac` has the requested address (which the caller
    /// has checked is ours).
    #[inline]
    pub const fn reply_to(request: &ArpRepr, our_mac: EthernetAddress) -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Reply,
            source_hardware_addr: our_mac,
            source_protocol_addr: request.target_protocol_addr,
            target_hardware_addr: request.source_hardware_addr,
            target_protocol_addr: request.source_protocol_addr,
        }
    }

    /// The Ethernet destination this packet goes to: broadcast for requests, the target for
    /// replies.
    #[inline]
    pub fn link_destination(&self) -> EthernetAddress {
        match self.operation {
            ArpOperation::Request => EthernetAddress::BROADCAST,
            ArpOperation::Reply => self.target_hardware_addr,
        }
    }

    /// Bytes [`emit`](Self::emit) writes.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ArpPacket<T>) {
        packet.set_ethernet_ipv4();
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(self.source_hardware_addr);
        packet.set_source_protocol_addr(self.source_protocol_addr);
        packet.set_target_hardware_addr(self.target_hardware_addr);
        packet.set_target_protocol_addr(self.target_protocol_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Request: 02:00:00:00:00:01 / 198.18.0.1 asks who has 198.18.0.2.
    // Checked with python3 struct.pack('!HHBBH6s4s6s4s', 1, 0x800, 6, 4, 1, ...).
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0xc6,
        0x12, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 0x12, 0x00, 0x02,
    ];
    // The reply from 02:00:00:00:00:02.
    const REPLY: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0xc6,
        0x12, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x01,
    ];

    const MAC1: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const MAC2: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
    const IP1: Ipv4Address = Ipv4Address([198, 18, 0, 1]);
    const IP2: Ipv4Address = Ipv4Address([198, 18, 0, 2]);

    #[test]
    fn parses_known_request_and_reply() {
        let req = ArpRepr::parse(&ArpPacket::new_checked(&REQUEST[..]).unwrap()).unwrap();
        assert_eq!(req, ArpRepr::request(MAC1, IP1, IP2));
        assert_eq!(req.link_destination(), EthernetAddress::BROADCAST);
        let rep = ArpRepr::parse(&ArpPacket::new_checked(&REPLY[..]).unwrap()).unwrap();
        assert_eq!(rep.operation, ArpOperation::Reply);
        assert_eq!(rep.source_hardware_addr, MAC2);
        assert_eq!(rep.source_protocol_addr, IP2);
        assert_eq!(rep.target_hardware_addr, MAC1);
        assert_eq!(rep.target_protocol_addr, IP1);
        assert_eq!(rep, ArpRepr::reply_to(&req, MAC2));
        assert_eq!(rep.link_destination(), MAC1);
    }

    #[test]
    fn emits_known_bytes() {
        let mut buf = [0xAAu8; 28];
        ArpRepr::request(MAC1, IP1, IP2).emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        assert_eq!(buf, REQUEST);
        let req = ArpRepr::request(MAC1, IP1, IP2);
        ArpRepr::reply_to(&req, MAC2).emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        assert_eq!(buf, REPLY);
    }

    #[test]
    fn rejects_other_kinds() {
        assert_eq!(
            ArpPacket::new_checked(&REQUEST[..27]).unwrap_err(),
            Error::Truncated(Layer::Arp)
        );
        for (at, v) in [(1, 6), (2, 0x86), (4, 8), (5, 16), (7, 3), (6, 1)] {
            let mut b = REQUEST;
            b[at] = v;
            assert_eq!(
                ArpRepr::parse(&ArpPacket::new_unchecked(&b[..])).unwrap_err(),
                Error::Unsupported(Layer::Arp),
                "byte {at} = {v}"
            );
        }
        // Ethernet padding after the 28 bytes is fine.
        let mut padded = [0u8; 46];
        padded[..28].copy_from_slice(&REQUEST);
        assert!(ArpRepr::parse(&ArpPacket::new_unchecked(&padded[..])).is_ok());
    }
}
