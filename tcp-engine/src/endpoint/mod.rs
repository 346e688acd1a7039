//! The endpoint: one host's TCP/IPv4 over one Ethernet device, in the typed packet phases of
//! the seed design, with every connection in one fixed-capacity table.
//!
//! # What it owns
//! The connection table (a keyed 4-tuple map to generational [`SlotKey`]s and a slotmap whose
//! slots hold a [`Tcb`] plus the application's buffers for that connection), the ARP
//! neighbour cache, the RFC 6528 ISN generator, the SYN-cookie codec and policy, the RFC 6056 ephemeral ports, this host's MAC,
//! IPv4 address, prefix and gateway, the device's [`OffloadCaps`], the timer wheel, the queue
//! of connections with output, and the endpoint counters. All storage is handed in at
//! construction ([`Endpoint::new`]; with `std`, [`BoxedEndpoint::with_capacity`] allocates it
//! once); nothing on the receive, transmit, timer or ARP paths allocates.
//!
//! It must not touch a device by itself: frames come in through [`Endpoint::receive`] and go
//! out through buffers the caller offers ([`Endpoint::poll_transmit`]). Only the helper
//! [`Endpoint::poll`] drives a [`FrameDevice`](crate::device::FrameDevice). Protocol decisions
//! belong to [`tcb`](crate::tcb), byte layouts to [`wire`](crate::wire).
//!
//! # The phases
//! * **In** ([`Endpoint::receive`]): one received frame, with the device's checksum verdict
//!   ([`RxMeta`](crate::device::RxMeta); verified in software when the device says nothing). What the engine answers
//!   by itself it answers *in place*, in the received buffer: ARP requests for our address,
//!   ICMP echo requests, RSTs for segments to closed ports (RFC 9293 3.10.7.1) or that a
//!   connection rejects, and SYN-ACKs carrying SYN cookies ([`Received::Reply`]: send the
//!   buffer's first `len` bytes). A segment
//!   that belongs to a connection yields [`Received::Open`]: the connection's key and what
//!   happened ([`Events`](crate::tcb::Events): established, readable, writable, peer closed, reset, closed...).
//!   Challenge ACKs, window updates and delayed ACKs are planned by the connection and leave in
//!   the send phase.
//! * **Send** ([`Endpoint::poll_transmit`], then [`Endpoint::commit`]): the caller offers a
//!   transmit buffer. The endpoint expires due timers (retransmission, delayed ACK, persist,
//!   keepalive, TIME-WAIT, ARP retries: there is no timer thread), takes the next connection
//!   with output and writes its next segment (or the ARP request its next hop needs, or a
//!   pending RST) into the buffer, or hands the buffer back unused ([`Outbound::Nothing`]).
//!   Nothing advances until the caller [`commit`](Endpoint::commit)s the frame after the device
//!   took it: a frame that was not sent (neighbour miss, full device) is simply planned again,
//!   so nothing waits for a retransmission timeout. With [`OffloadCaps::tso`] (and transmit
//!   checksum offload) segments are super-segments with a TSO
//!   [`TxMeta`](crate::device::TxMeta); with checksum offload
//!   checksums are left to the device; otherwise everything is segmented and summed in software.
//!   Without TSO, [`Endpoint::poll`] still plans super-segments and cuts them into MSS-sized
//!   frames itself (software segmentation, [`EndpointConfig::software_segmentation`]): the
//!   same frames on the wire, one plan and one commit per super-segment.
//! * **Connections**: [`connect`](Endpoint::connect) (ephemeral port, RFC 6528 ISN; the SYN
//!   leaves in the send phase, and the first segment after the handshake carries data when the
//!   application wrote some), [`listen`](Endpoint::listen), [`close`](Endpoint::close),
//!   [`abort`](Endpoint::abort), [`write`](Endpoint::write) and [`read`](Endpoint::read)
//!   through the connection's buffers, [`release`](Endpoint::release) and
//!   [`recycle`](Endpoint::recycle) to take buffers back, [`next_deadline`](Endpoint::next_deadline)
//!   to sleep exactly as long as nothing needs doing. A connection that reaches CLOSED leaves
//!   the 4-tuple lookup at once (RFC 9293: a CLOSED connection has no TCB), while its key
//!   stays valid until the application releases or recycles it: a SYN on its tuple (a client
//!   reusing its port) reaches the port's listener, anything else gets the closed-port RST,
//!   and the application still reads the remaining data, the state and the close reason.
//!   TIME-WAIT keeps its tuple until 2*MSL ends. A host running one endpoint per RSS
//!   receive queue sets a port steering filter (`set_port_steering`, module `steering`) so
//!   that active opens take only local ports whose replies reach this endpoint's queue.
//!
//! # A poll loop
//! A client sending 1 GiB over any [`FrameDevice`](crate::device::FrameDevice) (a TAP device,
//! the ferrotoe NIC's driver, the in-memory link) with the operating system's clock. The
//! examples `link_bulk` (one thread, both ends over the in-memory link) and
//! `request_response` (a server keeping N slots listening, and its client) show whole
//! programs.
//!
//! ```no_run
//! use tcp_engine::device::FrameDevice;
//! use tcp_engine::endpoint::{BoxedEndpoint, Buffers, EndpointConfig};
//! use tcp_engine::tcb::{Events, RingBuffer};
//! use tcp_engine::time::StdClock;
//! use tcp_engine::wire::Ipv4Address;
//!
//! fn send<D: FrameDevice>(device: &mut D, config: EndpointConfig) -> Result<(), Box<dyn std::error::Error>> {
//!     let clock = StdClock::new();
//!     let mut ep = BoxedEndpoint::<Buffers<RingBuffer<Box<[u8]>>>>::with_capacity(config, 16)?;
//!     let bufs = Buffers::with_capacity(4 << 20, 64 << 10);
//!     let peer = Ipv4Address::new(198, 18, 0, 2);
//!     let conn = ep.connect(clock.now(), peer, 5000, bufs).map_err(|(e, _)| e)?;
//!     let (data, total, mut sent, mut over) = (vec![0x5a; 1 << 16], 1usize << 30, 0, false);
//!     while !over {
//!         ep.poll(clock.now(), device, |_, open| over |= open.events.contains(Events::CLOSED));
//!         while sent < total {
//!             match ep.write(conn, &data[..(total - sent).min(data.len())])? {
//!                 0 => break, // the send buffer is full: wait for ACKs
//!                 n => sent += n,
//!             }
//!         }
//!         if sent == total {
//!             ep.close(clock.now(), conn)?; // FIN after the data; closing again does nothing
//!         }
//!         // Here a real loop sleeps until `ep.next_deadline()` or until the device has frames
//!         // (`clock.until(deadline)` is the timeout), whichever comes first.
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # The accept model (the seed's)
//! A listening slot accepts ONE connection: the SYN turns that very slot into the connection
//! (SYN-RECEIVED, re-keyed from the listener tuple to the peer's 4-tuple) and
//! [`Received::Open`] reports it with [`Events::SYN_TO_LISTENER`](crate::tcb::Events::SYN_TO_LISTENER). The handler decides whether
//! to reserve another listening slot. Calling [`listen`](Endpoint::listen) N times for one port
//! keeps N slots listening: one is registered for lookups, the others wait in a chain behind it
//! (holding no tuple of their own) and take over, in O(1), as each accepts: the listener's map
//! entry is pointed at the next slot in place, and the accepting slot is registered under the
//! peer's tuple. [`recycle`](Endpoint::recycle) puts a finished
//! passive connection's buffers back into listening on its port, which keeps the count at N
//! without the application tracking anything.
//!
//! When connections have taken every listening slot of a port (a burst), the port still
//! listens: for 3 s after the last slot went, a SYN to it is dropped and counted
//! (`syn_no_listening_slot`) rather than refused, as Linux drops a SYN to a full accept queue,
//! so that the client's retransmission finds the slot the application listens with meanwhile
//! (`listen`, `recycle`). After that, or at once when the application itself stopped listening
//! (closed, aborted or released its port's last listening slot), a SYN gets the closed-port
//! RST. Only the cold paths pay: the accept that takes a port's last slot records the port
//! (16 at once; beyond, the one that ran out longest ago is forgotten) and a segment for no
//! connection looks it up.
//!
//! # SYN cookies (RFC 4987)
//! A listening slot taken by a SYN holds a half-open connection until its SYN-ACK
//! retransmissions time out, so a flood of spoofed SYNs could hold every slot of a port. With
//! SYN cookies ([`EndpointConfig::syn_cookies`]) a SYN can instead be answered *in place*
//! ([`Received::Reply`] of kind [`ReplyKind::SynAckCookie`]) with a SYN-ACK whose sequence
//! number is a cookie ([`SynCookieCodec`]: a 24-bit SipHash-2-4 MAC, keyed with a secret derived
//! from [`EndpointConfig::secret`], of the 4-tuple, a 64 s time counter, the peer's ISN and the
//! peer's MSS rounded down to one of eight values), and no slot is taken.
//! * **When.** [`SynCookies::UnderPressure`] (the default) answers with a cookie when the port
//!   has at most `syn_cookie_reserve_percent` (10 %) of the most slots it has had listening at
//!   once still listening: a flood takes the others and the reserve stays for clients whose
//!   cookies come back. Ports with fewer than ten listening slots never get a reserve (the
//!   lifecycle benchmark's 72 keep at least eight free and never see a cookie).
//!   [`SynCookies::Always`] answers every SYN with a cookie, [`SynCookies::Off`] none. The
//!   check is O(1): a port's count of listening slots and that peak live in its registered
//!   listener (the timer links' spare `prev` word and the unused remote port of a listener),
//!   updated where the listener chain changes; nothing grows.
//! * **The returning ACK** (ACK without SYN or RST) for a tuple with no connection, to a port
//!   with a listener: a valid cookie (MAC, at most one period older than the current one,
//!   i.e. 64 to 128 s) turns the registered listening slot into the connection, SYN-RECEIVED
//!   with the SYN-ACK sent, and the ACK goes to it as to any connection: it establishes it and
//!   any data or FIN it carries is taken. [`Received::Open`] reports
//!   [`Events::SYN_TO_LISTENER`](crate::tcb::Events::SYN_TO_LISTENER) with
//!   [`Events::ESTABLISHED`](crate::tcb::Events::ESTABLISHED) (and what the data did) at
//!   once, so a server written for the normal passive open needs no change. An ACK without a
//!   valid cookie gets the RST a listener gives any ACK (counted in `syn_cookies_rejected`);
//!   a valid cookie for a port with no slot left is dropped (`syn_cookie_no_slot`) so that the
//!   peer's retransmission may find one. A forged ACK passes with probability 2^-24 per try;
//!   a replayed ACK after the connection exists goes to that connection.
//! * **Options.** The MSS always (rounded down to the table's entry). When the SYN carried
//!   timestamps, the SYN-ACK offers window scaling and SACK as a normal one would, and the low
//!   9 bits of its TSval carry the peer's window scale, SACK permission and our window scale
//!   (rounded so the TSval never runs ahead of the connection's later ones); the peer echoes
//!   them in the ACK's TSecr, and they are MAC input too. Without timestamps the connection
//!   has neither window scaling nor SACK. ECN is never negotiated through a cookie.
//! * **Not done.** The SYN-ACK is not retransmitted (the peer retransmits its SYN); cookie
//!   ISNs do not grow with time as RFC 6528 ISNs do, so a reused tuple's old duplicates are
//!   not kept below the new window by the ISN (as with any cookie implementation); an old
//!   duplicate of a cookie ACK that arrives within the cookie's lifetime after its connection
//!   is gone opens a connection again (the peer answers it with a RST); data on the SYN is
//!   not accepted (TCP Fast Open is not implemented anyway).
//!
//! # Scheduling (O(1) per segment, 1M connections)
//! Connections with possible output sit in a FIFO *ready queue* (an intrusive list through the
//! slots); the send phase serves its head and rotates it to the tail after each committed
//! segment (round robin). Anything that may create output (a received segment, a write, a read
//! that opens the window, a close, an expired timer) queues the connection; a connection whose
//! state machine plans nothing leaves the queue. Deadlines live in a hierarchical timing wheel
//! (`wheel`, 1 us resolution) that is told after every change of a connection; expiry,
//! rescheduling and [`next_deadline`](Endpoint::next_deadline) never scan the table. A
//! connection whose next hop is being resolved waits in a second list and is queued again when
//! the neighbour answers (or at the next ARP retry).
//!
//! # The fast paths
//! What every segment of a busy connection goes through is kept short; each shortcut gives
//! exactly the result of the general path (tests compare them):
//! * [`parse_tcp_fast`](crate::wire::frame::parse_tcp_fast) takes a segment of the common
//!   shape (IPv4 without options, TCP with timestamps or no options, ACK without
//!   SYN/RST/URG) apart in one pass; anything else takes the general parser.
//! * A one-entry cache in the table ([`ConnectionTable::lookup_segment_cached`]) spares
//!   consecutive segments of one flow the hash and the probe.
//! * A segment that needs no answer ([`Tcb::may_transmit`]), or an application read that frees
//!   too little receive space for a window update, does not queue its connection for the send
//!   phase, and deadlines are re-filed in the wheel only when they changed.
//! * Header prediction ([`Tcb::on_segment_predicted`]) takes the next in-order data segment
//!   of an ESTABLISHED connection with nothing else to do in a short path.
//! * Software GRO (`gro`): within one receive burst of [`Endpoint::poll`], consecutive
//!   predicted segments of one connection form a run; a later segment of the run is matched
//!   by comparing its headers with the first one's, and the run costs one lookup, one timer
//!   filing, one send-queue check and one [`Open`] event (its segments' events merged), not
//!   one per segment.
//! * Software segmentation stamps its frames from a
//!   [`SegmentTemplate`](crate::wire::frame::SegmentTemplate) and hands a super-segment's
//!   frames to the device in one call
//!   ([`FrameDevice::transmit_batch`](crate::device::FrameDevice::transmit_batch)).
//! * Above [`PREFETCH_MIN_CONNECTIONS`], [`Endpoint::poll`] prefetches each receive burst
//!   ([`Endpoint::prefetch`]) so its cache misses overlap.
//!
//! # Memory per connection
//! [`Endpoint::engine_bytes_per_connection`] adds up what one connection costs the engine,
//! buffers excluded: the slot (the 176-byte `Tcb`, CUBIC's state included, the tuple, timer
//! and queue links, flags, and the slot map's generation: 216 bytes), the tuple map's buckets
//! shared out at its maximum load (26.7 bytes) and the pool of loss-recovery states shared out
//! (9.0 bytes by default: one 144-byte entry per 16 connections).
//! A loss state ([`LossState`]: out-of-order ranges, a pending D-SACK report, the SACK
//! scoreboard, the Proportional Rate Reduction counters and the record that lets a spurious
//! window reduction be undone, 140 bytes) is lent to a connection only while it holds
//! out-of-order data, owes a D-SACK report, recovers with SACK or waits to learn whether a
//! window reduction was spurious, and taken back after; when the pool is empty a connection
//! does without (counted in `loss_states_exhausted`; its SACK recovery then runs without PRR,
//! a D-SACK report is skipped, a spurious cut is not undone; [`Endpoint::loss_states_lent`]
//! says how many are out). A test prints the total at a million connections (251.7 bytes) and
//! holds it to the 256-byte budget.
//!
//! # Deviations and limits
//! 1. One IPv4 address per endpoint; no IPv6, no VLAN tags, no IP options on transmit, no
//!    fragment reassembly (fragments are dropped and counted).
//! 2. Replies answered in place are not rate limited (RSTs to closed ports, echo replies);
//!    RFC 5961 challenge ACKs are rate limited per connection by the state machine.
//! 3. SYN cookies (see above) keep a reserve of listening slots for clients whose cookies
//!    come back, but a cookie connection has no window scaling or SACK unless the peer's SYN
//!    carried timestamps, never ECN, and a port needs ten or more listening slots for the
//!    default policy to engage; the count of listening slots stays the application's choice
//!    (a valid cookie finds no slot if the application keeps none listening).
//! 4. ICMP errors: destination unreachable (every code) and time exceeded are validated per
//!    RFC 5927 (checksum; the quote is a TCP segment from our address whose 4-tuple names a
//!    connection and whose sequence number lies in `[SND.UNA, SND.MAX)`, the ISS in
//!    SYN-SENT) and otherwise dropped and counted by reason (`icmp_rejected_*`). "Fragmentation
//!    needed" (RFC 1191) lowers the connection's send MSS to the next-hop MTU less 40 and
//!    resends the unacknowledged data at once in segments of the new size, without a window
//!    cut; an MTU below [`EndpointConfig::min_path_mtu`] (552) is ignored, an MTU of 0 is
//!    estimated from the RFC 1191 plateau below the refused length (no lower than the floor).
//!    Protocol and port unreachable abort a connection in SYN-SENT
//!    ([`CloseReason::Unreachable`]); every other error, and these on a connection past
//!    SYN-SENT, is a soft error, counted only (RFC 1122 4.2.3.9, RFC 5461). Not done: the MSS
//!    is never raised again (no RFC 1191 section 6.3 timeout), no packetization-layer PMTUD
//!    (RFC 4821/8899) for paths that drop ICMP, no per-destination path MTU cache (each
//!    connection learns it alone), no reporting of soft errors to the application (Linux's
//!    `SO_ERROR` after a timeout), no ICMP source quench, redirect or parameter problem, and
//!    the floor ignores a genuine path below 552 bytes (its connections time out). Each
//!    lowering resends the flight, and lowerings are not rate limited: an attacker who sees
//!    the flight can lower the MSS a few bytes at a time, each step one resend of up to a
//!    window, to the floor (at most about 900 steps from 1460; Linux behaves alike).
//! 5. A connection released in TIME-WAIT keeps only its `Tcb` (no buffers) until 2*MSL ends.
//! 6. The neighbour cache holds [`NEIGHBORS`] entries; lookups scan it (a host has few on-link
//!    neighbours; off-link peers share the gateway's entry).

