//! A test-side host for the rig: plays the driver's part so the device model can be tested
//! through the same files a real driver uses, before (and besides) our real driver.
//!
//! - [`RigHost`] maps the BARs through the `resource<i>` symlinks (as DPDK does), flips INTx
//!   disable in config space (as `rte_intr_enable`/`rte_intr_disable` do with `uio_pci_generic`)
//!   and reads interrupt events from the FIFO.
//! - [`HostDmaPool`] allocates DMA memory the way DPDK's EAL does in IOVA-as-PA mode: one
//!   hugetlbfs file per 2 MiB page, named `<prefix>map_<n>`, mapped shared and locked, with the
//!   page's physical address from `/proc/self/pagemap`. [`HostDmaPool::alloc`] hands out
//!   [`HostDma`] blocks, never crossing a page, so each block is physically contiguous.
//!
//! Ownership rule (as in `crate::dma`): the host touches a block only while it has not handed it
//! to the device, or after the device has published its write (the host's acquire load of a
//! phase bit or req_id pairs with the device's release store).
#![allow(unsafe_code)]

use super::fifo_irq::fifo_unread;
use super::hugepage_dma::{hugetlbfs_page_size, pagemap_phys_addr};
use super::sysfs::{map_bar_file, Rig, CONFIG_COMMAND, CONFIG_INTX_BYTE, CONFIG_INTX_DISABLE_BIT};
use crate::bar::BarMemory;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The driver's side of a [`Rig`]: its BARs, config space and interrupt FIFO.
#[derive(Debug)]
pub struct RigHost {
    bar0: BarMemory,
    bar2: Option<BarMemory>,
    config: File,
    fifo: File,
}

impl RigHost {
    /// Opens the rig's files as a uio driver would.
    pub fn attach(rig: &Rig) -> io::Result<Self> {
        let bar0 = map_bar_file(&rig.bar_file(0))?;
        let bar2 = if rig.config().bar2_size > 0 {
            Some(map_bar_file(&rig.bar_file(2))?)
        } else {
            None
        };
        let config = OpenOptions::new()
            .read(true)
            .write(true)
            .open(rig.config_path())?;
        let fifo = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(rig.fifo_path())?;
        Ok(Self {
            bar0,
            bar2,
            config,
            fifo,
        })
    }

    /// BAR0, the registers.
    pub fn bar0(&self) -> &BarMemory {
        &self.bar0
    }

    /// BAR2, the LLQ memory, if the rig has one.
    pub fn bar2(&self) -> Option<&BarMemory> {
        self.bar2.as_ref()
    }

    /// The PCI command register.
    pub fn command(&self) -> io::Result<u16> {
        let mut b = [0u8; 2];
        self.config.read_exact_at(&mut b, CONFIG_COMMAND)?;
        Ok(u16::from_le_bytes(b))
    }

    /// Sets or clears INTx disable, touching only that byte of config space (as DPDK does).
    pub fn set_intx_disabled(&self, disabled: bool) -> io::Result<()> {
        let mut b = [0u8; 1];
        self.config.read_exact_at(&mut b, CONFIG_INTX_BYTE)?;
        if disabled {
            b[0] |= CONFIG_INTX_DISABLE_BIT;
        } else {
            b[0] &= !CONFIG_INTX_DISABLE_BIT;
        }
        self.config.write_all_at(&b, CONFIG_INTX_BYTE)
    }

    /// Consumes one pending interrupt event without waiting: its uio event count, or `None`.
    pub fn take_interrupt(&self) -> io::Result<Option<u32>> {
        if fifo_unread(&self.fifo)? < 4 {
            return Ok(None);
        }
        let mut b = [0u8; 4];
        (&self.fifo).read_exact(&mut b)?;
        Ok(Some(u32::from_ne_bytes(b)))
    }

