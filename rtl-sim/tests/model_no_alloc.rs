//! The hot path does not allocate: after set-up, TX requests (checksums and TSO), the wire and
//! RX delivery with completions run under a counting global allocator that must not move. The
//! count is per thread (tests run in parallel), and each scenario runs on one thread: the model
//! core alone, two stepped NICs on sim-link and a cable with their drivers, and the impaired
//! wire port (both directions impaired).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use hw_spec::descriptors::{cpl, rxd, txd};
use hw_spec::regs::{control, cq, queue, rxq, txq};
use hw_spec::{QueueCommand, RxDescriptor, TxDescriptor, TxOffloadRequest};
use rtl_sim::conformance::flat::{CountingIrq, FlatImage, FlatMemory, LoopbackWire};
use rtl_sim::conformance::frames;
use rtl_sim::conformance::link_driver::{DriverConfig, LinkDriver};
use rtl_sim::device::Wire;
use rtl_sim::device::model::ModelDevice;
use rtl_sim::device::{DeviceConfig, DeviceCore, DeviceIo, Dma};
use rtl_sim::nic::{Backend, Clock, SimNic, build_core};
use rtl_sim::wire::cable::{CableConfig, CableEnd};
use rtl_sim::wire::impair::Impairment;
use rtl_sim::wire::impaired::{ImpairConfig, Impaired};
use sim_link::{AttachOptions, DeviceLink, LinkConfig};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: delegates every call to the system allocator unchanged; only counts (in a const
// thread-local, which itself never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is passed through to System.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const BASE: u64 = 0x10_0000;

#[test]
fn tx_tso_checksums_and_rx_do_not_allocate() {
    let mut dev = ModelDevice::new(DeviceConfig::REFERENCE).unwrap();
    let mut mem = FlatMemory {
        base: BASE,
        bytes: vec![0; 4 << 20],
    };
    let mut wire = LoopbackWire::new(128, 9216);
    let mut irqs = CountingIrq::default();
    let mut image = FlatImage::new();
    let mut now = 0u64;
    macro_rules! io {
        () => {
            &mut DeviceIo {
                dma: &mut mem,
                wire: &mut wire,
                irq: &mut irqs,
                image: &mut image,
                now_ns: now,
            }
        };
    }
    macro_rules! w {
        ($off:expr, $v:expr) => {
            dev.mmio_write($off, $v, io!())
        };
    }
    // Layout: CQ0 (TX) at +0, CQ1 (RX) at +0x1000, TX ring at +0x2000, RX ring at +0x4000,
    // the TX frame at +0x10000, RX buffers from +0x100000.
    let (cq0, cq1, txr, rxr, frame_at, bufs) = (
        BASE,
        BASE + 0x1000,
        BASE + 0x2000,
        BASE + 0x4000,
        BASE + 0x1_0000,
        BASE + 0x10_0000,
    );
    for (i, base) in [(0, cq0), (1, cq1)] {
        w!(cq::reg_addr(i, &queue::BASE_LO), base as u32);
        w!(cq::reg_addr(i, &queue::BASE_HI), (base >> 32) as u32);
        w!(
            cq::reg_addr(i, &queue::CMD),
            QueueCommand::SetLog2Size(7).encode()
        );
        w!(
            cq::reg_addr(i, &queue::CMD),
            QueueCommand::SetIrq(i as u8).encode()
        );
        w!(cq::reg_addr(i, &queue::CMD), QueueCommand::Enable.encode());
        w!(cq::reg_addr(i, &queue::CMD), QueueCommand::Arm.encode());
    }
    w!(rxq::reg_addr(0, &queue::BASE_LO), rxr as u32);
    w!(
        rxq::reg_addr(0, &queue::CMD),
        QueueCommand::SetLog2Size(7).encode()
    );
    w!(
        rxq::reg_addr(0, &queue::CMD),
        QueueCommand::SetCq(1).encode()
    );
    w!(rxq::reg_addr(0, &queue::CMD), QueueCommand::Enable.encode());
    for slot in 0..128u64 {
        let d = RxDescriptor {
            addr: bufs + slot * 9216,
            len: 9216,
        };
        mem.write(rxr + slot * rxd::SIZE as u64, &d.encode())
            .unwrap();
    }
    w!(txq::reg_addr(0, &queue::BASE_LO), txr as u32);
    w!(
        txq::reg_addr(0, &queue::CMD),
        QueueCommand::SetLog2Size(7).encode()
    );
    w!(
        txq::reg_addr(0, &queue::CMD),
        QueueCommand::SetCq(0).encode()
    );
    w!(txq::reg_addr(0, &queue::CMD), QueueCommand::Enable.encode());
    let ctrl = control::CTRL_ENABLE.mask32() | control::CTRL_RX_CSUM_ENABLE.mask32();
    w!(control::BASE + control::CTRL.offset, ctrl);
    let frame = frames::tcp_frame(&frames::TcpSpec::default(), &frames::payload(14_480, 1));
    mem.write(frame_at, &frame).unwrap();
    let small = 100u32;

    let (mut tx_prod, mut rx_prod, mut cq_cons) = (0u16, 0u16, [0u16; 2]);
    let mut delivered = 0u64;
    let mut run =
        |rounds: u32, dev: &mut ModelDevice, mem: &mut FlatMemory, wire: &mut LoopbackWire| {
            for r in 0..rounds {
                // A TSO request (10 segments) and a checksummed small frame, alternately.
                let d = if r % 2 == 0 {
                    TxDescriptor::single(
                        frame_at,
                        frame.len() as u32,
                        TxOffloadRequest::tso(1448, 14, 20, 32),
                    )
                } else {
                    TxDescriptor::single(frame_at, small, TxOffloadRequest::NONE)
                };
                let slot = u64::from(tx_prod & 127);
                mem.write(txr + slot * txd::SIZE as u64, &d.encode())
                    .unwrap();
                tx_prod = tx_prod.wrapping_add(1);
                rx_prod = cq_cons[1].wrapping_add(128);
                now += 1000;
                let mut io = DeviceIo {
                    dma: mem,
                    wire,
                    irq: &mut irqs,
                    image: &mut image,
                    now_ns: now,
                };
                dev.mmio_write(
                    txq::reg_addr(0, &queue::CMD),
                    QueueCommand::SetProd(tx_prod).encode(),
                    &mut io,
                );
                dev.mmio_write(
                    rxq::reg_addr(0, &queue::CMD),
                    QueueCommand::SetProd(rx_prod).encode(),
                    &mut io,
                );
                while dev.step(&mut io, 64).did_work() {}
                // The driver consumes every completion by phase, then returns them and re-arms.
                for (i, base) in [(0usize, cq0), (1, cq1)] {
                    loop {
                        let c = cq_cons[i];
                        let mut e = [0u8; cpl::SIZE];
                        io.dma
                            .read(base + u64::from(c & 127) * cpl::SIZE as u64, &mut e)
                            .unwrap();
                        let phase = (c >> 7) & 1 == 0;
                        if hw_spec::Completion::phase_of(&e) != phase {
                            break;
                        }
                        if i == 1 {
                            delivered += 1;
                        }
                        cq_cons[i] = c.wrapping_add(1);
                    }
                    dev.mmio_write(
                        cq::reg_addr(i as u32, &queue::CMD),
                        QueueCommand::SetConsArm(cq_cons[i]).encode(),
                        &mut io,
                    );
                }
            }
        };
    run(4, &mut dev, &mut mem, &mut wire);
    let before = allocations();
    run(400, &mut dev, &mut mem, &mut wire);
    let allocations = allocations() - before;
    assert_eq!(
        delivered,
        404 / 2 * 11,
        "every frame looped back and was delivered"
    );
    assert_eq!(allocations, 0, "the hot path allocated {allocations} times");
}

#[test]
fn a_stepped_nic_pair_on_sim_link_and_a_cable_does_not_allocate() {
    let (a, b) = CableEnd::pair(&CableConfig::default()).unwrap();
    let mk = |port| {
        let link = DeviceLink::create_anonymous(&LinkConfig::default()).unwrap();
        let core = build_core(Backend::Model, DeviceConfig::REFERENCE).unwrap();
        SimNic::new(core, link, Box::new(port), Clock::Manual(0)).into_stepped()
    };
    let (na, nb) = (mk(a), mk(b));
    let cfg = DriverConfig {
        ring_log2: 8,
        buf_len: 16 * 1024,
        rx_csum: true,
    };
    let mut da =
        LinkDriver::bring_up(na.attach_driver(AttachOptions::default()).unwrap(), cfg).unwrap();
    let mut db =
        LinkDriver::bring_up(nb.attach_driver(AttachOptions::default()).unwrap(), cfg).unwrap();
    let big = frames::tcp_frame(&frames::TcpSpec::default(), &frames::payload(10_000, 2));
    let small = frames::tcp_frame(&frames::TcpSpec::default(), &frames::payload(100, 3));
    let mut received = 0u64;
    let mut round = |da: &mut LinkDriver, db: &mut LinkDriver| {
        da.queue_frame(&big, TxOffloadRequest::tso(1448, 14, 20, 32));
        da.queue_frame(&small, TxOffloadRequest::tcp_checksums(14, 20));
        da.doorbell().unwrap();
        na.with(|n| n.advance_time(1000));
        nb.with(|n| n.advance_time(1000));
        na.run_until_idle(100);
        nb.run_until_idle(100);
        da.reap_tx(|c| assert!(c.error.is_ok())).unwrap();
        received += db.receive(|c, _| assert!(c.error.is_ok())).unwrap() as u64;
    };
    for _ in 0..4 {
        round(&mut da, &mut db);
    }
    let before = allocations();
    for _ in 0..200 {
        round(&mut da, &mut db);
    }
    let allocations = allocations() - before;
    assert_eq!(
        received,
        204 * 8,
        "7 TSO segments and one small frame per round"
    );
    assert_eq!(
        allocations, 0,
        "the stepped pair allocated {allocations} times"
    );
}

#[test]
fn an_impaired_port_does_not_allocate_per_frame() {
    let every = |seed| Impairment {
        loss: 0.1,
        duplicate: 0.1,
        reorder: 0.1,
        reorder_depth: 1,
        corrupt: 0.1,
        ce_mark: 0.1,
        seed,
    };
    let cfg = ImpairConfig {
        transmit: every(3),
        receive: every(4),
        ..ImpairConfig::NONE
    };
    // The loopback gives back what was transmitted: each frame crosses both directions.
    let mut port = Impaired::new(LoopbackWire::new(64, 1514), cfg, 1514).unwrap();
    let monitor = port.monitor();
    let frame = [0x5Au8; 1514];
    let mut buf = [0u8; 1514];
    let mut round = |port: &mut Impaired<LoopbackWire>| {
        let mut got = 0u64;
        for _ in 0..16 {
            port.transmit(&frame, 0);
        }
        port.flush(0);
        while let Some(n) = port.receive(&mut buf) {
            assert_eq!(n, frame.len());
            got += 1;
        }
        port.flush(0);
        while port.receive(&mut buf).is_some() {
            got += 1;
        }
        got
    };
    round(&mut port);
    let before = allocations();
    let mut got = 0;
    for _ in 0..200 {
        got += round(&mut port);
    }
    let allocations = allocations() - before;
    assert_eq!(
        allocations, 0,
        "the impaired port allocated {allocations} times"
    );
    let (tx, rx) = (monitor.transmitted(), monitor.received());
    assert!(
        tx.lost > 0 && tx.duplicated > 0 && tx.reordered > 0,
        "{tx:?}"
    );
    assert!(
        rx.lost > 0 && rx.duplicated > 0 && rx.reordered > 0,
        "{rx:?}"
    );
    assert!(
        got > 0 && rx.frames > got / 2,
        "{got} frames came through; {rx:?}"
    );
}
