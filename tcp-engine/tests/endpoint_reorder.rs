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
        // Compared separately (`spurious_undo_*`): the runs above measure the learning alone.
        spurious_undo: false,
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
    undone: u64,
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
        undone: r.client_ep.spurious_recoveries_undone + r.server_ep.spurious_recoveries_undone,
    }
}

/// Runs `mib` MiB each way with each of `configs` (labelled) over the same link (same seed;
/// `hold_us` 0: no reordering) and returns their totals, printed. Every run must end with all
/// loss states back in the pool.
fn runs(
    name: &str,
    loss: f64,
    hold_us: u64,
    seed: u64,
    mib: u64,
    configs: [(&str, TcbConfig); 2],
) -> (Totals, Totals) {
    let bytes = mib * MIB;
    let mut out = [Totals::default(); 2];
    for (i, (label, cfg)) in configs.into_iter().enumerate() {
        let r = bulk(
            &impaired(loss, hold_us, seed),
            cfg,
            256 << 10,
            (bytes, bytes),
            Duration::from_secs(600),
        );
        assert!(
            hold_us == 0 || r.a_to_b.reordered > 0 && r.b_to_a.reordered > 0,
            "{name}: the link reordered: {r:?}"
        );
        assert_eq!(
            r.loss_states_lent,
            (0, 0),
            "{name} seed {seed} {label}: loss states still lent after the transfers"
        );
        out[i] = totals(&r);
        println!(
            "{name} hold {hold_us} us loss {loss} seed {seed} {label}: {:?}, link {:?} / {:?}",
            out[i], r.a_to_b, r.b_to_a
        );
    }
    (out[0], out[1])
}

/// DupThresh learning off and on (the undo of spurious reductions off in both).
fn compare(name: &str, loss: f64, hold_us: u64, seed: u64, mib: u64) -> (Totals, Totals) {
    let configs = [("adaptive false", tcb(false)), ("adaptive true", tcb(true))];
    runs(name, loss, hold_us, seed, mib, configs)
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

/// DupThresh learning on, the undo of spurious window reductions off and on.
fn compare_undo(name: &str, loss: f64, hold_us: u64, seed: u64, mib: u64) -> (Totals, Totals) {
    let undo = |on| TcbConfig {
        spurious_undo: on,
        ..tcb(true)
    };
    let configs = [("undo false", undo(false)), ("undo true", undo(true))];
    let (off, on) = runs(name, loss, hold_us, seed, mib, configs);
    assert_eq!(off.undone, 0, "{name} seed {seed}: nothing undone when off");
    (off, on)
}

/// Reordering alone (40 us and 100 us holds): the spurious window reductions that remain
/// after DupThresh learning are undone (D-SACK or Eifel), the transfer is not slower in
/// simulated time (measured: 40 us holds 3 to 4 ms instead of 10, 100 us holds 10 to 11
/// instead of 12 to 13), no timeout appears, and the pool of loss states is empty at the
/// end. The price at 40 us holds: the window kept whole sends faster, so more segments
/// overtake a held one than DupThresh 24 covers, and spurious retransmissions rise
/// (measured: 288 to 338 instead of 22; at 100 us holds about the same as without the
/// undo).
#[test]
fn spurious_undo_with_reordering() {
    for (hold, seed) in [(40, 1), (40, 2), (100, 1), (100, 2)] {
        let (off, on) = compare_undo("undo reorder", 0.0, hold, seed, 8);
        assert!(
            on.undone > 0 && on.simulated_ms <= off.simulated_ms && on.timeouts == 0,
            "seed {seed} hold {hold}: on {on:?} off {off:?}"
        );
    }
}

/// Reordering and 1 % loss: real losses keep their cut (no more timeouts than without the
/// undo), the pool of loss states is empty at the end.
#[test]
fn spurious_undo_with_reordering_and_loss() {
    for seed in [1, 2] {
        let (off, on) = compare_undo("undo reorder+loss", 0.01, 40, seed, 8);
        assert!(
            on.timeouts <= off.timeouts + 2,
            "seed {seed}: on {on:?} off {off:?}"
        );
    }
}

/// Loss alone (1 %, no reordering): almost every window reduction is a real loss and stays
/// cut; the few undone are tail loss probes and timeouts whose originals arrived after all
/// (a D-SACK or an older echo says so). No more timeouts than without the undo.
#[test]
fn spurious_undo_with_loss_alone() {
    for seed in [1, 2] {
        let (off, on) = compare_undo("undo loss", 0.01, 0, seed, 8);
        assert!(
            on.undone * 10 <= on.fast_retransmits && on.timeouts <= off.timeouts + 1,
            "seed {seed}: on {on:?} off {off:?}"
        );
    }
}
