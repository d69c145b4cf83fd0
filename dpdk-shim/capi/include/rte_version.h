/*
 * dpdk-shim C API: version (DPDK's rte_version.h names). The API level the headers follow is
 * DPDK 22.11's.
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_VERSION_H_
#define RTE_VERSION_H_

#include <rte_config.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RTE_VERSION_NUM(a, b, c, d) ((a) << 24 | (b) << 16 | (c) << 8 | (d))
#define RTE_VERSION RTE_VERSION_NUM(RTE_VER_YEAR, RTE_VER_MONTH, 0, 0)

/* "dpdk-shim <version> (DPDK 22.11 API)". */
const char *rte_version(void);

#ifdef __cplusplus
}
#endif

#endif /* RTE_VERSION_H_ */
