//! What a simulated device offers: identity, limits, features, LLQ, offloads.
//!
//! The defaults follow the example configuration in the project's device reference (§14.1): a
//! coherent device both reference drivers accept, shaped like a current Nitro ENA VF — 8 queue
//! pairs, TX rings up to 1024, RX rings up to 16K, LLQ with 128- and 256-byte entries, IPv4/IPv6
//! checksum offload, IPv4 TSO, Toeplitz RSS with a writable key and a 128-entry table.

use ena_hw::admin::{capability, feature, offload, HwHints};
use ena_hw::aenq::group;
use ena_hw::llq;
use std::time::Duration;

/// The LLQ (device-memory TX ring) offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LlqOffer {
    /// Number of LLQs.
    pub max_llq_num: u32,
    /// Maximum depth with 128-byte entries.
    pub max_llq_depth: u32,
    /// Entry sizes offered (`ena_hw::llq::ENTRY_SIZE_*` bits).
    pub entry_sizes: u16,
    /// Recommended entry size (one `ENTRY_SIZE_*` bit).
    pub entry_size_recommended: u16,
    /// Maximum depth with 256-byte entries (0: the driver halves the depth).
    pub max_wide_llq_depth: u16,
    /// Descriptors-before-header counts offered (bitmask of the counts 1, 2, 4, 8).
    pub descs_before_header: u16,
    /// Descriptor strides offered.
    pub strides: u16,
    /// Acceleration flags offered (`ACCEL_DISABLE_META_CACHING`, `ACCEL_LIMIT_TX_BURST`).
    pub accel_flags: u16,
    /// Maximum bytes of LLQ entries between two doorbells (with `ACCEL_LIMIT_TX_BURST`).
    pub max_tx_burst_size: u16,
}

impl Default for LlqOffer {
    fn default() -> Self {
        Self {
            max_llq_num: 8,
            max_llq_depth: 1024,
            entry_sizes: llq::ENTRY_SIZE_128 | llq::ENTRY_SIZE_256,
            entry_size_recommended: llq::ENTRY_SIZE_128,
            max_wide_llq_depth: 512,
            descs_before_header: llq::DESCS_BEFORE_HEADER_2,
            strides: llq::STRIDE_MULTIPLE_DESCS_PER_ENTRY | llq::STRIDE_SINGLE_DESC_PER_ENTRY,
            accel_flags: llq::ACCEL_DISABLE_META_CACHING | llq::ACCEL_LIMIT_TX_BURST,
            max_tx_burst_size: 4096,
        }
    }
}

impl LlqOffer {
    /// Bytes of BAR2 this offer needs: every LLQ gets a window of `max_llq_depth` 128-byte
    /// entries (a wide queue uses the same window with half the depth).
    pub fn bar2_size(&self) -> usize {
        (self.max_llq_num as usize * self.max_llq_depth as usize * 128).next_power_of_two()
    }
}

/// Which counter a packet dropped for lack of an RX buffer goes to. Amazon's DPDK PMD notes that
/// the device "updates a different statistic" depending on its acceleration support; PMD
/// v2.7.0 (DPDK 22.11) reads only `rx_drops`, later versions add `rx_overruns`
/// (DPDK commit dae29f7565).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RxNoBufferCounter {
    /// `rx_overruns`, as devices with acceleration support count it (the default).
    #[default]
    Overruns,
    /// `rx_drops`, as older devices count it.
    Drops,
}

/// A simulated device's configuration.
#[derive(Clone, Debug)]
pub struct DeviceConfig {
    /// MAC address reported in DEVICE_ATTRIBUTES.
    pub mac: [u8; 6],
    /// L3 MTU the device starts with (and returns to after reset).
    pub mtu: u32,
    /// Largest L3 MTU accepted by SET MTU.
    pub max_mtu: u32,
    /// Smallest L3 MTU accepted by SET MTU.
    pub min_mtu: u32,
    /// VERSION register.
    pub version: u32,
    /// CONTROLLER_VERSION register.
    pub controller_version: u32,
    /// CAPS.dma_addr_width.
    pub dma_addr_width: u8,
    /// CAPS.reset_timeout (100 ms units, per reset phase).
    pub reset_timeout: u8,
    /// CAPS.admin_cmd_to (100 ms units; 0 = driver default).
    pub admin_cmd_timeout: u8,
    /// DEVICE_ATTRIBUTES.supported_features.
    pub supported_features: u32,
    /// DEVICE_ATTRIBUTES.capabilities.
    pub capabilities: u32,
    /// Queues of each kind (TX SQ/CQ, RX SQ/CQ).
    pub max_queues: u32,
    /// Deepest TX ring (host placement).
    pub max_tx_depth: u32,
    /// Deepest RX ring.
    pub max_rx_depth: u32,
    /// Largest TX header (host mode).
    pub max_tx_header_size: u32,
    /// Descriptors per TX packet, meta descriptor included.
    pub max_tx_descs_per_packet: u16,
    /// Descriptors (buffers) per RX packet.
    pub max_rx_descs_per_packet: u16,
    /// LLQ offer; `None` means no LLQ (host TX rings only, no BAR2).
    pub llq: Option<LlqOffer>,
    /// STATELESS_OFFLOAD_CONFIG tx bits.
    pub tx_offloads: u32,
    /// STATELESS_OFFLOAD_CONFIG rx_supported bits.
    pub rx_offloads: u32,
    /// AENQ groups supported.
    pub aenq_groups: u32,
    /// HW_HINTS answer.
    pub hw_hints: HwHints,
    /// INTERRUPT_MODERATION resolution (µs).
    pub intr_delay_resolution: u16,
    /// Whether the RSS hash input fields can be changed (feature 18). Current hardware: no.
    pub rss_hash_input_configurable: bool,
    /// log2 of the RSS indirection table size.
    pub rss_table_log2: u16,
    /// MSI-X vectors (1 management + IO).
    pub msix_vectors: u32,
    /// Interval between KEEP_ALIVE events.
    pub keep_alive_interval: Duration,
    /// Offset at which received packets start in the first buffer (RX completion `offset`).
    pub rx_offset: u8,
    /// Packets per second the instance may send before TX packets are dropped and counted in
    /// `pps_allowance_exceeded` (EC2's per-ENI allowance); `None` = unlimited.
    pub pps_allowance: Option<u64>,
    /// BAR0 size in bytes.
    pub bar0_size: usize,
    /// Where packets dropped for lack of an RX buffer are counted.
    pub rx_no_buffer_counter: RxNoBufferCounter,
}

