//! The two simulated hosts: set-up, offload modes as the devices count them, impairment,
//! request/response, and the errors a user can hit. Small transfers: behaviour, not speed.

use super::*;
use crate::workload::{BulkConfig, BulkError};

fn hosts(offload: Option<OffloadMode>) -> SimHosts {
    SimHosts::new(&SimHostsConfig {
        offload,
        ..SimHostsConfig::new()
    })
    .unwrap()
}

fn bulk(h: &mut SimHosts, bytes: u64) -> (BulkOutcome, SimHostsCounters) {
    let before = h.counters().unwrap();
    let out = run_bulk(h, &BulkSpec::new(bytes), &mut |_| {}).unwrap();
    h.check_health().unwrap();
    (out, h.counters().unwrap().since(&before))
}

#[test]
fn default_hosts_use_every_offload_the_device_has() {
    let mut h = hosts(None);
    assert_eq!(h.offload(), OffloadMode::Tso);
    assert_eq!(h.backend(), NicBackend::Model);
    assert_eq!(h.line_rate_bps(), 512 * 250 * 1_000_000);
    let bytes = 3 << 20;
    let (out, c) = bulk(&mut h, bytes);
    assert_eq!((out.bytes, out.verified), (bytes, true));
    let (client, server) = (&c.client, &c.server);
    // The client's data left as TSO super-frames that the NIC cut into MSS-sized segments,
    // each with checksums the NIC inserted; the server's NIC verified every frame.
    assert!(client.tso_super_frames > 0, "{client:?}");
    assert!(
        client.nic_tso_segments > client.tso_super_frames,
        "{client:?}"
    );
    // Segments sent whole carry one MSS (1448 with timestamps) at most: TSO cut the rest.
    let whole = client.tcp_segments_sent - client.tso_super_frames;
    assert!(
        (client.nic_tso_segments + whole) * 1448 >= bytes,
        "{client:?}"
    );
    assert!(client.nic_tso_segments > 10 * whole, "{client:?}");
    // Every frame but ARP carries checksums the NIC inserted (or verified).
    assert_eq!(
        client.nic_csum_inserted,
        client.nic_tx_frames - client.arp_frames_sent,
        "{client:?}"
    );
    assert_eq!(
        server.nic_rx_csum_good, server.tcp_segments_received,
        "{server:?}"
    );
    assert_eq!(
        server.nic_rx_frames,
        server.tcp_segments_received + server.arp_frames_received
    );
    assert_eq!(server.nic_rx_frames, client.nic_tx_frames, "nothing lost");
    assert_eq!(c.total().nic_rx_drops + c.total().nic_errors, 0, "{c:?}");
    assert_eq!(
        c.total().rx_bad_checksum + c.total().adapter_rejected,
        0,
        "{c:?}"
    );
    assert_eq!(out.retransmissions, Retransmissions::default());
    // Zero-copy receive: without loss the server checks almost every byte in the NIC's
    // receive buffers; only bytes arriving behind unread ones are buffered.
    let direct = h.host(Side::Server).endpoint.counters().rx_direct_bytes;
    assert!(
        direct >= bytes * 9 / 10 && direct <= bytes,
        "{direct} of {bytes} direct"
    );
    assert_eq!(c.simulated_cycles, None, "the model counts no cycles");
    assert!(out.sim_us > 0 && out.rounds > 0);
    // Both connections were released: the endpoints are empty again.
    assert!(h.host(Side::Client).endpoint.is_empty() || h.host(Side::Client).endpoint.len() == 1);
    assert_eq!(h.host(Side::Server).endpoint.len(), 0);
}

