//! Conformance: Amazon's DPDK ENA PMD (Debian dpdk 22.11, PMD v2.7.0) drives the device model
//! through the PCI rig. Each test is one scenario; each prints one `dpdk_pmd:` line. Run with
//! `cargo test --test dpdk_pmd -- --test-threads=1` (they serialize themselves anyway).

mod common;
mod dpdk;

use common::{frames, Capture};
use dpdk::*;
use ena_hw::admin::{feature, opcode};
use ena_sim::config::{DeviceConfig, RxNoBufferCounter};
use ena_sim::events::Event;
use ena_sim::fault::Fault;
use ena_sim::rss;
use ena_sim::stats::Counters;
use ena_sim::wire::{Generator, GeneratorConfig, Loopback};
use std::sync::Mutex;
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());

/// Serializes scenarios and skips loudly when the rig cannot run.
fn guard(scenario: &str) -> Option<std::sync::MutexGuard<'static, ()>> {
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(why) = unavailable() {
        if std::env::var_os("ENA_REQUIRE_DPDK_RIG").is_some() {
            panic!("ENA_REQUIRE_DPDK_RIG is set but the rig cannot run: {why}");
        }
        println!("SKIPPED: {scenario}: {why}");
        return None;
    }
    Some(g)
}

fn probe(plain_reads: bool) {
    let name = if plain_reads {
        "probe, plain register reads"
    } else {
        "probe, readless register reads"
    };
    let Some(_g) = guard(name) else { return };
    let s = Session::new(
        if plain_reads { "pp" } else { "pr" },
        Options {
            plain_reads,
            ..Default::default()
        },
        Box::new(Loopback::default()),
    );
    let mut t = s.testpmd("", "debug", &["-i"]);
    let boot = t.ready().unwrap_or_else(|e| panic!("{e}\n{}", t.output()));
    for line in [
        "ENA device version: 0.10",
        "ENA controller version: 0.0.1 implementation version 1",
        "ENA dma width: 48",
        "Placement policy: Low latency",
    ] {
        assert!(boot.contains(line), "probe log lacks {line:?}:\n{boot}");
    }
    let reads = s
        .events()
        .iter()
        .filter(|e| matches!(e, Event::RegisterRead { .. }))
        .count();
    if plain_reads {
        assert_eq!(
            reads, 0,
            "the PMD used readless reads although class bit 0 says plain"
        );
    } else {
        assert!(
            reads >= 8,
            "the PMD should read registers through the readless mechanism"
        );
    }
    assert_eq!(t.quit(), Some(0));
    report(
        name,
        &format!("ok (version 0.10, dma 48, LLQ; {reads} readless reads)"),
    );
}

#[test]
fn probe_readless() {
    probe(false);
}

#[test]
fn probe_plain_reads() {
    probe(true);
}

const MAC: &str = "02:00:00:E4:A0:01";

/// Starts a session and testpmd, returning both once the prompt is up.
fn start(
    tag: &str,
    opts: Options,
    wire: Box<dyn ena_sim::wire::Wire>,
    devargs: &str,
    args: &[&str],
) -> (Session, Testpmd) {
    let s = Session::new(tag, opts, wire);
    let mut t = s.testpmd(devargs, "info", args);
    if let Err(e) = t.ready() {
        panic!("{e}\n{}", t.output());
    }
    (s, t)
}

/// Device counters once they stop moving (traffic drained), then one keep-alive later so the
/// PMD's view of the drop counters (learned only from KEEP_ALIVE events) is current too.
fn settled(s: &Session) -> Counters {
    let mut last = s.device.stats.snapshot().since_reset;
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = s.device.stats.snapshot().since_reset;
        if now.rx_pkts == last.rx_pkts
            && now.tx_pkts == last.tx_pkts
            && now.rx_overruns == last.rx_overruns
        {
            break;
        }
        last = now;
    }
    let events = s.device.stats.snapshot().lifetime.aenq_events;
    eventually(
        "a keep-alive after traffic stopped",
        Duration::from_secs(3),
        || s.device.stats.snapshot().lifetime.aenq_events > events,
    );
    std::thread::sleep(Duration::from_millis(100));
    s.device.stats.snapshot().since_reset
}

