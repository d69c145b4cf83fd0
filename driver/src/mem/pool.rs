//! The packet-buffer pool: DPDK's mempool and mbuf, safe to use above this module.
//!
//! # Layout
//!
//! A [`Mempool`] owns `n` packet buffers of `data_room` bytes each (headroom included), laid out
//! at a stride of `data_room` rounded up to a cache line inside DMA regions of at most 2 MiB,
//! so that no buffer crosses a region (and, with hugepage memory, every buffer is physically
//! contiguous). Each buffer has a header, [`MbufHdr`], of exactly one cache line; the headers
//! live in ordinary host memory owned by the pool, not in DMA memory, so the device can never
//! write them.
//!
//! # Ownership
//!
//! An [`Mbuf`] is a pointer to a header and owns its buffer uniquely: while it exists nobody
//! else reads or writes that header or buffer, which is what lets [`Mbuf::data`] and
//! [`Mbuf::data_mut`] hand out plain slices. The one party that shares the buffer is the device:
//! a queue that posts a buffer to the device keeps its `Mbuf` and does not touch its data until
//! the device has handed the buffer back (the completion's phase bit, read with acquire
//! ordering). Dropping an `Mbuf` returns it, and the segments chained to it, to its pool.
//!
//! # Free lists
//!
//! Lock-free and allocation-free at run time. The shared free list is an
//! [`ArrayQueue`] of *chunks* of 32 buffer indices, moved by value, so a per-core
//! [`MbufCache`] touches the shared list once per 32 buffers; a second `ArrayQueue<u32>` takes
//! single buffers returned without a cache (an `Mbuf` dropped anywhere). A cache refills from
//! the chunk list and falls back to draining single frees when that is empty.
//!
//! # Lifetime
//!
//! Headers hold a raw pointer to the pool's memory, and there are no per-packet reference
//! counts, so the pool's memory must outlive every `Mbuf` by construction: when the last
//! [`Mempool`] handle (caches hold one) is dropped, the pool counts its free buffers, and if
//! any buffer is still out — an `Mbuf` alive somewhere — it *leaks* its memory (DMA regions,
//! headers, free lists) with a warning instead of freeing it. Outstanding `Mbuf`s stay valid,
//! and dropping them later returns them to the leaked lists. Counting pops the free lists, and
//! a pop waits for a concurrent push into its slot to complete, so an `Mbuf` dropped on
//! another thread at that moment is either counted (its push has begun, and the pop waits for
//! it to finish) or is still out (and the pool leaks).
//!
//! Names and semantics follow DPDK's `lib/mbuf/rte_mbuf.h` and `lib/mbuf/rte_mbuf_core.h`.
#![allow(unsafe_code)]

use crate::error::{Error, Result};
use crate::mem::DmaRegion;
use crossbeam::queue::ArrayQueue;
use crossbeam::utils::CachePadded;
use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes reserved in front of the packet data in a fresh buffer (DPDK's RTE_PKTMBUF_HEADROOM),
/// room to prepend encapsulation headers without copying.
pub const HEADROOM: u16 = 128;
/// The default data room: a 2 KiB frame plus the headroom (DPDK's RTE_MBUF_DEFAULT_BUF_SIZE).
pub const DEFAULT_DATA_ROOM: u16 = 2048 + HEADROOM;
/// The default number of buffers an [`MbufCache`] keeps before giving chunks back.
pub const DEFAULT_CACHE_SIZE: usize = 256;
/// The port of a buffer no port has received into (DPDK's RTE_MBUF_PORT_INVALID).
pub const PORT_INVALID: u16 = u16::MAX;
/// The largest DMA region the pool asks for: one 2 MiB hugepage.
pub const MAX_REGION: usize = 2 << 20;

/// Buffers per chunk of the shared free list.
const CHUNK: usize = 32;
type Chunk = [u32; CHUNK];
/// Buffer stride alignment: a cache line.
const STRIDE_ALIGN: usize = 64;

/// Pools that leaked their memory because a buffer was still out when they were dropped.
static LEAKED_POOLS: AtomicUsize = AtomicUsize::new(0);

/// Offload flags (`ol_flags`), with DPDK's names and bit positions (DPDK
/// `lib/mbuf/rte_mbuf_core.h`, `RTE_MBUF_F_*`), so that the C shim can pass them through.
pub mod ol {
    /// RX: the packet carries a valid RSS hash ([`super::Mbuf::rss_hash`]).
    pub const RX_RSS_HASH: u64 = 1 << 1;
    /// RX: the L4 checksum is wrong.
    pub const RX_L4_CKSUM_BAD: u64 = 1 << 3;
    /// RX: the IP header checksum is wrong.
    pub const RX_IP_CKSUM_BAD: u64 = 1 << 4;
    /// RX: the IP header checksum is correct.
    pub const RX_IP_CKSUM_GOOD: u64 = 1 << 7;
    /// RX: the L4 checksum is correct.
    pub const RX_L4_CKSUM_GOOD: u64 = 1 << 8;
    /// RX: nothing known about the IP checksum.
    pub const RX_IP_CKSUM_UNKNOWN: u64 = 0;
    /// RX: the IP checksum in the packet is not correct, but the header's integrity is verified.
    pub const RX_IP_CKSUM_NONE: u64 = RX_IP_CKSUM_BAD | RX_IP_CKSUM_GOOD;
    /// RX: the bits that carry the IP checksum status.
    pub const RX_IP_CKSUM_MASK: u64 = RX_IP_CKSUM_BAD | RX_IP_CKSUM_GOOD;
    /// RX: nothing known about the L4 checksum.
    pub const RX_L4_CKSUM_UNKNOWN: u64 = 0;
    /// RX: the L4 checksum in the packet is not correct, but the data's integrity is verified.
    pub const RX_L4_CKSUM_NONE: u64 = RX_L4_CKSUM_BAD | RX_L4_CKSUM_GOOD;
    /// RX: the bits that carry the L4 checksum status.
    pub const RX_L4_CKSUM_MASK: u64 = RX_L4_CKSUM_BAD | RX_L4_CKSUM_GOOD;

    /// TX: TCP segmentation offload (needs l2/l3/l4 lengths and tso_segsz; implies the TCP
    /// checksum).
    pub const TX_TCP_SEG: u64 = 1 << 50;
    /// TX: no L4 checksum offload.
    pub const TX_L4_NO_CKSUM: u64 = 0;
    /// TX: the device computes the TCP checksum.
    pub const TX_TCP_CKSUM: u64 = 1 << 52;
    /// TX: the device computes the SCTP checksum.
    pub const TX_SCTP_CKSUM: u64 = 2 << 52;
    /// TX: the device computes the UDP checksum.
    pub const TX_UDP_CKSUM: u64 = 3 << 52;
    /// TX: the two bits that select the L4 checksum offload.
    pub const TX_L4_MASK: u64 = 3 << 52;
    /// TX: the device computes the IPv4 header checksum.
    pub const TX_IP_CKSUM: u64 = 1 << 54;
    /// TX: the packet is IPv4 (needed with any offload).
    pub const TX_IPV4: u64 = 1 << 55;
    /// TX: the packet is IPv6 (needed with any offload).
    pub const TX_IPV6: u64 = 1 << 56;
}

/// What the receive path records in a packet's first segment (see [`Mbuf::set_rx`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxMeta {
    /// `ol_flags` (`ol::RX_*`).
    pub ol_flags: u64,
    /// `packet_type` (`ptype::*`).
    pub packet_type: u32,
    /// The RSS hash (0 unless `ol::RX_RSS_HASH` is set).
    pub rss_hash: u32,
    /// Receiving port.
    pub port: u16,
    /// Receiving queue.
    pub queue: u16,
}

/// Per-buffer metadata, one cache line, in host memory owned by the pool.
///
/// The fields are reached through [`Mbuf`]. The buffer's index is not stored: it follows from
/// the header's position in the pool's header array; the buffer's device address is its host
/// address plus its region's IOVA offset. `pkt_len` and `nb_segs` are meaningful in the first
/// segment of a chain.
#[repr(C, align(64))]
pub struct MbufHdr {
    /// Host address of the buffer's first byte (constant).
    buf_va: NonNull<u8>,
    ol_flags: u64,
    next: Option<Mbuf>,
    /// The pool's memory (constant), valid while any buffer of it is out.
    pool: NonNull<MempoolCore>,
    pkt_len: u32,
    rss_hash: u32,
    packet_type: u32,
    data_off: u16,
    data_len: u16,
    nb_segs: u16,
    port: u16,
    queue: u16,
    tso_segsz: u16,
    l3_len: u16,
    /// Which of the pool's DMA regions holds the buffer (constant).
    region: u16,
    /// The data room (constant).
    buf_len: u16,
    l2_len: u8,
    l4_len: u8,
}

const _: () = assert!(size_of::<MbufHdr>() == 64 && align_of::<MbufHdr>() == 64);
const _: () = assert!(size_of::<Mbuf>() == 8 && size_of::<Option<Mbuf>>() == 8);

/// Byte offsets of [`MbufHdr`]'s fields, for code that reads the header through another
/// declaration of it: the C API's `struct rte_mbuf` (dpdk-shim/capi) asserts at compile time
/// that its layout is this one, so reordering the header cannot silently break C programs.
pub mod hdr_offset {
    use super::MbufHdr;
    use std::mem::offset_of;

