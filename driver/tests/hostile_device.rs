//! A hostile device: between the steps of an ordinary workload (traffic on two queue pairs, the
//! control path, time passing), the device side writes arbitrary bytes where the driver reads
//! what the device says — RX and TX completion rings, the admin completion queue, the AENQ, the
//! readless-read response, and the registers the driver reads with plain loads — and the
//! driver must stay sound:
//!
//! - no panic, whatever the bytes;
//! - no device access outside memory the driver mapped (the model counts DMA misses);
//! - no buffer handed to the application twice (every mbuf index the application holds is
//!   tracked; a buffer the driver hands out while the application still holds it is a double
//!   free);
//! - once the device behaves again, the driver recovers (resets as needed) and passes traffic;
//! - at the end, every buffer is back in the pool.
//!
//! The workload runs on a manual-mode model (deterministic; time moves only when the test or the
//! driver's waits move it). The rings' device addresses come from a platform wrapper that
//! records every DMA allocation the driver makes; the hostile writes go through the model's own
//! DMA accessor, as the device's writes do. `HOSTILE_TRACE=1` prints the port's events (to see
//! which resets the forged bytes caused).

mod common;

use common::{bytes, mbuf};
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
use proptest::prelude::*;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const QUEUES: u16 = 2;
const RING: u16 = 128;
const POOL: u32 = 2048;

// Registers (BAR0 offsets) the driver reads with plain loads.
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

/// The simulated platform, recording the device address and length of every DMA allocation.
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
        self.allocs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((r.iova(), r.len()));
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
    fn taken_since(&self, n: usize) -> Vec<(u64, usize)> {
        self.allocs.lock().unwrap_or_else(|e| e.into_inner())[n..].to_vec()
    }
    fn count(&self) -> usize {
        self.allocs.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Which value the phase bit of a forged entry gets.
#[derive(Clone, Copy, Debug)]
enum Phase {
    Clear,
    Set,
    AsGiven,
}

/// Where in a ring forged entries go.
#[derive(Clone, Copy, Debug)]
enum Slots {
    /// Every entry (so the driver's next read surely meets one).
    All,
    /// One entry.
    One(u16),
}

/// One step of a hostile run.
#[derive(Clone, Debug)]
enum Op {
    /// Send `n` packets on TX queue `q` and receive what comes back.
    Traffic { q: u16, n: u8 },
    /// Forge RX completions on queue `q`.
    RxCompletions {
        q: u16,
        bytes: [u8; 16],
        phase: Phase,
        slots: Slots,
    },
    /// Forge TX completions on queue `q`.
    TxCompletions {
        q: u16,
        bytes: [u8; 8],
        phase: Phase,
        slots: Slots,
    },
    /// Forge admin completions.
    AdminCompletions {
        bytes: Vec<u8>,
        phase: Phase,
        slots: Slots,
    },
    /// Forge AENQ entries.
    AenqEntries {
        bytes: Vec<u8>,
        phase: Phase,
        slots: Slots,
    },
    /// Put a value in a register the driver reads with plain loads.
    Register { which: usize, value: u32 },
    /// Answer the driver's next readless read in advance, with garbage.
    ReadlessAnswer { reg_off: u16, value: u32 },
    /// Run the control path (and read statistics, as applications do).
    Control,
    /// Let time pass (watchdogs).
    Advance { ms: u16 },
    /// Return some held buffers to the pool.
    Release { n: u8 },
}

fn phase() -> impl Strategy<Value = Phase> {
    prop_oneof![Just(Phase::Clear), Just(Phase::Set), Just(Phase::AsGiven)]
}

fn slots(depth: u16) -> impl Strategy<Value = Slots> {
    prop_oneof![Just(Slots::All), (0..depth).prop_map(Slots::One)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..QUEUES, 1..48u8).prop_map(|(q, n)| Op::Traffic { q, n }),
        2 => (0..QUEUES, any::<[u8; 16]>(), phase(), slots(RING))
            .prop_map(|(q, bytes, phase, slots)| Op::RxCompletions { q, bytes, phase, slots }),
        2 => (0..QUEUES, any::<[u8; 8]>(), phase(), slots(RING))
            .prop_map(|(q, bytes, phase, slots)| Op::TxCompletions { q, bytes, phase, slots }),
        1 => (proptest::collection::vec(any::<u8>(), 64), phase(), slots(32))
            .prop_map(|(bytes, phase, slots)| Op::AdminCompletions { bytes, phase, slots }),
        1 => (
            proptest::collection::vec(any::<u8>(), 64),
            prop_oneof![0..12u16, any::<u16>()],
            phase(),
            slots(16)
        )
            .prop_map(|(mut bytes, group, phase, slots)| {
                // Mostly groups the driver knows, so their payloads get parsed.
                bytes[..2].copy_from_slice(&group.to_le_bytes());
                Op::AenqEntries { bytes, phase, slots }
            }),
        1 => (0..READ_REGISTERS.len(), any::<u32>())
            .prop_map(|(which, value)| Op::Register { which, value }),
        1 => (any::<u16>(), any::<u32>())
            .prop_map(|(reg_off, value)| Op::ReadlessAnswer { reg_off, value }),
        2 => Just(Op::Control),
        1 => (1..3000u16).prop_map(|ms| Op::Advance { ms }),
        1 => (1..64u8).prop_map(|n| Op::Release { n }),
    ]
}

