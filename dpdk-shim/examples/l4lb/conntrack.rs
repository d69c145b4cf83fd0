//! Per-lcore connection tracking: which backend each established flow goes to.
//!
//! Maglev alone moves a few flows whenever the backend set changes (see `maglev.rs`); this
//! table pins every flow to the backend it first got, the way Katran's per-CPU LRU map does,
//! so that established connections survive backend additions, removals from the Maglev table
//! and weight changes. Each lcore owns one table (RSS sends a flow to one queue, hence one
//! lcore), so there is no locking and no atomics.
//!
//! # Layout
//!
//! Everything is allocated in [`ConnTrack::new`] and never again:
//!
//! - a *slab* of `capacity` entries (key, backend, last-seen tick, cached hash, LRU links);
//! - an *index*: open addressing with linear probing over `2 * capacity` rounded up to a
//!   power of two buckets, each a slab index + 1 (0 = empty). The load factor stays at most
//!   1/2, so probes are short and there is always an empty bucket to stop a probe. Deletion is
//!   backward-shift (no tombstones), so the index never degrades and never needs a rehash;
//! - an intrusive doubly-linked LRU list through the slab (head = most recently used), and a
//!   free list of unused slab entries.
//!
//! A hit is one hash, a short probe and an O(1) move to the list head; a miss at capacity
//! evicts the list tail in O(1). The index hash is keyed with per-table random seeds
//! (from std's `RandomState`) so that a client cannot choose 5-tuples that collide.
//!
//! # Ticks
//!
//! `now` is whatever monotonic clock the caller uses (TSC cycles, milliseconds). The LRU
//! order is also last-seen order as long as `now` does not go backwards, which is what lets
//! [`ConnTrack::expire_idle`] remove idle entries from the tail in O(expired).
//!
//! # Backends going away
//!
//! A *draining* backend keeps its entries (existing flows finish there); only a *removed*
//! backend's entries are deleted, with [`ConnTrack::remove_backend`] — an O(len) walk meant for
//! the control step after a configuration swap, not for the packet path.
//!
//! This file is standalone (std only). Its tests install a counting global allocator: a test
//! binary that includes this file must not define another one.
#![allow(dead_code)] // a small library: the example uses a subset of it

use std::hash::BuildHasher;
use std::net::IpAddr;

/// A backend's identity (the same `u32` as `maglev::BackendId`).
pub type BackendId = u32;

/// "No entry" in the slab links.
const NIL: u32 = u32::MAX;

/// The largest capacity: slab indices are `u32`, with `NIL` reserved and bucket values
/// stored as index + 1.
pub const MAX_CAPACITY: usize = (u32::MAX - 1) as usize;

/// A flow's 5-tuple. IPv4 addresses are stored IPv4-mapped (`::ffff:a.b.c.d`) next to an
/// explicit family flag, so an IPv4 flow never equals an IPv6 one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct FlowKey {
    src: [u8; 16],
    dst: [u8; 16],
    sport: u16,
    dport: u16,
    proto: u8,
    ipv6: bool,
}

impl FlowKey {
    /// The key of a flow. `src` and `dst` are of the same family in anything the parser
    /// produces; the family flag follows `src`.
    #[inline]
    pub fn new(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, proto: u8) -> FlowKey {
        let octets = |a: IpAddr| match a {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        FlowKey {
            src: octets(src),
            dst: octets(dst),
            sport,
            dport,
            proto,
            ipv6: src.is_ipv6(),
        }
    }

    /// Source port.
    pub fn sport(&self) -> u16 {
        self.sport
    }

    /// Destination port.
    pub fn dport(&self) -> u16 {
        self.dport
    }

    /// IP protocol number.
    pub fn proto(&self) -> u8 {
        self.proto
    }

    /// The key as five 64-bit words for hashing.
    #[inline(always)]
    fn words(&self) -> [u64; 5] {
        let w = |b: &[u8; 16], i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(x)
        };
        [
            w(&self.src, 0),
            w(&self.src, 8),
            w(&self.dst, 0),
            w(&self.dst, 8),
            u64::from(self.sport) << 32
                | u64::from(self.dport) << 16
                | u64::from(self.proto) << 8
                | u64::from(self.ipv6),
        ]
    }
}

