//! RFC 1191 "fragmentation needed" on the connection (module `icmp`), segment by segment,
//! against the loss machinery it resets: the `prr` tests' SACK client (MSS 1000, a flight of
//! 20 segments, more data waiting).

use super::prr::{MSS, s, sack_client};
use super::*;

/// The peer's ACK: cumulative `cum`, SACK blocks `blocks`.
fn sack_ack(cum: u32, blocks: &[(u32, u32)]) -> TcpHeader {
    let mut h = ack(Y + 1, cum, 60000);
    h.options = sack(blocks);
    h
}

/// A SACK client with `segments` segments of data, whose first 20 are sent, segment 0 lost
/// and 1 to 3 SACKed: in fast recovery, segment 0 retransmitted.
fn fast_recovery(congestion: CongestionControl, segments: usize) -> Host {
    let mut c = sack_client(congestion, None, segments * MSS as usize);
    assert_eq!(c.send_all().len(), 20);
    for k in 1..=3 {
        c.deliver(sack_ack(s(0), &[(s(1), s(k + 1))]), &[]);
        c.send_all();
    }
    assert!(c.tcb.in_recovery());
    c
}

#[test]
fn a_dsack_of_the_go_back_n_resend_does_not_raise_dup_thresh() {
    // Segment 0 is lost, 1 to 19 arrive (SACKed), the fast retransmission of 0 is refused
    // by a router whose next hop has a smaller MTU: frag-needed, and the flight goes again
    // from SND.UNA in 600-byte segments. The receiver had everything but segment 0, so the
    // resend of segment 1's bytes comes back as a D-SACK. That duplicate is our go-back-N's,
    // as after a timeout (which resets what a D-SACK may teach), not the path's reordering:
    // DupThresh stays 3.
    let mut c = fast_recovery(CongestionControl::NewReno, 150);
    assert_eq!(c.tcb.counters().retransmitted_segments, 1);
    c.deliver(sack_ack(s(0), &[(s(1), s(20))]), &[]);
    c.send_all();
    assert!(c.tcb.on_fragmentation_needed(600, &mut c.loss));
    c.check();
    assert!(!c.tcb.in_recovery());
    let resent = c.send_all();
    assert!(resent.len() >= 2, "the flight goes again: {}", resent.len());
    assert_eq!(
        (resent[0].h.seq.0, resent[0].data.len()),
        (s(0), 600),
        "from SND.UNA, at the new size"
    );
    assert_eq!((resent[1].h.seq.0, resent[1].data.len()), (s(0) + 600, 600));
    // The receiver now holds everything up to SND.MAX; the second copy's last 200 bytes
    // were segment 1's, received twice.
    let end = c.tcb.snd_max().0;
    let r = c.deliver(sack_ack(end, &[(s(1), s(1) + 200)]), &[]);
    assert!(r.dsack_received);
    assert_eq!(
        c.tcb.dup_thresh(),
        3,
        "a D-SACK of the go-back-N resend is not reordering"
    );
}

#[test]
fn frag_needed_in_sack_recovery_leaves_the_window_at_ssthresh_as_a_full_ack_would() {
    // PRR paces the SACK recovery with cwnd = pipe + sndcnt, below ssthresh; a full ACK
    // ends it with cwnd = ssthresh (RFC 6675, `cc_on_ack`). frag-needed ends the recovery
    // "as it would at `recover`", without a window cut of its own: the resend starts with
    // the window the recovery would have left, not PRR's momentary one.
    // Segments 0 to 15 are lost, 16 to 19 SACKed: recovery, with a pipe far below ssthresh.
    let mut c = sack_client(CongestionControl::NewReno, None, 150 * MSS as usize);
    assert_eq!(c.send_all().len(), 20);
    c.deliver(sack_ack(s(0), &[(s(16), s(20))]), &[]);
    c.send_all();
    assert!(c.tcb.in_recovery());
    let ssthresh = c.tcb.ssthresh();
    assert_eq!(ssthresh, 10 * MSS);
    assert!(c.tcb.cwnd() < ssthresh, "PRR: {}", c.tcb.cwnd());
    assert!(c.tcb.on_fragmentation_needed(600, &mut c.loss));
    c.check();
    assert!(!c.tcb.in_recovery());
    assert_eq!(c.tcb.ssthresh(), ssthresh, "no cut of its own");
    assert_eq!(c.tcb.cwnd(), ssthresh, "as at the end of recovery");
}

#[test]
fn cubic_s_w_max_keeps_its_bytes_when_the_mss_is_lowered() {
    // CUBIC keeps W_max in segments of the send MSS, cwnd in bytes. frag-needed lowers the
    // MSS without a window cut: cwnd keeps its bytes, and so must W_max (else the curve's
    // plateau falls with the MSS, 20 segments of 1000 bytes read as 20 of 500, far below the
    // window, and the next loss takes the window for one below W_max).
    let mut c = fast_recovery(CongestionControl::Cubic, 150);
    let end = c.tcb.snd_max().0;
    c.deliver(sack_ack(end, &[]), &[]);
    assert!(!c.tcb.in_recovery());
    let smss = c.tcb.payload_mss();
    let w_max = c.tcb.cubic_w_max_bytes(smss);
    assert!(w_max >= u64::from(20 * MSS), "W_max {w_max}");
    c.send_all();
    assert!(c.tcb.on_fragmentation_needed(540, &mut c.loss));
    c.check();
    let smss = c.tcb.payload_mss();
    assert_eq!(smss, 540);
    let after = c.tcb.cubic_w_max_bytes(smss);
    assert!(
        after.abs_diff(w_max) <= u64::from(smss / 2),
        "W_max {w_max} bytes before, {after} after"
    );
}

#[test]
fn frag_needed_forgets_the_undo_record_of_the_episode_before() {
    // A fast retransmission records the window before its cut (module `undo`). The flight
    // was all there was to send, so `recover` (the record's end) is SND.MAX and stays so
    // when frag-needed resends the flight: without forgetting the record, D-SACKs of the
    // resend's repeated bytes could "undo" a cut whose losses were real, restoring CUBIC's
    // W_max in segments of the old MSS.
    let mut c = fast_recovery(CongestionControl::Cubic, 20);
    assert!(c.loss.undo_pending(), "the cut is recorded");
    assert_eq!(c.tcb.snd_max().0, s(20), "no new data: recover is SND.MAX");
    assert!(c.tcb.on_fragmentation_needed(540, &mut c.loss));
    c.check();
    assert!(!c.loss.undo_pending(), "the record is gone");
}
