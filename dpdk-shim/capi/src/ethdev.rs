//! Ethernet ports (rte_ethdev.h) over [`dpdk_shim::ethdev::EthDev`]: the control path with
//! DPDK's checks and return codes, and the data path.
//!
//! # Data path
//!
//! `rte_eth_rx_burst`/`rte_eth_tx_burst` are inline in the header and call
//! [`dpdk_shim_rx_burst`]/[`dpdk_shim_tx_burst`], which find the driver's queue in the port's
//! fixed table (two bounds checks, no lock) and run its burst directly on the application's
//! `struct rte_mbuf *` array: that array *is* a `[Option<Mbuf>]` (same size and alignment,
//! NULL = `None`; see the SAFETY comments), so nothing is allocated, locked, converted or
//! copied per packet. The only extra work is on the pointer array itself: RX clears the
//! entries before the driver fills them (they hold stale pointers), and TX saves the entries of
//! what it sends and puts them back afterwards, since DPDK leaves the caller's array unchanged.
//! The queues are taken out of the driver's port at `rte_eth_dev_start` and stay in the table
//! until the port is reconfigured or closed.
//!
//! DPDK's contract makes the unlocked table sound, and applications already keep it: one
//! lcore at a time polls a given queue, and nobody polls a port's queues while it is being
//! configured, set up, started, stopped or closed.

use crate::errno;
use crate::log::{self, TYPE_ETHDEV};
use crate::mbuf::{rte_mbuf, rte_mempool};
use crate::{fail, fail_with, port, PortSlot, RTE_ETHDEV_QUEUE_STAT_CNTRS, RTE_MAX_ETHPORTS};
use dpdk_shim::ethdev::{rx_offload, EthConf, MqMode, RssConf, RxMode, TxMode, RSS_KEY_LEN};
use ena::Mbuf;
use std::ffi::{c_char, c_int, c_uint, c_void};
use std::sync::atomic::Ordering;

/// `RTE_ETH_MQ_RX_RSS_FLAG`.
pub const RTE_ETH_MQ_RX_RSS_FLAG: u32 = 1;
/// `RTE_ETH_NAME_MAX_LEN`.
pub const RTE_ETH_NAME_MAX_LEN: usize = 64;
/// `RTE_ETHER_MTU`: the MTU `rte_eth_dev_configure` sets when `rxmode.mtu` is 0.
pub const RTE_ETHER_MTU: u32 = 1500;
/// `RTE_PTYPE_UNKNOWN`.
pub const RTE_PTYPE_UNKNOWN: u32 = 0;
/// The link speeds DPDK's ENA PMD reports as capabilities (1G to 400G), as ENA has no speed of
/// its own.
pub const ENA_SPEED_CAPA: u32 = (1 << 5)
    | (1 << 6)
    | (1 << 7)
    | (1 << 8)
    | (1 << 10)
    | (1 << 11)
    | (1 << 12)
    | (1 << 14)
    | (1 << 15)
    | (1 << 16);
/// `RTE_ETH_ERROR_HANDLE_MODE_PASSIVE`: the driver recovers from device errors by itself.
pub const RTE_ETH_ERROR_HANDLE_MODE_PASSIVE: u32 = 1;

/// `struct rte_ether_addr`.
#[repr(C, align(2))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct rte_ether_addr {
    /// The address, first byte first.
    pub addr_bytes: [u8; 6],
}

/// `struct rte_eth_link` (the C struct's bit-fields are `flags`: bit 0 duplex, bit 1
/// autoneg, bit 2 status).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default)]
pub struct rte_eth_link {
    /// `RTE_ETH_SPEED_NUM_*`.
    pub link_speed: u32,
    /// `link_duplex : 1, link_autoneg : 1, link_status : 1`.
    pub flags: u16,
    _pad: u16,
}

/// Bit of `link_duplex` in [`rte_eth_link::flags`].
pub const LINK_DUPLEX_BIT: u16 = 1 << 0;
/// Bit of `link_autoneg`.
pub const LINK_AUTONEG_BIT: u16 = 1 << 1;
/// Bit of `link_status`.
pub const LINK_STATUS_BIT: u16 = 1 << 2;

/// `struct rte_eth_rss_conf`.
#[repr(C)]
#[derive(Debug)]
pub struct rte_eth_rss_conf {
    /// NULL: the driver's key.
    pub rss_key: *mut u8,
    /// Key length (40).
    pub rss_key_len: u8,
    /// `RTE_ETH_RSS_*`.
    pub rss_hf: u64,
    /// `enum rte_eth_hash_function`.
    pub algorithm: u32,
}

/// `struct rte_eth_rxmode`.
#[repr(C)]
#[derive(Debug)]
pub struct rte_eth_rxmode {
    /// `enum rte_eth_rx_mq_mode`.
    pub mq_mode: u32,
    /// L3 MTU (0: the default).
    pub mtu: u32,
    /// Largest LRO packet.
    pub max_lro_pkt_size: u32,
    /// Ignored.
    pub split_hdr_size: u16,
    /// `RTE_ETH_RX_OFFLOAD_*`.
    pub offloads: u64,
    /// Reserved.
    pub reserved_64s: [u64; 2],
    /// Reserved.
    pub reserved_ptrs: [*mut c_void; 2],
}

/// `struct rte_eth_txmode` (the VLAN bit-fields are `vlan_flags`).
#[repr(C)]
#[derive(Debug)]
pub struct rte_eth_txmode {
    /// `enum rte_eth_tx_mq_mode`.
    pub mq_mode: u32,
    /// `RTE_ETH_TX_OFFLOAD_*`.
    pub offloads: u64,
    /// Port VLAN id.
    pub pvid: u16,
    /// `hw_vlan_reject_tagged`, `hw_vlan_reject_untagged`, `hw_vlan_insert_pvid`.
    pub vlan_flags: u8,
    /// Reserved.
    pub reserved_64s: [u64; 2],
    /// Reserved.
    pub reserved_ptrs: [*mut c_void; 2],
}

/// `rte_eth_conf.rx_adv_conf`.
#[repr(C)]
#[derive(Debug)]
pub struct rte_eth_rx_adv_conf {
    /// RSS key and hash types.
    pub rss_conf: rte_eth_rss_conf,
}

/// `struct rte_eth_conf`.
#[repr(C)]
#[derive(Debug)]
pub struct rte_eth_conf {
    /// `RTE_ETH_LINK_SPEED_*` (ignored).
    pub link_speeds: u32,
    /// Receive mode.
    pub rxmode: rte_eth_rxmode,
    /// Transmit mode.
    pub txmode: rte_eth_txmode,
    /// Loopback mode (must be 0).
    pub lpbk_mode: u32,
    /// RSS.
    pub rx_adv_conf: rte_eth_rx_adv_conf,
    /// DCB (must be 0).
    pub dcb_capability_en: u32,
    /// `struct rte_eth_intr_conf` bit-fields (ignored).
    pub intr_conf: u32,
}

/// `struct rte_eth_thresh`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct rte_eth_thresh {
    /// Prefetch threshold.
    pub pthresh: u8,
    /// Host threshold.
    pub hthresh: u8,
    /// Write-back threshold.
    pub wthresh: u8,
}

