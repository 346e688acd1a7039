//! Two simulated hosts on one thread: each is a tcp-engine [`Endpoint`](tcp_engine::endpoint)
//! on the host driver on a simulated ferrotoe NIC, and the two NICs are joined by a simulated
//! cable. What `ferrotoe demo`, the `model`/`rtl` backends of the bulk benchmark and the
//! end-to-end tests run on.
//!
//! ```text
//!   client 198.18.0.1                                     server 198.18.0.2
//!   Endpoint -> NicFrameDevice -> host-driver             Endpoint -> NicFrameDevice -> host-driver
//!                 | sim-link (BAR0, DMA, doorbells)                    | sim-link
//!             SimNic (model | RTL) ==== cable (impairment, pcap) ==== SimNic (model | RTL)
//! ```
//!
//! # How it runs
//! Stepped and deterministic by default: one thread drives both endpoints and both NICs (see
//! "NIC thread" below for the parallel option). A *round*
//! ([`SimHosts::poll`] for each host, the applications' work, then [`SimHosts::end_round`])
//! polls each endpoint once (receive burst, send phase, one doorbell), then steps both NICs
//! until neither has anything left to do: every frame sent in a round is in the peer's receive
//! ring at its end. The receive rings hold a full window ([`SimHostsConfig::max_window`]) of
//! full-sized frames, so a host that reads every round never loses a frame to a full ring.
//!
//! # NIC thread
//! With [`SimHostsConfig::nic_thread`] both NICs and the cable are stepped by a thread of their
//! own, in parallel with the hosts' thread, as a real NIC works beside its host's CPU. Hosts
//! and NICs then form a pipeline: [`SimHosts::end_round`] does not wait for the NICs after a
//! round in which the hosts did something, so a frame sent in one round may land in any later
//! one. A round in which the hosts did nothing waits until the NICs move something or go idle;
//! only then (everything in flight has landed) does the clock jump to a timer. Runs are exact
//! (every byte verified) but not reproducible frame for frame: the interleaving depends on
//! timing. Device time follows the clock as the NIC thread reads it. [`SimHosts::nic_cpu`] is
//! then the NIC thread's CPU time (idle spinning included), and the process's CPU time minus
//! it is the hosts' cost. Request/response latencies on the simulated clock assume the
//! stepped mode.
//!
//! # Simulated time
//! Both endpoints and both NICs run on one simulated clock (microseconds; the NICs' device time
//! follows it). A round in which anything happened advances it by the time the busier
//! direction's bytes take at the line rate ([`SimHostsConfig::line_rate_bps`]; at least 1 us);
//! a round in which nothing happened jumps it to the next timer of either endpoint (a delayed
//! ACK, a retransmission timeout), so timeouts cost no wall time. Latencies and goodput "in
//! simulated time" are on this clock: a model of a wire, not a measurement.
//!
//! # Bottleneck
//! With [`SimHostsConfig::bottleneck`] each direction of the cable has a line rate and a
//! drop-tail queue (rtl-sim's `wire::bottleneck`) on device time, i.e. on this clock: the
//! hosts' NICs send at [`SimHostsConfig::line_rate_bps`] into a slower line, as servers into a
//! switch port; an optional one-way delay after the line gives the path a base RTT (without
//! one it is a few rounds, a few simulated microseconds). A frame then lands in the round in
//! which the clock passes its departure (plus the delay). A
//! round in which the NICs only delivered frames counts as active (the clock moves on by at
//! least 1 us), and an idle round jumps to the earlier of the next timer and the next frame
//! leaving a queue, so the clock never skips a departure. The NIC-thread mode has no such
//! hook and refuses a bottleneck.
//!
//! # CPU accounting
//! [`SimHosts::nic_cpu`] is the thread CPU time spent stepping the simulated NICs (the device
//! models, the cable, the capture file). Subtracted from the process's CPU time it leaves the
//! hosts' own cost: engines, drivers and applications. That is the figure offloads change: with
//! checksum offload the host stops summing bytes and the NIC model starts. In the stepped mode
//! it is estimated without a system call per round (`nic_cpu` module): each round's NIC
//! stepping is timed on the monotonic clock, and the sum is scaled by the thread's on-CPU
//! fraction since the hosts were built (so time lost to preemption counts for neither side).
//!
//! # Offloads
//! [`SimHostsConfig::offload`] `None` uses everything the device offers (TSO and checksums on the
//! reference device); a mode the device cannot do is a [`SimHostsError::Offload`]. The engine is
//! told exactly the chosen mode; in mode `none` the NICs' receive checksum verification is off
//! too, so the engines verify every checksum in software.
//!
//! # Backends
//! `model` (the Rust reference model, default) or `rtl` (the Verilog device under Verilator).
//! A build without rtl-sim's `rtl` feature (Verilator) cannot make the `rtl` core: it fails
//! with [`SimHostsError::Backend`] carrying rtl-sim's typed [`BackendError`], which says how
//! to build it.
//!
//! Owns the set-up of the pair, the round and clock discipline, and the counters of a run
//! ([`SimHostsCounters`]). The workloads live in [`bulk`] (bulk transfer, and the `BulkStack`
//! of the benchmark for backends `model` and `rtl`) and [`rr`] (request/response);
//! [`sharded`] builds multi-queue hosts (one endpoint per RSS queue) on the same set-up. Must not
//! contain protocol, driver or device logic: those are tcp-engine's, host-driver's and
//! rtl-sim's.

pub mod bulk;
pub mod counters;
mod nic_cpu;
mod nic_thread;
pub mod rr;
pub mod sharded;

