/*
 * dpdk-shim C API: logical cores (DPDK's rte_lcore.h names). An lcore's id is the number of
 * the CPU its thread is pinned to; the main lcore is the thread that called rte_eal_init.
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_LCORE_H_
#define RTE_LCORE_H_

#include <stdint.h>

#include <rte_config.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_per_lcore.h>

#ifdef __cplusplus
extern "C" {
#endif

/* rte_lcore_id() on a thread that is not an lcore. */
#define LCORE_ID_ANY UINT32_MAX

unsigned int rte_lcore_id(void);
unsigned int rte_get_main_lcore(void);
unsigned int rte_lcore_count(void);
/* Position of lcore_id among the lcores (from 0); -1 if it is not one. A negative lcore_id
 * means the calling lcore. */
int rte_lcore_index(int lcore_id);
unsigned int rte_socket_id(void);
unsigned int rte_socket_count(void);
unsigned int rte_lcore_to_socket_id(unsigned int lcore_id);
int rte_lcore_is_enabled(unsigned int lcore_id);
/* The next enabled lcore after i (RTE_MAX_LCORE when there is none); skip_main leaves out
 * the main lcore, wrap starts again from 0. */
unsigned int rte_get_next_lcore(unsigned int i, int skip_main, int wrap);

#define rte_get_master_lcore rte_get_main_lcore

#define RTE_LCORE_FOREACH(i) \
	for ((i) = rte_get_next_lcore(-1, 0, 0); (i) < RTE_MAX_LCORE; \
	     (i) = rte_get_next_lcore((i), 0, 0))
#define RTE_LCORE_FOREACH_WORKER(i) \
	for ((i) = rte_get_next_lcore(-1, 1, 0); (i) < RTE_MAX_LCORE; \
	     (i) = rte_get_next_lcore((i), 1, 0))
#define RTE_LCORE_FOREACH_SLAVE(i) RTE_LCORE_FOREACH_WORKER(i)

#ifdef __cplusplus
}
#endif

#endif /* RTE_LCORE_H_ */
