//! The device's control path through a test-side host: registers, reset, readless reads, every
//! admin command with its error paths, and the AENQ.

mod common;

use common::*;
use ena_hw::admin::*;
use ena_hw::aenq::{group, KeepAliveDesc, LinkChangeDesc};
use ena_hw::regs::{off, Caps, ControllerVersion, DevSts, Version};
use ena_hw::MemAddr;
use ena_sim::config::DeviceConfig;
use ena_sim::events::Event;
use ena_sim::fault::Fault;
use ena_sim::wire::{Loopback, Unplugged};
use std::time::Duration;
use zerocopy::{FromBytes, IntoBytes};

fn payload<T: FromBytes>(e: &AcqEntry) -> T {
    T::read_from_prefix(&e.payload).unwrap().0
}

#[test]
fn power_on_registers_readless_and_plain() {
    let (sim, mut h) = manual(DeviceConfig::default(), Box::new(Loopback::default()));
    // Readless reads.
    let v = Version(h.read_reg(off::VERSION));
    assert_eq!((v.major(), v.minor()), (0, 10));
    let cv = ControllerVersion(h.read_reg(off::CONTROLLER_VERSION));
    assert_eq!(
        (cv.major(), cv.minor(), cv.subminor(), cv.impl_id()),
        (0, 0, 1, 1)
    );
    let caps = Caps(h.read_reg(off::CAPS));
    assert_eq!(caps.dma_addr_width(), 48);
    assert_eq!(caps.reset_timeout(), 10);
    assert_eq!(caps.admin_cmd_to(), 0);
    let sts = DevSts(h.read_reg(off::DEV_STS));
    assert!(sts.ready() && !sts.reset_in_progress() && !sts.fatal_error());
    let _ = &sim;
    // Plain loads see the same values (readless disabled, as with class prog-if bit 0 = 1).
    h.readless = false;
    assert_eq!(h.read_reg(off::VERSION), 0x0a);
    assert_eq!(h.read_reg(off::CONTROLLER_VERSION), 0x0100_0001);
    assert_eq!(Caps(h.read_reg(off::CAPS)).dma_addr_width(), 48);
    assert!(DevSts(h.read_reg(off::DEV_STS)).ready());
}

#[test]
fn readless_answers_each_sequence_number_and_echoes_the_offset() {
    let (_sim, mut h) = manual(DeviceConfig::default(), Box::new(Loopback::default()));
    for _ in 0..300 {
        // 300 reads cross several poison/sequence values; each must match its own req_id.
        assert_eq!(h.read_reg(off::VERSION), 0x0a);
        assert_eq!(h.read_reg(off::CAPS), DeviceConfig::default().caps());
    }
}

#[test]
fn two_phase_reset_records_reason_and_forgets_state() {
    let (sim, mut h) = manual(DeviceConfig::default(), Box::new(Loopback::default()));
    h.bring_up(1 << group::KEEP_ALIVE);
    let _ = TxRing::create(&mut h, 256, None);
    assert_eq!(sim.view().tx_queues, vec![0]);
    // Reset with an extended reason (19 = DEVICE_REQUEST: high nibble 1, low nibble 3).
    h.reset(19);
    let view = sim.view();
    assert_eq!(view.last_reset_reason, Some(19));
    assert!(
        view.tx_queues.is_empty() && view.cqs.is_empty(),
        "queues survive a reset"
    );
    assert_eq!(view.features.aenq_enabled, 0);
    let starts = sim.events.find(|e| matches!(e, Event::ResetStarted { .. }));
    assert_eq!(
        starts,
        vec![
            Event::ResetStarted { reason: 0 },
            Event::ResetStarted { reason: 19 }
        ]
    );
    // The admin queue works again after re-initialisation.
    h.init_admin();
    let e = h.get_feature(feature::DEVICE_ATTRIBUTES, 0, None);
    assert_eq!(e.common.status, status::SUCCESS);
}

