//! `ferrotoe demo`: two simulated hosts ([`crate::sim_hosts`]), a verified bulk transfer and
//! then request/response transactions, measured and reported.
//!
//! [`run_demo`] builds the hosts, runs the two phases (each bracketed by the process's CPU
//! time, the NIC-simulation CPU time and the devices' counters), checks the queues and devices
//! for faults, and returns a [`DemoReport`]: the JSON of `--json` (serde), and the text
//! summary of [`DemoReport::render`]. Progress goes to a callback so the CLI can draw a bar.
//!
//! What counts as an error in the report's `errors` (and makes `ok` false): a device error
//! (error completions, a recorded device error, a queue fault), frames the adapter had to
//! refuse, a byte that did not arrive verified. Losses, reordering and bad checksums that the
//! configured impairment causes are reported, not errors.
//!
//! With `--queues`/`--connections` the CLI runs [`sharded`] instead: multi-queue hosts, a bulk
//! transfer in both directions over many connections, per-queue frame counts; its report
//! shares this module's set-up, measurement and line helpers.
//!
//! Owns the phases' order and measurement and the report's content and layout. Must not
//! contain workload loops ([`crate::sim_hosts::bulk`], [`crate::sim_hosts::rr`]) or flag
//! parsing (the CLI).

pub mod sharded;

use std::fmt::{self, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use rtl_sim::wire::bottleneck::Bottleneck;
use rtl_sim::wire::impair::Impairment;
use serde::{Deserialize, Serialize};

use crate::measure::process_cpu_time;
use crate::report::HostInfo;
use crate::report::table::human_bytes;
use crate::sim_hosts::{
    BulkApp, BulkSpec, HostCounters, Latencies, NicBackend, Retransmissions, RrSpec, SimHosts,
    SimHostsConfig, SimHostsCounters, SimHostsError, run_bulk_with, run_rr,
};
use crate::workload::{BulkError, OffloadMode};

const GIB: f64 = (1u64 << 30) as f64;

/// What `ferrotoe demo` runs.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoConfig {
    /// The two hosts (backend, offloads, MTU, cable, capture).
    pub hosts: SimHostsConfig,
    /// Bytes of the bulk transfer (0: no bulk phase).
    pub bytes: u64,
    /// Send and receive buffer of the bulk connection.
    pub socket_buffer: usize,
    /// Request/response transactions (0: no request/response phase).
    pub requests: u64,
    /// Bytes of each request.
    pub request_bytes: usize,
    /// Bytes of each response.
    pub response_bytes: usize,
    /// A phase without progress for this long (wall time) fails.
    pub stall_timeout: Duration,
}

impl DemoConfig {
    /// The defaults of `ferrotoe demo` on the model backend: every offload, MTU 1500, a
    /// perfect cable, 2 GiB of bulk with 1 MiB buffers, 20,000 transactions of 64-byte requests
    /// and 1 KiB responses.
    pub fn new() -> DemoConfig {
        DemoConfig {
            hosts: SimHostsConfig::new(),
            bytes: 2 << 30,
            socket_buffer: 1 << 20,
            requests: 20_000,
            request_bytes: 64,
            response_bytes: 1024,
            stall_timeout: Duration::from_secs(10),
        }
    }
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig::new()
    }
}

/// Where the demo is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoProgress {
    /// The hosts are up.
    Ready,
    /// Bulk transfer: bytes delivered (and verified) of the total.
    Bulk {
        /// Delivered so far.
        done: u64,
        /// To deliver.
        total: u64,
    },
    /// Request/response: transactions completed of the total.
    Requests {
        /// Completed so far.
        done: u64,
        /// To complete.
        total: u64,
    },
}

/// Why the demo could not run to the end.
#[derive(Debug)]
pub enum DemoError {
    /// The configuration (flags) cannot work.
    Config(String),
    /// The hosts could not be built or failed.
    Hosts(SimHostsError),
    /// The bulk transfer failed.
    Bulk(BulkError),
    /// The request/response phase failed.
    Requests(crate::sim_hosts::rr::RrError),
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Config(why) => write!(f, "{why}"),
            DemoError::Hosts(e) => e.fmt(f),
            DemoError::Bulk(e) => e.fmt(f),
            DemoError::Requests(e) => e.fmt(f),
        }
    }
}

