/*
 * dpdk-shim C API: Ethernet ports (DPDK's rte_ethdev.h names), over the ena driver's ports.
 *
 * Life cycle as in DPDK: rte_eth_dev_configure, rte_eth_rx_queue_setup/_tx_queue_setup,
 * rte_eth_dev_start, then rte_eth_rx_burst/rte_eth_tx_burst from the lcores, then
 * rte_eth_dev_stop and rte_eth_dev_close. Control functions return 0 or a negative errno
 * and log why on failure.
 *
 * Data path: rte_eth_rx_burst and rte_eth_tx_burst are inline calls of one library function
 * each, which finds the driver's queue in a fixed table (filled by rte_eth_dev_start) and runs
 * its burst on the caller's mbuf array in place: no lock, no allocation, no copy. As in DPDK,
 * a queue may be polled by one lcore at a time, and not while its port is being configured,
 * started, stopped or closed.
 *
 * ENA specifics, as with DPDK's ENA PMD: no promiscuous or all-multicast mode
 * (rte_eth_promiscuous_enable returns -ENOTSUP), no link speed (RTE_ETH_SPEED_NUM_NONE),
 * ring sizes are powers of two.
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_ETHDEV_H_
#define RTE_ETHDEV_H_

#include <stddef.h>
#include <stdint.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_config.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RTE_ETH_NAME_MAX_LEN 64

/* Link. */
#define RTE_ETH_SPEED_NUM_NONE 0
#define RTE_ETH_SPEED_NUM_10M 10
#define RTE_ETH_SPEED_NUM_100M 100
#define RTE_ETH_SPEED_NUM_1G 1000
#define RTE_ETH_SPEED_NUM_2_5G 2500
#define RTE_ETH_SPEED_NUM_5G 5000
#define RTE_ETH_SPEED_NUM_10G 10000
#define RTE_ETH_SPEED_NUM_20G 20000
#define RTE_ETH_SPEED_NUM_25G 25000
#define RTE_ETH_SPEED_NUM_40G 40000
#define RTE_ETH_SPEED_NUM_50G 50000
#define RTE_ETH_SPEED_NUM_56G 56000
#define RTE_ETH_SPEED_NUM_100G 100000
#define RTE_ETH_SPEED_NUM_200G 200000
#define RTE_ETH_SPEED_NUM_400G 400000
#define RTE_ETH_SPEED_NUM_UNKNOWN UINT32_MAX

#define RTE_ETH_LINK_SPEED_AUTONEG 0
#define RTE_ETH_LINK_SPEED_FIXED (1U << 0)
#define RTE_ETH_LINK_SPEED_1G (1U << 5)
#define RTE_ETH_LINK_SPEED_2_5G (1U << 6)
#define RTE_ETH_LINK_SPEED_5G (1U << 7)
#define RTE_ETH_LINK_SPEED_10G (1U << 8)
#define RTE_ETH_LINK_SPEED_25G (1U << 10)
#define RTE_ETH_LINK_SPEED_40G (1U << 11)
#define RTE_ETH_LINK_SPEED_50G (1U << 12)
#define RTE_ETH_LINK_SPEED_100G (1U << 14)
#define RTE_ETH_LINK_SPEED_200G (1U << 15)
#define RTE_ETH_LINK_SPEED_400G (1U << 16)

#define RTE_ETH_LINK_HALF_DUPLEX 0
#define RTE_ETH_LINK_FULL_DUPLEX 1
#define RTE_ETH_LINK_DOWN 0
#define RTE_ETH_LINK_UP 1
#define RTE_ETH_LINK_FIXED 0
#define RTE_ETH_LINK_AUTONEG 1
#define RTE_ETH_LINK_MAX_STR_LEN 40

