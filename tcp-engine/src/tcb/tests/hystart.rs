//! HyStart++ (RFC 9406) in the initial slow start, round by round on a simulated clock: a
//! sender with timestamps (10 us tick, as `TcbConfig::DATACENTER`) and a receiver that
//! acknowledges every segment and echoes its timestamp, all ACKs of a round arriving one RTT
//! after the round's segments left, so each ACK's RTT sample is exactly the round's RTT.
//! Threshold here: clamp(100 us / 8, 25 us, 16 ms) = 25 us.

use super::*;
use crate::tcb::hystart::{CSS_ROUNDS, N_RTT_SAMPLE};

const MSS: u32 = 1000;
const BASE_RTT: u64 = 100;

fn config(cc: CongestionControl) -> TcbConfig {
    TcbConfig {
        mss: MSS as u16,
        window_scaling: true,
        timestamps: true,
        sack: true,
        timestamp_tick: Duration::from_micros(10),
        delayed_ack: None,
        congestion: cc,
        ..TcbConfig::RFC
    }
}

/// A sender whose handshake took `BASE_RTT`, with a 4 MB send buffer; its peer.
fn sender(cfg: TcbConfig) -> (Host, Peer) {
    let mut c = Host::client(cfg, ISS, 4 << 20, 4000);
    let syn = c.send_one().unwrap();
    c.advance(Duration::from_micros(BASE_RTT));
    let mut sa = seg(Y, Some(ISS + 1), TcpFlags::SYN, 65535);
    sa.options = syn_opts(MSS as u16);
    sa.options.sack_permitted = true;
    sa.options.window_scale = Some(7);
    sa.options.timestamps = Some((1, syn.h.options.timestamps.expect("TS offered").0));
    c.deliver(sa, &[]);
    c.send_all();
    let peer = Peer {
        ts: Some(1),
        ..Peer::new(ISS + 1)
    };
    (c, peer)
}

/// What one round did.
#[derive(Debug, Default)]
struct Round {
    sent: usize,
    exits: usize,
    cwnd_before: u32,
}

/// One round trip of `rtt_us`: up to `limit` bytes of new data leave now (the send buffer is
/// refilled to that), segments starting at a sequence number in `drop` are lost, the ACK of
/// every other one comes back `rtt_us` later.
fn round_limited(c: &mut Host, peer: &mut Peer, rtt_us: u64, drop: &[u32], limit: usize) -> Round {
    let want = limit.saturating_sub(c.snd.len());
    c.write(&vec![0x5a; want.min(c.snd.capacity() - c.snd.len())]);
    let cwnd_before = c.tcb.cwnd();
    let sent = c.send_all();
    c.advance(Duration::from_micros(rtt_us));
    let mut exits = 0;
    for s in &sent {
        if !drop.contains(&s.h.seq.0) {
            let h = peer.receive(s);
            exits += usize::from(c.deliver(h, &[]).hystart_exit);
        }
    }
    Round {
        sent: sent.len(),
        exits,
        cwnd_before,
    }
}

fn round(c: &mut Host, peer: &mut Peer, rtt_us: u64) -> Round {
    round_limited(c, peer, rtt_us, &[], usize::MAX)
}

/// Slow start at the base RTT until a round carries at least `segments` segments.
fn grow_to(c: &mut Host, peer: &mut Peer, segments: u32) {
    while c.tcb.cwnd() < segments * c.tcb.payload_mss() {
        let r = round(c, peer, BASE_RTT);
        assert_eq!(r.exits, 0, "a steady RTT never leaves slow start");
        assert_eq!(c.tcb.hystart_phase(), Some(HyStartPhase::SlowStart));
    }
}

