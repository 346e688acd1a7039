//! Software GRO in `poll_direct`, burst by burst: which segments join a run, which end it,
//! the events and ACKs a run produces and the bytes it delivers.

use super::scenarios::establish;
use super::*;
use crate::device::{FrameDevice, OffloadCaps};
use crate::tcb::Events;
use std::vec::Vec;

const T0: Instant = Instant::from_secs(1);

/// A device holding one receive burst and collecting what is sent.
pub(super) struct Burst {
    pub rx: Vec<(Vec<u8>, RxMeta)>,
    pub tx: Vec<(Vec<u8>, TxMeta)>,
}

impl FrameDevice for Burst {
    fn caps(&self) -> OffloadCaps {
        OffloadCaps::none(1514)
    }

    fn rx_burst<F: FnMut(&mut [u8], RxMeta)>(&mut self, max: usize, mut on_frame: F) -> usize {
        let n = self.rx.len().min(max);
        for (mut frame, meta) in self.rx.drain(..n) {
            on_frame(&mut frame, meta);
        }
        n
    }

    fn transmit<F: FnOnce(&mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        fill: F,
    ) -> Option<(usize, TxMeta)> {
        let mut buf = vec![0u8; 1514];
        let (len, meta) = fill(&mut buf)?;
        buf.truncate(len);
        self.tx.push((buf, meta));
        Some((len, meta))
    }
}

/// What one poll of a burst produced.
struct Polled {
    events: Vec<Open>,
    /// Payload offered to the sink, offer by offer.
    offers: Vec<Vec<u8>>,
    sent: Vec<Sent>,
}

/// Runs `frames` through one `poll_direct` with a sink taking every offer.
fn poll_burst(ep: &mut Ep, frames: Vec<(Vec<u8>, RxMeta)>) -> Polled {
    poll_burst_taking(ep, T0, frames, usize::MAX)
}

/// [`poll_burst`] at `now` with a sink taking at most `limit` bytes of each offer.
fn poll_burst_taking(
    ep: &mut Ep,
    now: Instant,
    frames: Vec<(Vec<u8>, RxMeta)>,
    limit: usize,
) -> Polled {
    let mut dev = Burst {
        rx: frames,
        tx: Vec::new(),
    };
    let mut events = Vec::new();
    let mut offers = Vec::new();
    ep.poll_direct(
        now,
        &mut dev,
        |_, open| events.push(open),
        |_, data: &[u8]| {
            let took = data.len().min(limit);
            offers.push(data[..took].to_vec());
            took
        },
    );
    ep.check_invariants().expect("endpoint invariants");
    let sent = dev.tx.iter().map(|(f, m)| parse_sent(f, *m)).collect();
    Polled {
        events,
        offers,
        sent,
    }
}

/// The same burst received frame by frame with [`Endpoint::receive_direct`] (no GRO) by an
/// endpoint built the same way: the frames it sends (ACKs) and its connection afterwards must
/// be those of the GRO endpoint.
fn same_as_frame_by_frame(gro: &Ep, polled: &Polled, key: SlotKey, frames: &[(Vec<u8>, RxMeta)]) {
    same_as_frame_by_frame_taking(gro, polled, key, frames, usize::MAX);
}

/// [`same_as_frame_by_frame`] with a sink taking at most `limit` bytes of each offer.
fn same_as_frame_by_frame_taking(
    gro: &Ep,
    polled: &Polled,
    key: SlotKey,
    frames: &[(Vec<u8>, RxMeta)],
    limit: usize,
) {
    same_as_frame_by_frame_with(gro, polled, key, frames, limit, false);
}

/// [`same_as_frame_by_frame_taking`] on an endpoint from [`endpoint_for`]`(ts)`.
fn same_as_frame_by_frame_with(
    gro: &Ep,
    polled: &Polled,
    key: SlotKey,
    frames: &[(Vec<u8>, RxMeta)],
    limit: usize,
    ts: bool,
) {
    let mut ep = endpoint_for(ts);
    let (twin, ..) = establish_for(&mut ep, ts);
    assert_eq!(twin, key, "the twin endpoint opened the same connection");
    matches_twin(gro, polled, &mut ep, key, frames, limit, T0);
}

