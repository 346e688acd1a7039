//! The memory-pass floor of the bulk workload: what moving 1 GiB through the workload's
//! buffers costs with no TCP at all, in CPU time per byte, so the figures of `ferrotoe bench`
//! can be read against the bound that memory bandwidth puts on them.
//!
//! `cargo run --profile perf -p ferrotoe-benches --example bulk_memory_floor` (1 GiB per shape)
//!
//! Two shapes, each over buffers of the workload's sizes (a 1 MiB send ring, 1 MiB receive
//! ring, a pool of 1514-byte frames reused last-in first-out as the link's free list does, the
//! [`Pattern`] table), in batches of `batch` MSS-sized segments per round:
//! - **3 passes** (ferrotoe with zero-copy receive): the application copies the pattern into
//!   the send ring; each segment's payload is copied from the ring into a frame; the
//!   application compares the frame's payload with the pattern.
//! - **4 passes** (smoltcp, and ferrotoe without zero-copy receive): the same plus a copy of
//!   each payload from the frame into the receive ring, which the application then compares.
//!
//! Prints CPU ns per byte and the goodput that CPU time alone would allow. A stack's figure
//! cannot beat its shape's floor; the gap is its per-segment cost.

use std::error::Error;

use ferrotoe_benches::measure::process_cpu_time;
use ferrotoe_benches::pattern::Pattern;

/// Payload bytes per segment at MTU 1500 with timestamps.
const MSS: usize = 1448;
/// Ethernet + IPv4 + TCP headers with timestamps.
const HEADERS: usize = 66;
const RING: usize = 1 << 20;

/// Copies `src` into `ring` at stream offset `at` (wrapping).
fn ring_write(ring: &mut [u8], at: u64, src: &[u8]) {
    let start = (at % ring.len() as u64) as usize;
    let first = src.len().min(ring.len() - start);
    ring[start..start + first].copy_from_slice(&src[..first]);
    ring[..src.len() - first].copy_from_slice(&src[first..]);
}

/// Copies from `ring` at stream offset `at` (wrapping) into `dst`.
fn ring_read(ring: &[u8], at: u64, dst: &mut [u8]) {
    let start = (at % ring.len() as u64) as usize;
    let first = dst.len().min(ring.len() - start);
    let rest = dst.len() - first;
    dst[..first].copy_from_slice(&ring[start..start + first]);
    dst[first..].copy_from_slice(&ring[..rest]);
}

fn run(total: u64, batch: usize, passes: u32) -> Result<f64, Box<dyn Error>> {
    let pattern = Pattern::new(RING);
    let mut send = vec![0u8; RING];
    let mut recv = vec![0u8; RING];
    let mut frames: Vec<Vec<u8>> = (0..batch).map(|_| vec![0u8; HEADERS + MSS]).collect();
    let started = process_cpu_time()?;
    let mut offset = 0u64;
    while offset < total {
        let n = (batch * MSS).min((total - offset) as usize);
        // The application copies the pattern into the ring's free space, in at most two runs
        // (as `write_with` over a wrapping ring).
        let start = (offset % RING as u64) as usize;
        let first = n.min(RING - start);
        pattern.fill(offset, &mut send[start..start + first]);
        pattern.fill(offset + first as u64, &mut send[..n - first]);
        // Send buffer to frames.
        for (i, frame) in frames.iter_mut().enumerate() {
            let at = i * MSS;
            if at >= n {
                break;
            }
            let len = MSS.min(n - at);
            ring_read(
                &send,
                offset + at as u64,
                &mut frame[HEADERS..HEADERS + len],
            );
        }
        // Frames to the application (through the receive ring for 4 passes).
        for (i, frame) in frames.iter().enumerate() {
            let at = i * MSS;
            if at >= n {
                break;
            }
            let len = MSS.min(n - at);
            let payload = &frame[HEADERS..HEADERS + len];
            let stream = offset + at as u64;
            let checked = if passes == 4 {
                ring_write(&mut recv, stream, payload);
                let start = (stream % RING as u64) as usize;
                if start + len <= RING {
                    pattern.check(stream, &recv[start..start + len])
                } else {
                    pattern.check(stream, payload)
                }
            } else {
                pattern.check(stream, payload)
            };
            if let Err(m) = checked {
                return Err(format!("pattern mismatch at {}", m.offset).into());
            }
        }
        offset += n as u64;
    }
    let cpu = process_cpu_time()?.since(started).total().as_secs_f64();
    Ok(cpu * 1e9 / total as f64)
}

fn main() -> Result<(), Box<dyn Error>> {
    let total = 1u64 << 30;
    for batch in [16usize, 64, 256] {
        for passes in [3, 4] {
            let ns = run(total, batch, passes)?;
            println!(
                "{passes} passes, {batch:>3} segments per round: {ns:.4} ns/B CPU \
                 (at most {:.1} Gbit/s)",
                8.0 / ns
            );
        }
    }
    Ok(())
}
