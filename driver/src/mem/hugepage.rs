//! DMA memory from 2 MiB hugepages, with physical addresses as device addresses.
//!
//! A device bound to `uio_pci_generic`/`igb_uio` (or to vfio-pci without an IOMMU) has no I/O
//! address translation: it reaches host memory by *physical* address. The driver therefore needs
//! memory whose physical address it knows and which the kernel never moves or swaps. A 2 MiB
//! hugepage is exactly that: one physically contiguous page, pinned by hugetlbfs, whose
//! physical address this process reads from `/proc/self/pagemap`. This is what DPDK's EAL does
//! in IOVA-as-PA mode, and what the PCI platform does on EC2 and on the device model's PCI rig.
//!
//! Each page is a named file `<dir>/<prefix>map_<n>` (DPDK's naming). The names matter: the
//! rig's device process finds the driver's memory by scanning the directory for the prefix and
//! mapping the same files, so a file keeps its name for as long as any region in it is alive,
//! and is unlinked when the last one goes (see [`HugepageAllocator`]).
//!
//! [`HugepageAllocator::alloc`] bump-allocates inside the current page and never lets a region
//! cross a page boundary, so every region is physically contiguous; a request that does not fit
//! the rest of the page starts a new page. Space is never reused within a page (rings and buffer
//! pools are allocated once per port), which also keeps every region zeroed: the kernel zeroes a
//! hugepage when it first faults it in.
#![allow(unsafe_code)]

use crate::error::{Error, Result};
use crate::mem::DmaRegion;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

/// The hugepage size the allocator uses (x86-64's default hugepage).
pub const HUGEPAGE_SIZE: usize = 2 << 20;

/// `HUGETLBFS_MAGIC` (Linux `include/uapi/linux/magic.h`).
const HUGETLBFS_MAGIC: u64 = 0x9584_58f6;
/// Pagemap entry bit 63: the page is present in RAM (Linux `Documentation/admin-guide/mm/pagemap.rst`).
const PAGEMAP_PRESENT: u64 = 1 << 63;
/// Pagemap entry bits 54:0: the page frame number.
const PAGEMAP_PFN_MASK: u64 = (1 << 55) - 1;
/// The pagemap has one entry per base page, whatever the size of the page behind it.
const BASE_PAGE: usize = 4096;
/// Free and reserved-but-unfaulted counts of the 2 MiB hugepage pool.
const FREE_HUGEPAGES: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages";
const RESV_HUGEPAGES: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages";

const HIDDEN_PFN: &str = "physical addresses are hidden: run as root (CAP_SYS_ADMIN)";

/// Reads the pagemap entry for `vaddr` from an open `/proc/self/pagemap`.
fn pagemap_entry(pagemap: &File, vaddr: usize) -> io::Result<Option<u64>> {
    let mut entry = [0u8; 8];
    pagemap
        .read_exact_at(&mut entry, (vaddr / BASE_PAGE) as u64 * 8)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("reading /proc/self/pagemap at {vaddr:#x}: {e}"),
            )
        })?;
    let entry = u64::from_le_bytes(entry);
    if entry & PAGEMAP_PRESENT == 0 {
        return Ok(None);
    }
    // Without CAP_SYS_ADMIN the kernel reports present pages with the frame number zeroed.
    let pfn = entry & PAGEMAP_PFN_MASK;
    if pfn == 0 {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, HIDDEN_PFN));
    }
    Ok(Some(pfn * BASE_PAGE as u64 + (vaddr % BASE_PAGE) as u64))
}

fn open_pagemap() -> io::Result<File> {
    File::open("/proc/self/pagemap")
        .map_err(|e| io::Error::new(e.kind(), format!("opening /proc/self/pagemap: {e}")))
}

/// The physical address behind virtual address `vaddr` of this process.
///
/// `Ok(None)` when the page is not in memory (never touched, or swapped out); an error of kind
/// `PermissionDenied` when the kernel hides page frame numbers (the process lacks
/// CAP_SYS_ADMIN).
pub fn pagemap_phys_addr(vaddr: usize) -> io::Result<Option<u64>> {
    pagemap_entry(&open_pagemap()?, vaddr)
}

