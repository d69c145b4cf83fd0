//! Bringing the devices up behind their rigs, and taking everything down again.
//!
//! [`Sim`] owns, in the order they are given back: the polling threads, the `/dev/uioN`
//! links, the devices (each with its rig: BAR files, fake sysfs tree, interrupt FIFO), the
//! shared `<rig-dir>/pci` directory that lists every device, the rig directory itself, and the
//! hugepage reservation. It is built up step by step, so a failure half-way through drops
//! exactly what was made (also when the process is stopped by a signal).

use crate::device_spec::{format_mac, PortPlan};
use ena_sim::config::DeviceConfig;
use ena_sim::transport::inproc::{RunnerOptions, SimRunner};
use ena_sim::transport::pci_rig::{
    hugetlbfs_page_size, HugepageDma, HugepageReservation, Rig, RigConfig, RigDevice, HUGEPAGE_SIZE,
};
use ena_sim::wire::spec::{self, WireHandle, WireRequest};
use ena_sim::wire::Wire;
use serde::Serialize;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What to build (the checked command line).
#[derive(Debug, Clone)]
pub struct Plan {
    /// The devices.
    pub ports: Vec<PortPlan>,
    /// The rig directory, and whether the user chose it.
    pub rig_dir: PathBuf,
    /// The hugetlbfs directory given with --huge-dir.
    pub huge_dir: Option<PathBuf>,
    /// Hugepages to reserve (--hugepages).
    pub hugepages: Option<usize>,
    /// The driver's default hugepage file prefix.
    pub file_prefix: String,
    /// CPUs for polling threads (empty: one unpinned thread).
    pub cores: Vec<usize>,
    /// Create /dev/uioN links.
    pub uio_links: bool,
}

/// One running device.
pub struct Port {
    /// What it was built from.
    pub plan: PortPlan,
    /// The device model (dropped before its rig).
    pub device: RigDevice,
    /// The far side of its wire.
    pub wire: WireHandle,
    /// The wire's own description.
    pub wire_desc: String,
    /// The MAC the driver will read (the wire's, if it has one).
    pub mac: [u8; 6],
    /// The MTU the device starts at (the wire's, if it has one).
    pub mtu: u32,
    /// The driver's hugepage file prefix for this device.
    pub file_prefix: String,
    rig: Rig,
}

/// Everything a driver (or a launcher) needs to reach one device.
#[derive(Debug, Clone, Serialize)]
pub struct PortInfo {
    /// Port index.
    pub port: usize,
    /// PCI address.
    pub bdf: String,
    /// The wire spec.
    pub wire: String,
    /// The wire's description.
    pub wire_desc: String,
    /// MAC address.
    pub mac: String,
    /// Starting MTU.
    pub mtu: u32,
    /// Queue pairs offered.
    pub queues: u32,
    /// LLQ offered.
    pub llq: bool,
    /// Readless register reads.
    pub readless: bool,
    /// The driver's hugepage file prefix.
    pub file_prefix: String,
    /// This device's own rig directory.
    pub rig: PathBuf,
    /// uio number (the driver opens /dev/uio<N>).
    pub uio: String,
    /// The interrupt FIFO (/dev/uio<N> for a DPDK PMD links here).
    pub uio_fifo: PathBuf,
    /// To bind-mount at /sys/class/uio for a DPDK PMD.
    pub class_uio: PathBuf,
    /// EAL arguments for this device alone.
    pub eal_args: Vec<String>,
}

/// The ready information: where everything is.
#[derive(Debug, Clone, Serialize)]
pub struct ReadyInfo {
    /// Always "ready".
    pub event: &'static str,
    /// This process.
    pub pid: u32,
    /// The rig directory.
    pub rig_dir: PathBuf,
    /// `--pci-sysfs` / `SYSFS_PCI_DEVICES` for any set of the devices.
    pub pci_sysfs: PathBuf,
    /// The hugetlbfs mount the driver allocates from.
    pub huge_dir: PathBuf,
    /// Hugepages added for this run (given back at exit).
    pub hugepages_reserved: usize,
    /// Per device.
    pub ports: Vec<PortInfo>,
    /// EAL arguments for all devices in one process (when they share a file prefix).
    pub eal_args: Vec<String>,
}

