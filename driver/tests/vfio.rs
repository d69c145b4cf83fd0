//! The VFIO platform, tested without VFIO: this machine has no vfio modules, so nothing can open
//! `/dev/vfio`. What is tested here:
//!
//! - the ioctl request numbers and structure layouts against the values vfio.h defines;
//! - the pure parsers (region info with capability chains including sparse mmap, IOMMU info with
//!   IOVA ranges) on bytes laid out exactly as vfio.h says, and on malformed ones;
//! - BAR mapping (sparse areas, `MAP_FIXED` over a reservation) and the config-space
//!   read-modify-write on regular files standing in for the device fd;
//! - group discovery, viability and no-IOMMU detection on fake sysfs trees;
//! - every `VfioPlatform::open` error that comes before the first real ioctl, on fake trees;
//! - DMA memory on real hugepages (root + hugetlbfs; `SKIPPED` otherwise): IOMMU mode through a
//!   recording mapper (IOVA = VA, one map per page, unmap on drop) and no-IOMMU mode against the
//!   pagemap.
//!
//! Opening a real device, MAP_DMA, MSI-X and reset are tested against the real kernel by the
//! `in_guest` tests at the end, which `scripts/vfio-qemu-test.sh` runs inside a QEMU guest.

use ena::mem::hugepage::{pagemap_phys_addr, HUGEPAGE_SIZE};
use ena::platform::pci::{PciAddress, WcPolicy};
use ena::platform::vfio::dma::{self, choose_iova, DmaMapper, IommuDmaAllocator};
use ena::platform::vfio::group::{self, GroupMember, NoIommuState};
use ena::platform::vfio::irq::{irq_set_disable, irq_set_eventfds, EventFd};
use ena::platform::vfio::region::{
    self, parse_cap_chain, parse_device_info, parse_iommu_info, parse_region_info,
    plan_bar_mapping, IovaRange, MmapArea,
};
use ena::platform::vfio::{
    bar, ioctl, open_node_error, vfio_wc_warning, IommuMode, VfioDevice, VfioMode, VfioOptions,
    VfioPlatform,
};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{symlink, FileExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vfio_bindings::bindings::vfio as uapi;

const BDF: &str = "0000:00:06.0";

// ---------------------------------------------------------------------------------------------
// Scratch trees

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("ena-vfio-{tag}-{}-{n}", std::process::id()));
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

/// A fake `/sys` and `/dev` laid out as the kernel lays them out (device directories under
/// `devices/`, linked from `bus/pci/devices/` and from the IOMMU group's `devices/`).
struct FakeTree {
    root: TempDir,
}

impl FakeTree {
    fn new(tag: &str) -> Self {
        let t = Self {
            root: TempDir::new(tag),
        };
        fs::create_dir_all(t.sysfs().join("bus/pci/devices")).unwrap();
        fs::create_dir_all(t.dev()).unwrap();
        t
    }

    fn sysfs(&self) -> PathBuf {
        self.root.0.join("sys")
    }

    fn dev(&self) -> PathBuf {
        self.root.0.join("dev")
    }

    fn dev_dir(&self, bdf: &str) -> PathBuf {
        self.sysfs().join("devices/pci0000:00").join(bdf)
    }

