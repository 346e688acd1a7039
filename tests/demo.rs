//! `ferrotoe demo` end to end: two hosts (engine + driver + simulated NIC) over the simulated
//! cable, run as the user runs them, with the JSON report checked: every byte verified, no
//! errors, the devices' offload counters matching the offload mode; with an impaired cable;
//! captures checked by tshark (checksums, frame sizes, TSO segments); reproducibility from the
//! seed; the errors a user can hit. Small transfers: behaviour, not speed.

use std::path::Path;
use std::process::Command;

mod support;

use support::{ferrotoe, text};

use ferrotoe_benches::demo::DemoReport;
use ferrotoe_benches::demo::sharded::ShardedDemoReport;
use ferrotoe_benches::sim_hosts::{HostCounters, SimHostsCounters};

/// The backends these tests run, with the bulk bytes and transactions each affords (the RTL
/// backend simulates every clock of the device: smaller runs of the same shape).
const BACKENDS: &[(&str, &str, &str)] = &[("model", "6MiB", "300"), ("rtl", "512KiB", "50")];

/// Runs `ferrotoe demo ARGS --json`, checks it succeeded, parses the report.
fn demo_json(args: &[&str]) -> DemoReport {
    let mut all = vec!["demo", "--quiet", "--json"];
    all.extend_from_slice(args);
    let out = ferrotoe(&all);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "ferrotoe {all:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not a demo report ({e}):\n{stdout}"))
}

/// Both phases added up.
fn phases(r: &DemoReport) -> Vec<&SimHostsCounters> {
    r.bulk
        .iter()
        .map(|b| &b.counters)
        .chain(r.requests.iter().map(|q| &q.counters))
        .collect()
}

/// What every successful report must say: every byte asked for verified, no errors.
fn check_complete(r: &DemoReport, bytes: u64, transactions: u64) {
    assert!(r.ok && r.errors.is_empty(), "{:?}", r.errors);
    let b = r.bulk.as_ref().expect("a bulk phase");
    assert_eq!(
        (b.bytes_requested, b.bytes_delivered, b.bytes_verified),
        (bytes, bytes, bytes)
    );
    assert!(b.goodput_gbps > 0.0 && b.cpu.process_s > 0.0, "{b:?}");
    let q = r.requests.as_ref().expect("a request/response phase");
    assert_eq!(
        (q.transactions_requested, q.transactions),
        (transactions, transactions)
    );
    assert_eq!(
        q.bytes_verified,
        transactions * (q.request_bytes + q.response_bytes) as u64
    );
    assert_eq!(q.latency_wall_us.count, transactions);
    for c in phases(r) {
        let t = c.total();
        assert_eq!(t.nic_errors + t.adapter_rejected, 0, "{t:?}");
    }
}

fn parse_size(s: &str) -> u64 {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    n.parse::<u64>().unwrap()
        * match unit {
            "" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            other => panic!("unit {other}"),
        }
}

/// Runs the demo on one of [`BACKENDS`] with its sizes plus `extra` flags, and checks that the
/// run completed (every byte verified, no errors).
fn demo_on(backend: &(&str, &str, &str), extra: &[&str]) -> DemoReport {
    let &(name, bytes, requests) = backend;
    let mut args = vec!["--backend", name, "--bytes", bytes, "--requests", requests];
    args.extend_from_slice(extra);
    let r = demo_json(&args);
    check_complete(&r, parse_size(bytes), requests.parse().unwrap());
    assert_eq!(r.setup.backend, name);
    // The RTL counts its clock, so a hardware team learns how fast the simulation runs; the
    // model has no clock to count.
    let b = r.bulk.as_ref().expect("a bulk phase");
    if name == "rtl" {
        assert!(
            b.counters.simulated_cycles.is_some_and(|c| c > 0)
                && b.simulated_cycles_per_s.is_some_and(|c| c > 0.0),
            "the RTL backend reports simulated cycles: {:?}, {:?}",
            b.counters.simulated_cycles,
            b.simulated_cycles_per_s
        );
        // The report names the Verilog it ran: the build's, which is this test's.
        assert_eq!(
            r.setup.rtl_sources.as_deref(),
            rtl_sim::nic::rtl_build_summary(),
            "the RTL run names its sources"
        );
        assert!(r.setup.rtl_sources.is_some());
    } else {
        assert_eq!(b.simulated_cycles_per_s, None, "{name}");
        assert_eq!(r.setup.rtl_sources, None, "{name}");
    }
    r
}

