//! Proves that the connection table, the in-memory link (with every impairment, checksum
//! offload and TSO segmentation) and the pcap capture allocate nothing after set-up: a
//! counting global allocator counts this thread's allocations around the data path.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::Ipv4Addr;

use tcp_engine::checksum;
use tcp_engine::device::{FrameDevice, TxMeta};
use tcp_engine::link::{Impairments, LinkConfig, Loss, SimClock, offload_caps, pair};
use tcp_engine::pcap::Capture;
use tcp_engine::softnic::{fill_ipv4_checksum, pseudo_header_sum};
use tcp_engine::table::{
    BoxedConnectionTable, ConnectionTable, EphemeralPorts, FourTuple, HashSecret, IsnGenerator,
    PortRange,
};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: forwards every call unchanged to the system allocator; the counter is a const
// thread-local Cell (no allocation, no destructor).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Writes an Ethernet/IPv4/TCP frame with `payload_len` bytes into `buf` (checksums left
/// zero for the device, or filled when `checksums`) and returns its length.
fn write_frame(buf: &mut [u8], seq: u32, payload_len: usize, checksums: bool) -> usize {
    let len = 54 + payload_len;
    let f = &mut buf[..len];
    f.fill(0);
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((len - 14) as u16).to_be_bytes());
    f[22] = 64;
    f[23] = 6;
    f[26..30].copy_from_slice(&[198, 18, 0, 1]);
    f[30..34].copy_from_slice(&[198, 18, 0, 2]);
    f[34..36].copy_from_slice(&40000u16.to_be_bytes());
    f[36..38].copy_from_slice(&80u16.to_be_bytes());
    f[38..42].copy_from_slice(&seq.to_be_bytes());
    f[46] = 0x50;
    f[47] = 0x18;
    for (i, b) in f[54..].iter_mut().enumerate() {
        *b = i as u8;
    }
    if checksums {
        fill_ipv4_checksum(f, 14, 20);
        let seed = pseudo_header_sum(f, 14, 6, (len - 34) as u32);
        let c = !checksum::add(seed, checksum::sum(&f[34..]));
        f[50..52].copy_from_slice(&c.to_be_bytes());
    }
    len
}

#[test]
fn data_paths_do_not_allocate_after_setup() {
    // Set-up: allocations allowed.
    let clock = SimClock::new();
    let mut config = LinkConfig::new(offload_caps(1500, true)).impaired(Impairments {
        loss: Loss::bursty(0.02, 4.0),
        duplicate: 0.02,
        reorder: 0.05,
        reorder_hold_us: 20,
        corrupt: 0.02,
        ce_mark: 0.0,
        delay_us: 10,
        jitter_us: 5,
        rate_bits_per_s: Some(10_000_000_000),
        // Threshold marking counts the bottleneck queue: no allocation either.
        ce_threshold_frames: Some(16),
    });
    config.queue_frames = 1024;
    let (a, mut b) = pair(&config, &clock).unwrap();
    let mut a = Capture::new(a, std::io::sink(), {
        let clock = clock.clone();
        move || clock.now_us()
    })
    .unwrap();
    let secret = HashSecret::from_bytes([42; 16]);
    let mut table: BoxedConnectionTable<[u64; 16]> =
        ConnectionTable::with_capacity(4096, &secret).unwrap();
    let isn = IsnGenerator::new(secret.derive(b"isn"));
    let mut ports = EphemeralPorts::new(PortRange::IANA, secret.derive(b"ports"));
    let (local, remote) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));

    let before = allocations();
    let mut received = 0u64;
    let mut keys_seen = 0u64;
    for round in 0..500u32 {
        // Table: open a connection on a fresh port, look it up, close it.
        let port = ports.allocate_in(table.map(), local, remote, 443).unwrap();
        let tuple = FourTuple::new(local, port, remote, 443);
        let seq = isn.isn(&tuple, u64::from(round) * 100);
        let key = table.insert(tuple, [u64::from(seq.get()); 16]).unwrap();
        keys_seen += u64::from(table.lookup_segment(&tuple).is_some());
        if round % 3 == 0 {
            table.remove(key, &tuple).unwrap();
        }
        // Link: a TSO super-frame, a checksum-offloaded frame, a plain frame.
        a.transmit(|buf| {
            let len = write_frame(buf, round, 20_000, false);
            Some((
                len,
                TxMeta {
                    checksum: true,
                    tso_mss: Some(1460),
                    l2_len: 14,
                    l3_len: 20,
                    l4_len: 20,
                },
            ))
        });
        a.transmit(|buf| {
            let len = write_frame(buf, round, 600, false);
            Some((
                len,
                TxMeta {
                    checksum: true,
                    tso_mss: None,
                    l2_len: 14,
                    l3_len: 20,
                    l4_len: 20,
                },
            ))
        });
        a.transmit(|buf| Some((write_frame(buf, round, 100, true), TxMeta::NONE)));
        clock.advance_us(50);
        received += b.rx_burst(usize::MAX, |frame, _| {
            let _ = frame[0];
        }) as u64;
        a.rx_burst(8, |_, _| {});
    }
    let during = allocations() - before;
    assert!(
        received > 2_500 && keys_seen == 500,
        "traffic flowed: {received} frames"
    );
    assert_eq!(during, 0, "allocations on the data path after set-up");
    // Control: the counter does see this thread's allocations.
    let control = allocations();
    std::hint::black_box(Vec::<u8>::with_capacity(16));
    assert_eq!(allocations(), control + 1);
}
