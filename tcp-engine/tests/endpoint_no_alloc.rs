//! The endpoint's data path allocates nothing after set-up: a counting global allocator watches
//! a whole connection between two endpoints over the impaired link — ARP resolution, the
//! handshake, megabytes both ways with loss (retransmission and delayed-ACK timers, SACK
//! recovery, reassembly), in-place replies (ICMP echo, ARP, RSTs for closed ports), the close,
//! TIME-WAIT running out, and taking the buffers back — with software checksums and with
//! checksum offload plus TSO. A SYN-cookie handshake (the SYN answered in place, the ACK
//! returning the cookie with a request, the response) allocates nothing either, nor do the
//! ICMP errors that follow it (a "fragmentation needed" that lowers the MSS and resends the
//! response, a soft error, a forged one).
//!
//! Only this thread's allocations count (the test harness allocates on its own threads).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::{MIB, Pair, ip, mac};
use tcp_engine::device::{OffloadCaps, RxMeta};
use tcp_engine::endpoint::{
    BoxedEndpoint, Buffers, EndpointConfig, Outbound, Received, ReplyKind, SynCookies,
};
use tcp_engine::link::{Impairments, LinkConfig, Loss, offload_caps};
use tcp_engine::segment::{TcpFlags, TcpHeader};
use tcp_engine::seq::SeqNum;
use tcp_engine::table::HashSecret;
use tcp_engine::tcb::RingBuffer;
use tcp_engine::tcb::{State, TcbConfig};
use tcp_engine::time::Duration;
use tcp_engine::time::Instant;
use tcp_engine::wire::frame::parse_frame;
use tcp_engine::wire::frame::{TcpFrameAddresses, emit_arp_frame, emit_tcp_frame};
use tcp_engine::wire::{ArpRepr, IcmpErrorKind, IcmpErrorRepr, IpProtocol, QuotedRepr, TxChecksum};
use tcp_engine::wire::{Ipv4Cidr, RxPayload};

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

/// The addresses of TCP frames from a third host (198.18.0.3) to host 2.
fn stranger_to_host_2() -> TcpFrameAddresses {
    TcpFrameAddresses {
        src_mac: mac(3),
        dst_mac: mac(2),
        src_ip: ip(3),
        dst_ip: ip(2),
        ttl: 64,
        dscp_ecn: 0,
    }
}

