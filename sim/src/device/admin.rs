//! Admin queue: command processing, features and statistics (spec §4).
//!
//! The driver writes commands into its AQ ring and rings `AQ_DB` with its free-running 16-bit
//! tail. The device consumes slots from its own head up to that tail, checks each slot's phase,
//! reads only the bytes that belong to the opcode (the rest of a slot is stale), and writes one
//! completion per command into the ACQ: body first, then the flags byte holding the phase, with
//! release ordering. Completions are strictly in order. Then vector 0 fires if unmasked.

use super::{pow2_in, Device};
use crate::events::Event;
use ena_hw::admin::*;
use ena_hw::llq;
use ena_hw::regs::{off, QueueCaps};
use ena_hw::MemAddr;
use std::time::Duration;
use zerocopy::{FromBytes, IntoBytes};

/// Admin queue state (forgotten by a reset).
#[derive(Debug, Default)]
pub(super) struct AdminState {
    configured: bool,
    aq_base: u64,
    aq_depth: u16,
    acq_base: u64,
    acq_depth: u16,
    /// Commands consumed (free-running, compared with the doorbell).
    sq_head: u16,
    /// Completions written (free-running).
    acq_tail: u16,
    /// A delay fault holds the command at `sq_head` until this time.
    hold_until: Option<Duration>,
}

/// The LLQ configuration the driver chose with SET LLQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LlqActive {
    /// Entry size in bytes.
    pub entry_size: usize,
    /// Descriptors in the first entry before the pushed header.
    pub descs_before_header: usize,
    /// Descriptors per continuation entry.
    pub descs_per_entry: usize,
    /// Enabled acceleration flags.
    pub accel_flags: u16,
}

impl LlqActive {
    /// Largest header the driver can push (entry size minus the leading descriptors).
    pub fn max_header(&self) -> usize {
        self.entry_size - self.descs_before_header * 16
    }
}

/// An admin command's outcome: status and response payload (bytes 8..64 of the ACQ entry).
struct Outcome {
    status: u8,
    payload: [u8; 56],
}

impl Outcome {
    fn status(status: u8) -> Self {
        Self {
            status,
            payload: [0; 56],
        }
    }
    fn ok() -> Self {
        Self::status(status::SUCCESS)
    }
    /// Success with a response value placed at the start of the payload.
    fn with<T: IntoBytes + zerocopy::Immutable>(value: &T) -> Self {
        let mut o = Self::ok();
        let b = value.as_bytes();
        o.payload[..b.len()].copy_from_slice(b);
        o
    }
}

fn mem(addr: MemAddr) -> u64 {
    addr.get()
}

/// Reads a command structure from the front of a 64-byte slot.
fn parse<T: FromBytes>(slot: &[u8; 64]) -> T {
    // Every admin command type is at most 64 bytes, so the prefix read cannot fail.
    T::read_from_prefix(slot)
        .map(|(v, _)| v)
        .unwrap_or_else(|_| T::new_zeroed())
}

impl Device {
    /// Processes the admin commands the driver has rung in.
    pub(super) fn admin_poll(&mut self) -> bool {
        let tail = self.bar0.read32(off::AQ_DB) as u16;
        if tail == self.admin.sq_head {
            return false;
        }
        if !self.admin.configured && !self.admin_configure() {
            return false;
        }
        let mut work = false;
        while self.admin.sq_head != tail {
            let outstanding = tail.wrapping_sub(self.admin.sq_head);
            if outstanding > self.admin.aq_depth {
                self.malformed(format!(
                    "AQ doorbell {tail} is {outstanding} commands ahead of a {}-deep queue",
                    self.admin.aq_depth
                ));
                self.admin.sq_head = tail.wrapping_sub(self.admin.aq_depth);
            }
            if let Some(until) = self.admin.hold_until {
                self.now = self.clock.now();
                if self.now < until {
                    return work;
                }
            }
            work = true;
            let slot_idx = self.admin.sq_head & (self.admin.aq_depth - 1);
            let mut slot = [0u8; 64];
            if let Err(e) = self
                .dma
                .read(self.admin.aq_base + slot_idx as u64 * 64, &mut slot)
            {
                self.dma_miss(e);
                self.admin.sq_head = self.admin.sq_head.wrapping_add(1);
                continue;
            }
            let common: AqCommonDesc = parse(&slot);
            let expected_phase = (self.admin.sq_head / self.admin.aq_depth).is_multiple_of(2);
            let opcode = common.opcode;
            let feature_id =
                matches!(opcode, opcode::GET_FEATURE | opcode::SET_FEATURE).then_some(slot[17]);

            // Faults apply once per command; a delayed command is processed when the hold ends.
            if self.admin.hold_until.take().is_none() && self.active.admin_delay.hit(opcode) {
                self.admin.hold_until = Some(self.clock.now() + self.active.admin_delay_by);
                continue;
            }
            self.admin.sq_head = self.admin.sq_head.wrapping_add(1);
            if self.active.admin_timeout.hit(opcode) {
                self.events.push(
                    self.now,
                    Event::Admin {
                        opcode,
                        feature: feature_id,
                        status: None,
                    },
                );
                continue;
            }
            let outcome = if common.phase() != expected_phase {
                self.malformed(format!(
                    "admin slot {slot_idx} has phase {} (expected {expected_phase})",
                    common.phase()
                ));
                Outcome::status(status::MALFORMED_REQUEST)
            } else if self.active.admin_error.hit(opcode) {
                Outcome::status(self.active.admin_error_status)
            } else {
                self.admin_execute(opcode, &slot)
            };
            self.events.push(
                self.now,
                Event::Admin {
                    opcode,
                    feature: feature_id,
                    status: Some(outcome.status),
                },
            );
            self.admin_complete(common.cmd_id(), &outcome);
        }
        work
    }

