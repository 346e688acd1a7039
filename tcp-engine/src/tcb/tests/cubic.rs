//! CUBIC (RFC 9438) on a simulated clock: the integer arithmetic against the RFC's equations
//! evaluated independently in `f64`, and one sender driven round trip by round trip by a
//! model receiver that acknowledges every segment (with SACK blocks above a hole).

use super::super::cubic::{icbrt, k_millis, ticks, w_cubic};
use super::*;

/// RFC 9438: C, beta_cubic, alpha_cubic.
const C: f64 = 0.4;
const BETA: f64 = 0.7;
const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

const MSS: u32 = 1000;

/// The RFC's W_cubic(t) in segments (eq. 1) for an epoch from `cwnd_epoch` towards `w_max`.
fn rfc_w_cubic(w_max: f64, cwnd_epoch: f64, t: f64) -> f64 {
    let k = ((w_max - cwnd_epoch) / C).cbrt(); // eq. 2
    C * (t - k).powi(3) + w_max
}

#[test]
fn integer_cube_root_is_exact() {
    for y in (0..(1u64 << 21)).step_by(7).chain([2_642_245]) {
        let cube = y * y * y;
        assert_eq!(icbrt(cube), y, "cbrt({cube})");
        if y > 0 {
            assert_eq!(icbrt(cube - 1), y - 1, "cbrt({cube} - 1)");
        }
    }
    assert_eq!(icbrt(u64::MAX), 2_642_245);
    // Pseudo-random values of every magnitude: y^3 <= x < (y + 1)^3.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..20_000u32 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let v = x >> (i % 64);
        let y = u128::from(icbrt(v));
        assert!(
            y * y * y <= u128::from(v) && (y + 1).pow(3) > u128::from(v),
            "cbrt({v}) = {y}"
        );
    }
}

#[test]
fn k_and_the_window_function_match_the_rfc_equations() {
    for (w_max, epoch, smss) in [
        (100.0, 70.0, 1448u32),
        (1000.0, 700.0, 8948),
        (20.0, 17.0, 536),
    ] {
        let below = ((w_max - epoch) * f64::from(smss)) as u32;
        let k_rfc = ((w_max - epoch) / C).cbrt();
        let k = k_millis(below, smss);
        assert!(
            (f64::from(k) / 1000.0 - k_rfc).abs() <= 0.001,
            "K {k} ms vs {k_rfc} s"
        );
        let w_max_bytes = (w_max * f64::from(smss)) as u32;
        for t in [0.0, 0.5, 1.0, 2.5, k_rfc, k_rfc + 1.0, k_rfc + 7.3, 40.0] {
            let offset_us = ((t - f64::from(k) / 1000.0) * 1e6) as i64;
            let ours = w_cubic(w_max_bytes, offset_us, smss) as f64 / f64::from(smss);
            let rfc = rfc_w_cubic(w_max, epoch, t);
            // K and t are taken in whole milliseconds: a few hundredths of a segment.
            assert!(
                (ours - rfc).abs() < 0.05 * (1.0 + rfc / 100.0),
                "t {t}: {ours} vs {rfc}"
            );
        }
    }
    // Far beyond any window the function saturates instead of overflowing.
    assert!(w_cubic(u32::MAX, i64::MAX, 65535) > u64::from(u32::MAX));
    assert_eq!(w_cubic(1000, -60_000_000, 65535), 0);
}

/// A CUBIC sender with SACK, window scaling (the peer offers 8 MB), MSS 1000 and no
/// timestamps (SMSS = 1000), the handshake taking `rtt`, and the receiver that answers it.
fn cubic_sender(rtt: Duration) -> (Host, Peer) {
    sender(rtt, CongestionControl::Cubic, None)
}

/// [`cubic_sender`] with congestion control `cc` and TSO capabilities `tso`.
fn sender(
    rtt: Duration,
    cc: CongestionControl,
    tso: Option<crate::device::TsoCaps>,
) -> (Host, Peer) {
    let cfg = TcbConfig {
        sack: true,
        window_scaling: true,
        mss: MSS as u16,
        congestion: cc,
        tso,
        ..plain()
    };
    let mut c = Host::client(cfg, ISS, 4 << 20, 4000);
    c.send_one().unwrap();
    c.advance(rtt);
    let mut sa = seg(Y, Some(ISS + 1), TcpFlags::SYN, 65535);
    sa.options = syn_opts(MSS as u16);
    sa.options.sack_permitted = true;
    sa.options.window_scale = Some(7);
    c.deliver(sa, &[]);
    c.send_all();
    assert_eq!(c.tcb.payload_mss(), MSS);
    (c, Peer::new(ISS + 1))
}

