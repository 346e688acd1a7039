//! `ferrotoe serve`: echo, discard, chargen, HTTP or iperf3 on one or more ports, on a TAP device
//! (the engine directly) or on a ferrotoe NIC through the host driver (simulated in this
//! process with the TAP as its wire, a `ferrotoe nicsim` process, or a device over VFIO), with
//! the Linux kernel's TCP as the client; until SIGINT or SIGTERM (or until the device fails),
//! then the counters.
//!
//! Turns flags into a `ferrotoe_benches::apps::server::Server` and a device
//! (`net_args`), prints a `ready` line when clients may connect, and a report at the end. Owns
//! no protocol, application or device logic.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use ferrotoe_benches::apps::device::WaitDevice;
use ferrotoe_benches::apps::http::response::Status;
use ferrotoe_benches::apps::http::site::Site;
use ferrotoe_benches::apps::run;
use ferrotoe_benches::apps::server::{Server, ServerConfig};
use ferrotoe_benches::apps::{AppKind, Service};
use tcp_engine::time::StdClock;

use crate::net_args::{DeviceUser, NetArgs, counter_lines, signal_name, stop_on_signals};

/// Flags of `ferrotoe serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The application: echo (RFC 862), discard (RFC 863), chargen (RFC 864), http (a
    /// static HTTP/1.1 server) or iperf3 (TCP tests of the stock `iperf3 -c` client).
    #[arg(long)]
    app: AppKind,
    /// Its TCP port (default: the application's well-known port: 7, 9, 19, 80, 5201).
    #[arg(long)]
    port: Option<u16>,
    /// More services on other ports, APP or APP:PORT (repeatable), e.g. --also discard:9.
    #[arg(long, value_name = "APP[:PORT]")]
    also: Vec<Service>,
    /// Slots kept listening per port (connections accepted at once before the next SYN).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=4096))]
    listeners: u16,
    /// Most connections open at once (each has its own buffers, allocated at start).
    #[arg(long, default_value_t = 64)]
    max_connections: usize,
    /// Send and receive buffer per connection, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = 256, value_parser = clap::value_parser!(u32).range(16..=65536))]
    buffer: u32,
    /// Serve the files of this directory (read into memory at start) instead of the
    /// built-in pages.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// HTTP: end connections that make no progress for this many seconds (408 when a
    /// request was begun).
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=86400))]
    idle_timeout: u32,
    /// echo, discard, chargen: reset connections that move no byte either way for this many
    /// seconds (a silent client, or one that never reads). Default: never, as RFC 862-864
    /// servers; such a client then keeps its connection's buffers until TCP ends it.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u32).range(1..=86400))]
    stream_idle_timeout: Option<u32>,
    /// The device and the network (last: the impairment flags at its end open their own help
    /// section).
    #[command(flatten)]
    net: NetArgs,
}

/// Runs `ferrotoe serve`.
pub fn run(a: ServeArgs) -> anyhow::Result<()> {
    a.net.check()?;
    let mut services = vec![Service {
        app: a.app,
        port: match a.port {
            Some(0) => anyhow::bail!("--port 0 cannot be served: give a port from 1 to 65535"),
            Some(p) => p,
            None => a.app.default_port(),
        },
    }];
    services.extend(a.also.iter().copied());
    let site = match &a.root {
        Some(dir) => Site::from_dir(dir)?,
        None => Site::builtin(),
    };
    let buffer = a.buffer as usize * 1024;
    let cfg = ServerConfig {
        listeners: usize::from(a.listeners),
        connections: a.max_connections,
        send_buffer: buffer,
        recv_buffer: buffer,
        site,
        http_idle: tcp_engine::time::Duration::from_secs(u64::from(a.idle_timeout)),
        stream_idle: a
            .stream_idle_timeout
            .map(|s| tcp_engine::time::Duration::from_secs(u64::from(s))),
        ..ServerConfig::new(services)
    };
    cfg.check()?;
    check_memory(&cfg, a.buffer, physical_memory())?;
    let (stop, which) = stop_on_signals()?;
    let job = Job {
        args: &a,
        cfg,
        stop: &stop,
    };
    let (server, elapsed, device_text) = a.net.with_device(job)?;
    print!(
        "ferrotoe serve: stopped by {} after {:.1} s\n{}",
        signal_name(&which),
        elapsed,
        report(&server)
    );
    print!("{device_text}");
    Ok(())
}

/// Refuses connection buffers larger than the machine's memory (`memory`, when known): the
/// allocation would abort the process instead of failing.
fn check_memory(cfg: &ServerConfig, buffer_kib: u32, memory: Option<u64>) -> anyhow::Result<()> {
    let (Some(total), Some(memory)) = (cfg.buffer_bytes(), memory) else {
        return Ok(());
    };
    if total > memory {
        const GIB: f64 = (1u64 << 30) as f64;
        anyhow::bail!(
            "--max-connections {} x 2 x --buffer {buffer_kib} KiB is {:.1} GiB of connection \
             buffers, more than this machine's {:.1} GiB of memory: lower --max-connections or \
             --buffer",
            cfg.connections,
            total as f64 / GIB,
            memory as f64 / GIB
        );
    }
    Ok(())
}

