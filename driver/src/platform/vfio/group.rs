//! Finding a function's VFIO group from sysfs, and deciding between IOMMU and no-IOMMU mode.
//!
//! Every function here reads files under an injectable sysfs root (normally `/sys`) and device
//! root (normally `/dev`), so tests and `enactl` run them against fake trees. The layout is the
//! kernel's:
//!
//! - `<sysfs>/bus/pci/devices/<BDF>/driver` links to the bound driver; `iommu_group` links to
//!   `<sysfs>/kernel/iommu_groups/<N>`, whose `devices/` lists every function of the group.
//! - vfio-pci makes `/dev/vfio/<N>` for a group behind a real IOMMU. In no-IOMMU mode
//!   (`<sysfs>/module/vfio/parameters/enable_unsafe_noiommu_mode` = `Y`, which needs a kernel
//!   built with `CONFIG_VFIO_NOIOMMU`) binding vfio-pci to a function without an IOMMU creates a
//!   fake group named `vfio-noiommu` (its `name` file) whose node is `/dev/vfio/noiommu-<N>`
//!   (torvalds/linux drivers/vfio/group.c, `vfio_noiommu_group_alloc`).
//! - A group is viable — usable through VFIO — only when no function in it is driven by a
//!   kernel driver that uses the kernel's DMA domain. vfio drivers, `pci-stub` and `pcieport`
//!   declare `driver_managed_dma` and do not count. The kernel's `VFIO_GROUP_GET_STATUS` is the
//!   authority; the sysfs view here only names the culprits in the error.

use super::{IommuMode, VfioMode};
use crate::error::{Error, Result};
use crate::platform::pci::PciAddress;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The default sysfs mount.
pub const DEFAULT_SYSFS_ROOT: &str = "/sys";
/// The default device directory.
pub const DEFAULT_DEV_ROOT: &str = "/dev";
/// The kernel driver a function must be bound to.
pub const VFIO_PCI_DRIVER: &str = "vfio-pci";
/// The vfio module parameter that switches no-IOMMU mode on, under the sysfs root.
pub const NOIOMMU_PARAM: &str = "module/vfio/parameters/enable_unsafe_noiommu_mode";
/// The `name` of a fake IOMMU group made by vfio for a function without an IOMMU.
pub const NOIOMMU_GROUP_NAME: &str = "vfio-noiommu";

/// `<sysfs>/bus/pci/devices/<addr>`.
pub fn pci_device_dir(sysfs_root: &Path, addr: &PciAddress) -> PathBuf {
    sysfs_root.join("bus/pci/devices").join(addr.to_string())
}

/// `<sysfs>/kernel/iommu_groups/<group>`.
pub fn iommu_group_dir(sysfs_root: &Path, group: u32) -> PathBuf {
    sysfs_root
        .join("kernel/iommu_groups")
        .join(group.to_string())
}

/// The VFIO container node, `<dev>/vfio/vfio`.
pub fn container_node(dev_root: &Path) -> PathBuf {
    dev_root.join("vfio/vfio")
}

/// The group's node: `<dev>/vfio/<N>`, or `<dev>/vfio/noiommu-<N>` in no-IOMMU mode.
pub fn group_node(dev_root: &Path, group: u32, mode: IommuMode) -> PathBuf {
    match mode {
        IommuMode::Type1v2 => dev_root.join(format!("vfio/{group}")),
        IommuMode::NoIommu => dev_root.join(format!("vfio/noiommu-{group}")),
    }
}

