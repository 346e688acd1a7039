//! Throughput, bus utilisation, latency and simulation speed of the Verilog engines under
//! Verilator (feature `rtl`):
//!
//! ```sh
//! cargo bench -p rtl-sim --features rtl --bench rtl_engines
//! ```
//!
//! For each engine and frame size it pushes a stream of frames back to back (input offered every
//! cycle, output always ready) and reports cycles per frame, output bus utilisation (beats per
//! cycle from the first to the last output beat), idle cycles between back-to-back frames, the
//! equivalent throughput at the nominal 250 MHz clock, and simulated cycles per second on this
//! machine; then the latency of one frame through an idle engine. Output is Markdown.
#![allow(missing_docs)]

use std::time::Instant;

use hw_spec::offload::TsoFlagMasks;
use hw_spec::{DeviceCaps, L4Csum, TxOffloadRequest};
use rtl_sim::engines::tx;
use rtl_sim::rtl::{DataWidth, Pressure, REFERENCE_CAPS, RtlConfig, RtlEngines, StreamStats};

const CLOCK_HZ: f64 = 250e6;

/// (TCP payload bytes, frames at 512 bits): 60, 64, 1514 and 9000-byte frames.
const FRAME_SIZES: [(usize, usize); 4] = [(6, 20_000), (10, 20_000), (1460, 4_000), (8946, 1_000)];

const CAPS: DeviceCaps = REFERENCE_CAPS;

/// Ethernet + IPv4 + TCP (with `opts` option bytes) + payload, fields consistent.
fn tcp_frame(payload: usize, opts: usize) -> Vec<u8> {
    let l4 = 20 + opts;
    let mut f = vec![0u8; 14 + 20 + l4];
    f[12] = 0x08;
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((20 + l4 + payload).min(0xFFFF) as u16).to_be_bytes());
    f[22] = 64;
    f[23] = 6;
    f[26..30].copy_from_slice(&[198, 18, 0, 1]);
    f[30..34].copy_from_slice(&[198, 18, 0, 2]);
    f[34..36].copy_from_slice(&40000u16.to_be_bytes());
    f[36..38].copy_from_slice(&80u16.to_be_bytes());
    f[46] = ((l4 / 4) as u8) << 4;
    f[47] = 0x18;
    f.extend((0..payload).map(|i| (i * 7 + 3) as u8));
    f
}

struct Row {
    engine: &'static str,
    width: DataWidth,
    case: String,
    frames: usize,
    stats: StreamStats,
    out_bytes: usize,
    wall: f64,
    /// Cycles from the last input beat of a frame to its first output beat; negative when the
    /// engine is cut-through (TSO emits its first segment before the request's last byte).
    latency_last_in: i64,
    latency_first_in: u64,
}

