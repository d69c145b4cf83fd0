//! The ENA core, as `ena_com` is in Amazon's drivers: everything about the device that is not
//! policy — register access (readless or plain), the two-phase reset, the admin queue, the AENQ,
//! feature discovery, LLQ negotiation, IO queue creation, RSS and statistics commands.
//!
//! # Bring-up (spec §3.4)
//!
//! ```text
//!  readless buffer ─▶ reset(reason) ─▶ VERSION/CONTROLLER_VERSION ≥ 0.0.1 ─▶ CAPS (DMA width)
//!  ─▶ AQ/ACQ/AENQ rings, INTR_MASK = 1 (polling) ─▶ SET HOST_ATTR_CONFIG ─▶ GET DEVICE_ATTRIBUTES
//!  ─▶ GET MAX_QUEUES_EXT (or MAX_QUEUES_NUM) ─▶ GET AENQ_CONFIG, STATELESS_OFFLOAD_CONFIG (both
//!  mandatory) ─▶ GET HW_HINTS, LLQ (optional) ─▶ SET AENQ_CONFIG ─▶ SET LLQ ─▶ AENQ_HEAD_DB = 16
//! ```
//!
//! Everything the device hands back is checked before use: feature values are clamped to what
//! the driver can handle, and a device that breaks the protocol gets an error, not a panic.

pub mod admin;
pub mod aenq;
pub mod regs;

use crate::error::{Error, Result};
use crate::mem::DmaRegion;
use crate::platform::Platform;
use admin::{header, AdminQueue, AdminStats};
use aenq::{Aenq, AenqEvent};
use ena_hw::admin::*;
use ena_hw::aenq::group;
use ena_hw::llq;
use ena_hw::regs::{off, Caps, ControllerVersion, ResetReason, INTR_MASK_MGMNT};
use ena_hw::MemAddr;
use regs::RegReader;
use std::sync::Arc;
use std::time::Duration;
use zerocopy::{FromBytes, IntoBytes};

/// This driver's version, as reported to the device in the host-info page.
pub const DRIVER_VERSION: (u8, u8, u8) = (0, 1, 0);

/// How to choose between LLQ and host TX rings (DPDK's `llq_policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LlqPolicy {
    /// Host-memory TX rings only.
    Disabled,
    /// LLQ with the entry size the device recommends (the default).
    #[default]
    Recommended,
    /// LLQ with 128-byte entries (96 header bytes).
    Normal,
    /// LLQ with 256-byte entries (224 header bytes).
    Large,
}

/// The LLQ configuration in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LlqConfig {
    /// Entry size in bytes.
    pub entry_size: usize,
    /// Descriptors in the first entry before the pushed header.
    pub descs_before_header: usize,
    /// Descriptors per continuation entry.
    pub descs_per_entry: usize,
    /// Header bytes that fit in the first entry.
    pub max_header: usize,
    /// The device wants a meta descriptor on every packet.
    pub disable_meta_caching: bool,
    /// Entries the driver may write between doorbells (LIMIT_TX_BURST).
    pub max_entries_in_burst: Option<usize>,
    /// Deepest TX ring with this entry size.
    pub max_depth: u32,
}

/// What the device offers, as discovered at bring-up (already sanity-checked).
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// VERSION register.
    pub version: u32,
    /// CONTROLLER_VERSION register.
    pub controller_version: u32,
    /// DMA address width in bits.
    pub dma_width: u8,
    /// Permanent MAC address.
    pub mac: [u8; 6],
    /// Largest L3 MTU.
    pub max_mtu: u32,
    /// Feature bitmap (bit N = feature id N).
    pub supported_features: u32,
    /// Capability bitmap.
    pub capabilities: u32,
    /// IO queue pairs available.
    pub max_queues: u32,
    /// Deepest TX ring (host placement; see [`LlqConfig::max_depth`] for LLQ).
    pub max_tx_depth: u32,
    /// Deepest RX ring.
    pub max_rx_depth: u32,
    /// Largest TX header in host mode.
    pub max_tx_header: u32,
    /// Descriptors per TX packet (meta included).
    pub max_tx_descs: u16,
    /// Buffers per RX packet.
    pub max_rx_descs: u16,
    /// TX offload capabilities.
    pub tx_offloads: u32,
    /// RX offload capabilities.
    pub rx_offloads: u32,
    /// AENQ groups supported.
    pub aenq_groups: u32,
    /// Hardware hints (zero fields = driver defaults).
    pub hints: HwHints,
    /// RSS indirection table size, log2 (None: no RSS table feature).
    pub rss_table_log2: Option<u16>,
    /// LLQ offer, when the device has one and BAR2 is mapped.
    pub llq_offer: Option<LlqFeature>,
}

