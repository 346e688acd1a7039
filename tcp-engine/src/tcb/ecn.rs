//! Explicit Congestion Notification, RFC 3168 ("classic" ECN): negotiation in the handshake,
//! the receiver's echo of CE marks, the sender's window reduction on an echo, and which
//! segments are sent ECN-capable.
//!
//! Methods on [`Tcb`]. The state is three bits of the flags word (`ECN`, `ECE_DUE`,
//! `CWR_DUE`) and the `recover` point congestion control already keeps: ECN adds no byte to a
//! connection. The IPv4 ECN field reaches the state machine as [`TcpFlags::IP_CE`] on the
//! received header and leaves it as [`TxPlan::ect`](super::TxPlan::ect); `wire` and the
//! endpoint move the bits between those and the IPv4 header.
//!
//! * **Negotiation** (RFC 3168 6.1.1). With [`EcnMode::On`] our SYN is an ECN-setup SYN (ECE
//!   and CWR); a SYN retransmitted after a timeout asks no more (6.1.1.1's fallback, as Linux
//!   does: the middlebox that dropped it may drop ECN-setup SYNs). ECN is used when the
//!   SYN-ACK is an ECN-setup SYN-ACK (ECE without CWR); a simultaneous open needs the peer's
//!   SYN to be an ECN-setup SYN. With [`EcnMode::Accept`] or `On` a peer's ECN-setup SYN is
//!   answered with an ECN-setup SYN-ACK. When a plain SYN was sent (our fallback) or received
//!   (a repeated SYN of the peer that no longer asks, its fallback after our SYN-ACK was lost
//!   or late) and ECN was still agreed, our data goes not ECN-capable (6.1.1) and later
//!   SYN-ACKs plain, but marks on the peer's data are echoed: which SYN-ACK the peer took,
//!   and so whether it uses ECN, cannot be known here. SYNs and SYN-ACKs are never ECN-capable.
//! * **Receiver** (6.1.3). A CE-marked data segment makes every segment we send carry ECE
//!   until a segment with CWR arrives (CWR first, then CE: a CWR segment that is itself
//!   marked starts a new echo). The first mark of an echo episode is acknowledged at once, as
//!   Linux does (its quick-ACK mode on CE): the sender's window may be small, and the echo
//!   should not wait for the delayed-ACK timer. A data segment with CWR is acknowledged at
//!   once too (Linux again: the sender has just reduced its window).
//! * **Sender** (6.1.2). An ACK with ECE never grows the window (the congestion control
//!   skips its growth for it), and it reduces the window as a loss would, without a
//!   retransmission ([`Tcb::reduce_for_congestion_signal`]), at most once per window of data:
//!   echoes are ignored until SND.UNA passes the SND.MAX of the reduction (kept in
//!   `recover`; a loss found in that window still starts recovery, flag `WINDOW_CUT`, but
//!   without a second reduction), on old ACKs
//!   (below SND.UNA, reordered), during loss recovery, and while the last reduction is not
//!   yet announced by a CWR (no new data went out since, so an echo can only be of an old
//!   mark: the ACK of a FIN sent after the reduction would otherwise count it twice). After
//!   any window reduction (echo, fast retransmit, timeout, tail loss probe) the next segment
//!   with new data carries CWR (a go-back-N resend that runs past SND.MAX included).
//! * **Marking** (6.1.5). Only new data goes ECN-capable, ECT(0) (and not after a plain SYN
//!   in the handshake, see above): pure ACKs, window probes,
//!   keepalives, retransmissions (including tail loss probes), FIN-only segments and RSTs do
//!   not.
//!
//! The reduction for an echo applies at once (`cwnd = min(cwnd, ssthresh)`), not through
//! Proportional Rate Reduction, which paces SACK loss recovery only (deviation 25); a loss
//! recovery that starts in the reduced window runs PRR towards the same ssthresh.
//!
//! A DCTCP connection (module `dctcp`) negotiates and marks its segments here too, but its
//! receiver mirrors each CE mark (CWR does not end the echo) and its sender reduces by
//! alpha / 2 under the same once-per-window guard ([`Tcb::echo_reduces`]): `ecn_on_segment`
//! hands such a connection's segments to `dctcp`.
//!
//! Owns the ECN bits of the flags word; it changes `cwnd`, `ssthresh` and `recover` only in
//! [`Tcb::cut_for_signal`], and nothing of the buffers or sequence spaces.

