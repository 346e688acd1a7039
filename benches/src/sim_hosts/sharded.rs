//! Multi-queue hosts: each host's NIC has N queue pairs with receive-side scaling on, and
//! the host runs one tcp-engine [`Endpoint`](tcp_engine::endpoint) per queue pair (a
//! *shard*), each owning exactly the flows the NIC steers to its queue. The data-centre way
//! to scale a TCP endpoint over cores (as mTCP, F-Stack and Seastar do): shards share no
//! state, so each can later run on a core of its own.
//!
//! ```text
//!   client 198.18.0.1                               server 198.18.0.2
//!   shard 0..N: Endpoint -> NicFrameDevice           shard 0..N: Endpoint -> NicFrameDevice
//!        queue pair q of one NIC (RSS on)                 queue pair q of one NIC (RSS on)
//!             SimNic ===================== cable ===================== SimNic
//! ```
//!
//! # Steering
//! Both NICs use the symmetric key ([`SYMMETRIC_RSS_KEY`]) and the indirection table the
//! driver programs for queues `0..N` ([`rss_indirection_table`]: entry `e` names queue
//! `e mod N`). A flow's frames then land on the same queue index in both directions and on
//! both hosts: client shard q talks to server shard q. [`RssSteering::queue_of`], the one
//! place the host computes a queue (with hw-spec's Toeplitz), gives each shard's endpoint its
//! port steering filter ([`Endpoint::set_port_steering`](tcp_engine::endpoint)): an active
//! open on shard q takes only local ports whose replies the NIC steers to queue q. Passive
//! opens need nothing: a SYN reaches the shard that owns its flow, and every shard listens.
//!
//! # Frames the NIC does not hash
//! ARP (and every non-IPv4 frame) lands on queue 0 with `RSS_TYPE = NONE` (hw-spec 7.2). The
//! hosts do not need it: every shard is given the peer's MAC at set-up as a neighbour entry
//! that outlives any run ([`STATIC_NEIGHBOUR`]), so no shard ever sends an ARP request;
//! an ARP request from elsewhere reaches shard 0, which answers for the host (all shards
//! share its MAC and address). ICMP is hashed over the addresses only, so all ICMP between
//! two hosts reaches one shard: echo requests are answered there, and an ICMP error quoting a
//! connection of another shard is handed on to that shard (`forward` module: a fixed inbox
//! per shard, taken at its next poll; [`ShardedHost::forward_counters`]).
//!
//! # How it runs
//! Stepped ([`ShardedHosts`]), as [`SimHosts`](super::SimHosts) in its stepped mode: one
//! thread polls every shard of both hosts, then steps both NICs until idle
//! ([`ShardedHosts::end_round`]), deterministically. The simulated clock advances by the
//! round's wire time, or jumps to the earliest timer of any shard when nothing happened. No
//! NIC thread and no bottleneck (refused at set-up). A round lands all it carries on the
//! peer's rings at once, so each shard's transmit is paced to what its peer shard takes from
//! its ring in a round (`pace` module): however many connections a shard carries, a lossless
//! cable loses no frame to a full receive ring.
//!
//! Threaded ([`threaded`], [`run_threaded_sharded_bulk`]): each shard on an OS thread of its
//! own (it opens its queue pair, builds its endpoint and runs its part of the workload there)
//! and both NICs on the NIC thread, all on one shared wall clock; not deterministic. The same
//! shard set-up, poll, forwarding and workload as the stepped mode, without pacing (there are
//! no rounds): there a shard whose connections' windows together exceed its peer's ring, or a
//! receiving shard thread that waits for a CPU, can overflow a ring (the NIC counts the drops).
//!
//! The workload: [`bulk`] (many connections, both directions, every byte checked).
//!
//! Owns the sharded set-up (queue pairs, steering filters, neighbours) and its stepped round
//! (the threaded run is [`threaded`]'s); reuses
//! [`SimHosts`](super::SimHosts)' NIC, cable and endpoint set-up. Must not contain protocol,
//! driver or device logic.

pub mod bulk;
mod forward;
mod pace;
pub mod threaded;

pub use bulk::{ShardedBulkOutcome, ShardedBulkSpec, run_sharded_bulk};
pub use forward::{ForwardCounters, INBOX_FRAMES};
pub use threaded::{ThreadedBulkOutcome, run_threaded_sharded_bulk};

use std::fmt;

