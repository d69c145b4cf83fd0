//! The poll-mode driver: a [`Port`] per device, with DPDK's life cycle — `open` (bring-up),
//! `configure`, `rx_queue_setup`/`tx_queue_setup`, `start`, `stop`, `close` — and the
//! queues ([`RxQueue`], [`TxQueue`]) that the application moves to its worker threads.
//!
//! The control path (admin queue, AENQ, watchdog, statistics, reset recovery) runs only when the
//! application calls [`Port::poll_control`] (e.g. every 100 ms from its main thread); the data
//! path (`rx_burst`/`tx_burst`) never touches it. When the device misbehaves — a bad completion,
//! no keep-alive, a stuck admin queue, missing TX completions, a reset request — `poll_control`
//! resets the device with the reason code the Linux driver uses, brings it back up, re-creates
//! every queue, restores RSS, MTU and offloads, lets the queues resynchronise, and reports a
//! [`PortEvent::Reset`].

pub mod offload;
pub(crate) mod queue;
pub mod rx;
pub mod tx;

use crate::com::aenq::AenqEvent;
use crate::com::{EnaDevice, LlqConfig, LlqPolicy};
use crate::error::{Error, Result};
use crate::mem::pool::Mempool;
use crate::mem::DmaRegion;
use crate::platform::Platform;
use ena_hw::admin::{capability, direction, feature, join_u64, placement, RSS_KEY_LEN};
use ena_hw::regs::ResetReason;
pub use offload::{rx_offload, tx_offload, RxOffloads, TxOffloads};
use queue::{Binding, QueueShared};
pub use rx::RxQueue;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
pub use tx::TxQueue;

/// RSS hash types the device hashes (DPDK's `RTE_ETH_RSS_*` bits).
pub mod rss_hf {
    /// TCP over IPv4.
    pub const NONFRAG_IPV4_TCP: u64 = 1 << 4;
    /// UDP over IPv4.
    pub const NONFRAG_IPV4_UDP: u64 = 1 << 5;
    /// TCP over IPv6.
    pub const NONFRAG_IPV6_TCP: u64 = 1 << 10;
    /// UDP over IPv6.
    pub const NONFRAG_IPV6_UDP: u64 = 1 << 11;
    /// Everything ENA hashes.
    pub const ALL: u64 = NONFRAG_IPV4_TCP | NONFRAG_IPV4_UDP | NONFRAG_IPV6_TCP | NONFRAG_IPV6_UDP;
}

/// The RSS key used when the application gives none: Microsoft's RSS verification key, so that
/// hashes are predictable and reproducible with `enactl rss-hash --standard`.
pub const DEFAULT_RSS_KEY: [u8; RSS_KEY_LEN] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// Smallest ring the driver accepts (as DPDK's ENA PMD).
pub const MIN_RING_SIZE: u16 = 128;
/// Default ring size.
pub const DEFAULT_RING_SIZE: u16 = 1024;

/// How a port is opened.
#[derive(Clone, Debug)]
pub struct PortOptions {
    /// Port number reported in mbufs.
    pub port_id: u16,
    /// LLQ or host TX rings.
    pub llq_policy: LlqPolicy,
    /// Watchdog settings.
    pub watchdog: WatchdogConfig,
}

impl Default for PortOptions {
    fn default() -> Self {
        Self {
            port_id: 0,
            llq_policy: LlqPolicy::Recommended,
            watchdog: WatchdogConfig::default(),
        }
    }
}

/// Watchdog thresholds (`None` fields: the device's HW hints, else the Linux driver's defaults).
#[derive(Clone, Copy, Debug, Default)]
pub struct WatchdogConfig {
    /// Reset after this long without a KEEP_ALIVE event (Linux: 6 s).
    pub keep_alive_timeout: Option<Duration>,
    /// A TX packet not completed after this long counts as missed (Linux: 5 s); zero turns
    /// the check off (DPDK's `miss_txc_to=0`).
    pub missing_tx_timeout: Option<Duration>,
    /// Reset when a queue has more missed packets than this (Linux: 128).
    pub missing_tx_threshold: Option<u32>,
}

/// Receive-side scaling configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RssConf {
    /// The Toeplitz key in standard order (as DPDK applications give it); the driver hands it to
    /// the device byte-reversed, so the reported hash is the standard Toeplitz hash of this key.
    pub key: Option<[u8; RSS_KEY_LEN]>,
    /// Hash types ([`rss_hf`]); ENA hashes TCP/UDP over IPv4/IPv6 only.
    pub hash_types: u64,
}

impl Default for RssConf {
    fn default() -> Self {
        Self {
            key: None,
            hash_types: rss_hf::ALL,
        }
    }
}

/// Port configuration (DPDK's `rte_eth_conf`, reduced to what ENA has).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortConf {
    /// RSS across the RX queues (None: everything to RX queue 0).
    pub rss: Option<RssConf>,
    /// RX offloads ([`rx_offload`]).
    pub rx_offloads: u64,
    /// TX offloads ([`tx_offload`]).
    pub tx_offloads: u64,
    /// L3 MTU (None: leave the device's).
    pub mtu: Option<u32>,
}

/// What the device and driver offer (DPDK's `rte_eth_dev_info`).
#[derive(Clone, Debug)]
pub struct DevInfo {
    /// Driver name.
    pub driver_name: &'static str,
    /// Permanent MAC address.
    pub mac: [u8; 6],
    /// RX queues available.
    pub max_rx_queues: u16,
    /// TX queues available.
    pub max_tx_queues: u16,
    /// Deepest RX ring.
    pub max_rx_desc: u16,
    /// Deepest TX ring (with the LLQ configuration in force).
    pub max_tx_desc: u16,
    /// Smallest ring.
    pub min_desc: u16,
    /// Largest L3 MTU.
    pub max_mtu: u32,
    /// Smallest L3 MTU.
    pub min_mtu: u32,
    /// Largest frame.
    pub max_rx_pktlen: u32,
    /// Segments per TX packet.
    pub max_tx_segs: u16,
    /// Buffers per RX packet.
    pub max_rx_segs: u16,
    /// RX offloads available ([`rx_offload`]).
    pub rx_offload_capa: u64,
    /// TX offloads available ([`tx_offload`]).
    pub tx_offload_capa: u64,
    /// RSS indirection table size (0: no RSS).
    pub reta_size: u16,
    /// RSS key size.
    pub hash_key_size: u8,
    /// Hash types ([`rss_hf`]).
    pub flow_type_rss_offloads: u64,
    /// LLQ layout, when TX rings live in device memory.
    pub llq: Option<LlqConfig>,
}

