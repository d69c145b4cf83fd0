/*
 * dpdk-shim C API: branch hints (DPDK's rte_branch_prediction.h names).
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_BRANCH_PREDICTION_H_
#define RTE_BRANCH_PREDICTION_H_

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#endif
#ifndef unlikely
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

#endif /* RTE_BRANCH_PREDICTION_H_ */
