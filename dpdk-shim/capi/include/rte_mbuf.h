/*
 * dpdk-shim C API: packet buffers (DPDK's rte_mbuf.h names). An mbuf is the driver's own
 * buffer: allocating and freeing go through its pool's lock-free lists, and
 * rte_eth_rx_burst/rte_eth_tx_burst hand the same pointers to and from the driver without
 * copying. Data accessors (rte_pktmbuf_mtod, _append, _prepend, ...) are inline, on the
 * struct's fields.
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_MBUF_H_
#define RTE_MBUF_H_

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_config.h>
#include <rte_mbuf_core.h>
#include <rte_mbuf_ptype.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RTE_MBUF_DEFAULT_DATAROOM 2048
/* 2 KiB of data plus the headroom. */
#define RTE_MBUF_DEFAULT_BUF_SIZE (RTE_MBUF_DEFAULT_DATAROOM + RTE_PKTMBUF_HEADROOM)
#define RTE_MBUF_PRIV_ALIGN 8

/* n buffers of data_room_size bytes (headroom included) in memory every port can reach.
 * priv_size must be 0, cache_size at most RTE_MEMPOOL_CACHE_MAX_SIZE and n / 1.5; socket_id
 * is ignored. NULL with rte_errno set (EINVAL, EEXIST for a name in use, ENOMEM,
 * E_RTE_NO_CONFIG before rte_eal_init). */
struct rte_mempool *rte_pktmbuf_pool_create(const char *name, unsigned int n,
					    unsigned int cache_size, uint16_t priv_size,
					    uint16_t data_room_size, int socket_id);
uint16_t rte_pktmbuf_data_room_size(struct rte_mempool *mp);
static inline uint16_t
rte_pktmbuf_priv_size(struct rte_mempool *mp)
{
	RTE_SET_USED(mp);
	return 0;
}

/* A fresh buffer (data at the headroom, lengths 0, one segment), or NULL if the pool is
 * empty. */
struct rte_mbuf *rte_pktmbuf_alloc(struct rte_mempool *mp);
/* All count buffers, or none: 0 or -ENOENT. */
int rte_pktmbuf_alloc_bulk(struct rte_mempool *pool, struct rte_mbuf **mbufs, unsigned int count);
/* Returns the packet, every segment, to its pool; NULL is ignored. */
void rte_pktmbuf_free(struct rte_mbuf *m);
/* rte_pktmbuf_free on each (NULL entries skipped). */
void rte_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned int count);
/* One segment, returned to its pool (what follows it is not touched). */
void rte_pktmbuf_free_seg(struct rte_mbuf *m);

#define rte_pktmbuf_mtod_offset(m, t, o) \
	((t)(void *)((char *)(m)->buf_addr + (m)->data_off + (o)))
#define rte_pktmbuf_mtod(m, t) rte_pktmbuf_mtod_offset(m, t, 0)
#define rte_pktmbuf_pkt_len(m) ((m)->pkt_len)
#define rte_pktmbuf_data_len(m) ((m)->data_len)

static inline void
rte_mbuf_prefetch_part1(struct rte_mbuf *m)
{
	rte_prefetch0(m);
}

static inline void
rte_mbuf_prefetch_part2(struct rte_mbuf *m)
{
	RTE_SET_USED(m);
}

static inline uint16_t
rte_pktmbuf_headroom(const struct rte_mbuf *m)
{
	return m->data_off;
}

static inline uint16_t
rte_pktmbuf_tailroom(const struct rte_mbuf *m)
{
	return (uint16_t)(m->buf_len - m->data_off - m->data_len);
}

static inline void
rte_pktmbuf_reset_headroom(struct rte_mbuf *m)
{
	m->data_off = m->buf_len < RTE_PKTMBUF_HEADROOM ? m->buf_len : RTE_PKTMBUF_HEADROOM;
}

static inline struct rte_mbuf *
rte_pktmbuf_lastseg(struct rte_mbuf *m)
{
	while (m->next != NULL)
		m = m->next;
	return m;
}

static inline int
rte_pktmbuf_is_contiguous(const struct rte_mbuf *m)
{
	return m->nb_segs == 1;
}

/* Room for len more bytes in front of the data; NULL without that much headroom. */
static inline char *
rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len)
{
	if (unlikely(len > rte_pktmbuf_headroom(m)))
		return NULL;
	m->data_off = (uint16_t)(m->data_off - len);
	m->data_len = (uint16_t)(m->data_len + len);
	m->pkt_len += len;
	return (char *)m->buf_addr + m->data_off;
}

/* len more bytes at the end of the last segment; NULL without that much tailroom. */
static inline char *
rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len)
{
	struct rte_mbuf *last = rte_pktmbuf_lastseg(m);
	char *tail;

	if (unlikely(len > rte_pktmbuf_tailroom(last)))
		return NULL;
	tail = (char *)last->buf_addr + last->data_off + last->data_len;
	last->data_len = (uint16_t)(last->data_len + len);
	m->pkt_len += len;
	return tail;
}

/* Drops len bytes from the front of the first segment; NULL if it has fewer. */
static inline char *
rte_pktmbuf_adj(struct rte_mbuf *m, uint16_t len)
{
	if (unlikely(len > m->data_len))
		return NULL;
	m->data_len = (uint16_t)(m->data_len - len);
	m->data_off = (uint16_t)(m->data_off + len);
	m->pkt_len -= len;
	return (char *)m->buf_addr + m->data_off;
}

/* Drops len bytes from the end of the last segment; -1 if it has fewer. */
static inline int
rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len)
{
	struct rte_mbuf *last = rte_pktmbuf_lastseg(m);

	if (unlikely(len > last->data_len))
		return -1;
	last->data_len = (uint16_t)(last->data_len - len);
	m->pkt_len -= len;
	return 0;
}

/* Appends the chain tail to head; -EOVERFLOW past RTE_MBUF_MAX_NB_SEGS segments. */
static inline int
rte_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail)
{
	if ((uint32_t)head->nb_segs + tail->nb_segs > RTE_MBUF_MAX_NB_SEGS)
		return -EOVERFLOW;
	rte_pktmbuf_lastseg(head)->next = tail;
	head->nb_segs = (uint16_t)(head->nb_segs + tail->nb_segs);
	head->pkt_len += tail->pkt_len;
	tail->pkt_len = tail->data_len;
	return 0;
}

/* Bytes [off, off + len) of the packet: a pointer into the mbuf when they are contiguous,
 * else copied into buf; NULL past the end. */
static inline const void *
rte_pktmbuf_read(const struct rte_mbuf *m, uint32_t off, uint32_t len, void *buf)
{
	const struct rte_mbuf *seg = m;
	uint32_t done = 0;

	if (off + len > m->pkt_len)
		return NULL;
	while (seg != NULL && off >= seg->data_len) {
		off -= seg->data_len;
		seg = seg->next;
	}
	if (seg == NULL)
		return NULL;
	if (off + len <= seg->data_len)
		return (const char *)seg->buf_addr + seg->data_off + off;
	while (seg != NULL && done < len) {
		uint32_t n = seg->data_len - off;

		if (n > len - done)
			n = len - done;
		memcpy((char *)buf + done, (const char *)seg->buf_addr + seg->data_off + off, n);
		done += n;
		off = 0;
		seg = seg->next;
	}
	return done == len ? buf : NULL;
}

#ifdef __cplusplus
}
#endif

#endif /* RTE_MBUF_H_ */
