//! Side by side with Amazon's DPDK ENA PMD, on the same `ena-sim` devices and the same cores.
//!
//! For each scenario (io forwarding, burst 32, 64-byte frames; 1 then 2 queue pairs; host and
//! LLQ placement) and each run, in alternating order:
//!
//! 1. a fresh `ena-sim` process with two devices — port 0 a lossless generator
//!    (`gen:size=60:flows=1024:lossless`), port 1 a sink — polled by one thread pinned to the
//!    simulator's core (`--cores`), LLQ offered or not (`--llq on|off`), `--queues` as the
//!    scenario, 100 ms status lines as JSON;
//! 2. either DPDK's `dpdk-testpmd` (Debian's DPDK and its `librte_net_ena.so`) in io mode, run
//!    exactly as `tools/ena-sim/tests/cli.rs` (`dpdk_testpmd_attaches_to_an_ena_sim_process`)
//!    runs it: in a private mount namespace where `/sys/class/uio` holds the rigs' uio
//!    directories, with the `sim/tests/dpdk/shim.c` LD_PRELOAD helper, interactively
//!    (`start` … `stop`, `quit`); or our `fwd` example binary with the EAL arguments the ready
//!    file gives, `--json`;
//! 3. the rate is read from ena-sim's own status lines — frames port 1 transmitted, over a
//!    window that opens a warm-up after the first forwarded frame — the same counter, the same
//!    clock, for both drivers.
//!
//! Both drivers run their main lcore on the simulator's core (where it sleeps) and their one
//! forwarding lcore on the other core. This machine is noisy (identical runs vary by several
//! times), so each scenario alternates DPDK and ours run by run and only the ratio of the
//! medians of interleaved runs is meaningful.

use crate::stats::Summary;
use serde::Serialize;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the comparison runs.
#[derive(Clone, Debug)]
pub struct VsOptions {
    /// Runs per driver and scenario.
    pub runs: usize,
    /// Measured window per run.
    pub window: Duration,
    /// Warm-up after the first forwarded frame.
    pub warmup: Duration,
    /// The simulator's core (also both drivers' main lcore).
    pub sim_core: usize,
    /// The forwarding core.
    pub driver_core: usize,
    /// `ena-sim` program (default: found next to this program, or built).
    pub ena_sim: Option<PathBuf>,
    /// `fwd` example binary (default: found next to this program, or built).
    pub fwd: Option<PathBuf>,
    /// Scenarios to run (default: all four).
    pub scenarios: Vec<Scenario>,
    /// Progress lines on stderr.
    pub verbose: bool,
}

/// One scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Scenario {
    /// Queue pairs per port.
    pub queues: u16,
    /// LLQ offered by the device (and so used by both drivers).
    pub llq: bool,
}

impl Scenario {
    /// 1 and 2 queue pairs, host and LLQ.
    pub fn all() -> Vec<Scenario> {
        let mut v = Vec::new();
        for queues in [1, 2] {
            for llq in [false, true] {
                v.push(Scenario { queues, llq });
            }
        }
        v
    }

    /// e.g. `q1 llq`.
    pub fn label(&self) -> String {
        format!("q{} {}", self.queues, if self.llq { "llq" } else { "host" })
    }
}

/// Which driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// Amazon's DPDK ENA PMD under testpmd.
    Dpdk,
    /// This project's driver under fwd.
    Ours,
}

/// One scenario's result.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioResult {
    /// The scenario.
    pub scenario: Scenario,
    /// DPDK testpmd, Mpps per run (ena-sim's count).
    pub dpdk: Summary,
    /// Ours, Mpps per run (ena-sim's count).
    pub ours: Summary,
    /// fwd's own total_mpps per run (whole run, ramp included), as a cross-check.
    pub ours_self_reported: Summary,
    /// Median(ours) / median(DPDK).
    pub ratio: f64,
    /// Per run pair, ours / DPDK (the pair ran back to back).
    pub pair_ratios: Summary,
}