    /// Reads the AQ/ACQ registers the first time the driver rings after a reset.
    fn admin_configure(&mut self) -> bool {
        let aq_caps = QueueCaps(self.bar0.read32(off::AQ_CAPS));
        let acq_caps = QueueCaps(self.bar0.read32(off::ACQ_CAPS));
        let aq_base = self.bar0.read32(off::AQ_BASE_LO) as u64
            | (self.bar0.read32(off::AQ_BASE_HI) as u64) << 32;
        let acq_base = self.bar0.read32(off::ACQ_BASE_LO) as u64
            | (self.bar0.read32(off::ACQ_BASE_HI) as u64) << 32;
        let ok_caps =
            |c: QueueCaps| c.depth().is_power_of_two() && c.entry_size() as usize == AQ_ENTRY_SIZE;
        if !ok_caps(aq_caps)
            || !ok_caps(acq_caps)
            || aq_base == 0
            || acq_base == 0
            || !aq_base.is_multiple_of(8)
            || !acq_base.is_multiple_of(8)
        {
            self.malformed(format!(
                "admin queue rung before it was configured: AQ {aq_base:#x} caps {:#x}, ACQ {acq_base:#x} caps {:#x}",
                aq_caps.0, acq_caps.0
            ));
            // Swallow the doorbell so it is not re-reported every poll.
            self.admin.sq_head = self.bar0.read32(off::AQ_DB) as u16;
            return false;
        }
        self.admin = AdminState {
            configured: true,
            aq_base,
            aq_depth: aq_caps.depth(),
            acq_base,
            acq_depth: acq_caps.depth(),
            ..AdminState::default()
        };
        true
    }

    fn admin_complete(&mut self, cmd_id: u16, outcome: &Outcome) {
        self.publish_view();
        let idx = self.admin.acq_tail & (self.admin.acq_depth - 1);
        let phase = (self.admin.acq_tail / self.admin.acq_depth).is_multiple_of(2);
        let addr = self.admin.acq_base + idx as u64 * 64;
        self.admin.acq_tail = self.admin.acq_tail.wrapping_add(1);
        let mut entry = AcqEntry::default();
        entry.common.set_cmd_id(cmd_id);
        entry.common.status = outcome.status;
        entry.common.sq_head_indx = self.admin.sq_head;
        entry.payload = outcome.payload;
        let bytes = entry.as_bytes();
        // Body first (bytes 0..3 and 4..64), flags byte (phase) last.
        let r = self
            .dma
            .write(addr, &bytes[..3])
            .and_then(|_| self.dma.write(addr + 4, &bytes[4..]))
            .and_then(|_| self.dma.store_u8_release(addr + 3, phase as u8));
        if let Err(e) = r {
            self.dma_miss(e);
            return;
        }
        self.counters.admin_commands += 1;
        self.lifetime.admin_commands += 1;
        self.dirty_stats = true;
        self.view_dirty = true;
        self.raise_management();
    }

    fn admin_execute(&mut self, opcode: u8, slot: &[u8; 64]) -> Outcome {
        match opcode {
            opcode::CREATE_SQ => self.cmd_create_sq(&parse(slot)),
            opcode::DESTROY_SQ => self.cmd_destroy_sq(&parse(slot)),
            opcode::CREATE_CQ => self.cmd_create_cq(&parse(slot)),
            opcode::DESTROY_CQ => self.cmd_destroy_cq(&parse(slot)),
            opcode::GET_FEATURE => self.cmd_get_feature(&parse(slot)),
            opcode::SET_FEATURE => self.cmd_set_feature(&parse(slot)),
            opcode::GET_STATS => self.cmd_get_stats(&parse(slot)),
            _ => {
                self.malformed(format!("unknown admin opcode {opcode}"));
                Outcome::status(status::BAD_OPCODE)
            }
        }
    }

    // ----- queues -----