#[test]
fn reset_handshake_is_visible_in_dev_sts() {
    let (sim, mut h) = manual(DeviceConfig::default(), Box::new(Loopback::default()));
    h.bar0.write32(off::DEV_CTL, 1);
    sim.step();
    let sts = DevSts(h.read_reg(off::DEV_STS));
    assert!(sts.reset_in_progress(), "phase one sets reset_in_progress");
    assert!(sts.ready());
    h.bar0.write32(off::DEV_CTL, 0);
    sim.step();
    let sts = DevSts(h.read_reg(off::DEV_STS));
    assert!(!sts.reset_in_progress() && sts.ready());
}

#[test]
fn device_attributes_queues_offloads_llq_and_hints() {
    let cfg = DeviceConfig::default();
    let (_sim, mut h) = manual(cfg.clone(), Box::new(Loopback::default()));
    h.bring_up(0);
    let attr: DeviceAttrFeature = payload(&h.get_feature(feature::DEVICE_ATTRIBUTES, 0, None));
    assert_eq!(attr.supported_features, 0x1410_5c9a);
    assert_eq!(attr.mac_addr, cfg.mac);
    assert_eq!(attr.max_mtu, 9216);
    assert_eq!(attr.capabilities, cfg.capabilities);
    let q: MaxQueuesExtFeature = payload(&h.get_feature(feature::MAX_QUEUES_EXT, 1, None));
    assert_eq!(q.version, 1);
    assert_eq!(
        (
            q.max_tx_sq_num,
            q.max_rx_sq_num,
            q.max_tx_sq_depth,
            q.max_rx_sq_depth
        ),
        (8, 8, 1024, 16384)
    );
    assert_eq!(
        (q.max_per_packet_tx_descs, q.max_per_packet_rx_descs),
        (19, 19)
    );
    let o: OffloadFeature = payload(&h.get_feature(feature::STATELESS_OFFLOAD_CONFIG, 0, None));
    assert_eq!(o.tx, 0x3f);
    assert_eq!(o.rx_supported, 0xf);
    let l: LlqFeature = payload(&h.get_feature(feature::LLQ, 1, None));
    assert_eq!(
        (l.max_llq_num, l.max_llq_depth, l.entry_size_ctrl_supported),
        (8, 1024, 0x5)
    );
    assert_eq!(l.desc_num_before_header_supported & 2, 2);
    assert_eq!(l.feature_version, 1);
    let hints: HwHints = payload(&h.get_feature(feature::HW_HINTS, 0, None));
    assert_eq!(hints, HwHints::default());
    let aenq: AenqConfigFeature = payload(&h.get_feature(feature::AENQ_CONFIG, 0, None));
    assert_eq!(aenq.supported_groups, 0xdf);
    let im: IntrModerationFeature = payload(&h.get_feature(feature::INTERRUPT_MODERATION, 0, None));
    assert_eq!(im.intr_delay_resolution, 1);
    let ind: RssIndTableFeature =
        payload(&h.get_feature(feature::RSS_INDIRECTION_TABLE_CONFIG, 1, None));
    assert_eq!((ind.min_size, ind.max_size), (7, 7));
    // Legacy queue limits answer too (drivers fall back to them without bit 7).
    let legacy: MaxQueuesFeature = payload(&h.get_feature(feature::MAX_QUEUES_NUM, 0, None));
    assert_eq!(legacy.max_sq_num, 8);
}

