//! Aligned heap memory (rte_malloc.h) and pseudo-random numbers (rte_random.h).
//!
//! DPDK's heap lives in hugepages; an application's own tables need no device access, so
//! here they come from the C heap with the requested alignment (`posix_memalign`), which
//! `rte_free` gives back with `free`.

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_uint, c_void};
use std::sync::atomic::{AtomicU64, Ordering};

const CACHE_LINE: usize = 64;

fn alloc(size: usize, align: c_uint, zero: bool) -> *mut c_void {
    let align = if align == 0 {
        CACHE_LINE
    } else {
        align as usize
    };
    if size == 0 || !align.is_power_of_two() {
        return std::ptr::null_mut();
    }
    let align = align.max(std::mem::size_of::<*mut c_void>());
    let mut p: *mut c_void = std::ptr::null_mut();
    // SAFETY: `p` is a valid out-pointer; the alignment is a power of two and a multiple of
    // the pointer size, as posix_memalign requires.
    if unsafe { libc::posix_memalign(&mut p, align, size) } != 0 {
        return std::ptr::null_mut();
    }
    if zero {
        // SAFETY: `p` points to `size` freshly allocated bytes.
        unsafe { std::ptr::write_bytes(p.cast::<u8>(), 0, size) };
    }
    p
}

/// `rte_malloc(type, size, align)`: `align` a power of two, or 0 for a cache line; NULL for
/// size 0, a bad alignment or no memory.
#[no_mangle]
pub extern "C" fn rte_malloc(_type: *const c_char, size: usize, align: c_uint) -> *mut c_void {
    alloc(size, align, false)
}

/// `rte_zmalloc`: [`rte_malloc`], zeroed.
#[no_mangle]
pub extern "C" fn rte_zmalloc(_type: *const c_char, size: usize, align: c_uint) -> *mut c_void {
    alloc(size, align, true)
}

/// `rte_calloc`: `num` zeroed elements of `size` bytes.
#[no_mangle]
pub extern "C" fn rte_calloc(
    _type: *const c_char,
    num: usize,
    size: usize,
    align: c_uint,
) -> *mut c_void {
    match num.checked_mul(size) {
        Some(n) => alloc(n, align, true),
        None => std::ptr::null_mut(),
    }
}

/// `rte_malloc_socket` (one NUMA node: the socket is ignored).
#[no_mangle]
pub extern "C" fn rte_malloc_socket(
    _type: *const c_char,
    size: usize,
    align: c_uint,
    _socket: c_int,
) -> *mut c_void {
    alloc(size, align, false)
}

/// `rte_zmalloc_socket`.
#[no_mangle]
pub extern "C" fn rte_zmalloc_socket(
    _type: *const c_char,
    size: usize,
    align: c_uint,
    _socket: c_int,
) -> *mut c_void {
    alloc(size, align, true)
}

/// `rte_calloc_socket`.
#[no_mangle]
pub extern "C" fn rte_calloc_socket(
    t: *const c_char,
    num: usize,
    size: usize,
    align: c_uint,
    _socket: c_int,
) -> *mut c_void {
    rte_calloc(t, num, size, align)
}

/// `rte_realloc`: a new block of `size` bytes holding the old one's contents (as much as
/// fits); the old block is freed. NULL (the old block kept) on failure.
///
/// # Safety
/// `ptr` is NULL or a live block from these functions.
#[no_mangle]
pub unsafe extern "C" fn rte_realloc(ptr: *mut c_void, size: usize, align: c_uint) -> *mut c_void {
    if ptr.is_null() {
        return alloc(size, align, false);
    }
    let new = alloc(size, align, false);
    if new.is_null() {
        return new;
    }
    // SAFETY: `ptr` is a live heap block (the caller's promise); glibc reports its size.
    let old = unsafe { libc::malloc_usable_size(ptr) };
    // SAFETY: both blocks are live and distinct; the copy fits in either.
    unsafe { std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), new.cast::<u8>(), old.min(size)) };
    // SAFETY: `ptr` came from posix_memalign and is not used again.
    unsafe { libc::free(ptr) };
    new
}

/// `rte_free` (NULL is ignored).
///
/// # Safety
/// `ptr` is NULL or a live block from these functions, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rte_free(ptr: *mut c_void) {
    // SAFETY: the caller's promise; free(NULL) does nothing.
    unsafe { libc::free(ptr) };
}