    fn cmd_create_cq(&mut self, cmd: &CreateCqCmd) -> Outcome {
        let words = cmd.entry_size_words();
        let depth = cmd.cq_depth as u32;
        let max_depth = self.cfg.max_rx_depth.max(self.cfg.max_tx_depth);
        let base = mem(cmd.cq_ba);
        if !matches!(words, 2 | 4 | 8)
            || !pow2_in(depth, 4, max_depth)
            || base == 0
            || !base.is_multiple_of(8)
        {
            self.malformed(format!(
                "CREATE_CQ: entry {words} words, depth {depth}, base {base:#x}"
            ));
            return Outcome::status(status::ILLEGAL_PARAMETER);
        }
        if cmd.msix_vector != MSIX_VECTOR_NONE && cmd.msix_vector >= self.cfg.msix_vectors {
            return Outcome::status(status::ILLEGAL_PARAMETER);
        }
        // The whole ring must be reachable; a miss here is a driver bug worth reporting loudly.
        let ring_len = depth as usize * words as usize * 4;
        if let Err(e) = self
            .dma
            .read(base, &mut [0])
            .and_then(|_| self.dma.read(base + ring_len as u64 - 1, &mut [0]))
        {
            self.dma_miss(e);
            return Outcome::status(status::ILLEGAL_PARAMETER);
        }
        let Some(idx) = self
            .io
            .create_cq(base, depth, words as usize * 4, cmd.msix_vector)
        else {
            return Outcome::status(status::RESOURCE_ALLOCATION_FAILURE);
        };
        self.bar0.write32(super::CQ_UNMASK_BASE + 4 * idx as u32, 0);
        self.bar0.write32(super::CQ_NUMA_BASE + 4 * idx as u32, 0);
        self.events.push(
            self.now,
            Event::QueueCreated {
                kind: "cq",
                idx,
                depth,
            },
        );
        Outcome::with(&CreateCqResp {
            common: AcqCommonDesc::default(),
            cq_idx: idx,
            cq_actual_depth: depth as u16,
            numa_node_register_offset: super::CQ_NUMA_BASE + 4 * idx as u32,
            cq_head_db_register_offset: 0,
            cq_interrupt_unmask_register_offset: super::CQ_UNMASK_BASE + 4 * idx as u32,
        })
        .shift_response()
    }

    fn cmd_destroy_cq(&mut self, cmd: &DestroyCqCmd) -> Outcome {
        match self.io.destroy_cq(cmd.cq_idx) {
            Ok(()) => {
                self.events.push(
                    self.now,
                    Event::QueueDestroyed {
                        kind: "cq",
                        idx: cmd.cq_idx,
                    },
                );
                Outcome::ok()
            }
            Err(status) => {
                self.malformed(format!("DESTROY_CQ {}: status {status}", cmd.cq_idx));
                Outcome::status(status)
            }
        }
    }

    fn cmd_create_sq(&mut self, cmd: &CreateSqCmd) -> Outcome {
        let dir = cmd.direction();
        let depth = cmd.sq_depth as u32;
        let placement = cmd.placement_policy();
        let base = mem(cmd.sq_ba);
        let bad = |what: String, dev: &mut Device| {
            dev.malformed(format!("CREATE_SQ: {what}"));
            Outcome::status(status::ILLEGAL_PARAMETER)
        };
        if cmd.completion_policy() != 0 {
            return bad(
                format!(
                    "completion policy {} (only 0 is modelled)",
                    cmd.completion_policy()
                ),
                self,
            );
        }
        let llq = match (dir, placement) {
            (direction::TX, placement::HOST) | (direction::RX, placement::HOST) => None,
            (direction::TX, placement::DEVICE) => match self.feat.llq {
                Some(l) => Some(l),
                None => return bad("device placement without SET LLQ".into(), self),
            },
            _ => return bad(format!("direction {dir} with placement {placement}"), self),
        };
        let max_depth = match (dir, llq) {
            (direction::RX, _) => self.cfg.max_rx_depth,
            (_, None) => self.cfg.max_tx_depth,
            (_, Some(l)) => {
                let offer = self.cfg.llq.as_ref().map_or(0, |o| o.max_llq_depth);
                if l.entry_size > 128 {
                    offer * 128 / l.entry_size as u32
                } else {
                    offer
                }
            }
        };
        if !pow2_in(depth, 4, max_depth) {
            return bad(format!("depth {depth} (max {max_depth})"), self);
        }
        if llq.is_none() {
            if base == 0 || !base.is_multiple_of(16) {
                return bad(format!("ring base {base:#x}"), self);
            }
            if let Err(e) = self
                .dma
                .read(base, &mut [0])
                .and_then(|_| self.dma.read(base + depth as u64 * 16 - 1, &mut [0]))
            {
                self.dma_miss(e);
                return Outcome::status(status::ILLEGAL_PARAMETER);
            }
        }
        let created = if dir == direction::TX {
            self.io
                .create_tx_sq(cmd.cq_idx, depth, base, llq, self.cfg.llq.as_ref())
        } else {
            self.io.create_rx_sq(cmd.cq_idx, depth, base)
        };
        let (idx, doorbell, llq_offset) = match created {
            Ok(v) => v,
            Err(s) => {
                self.malformed(format!("CREATE_SQ on cq {}: status {s}", cmd.cq_idx));
                return Outcome::status(s);
            }
        };
        self.bar0.write32(doorbell, 0);
        if let (Some(l), Some(bar2)) = (llq, &self.bar2) {
            // A fresh LLQ window reads as zero, so stale entries can never pass the phase check.
            bar2.write_bytes(
                llq_offset as usize,
                &vec![0u8; depth as usize * l.entry_size],
            );
        }
        let kind = if dir == direction::TX {
            "tx sq"
        } else {
            "rx sq"
        };
        self.events
            .push(self.now, Event::QueueCreated { kind, idx, depth });
        Outcome::with(&CreateSqResp {
            common: AcqCommonDesc::default(),
            sq_idx: idx,
            reserved: 0,
            sq_doorbell_offset: doorbell,
            llq_descriptors_offset: llq_offset,
            llq_headers_offset: 0,
        })
        .shift_response()
    }

