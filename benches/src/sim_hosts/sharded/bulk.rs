//! Bulk transfer over sharded hosts: `connections` connections spread round-robin over the
//! client's shards, all to one port that every server shard listens on; each carries
//! `bytes_each_way` in both directions, every byte checked against the [`Pattern`], then
//! closes (each side closes once it has written everything and the handshake is done).
//!
//! Each stream starts at its own offset into the pattern (derived from the client's port), so
//! data that crossed between connections or shards is caught as a mismatch.
//!
//! Owns the workload loop and its checks; the hosts, rounds and clock are
//! [`ShardedHosts`]'. Allocates at set-up (buffers, the stream table, a scratch buffer) and
//! when a connection is accepted (within a table sized for all of them), never per byte.

use std::collections::HashMap;

use tcp_engine::endpoint::Buffers;
use tcp_engine::table::SlotKey;
use tcp_engine::tcb::State;
use tcp_engine::time::Instant;

use super::ShardedHosts;
use crate::pattern::Pattern;
use crate::sim_hosts::{HostEndpoint, Retransmissions, Side, SimHostsError};

/// What [`run_sharded_bulk`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardedBulkSpec {
    /// Connections (spread round-robin over the client's shards; at least 1).
    pub connections: usize,
    /// Bytes each connection carries in each direction.
    pub bytes_each_way: u64,
    /// Send and receive buffer of each connection end (at least 1 byte).
    pub buffer: usize,
    /// The port the server's shards listen on.
    pub port: u16,
    /// Rounds after which the run fails (a bound).
    pub max_rounds: u64,
    /// The run fails when no byte is verified for this long on the wall clock (`None`: no
    /// wall-clock guard, only `max_rounds` and the simulated clock's stall).
    pub stall_timeout: Option<std::time::Duration>,
}

/// What [`run_sharded_bulk`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardedBulkOutcome {
    /// Bytes received and verified, both directions, all connections.
    pub bytes_verified: u64,
    /// Simulated time the run took, microseconds.
    pub simulated_us: u64,
    /// Rounds run.
    pub rounds: u64,
    /// Connections per client shard (index: shard).
    pub connections_per_shard: Vec<usize>,
    /// Connections each server shard accepted (index: shard).
    pub accepted_per_shard: Vec<usize>,
    /// The client's connections: shard and key (not released: in TIME-WAIT or CLOSED).
    pub client_connections: Vec<(u16, SlotKey)>,
    /// Retransmissions of every connection, both ends, added up.
    pub retransmissions: Retransmissions,
}

/// One end of one connection and its two streams.
struct Stream {
    shard: u16,
    key: SlotKey,
    client_port: u16,
    tx_base: u64,
    rx_base: u64,
    sent: u64,
    received: u64,
    closed: bool,
    /// The connection's retransmission counters, the most seen (its slot may be taken back
    /// by a listener once it reaches CLOSED).
    rtx: Retransmissions,
}

