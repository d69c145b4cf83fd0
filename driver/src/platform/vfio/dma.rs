//! DMA memory for a VFIO device, in both modes.
//!
//! - **IOMMU (type1v2)**: [`IommuDmaAllocator`] carves regions out of 2 MiB hugepages and maps
//!   each page into the container's IOMMU with `VFIO_IOMMU_MAP_DMA`, IOVA = the page's virtual
//!   address (DPDK's "IOVA as VA"): device and driver then use the same number, and no physical
//!   address is ever needed, so no privilege beyond access to the group. The page is unmapped
//!   from the IOMMU (`VFIO_IOMMU_UNMAP_DMA`) when its last region drops. Where the IOMMU cannot
//!   take the virtual address (its valid IOVA ranges, e.g. a 39-bit VT-d, do not cover it) the
//!   page gets the next free 2 MiB-aligned IOVA from the ranges instead; the kernel refuses an
//!   overlapping mapping (EEXIST), so a clash is an error, never silent sharing.
//! - **no-IOMMU**: the device sees physical addresses, exactly as with uio, so the PCI
//!   platform's [`HugepageAllocator`] (IOVA = physical address from `/proc/self/pagemap`) serves
//!   as is; [`noiommu_allocator`] only rewords its privilege error for this mode.
//!
//! The IOMMU is reached through the [`DmaMapper`] trait (the container implements it), so the
//! allocation and map/unmap bookkeeping is tested on real hugepages without VFIO.
#![allow(unsafe_code)]

use super::region::IovaRange;
use crate::error::{Error, Result};
use crate::mem::hugepage::{pagemap_phys_addr, HugepageAllocator, HUGEPAGE_SIZE};
use crate::mem::DmaRegion;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

/// `HUGETLBFS_MAGIC` (Linux `include/uapi/linux/magic.h`).
const HUGETLBFS_MAGIC: u64 = 0x9584_58f6;

/// What the allocator needs from an IOMMU: map and unmap a range of this process's memory.
pub trait DmaMapper: Send + Sync {
    /// Makes `size` bytes at virtual address `vaddr` reachable by the device at `iova`.
    fn map_dma(&self, vaddr: u64, iova: u64, size: u64) -> io::Result<()>;
    /// Removes the mapping made at `iova`.
    fn unmap_dma(&self, iova: u64, size: u64) -> io::Result<()>;
}

/// Picks the IOVA for `len` bytes at virtual address `va`: `va` itself if the IOMMU accepts it
/// (`ranges` `None` means it accepts anything), else the first `len`-aligned address at or
/// after `*cursor` (and at or above `len`, to keep IOVA 0 unused) inside one of `ranges`;
/// `*cursor` then moves past it. `None` if nothing fits.
pub fn choose_iova(
    va: u64,
    len: u64,
    ranges: Option<&[IovaRange]>,
    cursor: &mut u64,
) -> Option<u64> {
    let Some(ranges) = ranges else {
        return Some(va);
    };
    if ranges.iter().any(|r| r.contains(va, len)) {
        return Some(va);
    }
    let align = len.max(1).next_power_of_two();
    for r in ranges {
        let from = r.start.max(*cursor).max(align);
        let Some(iova) = from.checked_next_multiple_of(align) else {
            continue;
        };
        if r.contains(iova, len) {
            *cursor = iova + len;
            return Some(iova);
        }
    }
    None
}

/// The IOVA ranges a device that drives only `bits` address bits can use: `ranges` (`None`:
/// anything) cut to `[0, 2^bits)`. `bits` `None` (or 64) leaves them as they are.
pub fn clip_iova_ranges(ranges: Option<&[IovaRange]>, bits: Option<u32>) -> Option<Vec<IovaRange>> {
    let max = match bits {
        Some(b) if b < 64 => (1u64 << b) - 1,
        _ => return ranges.map(<[IovaRange]>::to_vec),
    };
    let all = [IovaRange {
        start: 0,
        end: u64::MAX,
    }];
    Some(
        ranges
            .unwrap_or(&all)
            .iter()
            .filter(|r| r.start <= max)
            .map(|r| IovaRange {
                start: r.start,
                end: r.end.min(max),
            })
            .collect(),
    )
}

