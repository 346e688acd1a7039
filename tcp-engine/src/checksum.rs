//! The Internet checksum (RFC 1071): a fast ones' complement sum, folding, the IPv4
//! pseudo-header sum for TCP and UDP, and the incremental update of RFC 1624.
//!
//! Owns arithmetic only: it knows nothing of packet layouts (the `wire` module decides which
//! bytes are summed and where the result goes) and must not grow any.
//!
//! ## Conventions
//!
//! - A **sum** is the folded 16-bit ones' complement sum of big-endian 16-bit words, an odd
//!   trailing byte padded with a zero low byte. The sum of data that is all zero is `0x0000`;
//!   the sum of any other data lies in `1..=0xFFFF` (end-around carry never folds a non-zero
//!   value to zero), so `0xFFFF` ("negative zero") is a real result.
//! - A **checksum** is the complement of a sum, the value written into a header. It is
//!   `0xFFFF` only for all-zero data; TCP and IPv4 data never is, so their checksums lie in
//!   `0x0000..=0xFFFE`, and a computed `0x0000` is sent as `0x0000` (UDP alone maps it to
//!   `0xFFFF`, see [`udp_checksum_on_wire`]).
//! - Data whose checksum field holds a correct checksum sums to `0xFFFF` ([`is_valid_sum`]);
//!   both `0x0000` and `0xFFFF` in the field verify, as RFC 1624 requires.
//!
//! ## Speed
//!
//! [`sum`] reads 32 bytes per step as four native-endian `u64`s, splits each into two 32-bit
//! halves and adds them into `u64` accumulators: no carry is lost (each step adds less than
//! 2^35, so the accumulators cannot overflow below 2^29 steps = 16 GiB, far beyond any frame),
//! there are no carry chains between iterations, and the loop vectorises. The byte order is
//! fixed once at the end (RFC 1071 section 2(B): the sum is byte-order independent up to a
//! final swap). Unaligned input costs nothing extra on the targets we run on: the words are
//! read with unaligned loads from byte slices, no `unsafe`.
//!
//! Data split over several pieces (headers, then a payload that wraps around a ring buffer)
//! is summed with [`Checksum`], which handles pieces of odd length and odd offset.

/// Folds a wide accumulator of ones' complement addends to a 16-bit sum with end-around carry.
///
/// `fold(0) == 0`; any non-zero input folds to `1..=0xFFFF`.
#[inline]
pub const fn fold(acc: u64) -> u16 {
    // 64 -> 33 bits -> 17 bits -> 16 bits (+ at most one more carry).
    let mut s = (acc & 0xFFFF_FFFF) + (acc >> 32);
    s = (s & 0xFFFF_FFFF) + (s >> 32);
    let mut t = (s & 0xFFFF) + ((s >> 16) & 0xFFFF) + (s >> 32);
    t = (t & 0xFFFF) + (t >> 16);
    t = (t & 0xFFFF) + (t >> 16);
    t as u16
}

/// Adds two 16-bit ones' complement sums.
#[inline]
pub const fn add(a: u16, b: u16) -> u16 {
    let s = a as u32 + b as u32;
    ((s & 0xFFFF) + (s >> 16)) as u16
}

