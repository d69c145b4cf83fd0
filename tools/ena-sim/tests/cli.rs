//! The `ena-sim` program from the outside: bad command lines are refused with one line and
//! exit status 2; a driver in this process (dpdk-shim's EAL over the ena driver's PCI path)
//! attaches to devices living in an `ena-sim` process, passes packets, and its counts match
//! ena-sim's JSON status; faults fire on schedule; SIGTERM/SIGINT leave nothing behind.
//!
//! The cross-process tests need root and hugepages (physical addresses, hugetlbfs); where they
//! cannot run they print "SKIPPED: <reason>" (or fail, with ENA_SIM_REQUIRE_PCI_RIG set).

use dpdk_shim::prelude::*;
use ena_sim::frames;
use ena_sim::transport::pci_rig::HugepageReservation;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ena-sim");

/// The cross-process tests change the machine's hugepage count and take /dev/shm names:
/// one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why the cross-process tests cannot run here, if they cannot.
fn skip_reason() -> Option<String> {
    if let Err(why) = HugepageReservation::available() {
        return Some(why);
    }
    if !Path::new("/dev/shm").is_dir() {
        return Some("/dev/shm is missing (the rig keeps its BAR files there)".into());
    }
    None
}

/// Prints the skip line (or fails when the environment demands the rig). True: skip.
fn skipped(test: &str) -> bool {
    match skip_reason() {
        None => false,
        Some(why) => {
            if std::env::var_os("ENA_SIM_REQUIRE_PCI_RIG").is_some() {
                panic!("ENA_SIM_REQUIRE_PCI_RIG is set but {test} cannot run: {why}");
            }
            println!("SKIPPED: {test}: {why}");
            true
        }
    }
}

/// Whether `dir` is a mount point here. (The machine-wide hugepage count is not checked:
/// other test binaries may change it at the same time; the mount and its directory are
/// ena-sim's alone.)
fn is_mount_point(dir: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(4) == dir.to_str())
}

fn scratch(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ena-sim-cli-{tag}-{}", std::process::id()))
}

