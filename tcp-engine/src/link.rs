//! An in-memory Ethernet link between two [`FrameDevice`] endpoints, with seeded impairment in
//! simulated time: uniform and bursty (Gilbert-Elliott) loss, duplication, reordering,
//! single-bit corruption, ECN congestion marks, delay and jitter, an optional bit rate with a
//! bounded queue, and counters. For tests and benchmarks that run both ends in one thread.
//!
//! **Time.** The link never reads a clock. It shares a [`SimClock`] with the test driver: a
//! frame sent at `now` becomes receivable at `now + delay (+ jitter, + reorder hold, + queueing
//! behind the bit rate)`; `rx_burst` hands out frames whose time has come.
//! [`LinkEnd::next_arrival_us`] tells a driver how far it may jump.
//!
//! **Offloads.** Each end has its own [`OffloadCaps`]. The sending end's link port plays the
//! NIC: it refuses invalid offload requests exactly as `hw-spec/SPEC.md` 6.1 says (nothing is
//! sent, counted in [`LinkCounters::offload_errors`]), inserts checksums (6.2) and, with TSO,
//! either segments super-frames per 6.3 ([`TsoDelivery::Segment`], the default: the peer sees
//! what a wire carries) or hands them to the peer whole ([`TsoDelivery::Whole`]: a peer with
//! LRO/GRO; the frame's IPv4 length and checksums are set over the whole). The receiving port
//! reports checksum verdicts per 7.1 when its caps say `rx_checksum`, else
//! [`RxMeta::UNVERIFIED`]. With [`LinkConfig::elide_offloaded_checksums`] (benchmarks only) the
//! link skips the checksum arithmetic a NIC would do in hardware: intact frames are reported
//! good by structure alone and only frames it corrupted are really summed.
//!
//! **Corruption** flips exactly one bit at or after the IPv4 header, so the IPv4 or TCP/UDP
//! checksum always catches it (ones' complement sums detect every single-bit error; a real
//! Ethernet FCS would catch flips in the Ethernet header, which we do not model).
//!
//! **Congestion marks** ([`Impairments::ce_mark`]) play an RFC 3168 router that marks
//! instead of dropping: an IPv4 datagram whose ECN field says ECN-capable (ECT(0) or ECT(1))
//! may have it set to CE, with the header checksum updated as a router does (RFC 1624);
//! datagrams that are not ECN-capable are never marked (nor are ones already marked).
//! [`Impairments::ce_threshold_frames`] plays a data-centre switch configured for DCTCP (RFC
//! 8257 3.1): with a bit rate, an ECN-capable frame is marked when the bottleneck queue
//! already holds at least K frames as it joins (instant queue length, no averaging, as such
//! switches mark). The bottleneck's occupancy seen by each arriving frame is counted
//! ([`LinkCounters::bottleneck_depth_peak`], [`LinkCounters::mean_bottleneck_depth`]) so tests
//! and benchmarks can show what a congestion control does to the queue.
//!
//! **Allocation.** All frame buffers are allocated when the link is built; sending and
//! receiving move buffers between a free list and a queue without allocating or copying (a
//! copy only for TSO segmentation and duplicates, as a NIC's DMA would).
//!
//! Owns the simulated wire only: it never parses more than the offload rules need and holds no
//! protocol state.
//!
//! ```
//! use tcp_engine::device::{FrameDevice, TxMeta};
//! use tcp_engine::link::{Impairments, LinkConfig, Loss, SimClock, offload_caps, pair};
//!
//! let clock = SimClock::new();
//! let config = LinkConfig::new(offload_caps(1500, true)).impaired(Impairments {
//!     loss: Loss::bursty(0.01, 3.0),
//!     delay_us: 50,
//!     ..Impairments::NONE
//! });
//! let (mut a, mut b) = pair(&config, &clock)?;
//! a.transmit(|buf| {
//!     buf[..60].fill(0xAB);
//!     Some((60, TxMeta::NONE))
//! });
//! clock.set_us(b.next_arrival_us().unwrap_or(0));
//! b.rx_burst(32, |frame, _meta| assert_eq!(frame.len(), 60));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::{Cell, RefCell};
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::rc::Rc;

use crate::device::{FrameDevice, OffloadCaps, RxMeta, TsoCaps, TxMeta};
use crate::softnic::{OffloadError, TxPlan, classify_intact_rx, max_tx_frame_len, verify_rx};

