//! Sharded hosts end to end: many connections spread over the shards of two multi-queue
//! hosts, bulk both ways with every byte checked, every frame on its own shard's queue; and
//! the errors of a shard whose steering takes no port, and of a bad queue count.

use super::*;
use tcp_engine::endpoint::Buffers;

const QUEUES: u16 = 4;
const CONNECTIONS: usize = 64;
/// Bytes each connection carries each way.
const BYTES: u64 = 12 * 1024;
const PORT: u16 = 5001;
const BUF: usize = 8 * 1024;
const MAX_ROUNDS: u64 = 200_000;

fn config() -> SimHostsConfig {
    SimHostsConfig {
        // Each shard: its share of the connections, as many listening slots spare, slack.
        connections: 2 * CONNECTIONS / usize::from(QUEUES) + 8,
        max_window: 64 * 1024,
        ..SimHostsConfig::new()
    }
}

fn bufs() -> HostBuffers {
    Buffers::with_capacity(BUF, BUF)
}

#[test]
fn connections_over_four_shards_stay_on_their_queues_with_every_byte_checked() {
    let mut hosts = ShardedHosts::new(&config(), QUEUES).unwrap();
    assert_eq!(hosts.queues(), QUEUES);
    let spec = ShardedBulkSpec {
        connections: CONNECTIONS,
        bytes_each_way: BYTES,
        buffer: BUF,
        port: PORT,
        max_rounds: MAX_ROUNDS,
    };
    let mut last = (0, 0);
    let out = run_sharded_bulk(&mut hosts, &spec, &mut |done, total| last = (done, total)).unwrap();
    let total = 2 * BYTES * CONNECTIONS as u64;
    assert_eq!((out.bytes_verified, last), (total, (total, total)));
    assert!(out.simulated_us > 0 && out.rounds > 0, "{out:?}");
    // Round-robin over the client's shards; each flow lands on the server shard of the same
    // queue (symmetric key, same table).
    let share = CONNECTIONS / usize::from(QUEUES);
    assert_eq!(out.connections_per_shard, vec![share; 4]);
    assert_eq!(out.accepted_per_shard, vec![share; 4]);
    hosts.check_health().unwrap();

    for side in Side::BOTH {
        let host = hosts.host(side);
        let per_queue = host.queue_rx_frames();
        let device = host.nic().device_stats().unwrap();
        let mut connections = 0;
        for (q, shard) in host.shards().iter().enumerate() {
            let c = shard.endpoint.counters();
            let what = format!("{} shard {q}", side.as_str());
            assert!(
                per_queue[q] > 0,
                "{what}: no frame on its queue: {per_queue:?}"
            );
            assert_eq!(
                c.rx_frames, per_queue[q],
                "{what}: every frame of the queue"
            );
            assert_eq!(
                device.rx[q].frames, per_queue[q],
                "{what}: device and driver"
            );
            assert_eq!(device.rx[q].drops, 0, "{what}: dropped frames");
            assert_eq!(c.rst_for_unknown, 0, "{what}: segments for no connection");
            assert_eq!(c.rst_from_connections, 0, "{what}: RSTs");
            assert_eq!(c.resets + c.timeouts, 0, "{what}: connections failed");
            assert_eq!(c.rx_not_for_us + c.arp_requests_sent, 0, "{what}");
            connections += c.connects + c.accepts;
        }
        assert_eq!(connections, CONNECTIONS as u64, "{}", side.as_str());
        let landed = host.sim.with(|n| n.counters().rx_frames);
        assert_eq!(
            per_queue.iter().sum::<u64>(),
            landed,
            "{}: {per_queue:?}",
            side.as_str()
        );
    }
    // Each client connection is from a local port that steers to its shard.
    assert_eq!(out.client_connections.len(), CONNECTIONS);
    for &(shard, key) in &out.client_connections {
        let tuple = hosts.endpoint(Side::Client, shard).tuple(key).unwrap();
        assert_eq!(hosts.steering().queue_of(&tuple), shard, "{tuple}");
    }
}

#[test]
fn connections_whose_data_fits_their_buffers_before_the_handshake_complete() {
    // Two queues; each connection's bytes are written before its SYN-ACK arrives.
    let mut hosts = ShardedHosts::new(&config(), 2).unwrap();
    let spec = ShardedBulkSpec {
        connections: 8,
        bytes_each_way: 2048,
        buffer: BUF,
        port: PORT,
        max_rounds: MAX_ROUNDS,
    };
    let out = run_sharded_bulk(&mut hosts, &spec, &mut |_, _| {}).unwrap();
    assert_eq!(out.bytes_verified, 2 * 2048 * 8);
    assert_eq!(out.accepted_per_shard, vec![4, 4]);
    for side in Side::BOTH {
        assert!(hosts.host(side).queue_rx_frames().iter().all(|&n| n > 0));
    }
}

#[test]
fn a_shard_whose_steering_takes_no_port_fails_connect_naming_the_shard() {
    let mut hosts = ShardedHosts::new(&config(), QUEUES).unwrap();
    // Queue 9 does not exist: no tuple steers to it.
    let nowhere = hosts.steering().filter_for(9);
    hosts
        .endpoint(Side::Client, 1)
        .set_port_steering(Some(nowhere));
    let err = hosts.connect(Side::Client, 1, PORT, bufs()).unwrap_err();
    let msg = err.to_string();
    for want in [
        "client",
        "shard 1",
        "queue pair 1",
        "steers to this endpoint",
        "RSS indirection table",
    ] {
        assert!(msg.contains(want), "{want:?} missing from: {msg}");
    }
    let c = hosts.endpoint(Side::Client, 1).counters();
    assert_eq!((c.ports_exhausted, c.ports_unsteerable), (1, 1));
    // The other shards still connect, from ports that steer to them.
    let key = hosts.connect(Side::Client, 2, PORT, bufs()).unwrap();
    let tuple = hosts.endpoint(Side::Client, 2).tuple(key).unwrap();
    assert_eq!(hosts.steering().queue_of(&tuple), 2);
    // No shard 4 on a four-queue host.
    let err = hosts.connect(Side::Client, 4, PORT, bufs()).unwrap_err();
    assert!(err.to_string().contains("no shard 4"), "{err}");
}

#[test]
fn steering_spreads_ports_over_the_queues_as_the_driver_programs_them() {
    let steering = RssSteering::spread(QUEUES);
    let table = rss_indirection_table(&[0, 1, 2, 3]);
    assert_eq!(steering, RssSteering::new(SYMMETRIC_RSS_KEY, table, QUEUES));
    let mut per_queue = [0u32; QUEUES as usize];
    for port in 49152..=50175u16 {
        let t = FourTuple::new(
            crate::sim_hosts::CLIENT_IP.into(),
            port,
            crate::sim_hosts::SERVER_IP.into(),
            PORT,
        );
        let q = steering.queue_of(&t);
        // Symmetric key: the reverse direction steers alike.
        let back = FourTuple::new(t.remote_addr, t.remote_port, t.local_addr, t.local_port);
        assert_eq!(steering.queue_of(&back), q, "{t}");
        per_queue[usize::from(q)] += 1;
    }
    // 1024 ports over 4 queues: each gets a real share.
    assert!(per_queue.iter().all(|&n| n > 128), "{per_queue:?}");
}

#[test]
fn a_queue_count_the_nic_lacks_is_refused_with_the_range() {
    for queues in [0, 5] {
        let err = ShardedHosts::new(&config(), queues).unwrap_err();
        assert!(err.to_string().contains("from 1 to 4"), "{err}");
    }
}