/// One round trip: everything the sender may send leaves now (the send buffer is kept full),
/// the segments whose sequence number is in `drop` are lost, and one RTT later the receiver's
/// ACK of each arriving segment comes back. Returns the segments sent.
fn round(c: &mut Host, peer: &mut Peer, rtt: Duration, drop: &[u32]) -> usize {
    let room = c.snd.capacity() - c.snd.len();
    c.write(&vec![0x5a; room]);
    let sent = c.send_all();
    c.advance(rtt);
    for s in &sent {
        if !drop.contains(&s.h.seq.0) {
            let h = peer.receive(s);
            c.deliver(h, &[]);
        }
    }
    sent.len()
}

/// Grows the window in slow start to `segments` (ssthresh set there), loses one segment and
/// recovers with SACK; returns the window in force just before the loss.
fn lose_one_at(c: &mut Host, peer: &mut Peer, rtt: Duration, segments: u32) -> u32 {
    c.tcb.set_ssthresh(segments * MSS);
    while c.tcb.cwnd() < segments * MSS {
        round(c, peer, rtt, &[]);
    }
    let prior = c.tcb.cwnd();
    let hole = c.tcb.snd_una.0;
    round(c, peer, rtt, &[hole]);
    assert!(
        c.tcb.in_recovery(),
        "three SACKed segments above the hole start recovery"
    );
    while c.tcb.in_recovery() {
        round(c, peer, rtt, &[]);
    }
    prior
}

#[test]
fn loss_reduces_the_window_to_seven_tenths() {
    let rtt = Duration::from_millis(10);
    let (mut c, mut peer) = cubic_sender(rtt);
    c.tcb.set_ssthresh(200 * MSS);
    while c.tcb.cwnd() < 200 * MSS {
        round(&mut c, &mut peer, rtt, &[]);
    }
    let prior = c.tcb.cwnd();
    let flight = prior / MSS * MSS;
    let hole = c.tcb.snd_una.0;
    round(&mut c, &mut peer, rtt, &[hole]);
    assert!(c.tcb.in_recovery());
    assert_eq!(
        c.tcb.ssthresh(),
        flight * 7 / 10,
        "ssthresh = 0.7 * FlightSize"
    );
    assert_eq!(c.tcb.cwnd(), flight * 7 / 10, "RFC 6675: cwnd = ssthresh");
    assert_eq!(
        u32::from(c.tcb.cubic_w_max),
        prior / MSS,
        "W_max = cwnd before the loss"
    );
    // NewReno halves in the same situation.
    let (mut r, mut rpeer) = cubic_sender(rtt);
    r.tcb.flags &= !flag::CUBIC;
    r.tcb.set_ssthresh(200 * MSS);
    while r.tcb.cwnd() < 200 * MSS {
        round(&mut r, &mut rpeer, rtt, &[]);
    }
    let flight = r.tcb.cwnd() / MSS * MSS;
    let hole = r.tcb.snd_una.0;
    round(&mut r, &mut rpeer, rtt, &[hole]);
    assert_eq!(r.tcb.cwnd(), flight / 2);
}

#[test]
fn growth_follows_the_cubic_curve_below_and_above_w_max() {
    // 100 ms round trips: the cubic curve outgrows the Reno-friendly estimate throughout.
    let rtt = Duration::from_millis(100);
    let (mut c, mut peer) = cubic_sender(rtt);
    let prior = lose_one_at(&mut c, &mut peer, rtt, 200);
    let w_max = f64::from(prior) / f64::from(MSS);
    // Recovery ended with cwnd = ssthresh = 0.7 * FlightSize, and the epoch started at the
    // first ACK in congestion avoidance: the ACKs after the one ending recovery, in the
    // same round trip.
    let cwnd_epoch = f64::from((prior / MSS * MSS) * 7 / 10) / f64::from(MSS);
    assert!(c.tcb.has(flag::CUBIC_EPOCH));
    let start = c.now;
    let k = ((w_max - cwnd_epoch) / C).cbrt();
    let mut checked = Vec::new();
    let mut last = f64::from(c.tcb.cwnd()) / f64::from(MSS);
    let mut last_step = f64::MAX;
    while (c.now - start).micros() < 9_000_000 {
        round(&mut c, &mut peer, rtt, &[]);
        let t = (c.now - start).micros() as f64 / 1e6;
        let cwnd = f64::from(c.tcb.cwnd()) / f64::from(MSS);
        let step = cwnd - last;
        assert!(step >= 0.0, "t {t}: the window shrank without a loss");
        if t + 0.25 < k {
            // Concave: below W_max and slowing down.
            assert!(
                cwnd < w_max,
                "t {t}: {cwnd} reached W_max {w_max} before K {k}"
            );
            // (The first round trips ramp up to the curve's slope.)
            assert!(
                t < 0.5 || step <= last_step + 0.05,
                "t {t}: growth sped up below W_max"
            );
        } else if t > k + 0.25 {
            assert!(
                cwnd > w_max,
                "t {t}: {cwnd} not beyond W_max {w_max} after K {k}"
            );
            assert!(step + 0.05 >= last_step, "t {t}: growth slowed above W_max");
        }
        (last, last_step) = (cwnd, step);
        for probe in [2.0, 3.0, 4.0, k, 7.0, 8.0, 9.0] {
            if (t - probe).abs() < 0.05 {
                let rfc = rfc_w_cubic(w_max, cwnd_epoch, t);
                assert!(
                    (cwnd - rfc).abs() <= 1.0,
                    "t {t}: cwnd {cwnd} vs W_cubic {rfc}"
                );
                checked.push(t);
            }
        }
    }
    assert_eq!(
        checked.len(),
        7,
        "every probe time was reached: {checked:?}"
    );
}

