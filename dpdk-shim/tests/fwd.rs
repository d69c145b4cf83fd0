//! The `fwd` example end to end on simulated ports: exact packet contents through a scripted
//! wire, macswap, RSS over several queues, generated traffic with counters that add up against
//! the sink's own count, and the command line as users type it.

#[allow(dead_code)]
#[path = "../examples/fwd.rs"]
mod fwd;

use dpdk_shim::prelude::*;
use dpdk_shim::vdev::WireHandle;
use ena_sim::frames;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The tests pin lcores to CPUs 0 and 1; one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn eal(vdevs: &[&str]) -> Eal {
    let mut argv = vec!["fwd".to_string(), "-l".into(), "0-1".into()];
    for v in vdevs {
        argv.push("--vdev".into());
        argv.push(v.to_string());
    }
    Eal::init(&argv).expect("EAL").0
}

fn opts(mode: fwd::Mode, duration: f64) -> fwd::Opts {
    fwd::Opts {
        mode,
        burst: 32,
        duration,
        queues: None,
        rxd: 512,
        txd: 512,
        mbufs: None,
        // Scripted wires compare every frame: wait for ring space rather than drop.
        tx_retry: u32::MAX,
        tx_csum: false,
        mtu: None,
        json: false,
        quiet: true,
    }
}

fn capture(eal: &Eal, port: u16) -> ena_sim::wire::Capture {
    match eal.sim_port(port).expect("sim port").wire {
        WireHandle::Capture(c) => c,
        other => panic!("port {port} has wire {other:?}"),
    }
}

/// `n` distinct TCP and UDP frames of varied lengths from host 10.0.<net>.1.
fn test_frames(n: u16, net: u8) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            frames::ipv4(
                i % 2 == 0,
                [10, 0, net, 1],
                [10, 9, 0, 1],
                1000 + i,
                80,
                64 + (i as usize % 200),
            )
        })
        .collect()
}

/// Runs fwd until `done` holds (checked every 10 ms) or 20 s pass.
fn run_until(eal: &Eal, mode: fwd::Mode, done: impl Fn() -> bool + Send + 'static) -> fwd::Summary {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let watcher = std::thread::spawn(move || {
        let t0 = Instant::now();
        while !done() && t0.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(10));
        }
        s.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let summary = fwd::run_with(eal, &opts(mode, 0.0), stop).expect("fwd");
    watcher.join().unwrap();
    summary
}

/// Every frame, byte for byte, in order; says where the first difference is.
fn same_frames(got: &[Vec<u8>], want: &[Vec<u8>], what: &str) {
    if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
        panic!(
            "{what}: frame {i} differs:\n got {:02x?}\nwant {:02x?}",
            got[i], want[i]
        );
    }
    assert_eq!(got.len(), want.len(), "{what}: frame count");
}

#[test]
fn io_mode_forwards_every_frame_unchanged_and_in_order() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let eal = eal(&[
        "net_ena_sim0,wire=capture:lossless",
        "net_ena_sim1,wire=capture:lossless",
    ]);
    let (c0, c1) = (capture(&eal, 0), capture(&eal, 1));
    let sent = test_frames(3000, 0);
    for f in &sent {
        c0.push(f.clone());
    }
    let back = test_frames(500, 1);
    for f in &back {
        c1.push(f.clone());
    }
    let (w0, w1) = (c0.clone(), c1.clone());
    let s = run_until(&eal, fwd::Mode::Io, move || {
        w1.sent_len() >= 3000 && w0.sent_len() >= 500
    });

    same_frames(&c1.take_sent(), &sent, "port 0 -> port 1");
    same_frames(&c0.take_sent(), &back, "port 1 -> port 0");
    let d01 = &s.directions[0];
    assert_eq!(
        (
            d01.from,
            d01.to,
            d01.rx_packets,
            d01.tx_packets,
            d01.dropped
        ),
        (0, 1, 3000, 3000, 0)
    );
    assert_eq!((s.ports[1].rx_packets, s.ports[1].tx_packets), (500, 3000));
    assert_eq!(s.ports[0].tx_packets, 500);
    // The devices saw the same.
    let st0 = eal.port(0).unwrap().stats_get().unwrap();
    let st1 = eal.port(1).unwrap().stats_get().unwrap();
    assert_eq!((st0.ipackets, st0.opackets), (3000, 500));
    assert_eq!((st1.ipackets, st1.opackets), (500, 3000));
    let bytes: u64 = sent.iter().map(|f| f.len() as u64).sum();
    assert_eq!(st0.ibytes, bytes);
}

