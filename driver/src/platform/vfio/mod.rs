//! The VFIO platform: an ENA function bound to vfio-pci, reached through the kernel's VFIO
//! container/group/device interface, with an IOMMU (type1v2) or in no-IOMMU mode.
//!
//! One abstraction serves both modes; they differ only in the container's IOMMU type, the
//! group's node and where device addresses come from:
//!
//! | | IOMMU (`VFIO_TYPE1v2_IOMMU`) | no-IOMMU (`VFIO_NOIOMMU_IOMMU`) |
//! |---|---|---|
//! | group node | `/dev/vfio/<N>` | `/dev/vfio/noiommu-<N>` (needs CAP_SYS_RAWIO) |
//! | DMA memory | hugepages mapped with `VFIO_IOMMU_MAP_DMA`, IOVA = VA | hugepages, IOVA = physical address from pagemap (needs CAP_SYS_ADMIN) |
//!
//! Opening follows the kernel's documented sequence (Documentation/driver-api/vfio.rst):
//! container → API version and extension → group (viable?) → group into container → IOMMU type
//! → device fd. Then: device info (reset supported?), `VFIO_DEVICE_RESET` where supported,
//! bus mastering switched on in config space (vfio-pci leaves it off), BAR0 and BAR2 mapped
//! from their region info (sparse-mmap aware), and optionally an eventfd for the admin MSI-X
//! vector. Each step that can fail says in one line what is wrong and what to do.
//!
//! BAR2 (LLQ memory) wants a write-combining mapping; stock vfio-pci maps every BAR uncached
//! and has no way to ask for WC, so BAR2 follows [`WcPolicy`] unless the operator says the
//! kernel carries AWS's write-combining patch for vfio-pci ([`VfioOptions::assume_wc_bar2`]),
//! which maps prefetchable BARs write-combining.
//!
//! [`VfioDevice`] is the generic part (any function bound to vfio-pci: container, group,
//! device, regions, config space, DMA memory, MSI-X eventfds); [`VfioPlatform`] adds what is
//! ENA's (the id check, BAR0/BAR2 and the WC policy, the admin vector) and implements
//! [`Platform`]. The QEMU guest test drives `VfioDevice` with QEMU's own devices.
//!
//! Submodules: [`ioctl`] (the thin ioctl layer), [`region`] (pure parsers of info buffers),
//! [`group`] (sysfs discovery, no-IOMMU detection), [`bar`] (BAR mapping, config space),
//! [`dma`] (DMA memory), [`irq`] (eventfds).

pub mod bar;
pub mod dma;
pub mod group;
pub mod ioctl;
pub mod irq;
pub mod region;

pub use group::{
    iommu_group_of, noiommu_enabled, noiommu_state, GroupMember, NoIommuState, DEFAULT_DEV_ROOT,
    DEFAULT_SYSFS_ROOT,
};
pub use region::{parse_iommu_info, parse_region_info, IommuInfo, IovaRange, RegionInfo};

use super::pci::{parse_resource, PciAddress, WcPolicy, DEFAULT_HUGEPAGE_DIR};
use super::{Mmio, Platform};
use crate::error::{Error, Result};
use crate::mem::hugepage::HugepageAllocator;
use crate::mem::DmaRegion;
use dma::{DmaMapper, IommuDmaAllocator};
use irq::MsixEventFd;
use region::DeviceInfo;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vfio_bindings::bindings::vfio as uapi;

/// Linux `IORESOURCE_PREFETCH`: the BAR is prefetchable (what AWS's WC patch maps WC).
const IORESOURCE_PREFETCH: u64 = 0x2000;
/// ENA's admin/AENQ MSI-X vector.
pub const ADMIN_MSIX_VECTOR: u32 = 0;

/// Which VFIO mode to open a device in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VfioMode {
    /// No-IOMMU if the device's group is a no-IOMMU group, else IOMMU.
    #[default]
    Auto,
    /// Through the IOMMU (type1v2).
    Iommu,
    /// Without an IOMMU (the device sees physical addresses).
    NoIommu,
}

