//! Explicit Congestion Notification (RFC 3168): negotiation in every mode combination, which
//! segments go ECN-capable, the receiver's echo, the sender's reduction. Exact segments, on a
//! simulated clock. Notation as in `scenarios`: our ISS is `ISS`, the peer's `Y`.

use super::*;
use crate::time::Duration;

pub(super) const SYN: TcpFlags = TcpFlags::SYN;
pub(super) const ACK: TcpFlags = TcpFlags::ACK;
pub(super) const PSH: TcpFlags = TcpFlags::PSH;
pub(super) const ECE: TcpFlags = TcpFlags::ECE;
pub(super) const CWR: TcpFlags = TcpFlags::CWR;
pub(super) const CE: TcpFlags = TcpFlags::IP_CE;
const WND: u16 = 30_000;

fn with_ecn(mode: EcnMode) -> TcbConfig {
    TcbConfig {
        ecn: mode,
        ..plain()
    }
}

/// Everything `h` wants to send now, each segment with its plan's `ect`.
fn send_all_ect(h: &mut Host) -> Vec<(Seg, bool)> {
    let mut out = Vec::new();
    while let Some(plan) = h
        .tcb
        .poll_transmit(&h.cfg, h.now, &h.snd, &h.rcv, &mut h.loss)
    {
        let (a, b) = h
            .snd
            .peek(plan.payload_offset as usize, plan.payload_len as usize);
        let data = [a, b].concat();
        h.tcb
            .commit(&h.cfg, h.now, &plan, &mut h.loss)
            .expect("fresh plan commits");
        h.check();
        out.push((
            Seg {
                h: plan.header,
                data,
                tso: plan.tso_mss,
            },
            plan.ect,
        ));
        assert!(out.len() < 10_000, "runaway transmit loop");
    }
    out
}

/// `(seq, ack, flags, payload length, ect)` of each segment.
fn shape(segs: &[(Seg, bool)]) -> Vec<(u32, u32, TcpFlags, usize, bool)> {
    segs.iter()
        .map(|(s, ect)| (s.h.seq.0, s.h.ack.0, s.h.flags, s.data.len(), *ect))
        .collect()
}

/// A client (ISS `ISS`) established with ECN: its SYN asked, the peer's SYN-ACK agreed.
fn ecn_client(snd_cap: usize, rcv_cap: usize) -> Host {
    ecn_client_with(with_ecn(EcnMode::On), snd_cap, rcv_cap)
}

/// [`ecn_client`] under `cfg` (which asks for ECN).
fn ecn_client_with(cfg: TcbConfig, snd_cap: usize, rcv_cap: usize) -> Host {
    let mut c = Host::client(cfg, ISS, snd_cap, rcv_cap);
    let syn = send_all_ect(&mut c);
    assert_eq!(shape(&syn), [(ISS, 0, SYN | ECE | CWR, 0, false)]);
    let mut sa = seg(Y, Some(ISS + 1), SYN | ECE, WND);
    sa.options = syn_opts(cfg.mss);
    let r = c.deliver(sa, &[]);
    assert!(r.events.contains(Events::ESTABLISHED));
    assert_eq!(r.ecn, EcnEvents::NEGOTIATED);
    assert!(c.tcb.ecn_negotiated());
    assert_eq!(
        shape(&send_all_ect(&mut c)),
        [(ISS + 1, Y + 1, ACK, 0, false)]
    );
    c
}

#[test]
fn negotiation_in_every_mode_combination() {
    use EcnMode::{Accept, Off, On};
    for client_mode in [Off, Accept, On] {
        for server_mode in [Off, Accept, On] {
            let what = format!("client {client_mode:?}, server {server_mode:?}");
            let mut c = Host::client(with_ecn(client_mode), ISS, 4000, 4000);
            let mut s = Host::new(with_ecn(server_mode), 4000, 4000);
            let syn = send_all_ect(&mut c);
            let asks = client_mode == On;
            let syn_flags = if asks { SYN | ECE | CWR } else { SYN };
            assert_eq!(shape(&syn), [(ISS, 0, syn_flags, 0, false)], "{what}");

            let r = s.deliver_seg(&syn[0].0);
            assert!(r.events.contains(Events::SYN_TO_LISTENER), "{what}");
            s.tcb = Tcb::accept(&s.cfg, s.now, &syn[0].0.h, SeqNum(Y), &s.rcv).unwrap();
            let agreed = asks && server_mode != Off;
            let sa = send_all_ect(&mut s);
            let sa_flags = if agreed { SYN | ACK | ECE } else { SYN | ACK };
            assert_eq!(shape(&sa), [(Y, ISS + 1, sa_flags, 0, false)], "{what}");

            let r = c.deliver_seg(&sa[0].0);
            assert!(r.events.contains(Events::ESTABLISHED), "{what}");
            let negotiated = if agreed {
                EcnEvents::NEGOTIATED
            } else {
                EcnEvents::default()
            };
            assert_eq!(r.ecn, negotiated, "{what}");
            let a = send_all_ect(&mut c);
            assert_eq!(shape(&a), [(ISS + 1, Y + 1, ACK, 0, false)], "{what}");
            let r = s.deliver_seg(&a[0].0);
            assert!(r.events.contains(Events::ESTABLISHED), "{what}");
            assert_eq!(r.ecn, negotiated, "{what}");
            assert_eq!(
                (c.tcb.ecn_negotiated(), s.tcb.ecn_negotiated()),
                (agreed, agreed),
                "{what}"
            );

            // Data both ways: ECN-capable exactly when negotiated.
            c.write(b"ping");
            let d = send_all_ect(&mut c);
            assert_eq!(
                shape(&d),
                [(ISS + 1, Y + 1, ACK | PSH, 4, agreed)],
                "{what}"
            );
            s.deliver_seg(&d[0].0);
            s.write(b"pong");
            let d = send_all_ect(&mut s);
            assert_eq!(
                shape(&d),
                [(Y + 1, ISS + 5, ACK | PSH, 4, agreed)],
                "{what}"
            );
        }
    }
}

