//! IPv4 (RFC 791): addresses, CIDR prefixes, the header view and its representation.
//!
//! Receive: the header length (IHL) is honoured so options are skipped, the total length is
//! checked against the buffer and bounds the payload (trailing Ethernet padding is ignored),
//! the header checksum is verified unless the device vouched for it, and fragments are reported
//! as [`Error::Fragment`]. Transmit: 20-byte headers without options.

use super::{Error, Layer, Result, TxChecksum, check_rx_checksum, read_u16, write_u16};
use crate::checksum;
use crate::device::ChecksumState;
use core::fmt;
use core::str::FromStr;

/// An IPv4 address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Ipv4Address(pub [u8; 4]);

impl Ipv4Address {
    /// `0.0.0.0`.
    pub const UNSPECIFIED: Ipv4Address = Ipv4Address([0; 4]);
    /// `255.255.255.255`.
    pub const BROADCAST: Ipv4Address = Ipv4Address([255; 4]);

    /// `a.b.c.d`.
    #[inline]
    pub const fn new(a: u8, b: u8, c: u8, d: u8) -> Ipv4Address {
        Ipv4Address([a, b, c, d])
    }

    /// From the address as a host-order integer.
    #[inline]
    pub const fn from_u32(v: u32) -> Ipv4Address {
        Ipv4Address(v.to_be_bytes())
    }

    /// The address as a host-order integer.
    #[inline]
    pub const fn to_u32(self) -> u32 {
        u32::from_be_bytes(self.0)
    }

    /// The four bytes.
    #[inline]
    pub const fn octets(self) -> [u8; 4] {
        self.0
    }

    /// `0.0.0.0`.
    #[inline]
    pub const fn is_unspecified(self) -> bool {
        self.to_u32() == 0
    }

    /// `255.255.255.255`.
    #[inline]
    pub const fn is_broadcast(self) -> bool {
        self.to_u32() == u32::MAX
    }

    /// `224.0.0.0/4`.
    #[inline]
    pub const fn is_multicast(self) -> bool {
        self.0[0] & 0xF0 == 0xE0
    }

    /// `127.0.0.0/8`.
    #[inline]
    pub const fn is_loopback(self) -> bool {
        self.0[0] == 127
    }

    /// An address a unicast datagram may come from or go to: not unspecified, broadcast,
    /// multicast or class E.
    #[inline]
    pub const fn is_unicast(self) -> bool {
        !self.is_unspecified() && self.0[0] < 224
    }
}

impl From<core::net::Ipv4Addr> for Ipv4Address {
    #[inline]
    fn from(a: core::net::Ipv4Addr) -> Ipv4Address {
        Ipv4Address(a.octets())
    }
}

impl From<Ipv4Address> for core::net::Ipv4Addr {
    #[inline]
    fn from(a: Ipv4Address) -> core::net::Ipv4Addr {
        core::net::Ipv4Addr::from(a.0)
    }
}

impl fmt::Display for Ipv4Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{}.{}.{}.{}", b[0], b[1], b[2], b[3])
    }
}

impl fmt::Debug for Ipv4Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ipv4Address({self})")
    }
}

/// Text that is not an IPv4 address (`a.b.c.d`) or prefix (`a.b.c.d/n`, n at most 32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressParseError;

impl fmt::Display for AddressParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected an IPv4 address like 198.18.0.1 or a prefix like 198.18.0.1/24")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for AddressParseError {}

impl FromStr for Ipv4Address {
    type Err = AddressParseError;

    fn from_str(s: &str) -> core::result::Result<Ipv4Address, AddressParseError> {
        let mut out = [0u8; 4];
        let mut parts = s.split('.');
        for byte in &mut out {
            let part = parts.next().ok_or(AddressParseError)?;
            if part.is_empty() || part.len() > 3 || !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(AddressParseError);
            }
            *byte = part.parse().map_err(|_| AddressParseError)?;
        }
        if parts.next().is_some() {
            return Err(AddressParseError);
        }
        Ok(Ipv4Address(out))
    }
}

