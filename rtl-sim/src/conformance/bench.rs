//! The test bench the suite drives a device core with: in-memory host memory with an IOMMU
//! window, a wire that records what is sent and feeds what is received, interrupt counters, a
//! register image that is checked against the core's reads, and the small amount of driver
//! logic the tests need (ring set-up, descriptors, completion polling by phase).
//!
//! Owns test plumbing only; it asserts the register-image contract of
//! [`DeviceCore`] on every read, and panics (fails the test) on anything unexpected.

use std::collections::VecDeque;

use hw_spec::descriptors::{cpl, rxd, txd};
use hw_spec::layout::Register;
use hw_spec::regs::{self, BAR0_SIZE, control, ident, queue, stats};
use hw_spec::{
    Completion, DeviceCaps, ErrorCode, QueueCommand, QueueKind, RxDescriptor, TxDescriptor,
    TxOffloadRequest,
};

use super::flat::FlatMemory;
use crate::device::{DeviceCore, DeviceIo, Dma, DmaFault, IrqOut, RegisterImage, StepReport, Wire};

/// First IOVA of the bench's host memory.
pub const MEM_BASE: u64 = 0x1_0000_0000;
/// Bytes of host memory.
pub const MEM_LEN: usize = 16 << 20;
/// A 4 KiB aligned IOVA outside host memory: every access to it faults.
pub const UNMAPPED: u64 = 0x9_0000_0000;

/// Host memory: one window of `MEM_LEN` bytes at `MEM_BASE`, allocated by bumping.
#[derive(Debug)]
pub struct TestMemory {
    flat: FlatMemory,
    next: usize,
}

impl TestMemory {
    fn new() -> TestMemory {
        TestMemory {
            flat: FlatMemory {
                base: MEM_BASE,
                bytes: vec![0; MEM_LEN],
            },
            next: 0,
        }
    }

    /// Allocates `len` zeroed bytes aligned to `align`.
    pub fn alloc(&mut self, len: usize, align: usize) -> u64 {
        let at = self.next.next_multiple_of(align);
        assert!(at + len <= MEM_LEN, "bench memory exhausted");
        self.next = at + len;
        self.flat.bytes[at..at + len].fill(0);
        MEM_BASE + at as u64
    }

    /// Bytes handed out so far (from `MEM_BASE`): everything a test can have touched.
    pub fn used(&self) -> &[u8] {
        &self.flat.bytes[..self.next]
    }

    /// Copies bytes out (panics outside memory: a bench bug).
    pub fn get(&self, iova: u64, len: usize) -> Vec<u8> {
        let r = self
            .flat
            .range(iova, len as u64)
            .expect("bench read inside memory");
        self.flat.bytes[r].to_vec()
    }

    /// Copies bytes in (panics outside memory).
    pub fn set(&mut self, iova: u64, data: &[u8]) {
        self.flat
            .write(iova, data)
            .expect("bench write inside memory");
    }
}

impl Dma for TestMemory {
    fn read(&mut self, iova: u64, buf: &mut [u8]) -> Result<(), DmaFault> {
        self.flat.read(iova, buf)
    }
    fn write(&mut self, iova: u64, data: &[u8]) -> Result<(), DmaFault> {
        self.flat.write(iova, data)
    }
    fn check(&mut self, iova: u64, len: u64) -> Result<(), DmaFault> {
        self.flat.check(iova, len)
    }
}

/// A wire that records sent frames and feeds queued ones.
#[derive(Debug, Default)]
pub struct TestWire {
    /// Every frame the device sent, in order.
    pub sent: Vec<Vec<u8>>,
    /// Frames waiting to be received.
    pub inbox: VecDeque<Vec<u8>>,
    /// The device time the last step began at ([`Wire::begin_step`]), if one told it.
    pub step_ns: Option<u64>,
    /// For each frame received, the step time the port knew when the device took it.
    pub received_at: Vec<Option<u64>>,
}

