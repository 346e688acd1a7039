//! Differential co-simulation of the whole device (feature `rtl`): identical random sequences
//! of driver actions (register writes and command words, good and malformed, TX descriptor
//! chains with every offload and malformation, posted RX buffers, received frames, completion
//! polling and arming) are applied to the reference model and to the Verilated RTL device, each
//! on its own test bench with identical host memory; after every phase the two must agree on
//! the frames sent on the wire (in order), every byte of host memory the benches handed out
//! (completions, received frames), the interrupts signalled per vector, and every register
//! (the image each keeps, which the bench checks against the core's own reads).
//!
//! What may legitimately differ, and is excluded (hw-spec SPEC.md 9): `IDENT.DEVICE_ID` (the
//! implementation field says model or RTL) and `CONTROL.TIMESTAMP` (device time as each
//! implementation last sampled it). Completion timestamps are compared: both implementations
//! stamp a completion with the time of the step that wrote it, and the benches run unbudgeted
//! steps so every request and frame of a phase is done in the same step on both.
//!
//! Phases keep the order of events defined: configuration writes, then TX work (doorbells),
//! then received frames, then completion handling, each followed by running both devices until
//! idle. TX and RX queues complete to disjoint completion queues (the order of TX and RX
//! completions in one CQ, and of their errors in `LAST_ERROR`, depends on timing in hardware).
//!
//! One test runs the RTL with its DMA and MAC sides withholding 40 % of all handshakes at random
//! (`RtlDevice::set_back_pressure`): the results must not change; one runs the 64-bit build.
//!
//! Seeds: `FERROTOE_RTL_SEED` overrides the base seed; a failure names the seed, round and
//! phase.
#![cfg(feature = "rtl")]

use hw_spec::descriptors::{rxd, txd};
use hw_spec::regs::{self, BAR0_SIZE, control, ident, irq};
use hw_spec::{L4Csum, QueueKind, RxDescriptor, TxDescriptor, TxOffloadRequest};
use rtl_sim::conformance::bench::{Bench, UNMAPPED, creg, qreg};
use rtl_sim::conformance::frames::{self, ETH, IP, TcpSpec};
use rtl_sim::device::DeviceCore;
use rtl_sim::device::model::ModelDevice;
use rtl_sim::rtl::{DataWidth, RtlDevice};

// ------------------------------------------------------------------ randomness

