//! The thin VFIO ioctl layer: request numbers and one small wrapper per ioctl the driver uses.
//!
//! Structures and constants are `vfio-bindings`' (bindgen output of the kernel's
//! `include/uapi/linux/vfio.h`); the request numbers are computed here exactly as vfio.h defines
//! them: every VFIO ioctl is `_IO(VFIO_TYPE, VFIO_BASE + n)` with `VFIO_TYPE = ';'` and
//! `VFIO_BASE = 100` — no size or direction bits, because each argument carries its own `argsz`.
//! `tests/vfio.rs` checks each number against an independent `_IOC` computation, and the
//! structure layouts against the offsets in vfio.h.
//!
//! Why not rust-vmm's `vfio-ioctls`: it builds here without KVM (`default-features = false`),
//! but it does not fit this driver:
//! - its container refuses every IOMMU type except type1/type1v2 (`check_extension` and
//!   `set_iommu` reject `VFIO_NOIOMMU_IOMMU`; rust-vmm/vfio issue 152), and its `VfioDevice` can
//!   only be made from such a container or an iommufd cdev, so in no-IOMMU mode none of it is
//!   usable and a second implementation would be needed anyway;
//! - it opens the fixed paths `/dev/vfio/vfio` and `/dev/vfio/<group>`, so the device root cannot
//!   be injected (tests, `enactl` on a chroot) and `/dev/vfio/noiommu-<N>` cannot be opened;
//! - region reads/writes and reset swallow errors, and its errors lose the errno detail the
//!   driver's one-line messages need.
//!
//! So one small layer over `vfio-bindings` serves both modes. Each wrapper does exactly one
//! ioctl and returns the OS error untouched; callers add context. Info ioctls with capability
//! chains return the raw bytes, which [`super::region`] parses as pure functions.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use vfio_bindings::bindings::vfio as uapi;

/// `VFIO_TYPE` of vfio.h: the ioctl "magic" character `';'`.
pub const VFIO_TYPE: u8 = b';';
/// `VFIO_BASE` of vfio.h: the first ioctl number.
pub const VFIO_BASE: u32 = 100;

/// `_IO(VFIO_TYPE, VFIO_BASE + n)` as `include/uapi/asm-generic/ioctl.h` encodes it: direction
/// `_IOC_NONE` (0) in bits 31:30, size 0 in bits 29:16, type in bits 15:8, number in bits 7:0.
pub const fn vfio_io(n: u32) -> u64 {
    ((VFIO_TYPE as u64) << 8) | (VFIO_BASE + n) as u64
}

/// `VFIO_GET_API_VERSION` (container).
pub const VFIO_GET_API_VERSION: u64 = vfio_io(0);
/// `VFIO_CHECK_EXTENSION` (container).
pub const VFIO_CHECK_EXTENSION: u64 = vfio_io(1);
/// `VFIO_SET_IOMMU` (container).
pub const VFIO_SET_IOMMU: u64 = vfio_io(2);
/// `VFIO_GROUP_GET_STATUS` (group).
pub const VFIO_GROUP_GET_STATUS: u64 = vfio_io(3);
/// `VFIO_GROUP_SET_CONTAINER` (group).
pub const VFIO_GROUP_SET_CONTAINER: u64 = vfio_io(4);
/// `VFIO_GROUP_UNSET_CONTAINER` (group).
pub const VFIO_GROUP_UNSET_CONTAINER: u64 = vfio_io(5);
/// `VFIO_GROUP_GET_DEVICE_FD` (group).
pub const VFIO_GROUP_GET_DEVICE_FD: u64 = vfio_io(6);
/// `VFIO_DEVICE_GET_INFO` (device).
pub const VFIO_DEVICE_GET_INFO: u64 = vfio_io(7);
/// `VFIO_DEVICE_GET_REGION_INFO` (device).
pub const VFIO_DEVICE_GET_REGION_INFO: u64 = vfio_io(8);
/// `VFIO_DEVICE_GET_IRQ_INFO` (device).
pub const VFIO_DEVICE_GET_IRQ_INFO: u64 = vfio_io(9);
/// `VFIO_DEVICE_SET_IRQS` (device).
pub const VFIO_DEVICE_SET_IRQS: u64 = vfio_io(10);
/// `VFIO_DEVICE_RESET` (device).
pub const VFIO_DEVICE_RESET: u64 = vfio_io(11);
/// `VFIO_IOMMU_GET_INFO` (container, type1).
pub const VFIO_IOMMU_GET_INFO: u64 = vfio_io(12);
/// `VFIO_IOMMU_MAP_DMA` (container, type1).
pub const VFIO_IOMMU_MAP_DMA: u64 = vfio_io(13);
/// `VFIO_IOMMU_UNMAP_DMA` (container, type1).
pub const VFIO_IOMMU_UNMAP_DMA: u64 = vfio_io(14);

/// The first buffer offered to info ioctls with capability chains; the kernel asks for more
/// through `argsz` when the chain does not fit.
const INFO_BUFFER: usize = 512;
/// No info structure of vfio.h comes near this; a larger `argsz` is a kernel bug or not VFIO.
const INFO_BUFFER_MAX: usize = 64 * 1024;

