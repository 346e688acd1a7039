//! One iperf3 test as the server sees it, without I/O: the control-channel state machine and
//! the test's streams. Bytes the client sent on the control connection go in through
//! [`Test::feed`]; what the server must send back collects in a fixed output buffer
//! ([`Test::pending`], [`Test::sent`]); data connections join with [`Test::add_stream`] and
//! report the bytes they moved with [`Test::count`]. The connection driver
//! ([`super`]) moves the bytes between this and the engine.
//!
//! The protocol (iperf3 3.x, TCP): the client opens the control connection and sends its
//! 37-byte cookie; the server sends `PARAM_EXCHANGE`, the client a 4-byte big-endian length
//! and its parameters as JSON; the server sends `CREATE_STREAMS`, the client opens the data
//! connections (each starts with the same cookie); with all of them there the server sends
//! `TEST_START` and `TEST_RUNNING` and data flows until the client sends `TEST_END`; the
//! server answers `EXCHANGE_RESULTS`, reads the client's results (length and JSON), sends its
//! own and `DISPLAY_RESULTS`; the client ends with `IPERF_DONE`. A test the server will not
//! run (UDP, SCTP, too many streams, malformed or oversized parameters, an unexpected state
//! byte) gets `SERVER_ERROR` with iperf3's error number, which the client prints.
//!
//! Owns the protocol's states, the parameter checks and the results; it must not touch the
//! engine. Nothing allocates: the input and output buffers are arrays inside [`Test`].

use std::fmt::{self, Write as _};

use tcp_engine::time::{Duration, Instant};

use super::json::{self, JsonError, SliceWriter, Value};

/// Bytes of the cookie that opens every connection of a test (36 characters and a NUL).
pub const COOKIE_LEN: usize = 37;
/// Longest parameter object accepted.
pub const MAX_PARAMS: usize = 4096;
/// Longest results object of the client's that is read (and skipped).
pub const MAX_CLIENT_RESULTS: u32 = 1 << 20;
/// Longest `-O` honoured, in seconds.
pub const MAX_OMIT_SECS: u64 = 3600;
/// Most streams per direction.
pub const MAX_PARALLEL: usize = 16;
/// Most data connections of a test (`--bidir` doubles them).
pub const MAX_STREAMS: usize = 2 * MAX_PARALLEL;
/// Room for everything the server sends at once (the results are the largest).
pub const OUT_CAP: usize = 8192;
/// How long a test may wait for the client in any phase but the running one, and how long a
/// running test may move no data, before it is ended.
pub const IDLE_LIMIT: Duration = Duration::from_secs(10);

/// iperf3's control-channel state bytes.
pub mod state {
    /// The test starts.
    pub const TEST_START: u8 = 1;
    /// Data flows.
    pub const TEST_RUNNING: u8 = 2;
    /// The client's test time or byte count is over.
    pub const TEST_END: u8 = 4;
    /// The client is to send its parameters.
    pub const PARAM_EXCHANGE: u8 = 9;
    /// The client is to open the data connections.
    pub const CREATE_STREAMS: u8 = 10;
    /// The server is going away.
    pub const SERVER_TERMINATE: u8 = 11;
    /// The client gave up (interrupted).
    pub const CLIENT_TERMINATE: u8 = 12;
    /// Results are exchanged (client first).
    pub const EXCHANGE_RESULTS: u8 = 13;
    /// The client may print its report.
    pub const DISPLAY_RESULTS: u8 = 14;
    /// The client is done.
    pub const IPERF_DONE: u8 = 16;
    /// The server is busy or the connection is not welcome (-1 as a signed byte).
    pub const ACCESS_DENIED: u8 = 0xff;
    /// The server refused the test; two big-endian 32-bit numbers follow (-2 signed).
    pub const SERVER_ERROR: u8 = 0xfe;
}

/// iperf3's error numbers (`i_errno`) the server sends after `SERVER_ERROR`; the client
/// prints its text for each.
pub mod errno {
    /// "number of parallel streams too large".
    pub const IENUMSTREAMS: u32 = 6;
    /// "an option you are trying to set is not implemented yet".
    pub const IEUNIMP: u32 = 13;
    /// "cannot be both reverse and bidirectional".
    pub const IEREVERSEBIDIR: u32 = 25;
    /// "received an unknown control message".
    pub const IEMESSAGE: u32 = 110;
    /// "unable to receive parameters from client".
    pub const IERECVPARAMS: u32 = 114;
    /// "unable to receive results from client".
    pub const IERECVRESULTS: u32 = 117;
    /// Linux `EPROTONOSUPPORT`, sent as the system error of a refused protocol.
    pub const EPROTONOSUPPORT: u32 = 93;
}