// Display already includes any inner error's message, so `source` stays `None` (error
// chains printed with `{:#}` would repeat it).
impl std::error::Error for DemoError {}

impl From<SimHostsError> for DemoError {
    fn from(e: SimHostsError) -> Self {
        DemoError::Hosts(e)
    }
}

/// The cable's impairment, as configured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CableSetup {
    /// Probability that a frame is lost, per direction.
    pub loss: f64,
    /// Probability that a frame is delivered after the next one.
    pub reorder: f64,
    /// Probability that a frame is delivered twice.
    pub duplicate: f64,
    /// Probability that a bit of a frame is flipped.
    pub corrupt: f64,
    /// Probability that an ECN-capable frame is marked CE instead of lost.
    #[serde(default)]
    pub ce_mark: f64,
    /// Seed of the impairment (side B uses seed + 1).
    pub seed: u64,
    /// The bottleneck on each direction, after the impairment, if there is one.
    #[serde(default)]
    pub bottleneck: Option<BottleneckSetup>,
}

/// A bottleneck on each direction of the cable, as configured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BottleneckSetup {
    /// Line rate, bit/s (a frame occupies the line for its length plus FCS, preamble and
    /// inter-frame gap: 24 bytes more, padded to 60 bytes first).
    pub rate_bps: u64,
    /// Frames the queue holds, the one on the line included (drop-tail beyond).
    pub queue_frames: u32,
    /// ECN-capable frames that find at least this many frames queued are marked CE.
    pub ce_threshold: Option<u32>,
    /// One-way propagation delay after the line, nanoseconds.
    #[serde(default)]
    pub delay_ns: u64,
}

impl CableSetup {
    /// The set-up of a cable with impairment `i` and bottleneck `b`.
    pub fn new(i: &Impairment, b: &Bottleneck) -> CableSetup {
        CableSetup {
            loss: i.loss,
            reorder: i.reorder,
            duplicate: i.duplicate,
            corrupt: i.corrupt,
            ce_mark: i.ce_mark,
            seed: i.seed,
            bottleneck: b.is_on().then_some(BottleneckSetup {
                rate_bps: b.rate_bps,
                queue_frames: b.queue_frames,
                ce_threshold: b.ce_threshold,
                delay_ns: b.delay_ns,
            }),
        }
    }
}

/// What the bottlenecks did in one phase (both directions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BottleneckReport {
    /// Frames dropped because a queue was full.
    pub queue_drops: u64,
    /// ECN-capable frames marked CE at the threshold.
    pub threshold_marks: u64,
    /// Most frames in a queue at once (since the cable was built).
    pub peak_queue_frames: u64,
    /// Average frames in the queues over the time observed (Little's law).
    pub average_queue_frames: f64,
    /// Average time a frame spent in a queue, its own time on the line included, on the
    /// simulated clock, microseconds.
    pub average_sojourn_us: f64,
}

impl BottleneckReport {
    fn of(setup: &DemoSetup, c: &SimHostsCounters) -> Option<BottleneckReport> {
        setup.cable.bottleneck?;
        let k = &c.cable;
        Some(BottleneckReport {
            queue_drops: k.queue_drops,
            threshold_marks: k.threshold_marks,
            peak_queue_frames: k.peak_queue,
            average_queue_frames: k.average_queue(),
            average_sojourn_us: k.average_sojourn_us(),
        })
    }
}

/// How the demo was set up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemoSetup {
    /// `model` or `rtl`.
    pub backend: String,
    /// With the `rtl` backend: what its Verilog was built from (the reference RTL, or a
    /// `FERROTOE_RTL_OVERLAY` directory and its files), so a run names the RTL it tested.
    #[serde(default)]
    pub rtl_sources: Option<String>,
    /// The offload mode in use.
    pub offload: OffloadMode,
    /// The mode asked for (`None`: everything the device offers).
    pub offload_requested: Option<OffloadMode>,
    /// IP MTU.
    pub mtu: u16,
    /// The engines' congestion control (`newreno` or `cubic`; reports from before it was
    /// recorded read as `newreno`).
    #[serde(default = "newreno")]
    pub congestion: String,
    /// Line rate of the simulated clock, bit/s.
    pub line_rate_bps: u64,
    /// The simulated NICs and cable ran on a thread of their own, beside the hosts.
    #[serde(default)]
    pub nic_thread: bool,
    /// The cable's impairment.
    pub cable: CableSetup,
    /// The capture file of the cable, if any.
    pub pcap: Option<PathBuf>,
    /// The machine.
    pub machine: HostInfo,
    /// Built with debug assertions (an unoptimised build: figures are not representative).
    pub debug_build: bool,
}