/// The shape of a ring the device writes: entry size, depth, the byte holding the phase bit
/// (bit 0), and a byte varied from entry to entry (a request or command id), if any.
#[derive(Clone, Copy)]
struct Ring {
    entry: usize,
    depth: usize,
    phase_byte: usize,
    vary_at: Option<usize>,
}

const RX_CQ: Ring = Ring {
    entry: 16,
    depth: RING as usize,
    phase_byte: 3,
    vary_at: Some(6),
};
const TX_CQ: Ring = Ring {
    entry: 8,
    depth: RING as usize,
    phase_byte: 3,
    vary_at: Some(0),
};
const ACQ: Ring = Ring {
    entry: 64,
    depth: 32,
    phase_byte: 3,
    vary_at: Some(0),
};
const AENQ: Ring = Ring {
    entry: 64,
    depth: 16,
    phase_byte: 4,
    vary_at: None,
};

struct Rig {
    cfg: DeviceConfig,
    sim: SimDevice,
    platform: Arc<Recording>,
    port: Port,
    pool: Mempool,
    rx: Vec<RxQueue>,
    tx: Vec<TxQueue>,
    cache: MbufCache,
    /// (device address, bytes) of each queue's completion ring.
    rx_cq: Vec<(u64, usize)>,
    tx_cq: Vec<(u64, usize)>,
    /// The model's DMA accessor (the device's view of host memory).
    dma: Dma,
    /// Buffers the application holds, oldest first, and their indices.
    held: VecDeque<Mbuf>,
    held_idx: HashSet<u32>,
    next: u16,
    /// Registers forged since the device last wrote them.
    forged_registers: bool,
}