impl Stream {
    /// Client to server starts at `7 * client port` into the pattern, server to client 100
    /// bytes further.
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
            client_port,
            tx_base,
            rx_base,
            sent: 0,
            received: 0,
            closed: false,
            rtx: Retransmissions::default(),
        }
    }

    /// Writes what fits, reads and checks what arrived, closes once everything is written.
    /// Returns the bytes it moved (written plus read) or a mismatch.
    fn work(
        &mut self,
        ep: &mut HostEndpoint,
        now: Instant,
        spec: &ShardedBulkSpec,
        pattern: &Pattern,
        scratch: &mut [u8],
        side: Side,
    ) -> Result<u64, SimHostsError> {
        let mut moved = 0;
        if let Some(t) = ep.tcb(self.key) {
            // Field by field the most seen: the counters only grow while the connection
            // lives, and a slot a listener takes back starts again from zero.
            let now = Retransmissions::of(t.counters());
            let r = &mut self.rtx;
            r.segments = r.segments.max(now.segments);
            r.fast_retransmits = r.fast_retransmits.max(now.fast_retransmits);
            r.timeouts = r.timeouts.max(now.timeouts);
            r.duplicate_acks = r.duplicate_acks.max(now.duplicate_acks);
        }
        while self.sent < spec.bytes_each_way {
            let left = (spec.bytes_each_way - self.sent).min(usize::MAX as u64) as usize;
            let at = self.tx_base + self.sent;
            let wrote = ep
                .write_with(self.key, |buf| {
                    let n = left.min(buf.len());
                    pattern.fill(at, &mut buf[..n]);
                    n
                })
                .unwrap_or(0);
            if wrote == 0 {
                break;
            }
            self.sent += wrote as u64;
            moved += wrote as u64;
        }
        loop {
            let n = ep.read(self.key, scratch).unwrap_or(0);
            if n == 0 {
                break;
            }
            if self.received + n as u64 > spec.bytes_each_way {
                return Err(self.broken(side, "received more bytes than were sent".into()));
            }
            if let Err(m) = pattern.check(self.rx_base + self.received, &scratch[..n]) {
                return Err(self.broken(
                    side,
                    format!(
                        "byte {} of the stream is {} where {} was sent",
                        m.offset - self.rx_base,
                        m.got,
                        m.expected
                    ),
                ));
            }
            self.received += n as u64;
            moved += n as u64;
        }
        // Not before the handshake is done: a close in SYN-SENT abandons the connection.
        let open = matches!(
            ep.state(self.key),
            Some(State::Established | State::CloseWait)
        );
        if self.sent == spec.bytes_each_way
            && !self.closed
            && open
            && ep.close(now, self.key).is_ok()
        {
            self.closed = true;
            moved += 1;
        }
        Ok(moved)
    }

    fn broken(&self, side: Side, what: String) -> SimHostsError {
        SimHostsError::Connection(format!(
            "{} shard {} (queue pair {}), connection with client port {}: {what}",
            side.as_str(),
            self.shard,
            self.shard,
            self.client_port
        ))
    }

    fn done(&self, ep: &HostEndpoint, spec: &ShardedBulkSpec) -> bool {
        self.received == spec.bytes_each_way
            && self.closed
            && matches!(ep.state(self.key), Some(State::TimeWait | State::Closed))
    }
}

