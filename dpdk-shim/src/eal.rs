//! The EAL: from DPDK-style arguments to running lcores, open ports and packet memory.
//!
//! [`Eal::init`] parses the command line ([`crate::args`]), starts the lcores
//! ([`crate::lcore`]), opens every device — `-a` PCI functions first, in order, then
//! `--vdev net_ena_sim<N>` models ([`crate::vdev`]) — as ports 0, 1, ..., and starts the
//! control thread that runs each port's control path every 100 ms. Dropping the `Eal` (DPDK's
//! `rte_eal_cleanup`) stops the control thread, closes the ports and stops the device models.
//!
//! Packet memory comes from where the devices can reach it: for PCI functions, one hugepage
//! heap (`--huge-dir`, files named `<file-prefix>map_<n>`) shared by every port; for device
//! models, their shared DMA space. The two cannot be mixed in one process.

use crate::args::{self, EalArgs};
use crate::error::{Error, Result};
use crate::ethdev::{Backing, EthDev};
use crate::lcore::Lcores;
use crate::mbuf::{PktmbufPool, HEADROOM, MEMPOOL_CACHE_MAX_SIZE};
use crate::vdev::{self, SimPort};
use ena::com::LlqPolicy;
use ena::mem::hugepage::HugepageAllocator;
use ena::mem::DmaRegion;
use ena::platform::pci::{
    PciOptions, PciPlatform, DEFAULT_HUGEPAGE_DIR, DEFAULT_SYSFS_PCI_DEVICES,
};
use ena::platform::sim::{SimDrive, SimPlatform};
use ena::platform::Platform;
use ena::pmd::{PortOptions, WatchdogConfig};
use ena::{Mempool, Port};
use ena_sim::dma::InProcessDma;
use ena_sim::transport::inproc::{RunnerOptions, SimRunner};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the control thread runs each port's control path.
pub const CONTROL_PERIOD: Duration = Duration::from_millis(100);

/// Where packet memory comes from.
enum Memory {
    /// No device: nothing to allocate for.
    None,
    /// The device models' shared DMA space (through any model's platform).
    Sim(Arc<dyn Platform>),
    /// One hugepage heap for every PCI port.
    Hugepages(Arc<HugepageAllocator>),
}

impl Memory {
    fn alloc(&self, len: usize, align: usize) -> ena::Result<DmaRegion> {
        match self {
            Memory::None => Err(ena::Error::NoMemory(
                "no device to allocate packet memory for: give -a or --vdev".into(),
            )),
            Memory::Sim(p) => p.alloc_dma(len, align),
            Memory::Hugepages(h) => h.alloc(len, align),
        }
    }
}

struct ControlThread {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// An initialised environment: lcores, ports, memory.
pub struct Eal {
    args: EalArgs,
    lcores: Lcores,
    ports: Vec<Arc<EthDev>>,
    memory: Memory,
    pools: Mutex<Vec<String>>,
    /// The first pool created: TX queues of ports without RX pools keep their cache here.
    default_pool: Arc<Mutex<Option<PktmbufPool>>>,
    control: Option<ControlThread>,
    sim_runner: Option<SimRunner>,
}

impl std::fmt::Debug for Eal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eal")
            .field("lcores", &self.args.lcores)
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

impl Eal {
    /// `rte_eal_init`: takes `argv` (program name first) and returns the EAL and the
    /// application's own arguments (those after `--`, or after the first non-option).
    pub fn init<S: AsRef<str>>(argv: &[S]) -> Result<(Eal, Vec<String>)> {
        let argv: Vec<String> = argv.iter().map(|s| s.as_ref().to_string()).collect();
        let (args, app) = args::parse(&argv)?;
        Ok((Eal::with_args(args)?, app))
    }