#[test]
fn unsupported_features_and_opcodes_get_the_right_status() {
    let (sim, mut h) = manual(DeviceConfig::default(), Box::new(Loopback::default()));
    h.bring_up(0);
    for id in [
        feature::RSS_HASH_INPUT,
        feature::LINK_CONFIG,
        feature::PHC_CONFIG,
        feature::HW_TIMESTAMP,
        63,
    ] {
        assert_eq!(
            h.get_feature(id, 0, None).common.status,
            status::UNSUPPORTED_OPCODE,
            "GET feature {id}"
        );
    }
    assert_eq!(
        h.set_feature(feature::DEVICE_ATTRIBUTES, &[0; 8], None)
            .common
            .status,
        status::UNSUPPORTED_OPCODE
    );
    // An opcode the device does not know.
    let mut cmd = AqCommonDesc {
        opcode: 5,
        ..Default::default()
    }
    .as_bytes()
    .to_vec();
    cmd.resize(64, 0);
    assert_eq!(h.admin(&cmd).common.status, status::BAD_OPCODE);
    assert!(!sim
        .events
        .find(|e| matches!(e, Event::Malformed { .. }))
        .is_empty());
}

#[test]
fn feature_gating_follows_the_configuration() {
    let mut cfg = DeviceConfig::default().without_llq();
    cfg.supported_features |= 1 << feature::LINK_CONFIG;
    cfg.rss_hash_input_configurable = true;
    cfg.supported_features |= 1 << feature::RSS_HASH_INPUT;
    let (_sim, mut h) = manual(cfg, Box::new(Loopback::default()));
    h.bring_up(0);
    assert_eq!(
        h.get_feature(feature::LLQ, 1, None).common.status,
        status::UNSUPPORTED_OPCODE
    );
    let link: LinkConfigFeature = payload(&h.get_feature(feature::LINK_CONFIG, 0, None));
    assert_eq!(link.speed, 100_000);
    let buf = h.alloc(256, 64);
    let e = h.get_feature(feature::RSS_HASH_INPUT, 0, Some((buf, 256)));
    assert_eq!(e.common.status, 0);
    let ctrl: RssHashControl = h.mem.read_obj(buf).unwrap();
    assert_eq!(ctrl.selected_fields[flow_type::TCP4].fields, 0x3c);
    // Select L3 only for TCP4 and enable symmetric sorting.
    let mut sel = ctrl;
    sel.selected_fields[flow_type::TCP4].fields = hash_field::L3_SA | hash_field::L3_DA;
    h.mem.write_obj(buf, &sel).unwrap();
    let v = RssHashInputFeature {
        supported_input_sort: 0,
        enabled_input_sort: 0x6,
    };
    assert_eq!(
        h.set_feature(feature::RSS_HASH_INPUT, v.as_bytes(), Some((buf, 256)))
            .common
            .status,
        0
    );
    h.mem.write_obj(buf, &RssHashControl::default()).unwrap();
    let e = h.get_feature(feature::RSS_HASH_INPUT, 0, Some((buf, 256)));
    let back: RssHashControl = h.mem.read_obj(buf).unwrap();
    assert_eq!(back.selected_fields[flow_type::TCP4].fields, 0x0c);
    assert_eq!(payload::<RssHashInputFeature>(&e).enabled_input_sort, 0x6);
}

