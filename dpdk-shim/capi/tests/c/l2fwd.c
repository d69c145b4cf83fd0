/*
 * l2fwd: a multi-core layer-2 forwarder in the style of DPDK's l2fwd example, written for the
 * dpdk-shim C API tests (dpdk-shim/capi/tests/c_apps.rs).
 *
 * Enabled ports are paired 0<->1, 2<->3, ... Each lcore receives on up to -q ports; a packet
 * from port p leaves on its partner d with its MAC addresses rewritten (destination
 * 02:00:00:00:00:<d>, source = port d's MAC) through a TX buffer per port, flushed when full
 * and every 100 us. The main lcore forwards too and stops everyone once the ports have
 * received --packets packets in all, or nothing for --idle-ms after the first packet, or after
 * --timeout-ms. At exit it prints per port:
 *
 *   PORT <p> lcore=<l> rx=<n> tx=<n> dropped=<n> rewritten=<n> from=<k> ipackets=<n>
 *       opackets=<n>
 *
 * where "rewritten" counts received frames that this program rewrote on an earlier hop (source
 * = the MAC of one of its ports k, destination 02:00:00:00:00:<k>), and "from" is that k (-1
 * if none or several).
 *
 * Usage: l2fwd <EAL options> -- -p PORTMASK [-q NQ] [--packets N] [--idle-ms I]
 *        [--timeout-ms T] [--no-mac-updating]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_debug.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_memory.h>
#include <rte_per_lcore.h>
#include <rte_prefetch.h>

#define RTE_LOGTYPE_L2FWD RTE_LOGTYPE_USER1

#define MAX_PKT_BURST 32
#define BURST_TX_DRAIN_US 100
#define MEMPOOL_CACHE_SIZE 256
#define MAX_RX_QUEUE_PER_LCORE 16
#define RX_DESC 1024
#define TX_DESC 1024

struct lcore_queue_conf {
	unsigned int n_rx_port;
	uint16_t rx_port_list[MAX_RX_QUEUE_PER_LCORE];
} __rte_cache_aligned;

struct port_statistics {
	uint64_t rx;
	uint64_t tx;
	uint64_t dropped;
	uint64_t rewritten;
	int64_t from; /* -2: none yet, -1: several, else the rewriting port */
} __rte_cache_aligned;

static struct lcore_queue_conf lcore_queue_conf[RTE_MAX_LCORE];
static struct rte_eth_dev_tx_buffer *tx_buffer[RTE_MAX_ETHPORTS];
static struct port_statistics port_statistics[RTE_MAX_ETHPORTS];
static struct rte_ether_addr ports_eth_addr[RTE_MAX_ETHPORTS];
static uint32_t dst_ports[RTE_MAX_ETHPORTS];
static int port_lcore[RTE_MAX_ETHPORTS];
static uint16_t nb_enabled;

static uint32_t enabled_port_mask;
static unsigned int rx_queue_per_lcore = 1;
static bool mac_updating = true;
static uint64_t opt_packets = 1000;
static uint64_t opt_timeout_ms = 20000;
static uint64_t opt_idle_ms = 500;

static volatile bool force_quit;
static RTE_DEFINE_PER_LCORE(uint64_t, bursts);

/* Whether a received frame carries this program's rewrite; counts it per RX port. */
static void
note_rewrite(uint16_t portid, const struct rte_ether_hdr *eth)
{
	uint16_t k;

	for (k = 0; k < RTE_MAX_ETHPORTS; k++) {
		const uint8_t *d = eth->dst_addr.addr_bytes;

		if (!(enabled_port_mask & (1u << k)))
			continue;
		if (!rte_is_same_ether_addr(&eth->src_addr, &ports_eth_addr[k]))
			continue;
		if (d[0] != 0x02 || d[1] || d[2] || d[3] || d[4] || d[5] != k)
			continue;
		port_statistics[portid].rewritten++;
		if (port_statistics[portid].from == -2)
			port_statistics[portid].from = k;
		else if (port_statistics[portid].from != k)
			port_statistics[portid].from = -1;
		return;
	}
}

static void
mac_update(struct rte_mbuf *m, unsigned int dest_portid)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	static const struct rte_ether_addr base = { { 0x02, 0, 0, 0, 0, 0 } };

	rte_ether_addr_copy(&base, &eth->dst_addr);
	eth->dst_addr.addr_bytes[5] = (uint8_t)dest_portid;
	rte_ether_addr_copy(&ports_eth_addr[dest_portid], &eth->src_addr);
}

