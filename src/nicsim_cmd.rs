//! `ferrotoe nicsim`: the simulated NIC as a process of its own, on shared-memory files a
//! driver in another process maps, as a real device sits across PCIe.
//!
//! Turns the command-line flags into a checked device configuration, link geometry and wire
//! port, creates the link files, runs the NIC's loop on the main thread until SIGINT, SIGTERM,
//! end of input (`--stop-on-stdin-eof`) or a driver's shutdown request, and prints a summary
//! when it stops. Owns no device logic (rtl-sim) and no transport (sim-link).

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use rtl_sim::device::DeviceConfig;
use rtl_sim::nic::{Backend, Clock, SimNic, build_core};
use rtl_sim::wire::bottleneck::{self, Bottleneck};
use rtl_sim::wire::cable::{CableConfig, CableEnd, Side};
use rtl_sim::wire::impair::Impairment;
use rtl_sim::wire::pcap::{Capture, PcapPort};
use rtl_sim::wire::tap::TapPort;
use rtl_sim::wire::{NullPort, Port};
use sim_link::{DeviceLink, LinkConfig};

/// Where the NIC's wire goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireSpec {
    /// Nothing: sent frames are lost.
    None,
    /// A cable file shared with another `nicsim` (side A creates it).
    Cable(PathBuf, Side),
    /// A Linux TAP interface.
    Tap(String),
    /// A capture file only.
    Pcap(PathBuf),
}

impl std::str::FromStr for WireSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<WireSpec, String> {
        let usage = "use none, cable:PATH:a, cable:PATH:b, tap:NAME or pcap:PATH";
        if s == "none" {
            return Ok(WireSpec::None);
        }
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("wire `{s}`: {usage}"))?;
        match kind {
            "cable" => {
                let (path, side) = rest
                    .rsplit_once(':')
                    .ok_or_else(|| format!("wire `{s}`: the cable needs a side: {usage}"))?;
                let side = match side {
                    "a" | "A" => Side::A,
                    "b" | "B" => Side::B,
                    _ => return Err(format!("wire `{s}`: side `{side}` is not a or b")),
                };
                Ok(WireSpec::Cable(PathBuf::from(path), side))
            }
            "tap" if !rest.is_empty() => Ok(WireSpec::Tap(rest.to_string())),
            "pcap" if !rest.is_empty() => Ok(WireSpec::Pcap(PathBuf::from(rest))),
            _ => Err(format!("wire `{s}`: {usage}")),
        }
    }
}

/// Flags of `ferrotoe nicsim`.
#[derive(Args, Debug)]
pub struct NicsimArgs {
    /// Directory of the link files (`bar0`, `link`); created if missing. A driver attaches
    /// to it (host-driver's simulation backend, `sim_link::DriverLink::attach_dir`).
    #[arg(long)]
    pub link: PathBuf,
    /// Device implementation: `model` (the Rust reference model) or `rtl` (the Verilog device
    /// under Verilator, about 500 times slower; needs a build with `--features rtl` (the same as
    /// `--features rtl-sim/rtl`) and the default queue counts and frame size, which are the RTL
    /// build's).
    #[arg(long, default_value = "model")]
    pub backend: Backend,
    /// The wire: none, cable:PATH:a|b (side a creates the cable file, side b opens it),
    /// tap:NAME, pcap:PATH.
    #[arg(long, default_value = "none")]
    pub wire: WireSpec,
    /// Also record both directions of the wire in this capture file (classic pcap).
    #[arg(long)]
    pub capture: Option<PathBuf>,
    /// Cable impairment of frames this side sends, e.g. loss=0.01,reorder=0.02,duplicate=0,
    /// corrupt=0.001,seed=7; and a bottleneck after it: rate=10G,queue=100,ce_threshold=20,
    /// delay=50us (line rate in bit/s with k/M/G/T, queue limit in frames, CE marking
    /// threshold, one-way delay), on the NIC's device clock.
    #[arg(long, default_value = "")]
    pub impair: String,
    /// Frames in flight per cable direction (side a; a power of two).
    #[arg(long, default_value_t = 512)]
    pub cable_slots: u32,
    /// TX queues.
    #[arg(long, default_value_t = DeviceConfig::REFERENCE.tx_queues)]
    pub tx_queues: u8,
    /// RX queues.
    #[arg(long, default_value_t = DeviceConfig::REFERENCE.rx_queues)]
    pub rx_queues: u8,
    /// Completion queues.
    #[arg(long, default_value_t = DeviceConfig::REFERENCE.completion_queues)]
    pub completion_queues: u8,
    /// Interrupt vectors.
    #[arg(long, default_value_t = DeviceConfig::REFERENCE.irq_vectors)]
    pub vectors: u8,
    /// Largest frame (IDENT.MAX_FRAME_LEN); MAX_MSS follows it.
    #[arg(long, default_value_t = DeviceConfig::REFERENCE.caps.max_frame_len)]
    pub max_frame: u16,
    /// Posted-write FIFO entries of the link (a power of two).
    #[arg(long, default_value_t = 4096)]
    pub fifo: u32,
    /// DMA regions a driver may register.
    #[arg(long, default_value_t = 32)]
    pub dma_regions: u32,
    /// Exit when standard input reaches end of file (so a parent can stop it by closing it).
    #[arg(long)]
    pub stop_on_stdin_eof: bool,
    /// Wait this long for a cable's side a to create the cable file (side b).
    #[arg(long, default_value_t = 10.0)]
    pub cable_wait_secs: f64,
}

