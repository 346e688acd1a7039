//! `ferrotoe probe`: attach to a ferrotoe NIC (real over VFIO, simulated over sim-link, or a
//! simulated one started in this process) and print what it is, what it can do, its queues and
//! its counters; or the precise error when it cannot.
//!
//! Probing only reads registers (discovery and statistics), so it is safe on a NIC another
//! process drives. `--send N` goes further: it resets the device, opens queue pair 0 with the
//! driver and sends test frames, then prints the counters again. Owns the report's format
//! only: discovery, statistics and the driver are host-driver's.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use host_driver::nic::{DeviceInfo, DeviceStats, PacketBatch, read_device_stats};
use host_driver::vfio::{VfioDevice, VfioOptions};
use host_driver::{DeviceAccess, Nic, NicConfig, QueueConfig, SimDevice};
use hw_spec::regs::control;
use hw_spec::{Implementation, TxOffloadRequest};
use rtl_sim::conformance::frames::{self, TcpSpec};
use rtl_sim::device::DeviceConfig;
use rtl_sim::nic::{Backend, Clock, SimNic, build_core};
use rtl_sim::wire::NullPort;
use sim_link::{AttachOptions, DeviceLink, LinkConfig};

/// Flags of `ferrotoe probe`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["address", "sim", "spawn_sim"])))]
pub struct ProbeArgs {
    /// PCI address of a ferrotoe NIC bound to vfio-pci (e.g. 0000:03:00.0).
    pub address: Option<String>,
    /// Attach to a simulated NIC: the link directory of a running `ferrotoe nicsim --link DIR`.
    #[arg(long, value_name = "DIR")]
    pub sim: Option<PathBuf>,
    /// Start a simulated NIC in this process (on its own thread, wire unplugged) and probe it.
    #[arg(long)]
    pub spawn_sim: bool,
    /// Device implementation of `--spawn-sim`.
    #[arg(long, default_value = "model", requires = "spawn_sim")]
    pub backend: Backend,
    /// After probing, reset the device, open queue pair 0 and send this many test frames
    /// (TCP/IPv4, checksums offloaded; one TSO super-frame too when the device has TSO), then
    /// print the counters again. Resets the NIC: not for a device another driver uses.
    #[arg(long, value_name = "N")]
    pub send: Option<u32>,
    /// Bound of every wait for the device, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub timeout_secs: f64,
}

/// Runs `ferrotoe probe`.
pub fn run(a: ProbeArgs) -> anyhow::Result<()> {
    let timeout = Duration::try_from_secs_f64(a.timeout_secs)
        .ok()
        .filter(|t| !t.is_zero())
        .context("--timeout-secs must be a positive number of seconds")?;
    let out = if let Some(dir) = &a.sim {
        let dev = SimDevice::attach_dir(
            dir,
            AttachOptions {
                timeout,
                force: false,
            },
        )?;
        probe(dev, "simulated NIC (ferrotoe nicsim)", a.send, timeout)?
    } else if a.spawn_sim {
        let cfg = DeviceConfig::REFERENCE;
        let core = build_core(a.backend, cfg).with_context(|| {
            format!(
                "probe --spawn-sim: building the simulated NIC (backend {:?})",
                a.backend
            )
        })?;
        let link = DeviceLink::create_anonymous(&LinkConfig {
            irq_vectors: cfg.irq_vectors.into(),
            ..LinkConfig::default()
        })?;
        let nic = SimNic::new(
            core,
            link,
            Box::new(NullPort::default()),
            Clock::Real(Instant::now()),
        )
        .spawn()
        .context("starting the simulated NIC's thread")?;
        let dev = SimDevice::attach(
            nic.paths(),
            AttachOptions {
                timeout,
                force: false,
            },
        )?;
        let kind = format!(
            "simulated NIC in this process (backend {:?}, wire unplugged)",
            a.backend
        );
        let out = probe(dev, &kind, a.send, timeout)?;
        drop(nic);
        out
    } else {
        let address = a.address.as_deref().unwrap_or_default();
        let dev = VfioDevice::open_str(address, VfioOptions::default())?;
        probe(dev, "PCI device through VFIO", a.send, timeout)?
    };
    print!("{out}");
    Ok(())
}