/// The mode a device was opened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IommuMode {
    /// `VFIO_TYPE1v2_IOMMU`.
    Type1v2,
    /// `VFIO_NOIOMMU_IOMMU`.
    NoIommu,
}

impl IommuMode {
    /// The container IOMMU type of vfio.h.
    pub fn vfio_type(self) -> u32 {
        match self {
            IommuMode::Type1v2 => uapi::VFIO_TYPE1v2_IOMMU,
            IommuMode::NoIommu => uapi::VFIO_NOIOMMU_IOMMU,
        }
    }

    /// A short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            IommuMode::Type1v2 => "type1v2",
            IommuMode::NoIommu => "noiommu",
        }
    }
}

/// How to find and set up the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VfioOptions {
    /// The sysfs mount (`/sys`).
    pub sysfs_root: PathBuf,
    /// The device directory holding `vfio/` (`/dev`).
    pub dev_root: PathBuf,
    /// IOMMU, no-IOMMU, or whichever the device's group is.
    pub mode: VfioMode,
    /// A hugetlbfs mount with 2 MiB pages for DMA memory.
    pub hugepage_dir: PathBuf,
    /// Hugepage files are named `<hugepage_prefix>...`.
    pub hugepage_prefix: String,
    /// What to do because vfio-pci cannot map BAR2 write-combining.
    pub wc: WcPolicy,
    /// The kernel's vfio-pci carries AWS's write-combining patch (amzn/amzn-drivers
    /// userspace/dpdk/enav2-vfio-patch), so a prefetchable BAR2 mmaps write-combining: map it
    /// and report it as WC. VFIO cannot tell, so the operator must.
    pub assume_wc_bar2: bool,
    /// Route the admin MSI-X vector to an eventfd ([`VfioPlatform::admin_irq`]); polling
    /// works without it.
    pub admin_irq: bool,
    /// Issue `VFIO_DEVICE_RESET` at open when the device supports it.
    pub reset: bool,
    /// The device's DMA address width, when it may be narrower than a virtual address (47
    /// bits): IOMMU mode then keeps IOVAs below `2^bits` instead of using IOVA = VA. `None`:
    /// any IOVA the IOMMU accepts. No effect in no-IOMMU mode (physical addresses are given).
    pub dma_addr_bits: Option<u32>,
}

impl Default for VfioOptions {
    fn default() -> Self {
        Self {
            sysfs_root: PathBuf::from(DEFAULT_SYSFS_ROOT),
            dev_root: PathBuf::from(DEFAULT_DEV_ROOT),
            mode: VfioMode::Auto,
            hugepage_dir: PathBuf::from(DEFAULT_HUGEPAGE_DIR),
            hugepage_prefix: format!("ena-rs-{}-", std::process::id()),
            wc: WcPolicy::default(),
            assume_wc_bar2: false,
            admin_irq: false,
            reset: true,
            dma_addr_bits: None,
        }
    }
}

/// Why VFIO cannot be used at all: the container node is missing.
pub fn vfio_unavailable_message(sysfs_root: &Path, dev_root: &Path) -> String {
    let node = group::container_node(dev_root);
    let why = if sysfs_root.join("module/vfio").is_dir() {
        format!(
            "the vfio module is loaded but {} is missing (is devtmpfs mounted on {}?)",
            node.display(),
            dev_root.display()
        )
    } else {
        format!(
            "{} does not exist because the vfio modules are not loaded; load them with \
             `modprobe vfio-pci` (for no-IOMMU mode first `modprobe vfio \
             enable_unsafe_noiommu_mode=1`)",
            node.display()
        )
    };
    format!("vfio is not available: {why}")
}

/// The error for a group node that vfio-pci should have made but did not.
pub fn missing_group_node_message(addr: &PciAddress, path: &Path, dev_root: &Path) -> String {
    format!(
        "{} does not exist although {addr} is bound to vfio-pci (is devtmpfs mounted on {}?); \
         rebind it with `enactl bind {addr}`",
        path.display(),
        dev_root.display()
    )
}

