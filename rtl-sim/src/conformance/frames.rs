//! Frame building and checking for the test suite, written independently of
//! [`crate::engines`]: checksums here are a plain per-byte ones' complement sum, so the suite
//! checks the device against a second computation rather than against itself.

/// The fields of a test TCP/IPv4 frame.
#[derive(Clone, Copy, Debug)]
pub struct TcpSpec {
    /// IPv4 source address.
    pub src: [u8; 4],
    /// IPv4 destination address.
    pub dst: [u8; 4],
    /// TCP source port.
    pub sport: u16,
    /// TCP destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// TCP flags (9 bits, NS = 0x100).
    pub flags: u16,
    /// Bytes of TCP options (a multiple of 4, at most 40).
    pub opt_len: usize,
    /// IPv4 identification.
    pub ip_id: u16,
}

impl Default for TcpSpec {
    fn default() -> Self {
        TcpSpec {
            src: [198, 18, 0, 1],
            dst: [198, 18, 0, 2],
            sport: 40000,
            dport: 5001,
            seq: 0x1000_0000,
            flags: 0x010,
            opt_len: 12,
            ip_id: 0x4242,
        }
    }
}

/// Ethernet header length of test frames.
pub const ETH: usize = 14;
/// IPv4 header length of test frames.
pub const IP: usize = 20;

fn ethernet(f: &mut [u8]) {
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
}

fn ipv4(f: &mut [u8], total_len: usize, id: u16, proto: u8, src: [u8; 4], dst: [u8; 4]) {
    let ip = &mut f[ETH..ETH + IP];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(total_len as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&id.to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst);
}

/// A TCP/IPv4 frame with zero checksums (the device is asked to fill them).
pub fn tcp_frame(spec: &TcpSpec, payload: &[u8]) -> Vec<u8> {
    let l4 = 20 + spec.opt_len;
    let mut f = vec![0u8; ETH + IP + l4 + payload.len()];
    ethernet(&mut f);
    ipv4(
        &mut f,
        IP + l4 + payload.len(),
        spec.ip_id,
        6,
        spec.src,
        spec.dst,
    );
    let t = &mut f[ETH + IP..ETH + IP + l4];
    t[0..2].copy_from_slice(&spec.sport.to_be_bytes());
    t[2..4].copy_from_slice(&spec.dport.to_be_bytes());
    t[4..8].copy_from_slice(&spec.seq.to_be_bytes());
    t[8..12].copy_from_slice(&0x0BAD_F00Du32.to_be_bytes());
    t[12] = (((l4 / 4) as u8) << 4) | (spec.flags >> 8) as u8 & 1;
    t[13] = spec.flags as u8;
    t[14..16].copy_from_slice(&0xFFFFu16.to_be_bytes());
    for (i, b) in t[20..].iter_mut().enumerate() {
        *b = if i % 4 == 3 { 0 } else { 1 }; // NOPs and EOLs: opaque to the device
    }
    f[ETH + IP + l4..].copy_from_slice(payload);
    f
}

/// A UDP/IPv4 frame with zero checksums.
pub fn udp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; ETH + IP + 8 + payload.len()];
    ethernet(&mut f);
    ipv4(&mut f, IP + 8 + payload.len(), 7, 17, src, dst);
    let u = &mut f[ETH + IP..];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u[8..].copy_from_slice(payload);
    f
}

/// A UDP frame whose checksum computes to 0x0000 (the ones' complement sum of its pseudo-header
/// and datagram, checksum field zero, is 0xFFFF), which RFC 768 sends as 0xFFFF because 0
/// means "no checksum". `payload_len` is even and at least 2: the last two payload bytes are
/// chosen to make the sum come out so.
pub fn udp_frame_summing_to_zero(payload_len: usize, seed: u8) -> Vec<u8> {
    assert!(
        payload_len >= 2 && payload_len % 2 == 0,
        "an even payload length of 2 or more"
    );
    let mut body = payload(payload_len, seed);
    body[payload_len - 2..].fill(0);
    let mut f = udp_frame([10, 0, 0, 3], [10, 0, 0, 4], 4000, 53, &body);
    let l4 = ETH + IP;
    let sum = ones_sum(&[&pseudo(&f, 17, f.len() - l4), &f[l4..]]);
    let end = f.len();
    f[end - 2..].copy_from_slice(&(!sum).to_be_bytes());
    debug_assert_eq!(ones_sum(&[&pseudo(&f, 17, f.len() - l4), &f[l4..]]), 0xFFFF);
    f
}

