//! Descriptors and completions as 64-bit words: the hot path's encoders and decoder.
//!
//! hw-spec's [`TxDescriptor::encode`](hw_spec::TxDescriptor::encode) and
//! [`Completion::decode`](hw_spec::Completion::decode) work byte by byte over any bit field;
//! every field of the three layouts lies inside one little-endian 64-bit word, so the driver
//! builds and takes apart whole words instead. Field positions still come from hw-spec only:
//! [`Field::of`] turns a [`BitField`] into (word, shift, mask) at compile time and refuses, at
//! compile time, a field that straddles two words. Tests check these against hw-spec's own
//! encoders and decoder on random inputs.
//!
//! Owns the word-level layout only; it reads and writes no memory.

use hw_spec::descriptors::{COMPLETION, cpl, reserved_mask, rxd, txd};
use hw_spec::layout::BitField;
use hw_spec::{
    Completion, CompletionKind, CsumStatus, DecodeError, ErrorCode, RssType, TxOffloadRequest,
};

/// Where a field lies in a descriptor viewed as little-endian `u64` words.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    word: usize,
    shift: u32,
    mask: u64,
}

impl Field {
    /// The word position of `f`. Fails to compile (const panic) when `f` straddles two words.
    pub(crate) const fn of(f: BitField) -> Field {
        let word = (f.lsb / 64) as usize;
        assert!(
            (f.lsb + f.width - 1) / 64 == word as u32,
            "field straddles two words"
        );
        Field {
            word,
            shift: f.lsb % 64,
            mask: f.max_value(),
        }
    }

    #[inline(always)]
    pub(crate) const fn get<const N: usize>(self, words: &[u64; N]) -> u64 {
        (words[self.word] >> self.shift) & self.mask
    }

    #[inline(always)]
    pub(crate) const fn put<const N: usize>(self, words: &mut [u64; N], value: u64) {
        words[self.word] |= (value & self.mask) << self.shift;
    }
}

const TXD_ADDR: Field = Field::of(txd::ADDR);
const TXD_LEN: Field = Field::of(txd::LEN);
const TXD_SOP: Field = Field::of(txd::SOP);
const TXD_EOP: Field = Field::of(txd::EOP);
const TXD_IP_CSUM: Field = Field::of(txd::IP_CSUM);
const TXD_L4_CSUM: Field = Field::of(txd::L4_CSUM);
const TXD_TSO: Field = Field::of(txd::TSO);
const TXD_MSS: Field = Field::of(txd::MSS);
const TXD_L2_LEN: Field = Field::of(txd::L2_LEN);
const TXD_L3_LEN: Field = Field::of(txd::L3_LEN);
const TXD_L4_LEN: Field = Field::of(txd::L4_LEN);

const RXD_ADDR: Field = Field::of(rxd::ADDR);
const RXD_LEN: Field = Field::of(rxd::LEN);

const CPL_QUEUE: Field = Field::of(cpl::QUEUE);
const CPL_INDEX: Field = Field::of(cpl::INDEX);
const CPL_LEN: Field = Field::of(cpl::LEN);
const CPL_RSS_HASH: Field = Field::of(cpl::RSS_HASH);
const CPL_SEGMENTS: Field = Field::of(cpl::SEGMENTS);
const CPL_DESC_COUNT: Field = Field::of(cpl::DESC_COUNT);
const CPL_ERROR: Field = Field::of(cpl::ERROR);
const CPL_TIMESTAMP: Field = Field::of(cpl::TIMESTAMP);
const CPL_IP_CSUM: Field = Field::of(cpl::IP_CSUM);
const CPL_L4_CSUM: Field = Field::of(cpl::L4_CSUM);
const CPL_RSS_TYPE: Field = Field::of(cpl::RSS_TYPE);
const CPL_RX: Field = Field::of(cpl::RX);
const CPL_PHASE: Field = Field::of(cpl::PHASE);

/// Words in a TX descriptor.
pub(crate) const TXD_WORDS: usize = txd::SIZE / 8;
/// Words in an RX descriptor.
pub(crate) const RXD_WORDS: usize = rxd::SIZE / 8;
/// Words in a completion.
pub(crate) const CPL_WORDS: usize = cpl::SIZE / 8;
/// Byte offset of the byte holding `PHASE` inside a completion.
pub(crate) const CPL_PHASE_BYTE: usize = (cpl::PHASE.lsb / 8) as usize;
/// Bit of `PHASE` inside that byte.
pub(crate) const CPL_PHASE_BIT: u32 = cpl::PHASE.lsb % 8;

const fn words_of_mask(bytes: [u8; 32]) -> [u64; CPL_WORDS] {
    let mut words = [0u64; CPL_WORDS];
    let mut i = 0;
    while i < cpl::SIZE {
        words[i / 8] |= (bytes[i] as u64) << (8 * (i % 8));
        i += 1;
    }
    words
}

/// The reserved bits of a completion, as words.
const CPL_RESERVED: [u64; CPL_WORDS] = words_of_mask(reserved_mask(&COMPLETION));

