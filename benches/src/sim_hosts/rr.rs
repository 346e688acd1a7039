//! Request/response between the two simulated hosts: one connection, `transactions` times the
//! client sends a request of `request_bytes` and waits for the server's response of
//! `response_bytes`. Both streams carry the verification pattern and every byte is checked.
//! The latency of each transaction (from the client application's first write of the request
//! to its read of the response's last byte) is recorded on the simulated clock and on the
//! wall clock, and summarised as percentiles.
//!
//! Owns the workload's loop and the latency summary; the connection's handshake and close are
//! outside the recorded latencies.

use std::fmt;
use std::time::{Duration, Instant as WallInstant};

use serde::{Deserialize, Serialize};
use tcp_engine::endpoint::{Buffers, EndpointError};
use tcp_engine::table::SlotKey;
use tcp_engine::tcb::{Events, State};

use super::{Retransmissions, SERVER_IP, Side, SimHosts, SimHostsError};
use crate::pattern::{PERIOD, Pattern};

/// The server's port.
pub const RR_PORT: u16 = 5002;
/// Most transactions one run records (8 bytes of latency each, twice).
pub const MAX_TRANSACTIONS: u64 = 50_000_000;
/// Largest request or response.
pub const MAX_MESSAGE: usize = 16 << 20;
/// Rounds the handshake or the close may take (a bound; a few suffice).
const SETUP_ROUNDS: u32 = 100_000;

/// One request/response run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RrSpec {
    /// Request/response transactions.
    pub transactions: u64,
    /// Bytes of each request.
    pub request_bytes: usize,
    /// Bytes of each response.
    pub response_bytes: usize,
    /// Give up after this much wall time without a transaction completing.
    pub stall_timeout: Duration,
}

impl RrSpec {
    /// Send and receive buffer of the connection's ends: two of the larger message, 64 KiB to
    /// 4 MiB.
    pub fn buffer(&self) -> usize {
        (self.request_bytes.max(self.response_bytes) * 2).clamp(64 << 10, 4 << 20)
    }

    /// `transactions` of 64-byte requests and 1 KiB responses.
    pub fn new(transactions: u64) -> RrSpec {
        RrSpec {
            transactions,
            request_bytes: 64,
            response_bytes: 1024,
            stall_timeout: Duration::from_secs(10),
        }
    }
}

/// A summary of latencies, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latencies {
    /// Samples.
    pub count: u64,
    /// Smallest.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Latencies {
    /// Summarises `samples` (nanoseconds; sorted in place). All zero when empty.
    pub fn of_nanos(samples: &mut [u64]) -> Latencies {
        if samples.is_empty() {
            return Latencies::default();
        }
        samples.sort_unstable();
        let n = samples.len();
        // Nearest-rank percentile: the smallest sample with at least p of the samples at or
        // below it.
        let rank = |p: f64| samples[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        let us = |ns: u64| ns as f64 / 1000.0;
        Latencies {
            count: n as u64,
            min: us(samples[0]),
            mean: samples.iter().map(|&s| s as f64).sum::<f64>() / n as f64 / 1000.0,
            p50: us(rank(0.50)),
            p90: us(rank(0.90)),
            p99: us(rank(0.99)),
            p999: us(rank(0.999)),
            max: us(samples[n - 1]),
        }
    }
}

/// What a request/response run did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RrOutcome {
    /// Transactions completed.
    pub transactions: u64,
    /// Request and response bytes read and checked against the pattern.
    pub bytes_verified: u64,
    /// Wall time of the transactions (handshake and close excluded).
    pub wall: Duration,
    /// Simulated time of the same span, in microseconds.
    pub sim_us: u64,
    /// Thread CPU time spent stepping the NICs over the same span.
    pub nic_cpu: Duration,
    /// Rounds run over the same span.
    pub rounds: u64,
    /// Latency per transaction on the simulated clock.
    pub latency_sim: Latencies,
    /// Latency per transaction on the wall clock.
    pub latency_wall: Latencies,
    /// Retransmissions of both connections.
    pub retransmissions: Retransmissions,
}

/// Why a request/response run failed.
#[derive(Debug)]
pub enum RrError {
    /// The spec cannot run.
    Spec(String),
    /// The hosts failed (stalled, a device fault).
    Hosts(SimHostsError),
    /// The connection failed, or an application call was refused.
    Connection(String),
    /// A byte differs from the pattern.
    Corrupt {
        /// "request" or "response".
        stream: &'static str,
        /// Offset of the first wrong byte in that direction's stream.
        offset: u64,
    },
    /// No transaction completed for the stall timeout.
    Stalled {
        /// Transactions completed.
        done: u64,
        /// Transactions asked for.
        expected: u64,
    },
}

