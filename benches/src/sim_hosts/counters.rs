//! The counters of a two-host run, flattened from their four sources: the engine's
//! [`EndpointCounters`], the device's statistics registers ([`DeviceStats`], read through the
//! driver), the driver's [`QueueStats`] and the adapter's [`AdapterStats`]; and the cable's
//! [`PortCounters`] at both ends. [`SimHostsCounters::since`] gives what one phase did.
//! [`Retransmissions`] are per connection (the engine's [`TcbCounters`]).
//!
//! Owns the selection and naming of the numbers reports show; must not read devices itself
//! (`SimHosts::counters` does).

use host_driver::nic::{DeviceStats, QueueStats};
use rtl_sim::wire::PortCounters;
use serde::{Deserialize, Serialize};
use tcp_engine::endpoint::EndpointCounters;
use tcp_engine::tcb::TcbCounters;

use crate::nic::AdapterStats;

/// Declares [`HostCounters`] and its field-by-field combination.
macro_rules! host_counters {
    ($($(#[$doc:meta])* $field:ident,)*) => {
        /// What one host counted: its engine, its driver and its NIC.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct HostCounters {
            $($(#[$doc])* pub $field: u64,)*
        }

        impl HostCounters {
            /// `f` applied to each pair of fields.
            fn zip_with(&self, other: &HostCounters, f: impl Fn(u64, u64) -> u64) -> HostCounters {
                HostCounters { $($field: f(self.$field, other.$field),)* }
            }
        }
    };
}

host_counters! {
    /// TCP segments the engine sent (a TSO super-frame counts once).
    tcp_segments_sent,
    /// Of those, TSO super-frames handed to the NIC.
    tso_super_frames,
    /// TCP payload bytes the engine sent (retransmissions included).
    tcp_payload_bytes_sent,
    /// TCP segments the engine received.
    tcp_segments_received,
    /// ARP frames the engine sent (requests, and replies answered in place).
    arp_frames_sent,
    /// ARP frames the engine received and used (requests for its address, replies).
    arp_frames_received,
    /// Received frames whose IPv4 or TCP checksum failed (the device's verdict or the
    /// engine's own check), dropped by the engine.
    rx_bad_checksum,
    /// Frames the engine dropped for any other reason (malformed, not for us, unsupported,
    /// segments the state machine refused).
    engine_drops,
    /// TX requests the NIC completed (a TSO super-frame is one request).
    nic_tx_requests,
    /// Frames the NIC put on the wire (after segmentation).
    nic_tx_frames,
    /// Bytes of those frames.
    nic_tx_bytes,
    /// Wire frames in which the NIC inserted checksums.
    nic_csum_inserted,
    /// Wire frames the NIC produced by TSO.
    nic_tso_segments,
    /// Frames the NIC delivered to the host.
    nic_rx_frames,
    /// Bytes of those frames.
    nic_rx_bytes,
    /// Delivered frames the NIC verified as good (IPv4 and TCP checksums).
    nic_rx_csum_good,
    /// Delivered frames the NIC found a bad checksum in.
    nic_rx_csum_bad,
    /// Frames the NIC dropped (no buffer, too long, no queue).
    nic_rx_drops,
    /// Error completions (TX and RX) and errors the device recorded.
    nic_errors,
    /// Frames the adapter dropped before the NIC saw them (a request the device would refuse,
    /// a frame too long for its buffer).
    adapter_rejected,
    /// Times the adapter had no transmit buffer to offer the engine.
    adapter_no_buffer,
    /// TX doorbells the driver rang.
    tx_doorbells,
    /// Data segments that arrived marked CE (Congestion Experienced) on connections using ECN
    /// (RFC 3168); the engine echoed them.
    ecn_marks_received,
    /// Congestion window reductions for the peer's ECN echoes.
    ecn_window_reductions,
    /// ACKs that reported a duplicate (RFC 2883 D-SACK): mostly retransmissions that were
    /// not needed (reordering taken for loss, a frame the cable duplicated).
    dsacks_received,
    /// Window reductions shown spurious (timestamp echo or D-SACKs) and undone.
    spurious_recoveries_undone,
    /// Tail loss probes sent (RFC 8985; counted among the retransmitted segments).
    loss_probes,
    /// SYNs answered with a SYN cookie (RFC 4987) instead of taking a listening slot.
    syn_cookies_sent,
    /// ACKs that returned a valid SYN cookie and became connections.
    syn_cookies_accepted,
    /// ACKs to a listening port that carried no valid SYN cookie (answered with a RST).
    syn_cookies_rejected,
    /// Valid SYN-cookie ACKs dropped because the port had no listening slot left.
    syn_cookie_no_slot,
    /// Initial slow starts HyStart++ (RFC 9406) left before any loss, because the round's
    /// minimum RTT rose (a queue built up).
    hystart_exits,
    /// ICMP "fragmentation needed" messages (RFC 1191) that lowered a connection's MSS.
    icmp_frag_needed,
    /// ICMP hard errors (protocol or port unreachable) that aborted a connection in SYN-SENT.
    icmp_hard_errors,
    /// ICMP errors counted and otherwise ignored (soft errors, RFC 1122 4.2.3.9).
    icmp_soft_errors,
    /// ICMP errors that failed validation (RFC 5927: not our segment, no such connection,
    /// sequence number not in flight, MTU below the floor).
    icmp_rejected,
}

impl HostCounters {
    /// Flattens the four sources.
    pub fn collect(
        engine: &EndpointCounters,
        device: &DeviceStats,
        queue: &QueueStats,
        adapter: &AdapterStats,
    ) -> HostCounters {
        // The device's numbers are its word: sums over its queues saturate rather than
        // overflow when a buggy device reports absurd counts.
        let tx = |f: fn(&host_driver::nic::TxQueueCounters) -> u64| -> u64 {
            device.tx.iter().map(f).fold(0, u64::saturating_add)
        };
        let rx = |f: fn(&host_driver::nic::RxQueueCounters) -> u64| -> u64 {
            device.rx.iter().map(f).fold(0, u64::saturating_add)
        };
        let e = engine;
        HostCounters {
            tcp_segments_sent: e.tx_segments,
            tso_super_frames: e.tx_tso_frames,
            tcp_payload_bytes_sent: e.tx_payload_bytes,
            tcp_segments_received: e.rx_segments,
            arp_frames_sent: e.arp_requests_sent + e.arp_requests_answered,
            arp_frames_received: e.arp_requests_answered + e.arp_replies_received,
            rx_bad_checksum: e.rx_bad_ipv4_checksum + e.rx_bad_tcp_checksum,
            engine_drops: e.rx_not_for_us
                + e.rx_fragments
                + e.rx_malformed
                + e.rx_unsupported
                + e.rx_bad_address
                + e.tcp_drops.iter().sum::<u64>(),
            nic_tx_requests: tx(|t| t.requests.into()),
            nic_tx_frames: tx(|t| t.frames),
            nic_tx_bytes: tx(|t| t.bytes),
            nic_csum_inserted: tx(|t| t.csum_inserted.into()),
            nic_tso_segments: tx(|t| t.tso_segments.into()),
            nic_rx_frames: rx(|r| r.frames),
            nic_rx_bytes: rx(|r| r.bytes),
            nic_rx_csum_good: rx(|r| r.csum_good.into()),
            nic_rx_csum_bad: rx(|r| r.csum_bad.into()),
            nic_rx_drops: rx(|r| r.drops.into()).saturating_add(device.rx_drops_no_queue.into()),
            nic_errors: tx(|t| t.errors.into())
                .saturating_add(rx(|r| r.errors.into()))
                .saturating_add(device.error_count.into()),
            adapter_rejected: adapter.tx_rejected + adapter.tx_too_long,
            adapter_no_buffer: adapter.tx_no_buffer,
            tx_doorbells: queue.tx_doorbells,
            ecn_marks_received: e.rx_ce_marked,
            ecn_window_reductions: e.ecn_window_reductions,
            dsacks_received: e.dsacks_received,
            spurious_recoveries_undone: e.spurious_recoveries_undone,
            loss_probes: e.loss_probes,
            syn_cookies_sent: e.syn_cookies_sent,
            syn_cookies_accepted: e.syn_cookies_accepted,
            syn_cookies_rejected: e.syn_cookies_rejected,
            syn_cookie_no_slot: e.syn_cookie_no_slot,
            hystart_exits: e.hystart_exits,
            icmp_frag_needed: e.icmp_frag_needed,
            icmp_hard_errors: e.icmp_hard_errors,
            icmp_soft_errors: e.icmp_soft_errors,
            icmp_rejected: e.icmp_rejected_quote
                + e.icmp_rejected_no_connection
                + e.icmp_rejected_sequence
                + e.icmp_rejected_mtu,
        }
    }

    /// Field by field `self - earlier` (never negative).
    pub fn since(&self, earlier: &HostCounters) -> HostCounters {
        self.zip_with(earlier, u64::saturating_sub)
    }

    /// Field by field `self + other`.
    pub fn plus(&self, other: &HostCounters) -> HostCounters {
        self.zip_with(other, u64::saturating_add)
    }
}

/// What the cable carried and what its impairment did, both directions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CableCounters {
    /// Frames put on the cable from the client's end (after impairment).
    pub client_to_server: u64,
    /// Frames put on the cable from the server's end.
    pub server_to_client: u64,
    /// Frames the impairment lost (both directions).
    pub lost: u64,
    /// Frames it delivered twice.
    pub duplicated: u64,
    /// Frames it delivered after the next one.
    pub reordered: u64,
    /// Frames it flipped a bit in.
    pub corrupted: u64,
    /// Frames lost because the other end's ring was full.
    pub overflow: u64,
    /// ECN-capable frames it marked CE (Congestion Experienced) instead of losing them.
    pub ce_marked: u64,
    /// Frames the bottlenecks' queues dropped, full (both directions; 0 without a bottleneck).
    pub queue_drops: u64,
    /// ECN-capable frames the bottlenecks marked CE at their threshold.
    pub threshold_marks: u64,
    /// Most frames in either bottleneck's queue at once, since the cable was built (not per
    /// phase: a peak cannot be subtracted).
    pub peak_queue: u64,
    /// Frames the bottlenecks accepted (offered minus dropped).
    pub queue_accepted: u64,
    /// Sum of the time each accepted frame spent in a bottleneck, nanoseconds.
    pub queue_frame_ns: u64,
    /// Time the bottlenecks were observed (each direction's first arrival to its last
    /// departure, added up), nanoseconds.
    pub queue_span_ns: u64,
}

impl CableCounters {
    /// From the two ends' port counters (client's end first).
    pub fn collect(client: &PortCounters, server: &PortCounters) -> CableCounters {
        let (a, b) = (&client.impairment, &server.impairment);
        let q = client.bottleneck.plus(&server.bottleneck);
        CableCounters {
            client_to_server: client.sent,
            server_to_client: server.sent,
            lost: a.lost + b.lost,
            duplicated: a.duplicated + b.duplicated,
            reordered: a.reordered + b.reordered,
            corrupted: a.corrupted + b.corrupted,
            overflow: client.dropped + server.dropped,
            ce_marked: a.ce_marked + b.ce_marked,
            queue_drops: q.drops,
            threshold_marks: q.ce_marked,
            peak_queue: q.peak_queue.into(),
            queue_accepted: q.offered - q.drops,
            queue_frame_ns: q.frame_ns,
            queue_span_ns: q.span_ns,
        }
    }

    /// The bottlenecks' average occupancy, frames (Little's law over the time observed).
    pub fn average_queue(&self) -> f64 {
        self.queue_frame_ns as f64 / self.queue_span_ns.max(1) as f64
    }

    /// The average time a frame spent in a bottleneck (queueing and its own time on the
    /// line), microseconds.
    pub fn average_sojourn_us(&self) -> f64 {
        self.queue_frame_ns as f64 / self.queue_accepted.max(1) as f64 / 1e3
    }

    /// Field by field `self - earlier`.
    pub fn since(&self, earlier: &CableCounters) -> CableCounters {
        CableCounters {
            client_to_server: self
                .client_to_server
                .saturating_sub(earlier.client_to_server),
            server_to_client: self
                .server_to_client
                .saturating_sub(earlier.server_to_client),
            lost: self.lost.saturating_sub(earlier.lost),
            duplicated: self.duplicated.saturating_sub(earlier.duplicated),
            reordered: self.reordered.saturating_sub(earlier.reordered),
            corrupted: self.corrupted.saturating_sub(earlier.corrupted),
            overflow: self.overflow.saturating_sub(earlier.overflow),
            ce_marked: self.ce_marked.saturating_sub(earlier.ce_marked),
            queue_drops: self.queue_drops.saturating_sub(earlier.queue_drops),
            threshold_marks: self.threshold_marks.saturating_sub(earlier.threshold_marks),
            peak_queue: self.peak_queue,
            queue_accepted: self.queue_accepted.saturating_sub(earlier.queue_accepted),
            queue_frame_ns: self.queue_frame_ns.saturating_sub(earlier.queue_frame_ns),
            queue_span_ns: self.queue_span_ns.saturating_sub(earlier.queue_span_ns),
        }
    }
}

/// Everything a two-host run counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimHostsCounters {
    /// The client host.
    pub client: HostCounters,
    /// The server host.
    pub server: HostCounters,
    /// The cable.
    pub cable: CableCounters,
    /// Clock cycles both NICs simulated, when their implementation counts cycles (the RTL);
    /// `None` on the model.
    pub simulated_cycles: Option<u64>,
}

impl SimHostsCounters {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &SimHostsCounters) -> SimHostsCounters {
        SimHostsCounters {
            client: self.client.since(&earlier.client),
            server: self.server.since(&earlier.server),
            cable: self.cable.since(&earlier.cable),
            simulated_cycles: match (self.simulated_cycles, earlier.simulated_cycles) {
                (Some(a), Some(b)) => Some(a.saturating_sub(b)),
                _ => None,
            },
        }
    }

    /// Both hosts added up.
    pub fn total(&self) -> HostCounters {
        self.client.plus(&self.server)
    }
}