/// Runs ena-sim to completion (for option errors): (status, stdout, stderr).
fn run_to_end(args: &[&str]) -> (ExitStatus, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run ena-sim");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running `ena-sim --json`, its stdout lines parsed as they come.
struct EnaSim {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
    ready_file: PathBuf,
    rig_dir: PathBuf,
}

impl EnaSim {
    fn start(tag: &str, args: &[&str]) -> Self {
        let ready_file = scratch(&format!("{tag}-ready.json"));
        let rig_dir = scratch(&format!("{tag}-rig"));
        let _ = std::fs::remove_file(&ready_file);
        let mut child = Command::new(BIN)
            .args(args)
            .arg("--json")
            .arg("--ready-file")
            .arg(&ready_file)
            .arg("--rig-dir")
            .arg(&rig_dir)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ena-sim");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (out, l) = (child.stdout.take().expect("stdout"), lines.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("ena-sim printed a non-JSON line {line:?}: {e}"));
                l.lock().unwrap().push(v);
            }
        });
        let (mut err, e) = (child.stderr.take().expect("stderr"), stderr.clone());
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            e.lock().unwrap().push_str(&s);
        });
        Self {
            child: Some(child),
            lines,
            stderr,
            ready_file,
            rig_dir,
        }
    }

    /// Waits for the ready file and returns it; fails if ena-sim exits first.
    fn ready(&mut self) -> Value {
        let t0 = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&self.ready_file) {
                let v: Value = serde_json::from_str(&text).expect("ready file is JSON");
                return v;
            }
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "ena-sim exited ({st}) before it was ready: {}",
                    self.stderr.lock().unwrap()
                );
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "ena-sim not ready after 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn lines(&self) -> Vec<Value> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for a status line whose ports satisfy `ok`; returns it.
    fn wait_status(&self, what: &str, ok: impl Fn(&[Value]) -> bool) -> Value {
        let t0 = Instant::now();
        loop {
            let found = self
                .lines()
                .into_iter()
                .rev()
                .find(|l| l["event"] == "status");
            if let Some(l) = &found {
                if ok(l["ports"].as_array().map(Vec::as_slice).unwrap_or(&[])) {
                    return l.clone();
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "no ena-sim status line with {what}; last: {found:#?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Sends `sig` and waits (bounded) for the exit.
    fn stop(&mut self, sig: i32) -> ExitStatus {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child, not yet
        // reaped (so it cannot have been reused).
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0, "kill");
        self.wait(Duration::from_secs(10))
    }

    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let t0 = Instant::now();
        loop {
            if let Some(st) = child.try_wait().expect("wait") {
                // Let the reader threads take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return st;
            }
            if t0.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("ena-sim did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for EnaSim {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A failing test: ask for a clean exit first, so the rig and hugepages go away.
            // SAFETY: as in `stop`.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The frame with index `i` (its UDP source port says which).
fn frame(i: u16) -> Vec<u8> {
    frames::ipv4(false, [10, 1, 0, 1], [10, 2, 0, 1], i, 80, 64)
}

/// Sends `n` frames on `tx` and receives them on `rx` (which may be the other port's), checking
/// every byte; returns the source ports seen.
fn pass(pool: &PktmbufPool, tx: &mut TxQueue, rx: &mut [RxQueue], first: u16, n: u16) -> Vec<u16> {
    let mut sent = 0u16;
    let mut got = Vec::new();
    let mut burst: [Option<Mbuf>; 32] = Default::default();
    let t0 = Instant::now();
    while got.len() < n as usize {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "stalled: sent {sent}, received {} of {n}",
            got.len()
        );
        if sent < n && (sent as usize) < got.len() + 128 {
            let k = 16.min(n - sent);
            let mut pkts: Vec<Option<Mbuf>> = (0..k)
                .map(|j| {
                    let f = frame(first + sent + j);
                    let mut m = pool.alloc().expect("mbuf");
                    m.append(f.len() as u16).expect("room").copy_from_slice(&f);
                    Some(m)
                })
                .collect();
            let mut at = 0;
            while at < pkts.len() {
                at += tx.tx_burst(&mut pkts[at..]);
            }
            sent += k;
        }
        for q in rx.iter_mut() {
            let got_n = q.rx_burst(&mut burst);
            for m in burst[..got_n].iter_mut().filter_map(Option::take) {
                let data = m.data().to_vec();
                assert!(data.len() >= 36, "short frame {data:?}");
                let sport = u16::from_be_bytes([data[34], data[35]]);
                assert_eq!(data, frame(sport), "frame {sport} arrived changed");
                got.push(sport);
            }
        }
    }
    got.sort_unstable();
    got
}

fn eal_for(ready: &Value, args: &[String]) -> Eal {
    let mut argv = vec!["ena-sim-cli-test".to_string(), "-l".into(), "0".into()];
    argv.extend_from_slice(args);
    match Eal::init(&argv) {
        Ok((eal, _)) => eal,
        Err(e) => panic!("EAL with {argv:?} (ready: {ready:#}): {e}"),
    }
}

#[test]
fn bad_options_get_one_line_and_exit_status_2() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "required arguments were not provided: --dev"),
        (&["--bogus"], "unexpected argument '--bogus'"),
        (&["--dev"], "a value is required for '--dev"),
        (
            &["--dev", "loopback", "--queues", "0"],
            "0 is not in 1..=128",
        ),
        (
            &["--dev", "loopback", "--llq", "maybe"],
            "invalid value 'maybe' for '--llq",
        ),
        (
            &["--dev", "loopback;queues=0"],
            "--dev 'loopback;queues=0': queues=0 must be 1..=128",
        ),
        (
            &["--dev", "loopback;color=red"],
            "not KEY=VALUE with a known key",
        ),
        (&["--dev", "loopback;mac=01:00:00:00:00:01"], "multicast"),
        (&["--dev", "bogus"], "unknown wire 'bogus'"),
        (
            &["--dev", "gen:size=abc"],
            "wire option size=abc is not a number",
        ),
        (
            &["--dev", "pair:x"],
            "wire=pair:x joins exactly two ports; found 1",
        ),
        (
            &[
                "--dev",
                "sink;bdf=00:12.0",
                "--dev",
                "loopback;bdf=0000:00:12.0",
            ],
            "two devices at PCI address 0000:00:12.0",
        ),
        (
            &["--dev", "loopback", "--fault", "2s:melt"],
            "unknown fault 'melt'",
        ),
        (
            &["--dev", "loopback", "--fault", "soon:link_down"],
            "'soon' is not a time",
        ),
        (
            &["--dev", "loopback", "--fault", "3@2s:link_down"],
            "port 3 does not exist (1 device given)",
        ),
        (
            &["--dev", "loopback;fault=1@2s:link_down"],
            "inside --dev the port is implied",
        ),
        (
            &["--dev", "loopback", "--duration", "abc"],
            "'abc' is not a duration",
        ),
        (
            &["--dev", "loopback", "--interval", "1ms"],
            "shorter than 10ms",
        ),
        (
            &["--dev", "loopback", "--cores", "4096"],
            "--cores: CPU 4096 does not exist",
        ),
        (
            &["--dev", "loopback", "--file-prefix", "a/b"],
            "file prefix 'a/b'",
        ),
    ];
    for (args, want) in cases {
        let (st, out, err) = run_to_end(args);
        assert_eq!(st.code(), Some(2), "{args:?}: exit status; stderr {err:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line, got {err:?}");
        assert!(err.starts_with("ena-sim: "), "{args:?}: {err:?}");
        assert!(err.contains(want), "{args:?}: {err:?} lacks {want:?}");
        assert!(!err.contains("panicked"), "{args:?}: {err:?}");
        assert!(out.is_empty(), "{args:?}: stdout {out:?}");
    }
    let (st, out, _) = run_to_end(&["--help"]);
    assert_eq!(st.code(), Some(0));
    for section in [
        "DEVICE SPEC",
        "WIRES",
        "FAULTS",
        "link_flap[:down=DUR]",
        "OUTPUT",
        "EXIT",
    ] {
        assert!(out.contains(section), "--help lacks {section}");
    }
    let (st, out, _) = run_to_end(&["--version"]);
    assert_eq!((st.code(), out.trim()), (Some(0), "ena-sim 0.1.0"));
}

#[test]
fn driver_in_another_process_passes_packets_over_a_pair_cable() {
    let _g = serial();
    if skipped("driver_in_another_process_passes_packets_over_a_pair_cable") {
        return;
    }
    let mut sim = EnaSim::start(
        "pair",
        &[
            "--hugepages",
            "64",
            "--interval",
            "100ms",
            "--dev",
            "pair:a:lossless;queues=2",
            "--dev",
            "pair:a:lossless;llq=off;reads=plain;mac=02:aa:bb:cc:dd:ee",
        ],
    );
    let ready = sim.ready();
    assert_eq!(ready["event"], "ready");
    assert_eq!(u(&ready["hugepages_reserved"]), 64);
    assert!(is_mount_point(Path::new(
        ready["huge_dir"].as_str().unwrap()
    )));
    let ports = ready["ports"].as_array().expect("ports");
    assert_eq!(ports.len(), 2);
    assert_eq!(ports[0]["bdf"], "0000:00:10.0");
    assert_eq!(ports[1]["bdf"], "0000:00:11.0");
    let pci = PathBuf::from(ready["pci_sysfs"].as_str().unwrap());
    let huge = PathBuf::from(ready["huge_dir"].as_str().unwrap());
    let prefix = ready["ports"][0]["file_prefix"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        strings(&ports[0]["eal_args"]),
        [
            "-a",
            "0000:00:10.0,wc=proceed",
            "--pci-sysfs",
            pci.to_str().unwrap(),
            "--huge-dir",
            huge.to_str().unwrap(),
            "--file-prefix",
            &prefix
        ]
    );
    assert_eq!(
        strings(&ports[1]["eal_args"])[1],
        "0000:00:11.0",
        "no LLQ: no wc="
    );
    let rig_dirs: Vec<PathBuf> = ports
        .iter()
        .map(|p| PathBuf::from(p["rig"].as_str().unwrap()))
        .collect();
    assert!(pci.join("0000:00:11.0").join("resource0").exists());
    let shm: Vec<PathBuf> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("ena-sim-{}-", sim.pid()))
        })
        .collect();
    assert_eq!(
        shm.len(),
        3,
        "BAR0 + BAR2 of port 0, BAR0 of port 1: {shm:?}"
    );

    {
        let eal = eal_for(&ready, &strings(&ready["eal_args"]));
        assert_eq!(eal.port_count(), 2);
        let (p0, p1) = (eal.port(0).unwrap(), eal.port(1).unwrap());
        assert!(p0.dev_info().llq.is_some(), "port 0 offers LLQ");
        assert!(p1.dev_info().llq.is_none(), "port 1: llq=off");
        assert_eq!(p1.macaddr_get(), [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);
        let pool = eal
            .pktmbuf_pool_create("cli", 4095, 128, 0, MBUF_DEFAULT_BUF_SIZE)
            .expect("pool");
        for p in [p0, p1] {
            p.configure(1, 1, &EthConf::default()).unwrap();
            p.rx_queue_setup(0, 512, &pool).unwrap();
            p.tx_queue_setup(0, 512).unwrap();
            p.start().unwrap();
        }
        let (mut rx0, mut tx0) = (p0.take_rx_queue(0).unwrap(), p0.take_tx_queue(0).unwrap());
        let (mut rx1, mut tx1) = (p1.take_rx_queue(0).unwrap(), p1.take_tx_queue(0).unwrap());
        let got = pass(&pool, &mut tx0, std::slice::from_mut(&mut rx1), 0, 1000);
        assert_eq!(
            got,
            (0..1000).collect::<Vec<u16>>(),
            "port 0 → port 1, each once"
        );
        let got = pass(&pool, &mut tx1, std::slice::from_mut(&mut rx0), 5000, 300);
        assert_eq!(got, (5000..5300).collect::<Vec<u16>>(), "port 1 → port 0");

        let (s0, s1) = (p0.stats_get().unwrap(), p1.stats_get().unwrap());
        assert_eq!((s0.opackets, s0.ipackets), (1000, 300));
        assert_eq!((s1.opackets, s1.ipackets), (300, 1000));
        let len = frame(0).len() as u64;
        let status = sim.wait_status("the driver's counts", |p| {
            p.len() == 2
                && u(&p[0]["tx_pkts"]) == 1000
                && u(&p[1]["rx_pkts"]) == 1000
                && u(&p[1]["tx_pkts"]) == 300
                && u(&p[0]["rx_pkts"]) == 300
        });
        let p = &status["ports"];
        assert_eq!(u(&p[0]["tx_bytes"]), 1000 * len);
        assert_eq!(u(&p[1]["rx_bytes"]), 1000 * len);
        for i in 0..2 {
            for k in ["rx_drops", "rx_overruns", "tx_drops", "dma_misses"] {
                assert_eq!(u(&p[i][k]), 0, "port {i} {k}");
            }
            assert_eq!(p[i]["link_up"], true);
            assert_eq!(
                u(&p[i]["queues"]),
                1,
                "port {i}: the driver's one queue pair"
            );
        }
        p0.stop().unwrap();
        p1.stop().unwrap();
        drop((rx0, tx0, rx1, tx1));
    }

    let st = sim.stop(libc::SIGTERM);
    assert_eq!(st.code(), Some(0), "stderr: {}", sim.stderr.lock().unwrap());
    let lines = sim.lines();
    let summary = lines.last().expect("a summary line");
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["reason"], "SIGTERM");
    assert_eq!(u(&summary["ports"][0]["tx_pkts"]), 1000);
    assert_eq!(u(&summary["ports"][1]["rx_pkts"]), 1000);
    assert_eq!(u(&summary["ports"][1]["tx_pkts"]), 300);
    assert_eq!(u(&summary["ports"][0]["rx_pkts"]), 300);
    let times: Vec<f64> = lines
        .iter()
        .filter(|l| l["event"] == "status")
        .map(|l| l["t"].as_f64().unwrap())
        .collect();
    assert!(
        !times.is_empty() && times.windows(2).all(|w| w[1] > w[0]),
        "status lines, in time order: {times:?}"
    );
    // Everything is gone: rigs, BAR files, ready file, the hugetlbfs mount and the pages.
    assert!(
        !sim.rig_dir.exists(),
        "{} left behind",
        sim.rig_dir.display()
    );
    for d in &rig_dirs {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    for f in &shm {
        assert!(!f.exists(), "{} left behind", f.display());
    }
    assert!(!sim.ready_file.exists(), "ready file left behind");
    assert!(
        !huge.exists(),
        "private hugetlbfs {} left behind",
        huge.display()
    );
    assert!(
        !is_mount_point(&huge),
        "hugetlbfs {} still mounted",
        huge.display()
    );
    assert!(
        sim.stderr.lock().unwrap().is_empty(),
        "stderr: {}",
        sim.stderr.lock().unwrap()
    );
}