/// Features offered by default: DEVICE_ATTRIBUTES, HW_HINTS, LLQ, MAX_QUEUES_EXT,
/// RSS_HASH_FUNCTION, STATELESS_OFFLOAD_CONFIG, RSS_INDIRECTION_TABLE_CONFIG, MTU,
/// INTERRUPT_MODERATION, AENQ_CONFIG, HOST_ATTR_CONFIG (0x14105C9A, as spec §14.1).
pub const DEFAULT_FEATURES: u32 = 1 << feature::DEVICE_ATTRIBUTES
    | 1 << feature::HW_HINTS
    | 1 << feature::LLQ
    | 1 << feature::MAX_QUEUES_EXT
    | 1 << feature::RSS_HASH_FUNCTION
    | 1 << feature::STATELESS_OFFLOAD_CONFIG
    | 1 << feature::RSS_INDIRECTION_TABLE_CONFIG
    | 1 << feature::MTU
    | 1 << feature::INTERRUPT_MODERATION
    | 1 << feature::AENQ_CONFIG
    | 1 << feature::HOST_ATTR_CONFIG;

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            mac: [0x02, 0x00, 0x00, 0xe4, 0xa0, 0x01],
            mtu: 1500,
            max_mtu: 9216,
            min_mtu: 68,
            version: 0x0000_000a,
            controller_version: 0x0100_0001,
            dma_addr_width: 48,
            reset_timeout: 10,
            admin_cmd_timeout: 0,
            supported_features: DEFAULT_FEATURES,
            capabilities: capability::ENI_STATS
                | capability::EXTENDED_RESET_REASONS
                | capability::CDESC_MBZ,
            max_queues: 8,
            max_tx_depth: 1024,
            max_rx_depth: 16384,
            // Must fit in 8 bits: DPDK 22.11 keeps it in a u8 (256 wraps to 0 and breaks host
            // placement; found by the conformance rig).
            max_tx_header_size: 128,
            max_tx_descs_per_packet: 19,
            max_rx_descs_per_packet: 19,
            llq: Some(LlqOffer::default()),
            tx_offloads: offload::TX_L3_CSUM_IPV4
                | offload::TX_L4_IPV4_CSUM_PART
                | offload::TX_L4_IPV4_CSUM_FULL
                | offload::TX_L4_IPV6_CSUM_PART
                | offload::TX_L4_IPV6_CSUM_FULL
                | offload::TX_TSO_IPV4,
            rx_offloads: offload::RX_L3_CSUM_IPV4
                | offload::RX_L4_IPV4_CSUM
                | offload::RX_L4_IPV6_CSUM
                | offload::RX_HASH,
            aenq_groups: 1 << group::LINK_CHANGE
                | 1 << group::FATAL_ERROR
                | 1 << group::WARNING
                | 1 << group::NOTIFICATION
                | 1 << group::KEEP_ALIVE
                | 1 << group::CONF_NOTIFICATIONS
                | 1 << group::DEVICE_REQUEST_RESET,
            hw_hints: HwHints::default(),
            intr_delay_resolution: 1,
            rss_hash_input_configurable: false,
            rss_table_log2: 7,
            msix_vectors: 9,
            keep_alive_interval: Duration::from_secs(1),
            rx_offset: 0,
            pps_allowance: None,
            bar0_size: 16 * 1024,
            rx_no_buffer_counter: RxNoBufferCounter::Overruns,
        }
    }
}

impl DeviceConfig {
    /// The configuration without LLQ (host-memory TX rings only).
    pub fn without_llq(mut self) -> Self {
        self.llq = None;
        self.supported_features &= !(1 << feature::LLQ);
        self
    }

    /// Sets the number of queue pairs (and MSI-X vectors to match).
    pub fn with_queues(mut self, queues: u32) -> Self {
        self.max_queues = queues.clamp(1, 128);
        self.msix_vectors = self.max_queues + 1;
        if let Some(llq) = &mut self.llq {
            llq.max_llq_num = self.max_queues;
        }
        self
    }

    /// Whether a feature id is advertised.
    pub fn supports(&self, feature_id: u8) -> bool {
        feature_id < 32 && self.supported_features & (1 << feature_id) != 0
    }

    /// BAR2 size (0 when there is no LLQ).
    pub fn bar2_size(&self) -> usize {
        self.llq.as_ref().map_or(0, LlqOffer::bar2_size)
    }

    /// The CAPS register value.
    pub fn caps(&self) -> u32 {
        let mut c = ena_hw::regs::Caps(0);
        c.set_reset_timeout(self.reset_timeout);
        c.set_dma_addr_width(self.dma_addr_width);
        c.set_admin_cmd_to(self.admin_cmd_timeout);
        c.0
    }
}
