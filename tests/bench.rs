//! `ferrotoe bench` end to end: the smoltcp baseline through the matrix runner, its table, JSON
//! and SVG reports, the external-baseline cross-check wiring, and our engine beside smoltcp
//! with the ratio between them (NewReno, and CUBIC on both). Small transfers: this checks
//! behaviour, not speed.

use std::path::Path;
use std::process::{Command, Output};

use ferrotoe_benches::report::BenchReport;
use ferrotoe_benches::workload::{Congestion, OffloadMode};

fn ferrotoe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrotoe"))
        .args(args)
        .output()
        .expect("run the ferrotoe binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn bench_runs_smoltcp_and_writes_table_json_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let svg = dir.path().join("bench.svg");
    let out = ferrotoe(&[
        "bench",
        "--stacks",
        "smoltcp",
        "--offload",
        "none,csum,tso",
        "--mtu",
        "1500",
        "--reps",
        "2",
        "--bytes",
        "2M",
        "--buffer",
        "128K",
        "--json",
        json.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    // Progress: 2 cells x 2 rounds.
    assert!(stderr.contains("[4/4] round 2"), "{stderr}");
    // The table: a row for each runnable cell, TSO skipped with its reason.
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("smoltcp ")).count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("no TCP segmentation offload"), "{stdout}");

    let report = BenchReport::from_json(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report.reps, 2);
    assert_eq!(report.cells.len(), 2);
    assert!(report.failures.is_empty());
    for cell in &report.cells {
        assert_eq!(cell.key.stack, "smoltcp");
        assert_eq!(cell.samples.len(), 2);
        assert!(
            cell.samples
                .iter()
                .all(|s| s.verified && s.bytes == 2 << 20)
        );
        assert!(cell.goodput_gbps.median > 0.0);
    }
    let csum = report
        .cells
        .iter()
        .find(|c| c.key.offload == OffloadMode::Csum)
        .unwrap();
    assert_eq!(
        csum.vs_none.as_ref().unwrap().reference.offload,
        OffloadMode::None
    );
    // A test build (debug) says its figures mean nothing.
    if cfg!(debug_assertions) {
        assert!(report.notes.iter().any(|n| n.contains("--profile perf")));
    }

    let svg_text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&svg_text).expect("well-formed SVG");
    let bars = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("bar"))
        .count();
    assert_eq!(
        bars,
        2 * 2,
        "two cells x two metrics (no cycle counter on most VMs)"
    );
}

fn fake_baseline(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("smoltcp-bulk");
    // Prints what smoltcp-bulk prints for the requested knobs (1 GiB at 42.95 Gbit/s).
    std::fs::write(
        &path,
        r#"#!/bin/sh
v=false; [ "$VERIFY" = 1 ] && v=true; c=false; [ "$CSUM" = 1 ] && c=true
echo "mtu=$MTU nodelay=false burst=$BURST buf=$BUF csum=$c verify=$v cc=$CC: 0.200 s, 42.95 Gbit/s, iters=9 srv_rx_pkts=735000 (avg 1514 B) cli_rx_pkts(acks)=2000"
"#,
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn the_external_baseline_runs_in_the_same_rounds_and_is_compared() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_baseline(dir.path());
    let json = dir.path().join("bench.json");
    let out = ferrotoe(&[
        "bench",
        "--stacks",
        "smoltcp",
        "--offload",
        "csum",
        "--mtu",
        "1500",
        "--reps",
        "2",
        "--bytes",
        "1M",
        "--buffer",
        "128K",
        "--baseline-bin",
        bin.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = BenchReport::from_json(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let external = report
        .cells
        .iter()
        .find(|c| c.key.stack == "smoltcp-bulk")
        .expect("a row for the external binary");
    assert_eq!(external.samples.len(), 2);
    assert!((external.goodput_gbps.median - 42.95).abs() < 0.01);
    let vs = external
        .vs_smoltcp
        .as_ref()
        .expect("compared with the in-tree harness");
    assert_eq!(vs.reference.stack, "smoltcp");
    assert!(report.notes.iter().any(|n| n.contains("always 1 GiB")));
}

/// Runs `ferrotoe bench` with `args` plus a JSON report, checks it succeeded and returns its
/// stdout and the report.
fn bench_json(args: &[&str]) -> (String, BenchReport) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--json", json.to_str().unwrap()]);
    let out = ferrotoe(&all);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let report = BenchReport::from_json(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (stdout, report)
}

#[test]
fn bench_runs_ferrotoe_beside_smoltcp_and_reports_the_ratio() {
    let (stdout, report) = bench_json(&[
        "--stacks",
        "ferrotoe,smoltcp",
        "--reps",
        "1",
        "--bytes",
        "2M",
        "--buffer",
        "128K",
        "--mtu",
        "1500",
    ]);
    // Every offload mode for our engine, smoltcp without TSO.
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("ferrotoe "))
            .count(),
        3,
        "{stdout}"
    );
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let ours: Vec<_> = report
        .cells
        .iter()
        .filter(|c| c.key.stack == "ferrotoe")
        .collect();
    assert_eq!(ours.len(), 3);
    for cell in ours {
        assert!(
            cell.samples
                .iter()
                .all(|s| s.verified && s.bytes == 2 << 20)
        );
        // Each of our cells is compared with smoltcp in the same run; TSO with smoltcp's
        // checksum-offload cell (smoltcp has no TSO).
        let vs = cell.vs_smoltcp.as_ref().expect("compared with smoltcp");
        assert_eq!(vs.reference.stack, "smoltcp");
        let expected = match cell.key.offload {
            OffloadMode::Tso => OffloadMode::Csum,
            other => other,
        };
        assert_eq!(vs.reference.offload, expected);
        assert!(vs.goodput.median > 0.0);
        if cell.key.offload == OffloadMode::Tso {
            assert!(
                cell.samples.iter().all(|s| s.tx_requests < s.data_frames),
                "TSO super-frames stand for several wire frames"
            );
        }
    }
}

#[test]
fn bench_runs_ferrotoe_with_cubic_beside_smoltcp() {
    let (stdout, report) = bench_json(&[
        "--stacks",
        "ferrotoe,smoltcp",
        "--offload",
        "csum",
        "--cc",
        "cubic",
        "--reps",
        "1",
        "--bytes",
        "2M",
        "--mtu",
        "1500",
    ]);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(report.workload.congestion, Congestion::Cubic);
    for stack in ["ferrotoe", "smoltcp"] {
        let cell = report
            .cells
            .iter()
            .find(|c| c.key.stack == stack)
            .unwrap_or_else(|| panic!("no {stack} cell:\n{stdout}"));
        assert!(
            cell.samples
                .iter()
                .all(|s| s.verified && s.bytes == 2 << 20)
        );
    }
}

#[test]
fn bad_flags_are_clap_errors() {
    let out = ferrotoe(&["bench", "--offload", "gso"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown offload mode `gso`"));
    let out = ferrotoe(&["bench", "--bytes", "lots"]);
    assert_eq!(out.status.code(), Some(2));
    let out = ferrotoe(&["bench", "--baseline-bin", "/nonexistent/smoltcp-bulk"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cargo build --release"));
}
