/*
 * dpdk-shim C API: spin-wait hint (DPDK's rte_pause.h names).
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_PAUSE_H_
#define RTE_PAUSE_H_

static inline void
rte_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

#endif /* RTE_PAUSE_H_ */
