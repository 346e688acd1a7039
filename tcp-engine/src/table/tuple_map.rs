//! A fixed-capacity, keyed hash map from [`FourTuple`] to [`SlotKey`] whose probes read one
//! cache line.
//!
//! Storage is a caller-provided array of [`Bucket`]s, each one 64-byte cache line (64-aligned)
//! holding three entries (tuple and key, 20 bytes each) and an overflow count; sized by
//! [`TupleMap::buckets_for`] so that at most 80 % of the entries are in use. A tuple's hash picks
//! its home bucket; the entry lives there, or when the home bucket was full at insertion, in
//! the next bucket with room (linear probing by bucket). Every bucket counts the entries that
//! passed it full on their way further (the overflow count): a lookup reads its home line and
//! goes on to the next only while the count says some entry went past (a miss ends in its home
//! line when nothing passed it: about half the buckets at the default load). Removal empties
//! the entry, takes its passage back out of the counts of the buckets it passed, and refills
//! the hole with the nearest entry that passed it (each entry stores how far from home it
//! lives, so this needs no hashing), and so on down the run: no tombstones, and every entry
//! lives past full buckets only, as insertion alone would place it, so churn does not spread
//! the table out. At 80 % about 80 % of the entries sit in their home line and a successful
//! lookup reads 1.56 lines on average (the Robin Hood layout of 24-byte buckets before it: 2.6
//! lines at 7/8); linear probing has a long tail (the farthest of a million entries sits 50-100
//! buckets from home), which the keyed hash keeps rare.
//!
//! Why full tuples in the line rather than 16-bit tags and slot indices (eight or more per
//! line, the tuple compared in the connection's slot): a tag match would have to be confirmed
//! in the slot, tying the map to the slot's type and to a copy of the tuple kept there in step
//! with every re-key; three full entries keep the map self-contained at the same memory.
//!
//! The hash is keyed ([`TupleHasher`], SipHash-1-3 by default) so a peer who chooses ports and
//! addresses cannot aim them at one bucket. Every walk is bounded by the number of buckets,
//! whatever the hasher. Nothing here allocates after construction.
//!
//! Owns the index only: it never sees connection states and does not check that keys are live.

use core::fmt;

use super::siphash::{HashSecret, sip13_12};
use super::slotmap::SlotKey;
use super::{FourTuple, TableError};

/// Hashes a 4-tuple to 32 bits. The default, [`SipTupleHasher`], is keyed; tests substitute
/// degenerate hashers to force collisions.
pub trait TupleHasher {
    /// The hash of `tuple`.
    fn hash_tuple(&self, tuple: &FourTuple) -> u32;
}

/// SipHash-1-3 of the tuple's 12 bytes under a secret key, truncated to 32 bits.
#[derive(Clone, Debug)]
pub struct SipTupleHasher {
    secret: HashSecret,
}

impl SipTupleHasher {
    /// A hasher keyed with `secret` (use one derived for this purpose, see
    /// [`HashSecret::derive`]).
    pub const fn new(secret: HashSecret) -> Self {
        SipTupleHasher { secret }
    }
}

impl TupleHasher for SipTupleHasher {
    #[inline]
    fn hash_tuple(&self, tuple: &FourTuple) -> u32 {
        let (first8, last4) = tuple.hash_words();
        sip13_12(&self.secret, first8, last4) as u32
    }
}

/// One entry: a tuple and its key; `key: None` marks a free entry.
#[derive(Clone, Copy)]
struct Entry {
    tuple: FourTuple,
    key: Option<SlotKey>,
}

impl Entry {
    const FREE: Entry = Entry {
        tuple: FourTuple::listener(core::net::Ipv4Addr::UNSPECIFIED, 0),
        key: None,
    };
}

/// Entries per bucket (one cache line).
const WAYS: usize = 3;

