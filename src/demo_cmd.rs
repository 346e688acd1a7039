//! `ferrotoe demo`: two hosts (tcp-engine + host-driver + simulated NIC) joined by a simulated
//! cable; a verified bulk transfer, then request/response transactions; a progress bar while
//! it runs and a report at the end (text, or JSON with `--json`).
//!
//! With `--queues`/`--connections`: the sharded demo (multi-queue hosts, one endpoint per
//! queue, bulk over many connections; `ferrotoe_benches::demo::sharded`).
//!
//! Turns the flags into a `DemoConfig`, draws progress on stderr (a bar on a terminal, a line
//! per 10 % otherwise), prints the report. Owns no workload, measurement or report content
//! (`ferrotoe_benches::demo` does).

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use ferrotoe_benches::demo::sharded::{ShardedDemoConfig, run_sharded_demo};
use ferrotoe_benches::demo::{DemoConfig, DemoProgress, run_demo};
use ferrotoe_benches::report::table::human_bytes;
use ferrotoe_benches::sim_hosts::SimHostsConfig;
use ferrotoe_benches::workload::OffloadMode;
use rtl_sim::nic::Backend;

use crate::bench_cmd::parse_byte_size;
use crate::impair_args::{BottleneckArgs, ImpairArgs};
use crate::net_args::{EcnArg, parse_congestion};
use crate::tcp_args::TcpFeatureArgs;
use tcp_engine::tcb::CongestionControl;

/// Bulk bytes on the model backend: about 3-6 s on the project's 2-core machines.
const DEFAULT_BYTES_MODEL: u64 = 2 << 30;
/// Bulk bytes on the RTL backend.
const DEFAULT_BYTES_RTL: u64 = 16 << 20;
/// Transactions on the model backend (well under a second).
const DEFAULT_REQUESTS_MODEL: u64 = 20_000;
/// Transactions on the RTL backend.
const DEFAULT_REQUESTS_RTL: u64 = 1_000;

/// Bytes of each request unless --request-size says otherwise.
const DEFAULT_REQUEST_SIZE: u64 = 64;
/// Bytes of each response unless --response-size says otherwise.
const DEFAULT_RESPONSE_SIZE: u64 = 1 << 10;

