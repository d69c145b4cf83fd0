//! `ena-sim`: software ENA devices run as a process, each exposed through the project's PCI rig
//! (a fake sysfs PCI function over shared-memory BARs, DMA into the driver's hugepage files and
//! a FIFO interrupt line), so that the ena driver — and Amazon's DPDK ENA PMD — attach to it as
//! to hardware, from another process.
//!
//! `ena-sim --help` documents the command line; the modules:
//! - [`cli`]: the options and the help text;
//! - [`device_spec`]: one `--dev WIRE[;KEY=VALUE...]`;
//! - [`faults`]: the fault schedule and durations;
//! - [`sim`]: bringing the devices up behind their rigs and taking everything down again;
//! - [`report`]: the ready block, status lines, fault lines and the summary (text or JSON).

mod cli;
mod device_spec;
mod faults;
mod report;
mod sim;

use clap::Parser;
use cli::{Cli, OnOff, Reads};
use device_spec::{check_ports, check_prefix, parse_dev, Defaults, PortPlan};
use faults::{parse_fault, PortSelector, Schedule, ScheduledFault};
use report::Reporter;
use sim::{Plan, Sim, StartError};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Exit status for a command line that cannot work.
const EXIT_USAGE: u8 = 2;
/// Exit status for a failure to bring the devices up on this machine.
const EXIT_SETUP: u8 = 1;

/// Longest the main loop sleeps, so a signal is acted on promptly.
const TICK: Duration = Duration::from_millis(20);

/// Why `run` failed.
enum Failure {
    Usage(String),
    Setup(String),
}

fn main() -> ExitCode {
    // One line, not a backtrace, if something unforeseen panics; the rig's Drop still runs
    // while the main thread unwinds.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("ena-sim: internal error: {msg}{at}");
    }));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();

    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            eprintln!("ena-sim: {} (see ena-sim --help)", first_line(&e));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("ena-sim: {m}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Setup(m)) => {
            eprintln!("ena-sim: {m}");
            ExitCode::from(EXIT_SETUP)
        }
    }
}

/// The message of a clap error on one line: its first paragraph (which may continue on
/// indented lines, as the list of missing arguments does), without the "error: " tag, the
/// usage block and the tips.
fn first_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let para: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let line = para.join(" ");
    let line = line.trim_start_matches("error: ").trim();
    if line.is_empty() {
        "bad arguments".into()
    } else {
        line.to_string()
    }
}

/// The checked command line.
struct Checked {
    plan: Plan,
    faults: Vec<(ScheduledFault, Vec<usize>)>,
}

fn check(cli: &Cli) -> Result<Checked, String> {
    let defaults = Defaults {
        queues: cli.queues,
        llq: cli.llq == OnOff::On,
        mtu: cli.mtu,
        readless: cli.reads == Reads::Readless,
    };
    let ports: Vec<PortPlan> = cli
        .devs
        .iter()
        .enumerate()
        .map(|(i, d)| parse_dev(i, d, &defaults))
        .collect::<Result<_, _>>()?;
    check_ports(&ports)?;
    let pid = std::process::id();
    let file_prefix = cli
        .file_prefix
        .clone()
        .unwrap_or_else(|| format!("enasim{pid}"));
    check_prefix(&file_prefix).map_err(|m| format!("--file-prefix: {m}"))?;

    let mut faults = Vec::new();
    for text in &cli.faults {
        let f = parse_fault(text)?;
        let targets = resolve_ports(&f, &ports).map_err(|m| format!("--fault '{text}': {m}"))?;
        faults.push((f, targets));
    }
    for p in &ports {
        for text in &p.faults {
            let f = parse_fault(text).map_err(|m| format!("--dev '{}': {m}", p.text))?;
            if f.port.is_some() {
                return Err(format!(
                    "--dev '{}': fault={text} names a port; inside --dev the port is implied",
                    p.text
                ));
            }
            faults.push((f, vec![p.index]));
        }
    }

    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(c) = cli.cores.iter().find(|&&c| c >= available) {
        return Err(format!(
            "--cores: CPU {c} does not exist (this machine has {available})"
        ));
    }
    let rig_dir = cli
        .rig_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("ena-sim-{pid}")));
    Ok(Checked {
        plan: Plan {
            ports,
            rig_dir: absolute(&rig_dir),
            huge_dir: cli.huge_dir.as_deref().map(absolute),
            hugepages: cli.hugepages.map(|n| n as usize),
            file_prefix,
            cores: cli.cores.clone(),
            uio_links: cli.uio_links,
        },
        faults,
    })
}