use host_driver::nic::{RSS_TABLE_ENTRIES, SYMMETRIC_RSS_KEY, rss_indirection_table};
use host_driver::{Nic, SimDevice};
use hw_spec::rss::{KEY_LEN, toeplitz};
use rtl_sim::nic::SteppedNic;
use tcp_engine::endpoint::{EndpointError, Open, PollReport, PortSteering};
use tcp_engine::neighbor::NeighborConfig;
use tcp_engine::table::{FourTuple, SlotKey};
use tcp_engine::time::{Duration, Instant};

use super::{
    HostBuffers, HostCounters, HostDevice, HostEndpoint, OffloadMode, OpenNic, RoundReport,
    START_US, Side, SimHostsConfig, SimHostsCounters, SimHostsError, build_cable, check_config,
    clock_after_round, line_rate, nic_cpu::NicCpuClock, open_nic, secret_of_shard, setup,
    step_nics, wire_time_us, with_cable,
};

/// How long a neighbour entry given at set-up stays valid: longer than any simulated run
/// (a year of simulated time).
pub const STATIC_NEIGHBOUR: Duration = Duration::from_secs(365 * 24 * 3600);

/// Where a NIC steers a TCP/IPv4 flow: its Toeplitz key and indirection table over `queues`
/// receive queues. Plain data (copied into each shard's filter at set-up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RssSteering {
    key: [u8; KEY_LEN],
    table: [u16; RSS_TABLE_ENTRIES],
    queues: u16,
}

impl RssSteering {
    /// Steering with `key` and `table` on a NIC with `queues` receive queues open.
    pub fn new(key: [u8; KEY_LEN], table: [u16; RSS_TABLE_ENTRIES], queues: u16) -> Self {
        RssSteering { key, table, queues }
    }

    /// What the sharded hosts program: the symmetric key, the driver's table over queues
    /// `0..queues`.
    pub fn spread(queues: u16) -> Self {
        let open: Vec<u16> = (0..queues).collect();
        RssSteering::new(SYMMETRIC_RSS_KEY, rss_indirection_table(&open), queues)
    }

    /// The receive queue the NIC puts the frames of `tuple`'s peer on (a TCP/IPv4 segment
    /// from `remote` to `local`; hw-spec 7.2: the hash input is source address, destination
    /// address, source port, destination port; an entry naming a queue that does not exist
    /// means queue 0).
    pub fn queue_of(&self, tuple: &FourTuple) -> u16 {
        let mut input = [0u8; 12];
        input[..4].copy_from_slice(&tuple.remote_addr.octets());
        input[4..8].copy_from_slice(&tuple.local_addr.octets());
        input[8..10].copy_from_slice(&tuple.remote_port.to_be_bytes());
        input[10..].copy_from_slice(&tuple.local_port.to_be_bytes());
        let hash = toeplitz(&self.key, &input);
        let queue = self.table[hash as usize % RSS_TABLE_ENTRIES];
        if queue < self.queues { queue } else { 0 }
    }

    /// The port steering filter of the shard on `queue`: local ports whose replies land on
    /// it.
    pub fn filter_for(self, queue: u16) -> PortSteering {
        Box::new(move |tuple: &FourTuple| self.queue_of(tuple) == queue)
    }
}

/// One shard: an endpoint on its own queue pair. Fields drop in order: the endpoint, then the
/// queue pair.
pub struct Shard {
    /// The TCP engine of this shard.
    pub endpoint: HostEndpoint,
    /// Its frame device (queue pair `queue` of the host's NIC).
    pub device: HostDevice,
    queue: u16,
    /// What its receive path forwarded to other shards.
    forward: ForwardCounters,
    /// Wire frames it may still send in this round (`pace` module; unlimited when threaded).
    credit: pace::TxCredit,
}

impl Shard {
    /// The queue pair (and shard) index.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Opens a connection of `side`'s shard to the other host's `port` at `now`.
    fn connect(
        &mut self,
        side: Side,
        now: Instant,
        port: u16,
        buffers: HostBuffers,
    ) -> Result<SlotKey, SimHostsError> {
        self.endpoint
            .connect(now, side.peer().address(), port, buffers)
            .map_err(|(e, _)| shard_error(side, self.queue, "connect", e))
    }

