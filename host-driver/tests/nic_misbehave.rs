//! The misbehaving-device harness: the simulated NIC with a device core wrapped so that it
//! corrupts the completions it writes (one kind of lie at a time, or random bytes), or stops
//! responding. Every case must end as a driver counter, a fault record or an error: no panic,
//! no hang, no buffer handed out twice or lost, and traffic flows again after
//! [`QueuePair::recover`].

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use host_driver::nic::{Direction, FaultKind, PacketBatch, QueuePair};
use host_driver::{DeviceErrorKind, Nic, NicConfig, SimDevice};
use hw_spec::descriptors::cpl;
use hw_spec::regs::{cq as cq_regs, queue};
use hw_spec::{CsumStatus, ErrorCode, Implementation, TxOffloadRequest};
use rtl_sim::device::{
    DeviceConfig, DeviceCore, DeviceIo, Dma, DmaFault, RegisterImage, StepReport,
};
use rtl_sim::nic::SteppedNic;
use rtl_sim::wire::cable::{CableConfig, CableEnd};
use support::*;

/// What the device does wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lie {
    /// `INDEX` moved by this much.
    ShiftIndex(u16),
    /// `LEN` replaced.
    Length(u32),
    /// A reserved bit set.
    ReservedBit,
    /// `ERROR` replaced (raw value), `SEGMENTS` zeroed as an error completion has it.
    Error(u8),
    /// `QUEUE` replaced.
    Queue(u16),
    /// The `RX` flag flipped.
    FlipKind,
    /// `DESC_COUNT` replaced.
    DescCount(u8),
    /// `SEGMENTS` replaced.
    Segments(u16),
    /// The entry written a second time into the next slot.
    Duplicate,
    /// Random bytes (the phase bit kept), from this seed.
    Random(u64),
    /// From now on: register writes ignored, no work done.
    Silence,
    /// From the next write or step on: every register reads all ones (a device gone from the
    /// bus), register writes ignored, no work done.
    Vanish,
    /// Descriptor fetches fault (as if the ring were not mapped): the device stops the queue.
    FaultReads,
    /// The checksum statuses (IP, L4) replaced.
    Status(CsumStatus, CsumStatus),
    /// The phase bit inverted: the entry looks old to the driver.
    FlipPhase,
    /// The entry turned into an error completion (this `ERROR` code) and written into every
    /// slot of its completion ring, each one a new-looking entry for the next ring index: a
    /// whole completion ring of work waiting at once, most of it for buffers never posted.
    Flood(u8),
}

/// Entries of the work rings [`Lie::Flood`] numbers its entries for (the rigs' [`tiny_rings`]).
const FLOOD_RING_ENTRIES: u64 = 8;

/// Which completions to lie about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Tx,
    Rx,
}

#[derive(Debug)]
struct Plan {
    lie: Option<Lie>,
    which: Which,
    /// Completions of that kind to let through first.
    skip: u32,
    /// Completions to lie about (then behave).
    count: u32,
    silent: bool,
    lies_told: u32,
}

type Control = Arc<Mutex<Plan>>;

/// A device core that corrupts its completions as its plan says.
struct Misbehaving {
    inner: Box<dyn DeviceCore>,
    plan: Control,
    cqs: u32,
}

struct LyingDma<'a> {
    inner: &'a mut dyn Dma,
    plan: &'a Control,
    /// (base, entries) of every enabled completion ring.
    rings: &'a [(u64, u64)],
}

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

fn put(e: &mut [u8; 32], f: hw_spec::layout::BitField, v: u64) {
    f.set_le(e, v);
}

