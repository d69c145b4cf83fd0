//! BAR0 register map (spec §2, `ena_regs_defs.h`).
//!
//! All registers are 32 bits wide and accessed with 32-bit MMIO. The fixed registers live at
//! 0x00..0x68; per-queue doorbells and interrupt registers sit at offsets the device returns from
//! CREATE_SQ / CREATE_CQ. Register values are wrapped in small newtypes with typed accessors.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Register offsets in BAR0.
pub mod off {
    /// Device interface version (read).
    pub const VERSION: u32 = 0x00;
    /// Controller version (read).
    pub const CONTROLLER_VERSION: u32 = 0x04;
    /// Capabilities: reset timeout, DMA width, admin timeout (read).
    pub const CAPS: u32 = 0x08;
    /// Extended capabilities (defined, unused by drivers).
    pub const CAPS_EXT: u32 = 0x0c;
    /// Admin submission queue base, bits 31:0.
    pub const AQ_BASE_LO: u32 = 0x10;
    /// Admin submission queue base, bits 63:32.
    pub const AQ_BASE_HI: u32 = 0x14;
    /// Admin submission queue depth and entry size.
    pub const AQ_CAPS: u32 = 0x18;
    /// Admin completion queue base, bits 31:0.
    pub const ACQ_BASE_LO: u32 = 0x20;
    /// Admin completion queue base, bits 63:32.
    pub const ACQ_BASE_HI: u32 = 0x24;
    /// Admin completion queue depth and entry size.
    pub const ACQ_CAPS: u32 = 0x28;
    /// Admin submission queue doorbell: the driver's free-running 16-bit tail.
    pub const AQ_DB: u32 = 0x2c;
    /// Admin completion queue tail (defined, unused).
    pub const ACQ_TAIL: u32 = 0x30;
    /// AENQ depth and entry size.
    pub const AENQ_CAPS: u32 = 0x34;
    /// AENQ base, bits 31:0.
    pub const AENQ_BASE_LO: u32 = 0x38;
    /// AENQ base, bits 63:32.
    pub const AENQ_BASE_HI: u32 = 0x3c;
    /// AENQ head doorbell: the driver's free-running consumer counter (starts at the depth).
    pub const AENQ_HEAD_DB: u32 = 0x40;
    /// AENQ tail (defined, unused).
    pub const AENQ_TAIL: u32 = 0x44;
    /// Management interrupt mask: bit 0 = 1 masks vector 0 (admin polling mode).
    pub const INTR_MASK: u32 = 0x4c;
    /// Device control: reset request and reset reason.
    pub const DEV_CTL: u32 = 0x54;
    /// Device status: ready, reset in progress, fatal error.
    pub const DEV_STS: u32 = 0x58;
    /// Readless register read request: req_id and register offset.
    pub const MMIO_REG_READ: u32 = 0x5c;
    /// Readless response buffer address, bits 31:0.
    pub const MMIO_RESP_LO: u32 = 0x60;
    /// Readless response buffer address, bits 63:32.
    pub const MMIO_RESP_HI: u32 = 0x64;
    /// Single RSS indirection entry update (defined, unused by drivers).
    pub const RSS_IND_ENTRY_UPDATE: u32 = 0x68;
    /// PHC request doorbell (the offset actually used comes from GET PHC_CONFIG).
    pub const PHC_DB: u32 = 0x100;
}

/// `VERSION` (0x00): 7:0 minor, 15:8 major.
#[repr(transparent)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Version(pub u32);
impl Version {
    bits!(/// Minor version.
        minor, set_minor: u8 = 0[7:0]);
    bits!(/// Major version.
        major, set_major: u8 = 0[15:8]);
}

/// `CONTROLLER_VERSION` (0x04): 7:0 subminor, 15:8 minor, 23:16 major, 31:24 implementation id.
/// Drivers require bits 23:0 ≥ 0x000001.
#[repr(transparent)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct ControllerVersion(pub u32);
impl ControllerVersion {
    /// The lowest controller version (bits 23:0) both reference drivers accept.
    pub const MIN_SUPPORTED: u32 = 0x000001;
    bits!(/// Subminor version.
        subminor, set_subminor: u8 = 0[7:0]);
    bits!(/// Minor version.
        minor, set_minor: u8 = 0[15:8]);
    bits!(/// Major version.
        major, set_major: u8 = 0[23:16]);
    bits!(/// Implementation id.
        impl_id, set_impl_id: u8 = 0[31:24]);
    bits!(/// Bits 23:0: the version drivers compare against [`Self::MIN_SUPPORTED`].
        version, set_version: u32 = 0[23:0]);
}

