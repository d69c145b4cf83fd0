//! Support for the end-to-end tests in `e2e_netns.rs`: scratch network namespaces that are
//! removed whatever happens ([`Lab`]), `ip` and `sysctl` helpers, the kernel's own counters of a
//! namespace ([`Snmp`]), `fwd` on its own thread ([`FwdRun`]) and the `l4lb` example as a
//! separate process ([`L4lbProc`]).
//!
//! Everything a test creates is named `ena-e2e-<pid>-<test>-...`: namespaces, and temporary
//! files in the temp directory. Interfaces are only ever created inside those namespaces (veth
//! pairs are created with both ends there), so deleting a namespace deletes them too and the
//! host's own namespace is never touched. A run that crashed (its pid gone) leaves names that
//! the next run recognises and removes ([`clean_leftovers`]).
//!
//! Drop order matters: a test declares its [`Lab`] first, so that the guards declared after it
//! (a running `fwd`, an `l4lb` process, server threads holding sockets in the namespaces) are
//! dropped, and stop, before the namespaces go.

pub mod backend;
pub mod ipip;
pub mod sock;

use dpdk_shim::prelude::*;
use dpdk_shim::vdev::WireHandle;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The prefix of every name these tests give.
pub const PREFIX: &str = "ena-e2e";

/// Runs `ip` with `args`; the error carries its stderr.
pub fn ip(args: &[&str]) -> Result<String, String> {
    run_tool("ip", args)
}

/// Like [`ip`], for setup steps that must work once namespaces do.
pub fn ip_ok(args: &[&str]) -> String {
    ip(args).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `program args...` and returns its stdout, or an error with its stderr.
pub fn run_tool(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Sets sysctls (`name=value`) inside namespace `ns`.
pub fn sysctl(ns: &str, settings: &[&str]) {
    let mut args = vec!["netns", "exec", ns, "sysctl", "-qw"];
    args.extend_from_slice(settings);
    ip_ok(&args);
}

/// Unwraps a setup step, or prints why the test is skipped and returns from it.
#[macro_export]
macro_rules! or_skip {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(why) => {
                println!("SKIPPED: {why}");
                return;
            }
        }
    };
}

/// Whether this process runs as root (effective uid 0).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Holds the tests of this target one at a time, also when the harness runs them in
/// parallel: each pins lcores to the same two CPUs and measures throughput.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The names the tests give interfaces (inside their namespaces); none may appear in the
/// host's namespace.
pub const OUR_INTERFACES: [&str; 11] = [
    "fa", "fb", "lb0", "tocl", "tort", "front", "br1", "be1", "be2", "be3", "dec0",
];

/// Interface names in the namespace of this process.
fn host_interfaces() -> Vec<String> {
    ip(&["-o", "link", "show"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        .collect()
}

/// Removes the namespaces and files of runs whose process is gone (a crashed or killed run
/// could not clean up after itself). Runs going on beside this one keep theirs.
pub fn clean_leftovers() {
    let dead = |name: &str| -> bool {
        let Some(rest) = name.strip_prefix(PREFIX).and_then(|r| r.strip_prefix('-')) else {
            return false;
        };
        match rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) {
            Some(pid) => pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists(),
            None => false,
        }
    };
    if let Ok(list) = ip(&["netns", "list"]) {
        for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
            if dead(name) {
                match ip(&["netns", "del", name]) {
                    Ok(_) => println!("cleanup: removed leftover namespace {name}"),
                    Err(e) => eprintln!("cleanup: {e}"),
                }
            }
        }
    }
    if let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if dead(&name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Temporary files of one test, `<tmp>/ena-e2e-<pid>-<test>-<name>`, removed on drop.
pub struct TempFiles {
    test: String,
    paths: Vec<PathBuf>,
}

impl TempFiles {
    pub fn new(test: &str) -> TempFiles {
        clean_leftovers();
        TempFiles {
            test: test.into(),
            paths: Vec::new(),
        }
    }

    /// A path for file `name` (removed now if a file is there, and on drop).
    pub fn file(&mut self, name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "{PREFIX}-{}-{}-{name}",
            std::process::id(),
            self.test
        ));
        let _ = std::fs::remove_file(&p);
        self.paths.push(p.clone());
        p
    }
}

