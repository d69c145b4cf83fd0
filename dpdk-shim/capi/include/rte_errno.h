/*
 * dpdk-shim C API: rte_errno, the per-lcore (per-thread) error code the library sets when a
 * call fails, and rte_strerror (DPDK's rte_errno.h names).
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_ERRNO_H_
#define RTE_ERRNO_H_

#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The calling thread's error slot (the shim keeps it thread-local, as DPDK does per lcore). */
int *dpdk_shim_errno_location(void);
#define rte_errno (*dpdk_shim_errno_location())

/* Text for an errno value or one of the codes below; the text lives until the next call
 * on the same thread. */
const char *rte_strerror(int errnum);

#ifndef __ELASTERROR
#define __ELASTERROR 1000
#endif

enum {
	RTE_MIN_ERRNO = __ELASTERROR,
	E_RTE_SECONDARY, /* the call is not allowed in a secondary process */
	E_RTE_NO_CONFIG, /* the EAL is not initialised */
	RTE_MAX_ERRNO
};

#ifdef __cplusplus
}
#endif

#endif /* RTE_ERRNO_H_ */