/// The error for a VFIO node (`path`) that exists but cannot be opened.
pub fn open_node_error(path: &Path, e: io::Error, mode: IommuMode) -> Error {
    let hint = match (e.raw_os_error(), mode) {
        (Some(libc::EPERM), IommuMode::NoIommu) => {
            " (no-IOMMU groups need CAP_SYS_RAWIO: run as root)".to_string()
        }
        (Some(libc::EACCES), _) | (Some(libc::EPERM), _) => format!(
            " (permission denied: run as root, or give this user access to {} with a udev rule \
             or chown)",
            path.display()
        ),
        (Some(libc::EBUSY), _) => {
            " (the group is already open: another process — another driver instance, DPDK or \
             QEMU — holds it)"
                .to_string()
        }
        _ => String::new(),
    };
    Error::io(format!("opening {}{hint}", path.display()), e)
}

/// The warning for BAR2 under vfio-pci, which maps it uncached, under `policy`.
pub fn vfio_wc_warning(addr: &PciAddress, policy: WcPolicy) -> String {
    let what = match policy {
        WcPolicy::Require => "refusing to open the device (write-combining BAR2 required)",
        WcPolicy::FallBackToHost => {
            "no BAR2 for LLQ: TX queues will be placed in host memory instead"
        }
        WcPolicy::Proceed => {
            "mapping BAR2 uncached: LLQ works, but each store to it is a separate uncached \
             write, which is slow"
        }
    };
    format!(
        "{addr}: BAR2 (LLQ device memory) cannot be mapped write-combining, because vfio-pci maps \
         BARs uncached (it has no write-combining mmap); {what}. To get a write-combining BAR2 \
         use vfio-pci with AWS's write-combining patch (amzn/amzn-drivers \
         userspace/dpdk/enav2-vfio-patch/get-vfio-with-wc.sh) and set assume_wc_bar2, or bind \
         the device to igb_uio loaded with wc_activate=1 (or a kernel exposing resource2_wc) and \
         use the PCI platform"
    )
}

/// A VFIO container holding the device's group, with the IOMMU type set. DMA memory keeps it
/// (and so the group) open until the last mapped page is unmapped.
#[derive(Debug)]
pub struct VfioContainer {
    container: File,
    group: File,
    group_id: u32,
    mode: IommuMode,
}

impl VfioContainer {
    /// Checks the container, puts the (viable) group in it and sets the IOMMU type.
    fn attach(
        container: File,
        group_file: File,
        group_id: u32,
        mode: IommuMode,
        addr: &PciAddress,
        opts: &VfioOptions,
    ) -> Result<Self> {
        let container_path = group::container_node(&opts.dev_root);
        let version = ioctl::get_api_version(container.as_fd()).map_err(|e| {
            Error::io(
                format!(
                    "{} is not a VFIO container (VFIO_GET_API_VERSION)",
                    container_path.display()
                ),
                e,
            )
        })?;
        if version != uapi::VFIO_API_VERSION as i32 {
            return Err(Error::Unsupported(format!(
                "the kernel's VFIO API version is {version}; this driver speaks version {}",
                uapi::VFIO_API_VERSION
            )));
        }
        let supported = ioctl::check_extension(container.as_fd(), mode.vfio_type())
            .map_err(|e| Error::io("VFIO_CHECK_EXTENSION", e))?;
        if !supported {
            return Err(Error::Config(match mode {
                IommuMode::Type1v2 => "the kernel's VFIO offers no type1v2 IOMMU backend; load \
                                       it with `modprobe vfio_iommu_type1`"
                    .to_string(),
                IommuMode::NoIommu => format!(
                    "the kernel's VFIO does not offer no-IOMMU mode: {}",
                    group::noiommu_hint(group::noiommu_state(&opts.sysfs_root))
                ),
            }));
        }
        let status = ioctl::group_get_status(group_file.as_fd())
            .map_err(|e| Error::io(format!("VFIO_GROUP_GET_STATUS of group {group_id}"), e))?;
        if status & uapi::VFIO_GROUP_FLAGS_VIABLE == 0 {
            let members = group::group_members(&opts.sysfs_root, group_id).unwrap_or_default();
            return Err(Error::Config(group::not_viable_message(
                addr, group_id, &members,
            )));
        }
        ioctl::group_set_container(group_file.as_fd(), container.as_fd())
            .map_err(|e| Error::io(format!("VFIO_GROUP_SET_CONTAINER of group {group_id}"), e))?;
        ioctl::set_iommu(container.as_fd(), mode.vfio_type()).map_err(|e| {
            let hint = if mode == IommuMode::Type1v2 && e.raw_os_error() == Some(libc::EPERM) {
                " (the IOMMU has no interrupt remapping: enable it, or load vfio_iommu_type1 with \
                 allow_unsafe_interrupts=1)"
            } else {
                ""
            };
            Error::io(format!("VFIO_SET_IOMMU({}){hint}", mode.name()), e)
        })?;
        Ok(Self {
            container,
            group: group_file,
            group_id,
            mode,
        })
    }