    /// Its engine's, queue pair's and adapter's counters (the device's registers are the
    /// host's: [`host_counters`]).
    fn counters(&self) -> HostCounters {
        HostCounters::collect(
            self.endpoint.counters(),
            &host_driver::nic::DeviceStats::default(),
            self.device.queue_pair().stats(),
            &self.device.stats(),
        )
    }

    /// What it counted, as plain data.
    pub fn snapshot(&self) -> ShardSnapshot {
        let c = self.endpoint.counters();
        ShardSnapshot {
            queue: self.queue,
            counters: self.counters(),
            queue_rx_frames: self.device.queue_pair().stats().rx_packets,
            endpoint_rx_frames: c.rx_frames,
            rsts_sent: c.rst_for_unknown + c.rst_from_connections,
            forward: self.forward,
            fault: self
                .device
                .queue_pair()
                .health()
                .err()
                .map(|e| e.to_string()),
        }
    }

    /// Polls the endpoint at `now` over its queue pair, the ICMP errors forwarded to it
    /// (`inboxes`) first and those for other shards' connections handed on; `on_event` gets
    /// every connection event; it transmits while its round's credit lasts (`pace` module).
    /// Returns the poll's report and the bytes the endpoint sent. What both the stepped and
    /// the threaded mode poll a shard with.
    fn poll(
        &mut self,
        now: Instant,
        inboxes: &forward::Inboxes,
        steering: &RssSteering,
        on_event: impl FnMut(&mut HostEndpoint, Open),
    ) -> (PollReport, u64) {
        let mut device = pace::Paced {
            device: forward::ShardRx {
                device: &mut self.device,
                inboxes,
                me: self.queue,
                steering,
                counters: &mut self.forward,
            },
            credit: &mut self.credit,
        };
        let before = self.endpoint.counters().tx_bytes;
        let report = self.endpoint.poll(now, &mut device, on_event);
        (report, self.endpoint.counters().tx_bytes - before)
    }
}

/// What one shard counted, as plain data (taken on the shard's thread in the threaded mode).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardSnapshot {
    /// The queue pair (and shard) index.
    pub queue: u16,
    /// Its engine's, queue pair's and adapter's counters (not the device's registers).
    pub counters: HostCounters,
    /// Frames its queue pair received (the driver's count).
    pub queue_rx_frames: u64,
    /// Frames its endpoint took.
    pub endpoint_rx_frames: u64,
    /// RSTs its endpoint sent (for no connection, or from one).
    pub rsts_sent: u64,
    /// What its receive path forwarded to other shards.
    pub forward: ForwardCounters,
    /// A fault its queue pair's health check found.
    pub fault: Option<String>,
}

/// One host's counters: its device's registers (`device`) and its shards' counters.
fn host_counters(
    device: &host_driver::nic::DeviceStats,
    shards: impl Iterator<Item = HostCounters>,
) -> HostCounters {
    let registers = HostCounters::collect(
        &Default::default(),
        device,
        &Default::default(),
        &Default::default(),
    );
    shards.fold(registers, |sum, c| sum.plus(&c))
}

/// One multi-queue host. Fields drop in order: shards (queue pairs) before the driver, the
/// driver before the NIC.
pub struct ShardedHost {
    shards: Vec<Shard>,
    /// ICMP errors forwarded to each shard (index: shard).
    inboxes: forward::Inboxes,
    nic: Nic<SimDevice>,
    sim: SteppedNic,
    side: Side,
}

impl fmt::Debug for ShardedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedHost")
            .field("side", &self.side)
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl ShardedHost {
    /// The shards, by queue.
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// The driver's handle of the NIC (device statistics).
    pub fn nic(&self) -> &Nic<SimDevice> {
        &self.nic
    }

    /// Which host this is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// What the forwarding of ICMP errors between shards did (all shards added up).
    pub fn forward_counters(&self) -> ForwardCounters {
        self.shards
            .iter()
            .fold(ForwardCounters::default(), |sum, s| sum.plus(&s.forward))
    }

    /// What each shard counted, by queue.
    pub fn snapshots(&self) -> Vec<ShardSnapshot> {
        self.shards.iter().map(Shard::snapshot).collect()
    }

    /// Frames each queue pair has received (the driver's count), by queue.
    pub fn queue_rx_frames(&self) -> Vec<u64> {
        self.shards
            .iter()
            .map(|s| s.device.queue_pair().stats().rx_packets)
            .collect()
    }
}

