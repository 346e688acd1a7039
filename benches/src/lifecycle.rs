//! Connection lifecycles per second: the engine's cost of a whole short connection
//! (handshake, one request and its response, close) with both ends on one thread, issue #3's
//! "500,000 complete connection lifecycles per second".
//!
//! A client endpoint and a server endpoint over a perfect in-memory link (checksums offloaded
//! and elided, as in the bulk benchmark's `csum` cell), on the wall clock. The client keeps
//! [`LifecycleConfig::concurrency`] connections open at a time; each connects (the request
//! rides on the ACK that completes the handshake), sends [`LifecycleConfig::request`] bytes,
//! reads the [`LifecycleConfig::response`] bytes the server answers with, and closes; the
//! server closes when the client has (HTTP/1.0 style, the client holds TIME-WAIT) and
//! recycles the slot into listening again (the server keeps `concurrency + 8` slots
//! listening). A lifecycle is complete when the client's connection reaches TIME-WAIT (or
//! CLOSED): both FINs sent and acknowledged. The client then takes its buffers back for the
//! next connection, so nothing is allocated per connection; its slot lingers in TIME-WAIT for
//! [`LifecycleConfig::time_wait`] (short, as a data-center stack configures it: a 60 s
//! TIME-WAIT at this rate would hold 30 million slots).
//!
//! Owns the lifecycle workload. Must not time itself beyond the wall clock of one run.

use std::time::{Duration as WallDuration, Instant as WallInstant};

use tcp_engine::device::FrameDevice;
use tcp_engine::endpoint::{BoxedEndpoint, Buffers, EndpointConfig, Recycled};
use tcp_engine::link::{LinkConfig, LinkEnd, SimClock, offload_caps, pair};
use tcp_engine::table::HashSecret;
use tcp_engine::tcb::{Events, RingBuffer, State, TcbConfig};
use tcp_engine::time::{Duration, StdClock};
use tcp_engine::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr};

type Bufs = Buffers<RingBuffer<Box<[u8]>>>;
type Ep = BoxedEndpoint<Bufs>;

const PORT: u16 = 80;

/// One run of the lifecycle workload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LifecycleConfig {
    /// Complete lifecycles to run.
    pub connections: u64,
    /// Connections the client keeps open at once.
    pub concurrency: usize,
    /// Request bytes (client to server).
    pub request: usize,
    /// Response bytes (server to client).
    pub response: usize,
    /// 2 * MSL of both ends.
    pub time_wait: Duration,
    /// Send and receive buffer of each connection.
    pub buffer: usize,
}

impl LifecycleConfig {
    /// 100,000 lifecycles, 64 at a time, a 100-byte request and a 1000-byte response, 4 KiB
    /// buffers, 1 ms TIME-WAIT.
    pub const DEFAULT: LifecycleConfig = LifecycleConfig {
        connections: 100_000,
        concurrency: 64,
        request: 100,
        response: 1000,
        time_wait: Duration::from_millis(1),
        buffer: 4096,
    };
}

/// What a run did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LifecycleReport {
    /// Complete lifecycles.
    pub connections: u64,
    /// Wall time of the run (set-up excluded).
    pub elapsed: WallDuration,
    /// CPU time the running thread used (set-up excluded): on a shared machine the wall time
    /// also holds the time other processes had the core.
    pub cpu: WallDuration,
    /// Frames both ends sent.
    pub frames: u64,
    /// Iterations of the poll loop.
    pub polls: u64,
}

impl LifecycleReport {
    /// Lifecycles per second.
    pub fn per_second(&self) -> f64 {
        self.connections as f64 / self.elapsed.as_secs_f64()
    }

    /// Lifecycles per second of the thread's CPU time (what the rate would be with the core to
    /// itself).
    pub fn per_cpu_second(&self) -> f64 {
        self.connections as f64 / self.cpu.as_secs_f64()
    }
}

/// Both ends and their devices, set up for a run.
pub struct Lifecycles {
    config: LifecycleConfig,
    client: Ep,
    server: Ep,
    dev_c: LinkEnd,
    dev_s: LinkEnd,
    /// Buffers of the client's next connections.
    spare: Vec<Bufs>,
    /// Request bytes each server slot has read from its current connection.
    served: Vec<usize>,
    _link_clock: SimClock,
}