mod app;
mod buffers;
mod counters;
mod direct;
mod gro;
mod loss;
mod poll;
mod prefetch;
mod rx;
mod sched;
mod steering;
mod tx;
mod wheel;

#[cfg(test)]
mod tests;

pub use buffers::{Buffers, ConnectionBuffers, StreamBuffers};
pub use counters::EndpointCounters;
pub use direct::{NoSink, ReceiveSink};
pub use poll::PollReport;
pub use rx::{IcmpRejection, Open, Received, Reply, ReplyKind, RxDrop};
#[cfg(feature = "std")]
pub use steering::PortSteering;
pub use tx::{CommitError, Outbound, TxFrame};

use core::fmt;
use core::net::Ipv4Addr;

use crate::device::{OffloadCaps, TsoCaps};
use crate::neighbor::{NeighborCache, NeighborConfig};
use crate::seq::SeqNum;
use crate::table::{
    Bucket, ConnectionTable, EphemeralPorts, FourTuple, HashSecret, IsnGenerator, MapSetupError,
    PortRange, SipTupleHasher, Slot, SlotKey, SlotMap, StorageTooLarge, SynCookieCodec, TableError,
    TupleMap,
};
use crate::tcb::{CloseReason, LossState, State, Tcb, TcbConfig};
use crate::time::{Duration, Instant};
use crate::wire::frame::{TcpFrameAddresses, emit_tcp_frame};
use crate::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr, TxChecksum};
use buffers::NoBuffers;
use loss::{LossPool, loss_of, settle_loss};
pub use loss::{LossSlot, LossStorage};
use sched::{Queue, WheelHost, make_ready};
use wheel::{NIL, TimerLinks, TimerWheel};

