//! Time and cycle counts per packet.
//!
//! Cycles per packet need the CPU's performance counters (`perf_event_open` with
//! `PERF_COUNT_HW_CPU_CYCLES`); virtual machines often have none (this project's 2-core VM
//! answers `ENOENT`), so [`HwCounters::open`] says why not and the harness falls back to
//! TSC time: the time-stamp counter ticks at a constant rate (`constant_tsc`), cheap to read
//! around a burst call, and [`tsc_hz`] converts it to nanoseconds.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The time-stamp counter (x86-64), or nanoseconds since the first call elsewhere.
#[inline(always)]
pub fn tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions and touches no memory; every x86-64 CPU has it.
        #[allow(unused_unsafe)]
        unsafe {
            core::arch::x86_64::_rdtsc()
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// TSC ticks per second, measured once against the monotonic clock (100 ms).
pub fn tsc_hz() -> f64 {
    static HZ: OnceLock<f64> = OnceLock::new();
    *HZ.get_or_init(|| {
        let (t0, c0) = (Instant::now(), tsc());
        std::thread::sleep(Duration::from_millis(100));
        let (t1, c1) = (Instant::now(), tsc());
        (c1.wrapping_sub(c0)) as f64 / (t1 - t0).as_secs_f64()
    })
}

/// TSC ticks to nanoseconds.
pub fn tsc_to_ns(ticks: f64) -> f64 {
    ticks * 1e9 / tsc_hz()
}

/// Hardware cycle and instruction counters of the calling thread.
#[derive(Debug)]
pub struct HwCounters {
    cycles: std::fs::File,
    instructions: std::fs::File,
}

/// The first 64 bytes of `struct perf_event_attr` (PERF_ATTR_SIZE_VER0), which every kernel
/// accepts; see the Linux man page perf_event_open(2).
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    /// Bit 0 `disabled`, bit 6 `exclude_hv`, ...
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

const PERF_TYPE_HARDWARE: u32 = 0;
const PERF_COUNT_HW_CPU_CYCLES: u64 = 0;
const PERF_COUNT_HW_INSTRUCTIONS: u64 = 1;
const EXCLUDE_HV: u64 = 1 << 6;

fn open_counter(config: u64) -> std::io::Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    let attr = PerfEventAttr {
        kind: PERF_TYPE_HARDWARE,
        size: std::mem::size_of::<PerfEventAttr>() as u32,
        config,
        flags: EXCLUDE_HV,
        ..Default::default()
    };
    // SAFETY: perf_event_open reads `size` bytes of `attr`, which is a live, initialised
    // repr(C) struct of exactly that size; the other arguments are plain integers (this
    // thread, any CPU, no group, no flags).
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            0 as libc::pid_t,
            -1 as libc::c_int,
            -1 as libc::c_int,
            0 as libc::c_ulong,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { std::fs::File::from_raw_fd(fd as i32) })
}

fn read_counter(f: &std::fs::File) -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    let mut r: &std::fs::File = f;
    match r.read_exact(&mut b) {
        Ok(()) => u64::from_ne_bytes(b),
        Err(_) => 0,
    }
}

impl HwCounters {
    /// Counts cycles and instructions of the calling thread from now on, or says why not.
    pub fn open() -> Result<HwCounters, String> {
        let cycles = open_counter(PERF_COUNT_HW_CPU_CYCLES)
            .map_err(|e| format!("perf_event_open(cycles): {e}"))?;
        let instructions = open_counter(PERF_COUNT_HW_INSTRUCTIONS)
            .map_err(|e| format!("perf_event_open(instructions): {e}"))?;
        Ok(HwCounters {
            cycles,
            instructions,
        })
    }

    /// (cycles, instructions) so far.
    pub fn read(&self) -> (u64, u64) {
        (read_counter(&self.cycles), read_counter(&self.instructions))
    }
}

/// Whether this machine exposes hardware counters: `Ok` or the reason it does not.
pub fn hw_counters_available() -> Result<(), String> {
    HwCounters::open().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsc_runs_forward_at_a_plausible_rate() {
        let hz = tsc_hz();
        // Anything from 100 MHz to 10 GHz is a real TSC; zero or garbage is a bug.
        assert!((1e8..1e10).contains(&hz), "{hz}");
        let a = tsc();
        std::thread::sleep(Duration::from_millis(5));
        let ns = tsc_to_ns((tsc() - a) as f64);
        assert!((4e6..1e9).contains(&ns), "{ns}");
    }

    #[test]
    fn perf_attr_is_the_version_0_size() {
        assert_eq!(std::mem::size_of::<PerfEventAttr>(), 64);
    }
}
