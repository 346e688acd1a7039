//! A bulk transfer between the two simulated hosts: one connection, `bytes` from client to
//! server, the client application writing the verification pattern and the server
//! application checking every byte it reads. Used by `ferrotoe demo` ([`run_bulk`]) and by the
//! bulk benchmark for backends `model` and `rtl` ([`FerrotoeSimBulk`], [`bulk_run`]).
//!
//! Each round: the server polls and reads and checks what arrived (first, while the frames
//! its NIC wrote at the end of the last round are freshest in the cache), the client writes
//! what its send buffer takes, straight into it (and closes once everything is written: FIN
//! after the data) and polls, then the NICs move the frames. The server polls with zero-copy
//! receive ([`SimHosts::poll_direct`]): in-order payload is checked where the NIC wrote it, in
//! the receive ring's DMA buffer, and only what the endpoint had to buffer (out-of-order data,
//! bytes behind others not yet read) is read out with a copy. The transfer is done when the
//! server application has read (and checked) every byte; the closing handshake runs after
//! that, outside the timed part, and both connections' slots are released. The applications'
//! memory (the pattern's table, the read buffer) is a [`BulkApp`], built before the transfer.
//!
//! Owns the workload's loop and its errors; must not time anything but the transfer's own wall
//! and simulated duration (the caller measures CPU time).

use std::cell::Cell;
use std::time::{Duration, Instant as WallInstant};

use tcp_engine::endpoint::{Buffers, EndpointError};
use tcp_engine::table::SlotKey;
use tcp_engine::tcb::{Events, State};

use super::{
    NicBackend, Retransmissions, SERVER_IP, Side, SimHosts, SimHostsConfig, SimHostsError,
};
use crate::pattern::Pattern;
use crate::workload::{
    Backend, BulkConfig, BulkCounts, BulkError, BulkRun, BulkStack, Unsupported,
};

/// The stack's name in benchmark reports and errors.
pub const STACK: &str = "ferrotoe";
/// The server's port.
pub const BULK_PORT: u16 = 5001;
/// Largest slice the applications copy at once.
const CHUNK: usize = 256 << 10;

/// One bulk transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkSpec {
    /// Application bytes from client to server.
    pub bytes: u64,
    /// Send and receive buffer of each connection.
    pub socket_buffer: usize,
    /// Copy the pattern in and check every byte out (otherwise the applications only count).
    pub verify: bool,
    /// Give up after this much wall time without a byte delivered.
    pub stall_timeout: Duration,
}

impl BulkSpec {
    /// `bytes` verified, 1 MiB buffers, 10 s stall timeout.
    pub fn new(bytes: u64) -> BulkSpec {
        BulkSpec {
            bytes,
            socket_buffer: 1 << 20,
            verify: true,
            stall_timeout: Duration::from_secs(10),
        }
    }
}

/// What a bulk transfer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkOutcome {
    /// Bytes the server application read.
    pub bytes: u64,
    /// Every byte was compared with the pattern.
    pub verified: bool,
    /// Wall time from the connect call to the last byte read.
    pub wall: Duration,
    /// Simulated time over the same span, in microseconds.
    pub sim_us: u64,
    /// Thread CPU time spent stepping the NICs over the same span.
    pub nic_cpu: Duration,
    /// Rounds run over the same span.
    pub rounds: u64,
    /// Retransmissions of the client (data) and server (ACK) sides.
    pub retransmissions: Retransmissions,
}

fn transfer(detail: impl std::fmt::Display) -> BulkError {
    BulkError::Transfer {
        stack: STACK,
        detail: detail.to_string(),
    }
}

fn app_error(side: Side, what: &str, e: EndpointError) -> BulkError {
    transfer(format!(
        "the {side} application's {what} failed: {e}",
        side = side.as_str()
    ))
}

fn hosts_error(e: SimHostsError) -> BulkError {
    match e {
        SimHostsError::Config(_) | SimHostsError::Backend(_) | SimHostsError::Offload { .. } => {
            BulkError::Setup {
                stack: STACK,
                detail: e.to_string(),
            }
        }
        _ => transfer(e),
    }
}