/// The NICs on a thread of their own: the same transfer, every byte verified, nothing lost,
/// and the NICs' CPU time is the thread's.
#[test]
fn nics_on_their_own_thread_move_a_verified_transfer() {
    let mut h = SimHosts::new(&SimHostsConfig {
        nic_thread: true,
        ..SimHostsConfig::new()
    })
    .unwrap();
    assert!(h.nic_threaded());
    let bytes = 3 << 20;
    let (out, c) = bulk(&mut h, bytes);
    assert_eq!((out.bytes, out.verified), (bytes, true));
    assert!(
        c.client.nic_tso_segments > c.client.tso_super_frames,
        "{c:?}"
    );
    assert_eq!(
        c.server.nic_rx_frames, c.client.nic_tx_frames,
        "nothing lost"
    );
    assert_eq!(c.total().nic_rx_drops + c.total().nic_errors, 0, "{c:?}");
    assert_eq!(c.total().rx_bad_checksum, 0, "{c:?}");
    assert!(h.nic_cpu() > Duration::ZERO);
    // A second transfer on the same pair, after the first closed.
    let (again, _) = bulk(&mut h, 1 << 20);
    assert_eq!(again.bytes, 1 << 20);
}

#[test]
fn checksum_offload_without_tso_and_no_offload_at_all() {
    let mut csum = hosts(Some(OffloadMode::Csum));
    let (_, c) = bulk(&mut csum, 1 << 20);
    let t = c.total();
    assert_eq!((t.tso_super_frames, t.nic_tso_segments), (0, 0), "{t:?}");
    assert_eq!(
        t.nic_csum_inserted,
        t.nic_tx_frames - t.arp_frames_sent,
        "{t:?}"
    );
    assert_eq!(t.nic_rx_csum_good, t.tcp_segments_received, "{t:?}");
    assert_eq!(t.nic_tx_requests, t.nic_tx_frames, "one frame per request");

    let mut none = hosts(Some(OffloadMode::None));
    let (out, c) = bulk(&mut none, 1 << 20);
    assert_eq!(out.bytes, 1 << 20);
    let t = c.total();
    assert_eq!(
        (t.nic_csum_inserted, t.nic_tso_segments, t.nic_rx_csum_good),
        (0, 0, 0),
        "the NICs did nothing but move frames: {t:?}"
    );
    assert!(t.nic_tx_frames > 700, "{t:?}");
}

#[test]
fn a_lossy_reordering_cable_costs_retransmissions_not_data() {
    let mut h = SimHosts::new(&SimHostsConfig {
        impairment: Impairment {
            loss: 0.01,
            reorder: 0.01,
            seed: 7,
            ..Impairment::NONE
        },
        ..SimHostsConfig::new()
    })
    .unwrap();
    let direct0 = h.host(Side::Server).endpoint.counters().rx_direct_bytes;
    let (out, c) = bulk(&mut h, 2 << 20);
    assert_eq!(out.bytes, 2 << 20);
    assert!(c.cable.lost > 0 && c.cable.reordered > 0, "{:?}", c.cable);
    // Holes being filled take the buffered path: the stream stayed exact (verified above)
    // with both paths in use.
    let direct = h.host(Side::Server).endpoint.counters().rx_direct_bytes - direct0;
    assert!(
        direct > 0 && direct < out.bytes,
        "{direct} of {} direct",
        out.bytes
    );
    assert!(out.retransmissions.segments > 0, "{out:?}");
    assert_eq!(c.total().nic_errors, 0);
}

#[test]
fn request_response_checks_every_byte_and_reports_latencies() {
    let mut h = hosts(None);
    let spec = RrSpec {
        transactions: 200,
        request_bytes: 100,
        response_bytes: 5000,
        ..RrSpec::new(0)
    };
    let mut seen = 0;
    let out = run_rr(&mut h, &spec, &mut |n| seen = n).unwrap();
    assert_eq!((out.transactions, seen), (200, 200));
    assert_eq!(out.bytes_verified, 200 * 5100);
    let (s, w) = (out.latency_sim, out.latency_wall);
    assert_eq!((s.count, w.count), (200, 200));
    assert!(s.min >= 1.0 && s.p50 <= s.p99 && s.p99 <= s.max, "{s:?}");
    assert!(w.min > 0.0 && w.p50 <= w.max, "{w:?}");
    // A bulk transfer can follow on the same hosts.
    bulk(&mut h, 64 << 10);
}