/// Receives `frames` frame by frame at `now` on `ep` (the twin of `gro`, which polled them
/// as one burst: `polled`) and sends what it has to; then the two must agree.
fn matches_twin(
    gro: &Ep,
    polled: &Polled,
    ep: &mut Ep,
    key: SlotKey,
    frames: &[(Vec<u8>, RxMeta)],
    limit: usize,
    now: Instant,
) {
    let mut events = Events::default();
    let mut offered = Vec::new();
    for (frame, meta) in frames {
        let mut frame = frame.clone();
        let mut sink = |_: SlotKey, d: &[u8]| {
            let took = d.len().min(limit);
            offered.push(d[..took].to_vec());
            took
        };
        if let Received::Open(o) = ep.receive_direct(now, &mut frame, *meta, &mut sink) {
            events |= o.events;
        }
        ep.check_invariants().unwrap();
    }
    assert_eq!(polled.offers, offered, "offers differ");
    let sent = drain_tcp(ep, now);
    let view = |s: &[Sent]| -> Vec<(u32, u32, TcpFlags, u16, usize)> {
        s.iter()
            .map(|s| (s.h.seq.0, s.h.ack.0, s.h.flags, s.h.window, s.payload.len()))
            .collect()
    };
    assert_eq!(view(&polled.sent), view(&sent), "ACKs differ");
    let merged = polled
        .events
        .iter()
        .fold(Events::default(), |e, o| e | o.events);
    assert_eq!(merged, events, "events differ");
    assert_eq!(gro.readable(key), ep.readable(key), "buffered bytes differ");
    let (a, b) = (gro.tcb(key).unwrap(), ep.tcb(key).unwrap());
    assert_eq!(
        std::format!("{a:?}"),
        std::format!("{b:?}"),
        "connections differ"
    );
}

/// [`endpoint_with_peer`]; with `ts`, using timestamps, window scaling and delayed ACKs.
fn endpoint_for(ts: bool) -> Ep {
    if !ts {
        return endpoint_with_peer(4);
    }
    let mut c = config(OffloadCaps::none(1514));
    c.tcb.timestamps = true;
    c.tcb.window_scaling = true;
    c.tcb.delayed_ack = TcbConfig::RFC.delayed_ack;
    let mut ep = Ep::with_capacity(c, 4).unwrap();
    ep.add_neighbor(Instant::ZERO, PEER_IP, PEER_MAC);
    ep
}

/// [`establish`]; with `ts`, the peer answers with timestamps (TSval 100) and window scale
/// 2. Returns the key, our port, our ISS, the peer's ISS and our SYN's TSval.
fn establish_for(ep: &mut Ep, ts: bool) -> (SlotKey, u16, u32, u32, u32) {
    if !ts {
        let (key, port, iss, y) = establish(ep, T0);
        return (key, port, iss, y, 0);
    }
    let key = ep
        .connect(T0, PEER_IP, 80, bufs())
        .map_err(|(e, _)| e)
        .unwrap();
    let out = drain_tcp(ep, T0);
    let syn = &out[0];
    let (port, iss) = (syn.h.src_port, syn.h.seq.0);
    let our_ts = syn
        .h
        .options
        .timestamps
        .expect("our SYN offers timestamps")
        .0;
    let y = 9000;
    let mut sa = seg(80, port, y, Some(iss + 1), TcpFlags::SYN, 65535);
    sa.options.mss = Some(1460);
    sa.options.window_scale = Some(2);
    sa.options.timestamps = Some((100, our_ts));
    let mut frame = PEER.tcp(&sa, &[]);
    ep.receive(T0, &mut frame, RxMeta::UNVERIFIED);
    assert!(ep.tcb(key).unwrap().negotiated().1, "timestamps in use");
    assert_eq!(drain_tcp(ep, T0).len(), 1, "the handshake ACK");
    (key, port, iss, y, our_ts)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len as u32).map(|i| (i % 251) as u8).collect()
}