/// SplitMix64: small and reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn seed(default: u64) -> u64 {
    std::env::var("FERROTOE_RTL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

// ------------------------------------------------------------------ actions

/// A malformation of a TX chain (rules C1-C4), applied to descriptor `at`.
#[derive(Clone, Copy, Debug)]
enum TxMangle {
    None,
    ReservedBit(usize),
    ZeroLen(usize),
    Unmapped(usize),
    L4Reserved,
    ExtraSop(usize),
    OffloadOnNonSop(usize),
    NoEop,
}

/// One driver action; both benches get the same list.
#[derive(Clone, Debug)]
enum Action {
    /// A raw 32-bit register write.
    Write(u32, u32),
    /// A command word to a queue.
    Cmd(QueueKind, usize, u32),
    /// A TX request: the frame in parts, its offload request, a malformation; `ring` rings
    /// the doorbell after it.
    Tx {
        q: usize,
        parts: Vec<Vec<u8>>,
        offload: TxOffloadRequest,
        mangle: TxMangle,
        ring: bool,
    },
    /// Rings TX queue q's doorbell with the bench's producer.
    Doorbell(usize),
    /// Posts `n` fresh RX buffers of `len` bytes on queue `q` (`bad`: their descriptors have
    /// reserved bits, `unmapped`: their buffers are unmapped).
    PostRx {
        q: usize,
        n: u16,
        len: u32,
        bad: bool,
        unmapped: bool,
    },
    /// A frame arrives from the wire.
    Inject(Vec<u8>),
    /// Polls CQ `cq` and returns its entries; `arm` 1: then ARM, 2: with SET_CONS_ARM.
    Poll { cq: usize, arm: u8 },
    /// An unaligned read the transport reports.
    BadRead(u32),
}

const TX_Q: usize = 4;
const RX_Q: usize = 4;
/// TX queue q completes to CQ q; RX queue q to CQ TX_Q + q.
const RX_CQ0: usize = TX_Q;

/// Applies `a`; returns the completions a poll found.
fn apply<C: DeviceCore>(b: &mut Bench<C>, a: &Action) -> Vec<hw_spec::Completion> {
    let mut found = Vec::new();
    match a {
        Action::Write(off, v) => b.write(*off, *v),
        Action::Cmd(kind, q, word) => b.cmd_word(*kind, *q, *word),
        Action::Tx {
            q,
            parts,
            offload,
            mangle,
            ring,
        } => {
            let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
            let descs = b.descriptors(&refs, *offload);
            let mut raw: Vec<[u8; txd::SIZE]> = descs.iter().map(TxDescriptor::encode).collect();
            match *mangle {
                TxMangle::None => {}
                TxMangle::ReservedBit(i) => raw[i][24] |= 1,
                TxMangle::ZeroLen(i) => txd::LEN.set_le(&mut raw[i], 0),
                TxMangle::Unmapped(i) => txd::ADDR.set_le(&mut raw[i], UNMAPPED + 64),
                TxMangle::L4Reserved => txd::L4_CSUM.set_le(&mut raw[0], 3),
                TxMangle::ExtraSop(i) => txd::SOP.set_le(&mut raw[i], 1),
                TxMangle::OffloadOnNonSop(i) => txd::MSS.set_le(&mut raw[i], 1000),
                TxMangle::NoEop => {
                    let last = raw.len() - 1;
                    txd::EOP.set_le(&mut raw[last], 0)
                }
            }
            b.queue_tx_raw(*q, &raw);
            if *ring {
                b.doorbell_tx(*q);
            }
        }
        Action::Doorbell(q) => b.doorbell_tx(*q),
        Action::PostRx {
            q,
            n,
            len,
            bad,
            unmapped,
        } => {
            for _ in 0..*n {
                let addr = if *unmapped {
                    UNMAPPED
                } else {
                    b.mem.alloc(*len as usize, 64)
                };
                let mut d = RxDescriptor { addr, len: *len }.encode();
                if *bad {
                    d[rxd::SIZE - 1] = 0x80;
                }
                b.post_rx_raw(*q, d);
            }
        }
        Action::Inject(f) => b.inject(f.clone()),
        Action::Poll { cq, arm } => {
            found = b.poll(*cq);
            match arm {
                2 => b.release_arm(*cq),
                1 => {
                    b.release(*cq);
                    b.cmd(QueueKind::Cq, *cq, hw_spec::QueueCommand::Arm);
                }
                _ => b.release(*cq),
            }
        }
        Action::BadRead(off) => b.bad_read(*off),
    }
    found
}

// ------------------------------------------------------------------ generators

fn random_frame(r: &mut Rng, max_payload: usize) -> (Vec<u8>, u8) {
    let opt_len = [0usize, 12, 20, 40][r.below(4) as usize];
    let payload = frames::payload(r.below(max_payload as u64 + 1) as usize, r.next() as u8);
    let spec = TcpSpec {
        src: [198, 18, r.below(4) as u8, r.next() as u8],
        dst: [198, 19, 0, r.next() as u8],
        sport: r.next() as u16,
        dport: r.next() as u16,
        seq: r.next() as u32,
        flags: (r.next() as u16) & 0x1FF,
        opt_len,
        ip_id: r.next() as u16,
    };
    (
        frames::tcp_frame(&spec, &payload),
        (20 + opt_len) as u8, // the TCP header length
    )
}

/// A TX request: frame, offload request, parts.
fn random_tx(r: &mut Rng, max_sg: usize, min_mss: u16, max_mss: u16) -> Action {
    let kind = r.below(100);
    let (frame, offload) = if kind < 30 {
        let (f, _) = random_frame(r, 1500);
        (f, TxOffloadRequest::NONE)
    } else if kind < 55 {
        let (f, _) = random_frame(r, 1500);
        (f, TxOffloadRequest::tcp_checksums(ETH as u8, IP as u16))
    } else if kind < 65 {
        let p = frames::payload(r.below(1400) as usize, r.next() as u8);
        let f = frames::udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 53, r.next() as u16, &p);
        (f, frames::udp_checksums())
    } else if kind < 88 {
        let big = r.chance(4);
        let (f, l4) = random_frame(r, if big { 65535 } else { 9000 });
        let mss = if r.chance(10) {
            r.below(u64::from(max_mss) + 200) as u16
        } else {
            r.range(u64::from(min_mss), 2000) as u16
        };
        (f, TxOffloadRequest::tso(mss, ETH as u8, IP as u16, l4))
    } else {
        // A valid request broken in one of the ways F1-F10 check, in random order of rules.
        let (mut f, l4) = random_frame(r, 3000);
        let mut req = TxOffloadRequest::tso(r.range(u64::from(min_mss), 1500) as u16, 14, 20, l4);
        match r.below(9) {
            0 => f.truncate(r.range(1, 13) as usize), // F1 BAD_LENGTH
            1 => req.ip_csum = false,                 // F3 BAD_FLAGS
            2 => req.l2_len = r.range(0, 80) as u8,   // F5 HEADER_LENGTHS
            3 => f[ETH] = 0x46,                       // F6 NOT_IPV4
            4 => {
                req = TxOffloadRequest {
                    // F7 L4_PROTOCOL
                    l4_csum: L4Csum::Udp,
                    ..TxOffloadRequest::tcp_checksums(14, 20)
                }
            }
            5 => req.mss = max_mss + 1,                  // F8 TSO_BAD_MSS
            6 => f.truncate(ETH + IP + usize::from(l4)), // F9 TSO_BAD_PAYLOAD
            7 => req.l4_len = if l4 == 20 { 24 } else { 20 }, // F10 TSO_TCP_HEADER
            _ => {
                // Fields at random.
                req = TxOffloadRequest {
                    ip_csum: r.chance(50),
                    l4_csum: [L4Csum::None, L4Csum::Tcp, L4Csum::Udp][r.below(3) as usize],
                    tso: r.chance(40),
                    mss: r.below(3000) as u16,
                    l2_len: r.range(10, 70) as u8,
                    l3_len: r.range(16, 64) as u16,
                    l4_len: r.range(16, 64) as u8,
                }
            }
        }
        (f, req)
    };
    // Split into parts (at most MAX_SG, sometimes one more: SG_TOO_LONG).
    let max_parts = frame.len().clamp(1, max_sg + 1);
    let mut n = if r.chance(60) {
        1
    } else {
        r.range(2, 5).min(max_parts as u64) as usize
    };
    if r.chance(2) {
        n = max_parts.min(max_sg + 1);
    }
    let mut cuts: Vec<usize> = (0..n - 1)
        .map(|_| r.range(1, frame.len().max(2) as u64 - 1) as usize)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut parts = Vec::new();
    let mut at = 0;
    for c in cuts {
        if c > at && c < frame.len() {
            parts.push(frame[at..c].to_vec());
            at = c;
        }
    }
    parts.push(frame[at..].to_vec());
    let np = parts.len();
    let pick = |r: &mut Rng| r.below(np as u64) as usize;
    let mangle = match r.below(100) {
        0..=1 => TxMangle::ReservedBit(pick(r)),
        2..=3 => TxMangle::ZeroLen(pick(r)),
        4..=5 => TxMangle::Unmapped(pick(r)),
        6 => TxMangle::L4Reserved,
        7 if np > 1 => TxMangle::ExtraSop(1 + r.below(np as u64 - 1) as usize),
        8 if np > 1 => TxMangle::OffloadOnNonSop(1 + r.below(np as u64 - 1) as usize),
        9 => TxMangle::NoEop,
        _ => TxMangle::None,
    };
    Action::Tx {
        q: 0,
        parts,
        offload,
        mangle,
        ring: true,
    }
}