impl Rig {
    fn new(readless: bool) -> Rig {
        let cfg = DeviceConfig::default();
        let clock = ena_sim::clock::ManualClock::new();
        let sim = SimDevice::new(
            cfg.clone(),
            Box::new(Loopback::new(4096, false)),
            ClockChoice::Manual(clock),
        )
        .expect("sim");
        let platform = Arc::new(Recording {
            inner: SimPlatform::new(sim.clone(), SimDrive::Manual, readless, "hostile"),
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
        let pool = Mempool::new("hostile", POOL, DEFAULT_DATA_ROOM, &move |len, align| {
            p.alloc_dma(len, align)
        })
        .expect("pool");
        port.configure(QUEUES, QUEUES, &PortConf::default())
            .expect("configure");
        let mut rx_cq = Vec::new();
        let mut tx_cq = Vec::new();
        for q in 0..QUEUES {
            let n = platform.count();
            port.rx_queue_setup(q, RING, &pool).expect("rx setup");
            // RX: submission ring, then completion ring.
            let a = platform.taken_since(n);
            rx_cq.push(*a.last().expect("rx rings"));
            let n = platform.count();
            port.tx_queue_setup(q, RING, &pool).expect("tx setup");
            // TX: (host submission ring,) then completion ring.
            let a = platform.taken_since(n);
            tx_cq.push(*a.last().expect("tx rings"));
        }
        port.start().expect("start");
        let rx = (0..QUEUES)
            .map(|q| port.take_rx_queue(q).expect("rx queue"))
            .collect();
        let tx = (0..QUEUES)
            .map(|q| port.take_tx_queue(q).expect("tx queue"))
            .collect();
        let cache = pool.cache(64);
        let dma = Dma::new(sim.dma.clone());
        Rig {
            cfg,
            sim,
            platform,
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
            forged_registers: false,
        }
    }

    /// The application takes a buffer: it must not be one it already holds.
    fn hold(&mut self, m: Mbuf, from: &str) {
        let idx = m.index();
        assert!(
            self.held_idx.insert(idx),
            "mbuf {idx} handed out twice ({from} while the application holds it)"
        );
        self.held.push_back(m);
        if self.held.len() > 256 {
            self.release(64);
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
                // Whatever the device said, a packet handed out is a well-formed mbuf chain.
                assert!(
                    m.pkt_len() as usize == bytes(&m).len(),
                    "pkt_len and segments agree"
                );
                got += 1;
                self.hold(m, "rx_burst");
            }
        }
        got
    }

    fn traffic(&mut self, q: u16, n: u8) -> usize {
        let mut pkts: Vec<Option<Mbuf>> = Vec::new();
        for _ in 0..n {
            let Some(m) = self.cache.alloc() else { break };
            assert!(
                !self.held_idx.contains(&m.index()),
                "the pool handed out mbuf {} while the application holds it",
                m.index()
            );
            drop(m);
            self.next = self.next.wrapping_add(1);
            let f = frames::ipv4(
                self.next.is_multiple_of(2),
                [10, 0, 0, 1],
                [10, 0, 1, (self.next % 200) as u8],
                self.next,
                80,
                (self.next % 300) as usize,
            );
            pkts.push(Some(mbuf(&mut self.cache, &f)));
        }
        self.tx[q as usize].tx_burst(&mut pkts);
        // Not taken by the queue (ring full, queue stopped): back to the pool.
        drop(pkts);
        self.sim.run_until_idle();
        self.receive()
    }

    fn forge(&mut self, ring: Ring, base: u64, bytes: &[u8], phase: Phase, slots: Slots) {
        let Ring {
            entry,
            depth,
            phase_byte,
            vary_at,
        } = ring;
        let which: Vec<usize> = match slots {
            Slots::All => (0..depth).collect(),
            Slots::One(s) => vec![s as usize % depth],
        };
        for s in which {
            let mut e = bytes[..entry].to_vec();
            // Vary a field (a request id) from slot to slot.
            if let Some(at) = vary_at {
                e[at] = e[at].wrapping_add(s as u8);
            }
            match phase {
                Phase::Clear => e[phase_byte] &= !1,
                Phase::Set => e[phase_byte] |= 1,
                Phase::AsGiven => {}
            }
            // Through the model's own accessor. A ring the driver has released (after a failed
            // re-initialisation the registers may still name it) is not there to forge.
            let _ = self.dma.write(base + (s * entry) as u64, &e);
        }
    }

    fn reg64(&self, lo: u32, hi: u32) -> u64 {
        self.sim.bar0.read32(lo) as u64 | (self.sim.bar0.read32(hi) as u64) << 32
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Traffic { q, n } => {
                self.traffic(*q, *n);
            }
            Op::RxCompletions {
                q,
                bytes,
                phase,
                slots,
            } => {
                let (base, _) = self.rx_cq[*q as usize];
                self.forge(RX_CQ, base, bytes, *phase, *slots);
                self.receive();
            }
            Op::TxCompletions {
                q,
                bytes,
                phase,
                slots,
            } => {
                let (base, _) = self.tx_cq[*q as usize];
                self.forge(TX_CQ, base, bytes, *phase, *slots);
                self.tx[*q as usize].tx_done_cleanup();
            }
            Op::AdminCompletions {
                bytes,
                phase,
                slots,
            } => {
                let base = self.reg64(ACQ_BASE_LO, ACQ_BASE_HI);
                if base != 0 {
                    self.forge(ACQ, base, bytes, *phase, *slots);
                }
                let _ = self.port.stats();
            }
            Op::AenqEntries {
                bytes,
                phase,
                slots,
            } => {
                let base = self.reg64(AENQ_BASE_LO, AENQ_BASE_HI);
                if base != 0 {
                    self.forge(AENQ, base, bytes, *phase, *slots);
                }
                self.control();
            }
            Op::Register { which, value } => {
                self.sim.bar0.write32(READ_REGISTERS[*which], *value);
                self.forged_registers = true;
                self.control();
            }
            Op::ReadlessAnswer { reg_off, value } => {
                let resp = self.reg64(MMIO_RESP_LO, MMIO_RESP_HI);
                if resp != 0 {
                    let next_id = (self.sim.bar0.read32(MMIO_REG_READ) as u16).wrapping_add(1);
                    let mut b = [0u8; 8];
                    b[..2].copy_from_slice(&next_id.to_le_bytes());
                    b[2..4].copy_from_slice(&reg_off.to_le_bytes());
                    b[4..].copy_from_slice(&value.to_le_bytes());
                    self.dma
                        .write(resp, &b)
                        .expect("readless response inside its buffer");
                }
                // Register reads happen in resets: ask for one.
                self.port
                    .schedule_reset(ena::hw::regs::ResetReason::UserTrigger);
                self.control();
            }
            Op::Control => {
                self.control();
            }
            Op::Advance { ms } => {
                self.sim.advance(Duration::from_millis(*ms as u64));
                self.sim.run_until_idle();
                for q in 0..QUEUES as usize {
                    self.tx[q].tx_done_cleanup();
                }
                self.receive();
                self.control();
            }
            Op::Release { n } => self.release(*n as usize),
        }
    }

