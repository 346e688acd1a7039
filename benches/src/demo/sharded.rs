//! `ferrotoe demo --queues N --connections M`: the sharded demo. Two multi-queue hosts
//! ([`crate::sim_hosts::sharded`]: N queue pairs with RSS, one TCP endpoint per queue pair),
//! a bulk transfer in both directions spread over M connections with every byte verified, and
//! a report with what each queue received.
//!
//! Owns the sharded demo's checks and its report (text and JSON). Must not contain the
//! workload loop ([`crate::sim_hosts::sharded::bulk`]) or flag parsing (the CLI).

use std::fmt::Write as _;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{DemoError, DemoProgress};
use crate::report::table::human_bytes;
use crate::sim_hosts::{
    NicBackend, ShardedBulkSpec, ShardedHosts, Side, SimHostsConfig, run_sharded_bulk,
};

/// The port the server's shards listen on.
const PORT: u16 = 5001;
/// Rounds after which the transfer fails (a bound; far more than any run needs).
const MAX_ROUNDS: u64 = 50_000_000;
/// The most connections the sharded demo runs: each shard's endpoints are sized for their
/// share at set-up (memory grows with it), and the client's ephemeral ports (16384, RFC
/// 6335's dynamic range, split over the shards by the steering) bound what could ever open.
pub const MAX_CONNECTIONS: usize = 4096;

/// What the sharded demo runs.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardedDemoConfig {
    /// Both hosts (backend, offloads, MTU, cable, capture); `connections` is set from the
    /// shares below.
    pub hosts: SimHostsConfig,
    /// Queue pairs (shards) per host.
    pub queues: u16,
    /// Connections, spread round-robin over the client's shards.
    pub connections: usize,
    /// Bytes per direction over all connections (each carries its share, rounded down).
    pub bytes: u64,
    /// Send and receive buffer of each connection end.
    pub buffer: usize,
}

/// What one host's queues received.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardedHostReport {
    /// Frames each queue pair received (index: queue).
    pub queue_rx_frames: Vec<u64>,
    /// Frames each shard's endpoint took (index: shard; equal to its queue's frames).
    pub endpoint_rx_frames: Vec<u64>,
    /// RSTs the shards sent (segments for no connection, bad segments, late ACKs of closed
    /// connections reaching a listener). Reported, not an error: a frame on a foreign shard
    /// shows as a connection accepted there or a transfer that fails.
    pub rsts_sent: u64,
}

/// The sharded demo's report (`--json` prints it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardedDemoReport {
    /// Device backend of both NICs.
    pub backend: String,
    /// Offload mode used.
    pub offload: String,
    /// Queue pairs (shards) per host.
    pub queues: u16,
    /// Connections.
    pub connections: usize,
    /// Bytes each connection carried in each direction.
    pub bytes_per_connection_each_way: u64,
    /// Bytes received and verified, both directions.
    pub bytes_verified: u64,
    /// Connections per client shard.
    pub connections_per_shard: Vec<usize>,
    /// Connections each server shard accepted: equal to `connections_per_shard` when RSS
    /// steers each flow to the same queue index on both hosts.
    pub accepted_per_shard: Vec<usize>,
    /// Simulated time of the transfer, seconds.
    pub simulated_s: f64,
    /// Goodput on the simulated clock, both directions, Gbit/s.
    pub simulated_gbps: f64,
    /// Wall time of the transfer, seconds.
    pub wall_s: f64,
    /// The client's queues.
    pub client: ShardedHostReport,
    /// The server's queues.
    pub server: ShardedHostReport,
    /// Problems found (device errors, a server shard accepting other than its client shard
    /// opened, a queue with connections that received nothing).
    pub errors: Vec<String>,
    /// No problems.
    pub ok: bool,
}