    /// The IOMMU group number.
    pub fn group_id(&self) -> u32 {
        self.group_id
    }

    /// The mode the container was set up in.
    pub fn mode(&self) -> IommuMode {
        self.mode
    }
}

impl DmaMapper for VfioContainer {
    fn map_dma(&self, vaddr: u64, iova: u64, size: u64) -> io::Result<()> {
        ioctl::iommu_map_dma(self.container.as_fd(), vaddr, iova, size)
    }

    fn unmap_dma(&self, iova: u64, size: u64) -> io::Result<()> {
        ioctl::iommu_unmap_dma(self.container.as_fd(), iova, size).map(drop)
    }
}

/// Where DMA memory comes from, by mode.
enum DmaBackend {
    Iommu(Arc<IommuDmaAllocator>),
    NoIommu(Arc<HugepageAllocator>),
}

impl DmaBackend {
    fn alloc(&self, len: usize, align: usize) -> Result<DmaRegion> {
        match self {
            DmaBackend::Iommu(a) => a.alloc(len, align),
            DmaBackend::NoIommu(a) => a.alloc(len, align),
        }
    }
}

/// Checks that VFIO exists at all and that the function does; returns its sysfs directory.
fn precheck(addr: &PciAddress, opts: &VfioOptions) -> Result<PathBuf> {
    if !group::container_node(&opts.dev_root).exists() {
        return Err(Error::Config(vfio_unavailable_message(
            &opts.sysfs_root,
            &opts.dev_root,
        )));
    }
    let dev_dir = group::pci_device_dir(&opts.sysfs_root, addr);
    if !dev_dir.is_dir() {
        return Err(Error::Config(format!(
            "PCI device {addr} not found under {}",
            opts.sysfs_root.join("bus/pci/devices").display()
        )));
    }
    Ok(dev_dir)
}

/// Any PCI function bound to vfio-pci, opened through VFIO: container and group set up, device
/// fd open, reset (where supported and asked for) and bus mastering on. Nothing ENA-specific —
/// [`VfioPlatform`] adds that — so the same code is exercised on QEMU's devices in a guest.
pub struct VfioDevice {
    addr: PciAddress,
    dev_dir: PathBuf,
    device_info: DeviceInfo,
    config: RegionInfo,
    iommu_info: Option<IommuInfo>,
    device: Arc<File>,
    container: Arc<VfioContainer>,
    hugepage_dir: PathBuf,
    hugepage_prefix: String,
    dma_addr_bits: Option<u32>,
    // Opened on first use, so that a device can be opened and inspected without hugepages.
    dma: Mutex<Option<Arc<DmaBackend>>>,
}

impl std::fmt::Debug for VfioDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VfioDevice")
            .field("addr", &self.addr.to_string())
            .field("mode", &self.container.mode)
            .field("group", &self.container.group_id)
            .field("device_info", &self.device_info)
            .finish_non_exhaustive()
    }
}

impl VfioDevice {
    /// Opens the function `bdf` (bound to vfio-pci) in the mode `opts` asks for.
    pub fn open(bdf: &str, opts: &VfioOptions) -> Result<Self> {
        let addr = PciAddress::parse(bdf)?;
        let dev_dir = precheck(&addr, opts)?;
        Self::open_checked(addr, dev_dir, opts)
    }