/// Simulated time in microseconds, shared by a test driver, the link and the engines.
/// Cloning shares the same clock.
#[derive(Clone, Debug, Default)]
pub struct SimClock(Rc<Cell<u64>>);

impl SimClock {
    /// A clock at 0.
    pub fn new() -> SimClock {
        SimClock::default()
    }

    /// Now, in microseconds.
    pub fn now_us(&self) -> u64 {
        self.0.get()
    }

    /// Now, as engine time.
    pub fn now(&self) -> crate::time::Instant {
        crate::time::Instant::from_micros(self.0.get())
    }

    /// Moves the clock to `us`; time never goes back (an earlier value is ignored).
    pub fn set_us(&self, us: u64) {
        self.0.set(self.0.get().max(us));
    }

    /// Moves the clock forward by `us`.
    pub fn advance_us(&self, us: u64) {
        self.0.set(self.0.get().saturating_add(us));
    }
}

/// How frames are lost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    /// No loss.
    None,
    /// Each frame is lost independently with this probability.
    Uniform(f64),
    /// Gilbert-Elliott: a two-state Markov chain, stepped once per frame, with a loss
    /// probability per state. Bursty loss.
    GilbertElliott {
        /// Probability of moving from the good to the bad state.
        good_to_bad: f64,
        /// Probability of moving from the bad to the good state.
        bad_to_good: f64,
        /// Loss probability in the good state.
        loss_in_good: f64,
        /// Loss probability in the bad state.
        loss_in_bad: f64,
    },
}

impl Loss {
    /// Bursts: every frame in the bad state is lost, none in the good state, the long-run loss
    /// rate is `rate` and bursts last `mean_burst` frames on average.
    ///
    /// # Panics
    /// When `rate` is not in `[0, 1)` or `mean_burst < 1` (a test-setup bug).
    pub fn bursty(rate: f64, mean_burst: f64) -> Loss {
        assert!(
            (0.0..1.0).contains(&rate) && mean_burst >= 1.0,
            "bursty loss: rate in [0,1), burst >= 1"
        );
        let bad_to_good = 1.0 / mean_burst;
        Loss::GilbertElliott {
            good_to_bad: rate * bad_to_good / (1.0 - rate),
            bad_to_good,
            loss_in_good: 0.0,
            loss_in_bad: 1.0,
        }
    }
}

/// What happens to frames travelling in one direction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Impairments {
    /// Loss model.
    pub loss: Loss,
    /// Probability that a frame is delivered twice.
    pub duplicate: f64,
    /// Probability that a frame is held back by `reorder_hold_us`, so later frames overtake it.
    pub reorder: f64,
    /// How long a reordered frame is held back.
    pub reorder_hold_us: u64,
    /// Probability that one bit of a frame is flipped.
    pub corrupt: f64,
    /// Probability that an ECN-capable IPv4 frame (ECN field ECT(0) or ECT(1)) is marked CE,
    /// Congestion Experienced, as an RFC 3168 router marks instead of dropping. Frames that
    /// are not ECN-capable are never marked.
    pub ce_mark: f64,
    /// Propagation delay.
    pub delay_us: u64,
    /// Extra delay drawn uniformly from `0..=jitter_us` per frame (reorders too).
    pub jitter_us: u64,
    /// Serialization rate; frames queue behind each other. `None`: infinitely fast.
    pub rate_bits_per_s: Option<u64>,
    /// Threshold marking at the bottleneck (a DCTCP switch's K): an ECN-capable frame that
    /// finds at least this many frames waiting for (or in) serialization at
    /// [`Impairments::rate_bits_per_s`] is marked CE. Needs a rate. `None`: no threshold
    /// marking (random marking, [`Impairments::ce_mark`], is separate).
    pub ce_threshold_frames: Option<usize>,
}

impl Impairments {
    /// A perfect wire: no loss, no delay.
    pub const NONE: Impairments = Impairments {
        loss: Loss::None,
        duplicate: 0.0,
        reorder: 0.0,
        reorder_hold_us: 0,
        corrupt: 0.0,
        ce_mark: 0.0,
        delay_us: 0,
        jitter_us: 0,
        rate_bits_per_s: None,
        ce_threshold_frames: None,
    };

    /// No loss, duplication, reordering, corruption, jitter or rate limit: only the delay
    /// (if any) applies, and no random number is drawn.
    #[inline]
    fn is_clean(&self) -> bool {
        matches!(self.loss, Loss::None)
            && self.duplicate <= 0.0
            && self.reorder <= 0.0
            && self.corrupt <= 0.0
            && self.ce_mark <= 0.0
            && self.jitter_us == 0
            && self.rate_bits_per_s.is_none()
            && self.ce_threshold_frames.is_none()
    }
}

