//! Congestion control and the timers that drive loss recovery: NewReno (RFC 5681, 6582, 3042,
//! 6928) with RFC 6675 SACK recovery paced by Proportional Rate Reduction (RFC 9937: what an
//! ACK delivered, `cwnd = pipe + sndcnt`; the arithmetic is in [`prr`](super::prr)), the
//! retransmission/persist/keepalive/TIME-WAIT deadlines and what happens when they expire,
//! and DupThresh learnt from D-SACKs (`on_dsack`, RFC 4653's idea, Linux's `tp->reordering`).
//!
//! Slow start, loss detection, recovery and the timers are the same for every congestion
//! control of [`TcbConfig::congestion`]; where they differ (the multiplicative decrease at
//! a congestion event, growth in congestion avoidance) a CUBIC connection (flag `CUBIC`)
//! calls into [`cubic`](super::cubic) (a DCTCP connection is NewReno here: it differs only
//! in its answer to ECN echoes, [`dctcp`](super::dctcp), reached from `ecn`), whose epoch also ends at an idle restart and when the
//! peer's window holds queued data back. Either grows the window only while cwnd limited the
//! last send (flag `CWND_LIMITED`, set by every data commit, deviation 24). The choice is one
//! flag test on the congestion-avoidance and loss paths; header prediction and GRO never
//! look at it.
//!
//! Methods on [`Tcb`]; they change `cwnd`, `ssthresh`, `recover`, the deadlines, the
//! recovery flags and the PRR counters of the [`LossState`], never the buffers or the receive
//! side.

use super::prr::{Prr, PrrAck};
use super::undo::Cut;
use super::{
    CloseReason, Events, LossState, NEVER, Reaction, RecvBuffer, State, Tcb, TcbConfig, coarse,
    flag,
};
use crate::seq::SeqNum;
use crate::time::{Duration, Instant};

/// What the scoreboard said before an ACK changed it, for Proportional Rate Reduction: the
/// bytes SACKed above the old SND.UNA, the end of the prefix deemed lost, and the fence of
/// lost-retransmission detection.
#[derive(Clone, Copy, Debug)]
pub(super) struct AckSnapshot {
    sacked: u32,
    lost_end: SeqNum,
    rxt_fence: SeqNum,
}

/// Largest congestion window (keeps every sum far from overflow).
pub(super) const MAX_CWND: u32 = 1 << 30;

impl Tcb {
    /// RFC 6928 initial window, generalised to `n` segments:
    /// `min(n * SMSS, max(2 * SMSS, n * 1460))`; one segment after a lost SYN (RFC 5681 3.1).
    pub(super) fn initial_window(&self, cfg: &TcbConfig) -> u32 {
        let smss = self.payload_mss();
        if self.has(flag::SYN_LOST) {
            return smss;
        }
        let n = u32::from(cfg.initial_window_segments.max(1));
        n.saturating_mul(smss)
            .min((2 * smss).max(n * 1460))
            .max(smss)
    }

    /// The handshake completed: ESTABLISHED, initial window, keepalive armed.
    pub(super) fn establish(&mut self, cfg: &TcbConfig, now: Instant) {
        self.state = State::Established;
        self.cwnd = self.initial_window(cfg);
        self.ssthresh = MAX_CWND;
        // DCTCP (with ECN negotiated) has no HyStart++ (module `dctcp`).
        if !self.dctcp_establish() {
            self.hystart_start(cfg);
        }
        self.recover = self.snd_una;
        self.rcv_acked = self.rcv_nxt;
        if self.has(flag::SYN_LOST) {
            self.rtt.after_syn_loss();
        } else {
            self.rtt.reset_backoff();
        }
        self.stop_rtx_timer();
        self.last_send = coarse(now);
        self.arm_keepalive(cfg, now);
        if self.has(flag::FIN_QUEUED) {
            self.state = State::FinWait1;
        }
    }

