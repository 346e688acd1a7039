//! A bottleneck on one direction of a wire: a line rate, a drop-tail queue in front of it and
//! optional threshold ECN marking, all in device time (the `now_ns` the device passes to
//! [`Wire::transmit`](crate::device::Wire::transmit) and [`Wire::flush`](crate::device::Wire::flush);
//! on the demo's hosts that is the simulated clock).
//!
//! # Model
//! A switch port that stores and forwards: a frame offered at time `t` joins the queue (or is
//! dropped), starts on the line when the line is free and the frames ahead of it have gone,
//! and leaves (is handed on) when its last bit is out.
//!
//! - **Line occupancy.** A frame occupies the line for its Ethernet wire length: the frame
//!   as given (destination MAC to the end of the payload, no FCS), padded to the 60-byte
//!   minimum, plus 4 bytes of FCS, 8 of preamble and start delimiter and 12 of inter-frame
//!   gap: [`wire_bytes`]. A full 1514-byte frame takes 1538 byte times, so a 10 Gbit/s line
//!   carries 812,744 such frames a second and about 9.49 Gbit/s of IP packets.
//! - **Queue.** [`Bottleneck::queue_frames`] frames fit in the element, the one on the line
//!   included (a store-and-forward buffer holds a frame until its last bit is out). A frame
//!   that finds it full is dropped (drop-tail) and counted.
//! - **Threshold marking.** With [`Bottleneck::ce_threshold`] `Some(k)`, an ECN-capable IPv4
//!   frame (ECN field ECT(0) or ECT(1)) that finds at least `k` frames in the element is marked
//!   CE and its header checksum updated, as a DCTCP switch marks at its threshold K (RFC 8257
//!   section 3.1) and an RFC 3168 router marks instead of dropping. Frames that are not
//!   ECN-capable, and frames already CE, are never marked. Marking does not save a frame from
//!   a full queue.
//! - **Time.** Kept in picoseconds internally, so serialisation times do not drift by
//!   rounding (40 ps a bit at 25 Gbit/s). Frames leave when [`BottleneckQueue::release`] is
//!   called at or after their departure time (the device calls [`Wire::flush`](crate::device::Wire::flush) at the end of
//!   every step); [`BottleneckQueue::next_delivery_ns`] tells a simulated clock when to come
//!   back.
//!
//! Counters ([`BottleneckStats`]): frames offered, accepted and handed on, drops, marks, the
//! peak queue, and the frame-time integral from which the average occupancy follows (Little's
//! law: the sum of every frame's time in the element over the time observed).
//!
//! Owns the queue, its buffers and its counters. It must not know where frames go (the caller
//! passes an output function that may refuse a frame: it then stays at the head and leaves
//! later) nor what else happens to them (loss, reordering: `impair`). Every buffer is
//! allocated at construction; nothing allocates per frame.

use super::impair::{ecn_capable, mark_ce};

/// Largest queue a bottleneck takes, in frames (its buffer is allocated up front: at most
/// this many full-sized frames).
pub const MAX_QUEUE_FRAMES: u32 = 16_384;

/// Longest one-way delay a bottleneck takes, nanoseconds (1 s).
pub const MAX_DELAY_NS: u64 = 1_000_000_000;

/// Most bytes of frame buffers one bottleneck allocates (its queue plus the frames a delay
/// keeps in flight): 256 MiB.
pub const MAX_BUFFER_BYTES: usize = 256 << 20;

/// Lowest line rate a bottleneck takes, bit/s (a slower line would take seconds a frame).
pub const MIN_RATE_BPS: u64 = 1_000;

/// Ethernet's per-frame overhead on the line beyond the frame as given: FCS (4), preamble and
/// start delimiter (8), inter-frame gap (12).
pub const WIRE_OVERHEAD_BYTES: u64 = 4 + 8 + 12;

/// Smallest frame before its FCS: shorter frames are padded to it on the line.
pub const MIN_FRAME_BYTES: u64 = 60;

/// The bytes a frame of `len` bytes (no FCS, no padding) occupies the line for.
pub fn wire_bytes(len: usize) -> u64 {
    (len as u64).max(MIN_FRAME_BYTES) + WIRE_OVERHEAD_BYTES
}