impl Drop for TempFiles {
    fn drop(&mut self) {
        for f in &self.paths {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// One test's scratch world: network namespaces and files, all removed on drop (also when
/// the test panics).
pub struct Lab {
    test: String,
    namespaces: Vec<String>,
    files: TempFiles,
    started: Instant,
    /// Interfaces of the host's namespace when the lab was made.
    host_before: Vec<String>,
}

impl Lab {
    /// A lab for test `test` (a short word: it is part of every name), or the reason it cannot
    /// run here (network namespaces cannot be made, or fewer than two CPUs for the lcores).
    pub fn new(test: &str) -> Result<Lab, String> {
        if !is_root() {
            return Err("not root: network namespaces and TAP interfaces need root".into());
        }
        if !Path::new("/dev/net/tun").exists() {
            return Err("no /dev/net/tun".into());
        }
        ip(&["-V"]).map_err(|e| format!("no iproute2 ({e})"))?;
        two_lcores()?;
        let mut lab = Lab {
            test: test.into(),
            namespaces: Vec::new(),
            files: TempFiles::new(test),
            started: Instant::now(),
            host_before: host_interfaces(),
        };
        // The first namespace tells whether namespaces work at all; later failures are bugs.
        lab.try_netns("probe")
            .map_err(|e| format!("cannot create network namespaces ({e})"))?;
        Ok(lab)
    }

    fn try_netns(&mut self, short: &str) -> Result<String, String> {
        let name = format!("{PREFIX}-{}-{}-{short}", std::process::id(), self.test);
        let _ = ip(&["netns", "del", &name]);
        ip(&["netns", "add", &name])?;
        self.namespaces.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        // Quiet namespaces: no IPv6 router solicitations, DAD or MLD among the frames.
        let _ = ip(&[
            "netns",
            "exec",
            &name,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ]);
        Ok(name)
    }

    /// A new network namespace `ena-e2e-<pid>-<test>-<short>`, with `lo` up.
    pub fn netns(&mut self, short: &str) -> String {
        self.try_netns(short)
            .unwrap_or_else(|e| panic!("namespace {short}: {e}"))
    }

    /// A path in the temp directory for this test, removed on drop.
    pub fn file(&mut self, name: &str) -> PathBuf {
        self.files.file(name)
    }

    /// A persistent TAP interface `name` in `ns` at `mtu`, up (the wire of a simulated port
    /// opens it; it stays until its namespace goes).
    pub fn tap(&self, ns: &str, name: &str, mtu: u32) {
        ip_ok(&["-n", ns, "tuntap", "add", "dev", name, "mode", "tap"]);
        ip_ok(&["-n", ns, "link", "set", name, "mtu", &mtu.to_string(), "up"]);
    }

    /// A veth pair: `a` in `ns_a`, `b` in `ns_b`, both up.
    pub fn veth(&self, ns_a: &str, a: &str, ns_b: &str, b: &str) {
        ip_ok(&[
            "-n", ns_a, "link", "add", a, "type", "veth", "peer", "name", b, "netns", ns_b,
        ]);
        ip_ok(&["-n", ns_a, "link", "set", a, "up"]);
        ip_ok(&["-n", ns_b, "link", "set", b, "up"]);
    }

    /// Seconds since the lab was made.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

impl Lab {
    /// Removes everything and says what could not be removed.
    fn clean(&mut self) -> Result<(), String> {
        // Deleting a namespace deletes the interfaces in it, veth peers and bridges included.
        let mut errors = Vec::new();
        for ns in self.namespaces.drain(..).rev() {
            if let Err(e) = ip(&["netns", "del", &ns]) {
                errors.push(e);
            }
        }
        let mine = format!("{PREFIX}-{}-{}-", std::process::id(), self.test);
        let left: Vec<String> = ip(&["netns", "list"])
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with(&mine))
            .map(str::to_owned)
            .collect();
        if !left.is_empty() {
            errors.push(format!("namespaces left behind: {left:?}"));
        }
        let leaked: Vec<String> = host_interfaces()
            .into_iter()
            .filter(|n| OUR_INTERFACES.contains(&n.as_str()) && !self.host_before.contains(n))
            .collect();
        if !leaked.is_empty() {
            errors.push(format!("interfaces in the host namespace: {leaked:?}"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Ends the lab at the end of a test that passed: removes everything and fails the test
    /// if something is left (a namespace, an interface in the host's namespace).
    pub fn close(mut self) {
        let n = self.namespaces.len();
        let r = self.clean();
        println!(
            "[{}] cleanup: {n} namespace(s) removed after {:.1} s, none left: {}",
            self.test,
            self.elapsed(),
            r.is_ok()
        );
        if let Err(e) = r {
            panic!("cleanup: {e}");
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.namespaces.is_empty() {
            return;
        }
        let n = self.namespaces.len();
        match self.clean() {
            Ok(()) => println!(
                "[{}] cleanup after a failure: {n} namespace(s) removed after {:.1} s",
                self.test,
                self.elapsed()
            ),
            Err(e) => eprintln!("[{}] cleanup: {e}", self.test),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The kernel's counters
// ---------------------------------------------------------------------------------------------

/// The SNMP and extended counters of one namespace (`/proc/net/snmp` and `/proc/net/netstat`
/// as `nstat -az` reads them), by `Group.Name`, e.g. `Tcp.RetransSegs`.
#[derive(Clone, Debug, Default)]
pub struct Snmp(HashMap<String, u64>);

impl Snmp {
    /// Reads the counters of namespace `ns` (through a thread inside it: `/proc/thread-self`
    /// shows that thread's namespace).
    pub fn read(ns: &str) -> Snmp {
        let text = sock::in_ns(ns, || {
            let mut t = std::fs::read_to_string("/proc/thread-self/net/snmp")?;
            t += &std::fs::read_to_string("/proc/thread-self/net/netstat")?;
            Ok(t)
        })
        .unwrap_or_else(|e| panic!("counters of {ns}: {e}"));
        let mut map = HashMap::new();
        let lines: Vec<&str> = text.lines().collect();
        // Pairs of lines: "Group: names..." then "Group: values...".
        for pair in lines.chunks(2) {
            let [names, values] = pair else { continue };
            let (Some((group, names)), Some((_, values))) =
                (names.split_once(':'), values.split_once(':'))
            else {
                continue;
            };
            for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
                if let Ok(v) = v.parse::<i64>() {
                    map.insert(format!("{group}.{n}"), v.max(0) as u64);
                }
            }
        }
        Snmp(map)
    }

    /// A counter (0 when the kernel does not have it).
    pub fn get(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }

    /// `self - before` for `name`.
    pub fn delta(&self, before: &Snmp, name: &str) -> u64 {
        self.get(name).saturating_sub(before.get(name))
    }
}

/// The kernel's counters of interface `dev` in `ns` (`ip -s link`): packets and drops each
/// way, from the kernel's point of view (`tx` is what the kernel sent into the interface).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub rx_packets: u64,
    pub rx_dropped: u64,
    pub rx_errors: u64,
    pub tx_packets: u64,
    pub tx_dropped: u64,
    pub tx_errors: u64,
}

impl LinkStats {
    /// The counters once they have stopped moving (two reads 100 ms apart agree; at most 3 s):
    /// frames still in flight are counted at both ends.
    pub fn settled(ns: &str, dev: &str) -> LinkStats {
        let t0 = Instant::now();
        let mut last = Self::read(ns, dev);
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = Self::read(ns, dev);
            if now == last || t0.elapsed() > Duration::from_secs(3) {
                return now;
            }
            last = now;
        }
    }

    /// `self - before`, counter by counter.
    pub fn since(&self, before: &LinkStats) -> LinkStats {
        LinkStats {
            rx_packets: self.rx_packets.saturating_sub(before.rx_packets),
            rx_dropped: self.rx_dropped.saturating_sub(before.rx_dropped),
            rx_errors: self.rx_errors.saturating_sub(before.rx_errors),
            tx_packets: self.tx_packets.saturating_sub(before.tx_packets),
            tx_dropped: self.tx_dropped.saturating_sub(before.tx_dropped),
            tx_errors: self.tx_errors.saturating_sub(before.tx_errors),
        }
    }

    pub fn read(ns: &str, dev: &str) -> LinkStats {
        let out = ip_ok(&["-n", ns, "-s", "-j", "link", "show", "dev", dev]);
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("ip -s -j link: {e}: {out}"));
        let s = &v[0]["stats64"];
        let n = |dir: &str, what: &str| s[dir][what].as_u64().unwrap_or(0);
        LinkStats {
            rx_packets: n("rx", "packets"),
            rx_dropped: n("rx", "dropped"),
            rx_errors: n("rx", "errors"),
            tx_packets: n("tx", "packets"),
            tx_dropped: n("tx", "dropped"),
            tx_errors: n("tx", "errors"),
        }
    }
}

/// The TCP counters worth printing when a transfer is judged: retransmissions by kind and
/// duplicate data seen by receivers.
pub const TCP_DETAIL: [&str; 10] = [
    "Tcp.RetransSegs",
    "TcpExt.TCPLostRetransmit",
    "TcpExt.TCPFastRetrans",
    "TcpExt.TCPSlowStartRetrans",
    "TcpExt.TCPTimeouts",
    "TcpExt.TCPLossProbes",
    "TcpExt.TCPSpuriousRTOs",
    "TcpExt.TCPDSACKRecv",
    "TcpExt.TCPDSACKOldSent",
    "TcpExt.TCPOFOQueue",
];

/// `name=delta` for each of `names` that changed.
pub fn changed(before: &Snmp, after: &Snmp, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter_map(|n| {
            let d = after.delta(before, n);
            (d != 0).then(|| format!("{n}={d}"))
        })
        .collect()
}

/// The counters that say a checksum was found bad.
pub const CSUM_ERRORS: [&str; 5] = [
    "Ip.InHdrErrors",
    "IpExt.InCsumErrors",
    "Tcp.InCsumErrors",
    "Udp.InCsumErrors",
    "Icmp.InCsumErrors",
];

// ---------------------------------------------------------------------------------------------
// fwd on its own thread
// ---------------------------------------------------------------------------------------------

/// What a finished `fwd` run returns: its summary and each port's statistics.
pub struct FwdResult {
    pub summary: crate::fwd::Summary,
    pub stats: Vec<EthStats>,
}

/// `fwd` running on a thread of its own, which becomes the main lcore (the EAL pins it), so
/// the test's threads stay unpinned. Dropping it stops `fwd` and drops the EAL.
pub struct FwdRun {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<FwdResult, String>>>,
    /// The wires of the ports, in port order.
    pub wires: Vec<WireHandle>,
    /// The device models' own counters, in port order.
    pub devices: Vec<ena_sim::stats::StatsHandle>,
}

/// The EAL's lcore list: the first two CPUs this process may use (main and one worker), or
/// why there are not two.
pub fn two_lcores() -> Result<String, String> {
    let cpus = dpdk_shim::args::allowed_cpus();
    if cpus.len() < 2 {
        return Err(format!(
            "fwd needs two CPUs (a main and a worker lcore); this process may use {cpus:?}"
        ));
    }
    Ok(format!("{},{}", cpus[0], cpus[1]))
}

impl FwdRun {
    /// Starts the EAL with `vdevs` (each a `--vdev` value) on two lcores and runs
    /// `fwd::run_with` with `opts` until [`FwdRun::finish`].
    pub fn start(vdevs: &[String], opts: crate::fwd::Opts) -> Result<FwdRun, String> {
        let mut argv = vec!["fwd".to_string(), "-l".into(), two_lcores()?];
        for v in vdevs {
            argv.push("--vdev".into());
            argv.push(v.clone());
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("fwd-main-lcore".into())
            .spawn(move || {
                let eal = match Eal::init(&argv) {
                    Ok((eal, _)) => eal,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("EAL {argv:?}: {e}")));
                        return Err("no EAL".into());
                    }
                };
                let sims: Vec<_> = (0..eal.port_count())
                    .filter_map(|p| eal.sim_port(p))
                    .collect();
                let wires = sims.iter().map(|s| s.wire.clone()).collect();
                let devices = sims.iter().map(|s| s.device.stats.clone()).collect();
                let _ = ready_tx.send(Ok((wires, devices)));
                let summary = crate::fwd::run_with(&eal, &opts, s).map_err(|e| e.to_string())?;
                let stats = eal
                    .ports()
                    .map(|p| p.stats_get())
                    .collect::<dpdk_shim::Result<Vec<_>>>()
                    .map_err(|e| e.to_string())?;
                Ok(FwdResult { summary, stats })
            })
            .map_err(|e| e.to_string())?;
        let (wires, devices) = match ready_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(w)) => w,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                return Err("the EAL did not start within 30 s".into());
            }
        };
        Ok(FwdRun {
            stop,
            thread: Some(thread),
            wires,
            devices,
        })
    }

    /// Stops `fwd` and returns what it counted.
    pub fn finish(mut self) -> Result<FwdResult, String> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err("the fwd thread panicked".into()),
            None => Err("fwd already finished".into()),
        }
    }
}