/// Checks that `dir` is a hugetlbfs mount of 2 MiB pages.
pub fn check_hugetlbfs(dir: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let not_mounted = || {
        Error::NoMemory(format!(
            "no hugepages: {} is not a hugetlbfs mount; mount one with `mount -t hugetlbfs \
             -o pagesize=2M nodev {}` and reserve pages with `echo <n> > /proc/sys/vm/nr_hugepages`",
            dir.display(),
            dir.display()
        ))
    };
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(|_| not_mounted())?;
    // SAFETY: statfs is plain old data for which all-zero bytes are a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated string and `st` a writable statfs; both outlive the call.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::NotFound {
            return Err(not_mounted());
        }
        return Err(Error::io(format!("statfs {}", dir.display()), e));
    }
    // f_type's signedness and width differ between targets; the magic is a 32-bit value.
    #[allow(clippy::unnecessary_cast)]
    let (kind, page) = ((st.f_type as u64) & 0xffff_ffff, st.f_bsize as u64);
    if kind != HUGETLBFS_MAGIC {
        return Err(not_mounted());
    }
    if page != HUGEPAGE_SIZE as u64 {
        return Err(Error::NoMemory(format!(
            "{} is a hugetlbfs mount of {} KiB pages; the driver needs 2 MiB pages (mount one \
             with `mount -t hugetlbfs -o pagesize=2M nodev <dir>`)",
            dir.display(),
            page / 1024
        )));
    }
    Ok(())
}

/// One hugepage mapped into the IOMMU: the backing of every region cut from it.
struct IommuPage {
    map: memmap2::MmapMut,
    iova: u64,
    mapper: Arc<dyn DmaMapper>,
}

impl Drop for IommuPage {
    fn drop(&mut self) {
        // Out of the IOMMU first, so the device can no longer reach the page once it is freed.
        if let Err(e) = self.mapper.unmap_dma(self.iova, HUGEPAGE_SIZE as u64) {
            tracing::warn!(target: "ena::vfio", "VFIO_IOMMU_UNMAP_DMA iova {:#x}: {e}", self.iova);
        }
    }
}

struct IommuState {
    page: Option<Arc<IommuPage>>,
    used: usize,
    next_index: u64,
    pages_mapped: u64,
    fallback_cursor: u64,
}

/// Allocates zeroed DMA memory from 2 MiB hugepages mapped into an IOMMU, IOVA = VA where
/// possible (see the module docs). Bump allocation inside the current page, never crossing a
/// page, as [`HugepageAllocator`] does.
pub struct IommuDmaAllocator {
    dir: PathBuf,
    file_prefix: String,
    mapper: Arc<dyn DmaMapper>,
    ranges: Option<Vec<IovaRange>>,
    state: Mutex<IommuState>,
}

impl std::fmt::Debug for IommuDmaAllocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IommuDmaAllocator")
            .field("dir", &self.dir)
            .field("file_prefix", &self.file_prefix)
            .field("pages_mapped", &self.pages_mapped())
            .finish_non_exhaustive()
    }
}