/// How a bottleneck is set up. `rate_bps == 0` is no bottleneck at all ([`Bottleneck::OFF`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bottleneck {
    /// Line rate, bit/s; 0: no bottleneck.
    pub rate_bps: u64,
    /// Frames the element holds, the one on the line included (1 to [`MAX_QUEUE_FRAMES`]).
    pub queue_frames: u32,
    /// Mark ECN-capable frames CE when they find at least this many frames in the element
    /// (below `queue_frames`); `None`: never mark.
    pub ce_threshold: Option<u32>,
    /// One-way propagation delay after the line, nanoseconds (at most [`MAX_DELAY_NS`]): a
    /// frame is handed on this long after its last bit left the line. Frames in flight do not
    /// count against the queue.
    pub delay_ns: u64,
}

impl Default for Bottleneck {
    fn default() -> Self {
        Bottleneck::OFF
    }
}

impl Bottleneck {
    /// No bottleneck: frames pass as they did without one.
    pub const OFF: Bottleneck = Bottleneck {
        rate_bps: 0,
        queue_frames: Bottleneck::DEFAULT_QUEUE_FRAMES,
        ce_threshold: None,
        delay_ns: 0,
    };

    /// The queue limit when only a rate is given (a shallow switch buffer: 100 frames).
    pub const DEFAULT_QUEUE_FRAMES: u32 = 100;

    /// Whether there is a bottleneck.
    pub fn is_on(&self) -> bool {
        self.rate_bps > 0
    }

    /// Checks the settings of a bottleneck that is on (an off one is always fine).
    ///
    /// # Errors
    /// A rate below [`MIN_RATE_BPS`], a queue outside 1 to [`MAX_QUEUE_FRAMES`], or a marking
    /// threshold not below the queue limit, each saying how to fix it.
    pub fn check(&self) -> Result<(), String> {
        if !self.is_on() {
            return Ok(());
        }
        if self.rate_bps < MIN_RATE_BPS {
            return Err(format!(
                "bottleneck rate {} bit/s is too slow: use at least {MIN_RATE_BPS} bit/s \
                 (e.g. 1G, 10G)",
                self.rate_bps
            ));
        }
        if !(1..=MAX_QUEUE_FRAMES).contains(&self.queue_frames) {
            return Err(format!(
                "bottleneck queue of {} frames: use 1 to {MAX_QUEUE_FRAMES} frames",
                self.queue_frames
            ));
        }
        if self.delay_ns > MAX_DELAY_NS {
            return Err(format!(
                "bottleneck delay of {} ns: use at most {} ms",
                self.delay_ns,
                MAX_DELAY_NS / 1_000_000
            ));
        }
        if let Some(k) = self.ce_threshold
            && k >= self.queue_frames
        {
            return Err(format!(
                "CE marking threshold {k} is not below the queue limit of {} frames: a frame \
                 that finds {k} frames queued is dropped, never marked; use a threshold below \
                 {} or a longer queue",
                self.queue_frames, self.queue_frames
            ));
        }
        Ok(())
    }
}

/// Splits `text` (trimmed) into its leading number (digits and points) and the trimmed rest.
fn number_and_unit(text: &str) -> (&str, &str) {
    let t = text.trim();
    let digits = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    (number, unit.trim())
}