/// Entries of the neighbour cache.
pub const NEIGHBORS: usize = 32;
/// ARP requests that can wait for a transmit buffer at once. Never reached: at most
/// `max_pending + 1` wait (the endpoint clamps `max_pending` to half of this). A resolution or
/// a stale entry's refresh is queued only by the send phase serving a connection, which it
/// does only with the queue empty; while requests wait, only retries of resolutions in
/// progress (at most `max_pending`, none new) join them. `check_invariants` checks it.
const ARP_DUE: usize = 16;
/// Abort RSTs that can wait for a transmit buffer at once.
const PENDING_RSTS: usize = 16;
/// Ports remembered at once as out of listening slots (see [`SLOTLESS_HOLD_MICROS`]); beyond,
/// the port that ran out longest ago is forgotten first.
const SLOTLESS_PORTS: usize = 16;
/// How long after a connection took the last listening slot of its port a SYN to the port is
/// dropped (counted in `syn_no_listening_slot`; the client retransmits it and may find a slot
/// the application listened with meanwhile) rather than refused with a RST, in microseconds:
/// 3 s, past a client's first SYN retransmission (RFC 6298: 1 s). A port whose application
/// stopped listening itself (closed, aborted or released its last listening slot) answers RST
/// at once.
const SLOTLESS_HOLD_MICROS: u64 = 3_000_000;

/// How an endpoint is set up. [`EndpointConfig::new`] fills in the defaults.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// This host's MAC address.
    pub mac: EthernetAddress,
    /// This host's IPv4 address and prefix (peers inside it are on-link).
    pub address: Ipv4Cidr,
    /// The router for off-link peers; `None`: off-link peers are unreachable.
    pub gateway: Option<Ipv4Address>,
    /// What the device offloads (decides checksums, TSO and the largest frame).
    pub caps: OffloadCaps,
    /// Connection behaviour. Its MSS is capped to what the device's frames hold and its TSO
    /// limits are taken from `caps` (TSO only with transmit checksum offload).
    pub tcb: TcbConfig,
    /// Neighbour cache timing and bounds.
    pub neighbor: NeighborConfig,
    /// Local ports for active opens.
    pub ports: PortRange,
    /// The secret behind the tuple map's hash, the ISNs and the port choice (use
    /// [`HashSecret::from_os_random`] outside tests).
    pub secret: HashSecret,
    /// Time to live of sent datagrams.
    pub ttl: u8,
    /// Frames [`Endpoint::poll`] takes from the device per call.
    pub rx_burst: usize,
    /// Frames [`Endpoint::poll`] sends per call at most.
    pub tx_burst: usize,
    /// Loss states [`BoxedEndpoint::with_capacity`] allocates; `None`:
    /// [`Endpoint::default_loss_states`].
    pub loss_states: Option<usize>,
    /// Software segmentation (GSO) when the device has no TSO: connections plan
    /// super-segments of up to [`GSO_MAX_PAYLOAD`] bytes and [`Endpoint::poll`] cuts each into
    /// MSS-sized frames itself, so planning, committing and timer bookkeeping happen once per
    /// super-segment instead of once per frame. The frames on the wire are the same.
    /// [`Endpoint::poll_transmit`] always writes one MSS-sized segment per frame.
    pub software_segmentation: bool,
    /// When a SYN is answered with a SYN cookie instead of taking a listening slot (see the
    /// module docs, "SYN cookies").
    pub syn_cookies: SynCookies,
    /// [`SynCookies::UnderPressure`]: the share of a port's listening slots kept free, in
    /// percent of the most slots the port has had listening at once (rounded down). A SYN
    /// takes a slot only while more than that many listen; otherwise it gets a cookie. 0:
    /// never (as [`SynCookies::Off`]). Ports with fewer than 100 / percent slots get no
    /// reserve.
    pub syn_cookie_reserve_percent: u8,
    /// How long a SYN cookie stays valid: it is accepted back in the period it was made in
    /// and the next (between one and two periods). RFC 4987 and Linux use 64 s; at most
    /// about 2^38 microseconds count.
    pub syn_cookie_period: Duration,
    /// The smallest path MTU an ICMP "fragmentation needed" may lower a connection to
    /// (bytes of IPv4 datagram; the send MSS goes no lower than this less 40). A message
    /// announcing less is ignored and counted (`icmp_rejected_mtu`): RFC 5927 section 7, an
    /// attacker must not be able to force tiny segments. Default [`DEFAULT_MIN_PATH_MTU`].
    pub min_path_mtu: u16,
}

/// The default of [`EndpointConfig::min_path_mtu`]: 552 bytes, as Linux's `min_pmtu`.
pub const DEFAULT_MIN_PATH_MTU: u16 = 552;