pub use bulk::{
    BulkApp, BulkOutcome, BulkSpec, FerrotoeSimBulk, bulk_run, run_bulk, run_bulk_with,
};
pub use counters::{CableCounters, HostCounters, Retransmissions, SimHostsCounters};
pub use rr::{Latencies, RrOutcome, RrSpec, run_rr};
pub use sharded::{
    RssSteering, Shard, ShardedBulkOutcome, ShardedBulkSpec, ShardedHost, ShardedHosts,
    run_sharded_bulk,
};

use std::cell::Cell;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use host_driver::nic::PacketPool;
use host_driver::{DeviceError, Nic, NicConfig, QueueConfig, SimDevice};
use hw_spec::DeviceCaps;
use rtl_sim::device::DeviceConfig;
use rtl_sim::nic::{BackendError, Clock, SimNic, SteppedNic, build_core};
use rtl_sim::wire::Port;
use rtl_sim::wire::bottleneck::Bottleneck;
use rtl_sim::wire::cable::{CableConfig, CableEnd};
use rtl_sim::wire::impair::Impairment;
use rtl_sim::wire::pcap::Capture;
use sim_link::{AttachOptions, DeviceLink, LinkConfig};
use tcp_engine::device::{FrameDevice, OffloadCaps};
use tcp_engine::endpoint::{
    BoxedEndpoint, Buffers, EndpointConfig, EndpointError, NoSink, Open, PollReport, ReceiveSink,
};
use tcp_engine::table::HashSecret;
use tcp_engine::table::SlotKey;
use tcp_engine::tcb::{Events, RingBuffer, State, TcbConfig};
use tcp_engine::time::Instant;
use tcp_engine::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr};

pub use rtl_sim::nic::Backend as NicBackend;

use crate::nic::NicFrameDevice;
use crate::workload::OffloadMode;

/// The connection buffers of the hosts' endpoints.
pub type HostBuffers = Buffers<RingBuffer<Box<[u8]>>>;
/// The endpoint of one host.
pub type HostEndpoint = BoxedEndpoint<HostBuffers>;
/// The frame device of one host: the engine's adapter over queue pair 0 of its NIC.
pub type HostDevice = NicFrameDevice<SimDevice>;

/// The client's IPv4 address (RFC 2544 benchmarking range).
pub const CLIENT_IP: Ipv4Address = Ipv4Address::new(198, 18, 0, 1);
/// The server's IPv4 address.
pub const SERVER_IP: Ipv4Address = Ipv4Address::new(198, 18, 0, 2);
/// Prefix length of the hosts' subnet.
pub const PREFIX: u8 = 24;
/// Smallest IP MTU the hosts take (the IPv4 minimum every host must accept, RFC 791).
pub const MIN_MTU: u16 = 576;
/// The simulated clock's value when the hosts are built (1 s: no timer starts at zero).
const START_US: u64 = 1_000_000;
/// Fewest ring entries (log2) of each queue: 1024 frames.
const MIN_RING_LOG2: u8 = 10;
/// Most ring entries (log2): the reference device's largest ring, 32768.
const MAX_RING_LOG2: u8 = 15;
/// Frames beyond a full window that a receive ring holds (ACKs, window probes, slack).
const RING_SLACK: usize = 256;
/// Large buffers (TSO super-frames; with TSO every transmitted frame uses one).
const LARGE_BUFFERS: u32 = 192;
/// Frames in flight on the cable per direction: two device steps of frames (a TSO request
/// starts only when the cable can take all its segments; the NICs are stepped until both are
/// idle, so a shorter cable costs steps, never frames).
const CABLE_SLOTS: u32 = 128;
/// Frames an endpoint takes from its device per poll, by default.
pub const RX_BURST: usize = 256;
/// Rounds a closing handshake may take (a bound; a few suffice).
const CLOSE_ROUNDS: u32 = 100_000;
/// Most NIC steps per round (a bound, never reached by a well-behaved pair).
const MAX_STEPS_PER_ROUND: u32 = 100_000;
/// Longest the hosts wait for the NIC thread to finish a round (a bound, as above).
const NIC_THREAD_TIMEOUT: Duration = Duration::from_secs(10);

/// One of the two hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// 198.18.0.1, cable end A (the captured end).
    Client,
    /// 198.18.0.2, cable end B.
    Server,
}

impl Side {
    /// Both sides, client first.
    pub const BOTH: [Side; 2] = [Side::Client, Side::Server];

    /// The host's name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }

    /// The other host.
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }

    fn index(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }

    /// The host's IPv4 address.
    pub fn address(self) -> Ipv4Address {
        match self {
            Side::Client => CLIENT_IP,
            Side::Server => SERVER_IP,
        }
    }

    fn mac(self) -> EthernetAddress {
        EthernetAddress([2, 0, 0x18, 0, 0, 1 + self.index() as u8])
    }
}

/// How the two hosts are built.
#[derive(Clone, Debug, PartialEq)]
pub struct SimHostsConfig {
    /// Device implementation of both NICs.
    pub backend: NicBackend,
    /// Offloads the engines use; `None`: everything the device offers.
    pub offload: Option<OffloadMode>,
    /// IP MTU of both hosts (the Ethernet frame is 14 bytes longer).
    pub mtu: u16,
    /// Seeded impairment of the cable, per direction (side B uses the seed plus one).
    pub impairment: Impairment,
    /// A line rate, queue and threshold marking on each direction of the cable, after the
    /// impairment ([`Bottleneck::OFF`]: none; see "Bottleneck" in the module docs).
    pub bottleneck: Bottleneck,
    /// Capture both directions of the cable (as seen from the client's end) to this file.
    pub pcap: Option<PathBuf>,
    /// Connection behaviour of both endpoints. The MSS is derived from the MTU and TSO limits
    /// from the device.
    pub tcb: TcbConfig,
    /// Connections each endpoint can hold (listening slots included).
    pub connections: usize,
    /// Frames each endpoint takes from its device per poll (at least 1).
    pub rx_burst: usize,
    /// The largest receive window (socket buffer) the workloads will use: the queues' rings
    /// are sized to hold it in full-sized frames (1,024 to 32,768 entries).
    pub max_window: usize,
    /// Seed of the endpoints' hash secrets (ISNs, ephemeral ports): runs are reproducible.
    pub seed: u64,
    /// Line rate of the simulated wire in bit/s, for the simulated clock; `None`: the device's
    /// datapath (width x clock, 128 Gbit/s on the reference device).
    pub line_rate_bps: Option<u64>,
    /// Run both NICs and the cable on a thread of their own, in parallel with the hosts (see
    /// "NIC thread" in the module docs); `false`: stepped by the hosts' thread, deterministic.
    pub nic_thread: bool,
}

