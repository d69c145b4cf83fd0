//! `libdpdk` from dpdk-shim: DPDK's C API — `rte_eal.h`, `rte_ethdev.h`, `rte_mbuf.h`,
//! `rte_mempool.h`, `rte_lcore.h`, `rte_launch.h`, `rte_cycles.h`, ... — so that existing C
//! forwarding applications (DPDK's skeleton, l2fwd and their like) compile unmodified against
//! the ena driver.
//!
//! The headers are in `include/` (written for this project, with DPDK's names);
//! `scripts/dpdk-shim-layout.sh` builds this crate as `libdpdk.so`/`libdpdk.a` and lays out
//! `include/`, `lib/` and `lib/pkgconfig/libdpdk.pc`, so that
//! `cc app.c $(pkg-config --cflags --libs libdpdk)` works as with DPDK.
//!
//! # How it maps
//!
//! | C | here |
//! |---|---|
//! | `rte_eal_init(argc, argv)` | [`dpdk_shim::Eal::init`], kept in one global state until `rte_eal_cleanup` |
//! | lcores, `rte_eal_remote_launch`, ... | [`dpdk_shim::lcore::Lcores`] (lcore id = CPU number) |
//! | `struct rte_mempool *` | a box holding a [`dpdk_shim::mbuf::PktmbufPool`] behind DPDK's public fields |
//! | `struct rte_mbuf *` | the driver's [`ena::Mbuf`] itself: `struct rte_mbuf` is its header, field for field |
//! | port `p`, queue `q` | [`dpdk_shim::ethdev::EthDev`], and its queues in a fixed table filled at `rte_eth_dev_start` |
//! | `rte_eth_rx_burst`/`rte_eth_tx_burst` | inline header functions calling [`ethdev::dpdk_shim_rx_burst`]/[`ethdev::dpdk_shim_tx_burst`], which run the driver's burst on the C array in place |
//!
//! # Contracts
//!
//! The C API keeps DPDK's rules, which are what make the lock-free data path sound: a queue is
//! polled by one lcore at a time; nothing polls a queue of a port that is being configured,
//! set up, started, stopped or closed; every mbuf has one owner; and no call runs during or
//! after `rte_eal_cleanup`. Control-path functions are serialised by the shim's own locks and
//! may be called from any thread.
//!
//! Differences from DPDK, each for a reason stated where it is implemented: ENA has no
//! promiscuous mode (as with DPDK's ENA PMD, `rte_eth_promiscuous_enable` returns `-ENOTSUP`);
//! `rte_eal_init` may be called again after `rte_eal_cleanup`; `rte_eal_cleanup` refuses
//! (`EBUSY`) while a worker lcore is running; descriptor counts are rounded up to a power of
//! two by `rte_eth_dev_adjust_nb_rx_tx_desc`.
#![allow(non_camel_case_types)]

pub mod cycles;
pub mod eal;
pub mod errno;
pub mod ethdev;
pub mod log;
pub mod malloc;
pub mod mbuf;

use dpdk_shim::ethdev::{EthDev, RxQueue, TxQueue};
use dpdk_shim::Eal;
use std::cell::UnsafeCell;
use std::ffi::{c_int, CString};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex};

/// `RTE_MAX_LCORE` (rte_config.h).
pub const RTE_MAX_LCORE: usize = 128;
/// `RTE_MAX_ETHPORTS` (rte_config.h).
pub const RTE_MAX_ETHPORTS: usize = 32;
/// `RTE_ETHDEV_QUEUE_STAT_CNTRS` (rte_config.h).
pub const RTE_ETHDEV_QUEUE_STAT_CNTRS: usize = 16;
/// `RTE_MEMPOOL_NAMESIZE` (rte_mempool.h).
pub const RTE_MEMPOOL_NAMESIZE: usize = 32;

/// One queue's slot in a port's table. Aligned to two cache lines so that queues polled by
/// different lcores never share a line (the adjacent-line prefetcher pulls pairs).
#[repr(align(128))]
pub(crate) struct QueueCell<Q>(UnsafeCell<Option<Q>>);

