//! Bulk transfers between two endpoints over the impaired in-memory link (frame level: ARP,
//! checksums, TSO segmentation by the link's NIC model), byte-exact in both directions at once,
//! under uniform and bursty loss, duplication, reordering and corruption (caught by checksums),
//! with and without checksum offload and TSO. Simulated clock; deterministic seeds. The
//! receive side runs software GRO (header prediction over runs of in-order segments) next to
//! the full state machine; the counters show both took part.
//!
//! With ECN (RFC 3168) and a link that marks 2 % of ECN-capable frames CE instead of losing
//! any, transfers complete without a single retransmission while the senders reduce their
//! windows for the echoed marks.
//!
//! 100 MiB each way per case (20 MiB with ECN). The test profile builds this crate optimised (see the workspace
//! `Cargo.toml`), which keeps the whole file to a few seconds.

mod common;

use common::{MIB, bulk};
use tcp_engine::device::OffloadCaps;
use tcp_engine::link::{Impairments, LinkConfig, Loss, offload_caps};
use tcp_engine::tcb::{EcnMode, TcbConfig};
use tcp_engine::time::Duration;

fn impaired(loss: Loss) -> Impairments {
    Impairments {
        loss,
        duplicate: 0.002,
        reorder: 0.005,
        reorder_hold_us: 200,
        corrupt: 0.002,
        ce_mark: 0.0,
        delay_us: 50,
        jitter_us: 5,
        rate_bits_per_s: Some(10_000_000_000),
        ce_threshold_frames: None,
    }
}

/// Data-center timers. The link's bursts are counted in frames, so a sender that sends one
/// segment per RTO (the tail of a transfer) meets the same burst for many RTOs; more
/// retransmissions than RFC 1122's 100 s minimum keep such a tail alive.
fn tcb() -> TcbConfig {
    TcbConfig {
        rto_min: Duration::from_millis(2),
        rto_initial: Duration::from_millis(50),
        max_retransmissions: 30,
        ..TcbConfig::DATACENTER
    }
}

fn run(name: &str, caps: OffloadCaps, loss: Loss, seed: u64) {
    let mut link = LinkConfig::new(caps).impaired(impaired(loss));
    link.seed = seed;
    let r = bulk(
        &link,
        tcb(),
        1 << 20,
        (100 * MIB, 100 * MIB),
        Duration::from_secs(600),
    );
    println!(
        "{name}: {:?} simulated, client {:?}, server {:?}",
        r.simulated, r.client, r.server
    );
    println!("  a->b {:?}\n  b->a {:?}", r.a_to_b, r.b_to_a);
    println!("  {name}: {}", r.summary());
    // The link really did lose, corrupt and reorder, and the endpoints really did repair it.
    for link in [r.a_to_b, r.b_to_a] {
        assert!(link.lost > 100, "{name}: {link:?}");
        assert!(link.corrupted > 10, "{name}: {link:?}");
    }
    assert!(r.client.retransmitted_segments > 0 && r.server.retransmitted_segments > 0);
    let caught =
        |c: &tcp_engine::endpoint::EndpointCounters| c.rx_bad_tcp_checksum + c.rx_bad_ipv4_checksum;
    assert!(
        caught(&r.client_ep) > 0 && caught(&r.server_ep) > 0,
        "{name}: corruption was caught by checksums"
    );
    if caps.tso.is_some() {
        assert!(r.client_ep.tx_tso_frames > 0 && r.server_ep.tx_tso_frames > 0);
    }
    // Software GRO (runs of predicted segments, see `Endpoint::poll`) took part of both
    // streams, next to the full state machine's repairs: the streams stayed byte-exact.
    for ep in [&r.client_ep, &r.server_ep] {
        assert!(
            ep.rx_coalesced > 0 && ep.rx_predicted > ep.rx_coalesced,
            "{name}: GRO ran: {ep:?}"
        );
        assert!(
            ep.rx_predicted < ep.rx_segments,
            "{name}: the full path ran too"
        );
    }
}