impl Default for Impairments {
    fn default() -> Self {
        Impairments::NONE
    }
}

/// What the link does with a TSO super-frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TsoDelivery {
    /// Segment it per SPEC 6.3, as a NIC does; the peer sees MSS-sized frames.
    #[default]
    Segment,
    /// Deliver it whole, as to a peer with LRO/GRO (IPv4 length and checksums set over the
    /// whole frame). Cheaper; the peer sees segments larger than its MTU.
    Whole,
}

/// Configuration of a [`pair`] of link ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkConfig {
    /// Offloads of end A.
    pub caps_a: OffloadCaps,
    /// Offloads of end B.
    pub caps_b: OffloadCaps,
    /// Frames from A to B.
    pub a_to_b: Impairments,
    /// Frames from B to A.
    pub b_to_a: Impairments,
    /// Most frames queued per direction (in flight plus waiting to be received); more are
    /// dropped at the tail and counted. Buffers for this many frames (plus one TSO request's
    /// worth) are allocated up front.
    pub queue_frames: usize,
    /// What to do with TSO super-frames.
    pub tso_delivery: TsoDelivery,
    /// Benchmarks only: skip offloaded checksum arithmetic (see the module docs). Needs
    /// `tx_checksum` and `rx_checksum` on both ends.
    pub elide_offloaded_checksums: bool,
    /// Seed of the impairment randomness: the same seed gives the same run.
    pub seed: u64,
}

impl LinkConfig {
    /// A perfect link between two ends with the same caps.
    pub const fn new(caps: OffloadCaps) -> LinkConfig {
        LinkConfig {
            caps_a: caps,
            caps_b: caps,
            a_to_b: Impairments::NONE,
            b_to_a: Impairments::NONE,
            queue_frames: 4096,
            tso_delivery: TsoDelivery::Segment,
            elide_offloaded_checksums: false,
            seed: 1,
        }
    }

    /// The same impairments in both directions.
    pub const fn impaired(mut self, impairments: Impairments) -> LinkConfig {
        self.a_to_b = impairments;
        self.b_to_a = impairments;
        self
    }
}

/// Caps of an Ethernet device with checksum offload and (optionally) TSO up to 64 KiB, for
/// `mtu` (IP MTU, e.g. 1500).
pub const fn offload_caps(mtu: u16, tso: bool) -> OffloadCaps {
    OffloadCaps {
        tx_checksum: true,
        rx_checksum: true,
        tso: if tso {
            Some(TsoCaps {
                // One IPv4 packet of up to 65535 bytes with the longest headers.
                max_payload: 65535 - 60 - 60,
                min_mss: 64,
                max_mss: mtu - 40,
            })
        } else {
            None
        },
        max_frame_len: mtu + 14,
    }
}

/// A [`LinkConfig`] that cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkConfigError(String);

impl fmt::Display for LinkConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid in-memory link configuration: {}", self.0)
    }
}

impl std::error::Error for LinkConfigError {}

/// Counters of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Frames handed to the link by the sender (super-frames count once).
    pub requests: u64,
    /// Requests refused by the offload rules (nothing sent).
    pub offload_errors: u64,
    /// Wire frames produced (after segmentation).
    pub frames: u64,
    /// Bytes of wire frames produced.
    pub bytes: u64,
    /// Frames lost by the loss model.
    pub lost: u64,
    /// Frames dropped because the queue was full.
    pub queue_drops: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Frames held back to reorder.
    pub reordered: u64,
    /// Frames with a flipped bit.
    pub corrupted: u64,
    /// ECN-capable frames marked CE (Congestion Experienced), at random or at the threshold.
    pub ce_marked: u64,
    /// Frames that reached the bottleneck (with a bit rate; after the loss model, including
    /// frames then dropped at the tail).
    pub bottleneck_arrivals: u64,
    /// Sum over those frames of the bottleneck occupancy each found (frames waiting for or in
    /// serialization, itself not counted); see [`LinkCounters::mean_bottleneck_depth`].
    pub bottleneck_depth_sum: u64,
    /// The largest bottleneck occupancy a frame found.
    pub bottleneck_depth_peak: u64,
    /// Frames handed to the receiver.
    pub delivered: u64,
    /// Bytes handed to the receiver.
    pub delivered_bytes: u64,
}

