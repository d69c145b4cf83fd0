//! Maglev consistent hashing: the lookup table that maps a flow hash to a backend.
//!
//! This follows Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer"
//! (NSDI 2016), §3.4. Each backend owns a permutation of the table's `M` slots, given by two
//! independent hashes of its id: `offset = h1(id) mod M` and `skip = h2(id) mod (M - 1) + 1`;
//! its j-th preferred slot is `(offset + j * skip) mod M`. Because `M` is prime, every skip is
//! coprime with `M` and the sequence visits every slot exactly once. Population takes turns:
//! each backend in turn claims its next preferred slot that is still empty, until the table
//! is full. Lookup is one array read, `table[hash mod M]`.
//!
//! # Weights
//!
//! The paper's round-robin gives every backend the same number of turns. Here a backend of
//! weight `w` takes a turn in round `r` only while it has claimed fewer than `r * w / w_max`
//! slots, so after any number of rounds every backend holds its weighted share to within one
//! slot, and with equal weights the procedure is exactly the paper's. A backend's final share
//! is within one or two slots of `M * w / Σw`; any positive weight claims at least one slot
//! (its first turn comes in round one).
//!
//! # Determinism and disruption
//!
//! The table depends only on the *set* of `(id, weight)` pairs and `M`: the input is sorted by
//! id before population, and the hashes are fixed functions of the id (no per-process seed),
//! so every load balancer instance, and every rebuild, computes the same table. Removing one
//! of `N` backends re-assigns its ~`M/N` slots and, because the others' turns then fall
//! slightly differently, moves a small number of other slots too (the paper's Figure 10
//! measures this). The tests assert the bound the example relies on: with 100 equal backends
//! and `M = 65537`, fewer than 2 % of the slots not owned by the removed backend change owner.
//! Connection tracking (see `conntrack.rs`) keeps established flows on their backend anyway;
//! the table only decides new flows.
//!
//! # Sizes
//!
//! `M` must be prime (checked, with the next prime suggested in the error), at least the
//! number of backends, and at most [`MAX_TABLE_SIZE`]. The paper recommends `M > 100 * N`
//! for shares within 1 %; the default, 65537, suits up to ~650 backends per VIP.
//!
//! This file is standalone (std only) so that it can be compiled as a module of the example
//! and included in tests with `#[path]`.
#![allow(dead_code)] // a small library: the example uses a subset of it

use std::fmt;

/// A backend's identity as the data path sees it. The configuration derives it from stable
/// names, so the same backend has the same id across rebuilds.
pub type BackendId = u32;

/// The table size the paper and Katran use by default: a prime just above 2^16.
pub const DEFAULT_TABLE_SIZE: usize = 65537;

/// The largest table accepted: 16 Mi slots (64 MiB per VIP). Beyond that the build time and
/// memory buy nothing for any realistic backend count.
pub const MAX_TABLE_SIZE: usize = 1 << 24;

/// Slot value during population meaning "not claimed yet".
const EMPTY: u32 = u32::MAX;

/// Why a table could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaglevError {
    /// The size is not prime (the permutation would not cover every slot).
    NotPrime { size: usize, next_prime: usize },
    /// The size is above [`MAX_TABLE_SIZE`].
    TooLarge { size: usize },
    /// More backends than slots: some could never own a slot.
    TooManyBackends { backends: usize, size: usize },
    /// The same id appears twice in the input.
    DuplicateBackend(BackendId),
}

impl fmt::Display for MaglevError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaglevError::NotPrime { size, next_prime } => write!(
                f,
                "Maglev table size {size} is not prime (the next prime is {next_prime}; 65537 is the usual choice)"
            ),
            MaglevError::TooLarge { size } => write!(
                f,
                "Maglev table size {size} is larger than the maximum {MAX_TABLE_SIZE}"
            ),
            MaglevError::TooManyBackends { backends, size } => write!(
                f,
                "{backends} backends do not fit a Maglev table of {size} slots (use a larger prime size, ideally above 100 slots per backend)"
            ),
            MaglevError::DuplicateBackend(id) => {
                write!(f, "backend id {id:#010x} appears twice in one Maglev table")
            }
        }
    }
}

impl std::error::Error for MaglevError {}

/// Whether `n` is prime (trial division by 6k ± 1; table sizes are small).
pub fn is_prime(n: u64) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n.is_multiple_of(2) || n.is_multiple_of(3) {
        return false;
    }
    let mut d = 5u64;
    while d.saturating_mul(d) <= n {
        if n.is_multiple_of(d) || n.is_multiple_of(d + 2) {
            return false;
        }
        d += 6;
    }
    true
}

/// The smallest prime `>= n`.
pub fn next_prime(n: usize) -> usize {
    let mut p = n.max(2);
    while !is_prime(p as u64) {
        p += 1;
    }
    p
}

