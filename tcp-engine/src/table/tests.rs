//! Tests of the table as a whole: the map against a model, collisions, churn, a million
//! entries, listeners, the connection table's consistency and port allocation.

use super::*;
use proptest::prelude::*;
use std::collections::HashMap;

const fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

/// The n-th distinct tuple of a large space (local fixed, remote varies).
fn nth_tuple(n: u32) -> FourTuple {
    let [a, b, c, d] = (0xC612_0100u32 + n / 60_000).to_be_bytes();
    FourTuple::new(
        ip(198, 18, 0, 1),
        80,
        ip(a, b, c, d),
        1024 + (n % 60_000) as u16,
    )
}

fn key_source(n: usize) -> Vec<SlotKey> {
    // Real keys from a slotmap (the only way to make them).
    let mut slots: SlotMap<(), Box<[Slot<()>]>> = SlotMap::with_capacity(n).unwrap();
    (0..n).map(|_| slots.insert(()).unwrap()).collect()
}

fn secret(byte: u8) -> HashSecret {
    HashSecret::from_bytes([byte; 16])
}

/// Every tuple hashes to the same value: the worst case a keyed hash prevents.
struct ConstantHasher(u32);
impl TupleHasher for ConstantHasher {
    fn hash_tuple(&self, _: &FourTuple) -> u32 {
        self.0
    }
}

/// Few distinct hashes: many collisions, but not all.
struct WeakHasher;
impl TupleHasher for WeakHasher {
    fn hash_tuple(&self, t: &FourTuple) -> u32 {
        u32::from(t.remote_port % 5).wrapping_mul(0x3333_3333)
    }
}

#[test]
fn sizes_meet_the_memory_budget() {
    assert_eq!(core::mem::size_of::<FourTuple>(), 12);
    // A bucket is exactly one cache line, aligned to one, so a probe of a bucket reads one line.
    assert_eq!(core::mem::size_of::<Bucket>(), 64);
    assert_eq!(core::mem::align_of::<Bucket>(), 64);
    // A 200-byte connection state costs the state, 8 bytes of slot overhead and ~26.7 bytes of map.
    let per = bytes_per_connection::<[u64; 25]>(1_000_000);
    assert!((234.0..235.0).contains(&per), "{per}");
}

#[test]
fn map_insert_get_remove_and_errors() {
    let keys = key_source(3);
    let mut m = TupleMap::with_capacity(2, SipTupleHasher::new(secret(1))).unwrap();
    let (a, b, c) = (nth_tuple(1), nth_tuple(2), nth_tuple(3));
    m.insert(a, keys[0]).unwrap();
    assert_eq!(
        m.insert(a, keys[1]),
        Err(TableError::TupleInUse {
            tuple: a,
            existing: keys[0]
        })
    );
    m.insert(b, keys[1]).unwrap();
    assert_eq!(
        m.insert(c, keys[2]),
        Err(TableError::MapFull { capacity: 2 })
    );
    assert_eq!(m.get(&a), Some(keys[0]));
    assert_eq!(m.get(&c), None);
    assert_eq!(m.replace(&a, keys[2]), Ok(keys[0]));
    assert_eq!(m.get(&a), Some(keys[2]));
    assert_eq!(
        m.replace(&c, keys[2]),
        Err(TableError::TupleNotFound { tuple: c })
    );
    assert_eq!(m.remove(&a), Some(keys[2]));
    assert_eq!(m.remove(&a), None);
    m.insert(c, keys[0]).unwrap();
    assert_eq!(m.len(), 2);
    m.check_invariants();
}

#[test]
fn lower_load_means_more_buckets_and_shorter_probes() {
    type M = TupleMap<&'static mut [Bucket]>;
    assert_eq!(M::buckets_for_load(1000, 80), M::buckets_for(1000));
    assert_eq!(
        M::buckets_for_load(1000, 99),
        M::buckets_for_load(1000, 90),
        "clamped"
    );
    assert_eq!(M::buckets_for_load(1000, 50), 668);
    assert_eq!(M::buckets_for(1000), 418);
    assert_eq!(M::buckets_at_least(1000), 334);
    assert_eq!(M::buckets_at_least(0), 1);
    let fill = |load| {
        let keys = key_source(20_000);
        let mut m = TupleMap::with_capacity_and_load(20_000, load, SipTupleHasher::new(secret(15)))
            .unwrap();
        for (i, k) in keys.iter().enumerate() {
            m.insert(nth_tuple(i as u32), *k).unwrap();
        }
        m.probe_stats()
    };
    let (dense, default, relaxed) = (fill(90), fill(80), fill(70));
    // Linear probing by bucket of three at loads 90/80/70 %: about 72/80/85 % of the entries in
    // their home line, mean displacement about 2/0.5/0.3 buckets.
    assert!(
        dense.home_fraction < default.home_fraction
            && default.home_fraction < relaxed.home_fraction
            && default.home_fraction > 0.75
            && relaxed.home_fraction > 0.82,
        "{dense:?} {default:?} {relaxed:?}"
    );
    assert!(
        relaxed.mean_displacement < default.mean_displacement
            && default.mean_displacement < dense.mean_displacement
            && default.mean_displacement < 1.0,
        "{dense:?} {default:?} {relaxed:?}"
    );
}

