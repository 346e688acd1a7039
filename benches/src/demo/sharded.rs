//! `ferrotoe demo --queues N --connections M`: the sharded demo. Two multi-queue hosts
//! ([`crate::sim_hosts::sharded`]: N queue pairs, RSS on with more than one, one TCP endpoint
//! per queue pair), a bulk transfer in both directions spread over M connections with every
//! byte verified, and a report as complete as the plain demo's: the set-up (the plain demo's
//! [`DemoSetup`] and header), goodput each way and both ways, CPU per GiB measured as the
//! plain demo measures it ([`CpuCost`]), retransmissions, the counters of every shard, both
//! NICs and the cable, and what each queue received and dropped.
//!
//! Two modes ([`ShardedDemoConfig::threads`]): stepped (one thread runs every shard and steps
//! the NICs, deterministically) or threaded (each shard on an OS thread of its own, 2 x N
//! shard threads, and the NICs on a NIC thread: [`crate::sim_hosts::sharded::threaded`]). Both
//! end in the same per-shard snapshots and counters, from which one report is made.
//!
//! Owns the sharded demo's checks and its report (text and JSON). Must not contain the
//! workload loop ([`crate::sim_hosts::sharded::bulk`]) or flag parsing (the CLI).

use std::fmt::{self, Write as _};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{CpuCost, DemoError, DemoProgress, DemoSetup, count, failed_lines};
use crate::report::table::human_bytes;
use crate::sim_hosts::sharded::{ShardSnapshot, ThreadedBulkOutcome, run_threaded_sharded_bulk};
use crate::sim_hosts::{
    Retransmissions, ShardedBulkOutcome, ShardedBulkSpec, ShardedHosts, Side, SimHostsConfig,
    SimHostsCounters, SimHostsError, run_sharded_bulk,
};
use crate::workload::OffloadMode;
use host_driver::nic::DeviceStats;

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
    /// The transfer fails when no byte is verified for this long on the wall clock (`None`:
    /// no wall-clock guard; the threaded mode refuses it).
    pub stall_timeout: Option<Duration>,
    /// Each shard on an OS thread of its own and the NICs on a NIC thread (see the module
    /// docs); `false`: stepped on one thread.
    pub threads: bool,
}

/// The threaded mode's own figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardThreadsReport {
    /// Shard threads (both hosts: 2 x queues).
    pub shard_threads: usize,
    /// Polls each shard thread made: the client's shards, the server's.
    pub polls: [Vec<u64>; 2],
    /// CPU seconds of each shard thread: the client's shards, the server's.
    pub shard_cpu_s: [Vec<f64>; 2],
    /// CPU seconds of the NIC thread (its idle spinning included).
    pub nic_thread_cpu_s: f64,
}

/// What one host's queues received.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardedHostReport {
    /// Frames each queue pair received (index: queue).
    pub queue_rx_frames: Vec<u64>,
    /// Frames each shard's endpoint took (index: shard; equal to its queue's frames).
    pub endpoint_rx_frames: Vec<u64>,
    /// Frames the NIC dropped on each receive queue (no buffer posted: a ring overflow).
    #[serde(default)]
    pub queue_rx_drops: Vec<u64>,
    /// RSTs the shards sent (segments for no connection, bad segments, late ACKs of closed
    /// connections reaching a listener). Reported, not an error: a frame on a foreign shard
    /// shows as a connection accepted there or a transfer that fails.
    pub rsts_sent: u64,
    /// ICMP errors a shard handed on to the shard owning the quoted connection.
    #[serde(default)]
    pub icmp_forwarded: u64,
    /// ICMP errors dropped because the owning shard's inbox was full.
    #[serde(default)]
    pub icmp_inbox_full: u64,
}

