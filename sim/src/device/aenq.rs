//! Asynchronous event notification queue (spec §5).
//!
//! Events wait in a small device-side queue until the driver's head doorbell leaves room:
//! with `posted` events written since reset, the device may write event `posted` only while
//! `(head_db − posted) mod 2^16` is in `1..=depth`. The doorbell is 0 after reset, so nothing is
//! posted before the driver enables the queue by writing the depth (16). Link and keep-alive
//! events are coalesced while they wait (only the latest state matters).

use super::Device;
use crate::events::Event;
use ena_hw::aenq::{group, AenqEntry, KeepAliveDesc, LinkChangeDesc, AENQ_ENTRY_SIZE};
use ena_hw::regs::{off, QueueCaps};
use std::collections::VecDeque;
use zerocopy::IntoBytes;

/// Events held by the device while the ring has no room.
const MAX_PENDING: usize = 64;

/// AENQ state (forgotten by a reset).
#[derive(Debug, Default)]
pub(super) struct AenqState {
    configured: bool,
    base: u64,
    depth: u16,
    /// Events written since reset (free-running).
    posted: u16,
    /// Last head doorbell value seen.
    head_db: u16,
    pending: VecDeque<AenqEntry>,
}

impl Device {
    /// Picks up head-doorbell changes and posts what fits.
    pub(super) fn aenq_poll(&mut self) -> bool {
        let db = self.bar0.read32(off::AENQ_HEAD_DB) as u16;
        let moved = db != self.aenq.head_db;
        if moved {
            if !self.aenq.configured {
                let caps = QueueCaps(self.bar0.read32(off::AENQ_CAPS));
                let base = self.bar0.read32(off::AENQ_BASE_LO) as u64
                    | (self.bar0.read32(off::AENQ_BASE_HI) as u64) << 32;
                if !caps.depth().is_power_of_two()
                    || caps.entry_size() as usize != AENQ_ENTRY_SIZE
                    || base == 0
                {
                    self.malformed(format!(
                        "AENQ head doorbell written before the AENQ was configured (caps {:#x})",
                        caps.0
                    ));
                    self.aenq.head_db = db;
                    return true;
                }
                self.aenq.configured = true;
                self.aenq.base = base;
                self.aenq.depth = caps.depth();
            }
            self.aenq.head_db = db;
        }
        let posted = self.aenq_flush();
        moved || posted
    }

    /// Writes as many pending events as the head doorbell allows.
    pub(super) fn aenq_flush(&mut self) -> bool {
        if !self.aenq.configured || self.aenq.pending.is_empty() {
            return false;
        }
        let mut any = false;
        loop {
            let room = self.aenq.head_db.wrapping_sub(self.aenq.posted);
            if room == 0 || room > self.aenq.depth {
                break;
            }
            let Some(mut entry) = self.aenq.pending.pop_front() else {
                break;
            };
            let idx = self.aenq.posted & (self.aenq.depth - 1);
            let phase = (self.aenq.posted / self.aenq.depth).is_multiple_of(2);
            let addr = self.aenq.base + idx as u64 * AENQ_ENTRY_SIZE as u64;
            let ts = self.now.as_nanos() as u64;
            entry.common.timestamp_low = ts as u32;
            entry.common.timestamp_high = (ts >> 32) as u32;
            entry.common.flags = 0;
            let bytes = entry.as_bytes();
            // Everything but the flags byte (offset 4) first; the phase is the commit.
            let r = self
                .dma
                .write(addr, &bytes[..4])
                .and_then(|_| self.dma.write(addr + 5, &bytes[5..]))
                .and_then(|_| self.dma.store_u8_release(addr + 4, phase as u8));
            if let Err(e) = r {
                self.dma_miss(e);
                break;
            }
            self.aenq.posted = self.aenq.posted.wrapping_add(1);
            self.counters.aenq_events += 1;
            self.lifetime.aenq_events += 1;
            self.dirty_stats = true;
            self.events.push(
                self.now,
                Event::AenqPosted {
                    group: entry.common.group,
                    syndrome: entry.common.syndrome,
                },
            );
            any = true;
        }
        if any {
            self.raise_management();
        }
        any
    }

    /// Queues an event for an enabled group (dropped silently if the group is disabled, as on
    /// real hardware). `payload` goes to entry bytes 16.. .
    pub(super) fn aenq_event(&mut self, grp: u16, syndrome: u16, payload: &[u8]) {
        if self.feat.aenq_enabled & (1 << grp) == 0 {
            return;
        }
        // Coalesce: only the newest link state / keep-alive matters.
        if grp == group::LINK_CHANGE || grp == group::KEEP_ALIVE {
            self.aenq.pending.retain(|e| e.common.group != grp);
        }
        if self.aenq.pending.len() >= MAX_PENDING {
            self.aenq.pending.pop_front();
        }
        let mut entry = AenqEntry::default();
        entry.common.group = grp;
        entry.common.syndrome = syndrome;
        let n = payload.len().min(entry.payload.len());
        entry.payload[..n].copy_from_slice(&payload[..n]);
        self.aenq.pending.push_back(entry);
        self.aenq_flush();
    }

    /// Queues a LINK_CHANGE carrying the current link state.
    pub(super) fn post_link_state(&mut self) {
        let mut d = LinkChangeDesc::default();
        d.set_link_status(self.link_up);
        self.aenq_event(group::LINK_CHANGE, 0, d.as_bytes());
    }

    /// Posts KEEP_ALIVE once per interval (with cumulative drop counters).
    pub(super) fn keep_alive_tick(&mut self) -> bool {
        if self.now < self.next_keep_alive {
            return false;
        }
        self.next_keep_alive = self.now + self.cfg.keep_alive_interval;
        if self.active.keep_alive_stopped || self.feat.aenq_enabled & (1 << group::KEEP_ALIVE) == 0
        {
            return false;
        }
        let c = self.counters;
        let d = KeepAliveDesc {
            rx_drops_low: c.rx_drops as u32,
            rx_drops_high: (c.rx_drops >> 32) as u32,
            tx_drops_low: c.tx_drops as u32,
            tx_drops_high: (c.tx_drops >> 32) as u32,
            rx_overruns_low: c.rx_overruns as u32,
            rx_overruns_high: (c.rx_overruns >> 32) as u32,
        };
        self.aenq_event(group::KEEP_ALIVE, 0, d.as_bytes());
        true
    }
}
