//! TX checksum insertion (hw-spec SPEC.md section 6.2): the device computes whole checksums,
//! pseudo-header included, ignoring what the checksum fields held.

use hw_spec::offload::{
    IPPROTO_TCP, IPPROTO_UDP, IPV4_CSUM_OFFSET, TCP_CSUM_OFFSET, UDP_CSUM_OFFSET,
};
use hw_spec::{L4Csum, TxOffloadRequest};

use super::csum::{add_bytes, finish, pseudo_header};

/// Writes the IPv4 header checksum of the `l3_len`-byte header at `l2_len`.
///
/// # Panics
/// Panics if the header is not inside `frame` (callers validate first).
pub fn ipv4_header(frame: &mut [u8], l2_len: usize, l3_len: usize) {
    let hdr = &mut frame[l2_len..l2_len + l3_len];
    let at = IPV4_CSUM_OFFSET as usize;
    hdr[at..at + 2].fill(0);
    let c = finish(add_bytes(0, hdr));
    hdr[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Writes the TCP or UDP checksum of the L4 segment that starts at `l2_len + l3_len` and runs to
/// the end of `frame`, with the pseudo-header from the IPv4 header at `l2_len`.
///
/// # Panics
/// Panics if the checksum field is not inside `frame` (callers validate first).
pub fn l4(frame: &mut [u8], l2_len: usize, l3_len: usize, kind: L4Csum) {
    l4_split(frame, l2_len, l3_len, kind, &[]);
}

/// [`l4`] for a frame held in two pieces: `headers` (Ethernet, IPv4 and the start of the L4
/// segment, checksum field included) followed on the wire by `payload`. The checksum covers
/// the L4 bytes of `headers` and all of `payload`, and is written into `headers`.
///
/// When `payload` is not empty, the L4 bytes of `headers` must be of even length (a TCP
/// header always is), so `payload` starts on an even offset of the checksummed region.
///
/// # Panics
/// Panics if the checksum field is not inside `headers` (callers validate first).
pub fn l4_split(headers: &mut [u8], l2_len: usize, l3_len: usize, kind: L4Csum, payload: &[u8]) {
    let (protocol, field) = match kind {
        L4Csum::None => return,
        L4Csum::Tcp => (IPPROTO_TCP, TCP_CSUM_OFFSET as usize),
        L4Csum::Udp => (IPPROTO_UDP, UDP_CSUM_OFFSET as usize),
    };
    let start = l2_len + l3_len;
    let head = headers.len() - start;
    debug_assert!(
        payload.is_empty() || head % 2 == 0,
        "odd split of the L4 segment"
    );
    let l4_len = head + payload.len();
    headers[start + field..start + field + 2].fill(0);
    let mut addrs = [0u8; 8];
    addrs.copy_from_slice(&headers[l2_len + 12..l2_len + 20]);
    let sum = add_bytes(
        add_bytes(
            pseudo_header(&addrs, protocol, l4_len as u32),
            &headers[start..],
        ),
        payload,
    );
    let mut c = finish(sum);
    if kind == L4Csum::Udp && c == 0 {
        c = 0xFFFF;
    }
    headers[start + field..start + field + 2].copy_from_slice(&c.to_be_bytes());
}

/// Inserts every checksum `req` asks for into `frame` (a validated, non-TSO request).
pub fn insert(frame: &mut [u8], req: &TxOffloadRequest) {
    let (l2, l3) = (usize::from(req.l2_len), usize::from(req.l3_len));
    if req.ip_csum {
        ipv4_header(frame, l2, l3);
    }
    l4(frame, l2, l3, req.l4_csum);
}
