//! The driver against the simulated NIC (every backend in `support::BACKENDS`): discovery,
//! queue set-up, bursts, wraparound of every ring, checksum offload and TSO, error
//! completions, `tx_prepare`, several queue pairs with RSS, interrupts, a threaded NIC, and a
//! device that stops.

mod support;

use std::time::{Duration, Instant};

use host_driver::nic::{Direction, PacketBatch, PacketBuf};
use host_driver::{DeviceAccess, DeviceErrorKind, Nic, NicConfig, QueueConfig, SimDevice};
use hw_spec::rss::toeplitz;
use hw_spec::{CsumStatus, ErrorCode, Implementation, RssType, TxOffloadRequest};
use rtl_sim::conformance::frames::{self, TcpSpec};
use rtl_sim::device::DeviceConfig;
use rtl_sim::nic::Backend;
use rtl_sim::wire::cable::{CableConfig, CableEnd};
use sim_link::AttachOptions;
use support::*;

const CSUM: TxOffloadRequest = TxOffloadRequest::tcp_checksums(14, 20);

#[test]
fn discovery_reads_the_reference_device() {
    for &backend in BACKENDS {
        let nic = stepped_alone(backend, DeviceConfig::REFERENCE);
        let dev = stepped_device(&nic);
        let n = Nic::open(dev, NicConfig::default()).unwrap();
        let info = n.info();
        let r = DeviceConfig::REFERENCE;
        assert_eq!(info.spec_version, (1, 0));
        let implementation = match backend {
            Backend::Model => Implementation::Model,
            Backend::Rtl => Implementation::RtlVerilator,
        };
        assert_eq!(info.implementation, Some(implementation), "{backend:?}");
        assert_eq!(info.caps, r.caps);
        assert_eq!(
            (
                info.tx_queues,
                info.rx_queues,
                info.completion_queues,
                info.irq_vectors
            ),
            (r.tx_queues, r.rx_queues, r.completion_queues, r.irq_vectors)
        );
        assert_eq!((info.ring_min_log2, info.ring_max_log2), (3, 15));
        assert_eq!(info.queue_pairs(), 4);
        assert_eq!(info.blocks.len(), 8);
        assert_eq!(
            info.blocks.iter().map(|b| b.name()).collect::<Vec<_>>(),
            [
                "IDENT", "CONTROL", "TXQ", "RXQ", "CQ", "STATS", "IRQ", "RSS"
            ]
        );
        assert_eq!((info.datapath_bits, info.clock_mhz), (512, 250));
        assert!(!n.is_started());
    }
}