impl DeviceInfo {
    /// Whether a feature id is supported.
    pub fn supports(&self, id: u8) -> bool {
        id < 32 && self.supported_features & (1 << id) != 0
    }
}

/// The AENQ groups this driver enables (∩ what the device supports).
pub const AENQ_GROUPS: u32 = 1 << group::LINK_CHANGE
    | 1 << group::FATAL_ERROR
    | 1 << group::WARNING
    | 1 << group::NOTIFICATION
    | 1 << group::KEEP_ALIVE
    | 1 << group::CONF_NOTIFICATIONS
    | 1 << group::DEVICE_REQUEST_RESET;

/// An initialised ENA device (control path).
pub struct EnaDevice {
    platform: Arc<dyn Platform>,
    regs: RegReader,
    admin: AdminQueue,
    aenq: Aenq,
    info: DeviceInfo,
    llq: Option<LlqConfig>,
    _host_info: DmaRegion,
}

impl EnaDevice {
    /// Brings the device up from any state: reset with `reason`, then the sequence in the module
    /// docs. `llq_policy` chooses the TX placement.
    pub fn init(
        platform: Arc<dyn Platform>,
        reason: ResetReason,
        llq_policy: LlqPolicy,
    ) -> Result<Self> {
        // Before the capabilities are known, reasons ≥ 16 are sent as GENERIC.
        Self::init_with(platform, reason, false, llq_policy)
    }

    /// As [`EnaDevice::init`], for a device already known to take extended reset reasons (a
    /// re-initialisation after an error).
    pub fn init_with(
        platform: Arc<dyn Platform>,
        reason: ResetReason,
        extended_reasons: bool,
        llq_policy: LlqPolicy,
    ) -> Result<Self> {
        let p = platform.as_ref();
        let mut regs = RegReader::new(p, p.readless())?;
        // Reset and identify. A register read that timed out may still be answered, late, into
        // the response buffer this reader frees when bring-up fails: on failure, point the
        // device away from it first (as Linux's ena_com_mmio_reg_read_request_destroy does
        // before freeing).
        let identified = (|| {
            regs::reset_device(p, &mut regs, reason, extended_reasons)?;
            let version = regs.read(p, off::VERSION)?;
            let cv = regs.read(p, off::CONTROLLER_VERSION)?;
            if ControllerVersion(cv).version() < ControllerVersion::MIN_SUPPORTED {
                return Err(Error::Unsupported(format!(
                    "controller version {}.{}.{} is below the minimum 0.0.1",
                    ControllerVersion(cv).major(),
                    ControllerVersion(cv).minor(),
                    ControllerVersion(cv).subminor()
                )));
            }
            let caps = Caps(regs.read(p, off::CAPS)?);
            let dma_width = caps.dma_addr_width();
            if !(32..=48).contains(&dma_width) {
                return Err(Error::Unsupported(format!(
                    "DMA width {dma_width} is outside 32..=48"
                )));
            }
            let sts = ena_hw::regs::DevSts(regs.read(p, off::DEV_STS)?);
            if !sts.ready() {
                return Err(Error::Unsupported("device not ready after reset".into()));
            }
            Ok((version, cv, caps, dma_width))
        })();
        let (version, cv, caps, dma_width) = match identified {
            Ok(v) => v,
            Err(e) => {
                regs.clear_response_address();
                return Err(e);
            }
        };
        let mut admin = AdminQueue::new(p)?;
        if caps.admin_cmd_to() != 0 {
            admin.set_timeout(Duration::from_millis(100 * caps.admin_cmd_to() as u64));
        }
        let aenq = Aenq::new(p)?;
        p.bar0().write32(off::INTR_MASK, INTR_MASK_MGMNT);

        let host_info = p.alloc_dma(4096, 4096)?;
        let mut dev = Self {
            platform: platform.clone(),
            regs,
            admin,
            aenq,
            info: DeviceInfo {
                version,
                controller_version: cv,
                dma_width,
                mac: [0; 6],
                max_mtu: 0,
                supported_features: 0,
                capabilities: 0,
                max_queues: 0,
                max_tx_depth: 0,
                max_rx_depth: 0,
                max_tx_header: 0,
                max_tx_descs: 0,
                max_rx_descs: 0,
                tx_offloads: 0,
                rx_offloads: 0,
                aenq_groups: 0,
                hints: HwHints::default(),
                rss_table_log2: None,
                llq_offer: None,
            },
            llq: None,
            _host_info: host_info,
        };
        let setup = (|| {
            dev.send_host_info();
            dev.discover()?;
            dev.apply_hints();
            dev.configure_aenq()?;
            dev.configure_llq(llq_policy)
        })();
        if let Err(e) = setup {
            // The device knows the admin queue's memory (a timed-out command may still complete
            // into it): reset it before that memory is released, as Linux's probe does on
            // failure with INIT_ERR (torvalds/linux drivers/net/ethernet/amazon/ena/ena_netdev.c).
            let _ = dev.shutdown(ResetReason::InitError);
            return Err(e);
        }
        dev.aenq.enable(p.bar0());
        Ok(dev)
    }

