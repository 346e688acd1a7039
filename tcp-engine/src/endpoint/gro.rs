//! Software GRO for [`Endpoint::poll_direct`](super::Endpoint::poll_direct): within one
//! receive burst, consecutive in-order data segments of one connection form a run that costs
//! one connection lookup, one event, one timer filing and one send-queue check, whatever its
//! length.
//!
//! A run's first segment is taken by header prediction
//! ([`Tcb::on_segment_predicted`](crate::tcb::Tcb::on_segment_predicted)), its later ones by
//! [`Tcb::on_segment_followed`](crate::tcb::Tcb::on_segment_followed), which checks and does
//! only what such a segment can change; the connection ends exactly where the full state
//! machine would have left it segment by segment (the tests compare the two): sequence
//! numbers, windows, TS.Recent (PAWS), the delayed-ACK policy (an ACK at least every second
//! full segment, sent after the burst) and the bytes handed to the [`ReceiveSink`] or the
//! receive buffer. What a run saves is the endpoint's per-segment bookkeeping: a frame that
//! continues the run skips the parser, the lookup and the timer and queue updates, and its
//! READABLE event is merged into the run's one event. A frame continues the run when its
//! checksums are good (the device's verdicts, or verified in software where the device did
//! not check) and its headers repeat the run's first frame (taken
//! apart by [`parse_tcp_fast`]: ACK with optional PSH, timestamps or no options) in
//! everything but what changes from one segment to the next: the IPv4 length,
//! identification and checksum, the TCP sequence number, PSH, checksum and timestamp values
//! (as Linux's GRO compares them). Its connection, acknowledgement and window are then the
//! run's, and header prediction checks the rest (sequence number, PAWS, window room). A run
//! ends at the first frame that is not its connection's predicted next segment with the
//! run's headers (another connection, a FIN, RST, SYN or URG, out-of-order data, an ACK of
//! new data, a new window, SACK, PAWS, a full receive window, a bad checksum...), and at
//! the end of the burst: then its timers are filed, the connection queued for the send
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

use core::ops::Range;

use super::direct::{DirectRecv, ReceiveSink};
use super::rx::Open;
use super::{BucketStorage, ConnectionBuffers, Endpoint, LossStorage, QState, SlotStorage};
use crate::device::RxMeta;
use crate::segment::{TcpFlags, TcpHeader};
use crate::seq::SeqNum;
use crate::table::SlotKey;
use crate::tcb::{Events, LossState, RecvBuffer, SendBuffer, Tcb, TcbConfig};
use crate::time::Instant;
#[cfg(doc)]
use crate::wire::frame::parse_tcp_fast;
use crate::wire::frame::{FastTcp, tcp_checksums_ok};

/// Header bytes a run keeps from its first frame: Ethernet, IPv4 without options, TCP with
/// the timestamp option at most.
const HEAD_MAX: usize = 14 + 20 + 32;
/// Words of 8 bytes the comparison reads (covering `HEAD_MAX`).
const HEAD_WORDS: usize = HEAD_MAX.div_ceil(8);

/// The run in progress: its connection, the connection's deadline before the run, the events
/// it owes the handler, and the first frame's headers, which its later frames must repeat.
#[derive(Clone, Copy, Debug)]
pub(super) struct GroRun {
    key: SlotKey,
    deadline_before: Option<Instant>,
    events: Events,
    /// The first frame's header bytes as words, masked by `mask`.
    head: [u64; HEAD_WORDS],
    /// Which bits of the header words a later frame must repeat.
    mask: [u64; HEAD_WORDS],
    /// Header bytes (54 or 66).
    head_len: usize,
    /// The first frame's TCP header as parsed.
    header: TcpHeader,
}

/// The header words of `frame` (which holds at least `HEAD_WORDS * 8` bytes).
#[inline(always)]
fn words(frame: &[u8; HEAD_WORDS * 8]) -> [u64; HEAD_WORDS] {
    core::array::from_fn(|i| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&frame[8 * i..8 * i + 8]);
        u64::from_ne_bytes(w)
    })
}