/// The sharded demo's report (`--json` prints it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardedDemoReport {
    /// The set-up (backend, offload, MTU, congestion control, cable and seed, capture).
    pub setup: DemoSetup,
    /// Queue pairs (shards) per host.
    pub queues: u16,
    /// Receive-side scaling on (more than one queue pair).
    pub rss: bool,
    /// Connections.
    pub connections: usize,
    /// Bytes per direction asked for (`--bytes`).
    pub bytes_requested_each_way: u64,
    /// Bytes each connection carried in each direction (`--bytes` / connections, rounded
    /// down).
    pub bytes_per_connection_each_way: u64,
    /// Bytes per direction left out by the rounding down (0 when `--bytes` shares evenly).
    pub bytes_rounded_off_each_way: u64,
    /// Bytes received and verified, both directions added up.
    pub bytes_verified: u64,
    /// Connections per client shard.
    pub connections_per_shard: Vec<usize>,
    /// Connections each server shard accepted: equal to `connections_per_shard` when RSS
    /// steers each flow to the same queue index on both hosts.
    pub accepted_per_shard: Vec<usize>,
    /// Simulated time of the transfer, seconds.
    pub simulated_s: f64,
    /// Wall time of the transfer, seconds.
    pub wall_s: f64,
    /// Goodput over wall time in one direction (both carry the same bytes), Gbit/s.
    pub goodput_gbps_each_way: f64,
    /// Goodput over simulated time in one direction, Gbit/s.
    pub simulated_goodput_gbps_each_way: f64,
    /// Goodput over simulated time, both directions added up, Gbit/s.
    pub simulated_goodput_gbps_both_ways: f64,
    /// CPU time (per GiB of bytes verified, both directions).
    pub cpu: CpuCost,
    /// Retransmissions of every connection, both ends added up.
    pub retransmissions: Retransmissions,
    /// Rounds of the simulation loop.
    pub rounds: u64,
    /// What the hosts (all their shards), NICs and cable counted in the transfer.
    pub counters: SimHostsCounters,
    /// Clock cycles the NICs simulated per wall second (RTL backend only).
    pub simulated_cycles_per_s: Option<f64>,
    /// The client's queues.
    pub client: ShardedHostReport,
    /// The server's queues.
    pub server: ShardedHostReport,
    /// The threaded mode's figures (`None`: the stepped mode, one thread). In the threaded
    /// mode the clock is the wall clock: "simulated" times and goodputs are wall-clock ones.
    #[serde(default)]
    pub threads: Option<ShardThreadsReport>,
    /// Problems found (device errors, frames refused before a NIC, a server shard accepting
    /// other than its client shard opened, a queue with connections that received nothing).
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
    let spec = ShardedBulkSpec {
        connections: cfg.connections,
        bytes_each_way: each,
        buffer: cfg.buffer,
        port: PORT,
        max_rounds: MAX_ROUNDS,
        stall_timeout: cfg.stall_timeout,
    };
    let ran = if cfg.threads {
        run_threaded(&hosts_cfg, cfg.queues, &spec, progress)?
    } else {
        run_stepped(&hosts_cfg, cfg.queues, &spec, progress)?
    };
    let out = &ran.out;
    let counters = ran.counters;
    let mut errors = ran.faults;
    super::counter_errors("bulk", &counters, &mut errors);
    let [
        (client_shards, client_device),
        (server_shards, server_device),
    ] = &ran.hosts;
    let per_shard = &out.connections_per_shard;
    let client = host_report(
        Side::Client,
        client_shards,
        client_device,
        per_shard,
        &mut errors,
    );
    let server = host_report(
        Side::Server,
        server_shards,
        server_device,
        per_shard,
        &mut errors,
    );
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
    let setup = DemoSetup::of(&hosts_cfg, ran.offload, ran.line_rate_bps, cfg.threads);
    let wall_s = ran.wall_s;
    let simulated_s = out.simulated_us as f64 / 1e6;
    let each_way = out.bytes_verified / 2;
    let gbps = |bytes: u64, s: f64| bytes as f64 * 8.0 / s.max(1e-9) / 1e9;
    Ok(ShardedDemoReport {
        setup,
        queues: cfg.queues,
        rss: cfg.queues > 1,
        connections: cfg.connections,
        bytes_requested_each_way: cfg.bytes,
        bytes_per_connection_each_way: each,
        bytes_rounded_off_each_way: cfg.bytes - each * cfg.connections as u64,
        bytes_verified: out.bytes_verified,
        connections_per_shard: out.connections_per_shard.clone(),
        accepted_per_shard: out.accepted_per_shard.clone(),
        simulated_s,
        wall_s,
        goodput_gbps_each_way: gbps(each_way, wall_s),
        simulated_goodput_gbps_each_way: gbps(each_way, simulated_s),
        simulated_goodput_gbps_both_ways: gbps(out.bytes_verified, simulated_s),
        cpu: CpuCost::new(ran.cpu, ran.nic_cpu, out.bytes_verified),
        retransmissions: out.retransmissions,
        rounds: out.rounds,
        simulated_cycles_per_s: counters.simulated_cycles.map(|c| c as f64 / wall_s),
        counters,
        client,
        server,
        threads: ran.threads,
        ok: errors.is_empty(),
        errors,
    })
}