    /// Whether a tail loss probe timeout may precede the next RTO (RFC 8985 7.2): SACK in
    /// use, data outstanding, an RTT sample taken, no recovery, persist or probe under way.
    fn tlp_allowed(&self) -> bool {
        const BUSY: u32 =
            flag::RECOVERY | flag::PERSIST | flag::FAST_RTX | flag::TLP_NOW | flag::TLP_OUT;
        self.has(flag::SACK)
            && self.flags & BUSY == 0
            && matches!(
                self.state,
                State::Established
                    | State::CloseWait
                    | State::FinWait1
                    | State::Closing
                    | State::LastAck
            )
            && self.snd_max != self.snd_una
            && self.rtt.srtt().micros() > 0
    }

    /// RFC 8985 PTO: two smoothed RTTs, at least a sixteenth of the minimum RTO (timer
    /// granularity, as Linux's two-tick floor: below it, a flight still being serialised or a
    /// receive burst not yet polled would draw spurious probes), plus the delayed-ACK time when
    /// only one segment is out (its ACK may be delayed; the peer is assumed to delay as long as
    /// this host does).
    fn probe_timeout(&self, cfg: &TcbConfig) -> Duration {
        let floor = cfg.rto_min.micros() / 16;
        let mut pto = (2 * self.rtt.srtt().micros()).max(floor);
        if self.flight_size() <= self.payload_mss() {
            pto += cfg.delayed_ack.map_or(0, |d| d.micros());
        }
        Duration::from_micros(pto.max(1))
    }

    /// (Re)starts the retransmission timer at `now`; with [`Tcb::tlp_allowed`], the probe
    /// timeout goes first when it is earlier.
    pub(super) fn restart_rtx_timer(&mut self, cfg: &TcbConfig, now: Instant) {
        let rto_at = (now + self.rtt.rto(cfg)).micros();
        self.flags &= !flag::TLP_ARMED;
        self.rtx_at = rto_at;
        if self.tlp_allowed() {
            let pto_at = (now + self.probe_timeout(cfg)).micros();
            if pto_at < rto_at {
                self.rtx_at = pto_at;
                self.flags |= flag::TLP_ARMED;
            }
        }
    }

    /// Stops the retransmission timer (and a probe timeout in its place).
    pub(super) fn stop_rtx_timer(&mut self) {
        self.rtx_at = NEVER;
        self.flags &= !flag::TLP_ARMED;
    }

    /// FlightSize of RFC 5681: data sent and not acknowledged.
    #[inline]
    pub(super) fn flight_size(&self) -> u32 {
        self.snd_max - self.snd_una
    }

    /// SACK-based recovery is running.
    #[inline]
    pub(super) fn sack_recovery(&self) -> bool {
        self.flags & (flag::RECOVERY | flag::SACK) == flag::RECOVERY | flag::SACK
    }