/// The applications' memory of a bulk transfer: the verification pattern's table and the
/// server application's read buffer. Built before the transfer (its set-up is not part of what
/// a run costs, as the in-memory link's harness builds its pattern when it is prepared) and
/// reusable across transfers.
#[derive(Debug)]
pub struct BulkApp {
    pattern: Pattern,
    sink: Box<[u8]>,
}

impl BulkApp {
    /// The memory for transfers with send and receive buffers of `socket_buffer` bytes (any
    /// size works with any transfer: a smaller one serves its work in pieces).
    pub fn new(socket_buffer: usize) -> BulkApp {
        let chunk = socket_buffer.clamp(1, CHUNK);
        BulkApp {
            pattern: Pattern::new(chunk),
            sink: vec![0u8; chunk].into_boxed_slice(),
        }
    }
}

/// Runs one bulk transfer on `hosts`, calling `progress` with the bytes delivered so far
/// after every round (keep it cheap). Both connections are closed and released when it
/// returns `Ok`. Builds the applications' memory first ([`BulkApp`]); a caller that measures
/// the transfer builds it beforehand and calls [`run_bulk_with`].
pub fn run_bulk(
    hosts: &mut SimHosts,
    spec: &BulkSpec,
    progress: &mut dyn FnMut(u64),
) -> Result<BulkOutcome, BulkError> {
    run_bulk_with(hosts, spec, &mut BulkApp::new(spec.socket_buffer), progress)
}

