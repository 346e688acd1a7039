//! Header prediction for the receive fast path: the next in-order data segment of an
//! ESTABLISHED connection, with nothing else to do, takes a short path whose effect is exactly
//! that of [`Tcb::on_segment`] for that segment.
//!
//! Methods on [`Tcb`]. The prediction holds when every branch of SEGMENT ARRIVES
//! ([`input`](super::input)) that could do something other than "accept the payload in order"
//! is known not to be taken: the state is ESTABLISHED; the flags are ACK, optionally PSH; the
//! sequence number is RCV.NXT and the whole payload fits the advertised window and the
//! receive buffer (no trimming); the ACK acknowledges nothing new (SEG.ACK = SND.UNA) and
//! carries no SACK blocks; the timestamp, when the connection uses them, passes PAWS without
//! the 24-day exception (TSval not older than TS.Recent); no out-of-order data is waiting (no
//! hole to fill), no FIN of the peer is pending, no DCTCP echo of a CE mark is pending (an
//! unmarked segment ends it), and the connection is not probing a zero window. Anything else returns `None` having changed nothing, and the caller runs the full
//! state machine. Tests (`tcb/tests/predict.rs`) run the same segments both ways and compare
//! the whole connection state.
//!
//! [`Tcb::on_segment_followed`] takes the later segments of a run (software GRO in the
//! endpoint): segments whose headers repeat the one before but for the sequence number, PSH
//! and timestamp values, with nothing else done to the connection in between. It checks only
//! what such a segment can change and skips the work the run's first segment already did.
//!
//! Owns no state; it must not do anything [`Tcb::on_segment`] would not do for the segment.

use super::{
    Events, LossState, MAX_PAYLOAD, RecvBuffer, State, Tcb, TcbConfig, flag, len32, secs32,
};
use crate::segment::{TcpFlags, TcpHeader};
use crate::time::Instant;

