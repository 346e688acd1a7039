//! A generational slotmap over caller-provided storage: the home of connection states.
//!
//! Every slot carries a generation that increases each time its occupant is removed; a
//! [`SlotKey`] names a slot *and* the generation it was issued for, so a key kept past removal
//! never reaches the slot's next occupant (brief scenario 17). A slot whose generation reaches
//! `u32::MAX` is retired instead of reused, so a stale key can never become valid again by
//! wrapping. Vacant slots form an intrusive free list: insert and remove are O(1) and never
//! allocate. Owns slot bookkeeping only; it knows nothing about tuples or TCP.

use core::fmt;
use core::marker::PhantomData;
use core::num::NonZeroU32;

/// Names one occupant of a [`SlotMap`]: slot index plus the generation it was issued for.
/// Eight bytes; `Option<SlotKey>` is eight bytes too.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotKey {
    index: u32,
    generation: NonZeroU32,
}

impl SlotKey {
    /// The slot index (stable for the occupant's lifetime; reused after removal).
    #[inline]
    pub const fn index(self) -> u32 {
        self.index
    }

    /// The generation this key was issued for (never 0).
    #[inline]
    pub const fn generation(self) -> u32 {
        self.generation.get()
    }
}

impl fmt::Debug for SlotKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SlotKey({}v{})", self.index, self.generation)
    }
}

impl fmt::Display for SlotKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "slot {} (generation {})", self.index, self.generation)
    }
}

const NO_SLOT: u32 = u32::MAX;

/// One slot of storage for a [`SlotMap`]. Create storage with [`Slot::vacant`], e.g.
/// `[const { Slot::vacant() }; N]` in a `static`, or `Vec` / `Box<[Slot<T>]>` with `std`.
///
/// One enum (not a struct around an enum) so the discriminant and the generation share the
/// first 8 bytes: the overhead over `T` is 8 bytes for an 8-aligned `T`.
pub struct Slot<T>(Content<T>);

enum Content<T> {
    /// Vacant; `next` is the next slot of the free list (`NO_SLOT` ends it, and marks a retired
    /// slot, which is never on the list).
    Vacant {
        generation: NonZeroU32,
        next: u32,
    },
    Occupied {
        generation: NonZeroU32,
        value: T,
    },
}

impl<T> Slot<T> {
    /// An empty slot.
    pub const fn vacant() -> Slot<T> {
        Slot(Content::Vacant {
            generation: NonZeroU32::MIN,
            next: NO_SLOT,
        })
    }

    #[inline(always)]
    fn generation(&self) -> NonZeroU32 {
        match self.0 {
            Content::Vacant { generation, .. } | Content::Occupied { generation, .. } => generation,
        }
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot::vacant()
    }
}

/// The slotmap could not take another occupant: every slot is in use (or retired).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotsExhausted {
    /// Slots the map was given.
    pub capacity: usize,
}

impl fmt::Display for SlotsExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connection slots exhausted: all {} slots are in use; give the endpoint more slots or \
             close idle connections",
            self.capacity
        )
    }
}

/// The storage handed to [`SlotMap::new`] is larger than a `u32` index can address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StorageTooLarge {
    /// Slots offered.
    pub len: usize,
    /// Most slots supported.
    pub max: usize,
}

impl fmt::Display for StorageTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} slots offered, at most {} supported",
            self.len, self.max
        )
    }
}

/// Generational slotmap of `T` over storage `S` (any `AsMut<[Slot<T>]>`: a borrowed slice, an
/// array, or a `Box<[Slot<T>]>`).
pub struct SlotMap<T, S> {
    storage: S,
    free_head: u32,
    len: u32,
    retired: u32,
    _marker: PhantomData<T>,
}

impl<T, S: AsRef<[Slot<T>]> + AsMut<[Slot<T>]>> SlotMap<T, S> {
    /// Most slots one map supports.
    pub const MAX_CAPACITY: usize = (u32::MAX - 1) as usize;

    /// Takes `storage` and empties it (dropping any previous occupants): every slot becomes
    /// vacant with generation 1. O(capacity), once, at set-up.
    ///
    /// # Errors
    /// [`StorageTooLarge`] beyond [`Self::MAX_CAPACITY`] slots.
    pub fn new(mut storage: S) -> Result<Self, StorageTooLarge> {
        let len = storage.as_ref().len();
        if len > Self::MAX_CAPACITY {
            return Err(StorageTooLarge {
                len,
                max: Self::MAX_CAPACITY,
            });
        }
        for (i, slot) in storage.as_mut().iter_mut().enumerate() {
            let next = if i + 1 < len { (i + 1) as u32 } else { NO_SLOT };
            *slot = Slot(Content::Vacant {
                generation: NonZeroU32::MIN,
                next,
            });
        }
        Ok(SlotMap {
            storage,
            free_head: if len == 0 { NO_SLOT } else { 0 },
            len: 0,
            retired: 0,
            _marker: PhantomData,
        })
    }