#[test]
fn generator_and_sink_counts_match_the_driver_and_sigint_stops_cleanly() {
    let _g = serial();
    if skipped("generator_and_sink_counts_match_the_driver_and_sigint_stops_cleanly") {
        return;
    }
    // This time the test provides the hugepages, and names the file prefix.
    let res = match HugepageReservation::ensure(48, None) {
        Ok(r) => r,
        Err(e) => {
            println!("SKIPPED: generator_and_sink...: hugepages: {e}");
            return;
        }
    };
    let prefix = format!("clitest{}", std::process::id());
    let huge = res.dir().to_str().unwrap().to_string();
    let mut sim = EnaSim::start(
        "gen",
        &[
            "--huge-dir",
            &huge,
            "--file-prefix",
            &prefix,
            "--interval",
            "100ms",
            "--reads",
            "plain",
            "--dev",
            "gen:count=1000:flows=64:lossless;queues=2",
            "--dev",
            "sink;llq=off",
        ],
    );
    let ready = sim.ready();
    assert_eq!(ready["huge_dir"].as_str(), Some(huge.as_str()));
    assert_eq!(u(&ready["hugepages_reserved"]), 0);
    assert_eq!(ready["ports"][0]["readless"], false, "--reads plain");
    assert_eq!(
        ready["ports"][1]["file_prefix"].as_str(),
        Some(prefix.as_str())
    );
    {
        let eal = eal_for(&ready, &strings(&ready["eal_args"]));
        let (p0, p1) = (eal.port(0).unwrap(), eal.port(1).unwrap());
        let pool = eal
            .pktmbuf_pool_create("cli", 4095, 128, 0, MBUF_DEFAULT_BUF_SIZE)
            .expect("pool");
        let rss = EthConf {
            rxmode: RxMode {
                mq_mode: MqMode::Rss,
                ..Default::default()
            },
            ..Default::default()
        };
        p0.configure(2, 2, &rss).unwrap();
        p1.configure(1, 1, &EthConf::default()).unwrap();
        for q in 0..2 {
            p0.rx_queue_setup(q, 256, &pool).unwrap();
            p0.tx_queue_setup(q, 256).unwrap();
        }
        p1.rx_queue_setup(0, 256, &pool).unwrap();
        p1.tx_queue_setup(0, 256).unwrap();
        p0.start().unwrap();
        p1.start().unwrap();
        let mut rx: Vec<RxQueue> = (0..2).map(|q| p0.take_rx_queue(q).unwrap()).collect();
        let mut tx = p1.take_tx_queue(0).unwrap();
        let mut burst: [Option<Mbuf>; 32] = Default::default();
        let mut per_queue = [0u64; 2];
        let mut forwarded = 0u64;
        let t0 = Instant::now();
        while forwarded < 1000 {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "forwarded {forwarded} of 1000"
            );
            for (q, r) in rx.iter_mut().enumerate() {
                let n = r.rx_burst(&mut burst);
                per_queue[q] += n as u64;
                let mut at = 0;
                while at < n {
                    at += tx.tx_burst(&mut burst[at..n]);
                }
                forwarded += n as u64;
            }
        }
        assert!(
            per_queue.iter().all(|&n| n > 0),
            "RSS spreads 64 flows over both queues: {per_queue:?}"
        );
        let status = sim.wait_status("1000 frames generated, received, sent and sunk", |p| {
            p.len() == 2
                && u(&p[0]["rx_pkts"]) == 1000
                && u(&p[1]["tx_pkts"]) == 1000
                && u(&p[1]["wire"]["sunk"]) == 1000
        });
        let p = &status["ports"];
        assert_eq!(u(&p[0]["wire"]["generated"]), 1000, "count=1000");
        assert_eq!(u(&p[0]["wire"]["generated_bytes"]), u(&p[0]["rx_bytes"]));
        assert_eq!(u(&p[1]["wire"]["sunk_bytes"]), u(&p[1]["tx_bytes"]));
        assert_eq!(u(&p[0]["rx_overruns"]), 0, "lossless");
        assert_eq!(u(&p[0]["queues"]), 2);
        let s0 = p0.stats_get().unwrap();
        assert_eq!(s0.ipackets, 1000);
        assert_eq!(
            s0.q_ipackets.iter().take(2).copied().collect::<Vec<_>>(),
            per_queue
        );
        assert_eq!(p1.stats_get().unwrap().opackets, 1000);
        p0.stop().unwrap();
        p1.stop().unwrap();
        drop((rx, tx));
    }
    let st = sim.stop(libc::SIGINT);
    assert_eq!(st.code(), Some(0), "stderr: {}", sim.stderr.lock().unwrap());
    let summary = sim.lines().pop().expect("summary");
    assert_eq!(
        (summary["event"].as_str(), summary["reason"].as_str()),
        (Some("summary"), Some("SIGINT"))
    );
    assert_eq!(u(&summary["ports"][1]["wire"]["sunk"]), 1000);
    assert!(!sim.rig_dir.exists());
    // The hugetlbfs mount was the test's: ena-sim leaves it (and the pages) alone.
    assert!(Path::new(&huge).is_dir());
    drop(res);
}