    /// Host address of the buffer (`buf_addr`).
    pub const BUF_VA: usize = offset_of!(MbufHdr, buf_va);
    /// `ol_flags`.
    pub const OL_FLAGS: usize = offset_of!(MbufHdr, ol_flags);
    /// `next` (the next segment's header, or null).
    pub const NEXT: usize = offset_of!(MbufHdr, next);
    /// The pool's memory (private).
    pub const POOL: usize = offset_of!(MbufHdr, pool);
    /// `pkt_len`.
    pub const PKT_LEN: usize = offset_of!(MbufHdr, pkt_len);
    /// `hash.rss`.
    pub const RSS_HASH: usize = offset_of!(MbufHdr, rss_hash);
    /// `packet_type`.
    pub const PACKET_TYPE: usize = offset_of!(MbufHdr, packet_type);
    /// `data_off`.
    pub const DATA_OFF: usize = offset_of!(MbufHdr, data_off);
    /// `data_len`.
    pub const DATA_LEN: usize = offset_of!(MbufHdr, data_len);
    /// `nb_segs`.
    pub const NB_SEGS: usize = offset_of!(MbufHdr, nb_segs);
    /// `port`.
    pub const PORT: usize = offset_of!(MbufHdr, port);
    /// The RX queue.
    pub const QUEUE: usize = offset_of!(MbufHdr, queue);
    /// `tso_segsz`.
    pub const TSO_SEGSZ: usize = offset_of!(MbufHdr, tso_segsz);
    /// `l3_len`.
    pub const L3_LEN: usize = offset_of!(MbufHdr, l3_len);
    /// The buffer's DMA region (private).
    pub const REGION: usize = offset_of!(MbufHdr, region);
    /// `buf_len`.
    pub const BUF_LEN: usize = offset_of!(MbufHdr, buf_len);
    /// `l2_len`.
    pub const L2_LEN: usize = offset_of!(MbufHdr, l2_len);
    /// `l4_len`.
    pub const L4_LEN: usize = offset_of!(MbufHdr, l4_len);
}

impl MbufHdr {
    /// Metadata of a fresh buffer. Dropping a chained `next` returns it to its pool.
    fn reset(&mut self) {
        self.data_off = HEADROOM.min(self.buf_len);
        self.data_len = 0;
        self.pkt_len = 0;
        self.nb_segs = 1;
        self.next = None;
        self.ol_flags = 0;
        self.rss_hash = 0;
        self.packet_type = 0;
        self.port = PORT_INVALID;
        self.queue = 0;
        self.l2_len = 0;
        self.l3_len = 0;
        self.l4_len = 0;
        self.tso_segsz = 0;
    }
}

/// The pool's memory: buffers, headers and free lists. Reached through a [`Mempool`] handle
/// (which dereferences to it) or [`Mbuf::pool`].
pub struct MempoolCore {
    name: String,
    hdrs: Box<[UnsafeCell<MbufHdr>]>,
    regions: Box<[DmaRegion]>,
    /// Per region: IOVA minus host address (wrapping), to turn a buffer's host address into
    /// its device address.
    iova_delta: Box<[u64]>,
    data_room: u16,
    stride: usize,
    /// Full chunks of free buffer indices.
    chunks: ArrayQueue<Chunk>,
    /// Free buffers returned one at a time.
    singles: ArrayQueue<u32>,
    /// The depth of each live cache's stack.
    caches: Mutex<Vec<Arc<CachePadded<AtomicU32>>>>,
}

// SAFETY: a header is read or written only by the unique owner of its buffer index (an `Mbuf`,
// or the pool/cache code that just took the index from a free list); everything else is
// immutable after construction, lock-free queues, atomics or under a mutex. The DMA regions
// are Send + Sync.
unsafe impl Send for MempoolCore {}
// SAFETY: as for Send.
unsafe impl Sync for MempoolCore {}

impl std::fmt::Debug for MempoolCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool")
            .field("name", &self.name)
            .field("capacity", &self.capacity())
            .field("available", &self.available())
            .field("cached", &self.cached())
            .field("data_room", &self.data_room)
            .finish()
    }
}

impl MempoolCore {
    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of buffers.
    pub fn capacity(&self) -> u32 {
        self.hdrs.len() as u32
    }

    /// Bytes per buffer, headroom included (DPDK's data room size, the mbuf's `buf_len`).
    pub fn data_room(&self) -> u16 {
        self.data_room
    }

    /// Distance between two buffers in memory.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The DMA regions holding the buffers.
    pub fn regions(&self) -> &[DmaRegion] {
        &self.regions
    }

    /// Buffers in the shared free lists (not counting those held by live caches).
    pub fn available(&self) -> u32 {
        (self.chunks.len() * CHUNK + self.singles.len()) as u32
    }

    /// Buffers held in live caches' stacks.
    pub fn cached(&self) -> u32 {
        let caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        caches.iter().map(|d| d.load(Ordering::Relaxed)).sum()
    }

    /// Buffers out of the pool: `capacity - available - cached`. Exact when the pool is quiet;
    /// while other threads allocate and free it is a snapshot that may be off by what is in
    /// flight.
    pub fn in_use(&self) -> u32 {
        self.capacity()
            .saturating_sub(self.available())
            .saturating_sub(self.cached())
    }

    /// One buffer, without a cache (control path; the data path uses an [`MbufCache`]).
    pub fn alloc(&self) -> Option<Mbuf> {
        let idx = match self.singles.pop() {
            Some(i) => i,
            None => {
                let chunk = self.chunks.pop()?;
                // The singles queue holds every buffer of the pool, so it has room for these.
                for &i in &chunk[1..] {
                    self.give_single(i);
                }
                chunk[0]
            }
        };
        Some(self.take(idx))
    }

    /// The index of the buffer whose header is at `hdr`.
    #[inline(always)]
    fn index_of(&self, hdr: NonNull<MbufHdr>) -> u32 {
        ((hdr.as_ptr() as usize - self.hdrs.as_ptr() as usize) / size_of::<MbufHdr>()) as u32
    }

    /// Turns a free index into an `Mbuf` with fresh metadata.
    #[inline(always)]
    fn take(&self, idx: u32) -> Mbuf {
        // Every index in a free list is below the capacity.
        let cell = &self.hdrs[idx as usize];
        let mut m = Mbuf(NonNull::from(cell).cast());
        m.hdr_mut().reset();
        m
    }

    /// Returns one buffer to the singles list. For an `Mbuf` being dropped this must be its last
    /// access to the pool's memory (see the module doc's Lifetime section).
    #[inline(always)]
    fn give_single(&self, idx: u32) {
        // Cannot fail: the queue holds as many entries as the pool has buffers, and each buffer
        // is in at most one place. Were it to fail, the buffer would be lost, not duplicated.
        let pushed = self.singles.push(idx);
        debug_assert!(
            pushed.is_ok(),
            "pool {}: single-free list overflow",
            self.name
        );
    }

    /// Returns a whole chunk to the chunk list (or, should it be full, one by one).
    fn give_chunk(&self, chunk: Chunk) {
        if let Err(chunk) = self.chunks.push(chunk) {
            for i in chunk {
                self.give_single(i);
            }
        }
    }
}

/// A pool of packet buffers. Cheap to clone (a reference count); `Send + Sync`.
///
/// Dereferences to [`MempoolCore`] for its counters.
#[derive(Clone)]
pub struct Mempool(Arc<PoolInner>);

struct PoolInner {
    core: NonNull<MempoolCore>,
}

// SAFETY: `core` points to a `MempoolCore` (Send + Sync) that lives at least as long as this.
unsafe impl Send for PoolInner {}
// SAFETY: as for Send.
unsafe impl Sync for PoolInner {}

impl std::ops::Deref for Mempool {
    type Target = MempoolCore;

    #[inline(always)]
    fn deref(&self) -> &MempoolCore {
        // SAFETY: the core is freed only when the last `PoolInner` drops, never before.
        unsafe { self.0.core.as_ref() }
    }
}

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // SAFETY: the core is still alive; no cache is (each holds a handle).
        let core = unsafe { self.core.as_ref() };
        // Popping (rather than reading the lengths) waits for pushes in flight on other threads.
        let mut free = 0usize;
        while core.chunks.pop().is_some() {
            free += CHUNK;
        }
        while core.singles.pop().is_some() {
            free += 1;
        }
        let capacity = core.hdrs.len();
        if free == capacity {
            // SAFETY: the core came from `Box::leak` in `Mempool::new`; every buffer is free, so
            // no `Mbuf` (and no other handle) points into it any more.
            drop(unsafe { Box::from_raw(self.core.as_ptr()) });
        } else {
            LEAKED_POOLS.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                target: "ena::mem",
                "mempool {} dropped with {} of {capacity} buffers still in use; leaking its memory so that they stay valid",
                core.name,
                capacity.saturating_sub(free)
            );
        }
    }
}

impl Mempool {
    /// A pool of `n` buffers of `data_room` bytes each (headroom included; at least
    /// [`HEADROOM`]), in DMA regions of at most 2 MiB obtained from `alloc(len, align)` (a
    /// [`crate::platform::Platform::alloc_dma`]).
    pub fn new(
        name: &str,
        n: u32,
        data_room: u16,
        alloc: &dyn Fn(usize, usize) -> Result<DmaRegion>,
    ) -> Result<Mempool> {
        if n == 0 {
            return Err(Error::Config(format!("mempool {name}: 0 buffers")));
        }
        if data_room < HEADROOM {
            return Err(Error::Config(format!(
                "mempool {name}: data room {data_room} is smaller than the {HEADROOM}-byte headroom"
            )));
        }
        let stride = (data_room as usize).next_multiple_of(STRIDE_ALIGN);
        let per_region = MAX_REGION / stride;
        let n_regions = (n as usize).div_ceil(per_region);
        if n_regions > usize::from(u16::MAX) + 1 {
            return Err(Error::Config(format!(
                "mempool {name}: {n} buffers of {stride} bytes need {n_regions} regions of 2 MiB, more than 65536"
            )));
        }

        let mut regions = Vec::with_capacity(n_regions);
        let mut iova_delta = Vec::with_capacity(n_regions);
        let mut hdrs = Vec::with_capacity(n as usize);
        let mut left = n as usize;
        for r in 0..n_regions {
            let count = left.min(per_region);
            left -= count;
            let len = count * stride;
            let region = alloc(len, STRIDE_ALIGN)?;
            if region.len() < len {
                return Err(Error::NoMemory(format!(
                    "mempool {name}: asked for a {len}-byte DMA region, got {} bytes",
                    region.len()
                )));
            }
            let base = region.as_ptr();
            for k in 0..count {
                // In bounds: `k * stride + data_room <= len <= region.len()`.
                let buf_va = NonNull::new(base.wrapping_add(k * stride)).ok_or_else(|| {
                    Error::NoMemory(format!("mempool {name}: DMA region at address 0"))
                })?;
                let mut hdr = MbufHdr {
                    buf_va,
                    ol_flags: 0,
                    next: None,
                    pool: NonNull::dangling(),
                    pkt_len: 0,
                    rss_hash: 0,
                    packet_type: 0,
                    data_off: 0,
                    data_len: 0,
                    nb_segs: 1,
                    port: PORT_INVALID,
                    queue: 0,
                    tso_segsz: 0,
                    l3_len: 0,
                    region: r as u16,
                    buf_len: data_room,
                    l2_len: 0,
                    l4_len: 0,
                };
                hdr.reset();
                hdrs.push(UnsafeCell::new(hdr));
            }
            iova_delta.push(region.iova().wrapping_sub(base as u64));
            regions.push(region);
        }

        let chunks = ArrayQueue::new((n as usize / CHUNK).max(1));
        let singles = ArrayQueue::new(n as usize);
        let mut next = 0u32;
        while n - next >= CHUNK as u32 {
            let chunk: Chunk = std::array::from_fn(|i| next + i as u32);
            // Sized for every full chunk of the pool: cannot fail.
            let _ = chunks.push(chunk);
            next += CHUNK as u32;
        }
        for i in next..n {
            let _ = singles.push(i);
        }

        let core = Box::new(MempoolCore {
            name: name.to_owned(),
            hdrs: hdrs.into_boxed_slice(),
            regions: regions.into_boxed_slice(),
            iova_delta: iova_delta.into_boxed_slice(),
            data_room,
            stride,
            chunks,
            singles,
            caches: Mutex::new(Vec::new()),
        });
        let core = NonNull::from(Box::leak(core));
        // SAFETY: just leaked, so valid; nobody else has seen it yet.
        let shared = unsafe { core.as_ref() };
        for cell in shared.hdrs.iter() {
            // SAFETY: the headers are not shared with anyone yet; writing through the cell's
            // pointer is the interior mutability `UnsafeCell` provides.
            unsafe { (*cell.get()).pool = core };
        }
        Ok(Mempool(Arc::new(PoolInner { core })))
    }

