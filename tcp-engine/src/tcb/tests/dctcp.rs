//! DCTCP (RFC 8257, module `dctcp`): the receiver's mirrored echo with the old-mark ACK
//! first, alpha per observation window and the proportional cut, once per window; NewReno's
//! behaviour without ECN and on loss; an echo's cut never undone. Exact segments and windows
//! on a simulated clock; our ISS is `ISS`, the peer's `Y`, payload MSS 1000.

use super::ecn::{ACK, CE, CWR, ECE, PSH, SYN};
use super::prr::{MSS, s};
use super::*;
use crate::tcb::dctcp::{ALPHA_ONE, reduced_window};

const WND: u16 = 60_000;

fn config(congestion: CongestionControl, ecn: EcnMode, sack: bool) -> TcbConfig {
    TcbConfig {
        congestion,
        ecn,
        sack,
        ..plain()
    }
}

/// A client under `cfg` whose SYN-ACK agrees to ECN when `agree` (its SYN asked when the
/// config says so), established, with `bytes` written.
fn client(cfg: TcbConfig, agree: bool, bytes: usize) -> Host {
    let mut c = Host::client(cfg, ISS, 200_000, 64_000);
    c.send_one().expect("SYN");
    let flags = if agree { SYN | ECE } else { SYN };
    let mut sa = seg(Y, Some(ISS + 1), flags, WND);
    sa.options = syn_opts(1000);
    sa.options.sack_permitted = cfg.sack;
    c.deliver(sa, &[]);
    assert_eq!(
        c.send_all().len(),
        1,
        "the handshake ACK (no HyStart++ state)"
    );
    let data: Vec<u8> = (0..bytes).map(|i| (i * 7 % 251) as u8).collect();
    assert_eq!(c.write(&data), bytes);
    c
}

fn dctcp_client(bytes: usize) -> Host {
    client(
        config(CongestionControl::Dctcp, EcnMode::On, false),
        true,
        bytes,
    )
}

/// `(seq, ack, flags, payload length)` of each segment.
fn shape(segs: &[Seg]) -> Vec<(u32, u32, TcpFlags, usize)> {
    segs.iter()
        .map(|x| (x.h.seq.0, x.h.ack.0, x.h.flags, x.data.len()))
        .collect()
}

#[test]
fn dctcp_runs_only_with_ecn_negotiated() {
    let c = dctcp_client(0);
    assert_eq!(c.tcb.congestion_control(), CongestionControl::Dctcp);
    assert_eq!(c.tcb.dctcp_alpha(), Some(ALPHA_ONE), "alpha starts at 1");
    assert_eq!(c.tcb.hystart_phase(), None, "no HyStart++ with DCTCP");
    // The peer does not agree to ECN: NewReno, HyStart++ as configured, no DCTCP state.
    for (mode, agree) in [(EcnMode::On, false), (EcnMode::Off, true)] {
        let c = client(config(CongestionControl::Dctcp, mode, false), agree, 0);
        assert!(!c.tcb.ecn_negotiated());
        assert_eq!(c.tcb.congestion_control(), CongestionControl::NewReno);
        assert_eq!(c.tcb.dctcp_alpha(), None);
        assert_eq!(c.tcb.hystart_phase(), Some(HyStartPhase::SlowStart));
        assert_eq!(
            (c.tcb.cubic_w_max, c.tcb.cubic_origin),
            (u16::MAX, u16::MAX)
        );
    }
}