use super::{EcnMode, LossState, Reaction, RecvBuffer, SegmentKind, Tcb, TcbConfig, TxPlan, flag};
use crate::segment::{TcpFlags, TcpHeader};
use crate::seq::SeqNum;
use crate::time::Instant;

/// What one received segment did to ECN, reported in [`Reaction::ecn`] for the endpoint's
/// counters. A bit set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EcnEvents(pub u8);

impl EcnEvents {
    /// The segment was CE-marked (Congestion Experienced) on a connection using ECN.
    pub const CE_RECEIVED: EcnEvents = EcnEvents(1 << 0);
    /// The segment echoed a mark (ECE) and the congestion window was reduced for it.
    pub const WINDOW_REDUCED: EcnEvents = EcnEvents(1 << 1);
    /// The handshake completed with ECN negotiated.
    pub const NEGOTIATED: EcnEvents = EcnEvents(1 << 2);

    /// Whether all events of `other` happened.
    #[inline]
    pub const fn contains(self, other: EcnEvents) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether nothing happened.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl core::ops::BitOrAssign for EcnEvents {
    #[inline]
    fn bitor_assign(&mut self, rhs: EcnEvents) {
        self.0 |= rhs.0;
    }
}

impl Tcb {
    /// Whether the connection uses ECN (after the handshake; before it, whether it is asked
    /// for or agreed to): marks are echoed and echoes answered. Its new data is
    /// ECN-capable unless a plain SYN was sent or received during the handshake.
    #[inline]
    pub fn ecn_negotiated(&self) -> bool {
        self.has(flag::ECN)
    }

    /// Whether the segments we send carry ECE now (a CE mark arrived and the peer's CWR did
    /// not yet).
    #[inline]
    pub fn ecn_echo_pending(&self) -> bool {
        self.has(flag::ECE_DUE)
    }

    /// Active open: ask for ECN in our SYN when configured to.
    pub(super) fn ecn_offer(&mut self, cfg: &TcbConfig) {
        if cfg.ecn == EcnMode::On {
            self.flags |= flag::ECN;
        }
    }

    /// Passive open: agree when the peer's SYN is an ECN-setup SYN and we may.
    pub(super) fn ecn_accept(&mut self, cfg: &TcbConfig, syn: &TcpHeader) {
        if cfg.ecn != EcnMode::Off && syn.flags.contains(TcpFlags::ECE | TcpFlags::CWR) {
            self.flags |= flag::ECN;
        }
    }

    /// SYN-SENT took the peer's SYN (`flags`): a SYN-ACK keeps ECN when it is an ECN-setup
    /// SYN-ACK (ECE, no CWR), the SYN of a simultaneous open when it is an ECN-setup SYN.
    pub(super) fn ecn_take_peer_syn(&mut self, flags: TcpFlags) {
        if !self.has(flag::ECN) {
            return;
        }
        let agreed = if flags.ack() {
            flags.intersects(TcpFlags::ECE) && !flags.intersects(TcpFlags::CWR)
        } else {
            flags.contains(TcpFlags::ECE | TcpFlags::CWR)
        };
        if !agreed {
            self.flags &= !flag::ECN;
        } else if self.has(flag::SYN_LOST) {
            // We fell back to a plain SYN (6.1.1.1): RFC 3168 6.1.1 forbids ECN-capable data
            // after sending one, but the peer, which agreed, may send ECN-capable data, whose
            // marks are echoed.
            self.flags |= flag::NO_ECT;
        }
    }

    /// SYN-RECEIVED took the peer's SYN again (our SYN-ACK was lost or late) with flags
    /// `flags`: after a SYN that no longer asks for ECN our data goes not ECN-capable (RFC
    /// 3168 6.1.1: a host that received a non-ECN-setup SYN SHOULD NOT set ECT; the peer,
    /// which sent one, may not use ECN and may never echo a mark) and our SYN-ACKs go plain.
    /// Marks on the peer's data are still echoed: the peer may have had our first,
    /// ECN-setup, SYN-ACK after all and use ECN (Linux does, after its own fallback).
    #[inline]
    pub(super) fn ecn_take_repeated_syn(&mut self, flags: TcpFlags) {
        if self.has(flag::ECN) && !flags.contains(TcpFlags::ECE | TcpFlags::CWR) {
            self.flags |= flag::NO_ECT;
        }
    }

