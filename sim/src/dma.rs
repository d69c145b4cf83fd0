//! DMA: how the device reaches host memory.
//!
//! A [`DmaSpace`] answers one question — which host memory backs a device address (IOVA)? — and
//! keeps that memory alive while the device holds on to it. Two spaces exist: [`InProcessDma`],
//! an allocator whose addresses are deliberately *not* the virtual addresses (so a driver that
//! hands the device a pointer instead of an IOVA is caught at once), and the PCI rig's hugepage
//! space (physical addresses from `/proc/self/pagemap`).
//!
//! [`Dma`] is the device's accessor on top: it caches recently used regions, splits accesses
//! that straddle regions, and turns every address outside registered memory into a loud, counted
//! [`DmaError`] — a DMA miss means a driver bug, never a crash of the model.
//!
//! Ownership rule that makes the raw copies sound: the device touches only memory the driver has
//! handed to it (a posted buffer, a ring slot past the doorbell), and publishes its writes to the
//! driver with a release store of the word the driver polls (phase bit or req_id).
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// A contiguous piece of host memory reachable at `iova..iova + len`.
#[derive(Clone)]
pub struct DmaRegion {
    /// Device address of the first byte.
    pub iova: u64,
    /// Length in bytes.
    pub len: usize,
    ptr: *mut u8,
    _keep: Arc<dyn Send + Sync>,
}

// SAFETY: the region's memory is shared with the driver by design; every access goes through the
// methods of `Dma`, whose ownership rule is stated in the module docs. `_keep` keeps it mapped.
unsafe impl Send for DmaRegion {}
// SAFETY: as for Send.
unsafe impl Sync for DmaRegion {}

impl std::fmt::Debug for DmaRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DmaRegion({:#x}+{:#x})", self.iova, self.len)
    }
}

impl DmaRegion {
    /// Describes memory at `ptr..ptr + len` that the device reaches at `iova`.
    ///
    /// # Safety
    /// `ptr..ptr + len` must be valid, writable memory for as long as `keep` is alive, and other
    /// users of that memory must follow the ownership rule in the module docs.
    pub unsafe fn new(iova: u64, ptr: *mut u8, len: usize, keep: Arc<dyn Send + Sync>) -> Self {
        Self {
            iova,
            len,
            ptr,
            _keep: keep,
        }
    }

    /// Whether `iova` lies inside the region.
    #[inline]
    pub fn contains(&self, iova: u64) -> bool {
        iova >= self.iova && iova - self.iova < self.len as u64
    }

    /// Host pointer for `iova`, which must lie inside the region.
    #[inline]
    fn host(&self, iova: u64) -> *mut u8 {
        debug_assert!(self.contains(iova));
        // SAFETY: `iova` is inside the region (checked by every caller), so the offset is in
        // bounds of the allocation described at construction.
        unsafe { self.ptr.add((iova - self.iova) as usize) }
    }

    /// Host pointer of the first byte (for the owner of the memory, e.g. a driver platform).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }
}

/// Where device addresses lead.
pub trait DmaSpace: Send + Sync {
    /// The region containing `iova`, if any.
    fn lookup(&self, iova: u64) -> Option<DmaRegion>;
    /// A short description for error messages (e.g. "in-process, 3 regions").
    fn describe(&self) -> String;
}

/// A device address outside every registered region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("DMA miss: device address {iova:#x} (+{len} bytes) lies outside registered memory")]
pub struct DmaError {
    /// The address.
    pub iova: u64,
    /// The access length.
    pub len: usize,
}

/// The device's DMA accessor: cached region lookup, checked copies, ordered stores.
pub struct Dma {
    space: Arc<dyn DmaSpace>,
    cache: Vec<DmaRegion>,
    /// `(iova, len)` of each cached region, for the lookup to scan (empty slots: len 0).
    spans: [(u64, u64); CACHE_SLOTS],
    /// Index in `cache` of the region the last access used.
    last_hit: usize,
    misses: u64,
    last_miss: Option<DmaError>,
}