/// Probes `dev` and returns the report; with `send`, also runs the traffic test.
fn probe<D: DeviceAccess>(
    dev: D,
    kind: &str,
    send: Option<u32>,
    timeout: Duration,
) -> anyhow::Result<String> {
    let info = DeviceInfo::discover(&dev)?;
    let stats = read_device_stats(&dev, &info)?;
    let ctrl = dev
        .read32((info.bases.control + control::CTRL.offset) as usize)
        .map_err(|e| host_driver::DeviceError::register(dev.location(), e))?;
    let mut out = String::new();
    write_identity(&mut out, &info, kind)?;
    writeln!(
        out,
        "  state:        {}{}{}",
        if control::CTRL_ENABLE.get32(ctrl) == 1 {
            "enabled"
        } else {
            "disabled"
        },
        if control::CTRL_RX_CSUM_ENABLE.get32(ctrl) == 1 {
            ", RX checksum verification on"
        } else {
            ""
        },
        if control::CTRL_RSS_ENABLE.get32(ctrl) == 1 {
            ", RSS on"
        } else {
            ""
        },
    )?;
    write_stats(&mut out, &stats)?;
    if let Some(n) = send {
        write_traffic(&mut out, dev, n, timeout)?;
    }
    Ok(out)
}

fn implementation_name(info: &DeviceInfo) -> String {
    match info.implementation {
        Some(Implementation::Model) => "Rust reference model (MODEL)".into(),
        Some(Implementation::RtlVerilator) => "Verilog RTL under Verilator (RTL_VERILATOR)".into(),
        Some(Implementation::Fpga) => "RTL on an FPGA (FPGA)".into(),
        None => format!("unknown implementation {}", info.implementation_code),
    }
}

fn write_identity(out: &mut String, info: &DeviceInfo, kind: &str) -> std::fmt::Result {
    let c = &info.caps;
    writeln!(out, "ferrotoe NIC: {kind}")?;
    writeln!(out, "  location:     {}", info.location)?;
    writeln!(
        out,
        "  identity:     {}, revision {}, build {:#010x}, contract {}.{}",
        implementation_name(info),
        info.revision,
        info.build_id,
        info.spec_version.0,
        info.spec_version.1
    )?;
    writeln!(
        out,
        "  datapath:     {} bits at {} MHz ({:.1} Gbit/s)",
        info.datapath_bits,
        info.clock_mhz,
        f64::from(info.datapath_bits) * f64::from(info.clock_mhz) / 1000.0
    )?;
    let blocks: Vec<String> = info
        .blocks
        .iter()
        .map(|b| format!("{}@{:#x}", b.name(), b.base))
        .collect();
    writeln!(out, "  blocks:       {}", blocks.join(" "))?;
    let names = [
        (c.tx_ipv4_csum, "tx-ipv4-csum"),
        (c.tx_tcp_csum, "tx-tcp-csum"),
        (c.tx_udp_csum, "tx-udp-csum"),
        (c.rx_csum, "rx-csum"),
        (c.tso, "tso"),
        (c.rss, "rss"),
        (c.timestamp, "timestamps"),
        (c.tx_scatter_gather, "tx-scatter-gather"),
    ];
    let caps: Vec<&str> = names
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
    writeln!(
        out,
        "  capabilities: {} (CAPS {:#010x})",
        if caps.is_empty() {
            "none".to_string()
        } else {
            caps.join(" ")
        },
        info.caps_word
    )?;
    writeln!(
        out,
        "  limits:       frames up to {} bytes, TSO payload up to {} bytes, MSS {}..{}, rings \
         {}..{} entries, {} descriptors per TX frame",
        c.max_frame_len,
        c.max_tso_payload,
        c.min_mss,
        c.max_mss,
        1u32 << info.ring_min_log2,
        1u32 << info.ring_max_log2,
        c.max_sg
    )?;
    writeln!(
        out,
        "  queues:       {} TX, {} RX, {} completion, {} interrupt vectors ({} queue pairs for \
         this driver)",
        info.tx_queues,
        info.rx_queues,
        info.completion_queues,
        info.irq_vectors,
        info.queue_pairs()
    )
}