impl Dma for LyingDma<'_> {
    fn read(&mut self, iova: u64, buf: &mut [u8]) -> Result<(), DmaFault> {
        let mut plan = self.plan.lock().unwrap();
        if plan.lie == Some(Lie::FaultReads) && plan.count > 0 {
            plan.count -= 1;
            plan.lies_told += 1;
            return Err(DmaFault { iova });
        }
        drop(plan);
        self.inner.read(iova, buf)
    }

    fn check(&mut self, iova: u64, len: u64) -> Result<(), DmaFault> {
        self.inner.check(iova, len)
    }

    fn write(&mut self, iova: u64, data: &[u8]) -> Result<(), DmaFault> {
        let ring = self
            .rings
            .iter()
            .find(|(base, n)| iova >= *base && iova < base + n * cpl::SIZE as u64);
        let (Some(&(base, entries)), Ok(entry)) = (ring, <[u8; 32]>::try_from(data)) else {
            return self.inner.write(iova, data);
        };
        let mut plan = self.plan.lock().unwrap();
        let is_rx = cpl::RX.get_le(&entry) == 1;
        let ours = matches!((plan.which, is_rx), (Which::Rx, true) | (Which::Tx, false));
        let Some(lie) = plan.lie.filter(|_| ours && plan.count > 0) else {
            return self.inner.write(iova, data);
        };
        if plan.skip > 0 {
            plan.skip -= 1;
            return self.inner.write(iova, data);
        }
        plan.count -= 1;
        plan.lies_told += 1;
        let mut e = entry;
        match lie {
            Lie::ShiftIndex(n) => {
                let i = cpl::INDEX.get_le(&e) as u16;
                put(&mut e, cpl::INDEX, i.wrapping_add(n).into());
            }
            Lie::Length(l) => put(&mut e, cpl::LEN, l.into()),
            Lie::ReservedBit => e[26] |= 0x10,
            Lie::Error(code) => {
                put(&mut e, cpl::ERROR, code.into());
                put(&mut e, cpl::SEGMENTS, 0);
            }
            Lie::Queue(q) => put(&mut e, cpl::QUEUE, q.into()),
            Lie::FlipKind => e[31] ^= 0x01,
            Lie::DescCount(n) => put(&mut e, cpl::DESC_COUNT, n.into()),
            Lie::Segments(n) => put(&mut e, cpl::SEGMENTS, n.into()),
            Lie::FlipPhase => e[31] ^= 0x80,
            Lie::Status(ip, l4) => {
                put(&mut e, cpl::IP_CSUM, ip.bits().into());
                put(&mut e, cpl::L4_CSUM, l4.bits().into());
            }
            Lie::Duplicate => {
                self.inner.write(iova, &e)?;
                let slot = (iova - base) / cpl::SIZE as u64;
                let next = (slot + 1) % entries;
                let mut dup = e;
                if next == 0 {
                    dup[31] ^= 0x80; // the next pass has the other phase
                }
                return self.inner.write(base + next * cpl::SIZE as u64, &dup);
            }
            Lie::Flood(code) => {
                put(&mut e, cpl::ERROR, code.into());
                put(&mut e, cpl::SEGMENTS, 0);
                let slot = (iova - base) / cpl::SIZE as u64;
                let index = cpl::INDEX.get_le(&e);
                for k in 0..entries {
                    let mut copy = e;
                    put(&mut copy, cpl::INDEX, (index + k) % FLOOD_RING_ENTRIES);
                    let at = slot + k;
                    if at >= entries {
                        copy[31] ^= 0x80; // the next pass has the other phase
                    }
                    self.inner
                        .write(base + (at % entries) * cpl::SIZE as u64, &copy)?;
                }
                return Ok(());
            }
            Lie::Random(seed) => {
                let mut s = seed.wrapping_add(u64::from(plan.lies_told)) | 1;
                for chunk in e[..31].chunks_mut(8) {
                    let r = xorshift(&mut s).to_le_bytes();
                    chunk.copy_from_slice(&r[..chunk.len()]);
                }
                e[31] = (e[31] & 0x80) | (xorshift(&mut s) as u8 & 0x7F);
            }
            Lie::Silence | Lie::FaultReads | Lie::Vanish => unreachable!("handled elsewhere"),
        }
        self.inner.write(iova, &e)
    }
}

impl Misbehaving {
    fn rings(&mut self) -> Vec<(u64, u64)> {
        (0..self.cqs)
            .filter_map(|i| {
                let mut r = |reg| self.inner.mmio_read(cq_regs::reg_addr(i, reg));
                let status = r(&queue::STATUS);
                if queue::STATUS_ENABLED.get32(status) == 0 {
                    return None;
                }
                let base = u64::from(r(&queue::BASE_LO)) | (u64::from(r(&queue::BASE_HI)) << 32);
                Some((base, 1u64 << queue::STATUS_LOG2_SIZE.get32(status)))
            })
            .collect()
    }

    /// Makes every register read all ones when the plan says the device vanishes.
    fn vanish(&self, image: &mut dyn RegisterImage) {
        let mut p = self.plan.lock().unwrap();
        if p.lie == Some(Lie::Vanish) && p.count > 0 && !p.silent {
            p.silent = true;
            p.lies_told += 1;
            image.begin_batch();
            for offset in (0..hw_spec::regs::BAR0_SIZE).step_by(4) {
                image.store(offset, u32::MAX);
            }
            image.end_batch();
        }
    }

    fn silent(&self) -> bool {
        let mut p = self.plan.lock().unwrap();
        if p.lie == Some(Lie::Silence) && p.count > 0 {
            p.silent = true;
        }
        p.silent
    }
}

macro_rules! lying_io {
    ($io:expr, $dma:expr) => {
        DeviceIo {
            dma: $dma,
            wire: &mut *$io.wire,
            irq: &mut *$io.irq,
            image: &mut *$io.image,
            now_ns: $io.now_ns,
        }
    };
}

impl DeviceCore for Misbehaving {
    fn implementation(&self) -> Implementation {
        self.inner.implementation()
    }

    fn publish_image(&mut self, image: &mut dyn RegisterImage) {
        self.inner.publish_image(image)
    }

