//! The simulated NIC as a whole, through sim-link as a driver sees it: two NICs on a cable in
//! stepped (deterministic) and threaded mode, interrupts, impairment, pcap captures checked
//! with tshark, DMA faults through the simulated IOMMU, a dead device.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use hw_spec::regs::control;
use hw_spec::{CsumStatus, ErrorCode, TxDescriptor, TxOffloadRequest};
use rtl_sim::conformance::frames::{self, TcpSpec};
use rtl_sim::conformance::link_driver::{DriverConfig, LinkDriver};
use rtl_sim::device::DeviceConfig;
use rtl_sim::nic::{Backend, Clock, SimNic, build_core};
use rtl_sim::wire::Port;
use rtl_sim::wire::cable::{CableConfig, CableEnd};
use rtl_sim::wire::impair::Impairment;
use rtl_sim::wire::pcap::Capture;
use sim_link::{AttachOptions, DeviceLink, DriverLink, LinkConfig, LinkError};

fn nic(port: Box<dyn Port>, clock: Clock) -> SimNic {
    let link = DeviceLink::create_anonymous(&LinkConfig::default()).unwrap();
    let core = build_core(Backend::Model, DeviceConfig::REFERENCE).unwrap();
    SimNic::new(core, link, port, clock)
}

fn small_rings() -> DriverConfig {
    DriverConfig {
        ring_log2: 7,
        ..DriverConfig::default()
    }
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("rtl-sim-nic-{}-{name}", std::process::id()))
}

/// What B received, per frame: length, IP and L4 checksum status, and the TCP sequence number.
type Received = Vec<(u32, CsumStatus, CsumStatus, u32, u64)>;

/// A sends one TSO request and some single frames to B over a stepped cable pair.
fn stepped_scenario(impairment: Impairment) -> (Received, Vec<u8>) {
    let (a, b) = CableEnd::pair(&CableConfig {
        impairment,
        ..CableConfig::default()
    })
    .unwrap();
    let na = nic(Box::new(a), Clock::Manual(0)).into_stepped();
    let nb = nic(Box::new(b), Clock::Manual(0)).into_stepped();
    let rings = DriverConfig {
        buf_len: 32 * 1024,
        ..small_rings()
    };
    let mut da =
        LinkDriver::bring_up(na.attach_driver(AttachOptions::default()).unwrap(), rings).unwrap();
    let mut db =
        LinkDriver::bring_up(nb.attach_driver(AttachOptions::default()).unwrap(), rings).unwrap();
    let data = frames::payload(30_000, 7);
    let spec = TcpSpec {
        seq: 1000,
        ..TcpSpec::default()
    };
    let big = frames::tcp_frame(&spec, &data);
    assert!(da.queue_frame(&big, TxOffloadRequest::tso(1448, 14, 20, 32)));
    for i in 0..5u32 {
        let f = frames::tcp_frame(
            &TcpSpec {
                seq: 100_000 + i,
                ..spec
            },
            &frames::payload(100, 1),
        );
        assert!(da.queue_frame(&f, TxOffloadRequest::tcp_checksums(14, 20)));
    }
    da.doorbell().unwrap();
    let mut got = Received::new();
    let mut bytes = Vec::new();
    for round in 0..50 {
        na.with(|n| n.advance_time(1_000));
        nb.with(|n| n.advance_time(1_000));
        na.run_until_idle(100);
        nb.run_until_idle(100);
        da.reap_tx(|c| assert_eq!(c.error, ErrorCode::None))
            .unwrap();
        db.receive(|c, f| {
            let seq = frames::be32(f, frames::ETH + frames::IP + 4);
            got.push((c.len, c.ip_csum, c.l4_csum, seq, c.timestamp));
            if seq < 100_000 {
                bytes.extend_from_slice(&f[66..]);
            }
        })
        .unwrap();
        if round > 5 && got.len() >= 26 {
            break;
        }
    }
    (got, bytes)
}

#[test]
fn stepped_pair_carries_tso_and_checksums_deterministically() {
    let (got, bytes) = stepped_scenario(Impairment::NONE);
    assert_eq!(
        got.len(),
        21 + 5,
        "30000 bytes at MSS 1448 is 21 segments, plus 5 frames"
    );
    assert!(
        got.iter()
            .all(|g| (g.1, g.2) == (CsumStatus::Good, CsumStatus::Good))
    );
    assert_eq!(
        bytes,
        frames::payload(30_000, 7),
        "TSO payload arrives intact and in order"
    );
    // Same inputs, same manual clock: the same run, timestamps included.
    assert_eq!(stepped_scenario(Impairment::NONE).0, got);
    // With a lossy, reordering wire, the run still repeats exactly for a given seed.
    let lossy = Impairment {
        loss: 0.25,
        reorder: 0.2,
        corrupt: 0.1,
        seed: 11,
        ..Impairment::NONE
    };
    let first = stepped_scenario(lossy).0;
    assert_eq!(stepped_scenario(lossy).0, first);
    assert!(first.len() < 26, "some frames were lost: {}", first.len());
    assert!(
        first.iter().any(|g| g.2 == CsumStatus::Bad),
        "corruption is caught by the receive checksum"
    );
}

