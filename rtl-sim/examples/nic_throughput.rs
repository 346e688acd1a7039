//! Throughput of the simulated NIC (model backend) in stepped mode, on one thread:
//!
//! 1. `pair`: two NICs on a shared-memory cable, each with a driver over sim-link (the whole
//!    path a frame takes between two simulated hosts: descriptor, DMA gather, checksum/TSO
//!    engines, cable, RX classification, DMA write, completions, doorbells);
//! 2. `core`: the device core alone with in-memory DMA and a loopback wire (TX and RX of every
//!    frame), to show what the link and cable cost.
//!
//! Run: `cargo run --release -p rtl-sim --example nic_throughput [seconds-per-case]`

use std::time::{Duration, Instant};

use hw_spec::descriptors::{cpl, rxd, txd};
use hw_spec::regs::{control, cq, queue, rxq, stats, txq};
use hw_spec::{QueueCommand, RxDescriptor, TxDescriptor, TxOffloadRequest};
use rtl_sim::conformance::flat::{CountingIrq, FlatImage, FlatMemory, LoopbackWire};
use rtl_sim::conformance::frames::{self, TcpSpec};
use rtl_sim::conformance::link_driver::{DriverConfig, LinkDriver};
use rtl_sim::device::model::ModelDevice;
use rtl_sim::device::{DeviceConfig, DeviceCore, DeviceIo, Dma};
use rtl_sim::nic::{Backend, Clock, NicThread, SimNic, SteppedNic, build_core};
use rtl_sim::wire::cable::{CableConfig, CableEnd};
use sim_link::{AttachOptions, DeviceLink, DriverLink, LinkConfig};

struct Case {
    name: &'static str,
    payload: usize,
    offload: fn(usize) -> TxOffloadRequest,
}

fn cases() -> [Case; 4] {
    [
        Case {
            name: "64-byte frames, no offload",
            payload: 0,
            offload: |_| TxOffloadRequest::NONE,
        },
        Case {
            name: "1514-byte frames, IPv4+TCP checksum",
            payload: 1448,
            offload: |_| TxOffloadRequest::tcp_checksums(14, 20),
        },
        Case {
            name: "9014-byte frames, IPv4+TCP checksum",
            payload: 8948,
            offload: |_| TxOffloadRequest::tcp_checksums(14, 20),
        },
        Case {
            name: "TSO 64000 bytes at MSS 1448",
            payload: 64_000,
            offload: |_| TxOffloadRequest::tso(1448, 14, 20, 32),
        },
    ]
}

struct Result {
    requests: u64,
    frames: u64,
    bytes: u64,
    secs: f64,
}

impl Result {
    fn print(&self, name: &str) {
        println!(
            "  {name:<40} {:>10.0} frames/s {:>8.2} Gbit/s {:>10.0} requests/s",
            self.frames as f64 / self.secs,
            self.bytes as f64 * 8.0 / self.secs / 1e9,
            self.requests as f64 / self.secs,
        );
    }
}

/// Two NICs on a cable, each made into `T` by `finish` (stepped or on a thread).
fn nics<T>(clock: Clock, finish: impl Fn(SimNic) -> T) -> (T, T) {
    let (a, b) = CableEnd::pair(&CableConfig {
        slots: 1024,
        ..CableConfig::default()
    })
    .unwrap();
    let mk = |port| {
        let link = DeviceLink::create_anonymous(&LinkConfig::default()).unwrap();
        let core = build_core(Backend::Model, DeviceConfig::REFERENCE).unwrap();
        finish(SimNic::new(core, link, Box::new(port), clock))
    };
    (mk(a), mk(b))
}

/// Sender rings with 64 KiB buffers (TSO requests), receiver rings of 2^`rx_log2` buffers.
fn drivers(a: DriverLink, b: DriverLink, rx_log2: u8) -> (LinkDriver, LinkDriver) {
    let cfg = |ring_log2, buf_len| DriverConfig {
        ring_log2,
        buf_len,
        rx_csum: true,
    };
    (
        LinkDriver::bring_up(a, cfg(8, 65536 + 128)).unwrap(),
        LinkDriver::bring_up(b, cfg(rx_log2, 9216)).unwrap(),
    )
}

