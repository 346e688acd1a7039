//! The little JSON the iperf3 control channel needs, without allocation: a bounded reader of
//! the client's parameter object (top-level keys with number, boolean, null or string
//! values; nested objects and arrays are skipped up to [`MAX_DEPTH`]), and a writer into a
//! fixed byte buffer ([`SliceWriter`]) for the server's results.
//!
//! Owns JSON syntax only; which keys mean what is the control machine's
//! ([`super::control`]). Every function does work linear in its input and never panics on
//! any byte sequence (the fuzz-style tests below feed it random bytes).

use std::fmt;

/// Deepest nesting a skipped value may have.
pub const MAX_DEPTH: usize = 8;

/// Why the parameter object was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset of the problem.
    pub at: usize,
    /// What was wrong there.
    pub what: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed JSON at byte {}: {}", self.at, self.what)
    }
}

/// A value of a top-level key, as far as the control channel cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// `true`.
    True,
    /// `false`.
    False,
    /// `null`.
    Null,
    /// A number: its integer part, saturated to `i64` (a fraction or exponent is dropped).
    Int(i64),
    /// A string (contents not decoded).
    Str,
    /// An object or array (skipped).
    Nested,
}

struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn err(&self, what: &'static str) -> JsonError {
        JsonError { at: self.at, what }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.at).copied()
    }

    fn expect(&mut self, b: u8, what: &'static str) -> Result<(), JsonError> {
        if self.peek() == Some(b) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    /// A string at the cursor (after whitespace); returns its raw contents (escapes kept).
    fn string(&mut self) -> Result<&'a [u8], JsonError> {
        self.expect(b'"', "expected a string")?;
        let start = self.at;
        loop {
            match self.s.get(self.at) {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    let raw = &self.s[start..self.at];
                    self.at += 1;
                    return Ok(raw);
                }
                Some(b'\\') => self.at += 2,
                Some(c) if *c < 0x20 => return Err(self.err("control character in a string")),
                Some(_) => self.at += 1,
            }
        }
    }

    fn literal(&mut self, word: &'static [u8], v: Value) -> Result<Value, JsonError> {
        if self.s[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(v)
        } else {
            Err(self.err("unknown literal"))
        }
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let neg = self.s.get(self.at) == Some(&b'-');
        if neg {
            self.at += 1;
        }
        let mut n: i64 = 0;
        let mut digits = 0;
        while let Some(d @ b'0'..=b'9') = self.s.get(self.at) {
            n = n.saturating_mul(10).saturating_add(i64::from(d - b'0'));
            digits += 1;
            self.at += 1;
        }
        if digits == 0 {
            return Err(self.err("expected digits"));
        }
        if self.s.get(self.at) == Some(&b'.') {
            self.at += 1;
            while let Some(b'0'..=b'9') = self.s.get(self.at) {
                self.at += 1;
            }
        }
        if let Some(b'e' | b'E') = self.s.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.s.get(self.at) {
                self.at += 1;
            }
            while let Some(b'0'..=b'9') = self.s.get(self.at) {
                self.at += 1;
            }
        }
        Ok(Value::Int(if neg { n.saturating_neg() } else { n }))
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        match self.peek() {
            Some(b'"') => self.string().map(|_| Value::Str),
            Some(b't') => self.literal(b"true", Value::True),
            Some(b'f') => self.literal(b"false", Value::False),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(open @ (b'{' | b'[')) => {
                if depth >= MAX_DEPTH {
                    return Err(self.err("nested too deeply"));
                }
                self.at += 1;
                let close = if open == b'{' { b'}' } else { b']' };
                if self.peek() == Some(close) {
                    self.at += 1;
                    return Ok(Value::Nested);
                }
                loop {
                    if open == b'{' {
                        self.string()?;
                        self.expect(b':', "expected `:`")?;
                    }
                    self.value(depth + 1)?;
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(c) if c == close => {
                            self.at += 1;
                            return Ok(Value::Nested);
                        }
                        _ => return Err(self.err("expected `,` or the closing bracket")),
                    }
                }
            }
            None => Err(self.err("unexpected end")),
            Some(_) => Err(self.err("unexpected character")),
        }
    }
}