#[test]
fn queue_commands_and_their_errors() {
    let (sim, mut h) = manual(DeviceConfig::default(), Box::new(Loopback::default()));
    h.bring_up(0);
    // CREATE_CQ: bad entry size, bad depth, unreachable ring.
    let ring = h.alloc(4096, 4096);
    let mut cmd = CreateCqCmd::default();
    cmd.common.opcode = opcode::CREATE_CQ;
    cmd.set_entry_size_words(3);
    cmd.cq_depth = 256;
    cmd.msix_vector = MSIX_VECTOR_NONE;
    cmd.cq_ba = MemAddr::new(ring);
    assert_eq!(
        h.admin(cmd.as_bytes()).common.status,
        status::ILLEGAL_PARAMETER
    );
    cmd.set_entry_size_words(2);
    cmd.cq_depth = 100;
    assert_eq!(
        h.admin(cmd.as_bytes()).common.status,
        status::ILLEGAL_PARAMETER
    );
    cmd.cq_depth = 256;
    cmd.cq_ba = MemAddr::new(0x1234_0000);
    assert_eq!(
        h.admin(cmd.as_bytes()).common.status,
        status::ILLEGAL_PARAMETER
    );
    assert!(
        sim.events
            .find(|e| matches!(
                e,
                Event::DmaMiss {
                    iova: 0x1234_0000,
                    ..
                }
            ))
            .len()
            == 1,
        "an unreachable ring is reported as a DMA miss"
    );
    cmd.msix_vector = 99;
    cmd.cq_ba = MemAddr::new(ring);
    assert_eq!(
        h.admin(cmd.as_bytes()).common.status,
        status::ILLEGAL_PARAMETER,
        "vector beyond MSI-X count"
    );
    // A good CQ gets index 0 and registers inside BAR0.
    let (cq, _) = h.create_cq(256, 2, MSIX_VECTOR_NONE);
    assert_eq!(cq.common.status, 0);
    assert_eq!(cq.cq_idx, 0);
    assert_eq!(cq.cq_actual_depth, 256);
    assert_eq!(cq.cq_head_db_register_offset, 0);
    assert!(
        cq.cq_interrupt_unmask_register_offset >= 0x1000
            && cq.cq_interrupt_unmask_register_offset < 0x4000
    );
    // CREATE_SQ: missing CQ, LLQ placement without SET LLQ, RX with device placement.
    let sq_ring = h.alloc(256 * 16, 4096);
    assert_eq!(
        h.create_sq(direction::TX, placement::HOST, 7, 256, sq_ring)
            .common
            .status,
        status::ILLEGAL_PARAMETER
    );
    assert_eq!(
        h.create_sq(direction::TX, placement::DEVICE, 0, 256, 0)
            .common
            .status,
        status::ILLEGAL_PARAMETER
    );
    assert_eq!(
        h.create_sq(direction::RX, placement::DEVICE, 0, 256, 0)
            .common
            .status,
        status::ILLEGAL_PARAMETER
    );
    // A TX CQ (8-byte entries) cannot serve an RX SQ.
    assert_eq!(
        h.create_sq(direction::RX, placement::HOST, 0, 256, sq_ring)
            .common
            .status,
        status::ILLEGAL_PARAMETER
    );
    let sq = h.create_sq(direction::TX, placement::HOST, 0, 256, sq_ring);
    assert_eq!((sq.common.status, sq.sq_idx), (0, 0));
    assert!(sq.sq_doorbell_offset >= 0x1000);
    // The CQ is now bound: no second SQ, and it cannot be destroyed first.
    assert_eq!(
        h.create_sq(direction::TX, placement::HOST, 0, 256, sq_ring)
            .common
            .status,
        status::ILLEGAL_PARAMETER
    );
    let destroy_cq = |idx: u16| {
        let mut c = DestroyCqCmd::default();
        c.common.opcode = opcode::DESTROY_CQ;
        c.cq_idx = idx;
        c
    };
    assert_eq!(
        h.admin(destroy_cq(0).as_bytes()).common.status,
        status::RESOURCE_BUSY
    );
    let mut dsq = DestroySqCmd::default();
    dsq.common.opcode = opcode::DESTROY_SQ;
    dsq.sq_idx = 0;
    dsq.set_direction(direction::RX);
    assert_eq!(
        h.admin(dsq.as_bytes()).common.status,
        status::ILLEGAL_PARAMETER,
        "no RX SQ 0"
    );
    dsq.set_direction(direction::TX);
    assert_eq!(h.admin(dsq.as_bytes()).common.status, 0);
    assert_eq!(
        h.admin(dsq.as_bytes()).common.status,
        status::ILLEGAL_PARAMETER,
        "already destroyed"
    );
    assert_eq!(h.admin(destroy_cq(0).as_bytes()).common.status, 0);
    assert_eq!(
        h.admin(destroy_cq(0).as_bytes()).common.status,
        status::ILLEGAL_PARAMETER
    );
}

