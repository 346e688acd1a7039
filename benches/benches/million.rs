//! A million established connections in one `Endpoint`: the engine's memory per connection
//! and the cost of a segment's trip through the receive path at 1,000 and at 1,000,000
//! connections (issue #3: at most 256 bytes per connection, buffers excluded; the 1M cost
//! within 2x of the 1k cost).
//!
//! `cargo bench -p ferrotoe-benches --bench million`
//!
//! Set-up and the receive loop: `ferrotoe_benches::million`. The ratio of issue #3 is best
//! read from the `million_ratio` example, which interleaves the cells in one process (criterion
//! runs them one after the other, minutes apart on a machine other work shares).
//!
//! Benchmarks: `receive/1k` and `receive/1M` (every segment for a random connection, one at a
//! time), `receive/1M_1000_active` (1,000 connections spread over the million carry all the
//! traffic: what the table's size alone costs), and `receive/1k_prefetched` and
//! `receive/1M_prefetched`: the same segments in bursts of 32, the next burst handed to
//! `Endpoint::prefetch` before this one is received (a driver's receive loop, software
//! pipelined), so that the cache misses of a burst overlap each other and the work on the
//! burst before. The bytes per connection are printed.

use std::time::{Duration, Instant as WallInstant};

use criterion::{Criterion, Throughput};
use ferrotoe_benches::million::{Ep, FRAME, receive_all, setup};

fn bench(c: &mut Criterion) {
    const BURST: usize = 4096;
    let bytes = Ep::engine_bytes_per_connection(1_000_000);
    eprintln!(
        "million: engine state per connection at 1,000,000 connections: {bytes:.1} bytes \
         (buffers excluded; budget 256)"
    );
    let mut group = c.benchmark_group("receive");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(BURST as u64));
    let mut buf = vec![0u8; 1514];
    for (name, n, active, prefetch) in [
        ("1k", 1_000usize, None, false),
        ("1M", 1_000_000, None, false),
        ("1M_1000_active", 1_000_000, Some(1_000usize), false),
        ("1k_prefetched", 1_000usize, None, true),
        ("1M_prefetched", 1_000_000, None, true),
    ] {
        // Set up on first use only, so a filtered run builds only what it measures.
        let mut state: Option<(Ep, Vec<[u8; FRAME]>)> = None;
        let mut at = 0;
        group.bench_function(name, |b| {
            let (ep, frames) = state.get_or_insert_with(|| setup(n, active));
            b.iter_custom(|iters| {
                let started = WallInstant::now();
                for _ in 0..iters {
                    if at + BURST > frames.len() {
                        at = 0;
                    }
                    receive_all(ep, &mut frames[at..at + BURST], &mut buf, prefetch);
                    at += BURST;
                }
                started.elapsed()
            })
        });
        if let Some((ep, _)) = state {
            ep.check_invariants()
                .expect("endpoint consistent after the run");
        }
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
}
