//! Admin queue: submission and completion entries, commands, features and statistics
//! (spec §4, `ena_admin_defs.h`).
//!
//! Every admin submission slot is 64 bytes, but drivers copy only a command's own size into it;
//! the bytes after that are stale. Commands are therefore declared at their real sizes (a
//! DESTROY_CQ is 8 bytes) and the device must read only those bytes for the opcode it sees.

use crate::MemAddr;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Entry size of the admin submission and completion queues, in bytes.
pub const AQ_ENTRY_SIZE: usize = 64;
/// Admin queue depth both reference drivers use.
pub const AQ_DEPTH: u16 = 32;

/// Admin opcodes (spec §4.5).
pub mod opcode {
    /// Create a submission queue.
    pub const CREATE_SQ: u8 = 1;
    /// Destroy a submission queue.
    pub const DESTROY_SQ: u8 = 2;
    /// Create a completion queue.
    pub const CREATE_CQ: u8 = 3;
    /// Destroy a completion queue.
    pub const DESTROY_CQ: u8 = 4;
    /// Read a feature.
    pub const GET_FEATURE: u8 = 8;
    /// Write a feature.
    pub const SET_FEATURE: u8 = 9;
    /// Read statistics.
    pub const GET_STATS: u8 = 11;
}

/// Admin completion status codes (spec §4.5).
pub mod status {
    /// Success.
    pub const SUCCESS: u8 = 0;
    /// Resource allocation failure (driver: -ENOMEM).
    pub const RESOURCE_ALLOCATION_FAILURE: u8 = 1;
    /// Bad opcode (driver: -EINVAL).
    pub const BAD_OPCODE: u8 = 2;
    /// Unsupported opcode or feature (driver: -EOPNOTSUPP, tolerated by optional paths).
    pub const UNSUPPORTED_OPCODE: u8 = 3;
    /// Malformed request (driver: -EINVAL).
    pub const MALFORMED_REQUEST: u8 = 4;
    /// Illegal parameter (driver: -EINVAL).
    pub const ILLEGAL_PARAMETER: u8 = 5;
    /// Unknown error (driver: -EINVAL).
    pub const UNKNOWN_ERROR: u8 = 6;
    /// Resource busy (driver: -EAGAIN).
    pub const RESOURCE_BUSY: u8 = 7;
}

/// Feature ids (spec §4.6.5).
pub mod feature {
    /// Device attributes: feature bitmap, capabilities, MAC, max MTU.
    pub const DEVICE_ATTRIBUTES: u8 = 1;
    /// Legacy queue limits.
    pub const MAX_QUEUES_NUM: u8 = 2;
    /// Hardware hints (timeouts).
    pub const HW_HINTS: u8 = 3;
    /// Low-latency queue configuration.
    pub const LLQ: u8 = 4;
    /// Extra properties strings (unused).
    pub const EXTRA_PROPERTIES_STRINGS: u8 = 5;
    /// Extra properties flags (unused).
    pub const EXTRA_PROPERTIES_FLAGS: u8 = 6;
    /// Queue limits, extended (version 1).
    pub const MAX_QUEUES_EXT: u8 = 7;
    /// Fragment PPS-limit bypass.
    pub const FRAG_BYPASS: u8 = 8;
    /// RSS hash function and key.
    pub const RSS_HASH_FUNCTION: u8 = 10;
    /// Stateless offload (checksum, TSO) capabilities.
    pub const STATELESS_OFFLOAD_CONFIG: u8 = 11;
    /// RSS indirection table.
    pub const RSS_INDIRECTION_TABLE_CONFIG: u8 = 12;
    /// MTU.
    pub const MTU: u8 = 14;
    /// RSS hash input fields.
    pub const RSS_HASH_INPUT: u8 = 18;
    /// Interrupt moderation resolution.
    pub const INTERRUPT_MODERATION: u8 = 20;
    /// AENQ groups.
    pub const AENQ_CONFIG: u8 = 26;
    /// Link speed (Linux ethtool only).
    pub const LINK_CONFIG: u8 = 27;
    /// Host information page.
    pub const HOST_ATTR_CONFIG: u8 = 28;
    /// PTP hardware clock.
    pub const PHC_CONFIG: u8 = 29;
    /// Flow steering rules (Linux only).
    pub const FLOW_STEERING_CONFIG: u8 = 30;
    /// Hardware timestamps.
    pub const HW_TIMESTAMP: u8 = 31;
}

/// `DEVICE_ATTRIBUTES.capabilities` bits (spec §4.6.5).
pub mod capability {
    /// GET_STATS type ENI is available.
    pub const ENI_STATS: u32 = 1 << 0;
    /// GET_STATS type ENA_SRD is available.
    pub const ENA_SRD_INFO: u32 = 1 << 1;
    /// GET_STATS type CUSTOMER_METRICS is available.
    pub const CUSTOMER_METRICS: u32 = 1 << 2;
    /// Reset reasons ≥ 16 may be sent (high nibble in DEV_CTL 27:24).
    pub const EXTENDED_RESET_REASONS: u32 = 1 << 3;
    /// Completion descriptors have must-be-zero bits the driver may check.
    pub const CDESC_MBZ: u32 = 1 << 4;
}

