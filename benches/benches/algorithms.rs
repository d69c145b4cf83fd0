//! Per-packet algorithms, each per operation (`Throughput::Elements(1)`, so "time" is ns per
//! operation): the simulator's RSS Toeplitz hash and checksum engine (what the device model
//! spends per frame), and the l4lb example's Maglev and connection-table lookups (what a load
//! balancer spends per packet). `cargo bench -p ena-benches --bench algorithms`.

// Benches build with cfg(test), which brings in conntrack.rs's own tests module (and its
// counting global allocator, harmless here).
#[allow(unused_imports)]
#[path = "../../dpdk-shim/examples/l4lb/conntrack.rs"]
mod conntrack;
#[path = "../../dpdk-shim/examples/l4lb/maglev.rs"]
mod maglev;

use conntrack::{ConnTrack, FlowKey};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ena_sim::config::DeviceConfig;
use ena_sim::csum;
use ena_sim::rss::{toeplitz, RssState, ToeplitzKey};
use ena_sim::wire::{Generator, GeneratorConfig};
use maglev::MaglevTable;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// The Microsoft RSS verification key (also DPDK's and the driver's default).
const RSS_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// A small xorshift generator: deterministic "random" inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn frame(len: usize) -> Vec<u8> {
    Generator::new(GeneratorConfig::default().with_frame_size(len))
        .expect("generator")
        .expected_frame(7)
}

fn toeplitz_hash(c: &mut Criterion) {
    let mut g = c.benchmark_group("toeplitz");
    g.throughput(Throughput::Elements(1));
    let key = ToeplitzKey::new(&RSS_KEY);
    // IPv4 4-tuple (src, dst, sport, dport) and IPv6 4-tuple.
    let v4: [u8; 12] = [198, 18, 0, 1, 198, 19, 0, 1, 0x04, 0x00, 0x00, 0x09];
    let v6 = [0x5au8; 36];
    g.bench_function("table/ipv4_12B", |b| b.iter(|| key.hash(black_box(&v4))));
    g.bench_function("table/ipv6_36B", |b| b.iter(|| key.hash(black_box(&v6))));
    g.bench_function("bitwise_reference/ipv4_12B", |b| {
        b.iter(|| toeplitz(black_box(&RSS_KEY), black_box(&v4)))
    });
    // What the device model does per received frame: parse, hash, indirection table.
    let rss = RssState::new(false);
    let f = frame(60);
    g.bench_function("device_steer/udp4_60B", |b| {
        b.iter(|| rss.steer(black_box(&f)))
    });
    g.finish();
}

fn checksum(c: &mut Criterion) {
    let mut g = c.benchmark_group("checksum");
    g.throughput(Throughput::Elements(1));
    for len in [20usize, 64, 1500] {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        g.bench_with_input(BenchmarkId::new("internet_checksum", len), &data, |b, d| {
            b.iter(|| csum::internet_checksum(black_box(d)))
        });
    }
    // The device model's RX checksum check per frame (parse + IPv4 header + UDP checksum).
    let caps = DeviceConfig::default().rx_offloads;
    for len in [60usize, 1496] {
        let f = frame(len);
        g.bench_with_input(BenchmarkId::new("device_rx_checksum", len), &f, |b, f| {
            b.iter(|| csum::rx_checksum(black_box(f), caps))
        });
    }
    let f = frame(60);
    g.bench_function("device_parse/60", |b| b.iter(|| csum::parse(black_box(&f))));
    g.finish();
}

fn maglev_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("maglev");
    g.throughput(Throughput::Elements(1));
    let backends: Vec<(u32, u32)> = (0..100).map(|i| (i, 1)).collect();
    let table = MaglevTable::build(&backends, maglev::DEFAULT_TABLE_SIZE).expect("table");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let hashes: Vec<u32> = (0..4096).map(|_| rng.next() as u32).collect();
    let mut i = 0usize;
    g.bench_function("lookup/65537x100", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            table.lookup(black_box(hashes[i]))
        })
    });
    g.finish();
}

fn conntrack_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("conntrack");
    g.throughput(Throughput::Elements(1));
    let key = |i: u32| {
        FlowKey::new(
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
            1024 + (i % 60000) as u16,
            80,
            6,
        )
    };
    let flows = 100_000u32;
    let mut table = ConnTrack::with_seeds(1 << 18, [1, 2, 3, 4]);
    let keys: Vec<FlowKey> = (0..flows).map(key).collect();
    for (n, k) in keys.iter().enumerate() {
        table.insert(k, n as u32 % 100, 0);
    }
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let order: Vec<usize> = (0..8192)
        .map(|_| (rng.next() % flows as u64) as usize)
        .collect();
    let (mut i, mut now) = (0usize, 0u64);
    g.bench_function("hit/100k_flows", |b| {
        b.iter(|| {
            i = (i + 1) & 8191;
            now += 1;
            table.lookup_or_insert(black_box(&keys[order[i]]), now, || Some(0))
        })
    });
    // Misses at capacity: every lookup inserts a new flow and evicts the oldest.
    let mut small = ConnTrack::with_seeds(4096, [5, 6, 7, 8]);
    let mut next = 0u32;
    g.bench_function("miss_evict/4096_capacity", |b| {
        b.iter(|| {
            next = next.wrapping_add(1);
            now += 1;
            small.lookup_or_insert(black_box(&key(next)), now, || Some(1))
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = algorithms;
    config = config();
    targets = toeplitz_hash, checksum, maglev_lookup, conntrack_lookup
}
criterion_main!(algorithms);