#[test]
fn every_offload_mode_verifies_every_byte_and_the_devices_count_the_offloads() {
    for backend in BACKENDS {
        for mode in [None, Some("none"), Some("csum"), Some("tso")] {
            let r = demo_on(backend, &mode.map_or(vec![], |m| vec!["--offload", m]));
            let what = format!("{} {mode:?}", backend.0);
            assert_eq!(
                r.setup.offload.as_str(),
                mode.unwrap_or("tso"),
                "{what}: the default is everything the device offers"
            );
            let b = &r.bulk.as_ref().unwrap().counters;
            let t: HostCounters = b.total();
            let (csum, tso) = match r.setup.offload.as_str() {
                "none" => (false, false),
                "csum" => (true, false),
                _ => (true, true),
            };
            // Read from the devices' statistics registers.
            assert_eq!(t.nic_csum_inserted > 0, csum, "{what}: {t:?}");
            assert_eq!(t.nic_rx_csum_good > 0, csum, "{what}: {t:?}");
            assert_eq!(t.nic_tso_segments > 0, tso, "{what}: {t:?}");
            assert_eq!(t.tso_super_frames > 0, tso, "{what}: {t:?}");
            if csum {
                // Every TCP frame, both ways: checksums inserted on one side, verified on the
                // other.
                assert_eq!(
                    t.nic_csum_inserted,
                    t.nic_tx_frames - t.arp_frames_sent,
                    "{what}"
                );
                assert_eq!(t.nic_rx_csum_good, t.tcp_segments_received, "{what}");
            }
            if tso {
                // The client handed far fewer requests to its NIC than frames left it.
                assert!(
                    b.client.nic_tx_requests * 10 < b.client.nic_tx_frames,
                    "{what}: {:?}",
                    b.client
                );
            } else {
                assert_eq!(b.client.nic_tx_requests, b.client.nic_tx_frames, "{what}");
            }
            assert_eq!(b.cable.lost + b.cable.overflow, 0, "{what}");
            assert_eq!(
                r.bulk.as_ref().unwrap().retransmissions.segments,
                0,
                "{what}"
            );
        }
    }
}

#[test]
fn an_impaired_cable_costs_retransmissions_and_checksums_catch_corruption() {
    for backend in BACKENDS {
        for mode in ["tso", "none"] {
            let r = demo_on(
                backend,
                &[
                    "--offload",
                    mode,
                    "--loss",
                    "0.02",
                    "--reorder",
                    "0.02",
                    "--duplicate",
                    "0.01",
                    "--corrupt",
                    "0.01",
                    "--seed",
                    "3",
                ],
            );
            assert_eq!((r.setup.cable.loss, r.setup.cable.seed), (0.02, 3));
            let b = r.bulk.as_ref().unwrap();
            let k = &b.counters.cable;
            assert!(
                k.lost > 0 && k.reordered > 0 && k.duplicated > 0 && k.corrupted > 0,
                "{mode}: {k:?}"
            );
            assert!(
                b.retransmissions.segments > 0,
                "{mode}: {:?}",
                b.retransmissions
            );
            // Corrupted frames were caught by a checksum: the NIC's (offload on) or the
            // engine's (offload off), or failed to parse at all.
            let t = b.counters.total();
            assert!(
                t.rx_bad_checksum + t.engine_drops > 0,
                "{mode}: nothing caught the corrupted frames: {t:?}"
            );
            if mode == "tso" {
                assert!(t.nic_rx_csum_bad > 0, "the NICs saw bad checksums: {t:?}");
            } else {
                assert_eq!(t.nic_rx_csum_bad, 0, "no verification on the NICs: {t:?}");
            }
        }
    }
}