/// Runs the sharded demo; `progress` gets [`DemoProgress::Bulk`] every round.
///
/// # Errors
/// A configuration that cannot work (the message says which value and how to fix it), or
/// the hosts or the transfer failing.
pub fn run_sharded_demo(
    cfg: &ShardedDemoConfig,
    progress: &mut dyn FnMut(DemoProgress),
) -> Result<ShardedDemoReport, DemoError> {
    if cfg.connections == 0 {
        return Err(DemoError::Config("--connections must be at least 1".into()));
    }
    if cfg.connections > MAX_CONNECTIONS {
        return Err(DemoError::Config(format!(
            "--connections {} is more than the sharded demo runs: choose 1 to {MAX_CONNECTIONS}",
            cfg.connections
        )));
    }
    let each = cfg.bytes / cfg.connections as u64;
    if each == 0 {
        return Err(DemoError::Config(format!(
            "--bytes {} over {} connections leaves no byte per connection: give at least one \
             byte per connection",
            cfg.bytes, cfg.connections
        )));
    }
    super::check_socket_buffer(cfg.buffer, cfg.hosts.mtu)?;
    let per_shard = cfg.connections.div_ceil(usize::from(cfg.queues.max(1)));
    let hosts_cfg = SimHostsConfig {
        connections: 2 * per_shard + 8,
        max_window: cfg.buffer,
        ..cfg.hosts.clone()
    };
    let mut hosts = ShardedHosts::new(&hosts_cfg, cfg.queues)?;
    progress(DemoProgress::Ready);
    let spec = ShardedBulkSpec {
        connections: cfg.connections,
        bytes_each_way: each,
        buffer: cfg.buffer,
        port: PORT,
        max_rounds: MAX_ROUNDS,
    };
    let wall = Instant::now();
    let out = run_sharded_bulk(&mut hosts, &spec, &mut |done, total| {
        progress(DemoProgress::Bulk { done, total })
    })?;
    let wall_s = wall.elapsed().as_secs_f64();
    let mut errors = Vec::new();
    if let Err(e) = hosts.check_health() {
        errors.push(e.to_string());
    }
    let mut host_report = |side: Side| {
        let host = hosts.host(side);
        let report = ShardedHostReport {
            queue_rx_frames: host.queue_rx_frames(),
            endpoint_rx_frames: host
                .shards()
                .iter()
                .map(|s| s.endpoint.counters().rx_frames)
                .collect(),
            rsts_sent: host
                .shards()
                .iter()
                .map(|s| {
                    let c = s.endpoint.counters();
                    c.rst_for_unknown + c.rst_from_connections
                })
                .sum(),
        };
        // A queue whose shard has no connection (fewer connections than queues) rightly
        // carries nothing; the client's shard q and the server's shard q share its flows.
        for ((q, n), &flows) in report
            .queue_rx_frames
            .iter()
            .enumerate()
            .zip(&out.connections_per_shard)
        {
            if *n == 0 && flows > 0 {
                errors.push(format!(
                    "{} queue {q} received no frame though {flows} connection(s) steer to it: \
                     RSS did not spread the connections",
                    side.as_str()
                ));
            }
        }
        report
    };
    let client = host_report(Side::Client);
    let server = host_report(Side::Server);
    // A SYN steered to a shard other than the one whose index opened it would be accepted
    // there: server shard q accepts exactly what client shard q opened when RSS steers as
    // the hosts' steering says. (Other segments on a foreign shard are answered with a RST,
    // which breaks their connection: the transfer then fails on its own. RSTs alone are no
    // proof: a listener rightly resets a late ACK of a connection that has closed.)
    for (q, (opened, accepted)) in out
        .connections_per_shard
        .iter()
        .zip(&out.accepted_per_shard)
        .enumerate()
    {
        if opened != accepted {
            errors.push(format!(
                "server shard {q} accepted {accepted} connection(s) where client shard {q} \
                 opened {opened}: RSS steered flows to a queue their steering filter did not \
                 choose"
            ));
        }
    }
    let simulated_s = out.simulated_us as f64 / 1e6;
    Ok(ShardedDemoReport {
        backend: match cfg.hosts.backend {
            NicBackend::Model => "model".into(),
            NicBackend::Rtl => "rtl".into(),
        },
        offload: hosts.offload().as_str().into(),
        queues: cfg.queues,
        connections: cfg.connections,
        bytes_per_connection_each_way: each,
        bytes_verified: out.bytes_verified,
        connections_per_shard: out.connections_per_shard,
        accepted_per_shard: out.accepted_per_shard,
        simulated_s,
        simulated_gbps: if simulated_s > 0.0 {
            out.bytes_verified as f64 * 8.0 / simulated_s / 1e9
        } else {
            0.0
        },
        wall_s,
        client,
        server,
        ok: errors.is_empty(),
        errors,
    })
}