/// `struct rte_eth_rxconf`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rte_eth_rxconf {
    /// Thresholds.
    pub rx_thresh: rte_eth_thresh,
    /// Refill threshold.
    pub rx_free_thresh: u16,
    /// Drop when no buffer.
    pub rx_drop_en: u8,
    /// Not supported (must be 0).
    pub rx_deferred_start: u8,
    /// Buffer-split segments.
    pub rx_nseg: u16,
    /// Shared RX queue group.
    pub share_group: u16,
    /// Shared RX queue id.
    pub share_qid: u16,
    /// `RTE_ETH_RX_OFFLOAD_*`, within the port's.
    pub offloads: u64,
    /// Reserved.
    pub reserved_64s: [u64; 2],
    /// Reserved.
    pub reserved_ptrs: [*mut c_void; 2],
}

/// `struct rte_eth_txconf`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rte_eth_txconf {
    /// Thresholds.
    pub tx_thresh: rte_eth_thresh,
    /// Report-status threshold.
    pub tx_rs_thresh: u16,
    /// Free threshold.
    pub tx_free_thresh: u16,
    /// Not supported (must be 0).
    pub tx_deferred_start: u8,
    /// `RTE_ETH_TX_OFFLOAD_*`, within the port's.
    pub offloads: u64,
    /// Reserved.
    pub reserved_64s: [u64; 2],
    /// Reserved.
    pub reserved_ptrs: [*mut c_void; 2],
}

/// `struct rte_eth_desc_lim`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct rte_eth_desc_lim {
    /// Most descriptors.
    pub nb_max: u16,
    /// Fewest descriptors.
    pub nb_min: u16,
    /// Multiple of (0: any).
    pub nb_align: u16,
    /// Segments per packet.
    pub nb_seg_max: u16,
    /// Segments per MTU-sized packet.
    pub nb_mtu_seg_max: u16,
}

/// `struct rte_eth_dev_portconf`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct rte_eth_dev_portconf {
    /// Preferred burst.
    pub burst_size: u16,
    /// Preferred ring size.
    pub ring_size: u16,
    /// Preferred queue count.
    pub nb_queues: u16,
}

/// `struct rte_eth_dev_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rte_eth_dev_info {
    /// `struct rte_device *` (NULL).
    pub device: *mut c_void,
    /// Driver name.
    pub driver_name: *const c_char,
    /// Kernel interface index (0).
    pub if_index: c_uint,
    /// Smallest MTU.
    pub min_mtu: u16,
    /// Largest MTU.
    pub max_mtu: u16,
    /// Device flags (NULL).
    pub dev_flags: *const u32,
    /// Smallest RX buffer (data room minus headroom).
    pub min_rx_bufsize: u32,
    /// Largest RX buffer.
    pub max_rx_bufsize: u32,
    /// Largest frame.
    pub max_rx_pktlen: u32,
    /// Largest LRO packet (0).
    pub max_lro_pkt_size: u32,
    /// RX queues.
    pub max_rx_queues: u16,
    /// TX queues.
    pub max_tx_queues: u16,
    /// Unicast MAC addresses (1).
    pub max_mac_addrs: u32,
    /// Hash MAC addresses (0).
    pub max_hash_mac_addrs: u32,
    /// VFs (0).
    pub max_vfs: u16,
    /// VMDq pools (0).
    pub max_vmdq_pools: u16,
    /// RX offloads.
    pub rx_offload_capa: u64,
    /// TX offloads.
    pub tx_offload_capa: u64,
    /// Per-queue RX offloads (0: every offload is per port).
    pub rx_queue_offload_capa: u64,
    /// Per-queue TX offloads (0).
    pub tx_queue_offload_capa: u64,
    /// RSS table size.
    pub reta_size: u16,
    /// RSS key size.
    pub hash_key_size: u8,
    /// RSS algorithms.
    pub rss_algo_capa: u32,
    /// RSS hash types.
    pub flow_type_rss_offloads: u64,
    /// Default RX queue configuration.
    pub default_rxconf: rte_eth_rxconf,
    /// Default TX queue configuration.
    pub default_txconf: rte_eth_txconf,
    /// VMDq.
    pub vmdq_queue_base: u16,
    /// VMDq.
    pub vmdq_queue_num: u16,
    /// VMDq.
    pub vmdq_pool_base: u16,
    /// RX ring limits.
    pub rx_desc_lim: rte_eth_desc_lim,
    /// TX ring limits.
    pub tx_desc_lim: rte_eth_desc_lim,
    /// `RTE_ETH_LINK_SPEED_*`.
    pub speed_capa: u32,
    /// Configured RX queues.
    pub nb_rx_queues: u16,
    /// Configured TX queues.
    pub nb_tx_queues: u16,
    /// Mempools per RX queue.
    pub max_rx_mempools: u16,
    /// Preferred RX settings.
    pub default_rxportconf: rte_eth_dev_portconf,
    /// Preferred TX settings.
    pub default_txportconf: rte_eth_dev_portconf,
    /// Device capabilities.
    pub dev_capa: u64,
    /// `RTE_ETH_ERROR_HANDLE_MODE_*`.
    pub err_handle_mode: u32,
    /// Reserved.
    pub reserved_64s: [u64; 2],
    /// Reserved.
    pub reserved_ptrs: [*mut c_void; 2],
}

/// `struct rte_eth_stats`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct rte_eth_stats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Dropped by the device (no RX buffer).
    pub imissed: u64,
    /// Receive errors.
    pub ierrors: u64,
    /// Transmit errors.
    pub oerrors: u64,
    /// RX buffer allocation failures.
    pub rx_nombuf: u64,
    /// Per RX queue packets.
    pub q_ipackets: [u64; RTE_ETHDEV_QUEUE_STAT_CNTRS],
    /// Per TX queue packets.
    pub q_opackets: [u64; RTE_ETHDEV_QUEUE_STAT_CNTRS],
    /// Per RX queue bytes.
    pub q_ibytes: [u64; RTE_ETHDEV_QUEUE_STAT_CNTRS],
    /// Per TX queue bytes.
    pub q_obytes: [u64; RTE_ETHDEV_QUEUE_STAT_CNTRS],
    /// Per queue errors.
    pub q_errors: [u64; RTE_ETHDEV_QUEUE_STAT_CNTRS],
}

/// `buffer_tx_error_fn`.
pub type buffer_tx_error_fn =
    Option<unsafe extern "C" fn(unsent: *mut *mut rte_mbuf, count: u16, userdata: *mut c_void)>;

/// `struct rte_eth_dev_tx_buffer`, with its flexible `pkts` array.
#[repr(C)]
#[derive(Debug)]
pub struct rte_eth_dev_tx_buffer {
    /// Called with the packets a flush could not send.
    pub error_callback: buffer_tx_error_fn,
    /// Its argument.
    pub error_userdata: *mut c_void,
    /// Capacity.
    pub size: u16,
    /// Packets held.
    pub length: u16,
    /// The packets (`size` entries follow the struct).
    pub pkts: [*mut rte_mbuf; 0],
}

