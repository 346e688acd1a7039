//! Reordering learnt from D-SACKs (RFC 2883; RFC 4653's idea, Linux's `tp->reordering`) over
//! the in-memory link: a path that holds 1 % of the frames back for 100 us reorders deeper
//! than DupThresh = 3, so a sender with a fixed threshold takes reordering for loss, sends
//! spurious fast retransmissions (the receiver reports each as a D-SACK) and cuts its window
//! each time. With [`TcbConfig::adaptive_reordering`] a D-SACK for a recovery's
//! retransmission raises DupThresh (3, 6, 12, 24), and the spurious retransmissions mostly
//! stop. The same transfer runs with the adaptation off and on, on several seeds, with
//! reordering alone and with reordering plus 1 % loss; the counters of both are printed and
//! compared. Simulated clock, deterministic seeds; counters, not timings, are asserted.

mod common;

use common::{MIB, Report, bulk};
use tcp_engine::link::{Impairments, LinkConfig, Loss, offload_caps};
use tcp_engine::tcb::TcbConfig;
use tcp_engine::time::Duration;

fn impaired(loss: f64, hold_us: u64, seed: u64) -> LinkConfig {
    let mut link = LinkConfig::new(offload_caps(1500, false)).impaired(Impairments {
        loss: Loss::Uniform(loss),
        reorder: if hold_us > 0 { 0.01 } else { 0.0 },
        reorder_hold_us: hold_us,
        delay_us: 20,
        ..Impairments::NONE
    });
    link.seed = seed;
    link
}

fn tcb(adaptive: bool) -> TcbConfig {
    TcbConfig {
        rto_min: Duration::from_millis(2),
        rto_initial: Duration::from_millis(50),
        max_retransmissions: 30,
        adaptive_reordering: adaptive,
        ..TcbConfig::DATACENTER
    }
}

/// Both senders' retransmissions, fast retransmits, timeouts and D-SACKs received.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    retransmitted: u64,
    fast_retransmits: u64,
    timeouts: u64,
    dsacks: u64,
    simulated_ms: u64,
}

fn totals(r: &Report) -> Totals {
    Totals {
        retransmitted: u64::from(r.client.retransmitted_segments)
            + u64::from(r.server.retransmitted_segments),
        fast_retransmits: u64::from(r.client.fast_retransmits)
            + u64::from(r.server.fast_retransmits),
        timeouts: u64::from(r.client.timeouts) + u64::from(r.server.timeouts),
        dsacks: r.client_ep.dsacks_received + r.server_ep.dsacks_received,
        simulated_ms: r.simulated.micros() / 1000,
    }
}

/// Runs `mib` MiB each way with the adaptation off and on over the same link (same seed;
/// `hold_us` 0: no reordering) and returns both totals, printed.
fn compare(name: &str, loss: f64, hold_us: u64, seed: u64, mib: u64) -> (Totals, Totals) {
    let bytes = mib * MIB;
    let mut out = [Totals::default(); 2];
    for (i, adaptive) in [false, true].into_iter().enumerate() {
        let r = bulk(
            &impaired(loss, hold_us, seed),
            tcb(adaptive),
            256 << 10,
            (bytes, bytes),
            Duration::from_secs(600),
        );
        assert!(
            hold_us == 0 || r.a_to_b.reordered > 0 && r.b_to_a.reordered > 0,
            "{name}: the link reordered: {r:?}"
        );
        out[i] = totals(&r);
        println!(
            "{name} hold {hold_us} us seed {seed} adaptive {adaptive}: {:?}, link {:?} / {:?}",
            out[i], r.a_to_b, r.b_to_a
        );
    }
    (out[0], out[1])
}

