//! Simulation speed of the whole device: the RTL (`ft_device` under Verilator, the 512-bit
//! reference build and the 64-bit one) against the Rust reference model, on the same driver loop
//! (feature `rtl`):
//!
//! ```sh
//! cargo bench -p rtl-sim --features rtl --bench rtl_device
//! ```
//!
//! A minimal driver keeps a 1024-entry TX ring (or RX ring) full, rings the doorbell, steps the
//! device (budget 64, as the simulated NIC does), reaps completions by phase and returns them.
//! Host memory is one flat region; the wire counts what is sent and delivers prepared frames.
//! For each case and device it reports requests, wire frames, wall time, frames per second,
//! and for the RTL the simulated clock cycles, cycles per second, cycles per frame and what
//! that means at the nominal 250 MHz. Output is Markdown.
#![allow(missing_docs)]

use std::time::Instant;

use hw_spec::descriptors::cpl;
use hw_spec::regs::{control, cq, queue, rxq, txq};
use hw_spec::{Completion, ErrorCode, QueueCommand, RxDescriptor, TxDescriptor, TxOffloadRequest};
use rtl_sim::conformance::flat::{CountingIrq, FlatImage, FlatMemory};
use rtl_sim::conformance::frames::{self, TcpSpec};
use rtl_sim::device::model::ModelDevice;
use rtl_sim::device::{DeviceConfig, DeviceCore, DeviceIo, Wire};
use rtl_sim::rtl::{DataWidth, RtlDevice};

const CLOCK_HZ: f64 = 250e6;
const BASE: u64 = 0x1_0000_0000;
const LOG2: u8 = 10;
const RING: u16 = 1 << LOG2;
/// Completion rings are twice the descriptor rings (never full).
const CQ_LOG2: u8 = LOG2 + 1;
const CQ_RING: u16 = 1 << CQ_LOG2;
const BUDGET: u32 = 64;

/// Counts what is sent; delivers `rx_left` copies of `rx_frame`.
struct BenchWire {
    tx_frames: u64,
    tx_bytes: u64,
    rx_frame: Vec<u8>,
    rx_left: u64,
}

impl Wire for BenchWire {
    fn transmit(&mut self, frame: &[u8], _now_ns: u64) {
        self.tx_frames += 1;
        self.tx_bytes += frame.len() as u64;
    }
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        if self.rx_left == 0 {
            return None;
        }
        self.rx_left -= 1;
        let n = self.rx_frame.len();
        buf[..n].copy_from_slice(&self.rx_frame);
        Some(n)
    }
    fn rx_pending(&self) -> bool {
        self.rx_left > 0
    }
}

/// Memory map of the bench driver.
const TX_CQ: u64 = BASE;
const RX_CQ: u64 = BASE + 0x10_0000;
const TX_RING: u64 = BASE + 0x20_0000;
const RX_RING: u64 = BASE + 0x30_0000;
const FRAME: u64 = BASE + 0x40_0000;
const RX_BUFS: u64 = BASE + 0x60_0000;
const RX_BUF_LEN: u64 = 2048;
const MEM_LEN: usize = 0x60_0000 + RING as usize * RX_BUF_LEN as usize;

struct Env {
    mem: FlatMemory,
    wire: BenchWire,
    irq: CountingIrq,
    image: FlatImage,
    now: u64,
    steps: u64,
}

macro_rules! io {
    ($e:expr) => {
        DeviceIo {
            dma: &mut $e.mem,
            wire: &mut $e.wire,
            irq: &mut $e.irq,
            image: &mut $e.image,
            now_ns: $e.now,
        }
    };
}

impl Env {
    fn write<C: DeviceCore>(&mut self, core: &mut C, off: u32, v: u32) {
        core.mmio_write(off, v, &mut io!(self));
    }
    fn cmd<C: DeviceCore>(&mut self, core: &mut C, at: u32, c: QueueCommand) {
        self.write(core, at, c.encode());
    }
    fn step<C: DeviceCore>(&mut self, core: &mut C) {
        self.now += 1_000;
        self.steps += 1;
        core.step(&mut io!(self), BUDGET);
    }
    /// Takes the completions at `cons` by phase; returns how many, checking each.
    fn reap(&mut self, ring: u64, cons: &mut u16) -> u16 {
        let mut n = 0;
        loop {
            let at = (ring - BASE) as usize + usize::from(*cons & (CQ_RING - 1)) * cpl::SIZE;
            let bytes = &self.mem.bytes[at..at + cpl::SIZE];
            let phase = (*cons >> CQ_LOG2) & 1 == 0;
            if Completion::phase_of(bytes) != phase {
                return n;
            }
            let c = Completion::decode(bytes).expect("a completion");
            assert_eq!(c.error, ErrorCode::None, "bench request failed: {c:?}");
            *cons = cons.wrapping_add(1);
            n += 1;
        }
    }
}

