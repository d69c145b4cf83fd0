//! The system trees `enactl` reads and writes — sysfs, devfs, procfs and the run directory —
//! behind root directories given on the command line, so that every command can run against
//! a fake tree in a temporary directory (which is how the tests run them).
//!
//! A PCI function is described the way the kernel publishes it under
//! `<sysfs>/bus/pci/devices/<DDDD:BB:DD.F>/`: `vendor`, `device`, `class` (hex text),
//! `numa_node`, the `driver` and `iommu_group` symlinks (whose last component is the name),
//! `driver_override`, and `net/<ifname>/` for a function a network driver owns.

use crate::error::{CliError, Result};
use ena::platform::pci::PciAddress;
use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The driver userspace drivers hand devices to.
pub const VFIO_PCI: &str = "vfio-pci";
/// Linux's ENA driver.
pub const ENA_KERNEL_DRIVER: &str = "ena";
/// 2 MiB: the only hugepage size the `ena` crate allocates DMA memory from.
pub const HUGEPAGE_KB: u64 = 2048;

/// Linux `IFF_UP` in `<net>/<if>/flags`.
const IFF_UP: u32 = 0x1;

/// Where the system trees are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// sysfs (`/sys`).
    pub sysfs: PathBuf,
    /// devfs (`/dev`).
    pub dev: PathBuf,
    /// procfs (`/proc`).
    pub proc: PathBuf,
    /// The runtime state directory (`/run`), where `bind` records the original driver.
    pub run: PathBuf,
}

impl Roots {
    /// `<sysfs>/bus/pci/devices`.
    pub fn pci_devices(&self) -> PathBuf {
        self.sysfs.join("bus/pci/devices")
    }

    /// `<sysfs>/bus/pci/devices/<addr>`.
    pub fn device_dir(&self, addr: &PciAddress) -> PathBuf {
        self.pci_devices().join(addr.to_string())
    }

    /// `<sysfs>/bus/pci/drivers/<name>`.
    pub fn driver_dir(&self, name: &str) -> PathBuf {
        self.sysfs.join("bus/pci/drivers").join(name)
    }

    /// `<sysfs>/bus/pci/drivers_probe`: asks the kernel to find a driver for a device.
    pub fn drivers_probe(&self) -> PathBuf {
        self.sysfs.join("bus/pci/drivers_probe")
    }

    /// The vfio module parameter that allows devices without an IOMMU.
    pub fn noiommu_param(&self) -> PathBuf {
        self.sysfs
            .join("module/vfio/parameters/enable_unsafe_noiommu_mode")
    }

    /// `<sysfs>/kernel/iommu_groups`: empty or absent when the machine has no IOMMU.
    pub fn iommu_groups(&self) -> PathBuf {
        self.sysfs.join("kernel/iommu_groups")
    }

    /// The file recording the driver a device had before `enactl bind`.
    pub fn state_file(&self, addr: &PciAddress) -> PathBuf {
        self.run
            .join("enactl")
            .join(format!("{addr}.original-driver"))
    }

    /// Whether any tree is the real system's (then changing it needs root).
    pub fn touches_system(&self) -> bool {
        self.sysfs == Path::new("/sys")
            || self.dev == Path::new("/dev")
            || self.proc == Path::new("/proc")
    }
}

/// Fails with [`CliError::NotRoot`] when the command would change the real system and the
/// process is not root. Fake trees (tests) need no privileges.
pub fn require_root(roots: &Roots, command: &'static str) -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 && roots.touches_system() {
        return Err(CliError::NotRoot(command));
    }
    Ok(())
}

/// Reads a small text attribute, trimmed. `None` when it does not exist.
pub fn read_attr(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::io("reading", path, e)),
    }
}

/// Parses a sysfs hex attribute (`0x1d0f`).
pub fn parse_hex(text: &str) -> Option<u32> {
    let t = text.trim();
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    u32::from_str_radix(digits, 16).ok()
}

/// Writes `value` to an existing attribute, as `echo -n value > path` does. The file is never
/// created: writing to a sysfs attribute that is not there is always a mistake.
pub fn write_attr(path: &Path, value: &str) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|e| CliError::io("opening", path, e))?;
    f.write_all(value.as_bytes())
        .map_err(|e| CliError::io(&format!("writing {value:?} to"), path, e))
}

/// The last component of a symlink's target (`driver` → `ena`), `None` when there is no link.
pub fn link_name(path: &Path) -> Result<Option<String>> {
    match fs::read_link(path) {
        Ok(target) => Ok(target.file_name().map(|n| n.to_string_lossy().into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::io("reading the link", path, e)),
    }
}

/// One network interface of a PCI function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its name (`eth1`, `ens6`).
    pub name: String,
    /// `IFF_UP` is set.
    pub up: bool,
}