/// Link state (ENA has no physical speed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Link {
    /// Link up.
    pub up: bool,
}

/// Something the application may want to act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortEvent {
    /// The link changed.
    LinkChange(Link),
    /// The device was reset and the port recovered.
    Reset {
        /// Why.
        reason: ResetReason,
        /// From detection to queues running again.
        recovery: Duration,
    },
    /// A reset was needed but bringing the device back failed; it is retried on the next poll.
    ResetFailed {
        /// Why the reset was needed.
        reason: ResetReason,
        /// What failed.
        error: String,
    },
    /// The device reported sub-optimal configuration notices (bit i = notice i+1).
    ConfNotification(u64),
}

/// Port statistics (DPDK's `rte_eth_stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received (device counter).
    pub ipackets: u64,
    /// Packets sent (device counter).
    pub opackets: u64,
    /// Bytes received (device counter).
    pub ibytes: u64,
    /// Bytes sent (device counter).
    pub obytes: u64,
    /// Packets the device dropped on receive (keep-alive rx_drops + rx_overruns).
    pub imissed: u64,
    /// Received packets with bad checksums.
    pub ierrors: u64,
    /// Packets not sent (invalid offload requests).
    pub oerrors: u64,
    /// RX buffer allocation failures.
    pub rx_nombuf: u64,
    /// Per RX queue packets.
    pub q_ipackets: Vec<u64>,
    /// Per RX queue bytes.
    pub q_ibytes: Vec<u64>,
    /// Per TX queue packets.
    pub q_opackets: Vec<u64>,
    /// Per TX queue bytes.
    pub q_obytes: Vec<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Stopped,
    Started,
}

struct RxSlot {
    shared: Arc<QueueShared>,
    queue: Option<RxQueue>,
    /// Packets the device had delivered into the ring, not yet taken by the queue, when the
    /// device queue went away (reset or stop): lost, and counted as `rx_qN_reset_drops`.
    pending_drops: u64,
    /// The ring was counted since the device queue went away (so a retried reset, after the
    /// ring may have been zeroed, does not count it again).
    counted: bool,
}

struct TxSlot {
    shared: Arc<QueueShared>,
    queue: Option<TxQueue>,
    /// Watchdog samples: (time, packets submitted then).
    samples: VecDeque<(Duration, u64)>,
    /// Packets in flight for longer than the timeout, at the queue's last answer.
    missed: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    wd_expired: u64,
    dev_start: u64,
    dev_stop: u64,
    resets: u64,
    reset_fail: u64,
    keep_alive_rx_drops: u64,
    keep_alive_tx_drops: u64,
    keep_alive_rx_overruns: u64,
    admin_to: u64,
    missing_tx_cmpl: u64,
    bad_rx_req_id: u64,
    bad_tx_req_id: u64,
    rx_desc_malformed: u64,
    tx_desc_malformed: u64,
    bad_rx_desc_num: u64,
    device_request_reset: u64,
    fatal_error: u64,
}

/// One ENA device as a DPDK-like port.
pub struct Port {
    opts: PortOptions,
    platform: Arc<dyn Platform>,
    dev: Option<EnaDevice>,
    /// The device's identity at first bring-up (MAC must not change across resets).
    mac: [u8; 6],
    info: DevInfo,
    conf: PortConf,
    configured: bool,
    rxq: Vec<Option<RxSlot>>,
    txq: Vec<Option<TxSlot>>,
    pools: Vec<Option<Mempool>>,
    reta: Vec<u16>,
    state: State,
    link: Link,
    last_keep_alive: Duration,
    pending_reset: Option<ResetReason>,
    events: VecDeque<PortEvent>,
    counters: Counters,
    aenq_buf: Vec<AenqEvent>,
    /// The device takes reset reasons ≥ 16 as they are.
    extended_reasons: bool,
    /// The device state (admin, AENQ, readless memory) of a bring-up whose device could not be
    /// reset since: the device may still write into that memory, so it is kept until a reset
    /// succeeds.
    retired: Option<EnaDevice>,
}

impl Port {
    /// Brings a device up (reset, admin queue, features, LLQ) and returns it as a stopped port.
    pub fn open(platform: Arc<dyn Platform>, opts: PortOptions) -> Result<Port> {
        let dev = EnaDevice::init(platform.clone(), ResetReason::Normal, opts.llq_policy)?;
        let info = dev_info(&dev);
        let now = platform.now();
        let mut port = Port {
            mac: dev.info().mac,
            info,
            opts,
            platform,
            dev: Some(dev),
            conf: PortConf::default(),
            configured: false,
            rxq: Vec::new(),
            txq: Vec::new(),
            pools: Vec::new(),
            reta: Vec::new(),
            state: State::Stopped,
            link: Link::default(),
            last_keep_alive: now,
            pending_reset: None,
            events: VecDeque::new(),
            counters: Counters::default(),
            aenq_buf: Vec::with_capacity(32),
            extended_reasons: false,
            retired: None,
        };
        port.extended_reasons = port
            .dev
            .as_ref()
            .is_some_and(|d| d.extended_reset_reasons());
        port.drain_aenq();
        Ok(port)
    }

    /// What the device offers.
    pub fn info(&self) -> &DevInfo {
        &self.info
    }

    /// The port number.
    pub fn port_id(&self) -> u16 {
        self.opts.port_id
    }

    /// The MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The platform the port runs on.
    pub fn platform(&self) -> &Arc<dyn Platform> {
        &self.platform
    }

    /// Whether the port is started.
    pub fn is_started(&self) -> bool {
        self.state == State::Started
    }

    fn dev(&mut self) -> Result<&mut EnaDevice> {
        self.dev
            .as_mut()
            .ok_or(Error::State("resetting (the device is not up)"))
    }

