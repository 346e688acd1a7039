//! TCP segments (RFC 9293): the header view, the option codec, and parsing into / emitting
//! from [`TcpHeader`], the representation the state machine consumes.
//!
//! ## Options
//!
//! Understood: EOL (0), NOP (1), MSS (2), window scale (3), SACK-permitted (4), SACK (5, one
//! to four blocks), timestamps (8). Other kinds are skipped by their length. A length of 0 or
//! 1, a length running past the header, or a known kind with the wrong length is
//! [`Error::BadOption`] (RFC 9293 section 3.1 asks implementations to be prepared for illegal
//! lengths; dropping the segment is the conservative choice, and every walk advances by at
//! least one byte so a hostile header costs at most 40 steps).
//!
//! Emitted layout (every option 4-byte aligned with NOPs, the common layout of Linux's SYNs):
//!
//! | present | bytes |
//! |---|---|
//! | MSS | `02 04 mm mm` |
//! | SACK-permitted and timestamps | `04 02 08 0a` TSval TSecr |
//! | timestamps only | `01 01 08 0a` TSval TSecr |
//! | SACK-permitted only | `01 01 04 02` |
//! | window scale | `01 03 03 ss` |
//! | n SACK blocks | `01 01 05 (2+8n)` blocks |
//!
//! SACK blocks take the room left in the 40 option bytes: 4 without timestamps, 3 with. Which
//! options a segment carries (MSS, window scale and SACK-permitted only on SYNs) is the state
//! machine's decision; this codec writes what [`TcpOptions`] holds.
//!
//! Owns bytes only: no sequence-number or window logic.

use super::ipv4::{IpProtocol, Ipv4Address};
use super::{
    Error, Layer, Result, TxChecksum, check_rx_checksum, read_u16, read_u32, write_u16, write_u32,
};
use crate::checksum;
use crate::device::ChecksumState;
use crate::segment::{MAX_SACK_BLOCKS, SackBlock, TcpFlags, TcpHeader, TcpOptions};
use crate::seq::SeqNum;

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;
/// Largest TCP header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;
/// Most option bytes a header holds.
pub const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - HEADER_LEN;

/// Option kinds.
pub mod option_kind {
    /// End of option list.
    pub const EOL: u8 = 0;
    /// No operation (padding).
    pub const NOP: u8 = 1;
    /// Maximum segment size.
    pub const MSS: u8 = 2;
    /// Window scale.
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted.
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK blocks.
    pub const SACK: u8 = 5;
    /// Timestamps.
    pub const TIMESTAMPS: u8 = 8;
}

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const OFF_FLAGS: usize = 12;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// The byte offset of the checksum field within the TCP header.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM;

const FLAGS_MASK: u16 = 0x01FF;

super::packet_view! {
    /// A zero-copy view of a TCP segment: header and payload, the whole IPv4 payload.
    TcpPacket
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Checks that the fixed header is present, the data offset is at least 5 and the header
    /// (options included) fits in the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated(Layer::Tcp));
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN {
            Err(Error::BadHeaderLength(Layer::Tcp))
        } else if header_len > len {
            Err(Error::Truncated(Layer::Tcp))
        } else {
            Ok(())
        }
    }

    /// Source port.
    #[inline(always)]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    #[inline(always)]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> SeqNum {
        SeqNum(read_u32(self.buffer.as_ref(), field::SEQ))
    }

    /// Acknowledgement number.
    #[inline]
    pub fn ack_number(&self) -> SeqNum {
        SeqNum(read_u32(self.buffer.as_ref(), field::ACK))
    }

    /// Header length in bytes (data offset * 4), options included.
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::OFF_FLAGS] >> 4) * 4
    }

    /// The nine flag bits.
    #[inline(always)]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(read_u16(self.buffer.as_ref(), field::OFF_FLAGS) & FLAGS_MASK)
    }

    /// Window field (unscaled).
    #[inline(always)]
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WINDOW)
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Urgent pointer.
    #[inline(always)]
    pub fn urgent_at(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// The option bytes.
    #[inline(always)]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }

    /// The payload (everything after the header).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[usize::from(self.header_len())..]
    }

    /// Whether the checksum over pseudo-header, header and payload verifies.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Address, dst: Ipv4Address) -> bool {
        checksum::is_valid_sum(segment_sum(src, dst, self.buffer.as_ref()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, v: SeqNum) {
        write_u32(self.buffer.as_mut(), field::SEQ, v.0);
    }

    /// Sets the acknowledgement number.
    #[inline]
    pub fn set_ack_number(&mut self, v: SeqNum) {
        write_u32(self.buffer.as_mut(), field::ACK, v.0);
    }

    /// Sets the header length (a multiple of 4, 20 to 60) and the flags together.
    #[inline]
    pub fn set_header_len_and_flags(&mut self, header_len: u8, flags: TcpFlags) {
        let v = (u16::from(header_len / 4) << 12) | (flags.0 & FLAGS_MASK);
        write_u16(self.buffer.as_mut(), field::OFF_FLAGS, v);
    }

    /// Sets the window field.
    #[inline]
    pub fn set_window_len(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::WINDOW, v);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT, v);
    }

    /// The payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = usize::from(self.header_len());
        &mut self.buffer.as_mut()[start..]
    }

    /// Computes the checksum over pseudo-header, header and payload (the whole buffer) and
    /// stores it.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv4Address, dst: Ipv4Address) {
        self.set_checksum(0);
        let v = !segment_sum(src, dst, self.buffer.as_ref());
        self.set_checksum(v);
    }
}