#[test]
fn the_rtl_backend_runs_the_same_hosts_or_fails_with_rtl_sims_typed_error() {
    let cfg = SimHostsConfig {
        backend: NicBackend::Rtl,
        ..SimHostsConfig::new()
    };
    match (
        build_core(NicBackend::Rtl, DeviceConfig::REFERENCE),
        SimHosts::new(&cfg),
    ) {
        (Err(expected), Err(SimHostsError::Backend(got))) => {
            assert_eq!(got, expected);
            assert!(
                SimHostsError::Backend(got)
                    .to_string()
                    .contains("--backend model")
            );
        }
        // Integrated: the same hosts run on it.
        (Ok(_), Ok(mut h)) => {
            let (out, c) = bulk(&mut h, 64 << 10);
            assert_eq!(out.bytes, 64 << 10);
            // The RTL counts its clock: at least one cycle per 64-byte beat of every frame.
            let cycles = c.simulated_cycles.expect("the RTL counts its cycles");
            assert!(cycles > (64 << 10) / 64, "{cycles} cycles");
        }
        (core, hosts) => panic!("build_core {:?} but SimHosts::new {hosts:?}", core.err()),
    }
}

#[test]
fn bad_configurations_say_what_to_change() {
    for mtu in [575, 9203] {
        let e = SimHosts::new(&SimHostsConfig {
            mtu,
            ..SimHostsConfig::new()
        })
        .unwrap_err();
        assert!(e.to_string().contains(&format!("MTU {mtu}")), "{e}");
    }
    let e = SimHosts::new(&SimHostsConfig {
        impairment: Impairment {
            loss: 2.0,
            ..Impairment::NONE
        },
        ..SimHostsConfig::new()
    })
    .unwrap_err();
    assert!(e.to_string().contains("loss"), "{e}");
    let e = SimHosts::new(&SimHostsConfig {
        rx_burst: 0,
        ..SimHostsConfig::new()
    })
    .unwrap_err();
    assert!(e.to_string().contains("receive burst"), "{e}");
    let e = SimHosts::new(&SimHostsConfig {
        pcap: Some("/nonexistent/dir/x.pcap".into()),
        ..SimHostsConfig::new()
    })
    .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/dir/x.pcap"), "{e}");
}

#[test]
fn the_best_mode_follows_the_capabilities() {
    let full = DeviceConfig::REFERENCE.caps;
    assert_eq!(best_mode(&full), OffloadMode::Tso);
    let no_tso = DeviceCaps { tso: false, ..full };
    assert_eq!(best_mode(&no_tso), OffloadMode::Csum);
    assert_eq!(
        describe_offers(&no_tso),
        "TX checksums, RX checksum verification"
    );
    let nothing = DeviceCaps {
        tx_tcp_csum: false,
        rx_csum: false,
        tso: false,
        ..full
    };
    assert_eq!(best_mode(&nothing), OffloadMode::None);
    assert_eq!(describe_offers(&nothing), "no offloads");
}