/// Runs the bulk transfer of `spec` on `hosts` (see the module docs); `progress` gets the bytes
/// verified so far and the total, once per round.
///
/// # Errors
/// A spec that cannot work (no connection, a zero buffer, a byte total beyond `u64`, shards
/// too small for their share: the error says how many slots are needed), a refused connect or listen, a byte that does
/// not match, a stall, or more than `max_rounds` rounds.
pub fn run_sharded_bulk(
    hosts: &mut ShardedHosts,
    spec: &ShardedBulkSpec,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ShardedBulkOutcome, SimHostsError> {
    let queues = hosts.queues();
    let per_shard = spec.connections.div_ceil(usize::from(queues));
    if spec.connections == 0 || spec.buffer == 0 {
        return Err(SimHostsError::Config(
            "a sharded bulk transfer needs at least 1 connection and a buffer of at least 1 byte"
                .into(),
        ));
    }
    let total = (spec.connections as u64)
        .checked_mul(spec.bytes_each_way)
        .and_then(|t| t.checked_mul(2))
        .ok_or_else(|| {
            SimHostsError::Config(format!(
                "{} connections of {} bytes each way carry more bytes than a 64-bit count \
                 holds: ask for fewer bytes",
                spec.connections, spec.bytes_each_way
            ))
        })?;
    // The server's shards listen with twice their share (SYN cookies keep a reserve free).
    let listening = per_shard.saturating_mul(2);
    let capacity = hosts.endpoint(Side::Server, 0).capacity();
    if capacity <= listening {
        return Err(SimHostsError::Config(format!(
            "{} connections over {queues} shards need {} slots per shard ({listening} listening \
             plus one); the shards have {capacity}: give each endpoint more connections",
            spec.connections,
            listening.saturating_add(1)
        )));
    }
    let bufs = || Buffers::with_capacity(spec.buffer, spec.buffer);
    for q in 0..queues {
        for _ in 0..listening {
            hosts
                .endpoint(Side::Server, q)
                .listen(spec.port, bufs())
                .map_err(|(e, _)| super::shard_error(Side::Server, q, "listen", e))?;
        }
    }
    let pattern = Pattern::new(spec.buffer);
    let mut scratch = vec![0u8; spec.buffer];
    let mut client = Vec::with_capacity(spec.connections);
    let mut connections_per_shard = vec![0; usize::from(queues)];
    for i in 0..spec.connections {
        let shard = (i % usize::from(queues)) as u16;
        let key = hosts.connect(Side::Client, shard, spec.port, bufs())?;
        let port = hosts
            .endpoint(Side::Client, shard)
            .tuple(key)
            .map_or(0, |t| t.local_port);
        client.push(Stream::new(Side::Client, shard, key, port));
        connections_per_shard[usize::from(shard)] += 1;
    }
    let mut server: HashMap<(u16, SlotKey), Stream> = HashMap::with_capacity(spec.connections);
    let mut opened = Vec::with_capacity(1024);
    let start_us = hosts.now().micros();
    let start_rounds = hosts.rounds();
    let mut last_progress = (0, std::time::Instant::now());
    for _ in 0..spec.max_rounds {
        let now = hosts.now();
        let mut moved = 0;
        for q in 0..queues {
            hosts.poll(Side::Client, q, |_, _| {});
            opened.clear();
            hosts.poll(Side::Server, q, |_, open| opened.push(open.key));
            for &key in &opened {
                let ep = hosts.endpoint(Side::Server, q);
                let Some(t) = ep.tuple(key).filter(|t| t.remote_port != 0) else {
                    continue;
                };
                server
                    .entry((q, key))
                    .or_insert_with(|| Stream::new(Side::Server, q, key, t.remote_port));
            }
        }
        for s in &mut client {
            let ep = hosts.endpoint(Side::Client, s.shard);
            moved += s.work(ep, now, spec, &pattern, &mut scratch, Side::Client)?;
        }
        for s in server.values_mut() {
            let ep = hosts.endpoint(Side::Server, s.shard);
            moved += s.work(ep, now, spec, &pattern, &mut scratch, Side::Server)?;
        }
        let verified: u64 = client
            .iter()
            .chain(server.values())
            .map(|s| s.received)
            .sum();
        progress(verified, total);
        if verified > last_progress.0 {
            last_progress = (verified, std::time::Instant::now());
        } else if let Some(limit) = spec.stall_timeout
            && last_progress.1.elapsed() > limit
        {
            return Err(SimHostsError::Connection(format!(
                "the sharded bulk transfer made no progress for {limit:?} of wall time \
                 ({verified} of {total} bytes verified, {} of {} connections accepted): raise \
                 --stall-timeout if the run is just slow",
                server.len(),
                spec.connections
            )));
        }
        let host = |side| hosts.host(side).shards();
        let done = server.len() == spec.connections
            && client
                .iter()
                .all(|s| s.done(&host(Side::Client)[usize::from(s.shard)].endpoint, spec))
            && server
                .values()
                .all(|s| s.done(&host(Side::Server)[usize::from(s.shard)].endpoint, spec));
        if done {
            let mut accepted_per_shard = vec![0; usize::from(queues)];
            for &(q, _) in server.keys() {
                accepted_per_shard[usize::from(q)] += 1;
            }
            return Ok(ShardedBulkOutcome {
                accepted_per_shard,
                client_connections: client.iter().map(|s| (s.shard, s.key)).collect(),
                retransmissions: client
                    .iter()
                    .chain(server.values())
                    .fold(Retransmissions::default(), |sum, s| sum.plus(&s.rtx)),
                bytes_verified: verified,
                simulated_us: hosts.now().micros() - start_us,
                rounds: hosts.rounds() - start_rounds,
                connections_per_shard,
            });
        }
        hosts.end_round(moved > 0, || {
            format!(
                "the sharded bulk transfer ({verified} of {total} bytes verified, {} of {} \
                 connections accepted)",
                server.len(),
                spec.connections
            )
        })?;
    }
    Err(SimHostsError::Connection(format!(
        "the sharded bulk transfer did not finish within {} rounds",
        spec.max_rounds
    )))
}
