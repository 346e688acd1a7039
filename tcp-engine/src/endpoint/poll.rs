//! The device-driving helper: one call runs a receive burst through the endpoint (prefetched
//! first when the endpoint is large), sends the in-place replies, then sends segments until
//! nothing is left (or the device is full), with one flush per call. Without TSO on the device,
//! super-segments are cut into MSS-sized frames here (software segmentation): planned and
//! committed once, written frame by frame into the device's buffers, and committed only as far
//! as the device took them.
//!
//! Replies written in place cannot be sent while the device's receive burst holds the device,
//! so they are copied into a small fixed stash (inside the endpoint: no allocation) and sent
//! right after the burst; replies that do not fit are dropped and counted
//! (`replies_dropped`), as a NIC drops what its queue cannot hold.

use super::direct::{NoSink, ReceiveSink};
use super::prefetch::Prefetcher;
use super::rx::{Open, Received};
use super::tx::{NextOutput, Outbound, PlannedSegment};
use super::{BucketStorage, ConnectionBuffers, Endpoint, LossStorage, SlotStorage};
use crate::device::{FrameDevice, TxMeta};
use crate::time::Instant;
use crate::wire::frame::parse_tcp_fast;

/// Bytes of reply frames kept per burst.
const STASH_BYTES: usize = 4096;
/// Reply frames kept per burst.
const STASH_REPLIES: usize = 32;

/// Replies waiting for the end of a receive burst.
pub(super) struct ReplyStash {
    bytes: [u8; STASH_BYTES],
    entries: [(u16, u16, TxMeta); STASH_REPLIES],
    count: usize,
    used: usize,
}

impl ReplyStash {
    pub(super) const fn new() -> ReplyStash {
        ReplyStash {
            bytes: [0; STASH_BYTES],
            entries: [(0, 0, TxMeta::NONE); STASH_REPLIES],
            count: 0,
            used: 0,
        }
    }

    /// Keeps `frame`; `false` when it does not fit.
    fn push(&mut self, frame: &[u8], meta: TxMeta) -> bool {
        if self.count == STASH_REPLIES || STASH_BYTES - self.used < frame.len() {
            return false;
        }
        self.bytes[self.used..self.used + frame.len()].copy_from_slice(frame);
        self.entries[self.count] = (self.used as u16, frame.len() as u16, meta);
        self.count += 1;
        self.used += frame.len();
        true
    }

    fn clear(&mut self) {
        self.count = 0;
        self.used = 0;
    }
}

/// What one [`Endpoint::poll`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Frames received.
    pub received: usize,
    /// Frames sent (replies included).
    pub transmitted: usize,
    /// Events handed to the handler.
    pub events: usize,
}