fn random_rx_frame(r: &mut Rng, max_frame: usize) -> Vec<u8> {
    match r.below(100) {
        0..=49 => {
            let (mut f, _) = random_frame(r, 1500);
            frames::fill_checksums(&mut f);
            if r.chance(20) {
                let i = r.below(f.len() as u64) as usize;
                f[i] ^= 1 << r.below(8);
            }
            f
        }
        50..=64 => {
            let p = frames::payload(r.below(1400) as usize, r.next() as u8);
            let mut f = frames::udp_frame([1, 2, 3, 4], [5, 6, 7, 8], r.next() as u16, 9, &p);
            frames::fill_checksums(&mut f);
            if r.chance(20) {
                f[ETH + IP + 6..ETH + IP + 8].fill(0);
            }
            f
        }
        65..=79 => {
            let n = r.range(1, 200) as usize;
            r.bytes(n)
        }
        80..=89 => {
            // IPv4 with odd lengths / fragments / other protocols.
            let (mut f, _) = random_frame(r, 300);
            match r.below(4) {
                0 => f[ETH + 6] |= 0x20,          // MF
                1 => f[ETH + 9] = r.next() as u8, // protocol
                2 => f[ETH + 2] = r.next() as u8, // total length
                _ => {
                    frames::fill_checksums(&mut f);
                    f.truncate(r.range(14, 60) as usize);
                    return f;
                }
            }
            frames::fill_checksums(&mut f);
            f
        }
        90..=97 => {
            let (mut f, _) = random_frame(r, max_frame);
            frames::fill_checksums(&mut f);
            f
        }
        _ => {
            // Longer than MAX_FRAME_LEN, sometimes longer than the MAC takes.
            let n = if r.chance(30) {
                rtl_sim::device::model::RX_FRAME_LIMIT + r.range(1, 100) as usize
            } else {
                max_frame + r.range(1, 3000) as usize
            };
            let (mut f, _) = random_frame(r, 100);
            f.resize(n, 0xA5);
            f
        }
    }
}

