//! An iperf3 server (TCP tests) over the TCP engine, so the stock `iperf3 -c` client measures
//! ferrotoe: normal tests (the client sends, the server discards), reverse (`-R`: the server
//! sends the [`chargen`](super::chargen) stream at full speed until the client's `TEST_END`),
//! `--bidir`, `-P` parallel streams, `-t`, `-n` and `-k`. UDP and SCTP tests are refused with
//! iperf3's `SERVER_ERROR` message, which the client prints.
//!
//! Every connection to the port starts with the client's 37-byte cookie. A cookie that
//! belongs to a test waiting for its data connections makes the connection one of them; a
//! cookie of a test that is past that point is refused (`ACCESS_DENIED`, counted as a stray
//! stream); any other cookie opens a new test on a control connection, as the real server
//! does when it is idle. Up to [`MAX_TESTS`] tests run at once (iperf3 runs one); one more is
//! told `ACCESS_DENIED` ("the server is busy").
//!
//! The protocol itself is [`control::Test`], a state machine without I/O; this module moves
//! bytes between it and the engine and keeps the per-connection roles. The control channel
//! is hostile input: a parameter object over [`control::MAX_PARAMS`] bytes, malformed JSON, a
//! state byte out of turn, a cookie that is not one, a test idle for
//! [`control::IDLE_LIMIT`], a client that resets or vanishes: each ends that test (or
//! connection) with a counted, typed reason ([`Iperf3Stats`]) and the server serves on.
//!
//! **No allocation**: the test table (input and output buffers inside each [`control::Test`])
//! is allocated when the server is built; received data is discarded in place in the receive
//! ring (`read_with`), sent data comes from the chargen table. Owns the iperf3 roles of
//! connections and the test table; it must not contain TCP logic (the engine's).

pub mod control;
pub mod json;

use tcp_engine::endpoint::EndpointError;
use tcp_engine::table::SlotKey;
use tcp_engine::time::Instant;

use super::{AppEndpoint, Ctx};
use control::{
    COOKIE_LEN, ControlError, CpuSample, IDLE_LIMIT, MAX_STREAMS, Phase, Refusal, Test, state,
};

/// Tests served at once.
pub const MAX_TESTS: usize = 4;

/// What one connection to the iperf3 port is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IperfConn {
    /// Waiting for the cookie (since the SYN at this instant).
    Cookie {
        /// When the connection opened.
        since: Instant,
    },
    /// The control connection of test slot `test` (generation `generation`).
    Control {
        /// The slot.
        test: u8,
        /// Its generation when the test began.
        generation: u32,
    },
    /// Data stream `stream` of test slot `test` (generation `generation`).
    Data {
        /// The slot.
        test: u8,
        /// Its generation when the test began.
        generation: u32,
        /// The stream's index in the test.
        stream: u8,
    },
    /// The control connection of a test that is over (since this instant): its last message
    /// is on the way; the server waits for the client to close first (so the client reads it
    /// and the close is not simultaneous), at most [`IDLE_LIMIT`].
    Lingering {
        /// When the test ended.
        since: Instant,
    },
    /// Refused or over: read and discarded until the client closes.
    Closing,
}

impl IperfConn {
    /// A connection just accepted at `now`.
    pub const fn new(now: Instant) -> IperfConn {
        IperfConn::Cookie { since: now }
    }
}

/// Counters of the iperf3 service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Iperf3Stats {
    /// Tests that ran to `IPERF_DONE` (or to the results, if the client then just closed).
    pub completed: u64,
    /// Tests refused after their parameters (UDP, SCTP, `-R` with `--bidir`, `-P` out of
    /// range).
    pub refused: u64,
    /// UDP tests among the refused.
    pub refused_udp: u64,
    /// Tests ended for breaking the protocol (oversized or malformed JSON, a state out of
    /// turn).
    pub failed: u64,
    /// Tests the client terminated, reset, or left idle past the limit.
    pub aborted: u64,
    /// Control connections told "busy" (every test slot taken).
    pub busy: u64,
    /// Data connections whose test was not waiting for streams.
    pub stray_streams: u64,
    /// Connections whose first 37 bytes were not a cookie, or that closed or idled before.
    pub bad_cookies: u64,
    /// Data bytes received by completed tests (as reported to their clients).
    pub bytes_received: u64,
    /// Data bytes sent by completed tests (as reported to their clients).
    pub bytes_sent: u64,
    /// The latest protocol violation.
    pub last_error: Option<ControlError>,
    /// The latest refusal.
    pub last_refusal: Option<Refusal>,
}

