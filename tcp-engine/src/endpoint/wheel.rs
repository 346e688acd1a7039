//! A hierarchical timing wheel over connection slot indices: the endpoint's timer structure.
//!
//! Every connection with a deadline (retransmission, persist, delayed ACK, keepalive,
//! TIME-WAIT, FIN-WAIT-2: whatever [`Tcb::next_deadline`](crate::tcb::Tcb::next_deadline)
//! says) is linked into exactly one bucket. Scheduling, rescheduling and cancelling are O(1);
//! expiry costs O(1) per expired timer plus at most one move per level (cascade), and for a
//! timer whose deadline was pushed later a re-filing (and its cascade) when its old bucket
//! fires (lazy re-filing, below); finding the next deadline looks at a few occupancy bitmap
//! words. Nothing scans the connections.
//!
//! **Layout.** Time is the engine's microsecond clock. [`LEVELS`] levels of [`SLOTS`] buckets
//! each: a level-0 bucket is one microsecond, a level-`l` bucket `256^l` microseconds, so five
//! levels span 2^40 us (12.7 days). A deadline `d` goes to the level of the highest base-256
//! digit in which it differs from the cursor `c` (the time up to which everything expired),
//! into the bucket of its digit at that level. A level-0 bucket therefore holds timers of one
//! exact microsecond; a higher bucket fires at its start (never after any deadline in it) and
//! re-files its timers one level down or more (cascade), so every timer fires at exactly its
//! deadline once the caller advances the wheel to (or past) it.
//!
//! **Storage.** The bucket heads and bitmaps are fixed arrays (5 KiB). The links live in the
//! connections (`TimerLinks`: 10 bytes), reached through [`TimerHost`] by slot index; the
//! wheel never stores a deadline: it asks the host when it cascades.
//!
//! **Lazy re-filing.** A timer whose deadline moves later, or goes away, stays in its bucket:
//! that bucket fires no later than the new deadline, asks the host for the deadline then in
//! force and re-files the timer (or drops it). Only a deadline earlier than its bucket moves a
//! timer at once. A short connection whose deadline changes kind several times (RTO, delayed
//! ACK, TIME-WAIT) is filed a few times instead of at every change.
//!
//! Owns bucket bookkeeping only; it knows nothing of TCP. The endpoint keeps the invariant
//! "a connection with a deadline is linked in a bucket that fires no later than it" by
//! rescheduling after every change to a connection, and takes a connection's timer out
//! ([`TimerWheel::cancel`]) before its slot goes.

/// "No slot" in a link.
pub(crate) const NIL: u32 = u32::MAX;
const BITS: u32 = 8;
/// Buckets per level.
pub(crate) const SLOTS: usize = 1 << BITS;
/// Levels: 5 * 8 bits of microseconds (12.7 days) before deadlines are clamped.
pub(crate) const LEVELS: usize = 5;
const WORDS: usize = SLOTS / 64;
const UNLINKED: u16 = u16::MAX;
/// Position of the overflow list (a deadline no bucket can hold for one microsecond every
/// 12.7 days, when every digit of the cursor is 255).
const OVERFLOW: u16 = u16::MAX - 1;

/// The intrusive links of one timer (stored in its connection). Ten bytes: packed to 2-byte
/// alignment so the owner's small fields fill what would be padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(2))]
pub(crate) struct TimerLinks {
    prev: u32,
    next: u32,
    pos: u16,
}

impl TimerLinks {
    /// Not in the wheel.
    pub(crate) const UNLINKED: TimerLinks = TimerLinks {
        prev: NIL,
        next: NIL,
        pos: UNLINKED,
    };

    /// Whether the timer is in the wheel.
    #[inline]
    pub(crate) fn is_linked(&self) -> bool {
        let pos = self.pos;
        pos != UNLINKED
    }

    /// The `next` link of links that are not in the wheel, which the owner may use for a list
    /// of its own (the endpoint chains parked listeners, which never have timers, through it).
    #[inline]
    pub(crate) fn spare_next(&self) -> u32 {
        debug_assert!(!self.is_linked());
        self.next
    }

