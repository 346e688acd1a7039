//! The brief's scenarios (numbered as there) and the seed's defects, with exact segments.
//! Notation: our ISS is `ISS`, the peer's is `Y`.

use super::*;
use crate::time::Duration;

const RST: TcpFlags = TcpFlags::RST;
const SYN: TcpFlags = TcpFlags::SYN;
const FIN: TcpFlags = TcpFlags::FIN;
const ACK: TcpFlags = TcpFlags::ACK;
const PSH: TcpFlags = TcpFlags::PSH;

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Asserts the essentials of one segment: seq, ack, flags, window, payload length.
#[track_caller]
fn expect(s: &Seg, seq: u32, ack: u32, flags: TcpFlags, window: u16, len: usize) {
    assert_eq!(
        (s.h.seq, s.h.ack, s.h.flags, s.h.window, s.data.len()),
        (SeqNum(seq), SeqNum(ack), flags, window, len),
        "segment {s:?}"
    );
}

// ---------------------------------------------------------------- 1. closed port

#[test]
fn s01_segment_to_closed_port() {
    let mut syn = seg(100, None, SYN, 1000);
    syn.src_port = 40000;
    syn.dst_port = 80;
    let r = reset_for(&syn, 0).expect("SYN gets a RST");
    assert_eq!(
        (r.seq, r.ack, r.flags, r.src_port, r.dst_port),
        (SeqNum(0), SeqNum(101), RST | ACK, 80, 40000)
    );
    let data_fin = seg(100, None, FIN, 1000);
    assert_eq!(reset_for(&data_fin, 10).map(|r| r.ack), Some(SeqNum(111)));
    let a = ack(100, 777, 1000);
    let r = reset_for(&a, 5).expect("ACK gets a RST");
    assert_eq!((r.seq, r.flags), (SeqNum(777), RST));
    assert_eq!(reset_for(&seg(100, Some(5), RST, 0), 0), None);
    assert_eq!(reset_for(&seg(100, None, RST, 0), 0), None);

    // A CLOSED connection answers exactly the same way.
    let mut h = established(plain(), 1000, 1000, 1000);
    h.tcb.abort();
    let r = h.deliver(a, &[1, 2, 3, 4, 5]);
    assert_eq!(r.reply.map(|r| (r.seq, r.flags)), Some((SeqNum(777), RST)));
    assert_eq!(r.dropped, Some(DropReason::Closed));
    assert_eq!(h.deliver(seg(1, Some(2), RST, 0), &[]).reply, None);
}

// ---------------------------------------------------------------- 2. active open

#[test]
fn s02_active_open_with_options_and_piggybacked_data() {
    let cfg = TcbConfig {
        mss: 1460,
        ..TcbConfig::RFC
    };
    let mut c = Host::client(cfg, ISS, 4096, 200_000);
    let syn = c.send_one().expect("SYN");
    expect(&syn, ISS, 0, SYN, 65535, 0);
    assert_eq!(syn.h.options.mss, Some(1460), "SYN carries our MSS");
    assert_eq!(
        syn.h.options.window_scale,
        Some(2),
        "200000 bytes need shift 2"
    );
    assert!(syn.h.options.sack_permitted);
    let (tsval, tsecr) = syn.h.options.timestamps.expect("timestamps offered");
    assert_eq!(tsecr, 0);
    assert_eq!(c.send_all(), vec![], "one SYN only");

    c.advance(Duration::from_millis(3));
    let mut sa = seg(Y, Some(ISS + 1), SYN, 30000);
    sa.options = TcpOptions {
        mss: Some(1400),
        window_scale: Some(3),
        sack_permitted: true,
        timestamps: Some((777, tsval)),
        ..TcpOptions::default()
    };
    let r = c.deliver(sa, &[]);
    assert!(r.events.contains(Events::ESTABLISHED));
    assert_eq!(c.tcb.state(), State::Established);
    assert_eq!(c.tcb.negotiated(), (true, true, true));
    assert_eq!(c.tcb.window_scales(), (2, 3));
    assert_eq!(c.tcb.snd_wnd(), 30000, "the SYN-ACK's window is not scaled");
    assert_eq!(
        c.tcb.send_mss(),
        1400 - 12,
        "timestamps take 12 bytes of each segment"
    );
    assert_eq!(
        c.tcb.rtt_estimate().0,
        Duration::from_millis(3),
        "SYN timed"
    );

    // The application has data before the first send opportunity: it rides on the ACK.
    c.write(b"hello");
    let out = c.send_all();
    assert_eq!(out.len(), 1, "no separate bare ACK: {out:?}");
    expect(&out[0], ISS + 1, Y + 1, ACK | PSH, (200_000 >> 2) as u16, 5);
    assert_eq!(out[0].data, b"hello");
    assert_eq!(out[0].h.options.timestamps.map(|t| t.1), Some(777));
}

#[test]
fn s02_active_open_without_data_sends_bare_ack() {
    let mut c = Host::client(plain(), ISS, 1000, 3000);
    let syn = c.send_one().unwrap();
    expect(&syn, ISS, 0, SYN, 3000, 0);
    assert_eq!(syn.h.options.mss, Some(1000));
    assert_eq!(
        (
            syn.h.options.window_scale,
            syn.h.options.timestamps,
            syn.h.options.sack_permitted
        ),
        (None, None, false),
        "nothing offered when disabled"
    );
    c.deliver(seg(Y, Some(ISS + 1), SYN, 5000), &[]);
    let out = c.send_all();
    assert_eq!(out.len(), 1);
    expect(&out[0], ISS + 1, Y + 1, ACK, 3000, 0);
    assert_eq!(c.tcb.send_mss(), 536, "no MSS option: 536");
}

#[test]
fn s02_close_in_syn_sent_keeps_written_data_and_sends_it_with_the_fin() {
    // Data written and the connection closed before the SYN-ACK: the data rides on the ACK
    // that completes the handshake, the FIN right after it (deviation 31).
    let mut c = Host::client(plain(), ISS, 1000, 3000);
    let syn = c.send_one().unwrap();
    expect(&syn, ISS, 0, SYN, 3000, 0);
    c.write(b"request");
    c.tcb.close(&c.snd);
    assert_eq!(c.tcb.state(), State::SynSent, "not deleted: data waits");
    assert!(c.tcb.fin_queued());
    c.check();
    assert_eq!(c.send_all(), vec![], "nothing before the SYN-ACK");
    let r = c.deliver(seg(Y, Some(ISS + 1), SYN, 5000), &[]);
    assert!(r.events.contains(Events::ESTABLISHED));
    assert_eq!(c.tcb.state(), State::FinWait1);
    let out = c.send_all();
    assert_eq!(out.len(), 1, "data and FIN in one segment: {out:?}");
    expect(&out[0], ISS + 1, Y + 1, ACK | PSH | FIN, 3000, 7);
    assert_eq!(out[0].data, b"request");
    c.deliver(ack(Y + 1, ISS + 9, 5000), &[]);
    assert_eq!(c.tcb.state(), State::FinWait2);
    c.check();

    // With nothing written, CLOSE in SYN-SENT deletes the connection (RFC 9293).
    let mut c = Host::client(plain(), ISS, 1000, 3000);
    c.send_one().unwrap();
    c.tcb.close(&c.snd);
    assert_eq!(c.tcb.state(), State::Closed);
    assert_eq!(c.tcb.close_reason(), CloseReason::ClosedBeforeOpen);
}

// ---------------------------------------------------------------- 3. SYN retransmission

#[test]
fn s03_syn_retransmitted_with_same_iss_and_backoff() {
    let cfg = plain();
    let mut c = Host::client(cfg, ISS, 1000, 1000);
    let t0 = c.now;
    c.send_one().unwrap();
    let mut expected_at = t0;
    for i in 0..cfg.max_syn_retransmissions {
        expected_at += Duration::from_secs(1 << i);
        assert_eq!(
            c.tcb.next_deadline(),
            Some(expected_at),
            "retransmission {i}"
        );
        c.now = Instant::from_micros(expected_at.micros() - 1);
        assert_eq!(c.send_all(), vec![], "nothing before the RTO");
        c.now = expected_at;
        let s = c.send_all();
        assert_eq!(s.len(), 1);
        expect(&s[0], ISS, 0, SYN, 1000, 0);
    }
    assert_eq!(
        c.tcb.counters().timeouts,
        u32::from(cfg.max_syn_retransmissions)
    );
    c.advance_to_deadline();
    assert_eq!(c.send_all(), vec![]);
    assert_eq!(c.tcb.state(), State::Closed);
    assert_eq!(c.tcb.close_reason(), CloseReason::TimedOut);
}

#[test]
fn s03_lost_syn_means_initial_window_of_one_and_rto_of_three_seconds() {
    let mut c = Host::client(plain(), ISS, 100_000, 1000);
    c.send_one().unwrap();
    c.advance_to_deadline();
    c.send_one().expect("SYN again");
    c.deliver(seg(Y, Some(ISS + 1), SYN, 60000), &[]);
    assert_eq!(c.tcb.cwnd(), 536, "RFC 5681: one segment after a lost SYN");
    assert_eq!(c.tcb.rto(&c.cfg), Duration::from_secs(3), "RFC 6298 5.7");
    c.write(&pattern(5000));
    let out = c.send_all();
    assert_eq!(out.iter().filter(|s| !s.data.is_empty()).count(), 1);
}

// ---------------------------------------------------------------- 4. SYN-SENT checks

#[test]
fn s04_syn_sent_unacceptable_ack_and_rst() {
    let mut c = Host::client(plain(), ISS, 1000, 1000);
    c.send_one().unwrap();
    let mut bad = ack(Y, ISS + 5, 100);
    bad.src_port = 9;
    bad.dst_port = 7;
    let r = c.deliver(bad, &[]);
    let rst = r.reply.expect("RST for a bad ACK");
    assert_eq!(
        (rst.seq, rst.flags, rst.src_port, rst.dst_port),
        (SeqNum(ISS + 5), RST, 7, 9)
    );
    assert_eq!(c.tcb.state(), State::SynSent);
    let r = c.deliver(ack(Y, ISS, 100), &[]);
    assert_eq!(
        r.reply.map(|h| h.seq),
        Some(SeqNum(ISS)),
        "ACK of the ISS itself is bad too"
    );
    // A RST with a bad ACK: no answer, no change.
    let r = c.deliver(seg(Y, Some(ISS + 9), RST, 0), &[]);
    assert_eq!(
        (r.reply, r.dropped),
        (None, Some(DropReason::SynSentBadAck))
    );
    // A RST without ACK: ignored.
    let r = c.deliver(seg(Y, None, RST, 0), &[]);
    assert_eq!(r.dropped, Some(DropReason::SynSentRstNoAck));
    assert_eq!(c.tcb.state(), State::SynSent);
    // A RST acknowledging our SYN: refused.
    let r = c.deliver(seg(0, Some(ISS + 1), RST, 0), &[]);
    assert!(r.events.contains(Events::RESET | Events::CLOSED));
    assert_eq!(c.tcb.close_reason(), CloseReason::Refused);
}