static void
simple_forward(struct rte_mbuf *m, uint16_t portid)
{
	uint32_t dst_port = dst_ports[portid];
	struct rte_eth_dev_tx_buffer *buffer;
	uint16_t sent;

	note_rewrite(portid, rte_pktmbuf_mtod(m, const struct rte_ether_hdr *));
	if (mac_updating)
		mac_update(m, dst_port);
	buffer = tx_buffer[dst_port];
	sent = rte_eth_tx_buffer(dst_port, 0, buffer, m);
	if (sent)
		port_statistics[dst_port].tx += sent;
}

static uint64_t
total_rx(void)
{
	uint64_t total = 0;
	uint16_t p;

	for (p = 0; p < RTE_MAX_ETHPORTS; p++)
		total += __atomic_load_n(&port_statistics[p].rx, __ATOMIC_RELAXED);
	return total;
}

static void
flush_all(struct lcore_queue_conf *qconf)
{
	unsigned int i;

	for (i = 0; i < qconf->n_rx_port; i++) {
		uint16_t portid = (uint16_t)dst_ports[qconf->rx_port_list[i]];
		uint16_t sent = rte_eth_tx_buffer_flush(portid, 0, tx_buffer[portid]);

		if (sent)
			port_statistics[portid].tx += sent;
	}
}

static void
l2fwd_main_loop(void)
{
	struct rte_mbuf *pkts_burst[MAX_PKT_BURST];
	unsigned int lcore_id = rte_lcore_id();
	struct lcore_queue_conf *qconf = &lcore_queue_conf[lcore_id];
	const uint64_t drain_tsc = (rte_get_tsc_hz() + US_PER_S - 1) / US_PER_S * BURST_TX_DRAIN_US;
	const uint64_t deadline = rte_rdtsc() + opt_timeout_ms * rte_get_tsc_hz() / 1000;
	const uint64_t idle = opt_idle_ms * rte_get_tsc_hz() / 1000;
	uint64_t prev_tsc = 0;
	uint64_t seen = 0, seen_tsc = 0;
	unsigned int i, j;

	if (qconf->n_rx_port == 0) {
		RTE_LOG(INFO, L2FWD, "lcore %u has nothing to do\n", lcore_id);
		return;
	}
	RTE_LOG(INFO, L2FWD, "entering main loop on lcore %u\n", lcore_id);
	for (i = 0; i < qconf->n_rx_port; i++)
		RTE_LOG(INFO, L2FWD, " -- lcoreid=%u portid=%u\n", lcore_id, qconf->rx_port_list[i]);

	while (!force_quit) {
		uint64_t cur_tsc = rte_rdtsc();

		if (unlikely(cur_tsc - prev_tsc > drain_tsc)) {
			flush_all(qconf);
			prev_tsc = cur_tsc;
			if (lcore_id == rte_get_main_lcore()) {
				uint64_t total = total_rx();

				if (total != seen) {
					seen = total;
					seen_tsc = cur_tsc;
				}
				if (total >= opt_packets || cur_tsc > deadline ||
				    (total > 0 && cur_tsc - seen_tsc > idle))
					force_quit = true;
			}
		}
		for (i = 0; i < qconf->n_rx_port; i++) {
			uint16_t portid = qconf->rx_port_list[i];
			uint16_t nb_rx = rte_eth_rx_burst(portid, 0, pkts_burst, MAX_PKT_BURST);

			RTE_PER_LCORE(bursts)++;
			if (nb_rx == 0)
				continue;
			__atomic_fetch_add(&port_statistics[portid].rx, nb_rx, __ATOMIC_RELAXED);
			for (j = 0; j < nb_rx; j++) {
				struct rte_mbuf *m = pkts_burst[j];

				rte_prefetch0(rte_pktmbuf_mtod(m, void *));
				simple_forward(m, portid);
			}
		}
	}
	flush_all(qconf);
}

static int
l2fwd_launch_one_lcore(__rte_unused void *dummy)
{
	l2fwd_main_loop();
	return RTE_PER_LCORE(bursts) > 0 || lcore_queue_conf[rte_lcore_id()].n_rx_port == 0 ? 0 : -1;
}

static void
usage(const char *prgname)
{
	printf("%s [EAL options] -- -p PORTMASK [-q NQ] [--packets N] [--idle-ms I] "
	       "[--timeout-ms T] [--no-mac-updating]\n",
	       prgname);
}

static int
parse_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--no-mac-updating") == 0) {
			mac_updating = false;
			continue;
		}
		if (v == NULL)
			return -1;
		if (strcmp(a, "-p") == 0)
			enabled_port_mask = (uint32_t)strtoul(v, NULL, 16);
		else if (strcmp(a, "-q") == 0)
			rx_queue_per_lcore = (unsigned int)strtoul(v, NULL, 10);
		else if (strcmp(a, "--packets") == 0)
			opt_packets = strtoull(v, NULL, 0);
		else if (strcmp(a, "--timeout-ms") == 0)
			opt_timeout_ms = strtoull(v, NULL, 0);
		else if (strcmp(a, "--idle-ms") == 0)
			opt_idle_ms = strtoull(v, NULL, 0);
		else
			return -1;
		i++;
	}
	if (enabled_port_mask == 0 || rx_queue_per_lcore == 0 ||
	    rx_queue_per_lcore > MAX_RX_QUEUE_PER_LCORE)
		return -1;
	return 0;
}