    /// A per-core cache keeping up to `size` buffers (at least 32; [`DEFAULT_CACHE_SIZE`] is a
    /// good choice) in a local stack.
    pub fn cache(&self, size: usize) -> MbufCache {
        let size = size.max(CHUNK);
        let depth = Arc::new(CachePadded::new(AtomicU32::new(0)));
        self.caches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(depth.clone());
        MbufCache {
            pool: self.clone(),
            stack: Vec::with_capacity(size + CHUNK),
            size,
            depth,
            _not_sync: PhantomData,
        }
    }

    /// Whether `m` belongs to this pool.
    pub fn owns(&self, m: &Mbuf) -> bool {
        m.hdr().pool == self.0.core
    }

    /// Pools leaked so far because a buffer was out when they were dropped.
    pub fn leaked_pools() -> usize {
        LEAKED_POOLS.load(Ordering::Relaxed)
    }
}

/// A per-core (per-queue) buffer cache: a local stack that moves whole chunks of 32 buffers to
/// and from the pool's shared list. `Send`, not `Sync`: one owner at a time. Dropping it
/// flushes everything back to the pool.
pub struct MbufCache {
    pool: Mempool,
    stack: Vec<u32>,
    size: usize,
    /// This cache's stack depth, for [`MempoolCore::cached`].
    depth: Arc<CachePadded<AtomicU32>>,
    _not_sync: PhantomData<Cell<()>>,
}

impl std::fmt::Debug for MbufCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MbufCache")
            .field("pool", &self.pool.name())
            .field("held", &self.stack.len())
            .field("size", &self.size)
            .finish()
    }
}

impl MbufCache {
    /// The pool this cache serves.
    pub fn pool(&self) -> &Mempool {
        &self.pool
    }

    /// Buffers in the local stack.
    pub fn len(&self) -> usize {
        self.stack.len()
    }

    /// Whether the local stack is empty.
    pub fn is_empty(&self) -> bool {
        self.stack.is_empty()
    }

    /// The stack depth above which a chunk goes back to the pool.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Publishes the stack depth for the pool's counters (a plain store to a line this cache
    /// owns: no read-modify-write, no sharing unless someone reads the counters).
    #[inline(always)]
    fn publish(&self) {
        self.depth.store(self.stack.len() as u32, Ordering::Relaxed);
    }

    /// Takes one chunk from the pool, or up to a chunk of single frees. Whether any came.
    fn refill(&mut self) -> bool {
        if let Some(chunk) = self.pool.chunks.pop() {
            self.stack.extend_from_slice(&chunk);
            return true;
        }
        let before = self.stack.len();
        while self.stack.len() - before < CHUNK {
            match self.pool.singles.pop() {
                Some(i) => self.stack.push(i),
                None => break,
            }
        }
        self.stack.len() > before
    }

    /// Pushes a free index; gives a chunk back when over size.
    #[inline(always)]
    fn put(&mut self, idx: u32) {
        self.stack.push(idx);
        if self.stack.len() > self.size {
            let start = self.stack.len() - CHUNK;
            let mut chunk = [0u32; CHUNK];
            chunk.copy_from_slice(&self.stack[start..]);
            self.stack.truncate(start);
            self.pool.give_chunk(chunk);
        }
    }

    /// One buffer, reset, or `None` when the pool is empty.
    #[inline]
    pub fn alloc(&mut self) -> Option<Mbuf> {
        let idx = match self.stack.pop() {
            Some(i) => i,
            None => {
                if !self.refill() {
                    return None;
                }
                self.stack.pop()?
            }
        };
        self.publish();
        Some(self.pool.take(idx))
    }

    /// Fills every slot of `out` with a fresh buffer, or none of them (like
    /// `rte_pktmbuf_alloc_bulk`). Buffers already in the slots are freed first.
    pub fn alloc_bulk(&mut self, out: &mut [Option<Mbuf>]) -> bool {
        let want = out.len();
        // Refill while the stack has room for a whole chunk (it never reallocates).
        while self.stack.len() < want && self.stack.len() + CHUNK <= self.stack.capacity() {
            if !self.refill() {
                break;
            }
        }
        if self.stack.len() >= want {
            for slot in out.iter_mut() {
                // Cannot be None: the stack holds at least `want`.
                *slot = self.stack.pop().map(|i| self.pool.take(i));
            }
            self.publish();
            return true;
        }
        // More than the stack holds at once, or the pool is short: hand out as it comes and
        // give everything back if it runs dry.
        for filled in 0..want {
            let idx = match self.stack.pop() {
                Some(i) => Some(i),
                None if self.refill() => self.stack.pop(),
                None => None,
            };
            match idx {
                Some(i) => out[filled] = Some(self.pool.take(i)),
                None => {
                    for slot in &mut out[..filled] {
                        if let Some(m) = slot.take() {
                            self.free_chain(m);
                        }
                    }
                    self.publish();
                    return false;
                }
            }
        }
        self.publish();
        true
    }

    fn free_chain(&mut self, m: Mbuf) {
        let mut cur = Some(m);
        while let Some(mut seg) = cur {
            cur = seg.take_next();
            if seg.hdr().pool == self.pool.0.core {
                let idx = self.pool.index_of(seg.into_raw());
                self.put(idx);
            } else {
                // A segment of another pool goes back there (its `next` is already taken).
                drop(seg);
            }
        }
    }

    /// Returns `m` and every segment chained to it.
    #[inline]
    pub fn free(&mut self, m: Mbuf) {
        self.free_chain(m);
        self.publish();
    }

    /// Returns every buffer (and chain) of `mbufs`, e.g. `slots.iter_mut().filter_map(Option::take)`.
    pub fn free_bulk<I: IntoIterator<Item = Mbuf>>(&mut self, mbufs: I) {
        for m in mbufs {
            self.free_chain(m);
        }
        self.publish();
    }

    /// Gives every buffer in the local stack back to the pool.
    pub fn flush(&mut self) {
        while self.stack.len() >= CHUNK {
            let start = self.stack.len() - CHUNK;
            let mut chunk = [0u32; CHUNK];
            chunk.copy_from_slice(&self.stack[start..]);
            self.stack.truncate(start);
            self.pool.give_chunk(chunk);
        }
        for i in self.stack.drain(..) {
            self.pool.give_single(i);
        }
        self.publish();
    }
}

impl Drop for MbufCache {
    fn drop(&mut self) {
        self.flush();
        let mut caches = self.pool.caches.lock().unwrap_or_else(|e| e.into_inner());
        caches.retain(|d| !Arc::ptr_eq(d, &self.depth));
    }
}

/// A packet buffer, owned uniquely (8 bytes; `Option<Mbuf>` too). Dropping it returns it and its
/// chain to the pool.
///
/// An `Mbuf` exists only for a buffer the driver owns: a queue that posts the buffer to the
/// device holds the `Mbuf` without touching its data until the device returns the buffer.
#[repr(transparent)]
pub struct Mbuf(NonNull<MbufHdr>);

// SAFETY: an `Mbuf` is the unique owner of its header and buffer, which may be used from any
// thread; returning it goes through the pool's lock-free queues, and the pool is Sync.
unsafe impl Send for Mbuf {}

impl std::fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mbuf")
            .field("pool", &self.pool().name())
            .field("index", &self.index())
            .field("data_off", &self.data_off())
            .field("data_len", &self.data_len())
            .field("pkt_len", &self.pkt_len())
            .field("nb_segs", &self.nb_segs())
            .field("ol_flags", &format_args!("{:#x}", self.ol_flags()))
            .finish()
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        let mut cur = Some(self.0);
        while let Some(hdr) = cur {
            // SAFETY: this chain owns every header in it uniquely (see the type's docs).
            let h = unsafe { &mut *hdr.as_ptr() };
            cur = h.next.take().map(Mbuf::into_raw);
            // SAFETY: the pool's memory outlives every buffer that is out (module doc, Lifetime).
            let pool = unsafe { h.pool.as_ref() };
            let idx = pool.index_of(hdr);
            // The last access to this pool's memory for this segment.
            pool.give_single(idx);
        }
    }
}