fn resolve_ports(f: &ScheduledFault, ports: &[PortPlan]) -> Result<Vec<usize>, String> {
    match &f.port {
        None => Ok(ports.iter().map(|p| p.index).collect()),
        Some(PortSelector::Index(i)) if *i < ports.len() => Ok(vec![*i]),
        Some(PortSelector::Index(i)) => Err(format!(
            "port {i} does not exist ({} device{} given)",
            ports.len(),
            if ports.len() == 1 { "" } else { "s" }
        )),
        Some(PortSelector::Bdf(b)) => ports
            .iter()
            .find(|p| &p.bdf == b)
            .map(|p| vec![p.index])
            .ok_or_else(|| format!("no device at {b}")),
    }
}

/// The path made absolute against the working directory (printed arguments must work from
/// anywhere).
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn run(cli: Cli) -> Result<(), Failure> {
    let checked = check(&cli).map_err(Failure::Usage)?;

    // Signals first, so that one arriving during bring-up still takes everything down.
    let stop = Arc::new(AtomicBool::new(false));
    let which = Arc::new(AtomicUsize::new(0));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        // A second signal while stopping ends the process at once, with the shell's status
        // for death by that signal.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, stop.clone())
            .and_then(|_| signal_hook::flag::register(sig, stop.clone()))
            .and_then(|_| signal_hook::flag::register_usize(sig, which.clone(), sig as usize))
            .map_err(|e| Failure::Setup(format!("installing signal handlers: {e}")))?;
    }

    let sim = Sim::start(&checked.plan).map_err(|e| match e {
        StartError::Usage(m) => Failure::Usage(m),
        StartError::Setup(m) => Failure::Setup(m),
    })?;
    let info = sim.ready_info();
    let mut reporter = Reporter::new(cli.json, sim.ports.len());
    if checked.plan.hugepages.is_none() && Sim::free_hugepages() == Some(0) {
        eprintln!(
            "ena-sim: note: the system has no free hugepages; the driver needs some \
             (echo N > /proc/sys/vm/nr_hugepages, or --hugepages N)"
        );
    }
    let ready_file = match &cli.ready_file {
        Some(path) => Some(ReadyFile::write(path, &info).map_err(Failure::Setup)?),
        None => None,
    };
    reporter.ready(&info);

    let start = Instant::now();
    let mut schedule = Schedule::new(checked.faults);
    let mut injected = 0u64;
    let mut next_status = cli.interval;
    reporter.sample(&sim.ports, Duration::ZERO);
    let reason = loop {
        let now = start.elapsed();
        for (due, f, targets) in schedule.take_due(now) {
            if cli.duration.is_some_and(|d| due > d) {
                continue;
            }
            for &i in &targets {
                if let Some(port) = sim.ports.get(i) {
                    port.device.faults.inject(f.fault.clone());
                    injected += 1;
                    reporter.fault(due, port, f.fault.name(), &f.text);
                }
            }
        }
        if stop.load(Ordering::Relaxed) {
            break signal_name(which.load(Ordering::Relaxed));
        }
        if cli.duration.is_some_and(|d| now >= d) {
            break "duration".to_string();
        }
        if now >= next_status {
            let samples = reporter.sample(&sim.ports, now);
            if !cli.quiet {
                reporter.status(now, &samples);
            }
            next_status += cli.interval;
            if next_status <= now {
                // Stopped for a while (SIGSTOP, an overloaded machine): resume the rhythm.
                next_status = now + cli.interval;
            }
        }
        let mut wake = next_status;
        if let Some(d) = schedule.next_due() {
            wake = wake.min(d);
        }
        if let Some(d) = cli.duration {
            wake = wake.min(d);
        }
        std::thread::sleep(wake.saturating_sub(start.elapsed()).min(TICK));
    };
    let t = start.elapsed();
    let samples = reporter.sample(&sim.ports, t);
    // Take the devices down before the summary, so that "stopped" is true when it is read.
    drop(sim);
    drop(ready_file);
    reporter.summary(t, &reason, injected, &samples);
    Ok(())
}

fn signal_name(sig: usize) -> String {
    match sig as i32 {
        signal_hook::consts::SIGINT => "SIGINT",
        signal_hook::consts::SIGTERM => "SIGTERM",
        signal_hook::consts::SIGHUP => "SIGHUP",
        _ => "signal",
    }
    .to_string()
}

/// The ready file: written whole (via a rename) once everything is up, removed at exit.
struct ReadyFile {
    path: PathBuf,
}

impl ReadyFile {
    fn write(path: &Path, info: &sim::ReadyInfo) -> Result<Self, String> {
        let text = serde_json::to_string_pretty(info)
            .map_err(|e| format!("--ready-file: encoding: {e}"))?;
        let tmp = path.with_file_name(format!(
            ".{}.tmp{}",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        std::fs::write(&tmp, text + "\n")
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                format!("--ready-file {}: {e}", path.display())
            })?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for ReadyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