struct __rte_aligned(8) rte_eth_link {
	__extension__ union {
		uint64_t val64;
		__extension__ struct {
			uint32_t link_speed;        /* RTE_ETH_SPEED_NUM_* */
			uint16_t link_duplex : 1;   /* RTE_ETH_LINK_[HALF|FULL]_DUPLEX */
			uint16_t link_autoneg : 1;  /* RTE_ETH_LINK_[AUTONEG|FIXED] */
			uint16_t link_status : 1;   /* RTE_ETH_LINK_[DOWN|UP] */
		};
	};
};

/* Multi-queue modes. */
#define RTE_ETH_MQ_RX_RSS_FLAG (1U << 0)
#define RTE_ETH_MQ_RX_DCB_FLAG (1U << 1)
#define RTE_ETH_MQ_RX_VMDQ_FLAG (1U << 2)

enum rte_eth_rx_mq_mode {
	RTE_ETH_MQ_RX_NONE = 0,
	RTE_ETH_MQ_RX_RSS = RTE_ETH_MQ_RX_RSS_FLAG,
	RTE_ETH_MQ_RX_DCB = RTE_ETH_MQ_RX_DCB_FLAG,
	RTE_ETH_MQ_RX_DCB_RSS = RTE_ETH_MQ_RX_RSS_FLAG | RTE_ETH_MQ_RX_DCB_FLAG,
	RTE_ETH_MQ_RX_VMDQ_ONLY = RTE_ETH_MQ_RX_VMDQ_FLAG,
	RTE_ETH_MQ_RX_VMDQ_RSS = RTE_ETH_MQ_RX_RSS_FLAG | RTE_ETH_MQ_RX_VMDQ_FLAG,
	RTE_ETH_MQ_RX_VMDQ_DCB = RTE_ETH_MQ_RX_VMDQ_FLAG | RTE_ETH_MQ_RX_DCB_FLAG,
	RTE_ETH_MQ_RX_VMDQ_DCB_RSS =
		RTE_ETH_MQ_RX_RSS_FLAG | RTE_ETH_MQ_RX_DCB_FLAG | RTE_ETH_MQ_RX_VMDQ_FLAG,
};

enum rte_eth_tx_mq_mode {
	RTE_ETH_MQ_TX_NONE = 0,
	RTE_ETH_MQ_TX_DCB,
	RTE_ETH_MQ_TX_VMDQ_DCB,
	RTE_ETH_MQ_TX_VMDQ_ONLY,
};

/* RX offloads. */
#define RTE_ETH_RX_OFFLOAD_VLAN_STRIP (1ULL << 0)
#define RTE_ETH_RX_OFFLOAD_IPV4_CKSUM (1ULL << 1)
#define RTE_ETH_RX_OFFLOAD_UDP_CKSUM (1ULL << 2)
#define RTE_ETH_RX_OFFLOAD_TCP_CKSUM (1ULL << 3)
#define RTE_ETH_RX_OFFLOAD_TCP_LRO (1ULL << 4)
#define RTE_ETH_RX_OFFLOAD_QINQ_STRIP (1ULL << 5)
#define RTE_ETH_RX_OFFLOAD_OUTER_IPV4_CKSUM (1ULL << 6)
#define RTE_ETH_RX_OFFLOAD_VLAN_FILTER (1ULL << 9)
#define RTE_ETH_RX_OFFLOAD_VLAN_EXTEND (1ULL << 10)
#define RTE_ETH_RX_OFFLOAD_SCATTER (1ULL << 13)
#define RTE_ETH_RX_OFFLOAD_TIMESTAMP (1ULL << 14)
#define RTE_ETH_RX_OFFLOAD_KEEP_CRC (1ULL << 16)
#define RTE_ETH_RX_OFFLOAD_SCTP_CKSUM (1ULL << 17)
#define RTE_ETH_RX_OFFLOAD_OUTER_UDP_CKSUM (1ULL << 18)
#define RTE_ETH_RX_OFFLOAD_RSS_HASH (1ULL << 19)
#define RTE_ETH_RX_OFFLOAD_CHECKSUM \
	(RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM | \
	 RTE_ETH_RX_OFFLOAD_TCP_CKSUM)

