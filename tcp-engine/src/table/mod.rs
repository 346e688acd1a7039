//! The connection table: which connection a segment belongs to, and where its state lives.
//!
//! | part | what |
//! |---|---|
//! | [`SlotMap`] | generational slotmap of connection states; [`SlotKey`]s go stale on removal |
//! | [`TupleMap`] | keyed hash map 4-tuple -> [`SlotKey`] in cache-line buckets, listeners included |
//! | [`ConnectionTable`] | both, kept consistent: insert, look up, re-key, remove |
//! | [`IsnGenerator`] | RFC 6528 initial sequence numbers |
//! | [`SynCookieCodec`] | RFC 4987 SYN cookies: stateless ISNs a listener can check later |
//! | [`EphemeralPorts`] | RFC 6056 local port selection that avoids tuples in use |
//! | [`HashSecret`] | the SipHash key behind all three keyed functions |
//!
//! Everything works without `std` or an allocator: storage is handed in at construction (any
//! `AsMut<[Slot<T>]>` / `AsMut<[Bucket]>`, e.g. a slice or a static array), and insert, lookup,
//! re-key and remove are O(1) and never allocate. With `std`, `with_capacity` constructors
//! allocate the storage once.
//!
//! **Listeners and the accept model (the seed's).** A listening slot is registered under
//! [`FourTuple::listener`] (remote address 0.0.0.0, remote port 0; local address 0.0.0.0 for
//! "any"). [`TupleMap::lookup_segment`] tries the exact tuple, then the listener on the local
//! address, then the wildcard listener. A listening slot accepts one connection: the endpoint
//! re-keys its entry from the listener tuple to the concrete peer ([`ConnectionTable::rekey`]);
//! to keep listening it registers another slot under the listener tuple (that is all "keep N
//! listening slots" needs: one listener entry at a time, N slots in reserve).
//!
//! **Memory.** A map bucket is one 64-byte cache line of three entries (tuple and key) at a load
//! of at most 80 %, so the map costs about 26.7 bytes per connection; a slot costs `size_of::<T>()` plus 8 bytes
//! (generation and free-list link, for an 8-aligned `T`). [`bytes_per_connection`] computes it.
//!
//! Owns connection indexing and identifiers only: no TCP state, no packets, no clocks (time is
//! passed in), no randomness source (the secret is passed in).
//!
//! ```
//! use core::net::Ipv4Addr;
//! use tcp_engine::table::*;
//!
//! let secret = HashSecret::from_bytes([7; 16]); // HashSecret::from_os_random() in real use
//! let mut table: BoxedConnectionTable<&str> = ConnectionTable::with_capacity(1024, &secret)?;
//! let isn = IsnGenerator::new(secret.derive(b"isn"));
//! let mut ports = EphemeralPorts::new(PortRange::IANA, secret.derive(b"ports"));
//! let (me, peer) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
//!
//! // Active open: pick a port, an ISN, register the connection.
//! let port = ports.allocate_in(table.map(), me, peer, 80)?;
//! let tuple = FourTuple::new(me, port, peer, 80);
//! let _iss = isn.isn(&tuple, 1_000_000);
//! let key = table.insert(tuple, "SYN-SENT").map_err(|(e, _)| e)?;
//!
//! // A segment from the peer (its destination is our local side) finds it.
//! assert_eq!(table.lookup_segment(&tuple), Some(Matched::Connection(key)));
//! assert_eq!(table.remove(key, &tuple)?, "SYN-SENT");
//! assert_eq!(table.get(key), None); // the key is stale now, even after the slot is reused
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cookie;
mod isn;
mod ports;
mod siphash;
mod slotmap;
mod tuple_map;

use core::fmt;
use core::net::Ipv4Addr;