/// A keeps `in_flight` requests queued, `step` runs the NICs (or nothing, when they have
/// threads), B takes what arrives; for `secs`.
fn drive(
    (da, db): &mut (LinkDriver, LinkDriver),
    case: &Case,
    secs: f64,
    in_flight: u16,
    mut step: impl FnMut(),
) -> Result {
    let frame = frames::tcp_frame(&TcpSpec::default(), &frames::payload(case.payload, 1));
    da.fill_tx_buffers(&frame);
    let offload = (case.offload)(case.payload);
    let (mut requests, mut frames_rx, mut bytes) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    let until = Duration::from_secs_f64(secs);
    while start.elapsed() < until {
        for _ in 0..64 {
            while da.tx_in_flight() < in_flight {
                da.queue_slot(frame.len() as u32, offload);
            }
            da.doorbell().unwrap();
            step();
            requests += da.reap_tx(|_| ()).unwrap() as u64;
            db.receive(|c, _| {
                frames_rx += 1;
                bytes += u64::from(c.len);
            })
            .unwrap();
        }
    }
    let drops = db
        .link()
        .read32(stats::rx_addr(0, &stats::RX_DROPS))
        .unwrap();
    if drops > 0 {
        println!("    ({drops} frames dropped at B: its driver fell behind)");
    }
    Result {
        requests,
        frames: frames_rx,
        bytes,
        secs: start.elapsed().as_secs_f64(),
    }
}

/// Both NICs stepped by this thread, between the drivers' work.
fn pair(case: &Case, secs: f64) -> Result {
    let (na, nb) = nics(Clock::Manual(0), SimNic::into_stepped);
    let attach = |n: &SteppedNic| n.attach_driver(AttachOptions::default()).unwrap();
    let mut d = drivers(attach(&na), attach(&nb), 10);
    // Keep 32 requests queued; B's RX ring is deeper than what one step sends.
    drive(&mut d, case, secs, 32, || {
        na.step();
        nb.step();
    })
}

/// The same pair with each NIC on its own thread (sleeping when idle) and both drivers polling
/// on the main thread: three threads on however many cores there are.
fn threaded(case: &Case, secs: f64) -> Result {
    let (na, nb) = nics(Clock::Real(Instant::now()), |n| n.spawn().unwrap());
    let attach = |t: &NicThread| DriverLink::attach(t.paths(), AttachOptions::default()).unwrap();
    let mut d = drivers(attach(&na), attach(&nb), 12);
    let r = drive(&mut d, case, secs, 64, || ());
    drop(d);
    na.stop();
    nb.stop();
    r
}

const BASE: u64 = 0x10_0000;

