/*
 * dpdk-shim C API: memory constants (DPDK's rte_memory.h names). Packet memory is managed by
 * the mbuf pools; there are no memzones.
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_MEMORY_H_
#define RTE_MEMORY_H_

#include <stddef.h>
#include <stdint.h>

#include <rte_common.h>

/* Any NUMA socket (the shim has one: 0). */
#define SOCKET_ID_ANY -1

#define RTE_PGSIZE_4K (1ULL << 12)
#define RTE_PGSIZE_2M (1ULL << 21)
#define RTE_PGSIZE_1G (1ULL << 30)

#endif /* RTE_MEMORY_H_ */
