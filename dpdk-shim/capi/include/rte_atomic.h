/*
 * dpdk-shim C API: memory barriers (DPDK's rte_atomic.h names), on the compiler's builtins.
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_ATOMIC_H_
#define RTE_ATOMIC_H_

#include <stdint.h>

#define rte_compiler_barrier() __asm__ volatile("" ::: "memory")
#define rte_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define rte_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#define rte_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define rte_smp_mb() rte_mb()
#define rte_smp_wmb() rte_wmb()
#define rte_smp_rmb() rte_rmb()
#define rte_io_mb() rte_mb()
#define rte_io_wmb() rte_wmb()
#define rte_io_rmb() rte_rmb()
#define rte_atomic_thread_fence(memorder) __atomic_thread_fence(memorder)

#endif /* RTE_ATOMIC_H_ */