#[test]
fn fast_convergence_lowers_w_max_after_a_loss_below_it() {
    let rtt = Duration::from_millis(100);
    let (mut c, mut peer) = cubic_sender(rtt);
    let prior = lose_one_at(&mut c, &mut peer, rtt, 200);
    assert_eq!(u32::from(c.tcb.cubic_w_max), prior / MSS);
    // A second loss two seconds later, the window still below W_max.
    for _ in 0..20 {
        round(&mut c, &mut peer, rtt, &[]);
    }
    let second = c.tcb.cwnd();
    assert!(second < prior);
    let flight = c.tcb.flight_size().max(second / MSS * MSS);
    let hole = c.tcb.snd_una.0;
    round(&mut c, &mut peer, rtt, &[hole]);
    assert!(c.tcb.in_recovery());
    let expect = f64::from(second) * (1.0 + BETA) / 2.0 / f64::from(MSS);
    let w_max = f64::from(c.tcb.cubic_w_max);
    assert!(
        (w_max - expect).abs() <= 0.5,
        "W_max {w_max} vs cwnd * (1 + beta) / 2 = {expect}"
    );
    assert_eq!(c.tcb.ssthresh(), flight * 7 / 10);
    // A loss above W_max takes the window itself.
    while c.tcb.in_recovery() {
        round(&mut c, &mut peer, rtt, &[]);
    }
    while f64::from(c.tcb.cwnd()) < (w_max + 20.0) * f64::from(MSS) {
        round(&mut c, &mut peer, rtt, &[]);
    }
    let third = c.tcb.cwnd();
    let hole = c.tcb.snd_una.0;
    round(&mut c, &mut peer, rtt, &[hole]);
    assert_eq!(u32::from(c.tcb.cubic_w_max), (third + MSS / 2) / MSS);
}

#[test]
fn reno_friendly_region_wins_at_small_rtt() {
    // 1 ms round trips: W_cubic barely moves in a tenth of a second, Reno would add about
    // alpha = 0.53 segments per round trip.
    let rtt = Duration::from_millis(1);
    let (mut c, mut peer) = cubic_sender(rtt);
    let prior = lose_one_at(&mut c, &mut peer, rtt, 100);
    let w_max = f64::from(prior) / f64::from(MSS);
    let cwnd_epoch = f64::from((prior / MSS * MSS) * 7 / 10) / f64::from(MSS);
    assert!(c.tcb.has(flag::CUBIC_EPOCH));
    let start = c.now;
    // The RFC's W_est (eq. 4), one ACK per segment, alpha becoming 1 at W_max (section 4.3).
    let mut w_est = f64::from(c.tcb.cwnd()) / f64::from(MSS);
    for _ in 0..120 {
        let acked = f64::from(c.tcb.cwnd() / MSS);
        let cwnd = f64::from(c.tcb.cwnd()) / f64::from(MSS);
        round(&mut c, &mut peer, rtt, &[]);
        let alpha = if w_est < w_max { ALPHA } else { 1.0 };
        w_est += alpha * acked / cwnd;
    }
    let t = (c.now - start).micros() as f64 / 1e6;
    let cwnd = f64::from(c.tcb.cwnd()) / f64::from(MSS);
    let cubic = rfc_w_cubic(w_max, cwnd_epoch, t);
    assert!(
        cwnd > cubic + 20.0,
        "cwnd {cwnd} should be far above W_cubic {cubic}"
    );
    assert!((cwnd - w_est).abs() <= 1.0, "cwnd {cwnd} vs W_est {w_est}");
    assert!(cwnd > w_max, "Reno growth carried the window past W_max");
}

