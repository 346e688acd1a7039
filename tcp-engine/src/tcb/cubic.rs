//! CUBIC congestion control (RFC 9438) for the connections whose [`TcbConfig::congestion`]
//! selects it: the multiplicative decrease with fast convergence, the congestion-avoidance
//! epoch and its K, the window function `W_cubic(t) = C * (t - K)^3 + W_max`, the
//! Reno-friendly estimate W_est, and the integer cube root K needs.
//!
//! Methods on [`Tcb`] that `congestion` calls at a congestion event and for each ACK of new
//! data in congestion avoidance. They change `cwnd`, `ssthresh`, `ca_acked` and the `cubic_*`
//! fields and flags only; never the buffers, the timers or the sequence spaces. Slow start,
//! recovery and the RTO's go-back-N stay NewReno's (`congestion`).
//!
//! # State: 4 bytes per connection, in what was padding
//! * `cubic_w_max` (2 bytes): W_max in SMSS units, saturating at 65535 segments (95 MB at
//!   MSS 1460). A window beyond that is remembered as 65535 segments: its plateau sits lower
//!   and growth past it is convex sooner, never slower than Reno.
//! * `cubic_origin` (2 bytes): the time the curve reaches W_max, `t_epoch + K`, on a clock of
//!   8.192 ms ticks (2^13 us): `W_cubic(t) = C * (t - t_epoch - K)^3 + W_max` needs no more
//!   than that. The clock wraps after 537 s; K is at most 55 s (the largest W_max), and
//!   every ACK in congestion avoidance keeps the origin at most 134 s in the past (where the
//!   cubic term is 960 000 segments: the 1.5 * cwnd clamp governs long before). An epoch
//!   sees no ACK for longer than an RTO only while the peer's window holds the data back,
//!   and that ends it (below); an offset outside [-57 s, 134 s] anyway counts as 134 s.
//! * the flag `CUBIC_EPOCH`: an epoch runs (it ends at every congestion event, idle restart,
//!   when the peer's window holds queued data back (the persist timer is armed: t leaves
//!   out such waits, RFC 9438 5.8) and at an ACK in congestion avoidance while cwnd did not
//!   limit the sender (below), and starts at the next ACK in congestion avoidance that may
//!   grow the window, from the window as it stands).
//! * the flag `CWND_LIMITED` (shared with NewReno, deviation 24): the last data segment
//!   sent left the flight within one MSS of cwnd (in slow start: more than half of cwnd),
//!   decided at every commit of a data segment (`output`).
//!
//! # Application-limited senders (RFC 9438 5.8)
//! `congestion` grows a window (of either congestion control) only while `CWND_LIMITED` is
//! set: an application that uses a tenth of the window, or a peer whose window is smaller
//! than cwnd, grows neither cwnd nor W_est, and each such ACK ends the epoch, so that once
//! cwnd limits the sender again the curve starts from the window as it stands with W_max
//! kept (K from their difference). Slow start stops at about twice the flight used. The
//! window is not reduced while unused (RFC 7661's decay is not done, deviation 24).
//! * W_est lives in `ssthresh` during congestion avoidance: it starts at the epoch's cwnd
//!   (which is at least ssthresh there) and only grows, never beyond cwnd, so "cwnd below
//!   ssthresh means slow start" still holds, and every congestion event sets ssthresh anew.
//!   `ca_acked` counts the bytes acknowledged towards W_est's next step (as it counts them
//!   towards NewReno's). A side effect: slow start after an idle restart climbs to W_est
//!   rather than to the last loss's ssthresh (Linux raises it to 3/4 cwnd there).
//!
//! # Arithmetic
//! Integer only. Byte windows: W_cubic in bytes is `W_max + 0.4 * SMSS * (t - K)^3` with t and
//! K in seconds. K = cbrt((W_max - cwnd_epoch) / (0.4 * SMSS)) is computed once per epoch
//! with an exact integer cube root (milliseconds: `K_ms^3 = dW * 2.5e9 / SMSS`). Per ACK,
//! `t + SRTT - K` is taken in milliseconds (the tick clock plus SRTT).
//!
//! [`TcbConfig::congestion`]: super::TcbConfig::congestion

use super::{Tcb, flag};
use crate::time::Instant;

/// Largest `|t - K|` the window function evaluates, in milliseconds.
const MAX_OFFSET_MS: i64 = 1 << 17;
/// The origin clock: ticks of 2^13 us (8.192 ms).
const TICK_SHIFT: u32 = 13;
/// Furthest the origin is kept in the past, in ticks (134 s).
const MAX_PAST: i16 = 1 << 14;
/// Furthest the origin can be ahead (K of the largest W_max is 55 s), in ticks (57 s).
const MAX_AHEAD: i16 = 7000;