/// What sysfs says about one PCI function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PciFunction {
    /// Its address.
    pub addr: PciAddress,
    /// Its sysfs directory.
    pub dir: PathBuf,
    /// PCI vendor id.
    pub vendor: u16,
    /// PCI device id.
    pub device: u16,
    /// Class code (24 bits: class, subclass, programming interface).
    pub class: u32,
    /// The bound driver.
    pub driver: Option<String>,
    /// The IOMMU group (a number; absent without an IOMMU unless vfio made one).
    pub iommu_group: Option<String>,
    /// NUMA node (`None` for -1, "unknown").
    pub numa_node: Option<u32>,
    /// Network interfaces (`net/*`), sorted.
    pub interfaces: Vec<Interface>,
}

impl PciFunction {
    /// Reads the function at `addr`; [`CliError::NotFound`] when sysfs has no such device.
    pub fn read(roots: &Roots, addr: &PciAddress) -> Result<Self> {
        let dir = roots.device_dir(addr);
        if !dir.is_dir() {
            return Err(CliError::NotFound(format!(
                "PCI device {addr} not found (no {}); `enactl list` shows the network devices",
                dir.display()
            )));
        }
        Self::read_dir(addr, dir)
    }

    fn read_dir(addr: &PciAddress, dir: PathBuf) -> Result<Self> {
        let hex = |name: &str| -> Result<u32> {
            let path = dir.join(name);
            let text = read_attr(&path)?
                .ok_or_else(|| CliError::NotFound(format!("{} is missing", path.display())))?;
            parse_hex(&text)
                .ok_or_else(|| CliError::Device(format!("{} is not hex: {text:?}", path.display())))
        };
        let vendor = u16::try_from(hex("vendor")?).unwrap_or(0xffff);
        let device = u16::try_from(hex("device")?).unwrap_or(0xffff);
        let class = hex("class")?;
        let numa_node = read_attr(&dir.join("numa_node"))?
            .and_then(|s| s.parse::<i64>().ok())
            .and_then(|n| u32::try_from(n).ok());
        let mut interfaces = Vec::new();
        if let Ok(entries) = fs::read_dir(dir.join("net")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let flags = read_attr(&e.path().join("flags"))?
                    .as_deref()
                    .and_then(parse_hex)
                    .unwrap_or(0);
                interfaces.push(Interface {
                    name,
                    up: flags & IFF_UP != 0,
                });
            }
        }
        interfaces.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self {
            addr: *addr,
            driver: link_name(&dir.join("driver"))?,
            iommu_group: link_name(&dir.join("iommu_group"))?,
            dir,
            vendor,
            device,
            class,
            numa_node,
            interfaces,
        })
    }

    /// Whether this is an ENA function.
    pub fn is_ena(&self) -> bool {
        ena::hw::is_ena_pci_id(self.vendor, self.device)
    }

    /// Whether the class is "network controller" (0x02xxxx).
    pub fn is_network(&self) -> bool {
        self.class >> 16 == 0x02
    }
}

/// Every PCI function (`all`), or only network-class ones, sorted by address. Entries that are
/// not PCI addresses or cannot be read are skipped (a half-removed device must not stop the
/// listing).
pub fn pci_functions(roots: &Roots, all: bool) -> Result<Vec<PciFunction>> {
    let dir = roots.pci_devices();
    let entries = fs::read_dir(&dir).map_err(|e| CliError::io("listing", &dir, e))?;
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(addr) = PciAddress::parse(&name) else {
            continue;
        };
        if let Ok(f) = PciFunction::read_dir(&addr, e.path()) {
            if all || f.is_network() {
                out.push(f);
            }
        }
    }
    out.sort_by_key(|f| f.addr);
    Ok(out)
}

/// Parses a PCI address argument into a usage error when it is malformed.
pub fn parse_bdf(text: &str) -> Result<PciAddress> {
    PciAddress::parse(text).map_err(|_| {
        CliError::Usage(format!(
            "bad PCI address {text:?}: expected DDDD:BB:DD.F in hex, e.g. 0000:00:06.0"
        ))
    })
}

/// Whether the machine has an IOMMU (any IOMMU group exists).
pub fn has_iommu(roots: &Roots) -> bool {
    // vfio's no-IOMMU mode registers fake groups there too (named "vfio-noiommu"): they do not
    // make an IOMMU.
    fs::read_dir(roots.iommu_groups()).is_ok_and(|d| {
        d.flatten().any(|g| {
            fs::read_to_string(g.path().join("name")).map_or(true, |n| {
                n.trim() != ena::platform::vfio::group::NOIOMMU_GROUP_NAME
            })
        })
    })
}