/// The client's parameters the server acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// `"udp"`: refused.
    pub udp: bool,
    /// `"sctp"`: refused.
    pub sctp: bool,
    /// `"reverse"` (`-R`): the server sends.
    pub reverse: bool,
    /// `"bidirectional"` (`--bidir`): both send.
    pub bidirectional: bool,
    /// `"parallel"` (`-P`): streams per direction.
    pub parallel: u32,
    /// `"time"` (`-t`): seconds (0: a byte or block count ends the test).
    pub time: u64,
    /// `"num"` (`-n`): bytes to send in all (0: no limit).
    pub bytes: u64,
    /// `"blockcount"` (`-k`): blocks of `len` to send in all (0: no limit).
    pub blocks: u64,
    /// `"len"` (`-l`): bytes per block.
    pub len: u64,
    /// `"omit"` (`-O`): seconds at the start the client leaves out of its report.
    pub omit: u64,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            udp: false,
            sctp: false,
            reverse: false,
            bidirectional: false,
            parallel: 1,
            time: 10,
            bytes: 0,
            blocks: 0,
            len: 128 << 10,
            omit: 0,
        }
    }
}

impl Params {
    /// Reads the parameter object.
    ///
    /// # Errors
    /// The object is not well-formed JSON.
    pub fn parse(s: &[u8]) -> Result<Params, JsonError> {
        let mut p = Params::default();
        let mut time_given = false;
        json::for_each_member(s, |key, v| {
            let on = !matches!(v, Value::False | Value::Null);
            let n = match v {
                Value::Int(i) => u64::try_from(i).unwrap_or(0),
                _ => 0,
            };
            match key {
                b"udp" => p.udp = on,
                b"sctp" => p.sctp = on,
                b"reverse" => p.reverse = on,
                b"bidirectional" => p.bidirectional = on,
                b"parallel" => p.parallel = u32::try_from(n).unwrap_or(u32::MAX),
                b"time" => {
                    p.time = n;
                    time_given = true;
                }
                b"num" => p.bytes = n,
                b"blockcount" => p.blocks = n,
                b"len" => p.len = n,
                b"omit" => p.omit = n,
                _ => {}
            }
        })?;
        if !time_given {
            p.time = 0;
        }
        Ok(p)
    }

    /// Bytes the server's senders may send in all (`u64::MAX`: until the client says stop).
    pub fn send_limit(&self) -> u64 {
        match (self.bytes, self.blocks) {
            (0, 0) => u64::MAX,
            (0, k) => k.saturating_mul(self.len.max(1)),
            (n, _) => n,
        }
    }

    /// The refusal the server must give, if any.
    pub fn refusal(&self) -> Option<Refusal> {
        if self.udp {
            Some(Refusal::Udp)
        } else if self.sctp {
            Some(Refusal::Sctp)
        } else if self.reverse && self.bidirectional {
            Some(Refusal::ReverseAndBidirectional)
        } else if self.parallel == 0 || self.parallel as usize > MAX_PARALLEL {
            Some(Refusal::Streams(self.parallel))
        } else {
            None
        }
    }
}

/// A test the server will not run (the client is told with `SERVER_ERROR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A UDP test (`-u`): only TCP is served.
    Udp,
    /// An SCTP test.
    Sctp,
    /// Both `-R` and `--bidir`.
    ReverseAndBidirectional,
    /// `-P` of 0 or over [`MAX_PARALLEL`].
    Streams(u32),
}

impl Refusal {
    /// iperf3's error number and the system error for the client.
    pub fn codes(self) -> (u32, u32) {
        match self {
            Refusal::Udp | Refusal::Sctp => (errno::IEUNIMP, errno::EPROTONOSUPPORT),
            Refusal::ReverseAndBidirectional => (errno::IEREVERSEBIDIR, 0),
            Refusal::Streams(_) => (errno::IENUMSTREAMS, 0),
        }
    }
}

/// A control-channel violation: the test ends (the client gets `SERVER_ERROR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlError {
    /// The parameter object's length is over [`MAX_PARAMS`] (or zero).
    ParamsLength(u32),
    /// The parameter object is not JSON.
    Params(JsonError),
    /// The client's results are longer than [`MAX_CLIENT_RESULTS`].
    ResultsLength(u32),
    /// A state byte this phase does not expect.
    UnexpectedState {
        /// The byte.
        state: u8,
        /// The phase it came in ([`Phase::name`]).
        phase: &'static str,
    },
    /// The output did not fit [`OUT_CAP`] (a bug if ever seen).
    OutputFull,
}

impl ControlError {
    /// iperf3's error number for the client.
    pub fn code(self) -> u32 {
        match self {
            ControlError::ParamsLength(_) | ControlError::Params(_) => errno::IERECVPARAMS,
            ControlError::ResultsLength(_) => errno::IERECVRESULTS,
            ControlError::UnexpectedState { .. } | ControlError::OutputFull => errno::IEMESSAGE,
        }
    }
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlError::ParamsLength(n) => write!(
                f,
                "parameter object of {n} bytes (1 to {MAX_PARAMS} are accepted)"
            ),
            ControlError::Params(e) => write!(f, "parameters: {e}"),
            ControlError::ResultsLength(n) => write!(
                f,
                "client results of {n} bytes (at most {MAX_CLIENT_RESULTS} are read)"
            ),
            ControlError::UnexpectedState { state, phase } => {
                write!(f, "state byte {state} in phase {phase}")
            }
            ControlError::OutputFull => write!(f, "control output over {OUT_CAP} bytes"),
        }
    }
}

