//! Receive-side scaling: the Toeplitz hash and how its input is formed.
//!
//! Input bytes, in order: IPv4 source address, IPv4 destination address, then for TCP or UDP
//! (not a fragment) the source port and the destination port, all in network byte order. The
//! key is 40 bytes held in the `RSS.KEY` words (byte `4i` in bits 31:24 of word `i`). The RX
//! queue is `RSS_TABLE[hash mod 128].QUEUE`; an entry naming a queue that does not exist sends
//! the frame to queue 0.

/// Bytes in the Toeplitz key.
pub const KEY_LEN: usize = 40;

/// The Toeplitz hash of `input` under `key`.
///
/// For every input bit that is set (most significant bit of byte 0 first), the 32-bit window of
/// the key starting at that bit position is XORed into the result. Inputs longer than 36 bytes
/// are cut to 36 (the key window would run out); ours are at most 12.
pub fn toeplitz(key: &[u8; KEY_LEN], input: &[u8]) -> u32 {
    let mut hash = 0u32;
    // `window` holds key bits [i, i + 64) left-aligned; we consume its top 32 bits.
    let mut window = u64::from_be_bytes([
        key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
    ]);
    let mut next_key_byte = 8;
    for byte in input.iter().take(KEY_LEN - 4) {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= (window >> 32) as u32;
            }
            window <<= 1;
        }
        // After 8 shifts the low byte is empty: refill it from the key.
        if next_key_byte < KEY_LEN {
            window |= u64::from(key[next_key_byte]);
            next_key_byte += 1;
        }
    }
    hash
}

/// Key words as the `RSS.KEY` registers hold them.
pub fn key_to_words(key: &[u8; KEY_LEN]) -> [u32; KEY_LEN / 4] {
    core::array::from_fn(|i| {
        u32::from_be_bytes([key[4 * i], key[4 * i + 1], key[4 * i + 2], key[4 * i + 3]])
    })
}

/// The key bytes from the `RSS.KEY` register words.
pub fn words_to_key(words: &[u32; KEY_LEN / 4]) -> [u8; KEY_LEN] {
    core::array::from_fn(|i| words[i / 4].to_be_bytes()[i % 4])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of Microsoft's RSS verification suite.
    const KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f,
        0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    fn input(src: [u8; 4], dst: [u8; 4], ports: Option<(u16, u16)>) -> std::vec::Vec<u8> {
        let mut v = std::vec::Vec::new();
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        if let Some((s, d)) = ports {
            v.extend_from_slice(&s.to_be_bytes());
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn microsoft_verification_vectors() {
        // (source, source port, destination, destination port, IPv4-only hash, with-ports hash)
        let cases = [
            (
                [66, 9, 149, 187],
                2794,
                [161, 142, 100, 80],
                1766,
                0x323e_8fc2,
                0x51cc_c178,
            ),
            (
                [199, 92, 111, 2],
                14230,
                [65, 69, 140, 83],
                4739,
                0xd718_262a,
                0xc626_b0ea,
            ),
            (
                [24, 19, 198, 95],
                12898,
                [12, 22, 207, 184],
                38024,
                0xd2d0_a5de,
                0x5c2b_394a,
            ),
            (
                [38, 27, 205, 30],
                48228,
                [209, 142, 163, 6],
                2217,
                0x8298_9176,
                0xafc7_327f,
            ),
            (
                [153, 39, 163, 191],
                44251,
                [202, 188, 127, 2],
                1303,
                0x5d18_09c5,
                0x10e8_28a2,
            ),
        ];
        for (src, sp, dst, dp, ip_only, with_ports) in cases {
            assert_eq!(toeplitz(&KEY, &input(src, dst, None)), ip_only);
            assert_eq!(toeplitz(&KEY, &input(src, dst, Some((sp, dp)))), with_ports);
        }
    }

    #[test]
    fn key_words_round_trip() {
        let words = key_to_words(&KEY);
        assert_eq!(words[0], 0x6d5a_56da);
        assert_eq!(words_to_key(&words), KEY);
    }
}