/// An IPv4 address with a prefix length: an interface address and its on-link network.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Ipv4Cidr {
    address: Ipv4Address,
    prefix_len: u8,
}

impl Ipv4Cidr {
    /// `address/prefix_len`; `None` when the prefix is longer than 32.
    #[inline]
    pub const fn new(address: Ipv4Address, prefix_len: u8) -> Option<Ipv4Cidr> {
        if prefix_len > 32 {
            None
        } else {
            Some(Ipv4Cidr {
                address,
                prefix_len,
            })
        }
    }

    /// The address.
    #[inline]
    pub const fn address(&self) -> Ipv4Address {
        self.address
    }

    /// The prefix length.
    #[inline]
    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The netmask as an address (`/24` -> `255.255.255.0`).
    #[inline]
    pub const fn netmask(&self) -> Ipv4Address {
        Ipv4Address::from_u32(self.mask())
    }

    const fn mask(&self) -> u32 {
        if self.prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix_len as u32)
        }
    }

    /// The network address (host bits cleared).
    #[inline]
    pub const fn network(&self) -> Ipv4Address {
        Ipv4Address::from_u32(self.address.to_u32() & self.mask())
    }

    /// The directed broadcast address (host bits set).
    #[inline]
    pub const fn broadcast(&self) -> Ipv4Address {
        Ipv4Address::from_u32(self.address.to_u32() | !self.mask())
    }

    /// Whether `addr` is inside the prefix (on link).
    #[inline]
    pub const fn contains(&self, addr: Ipv4Address) -> bool {
        (addr.to_u32() ^ self.address.to_u32()) & self.mask() == 0
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = AddressParseError;

    fn from_str(s: &str) -> core::result::Result<Ipv4Cidr, AddressParseError> {
        let (addr, prefix) = s.split_once('/').ok_or(AddressParseError)?;
        if prefix.is_empty() || prefix.len() > 2 || !prefix.bytes().all(|c| c.is_ascii_digit()) {
            return Err(AddressParseError);
        }
        let prefix: u8 = prefix.parse().map_err(|_| AddressParseError)?;
        Ipv4Cidr::new(addr.parse()?, prefix).ok_or(AddressParseError)
    }
}

/// The IPv4 protocol number of the payload.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    /// ICMP.
    pub const ICMP: IpProtocol = IpProtocol(1);
    /// TCP.
    pub const TCP: IpProtocol = IpProtocol(6);
    /// UDP.
    pub const UDP: IpProtocol = IpProtocol(17);
}

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;

/// Default time to live of emitted datagrams (RFC 1700 recommends 64).
pub const DEFAULT_TTL: u8 = 64;

/// The ECN field's bits in the DSCP/ECN byte (RFC 3168 section 5).
pub const ECN_MASK: u8 = 0b11;
/// ECN field: ECN-capable transport, ECT(0). What this host marks its ECN-capable segments.
pub const ECN_ECT0: u8 = 0b10;
/// ECN field: Congestion Experienced, set by a router instead of dropping an ECT datagram.
pub const ECN_CE: u8 = 0b11;

mod field {
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1FFF;

super::packet_view! {
    /// A zero-copy view of an IPv4 datagram.
    Ipv4Packet
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Checks the lengths every accessor relies on: the fixed header is present, IHL is at
    /// least 5 and the header fits, the total length covers the header and fits in the buffer
    /// (the buffer may be longer: Ethernet padding).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated(Layer::Ipv4));
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN {
            return Err(Error::BadHeaderLength(Layer::Ipv4));
        }
        if header_len > len {
            return Err(Error::Truncated(Layer::Ipv4));
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(Error::BadHeaderLength(Layer::Ipv4));
        }
        if total_len > len {
            return Err(Error::Truncated(Layer::Ipv4));
        }
        Ok(())
    }