fn host(n: u8, config: &LifecycleConfig, slots: usize) -> Result<Ep, String> {
    let address = Ipv4Cidr::new(Ipv4Address::new(198, 18, 0, n), 24).ok_or("bad prefix")?;
    let secret = HashSecret::from_os_random().map_err(|e| e.to_string())?;
    let mut ep_config = EndpointConfig::new(
        EthernetAddress([2, 0, 0, 0, 0, n]),
        address,
        offload_caps(1500, false),
        secret,
    );
    ep_config.tcb = TcbConfig {
        time_wait: config.time_wait,
        ..TcbConfig::DATACENTER
    };
    ep_config.rx_burst = usize::MAX;
    Ep::with_capacity(ep_config, slots).map_err(|e| e.to_string())
}

impl Lifecycles {
    /// Builds both ends: endpoints, listening slots, the client's buffers, the link.
    ///
    /// # Errors
    /// A configuration that cannot run (zero sizes), or an endpoint that cannot be built.
    pub fn new(config: LifecycleConfig) -> Result<Lifecycles, String> {
        if config.concurrency == 0 || config.request == 0 || config.response == 0 {
            return Err("concurrency, request and response must be at least 1".into());
        }
        if config.request > config.buffer || config.response > config.buffer {
            return Err("request and response must fit the connection buffers".into());
        }
        // TIME-WAIT remnants: at a million lifecycles a second, time_wait's worth of them.
        let lingering = (config.time_wait.micros() as usize).saturating_add(64);
        let client = host(1, &config, config.concurrency + lingering)?;
        let server_slots = 2 * config.concurrency + 16;
        let mut server = host(2, &config, server_slots)?;
        for _ in 0..config.concurrency + 8 {
            server
                .listen(PORT, Buffers::with_capacity(config.buffer, config.buffer))
                .map_err(|(e, _)| e.to_string())?;
        }
        let mut link = LinkConfig::new(offload_caps(1500, false));
        link.elide_offloaded_checksums = true;
        link.queue_frames = 64 * config.concurrency + 64;
        let clock = SimClock::new();
        let (dev_c, dev_s) = pair(&link, &clock).map_err(|e| e.to_string())?;
        let spare = (0..config.concurrency)
            .map(|_| Buffers::with_capacity(config.buffer, config.buffer))
            .collect();
        Ok(Lifecycles {
            config,
            client,
            server,
            dev_c,
            dev_s,
            spare,
            served: vec![0; server_slots],
            _link_clock: clock,
        })
    }