/// Where a test is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Reading the 4-byte length of the parameters.
    ParamsLength,
    /// Reading the parameters (this many bytes in all).
    Params(u32),
    /// Waiting for the data connections.
    CreateStreams,
    /// Data flows.
    Running,
    /// Reading the 4-byte length of the client's results.
    ResultsLength,
    /// Skipping the client's results (this many bytes left).
    Results(u32),
    /// Results sent; waiting for `IPERF_DONE`.
    AwaitDone,
    /// Over: the test ran to `IPERF_DONE`.
    Done,
    /// Over: refused after the parameters.
    Refused(Refusal),
    /// Over: the client broke the protocol.
    Failed(ControlError),
    /// Over: the client terminated or went away.
    Aborted,
}

impl Phase {
    /// Its name in messages.
    pub const fn name(self) -> &'static str {
        match self {
            Phase::ParamsLength | Phase::Params(_) => "parameter exchange",
            Phase::CreateStreams => "create streams",
            Phase::Running => "test running",
            Phase::ResultsLength | Phase::Results(_) => "exchange results",
            Phase::AwaitDone => "display results",
            Phase::Done => "done",
            Phase::Refused(_) => "refused",
            Phase::Failed(_) => "failed",
            Phase::Aborted => "aborted",
        }
    }

    /// The test is over (the control connection is to be closed once its output is sent).
    pub fn is_over(self) -> bool {
        matches!(
            self,
            Phase::Done | Phase::Refused(_) | Phase::Failed(_) | Phase::Aborted
        )
    }
}

/// One data connection of a test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStat {
    /// The server sends on it (else it receives).
    pub sender: bool,
    /// Payload bytes moved while the test ran.
    pub bytes: u64,
    /// Segments the server retransmitted on it (senders).
    pub retransmits: u64,
}

/// One test (see the module docs).
#[derive(Clone, Debug)]
pub struct Test {
    cookie: [u8; COOKIE_LEN],
    phase: Phase,
    params: Params,
    /// When the phase began, or (running) when data last moved.
    since: Instant,
    started: Instant,
    ended: Instant,
    hold: [u8; 4],
    hold_len: usize,
    input: [u8; MAX_PARAMS],
    input_len: usize,
    out: [u8; OUT_CAP],
    out_start: usize,
    out_len: usize,
    streams: [StreamStat; MAX_STREAMS],
    stream_count: usize,
    sent: u64,
    /// The process's CPU time when the test started running and when it ended, as the caller
    /// reported them ([`Test::cpu_at_start`], [`Test::cpu_at_end`]).
    cpu: [Option<CpuSample>; 2],
}

/// The process's CPU time at one instant, for the results' `cpu_util_*` figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuSample {
    /// When it was taken.
    pub at: Instant,
    /// User time so far.
    pub user: Duration,
    /// System time so far.
    pub system: Duration,
}

/// Where a data connection joined: its index in the test and whether the server sends on
/// it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Joined {
    /// The stream's index in the test.
    pub index: usize,
    /// The server sends on it.
    pub sender: bool,
    /// It was the last one: the test is running now.
    pub started: bool,
}

/// Why a data connection was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamRefused {
    /// The test is not waiting for streams (not yet, or no more).
    NotAccepting(Phase),
}

/// A valid cookie: 36 printable ASCII characters and a NUL.
pub fn valid_cookie(c: &[u8]) -> bool {
    c.len() == COOKIE_LEN
        && c[COOKIE_LEN - 1] == 0
        && c[..COOKIE_LEN - 1].iter().all(|b| b.is_ascii_graphic())
}

impl Test {
    /// A test opened by a control connection with `cookie` at `now`: the server's first
    /// message (`PARAM_EXCHANGE`) is pending. Allocates its box (for tests and one-off use;
    /// the server's table reuses its slots with [`begin`](Self::begin)).
    pub fn new(cookie: &[u8; COOKIE_LEN], now: Instant) -> Box<Test> {
        let mut t = Box::new(Test::idle());
        t.begin(cookie, now);
        t
    }

    /// A test slot with nothing in it (for tables built once).
    pub fn idle() -> Test {
        Test {
            cookie: [0; COOKIE_LEN],
            phase: Phase::Done,
            params: Params::default(),
            since: Instant::ZERO,
            started: Instant::ZERO,
            ended: Instant::ZERO,
            hold: [0; 4],
            hold_len: 0,
            input: [0; MAX_PARAMS],
            input_len: 0,
            out: [0; OUT_CAP],
            out_start: 0,
            out_len: 0,
            streams: [StreamStat::default(); MAX_STREAMS],
            stream_count: 0,
            sent: 0,
            cpu: [None; 2],
        }
    }

    /// Starts this slot over as a new test (no allocation).
    pub fn begin(&mut self, cookie: &[u8; COOKIE_LEN], now: Instant) {
        self.cookie = *cookie;
        self.phase = Phase::ParamsLength;
        self.params = Params::default();
        self.since = now;
        self.started = now;
        self.ended = now;
        self.hold_len = 0;
        self.input_len = 0;
        self.out_start = 0;
        self.out_len = 0;
        self.stream_count = 0;
        self.sent = 0;
        self.cpu = [None; 2];
        self.push(&[state::PARAM_EXCHANGE]);
    }

