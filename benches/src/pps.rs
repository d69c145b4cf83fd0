//! Packets per second through fwd's loop on in-process devices, and the simulator's own ceiling.
//!
//! Every measurement is a fresh EAL (dpdk-shim) with two `--vdev net_ena_sim<N>` ports: port 0's
//! wire a lossless generator (`gen:size=..:flows=1024:lossless`), port 1's a sink. The device
//! models poll on one core (`--sim-core`, their `SimRunner` thread), fwd's worker lcore on
//! another; the main lcore (which only sleeps and reads counters) shares the simulator's core.
//! Port 0's RX goes out of port 1's TX (fwd pairs 0↔1), so the forwarded rate is what the sink
//! sees.
//!
//! Two measurements per point and run:
//! - [`run_fwd`]: the dpdk-shim `fwd` example's own loop ([`crate::fwd::run_with`]) for a fixed
//!   time: Mpps and wall-clock ns per packet. This is the headline number.
//! - [`run_instrumented`]: the same loop (same setup, same calls) with the TSC read around
//!   every `rx_burst`/`tx_burst`, giving the driver's share: TSC ns per forwarded packet spent
//!   inside the driver's calls (empty polls excluded), packets per burst, and how busy the
//!   worker was. With hardware counters (not on this VM) also cycles and instructions per
//!   packet for the whole worker loop.
//!
//! And the ceiling of the device side on the same cores ([`run_ceiling`]):
//! - `wire`: the generator producing a frame and the sink taking it, nothing else (the cost
//!   the wire adds to each packet);
//! - `sim-rx`: a generator port whose driver side only receives and frees (`rx_burst` +
//!   free): the device model's RX path alone;
//! - `sim-tx`: a sink port whose driver side only sends prebuilt frames: the TX path alone.
//!
//! The device thread does the RX work of port 0 and the TX work of port 1 for every forwarded
//! packet, so its forwarding ceiling is `1 / (1/rx + 1/tx)` ([`Ceilings::forwarding_estimate`]).

use crate::clock::{tsc, tsc_to_ns, HwCounters};
use crate::fixture::Placement;
use crate::fwd::{self, Mode};
use crate::stats::Summary;
use dpdk_shim::prelude::*;
use ena_sim::wire::spec::{self, WireRequest};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Ring size of every queue (fwd's default).
pub const RING: u16 = 1024;
/// Flows the generator cycles through (so RSS spreads them over several queues).
pub const FLOWS: u32 = 1024;

/// One configuration to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Point {
    /// io or macswap.
    pub mode: Mode,
    /// Packets per burst.
    pub burst: u16,
    /// Queue pairs per port.
    pub queues: u16,
    /// Ethernet frame length on the wire, FCS included (64 = the generator's 60 bytes).
    pub frame_size: u16,
    /// TX placement on the sending port.
    pub placement: Placement,
}

impl Point {
    /// The baseline of every sweep: io, burst 32, 1 queue pair, 64 bytes, LLQ.
    pub fn base() -> Point {
        Point {
            mode: Mode::Io,
            burst: 32,
            queues: 1,
            frame_size: 64,
            placement: Placement::Llq,
        }
    }

    /// A short name, e.g. `io b32 q1 64B llq`.
    pub fn label(&self) -> String {
        format!(
            "{} b{} q{} {}B {}",
            match self.mode {
                Mode::Io => "io",
                Mode::Macswap => "macswap",
            },
            self.burst,
            self.queues,
            self.frame_size,
            self.placement.name()
        )
    }

    /// The generator's frame length (no FCS).
    pub fn gen_len(&self) -> usize {
        (self.frame_size as usize).saturating_sub(4).max(60)
    }
}

/// Which CPUs run what.
#[derive(Clone, Debug, Serialize)]
pub struct Cores {
    /// The device models' polling thread (and the main lcore, which sleeps).
    pub sim: usize,
    /// Worker lcores running the forwarding loop.
    pub workers: Vec<usize>,
}

impl Cores {
    /// The default on this process's CPUs: simulator on the first, one worker on the second
    /// (on a single CPU both share it).
    pub fn default_for_machine() -> Cores {
        let cpus = dpdk_shim::args::allowed_cpus();
        let sim = cpus.first().copied().unwrap_or(0);
        let worker = cpus.get(1).copied().unwrap_or(sim);
        Cores {
            sim,
            workers: vec![worker],
        }
    }
}