    /// The handshake completed: report a negotiated ECN.
    #[inline]
    pub(super) fn ecn_established(&self, rx: &mut Reaction) {
        if self.has(flag::ECN) {
            rx.ecn |= EcnEvents::NEGOTIATED;
        }
    }

    /// Adds ECN to `plan` of a connection with `ECN` set (out of line: the planner of a
    /// connection without ECN pays one test of its flags): the setup flags of a SYN or
    /// SYN-ACK; ECE on everything else while an echo is due; on new data, ECT(0) and, after a
    /// window reduction, CWR (on the first segment with new data, a go-back-N resend that
    /// runs past SND.MAX included), which goes on one wire segment (a super-segment is cut to
    /// its first: it would repeat CWR on each).
    ///
    /// A DCTCP connection sends its old-mark ACK first, in place of `plan` (module `dctcp`;
    /// one is due only while an ACK is due too, so there is a plan to replace).
    #[inline(never)]
    pub(super) fn ecn_plan<R: RecvBuffer + ?Sized>(
        &mut self,
        cfg: &TcbConfig,
        now: Instant,
        rcv: &R,
        loss: &LossState,
        plan: &mut TxPlan,
    ) {
        if self.dctcp() && self.dctcp_prior_ack(cfg, now, rcv, loss, plan) {
            return;
        }
        match plan.kind {
            SegmentKind::Syn if !self.has(flag::SYN_LOST) => {
                plan.header.flags |= TcpFlags::ECE | TcpFlags::CWR;
            }
            // RFC 3168 6.1.1.1: after a lost SYN, fall back to a plain one.
            SegmentKind::Syn => {}
            SegmentKind::SynAck if !self.has(flag::NO_ECT) => plan.header.flags |= TcpFlags::ECE,
            // The peer's repeated SYN stopped asking: a plain SYN-ACK.
            SegmentKind::SynAck => {}
            kind => {
                if self.has(flag::ECE_DUE) {
                    plan.header.flags |= TcpFlags::ECE;
                }
                if plan.payload_len > 0 {
                    let new_data = kind == SegmentKind::NewData;
                    plan.ect = new_data && !self.has(flag::NO_ECT);
                    // CWR goes on the first segment with new data, which may be a go-back-N
                    // resend running past SND.MAX (not ECN-capable: partly a retransmission).
                    // Left to the next one, the peer's ACK of this one, past the reduction's
                    // end but sent before it saw CWR, would echo the old mark as a new one.
                    let runs_past_snd_max = kind == SegmentKind::Retransmission
                        && (plan.header.seq + plan.payload_len).gt(self.snd_max);
                    if self.has(flag::CWR_DUE) && (new_data || runs_past_snd_max) {
                        plan.truncate_to_first_segment();
                        plan.header.flags |= TcpFlags::CWR;
                    }
                }
            }
        }
    }