#[test]
fn timeout_takes_seven_tenths_and_restarts_with_k_zero() {
    let rtt = Duration::from_millis(10);
    let (mut c, mut peer) = cubic_sender(rtt);
    lose_one_at(&mut c, &mut peer, rtt, 100);
    for _ in 0..5 {
        round(&mut c, &mut peer, rtt, &[]);
    }
    // Everything in flight is lost: the RTO fires.
    let room = c.snd.capacity() - c.snd.len();
    c.write(&vec![0x5a; room]);
    c.send_all();
    let flight = c.tcb.flight_size();
    c.advance_to_deadline();
    while c.tcb.counters().timeouts == 0 {
        c.send_all();
        c.advance_to_deadline();
    }
    c.send_all();
    assert_eq!(c.tcb.counters().timeouts, 1);
    assert_eq!(c.tcb.cwnd(), MSS, "one segment after an RTO");
    assert_eq!(
        c.tcb.ssthresh(),
        flight * 7 / 10,
        "ssthresh = 0.7 * FlightSize"
    );
    assert!(!c.tcb.has(flag::CUBIC_EPOCH));
    // The go-back-N resend arrives; slow start climbs back to ssthresh.
    peer.ooo = None;
    let ssthresh = c.tcb.ssthresh();
    // Slow start back to ssthresh; the first ACK beyond it starts the epoch (all of a round
    // trip's ACKs arrive at one `now`).
    while !c.tcb.has(flag::CUBIC_EPOCH) {
        round(&mut c, &mut peer, rtt, &[]);
    }
    assert_eq!(c.tcb.cubic_origin, ticks(c.now), "K = 0 after a timeout");
    let epoch = f64::from(c.tcb.cubic_w_max);
    assert!(
        (epoch * f64::from(MSS) - f64::from(ssthresh)).abs() <= 3.0 * f64::from(MSS),
        "W_max {epoch} segments = the window at the start of congestion avoidance"
    );
}

/// A sender in congestion avoidance, an epoch running, one loss at 100 segments behind it.
fn in_congestion_avoidance(rtt: Duration) -> (Host, Peer) {
    let (mut c, mut peer) = cubic_sender(rtt);
    lose_one_at(&mut c, &mut peer, rtt, 100);
    round(&mut c, &mut peer, rtt, &[]);
    assert!(c.tcb.has(flag::CUBIC_EPOCH));
    (c, peer)
}

#[test]
fn a_window_waiting_for_its_acks_is_not_idleness() {
    // A jitter-free 10 ms path with a 2 ms minimum RTO: RTTVAR decays to nothing and the RTO
    // comes within a clock tick of the RTT. Each round sends a window and hears nothing for
    // one RTT, until the ACKs drain the flight. That wait is not the idleness of RFC 5681
    // 4.1: the window must keep growing, not fall back to the initial window every round.
    for cc in CongestionControl::ALL {
        let rtt = Duration::from_millis(10);
        let (mut c, mut peer) = cubic_sender(rtt);
        c.cfg.congestion = cc;
        c.cfg.rto_min = Duration::from_millis(2);
        // Congestion avoidance from 20 segments: one more each round, for enough rounds
        // (one RTT sample each) that RTTVAR decays below the 256 us idle clock.
        c.tcb.set_ssthresh(20 * MSS);
        let mut last = c.tcb.cwnd();
        for r in 0..40 {
            let sent = round(&mut c, &mut peer, rtt, &[]);
            assert_eq!(c.tcb.flight_size(), 0, "{cc}: round {r} drained");
            let cwnd = c.tcb.cwnd();
            assert!(
                cwnd >= last,
                "{cc}: round {r} sent {sent} segments and left cwnd at {cwnd} (was {last}), rto {:?}",
                c.tcb.rtt.rto(&c.cfg)
            );
            last = cwnd;
        }
        assert!(last >= 35 * MSS, "{cc}: cwnd {last}");
    }
}