impl Wire for TestWire {
    fn transmit(&mut self, frame: &[u8], _now_ns: u64) {
        self.sent.push(frame.to_vec());
    }
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        let f = self.inbox.pop_front()?;
        self.received_at.push(self.step_ns);
        let n = f.len().min(buf.len());
        buf[..n].copy_from_slice(&f[..n]);
        Some(f.len())
    }
    fn rx_pending(&self) -> bool {
        !self.inbox.is_empty()
    }
    fn begin_step(&mut self, now_ns: u64) {
        self.step_ns = Some(now_ns);
    }
}

/// Interrupt signals per vector.
#[derive(Debug, Default)]
pub struct TestIrq {
    /// Signals of each vector.
    pub signals: Vec<u32>,
}

impl IrqOut for TestIrq {
    fn signal(&mut self, vector: u32) {
        let v = vector as usize;
        if self.signals.len() <= v {
            self.signals.resize(v + 1, 0);
        }
        self.signals[v] += 1;
    }
}

/// A register image in a vector; tracks that batches are balanced.
#[derive(Debug)]
pub struct VecImage {
    /// The words.
    pub words: Vec<u32>,
    open_batches: i32,
}

impl RegisterImage for VecImage {
    fn store(&mut self, offset: u32, value: u32) {
        assert!(
            offset % 4 == 0 && offset < BAR0_SIZE,
            "image store at bad offset {offset:#x}"
        );
        self.words[(offset / 4) as usize] = value;
    }
    fn begin_batch(&mut self) {
        self.open_batches += 1;
        assert_eq!(self.open_batches, 1, "image batches must not nest");
    }
    fn end_batch(&mut self) {
        self.open_batches -= 1;
        assert_eq!(self.open_batches, 0, "unbalanced image batch");
    }
}

/// What the device's `IDENT` block says.
#[derive(Clone, Copy, Debug)]
pub struct Ident {
    /// TX queues.
    pub tx: usize,
    /// RX queues.
    pub rx: usize,
    /// Completion queues.
    pub cq: usize,
    /// Interrupt vectors.
    pub irq: usize,
    /// Smallest ring, log2.
    pub min_log2: u8,
    /// Largest ring, log2.
    pub max_log2: u8,
    /// Capabilities and limits.
    pub caps: DeviceCaps,
}

#[derive(Clone, Debug)]
struct TxRing {
    base: u64,
    size: u16,
    prod: u16,
}

#[derive(Clone, Debug)]
struct RxRing {
    base: u64,
    size: u16,
    prod: u16,
    bufs: Vec<u64>,
    buf_len: u32,
}

#[derive(Clone, Debug)]
struct CqRing {
    base: u64,
    size: u16,
    cons: u16,
    phase: bool,
}

/// A device core on the bench, with a minimal driver.
pub struct Bench<C: DeviceCore> {
    /// The device under test.
    pub core: C,
    /// Host memory.
    pub mem: TestMemory,
    /// The Ethernet port.
    pub wire: TestWire,
    /// Interrupts signalled.
    pub irq: TestIrq,
    /// The register image.
    pub image: VecImage,
    /// Device time handed to the core.
    pub now_ns: u64,
    /// What `IDENT` says.
    pub ident: Ident,
    /// Work a [`step`](Self::step) may do (TX requests, RX frames); 64 unless a test sets it.
    pub budget: u32,
    tx: Vec<Option<TxRing>>,
    rx: Vec<Option<RxRing>>,
    cqs: Vec<Option<CqRing>>,
}

macro_rules! io {
    ($b:expr) => {
        DeviceIo {
            dma: &mut $b.mem,
            wire: &mut $b.wire,
            irq: &mut $b.irq,
            image: &mut $b.image,
            now_ns: $b.now_ns,
        }
    };
}