/// Checks that `dir` is a hugetlbfs mount with 2 MiB pages.
fn check_hugetlbfs(dir: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let not_mounted = || {
        Error::Config(format!(
            "{} is not a hugetlbfs mount; mount one with `mount -t hugetlbfs nodev /dev/hugepages`",
            dir.display()
        ))
    };
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(|_| not_mounted())?;
    // SAFETY: statfs is plain old data for which all-zero bytes are a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated string and `st` a writable statfs; both outlive the call.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(Error::io(
            format!("statfs {}", dir.display()),
            io::Error::last_os_error(),
        ));
    }
    // f_type's signedness and width differ between targets; the magic is a 32-bit value.
    #[allow(clippy::unnecessary_cast)]
    if (st.f_type as u64) & 0xffff_ffff != HUGETLBFS_MAGIC {
        return Err(not_mounted());
    }
    #[allow(clippy::unnecessary_cast)]
    let page = st.f_bsize as u64;
    if page != HUGEPAGE_SIZE as u64 {
        return Err(Error::Config(format!(
            "{} is a hugetlbfs mount of {} KiB pages; the driver needs 2 MiB pages \
             (mount one with `mount -t hugetlbfs -o pagesize=2M nodev <dir>`)",
            dir.display(),
            page / 1024
        )));
    }
    Ok(())
}

/// Hugepages of the 2 MiB pool that are free and not promised to an existing mapping, if the
/// kernel says.
fn unreserved_free_hugepages() -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok();
    Some(read(FREE_HUGEPAGES)?.saturating_sub(read(RESV_HUGEPAGES)?))
}

fn no_hugepage_message(path: &Path) -> String {
    let free = unreserved_free_hugepages().map_or_else(|| "unknown".to_string(), |n| n.to_string());
    format!(
        "no free 2 MiB hugepage for {} (free, unreserved: {free}); reserve more with \
         `echo <n> > /proc/sys/vm/nr_hugepages`",
        path.display()
    )
}

/// One mapped hugepage file. The backing of every region cut from it: the mapping stays while
/// any region (or the allocator) holds it, and the file is unlinked when the last one drops.
struct Hugepage {
    path: PathBuf,
    map: memmap2::MmapMut,
    pa: u64,
}

impl Drop for Hugepage {
    fn drop(&mut self) {
        // The mapping itself is released after this, when `map` drops; unlinking first is fine.
        if let Err(e) = std::fs::remove_file(&self.path) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(target: "ena::mem", "removing hugepage file {}: {e}", self.path.display());
            }
        }
    }
}

/// The page being carved up, and where the next page's name goes.
struct State {
    page: Option<Arc<Hugepage>>,
    /// Bytes of `page` handed out so far.
    used: usize,
    next_index: u64,
    pages_created: u64,
}

/// Allocates zeroed, physically contiguous DMA memory from 2 MiB hugepage files.
///
/// Thread-safe (`Sync`); allocation is for the control path (rings, buffer pools), under a
/// mutex. Each page lives as long as the allocator still carves from it or any [`DmaRegion`]
/// cut from it lives, so dropping the allocator does not invalidate regions; a page's file is
/// unlinked when its last user goes.
///
/// File names are `<dir>/<prefix>map_<n>` and are created exclusively: two allocators in one
/// process, or two processes, need different prefixes (a stale file from a crashed run must be
/// removed by hand, as with DPDK's `--file-prefix`).
pub struct HugepageAllocator {
    dir: PathBuf,
    file_prefix: String,
    pagemap: File,
    state: Mutex<State>,
}

impl std::fmt::Debug for HugepageAllocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HugepageAllocator")
            .field("dir", &self.dir)
            .field("file_prefix", &self.file_prefix)
            .field("pages_created", &self.pages_created())
            .finish()
    }
}