/// Segment `k` (1000 bytes) of `data` from the peer on `port`, advertising window 65535.
fn segment(port: u16, iss: u32, y: u32, data: &[u8], k: usize, flags: TcpFlags) -> Vec<u8> {
    segment_with_window(port, iss, y, data, k, flags, 65535)
}

/// [`segment`] advertising `window`.
fn segment_with_window(
    port: u16,
    iss: u32,
    y: u32,
    data: &[u8],
    k: usize,
    flags: TcpFlags,
    window: u16,
) -> Vec<u8> {
    let seq = y + 1 + 1000 * k as u32;
    let h = seg(80, port, seq, Some(iss + 1), flags, window);
    PEER.tcp(&h, &data[1000 * k..1000 * (k + 1)])
}

const GOOD: RxMeta = RxMeta {
    ip: ChecksumState::Good,
    l4: ChecksumState::Good,
};

#[test]
fn consecutive_in_order_segments_are_one_run_with_one_event_and_one_ack() {
    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, y) = establish(&mut ep, T0);
    let data = pattern(6000);
    let burst = (0..6)
        .map(|k| {
            let flags = if k % 2 == 1 {
                TcpFlags::PSH
            } else {
                TcpFlags::NONE
            };
            (segment(port, iss, y, &data, k, flags), GOOD)
        })
        .collect::<Vec<_>>();
    let before = *ep.counters();
    let p = poll_burst(&mut ep, burst.clone());
    same_as_frame_by_frame(&ep, &p, key, &burst);
    let c = ep.counters();
    assert_eq!(
        c.rx_segments - before.rx_segments,
        6,
        "segments still count"
    );
    assert_eq!(c.rx_frames - before.rx_frames, 6);
    assert_eq!(c.rx_payload_bytes - before.rx_payload_bytes, 6000);
    assert_eq!(c.rx_direct_bytes - before.rx_direct_bytes, 6000);
    assert_eq!(c.rx_predicted - before.rx_predicted, 6);
    assert_eq!(c.rx_coalesced - before.rx_coalesced, 5, "one run");
    assert_eq!(p.events.len(), 1, "{:?}", p.events);
    assert_eq!(p.events[0].key, key);
    assert_eq!(p.events[0].events, Events::READABLE);
    assert_eq!(p.offers.len(), 6, "each payload offered from its own frame");
    assert_eq!(p.offers.concat(), data);
    assert_eq!(ep.tcb(key).unwrap().rcv_nxt().0, y + 6001);
    // One ACK for the burst, covering all of it.
    assert_eq!(p.sent.len(), 1, "{:?}", p.sent);
    assert_eq!((p.sent[0].h.ack.0, p.sent[0].payload.len()), (y + 6001, 0));
}

