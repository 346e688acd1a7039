//! The two simulated hosts allocate nothing once a transfer is under way: a counting global
//! allocator watches the whole round loop (both endpoints' polls, the drivers, both NIC models,
//! the cable with impairment and a capture file, the applications' copies and checks, the
//! clock) between the first and the last byte of a bulk transfer and over a run of
//! request/response transactions, for every offload mode; and the same for multi-queue hosts
//! (four shards each) over a sharded bulk transfer of 16 connections, stepped and threaded
//! (every shard thread, the NIC thread and the supervising thread). Set-up (hosts, buffers,
//! pattern, latency arrays, threads) and the reports are outside the counted stretch.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use ferrotoe_benches::sim_hosts::{
    BulkSpec, RrSpec, ShardedBulkSpec, ShardedHosts, SimHosts, SimHostsConfig, run_bulk, run_rr,
    run_sharded_bulk, sharded::run_threaded_sharded_bulk,
};
use ferrotoe_benches::workload::OffloadMode;
use rtl_sim::wire::impair::Impairment;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed through.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed through.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// The allocations between the first progress report past `from` and the last one.
#[derive(Default)]
struct Window {
    start: Option<u64>,
    end: u64,
    reports: u64,
}

impl Window {
    fn at(&mut self, done: u64, from: u64) {
        if done > from {
            let now = count();
            self.start.get_or_insert(now);
            self.end = now;
            self.reports += 1;
        }
    }

    fn allocations(&self) -> u64 {
        self.end - self.start.expect("progress was reported")
    }
}

#[test]
fn the_round_loop_does_not_allocate() {
    // One test (the counter is process-wide): no other test thread allocates meanwhile.
    let dir = tempfile::tempdir().unwrap();
    for mode in OffloadMode::ALL {
        let mut hosts = SimHosts::new(&SimHostsConfig {
            offload: Some(mode),
            impairment: Impairment {
                loss: 0.005,
                reorder: 0.005,
                seed: 5,
                ..Impairment::NONE
            },
            pcap: Some(dir.path().join(format!("{mode}.pcap"))),
            ..SimHostsConfig::new()
        })
        .unwrap();
        let mut bulk = Window::default();
        let out = run_bulk(&mut hosts, &BulkSpec::new(8 << 20), &mut |done| {
            bulk.at(done, 0)
        })
        .unwrap();
        assert_eq!(out.bytes, 8 << 20);
        assert!(out.retransmissions.segments > 0, "loss recovery ran too");
        assert!(bulk.reports > 100, "{mode}: {} reports", bulk.reports);
        assert_eq!(bulk.allocations(), 0, "{mode}: bulk rounds allocated");

        let mut rr = Window::default();
        let out = run_rr(&mut hosts, &RrSpec::new(2000), &mut |done| rr.at(done, 10)).unwrap();
        assert_eq!(out.transactions, 2000);
        assert_eq!(
            rr.allocations(),
            0,
            "{mode}: request/response rounds allocated"
        );
    }

    // Sharded hosts: every shard's poll, both NICs with RSS, the workload's copies and checks,
    // counted from the first verified byte (every connection is accepted by then or is
    // accepted into a table sized for all of them).
    let mut hosts = ShardedHosts::new(
        &SimHostsConfig {
            connections: 16,
            max_window: 64 << 10,
            ..SimHostsConfig::new()
        },
        4,
    )
    .unwrap();
    let spec = ShardedBulkSpec {
        connections: 16,
        bytes_each_way: 256 << 10,
        buffer: 64 << 10,
        port: 5001,
        max_rounds: 1_000_000,
        stall_timeout: None,
    };
    let mut sharded = Window::default();
    let out = run_sharded_bulk(&mut hosts, &spec, &mut |done, _| sharded.at(done, 0)).unwrap();
    assert_eq!(out.bytes_verified, 2 * 16 * (256 << 10));
    assert!(sharded.reports > 20, "{} reports", sharded.reports);
    assert_eq!(sharded.allocations(), 0, "sharded bulk rounds allocated");

    // The same with a thread per shard: the reports begin once every shard thread is through
    // its set-up, so the window holds the shard threads' loops, the NIC thread's steps and the
    // supervising thread, all at once.
    let spec = ShardedBulkSpec {
        stall_timeout: Some(std::time::Duration::from_secs(30)),
        ..spec
    };
    let cfg = SimHostsConfig {
        connections: 24,
        max_window: 64 << 10,
        ..SimHostsConfig::new()
    };
    let mut threaded = Window::default();
    let out =
        run_threaded_sharded_bulk(&cfg, 2, &spec, &mut |done, _| threaded.at(done, 0)).unwrap();
    assert_eq!(out.bulk.bytes_verified, 2 * 16 * (256 << 10));
    assert!(threaded.reports > 2, "{} reports", threaded.reports);
    assert_eq!(
        threaded.allocations(),
        0,
        "the threaded run allocated between its first and last progress report"
    );
}