    /// New data acknowledged (`acked` bytes, SND.UNA already advanced). Returns whether the
    /// retransmission timer restarts: outside recovery and in SACK recovery on every such ACK
    /// (RFC 6298 5.3: recovery that makes progress is never cut short by the timer), in
    /// NewReno recovery only on the first partial ACK (RFC 6582's Impatient variant: holes
    /// repaired one per round trip give way to a timeout rather than take many round trips).
    pub(super) fn cc_on_new_ack(
        &mut self,
        acked: u32,
        loss: &LossState,
        now: Instant,
        grow: bool,
    ) -> bool {
        let smss = self.payload_mss();
        if self.has(flag::RECOVERY) {
            if self.snd_una.ge(self.recover) {
                // Full acknowledgement: leave fast recovery (RFC 6582 3.2 step 3, option 1;
                // RFC 6675: cwnd = ssthresh).
                self.flags &= !(flag::RECOVERY | flag::PARTIAL_SEEN | flag::FAST_RTX);
                self.dupacks = 0;
                self.cwnd = if self.has(flag::SACK) {
                    self.ssthresh
                } else {
                    self.ssthresh
                        .min(self.flight_size().max(smss).saturating_add(smss))
                };
                self.cwnd = self.cwnd.max(smss);
                self.ca_acked = 0;
                return true;
            }
            // Partial acknowledgement.
            if self.has(flag::SACK) {
                // RFC 6675 retransmits what IsLost marks; when nothing is marked, do what
                // NewReno does (deviation 12). Also after D-SACKs raised DupThresh: once in
                // recovery, a hole the larger threshold leaves unmarked would otherwise wait
                // for the RTO (measured: a third of the timeouts, for some more
                // retransmissions).
                let boundary = loss.sb.lost_boundary(self.snd_una, smss, self.dup_thresh());
                if boundary == self.snd_una && !loss.sb.is_sacked(self.snd_una) {
                    self.flags |= flag::FAST_RTX;
                }
            } else {
                self.flags |= flag::FAST_RTX;
                self.cwnd = self.cwnd.saturating_sub(acked);
                if acked >= smss {
                    self.cwnd = self.cwnd.saturating_add(smss);
                }
                self.cwnd = self.cwnd.max(smss);
            }
            let first = !self.has(flag::PARTIAL_SEEN);
            self.flags |= flag::PARTIAL_SEEN;
            return first || self.has(flag::SACK);
        }
        self.dupacks = 0;
        if !grow {
            return true;
        }
        if !self.has(flag::CWND_LIMITED) {
            // The application or the peer's window, not cwnd, limited the last send (RFC
            // 7661's idea, Linux's rule for every congestion control): the window does not
            // grow past what is used. With CUBIC neither cwnd nor W_est grows, and the epoch
            // ends, so the curve restarts from the window as it stands (W_max kept) once cwnd
            // limits the sender again (RFC 9438 5.8).
            self.end_cubic_epoch();
            return true;
        }
        if self.cwnd < self.ssthresh {
            // Slow start, RFC 3465 byte counting with L = 2 SMSS (while cwnd limited the last
            // send: its flight was more than half of cwnd, deviation 24); a quarter of that
            // in HyStart++'s Conservative Slow Start (RFC 9406).
            let mut inc = acked.min(2 * smss);
            if self.hystart_css() {
                inc /= super::hystart::CSS_GROWTH_DIVISOR;
            }
            self.cwnd = self.cwnd.saturating_add(inc);
        } else if self.has(flag::CUBIC) {
            self.cubic_grow(acked, now);
            self.ssthresh = self.ssthresh.min(MAX_CWND);
        } else {
            // Congestion avoidance: one SMSS per cwnd of acknowledged bytes.
            debug_assert!(
                !self.hystart_running(),
                "ca_acked holds HyStart++'s windowEnd"
            );
            self.ca_acked = self.ca_acked.saturating_add(acked);
            if self.ca_acked >= self.cwnd {
                self.ca_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(smss);
            }
        }
        self.cwnd = self.cwnd.min(MAX_CWND);
        true
    }

    /// One duplicate ACK (RFC 5681 definition, already counted in `dupacks`).
    pub(super) fn cc_on_dup_ack(&mut self, cfg: &TcbConfig, loss: &mut LossState) {
        let smss = self.payload_mss();
        if self.has(flag::RECOVERY) {
            if !self.has(flag::SACK) {
                // NewReno: inflate by one segment per duplicate.
                self.cwnd = self.cwnd.saturating_add(smss).min(MAX_CWND);
            }
            return;
        }
        // Exactly the DupThresh-th duplicate (the third unless D-SACKs showed the path
        // reorders deeper), and only when the ACK covers more than `recover` (RFC 6582
        // section 3.2 step 1; our `recover` is one past the highest sequence number sent,
        // hence `>=`). RFC 6675's IsLost rule is `cc_on_sack`.
        if u32::from(self.dupacks) == self.dup_thresh() && self.may_enter_recovery() {
            self.enter_recovery(cfg, loss);
        }
    }

    /// The first SACK block of an ACK was a D-SACK (RFC 2883) for `[left, right)`. When it
    /// lies below the `recover` of the last loss recovery (flag `RXT_EPISODE`: made its own
    /// window reduction, no timeout, tail loss probe or ECN echo since) and within the
    /// largest window the peer offered below it, it reports one of that recovery's
    /// retransmissions as received twice: the original arrived after all, late, so the path
    /// reorders deeper than DupThresh. DupThresh doubles (one level, at most 24, once per
    /// recovery; RFC 4653's idea and Linux's `tp->reordering`, RFC 8985 6.2's reordering
    /// window grows on D-SACKs in the same way). A duplicate the network made of an
    /// original in that window cannot be told apart (deviation 27).
    #[cold]
    #[inline(never)]
    pub(super) fn on_dsack(&mut self, left: SeqNum, right: SeqNum) {
        if !self.has(flag::RXT_EPISODE)
            || !right.le(self.recover)
            || !left.lt(right)
            || self.recover - left > self.max_snd_wnd
        {
            return;
        }
        self.raise_reordering();
    }

