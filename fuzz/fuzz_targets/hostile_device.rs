//! Fuzzes the driver against a hostile device: the input bytes are a script of steps — traffic,
//! the control path, time passing — and of what the device writes where the driver reads: RX
//! and TX completions, admin completions, AENQ entries, registers read with plain loads, the
//! readless-read response. The same properties as `driver/tests/hostile_device.rs`:
//!
//! - no panic (libfuzzer aborts on one), no undefined behaviour (AddressSanitizer);
//! - no device access outside the memory the driver mapped (the model's DMA miss counter);
//! - no buffer handed to the application twice;
//! - once the device behaves again the driver recovers and passes traffic;
//! - every buffer back in the pool at the end.
//!
//! The model runs in manual mode (deterministic: time moves only when the script or the
//! driver's waits move it), so a crashing input replays exactly.
#![no_main]

use ena::hw::regs::ResetReason;
use ena::mem::pool::DEFAULT_DATA_ROOM;
use ena::mem::DmaRegion;
use ena::platform::sim::{SimDrive, SimPlatform};
use ena::platform::{Mmio, Platform};
use ena::pmd::{PortConf, PortEvent, PortOptions, WatchdogConfig};
use ena::{Mbuf, MbufCache, Mempool, Port, RxQueue, TxQueue};
use ena_sim::config::DeviceConfig;
use ena_sim::dma::Dma;
use ena_sim::frames;
use ena_sim::transport::inproc::{ClockChoice, SimDevice};
use ena_sim::wire::Loopback;
use libfuzzer_sys::fuzz_target;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const QUEUES: u16 = 2;
const RING: u16 = 128;
const POOL: u32 = 1024;

// BAR0 registers.
const VERSION: u32 = 0x00;
const CONTROLLER_VERSION: u32 = 0x04;
const CAPS: u32 = 0x08;
const ACQ_BASE_LO: u32 = 0x20;
const ACQ_BASE_HI: u32 = 0x24;
const AENQ_BASE_LO: u32 = 0x38;
const AENQ_BASE_HI: u32 = 0x3c;
const DEV_STS: u32 = 0x58;
const MMIO_REG_READ: u32 = 0x5c;
const MMIO_RESP_LO: u32 = 0x60;
const MMIO_RESP_HI: u32 = 0x64;
const READ_REGISTERS: [u32; 4] = [VERSION, CONTROLLER_VERSION, CAPS, DEV_STS];

/// The input, read front to back; past its end every read is zero.
struct Script<'a> {
    data: &'a [u8],
    at: usize,
}

impl Script<'_> {
    fn done(&self) -> bool {
        self.at >= self.data.len()
    }
    fn u8(&mut self) -> u8 {
        let v = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        v
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.u8()).collect()
    }
}

/// The simulated platform, recording every DMA allocation (device address, length).
struct Recording {
    inner: SimPlatform,
    allocs: Mutex<Vec<(u64, usize)>>,
}

