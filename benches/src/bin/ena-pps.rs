//! `ena-pps`: packets per second through the driver, and what limits them.
//!
//! ```text
//! ena-pps                         # the sweep: bursts, queue pairs, frame sizes, host/LLQ, io/macswap
//! ena-pps --quick --json          # CI smoke test: a few points, under a minute, one JSON object
//! ena-pps --plot out/             # also mpps_vs_burst.svg and mpps_vs_queues.svg
//! ena-pps --vs-dpdk [--json]      # ours vs Amazon's DPDK ENA PMD on ena-sim (root, hugepages, dpdk)
//! ena-pps --proof [--json]        # no heap allocation, no system call per packet (worker lcore)
//! ena-pps --callgrind-loop        # the stepped loop benches/callgrind.sh counts instructions in
//! ena-pps --soak [--duration 60]  # forwarding with a fault every 3 s: memory, pools, accounting
//! ```
//!
//! See `benches/README.md` for what each number includes and the results on this machine.

use clap::Parser;
use ena_benches::clock::{hw_counters_available, tsc_hz};
use ena_benches::fixture::{ManualOptions, Placement};
use ena_benches::fwd::Mode;
use ena_benches::plot::{line_chart, Series};
use ena_benches::pps::{self, CeilingKind, Ceilings, Cores, Point};
use ena_benches::stats::Summary;
use ena_benches::{manual_loop, proof, soak, vs_dpdk};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

// Counts heap allocations per thread, for --proof; nothing on the data path allocates, so it
// costs the measurements nothing.
#[global_allocator]
static GLOBAL: ena_benches::alloc_count::CountingAlloc = ena_benches::alloc_count::CountingAlloc;

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "ena-pps",
    about = "Packets per second through the ena driver on simulated ports, the simulator's ceiling, and ours vs DPDK"
)]
struct Cli {
    /// A small subset (3 points, 5 short runs each; under a minute): the CI smoke test.
    #[arg(long)]
    quick: bool,
    /// Print one JSON object on stdout (and no progress bar).
    #[arg(long)]
    json: bool,
    /// Runs per point (at least 1; the median and min/max are reported).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Seconds each run forwards (default 1, or 0.25 with --quick; --vs-dpdk: 3; --soak: 60).
    #[arg(long)]
    duration: Option<f64>,
    /// Write SVG plots of Mpps vs burst and vs queue pairs into this directory.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Queue pairs up to this many in the queue sweep.
    #[arg(long, default_value_t = 2)]
    max_queues: u16,
    /// CPU for the device models (and the main lcore). Default: the first allowed CPU.
    #[arg(long)]
    sim_core: Option<usize>,
    /// CPU for the forwarding worker lcore. Default: the second allowed CPU.
    #[arg(long)]
    driver_core: Option<usize>,
    /// Skip the simulator-ceiling measurements.
    #[arg(long)]
    no_ceiling: bool,

    /// Ours vs Amazon's DPDK ENA PMD on the ena-sim program (io, burst 32, 64 B; 1 and 2 queue
    /// pairs; host and LLQ).
    #[arg(long)]
    vs_dpdk: bool,
    /// --vs-dpdk: warm-up seconds after forwarding starts, before the window opens.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// --vs-dpdk: the ena-sim program (default: target/release/ena-sim, built if missing).
    #[arg(long, value_name = "PATH")]
    ena_sim: Option<PathBuf>,
    /// --vs-dpdk: the fwd example (default: target/release/examples/fwd, built if missing).
    #[arg(long, value_name = "PATH")]
    fwd: Option<PathBuf>,
    /// --vs-dpdk: only these queue-pair counts (e.g. 1).
    #[arg(long, value_delimiter = ',')]
    vs_queues: Vec<u16>,

    /// Prove the worker lcore neither allocates nor makes system calls while forwarding.
    #[arg(long)]
    proof: bool,