/// Accumulates `data` in native byte order into a wide, unfolded accumulator.
///
/// The result, folded and byte-swapped on little-endian machines, is the big-endian sum.
#[inline]
fn accumulate_native(data: &[u8]) -> u64 {
    let mut acc = [0u64; 4];
    let mut blocks = data.chunks_exact(32);
    for block in &mut blocks {
        for (lane, word) in acc.iter_mut().zip(block.chunks_exact(8)) {
            let w = u64::from_ne_bytes([
                word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
            ]);
            *lane += (w & 0xFFFF_FFFF) + (w >> 32);
        }
    }
    let mut total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    let mut rest = blocks.remainder();
    while rest.len() >= 4 {
        total += u64::from(u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]));
        rest = &rest[4..];
    }
    if rest.len() >= 2 {
        total += u64::from(u16::from_ne_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    if let [last] = rest {
        // The odd byte is the high (first) byte of a word whose second byte is zero.
        total += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    total
}

/// The ones' complement sum of `data` (RFC 1071), folded to 16 bits, in host order.
///
/// Any length (odd included) and any alignment.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    u16::from_be(fold(accumulate_native(data)))
}

/// The Internet checksum of `data`: the complement of [`sum`].
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// Whether a sum taken over data including its checksum field shows the data intact.
#[inline]
pub const fn is_valid_sum(sum: u16) -> bool {
    sum == 0xFFFF
}

/// The sum of the IPv4 pseudo-header of a TCP or UDP segment (RFC 9293 section 3.1, RFC 768):
/// source and destination address, a zero byte, the protocol and the segment length (header
/// plus payload).
///
/// The length is taken as `u32` so a TSO super-segment's length (above 65535) still sums
/// correctly for a software fallback; on the wire it never exceeds 16 bits.
#[inline]
pub const fn pseudo_header_sum(src: [u8; 4], dst: [u8; 4], protocol: u8, length: u32) -> u16 {
    let acc = u32::from_be_bytes(src) as u64
        + u32::from_be_bytes(dst) as u64
        + protocol as u64
        + length as u64;
    fold(acc)
}

/// The value a UDP header carries for a computed checksum: `0x0000` is sent as `0xFFFF`
/// (RFC 768: zero means "no checksum").
#[inline]
pub const fn udp_checksum_on_wire(checksum: u16) -> u16 {
    if checksum == 0 { 0xFFFF } else { checksum }
}

/// Updates a checksum after one 16-bit word of the covered data changed from `old` to `new`,
/// without touching the rest of the data (RFC 1624 equation 3: `HC' = ~(~HC + ~m + m')`).
///
/// The result equals a full recomputation whenever the covered data is not all zero before and
/// after the change (always true of IPv4 headers and TCP segments, which carry their pseudo-
/// header or version field); for all-zero data the two differ only between `0x0000` and
/// `0xFFFF`, both of which verify.
#[inline]
pub const fn update_u16(checksum: u16, old: u16, new: u16) -> u16 {
    !fold((!checksum) as u64 + (!old) as u64 + new as u64)
}

/// [`update_u16`] for a 32-bit field (two adjacent words, e.g. a sequence number or an address).
#[inline]
pub const fn update_u32(checksum: u16, old: u32, new: u32) -> u16 {
    let acc = (!checksum) as u64
        + (!(old >> 16) & 0xFFFF) as u64
        + (!old & 0xFFFF) as u64
        + (new >> 16) as u64
        + (new & 0xFFFF) as u64;
    !fold(acc)
}

/// A running ones' complement sum over data given in pieces of any length.
///
/// A piece that starts at an odd offset of the whole is added byte-swapped (RFC 1071
/// section 2(B)), so `Checksum::new().add_bytes(a).add_bytes(b)` equals the sum of `a ++ b`
/// for any split.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checksum {
    acc: u64,
    odd: bool,
}

impl Checksum {
    /// An empty sum.
    #[inline]
    pub const fn new() -> Checksum {
        Checksum { acc: 0, odd: false }
    }

    /// Adds a piece of data that follows everything added so far.
    #[inline]
    pub fn add_bytes(&mut self, data: &[u8]) -> &mut Checksum {
        let s = sum(data);
        self.acc += u64::from(if self.odd { s.swap_bytes() } else { s });
        self.odd ^= data.len() % 2 == 1;
        self
    }

    /// Adds a precomputed 16-bit sum (such as [`pseudo_header_sum`]) of data of even length
    /// that is logically placed at an even offset.
    #[inline]
    pub fn add_sum(&mut self, sum: u16) -> &mut Checksum {
        self.acc += u64::from(sum);
        self
    }

    /// Adds one big-endian 16-bit word at an even offset.
    #[inline]
    pub fn add_u16(&mut self, word: u16) -> &mut Checksum {
        self.add_sum(word)
    }

    /// Adds a big-endian 32-bit value at an even offset.
    #[inline]
    pub fn add_u32(&mut self, value: u32) -> &mut Checksum {
        self.acc += u64::from(value >> 16) + u64::from(value & 0xFFFF);
        self
    }

    /// Whether the bytes added so far have an odd total length.
    #[inline]
    pub const fn is_odd(&self) -> bool {
        self.odd
    }

    /// The folded sum of everything added.
    #[inline]
    pub const fn sum(&self) -> u16 {
        fold(self.acc)
    }

