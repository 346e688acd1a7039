//! Tests of the in-memory link: delivery, timing, each impairment, offload behaviour and
//! determinism. Frames are hand-built (`testutil`).

use super::*;
use crate::device::ChecksumState;
use crate::softnic::verify_rx;
use crate::testutil::{self, TcpSpec};

const MTU: u16 = 1500;

/// A frame numbered `n` (in the TCP sequence number), `len` bytes of payload, checksums valid.
fn numbered(n: u32, len: usize) -> Vec<u8> {
    let spec = TcpSpec {
        seq: n,
        ..TcpSpec::default()
    };
    testutil::tcp_frame(&spec, &testutil::pattern(len, n as u8), true)
}

fn number_of(frame: &[u8]) -> u32 {
    u32::from_be_bytes([frame[38], frame[39], frame[40], frame[41]])
}

fn send(end: &mut LinkEnd, frame: &[u8], meta: TxMeta) -> Option<(usize, TxMeta)> {
    end.transmit(|buf| {
        buf[..frame.len()].copy_from_slice(frame);
        Some((frame.len(), meta))
    })
}

fn receive_all(end: &mut LinkEnd) -> Vec<(Vec<u8>, RxMeta)> {
    let mut got = Vec::new();
    while end.rx_burst(64, |f, m| got.push((f.to_vec(), m))) > 0 {}
    got
}

fn link(config: LinkConfig) -> (SimClock, LinkEnd, LinkEnd) {
    let clock = SimClock::new();
    let (a, b) = pair(&config, &clock).expect("valid config");
    (clock, a, b)
}

fn plain() -> LinkConfig {
    LinkConfig::new(OffloadCaps::none(MTU + 14))
}

