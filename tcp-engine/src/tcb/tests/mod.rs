//! Tests of the connection state machine, all on a simulated clock.
//!
//! `scenarios`: the brief's scenario list and the seed's defects, segment by segment.
//! `link`: two `Tcb`s joined by an in-memory segment queue with seeded impairments.
//! `fuzz`: arbitrary segment sequences in every state (proptest).
//! `cubic`: RFC 9438 congestion control against the RFC's equations.
//! `prr`: Proportional Rate Reduction (RFC 9937) in SACK recovery.
//! `reorder`: DupThresh learnt from D-SACKs (RFC 2883, RFC 4653).
//! `undo`: window reductions shown spurious by D-SACKs or timestamps undone (RFC 3522, 3708).
//! `hystart`: HyStart++ (RFC 9406) in the initial slow start, round by round.

mod cubic;
mod dctcp;
mod ecn;
mod fuzz;
mod hystart;
mod icmp;
mod limits;
mod link;
mod predict;
mod prr;
mod reorder;
mod scenarios;
mod undo;

use super::*;
use crate::segment::{SackBlock, TcpOptions};
use std::vec;
use std::vec::Vec;

/// A host side: one `Tcb`, its buffers, the shared config and a clock.
pub(super) struct Host {
    pub cfg: TcbConfig,
    pub tcb: Tcb,
    pub snd: RingBuffer<Vec<u8>>,
    pub rcv: RingBuffer<Vec<u8>>,
    /// The connection's loss-recovery state (kept next to the `Tcb`, as an owner of one does).
    pub loss: LossState,
    pub now: Instant,
}

std::thread_local! {
    /// Segments header prediction took in this test thread (see [`Host::deliver`]).
    pub(super) static PREDICTED: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
}

/// A segment as it would travel: header plus payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Seg {
    pub h: TcpHeader,
    pub data: Vec<u8>,
    /// TSO: the device splits `data` into segments of this many bytes.
    pub tso: Option<u16>,
}

impl Host {
    pub fn new(cfg: TcbConfig, snd_cap: usize, rcv_cap: usize) -> Host {
        Host {
            cfg,
            tcb: Tcb::listen(&cfg),
            snd: RingBuffer::new(vec![0; snd_cap]),
            rcv: RingBuffer::new(vec![0; rcv_cap]),
            loss: LossState::EMPTY,
            now: Instant::from_secs(1),
        }
    }

    /// An active opener in SYN-SENT with ISS `iss`.
    pub fn client(cfg: TcbConfig, iss: u32, snd_cap: usize, rcv_cap: usize) -> Host {
        let mut h = Host::new(cfg, snd_cap, rcv_cap);
        h.tcb = Tcb::connect(&cfg, h.now, SeqNum(iss), &h.rcv);
        h
    }

    pub fn check(&self) {
        if let Err(e) = self.tcb.check_invariants(&self.snd, &self.loss) {
            panic!("invariant broken: {e}\n{:#?}", self.tcb);
        }
    }

    /// Delivers one segment through [`Tcb::on_segment`]; when header prediction
    /// ([`Tcb::on_segment_predicted`]) takes the same segment, checks on a twin that it left
    /// the connection, its buffers and its loss state exactly as the full state machine did.
    pub fn deliver(&mut self, h: TcpHeader, data: &[u8]) -> Reaction {
        let mut twin = (self.tcb.clone(), self.rcv.clone());
        let snd_len = self.snd.len();
        let predicted = twin.0.on_segment_predicted(
            &self.cfg,
            self.now,
            &h,
            data,
            snd_len,
            &mut twin.1,
            &self.loss,
        );
        if predicted.is_none() {
            assert_eq!(
                std::format!("{:?}", twin.0),
                std::format!("{:?}", self.tcb),
                "a refused prediction changed the connection"
            );
        }
        let loss_before = self.loss;
        let r = self.tcb.on_segment(
            &self.cfg,
            self.now,
            &h,
            data,
            &mut self.snd,
            &mut self.rcv,
            &mut self.loss,
        );
        if let Some(events) = predicted {
            PREDICTED.with(|n| n.set(n.get() + 1));
            assert_eq!(
                r,
                Reaction {
                    events,
                    ..Reaction::default()
                },
                "prediction and state machine react differently to {h:?}"
            );
            assert_eq!(
                std::format!("{:?}", twin.0),
                std::format!("{:?}", self.tcb),
                "prediction and state machine disagree on the connection after {h:?}"
            );
            assert_eq!(
                self.snd.len(),
                snd_len,
                "a predicted segment consumed send data"
            );
            assert_eq!(
                self.loss, loss_before,
                "a predicted segment changed loss state"
            );
            let (a, b) = (RecvBuffer::window(&twin.1), RecvBuffer::window(&self.rcv));
            assert_eq!(a, b, "receive windows differ");
            let (theirs, ours) = (twin.1.peek(0, usize::MAX), self.rcv.peek(0, usize::MAX));
            assert_eq!(
                [theirs.0, theirs.1].concat(),
                [ours.0, ours.1].concat(),
                "received bytes differ"
            );
        }
        self.check();
        r
    }