    /// An acceptable segment with flags `flags`, sequence number `seq` (after a repeated SYN's
    /// is stripped), acknowledgement `ack` and `has_data` arrived
    /// on a connection using ECN, after ACK processing (SND.UNA was `una_before` before it).
    /// The sender's side (RFC 3168 6.1.2): an
    /// echo (ECE) reduces the window once per window of data, never during loss recovery. The
    /// receiver's side (6.1.3): CWR ends our echo, then a CE mark on data starts one. Out of
    /// line: a connection without ECN pays one test of its flags.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn ecn_on_segment(
        &mut self,
        flags: TcpFlags,
        seq: SeqNum,
        ack: SeqNum,
        una_before: SeqNum,
        has_data: bool,
        rx: &mut Reaction,
    ) {
        if self.dctcp() {
            // DCTCP (RFC 8257): its own window accounting, reduction and mirrored echo.
            if self.dctcp_on_segment(flags, seq, ack, una_before, has_data) {
                rx.ecn |= EcnEvents::WINDOW_REDUCED;
            }
            if has_data && flags.intersects(TcpFlags::IP_CE) {
                rx.ecn |= EcnEvents::CE_RECEIVED;
            }
            return;
        }
        if self.echo_reduces(flags, ack) {
            // The flight the signal is about: what was outstanding when the echoing ACK
            // came, not what it left (an ACK of the whole flight would leave nothing).
            self.reduce_for_congestion_signal(self.snd_max - una_before);
            rx.ecn |= EcnEvents::WINDOW_REDUCED;
        }
        if flags.intersects(TcpFlags::CWR) {
            self.flags &= !flag::ECE_DUE;
            if has_data {
                self.flags |= flag::ACK_NOW;
            }
        }
        if has_data && flags.intersects(TcpFlags::IP_CE) {
            rx.ecn |= EcnEvents::CE_RECEIVED;
            if !self.has(flag::ECE_DUE) {
                self.flags |= flag::ECE_DUE | flag::ACK_NOW;
            }
        }
    }

    /// The window reduction for a congestion signal that needs no retransmission (an ECN
    /// echo): the multiplicative decrease of a loss ([`Tcb::loss_ssthresh`]:
    /// `max(flight / 2, 2 SMSS)`, with CUBIC `flight * 0.7` and W_max recorded, as RFC 9438
    /// 4.6 asks for an ECN echo), where `flight` is RFC 5681's FlightSize when the signal
    /// arrived (before the ACK carrying it moved SND.UNA), `cwnd = ssthresh` (never raised),
    /// and the reduction covers the data sent so far (`recover = SND.MAX`): no further
    /// reduction until SND.UNA passes it. The next new data segment carries CWR.
    pub(super) fn reduce_for_congestion_signal(&mut self, flight: u32) {
        let ssthresh = self.loss_ssthresh(flight);
        self.cut_for_signal(ssthresh);
    }

    /// Whether an ACK with `flags` and acknowledgement `ack` is an echo that reduces the
    /// window now (RFC 3168 6.1.2, for DCTCP too): ECE, not in loss recovery, the last
    /// reduction announced (no CWR due: else nothing ECN-capable was sent since, and the echo
    /// is of an old mark), SND.UNA past the last reduction's SND.MAX (`recover`), and not an
    /// old ACK (below SND.UNA: RFC 9293 ignores it; reordered, the peer sent it before the
    /// ACKs already taken, so its echo is of a window already reduced for).
    #[inline]
    pub(super) fn echo_reduces(&self, flags: TcpFlags, ack: SeqNum) -> bool {
        flags.intersects(TcpFlags::ECE)
            && self.flags & (flag::RECOVERY | flag::CWR_DUE) == 0
            && self.snd_una.gt(self.recover)
            && ack.ge(self.snd_una)
    }

    /// The reduction for a signal that needs no retransmission, to `ssthresh` (RFC 3168's
    /// or DCTCP's): `cwnd = min(cwnd, ssthresh)` at once, covering the data sent so far
    /// (`recover = SND.MAX`, flag `WINDOW_CUT`), CWR due on the next new data. Moving
    /// `recover` voids any undo record (module `undo`): such a cut is never undone.
    pub(super) fn cut_for_signal(&mut self, ssthresh: u32) {
        let smss = self.payload_mss();
        self.ssthresh = ssthresh;
        self.cwnd = self.cwnd.min(self.ssthresh).max(smss);
        self.ca_acked = 0;
        self.recover = self.snd_max;
        self.flags &= !flag::RXT_EPISODE;
        self.flags |= flag::CWR_DUE | flag::WINDOW_CUT;
    }

    /// The window was reduced (fast retransmit, timeout): with ECN, the next new data
    /// segment carries CWR (RFC 3168 6.1.2: "for any reason").
    #[inline]
    pub(super) fn ecn_window_reduced(&mut self) {
        if self.has(flag::ECN) {
            self.flags |= flag::CWR_DUE;
        }
    }

    /// A data segment with CWR was committed: the reduction has been announced.
    #[inline]
    pub(super) fn ecn_cwr_sent(&mut self) {
        self.flags &= !flag::CWR_DUE;
    }
}