/// MurmurHash3's 64-bit finaliser: a bijection with full avalanche, so two different seeds
/// give two practically independent hashes of the same id.
fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

/// Seeds of the two permutation hashes (arbitrary odd constants; changing them changes every
/// table, so they are part of the format that all load balancer instances must share).
const OFFSET_SEED: u64 = 0x6c62_272e_07bb_0142;
const SKIP_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// The first slot and the stride of a backend's permutation in a table of `size` slots.
fn permutation(id: BackendId, size: usize) -> (usize, usize) {
    let m = size as u64;
    let offset = fmix64(u64::from(id) ^ OFFSET_SEED) % m;
    let skip = if m > 1 {
        fmix64(u64::from(id).wrapping_mul(0x2545_f491_4f6c_dd1d) ^ SKIP_SEED) % (m - 1) + 1
    } else {
        1
    };
    (offset as usize, skip as usize)
}

/// A populated Maglev lookup table. Immutable once built; share it between cores by
/// reference (the configuration swaps whole tables).
#[derive(Clone, PartialEq, Eq)]
pub struct MaglevTable {
    /// `size` slots, each a backend id; empty when there is no backend.
    entries: Vec<BackendId>,
    size: usize,
}

impl fmt::Debug for MaglevTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaglevTable")
            .field("size", &self.size)
            .field("backends", &self.shares().len())
            .finish()
    }
}