#[test]
fn stale_bytes_after_a_short_command_are_ignored() {
    let (_sim, mut h) = manual(DeviceConfig::default(), Box::new(Loopback::default()));
    h.bring_up(0);
    // Fill every AQ slot with a 64-byte GET_FEATURE, then send 8-byte DESTROY_CQs over them:
    // the stale 56 bytes must not be read as part of the DESTROY_CQ.
    for _ in 0..AQ_DEPTH {
        assert_eq!(
            h.get_feature(feature::DEVICE_ATTRIBUTES, 0, None)
                .common
                .status,
            0
        );
    }
    let (cq, _) = h.create_cq(64, 2, MSIX_VECTOR_NONE);
    let mut c = DestroyCqCmd::default();
    c.common.opcode = opcode::DESTROY_CQ;
    c.cq_idx = cq.cq_idx;
    assert_eq!(h.admin(c.as_bytes()).common.status, 0);
}

#[test]
fn admin_completions_wrap_the_phase_many_times() {
    let (_sim, mut h) = manual(DeviceConfig::default(), Box::new(Loopback::default()));
    h.bring_up(0);
    for i in 0..(AQ_DEPTH as usize * 9 + 5) {
        let e = h.get_feature(feature::DEVICE_ATTRIBUTES, 0, None);
        assert_eq!(e.common.status, 0, "command {i}");
    }
}

#[test]
fn a_slot_with_the_wrong_phase_is_malformed() {
    let (sim, mut h) = manual(DeviceConfig::default(), Box::new(Loopback::default()));
    h.bring_up(0);
    // Write a command with the wrong phase by hand into the next slot.
    let mut cmd = FeatureCmd::default();
    cmd.common.opcode = opcode::GET_FEATURE;
    cmd.feat_common.feature_id = feature::DEVICE_ATTRIBUTES;
    // bring_up sent 2 commands; slot 2 on the first pass expects phase 1: send phase 0.
    let e = {
        let id = h.submit_raw(cmd.as_bytes());
        // submit_raw set the right phase; flip it in memory before the device looks.
        let _ = id;
        let aq = read_aq_base(&h);
        let mut b = [0u8; 1];
        h.mem.read(aq + 2 * 64 + 3, &mut b).unwrap();
        b[0] ^= 1;
        h.mem.write(aq + 2 * 64 + 3, &b).unwrap();
        h.step();
        h.poll_acq().expect("completion")
    };
    assert_eq!(e.common.status, status::MALFORMED_REQUEST);
    assert!(
        sim.events
            .find(|e| matches!(e, Event::Malformed { what } if what.contains("phase")))
            .len()
            == 1
    );
}

fn read_aq_base(h: &TestHost) -> u64 {
    h.bar0.read32(off::AQ_BASE_LO) as u64 | (h.bar0.read32(off::AQ_BASE_HI) as u64) << 32
}

#[test]
fn mtu_and_host_info() {
    let (sim, mut h) = manual(DeviceConfig::default(), Box::new(Loopback::default()));
    h.bring_up(0);
    let set_mtu = |h: &mut TestHost, mtu: u32| {
        h.set_feature(feature::MTU, MtuFeature { mtu }.as_bytes(), None)
            .common
            .status
    };
    assert_eq!(set_mtu(&mut h, 9000), 0);
    assert_eq!(sim.view().features.mtu, 9000);
    assert_eq!(set_mtu(&mut h, 9217), status::ILLEGAL_PARAMETER);
    assert_eq!(set_mtu(&mut h, 67), status::ILLEGAL_PARAMETER);
    assert_eq!(sim.view().features.mtu, 9000);
    let info = sim.view().features.host_info.expect("host info recorded");
    assert_eq!(info.os_type, os_type::LINUX);
    assert_eq!(info.ena_spec_version, ENA_SPEC_VERSION);
    // A host-info page outside registered memory is refused and reported.
    let attr = HostAttrFeature {
        os_info_ba: MemAddr::new(0x42_0000_0000),
        ..Default::default()
    };
    assert_eq!(
        h.set_feature(feature::HOST_ATTR_CONFIG, attr.as_bytes(), None)
            .common
            .status,
        status::ILLEGAL_PARAMETER
    );
    assert_eq!(sim.stats.snapshot().lifetime.dma_misses, 1);
}