impl LinkCounters {
    /// The bottleneck occupancy an arriving frame found, on average (frames; 0 without
    /// arrivals): the queue as the traffic sees it.
    pub fn mean_bottleneck_depth(&self) -> f64 {
        if self.bottleneck_arrivals == 0 {
            0.0
        } else {
            self.bottleneck_depth_sum as f64 / self.bottleneck_arrivals as f64
        }
    }
}

/// A queued frame; ordered by due time, then by send order.
struct Queued {
    due_us: u64,
    order: u64,
    len: usize,
    corrupted: bool,
    buf: Box<[u8]>,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.due_us, self.order) == (other.due_us, other.order)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.due_us, self.order).cmp(&(other.due_us, other.order))
    }
}

/// xoshiro256++ seeded through SplitMix64: small, fast, reproducible.
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// Whether `frame` is an IPv4 datagram whose ECN field says ECN-capable: ECT(0) or ECT(1),
/// not CE (RFC 3168 section 5).
fn ecn_capable(frame: &[u8]) -> bool {
    frame.len() >= 34 && frame[12..14] == [0x08, 0x00] && matches!(frame[15] & 0b11, 0b01 | 0b10)
}

/// Sets the ECN field of IPv4 frame `frame` to CE and updates the header checksum for the
/// changed word (RFC 1624), as a router marking it does.
fn mark_ce(frame: &mut [u8]) {
    let old = u16::from_be_bytes([frame[14], frame[15]]);
    frame[15] |= 0b11;
    let new = u16::from_be_bytes([frame[14], frame[15]]);
    let sum = u16::from_be_bytes([frame[24], frame[25]]);
    frame[24..26].copy_from_slice(&crate::checksum::update_u16(sum, old, new).to_be_bytes());
}

/// One direction of the wire.
struct Direction {
    imp: Impairments,
    /// `imp.is_clean()`, kept with `imp` (asked once per frame).
    clean: bool,
    rng: Rng,
    bad_state: bool,
    free: Vec<Box<[u8]>>,
    /// Frames due in send order (the common case: no jitter or reordering).
    in_order: VecDeque<Queued>,
    /// Frames due earlier than a frame sent before them (jitter, reordering).
    overtaking: BinaryHeap<Reverse<Queued>>,
    queue_limit: usize,
    order: u64,
    /// When the bottleneck finishes serializing what it holds, in nanoseconds (a frame's
    /// time at the rate is kept to the nanosecond, so a 10 Gbit/s link carries 10 Gbit/s;
    /// a frame leaves at the first microsecond of the clock after its last bit).
    busy_until_ns: u64,
    counters: LinkCounters,
}

impl Direction {
    fn lose(&mut self) -> bool {
        match self.imp.loss {
            Loss::None => false,
            Loss::Uniform(p) => self.rng.chance(p),
            Loss::GilbertElliott {
                good_to_bad,
                bad_to_good,
                loss_in_good,
                loss_in_bad,
            } => {
                let flip = if self.bad_state {
                    bad_to_good
                } else {
                    good_to_bad
                };
                if self.rng.chance(flip) {
                    self.bad_state = !self.bad_state;
                }
                self.rng.chance(if self.bad_state {
                    loss_in_bad
                } else {
                    loss_in_good
                })
            }
        }
    }

    /// Puts one wire frame (in `buf`) on the wire at `now`: loss, corruption, duplication,
    /// timing. `elided`: the plan whose checksums the frame lacks (elided), filled in before a
    /// bit is flipped in it.
    #[inline]
    fn send(&mut self, now: u64, buf: Box<[u8]>, len: usize, elided: Option<&TxPlan>) {
        self.counters.frames += 1;
        self.counters.bytes += len as u64;
        if self.clean {
            // Nothing random can happen: straight into the queue (the common case of
            // benchmarks; the same as the general path with every probability zero).
            self.enqueue(now + self.imp.delay_us, buf, len, false);
            return;
        }
        self.send_impaired(now, buf, len, elided);
    }

