/*
 * dpdk-shim C API: pseudo-random numbers, not for cryptography (DPDK's rte_random.h names).
 * Each thread has its own generator, so lcores never contend.
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_RANDOM_H_
#define RTE_RANDOM_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reseeds every thread's generator (each thread's sequence also depends on its lcore). */
void rte_srand(uint64_t seedval);
uint64_t rte_rand(void);
/* Uniform in [0, upper_bound); 0 for upper_bound 0. */
uint64_t rte_rand_max(uint64_t upper_bound);

#ifdef __cplusplus
}
#endif

#endif /* RTE_RANDOM_H_ */