/// `CAPS` (0x08).
#[repr(transparent)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Caps(pub u32);
impl Caps {
    flag!(/// Contiguous queue required (unused by drivers).
        contiguous_queue_required, set_contiguous_queue_required = 0[0]);
    bits!(/// Per-phase reset timeout in units of 100 ms; must be non-zero.
        reset_timeout, set_reset_timeout: u8 = 0[5:1]);
    bits!(/// DMA address width in bits (drivers accept 32..=48).
        dma_addr_width, set_dma_addr_width: u8 = 0[15:8]);
    bits!(/// Admin command timeout in units of 100 ms; 0 means the driver default (3 s).
        admin_cmd_to, set_admin_cmd_to: u8 = 0[19:16]);
}

/// `AQ_CAPS`, `ACQ_CAPS`, `AENQ_CAPS`: 15:0 depth in entries, 31:16 entry size in bytes.
#[repr(transparent)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct QueueCaps(pub u32);
impl QueueCaps {
    bits!(/// Depth in entries.
        depth, set_depth: u16 = 0[15:0]);
    bits!(/// Entry size in bytes.
        entry_size, set_entry_size: u16 = 0[31:16]);

    /// Builds a caps value from depth and entry size.
    pub const fn new(depth: u16, entry_size: u16) -> Self {
        Self(depth as u32 | (entry_size as u32) << 16)
    }
}

/// `INTR_MASK` bit 0: management (vector 0) interrupt masked.
pub const INTR_MASK_MGMNT: u32 = 1;

/// `DEV_CTL` (0x54).
#[repr(transparent)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct DevCtl(pub u32);
impl DevCtl {
    flag!(/// Request a device reset (first phase of the two-phase handshake).
        dev_reset, set_dev_reset = 0[0]);
    flag!(/// Admin queue restart (defined, unused).
        aq_restart, set_aq_restart = 0[1]);
    flag!(/// Quiescent (defined, unused).
        quiescent, set_quiescent = 0[2]);
    flag!(/// IO resume (defined, unused).
        io_resume, set_io_resume = 0[3]);
    bits!(/// High nibble of the reset reason (only with EXTENDED_RESET_REASONS).
        reset_reason_ext, set_reset_reason_ext: u8 = 0[27:24]);
    bits!(/// Low nibble of the reset reason.
        reset_reason, set_reset_reason: u8 = 0[31:28]);

    /// The full reset reason carried by both nibbles.
    pub fn reason(&self) -> u8 {
        self.reset_reason() | (self.reset_reason_ext() << 4)
    }
}

/// `DEV_STS` (0x58).
#[repr(transparent)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct DevSts(pub u32);
impl DevSts {
    flag!(/// The device is ready (must be 1 at power-on and after reset).
        ready, set_ready = 0[0]);
    flag!(/// Admin queue restart in progress (unused).
        aq_restart_in_progress, set_aq_restart_in_progress = 0[1]);
    flag!(/// Admin queue restart finished (unused).
        aq_restart_finished, set_aq_restart_finished = 0[2]);
    flag!(/// Reset in progress: the handshake bit drivers poll.
        reset_in_progress, set_reset_in_progress = 0[3]);
    flag!(/// Reset finished (drivers ignore it).
        reset_finished, set_reset_finished = 0[4]);
    flag!(/// Fatal error.
        fatal_error, set_fatal_error = 0[5]);
    flag!(/// Quiescent state in progress (unused).
        quiescent_state_in_progress, set_quiescent_state_in_progress = 0[6]);
    flag!(/// Quiescent state achieved (unused).
        quiescent_state_achieved, set_quiescent_state_achieved = 0[7]);
}

/// `MMIO_REG_READ` (0x5c): a readless read request.
#[repr(transparent)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct MmioRegReadReq(pub u32);
impl MmioRegReadReq {
    bits!(/// Request id echoed in the response.
        req_id, set_req_id: u16 = 0[15:0]);
    bits!(/// Offset of the register to read.
        reg_off, set_reg_off: u16 = 0[31:16]);

    /// Builds a request.
    pub const fn new(reg_off: u16, req_id: u16) -> Self {
        Self((reg_off as u32) << 16 | req_id as u32)
    }
}

