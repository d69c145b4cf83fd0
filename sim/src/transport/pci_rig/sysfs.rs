//! The fake PCI device tree: exactly the files DPDK 22.11's PCI bus scan and uio mapping read.
//!
//! What DPDK reads, and from where (DPDK repository, tag v22.11.11, `drivers/bus/pci/linux/pci.c`
//! `pci_scan_one`, `pci_uio.c` `pci_uio_alloc_resource`/`pci_uio_map_resource_by_index`,
//! `lib/eal/linux/eal_interrupts.c` `uio_intx_intr_enable`):
//! - `$SYSFS_PCI_DEVICES/<bdf>/{vendor,device,subsystem_vendor,subsystem_device,class}`: hex text,
//!   mandatory; `numa_node` optional.
//! - `…/resource`: at least 6 lines `start end flags`; a BAR exists when `flags & 0x200`
//!   (IORESOURCE_MEM), its length is `end - start + 1`.
//! - `…/driver`: a symlink whose target's basename names the kernel driver; `uio_pci_generic`
//!   makes DPDK use the uio path with INTx interrupts switched through config space.
//! - `…/uio/uioN`: the uio number; DPDK then opens `/dev/uioN` (the FIFO, linked there by whoever
//!   launches the driver) and the hard-coded `/sys/class/uio/uioN/device/config`, which the
//!   launcher bind-mounts from this rig's `classuio` directory inside a private mount namespace.
//! - `…/resource<i>`: mmapped MAP_SHARED with the BAR's length; a symlink to a regular file in
//!   `/dev/shm` works, and the device maps the same file.
//!
//! [`Rig::create`] builds that tree and [`Rig`]'s drop removes exactly what it built (also while a
//! failing test unwinds). It refuses to reuse a directory that has anything in it and shm files
//! that already exist, since either means another rig, or a stale one, is in the way.
#![allow(unsafe_code)]

use crate::bar::BarMemory;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// PCI class "Ethernet controller" with programming interface 0: the ENA drivers use readless
/// MMIO reads (spec §1.2: DPDK tests bit 0 of the 24-bit class value).
pub const CLASS_ETHERNET_READLESS: u32 = 0x02_00_00;
/// Class value with programming-interface bit 0 set: readless reads disabled, the driver loads
/// registers straight from BAR0.
pub const CLASS_ETHERNET_PLAIN_READS: u32 = 0x02_00_01;

/// PCI command register bits (PCI Local Bus spec, Command register).
const PCI_COMMAND_MEMORY: u16 = 1 << 1;
const PCI_COMMAND_MASTER: u16 = 1 << 2;
const PCI_COMMAND_INTX_DISABLE: u16 = 1 << 10;

/// Linux `IORESOURCE_*` flags as sysfs `resource` prints them for the two BARs of an EC2 ENA
/// (values from the rig notes: BAR0 32-bit non-prefetchable memory, BAR2 prefetchable memory).
const BAR0_RESOURCE_FLAGS: u64 = 0x40200;
const BAR2_RESOURCE_FLAGS: u64 = 0x14220c;
/// Lines in a sysfs `resource` file of an ordinary function (6 BARs, ROM, bridge windows).
const RESOURCE_LINES: usize = 13;
/// Where the fake BAR0 "lives" on the bus; only a label, but it is what DPDK logs.
const DEFAULT_BAR0_PHYS: u64 = 0xfe80_0000;

/// Size of the config space file (the conventional, non-extended PCI config space).
pub const CONFIG_SPACE_SIZE: usize = 256;
/// Offset of the PCI command register in config space.
pub const CONFIG_COMMAND: u64 = 4;
/// Byte of config space holding INTx disable, and its bit there (DPDK flips only this byte).
pub const CONFIG_INTX_BYTE: u64 = 5;
/// Bit of [`CONFIG_INTX_BYTE`] that disables INTx.
pub const CONFIG_INTX_DISABLE_BIT: u8 = 1 << 2;

