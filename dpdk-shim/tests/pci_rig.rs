//! The shim's PCI path: `-a <address> --pci-sysfs <rig>/... --huge-dir --file-prefix` attaches
//! to a device model through the PCI rig exactly as it would attach to a uio/vfio-noiommu
//! bound ENA, and `fwd` forwards through it (one port, so it forwards to itself). Needs root
//! and hugepages; prints "SKIPPED: <reason>" otherwise.

#[allow(dead_code)]
#[path = "../examples/fwd.rs"]
mod fwd;

use dpdk_shim::prelude::*;
use ena_sim::config::DeviceConfig;
use ena_sim::frames;
use ena_sim::transport::inproc::{RunnerOptions, SimRunner};
use ena_sim::transport::pci_rig::{HugepageDma, HugepageReservation, Rig, RigConfig, RigDevice};
use ena_sim::wire::Capture;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn fwd_runs_on_a_pci_function_through_the_rig() {
    if let Err(why) = HugepageReservation::available() {
        println!("SKIPPED: {why}");
        return;
    }
    let res = match HugepageReservation::ensure(64, None) {
        Ok(r) => r,
        Err(e) => {
            println!("SKIPPED: hugepages: {e}");
            return;
        }
    };
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("ena-shim-rig-{pid}"));
    let mut rc = RigConfig::new(&dir);
    rc.shm_prefix = format!("ena-shim-rig-{pid}");
    let rig = Rig::create(rc).expect("rig");
    let prefix = format!("enashim{pid}");
    let capture = Capture {
        lossless: true,
        ..Capture::default()
    };
    let dev = RigDevice::new(
        &rig,
        DeviceConfig::default(),
        Box::new(capture.clone()),
        HugepageDma::new(res.dir(), &format!("{prefix}map_")).expect("device DMA"),
    )
    .expect("device");
    let runner =
        SimRunner::spawn_shared(vec![dev.shared()], RunnerOptions::default()).expect("runner");

    let sysfs = rig.sysfs_pci_devices();
    let argv: Vec<String> = [
        "fwd",
        "-l",
        "0-1",
        "-a",
        "0000:00:10.0,wc=proceed",
        "--pci-sysfs",
        sysfs.to_str().unwrap(),
        "--huge-dir",
        res.dir().to_str().unwrap(),
        "--file-prefix",
        &prefix,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (eal, _) = Eal::init(&argv).expect("EAL on the PCI function");
    assert_eq!(eal.port_count(), 1);
    let port = eal.port(0).unwrap();
    assert_eq!(port.name(), "0000:00:10.0");
    assert!(eal.sim_port(0).is_none());
    assert!(port.dev_info().llq.is_some(), "wc=proceed keeps LLQ");

    let sent: Vec<Vec<u8>> = (0..2000u16)
        .map(|i| frames::ipv4(true, [10, 1, 0, 1], [10, 2, 0, 1], i, 80, 100))
        .collect();
    for f in &sent {
        capture.push(f.clone());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (s, c) = (stop.clone(), capture.clone());
    let watcher = std::thread::spawn(move || {
        let t0 = Instant::now();
        while c.sent_len() < 2000 && t0.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(10));
        }
        s.store(true, Ordering::Relaxed);
    });
    let opts = fwd::Opts {
        mode: fwd::Mode::Io,
        burst: 32,
        duration: 0.0,
        tx_retry: u32::MAX,
        tx_csum: false,
        mtu: None,
        queues: Some(1),
        rxd: 512,
        txd: 512,
        mbufs: Some(4095),
        json: false,
        quiet: true,
    };
    let summary = fwd::run_with(&eal, &opts, stop).expect("fwd");
    watcher.join().unwrap();
    assert_eq!(capture.take_sent(), sent, "every frame back out, in order");
    assert_eq!(summary.directions[0].tx_packets, 2000);
    assert_eq!(dev.stats.snapshot().since_reset.dma_misses, 0);
    drop(eal);
    runner.stop();
    println!("shim over the PCI rig: 2000 frames forwarded: ok");
}