/// BAR0 offset of register `reg` of queue `index` of `kind`.
pub fn qreg(kind: QueueKind, index: usize, reg: &Register) -> u32 {
    let block = match kind {
        QueueKind::Tx => regs::txq::BASE,
        QueueKind::Rx => regs::rxq::BASE,
        _ => regs::cq::BASE,
    };
    block + queue::ARRAY_OFFSET + index as u32 * queue::STRIDE + reg.offset
}

/// BAR0 offset of a `CONTROL` register.
pub fn creg(reg: &Register) -> u32 {
    control::BASE + reg.offset
}

impl<C: DeviceCore> Bench<C> {
    /// Puts `core` on the bench and reads its identity.
    pub fn new(mut core: C) -> Bench<C> {
        let mut image = VecImage {
            words: vec![0xDEAD_BEEF; BAR0_SIZE as usize / 4],
            open_batches: 0,
        };
        core.publish_image(&mut image);
        let mut b = Bench {
            core,
            mem: TestMemory::new(),
            wire: TestWire::default(),
            irq: TestIrq::default(),
            image,
            now_ns: 1_000,
            ident: Ident {
                tx: 0,
                rx: 0,
                cq: 0,
                irq: 0,
                min_log2: 0,
                max_log2: 0,
                caps: DeviceCaps::from_registers(0, 0, 0, 0, 0),
            },
            budget: 64,
            tx: Vec::new(),
            rx: Vec::new(),
            cqs: Vec::new(),
        };
        b.check_image();
        let at = |r: &Register| ident::BASE + r.offset;
        let counts = b.read(at(&ident::QUEUE_COUNTS));
        let limits = b.read(at(&ident::RING_LIMITS));
        b.ident = Ident {
            tx: ident::QUEUE_COUNTS_TX.get32(counts) as usize,
            rx: ident::QUEUE_COUNTS_RX.get32(counts) as usize,
            cq: ident::QUEUE_COUNTS_CQ.get32(counts) as usize,
            irq: ident::QUEUE_COUNTS_IRQ.get32(counts) as usize,
            min_log2: ident::RING_LIMITS_MIN_LOG2.get32(limits) as u8,
            max_log2: ident::RING_LIMITS_MAX_LOG2.get32(limits) as u8,
            caps: DeviceCaps::from_registers(
                b.read(at(&ident::CAPS)),
                b.read(at(&ident::MAX_TSO_PAYLOAD)),
                b.read(at(&ident::MAX_FRAME_LEN)),
                b.read(at(&ident::MSS_LIMITS)),
                limits,
            ),
        };
        b.tx = vec![None; b.ident.tx];
        b.rx = vec![None; b.ident.rx];
        b.cqs = vec![None; b.ident.cq];
        b
    }

    /// Fails the test unless the device offers what the suite needs.
    pub fn require(&self, what: &str, ok: bool) {
        assert!(
            ok,
            "the conformance suite needs a device with {what}; this device's IDENT says {:?}",
            self.ident
        );
    }

    /// A 32-bit MMIO write.
    pub fn write(&mut self, offset: u32, value: u32) {
        let mut io = io!(self);
        self.core.mmio_write(offset, value, &mut io);
        assert_eq!(self.image.open_batches, 0, "batch left open by mmio_write");
    }

    /// A 32-bit MMIO read; checks that the image agrees with the core.
    pub fn read(&mut self, offset: u32) -> u32 {
        let v = self.core.mmio_read(offset);
        assert_eq!(
            self.image.words[(offset / 4) as usize],
            v,
            "register image at {offset:#06x} differs from what the device reads"
        );
        v
    }

    /// A read the transport could not serve (unaligned): reported to the core.
    pub fn bad_read(&mut self, offset: u32) {
        let mut io = io!(self);
        self.core.report_bad_read(offset, &mut io);
    }

    /// A 64-bit counter from its `LO`/`HI` pair.
    pub fn read64(&mut self, lo: u32) -> u64 {
        u64::from(self.read(lo)) | (u64::from(self.read(lo + 4)) << 32)
    }