    /// Soak: forward for --duration seconds (default 60) with a fault injected every
    /// --fault-every seconds; checks that resident memory stays flat, the mbuf pool is whole
    /// and every packet is accounted for (exit status 1 if not).
    #[arg(long)]
    soak: bool,
    /// --soak: seconds between faults.
    #[arg(long, default_value_t = 3.0)]
    fault_every: f64,
    /// --soak: seconds of resident-memory samples that do not count (the warm-up).
    #[arg(long, default_value_t = 5.0)]
    rss_warmup: f64,
    /// --soak: the most resident memory may grow after the warm-up, KiB.
    #[arg(long, default_value_t = soak::DEFAULT_RSS_BOUND_KIB)]
    rss_bound_kib: u64,
    /// --soak: frames per second each port's generator offers (default: unpaced).
    #[arg(long, value_name = "PPS")]
    soak_rate: Option<u64>,

    /// Run the stepped forwarding loop (for callgrind.sh) and print what it forwarded.
    #[arg(long)]
    callgrind_loop: bool,
    /// --callgrind-loop: packets to forward in the measured phase.
    #[arg(long, default_value_t = 200_000)]
    packets: u64,
    /// --callgrind-loop: packets to forward first, outside the measured phase.
    #[arg(long, default_value_t = 20_000)]
    warmup_packets: u64,
    /// --callgrind-loop: burst size.
    #[arg(long, default_value_t = 32)]
    burst: u16,
    /// --callgrind-loop: TX placement.
    #[arg(long, value_parser = ["host", "llq"], default_value = "llq")]
    placement: String,
    /// --callgrind-loop: generated frame length on the wire (FCS included).
    #[arg(long, default_value_t = 64)]
    frame_size: u16,
}

