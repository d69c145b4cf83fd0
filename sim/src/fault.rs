//! Fault injection: make the device misbehave on purpose, the way a real ENA can.
//!
//! A test (or the `ena-sim` program's fault schedule) holds a [`FaultHandle`] and calls
//! [`FaultHandle::inject`]; the device picks the fault up on its next poll (one relaxed atomic
//! load per poll when nothing is pending, so the data path pays nothing). Each fault either acts
//! once (raise fatal error, flap the link, request a reset) or corrupts the next `count` matching
//! operations (admin commands, TX/RX completions).
//!
//! The faults are the ones Amazon's drivers have watchdogs and checks for (spec §6.6, §6.8, §11):
//! a driver that survives all of them recovers from what real hardware does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One fault to inject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Complete the next `count` admin commands (with `opcode`, or any) only after `delay`.
    AdminDelay {
        /// Opcode filter.
        opcode: Option<u8>,
        /// Extra latency.
        delay: Duration,
        /// How many commands.
        count: u32,
    },
    /// Fail the next `count` admin commands (with `opcode`, or any) with `status`.
    AdminError {
        /// Opcode filter.
        opcode: Option<u8>,
        /// Status code returned.
        status: u8,
        /// How many commands.
        count: u32,
    },
    /// Never complete the next `count` admin commands (the driver's admin timeout fires).
    AdminTimeout {
        /// Opcode filter.
        opcode: Option<u8>,
        /// How many commands.
        count: u32,
    },
    /// Stop posting KEEP_ALIVE events.
    StopKeepAlive,
    /// Resume posting KEEP_ALIVE events.
    ResumeKeepAlive,
    /// Raise DEV_STS.fatal_error, post FATAL_ERROR, and stop serving everything but register
    /// reads until the driver resets the device.
    FatalError,
    /// Process the next `count` TX packets but write no completion for them.
    DropTxCompletions {
        /// Device TX SQ index filter.
        queue: Option<u16>,
        /// How many packets.
        count: u32,
    },
    /// Hold every TX completion for `delay` (until `ResumeTxCompletions`).
    DelayTxCompletions {
        /// Device TX SQ index filter.
        queue: Option<u16>,
        /// Extra latency.
        delay: Duration,
    },
    /// Stop delaying TX completions.
    ResumeTxCompletions,
    /// Complete the next `count` TX packets with a req_id outside the ring.
    BadTxReqId {
        /// Device TX SQ index filter.
        queue: Option<u16>,
        /// How many packets.
        count: u32,
    },
    /// Complete the next `count` TX packets with the req_id of a packet already completed
    /// (in range, but not in flight — the case amzn/amzn-drivers issues 354 and 377 describe).
    StaleTxReqId {
        /// Device TX SQ index filter.
        queue: Option<u16>,
        /// How many packets.
        count: u32,
    },
    /// Write the next `count` TX completions with the wrong phase (the driver never sees them).
    WrongTxPhase {
        /// Device TX SQ index filter.
        queue: Option<u16>,
        /// How many packets.
        count: u32,
    },
    /// Set a must-be-zero bit in the next `count` TX completions.
    TxCdescMbz {
        /// Device TX SQ index filter.
        queue: Option<u16>,
        /// How many packets.
        count: u32,
    },
    /// Report the next `count` received packets with a req_id outside the ring.
    BadRxReqId {
        /// Device RX SQ index filter.
        queue: Option<u16>,
        /// How many packets.
        count: u32,
    },
    /// Report the next `count` received packets with a length larger than the posted buffer.
    BadRxLength {
        /// Device RX SQ index filter.
        queue: Option<u16>,
        /// How many packets.
        count: u32,
    },
    /// Set a must-be-zero bit in the next `count` RX completions.
    RxCdescMbz {
        /// Device RX SQ index filter.
        queue: Option<u16>,
        /// How many packets.
        count: u32,
    },
    /// Leave `last` off the final completion of the next `count` received packets, so the
    /// following packet's `first` completion arrives in the middle of a packet (a malformed RX
    /// descriptor sequence, spec §6.8).
    RxMissingLast {
        /// Device RX SQ index filter.
        queue: Option<u16>,
        /// How many packets.
        count: u32,
    },
    /// Take the link down (posted through the AENQ).
    LinkDown,
    /// Bring the link up.
    LinkUp,
    /// Take the link down for `down_for`, then up again.
    LinkFlap {
        /// How long the link stays down.
        down_for: Duration,
    },
    /// Post DEVICE_REQUEST_RESET through the AENQ.
    DeviceRequestReset,
}

