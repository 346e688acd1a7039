//! What a connection does with an ICMP error the endpoint has validated (RFC 5927: the
//! quoted segment is ours and its sequence number in flight, see
//! [`Tcb::icmp_sequence_acceptable`]): RFC 1191 path MTU discovery lowers the send MSS and
//! resends the flight at once; RFC 1122 4.2.3.9 hard errors abort a connection that is not
//! yet synchronized.
//!
//! Owns the reaction only: parsing the message, matching the quote to a connection, the MTU
//! floor and the RFC 1191 plateau estimate belong to `wire` and the endpoint, which hand in
//! the new MSS. Touches `smss`, the go-back-N fields the retransmission timeout also resets
//! (SND.NXT, `recover`, the recovery flags, the scoreboard and the PRR counters), the undo
//! record (forgotten: module `undo`), CUBIC's W_max (rescaled to keep its bytes, its epoch
//! ended) and, for a hard error, the state and close reason. Never the congestion window or
//! ssthresh beyond ending a recovery as an ACK at `recover` would, never the timers, never
//! the buffers.
//!
//! Why no record of the MSS the peer announced: the MSS is only ever lowered from ICMP
//! (there is no PLPMTUD, RFC 4821/8899, and no raising it again after RFC 1191's ten
//! minutes), so `smss` always stays the minimum of the peer's MSS, ours and the path's, and
//! the peer's value is never needed again.

use super::prr::Prr;
use super::undo::Undo;
use super::{CloseReason, LossState, MIN_MSS, State, Tcb, flag};
use crate::seq::SeqNum;

impl Tcb {
    /// Whether an ICMP error quoting a segment with sequence number `seq` can be about this
    /// connection (RFC 5927 section 4.1): `seq` lies in `[SND.UNA, SND.MAX)`, what was sent
    /// and not yet acknowledged (SND.MAX is RFC 9293's SND.NXT, the highest sequence number
    /// sent plus one: after a go-back-N this engine's SND.NXT may lie below it). In SYN-SENT
    /// and SYN-RECEIVED only the SYN is outstanding, so this is `seq == ISS`; with nothing in
    /// flight (idle, TIME-WAIT, CLOSED, LISTEN) nothing is acceptable.
    pub fn icmp_sequence_acceptable(&self, seq: SeqNum) -> bool {
        !matches!(self.state, State::Closed | State::Listen)
            && self.snd_una.le(seq)
            && seq.lt(self.snd_max)
    }

    /// RFC 1191: the path to the peer carries segments of at most `mss` bytes (the next hop's
    /// MTU less 40 bytes of IPv4 and TCP headers; TCP options come off it as usual). Lowers
    /// the send MSS, never raises it, and only on a synchronized connection (a SYN or SYN-ACK
    /// is far below any MTU the endpoint accepts). When it lowered it with data in flight,
    /// resends everything from SND.UNA at once in segments of the new size (go-back-N, as
    /// after a timeout) without cutting the congestion window or ssthresh: the segments were
    /// lost to their size, not to congestion (Linux's `tcp_simple_retransmit`). A recovery in
    /// progress ends as it would at `recover`; the scoreboard is cleared, Karn's rule holds
    /// for the resent segments. Returns whether the MSS was lowered.
    pub fn on_fragmentation_needed(&mut self, mss: u16, loss: &mut LossState) -> bool {
        let mss = mss.max(MIN_MSS);
        if !self.state.is_synchronized() || mss >= self.smss {
            return false;
        }
        let old_payload = self.payload_mss();
        self.smss = mss;
        // CUBIC's W_max counts segments of the send MSS while cwnd counts bytes: it keeps its
        // bytes as cwnd does. Not while HyStart++ keeps its RTTs in the same field, nor on
        // a DCTCP connection (its state sits there: no `CUBIC` flag).
        if self.has(flag::CUBIC) && !self.hystart_running() {
            self.cubic_on_mss_change(old_payload);
        }
        if self.snd_una == self.snd_max {
            return true;
        }
        if self.has(flag::RECOVERY) {
            // As at the end of recovery: NewReno's inflation removed; in SACK recovery PRR's
            // target reached, `cwnd = ssthresh` as a full ACK sets it (RFC 6675, `cc_on_ack`),
            // even where PRR had it lower (a pipe below ssthresh).
            self.cwnd = if self.has(flag::SACK) {
                self.ssthresh
            } else {
                self.cwnd.min(self.ssthresh)
            }
            .max(self.payload_mss());
        }
        // RXT_EPISODE too, as at a timeout: the resend repeats data the peer may hold (what
        // was SACKed, the scoreboard is cleared), and a D-SACK of it is ours, not reordering
        // that DupThresh should learn from (`on_dsack`).
        self.flags &= !(flag::RECOVERY
            | flag::RXT_EPISODE
            | flag::FAST_RTX
            | flag::PARTIAL_SEEN
            | flag::RTT_TIMING
            | flag::TLP_NOW
            | flag::TLP_OUT);
        // Duplicate ACKs the old flight still draws must not start a fast retransmit of what
        // is resent now (RFC 6582's `recover`).
        self.recover = self.snd_max;
        self.dupacks = 0;
        self.snd_nxt = self.snd_una;
        loss.sb.clear(self.snd_una);
        loss.prr = Prr::EMPTY;
        // A window reduction of the episode before cannot be judged spurious any more: its
        // losses were real (the router dropped what was too big), the resend repeats bytes
        // whose D-SACKs would read as the episode's, and CUBIC's W_max in its record counts
        // segments of the old MSS. Forget it, as a timeout's go-back-N resend would not.
        loss.undo = Undo::EMPTY;
        true
    }

    /// An ICMP hard error (RFC 1122 4.2.3.9: protocol or port unreachable) for this
    /// connection. In SYN-SENT the connection is aborted with
    /// [`CloseReason::Unreachable`] (no RST: the peer has no connection) and this returns
    /// `true`; in every other state it changes nothing (RFC 5461: a synchronized connection
    /// treats it as a soft error, the peer answered before) and returns `false`.
    pub fn on_hard_error(&mut self) -> bool {
        if self.state != State::SynSent {
            return false;
        }
        self.become_closed(CloseReason::Unreachable);
        true
    }
}