impl SimHostsConfig {
    /// The defaults: model backend, every offload the device has, MTU 1500, a perfect cable,
    /// no capture, [`TcbConfig::DATACENTER`], 16 connections per host, receive bursts of 256
    /// frames, rings for windows of 1 MiB, seed 1, the NICs stepped by the hosts' thread.
    pub fn new() -> SimHostsConfig {
        SimHostsConfig {
            backend: NicBackend::Model,
            offload: None,
            mtu: 1500,
            impairment: Impairment::NONE,
            bottleneck: Bottleneck::OFF,
            pcap: None,
            tcb: TcbConfig::DATACENTER,
            connections: 16,
            rx_burst: RX_BURST,
            max_window: 1 << 20,
            seed: 1,
            line_rate_bps: None,
            nic_thread: false,
        }
    }

    /// Ethernet frame length of an MTU-sized packet.
    pub fn max_frame_len(&self) -> usize {
        usize::from(self.mtu) + 14
    }
}

impl Default for SimHostsConfig {
    fn default() -> Self {
        SimHostsConfig::new()
    }
}

/// Why the hosts could not be built or run.
#[derive(Debug)]
pub enum SimHostsError {
    /// A configuration value that cannot work, and how to fix it.
    Config(String),
    /// The device backend cannot be built (e.g. the RTL device in a build without Verilator).
    Backend(BackendError),
    /// The device does not offer the offload mode asked for.
    Offload {
        /// The mode asked for.
        asked: OffloadMode,
        /// What the device offers, in words.
        offered: String,
    },
    /// A set-up step failed (link, cable, capture file, endpoint).
    Setup {
        /// The host (or "cable").
        host: &'static str,
        /// What was being done.
        step: &'static str,
        /// What failed.
        detail: String,
    },
    /// The driver reported an error (set-up, or a device fault found after a run).
    Device {
        /// The host.
        host: &'static str,
        /// The driver's error (says what failed, where and how to fix it).
        error: DeviceError,
    },
    /// A connection of the workload failed or did not close.
    Connection(String),
    /// The NIC thread failed or never went idle (what happened, in words).
    NicThread(String),
    /// Nothing can happen any more: no frame in flight, no timer, and the workload is not done.
    Stalled {
        /// What the workload was waiting for.
        waiting_for: String,
    },
}

impl fmt::Display for SimHostsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimHostsError::Config(why) => write!(f, "simulated hosts: {why}"),
            SimHostsError::Backend(e) => write!(f, "simulated NIC: {e}"),
            SimHostsError::Offload { asked, offered } => write!(
                f,
                "offload mode `{asked}` is not available: the simulated NIC offers {offered}; \
                 choose a mode it has (--offload none always works)"
            ),
            SimHostsError::Setup { host, step, detail } => {
                write!(f, "simulated {host}: {step} failed: {detail}")
            }
            SimHostsError::Device { host, error } => write!(f, "simulated {host}: {error}"),
            SimHostsError::Connection(why) => write!(f, "simulated hosts: {why}"),
            SimHostsError::NicThread(why) => write!(f, "simulated NICs' thread: {why}"),
            SimHostsError::Stalled { waiting_for } => write!(
                f,
                "the simulated hosts stalled: no frame in flight and no timer pending while \
                 waiting for {waiting_for}"
            ),
        }
    }
}

// Display already includes any inner error's message, so `source` stays `None` (error
// chains printed with `{:#}` would repeat it).
impl std::error::Error for SimHostsError {}

/// The best mode a device offers.
fn best_mode(caps: &DeviceCaps) -> OffloadMode {
    if caps.tso && caps.tx_ipv4_csum && caps.tx_tcp_csum && caps.rx_csum {
        OffloadMode::Tso
    } else if caps.tx_ipv4_csum && caps.tx_tcp_csum && caps.rx_csum {
        OffloadMode::Csum
    } else {
        OffloadMode::None
    }
}

fn describe_offers(caps: &DeviceCaps) -> String {
    let mut have = Vec::new();
    if caps.tx_ipv4_csum && caps.tx_tcp_csum {
        have.push("TX checksums");
    }
    if caps.rx_csum {
        have.push("RX checksum verification");
    }
    if caps.tso {
        have.push("TSO");
    }
    if have.is_empty() {
        "no offloads".into()
    } else {
        have.join(", ")
    }
}

/// The engine's capabilities for `mode` on a device whose adapter offers `dev`.
fn engine_caps(mode: OffloadMode, dev: OffloadCaps, max_frame: u16) -> OffloadCaps {
    match mode {
        OffloadMode::None => OffloadCaps::none(max_frame),
        OffloadMode::Csum => OffloadCaps {
            tso: None,
            max_frame_len: max_frame,
            ..dev
        },
        OffloadMode::Tso => OffloadCaps {
            max_frame_len: max_frame,
            ..dev
        },
    }
}