    /// Version field (4 for IPv4).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4), options included.
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0F) * 4
    }

    /// Differentiated services code point.
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// ECN field (RFC 3168).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Total length: header plus payload.
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// Don't Fragment.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_DF != 0
    }

    /// More Fragments.
    #[inline]
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_MF != 0
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (read_u16(self.buffer.as_ref(), field::FLG_OFF) & FRAG_OFFSET_MASK) << 3
    }

    /// Whether this datagram is a fragment (MF set or a non-zero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF) & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::PROTOCOL])
    }

    /// Header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Address {
        let b = self.buffer.as_ref();
        Ipv4Address([b[12], b[13], b[14], b[15]])
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Address {
        let b = self.buffer.as_ref();
        Ipv4Address([b[16], b[17], b[18], b[19]])
    }

    /// Whether the header checksum verifies.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let h = &self.buffer.as_ref()[..usize::from(self.header_len())];
        checksum::is_valid_sum(checksum::sum(h))
    }

    /// The options (between the fixed header and the payload).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }

    /// The payload: from the end of the header to the total length (padding excluded).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[usize::from(self.header_len())..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets version 4 and the header length in bytes (a multiple of 4, 20 to 60).
    #[inline]
    pub fn set_version_and_header_len(&mut self, header_len: u8) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) & 0x0F);
    }

    /// Sets the DSCP/ECN byte.
    #[inline]
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v;
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, v);
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT, v);
    }

    /// Sets the flags and fragment offset (in bytes, a multiple of 8).
    #[inline]
    pub fn set_frag(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut v = (offset >> 3) & FRAG_OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        write_u16(self.buffer.as_mut(), field::FLG_OFF, v);
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = p.0;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv4Address) {
        self.buffer.as_mut()[field::SRC..field::SRC + 4].copy_from_slice(&a.0);
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv4Address) {
        self.buffer.as_mut()[field::DST..field::DST + 4].copy_from_slice(&a.0);
    }

    /// Computes the header checksum over `header_len()` bytes and stores it.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let h = &self.buffer.as_ref()[..usize::from(self.header_len())];
        let c = checksum::checksum(h);
        self.set_checksum(c);
    }

    /// The payload (up to the total length), mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (
            usize::from(self.header_len()),
            usize::from(self.total_len()),
        );
        &mut self.buffer.as_mut()[start..end]
    }
}

/// The fields of an IPv4 header the engine reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Address,
    /// Destination address.
    pub dst_addr: Ipv4Address,
    /// Protocol of the payload.
    pub protocol: IpProtocol,
    /// Payload length (total length minus header length).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// The DSCP/ECN byte (former type of service).
    pub dscp_ecn: u8,
}

