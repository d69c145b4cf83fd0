/*
 * dpdk-shim C API: struct rte_mbuf and the offload flags (DPDK's rte_mbuf_core.h names).
 *
 * The struct is the C view of the driver's mbuf header (ena driver/src/mem/pool.rs,
 * MbufHdr): one cache line, every field at the offset the driver uses (asserted here, and in
 * the library against the driver at compile time). Fields marked private belong to the
 * library. buf_addr, buf_len and the private fields are constant: write only the packet
 * fields (data_off, data_len, pkt_len, nb_segs, next, ol_flags, l2_len, ...), keeping
 * data_off + data_len <= buf_len, as DPDK requires.
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_MBUF_CORE_H_
#define RTE_MBUF_CORE_H_

#include <stddef.h>
#include <stdint.h>

#include <rte_common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* RX flags (DPDK's bit positions). */
#define RTE_MBUF_F_RX_RSS_HASH (1ULL << 1)
#define RTE_MBUF_F_RX_L4_CKSUM_BAD (1ULL << 3)
#define RTE_MBUF_F_RX_IP_CKSUM_BAD (1ULL << 4)
#define RTE_MBUF_F_RX_IP_CKSUM_GOOD (1ULL << 7)
#define RTE_MBUF_F_RX_L4_CKSUM_GOOD (1ULL << 8)
#define RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN 0
#define RTE_MBUF_F_RX_IP_CKSUM_MASK (RTE_MBUF_F_RX_IP_CKSUM_BAD | RTE_MBUF_F_RX_IP_CKSUM_GOOD)
#define RTE_MBUF_F_RX_IP_CKSUM_NONE RTE_MBUF_F_RX_IP_CKSUM_MASK
#define RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN 0
#define RTE_MBUF_F_RX_L4_CKSUM_MASK (RTE_MBUF_F_RX_L4_CKSUM_BAD | RTE_MBUF_F_RX_L4_CKSUM_GOOD)
#define RTE_MBUF_F_RX_L4_CKSUM_NONE RTE_MBUF_F_RX_L4_CKSUM_MASK

/* TX requests (DPDK's bit positions). */
#define RTE_MBUF_F_TX_TCP_SEG (1ULL << 50)
#define RTE_MBUF_F_TX_L4_NO_CKSUM (0ULL << 52)
#define RTE_MBUF_F_TX_TCP_CKSUM (1ULL << 52)
#define RTE_MBUF_F_TX_SCTP_CKSUM (2ULL << 52)
#define RTE_MBUF_F_TX_UDP_CKSUM (3ULL << 52)
#define RTE_MBUF_F_TX_L4_MASK (3ULL << 52)
#define RTE_MBUF_F_TX_IP_CKSUM (1ULL << 54)
#define RTE_MBUF_F_TX_IPV4 (1ULL << 55)
#define RTE_MBUF_F_TX_IPV6 (1ULL << 56)

/* The names before DPDK 21.11. */
#define PKT_RX_RSS_HASH RTE_MBUF_F_RX_RSS_HASH
#define PKT_RX_L4_CKSUM_BAD RTE_MBUF_F_RX_L4_CKSUM_BAD
#define PKT_RX_IP_CKSUM_BAD RTE_MBUF_F_RX_IP_CKSUM_BAD
#define PKT_RX_IP_CKSUM_GOOD RTE_MBUF_F_RX_IP_CKSUM_GOOD
#define PKT_RX_L4_CKSUM_GOOD RTE_MBUF_F_RX_L4_CKSUM_GOOD
#define PKT_TX_TCP_SEG RTE_MBUF_F_TX_TCP_SEG
#define PKT_TX_TCP_CKSUM RTE_MBUF_F_TX_TCP_CKSUM
#define PKT_TX_UDP_CKSUM RTE_MBUF_F_TX_UDP_CKSUM
#define PKT_TX_L4_MASK RTE_MBUF_F_TX_L4_MASK
#define PKT_TX_IP_CKSUM RTE_MBUF_F_TX_IP_CKSUM
#define PKT_TX_IPV4 RTE_MBUF_F_TX_IPV4
#define PKT_TX_IPV6 RTE_MBUF_F_TX_IPV6