impl DemoSetup {
    /// The set-up of hosts built from `cfg`, with the offload mode, line rate and NIC thread
    /// they settled on.
    fn of(
        cfg: &SimHostsConfig,
        offload: OffloadMode,
        line_rate_bps: u64,
        nic_thread: bool,
    ) -> DemoSetup {
        DemoSetup {
            backend: match cfg.backend {
                NicBackend::Model => "model".into(),
                NicBackend::Rtl => "rtl".into(),
            },
            rtl_sources: match cfg.backend {
                NicBackend::Model => None,
                NicBackend::Rtl => rtl_sim::nic::rtl_build_summary().map(String::from),
            },
            offload,
            offload_requested: cfg.offload,
            mtu: cfg.mtu,
            congestion: cfg.tcb.congestion.name().into(),
            line_rate_bps,
            nic_thread,
            cable: CableSetup::new(&cfg.impairment, &cfg.bottleneck),
            pcap: cfg.pcap.clone(),
            machine: HostInfo::current(),
            debug_build: cfg!(debug_assertions),
        }
    }
}

/// The congestion control of reports that do not name one (it was NewReno).
fn newreno() -> String {
    tcp_engine::tcb::CongestionControl::NewReno.name().into()
}

/// CPU time of one phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuCost {
    /// The process's CPU time (user + system), seconds.
    pub process_s: f64,
    /// Of that, stepping the simulated NICs (device models, cable, capture), seconds.
    pub nic_simulation_s: f64,
    /// The rest: the hosts' engines, drivers and applications, seconds.
    pub host_s: f64,
    /// Host CPU seconds per GiB of application data moved.
    pub host_s_per_gib: f64,
    /// Process CPU seconds per GiB of application data moved.
    pub process_s_per_gib: f64,
}

impl CpuCost {
    fn new(process: Duration, nic: Duration, bytes: u64) -> CpuCost {
        let host = process.saturating_sub(nic);
        let gib = (bytes as f64 / GIB).max(f64::MIN_POSITIVE);
        CpuCost {
            process_s: process.as_secs_f64(),
            nic_simulation_s: nic.as_secs_f64(),
            host_s: host.as_secs_f64(),
            host_s_per_gib: host.as_secs_f64() / gib,
            process_s_per_gib: process.as_secs_f64() / gib,
        }
    }
}

/// The bulk phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BulkReport {
    /// Bytes asked for.
    pub bytes_requested: u64,
    /// Bytes the server application read.
    pub bytes_delivered: u64,
    /// Bytes read and compared with the pattern.
    pub bytes_verified: u64,
    /// Wall time, seconds.
    pub wall_s: f64,
    /// Simulated time, seconds.
    pub simulated_s: f64,
    /// Goodput over wall time, Gbit/s.
    pub goodput_gbps: f64,
    /// Goodput over simulated time, Gbit/s.
    pub simulated_goodput_gbps: f64,
    /// CPU time.
    pub cpu: CpuCost,
    /// Retransmissions of both connections.
    pub retransmissions: Retransmissions,
    /// Rounds of the simulation loop.
    pub rounds: u64,
    /// What the hosts, NICs and cable counted in this phase.
    pub counters: SimHostsCounters,
    /// Clock cycles the NICs simulated per wall second (RTL backend only).
    pub simulated_cycles_per_s: Option<f64>,
    /// What the cable's bottlenecks did, if it has them.
    #[serde(default)]
    pub bottleneck: Option<BottleneckReport>,
}