#[test]
fn rss_key_function_and_table_round_trip() {
    let (sim, mut h) = manual(DeviceConfig::default(), Box::new(Loopback::default()));
    h.bring_up(0);
    let rx0 = RxRing::create(&mut h, 256, 2048);
    let rx1 = RxRing::create(&mut h, 256, 2048);
    let buf = h.alloc(4096, 64);
    // GET writes the current key into the buffer.
    let e = h.get_feature(feature::RSS_HASH_FUNCTION, 0, Some((buf, 48)));
    let f: RssHashFunctionFeature = payload(&e);
    assert_eq!(f.supported_func, 1 << hash_func::TOEPLITZ);
    let key0: RssHashKey = h.mem.read_obj(buf).unwrap();
    assert_eq!(key0.key_parts, 10);
    assert_eq!(&key0.key, sim.view().features.rss.key());
    // SET a new key and init value, read it back.
    let key = RssHashKey {
        key_parts: 10,
        reserved: 0,
        key: std::array::from_fn(|i| i as u8 * 3),
    };
    h.mem.write_obj(buf, &key).unwrap();
    let set = RssHashFunctionFeature {
        supported_func: 0,
        selected_func: 1 << hash_func::TOEPLITZ,
        init_val: 0xffff_ffff,
    };
    assert_eq!(
        h.set_feature(feature::RSS_HASH_FUNCTION, set.as_bytes(), Some((buf, 48)))
            .common
            .status,
        0
    );
    h.mem.fill(buf, 0, 48).unwrap();
    let e = h.get_feature(feature::RSS_HASH_FUNCTION, 0, Some((buf, 48)));
    assert_eq!(payload::<RssHashFunctionFeature>(&e).init_val, 0xffff_ffff);
    assert_eq!(h.mem.read_obj::<RssHashKey>(buf).unwrap().key, key.key);
    // CRC32 is not offered.
    let crc = RssHashFunctionFeature {
        selected_func: 1 << hash_func::CRC32,
        ..set
    };
    assert_eq!(
        h.set_feature(feature::RSS_HASH_FUNCTION, crc.as_bytes(), None)
            .common
            .status,
        status::ILLEGAL_PARAMETER
    );
    // Indirection table: alternate the two RX SQs; a nonexistent queue is refused.
    let mut table = vec![0u8; 128 * 4];
    for i in 0..128 {
        let q = if i % 2 == 0 { rx0.sq_idx } else { rx1.sq_idx };
        table[i * 4..i * 4 + 2].copy_from_slice(&q.to_le_bytes());
    }
    h.mem.write(buf, &table).unwrap();
    let v = RssIndTableFeature {
        size: 7,
        inline_index: RSS_INLINE_INDEX_NONE,
        ..Default::default()
    };
    assert_eq!(
        h.set_feature(
            feature::RSS_INDIRECTION_TABLE_CONFIG,
            v.as_bytes(),
            Some((buf, 512))
        )
        .common
        .status,
        0
    );
    assert_eq!(sim.view().features.rss.indirection_table()[1], rx1.sq_idx);
    table[4..6].copy_from_slice(&9u16.to_le_bytes());
    h.mem.write(buf, &table).unwrap();
    assert_eq!(
        h.set_feature(
            feature::RSS_INDIRECTION_TABLE_CONFIG,
            v.as_bytes(),
            Some((buf, 512))
        )
        .common
        .status,
        status::ILLEGAL_PARAMETER
    );
    let small = RssIndTableFeature { size: 6, ..v };
    assert_eq!(
        h.set_feature(
            feature::RSS_INDIRECTION_TABLE_CONFIG,
            small.as_bytes(),
            Some((buf, 512))
        )
        .common
        .status,
        status::ILLEGAL_PARAMETER
    );
    // Single inline entry.
    let inline = RssIndTableFeature {
        size: 7,
        inline_index: 5,
        inline_entry: RssIndTableEntry {
            cq_idx: rx0.sq_idx,
            reserved: 0,
        },
        ..Default::default()
    };
    assert_eq!(
        h.set_feature(
            feature::RSS_INDIRECTION_TABLE_CONFIG,
            inline.as_bytes(),
            None
        )
        .common
        .status,
        0
    );
    assert_eq!(sim.view().features.rss.indirection_table()[5], rx0.sq_idx);
    // GET with a buffer returns the table.
    h.mem.fill(buf, 0xee, 512).unwrap();
    assert_eq!(
        h.get_feature(feature::RSS_INDIRECTION_TABLE_CONFIG, 1, Some((buf, 512)))
            .common
            .status,
        0
    );
    let mut back = vec![0u8; 512];
    h.mem.read(buf, &mut back).unwrap();
    assert_eq!(u16::from_le_bytes([back[20], back[21]]), rx0.sq_idx);
    assert_eq!(u16::from_le_bytes([back[4], back[5]]), rx1.sq_idx);
}

