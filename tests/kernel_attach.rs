//! `ferrotoe serve` and `ferrotoe connect` on a ferrotoe NIC outside their own process, as on
//! real hardware: `ferrotoe nicsim --link DIR --wire tap:ft0` runs the simulated NIC as a
//! process of its own inside a throw-away namespace, and `--nic attach --link DIR` attaches
//! the driver to it across the shared-memory link. `curl` in the namespace fetches pages from
//! the HTTP server, kernel sockets send to and receive from `connect` (byte-exact), the NIC's
//! counters must show its offloads at work, and a NIC killed under `serve` must end it with an
//! error naming the link directory (not a hang, not a panic).
//!
//! Needs root, /dev/net/tun and curl (fails, never skips, without them).

mod kernel;
mod support;

use std::path::Path;
use std::thread;

use ferrotoe_benches::apps::http::site::{INDEX_HTML, PATTERN_PAGE_LEN};
use kernel::{
    Features, Lab, STEP, Serve, counter, kernel_listener, kernel_sink, kernel_source, line_with,
    pattern, success,
};
use support::Nicsim;

/// `ferrotoe nicsim --link LINK --wire tap:ft0 --backend BACKEND` inside the lab's namespace.
fn nicsim(lab: &Lab, link: &Path, backend: &str) -> Nicsim {
    let program = lab.ns.command(env!("CARGO_BIN_EXE_ferrotoe"));
    let wire = format!("tap:{}", lab.tap);
    Nicsim::spawn_with(program, link, &["--wire", &wire, "--backend", backend])
}

/// `serve` (HTTP, fetched by curl) then `connect` both ways (`n` bytes each, verified) on the
/// NIC of a `ferrotoe nicsim --backend BACKEND` process.
fn serve_and_connect_attached(prefix: &str, net: u8, backend: &str, n: usize) {
    let lab = Lab::new(prefix, net, Features::ALL_ON);
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("nic0");
    let nic = nicsim(&lab, &link, backend);

    let mut cmd = lab.ferrotoe_attached("serve", &link);
    cmd.args(["--app", "http"]);
    let serve = Serve::start(cmd);
    assert!(
        serve.ready.contains("`ferrotoe nicsim` process at")
            && serve.ready.contains(&link.display().to_string()),
        "{}",
        serve.ready
    );
    let base = format!("http://{}", lab.our_ip());
    assert_eq!(lab.curl(&[&format!("{base}/")]), INDEX_HTML.as_bytes());
    let big = lab.curl(&[&format!("{base}/pattern-1m.bin")]);
    assert_eq!(big.len(), PATTERN_PAGE_LEN);
    assert!(
        big == pattern(PATTERN_PAGE_LEN),
        "the 1 MiB page is byte-exact"
    );
    let report = serve.stop();
    assert!(
        line_with(&report, "http: ").contains("2 requests; responses 200 x2"),
        "{report}"
    );
    // The page left in TSO super-frames the NIC process segmented and checksummed, and the
    // NIC verified the kernel's checksums.
    assert!(counter(&report, "nic_tx_tso_segments") > 0, "{report}");
    assert!(
        counter(&report, "nic_tx_csum_inserted") >= counter(&report, "nic_tx_tso_segments"),
        "{report}"
    );
    assert!(counter(&report, "nic_rx_csum_good") > 0, "{report}");
    assert_eq!(counter(&report, "nic_rx_csum_bad"), 0, "{report}");

    // `connect` attaches to the same NIC after serve let go of it: verified bytes to a kernel
    // listener, and verified bytes back from a kernel sender.
    let listener = kernel_listener(&lab, 5001);
    let sink = thread::spawn(move || kernel_sink(listener));
    let to = format!("{}:5001", lab.kernel_ip());
    let out = lab
        .ferrotoe_attached("connect", &link)
        .args(["--to", &to, "--send", &n.to_string(), "--timeout", "20"])
        .output()
        .unwrap();
    let text = success(&out, "connect --nic attach --send");
    assert!(text.contains(&format!("sent {n} bytes")), "{text}");
    assert!(
        sink.join().unwrap() == pattern(n),
        "the kernel got the pattern"
    );

    let listener = kernel_listener(&lab, 5002);
    let source = thread::spawn(move || kernel_source(listener, n));
    let to = format!("{}:5002", lab.kernel_ip());
    let out = lab
        .ferrotoe_attached("connect", &link)
        .args([
            "--to",
            &to,
            "--recv",
            "--expect",
            "pattern",
            "--timeout",
            "20",
        ])
        .output()
        .unwrap();
    let text = success(&out, "connect --nic attach --recv");
    assert!(
        text.contains(&format!("received {n} bytes (verified: pattern)")),
        "{text}"
    );
    source.join().unwrap();

    let summary = nic.stop();
    assert!(summary.contains("nicsim stopped"), "{summary}");
}

