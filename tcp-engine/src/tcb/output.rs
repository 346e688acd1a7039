//! Transmit planning and commitment: which segment to send next (SYN, retransmission, SACK
//! hole, new data under cwnd/rwnd/Nagle/SWS, probes, ACKs, window updates), and what sending
//! it changes.
//!
//! Methods on [`Tcb`]. Planning reads the send buffer's length only; the endpoint copies the
//! payload. Nothing here changes the sequence space until [`Tcb::commit`], which also records
//! whether cwnd limited each data segment sent (flag `CWND_LIMITED`, read by congestion
//! control, never changing cwnd here).

use super::undo::Cut;
use super::{
    Committed, LossState, NEVER, RecvBuffer, SegmentKind, SendBuffer, StalePlan, State,
    TS_OPTION_LEN, Tcb, TcbConfig, TxPlan, coarse, flag, len32, us32,
};
use crate::segment::{MAX_SACK_BLOCKS, TcpFlags, TcpHeader, TcpOptions};
use crate::seq::SeqNum;
use crate::time::Instant;

/// Where a data segment comes from (decides what commit records).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Fast retransmit or partial-ACK retransmit at SND.UNA.
    Fast,
    /// SACK hole (RFC 6675 NextSeg rule 1).
    Hole,
    /// At SND.NXT: new data, or go-back-N after a timeout.
    Next,
    /// Zero-window probe or SWS override.
    Probe,
}