fn core_only(case: &Case, secs: f64) -> Result {
    let mut dev = ModelDevice::new(DeviceConfig::REFERENCE).unwrap();
    let mut mem = FlatMemory {
        base: BASE,
        bytes: vec![0; 24 << 20],
    };
    let mut wire = LoopbackWire::new(256, 9216);
    let mut image = FlatImage::new();
    let mut irq = CountingIrq::default();
    let (cq0, cq1, txr, rxr, frame_at, bufs) = (
        BASE,
        BASE + 0x8000,
        BASE + 0x10000,
        BASE + 0x20000,
        BASE + 0x40000,
        BASE + 0x100000,
    );
    let size = 1024u16;
    let mut w =
        |dev: &mut ModelDevice, mem: &mut FlatMemory, wire: &mut LoopbackWire, off: u32, v: u32| {
            dev.mmio_write(
                off,
                v,
                &mut DeviceIo {
                    dma: mem,
                    wire,
                    irq: &mut irq,
                    image: &mut image,
                    now_ns: 0,
                },
            )
        };
    let log2 = QueueCommand::SetLog2Size(10).encode();
    for (i, base) in [(0u32, cq0), (1, cq1)] {
        w(
            &mut dev,
            &mut mem,
            &mut wire,
            cq::reg_addr(i, &queue::BASE_LO),
            base as u32,
        );
        w(
            &mut dev,
            &mut mem,
            &mut wire,
            cq::reg_addr(i, &queue::CMD),
            log2,
        );
        w(
            &mut dev,
            &mut mem,
            &mut wire,
            cq::reg_addr(i, &queue::CMD),
            QueueCommand::Enable.encode(),
        );
    }
    for (lo, base, c) in [
        (rxq::reg_addr(0, &queue::BASE_LO), rxr, 1),
        (txq::reg_addr(0, &queue::BASE_LO), txr, 0),
    ] {
        w(&mut dev, &mut mem, &mut wire, lo, base as u32);
        w(&mut dev, &mut mem, &mut wire, lo + 8, log2);
        w(
            &mut dev,
            &mut mem,
            &mut wire,
            lo + 8,
            QueueCommand::SetCq(c).encode(),
        );
        w(
            &mut dev,
            &mut mem,
            &mut wire,
            lo + 8,
            QueueCommand::Enable.encode(),
        );
    }
    for s in 0..u64::from(size) {
        let d = RxDescriptor {
            addr: bufs + s * 9216,
            len: 9216,
        };
        mem.write(rxr + s * rxd::SIZE as u64, &d.encode()).unwrap();
    }
    let ctrl = control::CTRL_ENABLE.mask32() | control::CTRL_RX_CSUM_ENABLE.mask32();
    w(
        &mut dev,
        &mut mem,
        &mut wire,
        control::BASE + control::CTRL.offset,
        ctrl,
    );
    let frame = frames::tcp_frame(&TcpSpec::default(), &frames::payload(case.payload, 1));
    mem.write(frame_at, &frame).unwrap();
    let d = TxDescriptor::single(frame_at, frame.len() as u32, (case.offload)(case.payload));
    for s in 0..u64::from(size) {
        mem.write(txr + s * txd::SIZE as u64, &d.encode()).unwrap();
    }
    let (mut tx_prod, mut cons) = (0u16, [0u16; 2]);
    let (mut requests, mut frames_rx, mut bytes) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    let until = Duration::from_secs_f64(secs);
    while start.elapsed() < until {
        for _ in 0..16 {
            tx_prod = tx_prod.wrapping_add(8);
            let mut io = DeviceIo {
                dma: &mut mem,
                wire: &mut wire,
                irq: &mut irq,
                image: &mut image,
                now_ns: 0,
            };
            dev.mmio_write(
                txq::reg_addr(0, &queue::CMD),
                QueueCommand::SetProd(tx_prod).encode(),
                &mut io,
            );
            while dev.step(&mut io, 64).did_work() {}
            for (i, base) in [(0usize, cq0), (1, cq1)] {
                loop {
                    let at = base + u64::from(cons[i] & (size - 1)) * cpl::SIZE as u64;
                    let mut e = [0u8; cpl::SIZE];
                    io.dma.read(at, &mut e).unwrap();
                    if hw_spec::Completion::phase_of(&e) != ((cons[i] >> 10) & 1 == 0) {
                        break;
                    }
                    if i == 0 {
                        requests += 1;
                    } else {
                        frames_rx += 1;
                        bytes += u64::from(u32::from_le_bytes(e[4..8].try_into().unwrap()));
                    }
                    cons[i] = cons[i].wrapping_add(1);
                }
                let cmd = cq::reg_addr(i as u32, &queue::CMD);
                dev.mmio_write(cmd, QueueCommand::SetCons(cons[i]).encode(), &mut io);
            }
            let rx_cmd = rxq::reg_addr(0, &queue::CMD);
            dev.mmio_write(
                rx_cmd,
                QueueCommand::SetProd(cons[1].wrapping_add(size)).encode(),
                &mut io,
            );
        }
    }
    Result {
        requests,
        frames: frames_rx,
        bytes,
        secs: start.elapsed().as_secs_f64(),
    }
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2.0);
    println!("Simulated NIC throughput, model backend ({secs} s per case)");
    println!(
        "pair: A's driver -> NIC A -> shared-memory cable -> NIC B -> B's driver (frames received at B)"
    );
    for c in cases() {
        pair(&c, secs).print(c.name);
    }
    println!(
        "threaded: the same pair, each NIC on its own thread, both drivers polling on the main thread"
    );
    for c in cases() {
        threaded(&c, secs).print(c.name);
    }
    println!(
        "core: device core alone, in-memory DMA, loopback wire (every frame sent and received)"
    );
    for c in cases() {
        core_only(&c, secs).print(c.name);
    }
}