/// Submission entry flags (byte 3).
pub mod aq_flags {
    /// Phase of the pass in which the entry was written.
    pub const PHASE: u8 = 1 << 0;
    /// Control buffer address valid (never set by drivers).
    pub const CTRL_DATA: u8 = 1 << 1;
    /// Control buffer present ("indirect"); drivers set it for flat buffers.
    pub const CTRL_DATA_INDIRECT: u8 = 1 << 2;
}

/// The 4-byte header of every admin submission entry.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct AqCommonDesc {
    /// 11:0 command id, 15:12 reserved.
    pub command_id: u16,
    /// Opcode (see [`opcode`]).
    pub opcode: u8,
    /// Flags (see [`aq_flags`]).
    pub flags: u8,
}
assert_size!(AqCommonDesc, 4);
impl AqCommonDesc {
    bits!(/// Command id echoed in the completion.
        cmd_id, set_cmd_id: u16 = command_id[11:0]);
    flag!(/// Phase bit.
        phase, set_phase = flags[0]);
    flag!(/// Control-data flag (bit 1).
        ctrl_data, set_ctrl_data = flags[1]);
    flag!(/// Control-data-indirect flag (bit 2): what drivers set for a flat control buffer.
        ctrl_data_indirect, set_ctrl_data_indirect = flags[2]);
}

/// A control buffer descriptor: a flat host buffer the device reads (SET) or writes (GET).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct CtrlBuffInfo {
    /// Buffer length in bytes.
    pub length: u32,
    /// Buffer address.
    pub address: MemAddr,
}
assert_size!(CtrlBuffInfo, 12);

/// A whole 64-byte admin submission slot, as the device reads it before it knows the opcode.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct AqEntry {
    /// Common header.
    pub common: AqCommonDesc,
    /// The rest of the slot, interpreted per opcode.
    pub body: [u8; 60],
}
assert_size!(AqEntry, 64);
impl Default for AqEntry {
    fn default() -> Self {
        Self {
            common: AqCommonDesc::default(),
            body: [0; 60],
        }
    }
}

/// The 8-byte header of every admin completion entry.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct AcqCommonDesc {
    /// 11:0 command id echo.
    pub command: u16,
    /// Completion status (see [`status`]).
    pub status: u8,
    /// Bit 0: phase (written last by the device).
    pub flags: u8,
    /// Extended status (ignored by drivers).
    pub extended_status: u16,
    /// Admin SQ head after this command (ignored by drivers).
    pub sq_head_indx: u16,
}
assert_size!(AcqCommonDesc, 8);
impl AcqCommonDesc {
    bits!(/// Command id echo.
        cmd_id, set_cmd_id: u16 = command[11:0]);
    flag!(/// Phase bit.
        phase, set_phase = flags[0]);
}

/// A whole 64-byte admin completion entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct AcqEntry {
    /// Common header.
    pub common: AcqCommonDesc,
    /// Response payload (56 bytes), interpreted per command.
    pub payload: [u8; 56],
}
assert_size!(AcqEntry, 64);
impl Default for AcqEntry {
    fn default() -> Self {
        Self {
            common: AcqCommonDesc::default(),
            payload: [0; 56],
        }
    }
}

/// Queue direction in `sq_identity` 7:5.
pub mod direction {
    /// Transmit.
    pub const TX: u8 = 1;
    /// Receive.
    pub const RX: u8 = 2;
}

/// SQ placement policy in `sq_caps_2` 3:0.
pub mod placement {
    /// Descriptors in host memory.
    pub const HOST: u8 = 1;
    /// Descriptors in device memory (LLQ, BAR2).
    pub const DEVICE: u8 = 3;
}

/// CREATE_SQ (opcode 1), 36 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct CreateSqCmd {
    /// Common header.
    pub common: AqCommonDesc,
    /// 7:5 direction.
    pub sq_identity: u8,
    /// Reserved.
    pub reserved8_w1: u8,
    /// 3:0 placement policy, 6:4 completion policy.
    pub sq_caps_2: u8,
    /// Bit 0: physically contiguous.
    pub sq_caps_3: u8,
    /// Device CQ index this SQ completes into.
    pub cq_idx: u16,
    /// Depth in entries (power of two).
    pub sq_depth: u16,
    /// Ring base in host memory (0 for LLQ).
    pub sq_ba: MemAddr,
    /// Head write-back address (unused: 0).
    pub sq_head_writeback: MemAddr,
    /// Reserved.
    pub reserved0_w7: u32,
    /// Reserved.
    pub reserved0_w8: u32,
}
assert_size!(CreateSqCmd, 36);
impl CreateSqCmd {
    bits!(/// Direction (see [`direction`]).
        direction, set_direction: u8 = sq_identity[7:5]);
    bits!(/// Placement policy (see [`placement`]).
        placement_policy, set_placement_policy: u8 = sq_caps_2[3:0]);
    bits!(/// Completion policy (drivers send 0).
        completion_policy, set_completion_policy: u8 = sq_caps_2[6:4]);
    flag!(/// Physically contiguous ring.
        is_physically_contiguous, set_is_physically_contiguous = sq_caps_3[0]);
}