#[test]
fn frames_cross_a_cable_with_checksums_inserted_and_verified() {
    for &backend in BACKENDS {
        let (a, b) = stepped_pair(backend, DeviceConfig::REFERENCE);
        let (_na, mut tx) = open(stepped_device(&a), &QueueConfig::default());
        let (nb, mut rx) = open(stepped_device(&b), &QueueConfig::default());
        let mut batch = PacketBatch::with_capacity(64);
        let sent: Vec<Vec<u8>> = (0..40).map(|i| frame(i, 10 + 37 * i as usize)).collect();
        for f in &sent {
            batch.push(packet(&tx, f, CSUM)).unwrap();
        }
        assert_eq!(tx.tx_prepare(&batch), 40);
        assert_eq!(tx.tx_burst(&mut batch), 40);
        assert!(batch.is_empty());
        assert_eq!(tx.tx_in_flight(), 40);
        settle(&a, &b);
        let mut got = PacketBatch::with_capacity(64);
        assert_eq!(rx.rx_burst(&mut got), 40);
        for (p, want) in got.iter().zip(&sent) {
            let f = p.data();
            assert_eq!(f.len(), want.len());
            assert!(frames::ipv4_ok(f) && frames::l4_ok(f), "checksums inserted");
            // Everything but the two checksum fields is as sent.
            let mut expect = want.clone();
            expect[24..26].copy_from_slice(&f[24..26]);
            expect[50..52].copy_from_slice(&f[50..52]);
            assert_eq!(f, &expect[..]);
            let info = p.rx_info();
            assert_eq!(
                (info.ip_csum, info.l4_csum),
                (CsumStatus::Good, CsumStatus::Good)
            );
            assert_eq!(
                info.rss_type,
                RssType::None,
                "RSS is off with one queue pair"
            );
        }
        // TX completions come back on the next burst.
        assert_eq!(tx.reclaim_tx(), 40);
        assert_eq!(tx.tx_in_flight(), 0);
        let s = tx.stats();
        assert_eq!((s.tx_packets, s.tx_segments), (40, 40));
        assert_eq!(s.tx_bytes, sent.iter().map(|f| f.len() as u64).sum::<u64>());
        assert_eq!(s.tx_doorbells, 1, "one doorbell for the burst");
        assert_eq!(rx.stats().rx_packets, 40);
        assert_eq!(rx.stats().misbehaviour.total(), 0);
        let bytes: u64 = sent.iter().map(|f| f.len() as u64).sum();
        let (dtx, _) = tx.device_counters().unwrap();
        assert_eq!((dtx.frames, dtx.bytes, dtx.csum_inserted), (40, bytes, 40));
        let ds = nb.device_stats().unwrap();
        assert_eq!((ds.rx[0].frames, ds.rx[0].csum_good), (40, 40));
        assert_eq!(ds.error_count, 0);
        nb.check_errors().unwrap();
        // Buffers return to the pool when the packets drop.
        let free = rx.pool().free_count();
        got.clear();
        assert_eq!(rx.pool().free_count(), free + 40);
        assert!(tx.health().is_ok() && rx.health().is_ok());
    }
}

#[test]
fn every_ring_wraps_many_times_and_pointers_wrap_their_16_bits() {
    for &backend in BACKENDS {
        let (a, b) = stepped_pair(backend, DeviceConfig::REFERENCE);
        // Rings of 8, completion rings of 16: 70000 frames wrap the rings 8750 times and the
        // free-running 16-bit pointers once.
        let (_na, mut tx) = open(stepped_device(&a), &tiny_rings());
        let (_nb, mut rx) = open(stepped_device(&b), &tiny_rings());
        let template = frame(0, 6);
        let total: u32 = 70_000;
        let (mut next_tx, mut next_rx) = (0u32, 0u32);
        let mut batch = PacketBatch::with_capacity(16);
        let mut got = PacketBatch::with_capacity(16);
        let mut burst = 1;
        let mut rounds = 0u32;
        while next_rx < total {
            rounds += 1;
            assert!(
                rounds < 4 * total,
                "no progress: {next_rx} of {total} received"
            );
            // Bursts of 1 to 13 packets, so ring ends fall everywhere in a burst.
            burst = burst % 13 + 1;
            while batch.len() < burst && next_tx < total {
                let mut p = packet(&tx, &template, TxOffloadRequest::NONE);
                p.data_mut()[38..42].copy_from_slice(&next_tx.to_be_bytes());
                batch.push(p).unwrap();
                next_tx += 1;
            }
            tx.tx_burst(&mut batch);
            settle(&a, &b);
            rx.rx_burst(&mut got);
            for p in got.drain() {
                assert_eq!(seq_of(p.data()), next_rx, "frames arrive once, in order");
                next_rx += 1;
            }
        }
        // Give back what the devices hold.
        settle(&a, &b);
        tx.reclaim_tx();
        assert_eq!(tx.stats().tx_packets, u64::from(total));
        assert_eq!(rx.stats().rx_packets, u64::from(total));
        assert_eq!(
            tx.stats().misbehaviour.total() + rx.stats().misbehaviour.total(),
            0
        );
        assert!(tx.stats().cq_returns > 0 && rx.stats().rx_doorbells > 0);
        assert!(
            tx.stats().tx_ring_full > 0,
            "bursts of up to 13 must have found the 8-entry ring full"
        );
    }
}