#[test]
fn setup_rejects_too_few_buckets() {
    let mut buckets = [Bucket::EMPTY; 8];
    let err = TupleMap::new(&mut buckets[..], 25, ConstantHasher(0)).unwrap_err();
    assert_eq!(err.needed, 9);
    assert_eq!(
        err.needed,
        TupleMap::<&mut [Bucket], ConstantHasher>::buckets_at_least(25)
    );
    assert!(err.to_string().contains("buckets_for"), "{err}");
    assert!(TupleMap::new(&mut buckets[..], 24, ConstantHasher(0)).is_ok());
    assert!(TupleMap::new(&mut [][..], 0, ConstantHasher(0)).is_err());
}

#[test]
fn total_collisions_stay_correct_including_wraparound() {
    // All entries share one home bucket; with hash u32::MAX the home is the last bucket, so the
    // run wraps around to the start of the array.
    for hash in [0, u32::MAX, 0x8000_0000] {
        let cap = 60;
        let keys = key_source(cap);
        let mut m = TupleMap::with_capacity(cap, ConstantHasher(hash)).unwrap();
        for (i, k) in keys.iter().enumerate() {
            m.insert(nth_tuple(i as u32), *k).unwrap();
            m.check_invariants();
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.get(&nth_tuple(i as u32)), Some(*k));
        }
        assert_eq!(
            m.get(&nth_tuple(1000)),
            None,
            "a miss ends at the first bucket nothing went past"
        );
        // Remove from the middle of the run, then everything else, checking all the way.
        for i in (0..cap as u32).rev().step_by(3) {
            assert!(m.remove(&nth_tuple(i)).is_some());
            m.check_invariants();
        }
        for (i, k) in keys.iter().enumerate() {
            let expect = if (cap as u32 - 1 - i as u32) % 3 == 0 {
                None
            } else {
                Some(*k)
            };
            assert_eq!(
                m.get(&nth_tuple(i as u32)),
                expect,
                "tuple {i}, hash {hash:#x}"
            );
        }
    }
}

#[test]
fn a_completely_full_map_finds_everything_and_ends_every_miss() {
    // Capacity = every entry of every bucket: no free entry anywhere, so a miss has to stop
    // because it has seen every bucket once, not at a free entry.
    for hasher_seed in 0..4u8 {
        let buckets = 7;
        let cap = buckets * 3;
        let mut storage = vec![Bucket::EMPTY; buckets];
        let mut m = TupleMap::new(
            &mut storage[..],
            cap,
            SipTupleHasher::new(secret(hasher_seed)),
        )
        .unwrap();
        let keys = key_source(cap + 1);
        for (i, k) in keys.iter().enumerate().take(cap) {
            m.insert(nth_tuple(i as u32), *k).unwrap();
        }
        m.check_invariants();
        assert_eq!(
            m.insert(nth_tuple(cap as u32), keys[cap]),
            Err(TableError::MapFull { capacity: cap })
        );
        for (i, k) in keys.iter().enumerate().take(cap) {
            assert_eq!(m.get(&nth_tuple(i as u32)), Some(*k));
        }
        for miss in cap as u32..cap as u32 + 50 {
            assert_eq!(m.get(&nth_tuple(miss)), None);
        }
        // Re-keying works at capacity (the old entry frees the room the new one takes), and so
        // does removing and re-inserting.
        let moved = nth_tuple(10_000);
        assert_eq!(m.rekey(&nth_tuple(0), moved), Ok(keys[0]));
        assert_eq!(m.remove(&nth_tuple(5)), Some(keys[5]));
        m.insert(nth_tuple(5), keys[5]).unwrap();
        m.check_invariants();
        assert_eq!(m.get(&moved), Some(keys[0]));
        assert_eq!(m.get(&nth_tuple(0)), None);
        assert_eq!(m.len(), cap);
    }
}

#[test]
fn saturated_displacements_and_overflow_counts_stay_correct() {
    // 900 tuples on one home bucket of 300: displacements reach 299 and the first buckets are
    // passed by up to 897 entries, beyond what the bytes hold, so both saturate. Lookups,
    // removals (with their refills) and re-insertions must still be exact.
    let cap = 900;
    let buckets = TupleMap::<&mut [Bucket]>::buckets_at_least(cap);
    let mut storage = vec![Bucket::EMPTY; buckets];
    let mut m = TupleMap::new(&mut storage[..], cap, ConstantHasher(7)).unwrap();
    let keys = key_source(cap);
    for (i, k) in keys.iter().enumerate() {
        m.insert(nth_tuple(i as u32), *k).unwrap();
    }
    m.check_invariants();
    assert!(m.probe_stats().max_displacement >= 299);
    // Remove from the front, the middle and the saturated tail of the run.
    let gone: Vec<u32> = (0..cap as u32).filter(|i| i % 7 == 3 || *i > 880).collect();
    for &i in &gone {
        assert_eq!(m.remove(&nth_tuple(i)), Some(keys[i as usize]), "tuple {i}");
    }
    m.check_invariants();
    for i in 0..cap as u32 {
        let expect = (!gone.contains(&i)).then_some(keys[i as usize]);
        assert_eq!(m.get(&nth_tuple(i)), expect, "tuple {i}");
    }
    assert_eq!(m.get(&nth_tuple(5_000)), None);
    for &i in &gone {
        m.insert(nth_tuple(i), keys[i as usize]).unwrap();
    }
    m.check_invariants();
    assert_eq!(m.len(), cap);
}

