//! SEGMENT ARRIVES (RFC 9293 3.10.7) with RFC 5961 and RFC 7323 checks: acceptability, RST and
//! SYN validation, ACK processing, reassembly into the user's receive buffer, FIN.
//!
//! Methods on [`Tcb`]. Never answers by itself except through the stateless [`Reaction::reply`]
//! (RSTs); every ACK it wants is a flag that [`Tcb::poll_transmit`] turns into a segment.

use super::reasm::Insert;
use super::{
    CloseReason, DropReason, Events, LossState, MAX_PAYLOAD, NEVER, PAWS_IDLE_SECS, Reaction,
    RecvBuffer, SendBuffer, State, Tcb, TcbConfig, coarse, flag, len32, reset_for, secs32, us32,
};
use crate::segment::{SackBlock, TcpFlags, TcpHeader};
use crate::seq::SeqNum;
use crate::time::{Duration, Instant};

/// RFC 9293 3.10.7.4 segment acceptability.
fn acceptable(seq: SeqNum, seg_len: u32, rcv_nxt: SeqNum, wnd: u32) -> bool {
    let end = rcv_nxt + wnd;
    match (seg_len, wnd) {
        (0, 0) => seq == rcv_nxt,
        (0, _) => seq.in_window(rcv_nxt, end),
        (_, 0) => false,
        _ => seq.in_window(rcv_nxt, end) || (seq + (seg_len - 1)).in_window(rcv_nxt, end),
    }
}

/// Whether the first of an ACK's SACK blocks is a D-SACK (RFC 2883 section 4): it lies at or
/// below the cumulative ACK, or inside the second block.
fn is_dsack(ack: SeqNum, blocks: &[SackBlock]) -> bool {
    match blocks {
        [first, rest @ ..] if first.left.lt(first.right) => {
            first.right.le(ack)
                || rest.first().is_some_and(|second| {
                    second.left.le(first.left) && first.right.le(second.right)
                })
        }
        _ => false,
    }
}

fn rst_reply(seg: &TcpHeader) -> TcpHeader {
    TcpHeader {
        src_port: seg.dst_port,
        dst_port: seg.src_port,
        seq: seg.ack,
        flags: TcpFlags::RST,
        ..TcpHeader::default()
    }
}