impl fmt::Display for RrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RrError::Spec(why) => write!(f, "request/response: {why}"),
            RrError::Hosts(e) => write!(f, "request/response: {e}"),
            RrError::Connection(why) => write!(f, "request/response: {why}"),
            RrError::Corrupt { stream, offset } => write!(
                f,
                "request/response: the {stream} stream differs from what was sent at offset \
                 {offset}"
            ),
            RrError::Stalled { done, expected } => write!(
                f,
                "request/response stalled after {done} of {expected} transactions: no \
                 transaction completed within the stall timeout"
            ),
        }
    }
}

// Display already includes any inner error's message, so `source` stays `None` (error
// chains printed with `{:#}` would repeat it).
impl std::error::Error for RrError {}

impl From<SimHostsError> for RrError {
    fn from(e: SimHostsError) -> Self {
        RrError::Hosts(e)
    }
}

fn app_error(side: Side, what: &str, e: EndpointError) -> RrError {
    RrError::Connection(format!(
        "the {} application's {what} failed: {e}",
        side.as_str()
    ))
}

/// One direction's message in progress: bytes written or read of the current message, and
/// the stream offset (for the pattern).
#[derive(Clone, Copy, Debug, Default)]
struct Stream {
    done: usize,
    offset: u64,
}

/// Writes up to `len - s.done` more bytes of the pattern; returns whether the message is
/// complete.
fn write_message(
    hosts: &mut SimHosts,
    side: Side,
    key: SlotKey,
    source: &[u8],
    len: usize,
    s: &mut Stream,
) -> Result<bool, RrError> {
    while s.done < len {
        let at = (s.offset % PERIOD as u64) as usize;
        let n = (len - s.done).min(source.len() - PERIOD);
        let wrote = hosts
            .endpoint(side)
            .write(key, &source[at..at + n])
            .map_err(|e| app_error(side, "write", e))?;
        if wrote == 0 {
            return Ok(false);
        }
        s.done += wrote;
        s.offset += wrote as u64;
    }
    Ok(true)
}

/// Reads up to `len - s.done` more bytes and checks them; returns whether the message is
/// complete.
#[allow(clippy::too_many_arguments)]
fn read_message(
    hosts: &mut SimHosts,
    side: Side,
    key: SlotKey,
    pattern: &Pattern,
    sink: &mut [u8],
    len: usize,
    s: &mut Stream,
    stream: &'static str,
) -> Result<bool, RrError> {
    while s.done < len {
        let want = (len - s.done).min(sink.len());
        let n = hosts
            .endpoint(side)
            .read(key, &mut sink[..want])
            .map_err(|e| app_error(side, "read", e))?;
        if n == 0 {
            return Ok(false);
        }
        pattern
            .check(s.offset, &sink[..n])
            .map_err(|m| RrError::Corrupt {
                stream,
                offset: m.offset,
            })?;
        s.done += n;
        s.offset += n as u64;
    }
    Ok(true)
}

