//! The conformance rig: Amazon's DPDK ENA PMD (Debian's dpdk 22.11, `librte_net_ena`) drives our
//! device model, unmodified, through the PCI rig (see `dpdk-peer-rig.md` and `sim/README.md`).
//!
//! One [`Session`] = one device model behind a fresh fake PCI tree, hugepages in a private
//! hugetlbfs mount, `/dev/uio0` pointing at the rig's interrupt FIFO, and `dpdk-testpmd` started in
//! a private mount namespace (where `/sys/class/uio` is the rig's) with our LD_PRELOAD helper.
//! Everything is removed again on drop, also when a test fails.

#![allow(dead_code)]

use ena_sim::config::DeviceConfig;
use ena_sim::transport::inproc::{RunnerOptions, SimRunner};
use ena_sim::transport::pci_rig::{HugepageDma, HugepageReservation, Rig, RigConfig, RigDevice};
use ena_sim::wire::Wire;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Hugepages reserved for one testpmd run (2 MiB each).
const HUGEPAGES: usize = 384;
const BDF: &str = "0000:00:10.0";

/// Why the rig cannot run here, if it cannot.
pub fn unavailable() -> Option<String> {
    if !Path::new("/usr/bin/dpdk-testpmd").exists() {
        return Some("dpdk-testpmd not installed (apt-get install dpdk-dev)".into());
    }
    if pmd_dir().is_none() {
        return Some("librte_net_ena.so not found under /usr/lib/*/dpdk/pmds-*".into());
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("the rig needs root (hugepages, mounts, physical addresses)".into());
    }
    if let Err(why) = HugepageReservation::available() {
        return Some(why);
    }
    if Command::new("unshare").arg("--version").output().is_err() {
        return Some("unshare (util-linux) not found".into());
    }
    if Path::new("/dev/uio0").exists() || Path::new("/dev/uio0").is_symlink() {
        return Some("/dev/uio0 exists already; refusing to replace it".into());
    }
    if Command::new("cc").arg("--version").output().is_err() {
        return Some("no C compiler (cc) to build the LD_PRELOAD helper".into());
    }
    None
}