    fn mmio_write(&mut self, offset: u32, value: u32, io: &mut DeviceIo<'_>) {
        self.vanish(io.image);
        if self.silent() {
            return;
        }
        let rings = self.rings();
        let mut dma = LyingDma {
            inner: &mut *io.dma,
            plan: &self.plan,
            rings: &rings,
        };
        self.inner
            .mmio_write(offset, value, &mut lying_io!(io, &mut dma));
    }

    fn mmio_read(&mut self, offset: u32) -> u32 {
        self.inner.mmio_read(offset)
    }

    fn report_bad_read(&mut self, offset: u32, io: &mut DeviceIo<'_>) {
        self.inner.report_bad_read(offset, io)
    }

    fn step(&mut self, io: &mut DeviceIo<'_>, budget: u32) -> StepReport {
        self.vanish(io.image);
        if self.silent() {
            return StepReport::default();
        }
        let rings = self.rings();
        let mut dma = LyingDma {
            inner: &mut *io.dma,
            plan: &self.plan,
            rings: &rings,
        };
        self.inner.step(&mut lying_io!(io, &mut dma), budget)
    }
}

/// A stepped cable pair whose NICs may lie; the drivers of both, started, with small rings.
struct Rig {
    a: SteppedNic,
    b: SteppedNic,
    plan_a: Control,
    plan_b: Control,
    _na: Nic<SimDevice>,
    _nb: Nic<SimDevice>,
    tx: QueuePair<SimDevice>,
    rx: QueuePair<SimDevice>,
}

fn plan() -> Control {
    Arc::new(Mutex::new(Plan {
        lie: None,
        which: Which::Tx,
        skip: 0,
        count: 0,
        silent: false,
        lies_told: 0,
    }))
}

/// The lies are the wrapper's, so one backend underneath is enough: the first.
fn rig() -> Rig {
    rig_with(NicConfig::default())
}

/// [`rig`] with the drivers opened with `ncfg` (its timeout shortened).
fn rig_with(ncfg: NicConfig) -> Rig {
    let backend = BACKENDS[0];
    {
        let cfg = DeviceConfig::REFERENCE;
        let (ca, cb) = CableEnd::pair(&CableConfig::default()).unwrap();
        let (plan_a, plan_b) = (plan(), plan());
        let lying = |p: &Control| -> Box<dyn DeviceCore> {
            Box::new(Misbehaving {
                inner: core(backend, cfg),
                plan: Arc::clone(p),
                cqs: cfg.completion_queues.into(),
            })
        };
        let a = sim_nic(lying(&plan_a), cfg.irq_vectors, Box::new(ca)).into_stepped();
        let b = sim_nic(lying(&plan_b), cfg.irq_vectors, Box::new(cb)).into_stepped();
        let ncfg = NicConfig {
            timeout: Duration::from_millis(300),
            ..ncfg
        };
        let na = Nic::open(stepped_device(&a), ncfg.clone()).unwrap();
        let nb = Nic::open(stepped_device(&b), ncfg).unwrap();
        let tx = na.open_queue_pair(0, &tiny_rings()).unwrap();
        let rx = nb.open_queue_pair(0, &tiny_rings()).unwrap();
        na.start().unwrap();
        nb.start().unwrap();
        Rig {
            a,
            b,
            plan_a,
            plan_b,
            _na: na,
            _nb: nb,
            tx,
            rx,
        }
    }
}

impl Rig {
    fn lie(&self, which: Which, lie: Lie, skip: u32, count: u32) {
        let p = match which {
            Which::Tx => &self.plan_a,
            Which::Rx => &self.plan_b,
        };
        let mut p = p.lock().unwrap();
        p.lie = Some(lie);
        p.which = which;
        p.skip = skip;
        p.count = count;
    }

    fn lies_told(&self, which: Which) -> u32 {
        match which {
            Which::Tx => self.plan_a.lock().unwrap().lies_told,
            Which::Rx => self.plan_b.lock().unwrap().lies_told,
        }
    }

    /// Sends frames `first..first + n` (payload 20 bytes, checksums offloaded).
    fn send(&mut self, first: u32, n: u32) {
        assert_eq!(self.offer(first, n), n as usize);
    }

    /// Offers frames `first..first + n` to the TX ring; returns how many it took.
    fn offer(&mut self, first: u32, n: u32) -> usize {
        let mut batch = PacketBatch::with_capacity(n as usize);
        for i in first..first + n {
            batch
                .push(packet(
                    &self.tx,
                    &frame(i, 20),
                    TxOffloadRequest::tcp_checksums(14, 20),
                ))
                .unwrap();
        }
        let took = self.tx.tx_burst(&mut batch);
        settle(&self.a, &self.b);
        took
    }

    /// The sequence numbers of everything received.
    fn receive(&mut self) -> Vec<u32> {
        self.receive_with_status()
            .into_iter()
            .map(|(seq, _)| seq)
            .collect()
    }