/// Flags of `ferrotoe demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Device implementation of both simulated NICs: model (the Rust reference model) or rtl
    /// (the Verilog RTL under Verilator).
    #[arg(long, default_value = "model")]
    pub backend: Backend,
    /// Offloads the TCP engines use: none (software checksums), csum (checksums by the NICs),
    /// tso (segmentation and checksums by the NICs). Default: everything the NICs offer.
    #[arg(long)]
    pub offload: Option<OffloadMode>,
    /// IP MTU of both hosts (576 to 9202).
    #[arg(long, default_value_t = 1500)]
    pub mtu: u16,
    /// Bytes of the bulk transfer (K, M, G, KiB, MiB, GiB are powers of 1024; 0 skips it).
    /// Default: 2 GiB on the model backend, 16 MiB on the RTL (a simulation of every clock
    /// cycle is slower).
    #[arg(long, value_parser = parse_byte_size)]
    pub bytes: Option<u64>,
    /// Request/response transactions after the bulk transfer (0 skips them). Default: 20,000
    /// on the model backend, 1,000 on the RTL.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Bytes of each request. Default: 64.
    #[arg(long, value_parser = parse_byte_size)]
    pub request_size: Option<u64>,
    /// Bytes of each response. Default: 1 KiB.
    #[arg(long, value_parser = parse_byte_size)]
    pub response_size: Option<u64>,
    /// Send and receive buffer of the bulk connection's ends.
    #[arg(long, default_value = "1MiB", value_parser = parse_byte_size)]
    pub buffer: u64,
    /// How the cable impairs frames (each direction; the seed is --seed).
    #[command(flatten)]
    pub impair: ImpairArgs,
    /// A bottleneck on each direction of the cable (after the impairment).
    #[command(flatten)]
    pub bottleneck: BottleneckArgs,
    /// Explicit Congestion Notification (RFC 3168) of both hosts: off, accept (agree when the
    /// peer asks), on (ask too; with both hosts on, ECN is used).
    #[arg(long, value_enum, default_value = "accept")]
    pub ecn: EcnArg,
    /// Seed of the cable's impairment and of the hosts' ISNs and ports: the same seed gives
    /// the same run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Capture both directions of the cable to this pcap file (tshark, Wireshark). It grows by
    /// about 1.05 bytes per byte transferred: pair it with a smaller --bytes.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Print the report as JSON: to stdout (instead of the text report), or to FILE (the text
    /// report still goes to stdout).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    pub json: Option<PathBuf>,
    /// No progress on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Give up on a phase after this many seconds without progress.
    #[arg(long, default_value_t = 10)]
    pub stall_timeout: u64,
    /// Run the two simulated NICs and their cable on a second thread, in parallel with the
    /// hosts (as a real NIC works beside its host's CPU). Default: one thread steps
    /// everything, deterministically. Request/response latencies assume the default.
    #[arg(long)]
    pub nic_thread: bool,
    /// Congestion control of both hosts' connections: reno (NewReno, RFC 5681/6582), cubic
    /// (RFC 9438) or dctcp (RFC 8257; with `--ecn on`, else NewReno).
    #[arg(long, value_name = "ALGORITHM", default_value = "reno", value_parser = parse_congestion)]
    pub cc: CongestionControl,
    /// Loss-recovery and slow-start refinements of both hosts, each on by default.
    #[command(flatten)]
    pub features: TcpFeatureArgs,
    /// Queue pairs per host (1 to 4), one TCP endpoint (shard) per queue pair, receive-side
    /// scaling on with more than one. With --queues or --connections the demo runs a bulk
    /// transfer in both directions over --connections connections spread over the shards
    /// (--bytes per direction in all, rounded down to share evenly; default 64 MiB, 4 MiB on
    /// the RTL) instead of its two single-connection phases, and reports the frames each
    /// queue received. It honours --backend, --offload, --mtu, --buffer, --loss, --reorder,
    /// --reorder-depth, --duplicate, --corrupt, --ce-mark, --seed, --ecn, --cc, the TCP feature flags,
    /// --pcap, --json, --quiet, --stall-timeout and --shard-threads; it refuses --requests
    /// (other than 0), --request-size, --response-size, --nic-thread (without
    /// --shard-threads, which has a NIC thread) and the bottleneck (--rate, --queue,
    /// --ce-threshold, --delay). Default with --connections: 4.
    #[arg(long, value_name = "N")]
    pub queues: Option<u16>,
    /// Connections of the sharded bulk transfer (1 to 4096; see --queues). Default with
    /// --queues: 4 per queue.
    #[arg(long, value_name = "M")]
    pub connections: Option<usize>,
    /// Run the sharded demo (--queues, --connections) with each shard on an OS thread of its
    /// own (2 x N shard threads for the two hosts) and the NICs on a NIC thread, as an
    /// appliance runs one TCP endpoint per core per queue. The shards' clock is then the wall
    /// clock (timers in real time): runs are not deterministic, and a shard thread that waits
    /// for a CPU longer than its retransmission timeout retransmits (reported). Default: one
    /// thread steps every shard and both NICs.
    #[arg(long)]
    pub shard_threads: bool,
}

/// Bulk bytes per direction of the sharded demo on the model backend.
const DEFAULT_SHARDED_BYTES_MODEL: u64 = 64 << 20;
/// Bulk bytes per direction of the sharded demo on the RTL backend.
const DEFAULT_SHARDED_BYTES_RTL: u64 = 4 << 20;