/// testpmd's `show port stats` must equal the device's own counters.
fn assert_stats_match(t: &mut Testpmd, c: &Counters) -> PortStats {
    let p = parse_port_stats(&t.cmd("show port stats 0"));
    assert_eq!(p.rx_packets, c.rx_pkts, "RX-packets");
    assert_eq!(p.rx_bytes, c.rx_bytes, "RX-bytes");
    assert_eq!(p.tx_packets, c.tx_pkts, "TX-packets");
    assert_eq!(p.tx_bytes, c.tx_bytes, "TX-bytes");
    // PMD v2.7.0 takes imissed from the keep-alive's rx_drops only (rx_overruns was added to it
    // later, DPDK commit dae29f7565).
    assert_eq!(p.rx_missed, c.rx_drops, "RX-missed = keep-alive rx_drops");
    let x = parse_xstats(&t.cmd("show port xstats 0"));
    assert_eq!(
        x.get("tx_drops"),
        Some(&c.tx_drops),
        "xstat tx_drops (from keep-alive)"
    );
    p
}

#[test]
fn ports_start_with_1_2_4_8_queue_pairs_rss_and_link_up() {
    let Some(_g) = guard("queues 1/2/4/8, RSS, link, port info") else {
        return;
    };
    for n in [1usize, 2, 4, 8] {
        let q = format!("{n}");
        let args = [
            "-i",
            &format!("--rxq={q}"),
            &format!("--txq={q}"),
            "--rxd=256",
            "--txd=256",
            "--rss-udp",
        ];
        let (s, mut t) = start(
            &format!("q{n}"),
            Options::default(),
            Box::new(Loopback::default()),
            "",
            &args,
        );
        let info = t.cmd("show port info 0");
        for line in [
            format!("MAC address: {MAC}"),
            "Link status: up".into(),
            "MTU: 1500".into(),
            format!("Current number of RX queues: {n}"),
            format!("Current number of TX queues: {n}"),
            "Max possible RX queues: 8".into(),
            "Max possible TX queues: 8".into(),
            "Max possible number of RXDs per queue: 16384".into(),
            "Max possible number of TXDs per queue: 1024".into(),
            "Hash key size in bytes: 40".into(),
            "Redirection table size: 128".into(),
            "Maximum configurable length of RX packet: 9234".into(),
        ] {
            assert!(
                info.contains(&line),
                "{n} queues: port info lacks {line:?}:\n{info}"
            );
        }
        let v = s.device.view();
        assert_eq!((v.rx_queues.len(), v.tx_queues.len()), (n, n));
        assert!(v.link_up);
        if n > 1 {
            let table = v.features.rss.indirection_table().to_vec();
            let want: Vec<u16> = (0..128).map(|i| (i % n) as u16).collect();
            assert_eq!(
                table, want,
                "the PMD's default RETA spreads round-robin over the RX SQs"
            );
        }
        assert_eq!(t.quit(), Some(0));
    }
    report(
        "queues 1/2/4/8, RSS, link, port info",
        "ok (MAC, MTU 1500, 8 queues max, RETA 128, link up)",
    );
}

fn generator(count: u64) -> Generator {
    Generator::new(
        GeneratorConfig::default()
            .with_frame_size(64)
            .with_flows(64)
            .with_count(count),
    )
    .unwrap()
}

#[test]
fn traffic_txonly_counts_match() {
    let Some(_g) = guard("traffic txonly") else {
        return;
    };
    let g = generator(0);
    let gs = g.stats();
    let (s, mut t) = start("tx", Options::default(), Box::new(g), "", &["-i"]);
    t.cmd("set fwd txonly");
    t.cmd("start");
    std::thread::sleep(Duration::from_secs(2));
    t.cmd("stop");
    let c = settled(&s);
    let p = assert_stats_match(&mut t, &c);
    assert!(
        p.tx_packets > 10_000,
        "txonly sent only {} packets",
        p.tx_packets
    );
    assert_eq!(
        gs.sunk(),
        c.tx_pkts,
        "the sink saw every packet the device counted"
    );
    assert_eq!(gs.sink_malformed(), 0);
    assert_eq!(t.quit(), Some(0));
    report(
        "traffic txonly (generator sink)",
        &format!("ok ({} packets, stats exact)", p.tx_packets),
    );
}