/// Slow start until the RTT rises by the threshold (25 us) in a round: CSS at the
/// `N_RTT_SAMPLE`-th sample of that round, where the window then grows at a quarter of
/// slow start's pace; returns the sender in CSS.
fn into_css(cc: CongestionControl) -> (Host, Peer) {
    let (mut c, mut peer) = sender(config(cc));
    assert_eq!(c.tcb.hystart_phase(), Some(HyStartPhase::SlowStart));
    assert_eq!(
        c.tcb.ssthresh(),
        1 << 30,
        "the initial ssthresh as the public value"
    );
    grow_to(&mut c, &mut peer, 20);
    // 30 us: the timestamp clock (10 us ticks) measures it as 30 us, never below 25.
    let r = round(&mut c, &mut peer, BASE_RTT + 30);
    assert_eq!(
        r.exits, 1,
        "{cc:?}: the rise by the threshold leaves slow start: {r:?}"
    );
    assert_eq!(
        c.tcb.hystart_phase(),
        Some(HyStartPhase::ConservativeSlowStart)
    );
    // 7 ACKs at slow start's pace; from the 8th sample on, a quarter of it.
    let smss = c.tcb.payload_mss();
    let expect = r.cwnd_before
        + (N_RTT_SAMPLE - 1) * smss
        + (r.sent as u32 + 1 - N_RTT_SAMPLE) * (smss / super::super::hystart::CSS_GROWTH_DIVISOR);
    assert_eq!(c.tcb.cwnd(), expect, "{cc:?}: CSS growth after the exit");
    (c, peer)
}

#[test]
fn a_round_whose_rtt_rises_by_the_threshold_enters_css_then_congestion_avoidance() {
    for cc in CongestionControl::ALL {
        let (mut c, mut peer) = into_css(cc);
        let smss = c.tcb.payload_mss();
        // The partial round CSS began in counts: CSS_ROUNDS - 1 more whole rounds in CSS,
        // each growing a quarter of what it acknowledges.
        for i in 1..CSS_ROUNDS {
            let r = round(&mut c, &mut peer, BASE_RTT + 30);
            assert_eq!(r.exits, 0);
            assert_eq!(
                c.tcb.hystart_phase(),
                Some(HyStartPhase::ConservativeSlowStart),
                "{cc:?}: CSS round {i}"
            );
            // The first ACK of the round ended the previous round (1 ACK), the rest grow
            // a quarter.
            assert_eq!(
                c.tcb.cwnd(),
                r.cwnd_before + r.sent as u32 * (smss / 4),
                "{cc:?}: CSS round {i} grows a quarter of slow start"
            );
        }
        // The next round's first ACK completes the fifth CSS round: congestion avoidance,
        // ssthresh = cwnd, the overlaid fields handed back.
        let cwnd = c.tcb.cwnd();
        let r = round(&mut c, &mut peer, BASE_RTT + 30);
        assert_eq!(c.tcb.hystart_phase(), None, "{cc:?}: congestion avoidance");
        assert!(
            c.tcb.cwnd() < r.cwnd_before + r.sent as u32 * smss / 4,
            "{cc:?}: congestion avoidance grows slower than CSS: {r:?}, cwnd {}",
            c.tcb.cwnd()
        );
        if cc != CongestionControl::Cubic {
            // DCTCP without ECN negotiated (as here) is NewReno, HyStart++ included.
            assert_eq!(c.tcb.congestion_control(), CongestionControl::NewReno);
            assert_eq!(c.tcb.ssthresh(), cwnd, "ssthresh = cwnd at the end of CSS");
            assert_eq!(c.tcb.cubic_w_max, 0);
            assert_eq!(c.tcb.cubic_origin, 0);
            assert!(c.tcb.ca_acked < c.tcb.cwnd(), "ca_acked counts from 0");
        } else {
            // The epoch started from the window at the end of CSS with K = 0: W_max is that
            // window, not an RTT left in the field.
            assert_eq!(u32::from(c.tcb.cubic_w_max), (cwnd + smss / 2) / smss);
        }
        // No decision again, however the RTT moves.
        for rtt in [BASE_RTT, BASE_RTT + 500, BASE_RTT] {
            assert_eq!(round(&mut c, &mut peer, rtt).exits, 0);
            assert_eq!(c.tcb.hystart_phase(), None);
        }
    }
}