/// When a listener answers a SYN with a SYN cookie (RFC 4987): a SYN-ACK whose sequence number
/// authenticates what the connection needs, so that the SYN takes no listening slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SynCookies {
    /// Never: every SYN takes a listening slot (a SYN flood can hold them all).
    Off,
    /// When a port's listening slots run low
    /// ([`EndpointConfig::syn_cookie_reserve_percent`]), the default.
    #[default]
    UnderPressure,
    /// For every SYN (listening slots are taken only by returning cookie ACKs).
    Always,
}

/// The default of [`EndpointConfig::syn_cookie_reserve_percent`].
pub const DEFAULT_SYN_COOKIE_RESERVE_PERCENT: u8 = 10;

/// Largest super-segment of software segmentation (see
/// [`EndpointConfig::software_segmentation`]).
pub const GSO_MAX_PAYLOAD: u32 = 64 * 1024;

/// Connections from which [`Endpoint::poll`] prefetches each receive burst
/// ([`Endpoint::prefetch`]): below this the table sits in the caches and prefetching would only
/// cost a hash per frame.
pub const PREFETCH_MIN_CONNECTIONS: usize = 1 << 16;

impl EndpointConfig {
    /// A configuration with the defaults: [`TcbConfig::RFC`], the default neighbour timing,
    /// the IANA ephemeral range, TTL 64, no gateway, bursts of 64 received and 256 sent frames,
    /// software segmentation on, SYN cookies when a port's listening slots run low (10 % kept
    /// free, 64 s periods), a path MTU floor of 552 bytes.
    pub fn new(
        mac: EthernetAddress,
        address: Ipv4Cidr,
        caps: OffloadCaps,
        secret: HashSecret,
    ) -> EndpointConfig {
        EndpointConfig {
            mac,
            address,
            gateway: None,
            caps,
            tcb: TcbConfig::RFC,
            neighbor: NeighborConfig::default(),
            ports: PortRange::IANA,
            secret,
            ttl: 64,
            rx_burst: 64,
            tx_burst: 256,
            loss_states: None,
            software_segmentation: true,
            syn_cookies: SynCookies::UnderPressure,
            syn_cookie_reserve_percent: DEFAULT_SYN_COOKIE_RESERVE_PERCENT,
            syn_cookie_period: Duration::from_secs(64),
            min_path_mtu: DEFAULT_MIN_PATH_MTU,
        }
    }
}

/// An endpoint could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupError {
    /// The slot storage is larger than one table supports.
    Slots(StorageTooLarge),
    /// The bucket storage cannot index the slots (see [`Endpoint::buckets_for`]).
    Map(MapSetupError),
    /// A configuration value that cannot work, and why.
    Config(&'static str),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Slots(e) => write!(f, "endpoint slot storage: {e}"),
            SetupError::Map(e) => write!(f, "endpoint tuple map storage: {e}"),
            SetupError::Config(why) => write!(f, "endpoint configuration: {why}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SetupError {}

/// Why an application call on an endpoint failed. Nothing changed when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointError {
    /// The key names no connection (it was released or aborted; its slot may be reused).
    StaleKey(SlotKey),
    /// The table refused: every slot in use ([`TableError::SlotsExhausted`]), every ephemeral
    /// port in use, or the tuple taken.
    Table(TableError),
    /// The address cannot be connected to (unspecified, broadcast, multicast, our own, or the
    /// subnet's broadcast address).
    BadAddress(Ipv4Address),
    /// Port 0 cannot be used.
    BadPort,
    /// The operation needs another state (e.g. `write` after `close`, `release` while the
    /// connection is still open: `close` it and wait for CLOSED or TIME-WAIT, or `abort` it).
    WrongState {
        /// The connection.
        key: SlotKey,
        /// Its state.
        state: State,
    },
    /// The connection's buffers were already taken back.
    NoBuffers(SlotKey),
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointError::StaleKey(key) => write!(
                f,
                "{key} names no connection: it was released or aborted (keys go stale then)"
            ),
            EndpointError::Table(e) => write!(f, "{e}"),
            EndpointError::BadAddress(a) => write!(
                f,
                "cannot connect to {a}: not a unicast address of another host"
            ),
            EndpointError::BadPort => write!(f, "port 0 cannot be used; choose a port 1-65535"),
            EndpointError::WrongState { key, state } => write!(
                f,
                "{key} is in {state:?}, where this operation is not allowed (write needs an open \
                 sending side; release needs CLOSED, TIME-WAIT or LISTEN: close and wait, or abort)"
            ),
            EndpointError::NoBuffers(key) => {
                write!(f, "{key}: its buffers were already taken back")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EndpointError {}

impl From<TableError> for EndpointError {
    fn from(e: TableError) -> Self {
        EndpointError::Table(e)
    }
}

/// What [`Endpoint::recycle`] did with a connection's buffers.
#[derive(Debug)]
pub enum Recycled<B> {
    /// The connection was a passive open: its buffers (emptied) listen on the same port again
    /// in this new slot.
    Listening(SlotKey),
    /// The connection was an active open (or its port no longer wanted): the buffers.
    Released(B),
}

/// Where a connection is queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum QState {
    /// In no queue.
    Idle,
    /// In the ready queue.
    Ready,
    /// Waiting for its next hop's MAC.
    ArpWait,
    /// Released while queued: out of the tuple map at once, freed when it reaches the head
    /// of its queue.
    Zombie,
}

/// Role bits of a connection.
mod role {
    /// Listening, registered under the listener tuple (found by SYNs).
    pub const REGISTERED: u8 = 1 << 0;
    /// Listening, parked behind the registered listener of its port (chained through its
    /// timer links, registered under no tuple); or, after it stopped listening, waiting to be
    /// freed.
    pub const PARKED: u8 = 1 << 1;
    /// Opened by a listener (recycling re-listens on its port).
    pub const PASSIVE: u8 = 1 << 2;
    /// The application took the buffers back; the slot goes when the `Tcb` is CLOSED.
    pub const RELEASED: u8 = 1 << 3;
    /// Reaching CLOSED was handled (reported once).
    pub const CLOSED_SEEN: u8 = 1 << 4;
    /// CLOSED (whether or not the application released it yet): taken out of the tuple map
    /// at once, so that its tuple is free (a SYN on it finds the port's listener, anything
    /// else the closed-port answer); the slot stays, found by key only, until the
    /// application releases or recycles it (or, released while queued, until it leaves its
    /// queue).
    pub const DETACHED: u8 = 1 << 5;
}

/// One connection slot: the state machine, the tuple, the links of the timer wheel and the
/// queues, and the application's buffers. Create storage with [`Slot::vacant`].
pub struct Connection<B> {
    tcb: Tcb,
    remote_addr: Ipv4Address,
    remote_port: u16,
    local_port: u16,
    /// Timer wheel links; for listeners, `next` chains the parked listeners of the port.
    timer: TimerLinks,
    /// Next in the ready or ARP-wait queue.
    queue_next: u32,
    /// The loss state lent from the pool, or `NIL`.
    loss: u32,
    qstate: QState,
    role: u8,
    buffers: Option<B>,
}

impl<B> Connection<B> {
    fn new(
        tcb: Tcb,
        remote: Ipv4Address,
        remote_port: u16,
        local_port: u16,
        role: u8,
        buffers: B,
    ) -> Self {
        Connection {
            tcb,
            remote_addr: remote,
            remote_port,
            local_port,
            timer: TimerLinks::UNLINKED,
            queue_next: NIL,
            loss: NIL,
            qstate: QState::Idle,
            role,
            buffers: Some(buffers),
        }
    }

    #[inline]
    fn has(&self, bits: u8) -> bool {
        self.role & bits != 0
    }

    /// A registered listener's count of its port's listening slots (itself and the parked
    /// ones chained behind it), kept in its timer's spare `prev` link.
    #[inline]
    fn listening(&self) -> u32 {
        self.timer.spare_prev()
    }

    /// The most slots a registered listener's port has had listening at once (since it last
    /// had none; saturating), kept in its `remote_port`, which a listener does not use.
    #[inline]
    fn listening_peak(&self) -> u16 {
        self.remote_port
    }

    /// Sets a registered listener's count of listening slots (and the peak with it).
    #[inline]
    fn set_listening(&mut self, count: u32, peak: u16) {
        self.timer.set_spare_prev(count);
        self.remote_port = peak.max(u16::try_from(count).unwrap_or(u16::MAX));
    }

    /// Reads fields from every part of the slot (see [`Tcb::touch`]).
    #[inline]
    fn touch(&self) -> u32 {
        self.tcb.touch()
            ^ self.queue_next
            ^ self.loss
            ^ u32::from(self.remote_port)
            ^ u32::from(self.buffers.is_some())
    }
}

impl<B: ConnectionBuffers> Connection<B> {
    /// [`Tcb::may_transmit`] with the connection's buffers.
    #[inline]
    fn may_transmit(&self) -> bool {
        match &self.buffers {
            Some(b) => self.tcb.may_transmit(b.send_buffer(), b.recv_buffer()),
            None => self.tcb.may_transmit(&NoBuffers, &NoBuffers),
        }
    }
}

impl<B> fmt::Debug for Connection<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("state", &self.tcb.state())
            .field("remote", &self.remote_addr)
            .field("remote_port", &self.remote_port)
            .field("local_port", &self.local_port)
            .field("qstate", &self.qstate)
            .field("role", &self.role)
            .field("buffers", &self.buffers.is_some())
            .finish()
    }
}