/// The request/response phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestsReport {
    /// Transactions asked for.
    pub transactions_requested: u64,
    /// Transactions completed.
    pub transactions: u64,
    /// Bytes of each request.
    pub request_bytes: usize,
    /// Bytes of each response.
    pub response_bytes: usize,
    /// Request and response bytes read and compared with the pattern.
    pub bytes_verified: u64,
    /// Wall time, seconds.
    pub wall_s: f64,
    /// Simulated time, seconds.
    pub simulated_s: f64,
    /// Transactions per wall second.
    pub transactions_per_s: f64,
    /// Latency on the simulated clock, microseconds.
    pub latency_simulated_us: Latencies,
    /// Latency on the wall clock, microseconds.
    pub latency_wall_us: Latencies,
    /// CPU time (per GiB of request and response bytes).
    pub cpu: CpuCost,
    /// Retransmissions.
    pub retransmissions: Retransmissions,
    /// What the hosts, NICs and cable counted in this phase.
    pub counters: SimHostsCounters,
    /// What the cable's bottlenecks did, if it has them.
    #[serde(default)]
    pub bottleneck: Option<BottleneckReport>,
}

/// Everything `ferrotoe demo` measured (the `--json` output).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemoReport {
    /// The set-up.
    pub setup: DemoSetup,
    /// The bulk phase, if it ran.
    pub bulk: Option<BulkReport>,
    /// The request/response phase, if it ran.
    pub requests: Option<RequestsReport>,
    /// Problems found (device errors, refused frames, unverified bytes): empty on success.
    pub errors: Vec<String>,
    /// No problems.
    pub ok: bool,
}

/// A socket buffer from 2 x MTU to [`crate::workload::MAX_SOCKET_BUFFER`] bytes.
fn check_socket_buffer(buffer: usize, mtu: u16) -> Result<(), DemoError> {
    let min_buffer = 2 * usize::from(mtu);
    if !(min_buffer..=crate::workload::MAX_SOCKET_BUFFER).contains(&buffer) {
        return Err(DemoError::Config(format!(
            "a socket buffer of {buffer} bytes is outside 2 x MTU ({min_buffer}) ..= {} bytes",
            crate::workload::MAX_SOCKET_BUFFER
        )));
    }
    Ok(())
}