/// Walks the JSON object `s` and calls `each(key, value)` for every top-level member (keys
/// raw, escapes not decoded). Trailing whitespace is allowed, anything else after the object
/// is not.
///
/// # Errors
/// The first syntax error, or an object nested deeper than [`MAX_DEPTH`].
pub fn for_each_member(s: &[u8], mut each: impl FnMut(&[u8], Value)) -> Result<(), JsonError> {
    let mut c = Cursor { s, at: 0 };
    c.expect(b'{', "expected an object")?;
    if c.peek() == Some(b'}') {
        c.at += 1;
    } else {
        loop {
            let key = c.string()?;
            c.expect(b':', "expected `:`")?;
            let v = c.value(1)?;
            each(key, v);
            match c.peek() {
                Some(b',') => c.at += 1,
                Some(b'}') => {
                    c.at += 1;
                    break;
                }
                _ => return Err(c.err("expected `,` or `}`")),
            }
        }
    }
    if c.peek().is_some() {
        return Err(c.err("data after the object"));
    }
    Ok(())
}

/// A `fmt::Write` into a fixed byte slice: what does not fit fails the write (nothing
/// allocates).
#[derive(Debug)]
pub struct SliceWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SliceWriter<'a> {
    /// Writes into `buf` from its start.
    pub fn new(buf: &'a mut [u8]) -> SliceWriter<'a> {
        SliceWriter { buf, len: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    fn members(s: &str) -> Result<Vec<(String, Value)>, JsonError> {
        let mut v = Vec::new();
        for_each_member(s.as_bytes(), |k, val| {
            v.push((String::from_utf8_lossy(k).into_owned(), val))
        })?;
        Ok(v)
    }

    #[test]
    fn reads_the_3_12_client_parameters() {
        let got = members(
            r#"{"tcp":true,"omit":0,"time":2,"num":0,"blockcount":0,"parallel":2,"reverse":true,
               "len":131072,"pacing_timer":1000,"client_version":"3.12","x":{"a":[1,2,{"b":null}]},
               "f":-1.5e3}"#,
        )
        .unwrap();
        let find = |k: &str| got.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        assert_eq!(find("tcp"), Some(Value::True));
        assert_eq!(find("time"), Some(Value::Int(2)));
        assert_eq!(find("parallel"), Some(Value::Int(2)));
        assert_eq!(find("len"), Some(Value::Int(131072)));
        assert_eq!(find("client_version"), Some(Value::Str));
        assert_eq!(find("x"), Some(Value::Nested));
        assert_eq!(find("f"), Some(Value::Int(-1)));
        assert_eq!(got.len(), 12);
        assert_eq!(members(" { } ").unwrap().len(), 0);
        assert_eq!(
            members(r#"{"big":99999999999999999999999}"#).unwrap()[0].1,
            Value::Int(i64::MAX)
        );
        assert_eq!(
            members(r#"{"s":"a\"b\\","t":false}"#).unwrap()[1].1,
            Value::False
        );
    }

    #[test]
    fn malformed_objects_are_typed_errors() {
        for (bad, what) in [
            ("", "expected an object"),
            ("[1]", "expected an object"),
            (r#"{"a":1"#, "expected `,` or `}`"),
            (r#"{"a" 1}"#, "expected `:`"),
            (r#"{"a":tru}"#, "unknown literal"),
            (r#"{"a":"x}"#, "unterminated string"),
            (r#"{"a":-}"#, "expected digits"),
            (r#"{"a":1} x"#, "data after the object"),
            (r#"{a:1}"#, "expected a string"),
            (r#"{"a":@}"#, "unexpected character"),
            ("{\"a\":\"\u{1}\"}", "control character in a string"),
            (r#"{"a":[[[[[[[[[[1]]]]]]]]]]}"#, "nested too deeply"),
        ] {
            assert_eq!(members(bad).unwrap_err().what, what, "{bad}");
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        // A small xorshift generator: deterministic, no dependency.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let alphabet = br#"{}[]:,"\ -0123456789.eEtruefalsn x"#;
        let mut buf = [0u8; 64];
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 64) as usize;
            for (i, b) in buf[..len].iter_mut().enumerate() {
                let r = x.rotate_left(i as u32 * 7) ^ (i as u64).wrapping_mul(0x2545_F491);
                *b = if r & 1 == 0 {
                    alphabet[(r >> 8) as usize % alphabet.len()]
                } else {
                    (r >> 16) as u8
                };
            }
            let mut n = 0;
            let _ = for_each_member(&buf[..len], |_, _| n += 1);
            assert!(n <= len);
        }
    }

    #[test]
    fn the_writer_fails_instead_of_growing() {
        let mut buf = [0u8; 8];
        let mut w = SliceWriter::new(&mut buf);
        assert!(w.is_empty());
        write!(w, "{}", 1234).unwrap();
        assert_eq!(w.len(), 4);
        assert!(write!(w, "{}", 12345).is_err());
        assert_eq!(&buf[..4], b"1234");
    }
}