    fn cmd_destroy_sq(&mut self, cmd: &DestroySqCmd) -> Outcome {
        let dir = cmd.direction();
        let r = match dir {
            direction::TX => self.io.destroy_tx_sq(cmd.sq_idx),
            direction::RX => self.io.destroy_rx_sq(cmd.sq_idx),
            _ => Err(status::ILLEGAL_PARAMETER),
        };
        match r {
            Ok(()) => {
                let kind = if dir == direction::TX {
                    "tx sq"
                } else {
                    "rx sq"
                };
                self.events.push(
                    self.now,
                    Event::QueueDestroyed {
                        kind,
                        idx: cmd.sq_idx,
                    },
                );
                Outcome::ok()
            }
            Err(s) => {
                self.malformed(format!(
                    "DESTROY_SQ {} direction {dir}: status {s}",
                    cmd.sq_idx
                ));
                Outcome::status(s)
            }
        }
    }

    // ----- features -----

    /// The control buffer, when present: drivers set flag bit 2 (or no flag at all for customer
    /// metrics), so presence is "length and address both non-zero" (spec §4.4).
    fn control_buffer(cmd_buf: &CtrlBuffInfo) -> Option<(u64, usize)> {
        let addr = cmd_buf.address.get();
        (cmd_buf.length != 0 && addr != 0).then_some((addr, cmd_buf.length as usize))
    }