    /// [`send`](Self::send) over a wire with impairments.
    #[inline(never)]
    fn send_impaired(&mut self, now: u64, mut buf: Box<[u8]>, len: usize, elided: Option<&TxPlan>) {
        if self.lose() {
            self.counters.lost += 1;
            self.free.push(buf);
            return;
        }
        let mut backlog = 0;
        let start = match self.imp.rate_bits_per_s {
            Some(rate) if rate > 0 => {
                backlog = self.bottleneck_backlog(now);
                self.counters.bottleneck_arrivals += 1;
                self.counters.bottleneck_depth_sum += backlog as u64;
                self.counters.bottleneck_depth_peak =
                    self.counters.bottleneck_depth_peak.max(backlog as u64);
                let begin = self.busy_until_ns.max(now * 1000);
                self.busy_until_ns = begin + (len as u64 * 8 * 1_000_000_000).div_ceil(rate);
                self.busy_until_ns.div_ceil(1000)
            }
            _ => now,
        };
        let jitter = if self.imp.jitter_us > 0 {
            self.rng.below(self.imp.jitter_us + 1)
        } else {
            0
        };
        let mut due = start + self.imp.delay_us + jitter;
        let over_threshold = self.imp.ce_threshold_frames.is_some_and(|k| backlog >= k);
        if (over_threshold || self.imp.ce_mark > 0.0)
            && ecn_capable(&buf[..len])
            && (over_threshold || self.rng.chance(self.imp.ce_mark))
        {
            mark_ce(&mut buf[..len]);
            self.counters.ce_marked += 1;
        }
        let mut corrupted = false;
        if len > 14 && self.rng.chance(self.imp.corrupt) {
            if let Some(plan) = elided {
                plan.fill_checksums(&mut buf[..len]);
            }
            let bit = 14 * 8 + self.rng.below((len as u64 - 14) * 8) as usize;
            buf[bit / 8] ^= 1 << (bit % 8);
            corrupted = true;
            self.counters.corrupted += 1;
        }
        if self.rng.chance(self.imp.duplicate) {
            if let Some(mut copy) = self.free.pop() {
                copy[..len].copy_from_slice(&buf[..len]);
                self.counters.duplicated += 1;
                self.enqueue(due, copy, len, corrupted);
            }
        }
        if self.rng.chance(self.imp.reorder) {
            due += self.imp.reorder_hold_us;
            self.counters.reordered += 1;
        }
        self.enqueue(due, buf, len, corrupted);
    }

    /// Frames at the bottleneck at `now`: queued in send order and not yet serialized (their
    /// serialization ends after `now`, i.e. they are due after `now + delay`). Frames held
    /// back by jitter or reordering are not counted (exact without those).
    fn bottleneck_backlog(&self, now: u64) -> usize {
        let serialized_by = now + self.imp.delay_us;
        self.in_order.len() - self.in_order.partition_point(|q| q.due_us <= serialized_by)
    }

    fn queued(&self) -> usize {
        self.in_order.len() + self.overtaking.len()
    }

    #[inline(always)]
    fn enqueue(&mut self, due_us: u64, buf: Box<[u8]>, len: usize, corrupted: bool) {
        if self.queued() >= self.queue_limit {
            self.counters.queue_drops += 1;
            self.free.push(buf);
            return;
        }
        self.order += 1;
        let q = Queued {
            due_us,
            order: self.order,
            len,
            corrupted,
            buf,
        };
        if self
            .in_order
            .back()
            .is_none_or(|last| last.due_us <= due_us)
        {
            self.in_order.push_back(q);
        } else {
            self.overtaking.push(Reverse(q));
        }
    }

    /// The queue holding the earliest frame (by due time, then send order).
    #[inline]
    fn earliest(&self) -> Option<(u64, bool)> {
        match (self.in_order.front(), self.overtaking.peek()) {
            (Some(a), Some(Reverse(b))) if b < a => Some((b.due_us, true)),
            (Some(a), _) => Some((a.due_us, false)),
            (None, Some(Reverse(b))) => Some((b.due_us, true)),
            (None, None) => None,
        }
    }

    #[inline(always)]
    fn pop_due(&mut self, now: u64) -> Option<Queued> {
        match self.earliest()? {
            (due, _) if due > now => None,
            (_, true) => self.overtaking.pop().map(|q| q.0),
            (_, false) => self.in_order.pop_front(),
        }
    }
}

struct Shared {
    clock: SimClock,
    /// `dirs[0]`: A to B, `dirs[1]`: B to A.
    dirs: [Direction; 2],
}

/// One end of an in-memory link; implements [`FrameDevice`].
pub struct LinkEnd {
    shared: Rc<RefCell<Shared>>,
    /// 0 for A, 1 for B: the direction this end sends on.
    side: usize,
    caps: OffloadCaps,
    tso_delivery: TsoDelivery,
    elide: bool,
    /// Where TSO super-frames are written before segmentation.
    tso_scratch: Box<[u8]>,
    last_offload_error: Option<OffloadError>,
}

