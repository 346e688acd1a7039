//! The report as a standalone SVG chart: one panel per metric (goodput; host CPU time per
//! byte; CPU cycles per byte when counted), bars grouped by MTU and offload mode, one colour per
//! stack/backend series, the median as the bar and the min-max range as a whisker.
//!
//! Written by hand (no plotting dependency): the chart is a few dozen rectangles and lines.
//! Every bar carries `data-series`, `data-group`, `data-metric` and `data-median` attributes
//! and a `<title>` tooltip, so tools and tests can read the chart back.
//!
//! Owns SVG layout only; the figures come from [`BenchReport`].

use std::fmt::Write as _;

use super::{BenchReport, CellKey, CellReport, stack_rank};
use crate::stats::Summary;
use crate::workload::{Backend, OffloadMode};

const WIDTH: f64 = 960.0;
const PANEL_HEIGHT: f64 = 260.0;
const MARGIN_LEFT: f64 = 80.0;
const MARGIN_RIGHT: f64 = 24.0;
const TOP: f64 = 84.0;
const PANEL_GAP: f64 = 64.0;
const PALETTE: [&str; 6] = [
    "#1b6ca8", "#e07b39", "#5a9a32", "#8e5ea2", "#c94c4c", "#7f7f7f",
];

/// Escapes text for XML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A round axis maximum at or above `max`, and its tick step (1, 2 or 5 times a power of ten,
/// four to ten ticks).
fn axis(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 0.2);
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| max / s <= 10.0)
        .unwrap_or(10.0 * magnitude);
    ((max / step).ceil() * step, step)
}

fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    format!("{v:.decimals$}")
}

struct Metric {
    id: &'static str,
    title: &'static str,
    unit: &'static str,
    value: fn(&CellReport) -> Option<Summary>,
}

const METRICS: [Metric; 3] = [
    Metric {
        id: "goodput_gbps",
        title: "Goodput (higher is better)",
        unit: "Gbit/s",
        value: |c| Some(c.goodput_gbps),
    },
    Metric {
        id: "cpu_ns_per_byte",
        title: "Host CPU time per byte (lower is better)",
        unit: "ns/B",
        value: |c| Some(c.cpu_ns_per_byte),
    },
    Metric {
        id: "cycles_per_byte",
        title: "CPU cycles per byte (lower is better)",
        unit: "cycles/B",
        value: |c| c.cycles_per_byte,
    },
];

