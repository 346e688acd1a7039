//! Loss recovery quality over the in-memory link: at 1 % random loss (nothing else impaired), a
//! bulk transfer must repair its losses by fast retransmit and SACK recovery, not by waiting
//! for retransmission timeouts. The number of timeouts is asserted to be a small fraction of
//! the retransmissions, with SACK (RFC 6675) and without it (RFC 6582 NewReno), with and
//! without TSO. Simulated clock, deterministic seeds; counters, not timings, are asserted.
//!
//! Before the receiver acknowledged every out-of-order segment on its own (RFC 5681 4.2) and
//! the sender used its SACK scoreboard to start recovery, almost every loss here ended in a
//! timeout (see BENCHMARKS.md, "Loss recovery at 1 % loss").
//!
//! CUBIC (RFC 9438) runs the same recovery with its own decrease and growth: one transfer
//! checks it repairs as well and delivers byte-exact.
//!
//! Endpoints without a single loss-recovery state to lend (the pool exhausted) still repair
//! every loss: their connections recover with RFC 6675 alone, without Proportional Rate
//! Reduction, which needs its counters kept from ACK to ACK.

mod common;

use common::{MIB, bulk, bulk_with_loss_states};
use tcp_engine::device::OffloadCaps;
use tcp_engine::link::{Impairments, LinkConfig, Loss, offload_caps};
use tcp_engine::tcb::{CongestionControl, TcbConfig};
use tcp_engine::time::Duration;

/// Pure random loss, 50 us of delay each way and no rate limit: whole windows arrive at once
/// and each poll takes a burst of them, as on a fast link with interrupt coalescing.
fn lossy(p: f64) -> Impairments {
    Impairments {
        loss: Loss::Uniform(p),
        duplicate: 0.0,
        reorder: 0.0,
        reorder_hold_us: 0,
        corrupt: 0.0,
        ce_mark: 0.0,
        delay_us: 50,
        jitter_us: 0,
        rate_bits_per_s: None,
        ce_threshold_frames: None,
    }
}

fn tcb(sack: bool) -> TcbConfig {
    TcbConfig {
        sack,
        rto_min: Duration::from_millis(2),
        rto_initial: Duration::from_millis(50),
        max_retransmissions: 30,
        ..TcbConfig::DATACENTER
    }
}

/// Runs a transfer of `mib` MiB each way at 1 % loss and checks the recovery counters of both
/// senders: at most `max_timeout_share` of the retransmissions may follow a timeout.
fn run(name: &str, caps: OffloadCaps, sack: bool, mib: u64, max_timeout_share: f64, seed: u64) {
    run_with(name, caps, tcb(sack), mib, max_timeout_share, seed);
}

/// [`run`] with the connection settings `tcb`.
fn run_with(
    name: &str,
    caps: OffloadCaps,
    tcb: TcbConfig,
    mib: u64,
    max_timeout_share: f64,
    seed: u64,
) {
    let mut link = LinkConfig::new(caps).impaired(lossy(0.01));
    link.seed = seed;
    let r = bulk(
        &link,
        tcb,
        1 << 20,
        (mib * MIB, mib * MIB),
        Duration::from_secs(600),
    );
    let gbps = (mib * MIB * 8) as f64 / (r.simulated.micros() as f64 * 1e3);
    println!(
        "{name}: {mib} MiB each way in {:?} simulated ({gbps:.2} Gbit/s each way)\n  \
         client {:?}\n  server {:?}",
        r.simulated, r.client, r.server
    );
    println!("  {name}: {}", r.summary());
    for (side, c, ep, lost) in [
        ("client", r.client, &r.client_ep, r.a_to_b.lost),
        ("server", r.server, &r.server_ep, r.b_to_a.lost),
    ] {
        // Tail loss probes (RFC 8985) run with SACK only, and each is a retransmission.
        if tcb.sack {
            assert!(
                ep.loss_probes > 0 && ep.loss_probes <= u64::from(c.retransmitted_segments),
                "{name} {side}: {} tail loss probes for {} retransmissions",
                ep.loss_probes,
                c.retransmitted_segments
            );
        } else {
            assert_eq!(ep.loss_probes, 0, "{name} {side}: probes without SACK");
        }
        // The link really lost data segments in this direction, and they were repaired.
        assert!(lost > 100, "{name} {side}: only {lost} frames lost");
        assert!(
            c.retransmitted_segments >= 50,
            "{name} {side}: {} retransmissions",
            c.retransmitted_segments
        );
        assert!(
            c.fast_retransmits > 0,
            "{name} {side}: no fast retransmit at all: {c:?}"
        );
        let share = f64::from(c.timeouts) / f64::from(c.retransmitted_segments);
        assert!(
            share <= max_timeout_share,
            "{name} {side}: {} timeouts for {} retransmissions ({:.1} %, at most {:.1} % \
             allowed): losses are repaired by the timer, not by fast recovery\n{c:?}",
            c.timeouts,
            c.retransmitted_segments,
            100.0 * share,
            100.0 * max_timeout_share
        );
    }
}

#[test]
fn sack_recovery_needs_few_timeouts_software_segments() {
    run(
        "SACK, no offload",
        OffloadCaps::none(1514),
        true,
        100,
        0.03,
        11,
    );
}

#[test]
fn sack_recovery_needs_few_timeouts_tso() {
    run("SACK, TSO", offload_caps(1500, true), true, 100, 0.03, 12);
}

#[test]
fn newreno_recovery_needs_few_timeouts() {
    // Without SACK one hole is repaired per round trip (RFC 6582); several losses in one
    // window may still need the timer (the Impatient variant), so the bound is looser.
    run(
        "NewReno, TSO",
        offload_caps(1500, true),
        false,
        32,
        0.10,
        13,
    );
}

#[test]
fn cubic_sack_recovery_needs_few_timeouts() {
    // Byte-exact delivery both ways is checked by `bulk`; the decrease to 0.7 and the cubic
    // growth must not turn repairs into timeouts.
    run_with(
        "CUBIC, SACK, TSO",
        offload_caps(1500, true),
        tcb(true).with_congestion(CongestionControl::Cubic),
        100,
        0.03,
        14,
    );
}

#[test]
fn recovery_without_loss_states_falls_back_and_completes() {
    // No loss state at all: every call of every connection works on an empty scratch state
    // (scoreboard relearnt from each ACK's blocks, PRR never running). `bulk` checks the
    // byte-exact delivery both ways and the endpoints' invariants.
    let mut link = LinkConfig::new(offload_caps(1500, true)).impaired(lossy(0.01));
    link.seed = 15;
    let r = bulk_with_loss_states(
        &link,
        tcb(true),
        1 << 20,
        (8 * MIB, 8 * MIB),
        Duration::from_secs(600),
        0,
    );
    println!(
        "no loss states: 8 MiB each way in {:?} simulated\n  client {:?}\n  server {:?}",
        r.simulated, r.client, r.server
    );
    for (side, c, ep) in [
        ("client", r.client, r.client_ep),
        ("server", r.server, r.server_ep),
    ] {
        assert!(
            ep.loss_states_exhausted > 0,
            "{side}: the pool was never asked: {ep:?}"
        );
        assert!(
            c.fast_retransmits > 0 && c.retransmitted_segments > 0,
            "{side}: {c:?}"
        );
    }
}