    /// Checks every word of the image against the core's reads.
    pub fn check_image(&mut self) {
        for off in (0..BAR0_SIZE).step_by(4) {
            let v = self.core.mmio_read(off);
            assert_eq!(
                self.image.words[(off / 4) as usize],
                v,
                "register image at {off:#06x} differs from what the device reads"
            );
        }
    }

    /// One device step.
    pub fn step(&mut self) -> StepReport {
        self.now_ns += 1_000;
        let mut io = io!(self);
        let r = self.core.step(&mut io, self.budget);
        assert_eq!(self.image.open_batches, 0, "batch left open by step");
        r
    }

    /// Steps until the device has nothing left to do.
    pub fn run(&mut self) {
        for _ in 0..100_000 {
            let r = self.step();
            if !r.did_work() && !r.more {
                return;
            }
        }
        panic!("the device kept working for 100000 steps");
    }

    /// Writes a queue command.
    pub fn cmd(&mut self, kind: QueueKind, index: usize, cmd: QueueCommand) {
        self.write(qreg(kind, index, &queue::CMD), cmd.encode());
    }

    /// Writes a raw command word.
    pub fn cmd_word(&mut self, kind: QueueKind, index: usize, word: u32) {
        self.write(qreg(kind, index, &queue::CMD), word);
    }

    /// A queue's `STATUS`.
    pub fn status(&mut self, kind: QueueKind, index: usize) -> u32 {
        self.read(qreg(kind, index, &queue::STATUS))
    }

    /// Resets the device and forgets the bench's rings.
    pub fn reset(&mut self) {
        self.write(creg(&control::CTRL), control::CTRL_RESET.mask32());
        self.tx.iter_mut().for_each(|r| *r = None);
        self.rx.iter_mut().for_each(|r| *r = None);
        self.cqs.iter_mut().for_each(|r| *r = None);
    }

    fn set_base(&mut self, kind: QueueKind, index: usize, base: u64) {
        self.write(qreg(kind, index, &queue::BASE_LO), base as u32);
        self.write(qreg(kind, index, &queue::BASE_HI), (base >> 32) as u32);
    }

    /// Disables, programs and enables completion queue `index` (2^`log2` entries, vector `vector`) at
    /// `base`, or in fresh zeroed memory when `base` is `None`.
    pub fn setup_cq_at(&mut self, index: usize, log2: u8, vector: u8, base: Option<u64>) {
        let size = 1u16 << log2;
        let base = base.unwrap_or_else(|| self.mem.alloc(usize::from(size) * cpl::SIZE, 4096));
        self.cmd(QueueKind::Cq, index, QueueCommand::Disable);
        self.set_base(QueueKind::Cq, index, base);
        self.cmd(QueueKind::Cq, index, QueueCommand::SetLog2Size(log2));
        self.cmd(QueueKind::Cq, index, QueueCommand::SetIrq(vector));
        self.cmd(QueueKind::Cq, index, QueueCommand::ResetPointers);
        self.cmd(QueueKind::Cq, index, QueueCommand::Enable);
        self.cqs[index] = Some(CqRing {
            base,
            size,
            cons: 0,
            phase: true,
        });
    }

    /// [`setup_cq_at`](Self::setup_cq_at) in fresh memory.
    pub fn setup_cq(&mut self, index: usize, log2: u8, vector: u8) {
        self.setup_cq_at(index, log2, vector, None);
    }

    /// Programs and enables TX queue `index` bound to completion queue `cq`.
    pub fn setup_tx_at(&mut self, index: usize, log2: u8, cq: u8, base: Option<u64>) {
        let size = 1u16 << log2;
        let base = base.unwrap_or_else(|| self.mem.alloc(usize::from(size) * txd::SIZE, 4096));
        self.cmd(QueueKind::Tx, index, QueueCommand::Disable);
        self.set_base(QueueKind::Tx, index, base);
        self.cmd(QueueKind::Tx, index, QueueCommand::SetLog2Size(log2));
        self.cmd(QueueKind::Tx, index, QueueCommand::SetCq(cq));
        self.cmd(QueueKind::Tx, index, QueueCommand::ResetPointers);
        self.cmd(QueueKind::Tx, index, QueueCommand::Enable);
        self.tx[index] = Some(TxRing {
            base,
            size,
            prod: 0,
        });
    }