// ---------------------------------------------------------------- 5. simultaneous open

#[test]
fn s05_simultaneous_open() {
    let mut a = Host::client(plain(), ISS, 1000, 2000);
    let mut b = Host::client(plain(), Y, 1000, 3000);
    let syn_a = a.send_one().unwrap();
    let syn_b = b.send_one().unwrap();
    a.deliver_seg(&syn_b);
    b.deliver_seg(&syn_a);
    assert_eq!(
        (a.tcb.state(), b.tcb.state()),
        (State::SynReceived, State::SynReceived)
    );
    let sa_a = a.send_all();
    let sa_b = b.send_all();
    assert_eq!(sa_a.len(), 1);
    expect(&sa_a[0], ISS, Y + 1, SYN | ACK, 2000, 0);
    expect(&sa_b[0], Y, ISS + 1, SYN | ACK, 3000, 0);
    assert!(a.deliver_seg(&sa_b[0]).events.contains(Events::ESTABLISHED));
    assert!(b.deliver_seg(&sa_a[0]).events.contains(Events::ESTABLISHED));
    // Data flows both ways.
    a.write(b"ping");
    let d = a.send_all();
    expect(&d[0], ISS + 1, Y + 1, ACK | PSH, 2000, 4);
    b.deliver_seg(&d[0]);
    assert_eq!(b.read_all(), b"ping");
}

// ---------------------------------------------------------------- 6. passive open

#[test]
fn s06_passive_open_on_a_listener() {
    let cfg = plain();
    let mut s = Host::new(cfg, 1000, 4000);
    let r = s.deliver(ack(Y, 777, 100), &[]);
    assert_eq!(
        r.reply.map(|h| (h.seq, h.flags)),
        Some((SeqNum(777), RST)),
        "ACK to a listener"
    );
    let r = s.deliver(seg(Y, None, RST, 0), &[]);
    assert_eq!((r.reply, r.dropped), (None, Some(DropReason::ListenRst)));
    let r = s.deliver(seg(Y, None, TcpFlags::NONE, 0), &[]);
    assert_eq!((r.reply, r.dropped), (None, Some(DropReason::ListenNoSyn)));
    assert_eq!(s.tcb.state(), State::Listen);

    let mut syn = seg(Y, None, SYN, 8000);
    syn.options = syn_opts(536);
    let r = s.deliver(syn, &[]);
    assert!(r.events.contains(Events::SYN_TO_LISTENER));
    assert_eq!(
        Tcb::accept(&cfg, s.now, &ack(1, 2, 3), SeqNum(ISS), &s.rcv).err(),
        Some(AcceptError::NotASyn)
    );
    s.tcb = Tcb::accept(&cfg, s.now, &syn, SeqNum(ISS), &s.rcv).unwrap();
    assert_eq!(s.tcb.state(), State::SynReceived);
    let sa = s.send_all();
    assert_eq!(sa.len(), 1);
    expect(&sa[0], ISS, Y + 1, SYN | ACK, 4000, 0);
    assert_eq!(sa[0].h.options.mss, Some(1000));
    // The final ACK carries data.
    let r = s.deliver(ack(Y + 1, ISS + 1, 8000), b"request");
    assert!(r.events.contains(Events::ESTABLISHED | Events::READABLE));
    assert_eq!(s.tcb.snd_wnd(), 8000);
    assert_eq!(s.read_all(), b"request");
}

#[test]
fn s06_syn_ack_echoes_only_what_the_peer_offered() {
    let cfg = TcbConfig::RFC;
    let rcv = RingBuffer::new(vec![0u8; 1 << 20]);
    let mut syn = seg(Y, None, SYN, 8000);
    syn.options = syn_opts(1460);
    let mut t = Tcb::accept(&cfg, Instant::ZERO, &syn, SeqNum(ISS), &rcv).unwrap();
    let snd = RingBuffer::new(vec![0u8; 10]);
    let mut loss = LossState::EMPTY;
    let p = t
        .poll_transmit(&cfg, Instant::ZERO, &snd, &rcv, &mut loss)
        .unwrap();
    let o = p.header.options;
    assert_eq!(
        (o.mss, o.window_scale, o.timestamps, o.sack_permitted),
        (Some(1460), None, None, false)
    );
    assert_eq!(p.header.window, 65535);

    syn.options.window_scale = Some(7);
    syn.options.timestamps = Some((42, 0));
    syn.options.sack_permitted = true;
    let mut t = Tcb::accept(&cfg, Instant::ZERO, &syn, SeqNum(ISS), &rcv).unwrap();
    let p = t
        .poll_transmit(&cfg, Instant::ZERO, &snd, &rcv, &mut loss)
        .unwrap();
    let o = p.header.options;
    assert_eq!(o.window_scale, Some(window_shift(1 << 20)));
    assert_eq!(
        o.timestamps.map(|t| t.1),
        Some(42),
        "TSecr echoes the SYN's TSval"
    );
    assert!(o.sack_permitted);
}

#[test]
fn s06_rst_in_syn_received_returns_to_listen() {
    let cfg = plain();
    let mut s = Host::new(cfg, 1000, 4000);
    let syn = seg(Y, None, SYN, 8000);
    s.tcb = Tcb::accept(&cfg, s.now, &syn, SeqNum(ISS), &s.rcv).unwrap();
    s.send_all();
    let r = s.deliver(seg(Y + 1, None, RST, 0), &[]);
    assert!(r.events.contains(Events::RESET | Events::BACK_TO_LISTEN));
    assert_eq!(s.tcb.state(), State::Listen);
}

#[test]
fn s06_rst_in_syn_received_leaves_no_loss_state_for_the_next_connection() {
    // A D-SACK report (or out-of-order range) of the reset connection must not reach the
    // next one the listening slot accepts.
    let cfg = TcbConfig {
        sack: true,
        ..plain()
    };
    let mut s = Host::new(cfg, 1000, 4000);
    let mut syn = seg(Y, None, SYN, 8000);
    syn.options.sack_permitted = true;
    s.tcb = Tcb::accept(&cfg, s.now, &syn, SeqNum(ISS), &s.rcv).unwrap();
    s.send_all();
    // Payload wholly below RCV.NXT: a duplicate to report.
    s.deliver(ack(Y - 99, ISS + 1, 8000), &[1; 50]);
    assert!(!s.loss.is_empty(), "a D-SACK report is pending");
    let r = s.deliver(seg(Y + 1, None, RST, 0), &[]);
    assert!(r.events.contains(Events::BACK_TO_LISTEN));
    assert!(s.loss.is_empty(), "{:?}", s.loss);
    assert!(!s.tcb.needs_loss_state(&s.loss));
}

#[test]
fn s06_syn_received_repeated_syn_resends_syn_ack_and_bad_ack_gets_rst() {
    let cfg = plain();
    let mut s = Host::new(cfg, 1000, 4000);
    let syn = seg(Y, None, SYN, 8000);
    s.tcb = Tcb::accept(&cfg, s.now, &syn, SeqNum(ISS), &s.rcv).unwrap();
    s.send_all();
    let r = s.deliver(syn, &[]);
    assert_eq!(r.dropped, Some(DropReason::DuplicateSyn));
    let again = s.send_all();
    assert_eq!(again.len(), 1);
    expect(&again[0], ISS, Y + 1, SYN | ACK, 4000, 0);
    let r = s.deliver(ack(Y + 1, ISS + 7, 8000), &[]);
    assert_eq!(
        r.reply.map(|h| (h.seq, h.flags)),
        Some((SeqNum(ISS + 7), RST))
    );
    assert_eq!(s.tcb.state(), State::SynReceived);
    // The SYN-ACK is retransmitted on timeout too.
    s.advance_to_deadline();
    let rtx = s.send_all();
    expect(&rtx[0], ISS, Y + 1, SYN | ACK, 4000, 0);
    assert!(
        s.deliver(ack(Y + 1, ISS + 1, 8000), &[])
            .events
            .contains(Events::ESTABLISHED)
    );
    assert_eq!(
        s.tcb.cwnd(),
        536,
        "one segment (MSS 536: no MSS option) after a lost SYN-ACK"
    );
}

// ---------------------------------------------------------------- 7. RFC 5961 in ESTABLISHED

#[test]
fn s07_established_acceptability_rst_and_syn() {
    let mut c = established(plain(), 1000, 4000, 10000);
    // Out of window with data: ACK and drop.
    let r = c.deliver(ack(Y + 1 + 5000, ISS + 1, 10000), &[0; 10]);
    assert_eq!(r.dropped, Some(DropReason::OutOfWindow));
    let out = c.send_all();
    assert_eq!(out.len(), 1);
    expect(&out[0], ISS + 1, Y + 1, ACK, 4000, 0);
    // Old duplicate: ACK and drop.
    c.deliver(ack(Y - 100, ISS + 1, 10000), &[0; 10]);
    assert_eq!(c.send_all().len(), 1);
    // Out-of-window RST: dropped silently.
    let r = c.deliver(seg(Y + 1 + 5000, None, RST, 0), &[]);
    assert_eq!(r.dropped, Some(DropReason::RstOutOfWindow));
    assert_eq!(c.send_all(), vec![]);
    // In-window inexact RST: challenge ACK.
    let r = c.deliver(seg(Y + 2, None, RST, 0), &[]);
    assert_eq!(r.dropped, Some(DropReason::RstNotExact));
    let out = c.send_all();
    assert_eq!(out.len(), 1);
    expect(&out[0], ISS + 1, Y + 1, ACK, 4000, 0);
    // SYN in the window, and out of it: challenge ACK each.
    for s in [Y + 1, Y + 100_000] {
        let r = c.deliver(seg(s, None, SYN, 100), &[]);
        assert_eq!(r.dropped, Some(DropReason::SynInSynchronized));
        assert_eq!(c.send_all().len(), 1);
    }
    assert_eq!(c.tcb.counters().challenge_acks, 3);
    assert_eq!(c.tcb.state(), State::Established);
    // Exact RST: reset.
    let r = c.deliver(seg(Y + 1, None, RST, 0), &[]);
    assert!(r.events.contains(Events::RESET | Events::CLOSED));
    assert_eq!(c.tcb.close_reason(), CloseReason::Reset);
}