    fn cmd_get_feature(&mut self, cmd: &FeatureCmd) -> Outcome {
        let id = cmd.feat_common.feature_id;
        if id != feature::DEVICE_ATTRIBUTES
            && !self.cfg.supports(id)
            && id != feature::MAX_QUEUES_NUM
        {
            return Outcome::status(status::UNSUPPORTED_OPCODE);
        }
        let buf = Self::control_buffer(&cmd.control_buffer);
        match id {
            feature::DEVICE_ATTRIBUTES => Outcome::with(&DeviceAttrFeature {
                impl_id: 1,
                device_version: self.cfg.version,
                supported_features: self.cfg.supported_features,
                capabilities: self.cfg.capabilities,
                phys_addr_width: self.cfg.dma_addr_width as u32,
                virt_addr_width: 48,
                mac_addr: self.wire.mac().unwrap_or(self.cfg.mac),
                flow_steering_max_entries: 0,
                max_mtu: self
                    .wire
                    .mtu()
                    .map_or(self.cfg.max_mtu, |m| m.min(self.cfg.max_mtu)),
            }),
            feature::MAX_QUEUES_NUM => Outcome::with(&MaxQueuesFeature {
                max_sq_num: self.cfg.max_queues,
                max_sq_depth: self.cfg.max_tx_depth.min(self.cfg.max_rx_depth),
                max_cq_num: self.cfg.max_queues,
                max_cq_depth: self.cfg.max_tx_depth.min(self.cfg.max_rx_depth),
                max_legacy_llq_num: 0,
                max_legacy_llq_depth: 0,
                max_header_size: self.cfg.max_tx_header_size,
                max_packet_tx_descs: self.cfg.max_tx_descs_per_packet,
                max_packet_rx_descs: self.cfg.max_rx_descs_per_packet,
            }),
            feature::MAX_QUEUES_EXT => Outcome::with(&MaxQueuesExtFeature {
                version: MAX_QUEUES_EXT_VERSION,
                reserved: [0; 3],
                max_tx_sq_num: self.cfg.max_queues,
                max_tx_cq_num: self.cfg.max_queues,
                max_rx_sq_num: self.cfg.max_queues,
                max_rx_cq_num: self.cfg.max_queues,
                max_tx_sq_depth: self.cfg.max_tx_depth,
                max_tx_cq_depth: self.cfg.max_tx_depth,
                max_rx_sq_depth: self.cfg.max_rx_depth,
                max_rx_cq_depth: self.cfg.max_rx_depth,
                max_tx_header_size: self.cfg.max_tx_header_size,
                max_per_packet_tx_descs: self.cfg.max_tx_descs_per_packet,
                max_per_packet_rx_descs: self.cfg.max_rx_descs_per_packet,
            }),
            feature::HW_HINTS => Outcome::with(&self.cfg.hw_hints),
            feature::LLQ => {
                let Some(o) = self.cfg.llq.clone() else {
                    return Outcome::with(&LlqFeature::default());
                };
                let active = self.feat.llq;
                Outcome::with(&LlqFeature {
                    max_llq_num: o.max_llq_num,
                    max_llq_depth: o.max_llq_depth,
                    header_location_ctrl_supported: llq::HEADER_LOCATION_INLINE,
                    header_location_ctrl_enabled: active.map_or(0, |_| llq::HEADER_LOCATION_INLINE),
                    entry_size_ctrl_supported: o.entry_sizes,
                    entry_size_ctrl_enabled: active.map_or(0, |a| entry_size_bit(a.entry_size)),
                    desc_num_before_header_supported: o.descs_before_header,
                    desc_num_before_header_enabled: active
                        .map_or(0, |a| a.descs_before_header as u16),
                    descriptors_stride_ctrl_supported: o.strides,
                    descriptors_stride_ctrl_enabled: active.map_or(0, |a| {
                        if a.descs_per_entry > 1 {
                            llq::STRIDE_MULTIPLE_DESCS_PER_ENTRY
                        } else {
                            llq::STRIDE_SINGLE_DESC_PER_ENTRY
                        }
                    }),
                    feature_version: llq::LLQ_FEATURE_VERSION,
                    entry_size_recommended: o.entry_size_recommended as u8,
                    max_wide_llq_depth: o.max_wide_llq_depth,
                    accel_mode_flags: o.accel_flags,
                    max_tx_burst_size: o.max_tx_burst_size,
                    reserved: 0,
                })
            }
            feature::STATELESS_OFFLOAD_CONFIG => Outcome::with(&OffloadFeature {
                tx: self.cfg.tx_offloads,
                rx_supported: self.cfg.rx_offloads,
                rx_enabled: 0,
            }),
            feature::RSS_HASH_FUNCTION => {
                if let Some((addr, len)) = buf {
                    if len < std::mem::size_of::<RssHashKey>() {
                        return Outcome::status(status::MALFORMED_REQUEST);
                    }
                    let key = RssHashKey {
                        key_parts: RSS_KEY_PARTS as u32,
                        reserved: 0,
                        key: *self.feat.rss.key(),
                    };
                    if let Err(e) = self.dma.write_obj(addr, &key) {
                        self.dma_miss(e);
                        return Outcome::status(status::MALFORMED_REQUEST);
                    }
                }
                Outcome::with(&RssHashFunctionFeature {
                    supported_func: 1 << hash_func::TOEPLITZ,
                    selected_func: 1 << hash_func::TOEPLITZ,
                    init_val: self.feat.rss.init_val(),
                })
            }
            feature::RSS_INDIRECTION_TABLE_CONFIG => {
                let log2 = self.feat.rss.indirection_log2();
                if let Some((addr, len)) = buf {
                    let entries = self.feat.rss.indirection_table();
                    if len < entries.len() * 4 {
                        return Outcome::status(status::MALFORMED_REQUEST);
                    }
                    let mut bytes = vec![0u8; entries.len() * 4];
                    for (i, q) in entries.iter().enumerate() {
                        bytes[i * 4..i * 4 + 2].copy_from_slice(&q.to_le_bytes());
                    }
                    if let Err(e) = self.dma.write(addr, &bytes) {
                        self.dma_miss(e);
                        return Outcome::status(status::MALFORMED_REQUEST);
                    }
                }
                Outcome::with(&RssIndTableFeature {
                    min_size: self.cfg.rss_table_log2,
                    max_size: self.cfg.rss_table_log2,
                    size: log2,
                    flags: 0,
                    reserved: 0,
                    inline_index: RSS_INLINE_INDEX_NONE,
                    inline_entry: RssIndTableEntry::default(),
                })
            }
            feature::RSS_HASH_INPUT => {
                if let Some((addr, len)) = buf {
                    if len < std::mem::size_of::<RssHashControl>() {
                        return Outcome::status(status::MALFORMED_REQUEST);
                    }
                    let mut ctrl = RssHashControl::default();
                    for t in 0..RSS_FLOW_TYPES {
                        ctrl.supported_fields[t].fields = crate::rss::supported_fields(t);
                        ctrl.selected_fields[t].fields = self.feat.rss.selected_fields(t);
                    }
                    if let Err(e) = self.dma.write_obj(addr, &ctrl) {
                        self.dma_miss(e);
                        return Outcome::status(status::MALFORMED_REQUEST);
                    }
                }
                Outcome::with(&RssHashInputFeature {
                    supported_input_sort: 0x6,
                    enabled_input_sort: self.feat.rss.enabled_sort(),
                })
            }
            feature::MTU => Outcome::with(&MtuFeature { mtu: self.feat.mtu }),
            feature::INTERRUPT_MODERATION => Outcome::with(&IntrModerationFeature {
                intr_delay_resolution: self.cfg.intr_delay_resolution,
                reserved: 0,
            }),
            feature::AENQ_CONFIG => Outcome::with(&AenqConfigFeature {
                supported_groups: self.cfg.aenq_groups,
                enabled_groups: self.feat.aenq_enabled,
            }),
            feature::LINK_CONFIG => Outcome::with(&LinkConfigFeature {
                speed: 100_000,
                supported: 0x80,
                flags: 0x2,
            }),
            _ => Outcome::status(status::UNSUPPORTED_OPCODE),
        }
    }

