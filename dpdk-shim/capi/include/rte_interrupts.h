/*
 * dpdk-shim C API: interrupts (DPDK's rte_interrupts.h). The shim's ports are polled and their
 * events handled by the EAL's control thread; there is no interrupt API. Present because
 * applications include it.
 *
 * Part of ena-rs (dpdk-shim/capi); see rte_config.h.
 */
#ifndef RTE_INTERRUPTS_H_
#define RTE_INTERRUPTS_H_

#include <rte_common.h>

#endif /* RTE_INTERRUPTS_H_ */