    /// Sets queue counts and offloads (DPDK's `rte_eth_dev_configure`). The port must be stopped;
    /// queues set up before are discarded.
    pub fn configure(&mut self, nb_rx: u16, nb_tx: u16, conf: &PortConf) -> Result<()> {
        if self.state == State::Started {
            return Err(Error::State("started; stop it before configuring"));
        }
        let i = &self.info;
        if nb_rx == 0 || nb_tx == 0 {
            return Err(Error::Config(
                "a port needs at least one RX and one TX queue".into(),
            ));
        }
        if nb_rx > i.max_rx_queues || nb_tx > i.max_tx_queues {
            return Err(Error::Config(format!(
                "{nb_rx} RX / {nb_tx} TX queues requested; the device has {} / {}",
                i.max_rx_queues, i.max_tx_queues
            )));
        }
        if conf.rx_offloads & !i.rx_offload_capa != 0 {
            return Err(Error::Config(format!(
                "RX offloads {:#x} are not available (have {:#x})",
                conf.rx_offloads, i.rx_offload_capa
            )));
        }
        if conf.tx_offloads & !i.tx_offload_capa != 0 {
            return Err(Error::Config(format!(
                "TX offloads {:#x} are not available (have {:#x})",
                conf.tx_offloads, i.tx_offload_capa
            )));
        }
        if let Some(mtu) = conf.mtu {
            if mtu < i.min_mtu || mtu > i.max_mtu {
                return Err(Error::Config(format!(
                    "MTU {mtu} is outside {}..={}",
                    i.min_mtu, i.max_mtu
                )));
            }
        }
        if let Some(rss) = &conf.rss {
            if i.reta_size == 0 {
                return Err(Error::Config(
                    "the device has no RSS indirection table".into(),
                ));
            }
            if rss.hash_types & !rss_hf::ALL != 0 {
                return Err(Error::Config(format!(
                    "RSS hash types {:#x} are not supported (ENA hashes {:#x})",
                    rss.hash_types,
                    rss_hf::ALL
                )));
            }
        }
        let reta_size = i.reta_size;
        self.release_queues();
        self.rxq = (0..nb_rx).map(|_| None).collect();
        self.txq = (0..nb_tx).map(|_| None).collect();
        self.pools = (0..nb_rx).map(|_| None).collect();
        self.conf = conf.clone();
        self.reta = (0..reta_size).map(|e| e % nb_rx).collect();
        self.configured = true;
        Ok(())
    }

    fn check_ring(&self, nb_desc: u16, max: u16) -> Result<()> {
        if !nb_desc.is_power_of_two() || nb_desc < MIN_RING_SIZE || nb_desc > max {
            return Err(Error::Config(format!(
                "ring size {nb_desc} must be a power of two in {MIN_RING_SIZE}..={max}"
            )));
        }
        Ok(())
    }

    /// Sets up RX queue `q` with `nb_desc` descriptors, filled from `pool`
    /// (DPDK's `rte_eth_rx_queue_setup`).
    pub fn rx_queue_setup(&mut self, q: u16, nb_desc: u16, pool: &Mempool) -> Result<()> {
        self.check_setup(q, self.rxq.len())?;
        self.check_ring(nb_desc, self.info.max_rx_desc)?;
        if pool.data_room() < crate::mem::pool::HEADROOM + 64 {
            return Err(Error::Config(
                "the pool's buffers are too small for packets".into(),
            ));
        }
        let sq = Arc::new(self.alloc_ring(nb_desc as usize * 16)?);
        let cq = Arc::new(self.alloc_ring(nb_desc as usize * 16)?);
        let shared = Arc::new(QueueShared::new(Some(sq), cq, nb_desc));
        let caps = self.dev.as_ref().map_or(0, |d| d.info().capabilities);
        let queue = RxQueue::new(rx::RxQueueParams {
            shared: shared.clone(),
            port_id: self.opts.port_id,
            queue_id: q,
            bar0: self.platform.bar0().clone(),
            cache: pool.cache(512),
            max_bufs_per_pkt: self.info.max_rx_segs,
            offloads: RxOffloads::new(
                self.conf.rx_offloads,
                self.dev.as_ref().map_or(0, |d| d.info().rx_offloads),
            ),
            check_mbz: caps & capability::CDESC_MBZ != 0,
        });
        self.rxq[q as usize] = Some(RxSlot {
            shared,
            queue: Some(queue),
            pending_drops: 0,
            counted: true,
        });
        self.pools[q as usize] = Some(pool.clone());
        Ok(())
    }

    /// Sets up TX queue `q` with `nb_desc` descriptors (DPDK's `rte_eth_tx_queue_setup`).
    /// Completed packets are freed through a cache of `pool` (other pools' mbufs are freed
    /// through their own pools).
    pub fn tx_queue_setup(&mut self, q: u16, nb_desc: u16, pool: &Mempool) -> Result<()> {
        self.check_setup(q, self.txq.len())?;
        self.check_ring(nb_desc, self.info.max_tx_desc)?;
        let llq = self.dev.as_ref().and_then(|d| d.llq());
        let sq = match llq {
            Some(_) => None,
            None => Some(Arc::new(self.alloc_ring(nb_desc as usize * 16)?)),
        };
        let cq = Arc::new(self.alloc_ring(nb_desc as usize * 8)?);
        let shared = Arc::new(QueueShared::new(sq, cq, nb_desc));
        let dev = self.dev.as_ref().ok_or(Error::State("resetting"))?;
        let queue = TxQueue::new(tx::TxQueueParams {
            shared: shared.clone(),
            queue_id: q,
            bar0: self.platform.bar0().clone(),
            bar2: self.platform.bar2().cloned(),
            cache: pool.cache(512),
            max_descs: dev.info().max_tx_descs,
            max_header: llq.map_or(dev.info().max_tx_header, |l| l.max_header as u32),
            offloads: TxOffloads::new(self.conf.tx_offloads, dev.info().tx_offloads),
            check_mbz: dev.info().capabilities & capability::CDESC_MBZ != 0,
        });
        self.txq[q as usize] = Some(TxSlot {
            shared,
            queue: Some(queue),
            samples: VecDeque::new(),
            missed: 0,
        });
        Ok(())
    }

    fn check_setup(&self, q: u16, n: usize) -> Result<()> {
        if !self.configured {
            return Err(Error::State("not configured"));
        }
        if self.state == State::Started {
            return Err(Error::State("started; stop it before setting up queues"));
        }
        if q as usize >= n {
            return Err(Error::Config(format!(
                "queue {q} is beyond the {n} configured"
            )));
        }
        Ok(())
    }

    fn alloc_ring(&self, len: usize) -> Result<DmaRegion> {
        let r = self.platform.alloc_dma(len.max(4096), 4096)?;
        r.zero();
        Ok(r)
    }

