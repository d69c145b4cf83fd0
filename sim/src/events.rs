//! The device's event log: what happened, in order, for tests and for the `ena-sim` program.
//!
//! Only control-path happenings and rare data-path errors are logged, into a bounded ring
//! (oldest entries dropped), so logging never grows memory or slows the data path.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Something the device did or saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The driver started a reset (DEV_CTL.dev_reset) with this reason code.
    ResetStarted {
        /// Reason code (both nibbles).
        reason: u8,
    },
    /// The reset handshake completed.
    ResetFinished,
    /// A readless register read was answered.
    RegisterRead {
        /// Register offset.
        offset: u16,
    },
    /// An admin command completed (or was dropped by a fault, `status` = None).
    Admin {
        /// Opcode.
        opcode: u8,
        /// Feature id for GET/SET_FEATURE.
        feature: Option<u8>,
        /// Status written, or None if no completion was written.
        status: Option<u8>,
    },
    /// An AENQ event was posted.
    AenqPosted {
        /// Group.
        group: u16,
        /// Syndrome.
        syndrome: u16,
    },
    /// An IO queue was created.
    QueueCreated {
        /// "tx sq", "rx sq" or "cq".
        kind: &'static str,
        /// Device index.
        idx: u16,
        /// Depth.
        depth: u32,
    },
    /// An IO queue was destroyed.
    QueueDestroyed {
        /// "tx sq", "rx sq" or "cq".
        kind: &'static str,
        /// Device index.
        idx: u16,
    },
    /// The driver handed the device an address outside registered memory.
    DmaMiss {
        /// Device address.
        iova: u64,
        /// Access length.
        len: usize,
    },
    /// The driver submitted something malformed.
    Malformed {
        /// What was wrong.
        what: String,
    },
    /// A fault was picked up.
    FaultInjected {
        /// The fault's name.
        name: &'static str,
    },
    /// The link changed.
    Link {
        /// New state.
        up: bool,
    },
}

/// An event with its device time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Device time.
    pub at: Duration,
    /// What happened.
    pub event: Event,
}

const CAPACITY: usize = 8192;

/// A shared, bounded event log.
#[derive(Clone, Default)]
pub struct EventLog {
    inner: Arc<Mutex<VecDeque<Record>>>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventLog")
    }
}

impl EventLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an event.
    pub fn push(&self, at: Duration, event: Event) {
        let mut q = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() == CAPACITY {
            q.pop_front();
        }
        q.push_back(Record { at, event });
    }

    /// A copy of every recorded event.
    pub fn snapshot(&self) -> Vec<Record> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Events matching a predicate.
    pub fn find(&self, mut pred: impl FnMut(&Event) -> bool) -> Vec<Event> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|r| pred(&r.event))
            .map(|r| r.event.clone())
            .collect()
    }

    /// Removes every event.
    pub fn clear(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}