/// [`run_bulk`] with the applications' memory built by the caller.
pub fn run_bulk_with(
    hosts: &mut SimHosts,
    spec: &BulkSpec,
    app: &mut BulkApp,
    progress: &mut dyn FnMut(u64),
) -> Result<BulkOutcome, BulkError> {
    if spec.bytes == 0 {
        return Err(BulkError::Config(crate::workload::ConfigError(
            "bytes must be at least 1".into(),
        )));
    }
    let buf = spec.socket_buffer;
    let BulkApp {
        pattern,
        sink: sink_buf,
    } = app;
    let pattern = &*pattern;

    hosts
        .endpoint(Side::Server)
        .listen(BULK_PORT, Buffers::with_capacity(buf, buf))
        .map_err(|(e, _)| app_error(Side::Server, "listen", e))?;
    let started = WallInstant::now();
    let (sim0, nic0, rounds0) = (hosts.now(), hosts.nic_cpu(), hosts.rounds().0);
    let now = hosts.now();
    let conn = hosts
        .endpoint(Side::Client)
        .connect(now, SERVER_IP, BULK_PORT, Buffers::with_capacity(buf, buf))
        .map_err(|(e, _)| app_error(Side::Client, "connect", e))?;

    let total = spec.bytes;
    let (mut sent, mut received) = (0u64, 0u64);
    let mut fin_queued = false;
    let accepted: Cell<Option<SlotKey>> = Cell::new(None);
    let mut failure: Option<String> = None;
    let mut last_progress = WallInstant::now();
    loop {
        let now = hosts.now();
        let mut moved = 0u64;
        // The server first, while the frames its NIC wrote at the end of the last round are
        // still in the cache: its application checks in-order payload straight from the NIC's
        // receive buffers (zero-copy receive); what the endpoint had to buffer (out of order,
        // or arriving while earlier bytes wait) is read and checked below.
        let mut corrupt: Option<u64> = None;
        let sink = |key: SlotKey, data: &[u8]| -> usize {
            if accepted.get() != Some(key) || corrupt.is_some() {
                return 0;
            }
            if spec.verify {
                if let Err(m) = pattern.check(received, data) {
                    corrupt = Some(m.offset);
                    return 0;
                }
            }
            received += data.len() as u64;
            moved += data.len() as u64;
            data.len()
        };
        hosts.poll_direct(
            Side::Server,
            |ep, open| {
                if open.events.contains(Events::SYN_TO_LISTENER) {
                    accepted.set(Some(open.key));
                }
                if open.events.contains(Events::RESET) {
                    failure.get_or_insert_with(|| "the server's connection was reset".into());
                }
                if open.events.contains(Events::PEER_CLOSED) {
                    let _ = ep.close(now, open.key);
                }
            },
            sink,
        );
        if let Some(offset) = corrupt {
            return Err(BulkError::Corrupt {
                stack: STACK,
                offset,
            });
        }
        // The server application: read and check what the endpoint buffered.
        if let Some(key) = accepted.get() {
            let server = hosts.endpoint(Side::Server);
            loop {
                let n = server
                    .read(key, &mut sink_buf[..])
                    .map_err(|e| app_error(Side::Server, "read", e))?;
                if n == 0 {
                    break;
                }
                if spec.verify {
                    if let Err(m) = pattern.check(received, &sink_buf[..n]) {
                        return Err(BulkError::Corrupt {
                            stack: STACK,
                            offset: m.offset,
                        });
                    }
                }
                received += n as u64;
                moved += n as u64;
            }
        }
        // The client application: fill the send buffer, then close. The client polls last,
        // so the frames it writes are still in the cache when its NIC reads them.
        let client = hosts.endpoint(Side::Client);
        while sent < total {
            // The pattern goes straight into the send buffer's free run (no copy out of a
            // buffer of the application's), as the in-memory link's and smoltcp's harnesses
            // fill theirs.
            let left = total - sent;
            let wrote = client.write_with(conn, |free| {
                let n = free.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                if spec.verify {
                    pattern.fill(sent, &mut free[..n]);
                }
                n
            });
            match wrote {
                Ok(0) => break,
                Ok(n) => {
                    sent += n as u64;
                    moved += n as u64;
                }
                Err(e) => return Err(app_error(Side::Client, "write", e)),
            }
        }
        // Closing in SYN-SENT would abandon the connection (RFC 9293 3.10.4): FIN once open.
        if sent == total && !fin_queued && client.state(conn) == Some(State::Established) {
            client
                .close(now, conn)
                .map_err(|e| app_error(Side::Client, "close", e))?;
            fin_queued = true;
        }
        hosts.poll(Side::Client, |ep, open| {
            if open.key == conn
                && (open.events.contains(Events::RESET) || open.events.contains(Events::CLOSED))
            {
                failure.get_or_insert_with(|| {
                    format!(
                        "the client's connection ended early ({:?}, {:?})",
                        ep.close_reason(conn),
                        open.events
                    )
                });
            }
        });
        if let Some(why) = failure.take() {
            return Err(transfer(why));
        }
        if received > total {
            return Err(transfer(format!(
                "the server read {received} bytes, more than the {total} sent"
            )));
        }
        progress(received);
        if received == total {
            break;
        }
        hosts
            .end_round(moved > 0, || {
                format!("the transfer to finish ({received} of {total} bytes delivered)")
            })
            .map_err(hosts_error)?;
        if moved > 0 {
            last_progress = WallInstant::now();
        } else if last_progress.elapsed() > spec.stall_timeout {
            let state = hosts
                .endpoint(Side::Client)
                .state(conn)
                .map_or_else(|| "gone".into(), |s| format!("{s:?}"));
            return Err(BulkError::Stalled {
                stack: STACK,
                delivered: received,
                expected: total,
                state,
            });
        }
    }
    let wall = started.elapsed();
    let sim_us = hosts.now().saturating_since(sim0).micros();
    let nic_cpu = hosts.nic_cpu().saturating_sub(nic0);
    let rounds = hosts.rounds().0 - rounds0;
    let server = accepted
        .get()
        .ok_or_else(|| transfer("no connection was accepted"))?;
    let retransmissions = hosts.close_pair(conn, server).map_err(hosts_error)?;
    Ok(BulkOutcome {
        bytes: received,
        verified: spec.verify,
        wall,
        sim_us,
        nic_cpu,
        rounds,
        retransmissions,
    })
}

/// The ferrotoe stack over two simulated NICs: the bulk benchmark's backends `model` and
/// `rtl`. (Backend `link`, the in-memory link, is registered by the engine's link workload.)
#[derive(Clone, Copy, Debug, Default)]
pub struct FerrotoeSimBulk;

