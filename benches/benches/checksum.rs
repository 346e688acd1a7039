//! Throughput of the Internet checksum (`tcp_engine::checksum::sum`) at frame sizes from a
//! bare ACK to a TSO super-segment, against a straightforward 16-bit-word loop, plus the cost
//! of writing a whole Ethernet + IPv4 + TCP header with the transmit hot path's builder.
//!
//! `cargo bench -p ferrotoe-benches --bench checksum` prints GiB/s (criterion's
//! `Throughput::Bytes`) for 64 B, 1500 B, 9000 B and 64 KiB, each at an aligned and an
//! odd (1-byte offset) start; then the header builder (ns per frame) and the receive-side
//! frame parser with software and device-verified checksums.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_main};
use std::hint::black_box;
use tcp_engine::checksum;
use tcp_engine::device::{ChecksumState, RxMeta};
use tcp_engine::segment::{TcpFlags, TcpHeader, TcpOptions};
use tcp_engine::seq::SeqNum;
use tcp_engine::wire::frame::{TcpFrameAddresses, emit_tcp_frame, parse_frame, write_tcp_headers};
use tcp_engine::wire::{EthernetAddress, Ipv4Address, TxChecksum};

const SIZES: [usize; 4] = [64, 1500, 9000, 65536];

/// The textbook loop: one big-endian 16-bit word at a time into a `u32`, folded at the end.
fn word_loop_sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    checksum::fold(acc)
}

fn bench_sum(c: &mut Criterion) {
    // One byte of slack so the odd-offset case reads the same number of bytes.
    let buf: Vec<u8> = (0..65536 + 1).map(|i| (i * 7 + 3) as u8).collect();
    let mut group = c.benchmark_group("checksum");
    for &size in &SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("sum", size), &size, |b, &n| {
            b.iter(|| checksum::sum(black_box(&buf[..n])))
        });
        group.bench_with_input(BenchmarkId::new("sum_offset1", size), &size, |b, &n| {
            b.iter(|| checksum::sum(black_box(&buf[1..n + 1])))
        });
        group.bench_with_input(BenchmarkId::new("word_loop", size), &size, |b, &n| {
            b.iter(|| word_loop_sum(black_box(&buf[..n])))
        });
    }
    group.finish();
}

fn bench_headers(c: &mut Criterion) {
    let addrs = TcpFrameAddresses {
        src_mac: EthernetAddress([2, 0, 0, 0, 0, 1]),
        dst_mac: EthernetAddress([2, 0, 0, 0, 0, 2]),
        src_ip: Ipv4Address([198, 18, 0, 1]),
        dst_ip: Ipv4Address([198, 18, 0, 2]),
        ttl: 64,
        dscp_ecn: 0,
    };
    let header = TcpHeader {
        src_port: 5000,
        dst_port: 49152,
        seq: SeqNum(1),
        ack: SeqNum(2),
        flags: TcpFlags::ACK,
        window: 1024,
        urgent: 0,
        options: TcpOptions {
            timestamps: Some((1, 2)),
            ..TcpOptions::default()
        },
    };
    let mut buf = vec![0u8; 2048];
    let mut group = c.benchmark_group("tcp_frame_headers");
    for (name, csum) in [
        ("device_csum", TxChecksum::Device),
        ("software_csum", TxChecksum::Software),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                write_tcp_headers(
                    black_box(&mut buf),
                    black_box(&addrs),
                    7,
                    black_box(&header),
                    1448,
                    csum,
                )
            })
        });
    }
    group.finish();

    // The receive side: take a 1448-byte-payload frame apart, checksums verified in software
    // or vouched for by the device.
    let payload = vec![0xA5u8; 1448];
    let layout = emit_tcp_frame(
        &mut buf,
        &addrs,
        7,
        &header,
        &[&payload],
        TxChecksum::Software,
    )
    .expect("frame fits");
    let frame = &buf[..layout.frame_len()];
    let trusted = RxMeta {
        ip: ChecksumState::Good,
        l4: ChecksumState::Good,
    };
    let mut group = c.benchmark_group("rx_parse_frame");
    group.throughput(Throughput::Bytes(frame.len() as u64));
    for (name, meta) in [
        ("software_verify", RxMeta::UNVERIFIED),
        ("device_verified", trusted),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| parse_frame(black_box(frame), meta).map(|rx| rx.ethernet))
        });
    }
    group.finish();
}

/// Criterion's generated group function carries no docs of its own.
mod group {
    #![allow(missing_docs)]
    use super::{bench_headers, bench_sum};
    criterion::criterion_group!(benches, bench_sum, bench_headers);
}

criterion_main!(group::benches);