#[test]
fn entries_past_a_freed_entry_stay_reachable_and_the_counts_drain() {
    // All tuples share home bucket 0 (of 4): the first three fill it, the next three pass it.
    // Removing one from the home bucket must not cut the way to those past it, and removing
    // those past it must bring the count back to zero (so misses end at home again).
    let mut storage = vec![Bucket::EMPTY; 4];
    let mut m = TupleMap::new(&mut storage[..], 12, ConstantHasher(0)).unwrap();
    let keys = key_source(8);
    for (i, k) in keys.iter().enumerate().take(7) {
        m.insert(nth_tuple(i as u32), *k).unwrap();
    }
    m.check_invariants();
    assert_eq!(m.remove(&nth_tuple(1)), Some(keys[1]));
    for i in [0, 2, 3, 4, 5, 6] {
        assert_eq!(m.get(&nth_tuple(i)), Some(keys[i as usize]), "tuple {i}");
    }
    // A re-insertion takes the freed home entry; the duplicate check still sees the rest.
    m.insert(nth_tuple(7), keys[7]).unwrap();
    assert!(matches!(
        m.insert(nth_tuple(6), keys[6]),
        Err(TableError::TupleInUse { .. })
    ));
    m.check_invariants();
    for i in 3..7 {
        assert_eq!(m.remove(&nth_tuple(i)), Some(keys[i as usize]));
        m.check_invariants();
    }
    assert_eq!(
        m.probe_stats().max_displacement,
        0,
        "everything at home again"
    );
    assert_eq!(m.len(), 3);
}

#[test]
fn churn_leaves_no_tombstones_behind() {
    // Many insert/remove cycles at high load: probe lengths stay where they started because
    // removal takes its passage back out of the overflow counts (no tombstones).
    let cap = 10_000;
    let keys = key_source(cap);
    let mut m = TupleMap::with_capacity(cap, SipTupleHasher::new(secret(2))).unwrap();
    let live = cap;
    for (i, key) in keys.iter().enumerate().take(live) {
        m.insert(nth_tuple(i as u32), *key).unwrap();
    }
    let before = m.probe_stats();
    let mut next = live as u32;
    for round in 0..20 {
        for j in 0..live / 2 {
            let victim = next - live as u32 + j as u32;
            assert!(m.remove(&nth_tuple(victim)).is_some(), "round {round}");
        }
        for (j, key) in keys.iter().enumerate().take(live / 2) {
            m.insert(nth_tuple(next + j as u32), *key).unwrap();
        }
        // The oldest half of the live window goes next round.
        next += (live / 2) as u32;
    }
    m.check_invariants();
    let after = m.probe_stats();
    assert_eq!(m.len(), live);
    // Without refilling holes on removal, this churn left ~40 % of the entries at home and a
    // mean displacement of ~3 buckets (measured); with it, the layout stays as inserted.
    assert!(
        after.mean_displacement < before.mean_displacement * 1.3 + 0.1
            && after.home_fraction > 0.75,
        "grew from {before:?} to {after:?}"
    );
    assert!(after.max_displacement < 160, "{after:?}");
}

#[test]
fn first_in_first_out_churn_keeps_entries_at_home() {
    // Connections closing in the order they opened, each replaced by a new one (a server's
    // steady state), ten times over the capacity.
    let cap = 3_000;
    let mut m = TupleMap::with_capacity(cap, SipTupleHasher::new(secret(9))).unwrap();
    let keys = key_source(cap);
    for (i, key) in keys.iter().enumerate() {
        m.insert(nth_tuple(i as u32), *key).unwrap();
    }
    let before = m.probe_stats();
    for i in 0..10 * cap as u32 {
        let key = m.remove(&nth_tuple(i)).expect("live");
        m.insert(nth_tuple(i + cap as u32), key).unwrap();
    }
    m.check_invariants();
    let after = m.probe_stats();
    assert!(
        after.home_fraction > 0.75 && after.mean_displacement < before.mean_displacement + 0.3,
        "{before:?} -> {after:?}"
    );
}

#[test]
fn a_peer_cannot_aim_tuples_at_one_bucket_without_the_secret() {
    // Find 100 tuples that all land in bucket 0 under secret A (what an attacker who knew A
    // could send), then show they spread out under secret B.
    let cap = 1024;
    let n = TupleMap::<&mut [Bucket]>::buckets_for(cap) as u64;
    let a = SipTupleHasher::new(secret(3));
    let aimed: Vec<FourTuple> = (0..u32::MAX)
        .map(nth_tuple)
        .filter(|t| (u64::from(a.hash_tuple(t)) * n) >> 32 == 0)
        .take(100)
        .collect();
    let keys = key_source(aimed.len());
    let mut under_a = TupleMap::with_capacity(cap, SipTupleHasher::new(secret(3))).unwrap();
    let mut under_b = TupleMap::with_capacity(cap, SipTupleHasher::new(secret(4))).unwrap();
    for (t, k) in aimed.iter().zip(&keys) {
        under_a.insert(*t, *k).unwrap();
        under_b.insert(*t, *k).unwrap();
    }
    // Three entries a bucket: 100 tuples aimed at one bucket run over 34 of them.
    assert!(
        under_a.probe_stats().max_displacement >= 33,
        "the aimed set collides under A"
    );
    assert!(
        under_b.probe_stats().max_displacement <= 2,
        "{:?}",
        under_b.probe_stats()
    );
}