/// Runs the demo. `progress` is called often (every simulation round): keep it cheap.
pub fn run_demo(
    cfg: &DemoConfig,
    progress: &mut dyn FnMut(DemoProgress),
) -> Result<DemoReport, DemoError> {
    if cfg.bytes == 0 && cfg.requests == 0 {
        return Err(DemoError::Config(
            "nothing to do: both --bytes and --requests are 0".into(),
        ));
    }
    check_socket_buffer(cfg.socket_buffer, cfg.hosts.mtu)?;
    let rr = RrSpec {
        transactions: cfg.requests,
        request_bytes: cfg.request_bytes,
        response_bytes: cfg.response_bytes,
        stall_timeout: cfg.stall_timeout,
    };
    let hosts_cfg = SimHostsConfig {
        max_window: cfg.socket_buffer.max(rr.buffer()),
        ..cfg.hosts.clone()
    };
    let mut hosts = SimHosts::new(&hosts_cfg)?;
    progress(DemoProgress::Ready);
    let setup = DemoSetup::of(
        &hosts_cfg,
        hosts.offload(),
        hosts.line_rate_bps(),
        hosts.nic_threaded(),
    );
    let mut errors = Vec::new();

    let bulk = if cfg.bytes > 0 {
        let spec = BulkSpec {
            bytes: cfg.bytes,
            socket_buffer: cfg.socket_buffer,
            verify: true,
            stall_timeout: cfg.stall_timeout,
        };
        let total = cfg.bytes;
        let mut app = BulkApp::new(spec.socket_buffer);
        let (before, cpu0) = (hosts.counters()?, cpu_now());
        let out = run_bulk_with(&mut hosts, &spec, &mut app, &mut |done| {
            progress(DemoProgress::Bulk { done, total })
        })
        .map_err(DemoError::Bulk)?;
        let cpu = cpu_now().saturating_sub(cpu0);
        let counters = hosts.counters()?.since(&before);
        let wall = out.wall.as_secs_f64().max(1e-9);
        let sim = out.sim_us as f64 / 1e6;
        if out.bytes != total || !out.verified {
            errors.push(format!(
                "bulk: {} of {total} bytes delivered{}",
                out.bytes,
                if out.verified { "" } else { " (not verified)" }
            ));
        }
        Some(BulkReport {
            bytes_requested: total,
            bytes_delivered: out.bytes,
            bytes_verified: if out.verified { out.bytes } else { 0 },
            wall_s: wall,
            simulated_s: sim,
            goodput_gbps: out.bytes as f64 * 8.0 / wall / 1e9,
            simulated_goodput_gbps: out.bytes as f64 * 8.0 / sim.max(1e-9) / 1e9,
            cpu: CpuCost::new(cpu, out.nic_cpu, out.bytes),
            retransmissions: out.retransmissions,
            rounds: out.rounds,
            simulated_cycles_per_s: counters.simulated_cycles.map(|c| c as f64 / wall),
            bottleneck: BottleneckReport::of(&setup, &counters),
            counters,
        })
    } else {
        None
    };

    let requests = if cfg.requests > 0 {
        let spec = rr;
        let total = cfg.requests;
        let (before, cpu0) = (hosts.counters()?, cpu_now());
        let out = run_rr(&mut hosts, &spec, &mut |done| {
            progress(DemoProgress::Requests { done, total })
        })
        .map_err(DemoError::Requests)?;
        let cpu = cpu_now().saturating_sub(cpu0);
        let counters = hosts.counters()?.since(&before);
        let wall = out.wall.as_secs_f64().max(1e-9);
        Some(RequestsReport {
            transactions_requested: total,
            transactions: out.transactions,
            request_bytes: cfg.request_bytes,
            response_bytes: cfg.response_bytes,
            bytes_verified: out.bytes_verified,
            wall_s: wall,
            simulated_s: out.sim_us as f64 / 1e6,
            transactions_per_s: out.transactions as f64 / wall,
            latency_simulated_us: out.latency_sim,
            latency_wall_us: out.latency_wall,
            cpu: CpuCost::new(cpu, out.nic_cpu, out.bytes_verified),
            retransmissions: out.retransmissions,
            bottleneck: BottleneckReport::of(&setup, &counters),
            counters,
        })
    } else {
        None
    };

    if let Err(e) = hosts.check_health() {
        errors.push(e.to_string());
    }
    let totals = [
        bulk.as_ref().map(|b| &b.counters),
        requests.as_ref().map(|r| &r.counters),
    ];
    for (phase, c) in ["bulk", "request/response"].iter().zip(totals) {
        if let Some(c) = c {
            counter_errors(phase, c, &mut errors);
        }
    }
    // Flush the capture: the hosts (and the cable's capture writer) go now.
    drop(hosts);
    Ok(DemoReport {
        setup,
        bulk,
        requests,
        ok: errors.is_empty(),
        errors,
    })
}

fn cpu_now() -> Duration {
    process_cpu_time().map(|c| c.total()).unwrap_or_default()
}

/// `n` with thousands separators.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn offload_words(mode: OffloadMode) -> &'static str {
    match mode {
        OffloadMode::None => "none (checksums computed and verified in software)",
        OffloadMode::Csum => "csum (checksums inserted and verified by the NICs)",
        OffloadMode::Tso => "tso (TCP segmentation and checksums by the NICs)",
    }
}

fn latency_line(l: &Latencies) -> String {
    format!(
        "p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us",
        l.p50, l.p90, l.p99, l.p999, l.max
    )
}

/// A line rate in words: `10 Gbit/s`, `2.5 Gbit/s`, `100 Mbit/s`.
fn rate_words(bps: u64) -> String {
    let (v, unit) = match bps {
        b if b >= 1_000_000_000 => (b as f64 / 1e9, "Gbit/s"),
        b if b >= 1_000_000 => (b as f64 / 1e6, "Mbit/s"),
        b => (b as f64 / 1e3, "kbit/s"),
    };
    format!("{} {unit}", (v * 1000.0).round() / 1000.0)
}

