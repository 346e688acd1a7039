//! A fixed-capacity, keyed, Robin Hood hash map from [`FourTuple`] to [`SlotKey`].
//!
//! Storage is a caller-provided array of [`Bucket`]s (24 bytes each), sized by
//! [`TupleMap::buckets_for`] so the load never exceeds 7/8. Each bucket holds the tuple, the key
//! and the tuple's 32-bit hash, so probing never touches connection state and displacements are
//! recomputed from the stored hash without rehashing. The hash is keyed ([`TupleHasher`],
//! SipHash-1-3 by default) so a peer who chooses ports and addresses cannot aim them at one
//! bucket. Robin Hood insertion keeps probe lengths short and lets unsuccessful lookups stop
//! early; deletion shifts the following run back by one (no tombstones), so lookups do not
//! degrade under churn. Nothing here allocates after construction.
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

#[derive(Clone, Copy)]
struct Entry {
    hash: u32,
    tuple: FourTuple,
    key: SlotKey,
}

/// One bucket of [`TupleMap`] storage. Make storage with [`Bucket::EMPTY`], e.g.
/// `[Bucket::EMPTY; N]` or `vec![Bucket::EMPTY; n]`.
#[derive(Clone, Copy)]
pub struct Bucket(Option<Entry>);

impl Bucket {
    /// An empty bucket.
    pub const EMPTY: Bucket = Bucket(None);
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
    /// Buckets needed (see [`TupleMap::buckets_for`]), or `usize::MAX` when the capacity is
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
                "tuple map for {} entries needs {} buckets but was given {}; size the storage \
                 with TupleMap::buckets_for",
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

#[inline(always)]
fn home(hash: u32, buckets: usize) -> usize {
    ((u64::from(hash) * buckets as u64) >> 32) as usize
}

#[inline(always)]
fn displacement(hash: u32, pos: usize, buckets: usize) -> usize {
    let h = home(hash, buckets);
    if pos >= h { pos - h } else { pos + buckets - h }
}

impl<S: AsRef<[Bucket]> + AsMut<[Bucket]>, H: TupleHasher> TupleMap<S, H> {
    /// Buckets needed for `capacity` entries: the load stays at or below 7/8, and at least one
    /// bucket is always empty (every probe ends).
    pub const fn buckets_for(capacity: usize) -> usize {
        capacity + capacity.div_ceil(7) + 1
    }

    /// Buckets for `capacity` entries at a load of at most `load_percent` % (below 10 counts
    /// as 10; 87 or more gives the densest table, [`Self::buckets_for`], at 7/8). A lower load
    /// costs memory (24 bytes / load per entry) and shortens probes: at 70 % the mean
    /// displacement is about 1.2 buckets against 3.5 at 7/8, which keeps most lookups inside
    /// one cache line.
    pub const fn buckets_for_load(capacity: usize, load_percent: u32) -> usize {
        if load_percent >= 87 {
            return Self::buckets_for(capacity);
        }
        let load = if load_percent < 10 { 10 } else { load_percent };
        capacity.saturating_mul(100).div_ceil(load as usize) + 1
    }

