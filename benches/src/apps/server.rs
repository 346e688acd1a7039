//! A server of several [`Service`]s on one endpoint: each port keeps N slots listening (the
//! engine's accept model: a listening slot becomes the connection its SYN opens, and the
//! server reserves another from its pool of spare buffers), every connection runs its port's
//! application, and a finished connection's buffers go back to the pool (in TIME-WAIT too:
//! the remnant keeps only its state machine).
//!
//! Owns the pool of connection buffers, the per-slot application state, the shared scratch
//! buffers and the counters. Everything is allocated in [`Server::new`].

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use tcp_engine::device::FrameDevice;
use tcp_engine::endpoint::{
    EndpointConfig, EndpointError, Open, PollReport, SetupError, StreamBuffers,
};
use tcp_engine::table::SlotKey;
use tcp_engine::tcb::{CloseReason, Events, State};
use tcp_engine::time::{Duration, Instant};

use super::chargen::Chargen;
use super::http::parse::{MAX_REQUEST_HEAD, Reject};
use super::http::response::Status;
use super::http::site::Site;
use super::http::{Expiry, HttpConn};
use super::iperf3::{self, Iperf3Stats, IperfConn, Tests};
use super::stream::{StreamConn, StreamKind};
use super::{AppBuffers, AppEndpoint, AppKind, Ctx, Service};

/// Bytes of the scratch buffer that data is moved through.
pub const SCRATCH: usize = 64 << 10;

/// How a server is set up.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The services (distinct ports).
    pub services: Vec<Service>,
    /// Slots kept listening per service.
    pub listeners: usize,
    /// Connection buffer sets in all (listening slots included): the most connections open
    /// at once.
    pub connections: usize,
    /// Send buffer bytes per connection.
    pub send_buffer: usize,
    /// Receive buffer bytes per connection.
    pub recv_buffer: usize,
    /// Extra table slots for connections lingering in TIME-WAIT without buffers.
    pub time_wait_slots: usize,
    /// The HTTP site.
    pub site: Site,
    /// HTTP connections that make no progress this long are ended (408 mid-head, a close
    /// between requests, a reset when a response or a close stalls).
    pub http_idle: Duration,
    /// Echo, discard and chargen connections that move no byte either way this long are
    /// reset (counted in [`ServerStats::stream_timeouts`]). `None` (the default) never, as
    /// RFC 862-864 servers: a silent client then holds its connection's buffers until TCP
    /// ends it.
    pub stream_idle: Option<Duration>,
}

impl ServerConfig {
    /// `services` with 4 listeners each, 64 connections of 256 KiB buffers each way, 4096
    /// TIME-WAIT slots and the built-in site.
    pub fn new(services: Vec<Service>) -> ServerConfig {
        ServerConfig {
            services,
            listeners: 4,
            connections: 64,
            send_buffer: 256 << 10,
            recv_buffer: 256 << 10,
            time_wait_slots: 4096,
            site: Site::builtin(),
            http_idle: Duration::from_secs(30),
            stream_idle: None,
        }
    }

    /// Checks the settings before anything is built: services on distinct ports, enough
    /// connections for the listening slots, receive buffers that hold an HTTP head.
    ///
    /// # Errors
    /// The first setting that cannot work.
    pub fn check(&self) -> Result<(), ServerError> {
        if self.services.is_empty() {
            return Err(ServerError::NoServices);
        }
        for (i, s) in self.services.iter().enumerate() {
            if let Some(first) = self.services[..i].iter().find(|f| f.port == s.port) {
                return Err(ServerError::PortInUse {
                    port: s.port,
                    first: first.app,
                    second: s.app,
                });
            }
        }
        let needed = self.services.len() * self.listeners.max(1);
        if self.connections < needed {
            return Err(ServerError::TooFewConnections {
                connections: self.connections,
                needed,
            });
        }
        if self.buffer_bytes().is_none()
            || self.connections.checked_add(self.time_wait_slots).is_none()
        {
            return Err(ServerError::TooLarge {
                connections: self.connections,
                per_connection: (self.send_buffer as u64).saturating_add(self.recv_buffer as u64),
            });
        }
        let has_http = self.services.iter().any(|s| s.app == AppKind::Http);
        if has_http && self.recv_buffer < MAX_REQUEST_HEAD {
            return Err(ServerError::BufferTooSmall {
                recv_buffer: self.recv_buffer,
            });
        }
        Ok(())
    }
}