/// One bucket of [`TupleMap`] storage: a 64-byte cache line of three entries, their
/// displacements and an overflow count. Make storage with [`Bucket::EMPTY`], e.g.
/// `[Bucket::EMPTY; N]` or `vec![Bucket::EMPTY; n]`.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct Bucket {
    entries: [Entry; WAYS],
    /// How many buckets past its home each entry lives ([`SATURATED`]: that many or more; the
    /// home is then found by hashing), so that removal can refill a hole without hashing.
    displacement: [u8; WAYS],
    /// Entries whose home is this bucket or one before it and that live past it (they found
    /// it full). A lookup that finds nothing here goes on only while this is not zero.
    /// [`SATURATED`] sticks (the count is then only known to be large; lookups go on).
    overflow: u8,
}

/// A saturated displacement or overflow count.
const SATURATED: u8 = u8::MAX;

impl Bucket {
    /// An empty bucket.
    pub const EMPTY: Bucket = Bucket {
        entries: [Entry::FREE; WAYS],
        displacement: [0; WAYS],
        overflow: 0,
    };

    fn is_full(&self) -> bool {
        self.entries.iter().all(|e| e.key.is_some())
    }

    /// The way of `tuple` in this bucket.
    #[inline(always)]
    fn way_of(&self, tuple: &FourTuple) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.tuple == *tuple && e.key.is_some())
    }

    /// A free way.
    #[inline]
    fn free_way(&self) -> Option<usize> {
        self.entries.iter().position(|e| e.key.is_none())
    }
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket::EMPTY
    }
}

/// What a segment's tuple matched in [`TupleMap::lookup_segment`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matched {
    /// A connection registered for exactly this 4-tuple.
    Connection(SlotKey),
    /// No connection, but a listener on the local address and port (or on the wildcard local
    /// address and the port). `listener` is the tuple it is registered under, for
    /// [`TupleMap::rekey`] once it accepts.
    Listener {
        /// The listening slot.
        key: SlotKey,
        /// The tuple the listener is registered under.
        listener: FourTuple,
    },
}

impl Matched {
    /// The slot matched, whatever kind.
    pub const fn key(self) -> SlotKey {
        match self {
            Matched::Connection(key) | Matched::Listener { key, .. } => key,
        }
    }
}

/// The bucket storage handed to [`TupleMap::new`] cannot hold the requested capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapSetupError {
    /// Entries requested.
    pub capacity: usize,
    /// Buckets provided.
    pub buckets: usize,
    /// Fewest buckets that hold the capacity ([`TupleMap::buckets_at_least`];
    /// [`TupleMap::buckets_for`] is the size to use), or `usize::MAX` when the capacity is
    /// beyond what one map can index.
    pub needed: usize,
}

impl fmt::Display for MapSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.needed == usize::MAX {
            write!(
                f,
                "tuple map capacity {} is beyond the supported maximum",
                self.capacity
            )
        } else {
            write!(
                f,
                "tuple map for {} entries needs at least {} buckets but was given {}; size the \
                 storage with TupleMap::buckets_for",
                self.capacity, self.needed, self.buckets
            )
        }
    }
}

/// Fixed-capacity keyed hash map from 4-tuple to [`SlotKey`] over bucket storage `S`.
pub struct TupleMap<S, H = SipTupleHasher> {
    buckets: S,
    len: usize,
    /// Entries whose tuple is a listener's ([`FourTuple::is_listener`]).
    listeners: usize,
    capacity: usize,
    hasher: H,
}

/// Largest capacity one map supports (bucket indices fit 32 bits).
pub const MAX_MAP_CAPACITY: usize = 0xC000_0000;

/// The load [`TupleMap::buckets_for`] sizes for, in percent of the entries.
pub const DEFAULT_LOAD_PERCENT: u32 = 80;

#[inline(always)]
fn home(hash: u32, buckets: usize) -> usize {
    ((u64::from(hash) * buckets as u64) >> 32) as usize
}

#[inline(always)]
fn next(pos: usize, buckets: usize) -> usize {
    if pos + 1 == buckets { 0 } else { pos + 1 }
}

/// Where an entry is: bucket and way.
#[derive(Clone, Copy)]
struct At {
    bucket: usize,
    way: usize,
}