    /// The process's CPU time when the test started running (the caller takes it when
    /// [`Test::add_stream`] says the test started). With [`Test::cpu_at_end`], the results
    /// report the process's CPU use over the test as iperf3's server does (`cpu_util_*`, in
    /// percent of one CPU); without them they report 0.
    pub fn cpu_at_start(&mut self, sample: CpuSample) {
        self.cpu[0] = Some(sample);
    }

    /// The process's CPU time when the test ended (the caller takes it when the phase leaves
    /// [`Phase::Running`]).
    pub fn cpu_at_end(&mut self, sample: CpuSample) {
        self.cpu[1] = Some(sample);
    }

    /// CPU use over the test in percent: total, user, system (zeros without both samples).
    fn cpu_percent(&self) -> [f64; 3] {
        let [Some(a), Some(b)] = self.cpu else {
            return [0.0; 3];
        };
        let wall = b.at.micros().saturating_sub(a.at.micros()) as f64;
        if wall <= 0.0 {
            return [0.0; 3];
        }
        let pct = |from: Duration, to: Duration| {
            to.micros().saturating_sub(from.micros()) as f64 * 100.0 / wall
        };
        let (user, system) = (pct(a.user, b.user), pct(a.system, b.system));
        [user + system, user, system]
    }

    /// The test's cookie.
    pub fn cookie(&self) -> &[u8; COOKIE_LEN] {
        &self.cookie
    }

    /// Where the test is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The client's parameters (defaults until they arrive).
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The data connections joined so far.
    pub fn streams(&self) -> &[StreamStat] {
        &self.streams[..self.stream_count]
    }

    /// Data connections the test needs.
    pub fn streams_wanted(&self) -> usize {
        let p = self.params.parallel as usize;
        if self.params.bidirectional { 2 * p } else { p }
    }

    /// Bytes waiting to go to the client on the control connection.
    pub fn pending(&self) -> &[u8] {
        &self.out[self.out_start..self.out_len]
    }

    /// `n` of the [`pending`](Self::pending) bytes went out.
    pub fn sent(&mut self, n: usize) {
        self.out_start = (self.out_start + n).min(self.out_len);
        if self.out_start == self.out_len {
            self.out_start = 0;
            self.out_len = 0;
        }
    }

    fn push(&mut self, bytes: &[u8]) -> bool {
        let end = self.out_len + bytes.len();
        if end > OUT_CAP {
            return false;
        }
        self.out[self.out_len..end].copy_from_slice(bytes);
        self.out_len = end;
        true
    }

    /// Ends the test with `SERVER_ERROR` and iperf3's error numbers.
    fn server_error(&mut self, i_errno: u32, sys_errno: u32, phase: Phase) {
        let mut msg = [0u8; 9];
        msg[0] = state::SERVER_ERROR;
        msg[1..5].copy_from_slice(&i_errno.to_be_bytes());
        msg[5..].copy_from_slice(&sys_errno.to_be_bytes());
        // Room is always there after what is pending; if not, the close says enough.
        let _ = self.push(&msg);
        self.phase = phase;
    }

    fn fail(&mut self, e: ControlError) {
        self.server_error(e.code(), 0, Phase::Failed(e));
    }

    /// Takes bytes the client sent on the control connection; returns how many it took
    /// (all of them, unless the test is over: what follows the end is left unread).
    pub fn feed(&mut self, now: Instant, mut input: &[u8]) -> usize {
        let total = input.len();
        while !input.is_empty() && !self.phase.is_over() {
            match self.phase {
                Phase::ParamsLength | Phase::ResultsLength => {
                    let take = (4 - self.hold_len).min(input.len());
                    self.hold[self.hold_len..self.hold_len + take].copy_from_slice(&input[..take]);
                    self.hold_len += take;
                    input = &input[take..];
                    if self.hold_len == 4 {
                        self.hold_len = 0;
                        self.on_length(u32::from_be_bytes(self.hold), now);
                    }
                }
                Phase::Params(len) => {
                    let take = (len as usize - self.input_len).min(input.len());
                    self.input[self.input_len..self.input_len + take]
                        .copy_from_slice(&input[..take]);
                    self.input_len += take;
                    input = &input[take..];
                    if self.input_len == len as usize {
                        self.on_params(now);
                    }
                }
                Phase::Results(left) => {
                    let take = (left as usize).min(input.len());
                    input = &input[take..];
                    let left = left - take as u32;
                    if left == 0 {
                        self.send_results(now);
                    } else {
                        self.phase = Phase::Results(left);
                    }
                }
                Phase::CreateStreams | Phase::Running | Phase::AwaitDone => {
                    let b = input[0];
                    input = &input[1..];
                    self.on_state(b, now);
                }
                Phase::Done | Phase::Refused(_) | Phase::Failed(_) | Phase::Aborted => {}
            }
        }
        total - input.len()
    }