/// A register write or command a driver (buggy or not) might make.
fn random_config(r: &mut Rng, id: &rtl_sim::conformance::bench::Ident) -> Action {
    let kinds = [QueueKind::Tx, QueueKind::Rx, QueueKind::Cq];
    match r.below(100) {
        0..=14 => {
            let mut w = control::CTRL_ENABLE.mask32();
            if r.chance(70) {
                w |= control::CTRL_RX_CSUM_ENABLE.mask32();
            }
            if r.chance(50) {
                w |= control::CTRL_RSS_ENABLE.mask32();
            }
            if r.chance(10) {
                w = r.next() as u32 & !control::CTRL_RESET.mask32();
            }
            Action::Write(creg(&control::CTRL), w)
        }
        15..=22 => {
            let reg = [
                &control::TSO_FLAGS_FIRST,
                &control::TSO_FLAGS_MIDDLE,
                &control::TSO_FLAGS_LAST,
            ][r.below(3) as usize];
            Action::Write(creg(reg), r.next() as u32)
        }
        23..=27 => Action::Write(
            regs::rss::BASE + regs::rss::KEY_OFFSET + 4 * r.below(10) as u32,
            r.next() as u32,
        ),
        28..=40 => {
            // Queues 0..5 (4 and 5 do not exist), sometimes with reserved bits set.
            let reserved = if r.chance(50) {
                r.next() as u32 & 0xFFFF_FF00
            } else {
                0
            };
            Action::Write(
                regs::rss::BASE + regs::rss::TABLE_OFFSET + 4 * r.below(128) as u32,
                r.below(6) as u32 | reserved,
            )
        }
        41..=45 => Action::Write(
            irq::reg_addr(r.below(id.irq as u64) as u32, &irq::MASK),
            r.below(2) as u32,
        ),
        46..=55 => {
            // Bad accesses: read-only, undefined, out of BAR, unaligned.
            let off = match r.below(5) {
                0 => ident::BASE + ident::CAPS.offset,
                1 => creg(&control::STATUS),
                2 => r.below(u64::from(BAR0_SIZE)) as u32 & !3,
                3 => BAR0_SIZE + r.below(100) as u32 * 4,
                _ => creg(&control::SCRATCH) + r.range(1, 3) as u32,
            };
            Action::Write(off, r.next() as u32)
        }
        56..=60 => Action::BadRead(creg(&control::SCRATCH) + r.range(1, 3) as u32),
        61..=66 => Action::Write(creg(&control::ERROR_STATUS), r.next() as u32),
        67..=72 => Action::Write(creg(&control::SCRATCH), r.next() as u32),
        73..=82 => {
            // A command word at random (mostly rejected), to a random queue, existing or not.
            let kind = kinds[r.below(3) as usize];
            let q = r.below(6) as usize;
            let op = r.below(12) as u32;
            let arg = match r.below(3) {
                0 => 0,
                1 => r.below(20) as u32,
                _ => r.next() as u32 & 0xFF_FFFF,
            };
            Action::Cmd(kind, q, (op << 24) | arg)
        }
        83..=90 => {
            // Disable and re-enable a queue (recovers stopped queues, exercises DISABLE).
            let kind = kinds[r.below(3) as usize];
            let q = r.below(4) as usize;
            let op = if r.chance(50) {
                hw_spec::Opcode::Disable
            } else {
                hw_spec::Opcode::Enable
            };
            Action::Cmd(kind, q, (op as u32) << 24)
        }
        _ => {
            // A BASE write (an error while the queue is enabled).
            let kind = kinds[r.below(3) as usize];
            let q = r.below(4) as usize;
            Action::Write(
                qreg(kind, q, &hw_spec::regs::queue::BASE_LO),
                r.next() as u32,
            )
        }
    }
}