/// What a run of either mode hands to the report.
struct Ran {
    out: ShardedBulkOutcome,
    /// What the hosts, NICs and cable counted in the transfer.
    counters: SimHostsCounters,
    /// Each host's shards' snapshots and device statistics (client, server).
    hosts: [(Vec<ShardSnapshot>, DeviceStats); 2],
    /// Faults the health checks found.
    faults: Vec<String>,
    offload: OffloadMode,
    line_rate_bps: u64,
    /// Wall time of the transfer, seconds.
    wall_s: f64,
    /// The process's CPU time in the transfer.
    cpu: Duration,
    /// Of that, the NIC simulation's.
    nic_cpu: Duration,
    threads: Option<ShardThreadsReport>,
}

/// The stepped mode: [`ShardedHosts`] and [`run_sharded_bulk`] on this thread.
fn run_stepped(
    hosts_cfg: &SimHostsConfig,
    queues: u16,
    spec: &ShardedBulkSpec,
    progress: &mut dyn FnMut(DemoProgress),
) -> Result<Ran, DemoError> {
    let mut hosts = ShardedHosts::new(hosts_cfg, queues)?;
    progress(DemoProgress::Ready);
    let (before, nic0) = (hosts.counters()?, hosts.nic_cpu());
    let (out, wall_s, cpu) = timed(|| {
        run_sharded_bulk(&mut hosts, spec, &mut |done, total| {
            progress(DemoProgress::Bulk { done, total })
        })
    });
    let out = out?;
    let nic_cpu = hosts.nic_cpu().saturating_sub(nic0);
    let counters = hosts.counters()?.since(&before);
    let faults = hosts.check_health().err().map(|e| e.to_string());
    let [client, server] = [Side::Client, Side::Server].map(|side| {
        let host = hosts.host(side);
        let device = host
            .nic()
            .device_stats()
            .map_err(|error| SimHostsError::Device {
                host: side.as_str(),
                error,
            });
        device.map(|d| (host.snapshots(), d))
    });
    let ran = Ran {
        hosts: [client?, server?],
        out,
        counters,
        faults: faults.into_iter().collect(),
        offload: hosts.offload(),
        line_rate_bps: hosts.line_rate_bps(),
        wall_s,
        cpu,
        nic_cpu,
        threads: None,
    };
    // Flush the capture: the hosts (and the cable's capture writer) go now.
    drop(hosts);
    Ok(ran)
}

/// The threaded mode: [`run_threaded_sharded_bulk`] (the hosts are built, run and closed
/// there, each shard on its thread).
fn run_threaded(
    hosts_cfg: &SimHostsConfig,
    queues: u16,
    spec: &ShardedBulkSpec,
    progress: &mut dyn FnMut(DemoProgress),
) -> Result<Ran, DemoError> {
    progress(DemoProgress::Ready);
    let t: ThreadedBulkOutcome =
        run_threaded_sharded_bulk(hosts_cfg, queues, spec, &mut |done, total| {
            progress(DemoProgress::Bulk { done, total })
        })?;
    // The transfer's own figures: the hosts are built inside the run, which the stepped mode
    // does before its clock starts.
    let (wall_s, cpu) = (t.wall.as_secs_f64().max(1e-9), t.process_cpu);
    let secs = |v: &Vec<Duration>| v.iter().map(Duration::as_secs_f64).collect();
    let [client, server] = t.hosts;
    Ok(Ran {
        threads: Some(ShardThreadsReport {
            shard_threads: t.shard_threads.iter().map(Vec::len).sum(),
            shard_cpu_s: t.shard_cpu.each_ref().map(secs),
            polls: t.polls,
            nic_thread_cpu_s: t.nic_cpu.as_secs_f64(),
        }),
        out: t.bulk,
        counters: t.counters,
        hosts: [
            (client.shards, client.device),
            (server.shards, server.device),
        ],
        faults: t.faults,
        offload: t.offload,
        line_rate_bps: t.line_rate_bps,
        wall_s,
        cpu,
        nic_cpu: t.nic_cpu,
    })
}

