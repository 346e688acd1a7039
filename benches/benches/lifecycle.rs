//! Connection lifecycles per second (issue #3: at least 500,000 complete lifecycles, both
//! ends on one thread): handshake, a 100-byte request, a 1000-byte response, close, over the
//! in-memory link with checksums offloaded. See `ferrotoe_benches::lifecycle`.
//!
//! `cargo bench -p ferrotoe-benches --bench lifecycle`
//!
//! `one_at_a_time`: the client opens the next connection when the previous one is over (the
//! latency-bound case); `64_concurrent`: 64 connections in flight (a client with many users,
//! the throughput case). Throughput is in lifecycles per second.

use std::time::Duration;

use criterion::{Criterion, Throughput};
use ferrotoe_benches::lifecycle::{LifecycleConfig, Lifecycles};

fn bench(c: &mut Criterion) {
    const CONNECTIONS: u64 = 20_000;
    let mut group = c.benchmark_group("lifecycle");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(CONNECTIONS));
    for (name, concurrency) in [("one_at_a_time", 1usize), ("64_concurrent", 64)] {
        let config = LifecycleConfig {
            connections: CONNECTIONS,
            concurrency,
            ..LifecycleConfig::DEFAULT
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut run = Lifecycles::new(config).expect("set-up");
                    total += run.run().expect("lifecycles").elapsed;
                }
                total
            })
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
}
