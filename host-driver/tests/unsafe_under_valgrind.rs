//! Runs the crate's unsafe code paths (MMIO windows, DMA memory accessors over heap, anonymous
//! and sealed shared memory, region drop order, the fake device's DMA through them, the packet
//! pool's zero-copy views, and the whole driver hot path over a stepped simulated NIC pair)
//! natively, then again under valgrind's memcheck, which
//! fails the test on any invalid read or write, use of uninitialised memory, or definite leak.
//!
//! Why valgrind: Miri needs a nightly toolchain (the project builds on stable) and cannot run
//! `mmap`, eventfds or VFIO; AddressSanitizer needs nightly too. Valgrind runs the stable debug
//! binary as is. `cargo +nightly miri test -p host-driver --lib -- mmio dma iova fake edu` covers
//! the heap-backed paths under Miri where a nightly toolchain with Miri is installed.
//!
//! The binary re-executes itself under valgrind through the workspace's shared harness
//! (`testsupport/under_valgrind.rs`). Valgrind missing is a failure that says what to install.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use host_driver::edu::{EDU_MAX_TRANSFER, Edu, fake_edu};
use host_driver::fake::FakeDevice;
use host_driver::mmio::MmioWindow;
use host_driver::nic::PacketPool;
use host_driver::{DeviceAccess, DeviceMapping, DmaMemory, DmaRegion};

#[path = "../../testsupport/under_valgrind.rs"]
mod under_valgrind;
use under_valgrind::{Exercise, check};

fn mmio_window() -> Result<(), String> {
    let mut regs = vec![0u32; 64];
    let len = regs.len() * 4;
    // SAFETY: `regs` outlives the window and is only accessed through it until the window's
    // last use below.
    let w = unsafe { MmioWindow::new(regs.as_mut_ptr().cast(), len) }.ok_or("window refused")?;
    for off in (0..len).step_by(4) {
        w.write32(off, off as u32 ^ 0xa5a5_0000)
            .map_err(|e| e.to_string())?;
    }
    for off in (0..len).step_by(4) {
        check(
            w.read32(off) == Ok(off as u32 ^ 0xa5a5_0000),
            "register read back",
        )?;
    }
    check(
        w.read32(len).is_err() && w.write32(len - 2, 0).is_err(),
        "bounds refused",
    )?;
    check(
        regs[63] == (252u32 ^ 0xa5a5_0000).to_le(),
        "memory holds the last write",
    )
}

fn dma_accessors(m: &DmaMemory) -> Result<(), String> {
    let n = m.len();
    // The last naturally aligned slots (the length need not be a multiple of 8).
    let a = n & !7;
    m.write_u8(n - 1, 0xee).map_err(|e| e.to_string())?;
    m.write_u16(a - 2, 0xbeef).map_err(|e| e.to_string())?;
    m.write_u32(a - 4, 0xdead_beef).map_err(|e| e.to_string())?;
    check(m.read_u16(a - 2) == Ok(0xdead), "u16 inside the u32")?;
    m.write_u64(a - 8, 0x0123_4567_89ab_cdef)
        .map_err(|e| e.to_string())?;
    check(
        m.read_u64(a - 8) == Ok(0x0123_4567_89ab_cdef),
        "u64 at the end",
    )?;
    check(
        m.read_u8(n).is_err() && m.read_u64(a - 4).is_err(),
        "end refused",
    )?;
    check(
        n == a || m.read_u64(a).is_err(),
        "a partial last word refused",
    )?;
    m.write_words(a - 24, &[5, 6, 7])
        .map_err(|e| e.to_string())?;
    check(
        m.read_words::<3>(a - 24) == Ok([5, 6, 7]) && m.read_words::<4>(a - 24).is_err(),
        "word runs at the end",
    )?;
    m.store_release_u32(0, 7).map_err(|e| e.to_string())?;
    check(m.load_acquire_u32(0) == Ok(7), "acquire/release")?;
    m.store_release_u64(8, 9).map_err(|e| e.to_string())?;
    check(m.load_acquire_u64(8) == Ok(9), "acquire/release u64")?;
    m.store_release_u8(17, 3).map_err(|e| e.to_string())?;
    check(m.load_acquire_u8(17) == Ok(3), "acquire/release u8")?;
    let pattern: Vec<u8> = (0..48u8).collect();
    for start in [0, 1, 3, 7, 8, 9, n - 48, n - 47, n - 41] {
        for len in [0usize, 1, 7, 8, 9, 16, 17, 41] {
            if start + len > n {
                continue;
            }
            m.fill(start, len, 0x11).map_err(|e| e.to_string())?;
            m.write_bytes(start, &pattern[..len])
                .map_err(|e| e.to_string())?;
            let mut back = vec![0u8; len];
            m.read_bytes(start, &mut back).map_err(|e| e.to_string())?;
            check(back == pattern[..len], "byte copy round trip")?;
        }
    }
    let mut big = vec![0u8; 64];
    check(
        m.read_bytes(n - 63, &mut big).is_err(),
        "copy past the end refused",
    )?;
    m.write_bytes(1, b"hello").map_err(|e| e.to_string())?;
    // SAFETY: no device and no other thread uses this memory during the exercise.
    let s = unsafe { m.slice(1, 5) }.map_err(|e| e.to_string())?;
    check(s == b"hello", "slice view")?;
    // SAFETY: as above; `s` is not used any more.
    let sm = unsafe { m.slice_mut(n - 3, 3) }.map_err(|e| e.to_string())?;
    sm.copy_from_slice(b"xyz");
    check(m.read_u8(n - 1) == Ok(b'z'), "mutable slice view")
}