    fn on_length(&mut self, len: u32, now: Instant) {
        self.since = now;
        match self.phase {
            Phase::ParamsLength if len == 0 || len as usize > MAX_PARAMS => {
                self.fail(ControlError::ParamsLength(len));
            }
            Phase::ParamsLength => {
                self.input_len = 0;
                self.phase = Phase::Params(len);
            }
            _ if len > MAX_CLIENT_RESULTS => self.fail(ControlError::ResultsLength(len)),
            _ if len == 0 => self.send_results(now),
            _ => self.phase = Phase::Results(len),
        }
    }

    fn on_params(&mut self, now: Instant) {
        self.since = now;
        match Params::parse(&self.input[..self.input_len]) {
            Err(e) => self.fail(ControlError::Params(e)),
            Ok(p) => {
                self.params = p;
                if let Some(r) = p.refusal() {
                    let (i, sys) = r.codes();
                    self.server_error(i, sys, Phase::Refused(r));
                } else {
                    self.phase = Phase::CreateStreams;
                    self.push(&[state::CREATE_STREAMS]);
                }
            }
        }
    }

    fn on_state(&mut self, b: u8, now: Instant) {
        match (self.phase, b) {
            (_, state::CLIENT_TERMINATE) => self.phase = Phase::Aborted,
            (Phase::Running, state::TEST_END) => {
                self.ended = now;
                self.since = now;
                self.phase = Phase::ResultsLength;
                self.push(&[state::EXCHANGE_RESULTS]);
            }
            (Phase::AwaitDone, state::IPERF_DONE) => self.phase = Phase::Done,
            (phase, state) => self.fail(ControlError::UnexpectedState {
                state,
                phase: phase.name(),
            }),
        }
    }

    fn send_results(&mut self, now: Instant) {
        self.since = now;
        let start = self.out_len + 4;
        let any_sender = self.streams().iter().any(|s| s.sender);
        let secs = (self.ended - self.started).micros() as f64 / 1e6;
        let [cpu_total, cpu_user, cpu_system] = self.cpu_percent();
        let written = {
            let Some(room) = self.out.get_mut(start..) else {
                return self.fail(ControlError::OutputFull);
            };
            let mut w = SliceWriter::new(room);
            let mut ok = write!(
                w,
                "{{\"cpu_util_total\":{cpu_total:.6},\"cpu_util_user\":{cpu_user:.6},\
                 \"cpu_util_system\":{cpu_system:.6},\"sender_has_retransmits\":{},\"streams\":[",
                if any_sender { 1 } else { -1 }
            )
            .is_ok();
            for (i, s) in self.streams[..self.stream_count].iter().enumerate() {
                ok &= write!(
                    w,
                    "{}{{\"id\":{},\"bytes\":{},\"retransmits\":{},\"jitter\":0,\"errors\":0,\
                     \"packets\":0,\"start_time\":0,\"end_time\":{secs:.6}}}",
                    if i == 0 { "" } else { "," },
                    stream_id(i),
                    s.bytes,
                    if s.sender { s.retransmits as i64 } else { -1 },
                )
                .is_ok();
            }
            ok &= w.write_str("]}").is_ok();
            ok.then_some(w.len())
        };
        let Some(n) = written.filter(|n| start + n < OUT_CAP) else {
            return self.fail(ControlError::OutputFull);
        };
        self.out[self.out_len..start].copy_from_slice(&(n as u32).to_be_bytes());
        self.out[start + n] = state::DISPLAY_RESULTS;
        self.out_len = start + n + 1;
        self.phase = Phase::AwaitDone;
    }

    /// A data connection with this test's cookie arrived at `now`.
    ///
    /// # Errors
    /// The test is not waiting for streams.
    pub fn add_stream(&mut self, now: Instant) -> Result<Joined, StreamRefused> {
        if self.phase != Phase::CreateStreams || self.stream_count >= self.streams_wanted() {
            return Err(StreamRefused::NotAccepting(self.phase));
        }
        let index = self.stream_count;
        // iperf3 accepts the client's sending streams first (all of them for a normal test,
        // the first half for --bidir), then the ones the server sends on.
        let receivers = if self.params.reverse {
            0
        } else {
            self.params.parallel as usize
        };
        let sender = index >= receivers;
        self.streams[index] = StreamStat {
            sender,
            bytes: 0,
            retransmits: 0,
        };
        self.stream_count += 1;
        let started = self.stream_count == self.streams_wanted();
        if started {
            self.phase = Phase::Running;
            // Bytes of the first `omit` seconds are left out, as iperf3's server resets its
            // counters when the omit time ends.
            self.started = now + Duration::from_secs(self.params.omit.min(MAX_OMIT_SECS));
            self.since = now;
            self.push(&[state::TEST_START, state::TEST_RUNNING]);
        }
        Ok(Joined {
            index,
            sender,
            started,
        })
    }