#[derive(Serialize)]
struct Machine {
    cpus: usize,
    cpu_model: String,
    tsc_ghz: f64,
    hw_counters: String,
    load_average: String,
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    Machine {
        cpus: dpdk_shim::args::allowed_cpus().len(),
        cpu_model: cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_default(),
        tsc_ghz: tsc_hz() / 1e9,
        hw_counters: match hw_counters_available() {
            Ok(()) => "available".into(),
            Err(e) => format!("unavailable ({e}): per-packet costs are TSC time"),
        },
        load_average: std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[derive(Serialize, Clone)]
struct PointResult {
    label: String,
    point: Point,
    /// fwd's loop: forwarded Mpps.
    mpps: Summary,
    /// fwd's loop: wall-clock ns per forwarded packet.
    ns_per_pkt: Summary,
    /// Instrumented loop: TSC ns per packet inside rx_burst (non-empty) + tx_burst.
    driver_ns_per_pkt: Summary,
    rx_ns_per_pkt: Summary,
    tx_ns_per_pkt: Summary,
    /// Instrumented loop: packets per non-empty rx_burst.
    pkts_per_burst: Summary,
    /// Instrumented loop: share of the worker's time inside non-empty bursts.
    busy: Summary,
    /// Instrumented loop: driver ns/pkt scaled by the share of time the worker ran.
    driver_cpu_ns_per_pkt: Summary,
    /// fwd's loop: share of the window the worker lcore ran / waited for a CPU.
    worker_cpu_run: Summary,
    worker_cpu_wait: Summary,
    /// fwd's loop: share of the window the device thread ran / waited for a CPU.
    sim_cpu_run: Summary,
    sim_cpu_wait: Summary,
    /// fwd's loop: forwarded Mpps per device-thread CPU-second.
    mpps_per_sim_cpu: Summary,
    /// Instrumented loop's own Mpps (TSC reads included).
    instrumented_mpps: Summary,
    /// Hardware cycles per packet (whole worker loop), where counters exist.
    cycles_per_pkt: Option<Summary>,
    instructions_per_pkt: Option<Summary>,
}

#[derive(Serialize)]
struct Target {
    name: &'static str,
    target: &'static str,
    measured: String,
    met: Option<bool>,
    note: String,
}

#[derive(Serialize)]
struct SweepReport {
    tool: &'static str,
    mode: &'static str,
    machine: Machine,
    runs: u32,
    duration_s: f64,
    cores: Cores,
    ceilings: Vec<Ceilings>,
    points: Vec<PointResult>,
    targets: Vec<Target>,
    plots: Vec<String>,
    caveat: &'static str,
}

/// Which number of a ceiling run a summary is made of.
type CeilingField = fn(&pps::CeilingRun) -> f64;

const CAVEAT: &str = "shared 2-core VM under load from other builds: identical runs vary several times; compare medians of interleaved runs only";

fn sweep_points(cli: &Cli) -> Vec<Point> {
    let base = Point::base();
    let mut v: Vec<Point> = Vec::new();
    let mut add = |p: Point| {
        if !v.contains(&p) {
            v.push(p);
        }
    };
    if cli.quick {
        add(Point { burst: 8, ..base });
        add(base);
        add(Point {
            placement: Placement::Host,
            ..base
        });
        return v;
    }
    for placement in Placement::ALL {
        for burst in [1, 8, 32, 64] {
            add(Point {
                burst,
                placement,
                ..base
            });
        }
        for queues in 1..=cli.max_queues.max(1) {
            add(Point {
                queues,
                placement,
                ..base
            });
        }
        for frame_size in [64, 512, 1500] {
            add(Point {
                frame_size,
                placement,
                ..base
            });
        }
        add(Point {
            mode: Mode::Macswap,
            placement,
            ..base
        });
    }
    v
}

fn cores(cli: &Cli) -> Cores {
    let mut c = Cores::default_for_machine();
    if let Some(s) = cli.sim_core {
        c.sim = s;
    }
    if let Some(d) = cli.driver_core {
        c.workers = vec![d];
    }
    c
}

fn progress(cli: &Cli, total: u64) -> ProgressBar {
    let pb = ProgressBar::new(total);
    if cli.json || !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    } else {
        pb.set_draw_target(ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {msg}")
        {
            pb.set_style(style.progress_chars("=> "));
        }
    }
    pb
}

fn sweep(cli: &Cli) -> Result<SweepReport, String> {
    let cores = cores(cli);
    let duration = Duration::from_secs_f64(
        cli.duration
            .unwrap_or(if cli.quick { 0.25 } else { 1.0 })
            .max(0.05),
    );
    let runs = cli.runs.max(1);
    let points = sweep_points(cli);
    let sizes: Vec<u16> = {
        let mut s: Vec<u16> = points.iter().map(|p| p.frame_size).collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    let ceil_tasks = if cli.no_ceiling {
        0
    } else {
        sizes.len() * CeilingKind::ALL.len()
    };
    let total = runs as u64 * (points.len() as u64 * 2 + ceil_tasks as u64);
    let pb = progress(cli, total);

    // Interleave: every point once per round, so slow phases of the machine hit all points.
    let mut fwd_runs: HashMap<usize, Vec<pps::FwdRun>> = HashMap::new();
    let mut drv_runs: HashMap<usize, Vec<pps::DriverRun>> = HashMap::new();
    let mut ceil_runs: HashMap<(u16, &'static str), Vec<pps::CeilingRun>> = HashMap::new();
    for round in 0..runs {
        if !cli.no_ceiling {
            for &size in &sizes {
                for kind in CeilingKind::ALL {
                    pb.set_message(format!(
                        "run {}/{runs}: ceiling {} {size}B",
                        round + 1,
                        kind.name()
                    ));
                    let p = Point {
                        frame_size: size,
                        ..Point::base()
                    };
                    let m = pps::run_ceiling(kind, &p, &cores, duration)?;
                    ceil_runs.entry((size, kind.name())).or_default().push(m);
                    pb.inc(1);
                }
            }
        }
        for (i, p) in points.iter().enumerate() {
            pb.set_message(format!("run {}/{runs}: {}", round + 1, p.label()));
            fwd_runs
                .entry(i)
                .or_default()
                .push(pps::run_fwd(p, &cores, duration)?);
            pb.inc(1);
            drv_runs
                .entry(i)
                .or_default()
                .push(pps::run_instrumented(p, &cores, duration)?);
            pb.inc(1);
        }
    }
    pb.finish_and_clear();

    let ceilings: Vec<Ceilings> = if cli.no_ceiling {
        Vec::new()
    } else {
        sizes
            .iter()
            .map(|&size| {
                let get = |k: CeilingKind, f: fn(&pps::CeilingRun) -> f64| {
                    let v: Vec<f64> = ceil_runs
                        .get(&(size, k.name()))
                        .map_or(Vec::new(), |v| v.iter().map(f).collect());
                    Summary::of(&v)
                };
                let all: CeilingField = |r| r.mpps;
                let cpu: CeilingField = |r| r.mpps_per_cpu;
                let mut c = Ceilings {
                    frame_size: size,
                    wire: get(CeilingKind::Wire, all),
                    sim_rx: get(CeilingKind::SimRx, all),
                    sim_tx: get(CeilingKind::SimTx, all),
                    wire_per_cpu: get(CeilingKind::Wire, cpu),
                    sim_rx_per_cpu: get(CeilingKind::SimRx, cpu),
                    sim_tx_per_cpu: get(CeilingKind::SimTx, cpu),
                    ..Ceilings::default()
                };
                c.forwarding_estimate();
                c
            })
            .collect()
    };
    let results: Vec<PointResult> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let f = &fwd_runs[&i];
            let d = &drv_runs[&i];
            let s = |g: &dyn Fn(&pps::DriverRun) -> f64| {
                Summary::of(&d.iter().map(g).collect::<Vec<_>>())
            };
            let fs =
                |g: &dyn Fn(&pps::FwdRun) -> f64| Summary::of(&f.iter().map(g).collect::<Vec<_>>());
            let hw = |g: &dyn Fn(&pps::DriverRun) -> Option<f64>| {
                let v: Option<Vec<f64>> = d.iter().map(g).collect();
                v.map(|v| Summary::of(&v))
            };
            PointResult {
                label: p.label(),
                point: *p,
                mpps: Summary::of(&f.iter().map(|r| r.mpps).collect::<Vec<_>>()),
                ns_per_pkt: Summary::of(&f.iter().map(|r| r.ns_per_pkt).collect::<Vec<_>>()),
                driver_ns_per_pkt: s(&|r| r.driver_ns_per_pkt),
                rx_ns_per_pkt: s(&|r| r.rx_ns_per_pkt),
                tx_ns_per_pkt: s(&|r| r.tx_ns_per_pkt),
                pkts_per_burst: s(&|r| r.pkts_per_burst),
                busy: s(&|r| r.busy),
                driver_cpu_ns_per_pkt: s(&|r| r.driver_cpu_ns_per_pkt),
                worker_cpu_run: fs(&|r| r.cpu.worker_run),
                worker_cpu_wait: fs(&|r| r.cpu.worker_wait),
                sim_cpu_run: fs(&|r| r.cpu.sim_run),
                sim_cpu_wait: fs(&|r| r.cpu.sim_wait),
                mpps_per_sim_cpu: fs(&|r| r.cpu.mpps_per_sim_cpu),
                instrumented_mpps: s(&|r| r.mpps),
                cycles_per_pkt: hw(&|r| r.cycles_per_pkt),
                instructions_per_pkt: hw(&|r| r.instructions_per_pkt),
            }
        })
        .collect();

    let targets = targets(&results, &ceilings);
    let plots = match &cli.plot {
        Some(dir) => plots(dir, &results)?,
        None => Vec::new(),
    };
    Ok(SweepReport {
        tool: "ena-pps",
        mode: if cli.quick { "quick" } else { "sweep" },
        machine: machine(),
        runs,
        duration_s: duration.as_secs_f64(),
        cores,
        ceilings,
        points: results,
        targets,
        plots,
        caveat: CAVEAT,
    })
}

fn targets(results: &[PointResult], ceilings: &[Ceilings]) -> Vec<Target> {
    let base = results.iter().find(|r| r.point == Point::base());
    let sim = ceilings.iter().find(|c| c.frame_size == 64);
    let mut v = Vec::new();
    if let Some(b) = base {
        let why = match sim {
            Some(c) if c.forwarding_estimate_per_cpu_mpps > 0.0 => format!(
                "the device model is the bottleneck: one device thread forwards at most {:.2} Mpps with a core to itself ({:.0} ns of simulator CPU per packet; {:.2} Mpps as it ran here, sharing the CPU); fwd reached {:.2} Mpps per device-thread CPU-second",
                c.forwarding_estimate_per_cpu_mpps, c.sim_ns_per_pkt, c.forwarding_estimate_mpps, b.mpps_per_sim_cpu.median
            ),
            _ => String::new(),
        };
        v.push(Target {
            name: "io fwd, 1 queue pair, 64 B, burst 32, driver and sim on separate cores",
            target: ">= 30 Mpps",
            measured: format!(
                "{:.2} Mpps median (min {:.2}, max {:.2})",
                b.mpps.median, b.mpps.min, b.mpps.max
            ),
            met: Some(b.mpps.median >= 30.0),
            note: why,
        });
        v.push(Target {
            name: "driver-side cost per forwarded 64 B packet at burst 32 (TSC time in rx_burst+tx_burst)",
            target: "<= 30 ns",
            measured: format!(
                "{:.1} ns median (min {:.1}, max {:.1}); {:.0} ns with preemption removed; {:.1} packets per burst",
                b.driver_ns_per_pkt.median,
                b.driver_ns_per_pkt.min,
                b.driver_ns_per_pkt.max,
                b.driver_cpu_ns_per_pkt.median,
                b.pkts_per_burst.median
            ),
            met: Some(b.driver_cpu_ns_per_pkt.median <= 30.0),
            note: "bursts are short because the device side is the bottleneck, which raises the per-packet cost; the exact figure is the stepped one: cargo bench --bench datapath (forward/*) and benches/callgrind.sh".into(),
        });
    }
    v.push(Target {
        name: "scaling with queue pairs within 10% of k x the 1-pair figure",
        target: "k x (1 - 10%)",
        measured: "not measurable here".into(),
        met: None,
        note: "this machine has 2 CPUs (one for the device models, one worker); measure on a larger machine with --max-queues and one worker per queue pair".into(),
    });
    v
}

fn plots(dir: &std::path::Path, results: &[PointResult]) -> Result<Vec<String>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let base = Point::base();
    let series = |vary: &dyn Fn(&Point) -> Option<f64>| -> Vec<Series> {
        Placement::ALL
            .iter()
            .map(|&pl| {
                let mut points: Vec<(f64, Summary)> = results
                    .iter()
                    .filter(|r| r.point.placement == pl)
                    .filter_map(|r| vary(&r.point).map(|x| (x, r.mpps.clone())))
                    .collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                Series {
                    name: format!("io 64B, {}", pl.name()),
                    points,
                }
            })
            .filter(|s| !s.points.is_empty())
            .collect()
    };
    let by_burst = series(&|p| {
        (p.mode == base.mode && p.queues == 1 && p.frame_size == 64).then_some(p.burst as f64)
    });
    let by_queues = series(&|p| {
        (p.mode == base.mode && p.burst == 32 && p.frame_size == 64).then_some(p.queues as f64)
    });
    let mut out = Vec::new();
    let a = dir.join("mpps_vs_burst.svg");
    line_chart(
        &a,
        "Forwarded Mpps vs burst (1 queue pair)",
        "burst",
        &by_burst,
        true,
    )?;
    out.push(a.display().to_string());
    let b = dir.join("mpps_vs_queues.svg");
    line_chart(
        &b,
        "Forwarded Mpps vs queue pairs (burst 32)",
        "queue pairs",
        &by_queues,
        false,
    )?;
    out.push(b.display().to_string());
    Ok(out)
}

fn print_sweep(r: &SweepReport) {
    let m = &r.machine;
    println!(
        "ena-pps: {} CPUs ({}), TSC {:.2} GHz, load {}; hardware counters {}",
        m.cpus, m.cpu_model, m.tsc_ghz, m.load_average, m.hw_counters
    );
    println!(
        "{} runs x {:.2} s per point; device models on CPU {}, worker lcore(s) on {:?}",
        r.runs, r.duration_s, r.cores.sim, r.cores.workers
    );
    println!("caveat: {}\n", r.caveat);
    if !r.ceilings.is_empty() {
        println!("device-side ceiling, Mpps median [min-max] as run, and (median) per CPU-second of the thread doing it:");
        println!(
            "  {:>6}  {:>30}  {:>30}  {:>30}  one device thread forwarding",
            "frame", "wire (gen+sink alone)", "sim RX (driver: rx+free)", "sim TX (driver: tx)"
        );
        for c in &r.ceilings {
            println!(
                "  {:>5}B  {:>30}  {:>30}  {:>30}  {:.3} Mpps as run, {:.3} per CPU ({:.0} ns/pkt)",
                c.frame_size,
                format!("{} ({:.2})", fmt(&c.wire), c.wire_per_cpu.median),
                format!("{} ({:.2})", fmt(&c.sim_rx), c.sim_rx_per_cpu.median),
                format!("{} ({:.2})", fmt(&c.sim_tx), c.sim_tx_per_cpu.median),
                c.forwarding_estimate_mpps,
                c.forwarding_estimate_per_cpu_mpps,
                c.sim_ns_per_pkt
            );
        }
        println!();
    }
    println!(
        "{:<22} {:>24} {:>8} {:>9} {:>11} {:>11} {:>22} {:>9} {:>7} {:>5}",
        "point",
        "Mpps (fwd loop)",
        "ns/pkt",
        "Mpps/sim",
        "worker ran",
        "sim ran",
        "driver ns/pkt (TSC)",
        "CPU-adj",
        "pkt/bst",
        "busy"
    );
    for p in &r.points {
        println!(
            "{:<22} {:>24} {:>8.0} {:>9.3} {:>10.0}% {:>10.0}% {:>22} {:>9.0} {:>7.1} {:>4.0}%",
            p.label,
            fmt(&p.mpps),
            p.ns_per_pkt.median,
            p.mpps_per_sim_cpu.median,
            p.worker_cpu_run.median * 100.0,
            p.sim_cpu_run.median * 100.0,
            fmt1(&p.driver_ns_per_pkt),
            p.driver_cpu_ns_per_pkt.median,
            p.pkts_per_burst.median,
            p.busy.median * 100.0
        );
        if let (Some(c), Some(i)) = (&p.cycles_per_pkt, &p.instructions_per_pkt) {
            println!(
                "{:<22} cycles/pkt {:.0}, instructions/pkt {:.0} (whole worker loop)",
                "", c.median, i.median
            );
        }
    }
    println!(
        "  Mpps/sim: forwarded Mpps per CPU-second the device thread got; worker/sim ran: share of the\n  window each thread was on a CPU; driver ns/pkt: TSC time inside non-empty rx_burst + tx_burst per\n  packet (instrumented copy of the loop), CPU-adj: that times the worker's share (preemption removed)"
    );
    println!("\ntargets:");
    for t in &r.targets {
        let verdict = match t.met {
            Some(true) => "met",
            Some(false) => "NOT MET",
            None => "not measured here",
        };
        println!("  {} {}: {} -> {verdict}", t.name, t.target, t.measured);
        if !t.note.is_empty() {
            println!("      {}", t.note);
        }
    }
    for p in &r.plots {
        println!("plot: {p}");
    }
}

fn fmt(s: &Summary) -> String {
    format!("{:.3} [{:.3}-{:.3}]", s.median, s.min, s.max)
}

fn fmt1(s: &Summary) -> String {
    format!("{:.1} [{:.1}-{:.1}]", s.median, s.min, s.max)
}

fn emit<T: Serialize>(json: bool, v: &T, text: impl FnOnce(&T)) {
    if json {
        match serde_json::to_string(v) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("ena-pps: {e}");
                std::process::exit(1);
            }
        }
    } else {
        text(v);
    }
}