/// The sum of the pseudo-header and the segment `data` (header and payload).
#[inline]
fn segment_sum(src: Ipv4Address, dst: Ipv4Address, data: &[u8]) -> u16 {
    let pseudo = checksum::pseudo_header_sum(src.0, dst.0, IpProtocol::TCP.0, data.len() as u32);
    checksum::add(pseudo, checksum::sum(data))
}

/// Parses option bytes (the header between byte 20 and the data offset).
#[inline(always)]
pub fn parse_options(bytes: &[u8]) -> Result<TcpOptions> {
    use option_kind::*;
    // Fast paths: no options, the `NOP NOP TS` layout of nearly every data segment, and the
    // `MSS SACK-permitted TS NOP WS` layout of a SYN or SYN-ACK with all four (Linux's
    // layout, and ours): each gives what the general loop below gives for the same bytes.
    if bytes.is_empty() {
        return Ok(TcpOptions::default());
    }
    if let [NOP, NOP, TIMESTAMPS, 10, v0, v1, v2, v3, e0, e1, e2, e3] = *bytes {
        return Ok(TcpOptions {
            timestamps: Some((
                u32::from_be_bytes([v0, v1, v2, v3]),
                u32::from_be_bytes([e0, e1, e2, e3]),
            )),
            ..TcpOptions::default()
        });
    }
    if let [
        MSS,
        4,
        m0,
        m1,
        SACK_PERMITTED,
        2,
        TIMESTAMPS,
        10,
        v0,
        v1,
        v2,
        v3,
        e0,
        e1,
        e2,
        e3,
        NOP,
        WINDOW_SCALE,
        3,
        shift,
    ] = *bytes
    {
        return Ok(TcpOptions {
            mss: Some(u16::from_be_bytes([m0, m1])),
            window_scale: Some(shift),
            sack_permitted: true,
            timestamps: Some((
                u32::from_be_bytes([v0, v1, v2, v3]),
                u32::from_be_bytes([e0, e1, e2, e3]),
            )),
            ..TcpOptions::default()
        });
    }
    // Fields are gathered in locals and the struct is built once at the end: writing it field
    // by field in memory and then moving it costs store-forwarding stalls on the receive path.
    let mut mss = None;
    let mut window_scale = None;
    let mut sack_permitted = false;
    let mut timestamps = None;
    let mut sack_blocks = [SackBlock::default(); MAX_SACK_BLOCKS];
    let mut sack_count = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let kind = bytes[i];
        match kind {
            EOL => break,
            NOP => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let Some(&len) = bytes.get(i + 1) else {
            return Err(Error::BadOption);
        };
        let len = usize::from(len);
        if len < 2 || i + len > bytes.len() {
            return Err(Error::BadOption);
        }
        let data = &bytes[i + 2..i + len];
        match (kind, len) {
            (MSS, 4) => mss = Some(read_u16(data, 0)),
            (WINDOW_SCALE, 3) => window_scale = Some(data[0]),
            (SACK_PERMITTED, 2) => sack_permitted = true,
            (TIMESTAMPS, 10) => timestamps = Some((read_u32(data, 0), read_u32(data, 4))),
            (SACK, _) if !data.is_empty() && data.len() % 8 == 0 => {
                // At most four blocks fit in 40 bytes; blocks of extra SACK options beyond
                // four are ignored.
                for block in data.chunks_exact(8) {
                    if let Some(slot) = sack_blocks.get_mut(sack_count) {
                        *slot = SackBlock {
                            left: SeqNum(read_u32(block, 0)),
                            right: SeqNum(read_u32(block, 4)),
                        };
                        sack_count += 1;
                    }
                }
            }
            (MSS | WINDOW_SCALE | SACK_PERMITTED | TIMESTAMPS | SACK, _) => {
                return Err(Error::BadOption);
            }
            _ => {} // unknown: skipped by its length
        }
        i += len;
    }
    Ok(TcpOptions {
        mss,
        window_scale,
        sack_permitted,
        timestamps,
        sack_blocks,
        sack_count: sack_count as u8,
    })
}

