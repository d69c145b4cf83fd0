//! Low-latency queues (spec §7): TX rings in device memory (BAR2), written by the CPU in whole
//! entries that carry descriptors and the first bytes of the packet.
//!
//! Entry layout used by both reference drivers (inline header, several descriptors per entry):
//!
//! ```text
//!  first entry of a packet                continuation entries
//!  +------------+------------+--------+   +------------+------------+-----+
//!  | desc 0     | desc 1     | header |   | desc k     | desc k+1   | ... |
//!  | (meta or   | (data_0 or | bytes  |   | (data_i)   |            |     |
//!  |  data_0)   |  data_1)   |        |   |            |            |     |
//!  +------------+------------+--------+   +------------+------------+-----+
//!  0            16           32 (= descs_before_header × 16)
//! ```
//!
//! A packet always starts in a fresh entry; the SQ tail and doorbell count entries.

/// Header location: inline in the entry.
pub const HEADER_LOCATION_INLINE: u16 = 1 << 0;
/// Header location: separate header ring (not used by drivers).
pub const HEADER_LOCATION_SEPARATE_RING: u16 = 1 << 1;

/// Entry size: 128 bytes.
pub const ENTRY_SIZE_128: u16 = 1 << 0;
/// Entry size: 192 bytes.
pub const ENTRY_SIZE_192: u16 = 1 << 1;
/// Entry size: 256 bytes.
pub const ENTRY_SIZE_256: u16 = 1 << 2;

/// Descriptors before the header: 1 (the enum value equals the count).
pub const DESCS_BEFORE_HEADER_1: u16 = 1;
/// Descriptors before the header: 2.
pub const DESCS_BEFORE_HEADER_2: u16 = 2;
/// Descriptors before the header: 4.
pub const DESCS_BEFORE_HEADER_4: u16 = 4;
/// Descriptors before the header: 8.
pub const DESCS_BEFORE_HEADER_8: u16 = 8;

/// Descriptor stride: one descriptor per entry.
pub const STRIDE_SINGLE_DESC_PER_ENTRY: u16 = 1 << 0;
/// Descriptor stride: several descriptors per entry.
pub const STRIDE_MULTIPLE_DESCS_PER_ENTRY: u16 = 1 << 1;

/// Acceleration flag: the device wants a meta descriptor on every packet.
pub const ACCEL_DISABLE_META_CACHING: u16 = 1 << 0;
/// Acceleration flag: the driver must ring the doorbell within `max_tx_burst_size` bytes.
pub const ACCEL_LIMIT_TX_BURST: u16 = 1 << 1;

/// LLQ feature version drivers ask for.
pub const LLQ_FEATURE_VERSION: u8 = 1;

/// Bytes of an entry size value (one of the `ENTRY_SIZE_*` bits), if it names one size.
pub const fn entry_size_bytes(entry_size_ctrl: u16) -> Option<usize> {
    match entry_size_ctrl {
        ENTRY_SIZE_128 => Some(128),
        ENTRY_SIZE_192 => Some(192),
        ENTRY_SIZE_256 => Some(256),
        _ => None,
    }
}