fn bottleneck_line(out: &mut String, b: Option<&BottleneckReport>) -> fmt::Result {
    let Some(b) = b else { return Ok(()) };
    writeln!(
        out,
        "  bottleneck    queue drops {}, CE marks at the threshold {}, peak queue {} frames (since \
         the demo began), average {:.1} frames ({:.1} us a frame)",
        count(b.queue_drops),
        count(b.threshold_marks),
        count(b.peak_queue_frames),
        b.average_queue_frames,
        b.average_sojourn_us
    )
}

/// The result of a report that found problems: `result: FAILED` and one line per error.
fn failed_lines(out: &mut impl fmt::Write, errors: &[String]) -> fmt::Result {
    writeln!(out, "result: FAILED")?;
    for e in errors {
        writeln!(out, "  error: {e}")?;
    }
    Ok(())
}

fn loss_lines(out: &mut String, c: &SimHostsCounters, r: &Retransmissions) -> fmt::Result {
    let t: HostCounters = c.total();
    writeln!(
        out,
        "  losses        {} segments retransmitted ({} fast retransmits, {} timeouts, {} tail \
         loss probes, {} reported received twice by D-SACK, {} window reductions undone as \
         spurious); NIC drops {}; bad checksums dropped {}; {} slow starts left by HyStart++",
        count(r.segments),
        count(r.fast_retransmits),
        count(r.timeouts),
        count(t.loss_probes),
        count(t.dsacks_received),
        count(t.spurious_recoveries_undone),
        count(t.nic_rx_drops),
        count(t.rx_bad_checksum),
        count(t.hystart_exits)
    )?;
    let k = &c.cable;
    if k.lost + k.reordered + k.duplicated + k.corrupted + k.overflow > 0 {
        writeln!(
            out,
            "  cable         lost {}, reordered {}, duplicated {}, corrupted {}, overflowed {}",
            count(k.lost),
            count(k.reordered),
            count(k.duplicated),
            count(k.corrupted),
            count(k.overflow)
        )?;
    }
    if k.ce_marked + t.ecn_marks_received + t.ecn_window_reductions > 0 {
        writeln!(
            out,
            "  ecn           cable marked {} frames CE{}; receivers echoed {} marks; senders \
             reduced their windows {} times",
            count(k.ce_marked),
            if k.threshold_marks > 0 {
                format!(
                    " at random and its bottleneck {} at the threshold",
                    count(k.threshold_marks)
                )
            } else {
                String::new()
            },
            count(t.ecn_marks_received),
            count(t.ecn_window_reductions)
        )?;
    }
    if t.syn_cookies_sent + t.syn_cookies_accepted + t.syn_cookies_rejected + t.syn_cookie_no_slot
        > 0
    {
        writeln!(
            out,
            "  syn cookies   {} sent, {} accepted, {} rejected, {} valid with no slot left",
            count(t.syn_cookies_sent),
            count(t.syn_cookies_accepted),
            count(t.syn_cookies_rejected),
            count(t.syn_cookie_no_slot)
        )?;
    }
    Ok(())
}

/// The text `write` writes (into a String, which cannot fail).
fn rendered(write: impl FnOnce(&mut String) -> fmt::Result) -> String {
    let mut out = String::new();
    let _ = write(&mut out);
    out
}

/// The set-up lines under a report's title: addresses, MTU, offload, congestion control and
/// seed; the cable's impairment and bottleneck when there are any; the capture; a note on an
/// unoptimised build.
fn setup_lines(out: &mut String, s: &DemoSetup) -> fmt::Result {
    writeln!(
        out,
        "  client 198.18.0.1 <-> server 198.18.0.2, MTU {}, offload {}, {} congestion control, \
         seed {}",
        s.mtu,
        offload_words(s.offload),
        s.congestion,
        s.cable.seed
    )?;
    if let Some(rtl) = &s.rtl_sources {
        writeln!(out, "  RTL: {rtl}")?;
    }
    let c = &s.cable;
    if c.loss + c.reorder + c.duplicate + c.corrupt + c.ce_mark > 0.0 {
        writeln!(
            out,
            "  cable impairment: loss {}, reorder {}, duplicate {}, corrupt {}, CE marks {} \
                 (seed {})",
            c.loss, c.reorder, c.duplicate, c.corrupt, c.ce_mark, c.seed
        )?;
    }
    if let Some(b) = &c.bottleneck {
        writeln!(
            out,
            "  bottleneck: {} each way (Ethernet framing counted), drop-tail queue of {} \
                 frames{}{}",
            rate_words(b.rate_bps),
            b.queue_frames,
            match b.ce_threshold {
                Some(k) => format!(", ECN-capable frames marked CE from {k} queued"),
                None => String::new(),
            },
            if b.delay_ns > 0 {
                format!(", then {} us of one-way delay", b.delay_ns as f64 / 1e3)
            } else {
                String::new()
            }
        )?;
    }
    if let Some(p) = &s.pcap {
        writeln!(out, "  cable captured to {}", p.display())?;
    }
    if s.debug_build {
        writeln!(
            out,
            "  note: unoptimised build; run with --release for representative figures"
        )?;
    }
    Ok(())
}

