//! `enactl`'s errors: each is one line a user can act on, and maps to the exit status.
//!
//! Nothing in the tool panics on what it reads from sysfs, procfs or the command line; every
//! failure ends up here and `main` prints it as `enactl: <message>` with status 1 (2 for bad
//! arguments, as clap uses for its own usage errors).

use std::io;
use std::path::Path;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A bad argument (exit status 2).
    #[error("{0}")]
    Usage(String),
    /// The command changes the system and needs root.
    #[error("`enactl {0}` needs root: run it with sudo")]
    NotRoot(&'static str),
    /// A device, driver or file the command needs is not there.
    #[error("{0}")]
    NotFound(String),
    /// The device is in use (an interface that is up or carries the default route).
    #[error("{0}")]
    InUse(String),
    /// A prerequisite is missing (a kernel module, no-IOMMU mode, hugepages).
    #[error("{0}")]
    Prerequisite(String),
    /// An operating-system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// The driver failed to bring the device up.
    #[error("{0}")]
    Device(String),
}

/// Result with [`CliError`].
pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }

    /// An I/O error on `path`, with what was being done. Permission errors say that root is
    /// needed, since that is nearly always the cause under /sys and /proc.
    pub fn io(doing: &str, path: &Path, source: io::Error) -> Self {
        let what = if source.kind() == io::ErrorKind::PermissionDenied {
            format!("{doing} {} (are you root?)", path.display())
        } else {
            format!("{doing} {}", path.display())
        };
        CliError::Io { what, source }
    }
}