    /// The platform.
    pub fn platform(&self) -> &Arc<dyn Platform> {
        &self.platform
    }

    /// What the device offers.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The LLQ configuration in force (None: host TX rings).
    pub fn llq(&self) -> Option<LlqConfig> {
        self.llq
    }

    /// Whether the admin queue still works.
    pub fn admin_running(&self) -> bool {
        self.admin.running()
    }

    /// Admin queue statistics.
    pub fn admin_stats(&self) -> AdminStats {
        self.admin.stats()
    }

    /// Whether reset reasons ≥ 16 can be sent as they are.
    pub fn extended_reset_reasons(&self) -> bool {
        self.info.capabilities & capability::EXTENDED_RESET_REASONS != 0
    }

    /// Resets the device with `reason` and stops using it (teardown). The readless response
    /// address is cleared afterwards, as the reference drivers do before freeing the buffer.
    pub fn shutdown(mut self, reason: ResetReason) -> Result<()> {
        let ext = self.extended_reset_reasons();
        let p = self.platform.clone();
        let r = regs::reset_device(p.as_ref(), &mut self.regs, reason, ext).map(|_| ());
        self.regs.clear_response_address();
        r
    }

    /// Reads a register (readless or plain).
    pub fn read_reg(&mut self, offset: u32) -> Result<u32> {
        let p = self.platform.clone();
        self.regs.read(p.as_ref(), offset)
    }

    fn execute(&mut self, cmd: &[u8], feature: Option<u8>) -> Result<AcqEntry> {
        let p = self.platform.clone();
        self.admin.execute(p.as_ref(), cmd, feature)
    }

    /// GET_FEATURE; the response value is at the start of the returned 56 bytes.
    pub fn get_feature(
        &mut self,
        id: u8,
        version: u8,
        buf: Option<&DmaRegion>,
    ) -> Result<[u8; 56]> {
        if id != feature::DEVICE_ATTRIBUTES
            && self.info.supported_features != 0
            && !self.info.supports(id)
        {
            return Err(Error::FeatureUnsupported(id));
        }
        let mut cmd = FeatureCmd {
            common: header(opcode::GET_FEATURE),
            ..Default::default()
        };
        if let Some(b) = buf {
            cmd.common.set_ctrl_data_indirect(true);
            cmd.control_buffer = CtrlBuffInfo {
                length: b.len() as u32,
                address: MemAddr::new(b.iova()),
            };
        }
        cmd.feat_common.feature_id = id;
        cmd.feat_common.feature_version = version;
        Ok(self.execute(cmd.as_bytes(), Some(id))?.payload)
    }

