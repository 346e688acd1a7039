//! The state machine's side of SYN cookies (RFC 4987): the SYN-ACK a listener sends without
//! keeping state, and the connection a valid cookie ACK creates. The cookie itself (making and
//! checking it) belongs to [`SynCookieCodec`](crate::table::SynCookieCodec); deciding when to
//! use cookies and finding a slot belongs to the endpoint.
//!
//! Both functions go through [`Tcb::accept`] with the SYN as the cookie describes it, so a
//! cookie connection is set up exactly as a passive open with those options would be.

use super::{AcceptError, RecvBuffer, SegmentKind, Tcb, TcbConfig, flag, len32, window_shift};
use crate::segment::{TcpFlags, TcpHeader, TcpOptions};
use crate::table::{CookieGrant, CookieOptions};
use crate::time::Instant;

impl Tcb {
    /// The options a cookie SYN-ACK answering `syn` offers under `cfg`: with timestamps (both
    /// sides want them), the peer's window scale and SACK permission as far as `cfg` takes
    /// them and our window scale for a receive buffer like `rcv`'s; without timestamps none
    /// ([`CookieOptions::NONE`]: there is nowhere to keep them).
    pub fn cookie_options<R: RecvBuffer + ?Sized>(
        cfg: &TcbConfig,
        syn: &TcpHeader,
        rcv: &R,
    ) -> CookieOptions {
        if !(cfg.timestamps && syn.options.timestamps.is_some()) {
            return CookieOptions::NONE;
        }
        let peer_wscale = syn
            .options
            .window_scale
            .filter(|_| cfg.window_scaling)
            .map(|s| s.min(14));
        CookieOptions {
            peer_wscale,
            our_wscale: peer_wscale.map_or(0, |_| window_shift(rcv.capacity())),
            sack: cfg.sack && syn.options.sack_permitted,
            timestamps: true,
        }
    }

    /// The SYN-ACK a listener answers `syn` with when it keeps no state: what a connection
    /// [`accept`](Tcb::accept)ed with initial sequence number `iss` (the cookie) would send
    /// first, offering `opts` (from [`cookie_options`](Tcb::cookie_options)) and with our
    /// TSval's low bits carrying them ([`CookieOptions::stamp`]). Ports are left to the caller.
    ///
    /// # Errors
    /// `syn` is not a plain SYN ([`AcceptError::NotASyn`]).
    pub fn cookie_syn_ack<R: RecvBuffer + ?Sized>(
        cfg: &TcbConfig,
        now: Instant,
        syn: &TcpHeader,
        iss: crate::seq::SeqNum,
        rcv: &R,
        opts: CookieOptions,
    ) -> Result<TcpHeader, AcceptError> {
        let mut seen = *syn;
        seen.options = TcpOptions {
            mss: syn.options.mss,
            window_scale: opts.peer_wscale,
            sack_permitted: opts.sack,
            timestamps: syn.options.timestamps.filter(|_| opts.timestamps),
            ..TcpOptions::default()
        };
        // ECN is not offered: a cookie has no room for it.
        seen.flags = seen.flags.without(TcpFlags::ECE | TcpFlags::CWR);
        let mut t = Tcb::accept(cfg, now, &seen, iss, rcv)?;
        if t.has(flag::WS) {
            t.rcv_wscale = opts.our_wscale;
        }
        let mut h = t.plan_syn(cfg, now, rcv, SegmentKind::SynAck).header;
        if let Some((tsval, echo)) = h.options.timestamps {
            h.options.timestamps = Some((opts.stamp(tsval), echo));
        }
        Ok(h)
    }

    /// The connection a valid cookie ACK `ack` creates: SYN-RECEIVED with our SYN-ACK sent
    /// (SND.NXT = ISS + 1, the window it offered promised), the peer's ISN and MSS as `grant`
    /// carries them, the options `opts` carries (its TSval taken as TS.Recent). Hand `ack`
    /// itself to [`on_segment`](Tcb::on_segment) next: it completes the handshake (and any
    /// data it carries is taken) as it would after a SYN-ACK sent by a connection.
    pub fn accept_cookie<R: RecvBuffer + ?Sized>(
        cfg: &TcbConfig,
        now: Instant,
        ack: &TcpHeader,
        grant: CookieGrant,
        opts: CookieOptions,
        rcv: &R,
    ) -> Tcb {
        let syn = TcpHeader {
            src_port: ack.src_port,
            dst_port: ack.dst_port,
            seq: grant.peer_isn,
            flags: TcpFlags::SYN,
            window: ack.window,
            options: TcpOptions {
                mss: Some(grant.mss),
                window_scale: opts.peer_wscale,
                sack_permitted: opts.sack,
                timestamps: ack
                    .options
                    .timestamps
                    .filter(|_| opts.timestamps)
                    .map(|(tsval, _)| (tsval, 0)),
                ..TcpOptions::default()
            },
            ..TcpHeader::default()
        };
        let mut t = match Tcb::accept(cfg, now, &syn, grant.iss, rcv) {
            Ok(t) => t,
            Err(AcceptError::NotASyn) => unreachable!("a plain SYN was built"),
        };
        if t.has(flag::WS) {
            t.rcv_wscale = opts.our_wscale;
        }
        t.snd_nxt = grant.iss + 1;
        t.snd_max = grant.iss + 1;
        let window = len32(rcv.window()).min(u32::from(u16::MAX));
        t.rcv_adv = t.rcv_nxt + window;
        t
    }
}
