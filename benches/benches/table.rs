//! Connection-table lookup cost at 1,000 and 1,000,000 connections (issue #3 target: the
//! 1M cost within 2x of the 1k cost), and the table's memory per connection.
//!
//! `cargo bench -p ferrotoe-benches --bench table`
//!
//! The table is a `ConnectionTable` of 192-byte states (so the slotmap's memory sits beside
//! the buckets as in an endpoint), filled to capacity, with its map at the default load (80 %,
//! `load80`: one-cache-line buckets of three entries, 26.7 bytes per connection) and at 70 %
//! (`load70`: 30.5 bytes per connection, more entries in their home line).
//! Benchmarks, all looking up existing tuples in a random order unless said otherwise:
//!
//! - `get`: one lookup at a time; at 1M every lookup misses the caches;
//! - `get_and_touch_state`: the lookup plus reading the connection state, as the engine does;
//! - `get_1000_active`: 1,000 active connections spread through the table, the cost of the
//!   table's size alone (the caches hold the active set);
//! - `miss`: tuples that are absent;
//! - `get_batch32`: `TupleMap::get_batch` over groups of 32 (an RX burst), which overlaps the
//!   cache misses of a group;
//! - `remove_then_insert`: connection churn.
//!
//! It also prints the bytes per connection and the map's probe statistics.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use tcp_engine::table::{
    BoxedConnectionTable, ConnectionTable, DEFAULT_LOAD_PERCENT, FourTuple, HashSecret, Slot,
    SlotKey, bytes_per_connection,
};

/// What an endpoint might keep per connection (the tcb's budget is ~200 bytes).
type State = [u64; 24];

use ferrotoe_benches::million::table_tuple as tuple;

/// A deterministic shuffle (xorshift) so runs compare.
fn shuffled(n: u32, count: usize, seed: u64) -> Vec<FourTuple> {
    let mut x = seed;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            tuple((x % u64::from(n)) as u32)
        })
        .collect()
}

fn build(n: u32, load_percent: u32) -> BoxedConnectionTable<State> {
    let secret = HashSecret::from_bytes(*b"bench secret key");
    let mut table =
        ConnectionTable::with_capacity_and_load(n as usize, load_percent, &secret).expect("table");
    for i in 0..n {
        table.insert(tuple(i), [u64::from(i); 24]).expect("insert");
    }
    table
}

fn lookups(c: &mut Criterion) {
    const PROBES: usize = 1 << 16;
    const BATCH: usize = 32;
    let mut group = c.benchmark_group("table_lookup");
    group
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    for (n, load) in [
        (1_000u32, DEFAULT_LOAD_PERCENT),
        (1_000_000, DEFAULT_LOAD_PERCENT),
        (1_000, 70),
        (1_000_000, 70),
    ] {
        let table = build(n, load);
        let id = format!("{n}_load{load}");
        let probes = shuffled(n, PROBES, 0x9E37_79B9_7F4A_7C15);
        let absent: Vec<FourTuple> = (0..PROBES as u32).map(|i| tuple(n + i)).collect();
        let map_bytes = table.map().memory_bytes() as f64;
        let slot_bytes = (table.slots().capacity() * size_of::<Slot<State>>()) as f64;
        let per_connection = (map_bytes + slot_bytes) / f64::from(n);
        println!(
            "table of {n} connections, map load {load} %: {per_connection:.1} bytes/connection \
             = {:.1} map + {:.1} slot ({} state + {} slot header); map probe stats {:?}",
            map_bytes / f64::from(n),
            slot_bytes / f64::from(n),
            size_of::<State>(),
            size_of::<Slot<State>>() - size_of::<State>(),
            table.map().probe_stats(),
        );
        if load == DEFAULT_LOAD_PERCENT {
            let computed = bytes_per_connection::<State>(n as usize);
            assert!(
                (computed - per_connection).abs() < 1e-6,
                "{computed} vs {per_connection}"
            );
        }
        let huge_pages = std::fs::read_to_string("/proc/self/smaps_rollup")
            .ok()
            .and_then(|r| {
                r.lines()
                    .find(|l| l.starts_with("AnonHugePages"))
                    .map(str::to_owned)
            });
        println!(
            "process {}",
            huge_pages
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        );

        group.throughput(Throughput::Elements(1));
        let mut i = 0;
        group.bench_function(format!("get/{id}"), |b| {
            b.iter(|| {
                i = (i + 1) & (PROBES - 1);
                black_box(table.lookup(black_box(&probes[i])))
            })
        });
        let mut i = 0;
        group.bench_function(format!("get_and_touch_state/{id}"), |b| {
            b.iter(|| {
                i = (i + 1) & (PROBES - 1);
                let key = table.lookup(black_box(&probes[i])).expect("present");
                black_box(table.get(key).map(|s| s[0]))
            })
        });
        // 1,000 active connections spread over the whole table: the table's size alone, with
        // the cache holding the active set as it would in a real server.
        let hot: Vec<FourTuple> = shuffled(n, 1000, 0x5DEE_CE66_D1CE_4E5B);
        let hot_probes: Vec<FourTuple> = (0..PROBES).map(|j| hot[(j * 7919) % hot.len()]).collect();
        let mut i = 0;
        group.bench_function(format!("get_1000_active/{id}"), |b| {
            b.iter(|| {
                i = (i + 1) & (PROBES - 1);
                black_box(table.lookup(black_box(&hot_probes[i])))
            })
        });
        let mut i = 0;
        group.bench_function(format!("miss/{id}"), |b| {
            b.iter(|| {
                i = (i + 1) & (PROBES - 1);
                black_box(table.lookup(black_box(&absent[i])))
            })
        });

        group.throughput(Throughput::Elements(BATCH as u64));
        let mut i = 0;
        let mut out = [None::<SlotKey>; BATCH];
        group.bench_function(format!("get_batch32/{id}"), |b| {
            b.iter(|| {
                i = (i + BATCH) & (PROBES - 1);
                table
                    .map()
                    .get_batch(black_box(&probes[i..i + BATCH]), &mut out);
                black_box(&out);
            })
        });

        group.throughput(Throughput::Elements(1));
        let mut table = table;
        let mut i = 0;
        group.bench_function(format!("remove_then_insert/{id}"), |b| {
            b.iter(|| {
                i = (i + 1) & (PROBES - 1);
                let t = probes[i];
                let key = table.lookup(&t).expect("present");
                let state = table.remove(key, &t).expect("live");
                black_box(table.insert(t, state).ok())
            })
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    lookups(&mut criterion);
    criterion.final_summary();
}