    /// The sequence numbers of everything received, with the checksum statuses (IP, L4) the
    /// driver handed out.
    fn receive_with_status(&mut self) -> Vec<(u32, (CsumStatus, CsumStatus))> {
        let mut got = PacketBatch::with_capacity(64);
        self.rx.rx_burst(&mut got);
        got.iter()
            .map(|p| {
                // A lying length may cut a frame short of its sequence number.
                let seq = if p.len() >= frame(0, 0).len() {
                    seq_of(p.data())
                } else {
                    u32::MAX
                };
                (seq, (p.rx_info().ip_csum, p.rx_info().l4_csum))
            })
            .collect()
    }

    /// Buffers of the RX side's pool that are neither free nor in its RX ring: none once the
    /// application holds no packet.
    fn rx_buffers_unaccounted(&self) -> i64 {
        unaccounted(&self.rx)
    }
}

/// Buffers of `qp`'s pool that are neither free, nor in its RX ring, nor in flight on its TX
/// ring.
fn unaccounted(qp: &QueuePair<SimDevice>) -> i64 {
    i64::from(qp.pool().capacity())
        - i64::from(qp.pool().free_count())
        - i64::from(qp.rx_in_ring())
        - i64::from(qp.tx_in_flight())
}

fn fault_of(qp: &QueuePair<SimDevice>) -> (Direction, FaultKind) {
    let f = qp.fault().expect("a fault is recorded");
    (f.direction, f.kind)
}

#[test]
fn rx_completion_for_an_index_never_posted() {
    let mut r = rig();
    r.lie(Which::Rx, Lie::ShiftIndex(5), 0, 1);
    r.send(0, 3);
    let got = r.receive();
    assert!(got.is_empty(), "nothing is handed out on a lie: {got:?}");
    assert_eq!(fault_of(&r.rx), (Direction::Rx, FaultKind::BadIndex));
    let m = r.rx.stats().misbehaviour;
    assert_eq!(
        m.bad_index, 3,
        "the lie, then the two true completions out of step"
    );
    assert!(r.rx.health().is_err());
    let e = r.rx.health().unwrap_err().to_string();
    assert!(
        e.contains("RX queue 0") && e.contains("expected ring index 0"),
        "{e}"
    );
    // Recovery: the queue pair is reprogrammed and works again.
    r.rx.recover().unwrap();
    assert_eq!(r.rx_buffers_unaccounted(), 0);
    r.send(10, 3);
    assert_eq!(r.receive(), [10, 11, 12]);
}

#[test]
fn rx_length_beyond_the_buffer_or_zero() {
    for len in [4096, 0, u32::MAX] {
        let mut r = rig();
        r.lie(Which::Rx, Lie::Length(len), 1, 1);
        r.send(0, 3);
        assert_eq!(
            r.receive(),
            [0, 2],
            "the frame with the impossible length is dropped"
        );
        assert_eq!(fault_of(&r.rx), (Direction::Rx, FaultKind::BadLength));
        assert_eq!(r.rx.stats().misbehaviour.bad_length, 1);
        assert_eq!(
            r.rx_buffers_unaccounted(),
            0,
            "its buffer went back to the pool"
        );
        r.send(3, 2);
        assert_eq!(r.receive(), [3, 4]);
    }
}

#[test]
fn undecodable_completions() {
    for lie in [Lie::ReservedBit, Lie::Error(0xEE), Lie::Error(13)] {
        let mut r = rig();
        r.lie(Which::Rx, lie, 0, 1);
        r.send(0, 2);
        assert!(r.receive().is_empty());
        assert_eq!(
            fault_of(&r.rx),
            (Direction::Rx, FaultKind::Undecodable),
            "{lie:?}"
        );
        assert_eq!(r.rx.stats().misbehaviour.undecodable, 1);
        r.rx.recover().unwrap();
        r.send(5, 1);
        assert_eq!(r.receive(), [5]);

        let mut r = rig();
        r.lie(Which::Tx, lie, 0, 1);
        r.send(0, 1);
        r.tx.reclaim_tx();
        assert_eq!(
            fault_of(&r.tx),
            (Direction::Tx, FaultKind::Undecodable),
            "{lie:?}"
        );
        assert_eq!(
            r.tx.tx_in_flight(),
            1,
            "the request stays in flight: nothing is freed"
        );
    }
}

