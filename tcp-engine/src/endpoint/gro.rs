//! Software GRO for [`Endpoint::poll_direct`](super::Endpoint::poll_direct): within one
//! receive burst, consecutive in-order data segments of one connection form a run that costs
//! one connection lookup, one event, one timer filing and one send-queue check, whatever its
//! length.
//!
//! Each segment of a run is taken by header prediction
//! ([`Tcb::on_segment_predicted`](crate::tcb::Tcb::on_segment_predicted)), so the connection
//! ends exactly where the full state machine would have left it segment by segment: sequence
//! numbers, windows, TS.Recent (PAWS), the delayed-ACK policy (an ACK at least every second
//! full segment, sent after the burst) and the bytes handed to the [`ReceiveSink`] or the
//! receive buffer. What a run saves is the endpoint's per-segment bookkeeping: a frame that
//! continues the run (same 4-tuple as the run's last segment, the fast frame shape of
//! [`parse_tcp_fast`]: ACK with optional PSH, timestamps or no options, checksums verified by
//! the device or in software) skips the lookup and the timer and queue updates, and its
//! READABLE event is merged into the run's one event. A run ends at the first frame that is
//! not its connection's predicted next segment (another connection, a FIN, RST, SYN or URG,
//! out-of-order data, an ACK of new data, SACK, PAWS, a full window, a bad checksum...), and
//! at the end of the burst: then its timers are filed, the connection queued for the send
//! phase if it has something to send (its ACK), and its event handed to the handler, before
//! anything else of the burst is looked at. Segments are still counted one by one
//! (`rx_frames`, `rx_segments`, `rx_payload_bytes`); `rx_predicted` and `rx_coalesced` count
//! what the short paths took.
//!
//! Unlike a NIC's or Linux's GRO no super-segment is built: the payloads go to the sink (or
//! the buffer) one by one, straight from their frames, so nothing is copied and no segment
//! has to be held across callbacks of the device's burst.
//!
//! Owns the run in progress; it must not change connection state except through header
//! prediction, and must not hand a run's event out of order with the burst's other events.

use core::net::Ipv4Addr;

use super::direct::{DirectRecv, ReceiveSink};
use super::rx::Open;
use super::{BucketStorage, ConnectionBuffers, Endpoint, LossStorage, QState, SlotStorage};
use crate::device::RxMeta;
use crate::table::{FourTuple, Matched, SlotKey};
use crate::tcb::{Events, SendBuffer};
use crate::time::Instant;
use crate::wire::frame::{FastTcp, parse_tcp_fast};

/// The run in progress: its connection, its 4-tuple, the connection's deadline before the
/// run, and the events it owes the handler.
#[derive(Clone, Copy, Debug)]
pub(super) struct GroRun {
    key: SlotKey,
    tuple: FourTuple,
    deadline_before: Option<Instant>,
    events: Events,
}

/// What [`Endpoint::gro_receive`] did with a frame.
pub(super) enum GroTake {
    /// The frame joined (or began) the run; it is fully received.
    Taken,
    /// Not a predicted segment: receive it normally, with what the fast parser made of it.
    Normal(Option<FastTcp>),
}

impl<B: ConnectionBuffers, SS: SlotStorage<B>, MS: BucketStorage, LS: LossStorage>
    Endpoint<B, SS, MS, LS>
{
    /// Offers one frame of a burst to the run in progress. A frame that does not continue
    /// the run ends it first (its event goes to `on_event`, counted in `events`), then may
    /// begin a new run.
    #[inline]
    pub(super) fn gro_receive<K: ReceiveSink + ?Sized>(
        &mut self,
        now: Instant,
        frame: &[u8],
        meta: RxMeta,
        sink: &mut K,
        on_event: &mut impl FnMut(&mut Self, Open),
        events: &mut usize,
    ) -> GroTake {
        let Some(fast) = parse_tcp_fast(frame, meta, self.mac) else {
            self.gro_flush(on_event, events);
            return GroTake::Normal(None);
        };
        let h = &fast.header;
        let tuple = FourTuple::new(
            Ipv4Addr::from(fast.dst_ip),
            h.dst_port,
            Ipv4Addr::from(fast.src_ip),
            h.src_port,
        );
        let run = match self.gro {
            Some(run) if run.tuple == tuple => Some(run),
            _ => {
                self.gro_flush(on_event, events);
                None
            }
        };
        let key = match run {
            Some(run) => run.key,
            None => {
                // The checks the fast path makes before its lookup.
                if fast.dst_ip != self.cidr.address() || h.src_port == 0 || h.dst_port == 0 {
                    return GroTake::Normal(Some(fast));
                }
                match self.table.lookup_segment_cached(&tuple) {
                    Some(Matched::Connection(key)) => key,
                    _ => return GroTake::Normal(Some(fast)),
                }
            }
        };
        self.advance(now);
        let payload = &frame[fast.payload.clone()];
        let cfg = &self.cfg;
        let Some(c) = self.table.get_mut(key) else {
            return GroTake::Normal(Some(fast));
        };
        if c.qstate == QState::Zombie {
            return GroTake::Normal(Some(fast));
        }
        let deadline_before = if run.is_none() {
            c.tcb.next_deadline()
        } else {
            None
        };
        let loss = super::loss_of(&mut self.loss, &mut self.scratch, c);
        let Some(b) = c.buffers.as_mut() else {
            return GroTake::Normal(Some(fast));
        };
        let (snd, rcv) = b.split_mut();
        let snd_len = SendBuffer::len(snd);
        let (taken, direct) =
            if K::ACTIVE && DirectRecv::<_, K>::eligible(rcv, loss.out_of_order().is_empty()) {
                let mut direct = DirectRecv::new(rcv, sink, key);
                let taken =
                    c.tcb
                        .on_segment_predicted(cfg, now, h, payload, snd_len, &mut direct, loss);
                (taken, direct.delivered())
            } else {
                let taken = c
                    .tcb
                    .on_segment_predicted(cfg, now, h, payload, snd_len, rcv, loss);
                (taken, 0)
            };
        let Some(new_events) = taken else {
            // Nothing changed; the run (if any) ends before the frame is received normally.
            self.gro_flush(on_event, events);
            return GroTake::Normal(Some(fast));
        };
        let counters = &mut self.counters;
        counters.rx_frames += 1;
        counters.rx_bytes += frame.len() as u64;
        counters.rx_segments += 1;
        counters.rx_payload_bytes += payload.len() as u64;
        counters.rx_direct_bytes += direct as u64;
        counters.rx_predicted += 1;
        match &mut self.gro {
            Some(run) => {
                counters.rx_coalesced += 1;
                run.events |= new_events;
            }
            run => {
                *run = Some(GroRun {
                    key,
                    tuple,
                    deadline_before,
                    events: new_events,
                })
            }
        }
        GroTake::Taken
    }

    /// Ends the run in progress, if any: files the connection's timers if its deadline
    /// moved, queues it for the send phase if it has something to send, and hands its event
    /// to `on_event` (counted in `events`).
    #[inline]
    pub(super) fn gro_flush(
        &mut self,
        on_event: &mut impl FnMut(&mut Self, Open),
        events: &mut usize,
    ) {
        let Some(run) = self.gro.take() else {
            return;
        };
        let idx = run.key.index();
        self.reschedule_if_changed(idx, run.deadline_before);
        self.make_ready_if_output(idx);
        *events += 1;
        on_event(
            self,
            Open {
                key: run.key,
                events: run.events,
                reply: None,
            },
        );
    }
}