static void
init_port(uint16_t portid, struct rte_mempool *pool)
{
	struct rte_eth_conf local_port_conf;
	struct rte_eth_rxconf rxq_conf;
	struct rte_eth_txconf txq_conf;
	struct rte_eth_dev_info dev_info;
	uint16_t nb_rxd = RX_DESC;
	uint16_t nb_txd = TX_DESC;
	int ret;

	memset(&local_port_conf, 0, sizeof(local_port_conf));
	local_port_conf.txmode.mq_mode = RTE_ETH_MQ_TX_NONE;
	printf("Initializing port %u... ", portid);
	fflush(stdout);

	ret = rte_eth_dev_info_get(portid, &dev_info);
	if (ret != 0)
		rte_exit(EXIT_FAILURE, "Error during getting device (port %u) info: %s\n", portid,
			 strerror(-ret));
	if (dev_info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
		local_port_conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
	ret = rte_eth_dev_configure(portid, 1, 1, &local_port_conf);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "Cannot configure device: err=%d, port=%u\n", ret, portid);
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(portid, &nb_rxd, &nb_txd);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "Cannot adjust number of descriptors: err=%d, port=%u\n",
			 ret, portid);
	ret = rte_eth_macaddr_get(portid, &ports_eth_addr[portid]);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "Cannot get MAC address: err=%d, port=%u\n", ret, portid);

	rxq_conf = dev_info.default_rxconf;
	rxq_conf.offloads = local_port_conf.rxmode.offloads;
	ret = rte_eth_rx_queue_setup(portid, 0, nb_rxd, rte_eth_dev_socket_id(portid), &rxq_conf,
				     pool);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "rte_eth_rx_queue_setup:err=%d, port=%u\n", ret, portid);

	txq_conf = dev_info.default_txconf;
	txq_conf.offloads = local_port_conf.txmode.offloads;
	ret = rte_eth_tx_queue_setup(portid, 0, nb_txd, rte_eth_dev_socket_id(portid), &txq_conf);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "rte_eth_tx_queue_setup:err=%d, port=%u\n", ret, portid);

	tx_buffer[portid] = rte_zmalloc_socket("tx_buffer", RTE_ETH_TX_BUFFER_SIZE(MAX_PKT_BURST),
					       0, rte_eth_dev_socket_id(portid));
	if (tx_buffer[portid] == NULL)
		rte_exit(EXIT_FAILURE, "Cannot allocate buffer for tx on port %u\n", portid);
	rte_eth_tx_buffer_init(tx_buffer[portid], MAX_PKT_BURST);
	ret = rte_eth_tx_buffer_set_err_callback(tx_buffer[portid],
						 rte_eth_tx_buffer_count_callback,
						 &port_statistics[portid].dropped);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "Cannot set error callback for tx buffer on port %u\n",
			 portid);

	ret = rte_eth_dev_set_ptypes(portid, RTE_PTYPE_UNKNOWN, NULL, 0);
	if (ret < 0)
		printf("Port %u, Failed to disable Ptype parsing\n", portid);
	ret = rte_eth_dev_start(portid);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "rte_eth_dev_start:err=%d, port=%u\n", ret, portid);

	printf("done:\nPort %u, MAC address: " RTE_ETHER_ADDR_PRT_FMT "\n\n", portid,
	       RTE_ETHER_ADDR_BYTES(&ports_eth_addr[portid]));
	port_statistics[portid].from = -2;
}

static void
check_all_ports_link_status(void)
{
	char link_status_text[RTE_ETH_LINK_MAX_STR_LEN];
	struct rte_eth_link link;
	uint16_t portid;
	int ret;

	RTE_ETH_FOREACH_DEV(portid) {
		if ((enabled_port_mask & (1u << portid)) == 0)
			continue;
		memset(&link, 0, sizeof(link));
		ret = rte_eth_link_get_nowait(portid, &link);
		if (ret < 0) {
			printf("Port %u link get failed: %s\n", portid, rte_strerror(-ret));
			continue;
		}
		rte_eth_link_to_str(link_status_text, sizeof(link_status_text), &link);
		printf("Port %d %s\n", portid, link_status_text);
	}
}