impl ServerConfig {
    /// Bytes of connection buffers [`Server::new`] allocates (`connections` x (send + receive
    /// buffer)); `None` when that overflows.
    pub fn buffer_bytes(&self) -> Option<u64> {
        let per_connection = (self.send_buffer as u64).checked_add(self.recv_buffer as u64)?;
        per_connection.checked_mul(self.connections as u64)
    }
}

/// Why a server could not start.
#[derive(Debug)]
pub enum ServerError {
    /// No service was given.
    NoServices,
    /// Two services on one port.
    PortInUse {
        /// The port.
        port: u16,
        /// The service there first.
        first: AppKind,
        /// The second one.
        second: AppKind,
    },
    /// Fewer connections than listening slots.
    TooFewConnections {
        /// Connections asked for.
        connections: usize,
        /// Listening slots needed.
        needed: usize,
    },
    /// The connections' buffers (or the table with the TIME-WAIT slots) are too large to
    /// count, let alone allocate.
    TooLarge {
        /// Connections asked for.
        connections: usize,
        /// Buffer bytes per connection (send plus receive).
        per_connection: u64,
    },
    /// A receive buffer cannot hold the longest HTTP request head.
    BufferTooSmall {
        /// The size given.
        recv_buffer: usize,
    },
    /// The endpoint could not be built.
    Setup(SetupError),
    /// A listening slot could not be reserved.
    Listen {
        /// The port.
        port: u16,
        /// Why.
        error: EndpointError,
    },
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::NoServices => write!(f, "no service to serve: give --app (and --port)"),
            ServerError::PortInUse {
                port,
                first,
                second,
            } => write!(
                f,
                "port {port} is in use: {first} already listens there, so {second} cannot; \
                 give each service its own port"
            ),
            ServerError::TooFewConnections {
                connections,
                needed,
            } => write!(
                f,
                "--max-connections {connections} is less than the {needed} listening slots the \
                 services keep (services x --listeners): raise it or lower --listeners"
            ),
            ServerError::TooLarge {
                connections,
                per_connection,
            } => write!(
                f,
                "--max-connections {connections} with {per_connection} bytes of buffers each is \
                 more memory than can be addressed: lower --max-connections or --buffer"
            ),
            ServerError::BufferTooSmall { recv_buffer } => write!(
                f,
                "a receive buffer of {recv_buffer} bytes cannot hold an HTTP request head of \
                 {MAX_REQUEST_HEAD} bytes: use a larger --buffer"
            ),
            ServerError::Setup(e) => write!(f, "{e}"),
            ServerError::Listen { port, error } => {
                write!(f, "cannot listen on port {port}: {error}")
            }
        }
    }
}

impl std::error::Error for ServerError {}

/// Counters of one service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceStats {
    /// The service.
    pub service: Service,
    /// Slots listening now.
    pub listening: usize,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections over (closed, reset, timed out, or in TIME-WAIT).
    pub finished: u64,
    /// Connections that negotiated window scaling.
    pub window_scaling: u64,
    /// Connections that negotiated timestamps.
    pub timestamps: u64,
    /// Connections that negotiated SACK.
    pub sack: u64,
    /// Payload bytes read from clients.
    pub bytes_in: u64,
    /// Payload bytes written to clients.
    pub bytes_out: u64,
}

/// Server-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// HTTP request heads taken (well-formed or not).
    pub http_requests: u64,
    /// HTTP connections ended for making no progress (408 or close mid-request or between
    /// requests, reset when a response stalled).
    pub http_timeouts: u64,
    /// Echo, discard and chargen connections reset for moving nothing for
    /// [`ServerConfig::stream_idle`].
    pub stream_timeouts: u64,
    /// HTTP responses completed, by [`Status::index`].
    pub http_status: [u64; Status::ALL.len()],
    /// The first refused HTTP request's reason.
    pub last_reject: Option<Reject>,
    /// Connections reset by the client.
    pub resets: u64,
    /// Connections that timed out.
    pub timeouts: u64,
    /// Times a slot could not be reserved for listening (the table was full).
    pub listen_failures: u64,
    /// Application calls refused by the endpoint (a bug if ever non-zero).
    pub app_errors: u64,
    /// Echo writes shorter than the space checked before (a bug if ever non-zero).
    pub echo_short_writes: u64,
    /// The iperf3 service's tests.
    pub iperf3: Iperf3Stats,
}

/// What a slot holds, from the server's point of view.
#[derive(Clone, Copy, Debug)]
enum Conn {
    Vacant,
    Listening(u16),
    Stream(u16, SlotKey, StreamConn),
    Http(u16, SlotKey, HttpConn),
    Iperf(u16, SlotKey, IperfConn),
}