#[test]
fn one_million_entries_fill_lookup_remove() {
    const N: usize = 1_000_000;
    let mut table: BoxedConnectionTable<u32> =
        ConnectionTable::with_capacity(N, &secret(5)).unwrap();
    let mut keys = Vec::with_capacity(N);
    for i in 0..N as u32 {
        keys.push(table.insert(nth_tuple(i), i).unwrap());
    }
    assert_eq!(
        table.insert(nth_tuple(N as u32), 0).unwrap_err().0,
        TableError::SlotsExhausted { capacity: N }
    );
    for i in 0..N as u32 {
        let key = table.lookup(&nth_tuple(i)).expect("every tuple found");
        assert_eq!(key, keys[i as usize]);
        assert_eq!(table.get(key), Some(&i));
    }
    let mut batch = vec![None; 4096];
    let tuples: Vec<_> = (0..4096).map(|i| nth_tuple(i * 97)).collect();
    table.map().get_batch(&tuples, &mut batch);
    for (i, got) in batch.iter().enumerate() {
        assert_eq!(*got, Some(keys[i * 97]));
    }
    for i in (0..N as u32).step_by(2) {
        assert_eq!(table.remove(keys[i as usize], &nth_tuple(i)), Ok(i));
    }
    for i in 0..N as u32 {
        let found = table.lookup(&nth_tuple(i));
        assert_eq!(found.is_some(), i % 2 == 1, "tuple {i}");
    }
    let stats = table.map().probe_stats();
    // Entries stay where they were placed (at 80 % load, ~80 % at home) when others leave.
    assert!(stats.max_displacement < 160, "{stats:?}");
    assert!(stats.home_fraction > 0.75, "{stats:?}");
    assert_eq!(table.len(), N / 2);
}

#[test]
fn lookup_segment_prefers_connection_then_listener_then_wildcard() {
    let keys = key_source(4);
    let mut m = TupleMap::with_capacity(8, SipTupleHasher::new(secret(6))).unwrap();
    let local = ip(198, 18, 0, 1);
    let seg = FourTuple::new(local, 80, ip(198, 18, 0, 2), 40000);
    assert_eq!(m.lookup_segment(&seg), None);
    m.insert(FourTuple::listener(Ipv4Addr::UNSPECIFIED, 80), keys[0])
        .unwrap();
    assert_eq!(
        m.lookup_segment(&seg),
        Some(Matched::Listener {
            key: keys[0],
            listener: FourTuple::listener(Ipv4Addr::UNSPECIFIED, 80)
        })
    );
    m.insert(FourTuple::listener(local, 80), keys[1]).unwrap();
    assert_eq!(m.lookup_segment(&seg).map(Matched::key), Some(keys[1]));
    m.insert(seg, keys[2]).unwrap();
    assert_eq!(m.lookup_segment(&seg), Some(Matched::Connection(keys[2])));
    // Other ports and a bogus peer (port 0 / address 0.0.0.0) never match a listener.
    assert_eq!(
        m.lookup_segment(&FourTuple::new(local, 81, ip(198, 18, 0, 2), 40000)),
        None
    );
    assert_eq!(
        m.lookup_segment(&FourTuple::new(local, 80, ip(198, 18, 0, 2), 0)),
        None
    );
    assert_eq!(
        m.lookup_segment(&FourTuple::new(local, 80, Ipv4Addr::UNSPECIFIED, 5)),
        None
    );
}

#[test]
fn a_parked_slot_takes_over_the_listener_tuple_in_place() {
    let mut t: BoxedConnectionTable<&str> = ConnectionTable::with_capacity(3, &secret(8)).unwrap();
    let listener = FourTuple::listener(ip(198, 18, 0, 1), 80);
    let peer = FourTuple::new(ip(198, 18, 0, 1), 80, ip(198, 18, 0, 2), 40000);
    let head = t.insert(listener, "head").unwrap();
    let parked = t.insert_unregistered("parked").unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t.map().len(), 1, "the parked slot has no tuple");
    assert_eq!(t.get(parked), Some(&"parked"));
    // The head accepts: the listener tuple goes to the parked slot, the head gets the peer's.
    assert_eq!(
        t.hand_over(&listener, parked, head),
        Err(TableError::KeyMismatch {
            tuple: listener,
            key: parked,
            registered: head
        }),
        "only the registered slot hands over"
    );
    t.hand_over(&listener, head, parked).unwrap();
    t.register(head, peer).unwrap();
    assert_eq!(t.lookup(&listener), Some(parked));
    assert_eq!(t.lookup_segment(&peer), Some(Matched::Connection(head)));
    assert_eq!(
        t.register(parked, peer),
        Err(TableError::TupleInUse {
            tuple: peer,
            existing: head
        })
    );
    // The last listener stops: its tuple goes, its slot stays until removed.
    t.unregister(parked, &listener).unwrap();
    assert_eq!(t.lookup(&listener), None);
    assert_eq!(
        t.unregister(parked, &listener),
        Err(TableError::TupleNotFound { tuple: listener })
    );
    assert_eq!(t.remove_unregistered(parked), Some("parked"));
    assert_eq!(t.remove_unregistered(parked), None, "the key went stale");
    assert_eq!(
        t.hand_over(&peer, head, parked),
        Err(TableError::StaleKey { key: parked })
    );
    assert_eq!(
        t.register(parked, listener),
        Err(TableError::StaleKey { key: parked })
    );
    assert_eq!((t.len(), t.map().len()), (1, 1));
    // Slots run out for unregistered inserts as for registered ones.
    t.insert_unregistered("a").unwrap();
    t.insert_unregistered("b").unwrap();
    assert_eq!(
        t.insert_unregistered("c").unwrap_err(),
        (TableError::SlotsExhausted { capacity: 3 }, "c")
    );
}

