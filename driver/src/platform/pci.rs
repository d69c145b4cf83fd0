//! The PCI platform: a real ENA function (or the device model's PCI rig) reached through sysfs.
//!
//! This is the path DPDK's uio bus code takes (DPDK repository, `drivers/bus/pci/linux/pci.c`
//! and `pci_uio.c`; the project's `dpdk-peer-rig.md` §1 describes it), done in the driver itself:
//!
//! - `<sysfs>/<bdf>/{vendor,device,class,numa_node}` identify the function (hex text);
//!   `class` bit 0 (the programming interface's bit 0) says whether registers are read through
//!   the readless mechanism (clear) or with plain loads (set) — see `ena-device-spec.md` §1.2.
//! - `driver` is a symlink whose basename must name a userspace driver: `uio_pci_generic`,
//!   `igb_uio`, or `vfio-pci` in no-IOMMU mode. A kernel driver (`ena`) owning the function
//!   would fight us for it, and with an IOMMU in the way physical DMA addresses would not work.
//! - `resource` lists each BAR as `start end flags`; BAR0 (registers) and BAR2 (LLQ memory)
//!   are mapped `MAP_SHARED` from `resource0` and `resource2_wc`/`resource2`. A regular file
//!   works too, which is how the device model's rig (a fake sysfs tree over `/dev/shm` files)
//!   is attached.
//! - the config space file gets bus mastering and memory decoding switched on, since the
//!   device must DMA and nothing else enables it when no kernel driver probes the function.
//!
//! DMA memory comes from 2 MiB hugepages with physical addresses from `/proc/self/pagemap`
//! (uio offers no IOMMU mapping, so device addresses are physical addresses).

// Mapping BARs and wrapping them as `Mmio` cannot be done without unsafe; each block says why
// it holds.
#![allow(unsafe_code)]

use super::{Mmio, Platform};
use crate::error::{Error, Result};
use crate::mem::hugepage::HugepageAllocator;
use crate::mem::DmaRegion;
use memmap2::MmapOptions;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where Linux lists PCI functions (DPDK's default for `SYSFS_PCI_DEVICES`).
pub const DEFAULT_SYSFS_PCI_DEVICES: &str = "/sys/bus/pci/devices";
/// The usual hugetlbfs mount point.
pub const DEFAULT_HUGEPAGE_DIR: &str = "/dev/hugepages";

/// Kernel drivers that hand the function to userspace, as DPDK recognises them.
pub const USERSPACE_DRIVERS: [&str; 3] = ["uio_pci_generic", "igb_uio", "vfio-pci"];

/// Offset of the PCI command register in config space.
const PCI_COMMAND: u64 = 4;
/// Command register: respond to memory-space accesses (the BARs).
const PCI_COMMAND_MEMORY: u16 = 1 << 1;
/// Command register: the function may master the bus (DMA).
const PCI_COMMAND_MASTER: u16 = 1 << 2;
/// Offset of the revision id byte in config space (Linux tests its bit 0 for readless).
const PCI_REVISION_ID: u64 = 8;
/// Linux `IORESOURCE_MEM`: the `resource` line describes a memory BAR.
const IORESOURCE_MEM: u64 = 0x200;
/// BARs of a type-0 function; sysfs `resource` has at least this many lines (DPDK insists).
const PCI_STD_BARS: usize = 6;

/// What to do when BAR2 (LLQ memory) cannot be mapped write-combining.
///
/// LLQ pushes TX descriptors and packet headers into BAR2 with 64-bit stores; only a
/// write-combining mapping turns them into full PCIe bursts. The kernel offers one through
/// `resource2_wc` (created for prefetchable BARs); without it there is only the uncached
/// `resource2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WcPolicy {
    /// Fail to open the device.
    Require,
    /// Leave BAR2 unmapped, so the driver places TX queues in host memory (no LLQ).
    #[default]
    FallBackToHost,
    /// Map `resource2` uncached and use LLQ anyway (correct, but every store is a separate
    /// uncached write).
    Proceed,
}

/// How to find and set up the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PciOptions {
    /// The sysfs directory holding one entry per PCI function.
    pub sysfs_devices: PathBuf,
    /// A hugetlbfs mount with 2 MiB pages for DMA memory.
    pub hugepage_dir: PathBuf,
    /// Hugepage files are `<hugepage_prefix>map_<n>` (the device model's rig finds them by it).
    pub hugepage_prefix: String,
    /// What to do without a write-combining BAR2.
    pub wc: WcPolicy,
    /// Where config space is read and written; `None` means `<device dir>/config`, and then a
    /// missing file is skipped (the rig keeps it elsewhere). A path given here must exist.
    pub config_path: Option<PathBuf>,
}

impl Default for PciOptions {
    fn default() -> Self {
        Self {
            sysfs_devices: PathBuf::from(DEFAULT_SYSFS_PCI_DEVICES),
            hugepage_dir: PathBuf::from(DEFAULT_HUGEPAGE_DIR),
            hugepage_prefix: format!("ena-rs-{}-", std::process::id()),
            wc: WcPolicy::default(),
            config_path: None,
        }
    }
}

/// A PCI address, `DDDD:BB:DD.F`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    /// PCI domain (segment).
    pub domain: u16,
    /// Bus number.
    pub bus: u8,
    /// Device number, 0..=31.
    pub device: u8,
    /// Function number, 0..=7.
    pub function: u8,
}

impl PciAddress {
    /// Parses `DDDD:BB:DD.F` (as sysfs names functions) or the short `BB:DD.F` that `lspci`
    /// prints (domain 0).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            Error::Config(format!(
                "bad PCI address {s:?}: expected DDDD:BB:DD.F in hex, e.g. 0000:00:06.0"
            ))
        };
        let hex = |t: &str, digits: usize| -> Option<u32> {
            (t.len() == digits && t.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u32::from_str_radix(t, 16).ok())
                .flatten()
        };
        let (domain, rest) = match s.split_once(':') {
            Some((d, rest)) if rest.contains(':') => (hex(d, 4).ok_or_else(bad)?, rest),
            _ => (0, s),
        };
        let (bus, rest) = rest.split_once(':').ok_or_else(bad)?;
        let (device, function) = rest.split_once('.').ok_or_else(bad)?;
        let bus = hex(bus, 2).ok_or_else(bad)?;
        let device = hex(device, 2).filter(|&d| d < 32).ok_or_else(bad)?;
        let function = hex(function, 1).filter(|&f| f < 8).ok_or_else(bad)?;
        Ok(Self {
            domain: domain as u16,
            bus: bus as u8,
            device: device as u8,
            function: function as u8,
        })
    }

    /// `bus << 8 | device << 3 | function`, as the host-info page carries it.
    pub fn encode(&self) -> u16 {
        u16::from(self.bus) << 8 | u16::from(self.device) << 3 | u16::from(self.function)
    }
}

