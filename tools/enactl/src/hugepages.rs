//! `enactl hugepages`: reserve 2 MiB hugepages and make sure a hugetlbfs is mounted for them.
//!
//! The driver takes all DMA memory (rings, packet buffers) from 2 MiB hugepages, because a
//! hugepage is physically contiguous and stays put, so its physical address can be given to
//! the device. Reserving writes the page count to `<proc>/sys/vm/nr_hugepages` (when 2 MiB is
//! the default hugepage size) or to the per-size / per-node file under
//! `<sysfs>/…/hugepages/hugepages-2048kB/nr_hugepages`, then reads it back: the kernel
//! reserves what it can find, which on a long-running machine with fragmented memory may be
//! fewer pages than asked for.

use crate::error::{CliError, Result};
use crate::sysfs::{self, Roots, HUGEPAGE_KB};
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What `enactl hugepages` was asked to do.
#[derive(Debug, Clone)]
pub struct HugepageRequest {
    /// Pages wanted (0 releases them).
    pub count: u64,
    /// Reserve on this NUMA node only.
    pub node: Option<u32>,
    /// Where hugetlbfs should be mounted (default `<dev>/hugepages`).
    pub mount: Option<PathBuf>,
    /// Do not mount anything.
    pub no_mount: bool,
}

/// The file that holds the 2 MiB page count for `node` (or the whole machine).
pub fn count_file(roots: &Roots, node: Option<u32>) -> Result<PathBuf> {
    let pool = format!("hugepages/hugepages-{HUGEPAGE_KB}kB/nr_hugepages");
    if let Some(n) = node {
        let node_dir = roots.sysfs.join(format!("devices/system/node/node{n}"));
        if !node_dir.is_dir() {
            return Err(CliError::NotFound(format!(
                "NUMA node {n} not found (no {})",
                node_dir.display()
            )));
        }
        let path = node_dir.join(pool);
        if !path.exists() {
            return Err(CliError::NotFound(format!(
                "NUMA node {n} has no 2 MiB hugepage pool (no {})",
                path.display()
            )));
        }
        return Ok(path);
    }
    // /proc/sys/vm/nr_hugepages counts pages of the default size, which is 2 MiB on x86 unless
    // the kernel command line says otherwise.
    let default_kb = fs::read_to_string(roots.proc.join("meminfo"))
        .ok()
        .and_then(|m| meminfo_value(&m, "Hugepagesize"));
    match default_kb {
        Some(kb) if kb != HUGEPAGE_KB => Ok(roots.sysfs.join("kernel/mm").join(pool)),
        _ => Ok(roots.proc.join("sys/vm/nr_hugepages")),
    }
}

/// A `Name:   value kB` field of /proc/meminfo.
pub fn meminfo_value(meminfo: &str, name: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        let (key, rest) = l.split_once(':')?;
        (key.trim() == name)
            .then(|| rest.split_whitespace().next()?.parse().ok())
            .flatten()
    })
}

fn read_count(path: &Path) -> Result<u64> {
    let text = sysfs::read_attr(path)?
        .ok_or_else(|| CliError::NotFound(format!("{} is missing", path.display())))?;
    text.parse().map_err(|_| {
        CliError::Device(format!(
            "{} holds {text:?}, not a page count",
            path.display()
        ))
    })
}

/// Runs `enactl hugepages`.
pub fn run(roots: &Roots, req: &HugepageRequest) -> Result<()> {
    sysfs::require_root(roots, "hugepages")?;
    let path = count_file(roots, req.node)?;
    sysfs::write_attr(&path, &req.count.to_string())?;
    let got = read_count(&path)?;
    let place = req
        .node
        .map_or_else(String::new, |n| format!(" on NUMA node {n}"));
    let mib = got * HUGEPAGE_KB / 1024;
    if req.count == 0 {
        println!("2 MiB hugepages{place}: released ({got} still reserved, {mib} MiB)");
        return Ok(());
    }
    if got == 0 {
        return Err(CliError::Prerequisite(format!(
            "no hugepages: the kernel reserved none of the {} 2 MiB pages asked for{place} \
             (free memory is too fragmented or too small; reserve them at boot with \
             `hugepages={}` on the kernel command line)",
            req.count, req.count
        )));
    }
    println!(
        "2 MiB hugepages{place}: requested {}, reserved {got} ({mib} MiB)",
        req.count
    );
    if got < req.count {
        println!(
            "note: the kernel reserved fewer pages than asked (memory is fragmented); reserve \
             them at boot with `hugepages={}` on the kernel command line, or ask again after \
             `echo 3 > /proc/sys/vm/drop_caches`",
            req.count
        );
    }
    if req.no_mount {
        return Ok(());
    }
    let dir = req
        .mount
        .clone()
        .unwrap_or_else(|| roots.dev.join("hugepages"));
    ensure_mounted(roots, &dir)
}