#[test]
fn accept_rekeys_the_listener_and_a_reserve_slot_keeps_listening() {
    #[derive(Debug, PartialEq)]
    enum State {
        Listen,
        SynReceived,
    }
    let mut t: BoxedConnectionTable<State> = ConnectionTable::with_capacity(2, &secret(7)).unwrap();
    let listener = FourTuple::listener(ip(198, 18, 0, 1), 80);
    let peer = FourTuple::new(ip(198, 18, 0, 1), 80, ip(198, 18, 0, 2), 40000);
    let first = t.insert(listener, State::Listen).unwrap();
    let Some(Matched::Listener {
        key,
        listener: under,
    }) = t.lookup_segment(&peer)
    else {
        panic!("SYN must reach the listener");
    };
    assert_eq!((key, under), (first, listener));
    *t.get_mut(key).unwrap() = State::SynReceived;
    t.rekey(key, &under, peer).unwrap();
    assert_eq!(t.lookup_segment(&peer), Some(Matched::Connection(first)));
    let other = FourTuple {
        remote_port: 40001,
        ..peer
    };
    assert_eq!(t.lookup_segment(&other), None, "the listener accepted once");
    // Keep listening with a reserve slot; the table is then full, and re-keying still works.
    let second = t.insert(listener, State::Listen).unwrap();
    assert_eq!(t.lookup_segment(&other).map(Matched::key), Some(second));
    assert_eq!(
        t.insert(FourTuple::listener(ip(198, 18, 0, 1), 81), State::Listen)
            .unwrap_err()
            .0,
        TableError::SlotsExhausted { capacity: 2 }
    );
    assert_eq!(
        t.rekey(second, &listener, peer),
        Err(TableError::TupleInUse {
            tuple: peer,
            existing: first
        })
    );
    t.rekey(second, &listener, other).unwrap();
    assert_eq!(t.lookup(&other), Some(second));
    assert_eq!(
        t.rekey(first, &other, listener),
        Err(TableError::KeyMismatch {
            tuple: other,
            key: first,
            registered: second
        })
    );
}

#[test]
fn stale_keys_after_removal_and_reuse_return_nothing() {
    let mut t: BoxedConnectionTable<&str> = ConnectionTable::with_capacity(1, &secret(8)).unwrap();
    let a = nth_tuple(1);
    let b = nth_tuple(2);
    let old = t.insert(a, "first").unwrap();
    assert_eq!(t.remove(old, &a), Ok("first"));
    let new = t.insert(b, "second").unwrap();
    assert_eq!(new.index(), old.index(), "the slot is reused");
    assert_eq!(t.get(old), None);
    assert_eq!(t.get_mut(old), None);
    assert_eq!(t.remove(old, &b), Err(TableError::StaleKey { key: old }));
    assert_eq!(t.rekey(old, &b, a), Err(TableError::StaleKey { key: old }));
    assert_eq!(t.lookup(&a), None);
    assert_eq!(t.get(new), Some(&"second"));
    let (err, value) = t.insert(a, "third").unwrap_err();
    assert_eq!(
        (err, value),
        (TableError::SlotsExhausted { capacity: 1 }, "third")
    );
    assert!(err.to_string().contains("connection table full"), "{err}");
}

#[test]
fn remove_with_the_wrong_tuple_changes_nothing() {
    let mut t: BoxedConnectionTable<u8> = ConnectionTable::with_capacity(4, &secret(9)).unwrap();
    let ka = t.insert(nth_tuple(1), 1).unwrap();
    let kb = t.insert(nth_tuple(2), 2).unwrap();
    assert_eq!(
        t.remove(ka, &nth_tuple(2)),
        Err(TableError::KeyMismatch {
            tuple: nth_tuple(2),
            key: ka,
            registered: kb
        })
    );
    assert_eq!(
        t.remove(ka, &nth_tuple(3)),
        Err(TableError::TupleNotFound {
            tuple: nth_tuple(3)
        })
    );
    assert_eq!(t.len(), 2);
    assert_eq!(t.lookup(&nth_tuple(1)), Some(ka));
}

#[test]
fn ports_avoid_tuples_in_use_and_exhaust_explicitly() {
    let range = PortRange::new(50000, 50009).unwrap();
    let mut ports = EphemeralPorts::new(range, secret(10));
    let keys = key_source(16);
    let mut map = TupleMap::with_capacity(16, SipTupleHasher::new(secret(11))).unwrap();
    let (local, remote) = (ip(198, 18, 0, 1), ip(198, 18, 0, 2));
    // A listener on one port of the range: never chosen.
    map.insert(FourTuple::listener(Ipv4Addr::UNSPECIFIED, 50003), keys[15])
        .unwrap();
    let mut chosen = Vec::new();
    for k in keys.iter().take(9) {
        let port = ports.allocate_in(&map, local, remote, 443).unwrap();
        assert!(range.contains(port) && port != 50003, "{port}");
        map.insert(FourTuple::new(local, port, remote, 443), *k)
            .unwrap();
        chosen.push(port);
    }
    chosen.sort_unstable();
    chosen.dedup();
    assert_eq!(
        chosen.len(),
        9,
        "no port handed out twice toward one destination"
    );
    let err = ports.allocate_in(&map, local, remote, 443).unwrap_err();
    assert!(matches!(
        err,
        TableError::PortsExhausted {
            remote_port: 443,
            ..
        }
    ));
    assert!(
        err.to_string().contains("widen the ephemeral port range"),
        "{err}"
    );
    // Another destination can still reuse the same local ports.
    assert!(ports.allocate_in(&map, local, remote, 80).is_ok());
}

