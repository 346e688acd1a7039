//! The receive and transmit paths of `wire` and the neighbour cache allocate nothing: a
//! counting global allocator watches a loop of frame parsing, header writing, checksumming and
//! neighbour resolution. (These modules also build without `std` or `alloc`:
//! `cargo build -p tcp-engine --no-default-features`.)
//!
//! Only allocations made by the test's own thread count (the test harness's threads allocate
//! concurrently for their own bookkeeping).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use tcp_engine::checksum;
use tcp_engine::device::RxMeta;
use tcp_engine::neighbor::{NeighborCache, NeighborConfig, Resolution};
use tcp_engine::segment::{SackBlock, TcpFlags, TcpHeader, TcpOptions};
use tcp_engine::seq::SeqNum;
use tcp_engine::time::Instant;
use tcp_engine::wire::frame::{
    TcpFrameAddresses, emit_arp_frame, emit_tcp_frame, finish_tcp_checksum, parse_frame,
    write_tcp_headers,
};
use tcp_engine::wire::{ArpRepr, EthernetAddress, Ipv4Address, RxPayload, TxChecksum};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are counted.
    static WATCHED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if WATCHED.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call unchanged to the system allocator, only counting allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn data_path_does_not_allocate() {
    let addrs = TcpFrameAddresses {
        src_mac: EthernetAddress([2, 0, 0, 0, 0, 1]),
        dst_mac: EthernetAddress([2, 0, 0, 0, 0, 2]),
        src_ip: Ipv4Address([198, 18, 0, 1]),
        dst_ip: Ipv4Address([198, 18, 0, 2]),
        ttl: 64,
        dscp_ecn: 0,
    };
    let mut header = TcpHeader {
        src_port: 80,
        dst_port: 40000,
        seq: SeqNum(1),
        ack: SeqNum(1),
        flags: TcpFlags::ACK,
        window: 100,
        urgent: 0,
        options: TcpOptions {
            timestamps: Some((1, 1)),
            ..TcpOptions::default()
        },
    };
    header.options.push_sack(SackBlock {
        left: SeqNum(10),
        right: SeqNum(20),
    });
    // Set-up: buffers and the cache exist before counting starts.
    let payload = vec![7u8; 1448];
    let mut frame = vec![0u8; 2048];
    let mut arp = vec![0u8; 64];
    let mut cache = NeighborCache::<16>::new(NeighborConfig::default());

    WATCHED.with(|w| w.set(true));
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut delivered = 0usize;
    for i in 0..1000u32 {
        let now = Instant::from_millis(u64::from(i));
        header.seq = SeqNum(i.wrapping_mul(1448));
        let layout = emit_tcp_frame(
            &mut frame,
            &addrs,
            i as u16,
            &header,
            &[&payload[..700], &payload[700..]],
            TxChecksum::Software,
        )
        .expect("frame fits");
        if let Ok(rx) = parse_frame(&frame[..layout.frame_len()], RxMeta::UNVERIFIED)
            && let RxPayload::Tcp { payload: p, .. } = rx.payload
        {
            delivered += p.len();
        }
        let split = write_tcp_headers(
            &mut frame,
            &addrs,
            0,
            &header,
            payload.len(),
            TxChecksum::Software,
        )
        .expect("frame fits");
        frame[split.payload_range()].copy_from_slice(&payload);
        finish_tcp_checksum(&mut frame, &split);
        let _ = checksum::sum(&frame[..split.frame_len()]);

        let neighbour = Ipv4Address([198, 18, 1, (i % 40) as u8 + 1]);
        if cache.resolve(neighbour, now) == Resolution::SendRequest {
            let req = ArpRepr::request(addrs.src_mac, addrs.src_ip, neighbour);
            let n = emit_arp_frame(&mut arp, addrs.src_mac, &req).expect("fits");
            if let Ok(rx) = parse_frame(&arp[..n], RxMeta::UNVERIFIED)
                && let RxPayload::Arp(a) = rx.payload
            {
                let answer = ArpRepr::reply_to(&a, EthernetAddress([2, 0, 0, 0, 9, 9]));
                cache.process_arp(&answer, addrs.src_ip, addrs.src_mac, now);
            }
        }
        while cache.poll_requests(now).is_some() {}
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    WATCHED.with(|w| w.set(false));
    assert_eq!(delivered, 1000 * 1448, "every frame parsed back");
    assert_eq!(
        after - before,
        0,
        "the wire data path and the neighbour cache allocated"
    );
}