/// How many SACK blocks [`emit_options`] writes for `opts`: as many valid blocks as fit
/// after the other options.
#[inline]
pub fn emitted_sack_blocks(opts: &TcpOptions) -> usize {
    let room = MAX_OPTIONS_LEN - fixed_options_len(opts);
    let fit = room.saturating_sub(4) / 8;
    opts.sacks().len().min(fit).min(MAX_SACK_BLOCKS)
}

/// Option bytes other than SACK blocks.
#[inline]
fn fixed_options_len(opts: &TcpOptions) -> usize {
    let mut n = 0;
    if opts.mss.is_some() {
        n += 4;
    }
    if opts.timestamps.is_some() {
        n += 12;
    } else if opts.sack_permitted {
        n += 4;
    }
    if opts.window_scale.is_some() {
        n += 4;
    }
    n
}

/// Option bytes [`emit_options`] writes (a multiple of 4, at most 40).
#[inline]
pub fn options_len(opts: &TcpOptions) -> usize {
    let sacks = emitted_sack_blocks(opts);
    fixed_options_len(opts) + if sacks > 0 { 4 + 8 * sacks } else { 0 }
}

/// Writes the options in the layout of the module docs into `buf` (at least
/// [`options_len`] bytes) and returns the bytes written.
#[inline(always)]
pub fn emit_options(opts: &TcpOptions, buf: &mut [u8]) -> usize {
    // Timestamps alone (every segment after the handshake without SACK blocks): the same
    // 12 bytes as below, written in place without a call.
    if let (None, Some((val, ecr)), false, None, 0) = (
        opts.mss,
        opts.timestamps,
        opts.sack_permitted,
        opts.window_scale,
        opts.sack_count,
    ) {
        use option_kind::{NOP, TIMESTAMPS};
        let b = &mut buf[..12];
        b[..4].copy_from_slice(&[NOP, NOP, TIMESTAMPS, 10]);
        b[4..8].copy_from_slice(&val.to_be_bytes());
        b[8..].copy_from_slice(&ecr.to_be_bytes());
        return 12;
    }
    emit_any_options(opts, buf)
}