#[test]
fn impossible_checksum_statuses_are_never_trusted() {
    use CsumStatus::{Bad, Good, None as Nothing, Unknown};
    // (receive checksum verification enabled, IP status, L4 status) that hw-spec 7.1 never
    // produces: statuses while verification is off, UNKNOWN while it is on, an L4 verdict
    // under an IP header that is bad or absent.
    let impossible = [
        (true, Bad, Good),
        (true, Bad, Bad),
        (true, Nothing, Good),
        (true, Unknown, Good),
        (true, Good, Unknown),
        (false, Good, Good),
        (false, Unknown, Good),
        (false, Bad, Nothing),
    ];
    for (csum, ip, l4) in impossible {
        let mut r = rig_with(NicConfig {
            rx_checksum: csum,
            ..NicConfig::default()
        });
        r.lie(Which::Rx, Lie::Status(ip, l4), 1, 1);
        r.send(0, 3);
        let honest = if csum {
            (Good, Good)
        } else {
            (Unknown, Unknown)
        };
        assert_eq!(
            r.receive_with_status(),
            [(0, honest), (1, (Unknown, Unknown)), (2, honest)],
            "{csum} {ip:?} {l4:?}: the frame is delivered for the stack to verify itself"
        );
        assert_eq!(
            fault_of(&r.rx),
            (Direction::Rx, FaultKind::BadRxStatus),
            "{csum} {ip:?} {l4:?}"
        );
        assert_eq!(r.rx.stats().misbehaviour.bad_rx_status, 1);
        assert_eq!(r.rx.stats().misbehaviour.total(), 1);
        let e = r.rx.health().unwrap_err().to_string();
        assert!(e.contains("checksum status"), "{e}");
        assert_eq!(r.rx_buffers_unaccounted(), 0);
    }
    // What hw-spec 7.1 can say passes untouched.
    for (ip, l4) in [
        (Good, Bad),
        (Bad, Nothing),
        (Nothing, Nothing),
        (Good, Nothing),
    ] {
        let mut r = rig();
        r.lie(Which::Rx, Lie::Status(ip, l4), 0, 1);
        r.send(0, 1);
        assert_eq!(r.receive_with_status(), [(0, (ip, l4))]);
        assert!(r.rx.fault().is_none(), "{ip:?} {l4:?}");
    }
}

#[test]
fn error_completions_are_counted_not_faults() {
    let mut r = rig();
    r.lie(Which::Rx, Lie::Error(ErrorCode::DmaFault as u8), 1, 1);
    r.send(0, 3);
    assert_eq!(r.receive(), [0, 2]);
    assert_eq!(r.rx.stats().rx_errors.get(ErrorCode::DmaFault), 1);
    assert!(r.rx.fault().is_none());
    assert_eq!(r.rx_buffers_unaccounted(), 0);

    r.lie(Which::Tx, Lie::Error(ErrorCode::BadFlags as u8), 0, 1);
    r.send(10, 2);
    let free = r.tx.pool().free_count();
    r.tx.flush_tx(WAIT).unwrap();
    assert_eq!(r.tx.pool().free_count(), free + 2);
    assert_eq!(r.tx.stats().tx_errors.get(ErrorCode::BadFlags), 1);
    assert_eq!(r.tx.stats().tx_packets, 1 + 3);
    assert!(r.tx.fault().is_none());
}

#[test]
fn tx_reports_that_do_not_match_the_request() {
    for lie in [Lie::Length(9999), Lie::Segments(7), Lie::Segments(0)] {
        let mut r = rig();
        r.lie(Which::Tx, lie, 0, 1);
        r.send(0, 2);
        r.tx.flush_tx(WAIT).unwrap();
        assert_eq!(
            fault_of(&r.tx),
            (Direction::Tx, FaultKind::BadTxReport),
            "{lie:?}"
        );
        assert_eq!(r.tx.stats().misbehaviour.bad_tx_report, 1);
        assert_eq!(
            r.tx.tx_in_flight(),
            0,
            "the request was still in order: freed"
        );
    }
}

#[test]
fn wrong_queue_kind_and_descriptor_count() {
    let cases = [
        (Lie::Queue(3), FaultKind::WrongQueue),
        (Lie::FlipKind, FaultKind::WrongKind),
        (Lie::DescCount(2), FaultKind::BadDescCount),
        (Lie::DescCount(0), FaultKind::BadDescCount),
    ];
    for (lie, kind) in cases {
        for which in [Which::Tx, Which::Rx] {
            let mut r = rig();
            r.lie(which, lie, 0, 1);
            r.send(0, 1);
            r.tx.reclaim_tx();
            let got = r.receive();
            let qp = if which == Which::Tx { &r.tx } else { &r.rx };
            let dir = if which == Which::Tx {
                Direction::Tx
            } else {
                Direction::Rx
            };
            assert_eq!(fault_of(qp), (dir, kind), "{lie:?} {which:?}");
            assert_eq!(qp.stats().misbehaviour.total(), 1);
            if which == Which::Rx {
                assert!(got.is_empty());
            }
        }
    }
}