impl Fault {
    /// A short name for tables and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::AdminDelay { .. } => "admin_delay",
            Fault::AdminError { .. } => "admin_error",
            Fault::AdminTimeout { .. } => "admin_timeout",
            Fault::StopKeepAlive => "stop_keep_alive",
            Fault::ResumeKeepAlive => "resume_keep_alive",
            Fault::FatalError => "fatal_error",
            Fault::DropTxCompletions { .. } => "drop_tx_completions",
            Fault::DelayTxCompletions { .. } => "delay_tx_completions",
            Fault::ResumeTxCompletions => "resume_tx_completions",
            Fault::BadTxReqId { .. } => "bad_tx_req_id",
            Fault::StaleTxReqId { .. } => "stale_tx_req_id",
            Fault::WrongTxPhase { .. } => "wrong_tx_phase",
            Fault::TxCdescMbz { .. } => "tx_cdesc_mbz",
            Fault::BadRxReqId { .. } => "bad_rx_req_id",
            Fault::BadRxLength { .. } => "bad_rx_length",
            Fault::RxCdescMbz { .. } => "rx_cdesc_mbz",
            Fault::RxMissingLast { .. } => "rx_missing_last",
            Fault::LinkDown => "link_down",
            Fault::LinkUp => "link_up",
            Fault::LinkFlap { .. } => "link_flap",
            Fault::DeviceRequestReset => "device_request_reset",
        }
    }
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Vec<Fault>>,
    flag: AtomicBool,
}

/// The injector side, cheap to clone and usable from any thread.
#[derive(Clone, Default)]
pub struct FaultHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FaultHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FaultHandle")
    }
}

impl FaultHandle {
    /// A new handle with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a fault for the device's next poll.
    pub fn inject(&self, fault: Fault) {
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(fault);
        self.shared.flag.store(true, Ordering::Release);
    }

    /// Whether faults are waiting to be picked up (one relaxed load).
    #[inline]
    pub(crate) fn has_pending(&self) -> bool {
        self.shared.flag.load(Ordering::Relaxed)
    }

    /// Takes the waiting faults.
    pub(crate) fn take(&self) -> Vec<Fault> {
        self.shared.flag.store(false, Ordering::Relaxed);
        std::mem::take(
            &mut *self
                .shared
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }
}

/// A counted fault on a queue: applies to the next `remaining` matching operations.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct QueueFault {
    pub queue: Option<u16>,
    pub remaining: u32,
}

impl QueueFault {
    /// Consumes one use if the fault applies to `queue`.
    #[inline]
    pub fn hit(&mut self, queue: u16) -> bool {
        if self.remaining > 0 && self.queue.is_none_or(|q| q == queue) {
            self.remaining -= 1;
            true
        } else {
            false
        }
    }
}

/// A counted fault on admin commands.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AdminFault {
    pub opcode: Option<u8>,
    pub remaining: u32,
}

impl AdminFault {
    /// Consumes one use if the fault applies to `opcode`.
    pub fn hit(&mut self, opcode: u8) -> bool {
        if self.remaining > 0 && self.opcode.is_none_or(|o| o == opcode) {
            self.remaining -= 1;
            true
        } else {
            false
        }
    }
}

/// The device's own copy of the active faults (no locking after pickup).
#[derive(Clone, Debug, Default)]
pub(crate) struct ActiveFaults {
    pub admin_delay: AdminFault,
    pub admin_delay_by: Duration,
    pub admin_error: AdminFault,
    pub admin_error_status: u8,
    pub admin_timeout: AdminFault,
    pub keep_alive_stopped: bool,
    pub tx_drop_completion: QueueFault,
    pub tx_delay: Option<(Option<u16>, Duration)>,
    pub tx_bad_req_id: QueueFault,
    pub tx_stale_req_id: QueueFault,
    pub tx_wrong_phase: QueueFault,
    pub tx_mbz: QueueFault,
    pub rx_bad_req_id: QueueFault,
    pub rx_bad_length: QueueFault,
    pub rx_mbz: QueueFault,
    pub rx_missing_last: QueueFault,
    /// Any per-packet fault armed: the data path checks only this flag.
    pub io_armed: bool,
}

impl ActiveFaults {
    /// Recomputes `io_armed` after a change.
    pub fn rearm(&mut self) {
        self.io_armed = self.tx_drop_completion.remaining > 0
            || self.tx_delay.is_some()
            || self.tx_bad_req_id.remaining > 0
            || self.tx_stale_req_id.remaining > 0
            || self.tx_wrong_phase.remaining > 0
            || self.tx_mbz.remaining > 0
            || self.rx_bad_req_id.remaining > 0
            || self.rx_bad_length.remaining > 0
            || self.rx_mbz.remaining > 0
            || self.rx_missing_last.remaining > 0;
    }
}