fn bring_up<C: DeviceCore>(core: &mut C, env: &mut Env) {
    env.write(
        core,
        control::BASE + control::CTRL.offset,
        control::CTRL_RESET.mask32(),
    );
    for (k, ring) in [(0u32, TX_CQ), (1, RX_CQ)] {
        let at = |r: &hw_spec::layout::Register| cq::reg_addr(k, r);
        env.write(core, at(&queue::BASE_LO), ring as u32);
        env.write(core, at(&queue::BASE_HI), (ring >> 32) as u32);
        env.cmd(core, at(&queue::CMD), QueueCommand::SetLog2Size(CQ_LOG2));
        env.cmd(core, at(&queue::CMD), QueueCommand::Enable);
    }
    let t = |r: &hw_spec::layout::Register| txq::reg_addr(0, r);
    env.write(core, t(&queue::BASE_LO), TX_RING as u32);
    env.write(core, t(&queue::BASE_HI), (TX_RING >> 32) as u32);
    env.cmd(core, t(&queue::CMD), QueueCommand::SetLog2Size(LOG2));
    env.cmd(core, t(&queue::CMD), QueueCommand::SetCq(0));
    env.cmd(core, t(&queue::CMD), QueueCommand::Enable);
    let r = |reg: &hw_spec::layout::Register| rxq::reg_addr(0, reg);
    env.write(core, r(&queue::BASE_LO), RX_RING as u32);
    env.write(core, r(&queue::BASE_HI), (RX_RING >> 32) as u32);
    env.cmd(core, r(&queue::CMD), QueueCommand::SetLog2Size(LOG2));
    env.cmd(core, r(&queue::CMD), QueueCommand::SetCq(1));
    env.cmd(core, r(&queue::CMD), QueueCommand::Enable);
    let ctrl = control::CTRL_ENABLE.mask32() | control::CTRL_RX_CSUM_ENABLE.mask32();
    env.write(core, control::BASE + control::CTRL.offset, ctrl);
}

struct Case {
    name: &'static str,
    frame: Vec<u8>,
    offload: TxOffloadRequest,
    rx: bool,
    requests: u64,
}

struct Result {
    requests: u64,
    frames: u64,
    bytes: u64,
    wall: f64,
}

