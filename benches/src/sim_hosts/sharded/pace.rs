//! The stepped round's transmit pacing: how many wire frames a shard may send in one round, so
//! that no round lands more frames on a receive ring than the ring can hold.
//!
//! # Why
//! In a stepped round every shard polls once, taking at most `rx_burst` frames from its
//! receive ring ([`SimHostsConfig::rx_burst`](crate::sim_hosts::SimHostsConfig)), and only
//! then are the NICs stepped until idle, which lands everything every shard sent in the round
//! on the peer's rings at once. A flow's frames land on the same queue index on both hosts, so
//! client shard q feeds only server shard q's ring and the other way round. Unpaced, a shard
//! with k connections sends up to k windows in a round, while the peer's ring is sized for
//! one window and drains `rx_burst` frames a round: the rest the NIC drops (no buffer posted,
//! `nic_rx_drops`), and TCP pays for each with a retransmission. A real host does not see
//! this: its receiver drains while the sender sends (the NIC raises an interrupt, the
//! softirq runs between the sender's bursts), or a lossless link pauses the sender.
//!
//! # The discipline
//! Each shard holds a credit of wire frames ([`TxCredit`]), refilled at the end of every
//! round by what its peer shard takes from its ring in a round: `rx_burst` frames, at most
//! half the ring. The shard's device view ([`Paced`]) sends a frame while credit is left and
//! takes the frame's wire frames from it (a TSO frame's segments: one frame may take the
//! credit below zero, a debt paid from the next round's refill); with no credit left it
//! answers as a full transmit ring does (no buffer), and the endpoint's send phase stops until
//! the next round. Unused credit is not saved beyond one round's worth.
//!
//! The bound this gives: a receive ring that its shard drained completely at some poll (every
//! ring did, at the start) afterwards gets at most the `R` frames of one round's refill plus
//! the debt of one TSO frame (`F - 1` wire frames) more than its shard took since, so it
//! never holds more than `R + F - 1` of its peer shard's frames: 256 + 45 with the defaults
//! (1500-byte MTU, 64 KiB TSO frames) against a ring of at least 1,024 entries. Frames the
//! NIC steers outside the pairing (ARP to queue 0, ICMP hashed on addresses only) are not
//! paced; they are few and the ring's slack holds them.
//!
//! The steady state is unchanged: a receiver takes at most `rx_burst` frames a round, paced
//! or not. Pacing moves what it cannot take yet from the peer's ring, where the excess was
//! dropped, to the sender's send queue, where it waits unsent (no retransmission timer runs
//! for it). One connection per shard, whose window its peer's ring holds, did not reach the
//! credit in the runs measured (each was frame for frame the unpaced one). With hundreds of
//! connections per shard a connection's ACK can wait behind the others' data for enough
//! rounds to outlast a 1 ms minimum RTO on the simulated clock: those spurious timeouts are
//! counted as retransmissions (far fewer than the drops they replace). The threaded mode has
//! no rounds and does not pace ([`TxCredit::UNLIMITED`]).
//!
//! Owns the credit and the device view that spends it. Must not contain protocol or device
//! logic: it counts frames and refuses buffers, nothing else.

use tcp_engine::device::{FrameDevice, OffloadCaps, RxMeta, TxMeta};

/// Wire frames a shard may still send in the current round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TxCredit {
    /// Wire frames left (below zero: the debt of a TSO frame that took more than was left).
    left: i64,
    /// The refill of each round, and the most that can be left at its start.
    per_round: i64,
    /// A buffer was refused this round for want of credit: the shard has frames to send now.
    refused: bool,
}

impl TxCredit {
    /// No pacing: the threaded mode, which has no rounds.
    pub(super) const UNLIMITED: TxCredit = TxCredit {
        left: i64::MAX,
        per_round: i64::MAX,
        refused: false,
    };

    /// A full round's credit of `per_round` wire frames (at least 1).
    pub(super) fn per_round(per_round: usize) -> TxCredit {
        let per_round = i64::try_from(per_round).unwrap_or(i64::MAX).max(1);
        TxCredit {
            left: per_round,
            per_round,
            refused: false,
        }
    }

    /// The credit for a round that receives `rx_burst` frames a poll from a ring of
    /// `ring_entries` entries: `rx_burst`, at most half the ring (the other half holds one TSO
    /// frame's debt and frames outside the pairing).
    pub(super) fn for_ring(rx_burst: usize, ring_entries: u16) -> TxCredit {
        TxCredit::per_round(rx_burst.min(usize::from(ring_entries) / 2))
    }

