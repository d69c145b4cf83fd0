//! `ena`: a userspace, poll-mode driver for the AWS Elastic Network Adapter.
//!
//! The device interface types live in [`hw`] (the `ena-hw` crate, kept separate so that the
//! software device model can share them without depending on the driver).
#![deny(unsafe_code)]

pub use ena_hw as hw;