pub use cookie::{
    CookieError, CookieGrant, CookieOptions, MSS_TABLE, SynCookieCodec, TS_OPTION_BITS,
    TS_OPTION_MASK,
};
pub use isn::{ISN_TICK_US, IsnGenerator};
pub use ports::{EphemeralPorts, InvalidPortRange, PortRange};
pub use siphash::{HashSecret, sip13, sip13_12, sip24, sip24_12};
pub use slotmap::{Slot, SlotKey, SlotMap, SlotsExhausted, StorageTooLarge};
pub use tuple_map::{
    Bucket, DEFAULT_LOAD_PERCENT, MAX_MAP_CAPACITY, MapSetupError, Matched, ProbeStats,
    SipTupleHasher, TupleHasher, TupleMap,
};

/// A TCP connection's identity, seen from this host: local address and port, remote address
/// and port. For a received segment, local = its destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FourTuple {
    /// This host's address.
    pub local_addr: Ipv4Addr,
    /// This host's port.
    pub local_port: u16,
    /// The peer's address (0.0.0.0 in a listener entry).
    pub remote_addr: Ipv4Addr,
    /// The peer's port (0 in a listener entry).
    pub remote_port: u16,
}

impl FourTuple {
    /// A connection tuple.
    pub const fn new(
        local_addr: Ipv4Addr,
        local_port: u16,
        remote_addr: Ipv4Addr,
        remote_port: u16,
    ) -> Self {
        FourTuple {
            local_addr,
            local_port,
            remote_addr,
            remote_port,
        }
    }

    /// The tuple a listener on `local_addr:local_port` is registered under (remote 0.0.0.0:0;
    /// `local_addr` 0.0.0.0 listens on every local address).
    pub const fn listener(local_addr: Ipv4Addr, local_port: u16) -> Self {
        FourTuple::new(local_addr, local_port, Ipv4Addr::UNSPECIFIED, 0)
    }

    /// This is a listener tuple (remote port 0 or remote address 0.0.0.0: never a real peer).
    pub fn is_listener(&self) -> bool {
        self.remote_port == 0 || self.remote_addr.is_unspecified()
    }

    /// The 12 bytes hashed by the keyed functions: local address, local port, remote address,
    /// remote port, in network order.
    #[inline]
    pub fn to_bytes(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&self.local_addr.octets());
        b[4..6].copy_from_slice(&self.local_port.to_be_bytes());
        b[6..10].copy_from_slice(&self.remote_addr.octets());
        b[10..].copy_from_slice(&self.remote_port.to_be_bytes());
        b
    }
}

impl FourTuple {
    /// [`to_bytes`](Self::to_bytes) as SipHash reads it: the first 8 bytes and the last 4,
    /// little-endian, computed from the fields without going through memory.
    #[inline]
    pub fn hash_words(&self) -> (u64, u32) {
        let local = self.local_addr.to_bits().swap_bytes();
        let remote = self.remote_addr.to_bits().swap_bytes();
        let first8 = u64::from(local)
            | u64::from(self.local_port.swap_bytes()) << 32
            | u64::from(remote & 0xFFFF) << 48;
        let last4 = (remote >> 16) | u32::from(self.remote_port.swap_bytes()) << 16;
        (first8, last4)
    }
}

impl fmt::Display for FourTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} <-> {}:{}",
            self.local_addr, self.local_port, self.remote_addr, self.remote_port
        )
    }
}

