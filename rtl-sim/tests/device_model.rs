//! Tests of the reference model beyond the shared conformance suite: capabilities the
//! reference build has all of (so `UNSUPPORTED_OFFLOAD` needs a reduced build), configuration
//! errors, and a hostile driver and wire that must never make the model panic.

use hw_spec::descriptors::{rxd, txd};
use hw_spec::regs::{BAR0_SIZE, control, queue};
use hw_spec::{ErrorCode, QueueCommand, QueueKind, TxOffloadRequest};
use rtl_sim::conformance::bench::{Bench, MEM_BASE, MEM_LEN, creg, qreg};
use rtl_sim::conformance::frames;
use rtl_sim::device::DeviceConfig;
use rtl_sim::device::model::ModelDevice;

#[test]
fn unsupported_offload_on_a_device_without_it() {
    let mut cfg = DeviceConfig::REFERENCE;
    cfg.caps.tx_udp_csum = false;
    cfg.caps.tso = false;
    let mut b = Bench::new(ModelDevice::new(cfg).unwrap());
    b.bring_up();
    let udp = frames::udp_frame([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, b"x");
    b.send(0, &[&udp], frames::udp_checksums());
    let tcp = frames::tcp_frame(&frames::TcpSpec::default(), &[0; 3000]);
    b.send(0, &[&tcp], TxOffloadRequest::tso(1448, 14, 20, 32));
    let c = b.completions(0);
    assert_eq!(c.len(), 2);
    assert!(c.iter().all(|c| c.error == ErrorCode::UnsupportedOffload));
    assert!(b.wire.sent.is_empty());
    assert_eq!(b.last_error().0, ErrorCode::UnsupportedOffload);
    // Without the RSS capability, CTRL.RSS_ENABLE does not stick.
    let mut cfg = DeviceConfig::REFERENCE;
    cfg.caps.rss = false;
    let mut b = Bench::new(ModelDevice::new(cfg).unwrap());
    b.write(creg(&control::CTRL), control::CTRL_RSS_ENABLE.mask32());
    assert_eq!(b.read(creg(&control::CTRL)), 0);
}

#[test]
fn bad_configurations_are_typed_errors() {
    let mut cfg = DeviceConfig::REFERENCE;
    cfg.caps.min_mss = 0;
    let e = ModelDevice::new(cfg).unwrap_err();
    assert!(e.to_string().contains("MssRange"), "{e}");
    let mut cfg = DeviceConfig::REFERENCE;
    cfg.irq_vectors = 0;
    assert!(ModelDevice::new(cfg).is_err());
}

#[test]
fn small_configurations_work() {
    let cfg = DeviceConfig {
        tx_queues: 1,
        rx_queues: 1,
        completion_queues: 2,
        irq_vectors: 2,
        ..DeviceConfig::REFERENCE
    };
    let mut b = Bench::new(ModelDevice::new(cfg).unwrap());
    b.bring_up();
    b.send(0, &[&frames::payload(64, 1)], TxOffloadRequest::NONE);
    assert_eq!(b.wire.sent.len(), 1);
    b.write(
        qreg(QueueKind::Tx, 1, &queue::CMD),
        QueueCommand::Enable.encode(),
    );
    assert_eq!(
        b.last_error().0,
        ErrorCode::BadRegisterAccess,
        "queue 1 does not exist"
    );
}

/// A seeded xorshift generator (the test must be reproducible).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn a_hostile_driver_and_wire_never_crash_the_model() {
    let mut rng = Rng(0x5EED_F00D_1234_5678);
    let mut b = Bench::new(ModelDevice::new(DeviceConfig::REFERENCE).unwrap());
    b.bring_up();
    let interesting = [0x0100u32, 0x1000, 0x2000, 0x3000, 0x4000, 0x6000, 0x7000];
    for round in 0..4000 {
        match rng.below(6) {
            // A register write anywhere near the blocks, any value.
            0 => {
                let base = interesting[rng.below(interesting.len() as u64) as usize];
                let off = (base + rng.below(0x140) as u32).min(BAR0_SIZE - 1);
                let v = rng.next() as u32;
                // Keep the device alive most of the time: no resets through CTRL.
                if off != creg(&control::CTRL) {
                    b.write(off, v);
                }
            }
            // A command word with a valid opcode and an arbitrary argument.
            1 => {
                let kind = [QueueKind::Tx, QueueKind::Rx, QueueKind::Cq][rng.below(3) as usize];
                let q = rng.below(5) as usize;
                let word = ((1 + rng.below(10) as u32) << 24) | (rng.next() as u32 & 0xFF_FFFF);
                let off = qreg(kind, q, &queue::CMD);
                b.write(off, word);
            }
            // Random bytes over descriptor rings and buffers, then doorbells.
            2 => {
                let at = MEM_BASE + rng.below(0x8000) * 16;
                let mut junk = [0u8; txd::SIZE];
                junk.iter_mut().for_each(|x| *x = rng.next() as u8);
                // Point buffers mostly at real memory, sometimes not.
                if rng.below(4) != 0 {
                    let addr = MEM_BASE + rng.below(MEM_LEN as u64 - 70_000);
                    junk[..8].copy_from_slice(&addr.to_le_bytes());
                    junk[8..12].copy_from_slice(&(rng.below(70_000) as u32).to_le_bytes());
                }
                b.mem.set(at, &junk);
                let prod = rng.next() as u16;
                b.cmd(
                    QueueKind::Tx,
                    rng.below(4) as usize,
                    QueueCommand::SetProd(prod),
                );
            }
            // Frames from the wire: random, truncated headers, oversized.
            3 => {
                let len =
                    [0, 1, 13, 14, 33, 34, 60, 1514, 9216, 9217, 70_000][rng.below(11) as usize];
                let mut f: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                if len > 14 && rng.below(2) == 0 {
                    f[12] = 8;
                    f[13] = 0;
                    f[14] = 0x40 | (rng.below(16) as u8);
                }
                b.inject(f);
            }
            // A well-formed frame with offloads, so real traffic flows between the junk.
            4 => {
                let fr = frames::tcp_frame(
                    &frames::TcpSpec::default(),
                    &frames::payload(rng.below(5000) as usize, 1),
                );
                let d = b.descriptors(&[&fr], TxOffloadRequest::tso(1448, 14, 20, 32));
                b.queue_tx(0, &d);
                b.doorbell_tx(0);
                b.post_rx(0, 1);
            }
            // Return every completion (the junk may have overwritten the rings themselves,
            // so they are not decoded here).
            _ => {
                for cq in 0..2 {
                    let prod = b.read(qreg(QueueKind::Cq, cq, &queue::PROD));
                    b.cmd(QueueKind::Cq, cq, QueueCommand::SetCons(prod as u16));
                }
                let _ = rng.below(rxd::SIZE as u64);
            }
        }
        for _ in 0..3 {
            b.step();
        }
        if round % 500 == 0 {
            b.check_image();
        }
        b.wire.sent.clear();
    }
    b.check_image();
    assert!(b.error_count() > 100, "the junk was noticed and reported");

    // The device still answers a reset, and works as new after it.
    b.bring_up();
    assert_eq!(
        (b.error_count(), b.error_status()),
        (0, 0),
        "the reset cleared the error state"
    );
    b.check_image();
    let fr = frames::tcp_frame(&frames::TcpSpec::default(), &frames::payload(100, 3));
    b.wire.sent.clear();
    b.send(0, &[&fr], TxOffloadRequest::tcp_checksums(14, 20));
    let c = b.completions(0);
    assert_eq!(
        (c.len(), c[0].error, c[0].segments),
        (1, ErrorCode::None, 1)
    );
    assert_eq!(b.wire.sent.len(), 1);
    let sent = b.wire.sent[0].clone();
    b.inject(sent.clone());
    b.run();
    let c = b.completions(1);
    assert_eq!((c.len(), c[0].error), (1, ErrorCode::None));
    assert_eq!(b.rx_bytes(&c[0]), sent);
    assert_eq!(
        (c[0].ip_csum, c[0].l4_csum),
        (hw_spec::CsumStatus::Good, hw_spec::CsumStatus::Good),
        "the checksums the device inserted verify"
    );
}
