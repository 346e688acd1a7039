//! A minimal HTTP/1.1 static responder over the TCP engine's [`Endpoint`](tcp_engine::endpoint::Endpoint):
//! `GET` and `HEAD` of in-memory pages ([`site`]), persistent connections and pipelining,
//! request bodies skipped by `Content-Length`, and 400/404/405/431/501/505 for requests it
//! will not serve.
//!
//! The request head is found in the connection's receive ring in place ([`parse::HeadScanner`]
//! looks only at new bytes), copied once into the server's scratch buffer and parsed there; a
//! head longer than [`parse::MAX_REQUEST_HEAD`] is answered 431. The response head is
//! formatted into a fixed buffer and written whole; the body is written from the page as send
//! space allows. Per connection the responder keeps a few words ([`HttpConn`]); nothing
//! allocates after start-up, and hostile input costs at most a bounded scan per byte received.
//!
//! After an error response, or when the client asked to close, the server closes its sending
//! side and keeps reading (and discarding) until the client closes, so the response is not
//! cut short by a reset (RFC 9112 9.6); for at most the idle timeout after the client last
//! took any of our bytes (then it is reset: a client that neither closes nor reads cannot
//! keep the connection).
//!
//! A connection that makes no progress for the server's idle timeout is ended by
//! [`HttpConn::expire`]: 408 when a request head was begun and not finished (a slow or stuck
//! client cannot hold a connection slot forever), a plain close when it sat idle between
//! requests, a reset when a response could not be written on (a client that never reads).

pub mod parse;
pub mod response;
pub mod site;

use tcp_engine::endpoint::EndpointError;
use tcp_engine::table::SlotKey;
use tcp_engine::time::{Duration, Instant};

use super::{AppEndpoint, Ctx};
use parse::{HeadScanner, MAX_REQUEST_HEAD, Method, Reject, parse_request};
use response::{Head, MAX_RESPONSE_HEAD, Status, write_head};
use site::Site;

/// Where a response's body comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    /// A page of the site.
    Page(u32),
    /// An error text.
    Error(Status),
}

impl Body {
    fn bytes(self, site: &Site) -> &[u8] {
        match self {
            Body::Page(i) => site.page(i as usize).map_or(&[][..], |p| &p.body[..]),
            Body::Error(s) => s.error_body(),
        }
    }

    fn content_type(self, site: &Site) -> &'static str {
        match self {
            Body::Page(i) => site
                .page(i as usize)
                .map_or("text/plain", |p| p.content_type),
            Body::Error(_) => "text/plain; charset=utf-8",
        }
    }
}

/// A response being written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Response {
    status: Status,
    body: Body,
    /// HEAD: the head only.
    head_only: bool,
    keep_alive: bool,
    head_written: bool,
    /// Body bytes written so far.
    offset: usize,
}

/// What [`HttpConn::expire`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// The connection made progress recently: nothing done.
    Kept,
    /// Ended gracefully: a 408 queued, or the sending side closed.
    Ended,
    /// It must be aborted (RST): a response stalled because the client does not read, which
    /// no graceful close can finish. The caller aborts and takes the buffers back.
    Abort,
}

/// The responder's state of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpConn {
    scanner: HeadScanner,
    response: Option<Response>,
    /// Request body bytes still to skip.
    skip: u64,
    /// The client closed its sending side.
    peer_closed: bool,
    /// We closed our sending side (after a final response); input is discarded.
    closing: bool,
    /// When the connection last made progress (or started closing).
    active: Instant,
    /// Send space at the last look: when it grows, the client is taking our bytes.
    space_seen: usize,
}

impl HttpConn {
    /// A fresh connection, opened at `now`.
    pub const fn new(now: Instant) -> HttpConn {
        HttpConn {
            scanner: HeadScanner::new(),
            response: None,
            skip: 0,
            peer_closed: false,
            closing: false,
            active: now,
            space_seen: 0,
        }
    }