impl Tcb {
    /// Header prediction: when `seg` (with `payload`) is the predicted next in-order data
    /// segment (see the module docs), takes it exactly as [`Tcb::on_segment`] would and
    /// returns the events ([`Events::READABLE`]); otherwise returns `None` and changes
    /// nothing, and the caller must call [`Tcb::on_segment`]. `snd_len` is the bytes in the
    /// connection's send buffer, `loss` its loss-recovery state (only read).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn on_segment_predicted<R: RecvBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        seg: &TcpHeader,
        payload: &[u8],
        snd_len: usize,
        rcv: &mut R,
        loss: &LossState,
    ) -> Option<Events> {
        if self.state != State::Established
            || seg.ack != self.snd_una
            || (seg.flags.0 & !(TcpFlags::ACK.0 | TcpFlags::PSH.0)) != 0
            || !seg.flags.ack()
            || seg.options.sack_count != 0
            || self.flags & (flag::RCV_FIN | flag::PERSIST | flag::PROBE_NOW) != 0
            // DCTCP echoing a CE mark: an unmarked segment changes the echo (module `dctcp`);
            // an RFC 3168 echo is left alone by one, which prediction takes.
            || self.flags & (flag::CUBIC | flag::DCTCP | flag::ECE_DUE)
                == flag::DCTCP | flag::ECE_DUE
            || !loss.reasm.is_empty()
        {
            return None;
        }
        let tsval = self.next_in_order(seg, payload.len(), rcv)?;
        // The prediction holds: from here on, exactly what on_segment does for this segment.
        self.arm_keepalive(cfg, now);
        self.take_in_order(cfg, now, seg, tsval, payload, rcv);
        self.arm_timers(cfg, now, len32(snd_len));
        Some(Events::READABLE)
    }

    /// The next segment of a run that [`Tcb::on_segment_predicted`] began: `seg` repeats the
    /// header of the segment before it but for the sequence number, PSH and the timestamp
    /// values, and nothing but this method has touched the connection since. Everything
    /// prediction checked that such a segment cannot change (the state, SND.UNA = SEG.ACK,
    /// no SACK, no FIN or hole pending, the flags) still holds, and what it armed
    /// (keepalive and retransmission timers: the send side is as it was, `now` the same)
    /// stays armed, unless it entered persist or the segment brings another window than
    /// SND.WND (then this refuses); what remains is checked and done here, exactly as
    /// [`Tcb::on_segment`] would. `None`: not the predicted next segment, nothing changed
    /// (call [`Tcb::on_segment`]).
    #[inline]
    pub(crate) fn on_segment_followed<R: RecvBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        seg: &TcpHeader,
        payload: &[u8],
        rcv: &mut R,
    ) -> Option<Events> {
        // The run's first segment may have entered persist (its window too small for the
        // data waiting, nothing in flight). ACK processing ends a persist episode on any
        // nonzero window (stopping the timer, resetting the backoff) and the timers start
        // it again: not what this short path does, so the state machine takes it. Nor
        // does it re-arm the timers, so the run's window must be the one they were armed
        // for: when the first segment left the window alone (SND.WL1 ahead of it), a later
        // one may take a new window, and that is the state machine's too.
        // The same for a probe the persist timer asked for that has not left yet
        // (`PROBE_NOW`).
        if self.flags & (flag::PERSIST | flag::PROBE_NOW) != 0
            || u32::from(seg.window) << self.snd_wscale != self.snd_wnd
        {
            return None;
        }
        let tsval = self.next_in_order(seg, payload.len(), rcv)?;
        self.take_in_order(cfg, now, seg, tsval, payload, rcv);
        Some(Events::READABLE)
    }

    /// Whether `seg` with `len` payload bytes is the next data in order, fits the advertised
    /// window and the receive buffer whole, and (with timestamps) passes PAWS outright (RFC
    /// 7323 5.3, TSval not older than TS.Recent). `Some(TSval)` (`None` inside without
    /// timestamps) when it does.
    #[inline]
    fn next_in_order<R: RecvBuffer + ?Sized>(
        &self,
        seg: &TcpHeader,
        len: usize,
        rcv: &R,
    ) -> Option<Option<u32>> {
        if seg.seq != self.rcv_nxt
            || len == 0
            || len > MAX_PAYLOAD
            || len32(len) > self.rcv_wnd()
            || len > rcv.window()
        {
            return None;
        }
        if !self.has(flag::TS) {
            return Some(None);
        }
        let (tsval, _) = seg.options.timestamps?;
        if self.has(flag::TS_RECENT) && (tsval.wrapping_sub(self.ts_recent) as i32) < 0 {
            return None;
        }
        Some(Some(tsval))
    }

    /// What SEGMENT ARRIVES does with a segment [`next_in_order`](Self::next_in_order)
    /// accepted, once ACK processing has nothing to do but the window update: TS.Recent, the
    /// window, the text, the delayed-ACK policy.
    #[inline]
    fn take_in_order<R: RecvBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        seg: &TcpHeader,
        tsval: Option<u32>,
        payload: &[u8],
        rcv: &mut R,
    ) {
        // TS.Recent (RFC 7323 4.3) for a segment covering Last.ACK.sent; PAWS already made
        // TSval not older than TS.Recent.
        if let Some(tsval) = tsval {
            if seg.seq.le(self.rcv_acked) {
                self.ts_recent = tsval;
                self.ts_recent_secs = secs32(now);
                self.flags |= flag::TS_RECENT;
            }
        }
        // ACK processing: nothing new acknowledged, a segment with data is no duplicate ACK;
        // the window update of RFC 9293 (SEG.ACK = SND.UNA).
        if self.snd_wl1.lt(seg.seq) || (self.snd_wl1 == seg.seq && self.snd_wl2.le(seg.ack)) {
            let wnd = u32::from(seg.window) << self.snd_wscale;
            self.snd_wnd = wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            self.max_snd_wnd = self.max_snd_wnd.max(wnd);
        }
        // Segment text, in order, untrimmed, no hole behind it.
        let len = payload.len();
        rcv.write_at(0, payload);
        rcv.commit(len);
        self.rcv_nxt += len32(len);
        let seg_len = len32(len).min(u32::from(cfg.mss));
        if seg_len > u32::from(self.rcv_mss) {
            self.rcv_mss = seg_len as u16;
        }
        self.schedule_ack(cfg, now);
    }
}