    /// Sets the spare `next` link (see [`spare_next`](Self::spare_next)).
    #[inline]
    pub(crate) fn set_spare_next(&mut self, next: u32) {
        debug_assert!(!self.is_linked());
        self.next = next;
    }

    /// The `prev` link of links that are not in the wheel, free for the owner like
    /// [`spare_next`](Self::spare_next) (the endpoint keeps a port's count of listening slots
    /// in its registered listener's).
    #[inline]
    pub(crate) fn spare_prev(&self) -> u32 {
        debug_assert!(!self.is_linked());
        self.prev
    }

    /// Sets the spare `prev` link (see [`spare_prev`](Self::spare_prev)).
    #[inline]
    pub(crate) fn set_spare_prev(&mut self, prev: u32) {
        debug_assert!(!self.is_linked());
        self.prev = prev;
    }
}

/// What the wheel needs from the structure holding the timers.
pub(crate) trait TimerHost {
    /// The links of timer `idx`.
    fn links(&mut self, idx: u32) -> &mut TimerLinks;
    /// The deadline in force for `idx` (microseconds), asked when a bucket cascades.
    fn deadline(&mut self, idx: u32) -> Option<u64>;
    /// `idx`'s deadline has passed (it is unlinked already).
    fn expire(&mut self, idx: u32);
}

/// Where a deadline goes relative to the cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Bucket(usize, usize),
    Overflow,
}

impl Place {
    fn code(self) -> u16 {
        match self {
            Place::Bucket(level, slot) => (level * SLOTS + slot) as u16,
            Place::Overflow => OVERFLOW,
        }
    }
}

/// Read-only access to the timers, for [`TimerWheel::next_expiration`].
pub(crate) trait TimerRead {
    /// The links of timer `idx`.
    fn links(&self, idx: u32) -> TimerLinks;
    /// The deadline in force for `idx`.
    fn deadline(&self, idx: u32) -> Option<u64>;
}

/// Timers looked at to answer `next_expiration` exactly.
const EXACT_SCAN: usize = 32;

/// The wheel. See the module docs.
#[derive(Clone)]
pub(crate) struct TimerWheel {
    heads: [[u32; SLOTS]; LEVELS],
    occupied: [[u64; WORDS]; LEVELS],
    overflow: u32,
    /// Every timer's deadline is later than this (microseconds).
    cursor: u64,
    len: u32,
}

impl TimerWheel {
    /// An empty wheel with its cursor at 0.
    pub(crate) const fn new() -> TimerWheel {
        TimerWheel {
            heads: [[NIL; SLOTS]; LEVELS],
            occupied: [[0; WORDS]; LEVELS],
            overflow: NIL,
            cursor: 0,
            len: 0,
        }
    }

    /// Timers linked.
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// The time up to which everything expired.
    pub(crate) fn cursor(&self) -> u64 {
        self.cursor
    }

    #[inline]
    fn digit(value: u64, level: usize) -> usize {
        ((value >> (BITS as usize * level)) & (SLOTS as u64 - 1)) as usize
    }

    /// The bucket a deadline later than the cursor belongs to.
    fn place(&self, deadline: u64) -> Place {
        let masked = (self.cursor ^ deadline) | (SLOTS as u64 - 1);
        let level = (63 - masked.leading_zeros()) as usize / BITS as usize;
        if level < LEVELS {
            return Place::Bucket(level, Self::digit(deadline, level));
        }
        // Beyond the top level's window: the last bucket of the highest level that still has
        // one ahead of the cursor fires before the deadline and re-files it.
        (0..LEVELS)
            .rev()
            .find(|&l| Self::digit(self.cursor, l) < SLOTS - 1)
            .map_or(Place::Overflow, |l| Place::Bucket(l, SLOTS - 1))
    }

    /// When bucket (`level`, `slot`) fires.
    #[inline]
    fn bucket_start(&self, level: usize, slot: usize) -> u64 {
        let shift = BITS as usize * level;
        let window = BITS as usize * (level + 1);
        let base = if window >= 64 {
            0
        } else {
            self.cursor & !((1u64 << window) - 1)
        };
        base + ((slot as u64) << shift)
    }

    /// The first occupied bucket of `level` after the cursor's digit.
    fn first_occupied(&self, level: usize) -> Option<usize> {
        self.first_occupied_from(level, Self::digit(self.cursor, level) + 1)
    }