#[test]
fn ports_skip_listener_lookups_only_while_the_map_holds_no_listener() {
    let range = PortRange::new(50000, 50001).unwrap();
    let keys = key_source(4);
    let mut map = TupleMap::with_capacity(4, SipTupleHasher::new(secret(11))).unwrap();
    let (local, remote) = (ip(198, 18, 0, 1), ip(198, 18, 0, 2));
    assert!(!map.holds_listeners());
    // Listeners on both ports of the range (one on the address, one on the wildcard): none is
    // free, whatever the counter.
    map.insert(FourTuple::listener(local, 50000), keys[0])
        .unwrap();
    map.insert(FourTuple::listener(Ipv4Addr::UNSPECIFIED, 50001), keys[1])
        .unwrap();
    assert!(map.holds_listeners());
    let mut ports = EphemeralPorts::new(range, secret(10));
    assert!(ports.allocate_in(&map, local, remote, 443).is_err());
    // Once they are gone, both ports are free again.
    assert!(map.remove(&FourTuple::listener(local, 50000)).is_some());
    assert!(
        map.remove(&FourTuple::listener(Ipv4Addr::UNSPECIFIED, 50001))
            .is_some()
    );
    assert!(!map.holds_listeners());
    let a = ports.allocate_in(&map, local, remote, 443).unwrap();
    map.insert(FourTuple::new(local, a, remote, 443), keys[2])
        .unwrap();
    let b = ports.allocate_in(&map, local, remote, 443).unwrap();
    assert_ne!(a, b);
    assert!(range.contains(a) && range.contains(b));
}

#[test]
fn the_offset_remembered_for_the_last_destination_picks_the_same_ports() {
    // One allocator sees destinations in turns (its remembered offset changes hands); fresh
    // allocators per call (nothing remembered) with the same counter must agree port by port.
    let (local, a, b) = (ip(198, 18, 0, 1), ip(198, 18, 0, 2), ip(198, 18, 0, 3));
    let mut ports = EphemeralPorts::new(PortRange::IANA, secret(12));
    for (n, (remote, port)) in [(a, 80), (a, 80), (b, 80), (a, 80), (a, 81), (b, 80)]
        .into_iter()
        .enumerate()
    {
        let mut fresh = EphemeralPorts::new(PortRange::IANA, secret(12));
        for _ in 0..n {
            // Advance the fresh allocator's counter to where `ports` is.
            fresh.allocate(local, local, 1, |_| false).unwrap();
        }
        assert_eq!(
            ports.allocate(local, remote, port, |_| false),
            fresh.allocate(local, remote, port, |_| false),
            "call {n}"
        );
    }
}

#[test]
fn consecutive_ports_toward_one_destination_are_sequential_and_offsets_differ() {
    let mut ports = EphemeralPorts::new(PortRange::IANA, secret(12));
    let (local, remote) = (ip(198, 18, 0, 1), ip(198, 18, 0, 2));
    let p1 = ports.allocate(local, remote, 80, |_| false).unwrap();
    let p2 = ports.allocate(local, remote, 80, |_| false).unwrap();
    assert_eq!(
        u32::from(p2),
        u32::from(p1) + 1 - if p1 == 65535 { 16384 } else { 0 }
    );
    // Different destinations start at unrelated offsets.
    let starts: Vec<u16> = (1..=20)
        .map(|i| {
            let mut fresh = EphemeralPorts::new(PortRange::IANA, secret(12));
            fresh
                .allocate(local, ip(198, 18, 1, i), 80, |_| false)
                .unwrap()
        })
        .collect();
    let mut distinct = starts.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() >= 19, "{starts:?}");
    assert!(PortRange::new(0, 10).is_err() && PortRange::new(10, 9).is_err());
}

#[derive(Clone, Debug)]
enum Op {
    Insert(u8),
    Remove(u8),
    Get(u8),
    Rekey(u8, u8),
    Replace(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u8>().prop_map(Op::Insert),
        3 => any::<u8>().prop_map(Op::Remove),
        2 => any::<u8>().prop_map(Op::Get),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::Rekey(a, b)),
        1 => any::<u8>().prop_map(Op::Replace),
    ]
}

/// Runs `ops` against the map and a `HashMap` model, comparing every answer.
fn check_against_model<H: TupleHasher>(hasher: H, ops: &[Op]) {
    const CAP: usize = 48;
    let map = TupleMap::with_capacity(CAP, hasher).unwrap();
    check_map_against_model(map, CAP, ops, false);
}

