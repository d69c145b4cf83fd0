//! Mapping a BAR through the VFIO device file, and config-space access through its config
//! region.
//!
//! A BAR is mapped from the device fd at the region's `offset` (vfio-pci puts region `i` at
//! `i << 40`). Only the areas the region info declares mmappable are mapped (see
//! [`super::region::plan_bar_mapping`]): a span of address space is reserved first, then each
//! area is mapped over its place in it with `MAP_FIXED`, so the BAR appears as one block.
//! Stock vfio-pci maps BARs uncached (`pgprot_noncached`); there is no write-combining mmap,
//! which is why BAR2 needs the WC policy (see [`super::VfioPlatform`]).
//!
//! Config space is read and written with `pread`/`pwrite` on the device fd at the config
//! region's offset; vfio-pci virtualises parts of it (the command register's bus-master bit is
//! passed through).
#![allow(unsafe_code)]

use super::region::{plan_bar_mapping, RegionInfo};
use crate::platform::Mmio;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// Offset of the PCI command register in config space.
pub const PCI_COMMAND: u64 = 4;
/// Command register: respond to memory-space accesses (the BARs).
pub const PCI_COMMAND_MEMORY: u16 = 1 << 1;
/// Command register: the function may master the bus (DMA, and MSI-X messages).
pub const PCI_COMMAND_MASTER: u16 = 1 << 2;
/// Offset of the revision id in config space.
pub const PCI_REVISION_ID: u64 = 8;

/// The host's page size.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no memory arguments.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// A reserved span with the BAR's areas mapped over it; unmapped as a whole on drop.
struct BarMapping {
    base: *mut libc::c_void,
    span: usize,
}

// SAFETY: the mapping is plain address space owned by this value; it is only unmapped in drop.
unsafe impl Send for BarMapping {}
// SAFETY: as for Send; the value itself is never accessed through shared references.
unsafe impl Sync for BarMapping {}

impl Drop for BarMapping {
    fn drop(&mut self) {
        // SAFETY: `base..base + span` is the reservation made in `map_region`, mapped by no one
        // else and no longer referenced (the `Mmio` holding this backing is gone).
        unsafe { libc::munmap(self.base, self.span) };
    }
}

/// Maps the mmappable areas of BAR region `info` of the device file `dev` as one `Mmio`.
/// `what` names the BAR in errors ("BAR0").
pub fn map_region(dev: &File, info: &RegionInfo, what: &str) -> io::Result<Mmio> {
    let page = page_size();
    let plan = plan_bar_mapping(info, page)
        .map_err(|why| io::Error::new(io::ErrorKind::Unsupported, format!("{what}: {why}")))?;
    let too_big = || io::Error::new(io::ErrorKind::InvalidData, format!("{what} is too large"));
    let len = usize::try_from(plan.len).map_err(|_| too_big())?;
    let span = usize::try_from(
        plan.len
            .checked_next_multiple_of(page)
            .ok_or_else(too_big)?,
    )
    .map_err(|_| too_big())?;
    // SAFETY: a fresh anonymous PROT_NONE reservation at an address the kernel chooses.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            span,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let mapping = BarMapping { base, span };
    for area in &plan.areas {
        let file_offset = info
            .offset
            .checked_add(area.offset)
            .and_then(|o| libc::off_t::try_from(o).ok())
            .ok_or_else(too_big)?;
        // Areas lie inside `[0, plan.len)` (the plan's invariant), so inside the reservation.
        let at = base.cast::<u8>().wrapping_add(area.offset as usize).cast();
        // SAFETY: MAP_FIXED replaces part of our own reservation (page-aligned: the plan checks
        // area offsets against the page size) with a shared mapping of the device file.
        let got = unsafe {
            libc::mmap(
                at,
                area.size as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_FIXED,
                dev.as_raw_fd(),
                file_offset,
            )
        };
        if got == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "mmap of {what} area {:#x}+{:#x}: {e}",
                    area.offset, area.size
                ),
            ));
        }
    }
    let backing: Arc<dyn Send + Sync> = Arc::new(mapping);
    // SAFETY: `base..base + len` is covered by shared mappings of the BAR's areas (the plan's
    // areas tile `[0, len)` exactly), page aligned, and kept alive by `backing`, which the
    // `Mmio` holds. This process touches it only through `Mmio`'s volatile accesses.
    Ok(unsafe { Mmio::new(base.cast(), len, backing) })
}

/// Reads `N` bytes of config space at `off` (config region at `config_offset` in `dev`).
pub fn read_config<const N: usize>(
    dev: &impl FileExt,
    config_offset: u64,
    off: u64,
) -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    dev.read_exact_at(&mut b, config_offset + off)?;
    Ok(b)
}

/// Switches on memory decoding and bus mastering in the command register, by
/// read-modify-write (vfio-pci leaves bus mastering off; the device must DMA and send MSI-X).
/// Returns the register before and after.
pub fn enable_bus_master(dev: &impl FileExt, config_offset: u64) -> io::Result<(u16, u16)> {
    let old = u16::from_le_bytes(read_config::<2>(dev, config_offset, PCI_COMMAND)?);
    let new = old | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    if new != old {
        dev.write_all_at(&new.to_le_bytes(), config_offset + PCI_COMMAND)?;
    }
    Ok((old, new))
}