/// CREATE_SQ response, 24 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct CreateSqResp {
    /// Common header.
    pub common: AcqCommonDesc,
    /// Device SQ index (per direction).
    pub sq_idx: u16,
    /// Reserved.
    pub reserved: u16,
    /// BAR0 offset of the SQ doorbell.
    pub sq_doorbell_offset: u32,
    /// BAR2 offset of the LLQ ring (LLQ only).
    pub llq_descriptors_offset: u32,
    /// BAR2 offset of a separate header ring (unused variant).
    pub llq_headers_offset: u32,
}
assert_size!(CreateSqResp, 24);

/// DESTROY_SQ (opcode 2), 8 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct DestroySqCmd {
    /// Common header.
    pub common: AqCommonDesc,
    /// Device SQ index.
    pub sq_idx: u16,
    /// 7:5 direction.
    pub sq_identity: u8,
    /// Reserved.
    pub reserved: u8,
}
assert_size!(DestroySqCmd, 8);
impl DestroySqCmd {
    bits!(/// Direction (see [`direction`]).
        direction, set_direction: u8 = sq_identity[7:5]);
}

/// CREATE_CQ (opcode 3), 20 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct CreateCqCmd {
    /// Common header.
    pub common: AqCommonDesc,
    /// Bit 5: interrupt mode enabled (drivers always set it).
    pub cq_caps_1: u8,
    /// 4:0 completion entry size in 32-bit words.
    pub cq_caps_2: u8,
    /// Depth in entries (power of two).
    pub cq_depth: u16,
    /// MSI-X vector, or [`MSIX_VECTOR_NONE`].
    pub msix_vector: u32,
    /// Ring base.
    pub cq_ba: MemAddr,
}
assert_size!(CreateCqCmd, 20);
impl CreateCqCmd {
    flag!(/// Interrupt mode enabled.
        interrupt_mode_enabled, set_interrupt_mode_enabled = cq_caps_1[5]);
    bits!(/// Completion entry size in 32-bit words (2, 4 or 8).
        entry_size_words, set_entry_size_words: u8 = cq_caps_2[4:0]);
}

/// `msix_vector` value meaning "no interrupt".
pub const MSIX_VECTOR_NONE: u32 = 0xffff_ffff;

/// CREATE_CQ response, 24 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct CreateCqResp {
    /// Common header.
    pub common: AcqCommonDesc,
    /// Device CQ index.
    pub cq_idx: u16,
    /// Actual depth (ignored by Linux and DPDK).
    pub cq_actual_depth: u16,
    /// BAR0 offset of the NUMA register, 0 if none.
    pub numa_node_register_offset: u32,
    /// BAR0 offset of the CQ head doorbell (0: none; current drivers ignore it).
    pub cq_head_db_register_offset: u32,
    /// BAR0 offset of the interrupt unmask register.
    pub cq_interrupt_unmask_register_offset: u32,
}
assert_size!(CreateCqResp, 24);

/// DESTROY_CQ (opcode 4), 8 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct DestroyCqCmd {
    /// Common header.
    pub common: AqCommonDesc,
    /// Device CQ index.
    pub cq_idx: u16,
    /// Reserved.
    pub reserved: u16,
}
assert_size!(DestroyCqCmd, 8);

/// The feature selector shared by GET_FEATURE and SET_FEATURE (bytes 16..20).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct FeatureCommon {
    /// 1:0 select (drivers send 0).
    pub flags: u8,
    /// Feature id (see [`feature`]).
    pub feature_id: u8,
    /// Highest version the driver understands.
    pub feature_version: u8,
    /// Reserved.
    pub reserved: u8,
}
assert_size!(FeatureCommon, 4);

/// GET_FEATURE (opcode 8) and SET_FEATURE (opcode 9), 64 bytes. `payload` carries the SET value
/// (see the `*Feature` types); GET leaves it zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct FeatureCmd {
    /// Common header.
    pub common: AqCommonDesc,
    /// Control buffer, for features that need one.
    pub control_buffer: CtrlBuffInfo,
    /// Feature selector.
    pub feat_common: FeatureCommon,
    /// SET payload (44 bytes).
    pub payload: [u8; 44],
}
assert_size!(FeatureCmd, 64);
impl Default for FeatureCmd {
    fn default() -> Self {
        Self {
            common: AqCommonDesc::default(),
            control_buffer: CtrlBuffInfo::default(),
            feat_common: FeatureCommon::default(),
            payload: [0; 44],
        }
    }
}

