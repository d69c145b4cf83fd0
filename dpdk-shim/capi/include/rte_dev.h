/*
 * dpdk-shim C API: devices (DPDK's rte_dev.h). Ports are reached through ethdev; struct
 * rte_device is opaque and rte_eth_dev_info.device is NULL.
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_DEV_H_
#define RTE_DEV_H_

struct rte_device;

#endif /* RTE_DEV_H_ */