impl Drop for FwdRun {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `fwd`'s options as these tests start from: its defaults (io mode, 1024-entry rings, no
/// retry), quiet, one queue pair. Parsed as its command line is, so that options added to
/// `fwd` later take their defaults here too.
pub fn fwd_opts() -> crate::fwd::Opts {
    use clap::Parser;
    crate::fwd::Opts::try_parse_from(["fwd", "--quiet", "--queues", "1"])
        .unwrap_or_else(|e| panic!("fwd options: {e}"))
}

/// Checks `fwd`'s own arithmetic: in each direction what was received was sent or dropped,
/// and a port sent what its peer forwarded.
pub fn check_fwd_counters(s: &crate::fwd::Summary) {
    for d in &s.directions {
        assert_eq!(
            d.rx_packets,
            d.tx_packets + d.dropped,
            "fwd direction {} -> {}: rx = tx + dropped",
            d.from,
            d.to
        );
    }
    for p in &s.ports {
        let peer = &s.directions[p.peer as usize];
        assert_eq!(p.tx_packets, peer.tx_packets, "port {} sent", p.port);
    }
}

// ---------------------------------------------------------------------------------------------
// l4lb as a process
// ---------------------------------------------------------------------------------------------

/// Builds the `l4lb` example once per test run (same profile and target directory as this
/// test) and returns its path.
pub fn l4lb_binary() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            // This executable is <target>/<profile>/deps/e2e_netns-<hash>.
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .ok_or("cannot tell the target directory from the test's path")?;
            let profile = profile_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let target_dir = profile_dir
                .parent()
                .ok_or("cannot tell the target directory")?;
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["build", "--quiet", "-p", "dpdk-shim", "--example", "l4lb"])
                .arg("--target-dir")
                .arg(target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            match profile.as_str() {
                "debug" => {}
                "release" => {
                    cmd.arg("--release");
                }
                other => {
                    cmd.args(["--profile", other]);
                }
            }
            let t0 = Instant::now();
            let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "cargo build --example l4lb failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let bin = profile_dir.join("examples").join("l4lb");
            if !bin.exists() {
                return Err(format!("{} was not built", bin.display()));
            }
            println!(
                "l4lb: built {} in {:.1} s",
                bin.display(),
                t0.elapsed().as_secs_f64()
            );
            Ok(bin)
        })
        .clone()
}

