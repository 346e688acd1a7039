//! A bulk TCP client on the engine: opens one connection, sends N bytes of the verification
//! [`pattern`](crate::pattern), receives (and optionally verifies) what comes back, closes
//! cleanly, and reports throughput, the options the handshake negotiated and the counters.
//!
//! The send side closes (FIN) when everything is written and the receive side is content
//! ([`RecvMode`]); the client is done when the connection reached TIME-WAIT (our final ACK
//! sent) or CLOSED. Owns the transfer's bookkeeping; allocates only in [`Client::new`].

use std::fmt;

use tcp_engine::device::FrameDevice;
use tcp_engine::endpoint::{EndpointConfig, EndpointError, PollReport, SetupError};
use tcp_engine::table::SlotKey;
use tcp_engine::tcb::{CloseReason, CongestionControl, Events, State, TcbCounters};
use tcp_engine::time::Instant;
use tcp_engine::wire::Ipv4Address;

use super::chargen::Chargen;
use super::{AppBuffers, AppEndpoint};
use crate::pattern::{Mismatch, Pattern};

/// How much the client expects to receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvMode {
    /// Nothing: anything received is read and dropped; close when sent.
    None,
    /// Until the server closes.
    UntilClose,
    /// This many bytes; then the client closes (more is read and dropped).
    Bytes(u64),
}

/// What the received bytes must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Anything.
    Any,
    /// The verification pattern from offset 0 (what a kernel bulk sender in the tests, or an
    /// echo server fed with our own pattern, sends).
    Pattern,
    /// The RFC 864 chargen stream from offset 0.
    Chargen,
}

/// One transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// The server.
    pub remote: Ipv4Address,
    /// Its port.
    pub port: u16,
    /// Pattern bytes to send.
    pub send: u64,
    /// What to receive.
    pub recv: RecvMode,
    /// What it must be.
    pub expect: Expect,
    /// Send buffer bytes.
    pub send_buffer: usize,
    /// Receive buffer bytes.
    pub recv_buffer: usize,
}

/// Why the transfer failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The endpoint could not be built.
    Setup(SetupError),
    /// The connection could not be opened.
    Connect(EndpointError),
    /// The server refused (RST to our SYN: nothing listens on the port).
    Refused,
    /// The server reset the connection.
    Reset,
    /// Retransmissions timed out (the server or the path went away).
    TimedOut,
    /// The connection closed before the transfer was complete.
    ClosedEarly {
        /// Why it closed.
        reason: CloseReason,
    },
    /// A received byte differed from what was expected.
    Mismatch(Mismatch),
    /// An application call failed (a bug if it ever happens).
    App(EndpointError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Setup(e) => write!(f, "{e}"),
            ClientError::Connect(e) => write!(f, "cannot open the connection: {e}"),
            ClientError::Refused => write!(
                f,
                "connection refused: nothing listens on that port (start the server first)"
            ),
            ClientError::Reset => write!(f, "the server reset the connection"),
            ClientError::TimedOut => write!(
                f,
                "the connection timed out (retransmissions unanswered): check the address, \
                 that the server runs, and the route (--gateway)"
            ),
            ClientError::ClosedEarly { reason } => {
                write!(
                    f,
                    "the connection closed before the transfer was complete: {reason}"
                )
            }
            ClientError::Mismatch(m) => write!(
                f,
                "received data differs from what was expected at stream offset {}: expected \
                 byte {:#04x}, got {:#04x}",
                m.offset, m.expected, m.got
            ),
            ClientError::App(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Where the transfer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Still going.
    Running,
    /// Done: every byte sent and acknowledged, everything expected received.
    Done,
    /// Failed.
    Failed(ClientError),
}

/// What the transfer did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClientReport {
    /// Bytes sent (and acknowledged, when done).
    pub sent: u64,
    /// Bytes received within the expectation (verified unless [`Expect::Any`]).
    pub received: u64,
    /// Bytes received beyond it (read and dropped).
    pub extra: u64,
    /// What was verified.
    pub expect: Expect,
    /// From the connect call to ESTABLISHED.
    pub handshake_us: Option<u64>,
    /// From ESTABLISHED to done (or now).
    pub transfer_us: u64,
    /// Window scaling, timestamps, SACK in use.
    pub negotiated: (bool, bool, bool),
    /// The send MSS.
    pub mss: u32,
    /// ECN (RFC 3168) negotiated.
    pub ecn: bool,
    /// The congestion control the connection ran from its establishment on (`None` before).
    pub congestion: Option<CongestionControl>,
    /// DCTCP's alpha when last seen, in units of 1/2048 (`None` unless it ran DCTCP).
    pub dctcp_alpha: Option<u32>,
    /// The connection's counters.
    pub tcb: TcbCounters,
}

