//! Bulk transfer over sharded hosts: `connections` connections spread round-robin over the
//! client's shards, all to one port that every server shard listens on; each carries
//! `bytes_each_way` in both directions, every byte checked against the [`Pattern`], then
//! closes (each side closes once it has written everything and the handshake is done).
//!
//! Each stream starts at its own offset into the pattern (derived from the client's port), so
//! data that crossed between connections or shards is caught as a mismatch.
//!
//! Each shard's part of the workload (its connections' streams, its checks) is a `ShardApp`
//! of its own, touched only with that shard's endpoint: the stepped loop here runs all of
//! them in rounds on one thread, the threaded mode ([`super::threaded`]) each on its shard's
//! thread, with the same plan (`plan`), set-up (`ShardApp::open`) and outcome
//! (`Prepared::outcome`).
//!
//! Owns the workload, its stepped loop and its checks; the hosts, rounds and clock are
//! [`ShardedHosts`]'. Allocates at set-up (buffers, the stream tables, a scratch buffer per
//! shard) and when a connection is accepted (within a table sized for all of them), never
//! per byte.

use std::collections::HashMap;

use tcp_engine::endpoint::Buffers;
use tcp_engine::table::SlotKey;
use tcp_engine::tcb::State;
use tcp_engine::time::Instant;

use super::{Shard, ShardedHosts};
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
    /// The client's connections: shard and local port (to the server's `port`).
    pub client_ports: Vec<(u16, u16)>,
    /// Retransmissions of every connection, both ends, added up.
    pub retransmissions: Retransmissions,
}

