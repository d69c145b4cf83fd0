//! The ENA device: one state machine that transports drive by calling [`Device::poll`].
//!
//! Each poll samples BAR0 for what the driver changed and reacts, in this order:
//!
//! 1. `DEV_CTL` — the two-phase reset handshake, sampled as a level (spec §3.3);
//! 2. `MMIO_REG_READ` — readless register reads, answered by DMA with req_id written last (§2.3);
//! 3. `AQ_DB` — admin commands, completed in order into the ACQ, phase written last (§4);
//! 4. `AENQ_HEAD_DB` and the timers — events posted under head-doorbell flow control (§5);
//! 5. IO — TX SQ doorbells (host rings and LLQ entries in BAR2) and frames from the wire (§6, §7).
//!
//! Nothing traps a BAR write: the device notices changes when it samples. That is sound for ENA
//! because every driver-to-device register is either a free-running counter (doorbells, readless
//! sequence numbers), whose latest value says everything, or the DEV_CTL level. Device-chosen
//! registers (SQ doorbells, CQ unmask) sit in a dynamic area of BAR0 that the device clears when
//! it hands them out, so a stale value can never look like a doorbell.
//!
//! Decisions the reference leaves open (spec §15) are written down in `sim/README.md`.

mod admin;
mod aenq;
mod io;

use crate::bar::BarMemory;
use crate::clock::Clock;
use crate::config::DeviceConfig;
use crate::dma::{Dma, DmaError, DmaSpace};
use crate::events::{Event, EventLog};
use crate::fault::{ActiveFaults, AdminFault, Fault, FaultHandle, QueueFault};
use crate::irq::IrqLine;
use crate::rss::RssState;
use crate::stats::{Counters, QueueCounters, StatsHandle};
use crate::wire::Wire;
use ena_hw::admin::HostInfo;
use ena_hw::regs::{off, DevCtl, DevSts, MmioRegReadReq, INTR_MASK_MGMNT};
use std::sync::Arc;
use std::time::Duration;

pub use admin::LlqActive;

/// First byte of BAR0's dynamic register area (per-queue doorbells and CQ registers).
pub const DYNAMIC_REGS_BASE: u32 = 0x1000;
/// TX SQ doorbells: `TX_DOORBELL_BASE + 4 × sq_idx`.
pub const TX_DOORBELL_BASE: u32 = 0x1000;
/// RX SQ doorbells: `RX_DOORBELL_BASE + 4 × sq_idx`.
pub const RX_DOORBELL_BASE: u32 = 0x1400;
/// CQ interrupt unmask registers: `CQ_UNMASK_BASE + 4 × cq_idx`.
pub const CQ_UNMASK_BASE: u32 = 0x1800;
/// CQ NUMA registers: `CQ_NUMA_BASE + 4 × cq_idx`.
pub const CQ_NUMA_BASE: u32 = 0x1c00;
/// Highest queue index the register layout has room for (256 registers per kind).
pub const MAX_QUEUE_INDEX: usize = 255;

/// How often the device looks at its clock when it is busy (in polls); when a poll finds no
/// work it always does. Manual-step transports use 1 for exact timing.
pub const DEFAULT_TICK_EVERY: u32 = 256;

/// What the device's own RSS, MTU, LLQ, AENQ and host-info settings are (reset by a device reset).
#[derive(Clone, Debug)]
pub struct FeatureState {
    /// Current L3 MTU.
    pub mtu: u32,
    /// Enabled AENQ groups.
    pub aenq_enabled: u32,
    /// The active LLQ configuration (after SET LLQ).
    pub llq: Option<LlqActive>,
    /// RSS configuration.
    pub rss: RssState,
    /// Fragment bypass requested.
    pub frag_bypass: bool,
    /// The host-info page last handed over.
    pub host_info: Option<HostInfo>,
}