/// GET_FEATURE response, 64 bytes: the feature value from byte 8.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct FeatureResp {
    /// Common header.
    pub common: AcqCommonDesc,
    /// Feature value (56 bytes).
    pub payload: [u8; 56],
}
assert_size!(FeatureResp, 64);
impl Default for FeatureResp {
    fn default() -> Self {
        Self {
            common: AcqCommonDesc::default(),
            payload: [0; 56],
        }
    }
}

/// DEVICE_ATTRIBUTES (feature 1) GET value, 36 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct DeviceAttrFeature {
    /// Implementation id.
    pub impl_id: u32,
    /// Device version.
    pub device_version: u32,
    /// Bit N set: feature id N supported.
    pub supported_features: u32,
    /// Capability bits (see [`capability`]).
    pub capabilities: u32,
    /// Physical address width (drivers use CAPS instead).
    pub phys_addr_width: u32,
    /// Virtual address width.
    pub virt_addr_width: u32,
    /// MAC address, network order.
    pub mac_addr: [u8; 6],
    /// Flow steering table size.
    pub flow_steering_max_entries: u16,
    /// Maximum L3 MTU.
    pub max_mtu: u32,
}
assert_size!(DeviceAttrFeature, 36);

/// MAX_QUEUES_EXT (feature 7, version 1) GET value, 44 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct MaxQueuesExtFeature {
    /// Must be 1.
    pub version: u8,
    /// Reserved.
    pub reserved: [u8; 3],
    /// Maximum TX SQs.
    pub max_tx_sq_num: u32,
    /// Maximum TX CQs.
    pub max_tx_cq_num: u32,
    /// Maximum RX SQs.
    pub max_rx_sq_num: u32,
    /// Maximum RX CQs.
    pub max_rx_cq_num: u32,
    /// Maximum TX SQ depth.
    pub max_tx_sq_depth: u32,
    /// Maximum TX CQ depth.
    pub max_tx_cq_depth: u32,
    /// Maximum RX SQ depth.
    pub max_rx_sq_depth: u32,
    /// Maximum RX CQ depth.
    pub max_rx_cq_depth: u32,
    /// Maximum TX header size (host mode).
    pub max_tx_header_size: u32,
    /// Maximum TX descriptors per packet, meta descriptor included.
    pub max_per_packet_tx_descs: u16,
    /// Maximum RX descriptors per packet.
    pub max_per_packet_rx_descs: u16,
}
assert_size!(MaxQueuesExtFeature, 44);

/// Version a MAX_QUEUES_EXT answer must carry.
pub const MAX_QUEUES_EXT_VERSION: u8 = 1;

/// MAX_QUEUES_NUM (feature 2, legacy) GET value, 32 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct MaxQueuesFeature {
    /// Maximum SQs.
    pub max_sq_num: u32,
    /// Maximum SQ depth.
    pub max_sq_depth: u32,
    /// Maximum CQs.
    pub max_cq_num: u32,
    /// Maximum CQ depth.
    pub max_cq_depth: u32,
    /// Legacy LLQ count (no longer used).
    pub max_legacy_llq_num: u32,
    /// Legacy LLQ depth (no longer used).
    pub max_legacy_llq_depth: u32,
    /// Maximum header size.
    pub max_header_size: u32,
    /// Maximum TX descriptors per packet.
    pub max_packet_tx_descs: u16,
    /// Maximum RX descriptors per packet.
    pub max_packet_rx_descs: u16,
}
assert_size!(MaxQueuesFeature, 32);

/// HW_HINTS (feature 3) GET value and AENQ UPDATE_HINTS payload, 32 bytes. 0 = driver default.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct HwHints {
    /// Readless read timeout (ms).
    pub mmio_read_timeout: u16,
    /// Keep-alive watchdog timeout (ms); 0xFFFF disables.
    pub driver_watchdog_timeout: u16,
    /// Per-packet TX completion timeout (ms); 0xFFFF disables.
    pub missing_tx_completion_timeout: u16,
    /// Missed TX completions per queue before a reset.
    pub missed_tx_completion_count_threshold_to_reset: u16,
    /// Admin completion timeout (ms).
    pub admin_completion_tx_timeout: u16,
    /// Netdev TX watchdog (ms).
    pub netdev_wd_timeout: u16,
    /// Maximum TX scatter-gather list size (unused).
    pub max_tx_sgl_size: u16,
    /// Maximum RX scatter-gather list size (unused).
    pub max_rx_sgl_size: u16,
    /// Reserved.
    pub reserved: [u16; 8],
}
assert_size!(HwHints, 32);