/// One host: its endpoint, its device adapter, its driver and its simulated NIC. Fields drop
/// in this order: the queue pair closes before the driver, the driver before the NIC.
pub struct SimHost {
    /// The TCP engine.
    pub endpoint: HostEndpoint,
    /// The engine's frame device (queue pair 0 of the NIC).
    pub device: HostDevice,
    nic: Nic<SimDevice>,
    sim: SteppedNic,
    side: Side,
}

impl fmt::Debug for SimHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHost")
            .field("side", &self.side)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl SimHost {
    /// The driver's handle of the NIC (device statistics, identity).
    pub fn nic(&self) -> &Nic<SimDevice> {
        &self.nic
    }

    /// The simulated NIC (its counters, its wire port).
    pub fn sim_nic(&self) -> &SteppedNic {
        &self.sim
    }

    /// Which host this is.
    pub fn side(&self) -> Side {
        self.side
    }
}

/// What [`SimHosts::end_round`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// NIC steps run (both NICs).
    pub nic_steps: u64,
    /// Frames the NICs put on the cable.
    pub wire_frames: u64,
    /// Frames the NICs took from the cable (stepped mode; 0 with a NIC thread).
    pub frames_landed: u64,
    /// Whether the round was idle (the clock jumped to the next timer).
    pub idle: bool,
}

/// Two hosts over two simulated NICs and a cable. See the module docs.
pub struct SimHosts {
    /// Declared first: the thread stops before the hosts (and their NICs) are dropped.
    nic_thread: Option<nic_thread::NicThread>,
    hosts: [SimHost; 2],
    mode: OffloadMode,
    mtu: u16,
    backend: NicBackend,
    line_rate_bps: u64,
    /// The cable has a bottleneck (frames wait on the clock in its queues).
    bottleneck: bool,
    now_us: u64,
    /// Activity since the last `end_round`: frames through the endpoints, bytes sent per host.
    activity: usize,
    round_bytes: [u64; 2],
    rounds: u64,
    idle_rounds: u64,
    /// The NICs' stepping time on the hosts' thread (unused with a NIC thread).
    nic_cpu: Cell<nic_cpu::NicCpuClock>,
    /// Frames on the wire when the current round began.
    round_frames_before: u64,
    pcap: Option<PathBuf>,
}

impl fmt::Debug for SimHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHosts")
            .field("backend", &self.backend)
            .field("mode", &self.mode)
            .field("mtu", &self.mtu)
            .field("now_us", &self.now_us)
            .field("rounds", &self.rounds)
            .finish_non_exhaustive()
    }
}

fn setup(host: &'static str, step: &'static str, detail: impl fmt::Display) -> SimHostsError {
    SimHostsError::Setup {
        host,
        step,
        detail: detail.to_string(),
    }
}

/// The hash secret of one host, from the seed.
fn secret(seed: u64, side: Side) -> HashSecret {
    secret_of_shard(seed, side, 0)
}

/// The hash secret of shard `shard` of one host (shard 0's is the host's).
fn secret_of_shard(seed: u64, side: Side, shard: u16) -> HashSecret {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&seed.to_le_bytes());
    b[8] = 0xF7;
    b[9] = side.index() as u8;
    b[10..12].copy_from_slice(&shard.to_le_bytes());
    HashSecret::from_bytes(b)
}

impl SimHosts {
    /// Builds both hosts: NICs (stepped, device time on the simulated clock), the cable
    /// (impaired and captured as configured), drivers (queue pair 0 each, rings sized for
    /// [`SimHostsConfig::max_window`], large buffers for TSO), endpoints.
    pub fn new(cfg: &SimHostsConfig) -> Result<SimHosts, SimHostsError> {
        let device_cfg = check_config(cfg)?;
        let (port_a, port_b) = build_cable(cfg)?;
        let client = build_host(cfg, device_cfg, Side::Client, port_a)?;
        let server = build_host(cfg, device_cfg, Side::Server, port_b)?;
        let mode = client.1;
        let line_rate_bps = line_rate(cfg, &client.0.nic);
        let nic_thread = if cfg.nic_thread {
            let nics = [client.0.sim.clone(), server.0.sim.clone()];
            Some(
                nic_thread::NicThread::spawn(
                    nics,
                    nic_thread::NicTime::Set(START_US * 1000),
                    Vec::new(),
                )
                .map_err(|e| setup("NICs", "starting the NIC thread", e))?,
            )
        } else {
            None
        };
        let mut hosts = SimHosts {
            nic_thread,
            hosts: [client.0, server.0],
            mode,
            mtu: cfg.mtu,
            backend: cfg.backend,
            line_rate_bps,
            bottleneck: cfg.bottleneck.is_on(),
            now_us: START_US,
            activity: 0,
            round_bytes: [0; 2],
            rounds: 0,
            idle_rounds: 0,
            nic_cpu: Cell::new(nic_cpu::NicCpuClock::start()),
            round_frames_before: 0,
            pcap: cfg.pcap.clone(),
        };
        hosts.round_frames_before = hosts.wire_frames_sent();
        Ok(hosts)
    }

    /// The offload mode in use.
    pub fn offload(&self) -> OffloadMode {
        self.mode
    }

    /// The IP MTU.
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// The device backend.
    pub fn backend(&self) -> NicBackend {
        self.backend
    }

    /// The line rate of the simulated clock, in bit/s.
    pub fn line_rate_bps(&self) -> u64 {
        self.line_rate_bps
    }

    /// The capture file, if the cable is captured.
    pub fn pcap(&self) -> Option<&std::path::Path> {
        self.pcap.as_deref()
    }