impl IommuDmaAllocator {
    /// An allocator making (and at once unlinking) page files `<dir>/<prefix>iommu_<n>` in the
    /// hugetlbfs mount `dir`, mapping them through `mapper`, whose valid IOVA ranges are
    /// `ranges` (`None`: not reported, any address). Checks the mount; maps no page yet.
    pub fn new(
        dir: &Path,
        prefix: &str,
        mapper: Arc<dyn DmaMapper>,
        ranges: Option<Vec<IovaRange>>,
    ) -> Result<Self> {
        if prefix.contains('/') || prefix.contains('\0') {
            return Err(Error::Config(format!(
                "hugepage file prefix {prefix:?} must be a plain file name prefix"
            )));
        }
        check_hugetlbfs(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            file_prefix: format!("{prefix}iommu_"),
            mapper,
            ranges,
            state: Mutex::new(IommuState {
                page: None,
                used: 0,
                next_index: 0,
                pages_mapped: 0,
                fallback_cursor: 0,
            }),
        })
    }

    /// Pages mapped into the IOMMU so far (including ones already released).
    pub fn pages_mapped(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pages_mapped
    }

    /// `len` zeroed bytes aligned to `align` (a power of two; 0 means 1) in host and device
    /// address, inside one hugepage.
    pub fn alloc(&self, len: usize, align: usize) -> Result<DmaRegion> {
        let align = align.max(1);
        if len == 0 || len > HUGEPAGE_SIZE {
            return Err(Error::Config(format!(
                "DMA request of {len} bytes: must be 1 byte to one 2 MiB hugepage"
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
        let va = NonNull::new(page.map.as_ptr().wrapping_add(off).cast_mut())
            .ok_or_else(|| Error::NoMemory("hugepage mapped at address 0".into()))?;
        let iova = page.iova + off as u64;
        // SAFETY: `off + len <= HUGEPAGE_SIZE` (checked by `fits`, or a fresh page), so
        // `va..va + len` lies in the page's shared mapping, which `page` (the backing) keeps
        // mapped; the bytes are zero (a fresh hugepage, never handed out before); the page is
        // mapped into the IOMMU at `page.iova` for its whole length until `page` drops.
        Ok(unsafe { DmaRegion::new(va, iova, len, page) })
    }

    fn new_page(&self, st: &mut IommuState) -> Result<IommuPage> {
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
                    io::ErrorKind::AlreadyExists => " (another allocator uses this prefix)",
                    io::ErrorKind::PermissionDenied => {
                        " (hugetlbfs mounts are usually writable by root only)"
                    }
                    _ => "",
                };
                Error::io(
                    format!("creating hugepage file {}{hint}", path.display()),
                    e,
                )
            })?;
        // Nothing else needs the name (the IOMMU, not a peer process, gives the device its
        // view), so the file goes at once: a crash leaves no stale page behind.
        let mapped = file
            .set_len(HUGEPAGE_SIZE as u64)
            .map_err(|e| Error::io(format!("sizing hugepage file {}", path.display()), e))
            .and_then(|()| {
                // SAFETY: a file this allocator just created exclusively and unlinks below;
                // nobody else can open or truncate it.
                unsafe {
                    memmap2::MmapOptions::new()
                        .len(HUGEPAGE_SIZE)
                        .populate()
                        .map_mut(&file)
                }
                .map_err(|e| {
                    if e.raw_os_error() == Some(libc::ENOMEM) {
                        Error::NoMemory(format!(
                            "no free 2 MiB hugepage for {}; reserve more with `echo <n> > \
                             /proc/sys/vm/nr_hugepages`",
                            path.display()
                        ))
                    } else {
                        Error::io(format!("mapping hugepage file {}", path.display()), e)
                    }
                })
            });
        let _ = std::fs::remove_file(&path);
        let map = mapped?;
        let va = map.as_ptr() as u64;
        let len = HUGEPAGE_SIZE as u64;
        let iova = choose_iova(va, len, self.ranges.as_deref(), &mut st.fallback_cursor)
            .ok_or_else(|| {
                Error::NoMemory(format!(
                    "no IOVA left for a 2 MiB page in the IOMMU's ranges {:x?}",
                    self.ranges
                ))
            })?;
        if iova != va {
            tracing::info!(target: "ena::vfio", "virtual address {va:#x} is outside the IOMMU's IOVA ranges; mapping the page at IOVA {iova:#x}");
        }
        self.mapper.map_dma(va, iova, len).map_err(|e| {
            let hint = match e.raw_os_error() {
                Some(libc::ENOMEM) => {
                    " (the locked-memory limit is too small for DMA memory: raise `ulimit -l` \
                     or run as root)"
                }
                Some(libc::EINVAL) => " (the IOVA is outside what the IOMMU accepts)",
                Some(libc::EEXIST) => " (the IOVA is already mapped)",
                _ => "",
            };
            Error::io(
                format!("VFIO_IOMMU_MAP_DMA of {va:#x} at IOVA {iova:#x} (2 MiB){hint}"),
                e,
            )
        })?;
        st.pages_mapped += 1;
        tracing::debug!(target: "ena::vfio", "hugepage {va:#x} mapped at IOVA {iova:#x}");
        Ok(IommuPage {
            map,
            iova,
            mapper: self.mapper.clone(),
        })
    }
}

/// The hugepage allocator for no-IOMMU mode (IOVA = physical address). The mount and the
/// pagemap are checked here first, so that their errors are said for this mode.
pub fn noiommu_allocator(dir: &Path, prefix: &str) -> Result<HugepageAllocator> {
    check_hugetlbfs(dir)?;
    // Without CAP_SYS_ADMIN the kernel reports every frame number as 0.
    let probe = Box::new(std::hint::black_box(0x5a5a_5a5a_u64));
    if let Err(e) = pagemap_phys_addr(std::hint::black_box(&*probe) as *const u64 as usize) {
        if e.kind() == io::ErrorKind::PermissionDenied {
            return Err(Error::io(NOIOMMU_PAGEMAP_HIDDEN, e));
        }
    }
    HugepageAllocator::new(dir, prefix)
}

/// The error when `/proc/self/pagemap` hides physical addresses in no-IOMMU mode.
pub const NOIOMMU_PAGEMAP_HIDDEN: &str =
    "no-IOMMU mode gives the device physical addresses, but /proc/self/pagemap reports them as 0: \
     reading them needs CAP_SYS_ADMIN (and opening a no-IOMMU group CAP_SYS_RAWIO); run as root";