/// LLQ (feature 4) GET value (version 1) and SET value, 36 bytes. See [`crate::llq`] for the
/// encodings of the bitmasks.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct LlqFeature {
    /// Number of LLQs (0: no LLQ).
    pub max_llq_num: u32,
    /// Maximum LLQ depth with normal entries.
    pub max_llq_depth: u32,
    /// Header locations supported.
    pub header_location_ctrl_supported: u16,
    /// Header location chosen (SET).
    pub header_location_ctrl_enabled: u16,
    /// Entry sizes supported.
    pub entry_size_ctrl_supported: u16,
    /// Entry size chosen (SET).
    pub entry_size_ctrl_enabled: u16,
    /// Descriptors-before-header counts supported.
    pub desc_num_before_header_supported: u16,
    /// Descriptors-before-header count chosen (SET).
    pub desc_num_before_header_enabled: u16,
    /// Descriptor strides supported.
    pub descriptors_stride_ctrl_supported: u16,
    /// Descriptor stride chosen (SET).
    pub descriptors_stride_ctrl_enabled: u16,
    /// Feature version (GET).
    pub feature_version: u8,
    /// Recommended entry size (GET, version ≥ 1).
    pub entry_size_recommended: u8,
    /// Maximum depth with 256-byte entries (0: not applicable).
    pub max_wide_llq_depth: u16,
    /// Acceleration flags: supported (GET) or enabled (SET).
    pub accel_mode_flags: u16,
    /// Maximum TX burst in bytes between doorbells (GET).
    pub max_tx_burst_size: u16,
    /// Reserved.
    pub reserved: u32,
}
assert_size!(LlqFeature, 36);

/// AENQ_CONFIG (feature 26), 8 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct AenqConfigFeature {
    /// Groups the device supports (GET).
    pub supported_groups: u32,
    /// Groups enabled (SET).
    pub enabled_groups: u32,
}
assert_size!(AenqConfigFeature, 8);

/// STATELESS_OFFLOAD_CONFIG (feature 11) GET value, 12 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct OffloadFeature {
    /// TX capabilities (see [`offload`]).
    pub tx: u32,
    /// RX capabilities (see [`offload`]).
    pub rx_supported: u32,
    /// Unused.
    pub rx_enabled: u32,
}
assert_size!(OffloadFeature, 12);

/// Offload capability bits (spec §8.1).
pub mod offload {
    /// TX: IPv4 header checksum.
    pub const TX_L3_CSUM_IPV4: u32 = 1 << 0;
    /// TX: TCP/UDP over IPv4 checksum, partial (pseudo-header pre-filled by the driver).
    pub const TX_L4_IPV4_CSUM_PART: u32 = 1 << 1;
    /// TX: TCP/UDP over IPv4 checksum, full.
    pub const TX_L4_IPV4_CSUM_FULL: u32 = 1 << 2;
    /// TX: TCP/UDP over IPv6 checksum, partial.
    pub const TX_L4_IPV6_CSUM_PART: u32 = 1 << 3;
    /// TX: TCP/UDP over IPv6 checksum, full.
    pub const TX_L4_IPV6_CSUM_FULL: u32 = 1 << 4;
    /// TX: TSO over IPv4.
    pub const TX_TSO_IPV4: u32 = 1 << 5;
    /// TX: TSO over IPv6.
    pub const TX_TSO_IPV6: u32 = 1 << 6;
    /// TX: TSO with ECN.
    pub const TX_TSO_ECN: u32 = 1 << 7;
    /// RX: IPv4 header checksum.
    pub const RX_L3_CSUM_IPV4: u32 = 1 << 0;
    /// RX: TCP/UDP over IPv4 checksum.
    pub const RX_L4_IPV4_CSUM: u32 = 1 << 1;
    /// RX: TCP/UDP over IPv6 checksum.
    pub const RX_L4_IPV6_CSUM: u32 = 1 << 2;
    /// RX: RSS hash.
    pub const RX_HASH: u32 = 1 << 3;
}

/// MTU (feature 14) SET value: the L3 MTU.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct MtuFeature {
    /// L3 MTU (Ethernet header excluded).
    pub mtu: u32,
}
assert_size!(MtuFeature, 4);

/// HOST_ATTR_CONFIG (feature 28) SET value, 20 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct HostAttrFeature {
    /// Address of the 4 KiB host-info page.
    pub os_info_ba: MemAddr,
    /// Address of the debug area (0 in the first SET).
    pub debug_ba: MemAddr,
    /// Debug area size.
    pub debug_area_size: u32,
}
assert_size!(HostAttrFeature, 20);