impl FerrotoeSimBulk {
    fn hosts_config(config: &BulkConfig) -> Result<SimHostsConfig, Unsupported> {
        let backend = match config.backend {
            Backend::Model => NicBackend::Model,
            Backend::Rtl => NicBackend::Rtl,
            Backend::Link => {
                return Err(Unsupported {
                    stack: STACK.into(),
                    reason: "the engine's workload over the in-memory link is not wired into \
                             the harness yet; the engine runs over the simulated NIC: use \
                             --backend model (or rtl)"
                        .into(),
                });
            }
        };
        let Some(congestion) = config.congestion.engine() else {
            return Err(Unsupported {
                stack: STACK.into(),
                reason: format!(
                    "the engine always runs a congestion window (asked for {}): use --cc \
                     reno or --cc cubic",
                    config.congestion
                ),
            });
        };
        let mut cfg = SimHostsConfig {
            backend,
            offload: Some(config.offload),
            mtu: config.mtu,
            max_window: config.socket_buffer,
            ..SimHostsConfig::new()
        };
        cfg.tcb.nagle = config.nagle;
        cfg.tcb.congestion = congestion;
        cfg.nic_thread = config.nic_thread;
        if let Some(burst) = config.rx_burst {
            cfg.rx_burst = burst as usize;
        }
        Ok(cfg)
    }
}

impl BulkStack for FerrotoeSimBulk {
    fn name(&self) -> &'static str {
        STACK
    }

    fn supports(&self, config: &BulkConfig) -> Result<(), Unsupported> {
        let cfg = Self::hosts_config(config)?;
        // A backend this build cannot make (the RTL without rtl-sim's `rtl` feature) is
        // a skipped cell with rtl-sim's reason, not a failed run.
        rtl_sim::nic::build_core(cfg.backend, rtl_sim::device::DeviceConfig::REFERENCE)
            .map(|_| ())
            .map_err(|e| Unsupported {
                stack: STACK.into(),
                reason: e.to_string(),
            })
    }

    fn prepare(&self, config: &BulkConfig) -> Result<Box<dyn BulkRun>, BulkError> {
        bulk_run(config)
    }
}

/// Prepares one bulk transfer of the benchmark over two simulated NICs (backends `model` and
/// `rtl`): builds both hosts (untimed); the transfer runs in [`BulkRun::run`]. The ferrotoe
/// arm of `crate::stacks` dispatches `Backend::Model | Backend::Rtl` here.
pub fn bulk_run(config: &BulkConfig) -> Result<Box<dyn BulkRun>, BulkError> {
    config.validate()?;
    let cfg = FerrotoeSimBulk::hosts_config(config)?;
    let hosts = SimHosts::new(&cfg).map_err(hosts_error)?;
    Ok(Box::new(SimBulkRun {
        hosts: Some(hosts),
        spec: BulkSpec {
            bytes: config.bytes,
            socket_buffer: config.socket_buffer,
            verify: config.verify,
            stall_timeout: config.stall_timeout,
        },
        app: BulkApp::new(config.socket_buffer),
    }))
}

/// A prepared transfer (the hosts are used once).
struct SimBulkRun {
    hosts: Option<SimHosts>,
    spec: BulkSpec,
    app: BulkApp,
}

impl BulkRun for SimBulkRun {
    fn run(&mut self) -> Result<BulkCounts, BulkError> {
        let mut hosts = self
            .hosts
            .take()
            .ok_or(BulkError::AlreadyRun { stack: STACK })?;
        let nic0 = hosts.nic_cpu();
        let before = hosts.counters().map_err(hosts_error)?;
        let out = run_bulk_with(&mut hosts, &self.spec, &mut self.app, &mut |_| {})?;
        let c = hosts.counters().map_err(hosts_error)?.since(&before);
        hosts.check_health().map_err(hosts_error)?;
        let nic_cpu = hosts.nic_cpu().saturating_sub(nic0);
        Ok(BulkCounts {
            bytes: out.bytes,
            verified: out.verified,
            data_frames: c.client.nic_tx_frames,
            data_wire_bytes: c.client.nic_tx_bytes,
            reverse_frames: c.server.nic_tx_frames,
            tx_requests: c.client.nic_tx_requests,
            polls: out.rounds,
            retransmissions: Some(out.retransmissions.segments),
            nic_cpu: Some(nic_cpu),
        })
    }
}