// ---- ports ------------------------------------------------------------------------------

/// Open (not closed) ports, in id order.
fn open_ports() -> impl Iterator<Item = (u16, &'static PortSlot)> {
    crate::shim()
        .into_iter()
        .flat_map(|s| s.ports.iter().enumerate())
        .filter(|(_, p)| !p.closed.load(Ordering::Acquire))
        .map(|(i, p)| (i as u16, p))
}

/// `rte_eth_dev_count_avail()`.
#[no_mangle]
pub extern "C" fn rte_eth_dev_count_avail() -> u16 {
    open_ports().count() as u16
}

/// `rte_eth_dev_count_total()`.
#[no_mangle]
pub extern "C" fn rte_eth_dev_count_total() -> u16 {
    rte_eth_dev_count_avail()
}

/// `rte_eth_find_next(port_id)`: the first open port at or after `port_id`, else
/// `RTE_MAX_ETHPORTS` (what `RTE_ETH_FOREACH_DEV` iterates with).
#[no_mangle]
pub extern "C" fn rte_eth_find_next(port_id: u16) -> u16 {
    open_ports()
        .map(|(i, _)| i)
        .find(|&i| i >= port_id)
        .unwrap_or(RTE_MAX_ETHPORTS as u16)
}

/// `rte_eth_dev_is_valid_port(port_id)`: 1 for an open port, else 0.
#[no_mangle]
pub extern "C" fn rte_eth_dev_is_valid_port(port_id: u16) -> c_int {
    c_int::from(port(port_id).is_ok())
}

/// `rte_eth_dev_socket_id(port_id)`: 0, or -1 with `rte_errno` EINVAL for no such port.
#[no_mangle]
pub extern "C" fn rte_eth_dev_socket_id(port_id: u16) -> c_int {
    match port(port_id) {
        Ok(_) => 0,
        Err(_) => {
            errno::set(libc::EINVAL);
            -1
        }
    }
}

/// `rte_eth_dev_get_name_by_port(port_id, name)`: the device's name (PCI address or vdev
/// name) into `name` (`RTE_ETH_NAME_MAX_LEN` bytes).
///
/// # Safety
/// `name` is NULL or has room for `RTE_ETH_NAME_MAX_LEN` bytes.
#[no_mangle]
pub unsafe extern "C" fn rte_eth_dev_get_name_by_port(port_id: u16, name: *mut c_char) -> c_int {
    let p = match port(port_id) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if name.is_null() {
        return -libc::EINVAL;
    }
    let bytes = p.name.as_bytes_with_nul();
    let n = bytes.len().min(RTE_ETH_NAME_MAX_LEN);
    // SAFETY: `name` has room for RTE_ETH_NAME_MAX_LEN bytes; `n` is at most that.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr().cast::<c_char>(), name, n);
        *name.add(n - 1) = 0;
    }
    0
}

/// `rte_eth_dev_info_get(port_id, dev_info)`.
///
/// # Safety
/// `dev_info` is NULL or points to a writable `struct rte_eth_dev_info`.
#[no_mangle]
pub unsafe extern "C" fn rte_eth_dev_info_get(
    port_id: u16,
    dev_info: *mut rte_eth_dev_info,
) -> c_int {
    let p = match port(port_id) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if dev_info.is_null() {
        return fail_with(libc::EINVAL, TYPE_ETHDEV, "dev_info_get: NULL dev_info");
    }
    let i = p.dev.dev_info();
    let ctl = p.ctl();
    let portconf = |max: u16| rte_eth_dev_portconf {
        burst_size: 0,
        ring_size: dpdk_shim::ethdev::DEFAULT_RING_SIZE.min(max),
        nb_queues: 1,
    };
    let out = rte_eth_dev_info {
        device: std::ptr::null_mut(),
        driver_name: p.driver_name.as_ptr(),
        if_index: 0,
        min_mtu: i.min_mtu.min(u32::from(u16::MAX)) as u16,
        max_mtu: i.max_mtu.min(u32::from(u16::MAX)) as u16,
        dev_flags: std::ptr::null(),
        min_rx_bufsize: 64,
        max_rx_bufsize: u32::from(u16::MAX - dpdk_shim::mbuf::HEADROOM),
        max_rx_pktlen: i.max_rx_pktlen,
        max_lro_pkt_size: 0,
        max_rx_queues: i.max_rx_queues,
        max_tx_queues: i.max_tx_queues,
        max_mac_addrs: 1,
        max_hash_mac_addrs: 0,
        max_vfs: 0,
        max_vmdq_pools: 0,
        rx_offload_capa: i.rx_offload_capa,
        tx_offload_capa: i.tx_offload_capa,
        rx_queue_offload_capa: 0,
        tx_queue_offload_capa: 0,
        reta_size: i.reta_size,
        hash_key_size: i.hash_key_size,
        rss_algo_capa: 0,
        flow_type_rss_offloads: i.flow_type_rss_offloads,
        default_rxconf: rte_eth_rxconf {
            rx_thresh: rte_eth_thresh::default(),
            rx_free_thresh: 0,
            rx_drop_en: 0,
            rx_deferred_start: 0,
            rx_nseg: 0,
            share_group: 0,
            share_qid: 0,
            offloads: 0,
            reserved_64s: [0; 2],
            reserved_ptrs: [std::ptr::null_mut(); 2],
        },
        default_txconf: rte_eth_txconf {
            tx_thresh: rte_eth_thresh::default(),
            tx_rs_thresh: 0,
            tx_free_thresh: 0,
            tx_deferred_start: 0,
            offloads: 0,
            reserved_64s: [0; 2],
            reserved_ptrs: [std::ptr::null_mut(); 2],
        },
        vmdq_queue_base: 0,
        vmdq_queue_num: 0,
        vmdq_pool_base: 0,
        rx_desc_lim: rte_eth_desc_lim {
            nb_max: i.max_rx_desc,
            nb_min: i.min_desc,
            nb_align: 0,
            nb_seg_max: i.max_rx_segs,
            nb_mtu_seg_max: i.max_rx_segs,
        },
        tx_desc_lim: rte_eth_desc_lim {
            nb_max: i.max_tx_desc,
            nb_min: i.min_desc,
            nb_align: 0,
            nb_seg_max: i.max_tx_segs,
            nb_mtu_seg_max: i.max_tx_segs,
        },
        speed_capa: ENA_SPEED_CAPA,
        nb_rx_queues: ctl.nb_rx,
        nb_tx_queues: ctl.nb_tx,
        max_rx_mempools: 1,
        default_rxportconf: portconf(i.max_rx_desc),
        default_txportconf: portconf(i.max_tx_desc),
        dev_capa: 0,
        err_handle_mode: RTE_ETH_ERROR_HANDLE_MODE_PASSIVE,
        reserved_64s: [0; 2],
        reserved_ptrs: [std::ptr::null_mut(); 2],
    };
    // SAFETY: `dev_info` points to a writable struct (the caller's promise).
    unsafe { dev_info.write(out) };
    0
}