#[test]
fn the_receiver_mirrors_each_mark_and_acknowledges_the_data_before_a_change_first() {
    let mut c = dctcp_client(0);
    // Unmarked in-order data: the ACK is delayed.
    c.deliver(ack(Y + 1, ISS + 1, WND), &[1; 100]);
    assert!(c.send_all().is_empty(), "ACK delayed");
    // A marked segment: first the ACK of the unmarked 100 bytes without ECE, then the ACK
    // of the marked one with ECE, at once.
    let r = c.deliver(seg(Y + 101, Some(ISS + 1), CE, WND), &[2; 100]);
    assert_eq!(r.ecn, EcnEvents::CE_RECEIVED);
    assert!(c.tcb.ecn_echo_pending());
    assert_eq!(
        shape(&c.send_all()),
        [(ISS + 1, Y + 101, ACK, 0), (ISS + 1, Y + 201, ACK | ECE, 0)]
    );
    // More marked data: no change, the ACK is delayed as usual and carries ECE.
    c.deliver(seg(Y + 201, Some(ISS + 1), CE, WND), &[3; 100]);
    assert!(c.send_all().is_empty(), "ACK delayed");
    c.advance(Duration::from_millis(40));
    assert_eq!(shape(&c.send_all()), [(ISS + 1, Y + 301, ACK | ECE, 0)]);
    // CWR does not end the echo (RFC 8257 3.2): its marked data is acknowledged at once
    // (as Linux does for CWR), still with ECE.
    c.deliver(seg(Y + 301, Some(ISS + 1), CE | CWR, WND), &[4; 100]);
    assert_eq!(shape(&c.send_all()), [(ISS + 1, Y + 401, ACK | ECE, 0)]);
    assert!(c.tcb.ecn_echo_pending());
    // Unmarked data with nothing unacknowledged before it: one ACK at once, without ECE.
    c.deliver(ack(Y + 401, ISS + 1, WND), &[5; 100]);
    assert!(!c.tcb.ecn_echo_pending());
    assert_eq!(shape(&c.send_all()), [(ISS + 1, Y + 501, ACK, 0)]);
    // A receive burst: unmarked, then two marked, then unmarked again before the send
    // phase: the old-mark ACK covers up to the last change (deviation 30), the last ACK
    // carries the last segment's mark.
    c.deliver(ack(Y + 501, ISS + 1, WND), &[6; 100]);
    c.deliver(seg(Y + 601, Some(ISS + 1), CE, WND), &[7; 100]);
    c.deliver(seg(Y + 701, Some(ISS + 1), CE, WND), &[8; 100]);
    c.deliver(ack(Y + 801, ISS + 1, WND), &[9; 100]);
    assert_eq!(
        shape(&c.send_all()),
        [(ISS + 1, Y + 801, ACK | ECE, 0), (ISS + 1, Y + 901, ACK, 0)]
    );
    // Our data mirrors the last mark too (none now), and a marked segment that arrives
    // while the ACK is owed anyway makes the old-mark ACK go first.
    c.deliver(ack(Y + 901, ISS + 1, WND), &[10; 100]);
    c.deliver(seg(Y + 1001, Some(ISS + 1), CE, WND), &[11; 100]);
    c.write(b"reply");
    let out = c.send_all();
    assert_eq!(
        shape(&out),
        [
            (ISS + 1, Y + 1001, ACK, 0),
            (ISS + 1, Y + 1101, ACK | ECE | PSH, 5)
        ]
    );
    assert_eq!(c.read_all().len(), 1100);
}

#[test]
fn a_fin_beyond_a_hole_leaves_no_stray_old_mark_ack() {
    let mut c = dctcp_client(0);
    // Marked data and the FIN beyond a hole: a duplicate ACK at once, echoing.
    c.deliver(
        seg(Y + 101, Some(ISS + 1), CE | TcpFlags::FIN, WND),
        &[1; 100],
    );
    assert_eq!(shape(&c.send_all()), [(ISS + 1, Y + 1, ACK | ECE, 0)]);
    // The hole filled, unmarked: the FIN is consumed with it; one ACK of everything, the
    // echo off (nothing before the change was unacknowledged).
    c.deliver(ack(Y + 1, ISS + 1, WND), &[2; 100]);
    assert_eq!(shape(&c.send_all()), [(ISS + 1, Y + 202, ACK, 0)]);
    // Marked data with FIN in order after unacknowledged unmarked data: the old-mark ACK
    // first, then the ACK of the data and the FIN.
    let mut c = dctcp_client(0);
    c.deliver(ack(Y + 1, ISS + 1, WND), &[3; 100]);
    assert!(c.send_all().is_empty(), "ACK delayed");
    c.deliver(
        seg(Y + 101, Some(ISS + 1), CE | TcpFlags::FIN, WND),
        &[4; 100],
    );
    assert_eq!(
        shape(&c.send_all()),
        [(ISS + 1, Y + 101, ACK, 0), (ISS + 1, Y + 202, ACK | ECE, 0)]
    );
}

#[test]
fn header_prediction_leaves_an_unmarked_segment_to_the_state_machine_while_echoing() {
    let mut c = dctcp_client(0);
    c.deliver(seg(Y + 1, Some(ISS + 1), CE, WND), &[1; 100]);
    c.send_all();
    let unmarked = ack(Y + 101, ISS + 1, WND);
    let mut twin = (c.tcb.clone(), c.rcv.clone());
    let predicted =
        twin.0
            .on_segment_predicted(&c.cfg, c.now, &unmarked, &[2; 100], 0, &mut twin.1, &c.loss);
    assert_eq!(predicted, None, "the unmarked segment changes the echo");
    c.deliver(unmarked, &[2; 100]);
    assert_eq!(shape(&c.send_all()), [(ISS + 1, Y + 201, ACK, 0)]);
    // With the echo off again, prediction takes unmarked data.
    let next = ack(Y + 201, ISS + 1, WND);
    let mut twin = (c.tcb.clone(), c.rcv.clone());
    assert!(
        twin.0
            .on_segment_predicted(&c.cfg, c.now, &next, &[3; 100], 0, &mut twin.1, &c.loss)
            .is_some()
    );
}