fn vs_dpdk_mode(cli: &Cli) -> Result<(), String> {
    if let Some(why) = vs_dpdk::skip_reason() {
        if cli.json {
            println!(
                "{}",
                serde_json::json!({ "tool": "ena-pps", "mode": "vs-dpdk", "skipped": why })
            );
            eprintln!("SKIPPED: {why}");
        } else {
            println!("SKIPPED: {why}");
        }
        return Ok(());
    }
    let c = cores(cli);
    let mut scenarios = vs_dpdk::Scenario::all();
    if !cli.vs_queues.is_empty() {
        scenarios.retain(|s| cli.vs_queues.contains(&s.queues));
    }
    let o = vs_dpdk::VsOptions {
        runs: cli.runs as usize,
        window: Duration::from_secs_f64(cli.duration.unwrap_or(3.0).max(0.5)),
        warmup: Duration::from_secs_f64(cli.warmup.max(0.0)),
        sim_core: c.sim,
        driver_core: c.workers.first().copied().unwrap_or(1),
        ena_sim: cli.ena_sim.clone(),
        fwd: cli.fwd.clone(),
        scenarios,
        verbose: !cli.json,
    };
    let results = vs_dpdk::run(&o)?;
    #[derive(Serialize)]
    struct Out<'a> {
        tool: &'static str,
        mode: &'static str,
        machine: Machine,
        runs: usize,
        window_s: f64,
        warmup_s: f64,
        sim_core: usize,
        driver_core: usize,
        scenarios: &'a [vs_dpdk::ScenarioResult],
        target: &'static str,
        caveat: &'static str,
    }
    let out = Out {
        tool: "ena-pps",
        mode: "vs-dpdk",
        machine: machine(),
        runs: o.runs,
        window_s: o.window.as_secs_f64(),
        warmup_s: o.warmup.as_secs_f64(),
        sim_core: o.sim_core,
        driver_core: o.driver_core,
        scenarios: &results,
        target: "ours / DPDK >= 1.5 (io forwarding, host and LLQ)",
        caveat: CAVEAT,
    };
    emit(cli.json, &out, |o| {
        println!(
            "ours (fwd) vs DPDK testpmd on ena-sim: io, burst 32, 64 B; {} runs each, alternating; {:.1} s window after {:.1} s warm-up; sim on CPU {}, forwarding lcore on CPU {}",
            o.runs, o.window_s, o.warmup_s, o.sim_core, o.driver_core
        );
        println!("caveat: {}\n", o.caveat);
        println!(
            "{:<10} {:>26} {:>26} {:>8} {:>22}  target >= 1.5",
            "scenario", "DPDK Mpps", "ours Mpps", "ratio", "per-pair ratio"
        );
        for s in o.scenarios {
            println!(
                "{:<10} {:>26} {:>26} {:>8.2} {:>22}  {}",
                s.scenario.label(),
                fmt(&s.dpdk),
                fmt(&s.ours),
                s.ratio,
                format!(
                    "{:.2} [{:.2}-{:.2}]",
                    s.pair_ratios.median, s.pair_ratios.min, s.pair_ratios.max
                ),
                if s.ratio >= 1.5 { "met" } else { "NOT MET" }
            );
        }
    });
    Ok(())
}