    /// Waits up to `timeout` for an interrupt event and consumes it.
    pub fn wait_interrupt(&self, timeout: Duration) -> io::Result<Option<u32>> {
        let mut pfd = libc::pollfd {
            fd: self.fifo.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd, living across the call.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        self.take_interrupt()
    }
}

/// One hugepage file of a [`HostDmaPool`].
#[derive(Debug)]
struct HostPage {
    path: PathBuf,
    pa: u64,
    ptr: *mut u8,
    map: Arc<memmap2::MmapMut>,
}

/// DMA memory the way a uio driver gets it: named hugepage files with physical addresses.
#[derive(Debug)]
pub struct HostDmaPool {
    dir: PathBuf,
    name_prefix: String,
    page_size: usize,
    pages: Vec<HostPage>,
    /// Next free byte: (page index, offset in page).
    cursor: (usize, usize),
}

// SAFETY: the raw page pointers point into mappings the pool owns (through `map`); the pool hands
// out access only through `HostDma`, whose accesses follow the module's ownership rule.
unsafe impl Send for HostDmaPool {}

impl HostDmaPool {
    /// Creates `pages` page files `<dir>/<prefix>map_<n>` in the hugetlbfs directory `dir`.
    pub fn new(dir: &Path, prefix: &str, pages: usize) -> io::Result<Self> {
        let page_size = hugetlbfs_page_size(dir)?;
        if prefix.is_empty() || prefix.contains('/') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad file prefix {prefix:?}"),
            ));
        }
        let mut pool = Self {
            dir: dir.to_owned(),
            name_prefix: format!("{prefix}map_"),
            page_size,
            pages: Vec::with_capacity(pages),
            cursor: (0, 0),
        };
        for _ in 0..pages {
            pool.add_page()?;
        }
        Ok(pool)
    }

    /// The file name prefix of the pages (`<prefix>map_`), for [`super::HugepageDma::new`].
    pub fn name_prefix(&self) -> &str {
        &self.name_prefix
    }

    /// Number of pages.
    pub fn pages(&self) -> usize {
        self.pages.len()
    }

    /// The page size.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// Physical address of each page, in creation order.
    pub fn page_addresses(&self) -> Vec<u64> {
        self.pages.iter().map(|p| p.pa).collect()
    }

    /// Adds one page file (as DPDK does when its heap grows). Returns its index.
    pub fn add_page(&mut self) -> io::Result<usize> {
        let index = self.pages.len();
        let path = self.dir.join(format!("{}{index}", self.name_prefix));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("creating {} (stale file?): {e}", path.display()),
                )
            })?;
        // From here on a failure must not leave the file behind.
        let result = self.map_page(&file, &path);
        if result.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        let (pa, ptr, map) = result?;
        self.pages.push(HostPage { path, pa, ptr, map });
        Ok(index)
    }

    fn map_page(
        &self,
        file: &File,
        path: &Path,
    ) -> io::Result<(u64, *mut u8, Arc<memmap2::MmapMut>)> {
        file.set_len(self.page_size as u64)?;
        // SAFETY: a file this pool just created; it is shared with the device by design, under
        // the module's ownership rule.
        let mut map = unsafe {
            memmap2::MmapOptions::new()
                .len(self.page_size)
                .populate()
                .map_mut(file)
        }
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("mapping {} (no free hugepage?): {e}", path.display()),
            )
        })?;
        map.lock()
            .map_err(|e| io::Error::new(e.kind(), format!("locking {}: {e}", path.display())))?;
        let ptr = map.as_mut_ptr();
        // MAP_POPULATE faulted the page in; a write makes sure (a fresh hugepage reads as zero).
        map[0] = 0;
        let pa = pagemap_phys_addr(ptr as usize)?.ok_or_else(|| {
            io::Error::other(format!(
                "{} is not in memory after populating it",
                path.display()
            ))
        })?;
        Ok((pa, ptr, Arc::new(map)))
    }

    /// Allocates `len` bytes aligned to `align` (a power of two) from the current page, or from
    /// the next one when it does not fit; blocks never cross a page. Memory is zeroed (fresh
    /// hugepages) and never reused.
    pub fn alloc(&mut self, len: usize, align: usize) -> io::Result<HostDma> {
        let align = align.max(1);
        if len == 0 || len > self.page_size || !align.is_power_of_two() || align > self.page_size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot allocate {len} bytes aligned to {align} within {}-byte pages",
                    self.page_size
                ),
            ));
        }
        let (mut page, mut off) = self.cursor;
        loop {
            if page >= self.pages.len() {
                return Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!(
                        "DMA pool of {} pages is exhausted (add_page)",
                        self.pages.len()
                    ),
                ));
            }
            off = off.next_multiple_of(align);
            if off + len <= self.page_size {
                break;
            }
            page += 1;
            off = 0;
        }
        self.cursor = (page, off + len);
        let p = &self.pages[page];
        // SAFETY: `off + len <= page_size`, inside the page's mapping.
        let ptr = unsafe { p.ptr.add(off) };
        Ok(HostDma {
            pa: p.pa + off as u64,
            len,
            ptr,
            _keep: p.map.clone(),
        })
    }
}