    /// A function with the given ids, bound to `driver` (if any), in IOMMU group `group`.
    fn function(&self, bdf: &str, ids: (u16, u16), driver: Option<&str>, group: Option<u32>) {
        let d = self.dev_dir(bdf);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("vendor"), format!("0x{:04x}\n", ids.0)).unwrap();
        fs::write(d.join("device"), format!("0x{:04x}\n", ids.1)).unwrap();
        fs::write(d.join("class"), "0x020000\n").unwrap();
        fs::write(d.join("numa_node"), "-1\n").unwrap();
        symlink(
            format!("../../../devices/pci0000:00/{bdf}"),
            self.sysfs().join("bus/pci/devices").join(bdf),
        )
        .unwrap();
        if let Some(drv) = driver {
            self.bind(bdf, drv);
        }
        if let Some(g) = group {
            let gdir = self
                .sysfs()
                .join(format!("kernel/iommu_groups/{g}/devices"));
            fs::create_dir_all(&gdir).unwrap();
            symlink(
                format!("../../../kernel/iommu_groups/{g}"),
                d.join("iommu_group"),
            )
            .unwrap();
            symlink(
                format!("../../../../devices/pci0000:00/{bdf}"),
                gdir.join(bdf),
            )
            .unwrap();
        }
    }

    fn bind(&self, bdf: &str, driver: &str) {
        fs::create_dir_all(self.sysfs().join("bus/pci/drivers").join(driver)).unwrap();
        let link = self.dev_dir(bdf).join("driver");
        let _ = fs::remove_file(&link);
        symlink(format!("../../../bus/pci/drivers/{driver}"), link).unwrap();
    }

    fn ena(&self, driver: Option<&str>, group: Option<u32>) {
        self.function(BDF, (0x1d0f, 0xec20), driver, group);
    }

    fn vfio_loaded(&self, noiommu_param: Option<&str>) {
        let p = self.sysfs().join("module/vfio/parameters");
        fs::create_dir_all(&p).unwrap();
        if let Some(v) = noiommu_param {
            fs::write(p.join("enable_unsafe_noiommu_mode"), v).unwrap();
        }
    }

    fn dev_node(&self, name: &str) {
        fs::create_dir_all(self.dev().join("vfio")).unwrap();
        fs::write(self.dev().join("vfio").join(name), b"").unwrap();
    }

    fn opts(&self) -> VfioOptions {
        VfioOptions {
            sysfs_root: self.sysfs(),
            dev_root: self.dev(),
            hugepage_dir: self.root.0.clone(),
            ..VfioOptions::default()
        }
    }

    fn open_err(&self, opts: VfioOptions) -> String {
        VfioPlatform::open(BDF, opts).unwrap_err().to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// ioctl numbers and layouts against vfio.h

/// `_IOC(dir, type, nr, size)` of include/uapi/asm-generic/ioctl.h (x86-64/arm64 layout: nr in
/// bits 7:0, type 15:8, size 29:16, direction 31:30), computed independently of the driver.
const fn ioc(dir: u64, ty: u8, nr: u64, size: u64) -> u64 {
    (dir << 30) | (size << 16) | ((ty as u64) << 8) | nr
}

#[test]
fn vfio_ioctl_numbers_are_the_vfio_h_values() {
    // vfio.h: #define VFIO_TYPE (';'), VFIO_BASE 100, and each ioctl is _IO(VFIO_TYPE, VFIO_BASE + n).
    assert_eq!(uapi::VFIO_TYPE, b';');
    assert_eq!(uapi::VFIO_BASE, 100);
    assert_eq!(ioctl::VFIO_TYPE, uapi::VFIO_TYPE);
    assert_eq!(ioctl::VFIO_BASE, uapi::VFIO_BASE);
    let io = |n: u64| ioc(0, b';', 100 + n, 0);
    let table: [(&str, u64, u64, u64); 15] = [
        (
            "VFIO_GET_API_VERSION",
            ioctl::VFIO_GET_API_VERSION,
            0,
            0x3b64,
        ),
        (
            "VFIO_CHECK_EXTENSION",
            ioctl::VFIO_CHECK_EXTENSION,
            1,
            0x3b65,
        ),
        ("VFIO_SET_IOMMU", ioctl::VFIO_SET_IOMMU, 2, 0x3b66),
        (
            "VFIO_GROUP_GET_STATUS",
            ioctl::VFIO_GROUP_GET_STATUS,
            3,
            0x3b67,
        ),
        (
            "VFIO_GROUP_SET_CONTAINER",
            ioctl::VFIO_GROUP_SET_CONTAINER,
            4,
            0x3b68,
        ),
        (
            "VFIO_GROUP_UNSET_CONTAINER",
            ioctl::VFIO_GROUP_UNSET_CONTAINER,
            5,
            0x3b69,
        ),
        (
            "VFIO_GROUP_GET_DEVICE_FD",
            ioctl::VFIO_GROUP_GET_DEVICE_FD,
            6,
            0x3b6a,
        ),
        (
            "VFIO_DEVICE_GET_INFO",
            ioctl::VFIO_DEVICE_GET_INFO,
            7,
            0x3b6b,
        ),
        (
            "VFIO_DEVICE_GET_REGION_INFO",
            ioctl::VFIO_DEVICE_GET_REGION_INFO,
            8,
            0x3b6c,
        ),
        (
            "VFIO_DEVICE_GET_IRQ_INFO",
            ioctl::VFIO_DEVICE_GET_IRQ_INFO,
            9,
            0x3b6d,
        ),
        (
            "VFIO_DEVICE_SET_IRQS",
            ioctl::VFIO_DEVICE_SET_IRQS,
            10,
            0x3b6e,
        ),
        ("VFIO_DEVICE_RESET", ioctl::VFIO_DEVICE_RESET, 11, 0x3b6f),
        (
            "VFIO_IOMMU_GET_INFO",
            ioctl::VFIO_IOMMU_GET_INFO,
            12,
            0x3b70,
        ),
        ("VFIO_IOMMU_MAP_DMA", ioctl::VFIO_IOMMU_MAP_DMA, 13, 0x3b71),
        (
            "VFIO_IOMMU_UNMAP_DMA",
            ioctl::VFIO_IOMMU_UNMAP_DMA,
            14,
            0x3b72,
        ),
    ];
    for (name, ours, n, literal) in table {
        assert_eq!(ours, io(n), "{name}");
        assert_eq!(ours, literal, "{name}");
    }
    // The constants the driver passes, as vfio.h defines them.
    assert_eq!(uapi::VFIO_API_VERSION, 0);
    assert_eq!(uapi::VFIO_TYPE1v2_IOMMU, 3);
    assert_eq!(uapi::VFIO_NOIOMMU_IOMMU, 8);
    assert_eq!(IommuMode::Type1v2.vfio_type(), 3);
    assert_eq!(IommuMode::NoIommu.vfio_type(), 8);
    assert_eq!(uapi::VFIO_GROUP_FLAGS_VIABLE, 1);
    assert_eq!(uapi::VFIO_DEVICE_FLAGS_RESET, 1);
    assert_eq!(uapi::VFIO_DEVICE_FLAGS_PCI, 2);
    assert_eq!(
        (
            uapi::VFIO_REGION_INFO_FLAG_READ,
            uapi::VFIO_REGION_INFO_FLAG_WRITE,
            uapi::VFIO_REGION_INFO_FLAG_MMAP,
            uapi::VFIO_REGION_INFO_FLAG_CAPS
        ),
        (1, 2, 4, 8)
    );
    assert_eq!(
        (
            uapi::VFIO_REGION_INFO_CAP_SPARSE_MMAP,
            uapi::VFIO_REGION_INFO_CAP_TYPE,
            uapi::VFIO_REGION_INFO_CAP_MSIX_MAPPABLE
        ),
        (1, 2, 3)
    );
    assert_eq!(uapi::VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 1);
    assert_eq!(uapi::VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 3);
    assert_eq!(
        (uapi::VFIO_IOMMU_INFO_PGSIZES, uapi::VFIO_IOMMU_INFO_CAPS),
        (1, 2)
    );
    assert_eq!(
        (uapi::VFIO_DMA_MAP_FLAG_READ, uapi::VFIO_DMA_MAP_FLAG_WRITE),
        (1, 2)
    );
    assert_eq!(
        (
            uapi::VFIO_IRQ_SET_DATA_NONE,
            uapi::VFIO_IRQ_SET_DATA_EVENTFD,
            uapi::VFIO_IRQ_SET_ACTION_TRIGGER
        ),
        (1, 4, 32)
    );
    assert_eq!(uapi::VFIO_IRQ_INFO_EVENTFD, 1);
    // vfio-pci's fixed indexes.
    assert_eq!(uapi::VFIO_PCI_BAR0_REGION_INDEX, 0);
    assert_eq!(uapi::VFIO_PCI_BAR2_REGION_INDEX, 2);
    assert_eq!(uapi::VFIO_PCI_CONFIG_REGION_INDEX, 7);
    assert_eq!(uapi::VFIO_PCI_MSIX_IRQ_INDEX, 2);
}

#[test]
fn vfio_uapi_layouts_match_vfio_h() {
    use std::mem::{offset_of, size_of};
    // struct vfio_region_info: argsz, flags, index, cap_offset (u32), size, offset (__aligned_u64).
    assert_eq!(size_of::<uapi::vfio_region_info>(), 32);
    assert_eq!(size_of::<uapi::vfio_region_info>(), region::REGION_INFO_LEN);
    assert_eq!(offset_of!(uapi::vfio_region_info, index), 8);
    assert_eq!(offset_of!(uapi::vfio_region_info, cap_offset), 12);
    assert_eq!(offset_of!(uapi::vfio_region_info, size), 16);
    assert_eq!(offset_of!(uapi::vfio_region_info, offset), 24);
    // struct vfio_info_cap_header: id u16, version u16, next u32.
    assert_eq!(
        size_of::<uapi::vfio_info_cap_header>(),
        region::CAP_HEADER_LEN
    );
    assert_eq!(offset_of!(uapi::vfio_info_cap_header, version), 2);
    assert_eq!(offset_of!(uapi::vfio_info_cap_header, next), 4);
    // Sparse mmap: header, nr_areas, reserved, then 16-byte areas {offset, size}.
    assert_eq!(
        offset_of!(uapi::vfio_region_info_cap_sparse_mmap, nr_areas),
        8
    );
    assert_eq!(
        offset_of!(uapi::vfio_region_info_cap_sparse_mmap, areas),
        region::CAP_ARRAY_START
    );
    assert_eq!(
        size_of::<uapi::vfio_region_sparse_mmap_area>(),
        region::CAP_ARRAY_ENTRY
    );
    assert_eq!(offset_of!(uapi::vfio_region_sparse_mmap_area, size), 8);
    // Region-type capability: header, type, subtype.
    assert_eq!(offset_of!(uapi::vfio_region_info_cap_type, type_), 8);
    assert_eq!(offset_of!(uapi::vfio_region_info_cap_type, subtype), 12);
    // struct vfio_device_info: argsz, flags, num_regions, num_irqs, cap_offset, pad.
    assert_eq!(size_of::<uapi::vfio_device_info>(), region::DEVICE_INFO_LEN);
    assert_eq!(offset_of!(uapi::vfio_device_info, num_regions), 8);
    assert_eq!(offset_of!(uapi::vfio_device_info, num_irqs), 12);
    // struct vfio_iommu_type1_info: argsz, flags, iova_pgsizes (aligned u64), cap_offset, pad.
    assert_eq!(
        size_of::<uapi::vfio_iommu_type1_info>(),
        region::IOMMU_INFO_LEN
    );
    assert_eq!(offset_of!(uapi::vfio_iommu_type1_info, iova_pgsizes), 8);
    assert_eq!(offset_of!(uapi::vfio_iommu_type1_info, cap_offset), 16);
    assert_eq!(
        offset_of!(uapi::vfio_iommu_type1_info_cap_iova_range, iova_ranges),
        region::CAP_ARRAY_START
    );
    assert_eq!(size_of::<uapi::vfio_iova_range>(), region::CAP_ARRAY_ENTRY);
    // struct vfio_iommu_type1_dma_map: argsz, flags, vaddr, iova, size.
    assert_eq!(size_of::<uapi::vfio_iommu_type1_dma_map>(), 32);
    assert_eq!(offset_of!(uapi::vfio_iommu_type1_dma_map, vaddr), 8);
    assert_eq!(offset_of!(uapi::vfio_iommu_type1_dma_map, iova), 16);
    assert_eq!(offset_of!(uapi::vfio_iommu_type1_dma_map, size), 24);
    // struct vfio_iommu_type1_dma_unmap: argsz, flags, iova, size, data[].
    assert_eq!(size_of::<uapi::vfio_iommu_type1_dma_unmap>(), 24);
    assert_eq!(offset_of!(uapi::vfio_iommu_type1_dma_unmap, size), 16);
    // struct vfio_irq_set: argsz, flags, index, start, count, data[].
    assert_eq!(
        size_of::<uapi::vfio_irq_set>(),
        ena::platform::vfio::irq::IRQ_SET_HEADER_LEN
    );
    assert_eq!(offset_of!(uapi::vfio_irq_set, count), 16);
    assert_eq!(size_of::<uapi::vfio_irq_info>(), 16);
    assert_eq!(offset_of!(uapi::vfio_irq_info, count), 12);
    assert_eq!(size_of::<uapi::vfio_group_status>(), 8);
}

// ---------------------------------------------------------------------------------------------
// Region info and capability chains

fn put32(b: &mut Vec<u8>, at: usize, v: u32) {
    if b.len() < at + 4 {
        b.resize(at + 4, 0);
    }
    b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put64(b: &mut Vec<u8>, at: usize, v: u64) {
    if b.len() < at + 8 {
        b.resize(at + 8, 0);
    }
    b[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

fn put_cap(b: &mut Vec<u8>, at: usize, id: u16, version: u16, next: u32) {
    if b.len() < at + 8 {
        b.resize(at + 8, 0);
    }
    b[at..at + 2].copy_from_slice(&id.to_ne_bytes());
    b[at + 2..at + 4].copy_from_slice(&version.to_ne_bytes());
    b[at + 4..at + 8].copy_from_slice(&next.to_ne_bytes());
}

/// The fixed `vfio_region_info` (32 bytes).
fn region_bytes(flags: u32, index: u32, cap_offset: u32, size: u64, offset: u64) -> Vec<u8> {
    let mut b = Vec::new();
    put32(&mut b, 0, 32); // argsz, fixed up by `finish`
    put32(&mut b, 4, flags);
    put32(&mut b, 8, index);
    put32(&mut b, 12, cap_offset);
    put64(&mut b, 16, size);
    put64(&mut b, 24, offset);
    b
}

fn finish(mut b: Vec<u8>) -> Vec<u8> {
    let len = b.len() as u32;
    put32(&mut b, 0, len);
    b
}

const RW_MMAP: u32 = uapi::VFIO_REGION_INFO_FLAG_READ
    | uapi::VFIO_REGION_INFO_FLAG_WRITE
    | uapi::VFIO_REGION_INFO_FLAG_MMAP;
const CAPS: u32 = uapi::VFIO_REGION_INFO_FLAG_CAPS;

/// A 64 KiB BAR2 (at vfio-pci's region offset 2 << 40) whose MSI-X table page 0x3000 is
/// excluded by a sparse-mmap capability, followed by MSI-X-mappable and region-type caps.
fn sparse_bar_bytes() -> Vec<u8> {
    let mut b = region_bytes(RW_MMAP | CAPS, 2, 32, 0x10000, 2 << 40);
    // Sparse mmap at 32: header, nr_areas @40, reserved @44, areas @48 and @64 (16 bytes each).
    put_cap(&mut b, 32, 1, 1, 80);
    put32(&mut b, 40, 2);
    put32(&mut b, 44, 0);
    put64(&mut b, 48, 0);
    put64(&mut b, 56, 0x3000);
    put64(&mut b, 64, 0x4000);
    put64(&mut b, 72, 0xc000);
    // MSI-X mappable at 80 (header only), region type at 88 (type @96, subtype @100).
    put_cap(&mut b, 80, 3, 1, 88);
    put_cap(&mut b, 88, 2, 1, 0);
    put32(&mut b, 96, 0x8000_1d0f);
    put32(&mut b, 100, 7);
    finish(b)
}

#[test]
fn vfio_region_info_without_capabilities() {
    let b = finish(region_bytes(RW_MMAP, 0, 0, 16 * 1024, 0));
    assert_eq!(b.len(), 32);
    let info = parse_region_info(&b).unwrap();
    assert_eq!(info.argsz, 32);
    assert_eq!(info.index, 0);
    assert_eq!(info.size, 0x4000);
    assert_eq!(info.offset, 0);
    assert!(info.readable() && info.writable() && info.mmappable());
    assert_eq!(info.sparse_mmap, None);
    assert!(!info.msix_mappable && !info.caps_unavailable);
    assert_eq!(
        info.mmap_areas(),
        [MmapArea {
            offset: 0,
            size: 0x4000
        }]
    );
    let plan = plan_bar_mapping(&info, 4096).unwrap();
    assert_eq!(plan.len, 0x4000);
    assert_eq!(plan.areas, info.mmap_areas());

    // Config space: readable and writable, not mmappable, at index 7's offset.
    let cfg = parse_region_info(&finish(region_bytes(3, 7, 0, 256, 7 << 40))).unwrap();
    assert!(cfg.readable() && cfg.writable() && !cfg.mmappable());
    assert_eq!(cfg.offset, 0x700_0000_0000);
    assert!(cfg.mmap_areas().is_empty());
}

#[test]
fn vfio_region_info_sparse_mmap_capability_chain() {
    let b = sparse_bar_bytes();
    assert_eq!(b.len(), 104);
    // Where vfio.h puts things: the chain's headers and the sparse areas.
    let chain = parse_cap_chain(&b, 32, region::REGION_INFO_LEN).unwrap();
    let at: Vec<(u16, u16, usize, u32)> = chain
        .iter()
        .map(|c| (c.id, c.version, c.offset, c.next))
        .collect();
    assert_eq!(at, [(1, 1, 32, 80), (3, 1, 80, 88), (2, 1, 88, 0)]);

    let info = parse_region_info(&b).unwrap();
    assert_eq!(info.index, 2);
    assert_eq!(info.size, 0x10000);
    assert_eq!(info.offset, 0x200_0000_0000);
    assert_eq!(
        info.sparse_mmap.as_deref(),
        Some(
            &[
                MmapArea {
                    offset: 0,
                    size: 0x3000
                },
                MmapArea {
                    offset: 0x4000,
                    size: 0xc000
                }
            ][..]
        )
    );
    assert!(info.msix_mappable);
    assert_eq!(
        info.region_type.map(|t| (t.kind, t.subtype)),
        Some((0x8000_1d0f, 7))
    );
    assert!(info.other_caps.is_empty());
    // Only the run from offset 0 up to the hole is mapped.
    let plan = plan_bar_mapping(&info, 4096).unwrap();
    assert_eq!(plan.len, 0x3000);
    assert_eq!(
        plan.areas,
        [MmapArea {
            offset: 0,
            size: 0x3000
        }]
    );

    // Adjacent areas make one block; an unknown capability is kept, not fatal.
    let mut b = region_bytes(RW_MMAP | CAPS, 0, 32, 0x4000, 0);
    put_cap(&mut b, 32, 1, 1, 80);
    put32(&mut b, 40, 2);
    put64(&mut b, 48, 0x1000);
    put64(&mut b, 56, 0x3000);
    put64(&mut b, 64, 0);
    put64(&mut b, 72, 0x1000);
    put_cap(&mut b, 80, 42, 3, 0);
    let info = parse_region_info(&finish(b)).unwrap();
    assert_eq!(info.other_caps, [(42, 3)]);
    let plan = plan_bar_mapping(&info, 4096).unwrap();
    assert_eq!(plan.len, 0x4000);
    assert_eq!(
        plan.areas.iter().map(|a| a.offset).collect::<Vec<_>>(),
        [0, 0x1000]
    );
}

#[test]
fn vfio_region_info_chain_not_returned_is_reported_and_never_mapped_whole() {
    // The kernel's answer to a buffer too small for the chain: CAPS set, cap_offset 0, argsz
    // raised to what it needs (here 104), only the fixed 32 bytes filled.
    let mut b = region_bytes(RW_MMAP | CAPS, 2, 0, 0x10000, 2 << 40);
    put32(&mut b, 0, 104);
    let info = parse_region_info(&b).unwrap();
    assert_eq!(info.argsz, 104);
    assert!(info.caps_unavailable);
    assert_eq!(info.sparse_mmap, None);
    assert_eq!(
        plan_bar_mapping(&info, 4096).unwrap_err(),
        "the region's capability chain was not returned"
    );
    // argsz cuts the buffer: a chain past argsz is not read.
    let mut b = sparse_bar_bytes();
    put32(&mut b, 0, 64);
    assert_eq!(
        parse_region_info(&b).unwrap_err(),
        "region 2 info: capability at 80 runs past the end of the 64-byte buffer"
    );
}

#[test]
fn vfio_region_info_malformed_chains_are_errors() {
    let err = |b: Vec<u8>| parse_region_info(&b).unwrap_err();
    assert_eq!(
        err(vec![0; 20]),
        "region info: 20 bytes, shorter than the 32-byte structure"
    );
    assert_eq!(
        err(region_bytes(RW_MMAP, 0, 0, 0x4000, 0)
            .into_iter()
            .enumerate()
            .map(|(i, v)| if i < 4 { 0 } else { v })
            .collect()),
        "region info: argsz 0 is shorter than the 32-byte structure"
    );
    // cap_offset pointing into the fixed structure.
    assert_eq!(
        err(finish(region_bytes(RW_MMAP | CAPS, 0, 16, 0x4000, 0))),
        "region 0 info: capability offset 16 lies inside the 32-byte structure"
    );
    // A chain that loops back.
    let mut b = region_bytes(RW_MMAP | CAPS, 0, 32, 0x4000, 0);
    put_cap(&mut b, 32, 3, 1, 40);
    put_cap(&mut b, 40, 3, 1, 32);
    assert_eq!(
        err(finish(b)),
        "region 0 info: capability chain goes backwards (to 32 after 40)"
    );
    // A capability past the buffer.
    let mut b = region_bytes(RW_MMAP | CAPS, 0, 32, 0x4000, 0);
    put_cap(&mut b, 32, 3, 1, 4096);
    assert_eq!(
        err(finish(b)),
        "region 0 info: capability at 4096 runs past the end of the 40-byte buffer"
    );
    // Misaligned.
    let mut b = region_bytes(RW_MMAP | CAPS, 0, 34, 0x4000, 0);
    b.resize(48, 0);
    assert_eq!(
        err(finish(b)),
        "region 0 info: capability offset 34 is not 4-byte aligned"
    );
    // A sparse area outside the region, and a count the buffer cannot hold.
    let mut b = region_bytes(RW_MMAP | CAPS, 0, 32, 0x4000, 0);
    put_cap(&mut b, 32, 1, 1, 0);
    put32(&mut b, 40, 1);
    put64(&mut b, 48, 0x3000);
    put64(&mut b, 56, 0x2000);
    assert_eq!(
        err(finish(b.clone())),
        "region 0 info: sparse-mmap area 0x3000+0x2000 lies outside the 0x4000-byte region"
    );
    put32(&mut b, 40, 0xffff_ffff);
    assert_eq!(
        err(finish(b)),
        "region 0 info: sparse-mmap capability at 32 claims 4294967295 entries, more than the 64-byte buffer holds"
    );
    // A sparse-mmap capability cut off before its count.
    let mut b = region_bytes(RW_MMAP | CAPS, 0, 32, 0x4000, 0);
    put_cap(&mut b, 32, 1, 1, 0);
    assert_eq!(
        err(finish(b)),
        "region 0 info: sparse-mmap capability at 32 is truncated"
    );
    // An unknown sparse-mmap version is refused rather than ignored.
    let mut b = region_bytes(RW_MMAP | CAPS, 0, 32, 0x4000, 0);
    put_cap(&mut b, 32, 1, 2, 0);
    put32(&mut b, 40, 0);
    assert_eq!(
        err(finish(b)),
        "region 0 info: sparse-mmap capability version 2 is unknown (this driver reads version 1)"
    );
}

#[test]
fn vfio_bar_plans_refuse_what_cannot_be_mapped() {
    let plan = |b: Vec<u8>| plan_bar_mapping(&parse_region_info(&finish(b)).unwrap(), 4096);
    assert_eq!(
        plan(region_bytes(3, 0, 0, 0x4000, 0)).unwrap_err(),
        "the region cannot be mmapped (flags 0x3 lack VFIO_REGION_INFO_FLAG_MMAP)"
    );
    assert_eq!(
        plan(region_bytes(RW_MMAP, 1, 0, 0, 1 << 40)).unwrap_err(),
        "the region is empty (the BAR is not implemented)"
    );
    let sparse = |areas: &[(u64, u64)]| {
        let mut b = region_bytes(RW_MMAP | CAPS, 0, 32, 0x8000, 0);
        put_cap(&mut b, 32, 1, 1, 0);
        put32(&mut b, 40, areas.len() as u32);
        put32(&mut b, 44, 0);
        for (i, (o, s)) in areas.iter().enumerate() {
            put64(&mut b, 48 + 16 * i, *o);
            put64(&mut b, 56 + 16 * i, *s);
        }
        plan(b)
    };
    assert_eq!(
        sparse(&[(0x1000, 0x1000)]).unwrap_err(),
        "no mmappable area starts at offset 0 (sparse mmap)"
    );
    assert_eq!(
        sparse(&[]).unwrap_err(),
        "no mmappable area starts at offset 0 (sparse mmap)"
    );
    assert_eq!(
        sparse(&[(0, 0x2000), (0x1000, 0x1000)]).unwrap_err(),
        "mmappable areas overlap at 0x1000"
    );
    assert_eq!(
        sparse(&[(0, 0x1800), (0x1800, 0x800)]).unwrap_err(),
        "mmappable area 0x1800+0x800 does not start on a page boundary"
    );
    // Empty areas are ignored; areas after a hole are not mapped.
    let p = sparse(&[(0x2000, 0), (0, 0x2000), (0x6000, 0x2000)]).unwrap();
    assert_eq!(p.len, 0x2000);
}

#[test]
fn vfio_device_info_flags() {
    let mut b = Vec::new();
    put32(&mut b, 0, 24);
    put32(
        &mut b,
        4,
        uapi::VFIO_DEVICE_FLAGS_PCI | uapi::VFIO_DEVICE_FLAGS_RESET,
    );
    put32(&mut b, 8, 9);
    put32(&mut b, 12, 5);
    put32(&mut b, 16, 0);
    put32(&mut b, 20, 0);
    let d = parse_device_info(&b).unwrap();
    assert!(d.is_pci() && d.reset_supported());
    assert_eq!((d.num_regions, d.num_irqs), (9, 5));
    // edu in QEMU: a PCI device without reset (the guest test saw VFIO_DEVICE_RESET fail).
    put32(&mut b, 4, uapi::VFIO_DEVICE_FLAGS_PCI);
    assert!(!parse_device_info(&b).unwrap().reset_supported());
    assert!(parse_device_info(&b[..16]).is_err());
}

/// The type1 info of the QEMU guest run (vfio-in-qemu.md: flags 0x3, pgsizes 0x40201000,
/// cap_offset 24, two IOVA ranges around the MSI window), plus migration and DMA-available caps.
fn iommu_info_bytes() -> Vec<u8> {
    let mut b = Vec::new();
    put32(&mut b, 0, 0);
    put32(
        &mut b,
        4,
        uapi::VFIO_IOMMU_INFO_PGSIZES | uapi::VFIO_IOMMU_INFO_CAPS,
    );
    put64(&mut b, 8, 0x4020_1000);
    put32(&mut b, 16, 24);
    put32(&mut b, 20, 0);
    // IOVA ranges at 24: header, nr_iovas @32, reserved @36, ranges @40 and @56.
    put_cap(&mut b, 24, 1, 1, 72);
    put32(&mut b, 32, 2);
    put32(&mut b, 36, 0);
    put64(&mut b, 40, 0);
    put64(&mut b, 48, 0xfedf_ffff);
    put64(&mut b, 56, 0xfef0_0000);
    put64(&mut b, 64, 0xffff_ffff_ffff);
    // Migration at 72 (32 bytes), DMA available at 104 (avail @112).
    put_cap(&mut b, 72, 2, 1, 104);
    put32(&mut b, 80, 0);
    put64(&mut b, 88, 0x1000);
    put64(&mut b, 96, 0x1_0000);
    put_cap(&mut b, 104, 3, 1, 0);
    put32(&mut b, 112, 65535);
    b.resize(120, 0);
    finish(b)
}

#[test]
fn vfio_iommu_info_iova_ranges() {
    let info = parse_iommu_info(&iommu_info_bytes()).unwrap();
    assert_eq!(info.iova_pgsizes, Some(0x4020_1000));
    assert_eq!(
        info.iova_ranges.as_deref(),
        Some(
            &[
                IovaRange {
                    start: 0,
                    end: 0xfedf_ffff
                },
                IovaRange {
                    start: 0xfef0_0000,
                    end: 0xffff_ffff_ffff
                }
            ][..]
        )
    );
    assert_eq!(info.dma_avail, Some(65535));
    // A typical user virtual address is accepted; the MSI window is not.
    assert!(info.accepts(0x7f31_f120_0000, 2 << 20));
    assert!(!info.accepts(0xfee0_0000, 4096));
    assert!(!info.accepts(0xfede_0000, 0x30000), "straddles the hole");
    assert!(!info.accepts(0x1_0000_0000_0000, 4096), "past 48 bits");

    // Without caps, any address goes.
    let mut b = iommu_info_bytes();
    put32(&mut b, 4, uapi::VFIO_IOMMU_INFO_PGSIZES);
    let info = parse_iommu_info(&b).unwrap();
    assert_eq!(info.iova_ranges, None);
    assert!(info.accepts(0xfee0_0000, 4096));
    // A range that ends before it starts.
    let mut b = iommu_info_bytes();
    put64(&mut b, 48, 0);
    put64(&mut b, 40, 5);
    assert_eq!(
        parse_iommu_info(&b).unwrap_err(),
        "IOMMU info: IOVA range 0x5-0x0 ends before it starts"
    );
}

proptest::proptest! {
    #[test]
    fn vfio_parsers_never_panic_on_garbage(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        let _ = parse_region_info(&bytes);
        let _ = parse_iommu_info(&bytes);
        let _ = parse_device_info(&bytes);
        if let Ok(info) = parse_region_info(&bytes) {
            if let Ok(plan) = plan_bar_mapping(&info, 4096) {
                proptest::prop_assert!(plan.len <= info.size);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// BAR mapping and config space on files standing in for the device fd

#[test]
fn vfio_bar_mapping_maps_only_the_sparse_areas() {
    let dir = TempDir::new("bar");
    let path = dir.0.join("device");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    file.set_len(0x20000).unwrap();
    // A 0x5000-byte BAR at file offset 0x10000: areas [0, 0x1000), [0x1000, 0x3000), [0x4000, 0x5000).
    let mut b = region_bytes(RW_MMAP | CAPS, 0, 32, 0x5000, 0x10000);
    put_cap(&mut b, 32, 1, 1, 0);
    put32(&mut b, 40, 3);
    for (i, (o, s)) in [(0u64, 0x1000u64), (0x1000, 0x2000), (0x4000, 0x1000)]
        .iter()
        .enumerate()
    {
        put64(&mut b, 48 + 16 * i, *o);
        put64(&mut b, 56 + 16 * i, *s);
    }
    let info = parse_region_info(&finish(b)).unwrap();
    let bar0 = bar::map_region(&file, &info, "BAR0").unwrap();
    assert_eq!(bar0.len(), 0x3000);
    bar0.write32(0x10, 0x1234_5678);
    bar0.write32(0x2ffc, 0xa5a5_0001);
    // Past the mapped block: ignored on write, all-ones on read (never a fault).
    bar0.write32(0x4000, 0xdead_beef);
    assert_eq!(bar0.read32(0x4000), u32::MAX);
    let mut got = [0u8; 4];
    file.read_exact_at(&mut got, 0x10010).unwrap();
    assert_eq!(got, 0x1234_5678u32.to_le_bytes());
    file.read_exact_at(&mut got, 0x12ffc).unwrap();
    assert_eq!(got, 0xa5a5_0001u32.to_le_bytes());
    file.read_exact_at(&mut got, 0x14000).unwrap();
    assert_eq!(
        got, [0; 4],
        "the area after the hole was not mapped or written"
    );
    // Writes by the other side show through the shared mapping.
    file.write_all_at(&7u32.to_le_bytes(), 0x11000).unwrap();
    assert_eq!(bar0.read32(0x1000), 7);
    drop(bar0);

    // A BAR that cannot be mmapped is a clear error.
    let info = parse_region_info(&finish(region_bytes(3, 2, 0, 0x4000, 0))).unwrap();
    assert_eq!(
        bar::map_region(&file, &info, "BAR2")
            .unwrap_err()
            .to_string(),
        "BAR2: the region cannot be mmapped (flags 0x3 lack VFIO_REGION_INFO_FLAG_MMAP)"
    );
}

#[test]
fn vfio_config_space_bus_master_read_modify_write() {
    let dir = TempDir::new("cfg");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.0.join("device"))
        .unwrap();
    // Config region at offset 0x7000: vendor/device, command 0x0400 (INTx disabled), revision 0.
    let mut cfg = [0u8; 256];
    cfg[0..2].copy_from_slice(&0x1d0fu16.to_le_bytes());
    cfg[2..4].copy_from_slice(&0xec20u16.to_le_bytes());
    cfg[4..6].copy_from_slice(&0x0400u16.to_le_bytes());
    cfg[8] = 0x00;
    cfg[9] = 0x00;
    file.write_all_at(&cfg, 0x7000).unwrap();
    assert_eq!(
        bar::enable_bus_master(&file, 0x7000).unwrap(),
        (0x0400, 0x0406)
    );
    let mut after = [0u8; 256];
    file.read_exact_at(&mut after, 0x7000).unwrap();
    assert_eq!(u16::from_le_bytes([after[4], after[5]]), 0x0406);
    assert_eq!(&after[..4], &cfg[..4]);
    assert_eq!(&after[6..], &cfg[6..]);
    // Already on: nothing written, reported unchanged.
    assert_eq!(
        bar::enable_bus_master(&file, 0x7000).unwrap(),
        (0x0406, 0x0406)
    );
    assert_eq!(
        bar::read_config::<2>(&file, 0x7000, 2).unwrap(),
        0xec20u16.to_le_bytes()
    );
    // A config region that is too short reads as an error.
    assert!(bar::enable_bus_master(&file, 0x8000).is_err());
}

// ---------------------------------------------------------------------------------------------
// Group discovery and no-IOMMU detection

#[test]
fn vfio_group_discovery_from_sysfs() {
    let t = FakeTree::new("group");
    t.ena(Some("vfio-pci"), Some(7));
    // Two more functions in the same group: one driven by the kernel's ena, one a port.
    t.function("0000:00:06.1", (0x1d0f, 0xec20), Some("ena"), Some(7));
    t.function("0000:00:01.0", (0x8086, 0x1234), Some("pcieport"), Some(7));
    t.function("0000:00:07.0", (0x1d0f, 0xec20), None, Some(8));

    assert_eq!(group::iommu_group_of(&t.sysfs(), BDF).unwrap(), 7);
    assert_eq!(group::iommu_group_of(&t.sysfs(), "00:07.0").unwrap(), 8);
    assert_eq!(
        group::bound_driver(&t.sysfs(), BDF).unwrap().as_deref(),
        Some("vfio-pci")
    );
    assert_eq!(
        group::bound_driver(&t.sysfs(), "0000:00:07.0").unwrap(),
        None
    );

    let members = group::group_members(&t.sysfs(), 7).unwrap();
    let m = |bdf: &str, d: Option<&str>| GroupMember {
        bdf: bdf.into(),
        driver: d.map(Into::into),
    };
    assert_eq!(
        members,
        [
            m("0000:00:01.0", Some("pcieport")),
            m("0000:00:06.0", Some("vfio-pci")),
            m("0000:00:06.1", Some("ena"))
        ]
    );
    assert_eq!(
        group::group_blockers(&members),
        [&m("0000:00:06.1", Some("ena"))]
    );
    let addr = PciAddress::parse(BDF).unwrap();
    assert_eq!(
        group::not_viable_message(&addr, 7, &members),
        "IOMMU group 7 of 0000:00:06.0 is not viable: other functions share it: 0000:00:06.1 \
         (bound to `ena`); bind every function of the group to vfio-pci (`enactl bind <BDF>`) or \
         unbind them"
    );
    // Once the sibling is on vfio-pci (or pci-stub, or unbound) nothing blocks.
    t.bind("0000:00:06.1", "pci-stub");
    let members = group::group_members(&t.sysfs(), 7).unwrap();
    assert!(group::group_blockers(&members).is_empty());
    assert_eq!(
        group::not_viable_message(&addr, 7, &members),
        "IOMMU group 7 of 0000:00:06.0 is not viable: a function in it is in use by a kernel \
         driver (members: 0000:00:01.0, 0000:00:06.0, 0000:00:06.1); bind every function of the \
         group to vfio-pci (`enactl bind <BDF>`) or unbind them"
    );
    assert!(group::driver_keeps_group_viable(Some("mlx5_vfio_pci")));
    assert!(!group::driver_keeps_group_viable(Some("nvme")));

    assert_eq!(
        group::container_node(Path::new("/dev")),
        Path::new("/dev/vfio/vfio")
    );
    assert_eq!(
        group::group_node(Path::new("/dev"), 7, IommuMode::Type1v2),
        Path::new("/dev/vfio/7")
    );
    assert_eq!(
        group::group_node(Path::new("/dev"), 7, IommuMode::NoIommu),
        Path::new("/dev/vfio/noiommu-7")
    );
}

#[test]
fn vfio_missing_iommu_group_says_what_to_do() {
    let t = FakeTree::new("nogroup");
    t.ena(Some("vfio-pci"), None);
    let err = |t: &FakeTree| {
        group::iommu_group_of(&t.sysfs(), BDF)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(&t),
        "invalid configuration: 0000:00:06.0 has no IOMMU group: the kernel sees no IOMMU for it; \
         enable an IOMMU (intel_iommu=on or amd_iommu=on on the kernel command line), or use \
         no-IOMMU mode: the vfio module is not loaded; `modprobe vfio enable_unsafe_noiommu_mode=1` \
         then `modprobe vfio-pci`"
    );
    t.vfio_loaded(None);
    assert!(err(&t).ends_with(
        "no-IOMMU mode: this kernel's vfio was built without CONFIG_VFIO_NOIOMMU, so no-IOMMU mode \
         is not available (use an IOMMU, or uio: igb_uio / uio_pci_generic with the PCI platform)"
    ));
    t.vfio_loaded(Some("N\n"));
    assert!(err(&t).contains(
        "no-IOMMU mode is off; switch it on with `echo Y > \
         /sys/module/vfio/parameters/enable_unsafe_noiommu_mode`"
    ));
    t.vfio_loaded(Some("Y\n"));
    assert!(err(&t).ends_with(
        "no-IOMMU mode is on, so binding it to vfio-pci (`enactl bind 0000:00:06.0`) creates a \
         no-IOMMU group"
    ));
    // A group link that does not name a number.
    symlink(
        "../../../kernel/iommu_groups/abc",
        t.dev_dir(BDF).join("iommu_group"),
    )
    .unwrap();
    assert!(err(&t).contains("the link names group \"abc\", not a number"));
    assert!(group::iommu_group_of(&t.sysfs(), "bogus").is_err());
}

#[test]
fn vfio_noiommu_detection() {
    assert_eq!(group::parse_noiommu_param("Y\n"), Some(true));
    assert_eq!(group::parse_noiommu_param("N\n"), Some(false));
    assert_eq!(group::parse_noiommu_param("maybe"), None);

    let t = FakeTree::new("noiommu");
    let s = t.sysfs();
    assert_eq!(group::noiommu_state(&s), NoIommuState::VfioNotLoaded);
    t.vfio_loaded(None);
    assert_eq!(group::noiommu_state(&s), NoIommuState::NotBuiltIn);
    t.vfio_loaded(Some("N\n"));
    assert_eq!(group::noiommu_state(&s), NoIommuState::Disabled);
    assert!(!group::noiommu_enabled(&s));
    t.vfio_loaded(Some("Y\n"));
    assert_eq!(group::noiommu_state(&s), NoIommuState::Enabled);
    assert!(group::noiommu_enabled(&s));
    t.vfio_loaded(Some("garbage"));
    assert_eq!(group::noiommu_state(&s), NoIommuState::Disabled);

    // A group is no-IOMMU by its name, or by its node.
    t.ena(Some("vfio-pci"), Some(3));
    assert!(!group::is_noiommu_group(&s, &t.dev(), 3));
    fs::write(s.join("kernel/iommu_groups/3/name"), "vfio-noiommu\n").unwrap();
    assert!(group::is_noiommu_group(&s, &t.dev(), 3));
    fs::remove_file(s.join("kernel/iommu_groups/3/name")).unwrap();
    t.dev_node("noiommu-3");
    assert!(group::is_noiommu_group(&s, &t.dev(), 3));
    assert!(!group::is_noiommu_group(&s, &t.dev(), 4));
}

#[test]
fn vfio_mode_resolution() {
    let addr = PciAddress::parse(BDF).unwrap();
    let r = |m, noiommu| group::resolve_mode(m, &addr, 5, noiommu);
    assert_eq!(r(VfioMode::Auto, false), Ok(IommuMode::Type1v2));
    assert_eq!(r(VfioMode::Auto, true), Ok(IommuMode::NoIommu));
    assert_eq!(r(VfioMode::Iommu, false), Ok(IommuMode::Type1v2));
    assert_eq!(r(VfioMode::NoIommu, true), Ok(IommuMode::NoIommu));
    assert_eq!(
        r(VfioMode::Iommu, true).unwrap_err(),
        "0000:00:06.0 is in no-IOMMU group 5 (the kernel has no IOMMU for it), so IOMMU mode \
         cannot be used; open it in no-IOMMU mode (mode noiommu or auto)"
    );
    assert_eq!(
        r(VfioMode::NoIommu, false).unwrap_err(),
        "0000:00:06.0 is behind an IOMMU (group 5), so no-IOMMU mode does not apply to it; open it \
         in IOMMU mode (mode iommu or auto)"
    );
    assert_eq!(VfioOptions::default().mode, VfioMode::Auto);
}

// ---------------------------------------------------------------------------------------------
// VfioPlatform::open errors

#[test]
fn vfio_open_without_dev_vfio_says_vfio_is_not_available() {
    let t = FakeTree::new("novfio");
    t.ena(Some("vfio-pci"), Some(5));
    assert_eq!(
        t.open_err(t.opts()),
        format!(
            "invalid configuration: vfio is not available: {} does not exist because the vfio \
             modules are not loaded; load them with `modprobe vfio-pci` (for no-IOMMU mode first \
             `modprobe vfio enable_unsafe_noiommu_mode=1`)",
            t.dev().join("vfio/vfio").display()
        )
    );
    t.vfio_loaded(Some("N\n"));
    assert_eq!(
        t.open_err(t.opts()),
        format!(
            "invalid configuration: vfio is not available: the vfio module is loaded but {} is \
             missing (is devtmpfs mounted on {}?)",
            t.dev().join("vfio/vfio").display(),
            t.dev().display()
        )
    );
}

#[test]
fn vfio_open_on_this_machine_fails_clearly() {
    if Path::new("/dev/vfio/vfio").exists() {
        println!("SKIPPED: this machine has /dev/vfio/vfio (the QEMU guest test covers it)");
        return;
    }
    let err = VfioPlatform::open(BDF, VfioOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("invalid configuration: vfio is not available: /dev/vfio/vfio "),
        "{err}"
    );
    assert!(err.contains("modprobe vfio-pci"), "{err}");
    // A bad address is caught first, whatever the machine.
    assert_eq!(
        VfioPlatform::open("06.0", VfioOptions::default())
            .unwrap_err()
            .to_string(),
        "invalid configuration: bad PCI address \"06.0\": expected DDDD:BB:DD.F in hex, e.g. 0000:00:06.0"
    );
}

#[test]
fn vfio_open_device_checks_come_before_any_ioctl() {
    let t = FakeTree::new("checks");
    t.dev_node("vfio");
    // No such device.
    assert_eq!(
        t.open_err(t.opts()),
        format!(
            "invalid configuration: PCI device 0000:00:06.0 not found under {}",
            t.sysfs().join("bus/pci/devices").display()
        )
    );
    // Not an ENA function.
    t.function(BDF, (0x8086, 0x10d3), Some("vfio-pci"), Some(5));
    assert_eq!(
        t.open_err(t.opts()),
        "unsupported device: 0000:00:06.0 is not an ENA device (vendor:device 8086:10d3)"
    );
    let t = FakeTree::new("driver");
    t.dev_node("vfio");
    // Bound to the kernel's ena driver, then to nothing.
    t.ena(Some("ena"), Some(5));
    assert_eq!(
        t.open_err(t.opts()),
        "invalid configuration: 0000:00:06.0 is bound to `ena`, not vfio-pci; bind it with \
         `enactl bind 0000:00:06.0`"
    );
    fs::remove_file(t.dev_dir(BDF).join("driver")).unwrap();
    assert_eq!(
        t.open_err(t.opts()),
        "invalid configuration: 0000:00:06.0 is not bound to any driver; bind it to vfio-pci with \
         `enactl bind 0000:00:06.0`"
    );
    // On vfio-pci, but /dev/vfio/5 is missing.
    t.bind(BDF, "vfio-pci");
    assert_eq!(
        t.open_err(t.opts()),
        format!(
            "invalid configuration: {} does not exist although 0000:00:06.0 is bound to vfio-pci \
             (is devtmpfs mounted on {}?); rebind it with `enactl bind 0000:00:06.0`",
            t.dev().join("vfio/5").display(),
            t.dev().display()
        )
    );
    // Asking for no-IOMMU mode on a device behind an IOMMU.
    assert!(t
        .open_err(VfioOptions {
            mode: VfioMode::NoIommu,
            ..t.opts()
        })
        .ends_with("open it in IOMMU mode (mode iommu or auto)"));
    // With nodes that are not VFIO at all, the first ioctl fails with a clear error, no panic.
    t.dev_node("5");
    assert_eq!(
        t.open_err(t.opts()),
        format!(
            "{} is not a VFIO container (VFIO_GET_API_VERSION): Inappropriate ioctl for device \
             (os error 25)",
            t.dev().join("vfio/vfio").display()
        )
    );
    // A no-IOMMU group: its own node name is used.
    t.dev_node("noiommu-5");
    fs::remove_file(t.dev().join("vfio/5")).unwrap();
    assert!(t
        .open_err(VfioOptions {
            mode: VfioMode::Iommu,
            ..t.opts()
        })
        .ends_with("open it in no-IOMMU mode (mode noiommu or auto)"));
    assert!(t
        .open_err(t.opts())
        .contains("is not a VFIO container (VFIO_GET_API_VERSION)"));
}

#[test]
fn vfio_device_layer_takes_any_pci_function() {
    // The generic layer (what the QEMU guest test drives with edu/e1000e) has no ENA check: a
    // non-ENA function gets as far as the first ioctl.
    let t = FakeTree::new("anydev");
    t.function(BDF, (0x1234, 0x11e8), Some("vfio-pci"), Some(1));
    t.dev_node("vfio");
    t.dev_node("1");
    assert_eq!(
        VfioDevice::open(BDF, &t.opts()).unwrap_err().to_string(),
        format!(
            "{} is not a VFIO container (VFIO_GET_API_VERSION): Inappropriate ioctl for device \
             (os error 25)",
            t.dev().join("vfio/vfio").display()
        )
    );
    assert_eq!(
        t.open_err(t.opts()),
        "unsupported device: 0000:00:06.0 is not an ENA device (vendor:device 1234:11e8)"
    );
}

#[test]
fn vfio_ioctls_on_a_non_vfio_fd_fail_cleanly() {
    use std::os::fd::AsFd;
    let dir = TempDir::new("enotty");
    let f = File::create(dir.0.join("plain")).unwrap();
    let fd = f.as_fd();
    let enotty = |r: io::Result<()>| assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::ENOTTY));
    enotty(ioctl::get_api_version(fd).map(drop));
    enotty(ioctl::check_extension(fd, uapi::VFIO_TYPE1v2_IOMMU).map(drop));
    enotty(ioctl::set_iommu(fd, uapi::VFIO_TYPE1v2_IOMMU));
    enotty(ioctl::group_get_status(fd).map(drop));
    enotty(ioctl::group_set_container(fd, fd));
    enotty(ioctl::group_get_device_fd(fd, BDF).map(drop));
    enotty(ioctl::device_get_info(fd).map(drop));
    enotty(ioctl::device_get_region_info(fd, 0).map(drop));
    enotty(ioctl::device_get_irq_info(fd, 2).map(drop));
    enotty(ioctl::device_set_irqs(fd, &irq_set_disable(2)));
    enotty(ioctl::device_reset(fd));
    enotty(ioctl::iommu_get_info(fd).map(drop));
    enotty(ioctl::iommu_map_dma(fd, 0x1000, 0x1000, 0x1000));
    enotty(ioctl::iommu_unmap_dma(fd, 0x1000, 0x1000).map(drop));
    // Arguments the layer refuses before any syscall.
    assert_eq!(
        ioctl::group_get_device_fd(fd, "0000:00:06.0\0x")
            .unwrap_err()
            .kind(),
        io::ErrorKind::InvalidInput
    );
    let mut bad = irq_set_disable(2);
    bad.push(0);
    assert_eq!(
        ioctl::device_set_irqs(fd, &bad).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
}

#[test]
fn vfio_node_open_errors_say_what_to_do() {
    let p = Path::new("/dev/vfio/5");
    let e = |errno, mode| open_node_error(p, io::Error::from_raw_os_error(errno), mode).to_string();
    assert_eq!(
        e(libc::EACCES, IommuMode::Type1v2),
        "opening /dev/vfio/5 (permission denied: run as root, or give this user access to \
         /dev/vfio/5 with a udev rule or chown): Permission denied (os error 13)"
    );
    assert_eq!(
        e(libc::EPERM, IommuMode::NoIommu),
        "opening /dev/vfio/5 (no-IOMMU groups need CAP_SYS_RAWIO: run as root): Operation not \
         permitted (os error 1)"
    );
    assert!(e(libc::EBUSY, IommuMode::Type1v2).contains("the group is already open"));
    assert_eq!(
        e(libc::EIO, IommuMode::Type1v2),
        "opening /dev/vfio/5: Input/output error (os error 5)"
    );
}

#[test]
fn vfio_wc_warning_says_why_and_what_to_do() {
    let addr = PciAddress::parse(BDF).unwrap();
    assert_eq!(
        vfio_wc_warning(&addr, WcPolicy::FallBackToHost),
        "0000:00:06.0: BAR2 (LLQ device memory) cannot be mapped write-combining, because \
         vfio-pci maps BARs uncached (it has no write-combining mmap); no BAR2 for LLQ: TX queues \
         will be placed in host memory instead. To get a write-combining BAR2 use vfio-pci with \
         AWS's write-combining patch (amzn/amzn-drivers \
         userspace/dpdk/enav2-vfio-patch/get-vfio-with-wc.sh) and set assume_wc_bar2, or bind the \
         device to igb_uio loaded with wc_activate=1 (or a kernel exposing resource2_wc) and use \
         the PCI platform"
    );
    assert!(vfio_wc_warning(&addr, WcPolicy::Require).contains("refusing to open the device"));
    assert!(vfio_wc_warning(&addr, WcPolicy::Proceed).contains("mapping BAR2 uncached"));
}

// ---------------------------------------------------------------------------------------------
// Interrupt plumbing

#[test]
fn vfio_irq_set_layout() {
    let b = irq_set_eventfds(uapi::VFIO_PCI_MSIX_IRQ_INDEX, 0, &[-1, 7]);
    let mut want = Vec::new();
    for w in [28u32, 0x24, 2, 0, 2] {
        want.extend_from_slice(&w.to_ne_bytes());
    }
    want.extend_from_slice(&(-1i32).to_ne_bytes());
    want.extend_from_slice(&7i32.to_ne_bytes());
    assert_eq!(b, want);
    let off = irq_set_disable(uapi::VFIO_PCI_MSIX_IRQ_INDEX);
    let mut want = Vec::new();
    for w in [20u32, 0x21, 2, 0, 0] {
        want.extend_from_slice(&w.to_ne_bytes());
    }
    assert_eq!(off, want);
}

#[test]
fn vfio_eventfd_counts_and_waits() {
    let efd = Arc::new(EventFd::new().unwrap());
    assert_eq!(efd.try_read().unwrap(), None);
    efd.notify(2).unwrap();
    efd.notify(3).unwrap();
    assert_eq!(efd.try_read().unwrap(), Some(5));
    assert_eq!(efd.wait(Duration::from_millis(10)).unwrap(), None);
    let other = efd.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        other.notify(1).unwrap();
    });
    assert_eq!(efd.wait(Duration::from_secs(5)).unwrap(), Some(1));
    t.join().unwrap();
}

// ---------------------------------------------------------------------------------------------
// DMA memory

#[test]
fn vfio_iova_choice() {
    const MB2: u64 = 2 << 20;
    let mut cursor = 0;
    let va = 0x7f31_f120_0000;
    assert_eq!(choose_iova(va, MB2, None, &mut cursor), Some(va));
    let wide = [IovaRange {
        start: 0,
        end: 0xffff_ffff_ffff,
    }];
    assert_eq!(choose_iova(va, MB2, Some(&wide), &mut cursor), Some(va));
    assert_eq!(
        cursor, 0,
        "identity mappings leave the fallback cursor alone"
    );
    // A 39-bit IOMMU (QEMU 7.2's VT-d) with the MSI hole: the VA does not fit, so IOVAs come
    // from the ranges, 2 MiB aligned, never 0, skipping the hole.
    let narrow = [
        IovaRange {
            start: 0,
            end: 0xfedf_ffff,
        },
        IovaRange {
            start: 0xfef0_0000,
            end: 0x7f_ffff_ffff,
        },
    ];
    assert_eq!(choose_iova(va, MB2, Some(&narrow), &mut cursor), Some(MB2));
    assert_eq!(
        choose_iova(va, MB2, Some(&narrow), &mut cursor),
        Some(2 * MB2)
    );
    cursor = 0xfec0_0000;
    assert_eq!(
        choose_iova(va, MB2, Some(&narrow), &mut cursor),
        Some(0xfec0_0000)
    );
    assert_eq!(
        choose_iova(va, MB2, Some(&narrow), &mut cursor),
        Some(0xff00_0000)
    );
    cursor = 0x7f_ffff_0000;
    assert_eq!(choose_iova(va, MB2, Some(&narrow), &mut cursor), None);
    assert_eq!(choose_iova(va, MB2, Some(&[]), &mut cursor), None);
}

#[test]
fn vfio_dma_needs_a_hugetlbfs_mount() {
    let dir = TempDir::new("nohuge");
    let err = dma::check_hugetlbfs(&dir.0).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "out of memory: no hugepages: {0} is not a hugetlbfs mount; mount one with `mount -t \
             hugetlbfs -o pagesize=2M nodev {0}` and reserve pages with `echo <n> > \
             /proc/sys/vm/nr_hugepages`",
            dir.0.display()
        )
    );
    assert!(dma::check_hugetlbfs(&dir.0.join("missing"))
        .unwrap_err()
        .to_string()
        .contains("is not a hugetlbfs mount"));
    let mapper: Arc<dyn DmaMapper> = Arc::new(Recorder::default());
    assert!(matches!(
        IommuDmaAllocator::new(&dir.0, "x", mapper.clone(), None),
        Err(ena::Error::NoMemory(_))
    ));
    assert!(matches!(
        IommuDmaAllocator::new(&dir.0, "a/b", mapper, None),
        Err(ena::Error::Config(_))
    ));
    assert!(dma::noiommu_allocator(&dir.0, "x")
        .unwrap_err()
        .to_string()
        .contains("is not a hugetlbfs mount"));
    assert!(dma::NOIOMMU_PAGEMAP_HIDDEN.contains("CAP_SYS_ADMIN"));
    assert!(dma::NOIOMMU_PAGEMAP_HIDDEN.contains("CAP_SYS_RAWIO"));
}

/// An IOMMU stand-in that records what it was asked to do.
#[derive(Default)]
struct Recorder {
    maps: Mutex<Vec<(u64, u64, u64)>>,
    unmaps: Mutex<Vec<(u64, u64)>>,
    fail_with: Option<i32>,
}

impl DmaMapper for Recorder {
    fn map_dma(&self, vaddr: u64, iova: u64, size: u64) -> io::Result<()> {
        if let Some(errno) = self.fail_with {
            return Err(io::Error::from_raw_os_error(errno));
        }
        self.maps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((vaddr, iova, size));
        Ok(())
    }

    fn unmap_dma(&self, iova: u64, size: u64) -> io::Result<()> {
        self.unmaps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((iova, size));
        Ok(())
    }
}

#[cfg(feature = "sim")]
mod hugepages {
    use super::*;
    use ena_sim::transport::pci_rig::HugepageReservation;
    use std::sync::MutexGuard;

    fn serial() -> MutexGuard<'static, ()> {
        static LOCK: Mutex<()> = Mutex::new(());
        LOCK.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn reserve(pages: usize) -> Option<HugepageReservation> {
        if let Err(why) = HugepageReservation::available() {
            println!("SKIPPED: {why}");
            return None;
        }
        match HugepageReservation::ensure(pages, None) {
            Ok(r) => Some(r),
            Err(e) => {
                println!("SKIPPED: hugepages: {e}");
                None
            }
        }
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn vfio_iommu_dma_maps_each_hugepage_at_its_virtual_address() {
        let _g = serial();
        let Some(res) = reserve(3) else { return };
        let rec = Arc::new(Recorder::default());
        let alloc =
            IommuDmaAllocator::new(res.dir(), "vfiotest", rec.clone(), None).expect("allocator");
        let ring = alloc.alloc(4096, 4096).unwrap();
        let buf = alloc.alloc(1500, 64).unwrap();
        let maps = rec.maps.lock().unwrap().clone();
        assert_eq!(maps.len(), 1, "one MAP_DMA for the page");
        let (vaddr, iova, size) = maps[0];
        assert_eq!(vaddr, iova, "IOVA = virtual address");
        assert_eq!(size, HUGEPAGE_SIZE as u64);
        assert_eq!(ring.iova(), iova);
        assert_eq!(buf.iova(), iova + 4096);
        // The page file is gone already; the mapping keeps the page.
        assert!(files(res.dir()).is_empty(), "{:?}", files(res.dir()));
        // IOVA = VA: the region's device address is where the driver's writes land.
        buf.write_bytes(3, b"vfio");
        let mut seen = [0u8; 4];
        for (i, b) in seen.iter_mut().enumerate() {
            // SAFETY: `buf.iova()` is the virtual address of the live region (checked above via
            // the recorded map), and bytes 3..7 are inside it.
            *b = unsafe { std::ptr::read_volatile((buf.iova() as usize + 3 + i) as *const u8) };
        }
        assert_eq!(&seen, b"vfio");
        // Zeroed.
        let mut z = vec![0xffu8; 4096];
        ring.read_bytes(0, &mut z);
        assert!(z.iter().all(|&b| b == 0));

        // A request that does not fit the rest of the page maps a second page.
        let big = alloc.alloc(HUGEPAGE_SIZE, 4096).unwrap();
        assert_eq!(alloc.pages_mapped(), 2);
        let maps = rec.maps.lock().unwrap().clone();
        assert_eq!(maps.len(), 2);
        assert_eq!(maps[1].0, maps[1].1);
        assert_eq!(big.iova(), maps[1].1);
        assert!(alloc.alloc(HUGEPAGE_SIZE + 1, 64).is_err());
        assert!(alloc.alloc(64, 3).is_err());

        // Unmapped when the last user of a page goes, not before: page 1 is still the
        // allocator's current page, page 0 still holds `buf`.
        drop(big);
        drop(ring);
        assert!(rec.unmaps.lock().unwrap().is_empty());
        drop(alloc);
        assert_eq!(
            *rec.unmaps.lock().unwrap(),
            [(maps[1].1, HUGEPAGE_SIZE as u64)]
        );
        drop(buf);
        assert_eq!(
            *rec.unmaps.lock().unwrap(),
            [
                (maps[1].1, HUGEPAGE_SIZE as u64),
                (iova, HUGEPAGE_SIZE as u64)
            ]
        );
        drop(res);
    }

    #[test]
    fn vfio_iommu_dma_outside_the_iova_ranges_uses_the_ranges() {
        let _g = serial();
        let Some(res) = reserve(2) else { return };
        let rec = Arc::new(Recorder::default());
        let ranges = vec![IovaRange {
            start: 0x1000_0000,
            end: 0x1fff_ffff,
        }];
        let alloc = IommuDmaAllocator::new(res.dir(), "vfiofb", rec.clone(), Some(ranges)).unwrap();
        let r = alloc.alloc(64, 64).unwrap();
        let (vaddr, iova, _) = rec.maps.lock().unwrap()[0];
        assert!(vaddr > 0x1fff_ffff, "a user VA lies above the test range");
        assert_eq!(iova, 0x1000_0000);
        assert_eq!(r.iova(), 0x1000_0000);
        drop(r);
        drop(alloc);
        drop(res);
    }

    #[test]
    fn vfio_iommu_dma_map_failure_is_clear_and_leaks_nothing() {
        let _g = serial();
        let Some(res) = reserve(1) else { return };
        let rec = Arc::new(Recorder {
            fail_with: Some(libc::ENOMEM),
            ..Recorder::default()
        });
        let alloc = IommuDmaAllocator::new(res.dir(), "vfiofail", rec.clone(), None).unwrap();
        let err = alloc.alloc(64, 64).unwrap_err().to_string();
        assert!(err.starts_with("VFIO_IOMMU_MAP_DMA of 0x"), "{err}");
        assert!(
            err.ends_with(
                "(2 MiB) (the locked-memory limit is too small for DMA memory: raise `ulimit -l` \
                 or run as root): Cannot allocate memory (os error 12)"
            ),
            "{err}"
        );
        assert!(rec.unmaps.lock().unwrap().is_empty(), "nothing was mapped");
        assert!(files(res.dir()).is_empty());
        assert_eq!(alloc.pages_mapped(), 0);
        drop(alloc);
        drop(res);
    }

    #[test]
    fn vfio_noiommu_dma_iova_is_the_physical_address() {
        let _g = serial();
        let Some(res) = reserve(2) else { return };
        let alloc = match dma::noiommu_allocator(res.dir(), "vfionoiommu") {
            Ok(a) => a,
            Err(e) => {
                println!("SKIPPED: {e}");
                return;
            }
        };
        let first = alloc.alloc(4096, 4096).unwrap();
        let second = alloc.alloc(100, 64).unwrap();
        assert_eq!(second.iova(), first.iova() + 4096);
        assert_eq!(first.iova() % HUGEPAGE_SIZE as u64, 0);
        // Look at the page through a mapping of its own file (as a device model would) and ask
        // the pagemap where it is: the region's IOVA is that physical address.
        second.write_bytes(0, b"noiommu");
        let file = File::open(res.dir().join("vfionoiommumap_0")).unwrap();
        // SAFETY: a read-only shared mapping of a hugetlbfs file that stays alive (the
        // allocator's regions hold it) for as long as `view`.
        let view = unsafe {
            memmap2::MmapOptions::new()
                .len(HUGEPAGE_SIZE)
                .map(&file)
                .unwrap()
        };
        assert_eq!(&view[4096..4096 + 7], b"noiommu");
        let pa = pagemap_phys_addr(view.as_ptr() as usize + 4096)
            .unwrap()
            .expect("present");
        assert_eq!(pa, second.iova());
        drop(view);
        drop((first, second, alloc));
        drop(res);
    }
}

#[test]
fn vfio_iova_ranges_clipped_to_the_device_width() {
    let qemu = [
        IovaRange {
            start: 0,
            end: 0xfedf_ffff,
        },
        IovaRange {
            start: 0xfef0_0000,
            end: 0xffff_ffff_ffff,
        },
    ];
    assert_eq!(
        dma::clip_iova_ranges(Some(&qemu), None).as_deref(),
        Some(&qemu[..])
    );
    assert_eq!(dma::clip_iova_ranges(None, None), None);
    assert_eq!(dma::clip_iova_ranges(None, Some(64)), None);
    // edu's default 28-bit DMA mask.
    assert_eq!(
        dma::clip_iova_ranges(Some(&qemu), Some(28)),
        Some(vec![IovaRange {
            start: 0,
            end: 0x0fff_ffff
        }])
    );
    assert_eq!(
        dma::clip_iova_ranges(Some(&qemu), Some(40)),
        Some(vec![
            qemu[0],
            IovaRange {
                start: 0xfef0_0000,
                end: 0xff_ffff_ffff
            }
        ])
    );
    assert_eq!(
        dma::clip_iova_ranges(None, Some(32)),
        Some(vec![IovaRange {
            start: 0,
            end: 0xffff_ffff
        }])
    );
    // A VA does not fit 28 bits, so pages get IOVAs from 2 MiB up.
    let clipped = dma::clip_iova_ranges(Some(&qemu), Some(28)).unwrap();
    let mut cursor = 0;
    assert_eq!(
        choose_iova(0x7f31_f120_0000, 2 << 20, Some(&clipped), &mut cursor),
        Some(2 << 20)
    );
}

// ---------------------------------------------------------------------------------------------
// In the QEMU guest (scripts/vfio-qemu-test.sh, scripts/vfio-qemu/init): the guest's /init binds
// QEMU's edu (1234:11e8) and e1000e (8086:10d3) to vfio-pci with `enactl`, mounts hugetlbfs with
// `enactl hugepages`, and runs each test below alone with VFIO_TEST_MODE (iommu | noiommu),
// VFIO_TEST_BDF (edu), VFIO_TEST_NIC_BDF (e1000e) and VFIO_TEST_HUGEPAGE_DIR set. Elsewhere
// (VFIO_TEST_BDF unset) they print SKIPPED; in the guest nothing is skipped.

mod in_guest {
    use super::*;
    use ena::platform::vfio::ADMIN_MSIX_VECTOR;
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::fs::OpenOptionsExt;
    use std::time::Instant;

    /// What the guest's /init set up.
    struct Guest {
        mode: VfioMode,
        edu: String,
        nic: String,
        hugepages: PathBuf,
    }

    impl Guest {
        fn opts(&self) -> VfioOptions {
            VfioOptions {
                mode: self.mode,
                hugepage_dir: self.hugepages.clone(),
                ..VfioOptions::default()
            }
        }

        fn expected_mode(&self) -> IommuMode {
            match self.mode {
                VfioMode::NoIommu => IommuMode::NoIommu,
                _ => IommuMode::Type1v2,
            }
        }
    }

    /// The guest's setup; `None` outside the guest. Inside it a missing variable is a failure,
    /// never a skip.
    fn guest() -> Option<Guest> {
        let edu = std::env::var("VFIO_TEST_BDF").ok()?;
        let mode = match std::env::var("VFIO_TEST_MODE").as_deref() {
            Ok("iommu") => VfioMode::Iommu,
            Ok("noiommu") => VfioMode::NoIommu,
            other => panic!("VFIO_TEST_MODE must be iommu or noiommu, not {other:?}"),
        };
        let nic = std::env::var("VFIO_TEST_NIC_BDF")
            .expect("VFIO_TEST_NIC_BDF (QEMU's e1000e) must be set alongside VFIO_TEST_BDF");
        let hugepages = std::env::var_os("VFIO_TEST_HUGEPAGE_DIR")
            .map(PathBuf::from)
            .expect(
                "VFIO_TEST_HUGEPAGE_DIR (a hugetlbfs mount) must be set alongside VFIO_TEST_BDF",
            );
        Some(Guest {
            mode,
            edu,
            nic,
            hugepages,
        })
    }

    // edu (QEMU hw/misc/edu.c, docs/specs/edu.rst): BAR0 is 1 MiB of registers.
    const EDU_ID: u32 = 0x00;
    const EDU_ID_V1: u32 = 0x0100_00ed;
    const EDU_LIVENESS: u32 = 0x04;
    // The DMA engine: source, destination and count as 64-bit registers from 0x80, then the
    // command (bit 0 start/busy, bit 1 direction: 1 = from edu's buffer to RAM). 64-bit stores
    // only: a 32-bit store to an address register replaces the whole address.
    const EDU_DMA_SRC: usize = 0x80;
    const EDU_DMA_CMD: usize = 0x98;
    const EDU_DMA_START: u64 = 1;
    const EDU_DMA_TO_RAM: u64 = 2;
    /// edu's 4 KiB DMA buffer, as the DMA engine addresses it.
    const EDU_BUFFER: u64 = 0x40000;
    /// Transfers stay below 4 KiB: QEMU 7.2's edu aborts the VM on one ending at the buffer's
    /// end (an off-by-one fixed in 8.0).
    const DMA_LEN: usize = 2048;
    /// edu's default DMA mask is 28 bits; IOMMU mode keeps IOVAs below it.
    const EDU_DMA_BITS: u32 = 28;

    /// Runs one edu DMA and waits for the engine (a transfer takes 100 ms of virtual time).
    fn edu_dma(bar0: &ena::platform::Mmio, src: u64, dst: u64, len: usize, to_ram: bool) -> bool {
        let dir = if to_ram { EDU_DMA_TO_RAM } else { 0 };
        assert!(bar0.write_words(EDU_DMA_SRC, &[src, dst, len as u64]));
        assert!(bar0.write_words(EDU_DMA_CMD, &[EDU_DMA_START | dir]));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if u64::from(bar0.read32(EDU_DMA_CMD as u32)) & EDU_DMA_START == 0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    fn pattern(seed: u32) -> Vec<u8> {
        (0..4096u32).map(|i| (i * 13 + seed) as u8).collect()
    }

    fn region_bytes(r: &ena::mem::DmaRegion, off: usize, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        r.read_bytes(off, &mut v);
        v
    }

    fn command(dev: &VfioDevice) -> u16 {
        let mut b = [0u8; 2];
        dev.read_config(bar::PCI_COMMAND, &mut b)
            .expect("reading PCI_COMMAND");
        u16::from_le_bytes(b)
    }

    /// The guest kernel's log from now on (`/dev/kmsg`, read without blocking).
    struct Kmsg(File);

    impl Kmsg {
        fn from_now() -> Self {
            let mut f = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open("/dev/kmsg")
                .expect("opening /dev/kmsg");
            f.seek(SeekFrom::End(0))
                .expect("seeking /dev/kmsg to its end");
            Kmsg(f)
        }

        /// Every record logged within `wait` that contains all of `needles`.
        fn records_with(&mut self, needles: &[&str], wait: Duration) -> Vec<String> {
            let deadline = Instant::now() + wait;
            let mut found = Vec::new();
            let mut buf = vec![0u8; 8192];
            while Instant::now() < deadline {
                match self.0.read(&mut buf) {
                    Ok(n) => {
                        let rec = String::from_utf8_lossy(&buf[..n]).into_owned();
                        if needles.iter().all(|s| rec.contains(s)) {
                            found.push(rec.trim_end().to_string());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    // EPIPE: records were overwritten before we read them; go on.
                    Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
                    Err(e) => panic!("reading /dev/kmsg: {e}"),
                }
            }
            found
        }
    }

    /// Scenario 2 (IOMMU) and 3 (no-IOMMU): the generic VFIO layer on edu, end to end.
    #[test]
    fn vfio_in_guest_edu_bar_config_and_dma_round_trip() {
        let Some(g) = guest() else {
            println!("SKIPPED: VFIO_TEST_BDF unset (runs in the QEMU guest of scripts/vfio-qemu-test.sh)");
            return;
        };
        let opts = VfioOptions {
            dma_addr_bits: Some(EDU_DMA_BITS),
            ..g.opts()
        };
        let dev = VfioDevice::open(&g.edu, &opts).expect("opening edu through VFIO");
        assert_eq!(dev.mode(), g.expected_mode());
        let iommu = dev.mode() == IommuMode::Type1v2;
        assert!(dev.device_info().is_pci());
        println!(
            "opened {} in {} mode, group {}, device flags {:#x}, {} regions",
            dev.address(),
            dev.mode().name(),
            dev.group(),
            dev.device_info().flags,
            dev.device_info().num_regions
        );
        if iommu {
            let info = dev.iommu_info().expect("type1 IOMMU info");
            let ranges = info.iova_ranges.as_deref().unwrap_or_default();
            println!("IOVA ranges {ranges:x?}");
            assert!(!ranges.is_empty(), "VT-d reports its valid IOVA ranges");
        } else {
            assert!(dev.iommu_info().is_none());
        }

        // edu has no reset method (no VFIO_DEVICE_FLAGS_RESET): reset() says so instead of
        // issuing VFIO_DEVICE_RESET.
        assert!(!dev.device_info().reset_supported());
        let refused = dev
            .reset()
            .expect_err("reset() on a device without reset")
            .to_string();
        assert!(refused.contains("cannot reset"), "unclear error: {refused}");

        // Config space through the config region; open() switched memory decoding and bus
        // mastering on (vfio-pci leaves bus mastering off).
        let mut ids = [0u8; 4];
        dev.read_config(0, &mut ids).expect("reading the ids");
        assert_eq!(ids, [0x34, 0x12, 0xe8, 0x11], "edu is 1234:11e8");
        let cmd = command(&dev);
        let on = bar::PCI_COMMAND_MEMORY | bar::PCI_COMMAND_MASTER;
        assert_eq!(cmd & on, on, "PCI_COMMAND {cmd:#06x} after open");

        // BAR0 through its region info.
        let info = dev.region_info(0).expect("BAR0 region info");
        assert!(info.mmappable(), "edu's BAR0 is mmappable: {info:?}");
        assert_eq!(info.size, 1 << 20, "edu's BAR0 is 1 MiB");
        let bar0 = dev.map_bar(&info).expect("mapping BAR0");
        assert_eq!(bar0.read32(EDU_ID), EDU_ID_V1, "edu's id register");
        bar0.write32(EDU_LIVENESS, 0x1234_5678);
        assert_eq!(
            bar0.read32(EDU_LIVENESS),
            !0x1234_5678u32,
            "edu's liveness register inverts"
        );

        // DMA memory: one whole 2 MiB hugepage first, then two 4 KiB regions, which no longer
        // fit in it and so come from a second hugepage.
        let page = dev
            .alloc_dma(HUGEPAGE_SIZE, HUGEPAGE_SIZE)
            .expect("a 2 MiB DMA region");
        let src = dev.alloc_dma(4096, 4096).expect("DMA memory");
        let dst = dev.alloc_dma(4096, 4096).expect("DMA memory");
        println!(
            "DMA regions: page {:#x}, src {:#x}, dst {:#x}",
            page.iova(),
            src.iova(),
            dst.iova()
        );
        assert_eq!(
            page.iova() % HUGEPAGE_SIZE as u64,
            0,
            "a hugepage's IOVA is 2 MiB aligned"
        );
        assert_eq!(
            dst.iova(),
            src.iova() + 4096,
            "bump allocation inside one page"
        );
        assert_ne!(
            src.iova() / HUGEPAGE_SIZE as u64,
            page.iova() / HUGEPAGE_SIZE as u64
        );
        for r in [&page, &src, &dst] {
            if iommu {
                // Clipped to edu's 28-bit mask (the VA is far above it).
                assert!(r.iova() + r.len() as u64 <= 1 << EDU_DMA_BITS, "{r:?}");
            } else {
                // A guest-physical address (1 GiB of RAM), not a virtual one.
                assert!(r.iova() + r.len() as u64 <= 1 << 32, "{r:?}");
            }
        }

        // RAM -> edu -> RAM, every byte checked, and the rest of the page untouched.
        let p1 = pattern(1);
        src.write_bytes(0, &p1);
        assert!(
            edu_dma(&bar0, src.iova(), EDU_BUFFER, DMA_LEN, false),
            "DMA into edu"
        );
        assert!(
            edu_dma(&bar0, EDU_BUFFER, dst.iova(), DMA_LEN, true),
            "DMA to RAM"
        );
        let got = region_bytes(&dst, 0, 4096);
        assert_eq!(&got[..DMA_LEN], &p1[..DMA_LEN], "round trip through edu");
        assert!(
            got[DMA_LEN..].iter().all(|&b| b == 0),
            "bytes past the transfer untouched"
        );

        // Bus mastering is what lets the device reach memory: off through the config region,
        // edu's write goes nowhere; on again, it lands.
        dev.write_config(
            bar::PCI_COMMAND,
            &(cmd & !bar::PCI_COMMAND_MASTER).to_le_bytes(),
        )
        .expect("writing PCI_COMMAND");
        assert_eq!(
            command(&dev) & bar::PCI_COMMAND_MASTER,
            0,
            "bus mastering off"
        );
        dst.zero();
        assert!(edu_dma(&bar0, EDU_BUFFER, dst.iova(), DMA_LEN, true));
        assert!(
            region_bytes(&dst, 0, 4096).iter().all(|&b| b == 0),
            "with bus mastering off the device still wrote memory"
        );
        dev.write_config(bar::PCI_COMMAND, &cmd.to_le_bytes())
            .expect("writing PCI_COMMAND");
        assert_eq!(command(&dev) & on, on, "bus mastering on again");
        assert!(edu_dma(&bar0, EDU_BUFFER, dst.iova(), DMA_LEN, true));
        assert_eq!(
            &region_bytes(&dst, 0, DMA_LEN)[..],
            &p1[..DMA_LEN],
            "DMA after bus master on"
        );

        // Across the hugepage: from 1 MiB into it to its last 4 KiB (the page is mapped whole
        // into the IOMMU; without one, physically contiguous).
        let p2 = pattern(7);
        let (from, to) = (1 << 20, HUGEPAGE_SIZE - 4096);
        page.write_bytes(from, &p2[..DMA_LEN]);
        assert!(edu_dma(
            &bar0,
            page.iova() + from as u64,
            EDU_BUFFER,
            DMA_LEN,
            false
        ));
        assert!(edu_dma(
            &bar0,
            EDU_BUFFER,
            page.iova() + to as u64,
            DMA_LEN,
            true
        ));
        assert_eq!(
            &region_bytes(&page, to, DMA_LEN)[..],
            &p2[..DMA_LEN],
            "hugepage round trip"
        );

        if iommu {
            // Dropping the page's only region unmaps it from the IOMMU (the allocator works
            // from the second page now). The device is then refused both ways: a read at the
            // stale IOVA does not return the bytes the page held (had the mapping outlived the
            // region, the page would still be pinned there, bytes and all), and a write is
            // blocked with a DMAR fault in the kernel log.
            let stale = page.iova();
            let old = pattern(101);
            page.write_bytes(0, &old[..DMA_LEN]);
            assert!(edu_dma(&bar0, src.iova(), EDU_BUFFER, DMA_LEN, false));
            drop(page);
            let mut kmsg = Kmsg::from_now();
            assert!(edu_dma(&bar0, stale, EDU_BUFFER, DMA_LEN, false));
            dst.zero();
            assert!(edu_dma(&bar0, EDU_BUFFER, dst.iova(), DMA_LEN, true));
            let read_back = region_bytes(&dst, 0, DMA_LEN);
            assert_ne!(
                read_back,
                old[..DMA_LEN],
                "the device read an unmapped IOVA"
            );
            assert!(edu_dma(&bar0, EDU_BUFFER, stale, DMA_LEN, true));
            let addr = format!("fault addr {stale:#x}");
            let faults = kmsg.records_with(&["DMAR", &addr], Duration::from_secs(2));
            for f in &faults {
                println!("kernel: {f}");
            }
            assert!(
                faults.iter().any(|f| f.contains("DMA Read")),
                "no DMAR read fault logged at IOVA {stale:#x} after unmapping"
            );
            assert!(
                faults.iter().any(|f| f.contains("DMA Write")),
                "no DMAR write fault logged at IOVA {stale:#x} after unmapping"
            );
        } else {
            drop(page);
        }
        drop((src, dst, bar0, dev));
    }

    // e1000e (Intel 82574 datasheet, 10.2): interrupt cause read (write 1s to clear), cause set,
    // mask set, mask clear, and IVAR, whose bits 19:16 route the "other" causes to an MSI-X
    // vector (bit 19: valid). Link status change (bit 2) is such a cause, enabled by IMS bit 24.
    const E1000_ICR: u32 = 0xc0;
    const E1000_ICS: u32 = 0xc8;
    const E1000_IMS: u32 = 0xd0;
    const E1000_IMC: u32 = 0xd8;
    const E1000_IVAR: u32 = 0xe4;
    const E1000_ICR_LSC: u32 = 1 << 2;
    const E1000_IMS_OTHER: u32 = 1 << 24;
    const E1000_IVAR_OTHER_VALID: u32 = 0x8 << 16;

    /// Scenario 4: the admin-vector path (MSI-X vector 0 on an eventfd) on a device that has
    /// MSI-X.
    #[test]
    fn vfio_in_guest_e1000e_msix_vector_0_reaches_its_eventfd() {
        let Some(g) = guest() else {
            println!("SKIPPED: VFIO_TEST_BDF unset (runs in the QEMU guest of scripts/vfio-qemu-test.sh)");
            return;
        };
        let dev = VfioDevice::open(&g.nic, &g.opts()).expect("opening e1000e through VFIO");
        assert_eq!(dev.mode(), g.expected_mode());
        let mut ids = [0u8; 4];
        dev.read_config(0, &mut ids).expect("reading the ids");
        assert_eq!(ids, [0x86, 0x80, 0xd3, 0x10], "e1000e is 8086:10d3");
        println!(
            "opened {} in {} mode, group {}, device flags {:#x}, {} irq indexes",
            dev.address(),
            dev.mode().name(),
            dev.group(),
            dev.device_info().flags,
            dev.device_info().num_irqs
        );
        let bar0 = dev
            .map_bar(&dev.region_info(0).expect("BAR0 region info"))
            .expect("mapping BAR0");
        // reset() issues VFIO_DEVICE_RESET where the device offers one (QEMU's e1000e does,
        // by its PCI power-management reset), switches bus mastering on again, and the MSI-X
        // path below works after it. (QEMU's e1000e does not clear its registers on that
        // D3hot -> D0 transition, so the reset's effect on the device is not visible here.)
        assert!(
            dev.device_info().reset_supported(),
            "QEMU's e1000e offers a reset"
        );
        dev.reset().expect("VFIO_DEVICE_RESET of e1000e");
        let on = bar::PCI_COMMAND_MEMORY | bar::PCI_COMMAND_MASTER;
        assert_eq!(command(&dev) & on, on, "bus mastering after reset()");

        let irq = dev
            .msix_eventfd(ADMIN_MSIX_VECTOR)
            .expect("MSI-X vector 0 on an eventfd");
        assert_eq!(irq.vector(), 0);

        bar0.write32(E1000_IMC, u32::MAX);
        bar0.write32(E1000_ICR, u32::MAX);
        let _ = irq.eventfd().try_read();
        bar0.write32(E1000_IVAR, E1000_IVAR_OTHER_VALID);
        // Masked, the cause must not signal: the eventfd counts interrupts, nothing else.
        bar0.write32(E1000_ICS, E1000_ICR_LSC);
        let quiet = irq.wait(Duration::from_millis(300)).expect("waiting");
        assert_eq!(quiet, None, "vector 0 fired while every cause was masked");
        bar0.write32(E1000_ICR, u32::MAX);
        // Unmasked, it must.
        bar0.write32(E1000_IMS, E1000_IMS_OTHER);
        bar0.write32(E1000_ICS, E1000_ICR_LSC);
        let fired = irq.wait(Duration::from_secs(5)).expect("waiting");
        println!(
            "vector 0: eventfd count {fired:?}, ICR {:#010x}",
            bar0.read32(E1000_ICR)
        );
        // (QEMU 10's e1000e signals once or twice per cause write; only that it fired counts.)
        assert!(
            fired.is_some_and(|n| n >= 1),
            "vector 0 did not fire: {fired:?}"
        );
        bar0.write32(E1000_IMC, u32::MAX);
        drop((irq, bar0, dev));
    }

    /// Scenario 5: the ENA platform refuses a function that is not ENA with an error that says
    /// so, and leaves it usable.
    #[test]
    fn vfio_in_guest_e1000e_is_refused_as_not_an_ena_device() {
        let Some(g) = guest() else {
            println!("SKIPPED: VFIO_TEST_BDF unset (runs in the QEMU guest of scripts/vfio-qemu-test.sh)");
            return;
        };
        let err = VfioPlatform::open(&g.nic, g.opts())
            .expect_err("VfioPlatform::open accepted QEMU's e1000e");
        let msg = err.to_string();
        println!("VfioPlatform::open: {msg}");
        assert!(
            msg.contains("not an ENA device") && msg.contains("8086:10d3") && msg.contains(&g.nic),
            "unclear error: {msg}"
        );
        // The refusal left the function usable: the generic layer opens it, here in the mode
        // its group calls for (VfioMode::Auto tells a no-IOMMU group by its name).
        let auto = VfioOptions {
            mode: VfioMode::Auto,
            ..g.opts()
        };
        let dev = VfioDevice::open(&g.nic, &auto).expect("the generic layer still opens it");
        assert_eq!(dev.address().to_string(), g.nic);
        assert_eq!(
            dev.mode(),
            g.expected_mode(),
            "VfioMode::Auto picked the wrong mode"
        );

        // Past the id check (a platform that skips it), the driver's bring-up meets e1000e's
        // registers where ENA's should be, and must fail with an error, promptly, not panic.
        let bar0 = dev
            .map_bar(&dev.region_info(0).expect("BAR0 region info"))
            .expect("mapping BAR0");
        let platform = Arc::new(UncheckedVfio {
            dev,
            bar0,
            opened: Instant::now(),
        });
        let started = Instant::now();
        let err = ena::Port::open(platform, ena::PortOptions::default())
            .err()
            .expect("Port::open brought up an e1000e as an ENA device");
        println!("Port::open on e1000e: {err} ({:?})", started.elapsed());
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "bring-up took {:?} to fail",
            started.elapsed()
        );
    }

    /// A [`Platform`](ena::platform::Platform) over [`VfioDevice`] without
    /// [`VfioPlatform`]'s id check, to see the driver meet a function that is not ENA.
    struct UncheckedVfio {
        dev: VfioDevice,
        bar0: ena::platform::Mmio,
        opened: Instant,
    }

    impl ena::platform::Platform for UncheckedVfio {
        fn bar0(&self) -> &ena::platform::Mmio {
            &self.bar0
        }
        fn bar2(&self) -> Option<&ena::platform::Mmio> {
            None
        }
        fn alloc_dma(&self, len: usize, align: usize) -> ena::Result<ena::mem::DmaRegion> {
            self.dev.alloc_dma(len, align)
        }
        fn readless(&self) -> bool {
            false
        }
        fn delay(&self, d: Duration) {
            std::thread::sleep(d);
        }
        fn now(&self) -> Duration {
            self.opened.elapsed()
        }
        fn describe(&self) -> String {
            format!("{} (vfio-pci, no id check)", self.dev.address())
        }
    }
}