/// Processes using a function: with its BARs mapped from sysfs (`…/<addr>/resource<N>` in
/// `<proc>/<pid>/maps`, how this driver and DPDK's uio path reach a device) or its VFIO group
/// node open. Returned as `pid (command)`. Processes whose files cannot be read are skipped.
pub fn processes_using(roots: &Roots, f: &PciFunction) -> Vec<String> {
    let bar_marker = format!("/{}/resource", f.addr);
    let group_nodes: Vec<PathBuf> = f
        .iommu_group
        .iter()
        .flat_map(|g| {
            let vfio = roots.dev.join("vfio");
            [vfio.join(g), vfio.join(format!("noiommu-{g}"))]
        })
        .collect();
    let own = std::process::id().to_string();
    let Ok(entries) = fs::read_dir(&roots.proc) else {
        return Vec::new();
    };
    let mut users = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == own || name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let dir = e.path();
        let maps_hit = fs::read_to_string(dir.join("maps"))
            .is_ok_and(|m| m.lines().any(|l| l.contains(&bar_marker)));
        let fd_hit = !group_nodes.is_empty()
            && fs::read_dir(dir.join("fd")).is_ok_and(|fds| {
                fds.flatten().any(|fd| {
                    fs::read_link(fd.path()).is_ok_and(|target| group_nodes.contains(&target))
                })
            });
        if maps_hit || fd_hit {
            let comm = read_attr(&dir.join("comm"))
                .ok()
                .flatten()
                .unwrap_or_else(|| "?".into());
            users.push((name.parse::<u64>().unwrap_or(0), format!("{name} ({comm})")));
        }
    }
    users.sort();
    users.into_iter().map(|(_, u)| u).collect()
}

/// Interfaces carrying a default route, from `<proc>/net/route` and `<proc>/net/ipv6_route`.
/// Missing files mean no routes of that family.
pub fn default_route_interfaces(proc_root: &Path) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    if let Some(text) = read_optional(&proc_root.join("net/route"))? {
        out.extend(parse_ipv4_default_routes(&text));
    }
    if let Some(text) = read_optional(&proc_root.join("net/ipv6_route"))? {
        out.extend(parse_ipv6_default_routes(&text));
    }
    Ok(out)
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::io("reading", path, e)),
    }
}

/// Linux `RTF_UP`.
const RTF_UP: u32 = 0x0001;
/// Linux `RTF_REJECT` (unreachable routes, e.g. IPv6's default via `lo`).
const RTF_REJECT: u32 = 0x0200;

/// Interfaces of IPv4 default routes in `/proc/net/route` text: a header line, then
/// `Iface Destination Gateway Flags RefCnt Use Metric Mask ...` with hex fields.
pub fn parse_ipv4_default_routes(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (iface, dest, flags, mask) = (f.first()?, f.get(1)?, f.get(3)?, f.get(7)?);
            let flags = parse_hex(flags)?;
            (parse_hex(dest)? == 0 && parse_hex(mask)? == 0 && flags & RTF_UP != 0)
                .then(|| iface.to_string())
        })
        .collect()
}

/// Interfaces of IPv6 default routes in `/proc/net/ipv6_route` text: `dest dest_len src
/// src_len next_hop metric refcnt use flags iface`, hex, no header.
pub fn parse_ipv6_default_routes(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (dest, len, flags, iface) = (f.first()?, f.get(1)?, f.get(8)?, f.get(9)?);
            let flags = parse_hex(flags)?;
            let is_default = dest.bytes().all(|b| b == b'0') && parse_hex(len)? == 0;
            (is_default && flags & RTF_UP != 0 && flags & RTF_REJECT == 0 && *iface != "lo")
                .then(|| iface.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_default_route_is_found() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            ens5\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
            ens5\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n\
            ens6\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(parse_ipv4_default_routes(text), vec!["ens5"]);
        // A route that is not up does not count.
        let down = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
            eth1\t00000000\t0100A8C0\t0002\t0\t0\t0\t00000000\n";
        assert!(parse_ipv4_default_routes(down).is_empty());
        assert!(parse_ipv4_default_routes("garbage\nmore garbage\n").is_empty());
    }

    #[test]
    fn ipv6_default_route_skips_unreachable_lo() {
        let text = "\
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 ens5
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 ens5
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo
";
        assert_eq!(parse_ipv6_default_routes(text), vec!["ens5"]);
    }

    #[test]
    fn hex_attributes() {
        assert_eq!(parse_hex("0x1d0f\n"), Some(0x1d0f));
        assert_eq!(parse_hex("020000"), Some(0x020000));
        assert_eq!(parse_hex("zz"), None);
    }
}