#[test]
fn ce_marks_on_the_cable_reduce_windows_without_retransmissions() {
    for backend in BACKENDS {
        let name = backend.0;
        let r = demo_on(
            backend,
            &["--ecn", "on", "--ce-mark", "0.05", "--seed", "5"],
        );
        assert_eq!(r.setup.cable.ce_mark, 0.05);
        for c in phases(&r) {
            let (k, t) = (&c.cable, c.total());
            // Every mark the cable made reached an engine as a mark, and was echoed.
            assert_eq!(
                (k.lost, k.overflow, t.nic_rx_drops),
                (0, 0, 0),
                "{name}: {k:?} {t:?}"
            );
            assert_eq!(t.ecn_marks_received, k.ce_marked, "{name}: {t:?}");
        }
        // At most one reduction per mark (an echo may be answered in the next phase).
        let (marks, reductions) = phases(&r).iter().fold((0, 0), |(m, d), c| {
            (m + c.cable.ce_marked, d + c.total().ecn_window_reductions)
        });
        assert!(reductions <= marks, "{name}: {reductions} > {marks}");
        let b = r.bulk.as_ref().unwrap();
        let (k, t) = (&b.counters.cable, b.counters.total());
        assert!(
            k.ce_marked > 0 && t.ecn_window_reductions > 0,
            "{name}: {k:?} {t:?}"
        );
        // Marking is not loss.
        assert_eq!(
            b.retransmissions.segments, 0,
            "{name}: {:?}",
            b.retransmissions
        );
    }
}

/// Runs the model backend through a 10 Gbit/s bottleneck with a 32-frame queue and a CE
/// threshold of 8, ECN `ecn`; checks the run completed and the bottleneck was reported.
fn through_a_bottleneck(ecn: &str) -> DemoReport {
    let r = demo_on(
        &("model", "4MiB", "100"),
        &[
            "--rate",
            "10G",
            "--queue",
            "32",
            "--ce-threshold",
            "8",
            "--ecn",
            ecn,
        ],
    );
    let setup = r
        .setup
        .cable
        .bottleneck
        .expect("the bottleneck in the set-up");
    assert_eq!(
        (setup.rate_bps, setup.queue_frames, setup.ce_threshold),
        (10_000_000_000, 32, Some(8))
    );
    let b = r.bulk.as_ref().unwrap();
    let q = b.bottleneck.expect("the bulk phase reports the bottleneck");
    assert_eq!(q.queue_drops, b.counters.cable.queue_drops);
    assert!(q.peak_queue_frames <= 32, "{q:?}");
    assert!(
        q.average_queue_frames > 0.0 && q.average_sojourn_us > 0.0,
        "{q:?}"
    );
    // Payload can never beat the line: 1448 of every 1538 bytes on it at MTU 1500.
    let ceiling = 10.0 * 1448.0 / 1538.0;
    assert!(
        b.simulated_goodput_gbps <= ceiling && b.simulated_goodput_gbps > 1.0,
        "{} Gbit/s through a 10 Gbit/s line",
        b.simulated_goodput_gbps
    );
    r
}

#[test]
fn a_bottleneck_drops_from_a_full_queue_and_threshold_marking_replaces_drops_with_marks() {
    // Without ECN the frames are not ECN-capable: the threshold never marks, the queue fills
    // and drops, TCP retransmits.
    let plain = through_a_bottleneck("off");
    let b = plain.bulk.as_ref().unwrap();
    let q = b.bottleneck.unwrap();
    assert!(q.queue_drops > 0 && q.peak_queue_frames == 32, "{q:?}");
    assert_eq!(q.threshold_marks, 0, "not-ECT frames are never marked");
    assert!(b.retransmissions.segments > 0, "{:?}", b.retransmissions);
    // With ECN the senders slow down at the marks, before the queue is full.
    let ecn = through_a_bottleneck("on");
    let b = ecn.bulk.as_ref().unwrap();
    let e = b.bottleneck.unwrap();
    let t = b.counters.total();
    assert!(
        e.threshold_marks > 0 && t.ecn_window_reductions > 0,
        "{e:?} {t:?}"
    );
    assert_eq!(
        t.ecn_marks_received, e.threshold_marks,
        "every mark arrived"
    );
    assert!(e.queue_drops < q.queue_drops, "{e:?} vs {q:?}");
    // The request/response phase went through the same queue.
    assert!(ecn.requests.as_ref().unwrap().bottleneck.is_some());
}

#[test]
fn a_bottleneck_delay_sets_the_round_trip() {
    let r = demo_on(
        &("model", "1MiB", "20"),
        &["--rate", "10G", "--delay", "50us"],
    );
    assert_eq!(r.setup.cable.bottleneck.unwrap().delay_ns, 50_000);
    // A request and its response each cross the delay once: at least 100 us on the
    // simulated clock, plus a few rounds (a transaction takes 5 us without a delay).
    let l = &r.requests.as_ref().unwrap().latency_simulated_us;
    assert!(l.p50 >= 100.0 && l.max < 120.0, "{l:?}");
}