impl ClientReport {
    /// Goodput of the transfer in Mbit/s (bytes both ways over the transfer time).
    pub fn mbit_per_s(&self) -> f64 {
        (self.sent + self.received) as f64 * 8.0 / self.transfer_us.max(1) as f64
    }
}

/// The client (see the module docs).
pub struct Client {
    ep: AppEndpoint,
    key: SlotKey,
    cfg: ClientConfig,
    sent: u64,
    received: u64,
    extra: u64,
    close_sent: bool,
    peer_closed: bool,
    started: Instant,
    established: Option<Instant>,
    finished: Option<Instant>,
    progress: Progress,
    negotiated: (bool, bool, bool),
    mss: u32,
    ecn: bool,
    congestion: Option<CongestionControl>,
    dctcp_alpha: Option<u32>,
    last_tcb: TcbCounters,
    scratch: Box<[u8]>,
    pattern: Pattern,
    chargen: Chargen,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.cfg)
            .field("progress", &self.progress)
            .field("sent", &self.sent)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

/// Bytes of the client's scratch buffer.
const SCRATCH: usize = 64 << 10;

impl Client {
    /// Builds the endpoint and opens the connection (the SYN leaves at the first poll).
    ///
    /// # Errors
    /// The endpoint cannot be built or the connection opened.
    pub fn new(
        endpoint: EndpointConfig,
        cfg: ClientConfig,
        now: Instant,
    ) -> Result<Client, ClientError> {
        let mut ep = AppEndpoint::with_capacity(endpoint, 4).map_err(ClientError::Setup)?;
        let bufs = AppBuffers::with_capacity(cfg.send_buffer, cfg.recv_buffer);
        let key = ep
            .connect(now, cfg.remote, cfg.port, bufs)
            .map_err(|(e, _)| ClientError::Connect(e))?;
        Ok(Client {
            ep,
            key,
            cfg,
            sent: 0,
            received: 0,
            extra: 0,
            close_sent: false,
            peer_closed: false,
            started: now,
            established: None,
            finished: None,
            progress: Progress::Running,
            negotiated: (false, false, false),
            mss: 0,
            ecn: false,
            congestion: None,
            dctcp_alpha: None,
            last_tcb: TcbCounters::default(),
            scratch: vec![0u8; SCRATCH].into_boxed_slice(),
            pattern: Pattern::new(SCRATCH),
            chargen: Chargen::new(),
        })
    }

    /// Where the transfer stands.
    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// The endpoint (counters).
    pub fn endpoint(&self) -> &AppEndpoint {
        &self.ep
    }

    /// The connection's state, while it has one.
    pub fn state(&self) -> Option<State> {
        self.ep.state(self.key)
    }