fn proof_mode(cli: &Cli) -> Result<(), String> {
    let c = cores(cli);
    let window = Duration::from_secs_f64(cli.duration.unwrap_or(2.0).max(0.2));
    let r = proof::run_proof(&Point::base(), &c, Duration::from_secs(1), window)?;
    emit(cli.json, &r, |r| {
        println!(
            "proof: {} on the worker lcore (tid {}), {:.2} s window, {} packets forwarded",
            r.point, r.worker_tid, r.window_s, r.packets
        );
        match (r.allocations, r.allocations_per_mpkt) {
            (Some(a), Some(p)) => println!("  heap allocations: {a} ({p:.3} per million packets)"),
            _ => println!("  heap allocations: not counted (counting allocator not installed)"),
        }
        match (r.syscalls, r.syscalls_per_mpkt, &r.strace_error) {
            (Some(s), Some(p), _) => {
                println!("  system calls (strace -c -p tid): {s} ({p:.3} per million packets)")
            }
            (_, _, Some(e)) => println!("  system calls: strace failed: {e}"),
            _ => {}
        }
        println!(
            "  /proc/self/task/<tid>/syscall: {} of {} samples inside a system call ({} packets forwarded meanwhile)",
            r.samples_in_syscall, r.samples, r.sampled_packets
        );
        println!(
            "  verdict: {}",
            if r.pass {
                "PASS (none per packet)"
            } else {
                "FAIL"
            }
        );
    });
    if r.pass {
        Ok(())
    } else {
        Err("the data path allocated or made system calls".into())
    }
}