#[test]
fn only_an_ecn_setup_syn_ack_turns_ecn_on() {
    for (flags, on) in [
        (SYN | ECE, true),
        (SYN, false),
        // ECE and CWR together is a reflected SYN, not an ECN-setup SYN-ACK (6.1.1).
        (SYN | ECE | CWR, false),
        (SYN | CWR, false),
    ] {
        let mut c = Host::client(with_ecn(EcnMode::On), ISS, 4000, 4000);
        send_all_ect(&mut c);
        let r = c.deliver(seg(Y, Some(ISS + 1), flags, WND), &[]);
        assert!(r.events.contains(Events::ESTABLISHED));
        assert_eq!(c.tcb.ecn_negotiated(), on, "SYN-ACK {flags:?}");
        assert_eq!(r.ecn.contains(EcnEvents::NEGOTIATED), on);
    }
    // A listener agrees only to ECE and CWR together.
    for (flags, on) in [
        (SYN | ECE | CWR, true),
        (SYN | ECE, false),
        (SYN | CWR, false),
    ] {
        let s = Host::new(with_ecn(EcnMode::Accept), 4000, 4000);
        let t = Tcb::accept(
            &s.cfg,
            s.now,
            &seg(Y, None, flags, WND),
            SeqNum(ISS),
            &s.rcv,
        );
        assert_eq!(t.unwrap().ecn_negotiated(), on, "SYN {flags:?}");
    }
}

#[test]
fn simultaneous_open_negotiates_when_both_syns_ask() {
    let mut a = Host::client(with_ecn(EcnMode::On), ISS, 4000, 4000);
    let mut b = Host::client(with_ecn(EcnMode::On), Y, 4000, 4000);
    let syn_a = send_all_ect(&mut a);
    let syn_b = send_all_ect(&mut b);
    a.deliver_seg(&syn_b[0].0);
    b.deliver_seg(&syn_a[0].0);
    let sa_a = send_all_ect(&mut a);
    assert_eq!(shape(&sa_a), [(ISS, Y + 1, SYN | ACK | ECE, 0, false)]);
    let sa_b = send_all_ect(&mut b);
    assert!(
        a.deliver_seg(&sa_b[0].0)
            .events
            .contains(Events::ESTABLISHED)
    );
    assert!(
        b.deliver_seg(&sa_a[0].0)
            .events
            .contains(Events::ESTABLISHED)
    );
    assert!(a.tcb.ecn_negotiated() && b.tcb.ecn_negotiated());

    // One side not asking: neither uses it.
    let mut a = Host::client(with_ecn(EcnMode::On), ISS, 4000, 4000);
    let mut b = Host::client(with_ecn(EcnMode::Accept), Y, 4000, 4000);
    let syn_a = send_all_ect(&mut a);
    let syn_b = send_all_ect(&mut b);
    a.deliver_seg(&syn_b[0].0);
    b.deliver_seg(&syn_a[0].0);
    let sa_a = send_all_ect(&mut a);
    let sa_b = send_all_ect(&mut b);
    assert_eq!(shape(&sa_a), [(ISS, Y + 1, SYN | ACK, 0, false)]);
    a.deliver_seg(&sa_b[0].0);
    b.deliver_seg(&sa_a[0].0);
    assert!(!a.tcb.ecn_negotiated() && !b.tcb.ecn_negotiated());
}

