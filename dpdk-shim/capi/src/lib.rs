//! DPDK's C API over dpdk-shim (being written).