    /// Takes RX queue `q` to move it to its worker thread.
    pub fn take_rx_queue(&mut self, q: u16) -> Result<RxQueue> {
        self.rxq
            .get_mut(q as usize)
            .and_then(|s| s.as_mut())
            .and_then(|s| s.queue.take())
            .ok_or_else(|| Error::Config(format!("RX queue {q} is not set up, or already taken")))
    }

    /// Takes TX queue `q` to move it to its worker thread.
    pub fn take_tx_queue(&mut self, q: u16) -> Result<TxQueue> {
        self.txq
            .get_mut(q as usize)
            .and_then(|s| s.as_mut())
            .and_then(|s| s.queue.take())
            .ok_or_else(|| Error::Config(format!("TX queue {q} is not set up, or already taken")))
    }

    /// Starts the port: creates the device queues, configures RSS and MTU, and lets the queues
    /// run (DPDK's `rte_eth_dev_start`).
    pub fn start(&mut self) -> Result<()> {
        if self.state == State::Started {
            return Ok(());
        }
        if !self.configured
            || self.rxq.iter().any(Option::is_none)
            || self.txq.iter().any(Option::is_none)
        {
            return Err(Error::State("not configured, or some queue is not set up"));
        }
        match self.create_queues() {
            Ok(()) => {}
            Err(e) => {
                // Leave the device clean for a retry.
                let _ = self.destroy_queues();
                return Err(e);
            }
        }
        self.state = State::Started;
        self.counters.dev_start += 1;
        self.prime_held_queues();
        Ok(())
    }

    /// Queues the application has not taken yet synchronise now, so RX buffers are posted
    /// before traffic arrives (taken queues do it on their first burst).
    fn prime_held_queues(&mut self) {
        for slot in self.rxq.iter_mut().flatten() {
            if let Some(q) = slot.queue.as_mut() {
                q.prime();
            }
        }
        for slot in self.txq.iter_mut().flatten() {
            if let Some(q) = slot.queue.as_mut() {
                q.prime();
            }
        }
    }

    /// Sets the MTU, creates every device queue over the queues' ring memory, then RSS;
    /// resumes the queues.
    fn create_queues(&mut self) -> Result<()> {
        let mut bindings: Vec<(Arc<QueueShared>, Binding)> = Vec::new();
        let mut rx_sq_idx = Vec::new();
        let dev = self.dev.as_mut().ok_or(Error::State("resetting"))?;
        // The MTU first: frames arrive as soon as an RX queue exists, and the device judges
        // them by the MTU in force.
        if let Some(mtu) = self.conf.mtu {
            if dev.info().supports(feature::MTU) {
                dev.set_mtu(mtu)?;
            }
        }
        for slot in self.rxq.iter().flatten() {
            let s = &slot.shared;
            s.cq.zero();
            if let Some(sq) = &s.sq {
                sq.zero();
            }
            let cq = dev.create_cq(s.depth, 4, &s.cq)?;
            let sq = dev.create_sq(
                direction::RX,
                placement::HOST,
                cq.cq_idx,
                s.depth,
                s.sq.as_ref().map_or(0, |r| r.iova()),
            )?;
            rx_sq_idx.push(sq.sq_idx);
            bindings.push((
                s.clone(),
                Binding {
                    sq_idx: sq.sq_idx,
                    cq_idx: cq.cq_idx,
                    doorbell: sq.sq_doorbell_offset,
                    llq_offset: 0,
                    llq: None,
                },
            ));
        }
        let llq = dev.llq();
        for slot in self.txq.iter().flatten() {
            let s = &slot.shared;
            s.cq.zero();
            if let Some(sq) = &s.sq {
                sq.zero();
            }
            let cq = dev.create_cq(s.depth, 2, &s.cq)?;
            let (pl, base) = match (&s.sq, llq) {
                (None, Some(_)) => (placement::DEVICE, 0),
                (Some(r), _) => (placement::HOST, r.iova()),
                (None, None) => {
                    return Err(Error::State(
                        "TX queue set up for LLQ but LLQ is off (reconfigure)",
                    ))
                }
            };
            let sq = dev.create_sq(direction::TX, pl, cq.cq_idx, s.depth, base)?;
            bindings.push((
                s.clone(),
                Binding {
                    sq_idx: sq.sq_idx,
                    cq_idx: cq.cq_idx,
                    doorbell: sq.sq_doorbell_offset,
                    llq_offset: sq.llq_descriptors_offset,
                    llq: if pl == placement::DEVICE { llq } else { None },
                },
            ));
        }
        // RSS: key (reversed for the device, init value 0) and table, as DPDK's PMD does.
        if let Some(rss) = self.conf.rss.clone() {
            let key = rss.key.unwrap_or(DEFAULT_RSS_KEY);
            let mut dev_key = key;
            dev_key.reverse();
            if dev.info().supports(feature::RSS_HASH_FUNCTION) {
                dev.set_rss_function(Some(&dev_key), 0)?;
            }
            let table: Vec<u16> = self
                .reta
                .iter()
                .map(|&q| rx_sq_idx[q as usize % rx_sq_idx.len()])
                .collect();
            dev.set_rss_table(&table)?;
        } else if dev.info().rss_table_log2.is_some()
            && dev.info().supports(feature::RSS_INDIRECTION_TABLE_CONFIG)
        {
            // Without RSS everything goes to RX queue 0.
            let table = vec![rx_sq_idx[0]; 1 << dev.info().rss_table_log2.unwrap_or(7)];
            dev.set_rss_table(&table)?;
        }
        for (s, b) in bindings {
            s.resume(b);
        }
        for slot in self.rxq.iter_mut().flatten() {
            slot.counted = false;
        }
        Ok(())
    }

    /// Counts the packets left in each RX completion ring once the device can no longer write
    /// it (after a reset or DESTROY): completions past the queue's published head whose phase
    /// is current, one packet per `first` completion. Must run before the rings are zeroed.
    fn count_rx_left_in_rings(&mut self) {
        for slot in self.rxq.iter_mut().flatten() {
            if slot.counted {
                continue;
            }
            slot.counted = true;
            let s = &slot.shared;
            let depth = s.depth as u32;
            let mut head = s.stats.cq_head.load(Ordering::Relaxed);
            for _ in 0..depth {
                let off = (head & (depth - 1)) as usize * 16;
                let c: ena_hw::io::RxCdesc = s.cq.read(off);
                let phase = (head / depth) & 1 == 0;
                if (c.status >> 24) & 1 != phase as u32 {
                    break;
                }
                slot.pending_drops += c.first() as u64;
                head = head.wrapping_add(1);
            }
        }
    }