impl<S: AsRef<[Bucket]> + AsMut<[Bucket]>, H: TupleHasher> TupleMap<S, H> {
    /// Buckets needed for `capacity` entries at the default load, at most
    /// [`DEFAULT_LOAD_PERCENT`] % of the entries in use (about 26.7 bytes per entry).
    pub const fn buckets_for(capacity: usize) -> usize {
        Self::buckets_for_load(capacity, DEFAULT_LOAD_PERCENT)
    }

    /// Buckets for `capacity` entries at a load of at most `load_percent` % of the entries
    /// (clamped to 10-90 %). A lower load costs memory (21.3 bytes / load per entry) and keeps
    /// more entries in their home line: at 90 % about 72 % of them are there, at 80 % 80 %, at
    /// 70 % 85 %.
    pub const fn buckets_for_load(capacity: usize, load_percent: u32) -> usize {
        let load = if load_percent < 10 {
            10
        } else if load_percent > 90 {
            90
        } else {
            load_percent
        };
        capacity
            .saturating_mul(100)
            .div_ceil(WAYS * load as usize)
            .saturating_add(1)
    }

    /// The fewest buckets that can hold `capacity` entries at all (every entry of every
    /// bucket in use when full; at least one bucket): what [`new`](Self::new) accepts.
    pub const fn buckets_at_least(capacity: usize) -> usize {
        let n = capacity.div_ceil(WAYS);
        if n == 0 { 1 } else { n }
    }

    /// A map of at most `capacity` entries over `buckets` (emptied here, O(buckets), once).
    /// Any number of buckets from [`Self::buckets_at_least`] up works (the map stays correct
    /// when every entry is in use, only slower); size them with [`Self::buckets_for`] for short
    /// probes.
    ///
    /// # Errors
    /// Too few buckets to hold `capacity` entries, more than `u32::MAX` buckets, or a capacity
    /// beyond [`MAX_MAP_CAPACITY`].
    pub fn new(mut buckets: S, capacity: usize, hasher: H) -> Result<Self, MapSetupError> {
        let have = buckets.as_ref().len();
        let needed = if capacity > MAX_MAP_CAPACITY {
            usize::MAX
        } else {
            Self::buckets_at_least(capacity)
        };
        if have < needed || have > u32::MAX as usize {
            return Err(MapSetupError {
                capacity,
                buckets: have,
                needed,
            });
        }
        buckets.as_mut().fill(Bucket::EMPTY);
        Ok(TupleMap {
            buckets,
            len: 0,
            listeners: 0,
            capacity,
            hasher,
        })
    }

    /// Entries stored.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// No entries.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether any entry is a listener's tuple ([`FourTuple::is_listener`]: remote address
    /// 0.0.0.0 or remote port 0). A host that only connects holds none, and then needs no
    /// listener lookups when it picks a local port.
    #[inline]
    pub fn holds_listeners(&self) -> bool {
        self.listeners > 0
    }

    /// Most entries the map accepts.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes of bucket storage.
    pub fn memory_bytes(&self) -> usize {
        core::mem::size_of_val(self.buckets.as_ref())
    }

    /// The hasher (to hash a tuple once and reuse it).
    pub fn hasher(&self) -> &H {
        &self.hasher
    }

    /// Where `tuple` is: its home bucket, then the following ones while their overflow counts
    /// say an entry went past; never more than every bucket once.
    #[inline]
    fn find(&self, tuple: &FourTuple, hash: u32) -> Option<At> {
        let buckets = self.buckets.as_ref();
        let n = buckets.len();
        let mut pos = home(hash, n);
        for _ in 0..n {
            let bucket = &buckets[pos];
            if let Some(way) = bucket.way_of(tuple) {
                return Some(At { bucket: pos, way });
            }
            if bucket.overflow == 0 {
                return None;
            }
            pos = next(pos, n);
        }
        None
    }

    #[inline(always)]
    fn key_at(&self, at: At) -> SlotKey {
        match self.buckets.as_ref()[at.bucket].entries[at.way].key {
            Some(key) => key,
            None => unreachable!("find returned a free entry"),
        }
    }

