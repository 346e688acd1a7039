//! Ones' complement arithmetic (RFC 1071) as the engines define it: 16-bit big-endian words,
//! an odd trailing byte padded with zero, sums folded by end-around carry.

/// Adds `data` to a running 32-bit-or-wider sum of big-endian 16-bit words. `data` must start
/// on an even offset of the checksummed region (callers split regions at even offsets).
///
/// The returned value is congruent (mod 0xFFFF, and zero only for all-zero input) to the plain
/// sum of the words, which is all `fold` and `finish` need. For speed the bulk is summed as
/// little-endian 32-bit words into eight independent 64-bit lanes (a shape the compiler turns
/// into vector adds): the ones' complement sum does not depend on byte order (RFC 1071 section
/// 2(B)), and 2^32 = 1 (mod 0xFFFF), so the folded bulk sum, byte-swapped, is the folded sum of
/// the big-endian words.
#[inline]
pub fn add_bytes(mut sum: u64, data: &[u8]) -> u64 {
    let mut bulk: u64 = 0;
    let whole = data.len() / 32 * 32;
    // Headers (20-60 bytes, one call each per frame) skip the lanes.
    if whole > 0 {
        bulk = wide::blocks_sum(&data[..whole]);
    }
    let mut chunks = data[whole..].chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        bulk += (w & 0xFFFF_FFFF) + (w >> 32);
    }
    sum += u64::from(fold(bulk).swap_bytes());
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        sum += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// The sum of whole 32-byte blocks as little-endian 32-bit words in eight 64-bit lanes, the
/// bulk of [`add_bytes`]. On x86-64 CPUs with AVX2 the same code runs compiled for AVX2 (twice
/// the bytes per instruction of the baseline's SSE2), chosen at run time.
///
/// Owns that choice and the one `unsafe` call it needs; the arithmetic is [`lanes`], the same
/// for every CPU. `tests/unsafe_under_valgrind.rs` runs the dispatch under valgrind's memcheck.
mod wide {
    /// Sums `blocks` (a multiple of 32 bytes long) in eight lanes and adds the lanes up (each
    /// folded once from 64 to 33 bits, which keeps the total congruent mod 0xFFFF).
    #[inline(always)]
    fn lanes(blocks: &[u8]) -> u64 {
        let mut lanes = [0u64; 8];
        for b in blocks.chunks_exact(32) {
            for (lane, w) in lanes.iter_mut().zip(b.chunks_exact(4)) {
                // Cannot overflow below 2^32 blocks (128 GiB of data).
                *lane += u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
            }
        }
        lanes
            .iter()
            .map(|lane| (lane & 0xFFFF_FFFF) + (lane >> 32))
            .sum()
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn lanes_avx2(blocks: &[u8]) -> u64 {
        lanes(blocks)
    }

    #[inline]
    pub(super) fn blocks_sum(blocks: &[u8]) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: a function compiled for a target feature may only run on a CPU that has
            // it, and this one has AVX2 (checked just above, by the standard library's CPUID
            // probe). `lanes_avx2` is otherwise ordinary safe code.
            return unsafe { lanes_avx2(blocks) };
        }
        lanes(blocks)
    }

    #[cfg(test)]
    mod tests {
        /// The dispatched sum (the AVX2 build on a CPU that has it) equals the baseline build's.
        #[test]
        fn the_avx2_build_sums_like_the_baseline() {
            // On a CPU without AVX2 the dispatch would compare the baseline with itself.
            #[cfg(target_arch = "x86_64")]
            assert!(
                std::arch::is_x86_feature_detected!("avx2"),
                "this x86-64 CPU has no AVX2, so the AVX2 build of the checksum cannot be tested \
                 here: run the tests on a CPU with AVX2 (Intel since 2013, AMD since 2015)"
            );
            let data: Vec<u8> = (0..70_000u32).map(|i| (i * 131 + 7) as u8).collect();
            for len in [0, 32, 64, 1440, 9024, 65_536] {
                assert_eq!(
                    super::blocks_sum(&data[..len]),
                    super::lanes(&data[..len]),
                    "len {len}"
                );
            }
        }
    }
}