#[test]
fn a_retransmitted_syn_falls_back_to_a_plain_syn() {
    let mut c = Host::client(with_ecn(EcnMode::On), ISS, 4000, 4000);
    assert_eq!(
        shape(&send_all_ect(&mut c)),
        [(ISS, 0, SYN | ECE | CWR, 0, false)]
    );
    c.advance_to_deadline();
    assert_eq!(shape(&send_all_ect(&mut c)), [(ISS, 0, SYN, 0, false)]);
    // The peer answers the plain SYN with a plain SYN-ACK: no ECN.
    c.deliver(seg(Y, Some(ISS + 1), SYN, WND), &[]);
    assert!(!c.tcb.ecn_negotiated());

    // A SYN-ACK retransmitted by a listener that agreed keeps ECE.
    let mut s = Host::new(with_ecn(EcnMode::Accept), 4000, 4000);
    let syn = seg(Y, None, SYN | ECE | CWR, WND);
    s.tcb = Tcb::accept(&s.cfg, s.now, &syn, SeqNum(ISS), &s.rcv).unwrap();
    assert_eq!(
        shape(&send_all_ect(&mut s)),
        [(ISS, Y + 1, SYN | ACK | ECE, 0, false)]
    );
    s.advance_to_deadline();
    assert_eq!(
        shape(&send_all_ect(&mut s)),
        [(ISS, Y + 1, SYN | ACK | ECE, 0, false)]
    );
}

#[test]
fn only_new_data_is_ecn_capable() {
    let mut c = ecn_client(100_000, 4000);
    let data: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
    c.write(&data);
    let first = send_all_ect(&mut c);
    assert_eq!(
        shape(&first),
        [
            (ISS + 1, Y + 1, ACK, 1000, true),
            (ISS + 1001, Y + 1, ACK, 1000, true),
            (ISS + 2001, Y + 1, ACK | PSH, 500, true),
        ]
    );
    // Retransmission after a timeout: not ECN-capable (6.1.5).
    c.advance_to_deadline();
    let rtx = send_all_ect(&mut c);
    assert_eq!(shape(&rtx), [(ISS + 1, Y + 1, ACK, 1000, false)]);
    assert_eq!(c.tcb.counters().retransmitted_segments, 1);
    // A pure ACK (for the peer's data) is not ECN-capable.
    c.deliver(ack(Y + 1, ISS + 2501, 0), b"x");
    c.advance(Duration::from_millis(40));
    let a = send_all_ect(&mut c);
    assert_eq!(shape(&a), [(ISS + 2501, Y + 2, ACK, 0, false)]);
    // A zero-window probe is not.
    c.write(b"more");
    assert!(send_all_ect(&mut c).is_empty(), "the window is closed");
    c.advance_to_deadline();
    let probe = send_all_ect(&mut c);
    assert_eq!(shape(&probe), [(ISS + 2501, Y + 2, ACK, 1, false)]);
    assert_eq!(c.tcb.counters().window_probes, 1);
    // The rest once the window opens: new data again, ECN-capable, and the first new data
    // since the timeout reduced the window carries CWR; the FIN alone is not ECN-capable.
    c.deliver(ack(Y + 2, ISS + 2502, 1000), &[]);
    let rest = send_all_ect(&mut c);
    assert_eq!(
        shape(&rest),
        [(ISS + 2502, Y + 2, ACK | PSH | CWR, 3, true)]
    );
    c.deliver(ack(Y + 2, ISS + 2505, 1000), &[]);
    c.tcb.close(&c.snd);
    let fin = send_all_ect(&mut c);
    assert_eq!(
        shape(&fin),
        [(ISS + 2505, Y + 2, ACK | TcpFlags::FIN, 0, false)]
    );
    // An abort's RST is a bare header; the endpoint sends it not ECN-capable.
    assert!(c.tcb.abort().is_some());
}

#[test]
fn a_tail_loss_probe_that_reduces_the_window_announces_it_with_cwr() {
    let cfg = TcbConfig {
        sack: true,
        ..with_ecn(EcnMode::On)
    };
    let mut c = Host::client(cfg, ISS, 100_000, 4000);
    send_all_ect(&mut c);
    let mut sa = seg(Y, Some(ISS + 1), SYN | ECE, WND);
    sa.options = syn_opts(cfg.mss);
    sa.options.sack_permitted = true;
    c.deliver(sa, &[]);
    assert!(c.tcb.ecn_negotiated());
    send_all_ect(&mut c);
    c.write(&[7; 3000]);
    assert_eq!(send_all_ect(&mut c).len(), 3);
    c.advance(Duration::from_millis(10));
    c.deliver(ack(Y + 1, ISS + 1001, WND), &[]);
    // Nothing more comes back: the probe timeout resends the last segment (not ECN-capable)
    // and reduces the window as for a loss (deviation 20).
    c.advance_to_deadline();
    let probe = send_all_ect(&mut c);
    assert_eq!(probe.len(), 1, "{probe:?}");
    assert_eq!((probe[0].0.h.seq.0, probe[0].1), (ISS + 2001, false));
    assert!(!probe[0].0.h.flags.intersects(CWR));
    assert_eq!(c.tcb.counters().timeouts, 0, "a probe, not a timeout");
    // The probe's ACK covers everything; the next new data announces the reduction.
    c.deliver(ack(Y + 1, ISS + 3001, WND), &[]);
    c.write(&[8; 1000]);
    let out = send_all_ect(&mut c);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].0.h.seq.0, out[0].1), (ISS + 3001, true));
    assert!(out[0].0.h.flags.intersects(CWR), "{out:?}");
}