/// The folder holding Debian's DPDK PMD plugins.
pub fn pmd_dir() -> Option<PathBuf> {
    let lib = Path::new("/usr/lib");
    for arch in std::fs::read_dir(lib).ok()?.flatten() {
        let dpdk = arch.path().join("dpdk");
        let Ok(entries) = std::fs::read_dir(&dpdk) else {
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

/// Builds the LD_PRELOAD helper once per test binary.
fn shim() -> PathBuf {
    static SHIM: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut s = SHIM.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = &*s {
        return p.clone();
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dpdk/shim.c");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ena-rig-shim.so");
    let st = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
        .arg(&out)
        .arg(&src)
        .arg("-ldl")
        .status()
        .expect("run cc");
    assert!(st.success(), "building the LD_PRELOAD helper failed");
    *s = Some(out.clone());
    out
}

/// `/dev/uio0` → the rig's FIFO, for as long as this lives.
struct UioLink {
    path: PathBuf,
}

impl UioLink {
    fn create(target: &Path) -> std::io::Result<Self> {
        let path = PathBuf::from("/dev/uio0");
        std::os::unix::fs::symlink(target, &path)?;
        Ok(Self { path })
    }
}

impl Drop for UioLink {
    fn drop(&mut self) {
        if self.path.is_symlink() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Options for one session.
#[derive(Default)]
pub struct Options {
    /// The device's configuration.
    pub cfg: DeviceConfig,
    /// Plain register reads instead of readless (PCI class prog-if bit 0).
    pub plain_reads: bool,
}

/// A device model behind the rig, ready for testpmd.
pub struct Session {
    pub device: RigDevice,
    runner: Option<SimRunner>,
    uio: Option<UioLink>,
    rig: Rig,
    hugepages: HugepageReservation,
    prefix: String,
}

impl Session {
    pub fn new(tag: &str, opts: Options, wire: Box<dyn Wire>) -> Self {
        let pid = std::process::id();
        let prefix = format!("enarig{tag}{pid}");
        let hugepages = HugepageReservation::ensure(HUGEPAGES, None).expect("hugepages");
        let dir = std::env::temp_dir().join(format!("ena-dpdk-rig-{tag}-{pid}"));
        let mut rc = RigConfig::new(&dir).with_readless(!opts.plain_reads);
        rc.shm_prefix = format!("ena-dpdk-rig-{tag}-{pid}");
        if opts.cfg.llq.is_none() {
            rc.bar2_size = 0;
        }
        let rig = Rig::create(rc).expect("rig");
        let dma = HugepageDma::for_dpdk(hugepages.dir(), &prefix).expect("hugepage DMA");
        let device = RigDevice::new(&rig, opts.cfg, wire, dma).expect("device");
        // The device shares core 0 with testpmd's main and control threads; the forwarding lcore
        // gets core 1 to itself.
        let ropts = RunnerOptions {
            core: Some(0),
            ..RunnerOptions::default()
        };
        let runner = SimRunner::spawn_shared(vec![device.shared()], ropts).expect("device thread");
        let uio = UioLink::create(&rig.fifo_path()).expect("/dev/uio0 link");
        Self {
            device,
            runner: Some(runner),
            uio: Some(uio),
            rig,
            hugepages,
            prefix,
        }
    }

    /// Starts testpmd with EAL arguments for the rig, then `app_args` after `--`.
    pub fn testpmd(&self, devargs: &str, log: &str, app_args: &[&str]) -> Testpmd {
        let pmds = pmd_dir().expect("pmd dir");
        let allow = if devargs.is_empty() {
            BDF.to_string()
        } else {
            format!("{BDF},{devargs}")
        };
        let setup = format!(
            "mount -t tmpfs -o size=1M ena-rig-sysclass /sys/class && mkdir -p /sys/class/uio && \
             mount --bind {} /sys/class/uio && exec \"$@\"",
            self.rig.class_uio_dir().display()
        );
        let mut cmd = Command::new("unshare");
        cmd.args([
            "-m",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            &setup,
            "sh",
        ]);
        cmd.arg("/usr/bin/env");
        cmd.arg(format!("LD_PRELOAD={}", shim().display()));
        cmd.arg(format!(
            "SYSFS_PCI_DEVICES={}",
            self.rig.sysfs_pci_devices().display()
        ));
        cmd.arg("/usr/bin/dpdk-testpmd");
        cmd.args(["-l", "0-1", "-n", "1", "-a", &allow]);
        cmd.arg(format!("--file-prefix={}", self.prefix));
        cmd.arg("--huge-dir").arg(self.hugepages.dir());
        cmd.args(["-m", "600"]);
        cmd.arg("-d").arg(pmds.join("librte_net_ena.so"));
        cmd.arg("-d").arg(pmds.join("librte_mempool_ring.so"));
        cmd.arg(format!("--log-level=pmd.net.ena.*:{log}"));
        cmd.arg("--");
        // testpmd's default pool (~155k mbufs) would take 340 MB of hugepages; 32k is plenty.
        cmd.arg("--total-num-mbufs=32768");
        cmd.args(app_args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn testpmd");
        let out = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        for stream in [
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
        {
            let out = out.clone();
            readers.push(std::thread::spawn(move || {
                // Raw chunks, not lines: the prompt "testpmd> " ends without a newline.
                let mut stream = stream;
                let mut buf = [0u8; 8192];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => out
                            .lock()
                            .unwrap()
                            .push_str(&String::from_utf8_lossy(&buf[..n])),
                    }
                }
            }));
        }
        let stdin = child.stdin.take();
        Testpmd {
            child: Some(child),
            stdin,
            out,
            cursor: 0,
            readers,
        }
    }

    /// testpmd's `--file-prefix`.
    pub fn dpdk_prefix(&self) -> &str {
        &self.prefix
    }

    /// The rig's BAR files in /dev/shm.
    pub fn shm_files(&self) -> Vec<PathBuf> {
        vec![self.rig.bar_shm_path(0), self.rig.bar_shm_path(2)]
    }

    /// The private hugetlbfs mount.
    pub fn huge_dir(&self) -> &Path {
        self.hugepages.dir()
    }

    /// Device events so far.
    pub fn events(&self) -> Vec<ena_sim::events::Event> {
        self.device
            .events
            .snapshot()
            .into_iter()
            .map(|r| r.event)
            .collect()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.runner.take();
        self.uio.take();
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{}", self.prefix));
    }
}

/// A running testpmd fed commands on stdin.
pub struct Testpmd {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<String>>,
    cursor: usize,
    readers: Vec<std::thread::JoinHandle<()>>,
}

pub const PROMPT: &str = "testpmd> ";

impl Testpmd {
    /// Everything printed so far.
    pub fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// Waits until `pat` appears after the cursor; returns the text up to and including it.
    pub fn wait_for(&mut self, pat: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let out = self.out.lock().unwrap();
                if let Some(i) = out[self.cursor..].find(pat) {
                    let end = self.cursor + i + pat.len();
                    let text = out[self.cursor..end].to_string();
                    self.cursor = end;
                    return Ok(text);
                }
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    std::thread::sleep(Duration::from_millis(100));
                    let out = self.out.lock().unwrap();
                    if let Some(i) = out[self.cursor..].find(pat) {
                        let end = self.cursor + i + pat.len();
                        let text = out[self.cursor..end].to_string();
                        self.cursor = end;
                        return Ok(text);
                    }
                    return Err(format!("testpmd exited ({st}) before printing {pat:?}"));
                }
            }
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for {pat:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the interactive prompt.
    pub fn ready(&mut self) -> Result<String, String> {
        self.wait_for(PROMPT, Duration::from_secs(60))
    }

    /// Sends a command and returns its output (up to the next prompt).
    pub fn cmd(&mut self, cmd: &str) -> String {
        self.send(cmd);
        match self.wait_for(PROMPT, Duration::from_secs(30)) {
            Ok(t) => t,
            Err(e) => panic!("`{cmd}`: {e}\n--- testpmd output ---\n{}", self.output()),
        }
    }

    /// Sends a line without waiting.
    pub fn send(&mut self, cmd: &str) {
        if let Some(s) = self.stdin.as_mut() {
            let _ = writeln!(s, "{cmd}");
            let _ = s.flush();
        }
    }

    /// Quits and waits for the process; returns its exit code (None if killed).
    pub fn quit(mut self) -> Option<i32> {
        self.send("quit");
        self.finish(Duration::from_secs(30))
    }

    /// Closes stdin and waits for exit, killing testpmd after `timeout`.
    pub fn finish(&mut self, timeout: Duration) -> Option<i32> {
        self.stdin.take();
        let mut child = self.child.take()?;
        let deadline = Instant::now() + timeout;
        let code = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st.code(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        code
    }
}

impl Drop for Testpmd {
    fn drop(&mut self) {
        self.finish(Duration::from_secs(10));
    }
}

/// The counters testpmd prints in `show port stats`.
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
pub struct PortStats {
    pub rx_packets: u64,
    pub rx_missed: u64,
    pub rx_bytes: u64,
    pub rx_errors: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_bytes: u64,
}

/// The value after `key` (e.g. "RX-packets:") in testpmd output.
pub fn field(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)? + key.len();
    text[at..].split_whitespace().next()?.parse().ok()
}

pub fn parse_port_stats(text: &str) -> PortStats {
    let f = |k| field(text, k).unwrap_or_else(|| panic!("no {k} in:\n{text}"));
    PortStats {
        rx_packets: f("RX-packets:"),
        rx_missed: f("RX-missed:"),
        rx_bytes: f("RX-bytes:"),
        rx_errors: f("RX-errors:"),
        tx_packets: f("TX-packets:"),
        tx_errors: f("TX-errors:"),
        tx_bytes: f("TX-bytes:"),
    }
}

/// `name: value` pairs of `show port xstats`.
pub fn parse_xstats(text: &str) -> std::collections::HashMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// Prints the scenario line the issue asks for.
pub fn report(scenario: &str, result: &str) {
    println!("dpdk_pmd: {scenario:<44} {result}");
}

/// Waits until `f` holds (polling), or panics with `what`.
pub fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