/// The origin clock at `now` (wraps every 537 s).
#[inline]
pub(super) fn ticks(now: Instant) -> u16 {
    (now.micros() >> TICK_SHIFT) as u16
}

/// The exact integer cube root: the largest `y` with `y^3 <= x`.
///
/// Digit by digit in base 2 (three bits of `x` per bit of `y`): 22 rounds of shifts, adds
/// and two small multiplications, no division.
pub(super) fn icbrt(mut x: u64) -> u64 {
    let mut y: u64 = 0;
    let mut shift: i32 = 63;
    while shift >= 0 {
        y <<= 1;
        // (y + 1)^3 - y^3 for the candidate bit, scaled by 2^shift.
        let step = 3 * y * (y + 1) + 1;
        if (x >> shift) >= step {
            x -= step << shift;
            y += 1;
        }
        shift -= 3;
    }
    y
}

/// K in milliseconds for an epoch starting `below` bytes under W_max:
/// `cbrt(below / (C * SMSS))` seconds with C = 0.4 (RFC 9438 eq. 2), saturating at
/// `u16::MAX`.
pub(super) fn k_millis(below: u32, smss: u32) -> u16 {
    // K_ms^3 = below / (0.4 * smss) * 1e9 = below * 2.5e9 / smss; below < 2^32 (W_max is
    // at most 65535 segments of at most 65535 bytes), so the product stays below 1.1e19 < 2^64.
    let cube = u64::from(below) * 2_500_000_000 / u64::from(smss.max(1));
    icbrt(cube).min(u64::from(u16::MAX)) as u16
}

/// `W_cubic(t)` of RFC 9438 eq. 1 in bytes (never negative): `w_max + 0.4 * smss * (t - K)^3`
/// with `offset_us = t - K` in microseconds.
pub(super) fn w_cubic(w_max: u32, offset_us: i64, smss: u32) -> u64 {
    let d = (offset_us / 1000).clamp(-MAX_OFFSET_MS, MAX_OFFSET_MS);
    // C * d^3 in segments * 1e-9 (|d^3| < 2^51), then bytes: < 2^42 * 2^16.
    let c_cubed = d * d * d * 2 / 5;
    let delta = c_cubed / 1000 * i64::from(smss) / 1_000_000;
    (i64::from(w_max) + delta).max(0) as u64
}

/// W_max in SMSS units, rounded, saturating at `u16::MAX`.
fn in_segments(bytes: u64, smss: u32) -> u16 {
    let smss = u64::from(smss.max(1));
    ((bytes + smss / 2) / smss).min(u64::from(u16::MAX)) as u16
}

impl Tcb {
    /// W_max in bytes.
    #[inline]
    pub(super) fn cubic_w_max_bytes(&self, smss: u32) -> u64 {
        u64::from(self.cubic_w_max) * u64::from(smss)
    }

    /// RFC 9438 4.6 and 4.7 at a congestion event detected by fast retransmit, SACK or a tail
    /// loss probe (`cwnd` still the window before the reduction): W_max becomes cwnd, or
    /// `cwnd * (1 + beta) / 2` when the window did not regain the previous W_max (fast
    /// convergence); the epoch ends. Returns the reduced window `flight * beta_cubic` (0.7)
    /// for the FlightSize `flight`, before the caller's 2 SMSS floor.
    pub(super) fn cubic_on_loss(&mut self, flight: u32) -> u32 {
        debug_assert!(!self.hystart_running(), "cubic_w_max holds HyStart++'s RTT");
        let smss = self.payload_mss();
        let cwnd = u64::from(self.cwnd);
        let w_max = if cwnd < self.cubic_w_max_bytes(smss) {
            cwnd * 17 / 20
        } else {
            cwnd
        };
        self.cubic_w_max = in_segments(w_max, smss);
        self.flags &= !flag::CUBIC_EPOCH;
        (u64::from(flight) * 7 / 10) as u32
    }

    /// The send MSS was lowered (RFC 1191, module `icmp`) from `old_smss` payload bytes:
    /// W_max keeps its bytes in segments of the new size (cwnd keeps its bytes too), and a
    /// running epoch ends, so the next one starts from the window as it stands with K
    /// computed in the new unit. Only outside HyStart++ (which keeps an RTT in W_max's field).
    pub(super) fn cubic_on_mss_change(&mut self, old_smss: u32) {
        debug_assert!(!self.hystart_running(), "cubic_w_max holds HyStart++'s RTT");
        let bytes = u64::from(self.cubic_w_max) * u64::from(old_smss);
        self.cubic_w_max = in_segments(bytes, self.payload_mss());
        self.flags &= !flag::CUBIC_EPOCH;
    }