impl GroRun {
    /// A run starting with `frame`, whose headers take `head_len` bytes (54 or 66: the fast
    /// shape) and parse as `header`. `None` for a frame too short to compare words of (the
    /// run then ends with its first segment).
    fn new(
        key: SlotKey,
        deadline_before: Option<Instant>,
        events: Events,
        frame: &[u8],
        head_len: usize,
        header: TcpHeader,
    ) -> Option<GroRun> {
        let bytes: &[u8; HEAD_WORDS * 8] = frame.get(..HEAD_WORDS * 8)?.try_into().ok()?;
        if !(54..=HEAD_MAX).contains(&head_len) {
            return None;
        }
        // What changes from one segment to the next: IPv4 total length (16-17),
        // identification (18-19) and checksum (24-25); TCP sequence number (38-41), PSH
        // (bit 3 of byte 47), checksum (50-51) and timestamp values (58-65); the payload.
        // The DSCP/ECN byte (15) is compared: a frame a router marked CE (RFC 3168) ends the
        // run, and the fast parser leaves it to the general one (which reports the mark as
        // `TcpFlags::IP_CE`), so it takes the state machine, which echoes it.
        let mut keep = [0xFFu8; HEAD_WORDS * 8];
        for i in [16, 17, 18, 19, 24, 25, 38, 39, 40, 41, 50, 51] {
            keep[i] = 0;
        }
        keep[47] = !0x08;
        for b in &mut keep[head_len.min(58)..] {
            *b = 0;
        }
        let mask = words(&keep);
        let mut head = words(bytes);
        for (h, m) in head.iter_mut().zip(mask) {
            *h &= m;
        }
        Some(GroRun {
            key,
            deadline_before,
            events,
            head,
            mask,
            head_len,
            header,
        })
    }

    /// When `frame` repeats the run's headers in everything but what changes from one
    /// segment to the next (see [`GroRun::new`]) and its checksums are good (the device's
    /// verdicts, or computed here): its TCP header and where its payload lies. What
    /// [`parse_tcp_fast`] would make of it, from a comparison with the frame it already took
    /// apart.
    #[inline]
    fn follower(&self, frame: &[u8], meta: RxMeta) -> Option<(TcpHeader, Range<usize>)> {
        let bytes: &[u8; HEAD_WORDS * 8] = frame.get(..HEAD_WORDS * 8)?.try_into().ok()?;
        let w = words(bytes);
        let mut diff = 0;
        for ((w, m), h) in w.iter().zip(&self.mask).zip(&self.head) {
            diff |= (w & m) ^ h;
        }
        if diff != 0 {
            return None;
        }
        let n = self.head_len;
        let total = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
        if total + 14 < n || total + 14 > frame.len() {
            return None;
        }
        if !tcp_checksums_ok(&bytes[14..34], &frame[34..14 + total], meta) {
            return None;
        }
        let mut h = self.header;
        h.seq = SeqNum(u32::from_be_bytes([
            bytes[38], bytes[39], bytes[40], bytes[41],
        ]));
        h.flags = TcpFlags(u16::from_be_bytes([bytes[46], bytes[47]]) & 0x01FF);
        if n == HEAD_MAX {
            h.options.timestamps = Some((
                u32::from_be_bytes([bytes[58], bytes[59], bytes[60], bytes[61]]),
                u32::from_be_bytes([bytes[62], bytes[63], bytes[64], bytes[65]]),
            ));
        }
        Some((h, n..14 + total))
    }
}

/// One segment for a run's connection, with what taking it needs.
struct Segment<'a> {
    cfg: &'a TcbConfig,
    now: Instant,
    h: &'a TcpHeader,
    payload: &'a [u8],
    snd_len: usize,
    loss: &'a LossState,
    /// It begins the run (header prediction) rather than continuing it.
    first: bool,
}

impl Segment<'_> {
    #[inline(always)]
    fn take<R: RecvBuffer + ?Sized>(&self, tcb: &mut Tcb, rcv: &mut R) -> Option<Events> {
        let s = self;
        if s.first {
            tcb.on_segment_predicted(s.cfg, s.now, s.h, s.payload, s.snd_len, rcv, s.loss)
        } else {
            tcb.on_segment_followed(s.cfg, s.now, s.h, s.payload, rcv)
        }
    }
}