/// The offload request for IPv4 and UDP checksums of a test frame.
pub fn udp_checksums() -> hw_spec::TxOffloadRequest {
    hw_spec::TxOffloadRequest {
        l4_csum: hw_spec::L4Csum::Udp,
        ..hw_spec::TxOffloadRequest::tcp_checksums(ETH as u8, IP as u16)
    }
}

/// A payload of `n` bytes that is not all alike.
pub fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(u32::from(seed)) as u8)
        .collect()
}

/// The ones' complement sum of `parts`, one byte at a time (even bytes high).
fn ones_sum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd = false;
    for part in parts {
        for b in *part {
            sum += if odd {
                u32::from(*b)
            } else {
                u32::from(*b) << 8
            };
            odd = !odd;
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
    }
    sum as u16
}

fn pseudo(frame: &[u8], proto: u8, l4_len: usize) -> [u8; 12] {
    let mut p = [0u8; 12];
    p[..8].copy_from_slice(&frame[ETH + 12..ETH + 20]);
    p[9] = proto;
    p[10..12].copy_from_slice(&(l4_len as u16).to_be_bytes());
    p
}

/// Whether the IPv4 header checksum of `frame` (IHL from the header) is right.
pub fn ipv4_ok(frame: &[u8]) -> bool {
    let ihl = usize::from(frame[ETH] & 0xF) * 4;
    ones_sum(&[&frame[ETH..ETH + ihl]]) == 0xFFFF
}

/// Whether the TCP or UDP checksum of `frame` is right (L4 runs to the end of the frame).
pub fn l4_ok(frame: &[u8]) -> bool {
    let ihl = usize::from(frame[ETH] & 0xF) * 4;
    let l4 = &frame[ETH + ihl..];
    ones_sum(&[&pseudo(frame, frame[ETH + 9], l4.len()), l4]) == 0xFFFF
}

/// Fills in correct IPv4 and TCP/UDP checksums, as a sender's software would.
pub fn fill_checksums(frame: &mut [u8]) {
    let ihl = usize::from(frame[ETH] & 0xF) * 4;
    frame[ETH + 10..ETH + 12].fill(0);
    let c = !ones_sum(&[&frame[ETH..ETH + ihl]]);
    frame[ETH + 10..ETH + 12].copy_from_slice(&c.to_be_bytes());
    let proto = frame[ETH + 9];
    let at = ETH + ihl + if proto == 6 { 16 } else { 6 };
    frame[at..at + 2].fill(0);
    let l4_len = frame.len() - ETH - ihl;
    let c = !ones_sum(&[&pseudo(frame, proto, l4_len), &frame[ETH + ihl..]]);
    let c = if proto == 17 && c == 0 { 0xFFFF } else { c };
    frame[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// The 9 TCP flag bits of a TCP/IPv4 frame with a 20-byte IPv4 header.
pub fn tcp_flags(frame: &[u8]) -> u16 {
    let t = &frame[ETH + IP..];
    (u16::from(t[12] & 1) << 8) | u16::from(t[13])
}

/// A big-endian u16 at `at`.
pub fn be16(frame: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([frame[at], frame[at + 1]])
}

/// A big-endian u32 at `at`.
pub fn be32(frame: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([frame[at], frame[at + 1], frame[at + 2], frame[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_checksums_verify_and_damage_is_seen() {
        let mut f = tcp_frame(&TcpSpec::default(), &payload(33, 1));
        assert!(!l4_ok(&f));
        fill_checksums(&mut f);
        assert!(ipv4_ok(&f) && l4_ok(&f));
        f[60] ^= 1;
        assert!(!l4_ok(&f) && ipv4_ok(&f));
        let mut u = udp_frame([1, 2, 3, 4], [5, 6, 7, 8], 1, 2, b"abc");
        fill_checksums(&mut u);
        assert!(ipv4_ok(&u) && l4_ok(&u));
    }
}