    /// The key registered for exactly `tuple`.
    #[inline]
    pub fn get(&self, tuple: &FourTuple) -> Option<SlotKey> {
        let hash = self.hasher.hash_tuple(tuple);
        self.get_hashed(tuple, hash)
    }

    /// [`get`](Self::get) with the tuple's hash already known (from [`hasher`](Self::hasher)).
    #[inline]
    pub fn get_hashed(&self, tuple: &FourTuple, hash: u32) -> Option<SlotKey> {
        self.find(tuple, hash).map(|at| self.key_at(at))
    }

    /// Reads the home bucket of `hash` (one cache line, where a lookup of the hash almost
    /// always ends) and returns a value derived from it: a plain load that brings the line
    /// into the cache ahead of a [`get_hashed`](Self::get_hashed) (feed the results to
    /// `core::hint::black_box` so the loads stay).
    #[inline]
    pub fn touch_home(&self, hash: u32) -> u32 {
        let buckets = self.buckets.as_ref();
        u32::from(buckets[home(hash, buckets.len())].overflow)
    }

    /// Looks up many tuples at once: `out[i]` becomes `get(&tuples[i])`. Hashes a group of
    /// tuples and touches their home buckets before probing, so the memory accesses of the
    /// group overlap instead of queueing: at a million connections, where every lookup misses
    /// the cache, this is what keeps the per-lookup cost near the small-table cost.
    ///
    /// # Panics
    /// When `out` is shorter than `tuples` (a caller bug, not input-dependent).
    pub fn get_batch(&self, tuples: &[FourTuple], out: &mut [Option<SlotKey>]) {
        const GROUP: usize = 32;
        assert!(
            out.len() >= tuples.len(),
            "get_batch: output shorter than input"
        );
        for (group, outs) in tuples.chunks(GROUP).zip(out.chunks_mut(GROUP)) {
            let mut hashes = [0u32; GROUP];
            for (hash, tuple) in hashes.iter_mut().zip(group) {
                *hash = self.hasher.hash_tuple(tuple);
            }
            // A tight loop of independent loads, so the whole group's cache misses are in
            // flight at once (hashing in the same loop would fill the reorder window).
            let mut touched = 0u32;
            for hash in &hashes[..group.len()] {
                touched ^= self.touch_home(*hash);
            }
            core::hint::black_box(touched);
            for ((slot, tuple), hash) in outs.iter_mut().zip(group).zip(hashes) {
                *slot = self.get_hashed(tuple, hash);
            }
        }
    }

    /// The connection for a received segment's tuple (local = destination of the segment), or
    /// else the listener for its local address and port, or else the listener on the wildcard
    /// local address (0.0.0.0) and the port. A tuple with remote port 0 or remote address
    /// 0.0.0.0 matches nothing (such segments are invalid and must not hit listener entries).
    pub fn lookup_segment(&self, tuple: &FourTuple) -> Option<Matched> {
        self.lookup_segment_hashed(tuple).0
    }

    /// [`lookup_segment`](Self::lookup_segment), with the hashes it computed: the tuple's,
    /// and the matched listener tuple's (for a caller that goes on to change the map under
    /// them, as accepting a SYN does). Both are 0 when the tuple matches nothing by rule.
    pub(crate) fn lookup_segment_hashed(&self, tuple: &FourTuple) -> (Option<Matched>, [u32; 2]) {
        if tuple.is_listener() {
            return (None, [0; 2]);
        }
        let hash = self.hasher.hash_tuple(tuple);
        if let Some(key) = self.get_hashed(tuple, hash) {
            return (Some(Matched::Connection(key)), [hash, 0]);
        }
        let specific = FourTuple::listener(tuple.local_addr, tuple.local_port);
        let specific_hash = self.hasher.hash_tuple(&specific);
        if let Some(key) = self.get_hashed(&specific, specific_hash) {
            let listener = Matched::Listener {
                key,
                listener: specific,
            };
            return (Some(listener), [hash, specific_hash]);
        }
        if tuple.local_addr.is_unspecified() {
            return (None, [hash, 0]);
        }
        let wildcard = FourTuple::listener(core::net::Ipv4Addr::UNSPECIFIED, tuple.local_port);
        let wildcard_hash = self.hasher.hash_tuple(&wildcard);
        let matched = self
            .get_hashed(&wildcard, wildcard_hash)
            .map(|key| Matched::Listener {
                key,
                listener: wildcard,
            });
        (matched, [hash, wildcard_hash])
    }