#[test]
fn s07_challenge_acks_are_rate_limited() {
    let mut c = established(plain(), 1000, 4000, 10000);
    let mut acks = 0;
    for _ in 0..25 {
        c.deliver(seg(Y + 2, None, RST, 0), &[]);
        acks += c.send_all().len();
    }
    assert_eq!(acks, usize::from(c.cfg.challenge_ack_limit));
    c.advance(c.cfg.challenge_ack_interval);
    c.deliver(seg(Y + 2, None, RST, 0), &[]);
    assert_eq!(c.send_all().len(), 1, "a new interval refills the budget");
}

// ---------------------------------------------------------------- 8. ACK processing

#[test]
fn s08_ack_below_above_and_advancing() {
    let mut c = established(plain(), 10000, 4000, 10000);
    c.write(&pattern(3000));
    let out = c.send_all();
    assert_eq!(out.len(), 3);
    let r = c.deliver(ack(Y + 1, ISS + 1 + 5000, 10000), &[]);
    assert_eq!(r.dropped, Some(DropReason::AckTooNew));
    let a = c.send_all();
    assert_eq!(a.len(), 1);
    expect(&a[0], ISS + 3001, Y + 1, ACK, 4000, 0);
    assert_eq!(c.tcb.snd_una(), SeqNum(ISS + 1));

    let r = c.deliver(ack(Y + 1, ISS + 1001, 10000), &[]);
    assert!(r.events.contains(Events::SEND_SPACE));
    assert_eq!(c.snd.len(), 2000, "acknowledged bytes left the send buffer");
    let r = c.deliver(ack(Y + 1, ISS + 501, 10000), &[]);
    assert_eq!((r.dropped, r.events), (None, Events::default()));
    assert_eq!(c.tcb.snd_una(), SeqNum(ISS + 1001));
    assert_eq!(
        c.tcb.counters().duplicate_acks,
        0,
        "an old ACK is not a duplicate"
    );
    assert_eq!(c.send_all(), vec![]);
}

// ---------------------------------------------------------------- 9. fast retransmit

#[test]
fn s09_fast_retransmit_on_exactly_the_third_duplicate_once() {
    let mut c = established(plain(), 20000, 4000, 60000);
    c.write(&pattern(10000));
    let out = c.send_all();
    assert_eq!(out.len(), 10, "IW10 of 1000-byte segments");
    c.deliver(ack(Y + 1, ISS + 1001, 60000), &[]);
    assert_eq!(c.send_all(), vec![]);
    for _ in 0..2 {
        c.deliver(ack(Y + 1, ISS + 1001, 60000), &[]);
        assert_eq!(
            c.send_all(),
            vec![],
            "no retransmission before the third duplicate"
        );
    }
    // A window update with the same ACK is not a duplicate.
    c.deliver(ack(Y + 1, ISS + 1001, 50000), &[]);
    assert_eq!(c.tcb.counters().duplicate_acks, 2);
    assert_eq!(c.send_all(), vec![]);
    // The third duplicate.
    c.deliver(ack(Y + 1, ISS + 1001, 50000), &[]);
    let rtx = c.send_all();
    assert_eq!(rtx.len(), 1);
    expect(&rtx[0], ISS + 1001, Y + 1, ACK, 4000, 1000);
    assert_eq!(rtx[0].data, pattern(10000)[1000..2000]);
    assert_eq!(
        c.tcb.ssthresh(),
        4500,
        "max(FlightSize / 2, 2 * SMSS) with FlightSize 9000"
    );
    assert_eq!(c.tcb.cwnd(), 4500 + 3000);
    assert!(c.tcb.in_recovery());
    for _ in 0..5 {
        c.deliver(ack(Y + 1, ISS + 1001, 50000), &[]);
        assert_eq!(c.send_all(), vec![], "fast retransmit happens once");
    }
    assert_eq!(c.tcb.counters().fast_retransmits, 1);
    assert_eq!(c.tcb.counters().retransmitted_segments, 1);
    // Partial ACK: the next hole goes at once, recovery continues.
    c.deliver(ack(Y + 1, ISS + 3001, 50000), &[]);
    let p = c.send_all();
    assert_eq!(p.len(), 1);
    expect(&p[0], ISS + 3001, Y + 1, ACK, 4000, 1000);
    assert!(c.tcb.in_recovery());
    // Full ACK: recovery ends, cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
    c.deliver(ack(Y + 1, ISS + 10001, 50000), &[]);
    assert!(!c.tcb.in_recovery());
    assert_eq!(c.tcb.cwnd(), 2000);
    assert_eq!(c.tcb.counters().timeouts, 0, "NewReno repaired both holes");
}

#[test]
fn s09_limited_transmit_sends_new_data_on_first_two_duplicates() {
    let mut c = established(plain(), 20000, 4000, 60000);
    c.write(&pattern(12000));
    assert_eq!(c.send_all().len(), 10);
    for i in 0..2u32 {
        c.deliver(ack(Y + 1, ISS + 1, 60000), &[]);
        let out = c.send_all();
        assert_eq!(out.len(), 1, "duplicate {i}");
        expect(
            &out[0],
            ISS + 10001 + 1000 * i,
            Y + 1,
            ACK | if i == 1 { PSH } else { TcpFlags::NONE },
            4000,
            1000,
        );
    }
    c.deliver(ack(Y + 1, ISS + 1, 60000), &[]);
    let out = c.send_all();
    expect(&out[0], ISS + 1, Y + 1, ACK, 4000, 1000);
    assert_eq!(
        c.tcb.ssthresh(),
        6000,
        "FlightSize 12000 includes the limited-transmit segments"
    );
}

// ---------------------------------------------------------------- 10. zero window

#[test]
fn s10_zero_window_probes_and_window_update_resumes() {
    let mut c = established(plain(), 10000, 4000, 2000);
    c.write(&pattern(5000));
    assert_eq!(c.send_all().len(), 2);
    c.deliver(ack(Y + 1, ISS + 2001, 0), &[]);
    assert_eq!(c.send_all(), vec![]);
    let rto = c.tcb.rto(&c.cfg);
    assert_eq!(c.tcb.next_deadline(), Some(c.now + rto), "persist timer");
    c.advance_to_deadline();
    let probe = c.send_all();
    assert_eq!(probe.len(), 1);
    expect(&probe[0], ISS + 2001, Y + 1, ACK, 4000, 1);
    assert_eq!(c.tcb.counters().window_probes, 1);
    // Still closed: the next probe comes after a doubled interval. The answer repeats the
    // ACK and window while the probe byte is out, but it is no duplicate ACK (a few of them
    // would start fast retransmit: see the next test).
    c.deliver(ack(Y + 1, ISS + 2001, 0), &[]);
    assert_eq!(c.tcb.counters().duplicate_acks, 0, "a probe's answer");
    assert_eq!(c.tcb.next_deadline(), Some(c.now + rto.saturating_shl(1)));
    c.advance_to_deadline();
    let probe = c.send_all();
    expect(&probe[0], ISS + 2001, Y + 1, ACK, 4000, 1);
    assert_eq!(
        c.tcb.counters().timeouts,
        0,
        "persist is not a retransmission timeout"
    );
    // A window update with the same ACK resumes sending. The peer dropped the probe byte
    // (its window was closed): it goes again first, so the peer sees no hole.
    c.deliver(ack(Y + 1, ISS + 2001, 3000), &[]);
    let out = c.send_all();
    assert!(!c.tcb.in_recovery());
    assert_eq!(out.first().map(|s| s.h.seq), Some(SeqNum(ISS + 2001)));
    assert_eq!(out.iter().map(|s| s.data.len()).sum::<usize>(), 3000);
    assert_eq!(c.tcb.snd_max(), SeqNum(ISS + 5001));
}

#[test]
fn an_abort_after_a_window_probe_resets_inside_the_closed_window() {
    // The probe byte lies beyond the peer's zero window (it drops it), so an RST at SND.MAX
    // would be one past RCV.NXT: outside a zero window, dropped (RFC 9293 3.10.7.4, RFC 5961
    // 3.2), and the peer would stay ESTABLISHED. The RST carries min(SND.MAX, SND.UNA +
    // SND.WND), as Linux's `tcp_acceptable_seq`, so it lands exactly on RCV.NXT.
    let mut c = established(plain(), 10000, 4000, 2000);
    c.write(&pattern(5000));
    assert_eq!(c.send_all().len(), 2);
    c.deliver(ack(Y + 1, ISS + 2001, 0), &[]);
    c.advance_to_deadline();
    let probe = c.send_all();
    expect(&probe[0], ISS + 2001, Y + 1, ACK, 4000, 1);
    assert_eq!(c.tcb.snd_max(), SeqNum(ISS + 2002), "the probe byte is out");
    let rst = c.tcb.abort().expect("an RST");
    assert_eq!(
        rst.seq,
        SeqNum(ISS + 2001),
        "RCV.NXT of the peer, not SND.MAX"
    );
    assert_eq!(c.tcb.state(), State::Closed);

    // With the window open the RST carries SND.MAX, RFC 9293's SND.NXT, as before.
    let mut c = established(plain(), 10000, 4000, 20000);
    c.write(&pattern(5000));
    let sent: usize = c.send_all().iter().map(|s| s.data.len()).sum();
    assert_eq!(sent, 5000);
    let rst = c.tcb.abort().expect("an RST");
    assert_eq!(rst.seq, SeqNum(ISS + 5001));
}

#[test]
fn answers_to_zero_window_probes_never_start_fast_retransmit() {
    // A receiver whose window stays closed answers each probe with the same ACK and window
    // while the probe byte is out: duplicate ACKs by RFC 5681's letter. Counted as such, the
    // third started fast retransmit and cut ssthresh and cwnd to 2 SMSS, with no congestion.
    for cc in CongestionControl::ALL {
        let mut c = established(plain().with_congestion(cc), 200_000, 4000, 20_000);
        c.write(&pattern(200_000));
        c.tcb.set_ssthresh(8000);
        // Grow the window in a few round trips, every ACK opening the window wider.
        for _ in 0..6 {
            let out = c.send_all();
            for s in &out {
                let end = s.h.seq.0 + s.data.len() as u32;
                c.deliver(ack(Y + 1, end, 20_000), &[]);
            }
        }
        // Everything sent is acknowledged and the window closes.
        let out = c.send_all();
        let una = out
            .last()
            .map_or(c.tcb.snd_una().0, |s| s.h.seq.0 + s.data.len() as u32);
        c.deliver(ack(Y + 1, una, 0), &[]);
        let (cwnd, ssthresh) = (c.tcb.cwnd(), c.tcb.ssthresh());
        assert!(cwnd > 8000, "{cc}: in congestion avoidance, cwnd {cwnd}");
        for n in 0..6 {
            c.advance_to_deadline();
            let probe = c.send_all();
            assert_eq!(probe.len(), 1, "{cc}: probe {n}");
            assert_eq!(probe[0].data.len(), 1, "{cc}: probe {n} carries one byte");
            c.deliver(ack(Y + 1, una, 0), &[]);
        }
        assert_eq!(c.tcb.counters().window_probes, 6);
        assert!(!c.tcb.in_recovery(), "{cc}");
        assert_eq!(c.tcb.counters().fast_retransmits, 0, "{cc}");
        assert_eq!(c.tcb.cwnd(), cwnd, "{cc}: the window is kept");
        assert_eq!(c.tcb.ssthresh(), ssthresh, "{cc}");
        // The window opens: the probe byte first, then a whole cwnd's worth.
        c.deliver(ack(Y + 1, una, 20_000), &[]);
        let out = c.send_all();
        assert_eq!(out.first().map(|s| s.h.seq), Some(SeqNum(una)), "{cc}");
        let sent: usize = out.iter().map(|s| s.data.len()).sum();
        assert_eq!(sent as u32, cwnd.min(20_000), "{cc}");
    }
}

