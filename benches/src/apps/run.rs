//! The poll loops of `ferrotoe serve` and `ferrotoe connect` over a real device with the
//! operating system's clock: poll, and when a round did nothing, sleep on the device until a
//! frame arrives or the endpoint's next deadline, at most [`MAX_SLEEP`] so a stop request (a
//! signal handler setting a flag) is seen promptly.
//!
//! Owns the loops only; what happens per round is the server's and the client's.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tcp_engine::time::{Instant, StdClock};

use super::client::{Client, ClientError, Progress};
use super::device::WaitDevice;
use super::server::Server;

/// Longest a loop sleeps before looking at its stop flag again.
pub const MAX_SLEEP: Duration = Duration::from_millis(50);

/// How long to sleep for a deadline (`None`: [`MAX_SLEEP`]).
fn sleep_for(clock: &StdClock, deadline: Option<Instant>) -> Duration {
    deadline.map_or(MAX_SLEEP, |d| clock.until(d).min(MAX_SLEEP))
}

/// After a stop request, how long the server keeps taking in what is already on its way (a
/// last ACK, a client's reset) so the final counters include it: until this long passes
/// without traffic, and at most [`DRAIN_MAX`] (long enough for a simulated RTL NIC, which
/// moves about a megabyte per second, to hand over the frames it holds).
pub const DRAIN_QUIET: Duration = Duration::from_millis(100);
/// The longest drain after a stop request.
pub const DRAIN_MAX: Duration = Duration::from_secs(1);

/// Serves until `stop` is set, then drains briefly (see [`DRAIN_QUIET`]).
///
/// # Errors
/// The device failed.
pub fn serve<D: WaitDevice>(
    server: &mut Server,
    device: &mut D,
    clock: &StdClock,
    stop: &AtomicBool,
) -> io::Result<()> {
    while !stop.load(Ordering::Relaxed) {
        let r = server.poll(clock.now(), device);
        if r.received == 0 && r.transmitted == 0 && r.events == 0 {
            let sleep = sleep_for(clock, server.next_deadline());
            if !sleep.is_zero() {
                device.wait(sleep)?;
            }
        }
    }
    let start = clock.now();
    let mut quiet_since = start;
    loop {
        let now = clock.now();
        if now - start >= DRAIN_MAX.into() || now - quiet_since >= DRAIN_QUIET.into() {
            return Ok(());
        }
        let r = server.poll(now, device);
        if r.received + r.transmitted + r.events > 0 {
            quiet_since = now;
        } else {
            device.wait(Duration::from_millis(2))?;
        }
    }
}

/// How a client run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientEnd {
    /// The transfer is complete.
    Done,
    /// The transfer failed.
    Failed(ClientError),
    /// `stop` was set first.
    Stopped,
    /// The time limit passed first.
    TimeLimit,
}

/// Runs the client until it is done or failed, `stop` is set, or `limit` passes.
///
/// # Errors
/// The device failed.
pub fn run_client<D: WaitDevice>(
    client: &mut Client,
    device: &mut D,
    clock: &StdClock,
    stop: &AtomicBool,
    limit: Option<Duration>,
) -> io::Result<ClientEnd> {
    let end = limit.map(|l| clock.now() + l.into());
    loop {
        let now = clock.now();
        let r = client.poll(now, device);
        match client.progress() {
            Progress::Done => return Ok(ClientEnd::Done),
            Progress::Failed(e) => {
                // Let an abort's RST leave.
                client.poll(clock.now(), device);
                return Ok(ClientEnd::Failed(e));
            }
            Progress::Running => {}
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(ClientEnd::Stopped);
        }
        if end.is_some_and(|e| now >= e) {
            return Ok(ClientEnd::TimeLimit);
        }
        if r.received == 0 && r.transmitted == 0 && r.events == 0 {
            let deadline = match (client.next_deadline(), end) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sleep = sleep_for(clock, deadline);
            if !sleep.is_zero() {
                device.wait(sleep)?;
            }
        }
    }
}
