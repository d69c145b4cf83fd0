//! Platforms: how the driver reaches a device.
//!
//! The core (`com`) and the poll-mode layer (`pmd`) never touch an OS interface directly; they
//! ask a [`Platform`] for the device's BARs, for DMA memory with its device address, and for
//! time. Implementations:
//!
//! - [`sim`] (feature `sim`): the in-process device model — BARs are the model's memory, DMA
//!   memory comes from its allocator, and waiting steps the model when it runs in manual mode.
//! - [`pci`]: a real PCI function bound to `uio_pci_generic`/`igb_uio` or to vfio-pci in
//!   no-IOMMU mode — BARs mmapped from sysfs `resource0`/`resource2(_wc)`, DMA from 2 MiB
//!   hugepages with physical addresses from `/proc/self/pagemap`. On this machine the same path
//!   attaches to a device-model process through the PCI rig.
//! - [`vfio`]: a real PCI function bound to vfio-pci, through VFIO's container/group/device
//!   ioctls — with an IOMMU (type1v2; DMA memory mapped with IOVA = virtual address) or in
//!   no-IOMMU mode (IOVA = physical address); BARs mapped from VFIO region info.

pub mod mmio;
pub mod pci;
#[cfg(feature = "sim")]
pub mod sim;
pub mod vfio;

pub use mmio::Mmio;

use crate::error::Result;
use crate::mem::DmaRegion;
use std::time::Duration;

/// What the driver needs from its environment.
pub trait Platform: Send + Sync {
    /// BAR0: the register BAR.
    fn bar0(&self) -> &Mmio;
    /// BAR2: LLQ device memory, mapped write-combining, if the device has it.
    fn bar2(&self) -> Option<&Mmio>;
    /// Zeroed DMA memory of at least `len` bytes aligned to `align` (both in device and host
    /// address), physically contiguous, never crossing a 2 MiB hugepage when `len` fits one.
    fn alloc_dma(&self, len: usize, align: usize) -> Result<DmaRegion>;
    /// Whether registers must be read through the readless mechanism (PCI revision / class
    /// prog-if bit 0 clear), rather than with plain loads.
    fn readless(&self) -> bool;
    /// Waits about `d` (the control path's polling back-off). An in-process device model in
    /// manual mode runs while the driver waits.
    fn delay(&self, d: Duration);
    /// Monotonic time.
    fn now(&self) -> Duration;
    /// PCI bus/device/function as the host-info page encodes it (bus << 8 | dev << 3 | fn).
    fn bdf(&self) -> u16 {
        0
    }
    /// NUMA node of the device.
    fn numa_node(&self) -> u32 {
        0
    }
    /// A one-line description for logs ("0000:00:06.0 (uio)", "sim 0").
    fn describe(&self) -> String;
}