#[test]
fn an_rtt_that_falls_back_in_css_resumes_slow_start() {
    for cc in CongestionControl::ALL {
        let (mut c, mut peer) = into_css(cc);
        // The RTT falls below the baseline that started CSS: slow start again, at full pace,
        // and with HyStart++ still watching.
        let r = round(&mut c, &mut peer, BASE_RTT);
        assert_eq!(r.exits, 0);
        assert_eq!(
            c.tcb.hystart_phase(),
            Some(HyStartPhase::SlowStart),
            "{cc:?}"
        );
        let r = round(&mut c, &mut peer, BASE_RTT);
        assert_eq!(
            c.tcb.cwnd(),
            r.cwnd_before + r.sent as u32 * c.tcb.payload_mss(),
            "{cc:?}: slow start's pace"
        );
        // And leaves again at the next rise.
        let r = round(&mut c, &mut peer, BASE_RTT + 40);
        assert_eq!(r.exits, 1, "{cc:?}");
        assert_eq!(
            c.tcb.hystart_phase(),
            Some(HyStartPhase::ConservativeSlowStart)
        );
    }
}

#[test]
fn a_rise_below_the_threshold_or_with_fewer_than_eight_samples_decides_nothing() {
    // Noise: the RTT moving by less than the threshold (24 us: at most 2 ticks of 10 us,
    // one rounding away from the threshold) never leaves slow start.
    let (mut c, mut peer) = sender(config(CongestionControl::NewReno));
    let mut rtt = BASE_RTT;
    for i in 0..14u64 {
        let r = round(&mut c, &mut peer, rtt);
        assert_eq!(r.exits, 0, "round {i}, rtt {rtt}");
        rtt = BASE_RTT + (i * 7) % 15;
    }
    assert_eq!(c.tcb.hystart_phase(), Some(HyStartPhase::SlowStart));

    // An initial window of 3 segments: rounds of 3 and 6 segments (one sample each) decide
    // nothing however the RTT rises; the round of 12 does.
    let (mut c, mut peer) = sender(TcbConfig {
        initial_window_segments: 3,
        ..config(CongestionControl::Cubic)
    });
    for (rtt, sent) in [(BASE_RTT, 3), (BASE_RTT + 1000, 6)] {
        let r = round(&mut c, &mut peer, rtt);
        assert_eq!((r.sent, r.exits), (sent, 0), "{r:?}");
        assert_eq!(c.tcb.hystart_phase(), Some(HyStartPhase::SlowStart));
    }
    let r = round(&mut c, &mut peer, BASE_RTT + 2000);
    assert_eq!((r.sent, r.exits), (12, 1), "{r:?}");
}