/// Bumped by `rte_srand`, so that every thread reseeds.
static SEED: AtomicU64 = AtomicU64::new(0x2545_f491_4f6c_dd1d);
static SEED_GENERATION: AtomicU64 = AtomicU64::new(0);
static THREADS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// (generation seeded at, state)
    static RNG: Cell<(u64, u64)> = const { Cell::new((u64::MAX, 0)) };
    /// A thread that is not an lcore: its own stream key, from 2^32 on.
    static THREAD_KEY: u64 = (1 << 32) + THREADS.fetch_add(1, Ordering::Relaxed);
}

/// SplitMix64: turns a seed into a well-mixed state.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `rte_srand`: reseeds every thread's generator.
#[no_mangle]
pub extern "C" fn rte_srand(seedval: u64) {
    SEED.store(seedval, Ordering::Relaxed);
    SEED_GENERATION.fetch_add(1, Ordering::Release);
}

/// `rte_rand`: 64 pseudo-random bits (xorshift64*, per thread).
#[no_mangle]
pub extern "C" fn rte_rand() -> u64 {
    RNG.with(|c| {
        let generation = SEED_GENERATION.load(Ordering::Acquire);
        let (seeded, mut s) = c.get();
        if seeded != generation {
            // An lcore's stream follows from the seed and its id, as in DPDK; other threads
            // each get one of their own.
            let lcore = dpdk_shim::lcore::lcore_id();
            let key = if lcore == dpdk_shim::lcore::LCORE_ID_ANY {
                THREAD_KEY.with(|k| *k)
            } else {
                u64::from(lcore)
            };
            s = splitmix(SEED.load(Ordering::Relaxed) ^ splitmix(key)) | 1;
        }
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        c.set((generation, s));
        s.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

/// `rte_rand_max`: uniform in `[0, upper_bound)` (0 for 0), without modulo bias.
#[no_mangle]
pub extern "C" fn rte_rand_max(upper_bound: u64) -> u64 {
    if upper_bound <= 1 {
        return 0;
    }
    // Reject the top partial range so every value is equally likely.
    let zone = u64::MAX - (u64::MAX % upper_bound);
    loop {
        let r = rte_rand();
        if r < zone {
            return r % upper_bound;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_zeroed_and_refused_allocations() {
        for align in [0u32, 8, 64, 4096] {
            let p = rte_zmalloc(std::ptr::null(), 1000, align);
            assert!(!p.is_null());
            let want = if align == 0 { 64 } else { align as usize };
            assert_eq!(p as usize % want, 0, "align {align}");
            // SAFETY: 1000 zeroed bytes were just allocated.
            let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), 1000) };
            assert!(bytes.iter().all(|&b| b == 0));
            // SAFETY: a live block from rte_zmalloc.
            unsafe { rte_free(p) };
        }
        assert!(rte_malloc(std::ptr::null(), 0, 0).is_null());
        assert!(
            rte_malloc(std::ptr::null(), 64, 48).is_null(),
            "not a power of two"
        );
        assert!(rte_calloc(std::ptr::null(), usize::MAX, 2, 0).is_null());
        let p = rte_malloc(std::ptr::null(), 16, 0).cast::<u8>();
        // SAFETY: 16 bytes were allocated; realloc keeps them and frees the old block.
        unsafe {
            p.copy_from(b"0123456789abcdef".as_ptr(), 16);
            let q = rte_realloc(p.cast(), 4096, 128).cast::<u8>();
            assert_eq!(q as usize % 128, 0);
            assert_eq!(std::slice::from_raw_parts(q, 16), b"0123456789abcdef");
            rte_free(q.cast());
        }
    }

    #[test]
    fn random_numbers_reseed_and_stay_in_range() {
        // Not an lcore: a thread of its own, whatever other tests do with the seed meanwhile.
        rte_srand(42);
        let a: Vec<u64> = (0..4).map(|_| rte_rand()).collect();
        rte_srand(42);
        let b: Vec<u64> = (0..4).map(|_| rte_rand()).collect();
        assert_ne!(a[0], a[1]);
        assert_eq!(
            a, b,
            "the same seed on the same lcore gives the same stream"
        );
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            seen[rte_rand_max(10) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
        assert_eq!(rte_rand_max(0), 0);
    }
}
