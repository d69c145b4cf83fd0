//! The soak: forwarding for minutes while the device misbehaves every few seconds.
//!
//! Two in-process device models (one polling thread, `--sim-core`) each have a traffic
//! generator on their wire; one worker thread (`--driver-core`) forwards in testpmd's io mode
//! (burst 32, 64-byte frames, two queue pairs per port, RSS): port 0's RX queue `q` into port
//! 1's TX queue `q` and the other way round, freeing what `tx_burst` refuses, as fwd does. The
//! calling thread is the control plane: it runs each port's control path every few
//! milliseconds (AENQ, keep-alive and missing-completion watchdogs, reset recovery), reads the
//! port statistics every 100 ms (the admin command the admin faults hit), samples resident
//! memory every second, and every `fault_every` injects the next fault of a rotation through
//! every fault the driver must survive (the list of `driver/tests/fault_campaign.rs`), on
//! alternating ports and queues. Each fault's outcome is checked as the campaign checks it:
//! the reset reason Amazon's drivers use (or, for a link flap and an admin error status, no
//! reset), and traffic flowing again on that port afterwards.
//!
//! The ports are built here rather than through dpdk-shim's `--vdev` because the soak needs
//! what the EAL does not expose: short watchdog thresholds (so that a fault resolves well within
//! its interval), a device keep-alive interval to match, and the ports' control path in the
//! caller's hands (to see every reset and its reason as it happens). The forwarding loop is
//! fwd's io loop.
//!
//! At the end the worker stops receiving and reclaims every TX completion, the ports stop, and
//! three things must hold:
//!
//! - resident memory flat: the growth of `VmRSS` from the first sample after the warm-up to
//!   the last is under a bound (the mbuf pool is touched in full before the run, so that its
//!   pages do not count as growth);
//! - the mbuf pool whole: every buffer back (`available + cached == capacity`);
//! - every packet accounted for, per port, with the model's and the driver's counters: frames
//!   generated = delivered + `rx_drops` + `rx_overruns`; delivered = handed to the
//!   application + `rx_qN_reset_drops`; handed over = forwarded + refused by the peer's TX
//!   (freed and counted); accepted by `tx_burst` = `tx_qN_cnt` = completed +
//!   `tx_qN_reset_drops`; what the device put on the wire = what the sink took; the packets the
//!   device never read bounded by `tx_qN_reset_drops`.
//!
//! The generators are not `lossless`: then every frame the device cannot place is an
//! `rx_overruns` at once. (With a lossless wire the device holds such a frame; one still held
//! when the device resets is counted in its lifetime `rx_drops`, a fix this soak prompted.)

use crate::pps::{Cores, FLOWS, RING};
use ena::com::LlqPolicy;
use ena::hw::admin::{opcode, status};
use ena::hw::regs::ResetReason;
use ena::mem::pool::{DEFAULT_DATA_ROOM, HEADROOM};
use ena::platform::sim::{SimDrive, SimPlatform};
use ena::platform::Platform;
use ena::pmd::{PortConf, PortEvent, PortOptions, RssConf, WatchdogConfig};
use ena::{Mbuf, Mempool, Port, RxQueue, TxQueue};
use ena_sim::config::DeviceConfig;
use ena_sim::dma::InProcessDma;
use ena_sim::fault::Fault;
use ena_sim::transport::inproc::{ClockChoice, RunnerOptions, SimDevice, SimRunner};
use ena_sim::wire::spec::{self, WireHandle, WireRequest};
use ena_sim::wire::GeneratorStats;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Queue pairs per port.
pub const QUEUES: u16 = 2;
/// Packets per burst.
pub const BURST: u16 = 32;
/// Ethernet frame length on the wire, FCS included.
pub const FRAME_SIZE: u16 = 64;
/// Default bound on resident-memory growth after the warm-up, KiB.
pub const DEFAULT_RSS_BOUND_KIB: u64 = 4096;

/// The device's keep-alive interval (the fault campaign's).
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_millis(50);
/// CAPS.admin_cmd_to in 100 ms units: a lost admin completion is noticed in 300 ms.
const ADMIN_CMD_TIMEOUT: u8 = 3;
/// How often the control path runs.
const CONTROL_PERIOD: Duration = Duration::from_millis(5);
/// How often the port statistics are read (an admin command each).
const STATS_PERIOD: Duration = Duration::from_millis(100);
/// How often resident memory and the pool are sampled.
const SAMPLE_PERIOD: Duration = Duration::from_secs(1);
/// A fault whose outcome has not been seen by then has failed.
const FAULT_DEADLINE: Duration = Duration::from_secs(5);
/// How long a fault that must not reset is watched after it was seen.
const QUIET_WATCH: Duration = Duration::from_millis(600);
/// How long after traffic resumed a reset's window stays open (to catch a second reset).
const SETTLE: Duration = Duration::from_millis(200);
/// The least time between the end of one fault's window and the next fault.
const GAP: Duration = Duration::from_millis(500);
/// How long the end of the run may wait for every TX completion.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// What the soak runs.
#[derive(Clone, Debug)]
pub struct SoakOptions {
    /// How long to forward (faults are injected only while a whole interval still fits).
    pub duration: Duration,
    /// Time between faults.
    pub fault_every: Duration,
    /// Resident-memory samples before this are the warm-up and do not count.
    pub rss_warmup: Duration,
    /// Largest growth of resident memory after the warm-up that counts as flat, KiB.
    pub rss_bound_kib: u64,
    /// Pace each generator to this many frames per second (None: as fast as the device takes
    /// them, so that whatever the forwarder cannot keep up with is counted as overruns).
    pub rate_pps: Option<u64>,
    /// Which CPUs run the device models and the worker.
    pub cores: Cores,
    /// Print each fault's outcome on stderr as it happens.
    pub verbose: bool,
}

impl SoakOptions {
    /// `duration` seconds, a fault every 3 s, a 5 s warm-up, a 4 MiB bound.
    pub fn new(duration: Duration, cores: Cores) -> SoakOptions {
        SoakOptions {
            duration,
            fault_every: Duration::from_secs(3),
            rss_warmup: Duration::from_secs(5),
            rss_bound_kib: DEFAULT_RSS_BOUND_KIB,
            rate_pps: None,
            cores,
            verbose: false,
        }
    }
}