/// What the rig looks like. Build one with [`RigConfig::new`] and adjust the public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RigConfig {
    /// The rig's directory; created if missing, and must be empty if it exists.
    pub dir: PathBuf,
    /// PCI address `DDDD:BB:DD.F` (the name DPDK's allow-list `-a` takes).
    pub bdf: String,
    /// PCI vendor id (Amazon).
    pub vendor_id: u16,
    /// PCI device id (0xec20, the ENA VF EC2 instances carry; in `net_ena`'s id table).
    pub device_id: u16,
    /// Subsystem vendor id.
    pub subsystem_vendor_id: u16,
    /// Subsystem device id.
    pub subsystem_device_id: u16,
    /// 24-bit class value; bit 0 selects plain register reads ([`CLASS_ETHERNET_READLESS`] or
    /// [`CLASS_ETHERNET_PLAIN_READS`]). The config-space revision byte gets the same bit 0, which
    /// is where Linux looks.
    pub class: u32,
    /// NUMA node written to `numa_node`.
    pub numa_node: i32,
    /// BAR0 (registers) size; a power of two of at least 4 KiB.
    pub bar0_size: usize,
    /// BAR2 (LLQ memory) size; 0 for a device without BAR2, else a power of two of at least 4 KiB.
    pub bar2_size: usize,
    /// Directory of the BAR backing files (normally `/dev/shm`).
    pub shm_dir: PathBuf,
    /// BAR files are `<shm_dir>/<shm_prefix>-bar<i>`.
    pub shm_prefix: String,
    /// The uio index N (`uio/uioN`, `/dev/uioN`, `/sys/class/uio/uioN`).
    pub uio_index: u32,
}