impl Drop for HostDmaPool {
    fn drop(&mut self) {
        for p in &self.pages {
            if let Err(e) = std::fs::remove_file(&p.path) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(target: "ena_sim::pci_rig", "removing {}: {e}", p.path.display());
                }
            }
        }
    }
}

/// A block of host DMA memory: physically contiguous, reachable by the device at `pa`.
#[derive(Debug, Clone)]
pub struct HostDma {
    /// Physical (device) address of the first byte.
    pub pa: u64,
    /// Length in bytes.
    pub len: usize,
    ptr: *mut u8,
    _keep: Arc<memmap2::MmapMut>,
}

// SAFETY: `ptr..ptr + len` lies in the mapping kept alive by `_keep`; all accesses go through the
// bounds-checked methods below and follow the module's ownership rule.
unsafe impl Send for HostDma {}
// SAFETY: as for Send.
unsafe impl Sync for HostDma {}

impl HostDma {
    /// Host address of the first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Physical address of byte `off`, if inside the block.
    pub fn pa_at(&self, off: usize) -> Option<u64> {
        (off < self.len).then(|| self.pa + off as u64)
    }

    fn range(&self, off: usize, n: usize) -> Option<*mut u8> {
        // SAFETY: checked to lie inside the block.
        (off.checked_add(n)? <= self.len).then(|| unsafe { self.ptr.add(off) })
    }

    /// Copies `src` to byte `off`; false if it does not fit.
    pub fn write(&self, off: usize, src: &[u8]) -> bool {
        let Some(p) = self.range(off, src.len()) else {
            return false;
        };
        // SAFETY: `p..p + len` is inside the block (checked); `src` is a distinct local buffer.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), p, src.len()) };
        true
    }

    /// Copies from byte `off` into `dst`; false if out of range.
    pub fn read(&self, off: usize, dst: &mut [u8]) -> bool {
        let Some(p) = self.range(off, dst.len()) else {
            return false;
        };
        // SAFETY: as in `write`, the other way round.
        unsafe { std::ptr::copy_nonoverlapping(p, dst.as_mut_ptr(), dst.len()) };
        true
    }

    /// `len` bytes from `off`, or `None` if out of range.
    pub fn read_vec(&self, off: usize, len: usize) -> Option<Vec<u8>> {
        let mut v = vec![0u8; len];
        self.read(off, &mut v).then_some(v)
    }

    /// Fills the whole block with `byte`.
    pub fn fill(&self, byte: u8) {
        // SAFETY: the whole block.
        unsafe { std::ptr::write_bytes(self.ptr, byte, self.len) }
    }

    fn aligned(&self, off: usize, size: usize) -> Option<*mut u8> {
        let p = self.range(off, size)?;
        (p as usize).is_multiple_of(size).then_some(p)
    }

    /// Loads an aligned u32 with acquire ordering (a status word the device publishes).
    pub fn load_u32_acquire(&self, off: usize) -> Option<u32> {
        let p = self.aligned(off, 4)?;
        // SAFETY: aligned and inside the block; the memory is shared, hence atomic access.
        Some(unsafe { AtomicU32::from_ptr(p.cast()) }.load(Ordering::Acquire))
    }

    /// Stores an aligned u32 with release ordering; false if misaligned or out of range.
    pub fn store_u32_release(&self, off: usize, v: u32) -> bool {
        let Some(p) = self.aligned(off, 4) else {
            return false;
        };
        // SAFETY: aligned and inside the block.
        unsafe { AtomicU32::from_ptr(p.cast()) }.store(v, Ordering::Release);
        true
    }