    /// The checksum (complement of the sum) of everything added.
    #[inline]
    pub const fn checksum(&self) -> u16 {
        !self.sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The textbook algorithm: one big-endian word at a time, fold at the end.
    fn naive_sum(data: &[u8]) -> u16 {
        let mut acc: u64 = 0;
        for pair in data.chunks(2) {
            let hi = u64::from(pair[0]) << 8;
            let lo = pair.get(1).map_or(0, |&b| u64::from(b));
            acc += hi | lo;
        }
        while acc > 0xFFFF {
            acc = (acc & 0xFFFF) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn ipv4_header_example() {
        // A well-known IPv4 header whose checksum field holds b861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert!(is_valid_sum(sum(&h)));
        h[10] = 0;
        h[11] = 0;
        assert_eq!(checksum(&h), 0xb861);
    }

    #[test]
    fn zero_and_negative_zero() {
        // All-zero data: sum +0, checksum 0xFFFF.
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[0; 77]), 0);
        assert_eq!(checksum(&[0; 10]), 0xFFFF);
        // Non-zero data summing to 0xFFFF: checksum 0x0000.
        assert_eq!(sum(&[0xFF, 0xFF]), 0xFFFF);
        assert_eq!(checksum(&[0xFF, 0xFF]), 0x0000);
        assert_eq!(sum(&[0x12, 0x34, 0xED, 0xCB]), 0xFFFF);
        // Many 0xFFFF words never fold to 0.
        assert_eq!(sum(&[0xFF; 4096]), 0xFFFF);
        assert_eq!(fold(0), 0);
        assert_eq!(fold(0xFFFF), 0xFFFF);
        assert_eq!(fold(0x1_0000), 1);
        assert_eq!(fold(u64::MAX), 0xFFFF);
    }

    #[test]
    fn odd_lengths_pad_low_byte() {
        assert_eq!(sum(&[0xAB]), 0xAB00);
        assert_eq!(sum(&[0x01, 0x02, 0x03]), 0x0102 + 0x0300);
    }

    #[test]
    fn pseudo_header_matches_bytes() {
        let src = [198, 18, 0, 1];
        let dst = [198, 18, 0, 2];
        let bytes = [198, 18, 0, 1, 198, 18, 0, 2, 0, 6, 0x05, 0xDC];
        assert_eq!(pseudo_header_sum(src, dst, 6, 1500), naive_sum(&bytes));
        // A TSO super-segment length beyond 16 bits still sums as a 32-bit field.
        let bytes = [198, 18, 0, 1, 198, 18, 0, 2, 0, 6, 0, 1, 0x00, 0x28];
        let mut c = Checksum::new();
        c.add_bytes(&bytes);
        assert_eq!(pseudo_header_sum(src, dst, 6, 0x1_0028), c.sum());
    }

    #[test]
    fn udp_zero_becomes_ffff() {
        assert_eq!(udp_checksum_on_wire(0), 0xFFFF);
        assert_eq!(udp_checksum_on_wire(0x1234), 0x1234);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn fast_sum_equals_naive(data in proptest::collection::vec(any::<u8>(), 0..2100), skip in 0usize..8) {
            // Every alignment: sum a suffix starting `skip` bytes in.
            let skip = skip.min(data.len());
            let piece = &data[skip..];
            prop_assert_eq!(sum(piece), naive_sum(piece));
        }

        #[test]
        fn pieces_equal_whole(data in proptest::collection::vec(any::<u8>(), 0..600), cuts in proptest::collection::vec(any::<usize>(), 0..5)) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
            cuts.sort_unstable();
            let mut c = Checksum::new();
            let mut start = 0;
            for cut in cuts {
                c.add_bytes(&data[start..cut]);
                start = cut;
            }
            c.add_bytes(&data[start..]);
            prop_assert_eq!(c.sum(), naive_sum(&data));
            prop_assert_eq!(c.is_odd(), data.len() % 2 == 1);
        }

        #[test]
        fn incremental_update_equals_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 2..200),
            word in any::<usize>(),
            new16 in any::<u16>(),
            new32 in any::<u32>(),
        ) {
            // A fixed non-zero word keeps the data from being all zero, as IPv4/TCP data is.
            data[0] |= 0x40;
            let words = data.len() / 2;
            let i = 1 + word % words.max(1);
            if 2 * i + 2 <= data.len() {
                let before = checksum(&data);
                let old = u16::from_be_bytes([data[2 * i], data[2 * i + 1]]);
                data[2 * i..2 * i + 2].copy_from_slice(&new16.to_be_bytes());
                prop_assert_eq!(update_u16(before, old, new16), checksum(&data));
            }
            if 2 * i + 4 <= data.len() {
                let before = checksum(&data);
                let old = u32::from_be_bytes([data[2 * i], data[2 * i + 1], data[2 * i + 2], data[2 * i + 3]]);
                data[2 * i..2 * i + 4].copy_from_slice(&new32.to_be_bytes());
                prop_assert_eq!(update_u32(before, old, new32), checksum(&data));
            }
        }

        #[test]
        fn checksum_in_field_verifies(mut data in proptest::collection::vec(any::<u8>(), 4..300)) {
            data[0] |= 1;
            data[2] = 0;
            data[3] = 0;
            let c = checksum(&data);
            data[2..4].copy_from_slice(&c.to_be_bytes());
            prop_assert!(is_valid_sum(sum(&data)));
            prop_assert!(c != 0xFFFF);
        }

        #[test]
        fn fold_is_congruent(acc in any::<u64>()) {
            let f = fold(acc);
            prop_assert_eq!(u64::from(f) % 0xFFFF, acc % 0xFFFF);
            prop_assert_eq!(f == 0, acc == 0);
        }
    }
}
