//! Reserving 2 MiB hugepages and a private hugetlbfs mount for the rig, and giving them back.
//!
//! The rig's DMA memory must be hugepages with known physical addresses (uio forces DPDK into
//! IOVA-as-PA mode, and our own driver uses the same platform layer). A machine usually has none
//! reserved, so tests and launchers raise `vm.nr_hugepages` by what they need and lower it by
//! exactly that afterwards. Several processes may do this at once (parallel test binaries), so
//! every read-modify-write of the count happens under an `flock` on a shared lock file, and each
//! user only ever adds or subtracts its own share — never writes an absolute value it read
//! earlier.
//!
//! Pages still mapped when the count is lowered become "surplus" pages that the kernel frees as
//! soon as they are unmapped, so lowering early is safe.
#![allow(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The knob for the default hugepage size (checked to be 2 MiB).
const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";
const MEMINFO: &str = "/proc/meminfo";
/// Lock serializing hugepage count changes between processes.
const LOCK_FILE: &str = "/run/ena-rs-hugepages.lock";

/// Why hugepages could not be reserved.
#[derive(Debug, thiserror::Error)]
pub enum HugepageError {
    /// The process is not root.
    #[error("hugepages for the PCI rig need root (reserving pages, mounting hugetlbfs, reading physical addresses)")]
    NotRoot,
    /// The kernel or the environment offers no usable hugepages.
    #[error("hugepages unavailable: {0}")]
    Unavailable(String),
    /// The kernel could not find enough free memory for the pages.
    #[error("wanted {wanted} more free 2 MiB hugepages but the kernel could only add {obtained} (HugePages_Free is {free})")]
    NotEnough {
        /// Pages asked for.
        wanted: usize,
        /// Pages the kernel added.
        obtained: usize,
        /// Free hugepages afterwards.
        free: usize,
    },
    /// `mount -t hugetlbfs` failed.
    #[error("mounting hugetlbfs at {dir}: {source}")]
    Mount {
        /// The mount point.
        dir: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The directory passed in is not a hugetlbfs mount.
    #[error("{0} is not a hugetlbfs mount")]
    NotHugetlbfs(PathBuf),
    /// Any other I/O failure.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> HugepageError {
    let what = what.into();
    move |source| HugepageError::Io { what, source }
}

/// Hugepages added to the system for this user, and a hugetlbfs directory to allocate them from.
/// Dropping it gives both back.
#[derive(Debug)]
pub struct HugepageReservation {
    added: usize,
    free_after: usize,
    dir: PathBuf,
    mounted: bool,
    created_dir: bool,
}

impl HugepageReservation {
    /// Why this process cannot reserve hugepages, if it cannot.
    pub fn available() -> Result<(), String> {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            return Err(format!(
                "hugepages for the PCI rig need root (running as euid {euid})"
            ));
        }
        let filesystems = fs::read_to_string("/proc/filesystems")
            .map_err(|e| format!("/proc/filesystems: {e}"))?;
        if !filesystems
            .lines()
            .any(|l| l.split_whitespace().last() == Some("hugetlbfs"))
        {
            return Err("the kernel has no hugetlbfs (CONFIG_HUGETLBFS off)".into());
        }
        match meminfo_value("Hugepagesize:") {
            Ok(2048) => {}
            Ok(kb) => {
                return Err(format!(
                    "the default hugepage size is {kb} kB, the rig needs 2048 kB"
                ))
            }
            Err(e) => return Err(format!("no hugepage size in {MEMINFO}: {e}")),
        }
        let c = std::ffi::CString::new(NR_HUGEPAGES).map_err(|e| e.to_string())?;
        // SAFETY: `c` is a valid C string for the duration of the call.
        if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
            return Err(format!(
                "{NR_HUGEPAGES} is not writable: {}",
                io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    /// Adds `pages` 2 MiB hugepages to the system pool and gives a hugetlbfs directory: a fresh
    /// private mount, or `mount_dir` if given (which must already be hugetlbfs; it is neither
    /// mounted nor unmounted here).
    pub fn ensure(pages: usize, mount_dir: Option<&Path>) -> Result<Self, HugepageError> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(HugepageError::NotRoot);
        }
        Self::available().map_err(HugepageError::Unavailable)?;
        if let Some(dir) = mount_dir {
            if super::hugepage_dma::hugetlbfs_page_size(dir).ok() != Some(super::HUGEPAGE_SIZE) {
                return Err(HugepageError::NotHugetlbfs(dir.to_owned()));
            }
        }

        // From here on, dropping `res` undoes whatever was done so far.
        let mut res = Self {
            added: 0,
            free_after: 0,
            dir: mount_dir.map(Path::to_owned).unwrap_or_default(),
            mounted: false,
            created_dir: false,
        };
        {
            let _lock = CountLock::acquire()?;
            let before = read_nr_hugepages()?;
            let raised = if pages > 0 {
                write_nr_hugepages(before + pages)
            } else {
                Ok(())
            };
            // The kernel sets what it could allocate, which may be less than asked; record it
            // even if the write reported an error, so that drop gives back exactly that.
            res.added = read_nr_hugepages()?.saturating_sub(before);
            raised?;
            res.free_after =
                meminfo_value("HugePages_Free:").map_err(io_err(format!("reading {MEMINFO}")))?;
        }
        if res.free_after < pages {
            return Err(HugepageError::NotEnough {
                wanted: pages,
                obtained: res.added,
                free: res.free_after,
            });
        }

        if mount_dir.is_none() {
            res.dir = fresh_dir()?;
            res.created_dir = true;
            mount_hugetlbfs(&res.dir)?;
            res.mounted = true;
        }
        Ok(res)
    }