#[test]
fn idle_restart_ends_the_epoch() {
    let rtt = Duration::from_millis(10);
    let (mut c, mut peer) = in_congestion_avoidance(rtt);
    // Drain: all data acknowledged, then idle for far longer than the RTO.
    while c.tcb.flight_size() > 0 {
        let sent = c.send_all();
        c.advance(rtt);
        for s in &sent {
            let h = peer.receive(s);
            c.deliver(h, &[]);
        }
    }
    c.advance(Duration::from_secs(5));
    c.write(&[1; 50_000]);
    let sent = c.send_all();
    assert!(
        !c.tcb.has(flag::CUBIC_EPOCH),
        "the epoch restarts with the window"
    );
    assert_eq!(sent.len() as u32, c.tcb.initial_window(&c.cfg) / MSS);
}

#[test]
fn congestion_control_names_parse_back() {
    for cc in CongestionControl::ALL {
        assert_eq!(cc.name().parse::<CongestionControl>(), Ok(cc));
        assert_eq!(std::format!("{cc}"), cc.name());
    }
    assert_eq!(
        " Reno ".parse::<CongestionControl>(),
        Ok(CongestionControl::NewReno)
    );
    assert!("vegas".parse::<CongestionControl>().is_err());
    assert_eq!(TcbConfig::RFC.congestion, CongestionControl::NewReno);
    assert_eq!(TcbConfig::DATACENTER.congestion, CongestionControl::NewReno);
    let (c, _) = cubic_sender(Duration::from_millis(1));
    assert_eq!(c.tcb.congestion_control(), CongestionControl::Cubic);
}

#[test]
fn the_origin_clock_stays_in_range_over_long_epochs() {
    let (mut c, _) = cubic_sender(Duration::from_millis(1));
    c.tcb.flags |= flag::CUBIC_EPOCH;
    let now = c.now;
    // 100 s past the origin (12207 ticks of 8.192 ms) and 40 s before it: kept as they are.
    c.tcb.cubic_origin = ticks(now).wrapping_sub(12_207);
    assert_eq!(c.tcb.cubic_offset(now), 12_207);
    c.tcb.cubic_origin = ticks(now).wrapping_add(4_883);
    assert_eq!(c.tcb.cubic_offset(now), -4_883);
    // 200 s past: the origin moves up to 134 s before now.
    c.tcb.cubic_origin = ticks(now).wrapping_sub(24_414);
    assert_eq!(c.tcb.cubic_offset(now), 1 << 14);
    assert_eq!(c.tcb.cubic_origin, ticks(now).wrapping_sub(1 << 14));
    // An hour-long epoch with an ACK every second never wraps onto the concave side, though
    // the tick clock wraps every 537 s.
    let mut t = now;
    for _ in 0..3600 {
        t += Duration::from_secs(1);
        assert_eq!(c.tcb.cubic_offset(t), 1 << 14);
    }
}

#[test]
fn a_tail_loss_probe_reduces_to_seven_tenths() {
    let (mut c, _) = in_congestion_avoidance(Duration::from_millis(10));
    let w_max_before = c.tcb.cubic_w_max;
    // A flight whose ACKs never come: the probe timeout (two SRTTs) fires before the RTO and
    // the last segment is sent again, which counts as a loss (deviation 20).
    let room = c.snd.capacity() - c.snd.len();
    c.write(&vec![0x5a; room]);
    c.send_all();
    let (cwnd, flight) = (c.tcb.cwnd(), c.tcb.flight_size());
    let retransmitted = c.tcb.counters().retransmitted_segments;
    c.advance_to_deadline();
    let probe = c.send_all();
    assert_eq!(probe.len(), 1, "one probe");
    assert_eq!(c.tcb.counters().retransmitted_segments, retransmitted + 1);
    assert_eq!(c.tcb.counters().timeouts, 0, "a probe, not an RTO");
    assert_eq!(
        c.tcb.ssthresh(),
        flight * 7 / 10,
        "ssthresh = 0.7 * FlightSize"
    );
    assert_eq!(c.tcb.cwnd(), flight * 7 / 10);
    assert!(
        !c.tcb.has(flag::CUBIC_EPOCH),
        "the epoch ends with the reduction"
    );
    // cwnd had not regained the W_max of the first loss: fast convergence.
    assert!(cwnd < u32::from(w_max_before) * MSS);
    let expect = f64::from(cwnd) * 0.85 / f64::from(MSS);
    assert!((f64::from(c.tcb.cubic_w_max) - expect).abs() <= 0.5);
}

#[test]
fn extreme_windows_stay_in_range() {
    // The largest W_max (65535 segments of 65535 bytes) a whole window above cwnd: K is the
    // largest there is and stays within the origin clock's range (57 s ahead).
    let k = k_millis(u32::MAX - 65535, 65535);
    assert!((54_000..57_000).contains(&k), "K {k} ms");
    // MSS 64 (the smallest accepted) with a window of 2^30 bytes, far past the origin.
    let w = w_cubic(1 << 30, 200_000_000, 64);
    assert!(w > 1 << 30);
}