#[test]
fn keepalive_probes_are_not_ecn_capable() {
    let cfg = TcbConfig {
        keepalive: Some(Keepalive {
            idle: Duration::from_secs(10),
            interval: Duration::from_secs(1),
            probes: 3,
        }),
        ..with_ecn(EcnMode::On)
    };
    let mut c = Host::client(cfg, ISS, 4000, 4000);
    send_all_ect(&mut c);
    c.deliver(seg(Y, Some(ISS + 1), SYN | ECE, WND), &[]);
    send_all_ect(&mut c);
    c.advance_to_deadline();
    let ka = send_all_ect(&mut c);
    assert_eq!(shape(&ka), [(ISS, Y + 1, ACK, 0, false)]);
}

#[test]
fn a_ce_mark_is_echoed_at_once_and_until_cwr() {
    let mut c = ecn_client(4000, 64_000);
    // Unmarked in-order data: the ACK is delayed.
    c.deliver(ack(Y + 1, ISS + 1, WND), &[1; 100]);
    assert!(send_all_ect(&mut c).is_empty(), "ACK delayed");
    // A CE-marked segment: echoed at once, with ECE.
    let r = c.deliver(seg(Y + 101, Some(ISS + 1), CE, WND), &[2; 100]);
    assert_eq!(r.ecn, EcnEvents::CE_RECEIVED);
    assert!(c.tcb.ecn_echo_pending());
    assert_eq!(
        shape(&send_all_ect(&mut c)),
        [(ISS + 1, Y + 201, ACK | ECE, 0, false)]
    );
    // Unmarked data: its (delayed) ACK still carries ECE, and so does our data.
    c.deliver(ack(Y + 201, ISS + 1, WND), &[3; 100]);
    assert!(send_all_ect(&mut c).is_empty(), "ACK delayed");
    c.advance(Duration::from_millis(40));
    assert_eq!(
        shape(&send_all_ect(&mut c)),
        [(ISS + 1, Y + 301, ACK | ECE, 0, false)]
    );
    c.write(b"reply");
    assert_eq!(
        shape(&send_all_ect(&mut c)),
        [(ISS + 1, Y + 301, ACK | PSH | ECE, 5, true)]
    );
    // A second mark in the same episode: counted, ACK delayed as usual (Linux too).
    let r = c.deliver(seg(Y + 301, Some(ISS + 6), CE, WND), &[4; 100]);
    assert_eq!(r.ecn, EcnEvents::CE_RECEIVED);
    assert!(send_all_ect(&mut c).is_empty(), "ACK delayed");
    // CWR ends the echo; its data is acknowledged at once, without ECE.
    let r = c.deliver(seg(Y + 401, Some(ISS + 6), CWR, WND), &[5; 100]);
    assert_eq!(r.ecn, EcnEvents::default());
    assert!(!c.tcb.ecn_echo_pending());
    assert_eq!(
        shape(&send_all_ect(&mut c)),
        [(ISS + 6, Y + 501, ACK, 0, false)]
    );
    // A CWR segment that is itself marked starts a new echo.
    c.deliver(seg(Y + 501, Some(ISS + 6), CE | CWR, WND), &[6; 100]);
    assert_eq!(
        shape(&send_all_ect(&mut c)),
        [(ISS + 6, Y + 601, ACK | ECE, 0, false)]
    );
    assert_eq!(c.read_all().len(), 600);
}

#[test]
fn header_prediction_leaves_a_ce_mark_to_the_state_machine() {
    let mut c = ecn_client(4000, 64_000);
    let marked = seg(Y + 1, Some(ISS + 1), CE, WND);
    let mut twin = (c.tcb.clone(), c.rcv.clone());
    let predicted =
        twin.0
            .on_segment_predicted(&c.cfg, c.now, &marked, &[7; 100], 0, &mut twin.1, &c.loss);
    assert_eq!(predicted, None, "prediction refuses a CE mark");
    // The same segment unmarked is predicted (so the refusal is the mark's).
    let plain_seg = ack(Y + 1, ISS + 1, WND);
    assert!(
        twin.0
            .on_segment_predicted(
                &c.cfg,
                c.now,
                &plain_seg,
                &[7; 100],
                0,
                &mut twin.1,
                &c.loss
            )
            .is_some()
    );
    let r = c.deliver(marked, &[7; 100]);
    assert_eq!(r.ecn, EcnEvents::CE_RECEIVED);
    assert_eq!(
        shape(&send_all_ect(&mut c)),
        [(ISS + 1, Y + 101, ACK | ECE, 0, false)]
    );
}

