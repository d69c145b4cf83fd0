//! Pure parsers for what VFIO's info ioctls return: device info, region info with its capability
//! chain (sparse mmap, MSI-X mappable, region type), type1 IOMMU info with its valid IOVA ranges,
//! and the plan for mapping a BAR from a region's mmappable areas.
//!
//! Layouts are those of the kernel's `include/uapi/linux/vfio.h` (native byte order, as the
//! kernel writes them):
//!
//! - `vfio_region_info` (32 bytes): `argsz` u32 @0, `flags` u32 @4, `index` u32 @8,
//!   `cap_offset` u32 @12, `size` u64 @16, `offset` u64 @24.
//! - `vfio_info_cap_header` (8 bytes): `id` u16 @0, `version` u16 @2, `next` u32 @4. `next` and
//!   `cap_offset` are offsets from the start of the whole info buffer; 0 ends the chain.
//! - sparse mmap capability (id 1, version 1): header, `nr_areas` u32 @8, `reserved` u32 @12,
//!   then `nr_areas` × (`offset` u64, `size` u64) @16.
//! - `vfio_iommu_type1_info` (24 bytes): `argsz` @0, `flags` @4, `iova_pgsizes` u64 @8,
//!   `cap_offset` u32 @16, `pad` @20; its IOVA-range capability (id 1): header, `nr_iovas` u32
//!   @8, `reserved` @12, then `nr_iovas` × (`start` u64, `end` u64, inclusive) @16.
//!
//! When the caller's buffer is too small for the chain the kernel sets the CAPS flag, leaves
//! `cap_offset` 0 and raises `argsz` to the size it needs (the ioctl layer then asks again);
//! these parsers report that as "capabilities unavailable" rather than guessing.
//!
//! Nothing here trusts the bytes: every offset and count is bounds-checked, and a chain must
//! move forward (the kernel appends capabilities in order), so a malformed or looping chain is
//! an error, never a panic or a hang.

use vfio_bindings::bindings::vfio as uapi;

/// `sizeof(struct vfio_region_info)`.
pub const REGION_INFO_LEN: usize = 32;
/// `sizeof(struct vfio_device_info)`.
pub const DEVICE_INFO_LEN: usize = 24;
/// `sizeof(struct vfio_iommu_type1_info)`.
pub const IOMMU_INFO_LEN: usize = 24;
/// `sizeof(struct vfio_info_cap_header)`.
pub const CAP_HEADER_LEN: usize = 8;
/// Size of the fixed part of the sparse-mmap and IOVA-range capabilities (header, count,
/// reserved); their arrays follow.
pub const CAP_ARRAY_START: usize = 16;
/// `sizeof(struct vfio_region_sparse_mmap_area)` and `sizeof(struct vfio_iova_range)`.
pub const CAP_ARRAY_ENTRY: usize = 16;

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(
        b.get(off..off.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        b.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(
        b.get(off..off.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// The bytes of an info buffer the kernel vouches for: up to `argsz`, and never past the
/// buffer. Errors if the buffer or `argsz` is shorter than the fixed structure.
fn valid_part<'a>(bytes: &'a [u8], fixed_len: usize, what: &str) -> Result<&'a [u8], String> {
    if bytes.len() < fixed_len {
        return Err(format!(
            "{what}: {} bytes, shorter than the {fixed_len}-byte structure",
            bytes.len()
        ));
    }
    let argsz = u32_at(bytes, 0).unwrap_or(0) as usize;
    if argsz < fixed_len {
        return Err(format!(
            "{what}: argsz {argsz} is shorter than the {fixed_len}-byte structure"
        ));
    }
    Ok(&bytes[..argsz.min(bytes.len())])
}

/// One capability of an info buffer's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapHeader {
    /// Capability id (its meaning depends on the ioctl).
    pub id: u16,
    /// Version of the capability's layout.
    pub version: u16,
    /// Where the capability starts in the buffer.
    pub offset: usize,
    /// The next capability's offset, 0 at the end.
    pub next: u32,
}

/// Walks a capability chain starting at `first` in `buf` (already cut to the valid part),
/// whose fixed structure is `fixed_len` bytes long.
pub fn parse_cap_chain(buf: &[u8], first: u32, fixed_len: usize) -> Result<Vec<CapHeader>, String> {
    let mut caps = Vec::new();
    let mut off = first as usize;
    let mut min = fixed_len;
    while off != 0 {
        if off < min {
            return Err(if caps.is_empty() {
                format!("capability offset {off} lies inside the {fixed_len}-byte structure")
            } else {
                format!(
                    "capability chain goes backwards (to {off} after {})",
                    min - CAP_HEADER_LEN
                )
            });
        }
        if !off.is_multiple_of(4) {
            return Err(format!("capability offset {off} is not 4-byte aligned"));
        }
        let (Some(id), Some(version), Some(next)) =
            (u16_at(buf, off), u16_at(buf, off + 2), u32_at(buf, off + 4))
        else {
            return Err(format!(
                "capability at {off} runs past the end of the {}-byte buffer",
                buf.len()
            ));
        };
        caps.push(CapHeader {
            id,
            version,
            offset: off,
            next,
        });
        min = off + CAP_HEADER_LEN;
        off = next as usize;
    }
    Ok(caps)
}

/// Reads the `(u64, u64)` array of a sparse-mmap or IOVA-range capability.
fn cap_pairs(buf: &[u8], cap: &CapHeader, what: &str) -> Result<Vec<(u64, u64)>, String> {
    let start = cap.offset + CAP_ARRAY_START;
    if start > buf.len() {
        return Err(format!("{what} capability at {} is truncated", cap.offset));
    }
    let count = u32_at(buf, cap.offset + CAP_HEADER_LEN).unwrap_or(0) as usize;
    let end = count
        .checked_mul(CAP_ARRAY_ENTRY)
        .and_then(|n| n.checked_add(start))
        .filter(|&e| e <= buf.len())
        .ok_or_else(|| {
            format!(
                "{what} capability at {} claims {count} entries, more than the {}-byte buffer holds",
                cap.offset,
                buf.len()
            )
        })?;
    if cap.next != 0 && end > cap.next as usize {
        return Err(format!(
            "{what} capability at {} overlaps the next capability at {}",
            cap.offset, cap.next
        ));
    }
    Ok((start..end)
        .step_by(CAP_ARRAY_ENTRY)
        .filter_map(|o| Some((u64_at(buf, o)?, u64_at(buf, o + 8)?)))
        .collect())
}

/// `struct vfio_device_info`, without its capabilities (none that a PCI function needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceInfo {
    /// `VFIO_DEVICE_FLAGS_*`.
    pub flags: u32,
    /// Regions (max index + 1).
    pub num_regions: u32,
    /// IRQ indexes (max index + 1).
    pub num_irqs: u32,
}