#[test]
fn a_closed_peer_window_pauses_the_curve() {
    // RFC 9438 4.2 / 5.8: t excludes periods the sender is limited by the receiver's window.
    // 30 s of zero window counted towards t put the window 30 s along the convex side
    // (1.5 * cwnd every round trip after the window opened); 500 s wrapped the 537 s origin
    // clock onto the concave side, where the curve stood still for most of a minute.
    let rtt = Duration::from_millis(100);
    for secs in [30, 500] {
        let (mut c, mut peer) = in_congestion_avoidance(rtt);
        for _ in 0..3 {
            round(&mut c, &mut peer, rtt, &[]);
        }
        // The receiver acknowledges all it got and closes its window; probes see it closed.
        let room = c.snd.capacity() - c.snd.len();
        c.write(&vec![0x5a; room]);
        for s in c.send_all() {
            peer.receive(&s);
        }
        c.advance(rtt);
        c.deliver(ack(Y + 1, peer.una, 0), &[]);
        let opens = c.now + Duration::from_secs(secs);
        while c.tcb.next_deadline().is_some_and(|at| at < opens) {
            c.advance_to_deadline();
            assert_eq!(c.send_all().len(), 1, "a window probe");
            c.deliver(ack(Y + 1, peer.una, 0), &[]);
        }
        c.now = opens;
        let (cwnd, w_max) = (c.tcb.cwnd(), u32::from(c.tcb.cubic_w_max) * MSS);
        assert!(cwnd < w_max, "{secs} s: cwnd {cwnd} below W_max {w_max}");
        c.deliver(ack(Y + 1, peer.una, 65535), &[]);
        // One second later the window follows a curve that started when the window opened:
        // concave towards W_max (K about 3 s away), at least the Reno-friendly estimate.
        let start = c.now;
        for _ in 0..10 {
            round(&mut c, &mut peer, rtt, &[]);
        }
        let t = (c.now - start).micros() as f64 / 1e6;
        let rfc = rfc_w_cubic(f64::from(w_max / MSS), f64::from(cwnd) / f64::from(MSS), t);
        let now = f64::from(c.tcb.cwnd()) / f64::from(MSS);
        assert!(
            (now - rfc).abs() <= 2.0,
            "{secs} s: cwnd {now} vs W_cubic {rfc} from {cwnd}"
        );
        assert!(now < f64::from(w_max / MSS), "{secs} s");
    }
}

/// One round trip of a sender that has `segments` full segments of new data (written now,
/// the send buffer otherwise holding only what is in flight): what may leave leaves, the
/// segments whose sequence number is in `drop` are lost, and one RTT later the receiver's
/// ACK of each arriving segment comes back, its window field set to `window` (scaled by 7).
fn app_round(
    c: &mut Host,
    peer: &mut Peer,
    rtt: Duration,
    segments: u32,
    drop: &[u32],
    window: u16,
) -> usize {
    c.write(&vec![0x5a; (segments * MSS) as usize]);
    let sent = c.send_all();
    c.advance(rtt);
    for s in &sent {
        if !drop.contains(&s.h.seq.0) {
            let mut h = peer.receive(s);
            h.window = window;
            c.deliver(h, &[]);
        }
    }
    sent.len()
}

/// One round trip of a sender whose application keeps exactly a window of data queued (no
/// more): cwnd limits it, and no backlog builds up.
fn window_round(c: &mut Host, peer: &mut Peer, rtt: Duration, drop: &[u32]) -> usize {
    let want = c.tcb.cwnd() / MSS * MSS;
    let queued = len32(c.snd.len());
    c.write(&vec![0x5a; want.saturating_sub(queued) as usize]);
    app_round(c, peer, rtt, 0, drop, 65535)
}

/// Window-sized rounds through slow start to `segments` (ssthresh set there), then rounds
/// in congestion avoidance until an epoch runs.
fn window_limited_at(c: &mut Host, peer: &mut Peer, rtt: Duration, segments: u32) {
    c.tcb.set_ssthresh(segments * MSS);
    while c.tcb.cwnd() < segments * MSS {
        window_round(c, peer, rtt, &[]);
    }
    window_round(c, peer, rtt, &[]);
}