impl Tcb {
    /// Runs the expired deadlines, then plans the next segment to send, if any. See the module
    /// docs for the two-phase protocol; call [`Tcb::commit`] once the frame is out. `loss` is
    /// the connection's [`LossState`].
    pub fn poll_transmit<S: SendBuffer + ?Sized, R: RecvBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        snd: &S,
        rcv: &R,
        loss: &mut LossState,
    ) -> Option<TxPlan> {
        let snd_len = len32(snd.len());
        self.run_timers(cfg, now, snd_len, rcv, loss);
        let plan = match self.state {
            State::Closed | State::Listen => None,
            State::SynSent => (self.snd_nxt == self.snd_una)
                .then(|| self.plan_syn(cfg, now, rcv, SegmentKind::Syn)),
            State::SynReceived => {
                if self.snd_nxt == self.snd_una || self.has(flag::SYNACK_NOW) {
                    Some(self.plan_syn(cfg, now, rcv, SegmentKind::SynAck))
                } else if self.has(flag::ACK_NOW) {
                    Some(self.plan_ack(cfg, now, rcv, loss, SegmentKind::Ack))
                } else {
                    None
                }
            }
            State::TimeWait => self
                .has(flag::ACK_NOW)
                .then(|| self.plan_ack(cfg, now, rcv, loss, SegmentKind::Ack)),
            _ => self.plan_synchronized(cfg, now, snd_len, rcv, loss),
        };
        // ECN (RFC 3168) marks the plan afterwards, out of line: a connection without it
        // pays one test of its flags.
        if self.has(flag::ECN) {
            return plan.map(|mut p| {
                self.ecn_plan(cfg, now, rcv, loss, &mut p);
                p
            });
        }
        plan
    }

    /// The segment [`Tcb::poll_transmit`] planned at `now` could not leave (no route, the
    /// neighbour unreachable, the neighbour cache busy) and nothing was committed. Everything
    /// stays as it was, so the segment is planned again at the next opportunity, except when
    /// TIME-WAIT has run out and only waited for its owed ACK: that ACK is then given up, as if
    /// lost on the wire (the peer retransmits its FIN if it needs the ACK), and the connection
    /// closes. Otherwise a due deadline would be left with nothing to run it.
    ///
    /// The next opportunity is the retransmission timer: a segment that never left armed none
    /// (a first SYN or SYN-ACK, or data, an ACK, a window update or a probe with nothing in
    /// flight), so it is armed here for one RTO when it is not running. In SYN-SENT and SYN-RECEIVED its expiry
    /// counts toward `max_syn_retransmissions`, so a handshake whose segments can never leave
    /// ends in CLOSED ([`CloseReason::TimedOut`](super::CloseReason::TimedOut)) instead of
    /// waiting forever; later, with nothing in flight, toward `max_retransmissions`, the RTO
    /// backing off at each expiry, as for a retransmission.
    pub fn unsendable(&mut self, cfg: &TcbConfig, now: Instant) {
        if self.state == State::TimeWait && self.has(flag::ACK_NOW) && self.aux_at <= now.micros() {
            self.flags &= !flag::ACK_NOW;
            self.become_closed(super::CloseReason::Normal);
        } else if self.rtx_at == NEVER
            && !matches!(self.state, State::Closed | State::Listen | State::TimeWait)
        {
            self.flags &= !flag::TLP_ARMED;
            self.rtx_at = (now + self.rtt.rto(cfg)).micros();
        }
    }

    /// Whether [`Tcb::poll_transmit`] may plan a segment now. Conservative: `false` means it
    /// certainly plans nothing until the connection changes (a segment, an application call)
    /// or one of its deadlines passes, so an endpoint need not offer the connection a send
    /// opportunity after a segment that asks for no answer.
    pub fn may_transmit<S: SendBuffer + ?Sized, R: RecvBuffer + ?Sized>(
        &self,
        snd: &S,
        rcv: &R,
    ) -> bool {
        const NOW: u32 =
            flag::ACK_NOW | flag::FAST_RTX | flag::PROBE_NOW | flag::KEEPALIVE_NOW | flag::TLP_NOW;
        match self.state {
            State::Closed | State::Listen => false,
            // As `poll_transmit` plans: the SYN (again, after a timeout rewound SND.NXT), the
            // SYN-ACK, or an ACK.
            State::SynSent => self.snd_nxt == self.snd_una,
            State::SynReceived => {
                self.snd_nxt == self.snd_una || self.flags & (flag::SYNACK_NOW | flag::ACK_NOW) != 0
            }
            State::TimeWait => self.has(flag::ACK_NOW),
            _ => {
                self.flags & NOW != 0
                    || self.sack_recovery()
                    || self.has_unsent(len32(snd.len()))
                    || self.window_update_due(rcv)
            }
        }
    }

    /// Records that `plan` (from the last [`Tcb::poll_transmit`]) was sent at `now`: advances
    /// SND.NXT/SND.MAX, arms the retransmission or persist timer, starts RTT timing, clears
    /// the ACK debt. Refuses a plan made before the `Tcb` changed.
    pub fn commit(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        plan: &TxPlan,
        loss: &mut LossState,
    ) -> Result<Committed, StalePlan> {
        let mut committed = Committed::default();
        if plan.stamp != self.stamp() {
            return Err(StalePlan);
        }
        let h = &plan.header;
        if h.flags.ack() {
            if h.options.sack_count != 0 {
                sack_sent(loss, h.options.sack_blocks[0]);
            }
            self.rcv_acked = h.ack;
            if self.has(flag::ACK_NOW) && self.acks_owed > 0 {
                // Another out-of-order segment is still owed its own ACK.
                self.acks_owed -= 1;
            } else {
                self.flags &= !flag::ACK_NOW;
                self.acks_owed = 0;
            }
            self.delack_at = NEVER;
            let edge = h.ack + plan.advertised;
            if edge.gt(self.rcv_adv) {
                self.rcv_adv = edge;
            }
        }
        // The RTO deadline from `now`, computed only where a branch arms it (a bare ACK, the
        // most common commit, needs none).
        let rto_at = |tcb: &Tcb| (now + tcb.rtt.rto(cfg)).micros();
        match plan.kind {
            SegmentKind::Syn | SegmentKind::SynAck => {
                let first = self.snd_max == self.snd_una;
                self.snd_nxt = self.snd_una + 1;
                self.snd_max = self.snd_una + 1;
                self.flags &= !flag::SYNACK_NOW;
                if self.rtx_at == NEVER {
                    self.rtx_at = rto_at(self);
                }
                if first && !self.has(flag::SYN_LOST) {
                    self.flags |= flag::RTT_TIMING;
                    self.rtt_seq = self.snd_max;
                    self.rtt_start = us32(now);
                }
                if plan.kind == SegmentKind::SynAck {
                    self.rcv_adv = self.rcv_adv.max(self.rcv_nxt + plan.advertised);
                }
            }
            SegmentKind::NewData | SegmentKind::Retransmission | SegmentKind::WindowProbe => {
                if h.flags.intersects(TcpFlags::CWR) {
                    self.ecn_cwr_sent();
                }
                let fin = h.flags.fin();
                let end = h.seq + plan.payload_len + u32::from(fin);
                let retransmitted = h.seq.lt(self.snd_max);
                if h.seq.le(self.snd_nxt) && end.gt(self.snd_nxt) {
                    self.snd_nxt = end;
                }
                if end.gt(self.snd_max) {
                    self.snd_max = end;
                }
                if retransmitted {
                    self.counters.retransmitted_segments =
                        self.counters.retransmitted_segments.saturating_add(1);
                    if loss.undo.active() {
                        // What a window reduction's episode retransmits, for its undo.
                        self.undo_note_rxt(loss, h, plan.payload_len.max(1));
                    }
                    // Karn: no RTT sample from anything retransmitted.
                    self.flags &= !flag::RTT_TIMING;
                    if self.sack_recovery() {
                        if end.gt(loss.sb.high_rxt) {
                            loss.sb.high_rxt = end;
                        }
                        loss.sb.rxt_fence = self.snd_max;
                    }
                    if h.seq == self.snd_una {
                        let fast = self.has(flag::FAST_RTX) && !self.has(flag::PARTIAL_SEEN);
                        if self.has(flag::RECOVERY) && (self.has(flag::SACK) || fast) {
                            // The fast retransmission (and in SACK recovery every later
                            // retransmission at SND.UNA) gets a whole RTO to be acknowledged:
                            // a timer armed for the original long ago must not fire while
                            // recovery is repairing the hole (deviation 18).
                            self.flags &= !flag::TLP_ARMED;
                            self.rtx_at = rto_at(self);
                        }
                        self.flags &= !flag::FAST_RTX;
                    }
                } else if !self.has(flag::RTT_TIMING) && !self.has(flag::RECOVERY) {
                    // Karn: in recovery a cumulative ACK of new data waits for the holes
                    // below it, so timing it would overestimate the RTT; timestamps still
                    // give samples.
                    self.flags |= flag::RTT_TIMING;
                    self.rtt_seq = end;
                    self.rtt_start = us32(now);
                }
                if plan.kind != SegmentKind::WindowProbe
                    && plan.payload_len % self.payload_mss().max(1) != 0
                {
                    self.snd_sml = end;
                }
                self.last_send = coarse(now);
                // Rare cases, one test: a tail loss probe, or a segment sent in recovery.
                if self.flags & (flag::TLP_NOW | flag::RECOVERY) != 0
                    && plan.kind != SegmentKind::WindowProbe
                {
                    committed.loss_probe =
                        self.commit_loss_segment(cfg, retransmitted, plan, end - h.seq, loss);
                }
                if plan.kind == SegmentKind::WindowProbe {
                    self.flags &= !(flag::PROBE_NOW | flag::TLP_ARMED);
                    self.flags |= flag::PERSIST;
                    self.rtx_at = rto_at(self);
                    self.counters.window_probes = self.counters.window_probes.saturating_add(1);
                } else if self.has(flag::PERSIST) {
                    self.flags &= !flag::PERSIST;
                    self.restart_rtx_timer(cfg, now);
                } else if self.rtx_at == NEVER
                    || (!retransmitted && (self.has(flag::TLP_ARMED) || h.seq == self.snd_una))
                {
                    // New data restarts a probe timeout (RFC 8985 7.2), and the first
                    // segment of a new flight a timer armed only to bound the wait for late
                    // D-SACKs (`undo`).
                    self.restart_rtx_timer(cfg, now);
                }
                // Whether cwnd limits the sender, decided at every data segment sent (as
                // Linux does, RFC 7661's idea): the flight reaches within one MSS of cwnd
                // (the planner holds a partial segment back at cwnd, and TSO sends whole
                // segments, so a sender held by cwnd always gets there), in slow start more
                // than half of it (slow start doubles what was used). The ACKs that arrive
                // before the next send, however many, see this verdict. The window grows only
                // while it holds (deviation 24). A select, a compare and a flag write.
                let flight = u64::from(self.snd_nxt - self.snd_una);
                let slack = if self.cwnd < self.ssthresh {
                    flight
                } else {
                    u64::from(self.smss)
                };
                let limited = flight + slack > u64::from(self.cwnd);
                self.flags =
                    (self.flags & !flag::CWND_LIMITED) | (u32::from(limited) * flag::CWND_LIMITED);
                if fin {
                    // Last, after the reads of the flags above (nothing above depends on it):
                    // the compiler makes this a one-byte store, and a flags read right after
                    // it would wait for the store (no store-to-load forwarding into a wider
                    // load).
                    self.flags |= flag::FIN_SENT;
                }
            }
            SegmentKind::Keepalive => {
                self.flags &= !flag::KEEPALIVE_NOW;
                self.keepalive_probes = self.keepalive_probes.saturating_add(1);
                if let Some(ka) = cfg.keepalive {
                    self.aux_at = (now + ka.interval).micros();
                }
            }
            SegmentKind::Ack => {}
        }
        Ok(committed)
    }

    /// A data segment of `len` sequence numbers went out in loss recovery or as a tail loss
    /// probe. In recovery it counts in Proportional Rate Reduction's prr_out (every byte, a
    /// TSO super-segment whole; nothing when PRR is not running). A tail loss probe (RFC 8985
    /// 7.3): no other probe until an ACK of new data. A probe that retransmits presumes the
    /// segment lost, and without D-SACK the sender cannot learn otherwise, so the window is
    /// reduced as for a loss (RFC 8985 7.4.2 does so once the probe is found to have repaired
    /// a loss). Returns whether the segment was a tail loss probe.
    #[inline(never)]
    fn commit_loss_segment(
        &mut self,
        cfg: &TcbConfig,
        retransmitted: bool,
        plan: &TxPlan,
        len: u32,
        loss: &mut LossState,
    ) -> bool {
        if self.has(flag::RECOVERY) {
            loss.prr.sent(len);
        }
        if !self.has(flag::TLP_NOW) {
            return false;
        }
        self.flags &= !flag::TLP_NOW;
        self.flags |= flag::TLP_OUT;
        if retransmitted {
            // The probe's D-SACK must not pass for a spurious recovery's (`on_dsack`).
            self.flags &= !flag::RXT_EPISODE;
        }
        // One reduction per window of data: none inside a window an ECN echo or an earlier
        // probe already reduced for (SND.UNA below `recover`).
        if retransmitted && self.snd_una.ge(self.recover) {
            let smss = self.payload_mss();
            let prior = self.undo_prior();
            self.ssthresh = self.loss_ssthresh(self.flight_size());
            self.cwnd = self.cwnd.min(self.ssthresh).max(smss);
            self.ca_acked = 0;
            // The reduction covers the data sent so far: a loss the probe's ACK reveals in
            // this window starts SACK recovery without a second reduction (and, with CUBIC,
            // without a second fast convergence), as after an ECN echo (flag `WINDOW_CUT`).
            self.recover = self.snd_max;
            self.flags |= flag::WINDOW_CUT;
            // RFC 3168 6.1.2: a reduction for any reason is announced with CWR.
            self.ecn_window_reduced();
            // The probe's D-SACK, or an ACK of the original echoing an older timestamp,
            // undoes this reduction (`undo`); the probe is the episode's retransmission.
            self.undo_begin(cfg.spurious_undo, loss, prior, Cut::Probe);
            self.undo_note_rxt(loss, &plan.header, plan.payload_len.max(1));
        }
        true
    }

    fn stamp(&self) -> [u32; 4] {
        [
            self.snd_una.0,
            self.snd_nxt.0,
            self.rcv_nxt.0,
            (self.state as u32) ^ self.snd_max.0.rotate_left(8),
        ]
    }

    fn plan(&self, header: TcpHeader, kind: SegmentKind, advertised: u32) -> TxPlan {
        TxPlan {
            header,
            payload_offset: 0,
            payload_len: 0,
            tso_mss: None,
            kind,
            ect: false,
            advertised,
            stamp: self.stamp(),
        }
    }

    pub(super) fn plan_syn<R: RecvBuffer + ?Sized>(
        &self,
        cfg: &TcbConfig,
        now: Instant,
        rcv: &R,
        kind: SegmentKind,
    ) -> TxPlan {
        let window = len32(rcv.window()).min(u32::from(u16::MAX));
        let syn_ack = kind == SegmentKind::SynAck;
        let options = TcpOptions {
            mss: Some(cfg.mss),
            window_scale: self.has(flag::WS).then_some(self.rcv_wscale),
            sack_permitted: self.has(flag::SACK),
            timestamps: self.has(flag::TS).then(|| {
                let echo = if syn_ack && self.has(flag::TS_RECENT) {
                    self.ts_recent
                } else {
                    0
                };
                (self.ts_now(cfg, now), echo)
            }),
            ..TcpOptions::default()
        };
        let header = TcpHeader {
            seq: self.snd_una,
            ack: if syn_ack { self.rcv_nxt } else { SeqNum(0) },
            flags: if syn_ack {
                TcpFlags::SYN | TcpFlags::ACK
            } else {
                TcpFlags::SYN
            },
            window: window as u16,
            options,
            ..TcpHeader::default()
        };
        self.plan(header, kind, window)
    }

    /// The window to advertise in bytes, with receiver SWS avoidance (RFC 1122 4.2.3.3): the
    /// right edge moves right only by at least min(buffer / 2, MSS), and never moves left.
    fn window_to_advertise<R: RecvBuffer + ?Sized>(&self, rcv: &R) -> u32 {
        let max = u32::from(u16::MAX) << self.rcv_wscale;
        let free = len32(rcv.window()).min(max);
        let current = self.rcv_wnd_now();
        let threshold = (len32(rcv.capacity()) / 2)
            .min(u32::from(self.rcv_mss))
            .max(1);
        if free > current && free - current >= threshold {
            free
        } else {
            current
        }
    }

    #[inline]
    fn rcv_wnd_now(&self) -> u32 {
        if self.rcv_adv.gt(self.rcv_nxt) {
            self.rcv_adv - self.rcv_nxt
        } else {
            0
        }
    }

    /// The 16-bit window field for `bytes` and the bytes it really advertises. Rounds up when
    /// the window is the one already promised (never move the right edge left).
    fn window_field(&self, bytes: u32) -> (u16, u32) {
        let shift = self.rcv_wscale;
        let field = if bytes == self.rcv_wnd_now() {
            bytes.div_ceil(1 << shift)
        } else {
            bytes >> shift
        }
        .min(u32::from(u16::MAX));
        (field as u16, field << shift)
    }

    /// Whether the application freed enough receive space that the peer should hear of it
    /// now (the window was less than half the buffer and at least doubles).
    pub(super) fn window_update_due<R: RecvBuffer + ?Sized>(&self, rcv: &R) -> bool {
        if !self.state.receives_data() {
            return false;
        }
        let current = self.rcv_wnd_now();
        // The cheap test first: most of the time the advertised window is more than half the
        // buffer and no update is due whatever the application freed.
        if 2 * u64::from(current) > rcv.capacity() as u64 {
            return false;
        }
        let next = self.window_to_advertise(rcv);
        next > current && next >= 2 * current
    }

    /// Timestamp and SACK options of a non-SYN segment.
    fn data_options(&self, cfg: &TcbConfig, now: Instant, loss: &LossState) -> TcpOptions {
        let mut opts = TcpOptions::default();
        if self.has(flag::TS) {
            let echo = if self.has(flag::TS_RECENT) {
                self.ts_recent
            } else {
                0
            };
            opts.timestamps = Some((self.ts_now(cfg, now), echo));
        }
        if self.has(flag::SACK) && loss.reasm.reports_sack() {
            let max = if self.has(flag::TS) {
                3
            } else {
                MAX_SACK_BLOCKS
            };
            loss.reasm.write_sack(&mut opts, max);
        }
        opts
    }

    /// Sequence number of a bare ACK: SND.MAX, or the right edge of the peer's window when that
    /// is lower (stays acceptable to the peer during go-back-N and with a shrunk window).
    fn ack_seq(&self) -> SeqNum {
        let wnd_end = self.snd_una + self.snd_wnd;
        if self.snd_max.le(wnd_end) {
            self.snd_max
        } else {
            wnd_end.max(self.snd_una)
        }
    }

    fn header<R: RecvBuffer + ?Sized>(
        &self,
        cfg: &TcbConfig,
        now: Instant,
        rcv: &R,
        loss: &LossState,
        seq: SeqNum,
        flags: TcpFlags,
    ) -> (TcpHeader, u32) {
        let (window, advertised) = self.window_field(self.window_to_advertise(rcv));
        let header = TcpHeader {
            seq,
            ack: self.rcv_nxt,
            flags: flags | TcpFlags::ACK,
            window,
            options: self.data_options(cfg, now, loss),
            ..TcpHeader::default()
        };
        (header, advertised)
    }

    pub(super) fn plan_ack<R: RecvBuffer + ?Sized>(
        &self,
        cfg: &TcbConfig,
        now: Instant,
        rcv: &R,
        loss: &LossState,
        kind: SegmentKind,
    ) -> TxPlan {
        let seq = if kind == SegmentKind::Keepalive {
            self.snd_una - 1
        } else {
            self.ack_seq()
        };
        let (header, advertised) = self.header(cfg, now, rcv, loss, seq, TcpFlags::NONE);
        self.plan(header, kind, advertised)
    }

    /// Payload bytes that fit one segment with the options of `opts`, sized with the emitter's
    /// own [`options_len`](crate::wire::tcp::options_len) so planning and emission agree.
    fn segment_payload(&self, opts: &TcpOptions) -> u32 {
        let extra = crate::wire::tcp::options_len(opts) as u32;
        let ts = if self.has(flag::TS) { TS_OPTION_LEN } else { 0 };
        (u32::from(self.smss)).saturating_sub(extra.max(ts)).max(1)
    }

    #[allow(clippy::too_many_arguments)]
    fn plan_data<R: RecvBuffer + ?Sized>(
        &self,
        cfg: &TcbConfig,
        now: Instant,
        rcv: &R,
        loss: &LossState,
        seq: SeqNum,
        len: u32,
        fin: bool,
        push: bool,
        origin: Origin,
        seg_payload: u32,
    ) -> TxPlan {
        let mut flags = TcpFlags::NONE;
        if fin {
            flags |= TcpFlags::FIN;
        }
        if push && len > 0 {
            flags |= TcpFlags::PSH;
        }
        let (header, advertised) = self.header(cfg, now, rcv, loss, seq, flags);
        let kind = match origin {
            Origin::Probe => SegmentKind::WindowProbe,
            _ if seq.lt(self.snd_max) => SegmentKind::Retransmission,
            _ => SegmentKind::NewData,
        };
        let mut plan = self.plan(header, kind, advertised);
        plan.payload_offset = seq - self.snd_una;
        plan.payload_len = len;
        if len > seg_payload {
            plan.tso_mss = Some(seg_payload.min(u32::from(u16::MAX)) as u16);
        }
        plan
    }

    /// The tail loss probe (RFC 8985 7.3): the last segment sent again (with our FIN when it
    /// was sent). Not new data, unlike the RFC's preference (deviation 20): a receiver
    /// acknowledges a duplicate at once, whereas one new in-order segment may wait for its
    /// delayed-ACK timer, which in data-center settings is as long as the minimum RTO.
    fn plan_tail_loss_probe<R: RecvBuffer + ?Sized>(
        &self,
        cfg: &TcbConfig,
        now: Instant,
        rcv: &R,
        loss: &LossState,
        sent_data_end: SeqNum,
        seg_payload: u32,
    ) -> Option<TxPlan> {
        if self.snd_una == self.snd_max {
            return None;
        }
        let len = if self.snd_una.lt(sent_data_end) {
            (sent_data_end - self.snd_una).min(seg_payload)
        } else {
            0
        };
        if len == 0 && !self.has(flag::FIN_SENT) {
            return None;
        }
        let last = (sent_data_end - len, len);
        Some(self.plan_hole(cfg, now, rcv, loss, last, seg_payload))
    }

    /// The retransmission of `(seq, len)` (a hole of the SACK scoreboard, or the last segment
    /// as a tail loss probe; one segment at most), with our FIN when it ends there.
    fn plan_hole<R: RecvBuffer + ?Sized>(
        &self,
        cfg: &TcbConfig,
        now: Instant,
        rcv: &R,
        loss: &LossState,
        (seq, len): (SeqNum, u32),
        seg_payload: u32,
    ) -> TxPlan {
        let fin = self.has(flag::FIN_SENT) && seq + len == self.snd_fin;
        self.plan_data(
            cfg,
            now,
            rcv,
            loss,
            seq,
            len,
            fin,
            false,
            Origin::Hole,
            seg_payload,
        )
    }

    /// Whether TSO can carry segments of `seg_payload` bytes, and the largest payload then.
    fn tso_limit(&self, cfg: &TcbConfig, seg_payload: u32) -> Option<u32> {
        let caps = cfg.tso?;
        let mss_ok =
            u32::from(caps.min_mss) <= seg_payload && seg_payload <= u32::from(caps.max_mss);
        (mss_ok && caps.max_payload > seg_payload).then_some(caps.max_payload.min(1 << 24))
    }

    fn plan_synchronized<R: RecvBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        snd_len: u32,
        rcv: &R,
        loss: &LossState,
    ) -> Option<TxPlan> {
        let smss = self.payload_mss();
        // Only SACK blocks make the options longer than the timestamps the MSS payload always
        // reserves: build them (as the header will) only when there are any.
        let seg_payload = if self.has(flag::SACK) && loss.reasm.reports_sack() {
            self.segment_payload(&self.data_options(cfg, now, loss))
        } else {
            smss
        };
        let data_end = self.data_end(snd_len);
        // Data outstanding ends at the FIN when it was sent.
        let sent_data_end = if self.has(flag::FIN_SENT) {
            self.snd_fin.min(self.snd_max)
        } else {
            self.snd_max
        };

        // 1. Fast retransmit / partial-ACK retransmit of the segment at SND.UNA.
        if self.has(flag::FAST_RTX) {
            let len = if self.snd_una.lt(sent_data_end) {
                (sent_data_end - self.snd_una).min(seg_payload)
            } else {
                0
            };
            let fin = self.has(flag::FIN_SENT) && self.snd_una + len == self.snd_fin;
            if len > 0 || fin {
                return Some(self.plan_data(
                    cfg,
                    now,
                    rcv,
                    loss,
                    self.snd_una,
                    len,
                    fin,
                    false,
                    Origin::Fast,
                    seg_payload,
                ));
            }
            self.flags &= !flag::FAST_RTX;
        }

        // 2. SACK recovery: the next lost hole while the pipe allows.
        let flight = if self.sack_recovery() {
            let pipe = loss
                .sb
                .pipe(self.snd_una, self.snd_max, smss, self.dup_thresh());
            if pipe < self.cwnd {
                let boundary = loss
                    .sb
                    .lost_boundary(self.snd_una, smss, self.dup_thresh())
                    .min(sent_data_end);
                if let Some(hole) = loss.sb.next_hole(self.snd_una, boundary, seg_payload) {
                    return Some(self.plan_hole(cfg, now, rcv, loss, hole, seg_payload));
                }
            }
            pipe
        } else {
            self.snd_nxt - self.snd_una
        };

        // 3. New data (or go-back-N after a timeout) at SND.NXT (RFC 6675 NextSeg rule 2).
        if let Some(plan) = self.plan_next(cfg, now, rcv, loss, data_end, flight, seg_payload) {
            return Some(plan);
        }

        // RFC 8985 tail loss probe: the last segment again, beyond cwnd, to elicit an ACK
        // with SACK information.
        if self.has(flag::TLP_NOW) {
            if let Some(plan) =
                self.plan_tail_loss_probe(cfg, now, rcv, loss, sent_data_end, seg_payload)
            {
                return Some(plan);
            }
            self.flags &= !flag::TLP_NOW;
        }

        // RFC 6675 NextSeg rule 3: no new data to send, room in the pipe: the first
        // un-SACKed segment above HighRxt, lost or not, so a tail loss needs no timeout.
        // Only at the tail: while data waits behind the peer's window it would resend what is
        // merely in flight (deviation 12).
        if self.sack_recovery() && flight < self.cwnd && !self.snd_nxt.lt(data_end) {
            if let Some(hole) = loss.sb.next_hole(self.snd_una, sent_data_end, seg_payload) {
                return Some(self.plan_hole(cfg, now, rcv, loss, hole, seg_payload));
            }
        }

        // 4. Probes.
        if self.has(flag::PROBE_NOW) {
            let wnd_end = self.snd_una + self.snd_wnd;
            let wnd_avail = if self.snd_nxt.lt(wnd_end) {
                wnd_end - self.snd_nxt
            } else {
                0
            };
            if self.snd_una.lt(self.snd_nxt) && self.snd_una.lt(data_end) {
                // The previous probe is unanswered: send its byte again.
                return Some(self.plan_data(
                    cfg,
                    now,
                    rcv,
                    loss,
                    self.snd_una,
                    1,
                    false,
                    false,
                    Origin::Probe,
                    seg_payload,
                ));
            }
            if self.snd_nxt.lt(data_end) {
                let len = wnd_avail
                    .max(1)
                    .min(data_end - self.snd_nxt)
                    .min(seg_payload);
                let push = self.snd_nxt + len == data_end;
                return Some(self.plan_data(
                    cfg,
                    now,
                    rcv,
                    loss,
                    self.snd_nxt,
                    len,
                    false,
                    push,
                    Origin::Probe,
                    seg_payload,
                ));
            }
            self.flags &= !flag::PROBE_NOW;
        }
        if self.has(flag::KEEPALIVE_NOW) {
            return Some(self.plan_ack(cfg, now, rcv, loss, SegmentKind::Keepalive));
        }

        // 5. A bare ACK or window update.
        if self.has(flag::ACK_NOW) || self.window_update_due(rcv) {
            return Some(self.plan_ack(cfg, now, rcv, loss, SegmentKind::Ack));
        }
        None
    }

    /// Data at SND.NXT within cwnd and the peer's window, with Nagle (Minshall) and sender SWS
    /// avoidance for new data, Limited Transmit on the first DupThresh - 1 duplicate ACKs, TSO
    /// super-segments when offered.
    #[allow(clippy::too_many_arguments)]
    fn plan_next<R: RecvBuffer + ?Sized>(
        &self,
        cfg: &TcbConfig,
        now: Instant,
        rcv: &R,
        loss: &LossState,
        data_end: SeqNum,
        flight: u32,
        seg_payload: u32,
    ) -> Option<TxPlan> {
        let fin_pending = self.fin_pending();
        let avail = if self.snd_nxt.lt(data_end) {
            data_end - self.snd_nxt
        } else {
            0
        };
        if avail == 0 && !fin_pending {
            return None;
        }
        let smss = self.payload_mss();
        let retransmission = self.snd_nxt.lt(self.snd_max);
        let wnd_end = self.snd_una + self.snd_wnd;
        let wnd_avail = if self.snd_nxt.lt(wnd_end) {
            wnd_end - self.snd_nxt
        } else {
            0
        };
        let mut cwnd = self.cwnd;
        if !self.has(flag::RECOVERY)
            && self.dupacks != 0
            && !retransmission
            && u32::from(self.dupacks) < self.dup_thresh()
        {
            // RFC 3042 Limited Transmit, on each duplicate below DupThresh (RFC 4653 section
            // 3's extension, deviation 27): one new segment per segment that left.
            cwnd = cwnd.saturating_add(u32::from(self.dupacks) * smss);
        }
        let cwnd_avail = cwnd.saturating_sub(flight);
        // A D-SACK report goes out once (RFC 2883 section 4): not on a super-segment, whose
        // header the device (or software segmentation) copies onto every segment.
        let tso = if retransmission || loss.reasm.duplicate_pending() {
            None
        } else {
            self.tso_limit(cfg, seg_payload)
        };
        let seg_max = tso.unwrap_or(seg_payload);
        let mut len = avail.min(wnd_avail).min(cwnd_avail).min(seg_max);
        if tso.is_some() && len > seg_payload && len < avail {
            // Whole segments only unless this is the tail of the data.
            len -= len % seg_payload;
        }
        if len == 0 {
            if avail == 0 && fin_pending {
                return Some(self.plan_data(
                    cfg,
                    now,
                    rcv,
                    loss,
                    self.snd_nxt,
                    0,
                    true,
                    false,
                    Origin::Next,
                    seg_payload,
                ));
            }
            return None;
        }
        let all = len == avail;
        if !retransmission && len < seg_payload {
            if !all {
                // Sender SWS avoidance (RFC 1122 4.2.3.4): a partial segment only when it is at
                // least half the largest window the peer offered; cwnd-limited waits for ACKs.
                if len == cwnd_avail || u64::from(len) * 2 < u64::from(self.max_snd_wnd) {
                    return None;
                }
            } else if cfg.nagle && !fin_pending && self.snd_sml.gt(self.snd_una) {
                // Nagle, Minshall's variant: hold while an earlier small segment is unacked.
                return None;
            }
        }
        let fin = fin_pending && all;
        Some(self.plan_data(
            cfg,
            now,
            rcv,
            loss,
            self.snd_nxt,
            len,
            fin,
            all,
            Origin::Next,
            seg_payload,
        ))
    }
}

/// An ACK with SACK blocks went out: a D-SACK it led with is not reported again. Out of line:
/// SACK blocks go out only around losses and duplicates.
#[cold]
#[inline(never)]
fn sack_sent(loss: &mut LossState, first: crate::segment::SackBlock) {
    loss.reasm.duplicate_reported(first);
}
