//! Sharded hosts end to end: many connections spread over the shards of two multi-queue
//! hosts, bulk both ways with every byte checked, every frame on its own shard's queue; and
//! the errors of a shard whose steering takes no port, and of a bad queue count.

use super::*;
use crate::sim_hosts::Retransmissions;
use tcp_engine::endpoint::Buffers;
use tcp_engine::tcb::TcbConfig;

const QUEUES: u16 = 4;
const CONNECTIONS: usize = 64;
/// Bytes each connection carries each way.
const BYTES: u64 = 12 * 1024;
const PORT: u16 = 5001;
const BUF: usize = 8 * 1024;
const MAX_ROUNDS: u64 = 200_000;

fn config() -> SimHostsConfig {
    config_for(QUEUES, CONNECTIONS)
}

/// Hosts for `connections` over `queues` shards (also the threaded mode's tests').
pub(super) fn config_for(queues: u16, connections: usize) -> SimHostsConfig {
    SimHostsConfig {
        // Each shard: its share of the connections, as many listening slots spare, slack.
        connections: 2 * connections / usize::from(queues) + 8,
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
        stall_timeout: None,
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
        stall_timeout: None,
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

/// An ICMP "fragmentation needed" (next-hop MTU `mtu`) from the server's address, quoting a
/// full-sized segment of the client's connection `tuple` with sequence number `seq`.
fn frag_needed_frame(tuple: &FourTuple, seq: u32, mtu: u16) -> Vec<u8> {
    use tcp_engine::wire::{
        EtherType, EthernetFrame, EthernetRepr, IcmpErrorKind, IcmpErrorRepr, IcmpPacket,
        IpProtocol, Ipv4Repr, QuotedRepr, TxChecksum,
    };
    let repr = IcmpErrorRepr {
        kind: IcmpErrorKind::FragmentationNeeded { next_hop_mtu: mtu },
        quoted: QuotedRepr {
            src_addr: tuple.local_addr.into(),
            dst_addr: tuple.remote_addr.into(),
            protocol: IpProtocol::TCP,
            total_len: 1500,
            src_port: tuple.local_port,
            dst_port: tuple.remote_port,
            seq,
        },
    };
    let mut msg = vec![0u8; repr.buffer_len()];
    repr.emit(&mut IcmpPacket::new_unchecked(&mut msg[..]));
    let mut f = vec![0u8; 14 + 20];
    EthernetRepr {
        src_addr: Side::Server.mac(),
        dst_addr: Side::Client.mac(),
        ethertype: EtherType::IPV4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
    let ip = Ipv4Repr {
        src_addr: tuple.remote_addr.into(),
        dst_addr: tuple.local_addr.into(),
        protocol: IpProtocol::ICMP,
        payload_len: msg.len(),
        ttl: 64,
        ident: 9,
        dont_frag: false,
        dscp_ecn: 0,
    };
    f[14..].copy_from_slice(&ip.header_bytes(TxChecksum::Software));
    f.extend_from_slice(&msg);
    f
}

/// Hosts with one established connection per client shard (keys by shard).
fn one_connection_per_shard() -> (ShardedHosts, Vec<SlotKey>) {
    use tcp_engine::tcb::State;

    let mut hosts = ShardedHosts::new(&config(), QUEUES).unwrap();
    for q in 0..QUEUES {
        for _ in 0..4 {
            let ep = hosts.endpoint(Side::Server, q);
            ep.listen(PORT, bufs()).map_err(|(e, _)| e).unwrap();
        }
    }
    // One connection per client shard, established.
    let keys: Vec<SlotKey> = (0..QUEUES)
        .map(|q| hosts.connect(Side::Client, q, PORT, bufs()).unwrap())
        .collect();
    for _ in 0..1000 {
        for q in 0..QUEUES {
            hosts.poll(Side::Client, q, |_, _| {});
            hosts.poll(Side::Server, q, |_, _| {});
        }
        let up = (0..QUEUES).all(|q| {
            hosts.endpoint(Side::Client, q).state(keys[usize::from(q)]) == Some(State::Established)
        });
        if up {
            break;
        }
        hosts.end_round(false, || "the handshakes".into()).unwrap();
    }
    (hosts, keys)
}

/// Data in flight on client shard `q`'s connection, and a "fragmentation needed" for it.
fn data_in_flight_and_frag_needed(hosts: &mut ShardedHosts, q: u16, key: SlotKey) -> Vec<u8> {
    use tcp_engine::tcb::State;

    let ep = hosts.endpoint(Side::Client, q);
    assert_eq!(ep.state(key), Some(State::Established));
    ep.write(key, &[7u8; 4000]).unwrap();
    hosts.poll(Side::Client, q, |_, _| {});
    let ep = hosts.endpoint(Side::Client, q);
    let tcb = ep.tcb(key).unwrap();
    assert!(tcb.snd_nxt() != tcb.snd_una(), "data in flight");
    frag_needed_frame(&ep.tuple(key).unwrap(), tcb.snd_una().0, 1200)
}

/// Puts `frames` on the cable from the server's NIC and ends a round (they land).
fn inject_from_server(hosts: &mut ShardedHosts, frames: &[Vec<u8>]) {
    use tcp_engine::device::{FrameDevice, TxMeta};

    let injector = &mut hosts.hosts[Side::Server.index()].shards[0].device;
    for f in frames {
        let sent = injector.transmit(|buf| {
            buf[..f.len()].copy_from_slice(f);
            Some((f.len(), TxMeta::NONE))
        });
        assert!(sent.is_some(), "the server's NIC took the ICMP frame");
    }
    injector.flush();
    hosts.end_round(true, || "the ICMP errors".into()).unwrap();
}

#[test]
fn icmp_errors_reach_the_shard_owning_the_quoted_connection() {
    let (mut hosts, keys) = one_connection_per_shard();
    // Data in flight on each (sent, not yet acknowledged: the server does not poll), then a
    // "fragmentation needed" for each connection from the server's side of the cable.
    let frames: Vec<Vec<u8>> = (0..QUEUES)
        .map(|q| data_in_flight_and_frag_needed(&mut hosts, q, keys[usize::from(q)]))
        .collect();
    inject_from_server(&mut hosts, &frames);
    // Two polls of every shard: the one the NIC put the errors on hands them on, their
    // owners take them at their next poll (whichever order the shards poll in).
    for _ in 0..2 {
        for q in 0..QUEUES {
            hosts.poll(Side::Client, q, |_, _| {});
        }
    }
    let forwarded = hosts.host(Side::Client).forward_counters();
    assert_eq!(
        forwarded,
        ForwardCounters {
            icmp_forwarded: u64::from(QUEUES) - 1,
            icmp_inbox_full: 0
        },
        "all but the one for the connection of the queue ICMP lands on"
    );
    for (q, shard) in hosts.host(Side::Client).shards().iter().enumerate() {
        let c = shard.endpoint.counters();
        assert_eq!(
            (
                c.icmp_frag_needed,
                c.icmp_rejected_no_connection,
                c.icmp_rejected_sequence
            ),
            (1, 0, 0),
            "client shard {q}: its connection's error, and only that"
        );
        let mss = shard.endpoint.tcb(keys[q]).unwrap().send_mss();
        assert!(
            mss <= 1200 - 40,
            "client shard {q}: MSS {mss} after the error"
        );
    }
}

/// ICMP errors client shard `q`'s endpoint has judged (every `icmp_*` counter but echo).
fn icmp_judged(hosts: &ShardedHosts, q: u16) -> u64 {
    hosts.host(Side::Client).shards()[usize::from(q)]
        .endpoint
        .counters()
        .iter()
        .filter(|(name, _)| name.starts_with("icmp_") && *name != "icmp_echo_answered")
        .map(|(_, n)| n)
        .sum()
}

/// Polls every client shard once, in queue order.
fn poll_clients(hosts: &mut ShardedHosts) {
    for q in 0..QUEUES {
        hosts.poll(Side::Client, q, |_, _| {});
    }
}

#[test]
fn a_full_icmp_inbox_drops_the_excess_counted_and_takes_errors_again_once_drained() {
    let (mut hosts, keys) = one_connection_per_shard();
    let errors_for = |hosts: &mut ShardedHosts, q: u16, n: usize| {
        let ep = hosts.endpoint(Side::Client, q);
        let key = keys[usize::from(q)];
        let frame = frag_needed_frame(
            &ep.tuple(key).unwrap(),
            ep.tcb(key).unwrap().snd_una().0,
            1200,
        );
        vec![frame; n]
    };
    // Every ICMP error between the two hosts lands on one queue; find a connection owned by
    // another (an error for shard 0's connection is handed on unless it lands on 0).
    let mut target = 0;
    let frames = errors_for(&mut hosts, target, 1);
    inject_from_server(&mut hosts, &frames);
    poll_clients(&mut hosts);
    poll_clients(&mut hosts);
    if hosts.host(Side::Client).forward_counters().icmp_forwarded == 0 {
        target = 1;
    }
    let before = hosts.host(Side::Client).forward_counters();
    let judged = icmp_judged(&hosts, target);
    // More errors for it in one burst than its inbox holds: the excess is dropped, counted.
    let burst = INBOX_FRAMES + 5;
    let frames = errors_for(&mut hosts, target, burst);
    inject_from_server(&mut hosts, &frames);
    poll_clients(&mut hosts);
    poll_clients(&mut hosts);
    let after = hosts.host(Side::Client).forward_counters();
    assert_eq!(
        (
            after.icmp_forwarded - before.icmp_forwarded,
            after.icmp_inbox_full - before.icmp_inbox_full
        ),
        (INBOX_FRAMES as u64, 5)
    );
    assert_eq!(icmp_judged(&hosts, target) - judged, INBOX_FRAMES as u64);
    // Drained, the inbox takes the next error.
    let frames = errors_for(&mut hosts, target, 1);
    inject_from_server(&mut hosts, &frames);
    poll_clients(&mut hosts);
    poll_clients(&mut hosts);
    let last = hosts.host(Side::Client).forward_counters();
    assert_eq!(
        (last.icmp_forwarded, last.icmp_inbox_full),
        (after.icmp_forwarded + 1, after.icmp_inbox_full)
    );
    assert_eq!(
        icmp_judged(&hosts, target) - judged,
        INBOX_FRAMES as u64 + 1
    );
    hosts.check_health().unwrap();
}

#[test]
fn a_transfer_whose_byte_total_overflows_is_refused() {
    let mut hosts = ShardedHosts::new(&config(), 2).unwrap();
    let spec = ShardedBulkSpec {
        connections: 2,
        bytes_each_way: u64::MAX / 2,
        buffer: BUF,
        port: PORT,
        max_rounds: 10,
        stall_timeout: None,
    };
    let e = run_sharded_bulk(&mut hosts, &spec, &mut |_, _| {}).unwrap_err();
    assert!(
        matches!(&e, SimHostsError::Config(m) if m.contains("bytes")),
        "{e}"
    );
}

#[test]
fn an_icmp_error_waiting_in_an_inbox_keeps_the_round_from_being_idle() {
    let (mut hosts, keys) = one_connection_per_shard();
    // ICMP between the two hosts lands on one queue (addresses only); errors for the
    // connections of the shards polled before it wait in their inboxes for the next round.
    let mut input = [0u8; 8];
    input[..4].copy_from_slice(&Side::Server.address().octets());
    input[4..].copy_from_slice(&Side::Client.address().octets());
    let table = rss_indirection_table(&(0..QUEUES).collect::<Vec<_>>());
    let lands = table[toeplitz(&SYMMETRIC_RSS_KEY, &input) as usize % RSS_TABLE_ENTRIES];
    assert!(
        lands > 0,
        "the test needs a shard polled before queue {lands}"
    );
    let frames: Vec<Vec<u8>> = (0..lands)
        .map(|q| data_in_flight_and_frag_needed(&mut hosts, q, keys[usize::from(q)]))
        .collect();
    inject_from_server(&mut hosts, &frames);
    let before = hosts.now();
    for q in 0..QUEUES {
        hosts.poll(Side::Client, q, |_, _| {});
    }
    assert_eq!(
        hosts.host(Side::Client).forward_counters().icmp_forwarded,
        u64::from(lands)
    );
    let report = hosts
        .end_round(false, || "the forwarded errors".into())
        .unwrap();
    assert!(
        !report.idle,
        "errors wait in inboxes: the clock must not jump to the next timer ({} -> {} us)",
        before.micros(),
        hosts.now().micros()
    );
    for q in 0..lands {
        hosts.poll(Side::Client, q, |_, _| {});
        let c = hosts.host(Side::Client).shards()[usize::from(q)]
            .endpoint
            .counters();
        assert_eq!(c.icmp_frag_needed, 1, "client shard {q}");
    }
}

/// Several connections per shard whose windows together are several times a receive ring: a
/// paced round lands no more on a ring than it holds, so a lossless cable loses nothing.
#[test]
fn windows_of_many_connections_per_shard_never_overflow_a_receive_ring() {
    const SHARDS: u16 = 2;
    const PER_SHARD: usize = 8;
    const WINDOW: usize = 512 * 1024;
    let cfg = SimHostsConfig {
        // The largest initial window: every connection sends a full window in its first data
        // round, as the demo's connections do only after tens of MiB.
        tcb: TcbConfig {
            initial_window_segments: u8::MAX,
            ..TcbConfig::DATACENTER
        },
        max_window: WINDOW,
        ..config_for(SHARDS, usize::from(SHARDS) * PER_SHARD)
    };
    let mut hosts = ShardedHosts::new(&cfg, SHARDS).unwrap();
    let (_, ring) = hosts.host(Side::Server).shards()[0]
        .device
        .queue_pair()
        .ring_sizes();
    let window_frames = WINDOW.div_ceil(usize::from(cfg.mtu) - 52);
    assert!(
        PER_SHARD * window_frames > 2 * usize::from(ring),
        "the test needs a shard's windows ({PER_SHARD} x {window_frames} frames) to exceed \
         twice its peer's ring ({ring} entries)"
    );
    let spec = ShardedBulkSpec {
        connections: usize::from(SHARDS) * PER_SHARD,
        bytes_each_way: 1024 * 1024,
        buffer: WINDOW,
        port: PORT,
        max_rounds: MAX_ROUNDS,
        stall_timeout: None,
    };
    let out = run_sharded_bulk(&mut hosts, &spec, &mut |_, _| {}).unwrap();
    assert_eq!(
        out.bytes_verified,
        2 * spec.bytes_each_way * spec.connections as u64
    );
    assert_eq!(out.accepted_per_shard, vec![PER_SHARD; usize::from(SHARDS)]);
    let c = hosts.counters().unwrap();
    for (side, h) in Side::BOTH.into_iter().zip([&c.client, &c.server]) {
        let drops: Vec<u64> = hosts
            .host(side)
            .nic()
            .device_stats()
            .unwrap()
            .rx
            .iter()
            .take(usize::from(SHARDS))
            .map(|q| q.drops.into())
            .collect();
        assert_eq!(
            (h.nic_rx_drops, drops.clone()),
            (0, vec![0; usize::from(SHARDS)]),
            "{}: frames dropped at the NIC's receive queues",
            side.as_str()
        );
        assert_eq!(h.adapter_no_buffer, 0, "{}", side.as_str());
    }
    assert_eq!(c.cable.lost + c.cable.overflow, 0, "a lossless cable");
    assert_eq!(out.retransmissions, Retransmissions::default(), "{out:?}");
    hosts.check_health().unwrap();
}
