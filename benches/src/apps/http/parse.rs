//! Bounded HTTP/1.1 request-head parsing (RFC 9112 sections 2 to 6, the subset a static
//! server needs): finding the end of the head incrementally in a ring buffer's two slices, then
//! parsing the request line and header fields of a complete head.
//!
//! Everything is bounded by the head's length (at most [`MAX_REQUEST_HEAD`] bytes, enforced by
//! the caller) and [`MAX_HEADER_FIELDS`]; nothing allocates; malformed input of any kind is a
//! typed [`Reject`], never a panic.
//!
//! Deviations (documented choices of a static server):
//! 1. A bare LF ends a line as CRLF does (RFC 9112 2.2 allows it); a CR anywhere else is
//!    rejected.
//! 2. Any `Transfer-Encoding` in a request is answered 501: request bodies are only skipped,
//!    by `Content-Length`.
//! 3. `HTTP/1.x` with x > 1 is served as HTTP/1.1; other major versions get 505.
//! 4. The absolute form (`GET http://host/path`) is accepted and its authority ignored.

/// Longest request head (request line and header fields) the server buffers.
pub const MAX_REQUEST_HEAD: usize = 8192;
/// Most header fields in one request.
pub const MAX_HEADER_FIELDS: usize = 64;
/// Largest `Content-Length` accepted (the body is skipped, so this only bounds the number).
pub const MAX_CONTENT_LENGTH: u64 = 1 << 40;

/// Request methods the server tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`.
    Head,
    /// Any other well-formed method (answered 405).
    Other,
}

/// HTTP versions the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: closes after the response unless the client asks to keep alive.
    Http10,
    /// HTTP/1.1: persistent unless the client asks to close.
    Http11,
}

/// A parsed request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method.
    pub method: Method,
    /// The decoded path (percent-decoding applied, query and fragment removed).
    pub path: &'a [u8],
    /// The version.
    pub version: Version,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// Bytes of request body that follow the head (skipped by the server).
    pub content_length: u64,
}

/// Why a request head is refused; each maps to a status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Malformed (400); the text says what was wrong.
    BadRequest(&'static str),
    /// The head is longer than [`MAX_REQUEST_HEAD`] or has more than [`MAX_HEADER_FIELDS`]
    /// fields (431).
    HeadTooLarge,
    /// A feature the server does not implement (501).
    NotImplemented(&'static str),
    /// An HTTP major version other than 1 (505).
    VersionNotSupported,
    /// The head was not completed in time (408; decided by the connection, not the parser).
    Timeout,
}

/// Finds where a request head ends, incrementally: call [`scan`](HeadScanner::scan) with the
/// buffered bytes whenever more arrive; only the new bytes are examined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadScanner {
    scanned: usize,
    line_start: bool,
}

impl Default for HeadScanner {
    fn default() -> Self {
        HeadScanner::new()
    }
}

impl HeadScanner {
    /// A scanner at the start of a head (leading empty lines already skipped).
    pub const fn new() -> HeadScanner {
        HeadScanner {
            scanned: 0,
            line_start: false,
        }
    }

    /// Bytes examined so far.
    pub fn scanned(&self) -> usize {
        self.scanned
    }

    /// Examines the bytes of `a` then `b` (the buffered head so far, as one stream) beyond those
    /// seen before. Returns the head's length, its final empty line included, once complete.
    pub fn scan(&mut self, a: &[u8], b: &[u8]) -> Option<usize> {
        let total = a.len() + b.len();
        while self.scanned < total {
            let i = self.scanned;
            let byte = if i < a.len() { a[i] } else { b[i - a.len()] };
            self.scanned += 1;
            match byte {
                b'\n' if self.line_start => return Some(self.scanned),
                b'\n' => self.line_start = true,
                // The CR of an empty line's CRLF keeps the line empty; a CR elsewhere is
                // judged by the parser.
                b'\r' => {}
                _ => self.line_start = false,
            }
        }
        None
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Field-value bytes: visible ASCII, obs-text, space and tab (no control characters).
fn is_field_value(s: &[u8]) -> bool {
    s.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The lines of a head: split at LF, a CR before the LF removed.
struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<&'a [u8], Reject>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match self.rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
            None => (self.rest, &[][..]),
        };
        self.rest = rest;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Some(if line.contains(&b'\r') {
            Err(Reject::BadRequest("a bare CR in the request head"))
        } else {
            Ok(line)
        })
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The path of a request target, percent-decoded into `out`; returns its length.
fn decode_target(target: &[u8], out: &mut [u8]) -> Result<usize, Reject> {
    if !target.iter().all(|&b| (0x21..0x7f).contains(&b)) {
        return Err(Reject::BadRequest(
            "the request target has a byte outside visible ASCII",
        ));
    }
    let path = if target.first() == Some(&b'/') {
        target
    } else if let Some(rest) = strip_scheme(target) {
        // Absolute form: skip the authority.
        match rest
            .iter()
            .position(|&b| b == b'/' || b == b'?' || b == b'#')
        {
            Some(i) if rest[i] == b'/' => &rest[i..],
            _ => b"/",
        }
    } else {
        return Err(Reject::BadRequest(
            "the request target is neither a path (/...) nor an absolute URI",
        ));
    };
    let end = path
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(path.len());
    let path = &path[..end];
    let (mut i, mut n) = (0, 0);
    while i < path.len() {
        let b = match path[i] {
            b'%' => {
                let (hi, lo) = match (path.get(i + 1), path.get(i + 2)) {
                    (Some(&h), Some(&l)) => (hex(h), hex(l)),
                    _ => (None, None),
                };
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(Reject::BadRequest("a malformed percent-escape in the path"));
                };
                i += 3;
                hi << 4 | lo
            }
            b => {
                i += 1;
                b
            }
        };
        if b == 0 {
            return Err(Reject::BadRequest("a NUL byte in the path"));
        }
        let slot = out.get_mut(n).ok_or(Reject::HeadTooLarge)?;
        *slot = b;
        n += 1;
    }
    Ok(n)
}

fn strip_scheme(target: &[u8]) -> Option<&[u8]> {
    for scheme in [&b"http://"[..], b"https://"] {
        if target.len() >= scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return Some(&target[scheme.len()..]);
        }
    }
    None
}

