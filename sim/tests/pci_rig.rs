//! The device behind the PCI rig, driven end to end by a host that reaches it only through the
//! rig's files: BARs mapped from `resource0`/`resource2`, DMA memory in hugepage files addressed
//! by physical address, interrupts read from the FIFO. Needs root and hugepages; prints
//! "SKIPPED: <reason>" otherwise.

mod common;

use common::frames;
use common::*;
use ena_hw::admin::*;
use ena_hw::regs::off;
use ena_sim::config::DeviceConfig;
use ena_sim::dma::DmaSpace;
use ena_sim::transport::inproc::{RunnerOptions, SimRunner};
use ena_sim::transport::pci_rig::{
    HostDmaPool, HugepageDma, HugepageReservation, Rig, RigConfig, RigDevice, RigHost,
};
use ena_sim::wire::Loopback;
use std::sync::{Arc, Mutex};
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());

struct Bench {
    _res: HugepageReservation,
    rig: Rig,
    dev: RigDevice,
    runner: Option<SimRunner>,
    host: TestHost,
    rig_host: RigHost,
}

fn setup(tag: &str, readless: bool, cfg: DeviceConfig) -> Option<Bench> {
    if let Err(why) = HugepageReservation::available() {
        println!("SKIPPED: {why}");
        return None;
    }
    let res = match HugepageReservation::ensure(8, None) {
        Ok(r) => r,
        Err(e) => {
            println!("SKIPPED: hugepages: {e}");
            return None;
        }
    };
    let dir = std::env::temp_dir().join(format!("ena-rig-test-{tag}-{}", std::process::id()));
    let mut rc = RigConfig::new(&dir).with_readless(readless);
    rc.shm_prefix = format!("ena-rig-test-{tag}-{}", std::process::id());
    let rig = Rig::create(rc).expect("rig");
    let prefix = format!("enatest{tag}");
    let pool = HostDmaPool::new(res.dir(), &prefix, 8).expect("host DMA pool");
    let device_dma = HugepageDma::new(res.dir(), &prefix).expect("device DMA");
    let dev = RigDevice::new(&rig, cfg, Box::new(Loopback::new(4096, true)), device_dma)
        .expect("rig device");
    let runner =
        SimRunner::spawn_shared(vec![dev.shared()], RunnerOptions::default()).expect("runner");
    let rig_host = RigHost::attach(&rig).expect("attach");
    let host_space: Arc<dyn DmaSpace> =
        Arc::new(HugepageDma::new(res.dir(), &prefix).expect("host view"));
    let pool = Arc::new(Mutex::new(pool));
    let mut host = TestHost::new(
        rig_host.bar0().clone(),
        rig_host.bar2().cloned(),
        host_space,
        Box::new(move |len, align| {
            pool.lock()
                .unwrap()
                .alloc(len, align.max(64))
                .expect("hugepage alloc")
                .pa
        }),
        Box::new(std::thread::yield_now),
    );
    host.readless = readless;
    Some(Bench {
        _res: res,
        rig,
        dev,
        runner: Some(runner),
        host,
        rig_host,
    })
}

impl Drop for Bench {
    fn drop(&mut self) {
        // Stop the device before its files go away.
        self.runner.take();
        let _ = &self.rig;
    }
}

fn traffic(b: &mut Bench, llq: bool) {
    let h = &mut b.host;
    h.bring_up(0);
    if llq {
        assert_eq!(set_llq(h, 128, 0), 0);
    }
    let mut tx = TxRing::create_with(h, 256, llq.then_some((128, 2)), 2048);
    let mut rx = RxRing::create(h, 256, 2048);
    rx.post(h, 255);
    let frames: Vec<Vec<u8>> = (0..100u16)
        .map(|i| {
            frames::ipv4(
                i % 2 == 0,
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                1000 + i,
                80,
                20 + i as usize * 10,
            )
        })
        .collect();
    for (i, f) in frames.iter().enumerate() {
        tx.queue(h, i as u16, f, 2, TxOffload::default(), 96.min(f.len()));
    }
    tx.ring(h);
    let mut got = Vec::new();
    let mut done = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while (got.len() < frames.len() || done < frames.len()) && std::time::Instant::now() < deadline
    {
        done += tx.completions(h).len();
        got.extend(rx.receive(h));
        std::thread::yield_now();
    }
    assert_eq!(done, frames.len(), "TX completions through the rig");
    assert_eq!(
        got.len(),
        frames.len(),
        "packets looped back through the rig"
    );
    for (p, f) in got.iter().zip(&frames) {
        assert_eq!(&p.data, f);
    }
    let s = b.dev.stats.snapshot().since_reset;
    assert_eq!((s.tx_pkts, s.rx_pkts, s.dma_misses), (100, 100, 0));
}

#[test]
fn readless_mode_bring_up_and_traffic() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut b) = setup("rl", true, DeviceConfig::default()) else {
        return;
    };
    traffic(&mut b, false);
    assert!(b.rig.config_path().exists());
}

#[test]
fn plain_register_reads_and_llq_through_bar2() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut b) = setup("pl", false, DeviceConfig::default()) else {
        return;
    };
    assert_eq!(b.host.read_reg(off::VERSION), 0x0a);
    traffic(&mut b, true);
}

#[test]
fn management_interrupts_reach_the_fifo_when_enabled() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut b) = setup("irq", true, DeviceConfig::default()) else {
        return;
    };
    b.host.bring_up(0);
    // INTx disabled (the rig's power-on command register): nothing is written to the FIFO.
    b.rig_host.set_intx_disabled(true).unwrap();
    b.host.bar0.write32(off::INTR_MASK, 0);
    b.host.get_feature(feature::DEVICE_ATTRIBUTES, 0, None);
    // The device raises right after it writes the completion; give it time to do so.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let settled = |s: ena_sim::transport::pci_rig::FifoIrqStats| {
        s.raised > 0 && s.raised == s.delivered + s.suppressed()
    };
    while !settled(b.dev.irq.snapshot()) && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(
        b.dev.irq.snapshot().masked,
        1,
        "{:?} intx {:?}",
        b.dev.irq.snapshot(),
        b.rig_host.command()
    );
    assert_eq!(b.rig_host.take_interrupt().unwrap(), None);
    // Enabled, as DPDK's rte_intr_enable leaves it: one event per completion (coalesced).
    b.rig_host.set_intx_disabled(false).unwrap();
    b.host.get_feature(feature::DEVICE_ATTRIBUTES, 0, None);
    assert!(b
        .rig_host
        .wait_interrupt(Duration::from_secs(2))
        .unwrap()
        .is_some());
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while !(settled(b.dev.irq.snapshot()) && b.dev.irq.snapshot().raised == 2)
        && std::time::Instant::now() < deadline
    {
        std::thread::yield_now();
    }
    let s = b.dev.irq.snapshot();
    assert_eq!((s.raised, s.delivered, s.masked), (2, 1, 1), "{s:?}");
}
