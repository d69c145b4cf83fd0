//! mbufs and mempools (rte_mbuf.h, rte_mbuf_core.h, rte_mempool.h).
//!
//! `struct rte_mbuf` is the driver's mbuf header ([`ena::mem::pool::MbufHdr`]) seen from C: a
//! `struct rte_mbuf *` is exactly the pointer [`Mbuf::into_raw`] gives out, so mbufs cross the
//! ABI without wrapping or copying, and an array of them is an array of `Option<Mbuf>` (see
//! [`crate::ethdev`]). [`rte_mbuf`] below mirrors the C struct, and the compile-time asserts
//! tie every field to the driver's offset ([`ena::mem::pool::hdr_offset`]); the header asserts
//! the same numbers on the C side, and the tests compile C code that checks the two agree.
//!
//! A `struct rte_mempool *` is a box with DPDK's public fields (name, size, ...) followed by
//! the shim's [`PktmbufPool`]. Allocation and free go through the pool's lock-free lists.

use crate::errno::{self, E_RTE_NO_CONFIG};
use crate::log;
use crate::RTE_MEMPOOL_NAMESIZE;
use dpdk_shim::mbuf::{PktmbufPool, HEADROOM, MEMPOOL_CACHE_MAX_SIZE};
use ena::mem::pool::{hdr_offset, MbufHdr};
use ena::Mbuf;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::mem::{align_of, offset_of, size_of};
use std::ptr::NonNull;
use std::sync::Mutex;

/// The C view of an mbuf (rte_mbuf_core.h): the driver's `MbufHdr`, field for field.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct rte_mbuf {
    /// Host address of the buffer (constant).
    pub buf_addr: *mut c_void,
    /// `RTE_MBUF_F_*`.
    pub ol_flags: u64,
    /// The next segment, or NULL.
    pub next: *mut rte_mbuf,
    /// The pool's memory (private).
    pub pool_private: *const c_void,
    /// Bytes in all segments.
    pub pkt_len: u32,
    /// `hash.rss`.
    pub hash: u32,
    /// `RTE_PTYPE_*`.
    pub packet_type: u32,
    /// Where the data starts in the buffer.
    pub data_off: u16,
    /// Bytes in this segment.
    pub data_len: u16,
    /// Segments.
    pub nb_segs: u16,
    /// RX port.
    pub port: u16,
    /// RX queue.
    pub queue: u16,
    /// TSO MSS.
    pub tso_segsz: u16,
    /// L3 header length.
    pub l3_len: u16,
    /// The buffer's DMA region (private).
    pub region_private: u16,
    /// Buffer size, headroom included (constant).
    pub buf_len: u16,
    /// L2 header length.
    pub l2_len: u8,
    /// L4 header length.
    pub l4_len: u8,
}

// The C view is the driver's header: same size, alignment and offsets. Should the driver
// reorder MbufHdr, this stops the build instead of corrupting C programs' packets.
const _: () = {
    assert!(size_of::<rte_mbuf>() == size_of::<MbufHdr>());
    assert!(align_of::<rte_mbuf>() == align_of::<MbufHdr>());
    assert!(offset_of!(rte_mbuf, buf_addr) == hdr_offset::BUF_VA);
    assert!(offset_of!(rte_mbuf, ol_flags) == hdr_offset::OL_FLAGS);
    assert!(offset_of!(rte_mbuf, next) == hdr_offset::NEXT);
    assert!(offset_of!(rte_mbuf, pool_private) == hdr_offset::POOL);
    assert!(offset_of!(rte_mbuf, pkt_len) == hdr_offset::PKT_LEN);
    assert!(offset_of!(rte_mbuf, hash) == hdr_offset::RSS_HASH);
    assert!(offset_of!(rte_mbuf, packet_type) == hdr_offset::PACKET_TYPE);
    assert!(offset_of!(rte_mbuf, data_off) == hdr_offset::DATA_OFF);
    assert!(offset_of!(rte_mbuf, data_len) == hdr_offset::DATA_LEN);
    assert!(offset_of!(rte_mbuf, nb_segs) == hdr_offset::NB_SEGS);
    assert!(offset_of!(rte_mbuf, port) == hdr_offset::PORT);
    assert!(offset_of!(rte_mbuf, queue) == hdr_offset::QUEUE);
    assert!(offset_of!(rte_mbuf, tso_segsz) == hdr_offset::TSO_SEGSZ);
    assert!(offset_of!(rte_mbuf, l3_len) == hdr_offset::L3_LEN);
    assert!(offset_of!(rte_mbuf, region_private) == hdr_offset::REGION);
    assert!(offset_of!(rte_mbuf, buf_len) == hdr_offset::BUF_LEN);
    assert!(offset_of!(rte_mbuf, l2_len) == hdr_offset::L2_LEN);
    assert!(offset_of!(rte_mbuf, l4_len) == hdr_offset::L4_LEN);
    // An array of `struct rte_mbuf *` is an array of `Option<Mbuf>` (ethdev's bursts).
    assert!(size_of::<Option<Mbuf>>() == size_of::<*mut rte_mbuf>());
    assert!(align_of::<Option<Mbuf>>() == align_of::<*mut rte_mbuf>());
};

