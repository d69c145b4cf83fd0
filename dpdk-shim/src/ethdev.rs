//! ethdev: DPDK's port API over the driver's [`ena::Port`].
//!
//! An [`EthDev`] is one port, shared (`Arc`) between the application's main thread and the
//! EAL's control thread, which runs the driver's control path every 100 ms (AENQ, keep-alive
//! watchdog, reset recovery) and calls the event callbacks. Control calls lock the port; the
//! data path does not touch it: [`EthDev::take_rx_queue`] and [`EthDev::take_tx_queue`] hand
//! the application the driver's own queues, whose `rx_burst`/`tx_burst`/`tx_prepare` are
//! DPDK's, to move to the lcore that polls them.
//!
//! | DPDK | here |
//! |---|---|
//! | `rte_eth_dev_count_avail`, `RTE_ETH_FOREACH_DEV` | [`crate::Eal::port_count`], [`crate::Eal::ports`] |
//! | `rte_eth_dev_info_get` | [`EthDev::dev_info`] |
//! | `rte_eth_dev_configure(port, nb_rx, nb_tx, &conf)` | [`EthDev::configure`] with [`EthConf`] |
//! | `rte_eth_rx_queue_setup` / `rte_eth_tx_queue_setup` | [`EthDev::rx_queue_setup`] / [`EthDev::tx_queue_setup`] |
//! | `rte_eth_rx_burst(port, q, ...)` | [`RxQueue::rx_burst`] on the queue taken with [`EthDev::take_rx_queue`] |
//! | `rte_eth_tx_burst` / `rte_eth_tx_prepare` | [`TxQueue::tx_burst`] / [`TxQueue::tx_prepare`] |
//! | `rte_eth_dev_start/stop/close` | [`EthDev::start`] / [`EthDev::stop`] / [`EthDev::close`] |
//! | `rte_eth_link_get_nowait` | [`EthDev::link_get`] |
//! | `rte_eth_stats_get/reset`, `rte_eth_xstats_get/reset` | [`EthDev::stats_get`], [`EthDev::stats_reset`], [`EthDev::xstats_get`], [`EthDev::xstats_reset`] |
//! | `rte_eth_dev_rss_reta_update/query` | [`EthDev::rss_reta_update`] / [`EthDev::rss_reta_query`] |
//! | `rte_eth_dev_rss_hash_update` / `_conf_get` | [`EthDev::rss_hash_update`] / [`EthDev::rss_hash_conf_get`] |
//! | `rte_eth_dev_set_mtu`, `rte_eth_macaddr_get` | [`EthDev::mtu_set`], [`EthDev::macaddr_get`] |
//! | `rte_eth_dev_callback_register` | [`EthDev::callback_register`] with [`EthEventType`] |
//! | `rte_eth_dev_reset` | [`EthDev::dev_reset`] |

use crate::error::{Error, Result};
use crate::mbuf::PktmbufPool;
use ena::hw::regs::ResetReason;
use ena::pmd::{PortConf, PortEvent};
use ena::Port;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use ena::hw::admin::RSS_KEY_LEN;
pub use ena::pmd::{
    rss_hf, rx_offload, tx_offload, DevInfo, Link, PortStats as EthStats, RxQueue, TxQueue,
    DEFAULT_RING_SIZE, DEFAULT_RSS_KEY, MIN_RING_SIZE,
};

/// How received packets are spread over RX queues (`rte_eth_rx_mq_mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MqMode {
    /// Everything to RX queue 0.
    #[default]
    None,
    /// Receive-side scaling (`RTE_ETH_MQ_RX_RSS`).
    Rss,
}

/// `rte_eth_rxmode`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RxMode {
    /// Multi-queue mode.
    pub mq_mode: MqMode,
    /// L3 MTU; 0 leaves the device's.
    pub mtu: u32,
    /// RX offloads ([`rx_offload`]).
    pub offloads: u64,
}