/// One slot of the test table.
#[derive(Clone, Debug)]
struct Slot {
    test: Test,
    generation: u32,
    in_use: bool,
    control: Option<SlotKey>,
    streams: [Option<SlotKey>; MAX_STREAMS],
    /// Chargen offset of each sending stream.
    offsets: [u64; MAX_STREAMS],
    streams_closed: bool,
}

/// The table of tests, allocated once.
#[derive(Debug)]
pub struct Tests {
    slots: Vec<Slot>,
}

impl Tests {
    /// `n` test slots (0 when no iperf3 service is served).
    pub fn new(n: usize) -> Tests {
        Tests {
            slots: (0..n)
                .map(|_| Slot {
                    test: Test::idle(),
                    generation: 0,
                    in_use: false,
                    control: None,
                    streams: [None; MAX_STREAMS],
                    offsets: [0; MAX_STREAMS],
                    streams_closed: false,
                })
                .collect(),
        }
    }

    /// Tests running now.
    pub fn active(&self) -> usize {
        self.slots.iter().filter(|s| s.in_use).count()
    }

    fn live(&mut self, test: u8, generation: u32) -> Option<&mut Slot> {
        self.slots
            .get_mut(usize::from(test))
            .filter(|s| s.in_use && s.generation == generation)
    }
}

/// Runs connection `key` after an event: reads the cookie and takes its role, feeds the
/// control machine, discards or sends data. `peer_closed`: the client closed its side.
///
/// # Errors
/// The connection went away under the call (a stale key).
pub fn pump(
    conn: &mut IperfConn,
    ep: &mut AppEndpoint,
    key: SlotKey,
    ctx: &mut Ctx<'_>,
    peer_closed: bool,
) -> Result<(), EndpointError> {
    if let IperfConn::Cookie { .. } = conn {
        take_cookie(conn, ep, key, ctx, peer_closed)?;
    }
    match *conn {
        IperfConn::Cookie { .. } => Ok(()),
        IperfConn::Control { test, generation } => {
            let Some(slot) = ctx.iperf.live(test, generation) else {
                *conn = IperfConn::Lingering { since: ctx.now };
                return linger(conn, ep, key, ctx, peer_closed);
            };
            let now = ctx.now;
            let was_running = slot.test.phase() == Phase::Running;
            loop {
                let n = ep.read_with(key, |b| slot.test.feed(now, b))?;
                ctx.service.bytes_in += n as u64;
                if n == 0 {
                    break;
                }
            }
            if was_running && slot.test.phase() != Phase::Running {
                if let Some(sample) = cpu_sample(now) {
                    slot.test.cpu_at_end(sample);
                }
            }
            if peer_closed {
                slot.test.control_gone();
            }
            after_control(ep, usize::from(test), ctx)?;
            if ctx.iperf.live(test, generation).is_none() {
                *conn = IperfConn::Lingering { since: ctx.now };
                linger(conn, ep, key, ctx, peer_closed)?;
            }
            Ok(())
        }
        IperfConn::Lingering { .. } => linger(conn, ep, key, ctx, peer_closed),
        IperfConn::Data {
            test,
            generation,
            stream,
        } => {
            let stream = usize::from(stream);
            let now = ctx.now;
            let mut live = ctx.iperf.live(test, generation);
            loop {
                let n = ep.read_with(key, |b| b.len())?;
                if n == 0 {
                    break;
                }
                ctx.service.bytes_in += n as u64;
                if let Some(slot) = live.as_deref_mut() {
                    slot.test.count(stream, n, now);
                }
            }
            match live {
                Some(slot) if slot.test.phase() == Phase::Running => {
                    send(ep, key, slot, stream, ctx.chargen, ctx.service, now)?;
                    Ok(())
                }
                Some(_) => Ok(()),
                None => {
                    *conn = IperfConn::Closing;
                    drain_and_close(ep, key, ctx)
                }
            }
        }
        IperfConn::Closing => drain_and_close(ep, key, ctx),
    }
}

/// Connection `key` is over (closed, reset, timed out): a control connection's test is
/// aborted, a data connection leaves its test.
pub fn gone(conn: IperfConn, ep: &mut AppEndpoint, ctx: &mut Ctx<'_>) {
    match conn {
        IperfConn::Control { test, generation } => {
            if let Some(slot) = ctx.iperf.live(test, generation) {
                slot.control = None;
                slot.test.control_gone();
                let _ = after_control(ep, usize::from(test), ctx);
            }
        }
        IperfConn::Data {
            test,
            generation,
            stream,
        } => {
            if let Some(slot) = ctx.iperf.live(test, generation) {
                slot.streams[usize::from(stream)] = None;
            }
        }
        IperfConn::Cookie { .. } => ctx.stats.iperf3.bad_cookies += 1,
        IperfConn::Lingering { .. } | IperfConn::Closing => {}
    }
}