#[test]
fn traffic_rxonly_counts_match() {
    let Some(_g) = guard("traffic rxonly") else {
        return;
    };
    let total = 300_000;
    let mut summary = Vec::new();
    // Both ways a device may count "no RX buffer" drops; PMD v2.7.0 shows only rx_drops as missed.
    for counter in [RxNoBufferCounter::Drops, RxNoBufferCounter::Overruns] {
        let g = generator(total);
        let gs = g.stats();
        let cfg = DeviceConfig {
            rx_no_buffer_counter: counter,
            ..DeviceConfig::default()
        };
        let (s, mut t) = start(
            "rx",
            Options {
                cfg,
                ..Default::default()
            },
            Box::new(g),
            "",
            &["-i"],
        );
        t.cmd("set fwd rxonly");
        t.cmd("start");
        eventually("the generator to finish", Duration::from_secs(30), || {
            gs.generated() == total
        });
        t.cmd("stop");
        let c = settled(&s);
        let p = assert_stats_match(&mut t, &c);
        assert_eq!(
            c.rx_pkts + c.rx_overruns + c.rx_drops,
            total,
            "every generated frame is received or counted"
        );
        assert!(p.rx_packets > 0);
        summary.push(format!(
            "{counter:?}: {} received, {} missed",
            p.rx_packets, p.rx_missed
        ));
        assert_eq!(t.quit(), Some(0));
    }
    report(
        "traffic rxonly (generator)",
        &format!("ok ({} of {total} each)", summary.join("; ")),
    );
}

fn io_loop(tag: &str, devargs: &str, mode: &str, extra: &[&str]) -> (Session, Testpmd, PortStats) {
    let mut args = vec!["-i"];
    args.extend_from_slice(extra);
    let (s, mut t) = start(
        tag,
        Options::default(),
        Box::new(Loopback::new(4096, false)),
        devargs,
        &args,
    );
    t.cmd(&format!("set fwd {mode}"));
    t.cmd("start tx_first");
    std::thread::sleep(Duration::from_secs(2));
    t.cmd("stop");
    let c = settled(&s);
    let p = assert_stats_match(&mut t, &c);
    assert!(
        p.rx_packets > 10_000 && p.tx_packets > 10_000,
        "{mode}: too little traffic: {p:?}\n{}",
        t.output()
    );
    (s, t, p)
}

#[test]
fn traffic_io_loopback_counts_match() {
    let Some(_g) = guard("traffic io") else {
        return;
    };
    let (_s, t, p) = io_loop("io", "", "io", &[]);
    assert_eq!(t.quit(), Some(0));
    report(
        "traffic io (loopback wire)",
        &format!("ok (rx {} tx {}, stats exact)", p.rx_packets, p.tx_packets),
    );
}

#[test]
fn traffic_macswap_swaps_macs_and_counts_match() {
    let Some(_g) = guard("traffic macswap") else {
        return;
    };
    // Counters under a loopback…
    let (first, t, p) = io_loop("ms", "", "macswap", &[]);
    assert_eq!(t.quit(), Some(0));
    drop(first);
    // …and exact frames from a scripted wire: each leaves with source and destination swapped.
    let cap = Capture::default();
    let (s, mut t) = start(
        "ms2",
        Options::default(),
        Box::new(cap.clone()),
        "",
        &["-i"],
    );
    t.cmd("set fwd macswap");
    t.cmd("start");
    let input: Vec<Vec<u8>> = (0..50u16)
        .map(|i| frames::ipv4(true, [10, 0, 0, 1], [10, 0, 0, 2], 1000 + i, 80, 100))
        .collect();
    for f in &input {
        cap.push(f.clone());
    }
    eventually("50 frames forwarded", Duration::from_secs(10), || {
        cap.sent.lock().unwrap().len() == 50
    });
    t.cmd("stop");
    for (out, inp) in cap.take_sent().iter().zip(&input) {
        let mut want = inp.clone();
        want[..6].copy_from_slice(&inp[6..12]);
        want[6..12].copy_from_slice(&inp[..6]);
        assert_eq!(out, &want, "macswap changes exactly the two MAC addresses");
    }
    let c = settled(&s);
    assert_stats_match(&mut t, &c);
    assert_eq!(t.quit(), Some(0));
    report(
        "traffic macswap",
        &format!(
            "ok (rx {} tx {}; 50 frames byte-exact)",
            p.rx_packets, p.tx_packets
        ),
    );
}