#[test]
fn an_application_limited_sender_does_not_grow_the_window() {
    // The reviewer's case: 10 segments per 100 ms round trip for 60 s with cwnd at 100
    // segments. CUBIC's window grew to 2837 segments (the convex curve, 10 ACKs per round
    // trip) and NewReno's by one SMSS per cwnd of acknowledged bytes (to 160), and a later
    // burst would have left at that rate; both must stay where they were.
    let rtt = Duration::from_millis(100);
    for cc in CongestionControl::ALL {
        let (mut c, mut peer) = sender(rtt, cc, None);
        window_limited_at(&mut c, &mut peer, rtt, 100);
        let (cwnd, w_max) = (c.tcb.cwnd(), c.tcb.cubic_w_max);
        for _ in 0..600 {
            assert_eq!(app_round(&mut c, &mut peer, rtt, 10, &[], 65535), 10);
        }
        assert_eq!(c.tcb.cwnd(), cwnd, "{cc}: the window grew while unused");
        assert!(!c.tcb.has(flag::CWND_LIMITED));
        if cc == CongestionControl::Cubic {
            assert_eq!(c.tcb.cubic_w_max, w_max, "W_max kept");
            assert!(!c.tcb.has(flag::CUBIC_EPOCH), "no epoch while unused");
        }
    }
}

#[test]
fn application_limited_slow_start_stops_at_twice_the_use() {
    // Slow start doubles what is used per round trip: the window grows while the flight of
    // the last send was more than half of cwnd (Linux's rule), for either congestion control.
    let rtt = Duration::from_millis(100);
    for cc in CongestionControl::ALL {
        let (mut c, mut peer) = sender(rtt, cc, None);
        let iw = c.tcb.cwnd();
        assert_eq!(iw, 10 * MSS);
        for _ in 0..20 {
            assert_eq!(app_round(&mut c, &mut peer, rtt, 8, &[], 65535), 8);
        }
        let cwnd = c.tcb.cwnd();
        assert!(
            (16 * MSS..16 * MSS + 8 * MSS).contains(&cwnd),
            "{cc}: cwnd {cwnd} for 8 segments per round trip"
        );
        // The application turns to bulk: slow start resumes at once.
        window_round(&mut c, &mut peer, rtt, &[]);
        assert_eq!(
            c.tcb.cwnd(),
            2 * cwnd,
            "{cc}: slow start doubles a used window"
        );
    }
}

#[test]
fn a_sender_held_by_the_peer_window_does_not_grow_the_window() {
    // RFC 9438 5.8: a flow limited by the receiver's window is application-limited too.
    let rtt = Duration::from_millis(100);
    let (mut c, mut peer) = cubic_sender(rtt);
    window_limited_at(&mut c, &mut peer, rtt, 100);
    // The peer offers 50 segments (390 << 7 bytes) while the application has plenty, from
    // the ACKs of a window that was sent while it still offered 8 MB.
    app_round(&mut c, &mut peer, rtt, 100, &[], 390);
    let cwnd = c.tcb.cwnd();
    for _ in 0..100 {
        let room = c.snd.capacity() - c.snd.len();
        c.write(&vec![0x5a; room]);
        let sent = app_round(&mut c, &mut peer, rtt, 0, &[], 390);
        assert!(sent >= 49, "the peer's window is used: {sent}");
    }
    assert_eq!(
        c.tcb.cwnd(),
        cwnd,
        "the window grew while the peer's window limited"
    );
    assert!(!c.tcb.has(flag::CUBIC_EPOCH));
}

#[test]
fn a_return_to_cwnd_limited_restarts_the_curve_from_the_window() {
    // After a loss at 101 segments (W_max 101, cwnd 70, K about 4.2 s), 10 s of 10 segments
    // per round trip: before, t ran on (and the window grew past W_max on 10 ACKs per round
    // trip); now the curve restarts from the window as it stands when cwnd limits again.
    let rtt = Duration::from_millis(100);
    let (mut c, mut peer) = cubic_sender(rtt);
    window_limited_at(&mut c, &mut peer, rtt, 100);
    let hole = c.tcb.snd_una.0;
    window_round(&mut c, &mut peer, rtt, &[hole]);
    assert!(c.tcb.in_recovery());
    while c.tcb.in_recovery() {
        window_round(&mut c, &mut peer, rtt, &[]);
    }
    window_round(&mut c, &mut peer, rtt, &[]);
    assert!(c.tcb.has(flag::CUBIC_EPOCH));
    let w_max = c.tcb.cubic_w_max;
    for _ in 0..100 {
        app_round(&mut c, &mut peer, rtt, 10, &[], 65535);
    }
    let cwnd = c.tcb.cwnd();
    assert_eq!(c.tcb.cubic_w_max, w_max, "W_max kept");
    assert!(
        cwnd < u32::from(w_max) * MSS,
        "cwnd {cwnd} below W_max {w_max}"
    );
    assert!(!c.tcb.has(flag::CUBIC_EPOCH));
    let start = c.now;
    for _ in 0..10 {
        window_round(&mut c, &mut peer, rtt, &[]);
    }
    let t = (c.now - start).micros() as f64 / 1e6;
    let rfc = rfc_w_cubic(f64::from(w_max), f64::from(cwnd) / f64::from(MSS), t);
    let now = f64::from(c.tcb.cwnd()) / f64::from(MSS);
    assert!(
        (now - rfc).abs() <= 2.0,
        "cwnd {now} vs W_cubic {rfc} from {cwnd}"
    );
    assert!(now < f64::from(w_max));
}