/// The running devices and everything they need.
pub struct Sim {
    runners: Vec<SimRunner>,
    uio_links: Vec<PathBuf>,
    /// The devices, in port order.
    pub ports: Vec<Port>,
    pci_links: Vec<PathBuf>,
    pci_dir: Option<PathBuf>,
    rig_dir: PathBuf,
    rig_dir_created: bool,
    huge_dir: PathBuf,
    hugepages: Option<HugepageReservation>,
}

impl Sim {
    /// Builds every device and starts polling. Wires are built first, so a bad wire spec is
    /// reported before anything exists on disk; the caller gets those as `Err(Usage)`.
    pub fn start(plan: &Plan) -> Result<Self, StartError> {
        let requests: Vec<WireRequest> = plan
            .ports
            .iter()
            .map(|p| WireRequest {
                name: format!("port{} ({})", p.index, p.bdf),
                spec: p.wire.clone(),
                mac: p.mac,
            })
            .collect();
        let wires = spec::build(&requests).map_err(|e| StartError::Usage(e.to_string()))?;

        let mut sim = Sim {
            runners: Vec::new(),
            uio_links: Vec::new(),
            ports: Vec::new(),
            pci_links: Vec::new(),
            pci_dir: None,
            rig_dir: plan.rig_dir.clone(),
            rig_dir_created: false,
            huge_dir: PathBuf::new(),
            hugepages: None,
        };
        sim.setup_hugepages(plan).map_err(StartError::Setup)?;
        sim.claim_rig_dir().map_err(StartError::Setup)?;
        for (p, (wire, handle)) in plan.ports.iter().zip(wires) {
            sim.add_port(plan, p, wire, handle)
                .map_err(|e| StartError::Setup(format!("port {} ({}): {e}", p.index, p.bdf)))?;
        }
        sim.link_pci_dir().map_err(StartError::Setup)?;
        if plan.uio_links {
            sim.link_uio().map_err(StartError::Setup)?;
        }
        sim.spawn_runners(&plan.cores).map_err(StartError::Setup)?;
        Ok(sim)
    }

    fn setup_hugepages(&mut self, plan: &Plan) -> Result<(), String> {
        if let Some(n) = plan.hugepages {
            let res = HugepageReservation::ensure(n, plan.huge_dir.as_deref())
                .map_err(|e| format!("--hugepages {n}: {e}"))?;
            self.huge_dir = res.dir().to_path_buf();
            self.hugepages = Some(res);
            return Ok(());
        }
        let dir = match &plan.huge_dir {
            Some(d) => d.clone(),
            None => find_hugetlbfs().ok_or(
                "no 2 MiB hugetlbfs mount found: mount one (mount -t hugetlbfs nodev /dev/hugepages), \
                 pass --huge-dir DIR, or let ena-sim reserve pages and mount one with --hugepages N",
            )?,
        };
        match hugetlbfs_page_size(&dir) {
            Ok(HUGEPAGE_SIZE) => {}
            Ok(other) => {
                return Err(format!(
                    "--huge-dir {}: its pages are {other} bytes; the rig needs 2 MiB pages",
                    dir.display()
                ))
            }
            Err(e) => return Err(format!("--huge-dir {}: {e}", dir.display())),
        }
        self.huge_dir = dir;
        Ok(())
    }