/// Counters of one table, monotonic since creation.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Counters {
    /// Lookups that found the flow.
    pub hits: u64,
    /// Lookups that did not (whether or not the chooser then gave a backend).
    pub misses: u64,
    /// Entries dropped to make room for a new flow.
    pub evictions: u64,
    /// Entries removed by [`ConnTrack::expire_idle`].
    pub expired: u64,
    /// Entries removed by [`ConnTrack::remove_backend`] or [`ConnTrack::remove`].
    pub removed: u64,
    /// Misses for which the chooser had no backend (nothing was inserted).
    pub no_backend: u64,
}

/// One slab entry.
#[derive(Clone, Copy, Default)]
struct Entry {
    key: FlowKey,
    hash: u32,
    backend: BackendId,
    last_seen: u64,
    prev: u32,
    next: u32,
}

/// A fixed-capacity flow → backend table with LRU eviction. See the module doc.
pub struct ConnTrack {
    slab: Box<[Entry]>,
    /// Buckets: slab index + 1, 0 = empty.
    index: Box<[u32]>,
    mask: usize,
    /// Most and least recently used entries (NIL when empty).
    head: u32,
    tail: u32,
    /// Unused slab entries, linked through `next`.
    free: u32,
    len: usize,
    seeds: [u64; 4],
    counters: Counters,
}

impl std::fmt::Debug for ConnTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnTrack")
            .field("len", &self.len)
            .field("capacity", &self.slab.len())
            .field("counters", &self.counters)
            .finish()
    }
}

