//! The driver's data path per packet, on stepped device models (`cargo bench -p ena-benches
//! --bench datapath`).
//!
//! Every benchmark uses a [`ManualPair`]: two in-process device models that run only when
//! stepped, so the device's work happens outside the timed section. One criterion iteration is
//! one packet (`Throughput::Elements(1)`, so "time" is ns per packet); the closure times
//! batches of burst calls between device steps and scales the total to the iterations asked.
//!
//! - `rx_burst/<burst>`: `RxQueue::rx_burst` over a ring the device has filled: reading and
//!   checking completions, filling mbuf metadata, and refilling the ring (mbuf allocation from
//!   the queue's cache, descriptor writes, one doorbell per refill batch). Receive is the same
//!   for both TX placements. Not included: freeing the received mbufs (done between batches,
//!   into an application cache).
//! - `tx_burst/<placement>/<burst>`: `TxQueue::tx_burst` of ready 64-byte packets: reclaiming
//!   the completions of the previous batch (mbufs back to the queue's cache), descriptor or LLQ
//!   entry writes (LLQ: the 60-byte frame pushed as the header), one doorbell per call. Not
//!   included: allocating and filling the mbufs.
//! - `forward/<placement>/<burst>`: `rx_burst` on port 0 then `tx_burst` of what came on
//!   port 1 — the driver's whole share of io forwarding, i.e. what the "≤ 30 ns per forwarded
//!   packet" target is about.
//! - `mempool/...`: `MbufCache::alloc_bulk` + `free_bulk` of a burst (per mbuf).
//!
//! Caveat: the device model ran on this same core just before each batch, so the completion
//! lines and mbuf headers are in this core's cache; with a device on another core (or real DMA)
//! they would be misses. The in-process pps harness (`ena-pps`) measures that case.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ena::Mbuf;
use ena_benches::fixture::{single_platform, ManualOptions, ManualPair, Placement};
use ena_benches::manual_loop::{Forwarded, Forwarder};
use std::time::{Duration, Instant};

const BURSTS: [usize; 4] = [1, 8, 32, 64];

fn pair(placement: Placement) -> ManualPair {
    ManualPair::open(&ManualOptions {
        placement,
        ..ManualOptions::default()
    })
    .expect("a stepped device pair")
}

/// Scales `elapsed` for `done` packets to `iters` packets.
fn scaled(elapsed: Duration, done: u64, iters: u64) -> Duration {
    if done == 0 {
        return elapsed;
    }
    Duration::from_secs_f64(elapsed.as_secs_f64() * iters as f64 / done as f64)
}

fn rx_burst(c: &mut Criterion) {
    let mut g = c.benchmark_group("rx_burst");
    g.throughput(Throughput::Elements(1));
    for burst in BURSTS {
        let mut p = pair(Placement::Host);
        let mut app = p.pool.cache(256);
        let mut slots: Vec<Option<Mbuf>> = (0..2048).map(|_| None).collect();
        g.bench_with_input(BenchmarkId::from_parameter(burst), &burst, |b, &burst| {
            b.iter_custom(|iters| {
                let (mut elapsed, mut done) = (Duration::ZERO, 0u64);
                while done < iters {
                    p.step();
                    let mut at = 0;
                    let t0 = Instant::now();
                    while at + burst <= slots.len() {
                        let n = p.rx.rx_burst(&mut slots[at..at + burst]);
                        if n == 0 {
                            break;
                        }
                        at += n;
                    }
                    elapsed += t0.elapsed();
                    done += at as u64;
                    app.free_bulk(slots[..at].iter_mut().filter_map(Option::take));
                }
                scaled(elapsed, done, iters)
            })
        });
    }
    g.finish();
}

fn tx_burst(c: &mut Criterion) {
    let mut g = c.benchmark_group("tx_burst");
    g.throughput(Throughput::Elements(1));
    let frame = vec![0x5au8; 60];
    for placement in Placement::ALL {
        for burst in BURSTS {
            let mut p = pair(placement);
            let mut app = p.pool.cache(256);
            // One batch fills at most the usable ring (1023 slots, one per 64-byte packet).
            let per_batch = (1000 / burst) * burst;
            let mut slots: Vec<Option<Mbuf>> = (0..per_batch).map(|_| None).collect();
            let id = BenchmarkId::new(placement.name(), burst);
            g.bench_with_input(id, &burst, |b, &burst| {
                b.iter_custom(|iters| {
                    let (mut elapsed, mut done) = (Duration::ZERO, 0u64);
                    while done < iters {
                        for s in slots.iter_mut() {
                            let mut m = app.alloc().expect("mbuf");
                            if let Some(d) = m.append(frame.len() as u16) {
                                d.copy_from_slice(&frame);
                            }
                            *s = Some(m);
                        }
                        let mut at = 0;
                        let t0 = Instant::now();
                        while at < slots.len() {
                            let n = p.tx.tx_burst(&mut slots[at..at + burst]);
                            at += n;
                            if n < burst {
                                break;
                            }
                        }
                        elapsed += t0.elapsed();
                        done += at as u64;
                        app.free_bulk(slots.iter_mut().filter_map(Option::take));
                        p.step();
                    }
                    scaled(elapsed, done, iters)
                })
            });
        }
    }
    g.finish();
}

fn forward(c: &mut Criterion) {
    let mut g = c.benchmark_group("forward");
    g.throughput(Throughput::Elements(1));
    for placement in Placement::ALL {
        for burst in BURSTS {
            let mut p = pair(placement);
            let mut f = Forwarder::new(burst);
            f.set_wrapped(false);
            let id = BenchmarkId::new(placement.name(), burst);
            g.bench_with_input(id, &burst, |b, _| {
                b.iter_custom(|iters| {
                    let (mut elapsed, mut out) = (Duration::ZERO, Forwarded::default());
                    while out.packets < iters {
                        p.step();
                        let t0 = Instant::now();
                        f.forward(&mut p, &mut out);
                        elapsed += t0.elapsed();
                    }
                    scaled(elapsed, out.packets, iters)
                })
            });
            f.drain();
        }
    }
    g.finish();
}

fn mempool(c: &mut Criterion) {
    let (_sim, platform) = single_platform().expect("a device model");
    let pool = ena_benches::fixture::pool_for(&platform, 8192).expect("pool");
    let mut cache = pool.cache(256);
    let mut g = c.benchmark_group("mempool");
    for burst in [1usize, 8, 32, 64] {
        let mut slots: Vec<Option<Mbuf>> = (0..burst).map(|_| None).collect();
        g.throughput(Throughput::Elements(burst as u64));
        g.bench_with_input(
            BenchmarkId::new("alloc_bulk+free_bulk", burst),
            &burst,
            |b, _| {
                b.iter(|| {
                    assert!(cache.alloc_bulk(&mut slots));
                    cache.free_bulk(slots.iter_mut().filter_map(Option::take));
                })
            },
        );
    }
    g.throughput(Throughput::Elements(1));
    g.bench_function("alloc+free", |b| {
        b.iter(|| {
            let m = cache.alloc().expect("mbuf");
            cache.free(std::hint::black_box(m));
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = datapath;
    config = config();
    targets = rx_burst, tx_burst, forward, mempool
}
criterion_main!(datapath);