    fn all_shared(&self) -> impl Iterator<Item = &Arc<QueueShared>> {
        self.rxq
            .iter()
            .flatten()
            .map(|s| &s.shared)
            .chain(self.txq.iter().flatten().map(|s| &s.shared))
    }

    fn freeze_all(&self) -> Result<()> {
        for s in self.all_shared() {
            if !s.freeze(Duration::from_secs(5)) {
                return Err(Error::State("a queue owner is stuck inside a burst"));
            }
        }
        Ok(())
    }

    /// Destroys the device queues (TX first, SQ before CQ).
    fn destroy_queues(&mut self) -> Result<()> {
        let bindings: Vec<(bool, Binding)> = self
            .txq
            .iter()
            .flatten()
            .map(|s| (true, s.shared.binding()))
            .chain(
                self.rxq
                    .iter()
                    .flatten()
                    .map(|s| (false, s.shared.binding())),
            )
            .collect();
        let mut result = Ok(());
        if let Some(dev) = self.dev.as_mut() {
            for (tx, b) in bindings {
                let dir = if tx { direction::TX } else { direction::RX };
                if let Err(e) = dev
                    .destroy_sq(dir, b.sq_idx)
                    .and_then(|_| dev.destroy_cq(b.cq_idx))
                {
                    result = Err(e);
                }
            }
        }
        for s in self.all_shared() {
            s.set_detached(true);
        }
        result
    }

    /// Stops the port: queues stop (bursts return 0) and the device queues are destroyed
    /// (DPDK's `rte_eth_dev_stop`). Buffers stay with their queues for the next start.
    pub fn stop(&mut self) -> Result<()> {
        if self.state == State::Stopped {
            return Ok(());
        }
        self.freeze_all()?;
        self.state = State::Stopped;
        self.counters.dev_stop += 1;
        let r = self.destroy_queues();
        if r.is_ok() {
            // The device let go of the rings (else the reset that follows counts them).
            self.count_rx_left_in_rings();
        }
        if r.is_err() {
            // The device did not take the destroy commands: a reset makes sure it lets go.
            self.pending_reset.get_or_insert(ResetReason::AdminTimeout);
        }
        r
    }

    fn release_queues(&mut self) {
        for s in self.all_shared() {
            s.close();
        }
        self.rxq.clear();
        self.txq.clear();
    }