    /// Now on the simulated clock.
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.now_us)
    }

    /// Rounds run so far, and of those the idle ones.
    pub fn rounds(&self) -> (u64, u64) {
        (self.rounds, self.idle_rounds)
    }

    /// Thread CPU time spent stepping the simulated NICs so far: on the hosts' thread, or
    /// the NIC thread's whole CPU time (idle spinning included) when it has one.
    pub fn nic_cpu(&self) -> Duration {
        match &self.nic_thread {
            Some(t) => t.cpu(),
            None => {
                // Each report closes a stretch: scaled by the thread's on-CPU fraction in it.
                let mut clock = self.nic_cpu.get();
                let total = clock.cpu();
                self.nic_cpu.set(clock);
                total
            }
        }
    }

    /// Whether the NICs run on a thread of their own.
    pub fn nic_threaded(&self) -> bool {
        self.nic_thread.is_some()
    }

    /// One host.
    pub fn host(&self, side: Side) -> &SimHost {
        &self.hosts[side.index()]
    }

    /// One host, mutable (its endpoint's application calls).
    pub fn host_mut(&mut self, side: Side) -> &mut SimHost {
        &mut self.hosts[side.index()]
    }

    /// The endpoint of one host.
    pub fn endpoint(&mut self, side: Side) -> &mut HostEndpoint {
        &mut self.hosts[side.index()].endpoint
    }

    /// Polls one host's endpoint at the simulated now over its device; `on_event` gets every
    /// connection event (and may call the endpoint).
    pub fn poll(
        &mut self,
        side: Side,
        on_event: impl FnMut(&mut HostEndpoint, Open),
    ) -> PollReport {
        self.poll_direct(side, on_event, NoSink)
    }

    /// [`poll`](Self::poll) with zero-copy receive ([`HostEndpoint::poll_direct`]): in-order
    /// payload arriving while its connection's receive buffer is empty goes to `sink` straight
    /// from the NIC's receive buffer (the DMA memory the NIC wrote), skipping the copy into the
    /// connection's buffer and the application's copy out of it.
    pub fn poll_direct<K: ReceiveSink>(
        &mut self,
        side: Side,
        on_event: impl FnMut(&mut HostEndpoint, Open),
        sink: K,
    ) -> PollReport {
        let now = self.now();
        let host = &mut self.hosts[side.index()];
        let before = host.endpoint.counters().tx_bytes;
        let report = host
            .endpoint
            .poll_direct(now, &mut host.device, on_event, sink);
        self.round_bytes[side.index()] += host.endpoint.counters().tx_bytes - before;
        self.activity += report.received + report.transmitted + report.events;
        report
    }

    /// Ends a round: steps both NICs until neither has work left, then moves the clock (by
    /// the round's wire time, or to the next timer when nothing happened in the round and
    /// `app_progress` is false). Fails with [`SimHostsError::Stalled`] when nothing happened
    /// and no timer is pending: nothing can ever happen again.
    pub fn end_round(
        &mut self,
        app_progress: bool,
        waiting_for: impl FnOnce() -> String,
    ) -> Result<RoundReport, SimHostsError> {
        let mut report = RoundReport::default();
        let hosts_active = self.activity > 0 || app_progress;
        if let Some(thread) = &self.nic_thread {
            // The NICs work on while the hosts go on to the next round (a pipeline, as real
            // NICs and hosts are). Only a round in which the hosts did nothing waits for them:
            // until they move something, or, if they are done, before the clock jumps to a
            // timer (every frame in flight has landed then).
            if hosts_active {
                thread.kick();
            } else {
                let moved = thread
                    .wait_progress(NIC_THREAD_TIMEOUT)
                    .map_err(SimHostsError::NicThread)?;
                let frames_now = self.wire_frames_sent();
                report.wire_frames = (frames_now - self.round_frames_before).max(u64::from(moved));
                self.round_frames_before = frames_now;
            }
        } else {
            let (frames_before, received_before) = self.wire_frame_counts();
            // The monotonic clock: no system call (see the `nic_cpu` module).
            let wall0 = std::time::Instant::now();
            let sims = [&self.hosts[0].sim, &self.hosts[1].sim];
            report.nic_steps = step_nics(&sims, self.now_us, self.bottleneck);
            let mut meter = self.nic_cpu.get();
            meter.add(wall0.elapsed());
            self.nic_cpu.set(meter);
            let (frames_now, received_now) = self.wire_frame_counts();
            report.wire_frames = frames_now - frames_before;
            report.frames_landed = received_now - received_before;
        }
        self.rounds += 1;
        let active = hosts_active || report.wire_frames > 0 || report.frames_landed > 0;
        if !active {
            report.idle = true;
            self.idle_rounds += 1;
        }
        let (hosts, bottleneck) = (&self.hosts, self.bottleneck);
        let next_event = || {
            let timers = hosts
                .iter()
                .filter_map(|h| h.endpoint.next_deadline())
                .map(Instant::micros);
            // A frame waiting in a bottleneck's queue lands when the clock passes its
            // departure (none without a bottleneck).
            let wire = hosts
                .iter()
                .filter(|_| bottleneck)
                .filter_map(|h| h.sim.with(|n| n.port().next_event_ns()))
                .map(|ns| ns.div_ceil(1000));
            timers.chain(wire).min()
        };
        let wire_us = wire_time_us(self.round_bytes, self.line_rate_bps);
        self.now_us = clock_after_round(self.now_us, active, wire_us, next_event, waiting_for)?;
        self.activity = 0;
        self.round_bytes = [0; 2];
        if let Some(thread) = &self.nic_thread {
            // The NICs work through the next round at its time.
            thread.set_time(self.now_us.saturating_mul(1000));
        }
        Ok(report)
    }

    /// Closes a connection between the client (`client`, which closes first, or already has)
    /// and the server (`server`, which closes when the client's FIN arrives), running rounds
    /// until the client is in TIME-WAIT or CLOSED and the server CLOSED; then releases both
    /// slots and returns the connections' retransmission counters (added up).
    pub fn close_pair(
        &mut self,
        client: SlotKey,
        server: SlotKey,
    ) -> Result<Retransmissions, SimHostsError> {
        let refused = |side: Side, what: &str, e: EndpointError| {
            SimHostsError::Connection(format!("the {} could not {what}: {e}", side.as_str()))
        };
        for _ in 0..CLOSE_ROUNDS {
            let now = self.now();
            let c = self.endpoint(Side::Client).state(client);
            let s = self.endpoint(Side::Server).state(server);
            if matches!(c, Some(State::TimeWait | State::Closed)) && s == Some(State::Closed) {
                let rtx = |ep: &HostEndpoint, key| {
                    ep.tcb(key)
                        .map(|t| Retransmissions::of(t.counters()))
                        .unwrap_or_default()
                };
                let total = rtx(&self.host(Side::Client).endpoint, client)
                    .plus(&rtx(&self.host(Side::Server).endpoint, server));
                for (side, key) in [(Side::Client, client), (Side::Server, server)] {
                    self.endpoint(side)
                        .release(key)
                        .map_err(|e| refused(side, "release its connection", e))?;
                }
                return Ok(total);
            }
            if matches!(
                c,
                Some(State::Established | State::SynReceived | State::CloseWait)
            ) {
                self.endpoint(Side::Client)
                    .close(now, client)
                    .map_err(|e| refused(Side::Client, "close", e))?;
            }
            self.poll(Side::Client, |_, _| {});
            self.poll(Side::Server, |ep, open| {
                if open.events.contains(Events::PEER_CLOSED) {
                    let _ = ep.close(now, open.key);
                }
            });
            self.end_round(false, || "the connection to close".into())?;
        }
        Err(SimHostsError::Connection(format!(
            "the connection did not close within {CLOSE_ROUNDS} rounds (client {:?}, server \
             {:?})",
            self.endpoint(Side::Client).state(client),
            self.endpoint(Side::Server).state(server)
        )))
    }

    fn wire_frames_sent(&self) -> u64 {
        self.wire_frame_counts().0
    }

    /// Frames both NICs have put on the cable and taken from it.
    fn wire_frame_counts(&self) -> (u64, u64) {
        self.hosts.iter().fold((0, 0), |(tx, rx), h| {
            let c = h.sim.with(|n| n.counters());
            (tx + c.tx_frames, rx + c.rx_frames)
        })
    }

    /// Everything the hosts, their NICs and the cable have counted so far (reads the devices'
    /// statistics registers: not for every round). With a NIC thread, waits first until the
    /// NICs have nothing in flight, so the counts of both ends agree.
    pub fn counters(&self) -> Result<SimHostsCounters, SimHostsError> {
        if let Some(thread) = &self.nic_thread {
            thread
                .settle(NIC_THREAD_TIMEOUT)
                .map_err(SimHostsError::NicThread)?;
        }
        let mut hosts = [HostCounters::default(); 2];
        for (i, h) in self.hosts.iter().enumerate() {
            let stats = h
                .nic
                .device_stats()
                .map_err(|error| SimHostsError::Device {
                    host: h.side.as_str(),
                    error,
                })?;
            hosts[i] = HostCounters::collect(
                h.endpoint.counters(),
                &stats,
                h.device.queue_pair().stats(),
                &h.device.stats(),
            );
        }
        Ok(with_cable(hosts, [&self.hosts[0].sim, &self.hosts[1].sim]))
    }

    /// Checks both queue pairs and devices for faults (a device that broke the contract, an
    /// error the device recorded): the first problem as an error.
    pub fn check_health(&self) -> Result<(), SimHostsError> {
        for h in &self.hosts {
            let host = h.side.as_str();
            h.device
                .queue_pair()
                .health()
                .map_err(|error| SimHostsError::Device { host, error })?;
            h.nic
                .check_errors()
                .map_err(|error| SimHostsError::Device { host, error })?;
        }
        Ok(())
    }
}

