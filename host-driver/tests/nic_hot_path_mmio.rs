//! The hot path touches the device's registers only to write doorbells: `tx_burst`, `rx_burst`
//! (with its refills) and `reclaim_tx` read completions from host memory by their phase bit and
//! never read a register (an MMIO read is a PCIe round trip, about a microsecond). Every
//! register access of the driver goes through a counting [`DeviceAccess`] wrapper; over many
//! bursts the reads must stay at zero, and the writes must be exactly the doorbells and
//! completion-queue returns the queues' statistics report: one TX doorbell per burst.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use host_driver::nic::{PacketBatch, QueueStats};
use host_driver::{
    DeviceAccess, DeviceError, DmaConstraints, DmaRegion, InterruptEvent, Nic, NicConfig,
    QueueConfig, QueuePair, RegisterError, ResetOutcome, SimDevice,
};
use hw_spec::TxOffloadRequest;
use rtl_sim::device::DeviceConfig;
use support::*;

/// Register accesses seen by one [`Counting`] device.
#[derive(Default)]
struct Tally {
    reads: AtomicU64,
    writes: AtomicU64,
}

impl Tally {
    fn get(&self) -> (u64, u64) {
        (
            self.reads.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }
}

/// A simulated device whose register accesses are counted; everything else is forwarded.
struct Counting {
    inner: SimDevice,
    tally: Arc<Tally>,
}

impl DeviceAccess for Counting {
    fn location(&self) -> &str {
        self.inner.location()
    }
    fn bar0_len(&self) -> usize {
        self.inner.bar0_len()
    }
    fn read32(&self, offset: usize) -> Result<u32, RegisterError> {
        self.tally.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.read32(offset)
    }
    fn write32(&self, offset: usize, value: u32) -> Result<(), RegisterError> {
        self.tally.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.write32(offset, value)
    }
    fn dma_constraints(&self) -> DmaConstraints {
        self.inner.dma_constraints()
    }
    fn alloc_dma(&self, len: usize) -> Result<DmaRegion, DeviceError> {
        self.inner.alloc_dma(len)
    }
    fn max_interrupt_vectors(&self) -> u32 {
        self.inner.max_interrupt_vectors()
    }
    fn enable_interrupts(&mut self, count: u32) -> Result<(), DeviceError> {
        self.inner.enable_interrupts(count)
    }
    fn disable_interrupts(&mut self) -> Result<(), DeviceError> {
        self.inner.disable_interrupts()
    }
    fn interrupt(&self, vector: u32) -> Option<&InterruptEvent> {
        self.inner.interrupt(vector)
    }
    fn wait_interrupt(&self, vector: u32, timeout: Duration) -> Result<u64, DeviceError> {
        self.inner.wait_interrupt(vector, timeout)
    }
    fn relax(&self, attempt: u32) {
        self.inner.relax(attempt)
    }
    fn failure(&self) -> Option<String> {
        self.inner.failure()
    }
    fn reset(&mut self) -> Result<ResetOutcome, DeviceError> {
        self.inner.reset()
    }
    fn quiesce(&mut self) -> Result<(), DeviceError> {
        self.inner.quiesce()
    }
}

fn counting(dev: SimDevice) -> (Counting, Arc<Tally>) {
    let tally = Arc::new(Tally::default());
    (
        Counting {
            inner: dev,
            tally: Arc::clone(&tally),
        },
        tally,
    )
}

/// Hot-path register writes a queue pair's statistics account for.
fn doorbell_writes(s: &QueueStats) -> u64 {
    s.tx_doorbells + s.rx_doorbells + s.cq_returns
}

#[test]
fn bursts_read_no_register_and_write_only_doorbells() {
    const ROUNDS: u64 = 200;
    const BURST: u32 = 32;
    for &backend in BACKENDS {
        let (a, b) = stepped_pair(backend, DeviceConfig::REFERENCE);
        let (dev_a, tally_a) = counting(stepped_device(&a));
        let (dev_b, tally_b) = counting(stepped_device(&b));
        let qcfg = QueueConfig::default();
        let (_na, mut tx) = open_counting(dev_a, &qcfg);
        let (_nb, mut rx) = open_counting(dev_b, &qcfg);
        let mut out = PacketBatch::with_capacity(BURST as usize);
        let mut got = PacketBatch::with_capacity(BURST as usize);
        let mut round = |tx: &mut QueuePair<Counting>, rx: &mut QueuePair<Counting>, n: u64| {
            for i in 0..BURST {
                let f = frame(n as u32 * BURST + i, 64 + (i as usize * 41) % 1400);
                let mut p = tx.pool().alloc().expect("a free TX buffer");
                p.copy_from(&f).expect("fits");
                p.set_tx_offload(TxOffloadRequest::tcp_checksums(14, 20));
                out.push(p).expect("room in the batch");
            }
            assert_eq!(tx.tx_burst(&mut out), BURST as usize, "{backend:?}");
            settle(&a, &b);
            let mut taken = 0;
            while taken < BURST as usize {
                let k = rx.rx_burst(&mut got);
                assert!(k > 0, "{backend:?}: round {n}: frames missing");
                taken += k;
                got.clear();
            }
            tx.reclaim_tx();
        };
        // Warm-up: the first refills and completion returns happen as set-up settles.
        round(&mut tx, &mut rx, 0);
        let (tx0, rx0) = (*tx.stats(), *rx.stats());
        let (ra0, wa0) = tally_a.get();
        let (rb0, wb0) = tally_b.get();
        for n in 1..=ROUNDS {
            round(&mut tx, &mut rx, n);
        }
        let (ra1, wa1) = tally_a.get();
        let (rb1, wb1) = tally_b.get();
        let (tx1, rx1) = (*tx.stats(), *rx.stats());
        assert_eq!(
            (ra1 - ra0, rb1 - rb0),
            (0, 0),
            "{backend:?}: register reads on the hot path (sender, receiver)"
        );
        assert_eq!(
            tx1.tx_doorbells - tx0.tx_doorbells,
            ROUNDS,
            "{backend:?}: one TX doorbell per burst"
        );
        assert_eq!(
            (wa1 - wa0, wb1 - wb0),
            (
                doorbell_writes(&tx1) - doorbell_writes(&tx0),
                doorbell_writes(&rx1) - doorbell_writes(&rx0)
            ),
            "{backend:?}: register writes other than doorbells and CQ returns"
        );
        assert_eq!(rx1.rx_packets - rx0.rx_packets, ROUNDS * u64::from(BURST));
        assert!(
            rx1.rx_doorbells > rx0.rx_doorbells,
            "{backend:?}: RX refills were posted"
        );
        assert!(
            rx1.rx_doorbells - rx0.rx_doorbells < ROUNDS * u64::from(BURST) / 4,
            "{backend:?}: RX doorbells are batched ({} for {} packets)",
            rx1.rx_doorbells - rx0.rx_doorbells,
            ROUNDS * u64::from(BURST)
        );
    }
}

/// `support::open` for a counting device: the NIC opened, queue pair 0 opened, started.
fn open_counting(dev: Counting, qcfg: &QueueConfig) -> (Nic<Counting>, QueuePair<Counting>) {
    let nic = Nic::open(dev, NicConfig::default()).expect("open the NIC");
    let qp = nic.open_queue_pair(0, qcfg).expect("open queue pair 0");
    nic.start().expect("start the NIC");
    (nic, qp)
}