impl std::fmt::Display for PciAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

/// One line of sysfs `resource`: a BAR's bus address range and Linux `IORESOURCE_*` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciResource {
    /// First bus address.
    pub start: u64,
    /// Last bus address (inclusive).
    pub end: u64,
    /// `IORESOURCE_*` flags.
    pub flags: u64,
}

impl PciResource {
    /// The BAR's length if it is a memory BAR (what DPDK maps), else `None`.
    pub fn memory_len(&self) -> Option<u64> {
        if self.flags & IORESOURCE_MEM == 0 || self.end < self.start {
            return None;
        }
        (self.end - self.start).checked_add(1)
    }
}

/// Parses the text of sysfs `resource`: one `start end flags` line (hex, `0x` optional) per
/// resource, at least the six standard BARs.
pub fn parse_resource(text: &str) -> std::result::Result<Vec<PciResource>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let parsed: Option<Vec<u64>> = fields.iter().map(|f| parse_hex(f)).collect();
        match parsed.as_deref() {
            Some(&[start, end, flags]) => out.push(PciResource { start, end, flags }),
            _ => {
                return Err(format!(
                    "line {} is {line:?}, not \"start end flags\" in hex",
                    i + 1
                ))
            }
        }
    }
    if out.len() < PCI_STD_BARS {
        return Err(format!(
            "{} lines, expected at least {PCI_STD_BARS}",
            out.len()
        ));
    }
    Ok(out)
}

fn parse_hex(s: &str) -> Option<u64> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if digits.is_empty() {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// Why a driver binding needs explaining, if it does.
pub fn driver_note(driver: &str) -> Option<&'static str> {
    (driver == "vfio-pci").then_some(
        "with vfio-pci this driver maps the BARs from sysfs resource files and gives the device \
         physical addresses, which needs vfio in no-IOMMU mode (modprobe vfio \
         enable_unsafe_noiommu_mode=1, then bind) and root",
    )
}

/// The warning for a BAR2 without a write-combining mapping, under `policy`.
pub fn wc_warning(bdf: &PciAddress, dev_dir: &Path, policy: WcPolicy) -> String {
    let what = match policy {
        WcPolicy::Require => "refusing to open the device (write-combining BAR2 required)",
        WcPolicy::FallBackToHost => {
            "no BAR2 for LLQ: TX queues will be placed in host memory instead"
        }
        WcPolicy::Proceed => {
            "mapping resource2 uncached: LLQ works, but each store to it is a separate uncached \
             write, which is slow"
        }
    };
    format!(
        "{bdf}: BAR2 (LLQ device memory) cannot be mapped write-combining, because {} is \
         missing; {what}. To get a write-combining BAR2 bind the device to igb_uio loaded with \
         wc_activate=1, use a kernel that exposes resource2_wc for the device, or use vfio-pci \
         with AWS's write-combining patch (amzn/amzn-drivers \
         userspace/dpdk/enav2-vfio-patch/get-vfio-with-wc.sh)",
        dev_dir.join("resource2_wc").display()
    )
}

/// An ENA function reached through sysfs, BARs mapped, DMA from hugepages.
pub struct PciPlatform {
    addr: PciAddress,
    driver: String,
    readless: bool,
    numa_node: u32,
    resources: Vec<PciResource>,
    bar0: Mmio,
    bar2: Option<Mmio>,
    wc_mapped: bool,
    hugepage_dir: PathBuf,
    hugepage_prefix: String,
    // Opened on first use, so that a device can be opened and inspected without hugepages;
    // the driver's first allocation (the readless response buffer) follows right after open.
    dma: Mutex<Option<Arc<HugepageAllocator>>>,
    opened: Instant,
}

impl std::fmt::Debug for PciPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PciPlatform")
            .field("addr", &self.addr.to_string())
            .field("driver", &self.driver)
            .field("readless", &self.readless)
            .field("bar0", &self.bar0)
            .field("bar2", &self.bar2)
            .field("wc_mapped", &self.wc_mapped)
            .finish_non_exhaustive()
    }
}

impl PciPlatform {
    /// Opens the function `bdf` as the module docs describe.
    pub fn open(bdf: &str, opts: PciOptions) -> Result<Self> {
        let addr = PciAddress::parse(bdf)?;
        let dev = opts.sysfs_devices.join(addr.to_string());
        if !dev.is_dir() {
            return Err(Error::Config(format!(
                "PCI device {addr} not found under {}",
                opts.sysfs_devices.display()
            )));
        }

        let vendor = read_hex_attr(&dev, "vendor")?;
        let device = read_hex_attr(&dev, "device")?;
        let ids = u16::try_from(vendor).ok().zip(u16::try_from(device).ok());
        if !ids.is_some_and(|(v, d)| ena_hw::is_ena_pci_id(v, d)) {
            return Err(Error::Unsupported(format!(
                "{addr} is not an ENA device (vendor:device {vendor:04x}:{device:04x})"
            )));
        }

        let driver = bound_driver(&addr, &dev)?;
        if let Some(note) = driver_note(&driver) {
            tracing::info!(target: "ena::pci", "{addr}: {note}");
        }

        let class = read_hex_attr(&dev, "class")?;
        let readless = class & 1 == 0;

        let (config_path, explicit) = match &opts.config_path {
            Some(p) => (p.clone(), true),
            None => (dev.join("config"), false),
        };
        enable_device(&addr, &config_path, explicit, readless)?;

        let resource_path = dev.join("resource");
        let text = fs::read_to_string(&resource_path)
            .map_err(|e| Error::io(format!("reading {}", resource_path.display()), e))?;
        let resources = parse_resource(&text).map_err(|why| {
            Error::io(
                format!("parsing {}", resource_path.display()),
                io::Error::new(io::ErrorKind::InvalidData, why),
            )
        })?;

        let bar0_len = resources[0].memory_len().ok_or_else(|| {
            Error::Unsupported(format!(
                "{addr}: BAR0 is not a memory BAR ({} line 1)",
                resource_path.display()
            ))
        })?;
        let bar0 =
            map_bar(&dev.join("resource0"), bar0_len).map_err(|e| with_driver_hint(e, &driver))?;

        let (bar2, wc_mapped) = match resources[2].memory_len() {
            None => (None, false),
            Some(len) => {
                map_bar2(&addr, &dev, len, opts.wc).map_err(|e| with_driver_hint(e, &driver))?
            }
        };

        let numa_node = read_numa_node(&addr, &dev);

        let platform = Self {
            addr,
            driver,
            readless,
            numa_node,
            resources,
            bar0,
            bar2,
            wc_mapped,
            hugepage_dir: opts.hugepage_dir,
            hugepage_prefix: opts.hugepage_prefix,
            dma: Mutex::new(None),
            opened: Instant::now(),
        };
        tracing::info!(target: "ena::pci", "opened {}", platform.describe());
        Ok(platform)
    }