#[test]
fn a_batch_of_acks_sees_the_verdict_of_the_last_send() {
    // All ACKs processed before the next send phase grow the window exactly as when the
    // sender refills the window after each of them, in slow start and in congestion
    // avoidance; the ACKs of an application-limited flight grow nothing.
    let rtt = Duration::from_millis(100);
    for segments in [0, 100] {
        let setup = || {
            let (mut c, mut peer) = cubic_sender(rtt);
            if segments > 0 {
                window_limited_at(&mut c, &mut peer, rtt, segments);
            }
            let want = (c.tcb.cwnd() / MSS * MSS) as usize;
            c.write(&vec![0x5a; want]);
            let sent = c.send_all();
            assert!(c.tcb.has(flag::CWND_LIMITED), "a window's worth fills cwnd");
            c.advance(rtt);
            let acks: Vec<TcpHeader> = sent.iter().map(|s| peer.receive(s)).collect();
            (c, acks)
        };
        let (mut batch, acks) = setup();
        let before = batch.tcb.cwnd();
        for h in &acks {
            batch.deliver(*h, &[]);
        }
        let (mut clocked, acks) = setup();
        for h in &acks {
            clocked.deliver(*h, &[]);
            let want = (clocked.tcb.cwnd() / MSS * MSS) as usize;
            clocked.write(&vec![0x5a; want]);
            clocked.send_all();
            assert!(clocked.tcb.has(flag::CWND_LIMITED));
        }
        assert!(
            batch.tcb.cwnd() > before,
            "{segments}: the batch grew the window"
        );
        assert_eq!(batch.tcb.cwnd(), clocked.tcb.cwnd(), "{segments}");
    }
    // Application-limited: 10 segments under a window of 100.
    let (mut c, mut peer) = cubic_sender(rtt);
    window_limited_at(&mut c, &mut peer, rtt, 100);
    let cwnd = c.tcb.cwnd();
    c.write(&vec![0x5a; 10 * MSS as usize]);
    let sent = c.send_all();
    assert!(!c.tcb.has(flag::CWND_LIMITED));
    c.advance(rtt);
    for s in &sent {
        let h = peer.receive(s);
        c.deliver(h, &[]);
    }
    assert_eq!(c.tcb.cwnd(), cwnd);
}

#[test]
fn tso_super_segments_count_as_cwnd_limited() {
    // Whole segments per super-segment: the remainder of cwnd below one SMSS is not the
    // application's doing, and the window keeps growing.
    let rtt = Duration::from_millis(100);
    let tso = crate::device::TsoCaps {
        max_payload: 16 * MSS + 500,
        min_mss: 100,
        max_mss: 9000,
    };
    let (mut c, mut peer) = sender(rtt, CongestionControl::Cubic, Some(tso));
    c.tcb.set_ssthresh(60 * MSS + 300);
    let mut last = c.tcb.cwnd();
    for r in 0..30 {
        let room = c.snd.capacity() - c.snd.len();
        c.write(&vec![0x5a; room]);
        let sent = c.send_all();
        assert!(
            sent.iter().any(|s| s.tso.is_some()),
            "round {r}: TSO in use"
        );
        assert!(c.tcb.has(flag::CWND_LIMITED), "round {r}: cwnd limited");
        c.advance(rtt);
        for s in &sent {
            let h = peer.receive(s);
            c.deliver(h, &[]);
        }
        let cwnd = c.tcb.cwnd();
        assert!(
            cwnd > last,
            "round {r}: cwnd {cwnd} did not grow from {last}"
        );
        last = cwnd;
    }
    assert!(c.tcb.has(flag::CUBIC_EPOCH));
}
