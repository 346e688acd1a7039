//! The RFC 864 character generator stream: lines of 72 printable ASCII characters and CRLF,
//! each line starting one character later in the 95-character printable sequence (space to
//! `~`), the first line starting at `!` as in the RFC's example. The stream repeats every 95
//! lines (7030 bytes).
//!
//! Owns the pattern only (generation and verification); the server and the client use it.
//! Allocates only in [`Chargen::new`].

use crate::pattern::Mismatch;

/// Printable characters of a line.
pub const LINE_CHARS: usize = 72;
/// Bytes per line (characters plus CRLF).
pub const LINE_LEN: usize = LINE_CHARS + 2;
/// Printable ASCII characters (space to `~`): the period of line starts.
pub const PRINTABLE: usize = 95;
/// Bytes after which the stream repeats.
pub const CYCLE: usize = LINE_LEN * PRINTABLE;

/// The chargen byte at stream offset `offset`.
pub fn byte_at(offset: u64) -> u8 {
    let at = (offset % CYCLE as u64) as usize;
    let (line, col) = (at / LINE_LEN, at % LINE_LEN);
    match col {
        c if c < LINE_CHARS => b' ' + ((1 + line + c) % PRINTABLE) as u8,
        LINE_CHARS => b'\r',
        _ => b'\n',
    }
}

/// Two cycles of the stream, so any run of up to [`CYCLE`] bytes is one contiguous slice.
#[derive(Clone, Debug)]
pub struct Chargen {
    table: Box<[u8]>,
}

impl Default for Chargen {
    fn default() -> Self {
        Chargen::new()
    }
}

impl Chargen {
    /// Builds the table (14 KiB).
    pub fn new() -> Chargen {
        Chargen {
            table: (0..2 * CYCLE as u64).map(byte_at).collect(),
        }
    }

    /// The stream from `offset`, at most `max` bytes (and at most [`CYCLE`]).
    pub fn slice(&self, offset: u64, max: usize) -> &[u8] {
        let start = (offset % CYCLE as u64) as usize;
        &self.table[start..start + max.min(CYCLE)]
    }

    /// Checks that `got` is the stream at `offset`.
    ///
    /// # Errors
    /// The first byte that differs.
    pub fn check(&self, offset: u64, got: &[u8]) -> Result<(), Mismatch> {
        let mut at = offset;
        for piece in got.chunks(CYCLE) {
            let want = self.slice(at, piece.len());
            if want != piece {
                let i = want
                    .iter()
                    .zip(piece)
                    .position(|(a, b)| a != b)
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
    fn lines_follow_rfc_864() {
        let c = Chargen::new();
        let first = c.slice(0, LINE_LEN);
        assert!(first.starts_with(b"!\"#$%&'()*+,-./0123456789:;<=>?@ABC"));
        assert!(
            first.ends_with(b"abcdefgh\r\n"),
            "{:?}",
            String::from_utf8_lossy(first)
        );
        let second = c.slice(LINE_LEN as u64, LINE_LEN);
        assert!(second.starts_with(b"\"#$%&'"));
        assert!(second.ends_with(b"abcdefghi\r\n"));
        // Line 94 starts with the space (the sequence wrapped), line 95 is line 0 again.
        assert_eq!(byte_at((94 * LINE_LEN) as u64), b' ');
        assert_eq!(c.slice(CYCLE as u64, LINE_LEN), first);
        assert!(c.check(5, c.slice(5, 1000)).is_ok());
        let mut wrong = c.slice(100, 300).to_vec();
        wrong[17] ^= 1;
        assert_eq!(c.check(100, &wrong).unwrap_err().offset, 117);
        assert_eq!(c.slice(3, usize::MAX).len(), CYCLE);
    }
}