/// Slot storage an [`Endpoint`] accepts: any `AsMut<[Slot<Connection<B>>]>` (a slice, an
/// array, a `Box<[_]>`).
pub trait SlotStorage<B>: AsRef<[Slot<Connection<B>>]> + AsMut<[Slot<Connection<B>>]> {}
impl<B, T: AsRef<[Slot<Connection<B>>]> + AsMut<[Slot<Connection<B>>]>> SlotStorage<B> for T {}

/// Bucket storage an [`Endpoint`] accepts: any `AsMut<[Bucket]>`.
pub trait BucketStorage: AsRef<[Bucket]> + AsMut<[Bucket]> {}
impl<T: AsRef<[Bucket]> + AsMut<[Bucket]>> BucketStorage for T {}

type Table<B, SS, MS> = ConnectionTable<Connection<B>, SS, MS, SipTupleHasher>;

/// A TCP/IPv4 endpoint over slot storage `SS`, bucket storage `MS` and loss-state storage
/// `LS`, with connection buffers `B`. See the module docs.
pub struct Endpoint<B, SS, MS, LS> {
    table: Table<B, SS, MS>,
    /// Loss-recovery states lent to the connections that need one.
    loss: LossPool<LS>,
    /// The empty loss state every connection without a pool entry works on for one call.
    scratch: LossState,
    cfg: TcbConfig,
    mac: EthernetAddress,
    cidr: Ipv4Cidr,
    gateway: Option<Ipv4Address>,
    ttl: u8,
    caps: OffloadCaps,
    /// Software segmentation is on (see [`EndpointConfig::software_segmentation`]).
    gso: bool,
    csum: TxChecksum,
    isn: IsnGenerator,
    /// SYN cookies: the codec and the policy.
    cookies: SynCookieCodec,
    cookie_mode: SynCookies,
    cookie_reserve_percent: u8,
    /// [`EndpointConfig::min_path_mtu`].
    min_path_mtu: u16,
    ports: EphemeralPorts,
    /// The filter active opens take local ports through (see the `steering` module).
    #[cfg(feature = "std")]
    port_steering: Option<PortSteering>,
    neighbors: NeighborCache<NEIGHBORS>,
    /// When the neighbour cache next needs `poll_requests` (cached: the cache scans to answer).
    neighbor_deadline: Option<Instant>,
    wheel: TimerWheel,
    ready: Queue,
    arp_wait: Queue,
    arp_due: [Ipv4Address; ARP_DUE],
    arp_due_len: usize,
    rsts: [PendingRst; PENDING_RSTS],
    /// Ports whose last listening slot a connection took, and when (wheel microseconds);
    /// port 0: a free entry.
    slotless: [(u16, u64); SLOTLESS_PORTS],
    rst_head: usize,
    rst_len: usize,
    ident: u16,
    /// Slots released while queued, freed when they leave their queue (or reaped).
    zombies: usize,
    rx_burst: usize,
    tx_burst: usize,
    counters: EndpointCounters,
    stash: poll::ReplyStash,
    /// The software-GRO run of the receive burst in progress (none between bursts).
    gro: Option<gro::GroRun>,
}

/// An abort's RST waiting for a transmit buffer.
#[derive(Clone, Copy, Debug, Default)]
struct PendingRst {
    remote: Ipv4Address,
    remote_port: u16,
    local_port: u16,
    seq: SeqNum,
}

/// An [`Endpoint`] with heap storage (allocated once, by
/// [`with_capacity`](BoxedEndpoint::with_capacity)).
#[cfg(feature = "std")]
pub type BoxedEndpoint<B> = Endpoint<
    B,
    std::boxed::Box<[Slot<Connection<B>>]>,
    std::boxed::Box<[Bucket]>,
    std::boxed::Box<[LossSlot]>,
>;

#[cfg(feature = "std")]
impl<B: ConnectionBuffers> BoxedEndpoint<B> {
    /// An endpoint for `capacity` connections (listening slots included) with its slot and
    /// bucket storage on the heap. Large tables get transparent huge pages where the kernel
    /// offers them.
    ///
    /// # Errors
    /// As [`Endpoint::new`].
    pub fn with_capacity(
        config: EndpointConfig,
        capacity: usize,
    ) -> Result<BoxedEndpoint<B>, SetupError> {
        if capacity > SlotMap::<Connection<B>, std::boxed::Box<[Slot<Connection<B>>]>>::MAX_CAPACITY
        {
            return Err(SetupError::Slots(StorageTooLarge {
                len: capacity,
                max: SlotMap::<Connection<B>, std::boxed::Box<[Slot<Connection<B>>]>>::MAX_CAPACITY,
            }));
        }
        let slots = crate::table::heap_storage(capacity, Slot::vacant);
        let buckets = crate::table::heap_storage(Self::buckets_for(capacity), || Bucket::EMPTY);
        let losses = config
            .loss_states
            .unwrap_or_else(|| Self::default_loss_states(capacity));
        let loss = crate::table::heap_storage(losses, || LossSlot::EMPTY);
        Endpoint::new(config, slots, buckets, loss)
    }
}