/// A fault [`super::threaded`]'s tests inject into one shard's application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fault {
    /// The shard checks what it receives against the wrong place in the pattern.
    Mismatch,
    /// The shard's thread panics at its first poll.
    Panic,
    /// The shard stops polling (as a thread that never gets a CPU).
    Freeze,
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
    fn new(side: Side, shard: u16, key: SlotKey, client_port: u16, fault: Option<Fault>) -> Stream {
        let up = 7 * u64::from(client_port);
        let down = up + 100;
        let (tx_base, mut rx_base) = match side {
            Side::Client => (up, down),
            Side::Server => (down, up),
        };
        if fault == Some(Fault::Mismatch) {
            rx_base += 1;
        }
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

/// One shard's part of the workload: the streams of the connections it carries, checked
/// against its endpoint only (so it can run on the shard's thread).
pub(super) struct ShardApp {
    pub(super) side: Side,
    pub(super) shard: u16,
    /// Connections the shard carries once all are open: the client shard's opened, or as many
    /// accepted by the server shard of the same queue.
    expected: usize,
    /// Listening slots a server shard opens.
    listening: usize,
    streams: Vec<Stream>,
    /// The server's streams by connection.
    index: HashMap<SlotKey, usize>,
    /// Connections with events in the last poll (the server's new ones among them).
    pub(super) events: Vec<SlotKey>,
    scratch: Vec<u8>,
    pub(super) fault: Option<Fault>,
}

impl ShardApp {
    fn new(side: Side, shard: u16, expected: usize, listening: usize, buffer: usize) -> ShardApp {
        ShardApp {
            side,
            shard,
            expected,
            listening,
            streams: Vec::with_capacity(expected),
            index: HashMap::with_capacity(if side == Side::Server { expected } else { 0 }),
            events: Vec::with_capacity(1024),
            scratch: vec![0u8; buffer],
            fault: None,
        }
    }

    /// Opens the shard's part on `shard` at `now`: a server shard listens, a client shard
    /// opens its connections (from ports that steer to it).
    pub(super) fn open(
        &mut self,
        shard: &mut Shard,
        now: Instant,
        spec: &ShardedBulkSpec,
    ) -> Result<(), SimHostsError> {
        let bufs = || Buffers::with_capacity(spec.buffer, spec.buffer);
        match self.side {
            Side::Server => {
                for _ in 0..self.listening {
                    shard
                        .endpoint
                        .listen(spec.port, bufs())
                        .map_err(|(e, _)| super::shard_error(self.side, self.shard, "listen", e))?;
                }
            }
            Side::Client => {
                for _ in 0..self.expected {
                    let key = shard.connect(self.side, now, spec.port, bufs())?;
                    let port = shard.endpoint.tuple(key).map_or(0, |t| t.local_port);
                    self.streams
                        .push(Stream::new(self.side, self.shard, key, port, self.fault));
                }
            }
        }
        Ok(())
    }

    /// Injects `fault` (tests of the threaded mode).
    pub(super) fn inject(&mut self, fault: Fault) {
        self.fault = Some(fault);
        if fault == Fault::Mismatch {
            for s in &mut self.streams {
                s.rx_base += 1;
            }
        }
    }

    /// After a poll: a stream for each connection the server shard accepted (its key in
    /// `events`). Fails when it accepts more than its client shard opened (RSS steered a flow
    /// to a queue its steering filter did not choose).
    pub(super) fn take_events(&mut self, ep: &HostEndpoint) -> Result<(), SimHostsError> {
        if self.side == Side::Server {
            for &key in &self.events {
                if self.index.contains_key(&key) {
                    continue;
                }
                let Some(t) = ep.tuple(key).filter(|t| t.remote_port != 0) else {
                    continue;
                };
                if self.streams.len() == self.expected {
                    return Err(SimHostsError::Connection(format!(
                        "server shard {q} accepted a connection from client port {} beyond the                          {} that client shard {q} opened: RSS steered a flow to a queue its                          steering filter did not choose",
                        t.remote_port,
                        self.expected,
                        q = self.shard
                    )));
                }
                self.index.insert(key, self.streams.len());
                self.streams.push(Stream::new(
                    self.side,
                    self.shard,
                    key,
                    t.remote_port,
                    self.fault,
                ));
            }
        }
        self.events.clear();
        Ok(())
    }

    /// Every stream's work (see `Stream::work`); the bytes moved.
    pub(super) fn work(
        &mut self,
        ep: &mut HostEndpoint,
        now: Instant,
        spec: &ShardedBulkSpec,
        pattern: &Pattern,
    ) -> Result<u64, SimHostsError> {
        let mut moved = 0;
        for s in &mut self.streams {
            moved += s.work(ep, now, spec, pattern, &mut self.scratch, self.side)?;
        }
        Ok(moved)
    }

    /// Bytes received and verified.
    pub(super) fn verified(&self) -> u64 {
        self.streams.iter().map(|s| s.received).sum()
    }

    /// Every connection open, every byte received and the connection closed.
    pub(super) fn done(&self, ep: &HostEndpoint, spec: &ShardedBulkSpec) -> bool {
        self.streams.len() == self.expected && self.streams.iter().all(|s| s.done(ep, spec))
    }

    /// What the shard still waits for, in words.
    pub(super) fn waiting_for(&self, spec: &ShardedBulkSpec) -> String {
        let want = spec.bytes_each_way.saturating_mul(self.expected as u64);
        format!(
            "{} of its {} connection(s) {}, {} of {} bytes received, {} closed",
            self.streams.len(),
            self.expected,
            if self.side == Side::Server {
                "accepted"
            } else {
                "opened"
            },
            self.verified(),
            want,
            self.streams.iter().filter(|s| s.closed).count()
        )
    }
}

/// Each shard's application before the run (index: host, then shard), and what they share.
pub(super) struct Prepared {
    pub(super) apps: [Vec<ShardApp>; 2],
    pub(super) pattern: Pattern,
    /// Bytes to verify, both directions.
    pub(super) total: u64,
    connections_per_shard: Vec<usize>,
}

/// Checks `spec` for `queues` shards of `capacity` connection slots each and makes each
/// shard's application (nothing opened yet: [`ShardApp::open`]).
pub(super) fn plan(
    spec: &ShardedBulkSpec,
    queues: u16,
    capacity: usize,
) -> Result<Prepared, SimHostsError> {
    let per_shard = spec.connections.div_ceil(usize::from(queues.max(1)));
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
    if capacity <= listening {
        return Err(SimHostsError::Config(format!(
            "{} connections over {queues} shards need {} slots per shard ({listening} listening \
             plus one); the shards have {capacity}: give each endpoint more connections",
            spec.connections,
            listening.saturating_add(1)
        )));
    }
    let mut connections_per_shard = vec![0; usize::from(queues)];
    for i in 0..spec.connections {
        connections_per_shard[i % usize::from(queues)] += 1;
    }
    let apps = |side| {
        (0..queues)
            .zip(&connections_per_shard)
            .map(|(q, &n)| ShardApp::new(side, q, n, listening, spec.buffer))
            .collect::<Vec<_>>()
    };
    Ok(Prepared {
        apps: [apps(Side::Client), apps(Side::Server)],
        pattern: Pattern::new(spec.buffer),
        total,
        connections_per_shard,
    })
}

/// [`plan`]s the run on `hosts`, then opens it: every server shard listens, then every client
/// shard opens its connections.
fn prepare(hosts: &mut ShardedHosts, spec: &ShardedBulkSpec) -> Result<Prepared, SimHostsError> {
    let capacity = hosts.endpoint(Side::Server, 0).capacity();
    let mut run = plan(spec, hosts.queues(), capacity)?;
    let now = hosts.now();
    for side in [Side::Server, Side::Client] {
        let host = &mut hosts.hosts[side.index()];
        for (app, shard) in run.apps[side.index()].iter_mut().zip(&mut host.shards) {
            app.open(shard, now, spec)?;
        }
    }
    Ok(run)
}

impl Prepared {
    /// Bytes verified by every shard.
    pub(super) fn verified(&self) -> u64 {
        self.apps.iter().flatten().map(ShardApp::verified).sum()
    }

    /// The outcome of a finished run of `simulated_us` and `rounds`.
    pub(super) fn outcome(self, simulated_us: u64, rounds: u64) -> ShardedBulkOutcome {
        let [client, server] = &self.apps;
        ShardedBulkOutcome {
            bytes_verified: self.verified(),
            simulated_us,
            rounds,
            accepted_per_shard: server.iter().map(|a| a.streams.len()).collect(),
            client_connections: client
                .iter()
                .flat_map(|a| a.streams.iter().map(|s| (s.shard, s.key)))
                .collect(),
            client_ports: client
                .iter()
                .flat_map(|a| a.streams.iter().map(|s| (s.shard, s.client_port)))
                .collect(),
            retransmissions: self
                .apps
                .iter()
                .flatten()
                .flat_map(|a| &a.streams)
                .fold(Retransmissions::default(), |sum, s| sum.plus(&s.rtx)),
            connections_per_shard: self.connections_per_shard,
        }
    }

    /// What the run waits for, in words.
    fn waiting_for(&self) -> String {
        let accepted: usize = self.apps[1].iter().map(|a| a.streams.len()).sum();
        let expected: usize = self.connections_per_shard.iter().sum();
        format!(
            "the sharded bulk transfer ({} of {} bytes verified, {accepted} of {expected} \
             connections accepted)",
            self.verified(),
            self.total
        )
    }
}

/// Runs the bulk transfer of `spec` on `hosts` in stepped rounds (see the module docs);
/// `progress` gets the bytes verified so far and the total, once per round.
///
/// # Errors
/// A spec that cannot work (no connection, a zero buffer, a byte total beyond `u64`, shards
/// too small for their share: the error says how many slots are needed), a refused connect or
/// listen, a byte that does not match, a server shard accepting a connection its client shard
/// did not open, a stall, or more than `max_rounds` rounds.
pub fn run_sharded_bulk(
    hosts: &mut ShardedHosts,
    spec: &ShardedBulkSpec,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ShardedBulkOutcome, SimHostsError> {
    let mut run = prepare(hosts, spec)?;
    let start_us = hosts.now().micros();
    let start_rounds = hosts.rounds();
    let mut last_progress = (0, std::time::Instant::now());
    for _ in 0..spec.max_rounds {
        let now = hosts.now();
        for q in 0..hosts.queues() {
            hosts.poll(Side::Client, q, |_, _| {});
            let app = &mut run.apps[1][usize::from(q)];
            hosts.poll(Side::Server, q, |_, open| app.events.push(open.key));
            app.take_events(hosts.endpoint(Side::Server, q))?;
        }
        let mut moved = 0;
        for app in run.apps.iter_mut().flatten() {
            let ep = hosts.endpoint(app.side, app.shard);
            moved += app.work(ep, now, spec, &run.pattern)?;
        }
        let verified = run.verified();
        progress(verified, run.total);
        if verified > last_progress.0 {
            last_progress = (verified, std::time::Instant::now());
        } else if let Some(limit) = spec.stall_timeout
            && last_progress.1.elapsed() > limit
        {
            return Err(SimHostsError::Connection(format!(
                "{} made no progress for {limit:?} of wall time: raise --stall-timeout if the \
                 run is just slow",
                run.waiting_for()
            )));
        }
        let done = run.apps.iter().flatten().all(|app| {
            let ep = &hosts.host(app.side).shards()[usize::from(app.shard)].endpoint;
            app.done(ep, spec)
        });
        if done {
            let simulated_us = hosts.now().micros() - start_us;
            return Ok(run.outcome(simulated_us, hosts.rounds() - start_rounds));
        }
        hosts.end_round(moved > 0, || run.waiting_for())?;
    }
    Err(SimHostsError::Connection(format!(
        "the sharded bulk transfer did not finish within {} rounds",
        spec.max_rounds
    )))
}