fn link_basename(link: &Path) -> io::Result<Option<String>> {
    match fs::read_link(link) {
        Ok(target) => Ok(target.file_name().map(|n| n.to_string_lossy().into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The driver `bdf` is bound to (the basename of its `driver` link), `None` if unbound.
pub fn bound_driver(sysfs_root: &Path, bdf: &str) -> Result<Option<String>> {
    let addr = PciAddress::parse(bdf)?;
    let link = pci_device_dir(sysfs_root, &addr).join("driver");
    link_basename(&link).map_err(|e| Error::io(format!("reading {}", link.display()), e))
}

/// The IOMMU group number of `bdf`, from its `iommu_group` link. A function without one gets a
/// message saying how to give it one (an IOMMU, or no-IOMMU mode and vfio-pci).
pub fn iommu_group_of(sysfs_root: &Path, bdf: &str) -> Result<u32> {
    let addr = PciAddress::parse(bdf)?;
    let link = pci_device_dir(sysfs_root, &addr).join("iommu_group");
    let name = link_basename(&link)
        .map_err(|e| Error::io(format!("reading {}", link.display()), e))?
        .ok_or_else(|| Error::Config(no_group_message(&addr, noiommu_state(sysfs_root))))?;
    name.parse::<u32>().map_err(|_| {
        Error::io(
            format!("reading {}", link.display()),
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the link names group {name:?}, not a number"),
            ),
        )
    })
}

/// Why a function has no IOMMU group, and what to do, given the no-IOMMU state.
pub fn no_group_message(addr: &PciAddress, state: NoIommuState) -> String {
    let fix = match state {
        NoIommuState::Enabled => format!(
            "no-IOMMU mode is on, so binding it to vfio-pci (`enactl bind {addr}`) creates a \
             no-IOMMU group"
        ),
        other => format!(
            "enable an IOMMU (intel_iommu=on or amd_iommu=on on the kernel command line), or use \
             no-IOMMU mode: {}",
            noiommu_hint(other)
        ),
    };
    format!("{addr} has no IOMMU group: the kernel sees no IOMMU for it; {fix}")
}

/// One function of an IOMMU group and the driver bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// Its PCI address as sysfs names it.
    pub bdf: String,
    /// The bound driver, `None` if unbound.
    pub driver: Option<String>,
}

/// The functions of IOMMU group `group`, sorted by address.
pub fn group_members(sysfs_root: &Path, group: u32) -> Result<Vec<GroupMember>> {
    let dir = iommu_group_dir(sysfs_root, group).join("devices");
    let entries =
        fs::read_dir(&dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
    let mut members = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        let driver = link_basename(&entry.path().join("driver")).map_err(|e| {
            Error::io(
                format!("reading {}", entry.path().join("driver").display()),
                e,
            )
        })?;
        members.push(GroupMember {
            bdf: entry.file_name().to_string_lossy().into_owned(),
            driver,
        });
    }
    members.sort_by(|a, b| a.bdf.cmp(&b.bdf));
    Ok(members)
}

/// Whether a function bound to `driver` leaves its group viable for VFIO: unbound, a vfio
/// driver (vfio-pci or a vendor variant such as `mlx5_vfio_pci`), or a driver that declares
/// `driver_managed_dma` and so does not claim the group's DMA (torvalds/linux
/// drivers/pci/pci-stub.c, drivers/pci/pcie/portdrv.c).
pub fn driver_keeps_group_viable(driver: Option<&str>) -> bool {
    match driver {
        None => true,
        Some(d) => d.contains("vfio") || d == "pci-stub" || d == "pcieport",
    }
}

/// The members whose drivers make the group unusable for VFIO.
pub fn group_blockers(members: &[GroupMember]) -> Vec<&GroupMember> {
    members
        .iter()
        .filter(|m| !driver_keeps_group_viable(m.driver.as_deref()))
        .collect()
}

/// The error for a group the kernel says is not viable, naming what sysfs shows in the way.
pub fn not_viable_message(addr: &PciAddress, group: u32, members: &[GroupMember]) -> String {
    let blockers = group_blockers(members);
    let who = if blockers.is_empty() {
        let all: Vec<&str> = members.iter().map(|m| m.bdf.as_str()).collect();
        format!(
            "a function in it is in use by a kernel driver (members: {})",
            all.join(", ")
        )
    } else {
        let list: Vec<String> = blockers
            .iter()
            .map(|m| {
                format!(
                    "{} (bound to `{}`)",
                    m.bdf,
                    m.driver.as_deref().unwrap_or("")
                )
            })
            .collect();
        format!("other functions share it: {}", list.join(", "))
    };
    format!(
        "IOMMU group {group} of {addr} is not viable: {who}; bind every function of the group to \
         vfio-pci (`enactl bind <BDF>`) or unbind them"
    )
}

/// Whether vfio's no-IOMMU mode is available and on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoIommuState {
    /// `enable_unsafe_noiommu_mode` is `Y`.
    Enabled,
    /// `enable_unsafe_noiommu_mode` is `N`.
    Disabled,
    /// vfio is loaded but has no such parameter: the kernel lacks `CONFIG_VFIO_NOIOMMU`.
    NotBuiltIn,
    /// `<sysfs>/module/vfio` does not exist.
    VfioNotLoaded,
}

/// Parses the parameter file: the kernel prints a bool parameter as `Y` or `N`.
pub fn parse_noiommu_param(text: &str) -> Option<bool> {
    match text.trim() {
        "Y" | "y" | "1" => Some(true),
        "N" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Reads the no-IOMMU state under `sysfs_root`. An unreadable or odd parameter reads as off.
pub fn noiommu_state(sysfs_root: &Path) -> NoIommuState {
    match fs::read_to_string(sysfs_root.join(NOIOMMU_PARAM)) {
        Ok(text) => match parse_noiommu_param(&text) {
            Some(true) => NoIommuState::Enabled,
            _ => NoIommuState::Disabled,
        },
        Err(_) if sysfs_root.join("module/vfio").is_dir() => NoIommuState::NotBuiltIn,
        Err(_) => NoIommuState::VfioNotLoaded,
    }
}

/// Whether no-IOMMU mode is on (`enable_unsafe_noiommu_mode` = `Y`).
pub fn noiommu_enabled(sysfs_root: &Path) -> bool {
    noiommu_state(sysfs_root) == NoIommuState::Enabled
}

/// What to do to get no-IOMMU mode from `state`.
pub fn noiommu_hint(state: NoIommuState) -> &'static str {
    match state {
        NoIommuState::Enabled => "no-IOMMU mode is on",
        NoIommuState::Disabled => {
            "no-IOMMU mode is off; switch it on with `echo Y > \
             /sys/module/vfio/parameters/enable_unsafe_noiommu_mode` (or load vfio with \
             enable_unsafe_noiommu_mode=1), then rebind the device to vfio-pci"
        }
        NoIommuState::NotBuiltIn => {
            "this kernel's vfio was built without CONFIG_VFIO_NOIOMMU, so no-IOMMU mode is not \
             available (use an IOMMU, or uio: igb_uio / uio_pci_generic with the PCI platform)"
        }
        NoIommuState::VfioNotLoaded => {
            "the vfio module is not loaded; `modprobe vfio enable_unsafe_noiommu_mode=1` then \
             `modprobe vfio-pci`"
        }
    }
}

/// Whether `group` is a no-IOMMU group: named `vfio-noiommu`, or with a `noiommu-<N>` node.
pub fn is_noiommu_group(sysfs_root: &Path, dev_root: &Path, group: u32) -> bool {
    let named = fs::read_to_string(iommu_group_dir(sysfs_root, group).join("name"))
        .is_ok_and(|n| n.trim() == NOIOMMU_GROUP_NAME);
    named || group_node(dev_root, group, IommuMode::NoIommu).exists()
}

/// The mode to use for a function in `group`, given what was asked for.
pub fn resolve_mode(
    requested: VfioMode,
    addr: &PciAddress,
    group: u32,
    noiommu_group: bool,
) -> std::result::Result<IommuMode, String> {
    match (requested, noiommu_group) {
        (VfioMode::Auto, false) | (VfioMode::Iommu, false) => Ok(IommuMode::Type1v2),
        (VfioMode::Auto, true) | (VfioMode::NoIommu, true) => Ok(IommuMode::NoIommu),
        (VfioMode::Iommu, true) => Err(format!(
            "{addr} is in no-IOMMU group {group} (the kernel has no IOMMU for it), so IOMMU mode \
             cannot be used; open it in no-IOMMU mode (mode noiommu or auto)"
        )),
        (VfioMode::NoIommu, false) => Err(format!(
            "{addr} is behind an IOMMU (group {group}), so no-IOMMU mode does not apply to it; \
             open it in IOMMU mode (mode iommu or auto)"
        )),
    }
}