/// [`check_against_model`] on a given (empty) map of capacity `CAP`; with `every_step`, the
/// map's invariants (overflow counts, listener count, every entry found) are checked after
/// each operation, not only at the end.
fn check_map_against_model<S, H>(mut map: TupleMap<S, H>, cap: usize, ops: &[Op], every_step: bool)
where
    S: AsRef<[Bucket]> + AsMut<[Bucket]>,
    H: TupleHasher,
{
    #[allow(non_snake_case)]
    let CAP = cap;
    let keys = key_source(256);
    let mut model: HashMap<FourTuple, SlotKey> = HashMap::new();
    // Every fifth tuple a listener's (remote 0.0.0.0:0), so the listener count is exercised.
    let t = |i: u8| match u32::from(i) % 97 {
        n if n % 5 == 0 => FourTuple::listener(Ipv4Addr::new(198, 18, 0, 1), 1000 + n as u16),
        n => nth_tuple(n),
    };
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Insert(i) => {
                let expected = if let Some(&existing) = model.get(&t(i)) {
                    Err(TableError::TupleInUse {
                        tuple: t(i),
                        existing,
                    })
                } else if model.len() >= CAP {
                    Err(TableError::MapFull { capacity: CAP })
                } else {
                    model.insert(t(i), keys[usize::from(i)]);
                    Ok(())
                };
                assert_eq!(
                    map.insert(t(i), keys[usize::from(i)]),
                    expected,
                    "step {step}"
                );
            }
            Op::Remove(i) => assert_eq!(map.remove(&t(i)), model.remove(&t(i)), "step {step}"),
            Op::Get(i) => assert_eq!(map.get(&t(i)), model.get(&t(i)).copied(), "step {step}"),
            Op::Replace(i) => {
                let k = keys[255 - usize::from(i)];
                let expected = match model.get_mut(&t(i)) {
                    Some(v) => Ok(core::mem::replace(v, k)),
                    None => Err(TableError::TupleNotFound { tuple: t(i) }),
                };
                assert_eq!(map.replace(&t(i), k), expected, "step {step}");
            }
            Op::Rekey(a, b) => {
                let (old, new) = (t(a), t(b));
                let expected = match (model.get(&old).copied(), model.get(&new).copied()) {
                    (None, _) => Err(TableError::TupleNotFound { tuple: old }),
                    (Some(k), _) if old == new => Ok(k),
                    (Some(_), Some(existing)) => Err(TableError::TupleInUse {
                        tuple: new,
                        existing,
                    }),
                    (Some(k), None) => {
                        model.remove(&old);
                        model.insert(new, k);
                        Ok(k)
                    }
                };
                assert_eq!(map.rekey(&old, new), expected, "step {step}");
            }
        }
        assert_eq!(map.len(), model.len());
        if every_step {
            map.check_invariants();
        }
        assert_eq!(
            map.holds_listeners(),
            model.keys().any(FourTuple::is_listener),
            "step {step}"
        );
    }
    map.check_invariants();
    let mut all: Vec<_> = map.iter().collect();
    let mut expected: Vec<_> = model.into_iter().collect();
    all.sort();
    expected.sort();
    assert_eq!(all, expected);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn map_matches_hashmap_model_with_keyed_hash(ops in proptest::collection::vec(op(), 1..400)) {
        check_against_model(SipTupleHasher::new(secret(13)), &ops);
    }

    #[test]
    fn map_matches_hashmap_model_under_heavy_collisions(ops in proptest::collection::vec(op(), 1..400)) {
        check_against_model(WeakHasher, &ops);
    }

    /// The tightest storage (every entry of every bucket usable, the map allowed to fill
    /// completely), where inserts wrap around the end of the array, overflow counts pile up on
    /// every bucket and misses must still end: keyed, degenerate and constant hashes, with the
    /// invariants checked after every step.
    #[test]
    fn full_tight_map_matches_hashmap_model(
        ops in proptest::collection::vec(op(), 1..400),
        hasher in 0u8..3,
        cap in 1usize..24,
    ) {
        let buckets = TupleMap::<&mut [Bucket]>::buckets_at_least(cap);
        let mut storage = vec![Bucket::EMPTY; buckets];
        match hasher {
            0 => check_map_against_model(
                TupleMap::new(&mut storage[..], cap, SipTupleHasher::new(secret(14))).unwrap(),
                cap, &ops, true),
            1 => check_map_against_model(
                TupleMap::new(&mut storage[..], cap, WeakHasher).unwrap(), cap, &ops, true),
            _ => check_map_against_model(
                TupleMap::new(&mut storage[..], cap, ConstantHasher(u32::MAX)).unwrap(),
                cap, &ops, true),
        }
    }

    #[test]
    fn slotmap_never_returns_a_removed_value(ops in proptest::collection::vec((any::<bool>(), 0usize..64), 1..500)) {
        let mut slots: SlotMap<u32, Box<[Slot<u32>]>> = SlotMap::with_capacity(8).unwrap();
        let mut live: Vec<(SlotKey, u32)> = Vec::new();
        let mut dead: Vec<SlotKey> = Vec::new();
        for (n, (insert, pick)) in ops.into_iter().enumerate() {
            if insert {
                match slots.insert(n as u32) {
                    Ok(k) => live.push((k, n as u32)),
                    Err((e, v)) => {
                        prop_assert_eq!(live.len(), 8);
                        prop_assert_eq!((e.capacity, v), (8, n as u32));
                    }
                }
            } else if !live.is_empty() {
                let (k, v) = live.swap_remove(pick % live.len());
                prop_assert_eq!(slots.remove(k), Some(v));
                dead.push(k);
            }
            for (k, v) in &live {
                prop_assert_eq!(slots.get(*k), Some(v));
            }
            for k in &dead {
                prop_assert_eq!(slots.get(*k), None);
            }
            prop_assert_eq!(slots.len(), live.len());
        }
    }
}

#[derive(Clone, Debug)]
enum TableOp {
    Insert(u8),
    Remove {
        pick: u8,
        wrong_tuple: bool,
    },
    Rekey {
        pick: u8,
        to: u8,
    },
    RemoveStale(u8),
    /// A cached segment lookup (`lookup_segment_cached`), whose entry must never go stale.
    Lookup(u8),
}