#[test]
fn serve_and_connect_drive_a_nicsim_process_with_the_kernel_as_the_peer() {
    serve_and_connect_attached("ft-attach", 90, "model", 2 << 20);
}

/// The same through the Verilog NIC under Verilator in the nicsim process (a build with
/// `--features rtl`; it simulates every clock, so smaller transfers).
#[test]
fn serve_and_connect_drive_an_rtl_nicsim_process() {
    serve_and_connect_attached("ft-attach-rtl", 92, "rtl", 256 << 10);
}

#[test]
fn a_nicsim_process_killed_under_serve_ends_it_with_the_link_named() {
    let lab = Lab::new("ft-attach-kill", 91, Features::ALL_ON);
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("nic0");
    let mut nic = nicsim(&lab, &link, "model");
    let mut cmd = lab.ferrotoe_attached("serve", &link);
    cmd.args(["--app", "echo"]);
    let mut serve = Serve::start(cmd);
    nic.child.kill().unwrap();
    nic.child.wait().unwrap();
    let (status, out, err) = serve.wait_exit("serve did not end after its NIC was killed");
    assert_eq!(status.code(), Some(1), "{out}\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(&format!("ferrotoe nicsim --link {}", link.display())),
        "the error names the link directory: {err}"
    );
    // SIGKILL leaves the link marked running; the driver notices the device process is gone
    // (checked with register reads and waits), not only a timeout.
    assert!(err.contains("has stopped; restart it"), "{err}");
}

/// `serve --nic attach --link LINK --ip 198.18.0.2/24 --app echo`, outside any namespace (the
/// nicsim process of these tests has no wire).
fn serve_attached(link: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ferrotoe"));
    c.args(["serve", "--nic", "attach", "--link"])
        .arg(link)
        .args(["--ip", "198.18.0.2/24", "--app", "echo"]);
    c
}

/// Whether process `pid` is a zombie (exited, not reaped).
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'))
    })
}

#[test]
fn a_second_serve_is_refused_and_one_killed_with_sigkill_leaves_the_nic_to_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("nic0");
    let nic = Nicsim::spawn(&link, &["--wire", "none"]);
    let first = Serve::start(serve_attached(&link));

    // A second driver on the same NIC is refused, naming the first and the link.
    let out = serve_attached(&link).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "already has a driver attached (pid {})",
            first.pid()
        )) && err.contains(&format!("ferrotoe nicsim --link {}", link.display())),
        "{err}"
    );

    // The first dies without detaching (SIGKILL) and stays unreaped for now, as under a
    // container's init that never reaps: the next serve takes the NIC over, its DMA memory
    // included (the dead driver's regions are unmapped, not in the way).
    let pid = first.pid();
    // SAFETY: kill(2) with the pid of our own child process (not reaped, so not reused) and a
    // valid signal number; no memory is passed.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    let start = std::time::Instant::now();
    while !is_zombie(pid) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "serve dies"
        );
        thread::sleep(std::time::Duration::from_millis(10));
    }
    let next = Serve::start(serve_attached(&link));
    let report = next.stop_with(libc::SIGINT, "SIGINT");
    assert!(
        report.contains("echo on port 7: 0 connections accepted"),
        "{report}"
    );
    drop(first);

    // Once reaped, the same.
    let again = Serve::start(serve_attached(&link));
    again.stop_with(libc::SIGINT, "SIGINT");
    let summary = nic.stop();
    assert!(summary.contains("nicsim stopped"), "{summary}");
}

#[test]
fn a_nicsim_stopped_by_sigterm_or_sigint_stops_cleanly_and_its_driver_hears_at_once() {
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("nic0");
        let mut nic = Nicsim::spawn(&link, &["--wire", "none"]);
        let mut serve = Serve::start(serve_attached(&link));
        // `kill PID` or Ctrl-C: nicsim stops as on end of input, its link marked stopped.
        let pid = nic.child.id() as libc::pid_t;
        // SAFETY: kill(2) with the pid of our own child process and a valid signal number; no
        // memory is passed.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        // Polled: `Child::wait` would close its standard input first, a stop request of its
        // own (`--stop-on-stdin-eof`).
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(s) = nic.child.try_wait().unwrap() {
                break s;
            }
            assert!(start.elapsed() < STEP, "nicsim did not stop on {name}");
            thread::sleep(std::time::Duration::from_millis(10));
        };
        assert!(status.success(), "nicsim on {name}: {status}");
        // So the driver fails on the stopped device, without waiting out a read timeout.
        let (status, out, err) = serve.wait_exit("serve did not end after its NIC stopped");
        assert_eq!(status.code(), Some(1), "{out}\n{err}");
        assert!(
            err.contains(&format!("ferrotoe nicsim --link {}", link.display()))
                && !err.contains("did not respond"),
            "{name}: {err}"
        );
    }
}