#[test]
fn runs_end_at_what_must_not_be_coalesced() {
    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, y) = establish(&mut ep, T0);
    let data = pattern(9000);
    let s = |k: usize| (segment(port, iss, y, &data, k, TcpFlags::NONE), GOOD);
    let mut corrupt = segment(port, iss, y, &data, 2, TcpFlags::NONE);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xFF;
    let mut urgent = seg(80, port, y + 1 + 7000, Some(iss + 1), TcpFlags::URG, 65535);
    urgent.urgent = 1;
    let burst = vec![
        s(0),
        s(1),
        // A corrupt copy of segment 2 (software check): dropped, ends the run.
        (corrupt, RxMeta::UNVERIFIED),
        // Segment 3 before 2: out of order, stored, ACKed at once.
        s(3),
        // Segment 2 fills the hole (the full path: an immediate ACK).
        s(2),
        // 4 and 5 form a new run; a duplicate of 5 ends it.
        s(4),
        s(5),
        s(5),
        // 6, then 7 with URG and 8 with FIN: never coalesced.
        s(6),
        (PEER.tcp(&urgent, &data[7000..8000]), GOOD),
        (
            segment(port, iss, y, &data, 8, TcpFlags::FIN),
            RxMeta::UNVERIFIED,
        ),
    ];
    let before = *ep.counters();
    let p = poll_burst(&mut ep, burst.clone());
    same_as_frame_by_frame(&ep, &p, key, &burst);
    let c = ep.counters();
    assert_eq!(c.rx_bad_tcp_checksum - before.rx_bad_tcp_checksum, 1);
    assert_eq!(
        c.rx_segments - before.rx_segments,
        10,
        "all but the corrupt frame"
    );
    // Predicted: 0, 1, 4, 5 and 6; coalesced into the run before them: 1 and 5.
    assert_eq!(c.rx_predicted - before.rx_predicted, 5);
    assert_eq!(c.rx_coalesced - before.rx_coalesced, 2);
    let events: Vec<Events> = p.events.iter().map(|o| o.events).collect();
    assert!(p.events.iter().all(|o| o.key == key));
    assert_eq!(
        events,
        vec![
            Events::READABLE, // run 0-1
            Events::READABLE, // 2 fills the hole (3 stored: no event)
            Events::READABLE, // run 4-5
            Events::READABLE, // 6
            Events::READABLE, // 7 (URG)
            Events::READABLE | Events::PEER_CLOSED,
        ],
    );
    // Everything in order, once: 0 and 1 offered from their frames; from the out-of-order
    // segment on, the buffer holds readable bytes, so the rest (runs included) is buffered.
    assert_eq!(
        p.offers,
        vec![data[..1000].to_vec(), data[1000..2000].to_vec()]
    );
    let mut got = p.offers.concat();
    let mut rest = vec![0u8; 16 << 10];
    let n = ep.read(key, &mut rest).unwrap();
    got.extend_from_slice(&rest[..n]);
    assert_eq!(got, data);
    assert_eq!(ep.tcb(key).unwrap().rcv_nxt().0, y + 9002, "data and FIN");
    // The ACKs owed for the out-of-order segment are forgiven when the hole fills (as
    // without GRO): one ACK covers everything.
    assert_eq!(p.sent.len(), 1, "{:?}", p.sent);
    assert_eq!(p.sent[0].h.ack.0, y + 9002);
}

#[test]
fn runs_of_two_connections_interleaved_stay_apart_and_in_order() {
    let mut ep = endpoint_with_peer(4);
    let (ka, pa, ia, y) = establish(&mut ep, T0);
    let (kb, pb, ib, _) = establish(&mut ep, T0);
    let data = pattern(4000);
    let a = |k: usize| (segment(pa, ia, y, &data, k, TcpFlags::NONE), GOOD);
    let b = |k: usize| (segment(pb, ib, y, &data, k, TcpFlags::NONE), GOOD);
    let before = *ep.counters();
    let mut dev = Burst {
        rx: vec![a(0), a(1), b(0), b(1), b(2), a(2), a(3), b(3)],
        tx: Vec::new(),
    };
    let mut events = Vec::new();
    let mut offers: Vec<(SlotKey, usize)> = Vec::new();
    ep.poll_direct(
        T0,
        &mut dev,
        |_, open| events.push((open.key, open.events)),
        |key, d: &[u8]| {
            offers.push((key, d.len()));
            d.len()
        },
    );
    ep.check_invariants().unwrap();
    let c = ep.counters();
    assert_eq!(c.rx_predicted - before.rx_predicted, 8);
    assert_eq!(
        c.rx_coalesced - before.rx_coalesced,
        4,
        "a: 1 and 3, b: 1 and 2"
    );
    let r = Events::READABLE;
    assert_eq!(events, vec![(ka, r), (kb, r), (ka, r), (kb, r)]);
    assert_eq!(offers.len(), 8);
    for key in [ka, kb] {
        assert_eq!(ep.tcb(key).unwrap().rcv_nxt().0, y + 4001);
    }
    let acks: Vec<Sent> = dev.tx.iter().map(|(f, m)| parse_sent(f, *m)).collect();
    let mut acked: Vec<(u16, u32)> = acks.iter().map(|s| (s.h.src_port, s.h.ack.0)).collect();
    acked.sort();
    let mut want = vec![(pa, y + 4001), (pb, y + 4001)];
    want.sort();
    assert_eq!(
        acked, want,
        "one ACK per connection, covering its four segments"
    );
}

