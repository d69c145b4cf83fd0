//! The PCI rig: the device model behind a fake PCI device that unmodified drivers attach to.
//!
//! Amazon's DPDK ENA PMD (DPDK 22.11, driver `net_ena`) only talks to hardware through three
//! things: the BARs it `mmap`s from sysfs `resource<i>` files, DMA addresses that are physical
//! addresses of its hugepages, and the uio interrupt fd. Each can be provided by ordinary files,
//! so the PMD — and later our own driver, through the same platform layer — drives this crate's
//! device model with no kernel support at all (the project's `dpdk-peer-rig.md` describes how this
//! was found and verified):
//!
//! ```text
//!  <rig dir>/                                   SYSFS_PCI_DEVICES=<rig dir>/pci
//!  ├── pci/0000:00:10.0/                        one "PCI function", as DPDK's bus scan reads it
//!  │   ├── vendor  device  subsystem_vendor     0x1d0f 0xec20 0x1d0f   (hex text)
//!  │   ├── subsystem_device  class  numa_node   0xec20 0x020000 0      (class bit 0: readless off)
//!  │   ├── resource                             13 lines "start end flags"; BAR0, BAR2 are memory
//!  │   ├── resource0 ──────────► /dev/shm/<prefix>-bar0   16 KiB register BAR  ┐ mmap MAP_SHARED
//!  │   ├── resource2 ──────────► /dev/shm/<prefix>-bar2    1 MiB LLQ BAR       ┘ by driver + device
//!  │   ├── driver ─────────────► …/uio_pci_generic        only the basename matters
//!  │   └── uio/uio0/                            tells DPDK which /dev/uioN to open
//!  ├── classuio/uio0/device/config              256-byte config space; bind-mounted at
//!  │                                            /sys/class/uio in a private mount namespace.
//!  │                                            Command byte 5 bit 2 = INTx disable (the driver's
//!  │                                            rte_intr_enable/disable flip it)
//!  └── uio0.fifo                                /dev/uio0 links here: each 4-byte write is one
//!                                               interrupt (DPDK epolls and reads 4 bytes)
//!
//!  <hugetlbfs dir>/<file-prefix>map_<n>         the driver's DMA memory, one 2 MiB page per file;
//!                                               the device maps the same files and finds each
//!                                               page's physical address in /proc/self/pagemap
//! ```
//!
//! The pieces:
//! - [`sysfs`]: [`Rig`] builds (and on drop removes) the fake device tree, and maps the BARs as
//!   [`BarMemory`](crate::bar::BarMemory).
//! - [`hugepage_dma`]: [`HugepageDma`], the device's [`DmaSpace`](crate::dma::DmaSpace) in which
//!   device addresses are physical addresses of hugepage files.
//! - [`fifo_irq`]: [`FifoIrq`], the [`IrqLine`](crate::irq::IrqLine) that writes the FIFO, honours
//!   INTx disable and coalesces like the kernel's uio event counter.
//! - [`hugepages`]: [`HugepageReservation`], which reserves 2 MiB pages and mounts a private
//!   hugetlbfs, and gives both back afterwards.
//! - [`host`]: [`RigHost`] and [`HostDmaPool`], a small client that plays the driver's side of the
//!   rig in tests of the model.
//!
//! Everything here needs Linux; physical addresses need root (CAP_SYS_ADMIN) because the kernel
//! hides page frame numbers in `/proc/self/pagemap` from everyone else.

pub mod device;
pub mod fifo_irq;
pub mod host;
pub mod hugepage_dma;
pub mod hugepages;
pub mod sysfs;

pub use device::RigDevice;
pub use fifo_irq::{FifoIrq, FifoIrqCounters, FifoIrqStats};
pub use host::{HostDma, HostDmaPool, RigHost};
pub use hugepage_dma::{hugetlbfs_page_size, pagemap_phys_addr, HugepageDma, HUGEPAGE_SIZE};
pub use hugepages::{HugepageError, HugepageReservation};
pub use sysfs::{Rig, RigConfig, CLASS_ETHERNET_PLAIN_READS, CLASS_ETHERNET_READLESS};

#[cfg(test)]
pub(crate) mod test_support {
    //! Shared by the rig's tests: prerequisite checks that skip loudly, and a lock that keeps
    //! tests which change the machine's hugepage count from overlapping inside this process.

    use super::hugepages::{HugepageError, HugepageReservation};
    use std::path::PathBuf;
    use std::sync::{Mutex, MutexGuard};

    static HUGEPAGE_TESTS: Mutex<()> = Mutex::new(());

    /// Serializes tests that reserve hugepages (a failed test poisons nothing for the others).
    pub fn hugepage_test_lock() -> MutexGuard<'static, ()> {
        HUGEPAGE_TESTS.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Prints the skip line (or fails, when the environment demands the rig).
    pub fn skip(reason: &str) {
        if std::env::var_os("ENA_SIM_REQUIRE_PCI_RIG").is_some() {
            panic!("ENA_SIM_REQUIRE_PCI_RIG is set but the rig test cannot run: {reason}");
        }
        println!("SKIPPED: {reason}");
    }

    /// `/dev/shm` usable for BAR files?
    pub fn shm_or_skip() -> bool {
        let ok = std::path::Path::new("/dev/shm").is_dir();
        if !ok {
            skip("/dev/shm is missing (the rig keeps its BAR files there)");
        }
        ok
    }

    /// A fresh, unique path under the temp dir (not created).
    pub fn unique_path(tag: &str) -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("ena-sim-{tag}-{}-{n}", std::process::id()))
    }

    /// A unique shm prefix.
    pub fn unique_prefix(tag: &str) -> String {
        unique_path(tag)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Reserves `pages` hugepages in a private hugetlbfs mount, or says why not and returns None.
    pub fn hugepages_or_skip(pages: usize) -> Option<HugepageReservation> {
        if let Err(why) = HugepageReservation::available() {
            skip(&why);
            return None;
        }
        // Root without CAP_SYS_ADMIN (a container) sees page frame numbers as 0.
        let probe = Box::new(std::hint::black_box(1u64));
        if let Err(e) = super::pagemap_phys_addr(&*probe as *const u64 as usize) {
            skip(&e.to_string());
            return None;
        }
        match HugepageReservation::ensure(pages, None) {
            Ok(r) => Some(r),
            Err(
                e @ (HugepageError::NotRoot
                | HugepageError::Unavailable(_)
                | HugepageError::NotEnough { .. }),
            ) => {
                skip(&e.to_string());
                None
            }
            // Not allowed to mount or to change the pool (a container): a missing prerequisite.
            Err(e) if is_permission_error(&e) => {
                skip(&e.to_string());
                None
            }
            Err(e) => panic!("hugepage reservation failed: {e}"),
        }
    }

    fn is_permission_error(e: &HugepageError) -> bool {
        match e {
            HugepageError::Mount { source, .. } | HugepageError::Io { source, .. } => {
                source.kind() == std::io::ErrorKind::PermissionDenied
            }
            _ => false,
        }
    }
}