    /// Slots in the storage.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.storage.as_ref().len()
    }

    /// Occupied slots.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// No slot occupied.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// No slot free: the next insert fails.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.free_head == NO_SLOT
    }

    /// Slots retired because their generation counter is spent (after 2^32 - 1 occupants each).
    #[inline]
    pub fn retired(&self) -> usize {
        self.retired as usize
    }

    /// The key the next insert will return, if a slot is free. Lets a caller build a value that
    /// knows its own key before committing it.
    #[inline]
    pub fn next_key(&self) -> Option<SlotKey> {
        if self.free_head == NO_SLOT {
            return None;
        }
        let slot = &self.storage.as_ref()[self.free_head as usize];
        Some(SlotKey {
            index: self.free_head,
            generation: slot.generation(),
        })
    }

    /// Stores `value` in a free slot and returns its key.
    ///
    /// # Errors
    /// All slots are in use: the value comes back with the error.
    pub fn insert(&mut self, value: T) -> Result<SlotKey, (SlotsExhausted, T)> {
        match self.next_key() {
            Some(key) => {
                self.occupy_with(key, |_| value);
                Ok(key)
            }
            None => Err((
                SlotsExhausted {
                    capacity: self.capacity(),
                },
                value,
            )),
        }
    }

    /// Stores the value `make` builds from its own key.
    ///
    /// # Errors
    /// All slots are in use (`make` is not called).
    pub fn insert_with(
        &mut self,
        make: impl FnOnce(SlotKey) -> T,
    ) -> Result<SlotKey, SlotsExhausted> {
        let key = self.next_key().ok_or(SlotsExhausted {
            capacity: self.capacity(),
        })?;
        self.occupy_with(key, make);
        Ok(key)
    }

    /// Fills the vacant slot `key` (the head of the free list) with the value `make` builds,
    /// straight into the slot (not built elsewhere and moved in).
    #[inline(always)]
    fn occupy_with(&mut self, key: SlotKey, make: impl FnOnce(SlotKey) -> T) {
        let slot = &mut self.storage.as_mut()[key.index as usize];
        let Content::Vacant { next, generation } = slot.0 else {
            unreachable!("free list points at an occupied slot");
        };
        slot.0 = Content::Occupied {
            generation,
            value: make(key),
        };
        self.free_head = next;
        self.len += 1;
    }

    /// The occupant `key` names, or `None` when it was removed (even if the slot is reused).
    #[inline]
    pub fn get(&self, key: SlotKey) -> Option<&T> {
        match self.storage.as_ref().get(key.index as usize) {
            Some(Slot(Content::Occupied { generation, value }))
                if *generation == key.generation =>
            {
                Some(value)
            }
            _ => None,
        }
    }

    /// Mutable access to the occupant `key` names.
    #[inline]
    pub fn get_mut(&mut self, key: SlotKey) -> Option<&mut T> {
        match self.storage.as_mut().get_mut(key.index as usize) {
            Some(Slot(Content::Occupied { generation, value }))
                if *generation == key.generation =>
            {
                Some(value)
            }
            _ => None,
        }
    }

    /// The occupant of slot `index` with its current key, whatever its generation. For
    /// structures that link slots by index (timer lists, queues) and must not pay 8 bytes per
    /// link for a full key; they find the key here.
    #[inline]
    pub fn get_index(&self, index: u32) -> Option<(SlotKey, &T)> {
        match self.storage.as_ref().get(index as usize) {
            Some(Slot(Content::Occupied { generation, value })) => Some((
                SlotKey {
                    index,
                    generation: *generation,
                },
                value,
            )),
            _ => None,
        }
    }

    /// [`get_index`](Self::get_index), mutably.
    #[inline]
    pub fn get_index_mut(&mut self, index: u32) -> Option<(SlotKey, &mut T)> {
        match self.storage.as_mut().get_mut(index as usize) {
            Some(Slot(Content::Occupied { generation, value })) => Some((
                SlotKey {
                    index,
                    generation: *generation,
                },
                value,
            )),
            _ => None,
        }
    }

    /// `key` names a current occupant.
    #[inline]
    pub fn contains(&self, key: SlotKey) -> bool {
        self.get(key).is_some()
    }

    /// Gives the occupant `key` names a new key, keeping it where it is: the slot's generation
    /// advances so `key` (and every copy of it) is dead, as [`remove`](Self::remove) followed
    /// by an [`insert`](Self::insert) of the same value into the slot just freed would leave it,
    /// without moving the value out and back. `None` (nothing changes): `key` is stale, or the
    /// slot's generation is the last one (a removal would retire the slot).
    pub fn renew(&mut self, key: SlotKey) -> Option<SlotKey> {
        let slot = self.storage.as_mut().get_mut(key.index as usize)?;
        match &mut slot.0 {
            Content::Occupied { generation, .. }
                if *generation == key.generation && generation.get() != u32::MAX =>
            {
                *generation = generation.saturating_add(1);
                Some(SlotKey {
                    index: key.index,
                    generation: *generation,
                })
            }
            _ => None,
        }
    }

    /// Removes and returns the occupant `key` names; the slot's generation advances so `key`
    /// (and every copy of it) is dead from now on.
    pub fn remove(&mut self, key: SlotKey) -> Option<T> {
        let free_head = self.free_head;
        let slot = self.storage.as_mut().get_mut(key.index as usize)?;
        match slot.0 {
            Content::Occupied { generation, .. } if generation == key.generation => {}
            _ => return None,
        }
        let retire = key.generation.get() == u32::MAX;
        let vacant = if retire {
            Content::Vacant {
                generation: key.generation,
                next: NO_SLOT,
            }
        } else {
            Content::Vacant {
                generation: key.generation.saturating_add(1),
                next: free_head,
            }
        };
        let Content::Occupied { value, .. } = core::mem::replace(&mut slot.0, vacant) else {
            unreachable!("checked above");
        };
        self.len -= 1;
        if retire {
            self.retired += 1;
        } else {
            self.free_head = key.index;
        }
        Some(value)
    }

    /// Every occupant with its key, in slot order. O(capacity).
    pub fn iter(&self) -> impl Iterator<Item = (SlotKey, &T)> {
        self.storage
            .as_ref()
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| match &slot.0 {
                Content::Occupied { generation, value } => Some((
                    SlotKey {
                        index: i as u32,
                        generation: *generation,
                    },
                    value,
                )),
                Content::Vacant { .. } => None,
            })
    }

    /// Every occupant with its key, mutably, in slot order. O(capacity).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (SlotKey, &mut T)> {
        self.storage
            .as_mut()
            .iter_mut()
            .enumerate()
            .filter_map(|(i, slot)| match &mut slot.0 {
                Content::Occupied { generation, value } => Some((
                    SlotKey {
                        index: i as u32,
                        generation: *generation,
                    },
                    value,
                )),
                Content::Vacant { .. } => None,
            })
    }

    /// Bytes of storage per slot for this `T` (occupant plus generation and free-list link).
    pub const fn bytes_per_slot() -> usize {
        core::mem::size_of::<Slot<T>>()
    }

    #[cfg(test)]
    pub(crate) fn set_generation_for_test(&mut self, index: u32, generation: u32) {
        let g = NonZeroU32::new(generation).expect("non-zero generation");
        match &mut self.storage.as_mut()[index as usize].0 {
            Content::Vacant { generation, .. } | Content::Occupied { generation, .. } => {
                *generation = g
            }
        }
    }
}