fn parse_version(v: &[u8]) -> Result<Version, Reject> {
    match v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                (b'1', _) => Ok(Version::Http11),
                _ => Err(Reject::VersionNotSupported),
            }
        }
        _ => Err(Reject::BadRequest(
            "the request line's version is not HTTP/x.y",
        )),
    }
}

fn parse_content_length(v: &[u8]) -> Result<u64, Reject> {
    if v.is_empty() || v.len() > 13 || !v.iter().all(u8::is_ascii_digit) {
        return Err(Reject::BadRequest("Content-Length is not a decimal number"));
    }
    let n = v.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    if n > MAX_CONTENT_LENGTH {
        return Err(Reject::BadRequest("Content-Length is too large"));
    }
    Ok(n)
}

/// Parses a complete request head (as [`HeadScanner`] delimited it). The decoded path is
/// written to `path_buf` (at least as long as the head, e.g. [`MAX_REQUEST_HEAD`] bytes).
///
/// # Errors
/// A [`Reject`] saying what is wrong; the server answers it with its status and closes.
pub fn parse_request<'a>(head: &[u8], path_buf: &'a mut [u8]) -> Result<Request<'a>, Reject> {
    if head.len() > MAX_REQUEST_HEAD {
        return Err(Reject::HeadTooLarge);
    }
    let mut lines = Lines { rest: head };
    let line = lines
        .next()
        .ok_or(Reject::BadRequest("an empty request"))??;
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Reject::BadRequest(
            "the request line is not METHOD SP TARGET SP VERSION",
        ));
    };
    if !is_token(method) {
        return Err(Reject::BadRequest("the method is not a token"));
    }
    let method = match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        _ => Method::Other,
    };
    let version = parse_version(version)?;
    let path_len = if method == Method::Other && target == b"*" {
        0
    } else {
        decode_target(target, path_buf)?
    };
    let (mut fields, mut hosts) = (0usize, 0usize);
    let (mut close, mut keep_alive_token) = (false, false);
    let mut content_length: Option<u64> = None;
    for line in lines {
        let line = line?;
        if line.is_empty() {
            break;
        }
        fields += 1;
        if fields > MAX_HEADER_FIELDS {
            return Err(Reject::HeadTooLarge);
        }
        if matches!(line[0], b' ' | b'\t') {
            return Err(Reject::BadRequest(
                "obsolete line folding in a header field",
            ));
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(Reject::BadRequest("a header field without a colon"))?;
        let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
        if !is_token(name) {
            return Err(Reject::BadRequest(
                "a header field name is not a token (or has whitespace before the colon)",
            ));
        }
        if !is_field_value(value) {
            return Err(Reject::BadRequest(
                "a control character in a header field value",
            ));
        }
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_content_length(value)?;
            if content_length.is_some_and(|c| c != n) {
                return Err(Reject::BadRequest("conflicting Content-Length fields"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(Reject::NotImplemented(
                "transfer codings in requests (send a Content-Length instead)",
            ));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for option in value.split(|&b| b == b',').map(trim_ows) {
                close |= option.eq_ignore_ascii_case(b"close");
                keep_alive_token |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    if version == Version::Http11 && hosts != 1 {
        return Err(Reject::BadRequest(
            "an HTTP/1.1 request must carry exactly one Host field",
        ));
    }
    let keep_alive = !close && (version == Version::Http11 || keep_alive_token);
    let path: &'a [u8] = path_buf;
    Ok(Request {
        method,
        path: &path[..path_len],
        version,
        keep_alive,
        content_length: content_length.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(head: &[u8]) -> Result<(Method, Vec<u8>, Version, bool, u64), Reject> {
        let mut buf = [0u8; MAX_REQUEST_HEAD];
        parse_request(head, &mut buf).map(|r| {
            (
                r.method,
                r.path.to_vec(),
                r.version,
                r.keep_alive,
                r.content_length,
            )
        })
    }

    #[test]
    fn scanner_finds_the_empty_line_across_slices_and_calls() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nNEXT";
        let mut s = HeadScanner::new();
        assert_eq!(s.scan(&head[..10], &[]), None);
        assert_eq!(s.scanned(), 10);
        assert_eq!(s.scan(&head[..20], &head[20..26]), None);
        assert_eq!(s.scan(&head[..20], &head[20..]), Some(27));
        let mut s = HeadScanner::new();
        assert_eq!(
            s.scan(b"GET / HTTP/1.0\n\nrest", &[]),
            Some(16),
            "bare LF lines"
        );
        let mut s = HeadScanner::new();
        assert_eq!(s.scan(b"GET / HTTP/1.0\r\nA: b\r\n", b"\r"), None);
        assert_eq!(s.scan(b"GET / HTTP/1.0\r\nA: b\r\n", b"\r\n"), Some(24));
    }

    #[test]
    fn well_formed_requests() {
        assert_eq!(
            parse(b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n"),
            Ok((
                Method::Get,
                b"/index.html".to_vec(),
                Version::Http11,
                true,
                0
            ))
        );
        assert_eq!(
            parse(b"HEAD /a%20b?x=1#f HTTP/1.1\r\nhost:a\r\nConnection: foo, Close\r\n\r\n"),
            Ok((Method::Head, b"/a b".to_vec(), Version::Http11, false, 0))
        );
        assert_eq!(
            parse(b"GET / HTTP/1.0\r\n\r\n"),
            Ok((Method::Get, b"/".to_vec(), Version::Http10, false, 0))
        );
        assert_eq!(
            parse(b"GET / HTTP/1.0\nConnection: keep-alive\n\n"),
            Ok((Method::Get, b"/".to_vec(), Version::Http10, true, 0))
        );
        assert_eq!(
            parse(b"GET http://example.com:80/x?y HTTP/1.1\r\nHost: e\r\n\r\n").map(|r| r.1),
            Ok(b"/x".to_vec())
        );
        assert_eq!(
            parse(b"GET HTTP://example.com HTTP/1.1\r\nHost: e\r\n\r\n").map(|r| r.1),
            Ok(b"/".to_vec())
        );
        assert_eq!(
            parse(b"GET / HTTP/1.7\r\nHost: a\r\nContent-Length: 12\r\ncontent-length: 12\r\n\r\n"),
            Ok((Method::Get, b"/".to_vec(), Version::Http11, true, 12))
        );
        assert_eq!(
            parse(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").map(|r| r.0),
            Ok(Method::Other)
        );
        assert_eq!(
            parse(b"POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
                .map(|r| (r.0, r.4)),
            Ok((Method::Other, 5))
        );
    }

    #[test]
    fn malformed_requests_are_rejected_with_the_right_kind() {
        use Reject::*;
        let bad = |head: &[u8]| match parse(head) {
            Err(BadRequest(_)) => {}
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(head)),
        };
        bad(b"\r\n");
        bad(b"GET /\r\n\r\n");
        bad(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n");
        bad(b"GET / HTTP/1.1 x\r\nHost: a\r\n\r\n");
        bad(b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n");
        bad(b"GET index.html HTTP/1.1\r\nHost: a\r\n\r\n");
        bad(b"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n");
        bad(b"GET /%4 HTTP/1.1\r\nHost: a\r\n\r\n");
        bad(b"GET /%00 HTTP/1.1\r\nHost: a\r\n\r\n");
        bad(b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost a\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999\r\n\r\n");
        bad(b"GET / HTTP/1\r\nHost: a\r\n\r\n");
        bad(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(parse(b"GET / HTTP/2.0\r\n\r\n"), Err(VersionNotSupported));
        assert_eq!(parse(b"GET / HTTP/0.9\r\n\r\n"), Err(VersionNotSupported));
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(NotImplemented(_))
        ));
        let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..MAX_HEADER_FIELDS {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse(&many), Err(HeadTooLarge));
        assert_eq!(parse(&vec![b'a'; MAX_REQUEST_HEAD + 1]), Err(HeadTooLarge));
    }
}