    /// The hugetlbfs directory to create page files in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Pages this reservation added to `nr_hugepages` (and will remove again).
    pub fn pages_added(&self) -> usize {
        self.added
    }

    /// `HugePages_Free` right after the pages were added.
    pub fn free_after(&self) -> usize {
        self.free_after
    }

    /// Whether this reservation mounted its directory itself.
    pub fn mounted(&self) -> bool {
        self.mounted
    }
}

impl Drop for HugepageReservation {
    fn drop(&mut self) {
        if self.mounted {
            // Lazy: page files may still be mapped (a device model not dropped yet); the
            // filesystem goes away with the last mapping.
            if let Err(e) = umount_detach(&self.dir) {
                tracing::warn!(target: "ena_sim::pci_rig", "unmounting hugetlbfs at {}: {e}", self.dir.display());
            }
        }
        if self.created_dir {
            if let Err(e) = fs::remove_dir(&self.dir) {
                tracing::warn!(target: "ena_sim::pci_rig", "removing {}: {e}", self.dir.display());
            }
        }
        if self.added > 0 {
            let result = CountLock::acquire().and_then(|_lock| {
                let now = read_nr_hugepages()?;
                write_nr_hugepages(now.saturating_sub(self.added))
            });
            if let Err(e) = result {
                tracing::error!(target: "ena_sim::pci_rig", "could not give back {} hugepages: {e}", self.added);
            }
        }
    }
}

/// An exclusive flock on the shared lock file, held while the page count is changed.
struct CountLock {
    _file: File,
}

impl CountLock {
    fn acquire() -> Result<Self, HugepageError> {
        let path = if Path::new("/run").is_dir() {
            PathBuf::from(LOCK_FILE)
        } else {
            std::env::temp_dir().join("ena-rs-hugepages.lock")
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(format!("opening lock file {}", path.display())))?;
        loop {
            // SAFETY: flock on a file descriptor this function owns.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Self { _file: file });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(HugepageError::Io {
                    what: format!("locking {}", path.display()),
                    source: e,
                });
            }
        }
    }
}

impl From<HugepageError> for io::Error {
    fn from(e: HugepageError) -> Self {
        match e {
            HugepageError::Io { what, source } => {
                io::Error::new(source.kind(), format!("{what}: {source}"))
            }
            other => io::Error::other(other.to_string()),
        }
    }
}

/// Reads the number of persistent 2 MiB hugepages.
pub fn read_nr_hugepages() -> Result<usize, HugepageError> {
    let s = fs::read_to_string(NR_HUGEPAGES).map_err(io_err(format!("reading {NR_HUGEPAGES}")))?;
    s.trim()
        .parse()
        .map_err(|e| HugepageError::Unavailable(format!("{NR_HUGEPAGES} holds {s:?}: {e}")))
}

fn write_nr_hugepages(n: usize) -> Result<(), HugepageError> {
    fs::write(NR_HUGEPAGES, format!("{n}\n"))
        .map_err(io_err(format!("writing {n} to {NR_HUGEPAGES}")))
}

/// A numeric field of /proc/meminfo (the number before any unit).
fn meminfo_value(field: &str) -> io::Result<usize> {
    let text = fs::read_to_string(MEMINFO)?;
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{field} missing")))?;
    line[field.len()..]
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("cannot parse {line:?}")))
}

/// Creates a new, empty directory for a private mount.
fn fresh_dir() -> Result<PathBuf, HugepageError> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    loop {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ena-rs-hugetlbfs-{}-{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(HugepageError::Io {
                    what: format!("creating {}", dir.display()),
                    source: e,
                })
            }
        }
    }
}

fn c_path(p: &Path) -> io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn mount_hugetlbfs(dir: &Path) -> Result<(), HugepageError> {
    let fail = |source| HugepageError::Mount {
        dir: dir.to_owned(),
        source,
    };
    let target = c_path(dir).map_err(fail)?;
    let (source, fstype, data) = (c"nodev", c"hugetlbfs", c"pagesize=2M,mode=0700");
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            data.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    Ok(())
}