    /// SET_FEATURE with `value` as the payload.
    pub fn set_feature(
        &mut self,
        id: u8,
        version: u8,
        value: &[u8],
        buf: Option<&DmaRegion>,
    ) -> Result<()> {
        if id != feature::HOST_ATTR_CONFIG
            && self.info.supported_features != 0
            && !self.info.supports(id)
        {
            return Err(Error::FeatureUnsupported(id));
        }
        let mut cmd = FeatureCmd {
            common: header(opcode::SET_FEATURE),
            ..Default::default()
        };
        if let Some(b) = buf {
            cmd.common.set_ctrl_data_indirect(true);
            cmd.control_buffer = CtrlBuffInfo {
                length: b.len() as u32,
                address: MemAddr::new(b.iova()),
            };
        }
        cmd.feat_common.feature_id = id;
        cmd.feat_common.feature_version = version;
        let n = value.len().min(cmd.payload.len());
        cmd.payload[..n].copy_from_slice(&value[..n]);
        self.execute(cmd.as_bytes(), Some(id)).map(|_| ())
    }

    fn send_host_info(&mut self) {
        let p = self.platform.clone();
        let mut info = HostInfo {
            // A userspace poll-mode driver, as DPDK's is.
            os_type: os_type::DPDK,
            ena_spec_version: ENA_SPEC_VERSION,
            bdf: p.bdf(),
            num_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()) as u16,
            driver_version: DRIVER_VERSION.0 as u32
                | (DRIVER_VERSION.1 as u32) << 8
                | (DRIVER_VERSION.2 as u32) << 16,
            driver_supported_features: host_info_features::RX_OFFSET
                | host_info_features::RSS_CONFIGURABLE_FUNCTION_KEY,
            ..HostInfo::default()
        };
        let name = b"ena-rs";
        info.os_dist_str[..name.len()].copy_from_slice(name);
        info.kernel_ver_str[..name.len()].copy_from_slice(name);
        self._host_info.write_bytes(0, info.as_bytes());
        let attr = HostAttrFeature {
            os_info_ba: MemAddr::new(self._host_info.iova()),
            ..Default::default()
        };
        // Failure is only logged: some devices do not take it (spec §4.6.14).
        if let Err(e) = self.set_feature(feature::HOST_ATTR_CONFIG, 0, attr.as_bytes(), None) {
            tracing::warn!(target: "ena", "host info not accepted: {e}");
        }
    }

    fn discover(&mut self) -> Result<()> {
        let attr = DeviceAttrFeature::read_from_prefix(&self.get_feature(
            feature::DEVICE_ATTRIBUTES,
            0,
            None,
        )?)
        .map(|(v, _)| v)
        .unwrap_or_default();
        self.info.mac = attr.mac_addr;
        self.info.max_mtu = attr.max_mtu;
        self.info.supported_features = attr.supported_features | 1 << feature::DEVICE_ATTRIBUTES;
        self.info.capabilities = attr.capabilities;
        if self.info.supports(feature::MAX_QUEUES_EXT) {
            let q = MaxQueuesExtFeature::read_from_prefix(&self.get_feature(
                feature::MAX_QUEUES_EXT,
                MAX_QUEUES_EXT_VERSION,
                None,
            )?)
            .map(|(v, _)| v)
            .unwrap_or_default();
            if q.version != MAX_QUEUES_EXT_VERSION {
                return Err(Error::Unsupported(format!(
                    "MAX_QUEUES_EXT version {} (expected 1)",
                    q.version
                )));
            }
            self.info.max_queues = [
                q.max_tx_sq_num,
                q.max_tx_cq_num,
                q.max_rx_sq_num,
                q.max_rx_cq_num,
            ]
            .into_iter()
            .min()
            .unwrap_or(0);
            self.info.max_tx_depth = q.max_tx_sq_depth.min(q.max_tx_cq_depth);
            self.info.max_rx_depth = q.max_rx_sq_depth.min(q.max_rx_cq_depth);
            self.info.max_tx_header = q.max_tx_header_size;
            self.info.max_tx_descs = q.max_per_packet_tx_descs;
            self.info.max_rx_descs = q.max_per_packet_rx_descs;
        } else if self.info.supports(feature::MAX_QUEUES_NUM) {
            let q = MaxQueuesFeature::read_from_prefix(&self.get_feature(
                feature::MAX_QUEUES_NUM,
                0,
                None,
            )?)
            .map(|(v, _)| v)
            .unwrap_or_default();
            self.info.max_queues = q.max_sq_num.min(q.max_cq_num);
            self.info.max_tx_depth = q.max_sq_depth.min(q.max_cq_depth);
            self.info.max_rx_depth = self.info.max_tx_depth;
            self.info.max_tx_header = q.max_header_size;
            self.info.max_tx_descs = q.max_packet_tx_descs;
            self.info.max_rx_descs = q.max_packet_rx_descs;
        } else {
            return Err(Error::Unsupported(
                "the device reports no queue limits (MAX_QUEUES_EXT/NUM)".into(),
            ));
        }
        // Clamp what the device says to what the driver's data structures handle.
        self.info.max_queues = self.info.max_queues.min(128);
        self.info.max_tx_depth = prev_pow2(self.info.max_tx_depth.min(32768));
        self.info.max_rx_depth = prev_pow2(self.info.max_rx_depth.min(32768));
        self.info.max_tx_header = self.info.max_tx_header.min(255);
        self.info.max_tx_descs = self.info.max_tx_descs.clamp(2, 19);
        self.info.max_rx_descs = self.info.max_rx_descs.clamp(1, 19);
        if self.info.max_queues == 0 || self.info.max_tx_depth < 64 || self.info.max_rx_depth < 64 {
            return Err(Error::Unsupported(format!(
                "device limits too small: {} queues, TX depth {}, RX depth {}",
                self.info.max_queues, self.info.max_tx_depth, self.info.max_rx_depth
            )));
        }
        let aenq = AenqConfigFeature::read_from_prefix(&self.get_feature(
            feature::AENQ_CONFIG,
            0,
            None,
        )?)
        .map(|(v, _)| v)
        .unwrap_or_default();
        self.info.aenq_groups = aenq.supported_groups;
        let off = OffloadFeature::read_from_prefix(&self.get_feature(
            feature::STATELESS_OFFLOAD_CONFIG,
            0,
            None,
        )?)
        .map(|(v, _)| v)
        .unwrap_or_default();
        self.info.tx_offloads = off.tx;
        self.info.rx_offloads = off.rx_supported;
        if self.info.supports(feature::HW_HINTS) {
            if let Ok(h) = self.get_feature(feature::HW_HINTS, 0, None) {
                self.info.hints = HwHints::read_from_prefix(&h)
                    .map(|(v, _)| v)
                    .unwrap_or_default();
            }
        }
        if self.info.supports(feature::LLQ) && self.platform.bar2().is_some() {
            if let Ok(l) = self.get_feature(feature::LLQ, llq::LLQ_FEATURE_VERSION, None) {
                let l = LlqFeature::read_from_prefix(&l)
                    .map(|(v, _)| v)
                    .unwrap_or_default();
                if l.max_llq_num > 0 {
                    self.info.llq_offer = Some(l);
                }
            }
        }
        if self.info.supports(feature::RSS_INDIRECTION_TABLE_CONFIG) {
            match self.get_feature(feature::RSS_INDIRECTION_TABLE_CONFIG, 1, None) {
                Ok(t) => {
                    let t = RssIndTableFeature::read_from_prefix(&t)
                        .map(|(v, _)| v)
                        .unwrap_or_default();
                    if t.max_size <= 16 && t.min_size <= t.max_size {
                        self.info.rss_table_log2 = Some(t.max_size);
                    }
                }
                Err(e) => tracing::warn!(target: "ena", "RSS table size unavailable: {e}"),
            }
        }
        Ok(())
    }

    fn apply_hints(&mut self) {
        let h = self.info.hints;
        if h.mmio_read_timeout != 0 {
            self.regs
                .set_timeout(Duration::from_millis(h.mmio_read_timeout as u64));
        }
        if h.admin_completion_tx_timeout != 0 {
            self.admin
                .set_timeout(Duration::from_millis(h.admin_completion_tx_timeout as u64));
        }
    }

    fn configure_aenq(&mut self) -> Result<()> {
        let groups = AENQ_GROUPS & self.info.aenq_groups;
        let v = AenqConfigFeature {
            supported_groups: 0,
            enabled_groups: groups,
        };
        self.set_feature(feature::AENQ_CONFIG, 0, v.as_bytes(), None)
    }

    /// LLQ negotiation (spec §7.2): inline header, several descriptors per entry, 2 descriptors
    /// before the header, the entry size from the policy, both acceleration flags when offered.
    fn configure_llq(&mut self, policy: LlqPolicy) -> Result<()> {
        let Some(offer) = self.info.llq_offer else {
            return Ok(());
        };
        if policy == LlqPolicy::Disabled {
            return Ok(());
        }
        if offer.header_location_ctrl_supported & llq::HEADER_LOCATION_INLINE == 0 {
            tracing::warn!(target: "ena", "LLQ without inline headers; using host TX rings");
            return Ok(());
        }
        let want_large = match policy {
            LlqPolicy::Large => true,
            LlqPolicy::Normal => false,
            _ => offer.entry_size_recommended as u16 == llq::ENTRY_SIZE_256,
        };
        let entry_bit = if want_large && offer.entry_size_ctrl_supported & llq::ENTRY_SIZE_256 != 0
        {
            llq::ENTRY_SIZE_256
        } else if offer.entry_size_ctrl_supported & llq::ENTRY_SIZE_128 != 0 {
            llq::ENTRY_SIZE_128
        } else if offer.entry_size_ctrl_supported & llq::ENTRY_SIZE_192 != 0 {
            llq::ENTRY_SIZE_192
        } else if offer.entry_size_ctrl_supported & llq::ENTRY_SIZE_256 != 0 {
            llq::ENTRY_SIZE_256
        } else {
            tracing::warn!(target: "ena", "LLQ offers no usable entry size; using host TX rings");
            return Ok(());
        };
        let entry_size = llq::entry_size_bytes(entry_bit).unwrap_or(128);
        let stride = if offer.descriptors_stride_ctrl_supported
            & llq::STRIDE_MULTIPLE_DESCS_PER_ENTRY
            != 0
        {
            llq::STRIDE_MULTIPLE_DESCS_PER_ENTRY
        } else {
            llq::STRIDE_SINGLE_DESC_PER_ENTRY
        };
        let dbh = [2u16, 1, 4, 8]
            .into_iter()
            .find(|c| offer.desc_num_before_header_supported & c != 0)
            .unwrap_or(0);
        if dbh == 0 || dbh as usize * 16 >= entry_size {
            tracing::warn!(target: "ena", "LLQ offers no usable descriptors-before-header count; using host TX rings");
            return Ok(());
        }
        let accel =
            offer.accel_mode_flags & (llq::ACCEL_DISABLE_META_CACHING | llq::ACCEL_LIMIT_TX_BURST);
        let set = LlqFeature {
            header_location_ctrl_enabled: llq::HEADER_LOCATION_INLINE,
            entry_size_ctrl_enabled: entry_bit,
            desc_num_before_header_enabled: dbh,
            descriptors_stride_ctrl_enabled: stride,
            accel_mode_flags: accel,
            ..Default::default()
        };
        self.set_feature(feature::LLQ, 0, set.as_bytes(), None)?;
        let mut max_depth = prev_pow2(offer.max_llq_depth.min(self.info.max_tx_depth));
        if entry_size > 128 {
            max_depth = if offer.max_wide_llq_depth != 0 {
                prev_pow2(offer.max_wide_llq_depth as u32)
            } else {
                max_depth / 2
            };
        }
        let burst = (accel & llq::ACCEL_LIMIT_TX_BURST != 0 && offer.max_tx_burst_size != 0)
            .then(|| (offer.max_tx_burst_size as usize / entry_size).max(1));
        self.llq = Some(LlqConfig {
            entry_size,
            descs_before_header: dbh as usize,
            descs_per_entry: if stride == llq::STRIDE_MULTIPLE_DESCS_PER_ENTRY {
                entry_size / 16
            } else {
                1
            },
            max_header: entry_size - dbh as usize * 16,
            disable_meta_caching: accel & llq::ACCEL_DISABLE_META_CACHING != 0,
            max_entries_in_burst: burst,
            max_depth: max_depth.min(offer.max_llq_depth),
        });
        Ok(())
    }

    /// Consumes waiting AENQ events.
    pub fn poll_aenq(&mut self, out: &mut Vec<AenqEvent>) -> usize {
        let bar0 = self.platform.bar0().clone();
        self.aenq.poll(&bar0, out)
    }

    /// Whether an AENQ event is waiting unconsumed.
    pub fn aenq_pending(&self) -> bool {
        self.aenq.pending()
    }

    // ----- IO queues -----

    /// CREATE_CQ with `entry_words` 32-bit words per entry over `ring`; no interrupt vector.
    pub fn create_cq(
        &mut self,
        depth: u16,
        entry_words: u8,
        ring: &DmaRegion,
    ) -> Result<CreateCqResp> {
        let mut cmd = CreateCqCmd {
            common: header(opcode::CREATE_CQ),
            ..Default::default()
        };
        cmd.set_interrupt_mode_enabled(true);
        cmd.set_entry_size_words(entry_words);
        cmd.cq_depth = depth;
        cmd.msix_vector = MSIX_VECTOR_NONE;
        cmd.cq_ba = MemAddr::new(ring.iova());
        let e = self.execute(cmd.as_bytes(), None)?;
        Ok(response(&e))
    }

    /// CREATE_SQ in `direction` with `placement`, completing into `cq_idx`.
    pub fn create_sq(
        &mut self,
        direction: u8,
        placement: u8,
        cq_idx: u16,
        depth: u16,
        ring_iova: u64,
    ) -> Result<CreateSqResp> {
        let mut cmd = CreateSqCmd {
            common: header(opcode::CREATE_SQ),
            ..Default::default()
        };
        cmd.set_direction(direction);
        cmd.set_placement_policy(placement);
        cmd.set_completion_policy(0);
        cmd.set_is_physically_contiguous(true);
        cmd.cq_idx = cq_idx;
        cmd.sq_depth = depth;
        cmd.sq_ba = MemAddr::new(ring_iova);
        let e = self.execute(cmd.as_bytes(), None)?;
        Ok(response(&e))
    }

    /// DESTROY_SQ.
    pub fn destroy_sq(&mut self, direction: u8, sq_idx: u16) -> Result<()> {
        let mut cmd = DestroySqCmd {
            common: header(opcode::DESTROY_SQ),
            sq_idx,
            ..Default::default()
        };
        cmd.set_direction(direction);
        self.execute(cmd.as_bytes(), None).map(|_| ())
    }

    /// DESTROY_CQ.
    pub fn destroy_cq(&mut self, cq_idx: u16) -> Result<()> {
        let cmd = DestroyCqCmd {
            common: header(opcode::DESTROY_CQ),
            cq_idx,
            reserved: 0,
        };
        self.execute(cmd.as_bytes(), None).map(|_| ())
    }

    // ----- configuration -----

    /// SET MTU (L3).
    pub fn set_mtu(&mut self, mtu: u32) -> Result<()> {
        self.set_feature(feature::MTU, 0, MtuFeature { mtu }.as_bytes(), None)
    }

    /// SET RSS_HASH_FUNCTION: Toeplitz with `init_val` and, if given, the key as the device
    /// should store it.
    pub fn set_rss_function(
        &mut self,
        device_key: Option<&[u8; RSS_KEY_LEN]>,
        init_val: u32,
    ) -> Result<()> {
        let buf = self
            .platform
            .alloc_dma(std::mem::size_of::<RssHashKey>(), 64)?;
        // GET first: the device writes its current key, which is sent back when none is given.
        self.get_feature(feature::RSS_HASH_FUNCTION, 0, Some(&buf))?;
        if let Some(k) = device_key {
            let key = RssHashKey {
                key_parts: RSS_KEY_PARTS as u32,
                reserved: 0,
                key: *k,
            };
            buf.write_bytes(0, key.as_bytes());
        }
        let v = RssHashFunctionFeature {
            supported_func: 0,
            selected_func: 1 << hash_func::TOEPLITZ,
            init_val,
        };
        self.set_feature(feature::RSS_HASH_FUNCTION, 0, v.as_bytes(), Some(&buf))
    }

    /// The device's current RSS key (as stored by the device) and init value.
    pub fn get_rss_function(&mut self) -> Result<([u8; RSS_KEY_LEN], u32)> {
        let buf = self
            .platform
            .alloc_dma(std::mem::size_of::<RssHashKey>(), 64)?;
        let r = self.get_feature(feature::RSS_HASH_FUNCTION, 0, Some(&buf))?;
        let f = RssHashFunctionFeature::read_from_prefix(&r)
            .map(|(v, _)| v)
            .unwrap_or_default();
        let mut k = RssHashKey::default();
        buf.read_bytes(0, k.as_mut_bytes());
        Ok((k.key, f.init_val))
    }

    /// SET RSS_INDIRECTION_TABLE_CONFIG with device RX SQ indices.
    pub fn set_rss_table(&mut self, entries: &[u16]) -> Result<()> {
        let log2 = entries.len().trailing_zeros() as u16;
        if !entries.len().is_power_of_two() || Some(log2) != self.info.rss_table_log2 {
            return Err(Error::Config(format!(
                "RSS table of {} entries (the device wants {:?})",
                entries.len(),
                self.info.rss_table_log2.map(|l| 1 << l)
            )));
        }
        let buf = self.platform.alloc_dma(entries.len() * 4, 64)?;
        for (i, q) in entries.iter().enumerate() {
            buf.write_bytes(
                i * 4,
                RssIndTableEntry {
                    cq_idx: *q,
                    reserved: 0,
                }
                .as_bytes(),
            );
        }
        let v = RssIndTableFeature {
            size: log2,
            inline_index: RSS_INLINE_INDEX_NONE,
            ..Default::default()
        };
        self.set_feature(
            feature::RSS_INDIRECTION_TABLE_CONFIG,
            0,
            v.as_bytes(),
            Some(&buf),
        )
    }

    /// GET_STATS of `type_`; the value is at the start of the returned 56 bytes.
    pub fn get_stats(&mut self, type_: u8) -> Result<[u8; 56]> {
        let cmd = GetStatsCmd {
            common: header(opcode::GET_STATS),
            type_,
            ..Default::default()
        };
        Ok(self.execute(cmd.as_bytes(), None)?.payload)
    }

    /// Basic device statistics.
    pub fn basic_stats(&mut self) -> Result<BasicStats> {
        Ok(
            BasicStats::read_from_prefix(&self.get_stats(stats_type::BASIC)?)
                .map(|(v, _)| v)
                .unwrap_or_default(),
        )
    }

    /// ENI allowance statistics, if the device has them.
    pub fn eni_stats(&mut self) -> Result<Option<EniStats>> {
        if self.info.capabilities & capability::ENI_STATS == 0 {
            return Ok(None);
        }
        Ok(Some(
            EniStats::read_from_prefix(&self.get_stats(stats_type::ENI)?)
                .map(|(v, _)| v)
                .unwrap_or_default(),
        ))
    }
}

/// Decodes a create response (declared with its 8-byte completion header).
fn response<T: FromBytes + IntoBytes>(e: &AcqEntry) -> T {
    let mut v = T::new_zeroed();
    let b = v.as_mut_bytes();
    let n = b.len().min(64);
    b[..n].copy_from_slice(&e.as_bytes()[..n]);
    v
}

fn prev_pow2(v: u32) -> u32 {
    if v == 0 {
        0
    } else {
        1 << (31 - v.leading_zeros())
    }
}