/// Runs the sharded demo (`--queues`, `--connections`).
fn run_sharded(a: &DemoArgs) -> anyhow::Result<()> {
    if a.requests.is_some_and(|r| r > 0) {
        bail!(
            "--requests runs on the single-connection demo: drop it, or drop --queues and \
             --connections"
        );
    }
    let b = &a.bottleneck;
    for (flag, given) in [
        ("--request-size", a.request_size.is_some()),
        ("--response-size", a.response_size.is_some()),
        // --shard-threads has a NIC thread of its own: --nic-thread then says nothing new.
        ("--nic-thread", a.nic_thread && !a.shard_threads),
        ("--rate", b.rate.is_some()),
        ("--queue", b.queue.is_some()),
        ("--ce-threshold", b.ce_threshold.is_some()),
        ("--delay", b.delay.is_some()),
    ] {
        if given {
            bail!(
                "{flag} does not apply to the sharded demo (--queues, --connections), which \
                 steps its NICs on the hosts' thread over a cable without a bottleneck and runs \
                 no request/response phase: drop {flag}, or drop --queues and --connections{}",
                if flag == "--nic-thread" {
                    " (--shard-threads runs the sharded demo's NICs on a thread of their own, \
                     beside a thread per shard)"
                } else {
                    ""
                }
            );
        }
    }
    let cfg = config(a)?;
    let queues = a.queues.unwrap_or(4);
    let cfg = ShardedDemoConfig {
        hosts: cfg.hosts,
        stall_timeout: Some(cfg.stall_timeout),
        queues,
        connections: a.connections.unwrap_or(4 * usize::from(queues.max(1))),
        bytes: a.bytes.unwrap_or(match a.backend {
            Backend::Model => DEFAULT_SHARDED_BYTES_MODEL,
            Backend::Rtl => DEFAULT_SHARDED_BYTES_RTL,
        }),
        buffer: usize::try_from(a.buffer)
            .with_context(|| format!("--buffer of {} bytes is too large", a.buffer))?,
        threads: a.shard_threads,
    };
    let mut bar = ProgressBar::new(!a.quiet);
    let result = run_sharded_demo(&cfg, &mut |p| bar.update(p));
    bar.finish();
    let report = result.context("ferrotoe demo")?;
    print_report(
        a.json.as_deref(),
        &report.to_json(),
        &report.render(),
        &report.errors,
    )
}

/// Prints a report: its JSON to stdout (`--json`) or to a file (the text to stdout then), or
/// its text; fails when it found problems (`errors`).
fn print_report(
    json_to: Option<&std::path::Path>,
    json: &str,
    text: &str,
    errors: &[String],
) -> anyhow::Result<()> {
    match json_to {
        Some(path) if path.as_os_str() == "-" => println!("{json}"),
        Some(path) => {
            std::fs::write(path, json)
                .with_context(|| format!("writing the JSON report to {}", path.display()))?;
            print!("{text}");
        }
        None => print!("{text}"),
    }
    if !errors.is_empty() {
        bail!(
            "the demo found {} problem(s): {}",
            errors.len(),
            errors.join("; ")
        );
    }
    Ok(())
}

/// Runs `ferrotoe demo`.
pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    if a.queues.is_some() || a.connections.is_some() {
        return run_sharded(&a);
    }
    if a.shard_threads {
        bail!(
            "--shard-threads runs the shards of the sharded demo on threads of their own, and \
             the plain demo has one endpoint per host: add --queues N (and --connections M) \
             for the sharded demo, or drop --shard-threads (--nic-thread puts the plain demo's \
             NICs on a thread of their own)"
        );
    }
    let cfg = config(&a)?;
    let mut bar = ProgressBar::new(!a.quiet);
    let result = run_demo(&cfg, &mut |p| bar.update(p));
    bar.finish();
    let report = result.context("ferrotoe demo")?;
    print_report(
        a.json.as_deref(),
        &report.to_json(),
        &report.render(),
        &report.errors,
    )
}

