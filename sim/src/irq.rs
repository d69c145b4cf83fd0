//! Interrupt lines: how the device signals MSI-X vectors to the driver.
//!
//! Vector 0 is the management vector (admin completions and AENQ events); vectors 1.. belong to
//! IO completion queues. A poll-mode driver never needs them, but Amazon's DPDK PMD waits for
//! vector 0 after probe, so every transport offers a line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Maximum number of MSI-X vectors a simulated device exposes (1 management + 128 IO).
pub const MAX_VECTORS: usize = 129;

/// Where the device's interrupts go.
pub trait IrqLine: Send {
    /// Signals `vector`.
    fn raise(&mut self, vector: u32);
}

/// In-process interrupts: a counter per vector that a test or a driver platform can watch.
#[derive(Clone, Default)]
pub struct IrqCounters {
    counts: Arc<Vec<AtomicU64>>,
}

impl IrqCounters {
    /// Counters for [`MAX_VECTORS`] vectors, all zero.
    pub fn new() -> Self {
        Self {
            counts: Arc::new((0..MAX_VECTORS).map(|_| AtomicU64::new(0)).collect()),
        }
    }

    /// How often `vector` has fired.
    pub fn count(&self, vector: u32) -> u64 {
        self.counts
            .get(vector as usize)
            .map_or(0, |c| c.load(Ordering::Acquire))
    }
}

impl IrqLine for IrqCounters {
    fn raise(&mut self, vector: u32) {
        if let Some(c) = self.counts.get(vector as usize) {
            c.fetch_add(1, Ordering::Release);
        }
    }
}

impl std::fmt::Debug for IrqCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IrqCounters(vector0={})", self.count(0))
    }
}
