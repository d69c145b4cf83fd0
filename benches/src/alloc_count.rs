//! A counting global allocator, per thread, readable from other threads.
//!
//! A binary or test installs it with
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: ena_benches::alloc_count::CountingAlloc = ena_benches::alloc_count::CountingAlloc;
//! ```
//!
//! Every thread that allocates gets a slot (on its first allocation) holding its kernel thread
//! id and its count of `alloc`, `alloc_zeroed` and `realloc` calls. A thread reads its own count
//! with [`this_thread`]; any thread reads another's by kernel thread id with [`of_tid`], which
//! is how `ena-pps --proof` watches the worker lcore that runs fwd's loop without touching fwd.
//! Counting is two relaxed atomic operations; the allocation itself is the system allocator's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Threads with a slot; later threads share the overflow slot.
const SLOTS: usize = 256;

static COUNTS: [AtomicU64; SLOTS + 1] = [const { AtomicU64::new(0) }; SLOTS + 1];
static TIDS: [AtomicU32; SLOTS] = [const { AtomicU32::new(0) }; SLOTS];
static NEXT: AtomicUsize = AtomicUsize::new(0);
/// Whether the allocator is installed (its first call sets it).
static ACTIVE: AtomicU32 = AtomicU32::new(0);

thread_local! {
    /// This thread's slot + 1 (0: none yet).
    static SLOT: Cell<usize> = const { Cell::new(0) };
}

fn kernel_tid() -> u32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::gettid() as u32 }
}

#[inline]
fn slot() -> usize {
    // `try_with`: the allocator also runs while a thread's locals are being torn down.
    SLOT.try_with(|s| {
        let v = s.get();
        if v != 0 {
            return v - 1;
        }
        let i = NEXT.fetch_add(1, Ordering::Relaxed).min(SLOTS);
        if i < SLOTS {
            TIDS[i].store(kernel_tid(), Ordering::Relaxed);
        }
        s.set(i + 1);
        i
    })
    .unwrap_or(SLOTS)
}

#[inline]
fn bump() {
    ACTIVE.store(1, Ordering::Relaxed);
    COUNTS[slot()].fetch_add(1, Ordering::Relaxed);
}

/// The system allocator, counting allocations per thread.
pub struct CountingAlloc;

// SAFETY: every method forwards to the system allocator with the caller's arguments, so the
// GlobalAlloc contract is the system allocator's; counting touches only atomics and a
// const-initialised thread-local `Cell`, none of which allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Whether [`CountingAlloc`] is the global allocator of this program (it has counted
/// something).
pub fn installed() -> bool {
    // Make sure at least one allocation has happened.
    drop(std::hint::black_box(Box::new(0u8)));
    ACTIVE.load(Ordering::Relaxed) == 1
}

/// Allocations made so far by the calling thread.
pub fn this_thread() -> u64 {
    COUNTS[slot()].load(Ordering::Relaxed)
}

/// Allocations made so far by the thread with kernel id `tid`; `Some(0)` for a thread
/// that never allocated is indistinguishable from an unknown one, so `None` means "no slot".
pub fn of_tid(tid: u32) -> Option<u64> {
    let n = NEXT.load(Ordering::Relaxed).min(SLOTS);
    (0..n)
        .find(|&i| TIDS[i].load(Ordering::Relaxed) == tid)
        .map(|i| COUNTS[i].load(Ordering::Relaxed))
}

/// Runs `f` and returns its result with the allocations it made on this thread.
pub fn count<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = this_thread();
    let r = f();
    (r, this_thread() - before)
}