#[test]
fn tso_super_frames_are_segmented_by_the_device() {
    for &backend in BACKENDS {
        let (a, b) = stepped_pair(backend, DeviceConfig::REFERENCE);
        let qcfg = QueueConfig {
            large_buffers: 8,
            ..QueueConfig::default()
        };
        let (_na, mut tx) = open(stepped_device(&a), &qcfg);
        let (_nb, mut rx) = open(stepped_device(&b), &QueueConfig::default());
        let large = tx.large_pool().unwrap().clone();
        assert_eq!(
            large.buf_size() as usize,
            (184 + 65535usize).next_multiple_of(64)
        );
        let data = frames::payload(60_000, 9);
        let spec = TcpSpec {
            seq: 7_000,
            flags: 0x018, // ACK | PSH: PSH only on the last segment
            ..TcpSpec::default()
        };
        let big = frames::tcp_frame(&spec, &data);
        let mut batch = PacketBatch::with_capacity(4);
        batch
            .push(packet(&tx, &big, TxOffloadRequest::tso(1448, 14, 20, 32)))
            .unwrap();
        let plan = tx.prepare(batch.front().unwrap()).unwrap();
        assert_eq!(plan.segments, 42);
        send_all(&mut tx, &mut batch, &a, &b);
        settle(&a, &b);
        let mut got = PacketBatch::with_capacity(64);
        assert_eq!(rx.rx_burst(&mut got), 42);
        let mut payload = Vec::new();
        for (i, p) in got.iter().enumerate() {
            let f = p.data();
            assert_eq!(seq_of(f), 7_000 + 1448 * i as u32);
            assert_eq!(p.rx_info().ip_csum, CsumStatus::Good);
            assert_eq!(p.rx_info().l4_csum, CsumStatus::Good);
            assert_eq!(
                frames::tcp_flags(f) & 0x008 != 0,
                i == 41,
                "PSH on the last only"
            );
            payload.extend_from_slice(&f[66..]);
        }
        assert_eq!(payload, data);
        tx.flush_tx(WAIT).unwrap();
        assert_eq!(tx.stats().tx_segments, 42);
        assert_eq!(tx.stats().tx_packets, 1);
        assert_eq!(large.free_count(), 8, "the large buffer is back");
    }
}

#[test]
fn error_completions_are_counted_and_match_tx_prepare() {
    for &backend in BACKENDS {
        let (a, b) = stepped_pair(backend, DeviceConfig::REFERENCE);
        let (na, mut tx) = open(stepped_device(&a), &QueueConfig::default());
        let (_nb, mut rx) = open(stepped_device(&b), &QueueConfig::default());
        let good = frame(1, 100);
        let mut udp_as_tcp = frames::udp_frame([1, 2, 3, 4], [5, 6, 7, 8], 1, 2, b"x");
        udp_as_tcp.resize(80, 0);
        let cases: Vec<(Vec<u8>, TxOffloadRequest, ErrorCode)> = vec![
            (
                good.clone(),
                TxOffloadRequest::tcp_checksums(14, 24),
                ErrorCode::NotIpv4,
            ),
            (udp_as_tcp, CSUM, ErrorCode::L4Protocol),
            (
                good.clone(),
                TxOffloadRequest::tso(10, 14, 20, 32),
                ErrorCode::TsoBadMss,
            ),
            (
                good[..10].to_vec(),
                TxOffloadRequest::NONE,
                ErrorCode::BadLength,
            ),
            (
                good.clone(),
                TxOffloadRequest::tso(1448, 14, 20, 28),
                ErrorCode::TsoTcpHeader,
            ),
        ];
        let mut batch = PacketBatch::with_capacity(16);
        for (bytes, req, _) in &cases {
            batch.push(packet(&tx, bytes, *req)).unwrap();
        }
        batch.push(packet(&tx, &good, CSUM)).unwrap();
        assert_eq!(tx.tx_prepare(&batch), 0, "the first request already fails");
        for (p, (_, _, code)) in batch.iter().zip(&cases) {
            assert_eq!(tx.prepare(p), Err(*code));
        }
        let free = tx.pool().free_count();
        assert_eq!(tx.tx_burst(&mut batch), cases.len() + 1);
        settle(&a, &b);
        tx.flush_tx(WAIT).unwrap();
        assert_eq!(tx.pool().free_count(), free + cases.len() as u32 + 1);
        let s = tx.stats();
        for (_, _, code) in &cases {
            assert_eq!(s.tx_errors.get(*code), 1, "{code}");
        }
        assert_eq!(s.tx_errors.total(), cases.len() as u64);
        assert_eq!(s.tx_packets, 1);
        assert_eq!(
            s.misbehaviour.total(),
            0,
            "error completions are not misbehaviour"
        );
        // Only the good frame went out.
        let mut got = PacketBatch::with_capacity(16);
        assert_eq!(rx.rx_burst(&mut got), 1);
        assert_eq!(got.front().unwrap().len(), good.len());
        let ds = na.device_stats().unwrap();
        assert_eq!(ds.tx[0].errors, cases.len() as u32);
        let e = na.check_errors().unwrap_err();
        assert!(e.to_string().contains("BAD_DESCRIPTOR"), "{e}");
    }
}