/// Parses a line rate: a number (decimals allowed) with an optional SI multiplier `k`, `M`,
/// `G` or `T` (powers of 1000, as line rates are quoted) and an optional `bit`, `bps` or
/// `bit/s`: `10G`, `25Gbit`, `2.5Gbps`, `100M`, `1000000`. A rate of 0 is refused (leave the
/// rate out for no bottleneck).
///
/// # Errors
/// Anything else, saying what a rate looks like (rates in bytes, `10GB`, are refused: a
/// line rate is in bits).
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let example = "write it in bit/s with k, M, G or T, e.g. 10G, 25Gbit, 2.5Gbps, 100M";
    let (number, unit) = number_and_unit(text);
    let (multiplier, rest) = match unit.chars().next() {
        Some('k' | 'K') => (1e3, &unit[1..]),
        Some('M') => (1e6, &unit[1..]),
        Some('G' | 'g') => (1e9, &unit[1..]),
        Some('T' | 't') => (1e12, &unit[1..]),
        _ => (1.0, unit),
    };
    let bytes = (rest.starts_with('B') && !rest.starts_with("Bit"))
        || rest.to_ascii_lowercase().starts_with("byte");
    if bytes {
        return Err(format!(
            "rate `{text}` looks like bytes per second: a line rate is in bits; {example}"
        ));
    }
    let bit_units = ["", "b", "bit", "bits", "bps", "b/s", "bit/s", "bits/s"];
    if !bit_units.contains(&rest.to_ascii_lowercase().as_str()) {
        return Err(format!("rate `{text}`: unknown unit `{rest}`; {example}"));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| format!("rate `{text}` does not start with a number; {example}"))?;
    let bps = value * multiplier;
    if !(1.0..1e16).contains(&bps) {
        return Err(format!(
            "rate `{text}` is out of range: give 1 bit/s to 10 Pbit/s ({example}); leave the \
             rate out for no bottleneck"
        ));
    }
    Ok(bps.round() as u64)
}

/// Parses a one-way delay: a number (decimals allowed) with a unit `ns`, `us`, `ms` or `s`:
/// `50us`, `1.5ms`, `200ns`. A bare number is refused (the unit is not guessed).
///
/// # Errors
/// Anything else, or more than [`MAX_DELAY_NS`], saying what a delay looks like.
pub fn parse_delay(text: &str) -> Result<u64, String> {
    let example = "write it with a unit: 50us, 1.5ms, 200ns";
    let (number, unit) = number_and_unit(text);
    let scale = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "" => return Err(format!("delay `{text}` has no unit; {example}")),
        other => return Err(format!("delay `{text}`: unknown unit `{other}`; {example}")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("delay `{text}` does not start with a number; {example}"))?;
    let ns = value * scale;
    if !(0.0..=MAX_DELAY_NS as f64).contains(&ns) {
        return Err(format!("delay `{text}` is longer than 1 s; {example}"));
    }
    Ok(ns.round() as u64)
}

/// Takes the bottleneck's keys out of an impairment spec (`rate=10G,queue=100,
/// ce_threshold=20,delay=50us,loss=0.01`, as `ferrotoe nicsim --impair` takes): returns the bottleneck
/// and the spec without its keys, for [`Impairment::parse`](super::impair::Impairment::parse).
/// `queue` and `ce_threshold` without `rate` are refused (there is no queue without a line).
///
/// # Errors
/// A value that does not parse, a key without a rate, or settings [`Bottleneck::check`]
/// refuses.
pub fn split_spec(spec: &str) -> Result<(Bottleneck, String), String> {
    let mut b = Bottleneck::OFF;
    let mut queue_given = false;
    let mut rest = Vec::new();
    for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            rest.push(part);
            continue;
        };
        let v = v.trim();
        let count = |what: &str| {
            v.parse::<u32>()
                .map_err(|_| format!("{what} `{v}`: expected a whole number of frames"))
        };
        match k.trim() {
            "rate" => b.rate_bps = parse_rate(v)?,
            "queue" => {
                b.queue_frames = count("queue")?;
                queue_given = true;
            }
            "ce_threshold" => b.ce_threshold = Some(count("ce_threshold")?),
            "delay" => {
                b.delay_ns = parse_delay(v)?;
                queue_given = true;
            }
            _ => rest.push(part),
        }
    }
    if !b.is_on() && (queue_given || b.ce_threshold.is_some()) {
        return Err(
            "queue=, ce_threshold= and delay= shape a bottleneck, which needs a line rate: \
             add rate= (e.g. rate=10G)"
                .into(),
        );
    }
    b.check()?;
    Ok((b, rest.join(",")))
}