#[test]
fn dctcp_answers_ce_marks_without_retransmissions() {
    // The model backend only: congestion control is the engine's, the same on either NIC.
    let r = demo_on(
        &BACKENDS[0],
        &[
            "--cc",
            "dctcp",
            "--ecn",
            "on",
            "--ce-mark",
            "0.05",
            "--seed",
            "5",
        ],
    );
    assert_eq!(r.setup.congestion, "dctcp");
    let b = r.bulk.as_ref().unwrap();
    let (k, t) = (&b.counters.cable, b.counters.total());
    // Every mark reached the receiving engine, each window cut answered marks, none lost.
    assert_eq!(t.ecn_marks_received, k.ce_marked, "{k:?} {t:?}");
    assert!(
        k.ce_marked > 0 && t.ecn_window_reductions > 0 && t.ecn_window_reductions <= k.ce_marked,
        "{k:?} {t:?}"
    );
    assert_eq!(b.retransmissions.segments, 0, "{:?}", b.retransmissions);
}

#[test]
fn cubic_recovers_from_loss_as_newreno_does() {
    // The model backend only: congestion control is the engine's, the same on either NIC.
    let r = demo_on(
        &BACKENDS[0],
        &["--cc", "cubic", "--loss", "0.01", "--seed", "5"],
    );
    assert_eq!(r.setup.congestion, "cubic");
    let b = r.bulk.as_ref().unwrap();
    assert!(b.counters.cable.lost > 0, "{:?}", b.counters.cable);
    assert!(
        b.retransmissions.segments > 0,
        "losses were repaired: {:?}",
        b.retransmissions
    );
}

/// One frame of a capture, as tshark dissects it.
#[derive(Debug)]
struct Frame {
    len: u64,
    ip_src: String,
    ip_csum: String,
    tcp_csum: String,
    ip_id: u32,
    seq: u32,
    tcp_len: u32,
    flags: u16,
    dst_port: u16,
}

fn tshark_frames(pcap: &Path) -> Vec<Frame> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-T",
            "fields",
            "-E",
            "separator=,",
        ])
        .args(
            [
                "frame.len",
                "ip.src",
                "ip.checksum.status",
                "tcp.checksum.status",
                "ip.id",
                "tcp.seq_raw",
                "tcp.len",
                "tcp.flags",
                "tcp.dstport",
            ]
            .iter()
            .flat_map(|f| ["-e", f]),
        )
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run tshark ({e}): install it with `apt-get install tshark` (it is in \
                 scripts/system-packages.txt; ./scripts/test installs it)"
            )
        });
    assert!(out.status.success(), "tshark: {}", text(&out.stderr));
    let hex = |s: &str| u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or(0);
    text(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 9, "{l}");
            Frame {
                len: f[0].parse().unwrap(),
                ip_src: f[1].into(),
                ip_csum: f[2].into(),
                tcp_csum: f[3].into(),
                ip_id: hex(f[4]),
                seq: f[5].parse().unwrap_or(0),
                tcp_len: f[6].parse().unwrap_or(0),
                flags: hex(f[7]) as u16,
                dst_port: f[8].parse().unwrap_or(0),
            }
        })
        .collect()
}

const PSH: u16 = 0x08;