impl DeviceInfo {
    /// Whether `VFIO_DEVICE_RESET` is supported.
    pub fn reset_supported(&self) -> bool {
        self.flags & uapi::VFIO_DEVICE_FLAGS_RESET != 0
    }

    /// Whether this is a vfio-pci device (fixed PCI region and IRQ indexes).
    pub fn is_pci(&self) -> bool {
        self.flags & uapi::VFIO_DEVICE_FLAGS_PCI != 0
    }
}

/// Parses what `VFIO_DEVICE_GET_INFO` returned.
pub fn parse_device_info(bytes: &[u8]) -> Result<DeviceInfo, String> {
    let b = valid_part(bytes, DEVICE_INFO_LEN, "device info")?;
    Ok(DeviceInfo {
        flags: u32_at(b, 4).unwrap_or(0),
        num_regions: u32_at(b, 8).unwrap_or(0),
        num_irqs: u32_at(b, 12).unwrap_or(0),
    })
}

/// One area of a region that may be mmapped (relative to the region's start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmapArea {
    /// Offset within the region.
    pub offset: u64,
    /// Length in bytes.
    pub size: u64,
}

/// The region-type capability: which device-specific region this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionType {
    /// Type (global per bus driver).
    pub kind: u32,
    /// Type-specific subtype.
    pub subtype: u32,
}

/// `struct vfio_region_info` and what its capability chain says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionInfo {
    /// `argsz` as returned (the size the kernel needed, when larger than the buffer).
    pub argsz: u32,
    /// `VFIO_REGION_INFO_FLAG_*`.
    pub flags: u32,
    /// Region index (for vfio-pci: BAR0..5 = 0..5, ROM 6, config 7, VGA 8).
    pub index: u32,
    /// Size in bytes (0: region not implemented, e.g. an unused BAR).
    pub size: u64,
    /// Where the region starts in the device file (for pread/pwrite/mmap).
    pub offset: u64,
    /// The sparse-mmap capability's areas: when present, only these may be mmapped.
    pub sparse_mmap: Option<Vec<MmapArea>>,
    /// The MSI-X-mappable capability: the MSI-X table in this BAR may be mmapped too.
    pub msix_mappable: bool,
    /// The region-type capability.
    pub region_type: Option<RegionType>,
    /// Capability ids present but not interpreted here, with their versions.
    pub other_caps: Vec<(u16, u16)>,
    /// The CAPS flag is set but the chain was not returned (the buffer was too small).
    pub caps_unavailable: bool,
}

impl RegionInfo {
    /// Whether the region supports read.
    pub fn readable(&self) -> bool {
        self.flags & uapi::VFIO_REGION_INFO_FLAG_READ != 0
    }