    /// Stops the port and resets the device; queues taken by the application stop for good
    /// (DPDK's `rte_eth_dev_close`).
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        let stopped = self.stop();
        for s in self.all_shared() {
            s.close();
        }
        let reset = match self.dev.take().or_else(|| self.retired.take()) {
            Some(dev) => dev.shutdown(ResetReason::Normal),
            None => Ok(()),
        };
        // Memory of an earlier bring-up goes only now that the device was told to reset.
        self.retired = None;
        // After the reset the device owns nothing.
        for s in self.all_shared() {
            s.set_detached(true);
        }
        self.release_queues();
        stopped.and(reset)
    }

    /// Link state as last reported by the device.
    pub fn link(&self) -> Link {
        self.link
    }

    /// Sets the MTU (DPDK's `rte_eth_dev_set_mtu`).
    pub fn set_mtu(&mut self, mtu: u32) -> Result<()> {
        if mtu < self.info.min_mtu || mtu > self.info.max_mtu {
            return Err(Error::Config(format!(
                "MTU {mtu} is outside {}..={}",
                self.info.min_mtu, self.info.max_mtu
            )));
        }
        self.dev()?.set_mtu(mtu)?;
        self.conf.mtu = Some(mtu);
        Ok(())
    }

    /// The RSS redirection table (queue indices).
    pub fn rss_reta_query(&self) -> &[u16] {
        &self.reta
    }

    /// Updates RSS redirection entries: `(index, queue)` pairs (DPDK's `rss_reta_update`).
    pub fn rss_reta_update(&mut self, entries: &[(u16, u16)]) -> Result<()> {
        let nb_rx = self.rxq.len() as u16;
        for &(i, q) in entries {
            if i as usize >= self.reta.len() || q >= nb_rx {
                return Err(Error::Config(format!(
                    "RETA entry ({i}, {q}) is out of range ({} entries, {nb_rx} queues)",
                    self.reta.len()
                )));
            }
        }
        for &(i, q) in entries {
            self.reta[i as usize] = q;
        }
        if self.state == State::Started {
            let table: Vec<u16> = {
                let sq: Vec<u16> = self
                    .rxq
                    .iter()
                    .flatten()
                    .map(|s| s.shared.binding().sq_idx)
                    .collect();
                self.reta.iter().map(|&q| sq[q as usize]).collect()
            };
            self.dev()?.set_rss_table(&table)?;
        }
        Ok(())
    }

    /// Changes the RSS key (standard order) (DPDK's `rss_hash_update`).
    pub fn rss_hash_update(&mut self, key: [u8; RSS_KEY_LEN]) -> Result<()> {
        let rss = self.conf.rss.get_or_insert_with(RssConf::default);
        rss.key = Some(key);
        if self.state == State::Started {
            let mut dev_key = key;
            dev_key.reverse();
            self.dev()?.set_rss_function(Some(&dev_key), 0)?;
        }
        Ok(())
    }

    /// The RSS key in standard order, read back from the device.
    pub fn rss_hash_conf_get(&mut self) -> Result<[u8; RSS_KEY_LEN]> {
        let (mut key, _) = self.dev()?.get_rss_function()?;
        key.reverse();
        Ok(key)
    }

    /// The configuration in force.
    pub fn conf(&self) -> &PortConf {
        &self.conf
    }

    // ----- control path -----

    fn drain_aenq(&mut self) {
        let mut buf = std::mem::take(&mut self.aenq_buf);
        buf.clear();
        if let Some(dev) = self.dev.as_mut() {
            dev.poll_aenq(&mut buf);
        }
        let now = self.platform.now();
        for e in buf.drain(..) {
            match e {
                AenqEvent::LinkChange { up } => {
                    if self.link.up != up {
                        self.link = Link { up };
                        self.events.push_back(PortEvent::LinkChange(self.link));
                    }
                }
                AenqEvent::KeepAlive {
                    rx_drops,
                    tx_drops,
                    rx_overruns,
                } => {
                    self.last_keep_alive = now;
                    self.counters.keep_alive_rx_drops = rx_drops;
                    self.counters.keep_alive_tx_drops = tx_drops;
                    self.counters.keep_alive_rx_overruns = rx_overruns;
                }
                AenqEvent::DeviceRequestReset | AenqEvent::RefreshCapabilities => {
                    self.counters.device_request_reset += 1;
                    self.pending_reset.get_or_insert(ResetReason::DeviceRequest);
                }
                AenqEvent::FatalError => {
                    self.counters.fatal_error += 1;
                    // Linux only logs it and lets the keep-alive watchdog notice the silence;
                    // resetting at once recovers sooner.
                    self.pending_reset.get_or_insert(ResetReason::Generic);
                }
                AenqEvent::ConfNotifications(bits) => {
                    self.events.push_back(PortEvent::ConfNotification(bits))
                }
                AenqEvent::Hints(_)
                | AenqEvent::Warning
                | AenqEvent::Notification { .. }
                | AenqEvent::Unknown { .. } => {}
            }
        }
        self.aenq_buf = buf;
    }

    /// Runs the control path: AENQ events, watchdogs, errors reported by the queues, and reset
    /// recovery. Queues the application holds pick up a reset at their next burst (RX buffers
    /// are re-posted then), so keep calling `rx_burst` on every queue. Call it regularly (every 100 ms to 1 s) from one thread. Returns the events
    /// since the last call.
    pub fn poll_control(&mut self) -> Vec<PortEvent> {
        if self.dev.is_some() {
            self.drain_aenq();
            self.watchdog();
        }
        let reason = self
            .pending_reset
            .take()
            .or_else(|| self.dev.is_none().then_some(ResetReason::Normal));
        if let Some(reason) = reason {
            self.recover(reason);
        }
        self.events.drain(..).collect()
    }

    fn keep_alive_timeout(&self) -> Option<Duration> {
        if self.opts.watchdog.keep_alive_timeout.is_some() {
            return self.opts.watchdog.keep_alive_timeout;
        }
        let dev = self.dev.as_ref()?;
        if dev.info().aenq_groups & (1 << ena_hw::aenq::group::KEEP_ALIVE) == 0 {
            return None;
        }
        match dev.info().hints.driver_watchdog_timeout {
            0 => Some(Duration::from_secs(6)),
            0xffff => None,
            ms => Some(Duration::from_millis(ms as u64)),
        }
    }

    fn watchdog(&mut self) {
        let now = self.platform.now();
        // Errors reported by the data path.
        for s in self
            .rxq
            .iter()
            .flatten()
            .map(|s| &s.shared)
            .chain(self.txq.iter().flatten().map(|s| &s.shared))
        {
            if let Some(r) = s.take_error() {
                self.pending_reset.get_or_insert(r);
            }
        }
        if let Some(r) = self.pending_reset {
            match r {
                ResetReason::InvalidRxReqId => self.counters.bad_rx_req_id += 1,
                ResetReason::InvalidTxReqId => self.counters.bad_tx_req_id += 1,
                ResetReason::RxDescriptorMalformed => self.counters.rx_desc_malformed += 1,
                ResetReason::TxDescriptorMalformed => self.counters.tx_desc_malformed += 1,
                ResetReason::TooManyRxDescs => self.counters.bad_rx_desc_num += 1,
                _ => {}
            }
            return;
        }
        // Admin queue health.
        if self.dev.as_ref().is_some_and(|d| !d.admin_running()) {
            self.counters.admin_to += 1;
            self.pending_reset = Some(ResetReason::AdminTimeout);
            return;
        }
        // Keep-alive.
        if let Some(t) = self.keep_alive_timeout() {
            if now.saturating_sub(self.last_keep_alive) > t {
                self.counters.wd_expired += 1;
                tracing::error!(target: "ena", "no keep-alive from the device for {:?}", now.saturating_sub(self.last_keep_alive));
                self.pending_reset = Some(ResetReason::KeepAliveTimeout);
                return;
            }
        }
        // Missing TX completions.
        if self.state == State::Started {
            let hints = self
                .dev
                .as_ref()
                .map(|d| d.info().hints)
                .unwrap_or_default();
            let timeout = self.opts.watchdog.missing_tx_timeout.unwrap_or(
                match hints.missing_tx_completion_timeout {
                    0 | 0xffff => Duration::from_secs(5),
                    ms => Duration::from_millis(ms as u64),
                },
            );
            let disabled = match self.opts.watchdog.missing_tx_timeout {
                Some(t) => t.is_zero(),
                None => hints.missing_tx_completion_timeout == 0xffff,
            };
            for slot in self.txq.iter_mut().flatten() {
                let st = &slot.shared.stats;
                let submitted = st.submitted.load(Ordering::Relaxed);
                let threshold = self.opts.watchdog.missing_tx_threshold.unwrap_or(
                    match hints.missed_tx_completion_count_threshold_to_reset {
                        0 => 128.min(slot.shared.depth as u32 / 2),
                        n => n as u32,
                    },
                ) as u64;
                // The queue's answer to the last question: packets still in flight that were
                // submitted more than `timeout` ago. A queue whose owner does not call
                // tx_burst/tx_done_cleanup never answers, so an idle queue (which may simply
                // not have reclaimed its completions yet) is never judged.
                let answered = st.miss_answered.load(Ordering::Acquire);
                if answered != 0 && !disabled {
                    slot.missed = st.miss_count.load(Ordering::Relaxed);
                    if slot.missed > threshold {
                        self.counters.missing_tx_cmpl += 1;
                        tracing::error!(target: "ena", missed = slot.missed, "TX completions missing for {:?}", timeout);
                        self.pending_reset = Some(ResetReason::MissingTxCompletion);
                        return;
                    }
                }
                // Ask again with the submission count of the newest sample at least `timeout`
                // old: every packet submitted before it has been in flight that long.
                slot.samples.push_back((now, submitted));
                while slot.samples.len() > 1 && slot.samples[1].0 + timeout <= now {
                    slot.samples.pop_front();
                }
                let Some(&(t0, sub0)) = slot.samples.front() else {
                    continue;
                };
                if disabled || t0 + timeout > now || sub0 == 0 {
                    continue;
                }
                st.miss_cutoff.store(sub0, Ordering::Relaxed);
            }
        }
    }

    /// Resets the device with `reason` and brings the port back to where it was.
    fn recover(&mut self, reason: ResetReason) {
        let t0 = self.platform.now();
        tracing::warn!(target: "ena", "resetting the device: {reason}");
        if let Err(e) = self.freeze_all() {
            self.pending_reset = Some(reason);
            self.events.push_back(PortEvent::ResetFailed {
                reason,
                error: e.to_string(),
            });
            return;
        }
        // Re-initialise with the reason. The old admin, AENQ and readless memory is released
        // only after the re-initialisation has reset the device: until then the device may still
        // write into it (a late admin completion, a keep-alive), and freed DMA memory must never
        // be written by a device.
        let old = self.dev.take();
        for s in self.all_shared() {
            s.set_detached(false);
        }
        let result = EnaDevice::init_with(
            self.platform.clone(),
            reason,
            self.extended_reasons,
            self.opts.llq_policy,
        );
        if result.is_ok() {
            drop(old);
            self.retired = None;
            // The reset stopped the device's writes: count what it had delivered and nobody
            // took. (After a failed attempt the device may not have been reset and may still
            // be delivering: the count waits for a reset that worked.)
            self.count_rx_left_in_rings();
        } else if self.retired.is_none() {
            // Whether the device was reset is unknown: keep its memory until a reset succeeds.
            self.retired = old;
        }
        let result = result.and_then(|dev| {
            let changed = if dev.info().mac != self.mac {
                Some("the device's MAC address changed across a reset")
            } else if self.conf.mtu.is_some_and(|mtu| dev.info().max_mtu < mtu) {
                Some("the device's max MTU dropped below the configured MTU")
            } else if dev.llq().is_some() != self.info.llq.is_some() {
                Some("the device's LLQ offer changed across a reset")
            } else {
                None
            };
            match changed {
                None => Ok(dev),
                Some(why) => {
                    // The device is up (its AENQ posting): reset it before its memory goes.
                    let _ = dev.shutdown(reason);
                    Err(Error::Unsupported(why.into()))
                }
            }
        });
        // The reset stopped all device DMA: nothing of the queues is owned by the device now.
        for s in self.all_shared() {
            s.set_detached(true);
        }
        match result {
            Ok(dev) => {
                self.dev = Some(dev);
                self.counters.resets += 1;
                self.last_keep_alive = self.platform.now();
                self.link = Link::default();
                self.drain_aenq();
                if self.state == State::Started {
                    if let Err(e) = self.create_queues() {
                        self.counters.reset_fail += 1;
                        // Reset before letting the device's memory go (see above); the next
                        // poll retries the recovery.
                        if let Some(dev) = self.dev.take() {
                            let _ = dev.shutdown(reason);
                        }
                        self.events.push_back(PortEvent::ResetFailed {
                            reason,
                            error: e.to_string(),
                        });
                        return;
                    }
                }
                for slot in self.txq.iter_mut().flatten() {
                    slot.samples.clear();
                    slot.missed = 0;
                    // Questions and answers from before the reset are void (the queues are
                    // frozen, so nobody answers meanwhile).
                    slot.shared.stats.miss_cutoff.store(0, Ordering::Relaxed);
                    slot.shared.stats.miss_answered.store(0, Ordering::Relaxed);
                }
                if self.state == State::Started {
                    self.prime_held_queues();
                }
                let recovery = self.platform.now().saturating_sub(t0);
                tracing::warn!(target: "ena", "device recovered from {reason} in {recovery:?}");
                self.events.push_back(PortEvent::Reset { reason, recovery });
            }
            Err(e) => {
                self.counters.reset_fail += 1;
                tracing::error!(target: "ena", "device reset failed: {e}");
                self.events.push_back(PortEvent::ResetFailed {
                    reason,
                    error: e.to_string(),
                });
            }
        }
    }

    /// Asks for a reset at the next [`Port::poll_control`] (DPDK applications call
    /// `rte_eth_dev_reset` after a reset event; here recovery is automatic).
    pub fn schedule_reset(&mut self, reason: ResetReason) {
        self.pending_reset.get_or_insert(reason);
    }

    // ----- statistics -----

    /// Port statistics: device counters (GET_STATS), keep-alive drop counters, per-queue
    /// software counters.
    pub fn stats(&mut self) -> Result<PortStats> {
        let basic = self.dev()?.basic_stats()?;
        let mut s = PortStats {
            ipackets: join_u64(basic.rx_pkts_low, basic.rx_pkts_high),
            opackets: join_u64(basic.tx_pkts_low, basic.tx_pkts_high),
            ibytes: join_u64(basic.rx_bytes_low, basic.rx_bytes_high),
            obytes: join_u64(basic.tx_bytes_low, basic.tx_bytes_high),
            // Device-supplied counters (KEEP_ALIVE): any value, so no overflowing sum.
            imissed: self
                .counters
                .keep_alive_rx_drops
                .saturating_add(self.counters.keep_alive_rx_overruns),
            ..Default::default()
        };
        for slot in self.rxq.iter().flatten() {
            let st = &slot.shared.stats;
            s.q_ipackets.push(st.cnt.load(Ordering::Relaxed));
            s.q_ibytes.push(st.bytes.load(Ordering::Relaxed));
            s.ierrors += st.errors.load(Ordering::Relaxed);
            s.rx_nombuf += st.mbuf_alloc_fail.load(Ordering::Relaxed);
        }
        for slot in self.txq.iter().flatten() {
            let st = &slot.shared.stats;
            s.q_opackets.push(st.cnt.load(Ordering::Relaxed));
            s.q_obytes.push(st.bytes.load(Ordering::Relaxed));
            s.oerrors += st.errors.load(Ordering::Relaxed);
        }
        Ok(s)
    }

    /// Extended statistics, with DPDK's ENA PMD names where it has them.
    pub fn xstats(&mut self) -> Result<Vec<(String, u64)>> {
        let c = self.counters;
        let mut x: Vec<(String, u64)> = vec![
            ("wd_expired".into(), c.wd_expired),
            ("dev_start".into(), c.dev_start),
            ("dev_stop".into(), c.dev_stop),
            ("tx_drops".into(), c.keep_alive_tx_drops),
            ("rx_drops".into(), c.keep_alive_rx_drops),
            ("rx_overruns".into(), c.keep_alive_rx_overruns),
            ("total_resets".into(), c.resets),
            ("reset_fail".into(), c.reset_fail),
            ("admin_to".into(), c.admin_to),
            ("missing_tx_cmpl".into(), c.missing_tx_cmpl),
            ("bad_rx_req_id".into(), c.bad_rx_req_id),
            ("bad_tx_req_id".into(), c.bad_tx_req_id),
            ("rx_desc_malformed".into(), c.rx_desc_malformed),
            ("tx_desc_malformed".into(), c.tx_desc_malformed),
            ("bad_rx_desc_num".into(), c.bad_rx_desc_num),
            ("device_request_reset".into(), c.device_request_reset),
            ("fatal_error".into(), c.fatal_error),
        ];
        if let Some(dev) = self.dev.as_mut() {
            let a = dev.admin_stats();
            x.push(("admin_submitted_cmd".into(), a.submitted_cmd));
            x.push(("admin_completed_cmd".into(), a.completed_cmd));
            x.push(("admin_no_completion".into(), a.no_completion));
            if let Some(e) = dev.eni_stats()? {
                x.push((
                    "bw_in_allowance_exceeded".into(),
                    e.bw_in_allowance_exceeded,
                ));
                x.push((
                    "bw_out_allowance_exceeded".into(),
                    e.bw_out_allowance_exceeded,
                ));
                x.push(("pps_allowance_exceeded".into(), e.pps_allowance_exceeded));
                x.push((
                    "conntrack_allowance_exceeded".into(),
                    e.conntrack_allowance_exceeded,
                ));
                x.push((
                    "linklocal_allowance_exceeded".into(),
                    e.linklocal_allowance_exceeded,
                ));
            }
        }
        let r = Ordering::Relaxed;
        for (i, slot) in self.rxq.iter().enumerate() {
            let Some(slot) = slot else { continue };
            let st = &slot.shared.stats;
            for (name, v) in [
                ("cnt", st.cnt.load(r)),
                ("bytes", st.bytes.load(r)),
                ("refill_partial", st.refill_partial.load(r)),
                ("l3_csum_bad", st.l3_csum_bad.load(r)),
                ("l4_csum_bad", st.l4_csum_bad.load(r)),
                ("l4_csum_good", st.l4_csum_good.load(r)),
                ("mbuf_alloc_fail", st.mbuf_alloc_fail.load(r)),
                ("bad_desc_num", st.bad_desc_num.load(r)),
                ("bad_req_id", st.bad_req_id.load(r)),
                ("bad_desc", st.bad_desc.load(r)),
                ("doorbells", st.doorbells.load(r)),
                ("reset_drops", st.reset_drops.load(r) + slot.pending_drops),
            ] {
                x.push((format!("rx_q{i}_{name}"), v));
            }
        }
        for (i, slot) in self.txq.iter().enumerate() {
            let Some(slot) = slot else { continue };
            let st = &slot.shared.stats;
            for (name, v) in [
                ("cnt", st.cnt.load(r)),
                ("bytes", st.bytes.load(r)),
                ("prepare_ctx_err", st.prepare_ctx_err.load(r)),
                ("tx_poll", st.bursts.load(r)),
                ("doorbells", st.doorbells.load(r)),
                ("bad_req_id", st.bad_req_id.load(r)),
                ("bad_desc", st.bad_desc.load(r)),
                ("missed_tx", slot.missed),
                ("reset_drops", st.reset_drops.load(r)),
                ("completed", st.completed.load(r)),
            ] {
                x.push((format!("tx_q{i}_{name}"), v));
            }
        }
        Ok(x)
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        if self.dev.is_some() || self.retired.is_some() {
            let _ = self.shutdown();
        } else {
            for s in self.all_shared() {
                s.close();
                s.set_detached(true);
            }
        }
    }
}