int
main(int argc, char **argv)
{
	struct lcore_queue_conf *qconf;
	struct rte_mempool *pool;
	unsigned int rx_lcore_id;
	unsigned int lcore_id;
	uint16_t nb_ports, portid, last_port;
	unsigned int nb_mbufs;
	int ret;

	ret = rte_eal_init(argc, argv);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "Invalid EAL arguments\n");
	argc -= ret;
	argv += ret;
	if (parse_args(argc, argv) < 0) {
		usage(argv[0]);
		rte_exit(EXIT_FAILURE, "Invalid L2FWD arguments\n");
	}
	printf("MAC updating %s\n", mac_updating ? "enabled" : "disabled");

	nb_ports = rte_eth_dev_count_avail();
	if (nb_ports == 0)
		rte_exit(EXIT_FAILURE, "No Ethernet ports - bye\n");
	if (enabled_port_mask & ~((1u << nb_ports) - 1))
		rte_exit(EXIT_FAILURE, "Invalid portmask; possible (0x%x)\n", (1u << nb_ports) - 1);

	/* Pair the enabled ports. */
	last_port = 0;
	RTE_ETH_FOREACH_DEV(portid) {
		if ((enabled_port_mask & (1u << portid)) == 0)
			continue;
		if (nb_enabled % 2) {
			dst_ports[portid] = last_port;
			dst_ports[last_port] = portid;
		} else {
			last_port = portid;
		}
		nb_enabled++;
	}
	if (nb_enabled % 2)
		dst_ports[last_port] = last_port;

	/* Each lcore receives on rx_queue_per_lcore ports. */
	rx_lcore_id = 0;
	qconf = NULL;
	RTE_ETH_FOREACH_DEV(portid) {
		if ((enabled_port_mask & (1u << portid)) == 0)
			continue;
		while (rte_lcore_is_enabled(rx_lcore_id) == 0 ||
		       lcore_queue_conf[rx_lcore_id].n_rx_port == rx_queue_per_lcore) {
			rx_lcore_id++;
			if (rx_lcore_id >= RTE_MAX_LCORE)
				rte_exit(EXIT_FAILURE, "Not enough cores\n");
		}
		if (qconf != &lcore_queue_conf[rx_lcore_id])
			qconf = &lcore_queue_conf[rx_lcore_id];
		qconf->rx_port_list[qconf->n_rx_port] = portid;
		qconf->n_rx_port++;
		port_lcore[portid] = (int)rx_lcore_id;
		printf("Lcore %u: RX port %u TX port %u\n", rx_lcore_id, portid, dst_ports[portid]);
	}

	nb_mbufs = RTE_MAX(nb_ports * (RX_DESC + TX_DESC + MAX_PKT_BURST +
				       rte_lcore_count() * MEMPOOL_CACHE_SIZE),
			   8192U);
	pool = rte_pktmbuf_pool_create("mbuf_pool", nb_mbufs, MEMPOOL_CACHE_SIZE, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (pool == NULL)
		rte_exit(EXIT_FAILURE, "Cannot init mbuf pool\n");

	RTE_ETH_FOREACH_DEV(portid) {
		if ((enabled_port_mask & (1u << portid)) == 0) {
			printf("Skipping disabled port %u\n", portid);
			continue;
		}
		init_port(portid, pool);
	}
	check_all_ports_link_status();

	force_quit = false;
	rte_eal_mp_remote_launch(l2fwd_launch_one_lcore, NULL, CALL_MAIN);
	ret = 0;
	RTE_LCORE_FOREACH_WORKER(lcore_id) {
		if (rte_eal_wait_lcore(lcore_id) < 0) {
			ret = -1;
			break;
		}
	}

	rte_delay_ms(200);
	RTE_ETH_FOREACH_DEV(portid) {
		struct port_statistics *s = &port_statistics[portid];
		struct rte_eth_stats st;

		if ((enabled_port_mask & (1u << portid)) == 0)
			continue;
		memset(&st, 0, sizeof(st));
		rte_eth_stats_get(portid, &st);
		printf("PORT %u lcore=%d rx=%" PRIu64 " tx=%" PRIu64 " dropped=%" PRIu64
		       " rewritten=%" PRIu64 " from=%" PRId64 " ipackets=%" PRIu64
		       " opackets=%" PRIu64 "\n",
		       portid, port_lcore[portid], s->rx, s->tx, s->dropped, s->rewritten,
		       s->from < 0 ? (int64_t)-1 : s->from, st.ipackets, st.opackets);
	}
	RTE_ETH_FOREACH_DEV(portid) {
		if ((enabled_port_mask & (1u << portid)) == 0)
			continue;
		printf("Closing port %d...", portid);
		ret |= rte_eth_dev_stop(portid);
		rte_eth_dev_close(portid);
		rte_free(tx_buffer[portid]);
		printf(" Done\n");
	}
	printf("POOL in_use=%u\n", rte_mempool_in_use_count(pool));
	fflush(stdout);
	rte_eal_cleanup();
	printf("Bye...\n");
	return ret;
}