    /// Runs the lifecycles.
    ///
    /// # Errors
    /// A connection that failed (reset, refused, a wrong response) or a run that stalled.
    pub fn run(&mut self) -> Result<LifecycleReport, String> {
        let c = self.config;
        let clock = StdClock::new();
        let to = Ipv4Address::new(198, 18, 0, 2);
        let request = vec![0x51u8; c.request];
        let response = vec![0x52u8; c.response];
        let mut scratch = vec![0u8; c.buffer];
        // Response bytes each client slot has received on its current connection.
        let mut received: Vec<usize> = vec![0; self.client.capacity()];
        let (mut open, mut started, mut done, mut polls) = (0usize, 0u64, 0u64, 0u64);
        let mut failure: Option<String> = None;
        let cpu_before = crate::sys::thread_cpu_time().map_err(|e| format!("CPU time: {e}"))?;
        let began = WallInstant::now();
        let mut last_progress = (0u64, WallInstant::now());
        while done < c.connections {
            polls += 1;
            let now = clock.now();
            while open < c.concurrency && started < c.connections {
                let bufs = self.spare.pop().ok_or("client buffers ran out")?;
                let key = self
                    .client
                    .connect(now, to, PORT, bufs)
                    .map_err(|(e, _)| format!("connect: {e}"))?;
                // The request waits in the send buffer and rides on the handshake's ACK.
                let n = self
                    .client
                    .write(key, &request)
                    .map_err(|e| e.to_string())?;
                if n != c.request {
                    return Err("the request did not fit the send buffer".into());
                }
                received[key.index() as usize] = 0;
                open += 1;
                started += 1;
            }
            let server = &mut self.server;
            let served = &mut self.served;
            server.poll(now, &mut self.dev_s, |ep, o| {
                let slot = o.key.index() as usize;
                if o.events.contains(Events::SYN_TO_LISTENER) {
                    served[slot] = 0;
                }
                if o.events.contains(Events::READABLE) {
                    // A short read drained the receive buffer: no second read to learn it.
                    while let Ok(n @ 1..) = ep.read(o.key, &mut scratch) {
                        if scratch[..n] != request[..n.min(c.request)] {
                            failure = Some("the server read a wrong request".into());
                        }
                        served[slot] += n;
                        // The whole request has arrived: answer it.
                        if served[slot] == c.request {
                            let _ = ep.write(o.key, &response);
                        }
                        if n < scratch.len() {
                            break;
                        }
                    }
                }
                if o.events.contains(Events::PEER_CLOSED) {
                    let _ = ep.close(now, o.key);
                }
                if o.events.contains(Events::RESET) {
                    failure = Some(format!("server connection reset: {:?}", o.events));
                }
                if o.events.contains(Events::CLOSED) {
                    match ep.recycle(o.key) {
                        Ok(Recycled::Listening(_)) => {}
                        Ok(Recycled::Released(_)) => {
                            failure = Some("a server slot did not listen again".into());
                        }
                        Err(e) => failure = Some(format!("recycle: {e}")),
                    }
                }
            });
            let client = &mut self.client;
            let spare = &mut self.spare;
            client.poll(now, &mut self.dev_c, |ep, o| {
                if o.events.contains(Events::RESET) {
                    failure = Some(format!("client connection reset: {:?}", o.events));
                    return;
                }
                let slot = o.key.index() as usize;
                if o.events.contains(Events::READABLE) {
                    while let Ok(n @ 1..) = ep.read(o.key, &mut scratch) {
                        if scratch[..n] != response[..n.min(c.response)] {
                            failure = Some("the client read a wrong response".into());
                        }
                        received[slot] += n;
                        if n < scratch.len() {
                            break;
                        }
                    }
                    if received[slot] == c.response {
                        let _ = ep.close(now, o.key);
                    }
                }
                if matches!(ep.state(o.key), Some(State::TimeWait | State::Closed)) {
                    match ep.release(o.key) {
                        Ok(mut bufs) => {
                            bufs.send.clear();
                            bufs.recv.clear();
                            spare.push(bufs);
                            open -= 1;
                            done += 1;
                        }
                        Err(e) => failure = Some(format!("release: {e}")),
                    }
                }
            });
            if let Some(why) = failure.take() {
                return Err(why);
            }
            if done != last_progress.0 {
                last_progress = (done, WallInstant::now());
            } else if polls % 4096 == 0 && last_progress.1.elapsed() > WallDuration::from_secs(5) {
                return Err(format!("stalled after {done} lifecycles with {open} open"));
            }
        }
        let elapsed = began.elapsed();
        let cpu = crate::sys::thread_cpu_time().map_err(|e| format!("CPU time: {e}"))?;
        let cpu = cpu.saturating_sub(cpu_before);
        let frames = self.client.counters().tx_frames + self.server.counters().tx_frames;
        Ok(LifecycleReport {
            connections: done,
            elapsed,
            cpu,
            frames,
            polls,
        })
    }

    /// The client's device (its counters).
    pub fn client_device(&self) -> &impl FrameDevice {
        &self.dev_c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycles_complete_with_their_requests_and_responses() {
        for concurrency in [1, 16, 64] {
            let config = LifecycleConfig {
                connections: 3000,
                concurrency,
                ..LifecycleConfig::DEFAULT
            };
            let mut run = Lifecycles::new(config).unwrap();
            let report = run.run().unwrap();
            assert_eq!(report.connections, 3000);
            // SYN, SYN-ACK, the ACK carrying the request, the response, the client's FIN
            // (carrying the ACK of the response), the server's FIN with the ACK of the
            // client's, the last ACK: seven frames, plus the ARP request and reply once.
            assert_eq!(report.frames, 3000 * 7 + 2, "{report:?}");
            assert_eq!(run.client.counters().resets, 0);
            assert_eq!(run.client.counters().timeouts, 0);
            assert_eq!(run.client.counters().connects, 3000);
            assert_eq!(run.server.counters().accepts, 3000);
            // The server keeps enough slots listening: the default SYN-cookie policy stays
            // out of the way (every SYN takes a slot).
            assert_eq!(run.server.counters().syn_cookies_sent, 0);
            run.client.check_invariants().unwrap();
            run.server.check_invariants().unwrap();
        }
    }

    #[test]
    fn refuses_sizes_that_cannot_run() {
        for config in [
            LifecycleConfig {
                concurrency: 0,
                ..LifecycleConfig::DEFAULT
            },
            LifecycleConfig {
                response: 5000,
                ..LifecycleConfig::DEFAULT
            },
        ] {
            assert!(Lifecycles::new(config).is_err());
        }
    }
}