    /// Loads an aligned u16 with acquire ordering (a readless-read response's req_id).
    pub fn load_u16_acquire(&self, off: usize) -> Option<u16> {
        let p = self.aligned(off, 2)?;
        // SAFETY: aligned and inside the block.
        Some(unsafe { AtomicU16::from_ptr(p.cast()) }.load(Ordering::Acquire))
    }

    /// Loads a byte with acquire ordering (a completion's phase/flags byte).
    pub fn load_u8_acquire(&self, off: usize) -> Option<u8> {
        let p = self.range(off, 1)?;
        // SAFETY: inside the block.
        Some(unsafe { AtomicU8::from_ptr(p) }.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{hugepage_test_lock, hugepages_or_skip};
    use super::*;

    #[test]
    fn pci_rig_host_pool_allocates_within_pages() {
        let _serial = hugepage_test_lock();
        let Some(res) = hugepages_or_skip(2) else {
            return;
        };
        let mut pool = HostDmaPool::new(res.dir(), "hostalloc", 2).unwrap();
        assert_eq!(pool.name_prefix(), "hostallocmap_");
        assert!(
            res.dir().join("hostallocmap_0").exists() && res.dir().join("hostallocmap_1").exists()
        );
        let pages = pool.page_addresses();
        assert_eq!(pages.len(), 2);
        assert!(pages.iter().all(|pa| pa % (2 << 20) == 0), "{pages:x?}");
        assert_ne!(pages[0], pages[1]);

        let a = pool.alloc(100, 64).unwrap();
        let b = pool.alloc(8, 4096).unwrap();
        assert_eq!(a.pa, pages[0]);
        assert_eq!(b.pa, pages[0] + 4096);
        // Does not fit the rest of page 0: starts page 1 instead of straddling.
        let c = pool.alloc((2 << 20) - 4096, 8).unwrap();
        assert_eq!(c.pa, pages[1]);
        assert_eq!(
            pool.alloc(8192, 8).unwrap_err().kind(),
            io::ErrorKind::OutOfMemory
        );
        assert_eq!(
            pool.alloc(0, 8).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            pool.alloc(3 << 20, 8).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );

        assert_eq!(
            a.read_vec(0, 100).unwrap(),
            vec![0u8; 100],
            "fresh hugepages are zero"
        );
        assert!(a.write(96, &[1, 2, 3, 4]));
        assert!(!a.write(97, &[1, 2, 3, 4]), "past the end");
        assert_eq!(
            a.load_u32_acquire(96),
            Some(u32::from_le_bytes([1, 2, 3, 4]))
        );
        assert_eq!(a.load_u32_acquire(97), None, "misaligned");
        assert!(b.store_u32_release(4, 0xfeed_f00d));
        assert_eq!(b.load_u16_acquire(6), Some(0xfeed));
        assert_eq!(b.load_u8_acquire(4), Some(0x0d));
        assert_eq!(a.pa_at(99), Some(pages[0] + 99));
        assert_eq!(a.pa_at(100), None);
        // The PA the pool reports is the page's real physical address.
        assert_eq!(
            pagemap_phys_addr(c.as_ptr() as usize + 5).unwrap(),
            Some(pages[1] + 5)
        );

        let dir = res.dir().to_owned();
        drop(pool);
        assert!(
            !dir.join("hostallocmap_0").exists(),
            "the pool removes its files"
        );
        // Blocks outlive the pool: their mapping stays until the last one goes.
        assert_eq!(c.load_u8_acquire(0), Some(0));
    }

    #[test]
    fn pci_rig_host_pool_refuses_stale_files() {
        let _serial = hugepage_test_lock();
        let Some(res) = hugepages_or_skip(1) else {
            return;
        };
        File::create(res.dir().join("stalemap_0")).unwrap();
        let err = HostDmaPool::new(res.dir(), "stale", 1).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert!(err.to_string().contains("stale"), "{err}");
        std::fs::remove_file(res.dir().join("stalemap_0")).unwrap();
        assert!(
            HostDmaPool::new(Path::new("/proc"), "x", 1).is_err(),
            "not hugetlbfs"
        );
    }
}