fn umount_detach(dir: &Path) -> io::Result<()> {
    let target = c_path(dir)?;
    // SAFETY: `target` is a valid NUL-terminated path that outlives the call.
    if unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `dir` is a mount point of a hugetlbfs in this mount namespace.
pub fn is_hugetlbfs_mount_point(dir: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    info.lines().any(|l| {
        let mut halves = l.splitn(2, " - ");
        let (Some(left), Some(right)) = (halves.next(), halves.next()) else {
            return false;
        };
        left.split_whitespace().nth(4) == Some(&*dir.to_string_lossy())
            && right.starts_with("hugetlbfs ")
    })
}

#[cfg(test)]
mod tests {
    use super::super::host::HostDmaPool;
    use super::super::test_support::{hugepage_test_lock, skip, unique_path};
    use super::*;

    /// Root, hugetlbfs, a writable pool and permission to mount (tried with an empty reservation).
    fn ready() -> bool {
        if let Err(why) = HugepageReservation::available() {
            skip(&why);
            return false;
        }
        match HugepageReservation::ensure(0, None) {
            Ok(_) => true,
            Err(e @ HugepageError::Mount { .. }) => {
                skip(&e.to_string());
                false
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn pci_rig_hugepage_reservation_restores_nr_hugepages_and_unmounts() {
        let _serial = hugepage_test_lock();
        if !ready() {
            return;
        }
        let before = read_nr_hugepages().unwrap();
        let res = match HugepageReservation::ensure(2, None) {
            Err(e @ HugepageError::NotEnough { .. }) => return skip(&e.to_string()),
            r => r.unwrap(),
        };
        assert_eq!(res.pages_added(), 2);
        assert_eq!(read_nr_hugepages().unwrap(), before + 2);
        assert!(res.free_after() >= 2);
        assert!(res.mounted());
        let dir = res.dir().to_owned();
        assert!(
            is_hugetlbfs_mount_point(&dir),
            "{} not mounted",
            dir.display()
        );
        assert_eq!(super::super::hugetlbfs_page_size(&dir).unwrap(), 2 << 20);
        {
            // The pages are usable: two files of one page each.
            let pool = HostDmaPool::new(&dir, "restest", 2).unwrap();
            assert_eq!(pool.pages(), 2);
        }
        drop(res);
        assert_eq!(read_nr_hugepages().unwrap(), before);
        assert!(!is_hugetlbfs_mount_point(&dir));
        assert!(!dir.exists());
    }

    #[test]
    fn pci_rig_hugepage_reservation_is_undone_by_a_panic() {
        let _serial = hugepage_test_lock();
        if !ready() {
            return;
        }
        let before = read_nr_hugepages().unwrap();
        let seen = std::sync::Mutex::new(None);
        let result = std::panic::catch_unwind(|| {
            let res = HugepageReservation::ensure(1, None).unwrap();
            *seen.lock().unwrap() = Some(res.dir().to_owned());
            // A test failing while a page is still mapped.
            let _pool = HostDmaPool::new(res.dir(), "panictest", 1).unwrap();
            panic!("deliberate panic while holding hugepages");
        });
        assert!(result.is_err());
        let dir = seen
            .into_inner()
            .unwrap()
            .expect("the reservation was made");
        assert_eq!(read_nr_hugepages().unwrap(), before);
        assert!(!is_hugetlbfs_mount_point(&dir));
        assert!(!dir.exists());
    }

    #[test]
    fn pci_rig_hugepage_reservation_uses_a_given_mount_and_refuses_others() {
        let _serial = hugepage_test_lock();
        if !ready() {
            return;
        }
        let before = read_nr_hugepages().unwrap();
        let outer = HugepageReservation::ensure(0, None).unwrap();
        assert_eq!(outer.pages_added(), 0);
        assert_eq!(read_nr_hugepages().unwrap(), before);
        {
            let inner = HugepageReservation::ensure(1, Some(outer.dir())).unwrap();
            assert!(!inner.mounted());
            assert_eq!(inner.dir(), outer.dir());
            assert_eq!(read_nr_hugepages().unwrap(), before + inner.pages_added());
        }
        assert_eq!(read_nr_hugepages().unwrap(), before);
        assert!(
            is_hugetlbfs_mount_point(outer.dir()),
            "the borrowed mount stays"
        );

        let plain = unique_path("nothuge");
        fs::create_dir(&plain).unwrap();
        let err = HugepageReservation::ensure(1, Some(&plain)).unwrap_err();
        fs::remove_dir(&plain).unwrap();
        assert!(matches!(err, HugepageError::NotHugetlbfs(_)), "{err}");
        assert_eq!(
            read_nr_hugepages().unwrap(),
            before,
            "a refused reservation adds nothing"
        );
    }
}