/// `rte_eth_rss_conf`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RssConf {
    /// The Toeplitz key (40 bytes), standard byte order; `None` keeps the driver's default
    /// ([`DEFAULT_RSS_KEY`], Microsoft's verification key).
    pub rss_key: Option<Vec<u8>>,
    /// Hash types ([`rss_hf`]).
    pub rss_hf: u64,
}

impl Default for RssConf {
    fn default() -> Self {
        Self {
            rss_key: None,
            rss_hf: rss_hf::ALL,
        }
    }
}

/// `rte_eth_txmode`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxMode {
    /// TX offloads ([`tx_offload`]).
    pub offloads: u64,
}

/// `rte_eth_conf`, with what ENA has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EthConf {
    /// Receive mode.
    pub rxmode: RxMode,
    /// RSS key and hash types (used with [`MqMode::Rss`]); DPDK's `rx_adv_conf.rss_conf`.
    pub rss_conf: RssConf,
    /// Transmit mode.
    pub txmode: TxMode,
}

impl EthConf {
    /// The driver's configuration, after checking what DPDK's ethdev layer checks.
    fn to_port_conf(&self, info: &DevInfo) -> Result<PortConf> {
        let bad = |m: String| Error::Driver(ena::Error::Config(m));
        let rx_extra = self.rxmode.offloads & !info.rx_offload_capa;
        if rx_extra != 0 {
            return Err(bad(format!(
                "RX offloads {rx_extra:#x} are not offered (offered: {:#x})",
                info.rx_offload_capa
            )));
        }
        let tx_extra = self.txmode.offloads & !info.tx_offload_capa;
        if tx_extra != 0 {
            return Err(bad(format!(
                "TX offloads {tx_extra:#x} are not offered (offered: {:#x})",
                info.tx_offload_capa
            )));
        }
        let rss = match self.rxmode.mq_mode {
            MqMode::None => None,
            MqMode::Rss => Some(ena::pmd::RssConf {
                key: rss_key(self.rss_conf.rss_key.as_deref())?,
                hash_types: check_rss_hf(self.rss_conf.rss_hf, info)?,
            }),
        };
        Ok(PortConf {
            rss,
            rx_offloads: self.rxmode.offloads,
            tx_offloads: self.txmode.offloads,
            mtu: (self.rxmode.mtu != 0).then_some(self.rxmode.mtu),
        })
    }
}

fn rss_key(key: Option<&[u8]>) -> Result<Option<[u8; RSS_KEY_LEN]>> {
    match key {
        None => Ok(None),
        Some(k) => k.try_into().map(Some).map_err(|_| {
            Error::Driver(ena::Error::Config(format!(
                "RSS key is {} bytes; ENA takes {RSS_KEY_LEN}",
                k.len()
            )))
        }),
    }
}

fn check_rss_hf(hf: u64, info: &DevInfo) -> Result<u64> {
    let extra = hf & !info.flow_type_rss_offloads;
    if extra != 0 {
        return Err(Error::Driver(ena::Error::Config(format!(
            "RSS hash types {extra:#x} are not offered (offered: {:#x})",
            info.flow_type_rss_offloads
        ))));
    }
    Ok(hf)
}

/// Events an application can register for (`rte_eth_event_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EthEventType {
    /// `RTE_ETH_EVENT_INTR_LSC`: link state change.
    IntrLsc,
    /// `RTE_ETH_EVENT_INTR_RESET`: the device needed a reset. The driver recovers by itself
    /// (then [`EthEventType::RecoverySuccess`] or [`EthEventType::RecoveryFailed`] follows);
    /// no `dev_reset` call is needed.
    IntrReset,
    /// `RTE_ETH_EVENT_RECOVERY_SUCCESS`: the port runs again after a reset.
    RecoverySuccess,
    /// `RTE_ETH_EVENT_RECOVERY_FAILED`: bringing the device back failed; retried every 100 ms.
    RecoveryFailed,
}

