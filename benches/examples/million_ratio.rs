//! The receive path's cost per segment at 1,000 and at 1,000,000 established connections,
//! measured interleaved in one process (issue #3: the 1M cost within 2x of the 1k cost), so
//! that the ratios hold on a machine other work shares: each round times one chunk of 4096
//! segments in every cell, one cell after the other, and the ratios are taken per round
//! (paired) before the median.
//!
//! `cargo run --release -p ferrotoe-benches --example million_ratio -- 40 32`
//! (arguments: rounds, default 40; frames per receive burst, default 32). Cells: `1k` and `1M`
//! (segments one at a time), `1k_pf` and `1M_pf` (bursts, the next burst prefetched while this
//! one is received; see `ferrotoe_benches::million`). Prints the median nanoseconds per segment of each cell, the
//! paired ratios and the engine's bytes per connection at 1M.

use std::error::Error;
use std::time::Instant;

use ferrotoe_benches::million::{Ep, FRAME, receive_in_bursts, setup};
use ferrotoe_benches::stats::{Summary, paired_ratio};

/// Segments per timed chunk.
const CHUNK: usize = 4096;

struct Cell {
    name: &'static str,
    prefetch: bool,
    /// Index into the endpoints.
    at: usize,
    ns: Vec<f64>,
    next: usize,
}

fn main() -> Result<(), Box<dyn Error>> {
    let rounds: usize = std::env::args().nth(1).map_or(Ok(40), |a| a.parse())?;
    let burst: usize = std::env::args().nth(2).map_or(Ok(32), |a| a.parse())?;
    if burst == 0 {
        return Err("a receive burst holds at least one frame".into());
    }
    let mut hosts: Vec<(Ep, Vec<[u8; FRAME]>)> = vec![setup(1_000, None), setup(1_000_000, None)];
    let mut cells = [
        ("1k", false, 0),
        ("1k_pf", true, 0),
        ("1M", false, 1),
        ("1M_pf", true, 1),
    ]
    .map(|(name, prefetch, at)| Cell {
        name,
        prefetch,
        at,
        ns: Vec::new(),
        next: 0,
    });
    let mut buf = vec![0u8; 1514];
    // One untimed round warms every cell.
    for round in 0..=rounds {
        for cell in &mut cells {
            let (ep, frames) = &mut hosts[cell.at];
            if cell.next + CHUNK > frames.len() {
                cell.next = 0;
            }
            let chunk = &mut frames[cell.next..cell.next + CHUNK];
            cell.next += CHUNK;
            let started = Instant::now();
            receive_in_bursts(ep, chunk, &mut buf, cell.prefetch.then_some(burst));
            let ns = started.elapsed().as_nanos() as f64 / CHUNK as f64;
            if round > 0 {
                cell.ns.push(ns);
            }
        }
    }
    for (ep, _) in &hosts {
        ep.check_invariants()?;
    }
    println!(
        "{rounds} rounds of {CHUNK} segments per cell, interleaved; prefetched bursts of {burst}"
    );
    for cell in &cells {
        let s = Summary::of(&cell.ns).ok_or("no measurements")?;
        println!(
            "{:6} {:7.1} ns per segment (min {:.1}, max {:.1})",
            cell.name, s.median, s.min, s.max
        );
    }
    let ns = |name: &str| -> Result<&[f64], Box<dyn Error>> {
        Ok(&cells
            .iter()
            .find(|c| c.name == name)
            .ok_or("no such cell")?
            .ns)
    };
    for (a, b) in [("1M", "1k"), ("1M_pf", "1k"), ("1M_pf", "1k_pf")] {
        let r = paired_ratio(ns(a)?, ns(b)?).ok_or("no ratio")?;
        println!(
            "{a}/{b}: {:.2}x (paired, median; min {:.2}, max {:.2})",
            r.median, r.min, r.max
        );
    }
    println!(
        "engine state per connection at 1,000,000 connections: {:.1} bytes (budget 256)",
        Ep::engine_bytes_per_connection(1_000_000)
    );
    Ok(())
}