/// Two multi-queue hosts over two simulated NICs and a cable. See the module docs.
pub struct ShardedHosts {
    hosts: [ShardedHost; 2],
    steering: RssSteering,
    mode: OffloadMode,
    line_rate_bps: u64,
    now_us: u64,
    /// Frames and events through the endpoints since the last `end_round`.
    activity: usize,
    /// Bytes each host sent since the last `end_round`.
    round_bytes: [u64; 2],
    rounds: u64,
    /// The NICs' stepping time (they are stepped on the hosts' thread).
    nic_cpu: NicCpuClock,
}

impl fmt::Debug for ShardedHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedHosts")
            .field("queues", &self.steering.queues)
            .field("mode", &self.mode)
            .field("now_us", &self.now_us)
            .field("rounds", &self.rounds)
            .finish_non_exhaustive()
    }
}

impl ShardedHosts {
    /// Builds both hosts with `queues` queue pairs each (RSS on, one endpoint per queue pair,
    /// each with `cfg.connections` slots, its port steering filter and the peer as a
    /// neighbour). `cfg.nic_thread` and a bottleneck are refused.
    pub fn new(cfg: &SimHostsConfig, queues: u16) -> Result<ShardedHosts, SimHostsError> {
        if cfg.nic_thread {
            return Err(SimHostsError::Config(
                "sharded hosts step their NICs on the hosts' thread: drop the NIC thread \
                 (--nic-thread), or run the shards on threads of their own (--shard-threads, \
                 which has a NIC thread)"
                    .into(),
            ));
        }
        let (device_cfg, steering) = check_sharded(cfg, queues)?;
        let (port_a, port_b) = build_cable(cfg)?;
        let client = build_sharded(cfg, device_cfg, Side::Client, port_a, steering)?;
        let server = build_sharded(cfg, device_cfg, Side::Server, port_b, steering)?;
        let line_rate_bps = line_rate(cfg, &client.0.nic);
        Ok(ShardedHosts {
            hosts: [client.0, server.0],
            steering,
            mode: client.1,
            line_rate_bps,
            now_us: START_US,
            activity: 0,
            round_bytes: [0; 2],
            rounds: 0,
            nic_cpu: NicCpuClock::start(),
        })
    }

    /// Thread CPU time spent stepping the simulated NICs so far (estimated as
    /// [`super::SimHosts::nic_cpu`] does without a NIC thread).
    pub fn nic_cpu(&mut self) -> std::time::Duration {
        self.nic_cpu.cpu()
    }

    /// The line rate of the simulated clock, bit/s.
    pub fn line_rate_bps(&self) -> u64 {
        self.line_rate_bps
    }

    /// What both hosts (every shard's engine, queue pair and adapter, and each NIC's
    /// statistics registers) and the cable counted so far.
    ///
    /// # Errors
    /// A NIC whose statistics cannot be read.
    pub fn counters(&self) -> Result<SimHostsCounters, SimHostsError> {
        let mut hosts = [HostCounters::default(); 2];
        for (i, h) in self.hosts.iter().enumerate() {
            let host = h.side.as_str();
            let stats = h
                .nic
                .device_stats()
                .map_err(|error| SimHostsError::Device { host, error })?;
            hosts[i] = host_counters(&stats, h.shards.iter().map(Shard::counters));
        }
        Ok(with_cable(hosts, [&self.hosts[0].sim, &self.hosts[1].sim]))
    }

    /// Queue pairs (shards) per host.
    pub fn queues(&self) -> u16 {
        self.steering.queues
    }

    /// Where the NICs steer flows.
    pub fn steering(&self) -> RssSteering {
        self.steering
    }

    /// The offload mode in use.
    pub fn offload(&self) -> OffloadMode {
        self.mode
    }