    pub fn deliver_seg(&mut self, s: &Seg) -> Reaction {
        self.deliver(s.h, &s.data)
    }

    /// Plans and commits one segment.
    pub fn send_one(&mut self) -> Option<Seg> {
        self.send_one_noted().map(|(seg, _)| seg)
    }

    /// [`send_one`](Self::send_one), with what the commit reported.
    pub fn send_one_noted(&mut self) -> Option<(Seg, Committed)> {
        let plan =
            self.tcb
                .poll_transmit(&self.cfg, self.now, &self.snd, &self.rcv, &mut self.loss)?;
        let mut data = Vec::with_capacity(plan.payload_len as usize);
        let (a, b) = self
            .snd
            .peek(plan.payload_offset as usize, plan.payload_len as usize);
        data.extend_from_slice(a);
        data.extend_from_slice(b);
        assert_eq!(
            data.len(),
            plan.payload_len as usize,
            "plan beyond the send buffer"
        );
        let note = self
            .tcb
            .commit(&self.cfg, self.now, &plan, &mut self.loss)
            .expect("fresh plan commits");
        self.check();
        Some((
            Seg {
                h: plan.header,
                data,
                tso: plan.tso_mss,
            },
            note,
        ))
    }

    /// Everything the host wants to send now.
    pub fn send_all(&mut self) -> Vec<Seg> {
        let mut out = Vec::new();
        while let Some(s) = self.send_one() {
            out.push(s);
            assert!(out.len() < 100_000, "runaway transmit loop");
        }
        out
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// Jumps to the next deadline (panics when there is none).
    pub fn advance_to_deadline(&mut self) {
        let at = self.tcb.next_deadline().expect("a deadline is armed");
        assert!(at >= self.now, "deadline in the past");
        self.now = at;
    }

    /// Everything acknowledged after retransmissions whose D-SACKs may still come: the
    /// otherwise idle retransmission timer bounds that wait (`undo`) to one RTO. Lets it
    /// expire and checks that it sends nothing, counts no timeout and drops the record.
    pub fn wait_out_undo(&mut self) {
        if !self.loss.undo_pending() {
            return;
        }
        assert_eq!(
            self.tcb.snd_una(),
            self.tcb.snd_max(),
            "only once all is acknowledged"
        );
        let timeouts = self.tcb.counters().timeouts;
        let at = self.tcb.next_deadline().expect("the wait is bounded");
        assert_eq!(at, self.now + self.tcb.rto(&self.cfg));
        self.advance_to_deadline();
        assert_eq!(self.send_all(), vec![], "the wait ends silently");
        assert_eq!(self.tcb.counters().timeouts, timeouts);
        assert!(!self.loss.undo_pending());
    }

    pub fn write(&mut self, data: &[u8]) -> usize {
        self.snd.write(data)
    }

    pub fn read_all(&mut self) -> Vec<u8> {
        let mut out = vec![0; self.rcv.len()];
        let n = self.rcv.read(&mut out);
        out.truncate(n);
        out
    }
}

/// Config without options (exact headers stay short): MSS 1000, RFC timers.
pub(super) fn plain() -> TcbConfig {
    TcbConfig {
        mss: 1000,
        window_scaling: false,
        timestamps: false,
        sack: false,
        ..TcbConfig::RFC
    }
}

/// A peer segment.
pub(super) fn seg(seq: u32, ack: Option<u32>, flags: TcpFlags, window: u16) -> TcpHeader {
    TcpHeader {
        seq: SeqNum(seq),
        ack: SeqNum(ack.unwrap_or(0)),
        flags: if ack.is_some() {
            flags | TcpFlags::ACK
        } else {
            flags
        },
        window,
        ..TcpHeader::default()
    }
}

pub(super) fn ack(seq: u32, ack: u32, window: u16) -> TcpHeader {
    seg(seq, Some(ack), TcpFlags::NONE, window)
}

pub(super) fn syn_opts(mss: u16) -> TcpOptions {
    TcpOptions {
        mss: Some(mss),
        ..TcpOptions::default()
    }
}

pub(super) fn sack(blocks: &[(u32, u32)]) -> TcpOptions {
    let mut o = TcpOptions::default();
    for &(l, r) in blocks {
        o.push_sack(SackBlock {
            left: SeqNum(l),
            right: SeqNum(r),
        });
    }
    o
}

/// A receiver for window-growth tests: the cumulative point, one out-of-order range above
/// it, and (when `ts` holds its clock) timestamps echoed from each segment.
pub(super) struct Peer {
    pub una: u32,
    pub ooo: Option<(u32, u32)>,
    pub ts: Option<u32>,
}

impl Peer {
    /// Expecting `una` next, without timestamps.
    pub fn new(una: u32) -> Peer {
        Peer {
            una,
            ooo: None,
            ts: None,
        }
    }