impl<B: ConnectionBuffers, SS: SlotStorage<B>, MS: BucketStorage, LS: LossStorage>
    Endpoint<B, SS, MS, LS>
{
    /// An endpoint over `slots` (one per connection or listening slot), `buckets` (at least
    /// [`buckets_for`](Self::buckets_for)`(slots.len())`) and `loss` (the loss-recovery states
    /// lent to connections holding out-of-order data or in SACK recovery; see
    /// [`default_loss_states`](Self::default_loss_states)). All are emptied here, once.
    ///
    /// # Errors
    /// Storage that does not fit ([`SetupError::Slots`], [`SetupError::Map`]) or a
    /// configuration that cannot work ([`SetupError::Config`] says which value).
    pub fn new(
        config: EndpointConfig,
        slots: SS,
        buckets: MS,
        loss: LS,
    ) -> Result<Self, SetupError> {
        let capacity = slots.as_ref().len();
        let caps = config.caps;
        if !config.address.address().is_unicast()
            || config.address.address() == config.address.broadcast()
                && config.address.prefix_len() < 31
        {
            return Err(SetupError::Config(
                "the endpoint's IPv4 address must be a unicast host address of its subnet",
            ));
        }
        if !config.mac.is_unicast() {
            return Err(SetupError::Config(
                "the endpoint's MAC address must be unicast",
            ));
        }
        if let Some(gw) = config.gateway {
            if !config.address.contains(gw) || !gw.is_unicast() || gw == config.address.address() {
                return Err(SetupError::Config(
                    "the gateway must be another unicast address inside the endpoint's subnet",
                ));
            }
        }
        // Ethernet + IPv4 + TCP headers with a minimal payload.
        if usize::from(caps.max_frame_len) < 14 + 20 + 20 + 64 {
            return Err(SetupError::Config(
                "the device's largest frame must hold at least 118 bytes (headers plus a 64-byte MSS)",
            ));
        }
        if config.rx_burst == 0 || config.tx_burst == 0 {
            return Err(SetupError::Config(
                "rx_burst and tx_burst must be at least 1",
            ));
        }
        if config.min_path_mtu < 68 {
            return Err(SetupError::Config(
                "min_path_mtu must be at least 68, the smallest MTU IPv4 allows (RFC 791); the default is 552",
            ));
        }
        let mut cfg = config.tcb;
        cfg.mss = cfg.mss.min(caps.max_frame_len - 14 - 40).max(64);
        cfg.tso = match caps.tso {
            Some(tso) if caps.tx_checksum => Some(tso),
            _ => None,
        };
        let gso = cfg.tso.is_none() && config.software_segmentation;
        if gso {
            cfg.tso = Some(TsoCaps {
                max_payload: GSO_MAX_PAYLOAD,
                min_mss: 1,
                max_mss: u16::MAX,
            });
        }
        let slot_map = SlotMap::new(slots).map_err(SetupError::Slots)?;
        let hasher = SipTupleHasher::new(config.secret.derive(b"tuple map"));
        let map = TupleMap::new(buckets, capacity, hasher).map_err(SetupError::Map)?;
        let mut neighbor = config.neighbor;
        neighbor.max_pending = neighbor.max_pending.clamp(1, ARP_DUE / 2);
        Ok(Endpoint {
            table: ConnectionTable::new(slot_map, map),
            loss: LossPool::new(loss),
            scratch: LossState::EMPTY,
            cfg,
            mac: config.mac,
            cidr: config.address,
            gateway: config.gateway,
            ttl: config.ttl,
            caps,
            gso,
            csum: TxChecksum::from_caps(&caps),
            isn: IsnGenerator::new(config.secret.derive(b"isn")),
            cookies: SynCookieCodec::new(
                config.secret.derive(b"syn cookies"),
                config.syn_cookie_period.micros(),
                1,
            ),
            cookie_mode: config.syn_cookies,
            cookie_reserve_percent: config.syn_cookie_reserve_percent,
            min_path_mtu: config.min_path_mtu,
            ports: EphemeralPorts::new(config.ports, config.secret.derive(b"ports")),
            #[cfg(feature = "std")]
            port_steering: None,
            neighbors: NeighborCache::new(neighbor),
            neighbor_deadline: None,
            wheel: TimerWheel::new(),
            ready: Queue::EMPTY,
            arp_wait: Queue::EMPTY,
            arp_due: [Ipv4Address::UNSPECIFIED; ARP_DUE],
            arp_due_len: 0,
            rsts: [PendingRst::default(); PENDING_RSTS],
            slotless: [(0, 0); SLOTLESS_PORTS],
            rst_head: 0,
            rst_len: 0,
            ident: 0,
            zombies: 0,
            rx_burst: config.rx_burst,
            tx_burst: config.tx_burst,
            counters: EndpointCounters::default(),
            stash: poll::ReplyStash::new(),
            gro: None,
        })
    }

    /// Loss states an endpoint of `capacity` slots gets by default: one per 16 connections
    /// plus 16, at most one per connection. Connections need one only while they hold
    /// out-of-order data or recover from loss with SACK; when all are lent out, the others
    /// do without (out-of-order segments are dropped and SACK information ignored, which
    /// costs retransmissions, never correctness).
    pub const fn default_loss_states(capacity: usize) -> usize {
        let n = 16 + capacity / 16;
        if n < capacity { n } else { capacity }
    }

    /// Buckets the tuple map needs for `capacity` slots.
    pub const fn buckets_for(capacity: usize) -> usize {
        TupleMap::<&mut [Bucket]>::buckets_for(capacity)
    }

    /// Engine bytes per connection in an endpoint of `capacity` slots with the default number
    /// of loss states, buffers excluded: the whole slot except the buffer value (state
    /// machine, tuple, links, flags, generation) plus the tuple map's buckets and the loss
    /// states shared out.
    pub fn engine_bytes_per_connection(capacity: usize) -> f64 {
        let slot = core::mem::size_of::<Slot<Connection<B>>>() - core::mem::size_of::<Option<B>>();
        let buckets = Self::buckets_for(capacity) * core::mem::size_of::<Bucket>();
        let loss = Self::default_loss_states(capacity) * core::mem::size_of::<LossSlot>();
        slot as f64 + (buckets + loss) as f64 / capacity.max(1) as f64
    }

    // --- Accessors. ---

    /// The connection configuration in force (MSS capped to the device; TSO from its caps, or
    /// the limits of software segmentation when the device has none).
    pub fn tcb_config(&self) -> &TcbConfig {
        &self.cfg
    }

    /// The device capabilities the endpoint works with.
    pub fn caps(&self) -> OffloadCaps {
        self.caps
    }

    /// This host's MAC address.
    pub fn mac(&self) -> EthernetAddress {
        self.mac
    }

    /// This host's address and prefix.
    pub fn address(&self) -> Ipv4Cidr {
        self.cidr
    }

    /// Endpoint counters.
    pub fn counters(&self) -> &EndpointCounters {
        &self.counters
    }

    /// Loss states lent out now (to connections holding out-of-order data, recovering with
    /// SACK or owing a D-SACK report), out of [`EndpointConfig::loss_states`].
    pub fn loss_states_lent(&self) -> usize {
        self.loss.in_use
    }

    /// Slots in use (connections, listening slots, TIME-WAIT remnants).
    pub fn len(&self) -> usize {
        self.table.len() - self.zombies
    }

    /// No slot in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots in all.
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// Teaches the neighbour cache that `ip` is at `mac` (a static entry until it expires).
    pub fn add_neighbor(&mut self, now: Instant, ip: Ipv4Address, mac: EthernetAddress) {
        if self.neighbors.fill(ip, mac, now) {
            self.wake_arp_waiters();
        }
        self.neighbor_deadline = self.neighbors.next_deadline();
    }

    fn live(&self, key: SlotKey) -> Result<&Connection<B>, EndpointError> {
        match self.table.get(key) {
            Some(c) if c.qstate != QState::Zombie && !c.has(role::RELEASED) => Ok(c),
            _ => Err(EndpointError::StaleKey(key)),
        }
    }

    fn live_mut(&mut self, key: SlotKey) -> Result<&mut Connection<B>, EndpointError> {
        match self.table.get_mut(key) {
            Some(c) if c.qstate != QState::Zombie && !c.has(role::RELEASED) => Ok(c),
            _ => Err(EndpointError::StaleKey(key)),
        }
    }

    /// The connection's state machine (state, sequence numbers, RTT, congestion window,
    /// counters), or `None` for a stale key.
    pub fn tcb(&self, key: SlotKey) -> Option<&Tcb> {
        self.live(key).ok().map(|c| &c.tcb)
    }

    /// The connection's RFC 9293 state.
    pub fn state(&self, key: SlotKey) -> Option<State> {
        self.tcb(key).map(Tcb::state)
    }

    /// Why the connection closed ([`CloseReason::None`] while open).
    pub fn close_reason(&self, key: SlotKey) -> Option<CloseReason> {
        self.tcb(key).map(Tcb::close_reason)
    }

    /// The connection's 4-tuple (listening slots: remote 0.0.0.0:0).
    pub fn tuple(&self, key: SlotKey) -> Option<FourTuple> {
        let c = self.live(key).ok()?;
        let local = Ipv4Addr::from(self.cidr.address());
        Some(if c.has(role::REGISTERED | role::PARKED) {
            FourTuple::listener(local, c.local_port)
        } else {
            FourTuple::new(local, c.local_port, c.remote_addr.into(), c.remote_port)
        })
    }

    /// The connection's buffers.
    pub fn buffers(&self, key: SlotKey) -> Option<&B> {
        self.live(key).ok()?.buffers.as_ref()
    }

    /// The connection's buffers, mutably. The connection is queued for the send phase, since
    /// whatever the caller changes may create output.
    pub fn buffers_mut(&mut self, key: SlotKey) -> Option<&mut B> {
        self.live(key).ok()?;
        make_ready(&mut self.table, &mut self.ready, key.index());
        self.table.get_mut(key)?.buffers.as_mut()
    }

    // --- Internal bookkeeping. ---

    /// The link and network fields of a TCP frame from us to `remote` (via `mac`), marked
    /// ECN-capable, ECT(0), when `ect` (RFC 3168; [`TxPlan::ect`](crate::tcb::TxPlan::ect)).
    fn tcp_addresses(
        &self,
        mac: EthernetAddress,
        remote: Ipv4Address,
        ect: bool,
    ) -> TcpFrameAddresses {
        TcpFrameAddresses {
            src_mac: self.mac,
            dst_mac: mac,
            src_ip: self.cidr.address(),
            dst_ip: remote,
            ttl: self.ttl,
            dscp_ecn: u8::from(ect) * crate::wire::ipv4::ECN_ECT0,
        }
    }

    /// Writes a header-only TCP frame (a RST, or a SYN-ACK carrying a SYN cookie) from us to
    /// `remote` (via `mac`).
    fn emit_rst(
        &mut self,
        buf: &mut [u8],
        mac: EthernetAddress,
        remote: Ipv4Address,
        h: &crate::segment::TcpHeader,
    ) -> Option<(usize, crate::device::TxMeta)> {
        let ident = self.next_ident();
        let addrs = self.tcp_addresses(mac, remote, false);
        let layout = emit_tcp_frame(buf, &addrs, ident, h, &[], self.csum).ok()?;
        Some((layout.frame_len(), layout.tx_meta(self.csum, None)))
    }

    /// Runs `f` on the timer wheel with its view of the connections.
    fn with_wheel<R>(
        &mut self,
        f: impl FnOnce(&mut TimerWheel, &mut WheelHost<'_, B, SS, MS>) -> R,
    ) -> R {
        let mut host = WheelHost {
            table: &mut self.table,
            ready: &mut self.ready,
            scratch: TimerLinks::UNLINKED,
        };
        f(&mut self.wheel, &mut host)
    }

    /// Expires due timers (queueing their connections) and ARP retries.
    #[inline(always)]
    fn advance(&mut self, now: Instant) {
        // Most calls come within a microsecond of the last one (every frame of a burst, every
        // send opportunity): nothing can be due then, so nothing is looked at, and the check
        // is inlined into its callers (the work, when there is some, is not).
        if now.micros() > self.wheel.cursor() || self.neighbor_deadline.is_some_and(|d| d <= now) {
            self.advance_slow(now);
        }
    }

    /// The work of [`advance`](Self::advance) once something may be due.
    #[inline(never)]
    fn advance_slow(&mut self, now: Instant) {
        if now.micros() > self.wheel.cursor() {
            self.with_wheel(|wheel, host| wheel.advance(host, now.micros()));
        }
        if self.neighbor_deadline.is_some_and(|d| d <= now) {
            while self.arp_due_len < ARP_DUE {
                match self.neighbors.poll_requests(now) {
                    Some(ip) => self.push_arp_due(ip),
                    None => break,
                }
            }
            self.neighbor_deadline = self.neighbors.next_deadline();
            // Waiting connections look again: their neighbour answered, is asked again, or
            // gave up.
            self.wake_arp_waiters();
        }
    }

    fn push_arp_due(&mut self, ip: Ipv4Address) {
        if self.arp_due[..self.arp_due_len].contains(&ip) {
            return;
        }
        // Never full (see `ARP_DUE`); were it ever, the cache asks again after its retry
        // interval.
        debug_assert!(self.arp_due_len < ARP_DUE, "the ARP queue cannot fill");
        if self.arp_due_len == ARP_DUE {
            return;
        }
        self.arp_due[self.arp_due_len] = ip;
        self.arp_due_len += 1;
    }

    /// Moves every connection waiting for a neighbour to the ready queue.
    fn wake_arp_waiters(&mut self) {
        while let Some(idx) = self.arp_wait.pop(&mut self.table) {
            let Some((_, c)) = self.table.get_index_mut(idx) else {
                continue;
            };
            match c.qstate {
                QState::Zombie => self.free(idx),
                _ => {
                    c.qstate = QState::Ready;
                    self.ready.push(&mut self.table, idx);
                }
            }
        }
    }

    /// Files connection `idx` in the timer wheel under its current deadline; queues it when
    /// the deadline has passed already.
    fn reschedule(&mut self, idx: u32) {
        if let Some((_, c)) = self.table.get_index(idx) {
            let (links, deadline) = (c.timer, c.tcb.next_deadline());
            self.file_timer(idx, links, deadline);
        }
    }

    /// Files connection `idx`, whose current timer links are `links`, under `deadline` (read
    /// with the links in one slot access); queues it when the deadline has passed already.
    #[inline]
    fn file_timer(&mut self, idx: u32, links: TimerLinks, deadline: Option<Instant>) {
        let deadline = deadline.map(Instant::micros);
        if self.with_wheel(|wheel, host| wheel.schedule_from(host, idx, links, deadline)) {
            make_ready(&mut self.table, &mut self.ready, idx);
        }
    }

    /// [`reschedule`](Self::reschedule) unless the connection's deadline is still `before`:
    /// an unchanged deadline is filed where it was (or, already due, queued as it was).
    #[inline]
    fn reschedule_if_changed(&mut self, idx: u32, before: Option<Instant>) {
        let Some((_, c)) = self.table.get_index(idx) else {
            return;
        };
        let now = c.tcb.next_deadline();
        if now != before {
            let links = c.timer;
            self.file_timer(idx, links, now);
        }
    }

    /// Connection `idx` reached CLOSED: count it, stop its timers, take its tuple out of the
    /// map (a CLOSED connection has no TCB for the tuple, RFC 9293: segments on it find the
    /// port's listener or get the closed-port answer; the application keeps the key), and free
    /// the slot when the application has its buffers already.
    fn closed(&mut self, idx: u32) {
        let local = Ipv4Addr::from(self.cidr.address());
        let Some((key, c)) = self.table.get_index_mut(idx) else {
            return;
        };
        if !c.has(role::DETACHED) {
            // A listening slot reaches CLOSED only after it stopped listening (parked,
            // registered under nothing); any other connection is registered under its tuple.
            let registered = !c.has(role::REGISTERED | role::PARKED);
            c.role |= role::DETACHED;
            if registered {
                let tuple =
                    FourTuple::new(local, c.local_port, c.remote_addr.into(), c.remote_port);
                let removed = self.table.unregister(key, &tuple);
                debug_assert!(
                    removed.is_ok(),
                    "slot {idx} registered under {tuple}: {removed:?}"
                );
            }
        }
        let Some((_, c)) = self.table.get_index_mut(idx) else {
            return;
        };
        if !c.has(role::CLOSED_SEEN) {
            c.role |= role::CLOSED_SEEN;
            self.counters.closes += 1;
            match c.tcb.close_reason() {
                CloseReason::Reset | CloseReason::Refused => self.counters.resets += 1,
                CloseReason::TimedOut | CloseReason::KeepaliveTimedOut => {
                    self.counters.timeouts += 1
                }
                _ => {}
            }
        }
        let released = c.has(role::RELEASED);
        let (timer, qstate) = (c.timer, c.qstate);
        let loss = core::mem::replace(&mut c.loss, NIL);
        if loss != NIL {
            self.loss.give_back(loss);
        }
        self.with_wheel(|wheel, host| wheel.cancel_from(host, idx, timer));
        if released {
            // `retire` without its first half: a CLOSED connection does not listen, and its
            // timer is out already.
            self.dispose(idx, qstate);
        }
    }

    /// Removes connection `idx` for good: at once, or when it leaves the queue it is in.
    fn retire(&mut self, idx: u32) {
        let Some((_, c)) = self.table.get_index(idx) else {
            return;
        };
        // Neither leaving the listener lookups nor the wheel changes the queue state.
        let qstate = c.qstate;
        if c.has(role::REGISTERED | role::PARKED) && c.tcb.state() == State::Listen {
            self.stop_listening(idx);
        }
        self.with_wheel(|wheel, host| wheel.cancel(host, idx));
        self.dispose(idx, qstate);
    }

    /// The end of [`retire`](Self::retire) for connection `idx` (out of every listener
    /// lookup, its timer out), whose queue state is `qstate`: freed now, or marked to be
    /// freed when it leaves its queue.
    #[inline]
    fn dispose(&mut self, idx: u32, qstate: QState) {
        match qstate {
            QState::Ready | QState::ArpWait => {
                let Some((key, c)) = self.table.get_index(idx) else {
                    return;
                };
                // Logically gone: its tuple must be out of the map now, not when the slot
                // leaves its queue, so that segments on it find what they will find then
                // (the port's listener, or nothing). Every path here is CLOSED, which
                // `closed` detached already; this only guards a connection that was not.
                if let Some(tuple) = self.registered_tuple(c) {
                    let removed = self.table.unregister(key, &tuple);
                    debug_assert!(
                        removed.is_ok(),
                        "slot {idx} registered under {tuple}: {removed:?}"
                    );
                }
                if let Some((_, c)) = self.table.get_index_mut(idx) {
                    c.qstate = QState::Zombie;
                    c.role |= role::DETACHED;
                    self.zombies += 1;
                }
            }
            QState::Zombie => {}
            QState::Idle => self.free(idx),
        }
    }

    /// Frees every slot released while queued (walks both queues). Called when the table is
    /// full, so a released slot is always usable again at once.
    fn reap_zombies(&mut self) {
        for which in 0..2 {
            let mut q = if which == 0 {
                self.ready
            } else {
                self.arp_wait
            };
            let mut kept = Queue::EMPTY;
            while let Some(idx) = q.pop(&mut self.table) {
                let zombie = self
                    .table
                    .get_index(idx)
                    .is_some_and(|(_, c)| c.qstate == QState::Zombie);
                if zombie {
                    self.free(idx);
                } else {
                    kept.push(&mut self.table, idx);
                }
            }
            if which == 0 {
                self.ready = kept;
            } else {
                self.arp_wait = kept;
            }
        }
    }

    /// Makes room for one more slot if released slots wait in queues.
    fn make_room(&mut self) {
        if self.table.slots().is_full() && self.zombies > 0 {
            self.reap_zombies();
        }
    }

    /// The tuple a connection is registered under (`None` for a parked listener and a
    /// CLOSED connection).
    fn registered_tuple(&self, c: &Connection<B>) -> Option<FourTuple> {
        let local = Ipv4Addr::from(self.cidr.address());
        if c.has(role::REGISTERED) {
            Some(FourTuple::listener(local, c.local_port))
        } else if c.has(role::PARKED | role::DETACHED) {
            None
        } else {
            Some(FourTuple::new(
                local,
                c.local_port,
                c.remote_addr.into(),
                c.remote_port,
            ))
        }
    }

    /// Frees slot `idx` now (it is in no queue and no timer list).
    fn free(&mut self, idx: u32) {
        let Some((key, c)) = self.table.get_index(idx) else {
            return;
        };
        if c.qstate == QState::Zombie {
            self.zombies -= 1;
        }
        if c.loss != NIL {
            self.loss.give_back(c.loss);
        }
        match self.registered_tuple(c) {
            Some(tuple) => {
                let removed = self.table.remove(key, &tuple);
                debug_assert!(
                    removed.is_ok(),
                    "slot {idx} registered under {tuple}: {removed:?}"
                );
            }
            None => {
                let removed = self.table.remove_unregistered(key);
                debug_assert!(removed.is_some(), "parked slot {idx} vanished");
            }
        }
    }

    /// Checks the endpoint's bookkeeping: every queue and timer list names live slots in the
    /// right state, every connection with a deadline is filed in the wheel no later than it, the
    /// listener chains are consistent, and every state machine's own invariants hold. O(slots);
    /// for tests and debugging.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        let mut queued = 0usize;
        for (q, state) in [
            (&self.ready, QState::Ready),
            (&self.arp_wait, QState::ArpWait),
        ] {
            let mut at = q.head;
            let mut last = NIL;
            let mut guard = self.table.capacity() + 1;
            while at != NIL {
                guard = guard
                    .checked_sub(1)
                    .ok_or("queue longer than the table (a cycle)")?;
                let (_, c) = self
                    .table
                    .get_index(at)
                    .ok_or("queue names a vacant slot")?;
                if c.qstate != state && c.qstate != QState::Zombie {
                    return Err("queued connection with the wrong queue state");
                }
                queued += 1;
                last = at;
                at = c.queue_next;
            }
            if last != q.tail {
                return Err("queue tail is not its last element");
            }
        }
        let mut in_queues = 0usize;
        let mut linked = 0usize;
        let mut lent = 0usize;
        let mut registered = 0usize;
        for (key, c) in self.table.slots().iter() {
            if matches!(c.qstate, QState::Ready | QState::ArpWait | QState::Zombie) {
                in_queues += 1;
            }
            if c.qstate == QState::Zombie && !c.has(role::RELEASED) {
                return Err("zombie whose buffers were not taken");
            }
            if c.has(role::DETACHED) != (c.tcb.state() == State::Closed) {
                return Err("a connection is detached from the tuple map exactly when CLOSED");
            }
            if c.qstate == QState::Zombie && !c.has(role::DETACHED) {
                return Err("a zombie still in the tuple map");
            }
            let deadline = c.tcb.next_deadline().map(Instant::micros);
            if c.timer.is_linked() {
                linked += 1;
                if !self.wheel.check_filed(&c.timer, deadline) {
                    return Err("timer filed in the wrong bucket");
                }
            } else if let Some(d) = deadline {
                if c.has(role::REGISTERED | role::PARKED) && c.tcb.state() == State::Listen {
                    return Err("listening slot with a deadline");
                }
                // Unfiled with a deadline: only when it passed and the connection is queued.
                if d > self.wheel.cursor() || c.qstate == QState::Idle {
                    return Err("deadline without a timer");
                }
            }
            if c.has(role::REGISTERED) && c.tcb.state() == State::Listen {
                let mut n = 0u32;
                let mut at = key.index();
                while at != NIL {
                    n += 1;
                    if n as usize > self.table.capacity() {
                        return Err("listener chain longer than the table (a cycle)");
                    }
                    at = self
                        .table
                        .get_index(at)
                        .ok_or("listener chain names a vacant slot")?
                        .1
                        .timer
                        .spare_next();
                }
                if c.listening() != n {
                    return Err("a port's count of listening slots disagrees with its chain");
                }
                if u32::from(c.listening_peak()) < n.min(u32::from(u16::MAX)) {
                    return Err("a port's peak of listening slots is below its count");
                }
            }
            if let Some(tuple) = self.registered_tuple(c) {
                registered += 1;
                if self.table.lookup(&tuple) != Some(key) {
                    return Err("connection not registered under its tuple");
                }
            }
            if c.buffers.is_none() != c.has(role::RELEASED) {
                return Err("buffers present exactly when not released");
            }
            let loss = match c.loss {
                NIL => &LossState::EMPTY,
                idx => self.loss.get(idx).ok_or("loss state handle out of range")?,
            };
            if c.loss != NIL {
                lent += 1;
            }
            match c.buffers.as_ref() {
                Some(b) => c.tcb.check_invariants(b.send_buffer(), loss)?,
                None => c.tcb.check_invariants(&NoBuffers, loss)?,
            }
        }
        if registered != self.table.map().len() {
            return Err("the tuple map holds entries of no connection (or of a parked listener)");
        }
        if queued != in_queues {
            return Err("queue membership disagrees with queue states");
        }
        let zombies = self
            .table
            .slots()
            .iter()
            .filter(|(_, c)| c.qstate == QState::Zombie)
            .count();
        if zombies != self.zombies {
            return Err("zombie count disagrees with the slots");
        }
        if lent != self.loss.in_use {
            return Err("loss states lent disagree with the connections holding one");
        }
        if !self.scratch.is_empty() {
            return Err("scratch loss state left holding ranges");
        }
        if linked != self.wheel.len() {
            return Err("timer wheel count disagrees with the linked connections");
        }
        if self.arp_due_len > ARP_DUE || self.rst_len > PENDING_RSTS {
            return Err("pending control frames beyond capacity");
        }
        if self.arp_due_len > self.neighbors.max_pending() + 1 {
            return Err("more ARP requests due than resolutions in progress and one refresh");
        }
        Ok(())
    }
}

impl<B, SS: SlotStorage<B>, MS: BucketStorage, LS> fmt::Debug for Endpoint<B, SS, MS, LS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("mac", &self.mac)
            .field("address", &self.cidr)
            .field("connections", &self.table.len())
            .field("timers", &self.wheel.len())
            .finish_non_exhaustive()
    }
}