#[test]
fn received_frames_longer_than_the_buffer_are_device_drops() {
    for &backend in BACKENDS {
        let (a, b) = stepped_pair(backend, DeviceConfig::REFERENCE);
        let (_na, mut tx) = open(stepped_device(&a), &QueueConfig::default());
        let small = QueueConfig {
            buf_size: 256,
            ..QueueConfig::default()
        };
        let (nb, mut rx) = open(stepped_device(&b), &small);
        let mut batch = PacketBatch::with_capacity(4);
        batch.push(packet(&tx, &frame(1, 1000), CSUM)).unwrap();
        batch.push(packet(&tx, &frame(2, 100), CSUM)).unwrap();
        tx.tx_burst(&mut batch);
        settle(&a, &b);
        let mut got = PacketBatch::with_capacity(4);
        assert_eq!(rx.rx_burst(&mut got), 1);
        assert_eq!(seq_of(got.front().unwrap().data()), 2);
        assert_eq!(nb.device_stats().unwrap().rx[0].drops, 1);
        assert_eq!(rx.stats().misbehaviour.total(), 0);
    }
}

#[test]
fn queue_pairs_open_once_and_reopen_clean() {
    for &backend in BACKENDS {
        let (a, b) = stepped_pair(backend, DeviceConfig::REFERENCE);
        let na = Nic::open(stepped_device(&a), NicConfig::default()).unwrap();
        let (_nb, mut rx) = open(stepped_device(&b), &QueueConfig::default());
        let q = na.open_queue_pair(0, &tiny_rings()).unwrap();
        let e = na.open_queue_pair(0, &tiny_rings()).unwrap_err();
        assert_eq!(e.kind(), DeviceErrorKind::GroupBusy);
        let e = na.open_queue_pair(4, &tiny_rings()).unwrap_err();
        assert!(e.to_string().contains("4 queue pairs"), "{e}");
        let bad = QueueConfig {
            tx_ring_log2: 16,
            ..tiny_rings()
        };
        let e = na.open_queue_pair(1, &bad).unwrap_err();
        assert!(e.to_string().contains("2^3..2^15"), "{e}");
        let few = QueueConfig {
            buffers: 8,
            ..tiny_rings()
        };
        assert!(na.open_queue_pair(1, &few).is_err());
        assert_eq!(na.open_queue_pairs(), [0]);
        drop(q);
        assert!(na.open_queue_pairs().is_empty());
        // Reopened (no device reset in between): pointers start from zero again.
        na.start().unwrap();
        for round in 0..3u32 {
            let mut tx = na.open_queue_pair(0, &tiny_rings()).unwrap();
            let mut batch = PacketBatch::with_capacity(8);
            for i in 0..5 {
                batch
                    .push(packet(&tx, &frame(round * 10 + i, 50), CSUM))
                    .unwrap();
            }
            assert_eq!(tx.tx_burst(&mut batch), 5);
            settle(&a, &b);
            tx.flush_tx(WAIT).unwrap();
            let mut got = PacketBatch::with_capacity(8);
            assert_eq!(rx.rx_burst(&mut got), 5);
            assert_eq!(seq_of(got.front().unwrap().data()), round * 10);
        }
        na.check_errors().unwrap();
    }
}

