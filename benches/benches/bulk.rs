//! Bulk TCP throughput of every wired stack through the harness's `BulkStack` interface, as a
//! criterion benchmark (the `ferrotoe bench` command gives the full matrix with CPU time and
//! ratios; this is the quick regression check).
//!
//! `cargo bench -p ferrotoe-benches --bench bulk` runs 256 MiB verified transfers (socket
//! buffers 1 MiB, Reno) at MTU 1500 and 9000 with checksums offloaded, and at 1500 with
//! software checksums, and prints goodput in GiB/s. Set-up is not timed: each iteration
//! prepares a transfer untimed and times its run. smoltcp idles about 10 ms at the start of
//! every transfer (its receiver delays the first ACK), a fixed cost that weighs more the
//! shorter the transfer; `cargo bench` builds without LTO, so smoltcp's figures here sit below
//! those of `ferrotoe bench` built with `--profile perf` (see BENCHMARKS.md).

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use ferrotoe_benches::stacks::{bulk_stack, wired_stacks};
use ferrotoe_benches::workload::{BulkConfig, OffloadMode};

const BYTES: u64 = 256 << 20;

fn bulk(c: &mut Criterion) {
    let mut group = c.benchmark_group("bulk");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Bytes(BYTES));
    for id in wired_stacks() {
        let Ok(stack) = bulk_stack(id) else { continue };
        for (mtu, offload) in [
            (1500, OffloadMode::Csum),
            (9000, OffloadMode::Csum),
            (1500, OffloadMode::None),
        ] {
            let config = BulkConfig {
                bytes: BYTES,
                mtu,
                offload,
                ..BulkConfig::REFERENCE
            };
            if stack.supports(&config).is_err() {
                continue;
            }
            group.bench_function(
                BenchmarkId::new(stack.name(), format!("mtu{mtu}_{offload}")),
                |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let mut transfer = stack.prepare(&config).expect("prepare transfer");
                            let t0 = Instant::now();
                            let counts = transfer.run().expect("bulk transfer");
                            total += t0.elapsed();
                            assert_eq!(counts.bytes, BYTES);
                        }
                        total
                    })
                },
            );
        }
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bulk(&mut criterion);
    criterion.final_summary();
}