#[test]
fn the_benchmark_runs_the_model_backend_and_skips_what_it_cannot() {
    use crate::measure::Meter;
    use crate::report::WorkloadSettings;
    use crate::runner::{MatrixPlan, run_matrix};
    use crate::workload::{Backend, BulkStack};

    let plan = MatrixPlan {
        offloads: OffloadMode::ALL.to_vec(),
        mtus: vec![1500],
        backends: vec![Backend::Model, Backend::Link],
        reps: 1,
        workload: WorkloadSettings {
            bytes: 2 << 20,
            ..WorkloadSettings::REFERENCE
        },
        stall_timeout: Duration::from_secs(10),
    };
    let stacks: Vec<Box<dyn BulkStack>> = vec![Box::new(FerrotoeSimBulk)];
    let report = run_matrix(
        &plan,
        &stacks,
        None,
        &mut Meter::without_cycles("test"),
        &mut |_| {},
    )
    .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.cells.len(), 3, "model x none, csum, tso");
    for cell in &report.cells {
        assert_eq!(
            (cell.key.stack.as_str(), cell.key.backend),
            ("ferrotoe", Backend::Model)
        );
        let s = &cell.samples[0];
        assert!(s.verified && s.bytes == 2 << 20, "{s:?}");
        // Wire frames client to server: MSS-sized segments whatever the mode; TSO needs far
        // fewer requests for them.
        assert!(s.data_frames >= (2 << 20) / 1448, "{s:?}");
        if cell.key.offload == OffloadMode::Tso {
            assert!(s.tx_requests * 10 < s.data_frames, "{s:?}");
        } else {
            assert_eq!(s.tx_requests, s.data_frames, "{s:?}");
        }
        assert_eq!(s.retransmissions, Some(0));
    }
    assert_eq!(
        report.skipped.len(),
        3,
        "the link backend is not this harness's"
    );
    assert!(report.skipped.iter().all(|s| s.reason.contains("link")));
    // A prepared run runs once.
    let mut run = bulk_run(
        &plan
            .workload
            .config(1500, OffloadMode::Csum, Backend::Model),
    )
    .unwrap();
    run.run().unwrap();
    assert!(matches!(run.run(), Err(BulkError::AlreadyRun { .. })));
    let cubic = BulkConfig {
        congestion: crate::workload::Congestion::Cubic,
        ..plan
            .workload
            .config(1500, OffloadMode::Csum, Backend::Model)
    };
    FerrotoeSimBulk.supports(&cubic).unwrap();
    let none = BulkConfig {
        congestion: crate::workload::Congestion::None,
        ..cubic
    };
    assert!(FerrotoeSimBulk.supports(&none).is_err());
    let rtl = plan.workload.config(1500, OffloadMode::Tso, Backend::Rtl);
    match build_core(NicBackend::Rtl, DeviceConfig::REFERENCE) {
        Ok(_) => FerrotoeSimBulk.supports(&rtl).unwrap(),
        Err(e) => assert_eq!(
            FerrotoeSimBulk.supports(&rtl).unwrap_err().reason,
            e.to_string()
        ),
    }
}

#[test]
fn rings_hold_a_whole_window_so_large_messages_lose_nothing() {
    let spec = RrSpec {
        transactions: 4,
        request_bytes: 1 << 20,
        response_bytes: 2 << 20,
        ..RrSpec::new(0)
    };
    assert_eq!(spec.buffer(), 4 << 20);
    let mut h = SimHosts::new(&SimHostsConfig {
        offload: Some(OffloadMode::Csum),
        max_window: spec.buffer(),
        ..SimHostsConfig::new()
    })
    .unwrap();
    let before = h.counters().unwrap();
    let out = run_rr(&mut h, &spec, &mut |_| {}).unwrap();
    let c = h.counters().unwrap().since(&before);
    assert_eq!(out.bytes_verified, 4 * (3 << 20));
    assert_eq!(c.total().nic_rx_drops, 0, "{c:?}");
    assert_eq!(out.retransmissions, Retransmissions::default());
    assert_eq!(ring_log2(&SimHostsConfig::new()), 10);
    let jumbo_window = SimHostsConfig {
        mtu: 9000,
        max_window: 64 << 20,
        ..SimHostsConfig::new()
    };
    assert_eq!(ring_log2(&jumbo_window), 13, "7,500 jumbo frames and slack");
    let huge = SimHostsConfig {
        max_window: 1 << 30,
        ..SimHostsConfig::new()
    };
    assert_eq!(ring_log2(&huge), 15, "capped at the device's largest ring");
}

#[test]
fn one_app_memory_serves_transfers_of_any_buffer_size_and_the_nic_cpu_is_measured() {
    let mut h = hosts(None);
    // Built for 64 KiB: its pattern and read buffer serve a 1 MiB socket buffer in pieces.
    let mut app = BulkApp::new(64 << 10);
    let nic0 = h.nic_cpu();
    for bytes in [(3 << 20) + 17, 1 << 20] {
        let spec = BulkSpec::new(bytes);
        assert_eq!(spec.socket_buffer, 1 << 20);
        let out = run_bulk_with(&mut h, &spec, &mut app, &mut |_| {}).unwrap();
        assert_eq!((out.bytes, out.verified), (bytes, true));
        assert_eq!(out.retransmissions.segments, 0);
    }
    h.check_health().unwrap();
    // The stepped NICs' estimate is wired up (its bounds are the meter's unit tests: a
    // comparison of measured times has no place in a pass/fail test).
    assert!(h.nic_cpu() > nic0);
}
