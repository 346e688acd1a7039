//! What the in-memory link itself costs per byte, so the engine benchmarks that run over it
//! know how much of their time is the "wire" and the "NIC" (`tcp_engine::link`).
//!
//! `cargo bench -p ferrotoe-benches --bench link`
//!
//! Each iteration sends one request and receives everything it became: a 1514-byte frame with
//! its checksums already filled (no offload), or a 64 KiB TSO super-frame that the link
//! segments per SPEC 6.3 computing checksums as the NIC would (`tso_segment`), segments without
//! checksum arithmetic (`tso_segment_elided`), or hands over whole (`tso_whole_elided`, an
//! LRO peer). The sender writes the whole frame each time (like an engine copying user data).

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use tcp_engine::device::{FrameDevice, TxMeta};
use tcp_engine::link::{LinkConfig, SimClock, TsoDelivery, offload_caps, pair};

fn frame_into(buf: &mut [u8], template: &[u8]) -> usize {
    buf[..template.len()].copy_from_slice(template);
    template.len()
}

/// Ethernet/IPv4/TCP headers (zero checksums) and `payload` bytes.
fn template(payload: usize) -> Vec<u8> {
    let mut f = vec![0u8; 54 + payload];
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    let ip_len = (40 + payload).min(65535) as u16;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[22] = 64;
    f[23] = 6;
    f[26..30].copy_from_slice(&[198, 18, 0, 1]);
    f[30..34].copy_from_slice(&[198, 18, 0, 2]);
    f[46] = 0x50;
    f[47] = 0x10;
    for (i, b) in f[54..].iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    f
}

fn link_costs(c: &mut Criterion) {
    let mut group = c.benchmark_group("link");
    group
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    let mss = 1460usize;
    let super_payload = 44 * mss; // 64240 bytes
    let cases: [(&str, bool, TsoDelivery, bool, usize); 4] = [
        (
            "mtu_frames_no_offload",
            false,
            TsoDelivery::Segment,
            false,
            mss,
        ),
        (
            "tso_segment",
            true,
            TsoDelivery::Segment,
            false,
            super_payload,
        ),
        (
            "tso_segment_elided",
            true,
            TsoDelivery::Segment,
            true,
            super_payload,
        ),
        (
            "tso_whole_elided",
            true,
            TsoDelivery::Whole,
            true,
            super_payload,
        ),
    ];
    for (name, tso, delivery, elide, payload) in cases {
        let clock = SimClock::new();
        let mut config = LinkConfig::new(offload_caps(1500, tso));
        config.tso_delivery = delivery;
        config.elide_offloaded_checksums = elide;
        let (mut a, mut b) = pair(&config, &clock).expect("link");
        let frame = template(payload);
        let meta = if tso {
            TxMeta {
                checksum: true,
                tso_mss: Some(mss as u16),
                l2_len: 14,
                l3_len: 20,
                l4_len: 20,
            }
        } else {
            TxMeta::NONE
        };
        group.throughput(Throughput::Bytes(payload as u64));
        group.bench_function(name, |bench| {
            bench.iter(|| {
                a.transmit(|buf| Some((frame_into(buf, &frame), meta)));
                let mut sum = 0u8;
                b.rx_burst(usize::MAX, |f, _| sum ^= f[60]);
                black_box(sum)
            })
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    link_costs(&mut criterion);
    criterion.final_summary();
}