/// EAL arguments for `point` on `cores`, with `ports` vdevs: `[gen, sink]` or just one.
pub fn eal_argv(point: &Point, cores: &Cores, wires: &[&str]) -> Vec<String> {
    let mut lcores = vec![cores.sim];
    lcores.extend(cores.workers.iter().copied().filter(|&w| w != cores.sim));
    if lcores.len() == 1 {
        // A worker lcore is needed even on one CPU: a second lcore on the same CPU is not
        // expressible, so fall back to CPU 0 and 1 and let the scheduler share.
        lcores.push(if cores.sim == 0 { 1 } else { 0 });
    }
    let mut v = vec![
        "ena-pps".to_string(),
        "-l".into(),
        lcores
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(","),
        "--main-lcore".into(),
        cores.sim.to_string(),
        "--sim-core".into(),
        cores.sim.to_string(),
    ];
    let llq = match point.placement {
        Placement::Host => 0,
        Placement::Llq => 1,
    };
    for (i, w) in wires.iter().enumerate() {
        v.push("--vdev".into());
        v.push(format!("net_ena_sim{i},wire={w},llq={llq}"));
    }
    v
}

/// The generator's wire spec for `point`.
pub fn gen_wire(point: &Point) -> String {
    format!("gen:size={}:flows={FLOWS}:lossless", point.gen_len())
}

/// Runs `f` on a new thread and returns its result. The EAL pins the thread that initialises
/// it (the main lcore) for good, and a pinned thread cannot start the next EAL on other CPUs;
/// every measurement therefore starts its EAL on a thread of its own, which inherits the
/// unpinned affinity of the caller.
pub fn isolated<R: Send>(f: impl FnOnce() -> Result<R, String> + Send) -> Result<R, String> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("ena-pps-main".into())
            .spawn_scoped(s, f)
            .map_err(|e| format!("cannot start a thread: {e}"))?
            .join()
            .map_err(|_| "a measurement thread panicked".to_string())?
    })
}

fn init_eal(argv: &[String]) -> Result<Eal, String> {
    Eal::init(argv)
        .map(|(e, _)| e)
        .map_err(|e| format!("EAL: {e}"))
}

/// The kernel thread id of this process's thread named `name` (`/proc/self/task/*/comm`).
pub fn tid_named(name: &str) -> Option<u32> {
    for e in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            return e.file_name().to_str()?.parse().ok();
        }
    }
    None
}

/// Nanoseconds thread `tid` has run on a CPU and waited runnable for one
/// (`/proc/self/task/<tid>/schedstat`).
pub fn sched_ns(tid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let mut f = s.split_whitespace().map(|x| x.parse::<u64>().ok());
    Some((f.next()??, f.next()??))
}

/// CPU time of the worker lcore and the device-model thread over a measurement: on a loaded
/// machine the threads do not get their cores to themselves, and these say how much they got.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CpuShare {
    /// Worker lcore: share of the wall-clock window it ran.
    pub worker_run: f64,
    /// Worker lcore: share of the window it was runnable but waiting for a CPU.
    pub worker_wait: f64,
    /// Device models' thread: share of the window it ran.
    pub sim_run: f64,
    /// Device models' thread: share of the window it waited for a CPU.
    pub sim_wait: f64,
    /// Forwarded packets per second of device-thread CPU time, in millions: the rate the
    /// device side would sustain with its core to itself (an estimate).
    pub mpps_per_sim_cpu: f64,
}

/// Samples the schedstat of the worker and simulator threads at the start and end of a run.
struct CpuWatch {
    worker: Option<(u32, (u64, u64))>,
    sim: Option<(u32, (u64, u64))>,
    t0: Instant,
}

impl CpuWatch {
    fn start(worker_cpu: usize) -> CpuWatch {
        let at = |name: &str| tid_named(name).and_then(|t| sched_ns(t).map(|s| (t, s)));
        CpuWatch {
            worker: at(&format!("lcore-{worker_cpu}")),
            sim: at("ena-sim"),
            t0: Instant::now(),
        }
    }