/// `rte_eth_macaddr_get(port_id, mac_addr)`.
///
/// # Safety
/// `mac_addr` is NULL or points to a writable `struct rte_ether_addr`.
#[no_mangle]
pub unsafe extern "C" fn rte_eth_macaddr_get(port_id: u16, mac_addr: *mut rte_ether_addr) -> c_int {
    let p = match port(port_id) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if mac_addr.is_null() {
        return fail_with(libc::EINVAL, TYPE_ETHDEV, "macaddr_get: NULL address");
    }
    // SAFETY: `mac_addr` points to a writable struct (the caller's promise).
    unsafe {
        mac_addr.write(rte_ether_addr {
            addr_bytes: p.dev.macaddr_get(),
        })
    };
    0
}

// ---- configuration ------------------------------------------------------------------------

/// The shim's configuration for a C `rte_eth_conf`, with DPDK ethdev's checks.
fn to_eth_conf(c: &rte_eth_conf, p: &PortSlot) -> Result<EthConf, String> {
    let info = p.dev.dev_info();
    let mq_mode = match c.rxmode.mq_mode {
        0 => MqMode::None,
        RTE_ETH_MQ_RX_RSS_FLAG => MqMode::Rss,
        m => {
            return Err(format!(
                "RX mq_mode {m:#x} is not supported (ENA: NONE or RSS)"
            ))
        }
    };
    if c.txmode.mq_mode != 0 {
        return Err(format!(
            "TX mq_mode {} is not supported (ENA: NONE)",
            c.txmode.mq_mode
        ));
    }
    if c.lpbk_mode != 0 {
        return Err(format!("loopback mode {} is not supported", c.lpbk_mode));
    }
    if c.dcb_capability_en != 0 {
        return Err("DCB is not supported".into());
    }
    let rss = &c.rx_adv_conf.rss_conf;
    let rss_key = if rss.rss_key.is_null() {
        None
    } else if usize::from(rss.rss_key_len) != RSS_KEY_LEN {
        return Err(format!(
            "RSS key is {} bytes; ENA takes {RSS_KEY_LEN}",
            rss.rss_key_len
        ));
    } else {
        // SAFETY: the application gives rss_key_len (checked: 40) readable bytes at rss_key.
        Some(unsafe { std::slice::from_raw_parts(rss.rss_key, RSS_KEY_LEN) }.to_vec())
    };
    let mut rx_offloads = c.rxmode.offloads;
    // As DPDK's ENA PMD does: RSS mode delivers the hash with every packet.
    if mq_mode == MqMode::Rss && info.rx_offload_capa & rx_offload::RSS_HASH != 0 {
        rx_offloads |= rx_offload::RSS_HASH;
    }
    let mtu = match c.rxmode.mtu {
        0 => RTE_ETHER_MTU.min(info.max_mtu),
        m => m,
    };
    Ok(EthConf {
        rxmode: RxMode {
            mq_mode,
            mtu,
            offloads: rx_offloads,
        },
        rss_conf: RssConf {
            rss_key,
            rss_hf: rss.rss_hf,
        },
        txmode: TxMode {
            offloads: c.txmode.offloads,
        },
    })
}

/// `rte_eth_dev_configure(port_id, nb_rx_queue, nb_tx_queue, eth_conf)`.
///
/// # Safety
/// `eth_conf` is NULL or points to a readable `struct rte_eth_conf` (with `rss_key`, when
/// set, pointing to `rss_key_len` bytes).
#[no_mangle]
pub unsafe extern "C" fn rte_eth_dev_configure(
    port_id: u16,
    nb_rx_queue: u16,
    nb_tx_queue: u16,
    eth_conf: *const rte_eth_conf,
) -> c_int {
    let p = match port(port_id) {
        Ok(p) => p,
        Err(e) => return e,
    };
    // SAFETY: NULL or a readable struct (the caller's promise).
    let Some(c) = (unsafe { eth_conf.as_ref() }) else {
        return fail_with(
            libc::EINVAL,
            TYPE_ETHDEV,
            &format!("port {port_id}: configure: NULL configuration"),
        );
    };
    let conf = match to_eth_conf(c, p) {
        Ok(conf) => conf,
        Err(m) => {
            return fail_with(
                libc::EINVAL,
                TYPE_ETHDEV,
                &format!("port {port_id}: configure: {m}"),
            )
        }
    };
    let mut ctl = p.ctl();
    if let Err(e) = p.dev.configure(nb_rx_queue, nb_tx_queue, &conf) {
        return fail(&format!("port {port_id}: configure"), &e);
    }
    // SAFETY: configure succeeded, so the port is stopped; by DPDK's contract nothing polls
    // a port being configured. Its old queues are gone from the driver: drop ours too.
    unsafe { p.drop_queues() };
    ctl.nb_rx = nb_rx_queue;
    ctl.nb_tx = nb_tx_queue;
    ctl.rx_offloads = conf.rxmode.offloads;
    ctl.tx_offloads = conf.txmode.offloads;
    ctl.mtu = conf.rxmode.mtu.min(u32::from(u16::MAX)) as u16;
    0
}

/// Rounds a descriptor count to what the driver takes: a power of two within the limits.
fn adjust_desc(n: u16, lim_min: u16, lim_max: u16) -> u16 {
    let n = n
        .max(lim_min)
        .checked_next_power_of_two()
        .unwrap_or(lim_max);
    n.min(lim_max).max(lim_min)
}

/// `rte_eth_dev_adjust_nb_rx_tx_desc(port_id, nb_rx_desc, nb_tx_desc)`: clamps each count
/// (when not NULL) to the device's limits, rounded up to a power of two (ENA rings are; DPDK's
/// ENA PMD would refuse another count at queue setup).
///
/// # Safety
/// Each pointer is NULL or points to a writable `uint16_t`.
#[no_mangle]
pub unsafe extern "C" fn rte_eth_dev_adjust_nb_rx_tx_desc(
    port_id: u16,
    nb_rx_desc: *mut u16,
    nb_tx_desc: *mut u16,
) -> c_int {
    let p = match port(port_id) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let i = p.dev.dev_info();
    // SAFETY: NULL or writable (the caller's promise).
    if let Some(n) = unsafe { nb_rx_desc.as_mut() } {
        *n = adjust_desc(*n, i.min_desc, i.max_rx_desc);
    }
    // SAFETY: as above.
    if let Some(n) = unsafe { nb_tx_desc.as_mut() } {
        *n = adjust_desc(*n, i.min_desc, i.max_tx_desc);
    }
    0
}

/// Checks a queue's offloads against its port's (the only level ENA has).
fn check_queue_offloads(port_id: u16, what: &str, queue: u64, port: u64) -> Result<(), c_int> {
    let extra = queue & !port;
    if extra == 0 {
        return Ok(());
    }
    Err(fail_with(
        libc::EINVAL,
        TYPE_ETHDEV,
        &format!(
            "port {port_id}: {what}: offloads {extra:#x} are not enabled on the port; ENA has \
             no per-queue offloads: enable them in rte_eth_conf"
        ),
    ))
}