/// What a bottleneck did. Times are device time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BottleneckStats {
    /// Frames offered to the queue.
    pub offered: u64,
    /// Frames handed on after their time on the line.
    pub delivered: u64,
    /// Frames dropped because the queue was full.
    pub drops: u64,
    /// ECN-capable frames marked CE because the queue had reached the threshold.
    pub ce_marked: u64,
    /// Most frames in the element at once (a frame arriving counted with those it found).
    pub peak_queue: u32,
    /// Sum over accepted frames of the time each spends in the element (queueing and its own
    /// serialisation), nanoseconds.
    pub frame_ns: u64,
    /// Nanoseconds from the first frame's arrival to the last accepted frame's departure (the
    /// time observed).
    pub span_ns: u64,
}

impl BottleneckStats {
    /// The average number of frames in the element over the time observed (Little's law).
    pub fn average_queue(&self) -> f64 {
        if self.span_ns == 0 {
            0.0
        } else {
            self.frame_ns as f64 / self.span_ns as f64
        }
    }

    /// The average time a frame spent in the element, microseconds.
    pub fn average_sojourn_us(&self) -> f64 {
        let accepted = self.offered - self.drops;
        if accepted == 0 {
            0.0
        } else {
            self.frame_ns as f64 / accepted as f64 / 1e3
        }
    }

    /// Both directions' counters together: sums, and the larger peak. (The time figures add
    /// up so that the combined average is the mean of the two directions' occupancies
    /// weighted by their spans.)
    pub fn plus(&self, o: &BottleneckStats) -> BottleneckStats {
        BottleneckStats {
            offered: self.offered + o.offered,
            delivered: self.delivered + o.delivered,
            drops: self.drops + o.drops,
            ce_marked: self.ce_marked + o.ce_marked,
            peak_queue: self.peak_queue.max(o.peak_queue),
            frame_ns: self.frame_ns + o.frame_ns,
            span_ns: self.span_ns + o.span_ns,
        }
    }
}

const PS_PER_NS: u64 = 1_000;
const PS_PER_S: u128 = 1_000_000_000_000;

/// A bottleneck at work: the queue of one direction (see the module docs).
#[derive(Debug)]
pub struct BottleneckQueue {
    cfg: Bottleneck,
    /// `slots` frames of `max_frame` bytes, back to back.
    data: Vec<u8>,
    max_frame: usize,
    lens: Vec<u32>,
    /// When each queued frame's last bit leaves, picoseconds.
    departs: Vec<u64>,
    head: usize,
    len: usize,
    /// Of the `len` frames from `head`, those whose last bit has left the line (in flight
    /// through the delay, or waiting for the output to take them).
    departed: usize,
    /// The delay, picoseconds.
    delay_ps: u64,
    /// When the line is free of the last accepted frame, picoseconds.
    line_free_ps: u64,
    first_arrival_ps: Option<u64>,
    stats: BottleneckStats,
}

impl BottleneckQueue {
    /// A queue for frames up to `max_frame` bytes (longer ones are dropped and counted).
    ///
    /// # Errors
    /// The settings' [`Bottleneck::check`], or a bottleneck that is off (then build none).
    pub fn new(cfg: Bottleneck, max_frame: usize) -> Result<BottleneckQueue, String> {
        cfg.check()?;
        if !cfg.is_on() {
            return Err("a bottleneck without a rate is no bottleneck: build none".into());
        }
        let delay_ps = cfg.delay_ns.saturating_mul(PS_PER_NS);
        // Frames in flight through the delay: at most one a shortest frame's time on the line.
        let shortest = (u128::from(wire_bytes(0)) * 8 * PS_PER_S).div_ceil(cfg.rate_bps.into());
        let in_flight = if delay_ps == 0 {
            0
        } else {
            (u128::from(delay_ps) / shortest + 1) as usize
        };
        let slots = cfg.queue_frames as usize + in_flight;
        if slots.saturating_mul(max_frame) > MAX_BUFFER_BYTES {
            return Err(format!(
                "a {} us delay at {} bit/s keeps up to {in_flight} frames in flight: with the \
                 queue, more than the {} MiB a bottleneck may buffer; shorten the delay or \
                 lower the rate",
                cfg.delay_ns / 1000,
                cfg.rate_bps,
                MAX_BUFFER_BYTES >> 20
            ));
        }
        Ok(BottleneckQueue {
            cfg,
            departed: 0,
            delay_ps,
            data: vec![0; slots * max_frame],
            max_frame,
            lens: vec![0; slots],
            departs: vec![0; slots],
            head: 0,
            len: 0,
            line_free_ps: 0,
            first_arrival_ps: None,
            stats: BottleneckStats::default(),
        })
    }

