/*
 * dpdk-shim C API: the cycle counter and delays (DPDK's rte_cycles.h names). rte_rdtsc reads
 * the CPU's counter inline (x86 TSC, Arm generic timer); rte_get_tsc_hz gives its rate,
 * measured once by the library.
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_CYCLES_H_
#define RTE_CYCLES_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MS_PER_S 1000
#define US_PER_S 1000000
#define NS_PER_S 1000000000

/* The counter rte_rdtsc reads where the header knows no CPU counter: nanoseconds. */
uint64_t dpdk_shim_clock_cycles(void);

static inline uint64_t
rte_rdtsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
#elif defined(__aarch64__)
	uint64_t t;

	__asm__ volatile("mrs %0, cntvct_el0" : "=r"(t));
	return t;
#else
	return dpdk_shim_clock_cycles();
#endif
}

/* The counter after every earlier memory access has completed. */
static inline uint64_t
rte_rdtsc_precise(void)
{
	__sync_synchronize();
	return rte_rdtsc();
}

/* Counter ticks per second. */
uint64_t rte_get_tsc_hz(void);

static inline uint64_t
rte_get_tsc_cycles(void)
{
	return rte_rdtsc();
}

static inline uint64_t
rte_get_timer_cycles(void)
{
	return rte_rdtsc();
}

static inline uint64_t
rte_get_timer_hz(void)
{
	return rte_get_tsc_hz();
}

/* Waits at least us microseconds: spins for short waits, sleeps for long ones so that the
 * CPU stays available to other lcores and the device models. */
void rte_delay_us(unsigned int us);
/* Waits by spinning. */
void rte_delay_us_block(unsigned int us);
/* Waits by sleeping. */
void rte_delay_us_sleep(unsigned int us);

static inline void
rte_delay_ms(unsigned int ms)
{
	rte_delay_us(ms * 1000);
}

#ifdef __cplusplus
}
#endif

#endif /* RTE_CYCLES_H_ */
