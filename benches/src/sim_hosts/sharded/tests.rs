//! Sharded hosts end to end: many connections spread over the shards of two multi-queue
//! hosts, bulk both ways with every byte checked, every frame on its own shard's queue; and
//! the errors of a shard whose steering takes no port, and of a bad queue count.

use std::collections::HashMap;

use super::*;
use crate::pattern::Pattern;
use tcp_engine::endpoint::Buffers;
use tcp_engine::tcb::State;

const QUEUES: u16 = 4;
const CONNECTIONS: usize = 64;
/// Bytes each connection carries each way.
const BYTES: u64 = 12 * 1024;
const PORT: u16 = 5001;
const BUF: usize = 8 * 1024;
const MAX_ROUNDS: u32 = 200_000;

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

/// One side of one connection: its stream offsets (each stream starts at its own offset into
/// the pattern, so data crossing between connections shows up as a mismatch).
struct Stream {
    shard: u16,
    key: SlotKey,
    tx_base: u64,
    rx_base: u64,
    sent: u64,
    received: u64,
    closed: bool,
}

impl Stream {
    /// Streams are told apart by the client's port: client to server starts at `7 * port`,
    /// server to client 100 bytes further.
    fn new(side: Side, shard: u16, key: SlotKey, client_port: u16) -> Stream {
        let up = 7 * u64::from(client_port);
        let down = up + 100;
        let (tx_base, rx_base) = match side {
            Side::Client => (up, down),
            Side::Server => (down, up),
        };
        Stream {
            shard,
            key,
            tx_base,
            rx_base,
            sent: 0,
            received: 0,
            closed: false,
        }
    }

    /// Writes what fits, reads and checks what arrived, closes once everything is written.
    /// Returns whether anything moved.
    fn work(&mut self, ep: &mut HostEndpoint, now: Instant, pattern: &Pattern, side: Side) -> bool {
        let mut moved = false;
        while self.sent < BYTES {
            let room = ep.send_space(self.key).unwrap_or(0);
            if room == 0 {
                break;
            }
            let n = room.min((BYTES - self.sent) as usize);
            let at = self.tx_base + self.sent;
            let wrote = ep
                .write_with(self.key, |buf| {
                    let n = n.min(buf.len());
                    pattern.fill(at, &mut buf[..n]);
                    n
                })
                .unwrap_or(0);
            if wrote == 0 {
                break;
            }
            self.sent += wrote as u64;
            moved = true;
        }
        let mut buf = [0u8; BUF];
        loop {
            let n = ep.read(self.key, &mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            if let Err(m) = pattern.check(self.rx_base + self.received, &buf[..n]) {
                panic!(
                    "{} shard {}: byte {} of the stream is {} where {} was sent",
                    side.as_str(),
                    self.shard,
                    m.offset - self.rx_base,
                    m.got,
                    m.expected
                );
            }
            self.received += n as u64;
            moved = true;
        }
        assert!(self.received <= BYTES, "more bytes than were sent");
        if self.sent == BYTES && !self.closed && ep.close(now, self.key).is_ok() {
            self.closed = true;
            moved = true;
        }
        moved
    }

    fn done(&self, ep: &HostEndpoint) -> bool {
        self.received == BYTES
            && self.closed
            && matches!(ep.state(self.key), Some(State::TimeWait | State::Closed))
    }
}

#[test]
fn connections_over_four_shards_stay_on_their_queues_with_every_byte_checked() {
    let mut hosts = ShardedHosts::new(&config(), QUEUES).unwrap();
    assert_eq!(hosts.queues(), QUEUES);
    let pattern = Pattern::new(BUF);
    for q in 0..QUEUES {
        for _ in 0..2 * CONNECTIONS / usize::from(QUEUES) {
            hosts
                .endpoint(Side::Server, q)
                .listen(PORT, bufs())
                .map_err(|(e, _)| e)
                .unwrap();
        }
    }
    let mut client = Vec::new();
    for i in 0..CONNECTIONS {
        let shard = (i % usize::from(QUEUES)) as u16;
        let key = hosts.connect(Side::Client, shard, PORT, bufs()).unwrap();
        let tuple = hosts.endpoint(Side::Client, shard).tuple(key).unwrap();
        assert_eq!(
            hosts.steering().queue_of(&tuple),
            shard,
            "{tuple}: the local port must steer to its shard"
        );
        client.push(Stream::new(Side::Client, shard, key, tuple.local_port));
    }
    let mut server: HashMap<(u16, SlotKey), Stream> = HashMap::new();
    let mut done = false;
    for _ in 0..MAX_ROUNDS {
        let now = hosts.now();
        let mut progress = false;
        for q in 0..QUEUES {
            hosts.poll(Side::Client, q, |_, _| {});
            let mut opened = Vec::new();
            hosts.poll(Side::Server, q, |_, open| opened.push(open.key));
            for key in opened {
                if let std::collections::hash_map::Entry::Vacant(slot) = server.entry((q, key)) {
                    let ep = hosts.endpoint(Side::Server, q);
                    if let Some(t) = ep.tuple(key).filter(|t| t.remote_port != 0) {
                        slot.insert(Stream::new(Side::Server, q, key, t.remote_port));
                    }
                }
            }
        }
        for s in &mut client {
            progress |= s.work(
                hosts.endpoint(Side::Client, s.shard),
                now,
                &pattern,
                Side::Client,
            );
        }
        for s in server.values_mut() {
            progress |= s.work(
                hosts.endpoint(Side::Server, s.shard),
                now,
                &pattern,
                Side::Server,
            );
        }
        done = server.len() == CONNECTIONS
            && client
                .iter()
                .all(|s| s.done(&hosts.host(Side::Client).shards()[usize::from(s.shard)].endpoint))
            && server
                .values()
                .all(|s| s.done(&hosts.host(Side::Server).shards()[usize::from(s.shard)].endpoint));
        if done {
            break;
        }
        hosts
            .end_round(progress, || "the bulk transfers to finish".into())
            .unwrap();
    }
    assert!(done, "not done in {MAX_ROUNDS} rounds");
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
    // Each client shard's connections went to the server shard of the same queue.
    for q in 0..QUEUES {
        let on_client = client.iter().filter(|s| s.shard == q).count();
        let on_server = server.keys().filter(|(s, _)| *s == q).count();
        assert_eq!(
            (on_client, on_server),
            (CONNECTIONS / 4, CONNECTIONS / 4),
            "queue {q}"
        );
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