#[test]
fn several_queue_pairs_with_rss_steer_flows_by_toeplitz_hash() {
    for &backend in BACKENDS {
        let (a, b) = stepped_pair(backend, DeviceConfig::REFERENCE);
        let (_na, mut tx) = open(stepped_device(&a), &QueueConfig::default());
        let nb = Nic::open(stepped_device(&b), NicConfig::default()).unwrap();
        let mut qps: Vec<_> = (0..4)
            .map(|i| nb.open_queue_pair(i, &QueueConfig::with_rings(6)).unwrap())
            .collect();
        nb.start().unwrap();
        let mut batch = PacketBatch::with_capacity(64);
        let mut expect = [0usize; 4];
        for port in 0..64u16 {
            let spec = TcpSpec {
                sport: 1000 + port,
                ..TcpSpec::default()
            };
            let f = frames::tcp_frame(&spec, &frames::payload(20, 1));
            let mut input = Vec::new();
            input.extend_from_slice(&spec.src);
            input.extend_from_slice(&spec.dst);
            input.extend_from_slice(&spec.sport.to_be_bytes());
            input.extend_from_slice(&spec.dport.to_be_bytes());
            let hash = toeplitz(&host_driver::nic::SYMMETRIC_RSS_KEY, &input);
            expect[(hash % 128) as usize % 4] += 1;
            batch.push(packet(&tx, &f, CSUM)).unwrap();
        }
        assert_eq!(tx.tx_burst(&mut batch), 64);
        settle(&a, &b);
        let mut total = 0;
        for (i, qp) in qps.iter_mut().enumerate() {
            let mut got = PacketBatch::with_capacity(64);
            let n = qp.rx_burst(&mut got);
            assert_eq!(n, expect[i], "queue {i}");
            for p in got.iter() {
                assert_eq!(p.rx_info().rss_type, RssType::Ipv4Tcp);
                assert_eq!((p.rx_info().rss_hash % 128) as usize % 4, i);
            }
            total += n;
        }
        assert_eq!(total, 64);
        assert!(expect.iter().filter(|n| **n > 0).count() >= 3, "{expect:?}");
        // Each queue pair transmits on its own TX queue too.
        for qp in qps.iter_mut() {
            let mut one = PacketBatch::with_capacity(1);
            one.push(packet(qp, &frame(9, 9), CSUM)).unwrap();
            assert_eq!(qp.tx_burst(&mut one), 1);
        }
        settle(&a, &b);
        for qp in qps.iter_mut() {
            qp.flush_tx(WAIT).unwrap();
            assert_eq!(qp.stats().tx_packets, 1);
        }
        let ds = nb.device_stats().unwrap();
        assert!(ds.tx.iter().all(|t| t.frames == 1));
    }
}

#[test]
fn pool_exhaustion_starves_refill_without_losing_buffers() {
    for &backend in BACKENDS {
        let (a, b) = stepped_pair(backend, DeviceConfig::REFERENCE);
        let (_na, mut tx) = open(stepped_device(&a), &QueueConfig::default());
        let cfg = QueueConfig {
            buffers: 12,
            ..tiny_rings()
        };
        let (nb, mut rx) = open(stepped_device(&b), &cfg);
        // 8 buffers posted, 4 left; the application holds everything it receives.
        let mut held: Vec<PacketBuf> = Vec::new();
        for round in 0..3 {
            let mut batch = PacketBatch::with_capacity(8);
            for i in 0..8 {
                batch
                    .push(packet(&tx, &frame(round * 8 + i, 10), CSUM))
                    .unwrap();
            }
            tx.tx_burst(&mut batch);
            settle(&a, &b);
            let mut got = PacketBatch::with_capacity(8);
            rx.rx_burst(&mut got);
            held.extend(got.drain());
            tx.reclaim_tx();
        }
        assert_eq!(held.len(), 12, "every buffer of the pool is held");
        assert!(rx.stats().rx_refill_starved > 0);
        assert!(
            nb.device_stats().unwrap().rx[0].drops > 0,
            "no buffers: the device drops"
        );
        held.clear();
        let mut got = PacketBatch::with_capacity(8);
        rx.rx_burst(&mut got);
        assert_eq!(
            rx.rx_posted(),
            8,
            "the ring is refilled once buffers come back"
        );
    }
}