    /// The start of a new round: the refill added, the debt paid, at most one round's worth.
    pub(super) fn refill(&mut self) {
        self.left = self.left.saturating_add(self.per_round).min(self.per_round);
        self.refused = false;
    }

    /// A buffer was refused since the last [`refill`](Self::refill) for want of credit: the
    /// shard still has frames to send at the current time (a round that only paid a debt is
    /// not idle).
    pub(super) fn refused(&self) -> bool {
        self.refused
    }

    /// Wire frames left this round (below zero: a debt).
    #[cfg(test)]
    pub(super) fn left(&self) -> i64 {
        self.left
    }

    /// Credit is left; when not, the refusal is noted.
    fn available(&mut self) -> bool {
        let yes = self.left > 0;
        self.refused |= !yes;
        yes
    }

    fn spend(&mut self, frames: i64) {
        self.left = self.left.saturating_sub(frames);
    }
}

/// The wire frames of a frame of `len` bytes sent with `meta`: its TSO segments, else one.
fn wire_frames(len: usize, meta: &TxMeta) -> i64 {
    match meta.tso_mss {
        Some(mss) if mss > 0 => {
            let headers =
                usize::from(meta.l2_len) + usize::from(meta.l3_len) + usize::from(meta.l4_len);
            let segments = len
                .saturating_sub(headers)
                .div_ceil(usize::from(mss))
                .max(1);
            i64::try_from(segments).unwrap_or(i64::MAX)
        }
        _ => 1,
    }
}

/// `device` as a paced shard's endpoint sees it: receive unchanged; transmit only while
/// `credit` is left, each accepted frame's wire frames taken from it.
pub(super) struct Paced<'a, D> {
    pub(super) device: D,
    pub(super) credit: &'a mut TxCredit,
}