    /// Initialises from parsed arguments.
    pub fn with_args(args: EalArgs) -> Result<Eal> {
        if !args.allow.is_empty() && !args.vdevs.is_empty() {
            return Err(Error::Args(
                "-a devices and --vdev net_ena_sim models cannot share a process: their DMA \
                 address spaces differ (physical vs. the model's)"
                    .into(),
            ));
        }
        let lcores = Lcores::start(&args.lcores, args.main_lcore, true)?;
        let default_pool = Arc::new(Mutex::new(None));
        let mut ports = Vec::new();
        let mut memory = Memory::None;
        let mut sim_runner = None;

        if !args.allow.is_empty() {
            let (p, heap) = open_pci(&args, &default_pool)?;
            ports = p;
            memory = Memory::Hugepages(heap);
        }
        if !args.vdevs.is_empty() {
            let dma = InProcessDma::new();
            let sims = vdev::build(&args.vdevs, &dma)?;
            let runner = SimRunner::spawn(
                &sims.iter().map(|s| s.device.clone()).collect::<Vec<_>>(),
                RunnerOptions {
                    core: sim_core(&args),
                    ..Default::default()
                },
            )
            .map_err(|e| Error::Setup(format!("cannot start the device-model thread: {e}")))?;
            sim_runner = Some(runner);
            for (i, (spec, sim)) in args.vdevs.iter().zip(sims).enumerate() {
                let platform = Arc::new(SimPlatform::new(
                    sim.device.clone(),
                    SimDrive::Threaded,
                    true,
                    &spec.name,
                ));
                if i == 0 {
                    memory = Memory::Sim(platform.clone());
                }
                let opts = PortOptions {
                    port_id: ports.len() as u16,
                    llq_policy: match spec.llq {
                        Some(false) => LlqPolicy::Disabled,
                        _ => LlqPolicy::Recommended,
                    },
                    watchdog: WatchdogConfig::default(),
                };
                let port = Port::open(platform, opts)
                    .map_err(|e| Error::Setup(format!("{}: {e}", spec.name)))?;
                ports.push(Arc::new(EthDev::new(
                    port,
                    spec.name.clone(),
                    Backing::Sim(sim),
                    default_pool.clone(),
                )));
            }
        }
        for p in &ports {
            tracing::info!(
                "port {}: {} {}",
                p.port_id(),
                p.name(),
                crate::format_mac(&p.macaddr_get())
            );
        }
        let control = start_control(&ports)?;
        Ok(Eal {
            args,
            lcores,
            ports,
            memory,
            pools: Mutex::new(Vec::new()),
            default_pool,
            control: Some(control),
            sim_runner,
        })
    }

    /// The parsed arguments.
    pub fn args(&self) -> &EalArgs {
        &self.args
    }

    /// The lcores: launch work on them with [`Lcores::remote_launch`].
    pub fn lcores(&self) -> &Lcores {
        &self.lcores
    }

    /// Number of ports (`rte_eth_dev_count_avail`).
    pub fn port_count(&self) -> u16 {
        self.ports.len() as u16
    }

    /// Every port, in id order (`RTE_ETH_FOREACH_DEV`).
    pub fn ports(&self) -> impl Iterator<Item = &Arc<EthDev>> {
        self.ports.iter()
    }

    /// Port `id`.
    pub fn port(&self, id: u16) -> Result<&Arc<EthDev>> {
        self.ports.get(id as usize).ok_or(Error::NoSuchPort(id))
    }

    /// `rte_pktmbuf_pool_create(name, n, cache_size, priv_size, data_room_size, socket)`: `n`
    /// buffers of `data_room` bytes (headroom included; [`crate::mbuf::MBUF_DEFAULT_BUF_SIZE`]
    /// is the usual choice) in memory every port can reach. `priv_size` must be 0 (no
    /// application area after the mbuf header).
    pub fn pktmbuf_pool_create(
        &self,
        name: &str,
        n: u32,
        cache_size: usize,
        priv_size: u16,
        data_room: u16,
    ) -> Result<PktmbufPool> {
        let bad = |m: String| Error::Driver(ena::Error::Config(format!("mempool {name}: {m}")));
        if priv_size != 0 {
            return Err(bad(format!(
                "priv_size {priv_size} is not supported (mbufs have no private area; keep \
                 per-packet state in the application)"
            )));
        }
        if cache_size > MEMPOOL_CACHE_MAX_SIZE || cache_size as u64 * 3 > n as u64 * 2 {
            return Err(bad(format!(
                "cache size {cache_size} must be at most {MEMPOOL_CACHE_MAX_SIZE} and at most \
                 n / 1.5 ({})",
                n as u64 * 2 / 3
            )));
        }
        if data_room < HEADROOM {
            return Err(bad(format!(
                "data room {data_room} is smaller than the {HEADROOM}-byte headroom"
            )));
        }
        {
            let mut names = self.pools.lock().unwrap_or_else(|e| e.into_inner());
            if names.iter().any(|n| n == name) {
                return Err(bad("a pool with this name exists".into()));
            }
            names.push(name.to_string());
        }
        let created = Mempool::new(name, n, data_room, &|len, align| {
            self.memory.alloc(len, align)
        });
        let pool = match created {
            Ok(p) => PktmbufPool::new(p, cache_size),
            Err(e) => {
                self.pools
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|n| n != name);
                return Err(e.into());
            }
        };
        self.default_pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(|| pool.clone());
        Ok(pool)
    }