/// Everything but the endpoint (so the endpoint's poll can lend it to the event handler).
struct Core {
    services: Vec<ServiceStats>,
    listeners: usize,
    conns: Vec<Conn>,
    spare: Vec<AppBuffers>,
    scratch: Box<[u8]>,
    head: Box<[u8]>,
    site: Site,
    chargen: Chargen,
    iperf: Tests,
    stats: ServerStats,
    http_idle: Duration,
    stream_idle: Option<Duration>,
    /// When idle connections and iperf3 tests are looked for next (`None`: nothing to look
    /// for).
    next_sweep: Option<Instant>,
}

/// The server (see the module docs).
pub struct Server {
    ep: AppEndpoint,
    core: Core,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("endpoint", &self.ep)
            .field("services", &self.core.services)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Builds the endpoint (connections plus TIME-WAIT slots), allocates every buffer and
    /// reserves the listening slots.
    ///
    /// # Errors
    /// A [`ServerError`] saying which setting is wrong.
    pub fn new(endpoint: EndpointConfig, cfg: ServerConfig) -> Result<Server, ServerError> {
        cfg.check()?;
        let needed = cfg.services.len() * cfg.listeners.max(1);
        let capacity = cfg.connections + cfg.time_wait_slots;
        let ep = AppEndpoint::with_capacity(endpoint, capacity).map_err(ServerError::Setup)?;
        let has_iperf = cfg.services.iter().any(|s| s.app == AppKind::Iperf3);
        let spare = (0..cfg.connections)
            .map(|_| AppBuffers::with_capacity(cfg.send_buffer, cfg.recv_buffer))
            .collect();
        let mut server = Server {
            ep,
            core: Core {
                services: cfg
                    .services
                    .iter()
                    .map(|&service| ServiceStats {
                        service,
                        listening: 0,
                        accepted: 0,
                        finished: 0,
                        window_scaling: 0,
                        timestamps: 0,
                        sack: 0,
                        bytes_in: 0,
                        bytes_out: 0,
                    })
                    .collect(),
                listeners: cfg.listeners.max(1),
                conns: vec![Conn::Vacant; capacity],
                spare,
                scratch: vec![0u8; SCRATCH].into_boxed_slice(),
                head: vec![0u8; 2 * MAX_REQUEST_HEAD].into_boxed_slice(),
                site: cfg.site,
                chargen: Chargen::new(),
                iperf: Tests::new(if has_iperf { iperf3::MAX_TESTS } else { 0 }),
                stats: ServerStats::default(),
                http_idle: cfg.http_idle,
                stream_idle: cfg.stream_idle,
                next_sweep: cfg
                    .services
                    .iter()
                    .any(|s| match s.app {
                        AppKind::Http | AppKind::Iperf3 => true,
                        AppKind::Echo | AppKind::Discard | AppKind::Chargen => {
                            cfg.stream_idle.is_some()
                        }
                    })
                    .then_some(Instant::ZERO),
            },
        };
        for i in 0..server.core.services.len() {
            let port = server.core.services[i].service.port;
            for _ in 0..server.core.listeners {
                let bufs = server
                    .core
                    .spare
                    .pop()
                    .ok_or(ServerError::TooFewConnections {
                        connections: cfg.connections,
                        needed,
                    })?;
                let key = server
                    .ep
                    .listen(port, bufs)
                    .map_err(|(error, _)| ServerError::Listen { port, error })?;
                server.core.conns[key.index() as usize] = Conn::Listening(i as u16);
                server.core.services[i].listening += 1;
            }
        }
        Ok(server)
    }

    /// One round over `device` (see [`Endpoint::poll`](tcp_engine::endpoint::Endpoint::poll)):
    /// every connection event runs its application.
    pub fn poll<D: FrameDevice>(&mut self, now: Instant, device: &mut D) -> PollReport {
        let unix_secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let core = &mut self.core;
        let report = self.ep.poll(now, device, |ep, open| {
            core.on_event(ep, now, unix_secs, open)
        });
        if self.core.deficit() {
            self.core.top_up(&mut self.ep);
        }
        if self.core.next_sweep.is_some_and(|t| t <= now) {
            self.core.sweep(&mut self.ep, now, unix_secs);
        }
        report
    }

    /// When the server next needs a poll even if no frame arrives (the endpoint's timers,
    /// the idle-connection sweep).
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.ep.next_deadline(), self.core.next_sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The endpoint (counters, connections).
    pub fn endpoint(&self) -> &AppEndpoint {
        &self.ep
    }

