/*
 * basicfwd: a single-core forwarder in the style of DPDK's skeleton example, written for the
 * dpdk-shim C API tests (dpdk-shim/capi/tests/c_apps.rs).
 *
 * Ports are paired 0<->1, 2<->3, ...: every packet received on port p is sent on port p ^ 1;
 * what the TX queue does not take is freed and counted as dropped. The main lcore polls every
 * port until it has received --packets packets, or nothing for --idle-ms after the first
 * packet, or --timeout-ms has passed; then it prints one line per port:
 *
 *   PORT <p> rx=<n> tx=<n> dropped=<n> ipackets=<n> opackets=<n> imissed=<n> link=<text>
 *
 * and "POOL in_use=<n>" after closing the ports (0: every mbuf came back).
 *
 * Usage: basicfwd <EAL options> -- [--packets N] [--idle-ms I] [--timeout-ms T] [--burst B]
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#define RX_RING_SIZE 1024
#define TX_RING_SIZE 1024
#define NUM_MBUFS 8191
#define MBUF_CACHE_SIZE 250
#define MAX_BURST 64

struct port_counters {
	uint64_t rx;
	uint64_t tx;
	uint64_t dropped;
};

static struct port_counters counters[RTE_MAX_ETHPORTS];

static uint64_t opt_packets = 1000;
static uint64_t opt_timeout_ms = 20000;
static uint64_t opt_idle_ms = 500;
static uint16_t opt_burst = 32;

static void
parse_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--packets") == 0 && v != NULL)
			opt_packets = strtoull(v, NULL, 0);
		else if (strcmp(argv[i], "--timeout-ms") == 0 && v != NULL)
			opt_timeout_ms = strtoull(v, NULL, 0);
		else if (strcmp(argv[i], "--idle-ms") == 0 && v != NULL)
			opt_idle_ms = strtoull(v, NULL, 0);
		else if (strcmp(argv[i], "--burst") == 0 && v != NULL)
			opt_burst = (uint16_t)strtoul(v, NULL, 0);
		else
			rte_exit(EXIT_FAILURE, "unknown application option '%s'\n", argv[i]);
		i++;
	}
	if (opt_burst == 0 || opt_burst > MAX_BURST)
		rte_exit(EXIT_FAILURE, "--burst must be 1..%d\n", MAX_BURST);
}

static int
port_init(uint16_t port, struct rte_mempool *mbuf_pool)
{
	struct rte_eth_conf port_conf;
	struct rte_eth_dev_info dev_info;
	struct rte_eth_txconf txconf;
	struct rte_ether_addr addr;
	uint16_t nb_rxd = RX_RING_SIZE;
	uint16_t nb_txd = TX_RING_SIZE;
	int retval;

	if (!rte_eth_dev_is_valid_port(port))
		return -1;
	memset(&port_conf, 0, sizeof(port_conf));

	retval = rte_eth_dev_info_get(port, &dev_info);
	if (retval != 0) {
		printf("Error during getting device (port %u) info: %s\n", port, strerror(-retval));
		return retval;
	}
	if (dev_info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
		port_conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;

	retval = rte_eth_dev_configure(port, 1, 1, &port_conf);
	if (retval != 0)
		return retval;
	retval = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
	if (retval != 0)
		return retval;
	retval = rte_eth_rx_queue_setup(port, 0, nb_rxd, rte_eth_dev_socket_id(port), NULL,
					mbuf_pool);
	if (retval < 0)
		return retval;
	txconf = dev_info.default_txconf;
	txconf.offloads = port_conf.txmode.offloads;
	retval = rte_eth_tx_queue_setup(port, 0, nb_txd, rte_eth_dev_socket_id(port), &txconf);
	if (retval < 0)
		return retval;
	retval = rte_eth_dev_start(port);
	if (retval < 0)
		return retval;

	retval = rte_eth_macaddr_get(port, &addr);
	if (retval != 0)
		return retval;
	printf("Port %u MAC: %02" PRIx8 " %02" PRIx8 " %02" PRIx8 " %02" PRIx8 " %02" PRIx8
	       " %02" PRIx8 " driver %s\n",
	       port, RTE_ETHER_ADDR_BYTES(&addr), dev_info.driver_name);

	/* ENA has no promiscuous mode: DPDK (and the shim) answer -ENOTSUP. */
	retval = rte_eth_promiscuous_enable(port);
	if (retval != 0)
		printf("Port %u promiscuous: %s\n", port, rte_strerror(-retval));
	return 0;
}