impl<B: ConnectionBuffers, SS: SlotStorage<B>, MS: BucketStorage, LS: LossStorage>
    Endpoint<B, SS, MS, LS>
{
    /// Software segmentation: sends super-segment `seg` as MSS-sized frames, at most `budget`
    /// of them, and commits what went out. Returns the frames sent and whether the device
    /// refused one (or had no buffer) before the end.
    fn send_gso<D: FrameDevice>(
        &mut self,
        now: Instant,
        device: &mut D,
        seg: &PlannedSegment,
        budget: usize,
    ) -> (usize, bool) {
        let total = seg.plan.payload_len;
        let mss = seg.plan.tso_mss.map_or(total, u32::from).max(1);
        let Some(template) = self.gso_template(seg) else {
            // Cannot happen right after planning; stop the burst rather than plan it again.
            return (0, true);
        };
        let Some(source) = self.gso_source(seg) else {
            return (0, true);
        };
        // One device call for the whole batch: frame `i` carries the payload at `i * mss`.
        // Every call of `fill` takes an IPv4 identification (as one `poll_transmit` per
        // frame would), accepted or not.
        let count = (total.div_ceil(mss) as usize).min(budget);
        let first_ident = self.last_ident();
        let (mut calls, mut last_len, mut bytes) = (0usize, None::<usize>, 0u64);
        let plan = &seg.plan;
        let frames = device.transmit_batch(count, |i, buf| {
            calls += 1;
            let offset = i as u32 * mss;
            let len = mss.min(total - offset);
            let ident = first_ident.wrapping_add(i as u16).wrapping_add(1);
            let out = source.write(&template, plan, ident, offset, len, buf);
            last_len = out.map(|(n, _)| n);
            if let Some((n, _)) = out {
                bytes += n as u64;
            }
            out
        });
        // A device that claims more frames than it was offered cannot make the engine
        // commit bytes it never segmented.
        let frames = frames.min(count);
        self.take_idents(calls);
        let refused = frames < count;
        if refused && calls > frames {
            // `fill` ran for the frame that did not go.
            match last_len {
                Some(n) => {
                    bytes -= n as u64;
                    self.counters.tx_device_refused += 1;
                }
                // The device's buffer cannot hold one segment.
                None => self.counters.tx_buffer_too_small += 1,
            }
        }
        let offset = (frames as u32 * mss).min(total);
        if offset > 0 {
            self.commit_gso(now, seg, offset, frames as u64, bytes);
        }
        (frames, refused)
    }

    /// One round over `device` at `now`: receives up to `rx_burst` frames (each
    /// [`receive`](Self::receive)d; every [`Open`] goes to `on_event`, which may read, write,
    /// listen, close...), sends the in-place replies, then runs the send phase until nothing is
    /// left, the device is full or `tx_burst` frames went (timer events on the way go to
    /// `on_event` too), and flushes the device once.
    ///
    /// Consecutive in-order data segments of one connection within the burst are received
    /// as one run (software GRO, see the `gro` module): each is accepted exactly as
    /// [`receive`](Self::receive) would, but the run reports one [`Open`] (its segments'
    /// events merged, [`Events::READABLE`](crate::tcb::Events::READABLE)) when it ends, before
    /// anything else of the burst.
    ///
    /// A poll loop calls this, then sleeps until [`next_deadline`](Self::next_deadline) or the
    /// device has frames, whichever comes first.
    pub fn poll<D: FrameDevice>(
        &mut self,
        now: Instant,
        device: &mut D,
        on_event: impl FnMut(&mut Self, Open),
    ) -> PollReport {
        self.poll_direct(now, device, on_event, NoSink)
    }

    /// [`poll`](Self::poll) with zero-copy receive: in-order payload that arrives while its
    /// connection's receive buffer is empty is offered to `sink` straight from the received
    /// frame (see [`ReceiveSink`]), before any event of the frame reaches `on_event`; what the
    /// sink does not take is buffered for [`read`](Self::read) as usual. Events are unchanged:
    /// a segment (or a GRO run) whose payload the sink took whole still reports
    /// [`Events::READABLE`](crate::tcb::Events::READABLE), and a read then finds nothing.
    pub fn poll_direct<D: FrameDevice, K: ReceiveSink>(
        &mut self,
        now: Instant,
        device: &mut D,
        mut on_event: impl FnMut(&mut Self, Open),
        mut sink: K,
    ) -> PollReport {
        let mut report = PollReport::default();
        let burst = self.rx_burst;
        if self.table.len() >= super::PREFETCH_MIN_CONNECTIONS {
            let mut prefetch = Prefetcher::new();
            device.peek_rx(burst, |frame| prefetch.add(self, frame));
            prefetch.flush(self);
        }
        device.rx_burst(burst, |frame, meta| {
            report.received += 1;
            if self.gro_follow(
                now,
                frame,
                meta,
                &mut sink,
                &mut on_event,
                &mut report.events,
            ) {
                return;
            }
            let fast = parse_tcp_fast(frame, meta, self.mac);
            if self.gro_begin(
                now,
                frame,
                &fast,
                &mut sink,
                &mut on_event,
                &mut report.events,
            ) {
                return;
            }
            let reply = match self.receive_parsed::<K, false>(now, frame, meta, &fast, &mut sink) {
                Received::Reply(r) => Some(r),
                Received::Open(Open { key, events, reply }) => {
                    report.events += 1;
                    // Field by field: the answer was just written field by field, and a
                    // whole-struct copy of it would wait on store forwarding.
                    on_event(self, Open { key, events, reply });
                    reply
                }
                Received::Nothing | Received::Dropped(_) => None,
            };
            if let Some(r) = reply {
                if !self.stash.push(&frame[..r.len.min(frame.len())], r.meta) {
                    self.counters.replies_dropped += 1;
                }
            }
        });
        self.gro_flush(&mut on_event, &mut report.events);
        for i in 0..self.stash.count {
            let (at, len, meta) = self.stash.entries[i];
            let (at, len) = (usize::from(at), usize::from(len));
            let bytes = &self.stash.bytes[at..at + len];
            let sent = device.transmit(|buf| {
                let n = bytes.len();
                if buf.len() < n {
                    return None;
                }
                buf[..n].copy_from_slice(bytes);
                Some((n, meta))
            });
            if sent.is_some() {
                report.transmitted += 1;
                self.counters.tx_frames += 1;
                self.counters.tx_bytes += len as u64;
            } else {
                self.counters.replies_dropped += 1;
            }
        }
        self.stash.clear();
        let mut budget = self.tx_burst;
        while budget > 0 {
            let mut next = self.next_output(now);
            // Matched by reference: a planned segment is written and committed where
            // `next_output` put it, not copied out right after it was written.
            match &mut next {
                NextOutput::Nothing | NextOutput::Again => break,
                NextOutput::Event(e) => {
                    let e = *e;
                    report.events += 1;
                    on_event(self, e);
                }
                NextOutput::Segment(seg) if self.gso && seg.plan.tso_mss.is_some() => {
                    let (frames, refused) = self.send_gso(now, device, seg, budget);
                    budget -= frames;
                    report.transmitted += frames;
                    if refused {
                        break;
                    }
                }
                NextOutput::Segment(seg) => {
                    // Written and committed in place: the plan is not copied into a frame.
                    let mut written = false;
                    let sent = device.transmit(|buf| {
                        let out = self.write_planned(seg, buf);
                        written = out.is_some();
                        out
                    });
                    match sent {
                        Some((len, meta)) => {
                            budget -= 1;
                            report.transmitted += 1;
                            // As below: a commit cannot fail here (counted if it ever does).
                            let _ = self.commit_segment(now, seg.key, &seg.plan, len, meta.tso_mss);
                        }
                        None if written => {
                            self.counters.tx_device_refused += 1;
                            break;
                        }
                        None => break,
                    }
                }
                _ => {
                    let mut written = None;
                    let sent = device.transmit(|buf| match self.write_output(next, buf) {
                        Outbound::Frame(f) => {
                            written = Some(f);
                            Some((f.len, f.meta))
                        }
                        Outbound::Event(_) | Outbound::Nothing => None,
                    });
                    match (sent, written) {
                        (Some(_), Some(frame)) => {
                            budget -= 1;
                            report.transmitted += 1;
                            // A commit can only fail if the connection changed in between,
                            // which nothing here does; it is counted by the endpoint if it
                            // ever happens.
                            let _ = self.commit(now, &frame);
                        }
                        (None, Some(_)) => {
                            // The device ran `fill` and refused the frame: nothing was sent.
                            self.counters.tx_device_refused += 1;
                            break;
                        }
                        _ => break,
                    }
                }
            }
        }
        device.flush();
        report
    }
}