impl FeatureState {
    /// Power-on / post-reset features. The MTU starts at the wire's own MTU when it has one (a
    /// TAP or AF_PACKET interface), within the device's limits, so a driver that never sets the
    /// MTU receives what the cable carries; otherwise at the configured MTU.
    fn new(cfg: &DeviceConfig, wire_mtu: Option<u32>) -> Self {
        let mut rss = RssState::new(cfg.rss_hash_input_configurable);
        // Until the driver sets a table, every hashed flow goes to RX SQ 0.
        let _ = rss.set_indirection_table(cfg.rss_table_log2, &vec![0; 1 << cfg.rss_table_log2]);
        Self {
            mtu: wire_mtu.map_or(cfg.mtu, |m| m.min(cfg.max_mtu).max(cfg.min_mtu)),
            aenq_enabled: 0,
            llq: None,
            rss,
            frag_bypass: false,
            host_info: None,
        }
    }
}

/// A read-only view of device state for tests and tools.
#[derive(Clone, Debug)]
pub struct DeviceView {
    /// DEV_STS as the device holds it.
    pub dev_sts: DevSts,
    /// Feature state.
    pub features: FeatureState,
    /// Existing TX SQ indices.
    pub tx_queues: Vec<u16>,
    /// Existing RX SQ indices.
    pub rx_queues: Vec<u16>,
    /// Existing CQ indices.
    pub cqs: Vec<u16>,
    /// Whether the link is up.
    pub link_up: bool,
    /// Reason code of the last reset.
    pub last_reset_reason: Option<u8>,
}

/// The latest [`DeviceView`], published by the device after every control-path change so it can
/// be read while a runner thread owns the device.
#[derive(Clone, Default)]
pub struct ViewHandle {
    inner: Arc<std::sync::Mutex<Option<DeviceView>>>,
}

impl ViewHandle {
    /// The latest published view.
    pub fn get(&self) -> Option<DeviceView> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl std::fmt::Debug for ViewHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ViewHandle")
    }
}

/// The simulated ENA device.
pub struct Device {
    cfg: DeviceConfig,
    bar0: BarMemory,
    bar2: Option<BarMemory>,
    dma: Dma,
    irq: Box<dyn IrqLine>,
    clock: Arc<dyn Clock>,
    wire: Box<dyn Wire>,
    faults: FaultHandle,
    active: ActiveFaults,
    stats: StatsHandle,
    events: EventLog,
    view_handle: ViewHandle,
    view_dirty: bool,
    counters: Counters,
    lifetime: Counters,
    txq_counters: Vec<QueueCounters>,
    rxq_counters: Vec<QueueCounters>,

    sts: DevSts,
    in_reset: bool,
    fatal: bool,
    last_reset_reason: Option<u8>,
    last_mmio_req: u32,
    admin: admin::AdminState,
    aenq: aenq::AenqState,
    feat: FeatureState,
    io: io::IoState,

    tick_every: u32,
    polls_since_tick: u32,
    now: Duration,
    next_keep_alive: Duration,
    link_up: bool,
    link_forced_down: bool,
    link_flap_until: Option<Duration>,
    dirty_stats: bool,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("mac", &self.cfg.mac)
            .field("wire", &self.wire.describe())
            .finish()
    }
}

/// Everything a device needs from its transport.
pub struct DeviceParts {
    /// BAR0 memory (at least `cfg.bar0_size` bytes).
    pub bar0: BarMemory,
    /// BAR2 memory when LLQ is offered.
    pub bar2: Option<BarMemory>,
    /// Where device addresses lead.
    pub dma: Arc<dyn DmaSpace>,
    /// Interrupt line.
    pub irq: Box<dyn IrqLine>,
    /// Device time.
    pub clock: Arc<dyn Clock>,
    /// The cable.
    pub wire: Box<dyn Wire>,
}