/// Checks a capture of a lossless demo: checksums, sizes, and the client's data stream as TSO
/// segments must look.
fn check_capture(pcap: &Path, report: &DemoReport) {
    let mtu = u64::from(report.setup.mtu);
    let frames = tshark_frames(pcap);
    // The capture holds every frame both NICs sent (the client's end sees both directions).
    let sent: u64 = phases(report)
        .iter()
        .map(|c| c.client.nic_tx_frames + c.server.nic_tx_frames)
        .sum();
    assert_eq!(
        frames.len() as u64,
        sent,
        "frames in the capture vs the NICs' counters"
    );
    let ipv4: Vec<&Frame> = frames.iter().filter(|f| !f.ip_src.is_empty()).collect();
    assert!(ipv4.len() + 4 >= frames.len(), "only ARP besides IPv4");
    for f in &frames {
        assert!(
            f.len <= mtu + 14,
            "a {}-byte frame on an MTU {mtu} wire: {f:?}",
            f.len
        );
    }
    // tshark verified every checksum: status 1 is good (0 bad, 2 unverified).
    for f in &ipv4 {
        assert_eq!(
            (f.ip_csum.as_str(), f.tcp_csum.as_str()),
            ("1", "1"),
            "{f:?}"
        );
    }
    // The bulk data stream (client to port 5001): contiguous sequence numbers, no segment
    // above the MSS.
    let bulk: Vec<&&Frame> = ipv4
        .iter()
        .filter(|f| f.ip_src == "198.18.0.1" && f.dst_port == 5001 && f.tcp_len > 0)
        .collect();
    let mss = bulk.iter().map(|f| f.tcp_len).max().unwrap();
    assert_eq!(
        u64::from(mss),
        mtu - 40 - 12,
        "MSS: MTU less headers and timestamps"
    );
    // The NIC numbers the segments of one TSO request with consecutive IP IDs starting at the
    // request's; the engine's next request takes the next ID, so a request's segments are
    // the runs of consecutive IDs. Within a run: every segment but the last is a full MSS,
    // each starts where the previous ended, and only the last may carry PSH.
    let mut runs = vec![vec![bulk[0]]];
    for pair in bulk.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert_eq!(
            b.seq,
            a.seq.wrapping_add(a.tcp_len),
            "a gap or overlap: {a:?} -> {b:?}"
        );
        if b.ip_id == (a.ip_id + 1) & 0xffff {
            runs.last_mut().unwrap().push(b);
        } else {
            runs.push(vec![b]);
        }
    }
    for run in &runs {
        let (last, body) = run.split_last().unwrap();
        for f in body {
            assert_eq!(
                f.tcp_len, mss,
                "a short segment inside a TSO burst: {run:?}"
            );
            assert_eq!(f.flags & PSH, 0, "PSH before the last segment: {run:?}");
        }
        assert!(last.tcp_len <= mss);
    }
    let long_runs = runs.iter().filter(|r| r.len() > 1).count() as u64;
    let b = &report.bulk.as_ref().unwrap().counters.client;
    if report.setup.offload.as_str() == "tso" {
        assert!(long_runs > 0, "no TSO bursts in the capture");
        assert!(long_runs <= b.tso_super_frames, "{long_runs} bursts, {b:?}");
    }
}