#[test]
fn macswap_swaps_the_ethernet_addresses_and_nothing_else() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let eal = eal(&[
        "net_ena_sim0,wire=capture:lossless",
        "net_ena_sim1,wire=capture:lossless",
    ]);
    let (c0, c1) = (capture(&eal, 0), capture(&eal, 1));
    let sent = test_frames(1000, 0);
    for f in &sent {
        c0.push(f.clone());
    }
    let w1 = c1.clone();
    let s = run_until(&eal, fwd::Mode::Macswap, move || w1.sent_len() >= 1000);
    let got = c1.take_sent();
    assert_eq!(got.len(), 1000);
    for (g, f) in got.iter().zip(&sent) {
        assert_eq!(g[0..6], f[6..12], "destination <- source");
        assert_eq!(g[6..12], f[0..6], "source <- destination");
        assert_eq!(g[12..], f[12..], "the rest untouched");
        assert!(frames::checksums_valid(g));
    }
    assert_eq!(s.mode, fwd::Mode::Macswap);
    assert_eq!(s.directions[0].tx_packets, 1000);
}

#[test]
fn generated_traffic_counters_add_up_against_the_sinks() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Two queue pairs per port on one worker: RSS spreads the 256 flows over both.
    let gen = "wire=gen:size=128:flows=256:verify:lossless";
    let eal = eal(&[
        &format!("net_ena_sim0,{gen}"),
        &format!("net_ena_sim1,{gen}"),
    ]);
    let mut o = opts(fwd::Mode::Io, 1.5);
    o.queues = Some(2);
    o.tx_retry = 0; // drop when a ring is full: the counters must still add up
    let s = fwd::run_with(&eal, &o, Arc::new(AtomicBool::new(false))).expect("fwd");

    for d in &s.directions {
        assert!(d.rx_packets > 10_000, "{d:?}");
        assert_eq!(d.tx_packets, d.rx_packets - d.dropped, "{d:?}");
    }
    for p in &s.ports {
        let peer = &s.directions[p.peer as usize];
        assert_eq!(
            p.tx_packets, peer.tx_packets,
            "what port {} sent is what its peer forwarded",
            p.port
        );
        let WireHandle::Generator(g) = eal.sim_port(p.port).unwrap().wire else {
            panic!()
        };
        // The sink on this port's wire counted every packet the port sent, all well formed.
        let t0 = Instant::now();
        while g.sunk() < p.tx_packets && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(g.sunk(), p.tx_packets, "port {}", p.port);
        assert_eq!(g.sink_malformed(), 0);
        assert!(g.generated() >= p.rx_packets);
        // RSS used both queues.
        let st = eal.port(p.port).unwrap().stats_get().unwrap();
        assert_eq!(st.q_ipackets.len(), 2);
        assert!(
            st.q_ipackets.iter().all(|&n| n > 1000),
            "per-queue RX {:?}",
            st.q_ipackets
        );
        assert_eq!(st.q_ipackets.iter().sum::<u64>(), p.rx_packets);
    }
    assert_eq!(s.queues, 2);
}