    fn finish(&self, packets: u64) -> CpuShare {
        let wall = self.t0.elapsed().as_nanos().max(1) as f64;
        let delta = |w: &Option<(u32, (u64, u64))>| -> (f64, f64) {
            match w {
                Some((tid, (r0, w0))) => match sched_ns(*tid) {
                    Some((r1, w1)) => ((r1 - r0) as f64, (w1 - w0) as f64),
                    None => (f64::NAN, f64::NAN),
                },
                None => (f64::NAN, f64::NAN),
            }
        };
        let (wr, ww) = delta(&self.worker);
        let (sr, sw) = delta(&self.sim);
        CpuShare {
            worker_run: wr / wall,
            worker_wait: ww / wall,
            sim_run: sr / wall,
            sim_wait: sw / wall,
            mpps_per_sim_cpu: packets as f64 / sr * 1e3,
        }
    }
}

/// One run of fwd's loop.
#[derive(Clone, Debug, Serialize)]
pub struct FwdRun {
    /// Forwarded packets per second, in millions.
    pub mpps: f64,
    /// Wall-clock nanoseconds per forwarded packet (1000 / Mpps).
    pub ns_per_pkt: f64,
    /// Packets the sink took.
    pub sunk: u64,
    /// CPU the worker and device threads got.
    pub cpu: CpuShare,
}

/// Runs fwd's loop ([`crate::fwd::run_with`]) on `point` for `duration`.
pub fn run_fwd(point: &Point, cores: &Cores, duration: Duration) -> Result<FwdRun, String> {
    isolated(|| run_fwd_here(point, cores, duration))
}

fn run_fwd_here(point: &Point, cores: &Cores, duration: Duration) -> Result<FwdRun, String> {
    let argv = eal_argv(point, cores, &[&gen_wire(point), "sink"]);
    let eal = init_eal(&argv)?;
    let opts = fwd_opts(point, duration);
    let watch = CpuWatch::start(cores.workers.first().copied().unwrap_or(1));
    let summary =
        fwd::run_with(&eal, &opts, Arc::new(AtomicBool::new(false))).map_err(|e| e.to_string())?;
    let forwarded: u64 = summary.directions.iter().map(|d| d.tx_packets).sum();
    let cpu = watch.finish(forwarded);
    let sunk = sunk_of(&eal, 1);
    let mpps = summary.total_mpps;
    Ok(FwdRun {
        mpps,
        ns_per_pkt: if mpps > 0.0 { 1e3 / mpps } else { f64::NAN },
        sunk,
        cpu,
    })
}

/// fwd's options for `point`.
pub fn fwd_opts(point: &Point, duration: Duration) -> fwd::Opts {
    fwd::Opts {
        mode: point.mode,
        burst: point.burst,
        duration: duration.as_secs_f64(),
        tx_retry: 0,
        queues: Some(point.queues),
        rxd: RING,
        txd: RING,
        tx_csum: false,
        mtu: None,
        mbufs: None,
        json: false,
        quiet: true,
    }
}

/// What the sink of port `id` has taken.
pub fn sunk_of(eal: &Eal, id: u16) -> u64 {
    match eal.sim_port(id).map(|p| p.wire) {
        Some(dpdk_shim::vdev::WireHandle::Generator(g)) => g.sunk(),
        _ => 0,
    }
}

/// One run of the instrumented loop.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DriverRun {
    /// Forwarded packets per second, in millions (this loop's own rate).
    pub mpps: f64,
    /// TSC ns per forwarded packet inside `rx_burst` calls that returned packets plus all
    /// `tx_burst` calls.
    pub driver_ns_per_pkt: f64,
    /// Of which `rx_burst`.
    pub rx_ns_per_pkt: f64,
    /// Of which `tx_burst`.
    pub tx_ns_per_pkt: f64,
    /// Average packets per non-empty `rx_burst`.
    pub pkts_per_burst: f64,
    /// Share of the worker's time inside non-empty bursts (the rest: empty polls, waiting
    /// for the device).
    pub busy: f64,
    /// `driver_ns_per_pkt` times the share of the window the worker actually ran: TSC time
    /// inside the calls also counts time the thread was preempted, and on a loaded machine
    /// that is most of it (an estimate that assumes preemption falls evenly).
    pub driver_cpu_ns_per_pkt: f64,
    /// CPU the worker and device threads got.
    pub cpu: CpuShare,
    /// Hardware cycles per forwarded packet for the whole worker loop (None: no counters).
    pub cycles_per_pkt: Option<f64>,
    /// Hardware instructions per forwarded packet for the whole worker loop.
    pub instructions_per_pkt: Option<f64>,
}