/// [`emit_options`] for any set of options.
#[inline(never)]
fn emit_any_options(opts: &TcpOptions, buf: &mut [u8]) -> usize {
    use option_kind::*;
    // A SYN or SYN-ACK with all four (the handshake of every connection with SACK,
    // timestamps and window scaling): the same 20 bytes as below, in one bounds check.
    if let (Some(mss), Some((val, ecr)), true, Some(shift), 0) = (
        opts.mss,
        opts.timestamps,
        opts.sack_permitted,
        opts.window_scale,
        opts.sack_count,
    ) {
        let b = &mut buf[..20];
        let [m0, m1] = mss.to_be_bytes();
        b[..8].copy_from_slice(&[MSS, 4, m0, m1, SACK_PERMITTED, 2, TIMESTAMPS, 10]);
        b[8..12].copy_from_slice(&val.to_be_bytes());
        b[12..16].copy_from_slice(&ecr.to_be_bytes());
        b[16..].copy_from_slice(&[NOP, WINDOW_SCALE, 3, shift]);
        return 20;
    }
    let mut at = 0;
    let put4 = |buf: &mut [u8], at: &mut usize, b: [u8; 4]| {
        buf[*at..*at + 4].copy_from_slice(&b);
        *at += 4;
    };
    if let Some(mss) = opts.mss {
        let [h, l] = mss.to_be_bytes();
        put4(buf, &mut at, [MSS, 4, h, l]);
    }
    if let Some((val, ecr)) = opts.timestamps {
        let lead = if opts.sack_permitted {
            [SACK_PERMITTED, 2]
        } else {
            [NOP, NOP]
        };
        put4(buf, &mut at, [lead[0], lead[1], TIMESTAMPS, 10]);
        put4(buf, &mut at, val.to_be_bytes());
        put4(buf, &mut at, ecr.to_be_bytes());
    } else if opts.sack_permitted {
        put4(buf, &mut at, [NOP, NOP, SACK_PERMITTED, 2]);
    }
    if let Some(shift) = opts.window_scale {
        put4(buf, &mut at, [NOP, WINDOW_SCALE, 3, shift]);
    }
    let n = emitted_sack_blocks(opts);
    if n > 0 {
        put4(buf, &mut at, [NOP, NOP, SACK, (2 + 8 * n) as u8]);
        for block in &opts.sacks()[..n] {
            put4(buf, &mut at, block.left.0.to_be_bytes());
            put4(buf, &mut at, block.right.0.to_be_bytes());
        }
    }
    at
}

/// A parsed and verified TCP segment: its header and where its payload lies in the buffer the
/// [`TcpPacket`] wraps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpRepr {
    /// The header, options included.
    pub header: TcpHeader,
    /// Offset of the payload in the packet buffer (the header length).
    pub payload_offset: usize,
    /// Payload length.
    pub payload_len: usize,
}

impl TcpRepr {
    /// Verifies the checksum (per the device's verdict `csum`, in software against the
    /// pseudo-header of `src`/`dst` otherwise), then parses header and options. The packet
    /// buffer must be exactly the segment (the IPv4 payload).
    #[inline(always)]
    pub fn parse<T: AsRef<[u8]>>(
        packet: &TcpPacket<T>,
        src: Ipv4Address,
        dst: Ipv4Address,
        csum: ChecksumState,
    ) -> Result<TcpRepr> {
        packet.check_len()?;
        check_rx_checksum(csum, Layer::Tcp, || packet.verify_checksum(src, dst))?;
        let header = TcpHeader::parse(packet)?;
        let payload_offset = usize::from(packet.header_len());
        Ok(TcpRepr {
            header,
            payload_offset,
            payload_len: packet.buffer.as_ref().len() - payload_offset,
        })
    }

    /// The payload's byte range in the packet buffer.
    #[inline]
    pub const fn payload_range(&self) -> core::ops::Range<usize> {
        self.payload_offset..self.payload_offset + self.payload_len
    }
}

impl TcpHeader {
    /// Reads header fields and options of a checked packet. Does not look at the checksum
    /// (see [`TcpRepr::parse`]).
    #[inline(always)]
    pub fn parse<T: AsRef<[u8]>>(packet: &TcpPacket<T>) -> Result<TcpHeader> {
        packet.check_len()?;
        Ok(TcpHeader {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq_number(),
            ack: packet.ack_number(),
            flags: packet.flags(),
            window: packet.window_len(),
            urgent: packet.urgent_at(),
            options: parse_options(packet.options())?,
        })
    }