    /// Ends the connection if it made no progress for `timeout`: a 408 when a request head
    /// was begun, a close when it was idle between requests, and [`Expiry::Abort`] when a
    /// response could not be written on for that long (the client does not read: TCP's
    /// own timers never end that, since a receiver that acknowledges zero-window probes may
    /// keep its window shut forever) or when our side has been closed that long and the
    /// client neither closes nor takes what is left of our data (input discarded while
    /// closing does not count as progress). Counted in `http_timeouts`.
    ///
    /// # Errors
    /// The connection went away under the call (a stale key).
    pub fn expire(
        &mut self,
        ep: &mut AppEndpoint,
        key: SlotKey,
        ctx: &mut Ctx<'_>,
        timeout: Duration,
    ) -> Result<Expiry, EndpointError> {
        if ctx.now - self.active < timeout {
            return Ok(Expiry::Kept);
        }
        ctx.stats.http_timeouts += 1;
        if self.response.is_some() || self.closing {
            return Ok(Expiry::Abort);
        }
        if self.scanner.scanned() > 0 || ep.readable(key).unwrap_or(0) > 0 || self.skip > 0 {
            self.reject(Reject::Timeout, ctx);
            self.pump(ep, key, ctx)?;
        } else {
            self.close_sending(ep, key, ctx)?;
        }
        Ok(Expiry::Ended)
    }

    /// The client closed its sending side.
    pub fn peer_closed(&mut self) {
        self.peer_closed = true;
    }

    /// Does whatever the connection allows now: writes the response in progress, skips
    /// request bodies, parses the next request. Returns when nothing more can happen until
    /// more data or send space arrives.
    ///
    /// # Errors
    /// The connection went away under the call (a stale key).
    pub fn pump(
        &mut self,
        ep: &mut AppEndpoint,
        key: SlotKey,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), EndpointError> {
        loop {
            // `progress`: something moved, look again. `activity`: it was the client's
            // request or our response moving, which restarts the idle timer (bare empty lines
            // do not: a client sending only those must not hold the connection forever).
            let (mut activity, mut discarded) = (false, false);
            if self.response.is_some() {
                activity |= self.write_response(ep, key, ctx)?;
            }
            if self.skip > 0 || self.closing {
                let want = if self.closing {
                    ctx.scratch.len()
                } else {
                    usize::try_from(self.skip)
                        .unwrap_or(usize::MAX)
                        .min(ctx.scratch.len())
                };
                let n = ep.read(key, &mut ctx.scratch[..want])?;
                ctx.service.bytes_in += n as u64;
                if self.closing {
                    // Discarded: progress, not activity (see `expire`).
                    discarded = n > 0;
                } else {
                    self.skip -= n as u64;
                    activity |= n > 0;
                }
            }
            let mut progress = activity || discarded;
            if self.response.is_none() && self.skip == 0 && !self.closing {
                progress |= self.skip_empty_lines(ep, key, ctx)?;
                let request = self.next_request(ep, key, ctx)?;
                activity |= request;
                progress |= request;
            }
            if activity {
                self.active = ctx.now;
            }
            if !progress {
                break;
            }
        }
        let space = ep.send_space(key).unwrap_or(0);
        if space > self.space_seen {
            // The client acknowledged some of our bytes.
            self.active = ctx.now;
        }
        self.space_seen = space;
        let idle = self.response.is_none() && ep.readable(key).unwrap_or(0) == 0;
        if self.peer_closed && !self.closing && idle {
            self.close_sending(ep, key, ctx)?;
        }
        Ok(())
    }

    /// Closes our sending side (a FIN after what is written) and starts discarding input; the
    /// idle timer starts over, bounding how long the connection lingers.
    fn close_sending(
        &mut self,
        ep: &mut AppEndpoint,
        key: SlotKey,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), EndpointError> {
        ep.close(ctx.now, key)?;
        self.closing = true;
        self.active = ctx.now;
        Ok(())
    }

    /// Writes what send space allows of the response; true if anything was written.
    fn write_response(
        &mut self,
        ep: &mut AppEndpoint,
        key: SlotKey,
        ctx: &mut Ctx<'_>,
    ) -> Result<bool, EndpointError> {
        let Some(mut r) = self.response else {
            return Ok(false);
        };
        let mut progress = false;
        let body = r.body.bytes(ctx.site);
        if !r.head_written {
            let head = Head {
                status: r.status,
                content_type: r.body.content_type(ctx.site),
                content_length: body.len() as u64,
                keep_alive: r.keep_alive,
                date: ctx.unix_secs,
            };
            let mut out = [0u8; MAX_RESPONSE_HEAD];
            let Some(len) = write_head(&mut out, &head) else {
                // A content type too long for the head buffer: a site built wrongly. Close.
                self.response = None;
                self.close_sending(ep, key, ctx)?;
                return Ok(true);
            };
            if ep.send_space(key).unwrap_or(0) < len {
                return Ok(false);
            }
            ep.write(key, &out[..len])?;
            ctx.service.bytes_out += len as u64;
            r.head_written = true;
            progress = true;
        }
        if !r.head_only {
            while r.offset < body.len() {
                let n = ep.write(key, &body[r.offset..])?;
                if n == 0 {
                    break;
                }
                r.offset += n;
                ctx.service.bytes_out += n as u64;
                progress = true;
            }
        }
        if r.head_only || r.offset == body.len() {
            self.response = None;
            ctx.stats.http_status[r.status.index()] += 1;
            if !r.keep_alive {
                self.close_sending(ep, key, ctx)?;
            }
        } else {
            self.response = Some(r);
        }
        Ok(progress)
    }

