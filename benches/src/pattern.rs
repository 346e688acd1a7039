//! The byte pattern a verifying bulk transfer sends and checks.
//!
//! Byte `i` of the stream is `i mod 251`. The period is prime, so it shares no factor with any
//! segment size, buffer size or TSO boundary: a lost, duplicated, reordered or shifted run of
//! bytes shows up as a mismatch at once. Filling and checking are plain copies and slice
//! comparisons out of a precomputed table (so "verify" costs what an application copying data
//! in and out costs, and no per-byte arithmetic).
//!
//! Owns the pattern only; it knows nothing of sockets or stacks, and allocates only in
//! [`Pattern::new`].

/// The pattern's period.
pub const PERIOD: usize = 251;

/// Table rows start at multiples of this (a multiple of [`PERIOD`], so the table is periodic
/// from any start below it).
const ROW: usize = PERIOD * 4096;

/// A precomputed pattern table that serves slices of up to `max_chunk` bytes without
/// arithmetic per byte; longer slices are served in pieces.
#[derive(Clone, Debug)]
pub struct Pattern {
    table: Box<[u8]>,
    max_chunk: usize,
}

/// The stream offset of the first byte that differs from the pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Stream offset of the first wrong byte.
    pub offset: u64,
    /// The byte the pattern has there.
    pub expected: u8,
    /// The byte received.
    pub got: u8,
}

impl Pattern {
    /// A table for slices of up to `max_chunk` bytes at once (the socket buffer size is the
    /// natural choice: no send or receive callback sees more). At least 1.
    pub fn new(max_chunk: usize) -> Pattern {
        let max_chunk = max_chunk.max(1);
        let table = (0..ROW + max_chunk)
            .map(|i| (i % PERIOD) as u8)
            .collect::<Vec<u8>>()
            .into_boxed_slice();
        Pattern { table, max_chunk }
    }

    /// The pattern byte at stream offset `offset`.
    pub fn byte_at(offset: u64) -> u8 {
        (offset % PERIOD as u64) as u8
    }

    fn row(&self, offset: u64, len: usize) -> &[u8] {
        let start = (offset % ROW as u64) as usize;
        &self.table[start..start + len]
    }

    /// Writes the pattern for stream bytes `offset..offset + dst.len()` into `dst`.
    pub fn fill(&self, offset: u64, dst: &mut [u8]) {
        let mut at = offset;
        for piece in dst.chunks_mut(self.max_chunk) {
            piece.copy_from_slice(self.row(at, piece.len()));
            at += piece.len() as u64;
        }
    }

    /// Checks that `got` holds the pattern for stream bytes `offset..offset + got.len()`.
    pub fn check(&self, offset: u64, got: &[u8]) -> Result<(), Mismatch> {
        let mut at = offset;
        for piece in got.chunks(self.max_chunk) {
            let want = self.row(at, piece.len());
            if piece != want {
                let i = piece
                    .iter()
                    .zip(want)
                    .position(|(g, w)| g != w)
                    .unwrap_or(0);
                return Err(Mismatch {
                    offset: at + i as u64,
                    expected: want[i],
                    got: piece[i],
                });
            }
            at += piece.len() as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_matches_the_definition_at_any_offset_and_length() {
        let p = Pattern::new(1000);
        for &(offset, len) in &[
            (0u64, 1usize),
            (250, 3),
            (ROW as u64 - 7, 900),
            (ROW as u64 * 3 + 11, 1000),
            (u64::MAX / 2, 2500), // longer than max_chunk: served in pieces
        ] {
            let mut buf = vec![0xEEu8; len];
            p.fill(offset, &mut buf);
            for (i, b) in buf.iter().enumerate() {
                assert_eq!(
                    *b,
                    Pattern::byte_at(offset + i as u64),
                    "offset {offset} + {i}"
                );
            }
            assert_eq!(p.check(offset, &buf), Ok(()));
        }
    }

    #[test]
    fn check_reports_the_first_wrong_byte() {
        let p = Pattern::new(512);
        let mut buf = vec![0u8; 2000];
        p.fill(12_345, &mut buf);
        buf[1500] ^= 1;
        buf[1700] ^= 1;
        assert_eq!(
            p.check(12_345, &buf),
            Err(Mismatch {
                offset: 12_345 + 1500,
                expected: Pattern::byte_at(12_345 + 1500),
                got: Pattern::byte_at(12_345 + 1500) ^ 1,
            })
        );
    }

    #[test]
    fn a_shifted_stream_is_caught() {
        // One byte lost: everything after it is the pattern shifted by one.
        let p = Pattern::new(4096);
        let mut sent = vec![0u8; 4096];
        p.fill(0, &mut sent);
        let received: Vec<u8> = sent[..100].iter().chain(&sent[101..]).copied().collect();
        assert_eq!(p.check(0, &received).unwrap_err().offset, 100);
    }
}
