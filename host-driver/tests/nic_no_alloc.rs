//! The burst path allocates nothing after set-up: a counting global allocator, armed only while
//! this thread runs driver code (buffer allocation, frame writes, `tx_burst`, `rx_burst`,
//! `reclaim_tx`, packet drops, the simulation backend's doorbells), over thousands of packets
//! with ring and pointer wraparound, checksum and TSO requests, and RX refills. The simulated
//! device runs between the armed stretches (its own allocation-freedom is rtl-sim's test).

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use host_driver::QueueConfig;
use host_driver::nic::PacketBatch;
use hw_spec::TxOffloadRequest;
use rtl_sim::device::DeviceConfig;
use support::*;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed through.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is passed through.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn armed<R>(f: impl FnOnce() -> R) -> R {
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    r
}

#[test]
fn bursts_allocate_nothing() {
    let (a, b) = stepped_pair(BACKENDS[0], DeviceConfig::REFERENCE);
    let qcfg = QueueConfig {
        large_buffers: 4,
        ..QueueConfig::with_rings(5)
    };
    let (_na, mut tx) = open(stepped_device(&a), &qcfg);
    let (_nb, mut rx) = open(stepped_device(&b), &qcfg);
    let small = frame(1, 200);
    let big = frame(2, 20_000);
    let mut out = PacketBatch::with_capacity(64);
    let mut got = PacketBatch::with_capacity(64);
    let (mut sent, mut received) = (0u64, 0u64);
    // The counter must see allocations at all: check it once.
    armed(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert_eq!(ALLOCATIONS.swap(0, Ordering::Relaxed), 1);
    for round in 0..3000u32 {
        let burst = (round % 31 + 1) as usize;
        armed(|| {
            for i in 0..burst {
                let tso = i == 0 && round % 50 == 0;
                let pool = if tso {
                    tx.large_pool().unwrap()
                } else {
                    tx.pool()
                };
                let Some(mut p) = pool.alloc() else { break };
                let (bytes, req) = if tso {
                    (&big, TxOffloadRequest::tso(1448, 14, 20, 32))
                } else {
                    (&small, TxOffloadRequest::tcp_checksums(14, 20))
                };
                p.copy_from(bytes).unwrap();
                p.set_tx_offload(req);
                if out.push(p).is_err() {
                    break;
                }
            }
            sent += tx.tx_burst(&mut out) as u64;
            out.clear();
        });
        settle(&a, &b);
        armed(|| {
            while rx.rx_burst(&mut got) > 0 {
                for p in got.drain() {
                    received += u64::from(!p.is_empty());
                }
            }
            tx.reclaim_tx();
        });
    }
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "allocations on the burst path"
    );
    assert!(sent > 40_000, "{sent}");
    assert!(received >= sent, "{received} of {sent} (TSO adds segments)");
    assert_eq!(
        tx.stats().misbehaviour.total() + rx.stats().misbehaviour.total(),
        0
    );
    assert!(
        tx.stats().tx_segments > tx.stats().tx_packets,
        "TSO requests went out"
    );
}
