/*
 * dpdk-shim C API: Ethernet addresses and headers (DPDK's rte_ether.h names).
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_ETHER_H_
#define RTE_ETHER_H_

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RTE_ETHER_ADDR_LEN 6
#define RTE_ETHER_TYPE_LEN 2
#define RTE_ETHER_CRC_LEN 4
#define RTE_ETHER_HDR_LEN (RTE_ETHER_ADDR_LEN * 2 + RTE_ETHER_TYPE_LEN)
#define RTE_ETHER_MIN_LEN 64
#define RTE_ETHER_MAX_LEN 1518
#define RTE_ETHER_MTU (RTE_ETHER_MAX_LEN - RTE_ETHER_HDR_LEN - RTE_ETHER_CRC_LEN)
#define RTE_ETHER_MIN_MTU 68
#define RTE_ETHER_MAX_JUMBO_FRAME_LEN 0x3F00
#define RTE_ETHER_MAX_VLAN_FRAME_LEN (RTE_ETHER_MAX_LEN + 4)
#define RTE_ETHER_LOCAL_ADMIN_ADDR 0x02
#define RTE_ETHER_GROUP_ADDR 0x01

#define RTE_ETHER_TYPE_IPV4 0x0800
#define RTE_ETHER_TYPE_IPV6 0x86DD
#define RTE_ETHER_TYPE_ARP 0x0806
#define RTE_ETHER_TYPE_RARP 0x8035
#define RTE_ETHER_TYPE_VLAN 0x8100
#define RTE_ETHER_TYPE_QINQ 0x88A8
#define RTE_ETHER_TYPE_LLDP 0x88CC
#define RTE_ETHER_TYPE_MPLS 0x8847

struct __rte_aligned(2) rte_ether_addr {
	uint8_t addr_bytes[RTE_ETHER_ADDR_LEN];
};

/* The Ethernet header; d_addr/s_addr are the names before DPDK 21.11. */
struct __rte_aligned(2) rte_ether_hdr {
	__extension__ union {
		struct rte_ether_addr dst_addr;
		struct rte_ether_addr d_addr;
	};
	__extension__ union {
		struct rte_ether_addr src_addr;
		struct rte_ether_addr s_addr;
	};
	rte_be16_t ether_type;
};

struct rte_vlan_hdr {
	rte_be16_t vlan_tci;
	rte_be16_t eth_proto;
} __rte_packed;

#define RTE_ETHER_ADDR_PRT_FMT "%02X:%02X:%02X:%02X:%02X:%02X"
#define RTE_ETHER_ADDR_BYTES(mac_addrs) \
	((mac_addrs)->addr_bytes[0]), ((mac_addrs)->addr_bytes[1]), \
	((mac_addrs)->addr_bytes[2]), ((mac_addrs)->addr_bytes[3]), \
	((mac_addrs)->addr_bytes[4]), ((mac_addrs)->addr_bytes[5])
#define RTE_ETHER_ADDR_FMT_SIZE 18

static inline void
rte_ether_addr_copy(const struct rte_ether_addr *ea_from, struct rte_ether_addr *ea_to)
{
	*ea_to = *ea_from;
}

static inline int
rte_is_same_ether_addr(const struct rte_ether_addr *ea1, const struct rte_ether_addr *ea2)
{
	return memcmp(ea1->addr_bytes, ea2->addr_bytes, RTE_ETHER_ADDR_LEN) == 0;
}

static inline int
rte_is_zero_ether_addr(const struct rte_ether_addr *ea)
{
	int i;

	for (i = 0; i < RTE_ETHER_ADDR_LEN; i++)
		if (ea->addr_bytes[i] != 0)
			return 0;
	return 1;
}

static inline int
rte_is_multicast_ether_addr(const struct rte_ether_addr *ea)
{
	return (ea->addr_bytes[0] & RTE_ETHER_GROUP_ADDR) != 0;
}

static inline int
rte_is_unicast_ether_addr(const struct rte_ether_addr *ea)
{
	return !rte_is_multicast_ether_addr(ea);
}

static inline int
rte_is_broadcast_ether_addr(const struct rte_ether_addr *ea)
{
	int i;

	for (i = 0; i < RTE_ETHER_ADDR_LEN; i++)
		if (ea->addr_bytes[i] != 0xff)
			return 0;
	return 1;
}

static inline int
rte_is_local_admin_ether_addr(const struct rte_ether_addr *ea)
{
	return (ea->addr_bytes[0] & RTE_ETHER_LOCAL_ADMIN_ADDR) != 0;
}

static inline int
rte_is_valid_assigned_ether_addr(const struct rte_ether_addr *ea)
{
	return rte_is_unicast_ether_addr(ea) && !rte_is_zero_ether_addr(ea);
}

/* "AA:BB:CC:DD:EE:FF" into buf (size bytes, RTE_ETHER_ADDR_FMT_SIZE for the whole text). */
static inline void
rte_ether_format_addr(char *buf, uint16_t size, const struct rte_ether_addr *eth_addr)
{
	snprintf(buf, size, RTE_ETHER_ADDR_PRT_FMT, RTE_ETHER_ADDR_BYTES(eth_addr));
}

#ifdef __cplusplus
}
#endif

#endif /* RTE_ETHER_H_ */