    fn claim_rig_dir(&mut self) -> Result<(), String> {
        let dir = self.rig_dir.clone();
        match fs::symlink_metadata(&dir) {
            Ok(m) if !m.is_dir() => Err(format!(
                "rig directory {} exists and is not a directory",
                dir.display()
            )),
            Ok(_) => match fs::read_dir(&dir) {
                Ok(mut it) => match it.next() {
                    None => Ok(()),
                    Some(_) => Err(format!(
                        "rig directory {} is not empty (another ena-sim, or a stale one?); \
                         refusing to use it",
                        dir.display()
                    )),
                },
                Err(e) => Err(format!("rig directory {}: {e}", dir.display())),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&dir)
                    .map_err(|e| format!("creating rig directory {}: {e}", dir.display()))?;
                self.rig_dir_created = true;
                Ok(())
            }
            Err(e) => Err(format!("rig directory {}: {e}", dir.display())),
        }
    }

    fn add_port(
        &mut self,
        plan: &Plan,
        p: &PortPlan,
        wire: Box<dyn Wire>,
        handle: WireHandle,
    ) -> Result<(), String> {
        let mut cfg = DeviceConfig::default().with_queues(p.queues);
        if !p.llq {
            cfg = cfg.without_llq();
        }
        cfg.mac = p.mac;
        cfg.mtu = p.mtu;
        let mac = wire.mac().unwrap_or(p.mac);
        // A host interface's MTU wins over the configured one (the device starts at it).
        let mtu = wire
            .mtu()
            .map_or(p.mtu, |m| m.clamp(cfg.min_mtu, cfg.max_mtu));
        let wire_desc = wire.describe();

        let mut rc =
            RigConfig::new(self.rig_dir.join(format!("port{}", p.index))).with_readless(p.readless);
        rc.bdf = p.bdf.clone();
        rc.bar0_size = cfg.bar0_size;
        rc.bar2_size = cfg.bar2_size();
        rc.shm_prefix = format!("ena-sim-{}-port{}", std::process::id(), p.index);
        rc.uio_index = p.index as u32;
        let rig = Rig::create(rc).map_err(|e| format!("building the rig: {e}"))?;

        let file_prefix = p
            .file_prefix
            .clone()
            .unwrap_or_else(|| plan.file_prefix.clone());
        let dma = HugepageDma::for_dpdk(&self.huge_dir, &file_prefix)
            .map_err(|e| format!("hugepage DMA in {}: {e}", self.huge_dir.display()))?;
        let device = RigDevice::new(&rig, cfg, wire, dma)
            .map_err(|e| format!("starting the device model: {e}"))?;
        // One pass before a runner owns the device publishes its view, so status lines can
        // read link and queue state from the first second on.
        device
            .shared()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .poll();
        self.ports.push(Port {
            plan: p.clone(),
            device,
            wire: handle,
            wire_desc,
            mac,
            mtu,
            file_prefix,
            rig,
        });
        Ok(())
    }

    /// `<rig-dir>/pci/<bdf>` → `../port<N>/pci/<bdf>` for every device, so one `--pci-sysfs`
    /// shows them all (real sysfs lists functions as symlinks too).
    fn link_pci_dir(&mut self) -> Result<(), String> {
        let pci = self.rig_dir.join("pci");
        fs::create_dir(&pci).map_err(|e| format!("creating {}: {e}", pci.display()))?;
        self.pci_dir = Some(pci.clone());
        for port in &self.ports {
            let link = pci.join(&port.plan.bdf);
            let target = Path::new("..")
                .join(format!("port{}", port.plan.index))
                .join("pci")
                .join(&port.plan.bdf);
            std::os::unix::fs::symlink(&target, &link)
                .map_err(|e| format!("linking {}: {e}", link.display()))?;
            self.pci_links.push(link);
        }
        Ok(())
    }

    fn link_uio(&mut self) -> Result<(), String> {
        for port in &self.ports {
            let link = PathBuf::from(format!("/dev/{}", port.rig.uio_name()));
            if fs::symlink_metadata(&link).is_ok() {
                return Err(format!(
                    "{} exists already; refusing to replace it (drop --uio-links, or remove it)",
                    link.display()
                ));
            }
            std::os::unix::fs::symlink(port.rig.fifo_path(), &link)
                .map_err(|e| format!("linking {}: {e}", link.display()))?;
            self.uio_links.push(link);
        }
        Ok(())
    }

    fn spawn_runners(&mut self, cores: &[usize]) -> Result<(), String> {
        let threads = cores.len().max(1);
        for t in 0..threads {
            let devices: Vec<_> = self
                .ports
                .iter()
                .enumerate()
                .filter(|(i, _)| i % threads == t)
                .map(|(_, p)| p.device.shared())
                .collect();
            if devices.is_empty() {
                continue;
            }
            let opts = RunnerOptions {
                core: cores.get(t).copied(),
                ..RunnerOptions::default()
            };
            let runner = SimRunner::spawn_shared(devices, opts)
                .map_err(|e| format!("starting a polling thread: {e}"))?;
            self.runners.push(runner);
        }
        Ok(())
    }

    /// Where everything is, for the driver.
    pub fn ready_info(&self) -> ReadyInfo {
        let pci_sysfs = self.rig_dir.join("pci");
        let base = |prefix: &str| -> Vec<String> {
            vec![
                "--pci-sysfs".into(),
                pci_sysfs.display().to_string(),
                "--huge-dir".into(),
                self.huge_dir.display().to_string(),
                "--file-prefix".into(),
                prefix.to_string(),
            ]
        };
        let allow = |p: &Port| -> Vec<String> {
            let devargs = if p.plan.llq { ",wc=proceed" } else { "" };
            vec!["-a".into(), format!("{}{devargs}", p.plan.bdf)]
        };
        let ports: Vec<PortInfo> = self
            .ports
            .iter()
            .map(|p| {
                let mut eal_args = allow(p);
                eal_args.extend(base(&p.file_prefix));
                PortInfo {
                    port: p.plan.index,
                    bdf: p.plan.bdf.clone(),
                    wire: p.plan.wire.clone(),
                    wire_desc: p.wire_desc.clone(),
                    mac: format_mac(&p.mac),
                    mtu: p.mtu,
                    queues: p.plan.queues,
                    llq: p.plan.llq,
                    readless: p.plan.readless,
                    file_prefix: p.file_prefix.clone(),
                    rig: p.rig.dir().to_path_buf(),
                    uio: p.rig.uio_name(),
                    uio_fifo: p.rig.fifo_path(),
                    class_uio: p.rig.class_uio_dir(),
                    eal_args,
                }
            })
            .collect();
        // One process can take several devices only with one file prefix: use the first
        // device's and list the devices that share it.
        let first_prefix = self
            .ports
            .first()
            .map(|p| p.file_prefix.clone())
            .unwrap_or_default();
        let mut eal_args: Vec<String> = self
            .ports
            .iter()
            .filter(|p| p.file_prefix == first_prefix)
            .flat_map(allow)
            .collect();
        eal_args.extend(base(&first_prefix));
        ReadyInfo {
            event: "ready",
            pid: std::process::id(),
            rig_dir: self.rig_dir.clone(),
            pci_sysfs,
            huge_dir: self.huge_dir.clone(),
            hugepages_reserved: self.hugepages.as_ref().map_or(0, |r| r.pages_added()),
            ports,
            eal_args,
        }
    }

    /// Whether the driver has free hugepages to allocate from, as far as /proc/meminfo says.
    pub fn free_hugepages() -> Option<u64> {
        let text = fs::read_to_string("/proc/meminfo").ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("HugePages_Free:"))
            .and_then(|v| v.trim().parse().ok())
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // Polling threads first: they hold the devices' locks.
        self.runners.clear();
        for link in self.uio_links.drain(..) {
            if let Err(e) = fs::remove_file(&link) {
                tracing::warn!("removing {}: {e}", link.display());
            }
        }
        for link in self.pci_links.drain(..) {
            if let Err(e) = fs::remove_file(&link) {
                tracing::warn!("removing {}: {e}", link.display());
            }
        }
        if let Some(pci) = self.pci_dir.take() {
            if let Err(e) = fs::remove_dir(&pci) {
                tracing::warn!("removing {}: {e}", pci.display());
            }
        }
        // Each port drops its device before its rig (field order), and the rig removes its
        // tree and BAR files.
        self.ports.clear();
        if self.rig_dir_created {
            if let Err(e) = fs::remove_dir(&self.rig_dir) {
                tracing::warn!("removing {}: {e}", self.rig_dir.display());
            }
        }
        // Last: nothing maps the driver's hugepage files any more.
        self.hugepages.take();
    }
}

/// Why the devices did not start.
#[derive(Debug)]
pub enum StartError {
    /// The command line cannot work anywhere (a bad wire spec).
    Usage(String),
    /// This machine could not do it.
    Setup(String),
}

/// The first 2 MiB hugetlbfs mount point, `/dev/hugepages` preferred.
pub fn find_hugetlbfs() -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut mounts: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            if !right.starts_with("hugetlbfs ") {
                return None;
            }
            // Mount points escape spaces and the like as octal; such paths are skipped.
            let point = left.split_whitespace().nth(4)?;
            (!point.contains('\\')).then(|| PathBuf::from(point))
        })
        .filter(|p| hugetlbfs_page_size(p).ok() == Some(HUGEPAGE_SIZE))
        .collect();
    mounts.sort_by_key(|p| p != Path::new("/dev/hugepages"));
    mounts.into_iter().next()
}