    /// When the endpoint next needs a poll even if no frame arrives.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.ep.next_deadline()
    }

    /// The transfer so far.
    pub fn report(&self, now: Instant) -> ClientReport {
        let end = self.finished.unwrap_or(now);
        ClientReport {
            sent: self.sent,
            received: self.received,
            extra: self.extra,
            expect: self.cfg.expect,
            handshake_us: self.established.map(|e| (e - self.started).micros()),
            transfer_us: self.established.map_or(0, |e| (end - e).micros()),
            negotiated: self.negotiated,
            mss: self.mss,
            ecn: self.ecn,
            congestion: self.congestion,
            dctcp_alpha: self.dctcp_alpha,
            tcb: self
                .ep
                .tcb(self.key)
                .map_or(self.last_tcb, |t| *t.counters()),
        }
    }

    /// One round over `device`; then writes, reads and closes as the transfer allows.
    pub fn poll<D: FrameDevice>(&mut self, now: Instant, device: &mut D) -> PollReport {
        let key = self.key;
        let mut events = Events::default();
        let report = self.ep.poll(now, device, |_, open| {
            if open.key == key {
                events |= open.events;
            }
        });
        if self.progress == Progress::Running {
            if let Err(e) = self.step(now, events) {
                self.fail(now, e);
            }
        }
        report
    }

    fn fail(&mut self, now: Instant, e: ClientError) {
        if let Some(t) = self.ep.tcb(self.key) {
            self.last_tcb = *t.counters();
        }
        if matches!(e, ClientError::Mismatch(_)) {
            let _ = self.ep.abort(now, self.key);
        }
        self.progress = Progress::Failed(e);
        self.finished = Some(now);
    }

    fn step(&mut self, now: Instant, events: Events) -> Result<(), ClientError> {
        let key = self.key;
        if events.contains(Events::ESTABLISHED) && self.established.is_none() {
            self.established = Some(now);
            if let Some(t) = self.ep.tcb(key) {
                self.negotiated = t.negotiated();
                self.mss = t.send_mss();
                self.ecn = t.ecn_negotiated();
                self.congestion = Some(t.congestion_control());
            }
        }
        if events.contains(Events::PEER_CLOSED) {
            self.peer_closed = true;
        }
        if let Some(t) = self.ep.tcb(key) {
            self.last_tcb = *t.counters();
            self.dctcp_alpha = t.dctcp_alpha();
        }
        self.receive()?;
        let state = self.ep.state(key);
        let open = matches!(
            state,
            Some(State::SynSent | State::SynReceived | State::Established | State::CloseWait)
        );
        if open && !self.close_sent {
            while self.sent < self.cfg.send {
                let space = self.ep.send_space(key).unwrap_or(0);
                let n = space
                    .min(self.scratch.len())
                    .min(usize::try_from(self.cfg.send - self.sent).unwrap_or(usize::MAX));
                if n == 0 {
                    break;
                }
                self.pattern.fill(self.sent, &mut self.scratch[..n]);
                let put = self
                    .ep
                    .write(key, &self.scratch[..n])
                    .map_err(ClientError::App)?;
                self.sent += put as u64;
            }
            let recv_content = match self.cfg.recv {
                RecvMode::None => true,
                RecvMode::Bytes(n) => self.received >= n,
                RecvMode::UntilClose => self.cfg.send > 0 || self.peer_closed,
            };
            if self.sent == self.cfg.send && recv_content && self.established.is_some() {
                self.ep.close(now, key).map_err(ClientError::App)?;
                self.close_sent = true;
            }
        }
        if events.contains(Events::CLOSED) || matches!(state, Some(State::Closed) | None) {
            let reason = self.ep.close_reason(key).unwrap_or(CloseReason::None);
            return match reason {
                CloseReason::Refused => Err(ClientError::Refused),
                CloseReason::Reset => Err(ClientError::Reset),
                CloseReason::TimedOut | CloseReason::KeepaliveTimedOut => {
                    Err(ClientError::TimedOut)
                }
                CloseReason::Normal if self.complete() => {
                    self.finish(now);
                    Ok(())
                }
                reason => Err(ClientError::ClosedEarly { reason }),
            };
        }
        if state == Some(State::TimeWait)
            && self.complete()
            && self.ep.next_deadline().is_none_or(|d| d > now)
        {
            // Our last ACK went out (nothing is planned before the 2*MSL timer).
            self.finish(now);
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        let received = match self.cfg.recv {
            RecvMode::None => true,
            RecvMode::UntilClose => self.peer_closed,
            RecvMode::Bytes(n) => self.received >= n,
        };
        self.sent == self.cfg.send && received
    }

    fn finish(&mut self, now: Instant) {
        self.progress = Progress::Done;
        self.finished = Some(now);
        if let Some(t) = self.ep.tcb(self.key) {
            self.last_tcb = *t.counters();
        }
    }

    /// Reads everything readable, verifying what is expected.
    fn receive(&mut self) -> Result<(), ClientError> {
        loop {
            let n = self
                .ep
                .read(self.key, &mut self.scratch)
                .map_err(ClientError::App)?;
            if n == 0 {
                return Ok(());
            }
            let wanted = match self.cfg.recv {
                RecvMode::None => 0,
                RecvMode::UntilClose => n,
                RecvMode::Bytes(limit) => usize::try_from(limit.saturating_sub(self.received))
                    .unwrap_or(usize::MAX)
                    .min(n),
            };
            let got = &self.scratch[..wanted];
            match self.cfg.expect {
                Expect::Any => {}
                Expect::Pattern => self
                    .pattern
                    .check(self.received, got)
                    .map_err(ClientError::Mismatch)?,
                Expect::Chargen => self
                    .chargen
                    .check(self.received, got)
                    .map_err(ClientError::Mismatch)?,
            }
            self.received += wanted as u64;
            self.extra += (n - wanted) as u64;
        }
    }
}