impl HugepageAllocator {
    /// An allocator making page files `<dir>/<prefix>map_<n>` in the hugetlbfs mount `dir`.
    ///
    /// Checks the mount and that physical addresses are visible; creates no page yet.
    pub fn new(dir: &Path, prefix: &str) -> Result<Self> {
        if prefix.contains('/') || prefix.contains('\0') {
            return Err(Error::Config(format!(
                "hugepage file prefix {prefix:?} must be a plain file name prefix"
            )));
        }
        check_hugetlbfs(dir)?;
        let pagemap = open_pagemap().map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => Error::io(HIDDEN_PFN, e),
            _ => Error::io("opening /proc/self/pagemap", e),
        })?;
        // Fail now, not at the first allocation, if the kernel hides frame numbers.
        let probe = Box::new(std::hint::black_box(0x5a5a_5a5a_u64));
        let probe_addr = std::hint::black_box(&*probe) as *const u64 as usize;
        match pagemap_entry(&pagemap, probe_addr) {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(Error::io(
                    "probing /proc/self/pagemap",
                    io::Error::other("a freshly written heap page reads as not present"),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(Error::io(HIDDEN_PFN, e))
            }
            Err(e) => return Err(Error::io("probing /proc/self/pagemap", e)),
        }
        Ok(Self {
            dir: dir.to_owned(),
            file_prefix: format!("{prefix}map_"),
            pagemap,
            state: Mutex::new(State {
                page: None,
                used: 0,
                next_index: 0,
                pages_created: 0,
            }),
        })
    }

    /// The hugetlbfs directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The page files' name prefix, `<prefix>map_` (what the rig's device model scans for).
    pub fn file_prefix(&self) -> &str {
        &self.file_prefix
    }

    /// Pages created so far (including ones already released).
    pub fn pages_created(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pages_created
    }

    /// `len` zeroed bytes aligned to `align` (a power of two; 0 means 1) in host and device
    /// address, inside one hugepage. The region's IOVA is the page's physical address plus the
    /// offset.
    pub fn alloc(&self, len: usize, align: usize) -> Result<DmaRegion> {
        let align = align.max(1);
        if len == 0 {
            return Err(Error::Config("a DMA allocation of 0 bytes".into()));
        }
        if len > HUGEPAGE_SIZE {
            return Err(Error::Config(format!(
                "a DMA allocation of {len} bytes does not fit one 2 MiB hugepage; the hugepage allocator \
                 only hands out physically contiguous regions of at most {HUGEPAGE_SIZE} bytes"
            )));
        }
        if !align.is_power_of_two() || align > HUGEPAGE_SIZE {
            return Err(Error::Config(format!(
                "DMA alignment {align} must be a power of two of at most {HUGEPAGE_SIZE}"
            )));
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let fits = |used: usize| used.next_multiple_of(align) + len <= HUGEPAGE_SIZE;
        let page = match &st.page {
            Some(p) if fits(st.used) => p.clone(),
            _ => {
                let p = Arc::new(self.new_page(&mut st)?);
                st.page = Some(p.clone());
                st.used = 0;
                p
            }
        };
        let off = st.used.next_multiple_of(align);
        st.used = off + len;
        drop(st);
        // `off + len <= HUGEPAGE_SIZE`, the mapping's length (checked by `fits`, or a fresh page).
        let va = page.map.as_ptr().wrapping_add(off).cast_mut();
        let va = NonNull::new(va)
            .ok_or_else(|| Error::NoMemory("hugepage mapped at address 0".into()))?;
        let iova = page.pa + off as u64;
        // SAFETY: `va..va + len` lies inside the page's shared, locked mapping, which `page` (the
        // backing) keeps mapped; the memory is zero (fresh hugepage, never handed out before);
        // the device reaches it at `iova` because a hugepage is physically contiguous and
        // `page.pa` is its physical address from the pagemap.
        Ok(unsafe { DmaRegion::new(va, iova, len, page) })
    }

    /// Creates, maps, locks and translates the next page file.
    fn new_page(&self, st: &mut State) -> Result<Hugepage> {
        let path = self
            .dir
            .join(format!("{}{}", self.file_prefix, st.next_index));
        st.next_index += 1;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| {
                let hint = match e.kind() {
                    io::ErrorKind::AlreadyExists => {
                        " (another allocator uses this prefix, or a stale file from a crashed run: remove it)"
                    }
                    io::ErrorKind::PermissionDenied => " (hugetlbfs mounts are usually writable by root only)",
                    _ => "",
                };
                Error::io(format!("creating hugepage file {}{hint}", path.display()), e)
            })?;
        // A half-made page must not leave its file behind.
        let page = self.map_page(&file, &path);
        if page.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        let (map, pa) = page?;
        st.pages_created += 1;
        tracing::debug!(target: "ena::mem", "hugepage {} at physical {pa:#x}", path.display());
        Ok(Hugepage { path, map, pa })
    }

    fn map_page(&self, file: &File, path: &Path) -> Result<(memmap2::MmapMut, u64)> {
        file.set_len(HUGEPAGE_SIZE as u64)
            .map_err(|e| Error::io(format!("sizing hugepage file {}", path.display()), e))?;
        // SAFETY: a file this allocator just created exclusively; nobody truncates it while it is
        // mapped. It is shared with the device (and the rig's device process) by design, under
        // the DMA ownership rule of `crate::mem::dma`.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .len(HUGEPAGE_SIZE)
                .populate()
                .map_mut(file)
        }
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ENOMEM) {
                Error::NoMemory(no_hugepage_message(path))
            } else {
                Error::io(format!("mapping hugepage file {}", path.display()), e)
            }
        })?;
        // No free hugepage normally fails the mmap itself (hugetlbfs reserves the page there).
        // Where a reservation does not guarantee the page (a hugetlb cgroup limit), MAP_POPULATE
        // fails silently; mlock then faults the page again and fails with ENOMEM, and the
        // pagemap check below catches the rest, so the first touch never raises SIGBUS.
        // (Free counts are not checked up front: a mount's own `min_size` reservation shows as
        // reserved, not free, yet can be allocated from.)
        map.lock().map_err(|e| {
            if e.raw_os_error() == Some(libc::ENOMEM) {
                Error::NoMemory(no_hugepage_message(path))
            } else {
                Error::io(format!("locking hugepage {} in memory", path.display()), e)
            }
        })?;
        let pa = match pagemap_entry(&self.pagemap, map.as_ptr() as usize) {
            Ok(Some(pa)) => pa,
            Ok(None) => return Err(Error::NoMemory(no_hugepage_message(path))),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(Error::io(HIDDEN_PFN, e))
            }
            Err(e) => {
                return Err(Error::io(
                    format!("translating hugepage {}", path.display()),
                    e,
                ))
            }
        };
        if pa % HUGEPAGE_SIZE as u64 != 0 {
            return Err(Error::Unsupported(format!(
                "{} maps physical address {pa:#x}, which is not 2 MiB aligned: not a huge page",
                path.display()
            )));
        }
        Ok((map, pa))
    }
}