    /// Stream `index` moved `n` payload bytes at `now` (counted only while running, and not
    /// in the omitted first seconds; the `-n` limit counts them all).
    pub fn count(&mut self, index: usize, n: usize, now: Instant) {
        if self.phase == Phase::Running && n > 0 {
            if let Some(s) = self.streams[..self.stream_count].get_mut(index) {
                if now >= self.started {
                    s.bytes += n as u64;
                }
                if s.sender {
                    self.sent += n as u64;
                }
                self.since = now;
            }
        }
    }

    /// How many bytes stream `index` may send now (0 unless running; the `-n`/`-k` limit).
    pub fn may_send(&self, index: usize) -> u64 {
        let sender = self.streams[..self.stream_count]
            .get(index)
            .is_some_and(|s| s.sender);
        if self.phase != Phase::Running || !sender {
            return 0;
        }
        self.params.send_limit().saturating_sub(self.sent)
    }

    /// Records the retransmissions of sender stream `index` (taken at the test's end).
    pub fn set_retransmits(&mut self, index: usize, n: u64) {
        if let Some(s) = self.streams[..self.stream_count].get_mut(index) {
            s.retransmits = n;
        }
    }

    /// The control connection is gone (closed or reset by the client, or failed).
    pub fn control_gone(&mut self) {
        if !self.phase.is_over() {
            self.phase = if self.phase == Phase::AwaitDone {
                // The client has its results; it closed without IPERF_DONE.
                Phase::Done
            } else {
                Phase::Aborted
            };
        }
    }

    /// The test has waited or been idle longer than [`IDLE_LIMIT`] at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        !self.phase.is_over() && now - self.since > IDLE_LIMIT
    }

    /// Ends the test as aborted (the idle limit passed, or the server ends it).
    pub fn abort(&mut self) {
        if !self.phase.is_over() {
            self.phase = Phase::Aborted;
        }
    }

    /// From `TEST_RUNNING` (plus the omitted seconds) to `TEST_END` (0 before the end).
    pub fn duration(&self) -> Duration {
        self.ended - self.started
    }
}