    fn control(&mut self) -> Vec<PortEvent> {
        self.sim.run_until_idle();
        let ev = self.port.poll_control();
        if std::env::var_os("HOSTILE_TRACE").is_some() {
            for e in &ev {
                eprintln!("EVENT {e:?}");
            }
        }
        // Statistics through the admin queue, as an application reads them.
        let _ = self.port.xstats();
        self.sim.run_until_idle();
        ev
    }

    /// The device behaves again: registers hold what the device says; the driver must get
    /// back to passing traffic by itself (resetting as often as it needs).
    fn heal_and_check_traffic(&mut self) {
        if self.forged_registers {
            let sts = self.sim.view().dev_sts.0;
            self.sim.bar0.write32(VERSION, self.cfg.version);
            self.sim
                .bar0
                .write32(CONTROLLER_VERSION, self.cfg.controller_version);
            self.sim.bar0.write32(CAPS, self.cfg.caps());
            self.sim.bar0.write32(DEV_STS, sts);
        }
        // A clean slate for the forged entries still in the rings: a reset re-creates the queues.
        self.port
            .schedule_reset(ena::hw::regs::ResetReason::UserTrigger);
        let mut recovered = false;
        for _ in 0..20 {
            let ev = self.control();
            if ev.iter().any(|e| matches!(e, PortEvent::Reset { .. })) {
                recovered = true;
                break;
            }
            // A failed reset is retried at the next poll.
            self.sim.advance(Duration::from_millis(100));
        }
        assert!(
            recovered,
            "the driver did not recover once the device behaved"
        );
        self.release(usize::MAX);
        let mut got = 0;
        for round in 0..10 {
            got += self.traffic((round % QUEUES as usize) as u16, 16);
            self.release(usize::MAX);
        }
        // Buffers were re-posted by the first bursts; what was sent before they were comes
        // back as long as the rings had room: most of it must.
        assert!(got >= 100, "traffic after recovery: {got} of 160 packets");
    }

    fn finish(mut self) {
        self.release(usize::MAX);
        let _ = self.port.stop();
        let Rig {
            sim,
            platform,
            port,
            pool,
            rx,
            tx,
            cache,
            ..
        } = self;
        drop((rx, tx, cache));
        let _ = port.close();
        drop(platform);
        let misses = sim.stats.snapshot().lifetime.dma_misses;
        assert_eq!(
            misses, 0,
            "the device was handed addresses outside mapped memory {misses} times"
        );
        let (avail, cached, cap) = (pool.available(), pool.cached(), pool.capacity());
        assert_eq!(
            avail + cached,
            cap,
            "pool: {avail} available + {cached} cached of {cap} (a leak, or a double free if more)"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        max_shrink_iters: 256,
        // Failures are reported with their minimal input; nothing is written into the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn hostile_device_never_breaks_the_driver(
        readless in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..32),
    ) {
        let mut rig = Rig::new(readless);
        rig.traffic(0, 8);
        for op in &ops {
            rig.apply(op);
        }
        rig.heal_and_check_traffic();
        rig.finish();
    }
}