/// A hugetlbfs entry of /proc/mounts: its mount point and page size option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HugetlbfsMount {
    /// Mount point.
    pub dir: PathBuf,
    /// The `pagesize=` option, if given.
    pub pagesize: Option<String>,
}

/// Every hugetlbfs mount in /proc/mounts text (`device dir type options 0 0`; spaces in paths
/// are written `\040`).
pub fn hugetlbfs_mounts(mounts: &str) -> Vec<HugetlbfsMount> {
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dir, fstype, options) = (f.get(1)?, f.get(2)?, f.get(3)?);
            (*fstype == "hugetlbfs").then(|| HugetlbfsMount {
                dir: PathBuf::from(unescape_mount_path(dir)),
                pagesize: options
                    .split(',')
                    .find_map(|o| o.strip_prefix("pagesize="))
                    .map(str::to_string),
            })
        })
        .collect()
}

/// Undoes the kernel's octal escapes (`\040` for a space) in a /proc/mounts path.
fn unescape_mount_path(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)))
            .and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok());
        match octal {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_2m(pagesize: &str) -> bool {
    matches!(pagesize, "2M" | "2m" | "2048k" | "2048K" | "2097152")
}

/// Mounts hugetlbfs with 2 MiB pages at `dir` unless one is there already.
fn ensure_mounted(roots: &Roots, dir: &Path) -> Result<()> {
    let mounts_path = roots.proc.join("mounts");
    let mounts =
        fs::read_to_string(&mounts_path).map_err(|e| CliError::io("reading", &mounts_path, e))?;
    let canonical = fs::canonicalize(dir).ok();
    let existing = hugetlbfs_mounts(&mounts)
        .into_iter()
        .find(|m| m.dir == dir || Some(&m.dir) == canonical.as_ref());
    if let Some(m) = existing {
        return match m.pagesize.as_deref() {
            Some(p) if !is_2m(p) => Err(CliError::Prerequisite(format!(
                "the hugetlbfs at {} has pagesize={p}, but the driver needs 2 MiB pages: mount \
                 one with `--mount <another dir>`",
                dir.display()
            ))),
            _ => {
                println!("hugetlbfs already mounted at {}", dir.display());
                Ok(())
            }
        };
    }
    fs::create_dir_all(dir).map_err(|e| CliError::io("creating", dir, e))?;
    let target = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| CliError::Usage(format!("--mount {}: NUL in path", dir.display())))?;
    // SAFETY: every argument is a NUL-terminated string that outlives the call; mount(2) reads
    // them and keeps nothing.
    let rc = unsafe {
        libc::mount(
            c"nodev".as_ptr(),
            target.as_ptr(),
            c"hugetlbfs".as_ptr(),
            0,
            c"pagesize=2M".as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(CliError::io(
            "mounting hugetlbfs at",
            dir,
            std::io::Error::last_os_error(),
        ));
    }
    println!("mounted hugetlbfs (2 MiB pages) at {}", dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mounts_and_meminfo() {
        let mounts = "sysfs /sys sysfs rw,nosuid 0 0\n\
            hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n\
            none /mnt/huge\\0401g hugetlbfs rw,pagesize=1024M 0 0\n";
        assert_eq!(
            hugetlbfs_mounts(mounts),
            vec![
                HugetlbfsMount {
                    dir: "/dev/hugepages".into(),
                    pagesize: Some("2M".into())
                },
                HugetlbfsMount {
                    dir: "/mnt/huge 1g".into(),
                    pagesize: Some("1024M".into())
                },
            ]
        );
        let meminfo =
            "MemTotal:       16000000 kB\nHugePages_Total:      64\nHugepagesize:       2048 kB\n";
        assert_eq!(meminfo_value(meminfo, "Hugepagesize"), Some(2048));
        assert_eq!(meminfo_value(meminfo, "HugePages_Total"), Some(64));
        assert_eq!(meminfo_value(meminfo, "Nope"), None);
        assert_eq!(unescape_mount_path("a\\04"), "a\\04");
    }
}