fn dev_info(dev: &EnaDevice) -> DevInfo {
    let i = dev.info();
    let llq = dev.llq();
    let mut rx_capa = rx_offload::SCATTER;
    if i.rx_offloads & ena_hw::admin::offload::RX_L3_CSUM_IPV4 != 0 {
        rx_capa |= rx_offload::IPV4_CKSUM;
    }
    if i.rx_offloads
        & (ena_hw::admin::offload::RX_L4_IPV4_CSUM | ena_hw::admin::offload::RX_L4_IPV6_CSUM)
        != 0
    {
        rx_capa |= rx_offload::TCP_CKSUM | rx_offload::UDP_CKSUM;
    }
    if i.rx_offloads & ena_hw::admin::offload::RX_HASH != 0 {
        rx_capa |= rx_offload::RSS_HASH;
    }
    let t = i.tx_offloads;
    let mut tx_capa = tx_offload::MULTI_SEGS | tx_offload::MBUF_FAST_FREE;
    use ena_hw::admin::offload as o;
    if t & o::TX_L3_CSUM_IPV4 != 0 {
        tx_capa |= tx_offload::IPV4_CKSUM;
    }
    if t & (o::TX_L4_IPV4_CSUM_FULL
        | o::TX_L4_IPV4_CSUM_PART
        | o::TX_L4_IPV6_CSUM_FULL
        | o::TX_L4_IPV6_CSUM_PART)
        != 0
    {
        tx_capa |= tx_offload::TCP_CKSUM | tx_offload::UDP_CKSUM;
    }
    if t & o::TX_TSO_IPV4 != 0 {
        tx_capa |= tx_offload::TCP_TSO;
    }
    let max_tx = llq.map_or(i.max_tx_depth, |l| l.max_depth.min(i.max_tx_depth));
    DevInfo {
        driver_name: "net_ena_rs",
        mac: i.mac,
        max_rx_queues: i.max_queues as u16,
        max_tx_queues: llq.map_or(i.max_queues, |_| {
            i.llq_offer
                .map_or(i.max_queues, |o| o.max_llq_num.min(i.max_queues))
        }) as u16,
        max_rx_desc: i.max_rx_depth.min(u16::MAX as u32 / 2 + 1) as u16,
        max_tx_desc: max_tx.min(u16::MAX as u32 / 2 + 1) as u16,
        min_desc: MIN_RING_SIZE,
        max_mtu: i.max_mtu,
        min_mtu: 68,
        max_rx_pktlen: i.max_mtu + 18,
        max_tx_segs: i.max_tx_descs.saturating_sub(1).max(1),
        max_rx_segs: i.max_rx_descs,
        rx_offload_capa: rx_capa,
        tx_offload_capa: tx_capa,
        reta_size: i.rss_table_log2.map_or(0, |l| 1 << l),
        hash_key_size: RSS_KEY_LEN as u8,
        flow_type_rss_offloads: rss_hf::ALL,
        llq,
    }
}