#[cfg(test)]
mod tests {
    //! These tests need root, hugetlbfs and a writable `vm.nr_hugepages`; without them they
    //! print `SKIPPED: <reason>` and pass. [`Reservation`] adds the pages they need to the
    //! system pool and mounts a private hugetlbfs, and gives both back on drop (also when a test
    //! panics).
    use super::*;
    use std::fs;
    use std::os::fd::AsRawFd;
    use std::sync::MutexGuard;

    const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";
    /// Shared with the device model's rig tests (ena-sim `transport/pci_rig/hugepages.rs`) so
    /// that parallel test binaries change the page count one at a time, each by its own share.
    const COUNT_LOCK: &str = "/run/ena-rs-hugepages.lock";

    /// One hugepage test at a time in this process (they share the system pool).
    fn serial() -> MutexGuard<'static, ()> {
        static LOCK: Mutex<()> = Mutex::new(());
        LOCK.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn skip(reason: &str) {
        println!("SKIPPED: {reason}");
    }

    fn read_count() -> io::Result<usize> {
        fs::read_to_string(NR_HUGEPAGES)?
            .trim()
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{NR_HUGEPAGES}: {e}")))
    }

    /// Holds an exclusive flock on the shared count lock while it lives.
    fn count_lock() -> io::Result<File> {
        let path = if Path::new("/run").is_dir() {
            PathBuf::from(COUNT_LOCK)
        } else {
            std::env::temp_dir().join("ena-rs-hugepages.lock")
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        loop {
            // SAFETY: flock on a descriptor this function owns.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(file);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Pages added to `vm.nr_hugepages` and a private hugetlbfs mount; both undone on drop.
    struct Reservation {
        added: usize,
        dir: PathBuf,
        mounted: bool,
    }

    impl Reservation {
        /// Reserves `pages` pages and mounts a fresh hugetlbfs, or says why not.
        fn new(pages: usize) -> std::result::Result<Self, String> {
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } != 0 {
                return Err("hugepage tests need root".into());
            }
            if !fs::read_to_string("/proc/filesystems")
                .unwrap_or_default()
                .contains("hugetlbfs")
            {
                return Err("the kernel has no hugetlbfs".into());
            }
            if !Path::new(FREE_HUGEPAGES).exists() {
                return Err("the kernel has no 2 MiB hugepage pool".into());
            }
            let probe = Box::new(std::hint::black_box(1u64));
            if let Err(e) = pagemap_phys_addr(&*probe as *const u64 as usize) {
                return Err(e.to_string());
            }
            let mut res = Self {
                added: 0,
                dir: PathBuf::new(),
                mounted: false,
            };
            {
                let _lock = count_lock().map_err(|e| format!("hugepage count lock: {e}"))?;
                let before = read_count().map_err(|e| e.to_string())?;
                let wrote = fs::write(NR_HUGEPAGES, (before + pages).to_string());
                // The kernel grants what it can; give back exactly what was granted.
                res.added = read_count()
                    .map_err(|e| e.to_string())?
                    .saturating_sub(before);
                if let Err(e) = wrote {
                    return Err(format!("{NR_HUGEPAGES} is not writable: {e}"));
                }
            }
            if unreserved_free_hugepages().unwrap_or(0) < pages as u64 {
                return Err(format!(
                    "could not reserve {pages} free hugepages (the kernel granted {})",
                    res.added
                ));
            }
            let n = {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            };
            res.dir =
                std::env::temp_dir().join(format!("ena-hugepage-test-{}-{n}", std::process::id()));
            fs::create_dir(&res.dir).map_err(|e| format!("creating {}: {e}", res.dir.display()))?;
            let c = |s: &str| std::ffi::CString::new(s).map_err(|e| e.to_string());
            let target = c(&res.dir.to_string_lossy())?;
            let (source, fstype, opts) = (c("nodev")?, c("hugetlbfs")?, c("pagesize=2M")?);
            // SAFETY: all four arguments are NUL-terminated strings that outlive the call.
            let rc = unsafe {
                libc::mount(
                    source.as_ptr(),
                    target.as_ptr(),
                    fstype.as_ptr(),
                    0,
                    opts.as_ptr().cast(),
                )
            };
            if rc != 0 {
                return Err(format!(
                    "mounting hugetlbfs at {}: {}",
                    res.dir.display(),
                    io::Error::last_os_error()
                ));
            }
            res.mounted = true;
            Ok(res)
        }

        fn dir(&self) -> &Path {
            &self.dir
        }
    }

    impl Drop for Reservation {
        fn drop(&mut self) {
            if self.mounted {
                if let Ok(target) = std::ffi::CString::new(self.dir.to_string_lossy().as_bytes()) {
                    // SAFETY: a NUL-terminated path that outlives the call. Lazy, so that a
                    // mapping still alive after a failed test does not keep the mount busy.
                    if unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } != 0 {
                        eprintln!(
                            "unmounting {}: {}",
                            self.dir.display(),
                            io::Error::last_os_error()
                        );
                    }
                }
            }
            if !self.dir.as_os_str().is_empty() {
                let _ = fs::remove_dir(&self.dir);
            }
            if self.added > 0 {
                // Pages still mapped become surplus pages, freed when unmapped.
                let result = count_lock().and_then(|_lock| {
                    let now = read_count()?;
                    fs::write(NR_HUGEPAGES, now.saturating_sub(self.added).to_string())
                });
                if let Err(e) = result {
                    eprintln!("could not give back {} hugepages: {e}", self.added);
                }
            }
        }
    }

    /// Serializes, reserves `pages` and mounts, or prints why not.
    fn setup(pages: usize) -> Option<(MutexGuard<'static, ()>, Reservation)> {
        let guard = serial();
        match Reservation::new(pages) {
            Ok(r) => Some((guard, r)),
            Err(why) => {
                skip(&why);
                None
            }
        }
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn bytes(r: &DmaRegion) -> Vec<u8> {
        let mut v = vec![0xeeu8; r.len()];
        r.read_bytes(0, &mut v);
        v
    }

    #[test]
    fn mem_hugepage_rejects_a_directory_that_is_not_hugetlbfs() {
        let err = HugepageAllocator::new(&std::env::temp_dir(), "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a hugetlbfs mount"), "{err}");
        assert!(
            err.contains("mount -t hugetlbfs nodev /dev/hugepages"),
            "{err}"
        );
        let err = HugepageAllocator::new(Path::new("/nonexistent-ena-dir"), "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("statfs /nonexistent-ena-dir"), "{err}");
    }

    #[test]
    fn mem_hugepage_pagemap_reports_absent_and_present_pages() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return skip("physical addresses need root");
        }
        let mut map = memmap2::MmapMut::map_anon(2 * BASE_PAGE).unwrap();
        let second = map.as_ptr() as usize + BASE_PAGE;
        assert_eq!(
            pagemap_phys_addr(second).unwrap(),
            None,
            "an untouched anonymous page is absent"
        );
        map[BASE_PAGE + 5] = 1;
        let pa = match pagemap_phys_addr(second + 5) {
            Ok(pa) => pa.expect("a written page is present"),
            Err(e) => return skip(&e.to_string()),
        };
        assert_eq!(
            pa % BASE_PAGE as u64,
            5,
            "the offset within the page is kept"
        );
    }