    fn open_checked(addr: PciAddress, dev_dir: PathBuf, opts: &VfioOptions) -> Result<Self> {
        let bdf = addr.to_string();
        match group::bound_driver(&opts.sysfs_root, &bdf)? {
            Some(d) if d == group::VFIO_PCI_DRIVER => {}
            Some(d) => {
                return Err(Error::Config(format!(
                    "{addr} is bound to `{d}`, not vfio-pci; bind it with `enactl bind {addr}`"
                )))
            }
            None => {
                return Err(Error::Config(format!(
                "{addr} is not bound to any driver; bind it to vfio-pci with `enactl bind {addr}`"
            )))
            }
        }

        let group_id = group::iommu_group_of(&opts.sysfs_root, &bdf)?;
        let noiommu_group = group::is_noiommu_group(&opts.sysfs_root, &opts.dev_root, group_id);
        let mode = group::resolve_mode(opts.mode, &addr, group_id, noiommu_group)
            .map_err(Error::Config)?;
        let group_path = group::group_node(&opts.dev_root, group_id, mode);
        if !group_path.exists() {
            return Err(Error::Config(missing_group_node_message(
                &addr,
                &group_path,
                &opts.dev_root,
            )));
        }
        let open_rw = |p: &Path| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(p)
                .map_err(|e| open_node_error(p, e, mode))
        };
        let group_file = open_rw(&group_path)?;
        let container_file = open_rw(&group::container_node(&opts.dev_root))?;
        let container = Arc::new(VfioContainer::attach(
            container_file,
            group_file,
            group_id,
            mode,
            &addr,
            opts,
        )?);

        let device = ioctl::group_get_device_fd(container.group.as_fd(), &bdf)
            .map_err(|e| Error::io(format!("VFIO_GROUP_GET_DEVICE_FD({addr})"), e))?;
        let device = Arc::new(File::from(device));
        let device_info = ioctl::device_get_info(device.as_fd())
            .map_err(|e| Error::io("VFIO_DEVICE_GET_INFO", e))
            .and_then(|b| region::parse_device_info(&b).map_err(invalid))?;
        if !device_info.is_pci() {
            return Err(Error::Unsupported(format!(
                "{addr} is not a vfio-pci device (device flags {:#x})",
                device_info.flags
            )));
        }
        if opts.reset {
            if device_info.reset_supported() {
                // Drivers work without it (ENA has its own reset), so a failure only warns.
                if let Err(e) = ioctl::device_reset(device.as_fd()) {
                    tracing::warn!(target: "ena::vfio", "{addr}: VFIO_DEVICE_RESET failed: {e}");
                }
            } else {
                tracing::debug!(target: "ena::vfio", "{addr}: no VFIO_DEVICE_RESET (device flags {:#x})", device_info.flags);
            }
        }

        let config = query_region(&device, uapi::VFIO_PCI_CONFIG_REGION_INDEX)?;
        let (old, new) = bar::enable_bus_master(&*device, config.offset)
            .map_err(|e| Error::io("enabling bus mastering through the VFIO config region", e))?;
        tracing::debug!(target: "ena::vfio", "{addr}: PCI command {old:#06x} -> {new:#06x}");

        let iommu_info = match mode {
            IommuMode::NoIommu => None,
            IommuMode::Type1v2 => Some(
                ioctl::iommu_get_info(container.container.as_fd())
                    .map_err(|e| Error::io("VFIO_IOMMU_GET_INFO", e))
                    .and_then(|b| region::parse_iommu_info(&b).map_err(invalid))?,
            ),
        };