#define RTE_MBUF_PORT_INVALID UINT16_MAX
#define RTE_MBUF_MAX_NB_SEGS UINT16_MAX

struct rte_mbuf {
	void *buf_addr;           /* host address of the buffer (constant) */
	uint64_t ol_flags;        /* RTE_MBUF_F_* */
	struct rte_mbuf *next;    /* next segment, or NULL */
	const void *pool_private; /* private */
	uint32_t pkt_len;         /* bytes in all segments (first segment) */
	union {
		uint32_t rss;     /* RSS hash, with RTE_MBUF_F_RX_RSS_HASH */
	} hash;
	uint32_t packet_type;     /* RTE_PTYPE_* */
	uint16_t data_off;        /* where the data starts in the buffer */
	uint16_t data_len;        /* bytes in this segment */
	uint16_t nb_segs;         /* segments (first segment) */
	uint16_t port;            /* RX port, or RTE_MBUF_PORT_INVALID */
	uint16_t queue;           /* RX queue (a shim addition) */
	uint16_t tso_segsz;       /* TSO MSS */
	uint16_t l3_len;          /* for TX offloads */
	uint16_t region_private;  /* private */
	uint16_t buf_len;         /* buffer size, headroom included (constant) */
	uint8_t l2_len;           /* for TX offloads */
	uint8_t l4_len;           /* for TSO */
} __rte_cache_aligned;

/* The driver's layout (asserted against it by the library's build and tests). */
RTE_SHIM_STATIC_ASSERT(sizeof(struct rte_mbuf) == 64, "rte_mbuf is one cache line");
RTE_SHIM_STATIC_ASSERT(offsetof(struct rte_mbuf, buf_addr) == 0, "buf_addr");
RTE_SHIM_STATIC_ASSERT(offsetof(struct rte_mbuf, ol_flags) == 8, "ol_flags");
RTE_SHIM_STATIC_ASSERT(offsetof(struct rte_mbuf, next) == 16, "next");
RTE_SHIM_STATIC_ASSERT(offsetof(struct rte_mbuf, pkt_len) == 32, "pkt_len");
RTE_SHIM_STATIC_ASSERT(offsetof(struct rte_mbuf, hash) == 36, "hash.rss");
RTE_SHIM_STATIC_ASSERT(offsetof(struct rte_mbuf, packet_type) == 40, "packet_type");
RTE_SHIM_STATIC_ASSERT(offsetof(struct rte_mbuf, data_off) == 44, "data_off");
RTE_SHIM_STATIC_ASSERT(offsetof(struct rte_mbuf, data_len) == 46, "data_len");
RTE_SHIM_STATIC_ASSERT(offsetof(struct rte_mbuf, nb_segs) == 48, "nb_segs");
RTE_SHIM_STATIC_ASSERT(offsetof(struct rte_mbuf, port) == 50, "port");
RTE_SHIM_STATIC_ASSERT(offsetof(struct rte_mbuf, queue) == 52, "queue");
RTE_SHIM_STATIC_ASSERT(offsetof(struct rte_mbuf, tso_segsz) == 54, "tso_segsz");
RTE_SHIM_STATIC_ASSERT(offsetof(struct rte_mbuf, l3_len) == 56, "l3_len");
RTE_SHIM_STATIC_ASSERT(offsetof(struct rte_mbuf, buf_len) == 60, "buf_len");
RTE_SHIM_STATIC_ASSERT(offsetof(struct rte_mbuf, l2_len) == 62, "l2_len");
RTE_SHIM_STATIC_ASSERT(offsetof(struct rte_mbuf, l4_len) == 63, "l4_len");

#ifdef __cplusplus
}
#endif

#endif /* RTE_MBUF_CORE_H_ */