/// The 8-byte readless read response the device writes into host memory; `req_id` is written last.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct MmioReadResp {
    /// Echo of the request id.
    pub req_id: u16,
    /// Echo of the register offset.
    pub reg_off: u16,
    /// The register value.
    pub reg_val: u32,
}
assert_size!(MmioReadResp, 8);

/// Value a driver pre-writes into the response's req_id (`seq + 0xDEAD`) so a stale answer never
/// matches.
pub const MMIO_READ_POISON: u16 = 0xdead;

/// `RSS_IND_ENTRY_UPDATE` (0x68), defined but unused by drivers.
#[repr(transparent)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct RssIndEntryUpdate(pub u32);
impl RssIndEntryUpdate {
    bits!(/// Table index.
        index, set_index: u16 = 0[15:0]);
    bits!(/// Queue index.
        cq_idx, set_cq_idx: u16 = 0[31:16]);
}

/// Reset reasons (spec §3.1), written to `DEV_CTL` with the reset request.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum ResetReason {
    Normal = 0,
    KeepAliveTimeout = 1,
    AdminTimeout = 2,
    MissingTxCompletion = 3,
    InvalidRxReqId = 4,
    InvalidTxReqId = 5,
    TooManyRxDescs = 6,
    InitError = 7,
    DriverInvalidState = 8,
    OsTrigger = 9,
    OsNetdevWatchdog = 10,
    Shutdown = 11,
    UserTrigger = 12,
    Generic = 13,
    MissingInterrupt = 14,
    SuspectedPollStarvation = 15,
    RxDescriptorMalformed = 16,
    TxDescriptorMalformed = 17,
    MissingAdminInterrupt = 18,
    DeviceRequest = 19,
    MissingFirstInterrupt = 20,
}

impl ResetReason {
    /// Every defined reason, in numeric order.
    pub const ALL: [ResetReason; 21] = [
        Self::Normal,
        Self::KeepAliveTimeout,
        Self::AdminTimeout,
        Self::MissingTxCompletion,
        Self::InvalidRxReqId,
        Self::InvalidTxReqId,
        Self::TooManyRxDescs,
        Self::InitError,
        Self::DriverInvalidState,
        Self::OsTrigger,
        Self::OsNetdevWatchdog,
        Self::Shutdown,
        Self::UserTrigger,
        Self::Generic,
        Self::MissingInterrupt,
        Self::SuspectedPollStarvation,
        Self::RxDescriptorMalformed,
        Self::TxDescriptorMalformed,
        Self::MissingAdminInterrupt,
        Self::DeviceRequest,
        Self::MissingFirstInterrupt,
    ];

    /// The reason for a numeric code, if defined.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(code as usize).copied()
    }

    /// The name the ENA headers give the reason (without the `ENA_REGS_RESET_` prefix).
    pub fn name(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::KeepAliveTimeout => "KEEP_ALIVE_TO",
            Self::AdminTimeout => "ADMIN_TO",
            Self::MissingTxCompletion => "MISS_TX_CMPL",
            Self::InvalidRxReqId => "INV_RX_REQ_ID",
            Self::InvalidTxReqId => "INV_TX_REQ_ID",
            Self::TooManyRxDescs => "TOO_MANY_RX_DESCS",
            Self::InitError => "INIT_ERR",
            Self::DriverInvalidState => "DRIVER_INVALID_STATE",
            Self::OsTrigger => "OS_TRIGGER",
            Self::OsNetdevWatchdog => "OS_NETDEV_WD",
            Self::Shutdown => "SHUTDOWN",
            Self::UserTrigger => "USER_TRIGGER",
            Self::Generic => "GENERIC",
            Self::MissingInterrupt => "MISS_INTERRUPT",
            Self::SuspectedPollStarvation => "SUSPECTED_POLL_STARVATION",
            Self::RxDescriptorMalformed => "RX_DESCRIPTOR_MALFORMED",
            Self::TxDescriptorMalformed => "TX_DESCRIPTOR_MALFORMED",
            Self::MissingAdminInterrupt => "MISSING_ADMIN_INTERRUPT",
            Self::DeviceRequest => "DEVICE_REQUEST",
            Self::MissingFirstInterrupt => "MISS_FIRST_INTERRUPT",
        }
    }
}

impl core::fmt::Display for ResetReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.name(), *self as u8)
    }
}