/// Iterator over the segments of a chain, first to last.
#[derive(Debug, Clone)]
pub struct Segments<'a> {
    cur: Option<&'a Mbuf>,
}

impl<'a> Iterator for Segments<'a> {
    type Item = &'a Mbuf;

    fn next(&mut self) -> Option<&'a Mbuf> {
        let m = self.cur?;
        self.cur = m.next();
        Some(m)
    }
}

impl Mbuf {
    #[inline(always)]
    fn hdr(&self) -> &MbufHdr {
        // SAFETY: this `Mbuf` owns the header uniquely and the pool's memory outlives it.
        unsafe { self.0.as_ref() }
    }

    #[inline(always)]
    fn hdr_mut(&mut self) -> &mut MbufHdr {
        // SAFETY: as in `hdr`; `&mut self` makes the access exclusive.
        unsafe { self.0.as_mut() }
    }

    /// Gives up ownership without returning the buffer (for the C shim, which passes buffers
    /// across the ABI as pointers). [`Mbuf::from_raw`] takes it back.
    #[inline(always)]
    pub fn into_raw(self) -> NonNull<MbufHdr> {
        let p = self.0;
        std::mem::forget(self);
        p
    }

    /// Takes back ownership of a pointer from [`Mbuf::into_raw`].
    ///
    /// # Safety
    /// `p` must come from `into_raw` and must not have been passed to `from_raw` since: each
    /// buffer has exactly one owner.
    #[inline(always)]
    pub unsafe fn from_raw(p: NonNull<MbufHdr>) -> Mbuf {
        Mbuf(p)
    }

    /// The pool this buffer came from.
    #[inline(always)]
    pub fn pool(&self) -> &MempoolCore {
        // SAFETY: the pool's memory outlives every buffer that is out.
        unsafe { self.hdr().pool.as_ref() }
    }

    /// The buffer's index in its pool.
    #[inline]
    pub fn index(&self) -> u32 {
        self.pool().index_of(self.0)
    }

    /// Metadata back to a fresh buffer's (data at the headroom, lengths and flags 0, one
    /// segment); a chained tail is returned to its pool.
    pub fn reset(&mut self) {
        self.hdr_mut().reset();
    }

    /// Size of the buffer (the pool's data room, headroom included).
    #[inline(always)]
    pub fn buf_len(&self) -> u16 {
        self.hdr().buf_len
    }

    /// Offset of the packet data in the buffer.
    #[inline(always)]
    pub fn data_off(&self) -> u16 {
        self.hdr().data_off
    }

    /// Sets the data offset; refused (false, nothing changed) if the data would end past the
    /// buffer.
    #[inline]
    #[must_use]
    pub fn set_data_off(&mut self, off: u16) -> bool {
        let h = self.hdr_mut();
        if u32::from(off) + u32::from(h.data_len) > u32::from(h.buf_len) {
            return false;
        }
        h.data_off = off;
        true
    }

    /// Fills in a received one-segment packet in one go: data at `data_off`, `len` bytes long
    /// (also the packet length), with its offload flags, packet type, RSS hash and origin.
    /// Refused (false, nothing changed) if the data would end past the buffer.
    #[inline(always)]
    #[must_use]
    pub fn set_rx(&mut self, data_off: u16, len: u16, rx: RxMeta) -> bool {
        let h = self.hdr_mut();
        if u32::from(data_off) + u32::from(len) > u32::from(h.buf_len) {
            return false;
        }
        h.data_off = data_off;
        h.data_len = len;
        h.pkt_len = u32::from(len);
        h.ol_flags = rx.ol_flags;
        h.packet_type = rx.packet_type;
        h.rss_hash = rx.rss_hash;
        h.port = rx.port;
        h.queue = rx.queue;
        true
    }

    /// Bytes of packet data in this segment.
    #[inline(always)]
    pub fn data_len(&self) -> u16 {
        self.hdr().data_len
    }

    /// Sets this segment's data length; refused (false, nothing changed) if the data would end
    /// past the buffer. `pkt_len` is not touched.
    #[inline]
    #[must_use]
    pub fn set_data_len(&mut self, len: u16) -> bool {
        let h = self.hdr_mut();
        if u32::from(h.data_off) + u32::from(len) > u32::from(h.buf_len) {
            return false;
        }
        h.data_len = len;
        true
    }

    /// Length of the whole packet (all segments; meaningful in the first).
    #[inline(always)]
    pub fn pkt_len(&self) -> u32 {
        self.hdr().pkt_len
    }

    /// Sets the packet length.
    #[inline(always)]
    pub fn set_pkt_len(&mut self, len: u32) {
        self.hdr_mut().pkt_len = len;
    }

    /// Number of segments (meaningful in the first).
    #[inline(always)]
    pub fn nb_segs(&self) -> u16 {
        self.hdr().nb_segs
    }

    /// Sets the number of segments (for code that links segments with [`Mbuf::set_next`]).
    #[inline(always)]
    pub fn set_nb_segs(&mut self, n: u16) {
        self.hdr_mut().nb_segs = n;
    }

    /// The next segment.
    #[inline(always)]
    pub fn next(&self) -> Option<&Mbuf> {
        self.hdr().next.as_ref()
    }

    /// The next segment, mutably.
    #[inline(always)]
    pub fn next_mut(&mut self) -> Option<&mut Mbuf> {
        self.hdr_mut().next.as_mut()
    }

    /// Links `next` after this segment, freeing what was linked before. Like DPDK's
    /// `m->next = ...`, it leaves `nb_segs` and `pkt_len` alone ([`Mbuf::chain`] fixes them).
    #[inline]
    pub fn set_next(&mut self, next: Option<Mbuf>) {
        self.hdr_mut().next = next;
    }

    /// Unlinks and returns the rest of the chain (`nb_segs`/`pkt_len` untouched).
    #[inline]
    pub fn take_next(&mut self) -> Option<Mbuf> {
        self.hdr_mut().next.take()
    }

    /// The last segment of the chain.
    pub fn last_seg(&self) -> &Mbuf {
        let mut cur = self;
        while let Some(n) = cur.next() {
            cur = n;
        }
        cur
    }

    /// The last segment of the chain, mutably.
    pub fn last_seg_mut(&mut self) -> &mut Mbuf {
        let mut cur = self;
        // The borrow checker accepts this shape of walk (not `while let`); the arm that cannot
        // happen keeps it free of unwrap.
        while cur.hdr().next.is_some() {
            cur = match cur.hdr_mut().next.as_mut() {
                Some(n) => n,
                None => unreachable!("checked just above"),
            };
        }
        cur
    }

    /// Appends the chain `tail` after this chain's last segment, adding its segments and length
    /// (`rte_pktmbuf_chain`). On overflow of `nb_segs` (65535) or `pkt_len` (4 GiB) nothing is
    /// changed and both come back.
    pub fn try_chain(mut self, mut tail: Mbuf) -> std::result::Result<Mbuf, (Mbuf, Mbuf)> {
        let segs = self.nb_segs().checked_add(tail.nb_segs());
        let len = self.pkt_len().checked_add(tail.pkt_len());
        let (Some(segs), Some(len)) = (segs, len) else {
            return Err((self, tail));
        };
        // Only the first segment carries the packet length.
        let tail_data = u32::from(tail.data_len());
        tail.set_pkt_len(tail_data);
        self.last_seg_mut().hdr_mut().next = Some(tail);
        let h = self.hdr_mut();
        h.nb_segs = segs;
        h.pkt_len = len;
        Ok(self)
    }

    /// [`Mbuf::try_chain`] for chains that cannot overflow.
    ///
    /// # Panics
    /// If the chain would have more than 65535 segments or 4 GiB of data (`rte_pktmbuf_chain`
    /// returns -EOVERFLOW there).
    pub fn chain(self, tail: Mbuf) -> Mbuf {
        match self.try_chain(tail) {
            Ok(m) => m,
            Err(_) => panic!("mbuf chain would exceed 65535 segments or 4 GiB"),
        }
    }