#[test]
fn llq_default_large_headers_and_disabled() {
    let Some(_g) = guard("LLQ") else { return };
    let mut results = Vec::new();
    for (tag, devargs, entry, placement) in [
        ("llq", "", Some(128), "Placement policy: Low latency"),
        (
            "llqlarge",
            "large_llq_hdr=1",
            Some(256),
            "Placement policy: Low latency",
        ),
        ("llqoff", "enable_llq=0", None, "Placement policy: Regular"),
    ] {
        let (s, t, p) = io_loop(tag, devargs, "io", &["--txd=512"]);
        assert!(
            t.output().contains(placement),
            "{devargs:?}: expected {placement:?}"
        );
        let v = s.device.view();
        assert_eq!(
            v.features.llq.map(|l| l.entry_size),
            entry,
            "{devargs:?}: LLQ entry size"
        );
        let malformed: Vec<Event> = s
            .events()
            .into_iter()
            .filter(|e| matches!(e, Event::Malformed { .. }))
            .collect();
        assert!(
            malformed.is_empty(),
            "{devargs:?}: the device saw {} malformed requests, e.g. {:?}",
            malformed.len(),
            &malformed[..malformed.len().min(3)]
        );
        results.push(format!(
            "{}: {} pkts",
            if devargs.is_empty() {
                "default"
            } else {
                devargs
            },
            p.tx_packets
        ));
        assert_eq!(t.quit(), Some(0));
    }
    report(
        "LLQ default / large_llq_hdr=1 / enable_llq=0",
        &format!("ok ({})", results.join(", ")),
    );
}

/// Microsoft's RSS verification key and IPv4 flows (source, sport, destination, dport) with their
/// published hashes.
type Flow = ([u8; 4], u16, [u8; 4], u16, u32);