/// An event with its details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EthEvent {
    /// The link went up or down.
    IntrLsc(Link),
    /// A reset was needed, and why.
    IntrReset(ResetReason),
    /// Recovered; detection to queues running again took `recovery`.
    RecoverySuccess {
        /// Why the reset was needed.
        reason: ResetReason,
        /// How long recovery took.
        recovery: Duration,
    },
    /// Recovery failed (retried).
    RecoveryFailed {
        /// Why the reset was needed.
        reason: ResetReason,
        /// What failed.
        error: String,
    },
}

impl EthEvent {
    /// Its type.
    pub fn event_type(&self) -> EthEventType {
        match self {
            EthEvent::IntrLsc(_) => EthEventType::IntrLsc,
            EthEvent::IntrReset(_) => EthEventType::IntrReset,
            EthEvent::RecoverySuccess { .. } => EthEventType::RecoverySuccess,
            EthEvent::RecoveryFailed { .. } => EthEventType::RecoveryFailed,
        }
    }

    fn from_port(ev: PortEvent) -> Vec<EthEvent> {
        match ev {
            PortEvent::LinkChange(l) => vec![EthEvent::IntrLsc(l)],
            PortEvent::Reset { reason, recovery } => vec![
                EthEvent::IntrReset(reason),
                EthEvent::RecoverySuccess { reason, recovery },
            ],
            PortEvent::ResetFailed { reason, error } => vec![
                EthEvent::IntrReset(reason),
                EthEvent::RecoveryFailed { reason, error },
            ],
            PortEvent::ConfNotification(bits) => {
                tracing::info!("device configuration notification {bits:#x}");
                Vec::new()
            }
        }
    }
}

/// An event callback: called on the EAL's control thread with the port id and the event.
pub type EventCallback = Arc<dyn Fn(u16, &EthEvent) + Send + Sync>;

/// Identifies a registered callback, to unregister it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallbackId(u64);

/// What kind of device is behind a port.
#[derive(Clone, Debug)]
pub enum Backing {
    /// A PCI function (`-a`).
    Pci,
    /// An in-process device model (`--vdev net_ena_sim<N>`), with its wire.
    Sim(crate::vdev::SimPort),
}

/// Registered callbacks, and the last id given out.
#[derive(Default)]
struct Callbacks {
    last_id: u64,
    list: Vec<(u64, EthEventType, EventCallback)>,
}

struct PortState {
    port: Option<Port>,
    nb_rx: u16,
    nb_tx: u16,
    rx_pools: Vec<Option<PktmbufPool>>,
    stats_base: EthStats,
    xstats_base: Vec<(String, u64)>,
}

/// One port.
pub struct EthDev {
    port_id: u16,
    name: String,
    info: DevInfo,
    mac: [u8; 6],
    backing: Backing,
    state: Mutex<PortState>,
    callbacks: Mutex<Callbacks>,
    default_pool: Arc<Mutex<Option<PktmbufPool>>>,
}

