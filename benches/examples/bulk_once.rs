//! Runs one cell of the bulk benchmark once, without the matrix runner: handy under a profiler.
//!
//! `cargo run --profile perf -p ferrotoe-benches --example bulk_once -- ferrotoe csum 1500 4GiB`
//! (arguments: stack, offload mode, MTU, bytes, repetitions, `verify` or `noverify`, `whole` or
//! `segment`; defaults ferrotoe csum 1500 1GiB 1 verify whole). `segment` runs our engine over a
//! link that segments TSO super-frames (MSS-sized frames at the receiver) instead of the
//! benchmark's whole delivery.
//! Prints the goodput, the process CPU time per byte of the run and the counts.

use std::error::Error;
use std::time::Instant;

use ferrotoe_benches::ferrotoe_bulk::{FerrotoeTransfer, link};
use ferrotoe_benches::measure::process_cpu_time;
use ferrotoe_benches::stacks::{StackId, bulk_stack};
use ferrotoe_benches::workload::{BulkConfig, BulkRun, OffloadMode};
use tcp_engine::link::TsoDelivery;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.into());
    let stack: StackId = arg(0, "ferrotoe").parse()?;
    let offload: OffloadMode = arg(1, "csum").parse()?;
    let mtu: u16 = arg(2, "1500").parse()?;
    let bytes = parse_bytes(&arg(3, "1GiB"))?;
    let config = BulkConfig {
        bytes,
        mtu,
        offload,
        verify: arg(5, "verify") != "noverify",
        ..BulkConfig::REFERENCE
    };
    let reps: u32 = arg(4, "1").parse()?;
    for _ in 0..reps {
        let mut run: Box<dyn BulkRun> = if arg(6, "whole") == "segment" {
            // Our engine with TSO super-frames segmented by the link's NIC model (the receiver
            // sees MSS-sized frames, as from a NIC without LRO) instead of delivered whole.
            let mut link = link::link_config(&config);
            link.tso_delivery = TsoDelivery::Segment;
            Box::new(FerrotoeTransfer::new(
                config,
                link::LinkDevices::with_link(&link)?,
            )?)
        } else {
            bulk_stack(stack)?.prepare(&config)?
        };
        let cpu = process_cpu_time()?;
        let started = Instant::now();
        let counts = run.run()?;
        let secs = started.elapsed().as_secs_f64();
        let cpu = process_cpu_time()?.since(cpu).total().as_secs_f64();
        println!(
            "{stack} {offload} MTU {mtu}: {:.2} Gbit/s, {:.4} ns CPU/B ({:.2} Gbit/s of CPU time); \
             {} data frames, {} reverse, {} requests, {} polls",
            bytes as f64 * 8.0 / secs / 1e9,
            cpu * 1e9 / bytes as f64,
            bytes as f64 * 8.0 / cpu / 1e9,
            counts.data_frames,
            counts.reverse_frames,
            counts.tx_requests,
            counts.polls,
        );
    }
    Ok(())
}

fn parse_bytes(text: &str) -> Result<u64, Box<dyn Error>> {
    let t = text.trim().to_ascii_lowercase();
    let (digits, shift) = match t.trim_end_matches("ib").trim_end_matches('b') {
        s if s.ends_with('k') => (&s[..s.len() - 1], 10),
        s if s.ends_with('m') => (&s[..s.len() - 1], 20),
        s if s.ends_with('g') => (&s[..s.len() - 1], 30),
        s => (s, 0),
    };
    Ok(digits.parse::<u64>()? << shift)
}