/// One injected fault and what came of it.
#[derive(Clone, Debug, Serialize)]
pub struct FaultRecord {
    /// 0, 1, 2, ... in injection order.
    pub index: u64,
    /// Seconds after forwarding started.
    pub at_s: f64,
    /// The port whose device misbehaved.
    pub port: u16,
    /// The driver queue a queue fault was aimed at (None: a device-wide fault).
    pub queue: Option<u16>,
    /// The model's name for the fault (`Fault::name`).
    pub fault: &'static str,
    /// What the driver must do.
    pub expect: String,
    /// What it did.
    pub observed: String,
    /// Injection to the driver noticing (reset done, link change, or admin error), ms.
    pub detected_ms: Option<f64>,
    /// The driver's own figure for the reset: detection to queues running again, ms.
    pub recovery_ms: Option<f64>,
    /// From the reset (or the link coming back) to traffic received and sent on the port
    /// again, ms.
    pub resumed_ms: Option<f64>,
    /// Whether the outcome was the expected one and traffic resumed.
    pub ok: bool,
}

/// Resident memory over the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RssReport {
    /// Samples before this many seconds are the warm-up.
    pub warmup_s: f64,
    /// The first sample after the warm-up, KiB.
    pub first_kib: u64,
    /// The largest sample after the warm-up, KiB.
    pub max_kib: u64,
    /// The last sample (after the ports stopped), KiB.
    pub last_kib: u64,
    /// `last - first`, KiB.
    pub growth_kib: i64,
    /// `max - first`, KiB.
    pub peak_growth_kib: i64,
    /// The bound `growth_kib` must stay under.
    pub bound_kib: u64,
    /// Samples taken after the warm-up (at least two are needed to call memory flat).
    pub samples_after_warmup: usize,
    /// Whether it did.
    pub flat: bool,
    /// `VmRSS` once a second from the start, KiB (the last one after the ports stopped).
    pub samples_kib: Vec<u64>,
}

/// The mbuf pool after the ports stopped and the queues were released.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PoolReport {
    /// Buffers in the pool.
    pub capacity: u32,
    /// In the shared free lists.
    pub available: u32,
    /// In live caches.
    pub cached: u32,
    /// Out of the pool (`capacity - available - cached`).
    pub in_use: u32,
    /// The most out of the pool at any once-a-second sample while forwarding.
    pub in_use_max_running: u32,
    /// `available + cached == capacity`.
    pub exact: bool,
}

/// One port's packets, from the wire to the application and back to the wire.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PortAccounting {
    /// Port id.
    pub port: u16,
    /// Frames the generator on this port's wire produced (the port's RX).
    pub generated: u64,
    /// Model: packets delivered into RX buffers.
    pub dev_rx_pkts: u64,
    /// Model: received packets dropped (no RX queue, too large, ...).
    pub dev_rx_drops: u64,
    /// Model: received packets dropped for lack of a posted buffer.
    pub dev_rx_overruns: u64,
    /// Packets `rx_burst` handed to the forwarder.
    pub received: u64,
    /// Driver: `rx_qN_cnt`, summed.
    pub rx_cnt: u64,
    /// Driver: `rx_qN_reset_drops` (delivered, then lost to a reset or the stop), summed.
    pub rx_reset_drops: u64,
    /// Of `received`, taken by the peer port's `tx_burst`.
    pub forwarded: u64,
    /// Of `received`, refused by the peer's full TX ring and freed (fwd's `dropped`).
    pub fwd_dropped: u64,
    /// Packets this port's `tx_burst` took (what the peer forwarded here).
    pub tx_sent: u64,
    /// Driver: `tx_qN_cnt`, summed.
    pub tx_cnt: u64,
    /// Driver: `tx_qN_completed`, summed.
    pub tx_completed: u64,
    /// Driver: `tx_qN_reset_drops` (in flight at a reset), summed.
    pub tx_reset_drops: u64,
    /// Model: packets put on the wire.
    pub dev_tx_pkts: u64,
    /// Model: packets not sent.
    pub dev_tx_drops: u64,
    /// Frames the sink on this port's wire took.
    pub sunk: u64,
    /// Sent packets the device never read (`tx_sent - dev_tx_pkts - dev_tx_drops`).
    pub tx_unread: u64,
    /// Model: DMA accesses outside mapped memory.
    pub dma_misses: u64,
}

/// Every packet, accounted for.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Accounting {
    /// Per port.
    pub ports: Vec<PortAccounting>,
    /// Frames generated on both wires.
    pub generated: u64,
    /// Frames the sinks took.
    pub sunk: u64,
    /// `generated - sunk`.
    pub lost: u64,
    /// The named counters that explain `lost`: device RX drops and overruns, RX reset drops,
    /// frames the forwarder freed, device TX drops, and sent packets the device never read.
    pub lost_explained: u64,
    /// Every equation that did not hold.
    pub problems: Vec<String>,
    /// No problems.
    pub exact: bool,
}

/// What a soak found.
#[derive(Clone, Debug, Serialize)]
pub struct SoakReport {
    /// `ena-pps`.
    pub tool: &'static str,
    /// `soak`.
    pub mode: &'static str,
    /// Forwarding time asked for, seconds.
    pub duration_s: f64,
    /// Forwarding time, seconds (longer when the last fault's window ran past the end).
    pub elapsed_s: f64,
    /// Time between faults, seconds.
    pub fault_every_s: f64,
    /// Frames per second each generator offers (None: unpaced).
    pub rate_pps: Option<u64>,
    /// Queue pairs per port.
    pub queues: u16,
    /// Packets per burst.
    pub burst: u16,
    /// Frame length on the wire, FCS included.
    pub frame_size: u16,
    /// Descriptors per ring.
    pub ring: u16,
    /// Which CPUs ran what.
    pub cores: Cores,
    /// Packets forwarded (taken by a `tx_burst`), both directions.
    pub packets_forwarded: u64,
    /// Forwarded packets per second, in millions.
    pub mpps: f64,
    /// Faults injected.
    pub faults_injected: u64,
    /// Of which, with the expected outcome and traffic flowing again.
    pub faults_ok: u64,
    /// Injected faults that must cause a reset.
    pub expected_resets: u64,
    /// Resets the driver did and recovered from, both ports.
    pub resets: u64,
    /// The same by reason (the ENA headers' names).
    pub resets_by_reason: BTreeMap<String, u64>,
    /// Resets whose recovery failed (the driver retries them).
    pub reset_failures: u64,
    /// Resets outside a fault's window, on the other port, or more than one in a window.
    pub unexpected_resets: Vec<String>,
    /// Link changes the driver reported.
    pub link_changes: u64,
    /// Periodic statistics reads that failed (the admin faults make some fail on purpose).
    pub stats_errors: u64,
    /// Every fault, in order.
    pub faults: Vec<FaultRecord>,
    /// Resident memory.
    pub rss: RssReport,
    /// The mbuf pool.
    pub pools: PoolReport,
    /// Packet accounting.
    pub accounting: Accounting,
    /// Why `pass` is false, if it is.
    pub failures: Vec<String>,
    /// Memory flat, pool whole, accounting exact, every fault survived as expected (at least as
    /// many resets as faults that must reset, no failed recovery), packets forwarded.
    pub pass: bool,
}