// SAFETY: DPDK's contract, which the C API documents (rte_ethdev.h) and applications keep: a
// queue is used by one lcore at a time, and the control path replaces a slot only while its
// port is stopped and nothing polls it. The queue values themselves are Send.
unsafe impl<Q: Send> Sync for QueueCell<Q> {}

impl<Q> QueueCell<Q> {
    fn empty() -> Self {
        Self(UnsafeCell::new(None))
    }

    /// The slot, for the one thread allowed to use it now.
    ///
    /// # Safety
    /// The caller is the slot's only user for the lifetime of the reference: the lcore that
    /// polls the queue (data path), or the control path while the port is stopped.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn get(&self) -> &mut Option<Q> {
        // SAFETY: exclusive use is the caller's promise (above).
        unsafe { &mut *self.0.get() }
    }
}

/// What the control path remembers about a port between calls.
#[derive(Debug)]
pub(crate) struct PortCtl {
    pub nb_rx: u16,
    pub nb_tx: u16,
    pub rx_offloads: u64,
    pub tx_offloads: u64,
    pub started: bool,
    /// The MTU set by configure or set_mtu (DPDK's ethdev starts at `RTE_ETHER_MTU`).
    pub mtu: u16,
}

impl Default for PortCtl {
    fn default() -> Self {
        Self {
            nb_rx: 0,
            nb_tx: 0,
            rx_offloads: 0,
            tx_offloads: 0,
            started: false,
            mtu: ethdev::RTE_ETHER_MTU as u16,
        }
    }
}

/// One port: the shim's device, its queue table and the control path's state.
pub(crate) struct PortSlot {
    pub dev: Arc<EthDev>,
    pub name: CString,
    pub driver_name: CString,
    pub rxq: Box<[QueueCell<RxQueue>]>,
    pub txq: Box<[QueueCell<TxQueue>]>,
    pub ctl: Mutex<PortCtl>,
    /// Closed ports no longer exist for the application.
    pub closed: AtomicBool,
}

impl PortSlot {
    fn new(dev: &Arc<EthDev>) -> PortSlot {
        let info = dev.dev_info();
        let cstr = |s: &str| CString::new(s.replace('\0', "")).unwrap_or_default();
        PortSlot {
            dev: dev.clone(),
            name: cstr(dev.name()),
            driver_name: cstr(info.driver_name),
            rxq: (0..info.max_rx_queues)
                .map(|_| QueueCell::empty())
                .collect(),
            txq: (0..info.max_tx_queues)
                .map(|_| QueueCell::empty())
                .collect(),
            ctl: Mutex::new(PortCtl::default()),
            closed: AtomicBool::new(false),
        }
    }

    pub(crate) fn ctl(&self) -> std::sync::MutexGuard<'_, PortCtl> {
        self.ctl.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops every queue of the port (configure, close, cleanup).
    ///
    /// # Safety
    /// The port is stopped and no lcore polls its queues (DPDK's contract).
    pub(crate) unsafe fn drop_queues(&self) {
        for c in self.rxq.iter() {
            // SAFETY: the caller's promise: nobody else uses the slots now.
            unsafe { *c.get() = None };
        }
        for c in self.txq.iter() {
            // SAFETY: as above.
            unsafe { *c.get() = None };
        }
    }
}

/// The lcores, as the C API asks about them.
pub(crate) struct LcoreTable {
    pub enabled: [bool; RTE_MAX_LCORE],
    pub main: u32,
    pub count: u32,
}

/// Everything `rte_eal_init` sets up, until `rte_eal_cleanup`.
pub(crate) struct Shim {
    /// Ports by id. Declared before `eal`: the queues must go before the ports close.
    pub ports: Box<[PortSlot]>,
    pub lcores: LcoreTable,
    pub pools: mbuf::PoolRegistry,
    pub eal: Eal,
}