#[test]
fn tx_completion_for_an_index_never_posted_then_a_bounded_drain_and_recovery() {
    let mut r = rig();
    r.lie(Which::Tx, Lie::ShiftIndex(3), 0, 1);
    r.send(0, 2);
    assert_eq!(
        r.receive(),
        [0, 1],
        "the frames went out; only the report lies"
    );
    let start = Instant::now();
    let e = r.tx.flush_tx(Duration::from_millis(200)).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(e.kind(), DeviceErrorKind::Timeout);
    assert!(e.to_string().contains("2 requests still in flight"), "{e}");
    assert_eq!(fault_of(&r.tx), (Direction::Tx, FaultKind::BadIndex));
    let free = r.tx.pool().free_count();
    r.tx.recover().unwrap();
    assert_eq!(
        r.tx.pool().free_count(),
        free + 2,
        "buffers in flight are back"
    );
    r.send(5, 2);
    r.tx.flush_tx(WAIT).unwrap();
    assert_eq!(r.receive(), [5, 6]);
}

#[test]
fn duplicate_completions() {
    let mut r = rig();
    r.lie(Which::Tx, Lie::Duplicate, 0, 1);
    r.send(0, 1);
    r.tx.reclaim_tx();
    assert_eq!(fault_of(&r.tx), (Direction::Tx, FaultKind::NotPosted));
    assert_eq!(
        r.tx.stats().tx_packets,
        1,
        "the real completion counted once"
    );

    // The duplicate claims the buffer just completed; the driver has moved on to the next.
    let mut r = rig();
    r.lie(Which::Rx, Lie::Duplicate, 0, 1);
    r.send(0, 1);
    assert_eq!(r.receive(), [0]);
    assert_eq!(fault_of(&r.rx), (Direction::Rx, FaultKind::BadIndex));
    assert_eq!(
        r.rx_buffers_unaccounted(),
        0,
        "no buffer was handed out twice"
    );
}

#[test]
fn random_completions_never_panic_and_never_leak_buffers() {
    for seed in 1..=40u64 {
        let mut r = rig();
        r.lie(
            Which::Rx,
            Lie::Random(seed * 7919),
            (seed % 3) as u32,
            1 + (seed % 4) as u32,
        );
        r.lie(
            Which::Tx,
            Lie::Random(seed * 104_729),
            (seed % 2) as u32,
            1 + (seed % 3) as u32,
        );
        for round in 0..4 {
            // A lie can leave requests in flight for good: the ring may fill.
            r.offer(round * 4, 4);
            let _ = r.receive();
            r.tx.reclaim_tx();
        }
        assert!(r.lies_told(Which::Rx) > 0 && r.lies_told(Which::Tx) > 0);
        let told = r.tx.stats().misbehaviour.total() + r.rx.stats().misbehaviour.total();
        let errors = r.tx.stats().tx_errors.total() + r.rx.stats().rx_errors.total();
        assert!(
            told + errors > 0,
            "seed {seed}: random entries went unnoticed"
        );
        assert_eq!(r.rx_buffers_unaccounted(), 0, "seed {seed}");
        r.rx.recover().unwrap();
        r.tx.recover().unwrap();
        assert_eq!(unaccounted(&r.tx), 0, "seed {seed}");
        r.send(100, 3);
        assert_eq!(r.receive(), [100, 101, 102], "seed {seed}");
    }
}

#[test]
fn a_queue_the_device_stops_on_a_fault_is_reported_and_recovered() {
    let mut r = rig();
    r.rx.check_queues().unwrap();
    // The next descriptor fetch of NIC B (its RX queue's, for the first frame) faults.
    r.lie(Which::Rx, Lie::FaultReads, 0, 1);
    r.send(0, 2);
    assert!(r.receive().is_empty(), "the device dropped the frames");
    let e = r.rx.check_queues().unwrap_err().to_string();
    assert!(
        e.contains("RX queue 0: the device stopped it on a DMA fault"),
        "{e}"
    );
    assert!(
        e.contains("DMA_FAULT") && e.contains("fix: QueuePair::recover"),
        "{e}"
    );
    r.rx.recover().unwrap();
    r.rx.check_queues().unwrap();
    assert_eq!(r.rx_buffers_unaccounted(), 0);
    r.send(2, 2);
    assert_eq!(r.receive(), [2, 3]);
}

