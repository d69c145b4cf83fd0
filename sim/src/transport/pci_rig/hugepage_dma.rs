//! DMA by physical address into the driver's hugepage files.
//!
//! A uio driver (Amazon's DPDK PMD in IOVA-as-PA mode, and our own driver on the same platform
//! layer) hands the device *physical* addresses, which it reads from `/proc/self/pagemap` when it
//! allocates hugepage memory. The device process reaches the same memory by mapping the same
//! hugetlbfs files (DPDK names them `<file-prefix>map_<n>`) and looking up, in *its own* pagemap,
//! where each page landed: a hugepage is one physically contiguous page, shared by every mapping
//! of its file, so one table entry per page translates every address in it exactly.
//!
//! [`HugepageDma`] keeps that table (physical page → host pointer). DPDK creates segment files as
//! its heap grows, so an address that misses the table triggers a rescan of the directory —
//! rate-limited, because a driver bug can make the device miss in a loop. Each file is mapped
//! once (tracked by device and inode); a file that grew since (`--single-file-segments`) gets its
//! new tail mapped. Files that the driver deletes stay mapped, which keeps their pages from being
//! reused while the device may still hold addresses into them.
//!
//! Caveat: mapping with MAP_POPULATE allocates a page for every hole in a sparse file, so with
//! `--single-file-segments` use `--legacy-mem` (no holes); the default one-file-per-page layout
//! has none.
#![allow(unsafe_code)]

use crate::dma::{DmaRegion, DmaSpace};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The hugepage size the rig uses (x86-64 default).
pub const HUGEPAGE_SIZE: usize = 2 << 20;

/// `HUGETLBFS_MAGIC` from Linux `include/uapi/linux/magic.h`.
const HUGETLBFS_MAGIC: u64 = 0x9584_58f6;
/// Pagemap entry: page present in RAM.
const PAGEMAP_PRESENT: u64 = 1 << 63;
/// Pagemap entry: page frame number, bits 54:0.
const PAGEMAP_PFN_MASK: u64 = (1 << 55) - 1;
/// The pagemap's unit is the base page, whatever the mapping's page size.
const BASE_PAGE: usize = 4096;

/// Default minimum time between two rescans triggered by misses.
pub const DEFAULT_RESCAN_INTERVAL: Duration = Duration::from_millis(10);

/// The huge page size of the hugetlbfs mounted at `dir`, or an error saying `dir` is not one.
pub fn hugetlbfs_page_size(dir: &Path) -> io::Result<usize> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: statfs is plain old data; all-zero is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `st` a writable statfs, both outliving the call.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("statfs {}: {e}", dir.display()),
        ));
    }
    // f_type is signed on some targets; the magic is a 32-bit value.
    #[allow(clippy::unnecessary_cast)]
    if (st.f_type as u64) & 0xffff_ffff != HUGETLBFS_MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is not a hugetlbfs mount (filesystem magic {:#x})",
                dir.display(),
                st.f_type
            ),
        ));
    }
    Ok(st.f_bsize as usize)
}

/// An open `/proc/self/pagemap`.
struct Pagemap {
    file: File,
}

impl Pagemap {
    fn open() -> io::Result<Self> {
        File::open("/proc/self/pagemap")
            .map(|file| Self { file })
            .map_err(|e| io::Error::new(e.kind(), format!("opening /proc/self/pagemap: {e}")))
    }

    fn phys_addr(&self, vaddr: usize) -> io::Result<Option<u64>> {
        let mut entry = [0u8; 8];
        let at = (vaddr / BASE_PAGE) as u64 * 8;
        self.file.read_exact_at(&mut entry, at).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("reading /proc/self/pagemap for {vaddr:#x}: {e}"),
            )
        })?;
        let entry = u64::from_le_bytes(entry);
        if entry & PAGEMAP_PRESENT == 0 {
            return Ok(None);
        }
        let pfn = entry & PAGEMAP_PFN_MASK;
        if pfn == 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "page frame numbers in /proc/self/pagemap read as 0: physical addresses need CAP_SYS_ADMIN \
                 (run the rig as root)",
            ));
        }
        Ok(Some(pfn * BASE_PAGE as u64 + (vaddr % BASE_PAGE) as u64))
    }
}

/// The physical address behind virtual address `vaddr` of this process: `Ok(None)` if the page
/// is not in memory (touch it first), an error if the kernel hides page frame numbers (not root).
pub fn pagemap_phys_addr(vaddr: usize) -> io::Result<Option<u64>> {
    Pagemap::open()?.phys_addr(vaddr)
}