    /// Header length [`emit`](Self::emit) writes: 20 plus [`options_len`].
    #[inline]
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + options_len(&self.options)
    }

    /// Writes the header into the first `buffer_len()` bytes of `buf` with a zero checksum
    /// field and returns its length.
    #[inline(always)]
    pub fn emit_header_bytes(&self, buf: &mut [u8]) -> usize {
        let opt_len = emit_options(&self.options, &mut buf[HEADER_LEN..]);
        let header_len = HEADER_LEN + opt_len;
        let off_flags = ((header_len as u16 / 4) << 12) | (self.flags.0 & FLAGS_MASK);
        let mut h = [0u8; HEADER_LEN];
        h[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        h[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        h[4..8].copy_from_slice(&self.seq.0.to_be_bytes());
        h[8..12].copy_from_slice(&self.ack.0.to_be_bytes());
        h[12..14].copy_from_slice(&off_flags.to_be_bytes());
        h[14..16].copy_from_slice(&self.window.to_be_bytes());
        h[18..20].copy_from_slice(&self.urgent.to_be_bytes());
        buf[..HEADER_LEN].copy_from_slice(&h);
        header_len
    }

    /// Writes the header at the start of the packet, whose buffer is the whole segment with the
    /// payload already in place after `buffer_len()` bytes; with `TxChecksum::Software` the
    /// checksum over pseudo-header, header and payload is filled, with `Device` it stays zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src: Ipv4Address,
        dst: Ipv4Address,
        csum: TxChecksum,
    ) {
        self.emit_header_bytes(packet.buffer.as_mut());
        if csum == TxChecksum::Software {
            packet.fill_checksum(src, dst);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const SRC: Ipv4Address = Ipv4Address([198, 18, 0, 1]);
    pub(crate) const DST: Ipv4Address = Ipv4Address([198, 18, 0, 2]);

    /// A SYN 49152 -> 80, seq 0x01020304, window 64240, options MSS 1460, SACK-permitted,
    /// timestamps (0x0a0b0c0d, 0), window scale 7, Linux's layout. Checksum 0xe678 computed
    /// with python3 struct over the pseudo-header 198.18.0.1 -> 198.18.0.2 and cross-checked
    /// with tshark.
    pub(crate) const SYN: [u8; 40] = [
        0xc0, 0x00, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0xe6, 0x78, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x0a, 0x0b,
        0x0c, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    pub(crate) fn syn_header() -> TcpHeader {
        TcpHeader {
            src_port: 49152,
            dst_port: 80,
            seq: SeqNum(0x0102_0304),
            ack: SeqNum(0),
            flags: TcpFlags::SYN,
            window: 64240,
            urgent: 0,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some((0x0a0b_0c0d, 0)),
                ..TcpOptions::default()
            },
        }
    }

    #[test]
    fn parses_known_syn() {
        let p = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!(p.src_port(), 49152);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.seq_number(), SeqNum(0x0102_0304));
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), TcpFlags::SYN);
        assert_eq!(p.window_len(), 64240);
        assert_eq!(p.checksum(), 0xe678);
        assert!(p.verify_checksum(SRC, DST));
        assert!(!p.verify_checksum(DST, Ipv4Address([198, 18, 0, 3])));
        let r = TcpRepr::parse(&p, SRC, DST, ChecksumState::Unknown).unwrap();
        assert_eq!(r.header, syn_header());
        assert_eq!(r.payload_range(), 40..40);
    }

    #[test]
    fn emits_known_syn() {
        let h = syn_header();
        assert_eq!(h.buffer_len(), 40);
        let mut buf = [0xEEu8; 40];
        h.emit(
            &mut TcpPacket::new_unchecked(&mut buf[..]),
            SRC,
            DST,
            TxChecksum::Software,
        );
        assert_eq!(buf, SYN);
        h.emit(
            &mut TcpPacket::new_unchecked(&mut buf[..]),
            SRC,
            DST,
            TxChecksum::Device,
        );
        assert_eq!(&buf[16..18], &[0, 0]);
    }

    #[test]
    fn checksum_verdicts() {
        let mut bad = SYN;
        bad[30] ^= 0x10;
        let p = TcpPacket::new_checked(&bad[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, SRC, DST, ChecksumState::Unknown),
            Err(Error::BadChecksum(Layer::Tcp))
        );
        assert!(TcpRepr::parse(&p, SRC, DST, ChecksumState::Good).is_ok());
        let p = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, SRC, DST, ChecksumState::Bad),
            Err(Error::BadChecksum(Layer::Tcp))
        );
    }

    #[test]
    fn header_length_errors() {
        assert_eq!(
            TcpPacket::new_checked(&SYN[..19]).unwrap_err(),
            Error::Truncated(Layer::Tcp)
        );
        assert_eq!(
            TcpPacket::new_checked(&SYN[..39]).unwrap_err(),
            Error::Truncated(Layer::Tcp)
        );
        let mut b = SYN;
        b[12] = 0x40;
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            Error::BadHeaderLength(Layer::Tcp)
        );
    }

    /// The SYN layout's fast path (`MSS SACK-permitted TS NOP WS`) gives exactly what the
    /// general walk gives for the same options in another order (which takes the walk), for
    /// every window scale byte and a spread of MSS and timestamp values.
    #[test]
    fn syn_layout_fast_path_matches_the_general_walk() {
        for shift in 0..=u8::MAX {
            let mss = u16::from(shift).wrapping_mul(257).wrapping_add(536);
            let (val, ecr) = (u32::from(shift) * 0x0101_0101, !u32::from(shift));
            let [m0, m1] = mss.to_be_bytes();
            let [v0, v1, v2, v3] = val.to_be_bytes();
            let [e0, e1, e2, e3] = ecr.to_be_bytes();
            let fast = [
                2, 4, m0, m1, 4, 2, 8, 10, v0, v1, v2, v3, e0, e1, e2, e3, 1, 3, 3, shift,
            ];
            let walked = [
                1, 3, 3, shift, 2, 4, m0, m1, 4, 2, 8, 10, v0, v1, v2, v3, e0, e1, e2, e3,
            ];
            let expected = TcpOptions {
                mss: Some(mss),
                window_scale: Some(shift),
                sack_permitted: true,
                timestamps: Some((val, ecr)),
                ..TcpOptions::default()
            };
            assert_eq!(parse_options(&fast), Ok(expected), "{fast:?}");
            assert_eq!(parse_options(&walked), Ok(expected), "{walked:?}");
        }
        // One byte off the layout (a window scale option of length 4) takes the walk, which
        // refuses it.
        let bad = [
            2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 4, 7,
        ];
        assert_eq!(parse_options(&bad), Err(Error::BadOption));
    }

    #[test]
    fn option_edge_cases() {
        let ok = |b: &[u8]| parse_options(b);
        // Empty, NOP padding, EOL stops the walk (garbage after EOL is ignored).
        assert_eq!(ok(&[]).unwrap(), TcpOptions::default());
        assert_eq!(ok(&[1, 1, 1, 1]).unwrap(), TcpOptions::default());
        assert_eq!(ok(&[0, 0xFF, 0, 7]).unwrap(), TcpOptions::default());
        assert_eq!(ok(&[2, 4, 0x05, 0xb4, 0, 9]).unwrap().mss, Some(1460));
        // Unknown option kind 30 (MPTCP) with 6 bytes is skipped.
        let o = ok(&[30, 6, 1, 2, 3, 4, 3, 3, 9, 1]).unwrap();
        assert_eq!(o.window_scale, Some(9));
        // Malformed lengths: 0, 1, past the end, missing length byte, wrong for the kind.
        for bad in [
            &[30, 0, 1, 1][..],
            &[30, 1, 1, 1],
            &[30, 5, 1, 1],
            &[30],
            &[1, 1, 1, 2],
            &[2, 3, 5, 1],
            &[2, 5, 5, 180, 0],
            &[3, 2],
            &[3, 4, 1, 1],
            &[4, 3, 0],
            &[5, 2],
            &[5, 6, 0, 0, 0, 0],
            &[8, 8, 0, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(ok(bad), Err(Error::BadOption), "{bad:?}");
        }
    }

    #[test]
    fn sack_blocks_parse() {
        let mut b = [0u8; 36];
        b[..4].copy_from_slice(&[1, 1, 5, 34]);
        for i in 0..4u32 {
            let at = 4 + 8 * i as usize;
            b[at..at + 4].copy_from_slice(&(1000 * i).to_be_bytes());
            b[at + 4..at + 8].copy_from_slice(&(1000 * i + 500).to_be_bytes());
        }
        let o = parse_options(&b).unwrap();
        assert_eq!(o.sacks().len(), 4);
        assert_eq!(
            o.sacks()[3],
            SackBlock {
                left: SeqNum(3000),
                right: SeqNum(3500)
            }
        );
    }

    fn sacks(n: u32) -> TcpOptions {
        let mut o = TcpOptions::default();
        for i in 0..n {
            o.push_sack(SackBlock {
                left: SeqNum(i * 10),
                right: SeqNum(i * 10 + 5),
            });
        }
        o
    }

    #[test]
    fn sack_layout_respects_room() {
        let mut o = sacks(4);
        assert_eq!(emitted_sack_blocks(&o), 4);
        assert_eq!(options_len(&o), 36);
        o.timestamps = Some((1, 2));
        assert_eq!(emitted_sack_blocks(&o), 3);
        assert_eq!(options_len(&o), 40);
        let mut buf = [0u8; 40];
        assert_eq!(emit_options(&o, &mut buf), 40);
        assert_eq!(&buf[..4], &[1, 1, 8, 10]);
        assert_eq!(&buf[12..16], &[1, 1, 5, 26]);
        let back = parse_options(&buf).unwrap();
        assert_eq!(back.timestamps, Some((1, 2)));
        assert_eq!(back.sacks(), &o.sacks()[..3]);
        // SYN options leave room for two blocks only.
        let mut s = syn_header().options;
        s.sack_blocks = o.sack_blocks;
        s.sack_count = 4;
        assert_eq!(emitted_sack_blocks(&s), 2);
        assert_eq!(options_len(&s), 40);
    }

    #[test]
    fn other_layouts() {
        let mut o = TcpOptions {
            sack_permitted: true,
            ..TcpOptions::default()
        };
        let mut buf = [0u8; 40];
        assert_eq!(emit_options(&o, &mut buf), 4);
        assert_eq!(&buf[..4], &[1, 1, 4, 2]);
        o.timestamps = Some((7, 8));
        assert_eq!(emit_options(&o, &mut buf), 12);
        assert_eq!(&buf[..4], &[4, 2, 8, 10]);
        o.sack_permitted = false;
        assert_eq!(emit_options(&o, &mut buf), 12);
        assert_eq!(&buf[..4], &[1, 1, 8, 10]);
        let o = TcpOptions {
            window_scale: Some(14),
            ..TcpOptions::default()
        };
        assert_eq!(emit_options(&o, &mut buf), 4);
        assert_eq!(&buf[..4], &[1, 3, 3, 14]);
    }

    #[test]
    fn ns_and_ecn_flags_round_trip() {
        let mut h = syn_header();
        h.flags = TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR | TcpFlags::NS;
        let mut buf = [0u8; 40];
        h.emit(
            &mut TcpPacket::new_unchecked(&mut buf[..]),
            SRC,
            DST,
            TxChecksum::Software,
        );
        assert_eq!(buf[12], 0xa1);
        assert_eq!(buf[13], 0xc2);
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(TcpHeader::parse(&p).unwrap().flags, h.flags);
    }
}