/// Ends tests idle past [`IDLE_LIMIT`] (connections are [`expire`]d one by one).
pub fn sweep(ep: &mut AppEndpoint, ctx: &mut Ctx<'_>) {
    for i in 0..ctx.iperf.slots.len() {
        let slot = &mut ctx.iperf.slots[i];
        if slot.in_use && slot.test.expired(ctx.now) {
            slot.test.abort();
            let _ = after_control(ep, i, ctx);
        }
    }
}

/// Closes a connection that has waited past [`IDLE_LIMIT`]: for its cookie (counted as a
/// bad cookie), or for the client's close after its test.
///
/// # Errors
/// A stale key.
pub fn expire(
    conn: &mut IperfConn,
    ep: &mut AppEndpoint,
    key: SlotKey,
    ctx: &mut Ctx<'_>,
) -> Result<(), EndpointError> {
    match *conn {
        IperfConn::Cookie { since } if ctx.now - since > IDLE_LIMIT => {
            ctx.stats.iperf3.bad_cookies += 1;
            *conn = IperfConn::Closing;
            ep.close(ctx.now, key)
        }
        IperfConn::Lingering { since } if ctx.now - since > IDLE_LIMIT => {
            *conn = IperfConn::Closing;
            ep.close(ctx.now, key)
        }
        _ => Ok(()),
    }
}

/// A lingering control connection: discards input; closes once the client has closed.
fn linger(
    conn: &mut IperfConn,
    ep: &mut AppEndpoint,
    key: SlotKey,
    ctx: &mut Ctx<'_>,
    peer_closed: bool,
) -> Result<(), EndpointError> {
    drain(ep, key, ctx)?;
    if peer_closed {
        *conn = IperfConn::Closing;
        ep.close(ctx.now, key)?;
    }
    Ok(())
}

fn drain(ep: &mut AppEndpoint, key: SlotKey, ctx: &mut Ctx<'_>) -> Result<(), EndpointError> {
    loop {
        let n = ep.read_with(key, |b| b.len())?;
        if n == 0 {
            return Ok(());
        }
        ctx.service.bytes_in += n as u64;
    }
}

fn drain_and_close(
    ep: &mut AppEndpoint,
    key: SlotKey,
    ctx: &mut Ctx<'_>,
) -> Result<(), EndpointError> {
    drain(ep, key, ctx)?;
    ep.close(ctx.now, key)
}

/// Refuses connection `key` with `ACCESS_DENIED` and closes it.
fn deny(
    conn: &mut IperfConn,
    ep: &mut AppEndpoint,
    key: SlotKey,
    ctx: &mut Ctx<'_>,
) -> Result<(), EndpointError> {
    *conn = IperfConn::Closing;
    ctx.service.bytes_out += ep.write(key, &[state::ACCESS_DENIED])? as u64;
    drain_and_close(ep, key, ctx)
}

fn take_cookie(
    conn: &mut IperfConn,
    ep: &mut AppEndpoint,
    key: SlotKey,
    ctx: &mut Ctx<'_>,
    peer_closed: bool,
) -> Result<(), EndpointError> {
    if ep.readable(key).unwrap_or(0) < COOKIE_LEN {
        if peer_closed {
            ctx.stats.iperf3.bad_cookies += 1;
            *conn = IperfConn::Closing;
            return drain_and_close(ep, key, ctx);
        }
        return Ok(());
    }
    let mut cookie = [0u8; COOKIE_LEN];
    let n = ep.read(key, &mut cookie)?;
    ctx.service.bytes_in += n as u64;
    if n != COOKIE_LEN || !control::valid_cookie(&cookie) {
        ctx.stats.iperf3.bad_cookies += 1;
        *conn = IperfConn::Closing;
        return drain_and_close(ep, key, ctx);
    }
    let now = ctx.now;
    let slots = &mut ctx.iperf.slots;
    if let Some(i) = slots
        .iter()
        .position(|s| s.in_use && s.test.cookie() == &cookie)
    {
        let slot = &mut slots[i];
        let Ok(joined) = slot.test.add_stream(now) else {
            ctx.stats.iperf3.stray_streams += 1;
            return deny(conn, ep, key, ctx);
        };
        slot.streams[joined.index] = Some(key);
        slot.offsets[joined.index] = 0;
        *conn = IperfConn::Data {
            test: i as u8,
            generation: slot.generation,
            stream: joined.index as u8,
        };
        if joined.started {
            if let Some(sample) = cpu_sample(now) {
                slot.test.cpu_at_start(sample);
            }
            // TEST_START, TEST_RUNNING; then every sending stream starts.
            after_control(ep, i, ctx)?;
            let slot = &mut ctx.iperf.slots[i];
            for s in 0..slot.test.streams().len() {
                if let Some(k) = slot.streams[s] {
                    if k != key && slot.test.streams()[s].sender {
                        send(ep, k, slot, s, ctx.chargen, ctx.service, now)?;
                    }
                }
            }
        }
        return Ok(());
    }
    let Some(i) = slots.iter().position(|s| !s.in_use) else {
        ctx.stats.iperf3.busy += 1;
        return deny(conn, ep, key, ctx);
    };
    let slot = &mut slots[i];
    slot.in_use = true;
    slot.test.begin(&cookie, now);
    slot.control = Some(key);
    slot.streams = [None; MAX_STREAMS];
    slot.streams_closed = false;
    *conn = IperfConn::Control {
        test: i as u8,
        generation: slot.generation,
    };
    after_control(ep, i, ctx)
}

