//! `ferrotoe probe` (in-process simulated NIC, a `ferrotoe nicsim` process, errors), and
//! host-driver's driver against `ferrotoe nicsim` processes: two NICs in two processes on a
//! cable file, driven from this one.

mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use host_driver::nic::PacketBatch;
use host_driver::{Nic, NicConfig, QueueConfig, SimDevice};
use hw_spec::{CsumStatus, TxOffloadRequest};
use rtl_sim::conformance::frames::{self, TcpSpec};
use sim_link::AttachOptions;
use support::{Nicsim, dir};

fn ferrotoe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrotoe"))
        .args(args)
        .output()
        .expect("run the ferrotoe binary")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The counters row of queue `q` in a probe report: its numbers.
fn row(report: &str, q: usize) -> Vec<u64> {
    report
        .lines()
        .rfind(|l| l.trim_start().starts_with(&format!("{q} |")))
        .unwrap_or_else(|| panic!("no row for queue {q}:\n{report}"))
        .split(|c: char| c.is_whitespace() || c == '|')
        .filter_map(|w| w.parse().ok())
        .skip(1)
        .collect()
}

#[test]
fn probe_spawn_sim_prints_identity_capabilities_queues_and_counters() {
    let out = ferrotoe(&["probe", "--spawn-sim"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    for want in [
        "Rust reference model (MODEL)",
        "contract 1.0",
        "512 bits at 250 MHz",
        "IDENT@0x0 CONTROL@0x100 TXQ@0x1000 RXQ@0x2000 CQ@0x3000 STATS@0x4000 IRQ@0x6000 \
         RSS@0x7000",
        "tx-ipv4-csum tx-tcp-csum tx-udp-csum rx-csum tso rss timestamps tx-scatter-gather",
        "frames up to 9216 bytes, TSO payload up to 65535 bytes, MSS 64..9162, rings 8..32768",
        "4 TX, 4 RX, 8 completion, 8 interrupt vectors (4 queue pairs",
        "state:        disabled",
        "errors:       0 recorded",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    for q in 0..4 {
        assert_eq!(row(&stdout, q), vec![0; 12], "queue {q}");
    }
}

#[test]
fn probe_send_counts_frames_and_tso_segments() {
    let out = ferrotoe(&["probe", "--spawn-sim", "--send", "50"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    // 50 frames plus one TSO super-frame of 30000 bytes at MSS 1448 (21 segments).
    assert!(
        stdout.contains("51 requests completed, 71 wire frames"),
        "{stdout}"
    );
    let q0 = row(&stdout, 0);
    assert_eq!(q0[0], 71, "tx frames");
    assert_eq!(
        q0[2..6],
        [51, 71, 21, 0],
        "requests, csum-inserted, tso-segments, errors"
    );
}

#[test]
fn probe_attaches_to_a_nicsim_process() {
    let d = dir("probe");
    let link = d.join("link");
    let nicsim = Nicsim::spawn(&link, &["--tx-queues", "2", "--rx-queues", "3"]);
    let out = ferrotoe(&["probe", "--sim", link.to_str().unwrap(), "--send", "10"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("location:     sim:{}", link.display())),
        "{stdout}"
    );
    assert!(stdout.contains("2 TX, 3 RX, 8 completion"), "{stdout}");
    assert!(stdout.contains("(2 queue pairs"), "{stdout}");
    assert!(stdout.contains("11 requests completed"), "{stdout}");
    // The probe detached: another one attaches fine.
    let again = ferrotoe(&["probe", "--sim", link.to_str().unwrap()]);
    assert!(again.status.success(), "{}", text(&again).1);
    assert_eq!(row(&text(&again).0, 0)[0], 10 + 21);
    let summary = nicsim.stop();
    assert!(summary.contains("31 frames sent"), "{summary}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn probe_errors_say_what_failed_where_and_the_fix() {
    let out = ferrotoe(&["probe", "--sim", "/nonexistent/ferrotoe-link"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("sim:/nonexistent/ferrotoe-link: attaching to the simulated NIC's link"),
        "{stderr}"
    );
    assert!(
        stderr.contains("fix: start the simulated NIC first"),
        "{stderr}"
    );

    let out = ferrotoe(&["probe", "0000:7f:1f.7"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("0000:7f:1f.7"), "{stderr}");
    assert!(stderr.contains("fix:"), "{stderr}");

    let out = ferrotoe(&["probe", "not-an-address"]);
    let (_, stderr) = text(&out);
    assert!(stderr.contains("parsing the PCI address"), "{stderr}");

    let out = ferrotoe(&["probe"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("<ADDRESS|--sim <DIR>|--spawn-sim>"));
}

#[test]
fn probe_refuses_a_link_another_driver_holds() {
    let d = dir("probe-busy");
    let link = d.join("link");
    let nicsim = Nicsim::spawn(&link, &[]);
    let holder = SimDevice::attach_dir(&link, AttachOptions::default()).unwrap();
    // The test process holds the link; a probe from another process is refused.
    let out = ferrotoe(&["probe", "--sim", link.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("already has a driver attached"), "{stderr}");
    assert!(
        stderr.contains("fix: stop the other driver process"),
        "{stderr}"
    );
    drop(holder);
    drop(nicsim);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn the_driver_runs_two_nicsim_processes_on_a_cable() {
    let d = dir("driver-cable");
    let (a, b) = Nicsim::cable_pair(&d);
    let na = Nic::open(
        SimDevice::attach_dir(&d.join("a"), AttachOptions::default()).unwrap(),
        NicConfig::default(),
    )
    .unwrap();
    let nb = Nic::open(
        SimDevice::attach_dir(&d.join("b"), AttachOptions::default()).unwrap(),
        NicConfig::default(),
    )
    .unwrap();
    let qcfg = QueueConfig {
        large_buffers: 2,
        ..QueueConfig::default()
    };
    let mut tx = na.open_queue_pair(0, &qcfg).unwrap();
    let mut rx = nb.open_queue_pair(0, &QueueConfig::default()).unwrap();
    na.start().unwrap();
    nb.start().unwrap();
    let data = frames::payload(20_000, 3);
    let mut big = tx.large_pool().unwrap().alloc().unwrap();
    let spec = TcpSpec {
        seq: 0,
        ..TcpSpec::default()
    };
    big.copy_from(&frames::tcp_frame(&spec, &data)).unwrap();
    big.set_tx_offload(TxOffloadRequest::tso(1000, 14, 20, 32));
    tx.tx_one(big).unwrap();
    let total = 300u32;
    let (mut sent, mut small, mut tso_bytes) = (0u32, 0u32, Vec::new());
    let mut batch = PacketBatch::with_capacity(32);
    let mut got = PacketBatch::with_capacity(32);
    let deadline = Instant::now() + Duration::from_secs(20);
    while small < total || tso_bytes.len() < data.len() {
        assert!(Instant::now() < deadline, "{small} of {total} frames");
        while sent < total && batch.room() > 0 {
            let mut p = tx.pool().alloc().unwrap();
            let spec = TcpSpec {
                seq: 1_000_000 + sent,
                ..TcpSpec::default()
            };
            p.copy_from(&frames::tcp_frame(&spec, &frames::payload(100, 5)))
                .unwrap();
            p.set_tx_offload(TxOffloadRequest::tcp_checksums(14, 20));
            batch.push(p).unwrap();
            sent += 1;
        }
        tx.tx_burst(&mut batch);
        rx.rx_burst(&mut got);
        for p in got.drain() {
            let info = p.rx_info();
            assert_eq!(
                (info.ip_csum, info.l4_csum),
                (CsumStatus::Good, CsumStatus::Good)
            );
            let f = p.data();
            let seq = frames::be32(f, 38);
            if seq >= 1_000_000 {
                assert_eq!(seq, 1_000_000 + small, "in order");
                small += 1;
            } else {
                tso_bytes.extend_from_slice(&f[66..]);
            }
        }
        std::thread::yield_now();
    }
    assert_eq!(tso_bytes, data);
    tx.flush_tx(Duration::from_secs(5)).unwrap();
    assert_eq!(tx.stats().tx_segments, u64::from(total) + 20);
    assert!(tx.health().is_ok() && rx.health().is_ok());
    drop((tx, rx, na, nb));
    let (sa, sb) = (a.stop(), b.stop());
    assert!(sa.contains(&format!("{} frames sent", total + 20)), "{sa}");
    assert!(sb.contains(&format!("{} received", total + 20)), "{sb}");
    std::fs::remove_dir_all(&d).unwrap();
}
