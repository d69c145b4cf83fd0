//! Counters of the load balancer: one [`Stats`] per lcore, merged for reporting.
//!
//! Each lcore owns its instance and counts with plain `u64` additions: no atomics, no
//! shared cache lines. For a report the main thread gets a copy of each lcore's instance
//! (however the main loop hands it over) and adds them with [`Stats::merge`]; [`Stats::to_json`]
//! renders the sum for the example's `--json` summary.
//!
//! # Keys
//!
//! Per-VIP counters are keyed by the VIP's stable key (`config::VipId::key`) and per-backend
//! counters by its `BackendId`: both survive configuration reloads, so counts of a backend
//! keep adding up across swaps, and lcores that saw different configurations merge
//! correctly. Labels (`tcp/192.0.2.10:80`, `tcp/192.0.2.10:80/web-1`) are registered from
//! the control path ([`Stats::register_vip`], [`Stats::register_backend`]) after each
//! configuration swap, which also pre-sizes the maps; counting an id afterwards is an
//! allocation-free hash-map update. An id that was never registered is still counted (its
//! first count inserts it, which may allocate once) and reported with an empty name.
//!
//! # Policy counters
//!
//! [`PolicyCounters`] has one field per packet the load balancer does not forward, named as
//! `packet::ParseError::counter_name` / `packet::EncapError::counter_name` say, plus the
//! cases the main loop decides (`no_vip`, `no_backend`, `tx_full`); `ip_options` counts
//! packets that *were* forwarded but carried IPv4 options or IPv6 extension headers. The
//! policies themselves are documented in `packet.rs`.
//!
//! Dependencies: `serde` (derive) and `serde_json`. Standalone otherwise.
#![allow(dead_code)] // a small library: the example uses a subset of it

use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Packets and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
}

impl Counters {
    /// Counts one packet of `bytes` bytes.
    #[inline(always)]
    pub fn add(&mut self, bytes: u64) {
        self.packets += 1;
        self.bytes += bytes;
    }

    /// Adds another instance's counts.
    pub fn merge(&mut self, other: &Counters) {
        self.packets += other.packets;
        self.bytes += other.bytes;
    }
}

/// Packets not load-balanced, by reason (see the module doc), and `ip_options`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PolicyCounters {
    /// Not IPv4/IPv6 (dropped).
    pub not_ip: u64,
    /// IP fragments (dropped).
    pub fragments: u64,
    /// IPv4 options / IPv6 extension headers (forwarded).
    pub ip_options: u64,
    /// IP but not TCP/UDP (dropped).
    pub not_l4: u64,
    /// Truncated or inconsistent headers (dropped).
    pub malformed: u64,
    /// Encapsulation would exceed the MTU (dropped).
    pub too_big: u64,
    /// No headroom for the outer header (dropped).
    pub no_headroom: u64,
    /// TCP/UDP but not to a configured VIP (dropped).
    pub no_vip: u64,
    /// New flow for a VIP with no active backend (dropped).
    pub no_backend: u64,
    /// The TX queue did not take the packet (dropped).
    pub tx_full: u64,
}

impl PolicyCounters {
    /// Adds one to the counter named `name` (a `counter_name()` of the packet module's
    /// errors, or a field name). False, nothing counted, for an unknown name.
    pub fn count(&mut self, name: &str) -> bool {
        let c = match name {
            "not_ip" => &mut self.not_ip,
            "fragments" => &mut self.fragments,
            "ip_options" => &mut self.ip_options,
            "not_l4" => &mut self.not_l4,
            "malformed" => &mut self.malformed,
            "too_big" => &mut self.too_big,
            "no_headroom" => &mut self.no_headroom,
            "no_vip" => &mut self.no_vip,
            "no_backend" => &mut self.no_backend,
            "tx_full" => &mut self.tx_full,
            _ => return false,
        };
        *c += 1;
        true
    }

    /// Adds another instance's counts.
    pub fn merge(&mut self, o: &PolicyCounters) {
        self.not_ip += o.not_ip;
        self.fragments += o.fragments;
        self.ip_options += o.ip_options;
        self.not_l4 += o.not_l4;
        self.malformed += o.malformed;
        self.too_big += o.too_big;
        self.no_headroom += o.no_headroom;
        self.no_vip += o.no_vip;
        self.no_backend += o.no_backend;
        self.tx_full += o.tx_full;
    }

    /// Packets dropped by policy (everything but `ip_options`).
    pub fn dropped(&self) -> u64 {
        self.not_ip
            + self.fragments
            + self.not_l4
            + self.malformed
            + self.too_big
            + self.no_headroom
            + self.no_vip
            + self.no_backend
            + self.tx_full
    }
}

/// Connection-tracking counters, copied in from the lcore's table when reporting (the same
/// fields as `conntrack::Counters`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConntrackCounters {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub expired: u64,
    pub removed: u64,
    /// Flows tracked at the time of the copy (a level, summed over lcores).
    pub flows: u64,
}

