//! The rig's interrupt line: 4-byte writes into the FIFO the driver opens as `/dev/uioN`.
//!
//! With `uio_pci_generic`, DPDK's interrupt thread epolls `/dev/uioN` and reads 4 bytes (the uio
//! event count) per interrupt; `rte_intr_enable`/`rte_intr_disable` only flip INTx disable (bit 2
//! of config byte 5) in the config-space file (DPDK repository, tag v22.11.11,
//! `lib/eal/linux/eal_interrupts.c` `uio_intx_intr_enable`). [`FifoIrq`] mirrors the kernel side
//! of that contract:
//! - while INTx is disabled nothing is delivered (the config file is read on every raise, since
//!   the driver flips the bit at any time);
//! - like the uio counter, events coalesce: while an earlier event is still unread (FIONREAD
//!   shows 4 or more bytes) a raise writes nothing, so one handler run sees it;
//! - the 4 bytes are the number of events delivered so far, as uio's read returns its counter.
//!
//! uio offers one line, so every MSI-X vector the device model raises maps to it.
//!
//! The FIFO is opened O_RDWR | O_NONBLOCK: on Linux that never blocks, even with no reader yet,
//! and since this process is itself a reader a write never raises SIGPIPE.
#![allow(unsafe_code)]

use super::sysfs::{Rig, CONFIG_INTX_BYTE, CONFIG_INTX_DISABLE_BIT};
use crate::irq::IrqLine;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes per uio event.
const EVENT_BYTES: usize = 4;

/// Live counters of a [`FifoIrq`], shareable with whoever watches the device.
#[derive(Debug, Default)]
pub struct FifoIrqCounters {
    raised: AtomicU64,
    delivered: AtomicU64,
    masked: AtomicU64,
    coalesced: AtomicU64,
    errors: AtomicU64,
}

/// A snapshot of [`FifoIrqCounters`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FifoIrqStats {
    /// Calls to `raise`.
    pub raised: u64,
    /// Events written to the FIFO.
    pub delivered: u64,
    /// Raises dropped because the driver had INTx disabled.
    pub masked: u64,
    /// Raises folded into an event the driver had not read yet.
    pub coalesced: u64,
    /// Raises lost to an I/O error (config file or FIFO unreadable/unwritable).
    pub errors: u64,
}

impl FifoIrqStats {
    /// Raises that did not produce a write (masked + coalesced + errors).
    pub fn suppressed(&self) -> u64 {
        self.masked + self.coalesced + self.errors
    }
}

impl FifoIrqCounters {
    /// The current values.
    pub fn snapshot(&self) -> FifoIrqStats {
        FifoIrqStats {
            raised: self.raised.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            masked: self.masked.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

/// The device's interrupt line in the PCI rig.
#[derive(Debug)]
pub struct FifoIrq {
    fifo: File,
    config: File,
    counters: Arc<FifoIrqCounters>,
    /// Event count written with the next delivery.
    events: u32,
}

impl FifoIrq {
    /// Opens the FIFO at `fifo` and the config-space file at `config`.
    pub fn open(fifo: &Path, config: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("opening interrupt FIFO {}: {e}", fifo.display()),
                )
            })?;
        if !file.metadata()?.file_type().is_fifo() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is not a FIFO (a regular file as /dev/uioN makes DPDK's epoll fail)",
                    fifo.display()
                ),
            ));
        }
        let config_file = File::open(config).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("opening config space {}: {e}", config.display()),
            )
        })?;
        Ok(Self {
            fifo: file,
            config: config_file,
            counters: Arc::default(),
            events: 1,
        })
    }

    /// The line of `rig`.
    pub fn for_rig(rig: &Rig) -> io::Result<Self> {
        Self::open(&rig.fifo_path(), &rig.config_path())
    }

    /// The counters, to watch from elsewhere after the line moved into the device.
    pub fn counters(&self) -> Arc<FifoIrqCounters> {
        self.counters.clone()
    }

    /// Current counter values.
    pub fn stats(&self) -> FifoIrqStats {
        self.counters.snapshot()
    }

    /// Whether the driver has INTx disabled in config space right now.
    pub fn intx_disabled(&self) -> io::Result<bool> {
        let mut byte = [0u8; 1];
        self.config.read_exact_at(&mut byte, CONFIG_INTX_BYTE)?;
        Ok(byte[0] & CONFIG_INTX_DISABLE_BIT != 0)
    }

    /// Bytes written to the FIFO and not read yet.
    pub fn unread_bytes(&self) -> io::Result<usize> {
        fifo_unread(&self.fifo)
    }

    fn deliver(&mut self) -> io::Result<bool> {
        if self.intx_disabled()? {
            self.counters.masked.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        }
        if self.unread_bytes()? >= EVENT_BYTES {
            self.counters.coalesced.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        }
        match self.fifo.write(&self.events.to_ne_bytes()) {
            // Writes up to PIPE_BUF bytes are atomic: all four bytes or none.
            Ok(EVENT_BYTES) => {}
            Ok(n) => {
                return Err(io::Error::other(format!(
                    "short write of {n} bytes to the interrupt FIFO"
                )))
            }
            // The FIFO is full of unread events; the driver will see those.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.counters.coalesced.fetch_add(1, Ordering::Relaxed);
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
        self.events = self.events.wrapping_add(1);
        self.counters.delivered.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }
}