impl Platform for Recording {
    fn bar0(&self) -> &Mmio {
        self.inner.bar0()
    }
    fn bar2(&self) -> Option<&Mmio> {
        self.inner.bar2()
    }
    fn alloc_dma(&self, len: usize, align: usize) -> ena::Result<DmaRegion> {
        let r = self.inner.alloc_dma(len, align)?;
        if let Ok(mut a) = self.allocs.lock() {
            a.push((r.iova(), r.len()));
        }
        Ok(r)
    }
    fn readless(&self) -> bool {
        self.inner.readless()
    }
    fn delay(&self, d: Duration) {
        self.inner.delay(d)
    }
    fn now(&self) -> Duration {
        self.inner.now()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

impl Recording {
    fn last(&self) -> (u64, usize) {
        self.allocs
            .lock()
            .ok()
            .and_then(|a| a.last().copied())
            .unwrap_or((0, 0))
    }
}

struct Rig {
    cfg: DeviceConfig,
    sim: SimDevice,
    port: Port,
    pool: Mempool,
    rx: Vec<RxQueue>,
    tx: Vec<TxQueue>,
    cache: MbufCache,
    rx_cq: Vec<u64>,
    tx_cq: Vec<u64>,
    dma: Dma,
    held: VecDeque<Mbuf>,
    held_idx: HashSet<u32>,
    next: u16,
}

impl Rig {
    fn new(readless: bool) -> Rig {
        let cfg = DeviceConfig::default();
        let sim = SimDevice::new(
            cfg.clone(),
            Box::new(Loopback::new(1024, false)),
            ClockChoice::Manual(ena_sim::clock::ManualClock::new()),
        )
        .expect("sim");
        let platform = Arc::new(Recording {
            inner: SimPlatform::new(sim.clone(), SimDrive::Manual, readless, "fuzz"),
            allocs: Mutex::new(Vec::new()),
        });
        let opts = PortOptions {
            watchdog: WatchdogConfig {
                keep_alive_timeout: Some(Duration::from_secs(3)),
                missing_tx_timeout: Some(Duration::from_millis(500)),
                missing_tx_threshold: Some(16),
            },
            ..Default::default()
        };
        let mut port = Port::open(platform.clone(), opts).expect("port open");
        let p = platform.clone();
        let pool = Mempool::new("fuzz", POOL, DEFAULT_DATA_ROOM, &move |len, align| {
            p.alloc_dma(len, align)
        })
        .expect("pool");
        port.configure(QUEUES, QUEUES, &PortConf::default())
            .expect("configure");
        let mut rx_cq = Vec::new();
        let mut tx_cq = Vec::new();
        for q in 0..QUEUES {
            // Each setup allocates its completion ring last.
            port.rx_queue_setup(q, RING, &pool).expect("rx setup");
            rx_cq.push(platform.last().0);
            port.tx_queue_setup(q, RING, &pool).expect("tx setup");
            tx_cq.push(platform.last().0);
        }
        port.start().expect("start");
        let rx = (0..QUEUES)
            .map(|q| port.take_rx_queue(q).expect("rx"))
            .collect();
        let tx = (0..QUEUES)
            .map(|q| port.take_tx_queue(q).expect("tx"))
            .collect();
        let cache = pool.cache(64);
        let dma = Dma::new(sim.dma.clone());
        Rig {
            cfg,
            sim,
            port,
            pool,
            rx,
            tx,
            cache,
            rx_cq,
            tx_cq,
            dma,
            held: VecDeque::new(),
            held_idx: HashSet::new(),
            next: 0,
        }
    }

    fn hold(&mut self, m: Mbuf) {
        let idx = m.index();
        assert!(
            self.held_idx.insert(idx),
            "mbuf {idx} handed out while the application holds it"
        );
        self.held.push_back(m);
        if self.held.len() > 128 {
            self.release(32);
        }
    }

    fn release(&mut self, n: usize) {
        for _ in 0..n {
            let Some(m) = self.held.pop_front() else {
                break;
            };
            self.held_idx.remove(&m.index());
        }
    }

    fn receive(&mut self) -> usize {
        let mut burst: Vec<Option<Mbuf>> = (0..32).map(|_| None).collect();
        let mut got = 0;
        for q in 0..QUEUES as usize {
            let k = self.rx[q].rx_burst(&mut burst);
            for m in burst[..k].iter_mut().filter_map(Option::take) {
                let len: usize = m.segments().map(|s| s.data().len()).sum();
                assert_eq!(m.pkt_len() as usize, len, "pkt_len and segments agree");
                got += 1;
                self.hold(m);
            }
        }
        got
    }

    fn traffic(&mut self, q: u16, n: u8) -> usize {
        let mut pkts: Vec<Option<Mbuf>> = Vec::new();
        for _ in 0..n {
            let Some(mut m) = self.cache.alloc() else {
                break;
            };
            assert!(
                !self.held_idx.contains(&m.index()),
                "the pool handed out mbuf {} while the application holds it",
                m.index()
            );
            self.next = self.next.wrapping_add(1);
            let f = frames::ipv4(
                self.next.is_multiple_of(2),
                [10, 0, 0, 1],
                [10, 0, 1, (self.next % 200) as u8],
                self.next,
                80,
                (self.next % 300) as usize,
            );
            let Some(room) = m.append(f.len() as u16) else {
                break;
            };
            room.copy_from_slice(&f);
            pkts.push(Some(m));
        }
        self.tx[q as usize % QUEUES as usize].tx_burst(&mut pkts);
        drop(pkts);
        self.sim.run_until_idle();
        self.receive()
    }

    #[allow(clippy::too_many_arguments)]
    fn forge(
        &mut self,
        base: u64,
        entry: usize,
        depth: usize,
        bytes: &[u8],
        phase_byte: usize,
        phase: u8,
        slot: u16,
        vary_at: Option<usize>,
    ) {
        // slot 0xffff: every entry; else one.
        let which: Vec<usize> = if slot == 0xffff {
            (0..depth).collect()
        } else {
            vec![slot as usize % depth]
        };
        for s in which {
            let mut e = bytes[..entry].to_vec();
            if let Some(at) = vary_at {
                e[at] = e[at].wrapping_add(s as u8);
            }
            match phase % 3 {
                0 => e[phase_byte] &= !1,
                1 => e[phase_byte] |= 1,
                _ => {}
            }
            // A ring the driver has released may still be named by a register: skip it.
            let _ = self.dma.write(base + (s * entry) as u64, &e);
        }
    }

    fn reg64(&self, lo: u32, hi: u32) -> u64 {
        self.sim.bar0.read32(lo) as u64 | (self.sim.bar0.read32(hi) as u64) << 32
    }

    fn control(&mut self) -> Vec<PortEvent> {
        self.sim.run_until_idle();
        let ev = self.port.poll_control();
        let _ = self.port.xstats();
        let _ = self.port.stats();
        self.sim.run_until_idle();
        ev
    }

    fn step(&mut self, s: &mut Script) {
        let op = s.u8();
        match op % 11 {
            0 | 1 => {
                let q = s.u8() as u16;
                let n = s.u8() % 48 + 1;
                self.traffic(q, n);
            }
            2 => {
                let q = (s.u8() as u16 % QUEUES) as usize;
                let (phase, slot) = (s.u8(), s.u16());
                let b = s.bytes(16);
                self.forge(
                    self.rx_cq[q],
                    16,
                    RING as usize,
                    &b,
                    3,
                    phase,
                    slot,
                    Some(6),
                );
                self.receive();
            }
            3 => {
                let q = (s.u8() as u16 % QUEUES) as usize;
                let (phase, slot) = (s.u8(), s.u16());
                let b = s.bytes(8);
                self.forge(self.tx_cq[q], 8, RING as usize, &b, 3, phase, slot, Some(0));
                self.tx[q].tx_done_cleanup();
            }
            4 => {
                let (phase, slot) = (s.u8(), s.u16());
                let b = s.bytes(64);
                let base = self.reg64(ACQ_BASE_LO, ACQ_BASE_HI);
                if base != 0 {
                    self.forge(base, 64, 32, &b, 3, phase, slot, Some(0));
                }
                let _ = self.port.stats();
            }
            5 => {
                let (phase, slot) = (s.u8(), s.u16());
                let mut b = s.bytes(64);
                // Mostly groups the driver knows.
                b[1] &= 0x01;
                b[0] %= 16;
                let base = self.reg64(AENQ_BASE_LO, AENQ_BASE_HI);
                if base != 0 {
                    self.forge(base, 64, 16, &b, 4, phase, slot, None);
                }
                self.control();
            }
            6 => {
                let which = s.u8() as usize % READ_REGISTERS.len();
                let v = s.u32();
                self.sim.bar0.write32(READ_REGISTERS[which], v);
                self.control();
            }
            7 => {
                let (reg_off, value) = (s.u16(), s.u32());
                let resp = self.reg64(MMIO_RESP_LO, MMIO_RESP_HI);
                if resp != 0 {
                    let next_id = (self.sim.bar0.read32(MMIO_REG_READ) as u16).wrapping_add(1);
                    let mut b = [0u8; 8];
                    b[..2].copy_from_slice(&next_id.to_le_bytes());
                    b[2..4].copy_from_slice(&reg_off.to_le_bytes());
                    b[4..].copy_from_slice(&value.to_le_bytes());
                    let _ = self.dma.write(resp, &b);
                }
                self.port.schedule_reset(ResetReason::UserTrigger);
                self.control();
            }
            8 => {
                self.control();
            }
            9 => {
                let ms = s.u16() as u64 % 4000;
                self.sim.advance(Duration::from_millis(ms));
                self.sim.run_until_idle();
                for q in 0..QUEUES as usize {
                    self.tx[q].tx_done_cleanup();
                }
                self.receive();
                self.control();
            }
            _ => {
                let n = s.u8() as usize;
                self.release(n);
            }
        }
    }

    /// The device behaves again: the driver must get back to passing traffic by itself.
    fn heal_and_check(&mut self) {
        let sts = self.sim.view().dev_sts.0;
        self.sim.bar0.write32(VERSION, self.cfg.version);
        self.sim
            .bar0
            .write32(CONTROLLER_VERSION, self.cfg.controller_version);
        self.sim.bar0.write32(CAPS, self.cfg.caps());
        self.sim.bar0.write32(DEV_STS, sts);
        self.port.schedule_reset(ResetReason::UserTrigger);
        let mut recovered = false;
        for _ in 0..20 {
            let ev = self.control();
            if ev.iter().any(|e| matches!(e, PortEvent::Reset { .. })) {
                recovered = true;
                break;
            }
            self.sim.advance(Duration::from_millis(100));
        }
        assert!(
            recovered,
            "the driver did not recover once the device behaved"
        );
        self.release(usize::MAX);
        let mut got = 0;
        for round in 0..10u16 {
            got += self.traffic(round, 16);
            self.release(usize::MAX);
        }
        assert!(got >= 100, "traffic after recovery: {got} of 160");
    }

    fn finish(mut self) {
        self.release(usize::MAX);
        let _ = self.port.stop();
        let Rig {
            sim,
            port,
            pool,
            rx,
            tx,
            cache,
            ..
        } = self;
        drop((rx, tx, cache));
        let _ = port.close();
        let misses = sim.stats.snapshot().lifetime.dma_misses;
        assert_eq!(misses, 0, "device handed addresses outside mapped memory");
        let (avail, cached, cap) = (pool.available(), pool.cached(), pool.capacity());
        assert_eq!(avail + cached, cap, "pool not whole: leak or double free");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut s = Script { data, at: 0 };
    let readless = s.u8() & 1 == 1;
    let mut rig = Rig::new(readless);
    rig.traffic(0, 8);
    let mut steps = 0;
    while !s.done() && steps < 48 {
        rig.step(&mut s);
        steps += 1;
    }
    rig.heal_and_check();
    rig.finish();
});