/* TX offloads. */
#define RTE_ETH_TX_OFFLOAD_VLAN_INSERT (1ULL << 0)
#define RTE_ETH_TX_OFFLOAD_IPV4_CKSUM (1ULL << 1)
#define RTE_ETH_TX_OFFLOAD_UDP_CKSUM (1ULL << 2)
#define RTE_ETH_TX_OFFLOAD_TCP_CKSUM (1ULL << 3)
#define RTE_ETH_TX_OFFLOAD_SCTP_CKSUM (1ULL << 4)
#define RTE_ETH_TX_OFFLOAD_TCP_TSO (1ULL << 5)
#define RTE_ETH_TX_OFFLOAD_UDP_TSO (1ULL << 6)
#define RTE_ETH_TX_OFFLOAD_OUTER_IPV4_CKSUM (1ULL << 7)
#define RTE_ETH_TX_OFFLOAD_QINQ_INSERT (1ULL << 8)
#define RTE_ETH_TX_OFFLOAD_MT_LOCKFREE (1ULL << 14)
#define RTE_ETH_TX_OFFLOAD_MULTI_SEGS (1ULL << 15)
/* Every mbuf sent on a queue comes from one pool and is not shared (ENA offers it). */
#define RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE (1ULL << 16)

/* RSS hash types. */
#define RTE_ETH_RSS_IPV4 (1ULL << 2)
#define RTE_ETH_RSS_FRAG_IPV4 (1ULL << 3)
#define RTE_ETH_RSS_NONFRAG_IPV4_TCP (1ULL << 4)
#define RTE_ETH_RSS_NONFRAG_IPV4_UDP (1ULL << 5)
#define RTE_ETH_RSS_NONFRAG_IPV4_SCTP (1ULL << 6)
#define RTE_ETH_RSS_NONFRAG_IPV4_OTHER (1ULL << 7)
#define RTE_ETH_RSS_IPV6 (1ULL << 8)
#define RTE_ETH_RSS_FRAG_IPV6 (1ULL << 9)
#define RTE_ETH_RSS_NONFRAG_IPV6_TCP (1ULL << 10)
#define RTE_ETH_RSS_NONFRAG_IPV6_UDP (1ULL << 11)
#define RTE_ETH_RSS_NONFRAG_IPV6_SCTP (1ULL << 12)
#define RTE_ETH_RSS_NONFRAG_IPV6_OTHER (1ULL << 13)
#define RTE_ETH_RSS_L2_PAYLOAD (1ULL << 14)
#define RTE_ETH_RSS_IPV6_EX (1ULL << 15)
#define RTE_ETH_RSS_IPV6_TCP_EX (1ULL << 16)
#define RTE_ETH_RSS_IPV6_UDP_EX (1ULL << 17)
#define RTE_ETH_RSS_IP \
	(RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_OTHER | \
	 RTE_ETH_RSS_IPV6 | RTE_ETH_RSS_FRAG_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_OTHER | \
	 RTE_ETH_RSS_IPV6_EX)
#define RTE_ETH_RSS_UDP \
	(RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_NONFRAG_IPV6_UDP | RTE_ETH_RSS_IPV6_UDP_EX)
#define RTE_ETH_RSS_TCP \
	(RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV6_TCP | RTE_ETH_RSS_IPV6_TCP_EX)

enum rte_eth_hash_function {
	RTE_ETH_HASH_FUNCTION_DEFAULT = 0,
	RTE_ETH_HASH_FUNCTION_TOEPLITZ,
	RTE_ETH_HASH_FUNCTION_SIMPLE_XOR,
	RTE_ETH_HASH_FUNCTION_SYMMETRIC_TOEPLITZ,
	RTE_ETH_HASH_FUNCTION_SYMMETRIC_TOEPLITZ_SORT,
	RTE_ETH_HASH_FUNCTION_MAX,
};