impl RigConfig {
    /// The rig the notes describe (16 KiB BAR0, 1 MiB BAR2, readless reads), rooted at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            bdf: "0000:00:10.0".into(),
            vendor_id: 0x1d0f,
            device_id: 0xec20,
            subsystem_vendor_id: 0x1d0f,
            subsystem_device_id: 0xec20,
            class: CLASS_ETHERNET_READLESS,
            numa_node: 0,
            bar0_size: 16 * 1024,
            bar2_size: 1024 * 1024,
            shm_dir: PathBuf::from("/dev/shm"),
            shm_prefix: "enarig".into(),
            uio_index: 0,
        }
    }

    /// Selects readless (true) or plain (false) register reads through the class value.
    pub fn with_readless(mut self, readless: bool) -> Self {
        self.class = if readless {
            self.class & !1
        } else {
            self.class | 1
        };
        self
    }

    /// Whether the driver will use readless register reads.
    pub fn readless(&self) -> bool {
        self.class & 1 == 0
    }

    /// The fake bus address of BAR `index` (0 or 2), aligned to the BAR's size as PCI requires.
    pub fn bar_phys(&self, index: usize) -> Option<u64> {
        match index {
            0 => Some(DEFAULT_BAR0_PHYS),
            2 if self.bar2_size > 0 => Some(
                (DEFAULT_BAR0_PHYS + self.bar0_size as u64).next_multiple_of(self.bar2_size as u64),
            ),
            _ => None,
        }
    }

    /// The config-space revision byte: bit 0 mirrors the class prog-if bit 0 (spec §1.2).
    pub fn revision(&self) -> u8 {
        (self.class & 1) as u8
    }

    fn validate(&self) -> io::Result<()> {
        if !valid_bdf(&self.bdf) {
            return Err(invalid(format!(
                "PCI address {:?} is not of the form DDDD:BB:DD.F",
                self.bdf
            )));
        }
        if self.class > 0xff_ffff {
            return Err(invalid(format!(
                "class {:#x} does not fit 24 bits",
                self.class
            )));
        }
        if !(self.bar0_size.is_power_of_two()
            && self.bar0_size >= 4096
            && self.bar0_size <= 1 << 30)
        {
            return Err(invalid(format!(
                "BAR0 size {:#x} must be a power of two in 4 KiB..1 GiB",
                self.bar0_size
            )));
        }
        if self.bar2_size != 0
            && !(self.bar2_size.is_power_of_two()
                && self.bar2_size >= 4096
                && self.bar2_size <= 1 << 30)
        {
            return Err(invalid(format!(
                "BAR2 size {:#x} must be 0 or a power of two in 4 KiB..1 GiB",
                self.bar2_size
            )));
        }
        if self.shm_prefix.is_empty()
            || self.shm_prefix.contains('/')
            || self.shm_prefix.starts_with('.')
        {
            return Err(invalid(format!(
                "shm prefix {:?} must be a plain file name",
                self.shm_prefix
            )));
        }
        Ok(())
    }

    /// The config space the rig starts with: ids, command = memory space + bus master + INTx
    /// disabled (what the notes verified; the driver's `rte_intr_enable` clears INTx disable),
    /// revision, class, BAR addresses, subsystem ids and interrupt pin A.
    pub fn config_space(&self) -> [u8; CONFIG_SPACE_SIZE] {
        let mut c = [0u8; CONFIG_SPACE_SIZE];
        c[0..2].copy_from_slice(&self.vendor_id.to_le_bytes());
        c[2..4].copy_from_slice(&self.device_id.to_le_bytes());
        let command = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE;
        c[4..6].copy_from_slice(&command.to_le_bytes());
        c[8] = self.revision();
        c[9] = self.class as u8; // programming interface
        c[10] = (self.class >> 8) as u8; // subclass
        c[11] = (self.class >> 16) as u8; // base class
        if let Some(pa) = self.bar_phys(0) {
            // 32-bit, non-prefetchable memory BAR: type bits all zero.
            c[0x10..0x14].copy_from_slice(&(pa as u32).to_le_bytes());
        }
        if let Some(pa) = self.bar_phys(2) {
            // 32-bit prefetchable memory BAR (bit 3).
            c[0x18..0x1c].copy_from_slice(&((pa as u32) | 0x8).to_le_bytes());
        }
        c[0x2c..0x2e].copy_from_slice(&self.subsystem_vendor_id.to_le_bytes());
        c[0x2e..0x30].copy_from_slice(&self.subsystem_device_id.to_le_bytes());
        c[0x3d] = 1; // interrupt pin INTA#
        c
    }

    /// The text of the sysfs `resource` file.
    pub fn resource_text(&self) -> String {
        let mut s = String::new();
        for i in 0..RESOURCE_LINES {
            let (start, end, flags) = match (self.bar_phys(i), i) {
                (Some(pa), 0) => (pa, pa + self.bar0_size as u64 - 1, BAR0_RESOURCE_FLAGS),
                (Some(pa), 2) => (pa, pa + self.bar2_size as u64 - 1, BAR2_RESOURCE_FLAGS),
                _ => (0, 0, 0),
            };
            s.push_str(&format!("{start:#018x} {end:#018x} {flags:#018x}\n"));
        }
        s
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn valid_bdf(bdf: &str) -> bool {
    let b = bdf.as_bytes();
    let hex = |r: std::ops::Range<usize>| {
        b.get(r)
            .is_some_and(|s| s.iter().all(u8::is_ascii_hexdigit))
    };
    b.len() == 12
        && hex(0..4)
        && b[4] == b':'
        && hex(5..7)
        && b[7] == b':'
        && hex(8..10)
        && b[10] == b'.'
        && hex(11..12)
}

/// Something the rig created, removed in reverse order on drop.
#[derive(Debug)]
enum Created {
    File(PathBuf),
    Dir(PathBuf),
}

/// A fake PCI device tree, its BAR files and its interrupt FIFO. Dropping it removes them.
#[derive(Debug)]
pub struct Rig {
    cfg: RigConfig,
    created: Vec<Created>,
}

impl Rig {
    /// Builds the tree described in the module docs. Fails (removing whatever it had made) when
    /// `cfg.dir` exists with anything in it, when a BAR file already exists, or on any I/O error.
    pub fn create(cfg: RigConfig) -> io::Result<Rig> {
        cfg.validate()?;
        let mut rig = Rig {
            cfg,
            created: Vec::new(),
        };
        rig.build()?;
        Ok(rig)
    }

    fn build(&mut self) -> io::Result<()> {
        let cfg = self.cfg.clone();
        self.claim_dir(&cfg.dir)?;

        // The BAR backing files first: if another rig uses the prefix, nothing else is touched.
        for (index, size) in [(0, cfg.bar0_size), (2, cfg.bar2_size)] {
            if size == 0 {
                continue;
            }
            let path = self.bar_shm_path(index);
            let file = OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&path).map_err(
                |e| annotate(e, &format!("cannot create BAR{index} file {} (another rig with shm prefix {:?}, or a stale file from a crashed run?)", path.display(), cfg.shm_prefix)),
            )?;
            self.created.push(Created::File(path.clone()));
            file.set_len(size as u64)
                .map_err(|e| annotate(e, &format!("sizing {}", path.display())))?;
        }

        let dev = self.device_dir();
        self.mkdir(&self.sysfs_pci_devices())?;
        self.mkdir(&dev)?;
        self.write_file(
            &dev.join("vendor"),
            format!("{:#06x}\n", cfg.vendor_id).as_bytes(),
        )?;
        self.write_file(
            &dev.join("device"),
            format!("{:#06x}\n", cfg.device_id).as_bytes(),
        )?;
        self.write_file(
            &dev.join("subsystem_vendor"),
            format!("{:#06x}\n", cfg.subsystem_vendor_id).as_bytes(),
        )?;
        self.write_file(
            &dev.join("subsystem_device"),
            format!("{:#06x}\n", cfg.subsystem_device_id).as_bytes(),
        )?;
        self.write_file(
            &dev.join("class"),
            format!("{:#08x}\n", cfg.class).as_bytes(),
        )?;
        self.write_file(
            &dev.join("numa_node"),
            format!("{}\n", cfg.numa_node).as_bytes(),
        )?;
        self.write_file(&dev.join("resource"), cfg.resource_text().as_bytes())?;
        for index in [0, 2] {
            if cfg.bar_phys(index).is_some() {
                self.symlink(&self.bar_shm_path(index), &self.bar_file(index))?;
            }
        }
        // Like the kernel's link to /sys/bus/pci/drivers/<name>; DPDK reads only the basename.
        self.symlink(
            Path::new("../../../bus/pci/drivers/uio_pci_generic"),
            &self.driver_link(),
        )?;
        self.mkdir(&dev.join("uio"))?;
        self.mkdir(&self.uio_dir())?;

        let class_uio = self.class_uio_dir();
        self.mkdir(&class_uio)?;
        self.mkdir(&class_uio.join(self.uio_name()))?;
        self.mkdir(&class_uio.join(self.uio_name()).join("device"))?;
        self.write_file(&self.config_path(), &cfg.config_space())?;

        let fifo = self.fifo_path();
        mkfifo(&fifo)?;
        self.created.push(Created::File(fifo));
        Ok(())
    }

    /// Takes the rig directory: creates it (and parents) if missing, accepts it if empty.
    fn claim_dir(&mut self, dir: &Path) -> io::Result<()> {
        match fs::symlink_metadata(dir) {
            Ok(m) if !m.is_dir() => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "rig directory {} exists and is not a directory",
                    dir.display()
                ),
            )),
            Ok(_) => {
                if let Some(entry) = fs::read_dir(dir)?.next() {
                    let name = entry?.file_name();
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!(
                            "rig directory {} is not empty (it holds {:?}; a stale rig from an earlier run, or someone \
                             else's files): refusing to build a rig there",
                            dir.display(),
                            name
                        ),
                    ));
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(parent) = dir.parent() {
                    fs::create_dir_all(parent)?;
                }
                self.mkdir(dir)
            }
            Err(e) => Err(annotate(e, &format!("rig directory {}", dir.display()))),
        }
    }

    fn mkdir(&mut self, path: &Path) -> io::Result<()> {
        fs::create_dir(path).map_err(|e| annotate(e, &format!("creating {}", path.display())))?;
        self.created.push(Created::Dir(path.to_owned()));
        Ok(())
    }

    fn write_file(&mut self, path: &Path, contents: &[u8]) -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)
            .map_err(|e| annotate(e, &format!("creating {}", path.display())))?;
        self.created.push(Created::File(path.to_owned()));
        f.write_all(contents)
    }

    fn symlink(&mut self, target: &Path, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
            .map_err(|e| annotate(e, &format!("linking {}", link.display())))?;
        self.created.push(Created::File(link.to_owned()));
        Ok(())
    }

    /// The configuration the rig was built from.
    pub fn config(&self) -> &RigConfig {
        &self.cfg
    }

    /// The rig's root directory.
    pub fn dir(&self) -> &Path {
        &self.cfg.dir
    }

    /// The directory to export as `SYSFS_PCI_DEVICES` (`<dir>/pci`).
    pub fn sysfs_pci_devices(&self) -> PathBuf {
        self.cfg.dir.join("pci")
    }

    /// The device's directory, `<dir>/pci/<bdf>`.
    pub fn device_dir(&self) -> PathBuf {
        self.sysfs_pci_devices().join(&self.cfg.bdf)
    }

    /// The sysfs `resource` file.
    pub fn resource_file(&self) -> PathBuf {
        self.device_dir().join("resource")
    }

    /// The `resource<index>` symlink DPDK maps for BAR `index`.
    pub fn bar_file(&self, index: usize) -> PathBuf {
        self.device_dir().join(format!("resource{index}"))
    }

    /// The shared-memory file behind BAR `index`.
    pub fn bar_shm_path(&self, index: usize) -> PathBuf {
        self.cfg
            .shm_dir
            .join(format!("{}-bar{index}", self.cfg.shm_prefix))
    }

    /// The `driver` symlink.
    pub fn driver_link(&self) -> PathBuf {
        self.device_dir().join("driver")
    }

    /// `uio<N>`.
    pub fn uio_name(&self) -> String {
        format!("uio{}", self.cfg.uio_index)
    }

    /// `<device dir>/uio/uio<N>`.
    pub fn uio_dir(&self) -> PathBuf {
        self.device_dir().join("uio").join(self.uio_name())
    }

    /// The directory to bind-mount at `/sys/class/uio` in the driver's mount namespace.
    pub fn class_uio_dir(&self) -> PathBuf {
        self.cfg.dir.join("classuio")
    }

    /// The config-space file (`/sys/class/uio/uio<N>/device/config` once bind-mounted).
    pub fn config_path(&self) -> PathBuf {
        self.class_uio_dir()
            .join(self.uio_name())
            .join("device")
            .join("config")
    }

    /// The interrupt FIFO, to be linked as `/dev/uio<N>`.
    pub fn fifo_path(&self) -> PathBuf {
        self.cfg.dir.join(format!("{}.fifo", self.uio_name()))
    }

    /// BAR0 mapped MAP_SHARED from its shm file: the device's view of the registers.
    pub fn bar0(&self) -> io::Result<BarMemory> {
        map_bar_file(&self.bar_shm_path(0))
    }

    /// BAR2 mapped MAP_SHARED, or `None` for a rig without BAR2.
    pub fn bar2(&self) -> io::Result<Option<BarMemory>> {
        if self.cfg.bar2_size == 0 {
            return Ok(None);
        }
        map_bar_file(&self.bar_shm_path(2)).map(Some)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for item in self.created.drain(..).rev() {
            let (path, result) = match item {
                Created::File(p) => {
                    let r = fs::remove_file(&p);
                    (p, r)
                }
                Created::Dir(p) => {
                    let r = fs::remove_dir(&p);
                    (p, r)
                }
            };
            if let Err(e) = result {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(target: "ena_sim::pci_rig", "could not remove {}: {e}", path.display());
                }
            }
        }
    }
}