/// Why a table operation failed. Nothing changed when one of these is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    /// Every connection slot is in use.
    SlotsExhausted {
        /// Slots in the table.
        capacity: usize,
    },
    /// The tuple map holds as many entries as it was sized for.
    MapFull {
        /// Entries the map was sized for.
        capacity: usize,
    },
    /// The tuple is registered already.
    TupleInUse {
        /// The tuple.
        tuple: FourTuple,
        /// The key it is registered to.
        existing: SlotKey,
    },
    /// The tuple is not registered.
    TupleNotFound {
        /// The tuple.
        tuple: FourTuple,
    },
    /// The key names no live slot (it was removed; the slot may have been reused since).
    StaleKey {
        /// The key.
        key: SlotKey,
    },
    /// The tuple is registered to a different key than the one given.
    KeyMismatch {
        /// The tuple.
        tuple: FourTuple,
        /// The key given.
        key: SlotKey,
        /// The key the tuple is registered to.
        registered: SlotKey,
    },
    /// No ephemeral port of the range is free toward this destination (in use, or refused
    /// by a port steering filter). Non-exhaustive: match it with `..`.
    #[non_exhaustive]
    PortsExhausted {
        /// The destination address.
        remote_addr: Ipv4Addr,
        /// The destination port.
        remote_port: u16,
        /// The range searched.
        range: PortRange,
        /// Ports of the range a steering filter refused (their replies would reach another
        /// receive queue); 0 without a filter. Equal to the range's length: no port of the
        /// range steers to this endpoint at all.
        steered_away: u32,
    },
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::SlotsExhausted { capacity } => write!(
                f,
                "connection table full: all {capacity} slots are in use; give the endpoint more \
                 slots or close idle connections"
            ),
            TableError::MapFull { capacity } => write!(
                f,
                "tuple map full: {capacity} entries registered; size the map for at least as \
                 many entries as there are slots"
            ),
            TableError::TupleInUse { tuple, existing } => {
                write!(f, "connection {tuple} already exists ({existing})")
            }
            TableError::TupleNotFound { tuple } => write!(f, "no entry for {tuple}"),
            TableError::StaleKey { key } => {
                write!(f, "{key} is stale: its connection was removed")
            }
            TableError::KeyMismatch {
                tuple,
                key,
                registered,
            } => write!(f, "{tuple} belongs to {registered}, not to {key}"),
            TableError::PortsExhausted {
                remote_addr,
                remote_port,
                range,
                steered_away,
            } if *steered_away >= range.len() => write!(
                f,
                "no local port toward {remote_addr}:{remote_port} steers to this endpoint: the \
                 port steering filter refused all {} ports of {}-{} (their replies would reach \
                 other receive queues); check that the NIC's RSS indirection table names this \
                 endpoint's queue, or widen the ephemeral port range",
                range.len(),
                range.first(),
                range.last()
            ),
            TableError::PortsExhausted {
                remote_addr,
                remote_port,
                range,
                steered_away,
            } => write!(
                f,
                "no free local port toward {remote_addr}:{remote_port}: all {} ports of \
                 {}-{} are in use{}; widen the ephemeral port range or close connections",
                range.len(),
                range.first(),
                range.last(),
                SteeredAway(*steered_away)
            ),
        }
    }
}

/// The note of a ports-exhausted message on ports a steering filter refused.
struct SteeredAway(u32);

impl fmt::Display for SteeredAway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => Ok(()),
            n => write!(f, " or steer to other receive queues ({n} of them)"),
        }
    }
}

