/*
 * dpdk-shim C API: the Environment Abstraction Layer's entry points (DPDK's rte_eal.h names).
 *
 * rte_eal_init parses DPDK's EAL arguments (-l/-c lcores, -n, -a PCI functions, --vdev
 * net_ena_sim<N>,wire=... device models, --file-prefix, --huge-dir, --main-lcore, --log-level,
 * then "--"), pins the calling thread to the main lcore's CPU, starts one pinned thread per
 * worker lcore, opens every device as ports 0, 1, ... and returns how many arguments it used. As in DPDK, argv[ret] then holds the program name,
 * so that after "argc -= ret; argv += ret;" the application parses its own options from
 * argv[1].
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_EAL_H_
#define RTE_EAL_H_

#include <stdint.h>

#include <rte_common.h>
#include <rte_config.h>
#include <rte_debug.h>
#include <rte_errno.h>
#include <rte_per_lcore.h>

#ifdef __cplusplus
extern "C" {
#endif

enum rte_proc_type_t {
	RTE_PROC_AUTO = -1,
	RTE_PROC_PRIMARY = 0,
	RTE_PROC_SECONDARY,
	RTE_PROC_INVALID
};

/* Returns the number of arguments used, or -1 with rte_errno set (EALREADY when the EAL is
 * up already, EINVAL for bad arguments, ENODEV when a device cannot be opened). */
int rte_eal_init(int argc, char **argv);

/* Stops the lcore threads, closes the ports and stops the device models. Every lcore must
 * be idle (rte_eal_mp_wait_lcore first): -1 with rte_errno EBUSY otherwise, and EALREADY when
 * there is nothing to release. */
int rte_eal_cleanup(void);

/* Always the primary: there are no secondary processes. */
enum rte_proc_type_t rte_eal_process_type(void);
int rte_eal_has_hugepages(void);
int rte_eal_has_pci(void);

#ifdef __cplusplus
}
#endif

#include <rte_lcore.h>

#endif /* RTE_EAL_H_ */