/// Hands an mbuf to C.
#[inline]
pub fn into_c(m: Mbuf) -> *mut rte_mbuf {
    m.into_raw().as_ptr().cast()
}

/// Takes an mbuf back from C; `None` for NULL.
///
/// # Safety
/// `m` is NULL or an mbuf the caller owns (from this library, not freed, not handed to the
/// driver since); ownership passes to the returned value.
#[inline]
pub unsafe fn from_c(m: *mut rte_mbuf) -> Option<Mbuf> {
    // SAFETY: a non-null `struct rte_mbuf *` from this library is a header pointer that
    // `Mbuf::into_raw` gave out (rte_mbuf is MbufHdr's C view), owned by the caller.
    NonNull::new(m.cast::<MbufHdr>()).map(|p| unsafe { Mbuf::from_raw(p) })
}

/// A pool as C sees it: DPDK's public fields, then the shim's pool. Allocated only by
/// [`rte_pktmbuf_pool_create`].
#[repr(C)]
pub struct rte_mempool {
    /// The name given at creation, NUL-terminated.
    pub name: [c_char; RTE_MEMPOOL_NAMESIZE],
    /// NUMA socket (0).
    pub socket_id: c_int,
    /// Buffers.
    pub size: c_uint,
    /// Per-lcore cache size asked for.
    pub cache_size: c_uint,
    /// Header plus private area plus data room.
    pub elt_size: c_uint,
    /// Private area per mbuf (0).
    pub private_data_size: c_uint,
    pool: PktmbufPool,
}

impl rte_mempool {
    /// The shim's pool behind this handle.
    pub fn pool(&self) -> &PktmbufPool {
        &self.pool
    }
}

/// Pools by name, for `rte_mempool_lookup` and to refuse a name in use (`EEXIST`).
#[derive(Default)]
pub(crate) struct PoolRegistry {
    inner: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    /// Live pools: name and handle address.
    live: Vec<(String, usize)>,
    /// Pools created so far: names handed to the EAL must be unique for the process, even
    /// after the application freed a pool of the same name.
    created: u64,
}

impl PoolRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn pool_error(code: c_int, msg: &str) -> *mut rte_mempool {
    log::error(log::TYPE_MEMPOOL, msg);
    errno::set(code);
    std::ptr::null_mut()
}

