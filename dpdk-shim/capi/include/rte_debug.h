/*
 * dpdk-shim C API: fatal errors — rte_exit, rte_panic, RTE_VERIFY (DPDK's rte_debug.h names).
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_DEBUG_H_
#define RTE_DEBUG_H_

#include <stdarg.h>
#include <stdio.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_log.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Logs "Error - exiting with code", then msg, releases the EAL (rte_eal_cleanup) and exits. */
__rte_noreturn void dpdk_shim_exit(int exit_code, const char *msg);
/* Logs "PANIC in func():", then msg, and aborts. */
__rte_noreturn void dpdk_shim_panic(const char *func, const char *msg);

static inline __rte_noreturn __rte_format_printf(2, 3) void
rte_exit(int exit_code, const char *format, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, format);
	vsnprintf(msg, sizeof(msg), format, ap);
	va_end(ap);
	dpdk_shim_exit(exit_code, msg);
}

static inline __rte_noreturn __rte_format_printf(2, 3) void
dpdk_shim_panic_fmt(const char *func, const char *format, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, format);
	vsnprintf(msg, sizeof(msg), format, ap);
	va_end(ap);
	dpdk_shim_panic(func, msg);
}

#define rte_panic(...) dpdk_shim_panic_fmt(__func__, __VA_ARGS__)

#define RTE_VERIFY(exp) \
	do { \
		if (unlikely(!(exp))) \
			rte_panic("line %d\tassert \"%s\" failed\n", __LINE__, #exp); \
	} while (0)

#ifdef RTE_ENABLE_ASSERT
#define RTE_ASSERT(exp) RTE_VERIFY(exp)
#else
#define RTE_ASSERT(exp) do { } while (0)
#endif

static inline void
rte_dump_stack(void)
{
}

#ifdef __cplusplus
}
#endif

#endif /* RTE_DEBUG_H_ */
