//! DMA memory: host memory the device reads and writes by address (IOVA).
//!
//! A [`DmaRegion`] is a contiguous block with a host address and a device address. Rings and
//! packet buffers live in such blocks. Memory the device may write (completion queues, the admin
//! completion queue, the AENQ, the readless-read response, posted RX buffers) is never turned into
//! a Rust reference while the device may write it: the driver reads it with acquire loads of the
//! word that carries the phase bit, then volatile copies of the entry.
#![allow(unsafe_code)]

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::Arc;
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// A block of DMA-reachable memory.
pub struct DmaRegion {
    va: NonNull<u8>,
    iova: u64,
    len: usize,
    _backing: Arc<dyn Send + Sync>,
}

// SAFETY: the region is plain memory shared with a device; every access goes through the
// bounds-checked volatile/atomic methods below, and the backing lives as long as the region.
unsafe impl Send for DmaRegion {}
// SAFETY: as for Send; concurrent accesses are volatile/atomic word or byte copies.
unsafe impl Sync for DmaRegion {}

impl std::fmt::Debug for DmaRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DmaRegion(iova {:#x}, {} bytes)", self.iova, self.len)
    }
}

impl DmaRegion {
    /// Wraps memory at `va` that the device reaches at `iova`.
    ///
    /// # Safety
    /// `va..va + len` must be valid, writable, zero-initialised or initialised memory that
    /// stays mapped while `backing` lives, and the device must reach exactly that memory at
    /// `iova..iova + len`.
    pub unsafe fn new(
        va: NonNull<u8>,
        iova: u64,
        len: usize,
        backing: Arc<dyn Send + Sync>,
    ) -> Self {
        Self {
            va,
            iova,
            len,
            _backing: backing,
        }
    }

    /// Device address of the first byte.
    #[inline(always)]
    pub fn iova(&self) -> u64 {
        self.iova
    }

    /// Length in bytes.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Host address of the first byte (for the packet-buffer pool, which hands out exclusive
    /// slices of buffers the device does not own).
    #[inline(always)]
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.va.as_ptr()
    }

    #[inline(always)]
    fn check(&self, off: usize, len: usize) -> bool {
        off.checked_add(len).is_some_and(|e| e <= self.len)
    }

    /// Loads a u32 with acquire ordering (the status/phase word of a completion).
    #[inline(always)]
    pub fn load_u32_acquire(&self, off: usize) -> u32 {
        assert!(
            self.check(off, 4) && off.is_multiple_of(4),
            "DMA access out of bounds"
        );
        // SAFETY: in bounds and aligned (asserted); shared with the device, so atomic.
        unsafe { AtomicU32::from_ptr(self.va.as_ptr().add(off).cast()).load(Ordering::Acquire) }
    }

    /// Loads a u16 with acquire ordering (the readless-read req_id).
    #[inline(always)]
    pub fn load_u16_acquire(&self, off: usize) -> u16 {
        assert!(
            self.check(off, 2) && off.is_multiple_of(2),
            "DMA access out of bounds"
        );
        // SAFETY: in bounds and aligned (asserted); shared with the device, so atomic.
        unsafe { AtomicU16::from_ptr(self.va.as_ptr().add(off).cast()).load(Ordering::Acquire) }
    }

    /// Volatile copy of a plain-data value at `off` (which must be aligned for `T`).
    #[inline(always)]
    pub fn read<T: FromBytes + Copy>(&self, off: usize) -> T {
        assert!(
            self.check(off, size_of::<T>()) && off.is_multiple_of(align_of::<T>()),
            "DMA access out of bounds"
        );
        // SAFETY: in bounds and aligned (asserted); T is plain data valid for any bytes.
        unsafe { self.va.as_ptr().add(off).cast::<T>().read_volatile() }
    }

    /// Volatile store of a plain-data value at `off` (aligned for `T`).
    #[inline(always)]
    pub fn write<T: IntoBytes + Immutable + Copy>(&self, off: usize, v: T) {
        assert!(
            self.check(off, size_of::<T>()) && off.is_multiple_of(align_of::<T>()),
            "DMA access out of bounds"
        );
        // SAFETY: in bounds and aligned (asserted); T is plain data.
        unsafe { self.va.as_ptr().add(off).cast::<T>().write_volatile(v) }
    }

    /// Copies bytes out of the region.
    pub fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        assert!(self.check(off, dst.len()), "DMA access out of bounds");
        for (i, b) in dst.iter_mut().enumerate() {
            // SAFETY: in bounds (asserted).
            *b = unsafe { self.va.as_ptr().add(off + i).read_volatile() };
        }
    }

    /// Copies bytes into the region.
    pub fn write_bytes(&self, off: usize, src: &[u8]) {
        assert!(self.check(off, src.len()), "DMA access out of bounds");
        // SAFETY: in bounds (asserted); the driver writes only memory the device does not own
        // at this time (a ring slot past the device's head, a buffer being prepared).
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.va.as_ptr().add(off), src.len()) }
    }

    /// Zeroes the whole region (rings are zeroed before the device sees them).
    pub fn zero(&self) {
        // SAFETY: the whole region is valid memory not owned by the device while zeroed.
        unsafe { std::ptr::write_bytes(self.va.as_ptr(), 0, self.len) }
    }
}