/// A few hand-picked hostile completions, each asserting what the driver does with it.
#[test]
fn forged_completions_are_refused_and_reset_with_the_right_reason() {
    use ena::hw::regs::ResetReason;
    for (what, reason) in [
        ("rx req_id out of range", ResetReason::InvalidRxReqId),
        ("tx req_id out of range", ResetReason::InvalidTxReqId),
        (
            "rx length beyond the buffer",
            ResetReason::RxDescriptorMalformed,
        ),
    ] {
        let mut rig = Rig::new(true);
        rig.traffic(0, 4);
        rig.release(usize::MAX);
        match what {
            "rx req_id out of range" => {
                let (base, _) = rig.rx_cq[0];
                // Slot 4 is next (4 packets consumed); status: first|last, phase 1.
                let mut e = [0u8; 16];
                e[0..4].copy_from_slice(&(1u32 << 24 | 1 << 26 | 1 << 27).to_le_bytes());
                e[4..6].copy_from_slice(&64u16.to_le_bytes());
                e[6..8].copy_from_slice(&9999u16.to_le_bytes());
                rig.dma.write(base + 4 * 16, &e).unwrap();
                assert_eq!(rig.receive(), 0, "nothing handed out");
            }
            "tx req_id out of range" => {
                let (base, _) = rig.tx_cq[0];
                let word0: u32 = 1 << 24 | 5000;
                rig.dma.write(base + 4 * 8, &word0.to_le_bytes()).unwrap();
                // The four real completions are taken; the forged one stops the queue.
                assert_eq!(rig.tx[0].tx_done_cleanup(), 4);
                assert_eq!(rig.tx[0].tx_done_cleanup(), 0);
            }
            _ => {
                let (base, _) = rig.rx_cq[0];
                let mut e = [0u8; 16];
                e[0..4].copy_from_slice(&(1u32 << 24 | 1 << 26 | 1 << 27).to_le_bytes());
                e[4..6].copy_from_slice(&60000u16.to_le_bytes());
                // A req_id the queue really posted: the buffer comes back, the packet does not.
                e[6..8].copy_from_slice(&100u16.to_le_bytes());
                rig.dma.write(base + 4 * 16, &e).unwrap();
                assert_eq!(rig.receive(), 0, "nothing handed out");
            }
        }
        let ev = rig.control();
        assert!(
            ev.iter()
                .any(|e| matches!(e, PortEvent::Reset { reason: r, .. } if *r == reason)),
            "{what}: events {ev:?}"
        );
        // Resynchronised: every buffer posted again, traffic flows.
        rig.receive();
        assert_eq!(rig.rx[0].posted(), RING as usize - 1);
        assert_eq!(rig.traffic(0, 8), 8, "{what}: traffic after the reset");
        rig.finish();
    }
}

/// KEEP_ALIVE carries the device's drop counters; any value must be taken without overflowing
/// the port's statistics (found by the property test above: `imissed` summed two of them).
#[test]
fn forged_keep_alive_counters_do_not_overflow_statistics() {
    let mut rig = Rig::new(true);
    let mut e = [0u8; 64];
    e[..2].copy_from_slice(&4u16.to_le_bytes()); // group KEEP_ALIVE
    e[16..].fill(0xff); // every counter u64::MAX
    let base = rig.reg64(AENQ_BASE_LO, AENQ_BASE_HI);
    rig.forge(AENQ, base, &e, Phase::Set, Slots::All);
    rig.control();
    let s = rig.port.stats().expect("stats");
    assert_eq!(s.imissed, u64::MAX);
    let x = rig.port.xstats().expect("xstats");
    assert!(x.contains(&("rx_drops".to_string(), u64::MAX)), "{x:?}");
    rig.heal_and_check_traffic();
    rig.finish();
}