/// Builds the two ends of a link sharing `clock`.
///
/// # Errors
/// A configuration that cannot work: zero queue, probabilities outside `[0, 1]`, eliding
/// checksums without checksum offload on both ends, or whole TSO delivery with a TSO payload
/// that does not fit one IPv4 packet.
pub fn pair(config: &LinkConfig, clock: &SimClock) -> Result<(LinkEnd, LinkEnd), LinkConfigError> {
    let err = |m: String| Err(LinkConfigError(m));
    if config.queue_frames == 0 {
        return err("queue_frames must be at least 1".into());
    }
    for (name, imp) in [("a_to_b", &config.a_to_b), ("b_to_a", &config.b_to_a)] {
        let probs = [imp.duplicate, imp.reorder, imp.corrupt, imp.ce_mark];
        let loss_probs: &[f64] = match &imp.loss {
            Loss::None => &[],
            Loss::Uniform(p) => &[*p],
            Loss::GilbertElliott {
                good_to_bad,
                bad_to_good,
                loss_in_good,
                loss_in_bad,
            } => &[*good_to_bad, *bad_to_good, *loss_in_good, *loss_in_bad],
        };
        if let Some(p) = probs
            .iter()
            .chain(loss_probs)
            .find(|p| !(0.0..=1.0).contains(*p))
        {
            return err(format!("{name}: probability {p} is outside [0, 1]"));
        }
        if imp.ce_threshold_frames.is_some() && imp.rate_bits_per_s.is_none_or(|r| r == 0) {
            return err(format!(
                "{name}: ce_threshold_frames marks at a bottleneck queue, which needs \
                 rate_bits_per_s; set a rate or drop the threshold"
            ));
        }
    }
    for (name, caps) in [("A", &config.caps_a), ("B", &config.caps_b)] {
        if config.elide_offloaded_checksums && !(caps.tx_checksum && caps.rx_checksum) {
            return err(format!(
                "elide_offloaded_checksums needs tx_checksum and rx_checksum on end {name}; turn \
                 eliding off or enable checksum offload"
            ));
        }
        if let Some(tso) = caps.tso {
            if tso.min_mss == 0 {
                return err(format!("end {name}: TSO min_mss must be at least 1"));
            }
            if config.tso_delivery == TsoDelivery::Whole && tso.max_payload > 65535 - 120 {
                return err(format!(
                    "end {name}: whole TSO delivery needs max_payload <= {} (one IPv4 packet)",
                    65535 - 120
                ));
            }
        }
    }
    let direction = |imp: Impairments, sender: &OffloadCaps, seed: u64| {
        let (buf_len, extra) = buffer_plan(sender, config.tso_delivery);
        let total = config.queue_frames + extra;
        let mut free = Vec::with_capacity(total);
        free.extend((0..total).map(|_| vec![0u8; buf_len].into_boxed_slice()));
        Direction {
            imp,
            clean: imp.is_clean(),
            rng: Rng::new(seed),
            bad_state: false,
            free,
            in_order: VecDeque::with_capacity(total),
            overtaking: BinaryHeap::with_capacity(total),
            queue_limit: config.queue_frames,
            order: 0,
            busy_until_ns: 0,
            counters: LinkCounters::default(),
        }
    };
    let shared = Rc::new(RefCell::new(Shared {
        clock: clock.clone(),
        dirs: [
            direction(config.a_to_b, &config.caps_a, config.seed),
            direction(
                config.b_to_a,
                &config.caps_b,
                config.seed ^ 0xA5A5_5A5A_DEAD_BEEF,
            ),
        ],
    }));
    let end = |side: usize, caps: OffloadCaps| LinkEnd {
        shared: shared.clone(),
        side,
        caps,
        tso_delivery: config.tso_delivery,
        elide: config.elide_offloaded_checksums,
        tso_scratch: vec![0u8; max_tx_frame_len(&caps)].into_boxed_slice(),
        last_offload_error: None,
    };
    Ok((end(0, config.caps_a), end(1, config.caps_b)))
}

/// Size of each wire buffer, and how many extra buffers one request may need beyond the queue.
fn buffer_plan(sender: &OffloadCaps, delivery: TsoDelivery) -> (usize, usize) {
    match (sender.tso, delivery) {
        (Some(tso), TsoDelivery::Segment) => (
            usize::from(sender.max_frame_len),
            (tso.max_payload as usize).div_ceil(usize::from(tso.min_mss.max(1))) + 1,
        ),
        _ => (max_tx_frame_len(sender), 1),
    }
}