    fn cmd_set_feature(&mut self, cmd: &FeatureCmd) -> Outcome {
        let id = cmd.feat_common.feature_id;
        // Host info is sent before the driver knows the feature bitmap; every device takes it.
        if id != feature::HOST_ATTR_CONFIG && !self.cfg.supports(id) {
            return Outcome::status(status::UNSUPPORTED_OPCODE);
        }
        let buf = Self::control_buffer(&cmd.control_buffer);
        let payload = &cmd.payload;
        match id {
            feature::HOST_ATTR_CONFIG => {
                let v: HostAttrFeature = read_payload(payload);
                let page = v.os_info_ba.get();
                if page == 0 {
                    return Outcome::status(status::ILLEGAL_PARAMETER);
                }
                match self.dma.read_obj::<HostInfo>(page) {
                    Ok(info) => {
                        tracing::debug!(target: "ena_sim", os_type = info.os_type, driver_version = info.driver_version, "host info");
                        self.feat.host_info = Some(info);
                    }
                    Err(e) => {
                        self.dma_miss(e);
                        return Outcome::status(status::ILLEGAL_PARAMETER);
                    }
                }
                let debug = v.debug_ba.get();
                if debug != 0 && v.debug_area_size != 0 {
                    if let Err(e) = self
                        .dma
                        .read(debug + v.debug_area_size as u64 - 1, &mut [0])
                    {
                        self.dma_miss(e);
                        return Outcome::status(status::ILLEGAL_PARAMETER);
                    }
                }
                Outcome::ok()
            }
            feature::LLQ => self.set_llq(&read_payload(payload)),
            feature::AENQ_CONFIG => {
                let v: AenqConfigFeature = read_payload(payload);
                if v.enabled_groups & !self.cfg.aenq_groups != 0 {
                    return Outcome::status(status::ILLEGAL_PARAMETER);
                }
                self.feat.aenq_enabled = v.enabled_groups;
                if v.enabled_groups & (1 << ena_hw::aenq::group::LINK_CHANGE) != 0 {
                    // Nothing else ever tells a driver the link is up (spec §5.4).
                    self.post_link_state();
                }
                Outcome::ok()
            }
            feature::MTU => {
                let v: MtuFeature = read_payload(payload);
                let max = self
                    .wire
                    .mtu()
                    .map_or(self.cfg.max_mtu, |m| m.min(self.cfg.max_mtu));
                if v.mtu < self.cfg.min_mtu || v.mtu > max {
                    return Outcome::status(status::ILLEGAL_PARAMETER);
                }
                self.feat.mtu = v.mtu;
                Outcome::ok()
            }
            feature::RSS_HASH_FUNCTION => {
                let v: RssHashFunctionFeature = read_payload(payload);
                if v.selected_func != 1 << hash_func::TOEPLITZ {
                    return Outcome::status(status::ILLEGAL_PARAMETER);
                }
                if let Some((addr, len)) = buf {
                    if len < std::mem::size_of::<RssHashKey>() {
                        return Outcome::status(status::MALFORMED_REQUEST);
                    }
                    match self.dma.read_obj::<RssHashKey>(addr) {
                        Ok(k) if k.key_parts as usize == RSS_KEY_PARTS => {
                            self.feat.rss.set_key(&k.key)
                        }
                        Ok(_) => return Outcome::status(status::ILLEGAL_PARAMETER),
                        Err(e) => {
                            self.dma_miss(e);
                            return Outcome::status(status::MALFORMED_REQUEST);
                        }
                    }
                }
                self.feat.rss.set_init_val(v.init_val);
                Outcome::ok()
            }
            feature::RSS_INDIRECTION_TABLE_CONFIG => {
                self.set_rss_table(&read_payload(payload), buf)
            }
            feature::RSS_HASH_INPUT => {
                if !self.cfg.rss_hash_input_configurable {
                    return Outcome::status(status::UNSUPPORTED_OPCODE);
                }
                let v: RssHashInputFeature = read_payload(payload);
                if v.enabled_input_sort & !0x6 != 0 {
                    return Outcome::status(status::ILLEGAL_PARAMETER);
                }
                if let Some((addr, len)) = buf {
                    if len < std::mem::size_of::<RssHashControl>() {
                        return Outcome::status(status::MALFORMED_REQUEST);
                    }
                    let ctrl: RssHashControl = match self.dma.read_obj(addr) {
                        Ok(c) => c,
                        Err(e) => {
                            self.dma_miss(e);
                            return Outcome::status(status::MALFORMED_REQUEST);
                        }
                    };
                    for t in 0..RSS_FLOW_TYPES {
                        if ctrl.selected_fields[t].fields & !crate::rss::supported_fields(t) != 0 {
                            return Outcome::status(status::ILLEGAL_PARAMETER);
                        }
                    }
                    for t in 0..RSS_FLOW_TYPES {
                        if self
                            .feat
                            .rss
                            .set_selected_fields(t, ctrl.selected_fields[t].fields)
                            .is_err()
                        {
                            return Outcome::status(status::ILLEGAL_PARAMETER);
                        }
                    }
                }
                match self.feat.rss.set_enabled_sort(v.enabled_input_sort) {
                    Ok(()) => Outcome::ok(),
                    Err(_) => Outcome::status(status::ILLEGAL_PARAMETER),
                }
            }
            feature::FRAG_BYPASS => {
                let v: FragBypassFeature = read_payload(payload);
                self.feat.frag_bypass = v.enable != 0;
                Outcome::ok()
            }
            _ => Outcome::status(status::UNSUPPORTED_OPCODE),
        }
    }