const CACHE_SLOTS: usize = 8;

impl Dma {
    /// An accessor over a space.
    pub fn new(space: Arc<dyn DmaSpace>) -> Self {
        Self {
            space,
            cache: Vec::with_capacity(CACHE_SLOTS),
            spans: [(0, 0); CACHE_SLOTS],
            last_hit: 0,
            misses: 0,
            last_miss: None,
        }
    }

    /// The underlying space.
    pub fn space(&self) -> &Arc<dyn DmaSpace> {
        &self.space
    }

    /// Number of DMA misses so far.
    pub fn misses(&self) -> u64 {
        self.misses
    }

    /// The most recent miss.
    pub fn last_miss(&self) -> Option<DmaError> {
        self.last_miss
    }

    /// Forgets cached regions (after a reset, or when the driver's memory changes).
    pub fn flush_cache(&mut self) {
        self.cache.clear();
        self.sync_spans();
    }

    /// The cached region holding `iova` (looked up in the space and cached if needed).
    #[inline(always)]
    fn region(&mut self, iova: u64) -> Option<usize> {
        // Consecutive accesses mostly land in the same region (a ring, then a buffer pool):
        // try the last hit, then scan the compact spans (an empty slot never matches).
        let inside = |(start, len): (u64, u64)| iova.wrapping_sub(start) < len;
        if inside(self.spans[self.last_hit]) {
            return Some(self.last_hit);
        }
        if let Some(i) = self.spans.iter().position(|&s| inside(s)) {
            self.last_hit = i;
            return Some(i);
        }
        self.region_from_space(iova)
    }

    #[cold]
    fn region_from_space(&mut self, iova: u64) -> Option<usize> {
        let r = self.space.lookup(iova)?;
        if self.cache.len() == CACHE_SLOTS {
            self.cache.remove(0);
        }
        self.cache.push(r);
        self.sync_spans();
        self.last_hit = self.cache.len() - 1;
        Some(self.last_hit)
    }

    fn sync_spans(&mut self) {
        self.spans = [(0, 0); CACHE_SLOTS];
        for (span, r) in self.spans.iter_mut().zip(&self.cache) {
            *span = (r.iova, r.len as u64);
        }
        self.last_hit = 0;
    }

    fn miss(&mut self, iova: u64, len: usize) -> DmaError {
        let e = DmaError { iova, len };
        self.misses += 1;
        self.last_miss = Some(e);
        tracing::error!(target: "ena_sim::dma", "{e} ({}); this is a driver bug", self.space.describe());
        e
    }

    /// Walks `iova..iova+len` region by region, calling `f(host_ptr, offset_in_access, chunk_len)`.
    #[inline]
    fn walk(
        &mut self,
        iova: u64,
        len: usize,
        mut f: impl FnMut(*mut u8, usize, usize),
    ) -> Result<(), DmaError> {
        let mut done = 0usize;
        while done < len {
            let at = iova
                .checked_add(done as u64)
                .ok_or(DmaError { iova, len })?;
            let Some(i) = self.region(at) else {
                return Err(self.miss(at, len - done));
            };
            let r = &self.cache[i];
            let avail = (r.iova + r.len as u64 - at) as usize;
            let n = avail.min(len - done);
            f(r.host(at), done, n);
            done += n;
        }
        Ok(())
    }

    /// Copies device memory at `iova` into `dst`.
    pub fn read(&mut self, iova: u64, dst: &mut [u8]) -> Result<(), DmaError> {
        let d = dst.as_mut_ptr();
        self.walk(iova, dst.len(), |src, off, n| {
            // SAFETY: `src..src+n` lies in a live region (walk checked it); `d+off..d+off+n` is
            // inside `dst`. The regions are host memory distinct from `dst`, a device-local buffer.
            unsafe { std::ptr::copy_nonoverlapping(src, d.add(off), n) }
        })
    }

