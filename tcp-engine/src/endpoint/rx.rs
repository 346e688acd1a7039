//! The receive phase: one frame in, and what became of it.
//!
//! Methods on [`Endpoint`]. Parses with [`parse_frame`] (honouring the device's checksum
//! verdicts), answers ARP requests, ICMP echo requests and segments for closed ports in place,
//! hands segments for connections and listeners to their state machine, and validates ICMP
//! errors (RFC 5927) before the connection they name acts on them (off the TCP fast path:
//! they come through the general parser).

use core::net::Ipv4Addr;

use super::buffers::NoBuffers;
use super::direct::{DirectRecv, NoSink, ReceiveSink};
use super::{BucketStorage, ConnectionBuffers, LossStorage, QState, SlotStorage, make_ready, role};
use crate::checksum;
use crate::device::{RxMeta, TxMeta};
use crate::segment::TcpHeader;
use crate::table::{CookieGrant, CookieOptions, FourTuple, Matched, SlotKey};
use crate::tcb::{DropReason, EcnEvents, Events, Reaction, State, Tcb, reset_for};
use crate::time::Instant;
use crate::wire::frame::{FastTcp, emit_arp_frame, parse_frame, parse_tcp_fast};
use crate::wire::{
    self, ArpOperation, ArpRepr, EtherType, EthernetAddress, EthernetRepr, IcmpEchoKind,
    IcmpErrorKind, IcmpErrorRepr, IpProtocol, Ipv4Address, Ipv4Repr, Layer, RxPayload, TxChecksum,
};

/// What [`Endpoint::receive`](super::Endpoint::receive) did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// Handled, nothing for the application (an ACK, a duplicate, an ARP reply, ...).
    Nothing,
    /// Dropped and counted.
    Dropped(RxDrop),
    /// The received buffer now holds a reply: send its first `len` bytes with `meta`.
    Reply(Reply),
    /// Something happened on a connection.
    Open(Open),
}

/// A reply written in place into the received buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Bytes of the reply frame at the start of the buffer.
    pub len: usize,
    /// Offload request to submit with it.
    pub meta: TxMeta,
    /// What it is.
    pub kind: ReplyKind,
}

/// Kinds of in-place replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    /// An ARP reply to a request for our address.
    Arp,
    /// An ICMP echo reply.
    IcmpEcho,
    /// A TCP RST.
    Rst,
    /// A SYN-ACK carrying a SYN cookie, for a SYN to a listening port answered without
    /// taking a slot ([`SynCookies`](super::SynCookies)).
    SynAckCookie,
}

/// Something happened on a connection (the seed's `Open` packet): its key and the events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Open {
    /// The connection.
    pub key: SlotKey,
    /// What happened. [`Events::SYN_TO_LISTENER`]: this listening slot accepted a SYN and is
    /// now the connection to that peer (SYN-RECEIVED); reserve another listening slot if you
    /// want one. [`Events::CLOSED`]: the connection is over; take the buffers back with
    /// [`Endpoint::release`](super::Endpoint::release) or [`Endpoint::recycle`](super::Endpoint::recycle).
    pub events: Events,
    /// A reply written in place, if the segment also needed one.
    pub reply: Option<Reply>,
}

/// Why a received frame was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxDrop {
    /// The frame did not parse or verify: malformed, bad checksum, a fragment, or unsupported.
    Wire(wire::Error),
    /// For another MAC or IPv4 address, or multicast.
    NotForUs,
    /// A source address or port no answer may go to (broadcast, multicast, port 0).
    BadAddress,
    /// A protocol the engine does not handle (other EtherTypes and IPv4 protocols, ICMP other
    /// than echo request and reply, destination unreachable and time exceeded).
    Unsupported,
    /// An ICMP error that failed validation (RFC 5927), counted by reason.
    IcmpRejected(IcmpRejection),
    /// A RST for no connection (never answered).
    NoConnection,
    /// An ACK with a valid SYN cookie for a port with no listening slot left (counted in
    /// `syn_cookie_no_slot`), or a SYN to a port whose listening slots connections took a
    /// moment ago (counted in `syn_no_listening_slot`): the peer retransmits.
    NoListeningSlot,
    /// The connection's state machine dropped the segment (or its payload).
    Segment(DropReason),
}

/// Why an ICMP error was not acted on (each reason has its `icmp_rejected_*` counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpRejection {
    /// The quote is not a TCP segment from our address to a unicast peer with non-zero ports.
    Quote,
    /// The quoted 4-tuple names no connection.
    NoConnection,
    /// The quoted sequence number is not in flight on that connection.
    Sequence,
    /// "Fragmentation needed" with a next-hop MTU below the endpoint's floor.
    MtuBelowFloor,
}