/// Adds one 16-bit word.
#[inline]
pub fn add_word(sum: u64, word: u16) -> u64 {
    sum + u64::from(word)
}

/// Folds a wide sum to 16 bits with end-around carry. `fold(0) == 0`; a non-zero sum never
/// folds to 0 (it folds to 0xFFFF instead).
#[inline]
pub fn fold(sum: u64) -> u16 {
    // Four end-around-carry steps always suffice (2^32 = 2^16 = 1 mod 0xFFFF): below 2^33,
    // then below 2^17 + 2^16, then at most 0x10001, then at most 0xFFFF. No step turns a non-zero value into zero,
    // so the result is the one value in 1..=0xFFFF congruent to a non-zero `sum`.
    let mut s = (sum & 0xFFFF_FFFF) + (sum >> 32);
    s = (s & 0xFFFF) + (s >> 16);
    s = (s & 0xFFFF) + (s >> 16);
    s = (s & 0xFFFF) + (s >> 16);
    s as u16
}

/// The checksum field value for a region whose folded sum (checksum field taken as zero) is
/// `sum`: its ones' complement.
#[inline]
pub fn finish(sum: u64) -> u16 {
    !fold(sum)
}

/// Sum of the IPv4 pseudo-header: source and destination addresses (the 8 bytes at IPv4
/// header offset 12), zero, protocol, and the L4 length.
#[inline]
pub fn pseudo_header(addrs: &[u8], protocol: u8, l4_len: u32) -> u64 {
    debug_assert_eq!(addrs.len(), 8);
    add_bytes(0, addrs) + u64::from(protocol) + u64::from(l4_len & 0xFFFF) + u64::from(l4_len >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(data: &[u8]) -> u64 {
        data.chunks(2)
            .map(|c| u64::from(c[0]) << 8 | u64::from(*c.get(1).unwrap_or(&0)))
            .sum()
    }

    #[test]
    fn matches_naive_sum_for_all_lengths() {
        let data: Vec<u8> = (0..200u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..data.len() {
            assert_eq!(
                fold(add_bytes(0, &data[..len])),
                fold(naive(&data[..len])),
                "len {len}"
            );
        }
    }

    #[test]
    fn matches_naive_sum_on_edge_patterns() {
        let mut x = 0x1234_5678_9ABC_DEF1u64;
        let mut random = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        };
        let noise: Vec<u8> = (0..70_000).map(|_| random()).collect();
        for data in [vec![0xFF; 65_536], vec![0; 4096], vec![0xFF, 0xFF], noise] {
            for len in [0, 1, 7, 8, 9, 1500, data.len()] {
                let len = len.min(data.len());
                let (a, b) = (add_bytes(0, &data[..len]), naive(&data[..len]));
                assert_eq!(fold(a), fold(b), "len {len}");
                assert_eq!(a == 0, b == 0, "zero-ness, len {len}");
                assert_eq!(fold(add_bytes(0x1_2345, &data[..len])), fold(b + 0x1_2345));
            }
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to 0xddf2 after folding.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(add_bytes(0, &data)), 0xddf2);
        assert_eq!(finish(add_bytes(0, &data)), !0xddf2);
    }

    #[test]
    fn fold_edges() {
        assert_eq!(fold(0), 0);
        assert_eq!(fold(0xFFFF), 0xFFFF);
        assert_eq!(fold(0x1_0000), 1);
        assert_eq!(fold(0x1_FFFE), 0xFFFF);
        assert_eq!(fold(u64::MAX), 0xFFFF);
        assert_eq!(fold(0xFFFF_0000_0000), 0xFFFF);
    }

    /// The fixed four steps give what folding until the value fits gives, for any width.
    #[test]
    fn fold_matches_folding_to_a_fixed_point() {
        let reference = |mut s: u64| {
            while s > 0xFFFF {
                s = (s & 0xFFFF) + (s >> 16);
            }
            s as u16
        };
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for v in [x, x >> 13, x >> 31, x >> 47, x & 0x1_FFFF, x | 0xFFFF] {
                assert_eq!(fold(v), reference(v), "{v:#x}");
            }
        }
    }
}
