//! TCP segmentation offload (hw-spec SPEC.md section 6.3): one header plus a payload become
//! `ceil(payload / MSS)` frames, each with exactly the spec's rewrites.

use hw_spec::offload::{MAX_L2_LEN, MAX_L3_LEN, MAX_TCP_LEN, TsoFlagMasks};
use hw_spec::{TxOffloadRequest, TxPlan};

use hw_spec::offload::{IPPROTO_TCP, IPV4_CSUM_OFFSET, TCP_CSUM_OFFSET};

use super::csum::{add_bytes, finish, pseudo_header};

/// Bytes of scratch space one assembled segment of a request takes: one header plus one MSS of
/// payload (what [`crate::engines::tx::process`] needs to join a segment).
pub fn scratch_len(req: &TxOffloadRequest, plan: &TxPlan) -> usize {
    plan.header_len as usize + usize::from(req.mss)
}

/// Reads the 9 TCP flag bits of the TCP header at `tcp` (NS is bit 0 of byte 12).
pub fn tcp_flags(tcp: &[u8]) -> u16 {
    (u16::from(tcp[12] & 1) << 8) | u16::from(tcp[13])
}

/// Bytes of header space [`segment_split`] needs: the largest header a valid request has.
pub const HEADER_SCRATCH: usize = (MAX_L2_LEN + MAX_L3_LEN + MAX_TCP_LEN) as usize;

/// Segments a validated TSO request (`plan` from `validate_tx_request`) without assembling
/// the segments: `emit` gets each segment, in order, as its rewritten
/// headers (both checksums inserted) and its payload, a slice of `frame`; the wire frame is
/// the two back to back. Saves a copy of every payload byte for a sink that can take a frame
/// in two pieces (a DMA engine or a MAC reading a header buffer and the payload in turn, as
/// the RTL's segmenter streams them). `headers` must hold the plan's `header_len` bytes
/// ([`HEADER_SCRATCH`] always does).
///
/// # Panics
/// Panics if `headers` is too small or `frame` is shorter than the plan says (callers validate
/// first).
pub fn segment_split<E: FnMut(&[u8], &[u8])>(
    frame: &[u8],
    req: &TxOffloadRequest,
    plan: &TxPlan,
    masks: &TsoFlagMasks,
    headers: &mut [u8],
    emit: E,
) {
    let hdr = plan.header_len as usize;
    let mut payload = &frame[hdr..hdr + plan.payload_len as usize];
    // A slice always has its bytes.
    let _ = segment_from(frame, req, plan, masks, headers, &mut payload, emit);
}

/// Where [`segment_from`] takes each segment's payload: `chunk(offset, len)` returns the `len`
/// payload bytes at `offset` (from the end of the request's headers), or `None` if they cannot
/// be read. Offsets come in increasing order, each chunk right after the previous one.
pub trait PayloadSource {
    /// The payload bytes `offset..offset + len`.
    fn chunk(&mut self, offset: usize, len: usize) -> Option<&[u8]>;
}

impl PayloadSource for &[u8] {
    #[inline]
    fn chunk(&mut self, offset: usize, len: usize) -> Option<&[u8]> {
        self.get(offset..offset + len)
    }
}

/// A payload chunk [`segment_from`] could not read: segmentation stopped before that segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadUnreadable {
    /// Payload offset of the chunk.
    pub offset: usize,
}

