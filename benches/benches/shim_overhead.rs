//! The dpdk-shim adds nothing to the data path: its queues are the driver's own types.
//! `cargo bench -p ena-benches --bench shim_overhead`.
//!
//! `EthDev::take_rx_queue` returns `ena::RxQueue` itself (the shim re-exports the driver's
//! types), so the same function, compiled once, runs whichever way the queue was taken; this
//! file checks that at startup (`TypeId`) and then measures the same forwarding loop —
//! `rx_burst` on port 0, `tx_burst` on port 1, burst 32, 64-byte frames — twice:
//!
//! - `ethdev`: queues taken from the shim's `EthDev`s of an EAL with two `--vdev`s;
//! - `port`: queues taken from `ena::Port`s opened directly on in-process device models.
//!
//! Both sets of device models run threaded on CPU 0 (one `SimRunner`); the loop runs on the
//! bench thread, pinned to CPU 1. One iteration is one forwarded packet. The device thread is
//! the bottleneck, so both numbers are the simulator's rate and equal within this machine's
//! noise: the point is that there is no difference to find.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dpdk_shim::prelude::{Eal, EthConf, MBUF_DEFAULT_BUF_SIZE};
use ena::platform::sim::{SimDrive, SimPlatform};
use ena::pmd::{PortConf, PortOptions};
use ena::{Mbuf, Port, RxQueue, TxQueue};
use ena_sim::config::DeviceConfig;
use ena_sim::dma::InProcessDma;
use ena_sim::transport::inproc::{ClockChoice, RunnerOptions, SimDevice, SimRunner};
use ena_sim::wire::spec::{self, WireRequest};
use std::any::TypeId;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SIM_CPU: usize = 0;
const LOOP_CPU: usize = 1;

/// The one loop both variants run: forwards `n` packets port 0 → port 1, returns the time.
#[inline(never)]
fn forward_n(rx: &mut RxQueue, tx: &mut TxQueue, n: u64) -> Duration {
    let mut pkts: [Option<Mbuf>; 32] = Default::default();
    let mut done = 0u64;
    let t0 = Instant::now();
    while done < n {
        let k = rx.rx_burst(&mut pkts);
        let sent = tx.tx_burst(&mut pkts[..k]);
        for m in pkts[sent..k].iter_mut() {
            m.take();
        }
        done += sent as u64;
    }
    t0.elapsed()
}

/// Ports on threaded device models, opened with the driver's API only.
/// Fields drop in order: queues, then ports (closing them needs the device models running),
/// then the device models' thread.
struct Direct {
    rx: RxQueue,
    tx: TxQueue,
    ports: Vec<Port>,
    _runner: SimRunner,
}

fn direct() -> Direct {
    let dma = InProcessDma::new();
    let wires = ["gen:size=60:flows=1024:lossless", "sink"];
    let mut sims = Vec::new();
    for (i, w) in wires.iter().enumerate() {
        let mac = [2, 0, 0, 0, 1, i as u8];
        let (wire, _) = spec::build(&[WireRequest {
            name: format!("p{i}"),
            spec: w.to_string(),
            mac,
        }])
        .expect("wire")
        .pop()
        .expect("one wire");
        let cfg = DeviceConfig {
            mac,
            ..DeviceConfig::default()
        };
        sims.push(SimDevice::with_dma(cfg, wire, ClockChoice::Real, dma.clone()).expect("sim"));
    }
    let runner = SimRunner::spawn(
        &sims,
        RunnerOptions {
            core: Some(SIM_CPU),
            ..RunnerOptions::default()
        },
    )
    .expect("runner");
    let mut ports = Vec::new();
    let mut pool = None;
    for (i, s) in sims.iter().enumerate() {
        let platform = Arc::new(SimPlatform::new(
            s.clone(),
            SimDrive::Threaded,
            true,
            &format!("p{i}"),
        ));
        let p = pool
            .get_or_insert_with(|| ena_benches::fixture::pool_for(&platform, 16384).expect("pool"));
        let mut port = Port::open(
            platform,
            PortOptions {
                port_id: i as u16,
                ..PortOptions::default()
            },
        )
        .expect("port");
        port.configure(1, 1, &PortConf::default())
            .expect("configure");
        port.rx_queue_setup(0, 1024, p).expect("rx setup");
        port.tx_queue_setup(0, 1024, p).expect("tx setup");
        port.start().expect("start");
        ports.push(port);
    }
    let rx = ports[0].take_rx_queue(0).expect("rx");
    let tx = ports[1].take_tx_queue(0).expect("tx");
    Direct {
        rx,
        tx,
        ports,
        _runner: runner,
    }
}

fn shim_overhead(c: &mut Criterion) {
    assert_eq!(
        TypeId::of::<dpdk_shim::prelude::RxQueue>(),
        TypeId::of::<ena::RxQueue>(),
        "the shim's RxQueue must be the driver's"
    );
    assert_eq!(
        TypeId::of::<dpdk_shim::prelude::TxQueue>(),
        TypeId::of::<ena::TxQueue>(),
        "the shim's TxQueue must be the driver's"
    );
    let mut g = c.benchmark_group("shim_overhead");
    g.throughput(Throughput::Elements(1));

    // First the EAL (it refuses CPUs the calling thread may not use, so it must come before
    // this thread is pinned); it pins the calling thread as its main lcore: CPU 1.
    let argv = [
        "bench",
        "-l",
        &format!("{LOOP_CPU},{SIM_CPU}"),
        "--main-lcore",
        &LOOP_CPU.to_string(),
        "--sim-core",
        &SIM_CPU.to_string(),
        "--vdev",
        "net_ena_sim0,wire=gen:size=60:flows=1024:lossless",
        "--vdev",
        "net_ena_sim1,wire=sink",
    ]
    .map(str::to_string);
    let (eal, _) = Eal::init(&argv).expect("EAL");
    let pool = eal
        .pktmbuf_pool_create("shim", 16384, 256, 0, MBUF_DEFAULT_BUF_SIZE)
        .expect("pool");
    for p in eal.ports() {
        p.configure(1, 1, &EthConf::default()).expect("configure");
        p.rx_queue_setup(0, 1024, &pool).expect("rx setup");
        p.tx_queue_setup(0, 1024).expect("tx setup");
        p.start().expect("start");
    }
    let mut rx = eal.port(0).and_then(|p| p.take_rx_queue(0)).expect("rx");
    let mut tx = eal.port(1).and_then(|p| p.take_tx_queue(0)).expect("tx");
    g.bench_function("ethdev", |b| {
        b.iter_custom(|iters| forward_n(&mut rx, &mut tx, iters))
    });
    for p in eal.ports() {
        let _ = p.stop();
    }
    drop((rx, tx));
    drop(eal);

    // Already on CPU 1 (the EAL pinned this thread as its main lcore); make sure.
    core_affinity::set_for_current(core_affinity::CoreId { id: LOOP_CPU });
    let mut d = direct();
    g.bench_function("port", |b| {
        b.iter_custom(|iters| forward_n(&mut d.rx, &mut d.tx, iters))
    });
    for p in d.ports.iter_mut() {
        let _ = p.stop();
    }
    drop(d);

    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = shim;
    config = config();
    targets = shim_overhead
}
criterion_main!(shim);