#[test]
fn captures_pass_tsharks_checksum_size_and_segmentation_checks() {
    let dir = tempfile::tempdir().unwrap();
    for backend in BACKENDS {
        for (mode, mtu) in [
            ("tso", "1500"),
            ("csum", "1500"),
            ("none", "1500"),
            ("tso", "9000"),
        ] {
            let pcap = dir.path().join(format!("{}-{mode}-{mtu}.pcap", backend.0));
            let path = pcap.to_str().unwrap();
            let r = demo_on(backend, &["--offload", mode, "--mtu", mtu, "--pcap", path]);
            assert_eq!(r.setup.pcap.as_deref(), Some(pcap.as_path()));
            check_capture(&pcap, &r);
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let seeded = |seed: &str| {
        demo_json(&[
            "--bytes",
            "2MiB",
            "--requests",
            "100",
            "--loss",
            "0.01",
            "--reorder",
            "0.01",
            "--seed",
            seed,
        ])
    };
    let (a, b) = (seeded("11"), seeded("11"));
    assert_eq!(phases(&a), phases(&b));
    let (qa, qb) = (a.requests.as_ref().unwrap(), b.requests.as_ref().unwrap());
    assert_eq!(qa.latency_simulated_us, qb.latency_simulated_us);
    assert_eq!(
        a.bulk.as_ref().unwrap().simulated_s,
        b.bulk.as_ref().unwrap().simulated_s
    );
    assert_ne!(phases(&seeded("12"))[0].cable, phases(&a)[0].cable);
}

#[test]
fn the_text_report_and_progress() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("demo.json");
    let out = ferrotoe(&[
        "demo",
        "--bytes",
        "3MiB",
        "--requests",
        "200",
        "--json",
        json.to_str().unwrap(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for needle in [
        "bulk transfer: 3 MiB client -> server, every byte verified",
        "goodput",
        "host CPU",
        "TSO segments emitted",
        "request/response: 200 transactions",
        "latency       simulated: p50",
        "result: OK (3,363,328 bytes verified, no errors)",
        "newreno congestion control",
    ] {
        assert!(stdout.contains(needle), "`{needle}` missing:\n{stdout}");
    }
    // Not a terminal: one progress line per 10 %, per phase.
    assert!(stderr.contains("bulk: 100%  3 MiB / 3 MiB"), "{stderr}");
    assert!(stderr.contains("requests: 100%  200 / 200"), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("bulk:")).count(),
        10,
        "{stderr}"
    );
    let report: DemoReport =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    check_complete(&report, 3 << 20, 200);
}

fn demo_fails(args: &[&str], code: i32, needles: &[&str]) {
    let mut all = vec!["demo", "--quiet"];
    all.extend_from_slice(args);
    let out = ferrotoe(&all);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{all:?}: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{all:?}: `{n}` missing from:\n{stderr}");
    }
}

#[test]
fn mistakes_get_clear_errors() {
    demo_fails(&["--mtu", "9500"], 1, &["MTU 9500", "576..=9202"]);
    demo_fails(&["--loss", "1.5"], 1, &["loss=1.5", "probabilities 0 to 1"]);
    demo_fails(&["--offload", "gso"], 2, &["unknown offload mode `gso`"]);
    demo_fails(&["--backend", "verilog"], 2, &["model", "rtl"]);
    demo_fails(
        &["--cc", "vegas"],
        2,
        &["unknown congestion control `vegas`", "reno, cubic or dctcp"],
    );
    demo_fails(
        &["--bytes", "1M", "--pcap", "/nonexistent/dir/x.pcap"],
        1,
        &["/nonexistent/dir/x.pcap"],
    );
    demo_fails(&["--bytes", "0", "--requests", "0"], 1, &["nothing to do"]);
    demo_fails(&["--bytes", "1M", "--buffer", "1K"], 1, &["socket buffer"]);
    demo_fails(&["--queue", "10"], 1, &["needs a line rate", "--rate 10G"]);
    demo_fails(
        &["--rate", "10G", "--queue", "10", "--ce-threshold", "10"],
        1,
        &[
            "threshold 10 is not below the queue limit of 10",
            "--ce-threshold",
        ],
    );
    demo_fails(&["--rate", "10GB"], 2, &["bytes per second", "25Gbit"]);
    demo_fails(
        &["--rate", "10G", "--nic-thread"],
        1,
        &["drop --nic-thread"],
    );
    demo_fails(&["--rate", "10G", "--delay", "50"], 2, &["no unit", "50us"]);
}

/// A small sharded demo: two queue pairs, four connections, 256 KiB each way.
const SMALL_SHARDED_DEMO: [&str; 8] = [
    "demo",
    "--quiet",
    "--queues",
    "2",
    "--connections",
    "4",
    "--bytes",
    "256KiB",
];

/// Runs `ferrotoe ARGS`, checks it succeeded and that its output has each of `wants`;
/// returns the output.
fn text_report_with(args: &[&str], wants: &[&str]) -> String {
    let out = ferrotoe(args);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for want in wants {
        assert!(stdout.contains(want), "`{want}` missing from:\n{stdout}");
    }
    stdout
}

/// Runs `ferrotoe ARGS` (a sharded demo with `--json`), checks it succeeded, parses the
/// report.
fn sharded_json(args: &[&str]) -> ShardedDemoReport {
    let out = ferrotoe(args);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "{args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not a sharded demo report ({e}):\n{stdout}"))
}