        Ok(Self {
            addr,
            dev_dir,
            device_info,
            config,
            iommu_info,
            device,
            container,
            hugepage_dir: opts.hugepage_dir.clone(),
            hugepage_prefix: opts.hugepage_prefix.clone(),
            dma_addr_bits: opts.dma_addr_bits,
            dma: Mutex::new(None),
        })
    }

    /// The function's PCI address.
    pub fn address(&self) -> PciAddress {
        self.addr
    }

    /// The function's sysfs directory.
    pub fn sysfs_dir(&self) -> &Path {
        &self.dev_dir
    }

    /// The mode the device was opened in.
    pub fn mode(&self) -> IommuMode {
        self.container.mode
    }

    /// The IOMMU group number.
    pub fn group(&self) -> u32 {
        self.container.group_id
    }

    /// What `VFIO_DEVICE_GET_INFO` said.
    pub fn device_info(&self) -> DeviceInfo {
        self.device_info
    }

    /// The type1 IOMMU's info (page sizes, valid IOVA ranges); `None` in no-IOMMU mode.
    pub fn iommu_info(&self) -> Option<&IommuInfo> {
        self.iommu_info.as_ref()
    }

    /// The config-space region.
    pub fn config_region(&self) -> &RegionInfo {
        &self.config
    }

    /// Asks the kernel for region `index` (BARs 0–5, ROM 6, config 7).
    pub fn region_info(&self, index: u32) -> Result<RegionInfo> {
        query_region(&self.device, index)
    }

    /// Maps the mmappable part of BAR region `info` (from [`VfioDevice::region_info`]).
    pub fn map_bar(&self, info: &RegionInfo) -> Result<Mmio> {
        let what = format!("BAR{}", info.index);
        bar::map_region(&self.device, info, &what)
            .map_err(|e| Error::io(format!("mapping {what} of {} through VFIO", self.addr), e))
    }

    /// Reads config space at `off` into `buf`.
    pub fn read_config(&self, off: u64, buf: &mut [u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        self.device
            .read_exact_at(buf, self.config.offset + off)
            .map_err(|e| Error::io(format!("reading config space at {off:#x}"), e))
    }

    /// Writes `buf` to config space at `off`.
    pub fn write_config(&self, off: u64, buf: &[u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        self.device
            .write_all_at(buf, self.config.offset + off)
            .map_err(|e| Error::io(format!("writing config space at {off:#x}"), e))
    }

    /// Routes MSI-X `vector` to a new eventfd (disabled again when the result drops).
    pub fn msix_eventfd(&self, vector: u32) -> Result<MsixEventFd> {
        MsixEventFd::enable(self.device.clone(), vector)
    }

    /// Resets the function with `VFIO_DEVICE_RESET` (only where the device supports it), then
    /// switches bus mastering on again.
    pub fn reset(&self) -> Result<()> {
        if !self.device_info.reset_supported() {
            return Err(Error::Unsupported(format!(
                "{}: vfio-pci cannot reset this function (no VFIO_DEVICE_FLAGS_RESET)",
                self.addr
            )));
        }
        ioctl::device_reset(self.device.as_fd())
            .map_err(|e| Error::io(format!("VFIO_DEVICE_RESET of {}", self.addr), e))?;
        bar::enable_bus_master(&*self.device, self.config.offset)
            .map_err(|e| Error::io("enabling bus mastering through the VFIO config region", e))?;
        Ok(())
    }

    /// Zeroed DMA memory the device reaches at the region's IOVA: mapped into the IOMMU
    /// (IOVA = VA) in IOMMU mode, by physical address in no-IOMMU mode.
    pub fn alloc_dma(&self, len: usize, align: usize) -> Result<DmaRegion> {
        self.dma_backend()?.alloc(len, align)
    }

    fn dma_backend(&self) -> Result<Arc<DmaBackend>> {
        let mut slot = self.dma.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = slot.as_ref() {
            return Ok(b.clone());
        }
        let backend = Arc::new(match self.container.mode {
            IommuMode::Type1v2 => DmaBackend::Iommu(Arc::new(IommuDmaAllocator::new(
                &self.hugepage_dir,
                &self.hugepage_prefix,
                self.container.clone(),
                dma::clip_iova_ranges(
                    self.iommu_info
                        .as_ref()
                        .and_then(|i| i.iova_ranges.as_deref()),
                    self.dma_addr_bits,
                ),
            )?)),
            IommuMode::NoIommu => DmaBackend::NoIommu(Arc::new(dma::noiommu_allocator(
                &self.hugepage_dir,
                &self.hugepage_prefix,
            )?)),
        });
        *slot = Some(backend.clone());
        Ok(backend)
    }
}

/// An ENA function opened through VFIO: a [`VfioDevice`] with BAR0 and BAR2 mapped (BAR2 by the
/// write-combining policy) and, if asked, the admin MSI-X vector on an eventfd.
pub struct VfioPlatform {
    readless: bool,
    numa_node: u32,
    bar0_info: RegionInfo,
    bar2_info: Option<RegionInfo>,
    // Drops before `dev`: it disables MSI-X through the device fd.
    admin_irq: Option<MsixEventFd>,
    bar0: Mmio,
    bar2: Option<Mmio>,
    wc_mapped: bool,
    dev: VfioDevice,
    opened: Instant,
}

impl std::fmt::Debug for VfioPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VfioPlatform")
            .field("dev", &self.dev)
            .field("readless", &self.readless)
            .field("bar0", &self.bar0)
            .field("bar2", &self.bar2)
            .field("wc_mapped", &self.wc_mapped)
            .finish_non_exhaustive()
    }
}

