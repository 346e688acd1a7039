//! SipHash (Aumasson and Bernstein, 2012): the keyed pseudo-random function behind the tuple
//! map, the ISN generator and the ephemeral port selection, and the [`HashSecret`] that keys it.
//!
//! SipHash-1-3 hashes the map's 4-tuples (fast; collision resistance against a peer who does not
//! know the key is what the map needs). SipHash-2-4 (the conservative variant) feeds ISNs and
//! port offsets, which a peer observes directly. Owns the arithmetic only; the callers decide
//! what bytes to hash.

use core::fmt;

/// A 128-bit secret key. Generate it once per endpoint from a real random source
/// ([`HashSecret::from_os_random`] with `std`); a peer that learns it can predict ISNs and force
/// hash collisions.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HashSecret {
    k0: u64,
    k1: u64,
}

impl fmt::Debug for HashSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.write_str("HashSecret(<redacted>)")
    }
}

impl HashSecret {
    /// A key from 16 bytes (little-endian halves, as in the SipHash reference).
    pub const fn from_bytes(bytes: [u8; 16]) -> HashSecret {
        let mut k0 = [0u8; 8];
        let mut k1 = [0u8; 8];
        let mut i = 0;
        while i < 8 {
            k0[i] = bytes[i];
            k1[i] = bytes[i + 8];
            i += 1;
        }
        HashSecret {
            k0: u64::from_le_bytes(k0),
            k1: u64::from_le_bytes(k1),
        }
    }

    /// A key from 16 bytes of `/dev/urandom`.
    ///
    /// # Errors
    /// When `/dev/urandom` cannot be opened or read (the error names the path).
    #[cfg(feature = "std")]
    pub fn from_os_random() -> std::io::Result<HashSecret> {
        use std::io::Read;
        const PATH: &str = "/dev/urandom";
        let mut bytes = [0u8; 16];
        std::fs::File::open(PATH)
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(|e| {
                std::io::Error::new(e.kind(), format!("reading {PATH} for a hash secret: {e}"))
            })?;
        Ok(HashSecret::from_bytes(bytes))
    }

    /// An independent key for one purpose, derived from this one with SipHash-2-4 as the PRF, so
    /// one random secret can key the map, the ISNs and the ports without reusing a key.
    pub fn derive(&self, purpose: &[u8]) -> HashSecret {
        let mut buf = [0u8; 64];
        let n = purpose.len().min(buf.len() - 1);
        buf[..n].copy_from_slice(&purpose[..n]);
        buf[n] = 0;
        let k0 = sip24(self, &buf[..=n]);
        buf[n] = 1;
        let k1 = sip24(self, &buf[..=n]);
        HashSecret { k0, k1 }
    }
}

