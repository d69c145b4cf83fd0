//! The driver's PCI path — sysfs device directory, `resource0`/`resource2` mmapped, DMA from
//! 2 MiB hugepage files by physical address — attached to the device model through the PCI rig,
//! exactly as it would attach to a uio-bound ENA on EC2. Needs root and hugepages; prints
//! "SKIPPED: <reason>" otherwise.

mod common;

use ena::com::LlqPolicy;
use ena::mem::pool::DEFAULT_DATA_ROOM;
use ena::platform::pci::{PciOptions, PciPlatform, WcPolicy};
use ena::platform::Platform;
use ena::pmd::{PortConf, PortOptions, RssConf};
use ena::{Mbuf, Mempool, Port};
use ena_sim::config::DeviceConfig;
use ena_sim::frames;
use ena_sim::transport::inproc::{RunnerOptions, SimRunner};
use ena_sim::transport::pci_rig::{HugepageDma, HugepageReservation, Rig, RigConfig, RigDevice};
use ena_sim::wire::Loopback;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn run(tag: &str, readless: bool, llq: bool, queues: u16) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(why) = HugepageReservation::available() {
        println!("SKIPPED: {why}");
        return;
    }
    let res = match HugepageReservation::ensure(48, None) {
        Ok(r) => r,
        Err(e) => {
            println!("SKIPPED: hugepages: {e}");
            return;
        }
    };
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("ena-drv-rig-{tag}-{pid}"));
    let mut rc = RigConfig::new(&dir).with_readless(readless);
    rc.shm_prefix = format!("ena-drv-rig-{tag}-{pid}");
    let rig = Rig::create(rc).expect("rig");
    let prefix = format!("enadrv{tag}{pid}-");
    // The device maps the driver's hugepage files by name and finds them by physical address.
    let dev_dma = HugepageDma::new(res.dir(), &format!("{prefix}map_")).expect("device DMA");
    let dev = RigDevice::new(
        &rig,
        DeviceConfig::default(),
        Box::new(Loopback::new(4096, false)),
        dev_dma,
    )
    .expect("device");
    let runner = SimRunner::spawn_shared(vec![dev.shared()], RunnerOptions::default())
        .expect("device thread");

    let opts = PciOptions {
        sysfs_devices: rig.sysfs_pci_devices(),
        hugepage_dir: res.dir().to_path_buf(),
        hugepage_prefix: prefix,
        wc: WcPolicy::Proceed,
        ..Default::default()
    };
    let platform: Arc<dyn Platform> =
        Arc::new(PciPlatform::open("0000:00:10.0", opts).expect("PCI platform"));
    assert_eq!(platform.readless(), readless);
    let llq_policy = if llq {
        LlqPolicy::Recommended
    } else {
        LlqPolicy::Disabled
    };
    let mut port = match Port::open(
        platform.clone(),
        PortOptions {
            llq_policy,
            ..Default::default()
        },
    ) {
        Ok(p) => p,
        Err(e) => panic!(
            "port: {e}; device events {:#?}",
            dev.events
                .snapshot()
                .into_iter()
                .map(|r| r.event)
                .collect::<Vec<_>>()
        ),
    };
    assert_eq!(port.info().llq.is_some(), llq);
    let p = platform.clone();
    let pool = Mempool::new("rig", 4096, DEFAULT_DATA_ROOM, &move |len, align| {
        p.alloc_dma(len, align)
    })
    .expect("pool");
    let conf = PortConf {
        rss: (queues > 1).then(RssConf::default),
        ..Default::default()
    };
    port.configure(queues, queues, &conf).unwrap();
    for q in 0..queues {
        port.rx_queue_setup(q, 256, &pool).unwrap();
        port.tx_queue_setup(q, 256, &pool).unwrap();
    }
    if let Err(e) = port.start() {
        panic!(
            "start: {e}; device events {:#?}",
            dev.events
                .snapshot()
                .into_iter()
                .map(|r| r.event)
                .collect::<Vec<_>>()
        );
    }
    let mut rxs: Vec<_> = (0..queues)
        .map(|q| port.take_rx_queue(q).unwrap())
        .collect();
    let mut tx = port.take_tx_queue(0).unwrap();
    let mut cache = pool.cache(256);
    let total = 2000u32;
    let mut sent = 0u32;
    let mut got = Vec::new();
    let mut burst: Vec<Option<Mbuf>> = (0..32).map(|_| None).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < total as usize {
        assert!(
            Instant::now() < deadline,
            "{tag}: stalled at {} of {total}: {:?}",
            got.len(),
            dev.stats.snapshot().since_reset
        );
        if sent < total && (sent as usize - got.len()) < 128 {
            let mut pkts: Vec<Option<Mbuf>> = (0..16)
                .map(|i| {
                    let f = frames::ipv4(
                        true,
                        [10, 1, 0, 1],
                        [10, 2, 0, 1],
                        (sent + i) as u16,
                        80,
                        100,
                    );
                    let mut m = cache.alloc().unwrap();
                    m.append(f.len() as u16).unwrap().copy_from_slice(&f);
                    Some(m)
                })
                .collect();
            let mut at = 0;
            while at < pkts.len() {
                at += tx.tx_burst(&mut pkts[at..]);
            }
            sent += 16;
        }
        for rx in rxs.iter_mut() {
            let n = rx.rx_burst(&mut burst);
            for m in burst[..n].iter_mut().filter_map(Option::take) {
                let d: Vec<u8> = m.segments().flat_map(|s| s.data().to_vec()).collect();
                let sport = u16::from_be_bytes([d[34], d[35]]);
                assert_eq!(
                    d,
                    frames::ipv4(true, [10, 1, 0, 1], [10, 2, 0, 1], sport, 80, 100)
                );
                got.push(sport);
            }
        }
    }
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), total as usize, "every packet exactly once");
    let stats = port.stats().unwrap();
    assert_eq!(stats.opackets, total as u64);
    assert_eq!(stats.ipackets, total as u64);
    assert_eq!(dev.stats.snapshot().since_reset.dma_misses, 0);
    if queues > 1 {
        assert!(
            stats.q_ipackets.iter().filter(|&&n| n > 0).count() > 1,
            "RSS spread: {:?}",
            stats.q_ipackets
        );
    }
    port.stop().unwrap();
    drop((rxs, tx, cache));
    port.close().unwrap();
    assert_eq!(pool.available(), pool.capacity());
    drop(runner);
    println!("pci rig {tag}: {total} packets through {queues} queue pair(s), readless={readless}, llq={llq}: ok");
}

#[test]
fn pci_path_readless_host_placement() {
    run("rh", true, false, 1);
}

#[test]
fn pci_path_plain_reads_llq_four_queues() {
    run("pl", false, true, 4);
}

#[test]
fn pci_path_plain_reads_host_placement() {
    run("ph", false, false, 1);
}

#[test]
fn pci_path_readless_llq() {
    run("rl", true, true, 1);
}