    /// The first occupied bucket of `level` at or after slot `from`.
    fn first_occupied_from(&self, level: usize, from: usize) -> Option<usize> {
        if from >= SLOTS {
            return None;
        }
        let words = &self.occupied[level];
        let mut w = from / 64;
        let mut bits = words[w] & (!0u64 << (from % 64));
        loop {
            if bits != 0 {
                return Some(w * 64 + bits.trailing_zeros() as usize);
            }
            w += 1;
            if w == WORDS {
                return None;
            }
            bits = words[w];
        }
    }

    /// The next bucket to fire: its time, level and slot. Lower levels always fire first.
    fn next_bucket(&self) -> Option<(u64, usize, usize)> {
        (0..LEVELS).find_map(|level| {
            self.first_occupied(level)
                .map(|slot| (self.bucket_start(level, slot), level, slot))
        })
    }

    /// When the caller must next [`advance`](Self::advance): the exact earliest deadline.
    /// Buckets are looked at in firing order; a timer may sit in a bucket earlier than its
    /// deadline (see [`schedule_from`](Self::schedule_from)), so the deadlines of each bucket's
    /// timers are asked until the next bucket starts no earlier than the best deadline found.
    /// After [`EXACT_SCAN`] timers the start of the bucket being looked at is returned
    /// instead (a lower bound: the caller wakes once more, the bucket re-files its timers and
    /// the next answer is closer).
    pub(crate) fn next_expiration<R: TimerRead>(&self, reader: &R) -> Option<u64> {
        let mut best = u64::MAX;
        let mut scanned = 0;
        'levels: for level in 0..LEVELS {
            let mut from = Self::digit(self.cursor, level) + 1;
            while let Some(slot) = self.first_occupied_from(level, from) {
                let at = self.bucket_start(level, slot);
                if at >= best {
                    break 'levels;
                }
                let mut idx = self.heads[level][slot];
                while idx != NIL {
                    if scanned == EXACT_SCAN {
                        best = at;
                        break 'levels;
                    }
                    scanned += 1;
                    if let Some(d) = reader.deadline(idx) {
                        best = best.min(d.max(at));
                    }
                    idx = reader.links(idx).next;
                }
                from = slot + 1;
            }
        }
        if self.overflow != NIL {
            best = best.min(self.cursor.saturating_add(1));
        }
        (best != u64::MAX).then_some(best)
    }

    /// Links timer `idx` (not linked now) at the head of `place`; writes its links once.
    #[inline]
    fn link<H: TimerHost>(&mut self, host: &mut H, idx: u32, place: Place) {
        let head = match place {
            Place::Bucket(level, slot) => {
                self.occupied[level][slot / 64] |= 1 << (slot % 64);
                &mut self.heads[level][slot]
            }
            Place::Overflow => &mut self.overflow,
        };
        let old = *head;
        *head = idx;
        if old != NIL {
            host.links(old).prev = idx;
        }
        *host.links(idx) = TimerLinks {
            prev: NIL,
            next: old,
            pos: place.code(),
        };
        self.len += 1;
    }

    /// Takes the timer whose current links are `links` out of its list: fixes its neighbours
    /// and its bucket, but leaves its own links for the caller to overwrite (one slot access
    /// fewer than reading and writing them here).
    #[inline]
    fn detach<H: TimerHost>(&mut self, host: &mut H, links: TimerLinks) {
        let pos = links.pos;
        if links.next != NIL {
            host.links(links.next).prev = links.prev;
        }
        if links.prev != NIL {
            host.links(links.prev).next = links.next;
        } else if pos == OVERFLOW {
            self.overflow = links.next;
        } else {
            let (level, slot) = (usize::from(pos) / SLOTS, usize::from(pos) % SLOTS);
            self.heads[level][slot] = links.next;
            if links.next == NIL {
                self.occupied[level][slot / 64] &= !(1 << (slot % 64));
            }
        }
        self.len -= 1;
    }

    fn unlink<H: TimerHost>(&mut self, host: &mut H, idx: u32) {
        let links = *host.links(idx);
        if !links.is_linked() {
            return;
        }
        self.detach(host, links);
        *host.links(idx) = TimerLinks::UNLINKED;
    }

    /// Files timer `idx` under `deadline` (or takes it out for `None`). Returns `true` when the
    /// deadline is not later than the cursor: the timer is due now and not linked; the caller
    /// handles it as expired.
    #[cfg(test)]
    pub(crate) fn schedule<H: TimerHost>(
        &mut self,
        host: &mut H,
        idx: u32,
        deadline: Option<u64>,
    ) -> bool {
        let links = *host.links(idx);
        self.schedule_from(host, idx, links, deadline)
    }

    /// [`schedule`](Self::schedule) for a caller that read timer `idx`'s links already
    /// (`links` must be its current links). A timer that stays in its bucket costs no slot
    /// access at all; a move costs one write of its links plus its old and new neighbours.
    #[inline]
    ///
    /// Lazy: a timer whose deadline moved later, or went away, stays in the bucket it is in
    /// (that bucket fires before the new deadline and re-files it under the deadline then in
    /// force, or drops it); only a deadline earlier than its bucket moves it.
    pub(crate) fn schedule_from<H: TimerHost>(
        &mut self,
        host: &mut H,
        idx: u32,
        links: TimerLinks,
        deadline: Option<u64>,
    ) -> bool {
        let due = match deadline {
            // Left where it is (see above); `cancel` takes a timer out for good.
            None => return false,
            Some(d) if d <= self.cursor => true,
            Some(d) => {
                let pos = links.pos;
                if links.is_linked() && pos != OVERFLOW {
                    let (level, slot) = (usize::from(pos) / SLOTS, usize::from(pos) % SLOTS);
                    if self.bucket_start(level, slot) <= d {
                        // Its bucket fires no later than the deadline.
                        return false;
                    }
                }
                let place = self.place(d);
                if links.is_linked() {
                    self.detach(host, links);
                }
                self.link(host, idx, place);
                return false;
            }
        };
        if links.is_linked() {
            self.detach(host, links);
            *host.links(idx) = TimerLinks::UNLINKED;
        }
        due
    }

    /// Takes timer `idx` out, if it is in.
    pub(crate) fn cancel<H: TimerHost>(&mut self, host: &mut H, idx: u32) {
        self.unlink(host, idx);
    }

    /// [`cancel`](Self::cancel) for a caller that read timer `idx`'s links already.
    pub(crate) fn cancel_from<H: TimerHost>(&mut self, host: &mut H, idx: u32, links: TimerLinks) {
        if links.is_linked() {
            self.detach(host, links);
            *host.links(idx) = TimerLinks::UNLINKED;
        }
    }

    /// Expires every timer whose deadline is at or before `now` (calling
    /// [`TimerHost::expire`] for each, in deadline order per bucket) and moves the cursor to
    /// `now`.
    pub(crate) fn advance<H: TimerHost>(&mut self, host: &mut H, now: u64) {
        if now <= self.cursor {
            return;
        }
        if self.len == 0 {
            self.cursor = now;
            return;
        }
        while let Some((at, level, slot)) = self.next_bucket() {
            if at > now {
                break;
            }
            self.cursor = at;
            let list = self.heads[level][slot];
            self.heads[level][slot] = NIL;
            self.occupied[level][slot / 64] &= !(1 << (slot % 64));
            // Level 0 holds exact deadlines, except a deadline that no bucket could hold when
            // it was filed (then it waited here); higher levels re-file theirs one level down.
            self.refile(host, list);
        }
        self.cursor = now;
        // The overflow list only ever holds timers filed while every digit of the cursor was
        // 255; the cursor has moved, so they fit a bucket now.
        let list = core::mem::replace(&mut self.overflow, NIL);
        self.refile(host, list);
    }

    /// Files again (or expires) every timer of the detached list starting at `idx`, under the
    /// deadline its host says is in force.
    fn refile<H: TimerHost>(&mut self, host: &mut H, mut idx: u32) {
        while idx != NIL {
            // The list is detached from its bucket already: each timer's links are written
            // once, by `link` when it is filed again, or cleared when it is not.
            let next = host.links(idx).next;
            self.len -= 1;
            match host.deadline(idx) {
                Some(d) if d > self.cursor => {
                    let place = self.place(d);
                    self.link(host, idx, place);
                }
                deadline => {
                    *host.links(idx) = TimerLinks::UNLINKED;
                    if deadline.is_some() {
                        host.expire(idx);
                    }
                }
            }
            idx = next;
        }
    }

    /// Checks that timer `idx` is filed in a bucket that fires no later than `deadline` (any
    /// filing, or none, for `None`: see [`schedule_from`](Self::schedule_from)).
    /// For invariant checks in tests; O(1).
    pub(crate) fn check_filed(&self, links: &TimerLinks, deadline: Option<u64>) -> bool {
        match deadline {
            // Unlinked, or left in its bucket when the deadline went away (it is dropped when
            // the bucket fires).
            None => true,
            Some(d) if d <= self.cursor => false,
            Some(d) => {
                if !links.is_linked() {
                    return false;
                }
                if links.pos == OVERFLOW {
                    return true;
                }
                let (level, slot) = (
                    usize::from(links.pos) / SLOTS,
                    usize::from(links.pos) % SLOTS,
                );
                // Filed where a deadline belongs, or in an earlier bucket that re-files it.
                slot > Self::digit(self.cursor, level) && self.bucket_start(level, slot) <= d
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    struct Host {
        links: Vec<TimerLinks>,
        deadlines: Vec<Option<u64>>,
        fired: Vec<(u32, u64)>,
        now: u64,
    }

    impl TimerHost for Host {
        fn links(&mut self, idx: u32) -> &mut TimerLinks {
            &mut self.links[idx as usize]
        }
        fn deadline(&mut self, idx: u32) -> Option<u64> {
            self.deadlines[idx as usize]
        }
        fn expire(&mut self, idx: u32) {
            self.fired.push((idx, self.now));
        }
    }

    impl TimerRead for Host {
        fn links(&self, idx: u32) -> TimerLinks {
            self.links[idx as usize]
        }
        fn deadline(&self, idx: u32) -> Option<u64> {
            self.deadlines[idx as usize]
        }
    }

    fn host(n: usize) -> Host {
        Host {
            links: vec![TimerLinks::UNLINKED; n],
            deadlines: vec![None; n],
            fired: Vec::new(),
            now: 0,
        }
    }

    fn set(w: &mut TimerWheel, h: &mut Host, idx: u32, d: Option<u64>) {
        h.deadlines[idx as usize] = d;
        assert!(!w.schedule(h, idx, d));
    }

    #[test]
    fn timers_fire_at_their_deadline_across_levels() {
        let mut w = TimerWheel::new();
        let mut h = host(8);
        w.advance(&mut h, 1_000);
        let ds = [
            1_001,
            1_255,
            1_256,
            70_000,
            5_000_000,
            3_000_000_000,
            900_000_000_000,
        ];
        for (i, d) in ds.iter().enumerate() {
            set(&mut w, &mut h, i as u32, Some(*d));
        }
        assert_eq!(w.len(), ds.len());
        // Step through time exactly as a poll loop does: jump to the next expiration.
        while let Some(at) = w.next_expiration(&h) {
            h.now = at;
            w.advance(&mut h, at);
        }
        let mut fired = h.fired.clone();
        fired.sort();
        let expected: Vec<(u32, u64)> =
            ds.iter().enumerate().map(|(i, d)| (i as u32, *d)).collect();
        assert_eq!(fired, expected, "every timer fires at exactly its deadline");
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn rescheduling_and_cancelling() {
        let mut w = TimerWheel::new();
        let mut h = host(4);
        set(&mut w, &mut h, 0, Some(500));
        set(&mut w, &mut h, 1, Some(500));
        set(&mut w, &mut h, 2, Some(90_000));
        // Move 2 earlier than 0, cancel 1.
        set(&mut w, &mut h, 2, Some(100));
        set(&mut w, &mut h, 1, None);
        assert_eq!(w.next_expiration(&h), Some(100));
        h.now = 10_000;
        w.advance(&mut h, 10_000);
        assert_eq!(h.fired, vec![(2, 10_000), (0, 10_000)]);
        // A deadline at or before the cursor is due at once and not filed.
        h.deadlines[3] = Some(9_000);
        assert!(w.schedule(&mut h, 3, Some(9_000)));
        assert!(!h.links[3].is_linked());
        assert_eq!(w.next_expiration(&h), None);
    }

    #[test]
    fn a_deadline_pushed_later_or_gone_stays_in_its_bucket_and_fires_on_time() {
        let mut w = TimerWheel::new();
        let mut h = host(3);
        set(&mut w, &mut h, 0, Some(300));
        let filed = h.links[0];
        // Later, and gone: neither moves the timer.
        set(&mut w, &mut h, 0, Some(70_000));
        assert_eq!(h.links[0], filed);
        set(&mut w, &mut h, 1, Some(500));
        set(&mut w, &mut h, 1, None);
        assert!(h.links[1].is_linked());
        // The next deadline is still exact, although the buckets fire earlier.
        assert_eq!(w.next_expiration(&h), Some(70_000));
        // Earlier than its bucket: moved at once.
        set(&mut w, &mut h, 2, Some(90_000));
        set(&mut w, &mut h, 2, Some(200));
        assert_eq!(w.next_expiration(&h), Some(200));
        h.now = 1_000;
        w.advance(&mut h, 1_000);
        // 2 fired; 0 was re-filed under its deadline, 1 dropped, neither fired.
        assert_eq!(h.fired, vec![(2, 1_000)]);
        assert_eq!(w.len(), 1);
        assert!(w.check_filed(&h.links[0], Some(70_000)));
        while let Some(at) = w.next_expiration(&h) {
            h.now = at;
            w.advance(&mut h, at);
        }
        assert_eq!(h.fired, vec![(2, 1_000), (0, 70_000)]);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn far_deadlines_and_the_all_ones_cursor() {
        let mut w = TimerWheel::new();
        let mut h = host(3);
        // Beyond 2^40 us: filed early, re-filed until it fires on time.
        let far = (1u64 << 41) + 12_345;
        set(&mut w, &mut h, 0, Some(far));
        // The cursor at ...FF in every digit: the next microsecond starts a new top window.
        let edge = (1u64 << 40) - 1;
        h.now = edge;
        w.advance(&mut h, edge);
        set(&mut w, &mut h, 1, Some(edge + 10));
        assert!(w.next_expiration(&h).unwrap() <= edge + 10);
        while let Some(at) = w.next_expiration(&h) {
            assert!(at > w.cursor(), "progress");
            h.now = at;
            w.advance(&mut h, at);
        }
        let mut fired = h.fired.clone();
        fired.sort();
        assert_eq!(fired, vec![(0, far), (1, edge + 10)]);
    }

    proptest::proptest! {
        /// Random schedules, reschedules, cancels and jumps of the clock: every timer fires
        /// exactly once, at the first advance at or after its deadline, never before, and the
        /// wheel's own bookkeeping agrees with the host.
        #[test]
        fn random_timers_fire_on_time(ops in proptest::collection::vec((0u32..16, 0u64..3_000_000, 0u64..400_000, proptest::bool::ANY), 1..200)) {
            let mut w = TimerWheel::new();
            let mut h = host(16);
            let mut now = 0u64;
            for (idx, delta, step, cancel) in ops {
                let d = if cancel { None } else { Some(now + 1 + delta * delta / 1_000) };
                h.deadlines[idx as usize] = d;
                if w.schedule(&mut h, idx, d) {
                    h.fired.push((idx, now));
                }
                now += step;
                h.now = now;
                let before = h.fired.len();
                w.advance(&mut h, now);
                for &(i, at) in &h.fired[before..] {
                    let due = h.deadlines[i as usize].expect("fired without a deadline");
                    proptest::prop_assert!(due <= at, "fired early");
                    h.deadlines[i as usize] = None;
                }
                for i in 0..16u32 {
                    if let Some(d) = h.deadlines[i as usize] {
                        proptest::prop_assert!(d > now, "timer {} due at {} not fired by {}", i, d, now);
                    }
                    let links = h.links[i as usize];
                    proptest::prop_assert!(w.check_filed(&links, h.deadlines[i as usize]), "timer {} misfiled", i);
                }
                let linked = h.links.iter().filter(|l| l.is_linked()).count();
                proptest::prop_assert_eq!(linked, w.len());
            }
        }
    }
}