impl From<SlotsExhausted> for TableError {
    fn from(e: SlotsExhausted) -> Self {
        TableError::SlotsExhausted {
            capacity: e.capacity,
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TableError {}
#[cfg(feature = "std")]
impl std::error::Error for SlotsExhausted {}
#[cfg(feature = "std")]
impl std::error::Error for MapSetupError {}
#[cfg(feature = "std")]
impl std::error::Error for StorageTooLarge {}
#[cfg(feature = "std")]
impl std::error::Error for InvalidPortRange {}

/// Engine bytes per connection spent by the table for connection state `T` in a table of
/// `capacity` connections: one slot plus the map's buckets shared out.
pub fn bytes_per_connection<T>(capacity: usize) -> f64 {
    let buckets = TupleMap::<&mut [Bucket]>::buckets_for(capacity);
    let map = (buckets * core::mem::size_of::<Bucket>()) as f64
        / if capacity == 0 { 1.0 } else { capacity as f64 };
    core::mem::size_of::<Slot<T>>() as f64 + map
}

/// A [`SlotMap`] of connection states and the [`TupleMap`] that indexes it, kept consistent:
/// every live slot is registered under exactly one tuple and every entry names a live slot.
pub struct ConnectionTable<T, SS, MS, H = SipTupleHasher> {
    slots: SlotMap<T, SS>,
    map: TupleMap<MS, H>,
    /// The connection [`lookup_segment_cached`](Self::lookup_segment_cached) found last;
    /// cleared by every change of the map.
    recent: Option<(FourTuple, SlotKey)>,
    /// The tuples (a segment's, and the listener's it matched) and their hashes from the
    /// last [`lookup_segment_cached`](Self::lookup_segment_cached) that found a listener:
    /// accepting the SYN registers the one and hands over or unregisters the other right
    /// after, without hashing them again. A hash depends only on the tuple and the map's
    /// fixed hasher, so this never goes stale.
    accepting: [(FourTuple, u32); 2],
}

impl<T, SS, MS, H> ConnectionTable<T, SS, MS, H>
where
    SS: AsRef<[Slot<T>]> + AsMut<[Slot<T>]>,
    MS: AsRef<[Bucket]> + AsMut<[Bucket]>,
    H: TupleHasher,
{
    /// A table over an empty slotmap and an empty map.
    ///
    /// # Panics
    /// When either is not empty (a set-up bug).
    pub fn new(slots: SlotMap<T, SS>, map: TupleMap<MS, H>) -> Self {
        assert!(
            slots.is_empty() && map.is_empty(),
            "ConnectionTable::new needs empty parts"
        );
        let unspecified = FourTuple::listener(Ipv4Addr::UNSPECIFIED, 0);
        let accepting = [(unspecified, map.hasher().hash_tuple(&unspecified)); 2];
        ConnectionTable {
            slots,
            map,
            recent: None,
            accepting,
        }
    }

    /// Live connections (listeners included).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// No connections.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Most connections (the smaller of slot and map capacity).
    pub fn capacity(&self) -> usize {
        self.slots.capacity().min(self.map.capacity())
    }

    /// Registers `tuple` with the state `make` builds from its key.
    ///
    /// # Errors
    /// [`TableError::SlotsExhausted`], then [`TableError::TupleInUse`] or
    /// [`TableError::MapFull`]; `make` is not called then.
    pub fn insert_with(
        &mut self,
        tuple: FourTuple,
        make: impl FnOnce(SlotKey) -> T,
    ) -> Result<SlotKey, TableError> {
        let hash = self.map.hasher().hash_tuple(&tuple);
        self.insert_with_hashed(tuple, hash, make)
    }

    /// [`insert_with`](Self::insert_with) with `tuple`'s hash (from the map's hasher) known.
    #[inline]
    pub(crate) fn insert_with_hashed(
        &mut self,
        tuple: FourTuple,
        hash: u32,
        make: impl FnOnce(SlotKey) -> T,
    ) -> Result<SlotKey, TableError> {
        let key = self.slots.next_key().ok_or(TableError::SlotsExhausted {
            capacity: self.slots.capacity(),
        })?;
        self.recent = None;
        self.map.insert_hashed(tuple, key, hash)?;
        let inserted = self.slots.insert_with(make);
        debug_assert_eq!(inserted, Ok(key));
        Ok(key)
    }

    /// Registers `tuple` with `value`.
    ///
    /// # Errors
    /// As [`insert_with`](Self::insert_with); the value comes back with the error.
    pub fn insert(&mut self, tuple: FourTuple, value: T) -> Result<SlotKey, (TableError, T)> {
        let hash = self.map.hasher().hash_tuple(&tuple);
        self.insert_hashed(tuple, hash, value)
    }

    /// [`insert`](Self::insert) with `tuple`'s hash (from the map's hasher) known, e.g. from
    /// [`EphemeralPorts::allocate_hashed_in`], which hashed the tuple to check it is free.
    ///
    /// # Errors
    /// As [`insert`](Self::insert).
    pub(crate) fn insert_hashed(
        &mut self,
        tuple: FourTuple,
        hash: u32,
        value: T,
    ) -> Result<SlotKey, (TableError, T)> {
        let mut value = Some(value);
        self.insert_with_hashed(tuple, hash, |_| {
            value.take().unwrap_or_else(|| unreachable!())
        })
        .map_err(|e| (e, value.take().unwrap_or_else(|| unreachable!())))
    }

    /// The key registered for exactly `tuple`.
    #[inline]
    pub fn lookup(&self, tuple: &FourTuple) -> Option<SlotKey> {
        self.map.get(tuple)
    }

    /// The connection or listener a received segment belongs to
    /// (see [`TupleMap::lookup_segment`]).
    #[inline]
    pub fn lookup_segment(&self, tuple: &FourTuple) -> Option<Matched> {
        self.map.lookup_segment(tuple)
    }

    /// [`lookup_segment`](Self::lookup_segment) through a one-entry cache of the connection it
    /// found last: consecutive segments of one flow (a receive burst of a bulk transfer) hash
    /// and probe once. Any change of the map empties the cache, so it never answers for a
    /// tuple that moved or left.
    #[inline(always)]
    pub fn lookup_segment_cached(&mut self, tuple: &FourTuple) -> Option<Matched> {
        if let Some((recent, key)) = self.recent {
            if recent == *tuple {
                return Some(Matched::Connection(key));
            }
        }
        self.lookup_segment_and_remember(tuple)
    }

    /// The uncached half of [`lookup_segment_cached`](Self::lookup_segment_cached), out of
    /// line so that the cached half inlines (and compares the tuple in registers).
    #[inline(never)]
    fn lookup_segment_and_remember(&mut self, tuple: &FourTuple) -> Option<Matched> {
        let (matched, [hash, listener_hash]) = self.map.lookup_segment_hashed(tuple);
        match matched {
            Some(Matched::Connection(key)) => self.recent = Some((*tuple, key)),
            Some(Matched::Listener { listener, .. }) => {
                self.accepting = [(*tuple, hash), (listener, listener_hash)];
            }
            None => {}
        }
        matched
    }

    /// [`lookup`](Self::lookup) with the hashes remembered from the last segment that matched
    /// a listener: a server listening again on the port it just accepted on hashes nothing.
    #[inline]
    pub(crate) fn lookup_known(&self, tuple: &FourTuple) -> Option<SlotKey> {
        let hash = self.known_hash(tuple);
        self.map.get_hashed(tuple, hash)
    }

    /// The hash of `tuple`: remembered from the last listener match, or computed.
    #[inline]
    fn known_hash(&self, tuple: &FourTuple) -> u32 {
        match self.accepting.iter().find(|(t, _)| t == tuple) {
            Some(&(_, hash)) => hash,
            None => self.map.hasher().hash_tuple(tuple),
        }
    }

    /// The state of a live key.
    #[inline]
    pub fn get(&self, key: SlotKey) -> Option<&T> {
        self.slots.get(key)
    }

    /// The state of a live key, mutably.
    #[inline]
    pub fn get_mut(&mut self, key: SlotKey) -> Option<&mut T> {
        self.slots.get_mut(key)
    }

    /// The connection in slot `index` and its current key (see [`SlotMap::get_index`]).
    #[inline]
    pub fn get_index(&self, index: u32) -> Option<(SlotKey, &T)> {
        self.slots.get_index(index)
    }

    /// The connection in slot `index` and its current key, mutably.
    #[inline]
    pub fn get_index_mut(&mut self, index: u32) -> Option<(SlotKey, &mut T)> {
        self.slots.get_index_mut(index)
    }

    /// Moves connection `key` from `old` to `new` (a listener accepting a peer).
    ///
    /// # Errors
    /// [`TableError::StaleKey`], [`TableError::TupleNotFound`], [`TableError::KeyMismatch`]
    /// (`old` belongs to another slot) or [`TableError::TupleInUse`] (`new` is taken).
    pub fn rekey(
        &mut self,
        key: SlotKey,
        old: &FourTuple,
        new: FourTuple,
    ) -> Result<(), TableError> {
        if !self.slots.contains(key) {
            return Err(TableError::StaleKey { key });
        }
        self.recent = None;
        self.map.rekey_checked(old, new, Some(key)).map(drop)
    }

    /// Removes connection `key`, registered under `tuple`, and returns its state.
    ///
    /// # Errors
    /// [`TableError::StaleKey`], [`TableError::TupleNotFound`] or [`TableError::KeyMismatch`];
    /// nothing is removed then.
    pub fn remove(&mut self, key: SlotKey, tuple: &FourTuple) -> Result<T, TableError> {
        self.recent = None;
        if !self.slots.contains(key) {
            return Err(TableError::StaleKey { key });
        }
        self.map.remove_matching(tuple, key)?;
        self.slots.remove(key).ok_or(TableError::StaleKey { key })
    }

    /// Gives live slot `key`, registered under no tuple, a new key (the old one goes stale),
    /// keeping its value in place: what [`remove_unregistered`](Self::remove_unregistered)
    /// and then [`insert_unregistered`](Self::insert_unregistered) of the same value would do
    /// (the same slot, the same new key), without moving the value out and back.
    ///
    /// `None`, and nothing changes: `key` is stale or the slot's generation is its last
    /// (`remove_unregistered` retires such a slot; use it instead).
    pub fn renew(&mut self, key: SlotKey) -> Option<SlotKey> {
        self.recent = None;
        self.slots.renew(key)
    }

    /// Stores `value` in a slot registered under no tuple (segments never find it): a slot
    /// the owner keeps by key alone, e.g. a listening slot waiting behind the one registered
    /// for its port. [`register`](Self::register) gives it a tuple later.
    ///
    /// # Errors
    /// [`TableError::SlotsExhausted`]; the value comes back.
    pub fn insert_unregistered(&mut self, value: T) -> Result<SlotKey, (TableError, T)> {
        self.slots.insert(value).map_err(|(e, v)| (e.into(), v))
    }

    /// Registers live slot `key` under `tuple` (one hash, one probe).
    ///
    /// # Errors
    /// [`TableError::StaleKey`], [`TableError::TupleInUse`] or [`TableError::MapFull`];
    /// nothing changes then.
    pub fn register(&mut self, key: SlotKey, tuple: FourTuple) -> Result<(), TableError> {
        if !self.slots.contains(key) {
            return Err(TableError::StaleKey { key });
        }
        self.recent = None;
        let hash = self.known_hash(&tuple);
        self.map.insert_hashed(tuple, key, hash)
    }

    /// Takes `tuple`, registered for `key`, out of the map; the slot stays (unregistered).
    ///
    /// # Errors
    /// [`TableError::TupleNotFound`] or [`TableError::KeyMismatch`]; nothing changes then.
    pub fn unregister(&mut self, key: SlotKey, tuple: &FourTuple) -> Result<(), TableError> {
        self.recent = None;
        let hash = self.known_hash(tuple);
        self.map.remove_matching_hashed(tuple, key, hash)
    }

    /// Points `tuple`, registered for `from`, at live slot `to` instead (one hash, one probe;
    /// no entry moves): a listener's tuple handed to the next listening slot.
    ///
    /// # Errors
    /// [`TableError::StaleKey`] (`to` is not live), [`TableError::TupleNotFound`] or
    /// [`TableError::KeyMismatch`] (`tuple` is not `from`'s); nothing changes then.
    pub fn hand_over(
        &mut self,
        tuple: &FourTuple,
        from: SlotKey,
        to: SlotKey,
    ) -> Result<(), TableError> {
        if !self.slots.contains(to) {
            return Err(TableError::StaleKey { key: to });
        }
        self.recent = None;
        let hash = self.known_hash(tuple);
        self.map.replace_matching_hashed(tuple, from, to, hash)
    }

    /// Removes the slot of `key`, which is registered under no tuple (see
    /// [`insert_unregistered`](Self::insert_unregistered)), and returns its state. A slot that
    /// is registered must go through [`remove`](Self::remove) instead, or its tuple would
    /// name a vacant slot.
    pub fn remove_unregistered(&mut self, key: SlotKey) -> Option<T> {
        self.recent = None;
        self.slots.remove(key)
    }

    /// The slotmap (read-only: changing it behind the map's back would break consistency).
    pub fn slots(&self) -> &SlotMap<T, SS> {
        &self.slots
    }

    /// The tuple map (read-only).
    pub fn map(&self) -> &TupleMap<MS, H> {
        &self.map
    }

    /// Sets the generation of vacant slot `index` (tests of the last-generation rule; an
    /// occupied slot's keys are in the map, so only a vacant one may change).
    #[cfg(test)]
    pub(crate) fn set_vacant_generation_for_test(&mut self, index: u32, generation: u32) {
        assert!(
            self.slots.get_index(index).is_none(),
            "slot {index} is occupied"
        );
        self.slots.set_generation_for_test(index, generation);
    }

    /// Every live connection state, mutably (e.g. to scan timers). O(slot capacity).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (SlotKey, &mut T)> {
        self.slots.iter_mut()
    }
}

/// Heap storage for `n` table entries, allocated once. Large tables ask the kernel for
/// transparent huge pages before first touch: at a million connections every lookup lands on
/// a random page, and 2 MiB pages keep those accesses from also missing the TLB.
#[cfg(feature = "std")]
pub(crate) fn heap_storage<T>(n: usize, mut make: impl FnMut() -> T) -> std::boxed::Box<[T]> {
    let mut storage = std::vec::Vec::with_capacity(n);
    #[cfg(target_os = "linux")]
    if core::mem::size_of::<T>() * n >= 4 << 20 {
        // A hint only: without THP support the table works the same, with 4 KiB pages.
        let _ = crate::sys::advise_huge_pages(storage.spare_capacity_mut());
    }
    storage.extend((0..n).map(|_| make()));
    storage.into_boxed_slice()
}

/// A [`ConnectionTable`] with heap storage.
#[cfg(feature = "std")]
pub type BoxedConnectionTable<T> =
    ConnectionTable<T, std::boxed::Box<[Slot<T>]>, std::boxed::Box<[Bucket]>, SipTupleHasher>;

#[cfg(feature = "std")]
impl<T> BoxedConnectionTable<T> {
    /// A table for `capacity` connections on the heap (allocated here, once), its map keyed
    /// with a key derived from `secret`.
    ///
    /// # Errors
    /// A capacity beyond what one table supports.
    pub fn with_capacity(capacity: usize, secret: &HashSecret) -> Result<Self, MapSetupError> {
        Self::with_capacity_and_load(capacity, DEFAULT_LOAD_PERCENT, secret)
    }

    /// [`with_capacity`](Self::with_capacity) with the map's buckets sized for a load of at
    /// most `load_percent` % (see [`TupleMap::buckets_for_load`]): more memory, shorter probes.
    ///
    /// # Errors
    /// A capacity beyond what one table supports.
    pub fn with_capacity_and_load(
        capacity: usize,
        load_percent: u32,
        secret: &HashSecret,
    ) -> Result<Self, MapSetupError> {
        let slots = SlotMap::with_capacity(capacity).map_err(|_| MapSetupError {
            capacity,
            buckets: 0,
            needed: usize::MAX,
        })?;
        let hasher = SipTupleHasher::new(secret.derive(b"tuple map"));
        let map = TupleMap::with_capacity_and_load(capacity, load_percent, hasher)?;
        Ok(ConnectionTable::new(slots, map))
    }
}

impl<T, SS, MS, H> fmt::Debug for ConnectionTable<T, SS, MS, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionTable")
            .field("slots", &self.slots)
            .field("map", &self.map)
            .finish()
    }
}

#[cfg(test)]
mod tests;