#[test]
fn threaded_pair_with_interrupts_and_a_capture_tshark_reads() {
    let pcap = temp("threaded.pcap");
    let (a, b) = CableEnd::pair(&CableConfig::default()).unwrap();
    let a = Capture::new(a, &pcap).unwrap();
    let na = nic(Box::new(a), Clock::Real(Instant::now()))
        .spawn()
        .unwrap();
    let nb_nic = nic(Box::new(b), Clock::Real(Instant::now()));
    let b_paths = nb_nic.paths().clone();
    let nb = nb_nic.spawn().unwrap();
    let a_link = DriverLink::attach(na.paths(), AttachOptions::default());
    let mut da = LinkDriver::bring_up(a_link.unwrap(), small_rings()).unwrap();
    let mut db = LinkDriver::bring_up(
        DriverLink::attach(&b_paths, AttachOptions::default()).unwrap(),
        small_rings(),
    )
    .unwrap();
    let irq = db.link().interrupts();
    let mut seen = irq.count(1).unwrap();
    db.arm(1).unwrap();
    let total = 100u32;
    let mut sent = 0u32;
    let mut received = 0u32;
    let deadline = Instant::now() + Duration::from_secs(20);
    while received < total {
        assert!(
            Instant::now() < deadline,
            "only {received} of {total} frames arrived"
        );
        while sent < total && da.tx_room() > 0 {
            let f = frames::tcp_frame(
                &TcpSpec {
                    seq: sent,
                    ..TcpSpec::default()
                },
                &frames::payload(200, 3),
            );
            da.queue_frame(&f, TxOffloadRequest::tcp_checksums(14, 20));
            sent += 1;
        }
        da.doorbell().unwrap();
        da.reap_tx(|_| ()).unwrap();
        // B sleeps on its interrupt, as a driver without polling would.
        if let Some(c) = irq.wait(1, seen, Duration::from_millis(500)).unwrap() {
            seen = c;
        }
        received += db
            .receive(|c, _| assert_eq!(c.l4_csum, CsumStatus::Good))
            .unwrap() as u32;
        db.arm(1).unwrap();
    }
    let stats_b = nb.stop().counters();
    let stats_a = na.stop().counters();
    assert_eq!(stats_a.tx_frames, u64::from(total));
    assert_eq!(stats_b.rx_frames, u64::from(total));
    assert!(
        stats_b.sleeps > 0,
        "an idle threaded NIC sleeps instead of spinning"
    );
    check_with_tshark(&pcap, total as usize);
    std::fs::remove_file(&pcap).unwrap();
}

/// tshark must parse every frame of the capture and find every checksum good.
fn check_with_tshark(pcap: &PathBuf, frames: usize) {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(pcap)
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-T",
            "fields",
            "-e",
            "ip.checksum.status",
            "-e",
            "tcp.checksum.status",
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run tshark ({e}): install it with `apt-get install -y tshark`")
        });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), frames, "tshark sees every frame");
    assert!(
        lines.iter().all(|l| *l == "1\t1"),
        "tshark finds a bad checksum: {:?}",
        lines.iter().find(|l| **l != "1\t1")
    );
}

#[test]
fn impairment_counts_match_what_arrives() {
    let imp = Impairment {
        loss: 0.2,
        duplicate: 0.1,
        seed: 3,
        ..Impairment::NONE
    };
    let (a, b) = CableEnd::pair(&CableConfig {
        impairment: imp,
        ..CableConfig::default()
    })
    .unwrap();
    let na = nic(Box::new(a), Clock::Manual(0)).into_stepped();
    let nb = nic(Box::new(b), Clock::Manual(0)).into_stepped();
    let mut da = LinkDriver::bring_up(
        na.attach_driver(AttachOptions::default()).unwrap(),
        small_rings(),
    )
    .unwrap();
    let mut db = LinkDriver::bring_up(
        nb.attach_driver(AttachOptions::default()).unwrap(),
        small_rings(),
    )
    .unwrap();
    let f = frames::tcp_frame(&TcpSpec::default(), &frames::payload(64, 0));
    let mut received = 0u64;
    for _ in 0..10 {
        for _ in 0..100 {
            assert!(da.queue_frame(&f, TxOffloadRequest::NONE));
        }
        da.doorbell().unwrap();
        na.run_until_idle(1000);
        nb.run_until_idle(1000);
        da.reap_tx(|_| ()).unwrap();
        received += db.receive(|_, _| ()).unwrap() as u64;
    }
    let pa = na.with(|n| {
        assert!(n.port().describe().contains("side A"));
        n.port().counters()
    });
    let imp = pa.impairment;
    assert_eq!(imp.frames, 1000);
    assert_eq!(pa.dropped, 0);
    assert_eq!(received, 1000 - imp.lost + imp.duplicated, "{imp:?}");
    assert!(
        (150..250).contains(&imp.lost) && (50..130).contains(&imp.duplicated),
        "{imp:?}"
    );
    assert_eq!(nb.with(|n| n.port().counters().received), received);
}

