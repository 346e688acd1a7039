//! Ethernet II frames (IEEE 802.3 with an EtherType): addresses, the EtherType, the frame view
//! and its representation. No VLAN tags, no FCS (devices strip and append it).

use super::{Error, Layer, Result, read_u16, write_u16};
use core::fmt;

/// A 48-bit Ethernet (MAC) address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xFF; 6]);
    /// `00:00:00:00:00:00` (ARP requests carry it as the unknown target).
    pub const ZERO: EthernetAddress = EthernetAddress([0; 6]);

    /// The address from its six bytes.
    #[inline]
    pub const fn new(b: [u8; 6]) -> EthernetAddress {
        EthernetAddress(b)
    }

    /// Copies an address out of a slice of exactly six bytes.
    pub fn from_slice(b: &[u8]) -> Option<EthernetAddress> {
        Some(EthernetAddress(b.try_into().ok()?))
    }

    /// The six bytes.
    #[inline]
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// The broadcast address.
    #[inline]
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Group bit set (multicast or broadcast).
    #[inline]
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// An individual address that is not all zero: the only kind a frame may come from.
    #[inline]
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast() && *self != Self::ZERO
    }

    /// Locally administered bit set.
    #[inline]
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EthernetAddress({self})")
    }
}

/// An EtherType (the protocol of the frame's payload).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct EtherType(pub u16);

impl EtherType {
    /// IPv4.
    pub const IPV4: EtherType = EtherType(0x0800);
    /// ARP.
    pub const ARP: EtherType = EtherType(0x0806);
    /// IPv6 (not handled; recognised for counting).
    pub const IPV6: EtherType = EtherType(0x86DD);
    /// 802.1Q VLAN tag (not handled; recognised for counting).
    pub const VLAN: EtherType = EtherType(0x8100);
}

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = 14;

mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: usize = 12;
    pub const PAYLOAD: usize = 14;
}

super::packet_view! {
    /// A zero-copy view of an Ethernet II frame.
    EthernetFrame
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Checks that the buffer holds the 14-byte header.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated(Layer::Ethernet))
        } else {
            Ok(())
        }
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> EthernetAddress {
        let b = self.buffer.as_ref();
        EthernetAddress([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> EthernetAddress {
        let b = self.buffer.as_ref();
        EthernetAddress([b[6], b[7], b[8], b[9], b[10], b[11]])
    }

    /// EtherType.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType(read_u16(self.buffer.as_ref(), field::ETHERTYPE))
    }

    /// Everything after the header (including any padding up to the minimum frame).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.0);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.0);
    }

    /// Sets the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, t: EtherType) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE, t.0);
    }

    /// The payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// The fields of an Ethernet II header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Source address.
    pub src_addr: EthernetAddress,
    /// Destination address.
    pub dst_addr: EthernetAddress,
    /// EtherType of the payload.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the header of a checked frame. Every header is acceptable at this layer; address
    /// filtering is the endpoint's decision.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Result<EthernetRepr> {
        frame.check_len()?;
        Ok(EthernetRepr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }

    /// Bytes [`emit`](Self::emit) writes.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut EthernetFrame<T>) {
        self.emit_bytes(frame.buffer.as_mut());
    }

    /// Writes the header into the first 14 bytes of `buf` (three copies).
    #[inline]
    pub(crate) fn emit_bytes(&self, buf: &mut [u8]) {
        let h = &mut buf[..HEADER_LEN];
        h[field::DST].copy_from_slice(&self.dst_addr.0);
        h[field::SRC].copy_from_slice(&self.src_addr.0);
        h[field::ETHERTYPE..].copy_from_slice(&self.ethertype.0.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // dst 02:00:00:00:00:02, src 02:00:00:00:00:01, IPv4, then 4 payload bytes.
    const FRAME: [u8; 18] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0xde,
        0xad, 0xbe, 0xef,
    ];

    #[test]
    fn parses_known_frame() {
        let f = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        let r = EthernetRepr::parse(&f).unwrap();
        assert_eq!(r.dst_addr, EthernetAddress([2, 0, 0, 0, 0, 2]));
        assert_eq!(r.src_addr, EthernetAddress([2, 0, 0, 0, 0, 1]));
        assert_eq!(r.ethertype, EtherType::IPV4);
        assert_eq!(f.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(r.src_addr.to_string(), "02:00:00:00:00:01");
    }

    #[test]
    fn emits_known_frame() {
        let r = EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            ethertype: EtherType::IPV4,
        };
        let mut buf = [0u8; 18];
        let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
        r.emit(&mut f);
        f.payload_mut().copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(buf, FRAME);
    }

    #[test]
    fn rejects_short_frame() {
        assert_eq!(
            EthernetFrame::new_checked(&FRAME[..13]).unwrap_err(),
            Error::Truncated(Layer::Ethernet)
        );
    }

    #[test]
    fn address_classes() {
        assert!(EthernetAddress::BROADCAST.is_broadcast());
        assert!(EthernetAddress::BROADCAST.is_multicast());
        assert!(!EthernetAddress::BROADCAST.is_unicast());
        assert!(EthernetAddress([1, 0, 0x5e, 0, 0, 1]).is_multicast());
        assert!(EthernetAddress([2, 0, 0, 0, 0, 1]).is_unicast());
        assert!(EthernetAddress([2, 0, 0, 0, 0, 1]).is_local());
        assert!(!EthernetAddress::ZERO.is_unicast());
    }
}