/// Runs `transfer`; returns its result, its wall time in seconds and the process's CPU time
/// it took.
fn timed<T>(transfer: impl FnOnce() -> T) -> (T, f64, Duration) {
    let (cpu0, wall) = (super::cpu_now(), Instant::now());
    let result = transfer();
    let wall_s = wall.elapsed().as_secs_f64().max(1e-9);
    (result, wall_s, super::cpu_now().saturating_sub(cpu0))
}

/// One host's report from its shards' snapshots and its device's statistics; a queue that
/// received nothing though `connections_per_shard` steer to it is an error.
fn host_report(
    side: Side,
    shards: &[ShardSnapshot],
    device: &DeviceStats,
    connections_per_shard: &[usize],
    errors: &mut Vec<String>,
) -> ShardedHostReport {
    let forward = shards.iter().fold(
        Default::default(),
        |sum: crate::sim_hosts::sharded::ForwardCounters, s| sum.plus(&s.forward),
    );
    let report = ShardedHostReport {
        queue_rx_frames: shards.iter().map(|s| s.queue_rx_frames).collect(),
        endpoint_rx_frames: shards.iter().map(|s| s.endpoint_rx_frames).collect(),
        queue_rx_drops: shards
            .iter()
            .map(|s| {
                device
                    .rx
                    .get(usize::from(s.queue))
                    .map_or(0, |r| r.drops.into())
            })
            .collect(),
        rsts_sent: shards.iter().map(|s| s.rsts_sent).sum(),
        icmp_forwarded: forward.icmp_forwarded,
        icmp_inbox_full: forward.icmp_inbox_full,
    };
    // A queue whose shard has no connection (fewer connections than queues) rightly
    // carries nothing; the client's shard q and the server's shard q share its flows.
    for ((q, n), &flows) in report
        .queue_rx_frames
        .iter()
        .enumerate()
        .zip(connections_per_shard)
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
}

/// `n` things, singular or plural.
fn things(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", count(n as u64), if n == 1 { one } else { many })
}

impl ShardedDemoReport {
    /// The report as text.
    pub fn render(&self) -> String {
        super::rendered(|out| self.render_into(out))
    }

