//! Property test: arbitrary event sequences (hostile segments with any flags, sequence and
//! acknowledgement numbers, windows and options; time jumps; application writes, reads,
//! closes and aborts) against a `Tcb` in every state. No panic, the invariants hold after
//! every event, and transmit planning always terminates.

use super::*;
use crate::time::Duration;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Event {
    Segment {
        seq: SeqSel,
        ack: SeqSel,
        flags: u16,
        window: u16,
        len: u16,
        opts: Opts,
    },
    Advance(u32),
    Transmit,
    Write(u16),
    Read,
    Close,
    Abort,
}

#[derive(Clone, Debug)]
enum SeqSel {
    /// Relative to the expected number (RCV.NXT for seq, SND.UNA for ack).
    Near(i32),
    Any(u32),
}

#[derive(Clone, Debug)]
struct Opts {
    mss: Option<u16>,
    ws: Option<u8>,
    sack_permitted: bool,
    ts: Option<(SeqSel, u32)>,
    sacks: Vec<(i32, u32)>,
}

fn seq_sel() -> impl Strategy<Value = SeqSel> {
    prop_oneof![
        4 => (-70_000i32..70_000).prop_map(SeqSel::Near),
        2 => (-3i32..3).prop_map(SeqSel::Near),
        1 => any::<u32>().prop_map(SeqSel::Any),
    ]
}

fn opts() -> impl Strategy<Value = Opts> {
    (
        proptest::option::of(any::<u16>()),
        proptest::option::of(0u8..20),
        any::<bool>(),
        proptest::option::of((seq_sel(), any::<u32>())),
        proptest::collection::vec((-5_000i32..200_000, 0u32..100_000), 0..4),
    )
        .prop_map(|(mss, ws, sack_permitted, ts, sacks)| Opts {
            mss,
            ws,
            sack_permitted,
            ts,
            sacks,
        })
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        8 => (seq_sel(), seq_sel(), prop_oneof![4 => 0u16..512, 1 => (0u16..512).prop_map(|f| f | TcpFlags::IP_CE.0)], any::<u16>(), prop_oneof![3 => 0u16..2, 2 => 0u16..3000], opts())
            .prop_map(|(seq, ack, flags, window, len, opts)| Event::Segment { seq, ack, flags, window, len, opts }),
        2 => prop_oneof![0u32..2_000, 0u32..200_000_000].prop_map(Event::Advance),
        3 => Just(Event::Transmit),
        2 => (0u16..5000).prop_map(Event::Write),
        1 => Just(Event::Read),
        1 => Just(Event::Close),
        1 => (0u8..20).prop_map(|n| if n == 0 { Event::Abort } else { Event::Read }),
    ]
}

/// Builds a host in one of the interesting states.
fn start(state: u8, options: bool, congestion: CongestionControl) -> Host {
    let cfg = if options {
        TcbConfig {
            keepalive: Some(Keepalive {
                idle: Duration::from_secs(5),
                interval: Duration::from_secs(1),
                probes: 2,
            }),
            fin_wait2_timeout: Some(Duration::from_secs(30)),
            tso: Some(crate::device::TsoCaps {
                max_payload: 20_000,
                min_mss: 100,
                max_mss: 9000,
            }),
            ecn: super::EcnMode::On,
            ..TcbConfig::RFC
        }
    } else {
        plain()
    };
    let cfg = cfg.with_congestion(congestion);
    let h = match state {
        0 => Host::new(cfg, 8000, 8000),
        1 => {
            let mut h = Host::client(cfg, ISS, 8000, 8000);
            h.send_all();
            h
        }
        2 => {
            let mut h = Host::new(cfg, 8000, 8000);
            let mut syn = seg(Y, None, TcpFlags::SYN, 5000);
            if options {
                // An ECN-setup SYN: with the options config's `EcnMode::On`, ECN is used (and
                // DCTCP runs when chosen).
                syn.flags |= TcpFlags::ECE | TcpFlags::CWR;
                syn.options = TcpOptions {
                    mss: Some(1200),
                    window_scale: Some(3),
                    sack_permitted: true,
                    timestamps: Some((10, 0)),
                    ..TcpOptions::default()
                };
            }
            h.tcb = Tcb::accept(&cfg, h.now, &syn, SeqNum(ISS), &h.rcv).unwrap();
            h.send_all();
            h
        }
        _ => {
            let mut h = Host::client(cfg, ISS, 8000, 8000);
            let syn = h.send_one().unwrap();
            let mut sa = seg(Y, Some(ISS + 1), TcpFlags::SYN, 6000);
            if options {
                // An ECN-setup SYN-ACK (see above).
                sa.flags |= TcpFlags::ECE;
                sa.options = TcpOptions {
                    mss: Some(1200),
                    window_scale: Some(2),
                    sack_permitted: true,
                    timestamps: Some((10, syn.h.options.timestamps.map_or(0, |t| t.0))),
                    ..TcpOptions::default()
                };
            }
            h.deliver(sa, &[]);
            // With the options config, ECN is negotiated and the congestion control chosen
            // runs (DCTCP included); without, DCTCP falls back to NewReno.
            let runs = match (options, congestion) {
                (false, CongestionControl::Dctcp) => CongestionControl::NewReno,
                _ => congestion,
            };
            assert_eq!(h.tcb.ecn_negotiated(), options);
            assert_eq!(h.tcb.congestion_control(), runs);
            h.write(&[7; 5000]);
            h.send_all();
            match state {
                3 => {}
                4 => h.tcb.close(&h.snd),
                5 => {
                    h.deliver(seg(Y + 1, Some(ISS + 1), TcpFlags::FIN, 6000), &[]);
                }
                6 => {
                    h.deliver(seg(Y + 1, Some(ISS + 1), TcpFlags::FIN, 6000), &[]);
                    h.tcb.close(&h.snd);
                }
                _ => {
                    let _ = h.tcb.abort();
                }
            }
            h.send_all();
            h
        }
    };
    h.check();
    h
}