/// Checks that this process can see physical addresses at all, using a page of its own.
fn probe_pagemap(pagemap: &Pagemap) -> io::Result<()> {
    let probe = Box::new(std::hint::black_box(0x5a5a_5a5a_u64));
    // Touching it makes sure the page is present.
    let addr = std::hint::black_box(&*probe) as *const u64 as usize;
    match pagemap.phys_addr(addr)? {
        Some(_) => Ok(()),
        None => Err(io::Error::other(
            "pagemap reports a freshly written heap page as absent",
        )),
    }
}

/// Scanner state, under one lock so that only one thread maps files at a time.
struct ScanState {
    pagemap: Pagemap,
    /// (device, inode) → bytes of the file mapped so far.
    mapped: HashMap<(u64, u64), u64>,
    last_scan: Option<Instant>,
    /// The page of the last address that missed, and when: a repeated miss of the same page
    /// within the rescan interval (a driver bug hammering a stray address) does not rescan
    /// again, but the first miss of any other page always does (new driver memory).
    last_miss: Option<(u64, Instant)>,
    scans: u64,
}

/// The device's DMA space over the driver's hugepage files: device addresses are physical.
pub struct HugepageDma {
    dir: PathBuf,
    name_prefix: String,
    page_size: usize,
    rescan_interval: Duration,
    /// Page-aligned physical address → the page.
    pages: RwLock<HashMap<u64, DmaRegion>>,
    scan: Mutex<ScanState>,
}

impl std::fmt::Debug for HugepageDma {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HugepageDma")
            .field("dir", &self.dir)
            .field("name_prefix", &self.name_prefix)
            .field("pages", &self.pages())
            .finish()
    }
}