// ---------------------------------------------------------------- 11. RTO

#[test]
fn s11_rto_retransmits_restarts_stops_and_doubles() {
    let mut c = established(plain(), 10000, 4000, 10000);
    c.write(&pattern(3000));
    assert_eq!(c.send_all().len(), 3);
    let rto = c.tcb.rto(&c.cfg);
    let t = c.now;
    assert_eq!(c.tcb.next_deadline(), Some(t + rto));
    // An advancing ACK restarts the timer.
    c.advance(Duration::from_millis(500));
    c.deliver(ack(Y + 1, ISS + 1001, 10000), &[]);
    assert_eq!(c.tcb.next_deadline(), Some(c.now + c.tcb.rto(&c.cfg)));
    let rto = c.tcb.rto(&c.cfg);
    c.advance_to_deadline();
    let r1 = c.send_all();
    assert_eq!(r1.len(), 1, "cwnd is one segment after a timeout");
    expect(&r1[0], ISS + 1001, Y + 1, ACK, 4000, 1000);
    assert_eq!(c.tcb.cwnd(), 1000);
    assert_eq!(c.tcb.ssthresh(), 2000);
    assert_eq!(
        c.tcb.next_deadline(),
        Some(c.now + rto.saturating_shl(1)),
        "doubled"
    );
    c.advance_to_deadline();
    let r2 = c.send_all();
    expect(&r2[0], ISS + 1001, Y + 1, ACK, 4000, 1000);
    assert_eq!(c.tcb.next_deadline(), Some(c.now + rto.saturating_shl(2)));
    assert_eq!(c.tcb.counters().timeouts, 2);
    // Everything acknowledged: the timer stops (once the wait for D-SACKs of the
    // retransmissions, which it bounds, is over).
    c.deliver(ack(Y + 1, ISS + 3001, 10000), &[]);
    c.send_all();
    c.wait_out_undo();
    assert_eq!(c.tcb.next_deadline(), None);
}

#[test]
fn s11_rtt_estimation_sets_the_rto() {
    let cfg = TcbConfig {
        rto_min: Duration::from_micros(100),
        ..plain()
    };
    let mut c = established(cfg, 10000, 4000, 10000);
    c.write(&pattern(1000));
    c.send_all();
    c.advance(Duration::from_millis(10));
    c.deliver(ack(Y + 1, ISS + 1001, 10000), &[]);
    // The SYN took 0 us (sampled as 1 us); then 10 ms: srtt = (7 * 1 + 10000) / 8.
    let (srtt, _) = c.tcb.rtt_estimate();
    let (syn_sample, data_sample) = (1u64, 10_000u64);
    assert_eq!(
        srtt,
        Duration::from_micros((7 * syn_sample + data_sample) / 8)
    );
    assert!(
        c.tcb.rto(&c.cfg) < Duration::from_millis(100),
        "RTO follows the estimate"
    );
}

#[test]
fn s11_gives_up_after_max_retransmissions() {
    let cfg = TcbConfig {
        max_retransmissions: 3,
        ..plain()
    };
    let mut c = established(cfg, 10000, 4000, 10000);
    c.write(b"x");
    c.send_all();
    for _ in 0..3 {
        c.advance_to_deadline();
        assert_eq!(c.send_all().len(), 1);
    }
    c.advance_to_deadline();
    assert_eq!(c.send_all(), vec![]);
    assert_eq!(c.tcb.close_reason(), CloseReason::TimedOut);
}

// ---------------------------------------------------------------- 12. closing

#[test]
fn s12_active_close_through_time_wait() {
    let mut c = established(plain(), 1000, 4000, 10000);
    c.tcb.close(&c.snd);
    assert_eq!(c.tcb.state(), State::FinWait1);
    let fin = c.send_all();
    assert_eq!(fin.len(), 1);
    expect(&fin[0], ISS + 1, Y + 1, ACK | FIN, 4000, 0);
    c.deliver(ack(Y + 1, ISS + 2, 10000), &[]);
    assert_eq!(c.tcb.state(), State::FinWait2);
    // Data still arrives in FIN-WAIT-2.
    let r = c.deliver(ack(Y + 1, ISS + 2, 10000), b"late");
    assert!(r.events.contains(Events::READABLE));
    let r = c.deliver(seg(Y + 5, Some(ISS + 2), FIN, 10000), &[]);
    assert!(r.events.contains(Events::PEER_CLOSED));
    assert_eq!(c.tcb.state(), State::TimeWait);
    let a = c.send_all();
    assert_eq!(a.len(), 1);
    expect(&a[0], ISS + 2, Y + 6, ACK, 4000 - 5, 0);
    // The peer retransmits its FIN: ACK again, 2 * MSL restarts.
    c.advance(Duration::from_secs(30));
    c.deliver(seg(Y + 5, Some(ISS + 2), FIN, 10000), &[]);
    let a = c.send_all();
    assert_eq!(a.len(), 1);
    expect(&a[0], ISS + 2, Y + 6, ACK, 4000 - 5, 0);
    assert_eq!(c.tcb.next_deadline(), Some(c.now + c.cfg.time_wait));
    // RFC 1337: a RST does not end TIME-WAIT.
    c.deliver(seg(Y + 6, None, RST, 0), &[]);
    assert_eq!(c.tcb.state(), State::TimeWait);
    c.advance_to_deadline();
    assert_eq!(c.send_all(), vec![]);
    assert_eq!(
        (c.tcb.state(), c.tcb.close_reason()),
        (State::Closed, CloseReason::Normal)
    );
}

#[test]
fn s12_time_wait_over_before_its_ack_left_still_acks_first() {
    // The send phase runs timers before planning: a TIME-WAIT that is over by then (a short
    // 2 * MSL, or a late poll) must still send the ACK of the peer's FIN before closing.
    let cfg = TcbConfig {
        time_wait: Duration::ZERO,
        ..plain()
    };
    let mut c = established(cfg, 1000, 4000, 10000);
    c.tcb.close(&c.snd);
    c.send_all();
    c.deliver(ack(Y + 1, ISS + 2, 10000), &[]);
    c.deliver(seg(Y + 1, Some(ISS + 2), FIN, 10000), &[]);
    assert_eq!(c.tcb.state(), State::TimeWait);
    let a = c.send_all();
    assert_eq!(a.len(), 1, "the final ACK");
    expect(&a[0], ISS + 2, Y + 2, ACK, 4000 - 1, 0);
    // ... and TIME-WAIT ended right after it.
    assert_eq!(
        (c.tcb.state(), c.tcb.close_reason()),
        (State::Closed, CloseReason::Normal)
    );
}

#[test]
fn s12_simultaneous_close_through_closing() {
    let mut c = established(plain(), 1000, 4000, 10000);
    c.tcb.close(&c.snd);
    c.send_all();
    // The peer's FIN crosses ours: it does not acknowledge our FIN.
    let r = c.deliver(seg(Y + 1, Some(ISS + 1), FIN, 10000), &[]);
    assert_eq!(c.tcb.state(), State::Closing);
    assert!(r.events.contains(Events::PEER_CLOSED) && !r.events.contains(Events::TIME_WAIT));
    let a = c.send_all();
    expect(&a[0], ISS + 2, Y + 2, ACK, 3999, 0);
    // The ACK of our FIN ends it: the application hears of it (to take its buffers back).
    let r = c.deliver(ack(Y + 2, ISS + 2, 10000), &[]);
    assert_eq!(c.tcb.state(), State::TimeWait);
    assert_eq!(r.events, Events::TIME_WAIT);
}

#[test]
fn s12_time_wait_is_announced_from_fin_wait_1_and_2() {
    // FIN-WAIT-2: the peer's FIN.
    let mut c = established(plain(), 1000, 4000, 10000);
    c.tcb.close(&c.snd);
    c.send_all();
    c.deliver(ack(Y + 1, ISS + 2, 10000), &[]);
    assert_eq!(c.tcb.state(), State::FinWait2);
    let r = c.deliver(seg(Y + 1, Some(ISS + 2), FIN, 10000), &[]);
    assert_eq!(c.tcb.state(), State::TimeWait);
    assert!(r.events.contains(Events::PEER_CLOSED | Events::TIME_WAIT));
    // FIN-WAIT-1: one segment acknowledges our FIN and carries the peer's.
    let mut c = established(plain(), 1000, 4000, 10000);
    c.tcb.close(&c.snd);
    c.send_all();
    let r = c.deliver(seg(Y + 1, Some(ISS + 2), FIN, 10000), &[]);
    assert_eq!(c.tcb.state(), State::TimeWait);
    assert!(r.events.contains(Events::PEER_CLOSED | Events::TIME_WAIT));
}

#[test]
fn s12_passive_close_through_close_wait_and_last_ack() {
    let mut c = established(plain(), 1000, 4000, 10000);
    c.deliver(seg(Y + 1, Some(ISS + 1), FIN, 10000), b"bye");
    assert_eq!(c.tcb.state(), State::CloseWait);
    let a = c.send_all();
    // The FIN takes a sequence number but no buffer space; the right edge stays put.
    expect(&a[0], ISS + 1, Y + 5, ACK, 4000 - 4, 0);
    // We still send in CLOSE-WAIT, and ACKs are processed.
    c.write(b"reply");
    let d = c.send_all();
    expect(&d[0], ISS + 1, Y + 5, ACK | PSH, 4000 - 4, 5);
    c.deliver(ack(Y + 5, ISS + 6, 10000), &[]);
    assert_eq!(c.snd.len(), 0);
    c.tcb.close(&c.snd);
    assert_eq!(c.tcb.state(), State::LastAck);
    let f = c.send_all();
    expect(&f[0], ISS + 6, Y + 5, ACK | FIN, 4000 - 4, 0);
    let r = c.deliver(ack(Y + 5, ISS + 7, 10000), &[]);
    assert!(r.events.contains(Events::CLOSED));
    assert_eq!(c.tcb.close_reason(), CloseReason::Normal);
}