#[test]
fn perfect_link_delivers_in_order_byte_exact_both_ways() {
    let (_, mut a, mut b) = link(plain());
    let frames: Vec<_> = (0..100).map(|n| numbered(n, 100 + n as usize)).collect();
    for f in &frames {
        assert!(send(&mut a, f, TxMeta::NONE).is_some());
    }
    send(&mut b, &frames[7], TxMeta::NONE).unwrap();
    let got = receive_all(&mut b);
    assert_eq!(got.len(), 100);
    for (f, (g, meta)) in frames.iter().zip(&got) {
        assert_eq!(f, g);
        assert_eq!(*meta, RxMeta::UNVERIFIED, "no rx offload: nothing verified");
    }
    assert_eq!(
        receive_all(&mut a),
        vec![(frames[7].clone(), RxMeta::UNVERIFIED)]
    );
    let c = a.sent_counters();
    assert_eq!(
        (c.requests, c.frames, c.delivered, c.lost),
        (100, 100, 100, 0)
    );
    assert_eq!(
        c.delivered_bytes,
        frames.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(b.received_counters(), c);
}

#[test]
fn burst_limit_is_respected() {
    let (_, mut a, mut b) = link(plain());
    for n in 0..10 {
        send(&mut a, &numbered(n, 10), TxMeta::NONE).unwrap();
    }
    assert_eq!(b.rx_burst(4, |_, _| {}), 4);
    assert_eq!(b.pending(), 6);
    assert_eq!(b.rx_burst(100, |_, _| {}), 6);
    assert_eq!(b.rx_burst(100, |_, _| {}), 0);
}

#[test]
fn delay_holds_frames_until_their_time() {
    let config = plain().impaired(Impairments {
        delay_us: 500,
        ..Impairments::NONE
    });
    let (clock, mut a, mut b) = link(config);
    clock.set_us(1000);
    send(&mut a, &numbered(1, 10), TxMeta::NONE).unwrap();
    assert_eq!(b.next_arrival_us(), Some(1500));
    clock.set_us(1499);
    assert_eq!(b.rx_burst(8, |_, _| {}), 0, "not before the delay");
    clock.set_us(1500);
    assert_eq!(b.rx_burst(8, |_, _| {}), 1);
    assert_eq!(b.next_arrival_us(), None);
}

#[test]
fn rate_limit_spaces_frames_and_a_full_queue_drops_at_the_tail() {
    let mut config = plain().impaired(Impairments {
        rate_bits_per_s: Some(1_000_000),
        ..Impairments::NONE
    });
    config.queue_frames = 5;
    let (clock, mut a, mut b) = link(config);
    // 1250-byte frames at 1 Mbit/s: 10 ms each.
    let frame = {
        let mut f = numbered(0, 1250 - 54);
        f.truncate(1250);
        f
    };
    assert_eq!(frame.len(), 1250);
    for _ in 0..8 {
        send(&mut a, &frame, TxMeta::NONE).unwrap();
    }
    assert_eq!(a.sent_counters().queue_drops, 3);
    let mut arrivals = Vec::new();
    while let Some(t) = b.next_arrival_us() {
        clock.set_us(t);
        b.rx_burst(1, |_, _| {});
        arrivals.push(t);
    }
    assert_eq!(arrivals, vec![10_000, 20_000, 30_000, 40_000, 50_000]);
}

#[test]
fn uniform_loss_rate_is_close_to_configured() {
    let config = plain().impaired(Impairments {
        loss: Loss::Uniform(0.05),
        ..Impairments::NONE
    });
    let (_, mut a, mut b) = link(config);
    for n in 0..20_000 {
        send(&mut a, &numbered(n, 0), TxMeta::NONE).unwrap();
        b.rx_burst(16, |_, _| {});
    }
    let c = a.sent_counters();
    assert_eq!(c.lost + c.delivered, 20_000);
    // 5 % of 20000 = 1000, standard deviation ~31.
    assert!((850..1150).contains(&c.lost), "lost {}", c.lost);
}

/// Lengths of runs of consecutive lost frames, from the numbers that arrived.
fn loss_runs(received: &[u32], sent: u32) -> Vec<u32> {
    let mut runs = Vec::new();
    let mut expected = 0;
    for &n in received.iter().chain(std::iter::once(&sent)) {
        if n > expected {
            runs.push(n - expected);
        }
        expected = n + 1;
    }
    runs
}

#[test]
fn gilbert_elliott_loss_comes_in_bursts() {
    let sent = 50_000u32;
    let run = |loss: Loss| {
        let (_, mut a, mut b) = link(plain().impaired(Impairments {
            loss,
            ..Impairments::NONE
        }));
        let mut got = Vec::new();
        for n in 0..sent {
            send(&mut a, &numbered(n, 0), TxMeta::NONE).unwrap();
            b.rx_burst(16, |f, _| got.push(number_of(f)));
        }
        loss_runs(&got, sent)
    };
    let bursty = run(Loss::bursty(0.02, 8.0));
    let uniform = run(Loss::Uniform(0.02));
    let lost = |runs: &[u32]| runs.iter().sum::<u32>();
    let mean = |runs: &[u32]| f64::from(lost(runs)) / runs.len() as f64;
    // Long-run rate near 2 % in both.
    for runs in [&bursty, &uniform] {
        assert!((700..1300).contains(&lost(runs)), "lost {}", lost(runs));
    }
    assert!(
        (6.0..10.0).contains(&mean(&bursty)),
        "mean burst {}",
        mean(&bursty)
    );
    assert!(
        mean(&uniform) < 1.2,
        "uniform loss is not bursty: {}",
        mean(&uniform)
    );
}

#[test]
fn duplication_delivers_extra_copies() {
    let (_, mut a, mut b) = link(plain().impaired(Impairments {
        duplicate: 0.1,
        ..Impairments::NONE
    }));
    let mut got = Vec::new();
    for n in 0..2000 {
        send(&mut a, &numbered(n, 20), TxMeta::NONE).unwrap();
        b.rx_burst(16, |f, _| got.push(number_of(f)));
    }
    let c = a.sent_counters();
    assert!((120..280).contains(&c.duplicated), "{}", c.duplicated);
    assert_eq!(got.len() as u64, 2000 + c.duplicated);
    let mut unique = got.clone();
    unique.dedup();
    assert_eq!(
        unique,
        (0..2000).collect::<Vec<_>>(),
        "copies arrive next to their original"
    );
}

#[test]
fn reordering_lets_later_frames_overtake() {
    let (clock, mut a, mut b) = link(plain().impaired(Impairments {
        reorder: 0.1,
        reorder_hold_us: 30,
        delay_us: 10,
        ..Impairments::NONE
    }));
    let mut got = Vec::new();
    for n in 0..1000 {
        send(&mut a, &numbered(n, 0), TxMeta::NONE).unwrap();
        clock.advance_us(10);
        b.rx_burst(16, |f, _| got.push(number_of(f)));
    }
    clock.advance_us(100);
    b.rx_burst(1000, |f, _| got.push(number_of(f)));
    let out_of_order = got.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(out_of_order > 50, "{out_of_order} inversions");
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..1000).collect::<Vec<_>>(),
        "nothing lost or duplicated"
    );
    assert!(a.sent_counters().reordered > 50);
}