/// Why the comparison cannot run here, if it cannot.
pub fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (hugepages, mount namespaces, physical addresses)".into());
    }
    if !Path::new("/usr/bin/dpdk-testpmd").exists() {
        return Some("dpdk-testpmd not installed (apt-get install -y dpdk)".into());
    }
    if dpdk_pmd_dir().is_none() {
        return Some("librte_net_ena.so not found under /usr/lib/*/dpdk/pmds-*".into());
    }
    if let Err(why) = ena_sim::transport::pci_rig::HugepageReservation::available() {
        return Some(format!("hugepages: {why}"));
    }
    for tool in ["unshare", "cc"] {
        if Command::new(tool).arg("--version").output().is_err() {
            return Some(format!("{tool} not found"));
        }
    }
    for uio in ["/dev/uio0", "/dev/uio1"] {
        if std::fs::symlink_metadata(uio).is_ok() {
            return Some(format!(
                "{uio} exists (another rig is running?); ena-sim --uio-links will not replace it"
            ));
        }
    }
    if !shim_source().exists() {
        return Some(format!("{} is missing", shim_source().display()));
    }
    None
}

/// Debian's PMD directory, e.g. /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0.
pub fn dpdk_pmd_dir() -> Option<PathBuf> {
    for arch in std::fs::read_dir("/usr/lib").ok()?.flatten() {
        let Ok(entries) = std::fs::read_dir(arch.path().join("dpdk")) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("pmds-")
                && e.path().join("librte_net_ena.so").exists()
            {
                return Some(e.path());
            }
        }
    }
    None
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shim_source() -> PathBuf {
    workspace().join("sim/tests/dpdk/shim.c")
}

/// The release build of `rel` (e.g. `ena-sim`, `examples/fwd`), brought up to date with cargo
/// first (a no-op when nothing changed): a stale program would compare an old device model or
/// an old `fwd`. Without cargo (e.g. under `sudo` with a PATH that lacks it), an existing build
/// is used, with a warning.
pub fn find_or_build(rel: &str, build_args: &[&str]) -> Result<PathBuf, String> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let built = target.join("release").join(rel);
    let status = Command::new("cargo")
        .arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(workspace().join("Cargo.toml"))
        .args(build_args)
        .stdout(Stdio::null())
        .status();
    match status {
        Ok(st) if st.success() && built.is_file() => return Ok(built),
        Ok(st) if st.success() => {
            return Err(format!("{} missing after the build", built.display()))
        }
        Ok(_) => return Err(format!("cargo build {} failed", build_args.join(" "))),
        Err(e) => eprintln!(
            "ena-pps: cannot run cargo ({e}); using the existing build of {rel}, which may be stale"
        ),
    }
    let mut candidates = vec![built];
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join(rel));
            candidates.push(dir.join("../release").join(rel));
        }
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{rel} is not built and cargo is not available to build it"))
}

fn scratch(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ena-pps-{tag}-{}", std::process::id()))
}

