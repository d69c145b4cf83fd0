//! `ena-sim`: a software model of the AWS Elastic Network Adapter.
//!
//! We have no ENA hardware; this model is how the driver is built, tested and measured. It
//! behaves as the real device does as Amazon's Linux and DPDK drivers see it (the project's
//! `ena-device-spec.md` §14 is the contract), and it is strict where the real device is silent:
//! every malformed request gets the status a real device would return, and every address the
//! driver hands it is checked.
//!
//! Layers, bottom up:
//! - [`bar`], [`dma`], [`irq`], [`clock`]: how the device meets the host — BAR memory shared with
//!   the driver, DMA into host memory, interrupt lines, device time.
//! - [`device`]: the device itself, one state machine that transports drive by calling
//!   [`device::Device::poll`].
//! - [`rss`], [`csum`]: the receive-side-scaling hash and the checksum engine.
//! - [`wire`]: what the port is cabled to (loopback, pair, generator/sink, ...).
//! - [`fault`]: fault injection.
//! - [`transport`]: who drives the state machine — in-process (manual stepping or a thread) or
//!   the PCI rig (BAR files, hugepage DMA, FIFO interrupt line) that real drivers attach to.
//!
//! `unsafe` code lives only where the model meets raw memory and the OS: [`bar`], [`dma`], the
//! PCI rig's files and hugepages (`transport::pci_rig::{sysfs, host, hugepages, hugepage_dma,
//! fifo_irq}`) and the Linux wires (`wire::{tap, afpacket, netif}`); every other module is
//! checked by `#![deny(unsafe_code)]`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod bar;
pub mod clock;
pub mod config;
pub mod csum;
pub mod device;
pub mod dma;
pub mod events;
pub mod fault;
pub mod frames;
pub mod irq;
pub mod rss;
pub mod stats;
pub mod transport;
pub mod wire;