fn table_op() -> impl Strategy<Value = TableOp> {
    prop_oneof![
        4 => any::<u8>().prop_map(TableOp::Insert),
        3 => (any::<u8>(), any::<bool>()).prop_map(|(pick, wrong_tuple)| TableOp::Remove { pick, wrong_tuple }),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(pick, to)| TableOp::Rekey { pick, to }),
        1 => any::<u8>().prop_map(TableOp::RemoveStale),
        3 => any::<u8>().prop_map(TableOp::Lookup),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The connection table against a model: every live connection is found under its tuple
    /// with its state, removed keys stay dead, and failed operations change nothing.
    #[test]
    fn connection_table_stays_consistent(ops in proptest::collection::vec(table_op(), 1..300)) {
        const CAP: usize = 24;
        let mut table: BoxedConnectionTable<u32> = ConnectionTable::with_capacity(CAP, &secret(14)).unwrap();
        let mut live: Vec<(SlotKey, FourTuple, u32)> = Vec::new();
        let mut dead: Vec<SlotKey> = Vec::new();
        let t = |i: u8| nth_tuple(u32::from(i) % 40);
        let mut probe = 0u8;
        for (n, op) in ops.into_iter().enumerate() {
            let n = n as u32;
            match op {
                TableOp::Insert(i) => {
                    let tuple = t(i);
                    let result = table.insert(tuple, n);
                    if live.len() == CAP {
                        prop_assert_eq!(result.unwrap_err().0, TableError::SlotsExhausted { capacity: CAP });
                    } else if let Some((existing, _, _)) = live.iter().find(|(_, lt, _)| *lt == tuple) {
                        prop_assert_eq!(result.unwrap_err().0, TableError::TupleInUse { tuple, existing: *existing });
                    } else {
                        live.push((result.unwrap(), tuple, n));
                    }
                }
                TableOp::Remove { pick, wrong_tuple } if !live.is_empty() => {
                    let idx = usize::from(pick) % live.len();
                    let (key, tuple, value) = live[idx];
                    if wrong_tuple && live.len() > 1 {
                        let other = live[(idx + 1) % live.len()];
                        prop_assert_eq!(
                            table.remove(key, &other.1),
                            Err(TableError::KeyMismatch { tuple: other.1, key, registered: other.0 })
                        );
                    } else {
                        prop_assert_eq!(table.remove(key, &tuple), Ok(value));
                        live.swap_remove(idx);
                        dead.push(key);
                    }
                }
                TableOp::Rekey { pick, to } if !live.is_empty() => {
                    let idx = usize::from(pick) % live.len();
                    let (key, old, _) = live[idx];
                    let new = t(to);
                    let result = table.rekey(key, &old, new);
                    match live.iter().find(|(_, lt, _)| *lt == new) {
                        Some((existing, _, _)) if new != old => {
                            prop_assert_eq!(result, Err(TableError::TupleInUse { tuple: new, existing: *existing }));
                        }
                        _ => {
                            prop_assert_eq!(result, Ok(()));
                            live[idx].1 = new;
                        }
                    }
                }
                TableOp::RemoveStale(i) if !dead.is_empty() => {
                    let key = dead[usize::from(i) % dead.len()];
                    prop_assert_eq!(table.remove(key, &t(i)), Err(TableError::StaleKey { key }));
                }
                TableOp::Lookup(i) => probe = i,
                _ => {}
            }
            // The cache answers as the map does, whatever changed since it was filled.
            let fresh = table.lookup_segment(&t(probe));
            prop_assert_eq!(table.lookup_segment_cached(&t(probe)), fresh);
            prop_assert_eq!(table.lookup_segment_cached(&t(probe)), fresh);
            prop_assert_eq!(table.len(), live.len());
            prop_assert_eq!(table.map().len(), live.len());
            for (key, tuple, value) in &live {
                prop_assert_eq!(table.lookup(tuple), Some(*key));
                prop_assert_eq!(table.get(*key), Some(value));
            }
            for key in &dead {
                prop_assert_eq!(table.get(*key), None);
            }
        }
    }
}

#[test]
fn tuple_hash_words_are_its_bytes() {
    let t = FourTuple::new(
        Ipv4Addr::new(198, 18, 0, 1),
        0x1234,
        Ipv4Addr::new(10, 20, 30, 40),
        0xABCD,
    );
    let b = t.to_bytes();
    let (first8, last4) = t.hash_words();
    assert_eq!(first8, u64::from_le_bytes(b[..8].try_into().unwrap()));
    assert_eq!(last4, u32::from_le_bytes(b[8..].try_into().unwrap()));
}

#[test]
fn renew_gives_an_unregistered_slot_a_new_key_and_keeps_the_value() {
    let mut t: BoxedConnectionTable<&str> = ConnectionTable::with_capacity(2, &secret(5)).unwrap();
    let peer = FourTuple::new(ip(198, 18, 0, 1), 80, ip(198, 18, 0, 2), 40000);
    let other = FourTuple {
        remote_port: 40001,
        ..peer
    };
    let key = t.insert(peer, "conn").unwrap();
    let b = t.insert(other, "b").unwrap();
    // The segment's lookup first (the connection a segment closed), then the detach (its
    // tuple out of the map) and the renewal.
    assert_eq!(
        t.lookup_segment_cached(&peer),
        Some(Matched::Connection(key))
    );
    t.unregister(key, &peer).unwrap();
    assert_eq!(
        t.lookup_segment_cached(&peer),
        None,
        "the segment cache forgot it"
    );
    let new = t.renew(key).unwrap();
    assert_eq!(
        (new.index(), new.generation()),
        (key.index(), key.generation() + 1)
    );
    assert_eq!(t.get(new), Some(&"conn"));
    assert_eq!(t.get(key), None, "the old key is stale");
    assert_eq!(t.lookup(&peer), None, "the tuple is gone");
    assert_eq!(
        t.lookup(&other),
        Some(b),
        "the other connection is untouched"
    );
    assert_eq!(t.renew(key), None, "stale key");
    assert_eq!((t.len(), t.map().len()), (2, 1));
    // The slot is unregistered: it goes by key alone.
    assert_eq!(t.remove_unregistered(new), Some("conn"));
}