static void
lcore_main(void)
{
	const uint64_t hz = rte_get_tsc_hz();
	const uint64_t deadline = rte_rdtsc() + opt_timeout_ms * hz / 1000;
	const uint64_t idle = opt_idle_ms * hz / 1000;
	uint64_t total = 0;
	uint64_t last_rx = 0;
	uint16_t port;

	printf("Core %u forwarding packets. [Ctrl+C to quit]\n", rte_lcore_id());
	for (;;) {
		uint64_t now = rte_rdtsc();

		if (total >= opt_packets || now >= deadline || (total > 0 && now - last_rx > idle))
			break;
		RTE_ETH_FOREACH_DEV(port) {
			struct rte_mbuf *bufs[MAX_BURST];
			uint16_t nb_rx, nb_tx, i;
			uint16_t out = port ^ 1;

			nb_rx = rte_eth_rx_burst(port, 0, bufs, opt_burst);
			if (unlikely(nb_rx == 0))
				continue;
			counters[port].rx += nb_rx;
			total += nb_rx;
			last_rx = now;
			nb_tx = rte_eth_tx_burst(out, 0, bufs, nb_rx);
			counters[out].tx += nb_tx;
			if (unlikely(nb_tx < nb_rx)) {
				counters[out].dropped += nb_rx - nb_tx;
				for (i = nb_tx; i < nb_rx; i++)
					rte_pktmbuf_free(bufs[i]);
			}
		}
	}
}

int
main(int argc, char *argv[])
{
	struct rte_mempool *mbuf_pool;
	unsigned int nb_ports;
	uint16_t portid;
	int ret;

	ret = rte_eal_init(argc, argv);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "Error with EAL initialization\n");
	argc -= ret;
	argv += ret;
	parse_args(argc, argv);

	nb_ports = rte_eth_dev_count_avail();
	if (nb_ports < 2 || (nb_ports & 1))
		rte_exit(EXIT_FAILURE, "Error: number of ports must be even\n");

	mbuf_pool = rte_pktmbuf_pool_create("MBUF_POOL", NUM_MBUFS * nb_ports, MBUF_CACHE_SIZE, 0,
					    RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (mbuf_pool == NULL)
		rte_exit(EXIT_FAILURE, "Cannot create mbuf pool: %s\n", rte_strerror(rte_errno));

	RTE_ETH_FOREACH_DEV(portid)
		if (port_init(portid, mbuf_pool) != 0)
			rte_exit(EXIT_FAILURE, "Cannot init port %" PRIu16 "\n", portid);

	if (rte_lcore_count() > 1)
		printf("\nWARNING: Too many lcores enabled. Only 1 used.\n");

	lcore_main();

	/* Let the last completions and the device counters settle. */
	rte_delay_ms(200);
	RTE_ETH_FOREACH_DEV(portid) {
		struct rte_eth_stats st;
		struct rte_eth_link link;
		char link_text[RTE_ETH_LINK_MAX_STR_LEN];

		memset(&st, 0, sizeof(st));
		if (rte_eth_stats_get(portid, &st) != 0)
			rte_exit(EXIT_FAILURE, "stats of port %u\n", portid);
		if (rte_eth_link_get_nowait(portid, &link) != 0)
			rte_exit(EXIT_FAILURE, "link of port %u\n", portid);
		rte_eth_link_to_str(link_text, sizeof(link_text), &link);
		printf("PORT %u rx=%" PRIu64 " tx=%" PRIu64 " dropped=%" PRIu64 " ipackets=%" PRIu64
		       " opackets=%" PRIu64 " imissed=%" PRIu64 " link=%s\n",
		       portid, counters[portid].rx, counters[portid].tx, counters[portid].dropped,
		       st.ipackets, st.opackets, st.imissed, link_text);
	}
	RTE_ETH_FOREACH_DEV(portid) {
		if (rte_eth_dev_stop(portid) != 0)
			rte_exit(EXIT_FAILURE, "stop port %u\n", portid);
		if (rte_eth_dev_close(portid) != 0)
			rte_exit(EXIT_FAILURE, "close port %u\n", portid);
	}
	printf("POOL in_use=%u\n", rte_mempool_in_use_count(mbuf_pool));
	rte_mempool_free(mbuf_pool);
	fflush(stdout);
	if (rte_eal_cleanup() != 0)
		rte_exit(EXIT_FAILURE, "cleanup: %s\n", rte_strerror(rte_errno));
	return 0;
}