/// OS types in the host-info page.
pub mod os_type {
    /// Linux.
    pub const LINUX: u32 = 1;
    /// DPDK.
    pub const DPDK: u32 = 3;
    /// FreeBSD.
    pub const FREEBSD: u32 = 4;
    /// iPXE.
    pub const IPXE: u32 = 5;
}

/// The host-info page the driver hands over with HOST_ATTR_CONFIG (first 196 bytes of a zeroed
/// 4 KiB page).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct HostInfo {
    /// OS type (see [`os_type`]).
    pub os_type: u32,
    /// OS distribution string, NUL-padded.
    pub os_dist_str: [u8; 128],
    /// OS distribution number.
    pub os_dist: u32,
    /// Kernel version string, NUL-padded.
    pub kernel_ver_str: [u8; 32],
    /// Kernel version number.
    pub kernel_ver: u32,
    /// 7:0 major, 15:8 minor, 23:16 sub-minor, 31:24 module type.
    pub driver_version: u32,
    /// Supported network features (Linux netdev bits).
    pub supported_network_features: [u32; 2],
    /// ENA specification version: (major << 8) | minor.
    pub ena_spec_version: u16,
    /// 2:0 function, 7:3 device, 15:8 bus.
    pub bdf: u16,
    /// Number of CPUs.
    pub num_cpus: u16,
    /// Reserved.
    pub reserved: u16,
    /// Driver-supported features (see [`host_info_features`]).
    pub driver_supported_features: u32,
}
assert_size!(HostInfo, 196);
impl Default for HostInfo {
    fn default() -> Self {
        Self {
            os_type: 0,
            os_dist_str: [0; 128],
            os_dist: 0,
            kernel_ver_str: [0; 32],
            kernel_ver: 0,
            driver_version: 0,
            supported_network_features: [0; 2],
            ena_spec_version: 0,
            bdf: 0,
            num_cpus: 0,
            reserved: 0,
            driver_supported_features: 0,
        }
    }
}

/// ENA specification version drivers report: 2.0.
pub const ENA_SPEC_VERSION: u16 = 0x0200;

/// `HostInfo::driver_supported_features` bits.
pub mod host_info_features {
    /// The driver honours the RX completion `offset`.
    pub const RX_OFFSET: u32 = 1 << 1;
    /// Interrupt moderation.
    pub const INTERRUPT_MODERATION: u32 = 1 << 2;
    /// RX buffer mirroring.
    pub const RX_BUF_MIRRORING: u32 = 1 << 3;
    /// The RSS function and key can be configured.
    pub const RSS_CONFIGURABLE_FUNCTION_KEY: u32 = 1 << 4;
    /// RX page reuse.
    pub const RX_PAGE_REUSE: u32 = 1 << 6;
    /// IPv6 TX checksum offload.
    pub const TX_IPV6_CSUM_OFFLOAD: u32 = 1 << 7;
    /// PTP hardware clock.
    pub const PHC: u32 = 1 << 8;
    /// Extended debug area.
    pub const DEBUG_AREA_EXT: u32 = 1 << 9;
}

/// RSS hash functions (bit number = function id).
pub mod hash_func {
    /// Toeplitz.
    pub const TOEPLITZ: u32 = 1;
    /// CRC32.
    pub const CRC32: u32 = 2;
}

/// RSS_HASH_FUNCTION (feature 10) inline value, 12 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct RssHashFunctionFeature {
    /// 7:0 bitmap of supported functions (bit = function id).
    pub supported_func: u32,
    /// One bit: the selected function.
    pub selected_func: u32,
    /// Initial hash value.
    pub init_val: u32,
}
assert_size!(RssHashFunctionFeature, 12);

/// Number of 32-bit parts of the RSS key.
pub const RSS_KEY_PARTS: usize = 10;
/// RSS key length in bytes.
pub const RSS_KEY_LEN: usize = RSS_KEY_PARTS * 4;

/// The RSS key control buffer of RSS_HASH_FUNCTION, 48 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RssHashKey {
    /// Number of key parts (10).
    pub key_parts: u32,
    /// Reserved.
    pub reserved: u32,
    /// The key as stored by the device (the device uses it byte-reversed, spec §9.3).
    pub key: [u8; RSS_KEY_LEN],
}
assert_size!(RssHashKey, 48);
impl Default for RssHashKey {
    fn default() -> Self {
        Self {
            key_parts: 0,
            reserved: 0,
            key: [0; RSS_KEY_LEN],
        }
    }
}

/// RSS_INDIRECTION_TABLE_CONFIG (feature 12) value, 16 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct RssIndTableFeature {
    /// Minimum table size, log2.
    pub min_size: u16,
    /// Maximum table size, log2.
    pub max_size: u16,
    /// Table size, log2.
    pub size: u16,
    /// Bit 0: single-entry update supported.
    pub flags: u8,
    /// Reserved.
    pub reserved: u8,
    /// Index of the inline entry, 0xFFFFFFFF for none.
    pub inline_index: u32,
    /// Inline entry.
    pub inline_entry: RssIndTableEntry,
}
assert_size!(RssIndTableFeature, 16);