// ---------------------------------------------------------------- 13. FIN on retransmission

#[test]
fn s13_retransmitted_final_segment_carries_fin() {
    let mut c = established(plain(), 1000, 4000, 10000);
    c.write(&pattern(500));
    c.tcb.close(&c.snd);
    let s = c.send_all();
    assert_eq!(s.len(), 1);
    expect(&s[0], ISS + 1, Y + 1, ACK | PSH | FIN, 4000, 500);
    c.advance_to_deadline();
    let r = c.send_all();
    assert_eq!(r.len(), 1);
    expect(&r[0], ISS + 1, Y + 1, ACK | PSH | FIN, 4000, 500);
    // Data acknowledged but not the FIN: the FIN alone is retransmitted.
    c.deliver(ack(Y + 1, ISS + 501, 10000), &[]);
    c.advance_to_deadline();
    let r = c.send_all();
    expect(&r[0], ISS + 501, Y + 1, ACK | FIN, 4000, 0);
}

// ---------------------------------------------------------------- 14. reassembly

#[test]
fn s14_reassembly_and_fin_beyond_a_hole() {
    let cfg = TcbConfig {
        sack: true,
        ..plain()
    };
    let mut c = Host::client(cfg, ISS, 1000, 10000);
    c.send_one();
    let mut sa = seg(Y, Some(ISS + 1), SYN, 10000);
    sa.options.sack_permitted = true;
    c.deliver(sa, &[]);
    c.send_all();
    let data = pattern(3500);
    c.deliver(ack(Y + 1001, ISS + 1, 10000), &data[1000..2000]);
    let a = c.send_all();
    assert_eq!(a.len(), 1, "out-of-order data is acknowledged at once");
    expect(&a[0], ISS + 1, Y + 1, ACK, 10000, 0);
    assert_eq!(
        a[0].h.options.sacks(),
        sack(&[(Y + 1001, Y + 2001)]).sacks()
    );
    assert_eq!(c.rcv.len(), 0);
    // The last piece with FIN, beyond the hole: not acted on.
    c.deliver(seg(Y + 3001, Some(ISS + 1), FIN, 10000), &data[3000..]);
    assert_eq!(c.tcb.state(), State::Established);
    let a = c.send_all();
    assert_eq!(a[0].h.ack, SeqNum(Y + 1));
    assert_eq!(
        a[0].h.options.sacks(),
        sack(&[(Y + 3001, Y + 3501), (Y + 1001, Y + 2001)]).sacks(),
        "most recent block first"
    );
    // Filling the first hole jumps the ACK over the stored range, at once.
    c.deliver(ack(Y + 1, ISS + 1, 10000), &data[..1000]);
    let a = c.send_all();
    assert_eq!(a.len(), 1);
    expect(&a[0], ISS + 1, Y + 2001, ACK, 8000, 0);
    // The last hole: the FIN is consumed too.
    let r = c.deliver(ack(Y + 2001, ISS + 1, 10000), &data[2000..3000]);
    assert!(r.events.contains(Events::PEER_CLOSED));
    assert_eq!(c.tcb.state(), State::CloseWait);
    let a = c.send_all();
    expect(&a[0], ISS + 1, Y + 3502, ACK, 6499, 0);
    assert_eq!(c.read_all(), data);
}

#[test]
fn s14_reassembly_is_bounded() {
    let mut c = established(plain(), 1000, 20000, 10000);
    for i in 0..reasm::MAX_OOO_RANGES as u32 {
        let r = c.deliver(ack(Y + 1 + 2000 * (i + 1), ISS + 1, 10000), &[1; 100]);
        assert_eq!(r.dropped, None);
    }
    let r = c.deliver(ack(Y + 1 + 2000 * 9, ISS + 1, 10000), &[1; 100]);
    assert_eq!(r.dropped, Some(DropReason::ReassemblyFull));
    // RFC 5681 4.2: every out-of-order segment gets its own immediate (duplicate) ACK, the
    // dropped one included.
    let acks = c.send_all();
    assert_eq!(
        acks.len(),
        reasm::MAX_OOO_RANGES + 1,
        "one ACK per out-of-order segment, still acknowledged when dropped"
    );
    for a in &acks {
        expect(a, ISS + 1, Y + 1, ACK, 20000, 0);
    }
}

// ---------------------------------------------------------------- 18. neighbour miss

#[test]
fn s18_unsent_plan_is_planned_again_not_lost_until_the_rto() {
    let mut c = Host::client(plain(), ISS, 1000, 1000);
    let p1 = c
        .tcb
        .poll_transmit(&c.cfg, c.now, &c.snd, &c.rcv, &mut c.loss)
        .expect("SYN planned");
    // Neighbour miss: the frame is not sent, nothing is committed.
    assert_eq!(c.tcb.snd_nxt(), SeqNum(ISS));
    assert_eq!(
        c.tcb.next_deadline(),
        None,
        "no RTO armed for a segment that never left"
    );
    c.advance(Duration::from_millis(2));
    let p2 = c
        .tcb
        .poll_transmit(&c.cfg, c.now, &c.snd, &c.rcv, &mut c.loss)
        .expect("SYN planned again");
    assert_eq!(
        (p1.header.seq, p1.header.flags),
        (p2.header.seq, p2.header.flags)
    );
    c.tcb.commit(&c.cfg, c.now, &p2, &mut c.loss).unwrap();
    assert_eq!(c.tcb.next_deadline(), Some(c.now + Duration::from_secs(1)));

    // The same for data.
    let mut c = established(plain(), 1000, 1000, 1000);
    c.write(b"abc");
    let p = c
        .tcb
        .poll_transmit(&c.cfg, c.now, &c.snd, &c.rcv, &mut c.loss)
        .unwrap();
    assert_eq!(p.payload_len, 3);
    let again = c
        .tcb
        .poll_transmit(&c.cfg, c.now, &c.snd, &c.rcv, &mut c.loss)
        .unwrap();
    assert_eq!(p, again);
    assert_eq!(c.tcb.snd_nxt(), SeqNum(ISS + 1));
}

#[test]
fn stale_plan_is_refused() {
    let mut c = established(plain(), 1000, 1000, 1000);
    c.write(b"abc");
    let p = c
        .tcb
        .poll_transmit(&c.cfg, c.now, &c.snd, &c.rcv, &mut c.loss)
        .unwrap();
    c.deliver(ack(Y + 1, ISS + 1, 1000), b"xyz");
    assert_eq!(c.tcb.commit(&c.cfg, c.now, &p, &mut c.loss), Err(StalePlan));
}

// ---------------------------------------------------------------- delayed ACK and Nagle

#[test]
fn delayed_ack_every_second_segment_and_timer() {
    let mut c = established(plain(), 1000, 10000, 10000);
    c.deliver(ack(Y + 1, ISS + 1, 10000), &[0; 1000]);
    assert_eq!(c.send_all(), vec![], "one segment: ACK delayed");
    assert_eq!(
        c.tcb.next_deadline(),
        Some(c.now + Duration::from_millis(40))
    );
    c.deliver(ack(Y + 1001, ISS + 1, 10000), &[0; 1000]);
    let a = c.send_all();
    assert_eq!(a.len(), 1, "second full segment: ACK now");
    assert_eq!(a[0].h.ack, SeqNum(Y + 2001));
    c.deliver(ack(Y + 2001, ISS + 1, 10000), &[0; 10]);
    assert_eq!(c.send_all(), vec![]);
    c.advance(Duration::from_millis(39));
    assert_eq!(c.send_all(), vec![]);
    c.advance(Duration::from_millis(1));
    let a = c.send_all();
    assert_eq!(a.len(), 1, "the delayed-ACK timer fires");
    assert_eq!(a[0].h.ack, SeqNum(Y + 2011));
    // Without delayed ACKs every segment is acknowledged.
    let mut c = established(
        TcbConfig {
            delayed_ack: None,
            ..plain()
        },
        1000,
        10000,
        10000,
    );
    c.deliver(ack(Y + 1, ISS + 1, 10000), &[0; 1000]);
    assert_eq!(c.send_all().len(), 1);
}

#[test]
fn nagle_minshall_holds_only_behind_a_small_segment() {
    let mut c = established(plain(), 10000, 4000, 10000);
    c.write(&pattern(2500));
    let out = c.send_all();
    assert_eq!(
        out.iter().map(|s| s.data.len()).collect::<Vec<_>>(),
        vec![1000, 1000, 500],
        "the tail is not held"
    );
    c.write(b"more");
    assert_eq!(
        c.send_all(),
        vec![],
        "held: the 500-byte segment is unacknowledged"
    );
    c.deliver(ack(Y + 1, ISS + 2001, 10000), &[]);
    assert_eq!(c.send_all(), vec![], "still held");
    c.deliver(ack(Y + 1, ISS + 2501, 10000), &[]);
    let out = c.send_all();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].data, b"more");
    // Nagle off: small segments go at once.
    let mut c = established(
        TcbConfig {
            nagle: false,
            ..plain()
        },
        10000,
        4000,
        10000,
    );
    c.write(b"a");
    c.send_all();
    c.write(b"b");
    assert_eq!(c.send_all().len(), 1);
}

#[test]
fn congestion_window_limits_sending() {
    // Seed defect: cwnd computed but never applied.
    let mut c = established(plain(), 100_000, 4000, 65535);
    c.write(&pattern(50_000));
    let out = c.send_all();
    assert_eq!(
        out.iter().map(|s| s.data.len()).sum::<usize>(),
        10_000,
        "IW10"
    );
    c.deliver(ack(Y + 1, ISS + 2001, 65535), &[]);
    // Slow start: cwnd 10000 + 2000 (L = 2 SMSS); flight 8000 -> 4 more segments.
    assert_eq!(c.send_all().len(), 4);
}

#[test]
fn receiver_window_update_after_the_application_reads() {
    let mut c = established(plain(), 1000, 4000, 10000);
    for i in 0..4u32 {
        c.deliver(ack(Y + 1 + 1000 * i, ISS + 1, 10000), &[0; 1000]);
    }
    let a = c.send_all();
    assert_eq!(
        a.last().map(|s| (s.h.ack, s.h.window)),
        Some((SeqNum(Y + 4001), 0))
    );
    let mut buf = [0u8; 500];
    c.rcv.read(&mut buf);
    assert_eq!(
        c.send_all(),
        vec![],
        "500 bytes: below min(buffer / 2, MSS)"
    );
    let mut buf = [0u8; 1500];
    c.rcv.read(&mut buf);
    let a = c.send_all();
    assert_eq!(a.len(), 1, "window update");
    expect(&a[0], ISS + 1, Y + 4001, ACK, 2000, 0);
    // Peer probes the zero window: answered with an ACK, payload dropped.
    let mut c = established(plain(), 1000, 1000, 10000);
    c.deliver(ack(Y + 1, ISS + 1, 10000), &[0; 1000]);
    c.send_all();
    let r = c.deliver(ack(Y + 1001, ISS + 1, 10000), &[9]);
    assert_eq!(r.dropped, Some(DropReason::ZeroWindow));
    let a = c.send_all();
    expect(&a[0], ISS + 1, Y + 1001, ACK, 0, 0);
}