#[test]
fn dma_outside_registered_memory_is_a_reported_fault() {
    let n = nic(
        Box::new(rtl_sim::wire::NullPort::default()),
        Clock::Manual(0),
    )
    .into_stepped();
    let mut d = LinkDriver::bring_up(
        n.attach_driver(AttachOptions::default()).unwrap(),
        small_rings(),
    )
    .unwrap();
    let outside = 0x7_0000_0000u64;
    assert!(d.queue_descriptor(&TxDescriptor::single(outside, 64, TxOffloadRequest::NONE)));
    d.doorbell().unwrap();
    n.run_until_idle(10);
    let mut errors = Vec::new();
    d.reap_tx(|c| errors.push(c.error)).unwrap();
    assert_eq!(errors, vec![ErrorCode::DmaFault]);
    let link = d.link();
    let status = link
        .read32(control::BASE + control::ERROR_STATUS.offset)
        .unwrap();
    assert_ne!(status & control::ERROR_STATUS_DMA_FAULT.mask32(), 0);
    assert_eq!(
        link.read64(control::BASE + control::LAST_ERROR_ADDR_LO.offset)
            .unwrap(),
        outside
    );
}

#[test]
fn a_stopped_device_fails_driver_waits_at_once() {
    let t = nic(
        Box::new(rtl_sim::wire::NullPort::default()),
        Clock::Real(Instant::now()),
    )
    .spawn()
    .unwrap();
    let mut drv = DriverLink::attach(&t.paths().clone(), AttachOptions::default()).unwrap();
    assert_eq!(
        drv.read32(control::BASE + control::SCRATCH.offset).unwrap(),
        0
    );
    drv.write32(control::BASE + control::SCRATCH.offset, 77)
        .unwrap();
    assert_eq!(
        drv.read32(control::BASE + control::SCRATCH.offset).unwrap(),
        77
    );
    let nic = t.stop();
    drop(nic);
    let start = Instant::now();
    assert!(matches!(
        drv.read32(control::BASE + control::SCRATCH.offset),
        Err(LinkError::DeviceStopped { .. })
    ));
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn threaded_pair_under_back_pressure_delivers_every_tso_segment() {
    // A cable of 64 slots and 45-segment TSO requests: A must wait for B to make room (and
    // B's reads must wake A), losing nothing.
    let (a, b) = CableEnd::pair(&CableConfig {
        slots: 64,
        ..CableConfig::default()
    })
    .unwrap();
    let na = nic(Box::new(a), Clock::Real(Instant::now()))
        .spawn()
        .unwrap();
    let nb = nic(Box::new(b), Clock::Real(Instant::now()))
        .spawn()
        .unwrap();
    let tx_cfg = DriverConfig {
        ring_log2: 5,
        buf_len: 65536 + 128,
        rx_csum: true,
    };
    let mut da = LinkDriver::bring_up(
        DriverLink::attach(na.paths(), AttachOptions::default()).unwrap(),
        tx_cfg,
    )
    .unwrap();
    let mut db = LinkDriver::bring_up(
        DriverLink::attach(nb.paths(), AttachOptions::default()).unwrap(),
        small_rings(),
    )
    .unwrap();
    let frame = frames::tcp_frame(&TcpSpec::default(), &frames::payload(64_000, 9));
    da.fill_tx_buffers(&frame);
    let requests = 100u32;
    let total = u64::from(requests) * 45;
    // B's driver may fall behind and B then drops for want of buffers (counted): every segment
    // is either received or counted there; none is lost on the cable.
    let s = da
        .stream_tso(
            &mut db,
            frame.len() as u32,
            TxOffloadRequest::tso(1448, 14, 20, 32),
            requests,
            45,
            Duration::from_secs(30),
        )
        .unwrap();
    let a = na.stop();
    nb.stop();
    assert!(!s.timed_out, "stuck: {s:?}");
    assert_eq!((s.wrong_segment_counts, s.not_good_csums), (0, 0), "{s:?}");
    assert_eq!(s.received + s.rx_dropped, total);
    assert_eq!(
        a.port().counters().dropped,
        0,
        "back-pressure, not loss on the cable"
    );
    assert!(s.received > 0 && s.completed <= requests);
}