/// iperf3's stream numbering: 1, then 3, 4, 5... (the client numbers its streams so and
/// matches the results by id).
pub fn stream_id(index: usize) -> usize {
    if index == 0 { 1 } else { index + 2 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOKIE: &[u8; COOKIE_LEN] = b"abcdefghijklmnopqrstuvwxyz234567abcd\0";

    fn t0() -> Instant {
        Instant::from_micros(1_000_000)
    }

    fn at(ms: u64) -> Instant {
        t0() + Duration::from_millis(ms)
    }

    fn framed(json: &str) -> Vec<u8> {
        let mut v = (json.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(json.as_bytes());
        v
    }

    fn take(t: &mut Test) -> Vec<u8> {
        let v = t.pending().to_vec();
        t.sent(v.len());
        v
    }

    /// A test through the parameters, expecting CREATE_STREAMS.
    fn with_params(json: &str) -> Box<Test> {
        let mut t = Test::new(COOKIE, t0());
        assert_eq!(take(&mut t), [state::PARAM_EXCHANGE]);
        let bytes = framed(json);
        // Byte by byte: the machine must not care how the input is cut.
        for b in &bytes {
            assert_eq!(t.feed(at(1), std::slice::from_ref(b)), 1);
        }
        t
    }

    fn results_json(out: &[u8]) -> (String, u8) {
        let n = u32::from_be_bytes(out[..4].try_into().unwrap()) as usize;
        assert_eq!(out.len(), 4 + n + 1, "length, JSON, DISPLAY_RESULTS");
        (
            String::from_utf8(out[4..4 + n].to_vec()).unwrap(),
            out[4 + n],
        )
    }

    #[test]
    fn a_normal_test_runs_to_iperf_done() {
        let mut t =
            with_params(r#"{"tcp":true,"omit":0,"time":2,"num":0,"parallel":2,"len":131072}"#);
        assert_eq!(t.phase(), Phase::CreateStreams);
        assert_eq!(take(&mut t), [state::CREATE_STREAMS]);
        assert_eq!(t.params().time, 2);
        let a = t.add_stream(at(2)).unwrap();
        assert_eq!((a.index, a.sender, a.started), (0, false, false));
        assert!(take(&mut t).is_empty());
        let b = t.add_stream(at(3)).unwrap();
        assert_eq!((b.index, b.sender, b.started), (1, false, true));
        assert_eq!(take(&mut t), [state::TEST_START, state::TEST_RUNNING]);
        assert_eq!(t.phase(), Phase::Running);
        assert_eq!(
            t.add_stream(at(4)),
            Err(StreamRefused::NotAccepting(Phase::Running))
        );
        t.count(0, 1000, at(100));
        t.count(1, 500, at(100));
        t.count(7, 500, at(100)); // no such stream: ignored
        assert_eq!(t.may_send(0), 0, "receivers do not send");
        t.feed(at(2003), &[state::TEST_END]);
        assert_eq!(take(&mut t), [state::EXCHANGE_RESULTS]);
        // The caller's CPU samples: 1 s user and 0.5 s system over the 2 s of the test.
        let ms = Duration::from_millis;
        t.cpu_at_start(CpuSample {
            at: at(3),
            user: ms(100),
            system: ms(50),
        });
        t.cpu_at_end(CpuSample {
            at: at(2003),
            user: ms(1100),
            system: ms(550),
        });
        t.count(0, 1000, at(2004)); // after TEST_END: not counted
        // The client's results arrive in two pieces and are skipped.
        let client = framed(r#"{"cpu_util_total":1,"streams":[]}"#);
        t.feed(at(2005), &client[..7]);
        assert!(t.pending().is_empty());
        t.feed(at(2006), &client[7..]);
        let (json, last) = results_json(&take(&mut t));
        assert_eq!(last, state::DISPLAY_RESULTS);
        assert!(json.contains(r#""sender_has_retransmits":-1"#), "{json}");
        assert!(
            json.contains(
                r#""cpu_util_total":75.000000,"cpu_util_user":50.000000,"cpu_util_system":25.000000"#
            ),
            "{json}"
        );
        assert!(
            json.contains(r#"{"id":1,"bytes":1000,"retransmits":-1,"jitter":0,"errors":0,"packets":0,"start_time":0,"end_time":2.000000}"#),
            "{json}"
        );
        assert!(json.contains(r#"{"id":3,"bytes":500,"#), "{json}");
        // What we send is JSON our own reader accepts.
        json::for_each_member(json.as_bytes(), |_, _| {}).unwrap();
        assert_eq!(t.phase(), Phase::AwaitDone);
        t.feed(at(2007), &[state::IPERF_DONE]);
        assert_eq!(t.phase(), Phase::Done);
        assert_eq!(
            t.feed(at(2008), &[1, 2, 3]),
            0,
            "nothing is read after the end"
        );
    }

    #[test]
    fn reverse_and_bidirectional_streams_send_with_limits() {
        let mut t = with_params(r#"{"tcp":true,"reverse":true,"parallel":1,"num":3000}"#);
        take(&mut t);
        let s = t.add_stream(at(2)).unwrap();
        assert!(s.sender && s.started);
        assert_eq!(t.may_send(0), 3000);
        t.count(0, 2000, at(3));
        assert_eq!(t.may_send(0), 1000);
        t.count(0, 1000, at(4));
        assert_eq!(t.may_send(0), 0);
        t.set_retransmits(0, 7);
        t.feed(at(5), &[state::TEST_END]);
        take(&mut t);
        t.feed(at(5), &[0, 0, 0, 0]); // empty client results are fine
        let (json, _) = results_json(&take(&mut t));
        assert!(json.contains(r#""sender_has_retransmits":1"#), "{json}");
        assert!(json.contains(r#""bytes":3000,"retransmits":7"#), "{json}");

        let mut t = with_params(r#"{"tcp":true,"bidirectional":true,"parallel":2}"#);
        take(&mut t);
        assert_eq!(t.streams_wanted(), 4);
        let roles: Vec<bool> = (0..4)
            .map(|i| t.add_stream(at(i)).unwrap().sender)
            .collect();
        assert_eq!(roles, [false, false, true, true]);
        assert_eq!(t.may_send(2), u64::MAX);
        assert_eq!(stream_id(3), 5);
        let mut t = with_params(r#"{"tcp":true,"blockcount":3,"len":100,"reverse":1}"#);
        take(&mut t);
        t.add_stream(at(1)).unwrap();
        assert_eq!(t.may_send(0), 300);
    }

    fn error_reply(out: &[u8]) -> (u32, u32) {
        assert_eq!(out.len(), 9, "{out:?}");
        assert_eq!(out[0], state::SERVER_ERROR);
        (
            u32::from_be_bytes(out[1..5].try_into().unwrap()),
            u32::from_be_bytes(out[5..9].try_into().unwrap()),
        )
    }

    #[test]
    fn tests_the_server_will_not_run_are_refused_with_iperf3s_error() {
        for (json, refusal, code) in [
            (
                r#"{"udp":true,"time":1,"parallel":1,"bandwidth":1048576}"#,
                Refusal::Udp,
                errno::IEUNIMP,
            ),
            (
                r#"{"sctp":true,"parallel":1}"#,
                Refusal::Sctp,
                errno::IEUNIMP,
            ),
            (
                r#"{"tcp":true,"reverse":true,"bidirectional":true}"#,
                Refusal::ReverseAndBidirectional,
                errno::IEREVERSEBIDIR,
            ),
            (
                r#"{"tcp":true,"parallel":17}"#,
                Refusal::Streams(17),
                errno::IENUMSTREAMS,
            ),
            (
                r#"{"tcp":true,"parallel":0}"#,
                Refusal::Streams(0),
                errno::IENUMSTREAMS,
            ),
        ] {
            let mut t = with_params(json);
            assert_eq!(t.phase(), Phase::Refused(refusal), "{json}");
            assert_eq!(error_reply(&take(&mut t)).0, code, "{json}");
            assert!(t.add_stream(at(2)).is_err());
        }
    }

    #[test]
    fn hostile_control_input_ends_the_test_with_a_typed_error() {
        // A length over the cap: refused before any of the object is read.
        let mut t = Test::new(COOKIE, t0());
        take(&mut t);
        let n = t.feed(at(1), &(MAX_PARAMS as u32 + 1).to_be_bytes());
        assert_eq!(n, 4);
        assert_eq!(
            t.phase(),
            Phase::Failed(ControlError::ParamsLength(MAX_PARAMS as u32 + 1))
        );
        assert_eq!(error_reply(&take(&mut t)).0, errno::IERECVPARAMS);
        assert_eq!(t.feed(at(2), b"{}"), 0);
        // u32::MAX and zero lengths too.
        for len in [u32::MAX, 0] {
            let mut t = Test::new(COOKIE, t0());
            t.feed(at(1), &len.to_be_bytes());
            assert_eq!(t.phase(), Phase::Failed(ControlError::ParamsLength(len)));
        }
        // Not JSON.
        let t = with_params("{\"tcp\":tru}");
        assert!(matches!(
            t.phase(),
            Phase::Failed(ControlError::Params(JsonError { .. }))
        ));
        // An unknown state byte while waiting for streams, and a known one out of turn.
        for (b, phase) in [
            (99u8, "create streams"),
            (state::IPERF_DONE, "create streams"),
        ] {
            let mut t = with_params(r#"{"tcp":true}"#);
            take(&mut t);
            t.feed(at(2), &[b]);
            assert_eq!(
                t.phase(),
                Phase::Failed(ControlError::UnexpectedState { state: b, phase })
            );
            assert_eq!(error_reply(&take(&mut t)).0, errno::IEMESSAGE);
        }
        // Client results over the cap.
        let mut t = with_params(r#"{"tcp":true}"#);
        t.add_stream(at(2)).unwrap();
        t.feed(at(3), &[state::TEST_END]);
        take(&mut t);
        t.feed(at(4), &(MAX_CLIENT_RESULTS + 1).to_be_bytes());
        assert_eq!(
            t.phase(),
            Phase::Failed(ControlError::ResultsLength(MAX_CLIENT_RESULTS + 1))
        );
        // CLIENT_TERMINATE in the middle of a test, and a vanished client.
        let mut t = with_params(r#"{"tcp":true}"#);
        t.add_stream(at(2)).unwrap();
        t.feed(at(3), &[state::CLIENT_TERMINATE]);
        assert_eq!(t.phase(), Phase::Aborted);
        let mut t = with_params(r#"{"tcp":true}"#);
        t.control_gone();
        assert_eq!(t.phase(), Phase::Aborted);
    }

    #[test]
    fn omitted_seconds_are_not_counted() {
        let mut t =
            with_params(r#"{"tcp":true,"time":3,"omit":1,"parallel":1,"reverse":true,"num":5000}"#);
        take(&mut t);
        t.add_stream(at(0)).unwrap();
        t.count(0, 1000, at(500));
        assert_eq!(t.streams()[0].bytes, 0, "omitted");
        assert_eq!(t.may_send(0), 4000, "the -n limit counts omitted bytes");
        t.count(0, 700, at(1500));
        t.feed(at(3000), &[state::TEST_END]);
        assert_eq!(t.streams()[0].bytes, 700);
        assert_eq!(t.duration(), Duration::from_secs(2));
    }

    #[test]
    fn idle_tests_expire() {
        let mut t = with_params(r#"{"tcp":true,"time":1}"#);
        assert!(!t.expired(at(1) + IDLE_LIMIT));
        assert!(t.expired(at(2) + IDLE_LIMIT));
        t.add_stream(at(5000)).unwrap();
        t.count(0, 10, at(9000));
        assert!(!t.expired(at(9000) + IDLE_LIMIT));
        assert!(t.expired(at(9001) + IDLE_LIMIT));
        t.abort();
        assert!(
            !t.expired(at(100_000)),
            "an ended test does not expire again"
        );
    }

    #[test]
    fn cookies_are_checked() {
        assert!(valid_cookie(COOKIE));
        assert!(!valid_cookie(&COOKIE[..36]));
        let mut bad = *COOKIE;
        bad[36] = b'x';
        assert!(!valid_cookie(&bad));
        bad = *COOKIE;
        bad[3] = b' ';
        assert!(!valid_cookie(&bad));
    }

    #[test]
    fn random_control_input_never_panics_and_stays_bounded() {
        let mut x: u64 = 0xDEAD_BEEF_CAFE_F00D;
        let mut buf = [0u8; 256];
        for round in 0..3000 {
            let mut t = if round % 2 == 0 {
                Test::new(COOKIE, t0())
            } else {
                with_params(r#"{"tcp":true,"parallel":1}"#)
            };
            if round % 4 == 1 {
                let _ = t.add_stream(at(1));
            }
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let len = (x % 256) as usize;
                for (i, b) in buf[..len].iter_mut().enumerate() {
                    *b = (x >> (i % 8 * 8)) as u8 ^ i as u8;
                }
                let n = t.feed(at(2), &buf[..len]);
                assert!(n <= len);
                assert!(t.pending().len() <= OUT_CAP);
                let p = t.pending().len();
                t.sent(p);
            }
        }
    }
}
