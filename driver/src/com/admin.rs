//! The admin queue (spec §4): one command at a time, completions polled.
//!
//! ```text
//!   AQ  (host, 32 × 64 B)   driver writes slot tail & 31, phase in flags bit 0, rings AQ_DB = tail
//!   ACQ (host, 32 × 64 B)   device writes slot head & 31, flags (phase) last; the driver polls it
//! ```
//!
//! Only a command's own bytes are copied into its slot. The queue is polled (INTR_MASK = 1): a
//! pure poll-mode driver needs no interrupts. A command that gets no completion in time, or a
//! completion that does not match the command, marks the queue "not running"; only a device
//! reset brings it back (the watchdog does that with reason ADMIN_TO).

use super::regs::Backoff;
use crate::error::{Error, Result};
use crate::mem::DmaRegion;
use crate::platform::Platform;
use ena_hw::admin::{opcode, AcqCommonDesc, AcqEntry, AqCommonDesc, AQ_DEPTH, AQ_ENTRY_SIZE};
use ena_hw::regs::{off, QueueCaps};
use std::time::Duration;
use zerocopy::{FromBytes, IntoBytes};

/// Default admin completion timeout (CAPS.admin_cmd_to = 0).
pub const DEFAULT_ADMIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Admin queue statistics (Linux ethtool names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdminStats {
    /// Commands submitted.
    pub submitted_cmd: u64,
    /// Commands completed.
    pub completed_cmd: u64,
    /// Commands that got no completion.
    pub no_completion: u64,
    /// Commands that completed with an error status.
    pub error_status: u64,
}

/// The admin submission and completion queues.
pub struct AdminQueue {
    aq: DmaRegion,
    acq: DmaRegion,
    tail: u16,
    acq_head: u16,
    cmd_id: u16,
    running: bool,
    timeout: Duration,
    stats: AdminStats,
}

impl AdminQueue {
    /// Allocates the rings and programs their registers (spec §3.4 step 7).
    pub fn new(platform: &dyn Platform) -> Result<Self> {
        let size = AQ_DEPTH as usize * AQ_ENTRY_SIZE;
        let aq = platform.alloc_dma(size, 4096)?;
        let acq = platform.alloc_dma(size, 4096)?;
        aq.zero();
        acq.zero();
        let bar0 = platform.bar0();
        bar0.write32(off::AQ_BASE_LO, aq.iova() as u32);
        bar0.write32(off::AQ_BASE_HI, (aq.iova() >> 32) as u32);
        bar0.write32(off::ACQ_BASE_LO, acq.iova() as u32);
        bar0.write32(off::ACQ_BASE_HI, (acq.iova() >> 32) as u32);
        bar0.write32(
            off::AQ_CAPS,
            QueueCaps::new(AQ_DEPTH, AQ_ENTRY_SIZE as u16).0,
        );
        bar0.write32(
            off::ACQ_CAPS,
            QueueCaps::new(AQ_DEPTH, AQ_ENTRY_SIZE as u16).0,
        );
        Ok(Self {
            aq,
            acq,
            tail: 0,
            acq_head: 0,
            cmd_id: 0,
            running: true,
            timeout: DEFAULT_ADMIN_TIMEOUT,
            stats: AdminStats::default(),
        })
    }

    /// Sets the completion timeout (from CAPS.admin_cmd_to or a HW hint).
    pub fn set_timeout(&mut self, t: Duration) {
        self.timeout = t;
    }

    /// Whether the queue still works.
    pub fn running(&self) -> bool {
        self.running
    }

    /// Statistics.
    pub fn stats(&self) -> AdminStats {
        self.stats
    }

    /// Submits a command (its bytes, at most 64, starting with an [`AqCommonDesc`]) and waits for
    /// its completion. Returns the whole completion entry when the status is success.
    pub fn execute(
        &mut self,
        platform: &dyn Platform,
        cmd: &[u8],
        feature: Option<u8>,
    ) -> Result<AcqEntry> {
        if !self.running {
            return Err(Error::AdminNotRunning);
        }
        let Ok((mut common, _)) = AqCommonDesc::read_from_prefix(cmd) else {
            return Err(Error::Config(
                "admin command shorter than its header".into(),
            ));
        };
        let op = common.opcode;
        let id = self.cmd_id;
        self.cmd_id = (self.cmd_id + 1) & 0xfff;
        common.set_cmd_id(id);
        common.set_phase((self.tail / AQ_DEPTH).is_multiple_of(2));
        let slot = (self.tail & (AQ_DEPTH - 1)) as usize * AQ_ENTRY_SIZE;
        let mut bytes = [0u8; AQ_ENTRY_SIZE];
        bytes[..cmd.len()].copy_from_slice(cmd);
        bytes[..4].copy_from_slice(common.as_bytes());
        // Only the command's own size goes into the slot (the rest keeps stale bytes, as the
        // reference drivers do; the device must not read them).
        self.aq.write_bytes(slot, &bytes[..cmd.len()]);
        self.tail = self.tail.wrapping_add(1);
        self.stats.submitted_cmd += 1;
        platform.bar0().write_doorbell(off::AQ_DB, self.tail as u32);

        let start = platform.now();
        let mut backoff = Backoff::default();
        let mut spins = 0u32;
        loop {
            if let Some(entry) = self.poll_completion() {
                if entry.common.cmd_id() != id {
                    // A completion for a command we are not waiting for: the queue is corrupt.
                    self.running = false;
                    return Err(Error::AdminNotRunning);
                }
                self.stats.completed_cmd += 1;
                if entry.common.status != 0 {
                    self.stats.error_status += 1;
                    return Err(Error::AdminStatus {
                        opcode: op,
                        feature,
                        status: entry.common.status,
                    });
                }
                return Ok(entry);
            }
            if platform.now().saturating_sub(start) > self.timeout {
                self.stats.no_completion += 1;
                self.running = false;
                tracing::error!(target: "ena", opcode = op, "admin command got no completion in {:?}", self.timeout);
                return Err(Error::AdminTimeout { opcode: op });
            }
            // Most commands complete within microseconds; spin first, then back off.
            spins += 1;
            if spins < 200 {
                std::hint::spin_loop();
            } else {
                backoff.wait(platform);
            }
        }
    }

    fn poll_completion(&mut self) -> Option<AcqEntry> {
        let slot = (self.acq_head & (AQ_DEPTH - 1)) as usize * AQ_ENTRY_SIZE;
        let phase = (self.acq_head / AQ_DEPTH).is_multiple_of(2);
        let word0 = self.acq.load_u32_acquire(slot);
        let flags = (word0 >> 24) as u8;
        if (flags & 1 == 1) != phase {
            return None;
        }
        let mut entry = AcqEntry::default();
        self.acq.read_bytes(slot, entry.as_mut_bytes());
        self.acq_head = self.acq_head.wrapping_add(1);
        Some(entry)
    }

    /// The header of a completion, for callers that decode responses.
    pub fn header(entry: &AcqEntry) -> AcqCommonDesc {
        entry.common
    }
}

/// Builds the header of a command with `opcode`.
pub fn header(op: u8) -> AqCommonDesc {
    AqCommonDesc {
        opcode: op,
        ..Default::default()
    }
}

/// Names an opcode for logs.
pub fn opcode_name(op: u8) -> &'static str {
    match op {
        opcode::CREATE_SQ => "CREATE_SQ",
        opcode::DESTROY_SQ => "DESTROY_SQ",
        opcode::CREATE_CQ => "CREATE_CQ",
        opcode::DESTROY_CQ => "DESTROY_CQ",
        opcode::GET_FEATURE => "GET_FEATURE",
        opcode::SET_FEATURE => "SET_FEATURE",
        opcode::GET_STATS => "GET_STATS",
        _ => "UNKNOWN",
    }
}
