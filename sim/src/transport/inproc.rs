//! In-process transport: the device lives in the driver's (or test's) process.
//!
//! BARs are anonymous memory the driver maps directly, DMA goes through an [`InProcessDma`]
//! allocator, interrupts are counters. Two ways to run the state machine:
//!
//! - **manual**: the caller runs [`SimDevice::step`] / [`SimDevice::run_until_idle`] itself —
//!   deterministic, single-threaded, on a [`ManualClock`] if asked; what unit tests use. A driver
//!   platform in this mode steps the device whenever it would wait.
//! - **threaded**: [`SimRunner::spawn`] moves one or more devices onto a thread (pinned to a core
//!   with `core_affinity` if asked) that polls them, backing off when idle so a 2-core machine is
//!   not starved.

use crate::bar::BarMemory;
use crate::clock::{Clock, ManualClock, RealClock};
use crate::config::DeviceConfig;
use crate::device::{Device, DeviceParts, DeviceView};
use crate::dma::InProcessDma;
use crate::events::EventLog;
use crate::fault::FaultHandle;
use crate::irq::IrqCounters;
use crate::stats::StatsHandle;
use crate::wire::Wire;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Which clock an in-process device runs on.
#[derive(Clone, Debug, Default)]
pub enum ClockChoice {
    /// Wall-clock time.
    #[default]
    Real,
    /// Time moves only when the test advances it.
    Manual(ManualClock),
}

/// A device in this process, with the handles a driver platform and a test need.
#[derive(Clone)]
pub struct SimDevice {
    device: Arc<Mutex<Device>>,
    /// BAR0 (registers), shared with the driver.
    pub bar0: BarMemory,
    /// BAR2 (LLQ memory), when LLQ is offered.
    pub bar2: Option<BarMemory>,
    /// The DMA allocator the driver must take its rings and buffers from.
    pub dma: Arc<InProcessDma>,
    /// Interrupt counters per vector.
    pub irq: IrqCounters,
    /// Fault injector.
    pub faults: FaultHandle,
    /// Published counters.
    pub stats: StatsHandle,
    /// Event log.
    pub events: EventLog,
    view: crate::device::ViewHandle,
    /// The manual clock, when the device runs on one.
    pub clock: Option<ManualClock>,
}

impl std::fmt::Debug for SimDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDevice")
            .field("bar0", &self.bar0)
            .finish()
    }
}

impl SimDevice {
    /// Builds a device on a wire.
    pub fn new(
        cfg: DeviceConfig,
        wire: Box<dyn Wire>,
        clock: ClockChoice,
    ) -> std::io::Result<Self> {
        Self::with_dma(cfg, wire, clock, InProcessDma::new())
    }