/// Checks what both kinds of hosts need of `cfg` (MTU, cable, bursts, backend); returns the
/// device configuration of their NICs.
fn check_config(cfg: &SimHostsConfig) -> Result<DeviceConfig, SimHostsError> {
    let device_cfg = DeviceConfig::REFERENCE;
    let max_mtu = device_cfg.caps.max_frame_len.saturating_sub(14);
    if !(MIN_MTU..=max_mtu).contains(&cfg.mtu) {
        return Err(SimHostsError::Config(format!(
            "MTU {} is outside what the simulated NIC carries ({MIN_MTU}..={max_mtu}: its \
                 largest frame is {} bytes); choose an MTU from {MIN_MTU} to {max_mtu}",
            cfg.mtu, device_cfg.caps.max_frame_len
        )));
    }
    cfg.impairment
        .check()
        .map_err(|e| SimHostsError::Config(format!("cable: {e}")))?;
    cfg.bottleneck
        .check()
        .map_err(|e| SimHostsError::Config(format!("cable: {e}")))?;
    if cfg.bottleneck.is_on() && cfg.nic_thread {
        return Err(SimHostsError::Config(
            "a bottleneck on the cable needs the NICs stepped by the hosts' thread (its \
                 queue runs on the simulated clock): drop the NIC thread (--nic-thread) or the \
                 bottleneck (--rate)"
                .into(),
        ));
    }
    if cfg.connections < 2 {
        return Err(SimHostsError::Config(
            "each endpoint needs room for at least 2 connections".into(),
        ));
    }
    if cfg.rx_burst == 0 {
        return Err(SimHostsError::Config(
            "a receive burst of 0 frames would never receive; use at least 1".into(),
        ));
    }
    if cfg.line_rate_bps == Some(0) {
        return Err(SimHostsError::Config(
            "the line rate must be positive".into(),
        ));
    }
    // Fail on the backend before creating anything.
    build_core(cfg.backend, device_cfg).map_err(SimHostsError::Backend)?;

    Ok(device_cfg)
}