fn resolve(sel: &SeqSel, base: SeqNum) -> SeqNum {
    match *sel {
        SeqSel::Near(d) => SeqNum(base.0.wrapping_add(d as u32)),
        SeqSel::Any(v) => SeqNum(v),
    }
}

fn apply(h: &mut Host, e: &Event) {
    match e {
        Event::Segment {
            seq,
            ack,
            flags,
            window,
            len,
            opts,
        } => {
            let mut hdr = TcpHeader {
                seq: resolve(seq, h.tcb.rcv_nxt()),
                ack: resolve(ack, h.tcb.snd_una()),
                flags: TcpFlags(*flags),
                window: *window,
                ..TcpHeader::default()
            };
            hdr.options.mss = opts.mss;
            hdr.options.window_scale = opts.ws;
            hdr.options.sack_permitted = opts.sack_permitted;
            hdr.options.timestamps = opts
                .ts
                .as_ref()
                .map(|(v, e)| (resolve(v, SeqNum(10)).0, *e));
            for &(l, n) in &opts.sacks {
                let left = h.tcb.snd_una() + l as u32;
                hdr.options.push_sack(crate::segment::SackBlock {
                    left,
                    right: left + n,
                });
            }
            let payload = vec![0xAB; usize::from(*len)];
            // CUBIC grows the window only while cwnd limited the last send (deviation 23):
            // outside recovery, a segment never raises it otherwise.
            let held = h.tcb.has(flag::CUBIC)
                && !h.tcb.has(flag::CWND_LIMITED)
                && !h.tcb.has(flag::RECOVERY)
                && h.tcb.state.is_synchronized();
            let cwnd = h.tcb.cwnd();
            let r = h.deliver(hdr, &payload);
            if held && !h.tcb.has(flag::RECOVERY) {
                assert!(
                    h.tcb.cwnd() <= cwnd,
                    "cwnd grew from {cwnd} to {} with the sender not cwnd limited",
                    h.tcb.cwnd()
                );
            }
            if r.events.contains(Events::SYN_TO_LISTENER) {
                if let Ok(t) = Tcb::accept(&h.cfg, h.now, &hdr, SeqNum(ISS), &h.rcv) {
                    h.tcb = t;
                    h.check();
                }
            }
        }
        Event::Advance(us) => h.advance(Duration::from_micros(u64::from(*us))),
        Event::Transmit => {
            let out = h.send_all();
            for s in &out {
                assert!(s.data.len() <= 20_000, "segment larger than any limit");
            }
        }
        Event::Write(n) => {
            let data = vec![1; usize::from(*n)];
            h.write(&data);
        }
        Event::Read => {
            h.read_all();
        }
        Event::Close => {
            h.tcb.close(&h.snd);
            h.check();
        }
        Event::Abort => {
            let _ = h.tcb.abort();
            h.check();
        }
    }
    if let Some(at) = h.tcb.next_deadline() {
        assert!(at.micros() != u64::MAX);
    }
    // `may_transmit` is conservative: when it says no and no deadline is due, planning finds
    // nothing either.
    let due = h.tcb.next_deadline().is_some_and(|at| at <= h.now);
    if !due && !h.tcb.may_transmit(&h.snd, &h.rcv) {
        let mut probe = h.tcb.clone();
        let mut loss = h.loss;
        let plan = probe.poll_transmit(&h.cfg, h.now, &h.snd, &h.rcv, &mut loss);
        assert_eq!(plan, None, "may_transmit said no after {e:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: fuzz_cases(600), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_events_in_every_state(
        state in 0u8..8,
        options in any::<bool>(),
        congestion in proptest::sample::select(CongestionControl::ALL.to_vec()),
        events in proptest::collection::vec(event(), 1..60),
    ) {
        let mut h = start(state, options, congestion);
        for e in &events {
            apply(&mut h, e);
        }
        // Time always lets the connection make progress or finish: no panic while draining.
        for _ in 0..50 {
            h.send_all();
            match h.tcb.next_deadline() {
                Some(at) => h.now = at.max(h.now),
                None => break,
            }
        }
    }
}

/// Cases the property test runs: `default`, multiplied by the `FERROTOE_FUZZ_SCALE` environment
/// variable when set (a positive integer, as in the integration tests' `common::fuzz_cases`).
fn fuzz_cases(default: u32) -> u32 {
    match std::env::var("FERROTOE_FUZZ_SCALE") {
        Err(_) => default,
        Ok(text) => match text.trim().parse::<u32>() {
            Ok(scale) if scale > 0 => default.saturating_mul(scale),
            _ => panic!("FERROTOE_FUZZ_SCALE={text:?}: expected a positive integer, e.g. 100"),
        },
    }
}