    /// The last loss recovery (flag `RXT_EPISODE`) was shown spurious: DupThresh one level
    /// up (at most 24), once per recovery.
    pub(super) fn raise_reordering(&mut self) {
        self.flags &= !flag::RXT_EPISODE;
        let level = (self.reorder_level() + 1).min(3);
        self.flags =
            (self.flags & !(flag::REORDER_LO | flag::REORDER_HI)) | (level << flag::REORDER_SHIFT);
    }

    /// Whether a loss detected now may start recovery: SND.UNA has passed `recover` (RFC
    /// 6582), or `recover` marks only a window reduction outside recovery (an ECN echo, a
    /// tail loss probe), which must not leave a loss in its window to the RTO (the recovery
    /// then cuts nothing more, RFC 3168 6.1.2).
    #[inline]
    fn may_enter_recovery(&self) -> bool {
        self.snd_una.ge(self.recover) || self.has(flag::WINDOW_CUT)
    }

    /// An ACK brought new SACK information (RFC 6675 section 5, "regardless of its status as a
    /// cumulative acknowledgment"): outside recovery, IsLost(SND.UNA) -- DupThresh SACKed
    /// segments or more than (DupThresh - 1) * SMSS SACKed bytes above it -- starts loss
    /// recovery even before the DupThresh-th duplicate ACK, and even when the ACK also advanced
    /// SND.UNA (a receiver that coalesces ACKs sends few pure duplicates).
    pub(super) fn cc_on_sack(&mut self, cfg: &TcbConfig, loss: &mut LossState) {
        if self.sack_recovery() {
            // A retransmission lost again is sent again without waiting for the RTO
            // (deviation 21); the window was reduced once for this episode already.
            loss.sb.retransmissions_lost(self.snd_una, self.snd_max);
            return;
        }
        if self.has(flag::RECOVERY) || !self.may_enter_recovery() {
            return;
        }
        if self.snd_una == self.snd_max || loss.sb.is_sacked(self.snd_una) {
            return;
        }
        let smss = self.payload_mss();
        if loss.sb.lost_boundary(self.snd_una, smss, self.dup_thresh()) != self.snd_una {
            self.enter_recovery(cfg, loss);
        }
    }

    /// The slow-start threshold after a congestion event detected by fast retransmit, SACK or
    /// a tail loss probe or an ECN echo, with `cwnd` still the window before it and `flight`
    /// the FlightSize: `flight / 2` (RFC 5681 eq. 4) or, with CUBIC, `flight * 0.7` (RFC 9438
    /// 4.6, which also records W_max), at least 2 SMSS.
    pub(super) fn loss_ssthresh(&mut self, flight: u32) -> u32 {
        // The first congestion event ends the initial slow start, and HyStart++ with it (its
        // state sits in CUBIC's fields, read just below).
        self.hystart_end();
        let reduced = if self.has(flag::CUBIC) {
            self.cubic_on_loss(flight)
        } else {
            flight / 2
        };
        reduced.max(2 * self.payload_mss())
    }