#[test]
fn every_corrupted_frame_fails_its_checksum() {
    for rx_checksum in [false, true] {
        let caps = OffloadCaps {
            rx_checksum,
            ..OffloadCaps::none(MTU + 14)
        };
        let (_, mut a, mut b) = link(LinkConfig::new(caps).impaired(Impairments {
            corrupt: 0.3,
            ..Impairments::NONE
        }));
        let originals: Vec<_> = (0..500)
            .map(|n| numbered(n, (n as usize * 7) % 1400))
            .collect();
        let mut corrupted = 0;
        for f in &originals {
            send(&mut a, f, TxMeta::NONE).unwrap();
            // No delay: the frame just sent is the one received.
            let received = b.rx_burst(1, |got, meta| {
                assert_eq!(got.len(), f.len());
                let differing_bits: u32 = f
                    .iter()
                    .zip(got.iter())
                    .map(|(x, y)| (x ^ y).count_ones())
                    .sum();
                assert!(differing_bits <= 1, "exactly one bit flips");
                let software = verify_rx(got);
                let caught = software.ip == ChecksumState::Bad || software.l4 == ChecksumState::Bad;
                if differing_bits > 0 {
                    corrupted += 1;
                    assert!(
                        caught,
                        "corruption not caught by the checksums: {software:?}"
                    );
                } else {
                    assert!(!caught);
                }
                if rx_checksum {
                    assert_eq!(meta, software, "the link reports what verification finds");
                } else {
                    assert_eq!(meta, RxMeta::UNVERIFIED);
                }
            });
            assert_eq!(received, 1);
        }
        assert_eq!(corrupted, a.sent_counters().corrupted);
        assert!((100..200).contains(&corrupted), "{corrupted}");
    }
}

fn offload_meta(mss: Option<u16>) -> TxMeta {
    TxMeta {
        checksum: true,
        tso_mss: mss,
        l2_len: 14,
        l3_len: 20,
        l4_len: 20,
    }
}

#[test]
fn checksum_offload_fills_checksums_for_a_peer_without_offload() {
    let mut config = LinkConfig::new(offload_caps(MTU, false));
    config.caps_b = OffloadCaps::none(MTU + 14);
    let (_, mut a, mut b) = link(config);
    let unsummed = testutil::tcp_frame(&TcpSpec::default(), &testutil::pattern(700, 1), false);
    send(&mut a, &unsummed, offload_meta(None)).unwrap();
    let got = receive_all(&mut b);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, RxMeta::UNVERIFIED);
    assert_eq!(
        verify_rx(&got[0].0),
        RxMeta {
            ip: ChecksumState::Good,
            l4: ChecksumState::Good
        }
    );
    assert_eq!(
        got[0].0,
        testutil::tcp_frame(&TcpSpec::default(), &testutil::pattern(700, 1), true)
    );
    // B cannot offload: a checksum request from B is refused and nothing is sent.
    assert_eq!(send(&mut b, &unsummed, offload_meta(None)), None);
    assert_eq!(
        b.last_offload_error(),
        Some(OffloadError::UnsupportedOffload)
    );
    assert_eq!(b.sent_counters().offload_errors, 1);
    assert_eq!(a.pending(), 0);
}