    /// The segments of the chain, this one first.
    pub fn segments(&self) -> Segments<'_> {
        Segments { cur: Some(self) }
    }

    /// Offload flags ([`ol`]).
    #[inline(always)]
    pub fn ol_flags(&self) -> u64 {
        self.hdr().ol_flags
    }

    /// Sets the offload flags.
    #[inline(always)]
    pub fn set_ol_flags(&mut self, flags: u64) {
        self.hdr_mut().ol_flags = flags;
    }

    /// The RSS hash the device computed (valid with [`ol::RX_RSS_HASH`]).
    #[inline(always)]
    pub fn rss_hash(&self) -> u32 {
        self.hdr().rss_hash
    }

    /// Sets the RSS hash.
    #[inline(always)]
    pub fn set_rss_hash(&mut self, hash: u32) {
        self.hdr_mut().rss_hash = hash;
    }

    /// The port the packet arrived on.
    #[inline(always)]
    pub fn port(&self) -> u16 {
        self.hdr().port
    }

    /// Sets the port.
    #[inline(always)]
    pub fn set_port(&mut self, port: u16) {
        self.hdr_mut().port = port;
    }

    /// The queue the packet arrived on.
    #[inline(always)]
    pub fn queue(&self) -> u16 {
        self.hdr().queue
    }

    /// Sets the queue.
    #[inline(always)]
    pub fn set_queue(&mut self, queue: u16) {
        self.hdr_mut().queue = queue;
    }

    /// L2 header length (for TX offloads).
    #[inline(always)]
    pub fn l2_len(&self) -> u8 {
        self.hdr().l2_len
    }

    /// Sets the L2 header length.
    #[inline(always)]
    pub fn set_l2_len(&mut self, len: u8) {
        self.hdr_mut().l2_len = len;
    }

    /// L3 header length (for TX offloads).
    #[inline(always)]
    pub fn l3_len(&self) -> u16 {
        self.hdr().l3_len
    }

    /// Sets the L3 header length.
    #[inline(always)]
    pub fn set_l3_len(&mut self, len: u16) {
        self.hdr_mut().l3_len = len;
    }

    /// L4 header length (for TSO).
    #[inline(always)]
    pub fn l4_len(&self) -> u8 {
        self.hdr().l4_len
    }

    /// Sets the L4 header length.
    #[inline(always)]
    pub fn set_l4_len(&mut self, len: u8) {
        self.hdr_mut().l4_len = len;
    }

    /// TSO segment size (MSS).
    #[inline(always)]
    pub fn tso_segsz(&self) -> u16 {
        self.hdr().tso_segsz
    }

    /// Sets the TSO segment size.
    #[inline(always)]
    pub fn set_tso_segsz(&mut self, mss: u16) {
        self.hdr_mut().tso_segsz = mss;
    }

    /// Packet type (DPDK's `RTE_PTYPE_*` layout).
    #[inline(always)]
    pub fn packet_type(&self) -> u32 {
        self.hdr().packet_type
    }

    /// Sets the packet type.
    #[inline(always)]
    pub fn set_packet_type(&mut self, ptype: u32) {
        self.hdr_mut().packet_type = ptype;
    }

    /// Free bytes before the data in this segment.
    #[inline(always)]
    pub fn headroom(&self) -> u16 {
        self.hdr().data_off
    }

    /// Free bytes after the data in this segment.
    #[inline(always)]
    pub fn tailroom(&self) -> u16 {
        let h = self.hdr();
        h.buf_len - h.data_off - h.data_len
    }

    /// Device address of the buffer's first byte.
    #[inline]
    pub fn buf_iova(&self) -> u64 {
        let h = self.hdr();
        (h.buf_va.as_ptr() as u64).wrapping_add(self.pool().iova_delta[usize::from(h.region)])
    }

    /// Device address of the packet data (`buf_iova + data_off`).
    #[inline]
    pub fn data_iova(&self) -> u64 {
        self.buf_iova() + u64::from(self.data_off())
    }

    /// This segment's packet data.
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        let h = self.hdr();
        // SAFETY: `data_off + data_len <= buf_len` (kept by every setter) and the buffer is
        // `buf_len` bytes of the pool's DMA memory, alive while this `Mbuf` is. This `Mbuf` owns
        // the buffer uniquely and the device does not own it (type docs), so nothing writes it
        // while the slice lives.
        unsafe {
            std::slice::from_raw_parts(
                h.buf_va.as_ptr().add(usize::from(h.data_off)),
                usize::from(h.data_len),
            )
        }
    }

    /// This segment's packet data, mutably.
    #[inline(always)]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let h = self.hdr_mut();
        // SAFETY: as in `data`; `&mut self` makes the access exclusive.
        unsafe {
            std::slice::from_raw_parts_mut(
                h.buf_va.as_ptr().add(usize::from(h.data_off)),
                usize::from(h.data_len),
            )
        }
    }

    /// The whole buffer, headroom to tailroom (for the RX path and for building packets).
    #[inline(always)]
    pub fn buf_mut(&mut self) -> &mut [u8] {
        let h = self.hdr_mut();
        // SAFETY: the buffer is `buf_len` bytes of the pool's DMA memory, owned uniquely by this
        // `Mbuf` and not by the device; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(h.buf_va.as_ptr(), usize::from(h.buf_len)) }
    }

    /// Extends the packet by `len` bytes at the end of the last segment and returns them
    /// (`rte_pktmbuf_append`); `None`, nothing changed, without that much tailroom.
    pub fn append(&mut self, len: u16) -> Option<&mut [u8]> {
        if len > self.last_seg().tailroom() {
            return None;
        }
        let pkt_len = self.pkt_len().checked_add(u32::from(len))?;
        self.hdr_mut().pkt_len = pkt_len;
        let last = self.last_seg_mut();
        let start = usize::from(last.data_off()) + usize::from(last.data_len());
        last.hdr_mut().data_len += len;
        last.buf_mut().get_mut(start..start + usize::from(len))
    }

    /// Extends the packet by `len` bytes in front of the first segment's data and returns them
    /// (`rte_pktmbuf_prepend`); `None`, nothing changed, without that much headroom.
    pub fn prepend(&mut self, len: u16) -> Option<&mut [u8]> {
        if len > self.headroom() {
            return None;
        }
        let pkt_len = self.pkt_len().checked_add(u32::from(len))?;
        let h = self.hdr_mut();
        h.pkt_len = pkt_len;
        h.data_off -= len;
        h.data_len += len;
        self.data_mut().get_mut(..usize::from(len))
    }

    /// Removes `len` bytes from the start of the first segment (`rte_pktmbuf_adj`); false,
    /// nothing changed, if that segment has fewer.
    pub fn adj(&mut self, len: u16) -> bool {
        let h = self.hdr_mut();
        if len > h.data_len {
            return false;
        }
        h.data_off += len;
        h.data_len -= len;
        h.pkt_len = h.pkt_len.saturating_sub(u32::from(len));
        true
    }

    /// Removes `len` bytes from the end of the last segment (`rte_pktmbuf_trim`); false,
    /// nothing changed, if that segment has fewer.
    pub fn trim(&mut self, len: u16) -> bool {
        let last = self.last_seg_mut().hdr_mut();
        if len > last.data_len {
            return false;
        }
        last.data_len -= len;
        let h = self.hdr_mut();
        h.pkt_len = h.pkt_len.saturating_sub(u32::from(len));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicU64, AtomicUsize};
    use std::sync::Weak;

    /// Fake device addresses: regions 4 MiB apart, so a buffer's IOVA names its region.
    const FAKE_IOVA_BASE: u64 = 0x1_0000_0000;
    const FAKE_IOVA_STEP: u64 = 4 << 20;

    /// DMA memory for tests: zeroed anonymous mappings with made-up IOVAs. Remembers what was
    /// asked for and whether each mapping is still alive.
    struct TestDma {
        next_iova: AtomicU64,
        requests: Mutex<Vec<(usize, usize)>>,
        backings: Mutex<Vec<Weak<memmap2::MmapMut>>>,
        fail_after: AtomicUsize,
    }

    impl TestDma {
        fn new() -> Self {
            Self {
                next_iova: AtomicU64::new(FAKE_IOVA_BASE),
                requests: Mutex::new(Vec::new()),
                backings: Mutex::new(Vec::new()),
                fail_after: AtomicUsize::new(usize::MAX),
            }
        }

        fn alloc(&self, len: usize, align: usize) -> Result<DmaRegion> {
            let mut requests = self.requests.lock().unwrap();
            if requests.len() >= self.fail_after.load(Ordering::Relaxed) {
                return Err(Error::NoMemory("test allocator refuses".into()));
            }
            requests.push((len, align));
            let mut map =
                memmap2::MmapMut::map_anon(len).map_err(|e| Error::io("anonymous mapping", e))?;
            assert_eq!(map.as_ptr() as usize % align, 0);
            let va = NonNull::new(map.as_mut_ptr()).unwrap();
            let iova = self.next_iova.fetch_add(FAKE_IOVA_STEP, Ordering::Relaxed);
            let map = Arc::new(map);
            self.backings.lock().unwrap().push(Arc::downgrade(&map));
            // SAFETY: `va..va + len` is the zeroed anonymous mapping that `map` keeps alive; the
            // IOVA is made up, and nothing plays a device in these tests.
            Ok(unsafe { DmaRegion::new(va, iova, len, map) })
        }

        /// Mappings still alive.
        fn live(&self) -> usize {
            self.backings
                .lock()
                .unwrap()
                .iter()
                .filter(|w| w.strong_count() > 0)
                .count()
        }
    }

    fn new_pool(name: &str, n: u32, room: u16) -> (Arc<TestDma>, Mempool) {
        let dma = Arc::new(TestDma::new());
        let pool = Mempool::new(name, n, room, &|len, align| dma.alloc(len, align)).unwrap();
        (dma, pool)
    }

    fn fill(m: &mut Mbuf, bytes: &[u8]) {
        m.append(bytes.len() as u16).unwrap().copy_from_slice(bytes);
    }

    fn packet(m: &Mbuf) -> Vec<u8> {
        m.segments()
            .flat_map(|s| s.data().iter().copied())
            .collect()
    }

    #[test]
    fn mem_pool_offload_flags_have_dpdk_values() {
        // The RTE_MBUF_F_* values in DPDK lib/mbuf/rte_mbuf_core.h.
        assert_eq!(ol::RX_RSS_HASH, 0x2);
        assert_eq!(ol::RX_L4_CKSUM_BAD, 0x8);
        assert_eq!(ol::RX_IP_CKSUM_BAD, 0x10);
        assert_eq!(ol::RX_IP_CKSUM_GOOD, 0x80);
        assert_eq!(ol::RX_L4_CKSUM_GOOD, 0x100);
        assert_eq!(
            (
                ol::RX_IP_CKSUM_UNKNOWN,
                ol::RX_IP_CKSUM_NONE,
                ol::RX_IP_CKSUM_MASK
            ),
            (0, 0x90, 0x90)
        );
        assert_eq!(
            (
                ol::RX_L4_CKSUM_UNKNOWN,
                ol::RX_L4_CKSUM_NONE,
                ol::RX_L4_CKSUM_MASK
            ),
            (0, 0x108, 0x108)
        );
        assert_eq!(ol::TX_TCP_SEG, 0x0004_0000_0000_0000);
        assert_eq!(ol::TX_L4_NO_CKSUM, 0);
        assert_eq!(ol::TX_TCP_CKSUM, 0x0010_0000_0000_0000);
        assert_eq!(ol::TX_SCTP_CKSUM, 0x0020_0000_0000_0000);
        assert_eq!(ol::TX_UDP_CKSUM, 0x0030_0000_0000_0000);
        assert_eq!(ol::TX_L4_MASK, 0x0030_0000_0000_0000);
        assert_eq!(ol::TX_IP_CKSUM, 0x0040_0000_0000_0000);
        assert_eq!(ol::TX_IPV4, 0x0080_0000_0000_0000);
        assert_eq!(ol::TX_IPV6, 0x0100_0000_0000_0000);
    }

    #[test]
    fn mem_pool_header_is_one_cache_line_and_handles_are_a_pointer() {
        assert_eq!(size_of::<MbufHdr>(), 64);
        assert_eq!(align_of::<MbufHdr>(), 64);
        assert_eq!(size_of::<Option<Mbuf>>(), 8);
        let (_dma, pool) = new_pool("layout", 40, DEFAULT_DATA_ROOM);
        let a = pool.alloc().unwrap();
        let b = pool.alloc().unwrap();
        // Headers are consecutive cache lines in one array.
        let (pa, pb) = (
            a.into_raw().as_ptr() as usize,
            b.into_raw().as_ptr() as usize,
        );
        assert_eq!(pa % 64, 0);
        assert_eq!(pa.abs_diff(pb), 64);
        // SAFETY: both pointers come from `into_raw` just above and are taken back once.
        let (a, b) = unsafe {
            (
                Mbuf::from_raw(NonNull::new(pa as *mut MbufHdr).unwrap()),
                Mbuf::from_raw(NonNull::new(pb as *mut MbufHdr).unwrap()),
            )
        };
        assert_eq!(a.index().abs_diff(b.index()), 1);
        drop((a, b));
        assert_eq!(pool.available(), 40);
    }

    #[test]
    fn mem_pool_alloc_free_round_trip_hands_out_each_buffer_once_and_reset() {
        let (_dma, pool) = new_pool("roundtrip", 100, DEFAULT_DATA_ROOM);
        assert_eq!(
            (
                pool.capacity(),
                pool.available(),
                pool.cached(),
                pool.in_use()
            ),
            (100, 100, 0, 0)
        );
        let mut cache = pool.cache(64);
        let mut got = Vec::new();
        while let Some(m) = cache.alloc() {
            got.push(m);
        }
        assert_eq!(got.len(), 100);
        let mut idx: Vec<u32> = got.iter().map(Mbuf::index).collect();
        idx.sort_unstable();
        assert_eq!(idx, (0..100).collect::<Vec<_>>());
        assert_eq!(
            (pool.available(), pool.cached(), pool.in_use()),
            (0, 0, 100)
        );
        assert!(cache.alloc().is_none() && pool.alloc().is_none());

        let m = &got[0];
        assert_eq!(
            (m.buf_len(), m.data_off(), m.headroom(), m.tailroom()),
            (2176, 128, 128, 2048)
        );
        assert_eq!(
            (
                m.data_len(),
                m.pkt_len(),
                m.nb_segs(),
                m.ol_flags(),
                m.port()
            ),
            (0, 0, 1, 0, PORT_INVALID)
        );
        assert!(m.data().is_empty() && m.next().is_none());

        // A used buffer comes back with fresh metadata.
        let mut m = got.pop().unwrap();
        let used = m.index();
        fill(&mut m, b"payload");
        assert!(m.adj(2));
        m.set_ol_flags(ol::RX_RSS_HASH | ol::RX_IP_CKSUM_GOOD);
        m.set_rss_hash(0xdead_beef);
        m.set_port(3);
        m.set_queue(5);
        m.set_packet_type(0x11);
        m.set_l2_len(14);
        m.set_l3_len(20);
        m.set_l4_len(20);
        m.set_tso_segsz(1448);
        cache.free(m);
        assert_eq!((pool.cached(), pool.in_use()), (1, 99));
        let mut m = cache.alloc().unwrap();
        assert_eq!(
            m.index(),
            used,
            "the cache is a stack: the last freed is the first reused"
        );
        assert_eq!(
            (m.data_off(), m.data_len(), m.pkt_len(), m.nb_segs()),
            (HEADROOM, 0, 0, 1)
        );
        assert_eq!(
            (
                m.ol_flags(),
                m.rss_hash(),
                m.port(),
                m.queue(),
                m.packet_type()
            ),
            (0, 0, PORT_INVALID, 0, 0)
        );
        assert_eq!(
            (m.l2_len(), m.l3_len(), m.l4_len(), m.tso_segsz()),
            (0, 0, 0, 0)
        );
        // The data bytes are not cleared (as in DPDK); only the metadata is.
        assert_eq!(&m.buf_mut()[128..135], b"payload");
        got.push(m);

        // Dropped without a cache, they go to the single-free list.
        drop(got);
        assert_eq!((pool.available(), pool.in_use()), (100, 0));
        // A cache drains single frees when there are no chunks.
        let all: Vec<Mbuf> = std::iter::from_fn(|| cache.alloc()).collect();
        assert_eq!(all.len(), 100);
        cache.free_bulk(all);
        drop(cache);
        assert_eq!(
            (pool.available(), pool.cached(), pool.in_use()),
            (100, 0, 0)
        );
    }

    #[test]
    fn mem_pool_bulk_alloc_is_all_or_nothing() {
        let (_dma, pool) = new_pool("bulk", 64, DEFAULT_DATA_ROOM);
        let mut cache = pool.cache(32);
        let mut a: Vec<Option<Mbuf>> = (0..40).map(|_| None).collect();
        assert!(
            cache.alloc_bulk(&mut a),
            "more than the cache holds at once"
        );
        assert!(a.iter().all(Option::is_some));
        let mut b: Vec<Option<Mbuf>> = (0..30).map(|_| None).collect();
        assert!(!cache.alloc_bulk(&mut b), "only 24 left");
        assert!(
            b.iter().all(Option::is_none),
            "nothing handed out on failure"
        );
        assert_eq!(pool.in_use(), 40);
        let mut c: Vec<Option<Mbuf>> = (0..24).map(|_| None).collect();
        assert!(cache.alloc_bulk(&mut c));
        assert!(!cache.alloc_bulk(&mut [None]));
        assert!(cache.alloc_bulk(&mut []), "an empty request succeeds");
        let idx: HashSet<u32> = a
            .iter()
            .chain(&c)
            .map(|m| m.as_ref().unwrap().index())
            .collect();
        assert_eq!(idx.len(), 64);
        assert_eq!(pool.in_use(), 64);

        // Frees through the cache: taken out of the slots.
        cache.free_bulk(a.iter_mut().filter_map(Option::take));
        assert_eq!(pool.in_use(), 24);
        // Slots that still hold buffers are freed before being refilled.
        assert!(cache.alloc_bulk(&mut c));
        assert_eq!(pool.in_use(), 24);
        drop(c);
        drop(cache);
        assert_eq!(pool.available(), 64);
    }

    #[test]
    fn mem_pool_chains_keep_segments_lengths_and_order() {
        let (_dma, pool) = new_pool("chain", 64, 256);
        let mut cache = pool.cache(32);
        let mut parts = Vec::new();
        for text in [&b"abc"[..], b"defg", b"hi"] {
            let mut m = cache.alloc().unwrap();
            fill(&mut m, text);
            parts.push(m);
        }
        let c = parts.pop().unwrap();
        let b = parts.pop().unwrap();
        let a = parts.pop().unwrap();
        let m = a.chain(b).chain(c);
        assert_eq!((m.nb_segs(), m.pkt_len()), (3, 9));
        assert_eq!(packet(&m), b"abcdefghi");
        assert_eq!(
            m.segments().map(Mbuf::data_len).collect::<Vec<_>>(),
            [3, 4, 2]
        );
        // Only the head carries the packet length; a chained tail's is its own data length.
        assert_eq!(m.next().unwrap().pkt_len(), 4);
        assert_eq!(m.last_seg().data(), b"hi");

        let mut m = m;
        // append grows the last segment, trim shrinks it, adj shrinks the first.
        m.append(2).unwrap().copy_from_slice(b"jk");
        assert_eq!((m.last_seg().data(), m.pkt_len()), (&b"hijk"[..], 11));
        assert!(!m.trim(5), "more than the last segment holds");
        assert!(m.trim(4));
        assert_eq!((m.last_seg().data_len(), m.pkt_len()), (0, 7));
        assert!(!m.adj(4));
        assert!(m.adj(3));
        assert_eq!((packet(&m), m.pkt_len()), (b"defg".to_vec(), 4));

        // Chains of chains add up.
        let mut x = cache.alloc().unwrap();
        fill(&mut x, b"X");
        let mut y = cache.alloc().unwrap();
        fill(&mut y, b"YY");
        let m = m.chain(x.chain(y));
        assert_eq!(
            (m.nb_segs(), m.pkt_len(), packet(&m)),
            (5, 7, b"defgXYY".to_vec())
        );
        assert_eq!(pool.in_use(), 5);

        // take_next splits (lengths are the caller's to fix, as with DPDK's `next`).
        let mut m = m;
        let rest = m.next_mut().unwrap().take_next().unwrap();
        assert_eq!(m.nb_segs(), 5, "left alone");
        assert_eq!(packet(&rest), b"XYY");
        drop(rest);
        assert_eq!(pool.in_use(), 2);
        // set_next replaces (and frees) the old tail.
        let mut z = cache.alloc().unwrap();
        fill(&mut z, b"Z");
        m.set_next(Some(z));
        assert_eq!(packet(&m), b"Z");
        assert_eq!(pool.in_use(), 2);
        // reset frees the tail too.
        m.reset();
        assert_eq!((m.nb_segs(), m.pkt_len(), m.next().is_none()), (1, 0, true));
        assert_eq!(pool.in_use(), 1);

        // Freeing a chain through the cache returns every segment to the cache.
        let mut m = m
            .chain(cache.alloc().unwrap())
            .chain(cache.alloc().unwrap());
        assert_eq!(m.nb_segs(), 3);
        m.set_pkt_len(0);
        let held = cache.len();
        cache.free(m);
        assert_eq!(cache.len(), held + 3);
        drop(cache);
        assert_eq!(pool.available(), 64);
    }

    #[test]
    fn mem_pool_chain_overflow_changes_nothing_and_mixed_pools_go_home() {
        let (_da, a) = new_pool("home-a", 32, 256);
        let (_db, b) = new_pool("home-b", 32, 256);
        let mut head = a.alloc().unwrap();
        head.set_nb_segs(u16::MAX);
        let tail = a.alloc().unwrap();
        let (mut head, tail) = head.try_chain(tail).unwrap_err();
        assert_eq!((head.nb_segs(), head.next().is_none()), (u16::MAX, true));
        head.set_nb_segs(1);
        head.set_pkt_len(u32::MAX);
        let mut tail = tail;
        fill(&mut tail, b"1");
        let (head, tail) = head.try_chain(tail).unwrap_err();
        assert_eq!(head.pkt_len(), u32::MAX);
        drop((head, tail));

        // A chain with a segment of another pool: each goes back to its own pool.
        let mut cache = a.cache(32);
        let m = cache
            .alloc()
            .unwrap()
            .chain(b.alloc().unwrap())
            .chain(cache.alloc().unwrap());
        assert!(a.owns(&m) && !b.owns(&m) && b.owns(m.next().unwrap()));
        assert_eq!(m.next().unwrap().pool().name(), "home-b");
        assert_eq!((a.in_use(), b.in_use()), (2, 1));
        let held = cache.len();
        cache.free(m);
        assert_eq!(cache.len(), held + 2);
        assert_eq!((a.in_use(), b.in_use(), b.available()), (0, 0, 32));
    }

    #[test]
    fn mem_pool_data_append_prepend_adj_trim_edges() {
        let (_dma, pool) = new_pool("edges", 8, 512);
        let mut m = pool.alloc().unwrap();
        assert_eq!((m.headroom(), m.tailroom()), (128, 384));
        m.append(4).unwrap().copy_from_slice(b"DATA");
        m.prepend(3).unwrap().copy_from_slice(b"HDR");
        assert_eq!(m.data(), b"HDRDATA");
        assert_eq!((m.data_off(), m.data_len(), m.pkt_len()), (125, 7, 7));
        assert_eq!(m.data_iova(), m.buf_iova() + 125);
        // The whole buffer shows the same bytes at the data offset.
        assert_eq!(&m.buf_mut()[125..132], b"HDRDATA");
        m.data_mut()[0] = b'h';
        assert_eq!(m.data(), b"hDRDATA");

        // Exactly the headroom fits; one more does not and changes nothing.
        assert!(m.prepend(126).is_none());
        assert_eq!(m.prepend(125).map(|s| s.len()), Some(125));
        assert_eq!((m.headroom(), m.pkt_len()), (0, 132));
        assert!(m.prepend(1).is_none());
        assert!(m.adj(125));
        // Exactly the tailroom fits.
        let room = m.tailroom();
        assert_eq!(room, 512 - 125 - 7);
        assert!(m.append(room + 1).is_none());
        assert_eq!(m.pkt_len(), 7);
        assert_eq!(m.append(room).map(|s| s.len()), Some(usize::from(room)));
        assert_eq!((m.tailroom(), m.pkt_len()), (0, 7 + u32::from(room)));
        assert!(m.append(1).is_none());
        assert!(m.append(0).is_some_and(|s| s.is_empty()));
        assert!(m.trim(room));
        assert_eq!(m.data(), b"hDRDATA");

        assert!(m.adj(2));
        assert_eq!(m.data(), b"RDATA");
        assert!(!m.adj(6));
        assert!(m.trim(1));
        assert_eq!(m.data(), b"RDAT");
        assert!(!m.trim(5));
        assert!(m.trim(4) && m.adj(0));
        assert_eq!((m.data_len(), m.pkt_len()), (0, 0));

        // Setters refuse to let the data run past the buffer.
        assert!(m.set_data_off(0));
        assert!(!m.set_data_len(513));
        assert!(m.set_data_len(512));
        assert_eq!(m.data().len(), 512);
        assert!(!m.set_data_off(1));
        assert!(m.set_data_len(0) && m.set_data_off(512));
        assert_eq!((m.data().len(), m.tailroom(), m.headroom()), (0, 0, 512));

        // A packet length at its limit refuses to grow.
        m.reset();
        m.set_pkt_len(u32::MAX);
        assert!(m.append(1).is_none() && m.prepend(1).is_none());
        assert_eq!(m.data_len(), 0);
    }

    #[test]
    fn mem_pool_buffers_never_straddle_a_region_and_iovas_are_distinct() {
        // 2176-byte buffers: 963 to a 2 MiB region; 3000 buffers need four regions.
        let (dma, pool) = new_pool("regions", 3000, DEFAULT_DATA_ROOM);
        let per = MAX_REGION / 2176;
        assert_eq!(per, 963);
        assert_eq!(pool.stride(), 2176);
        assert_eq!(
            *dma.requests.lock().unwrap(),
            [
                (963 * 2176, 64),
                (963 * 2176, 64),
                (963 * 2176, 64),
                (111 * 2176, 64)
            ]
        );
        assert_eq!(pool.regions().len(), 4);
        let mut all = Vec::new();
        while let Some(m) = pool.alloc() {
            all.push(m);
        }
        assert_eq!(all.len(), 3000);
        let mut iovas = HashSet::new();
        for m in &mut all {
            let idx = m.index() as usize;
            let region = &pool.regions()[idx / per];
            let off = (idx % per) * 2176;
            assert_eq!(m.buf_iova(), region.iova() + off as u64, "buffer {idx}");
            assert!(off + 2176 <= region.len() && region.len() <= MAX_REGION);
            assert_eq!(
                region.iova() & !(FAKE_IOVA_STEP - 1),
                region.iova(),
                "region start"
            );
            assert_eq!(
                (m.buf_iova() + 2175) & !(FAKE_IOVA_STEP - 1),
                region.iova(),
                "last byte in the same region"
            );
            let va = m.buf_mut().as_ptr() as usize;
            assert_eq!(
                va - region.as_ptr() as usize,
                off,
                "host and device offsets agree"
            );
            assert!(iovas.insert(m.buf_iova()));
        }
        // Strides are cache lines.
        for (room, stride) in [
            (2000u16, 2048usize),
            (200, 256),
            (128, 128),
            (u16::MAX, 65536),
        ] {
            let (_d, p) = new_pool("stride", 40, room);
            assert_eq!(p.stride(), stride, "room {room}");
            assert_eq!(p.alloc().unwrap().buf_len(), room);
        }
    }

    #[test]
    fn mem_pool_construction_errors_are_clear() {
        let dma = TestDma::new();
        let alloc = |len, align| dma.alloc(len, align);
        assert!(matches!(
            Mempool::new("e", 0, 2176, &alloc),
            Err(Error::Config(_))
        ));
        let err = Mempool::new("e", 8, 127, &alloc).unwrap_err();
        assert!(
            err.to_string()
                .contains("smaller than the 128-byte headroom"),
            "{err}"
        );
        dma.fail_after.store(1, Ordering::Relaxed);
        let err = Mempool::new("e", 2000, 2176, &alloc).unwrap_err();
        assert!(matches!(err, Error::NoMemory(_)), "{err:?}");
        assert_eq!(
            dma.live(),
            0,
            "the region obtained before the failure was released"
        );
        let short = |len: usize, align| dma_short(len, align);
        let err = Mempool::new("e", 8, 2176, &short).unwrap_err();
        assert!(err.to_string().contains("got 64 bytes"), "{err}");
    }

    fn dma_short(_len: usize, align: usize) -> Result<DmaRegion> {
        TestDma::new().alloc(64, align)
    }

    #[test]
    fn mem_pool_cache_counts_and_flushes_on_drop() {
        let (_dma, pool) = new_pool("flush", 1000, DEFAULT_DATA_ROOM);
        let mut c1 = pool.cache(DEFAULT_CACHE_SIZE);
        let mut c2 = pool.cache(64);
        let held: Vec<Mbuf> = (0..600).map(|_| c1.alloc().unwrap()).collect();
        assert_eq!(pool.in_use(), 600);
        // Whole chunks moved: the shared list lost a multiple of 32.
        assert_eq!((1000 - pool.available()) % 32, 0);
        assert_eq!(pool.cached() as usize, c1.len());
        c2.free_bulk(held);
        assert!(c2.len() <= 64 && !c2.is_empty());
        assert_eq!(pool.cached() as usize, c1.len() + c2.len());
        assert_eq!(pool.in_use(), 0);
        assert_eq!(pool.available() + pool.cached(), 1000);
        assert!(pool.available() < 1000);
        drop(c2);
        c1.flush();
        assert_eq!((c1.len(), pool.cached(), pool.available()), (0, 0, 1000));
        let m = c1.alloc().unwrap();
        drop(c1);
        assert_eq!(
            (pool.cached(), pool.available(), pool.in_use()),
            (0, 999, 1)
        );
        drop(m);
        assert_eq!(pool.available(), 1000);
    }

    #[test]
    fn mem_pool_mbufs_and_caches_move_between_threads() {
        let (_dma, pool) = new_pool("threads", 64, DEFAULT_DATA_ROOM);
        let mut cache = pool.cache(32);
        let mut m = cache.alloc().unwrap();
        fill(&mut m, b"from main");
        let held_before = cache.len();
        std::thread::spawn(move || {
            assert_eq!(m.data(), b"from main");
            drop(m);
        })
        .join()
        .unwrap();
        assert_eq!(pool.in_use(), 0);
        assert_eq!(
            cache.len(),
            held_before,
            "returned to the pool, not to the cache"
        );
        let pool2 = pool.clone();
        std::thread::spawn(move || {
            let m = cache.alloc().unwrap();
            assert_eq!(pool2.in_use(), 1);
            cache.free(m);
        })
        .join()
        .unwrap();
        assert_eq!(
            (pool.available(), pool.cached()),
            (64, 0),
            "the cache flushed when dropped on the other thread"
        );
    }

    #[test]
    fn mem_pool_stress_four_threads_no_duplicates_and_all_back() {
        const THREADS: usize = 4;
        const OPS: usize = 1_000_000;
        const N: u32 = 2048;
        let (_dma, pool) = new_pool("stress", N, 256);
        let owned: Arc<Vec<AtomicU64>> =
            Arc::new((0..N.div_ceil(64)).map(|_| AtomicU64::new(0)).collect());
        let failures = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let pool = pool.clone();
                let owned = owned.clone();
                let failures = failures.clone();
                std::thread::spawn(move || {
                    let take = |m: &Mbuf| {
                        let (w, bit) = (m.index() as usize / 64, 1u64 << (m.index() % 64));
                        assert_eq!(
                            owned[w].fetch_or(bit, Ordering::Relaxed) & bit,
                            0,
                            "buffer {} handed out twice",
                            m.index()
                        );
                    };
                    let give = |m: &Mbuf| {
                        let (w, bit) = (m.index() as usize / 64, 1u64 << (m.index() % 64));
                        assert_ne!(owned[w].fetch_and(!bit, Ordering::Relaxed) & bit, 0);
                    };
                    let mut cache = pool.cache(DEFAULT_CACHE_SIZE);
                    let mut held: Vec<Mbuf> = Vec::with_capacity(256);
                    let mut slots: Vec<Option<Mbuf>> = (0..32).map(|_| None).collect();
                    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (t as u64) << 32;
                    let mut ops = 0;
                    while ops < OPS {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        let fill_up = held.is_empty() || (held.len() < 200 && rng & 1 == 0);
                        if fill_up {
                            let k = 1 + (rng >> 8) as usize % 32;
                            let got = if k == 1 {
                                cache.alloc().map(|m| slots[0] = Some(m)).is_some()
                            } else {
                                cache.alloc_bulk(&mut slots[..k])
                            };
                            if !got {
                                failures.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            for s in &mut slots[..k] {
                                let mut m = s.take().unwrap();
                                take(&m);
                                let tag = m.index().to_le_bytes();
                                m.append(4).unwrap().copy_from_slice(&tag);
                                held.push(m);
                            }
                            ops += k;
                        } else {
                            let k = 1 + (rng >> 8) as usize % held.len().min(32);
                            for _ in 0..k {
                                let i = (rng >> 20) as usize % held.len();
                                let m = held.swap_remove(i);
                                assert_eq!(
                                    m.data(),
                                    m.index().to_le_bytes(),
                                    "buffer written by someone else"
                                );
                                give(&m);
                                match rng % 8 {
                                    // Some go back without a cache, to the single-free list.
                                    0 => drop(m),
                                    _ => cache.free(m),
                                }
                            }
                        }
                    }
                    for m in &held {
                        give(m);
                    }
                    cache.free_bulk(held);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(owned.iter().all(|w| w.load(Ordering::Relaxed) == 0));
        assert_eq!((pool.available(), pool.cached(), pool.in_use()), (N, 0, 0));
        println!(
            "stress: {} allocation attempts found the pool empty",
            failures.load(Ordering::Relaxed)
        );
    }

    #[test]
    fn mem_pool_dropped_while_an_mbuf_lives_leaks_instead_of_freeing() {
        let dma = TestDma::new();
        let pool = Mempool::new("leak", 64, DEFAULT_DATA_ROOM, &|l, a| dma.alloc(l, a)).unwrap();
        let mut cache = pool.cache(32);
        let mut m = cache.alloc().unwrap();
        let mut tail = cache.alloc().unwrap();
        fill(&mut m, b"alive");
        fill(&mut tail, b"!");
        let m = m.chain(tail);
        let leaked = Mempool::leaked_pools();
        drop(cache);
        drop(pool);
        assert!(Mempool::leaked_pools() > leaked);
        assert_eq!(dma.live(), 1, "the buffer memory stays mapped");
        let mut m = m;
        assert_eq!(packet(&m), b"alive!");
        m.data_mut()[0] = b'A';
        assert_eq!(m.pool().name(), "leak");
        assert_eq!(m.pool().capacity(), 64);
        drop(m); // back into the leaked free lists
        assert_eq!(dma.live(), 1);

        // With every buffer back, dropping the pool frees its memory.
        let dma = TestDma::new();
        let pool = Mempool::new("free", 64, DEFAULT_DATA_ROOM, &|l, a| dma.alloc(l, a)).unwrap();
        let mut cache = pool.cache(32);
        let m = cache.alloc().unwrap();
        let other = pool.clone();
        drop(pool);
        drop(m);
        drop(cache);
        assert_eq!(dma.live(), 1, "a handle remains");
        drop(other);
        assert_eq!(dma.live(), 0);
    }

    #[test]
    fn mem_pool_drop_racing_an_mbuf_drop_frees_or_leaks_never_both() {
        for _ in 0..200 {
            let dma = Arc::new(TestDma::new());
            let pool = Mempool::new("race", 40, 256, &|l, a| dma.alloc(l, a)).unwrap();
            let m = pool.alloc().unwrap();
            let leaked = Mempool::leaked_pools();
            let t = std::thread::spawn(move || drop(m));
            drop(pool);
            t.join().unwrap();
            // Either the pool saw the buffer back and freed everything, or it leaked.
            assert!(dma.live() == 0 || Mempool::leaked_pools() > leaked);
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Alloc(usize),
        Free { i: usize, cache: bool },
        Chain { i: usize, j: usize },
        Append { i: usize, len: u16, byte: u8 },
        Prepend { i: usize, len: u16, byte: u8 },
        Adj { i: usize, len: u16 },
        Trim { i: usize, len: u16 },
        Split { i: usize },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1usize..6).prop_map(Op::Alloc),
            (any::<usize>(), any::<bool>()).prop_map(|(i, cache)| Op::Free { i, cache }),
            (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Op::Chain { i, j }),
            (any::<usize>(), 0u16..300, any::<u8>()).prop_map(|(i, len, byte)| Op::Append {
                i,
                len,
                byte
            }),
            (any::<usize>(), 0u16..150, any::<u8>()).prop_map(|(i, len, byte)| Op::Prepend {
                i,
                len,
                byte
            }),
            (any::<usize>(), 0u16..100).prop_map(|(i, len)| Op::Adj { i, len }),
            (any::<usize>(), 0u16..100).prop_map(|(i, len)| Op::Trim { i, len }),
            any::<usize>().prop_map(|i| Op::Split { i }),
        ]
    }

    /// A segment as the model sees it: data offset and bytes.
    type Seg = (u16, Vec<u8>);
    const ROOM: u16 = 384;

    fn check(m: &Mbuf, segs: &[Seg]) {
        assert_eq!(usize::from(m.nb_segs()), segs.len());
        assert_eq!(
            m.pkt_len() as usize,
            segs.iter().map(|s| s.1.len()).sum::<usize>()
        );
        let got: Vec<Seg> = m
            .segments()
            .map(|s| (s.data_off(), s.data().to_vec()))
            .collect();
        assert_eq!(got, segs);
    }

    proptest! {
        #[test]
        fn mem_pool_random_sequences_match_a_model(ops in proptest::collection::vec(op(), 1..120)) {
            const N: u32 = 48;
            let (_dma, pool) = new_pool("prop", N, ROOM);
            let mut cache = pool.cache(32);
            let mut held: Vec<(Mbuf, Vec<Seg>)> = Vec::new();
            for op in ops {
                let out: usize = held.iter().map(|h| h.1.len()).sum();
                match op {
                    Op::Alloc(k) => {
                        let mut slots: Vec<Option<Mbuf>> = (0..k).map(|_| None).collect();
                        let ok = cache.alloc_bulk(&mut slots);
                        prop_assert_eq!(ok, out + k <= N as usize);
                        for m in slots.into_iter().flatten() {
                            held.push((m, vec![(HEADROOM, Vec::new())]));
                        }
                    }
                    _ if held.is_empty() => {}
                    Op::Free { i, cache: via_cache } => {
                        let (m, _) = held.swap_remove(i % held.len());
                        if via_cache { cache.free(m) } else { drop(m) }
                    }
                    Op::Chain { i, j } => {
                        let (i, j) = (i % held.len(), j % held.len());
                        if i != j {
                            let (hi, lo) = (i.max(j), i.min(j));
                            let (b, bsegs) = held.swap_remove(hi);
                            let (a, mut asegs) = held.swap_remove(lo);
                            asegs.extend(bsegs);
                            held.push((a.chain(b), asegs));
                        }
                    }
                    Op::Append { i, len, byte } => {
                        let n = held.len();
                        let (m, segs) = &mut held[i % n];
                        let last = segs.last_mut().unwrap();
                        let fits = usize::from(last.0) + last.1.len() + usize::from(len) <= usize::from(ROOM);
                        match m.append(len) {
                            Some(s) => { prop_assert!(fits); s.fill(byte); last.1.extend(std::iter::repeat_n(byte, len.into())); }
                            None => prop_assert!(!fits),
                        }
                    }
                    Op::Prepend { i, len, byte } => {
                        let n = held.len();
                        let (m, segs) = &mut held[i % n];
                        let first = &mut segs[0];
                        match m.prepend(len) {
                            Some(s) => {
                                prop_assert!(len <= first.0);
                                s.fill(byte);
                                first.0 -= len;
                                first.1.splice(0..0, std::iter::repeat_n(byte, len.into()));
                            }
                            None => prop_assert!(len > first.0),
                        }
                    }
                    Op::Adj { i, len } => {
                        let n = held.len();
                        let (m, segs) = &mut held[i % n];
                        let first = &mut segs[0];
                        let ok = usize::from(len) <= first.1.len();
                        prop_assert_eq!(m.adj(len), ok);
                        if ok { first.0 += len; first.1.drain(..usize::from(len)); }
                    }
                    Op::Trim { i, len } => {
                        let n = held.len();
                        let (m, segs) = &mut held[i % n];
                        let last = segs.last_mut().unwrap();
                        let ok = usize::from(len) <= last.1.len();
                        prop_assert_eq!(m.trim(len), ok);
                        if ok { let n = last.1.len() - usize::from(len); last.1.truncate(n); }
                    }
                    Op::Split { i } => {
                        let i = i % held.len();
                        let (m, segs) = &mut held[i];
                        if let Some(mut rest) = m.take_next() {
                            let rest_segs = segs.split_off(1);
                            m.set_nb_segs(1);
                            m.set_pkt_len(u32::from(m.data_len()));
                            rest.set_nb_segs(rest_segs.len() as u16);
                            rest.set_pkt_len(rest_segs.iter().map(|s| s.1.len() as u32).sum());
                            held.push((rest, rest_segs));
                        }
                    }
                }
                for (m, segs) in &held {
                    check(m, segs);
                }
                let out: usize = held.iter().map(|h| h.1.len()).sum();
                prop_assert_eq!(pool.in_use() as usize, out);
                prop_assert_eq!((pool.available() + pool.cached()) as usize, N as usize - out);
            }
            drop(held);
            drop(cache);
            prop_assert_eq!(pool.available(), N);
        }
    }
}