#[test]
fn fault_schedule_fires_on_time_and_the_run_ends_by_itself() {
    let _g = serial();
    if skipped("fault_schedule_fires_on_time_and_the_run_ends_by_itself") {
        return;
    }
    let mut sim = EnaSim::start(
        "faults",
        &[
            "--hugepages",
            "0",
            "--interval",
            "100ms",
            "--duration",
            "1.15",
            "--dev",
            "loopback",
            "--dev",
            "sink;fault=150ms:link_down",
            "--fault",
            "0@every=300ms:keepalive_stop",
            "--fault",
            "0000:00:10.0@400ms:admin_error:status=4:count=2",
        ],
    );
    sim.ready();
    let st = sim.wait(Duration::from_secs(10));
    assert_eq!(st.code(), Some(0), "stderr: {}", sim.stderr.lock().unwrap());
    let lines = sim.lines();
    let faults: Vec<(f64, u64, String)> = lines
        .iter()
        .filter(|l| l["event"] == "fault")
        .map(|l| {
            (
                l["t"].as_f64().unwrap(),
                u(&l["port"]),
                l["fault"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = [
        (0.15, 1, "link_down"),
        (0.3, 0, "stop_keep_alive"),
        (0.4, 0, "admin_error"),
        (0.6, 0, "stop_keep_alive"),
        (0.9, 0, "stop_keep_alive"),
    ];
    assert_eq!(faults.len(), expect.len(), "{faults:?}");
    for ((t, port, name), (et, eport, ename)) in faults.iter().zip(expect) {
        assert_eq!((*port, name.as_str()), (eport, ename), "{faults:?}");
        assert!(
            (t - et).abs() < 1e-9,
            "fault times are due times: {faults:?}"
        );
    }
    // The link of port 1 is down in every status line after the fault; port 0's stays up.
    let statuses: Vec<&Value> = lines.iter().filter(|l| l["event"] == "status").collect();
    assert!(
        statuses.len() >= 8,
        "a line every 100 ms: {}",
        statuses.len()
    );
    for s in &statuses {
        let t = s["t"].as_f64().unwrap();
        assert_eq!(s["ports"][0]["link_up"], true);
        if t >= 0.25 {
            assert_eq!(s["ports"][1]["link_up"], false, "at {t}");
        }
        if t < 0.15 {
            assert_eq!(s["ports"][1]["link_up"], true, "at {t}");
        }
    }
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["reason"], "duration");
    assert_eq!(u(&summary["faults_injected"]), 5);
    let t = summary["t"].as_f64().unwrap();
    assert!((1.15..3.0).contains(&t), "stopped at {t}");
    assert!(!sim.rig_dir.exists());
}

#[test]
fn a_rig_dir_in_use_is_refused_and_left_alone() {
    let _g = serial();
    if skipped("a_rig_dir_in_use_is_refused_and_left_alone") {
        return;
    }
    let dir = scratch("busy");
    std::fs::create_dir_all(&dir).unwrap();
    let foreign = dir.join("somebody-elses");
    std::fs::write(&foreign, b"keep").unwrap();
    let child = Command::new(BIN)
        .args([
            "--hugepages",
            "2",
            "--rig-dir",
            dir.to_str().unwrap(),
            "--dev",
            "loopback",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ena-sim");
    // Its private hugetlbfs mount, had it been left behind (HugepageReservation's naming).
    let mount = std::env::temp_dir().join(format!("ena-rs-hugetlbfs-{}-0", child.id()));
    let out = child.wait_with_output().expect("wait");
    let (st, err) = (out.status, String::from_utf8_lossy(&out.stderr));
    assert_eq!(st.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.contains("is not empty"), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read(&foreign).unwrap(), b"keep");
    assert!(
        !is_mount_point(&mount) && !mount.exists(),
        "the reservation was undone"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Debian's DPDK testpmd and Amazon's ENA PMD, if installed: the PMD plugin directory.
fn dpdk_pmd_dir() -> Option<PathBuf> {
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

/// Why testpmd cannot be run against ena-sim here, if it cannot.
fn testpmd_unavailable() -> Option<String> {
    if !Path::new("/usr/bin/dpdk-testpmd").exists() {
        return Some("dpdk-testpmd not installed (apt-get install dpdk)".into());
    }
    if dpdk_pmd_dir().is_none() {
        return Some("librte_net_ena.so not found under /usr/lib/*/dpdk/pmds-*".into());
    }
    if Command::new("unshare").arg("--version").output().is_err() {
        return Some("unshare (util-linux) not found".into());
    }
    if Command::new("cc").arg("--version").output().is_err() {
        return Some("no C compiler (cc) for the LD_PRELOAD helper".into());
    }
    if std::fs::symlink_metadata("/dev/uio0").is_ok() {
        return Some("/dev/uio0 exists; ena-sim --uio-links will not replace it".into());
    }
    None
}

/// testpmd's output so far, collected from both of its streams.
fn collect(child: &mut Child) -> Arc<Mutex<String>> {
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
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    out
}

/// The number after `key` in testpmd's text.
fn testpmd_field(text: &str, key: &str) -> Option<u64> {
    let at = text.rfind(key)? + key.len();
    text[at..].split_whitespace().next()?.parse().ok()
}

#[test]
fn dpdk_testpmd_attaches_to_an_ena_sim_process() {
    let _g = serial();
    let name = "dpdk_testpmd_attaches_to_an_ena_sim_process";
    if skipped(name) {
        return;
    }
    if let Some(why) = testpmd_unavailable() {
        println!("SKIPPED: {name}: {why}");
        return;
    }
    let pmds = dpdk_pmd_dir().expect("pmd dir");
    // The conformance rig's LD_PRELOAD helper (sim/tests/dpdk/shim.c): services the PMD's
    // watchdog timer while testpmd waits on stdin, and closes a teardown race of DPDK 22.11.
    let shim_src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sim/tests/dpdk/shim.c");
    let shim = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ena-sim-cli-rig-shim.so");
    let cc = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&shim)
        .arg(&shim_src)
        .arg("-ldl")
        .status()
        .expect("cc");
    assert!(cc.success(), "building the LD_PRELOAD helper");

    let mut sim = EnaSim::start(
        "testpmd",
        &[
            "--hugepages",
            "384",
            "--uio-links",
            "--interval",
            "100ms",
            "--dev",
            "gen:count=1000:flows=8:lossless;queues=1",
        ],
    );
    let ready = sim.ready();
    let port = &ready["ports"][0];
    assert_eq!(
        std::fs::read_link("/dev/uio0").ok().as_deref(),
        port["uio_fifo"].as_str().map(Path::new),
        "--uio-links"
    );
    let setup = format!(
        "mount -t tmpfs -o size=1M ena-sim-sysclass /sys/class && mkdir -p /sys/class/uio && \
         mount --bind {} /sys/class/uio && exec \"$@\"",
        port["class_uio"].as_str().unwrap()
    );
    // Killed if the test fails half-way, so that no testpmd outlives it.
    struct KillOnDrop(Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            if let Ok(None) = self.0.try_wait() {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
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
        .arg(format!("LD_PRELOAD={}", shim.display()))
        .arg(format!(
            "SYSFS_PCI_DEVICES={}",
            ready["pci_sysfs"].as_str().unwrap()
        ))
        .arg("/usr/bin/dpdk-testpmd")
        .args(["-l", "0-1", "-n", "1", "-a", "0000:00:10.0", "-m", "600"])
        .arg(format!(
            "--file-prefix={}",
            port["file_prefix"].as_str().unwrap()
        ))
        .arg("--huge-dir")
        .arg(ready["huge_dir"].as_str().unwrap())
        .arg("-d")
        .arg(pmds.join("librte_net_ena.so"))
        .arg("-d")
        .arg(pmds.join("librte_mempool_ring.so"))
        // The generator fills the RX ring as soon as testpmd starts the port; testpmd would
        // drop those frames at `start` without --no-flush-rx.
        .args(["--", "-i", "--total-num-mbufs=32768", "--no-flush-rx"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map(KillOnDrop)
        .expect("spawn testpmd");
    // testpmd keeps runtime files under /var/run/dpdk/<file-prefix>; gone also if this fails.
    struct RuntimeDir(PathBuf);
    impl Drop for RuntimeDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _runtime =
        RuntimeDir(Path::new("/var/run/dpdk").join(port["file_prefix"].as_str().unwrap()));
    let out = collect(&mut child.0);
    let mut stdin = child.0.stdin.take().expect("stdin");
    let wait_for = |pat: &str, from: usize| -> usize {
        let t0 = Instant::now();
        loop {
            if let Some(i) = out.lock().unwrap()[from..].find(pat) {
                return from + i + pat.len();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "testpmd never printed {pat:?}:\n{}",
                out.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut at = wait_for("testpmd> ", 0);
    use std::io::Write as _;
    writeln!(stdin, "start").unwrap();
    at = wait_for("testpmd> ", at);
    // io forwarding on one port: every generated frame goes back out into the sink.
    let status = sim.wait_status("1000 frames through testpmd", |p| {
        u(&p[0]["wire"]["sunk"]) == 1000
    });
    writeln!(stdin, "stop").unwrap();
    at = wait_for("testpmd> ", at);
    writeln!(stdin, "show port stats 0").unwrap();
    let end = wait_for("testpmd> ", at);
    let stats = out.lock().unwrap()[at..end].to_string();
    writeln!(stdin, "quit").unwrap();
    drop(stdin);
    let t0 = Instant::now();
    let code = loop {
        if let Some(st) = child.0.try_wait().unwrap() {
            break st.code();
        }
        if t0.elapsed() > Duration::from_secs(15) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0), "testpmd exit:\n{}", out.lock().unwrap());

    let p = &status["ports"][0];
    assert_eq!((u(&p["rx_pkts"]), u(&p["tx_pkts"])), (1000, 1000));
    assert_eq!(testpmd_field(&stats, "RX-packets:"), Some(1000), "{stats}");
    assert_eq!(testpmd_field(&stats, "TX-packets:"), Some(1000), "{stats}");
    assert_eq!(u(&p["dma_misses"]), 0);
    assert!(
        u(&p["interrupts"]) > 0,
        "the PMD's admin/AENQ interrupts went through the FIFO"
    );
    let st = sim.stop(libc::SIGTERM);
    assert_eq!(st.code(), Some(0), "stderr: {}", sim.stderr.lock().unwrap());
    assert!(
        std::fs::symlink_metadata("/dev/uio0").is_err(),
        "/dev/uio0 link removed"
    );
    assert!(!sim.rig_dir.exists());
}

#[test]
fn human_output_shows_driver_arguments_and_a_line_per_interval() {
    let _g = serial();
    if skipped("human_output_shows_driver_arguments_and_a_line_per_interval") {
        return;
    }
    let rig = scratch("human-rig");
    let (st, out, err) = run_to_end(&[
        "--hugepages",
        "0",
        "--rig-dir",
        rig.to_str().unwrap(),
        "--file-prefix",
        "humantest",
        "--interval",
        "100ms",
        "--duration",
        "0.45",
        "--dev",
        "loopback;queues=2",
        "--dev",
        "none;llq=off;bdf=0000:00:1a.0",
        "--fault",
        "0@200ms:link_flap:down=50ms",
    ]);
    assert_eq!(st.code(), Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ena-sim: 2 devices up (pid "), "{out}");
    let pci = rig.join("pci");
    let huge = lines[0]
        .split("hugepages in ")
        .nth(1)
        .expect("hugepage dir named");
    let port0 = format!(
        "  port 0: -a 0000:00:10.0,wc=proceed --pci-sysfs {} --huge-dir {huge} --file-prefix humantest",
        pci.display()
    );
    let port1 = format!(
        "  port 1: -a 0000:00:1a.0 --pci-sysfs {} --huge-dir {huge} --file-prefix humantest",
        pci.display()
    );
    assert!(lines.contains(&port0.as_str()), "{out}");
    assert!(lines.contains(&port1.as_str()), "{out}");
    assert!(lines.contains(
        &"  port 0  0000:00:10.0  wire loopback  mac 02:00:00:e4:a0:01  2 queues  LLQ  readless reads  mtu 1500"
    ), "{out}");
    let status: Vec<&&str> = lines.iter().filter(|l| l.contains("] p0: in ")).collect();
    assert!((3..=5).contains(&status.len()), "a line per 100 ms: {out}");
    assert!(
        status[0].ends_with(
            "p0: in 0 (0/s) out 0 (0/s) drops 0, no queues | p1: in 0 (0/s) out 0 (0/s) drops 0, link down, no queues"
        ),
        "{out}"
    );
    assert!(
        lines.contains(&"[    0.2s] fault link_flap -> port 0 (0000:00:10.0)"),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ena-sim: stopped after 0.")
                && l.ends_with("(duration); 1 fault injected")),
        "{out}"
    );
    assert!(err.is_empty(), "{err}");
    assert!(!rig.exists());
}