    /// Registers `tuple -> key`.
    ///
    /// # Errors
    /// [`TableError::TupleInUse`] when `tuple` is registered already (nothing changes);
    /// [`TableError::MapFull`] at capacity.
    pub fn insert(&mut self, tuple: FourTuple, key: SlotKey) -> Result<(), TableError> {
        let hash = self.hasher.hash_tuple(&tuple);
        self.insert_hashed(tuple, key, hash)
    }

    /// [`insert`](Self::insert) with `tuple`'s hash (from [`hasher`](Self::hasher)) known.
    pub(crate) fn insert_hashed(
        &mut self,
        tuple: FourTuple,
        key: SlotKey,
        hash: u32,
    ) -> Result<(), TableError> {
        debug_assert_eq!(hash, self.hasher.hash_tuple(&tuple));
        if let Some(at) = self.find(&tuple, hash) {
            return Err(TableError::TupleInUse {
                tuple,
                existing: self.key_at(at),
            });
        }
        if self.len >= self.capacity {
            return Err(TableError::MapFull {
                capacity: self.capacity,
            });
        }
        self.place(tuple, key, hash);
        Ok(())
    }

    /// Stores an absent tuple: in the first bucket from its home with a free entry, counting
    /// the passage in every full bucket on the way. The caller checked `len < capacity`, and
    /// `new` made sure the buckets hold `capacity` entries, so a free entry exists.
    #[inline]
    fn place(&mut self, tuple: FourTuple, key: SlotKey, hash: u32) {
        let buckets = self.buckets.as_mut();
        let n = buckets.len();
        let mut pos = home(hash, n);
        for passed in 0..n {
            let bucket = &mut buckets[pos];
            if let Some(way) = bucket.free_way() {
                bucket.entries[way] = Entry {
                    tuple,
                    key: Some(key),
                };
                bucket.displacement[way] = passed.min(usize::from(SATURATED)) as u8;
                self.len += 1;
                self.listeners += usize::from(tuple.is_listener());
                return;
            }
            bucket.overflow = bucket.overflow.saturating_add(1);
            pos = next(pos, n);
        }
        unreachable!("no free entry below capacity: the storage was checked in new");
    }

    /// Takes one entry's passage out of the overflow counts of `count` buckets from `from`.
    fn unpass(buckets: &mut [Bucket], from: usize, count: usize) {
        let n = buckets.len();
        let mut pos = from;
        for _ in 0..count {
            let o = &mut buckets[pos].overflow;
            if *o != SATURATED {
                *o -= 1;
            }
            pos = next(pos, n);
        }
    }

    /// How many buckets past its home the entry at `pos`, `way` lives.
    fn displacement_at(&self, pos: usize, way: usize) -> usize {
        let bucket = &self.buckets.as_ref()[pos];
        match bucket.displacement[way] {
            SATURATED => {
                let n = self.buckets.as_ref().len();
                let h = home(self.hasher.hash_tuple(&bucket.entries[way].tuple), n);
                if pos >= h { pos - h } else { pos + n - h }
            }
            d => usize::from(d),
        }
    }

    /// Empties the entry of `tuple` (hash `hash`, found at `at`), takes its passage back out
    /// of the overflow counts from its home up to its bucket, and refills the hole.
    fn remove_at(&mut self, tuple: &FourTuple, hash: u32, at: At) -> SlotKey {
        let key = self.key_at(at);
        let n = self.buckets.as_ref().len();
        let passed = {
            let h = home(hash, n);
            if at.bucket >= h {
                at.bucket - h
            } else {
                at.bucket + n - h
            }
        };
        let buckets = self.buckets.as_mut();
        buckets[at.bucket].entries[at.way] = Entry::FREE;
        Self::unpass(buckets, home(hash, n), passed);
        self.len -= 1;
        self.listeners -= usize::from(tuple.is_listener());
        self.refill(at);
        key
    }