fn write_stats(out: &mut String, s: &DeviceStats) -> std::fmt::Result {
    let names = s.error_status_names();
    writeln!(
        out,
        "  errors:       {} recorded{}{}",
        s.error_count,
        if names.is_empty() {
            String::new()
        } else {
            format!(" ({})", names.join(", "))
        },
        s.last_error
            .map(|l| format!("; last: {l}"))
            .unwrap_or_default()
    )?;
    writeln!(
        out,
        "  statistics:   device time {} ns, {} frames dropped with no RX queue",
        s.timestamp_ns, s.rx_drops_no_queue
    )?;
    writeln!(
        out,
        "    queue |  tx frames   tx bytes requests csum-ins tso-segs errors |  rx frames   rx \
         bytes  drops csum-bad csum-good errors"
    )?;
    for q in 0..s.tx.len().max(s.rx.len()) {
        let t = s.tx.get(q).copied().unwrap_or_default();
        let r = s.rx.get(q).copied().unwrap_or_default();
        writeln!(
            out,
            "    {q:>5} | {:>10} {:>10} {:>8} {:>8} {:>8} {:>6} | {:>10} {:>10} {:>6} {:>8} {:>9} \
             {:>6}",
            t.frames,
            t.bytes,
            t.requests,
            t.csum_inserted,
            t.tso_segments,
            t.errors,
            r.frames,
            r.bytes,
            r.drops,
            r.csum_bad,
            r.csum_good,
            r.errors
        )?;
    }
    Ok(())
}

/// Resets the device, opens queue pair 0, sends `n` frames (and a TSO super-frame when the
/// device can segment), waits for their completions and reports.
fn write_traffic<D: DeviceAccess>(
    out: &mut String,
    dev: D,
    n: u32,
    timeout: Duration,
) -> anyhow::Result<()> {
    let nic = Nic::open(
        dev,
        NicConfig {
            timeout,
            ..NicConfig::default()
        },
    )?;
    let tso = nic.info().caps.tso;
    let qcfg = QueueConfig {
        large_buffers: u32::from(tso),
        ..QueueConfig::default()
    };
    let mut qp = nic.open_queue_pair(0, &qcfg)?;
    nic.start()?;
    let mut batch = PacketBatch::with_capacity(64);
    let mut queued = 0u32;
    let start = Instant::now();
    while queued < n || !batch.is_empty() {
        while queued < n && batch.room() > 0 {
            let Some(mut p) = qp.pool().alloc() else {
                break;
            };
            let spec = TcpSpec {
                seq: queued,
                ..TcpSpec::default()
            };
            p.copy_from(&frames::tcp_frame(
                &spec,
                &frames::payload(64, queued as u8),
            ))?;
            p.set_tx_offload(TxOffloadRequest::tcp_checksums(14, 20));
            batch
                .push(p)
                .map_err(|_| anyhow::anyhow!("the batch is full"))?;
            queued += 1;
        }
        qp.tx_burst(&mut batch);
        if start.elapsed() > timeout {
            anyhow::bail!(
                "{}: the TX ring did not drain within {timeout:?}",
                nic.location()
            );
        }
    }
    if let Some(large) = qp.large_pool().cloned() {
        let mut p = large.alloc().context("a large buffer")?;
        p.copy_from(&frames::tcp_frame(
            &TcpSpec::default(),
            &frames::payload(30_000, 1),
        ))?;
        p.set_tx_offload(TxOffloadRequest::tso(1448, 14, 20, 32));
        qp.tx_one(p)
            .map_err(|_| anyhow::anyhow!("the TX ring is full"))?;
    }
    qp.flush_tx(timeout)?;
    qp.health()?;
    let s = qp.stats();
    writeln!(
        out,
        "sent through queue pair 0 (device reset first): {} requests completed, {} wire frames, \
         {} bytes, {} errors, {} doorbells",
        s.tx_packets,
        s.tx_segments,
        s.tx_bytes,
        s.tx_errors.total(),
        s.tx_doorbells
    )?;
    write_stats(out, &nic.device_stats()?)?;
    Ok(())
}