fn print_header() {
    println!(
        "| engine | width | frames | cycles/frame | bus busy | idle cycles between frames | Gbit/s @250 MHz | latency: last in -> first out | latency: first in -> first out | sim cycles/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
}

fn print_row(r: &Row) {
    let gbps = r.out_bytes as f64 * 8.0 / r.stats.cycles as f64 * CLOCK_HZ / 1e9;
    let last_in = if r.latency_last_in < 0 {
        "cut-through".to_string()
    } else {
        r.latency_last_in.to_string()
    };
    println!(
        "| {} | {} | {} x {} | {:.2} | {:.1} % | {} | {:.1} | {} | {} | {:.2} M |",
        r.engine,
        r.width.bits(),
        r.frames,
        r.case,
        r.stats.cycles as f64 / r.frames as f64,
        100.0 * r.stats.out_utilisation(),
        r.stats.idle_between_frames,
        gbps,
        last_in,
        r.latency_first_in,
        r.stats.cycles as f64 / r.wall / 1e6,
    );
}

fn config() -> RtlConfig {
    RtlConfig {
        caps: CAPS,
        masks: TsoFlagMasks::LINUX,
        rx_csum_enable: true,
        rss_key: [0x6d; 40],
    }
}

fn tx_case(
    e: &mut RtlEngines,
    engine: &'static str,
    case: String,
    frame: &[u8],
    req: TxOffloadRequest,
    count: usize,
) -> Row {
    let reqs: Vec<(&[u8], TxOffloadRequest)> = (0..count).map(|_| (frame, req)).collect();
    let t = Instant::now();
    let batch = e.tx_batch(&reqs, Pressure::default()).expect("TX run");
    let wall = t.elapsed().as_secs_f64();
    assert!(
        batch.results.iter().all(|r| r.is_ok()),
        "all requests valid"
    );
    let single = e.tx_batch(&reqs[..1], Pressure::default()).expect("TX run");
    Row {
        engine,
        width: e.width(),
        case,
        frames: count,
        out_bytes: batch.frames.iter().map(|f| f.len()).sum(),
        stats: batch.stats,
        wall,
        latency_last_in: single.stats.first_out_cycle as i64
            - single.stats.first_frame_last_in_cycle as i64,
        latency_first_in: single.stats.first_out_cycle - single.stats.first_in_cycle,
    }
}

fn rx_case(e: &mut RtlEngines, frame: &[u8], count: usize) -> Row {
    let frames: Vec<&[u8]> = (0..count).map(|_| frame).collect();
    let t = Instant::now();
    let batch = e.rx_batch(&frames, Pressure::default()).expect("RX run");
    let wall = t.elapsed().as_secs_f64();
    let single = e
        .rx_batch(&frames[..1], Pressure::default())
        .expect("RX run");
    // RX is a sink: its bus is the input. Report input beats per cycle over the run, and the
    // cycles in which it refused a beat as idle.
    let mut stats = batch.stats;
    stats.first_out_cycle = stats.first_in_cycle;
    stats.last_out_cycle = stats.last_in_cycle;
    stats.out_beats = stats.in_beats;
    stats.idle_between_frames = stats.last_in_cycle + 1 - stats.first_in_cycle - stats.in_beats;
    Row {
        engine: "RX checksum + RSS",
        width: e.width(),
        case: format!("{} B", frame.len()),
        frames: count,
        out_bytes: frame.len() * count,
        stats,
        wall,
        latency_last_in: single.stats.first_out_cycle as i64
            - single.stats.first_frame_last_in_cycle as i64,
        latency_first_in: single.stats.first_out_cycle - single.stats.first_in_cycle,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; anything else is a filter we do not need.
    for width in [DataWidth::Bits512, DataWidth::Bits64] {
        let mut e = RtlEngines::new(width, config()).expect("model");
        println!(
            "\n### DATA_WIDTH = {} ({} bytes per beat)\n",
            width.bits(),
            width.bytes()
        );
        print_header();
        let scale = if width == DataWidth::Bits512 { 1 } else { 4 };
        for (payload, count) in FRAME_SIZES {
            // Checksum fields hold anything (here zeros); the engine overwrites them.
            let f = tcp_frame(payload, 0);
            let req = TxOffloadRequest::tcp_checksums(14, 20);
            let r = tx_case(
                &mut e,
                "TX checksum",
                format!("{} B", f.len()),
                &f,
                req,
                count / scale,
            );
            print_row(&r);
        }
        {
            let f = tcp_frame(1460, 0);
            let r = tx_case(
                &mut e,
                "TX pass-through",
                format!("{} B", f.len()),
                &f,
                TxOffloadRequest::NONE,
                4_000 / scale,
            );
            print_row(&r);
        }
        for (mss, payload, opts) in [
            (1448u16, 65535usize, 12usize),
            (1460, 65535, 0),
            (8960, 65535, 12),
        ] {
            let f = tcp_frame(payload, opts);
            let req = TxOffloadRequest::tso(mss, 14, 20, (20 + opts) as u8);
            let n = if width == DataWidth::Bits512 { 40 } else { 10 };
            let r = tx_case(
                &mut e,
                "TSO",
                format!("{} B payload, MSS {mss}", payload),
                &f,
                req,
                n,
            );
            print_row(&r);
        }
        for (payload, count) in FRAME_SIZES {
            let mut f = tcp_frame(payload, 0);
            tx::process(
                &mut f,
                &TxOffloadRequest {
                    l4_csum: L4Csum::Tcp,
                    ..TxOffloadRequest::tcp_checksums(14, 20)
                },
                &CAPS,
                &TsoFlagMasks::LINUX,
                &mut [],
                |_| {},
            )
            .expect("valid");
            let r = rx_case(&mut e, &f, count / scale);
            print_row(&r);
        }
    }
}