impl HugepageDma {
    /// A space over the files in the hugetlbfs directory `dir` whose names start with
    /// `name_prefix` (for DPDK's `--file-prefix=enarig`: `"enarigmap_"`, see
    /// [`HugepageDma::for_dpdk`]). Maps the files present now; later ones are found on demand.
    /// Fails if `dir` is not hugetlbfs or this process cannot read physical addresses.
    pub fn new(dir: impl Into<PathBuf>, name_prefix: &str) -> io::Result<Self> {
        let dir = dir.into();
        let page_size = hugetlbfs_page_size(&dir)?;
        if name_prefix.is_empty() || name_prefix.contains('/') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "hugepage file prefix {name_prefix:?} must be a non-empty file name prefix"
                ),
            ));
        }
        let pagemap = Pagemap::open()?;
        probe_pagemap(&pagemap)?;
        let space = Self {
            dir,
            name_prefix: name_prefix.to_owned(),
            page_size,
            rescan_interval: DEFAULT_RESCAN_INTERVAL,
            pages: RwLock::new(HashMap::new()),
            scan: Mutex::new(ScanState {
                pagemap,
                mapped: HashMap::new(),
                last_scan: None,
                last_miss: None,
                scans: 0,
            }),
        };
        space.rescan()?;
        Ok(space)
    }

    /// The space DPDK's EAL creates with `--file-prefix=<file_prefix>` in `dir`.
    pub fn for_dpdk(dir: impl Into<PathBuf>, file_prefix: &str) -> io::Result<Self> {
        Self::new(dir, &format!("{file_prefix}map_"))
    }

    /// Sets the minimum time between rescans triggered by misses.
    pub fn with_rescan_interval(mut self, interval: Duration) -> Self {
        self.rescan_interval = interval;
        self
    }

    /// The directory scanned.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The huge page size (each region's length).
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// Number of pages mapped.
    pub fn pages(&self) -> usize {
        self.pages.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Number of files mapped.
    pub fn files(&self) -> usize {
        self.scan
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .mapped
            .len()
    }

    /// Number of directory scans so far (the first one included).
    pub fn scans(&self) -> u64 {
        self.scan.lock().unwrap_or_else(|e| e.into_inner()).scans
    }

    /// The physical addresses of all mapped pages, ascending.
    pub fn physical_pages(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .pages
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect();
        v.sort_unstable();
        v
    }

    /// Scans the directory now, mapping new files and new tails of grown files. Returns the
    /// number of pages added.
    pub fn rescan(&self) -> io::Result<usize> {
        let mut st = self.scan.lock().unwrap_or_else(|e| e.into_inner());
        self.scan_locked(&mut st)
    }

    fn scan_locked(&self, st: &mut ScanState) -> io::Result<usize> {
        st.last_scan = Some(Instant::now());
        st.scans += 1;
        let entries = std::fs::read_dir(&self.dir).map_err(|e| {
            io::Error::new(e.kind(), format!("scanning {}: {e}", self.dir.display()))
        })?;
        let mut added = 0;
        for entry in entries {
            let Ok(entry) = entry else { continue };
            if !entry
                .file_name()
                .to_string_lossy()
                .starts_with(&self.name_prefix)
            {
                continue;
            }
            match self.map_file(st, &entry.path()) {
                Ok(n) => added += n,
                // The driver may delete a file between our readdir and open.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(added)
    }

    /// Maps the part of `path` not mapped yet and enters its pages. Returns the pages added.
    fn map_file(&self, st: &mut ScanState, path: &Path) -> io::Result<usize> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Ok(0);
        }
        let key = (meta.dev(), meta.ino());
        let done = st.mapped.get(&key).copied().unwrap_or(0);
        // A file being set up may not have its full size yet; whole pages only.
        let usable = meta.len() - meta.len() % self.page_size as u64;
        if usable <= done {
            return Ok(0);
        }
        let len = (usable - done) as usize;
        // SAFETY: the mapping shares the driver's DMA memory on purpose; the device accesses it
        // only through `Dma`, under the ownership rule in `crate::dma`. hugetlbfs files cannot be
        // truncated below a mapped page while we hold the mapping's pages.
        let mut map = unsafe {
            memmap2::MmapOptions::new()
                .offset(done)
                .len(len)
                .populate()
                .map_mut(&file)
        }
        .map_err(|e| io::Error::new(e.kind(), format!("mapping {}: {e}", path.display())))?;
        let base = map.as_mut_ptr();
        let keep: Arc<dyn Send + Sync> = Arc::new(map);
        let mut regions = Vec::with_capacity(len / self.page_size);
        for off in (0..len).step_by(self.page_size) {
            // SAFETY: `off < len`, inside the mapping.
            let ptr = unsafe { base.add(off) };
            let pa = match st.pagemap.phys_addr(ptr as usize)? {
                Some(pa) => pa,
                None => {
                    // MAP_POPULATE should have faulted it in; fault it now, reading only.
                    // SAFETY: `ptr` is inside the live mapping.
                    let _ = unsafe { std::ptr::read_volatile(ptr) };
                    st.pagemap.phys_addr(ptr as usize)?.ok_or_else(|| {
                        io::Error::other(format!(
                            "{} page at offset {:#x} is not in memory",
                            path.display(),
                            off
                        ))
                    })?
                }
            };
            if pa % self.page_size as u64 != 0 {
                return Err(io::Error::other(format!(
                    "{} offset {:#x}: physical address {pa:#x} is not {}-aligned; not a huge page?",
                    path.display(),
                    done + off as u64,
                    self.page_size
                )));
            }
            // SAFETY: `ptr..ptr + page_size` lies inside the mapping that `keep` owns.
            regions.push(unsafe { DmaRegion::new(pa, ptr, self.page_size, keep.clone()) });
        }
        let n = regions.len();
        {
            let mut pages = self.pages.write().unwrap_or_else(|e| e.into_inner());
            for r in regions {
                if let Some(old) = pages.insert(r.iova, r) {
                    tracing::warn!(target: "ena_sim::pci_rig", "physical page {:#x} seen twice (now {})", old.iova, path.display());
                }
            }
        }
        st.mapped.insert(key, usable);
        tracing::debug!(target: "ena_sim::pci_rig", "mapped {} pages of {}", n, path.display());
        Ok(n)
    }

    fn page_of(&self, pa: u64) -> Option<DmaRegion> {
        let key = pa & !(self.page_size as u64 - 1);
        self.pages
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned()
    }
}

impl DmaSpace for HugepageDma {
    fn lookup(&self, iova: u64) -> Option<DmaRegion> {
        if let Some(r) = self.page_of(iova) {
            return Some(r);
        }
        let mut st = self.scan.lock().unwrap_or_else(|e| e.into_inner());
        // Another thread may have found it while we waited for the lock.
        if let Some(r) = self.page_of(iova) {
            return Some(r);
        }
        let page = iova & !(self.page_size as u64 - 1);
        let repeated = st
            .last_miss
            .is_some_and(|(p, t)| p == page && t.elapsed() < self.rescan_interval);
        let recent = st
            .last_scan
            .is_some_and(|t| t.elapsed() < self.rescan_interval);
        st.last_miss = Some((page, Instant::now()));
        if repeated && recent {
            return None;
        }
        match self.scan_locked(&mut st) {
            Ok(0) => None,
            Ok(_) => self.page_of(iova),
            Err(e) => {
                tracing::error!(target: "ena_sim::pci_rig", "rescanning {} for DMA memory: {e}", self.dir.display());
                None
            }
        }
    }