    /// Now on the simulated clock.
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.now_us)
    }

    /// Rounds run so far.
    pub fn rounds(&self) -> u64 {
        self.rounds
    }

    /// One host.
    pub fn host(&self, side: Side) -> &ShardedHost {
        &self.hosts[side.index()]
    }

    /// The endpoint of shard `shard` of one host.
    ///
    /// # Panics
    /// When `shard` is not below [`queues`](Self::queues) (a caller's bug).
    pub fn endpoint(&mut self, side: Side, shard: u16) -> &mut HostEndpoint {
        &mut self.hosts[side.index()].shards[usize::from(shard)].endpoint
    }

    /// Opens a connection from shard `shard` of `side` to the other host's `port` (an
    /// ephemeral port that steers to the shard).
    ///
    /// # Errors
    /// No such shard, or the endpoint refused (the error names the host, shard and queue).
    pub fn connect(
        &mut self,
        side: Side,
        shard: u16,
        port: u16,
        buffers: HostBuffers,
    ) -> Result<SlotKey, SimHostsError> {
        let queues = self.queues();
        let now = self.now();
        let Some(s) = self.hosts[side.index()].shards.get_mut(usize::from(shard)) else {
            return Err(SimHostsError::Connection(format!(
                "the {} has no shard {shard}: it has {queues} (queues 0 to {})",
                side.as_str(),
                queues.saturating_sub(1)
            )));
        };
        s.connect(side, now, port, buffers)
    }

    /// Polls shard `shard` of one host at the simulated now over its queue pair (ICMP errors
    /// forwarded to it first; those for other shards' connections handed on); `on_event`
    /// gets every connection event.
    pub fn poll(
        &mut self,
        side: Side,
        shard: u16,
        on_event: impl FnMut(&mut HostEndpoint, Open),
    ) -> PollReport {
        let now = self.now();
        let host = &mut self.hosts[side.index()];
        let s = &mut host.shards[usize::from(shard)];
        let (report, sent) = s.poll(now, &host.inboxes, &self.steering, on_event);
        self.round_bytes[side.index()] += sent;
        self.activity += report.received + report.transmitted + report.events;
        report
    }

    /// Ends a round: steps both NICs until neither has work left, then moves the clock (by
    /// the round's wire time, or to the earliest timer of any shard when nothing happened,
    /// `app_progress` is false, no forwarded ICMP error waits in an inbox and no shard ran out
    /// of transmit credit) and refills every shard's credit for the next round (`pace`
    /// module). Fails with [`SimHostsError::Stalled`] when nothing happened and no timer is
    /// pending.
    pub fn end_round(
        &mut self,
        app_progress: bool,
        waiting_for: impl FnOnce() -> String,
    ) -> Result<RoundReport, SimHostsError> {
        let counts = |hosts: &[ShardedHost; 2]| {
            hosts.iter().fold((0, 0), |(tx, rx), h| {
                let c = h.sim.with(|n| n.counters());
                (tx + c.tx_frames, rx + c.rx_frames)
            })
        };
        let (tx0, rx0) = counts(&self.hosts);
        let sims = [&self.hosts[0].sim, &self.hosts[1].sim];
        // The monotonic clock: no system call (see the `nic_cpu` module).
        let wall0 = std::time::Instant::now();
        let mut report = RoundReport {
            nic_steps: step_nics(&sims, self.now_us, false),
            ..RoundReport::default()
        };
        self.nic_cpu.add(wall0.elapsed());
        let (tx1, rx1) = counts(&self.hosts);
        report.wire_frames = tx1 - tx0;
        report.frames_landed = rx1 - rx0;
        self.rounds += 1;
        // An ICMP error handed on to a shard polled earlier in the round waits in its inbox:
        // that shard has work at the current time, before any timer.
        let forwarded_waiting = self.hosts.iter().any(|h| h.inboxes.any_waiting());
        // A shard that ran out of credit has frames to send at the current time too.
        let mut paced_waiting = false;
        for s in self.hosts.iter_mut().flat_map(|h| h.shards.iter_mut()) {
            paced_waiting |= s.credit.refused();
            s.credit.refill();
        }
        let active = self.activity > 0
            || app_progress
            || report.wire_frames > 0
            || forwarded_waiting
            || paced_waiting;
        report.idle = !active;
        let hosts = &self.hosts;
        let next_event = || {
            hosts
                .iter()
                .flat_map(|h| h.shards.iter())
                .filter_map(|s| s.endpoint.next_deadline())
                .map(Instant::micros)
                .min()
        };
        let wire_us = wire_time_us(self.round_bytes, self.line_rate_bps);
        self.now_us = clock_after_round(self.now_us, active, wire_us, next_event, waiting_for)?;
        self.activity = 0;
        self.round_bytes = [0; 2];
        Ok(report)
    }

    /// Checks every queue pair and both devices for faults: the first problem as an error.
    pub fn check_health(&self) -> Result<(), SimHostsError> {
        for h in &self.hosts {
            let host = h.side.as_str();
            for s in &h.shards {
                s.device
                    .queue_pair()
                    .health()
                    .map_err(|error| SimHostsError::Device { host, error })?;
            }
            h.nic
                .check_errors()
                .map_err(|error| SimHostsError::Device { host, error })?;
        }
        Ok(())
    }
}