/// The two ends of the hosts' cable: the client's, the server's.
type CableEnds = (Box<dyn Port>, Box<dyn Port>);

/// The cable between the hosts: client end (captured when configured), server end.
fn build_cable(cfg: &SimHostsConfig) -> Result<CableEnds, SimHostsError> {
    // A cable sized for the hosts' frames, a few device steps deep: its rings stay in the
    // cache (the default cable takes any frame the device can send, 9216 bytes a slot).
    let cable = CableConfig {
        slots: CABLE_SLOTS,
        max_frame: cfg.max_frame_len(),
        impairment: cfg.impairment,
        bottleneck: cfg.bottleneck,
    };
    let (end_a, end_b) =
        CableEnd::pair(&cable).map_err(|e| setup("cable", "creating the cable", e))?;
    let port_a: Box<dyn Port> = match &cfg.pcap {
        Some(path) => Box::new(Capture::new(end_a, path).map_err(|e| {
            setup(
                "cable",
                "creating the capture file",
                format!("{e}; check that its directory exists and is writable"),
            )
        })?),
        None => Box::new(end_a),
    };
    Ok((port_a, Box::new(end_b)))
}

/// The line rate of the simulated clock: configured, or the device's datapath.
fn line_rate(cfg: &SimHostsConfig, nic: &Nic<SimDevice>) -> u64 {
    let info = nic.info();
    cfg.line_rate_bps.unwrap_or(
        u64::from(info.datapath_bits).max(1) * u64::from(info.clock_mhz).max(1) * 1_000_000,
    )
}

/// Simulated time a round takes: the busier direction's bytes at `line_rate_bps`, at least
/// 1 us.
fn wire_time_us(round_bytes: [u64; 2], line_rate_bps: u64) -> u64 {
    let bits = round_bytes[0].max(round_bytes[1]).saturating_mul(8);
    bits.saturating_mul(1_000_000)
        .div_ceil(line_rate_bps)
        .max(1)
}

/// The simulated clock after a round that started at `now_us`: on by the round's wire time
/// `wire_us` when the round was `active`; else at the earliest event `next_event` names (a
/// timer, a frame's departure from a bottleneck), at least 1 us on, and a stall when there is
/// none: nothing can ever happen again.
fn clock_after_round(
    now_us: u64,
    active: bool,
    wire_us: u64,
    next_event: impl FnOnce() -> Option<u64>,
    waiting_for: impl FnOnce() -> String,
) -> Result<u64, SimHostsError> {
    if active {
        return Ok(now_us + wire_us);
    }
    match next_event() {
        Some(t) => Ok(t.max(now_us + 1)),
        None => Err(SimHostsError::Stalled {
            waiting_for: waiting_for(),
        }),
    }
}

/// The counters of two hosts (client, server) with those of the cable between their NICs
/// (`sims`: client's, server's) and the cycles the NICs simulated.
fn with_cable(hosts: [HostCounters; 2], sims: [&SteppedNic; 2]) -> SimHostsCounters {
    let cable = CableCounters::collect(
        &sims[0].with(|n| n.port().counters()),
        &sims[1].with(|n| n.port().counters()),
    );
    let cycles = sims
        .iter()
        .map(|sim| sim.with(|n| n.core_mut().simulated_cycles()))
        .try_fold(0u64, |sum, c| c.map(|c| sum + c));
    SimHostsCounters {
        client: hosts[0],
        server: hosts[1],
        cable,
        simulated_cycles: cycles,
    }
}

/// Steps `sims` at `now_us` until none has work left (at most [`MAX_STEPS_PER_ROUND`] rounds
/// of steps); returns the steps run. With a `bottleneck`, steps on while a frame waits to be
/// received.
fn step_nics(sims: &[&SteppedNic], now_us: u64, bottleneck: bool) -> u64 {
    let now_ns = now_us.saturating_mul(1000);
    for sim in sims {
        sim.with(|n| n.set_time(now_ns));
    }
    let mut steps = 0;
    for _ in 0..MAX_STEPS_PER_ROUND {
        let mut busy = false;
        for sim in sims {
            let r = sim.step();
            steps += 1;
            busy |= r.did_work() || r.more || r.tx_frames > 0;
        }
        // A bottleneck hands frames on at the end of a step (its flush), perhaps of a NIC
        // that did nothing else: step on while one waits to be received.
        busy |= bottleneck && sims.iter().any(|sim| sim.with(|n| n.port().rx_pending()));
        if !busy {
            break;
        }
    }
    steps
}

/// Ring entries (log2) for a window of `cfg.max_window` bytes in MSS-sized frames, plus
/// slack: a host that reads every round then never loses a frame to a full ring. Windows beyond
/// what 32768 entries hold can overflow the ring (the device counts the drops, TCP recovers).
fn ring_log2(cfg: &SimHostsConfig) -> u8 {
    let mss = usize::from(cfg.mtu).saturating_sub(52).max(1);
    let frames = cfg.max_window.div_ceil(mss) + RING_SLACK;
    let log2 = frames.next_power_of_two().trailing_zeros();
    (log2 as u8).clamp(MIN_RING_LOG2, MAX_RING_LOG2)
}

/// One host's NIC, opened and not yet started: what both kinds of hosts build first.
struct OpenNic {
    nic: Nic<SimDevice>,
    sim: SteppedNic,
    /// The offload mode chosen.
    mode: OffloadMode,
    /// What the device offers.
    caps: DeviceCaps,
    /// How each queue pair is opened.
    qcfg: QueueConfig,
}