/// Runs `ioctl(fd, request, arg)`, mapping -1 to the OS error.
///
/// # Safety
/// `arg` must be what `request` expects on `fd`: a pointer to a live buffer of the size its
/// `argsz` announces (writable where the kernel writes), or a plain integer.
unsafe fn ioctl_raw(fd: BorrowedFd<'_>, request: u64, arg: libc::c_ulong) -> io::Result<i32> {
    // SAFETY: guaranteed by the caller. `request` fits `Ioctl` (all VFIO requests are < 2^16).
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request as libc::Ioctl, arg) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `VFIO_GET_API_VERSION`: the container's API version (vfio.h's `VFIO_API_VERSION`, 0).
pub fn get_api_version(container: BorrowedFd<'_>) -> io::Result<i32> {
    // SAFETY: this ioctl takes no argument.
    unsafe { ioctl_raw(container, VFIO_GET_API_VERSION, 0) }
}

/// `VFIO_CHECK_EXTENSION`: whether the container supports IOMMU type/extension `ext`.
pub fn check_extension(container: BorrowedFd<'_>, ext: u32) -> io::Result<bool> {
    // SAFETY: the argument is the extension number by value.
    unsafe { ioctl_raw(container, VFIO_CHECK_EXTENSION, ext.into()) }.map(|rc| rc > 0)
}

/// `VFIO_SET_IOMMU`: selects the container's IOMMU backend (after a group was added).
pub fn set_iommu(container: BorrowedFd<'_>, iommu_type: u32) -> io::Result<()> {
    // SAFETY: the argument is the IOMMU type by value.
    unsafe { ioctl_raw(container, VFIO_SET_IOMMU, iommu_type.into()) }.map(drop)
}

/// `VFIO_GROUP_GET_STATUS`: the group's `VFIO_GROUP_FLAGS_*`.
pub fn group_get_status(group: BorrowedFd<'_>) -> io::Result<u32> {
    let mut status = uapi::vfio_group_status {
        argsz: size_of::<uapi::vfio_group_status>() as u32,
        flags: 0,
    };
    // SAFETY: `status` is a live, writable vfio_group_status whose argsz says so.
    unsafe {
        ioctl_raw(
            group,
            VFIO_GROUP_GET_STATUS,
            &mut status as *mut _ as libc::c_ulong,
        )
    }?;
    Ok(status.flags)
}

/// `VFIO_GROUP_SET_CONTAINER`: adds the group to the container.
pub fn group_set_container(group: BorrowedFd<'_>, container: BorrowedFd<'_>) -> io::Result<()> {
    let fd: i32 = container.as_raw_fd();
    // SAFETY: the argument points to an int holding the container fd, read by the kernel.
    unsafe {
        ioctl_raw(
            group,
            VFIO_GROUP_SET_CONTAINER,
            &fd as *const i32 as libc::c_ulong,
        )
    }
    .map(drop)
}

/// `VFIO_GROUP_GET_DEVICE_FD`: opens the device named `name` (its PCI address) in the group.
pub fn group_get_device_fd(group: BorrowedFd<'_>, name: &str) -> io::Result<OwnedFd> {
    let name = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the argument is a NUL-terminated string that outlives the call.
    let fd = unsafe {
        ioctl_raw(
            group,
            VFIO_GROUP_GET_DEVICE_FD,
            name.as_ptr() as libc::c_ulong,
        )
    }?;
    // SAFETY: on success the ioctl returns a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Runs an info ioctl whose argument starts with `argsz` and may end in a capability chain:
/// offers [`INFO_BUFFER`] bytes, and again with what the kernel's `argsz` asks for if the
/// chain did not fit. `init` fills the input fields (after `argsz`) of the zeroed buffer.
/// Returns the whole buffer, `argsz` included.
fn info_ioctl(
    fd: BorrowedFd<'_>,
    request: u64,
    min_len: usize,
    init: impl Fn(&mut [u8]),
) -> io::Result<Vec<u8>> {
    let mut len = INFO_BUFFER.max(min_len);
    loop {
        // u64 words: the structures hold __aligned_u64 fields.
        let mut words = vec![0u64; len.div_ceil(8)];
        let bytes_len = words.len() * 8;
        {
            // SAFETY: a u64 buffer viewed as bytes (any bytes are valid for both).
            let bytes = unsafe {
                std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), bytes_len)
            };
            bytes[..4].copy_from_slice(&(bytes_len as u32).to_ne_bytes());
            init(bytes);
        }
        // SAFETY: `words` is a live, writable buffer of `bytes_len` bytes, as argsz says.
        unsafe { ioctl_raw(fd, request, words.as_mut_ptr() as libc::c_ulong) }?;
        let mut out = Vec::with_capacity(bytes_len);
        for w in &words {
            out.extend_from_slice(&w.to_ne_bytes());
        }
        let wanted = u32::from_ne_bytes([out[0], out[1], out[2], out[3]]) as usize;
        if wanted <= bytes_len {
            return Ok(out);
        }
        if wanted > INFO_BUFFER_MAX || len >= INFO_BUFFER_MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the kernel asks for a {wanted}-byte info buffer"),
            ));
        }
        len = wanted;
    }
}