fn config(a: &DemoArgs) -> anyhow::Result<DemoConfig> {
    let impairment = a.impair.impairment(a.seed)?;
    let bottleneck = a.bottleneck.bottleneck()?;
    if bottleneck.is_on() && a.nic_thread {
        bail!(
            "--rate puts a queue on the cable that runs on the simulated clock, which needs \
             the NICs stepped by the hosts' thread: drop --nic-thread (or --rate)"
        );
    }
    let defaults = SimHostsConfig::new();
    let size = |what: &str, v: u64| -> anyhow::Result<usize> {
        usize::try_from(v).with_context(|| format!("{what} of {v} bytes is too large"))
    };
    if a.stall_timeout == 0 {
        bail!("--stall-timeout must be at least 1 second");
    }
    let mut hosts = SimHostsConfig {
        backend: a.backend,
        offload: a.offload,
        mtu: a.mtu,
        impairment,
        bottleneck,
        pcap: a.pcap.clone(),
        seed: a.seed,
        nic_thread: a.nic_thread,
        ..defaults
    };
    hosts.tcb.congestion = a.cc;
    hosts.tcb.ecn = a.ecn.into();
    a.features.apply(&mut hosts.tcb);
    Ok(DemoConfig {
        hosts,
        bytes: a.bytes.unwrap_or(match a.backend {
            Backend::Model => DEFAULT_BYTES_MODEL,
            Backend::Rtl => DEFAULT_BYTES_RTL,
        }),
        socket_buffer: size("--buffer", a.buffer)?,
        requests: a.requests.unwrap_or(match a.backend {
            Backend::Model => DEFAULT_REQUESTS_MODEL,
            Backend::Rtl => DEFAULT_REQUESTS_RTL,
        }),
        request_bytes: size(
            "--request-size",
            a.request_size.unwrap_or(DEFAULT_REQUEST_SIZE),
        )?,
        response_bytes: size(
            "--response-size",
            a.response_size.unwrap_or(DEFAULT_RESPONSE_SIZE),
        )?,
        stall_timeout: Duration::from_secs(a.stall_timeout),
    })
}

/// Progress on stderr: a redrawn bar on a terminal, a plain line per 10 % otherwise.
struct ProgressBar {
    enabled: bool,
    tty: bool,
    phase_start: Instant,
    last_draw: Instant,
    last_tenth: u64,
    phase: u8,
    drawn: bool,
}

/// Redraws per second on a terminal, at most.
const REDRAW: Duration = Duration::from_millis(100);
const WIDTH: usize = 30;

impl ProgressBar {
    fn new(enabled: bool) -> ProgressBar {
        let now = Instant::now();
        ProgressBar {
            enabled,
            tty: std::io::stderr().is_terminal(),
            phase_start: now,
            last_draw: now,
            last_tenth: 0,
            phase: 0,
            drawn: false,
        }
    }

    fn update(&mut self, p: DemoProgress) {
        if !self.enabled {
            return;
        }
        let (phase, done, total) = match p {
            DemoProgress::Ready => return,
            DemoProgress::Bulk { done, total } => (1, done, total),
            DemoProgress::Requests { done, total } => (2, done, total),
        };
        if phase != self.phase {
            self.finish();
            self.phase = phase;
            self.phase_start = Instant::now();
            self.last_tenth = 0;
        }
        let tenth = done.saturating_mul(10) / total.max(1);
        if self.tty {
            if done < total && self.drawn && self.last_draw.elapsed() < REDRAW {
                return;
            }
            self.last_draw = Instant::now();
        } else if tenth <= self.last_tenth {
            return;
        }
        self.last_tenth = tenth;
        let secs = self.phase_start.elapsed().as_secs_f64();
        // A rate over the first few milliseconds says nothing.
        let early = secs < 0.05;
        let (label, amount, rate) = if phase == 1 {
            (
                "bulk",
                format!("{} / {}", human_bytes(done), human_bytes(total)),
                if early {
                    String::new()
                } else {
                    format!("{:.2} Gbit/s", done as f64 * 8.0 / secs / 1e9)
                },
            )
        } else {
            (
                "requests",
                format!("{done} / {total}"),
                if early {
                    String::new()
                } else {
                    format!("{:.0} transactions/s", done as f64 / secs)
                },
            )
        };
        let pct = done as f64 * 100.0 / total.max(1) as f64;
        let mut err = std::io::stderr().lock();
        if self.tty {
            let filled = ((pct / 100.0) * WIDTH as f64) as usize;
            let _ = write!(
                err,
                "\r{label:<8} [{}{}] {pct:5.1}%  {amount}  {rate}\x1b[K",
                "#".repeat(filled.min(WIDTH)),
                " ".repeat(WIDTH - filled.min(WIDTH)),
            );
            self.drawn = true;
        } else {
            let _ = writeln!(err, "{label}: {pct:3.0}%  {amount}  {rate}");
        }
        let _ = err.flush();
    }

    /// Ends the current bar's line.
    fn finish(&mut self) {
        if self.enabled && self.tty && self.drawn {
            let _ = writeln!(std::io::stderr());
        }
        self.drawn = false;
    }
}