#[test]
fn uniform_loss_software_checksums() {
    run(
        "1% loss, software checksums",
        OffloadCaps::none(1514),
        Loss::Uniform(0.01),
        1,
    );
}

#[test]
fn burst_loss_checksum_offload() {
    run(
        "burst loss, checksum offload",
        offload_caps(1500, false),
        Loss::bursty(0.01, 3.0),
        2,
    );
}

#[test]
fn uniform_loss_tso() {
    run(
        "1% loss, TSO",
        offload_caps(1500, true),
        Loss::Uniform(0.01),
        3,
    );
}

#[test]
fn burst_loss_tso() {
    run(
        "burst loss, TSO",
        offload_caps(1500, true),
        Loss::bursty(0.01, 3.0),
        4,
    );
}

/// ECN over a link that marks 2 % of ECN-capable frames CE and loses none, `bytes` each way:
/// every mark reaches the receiver's state machine, is echoed,
/// and the sender reduces its window for it; marking is not loss, so nothing is
/// retransmitted. Pure ACKs are not ECN-capable, so a direction carrying only ACKs sees no
/// mark.
fn run_ecn(name: &str, caps: OffloadCaps, seed: u64, bytes: (u64, u64)) {
    let mut link = LinkConfig::new(caps).impaired(Impairments {
        ce_mark: 0.02,
        delay_us: 50,
        rate_bits_per_s: Some(10_000_000_000),
        ..Impairments::NONE
    });
    link.seed = seed;
    let tcb = TcbConfig {
        ecn: EcnMode::On,
        ..tcb()
    };
    let r = bulk(&link, tcb, 1 << 20, bytes, Duration::from_secs(600));
    println!(
        "{name}: {:?} simulated, client {:?}, server {:?}",
        r.simulated, r.client, r.server
    );
    println!("  a->b {:?}\n  b->a {:?}", r.a_to_b, r.b_to_a);
    println!("  {name}: {}", r.summary());
    for (link, sent, receiver, sender) in [
        (r.a_to_b, bytes.0, &r.server_ep, &r.client_ep),
        (r.b_to_a, bytes.1, &r.client_ep, &r.server_ep),
    ] {
        assert_eq!(
            link.lost + link.corrupted + link.queue_drops,
            0,
            "{name}: {link:?}"
        );
        assert_eq!(sender.ecn_connections, 1, "{name}");
        // Every marked frame was an ECN-capable data segment and was seen as marked.
        assert_eq!(receiver.rx_ce_marked, link.ce_marked, "{name}");
        if sent == 0 {
            assert_eq!(link.ce_marked, 0, "{name}: pure ACKs are not ECN-capable");
            continue;
        }
        assert!(link.ce_marked > 100, "{name}: the link marked: {link:?}");
        // The echoes reduced the sender's window, at most once per mark.
        assert!(
            sender.ecn_window_reductions > 10 && sender.ecn_window_reductions <= link.ce_marked,
            "{name}: {sender:?}"
        );
    }
    for c in [r.client, r.server] {
        assert_eq!(
            (c.retransmitted_segments, c.timeouts, c.fast_retransmits),
            (0, 0, 0),
            "{name}: marking is not loss: {c:?}"
        );
    }
}

#[test]
fn ecn_marks_both_ways_software_checksums() {
    run_ecn(
        "2% CE marks both ways, software checksums",
        OffloadCaps::none(1514),
        5,
        (20 * MIB, 20 * MIB),
    );
}

#[test]
fn ecn_marks_one_way_tso() {
    run_ecn(
        "2% CE marks one way, TSO",
        offload_caps(1500, true),
        6,
        (20 * MIB, 0),
    );
}

#[test]
fn ecn_marks_one_way_checksum_offload() {
    run_ecn(
        "2% CE marks one way, checksum offload",
        offload_caps(1500, false),
        7,
        (0, 20 * MIB),
    );
}