impl Tcb {
    /// Processes one received segment addressed to this connection (parsed, checksum
    /// verified). `payload` is the segment's data; `snd` and `rcv` are the connection's
    /// buffers (acknowledged bytes leave `snd`, received bytes land in `rcv`); `loss` its
    /// loss-recovery state (see [`LossState`]). Call
    /// [`Tcb::poll_transmit`] afterwards: the segment may have made an ACK or data due.
    #[allow(clippy::too_many_arguments)]
    pub fn on_segment<S: SendBuffer + ?Sized, R: RecvBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        seg: &TcpHeader,
        payload: &[u8],
        snd: &mut S,
        rcv: &mut R,
        loss: &mut LossState,
    ) -> Reaction {
        let mut rx = Reaction::default();
        self.on_segment_into(cfg, now, seg, payload, snd, rcv, loss, &mut rx);
        rx
    }

    /// [`on_segment`](Self::on_segment), reporting into `rx` (which must be
    /// `Reaction::default()`): for a caller that keeps the reaction where it reads it, rather
    /// than have it copied out of a return value right after it was written.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn on_segment_into<S: SendBuffer + ?Sized, R: RecvBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        seg: &TcpHeader,
        payload: &[u8],
        snd: &mut S,
        rcv: &mut R,
        loss: &mut LossState,
        rx: &mut Reaction,
    ) {
        let was_closed = self.state == State::Closed;
        if payload.len() > MAX_PAYLOAD {
            self.dropped(rx, DropReason::Oversized);
            return;
        }
        match self.state {
            State::Closed => {
                rx.reply = reset_for(seg, payload.len());
                self.dropped(rx, DropReason::Closed);
            }
            State::Listen => self.rx_listen(seg, payload, rx),
            State::SynSent => self.rx_syn_sent(cfg, now, seg, rcv, rx),
            _ => self.rx_synchronized(cfg, now, seg, payload, snd, rcv, loss, rx),
        }
        if self.state == State::Closed && !was_closed {
            rx.events |= Events::CLOSED;
        }
        self.arm_timers(cfg, now, len32(snd.len()));
    }

    fn dropped(&mut self, rx: &mut Reaction, reason: DropReason) {
        rx.dropped = Some(reason);
        self.counters.dropped_segments = self.counters.dropped_segments.saturating_add(1);
    }

    /// A challenge ACK (RFC 5961), rate limited.
    fn challenge_ack(&mut self, cfg: &TcbConfig, now: Instant) {
        if self.rate_limited_ack(cfg, now) {
            self.counters.challenge_acks = self.counters.challenge_acks.saturating_add(1);
        }
    }

    fn rx_listen(&mut self, seg: &TcpHeader, payload: &[u8], rx: &mut Reaction) {
        if seg.flags.rst() {
            self.dropped(rx, DropReason::ListenRst);
        } else if seg.flags.ack() {
            rx.reply = reset_for(seg, payload.len());
            self.dropped(rx, DropReason::ListenAck);
        } else if seg.flags.syn() {
            rx.events |= Events::SYN_TO_LISTENER;
        } else {
            self.dropped(rx, DropReason::ListenNoSyn);
        }
    }

    fn rx_syn_sent<R: RecvBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        seg: &TcpHeader,
        rcv: &R,
        rx: &mut Reaction,
    ) {
        let f = seg.flags;
        if f.ack() && (seg.ack.le(self.snd_una) || seg.ack.gt(self.snd_max)) {
            if !f.rst() {
                rx.reply = Some(rst_reply(seg));
            }
            self.dropped(rx, DropReason::SynSentBadAck);
            return;
        }
        if f.rst() {
            if f.ack() {
                self.become_closed(CloseReason::Refused);
                rx.events |= Events::RESET | Events::CLOSED;
            } else {
                self.dropped(rx, DropReason::SynSentRstNoAck);
            }
            return;
        }
        if !f.syn() {
            self.dropped(rx, DropReason::SynSentNoSyn);
            return;
        }
        self.take_peer_syn(cfg, now, seg);
        self.ecn_take_peer_syn(f);
        // What our SYN advertised (unscaled).
        self.rcv_adv = self.rcv_nxt + len32(rcv.window()).min(u32::from(u16::MAX));
        self.snd_wl1 = seg.seq;
        if f.ack() {
            self.snd_una = seg.ack;
            self.snd_nxt = self.snd_nxt.max(self.snd_una);
            self.snd_wl2 = seg.ack;
            self.take_syn_rtt_sample(cfg, now);
            self.establish(cfg, now);
            self.flags |= flag::ACK_NOW;
            rx.events |= Events::ESTABLISHED;
            self.ecn_established(rx);
        } else {
            // Simultaneous open: answer with SYN-ACK carrying our ISS again.
            self.state = State::SynReceived;
            self.snd_nxt = self.snd_una;
            self.snd_wl2 = self.snd_una;
            self.flags &= !flag::RTT_TIMING;
        }
    }

    fn take_syn_rtt_sample(&mut self, cfg: &TcbConfig, now: Instant) {
        if self.has(flag::RTT_TIMING) && !self.has(flag::SYN_LOST) {
            let rtt = us32(now).wrapping_sub(self.rtt_start);
            self.rtt.sample(cfg, Duration::from_micros(u64::from(rtt)));
        }
        self.flags &= !flag::RTT_TIMING;
    }

    /// Receive window: what was advertised and not yet filled.
    #[inline]
    pub(super) fn rcv_wnd(&self) -> u32 {
        if self.rcv_adv.gt(self.rcv_nxt) {
            self.rcv_adv - self.rcv_nxt
        } else {
            0
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn rx_synchronized<S: SendBuffer + ?Sized, R: RecvBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        seg: &TcpHeader,
        payload: &[u8],
        snd: &mut S,
        rcv: &mut R,
        loss: &mut LossState,
        rx: &mut Reaction,
    ) {
        let mut seq = seg.seq;
        let mut flags = seg.flags;

        // A repeated SYN of the peer in SYN-RECEIVED: our SYN-ACK was lost, or this is the
        // SYN-ACK of a simultaneous open. Strip the SYN; the rest (an ACK) may complete the
        // handshake.
        if self.state == State::SynReceived
            && flags.syn()
            && !flags.rst()
            && seq == self.rcv_nxt - 1
        {
            flags = flags.without(TcpFlags::SYN);
            seq += 1;
            if !flags.ack() {
                self.ecn_take_repeated_syn(flags);
                self.flags |= flag::SYNACK_NOW;
                self.dropped(rx, DropReason::DuplicateSyn);
                return;
            }
        }

        // PAWS (RFC 7323 5.3), before the sequence check.
        if self.has(flag::TS) {
            match seg.options.timestamps {
                None if !flags.rst() => {
                    self.dropped(rx, DropReason::MissingTimestamp);
                    return;
                }
                Some((tsval, _))
                    if !flags.rst()
                        && self.has(flag::TS_RECENT)
                        && (tsval.wrapping_sub(self.ts_recent) as i32) < 0
                        && secs32(now).wrapping_sub(self.ts_recent_secs) <= PAWS_IDLE_SECS =>
                {
                    if payload.is_empty() && !flags.fin() && !flags.syn() {
                        self.rate_limited_ack(cfg, now);
                    } else {
                        self.flags |= flag::ACK_NOW;
                        if !payload.is_empty() && seq.lt(self.rcv_nxt) {
                            // An old copy of data received since (a segment the path held
                            // back, overtaken by its retransmission, whose later timestamp
                            // moved TS.Recent on): a duplicate, reported as a D-SACK up to
                            // RCV.NXT, as Linux does, so the sender learns its
                            // retransmission was spurious.
                            let end = (seq + len32(payload.len())).min(self.rcv_nxt);
                            self.note_duplicate(loss, seq, end);
                        }
                    }
                    self.dropped(rx, DropReason::Paws);
                    return;
                }
                _ => {}
            }
        }

        // Sequence check (RFC 9293 3.10.7.4 first).
        let seg_len = len32(payload.len()) + u32::from(flags.syn()) + u32::from(flags.fin());
        let wnd = self.rcv_wnd();
        let mut zero_window_probe = false;
        if !acceptable(seq, seg_len, self.rcv_nxt, wnd) {
            if wnd == 0 && seq == self.rcv_nxt && !flags.syn() && !flags.rst() {
                // Special allowance: with a zero window, still take the ACK (and answer the
                // peer's window probe).
                zero_window_probe = true;
            } else {
                if flags.rst() {
                    self.dropped(rx, DropReason::RstOutOfWindow);
                    return;
                }
                if flags.syn() {
                    self.challenge_ack(cfg, now);
                    self.dropped(rx, DropReason::SynInSynchronized);
                    return;
                }
                if self.state == State::TimeWait && flags.fin() && seq + seg_len == self.rcv_nxt {
                    // A retransmitted FIN: re-ACK it and restart 2 * MSL.
                    self.aux_at = (now + cfg.time_wait).micros();
                }
                if seg_len > 0 {
                    self.flags |= flag::ACK_NOW;
                    let end = seq + len32(payload.len());
                    if end.le(self.rcv_nxt) {
                        // All of it was received before.
                        self.note_duplicate(loss, seq, end);
                    }
                } else {
                    self.rate_limited_ack(cfg, now);
                }
                self.dropped(rx, DropReason::OutOfWindow);
                return;
            }
        }

        // RST (RFC 5961 3.2).
        if flags.rst() {
            if seq == self.rcv_nxt {
                match self.state {
                    State::TimeWait => {
                        // RFC 1337: ignore RSTs in TIME-WAIT.
                        self.dropped(rx, DropReason::RstInTimeWait);
                    }
                    State::SynReceived if self.has(flag::PASSIVE) => {
                        *self = Tcb::listen(cfg);
                        // Nothing of the reset connection carries over to the next one.
                        *loss = LossState::EMPTY;
                        rx.events |= Events::RESET | Events::BACK_TO_LISTEN;
                    }
                    State::SynReceived => {
                        self.become_closed(CloseReason::Refused);
                        rx.events |= Events::RESET;
                    }
                    _ => {
                        self.become_closed(CloseReason::Reset);
                        rx.events |= Events::RESET;
                    }
                }
            } else {
                self.challenge_ack(cfg, now);
                self.dropped(rx, DropReason::RstNotExact);
            }
            return;
        }

        // SYN in the window of a synchronized connection (RFC 5961 4.2).
        if flags.syn() {
            self.challenge_ack(cfg, now);
            self.dropped(rx, DropReason::SynInSynchronized);
            return;
        }

        if !flags.ack() {
            self.dropped(rx, DropReason::NoAck);
            return;
        }

        // Timestamps: TS.Recent (RFC 7323 4.3) for segments covering Last.ACK.sent.
        if self.has(flag::TS) {
            if let Some((tsval, _)) = seg.options.timestamps {
                if seq.le(self.rcv_acked)
                    && (tsval.wrapping_sub(self.ts_recent) as i32 >= 0
                        || !self.has(flag::TS_RECENT))
                {
                    self.ts_recent = tsval;
                    self.ts_recent_secs = secs32(now);
                    self.flags |= flag::TS_RECENT;
                }
            }
        }

        if self.state == State::SynReceived {
            if seg.ack.gt(self.snd_una) && seg.ack.le(self.snd_max) {
                // Our SYN is acknowledged.
                self.snd_una += 1;
                self.snd_nxt = self.snd_nxt.max(self.snd_una);
                self.take_syn_rtt_sample(cfg, now);
                self.establish(cfg, now);
                rx.events |= Events::ESTABLISHED;
                self.ecn_established(rx);
                self.snd_wnd = u32::from(seg.window) << self.snd_wscale;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = seq;
                self.snd_wl2 = seg.ack;
            } else {
                rx.reply = Some(rst_reply(seg));
                self.dropped(rx, DropReason::SynReceivedBadAck);
                return;
            }
        }

        let una_before = self.snd_una;
        if !self.process_ack(cfg, now, seq, seg, payload.len(), flags, snd, loss, rx) {
            return;
        }
        // ECN (RFC 3168): the peer's echo once the ACK moved SND.UNA and recovery state, its
        // CWR, then a CE mark on its data.
        if self.has(flag::ECN) {
            self.ecn_on_segment(flags, seq, seg.ack, una_before, !payload.is_empty(), rx);
        }

        let fin_acked = self.has(flag::FIN_SENT) && self.snd_una.gt(self.snd_fin);
        match self.state {
            State::FinWait1 if fin_acked => {
                self.state = State::FinWait2;
                self.aux_at = cfg.fin_wait2_timeout.map_or(NEVER, |d| (now + d).micros());
            }
            State::Closing if fin_acked => self.enter_time_wait(cfg, now, rx),
            State::LastAck if fin_acked => {
                self.become_closed(CloseReason::Normal);
                return;
            }
            _ => {}
        }
        if matches!(self.state, State::Established | State::CloseWait) {
            self.arm_keepalive(cfg, now);
        } else {
            // The peer answers: unanswered persist probes start over (see `on_rtx_timeout`).
            self.keepalive_probes = 0;
        }

        if zero_window_probe {
            self.flags |= flag::ACK_NOW;
            if !payload.is_empty() {
                self.dropped(rx, DropReason::ZeroWindow);
            }
            return;
        }

        if !payload.is_empty() || flags.fin() {
            if self.state.receives_data() {
                // DCTCP keeps its old-mark ACK point where a FIN beyond a hole is kept
                // (module `dctcp`): a FIN taken or consumed here hands the field back.
                let dctcp_point = if self.dctcp() {
                    self.dctcp_point_before_text(flags.fin())
                } else {
                    None
                };
                self.receive_text(cfg, now, seq, payload, flags.fin(), rcv, loss, rx);
                if let Some(point) = dctcp_point {
                    self.dctcp_after_fin(point);
                }
            } else if !payload.is_empty() {
                // Data beyond the peer's FIN: a broken or hostile peer.
                self.flags |= flag::ACK_NOW;
                self.dropped(rx, DropReason::DataAfterFin);
            } else {
                // A repeated FIN: acknowledge it again.
                self.flags |= flag::ACK_NOW;
            }
        }
    }

    /// ACK processing of a synchronized connection (RFC 9293 fifth, RFC 5961 5.2, RFC 5681
    /// duplicate ACKs, SACK). Returns `false` when the segment must be dropped.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn process_ack<S: SendBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        seq: SeqNum,
        seg: &TcpHeader,
        payload_len: usize,
        flags: TcpFlags,
        snd: &mut S,
        loss: &mut LossState,
        rx: &mut Reaction,
    ) -> bool {
        let ack = seg.ack;
        if ack.gt(self.snd_max) {
            self.rate_limited_ack(cfg, now);
            self.dropped(rx, DropReason::AckTooNew);
            return false;
        }
        if ack.lt(self.snd_una - self.max_snd_wnd.min(1 << 30)) {
            self.challenge_ack(cfg, now);
            self.dropped(rx, DropReason::AckTooOld);
            return false;
        }
        let wnd = u32::from(seg.window) << self.snd_wscale;
        let old_una = self.snd_una;
        if seg.options.sack_count > 0 || self.has(flag::RECOVERY) {
            // SACK blocks or a recovery running: the scoreboard, loss recovery and
            // Proportional Rate Reduction, out of line.
            self.ack_in_loss(cfg, now, seg, payload_len, flags, wnd, snd, loss, rx);
        } else {
            self.ack_sequence(cfg, now, seg, payload_len, flags, wnd, snd, loss, rx);
        }
        // Window update (RFC 9293: SND.UNA =< SEG.ACK =< SND.NXT and WL1/WL2 say it is newer).
        if ack.ge(old_una)
            && (self.snd_wl1.lt(seq) || (self.snd_wl1 == seq && self.snd_wl2.le(ack)))
        {
            let was_closed = self.snd_wnd == 0;
            self.snd_wnd = wnd;
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            self.max_snd_wnd = self.max_snd_wnd.max(wnd);
            // PROBE_NOW alone: the persist timer expired and its probe has not left yet.
            if wnd > 0 && self.flags & (flag::PERSIST | flag::PROBE_NOW) != 0 {
                self.flags &= !(flag::PERSIST | flag::PROBE_NOW);
                self.stop_rtx_timer();
                self.rtt.reset_backoff();
                if was_closed {
                    // A probe beyond a zero window that is still unacknowledged was dropped
                    // by the peer: it goes again first, in order. Sending on from after it
                    // would leave a hole that looks like a loss and cuts cwnd.
                    self.snd_nxt = self.snd_una;
                }
            }
        }
        true
    }

    /// The cumulative or duplicate ACK of [`Tcb::process_ack`] (RFC 9293, RFC 5681).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn ack_sequence<S: SendBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        seg: &TcpHeader,
        payload_len: usize,
        flags: TcpFlags,
        wnd: u32,
        snd: &mut S,
        loss: &mut LossState,
        rx: &mut Reaction,
    ) {
        let ack = seg.ack;
        if ack.gt(self.snd_una) {
            self.on_new_ack(cfg, now, ack, seg, snd, loss, rx);
        } else if ack == self.snd_una
            && payload_len == 0
            && !flags.syn()
            && !flags.fin()
            && self.snd_max != self.snd_una
            && wnd == self.snd_wnd
            // The answer to a zero-window probe repeats the ACK and window while the probe
            // is out: no duplicate (a few would start fast retransmit), as in BSD.
            && !self.has(flag::PERSIST)
        {
            self.dupacks = self.dupacks.saturating_add(1);
            self.counters.duplicate_acks = self.counters.duplicate_acks.saturating_add(1);
            self.cc_on_dup_ack(cfg, loss);
        }
    }

    /// [`Tcb::ack_sequence`] for an ACK with SACK blocks or during loss recovery: the
    /// scoreboard takes the blocks (RFC 6675), new SACK information may start recovery, and
    /// in SACK recovery Proportional Rate Reduction (RFC 9937) sets the window from what the
    /// ACK delivered (see `prr`).
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn ack_in_loss<S: SendBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        seg: &TcpHeader,
        payload_len: usize,
        flags: TcpFlags,
        wnd: u32,
        snd: &mut S,
        loss: &mut LossState,
        rx: &mut Reaction,
    ) {
        let old_una = self.snd_una;
        let was_recovery = self.has(flag::RECOVERY);
        let sack = self.has(flag::SACK);
        // What the scoreboard held before this ACK: PRR's DeliveredData and RecoverFS.
        let before = sack.then(|| self.ack_snapshot(loss, old_una));
        let sack_learnt = sack
            && seg.options.sack_count > 0
            && loss.sb.update(old_una, self.snd_max, seg.options.sacks());
        if sack && seg.options.sack_count > 0 {
            rx.dsack_received = is_dsack(seg.ack, seg.options.sacks());
            if rx.dsack_received {
                let first = seg.options.sacks()[0];
                if cfg.adaptive_reordering {
                    self.on_dsack(first.left, first.right);
                }
                // Counts toward undoing a window reduction whose retransmissions were all
                // received twice (RFC 3708's idea, `undo`); a D-SACK may do both.
                if loss.undo.active() {
                    self.undo_on_dsack(loss, first.left, first.right, rx);
                }
            }
        }
        self.ack_sequence(cfg, now, seg, payload_len, flags, wnd, snd, loss, rx);
        if sack_learnt {
            // RFC 6675 section 5: an ACK with new SACK information, cumulative or not, starts
            // recovery once IsLost(SND.UNA) holds.
            self.cc_on_sack(cfg, loss);
        }
        if self.sack_recovery() {
            self.prr_on_ack(loss, old_una, was_recovery, before);
        } else if was_recovery {
            // The recovery ended (or was NewReno's, which has no PRR).
            loss.prr = super::prr::Prr::EMPTY;
        }
    }

    /// An ACK of new data. Inlined into both callers of [`Tcb::ack_sequence`]: the common
    /// ACK must not pay a call.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn on_new_ack<S: SendBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        ack: SeqNum,
        seg: &TcpHeader,
        snd: &mut S,
        loss: &mut LossState,
        rx: &mut Reaction,
    ) {
        let acked = ack - self.snd_una;
        let fin_now_acked =
            self.has(flag::FIN_SENT) && self.snd_una.le(self.snd_fin) && ack.gt(self.snd_fin);
        let data_acked = acked - u32::from(fin_now_acked);
        let consumed = (data_acked as usize).min(snd.len());
        snd.consume(consumed);
        if consumed > 0 {
            rx.events |= Events::SEND_SPACE;
        }
        self.snd_una = ack;
        if self.snd_nxt.lt(ack) {
            self.snd_nxt = ack;
        }
        // RTT: the timed segment (Karn: timing stops on retransmission), else the timestamp
        // echo (valid across retransmissions).
        let mut timed_us = 0;
        if self.has(flag::RTT_TIMING) {
            if self.rtt_seq.le(ack) {
                let rtt = us32(now).wrapping_sub(self.rtt_start);
                self.rtt.sample(cfg, Duration::from_micros(u64::from(rtt)));
                self.flags &= !flag::RTT_TIMING;
                timed_us = rtt.max(1);
            }
        } else if self.has(flag::TS) {
            if let Some((_, tsecr)) = seg.options.timestamps {
                if let Some(us) = self.ts_rtt_us(cfg, now, tsecr) {
                    self.rtt.sample(cfg, Duration::from_micros(us));
                }
            }
        }
        self.rtt.reset_backoff();
        if self.has(flag::CWND_LIMITED) && self.hystart_running() {
            // HyStart++ (RFC 9406) in the initial slow start: every ACK's RTT, before the
            // window grows (CSS grows it slower); only while cwnd limits the sender, as the
            // growth itself (deviation 24): a request-response flight far below cwnd
            // neither grows the window nor can build a queue, and costs no call here.
            let tsecr = seg.options.timestamps.map(|(_, ecr)| ecr);
            rx.hystart_exit = self.hystart_on_ack(cfg, now, timed_us, tsecr);
        }
        // An ACK of new data ends a tail loss probe episode (RFC 8985 7.4).
        self.flags &= !flag::TLP_OUT;
        // RFC 3168 6.1.2: an ACK echoing a CE mark (ECE) never grows the window.
        let grow = !(self.has(flag::ECN) && seg.flags.intersects(TcpFlags::ECE));
        let restart = self.cc_on_new_ack(acked, loss, now, grow);
        loss.sb.advance(self.snd_una);
        if self.snd_una == self.snd_max {
            // Idleness (restart after idle) counts from here, when the flight drained, not
            // from the last transmission: waiting for a window's ACKs is not idleness
            // (deviation 16).
            self.last_send = coarse(now);
            if !self.has(flag::PERSIST) {
                self.stop_rtx_timer();
            }
        } else if restart && !self.has(flag::PERSIST) {
            self.restart_rtx_timer(cfg, now);
        }
        if loss.undo.active() {
            // A window reduction may prove spurious (Eifel, or all its retransmissions
            // D-SACKed by the time this ACK ends it), or its record may have lived long
            // enough (`undo`).
            let tsecr = seg.options.timestamps.map(|(_, ecr)| ecr);
            self.undo_on_ack(cfg, now, loss, tsecr, rx);
        }
    }

    /// Segment text and FIN (RFC 9293 seventh and eighth).
    #[allow(clippy::too_many_arguments)]
    fn receive_text<R: RecvBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        seq: SeqNum,
        payload: &[u8],
        fin: bool,
        rcv: &mut R,
        loss: &mut LossState,
        rx: &mut Reaction,
    ) {
        // Trim what was already received.
        let mut start = seq;
        let mut bytes = payload;
        if start.lt(self.rcv_nxt) {
            let skip = ((self.rcv_nxt - start) as usize).min(bytes.len());
            // Its head was received before.
            self.note_duplicate(loss, start, start + len32(skip));
            bytes = &bytes[skip..];
            start = self.rcv_nxt;
        }
        // Trim to the advertised window and to the buffer's real space.
        let off = start - self.rcv_nxt;
        let room = self.rcv_wnd().saturating_sub(off) as usize;
        let buf_room = rcv.window().saturating_sub(off as usize);
        let mut fin_ok = fin;
        let keep = bytes.len().min(room).min(buf_room);
        if keep < bytes.len() {
            bytes = &bytes[..keep];
            fin_ok = false;
        }
        let end = start + len32(bytes.len());

        if off == 0 {
            if !bytes.is_empty() {
                let had_ooo = !loss.reasm.is_empty();
                rcv.write_at(0, bytes);
                let mut nxt = end;
                while let Some(r_end) = loss.reasm.pop_ready(nxt) {
                    nxt = nxt.max(r_end);
                }
                rcv.commit((nxt - self.rcv_nxt) as usize);
                self.rcv_nxt = nxt;
                rx.events |= Events::READABLE;
                let seg_len = len32(bytes.len()).min(u32::from(cfg.mss));
                if seg_len > u32::from(self.rcv_mss) {
                    self.rcv_mss = seg_len as u16;
                }
                if had_ooo {
                    // Filling a hole (RFC 5681 4.2): ACK at once. Duplicate ACKs owed for
                    // earlier out-of-order segments would now carry the new cumulative ACK
                    // and look like duplicates of *it*; they are forgiven.
                    self.flags |= flag::ACK_NOW;
                    self.acks_owed = 0;
                } else {
                    self.schedule_ack(cfg, now);
                }
            }
        } else if !bytes.is_empty() {
            // Out of order: store at its offset, remember the range, ACK at once.
            match loss.reasm.insert(start, end) {
                Insert::Stored => rcv.write_at(off as usize, bytes),
                // Held out of order already.
                Insert::Duplicate => self.note_duplicate(loss, start, end),
                Insert::Full => {
                    fin_ok = false;
                    self.dropped(rx, DropReason::ReassemblyFull);
                }
            }
            self.ack_each_segment();
        } else if !fin_ok {
            self.flags |= flag::ACK_NOW;
        }

        if fin_ok {
            if end == self.rcv_nxt || (end.gt(self.rcv_nxt) && !self.has(flag::RCV_FIN)) {
                self.rcv_fin = end;
                self.flags |= flag::RCV_FIN;
            }
            if end.gt(self.rcv_nxt) {
                self.flags |= flag::ACK_NOW;
            }
        }
        if self.has(flag::RCV_FIN) && self.rcv_fin == self.rcv_nxt {
            self.consume_fin(cfg, now, loss, rx);
        }
    }

    /// `[start, end)` arrived again: with SACK in use, the next ACK reports it (RFC 2883
    /// D-SACK). Out of line: duplicates are rare, and the receive path stays small.
    #[cold]
    #[inline(never)]
    fn note_duplicate(&mut self, loss: &mut LossState, start: SeqNum, end: SeqNum) {
        if self.has(flag::SACK) {
            loss.reasm.note_duplicate(start, end);
        }
    }

    /// Delayed ACK (RFC 1122 4.2.3.2, RFC 5681 4.2) for in-order data.
    pub(super) fn schedule_ack(&mut self, cfg: &TcbConfig, now: Instant) {
        let unacked = self.rcv_nxt - self.rcv_acked;
        let full = u32::from(self.rcv_mss).max(1);
        match cfg.delayed_ack {
            Some(delay) if unacked <= full && self.rcv_wnd() >= full => {
                if self.delack_at == NEVER {
                    self.delack_at = (now + delay).micros();
                }
            }
            _ => self.flags |= flag::ACK_NOW,
        }
    }

    fn consume_fin(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        loss: &mut LossState,
        rx: &mut Reaction,
    ) {
        self.rcv_nxt += 1;
        self.flags &= !flag::RCV_FIN;
        self.flags |= flag::ACK_NOW;
        loss.reasm.clear();
        rx.events |= Events::PEER_CLOSED;
        match self.state {
            State::SynReceived | State::Established => self.state = State::CloseWait,
            State::FinWait1 => {
                if self.has(flag::FIN_SENT) && self.snd_una.gt(self.snd_fin) {
                    self.enter_time_wait(cfg, now, rx);
                } else {
                    self.state = State::Closing;
                }
            }
            State::FinWait2 => self.enter_time_wait(cfg, now, rx),
            _ => {}
        }
    }
}
