//! The receive path's cost per segment at 1,000 and at 1,000,000 established connections,
//! measured interleaved in one process (issue #3: the 1M cost within 2x of the 1k cost), so
//! that the ratios hold on a machine other work shares: each round times one chunk of 4096
//! segments in every cell, one cell after the other, and the ratios are taken per round
//! (paired) before the median.
//!
//! `cargo run --release -p ferrotoe-benches --example million_ratio -- 40 32`
//! (arguments: rounds, default 40; frames per receive burst, default 32). Cells: `1k` and `1M`
//! (segments one at a time), `1k_pf` and `1M_pf` (bursts, the next burst prefetched while this
//! one is received; see `ferrotoe_benches::million`); and the connection table alone, in tables
//! of 1,000 and 1,000,000 240-byte states: `map1k`/`map1M`, one `ConnectionTable::lookup` of a
//! random existing tuple at a time, and `map1k_b`/`map1M_b`, `TupleMap::get_batch` over groups
//! of 32. Prints the median nanoseconds per segment (per lookup) of each cell, the paired
//! ratios and the engine's bytes per connection at 1M.

use std::error::Error;
use std::hint::black_box;
use std::time::Instant;

use ferrotoe_benches::million::{Ep, FRAME, picks, receive_in_bursts, setup, table_tuple};
use ferrotoe_benches::stats::{Summary, paired_ratio};
use tcp_engine::table::{BoxedConnectionTable, ConnectionTable, FourTuple, HashSecret, SlotKey};

/// Segments per timed chunk.
const CHUNK: usize = 4096;

struct Cell {
    name: &'static str,
    /// Prefetched bursts (endpoint cells) or batches of 32 (table cells).
    prefetch: bool,
    /// Index into the endpoints (0, 1) or, minus 2, into the tables.
    at: usize,
    ns: Vec<f64>,
    next: usize,
}

/// A table-only cell's table: 240-byte states, like the endpoint's connections.
struct TableHost {
    table: BoxedConnectionTable<[u64; 30]>,
    /// Existing tuples in a random order.
    probes: Vec<FourTuple>,
}

fn table_host(n: usize) -> Result<TableHost, Box<dyn Error>> {
    let secret = HashSecret::from_bytes(*b"ratio secret key");
    let mut table = ConnectionTable::with_capacity(n, &secret)?;
    for i in 0..n as u32 {
        table
            .insert(table_tuple(i), [u64::from(i); 30])
            .map_err(|(e, _)| e)?;
    }
    let probes = picks(n, 1 << 20, 0x9E37_79B9_7F4A_7C15)
        .into_iter()
        .map(|i| table_tuple(i as u32))
        .collect();
    Ok(TableHost { table, probes })
}

/// Looks up `probes` one at a time, or with `get_batch` in groups of 32.
fn lookups(host: &TableHost, probes: &[FourTuple], batch: bool) {
    if batch {
        let mut out = [None::<SlotKey>; 32];
        for group in probes.chunks(32) {
            host.table.map().get_batch(group, &mut out);
            black_box(&out);
        }
    } else {
        for t in probes {
            black_box(host.table.lookup(black_box(t)));
        }
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let rounds: usize = std::env::args().nth(1).map_or(Ok(40), |a| a.parse())?;
    let burst: usize = std::env::args().nth(2).map_or(Ok(32), |a| a.parse())?;
    if burst == 0 {
        return Err("a receive burst holds at least one frame".into());
    }
    let mut hosts: Vec<(Ep, Vec<[u8; FRAME]>)> = vec![setup(1_000, None), setup(1_000_000, None)];
    let tables = [table_host(1_000)?, table_host(1_000_000)?];
    let mut cells = [
        ("1k", false, 0),
        ("1k_pf", true, 0),
        ("1M", false, 1),
        ("1M_pf", true, 1),
        ("map1k", false, 2),
        ("map1M", false, 3),
        ("map1k_b", true, 2),
        ("map1M_b", true, 3),
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
            if let Some(host) = cell.at.checked_sub(2).map(|t| &tables[t]) {
                if cell.next + CHUNK > host.probes.len() {
                    cell.next = 0;
                }
                let probes = &host.probes[cell.next..cell.next + CHUNK];
                cell.next += CHUNK;
                let started = Instant::now();
                lookups(host, probes, cell.prefetch);
                let ns = started.elapsed().as_nanos() as f64 / CHUNK as f64;
                if round > 0 {
                    cell.ns.push(ns);
                }
                continue;
            }
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
    for (a, b) in [
        ("1M", "1k"),
        ("1M_pf", "1k"),
        ("1M_pf", "1k_pf"),
        ("map1M", "map1k"),
        ("map1M_b", "map1k_b"),
    ] {
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