#[test]
fn no_hystart_after_a_loss_or_a_timeout_nor_when_configured_off() {
    for cc in CongestionControl::ALL {
        // A loss ends the initial slow start: recovery, then congestion avoidance, whatever
        // the RTT does.
        let (mut c, mut peer) = sender(config(cc));
        grow_to(&mut c, &mut peer, 16);
        let hole = c.tcb.snd_una.0;
        round_limited(&mut c, &mut peer, BASE_RTT, &[hole], usize::MAX);
        assert!(c.tcb.in_recovery(), "{cc:?}");
        assert_eq!(c.tcb.hystart_phase(), None);
        assert!(c.tcb.ssthresh() < 1 << 30);
        while c.tcb.in_recovery() {
            round(&mut c, &mut peer, BASE_RTT);
        }
        for rtt in [BASE_RTT, BASE_RTT + 500] {
            assert_eq!(round(&mut c, &mut peer, rtt).exits, 0);
        }

        // A timeout (the whole window lost): slow start after it is classic, it doubles
        // the window in a round whose RTT rose, with 8 samples and more.
        let (mut c, mut peer) = sender(config(cc));
        grow_to(&mut c, &mut peer, 40);
        let smss = c.tcb.payload_mss();
        c.write(&vec![0x5a; 64 * 1000]);
        c.send_all();
        for _ in 0..2 {
            // The probe timeout, then the RTO.
            c.advance_to_deadline();
            c.send_all();
        }
        assert_eq!(c.tcb.counters().timeouts, 1, "{cc:?}");
        assert_eq!(c.tcb.hystart_phase(), None);
        let ssthresh = c.tcb.ssthresh();
        assert!(ssthresh >= 16 * smss, "{cc:?}: {ssthresh}");
        while c.tcb.cwnd() < N_RTT_SAMPLE * smss {
            assert_eq!(round(&mut c, &mut peer, BASE_RTT).exits, 0);
        }
        let r = round(&mut c, &mut peer, BASE_RTT + 500);
        assert!(r.sent >= N_RTT_SAMPLE as usize, "{r:?}");
        assert_eq!(r.exits, 0);
        assert_eq!(
            c.tcb.cwnd(),
            (r.cwnd_before + r.sent as u32 * smss).min(ssthresh.max(r.cwnd_before) + smss),
            "{cc:?}: slow start up to ssthresh"
        );

        // Configured off: classic slow start through the same rise.
        let (mut c, mut peer) = sender(TcbConfig {
            hystart: None,
            ..config(cc)
        });
        assert_eq!(c.tcb.hystart_phase(), None);
        grow_to_off(&mut c, &mut peer, 20);
        let r = round(&mut c, &mut peer, BASE_RTT + 100);
        assert_eq!(r.exits, 0);
        assert_eq!(
            c.tcb.cwnd(),
            r.cwnd_before + r.sent as u32 * c.tcb.payload_mss()
        );
        assert_eq!(
            (c.tcb.cubic_w_max, c.tcb.cubic_origin, c.tcb.ca_acked),
            (0, 0, 0)
        );
    }
}

fn grow_to_off(c: &mut Host, peer: &mut Peer, segments: u32) {
    while c.tcb.cwnd() < segments * c.tcb.payload_mss() {
        round(c, peer, BASE_RTT);
    }
}

#[test]
fn thresholds_follow_the_config_and_the_timestamp_tick() {
    // RFC 9406's 4 ms floor: a rise of 1 ms at 100 us RTT decides nothing, 4 ms does.
    let cfg = TcbConfig {
        hystart: Some(HyStart::RFC),
        ..config(CongestionControl::NewReno)
    };
    let (mut c, mut peer) = sender(cfg);
    grow_to(&mut c, &mut peer, 20);
    assert_eq!(round(&mut c, &mut peer, BASE_RTT + 1000).exits, 0);
    assert_eq!(round(&mut c, &mut peer, BASE_RTT + 1000).exits, 0);
    assert_eq!(round(&mut c, &mut peer, BASE_RTT + 6000).exits, 1);

    // A coarse timestamp clock (1 ms) raises the floor to two ticks: a rise of one tick is
    // quantisation, not a queue.
    let cfg = TcbConfig {
        timestamp_tick: Duration::from_millis(1),
        ..config(CongestionControl::NewReno)
    };
    let (mut c, mut peer) = sender(cfg);
    grow_to(&mut c, &mut peer, 20);
    assert_eq!(round(&mut c, &mut peer, 1000).exits, 0);
    assert_eq!(round(&mut c, &mut peer, 2000).exits, 0);
    assert_eq!(round(&mut c, &mut peer, 4500).exits, 1);
}

#[test]
fn a_window_end_the_sequence_space_wrapped_past_still_ends_its_round() {
    // After more than 2 GB application-limited (rounds not tracked), windowEnd may look
    // ahead of SND.UNA modulo 2^32: it is beyond SND.MAX, so the next ACK starts a round.
    let (mut c, mut peer) = sender(config(CongestionControl::NewReno));
    grow_to(&mut c, &mut peer, 20);
    c.tcb.ca_acked = (c.tcb.snd_una + ((1 << 31) - 5)).0;
    let r = round(&mut c, &mut peer, BASE_RTT + 30);
    assert_eq!(r.exits, 1, "{r:?}");
}
