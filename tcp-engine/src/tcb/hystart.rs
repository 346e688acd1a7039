//! HyStart++ (RFC 9406) for the initial slow start of NewReno and CUBIC (not DCTCP, whose
//! state takes the same fields; module `dctcp`), per [`TcbConfig::hystart`]: the minimum RTT of each round (a round ends when SND.UNA passes
//! `windowEnd`, the SND.NXT at its start) is compared with the last round's; a rise of
//! `clamp(lastRoundMinRTT / 8, min_rtt_thresh, max_rtt_thresh)` after at least
//! `N_RTT_SAMPLE` (8) samples means a queue builds at the bottleneck, and slow start gives
//! way to Conservative Slow Start (CSS: a quarter of slow start's growth). If a CSS round's
//! minimum falls below the RTT that started CSS, the rise was noise and slow start resumes;
//! after `CSS_ROUNDS` (5) rounds (the partial round CSS began in counts) congestion
//! avoidance starts with `ssthresh = cwnd`. A loss, an ECN echo, a tail loss probe's
//! reduction or an RTO ends HyStart++ as it ends any slow start; later slow starts (after an
//! RTO) are classic, as RFC 9406 recommends.
//!
//! Methods on [`Tcb`] that `input` calls for each ACK of new data while HyStart++ runs and
//! `congestion` at the start and end of the initial slow start. They change `ssthresh` and
//! the three overlaid fields below only, never `cwnd` (the growth divisor is read by
//! `congestion`), the buffers, the timers or the sequence spaces.
//!
//! # State: no byte of its own (the `Tcb` stays 176 bytes)
//! HyStart++ runs only while `ssthresh` still holds its initial value, before any
//! congestion event, and the state it needs there (about 11 bytes) lives in fields that
//! nothing else reads in that phase:
//! * `ssthresh` itself: while HyStart++ runs it is `RUNNING | bits` (above `MAX_CWND`, so
//!   `cwnd < ssthresh` still means slow start everywhere): the samples of the round (4 bits,
//!   saturating), the CSS rounds completed (3 bits) and whether CSS runs (1 bit). The public
//!   `Tcb::ssthresh` reports `MAX_CWND` then. Before the handshake completes ssthresh is
//!   `u32::MAX`, which is not `RUNNING`.
//! * `ca_acked` (4 bytes) holds `windowEnd`: NewReno counts bytes in it only in congestion
//!   avoidance, CUBIC only in an epoch (congestion avoidance); both set it to 0 at every
//!   congestion event.
//! * `cubic_w_max` (2 bytes) holds lastRoundMinRTT in slow start and cssBaselineMinRtt in
//!   CSS (RFC 9406 reads only one of them in each phase; see below), `cubic_origin` (2
//!   bytes) currentRoundMinRTT, each as a 16-bit floating-point count of microseconds
//!   (`encode`: 12 significant bits, exact below 4096 us, at most 1/2048 off above, up to
//!   134 s; `u16::MAX` is infinity). CUBIC reads W_max only at a congestion event and in
//!   congestion avoidance, the origin only in an epoch (flag `CUBIC_EPOCH`, set only in
//!   congestion avoidance).
//!
//! `hystart_end` puts all four back (`ssthresh = MAX_CWND`, the other three 0, what a
//! connection without HyStart++ holds there) and runs first in every path that leaves the
//! initial slow start: `loss_ssthresh` (fast retransmit, SACK recovery, tail loss probe, ECN
//! echo) and the RTO's `cc_on_timeout`; entering congestion avoidance after CSS sets
//! `ssthresh = cwnd` after it. Debug assertions in CUBIC's epoch start, its loss response and
//! NewReno's congestion avoidance check that HyStart++ no longer runs there.
//!
//! Sharing one slot for lastRoundMinRTT and cssBaselineMinRtt: in CSS, RFC 9406 updates
//! lastRoundMinRTT at each round start but reads it only after CSS returns to slow start.
//! Here the slot keeps the baseline through CSS, and slow start resumes with it as
//! lastRoundMinRTT until the round ends. The RFC's value there is the last CSS round's
//! minimum, which is at least the baseline unless that round had fewer than 8 samples: at
//! worst slow start resumed in the middle of a round cannot leave again before that round
//! ends.
//!
//! # RTT samples
//! RFC 9406 takes a sample from every ACK. The `Tcb` times one segment per round trip (its
//! sample counts when its ACK arrives); every other ACK of new data gives a sample from its
//! timestamp echo (`TSecr`, on the timestamp clock: the threshold is never below two ticks,
//! so quantisation never looks like a queue). These samples go to HyStart++ only; the RFC
//! 6298 estimator keeps its own rule (`input`). Only ACKs that arrive while cwnd limits the
//! sender (flag `CWND_LIMITED`, the verdict that also gates growth) are looked at: an
//! application-limited flight neither grows the window nor builds a queue, and a
//! request-response connection never calls in here. Without timestamps a round has one sample,
//! never the 8 a decision needs, and slow start stays classic (deviation 29).
//!
//! [`TcbConfig::hystart`]: super::TcbConfig::hystart