    /// Whether the region supports write.
    pub fn writable(&self) -> bool {
        self.flags & uapi::VFIO_REGION_INFO_FLAG_WRITE != 0
    }

    /// Whether the region supports mmap.
    pub fn mmappable(&self) -> bool {
        self.flags & uapi::VFIO_REGION_INFO_FLAG_MMAP != 0
    }

    /// The areas that may be mmapped, sorted by offset: the sparse-mmap areas if the capability
    /// is present, else the whole region if it is mmappable, else none. Empty areas are left out.
    pub fn mmap_areas(&self) -> Vec<MmapArea> {
        if !self.mmappable() || self.size == 0 {
            return Vec::new();
        }
        let mut areas = match &self.sparse_mmap {
            Some(a) => a.iter().copied().filter(|a| a.size > 0).collect(),
            None => vec![MmapArea {
                offset: 0,
                size: self.size,
            }],
        };
        areas.sort_by_key(|a| a.offset);
        areas
    }
}

/// Parses what `VFIO_DEVICE_GET_REGION_INFO` returned (the fixed structure and its chain).
pub fn parse_region_info(bytes: &[u8]) -> Result<RegionInfo, String> {
    let b = valid_part(bytes, REGION_INFO_LEN, "region info")?;
    let argsz = u32_at(bytes, 0).unwrap_or(0);
    let flags = u32_at(b, 4).unwrap_or(0);
    let index = u32_at(b, 8).unwrap_or(0);
    let cap_offset = u32_at(b, 12).unwrap_or(0);
    let size = u64_at(b, 16).unwrap_or(0);
    let offset = u64_at(b, 24).unwrap_or(0);
    let ctx = |e: String| format!("region {index} info: {e}");
    let mut info = RegionInfo {
        argsz,
        flags,
        index,
        size,
        offset,
        sparse_mmap: None,
        msix_mappable: false,
        region_type: None,
        other_caps: Vec::new(),
        caps_unavailable: false,
    };
    if flags & uapi::VFIO_REGION_INFO_FLAG_CAPS == 0 {
        return Ok(info);
    }
    if cap_offset == 0 {
        info.caps_unavailable = true;
        return Ok(info);
    }
    for cap in parse_cap_chain(b, cap_offset, REGION_INFO_LEN).map_err(ctx)? {
        match u32::from(cap.id) {
            uapi::VFIO_REGION_INFO_CAP_SPARSE_MMAP => {
                if cap.version != 1 {
                    // Ignoring it would map areas the kernel excluded: refuse instead.
                    return Err(ctx(format!(
                        "sparse-mmap capability version {} is unknown (this driver reads version 1)",
                        cap.version
                    )));
                }
                if info.sparse_mmap.is_some() {
                    return Err(ctx("two sparse-mmap capabilities".into()));
                }
                let mut areas = Vec::new();
                for (area_offset, area_size) in cap_pairs(b, &cap, "sparse-mmap").map_err(ctx)? {
                    if area_offset.checked_add(area_size).is_none_or(|e| e > size) {
                        return Err(ctx(format!(
                            "sparse-mmap area {area_offset:#x}+{area_size:#x} lies outside the \
                             {size:#x}-byte region"
                        )));
                    }
                    areas.push(MmapArea {
                        offset: area_offset,
                        size: area_size,
                    });
                }
                info.sparse_mmap = Some(areas);
            }
            uapi::VFIO_REGION_INFO_CAP_MSIX_MAPPABLE => info.msix_mappable = true,
            uapi::VFIO_REGION_INFO_CAP_TYPE => {
                let (Some(kind), Some(subtype)) =
                    (u32_at(b, cap.offset + 8), u32_at(b, cap.offset + 12))
                else {
                    return Err(ctx(format!(
                        "region-type capability at {} is truncated",
                        cap.offset
                    )));
                };
                info.region_type = Some(RegionType { kind, subtype });
            }
            _ => info.other_caps.push((cap.id, cap.version)),
        }
    }
    Ok(info)
}

/// A range of IO virtual addresses the IOMMU accepts for DMA mappings (inclusive end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IovaRange {
    /// First address.
    pub start: u64,
    /// Last address (inclusive).
    pub end: u64,
}

impl IovaRange {
    /// Whether `[iova, iova + len)` lies inside the range.
    pub fn contains(&self, iova: u64, len: u64) -> bool {
        len > 0
            && iova >= self.start
            && iova
                .checked_add(len - 1)
                .is_some_and(|last| last <= self.end)
    }
}