#[test]
fn sharded_demo_spreads_connections_over_the_queues_of_both_hosts() {
    // On both device backends: the RTL's RSS must steer as the hosts' steering function says.
    for (backend, connections, bytes, buffer) in [
        ("model", 16u64, 2u64 << 20, "64KiB"),
        ("rtl", 8, 256 << 10, "32KiB"),
    ] {
        let (c, b) = (connections.to_string(), bytes.to_string());
        let args = [
            "demo",
            "--quiet",
            "--json",
            "--backend",
            backend,
            "--queues",
            "4",
            "--connections",
            &c,
            "--bytes",
            &b,
            "--buffer",
            buffer,
        ];
        let r = sharded_json(&args);
        assert!(r.ok && r.errors.is_empty(), "{backend}: {:?}", r.errors);
        assert_eq!(
            (r.setup.backend.as_str(), r.queues, r.rss),
            (backend, 4, true)
        );
        assert_eq!(r.connections as u64, connections);
        assert_eq!(r.bytes_per_connection_each_way, bytes / connections);
        assert_eq!(r.bytes_verified, 2 * bytes);
        assert_eq!(r.connections_per_shard, vec![connections as usize / 4; 4]);
        assert_eq!(r.accepted_per_shard, r.connections_per_shard, "{backend}");
        for h in [&r.client, &r.server] {
            assert_eq!(h.queue_rx_frames.len(), 4);
            assert!(h.queue_rx_frames.iter().all(|&n| n > 0), "{backend}: {h:?}");
            assert_eq!(h.queue_rx_frames, h.endpoint_rx_frames, "{backend}");
            assert_eq!(h.rsts_sent, 0, "{backend}");
        }
    }

    // The text report: the set-up, the figures per direction, every queue's frames.
    let stdout = text_report_with(
        &[
            &SMALL_SHARDED_DEMO[..],
            &["--mtu", "9000", "--cc", "cubic", "--seed", "7"],
        ]
        .concat(),
        &[
            "two hosts of 2 queue pairs with RSS",
            "backend model",
            "MTU 9000, offload tso",
            "cubic congestion control, seed 7",
            "4 connections, each carrying 64 KiB client -> server",
            "every byte (512 KiB both ways) verified",
            "Gbit/s each way in",
            "both directions added up",
            "host CPU ",
            "the NIC simulation took",
            "offloads      TSO segments emitted ",
            "losses        0 segments retransmitted",
            "client RX    frames per queue: q0 ",
            ", q1 ",
            "result: OK",
        ],
    );
    for unwanted in ["note: --bytes", "cable   ", "FAILED"] {
        assert!(!stdout.contains(unwanted), "`{unwanted}` in:\n{stdout}");
    }

    demo_fails(&["--queues", "5"], 1, &["5 queue pairs", "from 1 to 4"]);
    demo_fails(
        &["--connections", "0"],
        1,
        &["--connections must be at least 1"],
    );
    demo_fails(
        &["--connections", "18446744073709551615"],
        1,
        &["--connections 18446744073709551615", "choose 1 to 4096"],
    );
    demo_fails(
        &["--queues", "2", "--requests", "10"],
        1,
        &["--requests", "drop it"],
    );
    demo_fails(
        &["--queues", "2", "--connections", "8", "--bytes", "4"],
        1,
        &["no byte per connection"],
    );
}