fn soak_mode(cli: &Cli) -> Result<(), String> {
    let mut o = soak::SoakOptions::new(
        Duration::from_secs_f64(cli.duration.unwrap_or(60.0).max(1.0)),
        cores(cli),
    );
    o.fault_every = Duration::from_secs_f64(cli.fault_every.max(0.5));
    o.rss_warmup = Duration::from_secs_f64(cli.rss_warmup.max(0.0));
    o.rss_bound_kib = cli.rss_bound_kib;
    o.rate_pps = cli.soak_rate.filter(|&r| r > 0);
    o.verbose = !cli.json;
    let r = soak::run_soak(&o)?;
    emit(cli.json, &r, soak::print_report);
    if r.pass {
        Ok(())
    } else {
        Err(format!("soak failed: {}", r.failures.join("; ")))
    }
}

fn callgrind_mode(cli: &Cli) -> Result<(), String> {
    let opts = ManualOptions {
        frame_len: (cli.frame_size as usize).saturating_sub(4).max(60),
        placement: if cli.placement == "host" {
            Placement::Host
        } else {
            Placement::Llq
        },
        ..ManualOptions::default()
    };
    let f = manual_loop::callgrind_run(&opts, cli.burst as usize, cli.warmup_packets, cli.packets)?;
    println!(
        "{}",
        serde_json::json!({
            "tool": "ena-pps", "mode": "callgrind-loop", "burst": cli.burst,
            "placement": cli.placement, "frame_size": cli.frame_size, "forwarded": f,
        })
    );
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let r = if cli.callgrind_loop {
        callgrind_mode(&cli)
    } else if cli.vs_dpdk {
        vs_dpdk_mode(&cli)
    } else if cli.proof {
        proof_mode(&cli)
    } else if cli.soak {
        soak_mode(&cli)
    } else {
        sweep(&cli).map(|r| emit(cli.json, &r, print_sweep))
    };
    if let Err(e) = r {
        eprintln!("ena-pps: {e}");
        std::process::exit(1);
    }
}
