/*
 * dpdk-shim C API: logging (DPDK's rte_log.h names). Messages at or above the global level
 * (RTE_LOG_INFO unless --log-level says otherwise) go to stderr.
 *
 * Formatting happens here, in the application, so that the library takes a finished string:
 * rte_log and rte_vlog are inline functions around dpdk_shim_log_write.
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_LOG_H_
#define RTE_LOG_H_

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <rte_common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Log types. */
#define RTE_LOGTYPE_EAL 0
#define RTE_LOGTYPE_MALLOC 1
#define RTE_LOGTYPE_RING 2
#define RTE_LOGTYPE_MEMPOOL 3
#define RTE_LOGTYPE_TIMER 4
#define RTE_LOGTYPE_PMD 5
#define RTE_LOGTYPE_HASH 6
#define RTE_LOGTYPE_LPM 7
#define RTE_LOGTYPE_KNI 8
#define RTE_LOGTYPE_ACL 9
#define RTE_LOGTYPE_POWER 10
#define RTE_LOGTYPE_METER 11
#define RTE_LOGTYPE_SCHED 12
#define RTE_LOGTYPE_PORT 13
#define RTE_LOGTYPE_TABLE 14
#define RTE_LOGTYPE_PIPELINE 15
#define RTE_LOGTYPE_MBUF 16
#define RTE_LOGTYPE_CRYPTODEV 17
#define RTE_LOGTYPE_EFD 18
#define RTE_LOGTYPE_EVENTDEV 19
#define RTE_LOGTYPE_GSO 20
#define RTE_LOGTYPE_USER1 24
#define RTE_LOGTYPE_USER2 25
#define RTE_LOGTYPE_USER3 26
#define RTE_LOGTYPE_USER4 27
#define RTE_LOGTYPE_USER5 28
#define RTE_LOGTYPE_USER6 29
#define RTE_LOGTYPE_USER7 30
#define RTE_LOGTYPE_USER8 31
#define RTE_LOGTYPE_FIRST_EXT_ID 32

/* Levels: lower is more severe. */
#define RTE_LOG_EMERG 1U
#define RTE_LOG_ALERT 2U
#define RTE_LOG_CRIT 3U
#define RTE_LOG_ERR 4U
#define RTE_LOG_WARNING 5U
#define RTE_LOG_NOTICE 6U
#define RTE_LOG_INFO 7U
#define RTE_LOG_DEBUG 8U
#define RTE_LOG_MAX RTE_LOG_DEBUG

void rte_log_set_global_level(uint32_t level);
uint32_t rte_log_get_global_level(void);
int rte_log_set_level(uint32_t logtype, uint32_t level);
int rte_log_get_level(uint32_t logtype);
/* Whether a message of this type and level would be written (1) or not (0). */
int rte_log_can_log(uint32_t logtype, uint32_t level);
/* A new log type id for name (the same id for the same name). */
int rte_log_register(const char *name);
int rte_log_register_type_and_pick_level(const char *name, uint32_t level_def);

/* Writes one finished message (len bytes) at level; returns 0, or -1 if filtered out. */
int dpdk_shim_log_write(uint32_t level, uint32_t logtype, const char *msg, size_t len);

static inline __rte_format_printf(3, 0) int
rte_vlog(uint32_t level, uint32_t logtype, const char *format, va_list ap)
{
	char small[512];
	va_list again;
	int n, ret;
	char *big;

	if (!rte_log_can_log(logtype, level))
		return 0;
	va_copy(again, ap);
	n = vsnprintf(small, sizeof(small), format, ap);
	if (n < 0) {
		va_end(again);
		return -1;
	}
	if ((size_t)n < sizeof(small)) {
		va_end(again);
		return dpdk_shim_log_write(level, logtype, small, (size_t)n);
	}
	big = (char *)malloc((size_t)n + 1);
	if (big == NULL) {
		va_end(again);
		return dpdk_shim_log_write(level, logtype, small, sizeof(small) - 1);
	}
	vsnprintf(big, (size_t)n + 1, format, again);
	va_end(again);
	ret = dpdk_shim_log_write(level, logtype, big, (size_t)n);
	free(big);
	return ret;
}

static inline __rte_format_printf(3, 4) int
rte_log(uint32_t level, uint32_t logtype, const char *format, ...)
{
	va_list ap;
	int ret;

	va_start(ap, format);
	ret = rte_vlog(level, logtype, format, ap);
	va_end(ap);
	return ret;
}

/* RTE_LOG(INFO, EAL, "...") logs "EAL: ..." at RTE_LOG_INFO. */
#define RTE_LOG(l, t, ...) rte_log(RTE_LOG_##l, RTE_LOGTYPE_##t, #t ": " __VA_ARGS__)
/* Data-path logging, compiled out above RTE_LOG_DP_LEVEL. */
#define RTE_LOG_DP(l, t, ...) \
	((void)((RTE_LOG_##l <= RTE_LOG_DP_LEVEL) ? RTE_LOG(l, t, __VA_ARGS__) : 0))

/* RTE_LOG_LINE: as RTE_LOG, with the newline added. */
static inline __rte_format_printf(3, 4) int
dpdk_shim_log_line(uint32_t level, uint32_t logtype, const char *format, ...)
{
	va_list ap;
	int ret;

	va_start(ap, format);
	ret = rte_vlog(level, logtype, format, ap);
	va_end(ap);
	if (ret == 0 && rte_log_can_log(logtype, level))
		dpdk_shim_log_write(level, logtype, "\n", 1);
	return ret;
}
#define RTE_LOG_LINE(l, t, ...) \
	dpdk_shim_log_line(RTE_LOG_##l, RTE_LOGTYPE_##t, #t ": " __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif /* RTE_LOG_H_ */