/// Builds one host's simulated NIC on `port` and opens its driver (RSS on when `rss`); no
/// queue pair is open yet.
fn open_nic(
    cfg: &SimHostsConfig,
    device_cfg: DeviceConfig,
    side: Side,
    port: Box<dyn Port>,
    rss: bool,
) -> Result<OpenNic, SimHostsError> {
    let host = side.as_str();
    let core = build_core(cfg.backend, device_cfg).map_err(SimHostsError::Backend)?;
    let link = DeviceLink::create_anonymous(&LinkConfig {
        irq_vectors: device_cfg.irq_vectors.into(),
        ..LinkConfig::default()
    })
    .map_err(|e| setup(host, "creating the NIC's link", e))?;
    let sim = SimNic::new(core, link, port, Clock::Manual(START_US * 1000)).into_stepped();
    let driver_link = sim
        .attach_driver(AttachOptions::default())
        .map_err(|e| setup(host, "attaching the driver to the NIC's link", e))?;
    let pump = sim.clone();
    let dev = SimDevice::stepped(driver_link, move || {
        pump.step();
    });
    let device_err = |error| SimHostsError::Device { host, error };
    // The capabilities first, so a mode the device lacks is refused before any queue exists.
    let caps = host_driver::DeviceInfo::discover(&dev)
        .map_err(device_err)?
        .caps;
    let best = best_mode(&caps);
    let mode = match cfg.offload {
        None => best,
        Some(asked) if asked > best => {
            return Err(SimHostsError::Offload {
                asked,
                offered: describe_offers(&caps),
            });
        }
        Some(asked) => asked,
    };
    let nic = Nic::open(
        dev,
        NicConfig {
            rx_checksum: mode != OffloadMode::None,
            rss,
            interrupts: false,
            ..NicConfig::default()
        },
    )
    .map_err(device_err)?;
    let ring_log2 = ring_log2(cfg);
    let qcfg = QueueConfig {
        tx_ring_log2: ring_log2,
        rx_ring_log2: ring_log2,
        // The receive ring, the transmit ring (without TSO every frame is a small buffer) and
        // what the application and the adapter hold.
        buffers: (2u32 << ring_log2) + 1024,
        buf_size: (cfg.max_frame_len() as u32).max(2048).next_multiple_of(64),
        large_buffers: if mode == OffloadMode::Tso {
            LARGE_BUFFERS
        } else {
            0
        },
        ..QueueConfig::default()
    };
    Ok(OpenNic {
        nic,
        sim,
        mode,
        caps,
        qcfg,
    })
}

impl OpenNic {
    /// Opens queue pair `queue` (before [`Nic::start`]).
    fn open_queue_pair(
        &self,
        side: Side,
        queue: u16,
    ) -> Result<host_driver::QueuePair<SimDevice>, SimHostsError> {
        self.nic
            .open_queue_pair(queue, &self.qcfg)
            .map_err(|error| SimHostsError::Device {
                host: side.as_str(),
                error,
            })
    }

    /// Starts the NIC (RSS over the queue pairs open now, when asked for at [`open_nic`]).
    fn start(&self, side: Side) -> Result<(), SimHostsError> {
        self.nic.start().map_err(|error| SimHostsError::Device {
            host: side.as_str(),
            error,
        })
    }

    /// The engine's device over an open queue pair (after [`start`](Self::start)), checked to
    /// offer TSO when the mode needs it.
    fn device(
        &self,
        qp: host_driver::QueuePair<SimDevice>,
        queue: u16,
    ) -> Result<HostDevice, SimHostsError> {
        let device = NicFrameDevice::new(qp);
        if self.mode == OffloadMode::Tso && device.caps().tso.is_none() {
            return Err(SimHostsError::Offload {
                asked: self.mode,
                offered: format!(
                    "{} but no TSO through queue pair {queue} (large buffers: {:?})",
                    describe_offers(&self.caps),
                    device.queue_pair().large_pool().map(PacketPool::buf_size)
                ),
            });
        }
        Ok(device)
    }

    /// The configuration of an endpoint of `side` over `device`, keyed with `secret`.
    fn endpoint_config(
        &self,
        cfg: &SimHostsConfig,
        side: Side,
        device: &HostDevice,
        secret: HashSecret,
    ) -> Result<EndpointConfig, SimHostsError> {
        let frame = cfg.max_frame_len() as u16;
        let ecaps = engine_caps(self.mode, device.caps(), frame);
        let address = Ipv4Cidr::new(side.address(), PREFIX)
            .ok_or_else(|| setup(side.as_str(), "choosing its address", "bad prefix"))?;
        let mut ecfg = EndpointConfig::new(side.mac(), address, ecaps, secret);
        ecfg.tcb = cfg.tcb.with_mtu(cfg.mtu);
        ecfg.rx_burst = cfg.rx_burst;
        Ok(ecfg)
    }
}

/// Builds one host on `port`; returns it with the offload mode chosen.
fn build_host(
    cfg: &SimHostsConfig,
    device_cfg: DeviceConfig,
    side: Side,
    port: Box<dyn Port>,
) -> Result<(SimHost, OffloadMode), SimHostsError> {
    let open = open_nic(cfg, device_cfg, side, port, false)?;
    let qp = open.open_queue_pair(side, 0)?;
    open.start(side)?;
    let device = open.device(qp, 0)?;
    let ecfg = open.endpoint_config(cfg, side, &device, secret(cfg.seed, side))?;
    let endpoint = HostEndpoint::with_capacity(ecfg, cfg.connections)
        .map_err(|e| setup(side.as_str(), "building the TCP endpoint", e))?;
    let OpenNic { nic, sim, mode, .. } = open;
    Ok((
        SimHost {
            endpoint,
            device,
            nic,
            sim,
            side,
        },
        mode,
    ))
}

#[cfg(test)]
mod tests;