/// Physical memory in bytes (`MemTotal` of /proc/meminfo), if it can be read.
fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

struct Job<'a> {
    args: &'a ServeArgs,
    cfg: ServerConfig,
    stop: &'a std::sync::atomic::AtomicBool,
}

impl DeviceUser<(Server, f64, String)> for Job<'_> {
    fn run<D: WaitDevice>(self, dev: &mut D) -> anyhow::Result<(Server, f64, String)> {
        let net = &self.args.net;
        let caps = dev.caps();
        let services = self.cfg.services.clone();
        let pages = self.cfg.site.pages().len();
        let mut server = Server::new(net.endpoint_config(caps)?, self.cfg)?;
        let list: Vec<String> = services.iter().map(|s| s.to_string()).collect();
        println!(
            "ferrotoe serve: ready on {}, address {}/{} (MAC {}), MSS {}, {} congestion control, \
             services: {}{}",
            dev.describe(),
            std::net::Ipv4Addr::from(net.ip.address()),
            net.ip.prefix_len(),
            net.mac(),
            server.endpoint().tcb_config().mss,
            server.endpoint().tcb_config().congestion,
            list.join(", "),
            if services.iter().any(|s| s.app == AppKind::Http) {
                format!(" ({pages} pages)")
            } else {
                String::new()
            }
        );
        std::io::stdout().flush()?;
        let clock = StdClock::new();
        let started = Instant::now();
        run::serve(&mut server, dev, &clock, self.stop)
            .with_context(|| format!("serving on {}", dev.describe()))?;
        let text = counter_lines("device", dev.counters());
        Ok((server, started.elapsed().as_secs_f64(), text))
    }
}

fn report(server: &Server) -> String {
    let mut out = String::new();
    for s in server.services() {
        let _ = writeln!(
            out,
            "  {}: {} connections accepted, {} finished, {} bytes in, {} bytes out; negotiated: \
             window scaling {}, timestamps {}, SACK {}",
            s.service,
            s.accepted,
            s.finished,
            s.bytes_in,
            s.bytes_out,
            s.window_scaling,
            s.timestamps,
            s.sack
        );
    }
    let st = server.stats();
    if server
        .services()
        .iter()
        .any(|s| s.service.app == AppKind::Http)
    {
        let statuses: Vec<String> = Status::ALL
            .iter()
            .filter(|s| st.http_status[s.index()] > 0)
            .map(|s| format!("{} x{}", s.code(), st.http_status[s.index()]))
            .collect();
        let _ = writeln!(
            out,
            "  http: {} requests; responses {}; {} idle connections ended{}",
            st.http_requests,
            if statuses.is_empty() {
                "none".to_owned()
            } else {
                statuses.join(", ")
            },
            st.http_timeouts,
            st.last_reject
                .map(|r| format!("; first refused request: {r:?}"))
                .unwrap_or_default()
        );
    }
    if server
        .services()
        .iter()
        .any(|s| s.service.app == AppKind::Iperf3)
    {
        out.push_str(&iperf3_line(server));
    }
    if st.stream_timeouts > 0 {
        let _ = writeln!(
            out,
            "  echo/discard/chargen: {} idle connections reset (--stream-idle-timeout)",
            st.stream_timeouts
        );
    }
    let _ = writeln!(
        out,
        "  connections open at exit: {}; resets by clients: {}; timeouts: {}; listen failures: \
         {}; application errors: {}",
        server.open_connections(),
        st.resets,
        st.timeouts,
        st.listen_failures,
        st.app_errors
    );
    out.push_str(&counter_lines(
        "endpoint",
        server
            .endpoint()
            .counters()
            .iter()
            .map(|(n, v)| (n.to_owned(), v)),
    ));
    out
}

/// The iperf3 service's line of the report.
fn iperf3_line(server: &Server) -> String {
    let i = &server.stats().iperf3;
    let mut line = format!(
        "  iperf3: {} tests completed ({} data bytes received, {} sent); {} refused ({} UDP); \
         {} failed; {} aborted; {} busy; {} stray streams; {} bad cookies; {} running at exit",
        i.completed,
        i.bytes_received,
        i.bytes_sent,
        i.refused,
        i.refused_udp,
        i.failed,
        i.aborted,
        i.busy,
        i.stray_streams,
        i.bad_cookies,
        server.iperf3_tests_active()
    );
    if let Some(r) = i.last_refusal {
        let _ = write!(line, "; last refusal: {r:?}");
    }
    if let Some(e) = i.last_error {
        let _ = write!(line, "; last error: {e}");
    }
    line.push('\n');
    line
}