// ---------------------------------------------------------------- timestamps and PAWS

fn established_ts() -> Host {
    let cfg = TcbConfig {
        timestamps: true,
        ..plain()
    };
    let mut c = Host::client(cfg, ISS, 10000, 10000);
    let syn = c.send_one().unwrap();
    let mut sa = seg(Y, Some(ISS + 1), SYN, 10000);
    sa.options.timestamps = Some((100, syn.h.options.timestamps.unwrap().0));
    c.deliver(sa, &[]);
    c.send_all();
    c
}

fn with_ts(mut h: TcpHeader, tsval: u32, tsecr: u32) -> TcpHeader {
    h.options.timestamps = Some((tsval, tsecr));
    h
}

#[test]
fn paws_drops_old_timestamps_and_missing_ones() {
    let mut c = established_ts();
    let r = c.deliver(with_ts(ack(Y + 1, ISS + 1, 10000), 200, 0), &[1; 10]);
    assert_eq!(r.dropped, None);
    c.send_all();
    let r = c.deliver(with_ts(ack(Y + 11, ISS + 1, 10000), 150, 0), &[2; 10]);
    assert_eq!(r.dropped, Some(DropReason::Paws));
    let a = c.send_all();
    assert_eq!(a.len(), 1, "PAWS drops are answered");
    assert_eq!(
        a[0].h.options.timestamps.map(|t| t.1),
        Some(200),
        "TS.Recent echoed"
    );
    let r = c.deliver(ack(Y + 11, ISS + 1, 10000), &[2; 10]);
    assert_eq!(r.dropped, Some(DropReason::MissingTimestamp));
    // A RST without timestamps is still processed (RFC 7323).
    let r = c.deliver(seg(Y + 11, None, RST, 0), &[]);
    assert!(r.events.contains(Events::RESET));
}

#[test]
fn rtt_from_timestamps_after_a_retransmission() {
    let cfg = TcbConfig {
        timestamps: true,
        rto_min: Duration::from_millis(1),
        ..plain()
    };
    let mut c = established_ts();
    c.cfg = cfg;
    c.write(&pattern(100));
    c.send_all();
    c.advance_to_deadline();
    let rtx = c.send_all();
    let tsval = rtx[0].h.options.timestamps.unwrap().0;
    c.advance(Duration::from_millis(7));
    c.deliver(with_ts(ack(Y + 1, ISS + 101, 10000), 300, tsval), &[]);
    // Karn forbids timing the retransmitted segment; the echo gives 7 ms (7 ticks). The SYN
    // sample was 1 us: srtt = (7 * 1 + 7000) / 8, rttvar = (0 + 6999) / 4.
    assert_eq!(
        c.tcb.rtt_estimate(),
        (Duration::from_micros(875), Duration::from_micros(1749))
    );
}

// ---------------------------------------------------------------- keepalive

#[test]
fn keepalive_probes_then_drops() {
    let ka = Keepalive {
        idle: Duration::from_secs(10),
        interval: Duration::from_secs(2),
        probes: 2,
    };
    let mut c = established(
        TcbConfig {
            keepalive: Some(ka),
            ..plain()
        },
        1000,
        1000,
        1000,
    );
    assert_eq!(c.tcb.next_deadline(), Some(c.now + ka.idle));
    c.advance_to_deadline();
    let p = c.send_all();
    assert_eq!(p.len(), 1);
    expect(&p[0], ISS, Y + 1, ACK, 1000, 0);
    // The peer answers: idle again.
    c.deliver(ack(Y + 1, ISS + 1, 1000), &[]);
    assert_eq!(c.tcb.next_deadline(), Some(c.now + ka.idle));
    c.advance_to_deadline();
    assert_eq!(c.send_all().len(), 1);
    c.advance_to_deadline();
    assert_eq!(c.send_all().len(), 1);
    c.advance_to_deadline();
    assert_eq!(c.send_all(), vec![]);
    assert_eq!(c.tcb.close_reason(), CloseReason::KeepaliveTimedOut);
}

// ---------------------------------------------------------------- seed defects

#[test]
fn seed_defect_every_state_answers_every_segment_kind() {
    // The seed crashed on segments in SYN-RECEIVED, CLOSING, TIME-WAIT, CLOSE-WAIT, LAST-ACK.
    let states: [fn() -> Host; 5] = [
        || {
            let cfg = plain();
            let mut s = Host::new(cfg, 1000, 1000);
            s.tcb =
                Tcb::accept(&cfg, s.now, &seg(Y, None, SYN, 1000), SeqNum(ISS), &s.rcv).unwrap();
            s.send_all();
            s
        },
        || {
            let mut c = established(plain(), 1000, 1000, 1000);
            c.tcb.close(&c.snd);
            c.send_all();
            c.deliver(seg(Y + 1, Some(ISS + 1), FIN, 1000), &[]);
            c
        },
        || {
            let mut c = established(plain(), 1000, 1000, 1000);
            c.tcb.close(&c.snd);
            c.send_all();
            c.deliver(seg(Y + 1, Some(ISS + 2), FIN, 1000), &[]);
            c
        },
        || {
            let mut c = established(plain(), 1000, 1000, 1000);
            c.deliver(seg(Y + 1, Some(ISS + 1), FIN, 1000), &[]);
            c
        },
        || {
            let mut c = established(plain(), 1000, 1000, 1000);
            c.deliver(seg(Y + 1, Some(ISS + 1), FIN, 1000), &[]);
            c.tcb.close(&c.snd);
            c.send_all();
            c
        },
    ];
    let expected = [
        State::SynReceived,
        State::Closing,
        State::TimeWait,
        State::CloseWait,
        State::LastAck,
    ];
    for (make, want) in states.iter().zip(expected) {
        for flags in 0u16..64 {
            for (seq, ackn) in [
                (Y + 1, ISS + 1),
                (Y + 2, ISS + 2),
                (Y + 1000, ISS + 50),
                (Y - 5, ISS - 5),
            ] {
                let mut h = make();
                assert_eq!(h.tcb.state(), want);
                let mut s = seg(seq, None, TcpFlags(flags), 500);
                s.ack = SeqNum(ackn);
                h.deliver(s, b"data");
                h.send_all();
                h.advance(Duration::from_secs(1000));
                h.send_all();
            }
        }
    }
}

// ---------------------------------------------------------------- SACK recovery

fn established_sack() -> Host {
    established_sack_buffers(20000, 4000)
}

/// A client with SACK negotiated and the given send and receive buffer sizes.
pub(super) fn established_sack_buffers(snd_cap: usize, rcv_cap: usize) -> Host {
    let cfg = TcbConfig {
        sack: true,
        ..plain()
    };
    let mut c = Host::client(cfg, ISS, snd_cap, rcv_cap);
    c.send_one().unwrap();
    let mut sa = seg(Y, Some(ISS + 1), SYN, 60000);
    sa.options = syn_opts(1000);
    sa.options.sack_permitted = true;
    c.deliver(sa, &[]);
    c.send_all();
    assert_eq!(c.tcb.negotiated(), (false, false, true));
    c
}

fn dup_with_sack(c: &mut Host, blocks: &[(u32, u32)]) -> Vec<Seg> {
    dup_with_sack2(c, ISS + 1, blocks)
}

#[test]
fn sack_recovery_repairs_several_holes_in_one_round_trip() {
    let mut c = established_sack();
    c.write(&pattern(10000));
    assert_eq!(c.send_all().len(), 10);
    // Segments 1 (ISS+1) and 4 (ISS+3001) are lost; the peer SACKs what follows them.
    let s = |k: u32| ISS + 1 + 1000 * k;
    assert_eq!(dup_with_sack(&mut c, &[(s(1), s(2))]), vec![]);
    assert_eq!(dup_with_sack(&mut c, &[(s(1), s(3))]), vec![]);
    // Three SACKed segments above SND.UNA: RFC 6675 IsLost(SND.UNA) holds on this ACK.
    let out = dup_with_sack(&mut c, &[(s(4), s(5)), (s(1), s(3))]);
    assert!(c.tcb.in_recovery());
    assert_eq!(c.tcb.ssthresh(), 5000);
    // PRR (RFC 9937): RecoverFS = 10000 outstanding - 2000 SACKed before this ACK; pipe =
    // 10000 - 3000 SACKed - 1000 lost = 6000 > ssthresh, so this ACK's 1000 delivered bytes
    // allow CEIL(1000 * 5000 / 8000) = 625: cwnd = pipe + 625 (RFC 6675 alone: 5000).
    assert_eq!(c.tcb.cwnd(), 6625);
    assert_eq!(out.len(), 1, "{out:?}");
    expect(&out[0], s(0), Y + 1, ACK, 4000, 1000);
    // More SACKs: segment 4 is now lost as well (three SACKed segments above it) and goes
    // out without waiting for a partial ACK. Then, with no new data to send and pipe
    // (10000 - 6000 SACKed - 2000 lost + 2000 retransmitted = 4000) below cwnd, NextSeg
    // rule 3 resends the first un-SACKed segment above HighRxt: segment 9, the tail.
    let out = dup_with_sack(&mut c, &[(s(4), s(8)), (s(1), s(3))]);
    assert_eq!(
        out.iter().map(|x| x.h.seq).collect::<Vec<_>>(),
        vec![SeqNum(s(3)), SeqNum(s(8))]
    );
    assert_eq!(out[0].data, pattern(10000)[3000..4000]);
    assert_eq!(out[1].data, pattern(10000)[8000..9000]);
    // Nothing is retransmitted twice.
    assert_eq!(
        dup_with_sack(&mut c, &[(s(4), s(10)), (s(1), s(3))]),
        vec![]
    );
    assert_eq!(c.tcb.counters().retransmitted_segments, 3);
    assert_eq!(c.tcb.counters().fast_retransmits, 1);
    // Both holes filled: one cumulative ACK ends recovery.
    c.deliver(ack(Y + 1, s(10), 60000), &[]);
    assert!(!c.tcb.in_recovery());
    assert_eq!(c.tcb.cwnd(), 5000);
    c.wait_out_undo();
    assert_eq!(c.tcb.next_deadline(), None);
    assert_eq!(
        c.tcb.counters().timeouts,
        0,
        "one recovery episode, no timeout"
    );
}