    fn set_llq(&mut self, v: &LlqFeature) -> Outcome {
        let Some(offer) = self.cfg.llq.clone() else {
            return Outcome::status(status::UNSUPPORTED_OPCODE);
        };
        if self.io.has_llq_queues() {
            return Outcome::status(status::RESOURCE_BUSY);
        }
        let one_of = |enabled: u16, supported: u16| {
            enabled.count_ones() == 1 && enabled & supported == enabled
        };
        let Some(entry_size) = llq::entry_size_bytes(v.entry_size_ctrl_enabled) else {
            return Outcome::status(status::ILLEGAL_PARAMETER);
        };
        let dbh = v.desc_num_before_header_enabled;
        let ok = v.header_location_ctrl_enabled == llq::HEADER_LOCATION_INLINE
            && one_of(v.entry_size_ctrl_enabled, offer.entry_sizes)
            && matches!(dbh, 1 | 2 | 4 | 8)
            && dbh & offer.descs_before_header == dbh
            && one_of(v.descriptors_stride_ctrl_enabled, offer.strides)
            && v.accel_mode_flags & !offer.accel_flags == 0
            && (dbh as usize) * 16 < entry_size;
        if !ok {
            self.malformed(format!("SET LLQ with unsupported values: {v:?}"));
            return Outcome::status(status::ILLEGAL_PARAMETER);
        }
        let descs_per_entry =
            if v.descriptors_stride_ctrl_enabled == llq::STRIDE_MULTIPLE_DESCS_PER_ENTRY {
                entry_size / 16
            } else {
                1
            };
        self.feat.llq = Some(LlqActive {
            entry_size,
            descs_before_header: dbh as usize,
            descs_per_entry,
            accel_flags: v.accel_mode_flags,
        });
        Outcome::ok()
    }

    fn set_rss_table(&mut self, v: &RssIndTableFeature, buf: Option<(u64, usize)>) -> Outcome {
        let log2 = v.size;
        if log2 != self.cfg.rss_table_log2 {
            return Outcome::status(status::ILLEGAL_PARAMETER);
        }
        let size = 1usize << log2;
        if v.inline_index != RSS_INLINE_INDEX_NONE {
            let (i, q) = (v.inline_index as usize, v.inline_entry.cq_idx);
            if i >= size || !self.io.rx_exists(q) {
                return Outcome::status(status::ILLEGAL_PARAMETER);
            }
            return match self.feat.rss.set_indirection_entry(i, q) {
                Ok(()) => Outcome::ok(),
                Err(_) => Outcome::status(status::ILLEGAL_PARAMETER),
            };
        }
        let Some((addr, len)) = buf else {
            return Outcome::status(status::MALFORMED_REQUEST);
        };
        if len < size * 4 {
            return Outcome::status(status::MALFORMED_REQUEST);
        }
        let mut bytes = vec![0u8; size * 4];
        if let Err(e) = self.dma.read(addr, &mut bytes) {
            self.dma_miss(e);
            return Outcome::status(status::MALFORMED_REQUEST);
        }
        let entries: Vec<u16> = bytes
            .chunks_exact(4)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        if let Some(bad) = entries.iter().find(|q| !self.io.rx_exists(**q)) {
            self.malformed(format!(
                "RSS table names RX queue {bad}, which does not exist"
            ));
            return Outcome::status(status::ILLEGAL_PARAMETER);
        }
        match self.feat.rss.set_indirection_table(log2, &entries) {
            Ok(()) => Outcome::ok(),
            Err(_) => Outcome::status(status::ILLEGAL_PARAMETER),
        }
    }