struct rte_eth_rss_conf {
	uint8_t *rss_key;     /* NULL: the driver's key */
	uint8_t rss_key_len;  /* 40 for ENA */
	uint64_t rss_hf;      /* RTE_ETH_RSS_* */
	enum rte_eth_hash_function algorithm;
};

struct rte_eth_rxmode {
	enum rte_eth_rx_mq_mode mq_mode;
	uint32_t mtu;               /* 0: RTE_ETHER_MTU (or the device's maximum, if lower) */
	uint32_t max_lro_pkt_size;
	uint16_t split_hdr_size;    /* ignored (DPDK 22.11 still had it) */
	uint64_t offloads;          /* RTE_ETH_RX_OFFLOAD_* */
	uint64_t reserved_64s[2];
	void *reserved_ptrs[2];
};

struct rte_eth_txmode {
	enum rte_eth_tx_mq_mode mq_mode;
	uint64_t offloads;          /* RTE_ETH_TX_OFFLOAD_* */
	uint16_t pvid;
	__extension__ uint8_t hw_vlan_reject_tagged : 1, hw_vlan_reject_untagged : 1,
		hw_vlan_insert_pvid : 1;
	uint64_t reserved_64s[2];
	void *reserved_ptrs[2];
};

struct rte_eth_intr_conf {
	uint32_t lsc : 1;
	uint32_t rxq : 1;
	uint32_t rmv : 1;
};

struct rte_eth_conf {
	uint32_t link_speeds;       /* RTE_ETH_LINK_SPEED_*; ENA ignores it */
	struct rte_eth_rxmode rxmode;
	struct rte_eth_txmode txmode;
	uint32_t lpbk_mode;         /* must be 0 */
	struct {
		struct rte_eth_rss_conf rss_conf;
	} rx_adv_conf;
	uint32_t dcb_capability_en; /* must be 0 */
	struct rte_eth_intr_conf intr_conf; /* ignored: events go to the control thread */
};

struct rte_eth_thresh {
	uint8_t pthresh;
	uint8_t hthresh;
	uint8_t wthresh;
};

struct rte_eth_rxconf {
	struct rte_eth_thresh rx_thresh;
	uint16_t rx_free_thresh;
	uint8_t rx_drop_en;
	uint8_t rx_deferred_start;  /* not supported: must be 0 */
	uint16_t rx_nseg;
	uint16_t share_group;
	uint16_t share_qid;
	uint64_t offloads;          /* within the port's RX offloads */
	uint64_t reserved_64s[2];
	void *reserved_ptrs[2];
};

struct rte_eth_txconf {
	struct rte_eth_thresh tx_thresh;
	uint16_t tx_rs_thresh;
	uint16_t tx_free_thresh;
	uint8_t tx_deferred_start;  /* not supported: must be 0 */
	uint64_t offloads;          /* within the port's TX offloads */
	uint64_t reserved_64s[2];
	void *reserved_ptrs[2];
};

struct rte_eth_desc_lim {
	uint16_t nb_max;
	uint16_t nb_min;
	uint16_t nb_align;
	uint16_t nb_seg_max;
	uint16_t nb_mtu_seg_max;
};

struct rte_eth_dev_portconf {
	uint16_t burst_size;
	uint16_t ring_size;
	uint16_t nb_queues;
};

struct rte_device;