    /// The device model behind port `id`, when it is a `--vdev`.
    pub fn sim_port(&self, id: u16) -> Option<SimPort> {
        match self.port(id).ok()?.backing() {
            Backing::Sim(s) => Some(s.clone()),
            Backing::Pci => None,
        }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        if let Some(mut c) = self.control.take() {
            c.stop.store(true, Ordering::Relaxed);
            if let Some(t) = c.thread.take() {
                let _ = t.join();
            }
        }
        for p in &self.ports {
            if let Err(e) = p.close() {
                if !matches!(e, Error::Driver(ena::Error::State("closed"))) {
                    tracing::warn!("port {}: close: {e}", p.port_id());
                }
            }
        }
        if let Some(r) = self.sim_runner.take() {
            r.stop();
        }
    }
}

/// The device models' polling core: `--sim-core`, else the last CPU that is not an lcore,
/// else none (the thread floats).
fn sim_core(args: &EalArgs) -> Option<usize> {
    if args.sim_core.is_some() {
        return args.sim_core;
    }
    args::allowed_cpus()
        .into_iter()
        .rev()
        .find(|c| !args.lcores.contains(c))
}

fn open_pci(
    args: &EalArgs,
    default_pool: &Arc<Mutex<Option<PktmbufPool>>>,
) -> Result<(Vec<Arc<EthDev>>, Arc<HugepageAllocator>)> {
    let sysfs = args
        .pci_sysfs
        .clone()
        .or_else(|| std::env::var_os("SYSFS_PCI_DEVICES").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SYSFS_PCI_DEVICES));
    let base = PciOptions::default();
    let mut ports = Vec::new();
    let mut heap: Option<Arc<HugepageAllocator>> = None;
    for spec in &args.allow {
        let opts = PciOptions {
            sysfs_devices: sysfs.clone(),
            hugepage_dir: args
                .huge_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_HUGEPAGE_DIR)),
            hugepage_prefix: args
                .file_prefix
                .clone()
                .unwrap_or_else(|| base.hugepage_prefix.clone()),
            wc: spec.devargs.wc.unwrap_or_default(),
            config_path: None,
        };
        let ctx = |e: ena::Error| Error::Setup(format!("{}: {e}", spec.bdf));
        let platform = PciPlatform::open(&spec.bdf, opts).map_err(ctx)?;
        match &heap {
            Some(h) => platform.use_allocator(h.clone()).map_err(ctx)?,
            None => heap = Some(platform.dma_allocator().map_err(ctx)?),
        }
        let opts = PortOptions {
            port_id: ports.len() as u16,
            llq_policy: spec.devargs.llq_policy.unwrap_or_default(),
            watchdog: WatchdogConfig {
                missing_tx_timeout: spec.devargs.miss_txc_to,
                ..Default::default()
            },
        };
        let name = platform.address().to_string();
        let port = Port::open(Arc::new(platform), opts).map_err(ctx)?;
        ports.push(Arc::new(EthDev::new(
            port,
            name,
            Backing::Pci,
            default_pool.clone(),
        )));
    }
    let heap = heap.ok_or_else(|| Error::Setup("no PCI device".into()))?;
    Ok((ports, heap))
}

fn start_control(ports: &[Arc<EthDev>]) -> Result<ControlThread> {
    let stop = Arc::new(AtomicBool::new(false));
    let (s, ports) = (stop.clone(), ports.to_vec());
    let thread = std::thread::Builder::new()
        .name("eal-control".into())
        .spawn(move || {
            while !s.load(Ordering::Relaxed) {
                for p in &ports {
                    p.service();
                }
                // Sleep in short steps so that shutdown is quick.
                let mut slept = Duration::ZERO;
                while slept < CONTROL_PERIOD && !s.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(10));
                    slept += Duration::from_millis(10);
                }
            }
        })
        .map_err(|e| Error::Setup(format!("cannot start the control thread: {e}")))?;
    Ok(ControlThread {
        stop,
        thread: Some(thread),
    })
}