    /// Per-service counters.
    pub fn services(&self) -> &[ServiceStats] {
        &self.core.services
    }

    /// Server-wide counters.
    pub fn stats(&self) -> &ServerStats {
        &self.core.stats
    }

    /// Connections open now (listening slots excluded).
    pub fn open_connections(&self) -> usize {
        self.core
            .conns
            .iter()
            .filter(|c| matches!(c, Conn::Stream(..) | Conn::Http(..) | Conn::Iperf(..)))
            .count()
    }

    /// iperf3 tests running now.
    pub fn iperf3_tests_active(&self) -> usize {
        self.core.iperf.active()
    }

    /// The HTTP site.
    pub fn site(&self) -> &Site {
        &self.core.site
    }
}

impl Core {
    /// Ends HTTP connections idle for longer than the timeout, iperf3 tests and connections
    /// idle past their limit; runs every eighth of the HTTP timeout (at least every 10 ms, at
    /// most every second). O(slots) per sweep.
    fn sweep(&mut self, ep: &mut AppEndpoint, now: Instant, unix_secs: u64) {
        let shortest = self
            .stream_idle
            .map_or(self.http_idle, |s| s.min(self.http_idle));
        let every = Duration::from_micros((shortest.micros() / 8).clamp(10_000, 1_000_000));
        self.next_sweep = Some(now + every);
        let http_idle = self.http_idle;
        let mut aborted = false;
        for i in 0..self.conns.len() {
            let svc = match self.conns[i] {
                Conn::Http(svc, ..) | Conn::Iperf(svc, ..) => usize::from(svc),
                Conn::Stream(svc, key, c) => {
                    if self.stream_idle.is_some_and(|limit| c.idle(now, limit)) {
                        self.stats.stream_timeouts += 1;
                        self.abort(ep, now, i, usize::from(svc), key);
                        aborted = true;
                    }
                    continue;
                }
                _ => continue,
            };
            let (mut ctx, conns) = self.split(now, unix_secs, svc);
            let result = match &mut conns[i] {
                Conn::Http(_, key, c) => c
                    .expire(ep, *key, &mut ctx, http_idle)
                    .map(|e| (e == Expiry::Abort).then_some(*key)),
                Conn::Iperf(_, key, c) => iperf3::expire(c, ep, *key, &mut ctx).map(|()| None),
                _ => Ok(None),
            };
            match result {
                Ok(None) => {}
                Ok(Some(key)) => {
                    self.abort(ep, now, i, svc, key);
                    aborted = true;
                }
                Err(_) => ctx.stats.app_errors += 1,
            }
        }
        if aborted {
            self.top_up(ep);
        }
        if let Some(svc) = self
            .services
            .iter()
            .position(|s| s.service.app == AppKind::Iperf3)
        {
            iperf3::sweep(ep, &mut self.split(now, unix_secs, svc).0);
        }
    }

    /// Aborts connection `key` in slot `idx` of service `svc` (a RST goes to the client) and
    /// takes its buffers back into the pool.
    fn abort(&mut self, ep: &mut AppEndpoint, now: Instant, idx: usize, svc: usize, key: SlotKey) {
        match ep.abort(now, key) {
            Ok(mut bufs) => {
                bufs.clear();
                self.spare.push(bufs);
            }
            Err(_) => self.stats.app_errors += 1,
        }
        self.services[svc].finished += 1;
        self.conns[idx] = Conn::Vacant;
    }

    /// What a connection of service `svc` may use at `now`, and the connection table beside
    /// it.
    fn split(&mut self, now: Instant, unix_secs: u64, svc: usize) -> (Ctx<'_>, &mut [Conn]) {
        let Core {
            conns,
            services,
            scratch,
            head,
            site,
            chargen,
            iperf,
            stats,
            ..
        } = self;
        let ctx = Ctx {
            now,
            unix_secs,
            scratch,
            head,
            site,
            chargen,
            iperf,
            service: &mut services[svc],
            stats,
        };
        (ctx, conns)
    }

    fn deficit(&self) -> bool {
        !self.spare.is_empty() && self.services.iter().any(|s| s.listening < self.listeners)
    }

    /// Reserves listening slots from the spare buffers until every service has its count.
    fn top_up(&mut self, ep: &mut AppEndpoint) {
        for i in 0..self.services.len() {
            while self.services[i].listening < self.listeners {
                let Some(bufs) = self.spare.pop() else {
                    return;
                };
                match ep.listen(self.services[i].service.port, bufs) {
                    Ok(key) => {
                        self.conns[key.index() as usize] = Conn::Listening(i as u16);
                        self.services[i].listening += 1;
                    }
                    Err((_, bufs)) => {
                        self.spare.push(bufs);
                        self.stats.listen_failures += 1;
                        return;
                    }
                }
            }
        }
    }