/// `rte_eth_rx_queue_setup(port_id, rx_queue_id, nb_rx_desc, socket_id, rx_conf, mb_pool)`:
/// `nb_rx_desc` 0 takes the default (1024, or the device's maximum).
///
/// # Safety
/// `rx_conf` is NULL or readable; `mb_pool` is NULL or a live pool handle.
#[no_mangle]
pub unsafe extern "C" fn rte_eth_rx_queue_setup(
    port_id: u16,
    rx_queue_id: u16,
    nb_rx_desc: u16,
    _socket_id: c_uint,
    rx_conf: *const rte_eth_rxconf,
    mb_pool: *mut rte_mempool,
) -> c_int {
    let p = match port(port_id) {
        Ok(p) => p,
        Err(e) => return e,
    };
    // SAFETY: NULL or a live handle (the caller's promise).
    let Some(mp) = (unsafe { mb_pool.as_ref() }) else {
        return fail_with(
            libc::EINVAL,
            TYPE_ETHDEV,
            &format!("port {port_id}: RX queue {rx_queue_id}: NULL mempool"),
        );
    };
    let ctl = p.ctl();
    // SAFETY: NULL or readable (the caller's promise).
    if let Some(c) = unsafe { rx_conf.as_ref() } {
        if c.rx_deferred_start != 0 {
            return fail_with(
                libc::EINVAL,
                TYPE_ETHDEV,
                &format!("port {port_id}: RX queue {rx_queue_id}: deferred start is not supported"),
            );
        }
        let what = format!("RX queue {rx_queue_id}");
        if let Err(e) = check_queue_offloads(port_id, &what, c.offloads, ctl.rx_offloads) {
            return e;
        }
    }
    let nb = match nb_rx_desc {
        0 => dpdk_shim::ethdev::DEFAULT_RING_SIZE.min(p.dev.dev_info().max_rx_desc),
        n => n,
    };
    match p.dev.rx_queue_setup(rx_queue_id, nb, mp.pool()) {
        Ok(()) => 0,
        Err(e) => fail(&format!("port {port_id}: RX queue {rx_queue_id} setup"), &e),
    }
}

/// `rte_eth_tx_queue_setup(port_id, tx_queue_id, nb_tx_desc, socket_id, tx_conf)`.
///
/// # Safety
/// `tx_conf` is NULL or readable.
#[no_mangle]
pub unsafe extern "C" fn rte_eth_tx_queue_setup(
    port_id: u16,
    tx_queue_id: u16,
    nb_tx_desc: u16,
    _socket_id: c_uint,
    tx_conf: *const rte_eth_txconf,
) -> c_int {
    let p = match port(port_id) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let ctl = p.ctl();
    // SAFETY: NULL or readable (the caller's promise).
    if let Some(c) = unsafe { tx_conf.as_ref() } {
        if c.tx_deferred_start != 0 {
            return fail_with(
                libc::EINVAL,
                TYPE_ETHDEV,
                &format!("port {port_id}: TX queue {tx_queue_id}: deferred start is not supported"),
            );
        }
        let what = format!("TX queue {tx_queue_id}");
        if let Err(e) = check_queue_offloads(port_id, &what, c.offloads, ctl.tx_offloads) {
            return e;
        }
    }
    let nb = match nb_tx_desc {
        0 => dpdk_shim::ethdev::DEFAULT_RING_SIZE.min(p.dev.dev_info().max_tx_desc),
        n => n,
    };
    // Completed packets go back to their own pools; the queue caches the port's RX pool.
    match p.dev.tx_queue_setup(tx_queue_id, nb) {
        Ok(()) => 0,
        Err(e) => fail(&format!("port {port_id}: TX queue {tx_queue_id} setup"), &e),
    }
}

/// `rte_eth_dev_start(port_id)`: starts the port and moves its queues into the burst table.
#[no_mangle]
pub extern "C" fn rte_eth_dev_start(port_id: u16) -> c_int {
    let p = match port(port_id) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let mut ctl = p.ctl();
    if let Err(e) = p.dev.start() {
        return fail(&format!("port {port_id}: start"), &e);
    }
    // A queue set up since the last start is in the driver's port: take it. One already
    // taken stays in its slot and runs again.
    for q in 0..ctl.nb_rx {
        if let (Ok(queue), Some(cell)) = (p.dev.take_rx_queue(q), p.rxq.get(usize::from(q))) {
            // SAFETY: by DPDK's contract nothing polls a port's queues until its start has
            // returned, so the control path has the slot to itself.
            unsafe { *cell.get() = Some(queue) };
        }
    }
    for q in 0..ctl.nb_tx {
        if let (Ok(queue), Some(cell)) = (p.dev.take_tx_queue(q), p.txq.get(usize::from(q))) {
            // SAFETY: as above.
            unsafe { *cell.get() = Some(queue) };
        }
    }
    ctl.started = true;
    0
}

/// `rte_eth_dev_stop(port_id)`: the queues stop (bursts return 0) and keep their buffers for
/// the next start.
#[no_mangle]
pub extern "C" fn rte_eth_dev_stop(port_id: u16) -> c_int {
    let p = match port(port_id) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let mut ctl = p.ctl();
    ctl.started = false;
    match p.dev.stop() {
        Ok(()) => 0,
        Err(e) => fail(&format!("port {port_id}: stop"), &e),
    }
}

/// `rte_eth_dev_close(port_id)`: releases the device; the port must be stopped (`-EINVAL`
/// otherwise, as in DPDK) and no longer exists afterwards.
#[no_mangle]
pub extern "C" fn rte_eth_dev_close(port_id: u16) -> c_int {
    let p = match port(port_id) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let ctl = p.ctl();
    if ctl.started || p.dev.is_started() {
        return fail_with(
            libc::EINVAL,
            TYPE_ETHDEV,
            &format!("port {port_id}: cannot close a started port; stop it first"),
        );
    }
    p.closed.store(true, Ordering::Release);
    // SAFETY: the port is stopped and, by DPDK's contract, nothing polls a closing port.
    unsafe { p.drop_queues() };
    match p.dev.close() {
        Ok(()) => 0,
        Err(e) => fail(&format!("port {port_id}: close"), &e),
    }
}

/// `rte_eth_dev_set_mtu(port_id, mtu)`.
#[no_mangle]
pub extern "C" fn rte_eth_dev_set_mtu(port_id: u16, mtu: u16) -> c_int {
    let p = match port(port_id) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let mut ctl = p.ctl();
    match p.dev.mtu_set(mtu) {
        Ok(()) => {
            ctl.mtu = mtu;
            0
        }
        Err(e) => fail(&format!("port {port_id}: set MTU {mtu}"), &e),
    }
}

/// `rte_eth_dev_get_mtu(port_id, mtu)`: the MTU set by `rte_eth_dev_configure` or
/// `rte_eth_dev_set_mtu` (`RTE_ETHER_MTU` before either, as in DPDK).
///
/// # Safety
/// `mtu` is NULL or points to a writable `uint16_t`.
#[no_mangle]
pub unsafe extern "C" fn rte_eth_dev_get_mtu(port_id: u16, mtu: *mut u16) -> c_int {
    let p = match port(port_id) {
        Ok(p) => p,
        Err(e) => return e,
    };
    // SAFETY: NULL or writable (the caller's promise).
    match unsafe { mtu.as_mut() } {
        Some(m) => {
            *m = p.ctl().mtu;
            0
        }
        None => fail_with(libc::EINVAL, TYPE_ETHDEV, "get_mtu: NULL mtu"),
    }
}

