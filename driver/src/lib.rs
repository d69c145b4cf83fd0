//! `ena`: a userspace, poll-mode driver for the AWS Elastic Network Adapter.
//!
//! Layers, bottom up (each a module):
//!
//! - [`hw`]: the device interface as plain types (the `ena-hw` crate, shared with the device
//!   model).
//! - [`platform`]: how a device is reached — BARs, DMA memory, time — for a real PCI function
//!   (sysfs + hugepages + pagemap) or the in-process device model.
//! - [`mem`]: DMA regions, hugepage allocation, and the packet-buffer pool ([`mem::Mbuf`]).
//! - [`com`]: the ENA core — registers, reset, admin queue, AENQ, features, LLQ, RSS.
//! - [`pmd`]: the poll-mode driver — [`pmd::Port`], [`pmd::RxQueue`], [`pmd::TxQueue`], the
//!   watchdog and reset recovery.
//!
//! `unsafe` code lives only in `platform::mmio`, `platform::pci`, `platform::sim`,
//! `platform::vfio::{ioctl, bar, dma, irq}`, `mem::dma`, `mem::hugepage` and `mem::pool`; every
//! other module is checked by `#![deny(unsafe_code)]`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub use ena_hw as hw;

pub mod com;
pub mod error;
pub mod mem;
pub mod platform;
pub mod pmd;

pub use error::{Error, Result};
pub use mem::{Mbuf, MbufCache, Mempool};
pub use pmd::{Port, PortConf, PortEvent, PortOptions, RxQueue, TxQueue};
