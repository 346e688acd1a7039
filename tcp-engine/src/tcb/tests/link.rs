//! Two `Tcb`s joined by an in-memory segment link with seeded impairments: loss (uniform and
//! Gilbert-Elliott bursts), duplication, reordering, delay with jitter, a bottleneck rate with
//! a drop-tail queue, and a TSO "device" that splits super-segments like the NIC would.
//! Corruption is loss at this level (a corrupted frame fails its checksum in `wire`).
//!
//! Every run is deterministic: same seed, same segments, same simulated times.

use super::*;
use crate::time::Duration;
use std::format;
use std::string::String;

/// xorshift64*: small, seeded, good enough for impairments.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with probability `ppm` per million.
    fn chance(&mut self, ppm: u32) -> bool {
        ppm > 0 && (self.next() % 1_000_000) < u64::from(ppm)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// Impairments of one direction.
#[derive(Clone, Copy, Debug)]
pub(super) struct Impair {
    /// Uniform loss per segment, parts per million.
    pub loss_ppm: u32,
    /// Gilbert-Elliott bursts: probability to enter and to leave the bad state (per segment);
    /// every segment in the bad state is lost.
    pub burst: Option<(u32, u32)>,
    pub dup_ppm: u32,
    /// Segments held back by up to `reorder_by` extra.
    pub reorder_ppm: u32,
    pub reorder_by: Duration,
    pub delay: Duration,
    pub jitter: Duration,
    /// Bottleneck in bytes per second (0: infinite).
    pub rate: u64,
    /// Drop-tail queue in bytes at the bottleneck.
    pub queue: u64,
}

impl Impair {
    pub fn clean() -> Impair {
        Impair {
            loss_ppm: 0,
            burst: None,
            dup_ppm: 0,
            reorder_ppm: 0,
            reorder_by: Duration::ZERO,
            delay: Duration::from_micros(50),
            jitter: Duration::ZERO,
            rate: 1_250_000_000,
            queue: 4 << 20,
        }
    }
}

struct Pipe {
    imp: Impair,
    rng: Rng,
    bad: bool,
    busy_until: Instant,
    queue: Vec<(Instant, u64, Seg)>,
    order: u64,
    dropped: u64,
}

impl Pipe {
    fn new(imp: Impair, seed: u64) -> Pipe {
        Pipe {
            imp,
            rng: Rng::new(seed),
            bad: false,
            busy_until: Instant::ZERO,
            queue: Vec::new(),
            order: 0,
            dropped: 0,
        }
    }

    /// The device: splits a TSO super-segment as the NIC does (FIN and PSH on the last piece).
    fn send(&mut self, now: Instant, s: Seg) {
        match s.tso {
            Some(mss) if s.data.len() > usize::from(mss) => {
                let pieces: Vec<&[u8]> = s.data.chunks(usize::from(mss)).collect();
                let n = pieces.len();
                for (i, piece) in pieces.into_iter().enumerate() {
                    let mut h = s.h;
                    h.seq = s.h.seq + (i * usize::from(mss)) as u32;
                    if i + 1 != n {
                        h.flags = h.flags.without(TcpFlags::FIN | TcpFlags::PSH);
                    }
                    self.wire(
                        now,
                        Seg {
                            h,
                            data: piece.to_vec(),
                            tso: None,
                        },
                    );
                }
            }
            _ => self.wire(now, s),
        }
    }

    fn wire(&mut self, now: Instant, s: Seg) {
        let bytes = 54 + s.data.len() as u64;
        // Bottleneck: serialization and a drop-tail queue.
        let start = self.busy_until.max(now);
        if self.imp.rate > 0 {
            let backlog = (start - now).micros() * self.imp.rate / 1_000_000;
            if backlog > self.imp.queue {
                self.dropped += 1;
                return;
            }
            self.busy_until = start + Duration::from_micros(bytes * 1_000_000 / self.imp.rate);
        } else {
            self.busy_until = start;
        }
        if let Some((enter, leave)) = self.imp.burst {
            if self.bad {
                if self.rng.chance(leave) {
                    self.bad = false;
                }
            } else if self.rng.chance(enter) {
                self.bad = true;
            }
            if self.bad {
                self.dropped += 1;
                return;
            }
        }
        if self.rng.chance(self.imp.loss_ppm) {
            self.dropped += 1;
            return;
        }
        let copies = if self.rng.chance(self.imp.dup_ppm) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut at = self.busy_until + self.imp.delay;
            at += Duration::from_micros(self.rng.below(self.imp.jitter.micros() + 1));
            if self.rng.chance(self.imp.reorder_ppm) {
                at += Duration::from_micros(self.rng.below(self.imp.reorder_by.micros() + 1));
            }
            self.order += 1;
            self.queue.push((at, self.order, s.clone()));
        }
    }

    fn next_time(&self) -> Option<Instant> {
        self.queue.iter().map(|e| e.0).min()
    }

    fn due(&mut self, now: Instant) -> Vec<Seg> {
        let mut due: Vec<(Instant, u64, Seg)> = Vec::new();
        let mut i = 0;
        while i < self.queue.len() {
            if self.queue[i].0 <= now {
                due.push(self.queue.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|e| (e.0, e.1));
        due.into_iter().map(|e| e.2).collect()
    }
}

fn byte_at(stream: u64, i: u64) -> u8 {
    let x = (i ^ stream.wrapping_mul(0x9E37_79B9)).wrapping_mul(0x2545_F491_4F6C_DD1D);
    (x >> 56) as u8
}

/// One direction of application data: what was written, what arrived and was verified.
struct Stream {
    id: u64,
    total: u64,
    written: u64,
    received: u64,
    closed: bool,
    peer_closed: bool,
}

impl Stream {
    fn write(&mut self, h: &mut Host) {
        let mut chunk = [0u8; 4096];
        while self.written < self.total && h.snd.free() > 0 {
            let n = (self.total - self.written)
                .min(chunk.len() as u64)
                .min(h.snd.free() as u64) as usize;
            for (k, b) in chunk[..n].iter_mut().enumerate() {
                *b = byte_at(self.id, self.written + k as u64);
            }
            let w = h.write(&chunk[..n]);
            self.written += w as u64;
        }
        if self.written == self.total && !self.closed && h.tcb.state().is_synchronized() {
            h.tcb.close(&h.snd);
            self.closed = true;
        }
    }

    fn read(&mut self, h: &mut Host) -> Result<(), String> {
        let mut buf = [0u8; 8192];
        loop {
            let n = h.rcv.read(&mut buf);
            if n == 0 {
                return Ok(());
            }
            for (k, &b) in buf[..n].iter().enumerate() {
                let at = self.received + k as u64;
                if b != byte_at(self.id, at) {
                    return Err(format!("stream {} corrupt at byte {at}", self.id));
                }
            }
            self.received += n as u64;
            if self.received > self.total {
                return Err(format!("stream {} longer than sent", self.id));
            }
        }
    }
}

/// What a run measured.
#[derive(Debug)]
pub(super) struct Report {
    pub elapsed: Duration,
    pub a: TcbCounters,
    pub b: TcbCounters,
    pub dropped: (u64, u64),
}

/// Connects a client (`cfg_a`) to a listener (`cfg_b`), sends `ab` bytes one way and `ba`
/// the other, closes both, and returns when everything arrived byte-exact and both sides are
/// CLOSED or in TIME-WAIT. Panics with a diagnosis when the simulated `limit` passes.
#[allow(clippy::too_many_arguments)]
pub(super) fn transfer(
    cfg_a: TcbConfig,
    cfg_b: TcbConfig,
    bufs: (usize, usize),
    imp_ab: Impair,
    imp_ba: Impair,
    ab: u64,
    ba: u64,
    seed: u64,
    limit: Duration,
) -> Report {
    let mut a = Host::client(cfg_a, 0x1000_0000 ^ seed as u32, bufs.0, bufs.1);
    let mut b = Host::new(cfg_b, bufs.0, bufs.1);
    let start = a.now;
    let mut p_ab = Pipe::new(imp_ab, seed ^ 0xA5);
    let mut p_ba = Pipe::new(imp_ba, seed ^ 0x5A);
    let mut s_ab = Stream {
        id: 1,
        total: ab,
        written: 0,
        received: 0,
        closed: false,
        peer_closed: false,
    };
    let mut s_ba = Stream {
        id: 2,
        total: ba,
        written: 0,
        received: 0,
        closed: false,
        peer_closed: false,
    };
    let mut now = a.now;
    let done = |a: &Host, b: &Host, s_ab: &Stream, s_ba: &Stream| {
        let finished = |s: State| matches!(s, State::Closed | State::TimeWait);
        s_ab.received == ab
            && s_ba.received == ba
            && s_ab.peer_closed
            && s_ba.peer_closed
            && finished(a.tcb.state())
            && finished(b.tcb.state())
    };
    let mut steps = 0u64;
    let trace = std::env::var("LINK_TRACE").is_ok();
    while !done(&a, &b, &s_ab, &s_ba) {
        steps += 1;
        a.now = now;
        b.now = now;
        s_ab.write(&mut a);
        if b.tcb.state() != State::Listen {
            s_ba.write(&mut b);
        }
        for s in a.send_all() {
            p_ab.send(now, s);
        }
        for s in b.send_all() {
            p_ba.send(now, s);
        }
        let next = [
            p_ab.next_time(),
            p_ba.next_time(),
            a.tcb.next_deadline(),
            b.tcb.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else {
            panic!(
                "stalled: nothing in flight and no deadline\nA {:#?}\nB {:#?}",
                a.tcb, b.tcb
            );
        };
        now = next.max(now);
        if now - start > limit || steps > 50_000_000 {
            panic!(
                "transfer not done after {:?} simulated: ab {}/{} ba {}/{}\nA {:#?}\nB {:#?}",
                now - start,
                s_ab.received,
                ab,
                s_ba.received,
                ba,
                a.tcb,
                b.tcb
            );
        }
        a.now = now;
        b.now = now;
        for s in p_ab.due(now) {
            let base = (0x1000_0000u32 ^ seed as u32).wrapping_add(1);
            for (k, &byte) in s.data.iter().enumerate() {
                let off = s.h.seq.0.wrapping_sub(base) as u64 + k as u64;
                assert_eq!(
                    byte,
                    byte_at(1, off),
                    "sender sent a wrong byte at {off} in {:?} (data len {})",
                    s.h,
                    s.data.len()
                );
            }
            if trace {
                std::println!(
                    "{:?} A->B seq {} ack {} {:?} len {} ts {:?}",
                    now,
                    s.h.seq,
                    s.h.ack,
                    s.h.flags,
                    s.data.len(),
                    s.h.options.timestamps
                );
            }
            let r = b.deliver_seg(&s);
            if trace {
                std::println!(
                    "   B: {:?} rcv_nxt {} state {:?} reasm {:?}",
                    r,
                    b.tcb.rcv_nxt(),
                    b.tcb.state(),
                    b.loss.reasm.ranges()
                );
            }
            if r.events.contains(Events::SYN_TO_LISTENER) {
                b.tcb = Tcb::accept(&b.cfg, now, &s.h, SeqNum(0x7000_0000 ^ seed as u32), &b.rcv)
                    .unwrap();
            }
            if r.events.contains(Events::PEER_CLOSED) {
                s_ab.peer_closed = true;
            }
            if let Err(e) = s_ab.read(&mut b) {
                panic!("{e}");
            }
        }
        for s in p_ba.due(now) {
            if trace {
                std::println!(
                    "{:?} B->A seq {} ack {} {:?} len {} ts {:?}",
                    now,
                    s.h.seq,
                    s.h.ack,
                    s.h.flags,
                    s.data.len(),
                    s.h.options.timestamps
                );
            }
            let r = a.deliver_seg(&s);
            if trace {
                std::println!("   A: {:?} snd_una {}", r, a.tcb.snd_una());
            }
            if r.events.contains(Events::PEER_CLOSED) {
                s_ba.peer_closed = true;
            }
            if let Err(e) = s_ba.read(&mut a) {
                panic!("{e}");
            }
        }
        for h in [&a, &b] {
            assert_ne!(
                h.tcb.close_reason(),
                CloseReason::TimedOut,
                "connection timed out: {:#?}",
                h.tcb
            );
        }
    }
    Report {
        elapsed: now - start,
        a: *a.tcb.counters(),
        b: *b.tcb.counters(),
        dropped: (p_ab.dropped, p_ba.dropped),
    }
}

const MIB: u64 = 1 << 20;

fn lossy(loss_ppm: u32) -> Impair {
    Impair {
        loss_ppm,
        dup_ppm: 2_000,
        reorder_ppm: 10_000,
        reorder_by: Duration::from_micros(300),
        jitter: Duration::from_micros(20),
        ..Impair::clean()
    }
}

fn fast() -> TcbConfig {
    TcbConfig {
        rto_min: Duration::from_millis(5),
        rto_initial: Duration::from_millis(50),
        ..TcbConfig::RFC
    }
}

#[test]
fn clean_link_no_spurious_retransmissions() {
    for cfg in [TcbConfig::RFC, plain()] {
        let r = transfer(
            cfg,
            cfg,
            (256 << 10, 256 << 10),
            Impair::clean(),
            Impair::clean(),
            4 * MIB,
            4 * MIB,
            1,
            Duration::from_secs(60),
        );
        std::println!("clean: {r:?}");
        assert_eq!(r.dropped, (0, 0));
        for c in [r.a, r.b] {
            assert_eq!(
                c.retransmitted_segments, 0,
                "spurious retransmission: {r:?}"
            );
            assert_eq!(c.timeouts, 0);
            assert_eq!(c.dropped_segments, 0);
        }
    }
}

#[test]
fn one_percent_loss_both_directions_all_option_sets() {
    let sets = [
        ("ws+ts+sack", fast()),
        (
            "no options",
            TcbConfig {
                window_scaling: false,
                timestamps: false,
                sack: false,
                ..fast()
            },
        ),
        (
            "sack only",
            TcbConfig {
                window_scaling: false,
                timestamps: false,
                ..fast()
            },
        ),
        (
            "ts+ws, no sack",
            TcbConfig {
                sack: false,
                ..fast()
            },
        ),
        (
            "ws+ts+sack, CUBIC",
            fast().with_congestion(CongestionControl::Cubic),
        ),
        (
            "no options, CUBIC",
            TcbConfig {
                window_scaling: false,
                timestamps: false,
                sack: false,
                ..fast().with_congestion(CongestionControl::Cubic)
            },
        ),
    ];
    for (i, (name, cfg)) in sets.into_iter().enumerate() {
        let r = transfer(
            cfg,
            cfg,
            (128 << 10, 128 << 10),
            lossy(10_000),
            lossy(10_000),
            3 * MIB,
            3 * MIB,
            100 + i as u64,
            Duration::from_secs(600),
        );
        std::println!("{name}: {r:?}");
        assert!(r.dropped.0 > 0 && r.dropped.1 > 0, "the link did drop");
        assert!(r.a.retransmitted_segments > 0 && r.b.retransmitted_segments > 0);
    }
}

#[test]
fn burst_loss_both_directions() {
    let burst = Impair {
        burst: Some((8_000, 400_000)),
        ..lossy(0)
    };
    for (i, cfg) in [
        fast(),
        TcbConfig {
            sack: false,
            ..fast()
        },
    ]
    .into_iter()
    .enumerate()
    {
        let r = transfer(
            cfg,
            cfg,
            (128 << 10, 128 << 10),
            burst,
            burst,
            2 * MIB,
            2 * MIB,
            7 + i as u64,
            Duration::from_secs(600),
        );
        std::println!("burst {i}: {r:?}");
        assert!(r.dropped.0 > 10);
    }
}

#[test]
fn congestion_at_a_bottleneck_is_survived() {
    // 100 Mbit/s, 32 KiB of queue, 1 ms delay: cwnd grows until the queue overflows.
    let imp = Impair {
        rate: 12_500_000,
        queue: 32 << 10,
        delay: Duration::from_millis(1),
        ..Impair::clean()
    };
    for cfg in [
        fast(),
        TcbConfig {
            sack: false,
            ..fast()
        },
        fast().with_congestion(CongestionControl::Cubic),
    ] {
        let r = transfer(
            cfg,
            cfg,
            (512 << 10, 512 << 10),
            imp,
            Impair::clean(),
            8 * MIB,
            0,
            3,
            Duration::from_secs(600),
        );
        std::println!("bottleneck: {r:?}");
        assert!(r.dropped.0 > 0, "the queue overflowed");
        assert!(
            r.a.fast_retransmits > 0,
            "losses were repaired by fast retransmit"
        );
        // At least 60 % of the bottleneck rate.
        let rate = 8 * MIB * 1_000_000 / r.elapsed.micros();
        assert!(rate > 12_500_000 * 6 / 10, "goodput {rate} B/s: {r:?}");
    }
}

#[test]
fn tso_super_segments_through_a_splitting_device() {
    let cfg = TcbConfig {
        tso: Some(crate::device::TsoCaps {
            max_payload: 65536,
            min_mss: 64,
            max_mss: 9000,
        }),
        ..fast()
    };
    let r = transfer(
        cfg,
        cfg,
        (512 << 10, 512 << 10),
        lossy(5_000),
        lossy(5_000),
        4 * MIB,
        2 * MIB,
        11,
        Duration::from_secs(600),
    );
    std::println!("tso: {r:?}");
    let r = transfer(
        cfg,
        cfg,
        (512 << 10, 512 << 10),
        Impair::clean(),
        Impair::clean(),
        4 * MIB,
        0,
        12,
        Duration::from_secs(60),
    );
    assert_eq!(r.a.retransmitted_segments, 0);
}

#[test]
fn small_buffers_at_jumbo_mtu_do_not_stall_on_delayed_ack() {
    // smoltcp: 64 KiB buffers at MTU 65535 stall at 0.05 Gbit/s because Nagle holds the
    // sub-MSS tail until the delayed ACK (10 ms) fires. 16 MiB at 10 Gbit/s with 10 us of
    // delay takes about 15 ms when nothing waits for that timer, 2.6 s when every window does.
    let cfg = TcbConfig {
        delayed_ack: Some(Duration::from_millis(10)),
        ..TcbConfig::RFC.with_mtu(65535)
    };
    let imp = Impair {
        rate: 1_250_000_000,
        delay: Duration::from_micros(10),
        ..Impair::clean()
    };
    for cfg in [
        cfg,
        TcbConfig {
            timestamps: false,
            window_scaling: false,
            ..cfg
        },
    ] {
        let r = transfer(
            cfg,
            cfg,
            (64 << 10, 64 << 10),
            imp,
            imp,
            16 * MIB,
            0,
            5,
            Duration::from_secs(60),
        );
        std::println!("jumbo: {r:?}");
        let elapsed_ms = r.elapsed.micros() / 1000;
        assert!(
            elapsed_ms < 100,
            "16 MiB took {elapsed_ms} ms of simulated time: {r:?}"
        );
    }
}