impl<D: FrameDevice> FrameDevice for Paced<'_, D> {
    fn caps(&self) -> OffloadCaps {
        self.device.caps()
    }

    fn rx_burst<F: FnMut(&mut [u8], RxMeta)>(&mut self, max: usize, on_frame: F) -> usize {
        self.device.rx_burst(max, on_frame)
    }

    fn transmit<F: FnOnce(&mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        fill: F,
    ) -> Option<(usize, TxMeta)> {
        if !self.credit.available() {
            return None;
        }
        let sent = self.device.transmit(fill);
        if let Some((len, meta)) = &sent {
            self.credit.spend(wire_frames(*len, meta));
        }
        sent
    }

    fn transmit_batch<F: FnMut(usize, &mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        count: usize,
        mut fill: F,
    ) -> usize {
        if !self.credit.available() {
            return 0;
        }
        // Software-segmented frames are one wire frame each: offer no more than the credit.
        let count = count.min(usize::try_from(self.credit.left).unwrap_or(usize::MAX));
        // The wire frames of every frame `fill` wrote, and of the last one alone: the device
        // accepted frames `0..sent` and may have refused the last one written.
        let (mut written, mut last, mut calls) = (0i64, 0i64, 0usize);
        let sent = self.device.transmit_batch(count, |i, buf| {
            calls += 1;
            let out = fill(i, buf);
            last = out
                .as_ref()
                .map_or(0, |(len, meta)| wire_frames(*len, meta));
            written = written.saturating_add(last);
            out
        });
        let refused_last = if calls > sent { last } else { 0 };
        self.credit.spend(written.saturating_sub(refused_last));
        sent
    }

    fn flush(&mut self) {
        self.device.flush();
    }

    fn peek_rx<F: FnMut(&[u8])>(&mut self, max: usize, on_frame: F) {
        self.device.peek_rx(max, on_frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device that accepts `accept` frames, then has no buffer (or, with `write_then_refuse`,
    /// lets `fill` write and refuses the frame); counts what it accepted.
    struct Sink {
        accept: usize,
        sent: usize,
        write_then_refuse: bool,
    }

    impl Sink {
        fn new(accept: usize) -> Sink {
            Sink {
                accept,
                sent: 0,
                write_then_refuse: false,
            }
        }
    }

    impl FrameDevice for Sink {
        fn caps(&self) -> OffloadCaps {
            OffloadCaps::none(1514)
        }

        fn rx_burst<F: FnMut(&mut [u8], RxMeta)>(&mut self, _: usize, _: F) -> usize {
            0
        }

        fn transmit<F: FnOnce(&mut [u8]) -> Option<(usize, TxMeta)>>(
            &mut self,
            fill: F,
        ) -> Option<(usize, TxMeta)> {
            let mut buf = [0u8; 16];
            if self.sent == self.accept {
                if self.write_then_refuse {
                    let _ = fill(&mut buf);
                }
                return None;
            }
            let out = fill(&mut buf)?;
            self.sent += 1;
            Some(out)
        }
    }

    fn tso(payload: usize, mss: u16) -> (usize, TxMeta) {
        let meta = TxMeta {
            checksum: true,
            tso_mss: Some(mss),
            l2_len: 14,
            l3_len: 20,
            l4_len: 32,
        };
        (66 + payload, meta)
    }

    #[test]
    fn wire_frames_count_tso_segments() {
        assert_eq!(wire_frames(60, &TxMeta::NONE), 1);
        assert_eq!(wire_frames(tso(1448, 1448).0, &tso(1448, 1448).1), 1);
        assert_eq!(wire_frames(tso(1449, 1448).0, &tso(1449, 1448).1), 2);
        assert_eq!(wire_frames(tso(65_160, 1448).0, &tso(65_160, 1448).1), 45);
        // A TSO request without payload is still one frame on the wire.
        assert_eq!(wire_frames(tso(0, 1448).0, &tso(0, 1448).1), 1);
    }

    #[test]
    fn credit_stops_transmit_takes_a_tso_debt_and_refills_one_round_at_most() {
        let mut credit = TxCredit::per_round(50);
        let mut paced = Paced {
            device: Sink::new(usize::MAX),
            credit: &mut credit,
        };
        // 45 segments fit; the next TSO frame goes out with 5 left and leaves a debt of 40.
        for _ in 0..2 {
            assert!(paced.transmit(|_| Some(tso(65_160, 1448))).is_some());
        }
        assert_eq!(paced.credit.left(), -40);
        let mut called = false;
        assert!(
            paced
                .transmit(|_| {
                    called = true;
                    Some((60, TxMeta::NONE))
                })
                .is_none()
        );
        assert!(!called, "no buffer is offered without credit");
        assert!(paced.credit.refused());
        assert_eq!(paced.transmit_batch(8, |_, _| Some((60, TxMeta::NONE))), 0);
        assert_eq!(paced.device.sent, 2);
        // The refill pays the debt first; an idle round saves nothing beyond one round.
        credit.refill();
        assert_eq!(credit.left(), 10);
        assert!(!credit.refused(), "a new round");
        credit.refill();
        credit.refill();
        assert_eq!(credit.left(), 50);
    }

    #[test]
    fn a_batch_is_cut_to_the_credit_and_charged_only_for_what_the_device_took() {
        let mut credit = TxCredit::per_round(5);
        let mut paced = Paced {
            device: Sink::new(usize::MAX),
            credit: &mut credit,
        };
        let mut offered = 0;
        let sent = paced.transmit_batch(8, |_, _| {
            offered += 1;
            Some((60, TxMeta::NONE))
        });
        assert_eq!((sent, offered, paced.credit.left()), (5, 5, 0));

        // A device with no buffer after two frames, then one that refuses the third frame
        // after `fill` wrote it: either way only the two frames taken are charged.
        for write_then_refuse in [false, true] {
            credit.refill();
            let mut paced = Paced {
                device: Sink {
                    write_then_refuse,
                    ..Sink::new(2)
                },
                credit: &mut credit,
            };
            let mut offered = 0;
            let sent = paced.transmit_batch(4, |_, _| {
                offered += 1;
                Some((60, TxMeta::NONE))
            });
            assert_eq!(sent, 2);
            assert_eq!(offered, 2 + usize::from(write_then_refuse));
            assert_eq!(
                paced.credit.left(),
                3,
                "write_then_refuse {write_then_refuse}"
            );
        }
    }

    #[test]
    fn unlimited_credit_never_runs_out() {
        let mut credit = TxCredit::UNLIMITED;
        credit.spend(1 << 40);
        assert!(credit.available());
        credit.refill();
        assert_eq!(credit, TxCredit::UNLIMITED);
    }
}