fn device_config(a: &NicsimArgs) -> anyhow::Result<DeviceConfig> {
    let mut cfg = DeviceConfig {
        tx_queues: a.tx_queues,
        rx_queues: a.rx_queues,
        completion_queues: a.completion_queues,
        irq_vectors: a.vectors,
        ..DeviceConfig::REFERENCE
    };
    cfg.caps.max_frame_len = a.max_frame;
    cfg.caps.max_mss = a.max_frame.saturating_sub(14 + 20 + 20);
    cfg.check()?;
    Ok(cfg)
}

fn open_cable(
    path: &std::path::Path,
    side: Side,
    cfg: &CableConfig,
    wait: Duration,
) -> anyhow::Result<CableEnd> {
    if side == Side::A {
        return CableEnd::create(path, cfg)
            .with_context(|| format!("creating cable file {}", path.display()));
    }
    let deadline = Instant::now() + wait;
    loop {
        match CableEnd::open(path, side, cfg.impairment) {
            Ok(end) => {
                return end
                    .with_bottleneck(cfg.bottleneck)
                    .with_context(|| format!("the bottleneck of cable file {}", path.display()));
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "opening cable file {} as side b (is `ferrotoe nicsim --wire cable:{}:a` running?)",
                        path.display(),
                        path.display()
                    )
                });
            }
        }
    }
}

fn build_port(a: &NicsimArgs, cfg: &DeviceConfig) -> anyhow::Result<Box<dyn Port>> {
    let (bottleneck, rest) = bottleneck::split_spec(&a.impair).map_err(anyhow::Error::msg)?;
    let impairment = Impairment::parse(&rest).map_err(anyhow::Error::msg)?;
    if (!impairment.is_none() || bottleneck != Bottleneck::OFF)
        && !matches!(a.wire, WireSpec::Cable(..))
    {
        bail!(
            "--impair applies to a cable wire only (this wire is {:?})",
            a.wire
        );
    }
    let port: Box<dyn Port> = match &a.wire {
        WireSpec::None => Box::new(NullPort::default()),
        WireSpec::Pcap(p) => Box::new(PcapPort::create(p)?),
        WireSpec::Tap(name) => {
            let port = TapPort::open(name)?;
            // Up, as `serve --nic sim` brings its wire up: the kernel's side can carry traffic
            // once it has an address.
            tcp_engine::tap::set_link_up(port.name())
                .with_context(|| format!("bringing the wire's TAP interface {name} up"))?;
            Box::new(port)
        }
        WireSpec::Cable(path, side) => {
            let ccfg = CableConfig {
                slots: a.cable_slots,
                max_frame: cfg.caps.max_frame_len.into(),
                impairment,
                bottleneck,
            };
            Box::new(open_cable(
                path,
                *side,
                &ccfg,
                Duration::from_secs_f64(a.cable_wait_secs),
            )?)
        }
    };
    Ok(match &a.capture {
        Some(p) => Box::new(Capture::new(port, p)?),
        None => port,
    })
}