impl ConntrackCounters {
    /// Adds another instance's counts.
    pub fn merge(&mut self, o: &ConntrackCounters) {
        self.hits += o.hits;
        self.misses += o.misses;
        self.evictions += o.evictions;
        self.expired += o.expired;
        self.removed += o.removed;
        self.flows += o.flows;
    }
}

/// Identity hasher for ids that are already hashes (stable keys, backend ids), with a
/// multiply so that hashbrown's low-bit bucket choice sees all of them.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = u64::from(i);
    }
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

/// Counters of one labelled thing (a VIP or a backend).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Labelled {
    label: String,
    counters: Counters,
}

/// One lcore's counters (or a merged sum). See the module doc.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames received.
    pub rx: Counters,
    /// Frames sent (after encapsulation).
    pub tx: Counters,
    pub policy: PolicyCounters,
    pub conntrack: ConntrackCounters,
    vips: IdMap<Labelled>,
    backends: IdMap<Labelled>,
}

impl Stats {
    /// Empty counters.
    pub fn new() -> Stats {
        Stats::default()
    }

    /// Names the VIP `key` (control path; allocates).
    pub fn register_vip(&mut self, key: u32, label: &str) {
        register(&mut self.vips, key, label);
    }

    /// Names the backend `id` (control path; allocates).
    pub fn register_backend(&mut self, id: u32, label: &str) {
        register(&mut self.backends, id, label);
    }

    /// Counts a packet of `bytes` bytes for the VIP `key`.
    #[inline]
    pub fn count_vip(&mut self, key: u32, bytes: u64) {
        count(&mut self.vips, key, bytes);
    }

    /// Counts a packet of `bytes` bytes (as sent) for the backend `id`.
    #[inline]
    pub fn count_backend(&mut self, id: u32, bytes: u64) {
        count(&mut self.backends, id, bytes);
    }

    /// The VIP's counters (zero if never counted).
    pub fn vip(&self, key: u32) -> Counters {
        self.vips
            .get(&key)
            .map_or_else(Counters::default, |l| l.counters)
    }

    /// The backend's counters (zero if never counted).
    pub fn backend(&self, id: u32) -> Counters {
        self.backends
            .get(&id)
            .map_or_else(Counters::default, |l| l.counters)
    }

    /// Makes `dst` equal to this instance, reusing `dst`'s memory: once `dst` has seen every
    /// VIP and backend this one counts, copying allocates nothing (how an lcore publishes its
    /// counters to the main thread).
    pub fn copy_into(&self, dst: &mut Stats) {
        dst.rx = self.rx;
        dst.tx = self.tx;
        dst.policy = self.policy;
        dst.conntrack = self.conntrack;
        copy_map(&mut dst.vips, &self.vips);
        copy_map(&mut dst.backends, &self.backends);
    }

    /// Adds `other` (another lcore's instance) into this one. Labels missing here are taken
    /// from `other`.
    pub fn merge(&mut self, other: &Stats) {
        self.rx.merge(&other.rx);
        self.tx.merge(&other.tx);
        self.policy.merge(&other.policy);
        self.conntrack.merge(&other.conntrack);
        merge_map(&mut self.vips, &other.vips);
        merge_map(&mut self.backends, &other.backends);
    }

    /// The report as JSON: totals, policy and conntrack counters, and per-VIP and
    /// per-backend arrays sorted by name (then id), each `{id, name, packets, bytes}`.
    pub fn to_json(&self) -> Value {
        json!({
            "rx": self.rx,
            "tx": self.tx,
            "dropped": self.policy.dropped(),
            "policy": self.policy,
            "conntrack": self.conntrack,
            "vips": list(&self.vips),
            "backends": list(&self.backends),
        })
    }
}

fn register(map: &mut IdMap<Labelled>, key: u32, label: &str) {
    let e = map.entry(key).or_default();
    if e.label != label {
        e.label = label.to_string();
    }
}

#[inline]
fn count(map: &mut IdMap<Labelled>, key: u32, bytes: u64) {
    match map.get_mut(&key) {
        Some(l) => l.counters.add(bytes),
        None => map.entry(key).or_default().counters.add(bytes),
    }
}

fn copy_map(into: &mut IdMap<Labelled>, from: &IdMap<Labelled>) {
    for (&k, l) in from {
        match into.get_mut(&k) {
            Some(e) => {
                e.counters = l.counters;
                if e.label != l.label {
                    e.label.clone_from(&l.label);
                }
            }
            None => {
                into.insert(k, l.clone());
            }
        }
    }
}

fn merge_map(into: &mut IdMap<Labelled>, from: &IdMap<Labelled>) {
    for (&k, l) in from {
        let e = into.entry(k).or_default();
        if e.label.is_empty() {
            e.label.clone_from(&l.label);
        }
        e.counters.merge(&l.counters);
    }
}