#[test]
fn software_checked_frames_join_and_a_new_window_starts_a_new_run() {
    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, y) = establish(&mut ep, T0);
    let data = pattern(6000);
    let mut burst: Vec<(Vec<u8>, RxMeta)> = (0..6)
        .map(|k| (segment(port, iss, y, &data, k, TcpFlags::NONE), GOOD))
        .collect();
    // Segment 2: checksums left to software (correct): verified here and coalesced. From
    // segment 4 on the peer's window moved: a new run.
    burst[2].1 = RxMeta::UNVERIFIED;
    for k in [4, 5] {
        burst[k].0 = segment_with_window(port, iss, y, &data, k, TcpFlags::NONE, 60000);
    }
    let before = *ep.counters();
    let p = poll_burst(&mut ep, burst.clone());
    same_as_frame_by_frame(&ep, &p, key, &burst);
    let c = ep.counters();
    assert_eq!(c.rx_predicted - before.rx_predicted, 6, "all predicted");
    assert_eq!(c.rx_coalesced - before.rx_coalesced, 4, "runs 0-3, 4-5");
    assert_eq!(p.events.len(), 2, "{:?}", p.events);
    assert_eq!(p.offers.concat(), data);
    assert_eq!(p.sent.len(), 1, "{:?}", p.sent);
    assert_eq!(p.sent[0].h.ack.0, y + 6001);
}

/// Reviewer: seeded random bursts for one connection (in-order segments of random sizes, PSH,
/// duplicates, overlaps, gaps, a moved window, ACKs of our data in flight or of data never
/// sent, several bursts apart in time, bad or unverified
/// checksums, truncated IPv4 lengths, tiny segments, URG, FIN), with sinks taking all, part
/// or none of each offer: `poll_direct` with GRO must end exactly where frame-by-frame
/// receive does (connection, ACKs sent, events, offers, buffered bytes).
#[test]
fn random_bursts_match_frame_by_frame_receive() {
    random_bursts(false);
}

/// [`random_bursts_match_frame_by_frame_receive`] with timestamps (TSvals growing, equal, or
/// older: PAWS), window scaling and delayed ACKs.
#[test]
fn random_bursts_with_timestamps_match_frame_by_frame_receive() {
    random_bursts(true);
}

fn random_bursts(ts: bool) {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let data = pattern(192 << 10);
    let (mut coalesced, mut predicted) = (0, 0);
    for round in 0..400 {
        let mut ep = endpoint_for(ts);
        let (key, port, iss, y, our_ts) = establish_for(&mut ep, ts);
        let mut twin = endpoint_for(ts);
        assert_eq!(establish_for(&mut twin, ts).0, key);
        // Our side has data in flight in half the rounds: the peer's segments may ACK it.
        let ours = if round % 2 == 0 { 3000 } else { 0 };
        let mut acked = iss + 1;
        for e in [&mut ep, &mut twin] {
            assert_eq!(e.write(key, &data[..ours]).unwrap(), ours);
            drain_tcp(e, T0);
        }
        let mut tsval = 100u32;
        let limit = [usize::MAX, 0, 300, 1000][round % 4];
        let mut off = 0usize;
        let mut now = T0;
        for _ in 0..3 {
            now += crate::time::Duration::from_millis(next(80));
            let mut burst = Vec::new();
            for _ in 0..(4 + next(14)) {
                let len = match next(4) {
                    0 => 1 + next(17) as usize,
                    1 => 1460,
                    _ => 1 + next(1460) as usize,
                };
                let mut at = off;
                match next(10) {
                    0 => at = off.saturating_sub(1 + next(1500) as usize),
                    1 => at = off + 1 + next(1500) as usize,
                    _ => {}
                }
                let window = if next(8) == 0 { 4000 } else { 65535 };
                let ackno = match next(16) {
                    0 => iss + 2 + ours as u32,
                    1 => {
                        acked = acked.max(iss + 1 + next(ours as u64 + 1) as u32);
                        acked
                    }
                    _ => acked,
                };
                let mut flags = match next(24) {
                    0 => TcpFlags::FIN,
                    1 => TcpFlags::URG,
                    2..=8 => TcpFlags::PSH,
                    _ => TcpFlags::NONE,
                };
                if next(3) == 0 {
                    flags |= TcpFlags::PSH;
                }
                let mut h = seg(80, port, y + 1 + at as u32, Some(ackno), flags, window);
                if flags.contains(TcpFlags::URG) {
                    h.urgent = 1;
                }
                if ts {
                    match next(6) {
                        0 => tsval = tsval.wrapping_add(1 + next(3) as u32),
                        1 => tsval = tsval.wrapping_sub(1),
                        _ => {}
                    }
                    h.options.timestamps = Some((tsval, our_ts));
                }
                let mut frame = PEER.tcp(&h, &data[at..at + len]);
                let mut meta = if next(2) == 0 {
                    GOOD
                } else {
                    RxMeta::UNVERIFIED
                };
                match next(16) {
                    0 => {
                        let last = frame.len() - 1;
                        frame[last] ^= 0x5A;
                        meta = RxMeta::UNVERIFIED;
                    }
                    1 => meta.l4 = ChecksumState::Bad,
                    2 => {
                        // IPv4 total length past the frame, or short of the TCP header.
                        let total = if next(2) == 0 { 0xFFFF } else { 30 };
                        frame[16..18].copy_from_slice(&u16::to_be_bytes(total));
                    }
                    _ => {}
                }
                if at == off && !matches!(meta.l4, ChecksumState::Bad) {
                    off = at + len;
                }
                burst.push((frame, meta));
            }
            let before = *ep.counters();
            let p = poll_burst_taking(&mut ep, now, burst.clone(), limit);
            matches_twin(&ep, &p, &mut twin, key, &burst, limit, now);
            coalesced += ep.counters().rx_coalesced - before.rx_coalesced;
            predicted += ep.counters().rx_predicted - before.rx_predicted;
        }
    }
    std::println!("predicted {predicted}, coalesced {coalesced}");
    assert!(
        coalesced > 100,
        "the bursts exercise runs: {coalesced} coalesced"
    );
}