#[derive(Default)]
struct LoopTotals {
    packets: u64,
    bursts: u64,
    rx_ticks: u64,
    tx_ticks: u64,
    total_ticks: u64,
    hw: Option<(u64, u64)>,
}

/// Configures every port of `eal` like fwd does (`nq` queue pairs, RSS when more than one,
/// rings of [`RING`]), starts them and takes their queues.
#[allow(clippy::type_complexity)]
pub fn setup_ports(
    eal: &Eal,
    nq: u16,
    pool_name: &str,
) -> Result<(PktmbufPool, Vec<Vec<RxQueue>>, Vec<Vec<TxQueue>>), String> {
    let e = |e: dpdk_shim::Error| e.to_string();
    let nports = eal.port_count() as u32;
    let mbufs = (nports * nq as u32 * 2 * RING as u32 + 8192).max(8191);
    let pool = eal
        .pktmbuf_pool_create(pool_name, mbufs, 256, 0, MBUF_DEFAULT_BUF_SIZE)
        .map_err(e)?;
    let conf = EthConf {
        rxmode: RxMode {
            mq_mode: if nq > 1 { MqMode::Rss } else { MqMode::None },
            ..Default::default()
        },
        ..Default::default()
    };
    let mut rxs = Vec::new();
    let mut txs = Vec::new();
    for p in eal.ports() {
        p.configure(nq, nq, &conf).map_err(e)?;
        for q in 0..nq {
            p.rx_queue_setup(q, RING, &pool).map_err(e)?;
            p.tx_queue_setup(q, RING).map_err(e)?;
        }
        p.start().map_err(e)?;
        rxs.push(
            (0..nq)
                .map(|q| p.take_rx_queue(q))
                .collect::<Result<Vec<_>, _>>()
                .map_err(e)?,
        );
        txs.push(
            (0..nq)
                .map(|q| p.take_tx_queue(q))
                .collect::<Result<Vec<_>, _>>()
                .map_err(e)?,
        );
    }
    Ok((pool, rxs, txs))
}

/// Runs the instrumented copy of fwd's loop (port 0 → port 1) on `point` for `duration`.
pub fn run_instrumented(
    point: &Point,
    cores: &Cores,
    duration: Duration,
) -> Result<DriverRun, String> {
    isolated(|| run_instrumented_here(point, cores, duration))
}

fn run_instrumented_here(
    point: &Point,
    cores: &Cores,
    duration: Duration,
) -> Result<DriverRun, String> {
    let argv = eal_argv(point, cores, &[&gen_wire(point), "sink"]);
    let eal = init_eal(&argv)?;
    let nq = point.queues;
    let (_pool, mut rxs, mut txs) = setup_ports(&eal, nq, "pps_instr")?;
    let workers: Vec<u32> = eal.lcores().workers().collect();
    // Worker w owns queues q ≡ w (mod workers) of port 0's RX and port 1's TX.
    let mut jobs: Vec<Vec<(RxQueue, TxQueue)>> = (0..workers.len()).map(|_| Vec::new()).collect();
    let rx0 = std::mem::take(&mut rxs[0]);
    let tx1 = std::mem::take(&mut txs[1]);
    for (q, (rx, tx)) in rx0.into_iter().zip(tx1).enumerate() {
        jobs[q % workers.len()].push((rx, tx));
    }
    let running = Arc::new(AtomicBool::new(true));
    let results: Arc<Mutex<Vec<LoopTotals>>> = Arc::new(Mutex::new(Vec::new()));
    // The workers hand their queues back here, to be dropped after the ports stop (a queue
    // dropped while its port runs abandons its buffers).
    let parked: Arc<Mutex<Vec<(RxQueue, TxQueue)>>> = Arc::new(Mutex::new(Vec::new()));
    let how = (point.mode, point.burst as usize);
    for (w, mut job) in workers.iter().zip(jobs) {
        let (running, results, parked) = (running.clone(), results.clone(), parked.clone());
        eal.lcores()
            .remote_launch(*w, move || {
                let t = instrumented_loop(&mut job, how.0, how.1, &running);
                results.lock().unwrap_or_else(|e| e.into_inner()).push(t);
                parked
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .append(&mut job);
                0
            })
            .map_err(|e| e.to_string())?;
    }
    let t0 = Instant::now();
    let watch = CpuWatch::start(cores.workers.first().copied().unwrap_or(1));
    std::thread::sleep(duration);
    running.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    eal.lcores().mp_wait_lcore();
    let worker_packets: u64 = results
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|t| t.packets)
        .sum();
    let cpu = watch.finish(worker_packets);
    for p in eal.ports() {
        let _ = p.stop();
    }
    parked.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let totals = results.lock().unwrap_or_else(|e| e.into_inner());
    let mut sum = LoopTotals::default();
    let mut hw: Option<(u64, u64)> = Some((0, 0));
    for t in totals.iter() {
        sum.packets += t.packets;
        sum.bursts += t.bursts;
        sum.rx_ticks += t.rx_ticks;
        sum.tx_ticks += t.tx_ticks;
        sum.total_ticks += t.total_ticks;
        hw = match (hw, t.hw) {
            (Some(a), Some(b)) => Some((a.0 + b.0, a.1 + b.1)),
            _ => None,
        };
    }
    let pk = sum.packets.max(1) as f64;
    let driver_ns = tsc_to_ns((sum.rx_ticks + sum.tx_ticks) as f64) / pk;
    Ok(DriverRun {
        driver_cpu_ns_per_pkt: driver_ns * cpu.worker_run.min(1.0),
        cpu,
        mpps: sum.packets as f64 / elapsed / 1e6,
        driver_ns_per_pkt: driver_ns,
        rx_ns_per_pkt: tsc_to_ns(sum.rx_ticks as f64) / pk,
        tx_ns_per_pkt: tsc_to_ns(sum.tx_ticks as f64) / pk,
        pkts_per_burst: sum.packets as f64 / sum.bursts.max(1) as f64,
        busy: (sum.rx_ticks + sum.tx_ticks) as f64 / sum.total_ticks.max(1) as f64,
        cycles_per_pkt: hw.map(|h| h.0 as f64 / pk),
        instructions_per_pkt: hw.map(|h| h.1 as f64 / pk),
    })
}