/// Retransmission counters of one connection (the engine's per-connection counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retransmissions {
    /// Segments sent again (timeouts, fast retransmits, SACK recovery).
    pub segments: u64,
    /// Fast retransmits (entries into fast recovery).
    pub fast_retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Duplicate ACKs received.
    pub duplicate_acks: u64,
}

impl Retransmissions {
    /// From a connection's counters.
    pub fn of(c: &TcbCounters) -> Retransmissions {
        Retransmissions {
            segments: c.retransmitted_segments.into(),
            fast_retransmits: c.fast_retransmits.into(),
            timeouts: c.timeouts.into(),
            duplicate_acks: c.duplicate_acks.into(),
        }
    }

    /// Both added up.
    pub fn plus(&self, o: &Retransmissions) -> Retransmissions {
        Retransmissions {
            segments: self.segments + o.segments,
            fast_retransmits: self.fast_retransmits + o.fast_retransmits,
            timeouts: self.timeouts + o.timeouts,
            duplicate_acks: self.duplicate_acks + o.duplicate_acks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use host_driver::nic::{RxQueueCounters, TxQueueCounters};

    /// A device whose counters read absurdly high (an RTL bug, a counter that lost its reset)
    /// must not overflow the sums over its queues: they saturate.
    #[test]
    fn device_counters_near_the_top_saturate_their_sums() {
        let tx = TxQueueCounters {
            frames: u64::MAX - 1,
            bytes: u64::MAX,
            errors: u32::MAX,
            ..TxQueueCounters::default()
        };
        let rx = RxQueueCounters {
            frames: u64::MAX / 2 + 1,
            drops: u32::MAX,
            errors: u32::MAX,
            ..RxQueueCounters::default()
        };
        let device = DeviceStats {
            tx: vec![tx; 4],
            rx: vec![rx; 4],
            rx_drops_no_queue: u32::MAX,
            error_count: u32::MAX,
            ..DeviceStats::default()
        };
        let collect = |d: &DeviceStats| {
            HostCounters::collect(
                &EndpointCounters::default(),
                d,
                &QueueStats::default(),
                &AdapterStats::default(),
            )
        };
        let c = collect(&device);
        assert_eq!(c.nic_tx_frames, u64::MAX);
        assert_eq!(c.nic_tx_bytes, u64::MAX);
        assert_eq!(c.nic_rx_frames, u64::MAX);
        assert_eq!(c.nic_rx_drops, 5 * u64::from(u32::MAX));
        assert_eq!(c.nic_errors, 9 * u64::from(u32::MAX));
        // One queue of each: the plain values.
        let one = DeviceStats {
            tx: vec![tx],
            rx: vec![rx],
            ..DeviceStats::default()
        };
        let c = collect(&one);
        assert_eq!((c.nic_tx_frames, c.nic_rx_frames), (tx.frames, rx.frames));
    }
}