/// What limits the simulated clock's goodput: the wire, or the bottleneck.
fn wire_words(s: &DemoSetup) -> String {
    match &s.cable.bottleneck {
        None => format!("{:.0} Gbit/s wire", s.line_rate_bps as f64 / 1e9),
        Some(q) => format!(
            "NICs at {:.0} Gbit/s into the {} bottleneck",
            s.line_rate_bps as f64 / 1e9,
            rate_words(q.rate_bps)
        ),
    }
}

/// The host CPU line of a bulk transfer.
fn cpu_line(out: &mut String, cpu: &CpuCost, nic_thread: bool) -> fmt::Result {
    writeln!(
        out,
        "  host CPU      {:.3} s per GiB (engines, drivers, applications); the NIC simulation \
         took {:.3} s more{}",
        cpu.host_s_per_gib,
        cpu.nic_simulation_s,
        if nic_thread {
            " on a thread of its own"
        } else {
            ""
        }
    )
}

/// The NICs' offload counters of a phase.
fn offload_line(out: &mut String, t: &HostCounters) -> fmt::Result {
    writeln!(
        out,
        "  offloads      TSO segments emitted {}; checksums inserted in {} frames; frames \
         verified good on receive {}",
        count(t.nic_tso_segments),
        count(t.nic_csum_inserted),
        count(t.nic_rx_csum_good)
    )
}

/// The RTL's simulation speed, when the NICs count cycles.
fn rtl_line(out: &mut String, cycles_per_s: Option<f64>) -> fmt::Result {
    match cycles_per_s {
        Some(cps) => writeln!(
            out,
            "  RTL           {:.2} M simulated cycles per wall second (both NICs)",
            cps / 1e6
        ),
        None => Ok(()),
    }
}

/// The errors a phase's counters show: device errors, frames refused before a NIC.
fn counter_errors(phase: &str, c: &SimHostsCounters, errors: &mut Vec<String>) {
    let t = c.total();
    if t.nic_errors > 0 {
        errors.push(format!(
            "{phase}: the NICs reported {} errors",
            t.nic_errors
        ));
    }
    if t.adapter_rejected > 0 {
        errors.push(format!(
            "{phase}: {} frames were refused before reaching a NIC",
            t.adapter_rejected
        ));
    }
}

impl DemoReport {
    /// The report as text for a terminal.
    pub fn render(&self) -> String {
        rendered(|out| self.render_into(out))
    }