#[test]
fn alpha_is_updated_once_per_window_and_an_echo_cuts_by_alpha_over_two_once() {
    let mut c = dctcp_client(100_000);
    let flight = c.send_all();
    assert_eq!(flight.len(), 10, "IW10");
    assert!(flight.iter().all(|x| !x.h.flags.intersects(CWR | ECE)));
    // The timed segment is the first: its ACK ends the first observation window, 1
    // segment, none marked: alpha = (15 * 2048 * 1 + 0) / 16 = 1920. Slow start grows.
    c.advance(Duration::from_millis(1));
    let r = c.deliver(ack(Y + 1, s(1), WND), &[]);
    assert_eq!(r.ecn, EcnEvents::default());
    assert_eq!(c.tcb.dctcp_alpha(), Some(1920));
    assert_eq!(c.tcb.cwnd(), 11 * MSS);
    // Two new segments (flight 9 + 2 = 11); the first of them is timed.
    assert_eq!(
        shape(&c.send_all()),
        [(s(10), Y + 1, ACK, 1000), (s(11), Y + 1, ACK, 1000)]
    );
    // An echo on the ACK of two segments: no growth, the cut with alpha = 1920:
    // 11000 - 11000 * 1920 / 4096 = 11000 - 5156 = 5844.
    let r = c.deliver(seg(Y + 1, Some(s(3)), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::WINDOW_REDUCED);
    assert_eq!((c.tcb.ssthresh(), c.tcb.cwnd()), (5844, 5844));
    assert_eq!(c.tcb.dctcp_window_counts(), (2, 2));
    // A second echo in the same window of data counts, but cuts nothing.
    let r = c.deliver(seg(Y + 1, Some(s(4)), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::default());
    assert_eq!((c.tcb.ssthresh(), c.tcb.cwnd()), (5844, 5844));
    assert_eq!(c.tcb.dctcp_window_counts(), (3, 3));
    // Unmarked ACKs up to the timed segment's end (s(11)) end the window: 10 segments, 3
    // marked: alpha = (15 * 1920 * 10 + 2048 * 3) / 160 = 294144 / 160 = 1838.
    for k in 5..=10 {
        c.deliver(ack(Y + 1, s(k), WND), &[]);
        assert_eq!(
            c.tcb.dctcp_alpha(),
            Some(1920),
            "window still open at s({k})"
        );
    }
    assert_eq!(c.tcb.dctcp_window_counts(), (9, 3));
    c.deliver(ack(Y + 1, s(11), WND), &[]);
    assert_eq!(c.tcb.dctcp_alpha(), Some(1838));
    assert_eq!(c.tcb.dctcp_window_counts(), (0, 0));
    assert_eq!(c.tcb.counters().retransmitted_segments, 0);
    // The next new data announces the cut with CWR, once.
    let out = c.send_all();
    assert!(!out.is_empty());
    assert_eq!(
        out.iter().filter(|x| x.h.flags.intersects(CWR)).count(),
        1,
        "{out:?}"
    );
    c.check();
}

#[test]
fn without_echoes_alpha_decays_and_the_window_only_grows() {
    let mut c = dctcp_client(200_000);
    let mut alpha = ALPHA_ONE;
    // Three round trips of slow start (10, 20, 40 segments) stay under the peer's window.
    for _ in 0..3 {
        let cwnd = c.tcb.cwnd();
        c.send_all();
        c.advance(Duration::from_millis(1));
        let end = c.tcb.snd_max().0;
        // One ACK per segment, none echoing: a round trip, one observation window.
        let mut k = c.tcb.snd_una().0;
        while k != end {
            k += MSS.min(end - k);
            c.deliver(ack(Y + 1, k, WND), &[]);
        }
        assert!(
            c.tcb.cwnd() > cwnd,
            "slow start without marks: {cwnd} -> {}",
            c.tcb.cwnd()
        );
        let now = c.tcb.dctcp_alpha().unwrap();
        assert!(
            now < alpha,
            "alpha falls without marks: {now} after {alpha}"
        );
        alpha = now;
    }
    assert_eq!(c.tcb.ssthresh(), congestion::MAX_CWND, "never cut");
}

/// Runs the same loss script on a NewReno and a DCTCP connection (both with ECN, SACK
/// `sack`) and returns what each did: segments sent, and (cwnd, ssthresh) after each step.
fn loss_script(congestion: CongestionControl, sack: bool) -> (Vec<Vec<Seg>>, Vec<(u32, u32)>) {
    let mut c = client(config(congestion, EcnMode::On, sack), true, 60_000);
    let mut sent = vec![c.send_all()];
    let mut windows = vec![(c.tcb.cwnd(), c.tcb.ssthresh())];
    // Segment 0 lost: three duplicate ACKs (with SACK blocks when SACK is on).
    for k in 1..=3 {
        let mut h = ack(Y + 1, s(0), WND);
        if sack {
            h.options = super::sack(&[(s(1), s(k + 1))]);
        }
        c.deliver(h, &[]);
        sent.push(c.send_all());
        windows.push((c.tcb.cwnd(), c.tcb.ssthresh()));
    }
    assert!(c.tcb.in_recovery());
    // The retransmission fills the hole; then silence until the RTO.
    c.deliver(ack(Y + 1, s(10), WND), &[]);
    sent.push(c.send_all());
    windows.push((c.tcb.cwnd(), c.tcb.ssthresh()));
    c.advance_to_deadline();
    while c.tcb.counters().timeouts == 0 {
        sent.push(c.send_all());
        c.advance_to_deadline();
    }
    sent.push(c.send_all());
    windows.push((c.tcb.cwnd(), c.tcb.ssthresh()));
    (sent, windows)
}

#[test]
fn loss_and_the_rto_are_newreno_s() {
    for sack in [false, true] {
        let reno = loss_script(CongestionControl::NewReno, sack);
        let dctcp = loss_script(CongestionControl::Dctcp, sack);
        assert_eq!(dctcp.1, reno.1, "sack {sack}: windows");
        assert_eq!(dctcp.0, reno.0, "sack {sack}: segments");
        // The third duplicate halved the flight of 12 (Limited Transmit sent two more), the
        // RTO went to one segment.
        assert_eq!(reno.1[3].1, 6 * MSS, "sack {sack}: {:?}", reno.1);
        assert_eq!(reno.1.last().unwrap().0, MSS, "sack {sack}: {:?}", reno.1);
    }
}

/// A DCTCP SACK client with ECN whose flight of 20 (cwnd = ssthresh = 20 segments) sees
/// segment 0 overtaken by 1 to 3: fast recovery with `ssthresh = 22 000 / 2`, the cut
/// recorded for undo; the ACK of everything ends it. Returns it and SND.MAX.
fn recovered_spuriously_looking() -> (Host, u32) {
    let mut c = client(
        config(CongestionControl::Dctcp, EcnMode::On, true),
        true,
        150 * MSS as usize,
    );
    c.tcb.cwnd = 20 * MSS;
    c.tcb.set_ssthresh(20 * MSS);
    assert_eq!(c.send_all().len(), 20);
    for k in 1..=3 {
        let mut h = ack(Y + 1, s(0), WND);
        h.options = super::sack(&[(s(1), s(k + 1))]);
        c.deliver(h, &[]);
        c.send_all();
    }
    assert!(c.tcb.in_recovery());
    assert_eq!(c.tcb.ssthresh(), 11 * MSS, "NewReno's cut for the loss");
    let end = c.tcb.snd_max().0;
    c.deliver(ack(Y + 1, end, WND), &[]);
    assert!(!c.tcb.in_recovery() && c.loss.undo_pending());
    (c, end)
}

fn dsack(cum: u32, block: (u32, u32)) -> TcpHeader {
    let mut h = ack(Y + 1, cum, WND);
    h.options = super::sack(&[block]);
    h
}

#[test]
fn an_echo_s_cut_is_never_undone() {
    // The control: the D-SACK of the retransmission undoes the loss cut.
    let (mut c, end) = recovered_spuriously_looking();
    let r = c.deliver(dsack(end, (s(0), s(1))), &[]);
    assert!(r.spurious_undone);
    assert_eq!(c.tcb.cwnd(), 20 * MSS);

    // New data, then an echo cuts the window (alpha-proportional) before the D-SACK comes.
    let (mut c, end) = recovered_spuriously_looking();
    assert!(!c.send_all().is_empty());
    let cwnd = c.tcb.cwnd();
    let r = c.deliver(seg(Y + 1, Some(end + MSS), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::WINDOW_REDUCED);
    let alpha = c.tcb.dctcp_alpha().unwrap();
    let cut = reduced_window(cwnd, alpha, MSS);
    assert_eq!((c.tcb.cwnd(), c.tcb.ssthresh()), (cut, cut));
    // The late D-SACK shows the loss cut spurious: nothing is restored past the echo's cut.
    let r = c.deliver(dsack(end + MSS, (s(0), s(1))), &[]);
    assert!(r.dsack_received && !r.spurious_undone);
    assert_eq!((c.tcb.cwnd(), c.tcb.ssthresh()), (cut, cut));
    assert!(!c.loss.undo_pending());
    c.check();
}

#[test]
fn a_listener_s_first_data_across_sequence_zero_sends_no_stray_old_mark_ack() {
    // The passive side plans its SYN-ACK before it is synchronized, so nothing parks the
    // old-mark ACK's point (`rcv_fin`) at Last.ACK.sent before the first data arrives. With
    // the peer's ISS just below 2^32, that data's range holds sequence number 0, the value
    // `rcv_fin` is created with: no old-mark ACK may be due (nothing changed mark), and the
    // data is acknowledged once, in full.
    let irs = u32::MAX - 0xFF;
    let cfg = config(CongestionControl::Dctcp, EcnMode::On, false);
    let mut s = Host::new(cfg, 4000, 64_000);
    let mut syn = seg(irs, None, SYN | ECE | CWR, WND);
    syn.options = syn_opts(1000);
    s.tcb = Tcb::accept(&s.cfg, s.now, &syn, SeqNum(ISS), &s.rcv).unwrap();
    assert_eq!(
        shape(&s.send_all()),
        [(ISS, irs.wrapping_add(1), SYN | ACK | ECE, 0)]
    );
    let data = irs.wrapping_add(1);
    s.deliver(ack(data, ISS + 1, WND), &[1; 1000]);
    assert_eq!(s.tcb.congestion_control(), CongestionControl::Dctcp);
    s.advance(Duration::from_millis(200));
    assert_eq!(
        shape(&s.send_all()),
        [(ISS + 1, data.wrapping_add(1000), ACK, 0)],
        "one ACK of all the data, none at sequence number 0"
    );
}

#[test]
fn a_window_that_overflows_the_counters_keeps_the_fraction_of_marked_segments() {
    // The window's counters hold at most 1023 segments (`MAX_UNITS`). A window of 1000
    // segments, all acknowledged with ECE, then one ACK without ECE of 500 more: F is
    // 1000 / 1500, not 1000 / 1023 (the unmarked ACK cut short by the counters' cap).
    let cfg = TcbConfig {
        mss: 100,
        ..config(CongestionControl::Dctcp, EcnMode::On, false)
    };
    let mut c = Host::client(cfg, ISS, 200_000, 64_000);
    c.send_one().expect("SYN");
    let mut sa = seg(Y, Some(ISS + 1), SYN | ECE, WND);
    sa.options = syn_opts(100);
    c.deliver(sa, &[]);
    assert_eq!(c.send_all().len(), 1);
    assert_eq!(c.write(&[7; 50_000]), 50_000);
    c.tcb.cwnd = 100_000;
    assert_eq!(c.send_all().len(), 500);
    // 1000 segments counted, all marked, alpha 1 (as a long marked window would leave it).
    let word = ALPHA_ONE | 1000 << 12 | 1000 << 22;
    c.tcb.cubic_w_max = (word >> 16) as u16;
    c.tcb.cubic_origin = word as u16;
    c.check();
    c.deliver(ack(Y + 1, ISS + 1 + 50_000, WND), &[]);
    // (15 * 2048 * 1500 + 2048 * 1000) / (16 * 1500) = 2005 (1000 / 1023 would give 2045).
    assert_eq!(c.tcb.dctcp_alpha(), Some(2005));
}

#[test]
fn an_abort_with_an_old_mark_ack_due_leaves_none_due() {
    // Unmarked data waits for a delayed ACK, then marked data makes the old-mark ACK due
    // (with the ACK after it). The application aborts before the send phase: the closed
    // connection sends neither, so neither may stay due (found by the endpoint fuzzer at
    // 100x scale: "a DCTCP old-mark ACK is due without an ACK due after it").
    let mut c = dctcp_client(0);
    c.deliver(ack(Y + 1, ISS + 1, WND), &[1; 100]);
    c.deliver(seg(Y + 101, Some(ISS + 1), CE, WND), &[2; 100]);
    c.check();
    assert!(
        c.tcb.abort().is_some(),
        "a RST for the established connection"
    );
    assert_eq!(c.tcb.state(), State::Closed);
    c.check();
    assert!(c.send_all().is_empty(), "a closed connection sends nothing");
}