// ------------------------------------------------------------------ the comparison

struct Pair {
    model: Bench<ModelDevice>,
    rtl: Bench<RtlDevice>,
    time: u64,
    seed: u64,
}

impl Pair {
    /// `pressure`: the share of DMA and MAC handshakes the RTL's harness withholds (timing only).
    fn new(seed: u64, pressure: u8, width: DataWidth) -> Pair {
        let mut rtl_core = RtlDevice::with_width(width).unwrap_or_else(|e| panic!("{e}"));
        rtl_core.set_back_pressure(pressure, seed);
        let cfg = *rtl_core.config();
        let model_core = ModelDevice::new(cfg).expect("the RTL build's configuration");
        let mut p = Pair {
            model: Bench::new(model_core),
            rtl: Bench::new(rtl_core),
            time: 1_000_000,
            seed,
        };
        p.model.budget = u32::MAX;
        p.rtl.budget = u32::MAX;
        p
    }

    fn both(&mut self, a: &Action) -> Vec<hw_spec::Completion> {
        let m = apply(&mut self.model, a);
        let r = apply(&mut self.rtl, a);
        assert_eq!(m, r, "seed {}: completions polled by {a:?}", self.seed);
        r
    }

    /// Runs both until idle, from the same device time.
    fn run(&mut self) {
        self.time += 1_000_000;
        self.model.now_ns = self.time;
        self.rtl.now_ns = self.time;
        self.model.run();
        self.rtl.run();
    }

    fn check(&mut self, round: usize, phase: &str) {
        let ctx = format!("seed {} round {round} after {phase}", self.seed);
        assert_eq!(
            self.model.wire.sent.len(),
            self.rtl.wire.sent.len(),
            "{ctx}: frames sent"
        );
        for (i, (m, r)) in self
            .model
            .wire
            .sent
            .iter()
            .zip(&self.rtl.wire.sent)
            .enumerate()
        {
            assert!(
                m == r,
                "{ctx}: wire frame {i} differs ({} vs {} bytes)",
                m.len(),
                r.len()
            );
        }
        assert_eq!(
            self.model.irq.signals, self.rtl.irq.signals,
            "{ctx}: interrupts signalled"
        );
        let skip = [
            ident::BASE + ident::DEVICE_ID.offset,
            creg(&control::TIMESTAMP_LO),
            creg(&control::TIMESTAMP_HI),
        ];
        for off in (0..BAR0_SIZE).step_by(4) {
            if skip.contains(&off) {
                continue;
            }
            let (m, r) = (
                self.model.image.words[(off / 4) as usize],
                self.rtl.image.words[(off / 4) as usize],
            );
            assert_eq!(
                m, r,
                "{ctx}: register {off:#06x} (model {m:#x}, RTL {r:#x})"
            );
        }
        let (m, r) = (self.model.mem.used(), self.rtl.mem.used());
        assert_eq!(m.len(), r.len(), "{ctx}: host memory allocated");
        if m != r {
            let at = m.iter().zip(r).position(|(a, b)| a != b).unwrap_or(0);
            panic!(
                "{ctx}: host memory differs at IOVA {:#x} (model {:#04x}, RTL {:#04x})",
                rtl_sim::conformance::bench::MEM_BASE + at as u64,
                m[at],
                r[at]
            );
        }
    }
}

/// Free TX ring slots as the driver sees them (the device's consumer, the bench's producer).
fn tx_free<C: DeviceCore>(b: &mut Bench<C>, q: usize) -> u16 {
    let (size, prod) = b.tx_ring(q).expect("TX queue set up");
    let cons = b.read(qreg(QueueKind::Tx, q, &hw_spec::regs::queue::CONS)) as u16;
    size - prod.wrapping_sub(cons).min(size)
}