#[test]
fn a_silent_device_ends_in_timeouts() {
    let mut r = rig();
    r.send(0, 1);
    r.tx.flush_tx(WAIT).unwrap();
    assert_eq!(r.receive(), [0]);
    r.lie(Which::Tx, Lie::Silence, 0, 1);
    r.lie(Which::Rx, Lie::Silence, 0, 1);
    let start = Instant::now();
    let mut batch = PacketBatch::with_capacity(2);
    batch
        .push(packet(&r.tx, &frame(1, 1), TxOffloadRequest::NONE))
        .unwrap();
    assert_eq!(r.tx.tx_burst(&mut batch), 1);
    settle(&r.a, &r.b);
    let e = r.tx.flush_tx(Duration::from_millis(200)).unwrap_err();
    assert_eq!(e.kind(), DeviceErrorKind::Timeout);
    assert!(!r.rx.wait_rx(Duration::from_millis(100)).unwrap());
    let e = r.rx.recover().unwrap_err();
    assert!(e.to_string().contains("did not stop"), "{e}");
    drop(r);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_device_that_reads_all_ones_is_not_responding_everywhere() {
    let mut r = rig();
    r.send(0, 1);
    assert_eq!(r.receive(), [0]);
    r.lie(Which::Rx, Lie::Vanish, 0, 1);
    settle(&r.a, &r.b);
    assert_eq!(r.lies_told(Which::Rx), 1);
    let start = Instant::now();
    let gone = |what: &str, e: host_driver::DeviceError| {
        let text = e.to_string();
        assert_eq!(e.kind(), DeviceErrorKind::Timeout, "{what}: {text}");
        assert!(
            text.contains("0xffffffff") && text.contains("not responding"),
            "{what}: {text}"
        );
        assert!(e.fix().is_some(), "{what}: {text}");
    };
    // Every MMIO path of the driver says so, none takes the ones for state or counters.
    gone(
        "check_queues",
        r.rx.check_queues()
            .expect_err("a gone device has no queue running"),
    );
    gone(
        "device_counters",
        r.rx.device_counters()
            .expect_err("a gone device has no counters"),
    );
    gone(
        "device_stats",
        r._nb
            .device_stats()
            .expect_err("a gone device has no counters"),
    );
    gone(
        "check_errors",
        r._nb
            .check_errors()
            .expect_err("a gone device is not error-free"),
    );
    gone(
        "start",
        r._nb.start().expect_err("a gone device cannot be started"),
    );
    gone("stop", r._nb.stop().expect_err("nor stopped"));
    gone("recover", r.rx.recover().expect_err("nor recovered"));
    // The hot path never reads a register: it sees nothing, and the pool is intact.
    assert!(r.receive().is_empty());
    assert_eq!(r.rx_buffers_unaccounted(), 0);
    drop(r);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_completion_with_the_wrong_phase_is_never_seen_and_the_wait_is_bounded() {
    let mut r = rig();
    r.lie(Which::Rx, Lie::FlipPhase, 1, 1);
    r.lie(Which::Tx, Lie::FlipPhase, 1, 1);
    r.send(0, 3);
    // The driver stops at the entry that does not look new: frame 0 only, and nothing after.
    assert_eq!(r.receive(), [0]);
    let start = Instant::now();
    assert!(!r.rx.wait_rx(Duration::from_millis(100)).unwrap());
    let e = r.tx.flush_tx(Duration::from_millis(100)).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(e.kind(), DeviceErrorKind::Timeout);
    assert!(e.to_string().contains("2 requests still in flight"), "{e}");
    // Nothing was misread: no fault, no buffer handed out twice or lost.
    assert!(r.rx.fault().is_none() && r.tx.fault().is_none());
    assert_eq!(r.rx.stats().rx_packets, 1);
    assert_eq!(r.rx_buffers_unaccounted(), 0);
    assert_eq!(unaccounted(&r.tx), 0);
    r.rx.recover().unwrap();
    r.tx.recover().unwrap();
    assert_eq!(r.rx_buffers_unaccounted(), 0);
    assert_eq!(r.tx.tx_in_flight(), 0);
    r.send(10, 3);
    r.tx.flush_tx(WAIT).unwrap();
    assert_eq!(r.receive(), [10, 11, 12]);
}

/// A device that fills a whole completion ring with new-looking entries at once (error
/// completions, then entries for buffers never posted) cannot hold the driver in one call for
/// more than a ring's worth of entries: no honest device has more waiting, since one call posts
/// nothing new. The rest waits for the next call; every entry is counted, no buffer is lost.
/// (A device writing as fast as the driver reads is the unbounded case of the same loop; the
/// bound is what ends it.)
#[test]
fn a_completion_ring_full_of_entries_is_taken_at_most_a_ring_per_call() {
    let ring = FLOOD_RING_ENTRIES;
    assert_eq!(
        tiny_rings().rx_ring_log2,
        3,
        "the flood numbers entries for 8-entry rings"
    );
    // Each counted entry: a frame, an error completion or a fault.
    let seen = |qp: &QueuePair<SimDevice>| {
        let s = qp.stats();
        s.rx_packets
            + s.rx_errors.total()
            + s.tx_packets
            + s.tx_errors.total()
            + s.misbehaviour.total()
    };

    let mut r = rig();
    r.lie(Which::Rx, Lie::Flood(ErrorCode::DmaFault as u8), 0, 1);
    r.send(0, 1);
    assert_eq!(r.lies_told(Which::Rx), 1);
    assert!(r.receive().is_empty());
    let first = seen(&r.rx);
    assert!(
        first <= ring,
        "one rx_burst took {first} completion entries, more than the RX ring's {ring}"
    );
    assert_eq!(first, ring, "a ring's worth is taken at once");
    assert!(r.receive().is_empty());
    assert_eq!(
        seen(&r.rx),
        2 * ring,
        "the next call takes the rest of the completion ring"
    );
    assert_eq!(r.rx_buffers_unaccounted(), 0);
    r.rx.recover().unwrap();
    r.send(10, 2);
    assert_eq!(r.receive(), [10, 11]);

    let mut r = rig();
    r.lie(Which::Tx, Lie::Flood(ErrorCode::BadFlags as u8), 0, 1);
    r.send(0, 1);
    assert_eq!(r.lies_told(Which::Tx), 1);
    assert_eq!(r.receive(), [0], "the frame went out; only its report lies");
    let first = r.tx.reclaim_tx() as u64;
    assert!(
        first <= ring,
        "one reclaim_tx took {first} completion entries, more than the TX ring's {ring}"
    );
    assert_eq!(seen(&r.tx), first, "every entry taken is counted");
    let second = r.tx.reclaim_tx() as u64;
    assert_eq!(first + second, 2 * ring, "the next call takes the rest");
    assert_eq!(r.tx.stats().tx_errors.get(ErrorCode::BadFlags), 1);
    assert_eq!((unaccounted(&r.tx), r.tx.tx_in_flight()), (0, 0));
    r.tx.recover().unwrap();
    r.send(20, 2);
    r.tx.flush_tx(WAIT).unwrap();
    assert_eq!(r.receive(), [20, 21]);
}

/// A seeded mix of every kind of lie (one kind per direction and seed, at a random point, for a
/// random number of completions), with traffic in rounds: whatever happens, nothing panics or
/// hangs, a recorded fault is a typed error naming the queue pair, no buffer is lost or handed
/// out twice, and after `recover` the pair carries traffic again.
#[test]
fn random_lies_of_every_kind_keep_the_pools_exact_and_recover() {
    use CsumStatus::{Bad, Good};
    let lies = |r: &mut u64| -> Lie {
        match xorshift(r) % 12 {
            0 => Lie::ShiftIndex(1 + (xorshift(r) % 20) as u16),
            1 => Lie::Length([0, 1, 4096, u32::MAX][(xorshift(r) % 4) as usize]),
            2 => Lie::ReservedBit,
            3 => Lie::Error((xorshift(r) % 32) as u8),
            4 => Lie::Queue(1 + (xorshift(r) % 3) as u16),
            5 => Lie::FlipKind,
            6 => Lie::DescCount((xorshift(r) % 4) as u8),
            7 => Lie::Segments((xorshift(r) % 4) as u16),
            8 => Lie::Duplicate,
            9 => Lie::FlipPhase,
            10 => Lie::Status(Bad, Good),
            _ => Lie::Random(xorshift(r)),
        }
    };
    let (mut told, mut faulted) = (0, 0);
    for seed in 1..=48u64 {
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut r = rig();
        let (rx_lie, tx_lie) = (lies(&mut rng), lies(&mut rng));
        r.lie(
            Which::Rx,
            rx_lie,
            (xorshift(&mut rng) % 4) as u32,
            1 + (xorshift(&mut rng) % 3) as u32,
        );
        r.lie(
            Which::Tx,
            tx_lie,
            (xorshift(&mut rng) % 4) as u32,
            1 + (xorshift(&mut rng) % 3) as u32,
        );
        let what = format!("seed {seed}: RX {rx_lie:?}, TX {tx_lie:?}");
        for round in 0..5 {
            r.offer(round * 4, 4);
            let _ = r.receive();
            r.tx.reclaim_tx();
            assert_eq!(r.rx_buffers_unaccounted(), 0, "{what}");
            assert_eq!(unaccounted(&r.tx), 0, "{what}");
        }
        told += r.lies_told(Which::Rx) + r.lies_told(Which::Tx);
        for qp in [&r.tx, &r.rx] {
            if let Some(f) = qp.fault() {
                faulted += 1;
                let e = qp.health().expect_err("a fault is unhealthy");
                assert_eq!(e.kind(), DeviceErrorKind::DeviceMisbehaved, "{what}");
                assert!(e.to_string().contains(&f.to_string()), "{what}: {e}");
                assert!(e.fix().is_some(), "{what}");
            }
        }
        r.rx.recover().unwrap();
        r.tx.recover().unwrap();
        assert_eq!(r.rx_buffers_unaccounted(), 0, "{what}");
        assert_eq!((unaccounted(&r.tx), r.tx.tx_in_flight()), (0, 0), "{what}");
        // The lie may not all have been told yet: take whatever is left of it out of play.
        r.lie(Which::Rx, Lie::ReservedBit, 0, 0);
        r.lie(Which::Tx, Lie::ReservedBit, 0, 0);
        r.send(100, 3);
        r.tx.flush_tx(WAIT).unwrap();
        assert_eq!(r.receive(), [100, 101, 102], "{what}");
        assert_eq!(
            r.tx.pool().free_count() + u32::from(r.tx.rx_in_ring()),
            r.tx.pool().capacity(),
            "{what}"
        );
    }
    assert!(
        told >= 100 && faulted >= 30,
        "the lies were told ({told}) and caught ({faulted} faults)"
    );
}