    /// The device's PCI address.
    pub fn address(&self) -> PciAddress {
        self.addr
    }

    /// The kernel driver the function is bound to.
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// Whether BAR2 is mapped write-combining.
    pub fn wc_mapped(&self) -> bool {
        self.wc_mapped
    }

    /// The lines of sysfs `resource`.
    pub fn resources(&self) -> &[PciResource] {
        &self.resources
    }

    /// The hugepage allocator this function's DMA memory comes from (opened on first use).
    /// Several ports share one, so that a packet-buffer pool serves them all, as DPDK's one
    /// hugepage heap does: see [`PciPlatform::use_allocator`].
    pub fn dma_allocator(&self) -> Result<Arc<HugepageAllocator>> {
        self.allocator()
    }

    /// Takes DMA memory from `alloc` (another port's, see [`PciPlatform::dma_allocator`])
    /// instead of opening its own. Must come before the first allocation, i.e. before
    /// [`crate::Port::open`]; physical addresses serve every device on the host, so any
    /// port may use memory from a shared heap.
    pub fn use_allocator(&self, alloc: Arc<HugepageAllocator>) -> Result<()> {
        let mut slot = self.dma.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return Err(Error::Config(format!(
                "{}: a DMA allocator must be chosen before the first allocation",
                self.addr
            )));
        }
        *slot = Some(alloc);
        Ok(())
    }

    fn allocator(&self) -> Result<Arc<HugepageAllocator>> {
        let mut slot = self.dma.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = slot.as_ref() {
            return Ok(a.clone());
        }
        let a = Arc::new(HugepageAllocator::new(
            &self.hugepage_dir,
            &self.hugepage_prefix,
        )?);
        *slot = Some(a.clone());
        Ok(a)
    }
}

impl Platform for PciPlatform {
    fn bar0(&self) -> &Mmio {
        &self.bar0
    }

    fn bar2(&self) -> Option<&Mmio> {
        self.bar2.as_ref()
    }

    fn alloc_dma(&self, len: usize, align: usize) -> Result<DmaRegion> {
        self.allocator()?.alloc(len, align)
    }

    fn readless(&self) -> bool {
        self.readless
    }

    fn delay(&self, d: Duration) {
        std::thread::sleep(d);
    }

    fn now(&self) -> Duration {
        self.opened.elapsed()
    }

    fn bdf(&self) -> u16 {
        self.addr.encode()
    }

    fn numa_node(&self) -> u32 {
        self.numa_node
    }

    fn describe(&self) -> String {
        let reads = if self.readless {
            "readless"
        } else {
            "plain reads"
        };
        let bar2 = match (&self.bar2, self.wc_mapped) {
            (None, _) => "no BAR2",
            (Some(_), true) => "BAR2 wc",
            (Some(_), false) => "BAR2 uncached",
        };
        format!("{} ({}, {reads}, {bar2})", self.addr, self.driver)
    }
}

/// Reads a sysfs attribute holding one hex number.
fn read_hex_attr(dev: &Path, name: &str) -> Result<u64> {
    let path = dev.join(name);
    let text = fs::read_to_string(&path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    parse_hex(text.trim()).ok_or_else(|| {
        Error::io(
            format!("reading {}", path.display()),
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{:?} is not a hex number", text.trim()),
            ),
        )
    })
}

/// The basename of the `driver` link, which must name a userspace driver.
fn bound_driver(addr: &PciAddress, dev: &Path) -> Result<String> {
    let link = dev.join("driver");
    let target = match fs::read_link(&link) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::Config(format!(
                "{addr} is not bound to a userspace driver; bind it with `enactl bind {addr}`"
            )))
        }
        Err(e) => return Err(Error::io(format!("reading {}", link.display()), e)),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !USERSPACE_DRIVERS.contains(&name.as_str()) {
        return Err(Error::Config(format!(
            "{addr} is bound to `{name}`, not to a userspace driver ({}); bind it with `enactl bind {addr}`",
            USERSPACE_DRIVERS.join(", ")
        )));
    }
    Ok(name)
}

/// Adds the vfio-pci requirement to a mapping failure, where it is the likely cause.
fn with_driver_hint(e: Error, driver: &str) -> Error {
    match (e, driver_note(driver)) {
        (Error::Io { what, source }, Some(note)) => Error::Io {
            what: format!("{what} ({note})"),
            source,
        },
        (e, _) => e,
    }
}