#[cfg(feature = "std")]
impl<T> SlotMap<T, std::boxed::Box<[Slot<T>]>> {
    /// A map with `capacity` slots on the heap (allocated here, once).
    ///
    /// # Errors
    /// [`StorageTooLarge`] beyond [`Self::MAX_CAPACITY`] slots.
    pub fn with_capacity(capacity: usize) -> Result<Self, StorageTooLarge> {
        if capacity > Self::MAX_CAPACITY {
            return Err(StorageTooLarge {
                len: capacity,
                max: Self::MAX_CAPACITY,
            });
        }
        Self::new(super::heap_storage(capacity, Slot::vacant))
    }
}

impl<T, S> fmt::Debug for SlotMap<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotMap")
            .field("len", &self.len)
            .field("retired", &self.retired)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(capacity: usize) -> SlotMap<u64, Vec<Slot<u64>>> {
        SlotMap::new((0..capacity).map(|_| Slot::vacant()).collect()).unwrap()
    }

    #[test]
    fn stale_key_never_reaches_the_reused_slot() {
        let mut m = map(1);
        let old = m.insert(10).unwrap();
        assert_eq!(m.remove(old), Some(10));
        let new = m.insert(20).unwrap();
        assert_eq!(new.index(), old.index(), "the only slot is reused");
        assert_ne!(new, old);
        assert_eq!(m.get(old), None);
        assert_eq!(m.get_mut(old), None);
        assert!(!m.contains(old));
        assert_eq!(
            m.remove(old),
            None,
            "a stale key cannot remove the new occupant"
        );
        assert_eq!(m.get(new), Some(&20));
    }

    #[test]
    fn full_map_reports_exhaustion_and_returns_the_value() {
        let mut m = map(3);
        let keys: Vec<_> = (0..3).map(|i| m.insert(i).unwrap()).collect();
        assert!(m.is_full());
        let (err, value) = m.insert(99).unwrap_err();
        assert_eq!(err, SlotsExhausted { capacity: 3 });
        assert_eq!(value, 99);
        assert!(err.to_string().contains("all 3 slots are in use"));
        assert_eq!(m.insert_with(|_| 5), Err(SlotsExhausted { capacity: 3 }));
        m.remove(keys[1]).unwrap();
        assert!(m.insert(7).is_ok(), "a freed slot is usable again");
    }

    #[test]
    fn renew_keeps_the_value_in_place_under_a_new_key() {
        let mut m = map(2);
        let old = m.insert(10).unwrap();
        let other = m.insert(11).unwrap();
        let new = m.renew(old).unwrap();
        assert_eq!(new.index(), old.index());
        assert_eq!(new.generation(), old.generation() + 1);
        assert_eq!(m.get(old), None, "the old key is stale");
        assert_eq!(m.get(new), Some(&10));
        assert_eq!(m.renew(old), None, "a stale key renews nothing");
        assert_eq!((m.len(), m.get(other)), (2, Some(&11)));
        // The last generation is not renewed (a removal retires the slot).
        m.set_generation_for_test(new.index(), u32::MAX);
        let last = SlotKey {
            index: new.index(),
            generation: NonZeroU32::MAX,
        };
        assert_eq!(m.renew(last), None);
        assert_eq!(m.get(last), Some(&10));
    }

    #[test]
    fn zero_capacity_is_always_full() {
        let mut m = map(0);
        assert!(m.is_full());
        assert!(m.insert(1).is_err());
    }

    #[test]
    fn insert_with_sees_its_own_key() {
        let mut m: SlotMap<SlotKey, Vec<Slot<SlotKey>>> =
            SlotMap::new((0..4).map(|_| Slot::vacant()).collect()).unwrap();
        let predicted = m.next_key().unwrap();
        let key = m.insert_with(|k| k).unwrap();
        assert_eq!(key, predicted);
        assert_eq!(m.get(key), Some(&key));
    }

    #[test]
    fn spent_generation_retires_the_slot() {
        let mut m = map(2);
        let a = m.insert(1).unwrap();
        m.set_generation_for_test(a.index(), u32::MAX);
        let a = SlotKey {
            index: a.index(),
            generation: NonZeroU32::MAX,
        };
        assert_eq!(m.get(a), Some(&1));
        assert_eq!(m.remove(a), Some(1));
        assert_eq!(m.retired(), 1);
        let b = m.insert(2).unwrap();
        assert_ne!(
            b.index(),
            a.index(),
            "a retired slot is never handed out again"
        );
        assert!(m.insert(3).is_err(), "one slot left in service, now taken");
        assert_eq!(m.get(a), None);
    }

    #[test]
    fn iteration_yields_exactly_the_occupants() {
        let mut m = map(8);
        let keys: Vec<_> = (0..8).map(|i| m.insert(i * 10).unwrap()).collect();
        for k in keys.iter().step_by(2) {
            m.remove(*k);
        }
        let seen: Vec<_> = m.iter().map(|(k, v)| (k, *v)).collect();
        let expected: Vec<_> = keys
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(i, k)| (*k, i as u64 * 10))
            .collect();
        assert_eq!(seen, expected);
        for (_, v) in m.iter_mut() {
            *v += 1;
        }
        assert_eq!(m.get(keys[1]), Some(&11));
    }

    #[test]
    fn index_access_names_the_current_occupant() {
        let mut m = map(2);
        let a = m.insert(1).unwrap();
        assert_eq!(m.get_index(a.index()), Some((a, &1)));
        m.remove(a);
        assert_eq!(m.get_index(a.index()), None);
        let b = m.insert(2).unwrap();
        let (key, value) = m.get_index_mut(b.index()).unwrap();
        assert_eq!(key, b);
        *value = 3;
        assert_eq!(m.get(b), Some(&3));
        assert_eq!(m.get_index(7), None);
    }

    #[test]
    fn key_is_compact() {
        assert_eq!(core::mem::size_of::<SlotKey>(), 8);
        assert_eq!(core::mem::size_of::<Option<SlotKey>>(), 8);
    }

    #[test]
    fn works_on_a_borrowed_slice_without_std_storage() {
        let mut storage: [Slot<u32>; 4] = [const { Slot::vacant() }; 4];
        let mut m = SlotMap::new(&mut storage[..]).unwrap();
        let k = m.insert(5).unwrap();
        assert_eq!(m.get(k), Some(&5));
    }
}