#[test]
fn sack_single_loss_three_duplicates_retransmit_exactly_the_hole_without_rto() {
    let mut c = established_sack();
    c.write(&pattern(10000));
    assert_eq!(c.send_all().len(), 10);
    let s = |k: u32| ISS + 1 + 1000 * k;
    // Segments 0 and 1 arrive; segment 2 is lost.
    c.advance(Duration::from_millis(10));
    c.deliver(ack(Y + 1, s(2), 60000), &[]);
    assert_eq!(c.send_all(), vec![], "no new data to send");
    // The receiver acknowledges each later segment at once, with SACK blocks.
    assert_eq!(dup_with_sack2(&mut c, s(2), &[(s(3), s(4))]), vec![]);
    assert_eq!(dup_with_sack2(&mut c, s(2), &[(s(3), s(5))]), vec![]);
    assert!(!c.tcb.in_recovery());
    let out = dup_with_sack2(&mut c, s(2), &[(s(3), s(6))]);
    assert_eq!(out.len(), 1, "{out:?}");
    expect(&out[0], s(2), Y + 1, ACK, 4000, 1000);
    assert_eq!(out[0].data, pattern(10000)[2000..3000]);
    assert!(c.tcb.in_recovery());
    assert_eq!(c.tcb.ssthresh(), 4000, "FlightSize 8000 / 2");
    // PRR: pipe (8000 - 3000 SACKed - 1000 lost) is at ssthresh already, so the reduction
    // bound allows nothing but the fast retransmission: cwnd = pipe + 1 SMSS.
    assert_eq!(c.tcb.cwnd(), 5000);
    // The fast retransmission has a whole RTO to be acknowledged.
    let rto = c.tcb.rto(&c.cfg);
    assert_eq!(c.tcb.next_deadline(), Some(c.now + rto));
    // Further duplicates: the hole was retransmitted once, everything else is SACKed.
    assert_eq!(dup_with_sack2(&mut c, s(2), &[(s(3), s(10))]), vec![]);
    c.advance(Duration::from_millis(10));
    c.deliver(ack(Y + 1, s(10), 60000), &[]);
    assert!(!c.tcb.in_recovery());
    assert_eq!(c.tcb.cwnd(), 4000, "RFC 6675: cwnd = ssthresh on exit");
    c.wait_out_undo();
    assert_eq!(c.tcb.next_deadline(), None);
    let k = c.tcb.counters();
    assert_eq!(
        (k.fast_retransmits, k.retransmitted_segments, k.timeouts),
        (1, 1, 0)
    );
}

/// A duplicate ACK of `ack` with SACK blocks; what the sender sends in answer.
fn dup_with_sack2(c: &mut Host, ackno: u32, blocks: &[(u32, u32)]) -> Vec<Seg> {
    let mut h = ack(Y + 1, ackno, 60000);
    h.options = sack(blocks);
    c.deliver(h, &[]);
    c.send_all()
}

#[test]
fn sack_recovery_starts_on_a_cumulative_ack_whose_sack_blocks_show_a_loss() {
    // A receiver that acknowledges a whole burst at once sends no pure duplicates: its ACK
    // advances SND.UNA up to the hole and SACKs what lies beyond it. RFC 6675 section 5 starts
    // recovery on it ("regardless of its status as a cumulative acknowledgment").
    let mut c = established_sack();
    c.write(&pattern(10000));
    assert_eq!(c.send_all().len(), 10);
    let s = |k: u32| ISS + 1 + 1000 * k;
    let mut h = ack(Y + 1, s(2), 60000);
    h.options = sack(&[(s(3), s(7))]);
    c.deliver(h, &[]);
    assert!(c.tcb.in_recovery());
    assert_eq!(c.tcb.counters().duplicate_acks, 0, "not a duplicate ACK");
    let out = c.send_all();
    assert_eq!(out.len(), 1, "{out:?}");
    expect(&out[0], s(2), Y + 1, ACK, 4000, 1000);
    // Only two segments SACKed above a hole are not a loss yet (DupThresh = 3).
    let mut c = established_sack();
    c.write(&pattern(10000));
    c.send_all();
    let mut h = ack(Y + 1, s(2), 60000);
    h.options = sack(&[(s(3), s(5))]);
    c.deliver(h, &[]);
    assert!(!c.tcb.in_recovery());
    assert_eq!(c.send_all(), vec![]);
}

#[test]
fn sack_receiver_sends_one_duplicate_ack_with_sack_blocks_per_out_of_order_segment() {
    let mut c = established_sack_buffers(4000, 20000);
    let data = pattern(6000);
    let from = |k: usize| {
        (
            ack(Y + 1 + 1000 * k as u32, ISS + 1, 60000),
            &data[1000 * k..1000 * (k + 1)],
        )
    };
    // One receive burst: segment 0 lost, segments 1 to 3 out of order.
    for k in 1..4 {
        let (h, d) = from(k);
        c.deliver(h, d);
    }
    let acks = c.send_all();
    assert_eq!(acks.len(), 3, "{acks:?}");
    for a in &acks {
        expect(a, ISS + 1, Y + 1, ACK, 20000, 0);
        assert_eq!(a.h.options.sacks(), sack(&[(Y + 1001, Y + 4001)]).sacks());
    }
    // Filling the hole: one ACK at once, no SACK block left.
    let (h, d) = from(0);
    c.deliver(h, d);
    let acks = c.send_all();
    assert_eq!(acks.len(), 1);
    expect(&acks[0], ISS + 1, Y + 4001, ACK, 16000, 0);
    assert_eq!(acks[0].h.options.sack_count, 0);
}

#[test]
fn dsack_reports_a_duplicate_below_rcv_nxt_once() {
    // RFC 2883 section 4: a segment received twice is reported in the first SACK block of the
    // next ACK, and only in that one.
    let mut c = established_sack_buffers(4000, 20000);
    let data = pattern(3000);
    c.deliver(ack(Y + 1, ISS + 1, 60000), &data[..1000]);
    c.deliver(ack(Y + 1001, ISS + 1, 60000), &data[1000..2000]);
    let a = c.send_all();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].h.ack, SeqNum(Y + 2001));
    assert_eq!(a[0].h.options.sack_count, 0);
    // The first segment again (its ACK was lost, the peer retransmitted).
    c.deliver(ack(Y + 1, ISS + 1, 60000), &data[..1000]);
    let a = c.send_all();
    assert_eq!(a.len(), 1, "a duplicate is acknowledged at once");
    assert_eq!(a[0].h.ack, SeqNum(Y + 2001));
    assert_eq!(a[0].h.options.sacks(), sack(&[(Y + 1, Y + 1001)]).sacks());
    // The next ACK reports nothing more.
    c.deliver(ack(Y + 2001, ISS + 1, 60000), &data[2000..3000]);
    c.advance_to_deadline();
    let a = c.send_all();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].h.ack, SeqNum(Y + 3001));
    assert_eq!(a[0].h.options.sack_count, 0, "reported once: {a:?}");
    assert_eq!(c.read_all(), data);
    c.check();
}

#[test]
fn dsack_reports_an_old_copy_paws_drops() {
    // A segment the path held back arrives after its retransmission, whose later timestamp
    // moved TS.Recent on: PAWS drops the old copy (RFC 7323 5.3), and the ACK that answers it
    // reports it as a duplicate (RFC 2883, as Linux does), so the sender learns that its
    // retransmission was spurious.
    let cfg = TcbConfig {
        sack: true,
        timestamps: true,
        ..plain()
    };
    let mut c = Host::client(cfg, ISS, 4000, 20000);
    let syn = c.send_one().unwrap();
    let mut sa = seg(Y, Some(ISS + 1), SYN, 60000);
    sa.options = syn_opts(1000);
    sa.options.sack_permitted = true;
    sa.options.timestamps = Some((100, syn.h.options.timestamps.unwrap().0));
    c.deliver(sa, &[]);
    c.send_all();
    assert_eq!(c.tcb.negotiated(), (false, true, true));
    let data = pattern(2000);
    // The retransmission (TSval 300) arrives first, then the segment after it.
    c.deliver(with_ts(ack(Y + 1, ISS + 1, 60000), 300, 0), &data[..1000]);
    c.deliver(
        with_ts(ack(Y + 1001, ISS + 1, 60000), 301, 0),
        &data[1000..],
    );
    c.advance_to_deadline();
    c.send_all();
    // The original (TSval 200) at last: dropped by PAWS, reported below RCV.NXT.
    let r = c.deliver(with_ts(ack(Y + 1, ISS + 1, 60000), 200, 0), &data[..1000]);
    assert_eq!(r.dropped, Some(DropReason::Paws));
    let a = c.send_all();
    assert_eq!(a.len(), 1, "PAWS drops are answered");
    assert_eq!(a[0].h.ack, SeqNum(Y + 2001));
    assert_eq!(a[0].h.options.sacks(), sack(&[(Y + 1, Y + 1001)]).sacks());
    assert_eq!(c.read_all(), data);
}

#[test]
fn dsack_reports_the_repeated_head_of_a_partly_new_segment() {
    let mut c = established_sack_buffers(4000, 20000);
    let data = pattern(3000);
    c.deliver(ack(Y + 1, ISS + 1, 60000), &data[..2000]);
    c.send_all();
    // 1001..3001: its first 1000 bytes were received before.
    c.deliver(ack(Y + 1001, ISS + 1, 60000), &data[1000..3000]);
    c.advance_to_deadline();
    let a = c.send_all();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].h.ack, SeqNum(Y + 3001));
    assert_eq!(
        a[0].h.options.sacks(),
        sack(&[(Y + 1001, Y + 2001)]).sacks()
    );
    assert_eq!(c.read_all(), data);
}

#[test]
fn dsack_of_an_out_of_order_duplicate_is_followed_by_its_range() {
    let mut c = established_sack_buffers(4000, 20000);
    let data = pattern(4000);
    let s = |k: u32| Y + 1 + 1000 * k;
    // Segment 0 lost; 1 and 2 arrive out of order, then 2 again.
    c.deliver(ack(s(1), ISS + 1, 60000), &data[1000..2000]);
    c.deliver(ack(s(2), ISS + 1, 60000), &data[2000..3000]);
    c.send_all();
    c.deliver(ack(s(2), ISS + 1, 60000), &data[2000..3000]);
    let a = c.send_all();
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].h.ack, SeqNum(s(0)));
    assert_eq!(
        a[0].h.options.sacks(),
        sack(&[(s(2), s(3)), (s(1), s(3))]).sacks(),
        "the D-SACK block, then the range holding it"
    );
    // A new out-of-order segment: plain SACK again.
    c.deliver(ack(s(3), ISS + 1, 60000), &data[3000..4000]);
    let a = c.send_all();
    assert_eq!(a[0].h.options.sacks(), sack(&[(s(1), s(4))]).sacks());
    c.deliver(ack(s(0), ISS + 1, 60000), &data[..1000]);
    c.send_all();
    assert_eq!(c.read_all(), data);
    c.check();
}