#[test]
fn a_lossy_sharded_demo_reports_its_losses_and_still_verifies_every_byte() {
    // 10 connections do not share 1,000,003 bytes evenly: each carries 100,000 each way.
    let args = [
        "demo",
        "--quiet",
        "--json",
        "--queues",
        "2",
        "--connections",
        "10",
        "--bytes",
        "1000003",
        "--buffer",
        "64KiB",
        "--loss",
        "0.02",
        "--seed",
        "3",
    ];
    let r = sharded_json(&args);
    assert!(r.ok && r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.bytes_verified, 2 * 10 * 100_000);
    assert_eq!(
        (
            r.bytes_requested_each_way,
            r.bytes_per_connection_each_way,
            r.bytes_rounded_off_each_way
        ),
        (1_000_003, 100_000, 3)
    );
    assert_eq!((r.setup.cable.loss, r.setup.cable.seed), (0.02, 3));
    assert_eq!(
        r.setup.offload,
        ferrotoe_benches::workload::OffloadMode::Tso
    );
    let k = &r.counters.cable;
    assert!(k.lost > 0, "a 2 % loss lost no frame: {k:?}");
    // Every lost data segment is sent again (lost ACKs need not be).
    assert!(
        r.retransmissions.segments > 0
            && r.retransmissions.fast_retransmits + r.retransmissions.timeouts > 0,
        "{:?}",
        r.retransmissions
    );
    // Both directions carried data: both hosts sent TSO super-frames, and the NICs cut them.
    let t = r.counters.total();
    assert!(
        r.counters.client.tso_super_frames > 0 && r.counters.server.tso_super_frames > 0,
        "{:?}",
        r.counters
    );
    assert!(t.nic_tso_segments > t.tso_super_frames, "{t:?}");
    // Every frame on the wire had its checksums inserted by a NIC; every frame that arrived
    // was checked by one.
    assert_eq!(t.nic_csum_inserted, t.nic_tx_frames, "{t:?}");
    assert!(
        t.nic_rx_csum_good > 0 && t.nic_rx_csum_good <= t.nic_rx_frames,
        "{t:?}"
    );
    assert!(
        r.cpu.process_s > 0.0 && r.goodput_gbps_each_way > 0.0 && r.wall_s > 0.0,
        "{r:?}"
    );
    assert!(
        (r.simulated_goodput_gbps_both_ways - 2.0 * r.simulated_goodput_gbps_each_way).abs() < 1e-9
    );
    for h in [&r.client, &r.server] {
        assert_eq!(h.queue_rx_drops, vec![0, 0]);
    }

    // The same run as text names the losses, the retransmissions and the rounding.
    let out = ferrotoe(
        &args[..1]
            .iter()
            .chain(&args[3..])
            .copied()
            .collect::<Vec<_>>(),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for want in [
        "cable impairment: loss 0.02",
        &format!("cable         lost {}, ", k.lost),
        &format!(
            "losses        {} segments retransmitted ({} fast retransmits, {} timeouts",
            r.retransmissions.segments,
            r.retransmissions.fast_retransmits,
            r.retransmissions.timeouts
        ),
        "note: --bytes 1,000,003 does not share evenly over 10 connections: each carries \
         100,000 bytes each way, 3 bytes fewer per direction than asked",
        "result: OK (2,000,000 bytes verified",
    ] {
        assert!(stdout.contains(want), "`{want}` missing from:\n{stdout}");
    }
}

#[test]
fn shard_threads_run_each_shard_on_a_thread_of_its_own() {
    let args = [
        "demo",
        "--quiet",
        "--json",
        "--queues",
        "2",
        "--connections",
        "8",
        "--bytes",
        "2MiB",
        "--buffer",
        "64KiB",
        "--shard-threads",
    ];
    let r = sharded_json(&args);
    assert!(r.ok && r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.bytes_verified, 2 * (2 << 20));
    let t = r.threads.as_ref().expect("a threaded report");
    assert_eq!(t.shard_threads, 4);
    assert_eq!((t.polls[0].len(), t.polls[1].len()), (2, 2));
    assert!(r.setup.nic_thread);
    assert_eq!(r.accepted_per_shard, vec![4, 4]);
    for h in [&r.client, &r.server] {
        assert!(h.queue_rx_frames.iter().all(|&n| n > 0), "{h:?}");
    }

    // The text report names the mode; --nic-thread is implied, so accepted.
    text_report_with(
        &[
            &SMALL_SHARDED_DEMO[..],
            &["--shard-threads", "--nic-thread"],
        ]
        .concat(),
        &[
            "ferrotoe demo, sharded (threads: 2x2 shard threads + NIC thread)",
            "the shards' clock is the wall clock",
            "CPU s per shard thread",
            "client RX    frames per queue: q0 ",
            "result: OK",
        ],
    );
    // The stepped sharded demo says it is stepped.
    let out = ferrotoe(&["demo", "--quiet", "--queues", "1", "--bytes", "64KiB"]);
    assert!(text(&out.stdout).contains("sharded (stepped: one thread)"));

    // Without the sharded demo it has nothing to run on; the bottleneck is refused as before.
    demo_fails(
        &["--shard-threads"],
        1,
        &["--shard-threads runs the shards", "add --queues N"],
    );
    demo_fails(
        &["--queues", "2", "--shard-threads", "--rate", "10G"],
        1,
        &["--rate does not apply to the sharded demo", "drop --rate"],
    );
    demo_fails(
        &["--queues", "2", "--nic-thread"],
        1,
        &[
            "drop --nic-thread",
            "--shard-threads runs the sharded demo's NICs",
        ],
    );
}

#[test]
fn flags_the_sharded_demo_does_not_apply_are_refused_by_name() {
    for (flag, value) in [
        ("--request-size", Some("128")),
        ("--response-size", Some("2KiB")),
        ("--nic-thread", None),
        ("--rate", Some("10G")),
        ("--delay", Some("50us")),
    ] {
        let mut args = vec!["--queues", "2", flag];
        args.extend(value);
        demo_fails(
            &args,
            1,
            &[
                &format!("{flag} does not apply to the sharded demo"),
                &format!("drop {flag}"),
            ],
        );
    }
    // The plain demo still takes them.
    let r = demo_json(&[
        "--bytes",
        "0",
        "--requests",
        "5",
        "--request-size",
        "128",
        "--response-size",
        "2KiB",
    ]);
    let q = r.requests.expect("a request/response phase");
    assert_eq!((q.request_bytes, q.response_bytes), (128, 2048));
}
