/*
 * dpdk-shim C API: aligned heap memory (DPDK's rte_malloc.h names). Allocations come from the
 * C heap (posix_memalign); the type and socket arguments are accepted and ignored. Memory
 * from these functions is freed with rte_free (and not with free).
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_MALLOC_H_
#define RTE_MALLOC_H_

#include <stddef.h>

#include <rte_memory.h>

#ifdef __cplusplus
extern "C" {
#endif

/* align: a power of two, or 0 for a cache line. NULL for size 0, a bad alignment, or no
 * memory. */
void *rte_malloc(const char *type, size_t size, unsigned int align);
void *rte_zmalloc(const char *type, size_t size, unsigned int align);
void *rte_calloc(const char *type, size_t num, size_t size, unsigned int align);
void *rte_realloc(void *ptr, size_t size, unsigned int align);
void *rte_malloc_socket(const char *type, size_t size, unsigned int align, int socket);
void *rte_zmalloc_socket(const char *type, size_t size, unsigned int align, int socket);
void *rte_calloc_socket(const char *type, size_t num, size_t size, unsigned int align,
			int socket);
void rte_free(void *ptr);

#ifdef __cplusplus
}
#endif

#endif /* RTE_MALLOC_H_ */
