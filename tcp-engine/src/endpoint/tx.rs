//! The send phase: a transmit buffer in, the next frame out, and the commit that makes it
//! count.
//!
//! Methods on [`Endpoint`]. Serves, in order: ARP requests that are due, RSTs of aborted
//! connections, then the head of the ready queue. Writes frames with
//! [`emit_tcp_frame`] (software checksums, or the device's, or TSO super-frames) and advances a
//! connection only in [`Endpoint::commit`].

use core::fmt;

use super::buffers::NoBuffers;
use super::{BucketStorage, ConnectionBuffers, Endpoint, LossStorage, QState, SlotStorage, role};
use crate::device::TxMeta;
use crate::neighbor::Resolution;
use crate::segment::{TcpFlags, TcpHeader};
use crate::table::SlotKey;
use crate::tcb::{Events, SendBuffer, State, TxPlan};
use crate::time::Instant;
use crate::wire::frame::{SegmentTemplate, emit_arp_frame, emit_tcp_frame_inlined};
use crate::wire::{ArpRepr, EthernetAddress, Ipv4Address};

use super::rx::Open;

/// What [`Endpoint::poll_transmit`] did with the offered buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outbound {
    /// A frame is in the buffer: send its first `len` bytes with `meta`, then
    /// [`commit`](Endpoint::commit) it once the device took it.
    Frame(TxFrame),
    /// The buffer is unused; a timer changed a connection (it timed out, or TIME-WAIT ended):
    /// handle the event and offer the buffer again.
    Event(Open),
    /// Nothing to send now: the buffer is unused.
    Nothing,
}

/// A frame written by [`Endpoint::poll_transmit`], waiting to be committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxFrame {
    /// Bytes of the frame at the start of the buffer.
    pub len: usize,
    /// Offload request to submit with it.
    pub meta: TxMeta,
    ticket: Ticket,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ticket {
    Segment { key: SlotKey, plan: TxPlan },
    Arp(Ipv4Address),
    Rst,
}