/// Reviewer: the application closes or aborts a run's connection from the run's event (in
/// the middle of the burst); the connection's later frames of the burst then meet the
/// closed (FIN-WAIT-1) or aborted connection, never the run.
#[test]
fn a_connection_closed_or_aborted_from_its_run_event_takes_the_rest_of_the_burst_normally() {
    for abort in [false, true] {
        let mut ep = endpoint_with_peer(4);
        let (ka, pa, ia, y) = establish(&mut ep, T0);
        let (_, pb, ib, _) = establish(&mut ep, T0);
        let data = pattern(4000);
        let a = |k: usize| (segment(pa, ia, y, &data, k, TcpFlags::NONE), GOOD);
        let b = |k: usize| (segment(pb, ib, y, &data, k, TcpFlags::NONE), GOOD);
        let before = *ep.counters();
        let mut dev = Burst {
            rx: vec![a(0), a(1), b(0), a(2), a(3)],
            tx: Vec::new(),
        };
        let mut events = Vec::new();
        ep.poll_direct(
            T0,
            &mut dev,
            |ep: &mut Ep, open| {
                if open.key == ka && events.iter().all(|(k, _)| *k != ka) {
                    if abort {
                        ep.abort(T0, ka).unwrap();
                    } else {
                        ep.close(T0, ka).unwrap();
                    }
                }
                events.push((open.key, open.events));
            },
            |_, d: &[u8]| d.len(),
        );
        ep.check_invariants().unwrap();
        let c = ep.counters();
        assert_eq!(
            c.rx_predicted - before.rx_predicted,
            3,
            "a0, a1 and b0 (abort: {abort})"
        );
        let sent: Vec<Sent> = dev.tx.iter().map(|(f, m)| parse_sent(f, *m)).collect();
        let to_a: Vec<&Sent> = sent.iter().filter(|s| s.h.src_port == pa).collect();
        if abort {
            assert!(ep.tcb(ka).is_none_or(|t| t.state() == State::Closed));
            assert!(
                to_a.iter().all(|s| s.h.flags.contains(TcpFlags::RST)),
                "{to_a:?}"
            );
        } else {
            let t = ep.tcb(ka).unwrap();
            assert_eq!(t.state(), State::FinWait1);
            assert_eq!(
                t.rcv_nxt().0,
                y + 4001,
                "a2 and a3 received after the close"
            );
            assert!(to_a.iter().any(|s| s.h.flags.contains(TcpFlags::FIN)));
        }
    }
}

