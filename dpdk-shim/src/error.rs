//! Shim errors: the driver's, plus the EAL's own (arguments, lcores, ports).

/// Everything the shim can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The EAL command line is wrong.
    #[error("invalid EAL arguments: {0}")]
    Args(String),
    /// No such port.
    #[error("port {0} does not exist")]
    NoSuchPort(u16),
    /// An lcore cannot do what was asked (unknown, busy, the main lcore).
    #[error("lcore {lcore}: {why}")]
    Lcore {
        /// The lcore id.
        lcore: u32,
        /// What is wrong.
        why: String,
    },
    /// Setting up a device or its environment failed.
    #[error("{0}")]
    Setup(String),
    /// The driver refused or failed.
    #[error(transparent)]
    Driver(#[from] ena::Error),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