impl<B: ConnectionBuffers, SS: SlotStorage<B>, MS: BucketStorage, LS: LossStorage>
    Endpoint<B, SS, MS, LS>
{
    /// Offers one frame of a burst to the run in progress, as its next segment. `false`: it
    /// is not; the run has ended (its event went to `on_event`, counted in `events`) and the
    /// caller parses the frame and offers it to [`gro_begin`](Self::gro_begin).
    #[inline]
    pub(super) fn gro_follow<K: ReceiveSink + ?Sized>(
        &mut self,
        now: Instant,
        frame: &[u8],
        meta: RxMeta,
        sink: &mut K,
        on_event: &mut impl FnMut(&mut Self, Open),
        events: &mut usize,
    ) -> bool {
        if let Some(run) = &self.gro {
            if let Some((h, payload)) = run.follower(frame, meta) {
                let key = run.key;
                // A run's later segments come at the same `now` within one burst: nothing
                // can have come due since its first segment advanced the clock.
                if let Some((new_events, _)) =
                    self.take_predicted(now, key, &h, frame, payload, sink, false)
                {
                    self.counters.rx_coalesced += 1;
                    if let Some(run) = &mut self.gro {
                        run.events |= new_events;
                    }
                    return true;
                }
            }
        }
        // Not the run's next segment: the run ends here.
        self.gro_flush(on_event, events);
        false
    }

    /// Offers a frame that did not continue a run ([`gro_follow`](Self::gro_follow)
    /// returned `false`), with what [`parse_tcp_fast`] made of it (`fast`, used by reference:
    /// a copy right after the parser's stores would wait on store forwarding), to header
    /// prediction as the first segment of a new run. `false`: not a predicted segment,
    /// nothing changed; receive it normally.
    #[inline]
    pub(super) fn gro_begin<K: ReceiveSink + ?Sized>(
        &mut self,
        now: Instant,
        frame: &[u8],
        fast: &Option<FastTcp>,
        sink: &mut K,
        on_event: &mut impl FnMut(&mut Self, Open),
        events: &mut usize,
    ) -> bool {
        let Some(fast) = fast else {
            return false;
        };
        let h = &fast.header;
        // What prediction refuses without looking at the connection (no payload, flags
        // other than ACK and PSH: handshakes, FINs, pure ACKs), then the fast path's checks
        // and lookup.
        if fast.payload.is_empty()
            || (h.flags.0 & !(TcpFlags::ACK.0 | TcpFlags::PSH.0)) != 0
            || !h.flags.ack()
        {
            return false;
        }
        let Some(key) = self.fast_connection(fast) else {
            return false;
        };
        self.advance(now);
        let Some((new_events, deadline_before)) =
            self.take_predicted(now, key, h, frame, fast.payload.clone(), sink, true)
        else {
            return false;
        };
        self.gro = GroRun::new(
            key,
            deadline_before,
            new_events,
            frame,
            fast.payload.start,
            fast.header,
        );
        if self.gro.is_none() {
            // A frame too short to compare a later one with (a tiny segment): a run of one.
            self.gro_flush_one(key, deadline_before, new_events, on_event, events);
        }
        true
    }

    /// Segment `h` (payload at `payload` in `frame`) of connection `key`, taken by header
    /// prediction when it begins a run (`first`), else as the run's next segment; counted.
    /// `None` when the connection is gone or the segment is not the predicted one (nothing
    /// changed). Returns the events and the connection's deadline before (`None` when not
    /// `first`).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn take_predicted<K: ReceiveSink + ?Sized>(
        &mut self,
        now: Instant,
        key: SlotKey,
        h: &TcpHeader,
        frame: &[u8],
        payload: Range<usize>,
        sink: &mut K,
        first: bool,
    ) -> Option<(Events, Option<Instant>)> {
        let payload = &frame[payload];
        let cfg = &self.cfg;
        let c = self.table.get_mut(key)?;
        let mut deadline_before = None;
        if first {
            if c.qstate == QState::Zombie {
                return None;
            }
            deadline_before = c.tcb.next_deadline();
        }
        let loss = super::loss_of(&mut self.loss, &mut self.scratch, c);
        let (snd, rcv) = c.buffers.as_mut()?.split_mut();
        let snd_len = SendBuffer::len(snd);
        let tcb = &mut c.tcb;
        let run = Segment {
            cfg,
            now,
            h,
            payload,
            snd_len,
            loss,
            first,
        };
        let (events, direct) =
            if K::ACTIVE && DirectRecv::<_, K>::eligible(rcv, loss.out_of_order().is_empty()) {
                let mut direct = DirectRecv::new(rcv, sink, key);
                (run.take(tcb, &mut direct)?, direct.delivered())
            } else {
                (run.take(tcb, rcv)?, 0)
            };
        self.count_taken(frame.len(), payload.len(), direct);
        Some((events, deadline_before))
    }

    /// Counts a received segment that a short path took.
    #[inline]
    fn count_taken(&mut self, frame_len: usize, payload_len: usize, direct: usize) {
        let counters = &mut self.counters;
        counters.rx_frames += 1;
        counters.rx_bytes += frame_len as u64;
        counters.rx_segments += 1;
        counters.rx_payload_bytes += payload_len as u64;
        counters.rx_direct_bytes += direct as u64;
        counters.rx_predicted += 1;
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
        if let Some(run) = self.gro.take() {
            self.gro_flush_one(run.key, run.deadline_before, run.events, on_event, events);
        }
    }

    /// Ends a run of connection `key` (see [`gro_flush`](Self::gro_flush)).
    fn gro_flush_one(
        &mut self,
        key: SlotKey,
        deadline_before: Option<Instant>,
        run_events: Events,
        on_event: &mut impl FnMut(&mut Self, Open),
        events: &mut usize,
    ) {
        let idx = key.index();
        self.reschedule_if_changed(idx, deadline_before);
        if self
            .table
            .get_index(idx)
            .is_some_and(|(_, c)| c.may_transmit())
        {
            super::make_ready(&mut self.table, &mut self.ready, idx);
        }
        *events += 1;
        on_event(
            self,
            Open {
                key,
                events: run_events,
                reply: None,
            },
        );
    }
}