/// Differential tests of the option fast paths (the SYN layout in [`parse_options`] and the
/// one-block SYN writer in `emit_any_options`) against plain reference implementations of
/// what the general walk and the general writer do, byte for byte.
#[cfg(test)]
mod options_differential {
    use super::option_kind::*;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// The option walk as specified (RFC 9293 3.1; the module docs): EOL ends the list, NOP
    /// is one byte, every other option has a length of at least 2 within the bytes; known
    /// options with a wrong length are errors, unknown ones are skipped; SACK blocks beyond
    /// four are ignored.
    fn reference_parse(mut rest: &[u8]) -> Result<TcpOptions> {
        let mut o = TcpOptions::default();
        loop {
            match *rest {
                [] | [EOL, ..] => return Ok(o),
                [NOP, ref tail @ ..] => rest = tail,
                [_] => return Err(Error::BadOption),
                [kind, len, ..] => {
                    let len = usize::from(len);
                    if len < 2 || len > rest.len() {
                        return Err(Error::BadOption);
                    }
                    let body = &rest[2..len];
                    match (kind, body) {
                        (MSS, &[a, b]) => o.mss = Some(u16::from_be_bytes([a, b])),
                        (WINDOW_SCALE, &[s]) => o.window_scale = Some(s),
                        (SACK_PERMITTED, &[]) => o.sack_permitted = true,
                        (TIMESTAMPS, b) if b.len() == 8 => {
                            let v = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                            let e = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                            o.timestamps = Some((v, e));
                        }
                        (SACK, b) if !b.is_empty() && b.len() % 8 == 0 => {
                            for blk in b.chunks(8) {
                                let _ = o.push_sack(SackBlock {
                                    left: SeqNum(u32::from_be_bytes([
                                        blk[0], blk[1], blk[2], blk[3],
                                    ])),
                                    right: SeqNum(u32::from_be_bytes([
                                        blk[4], blk[5], blk[6], blk[7],
                                    ])),
                                });
                            }
                        }
                        (MSS | WINDOW_SCALE | SACK_PERMITTED | TIMESTAMPS | SACK, _) => {
                            return Err(Error::BadOption);
                        }
                        _ => {}
                    }
                    rest = &rest[len..];
                }
            }
        }
    }