    /// The settings.
    pub fn config(&self) -> Bottleneck {
        self.cfg
    }

    /// What it has done so far.
    pub fn stats(&self) -> BottleneckStats {
        self.stats
    }

    /// Frames in the queue (waiting or on the line) as of the last call.
    pub fn queued(&self) -> usize {
        self.len - self.departed
    }

    /// Frames off the line but not yet handed on (in flight through the delay, or refused by
    /// the output) as of the last call.
    pub fn in_flight(&self) -> usize {
        self.departed
    }

    /// When the frame at the head is handed on (its last bit off the line, plus the delay),
    /// device nanoseconds (rounded up), if one waits.
    pub fn next_delivery_ns(&self) -> Option<u64> {
        (self.len > 0).then(|| {
            self.departs[self.head]
                .saturating_add(self.delay_ps)
                .div_ceil(PS_PER_NS)
        })
    }

    /// Counts the frames whose last bit has left the line by `now_ps`.
    fn advance(&mut self, now_ps: u64) {
        let cap = self.lens.len();
        while self.departed < self.len && self.departs[(self.head + self.departed) % cap] <= now_ps
        {
            self.departed += 1;
        }
    }

    /// Time on the line of a frame of `len` bytes, picoseconds.
    fn serialisation_ps(&self, len: usize) -> u64 {
        let bits = u128::from(wire_bytes(len)) * 8;
        (bits * PS_PER_S).div_ceil(u128::from(self.cfg.rate_bps)) as u64
    }

    /// Offers a frame arriving at `now_ns`: first hands on (through `out`) the frames whose
    /// time has come, then queues this one, marks it or drops it.
    pub fn offer(&mut self, frame: &[u8], now_ns: u64, mut out: impl FnMut(&[u8]) -> bool) {
        self.release(now_ns, &mut out);
        self.stats.offered += 1;
        let now_ps = now_ns.saturating_mul(PS_PER_NS);
        if self.first_arrival_ps.is_none() {
            self.first_arrival_ps = Some(now_ps);
        }
        self.advance(now_ps);
        let found = self.len - self.departed;
        // (A full buffer with room in the queue: frames the output refused fill it.)
        if found >= self.cfg.queue_frames as usize
            || self.len == self.lens.len()
            || frame.len() > self.max_frame
        {
            self.stats.drops += 1;
            return;
        }
        let slot = (self.head + self.len) % self.lens.len();
        let n = frame.len();
        let buf = &mut self.data[slot * self.max_frame..][..n];
        buf.copy_from_slice(frame);
        if let Some(k) = self.cfg.ce_threshold
            && found >= k as usize
            && ecn_capable(buf)
        {
            mark_ce(buf);
            self.stats.ce_marked += 1;
        }
        let start = self.line_free_ps.max(now_ps);
        let depart = start.saturating_add(self.serialisation_ps(n));
        self.line_free_ps = depart;
        self.lens[slot] = n as u32;
        self.departs[slot] = depart;
        self.len += 1;
        let s = &mut self.stats;
        s.peak_queue = s.peak_queue.max((found + 1) as u32);
        s.frame_ns = s.frame_ns.saturating_add((depart - now_ps) / PS_PER_NS);
        s.span_ns = (depart - self.first_arrival_ps.unwrap_or(now_ps)) / PS_PER_NS;
    }