    /// Copies `src` into device memory at `iova`.
    pub fn write(&mut self, iova: u64, src: &[u8]) -> Result<(), DmaError> {
        let s = src.as_ptr();
        self.walk(iova, src.len(), |dst, off, n| {
            // SAFETY: as in `read`, with the roles swapped; the driver handed this memory to the
            // device, so nobody else writes it concurrently.
            unsafe { std::ptr::copy_nonoverlapping(s.add(off), dst, n) }
        })
    }

    /// Fills `len` bytes at `iova` with `byte`.
    pub fn fill(&mut self, iova: u64, byte: u8, len: usize) -> Result<(), DmaError> {
        self.walk(iova, len, |dst, _, n| {
            // SAFETY: `dst..dst+n` lies in a live region handed to the device.
            unsafe { std::ptr::write_bytes(dst, byte, n) }
        })
    }

    /// Reads a plain-data value.
    pub fn read_obj<T: FromBytes + IntoBytes>(&mut self, iova: u64) -> Result<T, DmaError> {
        let mut v = T::new_zeroed();
        self.read(iova, v.as_mut_bytes())?;
        Ok(v)
    }

    /// Writes a plain-data value.
    pub fn write_obj<T: IntoBytes + Immutable>(
        &mut self,
        iova: u64,
        v: &T,
    ) -> Result<(), DmaError> {
        self.write(iova, v.as_bytes())
    }

    #[inline]
    fn aligned_ptr(&mut self, iova: u64, size: usize) -> Result<*mut u8, DmaError> {
        if !iova.is_multiple_of(size as u64) {
            return Err(self.miss(iova, size));
        }
        let Some(i) = self.region(iova) else {
            return Err(self.miss(iova, size));
        };
        Ok(self.cache[i].host(iova))
    }

    /// Stores a u32 with release ordering: everything written before becomes visible to a driver
    /// that acquires this word (the phase/status word of a completion).
    #[inline]
    pub fn store_u32_release(&mut self, iova: u64, v: u32) -> Result<(), DmaError> {
        let p = self.aligned_ptr(iova, 4)?;
        // SAFETY: aligned (checked) and inside a live region; an aligned 4-byte word cannot
        // straddle two regions because regions start at aligned addresses.
        unsafe { AtomicU32::from_ptr(p.cast()).store(v, Ordering::Release) };
        Ok(())
    }

    /// Stores a u16 with release ordering (the req_id of a readless-read response).
    #[inline]
    pub fn store_u16_release(&mut self, iova: u64, v: u16) -> Result<(), DmaError> {
        let p = self.aligned_ptr(iova, 2)?;
        // SAFETY: aligned and inside a live region, see `store_u32_release`.
        unsafe { AtomicU16::from_ptr(p.cast()).store(v, Ordering::Release) };
        Ok(())
    }

    /// Stores a byte with release ordering (the flags byte of a TX or admin completion).
    #[inline]
    pub fn store_u8_release(&mut self, iova: u64, v: u8) -> Result<(), DmaError> {
        let p = self.aligned_ptr(iova, 1)?;
        // SAFETY: inside a live region.
        unsafe { AtomicU8::from_ptr(p).store(v, Ordering::Release) };
        Ok(())
    }

    /// Loads a u16 with acquire ordering.
    #[inline]
    pub fn load_u16_acquire(&mut self, iova: u64) -> Result<u16, DmaError> {
        let p = self.aligned_ptr(iova, 2)?;
        // SAFETY: aligned and inside a live region.
        Ok(unsafe { AtomicU16::from_ptr(p.cast()).load(Ordering::Acquire) })
    }

    /// Loads a u32 with acquire ordering.
    #[inline]
    pub fn load_u32_acquire(&mut self, iova: u64) -> Result<u32, DmaError> {
        let p = self.aligned_ptr(iova, 4)?;
        // SAFETY: aligned and inside a live region.
        Ok(unsafe { AtomicU32::from_ptr(p.cast()).load(Ordering::Acquire) })
    }