/// [`segment`] `k` (flags: ACK only) in a datagram with DSCP/ECN byte `tos` (the IPv4
/// checksum updated as a router marking it would).
fn marked_segment(port: u16, iss: u32, y: u32, data: &[u8], k: usize, tos: u8) -> Vec<u8> {
    let mut f = segment(port, iss, y, data, k, TcpFlags::NONE);
    let old = u16::from_be_bytes([f[14], f[15]]);
    f[15] = tos;
    let sum = u16::from_be_bytes([f[24], f[25]]);
    let sum = crate::checksum::update_u16(sum, old, u16::from_be_bytes([f[14], f[15]]));
    f[24..26].copy_from_slice(&sum.to_be_bytes());
    f
}

#[test]
fn a_ce_marked_frame_ends_a_run_and_is_echoed() {
    use super::ecn::{ecn_endpoint, establish_ecn};
    use crate::tcb::EcnMode;
    use crate::wire::ipv4::{ECN_CE, ECN_ECT0};
    let mut ep = ecn_endpoint(EcnMode::On);
    let (key, port, iss, y) = establish_ecn(&mut ep, T0);
    let data = pattern(5000);
    let s = |k: usize, tos: u8| (marked_segment(port, iss, y, &data, k, tos), GOOD);
    // 0 and 1 form a run; 2 was marked on the way; 3 and 4 form the next run.
    let burst = vec![
        s(0, ECN_ECT0),
        s(1, ECN_ECT0),
        s(2, ECN_CE),
        s(3, ECN_ECT0),
        s(4, ECN_ECT0),
    ];
    let before = *ep.counters();
    let p = poll_burst(&mut ep, burst.clone());
    let c = ep.counters();
    assert_eq!(c.rx_ce_marked - before.rx_ce_marked, 1, "the mark was seen");
    assert_eq!(
        c.rx_predicted - before.rx_predicted,
        4,
        "all but the marked one"
    );
    assert_eq!(c.rx_coalesced - before.rx_coalesced, 2, "1 and 4");
    assert_eq!(p.offers.concat(), data);
    // The mark is echoed at once: an ACK with ECE (after the mark, so the burst's ACK).
    assert!(!p.sent.is_empty());
    assert!(
        p.sent
            .iter()
            .all(|s| s.h.flags == TcpFlags::ACK | TcpFlags::ECE),
        "{:?}",
        p.sent
    );
    assert_eq!(p.sent.last().unwrap().h.ack.0, y + 5001);
    assert!(ep.tcb(key).unwrap().ecn_echo_pending());
    // Exactly as frame by frame without GRO.
    let mut twin = ecn_endpoint(EcnMode::On);
    let (twin_key, ..) = establish_ecn(&mut twin, T0);
    assert_eq!(twin_key, key);
    matches_twin(&ep, &p, &mut twin, key, &burst, usize::MAX, T0);
    assert_eq!(twin.counters().rx_ce_marked, 1);

    // A run that begins with a marked frame is no run: prediction leaves it to the state
    // machine, which echoes it; the unmarked frame after it starts a run.
    let mut ep = ecn_endpoint(EcnMode::On);
    let (_, port, iss, y) = establish_ecn(&mut ep, T0);
    let s = |k: usize, tos: u8| (marked_segment(port, iss, y, &data, k, tos), GOOD);
    let before = *ep.counters();
    let p = poll_burst(&mut ep, vec![s(0, ECN_CE), s(1, ECN_ECT0), s(2, ECN_ECT0)]);
    let c = ep.counters();
    assert_eq!(c.rx_ce_marked - before.rx_ce_marked, 1);
    assert_eq!(c.rx_predicted - before.rx_predicted, 2);
    assert_eq!(c.rx_coalesced - before.rx_coalesced, 1);
    assert!(p.sent.iter().any(|s| s.h.flags.contains(TcpFlags::ECE)));
}