impl TxFrame {
    /// The connection whose segment this is (`None` for ARP requests and abort RSTs).
    pub fn connection(&self) -> Option<SlotKey> {
        match self.ticket {
            Ticket::Segment { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// A refused [`Endpoint::commit`]: nothing advanced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitError {
    /// The connection is gone (aborted or released since the frame was written).
    StaleKey(SlotKey),
    /// The connection changed between `poll_transmit` and `commit`; the frame should not have
    /// been sent (it is harmless if it was: TCP treats it as a duplicate).
    StalePlan(SlotKey),
}

impl fmt::Display for CommitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommitError::StaleKey(key) => write!(f, "commit for {key}: the connection is gone"),
            CommitError::StalePlan(key) => write!(
                f,
                "commit for {key}: the connection changed after poll_transmit; call \
                 poll_transmit again and send that frame instead"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CommitError {}

/// The transmit buffer cannot hold the frame.
struct TooSmall;

impl<B: ConnectionBuffers, SS: SlotStorage<B>, MS: BucketStorage, LS: LossStorage>
    Endpoint<B, SS, MS, LS>
{
    /// The send phase: runs due timers, then writes the next frame into `buf` (an ARP request
    /// that is due, an abort's RST, or the next segment of the next connection with output).
    /// Send the frame and then [`commit`](Self::commit) it; a frame that was not sent needs
    /// nothing: the same segment is planned again. `buf` should hold a whole frame of the
    /// device: `max_frame_len` bytes, or with TSO the headers plus the largest TSO payload
    /// (smaller buffers get smaller segments).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Outbound {
        let next = self.next_output(now);
        self.write_output(next, buf)
    }

    /// Runs due timers and picks what goes out next, without writing anything: the first
    /// half of [`poll_transmit`](Self::poll_transmit).
    pub(super) fn next_output(&mut self, now: Instant) -> NextOutput {
        self.advance(now);
        loop {
            if self.arp_due_len > 0 {
                return NextOutput::Arp(self.arp_due[0]);
            }
            if self.rst_len > 0 {
                let rst = self.rsts[self.rst_head];
                if let Some(mac) = self.neighbor_for(now, rst.remote) {
                    return NextOutput::Rst(rst, mac);
                }
                // No MAC for the peer: the RST is dropped (the peer's next segment will meet a
                // closed port and be answered then).
                self.pop_rst();
                continue;
            }
            let head = self.ready.head;
            if head == super::wheel::NIL {
                return NextOutput::Nothing;
            }
            // The answer is built in its final shape (no re-wrapping of the planned segment on
            // the way out).
            match self.serve(now, head) {
                NextOutput::Again => {}
                next => return next,
            }
        }
    }

    /// Writes what [`next_output`](Self::next_output) picked into `buf`: the second half of
    /// [`poll_transmit`](Self::poll_transmit).
    pub(super) fn write_output(&mut self, next: NextOutput, buf: &mut [u8]) -> Outbound {
        match next {
            NextOutput::Nothing | NextOutput::Again => Outbound::Nothing,
            NextOutput::Event(e) => Outbound::Event(e),
            NextOutput::Arp(target) => {
                let request = ArpRepr::request(self.mac, self.cidr.address(), target);
                match emit_arp_frame(buf, self.mac, &request) {
                    Ok(len) => Outbound::Frame(TxFrame {
                        len,
                        meta: TxMeta::NONE,
                        ticket: Ticket::Arp(target),
                    }),
                    Err(_) => {
                        self.counters.tx_buffer_too_small += 1;
                        Outbound::Nothing
                    }
                }
            }
            NextOutput::Rst(rst, mac) => {
                let h = TcpHeader {
                    src_port: rst.local_port,
                    dst_port: rst.remote_port,
                    seq: rst.seq,
                    flags: TcpFlags::RST,
                    ..TcpHeader::default()
                };
                match self.emit_rst(buf, mac, rst.remote, &h) {
                    Some((len, meta)) => Outbound::Frame(TxFrame {
                        len,
                        meta,
                        ticket: Ticket::Rst,
                    }),
                    None => {
                        self.counters.tx_buffer_too_small += 1;
                        Outbound::Nothing
                    }
                }
            }
            NextOutput::Segment(mut seg) => match self.write_planned(&mut seg, buf) {
                Some((len, meta)) => Outbound::Frame(TxFrame {
                    len,
                    meta,
                    ticket: Ticket::Segment {
                        key: seg.key,
                        plan: seg.plan,
                    },
                }),
                None => Outbound::Nothing,
            },
        }
    }

    /// Writes planned segment `seg` into `buf` (one MSS-sized segment without segmentation
    /// offload: the poll helper cuts whole super-segments itself, `send_gso` with
    /// `GsoSource::write`); `seg` is left as it was written, for
    /// [`commit_segment`](Self::commit_segment). `None` (counted) when `buf` cannot hold it.
    #[inline]
    pub(super) fn write_planned(
        &mut self,
        seg: &mut PlannedSegment,
        buf: &mut [u8],
    ) -> Option<(usize, TxMeta)> {
        if self.gso {
            seg.plan.truncate_to_first_segment();
        }
        match self.write_segment(seg.idx, buf, seg.mac, &mut seg.plan) {
            Ok(written) => Some(written),
            Err(TooSmall) => {
                self.counters.tx_buffer_too_small += 1;
                None
            }
        }
    }

    fn pop_rst(&mut self) {
        self.rst_head = (self.rst_head + 1) % self.rsts.len();
        self.rst_len -= 1;
    }

    /// The MAC of `remote`'s next hop if it is known (for RSTs: no resolution is started).
    fn neighbor_for(&mut self, now: Instant, remote: Ipv4Address) -> Option<EthernetAddress> {
        let hop = self.next_hop(remote)?;
        self.neighbors.lookup(hop, now)
    }

    /// The next hop toward `remote`: itself when on-link, else the gateway.
    fn next_hop(&self, remote: Ipv4Address) -> Option<Ipv4Address> {
        if self.cidr.contains(remote) {
            Some(remote)
        } else {
            self.gateway
        }
    }

    /// Takes the head of the ready queue off it.
    fn unqueue_head(&mut self, idx: u32, to: QState) {
        let popped = self.ready.pop(&mut self.table);
        debug_assert_eq!(popped, Some(idx));
        if let Some((_, c)) = self.table.get_index_mut(idx) {
            c.qstate = to;
            if to == QState::ArpWait {
                self.arp_wait.push(&mut self.table, idx);
            }
        }
    }

    /// The head of the ready queue, connection `idx`, planned a segment that cannot leave now
    /// (no route, neighbour unreachable or busy): it goes idle until something changes or its
    /// retransmission timer (armed if it was not running) fires, and a
    /// TIME-WAIT that only waited for this ACK ends ([`Tcb::unsendable`](crate::tcb::Tcb::unsendable); its deadline is due,
    /// so leaving it idle would leave the deadline with no timer to run it).
    fn unsendable(&mut self, now: Instant, idx: u32, key: SlotKey) -> Option<NextOutput> {
        let cfg = &self.cfg;
        let (_, c) = self.table.get_index_mut(idx)?;
        let before = c.tcb.next_deadline();
        c.tcb.unsendable(cfg, now);
        let closed = c.tcb.state() == State::Closed;
        let released = c.has(role::RELEASED);
        self.unqueue_head(idx, QState::Idle);
        if !closed {
            // The retransmission timer it may have armed plans the segment again.
            self.reschedule_if_changed(idx, before);
            return None;
        }
        self.closed(idx);
        (!released).then_some(NextOutput::Event(Open {
            key,
            events: Events::CLOSED,
            reply: None,
        }))
    }

    /// Serves ready connection `idx`: what goes out, or [`NextOutput::Again`]. Returned as the
    /// final value (not wrapped in an `Option`) so that it is written once, in place.
    fn serve(&mut self, now: Instant, idx: u32) -> NextOutput {
        let cfg = &self.cfg;
        let Some((key, c)) = self.table.get_index_mut(idx) else {
            let _ = self.ready.pop(&mut self.table);
            return NextOutput::Again;
        };
        if c.qstate == QState::Zombie {
            let _ = self.ready.pop(&mut self.table);
            self.free(idx);
            return NextOutput::Again;
        }
        let was_closed = c.tcb.state() == State::Closed;
        let deadline_before = c.tcb.next_deadline();
        let loss = super::loss_of(&mut self.loss, &mut self.scratch, c);
        let plan = match c.buffers.as_ref() {
            Some(b) => c
                .tcb
                .poll_transmit(cfg, now, b.send_buffer(), b.recv_buffer(), loss),
            None => c.tcb.poll_transmit(cfg, now, &NoBuffers, &NoBuffers, loss),
        };
        super::settle_loss(&mut self.loss, &mut self.scratch, c, &mut self.counters);
        if !was_closed && c.tcb.state() == State::Closed {
            // A timer ended the connection (timeout, TIME-WAIT over).
            let released = c.has(role::RELEASED);
            self.unqueue_head(idx, QState::Idle);
            self.closed(idx);
            if released {
                return NextOutput::Again;
            }
            return NextOutput::Event(Open {
                key,
                events: Events::CLOSED,
                reply: None,
            });
        }
        // Read in this slot access: the timer links and new deadline for filing, and the
        // peer's address for routing.
        let (links, deadline, remote) = (c.timer, c.tcb.next_deadline(), c.remote_addr);
        if deadline != deadline_before {
            self.file_timer(idx, links, deadline);
        }
        let Some(plan) = plan else {
            self.unqueue_head(idx, QState::Idle);
            return NextOutput::Again;
        };
        let Some(hop) = self.next_hop(remote) else {
            self.counters.no_route += 1;
            return self.unsendable(now, idx, key).unwrap_or(NextOutput::Again);
        };
        let mac = match self.neighbors.resolve(hop, now) {
            Resolution::Found(mac) => mac,
            Resolution::FoundRefresh(mac) => {
                self.push_arp_due(hop);
                mac
            }
            Resolution::SendRequest => {
                self.push_arp_due(hop);
                self.neighbor_deadline = self.neighbors.next_deadline();
                self.unqueue_head(idx, QState::ArpWait);
                return NextOutput::Again;
            }
            Resolution::Pending => {
                self.unqueue_head(idx, QState::ArpWait);
                return NextOutput::Again;
            }
            Resolution::Unreachable => {
                self.counters.neighbor_unreachable += 1;
                self.neighbor_deadline = self.neighbors.next_deadline();
                let out = self.unsendable(now, idx, key).unwrap_or(NextOutput::Again);
                // Others waiting for the same neighbour learn it too.
                self.wake_arp_waiters();
                return out;
            }
            Resolution::Busy => {
                self.counters.neighbor_busy += 1;
                return self.unsendable(now, idx, key).unwrap_or(NextOutput::Again);
            }
        };
        NextOutput::Segment(PlannedSegment {
            key,
            idx,
            plan,
            mac,
        })
    }

    /// Writes connection `idx`'s planned segment (shrunk to fit `buf` if need be).
    fn write_segment(
        &mut self,
        idx: u32,
        buf: &mut [u8],
        mac: EthernetAddress,
        plan: &mut TxPlan,
    ) -> Result<(usize, TxMeta), TooSmall> {
        let ident = self.next_ident();
        let Some((_, c)) = self.table.get_index(idx) else {
            return Err(TooSmall);
        };
        // The ports go into the plan's own header (the commit does not read them): the
        // header is written from where it lies, not copied first.
        plan.header.src_port = c.local_port;
        plan.header.dst_port = c.remote_port;
        let headers = 14 + 20 + plan.header.buffer_len();
        let room = buf.len().saturating_sub(headers);
        if plan.payload_len as usize > room {
            let mut len = room as u32;
            if let Some(mss) = plan.tso_mss {
                let mss = u32::from(mss);
                if len > mss {
                    len -= len % mss;
                } else {
                    plan.tso_mss = None;
                }
            }
            if len == 0 {
                return Err(TooSmall);
            }
            plan.payload_len = len;
            // The FIN goes with the last byte only.
            plan.header.flags = plan.header.flags.without(TcpFlags::FIN);
        }
        let tso = plan
            .tso_mss
            .filter(|&mss| plan.payload_len > u32::from(mss));
        let remote = c.remote_addr;
        let (a, b) = match c.buffers.as_ref() {
            Some(bufs) => bufs
                .send_buffer()
                .peek(plan.payload_offset as usize, plan.payload_len as usize),
            None => (&[][..], &[][..]),
        };
        let addrs = self.tcp_addresses(mac, remote, plan.ect);
        let layout = emit_tcp_frame_inlined(buf, &addrs, ident, &plan.header, &[a, b], self.csum)
            .map_err(|_| TooSmall)?;
        Ok((layout.frame_len(), layout.tx_meta(self.csum, tso)))
    }

    /// The header template of a software-segmented super-segment's frames (ports and
    /// addresses filled in); `None` when the connection is gone.
    pub(super) fn gso_template(&self, seg: &PlannedSegment) -> Option<SegmentTemplate> {
        let (_, c) = self.table.get_index(seg.idx)?;
        let mut h = seg.plan.header;
        h.src_port = c.local_port;
        h.dst_port = c.remote_port;
        let addrs = self.tcp_addresses(seg.mac, c.remote_addr, seg.plan.ect);
        SegmentTemplate::new(&addrs, &h, self.csum).ok()
    }

    /// What the frames of software-segmented super-segment `seg` are written from: the
    /// connection's send buffer (`None` for a connection without buffers) and the checksum
    /// mode. `None` when the connection is gone.
    #[inline]
    pub(super) fn gso_source(&self, seg: &PlannedSegment) -> Option<GsoSource<'_, B::Send>> {
        let (_, c) = self.table.get_index(seg.idx)?;
        Some(GsoSource {
            send: c.buffers.as_ref().map(|b| b.send_buffer()),
            csum: self.csum,
        })
    }

    /// Takes `n` IPv4 identifications at once (the frames of a batch got `ident + 1 ..=
    /// ident + n`, as `n` calls of `next_ident` would have given them).
    #[inline]
    pub(super) fn take_idents(&mut self, n: usize) {
        self.ident = self.ident.wrapping_add(n as u16);
    }

    /// The identification the next `next_ident` call returns is this plus one.
    #[inline]
    pub(super) fn last_ident(&self) -> u16 {
        self.ident
    }

    /// Commits the first `sent` payload bytes of a software-segmented super-segment that went
    /// out as `frames` frames of `bytes` bytes in all.
    pub(super) fn commit_gso(
        &mut self,
        now: Instant,
        seg: &PlannedSegment,
        sent: u32,
        frames: u64,
        bytes: u64,
    ) {
        let mut plan = seg.plan;
        plan.truncate(sent);
        let frame = TxFrame {
            len: 0,
            meta: TxMeta::NONE,
            ticket: Ticket::Segment { key: seg.key, plan },
        };
        // A commit can only fail if the connection changed since it was planned, which
        // nothing in between does; it is counted by `commit` if it ever happens.
        if self.commit(now, &frame).is_ok() {
            self.counters.gso_batches += 1;
            // `commit` counted one segment of no bytes; the wire carried `frames`.
            self.counters.tx_segments += frames - 1;
            self.counters.tx_frames += frames - 1;
            self.counters.tx_bytes += bytes;
        }
    }

    /// Records that `frame` (from the last [`poll_transmit`](Self::poll_transmit)) went out at
    /// `now`: the connection's sequence space advances and its timers are armed, a due ARP
    /// request or RST is done. Call it only when the device took the frame.
    ///
    /// # Errors
    /// The connection is gone or changed since the frame was written ([`CommitError`]);
    /// nothing advanced.
    pub fn commit(&mut self, now: Instant, frame: &TxFrame) -> Result<(), CommitError> {
        match &frame.ticket {
            Ticket::Segment { key, plan } => {
                return self.commit_segment(now, *key, plan, frame.len, frame.meta.tso_mss);
            }
            Ticket::Arp(ip) => {
                if let Some(at) = self.arp_due[..self.arp_due_len]
                    .iter()
                    .position(|&a| a == *ip)
                {
                    self.arp_due.copy_within(at + 1..self.arp_due_len, at);
                    self.arp_due_len -= 1;
                }
                self.counters.arp_requests_sent += 1;
            }
            Ticket::Rst => {
                if self.rst_len > 0 {
                    self.pop_rst();
                }
                self.counters.tx_aborts += 1;
            }
        }
        self.counters.tx_frames += 1;
        self.counters.tx_bytes += frame.len as u64;
        Ok(())
    }

    /// [`commit`](Self::commit) of connection `key`'s segment `plan`, sent as a frame of
    /// `len` bytes (`tso_mss`: the frame's segmentation request).
    pub(super) fn commit_segment(
        &mut self,
        now: Instant,
        key: SlotKey,
        plan: &TxPlan,
        len: usize,
        tso_mss: Option<u16>,
    ) -> Result<(), CommitError> {
        let cfg = &self.cfg;
        let c = match self.table.get_mut(key) {
            Some(c) if c.qstate != QState::Zombie => c,
            _ => return Err(CommitError::StaleKey(key)),
        };
        let deadline_before = c.tcb.next_deadline();
        let loss = super::loss_of(&mut self.loss, &mut self.scratch, c);
        let committed = c.tcb.commit(cfg, now, plan, loss);
        super::settle_loss(&mut self.loss, &mut self.scratch, c, &mut self.counters);
        match committed {
            Err(_) => {
                self.counters.tx_stale_commits += 1;
                return Err(CommitError::StalePlan(key));
            }
            Ok(note) if note.loss_probe => self.counters.loss_probes += 1,
            Ok(_) => {}
        }
        self.counters.tx_segments += 1;
        self.counters.tx_payload_bytes += u64::from(plan.payload_len);
        if tso_mss.is_some() {
            self.counters.tx_tso_frames += 1;
        }
        // What the rest needs from the slot, read in this one access: the timer links and new
        // deadline for filing, and whether the connection has more to send.
        let (links, deadline, more) = (c.timer, c.tcb.next_deadline(), c.may_transmit());
        let idx = key.index();
        if deadline != deadline_before {
            self.file_timer(idx, links, deadline);
        }
        if self.ready.head == idx {
            // A deadline not later than the wheel's cursor is due: the wheel does not hold it
            // (`schedule_from` queues it instead).
            let due = deadline.is_some_and(|at| at.micros() <= self.wheel.cursor());
            if !more && !due {
                // Nothing more to send (most often: the segment was the only one): off the
                // queue now rather than after one more planning pass that would find nothing.
                // A deadline already due keeps it queued: the wheel does not hold it (the
                // send phase runs it).
                self.unqueue_head(idx, QState::Idle);
            } else if self.ready.tail != idx {
                // Round robin: the connection goes behind the others with output.
                let _ = self.ready.pop(&mut self.table);
                self.ready.push(&mut self.table, idx);
            }
        }
        self.counters.tx_frames += 1;
        self.counters.tx_bytes += len as u64;
        Ok(())
    }
}

/// A connection's next segment, planned and routed, not yet written.
#[derive(Clone, Copy, Debug)]
pub(super) struct PlannedSegment {
    pub(super) key: SlotKey,
    pub(super) idx: u32,
    pub(super) plan: TxPlan,
    /// The next hop's MAC.
    pub(super) mac: EthernetAddress,
}

/// What the send phase picked to go out next.
#[derive(Clone, Copy, Debug)]
pub(super) enum NextOutput {
    /// Nothing to send.
    Nothing,
    /// A timer changed a connection: an event for the application.
    Event(Open),
    /// An ARP request for this address.
    Arp(Ipv4Address),
    /// An abort's RST, to this MAC.
    Rst(super::PendingRst, EthernetAddress),
    /// A connection's segment (a super-segment when TSO or software segmentation applies).
    Segment(PlannedSegment),
    /// Internal to the send phase: the connection served had nothing; look again (never
    /// returned by `next_output`).
    Again,
}

/// Where the frames of one software-segmented super-segment come from, looked up once per
/// batch rather than once per frame.
pub(super) struct GsoSource<'a, S> {
    send: Option<&'a S>,
    csum: crate::wire::TxChecksum,
}

impl<S: SendBuffer> GsoSource<'_, S> {
    /// Writes the `len` bytes at `offset` of super-segment `plan` as one MSS-sized frame into
    /// `buf`, stamped from `template` (sequence number advanced by `offset`; PSH and FIN only
    /// on the last piece) with IPv4 identification `ident`. `None` when `buf` cannot hold it.
    #[inline(always)]
    pub(super) fn write(
        &self,
        template: &SegmentTemplate,
        plan: &TxPlan,
        ident: u16,
        offset: u32,
        len: u32,
        buf: &mut [u8],
    ) -> Option<(usize, TxMeta)> {
        let mut flags = plan.header.flags;
        if offset + len < plan.payload_len {
            flags = flags.without(TcpFlags::FIN | TcpFlags::PSH);
        }
        let (a, b) = match self.send {
            Some(send) => send.peek((plan.payload_offset + offset) as usize, len as usize),
            None => (&[][..], &[][..]),
        };
        let layout = template.emit(buf, ident, offset, flags, &[a, b]).ok()?;
        Some((layout.frame_len(), layout.tx_meta(self.csum, None)))
    }
}
