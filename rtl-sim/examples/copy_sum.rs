//! Whether fusing a copy with its ones' complement checksum pays on this CPU: 1,448-byte
//! payloads (one MSS at MTU 1500), the destination hot (one buffer, reused) or cold (cycling
//! through 2 MiB, as the NIC's DMA writes cycle through a host's receive ring), in ns per byte:
//!
//! - `copy + sum`: `copy_from_slice`, then `add_bytes` over the copy (two passes, the second
//!   over L1; what the model's staged datapath does);
//! - `chunked`: 512 bytes copied, then summed while in L1, then the next 512 (one pass over
//!   memory);
//! - `blockwise`: each 32-byte block loaded once, stored and added to eight lanes in the same
//!   step (the fully fused shape);
//! - `blockwise avx2`: the same built for AVX2 (run-time check).
//!
//! On the project's 2-vCPU EPYC (2026-11-26, load average 0.8), hot and cold alike: `copy +
//! sum` 0.027-0.043 ns/B, `chunked` 0.030-0.046, `blockwise` 0.057-0.079, `blockwise avx2`
//! 0.028-0.042. Fusing gains nothing here: the library's copy (64-byte stores) and
//! `add_bytes`'s AVX2 lanes over an L1-hot slice are as fast as one loop doing both, and the
//! baseline build of that loop is twice as slow. BENCHMARKS.md says what this meant for the
//! model's datapath.
//!
//! Run: `cargo run --release -p rtl-sim --example copy_sum [rounds]`

use std::hint::black_box;
use std::time::Instant;

use rtl_sim::engines::csum::{add_bytes, fold};

const LEN: usize = 1448;
const RING: usize = 2 << 20;
const CHUNK: usize = 512;

fn time(name: &str, dst_span: usize, rounds: usize, mut f: impl FnMut(usize) -> u64) {
    let slots = dst_span / 2048;
    let mut check = 0u16;
    let start = Instant::now();
    for i in 0..rounds {
        check = check.wrapping_add(fold(f((i % slots) * 2048)));
    }
    let ns = start.elapsed().as_nanos() as f64 / (rounds * LEN) as f64;
    println!(
        "{name:<15} {:>5} KiB destination: {ns:.4} ns/B   (check {check:#06x})",
        dst_span >> 10
    );
}

fn copy_then_sum(src: &[u8], dst: &mut [u8]) -> u64 {
    dst.copy_from_slice(src);
    add_bytes(0, dst)
}

fn chunked(src: &[u8], dst: &mut [u8]) -> u64 {
    let mut sum = 0;
    for (s, d) in src.chunks(CHUNK).zip(dst.chunks_mut(CHUNK)) {
        d.copy_from_slice(s);
        sum = add_bytes(sum, s);
    }
    sum
}

#[inline(always)]
fn blockwise(src: &[u8], dst: &mut [u8]) -> u64 {
    let whole = src.len() / 32 * 32;
    let mut lanes = [0u64; 8];
    for (s, d) in src[..whole]
        .chunks_exact(32)
        .zip(dst[..whole].chunks_exact_mut(32))
    {
        d.copy_from_slice(s);
        for (lane, w) in lanes.iter_mut().zip(s.chunks_exact(4)) {
            *lane += u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
        }
    }
    dst[whole..].copy_from_slice(&src[whole..]);
    let le: u64 = lanes.iter().map(|l| (l & 0xFFFF_FFFF) + (l >> 32)).sum();
    add_bytes(u64::from(fold(le).swap_bytes()), &src[whole..])
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn blockwise_avx2(src: &[u8], dst: &mut [u8]) -> u64 {
    blockwise(src, dst)
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let src: Vec<u8> = (0..LEN as u32).map(|i| (i * 131 + 7) as u8).collect();
    let want = fold(add_bytes(0, &src));
    let mut dst = vec![0u8; RING];
    // Every variant copies and sums correctly.
    for f in [copy_then_sum, chunked, blockwise] {
        let out = &mut dst[..LEN];
        out.fill(0);
        assert_eq!(fold(f(&src, out)), want);
        assert_eq!(out, &src[..]);
    }
    #[cfg(target_arch = "x86_64")]
    let avx2 = std::arch::is_x86_feature_detected!("avx2");
    for span in [4096, RING] {
        time("copy + sum", span, rounds, |at| {
            copy_then_sum(black_box(&src), &mut dst[at..at + LEN])
        });
        time("chunked", span, rounds, |at| {
            chunked(black_box(&src), &mut dst[at..at + LEN])
        });
        time("blockwise", span, rounds, |at| {
            blockwise(black_box(&src), &mut dst[at..at + LEN])
        });
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            time("blockwise avx2", span, rounds, |at| {
                // SAFETY: the CPU has AVX2 (checked above); the function is safe code built
                // for it.
                unsafe { blockwise_avx2(black_box(&src), &mut dst[at..at + LEN]) }
            });
        }
    }
}