    /// A map of at most `capacity` entries over `buckets` (emptied here, O(buckets), once).
    ///
    /// # Errors
    /// Fewer buckets than [`Self::buckets_for`]`(capacity)`, or a capacity beyond
    /// [`MAX_MAP_CAPACITY`].
    pub fn new(mut buckets: S, capacity: usize, hasher: H) -> Result<Self, MapSetupError> {
        let have = buckets.as_ref().len();
        let needed = if capacity > MAX_MAP_CAPACITY {
            usize::MAX
        } else {
            Self::buckets_for(capacity)
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

    /// Position of `tuple` (`Ok`), or where its Robin Hood insertion starts (`Err` of position
    /// and displacement).
    #[inline]
    fn find(&self, tuple: &FourTuple, hash: u32) -> Result<usize, (usize, usize)> {
        let buckets = self.buckets.as_ref();
        let n = buckets.len();
        let mut pos = home(hash, n);
        let mut dist = 0;
        loop {
            match &buckets[pos].0 {
                None => return Err((pos, dist)),
                Some(e) => {
                    if e.hash == hash && e.tuple == *tuple {
                        return Ok(pos);
                    }
                    if displacement(e.hash, pos, n) < dist {
                        return Err((pos, dist));
                    }
                }
            }
            pos += 1;
            if pos == n {
                pos = 0;
            }
            dist += 1;
        }
    }

    /// The key registered for exactly `tuple`.
    #[inline]
    pub fn get(&self, tuple: &FourTuple) -> Option<SlotKey> {
        let hash = self.hasher.hash_tuple(tuple);
        self.find(tuple, hash).ok().map(|pos| self.entry(pos).key)
    }

    /// [`get`](Self::get) with the tuple's hash already known (from [`hasher`](Self::hasher)).
    #[inline]
    pub fn get_hashed(&self, tuple: &FourTuple, hash: u32) -> Option<SlotKey> {
        self.find(tuple, hash).ok().map(|pos| self.entry(pos).key)
    }

    /// Reads the home bucket of `hash` and the one a cache line further (where probes that
    /// start at home usually end), and returns a value derived from them: plain loads that
    /// bring the buckets into the cache ahead of a [`get_hashed`](Self::get_hashed) (feed the
    /// results to `core::hint::black_box` so the loads stay).
    #[inline]
    pub fn touch_home(&self, hash: u32) -> u32 {
        let buckets = self.buckets.as_ref();
        let at = home(hash, buckets.len());
        let read = |i: usize| match buckets.get(i) {
            Some(Bucket(Some(e))) => e.hash,
            _ => 0,
        };
        read(at) ^ read(at + 3)
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
        let buckets = self.buckets.as_ref();
        let n = buckets.len();
        for (group, outs) in tuples.chunks(GROUP).zip(out.chunks_mut(GROUP)) {
            let mut hashes = [0u32; GROUP];
            for (hash, tuple) in hashes.iter_mut().zip(group) {
                *hash = self.hasher.hash_tuple(tuple);
            }
            // A tight loop of independent loads, so the whole group's cache misses are in
            // flight at once (hashing in the same loop would fill the reorder window).
            let mut touched = 0u32;
            for hash in &hashes[..group.len()] {
                if let Some(e) = &buckets[home(*hash, n)].0 {
                    touched ^= e.hash;
                }
            }
            core::hint::black_box(touched);
            for ((slot, tuple), hash) in outs.iter_mut().zip(group).zip(hashes) {
                *slot = self.find(tuple, hash).ok().map(|pos| self.entry(pos).key);
            }
        }
    }

    #[inline(always)]
    fn entry(&self, pos: usize) -> &Entry {
        match &self.buckets.as_ref()[pos].0 {
            Some(e) => e,
            None => unreachable!("find returned an empty bucket"),
        }
    }

    /// The connection for a received segment's tuple (local = destination of the segment), or
    /// else the listener for its local address and port, or else the listener on the wildcard
    /// local address (0.0.0.0) and the port. A tuple with remote port 0 or remote address
    /// 0.0.0.0 matches nothing (such segments are invalid and must not hit listener entries).
    pub fn lookup_segment(&self, tuple: &FourTuple) -> Option<Matched> {
        if tuple.is_listener() {
            return None;
        }
        if let Some(key) = self.get(tuple) {
            return Some(Matched::Connection(key));
        }
        let specific = FourTuple::listener(tuple.local_addr, tuple.local_port);
        if let Some(key) = self.get(&specific) {
            return Some(Matched::Listener {
                key,
                listener: specific,
            });
        }
        if tuple.local_addr.is_unspecified() {
            return None;
        }
        let wildcard = FourTuple::listener(core::net::Ipv4Addr::UNSPECIFIED, tuple.local_port);
        self.get(&wildcard).map(|key| Matched::Listener {
            key,
            listener: wildcard,
        })
    }

    /// Registers `tuple -> key`.
    ///
    /// # Errors
    /// [`TableError::TupleInUse`] when `tuple` is registered already (nothing changes);
    /// [`TableError::MapFull`] at capacity.
    pub fn insert(&mut self, tuple: FourTuple, key: SlotKey) -> Result<(), TableError> {
        let hash = self.hasher.hash_tuple(&tuple);
        match self.find(&tuple, hash) {
            Ok(pos) => Err(TableError::TupleInUse {
                tuple,
                existing: self.entry(pos).key,
            }),
            Err(_) if self.len >= self.capacity => Err(TableError::MapFull {
                capacity: self.capacity,
            }),
            Err((pos, dist)) => {
                self.listeners += usize::from(tuple.is_listener());
                self.place(Entry { hash, tuple, key }, pos, dist);
                self.len += 1;
                Ok(())
            }
        }
    }

    fn place(&mut self, mut entry: Entry, mut pos: usize, mut dist: usize) {
        let buckets = self.buckets.as_mut();
        let n = buckets.len();
        loop {
            match &mut buckets[pos].0 {
                slot @ None => {
                    *slot = Some(entry);
                    return;
                }
                Some(resident) => {
                    let resident_dist = displacement(resident.hash, pos, n);
                    if resident_dist < dist {
                        core::mem::swap(resident, &mut entry);
                        dist = resident_dist;
                    }
                }
            }
            pos += 1;
            if pos == n {
                pos = 0;
            }
            dist += 1;
        }
    }

    /// Removes `tuple`, returning the key it mapped to.
    pub fn remove(&mut self, tuple: &FourTuple) -> Option<SlotKey> {
        let hash = self.hasher.hash_tuple(tuple);
        let pos = self.find(tuple, hash).ok()?;
        Some(self.remove_at(pos))
    }

    /// Removes `tuple` only if it maps to `key` (one hash, one probe).
    ///
    /// # Errors
    /// [`TableError::TupleNotFound`], or [`TableError::KeyMismatch`] when it maps to another
    /// key; nothing changes then.
    pub fn remove_matching(&mut self, tuple: &FourTuple, key: SlotKey) -> Result<(), TableError> {
        let hash = self.hasher.hash_tuple(tuple);
        let pos = self
            .find(tuple, hash)
            .map_err(|_| TableError::TupleNotFound { tuple: *tuple })?;
        let registered = self.entry(pos).key;
        if registered != key {
            return Err(TableError::KeyMismatch {
                tuple: *tuple,
                key,
                registered,
            });
        }
        self.remove_at(pos);
        Ok(())
    }

    /// Backward-shift deletion: pull the rest of the run back one bucket.
    fn remove_at(&mut self, mut pos: usize) -> SlotKey {
        let buckets = self.buckets.as_mut();
        let n = buckets.len();
        let removed = buckets[pos].0.take();
        if removed.is_some_and(|e| e.tuple.is_listener()) {
            self.listeners -= 1;
        }
        let removed = removed.map(|e| e.key);
        loop {
            let next = if pos + 1 == n { 0 } else { pos + 1 };
            match buckets[next].0 {
                Some(e) if displacement(e.hash, next, n) > 0 => {
                    buckets[pos].0 = buckets[next].0.take();
                    pos = next;
                }
                _ => break,
            }
        }
        self.len -= 1;
        removed.unwrap_or_else(|| unreachable!("remove_at on an empty bucket"))
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
        let pos = self
            .find(tuple, hash)
            .map_err(|_| TableError::TupleNotFound { tuple: *tuple })?;
        match &mut self.buckets.as_mut()[pos].0 {
            Some(e) if e.key == from => {
                e.key = to;
                Ok(())
            }
            Some(e) => Err(TableError::KeyMismatch {
                tuple: *tuple,
                key: from,
                registered: e.key,
            }),
            None => unreachable!("find returned an empty bucket"),
        }
    }

    /// Points an existing `tuple` at `key`, returning the key it had.
    ///
    /// # Errors
    /// [`TableError::TupleNotFound`] when `tuple` is not registered.
    pub fn replace(&mut self, tuple: &FourTuple, key: SlotKey) -> Result<SlotKey, TableError> {
        let hash = self.hasher.hash_tuple(tuple);
        let pos = self
            .find(tuple, hash)
            .map_err(|_| TableError::TupleNotFound { tuple: *tuple })?;
        match &mut self.buckets.as_mut()[pos].0 {
            Some(e) => Ok(core::mem::replace(&mut e.key, key)),
            None => unreachable!("find returned an empty bucket"),
        }
    }

    /// Moves the entry of `old` to `new` (same key): a listener that accepted a peer becomes
    /// that connection. Never needs a free bucket, so it works at capacity.
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
        let old_pos = self
            .find(old, old_hash)
            .map_err(|_| TableError::TupleNotFound { tuple: *old })?;
        let registered = self.entry(old_pos).key;
        if let Some(key) = expected.filter(|k| *k != registered) {
            return Err(TableError::KeyMismatch {
                tuple: *old,
                key,
                registered,
            });
        }
        if old == &new {
            return Ok(self.entry(old_pos).key);
        }
        let new_hash = self.hasher.hash_tuple(&new);
        if let Ok(pos) = self.find(&new, new_hash) {
            return Err(TableError::TupleInUse {
                tuple: new,
                existing: self.entry(pos).key,
            });
        }
        let key = self.remove_at(old_pos);
        // The removal shifted entries, so search the insertion point again.
        let Err((pos, dist)) = self.find(&new, new_hash) else {
            unreachable!("new tuple checked absent");
        };
        self.listeners += usize::from(new.is_listener());
        self.place(
            Entry {
                hash: new_hash,
                tuple: new,
                key,
            },
            pos,
            dist,
        );
        self.len += 1;
        Ok(key)
    }

    /// Every entry, in bucket order. O(buckets).
    pub fn iter(&self) -> impl Iterator<Item = (FourTuple, SlotKey)> + '_ {
        self.buckets
            .as_ref()
            .iter()
            .filter_map(|b| b.0.as_ref().map(|e| (e.tuple, e.key)))
    }

