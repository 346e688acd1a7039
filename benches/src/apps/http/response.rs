//! HTTP/1.1 response heads written into a fixed buffer: status line, `Date` (RFC 9110 5.6.7
//! IMF-fixdate), `Server`, `Content-Type`, `Content-Length`, `Connection` and, for 405,
//! `Allow`. Nothing allocates.
//!
//! Owns the status codes the server uses and the byte layout of a head; what to answer is
//! decided by the connection logic in the parent module.

use core::fmt::{self, Write as _};

/// Longest response head [`write_head`] produces.
pub const MAX_RESPONSE_HEAD: usize = 512;

/// Status codes the server answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// 200.
    Ok,
    /// 400.
    BadRequest,
    /// 404.
    NotFound,
    /// 405 (with `Allow: GET, HEAD`).
    MethodNotAllowed,
    /// 408 (a request head not completed in time).
    RequestTimeout,
    /// 431.
    HeadTooLarge,
    /// 501.
    NotImplemented,
    /// 505.
    VersionNotSupported,
}

impl Status {
    /// Every status, in counter order.
    pub const ALL: [Status; 8] = [
        Status::Ok,
        Status::BadRequest,
        Status::NotFound,
        Status::MethodNotAllowed,
        Status::RequestTimeout,
        Status::HeadTooLarge,
        Status::NotImplemented,
        Status::VersionNotSupported,
    ];

    /// The numeric code.
    pub const fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::HeadTooLarge => 431,
            Status::NotImplemented => 501,
            Status::VersionNotSupported => 505,
        }
    }

    /// The reason phrase.
    pub const fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::HeadTooLarge => "Request Header Fields Too Large",
            Status::NotImplemented => "Not Implemented",
            Status::VersionNotSupported => "HTTP Version Not Supported",
        }
    }

    /// Position in [`Status::ALL`] (for counters).
    pub fn index(self) -> usize {
        Status::ALL.iter().position(|&s| s == self).unwrap_or(0)
    }

    /// The short plain-text body of an error status.
    pub const fn error_body(self) -> &'static [u8] {
        match self {
            Status::Ok => b"",
            Status::BadRequest => b"400 Bad Request\n",
            Status::NotFound => b"404 Not Found\n",
            Status::MethodNotAllowed => {
                b"405 Method Not Allowed: this server answers GET and HEAD\n"
            }
            Status::RequestTimeout => b"408 Request Timeout\n",
            Status::HeadTooLarge => b"431 Request Header Fields Too Large\n",
            Status::NotImplemented => b"501 Not Implemented\n",
            Status::VersionNotSupported => b"505 HTTP Version Not Supported\n",
        }
    }
}

/// A `fmt::Write` over a fixed buffer that fails when full.
struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The IMF-fixdate of `unix_secs` (seconds since 1970-01-01 UTC), e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub struct HttpDate(pub u64);

impl fmt::Display for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0 / 86_400;
        let secs = self.0 % 86_400;
        // Civil date from days since the epoch (the proleptic Gregorian calendar, in 400-year
        // eras of 146097 days, years starting in March).
        let z = days + 719_468;
        let era = z / 146_097;
        let doe = z % 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        write!(
            f,
            "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
            DAYS[(days % 7) as usize],
            day,
            MONTHS[(month - 1) as usize],
            year,
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// What a response head says.
#[derive(Clone, Copy, Debug)]
pub struct Head<'a> {
    /// The status.
    pub status: Status,
    /// `Content-Type`.
    pub content_type: &'a str,
    /// `Content-Length` (of the representation: a HEAD response has no body but this length).
    pub content_length: u64,
    /// `Connection: keep-alive` when true, `close` otherwise.
    pub keep_alive: bool,
    /// Seconds since the Unix epoch for `Date`.
    pub date: u64,
}

/// Writes the head into `out` and returns its length (`None` if `out` is too small; at
/// least [`MAX_RESPONSE_HEAD`] always suffices for content types under 128 bytes).
pub fn write_head(out: &mut [u8], head: &Head<'_>) -> Option<usize> {
    let mut c = Cursor { buf: out, len: 0 };
    write!(
        c,
        "HTTP/1.1 {} {}\r\nDate: {}\r\nServer: ferrotoe\r\nContent-Type: {}\r\nContent-Length: \
         {}\r\nConnection: {}\r\n",
        head.status.code(),
        head.status.reason(),
        HttpDate(head.date),
        head.content_type,
        head.content_length,
        if head.keep_alive {
            "keep-alive"
        } else {
            "close"
        },
    )
    .ok()?;
    if head.status == Status::MethodNotAllowed {
        c.write_str("Allow: GET, HEAD\r\n").ok()?;
    }
    c.write_str("\r\n").ok()?;
    Some(c.len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_imf_fixdate() {
        assert_eq!(
            HttpDate(784_111_777).to_string(),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(HttpDate(0).to_string(), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            HttpDate(951_782_400).to_string(),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
        assert_eq!(
            HttpDate(4_102_444_799).to_string(),
            "Thu, 31 Dec 2099 23:59:59 GMT"
        );
    }

    #[test]
    fn heads_carry_length_connection_and_allow() {
        let mut out = [0u8; MAX_RESPONSE_HEAD];
        let n = write_head(
            &mut out,
            &Head {
                status: Status::MethodNotAllowed,
                content_type: "text/plain",
                content_length: 57,
                keep_alive: false,
                date: 0,
            },
        )
        .unwrap();
        let text = std::str::from_utf8(&out[..n]).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nContent-Length: 57\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(text.contains("\r\nAllow: GET, HEAD\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        assert_eq!(
            write_head(
                &mut out[..20],
                &Head {
                    status: Status::Ok,
                    content_type: "text/plain",
                    content_length: 1,
                    keep_alive: true,
                    date: 0,
                }
            ),
            None
        );
        for s in Status::ALL {
            assert_eq!(Status::ALL[s.index()], s);
        }
    }
}