// ----- the faults -----

/// What the driver must do about a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Reset with this reason and recover.
    Reset(ResetReason),
    /// Report the link down, then up; no reset.
    LinkFlap,
    /// Report the admin command's error status; no reset.
    AdminError,
}

impl Expect {
    fn describe(self) -> String {
        match self {
            Expect::Reset(r) => format!("reset {}", r.name()),
            Expect::LinkFlap => "link down, up; no reset".into(),
            Expect::AdminError => "admin error reported; no reset".into(),
        }
    }
}

/// Which queue a fault takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Device,
    Tx,
    Rx,
}

/// One entry of the rotation.
struct FaultKind {
    target: Target,
    /// The fault, given the device queue index (for queue faults).
    make: fn(Option<u16>) -> Fault,
    expect: Expect,
    /// Injected once the reset is seen, to end a fault that would otherwise persist.
    after: Option<Fault>,
}

/// The faults of `driver/tests/fault_campaign.rs`, in its order.
fn rotation() -> Vec<FaultKind> {
    use ResetReason::*;
    fn kind(target: Target, make: fn(Option<u16>) -> Fault, expect: Expect) -> FaultKind {
        FaultKind {
            target,
            make,
            expect,
            after: None,
        }
    }
    vec![
        kind(
            Target::Device,
            |_| Fault::AdminTimeout {
                opcode: Some(opcode::GET_STATS),
                count: 1,
            },
            Expect::Reset(AdminTimeout),
        ),
        kind(
            Target::Device,
            |_| Fault::AdminError {
                opcode: Some(opcode::GET_STATS),
                status: status::ILLEGAL_PARAMETER,
                count: 1,
            },
            Expect::AdminError,
        ),
        kind(
            Target::Device,
            |_| Fault::FatalError,
            Expect::Reset(Generic),
        ),
        FaultKind {
            target: Target::Device,
            make: |_| Fault::StopKeepAlive,
            expect: Expect::Reset(KeepAliveTimeout),
            after: Some(Fault::ResumeKeepAlive),
        },
        kind(
            Target::Tx,
            |queue| Fault::DropTxCompletions { queue, count: 512 },
            Expect::Reset(MissingTxCompletion),
        ),
        kind(
            Target::Tx,
            |queue| Fault::WrongTxPhase { queue, count: 1 },
            Expect::Reset(MissingTxCompletion),
        ),
        kind(
            Target::Tx,
            |queue| Fault::BadTxReqId { queue, count: 1 },
            Expect::Reset(InvalidTxReqId),
        ),
        kind(
            Target::Tx,
            |queue| Fault::StaleTxReqId { queue, count: 1 },
            Expect::Reset(InvalidTxReqId),
        ),
        kind(
            Target::Tx,
            |queue| Fault::TxCdescMbz { queue, count: 1 },
            Expect::Reset(TxDescriptorMalformed),
        ),
        kind(
            Target::Rx,
            |queue| Fault::BadRxReqId { queue, count: 1 },
            Expect::Reset(InvalidRxReqId),
        ),
        kind(
            Target::Rx,
            |queue| Fault::BadRxLength { queue, count: 1 },
            Expect::Reset(RxDescriptorMalformed),
        ),
        kind(
            Target::Rx,
            |queue| Fault::RxCdescMbz { queue, count: 1 },
            Expect::Reset(RxDescriptorMalformed),
        ),
        kind(
            Target::Rx,
            |queue| Fault::RxMissingLast { queue, count: 1 },
            Expect::Reset(RxDescriptorMalformed),
        ),
        kind(
            Target::Device,
            |_| Fault::LinkFlap {
                down_for: Duration::from_millis(200),
            },
            Expect::LinkFlap,
        ),
        kind(
            Target::Device,
            |_| Fault::DeviceRequestReset,
            Expect::Reset(DeviceRequest),
        ),
    ]
}

// ----- resident memory -----

/// This process's resident set (`VmRSS` in `/proc/self/status`), KiB.
pub fn vm_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// ----- the ports -----

struct SoakPort {
    sim: SimDevice,
    port: Port,
    wire: GeneratorStats,
}

/// Builds both device models on one DMA space, starts their polling thread and opens a port on
/// each.
fn open_ports(o: &SoakOptions) -> Result<(SimRunner, Vec<SoakPort>, Arc<SimPlatform>), String> {
    let dma = InProcessDma::new();
    let gen_len = (FRAME_SIZE as usize).saturating_sub(4).max(60);
    let mut sims = Vec::new();
    for i in 0..2u8 {
        let mac = [0x02, 0, 0, 0, 1, i];
        let (wire, handle) = spec::build(&[WireRequest {
            name: format!("soak{i}"),
            spec: match o.rate_pps {
                Some(rate) => format!("gen:size={gen_len}:flows={FLOWS}:rate={rate}"),
                None => format!("gen:size={gen_len}:flows={FLOWS}"),
            },
            mac,
        }])
        .map_err(|e| e.to_string())?
        .pop()
        .ok_or("no wire built")?;
        let WireHandle::Generator(stats) = handle else {
            return Err("the generator wire has no generator handle".into());
        };
        let cfg = DeviceConfig {
            mac,
            keep_alive_interval: KEEP_ALIVE_INTERVAL,
            admin_cmd_timeout: ADMIN_CMD_TIMEOUT,
            ..DeviceConfig::default()
        };
        let sim = SimDevice::with_dma(cfg, wire, ClockChoice::Real, dma.clone())
            .map_err(|e| format!("device model: {e}"))?;
        sims.push((sim, stats));
    }
    let devices: Vec<SimDevice> = sims.iter().map(|(s, _)| s.clone()).collect();
    let runner = SimRunner::spawn(
        &devices,
        RunnerOptions {
            core: Some(o.cores.sim),
            ..RunnerOptions::default()
        },
    )
    .map_err(|e| format!("cannot start the device-model thread: {e}"))?;
    let mut ports = Vec::new();
    let mut first_platform = None;
    for (i, (sim, wire)) in sims.into_iter().enumerate() {
        let platform = Arc::new(SimPlatform::new(
            sim.clone(),
            SimDrive::Threaded,
            true,
            &format!("soak{i}"),
        ));
        let opts = PortOptions {
            port_id: i as u16,
            llq_policy: LlqPolicy::Recommended,
            // The fault campaign's thresholds: short, so that a fault resolves within its
            // interval; long enough that a loaded 2-CPU machine does not trip them by itself.
            watchdog: WatchdogConfig {
                keep_alive_timeout: Some(Duration::from_millis(1500)),
                missing_tx_timeout: Some(Duration::from_millis(1000)),
                missing_tx_threshold: Some(32),
            },
        };
        let port = Port::open(platform.clone(), opts).map_err(|e| format!("port {i}: {e}"))?;
        first_platform.get_or_insert(platform);
        ports.push(SoakPort { sim, port, wire });
    }
    let platform = first_platform.ok_or("no port")?;
    Ok((runner, ports, platform))
}