    /// Hands on, oldest first, every frame whose last bit is out, plus the delay, by
    /// `now_ns`. `out` returns false when it cannot take a frame now (a full ring): that frame
    /// and those behind it stay, and leave at a later call.
    pub fn release(&mut self, now_ns: u64, mut out: impl FnMut(&[u8]) -> bool) {
        let now_ps = now_ns.saturating_mul(PS_PER_NS);
        self.advance(now_ps);
        while self.len > 0 && self.departs[self.head].saturating_add(self.delay_ps) <= now_ps {
            let i = self.head;
            let frame = &self.data[i * self.max_frame..][..self.lens[i] as usize];
            if !out(frame) {
                return;
            }
            self.head = (self.head + 1) % self.lens.len();
            self.len -= 1;
            // The head was off the line (its departure is past): `advance` counted it.
            self.departed -= 1;
            self.stats.delivered += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::impair::test_frames::{ipv4_frame, ipv4_sum};

    fn queue(rate_bps: u64, queue_frames: u32, ce_threshold: Option<u32>) -> BottleneckQueue {
        BottleneckQueue::new(
            Bottleneck {
                rate_bps,
                queue_frames,
                ce_threshold,
                delay_ns: 0,
            },
            1514,
        )
        .unwrap()
    }

    /// Offers `frame` at `now_ns`, recording what left as (time asked, length).
    fn offer(q: &mut BottleneckQueue, frame: &[u8], now_ns: u64, out: &mut Vec<(u64, usize)>) {
        q.offer(frame, now_ns, |f| {
            out.push((now_ns, f.len()));
            true
        });
    }

    #[test]
    fn wire_length_counts_padding_fcs_preamble_and_gap() {
        assert_eq!(wire_bytes(1514), 1538);
        assert_eq!(wire_bytes(60), 84);
        assert_eq!(wire_bytes(42), 84, "padded to 60 first");
    }

    #[test]
    fn frames_leave_spaced_by_their_time_on_the_line() {
        // 10 Gbit/s: a 1514-byte frame is 1538 * 8 bits = 1230.4 ns; a 60-byte one 67.2 ns.
        let mut q = queue(10_000_000_000, 10, None);
        let mut out = Vec::new();
        for _ in 0..3 {
            offer(&mut q, &[0; 1514], 1_000, &mut out);
        }
        offer(&mut q, &[0; 60], 1_000, &mut out);
        assert!(out.is_empty(), "nothing leaves before its last bit");
        assert_eq!(
            q.next_delivery_ns(),
            Some(1_000 + 1231),
            "1230.4 ns, rounded up"
        );
        let mut left = Vec::new();
        for t in (1_000..6_000).step_by(1) {
            q.release(t, |f| {
                left.push((t, f.len()));
                true
            });
        }
        // Exact departures 2230.4, 3460.8, 4691.2, 4758.4 ns: each seen at the first whole
        // nanosecond at or after it.
        assert_eq!(left, [(2231, 1514), (3461, 1514), (4692, 1514), (4759, 60)]);
        // An idle line: a frame later starts at once.
        offer(&mut q, &[0; 1514], 10_000, &mut out);
        assert_eq!(q.next_delivery_ns(), Some(11_231));
        let s = q.stats();
        assert_eq!(
            (s.offered, s.delivered, s.drops, s.peak_queue),
            (5, 4, 0, 4)
        );
    }

    #[test]
    fn the_frame_that_finds_the_queue_full_is_dropped() {
        let mut q = queue(1_000_000_000, 3, None);
        let mut out = Vec::new();
        for _ in 0..5 {
            offer(&mut q, &[1; 100], 0, &mut out);
        }
        let s = q.stats();
        assert_eq!((s.offered, s.drops, s.peak_queue), (5, 2, 3));
        assert_eq!(q.queued(), 3);
        // Once the head has left there is room for exactly one more.
        let t1 = q.next_delivery_ns().unwrap();
        offer(&mut q, &[1; 100], t1, &mut out);
        offer(&mut q, &[1; 100], t1, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(q.stats().drops, 3);
        // Too long for the buffer: dropped, counted, never a panic.
        offer(&mut q, &[1; 2000], t1, &mut out);
        assert_eq!(q.stats().drops, 4);
    }

    #[test]
    fn marks_at_the_threshold_and_only_ecn_capable_frames() {
        let mut q = queue(1_000_000_000, 10, Some(2));
        let mut tos = Vec::new();
        let mut frames = Vec::new();
        // Arrivals find 0, 1, 2, 3, 4, 5 frames queued.
        for ecn in [0b10, 0b01, 0b10, 0b00, 0b01, 0b11] {
            q.offer(&ipv4_frame(ecn), 0, |_| true);
        }
        q.release(u64::MAX / PS_PER_NS, |f| {
            tos.push(f[15] & 0b11);
            frames.push(f.to_vec());
            true
        });
        assert_eq!(tos, [0b10, 0b01, 0b11, 0b00, 0b11, 0b11]);
        assert_eq!(
            q.stats().ce_marked,
            2,
            "not-ECT and already-CE frames are not counted"
        );
        assert!(frames.iter().all(|f| ipv4_sum(&f[14..34]) == 0xFFFF));
        // Not IPv4: never marked.
        let mut other = vec![0u8; 60];
        other[15] = 0b10;
        q.offer(&other, 0, |_| true);
        q.offer(&other, 0, |_| true);
        q.offer(&other, 0, |_| true);
        assert_eq!(q.stats().ce_marked, 2);
    }

    #[test]
    fn a_refusing_output_keeps_the_frame_at_the_head() {
        let mut q = queue(1_000_000_000, 4, None);
        q.offer(&[7; 100], 0, |_| true);
        q.offer(&[8; 100], 0, |_| true);
        let mut taken = 0;
        q.release(1_000_000, |_| {
            taken += 1;
            taken < 2
        });
        assert_eq!((q.queued(), q.in_flight(), q.stats().delivered), (0, 1, 1));
        let mut got = Vec::new();
        q.release(1_000_000, |f| {
            got.push(f[0]);
            true
        });
        assert_eq!(got, [8]);
    }

    #[test]
    fn average_occupancy_is_the_frame_time_over_the_span() {
        // 101-byte frames are 125 bytes on the line: 1000 bits, 1 us at 1 Gbit/s.
        let mut q = queue(1_000_000_000, 10, None);
        for _ in 0..4 {
            q.offer(&[0; 101], 0, |_| true);
        }
        // In the element: 1, 2, 3, 4 us; span 4 us: 2.5 frames on average.
        let s = q.stats();
        assert_eq!((s.frame_ns, s.span_ns), (10_000, 4_000));
        assert!((s.average_queue() - 2.5).abs() < 1e-9);
        assert!((s.average_sojourn_us() - 2.5).abs() < 1e-9);
        let both = s.plus(&s);
        assert_eq!((both.offered, both.peak_queue), (8, 4));
        assert!((both.average_queue() - 2.5).abs() < 1e-9);
    }

    #[test]
    fn settings_are_checked_with_the_fix() {
        assert!(Bottleneck::OFF.check().is_ok());
        assert!(BottleneckQueue::new(Bottleneck::OFF, 1514).is_err());
        let on = Bottleneck {
            rate_bps: 10_000_000_000,
            queue_frames: 100,
            ce_threshold: Some(20),
            delay_ns: 50_000,
        };
        assert!(on.check().is_ok());
        let e = Bottleneck {
            delay_ns: 2_000_000_000,
            ..on
        }
        .check()
        .unwrap_err();
        assert!(e.contains("at most 1000 ms"), "{e}");
        let e = BottleneckQueue::new(
            Bottleneck {
                rate_bps: 100_000_000_000,
                delay_ns: 500_000_000,
                ..on
            },
            9216,
        )
        .unwrap_err();
        assert!(e.contains("shorten the delay"), "{e}");
        let e = Bottleneck {
            ce_threshold: Some(100),
            ..on
        }
        .check()
        .unwrap_err();
        assert!(
            e.contains("threshold 100") && e.contains("below 100"),
            "{e}"
        );
        let e = Bottleneck {
            queue_frames: 0,
            ..on
        }
        .check()
        .unwrap_err();
        assert!(e.contains("1 to 16384"), "{e}");
        let e = Bottleneck { rate_bps: 10, ..on }.check().unwrap_err();
        assert!(e.contains("too slow"), "{e}");
    }

    #[test]
    fn rates_parse_with_units_and_mistakes_say_how() {
        for (text, bps) in [
            ("10G", 10_000_000_000),
            ("25Gbit", 25_000_000_000),
            ("2.5Gbps", 2_500_000_000),
            ("1G", 1_000_000_000),
            ("100M", 100_000_000),
            ("100Mbit/s", 100_000_000),
            ("64k", 64_000),
            ("1000000", 1_000_000),
            (" 40 G ", 40_000_000_000),
        ] {
            assert_eq!(parse_rate(text), Ok(bps), "{text}");
        }
        let e = parse_rate("10GB").unwrap_err();
        assert!(e.contains("bytes") && e.contains("10G"), "{e}");
        for bad in ["", "G", "ten", "10Q", "0", "0G", "1e3", "-5G"] {
            let e = parse_rate(bad).unwrap_err();
            assert!(e.contains("e.g. 10G"), "{bad}: {e}");
        }
    }

    #[test]
    fn delays_parse_with_their_unit() {
        for (text, ns) in [
            ("50us", 50_000),
            ("1.5ms", 1_500_000),
            ("200ns", 200),
            ("1s", 1_000_000_000),
            ("0us", 0),
        ] {
            assert_eq!(parse_delay(text), Ok(ns), "{text}");
        }
        for bad in ["50", "5 parsecs", "us", "2s", "-1ms"] {
            let e = parse_delay(bad).unwrap_err();
            assert!(e.contains("50us"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_delay_hands_frames_on_later_and_frames_in_flight_leave_the_queue() {
        // 1 Gbit/s, 101-byte frames: 1 us on the line; then 10 us of delay.
        let mut q = BottleneckQueue::new(
            Bottleneck {
                rate_bps: 1_000_000_000,
                queue_frames: 1,
                ce_threshold: None,
                delay_ns: 10_000,
            },
            1514,
        )
        .unwrap();
        let mut out = Vec::new();
        q.offer(&[1; 101], 0, |_| true);
        q.offer(&[2; 101], 500, |_| true);
        assert_eq!(q.stats().drops, 1, "the first is still on the line");
        // Off the line at 1 us: in flight, no longer queued, so the next one fits.
        q.offer(&[3; 101], 1_000, |_| true);
        assert_eq!((q.queued(), q.in_flight(), q.stats().drops), (1, 1, 1));
        assert_eq!(q.next_delivery_ns(), Some(11_000));
        let mut take = |q: &mut BottleneckQueue, t| {
            q.release(t, |f| {
                out.push((t, f[0]));
                true
            })
        };
        take(&mut q, 10_999);
        take(&mut q, 11_000);
        take(&mut q, 11_999);
        take(&mut q, 12_000);
        assert_eq!(out, [(11_000, 1), (12_000, 3)]);
        assert_eq!((q.queued(), q.in_flight()), (0, 0));
        assert_eq!(
            q.stats().frame_ns,
            2_000,
            "time queued, the delay not counted"
        );
    }

    #[test]
    fn specs_split_into_bottleneck_and_impairment() {
        let (b, rest) = split_spec("loss=0.01,rate=10G,queue=64,ce_threshold=16,seed=3").unwrap();
        let (d, _) = split_spec("rate=10G,delay=50us").unwrap();
        assert_eq!(d.delay_ns, 50_000);
        assert!(split_spec("delay=5us").unwrap_err().contains("rate="));
        assert_eq!(
            b,
            Bottleneck {
                rate_bps: 10_000_000_000,
                queue_frames: 64,
                ce_threshold: Some(16),
                delay_ns: 0,
            }
        );
        assert_eq!(rest, "loss=0.01,seed=3");
        let (b, rest) = split_spec("rate=1G").unwrap();
        assert_eq!(
            (b.queue_frames, b.ce_threshold, rest.as_str()),
            (100, None, "")
        );
        assert_eq!(split_spec("loss=0.1").unwrap().0, Bottleneck::OFF);
        let e = split_spec("queue=10").unwrap_err();
        assert!(e.contains("rate="), "{e}");
        let e = split_spec("rate=1G,queue=10,ce_threshold=10").unwrap_err();
        assert!(e.contains("below 10"), "{e}");
        assert!(split_spec("rate=1G,queue=x").unwrap_err().contains("queue"));
    }
}