/// `rte_pktmbuf_pool_create(name, n, cache_size, priv_size, data_room_size, socket_id)`.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn rte_pktmbuf_pool_create(
    name: *const c_char,
    n: c_uint,
    cache_size: c_uint,
    priv_size: u16,
    data_room_size: u16,
    _socket_id: c_int,
) -> *mut rte_mempool {
    let Some(shim) = crate::shim() else {
        return pool_error(E_RTE_NO_CONFIG, "mempool: call rte_eal_init first");
    };
    if name.is_null() {
        return pool_error(libc::EINVAL, "mempool: NULL name");
    }
    // SAFETY: the caller passes a NUL-terminated string.
    let cname = unsafe { CStr::from_ptr(name) };
    let Ok(name) = cname.to_str() else {
        return pool_error(libc::EINVAL, "mempool: the name is not UTF-8");
    };
    if cname.to_bytes().len() >= RTE_MEMPOOL_NAMESIZE {
        return pool_error(
            libc::ENAMETOOLONG,
            &format!("mempool {name}: names are shorter than {RTE_MEMPOOL_NAMESIZE} bytes"),
        );
    }
    if cache_size as usize > MEMPOOL_CACHE_MAX_SIZE {
        return pool_error(
            libc::EINVAL,
            &format!(
                "mempool {name}: cache size {cache_size} is above RTE_MEMPOOL_CACHE_MAX_SIZE \
                 ({MEMPOOL_CACHE_MAX_SIZE})"
            ),
        );
    }
    let mut reg = shim.pools.lock();
    if reg.live.iter().any(|(n, _)| n == name) {
        return pool_error(libc::EEXIST, &format!("mempool {name}: the name is in use"));
    }
    let internal = format!("{name}#{}", reg.created);
    let pool = match shim.eal.pktmbuf_pool_create(
        &internal,
        n,
        cache_size as usize,
        priv_size,
        data_room_size,
    ) {
        Ok(p) => p,
        Err(e) => {
            let code = match crate::errno_of(&e) {
                libc::EIO => libc::ENOMEM,
                c => c,
            };
            return pool_error(code, &format!("mempool {name}: {e}"));
        }
    };
    reg.created += 1;
    let mut cname_buf = [0 as c_char; RTE_MEMPOOL_NAMESIZE];
    for (d, s) in cname_buf.iter_mut().zip(cname.to_bytes()) {
        *d = *s as c_char;
    }
    let mp = Box::into_raw(Box::new(rte_mempool {
        name: cname_buf,
        socket_id: 0,
        size: n,
        cache_size,
        elt_size: size_of::<rte_mbuf>() as c_uint + c_uint::from(data_room_size),
        private_data_size: 0,
        pool,
    }));
    reg.live.push((name.to_string(), mp as usize));
    mp
}

/// `rte_mempool_lookup(name)`: the live pool of that name, or NULL (`rte_errno` ENOENT).
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn rte_mempool_lookup(name: *const c_char) -> *mut rte_mempool {
    let found = crate::shim()
        .zip((!name.is_null()).then_some(name))
        .and_then(|(s, name)| {
            // SAFETY: the caller passes a NUL-terminated string.
            let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
            let reg = s.pools.lock();
            reg.live
                .iter()
                .find(|(n, _)| *n == name)
                .map(|&(_, p)| p as *mut rte_mempool)
        });
    found.unwrap_or_else(|| {
        errno::set(libc::ENOENT);
        std::ptr::null_mut()
    })
}

/// `rte_mempool_free(mp)`: releases the handle (NULL is ignored). The memory goes when the
/// last buffer and queue let go of it.
///
/// # Safety
/// `mp` is NULL or a live handle from [`rte_pktmbuf_pool_create`], not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rte_mempool_free(mp: *mut rte_mempool) {
    if mp.is_null() {
        return;
    }
    if let Some(s) = crate::shim() {
        s.pools.lock().live.retain(|&(_, p)| p != mp as usize);
    }
    // SAFETY: the handle came from Box::into_raw in rte_pktmbuf_pool_create and is released
    // once (the caller's promise).
    drop(unsafe { Box::from_raw(mp) });
}

/// `rte_mempool_avail_count`: free buffers, in the shared lists and in caches.
///
/// # Safety
/// `mp` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn rte_mempool_avail_count(mp: *const rte_mempool) -> c_uint {
    // SAFETY: the caller passes a live handle (or NULL, answered with 0).
    match unsafe { mp.as_ref() } {
        Some(mp) => mp.pool.available() + mp.pool.cached(),
        None => 0,
    }
}

/// `rte_mempool_in_use_count`: buffers out of the pool.
///
/// # Safety
/// `mp` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn rte_mempool_in_use_count(mp: *const rte_mempool) -> c_uint {
    // SAFETY: as above.
    unsafe { mp.as_ref() }.map_or(0, |mp| mp.pool.in_use())
}