fn rx_free<C: DeviceCore>(b: &mut Bench<C>, q: usize) -> u16 {
    let (size, prod) = b.rx_ring(q).expect("RX queue set up");
    let cons = b.read(qreg(QueueKind::Rx, q, &hw_spec::regs::queue::CONS)) as u16;
    size - prod.wrapping_sub(cons).min(size)
}

/// Totals across a run, to show the test exercised what it claims.
#[derive(Debug, Default)]
struct Coverage {
    tx_requests: usize,
    wire_frames: usize,
    rx_frames: usize,
    errors: u32,
    /// Completion error codes seen (TX, RX).
    tx_codes: std::collections::BTreeSet<u32>,
    rx_codes: std::collections::BTreeSet<u32>,
    /// Receive checksum statuses seen (IP, L4) and RSS types.
    rx_status: std::collections::BTreeSet<(u32, u32)>,
    rss_types: std::collections::BTreeSet<u32>,
    tso_completions: usize,
}

fn run_seed(seed: u64, rounds: usize, pressure: u8, width: DataWidth, cov: &mut Coverage) {
    let mut r = Rng(seed);
    let mut p = Pair::new(seed, pressure, width);
    let id = p.model.ident;
    let caps = id.caps;
    let min = id.min_log2;
    let setup = |p: &mut Pair, r: &mut Rng| {
        let sizes: Vec<u8> = (0..TX_Q + RX_Q + 8)
            .map(|_| r.range(u64::from(min), 7) as u8)
            .collect();
        let vectors: Vec<u8> = (0..8).map(|_| r.below(id.irq as u64) as u8).collect();
        let bufs: Vec<u32> = (0..RX_Q)
            .map(|_| {
                if r.chance(30) {
                    r.range(64, 600) as u32
                } else {
                    u32::from(caps.max_frame_len)
                }
            })
            .collect();
        let (csum, rss) = (r.chance(80), r.chance(50));
        for b in [&mut p.model as &mut dyn SetUp, &mut p.rtl as &mut dyn SetUp] {
            b.set_up(&sizes, &vectors, &bufs, csum, rss);
        }
    };
    setup(&mut p, &mut r);
    p.run();
    p.check(0, "set-up");
    for round in 1..=rounds {
        // Configuration
        for _ in 0..r.below(4) {
            let a = random_config(&mut r, &id);
            p.both(&a);
        }
        if r.chance(2) {
            // A full reset and a fresh bring-up.
            let a = Action::Write(creg(&control::CTRL), control::CTRL_RESET.mask32());
            p.both(&a);
            setup(&mut p, &mut r);
        }
        p.run();
        p.check(round, "configuration");
        // TX
        for q in 0..TX_Q {
            if !r.chance(60) {
                continue;
            }
            for _ in 0..r.range(1, 5) {
                let mut a = random_tx(&mut r, caps.max_sg.into(), caps.min_mss, caps.max_mss);
                let Action::Tx {
                    q: aq, parts, ring, ..
                } = &mut a
                else {
                    unreachable!()
                };
                *aq = q;
                *ring = r.chance(85);
                let need = parts.len() as u16;
                let (fm, fr) = (tx_free(&mut p.model, q), tx_free(&mut p.rtl, q));
                assert_eq!(fm, fr, "seed {seed} round {round}: TX {q} ring space");
                if need <= fm {
                    p.both(&a);
                    cov.tx_requests += 1;
                }
            }
            if r.chance(50) {
                p.both(&Action::Doorbell(q));
            }
        }
        p.run();
        p.check(round, "TX");
        // RX: buffers, then frames
        for q in 0..RX_Q {
            // Queue 0 gets every frame while RSS is off: it is posted to most.
            if r.chance(if q == 0 { 75 } else { 40 }) {
                let free = rx_free(&mut p.model, q);
                let (bad, unmapped) = (r.chance(12), r.chance(12));
                let most = if bad || unmapped { 2 } else { free };
                let n = r.below(u64::from(free.min(most)) + 1) as u16;
                if n > 0 {
                    let len = if r.chance(20) {
                        r.range(40, 400) as u32
                    } else {
                        u32::from(caps.max_frame_len)
                    };
                    let a = Action::PostRx {
                        q,
                        n,
                        len,
                        bad,
                        unmapped,
                    };
                    p.both(&a);
                }
            }
        }
        for _ in 0..r.below(8) {
            let f = random_rx_frame(&mut r, caps.max_frame_len.into());
            p.both(&Action::Inject(f));
            cov.rx_frames += 1;
        }
        p.run();
        p.check(round, "RX");
        // Completions
        for cq in 0..8 {
            if r.chance(70) {
                let arm = r.below(3) as u8;
                for c in p.both(&Action::Poll { cq, arm }) {
                    if c.kind == hw_spec::CompletionKind::Rx {
                        cov.rx_codes.insert(c.error.bits());
                        cov.rx_status.insert((c.ip_csum.bits(), c.l4_csum.bits()));
                        cov.rss_types.insert(c.rss_type.bits());
                    } else {
                        cov.tx_codes.insert(c.error.bits());
                        cov.tso_completions += usize::from(c.segments > 1);
                    }
                }
            }
        }
        p.run();
        p.check(round, "completions");
    }
    // Every register through the core's own reads (the image must agree with them).
    p.model.check_image();
    p.rtl.check_image();
    cov.wire_frames += p.rtl.wire.sent.len();
    cov.errors += p.rtl.read(creg(&control::ERROR_COUNT));
}