    /// Keeps every entry as close to home as insertion put it: while some entry passed the
    /// bucket of the hole (its overflow count says so), moves the nearest such entry back into
    /// the hole and goes on with the hole it leaves. Every entry then lives past only full
    /// buckets (a hole never sits on an entry's path), so churn does not push entries further
    /// and further from home. The entries that passed a bucket sit in the run of full buckets
    /// after it or in the first bucket with room, so each search ends there.
    fn refill(&mut self, mut hole: At) {
        let n = self.buckets.as_ref().len();
        while self.buckets.as_ref()[hole.bucket].overflow != 0 {
            let mut found = None;
            let mut pos = next(hole.bucket, n);
            'search: for distance in 1..n {
                let bucket = &self.buckets.as_ref()[pos];
                for way in 0..WAYS {
                    if bucket.entries[way].key.is_some()
                        && self.displacement_at(pos, way) >= distance
                    {
                        found = Some((At { bucket: pos, way }, distance));
                        break 'search;
                    }
                }
                if !bucket.is_full() {
                    break;
                }
                pos = next(pos, n);
            }
            // Only a saturated count can promise an entry that is not there.
            let Some((from, distance)) = found else {
                return;
            };
            let moved_by = self.displacement_at(from.bucket, from.way) - distance;
            let buckets = self.buckets.as_mut();
            let entry =
                core::mem::replace(&mut buckets[from.bucket].entries[from.way], Entry::FREE);
            buckets[hole.bucket].entries[hole.way] = entry;
            buckets[hole.bucket].displacement[hole.way] =
                moved_by.min(usize::from(SATURATED)) as u8;
            Self::unpass(buckets, hole.bucket, distance);
            hole = from;
        }
    }

    /// Removes `tuple`, returning the key it mapped to.
    pub fn remove(&mut self, tuple: &FourTuple) -> Option<SlotKey> {
        let hash = self.hasher.hash_tuple(tuple);
        let at = self.find(tuple, hash)?;
        Some(self.remove_at(tuple, hash, at))
    }

    /// Removes `tuple` only if it maps to `key` (one hash, one probe).
    ///
    /// # Errors
    /// [`TableError::TupleNotFound`], or [`TableError::KeyMismatch`] when it maps to another
    /// key; nothing changes then.
    pub fn remove_matching(&mut self, tuple: &FourTuple, key: SlotKey) -> Result<(), TableError> {
        let hash = self.hasher.hash_tuple(tuple);
        self.remove_matching_hashed(tuple, key, hash)
    }

    /// [`remove_matching`](Self::remove_matching) with `tuple`'s hash known.
    pub(crate) fn remove_matching_hashed(
        &mut self,
        tuple: &FourTuple,
        key: SlotKey,
        hash: u32,
    ) -> Result<(), TableError> {
        debug_assert_eq!(hash, self.hasher.hash_tuple(tuple));
        let at = self
            .find(tuple, hash)
            .ok_or(TableError::TupleNotFound { tuple: *tuple })?;
        let registered = self.key_at(at);
        if registered != key {
            return Err(TableError::KeyMismatch {
                tuple: *tuple,
                key,
                registered,
            });
        }
        self.remove_at(tuple, hash, at);
        Ok(())
    }

    /// The key slot of `tuple`, mutably.
    fn key_mut(
        &mut self,
        tuple: &FourTuple,
        hash: u32,
    ) -> Result<&mut Option<SlotKey>, TableError> {
        debug_assert_eq!(hash, self.hasher.hash_tuple(tuple));
        let at = self
            .find(tuple, hash)
            .ok_or(TableError::TupleNotFound { tuple: *tuple })?;
        Ok(&mut self.buckets.as_mut()[at.bucket].entries[at.way].key)
    }

    /// Points `tuple` at `to` if it maps to `from` (one hash, one probe; no entry moves).
    ///
    /// # Errors
    /// [`TableError::TupleNotFound`], or [`TableError::KeyMismatch`] when it maps to another
    /// key; nothing changes then.
    pub fn replace_matching(
        &mut self,
        tuple: &FourTuple,
        from: SlotKey,
        to: SlotKey,
    ) -> Result<(), TableError> {
        let hash = self.hasher.hash_tuple(tuple);
        self.replace_matching_hashed(tuple, from, to, hash)
    }

    /// [`replace_matching`](Self::replace_matching) with `tuple`'s hash known.
    pub(crate) fn replace_matching_hashed(
        &mut self,
        tuple: &FourTuple,
        from: SlotKey,
        to: SlotKey,
        hash: u32,
    ) -> Result<(), TableError> {
        let slot = self.key_mut(tuple, hash)?;
        match slot {
            Some(key) if *key == from => {
                *key = to;
                Ok(())
            }
            Some(key) => Err(TableError::KeyMismatch {
                tuple: *tuple,
                key: from,
                registered: *key,
            }),
            None => unreachable!("find returned a free entry"),
        }
    }

    /// Points an existing `tuple` at `key`, returning the key it had.
    ///
    /// # Errors
    /// [`TableError::TupleNotFound`] when `tuple` is not registered.
    pub fn replace(&mut self, tuple: &FourTuple, key: SlotKey) -> Result<SlotKey, TableError> {
        match self
            .key_mut(tuple, self.hasher.hash_tuple(tuple))?
            .replace(key)
        {
            Some(old) => Ok(old),
            None => unreachable!("find returned a free entry"),
        }
    }

    /// Moves the entry of `old` to `new` (same key): a listener that accepted a peer becomes
    /// that connection. Frees `old`'s entry before placing `new`, so it works at capacity.
    ///
    /// # Errors
    /// [`TableError::TupleNotFound`] when `old` is not registered, [`TableError::TupleInUse`]
    /// when `new` already is; nothing changes in either case.
    pub fn rekey(&mut self, old: &FourTuple, new: FourTuple) -> Result<SlotKey, TableError> {
        self.rekey_checked(old, new, None)
    }

    /// [`rekey`](Self::rekey), first checking that `old` maps to `expected`
    /// ([`TableError::KeyMismatch`] otherwise).
    pub(crate) fn rekey_checked(
        &mut self,
        old: &FourTuple,
        new: FourTuple,
        expected: Option<SlotKey>,
    ) -> Result<SlotKey, TableError> {
        let old_hash = self.hasher.hash_tuple(old);
        let old_at = self
            .find(old, old_hash)
            .ok_or(TableError::TupleNotFound { tuple: *old })?;
        let registered = self.key_at(old_at);
        if let Some(key) = expected.filter(|k| *k != registered) {
            return Err(TableError::KeyMismatch {
                tuple: *old,
                key,
                registered,
            });
        }
        if old == &new {
            return Ok(registered);
        }
        let new_hash = self.hasher.hash_tuple(&new);
        if let Some(at) = self.find(&new, new_hash) {
            return Err(TableError::TupleInUse {
                tuple: new,
                existing: self.key_at(at),
            });
        }
        let key = self.remove_at(old, old_hash, old_at);
        self.place(new, key, new_hash);
        Ok(key)
    }

    /// Every entry, in bucket order. O(buckets).
    pub fn iter(&self) -> impl Iterator<Item = (FourTuple, SlotKey)> + '_ {
        self.buckets
            .as_ref()
            .iter()
            .flat_map(|b| b.entries.iter())
            .filter_map(|e| e.key.map(|key| (e.tuple, key)))
    }

    /// Removes every entry. O(buckets).
    pub fn clear(&mut self) {
        self.buckets.as_mut().fill(Bucket::EMPTY);
        self.len = 0;
        self.listeners = 0;
    }

    /// Probe statistics (O(buckets) and a hash per entry, for tests and benchmarks): how many
    /// buckets past its home each entry sits (0: in its home cache line).
    pub fn probe_stats(&self) -> ProbeStats {
        let buckets = self.buckets.as_ref();
        let n = buckets.len();
        let (mut max, mut total, mut at_home) = (0, 0u64, 0usize);
        for (pos, b) in buckets.iter().enumerate() {
            for e in b.entries.iter().filter(|e| e.key.is_some()) {
                let h = home(self.hasher.hash_tuple(&e.tuple), n);
                let d = if pos >= h { pos - h } else { pos + n - h };
                max = max.max(d);
                total += d as u64;
                at_home += usize::from(d == 0);
            }
        }
        let per = |x: f64| {
            if self.len == 0 {
                0.0
            } else {
                x / self.len as f64
            }
        };
        ProbeStats {
            max_displacement: max,
            mean_displacement: per(total as f64),
            home_fraction: if self.len == 0 {
                1.0
            } else {
                per(at_home as f64)
            },
        }
    }

    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let buckets = self.buckets.as_ref();
        let n = buckets.len();
        let (mut count, mut listeners) = (0, 0);
        let mut overflow = std::vec![0usize; n];
        for (pos, b) in buckets.iter().enumerate() {
            for (way, e) in b.entries.iter().enumerate() {
                if e.key.is_none() {
                    continue;
                }
                count += 1;
                listeners += usize::from(e.tuple.is_listener());
                let h = home(self.hasher.hash_tuple(&e.tuple), n);
                let d = if pos >= h { pos - h } else { pos + n - h };
                assert_eq!(
                    usize::from(b.displacement[way]),
                    d.min(usize::from(SATURATED)),
                    "stored displacement at bucket {pos}"
                );
                let mut p = h;
                while p != pos {
                    overflow[p] += 1;
                    assert!(
                        buckets[p].is_full(),
                        "{} lives past bucket {p}, which has room",
                        e.tuple
                    );
                    p = next(p, n);
                }
                assert_eq!(
                    self.get(&e.tuple),
                    e.key,
                    "entry {} not found (or twice)",
                    e.tuple
                );
            }
        }
        for (pos, b) in buckets.iter().enumerate() {
            assert!(
                b.overflow == SATURATED || usize::from(b.overflow) == overflow[pos],
                "overflow count of bucket {pos}: {} for {}",
                b.overflow,
                overflow[pos]
            );
        }
        assert_eq!(count, self.len);
        assert_eq!(listeners, self.listeners, "listener count stale");
    }
}