/// fwd's worker loop (io or macswap, no TX retry: what TX does not take is freed), with the
/// TSC read around each driver call.
fn instrumented_loop(
    queues: &mut [(RxQueue, TxQueue)],
    mode: Mode,
    burst: usize,
    running: &AtomicBool,
) -> LoopTotals {
    let counters = HwCounters::open().ok();
    let hw0 = counters.as_ref().map(HwCounters::read);
    let mut pkts: [Option<Mbuf>; 512] = std::array::from_fn(|_| None);
    let burst = burst.clamp(1, pkts.len());
    let mut t = LoopTotals::default();
    let start = tsc();
    while running.load(Ordering::Relaxed) {
        let mut idle = true;
        for (rx, tx) in queues.iter_mut() {
            let a = tsc();
            let n = rx.rx_burst(&mut pkts[..burst]);
            let b = tsc();
            if n == 0 {
                continue;
            }
            idle = false;
            t.rx_ticks += b - a;
            if mode == Mode::Macswap {
                for m in pkts[..n].iter_mut().flatten() {
                    let d = m.mtod_mut();
                    if d.len() >= 12 {
                        let (dst, rest) = d.split_at_mut(6);
                        dst.swap_with_slice(&mut rest[..6]);
                    }
                }
            }
            let c = tsc();
            let sent = tx.tx_burst(&mut pkts[..n]);
            t.tx_ticks += tsc() - c;
            for m in pkts[sent..n].iter_mut() {
                m.take();
            }
            t.packets += sent as u64;
            t.bursts += 1;
        }
        if idle {
            for (_, tx) in queues.iter_mut() {
                if tx.in_flight() > 0 {
                    tx.tx_done_cleanup();
                }
            }
        }
    }
    t.total_ticks = tsc() - start;
    if let (Some(c), Some(h0)) = (&counters, hw0) {
        let h1 = c.read();
        t.hw = Some((h1.0 - h0.0, h1.1 - h0.1));
    }
    t
}

/// Which part of the device side a ceiling measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CeilingKind {
    /// Generator produces a frame, sink takes it: the wire alone, one thread.
    Wire,
    /// A generator port; the driver only receives and frees.
    SimRx,
    /// A sink port; the driver only sends prebuilt frames.
    SimTx,
}

impl CeilingKind {
    /// All of them.
    pub const ALL: [CeilingKind; 3] = [CeilingKind::Wire, CeilingKind::SimRx, CeilingKind::SimTx];