    /// [`setup_tx_at`](Self::setup_tx_at) in fresh memory.
    pub fn setup_tx(&mut self, index: usize, log2: u8, cq: u8) {
        self.setup_tx_at(index, log2, cq, None);
    }

    /// Programs and enables RX queue `index` bound to `cq`, with a buffer of `buf_len` bytes
    /// for every slot (not yet posted).
    pub fn setup_rx_at(&mut self, index: usize, log2: u8, cq: u8, buf_len: u32, base: Option<u64>) {
        let size = 1u16 << log2;
        let base = base.unwrap_or_else(|| self.mem.alloc(usize::from(size) * rxd::SIZE, 4096));
        let bufs = (0..size)
            .map(|_| self.mem.alloc(buf_len as usize, 64))
            .collect();
        self.cmd(QueueKind::Rx, index, QueueCommand::Disable);
        self.set_base(QueueKind::Rx, index, base);
        self.cmd(QueueKind::Rx, index, QueueCommand::SetLog2Size(log2));
        self.cmd(QueueKind::Rx, index, QueueCommand::SetCq(cq));
        self.cmd(QueueKind::Rx, index, QueueCommand::ResetPointers);
        self.cmd(QueueKind::Rx, index, QueueCommand::Enable);
        self.rx[index] = Some(RxRing {
            base,
            size,
            prod: 0,
            bufs,
            buf_len,
        });
    }

    /// [`setup_rx_at`](Self::setup_rx_at) in fresh memory.
    pub fn setup_rx(&mut self, index: usize, log2: u8, cq: u8, buf_len: u32) {
        self.setup_rx_at(index, log2, cq, buf_len, None);
    }

    /// Writes `CTRL`: enable plus the given receive options.
    pub fn enable(&mut self, rx_csum: bool, rss: bool) {
        let mut w = control::CTRL_ENABLE.mask32();
        if rx_csum {
            w |= control::CTRL_RX_CSUM_ENABLE.mask32();
        }
        if rss {
            w |= control::CTRL_RSS_ENABLE.mask32();
        }
        self.write(creg(&control::CTRL), w);
    }

    /// The usual bring-up: reset; CQ 0 (vector 0) for TX 0, CQ 1 (vector 1) for RX 0, rings of
    /// 64 entries, 64 RX buffers of `MAX_FRAME_LEN` posted; device enabled with RX checksums.
    pub fn bring_up(&mut self) {
        self.reset();
        self.setup_cq(0, 6, 0);
        self.setup_cq(1, 6, 1);
        let max = u32::from(self.ident.caps.max_frame_len);
        self.setup_rx(0, 6, 1, max);
        self.post_rx(0, 64);
        self.setup_tx(0, 6, 0);
        self.enable(true, false);
    }

    /// Writes descriptors at TX queue `q`'s producer (no doorbell).
    pub fn queue_tx(&mut self, q: usize, descs: &[TxDescriptor]) {
        let ring = self.tx[q].clone().expect("TX queue set up");
        let mut prod = ring.prod;
        for d in descs {
            let at = ring.base + u64::from(prod & (ring.size - 1)) * txd::SIZE as u64;
            self.mem.set(at, &d.encode());
            prod = prod.wrapping_add(1);
        }
        self.tx[q].as_mut().expect("TX queue").prod = prod;
    }