/// `inline_index` value meaning "no inline entry".
pub const RSS_INLINE_INDEX_NONE: u32 = 0xffff_ffff;

/// One indirection table entry: the device SQ index of an RX queue.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct RssIndTableEntry {
    /// RX SQ index (named `cq_idx` in the headers).
    pub cq_idx: u16,
    /// Reserved.
    pub reserved: u16,
}
assert_size!(RssIndTableEntry, 4);

/// RSS_HASH_INPUT (feature 18) inline value, 4 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct RssHashInputFeature {
    /// Bit 1: L3 sort, bit 2: L4 sort (supported).
    pub supported_input_sort: u16,
    /// Same bits (enabled).
    pub enabled_input_sort: u16,
}
assert_size!(RssHashInputFeature, 4);

/// Number of flow types in the hash-input control buffer.
pub const RSS_FLOW_TYPES: usize = 16;

/// Hash-input flow types (array index in [`RssHashControl`]).
pub mod flow_type {
    /// TCP over IPv4.
    pub const TCP4: usize = 0;
    /// UDP over IPv4.
    pub const UDP4: usize = 1;
    /// TCP over IPv6.
    pub const TCP6: usize = 2;
    /// UDP over IPv6.
    pub const UDP6: usize = 3;
    /// Other IPv4.
    pub const IP4: usize = 4;
    /// Other IPv6.
    pub const IP6: usize = 5;
    /// IPv4 fragments.
    pub const IP4_FRAG: usize = 6;
    /// Non-IP.
    pub const NOT_IP: usize = 7;
    /// TCP over IPv6 with extension headers.
    pub const TCP6_EX: usize = 8;
    /// IPv6 with extension headers.
    pub const IP6_EX: usize = 9;
}

/// Hash-input field bits.
pub mod hash_field {
    /// L2 destination address.
    pub const L2_DA: u16 = 1 << 0;
    /// L2 source address.
    pub const L2_SA: u16 = 1 << 1;
    /// L3 destination address.
    pub const L3_DA: u16 = 1 << 2;
    /// L3 source address.
    pub const L3_SA: u16 = 1 << 3;
    /// L4 destination port.
    pub const L4_DP: u16 = 1 << 4;
    /// L4 source port.
    pub const L4_SP: u16 = 1 << 5;
}

/// One hash-input slot: the fields of one flow type.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct RssHashFields {
    /// Field bits (see [`hash_field`]).
    pub fields: u16,
    /// Reserved.
    pub reserved: u16,
}
assert_size!(RssHashFields, 4);

/// The hash-input control buffer, 256 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct RssHashControl {
    /// Fields the device can hash per flow type.
    pub supported_fields: [RssHashFields; RSS_FLOW_TYPES],
    /// Fields selected per flow type.
    pub selected_fields: [RssHashFields; RSS_FLOW_TYPES],
    /// Reserved.
    pub reserved2: [RssHashFields; RSS_FLOW_TYPES],
    /// Reserved.
    pub reserved3: [RssHashFields; RSS_FLOW_TYPES],
}
assert_size!(RssHashControl, 256);

/// INTERRUPT_MODERATION (feature 20) GET value.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct IntrModerationFeature {
    /// Microseconds per delay unit (0: the driver uses 1).
    pub intr_delay_resolution: u16,
    /// Reserved.
    pub reserved: u16,
}
assert_size!(IntrModerationFeature, 4);

/// LINK_CONFIG (feature 27) GET value, 12 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct LinkConfigFeature {
    /// Speed in Mbps.
    pub speed: u32,
    /// Supported speeds bitmap.
    pub supported: u32,
    /// Bit 0: autoneg, bit 1: full duplex.
    pub flags: u32,
}
assert_size!(LinkConfigFeature, 12);

/// FRAG_BYPASS (feature 8) SET value.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct FragBypassFeature {
    /// 1: bypass the egress fragment PPS limit.
    pub enable: u8,
    /// Reserved.
    pub reserved: [u8; 3],
}
assert_size!(FragBypassFeature, 4);

/// HW_TIMESTAMP (feature 31) value.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct HwTimestampFeature {
    /// Version.
    pub version: u8,
    /// TX timestamps (0 none, 1 all).
    pub tx: u8,
    /// RX timestamps (0 none, 1 all).
    pub rx: u8,
    /// Reserved.
    pub reserved: u8,
}
assert_size!(HwTimestampFeature, 4);

