//! The report as aligned text for a terminal: a header with the workload and the machine, one
//! row per cell, then skipped cells, failed runs and notes.
//!
//! Owns text layout only; the figures come from [`BenchReport`].

use std::fmt::Write as _;

use super::{BenchReport, CellReport, Ratio, Sample};
use crate::stats::Summary;

/// `bytes` in the largest binary unit that keeps it at least 1 (`1 GiB`, `256 MiB`, `1.50 KiB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// A number with three significant digits at most (and no exponent for the sizes we show).
fn sig3(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn median_range(s: &Summary) -> String {
    format!("{} ({}-{})", sig3(s.median), sig3(s.min), sig3(s.max))
}

fn ratio_text(r: Option<&Ratio>, cell: &CellReport, show_reference: bool) -> String {
    match r {
        None => "-".into(),
        Some(r) => {
            let mut text = format!(
                "{}x / {}x",
                sig3(r.goodput.median),
                sig3(r.cpu_per_byte.median)
            );
            if show_reference && r.reference.offload != cell.key.offload {
                let _ = write!(text, " (vs {})", r.reference.offload);
            }
            text
        }
    }
}

/// Lays out rows of cells; the first row is the header. Column 0..`left` are left-aligned,
/// the rest right-aligned.
fn layout(rows: &[Vec<String>], left: usize) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let mut line = String::new();
        for (c, text) in row.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            let pad = widths[c] - text.chars().count();
            if c < left {
                line.push_str(text);
                line.extend(std::iter::repeat_n(' ', pad));
            } else {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(text);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if i == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
    }
    out
}

/// The whole report as terminal text.
pub fn render(report: &BenchReport) -> String {
    let w = &report.workload;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "bulk TCP, one connection, both ends on one thread{}: {} per run, {}, socket buffers \
         {}, {}, Nagle {}, {}",
        if w.nic_thread {
            " (simulated NICs and cable on a second thread)"
        } else {
            ""
        },
        human_bytes(w.bytes),
        if w.verify {
            "every byte copied in and verified"
        } else {
            "bytes not copied or verified"
        },
        human_bytes(w.socket_buffer as u64),
        w.congestion,
        if w.nagle { "on" } else { "off" },
        match w.rx_burst {
            None => "no receive burst limit".to_owned(),
            Some(n) => format!("at most {n} frames received per poll"),
        }
    );
    let _ = writeln!(
        out,
        "{} repetitions per cell, interleaved; `{}` build; {}",
        report.reps,
        report.build.profile_dir,
        report.host.describe()
    );
    let _ = writeln!(out, "{}", report.cycles);
    out.push('\n');

    let mut rows = vec![vec![
        "stack".to_owned(),
        "backend".into(),
        "offload".into(),
        "MTU".into(),
        "goodput Gbit/s med (min-max)".into(),
        "spread".into(),
        "CPU ns/B".into(),
        "cycles/B".into(),
        "Mframes/s".into(),
        "vs none: goodput / CPU/B".into(),
        "vs smoltcp: goodput / CPU/B".into(),
    ]];
    for cell in &report.cells {
        rows.push(vec![
            cell.key.stack.clone(),
            cell.key.backend.to_string(),
            cell.key.offload.to_string(),
            cell.key.mtu.to_string(),
            median_range(&cell.goodput_gbps),
            format!("{:.0}%", cell.goodput_gbps.spread_pct),
            sig3(cell.cpu_ns_per_byte.median),
            cell.cycles_per_byte
                .as_ref()
                .map_or_else(|| "-".into(), |s| sig3(s.median)),
            sig3(cell.frames_per_s.median / 1e6),
            ratio_text(cell.vs_none.as_ref(), cell, false),
            ratio_text(cell.vs_smoltcp.as_ref(), cell, true),
        ]);
    }
    if report.cells.is_empty() {
        out.push_str("no cell completed a run\n");
    } else {
        out.push_str(&layout(&rows, 3));
        out.push_str(
            "\nRatios: this cell / the reference cell, runs paired by round, median over rounds \
             (goodput above 1 is faster, CPU/B below 1 is cheaper).\n",
        );
    }

    let nic_rows: Vec<String> = report
        .cells
        .iter()
        .filter_map(|cell| {
            let nic: Vec<f64> = cell
                .samples
                .iter()
                .filter_map(Sample::nic_cpu_ns_per_byte)
                .collect();
            let nic = Summary::of(&nic)?;
            let total = cell.cpu_ns_per_byte.median;
            Some(format!(
                "  {}: {} CPU ns/B = hosts {} + simulated NICs {} (medians; hosts = process - \
                 NICs)",
                cell.key,
                sig3(total),
                sig3((total - nic.median).max(0.0)),
                sig3(nic.median)
            ))
        })
        .collect();
    if !nic_rows.is_empty() {
        out.push_str("\nHost and simulated-NIC CPU (the CPU ns/B column counts both):\n");
        for row in nic_rows {
            let _ = writeln!(out, "{row}");
        }
    }

    if !report.skipped.is_empty() {
        out.push_str("\nSkipped:\n");
        for s in &report.skipped {
            let _ = writeln!(out, "  {}: {}", s.key, s.reason);
        }
    }
    if !report.failures.is_empty() {
        out.push_str("\nFAILED runs:\n");
        for f in &report.failures {
            let _ = writeln!(out, "  {}, round {}: {}", f.key, f.rep + 1, f.error);
        }
    }
    if !report.notes.is_empty() {
        out.push_str("\nNotes:\n");
        for n in &report.notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::example_report;

    #[test]
    fn byte_sizes_read_naturally() {
        assert_eq!(human_bytes(1 << 30), "1 GiB");
        assert_eq!(human_bytes(256 << 20), "256 MiB");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(1000), "1000 B");
    }

    #[test]
    fn the_table_has_a_row_per_cell_with_its_figures() {
        let text = render(&example_report());
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("ferrotoe ") || l.starts_with("smoltcp"))
            .collect();
        assert_eq!(rows.len(), 5, "{text}");
        let tso = rows
            .iter()
            .find(|r| r.contains(" tso "))
            .expect("a TSO row");
        assert!(tso.contains("90.0 (84.0-96.0)"), "{tso}");
        assert!(tso.contains("2.00x / 0.500x"), "ratio to none: {tso}");
        assert!(
            tso.contains("3.00x / ") && tso.contains("(vs csum)"),
            "{tso}"
        );
        // Columns line up: every row is as wide as the header's rule allows.
        let rule = text.lines().find(|l| l.starts_with("---")).unwrap();
        assert!(rows.iter().all(|r| r.chars().count() <= rule.len()));
        assert!(text.contains("1 GiB per run"));
        assert!(text.contains("CPU cycles unavailable: no PMU"));
        assert!(text.contains("Skipped:\n  smoltcp on link, offload tso, MTU 1500: smoltcp 0.14"));
        assert!(text.contains("FAILED runs:\n  ferrotoe on link, offload csum, MTU 9000, round 1"));
        assert!(text.contains("  - a note"));
    }
}