struct rte_eth_dev_info {
	struct rte_device *device;  /* NULL */
	const char *driver_name;
	unsigned int if_index;
	uint16_t min_mtu;
	uint16_t max_mtu;
	const uint32_t *dev_flags;
	uint32_t min_rx_bufsize;
	uint32_t max_rx_bufsize;
	uint32_t max_rx_pktlen;
	uint32_t max_lro_pkt_size;
	uint16_t max_rx_queues;
	uint16_t max_tx_queues;
	uint32_t max_mac_addrs;
	uint32_t max_hash_mac_addrs;
	uint16_t max_vfs;
	uint16_t max_vmdq_pools;
	uint64_t rx_offload_capa;
	uint64_t tx_offload_capa;
	uint64_t rx_queue_offload_capa;
	uint64_t tx_queue_offload_capa;
	uint16_t reta_size;
	uint8_t hash_key_size;
	uint32_t rss_algo_capa;
	uint64_t flow_type_rss_offloads;
	struct rte_eth_rxconf default_rxconf;
	struct rte_eth_txconf default_txconf;
	uint16_t vmdq_queue_base;
	uint16_t vmdq_queue_num;
	uint16_t vmdq_pool_base;
	struct rte_eth_desc_lim rx_desc_lim;
	struct rte_eth_desc_lim tx_desc_lim;
	uint32_t speed_capa;
	uint16_t nb_rx_queues;      /* configured */
	uint16_t nb_tx_queues;
	uint16_t max_rx_mempools;
	struct rte_eth_dev_portconf default_rxportconf;
	struct rte_eth_dev_portconf default_txportconf;
	uint64_t dev_capa;
	uint32_t err_handle_mode;
	uint64_t reserved_64s[2];
	void *reserved_ptrs[2];
};

struct rte_eth_stats {
	uint64_t ipackets;
	uint64_t opackets;
	uint64_t ibytes;
	uint64_t obytes;
	uint64_t imissed;    /* dropped by the device: no RX buffer */
	uint64_t ierrors;
	uint64_t oerrors;
	uint64_t rx_nombuf;  /* RX buffer allocation failures */
	uint64_t q_ipackets[RTE_ETHDEV_QUEUE_STAT_CNTRS];
	uint64_t q_opackets[RTE_ETHDEV_QUEUE_STAT_CNTRS];
	uint64_t q_ibytes[RTE_ETHDEV_QUEUE_STAT_CNTRS];
	uint64_t q_obytes[RTE_ETHDEV_QUEUE_STAT_CNTRS];
	uint64_t q_errors[RTE_ETHDEV_QUEUE_STAT_CNTRS];
};

/* The names before DPDK 21.11. */
#define ETH_MQ_RX_NONE RTE_ETH_MQ_RX_NONE
#define ETH_MQ_RX_RSS RTE_ETH_MQ_RX_RSS
#define ETH_MQ_TX_NONE RTE_ETH_MQ_TX_NONE
#define ETH_LINK_UP RTE_ETH_LINK_UP
#define ETH_LINK_DOWN RTE_ETH_LINK_DOWN
#define ETH_LINK_FULL_DUPLEX RTE_ETH_LINK_FULL_DUPLEX
#define ETH_SPEED_NUM_NONE RTE_ETH_SPEED_NUM_NONE
#define ETH_RSS_IP RTE_ETH_RSS_IP
#define ETH_RSS_UDP RTE_ETH_RSS_UDP
#define ETH_RSS_TCP RTE_ETH_RSS_TCP
#define DEV_RX_OFFLOAD_CHECKSUM RTE_ETH_RX_OFFLOAD_CHECKSUM
#define DEV_RX_OFFLOAD_RSS_HASH RTE_ETH_RX_OFFLOAD_RSS_HASH
#define DEV_TX_OFFLOAD_MBUF_FAST_FREE RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE
#define DEV_TX_OFFLOAD_MULTI_SEGS RTE_ETH_TX_OFFLOAD_MULTI_SEGS
#define DEV_TX_OFFLOAD_IPV4_CKSUM RTE_ETH_TX_OFFLOAD_IPV4_CKSUM
#define DEV_TX_OFFLOAD_UDP_CKSUM RTE_ETH_TX_OFFLOAD_UDP_CKSUM
#define DEV_TX_OFFLOAD_TCP_CKSUM RTE_ETH_TX_OFFLOAD_TCP_CKSUM
#define DEV_TX_OFFLOAD_TCP_TSO RTE_ETH_TX_OFFLOAD_TCP_TSO