#[test]
fn tso_super_frames_are_segmented_or_delivered_whole() {
    let payload = testutil::pattern(10_000, 3);
    let spec = TcpSpec {
        flags: 0x18,
        ..TcpSpec::default()
    };
    let super_frame = testutil::tcp_frame(&spec, &payload, false);
    for delivery in [TsoDelivery::Segment, TsoDelivery::Whole] {
        let mut config = LinkConfig::new(offload_caps(MTU, true));
        config.tso_delivery = delivery;
        let (_, mut a, mut b) = link(config);
        send(&mut a, &super_frame, offload_meta(Some(1460))).unwrap();
        let got = receive_all(&mut b);
        let mut rebuilt = Vec::new();
        for (frame, meta) in &got {
            assert_eq!(
                *meta,
                RxMeta {
                    ip: ChecksumState::Good,
                    l4: ChecksumState::Good
                }
            );
            assert!(testutil::ipv4_header_ok(frame));
            rebuilt.extend_from_slice(&frame[54..]);
        }
        assert_eq!(rebuilt, payload, "{delivery:?}");
        match delivery {
            TsoDelivery::Segment => {
                assert_eq!(got.len(), 7);
                assert!(got.iter().all(|(f, _)| f.len() <= 1514));
                assert_eq!(got[6].0[47], 0x18, "PSH on the last segment");
                assert_eq!(got[0].0[47], 0x10, "no PSH before it");
            }
            TsoDelivery::Whole => {
                assert_eq!(got.len(), 1);
                assert_eq!(
                    usize::from(u16::from_be_bytes([got[0].0[16], got[0].0[17]])),
                    40 + 10_000
                );
            }
        }
        assert_eq!(a.sent_counters().requests, 1);
        assert_eq!(a.sent_counters().frames, got.len() as u64);
    }
}

#[test]
fn eliding_checksums_reports_intact_frames_good_and_corrupted_ones_bad() {
    let mut config = LinkConfig::new(offload_caps(MTU, true)).impaired(Impairments {
        corrupt: 0.2,
        ..Impairments::NONE
    });
    config.elide_offloaded_checksums = true;
    let (_, mut a, mut b) = link(config);
    let super_frame =
        testutil::tcp_frame(&TcpSpec::default(), &testutil::pattern(60_000, 9), false);
    let mut good = 0;
    let mut bad = 0;
    for _ in 0..20 {
        send(&mut a, &super_frame, offload_meta(Some(1460))).unwrap();
        b.rx_burst(usize::MAX, |frame, meta| {
            if meta.ip == ChecksumState::Bad || meta.l4 == ChecksumState::Bad {
                bad += 1;
            } else {
                assert_eq!(
                    meta,
                    RxMeta {
                        ip: ChecksumState::Good,
                        l4: ChecksumState::Good
                    }
                );
                assert_eq!(
                    &frame[50..52],
                    &[0, 0],
                    "checksum left as the engine wrote it"
                );
                good += 1;
            }
        });
    }
    assert_eq!(bad, a.sent_counters().corrupted);
    assert!(bad > 50 && good > 500, "{bad} bad, {good} good");
    let mut bad_config = LinkConfig::new(OffloadCaps::none(1514));
    bad_config.elide_offloaded_checksums = true;
    let err = pair(&bad_config, &SimClock::new()).unwrap_err();
    assert!(
        err.to_string()
            .contains("needs tx_checksum and rx_checksum"),
        "{err}"
    );
}

