/*
 * dpdk-shim C API: per-lcore variables (DPDK's rte_per_lcore.h names). Every lcore is a
 * thread, so a per-lcore variable is a thread-local one.
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_PER_LCORE_H_
#define RTE_PER_LCORE_H_

#define RTE_DEFINE_PER_LCORE(type, name) __thread __typeof__(type) per_lcore_##name
#define RTE_DECLARE_PER_LCORE(type, name) extern __thread __typeof__(type) per_lcore_##name
#define RTE_PER_LCORE(name) (per_lcore_##name)

#endif /* RTE_PER_LCORE_H_ */
