//! Driver errors: typed, with context, one clear line each.

use ena_hw::regs::ResetReason;

/// Everything the driver can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A register read through the readless mechanism got no answer.
    #[error("register {offset:#x} read timed out (the device did not answer)")]
    RegisterReadTimeout {
        /// Register offset.
        offset: u16,
    },
    /// The device is not an ENA device, or not one this driver supports.
    #[error("unsupported device: {0}")]
    Unsupported(String),
    /// The device did not complete its reset handshake.
    #[error("device reset timed out ({0})")]
    ResetTimeout(&'static str),
    /// An admin command completed with an error status.
    #[error("admin command {opcode} (feature {feature:?}) failed with status {status} ({})", status_name(*status))]
    AdminStatus {
        /// Opcode.
        opcode: u8,
        /// Feature id for GET/SET_FEATURE.
        feature: Option<u8>,
        /// Completion status.
        status: u8,
    },
    /// An admin command got no completion in time; the admin queue is no longer usable.
    #[error("admin command {opcode} timed out")]
    AdminTimeout {
        /// Opcode.
        opcode: u8,
    },
    /// The admin queue is not running (after a timeout or a malformed completion); only a
    /// device reset brings it back.
    #[error("admin queue is not running")]
    AdminNotRunning,
    /// A feature the driver asked for is not offered by the device.
    #[error("feature {0} is not supported by the device")]
    FeatureUnsupported(u8),
    /// Out of DMA memory or packet buffers.
    #[error("out of memory: {0}")]
    NoMemory(String),
    /// A bad argument from the user.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The port is in the wrong state for the call.
    #[error("port is {0}")]
    State(&'static str),
    /// The device misbehaved; the port must be reset with this reason.
    #[error("device error, reset needed: {0}")]
    ResetNeeded(ResetReason),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] with context.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// Whether this is "feature/command not supported" (tolerated by optional paths).
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            Error::FeatureUnsupported(_)
                | Error::AdminStatus {
                    status: ena_hw::admin::status::UNSUPPORTED_OPCODE,
                    ..
                }
        )
    }
}

fn status_name(status: u8) -> &'static str {
    use ena_hw::admin::status::*;
    match status {
        SUCCESS => "success",
        RESOURCE_ALLOCATION_FAILURE => "resource allocation failure",
        BAD_OPCODE => "bad opcode",
        UNSUPPORTED_OPCODE => "unsupported",
        MALFORMED_REQUEST => "malformed request",
        ILLEGAL_PARAMETER => "illegal parameter",
        UNKNOWN_ERROR => "unknown error",
        RESOURCE_BUSY => "resource busy",
        _ => "undefined status",
    }
}