    // ----- statistics -----

    fn cmd_get_stats(&mut self, cmd: &GetStatsCmd) -> Outcome {
        let c = &self.counters;
        match cmd.type_ {
            stats_type::BASIC => {
                let (tx_bytes_low, tx_bytes_high) = split_u64(c.tx_bytes);
                let (tx_pkts_low, tx_pkts_high) = split_u64(c.tx_pkts);
                let (rx_bytes_low, rx_bytes_high) = split_u64(c.rx_bytes);
                let (rx_pkts_low, rx_pkts_high) = split_u64(c.rx_pkts);
                let (rx_drops_low, rx_drops_high) = split_u64(c.rx_drops);
                let (tx_drops_low, tx_drops_high) = split_u64(c.tx_drops);
                let (rx_overruns_low, rx_overruns_high) = split_u64(c.rx_overruns);
                Outcome::with(&BasicStats {
                    tx_bytes_low,
                    tx_bytes_high,
                    tx_pkts_low,
                    tx_pkts_high,
                    rx_bytes_low,
                    rx_bytes_high,
                    rx_pkts_low,
                    rx_pkts_high,
                    rx_drops_low,
                    rx_drops_high,
                    tx_drops_low,
                    tx_drops_high,
                    rx_overruns_low,
                    rx_overruns_high,
                })
            }
            stats_type::ENI if self.cfg.capabilities & capability::ENI_STATS != 0 => {
                Outcome::with(&EniStats {
                    bw_in_allowance_exceeded: c.bw_in_allowance_exceeded,
                    bw_out_allowance_exceeded: c.bw_out_allowance_exceeded,
                    pps_allowance_exceeded: c.pps_allowance_exceeded,
                    conntrack_allowance_exceeded: c.conntrack_allowance_exceeded,
                    linklocal_allowance_exceeded: c.linklocal_allowance_exceeded,
                })
            }
            stats_type::ENA_SRD if self.cfg.capabilities & capability::ENA_SRD_INFO != 0 => {
                Outcome::with(&EnaSrdStats::default())
            }
            stats_type::CUSTOMER_METRICS
                if self.cfg.capabilities & capability::CUSTOMER_METRICS != 0 =>
            {
                let values = [
                    c.bw_in_allowance_exceeded,
                    c.bw_out_allowance_exceeded,
                    c.pps_allowance_exceeded,
                    c.conntrack_allowance_exceeded,
                    c.linklocal_allowance_exceeded,
                    0,
                ];
                match Self::control_buffer(&cmd.control_buffer) {
                    None => Outcome::with(&0x3fu64),
                    Some((addr, len)) => {
                        let mut out = Vec::new();
                        for (i, v) in values.iter().enumerate() {
                            if cmd.requested_metrics & (1 << i) != 0 {
                                out.extend_from_slice(&v.to_le_bytes());
                            }
                        }
                        if out.len() > len {
                            return Outcome::status(status::MALFORMED_REQUEST);
                        }
                        if let Err(e) = self.dma.write(addr, &out) {
                            self.dma_miss(e);
                            return Outcome::status(status::MALFORMED_REQUEST);
                        }
                        Outcome::ok()
                    }
                }
            }
            _ => Outcome::status(status::UNSUPPORTED_OPCODE),
        }
    }
}

impl Outcome {
    /// Create responses are declared with their 8-byte ACQ header; drop it so the payload holds
    /// the fields from ACQ byte 8 on.
    fn shift_response(mut self) -> Self {
        self.payload.copy_within(8.., 0);
        self.payload[48..].fill(0);
        self
    }
}

fn entry_size_bit(bytes: usize) -> u16 {
    match bytes {
        128 => llq::ENTRY_SIZE_128,
        192 => llq::ENTRY_SIZE_192,
        256 => llq::ENTRY_SIZE_256,
        _ => 0,
    }
}

/// Reads a SET value from the 44-byte feature payload.
fn read_payload<T: FromBytes>(payload: &[u8; 44]) -> T {
    T::read_from_prefix(payload)
        .map(|(v, _)| v)
        .unwrap_or_else(|_| T::new_zeroed())
}