/// PHC_CONFIG (feature 29) value, 28 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct PhcConfigFeature {
    /// Version.
    pub version: u8,
    /// Reserved.
    pub reserved: [u8; 3],
    /// BAR0 offset of the PHC doorbell.
    pub doorbell_offset: u32,
    /// Expiry timeout (µs).
    pub expire_timeout_usec: u32,
    /// Block timeout (µs).
    pub block_timeout_usec: u32,
    /// Output buffer address (SET).
    pub output_address: MemAddr,
    /// Output buffer length (SET).
    pub output_length: u32,
}
assert_size!(PhcConfigFeature, 28);

/// GET_STATS types.
pub mod stats_type {
    /// Basic packet/byte/drop counters.
    pub const BASIC: u8 = 0;
    /// Extended string buffer (unused).
    pub const EXTENDED: u8 = 1;
    /// ENI allowance counters.
    pub const ENI: u8 = 2;
    /// ENA Express (SRD) counters.
    pub const ENA_SRD: u8 = 3;
    /// Customer metrics.
    pub const CUSTOMER_METRICS: u8 = 4;
}

/// GET_STATS (opcode 11), 32 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct GetStatsCmd {
    /// Common header.
    pub common: AqCommonDesc,
    /// Control buffer (customer metrics only).
    pub control_buffer: CtrlBuffInfo,
    /// Statistics type (see [`stats_type`]).
    pub type_: u8,
    /// Scope: 0 specific queue, 1 eth traffic.
    pub scope: u8,
    /// Reserved.
    pub reserved: u16,
    /// Queue index.
    pub queue_idx: u16,
    /// Device id (0xFFFF = mine).
    pub device_id: u16,
    /// Customer metrics bitmap.
    pub requested_metrics: u64,
}
assert_size!(GetStatsCmd, 32);

/// GET_STATS BASIC value, 56 bytes: seven 64-bit counters as (low, high) pairs.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct BasicStats {
    /// Bytes transmitted, low half.
    pub tx_bytes_low: u32,
    /// Bytes transmitted, high half.
    pub tx_bytes_high: u32,
    /// Packets transmitted, low half.
    pub tx_pkts_low: u32,
    /// Packets transmitted, high half.
    pub tx_pkts_high: u32,
    /// Bytes received, low half.
    pub rx_bytes_low: u32,
    /// Bytes received, high half.
    pub rx_bytes_high: u32,
    /// Packets received, low half.
    pub rx_pkts_low: u32,
    /// Packets received, high half.
    pub rx_pkts_high: u32,
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
assert_size!(BasicStats, 56);

/// Splits a 64-bit counter into the (low, high) halves the device structures use.
pub const fn split_u64(v: u64) -> (u32, u32) {
    (v as u32, (v >> 32) as u32)
}

/// Joins (low, high) halves into a 64-bit counter.
pub const fn join_u64(low: u32, high: u32) -> u64 {
    low as u64 | (high as u64) << 32
}

/// GET_STATS ENI value, 40 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct EniStats {
    /// Packets queued or dropped: inbound bandwidth allowance exceeded.
    pub bw_in_allowance_exceeded: u64,
    /// Outbound bandwidth allowance exceeded.
    pub bw_out_allowance_exceeded: u64,
    /// PPS allowance exceeded.
    pub pps_allowance_exceeded: u64,
    /// Connection tracking allowance exceeded.
    pub conntrack_allowance_exceeded: u64,
    /// Link-local services PPS allowance exceeded.
    pub linklocal_allowance_exceeded: u64,
}
assert_size!(EniStats, 40);

/// GET_STATS ENA_SRD value, 40 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct EnaSrdStats {
    /// Bit 0 SRD enabled, bit 1 SRD-UDP enabled, bit 2 UDP ordering bypass.
    pub flags: u64,
    /// SRD TX packets.
    pub ena_srd_tx_pkts: u64,
    /// SRD-eligible TX packets.
    pub ena_srd_eligible_tx_pkts: u64,
    /// SRD RX packets.
    pub ena_srd_rx_pkts: u64,
    /// SRD resource utilisation (percent).
    pub ena_srd_resource_utilization: u64,
}
assert_size!(EnaSrdStats, 40);

/// Customer metric ids (bit numbers of `requested_metrics`).
pub mod customer_metric {
    /// Inbound bandwidth allowance exceeded.
    pub const BW_IN_ALLOWANCE_EXCEEDED: u32 = 0;
    /// Outbound bandwidth allowance exceeded.
    pub const BW_OUT_ALLOWANCE_EXCEEDED: u32 = 1;
    /// PPS allowance exceeded.
    pub const PPS_ALLOWANCE_EXCEEDED: u32 = 2;
    /// Connection tracking allowance exceeded.
    pub const CONNTRACK_ALLOWANCE_EXCEEDED: u32 = 3;
    /// Link-local allowance exceeded.
    pub const LINKLOCAL_ALLOWANCE_EXCEEDED: u32 = 4;
    /// Connection tracking allowance available.
    pub const CONNTRACK_ALLOWANCE_AVAILABLE: u32 = 5;
}