/// Sends SIGTERM (then SIGKILL after `grace`) to a child we started, and reaps it.
fn stop_child(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let t0 = Instant::now();
    while t0.elapsed() < grace {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// One `(t, port 1 tx_pkts)` sample from a status line.
type Sample = (f64, u64);

/// A running `ena-sim --json`.
struct EnaSim {
    child: Child,
    samples: Arc<Mutex<Vec<Sample>>>,
    stderr: Arc<Mutex<String>>,
    ready_file: PathBuf,
    ready: Value,
}

impl EnaSim {
    fn start(bin: &Path, sc: Scenario, sim_core: usize, uio_links: bool) -> Result<EnaSim, String> {
        let ready_file = scratch("ready.json");
        let rig_dir = scratch("rig");
        let _ = std::fs::remove_file(&ready_file);
        let mut cmd = Command::new(bin);
        cmd.args(["--hugepages", "512", "--interval", "100ms", "--json"])
            .args(["--cores", &sim_core.to_string()])
            .args(["--queues", &sc.queues.to_string()])
            .args(["--llq", if sc.llq { "on" } else { "off" }])
            .args(["--dev", "gen:size=60:flows=1024:lossless", "--dev", "sink"])
            .arg("--ready-file")
            .arg(&ready_file)
            .arg("--rig-dir")
            .arg(&rig_dir)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if uio_links {
            cmd.arg("--uio-links");
        }
        let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", bin.display()))?;
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(out) = child.stdout.take() {
            let s = samples.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    let Ok(v) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    if v["event"] == "status" {
                        let t = v["t"].as_f64().unwrap_or(0.0);
                        let tx = v["ports"][1]["tx_pkts"].as_u64().unwrap_or(0);
                        s.lock().unwrap_or_else(|e| e.into_inner()).push((t, tx));
                    }
                }
            });
        }
        if let Some(mut err) = child.stderr.take() {
            let e = stderr.clone();
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = err.read_to_string(&mut s);
                e.lock().unwrap_or_else(|e| e.into_inner()).push_str(&s);
            });
        }
        let t0 = Instant::now();
        let ready = loop {
            if let Ok(text) = std::fs::read_to_string(&ready_file) {
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    break v;
                }
            }
            if let Ok(Some(st)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return Err(format!(
                    "ena-sim exited ({st}) before it was ready: {}",
                    stderr.lock().unwrap_or_else(|e| e.into_inner()).trim()
                ));
            }
            if t0.elapsed() > Duration::from_secs(60) {
                stop_child(&mut child, Duration::from_secs(5));
                return Err("ena-sim was not ready within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(EnaSim {
            child,
            samples,
            stderr,
            ready_file,
            ready,
        })
    }

    /// Waits for forwarding to start, then `warmup`, then measures `window`: Mpps of port 1's
    /// transmitted frames. `alive` says whether the driver is still running.
    fn measure(
        &self,
        warmup: Duration,
        window: Duration,
        mut alive: impl FnMut() -> bool,
    ) -> Result<f64, String> {
        let deadline = Instant::now() + Duration::from_secs(60) + warmup + window;
        let mut first: Option<f64> = None;
        let mut open: Option<Sample> = None;
        loop {
            {
                let s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
                if first.is_none() {
                    first = s.iter().find(|x| x.1 > 0).map(|x| x.0);
                }
                if let (Some(f), None) = (first, open) {
                    open = s.iter().find(|x| x.0 >= f + warmup.as_secs_f64()).copied();
                }
                if let Some(o) = open {
                    if let Some(c) = s.iter().find(|x| x.0 >= o.0 + window.as_secs_f64()) {
                        let dt = c.0 - o.0;
                        return Ok((c.1 - o.1) as f64 / dt / 1e6);
                    }
                }
            }
            if Instant::now() > deadline {
                return Err("no forwarding seen in ena-sim's status lines".into());
            }
            if !alive() {
                return Err("the driver exited before the window closed".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(mut self) {
        stop_child(&mut self.child, Duration::from_secs(20));
        let _ = std::fs::remove_file(&self.ready_file);
    }

    fn stderr_text(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for EnaSim {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(20));
    }
}

/// A running testpmd and its output.
struct Testpmd {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<String>>,
    runtime_dir: PathBuf,
}

impl Testpmd {
    fn wait_for(&self, pat: &str, from: usize, limit: Duration) -> Result<usize, String> {
        let t0 = Instant::now();
        loop {
            {
                let o = self.out.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(i) = o.get(from..).and_then(|s| s.find(pat)) {
                    return Ok(from + i + pat.len());
                }
            }
            if t0.elapsed() > limit {
                let o = self.out.lock().unwrap_or_else(|e| e.into_inner());
                let tail: String = o
                    .chars()
                    .rev()
                    .take(1500)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                return Err(format!(
                    "testpmd never printed {pat:?}; its output ends:\n{tail}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn send(&mut self, line: &str) {
        if let Some(s) = self.stdin.as_mut() {
            let _ = writeln!(s, "{line}");
        }
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn quit(mut self) {
        self.send("quit");
        self.stdin.take();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(15) {
            if !self.alive() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Testpmd {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(5));
        let _ = std::fs::remove_dir_all(&self.runtime_dir);
    }
}

fn collect_output(child: &mut Child) -> Arc<Mutex<String>> {
    let out = Arc::new(Mutex::new(String::new()));
    let streams: Vec<Box<dyn Read + Send>> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    for mut s in streams {
        let out = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    out
}

fn str_of<'a>(v: &'a Value, what: &str) -> Result<&'a str, String> {
    v.as_str()
        .ok_or_else(|| format!("ena-sim's ready file lacks {what}"))
}

struct Tools {
    ena_sim: PathBuf,
    fwd: PathBuf,
    shim: PathBuf,
    pmds: PathBuf,
}

fn run_dpdk(t: &Tools, o: &VsOptions, sc: Scenario) -> Result<f64, String> {
    let sim = EnaSim::start(&t.ena_sim, sc, o.sim_core, true)?;
    let r = &sim.ready;
    let ports = r["ports"].as_array().ok_or("ready file has no ports")?;
    let mut setup = String::from(
        "mount -t tmpfs -o size=1M ena-pps-sysclass /sys/class && mkdir -p /sys/class/uio",
    );
    let mut allow = Vec::new();
    for p in ports {
        let uio = str_of(&p["uio"], "uio")?;
        let class_uio = str_of(&p["class_uio"], "class_uio")?;
        setup += &format!(
            " && mkdir -p /sys/class/uio/{uio} && mount --bind {class_uio}/{uio} /sys/class/uio/{uio}"
        );
        allow.push("-a".to_string());
        allow.push(str_of(&p["bdf"], "bdf")?.to_string());
    }
    setup += " && exec \"$@\"";
    let prefix = str_of(&ports[0]["file_prefix"], "file_prefix")?;
    let mut app = vec![
        "--".to_string(),
        "-i".into(),
        "--total-num-mbufs=32768".into(),
        "--no-flush-rx".into(),
        "--forward-mode=io".into(),
        "--burst=32".into(),
        format!("--rxq={}", sc.queues),
        format!("--txq={}", sc.queues),
        "--rxd=1024".into(),
        "--txd=1024".into(),
        "--nb-cores=1".into(),
    ];
    if sc.queues > 1 {
        // Spread the generator's UDP flows (they differ in source port only).
        app.push("--rss-udp".into());
    }
    let mut child = Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            &setup,
            "sh",
        ])
        .arg("/usr/bin/env")
        .arg(format!("LD_PRELOAD={}", t.shim.display()))
        .arg(format!(
            "SYSFS_PCI_DEVICES={}",
            str_of(&r["pci_sysfs"], "pci_sysfs")?
        ))
        .arg("/usr/bin/dpdk-testpmd")
        .args(["-l", &format!("{},{}", o.sim_core, o.driver_core)])
        .args([
            "--main-lcore",
            &o.sim_core.to_string(),
            "-n",
            "1",
            "-m",
            "600",
        ])
        .args(&allow)
        .arg(format!("--file-prefix={prefix}"))
        .arg("--huge-dir")
        .arg(str_of(&r["huge_dir"], "huge_dir")?)
        .arg("-d")
        .arg(t.pmds.join("librte_net_ena.so"))
        .arg("-d")
        .arg(t.pmds.join("librte_mempool_ring.so"))
        .args(&app)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("testpmd: {e}"))?;
    let out = collect_output(&mut child);
    let stdin = child.stdin.take();
    let mut tp = Testpmd {
        child,
        stdin,
        out,
        runtime_dir: Path::new("/var/run/dpdk").join(prefix),
    };
    let at = tp.wait_for("testpmd> ", 0, Duration::from_secs(60))?;
    tp.send("start");
    tp.wait_for("testpmd> ", at, Duration::from_secs(20))?;
    let rate = sim.measure(o.warmup, o.window, || tp.alive());
    tp.send("stop");
    tp.quit();
    let err = sim.stderr_text();
    sim.stop();
    rate.map_err(|e| format!("{e} {}", err.trim()))
}

fn run_ours(t: &Tools, o: &VsOptions, sc: Scenario) -> Result<(f64, f64), String> {
    let sim = EnaSim::start(&t.ena_sim, sc, o.sim_core, false)?;
    let eal: Vec<String> = sim.ready["eal_args"]
        .as_array()
        .ok_or("ready file has no eal_args")?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    // Long enough for start-up, the warm-up and the window; the window is what counts.
    let duration = (o.warmup + o.window).as_secs_f64() + 3.0;
    let mut child = Command::new(&t.fwd)
        .args(["-l", &format!("{},{}", o.sim_core, o.driver_core)])
        .args(["--main-lcore", &o.sim_core.to_string()])
        .args(&eal)
        .args(["--", "--mode", "io", "--burst", "32"])
        .args(["--queues", &sc.queues.to_string()])
        .args(["--duration", &format!("{duration}"), "--json", "--quiet"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", t.fwd.display()))?;
    let out = collect_output(&mut child);
    let rate = sim.measure(o.warmup, o.window, || matches!(child.try_wait(), Ok(None)));
    let t0 = Instant::now();
    while matches!(child.try_wait(), Ok(None)) && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop_child(&mut child, Duration::from_secs(5));
    let text = out.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let own = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v["total_mpps"].as_f64())
        .unwrap_or(f64::NAN);
    let err = sim.stderr_text();
    sim.stop();
    let rate = rate.map_err(|e| {
        format!(
            "{e}; fwd said: {}; ena-sim said: {}",
            text.trim(),
            err.trim()
        )
    })?;
    Ok((rate, own))
}

/// Runs every scenario, alternating the drivers run by run.
pub fn run(o: &VsOptions) -> Result<Vec<ScenarioResult>, String> {
    let ena_sim = match &o.ena_sim {
        Some(p) => p.clone(),
        None => find_or_build("ena-sim", &["-p", "ena-sim-cli", "--bin", "ena-sim"])?,
    };
    let fwd = match &o.fwd {
        Some(p) => p.clone(),
        None => find_or_build("examples/fwd", &["-p", "dpdk-shim", "--example", "fwd"])?,
    };
    let shim = scratch("testpmd-shim.so");
    let cc = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&shim)
        .arg(shim_source())
        .arg("-ldl")
        .status()
        .map_err(|e| format!("cc: {e}"))?;
    if !cc.success() {
        return Err("building the LD_PRELOAD helper (shim.c) failed".into());
    }
    let tools = Tools {
        ena_sim,
        fwd,
        shim: shim.clone(),
        pmds: dpdk_pmd_dir().ok_or("no DPDK PMD directory")?,
    };
    let mut results = Vec::new();
    for sc in &o.scenarios {
        let (mut dpdk, mut ours, mut own, mut pairs) = (vec![], vec![], vec![], vec![]);
        for run in 0..o.runs {
            let order = if run % 2 == 0 {
                [Driver::Dpdk, Driver::Ours]
            } else {
                [Driver::Ours, Driver::Dpdk]
            };
            let mut this = (f64::NAN, f64::NAN);
            for d in order {
                match d {
                    Driver::Dpdk => {
                        let r = run_dpdk(&tools, o, *sc)?;
                        dpdk.push(r);
                        this.0 = r;
                    }
                    Driver::Ours => {
                        let (r, s) = run_ours(&tools, o, *sc)?;
                        ours.push(r);
                        own.push(s);
                        this.1 = r;
                    }
                }
                if o.verbose {
                    eprintln!(
                        "vs-dpdk {} run {}/{}: {:?} {:.3} Mpps",
                        sc.label(),
                        run + 1,
                        o.runs,
                        d,
                        if d == Driver::Dpdk { this.0 } else { this.1 }
                    );
                }
            }
            pairs.push(this.1 / this.0);
        }
        let (d, u) = (Summary::of(&dpdk), Summary::of(&ours));
        results.push(ScenarioResult {
            scenario: *sc,
            ratio: if d.median > 0.0 {
                u.median / d.median
            } else {
                f64::NAN
            },
            dpdk: d,
            ours: u,
            ours_self_reported: Summary::of(&own),
            pair_ratios: Summary::of(&pairs),
        });
    }
    let _ = std::fs::remove_file(&shim);
    Ok(results)
}