    /// `wire`, `sim-rx`, `sim-tx`.
    pub fn name(self) -> &'static str {
        match self {
            CeilingKind::Wire => "wire",
            CeilingKind::SimRx => "sim-rx",
            CeilingKind::SimTx => "sim-tx",
        }
    }
}

/// One ceiling measurement.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct CeilingRun {
    /// Frames per second, in millions.
    pub mpps: f64,
    /// Frames per second of CPU time of the thread doing the device-side work, in millions
    /// (what it would sustain with its core to itself).
    pub mpps_per_cpu: f64,
}

/// Measures one ceiling at `point`'s frame size, burst and placement.
pub fn run_ceiling(
    kind: CeilingKind,
    point: &Point,
    cores: &Cores,
    duration: Duration,
) -> Result<CeilingRun, String> {
    match kind {
        CeilingKind::Wire => wire_ceiling(point, cores, duration),
        CeilingKind::SimRx | CeilingKind::SimTx => isolated(|| {
            let wire = if kind == CeilingKind::SimRx {
                gen_wire(point)
            } else {
                "sink".to_string()
            };
            let argv = eal_argv(point, cores, &[&wire]);
            let eal = init_eal(&argv)?;
            let (pool, mut rxs, mut txs) = setup_ports(&eal, 1, "pps_ceiling")?;
            let rx = rxs[0].pop().ok_or("no RX queue")?;
            let tx = txs[0].pop().ok_or("no TX queue")?;
            let worker = eal.lcores().workers().next().ok_or("no worker lcore")?;
            let running = Arc::new(AtomicBool::new(true));
            // The count, and the queues handed back to be dropped once the port stopped.
            let done: Arc<Mutex<Option<(u64, RxQueue, TxQueue)>>> = Arc::new(Mutex::new(None));
            let (r, d) = (running.clone(), done.clone());
            let burst = point.burst as usize;
            let frame = frame_template(point.gen_len());
            eal.lcores()
                .remote_launch(worker, move || {
                    let (mut rx, mut tx) = (rx, tx);
                    let n = if kind == CeilingKind::SimRx {
                        rx_only(&mut rx, burst, &r)
                    } else {
                        tx_only(&mut tx, &pool, &frame, burst, &r)
                    };
                    *d.lock().unwrap_or_else(|e| e.into_inner()) = Some((n, rx, tx));
                    0
                })
                .map_err(|e| e.to_string())?;
            let t0 = Instant::now();
            let watch = CpuWatch::start(worker as usize);
            std::thread::sleep(duration);
            running.store(false, Ordering::Relaxed);
            let elapsed = t0.elapsed().as_secs_f64();
            eal.lcores().mp_wait_lcore();
            let n = done
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .map_or(0, |(n, _, _)| *n);
            let cpu = watch.finish(n);
            for p in eal.ports() {
                let _ = p.stop();
            }
            done.lock().unwrap_or_else(|e| e.into_inner()).take();
            Ok(CeilingRun {
                mpps: n as f64 / elapsed / 1e6,
                mpps_per_cpu: cpu.mpps_per_sim_cpu,
            })
        }),
    }
}

/// A well-formed frame of `len` bytes (the generator's first frame).
fn frame_template(len: usize) -> Vec<u8> {
    let cfg = ena_sim::wire::GeneratorConfig::default().with_frame_size(len);
    ena_sim::wire::Generator::new(cfg)
        .map(|g| g.expected_frame(0))
        .unwrap_or_else(|_| vec![0; len])
}

fn rx_only(rx: &mut RxQueue, burst: usize, running: &AtomicBool) -> u64 {
    let mut pkts: [Option<Mbuf>; 512] = std::array::from_fn(|_| None);
    let burst = burst.clamp(1, pkts.len());
    let mut n = 0u64;
    while running.load(Ordering::Relaxed) {
        let k = rx.rx_burst(&mut pkts[..burst]);
        pktmbuf_free_bulk(&mut pkts[..k]);
        n += k as u64;
    }
    n
}