/* Ports. */
uint16_t rte_eth_dev_count_avail(void);
uint16_t rte_eth_dev_count_total(void);
/* The first open port >= port_id, or RTE_MAX_ETHPORTS. */
uint16_t rte_eth_find_next(uint16_t port_id);
#define RTE_ETH_FOREACH_DEV(p) \
	for ((p) = rte_eth_find_next(0); (unsigned int)(p) < (unsigned int)RTE_MAX_ETHPORTS; \
	     (p) = rte_eth_find_next((uint16_t)((p) + 1)))
int rte_eth_dev_is_valid_port(uint16_t port_id);
int rte_eth_dev_socket_id(uint16_t port_id);
int rte_eth_dev_get_name_by_port(uint16_t port_id, char *name);
int rte_eth_dev_info_get(uint16_t port_id, struct rte_eth_dev_info *dev_info);
int rte_eth_macaddr_get(uint16_t port_id, struct rte_ether_addr *mac_addr);

/* Configuration. */
int rte_eth_dev_configure(uint16_t port_id, uint16_t nb_rx_queue, uint16_t nb_tx_queue,
			  const struct rte_eth_conf *eth_conf);
/* Clamps to the device's limits and rounds up to a power of two (ENA rings are). */
int rte_eth_dev_adjust_nb_rx_tx_desc(uint16_t port_id, uint16_t *nb_rx_desc,
				     uint16_t *nb_tx_desc);
int rte_eth_rx_queue_setup(uint16_t port_id, uint16_t rx_queue_id, uint16_t nb_rx_desc,
			   unsigned int socket_id, const struct rte_eth_rxconf *rx_conf,
			   struct rte_mempool *mb_pool);
int rte_eth_tx_queue_setup(uint16_t port_id, uint16_t tx_queue_id, uint16_t nb_tx_desc,
			   unsigned int socket_id, const struct rte_eth_txconf *tx_conf);
int rte_eth_dev_start(uint16_t port_id);
int rte_eth_dev_stop(uint16_t port_id);
/* The port must be stopped; afterwards it no longer exists. */
int rte_eth_dev_close(uint16_t port_id);
int rte_eth_dev_set_mtu(uint16_t port_id, uint16_t mtu);
int rte_eth_dev_get_mtu(uint16_t port_id, uint16_t *mtu);
/* ENA has no packet-type filter: set_ptypes[0] = RTE_PTYPE_UNKNOWN, returns 0. */
int rte_eth_dev_set_ptypes(uint16_t port_id, uint32_t ptype_mask, uint32_t *set_ptypes,
			   unsigned int num);

/* ENA receives only what is addressed to it: these return -ENOTSUP (disabling, and
 * querying, report "off"). */
int rte_eth_promiscuous_enable(uint16_t port_id);
int rte_eth_promiscuous_disable(uint16_t port_id);
int rte_eth_promiscuous_get(uint16_t port_id);
int rte_eth_allmulticast_enable(uint16_t port_id);
int rte_eth_allmulticast_disable(uint16_t port_id);
int rte_eth_allmulticast_get(uint16_t port_id);

/* Link and statistics. */
int rte_eth_link_get(uint16_t port_id, struct rte_eth_link *link);
int rte_eth_link_get_nowait(uint16_t port_id, struct rte_eth_link *link);
const char *rte_eth_link_speed_to_str(uint32_t link_speed);
/* "Link down" or "Link up at <speed> <FDX|HDX> <Autoneg|Fixed>". */
int rte_eth_link_to_str(char *str, size_t len, const struct rte_eth_link *eth_link);
int rte_eth_stats_get(uint16_t port_id, struct rte_eth_stats *stats);
int rte_eth_stats_reset(uint16_t port_id);