    #[test]
    fn mem_hugepage_allocations_are_zeroed_aligned_contiguous_and_translated() {
        let Some((_serial, res)) = setup(3) else {
            return;
        };
        let a = HugepageAllocator::new(res.dir(), "hpalloc").unwrap();
        assert_eq!(a.file_prefix(), "hpallocmap_");

        let ring = a.alloc(4096, 4096).unwrap();
        let buf = a.alloc(1500, 64).unwrap();
        let odd = a.alloc(3, 1).unwrap();
        let next = a.alloc(100, 128).unwrap();
        assert_eq!(files_in(res.dir()), ["hpallocmap_0"]);
        assert_eq!(a.pages_created(), 1);

        for (r, align) in [(&ring, 4096u64), (&buf, 64), (&odd, 1), (&next, 128)] {
            assert!(bytes(r).iter().all(|&b| b == 0), "{r:?} is zeroed");
            assert_eq!(r.iova() % align, 0, "{r:?} aligned in device address");
            assert_eq!(
                r.as_ptr() as u64 % align,
                0,
                "{r:?} aligned in host address"
            );
            // The IOVA is the physical address of every byte, first and last.
            assert_eq!(
                pagemap_phys_addr(r.as_ptr() as usize).unwrap(),
                Some(r.iova())
            );
            let last = r.len() - 1;
            assert_eq!(
                pagemap_phys_addr(r.as_ptr() as usize + last).unwrap(),
                Some(r.iova() + last as u64)
            );
        }
        // The page starts at a 2 MiB physical boundary and regions are packed in order.
        assert_eq!(ring.iova() % HUGEPAGE_SIZE as u64, 0);
        assert_eq!(
            buf.iova(),
            ring.iova() + 4096,
            "adjacent regions are adjacent in physical memory"
        );
        assert_eq!(odd.iova(), buf.iova() + 1500);
        assert_eq!(next.iova(), (odd.iova() + 3).next_multiple_of(128));

        // What is written through one view is what the file (the device model's view) holds.
        buf.write_bytes(10, b"through the driver");
        let file = File::open(res.dir().join("hpallocmap_0")).unwrap();
        let mut got = [0u8; 18];
        file.read_exact_at(&mut got, 4096 + 10).unwrap();
        assert_eq!(&got, b"through the driver");
    }