fn tx_only(
    tx: &mut TxQueue,
    pool: &PktmbufPool,
    frame: &[u8],
    burst: usize,
    running: &AtomicBool,
) -> u64 {
    let mut cache = pool.lcore_cache();
    let mut pkts: [Option<Mbuf>; 512] = std::array::from_fn(|_| None);
    let burst = burst.clamp(1, pkts.len());
    let mut n = 0u64;
    while running.load(Ordering::Relaxed) {
        if !cache.alloc_bulk(&mut pkts[..burst]) {
            tx.tx_done_cleanup();
            continue;
        }
        for m in pkts[..burst].iter_mut().flatten() {
            if let Some(d) = m.append(frame.len() as u16) {
                d.copy_from_slice(frame);
            }
        }
        let sent = tx.tx_burst(&mut pkts[..burst]);
        cache.free_bulk(pkts[sent..burst].iter_mut().filter_map(Option::take));
        n += sent as u64;
    }
    n
}

/// The generator and sink alone, on the simulator's core.
fn wire_ceiling(point: &Point, cores: &Cores, duration: Duration) -> Result<CeilingRun, String> {
    let mut built = spec::build(&[WireRequest {
        name: "wire".into(),
        spec: gen_wire(point),
        mac: [2, 0, 0, 0, 1, 0],
    }])
    .map_err(|e| e.to_string())?;
    let (mut wire, _) = built.pop().ok_or("no wire")?;
    let sim_core = cores.sim;
    let t = std::thread::Builder::new()
        .name("wire-ceiling".into())
        .spawn(move || {
            core_affinity::set_for_current(core_affinity::CoreId { id: sim_core });
            let mut buf = vec![0u8; ena_sim::wire::MAX_FRAME];
            let mut n = 0u64;
            let me = std::fs::read_link("/proc/thread-self")
                .ok()
                .and_then(|p| p.file_name()?.to_str()?.parse::<u32>().ok());
            let run0 = me.and_then(sched_ns).map_or(0, |s| s.0);
            let t0 = Instant::now();
            loop {
                // Check the clock every 1024 frames only.
                for _ in 0..1024 {
                    if let Some(len) = wire.receive(&mut buf) {
                        wire.transmit(&buf[..len]);
                        n += 1;
                    }
                }
                if t0.elapsed() >= duration {
                    break;
                }
            }
            let run = me.and_then(sched_ns).map_or(0, |s| s.0) - run0;
            CeilingRun {
                mpps: n as f64 / t0.elapsed().as_secs_f64() / 1e6,
                mpps_per_cpu: n as f64 / run.max(1) as f64 * 1e3,
            }
        })
        .map_err(|e| e.to_string())?;
    t.join()
        .map_err(|_| "wire ceiling thread panicked".to_string())
}

/// The three ceilings at one frame size, and the forwarding ceiling they imply.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Ceilings {
    /// Ethernet frame size (FCS included).
    pub frame_size: u16,
    /// Generator + sink alone, Mpps.
    pub wire: Summary,
    /// Device model RX path with a minimal driver, Mpps.
    pub sim_rx: Summary,
    /// Device model TX path with a minimal driver, Mpps.
    pub sim_tx: Summary,
    /// The same per CPU-second of the thread doing the work (load-independent estimates).
    pub wire_per_cpu: Summary,
    /// Device model RX path, Mpps per device-thread CPU-second.
    pub sim_rx_per_cpu: Summary,
    /// Device model TX path, Mpps per device-thread CPU-second.
    pub sim_tx_per_cpu: Summary,
    /// `1 / (1/rx + 1/tx)` of the medians: the most one device thread can forward, as it ran.
    pub forwarding_estimate_mpps: f64,
    /// The same from the per-CPU figures: with the device thread's core to itself.
    pub forwarding_estimate_per_cpu_mpps: f64,
    /// Nanoseconds of device-thread CPU time per forwarded packet (1000 / the per-CPU
    /// estimate).
    pub sim_ns_per_pkt: f64,
}

impl Ceilings {
    /// Fills in the estimates from the medians.
    pub fn forwarding_estimate(&mut self) {
        let combine = |rx: f64, tx: f64| {
            if rx > 0.0 && tx > 0.0 {
                1.0 / (1.0 / rx + 1.0 / tx)
            } else {
                0.0
            }
        };
        self.forwarding_estimate_mpps = combine(self.sim_rx.median, self.sim_tx.median);
        self.forwarding_estimate_per_cpu_mpps =
            combine(self.sim_rx_per_cpu.median, self.sim_tx_per_cpu.median);
        if self.forwarding_estimate_per_cpu_mpps > 0.0 {
            self.sim_ns_per_pkt = 1e3 / self.forwarding_estimate_per_cpu_mpps;
        }
    }
}