#[test]
fn threaded_nics_carry_traffic_and_interrupts_wake_the_receiver() {
    for &backend in BACKENDS {
        let (ca, cb) = CableEnd::pair(&CableConfig::default()).unwrap();
        let cfg = DeviceConfig::REFERENCE;
        let ta = sim_nic(core(backend, cfg), cfg.irq_vectors, Box::new(ca))
            .spawn()
            .unwrap();
        let tb = sim_nic(core(backend, cfg), cfg.irq_vectors, Box::new(cb))
            .spawn()
            .unwrap();
        let (_na, mut tx) = open(threaded_device(&ta), &QueueConfig::default());
        let nb = Nic::open(
            threaded_device(&tb),
            NicConfig {
                interrupts: true,
                ..NicConfig::default()
            },
        )
        .unwrap();
        assert_eq!(nb.interrupt_vectors(), 8);
        let mut rx = nb.open_queue_pair(0, &QueueConfig::default()).unwrap();
        nb.start().unwrap();
        assert!(
            !rx.wait_rx(Duration::from_millis(50)).unwrap(),
            "nothing sent yet"
        );
        let total = 2000u32;
        let mut sent = 0u32;
        let mut got = 0u32;
        let mut batch = PacketBatch::with_capacity(32);
        let mut recv = PacketBatch::with_capacity(32);
        let deadline = Instant::now() + WAIT;
        while got < total {
            assert!(Instant::now() < deadline, "stalled at {got} of {total}");
            while sent < total && batch.room() > 0 {
                let Some(mut p) = tx.pool().alloc() else {
                    break;
                };
                p.copy_from(&frame(sent, 64)).unwrap();
                p.set_tx_offload(CSUM);
                batch.push(p).unwrap();
                sent += 1;
            }
            tx.tx_burst(&mut batch);
            if rx.wait_rx(Duration::from_millis(200)).unwrap() {
                rx.rx_burst(&mut recv);
                for p in recv.drain() {
                    assert_eq!(seq_of(p.data()), got);
                    assert_eq!(p.rx_info().l4_csum, CsumStatus::Good);
                    got += 1;
                }
            }
        }
        tx.flush_tx(WAIT).unwrap();
        let irq = nb
            .device()
            .interrupt(1)
            .expect("vector 1 (CQ 1) is an eventfd");
        assert!(
            irq.wait(WAIT).unwrap() >= 1,
            "the eventfd saw the RX interrupts"
        );
        assert_eq!(rx.stats().rx_packets, u64::from(total));
        let events = nb.device_stats().unwrap();
        assert_eq!(events.rx[0].frames, u64::from(total));
    }
}

#[test]
fn a_stopped_device_gives_errors_without_hanging() {
    for &backend in BACKENDS {
        let cfg = DeviceConfig::REFERENCE;
        let t = sim_nic(
            core(backend, cfg),
            cfg.irq_vectors,
            Box::new(rtl_sim::wire::NullPort::default()),
        )
        .spawn()
        .unwrap();
        let (nic, mut qp) = open(threaded_device(&t), &QueueConfig::default());
        // The device thread stops and its link is marked stopped: the device is gone.
        drop(t.stop());
        let start = Instant::now();
        let mut batch = PacketBatch::with_capacity(4);
        batch.push(packet(&qp, &frame(1, 10), CSUM)).unwrap();
        assert_eq!(
            qp.tx_burst(&mut batch),
            1,
            "the ring takes it; the doorbell goes nowhere"
        );
        let mut got = PacketBatch::with_capacity(4);
        assert_eq!(qp.rx_burst(&mut got), 0);
        let e = qp.flush_tx(Duration::from_millis(200)).unwrap_err();
        assert_eq!(e.kind(), DeviceErrorKind::Timeout);
        assert!(e.to_string().contains("has stopped"), "{e}");
        assert!(qp.health().is_err());
        let e = nic.device_stats().unwrap_err();
        assert!(e.to_string().contains("not responding"), "{e}");
        drop(qp);
        drop(nic);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }
}

