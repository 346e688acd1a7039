//! Runs one cell of the bulk benchmark once, without the matrix runner: handy under a profiler.
//!
//! `cargo run --profile perf -p ferrotoe-benches --example bulk_once -- ferrotoe csum 1500 4GiB`
//! (arguments: stack, offload mode, MTU, bytes, repetitions, `verify` or `noverify`, `whole` or
//! `segment`, `direct` or `buffered`, congestion control `reno` or `cubic` (or `none` for
//! smoltcp); defaults ferrotoe csum 1500 1GiB 1 verify whole direct reno).
//! `segment` runs our engine over a link that segments TSO super-frames (MSS-sized frames at
//! the receiver) instead of the benchmark's whole delivery. `buffered` turns our engine's
//! zero-copy receive off (every byte is copied into the receive buffer and read from there);
//! `ab` alternates `direct` and `buffered` runs, for a paired comparison.
//! Prints the goodput, the process CPU time per byte of the run and the counts.

use std::error::Error;
use std::time::Instant;

use ferrotoe_benches::ferrotoe_bulk::{FerrotoeTransfer, link};
use ferrotoe_benches::measure::process_cpu_time;
use ferrotoe_benches::stacks::{StackId, bulk_stack};
use ferrotoe_benches::workload::{BulkConfig, BulkRun, Congestion, OffloadMode};
use tcp_engine::link::TsoDelivery;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.into());
    let stack: StackId = arg(0, "ferrotoe").parse()?;
    let offload: OffloadMode = arg(1, "csum").parse()?;
    let mtu: u16 = arg(2, "1500").parse()?;
    let bytes = parse_bytes(&arg(3, "1GiB"))?;
    let congestion: Congestion = arg(8, "reno").parse()?;
    let config = BulkConfig {
        bytes,
        mtu,
        offload,
        verify: arg(5, "verify") != "noverify",
        congestion,
        ..BulkConfig::REFERENCE
    };
    let reps: u32 = arg(4, "1").parse()?;
    let receive = arg(7, "direct");
    for rep in 0..reps {
        let direct = match receive.as_str() {
            "buffered" => false,
            "ab" => rep % 2 == 0,
            _ => true,
        };
        let segment = arg(6, "whole") == "segment";
        let mut run: Box<dyn BulkRun> = if stack == StackId::Ferrotoe && (segment || !direct) {
            // Our engine with TSO super-frames segmented by the link's NIC model (the receiver
            // sees MSS-sized frames, as from a NIC without LRO) instead of delivered whole,
            // and/or with zero-copy receive off.
            let mut link = link::link_config(&config);
            if segment {
                link.tso_delivery = TsoDelivery::Segment;
            }
            let mut transfer = FerrotoeTransfer::new(config, link::LinkDevices::with_link(&link)?)?;
            transfer.set_zero_copy_receive(direct);
            Box::new(transfer)
        } else {
            bulk_stack(stack)?.prepare(&config)?
        };
        let cpu = process_cpu_time()?;
        let started = Instant::now();
        let counts = run.run()?;
        let secs = started.elapsed().as_secs_f64();
        let cpu = process_cpu_time()?.since(cpu).total().as_secs_f64();
        let receive = if stack == StackId::Ferrotoe && !direct {
            " buffered"
        } else {
            ""
        };
        println!(
            "{stack}{receive} {offload} MTU {mtu} {congestion}: {:.2} Gbit/s, {:.4} ns CPU/B ({:.2} Gbit/s of CPU time); \
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
