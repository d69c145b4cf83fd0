//! `ena-benches`: the measurement side of the project's performance work.
//!
//! - `benches/*.rs` (criterion, `cargo bench -p ena-benches`): the driver's burst calls per
//!   packet on stepped device models, the mempool, the simulator's Toeplitz hash and checksum
//!   engine, the l4lb example's Maglev and connection-table lookups, and the dpdk-shim's
//!   overhead over the raw driver.
//! - `ena-pps` (binary): packets per second through fwd's loop on in-process devices whose
//!   device side polls on another core ([`pps`]), the simulator's own ceiling on the same
//!   cores, side by side with Amazon's DPDK ENA PMD on the `ena-sim` program ([`vs_dpdk`]),
//!   the no-allocation/no-syscall proof ([`proof`]), and the loop `callgrind.sh` counts
//!   instructions in ([`manual_loop`]).
//! - `ena-pps --soak`: forwarding under a fault every few seconds, checked for leaks ([`soak`]).
//!
//! Modules: [`fixture`] (ports on stepped devices), [`manual_loop`] (the deterministic
//! forwarding loop), [`stats`] (median and spread), [`clock`] (TSC, hardware counters),
//! [`alloc_count`] (a per-thread counting allocator), [`plot`] (SVG charts), and `fwd`, the
//! dpdk-shim example itself, compiled in with `#[path]` so that `ena-pps` runs exactly its loop.
#![warn(missing_docs)]

pub mod alloc_count;
pub mod clock;
pub mod fixture;
pub mod manual_loop;
pub mod plot;
pub mod pps;
pub mod proof;
pub mod soak;
pub mod stats;
pub mod vs_dpdk;

/// The dpdk-shim `fwd` example (testpmd io/macswap forwarding), as its own file.
#[allow(dead_code, missing_docs)]
#[path = "../../dpdk-shim/examples/fwd.rs"]
pub mod fwd;