#[test]
fn a_device_that_never_runs_times_out_at_open() {
    for &backend in BACKENDS {
        let nic = stepped_alone(backend, DeviceConfig::REFERENCE);
        // Attached without stepping: nobody applies the driver's writes.
        let link = nic.attach_driver(AttachOptions::default()).unwrap();
        let dev = SimDevice::stepped(link, || {});
        dev.set_timeout(Duration::from_millis(100));
        let start = Instant::now();
        // Discovery reads the image (no write is pending yet); the reset write then never
        // gets applied, so the wait for it ends in an error.
        let e = Nic::open(dev, NicConfig::default()).unwrap_err();
        assert_eq!(e.kind(), DeviceErrorKind::Timeout, "{e}");
        assert!(e.to_string().contains("did not respond"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn faults_name_direction_and_queue() {
    // The fault record's text is what users see; check its shape once.
    let f = host_driver::nic::QueueFault {
        queue: 2,
        direction: Direction::Tx,
        kind: host_driver::nic::FaultKind::BadIndex,
        expected_index: 5,
        cq_pointer: 9,
        entry: [0xab; 32],
    };
    let s = f.to_string();
    assert!(s.starts_with("TX queue 2: the device wrote a completion for a ring index"));
    assert!(s.contains("expected ring index 5") && s.contains(" ab ab"));
}

#[test]
fn dma_memory_is_registered_with_the_simulated_iommu_and_released() {
    for &backend in BACKENDS {
        let nic = stepped_alone(backend, DeviceConfig::REFERENCE);
        let dev = stepped_device(&nic);
        let region = dev.alloc_dma(10_000).unwrap();
        assert_eq!(region.len(), 12_288);
        assert_eq!(region.iova() % 4096, 0);
        let iova = region.iova();
        region.write_bytes(0, b"visible to the device").unwrap();
        let mut back = [0u8; 21];
        nic.with(|n| n.link().iommu().read(iova, &mut back))
            .unwrap();
        assert_eq!(&back, b"visible to the device");
        drop(region);
        let again = dev.alloc_dma(4096).unwrap();
        assert_eq!(again.iova(), iova, "the IOVA is free again");
        nic.with(|n| assert_eq!(n.link().iommu().region_count(), 1));
    }
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn queue_pairs_run_on_their_own_threads() {
    assert_send_sync::<Nic<SimDevice>>();
    assert_send_sync::<Nic<host_driver::vfio::VfioDevice>>();
    for &backend in BACKENDS {
        let cfg = DeviceConfig::REFERENCE;
        let t = sim_nic(
            core(backend, cfg),
            cfg.irq_vectors,
            Box::new(rtl_sim::wire::NullPort::default()),
        )
        .spawn()
        .unwrap();
        let nic = Nic::open(threaded_device(&t), NicConfig::default()).unwrap();
        nic.start().unwrap();
        let workers: Vec<_> = (0..3u16)
            .map(|q| {
                let nic = nic.clone();
                std::thread::spawn(move || {
                    // Each thread opens its own queue pair: its pool and packets live here.
                    let mut qp = nic.open_queue_pair(q, &QueueConfig::with_rings(6)).unwrap();
                    let mut batch = PacketBatch::with_capacity(16);
                    let mut sent = 0;
                    while sent < 500 {
                        while batch.room() > 0 && sent + batch.len() < 500 {
                            batch.push(packet(&qp, &frame(q.into(), 40), CSUM)).unwrap();
                        }
                        sent += qp.tx_burst(&mut batch);
                    }
                    qp.flush_tx(WAIT).unwrap();
                    qp.stats().tx_packets
                })
            })
            .collect();
        for w in workers {
            assert_eq!(w.join().unwrap(), 500);
        }
        let ds = nic.device_stats().unwrap();
        for q in 0..3 {
            assert_eq!(ds.tx[q].frames, 500, "queue {q}");
            assert_eq!(ds.tx[q].csum_inserted, 500, "queue {q}");
        }
        assert_eq!(ds.tx[3].frames, 0);
    }
}