#[test]
fn the_command_line_users_type_works_and_prints_json() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // As `cargo run --example fwd -- --duration 1 --json` passes it: no `--`, no devices.
    let argv: Vec<String> = ["fwd", "--duration", "1", "--json", "--quiet"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (s, o) = fwd::run(&argv, Arc::new(AtomicBool::new(false))).expect("fwd");
    assert!(o.json);
    assert_eq!(s.ports.len(), 2);
    assert_eq!(s.ports[0].name, "net_ena_sim0");
    let v: serde_json::Value = serde_json::to_value(&s).unwrap();
    for d in v["directions"].as_array().unwrap() {
        let (rx, tx, dr) = (
            d["rx_packets"].as_u64().unwrap(),
            d["tx_packets"].as_u64().unwrap(),
            d["dropped"].as_u64().unwrap(),
        );
        assert!(rx > 0);
        assert_eq!(tx, rx - dr);
    }
    for key in ["rx_packets", "tx_packets", "dropped", "mpps"] {
        assert!(v["ports"][0].get(key).is_some(), "{key}");
    }
    // Bad options are clear errors.
    let bad = |a: &[&str]| {
        fwd::run(
            &a.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            Arc::new(AtomicBool::new(false)),
        )
        .unwrap_err()
    };
    assert!(bad(&["fwd", "--burst", "0"]).contains("--burst"));
    assert!(bad(&["fwd", "-l", "0", "--", "--duration", "1"]).contains("give at least two lcores"));
    let e = bad(&[
        "fwd",
        "--vdev",
        "net_ena_sim0,wire=gen",
        "--",
        "--queues",
        "99",
    ]);
    assert!(e.contains("offers"), "{e}");
}

#[test]
fn tx_checksum_offload_fills_in_what_fwd_cleared() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let eal = eal(&[
        "net_ena_sim0,wire=capture:lossless",
        "net_ena_sim1,wire=capture:lossless",
    ]);
    let (c0, c1) = (capture(&eal, 0), capture(&eal, 1));
    let v6a: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
    let v6b: std::net::Ipv6Addr = "2001:db8::2".parse().unwrap();
    let mut sent = test_frames(400, 0);
    sent.extend(
        (0..100u16).map(|i| frames::ipv6(i % 2 == 0, v6a, v6b, 2000 + i, 443, 50 + i as usize)),
    );
    for f in &sent {
        c0.push(f.clone());
    }
    let w1 = c1.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let watcher = std::thread::spawn(move || {
        let t0 = Instant::now();
        while w1.sent_len() < 500 && t0.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(10));
        }
        s.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let mut o = opts(fwd::Mode::Io, 0.0);
    o.tx_csum = true;
    fwd::run_with(&eal, &o, stop).expect("fwd");
    watcher.join().unwrap();
    // fwd zeroed every checksum; only the device's offload engine can have restored them.
    same_frames(
        &c1.take_sent(),
        &sent,
        "port 0 -> port 1 with TX checksum offload",
    );
    assert!(c0.take_sent().is_empty());
}

#[test]
fn jumbo_frames_cross_as_chains_with_mtu_9000() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let eal = eal(&[
        "net_ena_sim0,wire=capture:lossless",
        "net_ena_sim1,wire=capture:lossless",
    ]);
    let (c0, c1) = (capture(&eal, 0), capture(&eal, 1));
    let sent: Vec<Vec<u8>> = (0..200u16)
        .map(|i| {
            frames::ipv4(
                true,
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                3000 + i,
                80,
                8900 - 2 * i as usize,
            )
        })
        .collect();
    for f in &sent {
        c0.push(f.clone());
    }
    let w1 = c1.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let watcher = std::thread::spawn(move || {
        let t0 = Instant::now();
        while w1.sent_len() < 200 && t0.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(10));
        }
        s.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let mut o = opts(fwd::Mode::Io, 0.0);
    o.mtu = Some(9000);
    fwd::run_with(&eal, &o, stop).expect("fwd");
    watcher.join().unwrap();
    same_frames(&c1.take_sent(), &sent, "9000-byte MTU path");
}