impl Device {
    /// A device at power-on: DEV_STS ready, no queues, nothing configured.
    pub fn new(cfg: DeviceConfig, parts: DeviceParts) -> Self {
        let feat = FeatureState::new(&cfg, parts.wire.mtu());
        let now = parts.clock.now();
        let mut dev = Self {
            bar0: parts.bar0,
            bar2: if cfg.llq.is_some() { parts.bar2 } else { None },
            dma: Dma::new(parts.dma),
            irq: parts.irq,
            clock: parts.clock,
            wire: parts.wire,
            faults: FaultHandle::new(),
            active: ActiveFaults::default(),
            stats: StatsHandle::default(),
            events: EventLog::new(),
            view_handle: ViewHandle::default(),
            view_dirty: true,
            counters: Counters::default(),
            lifetime: Counters::default(),
            txq_counters: vec![QueueCounters::default(); cfg.max_queues as usize],
            rxq_counters: vec![QueueCounters::default(); cfg.max_queues as usize],
            sts: DevSts(0),
            in_reset: false,
            fatal: false,
            last_reset_reason: None,
            last_mmio_req: 0,
            admin: admin::AdminState::default(),
            aenq: aenq::AenqState::default(),
            io: io::IoState::new(&cfg),
            feat,
            tick_every: DEFAULT_TICK_EVERY,
            polls_since_tick: 0,
            now,
            next_keep_alive: now + cfg.keep_alive_interval,
            link_up: false,
            link_forced_down: false,
            link_flap_until: None,
            dirty_stats: true,
            cfg,
        };
        dev.sts.set_ready(true);
        dev.link_up = dev.wire.link_up();
        // Power-on: management interrupt masked, readable registers mirrored for plain reads.
        dev.bar0.write32(off::INTR_MASK, INTR_MASK_MGMNT);
        dev.last_mmio_req = dev.bar0.read32(off::MMIO_REG_READ);
        dev.mirror_registers();
        dev.publish_stats();
        // A view exists from power-on, so that readers never wait for a runner that owns the
        // device and has not changed anything yet.
        dev.publish_view();
        dev
    }

    /// The fault injector for this device.
    pub fn faults(&self) -> FaultHandle {
        self.faults.clone()
    }