/// Maps a BAR file (a regular file, or a `resource<i>` symlink to one) read-write and shared, so
/// every other mapping of it sees the same bytes.
pub fn map_bar_file(path: &Path) -> io::Result<BarMemory> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| annotate(e, &format!("opening BAR file {}", path.display())))?;
    let len = file.metadata()?.len();
    if len == 0 || len % 8 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "BAR file {} has length {len}, not a non-zero multiple of 8",
                path.display()
            ),
        ));
    }
    // SAFETY: the mapping is shared with the other side of the rig on purpose; BarMemory only
    // ever accesses it with atomics, and nobody truncates the file while the rig lives (a
    // truncation would fault on access, as a vanished PCI device would).
    let map = unsafe { memmap2::MmapOptions::new().map_mut(&file) }
        .map_err(|e| annotate(e, &format!("mapping BAR file {}", path.display())))?;
    Ok(BarMemory::from_mmap(map))
}

fn mkfifo(path: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| invalid(format!("path {} contains a NUL byte", path.display())))?;
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        let e = io::Error::last_os_error();
        return Err(annotate(e, &format!("mkfifo {}", path.display())));
    }
    Ok(())
}

/// Whether `path` is a FIFO (for checks by launchers and tests).
pub fn is_fifo(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

pub(crate) fn annotate(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Reads a file of the tree as text (trimmed), for tests and launch checks.
pub fn read_attr(path: &Path) -> io::Result<String> {
    let mut s = String::new();
    io::Read::read_to_string(&mut File::open(path)?, &mut s)?;
    Ok(s.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{shm_or_skip, unique_path, unique_prefix};
    use super::*;
    use std::collections::BTreeSet;

    fn test_config(tag: &str) -> RigConfig {
        let mut cfg = RigConfig::new(unique_path(tag));
        cfg.shm_prefix = unique_prefix(tag);
        cfg
    }

    /// Parses `resource` as DPDK's `pci_parse_sysfs_resource` does: (start, end, flags) per line.
    fn parse_resource(text: &str) -> Vec<(u64, u64, u64)> {
        text.lines()
            .map(|l| {
                let v: Vec<u64> = l
                    .split_whitespace()
                    .map(|t| u64::from_str_radix(t.trim_start_matches("0x"), 16).unwrap())
                    .collect();
                assert_eq!(v.len(), 3, "line {l:?}");
                (v[0], v[1], v[2])
            })
            .collect()
    }

    fn names(dir: &Path) -> BTreeSet<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn pci_rig_tree_has_exactly_what_dpdk_reads() {
        if !shm_or_skip() {
            return;
        }
        let rig = Rig::create(test_config("tree")).unwrap();
        let dev = rig.device_dir();
        assert_eq!(
            names(&rig.sysfs_pci_devices()),
            BTreeSet::from(["0000:00:10.0".to_string()])
        );
        let expected: BTreeSet<String> = [
            "vendor",
            "device",
            "subsystem_vendor",
            "subsystem_device",
            "class",
            "numa_node",
            "resource",
            "resource0",
            "resource2",
            "driver",
            "uio",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(names(&dev), expected);
        assert_eq!(read_attr(&dev.join("vendor")).unwrap(), "0x1d0f");
        assert_eq!(read_attr(&dev.join("device")).unwrap(), "0xec20");
        assert_eq!(read_attr(&dev.join("subsystem_vendor")).unwrap(), "0x1d0f");
        assert_eq!(read_attr(&dev.join("subsystem_device")).unwrap(), "0xec20");
        assert_eq!(read_attr(&dev.join("class")).unwrap(), "0x020000");
        assert_eq!(read_attr(&dev.join("numa_node")).unwrap(), "0");

        let res = parse_resource(&fs::read_to_string(rig.resource_file()).unwrap());
        assert_eq!(res.len(), 13);
        assert_eq!(res[0], (0xfe80_0000, 0xfe80_3fff, 0x40200));
        assert_eq!(res[2], (0xfe90_0000, 0xfe9f_ffff, 0x14220c));
        let mem_bars: Vec<usize> = (0..6).filter(|&i| res[i].2 & 0x200 != 0).collect();
        assert_eq!(mem_bars, vec![0, 2]);
        for (i, r) in res.iter().enumerate().filter(|(i, _)| *i != 0 && *i != 2) {
            assert_eq!(*r, (0, 0, 0), "line {i}");
        }
        // The exact text format the notes show (18-character hex fields).
        assert_eq!(
            fs::read_to_string(rig.resource_file())
                .unwrap()
                .lines()
                .next()
                .unwrap(),
            "0x00000000fe800000 0x00000000fe803fff 0x0000000000040200"
        );

        assert_eq!(fs::read_link(rig.bar_file(0)).unwrap(), rig.bar_shm_path(0));
        assert_eq!(fs::read_link(rig.bar_file(2)).unwrap(), rig.bar_shm_path(2));
        assert_eq!(fs::metadata(rig.bar_file(0)).unwrap().len(), 16 * 1024);
        assert_eq!(fs::metadata(rig.bar_file(2)).unwrap().len(), 1024 * 1024);
        assert!(fs::read(rig.bar_file(0)).unwrap().iter().all(|&b| b == 0));
        assert_eq!(
            fs::read_link(rig.driver_link())
                .unwrap()
                .file_name()
                .unwrap(),
            "uio_pci_generic"
        );
        assert_eq!(
            names(&dev.join("uio")),
            BTreeSet::from(["uio0".to_string()])
        );
        assert!(names(&rig.uio_dir()).is_empty());

        let config = fs::read(rig.config_path()).unwrap();
        assert_eq!(config.len(), 256);
        assert_eq!(&config[0..4], &[0x0f, 0x1d, 0x20, 0xec]);
        assert_eq!(u16::from_le_bytes([config[4], config[5]]), 0x0406);
        assert_eq!(config[5] & CONFIG_INTX_DISABLE_BIT, CONFIG_INTX_DISABLE_BIT);
        assert_eq!(config[8], 0, "revision bit 0 clear: readless");
        assert_eq!(&config[9..12], &[0x00, 0x00, 0x02]);
        assert_eq!(
            u32::from_le_bytes(config[0x10..0x14].try_into().unwrap()),
            0xfe80_0000
        );
        assert_eq!(
            u32::from_le_bytes(config[0x18..0x1c].try_into().unwrap()),
            0xfe90_0008
        );
        assert_eq!(&config[0x2c..0x30], &[0x0f, 0x1d, 0x20, 0xec]);
        assert!(rig
            .config_path()
            .starts_with(rig.class_uio_dir().join("uio0")));
        assert!(is_fifo(&rig.fifo_path()));
        assert_eq!(
            names(rig.dir()),
            BTreeSet::from(["pci".into(), "classuio".into(), "uio0.fifo".into()])
        );
    }

    #[test]
    fn pci_rig_plain_reads_and_no_bar2() {
        if !shm_or_skip() {
            return;
        }
        let mut cfg = test_config("plain").with_readless(false);
        cfg.bar2_size = 0;
        cfg.uio_index = 3;
        let rig = Rig::create(cfg).unwrap();
        assert!(!rig.config().readless());
        assert_eq!(
            read_attr(&rig.device_dir().join("class")).unwrap(),
            "0x020001"
        );
        let config = fs::read(rig.config_path()).unwrap();
        assert_eq!(config[8] & 1, 1, "revision bit 0 set: readless off");
        assert_eq!(config[9] & 1, 1);
        assert_eq!(&config[0x18..0x1c], &[0, 0, 0, 0]);
        let res = parse_resource(&fs::read_to_string(rig.resource_file()).unwrap());
        assert_eq!(res[2], (0, 0, 0));
        assert!(!rig.bar_file(2).exists() && fs::symlink_metadata(rig.bar_file(2)).is_err());
        assert!(!rig.bar_shm_path(2).exists());
        assert!(rig.bar2().unwrap().is_none());
        assert!(rig.uio_dir().ends_with("uio/uio3"));
        assert!(rig.fifo_path().ends_with("uio3.fifo"));
    }

    #[test]
    fn pci_rig_drop_removes_everything_even_after_a_panic() {
        if !shm_or_skip() {
            return;
        }
        let cfg = test_config("drop");
        let dir = cfg.dir.clone();
        let shm = [
            cfg.shm_dir.join(format!("{}-bar0", cfg.shm_prefix)),
            cfg.shm_dir.join(format!("{}-bar2", cfg.shm_prefix)),
        ];
        let result = std::panic::catch_unwind(|| {
            let rig = Rig::create(cfg).unwrap();
            assert!(rig.fifo_path().exists() && shm.iter().all(|p| p.exists()));
            panic!("deliberate panic inside a rig test");
        });
        assert!(result.is_err());
        assert!(!dir.exists(), "{} left behind", dir.display());
        for p in &shm {
            assert!(!p.exists(), "{} left behind", p.display());
        }
    }

    #[test]
    fn pci_rig_refuses_foreign_content_and_taken_shm_names() {
        if !shm_or_skip() {
            return;
        }
        let cfg = test_config("foreign");
        fs::create_dir_all(&cfg.dir).unwrap();
        let foreign = cfg.dir.join("somebody-elses.txt");
        fs::write(&foreign, b"keep me").unwrap();
        let err = Rig::create(cfg.clone()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert!(err.to_string().contains("not empty"), "{err}");
        assert_eq!(fs::read(&foreign).unwrap(), b"keep me");
        assert!(!cfg
            .shm_dir
            .join(format!("{}-bar0", cfg.shm_prefix))
            .exists());
        fs::remove_file(&foreign).unwrap();

        // An existing empty directory is accepted, and left in place afterwards.
        let first = Rig::create(cfg.clone()).unwrap();
        // A second rig with the same shm prefix must not steal the first one's BARs.
        let mut second = test_config("foreign2");
        second.shm_prefix = cfg.shm_prefix.clone();
        let err = Rig::create(second.clone()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert!(err.to_string().contains("BAR0 file"), "{err}");
        assert!(
            !second.dir.exists(),
            "a failed create must remove what it made"
        );
        assert!(first.bar_shm_path(0).exists());
        drop(first);
        assert!(cfg.dir.is_dir() && names(&cfg.dir).is_empty());
        fs::remove_dir(&cfg.dir).unwrap();

        let mut bad = test_config("bad");
        bad.bdf = "../../etc".into();
        assert_eq!(
            Rig::create(bad).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let mut bad = test_config("bad");
        bad.bar0_size = 3000;
        assert_eq!(
            Rig::create(bad).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn pci_rig_bar_mappings_share_writes() {
        if !shm_or_skip() {
            return;
        }
        let rig = Rig::create(test_config("share")).unwrap();
        let device_view = rig.bar0().unwrap();
        // The driver maps through the resource0 symlink, as DPDK does.
        let driver_view = map_bar_file(&rig.bar_file(0)).unwrap();
        assert_eq!(device_view.len(), 16 * 1024);
        driver_view.write32(0x2c, 0x1234_5678);
        assert_eq!(device_view.read32(0x2c), 0x1234_5678);
        device_view.write32(0x58, 0x1);
        assert_eq!(driver_view.read32(0x58), 0x1);
        assert_eq!(driver_view.read32(0x3ffc), 0);

        let bar2_device = rig.bar2().unwrap().unwrap();
        let bar2_driver = map_bar_file(&rig.bar_file(2)).unwrap();
        assert_eq!(bar2_device.len(), 1024 * 1024);
        assert!(bar2_driver.write_bytes(0x80, &[0xab; 64]));
        let mut entry = [0u8; 64];
        assert!(bar2_device.read_bytes(0x80, &mut entry));
        assert_eq!(entry, [0xab; 64]);
        // And the bytes are in the file itself, where another process would see them.
        let bytes = fs::read(rig.bar_shm_path(0)).unwrap();
        assert_eq!(&bytes[0x2c..0x30], &0x1234_5678u32.to_le_bytes());
    }
}