    /// The service listening on the slot or owning the connection.
    fn service_of(&self, ep: &AppEndpoint, open: &Open) -> Option<usize> {
        match self.conns.get(open.key.index() as usize)? {
            Conn::Listening(s)
            | Conn::Stream(s, _, _)
            | Conn::Http(s, _, _)
            | Conn::Iperf(s, _, _) => Some(usize::from(*s)),
            Conn::Vacant => {
                let port = ep.tuple(open.key)?.local_port;
                self.services.iter().position(|s| s.service.port == port)
            }
        }
    }

    fn on_event(&mut self, ep: &mut AppEndpoint, now: Instant, unix_secs: u64, open: Open) {
        let idx = open.key.index() as usize;
        let ev = open.events;
        let Some(svc) = self.service_of(ep, &open) else {
            return;
        };
        if ev.contains(Events::BACK_TO_LISTEN) {
            if !matches!(self.conns[idx], Conn::Listening(_)) {
                self.services[svc].listening += 1;
            }
            self.conns[idx] = Conn::Listening(svc as u16);
            return;
        }
        if ev.contains(Events::SYN_TO_LISTENER) {
            if matches!(self.conns[idx], Conn::Listening(_)) {
                self.services[svc].listening -= 1;
            }
            self.services[svc].accepted += 1;
            let s = svc as u16;
            self.conns[idx] = match self.services[svc].service.app {
                AppKind::Echo => Conn::Stream(s, open.key, StreamConn::new(StreamKind::Echo, now)),
                AppKind::Discard => {
                    Conn::Stream(s, open.key, StreamConn::new(StreamKind::Discard, now))
                }
                AppKind::Chargen => {
                    Conn::Stream(s, open.key, StreamConn::new(StreamKind::Chargen, now))
                }
                AppKind::Http => Conn::Http(s, open.key, HttpConn::new(now)),
                AppKind::Iperf3 => Conn::Iperf(s, open.key, IperfConn::new(now)),
            };
            self.top_up(ep);
        }
        if ev.contains(Events::ESTABLISHED) {
            if let Some((ws, ts, sack)) = ep.tcb(open.key).map(|t| t.negotiated()) {
                let st = &mut self.services[svc];
                st.window_scaling += u64::from(ws);
                st.timestamps += u64::from(ts);
                st.sack += u64::from(sack);
            }
        }
        let over = ev.contains(Events::CLOSED) || ev.contains(Events::RESET);
        if !over {
            let (mut ctx, conns) = self.split(now, unix_secs, svc);
            let result = match &mut conns[idx] {
                Conn::Stream(_, _, c) => {
                    if ev.contains(Events::PEER_CLOSED) {
                        c.peer_closed();
                    }
                    c.pump(ep, open.key, &mut ctx)
                }
                Conn::Http(_, _, c) => {
                    if ev.contains(Events::PEER_CLOSED) {
                        c.peer_closed();
                    }
                    c.pump(ep, open.key, &mut ctx)
                }
                Conn::Iperf(_, _, c) => {
                    let peer_closed = ev.contains(Events::PEER_CLOSED)
                        || ep.state(open.key) == Some(State::CloseWait);
                    iperf3::pump(c, ep, open.key, &mut ctx, peer_closed)
                }
                Conn::Listening(_) | Conn::Vacant => Ok(()),
            };
            if result.is_err() {
                self.stats.app_errors += 1;
            }
        }
        let state = ep.state(open.key);
        if ev.contains(Events::CLOSED)
            || state == Some(State::TimeWait)
            || state == Some(State::Closed)
        {
            match ep.close_reason(open.key) {
                Some(CloseReason::Reset) => self.stats.resets += 1,
                Some(CloseReason::TimedOut) => self.stats.timeouts += 1,
                _ => {}
            }
            if let Conn::Iperf(_, _, c) = self.conns[idx] {
                iperf3::gone(c, ep, &mut self.split(now, unix_secs, svc).0);
            }
            if let Ok(mut bufs) = ep.release(open.key) {
                bufs.clear();
                self.spare.push(bufs);
            }
            if matches!(
                self.conns[idx],
                Conn::Stream(..) | Conn::Http(..) | Conn::Iperf(..)
            ) {
                self.services[svc].finished += 1;
            }
            self.conns[idx] = Conn::Vacant;
            self.top_up(ep);
        }
    }
}