/// [`segment_split`] with the payload read segment by segment from `payload` rather than
/// taken from one gathered frame: `prefix` holds (at least) the request's headers, `plan` its
/// lengths. A DMA engine that fetches each segment's payload as it segments (as the RTL's
/// segmenter streams it) uses this: no buffer holds the whole request. The wire bytes are
/// exactly [`segment_split`]'s.
///
/// # Panics
/// Panics if `headers` or `prefix` is shorter than the plan's `header_len` (callers validate
/// first).
pub fn segment_from<P: PayloadSource + ?Sized, E: FnMut(&[u8], &[u8])>(
    prefix: &[u8],
    req: &TxOffloadRequest,
    plan: &TxPlan,
    masks: &TsoFlagMasks,
    headers: &mut [u8],
    payload: &mut P,
    mut emit: E,
) -> Result<(), PayloadUnreadable> {
    let l2 = usize::from(req.l2_len);
    let l3 = usize::from(req.l3_len);
    let l4 = usize::from(req.l4_len);
    let hdr = plan.header_len as usize;
    let mss = usize::from(req.mss);
    let total = plan.payload_len as usize;
    let ip_id = u16::from_be_bytes([prefix[l2 + 4], prefix[l2 + 5]]);
    let seq = u32::from_be_bytes(
        prefix[l2 + l3 + 4..l2 + l3 + 8]
            .try_into()
            .expect("4 bytes"),
    );
    let flags = tcp_flags(&prefix[l2 + l3..]);
    let count = u32::from(plan.segments);
    // Every field the loop changes is rewritten for each segment: the rest of the headers are
    // the request's, copied once.
    let out = &mut headers[..hdr];
    out.copy_from_slice(&prefix[..hdr]);
    // Both checksums are summed once per request over the headers with the per-segment
    // fields zeroed (IPv4 total length, ID and checksum; TCP sequence number, flag bits and
    // checksum), and per segment the new fields' words are added to that: the same ones'
    // complement sums as summing each rewritten header (RFC 1071: the sum is independent of
    // grouping), without reading back the bytes just written.
    let (ip_base, tcp_base, byte12) = {
        let ip = &mut out[l2..l2 + l3];
        ip[2..6].fill(0);
        ip[IPV4_CSUM_OFFSET as usize..][..2].fill(0);
        let ip_base = add_bytes(0, ip);
        let mut addrs = [0u8; 8];
        addrs.copy_from_slice(&ip[12..20]);
        let tcp = &mut out[l2 + l3..];
        let byte12 = tcp[12] & !1;
        tcp[4..8].fill(0);
        tcp[12] = 0;
        tcp[13] = 0;
        tcp[TCP_CSUM_OFFSET as usize..][..2].fill(0);
        let tcp_base = add_bytes(pseudo_header(&addrs, IPPROTO_TCP, 0), tcp);
        (ip_base, tcp_base, byte12)
    };
    for (i, offset) in (0..total).step_by(mss.max(1)).enumerate() {
        let len = mss.min(total - offset);
        let chunk = payload
            .chunk(offset, len)
            .ok_or(PayloadUnreadable { offset })?;
        let i = i as u32;
        let total_len = (l3 + l4 + chunk.len()) as u16;
        let id = ip_id.wrapping_add(i as u16);
        let ip_csum = finish(ip_base + u64::from(total_len) + u64::from(id));
        let ip = &mut out[l2..l2 + l3];
        ip[2..4].copy_from_slice(&total_len.to_be_bytes());
        ip[4..6].copy_from_slice(&id.to_be_bytes());
        ip[IPV4_CSUM_OFFSET as usize..][..2].copy_from_slice(&ip_csum.to_be_bytes());
        let seg_seq = seq.wrapping_add(i.wrapping_mul(mss as u32));
        let seg_flags = flags & masks.mask_for(i, count);
        let flag_word = u16::from_be_bytes([byte12 | (seg_flags >> 8) as u8 & 1, seg_flags as u8]);
        let l4_len = (l4 + chunk.len()) as u64;
        let tcp_sum = add_bytes(
            tcp_base
                + l4_len
                + u64::from(seg_seq >> 16)
                + u64::from(seg_seq & 0xFFFF)
                + u64::from(flag_word),
            chunk,
        );
        let tcp = &mut out[l2 + l3..];
        tcp[4..8].copy_from_slice(&seg_seq.to_be_bytes());
        tcp[12..14].copy_from_slice(&flag_word.to_be_bytes());
        tcp[TCP_CSUM_OFFSET as usize..][..2].copy_from_slice(&finish(tcp_sum).to_be_bytes());
        emit(out, chunk);
    }
    Ok(())
}
