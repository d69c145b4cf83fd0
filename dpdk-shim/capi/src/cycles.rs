//! The cycle counter's rate and delays (rte_cycles.h). `rte_rdtsc` is inline in the header and
//! reads the CPU's counter: the x86 TSC, the Arm generic timer, or elsewhere
//! [`dpdk_shim_clock_cycles`] (nanoseconds). [`rte_get_tsc_hz`] gives the matching rate: the
//! Arm timer's frequency register, or for the TSC a measurement against the monotonic clock,
//! made once (as DPDK estimates it when the CPU does not say).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static TSC_HZ: AtomicU64 = AtomicU64::new(0);

/// How long the TSC is measured against the clock.
const CALIBRATION: Duration = Duration::from_millis(50);
/// Waits up to this long spin; longer ones sleep.
const SPIN_LIMIT_US: u32 = 100;

/// The counter `rte_rdtsc` reads, here.
pub fn read_counter() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions on x86-64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(target_arch = "aarch64")]
    {
        let t: u64;
        // SAFETY: reading the virtual counter register is allowed at EL0 on Linux.
        unsafe { core::arch::asm!("mrs {}, cntvct_el0", out(reg) t) };
        t
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        dpdk_shim_clock_cycles()
    }
}

fn measure_hz() -> u64 {
    #[cfg(target_arch = "aarch64")]
    {
        let f: u64;
        // SAFETY: reading the counter frequency register is allowed at EL0 on Linux.
        unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) f) };
        f
    }
    #[cfg(target_arch = "x86_64")]
    {
        let (t0, c0) = (Instant::now(), read_counter());
        std::thread::sleep(CALIBRATION);
        let (c1, ns) = (read_counter(), t0.elapsed().as_nanos().max(1));
        let hz = (u128::from(c1.wrapping_sub(c0)) * 1_000_000_000 / ns) as u64;
        // Round to 1 MHz: the measurement is not more precise than that.
        (hz + 500_000) / 1_000_000 * 1_000_000
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        1_000_000_000
    }
}

/// Monotonic nanoseconds: the counter of `rte_rdtsc` on CPUs the header has no instruction
/// for.
#[no_mangle]
pub extern "C" fn dpdk_shim_clock_cycles() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// `rte_get_tsc_hz`: counter ticks per second (measured on first use; `rte_eal_init` does it).
#[no_mangle]
pub extern "C" fn rte_get_tsc_hz() -> u64 {
    let hz = TSC_HZ.load(Ordering::Relaxed);
    if hz != 0 {
        return hz;
    }
    let hz = measure_hz().max(1);
    TSC_HZ.store(hz, Ordering::Relaxed);
    hz
}

/// `rte_delay_us_block`: waits by spinning.
#[no_mangle]
pub extern "C" fn rte_delay_us_block(us: u32) {
    let end = Instant::now() + Duration::from_micros(u64::from(us));
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// `rte_delay_us_sleep`: waits by sleeping.
#[no_mangle]
pub extern "C" fn rte_delay_us_sleep(us: u32) {
    std::thread::sleep(Duration::from_micros(u64::from(us)));
}

/// `rte_delay_us`: spins for short waits; sleeps for longer ones, where a spin would take the
/// CPU from other lcores and the device models for nothing (DPDK spins unless the
/// application registers its sleeping variant).
#[no_mangle]
pub extern "C" fn rte_delay_us(us: u32) {
    if us <= SPIN_LIMIT_US {
        rte_delay_us_block(us);
    } else {
        rte_delay_us_sleep(us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_runs_at_the_measured_rate() {
        let hz = rte_get_tsc_hz();
        assert!(hz >= 1_000_000, "{hz} Hz");
        let (t0, c0) = (Instant::now(), read_counter());
        rte_delay_us(20_000);
        let (c1, el) = (read_counter(), t0.elapsed());
        assert!(el >= Duration::from_millis(20));
        let secs = (c1 - c0) as f64 / hz as f64;
        // Within 10% of the clock (the wait itself is measured by both).
        assert!(
            (secs - el.as_secs_f64()).abs() < el.as_secs_f64() * 0.1,
            "{secs} s by the counter, {el:?} by the clock"
        );
        let t = Instant::now();
        rte_delay_us_block(50);
        assert!(t.elapsed() >= Duration::from_micros(50));
    }
}