struct ObservingMapping {
    memory_alive_at_revoke: Arc<AtomicBool>,
    memory: std::sync::Weak<DmaMemory>,
}

impl DeviceMapping for ObservingMapping {
    fn revoke(self: Box<Self>) -> Result<(), String> {
        self.memory_alive_at_revoke
            .store(self.memory.upgrade().is_some(), Ordering::SeqCst);
        Ok(())
    }
}

fn region_drop_order() -> Result<(), String> {
    let memory = Arc::new(DmaMemory::heap(4096));
    let alive = Arc::new(AtomicBool::new(false));
    let region = DmaRegion::new(
        Arc::clone(&memory),
        0x10_0000,
        Box::new(ObservingMapping {
            memory_alive_at_revoke: Arc::clone(&alive),
            memory: Arc::downgrade(&memory),
        }),
    );
    let weak = Arc::downgrade(&memory);
    drop(memory);
    region.write_u32(4092, 1).map_err(|e| e.to_string())?;
    drop(region);
    check(
        alive.load(Ordering::SeqCst),
        "memory alive while the mapping is revoked",
    )?;
    check(weak.upgrade().is_none(), "memory freed after the region")
}

fn fake_edu_dma() -> Result<(), String> {
    let edu = Edu::attach(fake_edu()).map_err(|e| e.to_string())?;
    let src = edu.device().alloc_dma(4096).map_err(|e| e.to_string())?;
    let dst = edu.device().alloc_dma(4096).map_err(|e| e.to_string())?;
    edu.dma_round_trip(&src, &dst, EDU_MAX_TRANSFER, 9, Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    // DMA into a freed region must fault, never touch the freed heap memory.
    let side = edu.device().handle();
    let stale = src.iova();
    drop(src);
    check(
        side.dma_write(stale, &[1, 2, 3]).is_err(),
        "DMA to a freed region faults",
    )?;
    let mut dev: FakeDevice = edu.into_inner();
    dev.enable_interrupts(1).map_err(|e| e.to_string())?;
    check(dev.handle().raise(0), "raise")?;
    check(
        dev.wait_interrupt(0, Duration::from_secs(5))
            .map_err(|e| e.to_string())?
            == 1,
        "one event",
    )?;
    dev.quiesce().map_err(|e| e.to_string())?;
    check(
        side.dma_read(dst.iova(), &mut [0u8; 4]).is_err(),
        "no DMA after quiesce",
    )
}

fn cross_thread_publication() -> Result<(), String> {
    let m = Arc::new(DmaMemory::heap(256));
    let writer = {
        let m = Arc::clone(&m);
        std::thread::spawn(move || {
            for round in 1..=50u32 {
                let _ = m.write_bytes(64, &round.to_le_bytes().repeat(4));
                let _ = m.store_release_u32(0, round);
                while m.load_acquire_u32(4) != Ok(round) {
                    std::thread::yield_now();
                }
            }
        })
    };
    for round in 1..=50u32 {
        while m.load_acquire_u32(0) != Ok(round) {
            std::thread::yield_now();
        }
        let mut entry = [0u8; 16];
        m.read_bytes(64, &mut entry).map_err(|e| e.to_string())?;
        check(entry == *round.to_le_bytes().repeat(4), "published entry")?;
        m.store_release_u32(4, round).map_err(|e| e.to_string())?;
    }
    writer
        .join()
        .map_err(|_| "writer thread panicked".to_string())
}

fn packet_pool_views() -> Result<(), String> {
    let dev = FakeDevice::builder("fake0", 64).build();
    let pool = PacketPool::new(&dev, 4, 100, "test").map_err(|e| e.to_string())?;
    let mut held = Vec::new();
    for i in 0..4u8 {
        let mut p = pool.alloc().ok_or("a free buffer")?;
        let whole = p.buffer_mut();
        check(whole.len() == 128, "whole buffer")?;
        whole.fill(i);
        p.set_len(100).map_err(|e| e.to_string())?;
        p.data_mut()[99] = 0xff;
        check(p.data()[..99].iter().all(|b| *b == i), "data view")?;
        held.push(p);
    }
    check(pool.alloc().is_none(), "pool empty")?;
    held.remove(1);
    let p = pool.alloc().ok_or("the freed buffer")?;
    check(p.data().is_empty(), "a new packet is empty")?;
    drop(pool);
    drop(held);
    drop(p);
    check(
        dev.mapped_regions() == 0,
        "pool memory unmapped after the last packet",
    )
}

fn driver_over_a_stepped_nic_pair() -> Result<(), String> {
    use host_driver::nic::PacketBatch;
    use host_driver::{Nic, NicConfig, QueueConfig, SimDevice};
    use rtl_sim::device::DeviceConfig;
    use rtl_sim::nic::{Backend, Clock, SimNic, SteppedNic, build_core};
    use rtl_sim::wire::cable::{CableConfig, CableEnd};
    use sim_link::{AttachOptions, DeviceLink, LinkConfig};

    let e = |x: &dyn std::fmt::Display| x.to_string();
    let (ca, cb) = CableEnd::pair(&CableConfig::default()).map_err(|x| e(&x))?;
    let nic = |port: CableEnd| -> Result<SteppedNic, String> {
        let link = DeviceLink::create_anonymous(&LinkConfig::default()).map_err(|x| e(&x))?;
        let core = build_core(Backend::Model, DeviceConfig::REFERENCE).map_err(|x| e(&x))?;
        Ok(SimNic::new(core, link, Box::new(port), Clock::Manual(0)).into_stepped())
    };
    let (a, b) = (nic(ca)?, nic(cb)?);
    let open = |n: &SteppedNic| -> Result<_, String> {
        let link = n
            .attach_driver(AttachOptions::default())
            .map_err(|x| e(&x))?;
        let n2 = n.clone();
        let dev = SimDevice::stepped(link, move || {
            n2.step();
        });
        let nic = Nic::open(dev, NicConfig::default()).map_err(|x| e(&x))?;
        let qcfg = QueueConfig {
            buffers: 64,
            large_buffers: 1,
            ..QueueConfig::with_rings(4)
        };
        let qp = nic.open_queue_pair(0, &qcfg).map_err(|x| e(&x))?;
        nic.start().map_err(|x| e(&x))?;
        Ok((nic, qp))
    };
    let (_na, mut tx) = open(&a)?;
    let (_nb, mut rx) = open(&b)?;
    let mut batch = PacketBatch::with_capacity(16);
    let mut got = PacketBatch::with_capacity(16);
    let mut received = 0;
    for round in 0..5u8 {
        for i in 0..8u8 {
            let mut p = tx.pool().alloc().ok_or("a TX buffer")?;
            let frame: Vec<u8> = (0..80u8).map(|x| x ^ round ^ i).collect();
            p.copy_from(&frame).map_err(|x| e(&x))?;
            batch.push(p).map_err(|_| "batch full")?;
        }
        tx.tx_burst(&mut batch);
        while a.run_until_idle(100) > 1 || b.run_until_idle(100) > 1 {}
        rx.rx_burst(&mut got);
        for p in got.drain() {
            check(p.len() == 80, "received length")?;
            received += 1;
        }
        tx.reclaim_tx();
    }
    check(received == 40, "every frame received")?;
    check(rx.stats().misbehaviour.total() == 0, "no protocol faults")
}

fn dma_heap() -> Result<(), String> {
    dma_accessors(&DmaMemory::heap(4096))?;
    dma_accessors(&DmaMemory::heap(4099))
}

fn dma_anonymous_and_memfd() -> Result<(), String> {
    dma_accessors(&DmaMemory::anonymous(8192).map_err(|e| e.to_string())?)?;
    let (shared, _file) = DmaMemory::shared_memfd("valgrind", 8192).map_err(|e| e.to_string())?;
    dma_accessors(&shared)
}

fn main() -> ExitCode {
    under_valgrind::main(
        "unsafe_modules_under_valgrind",
        &[
            Exercise {
                name: "mmio_window",
                run: mmio_window,
            },
            Exercise {
                name: "dma_heap",
                run: dma_heap,
            },
            Exercise {
                name: "dma_anonymous_and_memfd",
                run: dma_anonymous_and_memfd,
            },
            Exercise {
                name: "packet_pool_views",
                run: packet_pool_views,
            },
            Exercise {
                name: "driver_over_a_stepped_nic_pair",
                run: driver_over_a_stepped_nic_pair,
            },
            Exercise {
                name: "region_drop_order",
                run: region_drop_order,
            },
            Exercise {
                name: "fake_edu_dma",
                run: fake_edu_dma,
            },
            Exercise {
                name: "cross_thread_publication",
                run: cross_thread_publication,
            },
        ],
        &[],
    )
}
