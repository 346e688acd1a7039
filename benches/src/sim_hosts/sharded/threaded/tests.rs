//! The threaded mode end to end: a bulk transfer over two queue pairs per host with every
//! shard on its own OS thread, byte-exact, each flow on its queue; and the ways a run ends
//! early (a mismatch, a panic, a stall), each with an error naming the shard, never a hang.

use std::collections::HashSet;

use super::*;
use crate::sim_hosts::{CLIENT_IP, SERVER_IP};
use tcp_engine::table::FourTuple;

const QUEUES: u16 = 2;
const CONNECTIONS: usize = 16;
const BYTES: u64 = 48 * 1024;
const BUF: usize = 16 * 1024;
const PORT: u16 = 5001;

fn config() -> SimHostsConfig {
    crate::sim_hosts::sharded::tests::config_for(QUEUES, CONNECTIONS)
}

fn spec(stall: Duration) -> ShardedBulkSpec {
    ShardedBulkSpec {
        connections: CONNECTIONS,
        bytes_each_way: BYTES,
        buffer: BUF,
        port: PORT,
        max_rounds: 0,
        stall_timeout: Some(stall),
    }
}

#[test]
fn every_shard_runs_on_a_thread_of_its_own_and_every_byte_arrives_on_its_queue() {
    let mut last = (0, 0);
    let out = run_threaded_sharded_bulk(
        &config(),
        QUEUES,
        &spec(Duration::from_secs(30)),
        &mut |done, total| last = (done, total),
    )
    .unwrap();
    let total = 2 * BYTES * CONNECTIONS as u64;
    assert_eq!((out.bulk.bytes_verified, last), (total, (total, total)));
    assert!(out.faults.is_empty(), "{:?}", out.faults);

    // 2 x 2 shard threads, all different, none of them the caller.
    let threads: Vec<ThreadId> = out.shard_threads.iter().flatten().copied().collect();
    assert_eq!(threads.len(), 2 * usize::from(QUEUES));
    let distinct: HashSet<ThreadId> = threads.iter().copied().collect();
    assert_eq!(distinct.len(), threads.len(), "{threads:?}");
    assert!(!distinct.contains(&std::thread::current().id()));
    assert!(
        out.polls.iter().flatten().all(|&p| p > 0),
        "{:?}",
        out.polls
    );

    // Each flow stayed on its shard: opened from a port that steers to it, accepted by the
    // server shard of the same queue, every frame on its queue taken by its shard.
    let share = CONNECTIONS / usize::from(QUEUES);
    assert_eq!(out.bulk.connections_per_shard, vec![share; 2]);
    assert_eq!(out.bulk.accepted_per_shard, vec![share; 2]);
    let steering = RssSteering::spread(QUEUES);
    assert_eq!(out.bulk.client_ports.len(), CONNECTIONS);
    for &(shard, port) in &out.bulk.client_ports {
        let tuple = FourTuple::new(CLIENT_IP.into(), port, SERVER_IP.into(), PORT);
        assert_eq!(steering.queue_of(&tuple), shard, "{tuple}");
    }
    for (side, host) in Side::BOTH.iter().zip(&out.hosts) {
        assert_eq!(host.shards.len(), usize::from(QUEUES));
        let mut connections = 0;
        for s in &host.shards {
            let what = format!("{} shard {}", side.as_str(), s.queue);
            assert!(s.queue_rx_frames > 0, "{what}: no frame on its queue");
            assert_eq!(s.endpoint_rx_frames, s.queue_rx_frames, "{what}");
            assert_eq!(
                host.device.rx[usize::from(s.queue)].frames,
                s.queue_rx_frames,
                "{what}: device and driver"
            );
            assert_eq!(s.fault, None, "{what}");
            connections += s.counters.tcp_segments_sent.min(1);
        }
        assert_eq!(
            connections,
            u64::from(QUEUES),
            "{}: every shard sent",
            side.as_str()
        );
    }
    // The summed counters are the shards' and the devices': every frame one NIC sent arrived
    // at the other (a clean cable), and was taken by a shard.
    let c = &out.counters;
    assert_eq!(c.client.nic_tx_frames, c.server.nic_rx_frames, "{c:?}");
    assert_eq!(c.server.nic_tx_frames, c.client.nic_rx_frames, "{c:?}");
    let rx: u64 = out.hosts[0].shards.iter().map(|s| s.queue_rx_frames).sum();
    assert_eq!(rx, c.client.nic_rx_frames);
    assert!(
        out.bulk.simulated_us > 0 && out.bulk.rounds == 0,
        "{:?}",
        out.bulk
    );
}

/// The error of a run with `fault` injected into one shard and a stall timeout of `stall`;
/// checks that it has each of `wants`.
fn fails_with(fault: (Side, u16, Fault), stall: Duration, wants: &[&str]) {
    let e = run_with_faults(&config(), QUEUES, &spec(stall), &mut |_, _| {}, &[fault])
        .unwrap_err()
        .to_string();
    for want in wants {
        assert!(e.contains(want), "`{want}` missing from: {e}");
    }
}

#[test]
fn a_shard_that_finds_a_byte_mismatch_ends_the_run_naming_itself() {
    fails_with(
        (Side::Server, 1, Fault::Mismatch),
        Duration::from_secs(30),
        &["server shard 1 (queue pair 1)", "where", "was sent"],
    );
}

#[test]
fn a_panicking_shard_thread_ends_the_run_instead_of_hanging_the_others() {
    fails_with(
        (Side::Client, 0, Fault::Panic),
        Duration::from_secs(30),
        &[
            "client shard 0 (queue pair 0)",
            "panicked",
            "injected fault",
        ],
    );
}

#[test]
fn a_shard_that_stops_polling_ends_the_run_with_a_stall_naming_its_queue() {
    // Client shard 1 never polls: it and server shard 1 (whose connections never come) make
    // no progress; shards 0 finish and wait. The first to notice names queue pair 1.
    fails_with(
        (Side::Client, 1, Fault::Freeze),
        // Long enough that a healthy shard on a loaded machine never goes so long without a
        // byte (it would be named instead).
        Duration::from_secs(1),
        &["shard 1 (queue pair 1", "no progress for 1s", "waiting for"],
    );
}

#[test]
fn a_run_without_a_stall_timeout_is_refused() {
    let spec = ShardedBulkSpec {
        stall_timeout: None,
        ..spec(Duration::ZERO)
    };
    let e = run_threaded_sharded_bulk(&config(), QUEUES, &spec, &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs a stall timeout"), "{e}");
}