#[test]
fn dsack_goes_on_one_wire_segment_of_a_tso_burst() {
    // A super-segment's header is copied onto every wire segment: the D-SACK rides a
    // segment of its own (RFC 2883: one report per duplicate), the rest goes as TSO.
    let cfg = TcbConfig {
        sack: true,
        tso: Some(crate::device::TsoCaps {
            max_payload: 64_000,
            min_mss: 64,
            max_mss: 9000,
        }),
        ..plain()
    };
    let mut c = Host::client(cfg, ISS, 100_000, 20_000);
    c.send_one().unwrap();
    let mut sa = seg(Y, Some(ISS + 1), SYN, 60000);
    sa.options = syn_opts(1000);
    sa.options.sack_permitted = true;
    c.deliver(sa, &[]);
    c.send_all();
    c.deliver(ack(Y + 1, ISS + 1, 60000), &[7; 1000]);
    c.advance_to_deadline();
    c.send_all();
    // The same 1000 bytes again, then the application writes.
    c.deliver(ack(Y + 1, ISS + 1, 60000), &[7; 1000]);
    c.write(&[1; 20_000]);
    let out = c.send_all();
    assert_eq!(out[0].h.options.sacks(), sack(&[(Y + 1, Y + 1001)]).sacks());
    assert_eq!(out[0].tso, None, "the D-SACK rides one segment");
    assert!(out[0].data.len() <= 1000);
    assert!(
        out[1..].iter().all(|s| s.h.options.sack_count == 0),
        "{out:?}"
    );
    assert!(
        out[1..].iter().any(|s| s.tso.is_some()),
        "then TSO as before: {out:?}"
    );
}

#[test]
fn dsack_received_is_recognised() {
    let mut c = established_sack();
    c.write(&pattern(5000));
    assert_eq!(c.send_all().len(), 5);
    let s = |k: u32| ISS + 1 + 1000 * k;
    let with = |c: &mut Host, ack_to: u32, blocks: &[(u32, u32)]| {
        let mut h = ack(Y + 1, ack_to, 60000);
        h.options = sack(blocks);
        c.deliver(h, &[]).dsack_received
    };
    // A plain SACK block above the ACK.
    assert!(!with(&mut c, s(1), &[(s(2), s(3))]));
    // First block at or below the cumulative ACK.
    assert!(with(&mut c, s(1), &[(s(0), s(1))]));
    // First block inside the second.
    assert!(with(&mut c, s(1), &[(s(2), s(3)), (s(2), s(4))]));
    // Two disjoint blocks.
    assert!(!with(&mut c, s(1), &[(s(3), s(4)), (s(2), s(3))]));
    // Without SACK negotiated, SACK blocks mean nothing.
    let mut p = established(plain(), 20000, 4000, 60000);
    p.write(&pattern(3000));
    p.send_all();
    assert!(!with(&mut p, s(1), &[(s(0), s(1))]));
}

#[test]
fn no_dsack_without_sack() {
    let mut c = Host::client(plain(), ISS, 4000, 20000);
    c.send_one();
    c.deliver(seg(Y, Some(ISS + 1), SYN, 60000), &[]);
    c.send_all();
    let data = pattern(1000);
    c.deliver(ack(Y + 1, ISS + 1, 60000), &data);
    c.advance_to_deadline();
    c.send_all();
    c.deliver(ack(Y + 1, ISS + 1, 60000), &data);
    let a = c.send_all();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].h.options.sack_count, 0);
}

#[test]
fn karn_no_rtt_sample_from_new_data_sent_during_recovery() {
    // Its cumulative ACK waits for the holes below it, so it would measure the recovery, not
    // the path (no timestamps here to measure it otherwise).
    let mut c = established_sack();
    c.write(&pattern(20000));
    assert_eq!(c.send_all().len(), 10);
    let s = |k: u32| ISS + 1 + 1000 * k;
    c.advance(Duration::from_millis(10));
    assert_eq!(
        dup_with_sack(&mut c, &[(s(1), s(4))]).len(),
        1,
        "fast retransmit"
    );
    let before = c.tcb.rtt_estimate();
    // Everything above the hole arrived: the pipe (1000) lets new data go.
    let out = dup_with_sack(&mut c, &[(s(1), s(10))]);
    assert!(out.iter().any(|x| x.h.seq == SeqNum(s(10))), "{out:?}");
    c.advance(Duration::from_millis(500));
    c.deliver(ack(Y + 1, c.tcb.snd_max().0, 60000), &[]);
    assert!(!c.tcb.in_recovery());
    assert_eq!(
        c.tcb.rtt_estimate(),
        before,
        "no sample from the recovery's new data"
    );
    assert_eq!(c.tcb.counters().timeouts, 0);
}

#[test]
fn tail_loss_probe_resends_the_last_segment_before_the_rto() {
    let mut c = established_sack();
    c.write(&pattern(3000));
    for _ in 0..3 {
        let (_, note) = c.send_one_noted().expect("three segments");
        assert!(!note.loss_probe, "new data is no probe");
    }
    assert_eq!(c.send_all(), vec![]);
    let s = |k: u32| ISS + 1 + 1000 * k;
    // The first segment is acknowledged after 10 ms; then nothing comes back.
    c.advance(Duration::from_millis(10));
    c.deliver(ack(Y + 1, s(1), 60000), &[]);
    let srtt = c.tcb.rtt_estimate().0;
    assert!(srtt > Duration::ZERO);
    // The probe timeout: two SRTTs but at least a sixteenth of the minimum RTO, well before
    // the RTO (1 s).
    let pto = Duration::from_micros((2 * srtt.micros()).max(c.cfg.rto_min.micros() / 16));
    assert_eq!(pto, Duration::from_micros(62_500));
    assert!(pto < c.tcb.rto(&c.cfg));
    assert_eq!(c.tcb.next_deadline(), Some(c.now + pto));
    c.advance_to_deadline();
    let (seg, note) = c.send_one_noted().expect("the probe");
    assert!(note.loss_probe, "the commit reports the tail loss probe");
    let mut probe = vec![seg];
    probe.extend(c.send_all());
    assert_eq!(probe.len(), 1, "{probe:?}");
    expect(&probe[0], s(2), Y + 1, ACK, 4000, 1000);
    assert_eq!(probe[0].data, pattern(3000)[2000..3000]);
    assert_eq!(c.tcb.counters().timeouts, 0, "a probe is not a timeout");
    // One probe only: the RTO follows.
    let rto = c.tcb.rto(&c.cfg);
    assert_eq!(c.tcb.next_deadline(), Some(c.now + rto));
    // The probe's ACK shows segment 2 (s(1)) missing: the timer still runs, no new probe.
    let mut h = ack(Y + 1, s(1), 60000);
    h.options = sack(&[(s(2), s(3))]);
    c.deliver(h, &[]);
    assert_eq!(c.send_all(), vec![]);
    assert_eq!(c.tcb.next_deadline(), Some(c.now + rto));
    // Everything acknowledged: no deadline (after the wait for the probe's D-SACK), no
    // timeout happened.
    c.deliver(ack(Y + 1, s(3), 60000), &[]);
    c.wait_out_undo();
    assert_eq!(c.tcb.next_deadline(), None);
    let k = c.tcb.counters();
    assert_eq!((k.retransmitted_segments, k.timeouts), (1, 0));
}

#[test]
fn sack_blocks_outside_the_window_are_ignored() {
    let mut c = established_sack();
    c.write(&pattern(3000));
    c.send_all();
    // Blocks below SND.UNA (D-SACK), above SND.MAX and inverted: no recovery, no panic.
    for blocks in [[(ISS - 500, ISS)], [(ISS + 2001, ISS + 9001)]] {
        assert_eq!(dup_with_sack(&mut c, &blocks), vec![]);
        assert!(!c.tcb.in_recovery());
        assert!(c.loss.sb.ranges().is_empty());
    }
    // The third duplicate still is the third duplicate (RFC 5681), invalid blocks or not.
    let out = dup_with_sack(&mut c, &[(ISS + 2001, ISS + 1001)]);
    assert!(c.loss.sb.ranges().is_empty());
    assert_eq!(out.len(), 1);
    expect(&out[0], ISS + 1, Y + 1, ACK, 4000, 1000);
}

// ---------------------------------------------------------------- TSO planning

/// Payload length and TSO MSS of each segment.
fn sizes(out: &[Seg]) -> Vec<(usize, Option<u16>)> {
    out.iter().map(|s| (s.data.len(), s.tso)).collect()
}

#[test]
fn tso_plans_super_segments_bounded_by_cwnd_window_and_device() {
    let tso = crate::device::TsoCaps {
        max_payload: 65536,
        min_mss: 64,
        max_mss: 9000,
    };
    let cfg = TcbConfig {
        tso: Some(tso),
        ..plain()
    };
    let mut c = established(cfg, 200_000, 4000, 65535);
    c.write(&pattern(100_000));
    let out = c.send_all();
    assert_eq!(out.len(), 1, "IW10 fits one super-segment");
    expect(&out[0], ISS + 1, Y + 1, ACK, 4000, 10_000);
    assert_eq!(
        out[0].tso,
        Some(1000),
        "the device segments with the send MSS"
    );
    // cwnd grows to 12000; flight 8000 -> whole segments only, 4000 bytes.
    c.deliver(ack(Y + 1, ISS + 2001, 65535), &[]);
    let out = c.send_all();
    assert_eq!(
        (out.len(), out[0].data.len(), out[0].tso),
        (1, 4000, Some(1000))
    );
    // The peer's window bounds it too: a whole segment fits in 1500 bytes (no TSO MSS for
    // one segment), 500 more bytes are silly-window avoided.
    c.deliver(ack(Y + 1, ISS + 14001, 1500), &[]);
    assert_eq!(sizes(&c.send_all()), vec![(1000, None)]);
    c.deliver(ack(Y + 1, ISS + 15001, 0), &[]);
    c.deliver(ack(Y + 1, ISS + 15001, 3500), &[]);
    assert_eq!(sizes(&c.send_all()), vec![(3000, Some(1000))]);
    // Retransmissions are MSS-sized.
    c.advance_to_deadline();
    assert_eq!(sizes(&c.send_all()), vec![(1000, None)]);
    // A device whose MSS range excludes ours gets plain segments.
    let small = crate::device::TsoCaps {
        max_mss: 900,
        ..tso
    };
    let mut c = established(
        TcbConfig {
            tso: Some(small),
            ..plain()
        },
        200_000,
        4000,
        65535,
    );
    c.write(&pattern(5000));
    assert_eq!(c.send_all().len(), 5);
}