/* Data path: one library call per burst. */
uint16_t dpdk_shim_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts,
			    uint16_t nb_pkts);
uint16_t dpdk_shim_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
			    uint16_t nb_pkts);
uint16_t dpdk_shim_tx_prepare(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
			      uint16_t nb_pkts);

/* Receives up to nb_pkts packets into rx_pkts[0..n) and returns n. The entries are
 * overwritten (those from n on become NULL). */
static inline uint16_t
rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts,
		 const uint16_t nb_pkts)
{
	return dpdk_shim_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

/* Sends tx_pkts[0..n) and returns n; the driver owns those mbufs now. tx_pkts[n..nb_pkts)
 * stay the caller's: send them again or free them. The array itself is not changed. */
static inline uint16_t
rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
		 uint16_t nb_pkts)
{
	return dpdk_shim_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

/* How many packets from the front are valid for the queue's offloads (rte_errno is
 * EINVAL when one is not). */
static inline uint16_t
rte_eth_tx_prepare(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
		   uint16_t nb_pkts)
{
	return dpdk_shim_tx_prepare(port_id, queue_id, tx_pkts, nb_pkts);
}

/* TX buffering: collect packets, send them a burst at a time. */
typedef void (*buffer_tx_error_fn)(struct rte_mbuf **unsent, uint16_t count, void *userdata);

struct rte_eth_dev_tx_buffer {
	buffer_tx_error_fn error_callback;
	void *error_userdata;
	uint16_t size;   /* capacity */
	uint16_t length; /* packets held */
	struct rte_mbuf *pkts[];
};

#define RTE_ETH_TX_BUFFER_SIZE(sz) \
	(sizeof(struct rte_eth_dev_tx_buffer) + (sz) * sizeof(struct rte_mbuf *))

/* Sets the capacity; installs rte_eth_tx_buffer_drop_callback unless a callback is set. */
int rte_eth_tx_buffer_init(struct rte_eth_dev_tx_buffer *buffer, uint16_t size);
int rte_eth_tx_buffer_set_err_callback(struct rte_eth_dev_tx_buffer *buffer,
				       buffer_tx_error_fn callback, void *userdata);
/* Frees the unsent packets. */
void rte_eth_tx_buffer_drop_callback(struct rte_mbuf **pkts, uint16_t unsent, void *userdata);
/* Frees them and adds their number to *(uint64_t *)userdata. */
void rte_eth_tx_buffer_count_callback(struct rte_mbuf **pkts, uint16_t unsent, void *userdata);

/* Sends what the buffer holds; what the queue does not take goes to the error callback.
 * Returns how many were sent. */
static inline uint16_t
rte_eth_tx_buffer_flush(uint16_t port_id, uint16_t queue_id, struct rte_eth_dev_tx_buffer *buffer)
{
	uint16_t to_send = buffer->length;
	uint16_t sent;

	if (to_send == 0)
		return 0;
	sent = rte_eth_tx_burst(port_id, queue_id, buffer->pkts, to_send);
	buffer->length = 0;
	if (unlikely(sent != to_send))
		buffer->error_callback(&buffer->pkts[sent], (uint16_t)(to_send - sent),
				       buffer->error_userdata);
	return sent;
}

/* Adds tx_pkt; when the buffer is full, flushes it and returns how many were sent (else 0). */
static __rte_always_inline uint16_t
rte_eth_tx_buffer(uint16_t port_id, uint16_t queue_id, struct rte_eth_dev_tx_buffer *buffer,
		  struct rte_mbuf *tx_pkt)
{
	buffer->pkts[buffer->length++] = tx_pkt;
	if (buffer->length < buffer->size)
		return 0;
	return rte_eth_tx_buffer_flush(port_id, queue_id, buffer);
}

#ifdef __cplusplus
}
#endif

#endif /* RTE_ETHDEV_H_ */