impl VfioPlatform {
    /// Opens the ENA function `bdf` as the module docs describe.
    pub fn open(bdf: &str, opts: VfioOptions) -> Result<Self> {
        let addr = PciAddress::parse(bdf)?;
        let dev_dir = precheck(&addr, &opts)?;
        let vendor = read_hex_attr(&dev_dir, "vendor")?;
        let device_id = read_hex_attr(&dev_dir, "device")?;
        let ids = u16::try_from(vendor)
            .ok()
            .zip(u16::try_from(device_id).ok());
        if !ids.is_some_and(|(v, d)| ena_hw::is_ena_pci_id(v, d)) {
            return Err(Error::Unsupported(format!(
                "{addr} is not an ENA device (vendor:device {vendor:04x}:{device_id:04x})"
            )));
        }
        // Readless follows the class, as the PCI platform does (ena-device-spec.md §1.2).
        let readless = read_hex_attr(&dev_dir, "class")? & 1 == 0;
        let dev = VfioDevice::open_checked(addr, dev_dir, &opts)?;
        let mut revision = [0u8; 1];
        if dev.read_config(bar::PCI_REVISION_ID, &mut revision).is_ok()
            && (revision[0] & 1 == 0) != readless
        {
            tracing::warn!(target: "ena::vfio", "{addr}: revision id {:#04x} and class disagree on readless register reads; following the class", revision[0]);
        }

        let bar0_info = dev.region_info(uapi::VFIO_PCI_BAR0_REGION_INDEX)?;
        let bar0 = dev.map_bar(&bar0_info)?;
        if (bar0.len() as u64) < bar0_info.size {
            tracing::warn!(target: "ena::vfio", "{addr}: only {:#x} of BAR0's {:#x} bytes are mmappable; registers past that read as all-ones", bar0.len(), bar0_info.size);
        }

        let bar2_info =
            Some(dev.region_info(uapi::VFIO_PCI_BAR2_REGION_INDEX)?).filter(|i| i.size > 0);
        let (bar2, wc_mapped) = match &bar2_info {
            None => (None, false),
            Some(info) => {
                let prefetchable = bar2_prefetchable(dev.sysfs_dir());
                let wc = opts.assume_wc_bar2 && prefetchable;
                if opts.assume_wc_bar2 && !prefetchable {
                    tracing::warn!(target: "ena::vfio", "{addr}: assume_wc_bar2 is set but BAR2 is not prefetchable, so the write-combining patch does not apply to it");
                }
                match (wc, opts.wc) {
                    (true, _) => (Some(dev.map_bar(info)?), true),
                    (false, WcPolicy::Require) => {
                        return Err(Error::Unsupported(vfio_wc_warning(
                            &addr,
                            WcPolicy::Require,
                        )))
                    }
                    (false, WcPolicy::FallBackToHost) => {
                        tracing::warn!(target: "ena::vfio", "{}", vfio_wc_warning(&addr, WcPolicy::FallBackToHost));
                        (None, false)
                    }
                    (false, WcPolicy::Proceed) => {
                        tracing::warn!(target: "ena::vfio", "{}", vfio_wc_warning(&addr, WcPolicy::Proceed));
                        (Some(dev.map_bar(info)?), false)
                    }
                }
            }
        };

        let admin_irq = if opts.admin_irq {
            Some(dev.msix_eventfd(ADMIN_MSIX_VECTOR)?)
        } else {
            None
        };

        let platform = Self {
            readless,
            numa_node: read_numa_node(dev.sysfs_dir()),
            bar0_info,
            bar2_info,
            admin_irq,
            bar0,
            bar2,
            wc_mapped,
            dev,
            opened: Instant::now(),
        };
        tracing::info!(target: "ena::vfio", "opened {}", platform.describe());
        Ok(platform)
    }