    /// Loads a u64 with acquire ordering.
    #[inline]
    pub fn load_u64_acquire(&mut self, iova: u64) -> Result<u64, DmaError> {
        let p = self.aligned_ptr(iova, 8)?;
        // SAFETY: aligned and inside a live region.
        Ok(unsafe { AtomicU64::from_ptr(p.cast()).load(Ordering::Acquire) })
    }
}

/// Zeroed, page-aligned host memory handed out by [`InProcessDma`].
struct Allocation {
    map: memmap2::MmapMut,
}

/// A block of DMA memory from [`InProcessDma::alloc`]: where it lives for the host, and the
/// device address to hand the device.
#[derive(Clone, Debug)]
pub struct DmaAlloc {
    /// The region (host pointer, length, device address).
    pub region: DmaRegion,
}

impl DmaAlloc {
    /// Device address of the first byte.
    pub fn iova(&self) -> u64 {
        self.region.iova
    }
    /// Host address of the first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.region.ptr
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.region.len
    }
    /// Whether the block is empty.
    pub fn is_empty(&self) -> bool {
        self.region.len == 0
    }
}

/// The in-process DMA space: an allocator of zeroed, page-aligned blocks, each given a device
/// address in a private IOVA range that never equals its virtual address.
pub struct InProcessDma {
    regions: RwLock<Vec<DmaRegion>>,
    next_iova: AtomicU64,
}

/// First in-process device address (above 4 GiB, so 32-bit truncation bugs show too).
pub const IN_PROCESS_IOVA_BASE: u64 = 0x0000_1000_0000_0000;

impl Default for InProcessDma {
    fn default() -> Self {
        Self {
            regions: RwLock::new(Vec::new()),
            next_iova: AtomicU64::new(IN_PROCESS_IOVA_BASE),
        }
    }
}

impl InProcessDma {
    /// A new, empty space.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Allocates `len` zeroed bytes, page-aligned, with a device address aligned to `align`
    /// (at least 4096; 2 MiB-aligned blocks model hugepages).
    pub fn alloc(&self, len: usize, align: usize) -> std::io::Result<DmaAlloc> {
        let len = len.max(1).next_multiple_of(4096);
        let align = align.max(4096).next_power_of_two() as u64;
        let mut map = memmap2::MmapMut::map_anon(len)?;
        let ptr = map.as_mut_ptr();
        // Leave a one-page hole after every block so an overrun is a DMA miss, not silent reuse.
        let mut iova = 0;
        let _ = self
            .next_iova
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |next| {
                iova = next.next_multiple_of(align);
                Some(iova + len as u64 + 4096)
            });
        let keep: Arc<dyn Send + Sync> = Arc::new(Allocation { map });
        // SAFETY: `ptr..ptr+len` is the anonymous mapping now owned by `keep`.
        let region = unsafe { DmaRegion::new(iova, ptr, len, keep) };
        self.regions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(region.clone());
        Ok(DmaAlloc { region })
    }

    /// Removes a block from the device's reach. The memory itself stays alive until the last
    /// holder (the allocation and any device cache) drops it, so a late device access cannot
    /// touch freed memory; later lookups of its addresses are DMA misses.
    pub fn release(&self, alloc: &DmaAlloc) {
        self.regions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|r| r.iova != alloc.region.iova);
    }

    /// Number of live blocks.
    pub fn allocations(&self) -> usize {
        self.regions.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl DmaSpace for InProcessDma {
    fn lookup(&self, iova: u64) -> Option<DmaRegion> {
        self.regions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|r| r.contains(iova))
            .cloned()
    }

    fn describe(&self) -> String {
        format!("in-process, {} blocks", self.allocations())
    }
}

impl std::fmt::Debug for Allocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Allocation({} bytes)", self.map.len())
    }
}
