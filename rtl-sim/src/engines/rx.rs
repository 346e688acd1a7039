//! The RX classifier: checksum verification (hw-spec SPEC.md section 7.1) and the RSS hash input
//! (section 7.2) of one received frame.

use hw_spec::offload::{ETHERTYPE_IPV4, IPPROTO_TCP, IPPROTO_UDP, UDP_CSUM_OFFSET};
use hw_spec::{CsumStatus, RssType};

use super::csum::{add_bytes, fold, pseudo_header};

/// The bytes the Toeplitz hash runs over, and what they cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RssInput {
    /// Addresses only, or addresses and ports.
    pub kind: RssType,
    /// Source address, destination address, then source and destination port.
    pub bytes: [u8; 12],
    /// Valid bytes: 8 (addresses) or 12 (with ports).
    pub len: usize,
}

impl RssInput {
    /// The valid input bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// What the RX engine reports for one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxClass {
    /// IPv4 header checksum status.
    pub ip: CsumStatus,
    /// TCP/UDP checksum status.
    pub l4: CsumStatus,
    /// RSS hash input, for IPv4 frames with consistent lengths.
    pub rss: Option<RssInput>,
}

const ETH_LEN: usize = 14;

/// Classifies one received frame. `csum_enabled` is `CONTROL.CTRL.RX_CSUM_ENABLE`.
pub fn classify(frame: &[u8], csum_enabled: bool) -> RxClass {
    let status = |s: CsumStatus| if csum_enabled { s } else { CsumStatus::Unknown };
    let none = RxClass {
        ip: status(CsumStatus::None),
        l4: status(CsumStatus::None),
        rss: None,
    };
    if frame.len() < ETH_LEN || u16::from_be_bytes([frame[12], frame[13]]) != ETHERTYPE_IPV4 {
        return none;
    }
    // Rule 2: structural consistency.
    let malformed = RxClass {
        ip: status(CsumStatus::Bad),
        l4: status(CsumStatus::None),
        rss: None,
    };
    if frame.len() < ETH_LEN + 20 {
        return malformed;
    }
    let ip = &frame[ETH_LEN..];
    let (version, ihl) = (ip[0] >> 4, usize::from(ip[0] & 0x0F) * 4);
    let total_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if version != 4 || ihl < 20 || ip.len() < ihl || total_len < ihl || total_len > ip.len() {
        return malformed;
    }
    let protocol = ip[9];
    let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3FFF != 0;
    let l4_bytes = &ip[ihl..total_len];
    let ports =
        !fragment && (protocol == IPPROTO_TCP || protocol == IPPROTO_UDP) && l4_bytes.len() >= 4;
    let mut input = RssInput {
        kind: RssType::Ipv4,
        bytes: [0; 12],
        len: 8,
    };
    input.bytes[..8].copy_from_slice(&ip[12..20]);
    if ports {
        input.bytes[8..12].copy_from_slice(&l4_bytes[..4]);
        input.len = 12;
        input.kind = if protocol == IPPROTO_TCP {
            RssType::Ipv4Tcp
        } else {
            RssType::Ipv4Udp
        };
    }
    let rss = Some(input);
    if !csum_enabled {
        return RxClass {
            ip: CsumStatus::Unknown,
            l4: CsumStatus::Unknown,
            rss,
        };
    }
    // Rule 3: header checksum.
    if fold(add_bytes(0, &ip[..ihl])) != 0xFFFF {
        return RxClass {
            ip: CsumStatus::Bad,
            l4: CsumStatus::None,
            rss,
        };
    }
    // Rules 4 and 5.
    let l4 = if fragment {
        CsumStatus::None
    } else {
        match protocol {
            IPPROTO_TCP if l4_bytes.len() < 20 => CsumStatus::Bad,
            IPPROTO_UDP if l4_bytes.len() < 8 => CsumStatus::Bad,
            IPPROTO_UDP
                if l4_bytes[UDP_CSUM_OFFSET as usize..UDP_CSUM_OFFSET as usize + 2] == [0, 0] =>
            {
                CsumStatus::None
            }
            IPPROTO_TCP | IPPROTO_UDP => {
                let mut addrs = [0u8; 8];
                addrs.copy_from_slice(&ip[12..20]);
                let sum = add_bytes(
                    pseudo_header(&addrs, protocol, l4_bytes.len() as u32),
                    l4_bytes,
                );
                if fold(sum) == 0xFFFF {
                    CsumStatus::Good
                } else {
                    CsumStatus::Bad
                }
            }
            _ => CsumStatus::None,
        }
    };
    RxClass {
        ip: CsumStatus::Good,
        l4,
        rss,
    }
}
