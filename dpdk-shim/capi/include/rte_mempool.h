/*
 * dpdk-shim C API: mempools (DPDK's rte_mempool.h names). A pool comes from
 * rte_pktmbuf_pool_create; its buffers are the driver's, on lock-free free lists. The public
 * fields below are read-only; the library's own state follows them, so never allocate, copy
 * or embed a struct rte_mempool.
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_MEMPOOL_H_
#define RTE_MEMPOOL_H_

#include <stdint.h>

#include <rte_common.h>
#include <rte_config.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RTE_MEMPOOL_NAMESIZE 32

struct rte_mempool {
	char name[RTE_MEMPOOL_NAMESIZE];
	int socket_id;
	unsigned int size;              /* buffers */
	unsigned int cache_size;
	unsigned int elt_size;          /* header + private area + data room */
	unsigned int private_data_size; /* always 0 */
};

/* Free buffers (in the pool and in caches). */
unsigned int rte_mempool_avail_count(const struct rte_mempool *mp);
/* Buffers out of the pool. */
unsigned int rte_mempool_in_use_count(const struct rte_mempool *mp);
static inline int
rte_mempool_full(const struct rte_mempool *mp)
{
	return rte_mempool_avail_count(mp) == mp->size;
}
static inline int
rte_mempool_empty(const struct rte_mempool *mp)
{
	return rte_mempool_avail_count(mp) == 0;
}
struct rte_mempool *rte_mempool_lookup(const char *name);
/* Releases the handle; the memory goes when the last buffer and queue let go of it. */
void rte_mempool_free(struct rte_mempool *mp);

#ifdef __cplusplus
}
#endif

#endif /* RTE_MEMPOOL_H_ */