    /// Builds a device that shares a DMA space with others (so one packet-buffer pool serves
    /// several in-process ports, as one hugepage heap serves several real ones).
    pub fn with_dma(
        cfg: DeviceConfig,
        wire: Box<dyn Wire>,
        clock: ClockChoice,
        dma: Arc<InProcessDma>,
    ) -> std::io::Result<Self> {
        let bar0 = BarMemory::anonymous(cfg.bar0_size)?;
        let bar2 = if cfg.llq.is_some() {
            Some(BarMemory::anonymous(cfg.bar2_size())?)
        } else {
            None
        };
        let irq = IrqCounters::new();
        let (clock_dyn, manual): (Arc<dyn Clock>, Option<ManualClock>) = match clock {
            ClockChoice::Real => (Arc::new(RealClock::default()), None),
            ClockChoice::Manual(c) => (Arc::new(c.clone()), Some(c)),
        };
        let mut device = Device::new(
            cfg,
            DeviceParts {
                bar0: bar0.clone(),
                bar2: bar2.clone(),
                dma: dma.clone(),
                irq: Box::new(irq.clone()),
                clock: clock_dyn,
                wire,
            },
        );
        if manual.is_some() {
            device.set_tick_every(1);
        }
        Ok(Self {
            faults: device.faults(),
            stats: device.stats(),
            events: device.events(),
            view: device.view_handle(),
            device: Arc::new(Mutex::new(device)),
            bar0,
            bar2,
            dma,
            irq,
            clock: manual,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Device> {
        self.device.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one device poll (manual mode). Blocks while a [`SimRunner`] owns the device.
    pub fn step(&self) -> bool {
        self.lock().poll()
    }

    /// Polls until idle (manual mode).
    pub fn run_until_idle(&self) -> usize {
        self.lock().run_until_idle()
    }

    /// The device's state as of its last poll (readable while a runner owns the device).
    pub fn view(&self) -> DeviceView {
        // Exact when nobody else holds the device; otherwise the runner's last publication.
        match self.device.try_lock() {
            Ok(d) => d.view(),
            Err(_) => self
                .view
                .get()
                .unwrap_or_else(|| self.device.lock().unwrap_or_else(|e| e.into_inner()).view()),
        }
    }

    /// Runs `f` with the device locked (e.g. to inspect or feed its wire).
    pub fn with_device<R>(&self, f: impl FnOnce(&mut Device) -> R) -> R {
        f(&mut self.lock())
    }

    /// The shared device, for a [`SimRunner`].
    pub fn shared(&self) -> Arc<Mutex<Device>> {
        self.device.clone()
    }

    /// Moves a manual clock forward (no-op on a real clock).
    pub fn advance(&self, by: Duration) {
        if let Some(c) = &self.clock {
            c.advance(by);
        }
    }
}

/// How a runner thread behaves.
#[derive(Clone, Debug)]
pub struct RunnerOptions {
    /// Pin the thread to this core.
    pub core: Option<usize>,
    /// Idle polls before the thread starts yielding.
    pub spin_polls: u32,
    /// Idle polls before the thread starts sleeping.
    pub yield_polls: u32,
    /// Sleep per idle poll after that.
    pub idle_sleep: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            core: None,
            spin_polls: 2_000,
            yield_polls: 20_000,
            idle_sleep: Duration::from_micros(20),
        }
    }
}

/// A thread polling one or more devices.
pub struct SimRunner {
    stop: Arc<AtomicBool>,
    polls: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl SimRunner {
    /// Starts polling `devices` on a new thread until stopped or dropped.
    pub fn spawn(devices: &[SimDevice], opts: RunnerOptions) -> std::io::Result<Self> {
        Self::spawn_shared(devices.iter().map(|d| d.device.clone()).collect(), opts)
    }

    /// Starts polling devices held by any transport (in-process or PCI rig).
    pub fn spawn_shared(
        shared: Vec<Arc<Mutex<Device>>>,
        opts: RunnerOptions,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let polls = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), polls.clone());
        let thread = std::thread::Builder::new()
            .name("ena-sim".into())
            .spawn(move || {
                if let Some(core) = opts.core {
                    core_affinity::set_for_current(core_affinity::CoreId { id: core });
                }
                let mut guards: Vec<MutexGuard<'_, Device>> = shared
                    .iter()
                    .map(|d| d.lock().unwrap_or_else(|e| e.into_inner()))
                    .collect();
                let mut idle = 0u32;
                let mut n = 0u64;
                while !s.load(Ordering::Relaxed) {
                    let mut work = false;
                    for g in guards.iter_mut() {
                        work |= g.poll();
                    }
                    n += 1;
                    if n & 1023 == 0 {
                        p.store(n, Ordering::Relaxed);
                    }
                    if work {
                        idle = 0;
                        continue;
                    }
                    idle = idle.saturating_add(1);
                    if idle < opts.spin_polls {
                        std::hint::spin_loop();
                    } else if idle < opts.yield_polls {
                        std::thread::yield_now();
                    } else {
                        std::thread::sleep(opts.idle_sleep);
                    }
                }
                p.store(n, Ordering::Relaxed);
            })?;
        Ok(Self {
            stop,
            polls,
            thread: Some(thread),
        })
    }

    /// Polls done so far (updated every 1024 polls).
    pub fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// Stops the thread and waits for it; the devices can be stepped manually again.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SimRunner {
    fn drop(&mut self) {
        self.halt();
    }
}