/// `rte_eth_dev_set_ptypes(port_id, ptype_mask, set_ptypes, num)`: ENA has no packet-type
/// filter, so as DPDK's ethdev does for such drivers: `set_ptypes[0] = RTE_PTYPE_UNKNOWN`
/// (when `num` > 0) and 0.
///
/// # Safety
/// `set_ptypes` is NULL or has room for `num` entries.
#[no_mangle]
pub unsafe extern "C" fn rte_eth_dev_set_ptypes(
    port_id: u16,
    _ptype_mask: u32,
    set_ptypes: *mut u32,
    num: c_uint,
) -> c_int {
    if let Err(e) = port(port_id) {
        return e;
    }
    if num > 0 {
        if set_ptypes.is_null() {
            return fail_with(
                libc::EINVAL,
                TYPE_ETHDEV,
                "set_ptypes: NULL array of size > 0",
            );
        }
        // SAFETY: the array has room for `num` > 0 entries.
        unsafe { *set_ptypes = RTE_PTYPE_UNKNOWN };
    }
    0
}

/// Why ENA refuses promiscuous and all-multicast modes.
fn no_filter_modes(port_id: u16, what: &str) -> c_int {
    if let Err(e) = port(port_id) {
        return e;
    }
    log::log(
        log::INFO,
        TYPE_ETHDEV,
        &format!(
            "port {port_id}: ENA has no {what} mode (it receives what is addressed to it): \
             -ENOTSUP, as with DPDK's ENA PMD"
        ),
    );
    -libc::ENOTSUP
}

/// `rte_eth_promiscuous_enable(port_id)`: `-ENOTSUP`. DPDK's ENA PMD has no promiscuous
/// operation (DPDK drivers/net/ena/ena_ethdev.c registers none), so DPDK's ethdev answers
/// `-ENOTSUP` for ENA ports; the shim does the same.
#[no_mangle]
pub extern "C" fn rte_eth_promiscuous_enable(port_id: u16) -> c_int {
    no_filter_modes(port_id, "promiscuous")
}

/// `rte_eth_promiscuous_disable(port_id)`: 0 (the mode is never on).
#[no_mangle]
pub extern "C" fn rte_eth_promiscuous_disable(port_id: u16) -> c_int {
    port(port_id).map_or_else(|e| e, |_| 0)
}

/// `rte_eth_promiscuous_get(port_id)`: 0 (off), or -1 for no such port.
#[no_mangle]
pub extern "C" fn rte_eth_promiscuous_get(port_id: u16) -> c_int {
    port(port_id).map_or(-1, |_| 0)
}

/// `rte_eth_allmulticast_enable(port_id)`: `-ENOTSUP`, as for promiscuous mode.
#[no_mangle]
pub extern "C" fn rte_eth_allmulticast_enable(port_id: u16) -> c_int {
    no_filter_modes(port_id, "all-multicast")
}

/// `rte_eth_allmulticast_disable(port_id)`: 0.
#[no_mangle]
pub extern "C" fn rte_eth_allmulticast_disable(port_id: u16) -> c_int {
    port(port_id).map_or_else(|e| e, |_| 0)
}

/// `rte_eth_allmulticast_get(port_id)`: 0, or -1 for no such port.
#[no_mangle]
pub extern "C" fn rte_eth_allmulticast_get(port_id: u16) -> c_int {
    port(port_id).map_or(-1, |_| 0)
}

// ---- link and statistics ------------------------------------------------------------------

/// `rte_eth_link_get_nowait(port_id, link)`: status from the device; no speed (ENA reports
/// none: `RTE_ETH_SPEED_NUM_NONE`), full duplex, fixed — as DPDK's ENA PMD fills it.
///
/// # Safety
/// `link` is NULL or points to a writable `struct rte_eth_link`.
#[no_mangle]
pub unsafe extern "C" fn rte_eth_link_get_nowait(port_id: u16, link: *mut rte_eth_link) -> c_int {
    let p = match port(port_id) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if link.is_null() {
        return fail_with(libc::EINVAL, TYPE_ETHDEV, "link_get: NULL link");
    }
    let l = match p.dev.link_get() {
        Ok(l) => l,
        Err(e) => return fail(&format!("port {port_id}: link"), &e),
    };
    let mut flags = LINK_DUPLEX_BIT;
    if l.up {
        flags |= LINK_STATUS_BIT;
    }
    // SAFETY: writable (the caller's promise).
    unsafe {
        link.write(rte_eth_link {
            link_speed: 0,
            flags,
            _pad: 0,
        })
    };
    0
}

/// `rte_eth_link_get(port_id, link)`: as [`rte_eth_link_get_nowait`] (ENA's link state is
/// what the device last reported; there is nothing to wait for).
///
/// # Safety
/// As [`rte_eth_link_get_nowait`].
#[no_mangle]
pub unsafe extern "C" fn rte_eth_link_get(port_id: u16, link: *mut rte_eth_link) -> c_int {
    // SAFETY: same contract.
    unsafe { rte_eth_link_get_nowait(port_id, link) }
}

fn speed_str(speed: u32) -> &'static std::ffi::CStr {
    match speed {
        0 => c"None",
        10 => c"10 Mbps",
        100 => c"100 Mbps",
        1000 => c"1 Gbps",
        2500 => c"2.5 Gbps",
        5000 => c"5 Gbps",
        10_000 => c"10 Gbps",
        20_000 => c"20 Gbps",
        25_000 => c"25 Gbps",
        40_000 => c"40 Gbps",
        50_000 => c"50 Gbps",
        56_000 => c"56 Gbps",
        100_000 => c"100 Gbps",
        200_000 => c"200 Gbps",
        400_000 => c"400 Gbps",
        u32::MAX => c"Unknown",
        _ => c"Invalid",
    }
}

/// `rte_eth_link_speed_to_str(link_speed)`.
#[no_mangle]
pub extern "C" fn rte_eth_link_speed_to_str(link_speed: u32) -> *const c_char {
    speed_str(link_speed).as_ptr()
}