impl std::fmt::Debug for EthDev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EthDev")
            .field("port_id", &self.port_id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn closed() -> Error {
    Error::Driver(ena::Error::State("closed"))
}

impl EthDev {
    pub(crate) fn new(
        port: Port,
        name: String,
        backing: Backing,
        default_pool: Arc<Mutex<Option<PktmbufPool>>>,
    ) -> EthDev {
        EthDev {
            port_id: port.port_id(),
            name,
            info: port.info().clone(),
            mac: port.mac(),
            backing,
            state: Mutex::new(PortState {
                port: Some(port),
                nb_rx: 0,
                nb_tx: 0,
                rx_pools: Vec::new(),
                stats_base: EthStats::default(),
                xstats_base: Vec::new(),
            }),
            callbacks: Mutex::new(Callbacks::default()),
            default_pool,
        }
    }

    fn lock(&self) -> MutexGuard<'_, PortState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_port<R>(&self, f: impl FnOnce(&mut Port) -> ena::Result<R>) -> Result<R> {
        let mut st = self.lock();
        let port = st.port.as_mut().ok_or_else(closed)?;
        Ok(f(port)?)
    }

    /// The port id.
    pub fn port_id(&self) -> u16 {
        self.port_id
    }

    /// The device's name: its PCI address, or the vdev name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What is behind the port.
    pub fn backing(&self) -> &Backing {
        &self.backing
    }

    /// Limits and capabilities (`rte_eth_dev_info_get`).
    pub fn dev_info(&self) -> DevInfo {
        self.info.clone()
    }

    /// The port's MAC address (`rte_eth_macaddr_get`).
    pub fn macaddr_get(&self) -> [u8; 6] {
        self.mac
    }

    /// Sets the number of queues, RSS, offloads and MTU (`rte_eth_dev_configure`). The port
    /// must be stopped.
    pub fn configure(&self, nb_rx: u16, nb_tx: u16, conf: &EthConf) -> Result<()> {
        let pc = conf.to_port_conf(&self.info)?;
        let mut st = self.lock();
        st.port
            .as_mut()
            .ok_or_else(closed)?
            .configure(nb_rx, nb_tx, &pc)?;
        st.nb_rx = nb_rx;
        st.nb_tx = nb_tx;
        st.rx_pools = vec![None; nb_rx as usize];
        Ok(())
    }

    /// Sets up RX queue `q` with `nb_desc` descriptors, filled from `pool`
    /// (`rte_eth_rx_queue_setup`).
    pub fn rx_queue_setup(&self, q: u16, nb_desc: u16, pool: &PktmbufPool) -> Result<()> {
        let mut st = self.lock();
        st.port
            .as_mut()
            .ok_or_else(closed)?
            .rx_queue_setup(q, nb_desc, pool.mempool())?;
        st.rx_pools[q as usize] = Some(pool.clone());
        Ok(())
    }

    /// Sets up TX queue `q` with `nb_desc` descriptors (`rte_eth_tx_queue_setup`). Sent
    /// packets return to their own pools; the queue keeps a cache of the pool of RX queue `q`
    /// (else of any RX queue, else of the first pool created) for the common case of
    /// forwarding.
    pub fn tx_queue_setup(&self, q: u16, nb_desc: u16) -> Result<()> {
        let mut st = self.lock();
        let pool = st
            .rx_pools
            .get(q as usize)
            .cloned()
            .flatten()
            .or_else(|| st.rx_pools.iter().flatten().next().cloned())
            .or_else(|| {
                self.default_pool
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
            })
            .ok_or_else(|| {
                Error::Driver(ena::Error::Config(
                    "no mbuf pool exists yet: create one before setting up queues".into(),
                ))
            })?;
        st.port
            .as_mut()
            .ok_or_else(closed)?
            .tx_queue_setup(q, nb_desc, pool.mempool())?;
        Ok(())
    }

    /// Starts the port (`rte_eth_dev_start`).
    pub fn start(&self) -> Result<()> {
        self.with_port(|p| p.start())
    }

    /// Stops the port (`rte_eth_dev_stop`); queues the application holds stop receiving.
    pub fn stop(&self) -> Result<()> {
        self.with_port(|p| p.stop())
    }

    /// Stops and releases the device (`rte_eth_dev_close`). The port id stays taken; every
    /// call after this fails with "port is closed".
    pub fn close(&self) -> Result<()> {
        let port = self.lock().port.take().ok_or_else(closed)?;
        Ok(port.close()?)
    }

    /// Whether the port is started.
    pub fn is_started(&self) -> bool {
        self.lock().port.as_ref().is_some_and(Port::is_started)
    }

    /// Takes RX queue `q` (after setup) to move it to the lcore that polls it.
    pub fn take_rx_queue(&self, q: u16) -> Result<RxQueue> {
        self.with_port(|p| p.take_rx_queue(q))
    }

    /// Takes TX queue `q` (after setup) to move it to the lcore that sends on it.
    pub fn take_tx_queue(&self, q: u16) -> Result<TxQueue> {
        self.with_port(|p| p.take_tx_queue(q))
    }

    /// Link state (`rte_eth_link_get_nowait`; ENA reports no speed).
    pub fn link_get(&self) -> Result<Link> {
        let st = self.lock();
        Ok(st.port.as_ref().ok_or_else(closed)?.link())
    }

    /// Sets the L3 MTU (`rte_eth_dev_set_mtu`).
    pub fn mtu_set(&self, mtu: u16) -> Result<()> {
        self.with_port(|p| p.set_mtu(mtu.into()))
    }

    /// Basic statistics since the last [`EthDev::stats_reset`] (`rte_eth_stats_get`).
    pub fn stats_get(&self) -> Result<EthStats> {
        let mut st = self.lock();
        let now = st.port.as_mut().ok_or_else(closed)?.stats()?;
        Ok(stats_since(&now, &st.stats_base))
    }

    /// Restarts the basic statistics from zero (`rte_eth_stats_reset`). The device's
    /// counters keep counting; the port remembers where they were.
    pub fn stats_reset(&self) -> Result<()> {
        let mut st = self.lock();
        let now = st.port.as_mut().ok_or_else(closed)?.stats()?;
        st.stats_base = now;
        Ok(())
    }

    /// Extended statistics, with DPDK's ENA PMD names (`rte_eth_xstats_get` with names).
    pub fn xstats_get(&self) -> Result<Vec<(String, u64)>> {
        let mut st = self.lock();
        let now = st.port.as_mut().ok_or_else(closed)?.xstats()?;
        let base = &st.xstats_base;
        Ok(now
            .into_iter()
            .map(|(name, v)| {
                let b = base.iter().find(|(n, _)| *n == name).map_or(0, |(_, b)| *b);
                (name, v.saturating_sub(b))
            })
            .collect())
    }

    /// Restarts the extended statistics from zero (`rte_eth_xstats_reset`).
    pub fn xstats_reset(&self) -> Result<()> {
        let mut st = self.lock();
        let now = st.port.as_mut().ok_or_else(closed)?.xstats()?;
        st.xstats_base = now;
        Ok(())
    }

    /// Points RETA entries at queues: `(entry, queue)` pairs (`rte_eth_dev_rss_reta_update`,
    /// without the 64-entry group masks).
    pub fn rss_reta_update(&self, entries: &[(u16, u16)]) -> Result<()> {
        self.with_port(|p| p.rss_reta_update(entries))
    }

    /// The whole RETA: entry `i` sends its share of flows to queue `reta[i]`
    /// (`rte_eth_dev_rss_reta_query`).
    pub fn rss_reta_query(&self) -> Result<Vec<u16>> {
        self.with_port(|p| Ok(p.rss_reta_query().to_vec()))
    }

    /// Changes the RSS key (`rte_eth_dev_rss_hash_update`); `rss_hf` must stay within what
    /// the device hashes.
    pub fn rss_hash_update(&self, conf: &RssConf) -> Result<()> {
        check_rss_hf(conf.rss_hf, &self.info)?;
        match rss_key(conf.rss_key.as_deref())? {
            Some(key) => self.with_port(|p| p.rss_hash_update(key)),
            None => Ok(()),
        }
    }

    /// The RSS key in force and the hash types (`rte_eth_dev_rss_hash_conf_get`).
    pub fn rss_hash_conf_get(&self) -> Result<RssConf> {
        self.with_port(|p| {
            let key = p.rss_hash_conf_get()?;
            let hf = p.conf().rss.as_ref().map_or(0, |r| r.hash_types);
            Ok(RssConf {
                rss_key: Some(key.to_vec()),
                rss_hf: hf,
            })
        })
    }

    /// Resets the device now and brings the port back as it was
    /// (`rte_eth_dev_reset`). The reset events go to the callbacks as for any reset.
    pub fn dev_reset(&self) -> Result<()> {
        let events = {
            let mut st = self.lock();
            let port = st.port.as_mut().ok_or_else(closed)?;
            port.schedule_reset(ResetReason::UserTrigger);
            port.poll_control()
        };
        let failed = events.iter().find_map(|e| match e {
            PortEvent::ResetFailed { error, .. } => Some(error.clone()),
            _ => None,
        });
        self.dispatch(events);
        match failed {
            Some(e) => Err(Error::Setup(format!(
                "port {}: reset failed: {e}",
                self.port_id
            ))),
            None => Ok(()),
        }
    }

    /// Calls `f` on the control thread for every event of type `ty`
    /// (`rte_eth_dev_callback_register`).
    pub fn callback_register(
        &self,
        ty: EthEventType,
        f: impl Fn(u16, &EthEvent) + Send + Sync + 'static,
    ) -> CallbackId {
        let mut cbs = self.callbacks.lock().unwrap_or_else(|e| e.into_inner());
        cbs.last_id += 1;
        let id = cbs.last_id;
        cbs.list.push((id, ty, Arc::new(f)));
        CallbackId(id)
    }

    /// Removes a callback; false if it was not registered.
    pub fn callback_unregister(&self, id: CallbackId) -> bool {
        let mut cbs = self.callbacks.lock().unwrap_or_else(|e| e.into_inner());
        let before = cbs.list.len();
        cbs.list.retain(|(i, _, _)| *i != id.0);
        cbs.list.len() != before
    }

    /// One round of the control path (the EAL's control thread calls this every 100 ms).
    pub(crate) fn service(&self) {
        let events = {
            let mut st = self.lock();
            match st.port.as_mut() {
                Some(p) => p.poll_control(),
                None => return,
            }
        };
        self.dispatch(events);
    }

    fn dispatch(&self, events: Vec<PortEvent>) {
        if events.is_empty() {
            return;
        }
        let cbs: Vec<(EthEventType, EventCallback)> = self
            .callbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .list
            .iter()
            .map(|(_, t, f)| (*t, f.clone()))
            .collect();
        for ev in events.into_iter().flat_map(EthEvent::from_port) {
            tracing::info!("port {}: {ev:?}", self.port_id);
            for (t, f) in &cbs {
                if *t == ev.event_type() {
                    f(self.port_id, &ev);
                }
            }
        }
    }
}

