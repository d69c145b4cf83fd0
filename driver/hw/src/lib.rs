//! The ENA device interface as Rust types.
//!
//! Everything the driver and the device model exchange — BAR0 registers, admin queue commands and
//! completions, AENQ events, IO descriptors and LLQ entry layout — is declared here as plain
//! `#[repr(C)]` data with compile-time size checks and typed accessors for bit fields. There is no
//! behaviour in this crate: the device model (`ena-sim`) and the driver (`ena`) both build on it, so
//! a layout mistake shows up in one place and both sides agree on it.
//!
//! Layouts follow the ENA HAL headers (`ena_regs_defs.h`, `ena_admin_defs.h`,
//! `ena_eth_io_defs.h`, `ena_common_defs.h` in amzn/amzn-drivers `kernel/linux/common/ena_com/`),
//! restated in the project's device reference (`ena-device-spec.md`). All fields are little-endian;
//! the crate refuses to build for a big-endian target rather than silently byte-swap.
//!
//! Modules, one per area of the interface:
//! - [`regs`]: BAR0 register offsets and register value types, reset reasons, readless reads.
//! - [`admin`]: admin queue entries, commands, features, statistics.
//! - [`aenq`]: asynchronous event notification entries, groups and payloads.
//! - [`io`]: TX/RX submission and completion descriptors, interrupt and NUMA registers.
//! - [`llq`]: low-latency queue (device-memory TX ring) entry layout and negotiation values.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[macro_use]
mod bits;

pub mod admin;
pub mod aenq;
pub mod io;
pub mod llq;
pub mod regs;

pub use bits::MemAddr;

// The device interface is little-endian; every raw field here is read as a native integer.
const _: () = assert!(
    cfg!(target_endian = "little"),
    "ena-hw assumes a little-endian target"
);

/// PCI vendor id of Amazon.
pub const PCI_VENDOR_AMAZON: u16 = 0x1d0f;
/// PCI device ids of ENA functions (spec §1.1): PF, PF with LLQ, VF, VF with LLQ, and "RESRV0".
pub const PCI_DEVICE_IDS: [u16; 5] = [0x0ec2, 0x1ec2, 0xec20, 0xec21, 0x0051];
/// The device id of the usual EC2 instance function (ENA VF).
pub const PCI_DEVICE_ENA_VF: u16 = 0xec20;
/// The device id of the ENA VF that supports LLQ.
pub const PCI_DEVICE_ENA_VF_LLQ: u16 = 0xec21;

/// Whether a PCI vendor/device pair names an ENA function.
pub fn is_ena_pci_id(vendor: u16, device: u16) -> bool {
    vendor == PCI_VENDOR_AMAZON && PCI_DEVICE_IDS.contains(&device)
}