/// Checks the revision bit against the class and switches on memory decoding and bus mastering.
/// Returns the command register as left, or `None` when there is no config file to use.
fn enable_device(
    addr: &PciAddress,
    path: &Path,
    explicit: bool,
    readless: bool,
) -> Result<Option<u16>> {
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound && !explicit => {
            tracing::debug!(target: "ena::pci", "{addr}: no config space at {}; command register left alone", path.display());
            return Ok(None);
        }
        Err(e) => {
            return Err(Error::io(
                format!("opening config space {}", path.display()),
                e,
            ))
        }
    };
    let ctx = |what: &str| format!("{what} config space {}", path.display());
    let mut revision = [0u8; 1];
    file.read_exact_at(&mut revision, PCI_REVISION_ID)
        .map_err(|e| Error::io(ctx("reading the revision id from"), e))?;
    if (revision[0] & 1 == 0) != readless {
        // DPDK follows the class, Linux the revision; a device should keep them equal.
        tracing::warn!(
            target: "ena::pci",
            "{addr}: revision id {:#04x} and class disagree on readless register reads; following the class ({})",
            revision[0],
            if readless { "readless" } else { "plain reads" }
        );
    }
    let mut command = [0u8; 2];
    file.read_exact_at(&mut command, PCI_COMMAND)
        .map_err(|e| Error::io(ctx("reading the command register from"), e))?;
    let old = u16::from_le_bytes(command);
    let new = old | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    if new != old {
        file.write_all_at(&new.to_le_bytes(), PCI_COMMAND)
            .map_err(|e| Error::io(ctx("enabling bus mastering in"), e))?;
        tracing::debug!(target: "ena::pci", "{addr}: PCI command {old:#06x} -> {new:#06x}");
    }
    Ok(Some(new))
}

/// Maps `len` bytes of a BAR file shared and read-write.
fn map_bar(path: &Path, len: u64) -> Result<Mmio> {
    let ctx = |what: &str| format!("{what} {}", path.display());
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(ctx("opening"), e))?;
    let size = file
        .metadata()
        .map_err(|e| Error::io(ctx("inspecting"), e))?
        .len();
    // Touching a page past the end of a file raises SIGBUS, so a short file must be refused here.
    // (sysfs gives `resource<i>` the BAR's size.)
    if size < len {
        return Err(Error::io(
            ctx("mapping"),
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the file has {size} bytes but the BAR is {len} bytes"),
            ),
        ));
    }
    let len = usize::try_from(len).map_err(|_| {
        Error::io(
            ctx("mapping"),
            io::Error::new(io::ErrorKind::InvalidData, "BAR too large"),
        )
    })?;
    let map = MmapOptions::new()
        .len(len)
        .map_raw(&file)
        .map_err(|e| Error::io(ctx("mapping"), e))?;
    let base = map.as_mut_ptr();
    let backing: Arc<dyn Send + Sync> = Arc::new(map);
    // SAFETY: `base..base + len` is a live MAP_SHARED mapping of the BAR (checked to be backed by
    // the file for its whole length), page aligned, kept alive by `backing`, which the `Mmio`
    // holds. This process touches it only through `Mmio`'s volatile accesses.
    Ok(unsafe { Mmio::new(base, len, backing) })
}

