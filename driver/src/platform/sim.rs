//! The in-process device model as a platform: the driver maps the model's BAR memory directly,
//! takes DMA memory from the model's allocator, and — when the model runs in manual mode — runs
//! the model whenever the control path waits, so a single-threaded test is deterministic.
#![allow(unsafe_code)]

use super::{Mmio, Platform};
use crate::error::{Error, Result};
use crate::mem::DmaRegion;
use ena_sim::dma::{DmaAlloc, InProcessDma};
use ena_sim::transport::inproc::SimDevice;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Who runs the device model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimDrive {
    /// A `SimRunner` thread polls it; waiting just waits.
    Threaded,
    /// Nobody: the platform steps it whenever the driver waits (and the test steps it between
    /// data-path calls).
    Manual,
}

/// An in-process device model as the driver's platform.
pub struct SimPlatform {
    dev: SimDevice,
    drive: SimDrive,
    bar0: Mmio,
    bar2: Option<Mmio>,
    readless: bool,
    start: Instant,
    name: String,
}

/// Frees a DMA block from the model's allocator when the driver drops it.
struct Block {
    alloc: DmaAlloc,
    dma: Arc<InProcessDma>,
}

impl Drop for Block {
    fn drop(&mut self) {
        self.dma.release(&self.alloc);
    }
}

impl SimPlatform {
    /// Attaches to `dev`. `readless` chooses the register-read mechanism (the PCI config bit a
    /// real device would carry).
    pub fn new(dev: SimDevice, drive: SimDrive, readless: bool, name: &str) -> Self {
        let b0 = dev.bar0.clone();
        // SAFETY: the BAR memory is the model's anonymous mapping, 8-byte aligned, kept alive by
        // the `BarMemory` clone passed as backing; it is only accessed with volatile operations.
        let bar0 = unsafe { Mmio::new(b0.as_ptr(), b0.len(), Arc::new(b0)) };
        let bar2 = dev.bar2.clone().map(|b2| {
            // SAFETY: as for BAR0.
            unsafe { Mmio::new(b2.as_ptr(), b2.len(), Arc::new(b2)) }
        });
        Self {
            dev,
            drive,
            bar0,
            bar2,
            readless,
            start: Instant::now(),
            name: name.to_string(),
        }
    }

    /// The device model.
    pub fn device(&self) -> &SimDevice {
        &self.dev
    }
}

impl Platform for SimPlatform {
    fn bar0(&self) -> &Mmio {
        &self.bar0
    }

    fn bar2(&self) -> Option<&Mmio> {
        self.bar2.as_ref()
    }

    fn alloc_dma(&self, len: usize, align: usize) -> Result<DmaRegion> {
        let alloc = self
            .dev
            .dma
            .alloc(len, align)
            .map_err(|e| Error::io("allocating DMA memory from the device model", e))?;
        let va =
            NonNull::new(alloc.as_ptr()).ok_or_else(|| Error::NoMemory("null DMA block".into()))?;
        let (iova, n) = (alloc.iova(), alloc.len());
        let backing = Arc::new(Block {
            alloc,
            dma: self.dev.dma.clone(),
        });
        // SAFETY: the block is zeroed anonymous memory of `n` bytes owned by `backing`, which the
        // model reaches at `iova` (its allocator registered it so).
        Ok(unsafe { DmaRegion::new(va, iova, n, backing) })
    }

    fn readless(&self) -> bool {
        self.readless
    }

    fn delay(&self, d: Duration) {
        match self.drive {
            SimDrive::Manual => {
                self.dev.advance(d);
                self.dev.run_until_idle();
            }
            SimDrive::Threaded => {
                if d < Duration::from_micros(50) {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(d);
                }
            }
        }
    }

    fn now(&self) -> Duration {
        match &self.dev.clock {
            Some(c) if self.drive == SimDrive::Manual => ena_sim::clock::Clock::now(c),
            _ => self.start.elapsed(),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} (in-process device model, {})",
            self.name,
            if self.drive == SimDrive::Manual {
                "manual"
            } else {
                "threaded"
            }
        )
    }
}