#[test]
fn get_stats_basic_and_eni() {
    let (_sim, mut h) = manual(DeviceConfig::default(), Box::new(Loopback::default()));
    h.bring_up(0);
    let mut cmd = GetStatsCmd::default();
    cmd.common.opcode = opcode::GET_STATS;
    cmd.type_ = stats_type::BASIC;
    let e = h.admin(cmd.as_bytes());
    assert_eq!(e.common.status, 0);
    assert_eq!(payload::<BasicStats>(&e), BasicStats::default());
    cmd.type_ = stats_type::ENI;
    assert_eq!(h.admin(cmd.as_bytes()).common.status, 0);
    cmd.type_ = stats_type::ENA_SRD;
    assert_eq!(
        h.admin(cmd.as_bytes()).common.status,
        status::UNSUPPORTED_OPCODE
    );
    cmd.type_ = stats_type::EXTENDED;
    assert_eq!(
        h.admin(cmd.as_bytes()).common.status,
        status::UNSUPPORTED_OPCODE
    );
}

#[test]
fn aenq_link_up_keep_alive_and_flow_control() {
    let (sim, mut h) = manual(DeviceConfig::default(), Box::new(Loopback::default()));
    h.bring_up((1 << group::LINK_CHANGE) | (1 << group::KEEP_ALIVE));
    // Enabling LINK_CHANGE posts the current link state (nothing else ever reports link up).
    let ev = h.poll_aenq();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].common.group, group::LINK_CHANGE);
    assert!(LinkChangeDesc::read_from_prefix(&ev[0].payload)
        .unwrap()
        .0
        .link_status());
    // One keep-alive per second of device time, carrying the drop counters.
    for s in 1..=3u32 {
        sim.advance(Duration::from_millis(1000));
        h.step();
        let ev = h.poll_aenq();
        assert_eq!(ev.len(), 1, "second {s}");
        assert_eq!(ev[0].common.group, group::KEEP_ALIVE);
        let ka = KeepAliveDesc::read_from_prefix(&ev[0].payload).unwrap().0;
        assert_eq!(
            (ka.rx_drops_low, ka.tx_drops_low, ka.rx_overruns_low),
            (0, 0, 0)
        );
    }
    // Flow control: without head-doorbell updates the device stops at 16 posted entries.
    for _ in 0..20 {
        sim.faults.inject(Fault::LinkFlap {
            down_for: Duration::from_millis(1),
        });
        h.step();
        sim.advance(Duration::from_millis(2));
        h.step();
    }
    let posted_before = sim.stats.snapshot().lifetime.aenq_events;
    // 4 posted so far (1 link + 3 keep-alive); without acknowledging, at most 16 outstanding.
    let outstanding = posted_before - 4;
    assert_eq!(
        outstanding, 16,
        "the device fills the ring exactly up to the head doorbell"
    );
    let ev = h.poll_aenq();
    assert_eq!(ev.len() as u64, outstanding);
    // After the doorbell, held events follow in order; the last link state is up.
    h.step();
    let rest = h.poll_aenq();
    let last_link = ev
        .iter()
        .chain(rest.iter())
        .rfind(|e| e.common.group == group::LINK_CHANGE)
        .unwrap();
    assert!(LinkChangeDesc::read_from_prefix(&last_link.payload)
        .unwrap()
        .0
        .link_status());
}

