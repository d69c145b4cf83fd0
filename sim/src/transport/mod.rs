//! Transports: who drives the device model and how it meets a driver.

pub mod inproc;
pub mod pci_rig;
