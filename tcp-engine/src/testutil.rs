//! Hand-built frames for the unit tests of the devices (`softnic`, `link`, `pcap`, `tap`).
//! The `wire` module is the real emitter; these builders stay deliberately literal so the
//! device tests do not depend on it.

use crate::checksum;
use crate::softnic::{fill_ipv4_checksum, pseudo_header_sum};

/// MAC addresses used by the tests.
pub(crate) const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
/// MAC addresses used by the tests.
pub(crate) const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

/// Fields of a hand-built TCP/IPv4 frame.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TcpSpec {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    /// Byte 13 of the TCP header (CWR..FIN).
    pub flags: u8,
    pub window: u16,
    /// Raw option bytes (a multiple of 4).
    pub options: &'static [u8],
}

impl Default for TcpSpec {
    fn default() -> Self {
        TcpSpec {
            src_mac: MAC_A,
            dst_mac: MAC_B,
            src: [198, 18, 0, 1],
            dst: [198, 18, 0, 2],
            src_port: 40000,
            dst_port: 80,
            seq: 0xFFFF_FF00,
            ack: 7,
            flags: 0x10,
            window: 65535,
            options: &[],
        }
    }
}

/// An Ethernet + IPv4 + TCP frame carrying `payload`; checksums filled when `checksums`.
pub(crate) fn tcp_frame(spec: &TcpSpec, payload: &[u8], checksums: bool) -> Vec<u8> {
    let l4 = 20 + spec.options.len();
    let mut f = vec![0u8; 14 + 20 + l4 + payload.len()];
    f[..6].copy_from_slice(&spec.dst_mac);
    f[6..12].copy_from_slice(&spec.src_mac);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = (20 + l4 + payload.len()).min(65535) as u16;
    f[14] = 0x45;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[18..20].copy_from_slice(&0x1234u16.to_be_bytes());
    f[20] = 0x40; // DF
    f[22] = 64;
    f[23] = 6;
    f[26..30].copy_from_slice(&spec.src);
    f[30..34].copy_from_slice(&spec.dst);
    let t = 34;
    f[t..t + 2].copy_from_slice(&spec.src_port.to_be_bytes());
    f[t + 2..t + 4].copy_from_slice(&spec.dst_port.to_be_bytes());
    f[t + 4..t + 8].copy_from_slice(&spec.seq.to_be_bytes());
    f[t + 8..t + 12].copy_from_slice(&spec.ack.to_be_bytes());
    f[t + 12] = ((l4 / 4) as u8) << 4;
    f[t + 13] = spec.flags;
    f[t + 14..t + 16].copy_from_slice(&spec.window.to_be_bytes());
    f[t + 20..t + l4].copy_from_slice(spec.options);
    f[t + l4..].copy_from_slice(payload);
    if checksums {
        fill_ipv4_checksum(&mut f, 14, 20);
        let len = (f.len() - t) as u32;
        let seed = pseudo_header_sum(&f, 14, 6, len);
        let c = !checksum::add(seed, checksum::sum(&f[t..]));
        f[t + 16..t + 18].copy_from_slice(&c.to_be_bytes());
    }
    f
}

/// A deterministic payload of `len` bytes.
pub(crate) fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ salt).collect()
}

/// An ARP request or reply (operation 1 or 2).
pub(crate) fn arp_frame(
    op: u16,
    sender_mac: [u8; 6],
    sender_ip: [u8; 4],
    target_mac: [u8; 6],
    target_ip: [u8; 4],
) -> Vec<u8> {
    let mut f = vec![0u8; 42];
    let dst = if op == 1 { [0xff; 6] } else { target_mac };
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&sender_mac);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&op.to_be_bytes());
    f[22..28].copy_from_slice(&sender_mac);
    f[28..32].copy_from_slice(&sender_ip);
    f[32..38].copy_from_slice(&target_mac);
    f[38..42].copy_from_slice(&target_ip);
    f
}

/// The IPv4 header of a frame is intact (checked independently of `softnic::verify_rx`).
pub(crate) fn ipv4_header_ok(frame: &[u8]) -> bool {
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    checksum::checksum(&frame[14..14 + ihl]) == 0
}