impl MaglevTable {
    /// Builds the table of `size` slots (prime) over `backends`, given as `(id, weight)`.
    /// Backends of weight 0 get no slot; with no backend of positive weight every lookup is
    /// `None`. The order of `backends` does not matter. Allocates: control path only.
    pub fn build(backends: &[(BackendId, u32)], size: usize) -> Result<MaglevTable, MaglevError> {
        if size > MAX_TABLE_SIZE {
            return Err(MaglevError::TooLarge { size });
        }
        if !is_prime(size as u64) {
            return Err(MaglevError::NotPrime {
                size,
                next_prime: next_prime(size),
            });
        }
        let mut list: Vec<(BackendId, u32)> =
            backends.iter().copied().filter(|&(_, w)| w > 0).collect();
        list.sort_unstable_by_key(|&(id, _)| id);
        if let Some(pair) = list.windows(2).find(|p| p[0].0 == p[1].0) {
            return Err(MaglevError::DuplicateBackend(pair[0].0));
        }
        // A duplicate of weight 0 is still a duplicate.
        let mut all: Vec<BackendId> = backends.iter().map(|&(id, _)| id).collect();
        all.sort_unstable();
        if let Some(pair) = all.windows(2).find(|p| p[0] == p[1]) {
            return Err(MaglevError::DuplicateBackend(pair[0]));
        }
        if list.is_empty() {
            return Ok(MaglevTable {
                entries: Vec::new(),
                size,
            });
        }
        if list.len() > size {
            return Err(MaglevError::TooManyBackends {
                backends: list.len(),
                size,
            });
        }

        let n = list.len();
        let w_max = u64::from(list.iter().map(|&(_, w)| w).max().unwrap_or(1));
        let (mut cursor, skip): (Vec<usize>, Vec<usize>) =
            list.iter().map(|&(id, _)| permutation(id, size)).unzip();
        let mut claimed = vec![0u64; n];
        // Slot -> index into `list` while populating (u32 suffices: size <= 2^24).
        let mut slots = vec![EMPTY; size];
        let mut filled = 0usize;
        let mut round = 0u64;
        'populate: loop {
            round += 1;
            for i in 0..n {
                // Behind its weighted target `round * w / w_max`? Then it takes a turn.
                if claimed[i] * w_max >= round * u64::from(list[i].1) {
                    continue;
                }
                // Walk the permutation to the next unclaimed slot. One exists (filled < size)
                // and the walk visits every slot, so this ends within `size` steps.
                loop {
                    let c = cursor[i];
                    let next = c + skip[i];
                    cursor[i] = if next >= size { next - size } else { next };
                    if slots[c] == EMPTY {
                        slots[c] = i as u32;
                        claimed[i] += 1;
                        filled += 1;
                        break;
                    }
                }
                if filled == size {
                    break 'populate;
                }
            }
        }
        let entries = slots.iter().map(|&i| list[i as usize].0).collect();
        Ok(MaglevTable { entries, size })
    }

    /// The backend for a flow hash: slot `hash mod size`. `None` when the table is empty.
    /// Allocation-free, one division and one load.
    #[inline]
    pub fn lookup(&self, hash: u32) -> Option<BackendId> {
        if self.entries.is_empty() {
            return None;
        }
        self.entries
            .get(hash as usize % self.entries.len())
            .copied()
    }

    /// The number of slots (`M`), also when empty.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether there is no backend (every lookup is `None`).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The slots, in order (empty when there is no backend).
    pub fn entries(&self) -> &[BackendId] {
        &self.entries
    }

    /// Slots per backend, sorted by id (for reporting and tests; allocates).
    pub fn shares(&self) -> Vec<(BackendId, usize)> {
        let mut ids = self.entries.clone();
        ids.sort_unstable();
        let mut out: Vec<(BackendId, usize)> = Vec::new();
        for id in ids {
            match out.last_mut() {
                Some((last, count)) if *last == id => *count += 1,
                _ => out.push((id, 1)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn equal(n: u32) -> Vec<(BackendId, u32)> {
        // Ids as the configuration would make them: arbitrary 32-bit values.
        (0..n).map(|i| (fmix64(u64::from(i)) as u32, 1)).collect()
    }

    fn share_of(t: &MaglevTable, id: BackendId) -> usize {
        t.entries().iter().filter(|&&e| e == id).count()
    }

    #[test]
    fn maglev_primes() {
        let primes: Vec<u64> = (0..60).filter(|&n| is_prime(n)).collect();
        assert_eq!(
            primes,
            [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59]
        );
        assert!(is_prime(65537));
        assert!(is_prime(655373));
        assert!(!is_prime(65535));
        assert!(!is_prime(65539 * 3));
        assert!(!is_prime(25)); // 5 * 5: the d*d <= n bound is inclusive
        assert_eq!(next_prime(65536), 65537);
        assert_eq!(next_prime(65537), 65537);
        assert_eq!(next_prime(0), 2);
    }

    #[test]
    fn maglev_non_prime_size_is_refused_with_the_next_prime() {
        let err = MaglevTable::build(&equal(3), 65536).unwrap_err();
        assert_eq!(
            err,
            MaglevError::NotPrime {
                size: 65536,
                next_prime: 65537
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("65536 is not prime"), "{msg}");
        assert!(msg.contains("65537"), "{msg}");
        assert!(matches!(
            MaglevTable::build(&equal(3), 1),
            Err(MaglevError::NotPrime { .. })
        ));
        assert!(matches!(
            MaglevTable::build(&equal(3), 0),
            Err(MaglevError::NotPrime { .. })
        ));
        assert_eq!(
            MaglevTable::build(&equal(3), MAX_TABLE_SIZE + 43),
            Err(MaglevError::TooLarge {
                size: MAX_TABLE_SIZE + 43
            })
        );
    }

    #[test]
    fn maglev_rejects_duplicates_and_more_backends_than_slots() {
        assert_eq!(
            MaglevTable::build(&[(7, 1), (9, 1), (7, 2)], 13),
            Err(MaglevError::DuplicateBackend(7))
        );
        assert_eq!(
            MaglevTable::build(&[(7, 1), (7, 0)], 13),
            Err(MaglevError::DuplicateBackend(7))
        );
        assert_eq!(
            MaglevTable::build(&equal(14), 13),
            Err(MaglevError::TooManyBackends {
                backends: 14,
                size: 13
            })
        );
        // Exactly as many backends as slots: one slot each.
        let t = MaglevTable::build(&equal(13), 13).unwrap();
        assert_eq!(t.shares().len(), 13);
        assert!(t.shares().iter().all(|&(_, c)| c == 1));
    }

    #[test]
    fn maglev_100_equal_backends_get_fair_shares_within_1_percent() {
        let backends = equal(100);
        let t = MaglevTable::build(&backends, DEFAULT_TABLE_SIZE).unwrap();
        assert_eq!(t.entries().len(), DEFAULT_TABLE_SIZE);
        let fair = DEFAULT_TABLE_SIZE as f64 / 100.0;
        let shares = t.shares();
        assert_eq!(shares.len(), 100);
        for &(id, _) in &backends {
            let got = share_of(&t, id) as f64;
            assert!(
                (got - fair).abs() / fair < 0.01,
                "backend {id:#x}: {got} slots, fair {fair:.1}"
            );
        }
    }

    #[test]
    fn maglev_removing_one_backend_moves_its_slots_and_few_others() {
        let before = equal(100);
        let removed = before[42].0;
        let after: Vec<_> = before
            .iter()
            .copied()
            .filter(|&(id, _)| id != removed)
            .collect();
        let t0 = MaglevTable::build(&before, DEFAULT_TABLE_SIZE).unwrap();
        let t1 = MaglevTable::build(&after, DEFAULT_TABLE_SIZE).unwrap();
        let mut removed_slots = 0usize;
        let mut others_moved = 0;
        for (a, b) in t0.entries().iter().zip(t1.entries()) {
            assert_ne!(*b, removed);
            if *a == removed {
                removed_slots += 1;
            } else if a != b {
                others_moved += 1;
            }
        }
        // Its slots (~1/N of the table) all moved...
        let fair = DEFAULT_TABLE_SIZE / 100;
        assert!(
            removed_slots.abs_diff(fair) <= fair / 100 + 1,
            "{removed_slots}"
        );
        // ...and of the slots it did not own, fewer than 2 % changed owner (the documented bound).
        let not_owned = DEFAULT_TABLE_SIZE - removed_slots;
        let frac = others_moved as f64 / not_owned as f64;
        println!(
            "removed backend owned {removed_slots} slots; {others_moved} other slots moved ({:.3} %)",
            frac * 100.0
        );
        assert!(
            frac < 0.02,
            "{others_moved} of {not_owned} other slots moved"
        );
    }

    #[test]
    fn maglev_weights_1_2_3_get_shares_within_1_percent() {
        let backends = [(0xaaaa, 1), (0xbbbb, 2), (0xcccc, 3)];
        let t = MaglevTable::build(&backends, DEFAULT_TABLE_SIZE).unwrap();
        for &(id, w) in &backends {
            let want = DEFAULT_TABLE_SIZE as f64 * f64::from(w) / 6.0;
            let got = share_of(&t, id) as f64;
            assert!(
                (got - want).abs() / want < 0.01,
                "weight {w}: {got} slots, want {want:.1}"
            );
        }
        // Weights scale: 10:20:30 is the same split.
        let t10 = MaglevTable::build(
            &[(0xaaaa, 10), (0xbbbb, 20), (0xcccc, 30)],
            DEFAULT_TABLE_SIZE,
        )
        .unwrap();
        assert_eq!(t10, t);
    }

    #[test]
    fn maglev_extreme_weights_terminate_and_keep_proportions() {
        let backends = [(1, 1), (2, 1_000_000), (3, u32::MAX)];
        let t = MaglevTable::build(&backends, 10007).unwrap();
        let s = t.shares();
        assert_eq!(s.iter().map(|&(_, c)| c).sum::<usize>(), 10007);
        // Any positive weight claims a slot in the first round, so weight 1 against ~4.3e9
        // still gets one; weight 1e6 earns ~2.3 slots, rounded up.
        assert_eq!(share_of(&t, 1), 1);
        assert!((1..=4).contains(&share_of(&t, 2)), "{s:?}");
    }

    #[test]
    fn maglev_empty_or_zero_weight_sets_look_up_none() {
        let t = MaglevTable::build(&[], DEFAULT_TABLE_SIZE).unwrap();
        assert!(t.is_empty());
        assert_eq!(t.size(), DEFAULT_TABLE_SIZE);
        for h in [0, 1, 65537, u32::MAX] {
            assert_eq!(t.lookup(h), None);
        }
        let t = MaglevTable::build(&[(5, 0), (6, 0)], 7).unwrap();
        assert_eq!(t.lookup(3), None);
        // A weight-0 backend among others gets nothing.
        let t = MaglevTable::build(&[(5, 0), (6, 1)], 7).unwrap();
        assert!(t.entries().iter().all(|&e| e == 6));
    }

    #[test]
    fn maglev_lookup_is_hash_mod_size() {
        let t = MaglevTable::build(&equal(5), 101).unwrap();
        for h in [0u32, 1, 100, 101, 202, 12345, u32::MAX] {
            assert_eq!(t.lookup(h), Some(t.entries()[h as usize % 101]));
        }
    }

    #[test]
    fn maglev_is_deterministic_and_order_independent() {
        let mut backends = equal(37);
        let a = MaglevTable::build(&backends, DEFAULT_TABLE_SIZE).unwrap();
        let b = MaglevTable::build(&backends, DEFAULT_TABLE_SIZE).unwrap();
        assert_eq!(a, b);
        backends.reverse();
        backends.swap(3, 17);
        let c = MaglevTable::build(&backends, DEFAULT_TABLE_SIZE).unwrap();
        assert_eq!(a, c);
        // Pinned values: any change to the hashes or the population order changes every
        // instance's table, which must not happen silently.
        let t = MaglevTable::build(&[(1, 1), (2, 1), (3, 1)], 7).unwrap();
        assert_eq!(t.entries().len(), 7);
        assert_eq!(t.entries(), [1, 3, 1, 2, 3, 1, 2]);
    }

    #[test]
    fn maglev_paper_permutation_covers_every_slot() {
        // The walk from `offset` by `skip` visits each of the M slots once (M prime).
        for id in [0u32, 1, 0xdead_beef, u32::MAX] {
            let (offset, skip) = permutation(id, 13);
            assert!(offset < 13 && (1..13).contains(&skip));
            let mut seen = [false; 13];
            let mut c = offset;
            for _ in 0..13 {
                assert!(!seen[c]);
                seen[c] = true;
                c = (c + skip) % 13;
            }
        }
    }
}
