//! The vocabulary shared by the wire formats and the connection state machine: TCP flags,
//! options and the parsed header of one segment.
//!
//! `wire::tcp` parses bytes into a [`TcpHeader`] and emits one back; the state machine
//! (`tcb`) consumes and produces [`TcpHeader`]s plus payload slices and never touches bytes.
//! This module owns plain data only: no parsing, no protocol decisions.

use crate::seq::SeqNum;

/// The nine TCP flag bits (FIN = bit 0 ... NS = bit 8), as in the header, plus one bit that is
/// not in the TCP header: [`TcpFlags::IP_CE`], the receive side's note that the IPv4 header
/// carrying the segment was marked Congestion Experienced.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// No flags.
    pub const NONE: TcpFlags = TcpFlags(0);
    /// FIN: no more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x001);
    /// SYN: synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x002);
    /// RST: reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x004);
    /// PSH: push function.
    pub const PSH: TcpFlags = TcpFlags(0x008);
    /// ACK: the acknowledgement field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x010);
    /// URG: the urgent pointer is significant.
    pub const URG: TcpFlags = TcpFlags(0x020);
    /// ECE: ECN echo (RFC 3168).
    pub const ECE: TcpFlags = TcpFlags(0x040);
    /// CWR: congestion window reduced (RFC 3168).
    pub const CWR: TcpFlags = TcpFlags(0x080);
    /// NS: ECN nonce (historic, RFC 3540).
    pub const NS: TcpFlags = TcpFlags(0x100);
    /// Not a TCP header bit: the IPv4 header that carried the segment had the ECN field set to
    /// CE, Congestion Experienced (RFC 3168 section 5). The general receive parser sets it
    /// from the IP header so the state machine sees the mark with the segment it belongs to
    /// (the fast parser leaves marked datagrams to it); the emitters write only the nine
    /// header bits, so it never reaches a wire. Header prediction refuses segments with it
    /// (their flags must be ACK and PSH only), so a mark always takes the full state
    /// machine.
    pub const IP_CE: TcpFlags = TcpFlags(0x8000);
    /// The bits that are TCP header flags (everything but [`TcpFlags::IP_CE`]).
    pub const HEADER_BITS: u16 = 0x01FF;

    /// Whether every flag of `other` is set.
    #[inline]
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set.
    #[inline]
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// Union.
    #[inline]
    pub const fn union(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }

    /// `self` without the flags of `other`.
    #[inline]
    pub const fn without(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & !other.0)
    }

    /// FIN set.
    #[inline]
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    /// SYN set.
    #[inline]
    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    /// RST set.
    #[inline]
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    /// ACK set.
    #[inline]
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    /// PSH set.
    #[inline]
    pub const fn psh(self) -> bool {
        self.contains(Self::PSH)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        self.union(rhs)
    }
}

impl core::ops::BitOrAssign for TcpFlags {
    #[inline]
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl core::fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const NAMES: [(TcpFlags, &str); 10] = [
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::CWR, "CWR"),
            (TcpFlags::NS, "NS"),
            (TcpFlags::IP_CE, "IP-CE"),
        ];
        let mut first = true;
        write!(f, "<")?;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                if !first {
                    write!(f, ",")?;
                }
                write!(f, "{name}")?;
                first = false;
            }
        }
        write!(f, ">")
    }
}

/// One SACK block: the peer holds `[left, right)` (RFC 2018).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct SackBlock {
    /// First sequence number of the block.
    pub left: SeqNum,
    /// Sequence number following the block.
    pub right: SeqNum,
}

/// Most SACK blocks one segment carries (4 without timestamps, 3 with).
pub const MAX_SACK_BLOCKS: usize = 4;

/// The TCP options the engine understands. Unknown options are skipped by the parser.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct TcpOptions {
    /// Maximum segment size (SYN only).
    pub mss: Option<u16>,
    /// Window scale shift (SYN only). Values above 14 are clamped to 14 when used (RFC 7323).
    pub window_scale: Option<u8>,
    /// SACK permitted (SYN only).
    pub sack_permitted: bool,
    /// Timestamps: (TSval, TSecr).
    pub timestamps: Option<(u32, u32)>,
    /// SACK blocks; the first `sack_count` are valid.
    pub sack_blocks: [SackBlock; MAX_SACK_BLOCKS],
    /// Number of valid SACK blocks.
    pub sack_count: u8,
}

impl TcpOptions {
    /// The valid SACK blocks.
    #[inline]
    pub fn sacks(&self) -> &[SackBlock] {
        &self.sack_blocks[..usize::from(self.sack_count).min(MAX_SACK_BLOCKS)]
    }

    /// Appends a SACK block; returns `false` when all slots are taken.
    pub fn push_sack(&mut self, block: SackBlock) -> bool {
        let n = usize::from(self.sack_count);
        if n >= MAX_SACK_BLOCKS {
            return false;
        }
        self.sack_blocks[n] = block;
        self.sack_count += 1;
        true
    }
}

/// The parsed header of one TCP segment (ports included), without payload.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: SeqNum,
    /// Acknowledgement number (meaningful when `flags.ack()`).
    pub ack: SeqNum,
    /// Flags.
    pub flags: TcpFlags,
    /// Window field as sent (unscaled).
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Options.
    pub options: TcpOptions,
}

impl TcpHeader {
    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    #[inline]
    pub fn seq_len(&self, payload_len: usize) -> u32 {
        payload_len as u32 + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_compose() {
        let f = TcpFlags::SYN | TcpFlags::ACK;
        assert!(f.syn() && f.ack() && !f.fin());
        assert_eq!(format!("{f:?}"), "<SYN,ACK>");
        assert_eq!(f.without(TcpFlags::SYN), TcpFlags::ACK);
    }

    #[test]
    fn sack_slots_are_bounded() {
        let mut o = TcpOptions::default();
        for i in 0..MAX_SACK_BLOCKS as u32 {
            assert!(o.push_sack(SackBlock {
                left: SeqNum(i),
                right: SeqNum(i + 1)
            }));
        }
        assert!(!o.push_sack(SackBlock::default()));
        assert_eq!(o.sacks().len(), MAX_SACK_BLOCKS);
    }

    #[test]
    fn seq_len_counts_syn_and_fin() {
        let mut h = TcpHeader::default();
        assert_eq!(h.seq_len(10), 10);
        h.flags = TcpFlags::SYN | TcpFlags::FIN;
        assert_eq!(h.seq_len(10), 12);
    }
}
