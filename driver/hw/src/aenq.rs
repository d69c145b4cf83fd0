//! Asynchronous Event Notification Queue (spec §5): device → driver events in a host ring of
//! 64-byte entries, phase-tagged, with a head doorbell for flow control.

use crate::admin::HwHints;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// AENQ entry size in bytes.
pub const AENQ_ENTRY_SIZE: usize = 64;
/// AENQ depth both reference drivers use.
pub const AENQ_DEPTH: u16 = 16;

/// AENQ groups (bit N of the AENQ_CONFIG group bitmaps).
pub mod group {
    /// Link up/down.
    pub const LINK_CHANGE: u16 = 0;
    /// Fatal error.
    pub const FATAL_ERROR: u16 = 1;
    /// Warning.
    pub const WARNING: u16 = 2;
    /// Notification (hints update).
    pub const NOTIFICATION: u16 = 3;
    /// Keep-alive with drop counters, about once a second.
    pub const KEEP_ALIVE: u16 = 4;
    /// Refresh capabilities (triggers a re-init).
    pub const REFRESH_CAPABILITIES: u16 = 5;
    /// Sub-optimal configuration notifications.
    pub const CONF_NOTIFICATIONS: u16 = 6;
    /// The device requests a reset.
    pub const DEVICE_REQUEST_RESET: u16 = 7;
}

/// Notification syndromes (group NOTIFICATION).
pub mod syndrome {
    /// New hardware hints in the payload.
    pub const UPDATE_HINTS: u16 = 2;
}

/// The 16-byte header of every AENQ entry.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct AenqCommonDesc {
    /// Group (see [`group`]).
    pub group: u16,
    /// Syndrome.
    pub syndrome: u16,
    /// Bit 0: phase — written last by the device.
    pub flags: u8,
    /// Reserved.
    pub reserved1: [u8; 3],
    /// Timestamp, low half.
    pub timestamp_low: u32,
    /// Timestamp, high half.
    pub timestamp_high: u32,
}
assert_size!(AenqCommonDesc, 16);
impl AenqCommonDesc {
    flag!(/// Phase bit.
        phase, set_phase = flags[0]);
}

/// A whole 64-byte AENQ entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct AenqEntry {
    /// Common header.
    pub common: AenqCommonDesc,
    /// Group-specific payload (48 bytes).
    pub payload: [u8; 48],
}
assert_size!(AenqEntry, 64);
impl Default for AenqEntry {
    fn default() -> Self {
        Self {
            common: AenqCommonDesc::default(),
            payload: [0; 48],
        }
    }
}

/// LINK_CHANGE payload.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct LinkChangeDesc {
    /// Bit 0: link up.
    pub flags: u32,
}
assert_size!(LinkChangeDesc, 4);
impl LinkChangeDesc {
    flag!(/// Link is up.
        link_status, set_link_status = flags[0]);
}

/// KEEP_ALIVE payload: drop counters cumulative since device reset, 24 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct KeepAliveDesc {
    /// RX drops, low half.
    pub rx_drops_low: u32,
    /// RX drops, high half.
    pub rx_drops_high: u32,
    /// TX drops, low half.
    pub tx_drops_low: u32,
    /// TX drops, high half.
    pub tx_drops_high: u32,
    /// RX overruns, low half.
    pub rx_overruns_low: u32,
    /// RX overruns, high half.
    pub rx_overruns_high: u32,
}
assert_size!(KeepAliveDesc, 24);

/// CONF_NOTIFICATIONS payload.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct ConfNotificationsDesc {
    /// Bit i: sub-optimal configuration notice i+1.
    pub notifications_bitmap: u64,
    /// Reserved.
    pub reserved: u64,
}
assert_size!(ConfNotificationsDesc, 16);

/// NOTIFICATION / UPDATE_HINTS payload.
pub type UpdateHintsDesc = HwHints;