/// Writes what stream `index` of `slot` may send now (the chargen stream, as much as the
/// send buffer and the test's byte limit allow) and notes its retransmissions.
fn send(
    ep: &mut AppEndpoint,
    key: SlotKey,
    slot: &mut Slot,
    index: usize,
    chargen: &super::chargen::Chargen,
    service: &mut super::server::ServiceStats,
    now: Instant,
) -> Result<(), EndpointError> {
    loop {
        let allow = slot.test.may_send(index);
        let space = ep.send_space(key).unwrap_or(0);
        let n = usize::try_from(allow).unwrap_or(usize::MAX).min(space);
        if n == 0 {
            break;
        }
        let put = ep.write(key, chargen.slice(slot.offsets[index], n))?;
        if put == 0 {
            break;
        }
        slot.offsets[index] += put as u64;
        slot.test.count(index, put, now);
        service.bytes_out += put as u64;
    }
    if let Some(tcb) = ep.tcb(key) {
        slot.test
            .set_retransmits(index, u64::from(tcb.counters().retransmitted_segments));
    }
    Ok(())
}

/// After the control machine of slot `i` moved: sends its output, closes the data
/// connections once the test has stopped running, and ends the test when it is over.
fn after_control(ep: &mut AppEndpoint, i: usize, ctx: &mut Ctx<'_>) -> Result<(), EndpointError> {
    let now = ctx.now;
    let slot = &mut ctx.iperf.slots[i];
    let mut result = Ok(());
    if let Some(key) = slot.control {
        while !slot.test.pending().is_empty() {
            match ep.write(key, slot.test.pending()) {
                Ok(0) => break,
                Ok(n) => {
                    slot.test.sent(n);
                    ctx.service.bytes_out += n as u64;
                }
                Err(e) => {
                    slot.test.abort();
                    result = Err(e);
                    break;
                }
            }
        }
    }
    let phase = slot.test.phase();
    let stopped = !matches!(
        phase,
        Phase::ParamsLength | Phase::Params(_) | Phase::CreateStreams | Phase::Running
    );
    if stopped && !slot.streams_closed {
        slot.streams_closed = true;
        for k in slot.streams.iter().flatten() {
            // Closing twice does nothing; a stale key is gone already.
            let _ = ep.close(now, *k);
        }
    }
    if phase.is_over() {
        // The client closes after its last message (see `IperfConn::Lingering`); one that
        // went away gets the close now.
        if let Some(key) = slot.control.take() {
            if phase == Phase::Aborted {
                let _ = ep.close(now, key);
            }
        }
        let st = &mut ctx.stats.iperf3;
        match phase {
            Phase::Done => {
                st.completed += 1;
                for s in slot.test.streams() {
                    if s.sender {
                        st.bytes_sent += s.bytes;
                    } else {
                        st.bytes_received += s.bytes;
                    }
                }
            }
            Phase::Refused(r) => {
                st.refused += 1;
                st.refused_udp += u64::from(r == Refusal::Udp);
                st.last_refusal = Some(r);
            }
            Phase::Failed(e) => {
                st.failed += 1;
                st.last_error = Some(e);
            }
            _ => st.aborted += 1,
        }
        slot.in_use = false;
        slot.generation = slot.generation.wrapping_add(1);
    }
    result
}

/// The process's CPU time now (one `getrusage`, no allocation), for the results' CPU figures;
/// `None` when the kernel refuses (the figures then stay 0).
fn cpu_sample(now: Instant) -> Option<CpuSample> {
    let cpu = crate::measure::process_cpu_time().ok()?;
    Some(CpuSample {
        at: now,
        user: tcp_engine::time::Duration::from_micros(cpu.user.as_micros() as u64),
        system: tcp_engine::time::Duration::from_micros(cpu.system.as_micros() as u64),
    })
}