    /// Takes one segment; the ACK it answers with (SACK block while a hole remains).
    pub fn receive(&mut self, s: &Seg) -> TcpHeader {
        let (lo, hi) = (s.h.seq.0, s.h.seq.0 + s.data.len() as u32);
        if lo <= self.una {
            self.una = self.una.max(hi);
            if let Some((a, b)) = self.ooo {
                if a <= self.una {
                    self.una = self.una.max(b);
                    self.ooo = None;
                }
            }
        } else {
            self.ooo = Some(match self.ooo {
                Some((a, b)) => (a.min(lo), b.max(hi)),
                None => (lo, hi),
            });
        }
        let mut h = ack(Y + 1, self.una, 65535);
        if let Some((a, b)) = self.ooo {
            h.options = sack(&[(a, b)]);
        }
        if let Some(ts) = self.ts.as_mut() {
            *ts += 1;
            h.options.timestamps = Some((*ts, s.h.options.timestamps.expect("TSval").0));
        }
        h
    }
}

pub(super) const ISS: u32 = 1000;
pub(super) const Y: u32 = 5000;

/// A client that completed the handshake with a peer whose ISS is `Y` (plain config unless
/// given), window `peer_wnd`; the final ACK has been sent.
pub(super) fn established(cfg: TcbConfig, snd_cap: usize, rcv_cap: usize, peer_wnd: u16) -> Host {
    let mut c = Host::client(cfg, ISS, snd_cap, rcv_cap);
    let syn = c.send_one().expect("SYN");
    assert!(syn.h.flags.syn());
    let mut sa = seg(Y, Some(ISS + 1), TcpFlags::SYN, peer_wnd);
    sa.options = syn_opts(cfg.mss);
    let r = c.deliver(sa, &[]);
    assert!(r.events.contains(Events::ESTABLISHED));
    let a = c.send_all();
    assert_eq!(a.len(), 1, "exactly the handshake ACK");
    c
}

#[test]
fn connection_state_fits_in_256_bytes() {
    let size = core::mem::size_of::<Tcb>();
    std::println!(
        "size_of::<Tcb>() = {size} bytes, loss state {} bytes (kept apart)",
        core::mem::size_of::<LossState>()
    );
    // The endpoint adds its tuple, links and map share to this; 256 is for all of it.
    // CUBIC's 4 bytes sit in what was padding: 176 bytes and none of them padding now (the
    // next field takes the `Tcb` to 184 bytes).
    assert!(size <= 180, "Tcb is {size} bytes, the budget is 180");
    // The hot fields (sequence spaces, flags, state, windows, MSS) fit the first cache line.
    assert!(core::mem::offset_of!(Tcb, rcv_mss) + 2 <= 64);
}
