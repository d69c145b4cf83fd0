//! mbufs and mempools with DPDK's names: the driver's [`Mbuf`] and [`Mempool`] are the real
//! thing (the queues move them without any wrapping); this module adds the DPDK-shaped pool
//! constructor's checks and the free functions DPDK programmers look for.
//!
//! | DPDK | here |
//! |---|---|
//! | `rte_pktmbuf_pool_create(name, n, cache, priv, room, socket)` | [`crate::Eal::pktmbuf_pool_create`] |
//! | `rte_pktmbuf_alloc(mp)` / `rte_pktmbuf_alloc_bulk` | [`PktmbufPool::alloc`] / [`PktmbufPool::alloc_bulk`] |
//! | `rte_pktmbuf_free(m)` / `rte_pktmbuf_free_bulk` | [`pktmbuf_free`] / [`pktmbuf_free_bulk`] (or just drop) |
//! | the mempool's hidden per-lcore cache | [`PktmbufPool::lcore_cache`]: an [`MbufCache`] the lcore owns |
//! | `rte_pktmbuf_mtod(m, T)` | [`MbufExt::mtod`] / [`MbufExt::mtod_mut`] (byte slices) |
//! | `m->data_len`, `m->pkt_len`, `m->next`, `m->nb_segs` | [`Mbuf::data_len`], [`Mbuf::pkt_len`], [`Mbuf::next`], [`Mbuf::nb_segs`] |
//! | `m->ol_flags`, `RTE_MBUF_F_*` | [`Mbuf::ol_flags`], [`ol`] (`ol::RX_IP_CKSUM_GOOD`, `ol::TX_IPV4`, ...) |
//! | `m->l2_len`, `l3_len`, `l4_len` | [`Mbuf::l2_len`], [`Mbuf::l3_len`], [`Mbuf::l4_len`] |
//! | `m->hash.rss` | [`MbufExt::hash_rss`] |
//! | `rte_pktmbuf_prepend/append/adj/trim` | [`Mbuf::prepend`], [`Mbuf::append`], [`Mbuf::adj`], [`Mbuf::trim`] |
//! | `rte_pktmbuf_chain(head, tail)` | [`Mbuf::try_chain`] |
//!
//! DPDK's mempool keeps a cache per lcore inside the pool, found through `rte_lcore_id()`.
//! Here the cache is a value the lcore owns ([`PktmbufPool::lcore_cache`]), so the fast path
//! needs neither thread-local lookups nor locks, and a cache is never shared by accident.

pub use ena::mem::pool::{ol, Mbuf, MbufCache, Mempool, DEFAULT_DATA_ROOM, HEADROOM};

/// `RTE_MBUF_DEFAULT_BUF_SIZE`: 2048 bytes of data plus the headroom.
pub const MBUF_DEFAULT_BUF_SIZE: u16 = DEFAULT_DATA_ROOM;
/// `RTE_PKTMBUF_HEADROOM`.
pub const PKTMBUF_HEADROOM: u16 = HEADROOM;
/// `RTE_MEMPOOL_CACHE_MAX_SIZE`.
pub const MEMPOOL_CACHE_MAX_SIZE: usize = 512;

/// A packet-buffer pool from [`crate::Eal::pktmbuf_pool_create`]: a [`Mempool`] (it
/// dereferences to one) with the per-lcore cache size it was created with. Cheap to clone.
#[derive(Clone)]
pub struct PktmbufPool {
    pool: Mempool,
    cache_size: usize,
}

impl std::fmt::Debug for PktmbufPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PktmbufPool")
            .field("pool", &*self.pool)
            .field("cache_size", &self.cache_size)
            .finish()
    }
}

impl std::ops::Deref for PktmbufPool {
    type Target = Mempool;
    fn deref(&self) -> &Mempool {
        &self.pool
    }
}

impl PktmbufPool {
    pub(crate) fn new(pool: Mempool, cache_size: usize) -> Self {
        Self { pool, cache_size }
    }

    /// The driver's pool (what queue setup takes).
    pub fn mempool(&self) -> &Mempool {
        &self.pool
    }

    /// The per-lcore cache size given at creation.
    pub fn cache_size(&self) -> usize {
        self.cache_size
    }

    /// A cache of `cache_size` buffers for the calling lcore to own: allocate and free
    /// through it on the fast path.
    pub fn lcore_cache(&self) -> MbufCache {
        self.pool.cache(self.cache_size)
    }

    /// One buffer straight from the shared free lists (`rte_pktmbuf_alloc`); `None` when the
    /// pool is empty.
    pub fn alloc(&self) -> Option<Mbuf> {
        self.pool.alloc()
    }

    /// Fills every slot of `out` or none (`rte_pktmbuf_alloc_bulk`: all or nothing).
    pub fn alloc_bulk(&self, out: &mut [Option<Mbuf>]) -> bool {
        for i in 0..out.len() {
            match self.pool.alloc() {
                Some(m) => out[i] = Some(m),
                None => {
                    out[..i].iter_mut().for_each(|s| *s = None);
                    return false;
                }
            }
        }
        true
    }
}

/// Returns a packet (every segment) to its pool (`rte_pktmbuf_free`); dropping it does the same.
pub fn pktmbuf_free(m: Mbuf) {
    drop(m);
}

/// Frees every packet in `pkts`, leaving the slots empty (`rte_pktmbuf_free_bulk`).
pub fn pktmbuf_free_bulk(pkts: &mut [Option<Mbuf>]) {
    pkts.iter_mut().for_each(|s| *s = None);
}

/// DPDK accessors that read better as methods.
pub trait MbufExt {
    /// The first segment's data (`rte_pktmbuf_mtod`).
    fn mtod(&self) -> &[u8];
    /// The first segment's data, writable.
    fn mtod_mut(&mut self) -> &mut [u8];
    /// The RSS hash the device computed (`m->hash.rss`; valid when `ol::RX_RSS_HASH` is set).
    fn hash_rss(&self) -> u32;
}

impl MbufExt for Mbuf {
    fn mtod(&self) -> &[u8] {
        self.data()
    }
    fn mtod_mut(&mut self) -> &mut [u8] {
        self.data_mut()
    }
    fn hash_rss(&self) -> u32 {
        self.rss_hash()
    }
}
