//! Shared helpers of the kernel-interop tests: a network namespace with a TAP interface whose
//! kernel side has an address, the kernel's TCP features set per namespace, `ferrotoe serve`
//! and `ferrotoe connect` run inside it, and kernel peers (std sockets on threads that entered
//! the namespace) that send and verify the test patterns.
//!
//! Needs root and `/dev/net/tun`; without them every test fails saying so (CI runs as root).
//! Addresses come from 198.18.0.0/15 only: 198.18.NET.1 is the kernel, 198.18.NET.2 ferrotoe,
//! NET unique per test so tests can run in parallel.
#![allow(dead_code)] // each test binary uses part of it

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrotoe_benches::apps::chargen::Chargen;
use ferrotoe_benches::pattern::Pattern;
use tcp_engine::tap::netns::{NetNs, NetNsError};
use tcp_engine::tap::{TUN_PATH, check_environment};

/// Longest any single step of a test may take.
pub const STEP: Duration = Duration::from_secs(20);

/// Fails the test (never skips) when it cannot run here.
pub fn require_root_and_tun() {
    if let Err(why) = check_environment(Path::new(TUN_PATH)) {
        panic!("kernel-interop test cannot run: {why}");
    }
}

/// The kernel TCP features a namespace's sysctls set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// `net.ipv4.tcp_sack`.
    pub sack: bool,
    /// `net.ipv4.tcp_timestamps`.
    pub timestamps: bool,
    /// `net.ipv4.tcp_window_scaling`.
    pub window_scaling: bool,
}

impl Features {
    pub const ALL_ON: Features = Features {
        sack: true,
        timestamps: true,
        window_scaling: true,
    };
    pub const ALL_OFF: Features = Features {
        sack: false,
        timestamps: false,
        window_scaling: false,
    };
    pub const NO_SACK: Features = Features {
        sack: false,
        ..Features::ALL_ON
    };
    pub const NO_TIMESTAMPS: Features = Features {
        timestamps: false,
        ..Features::ALL_ON
    };
    pub const NO_WINDOW_SCALING: Features = Features {
        window_scaling: false,
        ..Features::ALL_ON
    };
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// A namespace with TAP `ft0` (persistent, so it exists before ferrotoe attaches), the kernel
/// at 198.18.NET.1/24.
pub struct Lab {
    pub ns: NetNs,
    pub tap: &'static str,
    pub net: u8,
    pub features: Features,
}

impl Lab {
    pub fn new(prefix: &str, net: u8, features: Features) -> Lab {
        require_root_and_tun();
        let ns = NetNs::create(prefix).expect("creating a network namespace");
        let tap = "ft0";
        ns.ip(&["tuntap", "add", "dev", tap, "mode", "tap"])
            .unwrap();
        ns.add_address(tap, Ipv4Addr::new(198, 18, net, 1), 24)
            .unwrap();
        ns.link_up(tap).unwrap();
        for (key, on) in [
            ("net.ipv4.tcp_sack", features.sack),
            ("net.ipv4.tcp_timestamps", features.timestamps),
            ("net.ipv4.tcp_window_scaling", features.window_scaling),
        ] {
            ns.set_sysctl(key, if on { "1" } else { "0" }).unwrap();
        }
        Lab {
            ns,
            tap,
            net,
            features,
        }
    }

    pub fn kernel_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.net, 1)
    }

    pub fn our_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.net, 2)
    }

    /// `--tap ft0 --ip 198.18.NET.2/24`.
    pub fn net_args(&self) -> Vec<String> {
        vec![
            "--tap".into(),
            self.tap.into(),
            "--ip".into(),
            format!("{}/24", self.our_ip()),
        ]
    }

    /// `ferrotoe SUBCOMMAND` inside the namespace.
    pub fn ferrotoe(&self, sub: &str) -> Command {
        let mut c = self.ns.command(env!("CARGO_BIN_EXE_ferrotoe"));
        c.arg(sub).args(self.net_args());
        c
    }

    /// `ferrotoe SUBCOMMAND --nic attach --link LINK --ip 198.18.NET.2/24` inside the
    /// namespace: the engine on the NIC of a `ferrotoe nicsim --link LINK` process.
    pub fn ferrotoe_attached(&self, sub: &str, link: &Path) -> Command {
        let mut c = self.ns.command(env!("CARGO_BIN_EXE_ferrotoe"));
        c.args([sub, "--nic", "attach", "--link"])
            .arg(link)
            .args(["--ip", &format!("{}/24", self.our_ip())]);
        c
    }

    /// Runs `ferrotoe connect ARGS` to completion.
    pub fn connect(&self, args: &[&str]) -> Output {
        self.ferrotoe("connect")
            .args(args)
            .output()
            .expect("running ferrotoe connect")
    }

    /// Starts `ferrotoe serve ARGS` and waits until it is ready.
    pub fn serve(&self, args: &[&str]) -> Serve {
        let mut serve = self.ferrotoe("serve");
        serve.args(args);
        Serve::start(serve)
    }

    /// Runs `curl -sS --max-time 20 ARGS` inside the namespace and returns what it printed
    /// (fails the test when curl fails or is missing, saying how to install it).
    pub fn curl(&self, args: &[&str]) -> Vec<u8> {
        let mut cmd = self.ns.command("curl");
        cmd.args(["-sS", "--max-time", "20"]).args(args);
        tool_stdout(&mut cmd, &format!("curl {args:?}"), "curl")
    }

    /// Runs `f` on a thread inside the namespace.
    pub fn spawn<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> JoinHandle<Result<R, NetNsError>> {
        self.ns.spawn(f).expect("entering the namespace")
    }

    /// The kernel's negotiated-features phrase ferrotoe's reports use.
    pub fn negotiated_phrase(&self) -> String {
        format!(
            "window scaling {}, timestamps {}, SACK {}",
            on_off(self.features.window_scaling),
            on_off(self.features.timestamps),
            on_off(self.features.sack)
        )
    }
}