    /// Writes raw descriptor bytes at the producer (for malformed descriptors).
    pub fn queue_tx_raw(&mut self, q: usize, raw: &[[u8; txd::SIZE]]) {
        let ring = self.tx[q].clone().expect("TX queue set up");
        let mut prod = ring.prod;
        for d in raw {
            let at = ring.base + u64::from(prod & (ring.size - 1)) * txd::SIZE as u64;
            self.mem.set(at, d);
            prod = prod.wrapping_add(1);
        }
        self.tx[q].as_mut().expect("TX queue").prod = prod;
    }

    /// Rings TX queue `q`'s doorbell with the bench's producer.
    pub fn doorbell_tx(&mut self, q: usize) {
        let prod = self.tx[q].as_ref().expect("TX queue").prod;
        self.cmd(QueueKind::Tx, q, QueueCommand::SetProd(prod));
    }

    /// Copies `parts` into fresh buffers and returns one descriptor per part (SOP on the first
    /// with `offload`, EOP on the last).
    pub fn descriptors(&mut self, parts: &[&[u8]], offload: TxOffloadRequest) -> Vec<TxDescriptor> {
        let n = parts.len();
        parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let addr = self.mem.alloc(p.len().max(1), 64);
                self.mem.set(addr, p);
                TxDescriptor {
                    addr,
                    len: p.len() as u32,
                    sop: i == 0,
                    eop: i + 1 == n,
                    offload: if i == 0 {
                        offload
                    } else {
                        TxOffloadRequest::NONE
                    },
                }
            })
            .collect()
    }

    /// Sends one frame made of `parts` on TX queue `q` and runs the device.
    pub fn send(&mut self, q: usize, parts: &[&[u8]], offload: TxOffloadRequest) {
        let d = self.descriptors(parts, offload);
        self.queue_tx(q, &d);
        self.doorbell_tx(q);
        self.run();
    }

    /// Posts the next `n` buffers of RX queue `q` and rings its doorbell.
    pub fn post_rx(&mut self, q: usize, n: u16) {
        let ring = self.rx[q].clone().expect("RX queue set up");
        let mut prod = ring.prod;
        for _ in 0..n {
            let slot = prod & (ring.size - 1);
            let d = RxDescriptor {
                addr: ring.bufs[usize::from(slot)],
                len: ring.buf_len,
            };
            self.mem
                .set(ring.base + u64::from(slot) * rxd::SIZE as u64, &d.encode());
            prod = prod.wrapping_add(1);
        }
        self.rx[q].as_mut().expect("RX queue").prod = prod;
        self.cmd(QueueKind::Rx, q, QueueCommand::SetProd(prod));
    }

    /// Overwrites the descriptor of RX queue `q`'s next slot (before [`post_rx`]) with `raw`.
    ///
    /// [`post_rx`]: Self::post_rx
    pub fn post_rx_raw(&mut self, q: usize, raw: [u8; rxd::SIZE]) {
        let ring = self.rx[q].clone().expect("RX queue set up");
        let slot = ring.prod & (ring.size - 1);
        self.mem
            .set(ring.base + u64::from(slot) * rxd::SIZE as u64, &raw);
        let prod = ring.prod.wrapping_add(1);
        self.rx[q].as_mut().expect("RX queue").prod = prod;
        self.cmd(QueueKind::Rx, q, QueueCommand::SetProd(prod));
    }

    /// The bytes a receive completion delivered.
    pub fn rx_bytes(&self, c: &Completion) -> Vec<u8> {
        let ring = self.rx[usize::from(c.queue)].as_ref().expect("RX queue");
        self.mem
            .get(ring.bufs[usize::from(c.index)], c.len as usize)
    }

    /// New completions of CQ `cq` (by phase), without returning them to the device.
    pub fn poll(&mut self, cq: usize) -> Vec<Completion> {
        let mut out = Vec::new();
        let ring = self.cqs[cq].as_mut().expect("CQ set up");
        loop {
            let at = ring.base + u64::from(ring.cons & (ring.size - 1)) * cpl::SIZE as u64;
            let bytes = self.mem.get(at, cpl::SIZE);
            if Completion::phase_of(&bytes) != ring.phase {
                return out;
            }
            let c = Completion::decode(&bytes)
                .unwrap_or_else(|e| panic!("completion at {at:#x} does not decode: {e}"));
            out.push(c);
            ring.cons = ring.cons.wrapping_add(1);
            if ring.cons & (ring.size - 1) == 0 {
                ring.phase = !ring.phase;
            }
            assert!(out.len() <= usize::from(ring.size), "CQ overran the driver");
        }
    }

    /// TX queue `q`'s ring size and the bench's producer (`None` before set-up).
    pub fn tx_ring(&self, q: usize) -> Option<(u16, u16)> {
        self.tx.get(q)?.as_ref().map(|r| (r.size, r.prod))
    }

    /// RX queue `q`'s ring size and the bench's producer (`None` before set-up).
    pub fn rx_ring(&self, q: usize) -> Option<(u16, u16)> {
        self.rx.get(q)?.as_ref().map(|r| (r.size, r.prod))
    }

    /// Returns CQ `cq`'s polled entries and arms it in one write (`SET_CONS_ARM`).
    pub fn release_arm(&mut self, cq: usize) {
        let cons = self.cqs[cq].as_ref().expect("CQ").cons;
        self.cmd(QueueKind::Cq, cq, QueueCommand::SetConsArm(cons));
    }

    /// Returns CQ `cq`'s polled entries to the device (`SET_CONS`).
    pub fn release(&mut self, cq: usize) {
        let cons = self.cqs[cq].as_ref().expect("CQ").cons;
        self.cmd(QueueKind::Cq, cq, QueueCommand::SetCons(cons));
    }

    /// [`poll`](Self::poll) then [`release`](Self::release).
    pub fn completions(&mut self, cq: usize) -> Vec<Completion> {
        let c = self.poll(cq);
        self.release(cq);
        c
    }

    /// Puts a frame on the wire towards the device.
    pub fn inject(&mut self, frame: Vec<u8>) {
        self.wire.inbox.push_back(frame);
    }

    /// `ERROR_STATUS`.
    pub fn error_status(&mut self) -> u32 {
        self.read(creg(&control::ERROR_STATUS))
    }

    /// `ERROR_COUNT`.
    pub fn error_count(&mut self) -> u32 {
        self.read(creg(&control::ERROR_COUNT))
    }

    /// `LAST_ERROR` decoded: code, queue, kind.
    pub fn last_error(&mut self) -> (ErrorCode, u16, QueueKind) {
        let w = self.read(creg(&control::LAST_ERROR));
        (
            ErrorCode::from_bits(control::LAST_ERROR_CODE.get32(w)).expect("known error code"),
            control::LAST_ERROR_QUEUE.get32(w) as u16,
            QueueKind::from_bits(control::LAST_ERROR_QUEUE_KIND.get32(w)).expect("queue kind"),
        )
    }

    /// `LAST_ERROR_ADDR`.
    pub fn last_error_addr(&mut self) -> u64 {
        self.read64(creg(&control::LAST_ERROR_ADDR_LO))
    }

    /// Clears every `ERROR_STATUS` bit.
    pub fn clear_errors(&mut self) {
        self.write(creg(&control::ERROR_STATUS), u32::MAX);
    }

    /// A TX queue counter (64-bit for `FRAMES`/`BYTES`).
    pub fn tx_stat(&mut self, q: usize, reg: &Register) -> u64 {
        let at = stats::tx_addr(q as u32, reg);
        if reg.offset < 0x10 {
            self.read64(at)
        } else {
            self.read(at).into()
        }
    }

    /// An RX queue counter (64-bit for `FRAMES`/`BYTES`).
    pub fn rx_stat(&mut self, q: usize, reg: &Register) -> u64 {
        let at = stats::rx_addr(q as u32, reg);
        if reg.offset < 0x10 {
            self.read64(at)
        } else {
            self.read(at).into()
        }
    }
}
