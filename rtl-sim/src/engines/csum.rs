//! Ones' complement arithmetic (RFC 1071) as the engines define it: 16-bit big-endian words,
//! an odd trailing byte padded with zero, sums folded by end-around carry.

/// Adds `data` to a running 32-bit-or-wider sum of big-endian 16-bit words. `data` must start
/// on an even offset of the checksummed region (callers split regions at even offsets).
#[inline]
pub fn add_bytes(mut sum: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        // Sum the four 16-bit words of w.
        sum += (w >> 48) + ((w >> 32) & 0xFFFF) + ((w >> 16) & 0xFFFF) + (w & 0xFFFF);
    }
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

/// Adds one 16-bit word.
#[inline]
pub fn add_word(sum: u64, word: u16) -> u64 {
    sum + u64::from(word)
}

/// Folds a wide sum to 16 bits with end-around carry. `fold(0) == 0`; a non-zero sum never
/// folds to 0 (it folds to 0xFFFF instead).
#[inline]
pub fn fold(mut sum: u64) -> u16 {
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
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
    }
}