/// A running `ferrotoe serve`.
pub struct Serve {
    child: Child,
    lines: mpsc::Receiver<String>,
    reader: Option<JoinHandle<()>>,
    /// Its ready line.
    pub ready: String,
}

impl Serve {
    /// Starts `serve` (a `ferrotoe serve ...` command) and waits until it is ready.
    pub fn start(mut serve: Command) -> Serve {
        let mut child = serve
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning ferrotoe serve");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = rx.recv_timeout(STEP);
        match first {
            Ok(line) if line.starts_with("ferrotoe serve: ready") => Serve {
                child,
                lines: rx,
                reader: Some(reader),
                ready: line,
            },
            other => {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "serve did not become ready: {other:?}\nstderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }

    /// Waits (at most [`STEP`], else fails with `why`) for serve to exit by itself; returns
    /// its exit status, everything it printed after the ready line, and its standard error.
    pub fn wait_exit(&mut self, why: &str) -> (std::process::ExitStatus, String, String) {
        let deadline = Instant::now() + STEP;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "{why}");
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let out: Vec<String> = self.lines.try_iter().collect();
        (status, out.join("\n"), err)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, waits for a clean exit and returns everything it printed after the
    /// ready line.
    pub fn stop(self) -> String {
        self.stop_with(libc::SIGTERM, "SIGTERM")
    }

    /// Sends `signal` (named `name`), waits for a clean exit, checks that the report names
    /// the signal, and returns everything printed after the ready line.
    pub fn stop_with(mut self, signal: libc::c_int, name: &str) -> String {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with a pid of our own child process and a valid signal number; no
        // memory is passed.
        let r = unsafe { libc::kill(pid, signal) };
        assert_eq!(r, 0, "signalling serve");
        let (status, out, err) = self.wait_exit(&format!("serve did not stop on {name}"));
        assert!(status.success(), "serve exited with {status}\n{out}\n{err}");
        assert!(
            out.starts_with(&format!("ferrotoe serve: stopped by {name} after ")),
            "{out}"
        );
        out
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The verification pattern's first `n` bytes.
pub fn pattern(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    Pattern::new(n.max(1)).fill(0, &mut v);
    v
}

fn stream(to: SocketAddrV4) -> TcpStream {
    let s = TcpStream::connect_timeout(&to.into(), STEP).expect("kernel connect to ferrotoe");
    s.set_read_timeout(Some(STEP)).unwrap();
    s.set_write_timeout(Some(STEP)).unwrap();
    s
}

/// Kernel client: sends `n` pattern bytes to an echo server while reading them back, then
/// shuts down its sending side and reads to the end. Returns what came back.
pub fn kernel_echo(to: SocketAddrV4, n: usize) -> Vec<u8> {
    let s = stream(to);
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.write_all(&pattern(n)).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut back = Vec::with_capacity(n);
    (&s).read_to_end(&mut back).expect("reading the echo");
    writer.join().unwrap();
    back
}

/// Kernel client: reads `n` bytes from a chargen server, checks them, closes.
pub fn kernel_chargen(to: SocketAddrV4, n: usize) -> Result<(), String> {
    let mut s = stream(to);
    let mut got = vec![0u8; n];
    s.read_exact(&mut got).map_err(|e| e.to_string())?;
    Chargen::new()
        .check(0, &got)
        .map_err(|m| format!("chargen mismatch: {m:?}"))
}

/// Accepts one connection within [`STEP`] (panics after: the client never came).
fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + STEP;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "ferrotoe's connection never came"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept failed: {e}"),
        }
    }
}

/// Kernel server: accepts one connection, reads to the end; returns the bytes.
pub fn kernel_sink(listener: TcpListener) -> Vec<u8> {
    let s = accept(&listener);
    s.set_read_timeout(Some(STEP)).unwrap();
    let mut got = Vec::new();
    (&s).read_to_end(&mut got).expect("reading from ferrotoe");
    got
}

/// Kernel server: accepts one connection, sends `n` pattern bytes, shuts down its sending
/// side, and waits for the client's close.
pub fn kernel_source(listener: TcpListener, n: usize) {
    let mut s = accept(&listener);
    s.set_write_timeout(Some(STEP)).unwrap();
    s.set_read_timeout(Some(STEP)).unwrap();
    s.write_all(&pattern(n)).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
}

/// Binds a kernel listener inside the namespace (the thread that binds must be inside; the
/// socket works from anywhere afterwards).
pub fn kernel_listener(lab: &Lab, port: u16) -> TcpListener {
    let at = SocketAddrV4::new(lab.kernel_ip(), port);
    lab.ns
        .in_namespace(move || TcpListener::bind(at))
        .unwrap()
        .expect("binding a kernel listener")
}

/// stdout + stderr of a finished command, asserting success.
pub fn success(out: &Output, what: &str) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed: {}\n{text}",
        out.status
    );
    text
}