    fn render_into(&self, out: &mut String) -> fmt::Result {
        let s = &self.setup;
        writeln!(
            out,
            "ferrotoe demo: two hosts (tcp-engine + host-driver + simulated NIC, backend {}) \
             joined by a simulated cable",
            s.backend
        )?;
        setup_lines(out, s)?;
        if let Some(b) = &self.bulk {
            writeln!(out)?;
            writeln!(
                out,
                "bulk transfer: {} client -> server, {} verified",
                human_bytes(b.bytes_requested),
                if b.bytes_verified == b.bytes_requested {
                    "every byte".to_string()
                } else {
                    format!("{} bytes", count(b.bytes_verified))
                }
            )?;
            writeln!(
                out,
                "  goodput       {:.2} Gbit/s in {:.2} s of wall time; {:.1} Gbit/s in {:.1} ms \
                 of simulated time ({})",
                b.goodput_gbps,
                b.wall_s,
                b.simulated_goodput_gbps,
                b.simulated_s * 1e3,
                wire_words(s)
            )?;
            cpu_line(out, &b.cpu, s.nic_thread)?;
            let (cl, sv) = (&b.counters.client, &b.counters.server);
            writeln!(
                out,
                "  segments      client sent {} TCP segments ({} TSO super-frames), server {} \
                 (ACKs)",
                count(cl.tcp_segments_sent),
                count(cl.tso_super_frames),
                count(sv.tcp_segments_sent)
            )?;
            writeln!(
                out,
                "  frames        {} client -> server ({}), {} server -> client",
                count(cl.nic_tx_frames),
                human_bytes(cl.nic_tx_bytes),
                count(sv.nic_tx_frames)
            )?;
            offload_line(out, &b.counters.total())?;
            loss_lines(out, &b.counters, &b.retransmissions)?;
            bottleneck_line(out, b.bottleneck.as_ref())?;
            rtl_line(out, b.simulated_cycles_per_s)?;
        }
        if let Some(r) = &self.requests {
            writeln!(out)?;
            writeln!(
                out,
                "request/response: {} transactions, {} requests and {} responses, every byte \
                 verified",
                count(r.transactions),
                human_bytes(r.request_bytes as u64),
                human_bytes(r.response_bytes as u64)
            )?;
            writeln!(
                out,
                "  rate          {} transactions/s of wall time ({:.2} s)",
                count(r.transactions_per_s as u64),
                r.wall_s
            )?;
            writeln!(
                out,
                "  latency       simulated: {}",
                latency_line(&r.latency_simulated_us)
            )?;
            writeln!(
                out,
                "                wall:      {}",
                latency_line(&r.latency_wall_us)
            )?;
            let t = r.counters.total();
            writeln!(
                out,
                "  frames        {} on the wire; checksums inserted in {}, verified good in {}",
                count(t.nic_tx_frames),
                count(t.nic_csum_inserted),
                count(t.nic_rx_csum_good)
            )?;
            loss_lines(out, &r.counters, &r.retransmissions)?;
            bottleneck_line(out, r.bottleneck.as_ref())?;
        }
        writeln!(out)?;
        if self.ok {
            let verified = self.bulk.as_ref().map_or(0, |b| b.bytes_verified)
                + self.requests.as_ref().map_or(0, |r| r.bytes_verified);
            writeln!(
                out,
                "result: OK ({} bytes verified, no errors)",
                count(verified)
            )
        } else {
            failed_lines(out, &self.errors)
        }
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report serialises (plain data)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn a_small_demo_reports_both_phases_and_round_trips_as_json() {
        let cfg = DemoConfig {
            bytes: 1 << 20,
            requests: 50,
            ..DemoConfig::new()
        };
        let mut phases = Vec::new();
        let report = run_demo(&cfg, &mut |p| {
            let kind = std::mem::discriminant(&p);
            if phases.last() != Some(&kind) {
                phases.push(kind);
            }
        })
        .unwrap();
        assert_eq!(phases.len(), 3, "ready, bulk, requests");
        assert!(report.ok, "{:?}", report.errors);
        let b = report.bulk.as_ref().unwrap();
        assert_eq!(b.bytes_verified, 1 << 20);
        assert!(b.counters.total().nic_tso_segments > 0);
        let r = report.requests.as_ref().unwrap();
        assert_eq!(r.transactions, 50);
        let text = report.render();
        assert!(text.contains("result: OK"), "{text}");
        assert!(text.contains("bulk transfer: 1 MiB"), "{text}");
        let back: DemoReport = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn nothing_to_do_and_tiny_buffers_are_refused() {
        let none = DemoConfig {
            bytes: 0,
            requests: 0,
            ..DemoConfig::new()
        };
        assert!(
            run_demo(&none, &mut |_| {})
                .unwrap_err()
                .to_string()
                .contains("--bytes")
        );
        let tiny = DemoConfig {
            socket_buffer: 100,
            ..DemoConfig::new()
        };
        assert!(
            run_demo(&tiny, &mut |_| {})
                .unwrap_err()
                .to_string()
                .contains("socket buffer")
        );
    }
}