/// The words of a TX descriptor for one buffer (SOP/EOP as given), offload fields included.
#[inline(always)]
pub(crate) fn tx_words(
    addr: u64,
    len: u32,
    sop: bool,
    eop: bool,
    o: &TxOffloadRequest,
) -> [u64; TXD_WORDS] {
    let mut w = [0u64; TXD_WORDS];
    TXD_ADDR.put(&mut w, addr);
    TXD_LEN.put(&mut w, len.into());
    TXD_SOP.put(&mut w, sop.into());
    TXD_EOP.put(&mut w, eop.into());
    TXD_IP_CSUM.put(&mut w, o.ip_csum.into());
    TXD_L4_CSUM.put(&mut w, o.l4_csum.bits().into());
    TXD_TSO.put(&mut w, o.tso.into());
    TXD_MSS.put(&mut w, o.mss.into());
    TXD_L2_LEN.put(&mut w, o.l2_len.into());
    TXD_L3_LEN.put(&mut w, o.l3_len.into());
    TXD_L4_LEN.put(&mut w, o.l4_len.into());
    w
}

/// The words of an RX descriptor.
#[inline(always)]
pub(crate) fn rx_words(addr: u64, len: u32) -> [u64; RXD_WORDS] {
    let mut w = [0u64; RXD_WORDS];
    RXD_ADDR.put(&mut w, addr);
    RXD_LEN.put(&mut w, len.into());
    w
}

/// The phase bit of completion words.
#[cfg(test)]
pub(crate) fn phase(words: &[u64; CPL_WORDS]) -> bool {
    CPL_PHASE.get(words) == 1
}

/// Decodes completion words with hw-spec's verdicts: reserved bits and error codes without a
/// meaning are [`DecodeError`]s (a misbehaving device).
#[inline]
pub(crate) fn decode(w: &[u64; CPL_WORDS]) -> Result<Completion, DecodeError> {
    for (i, (word, reserved)) in w.iter().zip(CPL_RESERVED).enumerate() {
        let bad = word & reserved;
        if bad != 0 {
            return Err(DecodeError::ReservedBitsSet {
                layout: "CPL",
                bit: i as u32 * 64 + bad.trailing_zeros(),
            });
        }
    }
    let error_bits = CPL_ERROR.get(w);
    let Some(error) = ErrorCode::from_bits(error_bits as u32) else {
        return Err(DecodeError::InvalidValue {
            layout: "CPL",
            field: "ERROR",
            value: error_bits,
        });
    };
    // Two-bit enums with four values always decode.
    let csum = |f: Field| CsumStatus::from_bits(f.get(w) as u32).unwrap_or(CsumStatus::Unknown);
    Ok(Completion {
        kind: if CPL_RX.get(w) == 1 {
            CompletionKind::Rx
        } else {
            CompletionKind::Tx
        },
        queue: CPL_QUEUE.get(w) as u16,
        index: CPL_INDEX.get(w) as u16,
        len: CPL_LEN.get(w) as u32,
        rss_hash: CPL_RSS_HASH.get(w) as u32,
        rss_type: RssType::from_bits(CPL_RSS_TYPE.get(w) as u32).unwrap_or(RssType::None),
        segments: CPL_SEGMENTS.get(w) as u16,
        desc_count: CPL_DESC_COUNT.get(w) as u8,
        error,
        timestamp: CPL_TIMESTAMP.get(w),
        ip_csum: csum(CPL_IP_CSUM),
        l4_csum: csum(CPL_L4_CSUM),
        phase: CPL_PHASE.get(w) == 1,
    })
}

/// Completion words as the bytes the device wrote (for fault reports).
pub(crate) fn to_bytes(w: &[u64; CPL_WORDS]) -> [u8; cpl::SIZE] {
    let mut b = [0u8; cpl::SIZE];
    for (i, word) in w.iter().enumerate() {
        b[8 * i..8 * i + 8].copy_from_slice(&word.to_le_bytes());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use hw_spec::{L4Csum, TxDescriptor};
    use proptest::prelude::*;

    fn words_of<const N: usize>(b: &[u8]) -> [u64; N] {
        std::array::from_fn(|i| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap()))
    }

    proptest! {
        #[test]
        fn tx_words_match_hw_spec(addr: u64, len: u32, sop: bool, eop: bool, ip: bool,
                                  l4 in 0u8..3, tso: bool, mss: u16, l2: u8, l3: u16, l4len: u8) {
            let o = TxOffloadRequest {
                ip_csum: ip,
                l4_csum: L4Csum::from_bits(l4.into()).unwrap(),
                tso, mss, l2_len: l2, l3_len: l3, l4_len: l4len,
            };
            let d = TxDescriptor { addr, len, sop, eop, offload: o };
            prop_assert_eq!(tx_words(addr, len, sop, eop, &o), words_of::<TXD_WORDS>(&d.encode()));
        }

        #[test]
        fn rx_words_match_hw_spec(addr: u64, len: u32) {
            let d = hw_spec::RxDescriptor { addr, len };
            prop_assert_eq!(rx_words(addr, len), words_of::<RXD_WORDS>(&d.encode()));
        }

        #[test]
        fn decode_matches_hw_spec_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 32),
                                               clean: bool) {
            let mut b: [u8; 32] = bytes.try_into().unwrap();
            if clean {
                // Mostly-valid entries: clear the reserved bits, keep the error code known.
                let mask = reserved_mask(&COMPLETION);
                for (x, m) in b.iter_mut().zip(mask) { *x &= !m; }
                b[15] %= 21;
            }
            let w = words_of::<CPL_WORDS>(&b);
            prop_assert_eq!(decode(&w), Completion::decode(&b));
            prop_assert_eq!(to_bytes(&w), b);
            prop_assert_eq!(phase(&w), Completion::phase_of(&b));
        }
    }

    #[test]
    fn phase_byte_is_the_last() {
        assert_eq!(CPL_PHASE_BYTE, cpl::SIZE - 1);
        assert_eq!(CPL_PHASE_BIT, 7);
    }
}