    #[test]
    fn mem_hugepage_regions_never_cross_a_page() {
        let Some((_serial, res)) = setup(3) else {
            return;
        };
        let a = HugepageAllocator::new(res.dir(), "hpcross").unwrap();
        let first = a.alloc(HUGEPAGE_SIZE - 4096, 64).unwrap();
        // 8 KiB does not fit the 4 KiB left: a new page, not a region straddling two.
        let second = a.alloc(8192, 64).unwrap();
        assert_eq!(a.pages_created(), 2);
        assert_eq!(
            second.iova() % HUGEPAGE_SIZE as u64,
            0,
            "starts its own page"
        );
        assert_eq!(files_in(res.dir()), ["hpcrossmap_0", "hpcrossmap_1"]);
        // A whole page is allowed and takes a page of its own.
        let whole = a.alloc(HUGEPAGE_SIZE, HUGEPAGE_SIZE).unwrap();
        assert_eq!(a.pages_created(), 3);
        assert_eq!(whole.len(), HUGEPAGE_SIZE);
        assert_eq!(whole.iova() % HUGEPAGE_SIZE as u64, 0);
        assert_eq!(
            pagemap_phys_addr(whole.as_ptr() as usize + HUGEPAGE_SIZE - 1).unwrap(),
            Some(whole.iova() + HUGEPAGE_SIZE as u64 - 1)
        );
        assert!(bytes(&whole).iter().all(|&b| b == 0));
        drop((first, second));
    }