/// `rte_eth_link_to_str(str, len, link)`: `Link down`, or `Link up at <speed> <FDX|HDX>
/// <Autoneg|Fixed>`; like snprintf, returns the full length and truncates to `len`.
///
/// # Safety
/// `str` has room for `len` bytes; `eth_link` is NULL or readable.
#[no_mangle]
pub unsafe extern "C" fn rte_eth_link_to_str(
    str: *mut c_char,
    len: usize,
    eth_link: *const rte_eth_link,
) -> c_int {
    if str.is_null() || len == 0 {
        return fail_with(
            libc::EINVAL,
            TYPE_ETHDEV,
            "link_to_str: no room for the text",
        );
    }
    // SAFETY: NULL or readable (the caller's promise).
    let Some(l) = (unsafe { eth_link.as_ref() }) else {
        return fail_with(libc::EINVAL, TYPE_ETHDEV, "link_to_str: NULL link");
    };
    let text = if l.flags & LINK_STATUS_BIT == 0 {
        "Link down".to_string()
    } else {
        format!(
            "Link up at {} {} {}",
            speed_str(l.link_speed).to_string_lossy(),
            if l.flags & LINK_DUPLEX_BIT != 0 {
                "FDX"
            } else {
                "HDX"
            },
            if l.flags & LINK_AUTONEG_BIT != 0 {
                "Autoneg"
            } else {
                "Fixed"
            },
        )
    };
    let n = text.len().min(len - 1);
    // SAFETY: `str` has room for `len` bytes; `n + 1 <= len`.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr().cast::<c_char>(), str, n);
        *str.add(n) = 0;
    }
    text.len() as c_int
}

/// `rte_eth_stats_get(port_id, stats)`: since start (or the last reset); the per-queue
/// counters for the first `RTE_ETHDEV_QUEUE_STAT_CNTRS` queues.
///
/// # Safety
/// `stats` is NULL or points to a writable `struct rte_eth_stats`.
#[no_mangle]
pub unsafe extern "C" fn rte_eth_stats_get(port_id: u16, stats: *mut rte_eth_stats) -> c_int {
    let p = match port(port_id) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if stats.is_null() {
        return fail_with(libc::EINVAL, TYPE_ETHDEV, "stats_get: NULL stats");
    }
    let s = match p.dev.stats_get() {
        Ok(s) => s,
        Err(e) => return fail(&format!("port {port_id}: stats"), &e),
    };
    let q = |v: &[u64]| {
        let mut out = [0u64; RTE_ETHDEV_QUEUE_STAT_CNTRS];
        for (o, v) in out.iter_mut().zip(v) {
            *o = *v;
        }
        out
    };
    let out = rte_eth_stats {
        ipackets: s.ipackets,
        opackets: s.opackets,
        ibytes: s.ibytes,
        obytes: s.obytes,
        imissed: s.imissed,
        ierrors: s.ierrors,
        oerrors: s.oerrors,
        rx_nombuf: s.rx_nombuf,
        q_ipackets: q(&s.q_ipackets),
        q_opackets: q(&s.q_opackets),
        q_ibytes: q(&s.q_ibytes),
        q_obytes: q(&s.q_obytes),
        q_errors: [0; RTE_ETHDEV_QUEUE_STAT_CNTRS],
    };
    // SAFETY: writable (the caller's promise).
    unsafe { stats.write(out) };
    0
}

/// `rte_eth_stats_reset(port_id)`.
#[no_mangle]
pub extern "C" fn rte_eth_stats_reset(port_id: u16) -> c_int {
    let p = match port(port_id) {
        Ok(p) => p,
        Err(e) => return e,
    };
    match p.dev.stats_reset() {
        Ok(()) => 0,
        Err(e) => fail(&format!("port {port_id}: stats reset"), &e),
    }
}

// ---- data path ----------------------------------------------------------------------------

/// The burst table's slot for an RX or TX queue, if the EAL is up and the ids are in range.
#[inline(always)]
fn slot<Q>(
    port_id: u16,
    queue_id: u16,
    table: fn(&PortSlot) -> &[crate::QueueCell<Q>],
) -> Option<&'static crate::QueueCell<Q>> {
    let s = crate::shim()?;
    table(s.ports.get(usize::from(port_id))?).get(usize::from(queue_id))
}

/// `rte_eth_rx_burst`'s work: receives up to `nb_pkts` packets into `rx_pkts[0..n)` and
/// returns `n`; 0 for a queue that is not running (or not set up, or out of range).
///
/// # Safety
/// `rx_pkts` has room for `nb_pkts` pointers, and the caller is the only lcore polling this
/// queue (DPDK's contract).
#[no_mangle]
pub unsafe extern "C" fn dpdk_shim_rx_burst(
    port_id: u16,
    queue_id: u16,
    rx_pkts: *mut *mut rte_mbuf,
    nb_pkts: u16,
) -> u16 {
    if nb_pkts == 0 || rx_pkts.is_null() {
        return 0;
    }
    let Some(cell) = slot(port_id, queue_id, |p| &p.rxq) else {
        return 0;
    };
    // SAFETY: DPDK's contract: this lcore is the only one polling this queue, and the port is
    // not being reconfigured meanwhile, so the slot is ours for the burst.
    let Some(queue) = (unsafe { cell.get() }).as_mut() else {
        return 0;
    };
    let slots = rx_pkts.cast::<Option<Mbuf>>();
    let n = usize::from(nb_pkts);
    // SAFETY: `rx_pkts` has room for `nb_pkts` pointers (the caller's promise), and
    // `Option<Mbuf>` has the size and alignment of a pointer (asserted in mbuf.rs). The
    // entries hold whatever the caller left there (often pointers already sent), so they are
    // cleared first: all-zero is `None` (`Mbuf` is a repr(transparent) `NonNull`, whose
    // `Option` uses NULL for `None` — a guaranteed layout), which makes every entry a valid
    // value that owns nothing. The driver then moves received mbufs into the first entries;
    // the slice is a borrow, so nothing is dropped when it ends and those mbufs now belong to
    // the caller, as `struct rte_mbuf *` (the same address `Mbuf::into_raw` would give).
    let received = unsafe {
        std::ptr::write_bytes(slots, 0, n);
        queue.rx_burst(std::slice::from_raw_parts_mut(slots, n))
    };
    received as u16
}

/// Most packets one driver burst takes from a C array (the entries are saved on the stack).
const TX_CHUNK: usize = 128;

/// `rte_eth_tx_burst`'s work: sends `tx_pkts[0..n)` and returns `n`; the driver owns those
/// mbufs now. `tx_pkts[n..nb_pkts)` stay the caller's. The array is left as it was passed (as
/// DPDK leaves it: applications read it after the call). A NULL entry ends the burst.
///
/// # Safety
/// `tx_pkts[0..nb_pkts)` are mbufs the caller owns (or NULL), and the caller is the only lcore
/// using this queue (DPDK's contract).
#[no_mangle]
pub unsafe extern "C" fn dpdk_shim_tx_burst(
    port_id: u16,
    queue_id: u16,
    tx_pkts: *mut *mut rte_mbuf,
    nb_pkts: u16,
) -> u16 {
    if nb_pkts == 0 || tx_pkts.is_null() {
        return 0;
    }
    let Some(cell) = slot(port_id, queue_id, |p| &p.txq) else {
        return 0;
    };
    // SAFETY: as in dpdk_shim_rx_burst: the caller is the queue's only user now.
    let Some(queue) = (unsafe { cell.get() }).as_mut() else {
        return 0;
    };
    let total = usize::from(nb_pkts);
    let mut done = 0;
    while done < total {
        let n = (total - done).min(TX_CHUNK);
        let mut saved = [std::ptr::null_mut::<rte_mbuf>(); TX_CHUNK];
        // SAFETY: `tx_pkts` holds `nb_pkts` entries (the caller's promise) and
        // `done + n <= nb_pkts`, so the chunk is in bounds. Each entry is NULL or an mbuf the
        // caller owns, which is a valid `Option<Mbuf>` (same size and alignment, NULL = `None`,
        // a non-null `struct rte_mbuf *` = the `MbufHdr` pointer an `Mbuf` holds). The driver
        // takes each mbuf it sends out of its entry (ownership moves to the driver) and leaves
        // the rest in place; the slice is a borrow, so nothing is dropped when it ends. The
        // saved pointers then go back into the sent entries: plain addresses in C memory again,
        // as DPDK leaves them, owned by the driver.
        let sent = unsafe {
            let chunk = tx_pkts.add(done);
            std::ptr::copy_nonoverlapping(chunk, saved.as_mut_ptr(), n);
            let sent = queue.tx_burst(std::slice::from_raw_parts_mut(
                chunk.cast::<Option<Mbuf>>(),
                n,
            ));
            std::ptr::copy_nonoverlapping(saved.as_ptr(), chunk, sent);
            sent
        };
        done += sent;
        if sent < n {
            break;
        }
    }
    done as u16
}