impl LinkEnd {
    /// Counters of the direction this end sends on.
    pub fn sent_counters(&self) -> LinkCounters {
        self.shared.borrow().dirs[self.side].counters
    }

    /// Counters of the direction this end receives from.
    pub fn received_counters(&self) -> LinkCounters {
        self.shared.borrow().dirs[1 - self.side].counters
    }

    /// When the next frame for this end becomes receivable (it may be in the past).
    pub fn next_arrival_us(&self) -> Option<u64> {
        self.shared.borrow().dirs[1 - self.side]
            .earliest()
            .map(|(due, _)| due)
    }

    /// Frames queued toward this end.
    pub fn pending(&self) -> usize {
        self.shared.borrow().dirs[1 - self.side].queued()
    }

    /// The offload rule the most recent refused request broke.
    pub fn last_offload_error(&self) -> Option<OffloadError> {
        self.last_offload_error
    }

    /// Changes the impairments of the direction this end sends on (e.g. to heal a link
    /// mid-test).
    pub fn set_send_impairments(&mut self, impairments: Impairments) {
        let dir = &mut self.shared.borrow_mut().dirs[self.side];
        dir.imp = impairments;
        dir.clean = impairments.is_clean();
    }

    /// Validates and applies the offload request of the TSO frame in the scratch buffer's
    /// first `len` bytes and puts its segments on the link, each in a wire buffer.
    fn submit_scratch(&mut self, len: usize, meta: &TxMeta) -> Result<(), OffloadError> {
        let mut shared = self.shared.borrow_mut();
        let now = shared.clock.now_us();
        let dir = &mut shared.dirs[self.side];
        dir.counters.requests += 1;
        let plan = match TxPlan::new(&self.tso_scratch[..len], meta, &self.caps) {
            Ok(plan) => plan,
            Err(e) => {
                dir.counters.offload_errors += 1;
                return Err(e);
            }
        };
        let compute = !self.elide;
        let elided = (self.elide && plan.wants_checksums()).then_some(&plan);
        for i in 0..plan.segments() {
            let Some(mut out) = dir.free.pop() else {
                // Sized so this cannot happen; count it rather than panic.
                dir.counters.queue_drops += 1;
                continue;
            };
            let n = plan.write_segment_with(&self.tso_scratch[..len], i, &mut out, compute);
            dir.send(now, out, n, elided);
        }
        Ok(())
    }

    /// Validates and applies the offload request of the frame in `buf[..len]` (a wire
    /// buffer: plain, or a TSO frame delivered whole) and puts it on the link. A refused
    /// request's buffer goes back to the free list.
    #[inline(always)]
    fn submit_wire(
        &mut self,
        mut buf: Box<[u8]>,
        len: usize,
        meta: &TxMeta,
    ) -> Result<(), OffloadError> {
        let mut shared = self.shared.borrow_mut();
        let now = shared.clock.now_us();
        let dir = &mut shared.dirs[self.side];
        dir.counters.requests += 1;
        // Validated and applied in place, without moving the plan through a closure: a plan
        // written field by field and then copied whole stalls on store forwarding.
        let plan = TxPlan::new(&buf[..len], meta, &self.caps);
        let applied = match &plan {
            Ok(plan) => plan.apply_in_place(&mut buf[..len], !self.elide),
            Err(e) => Err(*e),
        };
        match (&plan, applied) {
            (Ok(plan), Ok(())) => {
                let elided = (self.elide && plan.wants_checksums()).then_some(plan);
                dir.send(now, buf, len, elided);
                Ok(())
            }
            (_, Err(e)) => {
                dir.counters.offload_errors += 1;
                dir.free.push(buf);
                Err(e)
            }
            // Not reached: a refused plan is never applied (`applied` is then its error).
            (Err(e), Ok(())) => Err(*e),
        }
    }
}

impl FrameDevice for LinkEnd {
    fn caps(&self) -> OffloadCaps {
        self.caps
    }