/// Maps BAR2 by the write-combining policy; returns the mapping and whether it is WC.
fn map_bar2(
    addr: &PciAddress,
    dev: &Path,
    len: u64,
    policy: WcPolicy,
) -> Result<(Option<Mmio>, bool)> {
    let wc = dev.join("resource2_wc");
    match map_bar(&wc, len) {
        Ok(m) => return Ok((Some(m), true)),
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let warning = wc_warning(addr, dev, policy);
    match policy {
        WcPolicy::Require => Err(Error::Unsupported(warning)),
        WcPolicy::FallBackToHost => {
            tracing::warn!(target: "ena::pci", "{warning}");
            Ok((None, false))
        }
        WcPolicy::Proceed => {
            tracing::warn!(target: "ena::pci", "{warning}");
            Ok((Some(map_bar(&dev.join("resource2"), len)?), false))
        }
    }
}

/// `numa_node`, with "no node" (-1), a missing file or junk read as node 0.
fn read_numa_node(addr: &PciAddress, dev: &Path) -> u32 {
    let path = dev.join("numa_node");
    match fs::read_to_string(&path) {
        Ok(text) => match text.trim().parse::<i64>() {
            Ok(n) => u32::try_from(n).unwrap_or(0),
            Err(_) => {
                tracing::warn!(target: "ena::pci", "{addr}: {} holds {:?}; using NUMA node 0", path.display(), text.trim());
                0
            }
        },
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    const BDF: &str = "0000:00:06.0";

    /// A directory removed (with its contents) on drop, also when a test panics.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("ena-pci-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// The sysfs `resource` text of a function with a 16 KiB BAR0 and a 1 MiB BAR2 (the rig's
    /// values: BAR0 32-bit memory, BAR2 prefetchable memory).
    fn resource_text(bar2: bool) -> String {
        let mut lines =
            vec!["0x00000000fe800000 0x00000000fe803fff 0x0000000000040200".to_string()];
        lines.push("0x0000000000000000 0x0000000000000000 0x0000000000000000".into());
        lines.push(if bar2 {
            "0x00000000fe900000 0x00000000fe9fffff 0x000000000014220c".into()
        } else {
            "0x0000000000000000 0x0000000000000000 0x0000000000000000".into()
        });
        while lines.len() < 13 {
            lines.push("0x0000000000000000 0x0000000000000000 0x0000000000000000".into());
        }
        lines.join("\n") + "\n"
    }

    /// A fake sysfs tree with one ENA function at [`BDF`], bound to uio_pci_generic.
    struct FakeSysfs {
        root: TempDir,
    }

    impl FakeSysfs {
        fn new(tag: &str) -> Self {
            let s = Self {
                root: TempDir::new(tag),
            };
            fs::create_dir_all(s.dev()).unwrap();
            s.write("vendor", "0x1d0f\n");
            s.write("device", "0xec20\n");
            s.write("class", "0x020000\n");
            s.write("numa_node", "0\n");
            s.write("resource", &resource_text(true));
            s.sized("resource0", 16 * 1024);
            s.sized("resource2", 1024 * 1024);
            s.set_driver(Some("uio_pci_generic"));
            // Config space with memory decoding and bus mastering off, revision 0.
            let mut config = [0u8; 256];
            config[0..4].copy_from_slice(&[0x0f, 0x1d, 0x20, 0xec]);
            config[9..12].copy_from_slice(&[0x00, 0x00, 0x02]);
            fs::write(s.dev().join("config"), config).unwrap();
            s
        }

        fn devices(&self) -> PathBuf {
            self.root.0.join("devices")
        }

        fn dev(&self) -> PathBuf {
            self.devices().join(BDF)
        }

        fn write(&self, name: &str, text: &str) {
            fs::write(self.dev().join(name), text).unwrap();
        }

        fn sized(&self, name: &str, len: u64) {
            fs::File::create(self.dev().join(name))
                .unwrap()
                .set_len(len)
                .unwrap();
        }

        fn remove(&self, name: &str) {
            fs::remove_file(self.dev().join(name)).unwrap();
        }

        fn set_driver(&self, name: Option<&str>) {
            let link = self.dev().join("driver");
            let _ = fs::remove_file(&link);
            if let Some(name) = name {
                std::os::unix::fs::symlink(format!("../../../bus/pci/drivers/{name}"), link)
                    .unwrap();
            }
        }

        fn config(&self) -> Vec<u8> {
            fs::read(self.dev().join("config")).unwrap()
        }

        fn opts(&self) -> PciOptions {
            PciOptions {
                sysfs_devices: self.devices(),
                // A plain directory: not hugetlbfs, so DMA allocation fails.
                hugepage_dir: self.root.0.clone(),
                ..PciOptions::default()
            }
        }

        fn open(&self) -> Result<PciPlatform> {
            PciPlatform::open(BDF, self.opts())
        }

        fn open_err(&self) -> String {
            match self.open() {
                Ok(p) => panic!("opened {}", p.describe()),
                Err(e) => e.to_string(),
            }
        }
    }

    #[test]
    fn pci_address_parse_display_and_encode() {
        let a = PciAddress::parse("0000:00:06.0").unwrap();
        assert_eq!((a.domain, a.bus, a.device, a.function), (0, 0, 6, 0));
        assert_eq!(a.encode(), 0x30);
        assert_eq!(a.to_string(), "0000:00:06.0");
        let a = PciAddress::parse("00a1:1A:1f.7").unwrap();
        assert_eq!(
            (a.domain, a.bus, a.device, a.function),
            (0xa1, 0x1a, 0x1f, 7)
        );
        assert_eq!(a.encode(), 0x1aff);
        assert_eq!(a.to_string(), "00a1:1a:1f.7");
        // lspci's short form means domain 0.
        assert_eq!(
            PciAddress::parse("00:10.0").unwrap().to_string(),
            "0000:00:10.0"
        );
        assert_eq!(PciAddress::parse("00:10.0").unwrap().encode(), 0x80);
    }

    #[test]
    fn pci_bad_bdf_is_rejected_with_the_expected_form() {
        let fake = FakeSysfs::new("badbdf");
        for bad in [
            "",
            "0000:00:06",
            "0000:00:06.",
            "0000:00:6.0",
            "000:00:06.0",
            "0000:0g:06.0",
            "0000:00:20.0",
            "0000:00:06.8",
            "0000:00:06.0 ",
            "0000:00:06.0.1",
            "../../etc",
            "0000:00:06:0",
        ] {
            let err = PciPlatform::open(bad, fake.opts()).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid configuration: bad PCI address {bad:?}: expected DDDD:BB:DD.F in hex, e.g. 0000:00:06.0"),
            );
        }
    }

    #[test]
    fn pci_device_not_found() {
        let fake = FakeSysfs::new("notfound");
        let err = PciPlatform::open("0000:00:07.0", fake.opts()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid configuration: PCI device 0000:00:07.0 not found under {}",
                fake.devices().display()
            )
        );
    }

    #[test]
    fn pci_not_an_ena_device() {
        let fake = FakeSysfs::new("virtio");
        fake.write("vendor", "0x1af4\n");
        fake.write("device", "0x1000\n");
        assert_eq!(
            fake.open_err(),
            "unsupported device: 0000:00:06.0 is not an ENA device (vendor:device 1af4:1000)"
        );
        // An Amazon id that is not an ENA function (NVMe).
        fake.write("vendor", "0x1d0f\n");
        fake.write("device", "0x8061\n");
        assert_eq!(
            fake.open_err(),
            "unsupported device: 0000:00:06.0 is not an ENA device (vendor:device 1d0f:8061)"
        );
        fake.write("device", "garbage\n");
        assert_eq!(
            fake.open_err(),
            format!(
                "reading {}: \"garbage\" is not a hex number",
                fake.dev().join("device").display()
            )
        );
    }

    #[test]
    fn pci_every_ena_id_is_accepted() {
        let fake = FakeSysfs::new("ids");
        for id in ena_hw::PCI_DEVICE_IDS {
            fake.write("device", &format!("{id:#06x}\n"));
            assert!(fake.open().is_ok(), "device id {id:#06x}");
        }
    }

    #[test]
    fn pci_not_bound_and_unknown_driver() {
        let fake = FakeSysfs::new("unbound");
        fake.set_driver(None);
        assert_eq!(
            fake.open_err(),
            "invalid configuration: 0000:00:06.0 is not bound to a userspace driver; bind it with `enactl bind 0000:00:06.0`"
        );
        fake.set_driver(Some("ena"));
        assert_eq!(
            fake.open_err(),
            "invalid configuration: 0000:00:06.0 is bound to `ena`, not to a userspace driver (uio_pci_generic, \
             igb_uio, vfio-pci); bind it with `enactl bind 0000:00:06.0`"
        );
        for ok in USERSPACE_DRIVERS {
            fake.set_driver(Some(ok));
            let p = fake.open().unwrap();
            assert_eq!(p.driver(), ok);
            assert_eq!(
                p.describe(),
                format!("0000:00:06.0 ({ok}, readless, no BAR2)")
            );
        }
    }

    #[test]
    fn pci_vfio_pci_explains_noiommu() {
        let fake = FakeSysfs::new("vfio");
        fake.set_driver(Some("vfio-pci"));
        let note = driver_note("vfio-pci").unwrap();
        assert!(
            note.contains("no-IOMMU mode")
                && note.contains("enable_unsafe_noiommu_mode=1")
                && note.contains("root")
        );
        assert_eq!(driver_note("uio_pci_generic"), None);
        assert_eq!(driver_note("igb_uio"), None);
        // A mapping failure under vfio-pci carries the explanation.
        fake.remove("resource0");
        assert_eq!(
            fake.open_err(),
            format!(
                "opening {} ({note}): No such file or directory (os error 2)",
                fake.dev().join("resource0").display()
            )
        );
        // Under uio the same failure is just the failure.
        fake.set_driver(Some("uio_pci_generic"));
        assert_eq!(
            fake.open_err(),
            format!(
                "opening {}: No such file or directory (os error 2)",
                fake.dev().join("resource0").display()
            )
        );
    }

    #[test]
    fn pci_readless_or_plain_reads_from_class() {
        let fake = FakeSysfs::new("class");
        let p = fake.open().unwrap();
        assert!(p.readless());
        assert_eq!(
            p.describe(),
            "0000:00:06.0 (uio_pci_generic, readless, no BAR2)"
        );
        drop(p);
        fake.write("class", "0x020001\n");
        let p = fake.open().unwrap();
        assert!(!p.readless());
        assert_eq!(
            p.describe(),
            "0000:00:06.0 (uio_pci_generic, plain reads, no BAR2)"
        );
        drop(p);
        // The class decides even when the revision disagrees (DPDK's rule; a warning is logged).
        let mut config = fake.config();
        config[8] = 1;
        fs::write(fake.dev().join("config"), &config).unwrap();
        fake.write("class", "0x020000\n");
        assert!(fake.open().unwrap().readless());
        fake.write("class", "ethernet\n");
        assert_eq!(
            fake.open_err(),
            format!(
                "reading {}: \"ethernet\" is not a hex number",
                fake.dev().join("class").display()
            )
        );
    }

    #[test]
    fn pci_resource_parsing() {
        let res = parse_resource(&resource_text(true)).unwrap();
        assert_eq!(res.len(), 13);
        assert_eq!(
            res[0],
            PciResource {
                start: 0xfe80_0000,
                end: 0xfe80_3fff,
                flags: 0x40200
            }
        );
        assert_eq!(res[0].memory_len(), Some(16 * 1024));
        assert_eq!(res[1].memory_len(), None);
        assert_eq!(res[2].memory_len(), Some(1024 * 1024));
        // An I/O port BAR (IORESOURCE_IO 0x100) is not mapped.
        let io = PciResource {
            start: 0xc000,
            end: 0xc03f,
            flags: 0x40101,
        };
        assert_eq!(io.memory_len(), None);
        // Without 0x and with tabs, as long as there are three hex fields.
        let plain = "fe800000\tfe803fff 40200\n0 0 0\n0 0 0\n0 0 0\n0 0 0\n0 0 0\n";
        assert_eq!(parse_resource(plain).unwrap()[0].memory_len(), Some(0x4000));
        // A memory BAR whose end is below its start is treated as absent rather than huge.
        let backwards = PciResource {
            start: 0x2000,
            end: 0x1000,
            flags: 0x200,
        };
        assert_eq!(backwards.memory_len(), None);
        let full = PciResource {
            start: 0,
            end: u64::MAX,
            flags: 0x200,
        };
        assert_eq!(full.memory_len(), None);

        assert_eq!(
            parse_resource("0x0 0x0 0x0\n").unwrap_err(),
            "1 lines, expected at least 6"
        );
        assert_eq!(
            parse_resource("0x0 0x0\n").unwrap_err(),
            "line 1 is \"0x0 0x0\", not \"start end flags\" in hex"
        );
        assert_eq!(
            parse_resource("0x0 0x0 0x0\n0x0 zz 0x0\n").unwrap_err(),
            "line 2 is \"0x0 zz 0x0\", not \"start end flags\" in hex"
        );
        assert_eq!(
            parse_resource("0x0 0x 0x0\n").unwrap_err(),
            "line 1 is \"0x0 0x 0x0\", not \"start end flags\" in hex"
        );

        let fake = FakeSysfs::new("resource");
        fake.write("resource", "0x0 0x0 0x0\n");
        assert_eq!(
            fake.open_err(),
            format!(
                "parsing {}: 1 lines, expected at least 6",
                fake.dev().join("resource").display()
            )
        );
        // BAR0 must be a memory BAR.
        fake.write(
            "resource",
            &resource_text(false).replacen("0x0000000000040200", "0x0000000000040100", 1),
        );
        assert_eq!(
            fake.open_err(),
            format!(
                "unsupported device: 0000:00:06.0: BAR0 is not a memory BAR ({} line 1)",
                fake.dev().join("resource").display()
            )
        );
        fake.write("resource", &resource_text(true));
        let p = fake.open().unwrap();
        assert_eq!(p.resources()[0].memory_len(), Some(16 * 1024));
        assert_eq!(p.resources()[2].memory_len(), Some(1024 * 1024));
    }

    #[test]
    fn pci_bar0_maps_the_resource_file_shared() {
        let fake = FakeSysfs::new("bar0");
        // The file is longer than the BAR: only the BAR's length is mapped.
        fake.sized("resource0", 64 * 1024);
        let p = fake.open().unwrap();
        let bar0 = p.bar0();
        assert_eq!(bar0.len(), 16 * 1024);
        bar0.write32(0x2c, 0x1234_5678);
        bar0.write32(0x3ffc, 0xa5a5_0001);
        let bytes = fs::read(fake.dev().join("resource0")).unwrap();
        assert_eq!(&bytes[0x2c..0x30], &[0x78, 0x56, 0x34, 0x12]);
        assert_eq!(&bytes[0x3ffc..0x4000], &[0x01, 0x00, 0xa5, 0xa5]);
        assert!(bytes[..0x2c].iter().all(|&b| b == 0));
        // And writes by someone else (the device) show through.
        let f = OpenOptions::new()
            .write(true)
            .open(fake.dev().join("resource0"))
            .unwrap();
        f.write_all_at(&0x0000_000au32.to_le_bytes(), 0).unwrap();
        assert_eq!(bar0.read32(0), 0x0a);
        // Past the BAR reads as a missing device.
        assert_eq!(bar0.read32(0x4000), u32::MAX);
    }

    #[test]
    fn pci_bar0_shorter_than_the_bar_is_refused() {
        let fake = FakeSysfs::new("short");
        fake.sized("resource0", 4096);
        assert_eq!(
            fake.open_err(),
            format!(
                "mapping {}: the file has 4096 bytes but the BAR is 16384 bytes",
                fake.dev().join("resource0").display()
            )
        );
    }

    #[test]
    fn pci_bar2_write_combining_is_preferred() {
        let fake = FakeSysfs::new("wc");
        fake.sized("resource2_wc", 1024 * 1024);
        for policy in [
            WcPolicy::Require,
            WcPolicy::FallBackToHost,
            WcPolicy::Proceed,
        ] {
            let p = PciPlatform::open(
                BDF,
                PciOptions {
                    wc: policy,
                    ..fake.opts()
                },
            )
            .unwrap();
            assert!(p.wc_mapped());
            let bar2 = p.bar2().unwrap();
            assert_eq!(bar2.len(), 1024 * 1024);
            assert!(bar2.write_words(0x80, &[0x1122_3344_5566_7788]));
            assert_eq!(
                p.describe(),
                "0000:00:06.0 (uio_pci_generic, readless, BAR2 wc)"
            );
        }
        let wc = fs::read(fake.dev().join("resource2_wc")).unwrap();
        assert_eq!(&wc[0x80..0x88], &0x1122_3344_5566_7788u64.to_le_bytes());
        // The uncached file was not touched.
        assert!(fs::read(fake.dev().join("resource2"))
            .unwrap()
            .iter()
            .all(|&b| b == 0));
    }

    #[test]
    fn pci_bar2_without_write_combining_follows_the_policy() {
        let fake = FakeSysfs::new("nowc");
        let addr = PciAddress::parse(BDF).unwrap();

        let err = PciPlatform::open(
            BDF,
            PciOptions {
                wc: WcPolicy::Require,
                ..fake.opts()
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "unsupported device: {}",
                wc_warning(&addr, &fake.dev(), WcPolicy::Require)
            )
        );

        let p = PciPlatform::open(
            BDF,
            PciOptions {
                wc: WcPolicy::FallBackToHost,
                ..fake.opts()
            },
        )
        .unwrap();
        assert!(p.bar2().is_none() && !p.wc_mapped());
        assert_eq!(
            p.describe(),
            "0000:00:06.0 (uio_pci_generic, readless, no BAR2)"
        );
        assert_eq!(PciOptions::default().wc, WcPolicy::FallBackToHost);

        let p = PciPlatform::open(
            BDF,
            PciOptions {
                wc: WcPolicy::Proceed,
                ..fake.opts()
            },
        )
        .unwrap();
        assert!(!p.wc_mapped());
        assert!(p.bar2().unwrap().write_words(0x100, &[0xdead_beef]));
        assert_eq!(
            p.describe(),
            "0000:00:06.0 (uio_pci_generic, readless, BAR2 uncached)"
        );
        let bytes = fs::read(fake.dev().join("resource2")).unwrap();
        assert_eq!(&bytes[0x100..0x108], &0xdead_beefu64.to_le_bytes());

        // The warnings say why and what to do.
        let w = wc_warning(&addr, &fake.dev(), WcPolicy::FallBackToHost);
        assert_eq!(
            w,
            format!(
                "0000:00:06.0: BAR2 (LLQ device memory) cannot be mapped write-combining, because {} is missing; \
                 no BAR2 for LLQ: TX queues will be placed in host memory instead. To get a write-combining BAR2 \
                 bind the device to igb_uio loaded with wc_activate=1, use a kernel that exposes resource2_wc for \
                 the device, or use vfio-pci with AWS's write-combining patch (amzn/amzn-drivers \
                 userspace/dpdk/enav2-vfio-patch/get-vfio-with-wc.sh)",
                fake.dev().join("resource2_wc").display()
            )
        );
        assert!(wc_warning(&addr, &fake.dev(), WcPolicy::Proceed)
            .contains("mapping resource2 uncached"));
        assert!(wc_warning(&addr, &fake.dev(), WcPolicy::Require)
            .contains("refusing to open the device"));

        // Proceed with no resource2 file at all: the open fails on that file.
        fake.remove("resource2");
        let err = PciPlatform::open(
            BDF,
            PciOptions {
                wc: WcPolicy::Proceed,
                ..fake.opts()
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "opening {}: No such file or directory (os error 2)",
                fake.dev().join("resource2").display()
            )
        );
    }

    #[test]
    fn pci_no_bar2_is_host_placement_under_every_policy() {
        let fake = FakeSysfs::new("nobar2");
        fake.write("resource", &resource_text(false));
        fake.remove("resource2");
        for policy in [
            WcPolicy::Require,
            WcPolicy::FallBackToHost,
            WcPolicy::Proceed,
        ] {
            let p = PciPlatform::open(
                BDF,
                PciOptions {
                    wc: policy,
                    ..fake.opts()
                },
            )
            .unwrap();
            assert!(p.bar2().is_none() && !p.wc_mapped());
        }
    }

    #[test]
    fn pci_command_register_gets_bus_master_and_memory() {
        let fake = FakeSysfs::new("config");
        let mut config = fake.config();
        config[4..6].copy_from_slice(&0x0400u16.to_le_bytes()); // INTx disabled, rest off
        fs::write(fake.dev().join("config"), &config).unwrap();
        fake.open().unwrap();
        let after = fake.config();
        assert_eq!(u16::from_le_bytes([after[4], after[5]]), 0x0406);
        // Nothing else in config space changed.
        assert_eq!(&after[..4], &config[..4]);
        assert_eq!(&after[6..], &config[6..]);

        // An explicit config path is used instead of <dev>/config.
        let elsewhere = fake.root.0.join("classuio-config");
        fs::write(&elsewhere, [0u8; 256]).unwrap();
        PciPlatform::open(
            BDF,
            PciOptions {
                config_path: Some(elsewhere.clone()),
                ..fake.opts()
            },
        )
        .unwrap();
        assert_eq!(&fs::read(&elsewhere).unwrap()[4..6], &[0x06, 0x00]);

        // No config file where sysfs would have it: skipped.
        fake.remove("config");
        assert!(fake.open().is_ok());
        // A config path that was asked for must exist.
        let missing = fake.root.0.join("missing-config");
        let err = PciPlatform::open(
            BDF,
            PciOptions {
                config_path: Some(missing.clone()),
                ..fake.opts()
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "opening config space {}: No such file or directory (os error 2)",
                missing.display()
            )
        );
        // A truncated config space is an error, not a silent skip.
        fs::write(&missing, [0u8; 6]).unwrap();
        let err = PciPlatform::open(
            BDF,
            PciOptions {
                config_path: Some(missing.clone()),
                ..fake.opts()
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "reading the revision id from config space {}: failed to fill whole buffer",
                missing.display()
            )
        );
    }

    #[test]
    fn pci_numa_node_bdf_and_time() {
        let fake = FakeSysfs::new("numa");
        fake.write("numa_node", "-1\n");
        let p = fake.open().unwrap();
        assert_eq!(p.numa_node(), 0);
        assert_eq!(p.bdf(), 0x30);
        assert_eq!(p.address().to_string(), BDF);
        let t0 = p.now();
        p.delay(Duration::from_millis(5));
        assert!(p.now() >= t0 + Duration::from_millis(5));
        drop(p);
        fake.write("numa_node", "1\n");
        assert_eq!(fake.open().unwrap().numa_node(), 1);
        fake.write("numa_node", "banana\n");
        assert_eq!(fake.open().unwrap().numa_node(), 0);
        fake.remove("numa_node");
        assert_eq!(fake.open().unwrap().numa_node(), 0);
    }

    #[test]
    fn pci_dma_without_hugepages_fails_on_use_not_on_open() {
        let fake = FakeSysfs::new("nodma");
        let p = fake.open().unwrap();
        let expected = format!("{} is not a hugetlbfs mount", fake.root.0.display());
        let err = p.alloc_dma(4096, 64).unwrap_err().to_string();
        assert!(err.contains(&expected), "{err}");
        // And keeps failing the same way (nothing half-initialised is cached).
        let err = p.alloc_dma(4096, 64).unwrap_err().to_string();
        assert!(err.contains(&expected), "{err}");
    }

    /// End to end on the device model's PCI rig: open the rig's sysfs tree, then read VERSION
    /// through the readless mechanism by hand, answered by the device model on its own thread
    /// through the rig's shared BAR file and our hugepage memory.
    #[cfg(feature = "sim")]
    #[test]
    fn pci_rig_readless_version_read() {
        use ena_hw::regs::{off, MmioRegReadReq, MMIO_READ_POISON};
        use ena_sim::config::DeviceConfig;
        use ena_sim::transport::inproc::{RunnerOptions, SimRunner};
        use ena_sim::transport::pci_rig::{
            HugepageDma, HugepageReservation, Rig, RigConfig, RigDevice,
        };
        use ena_sim::wire::Loopback;

        if let Err(why) = HugepageReservation::available() {
            println!("SKIPPED: {why}");
            return;
        }
        // Declared first so that it is dropped last: pages and mount go back even on a panic.
        let res = match HugepageReservation::ensure(8, None) {
            Ok(r) => r,
            Err(e) => {
                println!("SKIPPED: hugepages: {e}");
                return;
            }
        };
        let tag = format!("ena-pci-rig-{}", std::process::id());
        // The rig accepts an empty directory and removes only what it made in it.
        let rig_dir = TempDir::new("rig");
        let mut rc = RigConfig::new(&rig_dir.0);
        rc.shm_prefix = tag.clone();
        let rig = Rig::create(rc).expect("rig");

        let prefix = format!("{tag}-");
        let opts = PciOptions {
            sysfs_devices: rig.sysfs_pci_devices(),
            hugepage_dir: res.dir().to_owned(),
            hugepage_prefix: prefix.clone(),
            wc: WcPolicy::Proceed,
            config_path: Some(rig.config_path()),
        };
        let p = PciPlatform::open(&rig.config().bdf, opts).expect("open the rig");
        assert!(p.readless());
        assert_eq!(p.bdf(), 0x80);
        assert_eq!(p.bar0().len(), 16 * 1024);
        assert_eq!(p.bar2().map(Mmio::len), Some(1024 * 1024));
        assert_eq!(
            p.describe(),
            "0000:00:10.0 (uio_pci_generic, readless, BAR2 uncached)"
        );
        // The rig powers on with memory + bus master + INTx disable; open keeps all three.
        let config = fs::read(rig.config_path()).unwrap();
        assert_eq!(u16::from_le_bytes([config[4], config[5]]), 0x0406);

        // The device's view probes /proc/self/pagemap: root without CAP_SYS_ADMIN (a container)
        // sees no physical addresses, a missing prerequisite rather than a failure.
        let device_dma = match HugepageDma::new(res.dir(), &prefix) {
            Ok(d) => d,
            Err(e) => {
                println!("SKIPPED: physical addresses of hugepages: {e}");
                return;
            }
        };
        let resp = p
            .alloc_dma(4096, 64)
            .expect("DMA memory from the hugepage allocator");
        let dev = RigDevice::new(
            &rig,
            DeviceConfig::default(),
            Box::new(Loopback::new(64, true)),
            device_dma,
        )
        .expect("rig device");
        let runner =
            SimRunner::spawn_shared(vec![dev.shared()], RunnerOptions::default()).expect("runner");

        let bar0 = p.bar0();
        bar0.write32(off::MMIO_RESP_LO, resp.iova() as u32);
        bar0.write32(off::MMIO_RESP_HI, (resp.iova() >> 32) as u32);
        let seq: u16 = 1;
        resp.write(0, seq.wrapping_add(MMIO_READ_POISON));
        bar0.write32(
            off::MMIO_REG_READ,
            MmioRegReadReq::new(off::VERSION as u16, seq).0,
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while resp.load_u16_acquire(0) != seq && Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(
            resp.load_u16_acquire(0),
            seq,
            "the device answered the readless read"
        );
        assert_eq!(resp.read::<u16>(2), off::VERSION as u16);
        assert_eq!(resp.read::<u32>(4), 0x0a);

        drop(runner);
        drop(dev);
        drop(resp);
        drop(p);
        drop(rig);
        drop(res);
    }
}