/// `rte_eth_tx_prepare`'s work: how many packets from the front are valid for the queue's
/// offloads; `rte_errno` is EINVAL when one is not.
///
/// # Safety
/// As [`dpdk_shim_tx_burst`] (the packets are only read).
#[no_mangle]
pub unsafe extern "C" fn dpdk_shim_tx_prepare(
    port_id: u16,
    queue_id: u16,
    tx_pkts: *mut *mut rte_mbuf,
    nb_pkts: u16,
) -> u16 {
    if nb_pkts == 0 || tx_pkts.is_null() {
        return 0;
    }
    let Some(cell) = slot(port_id, queue_id, |p| &p.txq) else {
        errno::set(libc::ENODEV);
        return 0;
    };
    // SAFETY: as in dpdk_shim_tx_burst.
    let Some(queue) = (unsafe { cell.get() }).as_mut() else {
        errno::set(libc::ENODEV);
        return 0;
    };
    // SAFETY: as in dpdk_shim_tx_burst; the entries are only read.
    let pkts =
        unsafe { std::slice::from_raw_parts(tx_pkts.cast::<Option<Mbuf>>(), usize::from(nb_pkts)) };
    let ok = queue.tx_prepare(pkts);
    if ok < pkts.len() {
        errno::set(libc::EINVAL);
    }
    ok as u16
}

// ---- TX buffers ---------------------------------------------------------------------------

/// `rte_eth_tx_buffer_init(buffer, size)`: sets the capacity and, unless a callback is set,
/// [`rte_eth_tx_buffer_drop_callback`].
///
/// # Safety
/// `buffer` is NULL or points to at least `RTE_ETH_TX_BUFFER_SIZE(size)` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn rte_eth_tx_buffer_init(
    buffer: *mut rte_eth_dev_tx_buffer,
    size: u16,
) -> c_int {
    // SAFETY: NULL or writable (the caller's promise).
    let Some(b) = (unsafe { buffer.as_mut() }) else {
        return fail_with(libc::EINVAL, TYPE_ETHDEV, "tx_buffer_init: NULL buffer");
    };
    b.size = size;
    if b.error_callback.is_none() {
        b.error_callback = Some(rte_eth_tx_buffer_drop_callback);
        b.error_userdata = std::ptr::null_mut();
    }
    0
}

/// `rte_eth_tx_buffer_set_err_callback(buffer, callback, userdata)`.
///
/// # Safety
/// `buffer` is NULL or a writable TX buffer.
#[no_mangle]
pub unsafe extern "C" fn rte_eth_tx_buffer_set_err_callback(
    buffer: *mut rte_eth_dev_tx_buffer,
    callback: buffer_tx_error_fn,
    userdata: *mut c_void,
) -> c_int {
    // SAFETY: NULL or writable (the caller's promise).
    let Some(b) = (unsafe { buffer.as_mut() }) else {
        return fail_with(
            libc::EINVAL,
            TYPE_ETHDEV,
            "tx_buffer_set_err_callback: NULL buffer",
        );
    };
    b.error_callback = callback;
    b.error_userdata = userdata;
    0
}

/// `rte_eth_tx_buffer_drop_callback(pkts, unsent, userdata)`: frees the packets.
///
/// # Safety
/// `pkts` holds `unsent` mbufs the caller gives up.
#[no_mangle]
pub unsafe extern "C" fn rte_eth_tx_buffer_drop_callback(
    pkts: *mut *mut rte_mbuf,
    unsent: u16,
    _userdata: *mut c_void,
) {
    // SAFETY: the caller's promise.
    unsafe { crate::mbuf::rte_pktmbuf_free_bulk(pkts, c_uint::from(unsent)) };
}

/// `rte_eth_tx_buffer_count_callback(pkts, unsent, userdata)`: frees the packets and adds
/// their number to the `uint64_t` at `userdata`.
///
/// # Safety
/// As [`rte_eth_tx_buffer_drop_callback`]; `userdata` is NULL or a writable `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn rte_eth_tx_buffer_count_callback(
    pkts: *mut *mut rte_mbuf,
    unsent: u16,
    userdata: *mut c_void,
) {
    // SAFETY: the caller's promise.
    unsafe { crate::mbuf::rte_pktmbuf_free_bulk(pkts, c_uint::from(unsent)) };
    // SAFETY: NULL or a writable counter (the caller's promise).
    if let Some(count) = unsafe { userdata.cast::<u64>().as_mut() } {
        *count += u64::from(unsent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_counts_round_to_powers_of_two_within_limits() {
        assert_eq!(adjust_desc(1000, 128, 4096), 1024);
        assert_eq!(adjust_desc(1024, 128, 4096), 1024);
        assert_eq!(adjust_desc(0, 128, 4096), 128);
        assert_eq!(adjust_desc(5000, 128, 4096), 4096);
        assert_eq!(adjust_desc(u16::MAX, 128, 32768), 32768);
    }

    #[test]
    fn link_text_is_dpdks() {
        let mut buf = [0 as c_char; 40];
        let up = rte_eth_link {
            link_speed: 0,
            flags: LINK_DUPLEX_BIT | LINK_STATUS_BIT,
            _pad: 0,
        };
        // SAFETY: a 40-byte buffer and a live link.
        let n = unsafe { rte_eth_link_to_str(buf.as_mut_ptr(), buf.len(), &up) };
        // SAFETY: NUL-terminated by the call.
        let s = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
        assert_eq!(s.to_str().unwrap(), "Link up at None FDX Fixed");
        assert_eq!(n, 25);
        let down = rte_eth_link::default();
        // SAFETY: as above, with a 5-byte limit: truncated, still terminated.
        let n = unsafe { rte_eth_link_to_str(buf.as_mut_ptr(), 5, &down) };
        // SAFETY: as above.
        let s = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
        assert_eq!((s.to_str().unwrap(), n), ("Link", 9));
    }
}
