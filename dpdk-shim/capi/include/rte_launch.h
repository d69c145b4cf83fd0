/*
 * dpdk-shim C API: running functions on worker lcores (DPDK's rte_launch.h names).
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_LAUNCH_H_
#define RTE_LAUNCH_H_

#ifdef __cplusplus
extern "C" {
#endif

enum rte_lcore_state_t {
	WAIT,    /* idle, waiting for a function */
	RUNNING, /* running a launched function */
};

typedef int(lcore_function_t)(void *);

enum rte_rmt_call_main_t {
	SKIP_MAIN = 0, /* workers only */
	CALL_MAIN,     /* the main lcore runs the function too, before the call returns */
};
/* The names before DPDK 20.11. */
#define SKIP_MASTER SKIP_MAIN
#define CALL_MASTER CALL_MAIN

/* 0, -EBUSY when the worker is running something, -EINVAL for the main lcore or a
 * non-lcore. */
int rte_eal_remote_launch(lcore_function_t *f, void *arg, unsigned int worker_id);
/* Launches f(arg) on every worker (and runs it on the main lcore with CALL_MAIN); 0, or
 * -EBUSY if a worker is not idle (then nothing is launched). */
int rte_eal_mp_remote_launch(lcore_function_t *f, void *arg, enum rte_rmt_call_main_t call_main);
enum rte_lcore_state_t rte_eal_get_lcore_state(unsigned int worker_id);
/* The launched function's return value (0 if the lcore was idle). */
int rte_eal_wait_lcore(unsigned int worker_id);
void rte_eal_mp_wait_lcore(void);

#ifdef __cplusplus
}
#endif

#endif /* RTE_LAUNCH_H_ */