    /// RFC 9438 4.8 at a retransmission timeout: the epoch ends, and the next one starts with
    /// K = 0 and W_max = its starting window. Returns `FlightSize * beta_cubic`.
    pub(super) fn cubic_on_timeout(&mut self) -> u32 {
        self.cubic_w_max = 0;
        self.flags &= !flag::CUBIC_EPOCH;
        (u64::from(self.flight_size()) * 7 / 10) as u32
    }

    /// Starts a congestion-avoidance epoch at `now` with the current cwnd as cwnd_epoch:
    /// W_est = cwnd_epoch, K from W_max, or K = 0 and W_max = cwnd_epoch when the window
    /// already reaches W_max (after an RTO, or growth past the old maximum).
    fn cubic_start_epoch(&mut self, now: Instant, smss: u32) {
        debug_assert!(!self.hystart_running(), "cubic_* hold HyStart++'s RTTs");
        self.flags |= flag::CUBIC_EPOCH;
        self.ca_acked = 0;
        self.ssthresh = self.cwnd;
        let w_max = self.cubic_w_max_bytes(smss);
        let cwnd = u64::from(self.cwnd);
        let k_ticks = if w_max <= cwnd {
            self.cubic_w_max = in_segments(cwnd, smss);
            0
        } else {
            let k_us = u64::from(k_millis((w_max - cwnd) as u32, smss)) * 1000;
            ((k_us + (1 << (TICK_SHIFT - 1))) >> TICK_SHIFT) as u16
        };
        self.cubic_origin = ticks(now).wrapping_add(k_ticks);
    }

    /// `t - K` of the running epoch at `now`, in ticks, kept within [-57 s, 134 s] (module
    /// docs): an origin further in the past moves up to 134 s before `now`.
    pub(super) fn cubic_offset(&mut self, now: Instant) -> i16 {
        let now = ticks(now);
        let offset = now.wrapping_sub(self.cubic_origin) as i16;
        if (-MAX_AHEAD..=MAX_PAST).contains(&offset) {
            offset
        } else {
            self.cubic_origin = now.wrapping_sub(MAX_PAST as u16);
            MAX_PAST
        }
    }

    /// Congestion avoidance for `acked` newly acknowledged bytes at `now` (RFC 9438 4.2 to
    /// 4.5): W_est grows by `alpha_cubic * SMSS` (alpha = 3 * (1 - beta) / (1 + beta) = 9/17;
    /// 1 SMSS once W_est reaches W_max) per cwnd of acknowledged bytes; cwnd grows by
    /// `(target - cwnd) * acked / cwnd` (rounded up) towards `target = W_cubic(t + SRTT)`
    /// clamped to `[cwnd, 1.5 * cwnd]`, and is at least W_est (the Reno-friendly region).
    /// The caller applies the overall cap.
    pub(super) fn cubic_grow(&mut self, acked: u32, now: Instant) {
        let smss = self.payload_mss();
        if !self.has(flag::CUBIC_EPOCH) {
            self.cubic_start_epoch(now, smss);
        }
        let w_max = self.cubic_w_max_bytes(smss);
        // The Reno-friendly estimate, kept in ssthresh (module docs).
        self.ca_acked = self.ca_acked.saturating_add(acked);
        if self.ca_acked >= self.cwnd {
            self.ca_acked -= self.cwnd;
            let step = if u64::from(self.ssthresh) < w_max {
                smss * 9 / 17
            } else {
                smss
            };
            self.ssthresh = self.ssthresh.saturating_add(step.max(1));
        }
        // The cubic window one RTT ahead.
        let offset_us = (i64::from(self.cubic_offset(now)) << TICK_SHIFT)
            + self.rtt.srtt().micros().min(1 << 32) as i64;
        let cwnd = u64::from(self.cwnd);
        let target = w_cubic(w_max.min(u64::from(u32::MAX)) as u32, offset_us, smss)
            .clamp(cwnd, cwnd + cwnd / 2);
        // Rounded up: a truncated step would be lost on every ACK of a large window (a few
        // bytes each), while a rounded-up one never passes the target.
        let grow = ((target - cwnd) * u64::from(acked).min(cwnd)).div_ceil(cwnd.max(1));
        let cubic = (cwnd + grow).min(u64::from(u32::MAX)) as u32;
        self.cwnd = cubic.max(self.ssthresh);
    }
}