fn stats_since(now: &EthStats, base: &EthStats) -> EthStats {
    let sub = |a: &[u64], b: &[u64]| -> Vec<u64> {
        a.iter()
            .enumerate()
            .map(|(i, v)| v.saturating_sub(b.get(i).copied().unwrap_or(0)))
            .collect()
    };
    EthStats {
        ipackets: now.ipackets.saturating_sub(base.ipackets),
        opackets: now.opackets.saturating_sub(base.opackets),
        ibytes: now.ibytes.saturating_sub(base.ibytes),
        obytes: now.obytes.saturating_sub(base.obytes),
        imissed: now.imissed.saturating_sub(base.imissed),
        ierrors: now.ierrors.saturating_sub(base.ierrors),
        oerrors: now.oerrors.saturating_sub(base.oerrors),
        rx_nombuf: now.rx_nombuf.saturating_sub(base.rx_nombuf),
        q_ipackets: sub(&now.q_ipackets, &base.q_ipackets),
        q_ibytes: sub(&now.q_ibytes, &base.q_ibytes),
        q_opackets: sub(&now.q_opackets, &base.q_opackets),
        q_obytes: sub(&now.q_obytes, &base.q_obytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_since_a_baseline() {
        let base = EthStats {
            ipackets: 10,
            q_ipackets: vec![4, 6],
            ..Default::default()
        };
        let now = EthStats {
            ipackets: 25,
            opackets: 3,
            q_ipackets: vec![9, 16],
            ..Default::default()
        };
        let d = stats_since(&now, &base);
        assert_eq!((d.ipackets, d.opackets), (15, 3));
        assert_eq!(d.q_ipackets, vec![5, 10]);
    }

    #[test]
    fn reset_events_map_to_dpdk_events() {
        let ev = EthEvent::from_port(PortEvent::Reset {
            reason: ResetReason::KeepAliveTimeout,
            recovery: Duration::from_millis(5),
        });
        assert_eq!(
            ev.iter().map(EthEvent::event_type).collect::<Vec<_>>(),
            vec![EthEventType::IntrReset, EthEventType::RecoverySuccess]
        );
        assert_eq!(ev[0], EthEvent::IntrReset(ResetReason::KeepAliveTimeout));
    }
}