    /// Removes every entry. O(buckets).
    pub fn clear(&mut self) {
        self.buckets.as_mut().fill(Bucket::EMPTY);
        self.len = 0;
        self.listeners = 0;
    }

    /// Probe statistics (O(buckets), for tests and benchmarks): the longest and the mean
    /// distance of an entry from its home bucket.
    pub fn probe_stats(&self) -> ProbeStats {
        let buckets = self.buckets.as_ref();
        let n = buckets.len();
        let mut max = 0;
        let mut total = 0u64;
        for (pos, b) in buckets.iter().enumerate() {
            if let Some(e) = &b.0 {
                let d = displacement(e.hash, pos, n);
                max = max.max(d);
                total += d as u64;
            }
        }
        ProbeStats {
            max_displacement: max,
            mean_displacement: if self.len == 0 {
                0.0
            } else {
                total as f64 / self.len as f64
            },
        }
    }

    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let buckets = self.buckets.as_ref();
        let n = buckets.len();
        let (mut count, mut listeners) = (0, 0);
        for pos in 0..n {
            if let Some(e) = &buckets[pos].0 {
                count += 1;
                listeners += usize::from(e.tuple.is_listener());
                assert_eq!(
                    e.hash,
                    self.hasher.hash_tuple(&e.tuple),
                    "stored hash stale"
                );
                let prev = if pos == 0 { n - 1 } else { pos - 1 };
                let d = displacement(e.hash, pos, n);
                if d > 0 {
                    // Robin Hood invariant: the previous bucket is occupied and its entry is at
                    // least d - 1 from home (no gap inside a run).
                    let p = buckets[prev]
                        .0
                        .as_ref()
                        .expect("gap before a displaced entry");
                    assert!(
                        displacement(p.hash, prev, n) + 1 >= d,
                        "Robin Hood order broken at {pos}"
                    );
                }
            }
        }
        assert_eq!(count, self.len);
        assert_eq!(listeners, self.listeners, "listener count stale");
    }
}

/// How far entries sit from their home buckets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbeStats {
    /// The longest displacement.
    pub max_displacement: usize,
    /// The mean displacement.
    pub mean_displacement: f64,
}

#[cfg(feature = "std")]
impl<H: TupleHasher> TupleMap<std::boxed::Box<[Bucket]>, H> {
    /// A map of at most `capacity` entries with its buckets on the heap (allocated here, once).
    ///
    /// # Errors
    /// A capacity beyond [`MAX_MAP_CAPACITY`].
    pub fn with_capacity(capacity: usize, hasher: H) -> Result<Self, MapSetupError> {
        Self::with_capacity_and_load(capacity, 87, hasher)
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