#[test]
fn the_same_seed_gives_the_same_run_and_another_seed_does_not() {
    let run = |seed: u64| {
        let mut config = plain().impaired(Impairments {
            loss: Loss::Uniform(0.1),
            duplicate: 0.05,
            reorder: 0.1,
            reorder_hold_us: 5,
            corrupt: 0.05,
            jitter_us: 3,
            ..Impairments::NONE
        });
        config.seed = seed;
        let (clock, mut a, mut b) = link(config);
        let mut got = Vec::new();
        for n in 0..500 {
            send(&mut a, &numbered(n, 64), TxMeta::NONE).unwrap();
            clock.advance_us(1);
            b.rx_burst(16, |f, _| got.push(f.to_vec()));
        }
        clock.advance_us(100);
        b.rx_burst(usize::MAX, |f, _| got.push(f.to_vec()));
        got
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn bad_configurations_are_refused_with_a_reason() {
    let mut config = plain().impaired(Impairments {
        loss: Loss::Uniform(1.5),
        ..Impairments::NONE
    });
    let err = pair(&config, &SimClock::new()).unwrap_err();
    assert!(err.to_string().contains("probability 1.5"), "{err}");
    config = plain();
    config.queue_frames = 0;
    assert!(pair(&config, &SimClock::new()).is_err());
    let mut caps = offload_caps(MTU, true);
    if let Some(tso) = caps.tso.as_mut() {
        tso.max_payload = 65536;
    }
    config = LinkConfig::new(caps);
    config.tso_delivery = TsoDelivery::Whole;
    let err = pair(&config, &SimClock::new()).unwrap_err();
    assert!(err.to_string().contains("one IPv4 packet"), "{err}");
}

#[test]
fn the_other_end_is_usable_from_inside_a_receive_callback() {
    // A driver running both engines may, while B handles a frame, send on A (both ends share
    // the wire state): the wire must not be borrowed during the callback.
    let (_, mut a, mut b) = link(plain());
    send(&mut a, &numbered(1, 10), TxMeta::NONE).unwrap();
    let mut sent_from_callback = false;
    b.rx_burst(1, |frame, _| {
        sent_from_callback = send(&mut a, frame, TxMeta::NONE).is_some();
        assert_eq!(a.sent_counters().requests, 2);
    });
    assert!(sent_from_callback);
    assert_eq!(b.pending(), 1);
}

#[test]
fn peek_shows_the_frames_due_in_order_without_taking_them() {
    let clock = SimClock::new();
    let config = LinkConfig::new(OffloadCaps::none(1514)).impaired(Impairments {
        delay_us: 10,
        ..Impairments::NONE
    });
    let (mut a, mut b) = pair(&config, &clock).unwrap();
    for i in 0..3u8 {
        a.transmit(|buf| {
            buf[..60].fill(i);
            Some((60, TxMeta::NONE))
        });
        clock.advance_us(5);
    }
    // At 15 us the first two frames (sent at 0 and 5 us) are due, the third is not.
    let mut seen = Vec::new();
    b.peek_rx(8, |f| seen.push(f[0]));
    assert_eq!(seen, [0, 1]);
    seen.clear();
    b.peek_rx(1, |f| seen.push(f[0]));
    assert_eq!(seen, [0], "at most `max`");
    assert_eq!(b.pending(), 3, "peeking takes nothing");
    let mut got = Vec::new();
    b.rx_burst(8, |f, _| got.push(f[0]));
    assert_eq!(got, [0, 1]);
}

#[test]
fn a_batch_stops_at_the_first_frame_the_link_does_not_take() {
    // Frame 3 asks for checksum offload the sending end does not have: frames 0-2 go, 3 is
    // refused (as `transmit` refuses it), nothing after it is offered.
    let (_, mut a, mut b) = link(plain());
    let frames: Vec<_> = (0..6).map(|n| numbered(n, 200)).collect();
    let mut offered = Vec::new();
    let sent = a.transmit_batch(6, |i, buf| {
        offered.push(i);
        buf[..frames[i].len()].copy_from_slice(&frames[i]);
        let meta = if i == 3 {
            TxMeta {
                checksum: true,
                ..TxMeta::NONE
            }
        } else {
            TxMeta::NONE
        };
        Some((frames[i].len(), meta))
    });
    assert_eq!(sent, 3);
    assert_eq!(offered, [0, 1, 2, 3]);
    assert_eq!(
        a.last_offload_error(),
        Some(OffloadError::UnsupportedOffload)
    );
    let got = receive_all(&mut b);
    assert_eq!(got.len(), 3);
    for (f, (g, _)) in frames.iter().zip(&got) {
        assert_eq!(f, g);
    }
    assert_eq!(a.sent_counters().offload_errors, 1);

    // A declined frame stops the batch too, and its buffer goes back: a full batch follows.
    let sent = a.transmit_batch(4, |i, buf| {
        (i < 2).then(|| {
            buf[..frames[i].len()].copy_from_slice(&frames[i]);
            (frames[i].len(), TxMeta::NONE)
        })
    });
    assert_eq!(sent, 2);
    let sent = a.transmit_batch(6, |i, buf| {
        buf[..frames[i].len()].copy_from_slice(&frames[i]);
        Some((frames[i].len(), TxMeta::NONE))
    });
    assert_eq!(sent, 6);
    assert_eq!(receive_all(&mut b).len(), 8);
}

#[test]
fn a_full_queue_drops_the_rest_of_a_batch_as_it_drops_single_frames() {
    // Queue of 4: the batch's frames leave (the wire took them) and the queue drops what it
    // cannot hold, counted, exactly as for one `transmit` per frame.
    let mut config = plain();
    config.queue_frames = 4;
    let (_, mut a, mut b) = link(config);
    let frame = numbered(1, 100);
    let sent = a.transmit_batch(10, |_, buf| {
        buf[..frame.len()].copy_from_slice(&frame);
        Some((frame.len(), TxMeta::NONE))
    });
    assert_eq!(sent, 10);
    assert_eq!(a.sent_counters().queue_drops, 6);
    assert_eq!(receive_all(&mut b).len(), 4);
}

/// `numbered(n, len)` with ECN field `ecn` in its IPv4 header (checksum recomputed).
fn numbered_ecn(n: u32, len: usize, ecn: u8) -> Vec<u8> {
    let mut f = numbered(n, len);
    f[15] = (f[15] & !0b11) | ecn;
    f[24..26].fill(0);
    let sum = crate::checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&sum.to_be_bytes());
    f
}

#[test]
fn ce_marks_only_ecn_capable_frames_and_keeps_their_checksums() {
    let config = plain().impaired(Impairments {
        ce_mark: 1.0,
        ..Impairments::NONE
    });
    let (_, mut a, mut b) = link(config);
    // Not ECN-capable, ECT(1), ECT(0), already CE; and a DSCP that must survive.
    let frames = [
        numbered_ecn(0, 100, 0b00),
        numbered_ecn(1, 100, 0b01),
        numbered_ecn(2, 100, 0b10),
        numbered_ecn(3, 100, 0b11),
        numbered_ecn(4, 100, 0b10 | 0xB8),
    ];
    for f in &frames {
        send(&mut a, f, TxMeta::NONE).unwrap();
    }
    let got = receive_all(&mut b);
    assert_eq!(got.len(), 5);
    let ecn: Vec<u8> = got.iter().map(|(f, _)| f[15]).collect();
    assert_eq!(ecn, [0b00, 0b11, 0b11, 0b11, 0xB8 | 0b11]);
    for (f, _) in &got {
        assert_eq!(
            verify_rx(f).ip,
            ChecksumState::Good,
            "header checksum updated"
        );
        assert_eq!(verify_rx(f).l4, ChecksumState::Good);
    }
    // Only the TOS byte and the header checksum changed.
    for ((sent, _), orig) in got.iter().zip(&frames) {
        let differ: Vec<usize> = (0..sent.len()).filter(|&i| sent[i] != orig[i]).collect();
        assert!(
            differ.iter().all(|i| [15, 24, 25].contains(i)),
            "{differ:?}"
        );
    }
    let c = a.sent_counters();
    assert_eq!((c.ce_marked, c.lost, c.delivered), (3, 0, 5));

    // At a rate, about that share of ECN-capable frames, seeded (same run, same marks).
    let marks = |seed: u64| {
        let mut config = plain().impaired(Impairments {
            ce_mark: 0.1,
            ..Impairments::NONE
        });
        config.seed = seed;
        let (_, mut a, mut b) = link(config);
        for n in 0..2000 {
            send(&mut a, &numbered_ecn(n, 10, 0b10), TxMeta::NONE).unwrap();
            send(&mut a, &numbered_ecn(n, 10, 0b00), TxMeta::NONE).unwrap();
        }
        let got = receive_all(&mut b);
        assert!(
            got.iter()
                .all(|(f, _)| f[15] != 0b11 || number_of(f) < 2000),
            "only ECT frames"
        );
        let marked: Vec<u32> = got
            .iter()
            .filter(|(f, _)| f[15] == 0b11)
            .map(|(f, _)| number_of(f))
            .collect();
        assert_eq!(marked.len() as u64, a.sent_counters().ce_marked);
        assert!(
            got.iter().filter(|(f, _)| f[15] == 0b00).count() == 2000,
            "non-ECT frames never marked"
        );
        marked
    };
    let first = marks(7);
    assert!((150..250).contains(&first.len()), "{} of 2000", first.len());
    assert_eq!(first, marks(7), "seeded");
    assert_ne!(first, marks(8));
}

#[test]
fn threshold_marking_marks_ecn_capable_frames_behind_k_others() {
    // 100-byte payload frames (154 bytes) at 1.232 Mbit/s: 1000 us each. K = 3.
    let config = plain().impaired(Impairments {
        rate_bits_per_s: Some(1_232_000),
        ce_threshold_frames: Some(3),
        delay_us: 50,
        ..Impairments::NONE
    });
    let (clock, mut a, mut b) = link(config);
    let frame = |n: u32, ecn: u8| numbered_ecn(n, 100, ecn);
    assert_eq!(frame(0, 0).len(), 154);
    // Six ECT(0) frames at once: they find 0, 1, 2, 3, 4, 5 frames ahead of them.
    for n in 0..6 {
        send(&mut a, &frame(n, 0b10), TxMeta::NONE).unwrap();
    }
    // A frame that is not ECN-capable behind them is never marked.
    send(&mut a, &frame(6, 0b00), TxMeta::NONE).unwrap();
    clock.advance_us(10_000);
    let got = receive_all(&mut b);
    let ecn: Vec<u8> = got.iter().map(|(f, _)| f[15] & 3).collect();
    assert_eq!(ecn, [0b10, 0b10, 0b10, 0b11, 0b11, 0b11, 0b00]);
    for (f, _) in &got {
        assert_eq!(verify_rx(f).ip, ChecksumState::Good);
    }
    let c = a.sent_counters();
    assert_eq!(c.ce_marked, 3);
    assert_eq!(
        (
            c.bottleneck_arrivals,
            c.bottleneck_depth_sum,
            c.bottleneck_depth_peak
        ),
        (7, 21, 6)
    );
    assert_eq!(c.mean_bottleneck_depth(), 3.0);
    // The queue drained: the next frame finds it empty (frames on the wire, within their
    // propagation delay, are not at the bottleneck) and is not marked.
    send(&mut a, &frame(7, 0b10), TxMeta::NONE).unwrap();
    clock.advance_us(1_010);
    send(&mut a, &frame(8, 0b10), TxMeta::NONE).unwrap();
    clock.advance_us(5_000);
    let got = receive_all(&mut b);
    assert!(got.iter().all(|(f, _)| f[15] & 3 == 0b10), "{got:?}");
    let c = a.sent_counters();
    assert_eq!(
        (c.ce_marked, c.bottleneck_arrivals, c.bottleneck_depth_peak),
        (3, 9, 6)
    );
    assert_eq!(c.bottleneck_depth_sum, 21, "both found it empty");
}

#[test]
fn the_bit_rate_is_kept_to_the_nanosecond() {
    // 1514-byte frames at 10 Gbit/s take 1.2112 us each: 1000 of them leave over 1211.2 us
    // (a per-frame microsecond would make it 2000 us, a 6 Gbit/s link).
    let config = plain().impaired(Impairments {
        rate_bits_per_s: Some(10_000_000_000),
        ..Impairments::NONE
    });
    let mut config = config;
    config.queue_frames = 2000;
    let (clock, mut a, mut b) = link(config);
    for n in 0..1000 {
        send(&mut a, &numbered(n, 1460), TxMeta::NONE).unwrap();
    }
    assert_eq!(numbered(0, 1460).len(), 1514);
    clock.advance_us(1211);
    assert_eq!(
        receive_all(&mut b).len(),
        999,
        "the last frame's last bit is at 1211.2 us"
    );
    clock.advance_us(1);
    assert_eq!(receive_all(&mut b).len(), 1);
    assert_eq!(a.sent_counters().bottleneck_depth_peak, 999);
}

#[test]
fn threshold_marking_needs_a_rate() {
    let config = plain().impaired(Impairments {
        ce_threshold_frames: Some(20),
        ..Impairments::NONE
    });
    let Err(err) = pair(&config, &SimClock::new()) else {
        panic!("a threshold without a rate was accepted");
    };
    assert!(err.to_string().contains("rate_bits_per_s"), "{err}");
}