use super::congestion::MAX_CWND;
use super::{Tcb, TcbConfig, flag};
use crate::seq::SeqNum;
use crate::time::Instant;

/// RFC 9406: samples a round needs before HyStart++ decides anything.
pub(super) const N_RTT_SAMPLE: u32 = 8;
/// RFC 9406: the RTT threshold is lastRoundMinRTT divided by this (before the clamp).
const MIN_RTT_DIVISOR: u32 = 8;
/// RFC 9406: CSS grows the window this many times slower than slow start.
pub(super) const CSS_GROWTH_DIVISOR: u32 = 4;
/// RFC 9406: rounds of CSS before congestion avoidance.
pub(super) const CSS_ROUNDS: u32 = 5;

/// `ssthresh` while HyStart++ runs is `RUNNING | bits` (bits below 2^16).
const RUNNING: u32 = MAX_CWND | 1 << 16;
/// The part of `ssthresh` that says HyStart++ runs.
const RUNNING_MASK: u32 = !0xFFFF;
/// Conservative Slow Start runs.
const CSS: u32 = 1 << 15;
/// Samples of the round so far (saturating at 15).
const SAMPLES: u32 = 0xF;
/// CSS rounds completed.
const ROUNDS_SHIFT: u32 = 4;
const ROUNDS: u32 = 0x7 << ROUNDS_SHIFT;

/// An RTT not measured yet (RFC 9406's infinity).
const INFINITE: u16 = u16::MAX;
/// Significant bits of an encoded RTT.
const SIG_BITS: u32 = 12;

/// An RTT in microseconds as a 16-bit float: exact below 4096 us, then 12 significant bits
/// and a 4-bit exponent, up to 2^27 us (134 s; more saturates). Monotone: `a <= b` implies
/// `encode(a) <= encode(b)`, so minima are taken on the codes. Never [`INFINITE`].
pub(super) fn encode(us: u32) -> u16 {
    let us = us.min((1 << 27) - 1);
    if us < 1 << SIG_BITS {
        return us as u16;
    }
    let exp = 32 - us.leading_zeros() - SIG_BITS;
    let code = (exp << SIG_BITS) | ((us >> exp) & ((1 << SIG_BITS) - 1));
    code.min(u32::from(INFINITE) - 1) as u16
}

/// The microseconds of an [`encode`]d RTT (rounded down to its precision).
pub(super) fn decode(code: u16) -> u32 {
    let code = u32::from(code);
    let exp = code >> SIG_BITS;
    let sig = code & ((1 << SIG_BITS) - 1);
    if exp == 0 { sig } else { sig << exp }
}

impl Tcb {
    /// Whether HyStart++ runs (the initial slow start, before any congestion event).
    #[inline]
    pub(super) fn hystart_running(&self) -> bool {
        self.ssthresh & RUNNING_MASK == RUNNING
    }

    /// Whether Conservative Slow Start runs: slow start's growth divided by
    /// [`CSS_GROWTH_DIVISOR`].
    #[inline]
    pub(super) fn hystart_css(&self) -> bool {
        self.ssthresh & (RUNNING_MASK | CSS) == RUNNING | CSS
    }

    /// The initial slow start begins (the handshake completed; `ssthresh` is set to its
    /// initial value by the caller first): with [`TcbConfig::hystart`] the first round ends
    /// at the first ACK of new data.
    pub(super) fn hystart_start(&mut self, cfg: &TcbConfig) {
        if cfg.hystart.is_some() {
            self.ssthresh = RUNNING;
            self.ca_acked = self.snd_nxt.0;
            self.cubic_w_max = INFINITE;
            self.cubic_origin = INFINITE;
        }
    }

    /// HyStart++ stops (no-op when it does not run): the overlaid fields get what a
    /// connection without it holds there (module docs), `ssthresh` its initial value.
    #[inline]
    pub(super) fn hystart_end(&mut self) {
        if self.hystart_running() {
            self.ssthresh = MAX_CWND;
            self.ca_acked = 0;
            self.cubic_w_max = 0;
            self.cubic_origin = 0;
        }
    }

    /// Tests: sets ssthresh as a congestion event would, ending HyStart++ first.
    #[cfg(test)]
    pub(crate) fn set_ssthresh(&mut self, ssthresh: u32) {
        self.hystart_end();
        self.ssthresh = ssthresh;
    }

