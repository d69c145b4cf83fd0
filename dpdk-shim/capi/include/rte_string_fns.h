/*
 * dpdk-shim C API: string helpers (DPDK's rte_string_fns.h names).
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_STRING_FNS_H_
#define RTE_STRING_FNS_H_

#include <errno.h>
#include <stddef.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Splits string in place at every delim, up to maxtokens pieces; returns how many pieces,
 * or -1 for bad arguments. */
static inline int
rte_strsplit(char *string, int stringlen, char **tokens, int maxtokens, char delim)
{
	int count = 0;
	int start_new = 1;
	int i;

	if (string == NULL || tokens == NULL || maxtokens <= 0) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < stringlen && string[i] != '\0' && count < maxtokens; i++) {
		if (start_new) {
			tokens[count++] = &string[i];
			start_new = 0;
		}
		if (string[i] == delim) {
			string[i] = '\0';
			start_new = 1;
		}
	}
	return count;
}

/* Copies at most size - 1 bytes and terminates; returns strlen(src) (truncated if >= size). */
static inline size_t
rte_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size != 0) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

/* Appends src; returns the length the result would have had. */
static inline size_t
rte_strlcat(char *dst, const char *src, size_t size)
{
	size_t l = 0;

	while (l < size && dst[l] != '\0')
		l++;

	if (l < size)
		return l + rte_strlcpy(&dst[l], src, size - l);
	return l + strlen(src);
}

/* Copies like strncpy but always terminates; -E2BIG when src did not fit. */
static inline long
rte_strscpy(char *dst, const char *src, size_t dsize)
{
	size_t n;

	if (dsize == 0)
		return -E2BIG;
	for (n = 0; n < dsize; n++) {
		dst[n] = src[n];
		if (src[n] == '\0')
			return (long)n;
	}
	dst[dsize - 1] = '\0';
	return -E2BIG;
}

/* glibc has strlcpy from 2.38 on; before that, DPDK programs get these. */
#if defined(__GLIBC__) && !(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 38))
#ifndef strlcpy
#define strlcpy(dst, src, size) rte_strlcpy(dst, src, size)
#endif
#ifndef strlcat
#define strlcat(dst, src, size) rte_strlcat(dst, src, size)
#endif
#endif

#ifdef __cplusplus
}
#endif

#endif /* RTE_STRING_FNS_H_ */