/// `VFIO_DEVICE_GET_INFO`: the raw `vfio_device_info` (with any capability chain).
pub fn device_get_info(device: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    info_ioctl(
        device,
        VFIO_DEVICE_GET_INFO,
        size_of::<uapi::vfio_device_info>(),
        |_| {},
    )
}

/// `VFIO_DEVICE_GET_REGION_INFO` for region `index`: the raw `vfio_region_info` and its
/// capability chain, for [`super::region::parse_region_info`].
pub fn device_get_region_info(device: BorrowedFd<'_>, index: u32) -> io::Result<Vec<u8>> {
    info_ioctl(
        device,
        VFIO_DEVICE_GET_REGION_INFO,
        size_of::<uapi::vfio_region_info>(),
        |b| b[8..12].copy_from_slice(&index.to_ne_bytes()),
    )
}

/// `VFIO_DEVICE_GET_IRQ_INFO` for IRQ `index`.
pub fn device_get_irq_info(device: BorrowedFd<'_>, index: u32) -> io::Result<uapi::vfio_irq_info> {
    let mut info = uapi::vfio_irq_info {
        argsz: size_of::<uapi::vfio_irq_info>() as u32,
        index,
        ..Default::default()
    };
    // SAFETY: `info` is a live, writable vfio_irq_info whose argsz says so.
    unsafe {
        ioctl_raw(
            device,
            VFIO_DEVICE_GET_IRQ_INFO,
            &mut info as *mut _ as libc::c_ulong,
        )
    }?;
    Ok(info)
}

/// `VFIO_DEVICE_SET_IRQS` with a complete `vfio_irq_set` (header and data) as
/// [`super::irq::irq_set_bytes`] builds it.
pub fn device_set_irqs(device: BorrowedFd<'_>, irq_set: &[u8]) -> io::Result<()> {
    let argsz = irq_set
        .get(..4)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize);
    if irq_set.len() < size_of::<uapi::vfio_irq_set>() || argsz != Some(irq_set.len()) {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: the kernel reads argsz (= the slice's length, checked) bytes of a live buffer.
    unsafe {
        ioctl_raw(
            device,
            VFIO_DEVICE_SET_IRQS,
            irq_set.as_ptr() as libc::c_ulong,
        )
    }
    .map(drop)
}

/// `VFIO_DEVICE_RESET`: resets the function (only where the device info has
/// `VFIO_DEVICE_FLAGS_RESET`).
pub fn device_reset(device: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: this ioctl takes no argument.
    unsafe { ioctl_raw(device, VFIO_DEVICE_RESET, 0) }.map(drop)
}

/// `VFIO_IOMMU_GET_INFO` (type1): the raw `vfio_iommu_type1_info` and its capability chain, for
/// [`super::region::parse_iommu_info`].
pub fn iommu_get_info(container: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    info_ioctl(
        container,
        VFIO_IOMMU_GET_INFO,
        size_of::<uapi::vfio_iommu_type1_info>(),
        |_| {},
    )
}

/// `VFIO_IOMMU_MAP_DMA` (type1): lets the device read and write `size` bytes of this process's
/// memory at `vaddr` through IO virtual address `iova`. The kernel pins the pages.
pub fn iommu_map_dma(
    container: BorrowedFd<'_>,
    vaddr: u64,
    iova: u64,
    size: u64,
) -> io::Result<()> {
    let map = uapi::vfio_iommu_type1_dma_map {
        argsz: size_of::<uapi::vfio_iommu_type1_dma_map>() as u32,
        flags: uapi::VFIO_DMA_MAP_FLAG_READ | uapi::VFIO_DMA_MAP_FLAG_WRITE,
        vaddr,
        iova,
        size,
    };
    // SAFETY: `map` is a live vfio_iommu_type1_dma_map whose argsz says so; the kernel checks
    // that `vaddr..vaddr + size` is this process's memory before pinning it.
    unsafe {
        ioctl_raw(
            container,
            VFIO_IOMMU_MAP_DMA,
            &map as *const _ as libc::c_ulong,
        )
    }
    .map(drop)
}

/// `VFIO_IOMMU_UNMAP_DMA` (type1): removes the mapping at `iova`; returns the bytes unmapped.
pub fn iommu_unmap_dma(container: BorrowedFd<'_>, iova: u64, size: u64) -> io::Result<u64> {
    let mut unmap = uapi::vfio_iommu_type1_dma_unmap {
        argsz: size_of::<uapi::vfio_iommu_type1_dma_unmap>() as u32,
        flags: 0,
        iova,
        size,
        data: Default::default(),
    };
    // SAFETY: `unmap` is a live, writable vfio_iommu_type1_dma_unmap (no data: flags 0) whose
    // argsz says so.
    unsafe {
        ioctl_raw(
            container,
            VFIO_IOMMU_UNMAP_DMA,
            &mut unmap as *mut _ as libc::c_ulong,
        )
    }?;
    Ok(unmap.size)
}