    /// One ACK of new data while HyStart++ runs (SND.UNA already advanced): the round's
    /// bookkeeping and the decisions of RFC 9406 section 4.3. `timed_us` is the RTT of the
    /// timed segment when this ACK completed it (0: none), `tsecr` the ACK's timestamp echo.
    /// Returns whether slow start was left for CSS (for the endpoint's counter). May end
    /// HyStart++ into congestion avoidance (`ssthresh = cwnd`).
    #[inline(never)]
    pub(super) fn hystart_on_ack(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        timed_us: u32,
        tsecr: Option<u32>,
    ) -> bool {
        let Some(hs) = cfg.hystart else {
            self.hystart_end();
            return false;
        };
        let mut bits = self.ssthresh & !RUNNING_MASK;
        // windowEnd lies in [SND.UNA, SND.MAX] while its round runs. Beyond (SND.UNA passed
        // it, or it is so stale, after a long application-limited phase that skipped this
        // bookkeeping, that the sequence space wrapped past it) a new round begins with this
        // ACK, which covers data sent after the old round began (as Linux; the ACK of
        // windowEnd itself still belongs to the old round), ending at what is sent by now.
        if SeqNum(self.ca_acked) - self.snd_una > self.snd_max - self.snd_una {
            self.ca_acked = self.snd_max.0;
            if bits & CSS != 0 {
                let rounds = ((bits & ROUNDS) >> ROUNDS_SHIFT) + 1;
                if rounds >= CSS_ROUNDS {
                    // Congestion avoidance (RFC 9406 4.3: ssthresh = cwnd).
                    self.hystart_end();
                    self.ssthresh = self.cwnd.max(2 * self.payload_mss()).min(MAX_CWND);
                    return false;
                }
                // The slot keeps cssBaselineMinRtt through CSS (module docs).
                bits = (bits & !ROUNDS) | rounds << ROUNDS_SHIFT;
            } else {
                // lastRoundMinRTT = currentRoundMinRTT.
                self.cubic_w_max = self.cubic_origin;
            }
            self.cubic_origin = INFINITE;
            bits &= !SAMPLES;
        }
        let sample = if timed_us != 0 {
            Some(u64::from(timed_us))
        } else if self.has(flag::TS) {
            tsecr.and_then(|ecr| self.ts_rtt_us(cfg, now, ecr))
        } else {
            None
        };
        let mut left = false;
        if let Some(us) = sample {
            let code = encode(us.min(u64::from(u32::MAX)) as u32);
            self.cubic_origin = self.cubic_origin.min(code);
            let samples = (bits & SAMPLES) + 1;
            bits = (bits & !SAMPLES) | samples.min(SAMPLES);
            if samples >= N_RTT_SAMPLE {
                if bits & CSS != 0 {
                    if self.cubic_origin < self.cubic_w_max {
                        // The rise was not a queue: back to slow start, the baseline serving
                        // as lastRoundMinRTT until the round ends.
                        bits &= !(CSS | ROUNDS);
                    }
                } else if self.cubic_w_max != INFINITE {
                    let last = decode(self.cubic_w_max);
                    let tick_floor = if self.has(flag::TS) {
                        2 * cfg.tick_us()
                    } else {
                        0
                    };
                    let floor = hs.min_rtt_thresh.micros().max(tick_floor);
                    let thresh = u64::from(last / MIN_RTT_DIVISOR)
                        .min(hs.max_rtt_thresh.micros())
                        .max(floor);
                    if u64::from(decode(self.cubic_origin)) >= u64::from(last) + thresh {
                        // cssBaselineMinRtt = currentRoundMinRTT; CSS from here.
                        self.cubic_w_max = self.cubic_origin;
                        bits = (bits & !ROUNDS) | CSS;
                        left = true;
                    }
                }
            }
        }
        self.ssthresh = RUNNING | bits;
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_monotone_and_close() {
        let mut prev = 0;
        for us in (0..1u32 << 27).step_by(997).chain([(1 << 27) - 1]) {
            let code = encode(us);
            assert!(code >= prev, "monotone at {us}");
            assert_ne!(code, INFINITE);
            let back = decode(code);
            assert!(
                back <= us && u64::from(us - back) * 2048 <= u64::from(us),
                "{us} -> {back}"
            );
            prev = code;
        }
        for us in 0..4096 {
            assert_eq!(decode(encode(us)), us);
        }
        assert_eq!(encode(u32::MAX), encode((1 << 27) - 1));
        assert!(encode(4095) < encode(4096) && encode(4096) <= encode(4097));
    }
}