impl Drop for Shim {
    fn drop(&mut self) {
        for p in self.ports.iter() {
            // Stopped first, a port takes its buffers back from the device, so that dropping
            // the queues returns every mbuf to its pool (rte_exit cleans up running ports).
            if p.dev.is_started() {
                if let Err(e) = p.dev.stop() {
                    log::log(
                        log::WARNING,
                        log::TYPE_ETHDEV,
                        &format!("cleanup: stop: {e}"),
                    );
                }
            }
            // SAFETY: cleanup runs with every worker lcore idle (checked by rte_eal_cleanup)
            // and, by contract, no other call in progress.
            unsafe { p.drop_queues() };
        }
    }
}

const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<Shim>();
};

/// The state, published by `rte_eal_init` (release) and taken down by `rte_eal_cleanup`.
static SHIM: AtomicPtr<Shim> = AtomicPtr::new(std::ptr::null_mut());
/// Serialises `rte_eal_init` and `rte_eal_cleanup`.
static LIFECYCLE: Mutex<()> = Mutex::new(());

/// The EAL's state, if it is up.
#[inline]
pub(crate) fn shim() -> Option<&'static Shim> {
    let p = SHIM.load(Ordering::Acquire);
    // SAFETY: a non-null pointer came from `Box::into_raw` in `rte_eal_init` and stays valid
    // until `rte_eal_cleanup` frees it; by the C API's contract no call runs concurrently with
    // or after cleanup, so the reference does not outlive the state in any correct program.
    unsafe { p.as_ref() }
}

/// The open port `port_id`, or `-ENODEV`.
pub(crate) fn port(port_id: u16) -> Result<&'static PortSlot, c_int> {
    let s = shim().ok_or(-libc::ENODEV)?;
    match s.ports.get(usize::from(port_id)) {
        Some(p) if !p.closed.load(Ordering::Acquire) => Ok(p),
        _ => Err(-libc::ENODEV),
    }
}

/// The errno value for a shim error.
pub(crate) fn errno_of(e: &dpdk_shim::Error) -> c_int {
    use dpdk_shim::Error as E;
    match e {
        E::Args(_) => libc::EINVAL,
        E::NoSuchPort(_) => libc::ENODEV,
        E::Lcore { why, .. } if why.contains("busy") => libc::EBUSY,
        E::Lcore { .. } => libc::EINVAL,
        E::Setup(_) => libc::ENODEV,
        E::Driver(d) => match d {
            ena::Error::Config(_) => libc::EINVAL,
            ena::Error::NoMemory(_) => libc::ENOMEM,
            ena::Error::State("closed") => libc::ENODEV,
            ena::Error::State(s) if s.starts_with("not configured") => libc::EINVAL,
            ena::Error::State(_) => libc::EBUSY,
            ena::Error::FeatureUnsupported(_) | ena::Error::Unsupported(_) => libc::ENOTSUP,
            ena::Error::AdminTimeout { .. } | ena::Error::RegisterReadTimeout { .. } => {
                libc::ETIMEDOUT
            }
            _ => libc::EIO,
        },
    }
}

/// Logs `what: e` as an error and returns `-errno`, also left in `rte_errno`.
pub(crate) fn fail(what: &str, e: &dpdk_shim::Error) -> c_int {
    let code = errno_of(e);
    log::error(log::TYPE_ETHDEV, &format!("{what}: {e}"));
    errno::set(code);
    -code
}

/// Logs `msg` as an error and returns `-code`, also left in `rte_errno`.
pub(crate) fn fail_with(code: c_int, logtype: u32, msg: &str) -> c_int {
    log::error(logtype, msg);
    errno::set(code);
    -code
}

/// Runs `f` with the EAL, if it is up (for Rust callers and tests: e.g. to reach the device
/// models behind `--vdev` ports with [`Eal::sim_port`]).
pub fn with_eal<R>(f: impl FnOnce(&Eal) -> R) -> Option<R> {
    shim().map(|s| f(&s.eal))
}