    fn render_into(&self, out: &mut String) -> fmt::Result {
        let s = &self.setup;
        let mode = match &self.threads {
            Some(t) => format!(
                "threads: 2x{} shard threads + NIC thread",
                t.shard_threads / 2
            ),
            None => "stepped: one thread".into(),
        };
        writeln!(
            out,
            "ferrotoe demo, sharded ({mode}): two hosts of {}{}, one TCP endpoint (tcp-engine \
             + host-driver) per queue pair, simulated NICs (backend {}) joined by a simulated \
             cable",
            things(usize::from(self.queues), "queue pair", "queue pairs"),
            if self.rss { " with RSS" } else { "" },
            s.backend
        )?;
        super::setup_lines(out, s)?;
        writeln!(out)?;
        let asked = 2 * self.bytes_per_connection_each_way * self.connections as u64;
        writeln!(
            out,
            "bulk transfer: {}, each carrying {} client -> server and as much server -> \
             client; {} verified",
            things(self.connections, "connection", "connections"),
            human_bytes(self.bytes_per_connection_each_way),
            if self.bytes_verified == asked {
                format!("every byte ({} both ways)", human_bytes(asked))
            } else {
                format!("{} of {} bytes", count(self.bytes_verified), count(asked))
            }
        )?;
        if self.bytes_rounded_off_each_way > 0 {
            writeln!(
                out,
                "  note: --bytes {} does not share evenly over {}: each carries {} bytes each \
                 way, {} bytes fewer per direction than asked",
                count(self.bytes_requested_each_way),
                things(self.connections, "connection", "connections"),
                count(self.bytes_per_connection_each_way),
                count(self.bytes_rounded_off_each_way)
            )?;
        }
        writeln!(
            out,
            "  shards        connections opened per client shard {:?}, accepted per server \
             shard {:?}",
            self.connections_per_shard, self.accepted_per_shard
        )?;
        match &self.threads {
            None => writeln!(
                out,
                "  goodput       {:.2} Gbit/s each way in {:.2} s of wall time; {:.1} Gbit/s \
                 each way ({:.1} both directions added up) in {:.3} ms of simulated time ({} \
                 each way)",
                self.goodput_gbps_each_way,
                self.wall_s,
                self.simulated_goodput_gbps_each_way,
                self.simulated_goodput_gbps_both_ways,
                self.simulated_s * 1e3,
                super::wire_words(s)
            )?,
            Some(_) => writeln!(
                out,
                "  goodput       {:.2} Gbit/s each way ({:.2} both directions added up) in \
                 {:.2} s of wall time; the shards' clock is the wall clock (no simulated wire)",
                self.goodput_gbps_each_way,
                2.0 * self.goodput_gbps_each_way,
                self.wall_s,
            )?,
        }
        super::cpu_line(out, &self.cpu, s.nic_thread)?;
        if let Some(t) = &self.threads {
            let cpu = |v: &[f64]| {
                v.iter()
                    .map(|c| format!("{c:.2}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            writeln!(
                out,
                "  threads       CPU s per shard thread: client [{}], server [{}]; NIC thread \
                 {:.2}; polls per shard: client {:?}, server {:?}",
                cpu(&t.shard_cpu_s[0]),
                cpu(&t.shard_cpu_s[1]),
                t.nic_thread_cpu_s,
                t.polls[0],
                t.polls[1]
            )?;
        }
        let (cl, sv) = (&self.counters.client, &self.counters.server);
        writeln!(
            out,
            "  segments      client sent {} TCP segments ({} TSO super-frames), server {} ({})",
            count(cl.tcp_segments_sent),
            count(cl.tso_super_frames),
            count(sv.tcp_segments_sent),
            count(sv.tso_super_frames)
        )?;
        writeln!(
            out,
            "  frames        {} client -> server ({}), {} server -> client ({})",
            count(cl.nic_tx_frames),
            human_bytes(cl.nic_tx_bytes),
            count(sv.nic_tx_frames),
            human_bytes(sv.nic_tx_bytes)
        )?;
        super::offload_line(out, &self.counters.total())?;
        super::loss_lines(out, &self.counters, &self.retransmissions)?;
        let drops = self.counters.total().nic_rx_drops;
        if self.threads.is_some() && self.retransmissions.segments + drops > 0 {
            writeln!(
                out,
                "  note: with shard threads the clock is the wall clock: a shard thread waiting \
                 for a CPU neither reads its queue (its ring can overflow: NIC drops) nor \
                 answers on time (its retransmission timer can expire: timeouts); both are \
                 counted above, not lost on the cable"
            )?;
        }
        super::rtl_line(out, self.simulated_cycles_per_s)?;
        for (name, h) in [("client", &self.client), ("server", &self.server)] {
            let queues: Vec<String> = h
                .queue_rx_frames
                .iter()
                .enumerate()
                .map(|(q, n)| format!("q{q} {}", count(*n)))
                .collect();
            writeln!(
                out,
                "  {name} RX    frames per queue: {}; RSTs sent {}",
                queues.join(", "),
                count(h.rsts_sent)
            )?;
            if h.queue_rx_drops.iter().any(|&n| n > 0) {
                writeln!(
                    out,
                    "  {name} drops NIC drops per queue (no receive buffer): {:?}",
                    h.queue_rx_drops
                )?;
            }
            if h.icmp_forwarded + h.icmp_inbox_full > 0 {
                writeln!(
                    out,
                    "  {name} ICMP  {} errors handed on to the owning shard, {} dropped (inbox \
                     full)",
                    count(h.icmp_forwarded),
                    count(h.icmp_inbox_full)
                )?;
            }
        }
        writeln!(out)?;
        if self.ok {
            writeln!(
                out,
                "result: OK ({} bytes verified, every connection accepted by the server shard \
                 of its client shard's queue, no errors)",
                count(self.bytes_verified)
            )
        } else {
            failed_lines(out, &self.errors)
        }
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
            stall_timeout: None,
            threads: false,
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
        // 1024 connections on one queue: no steering at all, yet a cable that delivers some
        // frames twice brings a client's last ACK (from TIME-WAIT) once more after the
        // server's end reached CLOSED and went back to listening, and the listener answers
        // that ACK with a RST (RFC 9293 3.10.7.2). Normal TCP, not a frame on a foreign shard.
        // (Before the stepped round was paced, NIC drops and their retransmissions provoked
        // the same on a perfect cable.)
        let mut c = ShardedDemoConfig {
            buffer: 4 << 10,
            ..cfg(1, 1024, 4 << 20)
        };
        c.hosts.impairment = rtl_sim::wire::impair::Impairment {
            duplicate: 0.05,
            ..rtl_sim::wire::impair::Impairment::NONE
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
    fn the_threaded_mode_reports_its_threads_and_the_same_checks() {
        let c = ShardedDemoConfig {
            threads: true,
            stall_timeout: Some(Duration::from_secs(30)),
            ..cfg(2, 8, 512 << 10)
        };
        let r = run_sharded_demo(&c, &mut |_| {}).unwrap();
        assert!(r.ok, "{:?}", r.errors);
        assert_eq!(r.bytes_verified, 2 * (512 << 10));
        let t = r.threads.as_ref().expect("the threaded mode's figures");
        assert_eq!(t.shard_threads, 4);
        assert!(t.polls.iter().flatten().all(|&p| p > 0), "{t:?}");
        assert!(r.setup.nic_thread, "the NICs ran on a thread of their own");
        assert_eq!(r.accepted_per_shard, vec![4, 4]);
        for h in [&r.client, &r.server] {
            assert!(h.queue_rx_frames.iter().all(|&n| n > 0), "{h:?}");
            assert_eq!(h.queue_rx_frames, h.endpoint_rx_frames);
        }
        let text = r.render();
        for want in [
            "sharded (threads: 2x2 shard threads + NIC thread)",
            "the shards' clock is the wall clock",
            "CPU s per shard thread: client [",
            "result: OK",
        ] {
            assert!(text.contains(want), "`{want}` missing from:\n{text}");
        }
        let back: ShardedDemoReport = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back, r);
        // Without a wall-clock bound the threaded mode cannot find a stall: refused.
        let c = ShardedDemoConfig {
            stall_timeout: None,
            ..c
        };
        let e = run_sharded_demo(&c, &mut |_| {}).unwrap_err().to_string();
        assert!(e.contains("needs a stall timeout"), "{e}");
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

    #[test]
    fn the_stall_timeout_is_a_wall_clock_guard_on_verified_bytes() {
        // No time at all without a verified byte: the handshakes alone exceed it.
        let c = ShardedDemoConfig {
            stall_timeout: Some(Duration::ZERO),
            ..cfg(2, 2, 64 << 10)
        };
        let e = run_sharded_demo(&c, &mut |_| {}).unwrap_err().to_string();
        assert!(
            e.contains("no progress") && e.contains("--stall-timeout"),
            "{e}"
        );
        // A generous one does not fire.
        let c = ShardedDemoConfig {
            stall_timeout: Some(Duration::from_secs(60)),
            ..cfg(2, 2, 64 << 10)
        };
        let r = run_sharded_demo(&c, &mut |_| {}).unwrap();
        assert!(r.ok, "{:?}", r.errors);
    }

    #[test]
    fn the_report_counts_every_shard_and_states_goodput_per_direction() {
        let r = run_sharded_demo(&cfg(4, 8, 256 << 10), &mut |_| {}).unwrap();
        assert!(r.ok, "{:?}", r.errors);
        // Every frame a queue received was counted by the hosts' summed counters.
        for (h, c) in [
            (&r.client, &r.counters.client),
            (&r.server, &r.counters.server),
        ] {
            assert_eq!(
                h.queue_rx_frames.iter().sum::<u64>(),
                c.nic_rx_frames,
                "{c:?}"
            );
            assert_eq!(h.endpoint_rx_frames.iter().sum::<u64>(), c.nic_rx_frames);
        }
        // Both directions carried their share: each sent at least its payload.
        for c in [&r.counters.client, &r.counters.server] {
            assert!(c.tcp_payload_bytes_sent >= 256 << 10, "{c:?}");
        }
        let each_way = (256u64 << 10) as f64 * 8.0 / r.simulated_s / 1e9;
        assert!((r.simulated_goodput_gbps_each_way - each_way).abs() < 1e-6 * each_way);
        assert_eq!(r.bytes_rounded_off_each_way, 0);
        assert!(!r.render().contains("note: --bytes"), "{}", r.render());
        let back: ShardedDemoReport = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back, r);
    }
}