/// The `l4lb` example running as a child process. Dropping it kills the process; it also dies
/// with this one (`PR_SET_PDEATHSIG`), so a crashed test leaves no load balancer behind.
pub struct L4lbProc {
    child: Child,
    control: PathBuf,
    stdout: Option<JoinHandle<String>>,
}

impl L4lbProc {
    /// Starts `bin` with EAL arguments `eal` and application arguments `app`, and waits until
    /// its control socket `control` answers.
    pub fn start(
        bin: &Path,
        eal: &[String],
        app: &[String],
        control: &Path,
    ) -> Result<Self, String> {
        let mut cmd = Command::new(bin);
        cmd.args(eal)
            .arg("--")
            .args(app)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: the closure runs in the child between fork and exec and calls only prctl(2),
        // which is async-signal-safe; it touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut out = child.stdout.take().ok_or("no stdout")?;
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let mut lb = L4lbProc {
            child,
            control: control.to_path_buf(),
            stdout: Some(stdout),
        };
        let t0 = Instant::now();
        loop {
            if let Ok(reply) = lb.command("show") {
                if reply.starts_with("ok") {
                    return Ok(lb);
                }
            }
            if let Ok(Some(status)) = lb.child.try_wait() {
                return Err(format!("l4lb exited at start: {status}"));
            }
            if t0.elapsed() > Duration::from_secs(30) {
                return Err("l4lb's control socket did not answer within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends one control command and returns the reply line.
    pub fn command(&self, line: &str) -> Result<String, String> {
        let mut s = UnixStream::connect(&self.control).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        writeln!(s, "{line}").map_err(|e| e.to_string())?;
        s.shutdown(std::net::Shutdown::Write)
            .map_err(|e| e.to_string())?;
        let mut reply = String::new();
        BufReader::new(s)
            .read_line(&mut reply)
            .map_err(|e| e.to_string())?;
        Ok(reply.trim().to_string())
    }

    /// Asks the process to stop (SIGTERM, as Ctrl-C) and returns what it printed (its JSON
    /// summary).
    pub fn stop(mut self) -> Result<String, String> {
        let pid = libc::pid_t::try_from(self.child.id()).map_err(|e| e.to_string())?;
        // SAFETY: plain kill(2) on the child this guard started and has not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let t0 = Instant::now();
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if t0.elapsed() < Duration::from_secs(20) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => return Err("l4lb did not stop within 20 s of SIGTERM".into()),
            }
        };
        let out = self
            .stdout
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        if !status.success() {
            return Err(format!("l4lb exited with {status}: {out}"));
        }
        Ok(out)
    }
}

impl Drop for L4lbProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