impl IrqLine for FifoIrq {
    fn raise(&mut self, _vector: u32) {
        self.counters.raised.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.deliver() {
            let n = self.counters.errors.fetch_add(1, Ordering::Relaxed);
            // A dead FIFO fails on every raise; say so once, then every 1024th time.
            if n.is_multiple_of(1024) {
                tracing::error!(target: "ena_sim::pci_rig", "interrupt lost: {e}");
            }
        }
    }
}

/// FIONREAD on a pipe or FIFO: bytes waiting to be read.
pub(crate) fn fifo_unread(fifo: &File) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which is valid for the call.
    if unsafe { libc::ioctl(fifo.as_raw_fd(), libc::FIONREAD, &mut n) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n.max(0) as usize)
}

#[cfg(test)]
mod tests {
    use super::super::host::RigHost;
    use super::super::sysfs::RigConfig;
    use super::super::test_support::{shm_or_skip, unique_path, unique_prefix};
    use super::*;

    fn rig(tag: &str) -> Rig {
        let mut cfg = RigConfig::new(unique_path(tag));
        cfg.shm_prefix = unique_prefix(tag);
        Rig::create(cfg).unwrap()
    }

    #[test]
    fn pci_rig_fifo_irq_writes_four_bytes_when_enabled() {
        if !shm_or_skip() {
            return;
        }
        let rig = rig("irqon");
        let host = RigHost::attach(&rig).unwrap();
        let mut irq = FifoIrq::for_rig(&rig).unwrap();
        host.set_intx_disabled(false).unwrap(); // what rte_intr_enable does
        assert!(!irq.intx_disabled().unwrap());
        irq.raise(0);
        assert_eq!(irq.unread_bytes().unwrap(), 4);
        assert_eq!(host.take_interrupt().unwrap(), Some(1));
        assert_eq!(irq.unread_bytes().unwrap(), 0);
        irq.raise(5); // an IO vector: the same single uio line
        assert_eq!(host.take_interrupt().unwrap(), Some(2));
        assert_eq!(host.take_interrupt().unwrap(), None);
        assert_eq!(
            irq.stats(),
            FifoIrqStats {
                raised: 2,
                delivered: 2,
                ..Default::default()
            }
        );
    }

    #[test]
    fn pci_rig_fifo_irq_is_silent_while_intx_is_disabled() {
        if !shm_or_skip() {
            return;
        }
        let rig = rig("irqoff");
        let host = RigHost::attach(&rig).unwrap();
        let mut irq = FifoIrq::for_rig(&rig).unwrap();
        // The rig starts with INTx disabled, as a freshly bound uio_pci_generic device.
        assert!(irq.intx_disabled().unwrap());
        irq.raise(0);
        irq.raise(0);
        assert_eq!(irq.unread_bytes().unwrap(), 0);
        assert_eq!(host.take_interrupt().unwrap(), None);
        host.set_intx_disabled(false).unwrap();
        irq.raise(0);
        assert_eq!(host.take_interrupt().unwrap(), Some(1));
        host.set_intx_disabled(true).unwrap();
        irq.raise(0);
        assert_eq!(host.take_interrupt().unwrap(), None);
        let stats = irq.stats();
        assert_eq!(
            stats,
            FifoIrqStats {
                raised: 4,
                delivered: 1,
                masked: 3,
                ..Default::default()
            }
        );
        assert_eq!(stats.suppressed(), 3);
        // The host's toggling touched only the INTx bit of the command register.
        assert_eq!(host.command().unwrap(), 0x0406);
    }

    #[test]
    fn pci_rig_fifo_irq_coalesces_unread_events() {
        if !shm_or_skip() {
            return;
        }
        let rig = rig("irqco");
        let host = RigHost::attach(&rig).unwrap();
        let mut irq = FifoIrq::for_rig(&rig).unwrap();
        let counters = irq.counters();
        host.set_intx_disabled(false).unwrap();
        for _ in 0..3 {
            irq.raise(0);
        }
        assert_eq!(irq.unread_bytes().unwrap(), 4, "one event for three raises");
        assert_eq!(host.take_interrupt().unwrap(), Some(1));
        irq.raise(0);
        assert_eq!(host.take_interrupt().unwrap(), Some(2));
        assert_eq!(
            counters.snapshot(),
            FifoIrqStats {
                raised: 4,
                delivered: 2,
                coalesced: 2,
                ..Default::default()
            }
        );
    }

    #[test]
    fn pci_rig_fifo_irq_refuses_a_regular_file() {
        if !shm_or_skip() {
            return;
        }
        let rig = rig("irqreg");
        let err = FifoIrq::open(&rig.config_path(), &rig.config_path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("not a FIFO"), "{err}");
    }
}
