//! The endpoint's data path allocates nothing after set-up: a counting global allocator watches
//! a whole connection between two endpoints over the impaired link — ARP resolution, the
//! handshake, megabytes both ways with loss (retransmission and delayed-ACK timers, SACK
//! recovery, reassembly), in-place replies (ICMP echo, ARP, RSTs for closed ports), the close,
//! TIME-WAIT running out, and taking the buffers back — with software checksums and with
//! checksum offload plus TSO.
//!
//! Only this thread's allocations count (the test harness allocates on its own threads).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::{MIB, Pair, ip, mac};
use tcp_engine::device::{OffloadCaps, RxMeta};
use tcp_engine::endpoint::Received;
use tcp_engine::link::{Impairments, LinkConfig, Loss, offload_caps};
use tcp_engine::segment::{TcpFlags, TcpHeader};
use tcp_engine::seq::SeqNum;
use tcp_engine::tcb::{State, TcbConfig};
use tcp_engine::time::Duration;
use tcp_engine::wire::frame::{TcpFrameAddresses, emit_arp_frame, emit_tcp_frame};
use tcp_engine::wire::{ArpRepr, TxChecksum};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: forwards every call unchanged to the system allocator; the counter is a const
// thread-local Cell (no allocation, no destructor).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Frames from a third host (198.18.0.3) to host 2: an ARP request for it and a SYN to a
/// closed port.
fn strangers() -> Vec<Vec<u8>> {
    let mut arp = vec![0u8; 60];
    let n = emit_arp_frame(&mut arp, mac(3), &ArpRepr::request(mac(3), ip(3), ip(2))).unwrap();
    arp.truncate(n);
    let addrs = TcpFrameAddresses {
        src_mac: mac(3),
        dst_mac: mac(2),
        src_ip: ip(3),
        dst_ip: ip(2),
        ttl: 64,
        dscp_ecn: 0,
    };
    let syn = TcpHeader {
        src_port: 777,
        dst_port: 9,
        seq: SeqNum(1),
        flags: TcpFlags::SYN,
        window: 1000,
        ..TcpHeader::default()
    };
    let mut tcp = vec![0u8; 128];
    let layout = emit_tcp_frame(&mut tcp, &addrs, 1, &syn, &[b"hi"], TxChecksum::Software).unwrap();
    tcp.truncate(layout.frame_len());
    vec![arp, tcp]
}

fn lifecycle_allocates_nothing(caps: OffloadCaps, direct: bool) {
    let mut link = LinkConfig::new(caps).impaired(Impairments {
        loss: Loss::Uniform(0.01),
        reorder: 0.01,
        reorder_hold_us: 100,
        corrupt: 0.002,
        duplicate: 0.002,
        delay_us: 20,
        ..Impairments::NONE
    });
    link.seed = 9;
    let tcb = TcbConfig {
        rto_min: Duration::from_millis(2),
        ..TcbConfig::DATACENTER
    };
    let mut pair = Pair::new(&link, tcb, 256 << 10, (4 * MIB, 4 * MIB));
    pair.direct = direct;
    let mut extra = strangers();
    // The counter sees this thread's allocations.
    let probe = allocations();
    drop(std::hint::black_box(vec![1u8; 16]));
    assert_eq!(allocations() - probe, 1, "the counting allocator counts");
    let before = allocations();

    pair.run(Duration::from_secs(300));
    for frame in &mut extra {
        let now = pair.clock.now();
        let r = pair.b.receive(now, frame, RxMeta::UNVERIFIED);
        assert!(matches!(r, Received::Reply(_)), "{r:?}");
    }
    // TIME-WAIT (the active closer's) runs out; every slot is given back.
    let mut rounds = 0;
    while pair.a.next_deadline().is_some() || pair.b.next_deadline().is_some() {
        if !pair.step() {
            pair.wait();
        }
        rounds += 1;
        assert!(rounds < 1_000_000);
    }
    let ka = pair.ka;
    let kb = pair.kb.unwrap();
    assert_eq!(pair.a.state(ka), Some(State::Closed));
    assert_eq!(pair.b.state(kb), Some(State::Closed));
    let r = pair.report();
    let buffers_a = pair.a.release(ka).unwrap();
    let buffers_b = pair.b.release(kb).unwrap();

    let after = allocations();
    assert_eq!(after - before, 0, "allocations on the data path");
    assert!(pair.a.is_empty() && pair.b.is_empty());
    assert!(
        r.a_to_b.lost > 0 && r.b_to_a.lost > 0,
        "the link did lose frames"
    );
    assert!(r.client_ep.arp_requests_sent > 0, "ARP was on the path");
    assert_eq!(
        r.server_ep.arp_requests_answered, 2,
        "host 1's and the stranger's requests"
    );
    assert_eq!(r.server_ep.rst_for_unknown, 1);
    assert_eq!(
        r.server_ep.rx_direct_bytes > 0,
        direct,
        "zero-copy receive ran exactly when asked"
    );
    assert_eq!(
        r.client_ep.gso_batches > 0,
        caps.tso.is_none(),
        "software segmentation (one batched device call per super-segment) ran exactly \
         without TSO: {:?}",
        r.client_ep
    );
    assert!(
        r.server_ep.rx_coalesced > 0 && r.client_ep.rx_coalesced > 0,
        "the software GRO path ran: {:?}",
        r.server_ep
    );
    drop((buffers_a, buffers_b));
}

#[test]
fn software_checksums() {
    lifecycle_allocates_nothing(OffloadCaps::none(1514), false);
}

#[test]
fn checksum_offload_and_tso() {
    lifecycle_allocates_nothing(offload_caps(1500, true), false);
}

#[test]
fn zero_copy_receive_with_checksum_offload_and_tso() {
    lifecycle_allocates_nothing(offload_caps(1500, true), true);
}
