/*
 * dpdk-shim C API: compiler helpers and small arithmetic (DPDK's rte_common.h names).
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_COMMON_H_
#define RTE_COMMON_H_

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_config.h>

#ifdef __cplusplus
extern "C" {
#endif

#define __rte_aligned(a) __attribute__((__aligned__(a)))
#define __rte_cache_aligned __rte_aligned(RTE_CACHE_LINE_SIZE)
#define __rte_cache_min_aligned __rte_aligned(RTE_CACHE_LINE_SIZE)
#define __rte_packed __attribute__((__packed__))
#define __rte_unused __attribute__((__unused__))
#define __rte_used __attribute__((__used__))
#define __rte_noreturn __attribute__((__noreturn__))
#define __rte_always_inline inline __attribute__((__always_inline__))
#define __rte_noinline __attribute__((__noinline__))
#define __rte_hot __attribute__((__hot__))
#define __rte_cold __attribute__((__cold__))
#define __rte_weak __attribute__((__weak__))
#define __rte_deprecated __attribute__((__deprecated__))
#define __rte_experimental
#define __rte_internal
#define __rte_format_printf(format_index, first_arg) \
	__attribute__((__format__(__printf__, format_index, first_arg)))
#define __rte_warn_unused_result __attribute__((__warn_unused_result__))
#define __rte_restrict __restrict
#define RTE_STD_C11 __extension__

/* Static assertions in these headers, for C and C++. */
#ifdef __cplusplus
#define RTE_SHIM_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define RTE_SHIM_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

#define RTE_SET_USED(x) ((void)(x))
#define _RTE_STR(x) #x
#define RTE_STR(x) _RTE_STR(x)
#define RTE_DIM(a) (sizeof(a) / sizeof((a)[0]))
#define RTE_BUILD_BUG_ON(condition) ((void)sizeof(char[1 - 2 * !!(condition)]))

#define RTE_MIN(a, b) \
	__extension__({ __typeof__(a) _rte_a = (a); __typeof__(b) _rte_b = (b); \
		_rte_a < _rte_b ? _rte_a : _rte_b; })
#define RTE_MAX(a, b) \
	__extension__({ __typeof__(a) _rte_a = (a); __typeof__(b) _rte_b = (b); \
		_rte_a > _rte_b ? _rte_a : _rte_b; })
#define RTE_MIN_T(a, b, t) ((t)(a) < (t)(b) ? (t)(a) : (t)(b))
#define RTE_MAX_T(a, b, t) ((t)(a) > (t)(b) ? (t)(a) : (t)(b))

#define RTE_PTR_ADD(ptr, x) ((void *)((uintptr_t)(ptr) + (x)))
#define RTE_PTR_SUB(ptr, x) ((void *)((uintptr_t)(ptr) - (x)))
#define RTE_PTR_DIFF(ptr1, ptr2) ((uintptr_t)(ptr1) - (uintptr_t)(ptr2))

/* Rounding to a power-of-two alignment. */
#define RTE_ALIGN_FLOOR(val, align) \
	((__typeof__(val))((val) & (~((__typeof__(val))((align) - 1)))))
#define RTE_ALIGN_CEIL(val, align) \
	RTE_ALIGN_FLOOR(((val) + ((__typeof__(val))(align) - 1)), align)
#define RTE_ALIGN(val, align) RTE_ALIGN_CEIL(val, align)
#define RTE_ALIGN_MUL_CEIL(v, mul) \
	((((v) + (__typeof__(v))(mul) - 1) / ((__typeof__(v))(mul))) * (__typeof__(v))(mul))
#define RTE_CACHE_LINE_MASK (RTE_CACHE_LINE_SIZE - 1)
#define RTE_CACHE_LINE_ROUNDUP(size) RTE_ALIGN_CEIL(size, RTE_CACHE_LINE_SIZE)
#define RTE_CACHE_LINE_MIN_SIZE 64

/* Runs func before main(), like DPDK's constructors. */
#define RTE_INIT(func) static void __attribute__((__constructor__, __used__)) func(void)

/* Device (IO) addresses. */
typedef uint64_t rte_iova_t;
#define RTE_BAD_IOVA ((rte_iova_t)-1)

static inline int
rte_is_power_of_2(uint32_t n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

/* The smallest power of two >= x (0 for 0 and for x above 2^31). */
static inline uint32_t
rte_align32pow2(uint32_t x)
{
	if (x <= 1)
		return x;
	if (x > (UINT32_C(1) << 31))
		return 0;
	return UINT32_C(1) << (32 - __builtin_clz(x - 1));
}

static inline uint64_t
rte_align64pow2(uint64_t x)
{
	if (x <= 1)
		return x;
	if (x > (UINT64_C(1) << 63))
		return 0;
	return UINT64_C(1) << (64 - __builtin_clzll(x - 1));
}

static inline uint32_t
rte_log2_u32(uint32_t v)
{
	return v == 0 ? 0 : 31 - (uint32_t)__builtin_clz(rte_align32pow2(v));
}

static inline uint32_t
rte_bsf32(uint32_t v)
{
	return (uint32_t)__builtin_ctz(v);
}

#ifdef __cplusplus
}
#endif

#endif /* RTE_COMMON_H_ */