    /// The layout of the module docs, option by option.
    fn reference_emit(o: &TcpOptions) -> Vec<u8> {
        let mut v = Vec::new();
        if let Some(m) = o.mss {
            v.extend([MSS, 4]);
            v.extend(m.to_be_bytes());
        }
        match (o.timestamps, o.sack_permitted) {
            (Some((val, ecr)), sp) => {
                v.extend(if sp { [SACK_PERMITTED, 2] } else { [NOP, NOP] });
                v.extend([TIMESTAMPS, 10]);
                v.extend(val.to_be_bytes());
                v.extend(ecr.to_be_bytes());
            }
            (None, true) => v.extend([NOP, NOP, SACK_PERMITTED, 2]),
            (None, false) => {}
        }
        if let Some(s) = o.window_scale {
            v.extend([NOP, WINDOW_SCALE, 3, s]);
        }
        let n = emitted_sack_blocks(o);
        if n > 0 {
            v.extend([NOP, NOP, SACK, (2 + 8 * n) as u8]);
            for b in &o.sacks()[..n] {
                v.extend(b.left.0.to_be_bytes());
                v.extend(b.right.0.to_be_bytes());
            }
        }
        v
    }

    /// The SYN layout with random fields, then perhaps one byte changed, bytes cut off the
    /// end or padding (EOL, NOP) or other bytes appended: the fast path's neighbourhood.
    fn near_syn_layout() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<[u8; 2]>(),
            any::<[u8; 8]>(),
            any::<u8>(),
            proptest::option::of((0usize..20, any::<u8>())),
            0usize..4,
            proptest::collection::vec(prop_oneof![Just(EOL), Just(NOP), any::<u8>()], 0..8),
        )
            .prop_map(|(m, ts, shift, change, cut, tail)| {
                let mut b = std::vec![MSS, 4, m[0], m[1], SACK_PERMITTED, 2, TIMESTAMPS, 10];
                b.extend(ts);
                b.extend([NOP, WINDOW_SCALE, 3, shift]);
                if let Some((at, byte)) = change {
                    b[at] = byte;
                }
                b.truncate(b.len() - cut);
                if cut == 0 {
                    b.extend(tail);
                }
                b.truncate(MAX_OPTIONS_LEN);
                b
            })
    }

    /// Any options; in half the cases all four SYN options (the one-block writer's case
    /// when no SACK blocks follow), with 0 to 4 SACK blocks.
    fn any_options() -> impl Strategy<Value = TcpOptions> {
        let syn = any::<bool>();
        let fields = any::<(Option<u16>, Option<u8>, bool, Option<(u32, u32)>)>();
        let blocks = proptest::collection::vec(any::<(u32, u32)>(), 0..=MAX_SACK_BLOCKS);
        (syn, fields, blocks).prop_map(|(syn, (m, w, sp, ts), blocks)| TcpOptions {
            mss: if syn { m.or(Some(1460)) } else { m },
            window_scale: if syn { w.or(Some(7)) } else { w },
            sack_permitted: syn || sp,
            timestamps: if syn { ts.or(Some((1, 0))) } else { ts },
            sack_blocks: core::array::from_fn(|k| {
                let (l, r) = blocks.get(k).copied().unwrap_or_default();
                SackBlock {
                    left: SeqNum(l),
                    right: SeqNum(r),
                }
            }),
            sack_count: blocks.len() as u8,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn parse_near_the_syn_layout_matches_the_reference(b in near_syn_layout()) {
            prop_assert_eq!(parse_options(&b), reference_parse(&b), "{:?}", b);
        }

        #[test]
        fn parse_of_any_bytes_matches_the_reference(
            b in proptest::collection::vec(
                prop_oneof![0u8..=8, any::<u8>()], 0..=MAX_OPTIONS_LEN)
        ) {
            prop_assert_eq!(parse_options(&b), reference_parse(&b), "{:?}", b);
        }

        #[test]
        fn emit_writes_the_reference_bytes(o in any_options()) {
            let want = reference_emit(&o);
            prop_assert_eq!(want.len(), options_len(&o));
            let mut buf = [0xEEu8; MAX_OPTIONS_LEN];
            let n = emit_options(&o, &mut buf);
            prop_assert_eq!(&buf[..n], &want[..]);
            prop_assert!(buf[n..].iter().all(|&x| x == 0xEE), "wrote beyond its length");
        }
    }
}