/// `rte_pktmbuf_data_room_size`: bytes per buffer, headroom included.
///
/// # Safety
/// `mp` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn rte_pktmbuf_data_room_size(mp: *mut rte_mempool) -> u16 {
    // SAFETY: as above.
    unsafe { mp.as_ref() }.map_or(0, |mp| mp.pool.data_room())
}

/// `rte_pktmbuf_alloc(mp)`: a fresh mbuf, or NULL when the pool is empty.
///
/// # Safety
/// `mp` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn rte_pktmbuf_alloc(mp: *mut rte_mempool) -> *mut rte_mbuf {
    // SAFETY: as above.
    match unsafe { mp.as_ref() }.and_then(|mp| mp.pool.alloc()) {
        Some(m) => into_c(m),
        None => std::ptr::null_mut(),
    }
}

/// `rte_pktmbuf_alloc_bulk(pool, mbufs, count)`: all `count` or none; 0 or `-ENOENT`.
///
/// # Safety
/// `pool` is a live handle; `mbufs` has room for `count` pointers.
#[no_mangle]
pub unsafe extern "C" fn rte_pktmbuf_alloc_bulk(
    pool: *mut rte_mempool,
    mbufs: *mut *mut rte_mbuf,
    count: c_uint,
) -> c_int {
    // SAFETY: as above.
    let Some(mp) = (unsafe { pool.as_ref() }) else {
        return -libc::EINVAL;
    };
    if count == 0 {
        return 0;
    }
    if mbufs.is_null() {
        return -libc::EINVAL;
    }
    let mut got = Vec::with_capacity(count as usize);
    for _ in 0..count {
        match mp.pool.alloc() {
            Some(m) => got.push(m),
            // Dropping `got` returns what was taken: all or nothing.
            None => return -libc::ENOENT,
        }
    }
    for (i, m) in got.into_iter().enumerate() {
        // SAFETY: `mbufs` has room for `count` entries (the caller's promise).
        unsafe { *mbufs.add(i) = into_c(m) };
    }
    0
}

/// `rte_pktmbuf_free(m)`: returns the packet, every segment, to its pool; NULL is ignored.
///
/// # Safety
/// `m` is NULL or an mbuf the caller owns, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rte_pktmbuf_free(m: *mut rte_mbuf) {
    // SAFETY: the caller owns `m` and gives it up.
    drop(unsafe { from_c(m) });
}

/// `rte_pktmbuf_free_bulk(mbufs, count)`: frees each (NULL entries skipped).
///
/// # Safety
/// `mbufs` holds `count` entries, each NULL or an mbuf the caller owns and gives up.
#[no_mangle]
pub unsafe extern "C" fn rte_pktmbuf_free_bulk(mbufs: *mut *mut rte_mbuf, count: c_uint) {
    if mbufs.is_null() {
        return;
    }
    for i in 0..count as usize {
        // SAFETY: `mbufs` holds `count` entries, each NULL or owned by the caller.
        unsafe { rte_pktmbuf_free(*mbufs.add(i)) };
    }
}

/// `rte_pktmbuf_free_seg(m)`: returns this one segment to its pool; the segments after it
/// stay the caller's.
///
/// # Safety
/// `m` is NULL or a segment the caller owns; the caller keeps its own pointer to `m->next`.
#[no_mangle]
pub unsafe extern "C" fn rte_pktmbuf_free_seg(m: *mut rte_mbuf) {
    // SAFETY: the caller owns the segment and gives it up.
    if let Some(mut seg) = unsafe { from_c(m) } {
        // The rest of the chain is not ours to free: hand it back to the caller's pointer.
        if let Some(rest) = seg.take_next() {
            let _ = into_c(rest);
        }
        drop(seg);
    }
}

/// `RTE_MBUF_DEFAULT_BUF_SIZE`, checked against the headers by the tests.
pub const RTE_MBUF_DEFAULT_BUF_SIZE: u16 = dpdk_shim::mbuf::MBUF_DEFAULT_BUF_SIZE;
/// `RTE_PKTMBUF_HEADROOM`.
pub const RTE_PKTMBUF_HEADROOM: u16 = HEADROOM;