#[inline(always)]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-C-D of `data` under `key`.
#[inline(always)]
fn sip<const C: usize, const D: usize>(key: &HashSecret, data: &[u8]) -> u64 {
    let mut v = [
        key.k0 ^ 0x736f_6d65_7073_6575,
        key.k1 ^ 0x646f_7261_6e64_6f6d,
        key.k0 ^ 0x6c79_6765_6e65_7261,
        key.k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut words = data.chunks_exact(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let m = u64::from_le_bytes(w);
        v[3] ^= m;
        for _ in 0..C {
            sip_round(&mut v);
        }
        v[0] ^= m;
    }
    let tail = words.remainder();
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    last[7] = data.len() as u8;
    let b = u64::from_le_bytes(last);
    v[3] ^= b;
    for _ in 0..C {
        sip_round(&mut v);
    }
    v[0] ^= b;
    v[2] ^= 0xff;
    for _ in 0..D {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// SipHash-1-3 of a 12-byte message given as its first 8 bytes and its last 4 (both read
/// little-endian, as SipHash reads bytes): equal to [`sip13`] of those 12 bytes. For callers
/// that assemble the message from fields in registers, which spares the store-to-load
/// forwarding stalls of building a byte array and reading it back as words.
#[inline(always)]
pub fn sip13_12(key: &HashSecret, first8: u64, last4: u32) -> u64 {
    sip_12::<1, 3>(key, first8, last4)
}

/// SipHash-2-4 of a 12-byte message given as its first 8 bytes and its last 4, as for
/// [`sip13_12`]: equal to [`sip24`] of those 12 bytes.
#[inline]
pub fn sip24_12(key: &HashSecret, first8: u64, last4: u32) -> u64 {
    sip_12::<2, 4>(key, first8, last4)
}

/// SipHash-C-D of a 12-byte message given as two words (see [`sip13_12`]).
#[inline(always)]
fn sip_12<const C: usize, const D: usize>(key: &HashSecret, first8: u64, last4: u32) -> u64 {
    let mut v = [
        key.k0 ^ 0x736f_6d65_7073_6575,
        key.k1 ^ 0x646f_7261_6e64_6f6d,
        key.k0 ^ 0x6c79_6765_6e65_7261,
        key.k1 ^ 0x7465_6462_7974_6573,
    ];
    v[3] ^= first8;
    for _ in 0..C {
        sip_round(&mut v);
    }
    v[0] ^= first8;
    let b = u64::from(last4) | (12u64 << 56);
    v[3] ^= b;
    for _ in 0..C {
        sip_round(&mut v);
    }
    v[0] ^= b;
    v[2] ^= 0xff;
    for _ in 0..D {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// SipHash-1-3 of `data`: the fast variant, for hash-table indexing.
#[inline]
pub fn sip13(key: &HashSecret, data: &[u8]) -> u64 {
    sip::<1, 3>(key, data)
}

/// SipHash-2-4 of `data`: the conservative variant, for values a peer can observe.
#[inline]
pub fn sip24(key: &HashSecret, data: &[u8]) -> u64 {
    sip::<2, 4>(key, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use siphasher::sip::{SipHasher13, SipHasher24};
    use std::hash::Hasher;

    fn reference_key() -> HashSecret {
        let mut k = [0u8; 16];
        for (i, b) in k.iter_mut().enumerate() {
            *b = i as u8;
        }
        HashSecret::from_bytes(k)
    }

    /// Vectors from the SipHash paper (appendix A, key 00..0f, message 00..0e) and the
    /// reference implementation's first vector (empty message).
    #[test]
    fn siphash24_matches_published_vectors() {
        let key = reference_key();
        let msg: [u8; 15] = core::array::from_fn(|i| i as u8);
        assert_eq!(sip24(&key, &msg), 0xa129_ca61_49be_45e5);
        assert_eq!(sip24(&key, &[]), 0x726f_db47_dd0e_0e31);
    }

    #[test]
    fn matches_independent_implementation_for_all_lengths() {
        let key = HashSecret::from_bytes(*b"0123456789abcdef");
        let (k0, k1) = (key.k0, key.k1);
        let data: [u8; 64] = core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(5));
        for len in 0..=data.len() {
            let mut h13 = SipHasher13::new_with_keys(k0, k1);
            h13.write(&data[..len]);
            assert_eq!(
                sip13(&key, &data[..len]),
                h13.finish(),
                "SipHash-1-3, {len} bytes"
            );
            let mut h24 = SipHasher24::new_with_keys(k0, k1);
            h24.write(&data[..len]);
            assert_eq!(
                sip24(&key, &data[..len]),
                h24.finish(),
                "SipHash-2-4, {len} bytes"
            );
        }
    }

    #[test]
    fn twelve_byte_words_match_the_byte_version() {
        let key = HashSecret::from_bytes(*b"fedcba9876543210");
        for seed in 0..200u64 {
            let bytes: [u8; 12] =
                core::array::from_fn(|i| (seed.wrapping_mul(0x9E37) >> (i % 8)) as u8 ^ i as u8);
            let first8 = u64::from_le_bytes(bytes[..8].try_into().unwrap());
            let last4 = u32::from_le_bytes(bytes[8..].try_into().unwrap());
            assert_eq!(sip13_12(&key, first8, last4), sip13(&key, &bytes));
            assert_eq!(sip24_12(&key, first8, last4), sip24(&key, &bytes));
        }
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_from_parent() {
        let key = reference_key();
        let a = key.derive(b"map");
        let b = key.derive(b"isn");
        assert_ne!(a, b);
        assert_ne!(a, key);
        assert_eq!(a, key.derive(b"map"), "derivation is deterministic");
        assert_ne!(
            reference_key().derive(b"map"),
            HashSecret::from_bytes([7; 16]).derive(b"map")
        );
    }

    #[test]
    fn debug_does_not_leak_the_key() {
        let text = format!("{:?}", reference_key());
        assert!(!text.contains("0x") && !text.contains("k0"), "{text}");
    }

    #[test]
    fn os_random_secrets_differ() {
        let a = HashSecret::from_os_random().expect("/dev/urandom readable");
        let b = HashSecret::from_os_random().expect("/dev/urandom readable");
        assert_ne!(a, b);
    }
}
