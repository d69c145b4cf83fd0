/*
 * dpdk-shim C API: cache prefetch hints (DPDK's rte_prefetch.h names).
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_PREFETCH_H_
#define RTE_PREFETCH_H_

#ifdef __cplusplus
extern "C" {
#endif

/* Into every cache level. */
static inline void
rte_prefetch0(const volatile void *p)
{
	__builtin_prefetch((const void *)p, 0, 3);
}

/* Into L2 and below. */
static inline void
rte_prefetch1(const volatile void *p)
{
	__builtin_prefetch((const void *)p, 0, 2);
}

/* Into the last level. */
static inline void
rte_prefetch2(const volatile void *p)
{
	__builtin_prefetch((const void *)p, 0, 1);
}

/* Data used once. */
static inline void
rte_prefetch_non_temporal(const volatile void *p)
{
	__builtin_prefetch((const void *)p, 0, 0);
}

/* For writing. */
static inline void
rte_prefetch0_write(const void *p)
{
	__builtin_prefetch(p, 1, 3);
}

#ifdef __cplusplus
}
#endif

#endif /* RTE_PREFETCH_H_ */
