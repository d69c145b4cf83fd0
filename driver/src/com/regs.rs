//! Register access and the two-phase reset (spec §2.3, §3.3).
//!
//! Registers are read either with plain 32-bit loads from BAR0 or through the "readless"
//! mechanism: the driver writes `(offset << 16) | seq` to MMIO_REG_READ and the device DMA-writes
//! `{seq, offset, value}` into an 8-byte host buffer, `seq` last. The driver poisons the buffer
//! before each request so a stale answer can never match, and treats a timeout or an offset that
//! does not echo as a failed read.

use crate::error::{Error, Result};
use crate::mem::DmaRegion;
use crate::platform::{Mmio, Platform};
use ena_hw::regs::{off, Caps, DevCtl, DevSts, MmioRegReadReq, ResetReason, MMIO_READ_POISON};
use std::time::Duration;

/// Readless reads wait this long for an answer (spec: 200 000 × 1 µs by default).
pub const READLESS_TIMEOUT: Duration = Duration::from_millis(200);

/// Reads device registers.
pub struct RegReader {
    bar0: Mmio,
    /// The readless response buffer; `None` for plain loads.
    resp: Option<DmaRegion>,
    seq: u16,
    timeout: Duration,
}

impl RegReader {
    /// A reader using the readless mechanism if `readless`, plain loads otherwise.
    pub fn new(platform: &dyn Platform, readless: bool) -> Result<Self> {
        let bar0 = platform.bar0().clone();
        let resp = if readless {
            Some(platform.alloc_dma(8, 8)?)
        } else {
            None
        };
        let r = Self {
            bar0,
            resp,
            seq: 0,
            timeout: READLESS_TIMEOUT,
        };
        r.program_response_address();
        Ok(r)
    }

    /// Whether reads go through the readless mechanism.
    pub fn readless(&self) -> bool {
        self.resp.is_some()
    }

    /// Overrides the readless timeout (HW hint `mmio_read_timeout`).
    pub fn set_timeout(&mut self, t: Duration) {
        self.timeout = t;
    }

    /// Writes the response buffer's address (again after DEV_CTL starts a reset, spec §3.3).
    pub fn program_response_address(&self) {
        if let Some(r) = &self.resp {
            self.bar0.write32(off::MMIO_RESP_LO, r.iova() as u32);
            self.bar0
                .write32(off::MMIO_RESP_HI, (r.iova() >> 32) as u32);
        }
    }

    /// Forgets the response address (teardown, before the buffer is freed).
    pub fn clear_response_address(&self) {
        if self.resp.is_some() {
            self.bar0.write32(off::MMIO_RESP_LO, 0);
            self.bar0.write32(off::MMIO_RESP_HI, 0);
        }
    }

    /// Reads a register.
    pub fn read(&mut self, platform: &dyn Platform, offset: u32) -> Result<u32> {
        let Some(resp) = &self.resp else {
            return Ok(self.bar0.read32(offset));
        };
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        resp.write::<u16>(0, seq.wrapping_add(MMIO_READ_POISON));
        self.bar0.write_doorbell(
            off::MMIO_REG_READ,
            MmioRegReadReq::new(offset as u16, seq).0,
        );
        let start = platform.now();
        let mut spins = 0u32;
        loop {
            if resp.load_u16_acquire(0) == seq {
                let echoed: u16 = resp.read(2);
                let value: u32 = resp.read(4);
                if echoed as u32 != offset {
                    return Err(Error::RegisterReadTimeout {
                        offset: offset as u16,
                    });
                }
                return Ok(value);
            }
            if platform.now().saturating_sub(start) > self.timeout {
                return Err(Error::RegisterReadTimeout {
                    offset: offset as u16,
                });
            }
            // Spin briefly (the device usually answers within microseconds), then back off.
            spins += 1;
            if spins < 100 {
                std::hint::spin_loop();
            } else {
                platform.delay(Duration::from_micros(1));
            }
        }
    }
}

/// Exponential back-off for the control path: 100 µs doubling to 5 ms (spec §3.3).
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: Duration::from_micros(100),
        }
    }
}

impl Backoff {
    /// Waits the next interval.
    pub fn wait(&mut self, platform: &dyn Platform) {
        platform.delay(self.next);
        self.next = (self.next * 2).min(Duration::from_millis(5));
    }
}

/// Encodes a reset reason for DEV_CTL: the low nibble always, the high nibble only when the device
/// supports extended reasons (else reasons ≥ 16 become GENERIC, spec §3.1).
pub fn dev_ctl_reset(reason: ResetReason, extended: bool) -> u32 {
    let mut code = reason as u8;
    if code >= 16 && !extended {
        code = ResetReason::Generic as u8;
    }
    let mut ctl = DevCtl(0);
    ctl.set_dev_reset(true);
    ctl.set_reset_reason(code & 0xf);
    if extended {
        ctl.set_reset_reason_ext(code >> 4);
    }
    ctl.0
}

/// The two-phase reset of spec §3.3.
pub fn reset_device(
    platform: &dyn Platform,
    regs: &mut RegReader,
    reason: ResetReason,
    extended_reasons: bool,
) -> Result<Caps> {
    let sts = DevSts(regs.read(platform, off::DEV_STS)?);
    let caps = Caps(regs.read(platform, off::CAPS)?);
    if !sts.ready() {
        return Err(Error::Unsupported(
            "device is not ready (DEV_STS.ready = 0); cannot reset".into(),
        ));
    }
    if caps.reset_timeout() == 0 {
        return Err(Error::Unsupported(
            "device reports a zero reset timeout".into(),
        ));
    }
    let phase_timeout = Duration::from_millis(100 * caps.reset_timeout() as u64);
    let bar0 = platform.bar0();
    bar0.write_doorbell(off::DEV_CTL, dev_ctl_reset(reason, extended_reasons));
    regs.program_response_address();
    wait_reset_bit(platform, regs, true, phase_timeout)?;
    bar0.write_doorbell(off::DEV_CTL, 0);
    wait_reset_bit(platform, regs, false, phase_timeout)?;
    Ok(caps)
}

fn wait_reset_bit(
    platform: &dyn Platform,
    regs: &mut RegReader,
    set: bool,
    timeout: Duration,
) -> Result<()> {
    let start = platform.now();
    let mut backoff = Backoff::default();
    loop {
        // A read that times out during reset is retried until the phase timeout.
        if let Ok(v) = regs.read(platform, off::DEV_STS) {
            if DevSts(v).reset_in_progress() == set {
                return Ok(());
            }
        }
        if platform.now().saturating_sub(start) > timeout {
            return Err(Error::ResetTimeout(if set {
                "reset_in_progress never set"
            } else {
                "reset_in_progress never cleared"
            }));
        }
        backoff.wait(platform);
    }
}
