//! Runs the connection-lifecycle workload once, without criterion: handy under a profiler.
//!
//! `cargo run --profile perf -p ferrotoe-benches --example lifecycle_once -- 200000 64`
//! (arguments: lifecycles, concurrency; defaults 100000 and 64). Prints lifecycles per second.

use std::error::Error;

use ferrotoe_benches::lifecycle::{LifecycleConfig, Lifecycles};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let connections: u64 = args.first().map_or(Ok(100_000), |a| a.parse())?;
    let concurrency: usize = args.get(1).map_or(Ok(64), |a| a.parse())?;
    let config = LifecycleConfig {
        connections,
        concurrency,
        ..LifecycleConfig::DEFAULT
    };
    let report = Lifecycles::new(config)?.run()?;
    println!(
        "{} lifecycles, {concurrency} at a time, in {:.3} s: {:.0} per second (CPU time {:.3} s: \
         {:.0} per CPU second), {:.2} frames each, {} polls",
        report.connections,
        report.elapsed.as_secs_f64(),
        report.per_second(),
        report.cpu.as_secs_f64(),
        report.per_cpu_second(),
        report.frames as f64 / report.connections as f64,
        report.polls
    );
    Ok(())
}