/// `name=value` from a ferrotoe report (0 when absent: reports print non-zero counters only).
pub fn counter(report: &str, name: &str) -> u64 {
    report
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .map_or(0, |v| v.parse().unwrap())
}

/// The line of `text` that contains `needle`.
pub fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

/// One frame of a capture as tshark judges it.
#[derive(Clone, Debug)]
pub struct WireFrame {
    /// Frame length.
    pub len: usize,
    /// IPv4 source ("" if none).
    pub src: String,
    /// tshark found the IPv4 header checksum bad.
    pub ip_bad: bool,
    /// A TCP segment.
    pub tcp: bool,
    /// tshark found the TCP checksum bad.
    pub tcp_bad: bool,
    /// ... because it is 0xffff where 0x0000 was due (the same ones'-complement zero).
    pub tcp_ffff: bool,
}

/// Runs a tool's command `cmd` (`what`, for messages) and returns its standard output; fails
/// the test when it fails, or when it is missing with the Debian `package` to install.
fn tool_stdout(cmd: &mut Command, what: &str, package: &str) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {what} ({e}): `apt-get install -y {package}`"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The `fields` of every frame of `pcap` that tshark's display `filter` keeps (one tshark run,
/// `extra` options before the fields).
fn tshark_fields(pcap: &Path, filter: &str, extra: &[&str], fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"])
        .arg(pcap)
        .args(["-Y", filter])
        .args(extra);
    cmd.args(["-T", "fields", "-E", "separator=,"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    String::from_utf8_lossy(&tool_stdout(&mut cmd, "tshark", "tshark"))
        .lines()
        .map(|line| {
            let f: Vec<String> = line.split(',').map(str::to_owned).collect();
            assert_eq!(f.len(), fields.len(), "unexpected tshark line {line:?}");
            f
        })
        .collect()
}

/// Every frame of `pcap`, with tshark's checksum verdicts (one tshark run).
pub fn wire_frames(pcap: &Path) -> Vec<WireFrame> {
    let checks = [
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
    ];
    let fields = [
        "frame.len",
        "ip.src",
        "ip.checksum.status",
        "tcp.checksum.status",
        "tcp.checksum.ffff",
    ];
    tshark_fields(pcap, "frame", &checks, &fields)
        .into_iter()
        .map(|f| {
            // Status values: 0 bad, 1 good, 2 unverified.
            WireFrame {
                len: f[0].parse().unwrap(),
                src: f[1].clone(),
                ip_bad: f[2] == "0",
                tcp: !f[3].is_empty(),
                tcp_bad: f[3] == "0",
                tcp_ffff: !f[4].is_empty(),
            }
        })
        .collect()
}

/// One TCP frame of a capture as ECN sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcnFrame {
    /// IPv4 source.
    pub src: String,
    /// SYN and ACK flags.
    pub syn: bool,
    pub ack: bool,
    /// ECE and CWR flags.
    pub ece: bool,
    pub cwr: bool,
    /// The IPv4 ECN field (0 not ECN-capable, 2 ECT(0), 1 ECT(1), 3 CE).
    pub ecn: u8,
    /// TCP payload bytes.
    pub len: usize,
}

/// Every TCP frame of `pcap` with its ECN bits (one tshark run).
pub fn ecn_frames(pcap: &Path) -> Vec<EcnFrame> {
    let fields = [
        "ip.src",
        "tcp.flags.syn",
        "tcp.flags.ack",
        "tcp.flags.ece",
        "tcp.flags.cwr",
        "ip.dsfield.ecn",
        "tcp.len",
    ];
    // Flags print as 1/0 (older tshark) or True/False (newer).
    let flag = |v: &str| matches!(v, "1" | "True");
    tshark_fields(pcap, "tcp", &[], &fields)
        .into_iter()
        .map(|f| EcnFrame {
            src: f[0].clone(),
            syn: flag(&f[1]),
            ack: flag(&f[2]),
            ece: flag(&f[3]),
            cwr: flag(&f[4]),
            ecn: f[5]
                .parse()
                .unwrap_or_else(|_| panic!("ECN field in {f:?}")),
            len: f[6].parse().unwrap_or_else(|_| panic!("length in {f:?}")),
        })
        .collect()
}