/// Frames from a third host (198.18.0.3) to host 2: an ARP request for it and a SYN to a
/// closed port.
fn strangers() -> Vec<Vec<u8>> {
    let mut arp = vec![0u8; 60];
    let n = emit_arp_frame(&mut arp, mac(3), &ArpRepr::request(mac(3), ip(3), ip(2))).unwrap();
    arp.truncate(n);
    let addrs = stranger_to_host_2();
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
    let unknown_before_strangers = pair.b.counters().rst_for_unknown;
    for frame in &mut extra {
        let now = pair.clock.now();
        let r = pair.b.receive(now, frame, RxMeta::UNVERIFIED);
        assert!(matches!(r, Received::Reply(_)), "{r:?}");
    }
    // The stranger's SYN meets a closed port. (Late duplicates of the client's segments that
    // reach the server's connection once it is CLOSED get the same answer and count too: a
    // CLOSED connection is out of the tuple lookup; how many there are depends on the link.)
    assert_eq!(
        pair.b.counters().rst_for_unknown - unknown_before_strangers,
        1
    );
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
    assert!(r.server_ep.rst_for_unknown >= 1);
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

/// Writes an Ethernet frame carrying `error` from the stranger (198.18.0.3) to host 2 into
/// `buf` and returns its length (allocates nothing).
fn write_icmp_error(buf: &mut [u8], error: &IcmpErrorRepr) -> usize {
    common::write_icmp_error(buf, (mac(3), mac(2)), (ip(3), ip(2)), error)
}

#[test]
fn a_syn_cookie_handshake_and_icmp_errors_allocate_nothing() {
    let mut config = EndpointConfig::new(
        mac(2),
        Ipv4Cidr::new(ip(2), 24).unwrap(),
        OffloadCaps::none(1514),
        HashSecret::from_bytes([2; 16]),
    );
    config.syn_cookies = SynCookies::Always;
    let mut ep = BoxedEndpoint::<Buffers<RingBuffer<Box<[u8]>>>>::with_capacity(config, 8).unwrap();
    let now = Instant::from_secs(1);
    ep.add_neighbor(now, ip(3), mac(3));
    for _ in 0..2 {
        ep.listen(80, Buffers::with_capacity(4096, 4096))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    let addrs = stranger_to_host_2();
    let mut syn = TcpHeader {
        src_port: 4000,
        dst_port: 80,
        seq: SeqNum(100),
        flags: TcpFlags::SYN,
        window: 8192,
        ..TcpHeader::default()
    };
    syn.options.mss = Some(1460);
    syn.options.timestamps = Some((5, 0));
    let mut frame = vec![0u8; 2048];
    let mut out = vec![0u8; 2048];
    let mut got = [0u8; 64];
    let before = allocations();

    let n = emit_tcp_frame(&mut frame, &addrs, 1, &syn, &[], TxChecksum::Software)
        .unwrap()
        .frame_len();
    let Received::Reply(r) = ep.receive(now, &mut frame[..n], RxMeta::UNVERIFIED) else {
        panic!("a cookie SYN-ACK in place");
    };
    assert_eq!(r.kind, ReplyKind::SynAckCookie);
    let parsed = parse_frame(&frame[..r.len], RxMeta::UNVERIFIED).unwrap();
    let RxPayload::Tcp { tcp, .. } = parsed.payload else {
        panic!("TCP");
    };
    let synack = tcp.header;
    let mut ack = TcpHeader {
        seq: SeqNum(101),
        ack: synack.seq + 1,
        flags: TcpFlags::ACK | TcpFlags::PSH,
        ..syn
    };
    ack.options = Default::default();
    ack.options.timestamps = Some((6, synack.options.timestamps.unwrap().0));
    let n = emit_tcp_frame(
        &mut frame,
        &addrs,
        2,
        &ack,
        &[b"request"],
        TxChecksum::Software,
    )
    .unwrap()
    .frame_len();
    let Received::Open(o) = ep.receive(now, &mut frame[..n], RxMeta::UNVERIFIED) else {
        panic!("the cookie ACK opens the connection");
    };
    assert_eq!(ep.state(o.key), Some(State::Established));
    assert_eq!(ep.read(o.key, &mut got).unwrap(), 7);
    assert_eq!(ep.write(o.key, b"response").unwrap(), 8);
    let mut sent = 0;
    while let Outbound::Frame(f) = ep.poll_transmit(now, &mut out) {
        ep.commit(now, &f).unwrap();
        sent += 1;
    }

    // ICMP errors about the response in flight: a forged one (sequence number not in
    // flight), a soft error, and a valid "fragmentation needed" that lowers the MSS and
    // resends the response at once.
    let mut error = IcmpErrorRepr {
        kind: IcmpErrorKind::FragmentationNeeded { next_hop_mtu: 576 },
        quoted: QuotedRepr {
            src_addr: ip(2),
            dst_addr: ip(3),
            protocol: IpProtocol::TCP,
            total_len: 60,
            src_port: 80,
            dst_port: 4000,
            seq: (synack.seq + 1).0.wrapping_sub(1000),
        },
    };
    let n = write_icmp_error(&mut frame, &error);
    let forged = ep.receive(now, &mut frame[..n], RxMeta::UNVERIFIED);
    error.quoted.seq = (synack.seq + 1).0;
    error.kind = IcmpErrorKind::TimeExceeded(0);
    let n = write_icmp_error(&mut frame, &error);
    let soft = ep.receive(now, &mut frame[..n], RxMeta::UNVERIFIED);
    error.kind = IcmpErrorKind::FragmentationNeeded { next_hop_mtu: 576 };
    let n = write_icmp_error(&mut frame, &error);
    let applied = ep.receive(now, &mut frame[..n], RxMeta::UNVERIFIED);
    let mut resent = 0;
    while let Outbound::Frame(f) = ep.poll_transmit(now, &mut out) {
        ep.commit(now, &f).unwrap();
        resent += 1;
    }

    assert_eq!(
        allocations() - before,
        0,
        "allocations on the cookie and ICMP paths"
    );
    assert_eq!(&got[..7], b"request");
    assert!(sent >= 1, "the response left");
    assert_eq!(ep.counters().syn_cookies_accepted, 1);
    assert!(matches!(forged, Received::Dropped(_)), "{forged:?}");
    assert_eq!((soft, applied), (Received::Nothing, Received::Nothing));
    let c = ep.counters();
    assert_eq!(
        (
            c.icmp_rejected_sequence,
            c.icmp_soft_errors,
            c.icmp_frag_needed
        ),
        (1, 1, 1)
    );
    assert_eq!(ep.tcb(o.key).unwrap().send_mss(), 576 - 40 - 12);
    assert_eq!(resent, 1, "the response again");
}