    fn enter_recovery(&mut self, cfg: &TcbConfig, loss: &mut LossState) {
        let smss = self.payload_mss();
        let prior = self.undo_prior();
        // A loss in the window an ECN echo or a tail loss probe already reduced: at most one
        // reduction per window (RFC 3168 6.1.2, as Linux goes from CWR to recovery without a
        // second cut).
        let reduced_already = self.has(flag::WINDOW_CUT) && !self.snd_una.ge(self.recover);
        self.flags &= !flag::WINDOW_CUT;
        if !reduced_already {
            self.ssthresh = self.loss_ssthresh(self.flight_size());
            self.ecn_window_reduced();
        }
        self.recover = self.snd_max;
        self.flags |= flag::RECOVERY | flag::FAST_RTX;
        // Remember the window before the cut, should the recovery prove spurious (`undo`);
        // a recovery inside a window a tail loss probe reduced extends the probe's episode.
        if reduced_already {
            self.undo_extend(loss);
        } else {
            self.undo_begin(cfg.spurious_undo, loss, prior, Cut::Recovery);
        }
        // A D-SACK for one of this recovery's retransmissions will show the path reorders
        // (`on_dsack`), unless a tail loss probe or an ECN echo reduced the window first: a
        // probe's D-SACK is expected and says nothing about reordering.
        if reduced_already {
            self.flags &= !flag::RXT_EPISODE;
        } else {
            self.flags |= flag::RXT_EPISODE;
        }
        // A CUBIC epoch that began after an earlier reduction in this window ends here too
        // (growth stops during recovery; `cubic_on_loss` ends it when this is a cut).
        self.flags &= !(flag::PARTIAL_SEEN | flag::TLP_NOW);
        self.end_cubic_epoch();
        self.counters.fast_retransmits = self.counters.fast_retransmits.saturating_add(1);
        if self.has(flag::SACK) {
            loss.sb.high_rxt = self.snd_una;
            loss.sb.rxt_fence = self.snd_una;
            // PRR's RecoverFS: outstanding and not SACKed. Right for a third duplicate ACK
            // without SACK blocks, which delivered nothing, so PRR sends nothing for it but
            // the fast retransmission: cwnd = ssthresh (RFC 6675), but never more than one
            // segment beyond the pipe (no burst when the pipe is already far below ssthresh).
            // An ACK that brought blocks restarts PRR with what was SACKed before it and sets
            // cwnd from what it delivered (`prr_on_ack`).
            let sacked = loss.sb.sacked_in(self.snd_una, self.snd_max);
            loss.prr.start(self.flight_size().saturating_sub(sacked));
            let pipe = loss
                .sb
                .pipe(self.snd_una, self.snd_max, smss, self.dup_thresh());
            self.cwnd = self.ssthresh.min(pipe.saturating_add(smss)).max(smss);
        } else {
            self.cwnd = self.ssthresh.saturating_add(3 * smss);
        }
        self.ca_acked = 0;
    }

    /// RFC 5681 3.1 / 6582: a retransmission timeout collapses the window to one segment and
    /// resends from SND.UNA; ssthresh is `FlightSize / 2`, with CUBIC `FlightSize * 0.7`
    /// and a new epoch with K = 0 (RFC 9438 4.8).
    fn cc_on_timeout(&mut self, cfg: &TcbConfig, loss: &mut LossState) {
        let smss = self.payload_mss();
        // Slow start after a timeout is classic (RFC 9406 recommends HyStart++ only for
        // the initial one): `undo_prior` ends HyStart++ before it reads the window.
        let prior = self.undo_prior();
        let reduced = if self.has(flag::CUBIC) {
            self.cubic_on_timeout()
        } else {
            self.flight_size() / 2
        };
        self.ssthresh = reduced.max(2 * smss);
        self.cwnd = smss;
        // After a timeout the reordering learnt starts again from DupThresh 3: the raised
        // threshold may have held back the recovery that would have repaired the loss
        // (Linux's `tcp_enter_loss` resets it when DupThresh segments were SACKed; here
        // any timeout does, deviation 27).
        self.flags &= !(flag::REORDER_LO | flag::REORDER_HI);
        self.recover = self.snd_max;
        self.flags &= !(flag::RXT_EPISODE
            | flag::RECOVERY
            | flag::FAST_RTX
            | flag::PARTIAL_SEEN
            | flag::RTT_TIMING
            | flag::TLP_NOW
            | flag::TLP_OUT
            | flag::WINDOW_CUT);
        self.dupacks = 0;
        self.ca_acked = 0;
        self.snd_nxt = self.snd_una;
        loss.sb.clear(self.snd_una);
        loss.prr = Prr::EMPTY;
        self.ecn_window_reduced();
        self.undo_begin(cfg.spurious_undo, loss, prior, Cut::Timeout);
    }