    /// The published counters.
    pub fn stats(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// The event log.
    pub fn events(&self) -> EventLog {
        self.events.clone()
    }

    /// The published view of the device's state.
    pub fn view_handle(&self) -> ViewHandle {
        self.view_handle.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &DeviceConfig {
        &self.cfg
    }

    /// BAR0.
    pub fn bar0(&self) -> &BarMemory {
        &self.bar0
    }

    /// BAR2 (LLQ memory), when offered.
    pub fn bar2(&self) -> Option<&BarMemory> {
        self.bar2.as_ref()
    }

    /// How many polls may pass between clock reads while busy (1 = every poll).
    pub fn set_tick_every(&mut self, polls: u32) {
        self.tick_every = polls.max(1);
    }

    /// A snapshot of the device's state.
    pub fn view(&self) -> DeviceView {
        DeviceView {
            dev_sts: self.sts,
            features: self.feat.clone(),
            tx_queues: self.io.tx_indices(),
            rx_queues: self.io.rx_indices(),
            cqs: self.io.cq_indices(),
            link_up: self.link_up,
            last_reset_reason: self.last_reset_reason,
        }
    }

    /// The wire (for inspection in tests).
    pub fn wire(&self) -> &dyn Wire {
        self.wire.as_ref()
    }

    /// The wire, mutably (tests use it to inject or drain frames).
    pub fn wire_mut(&mut self) -> &mut dyn Wire {
        self.wire.as_mut()
    }

    /// Runs one pass over everything the driver may have changed. Returns true if the device
    /// did any work (so a transport can back off when idle).
    pub fn poll(&mut self) -> bool {
        let mut work = false;
        if self.faults.has_pending() {
            self.take_faults();
            work = true;
        }
        work |= self.poll_reset();
        work |= self.serve_readless();
        if !self.in_reset && !self.fatal {
            work |= self.admin_poll();
            work |= self.aenq_poll();
            work |= self.io_poll();
        }
        self.polls_since_tick += 1;
        if !work || self.polls_since_tick >= self.tick_every {
            self.polls_since_tick = 0;
            work |= self.tick();
        }
        if self.dirty_stats {
            self.publish_stats();
        }
        if self.view_dirty {
            self.publish_view();
        }
        work
    }

    /// Polls until a pass finds nothing to do (bounded, so a driver that keeps ringing cannot
    /// wedge a test). Returns the number of passes that did work.
    pub fn run_until_idle(&mut self) -> usize {
        let mut busy = 0;
        while busy < 100_000 && self.poll() {
            busy += 1;
        }
        busy
    }

    // ----- time -----

    fn tick(&mut self) -> bool {
        self.now = self.clock.now();
        let mut work = false;
        if !self.in_reset && !self.fatal {
            work |= self.check_link();
            work |= self.keep_alive_tick();
            work |= self.io_tick();
        }
        work
    }

    // ----- registers -----

    /// Writes the registers a driver may read with plain loads into BAR0.
    fn mirror_registers(&mut self) {
        self.bar0.write32(off::VERSION, self.cfg.version);
        self.bar0
            .write32(off::CONTROLLER_VERSION, self.cfg.controller_version);
        self.bar0.write32(off::CAPS, self.cfg.caps());
        self.bar0.write32(off::CAPS_EXT, 0);
        self.bar0.write32(off::DEV_STS, self.sts.0);
    }

    fn set_sts(&mut self, sts: DevSts) {
        self.sts = sts;
        self.bar0.write32(off::DEV_STS, sts.0);
    }

    /// The value of a register as a read would see it.
    fn register_value(&self, offset: u16) -> u32 {
        match offset as u32 {
            off::VERSION => self.cfg.version,
            off::CONTROLLER_VERSION => self.cfg.controller_version,
            off::CAPS => self.cfg.caps(),
            off::CAPS_EXT => 0,
            off::DEV_STS => self.sts.0,
            o => self.bar0.read32(o),
        }
    }

    /// The two-phase reset handshake (spec §3.3), sampled as a level.
    fn poll_reset(&mut self) -> bool {
        let ctl = DevCtl(self.bar0.read32(off::DEV_CTL));
        match (self.in_reset, ctl.dev_reset()) {
            (false, true) => {
                self.enter_reset(ctl.reason());
                true
            }
            (true, false) => {
                self.in_reset = false;
                let mut sts = self.sts;
                sts.set_reset_in_progress(false);
                sts.set_reset_finished(true);
                sts.set_ready(true);
                self.set_sts(sts);
                self.events.push(self.now, Event::ResetFinished);
                self.view_dirty = true;
                true
            }
            _ => false,
        }
    }

    /// Forgets everything the driver configured: queues, admin and AENQ state, features.
    fn enter_reset(&mut self, reason: u8) {
        self.now = self.clock.now();
        self.in_reset = true;
        self.fatal = false;
        self.last_reset_reason = Some(reason);
        self.lifetime.resets += 1;
        self.events.push(self.now, Event::ResetStarted { reason });
        tracing::debug!(target: "ena_sim", reason, "device reset");
        self.admin = admin::AdminState::default();
        self.aenq = aenq::AenqState::default();
        // A frame held for lack of RX buffers dies with the queues: count it, as a drop.
        if self.io.held_frame() {
            self.lifetime.rx_drops += 1;
        }
        self.io = io::IoState::new(&self.cfg);
        self.feat = FeatureState::new(&self.cfg, self.wire.mtu());
        self.active = ActiveFaults {
            keep_alive_stopped: self.active.keep_alive_stopped,
            ..Default::default()
        };
        self.counters = Counters::default();
        self.link_up = self.wire.link_up() && !self.link_forced_down;
        self.dma.flush_cache();
        // Doorbells restart from zero: clear them so stale counts never look like new work.
        self.bar0.write32(off::AQ_DB, 0);
        self.bar0.write32(off::AENQ_HEAD_DB, 0);
        self.bar0.write32(off::INTR_MASK, INTR_MASK_MGMNT);
        let dynamic = DYNAMIC_REGS_BASE as usize..self.bar0.len().min(0x2000);
        self.bar0
            .write_bytes(dynamic.start, &vec![0u8; dynamic.len()]);
        let mut sts = DevSts(0);
        sts.set_ready(true);
        sts.set_reset_in_progress(true);
        self.set_sts(sts);
        self.dirty_stats = true;
        self.view_dirty = true;
    }

    /// Answers a readless register read (spec §2.3). Also re-answers when the response buffer
    /// does not hold the current request's id — a driver that restarts its sequence numbers
    /// after a reset could otherwise repeat the last request value unnoticed.
    fn serve_readless(&mut self) -> bool {
        let req = self.bar0.read32(off::MMIO_REG_READ);
        let resp_addr = self.bar0.read32(off::MMIO_RESP_LO) as u64
            | (self.bar0.read32(off::MMIO_RESP_HI) as u64) << 32;
        if resp_addr == 0 {
            self.last_mmio_req = req;
            return false;
        }
        let r = MmioRegReadReq(req);
        if req == self.last_mmio_req {
            // Cheap staleness check, only on idle ticks to keep the hot loop free of it.
            if self.polls_since_tick != 0 || req == 0 {
                return false;
            }
            match self.dma.load_u16_acquire(resp_addr) {
                Ok(id) if id != r.req_id() => {}
                _ => return false,
            }
        }
        self.last_mmio_req = req;
        let value = self.register_value(r.reg_off());
        self.events.push(
            self.now,
            Event::RegisterRead {
                offset: r.reg_off(),
            },
        );
        let mut body = [0u8; 6];
        body[..2].copy_from_slice(&r.reg_off().to_le_bytes());
        body[2..].copy_from_slice(&value.to_le_bytes());
        let result = self
            .dma
            .write(resp_addr + 2, &body)
            .and_then(|_| self.dma.store_u16_release(resp_addr, r.req_id()));
        if let Err(e) = result {
            self.dma_miss(e);
        }
        true
    }

    fn intr_unmasked(&self) -> bool {
        self.bar0.read32(off::INTR_MASK) & INTR_MASK_MGMNT == 0
    }

    fn raise_management(&mut self) {
        if self.intr_unmasked() {
            self.irq.raise(0);
        }
    }

    fn dma_miss(&mut self, e: DmaError) {
        self.counters.dma_misses += 1;
        self.lifetime.dma_misses += 1;
        self.events.push(
            self.now,
            Event::DmaMiss {
                iova: e.iova,
                len: e.len,
            },
        );
        self.dirty_stats = true;
    }

    fn malformed(&mut self, what: String) {
        tracing::warn!(target: "ena_sim", "malformed request from the driver: {what}");
        self.events.push(self.now, Event::Malformed { what });
    }

    // ----- faults -----

    fn take_faults(&mut self) {
        self.now = self.clock.now();
        for fault in self.faults.take() {
            self.events
                .push(self.now, Event::FaultInjected { name: fault.name() });
            let a = &mut self.active;
            match fault {
                Fault::AdminDelay {
                    opcode,
                    delay,
                    count,
                } => {
                    a.admin_delay = AdminFault {
                        opcode,
                        remaining: count,
                    };
                    a.admin_delay_by = delay;
                }
                Fault::AdminError {
                    opcode,
                    status,
                    count,
                } => {
                    a.admin_error = AdminFault {
                        opcode,
                        remaining: count,
                    };
                    a.admin_error_status = status;
                }
                Fault::AdminTimeout { opcode, count } => {
                    a.admin_timeout = AdminFault {
                        opcode,
                        remaining: count,
                    }
                }
                Fault::StopKeepAlive => a.keep_alive_stopped = true,
                Fault::ResumeKeepAlive => a.keep_alive_stopped = false,
                Fault::FatalError => self.raise_fatal_error(),
                Fault::DropTxCompletions { queue, count } => {
                    a.tx_drop_completion = QueueFault {
                        queue,
                        remaining: count,
                    }
                }
                Fault::DelayTxCompletions { queue, delay } => a.tx_delay = Some((queue, delay)),
                Fault::ResumeTxCompletions => a.tx_delay = None,
                Fault::BadTxReqId { queue, count } => {
                    a.tx_bad_req_id = QueueFault {
                        queue,
                        remaining: count,
                    }
                }
                Fault::StaleTxReqId { queue, count } => {
                    a.tx_stale_req_id = QueueFault {
                        queue,
                        remaining: count,
                    }
                }
                Fault::WrongTxPhase { queue, count } => {
                    a.tx_wrong_phase = QueueFault {
                        queue,
                        remaining: count,
                    }
                }
                Fault::TxCdescMbz { queue, count } => {
                    a.tx_mbz = QueueFault {
                        queue,
                        remaining: count,
                    }
                }
                Fault::BadRxReqId { queue, count } => {
                    a.rx_bad_req_id = QueueFault {
                        queue,
                        remaining: count,
                    }
                }
                Fault::BadRxLength { queue, count } => {
                    a.rx_bad_length = QueueFault {
                        queue,
                        remaining: count,
                    }
                }
                Fault::RxCdescMbz { queue, count } => {
                    a.rx_mbz = QueueFault {
                        queue,
                        remaining: count,
                    }
                }
                Fault::RxMissingLast { queue, count } => {
                    a.rx_missing_last = QueueFault {
                        queue,
                        remaining: count,
                    }
                }
                Fault::LinkDown => {
                    self.link_forced_down = true;
                    self.link_flap_until = None;
                }
                Fault::LinkUp => {
                    self.link_forced_down = false;
                    self.link_flap_until = None;
                }
                Fault::LinkFlap { down_for } => {
                    self.link_forced_down = true;
                    self.link_flap_until = Some(self.now + down_for);
                }
                Fault::DeviceRequestReset => {
                    self.aenq_event(ena_hw::aenq::group::DEVICE_REQUEST_RESET, 0, &[]);
                }
            }
            self.active.rearm();
        }
        self.check_link();
    }

    fn raise_fatal_error(&mut self) {
        let mut sts = self.sts;
        sts.set_fatal_error(true);
        self.set_sts(sts);
        // Posted before the device stops, as a last word; drivers then notice the silence.
        self.aenq_event(ena_hw::aenq::group::FATAL_ERROR, 0, &[]);
        self.aenq_flush();
        self.fatal = true;
    }

    fn check_link(&mut self) -> bool {
        if let Some(until) = self.link_flap_until {
            if self.now >= until {
                self.link_forced_down = false;
                self.link_flap_until = None;
            }
        }
        let up = self.wire.link_up() && !self.link_forced_down;
        if up == self.link_up {
            return false;
        }
        self.link_up = up;
        self.view_dirty = true;
        self.events.push(self.now, Event::Link { up });
        self.post_link_state();
        true
    }

    // ----- stats -----

    /// Publishes the view now (before an admin completion is written, so a driver that saw the
    /// completion also sees its effect in the view).
    pub(super) fn publish_view(&mut self) {
        self.view_dirty = false;
        let v = self.view();
        *self
            .view_handle
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(v);
    }

    fn publish_stats(&mut self) {
        self.stats.publish(
            &self.counters,
            &self.lifetime,
            &self.txq_counters,
            &self.rxq_counters,
        );
        self.dirty_stats = false;
    }
}

/// Whether `v` is a power of two in `min..=max`.
fn pow2_in(v: u32, min: u32, max: u32) -> bool {
    v.is_power_of_two() && v >= min && v <= max
}