/// An endpoint's refusal on a shard, naming host, shard and queue.
fn shard_error(side: Side, shard: u16, what: &str, e: EndpointError) -> SimHostsError {
    SimHostsError::Connection(format!(
        "the {} could not {what} on shard {shard} (queue pair {shard}): {e}",
        side.as_str()
    ))
}

/// Checks what sharded hosts need of `cfg` and `queues` (both modes); returns the NICs'
/// device configuration and the steering over the queues.
fn check_sharded(
    cfg: &SimHostsConfig,
    queues: u16,
) -> Result<(rtl_sim::device::DeviceConfig, RssSteering), SimHostsError> {
    if cfg.bottleneck.is_on() {
        return Err(SimHostsError::Config(
            "sharded hosts run without a bottleneck on the cable: drop it (--rate)".into(),
        ));
    }
    let device_cfg = check_config(cfg)?;
    let most = u16::from(device_cfg.rx_queues.min(device_cfg.tx_queues));
    if queues == 0 || queues > most {
        return Err(SimHostsError::Config(format!(
            "{queues} queue pairs asked for; the simulated NIC has 1 to {most}: choose a \
             number of queues (shards) from 1 to {most}"
        )));
    }
    Ok((device_cfg, RssSteering::spread(queues)))
}

/// Builds shard `queue` of `side` over its open queue pair `qp` (after the NIC started): its
/// device, its endpoint with the port steering filter and the peer as a static neighbour.
fn build_shard(
    open: &OpenNic,
    cfg: &SimHostsConfig,
    side: Side,
    queue: u16,
    qp: host_driver::QueuePair<SimDevice>,
    steering: RssSteering,
) -> Result<Shard, SimHostsError> {
    let device = open.device(qp, queue)?;
    let mut ecfg =
        open.endpoint_config(cfg, side, &device, secret_of_shard(cfg.seed, side, queue))?;
    ecfg.neighbor = NeighborConfig {
        reachable_time: STATIC_NEIGHBOUR,
        ..NeighborConfig::default()
    };
    let mut endpoint = HostEndpoint::with_capacity(ecfg, cfg.connections).map_err(|e| {
        setup(
            side.as_str(),
            "building a shard's TCP endpoint",
            format!("shard {queue}: {e}"),
        )
    })?;
    endpoint.set_port_steering(Some(steering.filter_for(queue)));
    let peer = side.peer();
    endpoint.add_neighbor(Instant::from_micros(START_US), peer.address(), peer.mac());
    Ok(Shard {
        endpoint,
        device,
        queue,
        forward: ForwardCounters::default(),
        credit: pace::TxCredit::UNLIMITED,
    })
}

/// Builds one stepped multi-queue host on `port`: the NIC with RSS, a queue pair and an
/// endpoint per queue, each paced for its peer's ring (`pace` module; both hosts' rings and
/// bursts are alike). Returns it with the offload mode chosen.
fn build_sharded(
    cfg: &SimHostsConfig,
    device_cfg: rtl_sim::device::DeviceConfig,
    side: Side,
    port: Box<dyn rtl_sim::wire::Port>,
    steering: RssSteering,
) -> Result<(ShardedHost, OffloadMode), SimHostsError> {
    let open = open_nic(cfg, device_cfg, side, port, steering.queues > 1)?;
    let qps = (0..steering.queues)
        .map(|q| open.open_queue_pair(side, q))
        .collect::<Result<Vec<_>, _>>()?;
    open.start(side)?;
    let mut shards = (0u16..)
        .zip(qps)
        .map(|(queue, qp)| build_shard(&open, cfg, side, queue, qp, steering))
        .collect::<Result<Vec<_>, _>>()?;
    for s in &mut shards {
        let (_, rx_ring) = s.device.queue_pair().ring_sizes();
        s.credit = pace::TxCredit::for_ring(cfg.rx_burst, rx_ring);
    }
    let inboxes = forward::Inboxes::new(steering.queues, cfg.max_frame_len());
    Ok((
        ShardedHost {
            shards,
            inboxes,
            nic: open.nic,
            sim: open.sim,
            side,
        },
        open.mode,
    ))
}

#[cfg(test)]
mod tests;
