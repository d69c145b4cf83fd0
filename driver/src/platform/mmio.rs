//! Device memory access: the one place where BAR memory is touched.
//!
//! BAR0 (registers) is mapped uncached and accessed with 32-bit volatile loads and stores.
//! BAR2 (LLQ memory) is mapped write-combining and written with whole 64-bit stores, followed by
//! a store fence before the doorbell, so the entry is visible to the device before it is rung.
#![allow(unsafe_code)]

use std::sync::Arc;

/// A mapped BAR.
#[derive(Clone)]
pub struct Mmio {
    base: *mut u8,
    len: usize,
    // Keeps the mapping alive.
    _backing: Arc<dyn Send + Sync>,
}

// SAFETY: device memory is accessed only through volatile loads/stores of whole aligned words
// (see the methods); concurrent access from several threads is how devices are used (each queue
// owns its own doorbell, and the device tolerates any interleaving of register writes).
unsafe impl Send for Mmio {}
// SAFETY: as for Send.
unsafe impl Sync for Mmio {}

impl std::fmt::Debug for Mmio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mmio({:p}+{:#x})", self.base, self.len)
    }
}

impl Mmio {
    /// Wraps a mapping of `len` bytes at `base`.
    ///
    /// # Safety
    /// `base..base + len` must be a mapping of device (or device-model) memory that stays valid
    /// as long as `backing` lives, is 8-byte aligned, and is only accessed with volatile
    /// operations by this process.
    pub unsafe fn new(base: *mut u8, len: usize, backing: Arc<dyn Send + Sync>) -> Self {
        Self {
            base,
            len,
            _backing: backing,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    fn ptr32(&self, off: u32) -> Option<*mut u32> {
        let off = off as usize;
        (off.is_multiple_of(4) && off + 4 <= self.len).then(|| {
            // SAFETY: in bounds (checked) of a live mapping.
            unsafe { self.base.add(off).cast::<u32>() }
        })
    }

    /// Reads a 32-bit register. Out-of-range offsets read as all-ones (as a missing device).
    #[inline(always)]
    pub fn read32(&self, off: u32) -> u32 {
        match self.ptr32(off) {
            // SAFETY: aligned, in bounds, device memory read with a volatile load.
            Some(p) => unsafe { p.read_volatile() },
            None => u32::MAX,
        }
    }

    /// Writes a 32-bit register. Out-of-range offsets are ignored.
    #[inline(always)]
    pub fn write32(&self, off: u32, value: u32) {
        if let Some(p) = self.ptr32(off) {
            // SAFETY: aligned, in bounds, device memory written with a volatile store.
            unsafe { p.write_volatile(value) }
        }
    }

    /// Writes a doorbell: all earlier stores to DMA memory and BAR2 become visible first.
    #[inline(always)]
    pub fn write_doorbell(&self, off: u32, value: u32) {
        wmb();
        self.write32(off, value);
    }

    /// Copies `words` into device memory at `off` (8-byte aligned) with 64-bit volatile stores,
    /// as an LLQ entry is pushed. Returns false if the range is outside the BAR.
    #[inline(always)]
    pub fn write_words(&self, off: usize, words: &[u64]) -> bool {
        if !off.is_multiple_of(8)
            || off
                .checked_add(words.len() * 8)
                .is_none_or(|e| e > self.len)
        {
            return false;
        }
        for (i, w) in words.iter().enumerate() {
            // SAFETY: aligned and in bounds (checked above) of a live mapping.
            unsafe { self.base.add(off + i * 8).cast::<u64>().write_volatile(*w) }
        }
        true
    }
}

impl Mmio {
    /// [`Mmio::write_words`] for an entry whose size is known at compile time (an LLQ entry of
    /// 128, 192 or 256 bytes): the same 64-bit volatile stores, in order, without a loop.
    #[inline(always)]
    pub fn write_entry<const N: usize>(&self, off: usize, words: &[u64; N]) -> bool {
        if !off.is_multiple_of(8) || off.checked_add(N * 8).is_none_or(|e| e > self.len) {
            return false;
        }
        // SAFETY: aligned and in bounds (checked above) of a live mapping.
        let base = unsafe { self.base.add(off).cast::<u64>() };
        for (i, w) in words.iter().enumerate() {
            // SAFETY: `i < N`, so `base + i` is inside the checked range.
            unsafe { base.add(i).write_volatile(*w) }
        }
        true
    }
}

/// Store barrier: orders earlier stores (DMA memory, write-combining BAR2) before later ones
/// (the doorbell). On x86 normal stores are already ordered, but write-combining stores are not.
#[inline(always)]
pub fn wmb() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: sfence has no preconditions.
    unsafe {
        core::arch::x86_64::_mm_sfence()
    };
    #[cfg(not(target_arch = "x86_64"))]
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
}
