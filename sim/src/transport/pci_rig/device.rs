//! A device model attached to a [`Rig`]: BAR0/BAR2 from the rig's shared files, DMA through the
//! driver's hugepage files, interrupts into the rig's FIFO. Run it with
//! [`SimRunner::spawn_shared`](crate::transport::inproc::SimRunner::spawn_shared).

use super::{FifoIrq, FifoIrqCounters, HugepageDma, Rig};
use crate::clock::RealClock;
use crate::config::DeviceConfig;
use crate::device::{Device, DeviceParts, DeviceView};
use crate::events::EventLog;
use crate::fault::FaultHandle;
use crate::stats::StatsHandle;
use crate::wire::Wire;
use std::io;
use std::sync::{Arc, Mutex};

/// A device behind a rig, with the handles tests and tools need.
#[derive(Clone)]
pub struct RigDevice {
    device: Arc<Mutex<Device>>,
    /// Fault injector.
    pub faults: FaultHandle,
    /// Published counters.
    pub stats: StatsHandle,
    /// Event log.
    pub events: EventLog,
    view: crate::device::ViewHandle,
    /// Interrupt line counters.
    pub irq: Arc<FifoIrqCounters>,
}

impl RigDevice {
    /// Builds a device on `rig`, reaching the driver's memory through `dma`.
    pub fn new(
        rig: &Rig,
        cfg: DeviceConfig,
        wire: Box<dyn Wire>,
        dma: HugepageDma,
    ) -> io::Result<Self> {
        let bar0 = rig.bar0()?;
        if bar0.len() < cfg.bar0_size {
            return Err(io::Error::other(format!(
                "rig BAR0 is {} bytes; the device needs {}",
                bar0.len(),
                cfg.bar0_size
            )));
        }
        let bar2 = rig.bar2()?;
        if cfg.llq.is_some() && bar2.as_ref().is_none_or(|b| b.len() < cfg.bar2_size()) {
            return Err(io::Error::other(format!(
                "the device offers LLQ but the rig's BAR2 is smaller than {} bytes",
                cfg.bar2_size()
            )));
        }
        let irq = FifoIrq::for_rig(rig)?;
        let counters = irq.counters();
        let device = Device::new(
            cfg,
            DeviceParts {
                bar0,
                bar2,
                dma: Arc::new(dma),
                irq: Box::new(irq),
                clock: Arc::new(RealClock::default()),
                wire,
            },
        );
        Ok(Self {
            faults: device.faults(),
            stats: device.stats(),
            events: device.events(),
            view: device.view_handle(),
            irq: counters,
            device: Arc::new(Mutex::new(device)),
        })
    }

    /// The shared device, for a runner.
    pub fn shared(&self) -> Arc<Mutex<Device>> {
        self.device.clone()
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
}