    /// The scoreboard before an ACK with SACK blocks, or any ACK during SACK recovery, changes
    /// it (`una` = SND.UNA before the ACK).
    pub(super) fn ack_snapshot(&self, loss: &LossState, una: SeqNum) -> AckSnapshot {
        AckSnapshot {
            sacked: loss.sb.sacked_in(una, self.snd_max),
            lost_end: loss
                .sb
                .lost_boundary(una, self.payload_mss(), self.dup_thresh()),
            rxt_fence: loss.sb.rxt_fence,
        }
    }

    /// Proportional Rate Reduction (RFC 9937 section 6, see `prr`) after an ACK processed in
    /// SACK recovery that did not end it: `old_una` is SND.UNA before the ACK, `was_recovery`
    /// whether recovery ran before it (else this ACK started it), `before` the scoreboard
    /// before it (`None` without SACK: never in SACK recovery). Sets `cwnd = pipe + sndcnt`.
    /// Without a running PRR state (the endpoint had no loss state to lend when recovery
    /// started) RFC 6675 alone goes on with `cwnd = ssthresh`, as before PRR.
    #[inline(never)]
    pub(super) fn prr_on_ack(
        &mut self,
        loss: &mut LossState,
        old_una: SeqNum,
        was_recovery: bool,
        before: Option<AckSnapshot>,
    ) {
        let smss = self.payload_mss();
        let before = before.unwrap_or_else(|| self.ack_snapshot(loss, old_una));
        if !was_recovery {
            // RecoverFS: what was outstanding before the ACK that starts recovery, less what
            // was SACKed before it (RFC 9937 section 6: those bytes are never delivered
            // during the recovery; bytes newly acknowledged by this ACK are).
            loss.prr
                .start((self.snd_max - old_una).saturating_sub(before.sacked));
        }
        if !loss.prr.running() {
            self.cwnd = self.ssthresh.max(smss);
            return;
        }
        // DeliveredData: bytes newly acknowledged cumulatively plus the change in bytes
        // SACKed (bytes SACKed before and now below SND.UNA were delivered already).
        let sacked = loss.sb.sacked_in(self.snd_una, self.snd_max);
        let delivered = (u64::from(self.snd_una - old_una) + u64::from(sacked))
            .saturating_sub(u64::from(before.sacked))
            .min(u64::from(u32::MAX)) as u32;
        if delivered == 0 {
            return;
        }
        let pipe = loss
            .sb
            .pipe(self.snd_una, self.snd_max, smss, self.dup_thresh());
        // SafeACK: SND.UNA advanced and no further loss showed, neither un-SACKed bytes newly
        // deemed lost nor a retransmission found lost again.
        let lost_end = loss.sb.lost_boundary(self.snd_una, smss, self.dup_thresh());
        let from = before.lost_end.max(self.snd_una);
        let newly_lost = from.lt(lost_end) && lost_end - from > loss.sb.sacked_in(from, lost_end);
        let rxt_lost = before.rxt_fence.gt(self.snd_una) && loss.sb.rxt_fence == self.snd_una;
        let safe = was_recovery && self.snd_una.gt(old_una) && !newly_lost && !rxt_lost;
        let sndcnt = loss.prr.on_ack(PrrAck {
            delivered,
            pipe,
            ssthresh: self.ssthresh,
            smss,
            safe,
        });
        self.cwnd = pipe.saturating_add(sndcnt).clamp(1, MAX_CWND);
    }

    /// (Re)arms the keepalive deadline after activity.
    pub(super) fn arm_keepalive(&mut self, cfg: &TcbConfig, now: Instant) {
        self.keepalive_probes = 0;
        if let Some(ka) = cfg.keepalive {
            if matches!(self.state, State::Established | State::CloseWait) {
                self.aux_at = (now + ka.idle).micros();
            }
        }
    }

    /// Enters TIME-WAIT for 2 * MSL and tells the application ([`Events::TIME_WAIT`]).
    pub(super) fn enter_time_wait(&mut self, cfg: &TcbConfig, now: Instant, rx: &mut Reaction) {
        rx.events |= Events::TIME_WAIT;
        self.state = State::TimeWait;
        self.aux_at = (now + cfg.time_wait).micros();
        self.stop_rtx_timer();
        self.flags &= !(flag::PERSIST
            | flag::PROBE_NOW
            | flag::FAST_RTX
            | flag::RECOVERY
            | flag::TLP_NOW
            | flag::TLP_OUT);
    }