    #[test]
    fn mem_hugepage_rejects_requests_larger_than_a_page() {
        let Some((_serial, res)) = setup(1) else {
            return;
        };
        let a = HugepageAllocator::new(res.dir(), "hpbig").unwrap();
        let err = a.alloc(HUGEPAGE_SIZE + 1, 64).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("2097153 bytes") && msg.contains("2 MiB hugepage"),
            "{msg}"
        );
        assert!(matches!(a.alloc(0, 64), Err(Error::Config(_))));
        assert!(matches!(a.alloc(64, 3), Err(Error::Config(_))));
        assert_eq!(
            a.pages_created(),
            0,
            "nothing was mapped for a refused request"
        );
    }

    #[test]
    fn mem_hugepage_files_live_while_regions_do_and_go_after() {
        let Some((_serial, res)) = setup(2) else {
            return;
        };
        let a = HugepageAllocator::new(res.dir(), "hplife").unwrap();
        let r0 = a.alloc(HUGEPAGE_SIZE, 4096).unwrap();
        let r1 = a.alloc(64, 64).unwrap();
        assert_eq!(files_in(res.dir()), ["hplifemap_0", "hplifemap_1"]);
        // Page 0 is full and no longer the allocator's; its only user is r0.
        drop(r0);
        assert_eq!(files_in(res.dir()), ["hplifemap_1"]);
        // The allocator goes first; r1 keeps page 1 (and its name, for the device model).
        drop(a);
        assert_eq!(files_in(res.dir()), ["hplifemap_1"]);
        r1.write(0, 0xabcd_u32);
        assert_eq!(r1.read::<u32>(0), 0xabcd);
        drop(r1);
        assert!(files_in(res.dir()).is_empty());
    }

    #[test]
    fn mem_hugepage_exhaustion_and_stale_files_are_clear_errors() {
        let Some((_serial, res)) = setup(1) else {
            return;
        };
        // A stale file with the name of the first page.
        fs::write(res.dir().join("hpstalemap_0"), b"").unwrap();
        let a = HugepageAllocator::new(res.dir(), "hpstale").unwrap();
        let msg = a.alloc(64, 64).unwrap_err().to_string();
        assert!(
            msg.contains("hpstalemap_0") && msg.contains("stale file"),
            "{msg}"
        );
        fs::remove_file(res.dir().join("hpstalemap_0")).unwrap();

        // The next name is free and takes the single reserved page.
        let only = a.alloc(HUGEPAGE_SIZE, 64).unwrap();
        match a.alloc(64, 64) {
            Err(err) => {
                assert!(matches!(err, Error::NoMemory(_)), "{err:?}");
                let msg = err.to_string();
                assert!(
                    msg.contains("no free 2 MiB hugepage") && msg.contains("nr_hugepages"),
                    "{msg}"
                );
                // The failed page left no file behind.
                assert_eq!(files_in(res.dir()), ["hpstalemap_1"]);
            }
            // Another process on this machine holds free hugepages of its own.
            Ok(_) => skip("exhaustion not testable: the system pool has other free hugepages"),
        }
        drop(only);
    }
}
