/*
 * dpdk-shim C API: build-time limits (DPDK's rte_config.h names).
 *
 * Part of ena-rs (dpdk-shim/capi). These headers are written for this project: they keep
 * DPDK's public names so that DPDK applications compile against libdpdk from dpdk-shim
 * unchanged; the values are the shim's.
 */
#ifndef RTE_CONFIG_H_
#define RTE_CONFIG_H_

/* Lcore ids are CPU numbers, as in DPDK; -l/-c may name CPUs below this. */
#define RTE_MAX_LCORE 128
#define RTE_MAX_NUMA_NODES 8
#define RTE_MAX_ETHPORTS 32
#define RTE_MAX_QUEUES_PER_PORT 1024
#define RTE_ETHDEV_QUEUE_STAT_CNTRS 16
#define RTE_CACHE_LINE_SIZE 64
#define RTE_PKTMBUF_HEADROOM 128
#define RTE_MEMPOOL_CACHE_MAX_SIZE 512
#define RTE_LOG_DP_LEVEL RTE_LOG_INFO
#define RTE_EXEC_ENV_LINUX 1
#define RTE_VER_YEAR 22
#define RTE_VER_MONTH 11

#endif /* RTE_CONFIG_H_ */