/// Takes every buffer out of the pool once and writes its whole data room, so that the pool's
/// pages are resident before the first memory sample.
fn touch_pool(pool: &Mempool) {
    let room = pool.data_room().saturating_sub(HEADROOM);
    let mut all = Vec::with_capacity(pool.capacity() as usize);
    while let Some(mut m) = pool.alloc() {
        if let Some(d) = m.append(room) {
            d.fill(0);
        }
        all.push(m);
    }
}

// ----- the worker -----

const RUN: u8 = 0;
const DRAIN: u8 = 1;
const EXIT: u8 = 2;

/// Per-port counters the worker publishes (one writer each).
#[derive(Default)]
struct PortCounters {
    received: AtomicU64,
    forwarded: AtomicU64,
    dropped: AtomicU64,
}

#[derive(Default)]
struct WorkerShared {
    phase: AtomicU8,
    drained: AtomicBool,
    ports: [PortCounters; 2],
}

/// The queues the worker owns: every RX queue, with its port, and the TX queues by port.
struct WorkerQueues {
    rx: Vec<(usize, RxQueue)>,
    tx: [Vec<TxQueue>; 2],
}

/// fwd's io loop over both directions; then, told to drain, no more receiving, only reclaiming
/// TX completions until none is in flight.
fn worker(mut q: WorkerQueues, shared: &WorkerShared, burst: usize, core: usize) -> WorkerQueues {
    core_affinity::set_for_current(core_affinity::CoreId { id: core });
    let mut pkts: [Option<Mbuf>; 512] = std::array::from_fn(|_| None);
    let burst = burst.clamp(1, pkts.len());
    // Local totals per port: received, forwarded, dropped; published with plain stores.
    let mut totals = [[0u64; 3]; 2];
    let WorkerQueues { rx, tx } = &mut q;
    while shared.phase.load(Ordering::Relaxed) == RUN {
        let mut idle = true;
        for (port, rxq) in rx.iter_mut() {
            let n = rxq.rx_burst(&mut pkts[..burst]);
            if n == 0 {
                continue;
            }
            idle = false;
            let peer = *port ^ 1;
            let sent = match tx[peer].get_mut(rxq.queue_id() as usize) {
                Some(txq) => txq.tx_burst(&mut pkts[..n]),
                None => 0,
            };
            pkts[sent..n].iter_mut().for_each(|m| drop(m.take()));
            let t = &mut totals[*port];
            t[0] += n as u64;
            t[1] += sent as u64;
            t[2] += (n - sent) as u64;
            let c = &shared.ports[*port];
            c.received.store(t[0], Ordering::Relaxed);
            c.forwarded.store(t[1], Ordering::Relaxed);
            c.dropped.store(t[2], Ordering::Relaxed);
        }
        if idle {
            for txq in tx.iter_mut().flatten() {
                if txq.in_flight() > 0 {
                    txq.tx_done_cleanup();
                }
            }
        }
    }
    // An empty burst also catches up with a reset (reclaiming what was in flight, counted as
    // reset drops), which a cleanup does not.
    while shared.phase.load(Ordering::Relaxed) == DRAIN {
        let mut in_flight = 0;
        for txq in tx.iter_mut().flatten() {
            txq.tx_burst(&mut []);
            in_flight += txq.in_flight();
        }
        if in_flight == 0 {
            shared.drained.store(true, Ordering::Release);
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    q
}

// ----- the control plane -----

/// The fault whose outcome is being watched.
struct Active {
    record: FaultRecord,
    expect: Expect,
    after: Option<Fault>,
    port: usize,
    injected: Instant,
    reasons: Vec<ResetReason>,
    links: Vec<bool>,
    admin_error_at: Option<Instant>,
    /// When traffic should be flowing again from, and the port's counters then.
    outcome_at: Option<Instant>,
    marks: (u64, u64),
    resumed_at: Option<Instant>,
}

impl Active {
    /// Whether the window can close: the outcome was seen and has settled.
    fn settled(&self, now: Instant) -> bool {
        match self.expect {
            Expect::Reset(_) => {
                !self.reasons.is_empty()
                    && self
                        .resumed_at
                        .is_some_and(|r| now.saturating_duration_since(r) >= SETTLE)
            }
            Expect::LinkFlap => {
                self.links.len() >= 2
                    && self.resumed_at.is_some()
                    && now - self.injected >= QUIET_WATCH
            }
            Expect::AdminError => self
                .admin_error_at
                .is_some_and(|a| now.saturating_duration_since(a) >= QUIET_WATCH),
        }
    }

    /// Fills in the verdict.
    fn close(mut self) -> FaultRecord {
        let resumed = self.resumed_at.is_some();
        let r = &mut self.record;
        r.resumed_ms = match (self.outcome_at, self.resumed_at) {
            (Some(o), Some(s)) => Some(ms(s.saturating_duration_since(o))),
            _ => None,
        };
        let resets = || {
            self.reasons
                .iter()
                .map(|r| r.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (ok, observed) = match self.expect {
            Expect::Reset(want) => (
                self.reasons == [want] && resumed,
                if self.reasons.is_empty() {
                    "no reset".to_string()
                } else {
                    format!("reset {}", resets())
                },
            ),
            Expect::LinkFlap => (
                self.links == [false, true] && self.reasons.is_empty() && resumed,
                format!(
                    "link {}{}",
                    self.links
                        .iter()
                        .map(|&u| if u { "up" } else { "down" })
                        .collect::<Vec<_>>()
                        .join(", "),
                    if self.reasons.is_empty() {
                        String::new()
                    } else {
                        format!("; reset {}", resets())
                    }
                ),
            ),
            Expect::AdminError => (
                self.admin_error_at.is_some() && self.reasons.is_empty(),
                match (self.admin_error_at.is_some(), self.reasons.is_empty()) {
                    (true, true) => "admin error reported".to_string(),
                    (false, true) => "no error reported".to_string(),
                    (_, false) => format!("reset {}", resets()),
                },
            ),
        };
        r.observed = if resumed || self.expect == Expect::AdminError {
            observed
        } else {
            format!("{observed}; traffic did not resume")
        };
        r.ok = ok;
        self.record
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn xsum(x: &[(String, u64)], prefix: &str, suffix: &str) -> u64 {
    x.iter()
        .filter(|(n, _)| n.starts_with(prefix) && n.ends_with(suffix))
        .map(|(_, v)| v)
        .sum()
}

/// Runs the soak.
pub fn run_soak(o: &SoakOptions) -> Result<SoakReport, String> {
    let kinds = rotation();
    let (runner, mut ports, platform) = open_ports(o)?;

    // Enough buffers for every ring, a burst in the worker's hands, and the queues' caches.
    let mbufs = (2 * QUEUES as u32 * 2 * RING as u32 + 2 * 512 + 4096).max(8191);
    let p = platform.clone();
    let pool = Mempool::new("soak", mbufs, DEFAULT_DATA_ROOM, &move |len, align| {
        p.alloc_dma(len, align)
    })
    .map_err(|e| format!("mempool: {e}"))?;
    touch_pool(&pool);

    let conf = PortConf {
        rss: (QUEUES > 1).then(RssConf::default),
        ..PortConf::default()
    };
    let mut queues = WorkerQueues {
        rx: Vec::new(),
        tx: [Vec::new(), Vec::new()],
    };
    for (i, sp) in ports.iter_mut().enumerate() {
        let e = |e: ena::Error| format!("port {i}: {e}");
        sp.port.configure(QUEUES, QUEUES, &conf).map_err(e)?;
        for q in 0..QUEUES {
            sp.port.rx_queue_setup(q, RING, &pool).map_err(e)?;
            sp.port.tx_queue_setup(q, RING, &pool).map_err(e)?;
        }
        sp.port.start().map_err(e)?;
        for q in 0..QUEUES {
            queues.rx.push((i, sp.port.take_rx_queue(q).map_err(e)?));
            queues.tx[i].push(sp.port.take_tx_queue(q).map_err(e)?);
        }
    }

    let shared = Arc::new(WorkerShared::default());
    let worker_core = o.cores.workers.first().copied().unwrap_or(o.cores.sim);
    let handle = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("soak-worker".into())
            .spawn(move || worker(queues, &shared, BURST as usize, worker_core))
            .map_err(|e| format!("cannot start the worker: {e}"))?
    };

    let mut r = SoakReport {
        tool: "ena-pps",
        mode: "soak",
        duration_s: o.duration.as_secs_f64(),
        fault_every_s: o.fault_every.as_secs_f64(),
        rate_pps: o.rate_pps,
        queues: QUEUES,
        burst: BURST,
        frame_size: FRAME_SIZE,
        ring: RING,
        cores: o.cores.clone(),
        elapsed_s: 0.0,
        packets_forwarded: 0,
        mpps: 0.0,
        faults_injected: 0,
        faults_ok: 0,
        expected_resets: 0,
        resets: 0,
        resets_by_reason: BTreeMap::new(),
        reset_failures: 0,
        unexpected_resets: Vec::new(),
        link_changes: 0,
        stats_errors: 0,
        faults: Vec::new(),
        rss: RssReport::default(),
        pools: PoolReport::default(),
        accounting: Accounting::default(),
        failures: Vec::new(),
        pass: false,
    };
    // Reserved up front, so that the run's own bookkeeping does not count as growth.
    let planned_faults =
        (o.duration.as_secs_f64() / o.fault_every.as_secs_f64().max(0.1)) as usize + 4;
    r.faults.reserve(planned_faults);
    let mut samples: Vec<(f64, u64)> = Vec::with_capacity(o.duration.as_secs() as usize + 16);
    let mut in_use_max = 0u32;

    let counters = |p: usize| {
        let peer = &shared.ports[p ^ 1];
        (
            shared.ports[p].received.load(Ordering::Relaxed),
            peer.forwarded.load(Ordering::Relaxed),
        )
    };

    let t0 = Instant::now();
    let end = t0 + o.duration;
    let mut next_fault = t0 + o.fault_every;
    let mut next_stats = t0 + STATS_PERIOD;
    let mut next_sample = t0;
    let mut active: Option<Active> = None;
    let mut injected = 0u64;
    let mut draining_since: Option<Instant> = None;
    let mut drain_failure: Option<String> = None;
    loop {
        let now = Instant::now();
        for (p, sp) in ports.iter_mut().enumerate() {
            for ev in sp.port.poll_control() {
                // The control path may have spent a while recovering: time events as reported.
                let at = Instant::now();
                let t = (at - t0).as_secs_f64();
                match ev {
                    PortEvent::Reset { reason, recovery } => {
                        r.resets += 1;
                        *r.resets_by_reason
                            .entry(reason.name().to_string())
                            .or_default() += 1;
                        match active.as_mut().filter(|a| a.port == p) {
                            Some(a) => {
                                if let Some(f) = a.after.take() {
                                    sp.sim.faults.inject(f);
                                }
                                if !a.reasons.is_empty() || a.expect != Expect::Reset(reason) {
                                    r.unexpected_resets.push(format!(
                                        "port {p}: {} at {t:.1} s during fault {} ({})",
                                        reason.name(),
                                        a.record.index,
                                        a.record.fault
                                    ));
                                }
                                a.reasons.push(reason);
                                if a.reasons.len() == 1 {
                                    a.record.detected_ms = Some(ms(at - a.injected));
                                    a.record.recovery_ms = Some(ms(recovery));
                                }
                                a.outcome_at = Some(at);
                                a.marks = counters(p);
                                a.resumed_at = None;
                            }
                            None => r.unexpected_resets.push(format!(
                                "port {p}: {} at {t:.1} s{}",
                                reason.name(),
                                if draining_since.is_some() {
                                    " while draining"
                                } else {
                                    ""
                                }
                            )),
                        }
                    }
                    PortEvent::ResetFailed { reason, error } => {
                        r.reset_failures += 1;
                        r.failures.push(format!(
                            "port {p}: recovery from a {} reset failed at {t:.1} s: {error}",
                            reason.name()
                        ));
                    }
                    PortEvent::LinkChange(l) => {
                        r.link_changes += 1;
                        // After a reset the driver learns the link afresh and reports it up;
                        // only a link flap's changes are the fault's.
                        if let Some(a) = active
                            .as_mut()
                            .filter(|a| a.port == p && a.expect == Expect::LinkFlap)
                        {
                            a.links.push(l.up);
                            if a.links.len() == 1 {
                                a.record.detected_ms = Some(ms(at - a.injected));
                            }
                            if l.up {
                                a.outcome_at = Some(at);
                                a.marks = counters(p);
                            }
                        }
                    }
                    PortEvent::ConfNotification(_) => {}
                }
            }
        }
        if now >= next_stats {
            next_stats = now + STATS_PERIOD;
            for (p, sp) in ports.iter_mut().enumerate() {
                if sp.port.stats().is_err() {
                    let at = Instant::now();
                    r.stats_errors += 1;
                    if let Some(a) = active
                        .as_mut()
                        .filter(|a| a.port == p && a.expect == Expect::AdminError)
                    {
                        if a.admin_error_at.is_none() {
                            a.admin_error_at = Some(at);
                            a.record.detected_ms = Some(ms(at - a.injected));
                        }
                    }
                }
            }
        }
        if now >= next_sample && draining_since.is_none() {
            next_sample += SAMPLE_PERIOD;
            if let Some(kib) = vm_rss_kib() {
                samples.push(((now - t0).as_secs_f64(), kib));
            }
            in_use_max = in_use_max.max(pool.in_use());
        }
        if let Some(a) = active.as_mut() {
            if let (Some(_), None) = (a.outcome_at, a.resumed_at) {
                let (rx, tx) = counters(a.port);
                if rx > a.marks.0 && tx > a.marks.1 {
                    a.resumed_at = Some(Instant::now());
                }
            }
        }
        let now = Instant::now();
        if active
            .as_ref()
            .is_some_and(|a| a.settled(now) || now - a.injected >= FAULT_DEADLINE)
        {
            if let Some(mut a) = active.take() {
                // A fault that persists until its reset must not outlive a window that saw none.
                if let Some(f) = a.after.take() {
                    ports[a.port].sim.faults.inject(f);
                }
                let rec = a.close();
                if o.verbose {
                    eprintln!(
                        "soak: {:>6.1} s  #{:<3} port {} {:<22} expect {:<32} -> {}{}",
                        rec.at_s,
                        rec.index,
                        rec.port,
                        rec.fault,
                        rec.expect,
                        rec.observed,
                        if rec.ok { "" } else { "  FAILED" }
                    );
                }
                r.faults.push(rec);
                next_fault = next_fault.max(now + GAP);
            }
        }
        if active.is_none()
            && draining_since.is_none()
            && now >= next_fault
            && now + o.fault_every <= end
        {
            let kind = &kinds[injected as usize % kinds.len()];
            let port = injected as usize % 2;
            // Queues alternate every second fault, so that each port sees each queue.
            let queue = (injected / 2 % QUEUES as u64) as u16;
            let view = ports[port].sim.view();
            let (driver_queue, device_queue) = match kind.target {
                Target::Device => (None, None),
                Target::Tx => (Some(queue), view.tx_queues.get(queue as usize).copied()),
                Target::Rx => (Some(queue), view.rx_queues.get(queue as usize).copied()),
            };
            let fault = (kind.make)(device_queue);
            let record = FaultRecord {
                index: injected,
                at_s: (now - t0).as_secs_f64(),
                port: port as u16,
                queue: driver_queue,
                fault: fault.name(),
                expect: kind.expect.describe(),
                observed: String::new(),
                detected_ms: None,
                recovery_ms: None,
                resumed_ms: None,
                ok: false,
            };
            ports[port].sim.faults.inject(fault);
            injected += 1;
            active = Some(Active {
                record,
                expect: kind.expect,
                after: kind.after.clone(),
                port,
                injected: now,
                reasons: Vec::new(),
                links: Vec::new(),
                admin_error_at: None,
                outcome_at: None,
                marks: counters(port),
                resumed_at: None,
            });
            next_fault = now + o.fault_every;
        }
        // The end: once the window is over and no fault is being watched, drain.
        if draining_since.is_none() && now >= end && active.is_none() {
            r.elapsed_s = (now - t0).as_secs_f64();
            shared.phase.store(DRAIN, Ordering::Relaxed);
            draining_since = Some(now);
        }
        if let Some(d) = draining_since {
            if shared.drained.load(Ordering::Acquire) {
                break;
            }
            if now - d > DRAIN_LIMIT {
                drain_failure = Some(format!(
                    "TX completions still outstanding {:.1} s after the end",
                    DRAIN_LIMIT.as_secs_f64()
                ));
                break;
            }
        }
        std::thread::sleep(CONTROL_PERIOD);
    }
    shared.phase.store(EXIT, Ordering::Relaxed);
    let queues = handle
        .join()
        .map_err(|_| "the worker thread panicked".to_string())?;
    r.faults_injected = injected;
    if let Some(f) = drain_failure {
        r.failures.push(f);
    }

    // Stop, read the driver's counters, give the buffers back, close.
    let mut xstats = Vec::new();
    for (i, sp) in ports.iter_mut().enumerate() {
        if let Err(e) = sp.port.stop() {
            r.failures.push(format!("port {i}: stop: {e}"));
        }
        xstats.push(
            sp.port
                .xstats()
                .map_err(|e| format!("port {i}: xstats: {e}"))?,
        );
    }
    drop(queues);
    let mut devices = Vec::new();
    for (i, sp) in ports.into_iter().enumerate() {
        if let Err(e) = sp.port.close() {
            r.failures.push(format!("port {i}: close: {e}"));
        }
        devices.push((sp.sim, sp.wire));
    }
    // With the polling thread gone the model's counters and the wires' are one consistent
    // snapshot.
    runner.stop();

    let c = |p: usize| {
        let s = &shared.ports[p];
        (
            s.received.load(Ordering::Relaxed),
            s.forwarded.load(Ordering::Relaxed),
            s.dropped.load(Ordering::Relaxed),
        )
    };
    r.packets_forwarded = c(0).1 + c(1).1;
    r.mpps = if r.elapsed_s > 0.0 {
        r.packets_forwarded as f64 / r.elapsed_s / 1e6
    } else {
        0.0
    };
    r.accounting = account(&devices, &xstats, [c(0), c(1)]);

    r.pools = PoolReport {
        capacity: pool.capacity(),
        available: pool.available(),
        cached: pool.cached(),
        in_use: pool.in_use(),
        in_use_max_running: in_use_max,
        exact: pool.available() + pool.cached() == pool.capacity(),
    };
    if let Some(kib) = vm_rss_kib() {
        samples.push(((Instant::now() - t0).as_secs_f64(), kib));
    }
    r.rss = rss_report(&samples, o);

    r.faults_ok = r.faults.iter().filter(|f| f.ok).count() as u64;
    r.expected_resets = r
        .faults
        .iter()
        .filter(|x| {
            matches!(
                kinds[x.index as usize % kinds.len()].expect,
                Expect::Reset(_)
            )
        })
        .count() as u64;
    judge(&mut r);
    Ok(r)
}

/// Checks every equation of the module's description, per port.
fn account(
    devices: &[(SimDevice, GeneratorStats)],
    xstats: &[Vec<(String, u64)>],
    worker: [(u64, u64, u64); 2],
) -> Accounting {
    let mut a = Accounting::default();
    for (p, ((sim, wire), x)) in devices.iter().zip(xstats).enumerate() {
        let dev = sim.stats.snapshot().lifetime;
        let (received, forwarded, fwd_dropped) = worker[p];
        let tx_sent = worker[p ^ 1].1;
        let pa = PortAccounting {
            port: p as u16,
            generated: wire.generated(),
            dev_rx_pkts: dev.rx_pkts,
            dev_rx_drops: dev.rx_drops,
            dev_rx_overruns: dev.rx_overruns,
            received,
            rx_cnt: xsum(x, "rx_q", "_cnt"),
            rx_reset_drops: xsum(x, "rx_q", "_reset_drops"),
            forwarded,
            fwd_dropped,
            tx_sent,
            tx_cnt: xsum(x, "tx_q", "_cnt"),
            tx_completed: xsum(x, "tx_q", "_completed"),
            tx_reset_drops: xsum(x, "tx_q", "_reset_drops"),
            dev_tx_pkts: dev.tx_pkts,
            dev_tx_drops: dev.tx_drops,
            sunk: wire.sunk(),
            tx_unread: tx_sent.saturating_sub(dev.tx_pkts + dev.tx_drops),
            dma_misses: dev.dma_misses,
        };
        let mut check = |ok: bool, what: String| {
            if !ok {
                a.problems.push(format!("port {p}: {what}"));
            }
        };
        check(
            pa.generated == pa.dev_rx_pkts + pa.dev_rx_drops + pa.dev_rx_overruns,
            format!(
                "generated {} != device rx_pkts {} + rx_drops {} + rx_overruns {}",
                pa.generated, pa.dev_rx_pkts, pa.dev_rx_drops, pa.dev_rx_overruns
            ),
        );
        check(
            pa.dev_rx_pkts == pa.received + pa.rx_reset_drops,
            format!(
                "device rx_pkts {} != received {} + rx_qN_reset_drops {}",
                pa.dev_rx_pkts, pa.received, pa.rx_reset_drops
            ),
        );
        check(
            pa.rx_cnt == pa.received,
            format!("rx_qN_cnt {} != received {}", pa.rx_cnt, pa.received),
        );
        check(
            pa.received == pa.forwarded + pa.fwd_dropped,
            format!(
                "received {} != forwarded {} + freed {}",
                pa.received, pa.forwarded, pa.fwd_dropped
            ),
        );
        check(
            pa.tx_cnt == pa.tx_sent,
            format!("tx_qN_cnt {} != sent {}", pa.tx_cnt, pa.tx_sent),
        );
        check(
            pa.tx_completed + pa.tx_reset_drops == pa.tx_sent,
            format!(
                "tx completed {} + reset_drops {} != sent {}",
                pa.tx_completed, pa.tx_reset_drops, pa.tx_sent
            ),
        );
        check(
            pa.dev_tx_pkts == pa.sunk,
            format!(
                "device tx_pkts {} != frames the sink took {}",
                pa.dev_tx_pkts, pa.sunk
            ),
        );
        let read = pa.dev_tx_pkts + pa.dev_tx_drops;
        check(
            read <= pa.tx_sent && pa.tx_unread <= pa.tx_reset_drops,
            format!(
                "device read {read} of {} sent; the {} unread exceed tx_qN_reset_drops {}",
                pa.tx_sent, pa.tx_unread, pa.tx_reset_drops
            ),
        );
        check(
            pa.dma_misses == 0,
            format!("{} DMA accesses outside mapped memory", pa.dma_misses),
        );
        a.ports.push(pa);
    }
    a.generated = a.ports.iter().map(|p| p.generated).sum();
    a.sunk = a.ports.iter().map(|p| p.sunk).sum();
    a.lost = a.generated.saturating_sub(a.sunk);
    a.lost_explained = a
        .ports
        .iter()
        .map(|p| {
            p.dev_rx_drops
                + p.dev_rx_overruns
                + p.rx_reset_drops
                + p.fwd_dropped
                + p.dev_tx_drops
                + p.tx_unread
        })
        .sum();
    if a.generated < a.sunk || a.lost != a.lost_explained {
        a.problems.push(format!(
            "{} generated - {} sunk = {} lost, but the counters explain {}",
            a.generated, a.sunk, a.lost, a.lost_explained
        ));
    }
    a.exact = a.problems.is_empty();
    a
}

fn rss_report(samples: &[(f64, u64)], o: &SoakOptions) -> RssReport {
    let warm = o.rss_warmup.as_secs_f64();
    let after: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= warm)
        .map(|(_, k)| *k)
        .collect();
    let mut rep = RssReport {
        warmup_s: warm,
        bound_kib: o.rss_bound_kib,
        samples_kib: samples.iter().map(|(_, k)| *k).collect(),
        samples_after_warmup: after.len(),
        ..RssReport::default()
    };
    if let (Some(&first), Some(&last)) = (after.first(), after.last()) {
        rep.first_kib = first;
        rep.last_kib = last;
        rep.max_kib = after.iter().copied().max().unwrap_or(first);
        rep.growth_kib = last as i64 - first as i64;
        rep.peak_growth_kib = rep.max_kib as i64 - first as i64;
        // Two samples at least: a run shorter than its warm-up shows nothing.
        rep.flat = after.len() >= 2 && rep.growth_kib < o.rss_bound_kib as i64;
    }
    rep
}

/// Sets `pass`, with a reason for each way it fails.
fn judge(r: &mut SoakReport) {
    let mut f = Vec::new();
    if r.rss.samples_after_warmup < 2 {
        f.push(format!(
            "{} resident-memory samples after the {:.0} s warm-up: too short to tell",
            r.rss.samples_after_warmup, r.rss.warmup_s
        ));
    } else if !r.rss.flat {
        f.push(format!(
            "resident memory grew {} KiB after the warm-up (bound {} KiB)",
            r.rss.growth_kib, r.rss.bound_kib
        ));
    }
    if !r.pools.exact {
        f.push(format!(
            "mbuf pool: {} available + {} cached != capacity {}",
            r.pools.available, r.pools.cached, r.pools.capacity
        ));
    }
    if !r.accounting.exact {
        f.extend(
            r.accounting
                .problems
                .iter()
                .map(|p| format!("accounting: {p}")),
        );
    }
    if r.faults_injected == 0 {
        f.push("no fault was injected (the run is shorter than one interval)".into());
    }
    for x in r.faults.iter().filter(|x| !x.ok) {
        f.push(format!(
            "fault #{} ({}, port {}): expected {}, observed {}",
            x.index, x.fault, x.port, x.expect, x.observed
        ));
    }
    if r.resets < r.expected_resets {
        f.push(format!(
            "{} resets for {} faults that must reset",
            r.resets, r.expected_resets
        ));
    }
    if r.packets_forwarded == 0 {
        f.push("nothing was forwarded".into());
    }
    // Failed recoveries and a drain that did not finish are already in `failures`.
    r.failures.extend(f);
    r.pass = r.failures.is_empty();
}

/// The human-readable summary.
pub fn print_report(r: &SoakReport) {
    println!(
        "soak: {:.1} s of io forwarding both ways between 2 simulated ports, {} queue pairs each, burst {}, {} B frames, generators {}; a fault every {:.1} s; device models on CPU {}, worker on CPU {:?}",
        r.elapsed_s,
        r.queues,
        r.burst,
        r.frame_size,
        r.rate_pps
            .map_or("unpaced".to_string(), |p| format!("at {p} frames/s each")),
        r.fault_every_s,
        r.cores.sim,
        r.cores.workers
    );
    println!(
        "forwarded {} packets ({:.3} Mpps)",
        r.packets_forwarded, r.mpps
    );
    println!(
        "faults: {} injected, {} with the expected outcome; resets {} (faults that must reset: {}), failed recoveries {}, unexpected resets {}",
        r.faults_injected,
        r.faults_ok,
        r.resets,
        r.expected_resets,
        r.reset_failures,
        r.unexpected_resets.len()
    );
    let reasons: Vec<String> = r
        .resets_by_reason
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("  resets by reason: {}", reasons.join(", "));
    for u in &r.unexpected_resets {
        println!("  unexpected: {u}");
    }
    println!(
        "  {:>4} {:>7} {:>4} {:>5}  {:<22} {:<32} {:<28} {:>9} {:>9} {:>9}",
        "#",
        "at (s)",
        "port",
        "queue",
        "fault",
        "expected",
        "observed",
        "detect ms",
        "recov ms",
        "resume ms"
    );
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    for x in &r.faults {
        println!(
            "  {:>4} {:>7.1} {:>4} {:>5}  {:<22} {:<32} {:<28} {:>9} {:>9} {:>9}{}",
            x.index,
            x.at_s,
            x.port,
            x.queue.map_or("-".to_string(), |q| q.to_string()),
            x.fault,
            x.expect,
            x.observed,
            opt(x.detected_ms),
            opt(x.recovery_ms),
            opt(x.resumed_ms),
            if x.ok { "" } else { "  FAILED" }
        );
    }
    let m = &r.rss;
    println!(
        "resident memory: {:.1} MiB first after the {:.0} s warm-up, {:.1} MiB max, {:.1} MiB last; growth {:+} KiB (peak {:+} KiB; bound {} KiB): {}",
        m.first_kib as f64 / 1024.0,
        m.warmup_s,
        m.max_kib as f64 / 1024.0,
        m.last_kib as f64 / 1024.0,
        m.growth_kib,
        m.peak_growth_kib,
        m.bound_kib,
        if m.flat { "flat" } else { "NOT FLAT" }
    );
    let p = &r.pools;
    println!(
        "mbuf pool: {} buffers, {} available + {} cached, {} out after the stop (at most {} out while forwarding): {}",
        p.capacity,
        p.available,
        p.cached,
        p.in_use,
        p.in_use_max_running,
        if p.exact { "exact" } else { "NOT EXACT" }
    );
    let a = &r.accounting;
    println!(
        "accounting: {} generated, {} sunk, {} lost, {} explained by named counters: {}",
        a.generated,
        a.sunk,
        a.lost,
        a.lost_explained,
        if a.exact { "exact" } else { "NOT EXACT" }
    );
    for x in &a.ports {
        println!(
            "  port {}: generated {} = rx_pkts {} + rx_drops {} + rx_overruns {}; rx_pkts = received {} + rx reset drops {}; received = forwarded {} + freed {}",
            x.port,
            x.generated,
            x.dev_rx_pkts,
            x.dev_rx_drops,
            x.dev_rx_overruns,
            x.received,
            x.rx_reset_drops,
            x.forwarded,
            x.fwd_dropped
        );
        println!(
            "          sent {} = tx_cnt {} = completed {} + tx reset drops {}; device tx_pkts {} (= sunk {}) + tx_drops {}, unread {}",
            x.tx_sent,
            x.tx_cnt,
            x.tx_completed,
            x.tx_reset_drops,
            x.dev_tx_pkts,
            x.sunk,
            x.dev_tx_drops,
            x.tx_unread
        );
    }
    for p in &a.problems {
        println!("  problem: {p}");
    }
    if r.pass {
        println!("verdict: PASS");
    } else {
        println!("verdict: FAIL");
        for f in &r.failures {
            println!("  {f}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_covers_the_campaign_and_each_fault_is_distinct() {
        let names: Vec<&str> = rotation()
            .iter()
            .map(|k| (k.make)(Some(0)).name())
            .collect();
        assert_eq!(
            names,
            [
                "admin_timeout",
                "admin_error",
                "fatal_error",
                "stop_keep_alive",
                "drop_tx_completions",
                "wrong_tx_phase",
                "bad_tx_req_id",
                "stale_tx_req_id",
                "tx_cdesc_mbz",
                "bad_rx_req_id",
                "bad_rx_length",
                "rx_cdesc_mbz",
                "rx_missing_last",
                "link_flap",
                "device_request_reset",
            ]
        );
        let resets = rotation()
            .iter()
            .filter(|k| matches!(k.expect, Expect::Reset(_)))
            .count();
        assert_eq!(resets, 13);
    }

    #[test]
    fn rss_growth_is_measured_after_the_warm_up() {
        let o = SoakOptions::new(Duration::from_secs(10), Cores::default_for_machine());
        // Growth during the warm-up does not count; 100 KiB after it does.
        let s = [(0.0, 1000), (1.0, 50_000), (5.0, 60_000), (9.0, 60_100)];
        let r = rss_report(&s, &o);
        assert_eq!(
            (r.first_kib, r.max_kib, r.last_kib),
            (60_000, 60_100, 60_100)
        );
        assert_eq!(r.growth_kib, 100);
        assert!(r.flat);
        let s = [(5.0, 60_000), (9.0, 60_000 + DEFAULT_RSS_BOUND_KIB)];
        assert!(!rss_report(&s, &o).flat, "growth at the bound is not flat");
        assert!(
            !rss_report(&[(5.0, 1)], &o).flat,
            "one sample shows nothing"
        );
    }

    #[test]
    fn vm_rss_reads_this_process() {
        let kib = vm_rss_kib().expect("VmRSS");
        assert!(kib > 100, "{kib} KiB");
    }
}