/// 64x64 -> 128-bit multiply folded to 64 bits: the mixing step of the index hash.
#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl ConnTrack {
    /// A table for `capacity` flows (at least 1, at most [`MAX_CAPACITY`]), with random
    /// hash seeds. All memory is allocated here.
    pub fn new(capacity: usize) -> ConnTrack {
        let rs = std::collections::hash_map::RandomState::new();
        let seeds = [
            rs.hash_one(0x51u64),
            rs.hash_one(0x52u64),
            rs.hash_one(0x53u64),
            rs.hash_one(0x54u64),
        ];
        Self::with_seeds(capacity, seeds)
    }

    /// A table with given hash seeds (deterministic; for tests and reproducible runs).
    pub fn with_seeds(capacity: usize, seeds: [u64; 4]) -> ConnTrack {
        let capacity = capacity.clamp(1, MAX_CAPACITY);
        let buckets = (capacity * 2).next_power_of_two();
        let mut slab = vec![Entry::default(); capacity].into_boxed_slice();
        // Every entry starts on the free list, in order.
        for (i, e) in slab.iter_mut().enumerate() {
            e.next = if i + 1 < capacity {
                (i + 1) as u32
            } else {
                NIL
            };
            e.prev = NIL;
        }
        ConnTrack {
            slab,
            index: vec![0u32; buckets].into_boxed_slice(),
            mask: buckets - 1,
            head: NIL,
            tail: NIL,
            free: 0,
            len: 0,
            // Odd multipliers keep the folded multiply from collapsing on a zero seed.
            seeds: seeds.map(|s| s | 1),
            counters: Counters::default(),
        }
    }

    /// Flows the table holds at most.
    pub fn capacity(&self) -> usize {
        self.slab.len()
    }

    /// Buckets of the index (fixed at creation: `2 * capacity` rounded up to a power of two).
    pub fn index_buckets(&self) -> usize {
        self.index.len()
    }

    /// Flows in the table.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    #[inline(always)]
    fn hash(&self, key: &FlowKey) -> u32 {
        let [w0, w1, w2, w3, w4] = key.words();
        let [k0, k1, k2, k3] = self.seeds;
        let mut h = folded_multiply(w0 ^ k0, w1 ^ k1);
        h = folded_multiply(h ^ w2, w3 ^ k2);
        h = folded_multiply(h ^ w4, k3);
        // Fold the high half in: bucket selection uses the low bits.
        (h ^ (h >> 32)) as u32
    }

    /// The bucket holding `key`, or the empty bucket where it would go.
    #[inline(always)]
    fn probe(&self, key: &FlowKey, hash: u32) -> Result<usize, usize> {
        let mut b = hash as usize & self.mask;
        // Ends: the load factor is at most 1/2, so an empty bucket exists.
        loop {
            let slot = self.index[b];
            if slot == 0 {
                return Err(b);
            }
            let e = &self.slab[(slot - 1) as usize];
            if e.hash == hash && e.key == *key {
                return Ok(b);
            }
            b = (b + 1) & self.mask;
        }
    }

    /// Empties bucket `hole` and shifts later members of its probe run back, so that every
    /// entry stays reachable from its home bucket without tombstones.
    fn erase_bucket(&mut self, mut hole: usize) {
        let mut j = hole;
        loop {
            j = (j + 1) & self.mask;
            let slot = self.index[j];
            if slot == 0 {
                break;
            }
            let home = self.slab[(slot - 1) as usize].hash as usize & self.mask;
            // The entry at `j` may fill the hole if the hole lies between its home and `j`
            // (cyclically), i.e. its probe distance is at least the hole's distance to `j`.
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                self.index[hole] = slot;
                hole = j;
            }
        }
        self.index[hole] = 0;
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let e = &self.slab[i as usize];
            (e.prev, e.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.slab[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slab[next as usize].prev = prev;
        }
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        {
            let e = &mut self.slab[i as usize];
            e.prev = NIL;
            e.next = old;
        }
        if old == NIL {
            self.tail = i;
        } else {
            self.slab[old as usize].prev = i;
        }
        self.head = i;
    }

    /// Removes slab entry `i` (live, its bucket found by probing) and frees it.
    fn remove_entry(&mut self, i: u32) {
        let (key, hash) = {
            let e = &self.slab[i as usize];
            (e.key, e.hash)
        };
        if let Ok(b) = self.probe(&key, hash) {
            self.erase_bucket(b);
        }
        self.unlink(i);
        self.slab[i as usize].next = self.free;
        self.free = i;
        self.len -= 1;
    }

    /// Inserts `key` (known absent; its empty bucket is `bucket`) with `backend`, evicting
    /// the least recently used flow when full.
    fn insert_absent(
        &mut self,
        key: &FlowKey,
        hash: u32,
        mut bucket: usize,
        backend: BackendId,
        now: u64,
    ) {
        if self.free == NIL {
            let victim = self.tail;
            self.remove_entry(victim);
            self.counters.evictions += 1;
            // The backward shift may have moved entries into the bucket we were given.
            // (The key is absent, so this is always the `Err` case.)
            bucket = match self.probe(key, hash) {
                Ok(b) | Err(b) => b,
            };
        }
        let i = self.free;
        self.free = self.slab[i as usize].next;
        {
            let e = &mut self.slab[i as usize];
            e.key = *key;
            e.hash = hash;
            e.backend = backend;
            e.last_seen = now;
        }
        self.push_front(i);
        self.index[bucket] = i + 1;
        self.len += 1;
    }

    /// The flow's backend if it is tracked (a hit: refreshes its recency and last-seen tick);
    /// otherwise asks `choose` for one and tracks the flow with it (a miss), evicting the least
    /// recently used flow if the table is full. `None`, nothing inserted, when `choose` has
    /// no backend. Allocation-free.
    #[inline]
    pub fn lookup_or_insert(
        &mut self,
        key: &FlowKey,
        now: u64,
        choose: impl FnOnce() -> Option<BackendId>,
    ) -> Option<BackendId> {
        let hash = self.hash(key);
        match self.probe(key, hash) {
            Ok(b) => {
                let i = self.index[b] - 1;
                self.counters.hits += 1;
                self.slab[i as usize].last_seen = now;
                if self.head != i {
                    self.unlink(i);
                    self.push_front(i);
                }
                Some(self.slab[i as usize].backend)
            }
            Err(bucket) => {
                self.counters.misses += 1;
                let Some(backend) = choose() else {
                    self.counters.no_backend += 1;
                    return None;
                };
                self.insert_absent(key, hash, bucket, backend, now);
                Some(backend)
            }
        }
    }

    /// The flow's backend and last-seen tick without touching recency or counters.
    pub fn peek(&self, key: &FlowKey) -> Option<(BackendId, u64)> {
        let hash = self.hash(key);
        let b = self.probe(key, hash).ok()?;
        let e = &self.slab[(self.index[b] - 1) as usize];
        Some((e.backend, e.last_seen))
    }

    /// Tracks `key` with `backend`, replacing any entry it had (and making it most recently
    /// used). Evicts the least recently used flow when full.
    pub fn insert(&mut self, key: &FlowKey, backend: BackendId, now: u64) {
        let hash = self.hash(key);
        match self.probe(key, hash) {
            Ok(b) => {
                let i = self.index[b] - 1;
                let e = &mut self.slab[i as usize];
                e.backend = backend;
                e.last_seen = now;
                self.unlink(i);
                self.push_front(i);
            }
            Err(bucket) => self.insert_absent(key, hash, bucket, backend, now),
        }
    }

    /// Stops tracking `key`; its backend if it was tracked.
    pub fn remove(&mut self, key: &FlowKey) -> Option<BackendId> {
        let hash = self.hash(key);
        let b = self.probe(key, hash).ok()?;
        let i = self.index[b] - 1;
        let backend = self.slab[i as usize].backend;
        self.remove_entry(i);
        self.counters.removed += 1;
        Some(backend)
    }

    /// Removes every flow of backend `id` (for a backend *removed* from the configuration,
    /// not a draining one). O(len): control path. Returns how many were removed.
    pub fn remove_backend(&mut self, id: BackendId) -> usize {
        let mut removed = 0;
        let mut i = self.head;
        while i != NIL {
            let next = self.slab[i as usize].next;
            if self.slab[i as usize].backend == id {
                self.remove_entry(i);
                removed += 1;
            }
            i = next;
        }
        self.counters.removed += removed as u64;
        removed
    }

    /// Removes up to `budget` flows not seen for more than `max_idle` ticks, oldest first,
    /// and returns how many. O(returned + 1): the LRU tail is the oldest flow (for a
    /// monotonic `now`), so the walk stops at the first flow that is fresh enough.
    pub fn expire_idle(&mut self, now: u64, max_idle: u64, budget: usize) -> usize {
        let mut n = 0;
        while n < budget && self.tail != NIL {
            let t = self.tail;
            if now.saturating_sub(self.slab[t as usize].last_seen) <= max_idle {
                break;
            }
            self.remove_entry(t);
            n += 1;
        }
        self.counters.expired += n as u64;
        n
    }

    /// The tracked flows, most recently used first: `(key, backend, last_seen)`.
    pub fn iter(&self) -> impl Iterator<Item = (&FlowKey, BackendId, u64)> + '_ {
        let mut i = self.head;
        std::iter::from_fn(move || {
            if i == NIL {
                return None;
            }
            let e = &self.slab[i as usize];
            i = e.next;
            Some((&e.key, e.backend, e.last_seen))
        })
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Counts heap allocations per thread (tests run on many threads at once).
    struct CountingAlloc;

    thread_local! {
        static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    }

    fn bump() {
        // `try_with`: the allocator may run while this thread's locals are torn down.
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
    }

    // SAFETY: every method forwards to the system allocator with the caller's arguments,
    // so the GlobalAlloc contract is the system allocator's; counting touches only a
    // thread-local `Cell` that needs no allocation.
    unsafe impl GlobalAlloc for CountingAlloc {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            bump();
            // SAFETY: forwarded unchanged (see the impl).
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            bump();
            // SAFETY: forwarded unchanged.
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            bump();
            // SAFETY: forwarded unchanged.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded unchanged.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static GLOBAL: CountingAlloc = CountingAlloc;

    /// Runs `f` and returns its result with the number of heap allocations it made on this
    /// thread. Usable by other tests of the same binary (e.g. a whole-packet-path test).
    pub fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
        let before = ALLOCATIONS.with(Cell::get);
        let r = f();
        (r, ALLOCATIONS.with(Cell::get) - before)
    }

    fn k4(i: u32) -> FlowKey {
        FlowKey::new(
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
            1024 + (i % 60000) as u16,
            80,
            6,
        )
    }

    /// The table's internal invariants: the index holds exactly the listed entries, each
    /// reachable from its home bucket, and the LRU list is consistent.
    fn check(ct: &ConnTrack) {
        let listed: Vec<_> = ct.iter().map(|(k, b, _)| (*k, b)).collect();
        assert_eq!(listed.len(), ct.len());
        assert_eq!(ct.index.iter().filter(|&&s| s != 0).count(), ct.len());
        for (k, b) in &listed {
            assert_eq!(ct.peek(k).map(|p| p.0), Some(*b));
        }
        // Backward links mirror forward links.
        let mut rev = Vec::new();
        let mut i = ct.tail;
        while i != NIL {
            rev.push(ct.slab[i as usize].key);
            i = ct.slab[i as usize].prev;
        }
        rev.reverse();
        assert_eq!(rev, listed.iter().map(|x| x.0).collect::<Vec<_>>());
    }

    #[test]
    fn conntrack_established_flow_keeps_its_backend_when_the_chooser_changes() {
        let mut ct = ConnTrack::new(16);
        let k = k4(1);
        assert_eq!(ct.lookup_or_insert(&k, 10, || Some(7)), Some(7));
        // The backend set changed: a new flow would now get 9, but this one stays on 7.
        let mut asked = false;
        assert_eq!(
            ct.lookup_or_insert(&k, 20, || {
                asked = true;
                Some(9)
            }),
            Some(7)
        );
        assert!(!asked, "the chooser is not consulted on a hit");
        assert_eq!(ct.peek(&k), Some((7, 20)));
        // A new flow does get the new choice.
        assert_eq!(ct.lookup_or_insert(&k4(2), 21, || Some(9)), Some(9));
        let c = ct.counters();
        assert_eq!((c.hits, c.misses, c.evictions), (1, 2, 0));
    }

    #[test]
    fn conntrack_no_backend_inserts_nothing() {
        let mut ct = ConnTrack::new(4);
        assert_eq!(ct.lookup_or_insert(&k4(1), 1, || None), None);
        assert!(ct.is_empty());
        assert_eq!(ct.counters().no_backend, 1);
        assert_eq!(ct.counters().misses, 1);
    }

    #[test]
    fn conntrack_lru_evicts_the_least_recently_used_at_capacity() {
        let mut ct = ConnTrack::new(3);
        for i in 1..=3 {
            ct.lookup_or_insert(&k4(i), u64::from(i), || Some(i));
        }
        assert_eq!(ct.len(), 3);
        // Flow 4 evicts flow 1, the oldest.
        ct.lookup_or_insert(&k4(4), 4, || Some(4));
        assert_eq!(ct.len(), 3);
        assert_eq!(ct.peek(&k4(1)), None);
        assert!(ct.peek(&k4(2)).is_some());
        assert_eq!(ct.counters().evictions, 1);
        check(&ct);
    }

    #[test]
    fn conntrack_lookups_refresh_recency() {
        let mut ct = ConnTrack::new(3);
        for i in 1..=3 {
            ct.lookup_or_insert(&k4(i), u64::from(i), || Some(i));
        }
        // Touch flow 1: now flow 2 is the least recently used.
        assert_eq!(ct.lookup_or_insert(&k4(1), 5, || Some(99)), Some(1));
        ct.lookup_or_insert(&k4(4), 6, || Some(4));
        assert_eq!(ct.peek(&k4(2)), None);
        assert_eq!(ct.peek(&k4(1)), Some((1, 5)));
        let order: Vec<u32> = ct.iter().map(|(_, b, _)| b).collect();
        assert_eq!(order, [4, 1, 3]);
        check(&ct);
    }

    #[test]
    fn conntrack_ipv4_and_ipv6_keys_are_distinct() {
        let mut ct = ConnTrack::new(8);
        let v4 = FlowKey::new(
            IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)),
            IpAddr::V4(Ipv4Addr::new(5, 6, 7, 8)),
            1,
            2,
            17,
        );
        // The same addresses written IPv4-mapped in an IPv6 packet: another flow.
        let v6 = FlowKey::new(
            IpAddr::V6(Ipv4Addr::new(1, 2, 3, 4).to_ipv6_mapped()),
            IpAddr::V6(Ipv4Addr::new(5, 6, 7, 8).to_ipv6_mapped()),
            1,
            2,
            17,
        );
        assert_ne!(v4, v6);
        ct.lookup_or_insert(&v4, 0, || Some(1));
        ct.lookup_or_insert(&v6, 0, || Some(2));
        assert_eq!(ct.peek(&v4).map(|p| p.0), Some(1));
        assert_eq!(ct.peek(&v6).map(|p| p.0), Some(2));
        let real6 = FlowKey::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
            1,
            2,
            6,
        );
        assert_eq!(ct.lookup_or_insert(&real6, 0, || Some(3)), Some(3));
        assert_eq!(ct.len(), 3);
    }

    #[test]
    fn conntrack_remove_backend_removes_only_its_flows() {
        let mut ct = ConnTrack::new(64);
        for i in 0..60 {
            ct.lookup_or_insert(&k4(i), 0, || Some(i % 3));
        }
        assert_eq!(ct.remove_backend(1), 20);
        assert_eq!(ct.len(), 40);
        for i in 0..60 {
            let want = (i % 3 != 1).then_some(i % 3);
            assert_eq!(ct.peek(&k4(i)).map(|p| p.0), want, "flow {i}");
        }
        assert_eq!(ct.counters().removed, 20);
        check(&ct);
        // The freed entries are reused without eviction.
        for i in 100..120 {
            ct.lookup_or_insert(&k4(i), 1, || Some(5));
        }
        assert_eq!(ct.len(), 60);
        assert_eq!(ct.counters().evictions, 0);
        check(&ct);
    }

    #[test]
    fn conntrack_expire_idle_takes_the_oldest_within_budget() {
        let mut ct = ConnTrack::new(16);
        for i in 0..10 {
            ct.lookup_or_insert(&k4(i), u64::from(i) * 10, || Some(i));
        }
        // Refresh flow 0 at t=95: it is no longer the oldest.
        ct.lookup_or_insert(&k4(0), 95, || None);
        // At t=100 with max idle 45, flows last seen before t=55 (1..=5) are idle.
        assert_eq!(ct.expire_idle(100, 45, 3), 3);
        assert_eq!(ct.expire_idle(100, 45, 100), 2);
        assert_eq!(ct.expire_idle(100, 45, 100), 0);
        let left: Vec<u32> = ct.iter().map(|(_, b, _)| b).collect();
        assert_eq!(left, [0, 9, 8, 7, 6]);
        assert_eq!(ct.counters().expired, 5);
        check(&ct);
    }

    #[test]
    fn conntrack_insert_and_remove() {
        let mut ct = ConnTrack::new(4);
        ct.insert(&k4(1), 3, 1);
        ct.insert(&k4(1), 4, 2);
        assert_eq!(ct.len(), 1);
        assert_eq!(ct.peek(&k4(1)), Some((4, 2)));
        assert_eq!(ct.remove(&k4(1)), Some(4));
        assert_eq!(ct.remove(&k4(1)), None);
        assert!(ct.is_empty());
        check(&ct);
    }

    #[test]
    fn conntrack_never_allocates_after_construction() {
        let mut ct = ConnTrack::new(1000);
        let (slab, buckets) = (ct.capacity(), ct.index_buckets());
        assert_eq!((slab, buckets), (1000, 2048));
        let ((), allocs) = count_allocations(|| {
            // Ten times the capacity in new flows (evicting), hits, and removals.
            for i in 0..10_000u32 {
                ct.lookup_or_insert(&k4(i), u64::from(i), || Some(i % 7));
                ct.lookup_or_insert(&k4(i / 2), u64::from(i), || Some(0));
                if i % 97 == 0 {
                    ct.remove(&k4(i));
                }
            }
            ct.remove_backend(3);
            ct.expire_idle(20_000, 15_000, 100);
        });
        assert_eq!(allocs, 0, "the packet path allocated");
        assert_eq!((ct.capacity(), ct.index_buckets()), (slab, buckets));
        assert!(ct.len() <= 1000);
        assert!(ct.counters().evictions > 8000);
        check(&ct);
        // The allocator does count (the test can fail).
        let (_, n) = count_allocations(|| ConnTrack::new(8));
        assert!(n >= 2);
    }

    #[test]
    fn conntrack_random_operations_match_a_model() {
        // A reference LRU over a Vec, against the table with a tiny capacity and a bad seed
        // mix, so that probe runs wrap and backward shifts happen constantly.
        let mut ct = ConnTrack::with_seeds(13, [0, 0, 0, 0]);
        let mut model: Vec<(FlowKey, u32)> = Vec::new(); // most recent first
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for step in 0..200_000u64 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let k = k4((rng % 40) as u32);
            match rng >> 60 {
                0 => {
                    let got = ct.remove(&k);
                    let pos = model.iter().position(|e| e.0 == k);
                    assert_eq!(got, pos.map(|p| model.remove(p).1));
                }
                _ => {
                    let b = (step % 1000) as u32;
                    let got = ct.lookup_or_insert(&k, step, || Some(b));
                    match model.iter().position(|e| e.0 == k) {
                        Some(p) => {
                            let e = model.remove(p);
                            assert_eq!(got, Some(e.1));
                            model.insert(0, e);
                        }
                        None => {
                            assert_eq!(got, Some(b));
                            if model.len() == 13 {
                                model.pop();
                            }
                            model.insert(0, (k, b));
                        }
                    }
                }
            }
            if step % 997 == 0 {
                check(&ct);
            }
            let order: Vec<_> = ct.iter().map(|(k, b, _)| (*k, b)).collect();
            assert_eq!(order, model, "step {step}");
        }
    }
}
