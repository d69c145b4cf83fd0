//! Memory: DMA regions, hugepage-backed allocation, and the packet-buffer pool.

pub mod dma;
pub mod hugepage;
pub mod pool;

pub use dma::DmaRegion;
pub use pool::{Mbuf, MbufCache, Mempool};
