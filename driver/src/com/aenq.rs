//! The asynchronous event notification queue (spec §5): the device tells the driver about link
//! changes, keep-alives, errors and reset requests through a 16-entry ring in host memory.
//!
//! The driver's consumer counter starts at the depth (16); writing it to AENQ_HEAD_DB tells the
//! device that all 16 entries are free. After each pass that consumed entries, the new counter is
//! written again. Entries are recognised by their phase bit (1 on the first pass, flipping per lap).

use crate::error::Result;
use crate::mem::DmaRegion;
use crate::platform::{Mmio, Platform};
use ena_hw::admin::HwHints;
use ena_hw::aenq::{
    group, syndrome, AenqEntry, KeepAliveDesc, LinkChangeDesc, AENQ_DEPTH, AENQ_ENTRY_SIZE,
};
use ena_hw::regs::{off, QueueCaps};
use zerocopy::{FromBytes, IntoBytes};

/// An event from the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AenqEvent {
    /// The link went up or down.
    LinkChange {
        /// Link state.
        up: bool,
    },
    /// The device is alive; drop counters are cumulative since its last reset.
    KeepAlive {
        /// Received packets the device dropped.
        rx_drops: u64,
        /// Transmitted packets the device dropped.
        tx_drops: u64,
        /// Received packets dropped for lack of buffers (newer devices).
        rx_overruns: u64,
    },
    /// The device hit a fatal error.
    FatalError,
    /// The device reports a warning.
    Warning,
    /// New hardware hints.
    Hints(HwHints),
    /// Another notification.
    Notification {
        /// Syndrome.
        syndrome: u16,
    },
    /// Sub-optimal configuration notices (bit i = notice i+1).
    ConfNotifications(u64),
    /// The device asks for a reset.
    DeviceRequestReset,
    /// The device's capabilities changed; re-initialise.
    RefreshCapabilities,
    /// An event of a group this driver does not know.
    Unknown {
        /// Group.
        group: u16,
    },
}

/// The AENQ ring.
pub struct Aenq {
    ring: DmaRegion,
    /// Consumer counter (starts at the depth).
    head: u16,
}

impl Aenq {
    /// Allocates the ring and programs its registers (the device may not post yet).
    pub fn new(platform: &dyn Platform) -> Result<Self> {
        let ring = platform.alloc_dma(AENQ_DEPTH as usize * AENQ_ENTRY_SIZE, 4096)?;
        ring.zero();
        let bar0 = platform.bar0();
        bar0.write32(off::AENQ_BASE_LO, ring.iova() as u32);
        bar0.write32(off::AENQ_BASE_HI, (ring.iova() >> 32) as u32);
        bar0.write32(
            off::AENQ_CAPS,
            QueueCaps::new(AENQ_DEPTH, AENQ_ENTRY_SIZE as u16).0,
        );
        Ok(Self {
            ring,
            head: AENQ_DEPTH,
        })
    }

    /// Lets the device post (AENQ_HEAD_DB := 16).
    pub fn enable(&self, bar0: &Mmio) {
        bar0.write_doorbell(off::AENQ_HEAD_DB, self.head as u32);
    }

    /// Whether an unconsumed event is waiting (used to tell a lost keep-alive from a missed
    /// poll, as Linux does).
    pub fn pending(&self) -> bool {
        let consumed = self.head.wrapping_sub(AENQ_DEPTH);
        let slot = (consumed & (AENQ_DEPTH - 1)) as usize * AENQ_ENTRY_SIZE;
        let phase = (consumed / AENQ_DEPTH).is_multiple_of(2);
        let flags = (self.ring.load_u32_acquire(slot + 4) & 0xff) as u8;
        (flags & 1 == 1) == phase
    }

    /// Consumes every waiting event, appending them to `out`; acknowledges them to the device.
    pub fn poll(&mut self, bar0: &Mmio, out: &mut Vec<AenqEvent>) -> usize {
        let mut n = 0;
        loop {
            let consumed = self.head.wrapping_sub(AENQ_DEPTH).wrapping_add(n as u16);
            let slot = (consumed & (AENQ_DEPTH - 1)) as usize * AENQ_ENTRY_SIZE;
            let phase = (consumed / AENQ_DEPTH).is_multiple_of(2);
            let flags = (self.ring.load_u32_acquire(slot + 4) & 0xff) as u8;
            if (flags & 1 == 1) != phase || n >= AENQ_DEPTH as usize {
                break;
            }
            let mut e = AenqEntry::default();
            self.ring.read_bytes(slot, e.as_mut_bytes());
            out.push(decode(&e));
            n += 1;
        }
        if n > 0 {
            self.head = self.head.wrapping_add(n as u16);
            bar0.write_doorbell(off::AENQ_HEAD_DB, self.head as u32);
        }
        n
    }
}

fn decode(e: &AenqEntry) -> AenqEvent {
    let p = &e.payload;
    match e.common.group {
        group::LINK_CHANGE => {
            let d = LinkChangeDesc::read_from_prefix(p)
                .map(|(d, _)| d)
                .unwrap_or_default();
            AenqEvent::LinkChange {
                up: d.link_status(),
            }
        }
        group::KEEP_ALIVE => {
            let d = KeepAliveDesc::read_from_prefix(p)
                .map(|(d, _)| d)
                .unwrap_or_default();
            AenqEvent::KeepAlive {
                rx_drops: d.rx_drops_low as u64 | (d.rx_drops_high as u64) << 32,
                tx_drops: d.tx_drops_low as u64 | (d.tx_drops_high as u64) << 32,
                rx_overruns: d.rx_overruns_low as u64 | (d.rx_overruns_high as u64) << 32,
            }
        }
        group::FATAL_ERROR => AenqEvent::FatalError,
        group::WARNING => AenqEvent::Warning,
        group::NOTIFICATION if e.common.syndrome == syndrome::UPDATE_HINTS => AenqEvent::Hints(
            HwHints::read_from_prefix(p)
                .map(|(h, _)| h)
                .unwrap_or_default(),
        ),
        group::NOTIFICATION => AenqEvent::Notification {
            syndrome: e.common.syndrome,
        },
        group::CONF_NOTIFICATIONS => {
            AenqEvent::ConfNotifications(u64::from_le_bytes(p[..8].try_into().unwrap_or([0; 8])))
        }
        group::DEVICE_REQUEST_RESET => AenqEvent::DeviceRequestReset,
        group::REFRESH_CAPABILITIES => AenqEvent::RefreshCapabilities,
        g => AenqEvent::Unknown { group: g },
    }
}
