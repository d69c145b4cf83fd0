//! BAR memory: the register file (BAR0) and LLQ memory (BAR2) as memory shared between the
//! driver and the device.
//!
//! There is no trap on a BAR write: the driver stores into this memory (through its MMIO wrapper
//! in-process, or through an `mmap` of a shared file in the PCI rig) and the device notices the
//! change when it next polls. That works for ENA because the driver-to-device interface is made
//! of counters (doorbells, readless-read sequence numbers) and of the DEV_CTL reset handshake,
//! whose level the device can sample at any time.
//!
//! The device side reads and writes with 32- and 64-bit atomic accesses only.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// A BAR's memory as the device sees it.
#[derive(Clone)]
pub struct BarMemory {
    base: *mut u8,
    len: usize,
    // Keeps the mapping alive as long as any clone of this view exists.
    _backing: Arc<dyn Send + Sync>,
}

// SAFETY: the memory behind `base` is only accessed through atomics (see the methods below), and
// the backing mapping lives as long as `_backing`, which every clone holds.
unsafe impl Send for BarMemory {}
// SAFETY: as for Send; all accesses are atomic, so shared use from several threads is sound.
unsafe impl Sync for BarMemory {}

impl std::fmt::Debug for BarMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BarMemory")
            .field("base", &self.base)
            .field("len", &self.len)
            .finish()
    }
}

impl BarMemory {
    /// Anonymous zeroed memory for an in-process device. `len` is rounded up to 8 bytes.
    pub fn anonymous(len: usize) -> std::io::Result<Self> {
        let len = len.max(8).next_multiple_of(8);
        let mut map = memmap2::MmapMut::map_anon(len)?;
        let base = map.as_mut_ptr();
        Ok(Self {
            base,
            len,
            _backing: Arc::new(map),
        })
    }

    /// A view over a shared mapping (a BAR file mapped by the PCI rig).
    pub fn from_mmap(mut map: memmap2::MmapMut) -> Self {
        let base = map.as_mut_ptr();
        let len = map.len() & !7;
        Self {
            base,
            len,
            _backing: Arc::new(map),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the BAR is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The start of the memory, for a driver-side platform that maps the same BAR in-process.
    /// Accesses through this pointer must be volatile or atomic, 4- or 8-byte aligned.
    pub fn as_ptr(&self) -> *mut u8 {
        self.base
    }

    fn word32(&self, off: usize) -> Option<&AtomicU32> {
        if !off.is_multiple_of(4) || off.checked_add(4)? > self.len {
            return None;
        }
        // SAFETY: in bounds and 4-byte aligned (the mapping is page-aligned); the memory is only
        // ever accessed atomically by the device, and lives as long as `self`.
        Some(unsafe { AtomicU32::from_ptr(self.base.add(off).cast()) })
    }

    fn word64(&self, off: usize) -> Option<&AtomicU64> {
        if !off.is_multiple_of(8) || off.checked_add(8)? > self.len {
            return None;
        }
        // SAFETY: in bounds and 8-byte aligned; see `word32`.
        Some(unsafe { AtomicU64::from_ptr(self.base.add(off).cast()) })
    }

    /// Reads a 32-bit register (acquire: what the driver wrote before it is visible after).
    /// Out-of-range or misaligned offsets read as all-ones, as a missing PCI target would.
    #[inline]
    pub fn read32(&self, off: u32) -> u32 {
        self.word32(off as usize)
            .map_or(u32::MAX, |w| w.load(Ordering::Acquire))
    }

    /// Writes a 32-bit register (release). Out-of-range or misaligned offsets are ignored.
    #[inline]
    pub fn write32(&self, off: u32, value: u32) {
        if let Some(w) = self.word32(off as usize) {
            w.store(value, Ordering::Release)
        }
    }

    /// Reads 8 bytes at an 8-byte aligned offset (relaxed; order with a prior `read32`).
    #[inline]
    pub fn read64(&self, off: usize) -> Option<u64> {
        self.word64(off).map(|w| w.load(Ordering::Relaxed))
    }

    /// Copies `dst.len()` bytes from offset `off` (both multiples of 8) with 64-bit loads, as the
    /// device reads an LLQ entry. Returns false if the range is outside the BAR or misaligned.
    pub fn read_bytes(&self, off: usize, dst: &mut [u8]) -> bool {
        if !off.is_multiple_of(8)
            || !dst.len().is_multiple_of(8)
            || off.checked_add(dst.len()).is_none_or(|e| e > self.len)
        {
            return false;
        }
        // SAFETY: `off..off + dst.len()` is inside the mapping and 8-byte aligned (checked
        // above; the mapping is page-aligned), so every word below is too; the memory is only
        // accessed atomically by the device and lives as long as `self`.
        let words = unsafe { self.base.add(off).cast::<u64>() };
        for (i, chunk) in dst.chunks_exact_mut(8).enumerate() {
            // SAFETY: word `i` of the range checked above; see the block before the loop.
            let w = unsafe { AtomicU64::from_ptr(words.add(i)) };
            chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
        }
        true
    }

    /// Writes bytes at an 8-byte aligned offset with 64-bit stores (used by test-side clients
    /// that play the driver, and to clear memory at reset).
    pub fn write_bytes(&self, off: usize, src: &[u8]) -> bool {
        if !off.is_multiple_of(8)
            || !src.len().is_multiple_of(8)
            || off.checked_add(src.len()).is_none_or(|e| e > self.len)
        {
            return false;
        }
        for (i, chunk) in src.chunks_exact(8).enumerate() {
            if let Some(w) = self.word64(off + i * 8) {
                w.store(
                    u64::from_le_bytes(chunk.try_into().unwrap_or_default()),
                    Ordering::Relaxed,
                );
            }
        }
        true
    }
}