    fn rx_burst<F: FnMut(&mut [u8], RxMeta)>(&mut self, max: usize, mut on_frame: F) -> usize {
        let inbound = 1 - self.side;
        let mut delivered = 0;
        while delivered < max {
            let queued = {
                let mut shared = self.shared.borrow_mut();
                let now = shared.clock.now_us();
                shared.dirs[inbound].pop_due(now)
            };
            let Some(mut q) = queued else { break };
            let frame = &mut q.buf[..q.len];
            let meta = if !self.caps.rx_checksum {
                RxMeta::UNVERIFIED
            } else if self.elide && !q.corrupted {
                classify_intact_rx(frame)
            } else {
                verify_rx(frame)
            };
            // The shared state is not borrowed while the receiver runs: it may transmit on
            // the other end from inside the callback.
            on_frame(frame, meta);
            let mut shared = self.shared.borrow_mut();
            let dir = &mut shared.dirs[inbound];
            dir.counters.delivered += 1;
            dir.counters.delivered_bytes += q.len as u64;
            dir.free.push(q.buf);
            delivered += 1;
        }
        delivered
    }

    /// Shows the frames due in send order (frames held back to be overtaken are not shown).
    fn peek_rx<F: FnMut(&[u8])>(&mut self, max: usize, mut on_frame: F) {
        let shared = self.shared.borrow();
        let now = shared.clock.now_us();
        let dir = &shared.dirs[1 - self.side];
        for q in dir.in_order.iter().take(max) {
            if q.due_us > now {
                break;
            }
            on_frame(&q.buf[..q.len]);
        }
    }

    /// Offers a buffer and puts the frame on the wire. Returns `None` without calling `fill`
    /// when no buffer is free (the queue toward the peer is full), and `None` after `fill` when
    /// the offload request breaks a rule of SPEC 6.1 (nothing is sent; see
    /// [`LinkEnd::last_offload_error`]). Loss on the wire still returns `Some`: the frame left.
    fn transmit<F: FnOnce(&mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        fill: F,
    ) -> Option<(usize, TxMeta)> {
        let segmenting = self.caps.tso.is_some() && self.tso_delivery == TsoDelivery::Segment;
        if segmenting {
            // The scratch buffer takes the frame; wire buffers are taken per segment. The pool
            // always holds a request's worth beyond the queue limit.
            let (len, meta) = fill(&mut self.tso_scratch)?;
            if len > self.tso_scratch.len() {
                return None;
            }
            match self.submit_scratch(len, &meta) {
                Ok(()) => Some((len, meta)),
                Err(e) => {
                    self.last_offload_error = Some(e);
                    None
                }
            }
        } else {
            let mut buf = self.shared.borrow_mut().dirs[self.side].free.pop()?;
            // Read by reference where `fill` wrote it (see `transmit_batch`).
            let out = fill(&mut buf);
            let Some((len, meta)) = &out else {
                self.shared.borrow_mut().dirs[self.side].free.push(buf);
                return None;
            };
            let len = *len;
            if len > buf.len() {
                self.shared.borrow_mut().dirs[self.side].free.push(buf);
                return None;
            }
            match self.submit_wire(buf, len, meta) {
                Ok(()) => out,
                Err(e) => {
                    self.last_offload_error = Some(e);
                    None
                }
            }
        }
    }

    /// [`transmit`](FrameDevice::transmit) frame after frame, with the per-request choices
    /// (segmenting or not) made once per batch: the same frames go on the wire in the same
    /// order, with the same refusals, as one `transmit` per frame.
    fn transmit_batch<F: FnMut(usize, &mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        count: usize,
        mut fill: F,
    ) -> usize {
        if self.caps.tso.is_some() && self.tso_delivery == TsoDelivery::Segment {
            return crate::device::transmit_each(self, count, fill);
        }
        let mut sent = 0;
        while sent < count {
            // The shared state is not borrowed while `fill` runs (as in `transmit`).
            let Some(mut buf) = self.shared.borrow_mut().dirs[self.side].free.pop() else {
                break;
            };
            // The answer is read where `fill` wrote it (by reference, field by field), not
            // moved whole: a whole copy of fields just written one by one waits on store
            // forwarding.
            let out = fill(sent, &mut buf);
            let Some((len, meta)) = &out else {
                self.shared.borrow_mut().dirs[self.side].free.push(buf);
                break;
            };
            let len = *len;
            if len > buf.len() {
                self.shared.borrow_mut().dirs[self.side].free.push(buf);
                break;
            }
            if let Err(e) = self.submit_wire(buf, len, meta) {
                self.last_offload_error = Some(e);
                break;
            }
            sent += 1;
        }
        sent
    }
}

impl fmt::Debug for LinkEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkEnd")
            .field("side", &if self.side == 0 { "A" } else { "B" })
            .field("caps", &self.caps)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