impl Ipv4Repr {
    /// Validates and reads a datagram: version 4, checksum (per the device's verdict `csum`),
    /// not a fragment. Options are skipped.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>, csum: ChecksumState) -> Result<Ipv4Repr> {
        packet.check_len()?;
        if packet.version() != 4 {
            return Err(Error::Unsupported(Layer::Ipv4));
        }
        check_rx_checksum(csum, Layer::Ipv4, || packet.verify_checksum())?;
        if packet.is_fragment() {
            return Err(Error::Fragment);
        }
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len() - u16::from(packet.header_len())),
            ttl: packet.ttl(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            dscp_ecn: packet.buffer.as_ref()[field::DSCP_ECN],
        })
    }

    /// Header bytes [`emit`](Self::emit) writes (no options).
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// The header as 20 bytes, checksum filled when `csum` is `Software` and zero otherwise.
    /// A total length above 65535 (a TSO super-frame, whose lengths the device rewrites per
    /// segment) is written as 65535.
    #[inline]
    pub fn header_bytes(&self, csum: TxChecksum) -> [u8; HEADER_LEN] {
        let total = (HEADER_LEN + self.payload_len).min(usize::from(u16::MAX)) as u16;
        let [l0, l1] = total.to_be_bytes();
        let [i0, i1] = self.ident.to_be_bytes();
        let flags = if self.dont_frag { 0x40 } else { 0 };
        let s = self.src_addr.0;
        let d = self.dst_addr.0;
        let mut h = [
            0x45,
            self.dscp_ecn,
            l0,
            l1,
            i0,
            i1,
            flags,
            0,
            self.ttl,
            self.protocol.0,
            0,
            0,
            s[0],
            s[1],
            s[2],
            s[3],
            d[0],
            d[1],
            d[2],
            d[3],
        ];
        if csum == TxChecksum::Software {
            let [c0, c1] = checksum::checksum(&h).to_be_bytes();
            h[10] = c0;
            h[11] = c1;
        }
        h
    }

    /// Writes the 20-byte header (see [`header_bytes`](Self::header_bytes)).
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv4Packet<T>, csum: TxChecksum) {
        packet.buffer.as_mut()[..HEADER_LEN].copy_from_slice(&self.header_bytes(csum));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 198.18.0.1 -> 198.18.0.2, TCP, DF, TTL 64, ID 0x1234, total 40; checksum 0x9c74
    // (computed with python3's struct and a reference ones' complement sum).
    pub(crate) const HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x28, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x9c, 0x74, 0xc6, 0x12, 0x00,
        0x01, 0xc6, 0x12, 0x00, 0x02,
    ];

    fn repr() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Address::new(198, 18, 0, 1),
            dst_addr: Ipv4Address::new(198, 18, 0, 2),
            protocol: IpProtocol::TCP,
            payload_len: 20,
            ttl: 64,
            ident: 0x1234,
            dont_frag: true,
            dscp_ecn: 0,
        }
    }

    fn datagram() -> [u8; 40] {
        let mut d = [0u8; 40];
        d[..20].copy_from_slice(&HEADER);
        d
    }

    #[test]
    fn parses_known_header() {
        let d = datagram();
        let p = Ipv4Packet::new_checked(&d[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 40);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::TCP);
        assert_eq!(p.checksum(), 0x9c74);
        assert!(p.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&p, ChecksumState::Unknown).unwrap(), repr());
    }

    #[test]
    fn emits_known_header() {
        let mut d = [0u8; 40];
        repr().emit(
            &mut Ipv4Packet::new_unchecked(&mut d[..]),
            TxChecksum::Software,
        );
        assert_eq!(d[..20], HEADER);
        repr().emit(
            &mut Ipv4Packet::new_unchecked(&mut d[..]),
            TxChecksum::Device,
        );
        assert_eq!(&d[10..12], &[0, 0]);
        assert_eq!(d[..10], HEADER[..10]);
    }

    #[test]
    fn padding_after_total_length_is_ignored() {
        // A 40-byte datagram in a 46-byte minimum Ethernet payload.
        let mut padded = [0xEEu8; 46];
        padded[..40].copy_from_slice(&datagram());
        let p = Ipv4Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload().len(), 20);
        assert_eq!(
            Ipv4Repr::parse(&p, ChecksumState::Unknown)
                .unwrap()
                .payload_len,
            20
        );
    }

    #[test]
    fn options_are_skipped() {
        // IHL 6: one 4-byte option (NOP NOP NOP EOL), total 44.
        let mut d = [0u8; 44];
        d[..20].copy_from_slice(&HEADER);
        d[0] = 0x46;
        d[2..4].copy_from_slice(&44u16.to_be_bytes());
        d[20..24].copy_from_slice(&[1, 1, 1, 0]);
        d[24] = 0xAB;
        let mut p = Ipv4Packet::new_unchecked(&mut d[..]);
        p.fill_checksum();
        let p = Ipv4Packet::new_checked(&d[..]).unwrap();
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload()[0], 0xAB);
        let r = Ipv4Repr::parse(&p, ChecksumState::Unknown).unwrap();
        assert_eq!(r.payload_len, 20);
    }

    #[test]
    fn length_errors() {
        let d = datagram();
        let check = |b: &[u8]| Ipv4Packet::new_checked(b).map(|_| ());
        assert_eq!(check(&d[..19]), Err(Error::Truncated(Layer::Ipv4)));
        assert_eq!(check(&d[..39]), Err(Error::Truncated(Layer::Ipv4)));
        let mut b = d;
        b[0] = 0x44; // IHL 4
        assert_eq!(check(&b), Err(Error::BadHeaderLength(Layer::Ipv4)));
        let mut b = d;
        b[0] = 0x4F; // IHL 15 = 60 bytes > 40
        assert_eq!(check(&b), Err(Error::Truncated(Layer::Ipv4)));
        let mut b = d;
        b[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(check(&b), Err(Error::BadHeaderLength(Layer::Ipv4)));
    }

    #[test]
    fn version_checksum_and_fragments() {
        let mut b = datagram();
        b[0] = 0x65;
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Ipv4Repr::parse(&p, ChecksumState::Good),
            Err(Error::Unsupported(Layer::Ipv4))
        );

        let mut b = datagram();
        b[8] = 63; // TTL changed, checksum stale
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Ipv4Repr::parse(&p, ChecksumState::Unknown),
            Err(Error::BadChecksum(Layer::Ipv4))
        );
        // The device's verdict is trusted either way.
        assert!(Ipv4Repr::parse(&p, ChecksumState::Good).is_ok());
        let good = datagram();
        let p = Ipv4Packet::new_checked(&good[..]).unwrap();
        assert_eq!(
            Ipv4Repr::parse(&p, ChecksumState::Bad),
            Err(Error::BadChecksum(Layer::Ipv4))
        );

        for (more, offset) in [(true, 0u16), (false, 8), (true, 1480)] {
            let mut b = datagram();
            let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
            p.set_frag(false, more, offset);
            p.fill_checksum();
            let p = Ipv4Packet::new_checked(&b[..]).unwrap();
            assert!(p.is_fragment());
            assert_eq!(p.frag_offset(), offset);
            assert_eq!(p.more_frags(), more);
            assert_eq!(
                Ipv4Repr::parse(&p, ChecksumState::Unknown),
                Err(Error::Fragment)
            );
        }
    }

    #[test]
    fn addresses_and_prefixes() {
        let a: Ipv4Address = "198.18.0.1".parse().unwrap();
        assert_eq!(a, Ipv4Address::new(198, 18, 0, 1));
        assert_eq!(a.to_string(), "198.18.0.1");
        assert_eq!(Ipv4Address::from_u32(a.to_u32()), a);
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "1..2.3",
            "a.b.c.d",
            "+1.2.3.4",
        ] {
            assert!(bad.parse::<Ipv4Address>().is_err(), "{bad}");
        }
        let c: Ipv4Cidr = "198.18.3.7/15".parse().unwrap();
        assert_eq!(c.address(), Ipv4Address::new(198, 18, 3, 7));
        assert_eq!(c.netmask(), Ipv4Address::new(255, 254, 0, 0));
        assert_eq!(c.network(), Ipv4Address::new(198, 18, 0, 0));
        assert_eq!(c.broadcast(), Ipv4Address::new(198, 19, 255, 255));
        assert!(c.contains(Ipv4Address::new(198, 19, 1, 1)));
        assert!(!c.contains(Ipv4Address::new(198, 20, 0, 1)));
        assert_eq!(c.to_string(), "198.18.3.7/15");
        let all: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Address::BROADCAST));
        let host: Ipv4Cidr = "10.0.0.1/32".parse().unwrap();
        assert!(!host.contains(Ipv4Address::new(10, 0, 0, 2)));
        for bad in [
            "198.18.0.1",
            "198.18.0.1/33",
            "198.18.0.1/",
            "198.18.0.1/x",
            "/24",
        ] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad}");
        }
        assert!(Ipv4Address::new(224, 0, 0, 1).is_multicast());
        assert!(!Ipv4Address::new(224, 0, 0, 1).is_unicast());
        assert!(!Ipv4Address::UNSPECIFIED.is_unicast());
        assert!(a.is_unicast());
    }
}