    /// Discards empty lines before a request line (RFC 9112 2.2); true if there were any.
    fn skip_empty_lines(
        &mut self,
        ep: &mut AppEndpoint,
        key: SlotKey,
        ctx: &mut Ctx<'_>,
    ) -> Result<bool, EndpointError> {
        let mut skipped = false;
        if self.scanner.scanned() > 0 {
            return Ok(false);
        }
        loop {
            let leading = ep.buffers(key).map_or(0, |b| {
                let (a, b) = b.recv.slices(0, 64);
                a.iter()
                    .chain(b)
                    .take_while(|&&c| c == b'\r' || c == b'\n')
                    .count()
            });
            if leading == 0 {
                return Ok(skipped);
            }
            ctx.service.bytes_in += ep.read(key, &mut ctx.scratch[..leading])? as u64;
            skipped = true;
        }
    }

    /// Looks for a complete request head in the receive buffer and turns it into a response;
    /// true if it consumed a head (or refused one).
    fn next_request(
        &mut self,
        ep: &mut AppEndpoint,
        key: SlotKey,
        ctx: &mut Ctx<'_>,
    ) -> Result<bool, EndpointError> {
        let readable = ep.readable(key).unwrap_or(0);
        if readable == 0 {
            return Ok(false);
        }
        let end = ep.buffers(key).and_then(|b| {
            let (a, b) = b.recv.slices(0, MAX_REQUEST_HEAD);
            self.scanner.scan(a, b)
        });
        let Some(len) = end else {
            if readable >= MAX_REQUEST_HEAD {
                self.reject(Reject::HeadTooLarge, ctx);
                return Ok(true);
            }
            if self.peer_closed {
                self.reject(Reject::BadRequest("the request head is incomplete"), ctx);
                return Ok(true);
            }
            return Ok(false);
        };
        self.scanner = HeadScanner::new();
        let (head, path_buf) = ctx.head.split_at_mut(MAX_REQUEST_HEAD);
        let got = ep.read(key, &mut head[..len])?;
        ctx.service.bytes_in += got as u64;
        ctx.stats.http_requests += 1;
        match parse_request(&head[..got], path_buf) {
            Ok(req) => {
                self.skip = req.content_length;
                let (status, body) = match req.method {
                    Method::Other => (
                        Status::MethodNotAllowed,
                        Body::Error(Status::MethodNotAllowed),
                    ),
                    Method::Get | Method::Head => match ctx.site.find(req.path) {
                        Some(i) => (Status::Ok, Body::Page(i as u32)),
                        None => (Status::NotFound, Body::Error(Status::NotFound)),
                    },
                };
                self.response = Some(Response {
                    status,
                    body,
                    head_only: req.method == Method::Head,
                    keep_alive: req.keep_alive,
                    head_written: false,
                    offset: 0,
                });
            }
            Err(e) => self.reject(e, ctx),
        }
        Ok(true)
    }

    /// Answers a refused request with its status and closes afterwards.
    fn reject(&mut self, why: Reject, ctx: &mut Ctx<'_>) {
        let status = match why {
            Reject::BadRequest(_) => Status::BadRequest,
            Reject::HeadTooLarge => Status::HeadTooLarge,
            Reject::NotImplemented(_) => Status::NotImplemented,
            Reject::VersionNotSupported => Status::VersionNotSupported,
            Reject::Timeout => Status::RequestTimeout,
        };
        if ctx.stats.last_reject.is_none() {
            ctx.stats.last_reject = Some(why);
        }
        self.scanner = HeadScanner::new();
        self.skip = 0;
        self.response = Some(Response {
            status,
            body: Body::Error(status),
            head_only: false,
            keep_alive: false,
            head_written: false,
            offset: 0,
        });
    }
}