    /// Runs every expired deadline, then arms what the new situation needs.
    #[inline(always)]
    pub(super) fn run_timers<R: RecvBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        snd_len: u32,
        rcv: &R,
        loss: &mut LossState,
    ) {
        let t = now.micros();
        if t >= self.rtx_at {
            self.rtx_at = NEVER;
            self.on_rtx_timeout(cfg, now, snd_len, rcv, loss);
        }
        if t >= self.delack_at {
            self.delack_at = NEVER;
            self.flags |= flag::ACK_NOW;
        }
        if t >= self.aux_at {
            self.aux_at = NEVER;
            self.on_aux_timeout(cfg, now, snd_len);
        }
        self.arm_timers(cfg, now, snd_len);
    }

    fn on_rtx_timeout<R: RecvBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        snd_len: u32,
        rcv: &R,
        loss: &mut LossState,
    ) {
        if self.has(flag::TLP_ARMED) {
            // The probe timeout (RFC 8985 7.3): send a probe, then wait a whole RTO. When
            // recovery started meanwhile, only the RTO remains.
            self.flags &= !flag::TLP_ARMED;
            if self.tlp_allowed() {
                self.flags |= flag::TLP_NOW;
            }
            self.rtx_at = (now + self.rtt.rto(cfg)).micros();
            return;
        }
        if self.flags & (flag::PERSIST | flag::PROBE_NOW) != 0 {
            // The persist timer, or the probe it asked for could not leave within an RTO
            // (`unsendable`): one more unanswered probe, not a data timeout (the backoff of
            // a long-closed window is far beyond `max_retransmissions`).
            // The persist timer never gives up while the peer answers (RFC 1122 4.2.2.17),
            // but a peer that closed its window and vanished would hold the connection
            // forever: `max_retransmissions` probes in a row without any acceptable segment
            // in between close it. The count shares `keepalive_probes` (keepalive probes
            // only an idle connection, persist one with data waiting; any acceptable segment
            // clears it).
            self.flags &= !flag::PERSIST;
            if self.keepalive_probes >= cfg.max_retransmissions {
                self.become_closed(CloseReason::TimedOut);
                return;
            }
            self.keepalive_probes = self.keepalive_probes.saturating_add(1);
            self.flags |= flag::PROBE_NOW;
            self.rtt.back_off();
            return;
        }
        match self.state {
            State::SynSent | State::SynReceived => {
                if self.rtt.backoff() >= cfg.max_syn_retransmissions {
                    self.become_closed(CloseReason::TimedOut);
                    return;
                }
                self.rtt.back_off();
                self.counters.timeouts = self.counters.timeouts.saturating_add(1);
                self.flags |= flag::SYN_LOST;
                self.flags &= !flag::RTT_TIMING;
                self.snd_nxt = self.snd_una;
            }
            State::Closed | State::Listen | State::TimeWait => {}
            _ => {
                // With nothing in flight the timer was armed to end the wait for late
                // D-SACKs (`undo`), or by `unsendable`: a segment (data, our FIN, a probe, an
                // ACK or window update) could not leave. That try counts as a retransmission:
                // the next waits a backed-off RTO, and after `max_retransmissions` the
                // connection ends (deviation 32).
                const OWED: u32 = flag::ACK_NOW | flag::PROBE_NOW | flag::KEEPALIVE_NOW;
                let idle = self.snd_max == self.snd_una;
                if idle
                    && (loss.undo.active()
                        || (!self.has_unsent(snd_len)
                            && self.flags & OWED == 0
                            && !self.window_update_due(rcv)))
                {
                    self.undo_expire(loss);
                    return;
                }
                if self.rtt.backoff() >= cfg.max_retransmissions {
                    self.become_closed(CloseReason::TimedOut);
                    return;
                }
                self.rtt.back_off();
                self.counters.timeouts = self.counters.timeouts.saturating_add(1);
                if !idle {
                    self.cc_on_timeout(cfg, loss);
                }
            }
        }
    }

    fn on_aux_timeout(&mut self, cfg: &TcbConfig, now: Instant, snd_len: u32) {
        match self.state {
            State::TimeWait if self.has(flag::ACK_NOW) => {
                // The ACK of the peer's FIN has not left yet (the send phase runs timers
                // before planning): TIME-WAIT ends at the first opportunity after it.
                self.aux_at = now.micros();
            }
            State::TimeWait => self.become_closed(CloseReason::Normal),
            State::FinWait2 => self.become_closed(CloseReason::TimedOut),
            State::Established | State::CloseWait => {
                let Some(ka) = cfg.keepalive else { return };
                if self.snd_max != self.snd_una || self.has_unsent(snd_len) {
                    // Data is moving or waiting: the retransmission timer watches the peer.
                    self.aux_at = (now + ka.idle).micros();
                } else if self.keepalive_probes >= ka.probes {
                    self.become_closed(CloseReason::KeepaliveTimedOut);
                } else {
                    self.flags |= flag::KEEPALIVE_NOW;
                }
            }
            _ => {}
        }
    }

    /// The end of the data the application queued (our FIN's sequence number once closed).
    #[inline]
    pub(super) fn data_end(&self, snd_len: u32) -> crate::seq::SeqNum {
        let end = self.data_start() + snd_len;
        if self.has(flag::FIN_QUEUED) {
            end.min(self.snd_fin)
        } else {
            end
        }
    }

    /// Whether our FIN may go now and has not been sent in this pass.
    #[inline]
    pub(super) fn fin_pending(&self) -> bool {
        self.has(flag::FIN_QUEUED)
            && matches!(
                self.state,
                State::FinWait1 | State::Closing | State::LastAck
            )
            && self.snd_nxt.le(self.snd_fin)
    }

    /// Whether data or our FIN waits beyond SND.NXT.
    pub(super) fn has_unsent(&self, snd_len: u32) -> bool {
        self.snd_nxt.lt(self.data_end(snd_len)) || self.fin_pending()
    }

    /// Arms the persist timer when the window keeps queued data back, re-arms a missing
    /// retransmission timer, and applies RFC 5681's restart after idle.
    pub(super) fn arm_timers(&mut self, cfg: &TcbConfig, now: Instant, snd_len: u32) {
        if !self.state.is_synchronized() || self.state == State::TimeWait {
            return;
        }
        let unsent = self.snd_nxt.lt(self.data_end(snd_len));
        if self.snd_nxt == self.snd_una {
            // With nothing outstanding and no persist timer, an armed timer only bounds the
            // wait for late D-SACKs (`undo`): the persist timer takes its place.
            let free =
                |t: &Tcb| t.rtx_at == NEVER || (t.snd_max == t.snd_una && !t.has(flag::PERSIST));
            if unsent && free(self) && !self.has(flag::PROBE_NOW) {
                let wnd_end = self.snd_una + self.snd_wnd;
                let wnd_avail = if self.snd_nxt.lt(wnd_end) {
                    wnd_end - self.snd_nxt
                } else {
                    0
                };
                let avail = self.data_end(snd_len) - self.snd_nxt;
                if wnd_avail < avail.min(self.payload_mss()) {
                    self.flags |= flag::PERSIST;
                    self.rtx_at = (now + self.rtt.rto(cfg)).micros();
                    // Persist starts: its unanswered probes count from zero, whatever
                    // keepalive counted while the connection was idle (the count is shared;
                    // see `on_rtx_timeout`).
                    self.keepalive_probes = 0;
                    // The peer's window holds the data back: a CUBIC epoch ends, so the
                    // curve's t leaves out the wait (RFC 9438 5.8) and the next one starts
                    // from the window as it stands.
                    self.end_cubic_epoch();
                }
            }
            if self.snd_max == self.snd_una && unsent {
                let idle = u64::from(coarse(now).wrapping_sub(self.last_send)) << 8;
                if idle > self.rtt.rto(cfg).micros() {
                    self.cwnd = self.cwnd.min(self.initial_window(cfg));
                    // A CUBIC epoch restarts with the window (never set for NewReno).
                    self.end_cubic_epoch();
                }
            }
        } else if self.rtx_at == NEVER {
            self.restart_rtx_timer(cfg, now);
        }
    }
}