/// What the state machine made of one segment, before the endpoint writes any reply: the
/// connection and its events. The reply and the drop reason stay in the segment's
/// [`Reaction`], where the state machine wrote them (a reply header is not copied on the way).
struct SegmentOutcome {
    key: SlotKey,
    events: Events,
}

/// The 4-tuple, seen from this host, of TCP segment `h` received in `ip`.
#[inline]
fn segment_tuple(ip: &Ipv4Repr, h: &TcpHeader) -> FourTuple {
    FourTuple::new(
        Ipv4Addr::from(ip.dst_addr),
        h.dst_port,
        Ipv4Addr::from(ip.src_addr),
        h.src_port,
    )
}

impl<B: ConnectionBuffers, SS: SlotStorage<B>, MS: BucketStorage, LS: LossStorage>
    super::Endpoint<B, SS, MS, LS>
{
    /// The receive phase: takes one received frame (`meta`: the device's checksum verdicts) and
    /// returns what became of it. Replies are written in place into `frame`
    /// ([`Received::Reply`], or [`Open::reply`]). Never panics, whatever `frame` holds.
    pub fn receive(&mut self, now: Instant, frame: &mut [u8], meta: RxMeta) -> Received {
        self.receive_direct(now, frame, meta, &mut NoSink)
    }

    /// [`receive`](Self::receive) with zero-copy delivery: in-order payload for a connection
    /// whose receive buffer is empty goes to `sink` straight from `frame` (see
    /// [`ReceiveSink`]); what the sink leaves is buffered as usual.
    pub fn receive_direct<K: ReceiveSink + ?Sized>(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        meta: RxMeta,
        sink: &mut K,
    ) -> Received {
        let fast = parse_tcp_fast(frame, meta, self.mac);
        self.receive_parsed::<K, true>(now, frame, meta, &fast, sink)
    }

    /// [`receive_direct`](Self::receive_direct) of a frame [`parse_tcp_fast`] has already
    /// looked at (`fast`: what it returned). `PREDICT`: try header prediction
    /// ([`Tcb::on_segment_predicted`]) before the full segment processing; the poll loop
    /// passes `false`, as its GRO stage has offered every frame to prediction already.
    pub(super) fn receive_parsed<K: ReceiveSink + ?Sized, const PREDICT: bool>(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        meta: RxMeta,
        fast: &Option<FastTcp>,
        sink: &mut K,
    ) -> Received {
        self.counters.rx_frames += 1;
        self.counters.rx_bytes += frame.len() as u64;
        self.advance(now);
        // Used by reference: the header is not copied out of the `Option` (a copy right
        // after the parser's stores stalls on store forwarding).
        if let Some(fast) = fast.as_ref().filter(|f| self.fast_connection(f).is_some()) {
            // Finished here, in return position, so that the answer is written once, in
            // place (not copied out of an `Option` right after it was built).
            let h = &fast.header;
            let payload_len = fast.payload.len();
            let ip = Ipv4Repr {
                src_addr: fast.src_ip,
                dst_addr: fast.dst_ip,
                protocol: IpProtocol::TCP,
                payload_len: h.buffer_len() + payload_len,
                ttl: 0,
                ident: 0,
                dont_frag: true,
                dscp_ecn: 0,
            };
            let mut r = Reaction::default();
            let payload = &frame[fast.payload.clone()];
            let outcome = self.receive_segment::<K, PREDICT>(now, &ip, h, payload, sink, &mut r);
            return self.finish_segment(frame, fast.src_mac, &ip, h, payload_len, outcome, &r);
        }
        let parsed = match parse_frame(frame, meta) {
            Ok(p) => p,
            Err(e) => {
                self.count_wire_error(e);
                return Received::Dropped(RxDrop::Wire(e));
            }
        };
        let eth = parsed.ethernet;
        let for_us = eth.dst_addr == self.mac;
        match parsed.payload {
            RxPayload::Arp(arp) if for_us || eth.dst_addr.is_broadcast() => {
                self.receive_arp(now, frame, &arp)
            }
            RxPayload::Tcp {
                ip, tcp, payload, ..
            } if for_us => {
                if let Some(drop) = self.check_ip(&ip) {
                    return drop;
                }
                let header = tcp.header;
                if header.src_port == 0 || header.dst_port == 0 {
                    self.counters.rx_bad_address += 1;
                    return Received::Dropped(RxDrop::BadAddress);
                }
                let payload_len = payload.len();
                let mut r = Reaction::default();
                let mut outcome =
                    self.receive_segment::<K, PREDICT>(now, &ip, &header, payload, sink, &mut r);
                if self.cookie_mode != super::SynCookies::Off
                    && outcome.is_some()
                    && r.dropped == Some(DropReason::ListenAck)
                {
                    // An ACK a listener refused: it may return a SYN cookie.
                    let key = outcome.as_ref().map(|o| o.key);
                    if let Some(o) = key.and_then(|k| {
                        self.cookie_ack::<K, PREDICT>(now, k, &ip, &header, payload, sink, &mut r)
                    }) {
                        outcome = Some(o);
                    }
                }
                self.finish_segment(frame, eth.src_addr, &ip, &header, payload_len, outcome, &r)
            }
            RxPayload::IcmpEcho { ip, echo } if for_us => {
                if let Some(drop) = self.check_ip(&ip) {
                    return drop;
                }
                match echo.kind {
                    IcmpEchoKind::Request => self.answer_echo(frame, eth.src_addr, &ip),
                    IcmpEchoKind::Reply => Received::Nothing,
                }
            }
            RxPayload::IcmpError { ip, error } if for_us => {
                if let Some(drop) = self.check_ip(&ip) {
                    return drop;
                }
                self.receive_icmp_error(&error)
            }
            RxPayload::OtherIpv4 { .. } | RxPayload::OtherEtherType if for_us => {
                self.counters.rx_unsupported += 1;
                Received::Dropped(RxDrop::Unsupported)
            }
            _ => {
                self.counters.rx_not_for_us += 1;
                Received::Dropped(RxDrop::NotForUs)
            }
        }
    }

    /// The fast path: the connection (not a listener) a segment of the common shape
    /// ([`parse_tcp_fast`]) is for, which lets it skip the general parser and the address
    /// checks (the connection's peer passed them when it was opened). `None`: take the
    /// general path.
    #[inline]
    pub(super) fn fast_connection(&mut self, fast: &FastTcp) -> Option<SlotKey> {
        let h = &fast.header;
        if fast.dst_ip != self.cidr.address() || h.src_port == 0 || h.dst_port == 0 {
            return None;
        }
        let tuple = FourTuple::new(
            Ipv4Addr::from(fast.dst_ip),
            h.dst_port,
            Ipv4Addr::from(fast.src_ip),
            h.src_port,
        );
        match self.table.lookup_segment_cached(&tuple) {
            Some(Matched::Connection(key)) => Some(key),
            _ => None,
        }
    }

    /// An ICMP destination unreachable or time exceeded (checksum verified, quote well
    /// formed, addressed to us): validated per RFC 5927 (the quote is a TCP segment from us,
    /// its 4-tuple names a connection, its sequence number is in flight there), then acted on:
    /// "fragmentation needed" lowers the connection's MSS (RFC 1191), protocol and port
    /// unreachable abort a connection in SYN-SENT (RFC 1122 4.2.3.9), everything else is a
    /// soft error, counted. Out of line and cold: ICMP errors are rare and never on the TCP
    /// fast path. Allocates nothing.
    #[cold]
    #[inline(never)]
    fn receive_icmp_error(&mut self, error: &IcmpErrorRepr) -> Received {
        let q = &error.quoted;
        let our = self.cidr.address();
        let reject = |ep: &mut Self, why: IcmpRejection| {
            let c = &mut ep.counters;
            match why {
                IcmpRejection::Quote => c.icmp_rejected_quote += 1,
                IcmpRejection::NoConnection => c.icmp_rejected_no_connection += 1,
                IcmpRejection::Sequence => c.icmp_rejected_sequence += 1,
                IcmpRejection::MtuBelowFloor => c.icmp_rejected_mtu += 1,
            }
            Received::Dropped(RxDrop::IcmpRejected(why))
        };
        if q.protocol != IpProtocol::TCP
            || q.src_addr != our
            || !q.dst_addr.is_unicast()
            || q.dst_addr == our
            || q.src_port == 0
            || q.dst_port == 0
        {
            return reject(self, IcmpRejection::Quote);
        }
        let tuple = FourTuple::new(
            Ipv4Addr::from(our),
            q.src_port,
            Ipv4Addr::from(q.dst_addr),
            q.dst_port,
        );
        let Some(key) = self.table.lookup(&tuple) else {
            return reject(self, IcmpRejection::NoConnection);
        };
        let Some(c) = self.table.get_mut(key) else {
            return reject(self, IcmpRejection::NoConnection);
        };
        if c.qstate == QState::Zombie || c.tcb.state() == State::Listen {
            return reject(self, IcmpRejection::NoConnection);
        }
        if !c.tcb.icmp_sequence_acceptable(crate::seq::SeqNum(q.seq)) {
            return reject(self, IcmpRejection::Sequence);
        }
        match error.kind {
            IcmpErrorKind::FragmentationNeeded { next_hop_mtu } => {
                let floor = self.min_path_mtu;
                let mtu = if next_hop_mtu == 0 {
                    // A router older than RFC 1191: estimate from the plateau below the
                    // length it refused, no lower than the floor.
                    match wire::icmp::mtu_plateau_below(q.total_len) {
                        Some(p) => p.max(floor),
                        None => floor,
                    }
                } else if next_hop_mtu < floor {
                    return reject(self, IcmpRejection::MtuBelowFloor);
                } else {
                    next_hop_mtu
                };
                // IPv4 and TCP headers without options; the state machine takes the TCP
                // options off the MSS as for any segment.
                let mss = mtu.saturating_sub(40);
                let loss = super::loss_of(&mut self.loss, &mut self.scratch, c);
                let lowered = c.tcb.on_fragmentation_needed(mss, loss);
                super::settle_loss(&mut self.loss, &mut self.scratch, c, &mut self.counters);
                if !lowered {
                    self.counters.icmp_frag_needed_unneeded += 1;
                    return Received::Nothing;
                }
                self.counters.icmp_frag_needed += 1;
                // The flight goes again now, in segments of the new size.
                make_ready(&mut self.table, &mut self.ready, key.index());
                Received::Nothing
            }
            IcmpErrorKind::Unreachable(
                wire::icmp::unreachable::PROTOCOL | wire::icmp::unreachable::PORT,
            ) if c.tcb.on_hard_error() => {
                self.counters.icmp_hard_errors += 1;
                self.closed(key.index());
                Received::Open(Open {
                    key,
                    events: Events::CLOSED,
                    reply: None,
                })
            }
            IcmpErrorKind::Unreachable(_) | IcmpErrorKind::TimeExceeded(_) => {
                self.counters.icmp_soft_errors += 1;
                Received::Nothing
            }
        }
    }

    /// Counts what a segment did to ECN (rare: kept out of the receive path's body).
    #[cold]
    fn count_ecn(&mut self, ecn: EcnEvents) {
        let c = &mut self.counters;
        c.ecn_connections += u64::from(ecn.contains(EcnEvents::NEGOTIATED));
        c.rx_ce_marked += u64::from(ecn.contains(EcnEvents::CE_RECEIVED));
        c.ecn_window_reductions += u64::from(ecn.contains(EcnEvents::WINDOW_REDUCED));
    }

    fn count_wire_error(&mut self, e: wire::Error) {
        let c = &mut self.counters;
        match e {
            wire::Error::BadChecksum(Layer::Ipv4) => c.rx_bad_ipv4_checksum += 1,
            wire::Error::BadChecksum(Layer::Tcp) => c.rx_bad_tcp_checksum += 1,
            wire::Error::BadChecksum(_) => c.rx_bad_icmp_checksum += 1,
            wire::Error::Fragment => c.rx_fragments += 1,
            wire::Error::Unsupported(_) => c.rx_unsupported += 1,
            wire::Error::Truncated(_)
            | wire::Error::BadHeaderLength(_)
            | wire::Error::BadOption
            | wire::Error::BufferTooSmall => c.rx_malformed += 1,
        }
    }

    /// Drops datagrams not addressed to us or from addresses no answer may go to.
    fn check_ip(&mut self, ip: &Ipv4Repr) -> Option<Received> {
        if ip.dst_addr != self.cidr.address() {
            self.counters.rx_not_for_us += 1;
            return Some(Received::Dropped(RxDrop::NotForUs));
        }
        let src = ip.src_addr;
        if !src.is_unicast()
            || src == self.cidr.address()
            || (self.cidr.prefix_len() < 31 && src == self.cidr.broadcast())
        {
            self.counters.rx_bad_address += 1;
            return Some(Received::Dropped(RxDrop::BadAddress));
        }
        None
    }

    fn receive_arp(&mut self, now: Instant, frame: &mut [u8], arp: &ArpRepr) -> Received {
        if arp.operation == ArpOperation::Reply {
            self.counters.arp_replies_received += 1;
        }
        let outcome = self
            .neighbors
            .process_arp(arp, self.cidr.address(), self.mac, now);
        if outcome.resolved.is_some() {
            self.wake_arp_waiters();
        }
        self.neighbor_deadline = self.neighbors.next_deadline();
        match outcome.reply {
            Some(reply) => match emit_arp_frame(frame, self.mac, &reply) {
                Ok(len) => {
                    self.counters.arp_requests_answered += 1;
                    Received::Reply(Reply {
                        len,
                        meta: TxMeta::NONE,
                        kind: ReplyKind::Arp,
                    })
                }
                Err(e) => Received::Dropped(RxDrop::Wire(e)),
            },
            None => Received::Nothing,
        }
    }

    /// Turns the echo request in `frame` into its reply, in place: the ICMP message keeps its
    /// bytes (moved up when the request had IPv4 options), its type becomes 0 and its checksum
    /// is updated incrementally (RFC 1624).
    fn answer_echo(
        &mut self,
        frame: &mut [u8],
        peer_mac: EthernetAddress,
        ip: &Ipv4Repr,
    ) -> Received {
        let ihl = usize::from(frame[14] & 0x0F) * 4;
        let icmp_len = ip.payload_len;
        let start = 14 + ihl;
        let to = 14 + wire::ipv4::HEADER_LEN;
        frame.copy_within(start..start + icmp_len, to);
        let old = u16::from_be_bytes([frame[to], frame[to + 1]]);
        let csum = u16::from_be_bytes([frame[to + 2], frame[to + 3]]);
        frame[to] = 0; // echo reply, code 0
        frame[to + 1] = 0;
        let csum = checksum::update_u16(csum, old, 0);
        frame[to + 2..to + 4].copy_from_slice(&csum.to_be_bytes());
        let reply_ip = Ipv4Repr {
            src_addr: self.cidr.address(),
            dst_addr: ip.src_addr,
            protocol: IpProtocol::ICMP,
            payload_len: icmp_len,
            ttl: self.ttl,
            ident: self.next_ident(),
            dont_frag: false,
            dscp_ecn: 0,
        };
        frame[14..to].copy_from_slice(&reply_ip.header_bytes(TxChecksum::Software));
        EthernetRepr {
            src_addr: self.mac,
            dst_addr: peer_mac,
            ethertype: EtherType::IPV4,
        }
        .emit_bytes(frame);
        self.counters.icmp_echo_answered += 1;
        Received::Reply(Reply {
            len: to + icmp_len,
            meta: TxMeta::NONE,
            kind: ReplyKind::IcmpEcho,
        })
    }

    pub(super) fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }

    /// Hands a segment to its connection or listener; `None` when no connection or listener
    /// exists (the caller answers per RFC 9293 3.10.7.1; `r` is untouched then). The state
    /// machine's reaction (a reply, a drop reason) is written into `r` (a default `Reaction`),
    /// where the caller reads it. `PREDICT`: as for [`receive_parsed`](Self::receive_parsed).
    fn receive_segment<K: ReceiveSink + ?Sized, const PREDICT: bool>(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        h: &TcpHeader,
        payload: &[u8],
        sink: &mut K,
        r: &mut Reaction,
    ) -> Option<SegmentOutcome> {
        let tuple = segment_tuple(ip, h);
        let matched = self.table.lookup_segment_cached(&tuple)?;
        self.counters.rx_segments += 1;
        self.counters.rx_payload_bytes += payload.len() as u64;
        let key = matched.key();
        let idx = key.index();
        let cfg = &self.cfg;
        let c = self.table.get_mut(key)?;
        if c.qstate == QState::Zombie {
            // Logically gone: answer as a closed port would.
            return None;
        }
        let listening_before = c.tcb.state() == State::Listen;
        let deadline_before = c.tcb.next_deadline();
        let loss = super::loss_of(&mut self.loss, &mut self.scratch, c);
        // The reaction is written where it is read (not copied out of a return value).
        match c.buffers.as_mut() {
            Some(b) => {
                let (snd, rcv) = b.split_mut();
                let snd_len = crate::tcb::SendBuffer::len(snd);
                // Prediction takes only data segments.
                let predict = PREDICT && !payload.is_empty();
                if K::ACTIVE
                    && !payload.is_empty()
                    && DirectRecv::<_, K>::eligible(rcv, loss.out_of_order().is_empty())
                {
                    let mut direct = DirectRecv::new(rcv, sink, key);
                    let predicted = if predict {
                        c.tcb
                            .on_segment_predicted(cfg, now, h, payload, snd_len, &mut direct, loss)
                    } else {
                        None
                    };
                    match predicted {
                        Some(events) => r.events = events,
                        None => {
                            c.tcb
                                .on_segment_into(cfg, now, h, payload, snd, &mut direct, loss, r)
                        }
                    }
                    self.counters.rx_direct_bytes += direct.delivered() as u64;
                } else {
                    let predicted = if predict {
                        c.tcb
                            .on_segment_predicted(cfg, now, h, payload, snd_len, rcv, loss)
                    } else {
                        None
                    };
                    match predicted {
                        Some(events) => r.events = events,
                        None => c
                            .tcb
                            .on_segment_into(cfg, now, h, payload, snd, rcv, loss, r),
                    }
                }
            }
            None => c.tcb.on_segment_into(
                cfg,
                now,
                h,
                payload,
                &mut NoBuffers,
                &mut NoBuffers,
                loss,
                r,
            ),
        }
        super::settle_loss(&mut self.loss, &mut self.scratch, c, &mut self.counters);
        // For the common end below, read in this slot access: the timer links and the new
        // deadline, and whether the connection now has something to send.
        let (links, deadline, more) = (c.timer, c.tcb.next_deadline(), c.may_transmit());
        if let Some(d) = r.dropped {
            self.counters.tcp_drops[d.index()] += 1;
        }
        self.counters.dsacks_received += u64::from(r.dsack_received);
        self.counters.spurious_recoveries_undone += u64::from(r.spurious_undone);
        self.counters.hystart_exits += u64::from(r.hystart_exit);
        if !r.ecn.is_empty() {
            self.count_ecn(r.ecn);
        }
        let mut events = r.events;
        if events.contains(Events::SYN_TO_LISTENER) {
            if let Matched::Listener { listener, .. } = matched {
                if self.cookie_wanted(key) {
                    if let Some(reply) = self.cookie_for_syn(now, key, tuple, h) {
                        r.reply = Some(reply);
                        r.dropped = None;
                        return Some(SegmentOutcome {
                            key,
                            events: Events::default(),
                        });
                    }
                }
                if !self.accept(now, key, listener, tuple, h) {
                    events = Events::default();
                }
            } else {
                events = Events::default();
            }
        } else if events.contains(Events::BACK_TO_LISTEN) {
            self.back_to_listen(idx, tuple);
        } else if events.contains(Events::CLOSED) {
            self.closed(idx);
        } else if !listening_before {
            if deadline != deadline_before {
                self.file_timer(idx, links, deadline);
            }
            // A segment that asks for no answer (an ACK of data in flight, data whose ACK
            // is delayed) leaves the connection out of the send phase.
            if more {
                make_ready(&mut self.table, &mut self.ready, idx);
            }
        }
        Some(SegmentOutcome { key, events })
    }

    /// Whether a SYN to registered listener `key` gets a SYN cookie: always, or under
    /// pressure when the port has no more listening slots than its reserve. O(1): the count
    /// and the peak live in the registered listener.
    #[inline]
    fn cookie_wanted(&self, key: SlotKey) -> bool {
        match self.cookie_mode {
            super::SynCookies::Off => false,
            super::SynCookies::Always => true,
            super::SynCookies::UnderPressure => self.table.get(key).is_some_and(|c| {
                let peak = u32::from(c.listening_peak());
                c.listening() <= peak * u32::from(self.cookie_reserve_percent) / 100
            }),
        }
    }

    /// The cookie SYN-ACK answering SYN `h` on `tuple` to registered listener `key` (which
    /// [`cookie_wanted`](Self::cookie_wanted) says should get one); `None`: the SYN takes the
    /// slot as without cookies.
    #[cold]
    #[inline(never)]
    fn cookie_for_syn(
        &mut self,
        now: Instant,
        key: SlotKey,
        tuple: FourTuple,
        h: &TcpHeader,
    ) -> Option<TcpHeader> {
        let c = self.table.get(key)?;
        if !c.has(role::REGISTERED) {
            return None;
        }
        let rcv = c.buffers.as_ref()?.recv_buffer();
        let opts = Tcb::cookie_options(&self.cfg, h, rcv);
        let peer_mss = h.options.mss.unwrap_or(536);
        let iss = self
            .cookies
            .make(&tuple, h.seq, peer_mss, opts, now.micros());
        let mut reply = Tcb::cookie_syn_ack(&self.cfg, now, h, iss, rcv, opts).ok()?;
        reply.src_port = h.dst_port;
        reply.dst_port = h.src_port;
        Some(reply)
    }

    /// ACK `h` (in `ip`), which listener `key` refused (RST, [`DropReason::ListenAck`]): when
    /// it returns a valid SYN cookie, the registered listening slot becomes the connection
    /// (SYN-RECEIVED, the SYN-ACK sent) and the segment goes to it; the outcome then reports
    /// what a passive open does ([`Events::SYN_TO_LISTENER`] and what the ACK did), at once.
    /// `None`: no valid cookie (counted), the listener's RST stands (`r` is untouched);
    /// otherwise `r` holds the accepted segment's reaction.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn cookie_ack<K: ReceiveSink + ?Sized, const PREDICT: bool>(
        &mut self,
        now: Instant,
        key: SlotKey,
        ip: &Ipv4Repr,
        h: &TcpHeader,
        payload: &[u8],
        sink: &mut K,
        r: &mut Reaction,
    ) -> Option<SegmentOutcome> {
        if h.flags.syn() || h.flags.rst() {
            return None;
        }
        let tuple = segment_tuple(ip, h);
        let listener = FourTuple::listener(Ipv4Addr::from(self.cidr.address()), h.dst_port);
        let Some((grant, opts)) = self.check_cookie(now, &tuple, h) else {
            self.counters.syn_cookies_rejected += 1;
            return None;
        };
        let cfg = self.cfg;
        let accepted = self.accept_with(key, listener, tuple, |b| {
            Some(Tcb::accept_cookie(
                &cfg,
                now,
                h,
                grant,
                opts,
                b.recv_buffer(),
            ))
        });
        if !accepted {
            return None;
        }
        self.counters.syn_cookies_accepted += 1;
        // Counted once: the segment was counted when it reached the listener (and as its drop).
        self.counters.rx_segments -= 1;
        self.counters.rx_payload_bytes -= payload.len() as u64;
        self.counters.tcp_drops[DropReason::ListenAck.index()] -= 1;
        // The connection is registered under the tuple now: the segment finds it. The
        // listener's reaction (its RST) is replaced by the connection's.
        *r = Reaction::default();
        let mut outcome = self
            .receive_segment::<K, PREDICT>(now, ip, h, payload, sink, r)
            .unwrap_or(SegmentOutcome {
                key,
                events: Events::default(),
            });
        outcome.events |= Events::SYN_TO_LISTENER;
        Some(outcome)
    }

    /// The cookie ACK `h` on `tuple` returns, if valid: what it grants and the options its
    /// TSecr carries.
    fn check_cookie(
        &self,
        now: Instant,
        tuple: &FourTuple,
        h: &TcpHeader,
    ) -> Option<(CookieGrant, CookieOptions)> {
        let opts = match h.options.timestamps {
            Some((_, tsecr)) if self.cfg.timestamps => CookieOptions::from_ts_bits(tsecr)?,
            _ => CookieOptions::NONE,
        };
        let grant = self
            .cookies
            .check(tuple, h.seq, h.ack, opts, now.micros())
            .ok()?;
        Some((grant, opts))
    }

    /// Listening slot `key` took a SYN: it becomes the connection to `tuple` (SYN-RECEIVED),
    /// re-keyed from `listener`, and the next parked listener of the port takes over.
    fn accept(
        &mut self,
        now: Instant,
        key: SlotKey,
        listener: FourTuple,
        tuple: FourTuple,
        syn: &TcpHeader,
    ) -> bool {
        let iss = self.isn.isn(&tuple, now.micros());
        let cfg = self.cfg;
        self.accept_with(key, listener, tuple, |b| {
            Tcb::accept(&cfg, now, syn, iss, b.recv_buffer()).ok()
        })
    }

    /// Registered listening slot `key` becomes the connection to `tuple` that `make` builds
    /// (from the slot's buffers; `None`: it stays listening), re-keyed from `listener`, and
    /// the next parked listener of the port takes over.
    #[inline]
    fn accept_with(
        &mut self,
        key: SlotKey,
        listener: FourTuple,
        tuple: FourTuple,
        make: impl FnOnce(&B) -> Option<Tcb>,
    ) -> bool {
        let idx = key.index();
        let Some(c) = self.table.get_mut(key) else {
            return false;
        };
        if !c.has(role::REGISTERED) {
            return false;
        }
        let Some(tcb) = c.buffers.as_ref().and_then(make) else {
            return false;
        };
        let port = listener.local_port;
        if self.hand_over_listener(idx, port, Some(tuple)).is_err() {
            debug_assert!(false, "re-keying a listener to a fresh tuple cannot fail");
            return false;
        }
        let Some(c) = self.table.get_mut(key) else {
            return false;
        };
        c.tcb = tcb;
        c.remote_addr = Ipv4Address::from(tuple.remote_addr);
        c.remote_port = tuple.remote_port;
        c.role = (c.role & !(role::REGISTERED | role::PARKED)) | role::PASSIVE;
        self.counters.accepts += 1;
        self.reschedule(idx);
        make_ready(&mut self.table, &mut self.ready, idx);
        true
    }

    /// A passive open was reset in SYN-RECEIVED: its slot listens again, registered under
    /// the listener tuple or parked (unregistered) behind the listener that took over.
    fn back_to_listen(&mut self, idx: u32, tuple: FourTuple) {
        let port = tuple.local_port;
        let listener = FourTuple::listener(self.cidr.address().into(), port);
        let registered = self.table.lookup(&listener);
        let Some((key, c)) = self.table.get_index_mut(idx) else {
            return;
        };
        // Data the application queued for the peer that reset must not go to the next one.
        if let Some(b) = c.buffers.as_mut() {
            let (snd, _) = b.split_mut();
            let n = crate::tcb::SendBuffer::len(snd);
            crate::tcb::SendBuffer::consume(snd, n);
        }
        c.role &= !role::PASSIVE;
        c.remote_addr = Ipv4Address::UNSPECIFIED;
        c.remote_port = 0;
        self.with_wheel(|wheel, host| wheel.cancel(host, idx));
        let result = match registered {
            None => {
                let r = self.table.rekey(key, &tuple, listener);
                if let Some((_, c)) = self.table.get_index_mut(idx) {
                    c.role |= role::REGISTERED;
                    c.set_listening(1, 0);
                }
                r
            }
            Some(head) => {
                let r = self.table.unregister(key, &tuple);
                if let Some((_, c)) = self.table.get_index_mut(idx) {
                    c.role |= role::PARKED;
                }
                self.chain_push(head.index(), idx);
                r
            }
        };
        debug_assert!(result.is_ok(), "re-keying back to listening: {result:?}");
    }

    /// Writes the reply the segment needs (if any, from `r`) and says what happened.
    #[allow(clippy::too_many_arguments)]
    fn finish_segment(
        &mut self,
        frame: &mut [u8],
        peer_mac: EthernetAddress,
        ip: &Ipv4Repr,
        h: &TcpHeader,
        payload_len: usize,
        outcome: Option<SegmentOutcome>,
        r: &Reaction,
    ) -> Received {
        let Some(outcome) = outcome else {
            return self.reset_unknown(frame, peer_mac, ip, h, payload_len);
        };
        let reply = r.reply.as_ref().and_then(|h| {
            if h.flags.syn() {
                let reply =
                    self.write_reply(frame, peer_mac, ip.src_addr, h, ReplyKind::SynAckCookie);
                self.counters.syn_cookies_sent += u64::from(reply.is_some());
                return reply;
            }
            self.counters.rst_from_connections += 1;
            self.write_rst(frame, peer_mac, ip.src_addr, h)
        });
        if !outcome.events.is_empty() {
            return Received::Open(Open {
                key: outcome.key,
                events: outcome.events,
                reply,
            });
        }
        if let Some(reply) = reply {
            return Received::Reply(reply);
        }
        match r.dropped {
            Some(d) => Received::Dropped(RxDrop::Segment(d)),
            None => Received::Nothing,
        }
    }

    /// RFC 9293 3.10.7.1: a segment for no connection gets a RST (unless it is one).
    fn reset_unknown(
        &mut self,
        frame: &mut [u8],
        peer_mac: EthernetAddress,
        ip: &Ipv4Repr,
        h: &TcpHeader,
        payload_len: usize,
    ) -> Received {
        let Some(rst) = reset_for(h, payload_len) else {
            return Received::Dropped(RxDrop::NoConnection);
        };
        if self.cookie_mode != super::SynCookies::Off
            && h.flags.ack()
            && !h.flags.syn()
            && self.valid_cookie_for_closed_port(ip, h)
        {
            self.counters.syn_cookie_no_slot += 1;
            return Received::Dropped(RxDrop::NoListeningSlot);
        }
        if h.flags.syn() && !h.flags.ack() && self.recently_slotless(h.dst_port) {
            // The port listens but its slots are all taken for the moment: as Linux drops a
            // SYN to a full accept queue, the client retransmits rather than being refused.
            self.counters.syn_no_listening_slot += 1;
            return Received::Dropped(RxDrop::NoListeningSlot);
        }
        match self.write_rst(frame, peer_mac, ip.src_addr, &rst) {
            Some(reply) => {
                self.counters.rst_for_unknown += 1;
                Received::Reply(reply)
            }
            None => Received::Nothing,
        }
    }

    /// Whether ACK `h` (in `ip`), which found no connection and no listener, returns a valid
    /// SYN cookie: its port listened when the cookie was made and has no slot left now.
    #[cold]
    fn valid_cookie_for_closed_port(&self, ip: &Ipv4Repr, h: &TcpHeader) -> bool {
        // The receive phase moved the wheel's clock to the frame's arrival.
        let now = Instant::from_micros(self.wheel.cursor());
        let tuple = segment_tuple(ip, h);
        self.check_cookie(now, &tuple, h).is_some()
    }

    /// Writes RST `h` (ports set) to `peer` into `frame`.
    fn write_rst(
        &mut self,
        frame: &mut [u8],
        peer_mac: EthernetAddress,
        peer: Ipv4Address,
        h: &TcpHeader,
    ) -> Option<Reply> {
        self.write_reply(frame, peer_mac, peer, h, ReplyKind::Rst)
    }

    /// Writes segment `h` (ports set: a RST, or a cookie SYN-ACK) to `peer` into `frame` as
    /// a reply of `kind`.
    fn write_reply(
        &mut self,
        frame: &mut [u8],
        peer_mac: EthernetAddress,
        peer: Ipv4Address,
        h: &TcpHeader,
        kind: ReplyKind,
    ) -> Option<Reply> {
        let (len, meta) = self.emit_rst(frame, peer_mac, peer, h)?;
        Some(Reply { len, meta, kind })
    }
}