impl ShardedDemoReport {
    /// The report as text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "ferrotoe demo, sharded: {} queue pairs per host with RSS, one TCP endpoint per \
             queue pair; {} backend, offload {}",
            self.queues, self.backend, self.offload
        );
        let _ = writeln!(
            s,
            "bulk: {} connections (opened per client shard: {:?}, accepted per server shard: \
             {:?}), {} each way each; {} verified in {:.6} s simulated ({:.2} Gbit/s), {:.2} s \
             wall",
            self.connections,
            self.connections_per_shard,
            self.accepted_per_shard,
            human_bytes(self.bytes_per_connection_each_way),
            human_bytes(self.bytes_verified),
            self.simulated_s,
            self.simulated_gbps,
            self.wall_s
        );
        for (name, h) in [("client", &self.client), ("server", &self.server)] {
            let queues: Vec<String> = h
                .queue_rx_frames
                .iter()
                .enumerate()
                .map(|(q, n)| format!("q{q} {n}"))
                .collect();
            let _ = writeln!(
                s,
                "{name} RX frames per queue: {} (RSTs sent: {})",
                queues.join(", "),
                h.rsts_sent
            );
        }
        if self.ok {
            let _ = writeln!(
                s,
                "ok: every byte verified, every connection accepted by the server shard of its \
                 client shard's queue"
            );
        } else {
            for e in &self.errors {
                let _ = writeln!(s, "error: {e}");
            }
        }
        s
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report serialises (plain data)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(queues: u16, connections: usize, bytes: u64) -> ShardedDemoConfig {
        ShardedDemoConfig {
            hosts: SimHostsConfig::new(),
            queues,
            connections,
            bytes,
            buffer: 64 << 10,
        }
    }

    #[test]
    fn fewer_connections_than_queues_is_not_an_error() {
        // Round-robin leaves shards 2 and 3 without a connection: their queues rightly carry
        // nothing, which is not a steering failure.
        let r = run_sharded_demo(&cfg(4, 2, 64 << 10), &mut |_| {}).unwrap();
        assert_eq!(r.connections_per_shard, vec![1, 1, 0, 0]);
        assert!(r.ok && r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.bytes_verified, 2 * (64 << 10));
        for h in [&r.client, &r.server] {
            assert!(h.queue_rx_frames[..2].iter().all(|&n| n > 0), "{h:?}");
            assert_eq!(&h.queue_rx_frames[2..], &[0, 0], "{h:?}");
        }
    }

    #[test]
    fn late_rsts_to_closed_connections_are_not_steering_errors() {
        // 1024 connections on one queue: no steering at all, yet a few clients' spurious
        // retransmissions near the close make them ACK from TIME-WAIT after the server's end
        // reached CLOSED and went back to listening, and the listener answers that ACK with a
        // RST (RFC 9293 3.10.7.2). Normal TCP, not a frame on a foreign shard.
        let c = ShardedDemoConfig {
            buffer: 4 << 10,
            ..cfg(1, 1024, 4 << 20)
        };
        let r = run_sharded_demo(&c, &mut |_| {}).unwrap();
        assert!(
            r.server.rsts_sent > 0,
            "the set-up no longer provokes late RSTs (the test's premise): {r:?}"
        );
        assert!(r.ok && r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.accepted_per_shard, vec![1024]);
    }

    #[test]
    fn huge_connection_counts_are_refused_before_anything_is_built() {
        for connections in [MAX_CONNECTIONS + 1, usize::MAX] {
            let c = cfg(4, connections, u64::MAX);
            let e = run_sharded_demo(&c, &mut |_| {}).unwrap_err().to_string();
            assert!(
                e.contains("--connections") && e.contains(&MAX_CONNECTIONS.to_string()),
                "{e}"
            );
        }
    }
}