/// `struct vfio_iommu_type1_info` and what its capability chain says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IommuInfo {
    /// `VFIO_IOMMU_INFO_*`.
    pub flags: u32,
    /// Bitmap of the IOMMU page sizes, if reported.
    pub iova_pgsizes: Option<u64>,
    /// The valid IOVA ranges, if the kernel reports them (since Linux 5.4); `None` means any
    /// address the page sizes allow.
    pub iova_ranges: Option<Vec<IovaRange>>,
    /// How many more DMA mappings the container accepts, if reported.
    pub dma_avail: Option<u32>,
    /// The CAPS flag is set but the chain was not returned (the buffer was too small).
    pub caps_unavailable: bool,
}

impl IommuInfo {
    /// Whether `[iova, iova + len)` may be mapped, as far as the reported ranges say.
    pub fn accepts(&self, iova: u64, len: u64) -> bool {
        match &self.iova_ranges {
            Some(r) => r.iter().any(|r| r.contains(iova, len)),
            None => len > 0 && iova.checked_add(len - 1).is_some(),
        }
    }
}

/// Parses what `VFIO_IOMMU_GET_INFO` returned.
pub fn parse_iommu_info(bytes: &[u8]) -> Result<IommuInfo, String> {
    let b = valid_part(bytes, IOMMU_INFO_LEN, "IOMMU info")?;
    let flags = u32_at(b, 4).unwrap_or(0);
    let cap_offset = u32_at(b, 16).unwrap_or(0);
    let mut info = IommuInfo {
        flags,
        iova_pgsizes: (flags & uapi::VFIO_IOMMU_INFO_PGSIZES != 0)
            .then(|| u64_at(b, 8).unwrap_or(0)),
        iova_ranges: None,
        dma_avail: None,
        caps_unavailable: false,
    };
    if flags & uapi::VFIO_IOMMU_INFO_CAPS == 0 {
        return Ok(info);
    }
    if cap_offset == 0 {
        info.caps_unavailable = true;
        return Ok(info);
    }
    let ctx = |e: String| format!("IOMMU info: {e}");
    for cap in parse_cap_chain(b, cap_offset, IOMMU_INFO_LEN).map_err(ctx)? {
        match u32::from(cap.id) {
            uapi::VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE => {
                let mut ranges = Vec::new();
                for (start, end) in cap_pairs(b, &cap, "IOVA-range").map_err(ctx)? {
                    if end < start {
                        return Err(ctx(format!(
                            "IOVA range {start:#x}-{end:#x} ends before it starts"
                        )));
                    }
                    ranges.push(IovaRange { start, end });
                }
                info.iova_ranges = Some(ranges);
            }
            uapi::VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL => {
                info.dma_avail = Some(u32_at(b, cap.offset + 8).ok_or_else(|| {
                    ctx(format!(
                        "DMA-available capability at {} is truncated",
                        cap.offset
                    ))
                })?);
            }
            _ => {}
        }
    }
    Ok(info)
}

/// How a BAR is mapped: the areas to mmap and the length of the contiguous mapping they make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarPlan {
    /// Bytes of the BAR the mapping covers, from offset 0 (the driver's view of the BAR).
    pub len: u64,
    /// The areas to mmap, in order; together exactly `[0, len)`.
    pub areas: Vec<MmapArea>,
}

/// Plans the mapping of BAR region `info`: only its mmappable areas are mapped, and only the
/// run of them that is contiguous from offset 0, since the driver addresses a BAR as one block
/// of memory (a hole would fault, so the block stops before it and accesses past its end read
/// as a missing device). `page_size` is the host page size: areas must start on page boundaries.
pub fn plan_bar_mapping(info: &RegionInfo, page_size: u64) -> Result<BarPlan, String> {
    if info.size == 0 {
        return Err("the region is empty (the BAR is not implemented)".into());
    }
    if !info.mmappable() {
        return Err(format!(
            "the region cannot be mmapped (flags {:#x} lack VFIO_REGION_INFO_FLAG_MMAP)",
            info.flags
        ));
    }
    if info.caps_unavailable {
        // Without the chain a sparse-mmap capability could be missed, and mapping the whole
        // region would touch what the kernel excluded.
        return Err("the region's capability chain was not returned".into());
    }
    let mut len = 0u64;
    let mut areas = Vec::new();
    for a in info.mmap_areas() {
        if a.offset > len {
            break;
        }
        if a.offset < len {
            return Err(format!("mmappable areas overlap at {:#x}", a.offset));
        }
        if !a.offset.is_multiple_of(page_size) || info.offset.checked_add(a.offset).is_none() {
            return Err(format!(
                "mmappable area {:#x}+{:#x} does not start on a page boundary",
                a.offset, a.size
            ));
        }
        len = a.offset + a.size;
        areas.push(a);
    }
    if len == 0 {
        return Err("no mmappable area starts at offset 0 (sparse mmap)".into());
    }
    Ok(BarPlan { len, areas })
}
