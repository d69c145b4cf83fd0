//! Interrupts through VFIO: an eventfd that the kernel signals when the device raises an MSI-X
//! vector, used (optionally) for ENA's admin/AENQ vector 0. Polling stays the default; the
//! eventfd only lets a control thread sleep until the device has something to say.
//!
//! `VFIO_DEVICE_SET_IRQS` takes `struct vfio_irq_set` (vfio.h): `argsz` u32 @0, `flags` u32 @4,
//! `index` u32 @8, `start` u32 @12, `count` u32 @16, then `data` @20 — for `DATA_EVENTFD`,
//! `count` s32 file descriptors (-1 detaches one). `DATA_NONE | ACTION_TRIGGER` with `count` 0
//! disables the whole index. [`irq_set_bytes`] builds that buffer as a pure function.
#![allow(unsafe_code)]

use super::ioctl;
use crate::error::{Error, Result};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;
use vfio_bindings::bindings::vfio as uapi;

/// `sizeof(struct vfio_irq_set)` without its data.
pub const IRQ_SET_HEADER_LEN: usize = 20;

/// The bytes of a `struct vfio_irq_set` with `data` appended; `argsz` covers it all.
pub fn irq_set_bytes(flags: u32, index: u32, start: u32, count: u32, data: &[u8]) -> Vec<u8> {
    let argsz = (IRQ_SET_HEADER_LEN + data.len()) as u32;
    let mut b = Vec::with_capacity(argsz as usize);
    for word in [argsz, flags, index, start, count] {
        b.extend_from_slice(&word.to_ne_bytes());
    }
    b.extend_from_slice(data);
    b
}

/// Routes vectors `start..start + fds.len()` of IRQ `index` to the eventfds `fds`.
pub fn irq_set_eventfds(index: u32, start: u32, fds: &[i32]) -> Vec<u8> {
    let data: Vec<u8> = fds.iter().flat_map(|fd| fd.to_ne_bytes()).collect();
    irq_set_bytes(
        uapi::VFIO_IRQ_SET_DATA_EVENTFD | uapi::VFIO_IRQ_SET_ACTION_TRIGGER,
        index,
        start,
        fds.len() as u32,
        &data,
    )
}

/// Disables IRQ `index` as a whole.
pub fn irq_set_disable(index: u32) -> Vec<u8> {
    irq_set_bytes(
        uapi::VFIO_IRQ_SET_DATA_NONE | uapi::VFIO_IRQ_SET_ACTION_TRIGGER,
        index,
        0,
        0,
        &[],
    )
}

/// A non-blocking, close-on-exec eventfd.
#[derive(Debug)]
pub struct EventFd(OwnedFd);

impl EventFd {
    /// A fresh eventfd with count 0.
    pub fn new() -> io::Result<Self> {
        // SAFETY: eventfd has no memory arguments.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor that nothing else owns.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Adds `n` to the count, as the kernel does when the interrupt fires.
    pub fn notify(&self, n: u64) -> io::Result<()> {
        let buf = n.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer to our descriptor.
        let rc = unsafe { libc::write(self.0.as_raw_fd(), buf.as_ptr().cast(), 8) };
        if rc == 8 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Takes the count (interrupts since the last read) without blocking; `None` if it is 0.
    pub fn try_read(&self) -> io::Result<Option<u64>> {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live buffer from our descriptor.
        let rc = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
        if rc == 8 {
            return Ok(Some(u64::from_ne_bytes(buf)));
        }
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::WouldBlock {
            Ok(None)
        } else {
            Err(e)
        }
    }

    /// Waits up to `timeout` for the count to become non-zero, then takes it.
    pub fn wait(&self, timeout: Duration) -> io::Result<Option<u64>> {
        let mut pfd = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        loop {
            // SAFETY: one live pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc >= 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        self.try_read()
    }
}

impl AsFd for EventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// An MSI-X vector of the device routed to an eventfd; disabled again on drop.
#[derive(Debug)]
pub struct MsixEventFd {
    eventfd: EventFd,
    device: Arc<File>,
    vector: u32,
}

impl MsixEventFd {
    /// Routes MSI-X `vector` of `device` to a new eventfd (vectors below it stay unrouted).
    pub fn enable(device: Arc<File>, vector: u32) -> Result<Self> {
        let index = uapi::VFIO_PCI_MSIX_IRQ_INDEX;
        let info = ioctl::device_get_irq_info(device.as_fd(), index)
            .map_err(|e| Error::io("VFIO_DEVICE_GET_IRQ_INFO (MSI-X)", e))?;
        if info.count <= vector || info.flags & uapi::VFIO_IRQ_INFO_EVENTFD == 0 {
            return Err(Error::Unsupported(format!(
                "MSI-X vector {vector} cannot be signalled through an eventfd (the device has {} \
                 MSI-X vectors, irq info flags {:#x})",
                info.count, info.flags
            )));
        }
        let eventfd = EventFd::new().map_err(|e| Error::io("creating an eventfd", e))?;
        let mut fds = vec![-1; vector as usize];
        fds.push(eventfd.as_fd().as_raw_fd());
        ioctl::device_set_irqs(device.as_fd(), &irq_set_eventfds(index, 0, &fds))
            .map_err(|e| Error::io(format!("VFIO_DEVICE_SET_IRQS (MSI-X vector {vector})"), e))?;
        Ok(Self {
            eventfd,
            device,
            vector,
        })
    }

    /// The vector.
    pub fn vector(&self) -> u32 {
        self.vector
    }

    /// The eventfd (to add to an epoll set).
    pub fn eventfd(&self) -> &EventFd {
        &self.eventfd
    }

    /// Waits up to `timeout` for the vector to fire; the number of times it fired.
    pub fn wait(&self, timeout: Duration) -> io::Result<Option<u64>> {
        self.eventfd.wait(timeout)
    }
}

impl Drop for MsixEventFd {
    fn drop(&mut self) {
        let disable = irq_set_disable(uapi::VFIO_PCI_MSIX_IRQ_INDEX);
        if let Err(e) = ioctl::device_set_irqs(self.device.as_fd(), &disable) {
            tracing::warn!(target: "ena::vfio", "disabling MSI-X: {e}");
        }
    }
}