/// How far entries sit from their home buckets, in buckets (cache lines).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbeStats {
    /// The longest displacement.
    pub max_displacement: usize,
    /// The mean displacement.
    pub mean_displacement: f64,
    /// The share of entries in their home bucket (whose lookup reads one cache line).
    pub home_fraction: f64,
}

#[cfg(feature = "std")]
impl<H: TupleHasher> TupleMap<std::boxed::Box<[Bucket]>, H> {
    /// A map of at most `capacity` entries with its buckets on the heap (allocated here, once).
    ///
    /// # Errors
    /// A capacity beyond [`MAX_MAP_CAPACITY`].
    pub fn with_capacity(capacity: usize, hasher: H) -> Result<Self, MapSetupError> {
        Self::with_capacity_and_load(capacity, DEFAULT_LOAD_PERCENT, hasher)
    }

    /// [`with_capacity`](Self::with_capacity) at a load of at most `load_percent` % (see
    /// [`TupleMap::buckets_for_load`]).
    ///
    /// # Errors
    /// A capacity beyond [`MAX_MAP_CAPACITY`].
    pub fn with_capacity_and_load(
        capacity: usize,
        load_percent: u32,
        hasher: H,
    ) -> Result<Self, MapSetupError> {
        if capacity > MAX_MAP_CAPACITY {
            return Err(MapSetupError {
                capacity,
                buckets: 0,
                needed: usize::MAX,
            });
        }
        let buckets = super::heap_storage(Self::buckets_for_load(capacity, load_percent), || {
            Bucket::EMPTY
        });
        Self::new(buckets, capacity, hasher)
    }
}

impl<S, H> fmt::Debug for TupleMap<S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TupleMap")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}