/// Runs the request/response workload on `hosts`, calling `progress` with the transactions
/// completed so far after every round. The connection is closed and released when it returns
/// `Ok`.
pub fn run_rr(
    hosts: &mut SimHosts,
    spec: &RrSpec,
    progress: &mut dyn FnMut(u64),
) -> Result<RrOutcome, RrError> {
    if spec.transactions == 0 || spec.transactions > MAX_TRANSACTIONS {
        return Err(RrError::Spec(format!(
            "{} transactions: use 1 to {MAX_TRANSACTIONS}",
            spec.transactions
        )));
    }
    for (what, n) in [
        ("request", spec.request_bytes),
        ("response", spec.response_bytes),
    ] {
        if !(1..=MAX_MESSAGE).contains(&n) {
            return Err(RrError::Spec(format!(
                "a {what} of {n} bytes: use 1 to {MAX_MESSAGE}"
            )));
        }
    }
    let buf = spec.buffer();
    let chunk = buf.min(256 << 10);
    let pattern = Pattern::new(chunk);
    let mut source = vec![0u8; PERIOD + chunk];
    pattern.fill(0, &mut source);
    let mut sink = vec![0u8; chunk];
    let mut sim_lat = Vec::with_capacity(spec.transactions as usize);
    let mut wall_lat = Vec::with_capacity(spec.transactions as usize);

    let (client, server) = open(hosts, buf)?;
    let started = WallInstant::now();
    let (sim0, nic0, rounds0) = (hosts.now(), hosts.nic_cpu(), hosts.rounds().0);
    let (mut request, mut response) = (Stream::default(), Stream::default());
    let (mut req_in, mut resp_out) = (Stream::default(), Stream::default());
    // The client's transaction in progress: when it started (sim us, wall), whether the
    // request is fully written.
    let mut current: Option<(u64, WallInstant)> = None;
    let mut request_written = false;
    let mut responding = false;
    let mut done = 0u64;
    let mut last_done = WallInstant::now();
    let mut failure: Option<String> = None;
    while done < spec.transactions {
        let now = hosts.now();
        let mut moved = false;
        // The client: start a transaction, finish writing its request.
        if current.is_none() {
            current = Some((now.micros(), WallInstant::now()));
            request_written = false;
            request.done = 0;
            response.done = 0;
        }
        if !request_written {
            let before = request.done;
            request_written = write_message(
                hosts,
                Side::Client,
                client,
                &source,
                spec.request_bytes,
                &mut request,
            )?;
            moved |= request.done > before;
        }
        for side in Side::BOTH {
            hosts.poll(side, |_, open| {
                if open.events.contains(Events::RESET) || open.events.contains(Events::CLOSED) {
                    failure.get_or_insert_with(|| {
                        format!("the {} connection ended early", side.as_str())
                    });
                }
            });
        }
        if let Some(why) = failure.take() {
            return Err(RrError::Connection(why));
        }
        // The server: read a whole request, then answer it.
        if !responding {
            let before = req_in.done;
            if read_message(
                hosts,
                Side::Server,
                server,
                &pattern,
                &mut sink,
                spec.request_bytes,
                &mut req_in,
                "request",
            )? {
                responding = true;
                req_in.done = 0;
                resp_out.done = 0;
            }
            moved |= req_in.done > before || responding;
        }
        if responding {
            let before = resp_out.done;
            if write_message(
                hosts,
                Side::Server,
                server,
                &source,
                spec.response_bytes,
                &mut resp_out,
            )? {
                responding = false;
            }
            moved |= resp_out.done > before;
        }
        // The client: read the response.
        let before = response.done;
        if read_message(
            hosts,
            Side::Client,
            client,
            &pattern,
            &mut sink,
            spec.response_bytes,
            &mut response,
            "response",
        )? {
            let (sim_start, wall_start) = current.take().unwrap_or((now.micros(), started));
            sim_lat.push(now.micros().saturating_sub(sim_start) * 1000);
            wall_lat.push(wall_start.elapsed().as_nanos() as u64);
            done += 1;
            last_done = WallInstant::now();
            progress(done);
            if done == spec.transactions {
                break;
            }
            // The next request goes out in this round's place of the next round.
            continue;
        }
        moved |= response.done > before;
        hosts.end_round(moved, || {
            format!(
                "a response ({done} of {} transactions done)",
                spec.transactions
            )
        })?;
        if last_done.elapsed() > spec.stall_timeout {
            return Err(RrError::Stalled {
                done,
                expected: spec.transactions,
            });
        }
    }
    let wall = started.elapsed();
    let sim_us = hosts.now().saturating_since(sim0).micros();
    let nic_cpu = hosts.nic_cpu().saturating_sub(nic0);
    let rounds = hosts.rounds().0 - rounds0;
    let retransmissions = hosts.close_pair(client, server)?;
    let bytes_verified = done * (spec.request_bytes + spec.response_bytes) as u64;
    Ok(RrOutcome {
        transactions: done,
        bytes_verified,
        wall,
        sim_us,
        nic_cpu,
        rounds,
        latency_sim: Latencies::of_nanos(&mut sim_lat),
        latency_wall: Latencies::of_nanos(&mut wall_lat),
        retransmissions,
    })
}

/// Opens the connection: the server listens, the client connects; rounds until both are
/// established.
fn open(hosts: &mut SimHosts, buf: usize) -> Result<(SlotKey, SlotKey), RrError> {
    hosts
        .endpoint(Side::Server)
        .listen(RR_PORT, Buffers::with_capacity(buf, buf))
        .map_err(|(e, _)| app_error(Side::Server, "listen", e))?;
    let now = hosts.now();
    let client = hosts
        .endpoint(Side::Client)
        .connect(now, SERVER_IP, RR_PORT, Buffers::with_capacity(buf, buf))
        .map_err(|(e, _)| app_error(Side::Client, "connect", e))?;
    let mut server = None;
    for _ in 0..SETUP_ROUNDS {
        hosts.poll(Side::Client, |_, _| {});
        hosts.poll(Side::Server, |_, open| {
            if open.events.contains(Events::SYN_TO_LISTENER) {
                server = Some(open.key);
            }
        });
        let established = |side: Side, key: SlotKey| {
            hosts.host(side).endpoint.state(key) == Some(State::Established)
        };
        if let Some(s) = server {
            if established(Side::Client, client) && established(Side::Server, s) {
                return Ok((client, s));
            }
        }
        hosts.end_round(false, || "the request/response connection to open".into())?;
    }
    Err(RrError::Connection(format!(
        "the connection did not open within {SETUP_ROUNDS} rounds"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut s: Vec<u64> = (1..=1000).rev().map(|i| i * 1000).collect();
        let l = Latencies::of_nanos(&mut s);
        assert_eq!(l.count, 1000);
        assert_eq!((l.min, l.max), (1.0, 1000.0));
        assert_eq!((l.p50, l.p90, l.p99, l.p999), (500.0, 900.0, 990.0, 999.0));
        assert!((l.mean - 500.5).abs() < 1e-9);
        let one = Latencies::of_nanos(&mut [7000]);
        assert_eq!((one.p50, one.p999, one.max), (7.0, 7.0, 7.0));
        assert_eq!(Latencies::of_nanos(&mut []), Latencies::default());
    }
}