/// Reordering alone, 40 us holds (about one round trip: within reach of DupThresh 24): every
/// retransmission is spurious and comes back as a D-SACK (a held original overtaken by its
/// retransmission is dropped by PAWS and still reported). Learning the reordering must remove
/// most of them: at most half the retransmissions, D-SACKs and window reductions (fast
/// retransmits) of DupThresh fixed at 3, on every seed (measured: a fifth to a quarter).
#[test]
fn reordering_alone_stops_spurious_retransmissions() {
    for seed in [1, 2, 3] {
        let (fixed, adaptive) = compare("reorder", 0.0, 40, seed, 8);
        assert!(
            fixed.retransmitted >= 40,
            "seed {seed}: the fixed threshold must retransmit spuriously here: {fixed:?}"
        );
        assert!(
            fixed.dsacks * 10 >= fixed.retransmitted * 7,
            "seed {seed}: most of those retransmissions come back as D-SACKs: {fixed:?}"
        );
        for (what, a, f) in [
            (
                "retransmissions",
                adaptive.retransmitted,
                fixed.retransmitted,
            ),
            ("D-SACKs", adaptive.dsacks, fixed.dsacks),
            (
                "fast retransmits",
                adaptive.fast_retransmits,
                fixed.fast_retransmits,
            ),
        ] {
            assert!(
                a * 2 <= f,
                "seed {seed}: {what}: adaptive {adaptive:?} against fixed {fixed:?}"
            );
        }
        assert_eq!(adaptive.timeouts, 0, "seed {seed}: {adaptive:?}");
        // Simulated time: fewer window reductions, the transfer is not slower (measured:
        // twice as fast).
        assert!(
            adaptive.simulated_ms <= fixed.simulated_ms,
            "seed {seed}: adaptive {adaptive:?} against fixed {fixed:?}"
        );
    }
}

/// Reordering (40 us holds) and 1 % loss: the real losses still need their retransmissions,
/// but the spurious ones (the D-SACKs) must fall to at most half (measured: a fifth), the
/// window reductions (fast retransmits) must fall, and the losses must still be repaired
/// by recovery rather than timeouts.
#[test]
fn reordering_with_loss_keeps_real_recovery() {
    for seed in [1, 2] {
        let (fixed, adaptive) = compare("reorder+loss", 0.01, 40, seed, 8);
        assert!(
            adaptive.dsacks * 2 <= fixed.dsacks,
            "seed {seed}: adaptive {adaptive:?} against fixed {fixed:?}"
        );
        assert!(
            adaptive.fast_retransmits * 10 <= fixed.fast_retransmits * 8,
            "seed {seed}: adaptive {adaptive:?} against fixed {fixed:?}"
        );
        assert!(
            adaptive.timeouts * 20 <= adaptive.retransmitted,
            "seed {seed}: losses repaired by recovery, not timeouts: {adaptive:?}"
        );
    }
}

/// Reordering deeper than DupThresh can reach (100 us holds, about three round trips: some 40
/// segments overtake a held one at this rate), as in the `endpoint_direct` transfers: the
/// highest threshold, 24, still takes many reorderings for loss, so the spurious
/// retransmissions do not fall; but fewer of them start a recovery and cut the window
/// (measured: 13 to 14 % fewer fast retransmits, 5 to 15 % fewer D-SACKs, the transfer
/// about twice as fast in simulated time).
#[test]
fn reordering_deeper_than_24_segments_still_cuts_fewer_windows() {
    for seed in [1, 2] {
        let (fixed, adaptive) = compare("deep reorder", 0.0, 100, seed, 8);
        assert!(
            adaptive.fast_retransmits < fixed.fast_retransmits
                && adaptive.dsacks <= fixed.dsacks
                && adaptive.simulated_ms * 10 <= fixed.simulated_ms * 7,
            "seed {seed}: adaptive {adaptive:?} against fixed {fixed:?}"
        );
    }
}

/// Loss alone (1 %, no reordering): a D-SACK is rare (a tail loss probe's or a timeout's,
/// which do not count) and the learning must cost nothing: no more retransmissions or
/// timeouts than DupThresh fixed at 3 (measured: identical counters on six seeds).
#[test]
fn loss_alone_is_not_taken_for_reordering() {
    for seed in [1, 2, 3] {
        let (fixed, adaptive) = compare("loss", 0.01, 0, seed, 8);
        assert!(
            adaptive.retransmitted * 10 <= fixed.retransmitted * 11
                && adaptive.timeouts <= fixed.timeouts + 1,
            "seed {seed}: adaptive {adaptive:?} against fixed {fixed:?}"
        );
    }
}