#[test]
fn an_echo_reduces_the_window_once_per_window_and_cwr_goes_once() {
    let mut c = ecn_client(100_000, 4000);
    c.write(&[9; 30_000]);
    let flight = send_all_ect(&mut c);
    // IW10 of 1000-byte segments, all ECN-capable, none with CWR.
    assert_eq!(flight.len(), 10);
    assert!(flight.iter().all(|(s, ect)| *ect && s.h.flags == ACK));
    assert_eq!(c.tcb.cwnd(), 10_000);

    // The first ACK echoes a mark: no growth on an echo (RFC 3168 6.1.2), then the reduction:
    // ssthresh = max(flight 10000 (when the echo came) / 2, 2 SMSS) = 5000, cwnd = 5000.
    // Nothing retransmitted.
    let r = c.deliver(seg(Y + 1, Some(ISS + 1001), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::WINDOW_REDUCED);
    assert_eq!((c.tcb.ssthresh(), c.tcb.cwnd()), (5000, 5000));
    assert!(!c.tcb.in_recovery());
    assert!(send_all_ect(&mut c).is_empty(), "flight 9000 above cwnd");

    // Further echoes for the same window are ignored, and an ACK that echoes grows nothing
    // (RFC 3168 6.1.2: the sender SHOULD NOT increase cwnd on an ECN-Echo ACK).
    let r = c.deliver(seg(Y + 1, Some(ISS + 6001), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::default());
    assert_eq!((c.tcb.ssthresh(), c.tcb.cwnd()), (5000, 5000));
    // The next new data segment carries CWR, once.
    let out = send_all_ect(&mut c);
    assert_eq!(shape(&out), [(ISS + 10_001, Y + 1, ACK | CWR, 1000, true)]);
    // Without the echo, congestion avoidance counts the acknowledged bytes again.
    assert_eq!(c.tcb.ca_acked, 0);
    c.deliver(ack(Y + 1, ISS + 7001, WND), &[]);
    assert_eq!(c.tcb.ca_acked, 1000);
    let r = c.deliver(seg(Y + 1, Some(ISS + 8001), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::default());
    let out = send_all_ect(&mut c);
    assert!(
        out.iter()
            .all(|(s, ect)| *ect && !s.h.flags.intersects(CWR | ECE)),
        "{out:?}"
    );
    // An echo acknowledging exactly up to the end of the reduced window (sent before the
    // peer saw our CWR) is still the old signal.
    let cwnd = c.tcb.cwnd();
    let r = c.deliver(seg(Y + 1, Some(ISS + 10_001), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::default());
    assert!(c.tcb.cwnd() >= cwnd);
    // Beyond it, an echo is a new signal: a second reduction.
    let flight = c.tcb.snd_max() - c.tcb.snd_una();
    let r = c.deliver(seg(Y + 1, Some(ISS + 11_001), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::WINDOW_REDUCED);
    assert_eq!(c.tcb.ssthresh(), (flight / 2).max(2000));
    let snd_max = c.tcb.snd_max().0;
    c.deliver(ack(Y + 1, snd_max, WND), &[]);
    let out = send_all_ect(&mut c);
    assert!(!out.is_empty());
    assert_eq!(
        out.iter()
            .filter(|(s, _)| s.h.flags.intersects(CWR))
            .count(),
        1
    );
    assert_eq!(c.tcb.counters().retransmitted_segments, 0);
}

#[test]
fn a_loss_in_a_window_an_echo_reduced_is_fast_retransmitted_without_a_second_cut() {
    let mut c = ecn_client(100_000, 4000);
    c.write(&[9; 30_000]);
    assert_eq!(send_all_ect(&mut c).len(), 10);
    // An echo reduces the window (recover = SND.MAX)...
    let r = c.deliver(seg(Y + 1, Some(ISS + 1001), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::WINDOW_REDUCED);
    assert_eq!((c.tcb.ssthresh(), c.tcb.cwnd()), (5000, 5000));
    // ...and the segment at ISS + 1001 was lost too: three duplicate ACKs (still echoing,
    // the peer has not seen our CWR) start fast retransmit, not the RTO.
    for _ in 0..3 {
        c.deliver(seg(Y + 1, Some(ISS + 1001), ECE, WND), &[]);
    }
    assert!(c.tcb.in_recovery());
    assert_eq!(c.tcb.counters().fast_retransmits, 1);
    let out = send_all_ect(&mut c);
    assert_eq!(
        shape(&out)[0],
        (ISS + 1001, Y + 1, ACK, 1000, false),
        "{out:?}"
    );
    // No second reduction for the same window (RFC 3168 6.1.2): NewReno's ssthresh stays.
    assert_eq!(c.tcb.ssthresh(), 5000);
    assert_eq!(c.tcb.counters().timeouts, 0);
}

#[test]
fn with_cubic_an_echo_reduces_the_window_to_seven_tenths() {
    // RFC 9438 4.6: an ECN echo is a congestion event like a loss, beta_cubic = 0.7.
    let cfg = TcbConfig {
        congestion: crate::tcb::CongestionControl::Cubic,
        ..with_ecn(EcnMode::On)
    };
    let mut c = ecn_client_with(cfg, 100_000, 4000);
    c.write(&[9; 30_000]);
    assert_eq!(send_all_ect(&mut c).len(), 10);
    // Flight 10000 when the echo arrived: ssthresh = 0.7 * 10000 = 7000 (NewReno: 5000).
    let r = c.deliver(seg(Y + 1, Some(ISS + 1001), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::WINDOW_REDUCED);
    assert_eq!((c.tcb.ssthresh(), c.tcb.cwnd()), (7000, 7000));
    assert!(!c.tcb.in_recovery());
    assert_eq!(c.tcb.counters().retransmitted_segments, 0);
    let out = send_all_ect(&mut c);
    assert!(out.is_empty(), "flight 9000 above cwnd 7000: {out:?}");
}

#[test]
fn cwr_goes_on_one_wire_segment_of_a_tso_burst() {
    let cfg = TcbConfig {
        tso: Some(crate::device::TsoCaps {
            max_payload: 64_000,
            min_mss: 64,
            max_mss: 9000,
        }),
        ..with_ecn(EcnMode::On)
    };
    let mut c = Host::client(cfg, ISS, 100_000, 4000);
    send_all_ect(&mut c);
    let mut sa = seg(Y, Some(ISS + 1), SYN | ECE, WND);
    sa.options = syn_opts(cfg.mss);
    c.deliver(sa, &[]);
    send_all_ect(&mut c);
    c.write(&[1; 50_000]);
    let out = send_all_ect(&mut c);
    assert_eq!(shape(&out), [(ISS + 1, Y + 1, ACK, 10_000, true)]);
    c.deliver(seg(Y + 1, Some(ISS + 2001), ECE, WND), &[]);
    c.deliver(ack(Y + 1, ISS + 8001, WND), &[]);
    let out = send_all_ect(&mut c);
    assert_eq!(out[0].0.h.flags, ACK | CWR);
    assert_eq!((out[0].0.data.len(), out[0].0.tso), (1000, None));
    assert!(out[1..].iter().all(|(s, _)| !s.h.flags.intersects(CWR)));
}

#[test]
fn no_extra_reduction_in_loss_recovery_and_cwr_after_a_loss() {
    let mut c = ecn_client(100_000, 4000);
    c.write(&[9; 30_000]);
    assert_eq!(send_all_ect(&mut c).len(), 10);
    // Three duplicate ACKs: fast retransmit (NewReno), ssthresh 5000.
    for _ in 0..3 {
        c.deliver(ack(Y + 1, ISS + 1, WND), &[]);
    }
    assert!(c.tcb.in_recovery());
    assert_eq!(c.tcb.ssthresh(), 5000);
    let rtx = send_all_ect(&mut c);
    assert_eq!(rtx[0].0.h.seq, SeqNum(ISS + 1));
    assert!(!rtx[0].1, "a retransmission is not ECN-capable");
    assert!(!rtx[0].0.h.flags.intersects(CWR), "nor does it carry CWR");
    // An echo during recovery changes nothing.
    let cwnd = c.tcb.cwnd();
    let r = c.deliver(seg(Y + 1, Some(ISS + 1), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::default());
    assert_eq!(c.tcb.ssthresh(), 5000);
    assert_eq!(c.tcb.cwnd(), cwnd + 1000, "NewReno inflation only");
    // The full ACK ends recovery; the first new data carries CWR (the loss reduced the
    // window: RFC 3168 6.1.2 "for any reason").
    c.deliver(ack(Y + 1, ISS + 10_001, WND), &[]);
    assert!(!c.tcb.in_recovery());
    let out = send_all_ect(&mut c);
    assert_eq!(out[0].0.h.flags, ACK | CWR);
    assert!(out[0].1);
    assert_eq!(
        out.iter()
            .filter(|(s, _)| s.h.flags.intersects(CWR))
            .count(),
        1
    );
}

#[test]
fn without_ecn_marks_and_echoes_are_ignored() {
    let mut c = established(with_ecn(EcnMode::On), 100_000, 64_000, WND);
    assert!(!c.tcb.ecn_negotiated(), "the SYN-ACK did not agree");
    c.write(&[9; 30_000]);
    assert_eq!(send_all_ect(&mut c).len(), 10);
    let mut twin = established(with_ecn(EcnMode::On), 100_000, 64_000, WND);
    twin.write(&[9; 30_000]);
    send_all_ect(&mut twin);
    // An echo reduces nothing: the connection ends as the one that saw none.
    let r = c.deliver(seg(Y + 1, Some(ISS + 1001), ECE, WND), &[]);
    twin.deliver(seg(Y + 1, Some(ISS + 1001), TcpFlags::NONE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::default());
    assert_eq!(
        (c.tcb.cwnd(), c.tcb.ssthresh()),
        (twin.tcb.cwnd(), twin.tcb.ssthresh())
    );
    // A CE mark is not echoed and its ACK is delayed as usual.
    let r = c.deliver(seg(Y + 1, Some(ISS + 1001), CE, WND), &[1; 100]);
    assert_eq!(r.ecn, EcnEvents::default());
    let out = send_all_ect(&mut c);
    assert!(
        out.iter()
            .all(|(s, ect)| !ect && !s.h.flags.intersects(ECE | CWR))
    );
}

#[test]
fn an_echo_of_an_old_mark_on_the_ack_of_a_fin_does_not_reduce_again() {
    let mut c = ecn_client(100_000, 4000);
    c.write(&[9; 5000]);
    assert_eq!(send_all_ect(&mut c).len(), 5);
    // The peer echoes a mark: one reduction, covering everything sent.
    let r = c.deliver(seg(Y + 1, Some(ISS + 3001), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::WINDOW_REDUCED);
    let ssthresh = c.tcb.ssthresh();
    let r = c.deliver(seg(Y + 1, Some(ISS + 5001), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::default());
    // No new data is left to carry CWR: the FIN goes alone, neither CWR nor ECN-capable.
    c.tcb.close(&c.snd);
    let fin = send_all_ect(&mut c);
    assert_eq!(
        shape(&fin),
        [(ISS + 5001, Y + 1, ACK | TcpFlags::FIN, 0, false)]
    );
    // The peer, which never saw CWR, goes on echoing as it acknowledges the FIN: still the
    // old mark, no second reduction.
    let r = c.deliver(seg(Y + 1, Some(ISS + 5002), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::default());
    assert_eq!(c.tcb.ssthresh(), ssthresh);
    assert_eq!(c.tcb.state(), State::FinWait2);
}

#[test]
fn an_echo_on_an_old_ack_is_not_a_new_signal() {
    let mut c = ecn_client(100_000, 4000);
    c.write(&[9; 30_000]);
    assert_eq!(send_all_ect(&mut c).len(), 10);
    let r = c.deliver(seg(Y + 1, Some(ISS + 1001), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::WINDOW_REDUCED);
    // The window is acknowledged, CWR goes out on the next new data and is acknowledged in
    // turn: SND.UNA is past the reduction's end.
    c.deliver(ack(Y + 1, ISS + 10_001, WND), &[]);
    let out = send_all_ect(&mut c);
    assert_eq!(out[0].0.h.flags, ACK | CWR);
    c.deliver(ack(Y + 1, ISS + 11_001, WND), &[]);
    let (ssthresh, cwnd) = (c.tcb.ssthresh(), c.tcb.cwnd());
    // A reordered ACK the peer sent before it saw CWR, still echoing the old mark, arrives
    // late. Its acknowledgement is old (below SND.UNA): RFC 9293 ignores it, and its echo
    // is of the window already reduced for (RFC 3168 6.1.2: once per window of data).
    let r = c.deliver(seg(Y + 1, Some(ISS + 6001), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::default());
    assert_eq!((c.tcb.ssthresh(), c.tcb.cwnd()), (ssthresh, cwnd));
}

#[test]
fn an_echo_on_an_ack_of_the_whole_flight_halves_that_flight() {
    let mut c = ecn_client(100_000, 4000);
    c.write(&[9; 10_000]);
    assert_eq!(send_all_ect(&mut c).len(), 10);
    // One (stretch or delayed) ACK acknowledges the whole flight of 10000 bytes and echoes
    // a mark: the window is halved as for a loss in that flight (RFC 3168 6.1.2, RFC 5681
    // FlightSize: what was outstanding when the signal came), not cut to 2 SMSS because
    // this very ACK left nothing outstanding.
    let r = c.deliver(seg(Y + 1, Some(ISS + 10_001), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::WINDOW_REDUCED);
    assert_eq!((c.tcb.ssthresh(), c.tcb.cwnd()), (5000, 5000));
}

#[test]
fn after_a_plain_syn_received_data_is_not_ecn_capable_but_marks_are_echoed() {
    let mut s = Host::new(with_ecn(EcnMode::Accept), 4000, 4000);
    let syn = seg(ISS, None, SYN | ECE | CWR, WND);
    assert!(s.deliver(syn, &[]).events.contains(Events::SYN_TO_LISTENER));
    s.tcb = Tcb::accept(&s.cfg, s.now, &syn, SeqNum(Y), &s.rcv).unwrap();
    let sa = send_all_ect(&mut s);
    assert_eq!(shape(&sa), [(Y, ISS + 1, SYN | ACK | ECE, 0, false)]);
    // The SYN-ACK was lost (or is late); the client timed out and, falling back (RFC 3168
    // 6.1.1.1, as this stack's own clients and Linux do), sent its SYN again without asking.
    // A host that received a non-ECN-setup SYN SHOULD NOT send ECN-capable data (6.1.1):
    // the client may not use ECN and then never echoes a mark. The SYN-ACK goes again,
    // plain.
    s.deliver(seg(ISS, None, SYN, WND), &[]);
    let sa = send_all_ect(&mut s);
    assert_eq!(shape(&sa), [(Y, ISS + 1, SYN | ACK, 0, false)]);
    let r = s.deliver(ack(ISS + 1, Y + 1, WND), &[]);
    assert!(r.events.contains(Events::ESTABLISHED));
    s.write(b"pong");
    let d = send_all_ect(&mut s);
    assert_eq!(shape(&d), [(Y + 1, ISS + 1, ACK | PSH, 4, false)]);
    // But the client may have taken the first, ECN-setup, SYN-ACK and use ECN (Linux does):
    // a mark on its data is echoed.
    let r = s.deliver(seg(ISS + 1, Some(Y + 5), CE, WND), b"ping");
    assert_eq!(r.ecn, EcnEvents::CE_RECEIVED);
    assert_eq!(
        shape(&send_all_ect(&mut s)),
        [(Y + 5, ISS + 5, ACK | ECE, 0, false)]
    );
}

#[test]
fn after_a_plain_syn_sent_data_is_not_ecn_capable_but_marks_are_echoed() {
    let mut c = Host::client(with_ecn(EcnMode::On), ISS, 4000, 4000);
    send_all_ect(&mut c);
    c.advance_to_deadline();
    assert_eq!(shape(&send_all_ect(&mut c)), [(ISS, 0, SYN, 0, false)]);
    // The listener's answer to the first, ECN-setup, SYN arrives: it agreed and will send
    // ECN-capable data. Having sent a plain SYN, this host MUST NOT (RFC 3168 6.1.1), but it
    // echoes the marks on the peer's data.
    let mut sa = seg(Y, Some(ISS + 1), SYN | ECE, WND);
    sa.options = syn_opts(1000);
    assert!(c.deliver(sa, &[]).events.contains(Events::ESTABLISHED));
    send_all_ect(&mut c);
    c.write(b"ping");
    assert_eq!(
        shape(&send_all_ect(&mut c)),
        [(ISS + 1, Y + 1, ACK | PSH, 4, false)]
    );
    let r = c.deliver(seg(Y + 1, Some(ISS + 5), CE, WND), b"pong");
    assert_eq!(r.ecn, EcnEvents::CE_RECEIVED);
    assert_eq!(
        shape(&send_all_ect(&mut c)),
        [(ISS + 5, Y + 5, ACK | ECE, 0, false)]
    );
}

#[test]
fn cwr_goes_on_the_first_segment_with_new_data_even_a_go_back_n_resend() {
    let mut c = ecn_client(100_000, 4000);
    c.write(&[3; 1500]);
    assert_eq!(
        shape(&send_all_ect(&mut c)),
        [
            (ISS + 1, Y + 1, ACK, 1000, true),
            (ISS + 1001, Y + 1, ACK | PSH, 500, true)
        ]
    );
    // A timeout reduces the window (CWR due, the reduction covering up to SND.MAX = ISS +
    // 1501); go-back-N resends from SND.UNA in MSS-sized segments.
    c.advance_to_deadline();
    assert_eq!(
        shape(&send_all_ect(&mut c)),
        [(ISS + 1, Y + 1, ACK, 1000, false)]
    );
    c.write(&[4; 3000]);
    c.deliver(ack(Y + 1, ISS + 1001, WND), &[]);
    // The second resend runs past the old SND.MAX: it is the first segment with new data
    // (ISS + 1501 ..) since the reduction, so it carries CWR (RFC 3168 6.1.2), though, being
    // partly a retransmission, it is not ECN-capable. Were CWR left to the next segment, the
    // peer's ACK of this one (beyond the reduction's end, sent before it saw any CWR, still
    // echoing the old mark) would cut the window a second time.
    let out = send_all_ect(&mut c);
    assert_eq!(
        shape(&out),
        [
            (ISS + 1001, Y + 1, ACK | CWR, 1000, false),
            (ISS + 2001, Y + 1, ACK, 1000, true)
        ]
    );
    // Once CWR is out, an echo on the ACK of the resend is the peer's answer to a new mark.
    let r = c.deliver(seg(Y + 1, Some(ISS + 2001), ECE, WND), &[]);
    assert_eq!(r.ecn, EcnEvents::WINDOW_REDUCED);
}
