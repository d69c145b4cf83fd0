//! Test support: a port on an in-process device model, and packet helpers.

#![allow(dead_code)]

use ena::mem::pool::DEFAULT_DATA_ROOM;
use ena::platform::sim::{SimDrive, SimPlatform};
use ena::platform::Platform;
use ena::pmd::{PortConf, PortOptions};
use ena::{Mbuf, MbufCache, Mempool, Port, RxQueue, TxQueue};
use ena_sim::config::DeviceConfig;
use ena_sim::transport::inproc::{ClockChoice, RunnerOptions, SimDevice, SimRunner};
use ena_sim::wire::Wire;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A port on a device model, the model's runner (threaded) and a pool.
pub struct Bench {
    pub sim: SimDevice,
    pub platform: Arc<SimPlatform>,
    pub port: Port,
    pub pool: Mempool,
    pub runner: Option<SimRunner>,
    /// The test steps the model itself.
    pub manual: bool,
}

pub fn pool_for(platform: &Arc<SimPlatform>, n: u32) -> Mempool {
    let p = platform.clone();
    Mempool::new("test", n, DEFAULT_DATA_ROOM, &move |len, align| {
        p.alloc_dma(len, align)
    })
    .expect("pool")
}

/// Opens a port on a threaded device model.
pub fn threaded(cfg: DeviceConfig, wire: Box<dyn Wire>, opts: PortOptions) -> Bench {
    let sim = SimDevice::new(cfg, wire, ClockChoice::Real).expect("sim");
    let runner =
        SimRunner::spawn(std::slice::from_ref(&sim), RunnerOptions::default()).expect("runner");
    let platform = Arc::new(SimPlatform::new(
        sim.clone(),
        SimDrive::Threaded,
        true,
        "sim0",
    ));
    let port = Port::open(platform.clone(), opts).expect("port open");
    let pool = pool_for(&platform, 8192);
    Bench {
        sim,
        platform,
        port,
        pool,
        runner: Some(runner),
        manual: false,
    }
}

/// Opens a port on a device model the test steps itself (deterministic, manual clock).
pub fn manual(cfg: DeviceConfig, wire: Box<dyn Wire>, opts: PortOptions) -> Bench {
    let clock = ena_sim::clock::ManualClock::new();
    let sim = SimDevice::new(cfg, wire, ClockChoice::Manual(clock)).expect("sim");
    let platform = Arc::new(SimPlatform::new(
        sim.clone(),
        SimDrive::Manual,
        true,
        "sim0",
    ));
    let port = Port::open(platform.clone(), opts).expect("port open");
    let pool = pool_for(&platform, 8192);
    Bench {
        sim,
        platform,
        port,
        pool,
        runner: None,
        manual: true,
    }
}

impl Bench {
    /// Configures `n` queue pairs with `ring` descriptors, starts, and takes the queues.
    pub fn start(&mut self, n: u16, ring: u16, conf: &PortConf) -> (Vec<RxQueue>, Vec<TxQueue>) {
        self.port.configure(n, n, conf).expect("configure");
        for q in 0..n {
            self.port
                .rx_queue_setup(q, ring, &self.pool)
                .expect("rx setup");
            self.port
                .tx_queue_setup(q, ring, &self.pool)
                .expect("tx setup");
        }
        self.port.start().expect("start");
        let rx = (0..n)
            .map(|q| self.port.take_rx_queue(q).unwrap())
            .collect();
        let tx = (0..n)
            .map(|q| self.port.take_tx_queue(q).unwrap())
            .collect();
        (rx, tx)
    }

    /// Runs the model (manual mode) until idle.
    pub fn step(&self) {
        if self.manual {
            self.sim.run_until_idle();
        }
    }
}

/// An mbuf holding `bytes`.
pub fn mbuf(cache: &mut MbufCache, bytes: &[u8]) -> Mbuf {
    let mut m = cache.alloc().expect("mbuf");
    m.append(bytes.len() as u16)
        .expect("room")
        .copy_from_slice(bytes);
    m
}

/// All bytes of a packet (every segment).
pub fn bytes(m: &Mbuf) -> Vec<u8> {
    let mut v = Vec::new();
    for s in m.segments() {
        v.extend_from_slice(s.data());
    }
    v
}

/// Sends every packet (retrying while rings are full) and returns when all were accepted.
pub fn send_all(b: &Bench, tx: &mut TxQueue, pkts: Vec<Mbuf>) {
    let mut slots: Vec<Option<Mbuf>> = pkts.into_iter().map(Some).collect();
    let mut at = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while at < slots.len() {
        at += tx.tx_burst(&mut slots[at..]);
        b.step();
        assert!(
            Instant::now() < deadline,
            "TX stalled at {at}/{}",
            slots.len()
        );
    }
}

/// Receives until `n` packets arrived on `rx` (or times out).
pub fn recv(b: &Bench, rx: &mut RxQueue, n: usize) -> Vec<Mbuf> {
    let mut out = Vec::with_capacity(n);
    let mut burst: Vec<Option<Mbuf>> = (0..32).map(|_| None).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < n {
        b.step();
        let k = rx.rx_burst(&mut burst);
        out.extend(burst[..k].iter_mut().filter_map(Option::take));
        if k == 0 {
            if Instant::now() > deadline {
                break;
            }
            std::thread::yield_now();
        }
    }
    out
}