    /// The VFIO device underneath.
    pub fn device(&self) -> &VfioDevice {
        &self.dev
    }

    /// The device's PCI address.
    pub fn address(&self) -> PciAddress {
        self.dev.addr
    }

    /// The mode the device was opened in.
    pub fn mode(&self) -> IommuMode {
        self.dev.mode()
    }

    /// The IOMMU group number.
    pub fn group(&self) -> u32 {
        self.dev.group()
    }

    /// Whether BAR2 is mapped write-combining.
    pub fn wc_mapped(&self) -> bool {
        self.wc_mapped
    }

    /// Region info of BAR0, BAR2 (if implemented) and config space, as found at open.
    pub fn region_info(&self, index: u32) -> Option<&RegionInfo> {
        match index {
            uapi::VFIO_PCI_BAR0_REGION_INDEX => Some(&self.bar0_info),
            uapi::VFIO_PCI_BAR2_REGION_INDEX => self.bar2_info.as_ref(),
            uapi::VFIO_PCI_CONFIG_REGION_INDEX => Some(self.dev.config_region()),
            _ => None,
        }
    }

    /// The admin MSI-X vector's eventfd, if [`VfioOptions::admin_irq`] asked for it.
    pub fn admin_irq(&self) -> Option<&MsixEventFd> {
        self.admin_irq.as_ref()
    }
}

impl Platform for VfioPlatform {
    fn bar0(&self) -> &Mmio {
        &self.bar0
    }

    fn bar2(&self) -> Option<&Mmio> {
        self.bar2.as_ref()
    }

    fn alloc_dma(&self, len: usize, align: usize) -> Result<DmaRegion> {
        self.dev.alloc_dma(len, align)
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
        self.dev.addr.encode()
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
        format!(
            "{} (vfio-pci {}, {reads}, {bar2})",
            self.dev.addr,
            self.dev.mode().name()
        )
    }
}

/// `VFIO_DEVICE_GET_REGION_INFO` for `index`, parsed.
fn query_region(device: &File, index: u32) -> Result<RegionInfo> {
    let bytes = ioctl::device_get_region_info(device.as_fd(), index)
        .map_err(|e| Error::io(format!("VFIO_DEVICE_GET_REGION_INFO({index})"), e))?;
    region::parse_region_info(&bytes).map_err(invalid)
}

fn invalid(why: String) -> Error {
    Error::io(
        "parsing a VFIO info buffer",
        io::Error::new(io::ErrorKind::InvalidData, why),
    )
}

/// Reads a sysfs attribute holding one hex number (`0x` optional).
fn read_hex_attr(dev: &Path, name: &str) -> Result<u64> {
    let path = dev.join(name);
    let text = fs::read_to_string(&path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let t = text.trim();
    let digits = t.strip_prefix("0x").unwrap_or(t);
    u64::from_str_radix(digits, 16).map_err(|_| {
        Error::io(
            format!("reading {}", path.display()),
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{t:?} is not a hex number"),
            ),
        )
    })
}

/// Whether sysfs `resource` marks BAR2 prefetchable (false if it cannot tell).
fn bar2_prefetchable(dev_dir: &Path) -> bool {
    fs::read_to_string(dev_dir.join("resource"))
        .ok()
        .and_then(|t| parse_resource(&t).ok())
        .and_then(|r| r.get(2).copied())
        .is_some_and(|r| r.flags & IORESOURCE_PREFETCH != 0)
}

/// `numa_node`, with "no node" (-1), a missing file or junk read as node 0.
fn read_numa_node(dev_dir: &Path) -> u32 {
    fs::read_to_string(dev_dir.join("numa_node"))
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}