    fn describe(&self) -> String {
        format!(
            "hugepage files {}/{}*: {} pages of {} KiB in {} files",
            self.dir.display(),
            self.name_prefix,
            self.pages(),
            self.page_size / 1024,
            self.files()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::host::HostDmaPool;
    use super::super::test_support::{hugepage_test_lock, hugepages_or_skip, skip};
    use super::*;
    use crate::dma::{Dma, DmaError};

    fn pattern(seed: u8, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| seed.wrapping_add((i * 7 % 251) as u8))
            .collect()
    }

    #[test]
    fn pci_rig_pagemap_reports_absent_and_present_pages() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            skip("physical addresses from /proc/self/pagemap need root");
            return;
        }
        let mut map = memmap2::MmapMut::map_anon(2 * BASE_PAGE).unwrap();
        let second = map.as_ptr() as usize + BASE_PAGE;
        // Untouched anonymous memory is not backed by any page yet.
        assert_eq!(pagemap_phys_addr(second).unwrap(), None);
        map[BASE_PAGE + 5] = 1;
        let pa = pagemap_phys_addr(second + 5)
            .unwrap()
            .expect("written page is present");
        assert_eq!(
            pa % BASE_PAGE as u64,
            5,
            "the offset within the page is kept"
        );
        assert!(pa >= BASE_PAGE as u64);
    }

    #[test]
    fn pci_rig_hugepage_dma_finds_host_memory_by_physical_address() {
        let _serial = hugepage_test_lock();
        let Some(res) = hugepages_or_skip(3) else {
            return;
        };
        let mut pool = HostDmaPool::new(res.dir(), "hdmafind", 2).unwrap();
        let ring = pool.alloc(4096, 4096).unwrap();
        let buf = pool.alloc(1500, 64).unwrap();
        let big = pool.alloc(HUGEPAGE_SIZE, HUGEPAGE_SIZE).unwrap(); // all of page 1
        assert!(ring.write(0, &pattern(1, 4096)));
        assert!(buf.write(0, &pattern(2, 1500)));
        assert!(big.write(HUGEPAGE_SIZE - 64, &pattern(3, 64)));

        // A long interval: misses within it must not rescan (checked below).
        let space = Arc::new(
            HugepageDma::new(res.dir(), pool.name_prefix())
                .unwrap()
                .with_rescan_interval(Duration::from_secs(3600)),
        );
        assert_eq!((space.pages(), space.files(), space.scans()), (2, 2, 1));
        let mut host_pages = pool.page_addresses();
        host_pages.sort_unstable();
        assert_eq!(space.physical_pages(), host_pages);

        let mut dma = Dma::new(space.clone());
        let mut got = vec![0u8; 4096];
        dma.read(ring.pa, &mut got).unwrap();
        assert_eq!(got, pattern(1, 4096));
        let mut got = vec![0u8; 1500];
        dma.read(buf.pa, &mut got).unwrap();
        assert_eq!(got, pattern(2, 1500));
        let mut got = vec![0u8; 64];
        dma.read(big.pa + HUGEPAGE_SIZE as u64 - 64, &mut got)
            .unwrap();
        assert_eq!(got, pattern(3, 64));

        // Device writes land in the host's memory.
        dma.write(buf.pa + 100, b"written by the device").unwrap();
        dma.store_u32_release(ring.pa + 16, 0xdead_beef).unwrap();
        assert_eq!(buf.read_vec(100, 21).unwrap(), b"written by the device");
        assert_eq!(ring.load_u32_acquire(16), Some(0xdead_beef));

        // A stray address rescans once; missing it again right away does not rescan again...
        let mut got = vec![0u8; 256];
        assert!(dma.read(0x7fff_0000_0000, &mut got).is_err());
        let scans = space.scans();
        assert!(dma.read(0x7fff_0000_0000, &mut got).is_err());
        assert_eq!(
            space.scans(),
            scans,
            "a repeated stray address right after a scan does not rescan"
        );
        // ... but the first miss of a page the host adds later rescans and finds it.
        pool.add_page().unwrap();
        let late = pool.alloc(256, 64).unwrap();
        assert!(late.write(0, &pattern(4, 256)));
        dma.read(late.pa, &mut got).unwrap();
        assert_eq!(got, pattern(4, 256));
        assert_eq!(space.scans(), scans + 1);
        assert_eq!((space.pages(), space.files()), (3, 3));
    }

    #[test]
    fn pci_rig_hugepage_dma_rescans_on_miss_and_reports_stray_addresses() {
        let _serial = hugepage_test_lock();
        let Some(res) = hugepages_or_skip(2) else {
            return;
        };
        let mut pool = HostDmaPool::new(res.dir(), "hdmamiss", 1).unwrap();
        let first = pool.alloc(HUGEPAGE_SIZE, HUGEPAGE_SIZE).unwrap(); // all of page 0
        let space = Arc::new(HugepageDma::new(res.dir(), pool.name_prefix()).unwrap());
        assert_eq!(space.pages(), 1);
        let mut dma = Dma::new(space.clone());

        // Like DPDK growing its heap: a new segment file after the device started.
        pool.add_page().unwrap();
        let late = pool.alloc(HUGEPAGE_SIZE, HUGEPAGE_SIZE).unwrap();
        assert!(late.write(HUGEPAGE_SIZE - 8, &[9, 8, 7, 6, 5, 4, 3, 2]));
        std::thread::sleep(DEFAULT_RESCAN_INTERVAL + Duration::from_millis(5));
        assert_eq!(
            dma.load_u64_acquire(late.pa + HUGEPAGE_SIZE as u64 - 8),
            Ok(0x0203_0405_0607_0809)
        );
        assert_eq!(space.scans(), 2);
        assert_eq!(dma.misses(), 0);
        assert_ne!(late.pa, first.pa);

        // An address above every mapped page: a counted miss, also after the rescan it causes.
        std::thread::sleep(DEFAULT_RESCAN_INTERVAL + Duration::from_millis(5));
        let stray = space.physical_pages().last().copied().unwrap() + HUGEPAGE_SIZE as u64 + 0x40;
        let mut byte = [0u8; 4];
        assert_eq!(
            dma.read(stray, &mut byte),
            Err(DmaError {
                iova: stray,
                len: 4
            })
        );
        assert_eq!(dma.misses(), 1);
        assert_eq!(
            dma.last_miss(),
            Some(DmaError {
                iova: stray,
                len: 4
            })
        );
        assert_eq!(space.scans(), 3);
        // Rescans never map a file twice.
        assert_eq!((space.pages(), space.files()), (2, 2));
        assert!(
            space.describe().contains("2 pages of 2048 KiB in 2 files"),
            "{}",
            space.describe()
        );
    }

    #[test]
    fn pci_rig_hugepage_dma_walks_multi_page_files() {
        let _serial = hugepage_test_lock();
        let Some(res) = hugepages_or_skip(3) else {
            return;
        };
        // One file, grown page by page as DPDK's --single-file-segments grows a memseg list.
        let path = res.dir().join("hdmasinglemap_0");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        file.set_len(HUGEPAGE_SIZE as u64).unwrap();
        let space = HugepageDma::for_dpdk(res.dir(), "hdmasingle").unwrap();
        assert_eq!((space.pages(), space.files()), (1, 1));

        file.set_len(3 * HUGEPAGE_SIZE as u64).unwrap();
        // SAFETY: a private test file; only this test touches it.
        let mut host = unsafe { memmap2::MmapOptions::new().populate().map_mut(&file) }.unwrap();
        let mut host_pas = Vec::new();
        for page in 0..3 {
            host[page * HUGEPAGE_SIZE + 12] = 0xa0 + page as u8;
            host_pas.push(
                pagemap_phys_addr(host.as_ptr() as usize + page * HUGEPAGE_SIZE)
                    .unwrap()
                    .unwrap(),
            );
        }
        assert_eq!(space.rescan().unwrap(), 2, "only the new tail is mapped");
        assert_eq!((space.pages(), space.files()), (3, 1));
        let space = Arc::new(space);
        let mut dma = Dma::new(space.clone());
        for (page, pa) in host_pas.iter().enumerate() {
            let mut b = [0u8; 1];
            dma.read(pa + 12, &mut b).unwrap();
            assert_eq!(b[0], 0xa0 + page as u8, "page {page}");
        }
        drop(host);
        drop(dma);
        drop(space);
        std::fs::remove_file(&path).unwrap();
    }
}