/// Microsoft's key as testpmd takes it (hex).
fn ms_key_hex() -> String {
    rss::vectors::MICROSOFT_KEY
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Microsoft's IPv4 flows: (source, sport, destination, dport, hash).
fn ms_flows() -> Vec<Flow> {
    rss::vectors::MICROSOFT_IPV4
        .iter()
        .map(|v| (v.src, v.sport, v.dst, v.dport, v.l4_hash))
        .collect()
}

/// (queue, hash) of each packet testpmd's verbose rxonly printed.
fn verbose_packets(text: &str) -> Vec<(u16, u32)> {
    let mut out = Vec::new();
    let mut queue = None;
    for line in text.lines() {
        if let Some(q) = line
            .strip_prefix("port 0/queue ")
            .and_then(|r| r.split(':').next())
        {
            queue = q.trim().parse().ok();
        }
        if let Some(at) = line.find("RSS hash=0x") {
            let hex: String = line[at + 11..]
                .chars()
                .take_while(|c| c.is_ascii_hexdigit())
                .collect();
            if let (Some(q), Ok(h)) = (queue, u32::from_str_radix(&hex, 16)) {
                out.push((q, h));
            }
        }
    }
    out
}

#[test]
fn rss_key_and_reta_steer_flows_as_toeplitz_predicts() {
    let Some(_g) = guard("RSS") else { return };
    let cap = Capture::default();
    let (s, mut t) = start(
        "rss",
        Options::default(),
        Box::new(cap.clone()),
        "",
        &["-i", "--rxq=4", "--txq=4", "--rss-udp"],
    );
    let key_hex = ms_key_hex();
    t.cmd(&format!("port config 0 rss-hash-key ipv4-udp {key_hex}"));
    let shown = t.cmd("show port 0 rss-hash key");
    assert!(
        shown.to_lowercase().contains(&key_hex),
        "the key reads back:\n{shown}"
    );
    // The PMD hands the device the key reversed (DPDK convention); the device hashes with it reversed again.
    let key: Vec<u8> = (0..40)
        .map(|i| u8::from_str_radix(&key_hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let mut dev_key = key.clone();
    dev_key.reverse();
    assert_eq!(s.device.view().features.rss.key().to_vec(), dev_key);
    t.cmd("set fwd rxonly");
    t.cmd("set verbose 1");
    t.cmd("start");
    let mut reta: Vec<u16> = (0..128).map(|i| (i % 4) as u16).collect();
    for round in 0..2 {
        if round == 1 {
            // A new RETA: queue = 3 - (i % 4) for every entry.
            reta = (0..128).map(|i| 3 - (i % 4) as u16).collect();
            // testpmd parses the list as one 128-byte token: 8 entries per command.
            for chunk in (0..128).collect::<Vec<usize>>().chunks(8) {
                let entries: Vec<String> = chunk
                    .iter()
                    .map(|&i| format!("({i},{})", reta[i]))
                    .collect();
                let out = t.cmd(&format!("port config 0 rss reta {}", entries.join(",")));
                assert!(!out.contains("Bad arguments"), "{out}");
            }
            assert_eq!(
                s.device.view().features.rss.indirection_table(),
                &reta[..],
                "RETA update reached the device"
            );
        }
        let before = t.output().len();
        for (src, sport, dst, dport, _) in ms_flows() {
            cap.push(frames::ipv4(false, src, dst, sport, dport, 32));
        }
        eventually("5 packets received", Duration::from_secs(10), || {
            verbose_packets(&t.output()[before..]).len() == 5
        });
        // Queues are polled in turn, so packets print grouped by queue: match them by hash.
        let got = verbose_packets(&t.output()[before..]);
        for (src, sport, dst, dport, want) in ms_flows() {
            let mut input = Vec::new();
            input.extend_from_slice(&src);
            input.extend_from_slice(&dst);
            input.extend_from_slice(&sport.to_be_bytes());
            input.extend_from_slice(&dport.to_be_bytes());
            assert_eq!(
                rss::toeplitz(&key, &input),
                want,
                "our reference agrees with Microsoft"
            );
            let Some((q, _)) = got.iter().find(|(_, h)| *h == want) else {
                panic!(
                    "round {round}: no packet with hash {want:#x} ({src:?}:{sport}); got {got:x?}"
                )
            };
            assert_eq!(
                *q,
                reta[(want % 128) as usize],
                "round {round}: queue of {src:?}:{sport}"
            );
        }
    }
    t.cmd("stop");
    let x = parse_xstats(&t.cmd("show port xstats 0"));
    let per_queue: u64 = (0..4).map(|q| x[&format!("rx_q{q}_packets")]).sum();
    assert_eq!(per_queue, 10);
    assert_eq!(t.quit(), Some(0));
    report(
        "RSS key + RETA steering",
        "ok (Microsoft vectors: hash and queue exact, RETA update moves flows)",
    );
}

#[test]
fn checksum_offload_csum_engine() {
    let Some(_g) = guard("checksum offload") else {
        return;
    };
    let cap = Capture::default();
    let (s, mut t) = start(
        "csum",
        Options::default(),
        Box::new(cap.clone()),
        "",
        &["-i"],
    );
    for c in [
        "port stop 0",
        "csum set ip hw 0",
        "csum set udp hw 0",
        "csum set tcp hw 0",
        "port start 0",
        "set fwd csum",
        "start",
    ] {
        t.cmd(c);
    }
    let v6a: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
    let v6b: std::net::Ipv6Addr = "2001:db8::2".parse().unwrap();
    let mut input = vec![
        frames::ipv4(false, [10, 0, 0, 1], [10, 0, 0, 2], 53, 53, 100),
        frames::ipv4(true, [10, 0, 0, 1], [10, 0, 0, 2], 80, 8080, 300),
        frames::ipv6(false, v6a, v6b, 53, 53, 64),
        frames::ipv6(true, v6a, v6b, 443, 9999, 200),
    ];
    let mut bad_ip = frames::ipv4(false, [10, 0, 0, 3], [10, 0, 0, 4], 1, 2, 40);
    bad_ip[24] ^= 0x55;
    let mut bad_l4 = frames::ipv4(true, [10, 0, 0, 3], [10, 0, 0, 4], 1, 2, 40);
    let n = bad_l4.len();
    bad_l4[n - 1] ^= 0x55;
    input.push(bad_ip);
    input.push(bad_l4);
    for f in &input {
        cap.push(f.clone());
    }
    eventually("6 frames forwarded", Duration::from_secs(10), || {
        cap.sent.lock().unwrap().len() == 6
    });
    let stop = t.cmd("stop");
    for (i, f) in cap.take_sent().iter().enumerate() {
        assert!(
            frames::checksums_valid(f),
            "frame {i} left the device with a bad checksum"
        );
    }
    assert_eq!(field(&stop, "Bad-ipcsum:"), Some(1), "{stop}");
    assert_eq!(field(&stop, "Bad-l4csum:"), Some(1), "{stop}");
    let c = settled(&s);
    assert_eq!(c.tx_offload_errors, 0);
    assert_eq!(t.quit(), Some(0));
    report(
        "checksum offload (csum engine)",
        "ok (6 frames out with valid checksums; bad IP/L4 counted)",
    );
}

#[test]
fn keep_alive_loss_triggers_watchdog_reset_and_traffic_resumes() {
    let Some(_g) = guard("keep-alive watchdog") else {
        return;
    };
    let (s, mut t) = start(
        "wd",
        Options::default(),
        Box::new(Loopback::new(4096, false)),
        "",
        &["-i"],
    );
    t.cmd("set fwd io");
    t.cmd("start tx_first");
    s.device.faults.inject(Fault::StopKeepAlive);
    if let Err(e) = t.wait_for("reset event", Duration::from_secs(15)) {
        panic!("{e}\n{}", t.output());
    }
    s.device.faults.inject(Fault::ResumeKeepAlive);
    let wd_expired = parse_xstats(&t.cmd("show port xstats 0"))["wd_expired"];
    assert!(wd_expired >= 1, "the PMD counts the watchdog expiry");
    for c in ["stop", "port stop 0", "port reset 0", "port start 0"] {
        t.cmd(c);
    }
    let resets: Vec<u8> = s
        .events()
        .iter()
        .filter_map(|e| {
            if let Event::ResetStarted { reason } = e {
                Some(*reason)
            } else {
                None
            }
        })
        .collect();
    assert!(
        resets.contains(&1),
        "the PMD resets with KEEP_ALIVE_TO (1); saw {resets:?}"
    );
    t.cmd("start tx_first");
    let before = s.device.stats.snapshot().lifetime.rx_pkts;
    eventually("traffic after the reset", Duration::from_secs(10), || {
        s.device.stats.snapshot().lifetime.rx_pkts > before + 10_000
    });
    t.cmd("stop");
    assert_eq!(t.quit(), Some(0));
    report(
        "keep-alive loss -> watchdog reset -> traffic",
        &format!("ok (reset reasons {resets:?}, wd_expired {wd_expired})"),
    );
}

#[test]
fn probe_refuses_low_version_and_missing_mandatory_feature() {
    let Some(_g) = guard("probe refusals") else {
        return;
    };
    let low = DeviceConfig {
        controller_version: 0x0100_0000,
        ..DeviceConfig::default()
    };
    let mut no_aenq = DeviceConfig::default();
    no_aenq.supported_features &= !(1 << feature::AENQ_CONFIG);
    let mut no_offload = DeviceConfig::default();
    no_offload.supported_features &= !(1 << feature::STATELESS_OFFLOAD_CONFIG);
    let mut no_rss_table = DeviceConfig::default();
    no_rss_table.supported_features &= !(1 << feature::RSS_INDIRECTION_TABLE_CONFIG);
    for (tag, cfg, why) in [
        ("low", low, "Device version is too low"),
        ("noaenq", no_aenq, "Failed to init ENA device"),
        ("nooff", no_offload, "Failed to init ENA device"),
        (
            "norss",
            no_rss_table,
            "Failed to initialize RSS in ENA device",
        ),
    ] {
        let (_s, mut t) = start(
            tag,
            Options {
                cfg,
                ..Default::default()
            },
            Box::new(Loopback::default()),
            "",
            &["-i"],
        );
        let out = t.output();
        assert!(
            out.contains(why) && out.contains("No probed ethernet devices"),
            "{tag}: probe should refuse:\n{out}"
        );
        t.cmd("show port info all");
        assert_eq!(t.quit(), Some(0));
    }
    report(
        "probe refuses bad version / missing mandatory features",
        "ok (version, AENQ_CONFIG, offloads, RSS table)",
    );
}

#[test]
fn admin_failure_is_reported_and_nothing_hangs() {
    let Some(_g) = guard("admin failure") else {
        return;
    };
    let (s, mut t) = start(
        "adm",
        Options::default(),
        Box::new(Loopback::default()),
        "",
        &["-i"],
    );
    t.cmd("port stop 0");
    s.device.faults.inject(Fault::AdminError {
        opcode: Some(opcode::CREATE_CQ),
        status: ena_hw::admin::status::RESOURCE_ALLOCATION_FAILURE,
        count: 1,
    });
    // testpmd prints the failure on stderr and the prompt on stdout: read from two pipes, the
    // line may land after the prompt, so wait for it rather than expect it before.
    let out = t.cmd("port start 0");
    if !out.contains("Fail to start port 0") {
        if let Err(e) = t.wait_for("Fail to start port 0", Duration::from_secs(10)) {
            panic!("port start must fail ({e}):\n{}", t.output());
        }
    }
    // The device is fine again: the next start works.
    let out = t.cmd("port start 0");
    assert!(!out.contains("Fail to start"), "second start:\n{out}");
    assert!(s.device.view().rx_queues.len() == 1);
    assert_eq!(t.quit(), Some(0));
    report(
        "admin command failure",
        "ok (CREATE_CQ error reported; port restarts; no hang)",
    );
}

#[test]
fn clean_stop_and_close_leave_nothing_behind() {
    let Some(_g) = guard("clean stop and close") else {
        return;
    };
    let prefix;
    let shm: Vec<std::path::PathBuf>;
    let hugedir;
    {
        let (s, mut t) = start(
            "clean",
            Options::default(),
            Box::new(Loopback::new(4096, false)),
            "",
            &["-i"],
        );
        t.cmd("set fwd io");
        t.cmd("start tx_first");
        std::thread::sleep(Duration::from_millis(500));
        t.cmd("stop");
        t.cmd("port stop 0");
        t.cmd("port close 0");
        assert!(
            s.device.view().rx_queues.is_empty() && s.device.view().cqs.is_empty(),
            "close destroys every queue"
        );
        assert_eq!(t.quit(), Some(0));
        prefix = s.dpdk_prefix().to_string();
        shm = s.shm_files();
        hugedir = s.huge_dir().to_path_buf();
        assert!(std::path::Path::new("/dev/uio0").is_symlink());
    }
    assert!(
        !std::path::Path::new("/dev/uio0").exists()
            && !std::path::Path::new("/dev/uio0").is_symlink()
    );
    assert!(!std::path::Path::new(&format!("/var/run/dpdk/{prefix}")).exists());
    assert!(
        shm.iter().all(|p| !p.exists()),
        "rig BAR files left in /dev/shm"
    );
    assert!(!hugedir.exists(), "hugetlbfs mount left behind");
    let ps = std::process::Command::new("pgrep")
        .args(["-f", &prefix])
        .output()
        .unwrap();
    assert!(ps.stdout.is_empty(), "testpmd still running");
    report(
        "clean stop/close, nothing left behind",
        "ok (no process, mount, hugepage file, /dev/shm file or /dev/uio0)",
    );
}