#[test]
fn aenq_is_silent_before_the_head_doorbell_and_wraps_its_phase() {
    let (sim, mut h) = manual(DeviceConfig::default(), Box::new(Loopback::default()));
    h.reset(0);
    h.init_admin();
    // Enable groups first (as Linux does), doorbell later: nothing may be posted before it.
    let cfg = AenqConfigFeature {
        supported_groups: 0,
        enabled_groups: (1 << group::LINK_CHANGE) | (1 << group::KEEP_ALIVE),
    };
    assert_eq!(
        h.set_feature(feature::AENQ_CONFIG, cfg.as_bytes(), None)
            .common
            .status,
        0
    );
    sim.advance(Duration::from_secs(1));
    h.step();
    assert_eq!(sim.stats.snapshot().lifetime.aenq_events, 0);
    h.bar0.write32(off::AENQ_HEAD_DB, AENQ_DEPTH as u32);
    h.step();
    let first = h.poll_aenq();
    assert_eq!(first.len(), 2, "link change and the waiting keep-alive");
    // Many laps of the 16-entry ring.
    let mut total = 0;
    for _ in 0..100 {
        sim.advance(Duration::from_secs(1));
        h.step();
        total += h.poll_aenq().len();
    }
    assert_eq!(total, 100);
}

#[test]
fn groups_outside_the_supported_set_are_refused() {
    let (_sim, mut h) = manual(DeviceConfig::default(), Box::new(Loopback::default()));
    h.reset(0);
    h.init_admin();
    let cfg = AenqConfigFeature {
        supported_groups: 0,
        enabled_groups: 1 << group::REFRESH_CAPABILITIES,
    };
    assert_eq!(
        h.set_feature(feature::AENQ_CONFIG, cfg.as_bytes(), None)
            .common
            .status,
        status::ILLEGAL_PARAMETER
    );
}

#[test]
fn management_interrupt_fires_only_when_unmasked() {
    let (sim, mut h) = manual(DeviceConfig::default(), Box::new(Unplugged));
    h.bring_up(0);
    let before = sim.irq.count(0);
    h.get_feature(feature::DEVICE_ATTRIBUTES, 0, None);
    assert_eq!(sim.irq.count(0), before, "masked: no interrupt");
    h.bar0.write32(off::INTR_MASK, 0);
    h.get_feature(feature::DEVICE_ATTRIBUTES, 0, None);
    assert_eq!(
        sim.irq.count(0),
        before + 1,
        "unmasked: one interrupt per completion"
    );
}

#[test]
fn unplugged_wire_reports_link_down() {
    let (_sim, mut h) = manual(DeviceConfig::default(), Box::new(Unplugged));
    h.bring_up(1 << group::LINK_CHANGE);
    let ev = h.poll_aenq();
    assert_eq!(ev.len(), 1);
    assert!(!LinkChangeDesc::read_from_prefix(&ev[0].payload)
        .unwrap()
        .0
        .link_status());
}