fn run<C: DeviceCore>(core: &mut C, case: &Case) -> Result {
    let mut env = Env {
        mem: FlatMemory {
            base: BASE,
            bytes: vec![0; MEM_LEN],
        },
        wire: BenchWire {
            tx_frames: 0,
            tx_bytes: 0,
            rx_frame: Vec::new(),
            rx_left: 0,
        },
        irq: CountingIrq::default(),
        image: FlatImage::new(),
        now: 1_000,
        steps: 0,
    };
    core.publish_image(&mut env.image);
    bring_up(core, &mut env);
    let start = Instant::now();
    let mut done = 0u64;
    if case.rx {
        env.wire.rx_frame = case.frame.clone();
        env.wire.rx_left = case.requests;
        let rxr = (RX_RING - BASE) as usize;
        for i in 0..RING {
            let d = RxDescriptor {
                addr: RX_BUFS + u64::from(i) * RX_BUF_LEN,
                len: RX_BUF_LEN as u32,
            };
            let at = rxr + usize::from(i) * hw_spec::descriptors::rxd::SIZE;
            d.encode_into(&mut env.mem.bytes[at..]);
        }
        let (mut prod, mut cons) = (RING - 1, 0u16);
        let at = rxq::reg_addr(0, &queue::CMD);
        env.cmd(core, at, QueueCommand::SetProd(prod));
        while done < case.requests {
            env.step(core);
            let n = env.reap(RX_CQ, &mut cons);
            done += u64::from(n);
            if n > 0 {
                // The buffers go straight back: descriptors are unchanged.
                prod = prod.wrapping_add(n);
                env.cmd(core, at, QueueCommand::SetProd(prod));
                env.cmd(
                    core,
                    cq::reg_addr(1, &queue::CMD),
                    QueueCommand::SetCons(cons),
                );
            }
        }
    } else {
        let f = (FRAME - BASE) as usize;
        env.mem.bytes[f..f + case.frame.len()].copy_from_slice(&case.frame);
        let desc = TxDescriptor {
            addr: FRAME,
            len: case.frame.len() as u32,
            sop: true,
            eop: true,
            offload: case.offload,
        };
        let txr = (TX_RING - BASE) as usize;
        for i in 0..usize::from(RING) {
            desc.encode_into(&mut env.mem.bytes[txr + i * hw_spec::descriptors::txd::SIZE..]);
        }
        let (mut prod, mut cons, mut posted) = (0u16, 0u16, 0u64);
        let at = txq::reg_addr(0, &queue::CMD);
        while done < case.requests {
            let room = u64::from(RING - 1 - prod.wrapping_sub(cons));
            let n = room.min(case.requests - posted) as u16;
            if n > 0 {
                prod = prod.wrapping_add(n);
                posted += u64::from(n);
                env.cmd(core, at, QueueCommand::SetProd(prod));
            }
            env.step(core);
            let k = env.reap(TX_CQ, &mut cons);
            done += u64::from(k);
            if k > 0 {
                env.cmd(
                    core,
                    cq::reg_addr(0, &queue::CMD),
                    QueueCommand::SetCons(cons),
                );
            }
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let (frames, bytes) = if case.rx {
        (done, done * case.frame.len() as u64)
    } else {
        (env.wire.tx_frames, env.wire.tx_bytes)
    };
    Result {
        requests: done,
        frames,
        bytes,
        wall,
    }
}

fn main() {
    // FERROTOE_BENCH_DIVIDE=n divides every request count by n (a quick smoke run).
    let divide: u64 = std::env::var("FERROTOE_BENCH_DIVIDE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let mtu = frames::tcp_frame(&TcpSpec::default(), &frames::payload(1460, 1));
    let small = frames::tcp_frame(&TcpSpec::default(), &frames::payload(6, 1));
    let tso = frames::tcp_frame(
        &TcpSpec {
            opt_len: 12,
            ..TcpSpec::default()
        },
        &frames::payload(65535, 2),
    );
    let mut rx = mtu.clone();
    frames::fill_checksums(&mut rx);
    let cases = [
        Case {
            name: "TX 1514 B, IPv4 + TCP checksum insertion",
            frame: mtu,
            offload: TxOffloadRequest::tcp_checksums(14, 20),
            rx: false,
            requests: 12_000,
        },
        Case {
            name: "TX 60 B, IPv4 + TCP checksum insertion",
            frame: small,
            offload: TxOffloadRequest::tcp_checksums(14, 20),
            rx: false,
            requests: 20_000,
        },
        Case {
            name: "TX TSO 64 KiB (65535 B payload, MSS 1448: 46 segments)",
            frame: tso,
            offload: TxOffloadRequest::tso(1448, 14, 20, 32),
            rx: false,
            requests: 300,
        },
        Case {
            name: "RX 1514 B, checksum verification",
            frame: rx,
            offload: TxOffloadRequest::NONE,
            rx: true,
            requests: 12_000,
        },
    ];
    let cases = cases.map(|c| Case {
        requests: (c.requests / divide).max(1),
        ..c
    });
    println!(
        "| case | device | requests | wire frames | wall s | frames/s | requests/s | sim cycles | sim cycles/s | cycles/frame | Gbit/s @250 MHz | model/RTL speed |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for case in &cases {
        let mut model = ModelDevice::new(DeviceConfig::REFERENCE).expect("reference config");
        let m = run(&mut model, case);
        println!(
            "| {} | model | {} | {} | {:.2} | {:.0} | {:.0} | - | - | - | - | - |",
            case.name,
            m.requests,
            m.frames,
            m.wall,
            m.frames as f64 / m.wall,
            m.requests as f64 / m.wall,
        );
        for width in [DataWidth::Bits512, DataWidth::Bits64] {
            let mut rtl = RtlDevice::with_width(width).unwrap_or_else(|e| panic!("{e}"));
            let c0 = rtl.cycles();
            let r = run(&mut rtl, case);
            let cycles = rtl.cycles() - c0;
            println!(
                "| {} | RTL {} bits | {} | {} | {:.2} | {:.0} | {:.0} | {} | {:.3} M | {:.1} | {:.1} | {:.0} x |",
                case.name,
                width.bits(),
                r.requests,
                r.frames,
                r.wall,
                r.frames as f64 / r.wall,
                r.requests as f64 / r.wall,
                cycles,
                cycles as f64 / r.wall / 1e6,
                cycles as f64 / r.frames as f64,
                r.bytes as f64 * 8.0 / cycles as f64 * CLOCK_HZ / 1e9,
                (m.frames as f64 / m.wall) / (r.frames as f64 / r.wall),
            );
        }
    }
}