/// Runs `ferrotoe nicsim`.
pub fn run(a: NicsimArgs) -> anyhow::Result<()> {
    let cfg = device_config(&a)?;
    let core = build_core(a.backend, cfg).with_context(|| {
        format!(
            "nicsim --link {}: building the device (backend {:?})",
            a.link.display(),
            a.backend
        )
    })?;
    std::fs::create_dir_all(&a.link)
        .with_context(|| format!("creating link directory {}", a.link.display()))?;
    let link = DeviceLink::create_in_dir(
        &a.link,
        &LinkConfig {
            fifo_capacity: a.fifo,
            region_slots: a.dma_regions,
            irq_vectors: cfg.irq_vectors.into(),
        },
    )
    .with_context(|| format!("creating the link in {}", a.link.display()))?;
    let port = build_port(&a, &cfg)?;
    let mut nic = SimNic::new(core, link, port, Clock::Real(Instant::now()));
    // SIGINT (Ctrl-C) and SIGTERM (`kill`) stop it as end of input does: the link is marked
    // stopped, so an attached driver fails at once instead of waiting out its timeout, and the
    // summary is printed. The NIC's sleeps are bounded, so the flag is seen promptly.
    let (stop, _) = crate::net_args::stop_on_signals()?;
    if a.stop_on_stdin_eof {
        let (flag, waker) = (Arc::clone(&stop), nic.waker());
        std::thread::Builder::new()
            .name("stdin-watch".into())
            .spawn(move || {
                let mut line = String::new();
                let stdin = std::io::stdin();
                while stdin
                    .lock()
                    .read_line(&mut line)
                    .map(|n| n > 0)
                    .unwrap_or(false)
                {
                    line.clear();
                }
                flag.store(true, Ordering::Release);
                waker.wake();
            })?;
    }
    let p = nic.paths();
    println!(
        "nicsim ready: link {} (bar0 {}, link {}), backend {:?}{}, wire {}",
        a.link.display(),
        p.bar0.display(),
        p.link.display(),
        a.backend,
        match a.backend {
            rtl_sim::nic::Backend::Rtl => rtl_sim::nic::rtl_build_summary()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default(),
            rtl_sim::nic::Backend::Model => String::new(),
        },
        nic.port().describe()
    );
    std::io::stdout().flush()?;
    let started = Instant::now();
    nic.run(&stop);
    let c = nic.counters();
    let w = nic.port().counters();
    println!(
        "nicsim stopped after {:.1} s: {} steps, {} register writes, {} TX requests, {} frames \
         sent, {} received; wire sent {}, received {}, dropped {}; impairment {:?}",
        started.elapsed().as_secs_f64(),
        c.steps,
        c.mmio_writes,
        c.tx_requests,
        c.tx_frames,
        c.rx_frames,
        w.sent,
        w.received,
        w.dropped,
        w.impairment
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_specs() {
        assert_eq!("none".parse(), Ok(WireSpec::None));
        assert_eq!(
            "cable:/dev/shm/c:b".parse(),
            Ok(WireSpec::Cable(PathBuf::from("/dev/shm/c"), Side::B))
        );
        assert_eq!("tap:ft0".parse(), Ok(WireSpec::Tap("ft0".into())));
        assert_eq!(
            "pcap:/tmp/x.pcap".parse(),
            Ok(WireSpec::Pcap(PathBuf::from("/tmp/x.pcap")))
        );
        assert!("cable:/x".parse::<WireSpec>().unwrap_err().contains("side"));
        assert!("cable:/x:c".parse::<WireSpec>().is_err());
        assert!("tap:".parse::<WireSpec>().is_err());
        assert!("serial:1".parse::<WireSpec>().is_err());
    }
}