fn list(map: &IdMap<Labelled>) -> Vec<Value> {
    let mut rows: Vec<(&u32, &Labelled)> = map.iter().collect();
    rows.sort_by(|a, b| a.1.label.cmp(&b.1.label).then(a.0.cmp(b.0)));
    rows.into_iter()
        .map(|(id, l)| {
            json!({
                "id": format!("{id:#010x}"),
                "name": l.label,
                "packets": l.counters.packets,
                "bytes": l.counters.bytes,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_into_makes_an_equal_copy() {
        let mut a = Stats::new();
        a.register_vip(1, "v");
        a.register_backend(2, "b");
        a.count_vip(1, 10);
        a.count_backend(2, 30);
        a.rx.add(10);
        let mut dst = Stats::new();
        a.copy_into(&mut dst);
        assert_eq!(dst, a);
        a.count_vip(1, 5);
        a.copy_into(&mut dst);
        assert_eq!(dst.vip(1).packets, 2);
    }

    #[test]
    fn stats_counts_and_merges_lcores() {
        let mut a = Stats::new();
        a.register_vip(0xaa, "tcp/192.0.2.10:80");
        a.register_backend(0x11, "tcp/192.0.2.10:80/web-1");
        a.rx.add(100);
        a.count_vip(0xaa, 100);
        a.count_backend(0x11, 120);
        a.tx.add(120);
        a.policy.fragments += 2;
        assert!(a.policy.count("too_big"));
        assert!(!a.policy.count("no_such_counter"));
        a.conntrack.hits = 5;

        // The second lcore never registered the backend (it only counted it).
        let mut b = Stats::new();
        b.register_vip(0xaa, "tcp/192.0.2.10:80");
        b.count_vip(0xaa, 60);
        b.count_vip(0xaa, 40);
        b.count_backend(0x11, 70);
        b.count_backend(0x22, 80);
        b.rx.add(60);
        b.policy.not_ip += 1;
        b.conntrack.hits = 3;
        b.conntrack.misses = 1;

        let mut sum = Stats::new();
        sum.merge(&a);
        sum.merge(&b);
        assert_eq!(
            sum.vip(0xaa),
            Counters {
                packets: 3,
                bytes: 200
            }
        );
        assert_eq!(
            sum.backend(0x11),
            Counters {
                packets: 2,
                bytes: 190
            }
        );
        assert_eq!(
            sum.backend(0x22),
            Counters {
                packets: 1,
                bytes: 80
            }
        );
        assert_eq!(sum.backend(0x33), Counters::default());
        assert_eq!(
            sum.rx,
            Counters {
                packets: 2,
                bytes: 160
            }
        );
        assert_eq!(
            (sum.policy.fragments, sum.policy.too_big, sum.policy.not_ip),
            (2, 1, 1)
        );
        assert_eq!(sum.policy.dropped(), 4);
        assert_eq!((sum.conntrack.hits, sum.conntrack.misses), (8, 1));
        // Merging is order-independent.
        let mut other = b.clone();
        other.merge(&a);
        assert_eq!(other.to_json(), sum.to_json());
    }

    #[test]
    fn stats_json_layout() {
        let mut s = Stats::new();
        s.register_vip(7, "udp/192.0.2.10:53");
        s.register_vip(3, "tcp/192.0.2.10:80");
        s.register_backend(0xdead_beef, "tcp/192.0.2.10:80/web-1");
        s.count_vip(3, 1500);
        s.count_backend(0xdead_beef, 1520);
        s.count_backend(5, 1);
        s.rx.add(1500);
        s.tx.add(1520);
        s.policy.ip_options = 1;
        s.policy.malformed = 2;
        s.conntrack.flows = 1;
        let want = json!({
            "rx": {"packets": 1, "bytes": 1500},
            "tx": {"packets": 1, "bytes": 1520},
            "dropped": 2,
            "policy": {
                "not_ip": 0, "fragments": 0, "ip_options": 1, "not_l4": 0, "malformed": 2,
                "too_big": 0, "no_headroom": 0, "no_vip": 0, "no_backend": 0, "tx_full": 0
            },
            "conntrack": {"hits": 0, "misses": 0, "evictions": 0, "expired": 0, "removed": 0, "flows": 1},
            "vips": [
                {"id": "0x00000003", "name": "tcp/192.0.2.10:80", "packets": 1, "bytes": 1500},
                {"id": "0x00000007", "name": "udp/192.0.2.10:53", "packets": 0, "bytes": 0}
            ],
            "backends": [
                {"id": "0x00000005", "name": "", "packets": 1, "bytes": 1},
                {"id": "0xdeadbeef", "name": "tcp/192.0.2.10:80/web-1", "packets": 1, "bytes": 1520}
            ]
        });
        assert_eq!(s.to_json(), want);
    }

    #[test]
    fn stats_register_renames_and_keeps_counts() {
        let mut s = Stats::new();
        s.register_backend(1, "old");
        s.count_backend(1, 10);
        s.register_backend(1, "new");
        assert_eq!(
            s.backend(1),
            Counters {
                packets: 1,
                bytes: 10
            }
        );
        assert_eq!(s.to_json()["backends"][0]["name"], "new");
    }
}