/// The report as an SVG document.
pub fn render(report: &BenchReport) -> String {
    let mut groups: Vec<(u16, OffloadMode)> = report
        .cells
        .iter()
        .map(|c| (c.key.mtu, c.key.offload))
        .collect();
    groups.sort();
    groups.dedup();
    let mut series: Vec<(String, Backend)> = report
        .cells
        .iter()
        .map(|c| (c.key.stack.clone(), c.key.backend))
        .collect();
    series.sort_by(|a, b| (stack_rank(&a.0), &a.0, a.1).cmp(&(stack_rank(&b.0), &b.0, b.1)));
    series.dedup();
    let metrics: Vec<&Metric> = METRICS
        .iter()
        .filter(|m| report.cells.iter().any(|c| (m.value)(c).is_some()))
        .collect();

    let height = TOP + metrics.len() as f64 * (PANEL_HEIGHT + PANEL_GAP) + 40.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
    );
    let w = &report.workload;
    let _ = writeln!(
        svg,
        r#"<text x="{MARGIN_LEFT}" y="24" font-size="16" font-weight="bold">{}</text>"#,
        esc(&format!(
            "Bulk TCP, one connection, one thread: {} per run, {}, {} rounds",
            super::table::human_bytes(w.bytes),
            if w.verify { "verified" } else { "not verified" },
            report.reps
        ))
    );

    // Legend.
    let mut x = MARGIN_LEFT;
    for (i, (stack, backend)) in series.iter().enumerate() {
        let name = format!("{stack}/{backend}");
        let colour = PALETTE[i % PALETTE.len()];
        let _ = writeln!(
            svg,
            r#"<g class="legend-entry" data-series="{n}"><rect x="{x}" y="40" width="14" height="14" fill="{colour}"/><text x="{tx}" y="52">{n}</text></g>"#,
            n = esc(&name),
            tx = x + 20.0
        );
        x += 40.0 + 7.5 * name.chars().count() as f64;
    }

    let plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let group_width = plot_width / groups.len().max(1) as f64;
    let bar_width = group_width * 0.8 / series.len().max(1) as f64;
    for (p, metric) in metrics.iter().enumerate() {
        let top = TOP + p as f64 * (PANEL_HEIGHT + PANEL_GAP) + 20.0;
        let bottom = top + PANEL_HEIGHT - 40.0;
        let max = report
            .cells
            .iter()
            .filter_map(|c| (metric.value)(c))
            .map(|s| s.max)
            .fold(0.0, f64::max);
        let (axis_max, step) = axis(max);
        let y_of = |v: f64| bottom - (v / axis_max) * (bottom - top);
        let _ = writeln!(svg, r#"<g class="panel" data-metric="{}">"#, metric.id);
        let _ = writeln!(
            svg,
            r#"<text x="{MARGIN_LEFT}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
            top - 10.0,
            esc(metric.title)
        );
        let mut tick = 0.0;
        while tick <= axis_max + step * 1e-9 {
            let y = y_of(tick);
            let _ = writeln!(
                svg,
                r##"<line x1="{MARGIN_LEFT}" y1="{y:.1}" x2="{x2}" y2="{y:.1}" stroke="#dddddd"/><text x="{tx}" y="{ty:.1}" text-anchor="end">{}</text>"##,
                tick_label(tick, step),
                x2 = WIDTH - MARGIN_RIGHT,
                tx = MARGIN_LEFT - 6.0,
                ty = y + 4.0
            );
            tick += step;
        }
        let mid = (top + bottom) / 2.0;
        let _ = writeln!(
            svg,
            r#"<text x="20" y="{mid:.1}" transform="rotate(-90 20 {mid:.1})" text-anchor="middle">{}</text>"#,
            esc(metric.unit)
        );
        let _ = writeln!(
            svg,
            r##"<line x1="{MARGIN_LEFT}" y1="{bottom:.1}" x2="{x2}" y2="{bottom:.1}" stroke="#333333"/>"##,
            x2 = WIDTH - MARGIN_RIGHT
        );
        for (g, (mtu, offload)) in groups.iter().enumerate() {
            let gx = MARGIN_LEFT + g as f64 * group_width;
            let group_name = format!("MTU {mtu} {offload}");
            let _ = writeln!(
                svg,
                r#"<text x="{cx:.1}" y="{ly:.1}" text-anchor="middle">MTU {mtu}<tspan x="{cx:.1}" dy="14">{offload}</tspan></text>"#,
                cx = gx + group_width / 2.0,
                ly = bottom + 16.0
            );
            for (s, (stack, backend)) in series.iter().enumerate() {
                let key = CellKey {
                    stack: stack.clone(),
                    backend: *backend,
                    offload: *offload,
                    mtu: *mtu,
                };
                let Some(summary) = report.cell(&key).and_then(|c| (metric.value)(c)) else {
                    continue;
                };
                let bx = gx + group_width * 0.1 + s as f64 * bar_width;
                let (y_med, y_min, y_max) =
                    (y_of(summary.median), y_of(summary.min), y_of(summary.max));
                let cx = bx + bar_width / 2.0;
                let name = key.series();
                let _ = writeln!(
                    svg,
                    r#"<rect class="bar" data-series="{n}" data-group="{grp}" data-metric="{m}" data-median="{med}" x="{bx:.1}" y="{y_med:.1}" width="{bw:.1}" height="{h:.1}" fill="{colour}"><title>{tt}</title></rect>"#,
                    n = esc(&name),
                    grp = esc(&group_name),
                    m = metric.id,
                    med = summary.median,
                    bw = (bar_width - 2.0).max(1.0),
                    h = (bottom - y_med).max(0.0),
                    colour = PALETTE[s % PALETTE.len()],
                    tt = esc(&format!(
                        "{name}, {group_name}: median {:.3} {unit} (min {:.3}, max {:.3}, {} runs)",
                        summary.median,
                        summary.min,
                        summary.max,
                        summary.n,
                        unit = metric.unit
                    )),
                );
                let _ = writeln!(
                    svg,
                    r##"<path class="whisker" d="M{cx:.1} {y_min:.1} V{y_max:.1} M{l:.1} {y_min:.1} H{r:.1} M{l:.1} {y_max:.1} H{r:.1}" stroke="#222222" fill="none"/>"##,
                    l = cx - bar_width / 6.0,
                    r = cx + bar_width / 6.0
                );
            }
        }
        svg.push_str("</g>\n");
    }

    let footer_y = height - 14.0;
    let _ = writeln!(
        svg,
        r##"<text x="{MARGIN_LEFT}" y="{footer_y}" font-size="11" fill="#555555">{}</text>"##,
        esc(&format!(
            "Bars: median; whiskers: min to max. {}; `{}` build. {}",
            report.host.describe(),
            report.build.profile_dir,
            match &report.cycles {
                crate::measure::CyclesStatus::Counting { .. } => "Cycles counted with perf.",
                crate::measure::CyclesStatus::Unavailable { .. } =>
                    "No cycle counter on this machine: CPU time from getrusage.",
            }
        ))
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::example_report;
    use std::collections::BTreeSet;

    #[test]
    fn axis_maxima_are_round_and_cover_the_data() {
        let close = |(a, b): (f64, f64), (x, y): (f64, f64)| {
            assert!(
                (a - x).abs() < 1e-9 && (b - y).abs() < 1e-9,
                "{a},{b} vs {x},{y}"
            )
        };
        close(axis(47.3), (50.0, 5.0));
        close(axis(96.0), (100.0, 10.0));
        close(axis(0.27), (0.3, 0.05));
        let (max, step) = axis(0.0);
        assert!(max > 0.0 && step > 0.0);
        for v in [0.013, 1.0, 7.7, 123.0, 9999.0] {
            let (max, step) = axis(v);
            assert!(
                max >= v && max / step <= 10.0 + 1e-9 && max / step >= 2.0,
                "{v}"
            );
        }
    }

    #[test]
    fn the_chart_is_well_formed_xml_with_a_bar_per_cell_and_metric() {
        let report = example_report();
        let text = render(&report);
        let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        assert!(!text.contains("NaN") && !text.contains("inf"));

        let panels: Vec<&str> = root
            .descendants()
            .filter(|n| n.attribute("class") == Some("panel"))
            .map(|n| n.attribute("data-metric").unwrap())
            .collect();
        // No cycles in the example: two panels.
        assert_eq!(panels, ["goodput_gbps", "cpu_ns_per_byte"]);

        let bars: Vec<roxmltree::Node> = root
            .descendants()
            .filter(|n| n.attribute("class") == Some("bar"))
            .collect();
        assert_eq!(bars.len(), 2 * report.cells.len());
        let series: BTreeSet<&str> = bars
            .iter()
            .map(|b| b.attribute("data-series").unwrap())
            .collect();
        assert_eq!(
            series,
            BTreeSet::from(["ferrotoe/link", "smoltcp/link", "smoltcp-bulk/link"])
        );
        let legend: BTreeSet<&str> = root
            .descendants()
            .filter(|n| n.attribute("class") == Some("legend-entry"))
            .map(|n| n.attribute("data-series").unwrap())
            .collect();
        assert_eq!(legend, series);

        // Each bar's median is the cell's, and taller bars mean larger values.
        for cell in &report.cells {
            let bar = bars
                .iter()
                .find(|b| {
                    b.attribute("data-series") == Some(cell.key.series().as_str())
                        && b.attribute("data-metric") == Some("goodput_gbps")
                        && b.attribute("data-group")
                            == Some(format!("MTU {} {}", cell.key.mtu, cell.key.offload).as_str())
                })
                .expect("a bar for the cell");
            let median: f64 = bar.attribute("data-median").unwrap().parse().unwrap();
            assert_eq!(median, cell.goodput_gbps.median);
            let title = bar.first_element_child().unwrap();
            assert_eq!(title.tag_name().name(), "title");
            assert!(title.text().unwrap().contains("median"));
        }
        let height_of = |series: &str, group: &str| -> f64 {
            bars.iter()
                .find(|b| {
                    b.attribute("data-series") == Some(series)
                        && b.attribute("data-group") == Some(group)
                        && b.attribute("data-metric") == Some("goodput_gbps")
                })
                .unwrap()
                .attribute("height")
                .unwrap()
                .parse()
                .unwrap()
        };
        assert!(
            height_of("ferrotoe/link", "MTU 1500 tso") > height_of("smoltcp/link", "MTU 1500 csum")
        );
        // Text from the machine is escaped, not injected.
        assert!(text.contains("Test CPU &lt;&amp;&gt;"));
    }

    #[test]
    fn an_empty_report_still_renders() {
        let mut report = example_report();
        report.cells.clear();
        let text = render(&report);
        roxmltree::Document::parse(&text).expect("well-formed XML");
    }
}
