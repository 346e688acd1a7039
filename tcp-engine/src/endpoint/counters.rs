//! Endpoint-wide counters: what arrived and what became of it, what left, and how connections
//! came and went. Per-connection counters live in each [`Tcb`](crate::tcb::Tcb)
//! ([`TcbCounters`](crate::tcb::TcbCounters)).
//!
//! Owns the numbers only; the endpoint increments them (saturating, never allocating).

use crate::tcb::DropReason;

macro_rules! counters {
    ($(#[$doc:meta])* pub struct $name:ident { $($(#[$fdoc:meta])* $field:ident,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fdoc])* pub $field: u64,)*
            /// Segments for a connection or listener that the state machine dropped (wholly or
            /// their payload), by [`DropReason::index`].
            pub tcp_drops: [u64; DropReason::COUNT],
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $($field: 0,)* tcp_drops: [0; DropReason::COUNT] }
            }
        }

        impl $name {
            /// Every counter with its name (`tcp_drop_<reason>` for the per-reason ones), for
            /// printing.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
                [$((stringify!($field), self.$field),)*]
                    .into_iter()
                    .chain(DropReason::ALL.iter().map(|r| (r.name(), self.tcp_drops[r.index()])))
            }
        }
    };
}

counters! {
    /// Endpoint-wide counters (see the module docs).
    pub struct EndpointCounters {
        /// Frames handed to `receive`.
        rx_frames,
        /// Bytes of those frames.
        rx_bytes,
        /// In-order payload bytes handed to a [`ReceiveSink`](super::ReceiveSink) straight from
        /// the frame (zero-copy receive), never copied into a receive buffer.
        rx_direct_bytes,
        /// Frames for another MAC or IPv4 address (or multicast), dropped.
        rx_not_for_us,
        /// Frames whose IPv4 header checksum failed (software check or the device's verdict).
        rx_bad_ipv4_checksum,
        /// TCP segments whose checksum failed (software check or the device's verdict).
        rx_bad_tcp_checksum,
        /// ICMP messages whose checksum failed.
        rx_bad_icmp_checksum,
        /// IPv4 fragments (not reassembled), dropped.
        rx_fragments,
        /// Malformed frames: truncated, impossible header lengths, bad TCP options.
        rx_malformed,
        /// Well-formed frames of kinds the engine does not handle (other EtherTypes, IPv4
        /// protocols, ICMP types, ARP for other hardware), dropped.
        rx_unsupported,
        /// Segments with an impossible address or port (broadcast or multicast source, port 0),
        /// dropped without an answer.
        rx_bad_address,
        /// TCP segments handed to a connection or listener.
        rx_segments,
        /// Payload bytes of those segments.
        rx_payload_bytes,
        /// Segments (counted in `rx_segments`) taken on the short path: the next in-order
        /// data of an established connection, accepted by header prediction
        /// ([`Tcb::on_segment_predicted`](crate::tcb::Tcb::on_segment_predicted)) or as a
        /// later segment of a GRO run.
        rx_predicted,
        /// Segments (counted in `rx_segments` and `rx_predicted`) that the poll helper's
        /// software GRO coalesced into the run of the segment before them: no lookup, one
        /// event and one timer and send-queue update for the whole run.
        rx_coalesced,
        /// RSTs answered in place for segments that matched no connection or listener.
        rst_for_unknown,
        /// RSTs answered in place by connections and listeners (bad ACKs, ACKs to listeners).
        rst_from_connections,
        /// ARP requests for our address answered in place.
        arp_requests_answered,
        /// ARP replies received.
        arp_replies_received,
        /// ARP requests sent (resolutions, retries and refreshes).
        arp_requests_sent,
        /// ICMP echo requests answered in place.
        icmp_echo_answered,
        /// ICMP "fragmentation needed" (RFC 1191) messages that passed validation and lowered
        /// a connection's send MSS (its flight was resent at once in segments of the new
        /// size).
        icmp_frag_needed,
        /// Valid "fragmentation needed" messages that changed nothing: the MSS was at or below
        /// what the MTU allows already (the rest of a burst of them, mostly), or the
        /// connection was not yet synchronized.
        icmp_frag_needed_unneeded,
        /// ICMP hard errors (protocol or port unreachable) that aborted a connection in
        /// SYN-SENT (closed with `CloseReason::Unreachable`).
        icmp_hard_errors,
        /// Valid ICMP errors counted and otherwise ignored (RFC 1122 soft errors, RFC 5461):
        /// net, host and other unreachables, time exceeded, and protocol or port unreachable
        /// on a connection past SYN-SENT.
        icmp_soft_errors,
        /// ICMP errors rejected (RFC 5927): the quote is not a TCP segment from our address,
        /// or names an impossible peer (not unicast, port 0).
        icmp_rejected_quote,
        /// ICMP errors rejected: the quoted 4-tuple names no connection.
        icmp_rejected_no_connection,
        /// ICMP errors rejected: the quoted sequence number is not in flight (outside
        /// `[SND.UNA, SND.MAX)`, or not the ISS in SYN-SENT).
        icmp_rejected_sequence,
        /// "Fragmentation needed" rejected: the next-hop MTU lies below the floor
        /// (`EndpointConfig::min_path_mtu`), which an attacker could use to force tiny
        /// segments (RFC 5927 section 7).
        icmp_rejected_mtu,
        /// Frames committed as sent.
        tx_frames,
        /// Bytes of those frames (a TSO super-frame counts whole).
        tx_bytes,
        /// TCP segments committed (a TSO super-frame counts once).
        tx_segments,
        /// TCP payload bytes committed (retransmissions included).
        tx_payload_bytes,
        /// TCP frames committed as TSO super-frames.
        tx_tso_frames,
        /// Super-segments the poll helper cut into MSS-sized frames itself (software
        /// segmentation, for devices without TSO); each of their frames counts in `tx_frames`
        /// and `tx_segments`.
        gso_batches,
        /// RSTs sent for aborted connections.
        tx_aborts,
        /// Commits refused because the frame's plan was stale (the connection changed between
        /// `poll_transmit` and `commit`; nothing advanced).
        tx_stale_commits,
        /// Segments held back because the transmit buffer was too small even for one MSS.
        tx_buffer_too_small,
        /// Segments not sent because the next hop did not answer ARP (retried at the
        /// connection's next timer).
        neighbor_unreachable,
        /// Segments not sent because too many resolutions were in progress.
        neighbor_busy,
        /// Segments not sent for want of a route (off-link peer, no gateway).
        no_route,
        /// Active opens.
        connects,
        /// Passive opens (SYNs accepted by listening slots).
        accepts,
        /// Connections that reached CLOSED.
        closes,
        /// Connections reset by the peer.
        resets,
        /// Connections that timed out (retransmissions, SYNs, keepalive).
        timeouts,
        /// Opens refused: every slot in use.
        slots_exhausted,
        /// Active opens refused: no ephemeral port toward the destination free (each in use,
        /// or refused by the port steering filter).
        ports_exhausted,
        /// Of those, opens the port steering filter alone refused: it took no port of the
        /// range (see [`Endpoint::set_port_steering`](crate::endpoint::Endpoint::set_port_steering)).
        ports_unsteerable,
        /// Abort RSTs dropped because the queue of pending RSTs was full.
        rst_queue_full,
        /// Replies the poll helper could not keep for sending (its stash was full).
        replies_dropped,
        /// Frames a device took from `fill` and then refused (nothing sent, nothing committed).
        tx_device_refused,
        /// Times a connection needed a loss-recovery state and the pool had none left (it
        /// went without: out-of-order data dropped, SACK information ignored).
        loss_states_exhausted,
        /// Connections established with Explicit Congestion Notification (RFC 3168)
        /// negotiated.
        ecn_connections,
        /// Data segments that arrived marked CE (Congestion Experienced) on connections using
        /// ECN; each starts or continues an echo (ECE) to the peer.
        rx_ce_marked,
        /// Congestion window reductions for an ECN echo (ECE) from the peer: at most one per
        /// window of data, none during loss recovery, no retransmission.
        ecn_window_reductions,
        /// ACKs whose first SACK block was a D-SACK (RFC 2883): the peer received data twice,
        /// most often a retransmission of ours that was not needed. Many of them against few
        /// losses say the minimum RTO is below the path's RTT variation, or the path reorders.
        dsacks_received,
        /// Window reductions (fast recovery, retransmission timeout, tail loss probe) shown
        /// spurious and undone: the timestamp echo said the original arrived (Eifel, RFC
        /// 3522) or D-SACKs reported every byte the episode retransmitted (RFC 3708).
        spurious_recoveries_undone,
        /// Tail loss probes sent (RFC 8985): the last segment sent again when no ACK came
        /// for two smoothed RTTs, so that a lost tail is repaired by SACK recovery rather
        /// than a retransmission timeout. Counted among the retransmitted segments; a probe
        /// whose original had arrived comes back as a D-SACK.
        loss_probes,
        /// SYNs answered with a SYN cookie (RFC 4987): a SYN-ACK sent in place, no listening
        /// slot taken ([`SynCookies`](super::SynCookies)).
        syn_cookies_sent,
        /// ACKs that returned a valid SYN cookie and became a connection in a listening slot.
        syn_cookies_accepted,
        /// ACKs to a listening port, with SYN cookies on, that carried no valid cookie (forged,
        /// expired, or a stray ACK): answered with a RST as without cookies.
        syn_cookies_rejected,
        /// ACKs with a valid SYN cookie for a port with no listening slot left: dropped (the
        /// peer retransmits and may find a slot then).
        syn_cookie_no_slot,
        /// SYNs to a port that listens but whose listening slots connections all took less
        /// than 3 s ago (the application did not stop listening): dropped, not refused, as
        /// Linux drops SYNs to a full accept queue; the client retransmits its SYN and finds
        /// a slot once the application listens again (`listen`, `recycle`). After 3 s
        /// without a slot, or once the application closed its last listening slot itself, a
        /// SYN gets the closed-port RST (`rst_for_unknown`).
        syn_no_listening_slot,
        /// Initial slow starts HyStart++ (RFC 9406) left for Conservative Slow Start because a
        /// round's minimum RTT rose by the threshold (a queue built up), before any loss. A
        /// connection whose RTT fell back, so that slow start resumed and was left again,
        /// counts twice.
        hystart_exits,
    }
}