/// Ring set-up on one bench (object-safe, so both benches go through one loop).
trait SetUp {
    fn set_up(&mut self, sizes: &[u8], vectors: &[u8], bufs: &[u32], csum: bool, rss: bool);
}

impl<C: DeviceCore> SetUp for Bench<C> {
    fn set_up(&mut self, sizes: &[u8], vectors: &[u8], bufs: &[u32], csum: bool, rss: bool) {
        self.reset();
        for cq in 0..8 {
            self.setup_cq(cq, sizes[TX_Q + RX_Q + cq], vectors[cq]);
        }
        for (q, &size) in sizes[..TX_Q].iter().enumerate() {
            self.setup_tx(q, size, q as u8);
        }
        for q in 0..RX_Q {
            self.setup_rx(q, sizes[TX_Q + q], (RX_CQ0 + q) as u8, bufs[q]);
            let size = 1u16 << sizes[TX_Q + q];
            self.post_rx(q, size / 4);
        }
        self.enable(csum, rss);
    }
}

fn run_seeds(first: u64, seeds: u64, rounds: usize, pressure: u8, width: DataWidth) -> Coverage {
    let base = seed(0x5EED_0001);
    let mut cov = Coverage::default();
    for k in first..first + seeds {
        run_seed(base.wrapping_add(k), rounds, pressure, width, &mut cov);
    }
    eprintln!(
        "differential device co-simulation, seeds {first}..{}, {} bits, back-pressure \
         {pressure} %: {cov:?}",
        first + seeds,
        width.bits()
    );
    cov
}

/// Checks that a run exercised what the test claims (every total is far above what the
/// sequences produce on average, so a generator that stopped producing a case fails here).
fn assert_coverage(cov: &Coverage) {
    assert!(cov.tx_requests > 200, "{cov:?}");
    assert!(cov.wire_frames > 300, "{cov:?}");
    assert!(cov.rx_frames > 100, "{cov:?}");
    assert!(cov.errors > 20, "{cov:?}");
    assert!(cov.tso_completions > 10, "{cov:?}");
    assert!(cov.tx_codes.len() >= 10, "TX error codes seen: {cov:?}");
    assert!(cov.rx_codes.len() >= 2, "RX error codes seen: {cov:?}");
    assert!(cov.rx_status.len() >= 4, "RX statuses seen: {cov:?}");
}

#[test]
fn model_and_rtl_agree_on_random_driver_sequences() {
    assert_coverage(&run_seeds(0, 4, 40, 0, DataWidth::Bits512));
}

/// The same with the RTL's DMA and MAC sides withholding 40 % of all handshakes: only timing
/// may change, and timing is not observable here.
#[test]
fn model_and_rtl_agree_under_dma_and_wire_back_pressure() {
    assert_coverage(&run_seeds(4, 4, 40, 40, DataWidth::Bits512));
}

/// The 64-bit build of the device (8-byte beats: multi-beat descriptors and completions).
#[test]
fn model_and_rtl_agree_at_64_bits() {
    assert_coverage(&run_seeds(8, 4, 40, 20, DataWidth::Bits64));
}
