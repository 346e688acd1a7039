//! The three classic byte-stream services over the TCP engine: echo (RFC 862: every byte
//! received is sent back), discard (RFC 863: every byte received is thrown away) and chargen
//! (RFC 864: the [`chargen`](super::chargen) stream is sent until the client closes; what it
//! sends is ignored).
//!
//! Each keeps two flags per connection. Echo moves at most as many bytes as the send buffer
//! has room for, so a client that does not read stalls itself (its window closes) and never
//! makes the server hold data. All three close when the client has closed and (echo) every
//! byte has been sent back. Nothing allocates. Like RFC 862-864 servers they set no time
//! limit of their own; [`StreamConn::idle`] tells the server (which may reset the connection,
//! see `ServerConfig::stream_idle`) how long nothing has moved.

use tcp_engine::endpoint::EndpointError;
use tcp_engine::table::SlotKey;
use tcp_engine::time::{Duration, Instant};

use super::{AppEndpoint, Ctx};

/// Which stream service a connection runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// RFC 862.
    Echo,
    /// RFC 863.
    Discard,
    /// RFC 864.
    Chargen,
}

/// One connection of a stream service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamConn {
    kind: StreamKind,
    /// Chargen: stream offset of the next byte to send.
    offset: u64,
    peer_closed: bool,
    closed: bool,
    /// When a byte last moved (read, written, or acknowledged by the client).
    active: Instant,
    /// Send space at the last look: when it grows, the client took our bytes.
    space_seen: usize,
}

impl StreamConn {
    /// A fresh connection of `kind`, opened at `now`.
    pub const fn new(kind: StreamKind, now: Instant) -> StreamConn {
        StreamConn {
            kind,
            offset: 0,
            peer_closed: false,
            closed: false,
            active: now,
            space_seen: 0,
        }
    }

    /// Whether no byte has moved either way for at least `limit` at `now` (a silent client,
    /// or one that keeps its window shut).
    pub fn idle(&self, now: Instant, limit: Duration) -> bool {
        now - self.active >= limit
    }

    /// The client closed its sending side.
    pub fn peer_closed(&mut self) {
        self.peer_closed = true;
    }

    /// Moves what can be moved now, and closes when the service is over.
    ///
    /// # Errors
    /// The connection went away under the call (a stale key).
    pub fn pump(
        &mut self,
        ep: &mut AppEndpoint,
        key: SlotKey,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), EndpointError> {
        let moved_before = ctx.service.bytes_in + ctx.service.bytes_out;
        match self.kind {
            StreamKind::Echo if !self.closed => loop {
                let space = ep.send_space(key).unwrap_or(0);
                let n = space
                    .min(ep.readable(key).unwrap_or(0))
                    .min(ctx.scratch.len());
                if n == 0 {
                    break;
                }
                let got = ep.read(key, &mut ctx.scratch[..n])?;
                let put = ep.write(key, &ctx.scratch[..got])?;
                ctx.service.bytes_in += got as u64;
                ctx.service.bytes_out += put as u64;
                if put != got {
                    // Cannot happen (the space was checked); counted if it ever does.
                    ctx.stats.echo_short_writes += 1;
                }
            },
            StreamKind::Chargen if !self.closed => {
                self.drain(ep, key, ctx)?;
                loop {
                    let space = ep.send_space(key).unwrap_or(0);
                    if space == 0 {
                        break;
                    }
                    let n = ep.write(key, ctx.chargen.slice(self.offset, space))?;
                    if n == 0 {
                        break;
                    }
                    self.offset += n as u64;
                    ctx.service.bytes_out += n as u64;
                }
            }
            _ => self.drain(ep, key, ctx)?,
        }
        let space = ep.send_space(key).unwrap_or(0);
        if space > self.space_seen || ctx.service.bytes_in + ctx.service.bytes_out != moved_before {
            self.active = ctx.now;
        }
        self.space_seen = space;
        if self.peer_closed && !self.closed && ep.readable(key).unwrap_or(0) == 0 {
            ep.close(ctx.now, key)?;
            self.closed = true;
        }
        Ok(())
    }

    /// Reads and drops everything readable.
    fn drain(
        &mut self,
        ep: &mut AppEndpoint,
        key: SlotKey,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), EndpointError> {
        loop {
            let n = ep.read(key, ctx.scratch)?;
            if n == 0 {
                return Ok(());
            }
            ctx.service.bytes_in += n as u64;
        }
    }
}
