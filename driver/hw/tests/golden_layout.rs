//! Golden layout tests for the ENA device interface types.
//!
//! Every number in this file is typed in from the project's device reference
//! (`/work/shared/ena-device-spec.md`, sections 2, 4, 5, 6, 7, 9 and 10), never computed from the
//! structs under test. A struct, accessor or constant that drifts from the wire format the real
//! device and the reference drivers use fails here, in one place, before the driver and the device
//! model can silently agree on a wrong layout.
//!
//! Two kinds of checks:
//! - `layout!` tables: `size_of` of the type and the offset and size of each field, written so that
//!   each row reads like a row of the spec table. Rows must tile the structure without gaps, so a
//!   field missing from a table (or an extra field in a struct) is caught as well.
//! - `bit_fields!` tables: for every bit-field accessor pair, the exact bits the setter touches in
//!   the little-endian bytes, that a too-large value never spills into neighbouring bits, that the
//!   setter leaves neighbouring bits alone, and that the getter reads the field back.
//!
//! Cross-checked where the spec is terse against amzn/amzn-drivers
//! `kernel/linux/common/ena_com/ena_admin_defs.h`, `ena_eth_io_defs.h` and `ena_regs_defs.h`.

use core::fmt::Debug;
use core::mem::{offset_of, size_of};

use ena_hw::admin::{self, *};
use ena_hw::aenq::{self, *};
use ena_hw::io::{self, *};
use ena_hw::llq;
use ena_hw::regs::{self, *};
use ena_hw::MemAddr;
use zerocopy::{FromBytes, Immutable, IntoBytes};

// ---------------------------------------------------------------------------------------------
// Structure layouts
// ---------------------------------------------------------------------------------------------

/// One row of a layout table: what the struct has and what the spec says.
struct Row {
    field: &'static str,
    off: usize,
    size: usize,
    spec_off: usize,
    spec_size: usize,
}

/// The size of the field a projection closure points at (no value of `T` is needed).
fn field_size<T, F>(_project: fn(&T) -> &F) -> usize {
    size_of::<F>()
}

/// Checks a struct against a spec table. `base` is the offset the spec's numbering starts from
/// where the struct is a payload inside a larger entry (AENQ payloads start at entry byte 16, so
/// their rows are written with the spec's entry offsets and base 16).
fn check_layout(ty: &str, size: usize, spec_size: usize, base: usize, rows: &[Row]) {
    let mut errors = Vec::new();
    if size != spec_size {
        errors.push(format!("size_of is {size}, spec says {spec_size}"));
    }
    let mut next = base;
    for r in rows {
        let off = base + r.off;
        if off != r.spec_off {
            errors.push(format!(
                "{}: offset {off}, spec says {}",
                r.field, r.spec_off
            ));
        }
        if r.size != r.spec_size {
            errors.push(format!(
                "{}: size {}, spec says {}",
                r.field, r.size, r.spec_size
            ));
        }
        if r.spec_off != next {
            errors.push(format!(
                "table row {} starts at {}, expected {next} (gap or overlap)",
                r.field, r.spec_off
            ));
        }
        next = r.spec_off + r.spec_size;
    }
    if next != base + spec_size {
        errors.push(format!(
            "table rows end at {next}, struct ends at {}",
            base + spec_size
        ));
    }
    assert!(
        errors.is_empty(),
        "layout of {ty} disagrees with the spec:\n  {}",
        errors.join("\n  ")
    );
}

/// `layout!(Type, size N [, base B]; field @ offset : size, ...)`.
macro_rules! layout {
    ($t:ty, size $size:literal $(, base $base:literal)?; $($field:tt @ $off:literal : $fsize:literal),+ $(,)?) => {
        check_layout(
            stringify!($t),
            size_of::<$t>(),
            $size,
            0 $(+ $base)?,
            &[$(Row {
                field: stringify!($field),
                off: offset_of!($t, $field),
                size: field_size(|s: &$t| &s.$field),
                spec_off: $off,
                spec_size: $fsize,
            }),+],
        )
    };
}

#[test]
fn layout_common_and_registers() {
    // §0.1 / §4.4: mem_addr = u32 low, u16 high, u16 MBZ.
    layout!(MemAddr, size 8; lo @ 0 : 4, hi @ 4 : 2, reserved @ 6 : 2);
    // §2.3 readless response buffer.
    layout!(MmioReadResp, size 8; req_id @ 0 : 2, reg_off @ 2 : 2, reg_val @ 4 : 4);
    // §2.1: every register is one 32-bit word.
    layout!(Version, size 4; 0 @ 0 : 4);
    layout!(ControllerVersion, size 4; 0 @ 0 : 4);
    layout!(Caps, size 4; 0 @ 0 : 4);
    layout!(QueueCaps, size 4; 0 @ 0 : 4);
    layout!(DevCtl, size 4; 0 @ 0 : 4);
    layout!(DevSts, size 4; 0 @ 0 : 4);
    layout!(MmioRegReadReq, size 4; 0 @ 0 : 4);
    layout!(RssIndEntryUpdate, size 4; 0 @ 0 : 4);
    layout!(IntrReg, size 4; 0 @ 0 : 4);
    layout!(NumaReg, size 4; 0 @ 0 : 4);
}

#[test]
fn layout_admin_entries() {
    // §4.4 AQ entry.
    layout!(AqCommonDesc, size 4;
        command_id @ 0 : 2,
        opcode     @ 2 : 1,
        flags      @ 3 : 1,
    );
    // The control buffer descriptor occupies AQ bytes 4..15: u32 length @4, mem_addr @8.
    layout!(CtrlBuffInfo, size 12, base 4;
        length  @ 4 : 4,
        address @ 8 : 8,
    );
    layout!(AqEntry, size 64;
        common @ 0 : 4,
        body   @ 4 : 60,
    );
    // §4.4 ACQ entry.
    layout!(AcqCommonDesc, size 8;
        command         @ 0 : 2,
        status          @ 2 : 1,
        flags           @ 3 : 1,
        extended_status @ 4 : 2,
        sq_head_indx    @ 6 : 2,
    );
    layout!(AcqEntry, size 64;
        common  @ 0 : 8,
        payload @ 8 : 56,
    );
    assert_eq!(admin::AQ_ENTRY_SIZE, 64);
    assert_eq!(aenq::AENQ_ENTRY_SIZE, 64);
}

#[test]
fn layout_queue_commands() {
    // §4.6.1 CREATE_SQ, 36 B.
    layout!(CreateSqCmd, size 36;
        common            @ 0 : 4,
        sq_identity       @ 4 : 1,
        reserved8_w1      @ 5 : 1,
        sq_caps_2         @ 6 : 1,
        sq_caps_3         @ 7 : 1,
        cq_idx            @ 8 : 2,
        sq_depth          @ 10 : 2,
        sq_ba             @ 12 : 8,
        sq_head_writeback @ 20 : 8,
        reserved0_w7      @ 28 : 4,
        reserved0_w8      @ 32 : 4,
    );
    layout!(CreateSqResp, size 24;
        common                 @ 0 : 8,
        sq_idx                 @ 8 : 2,
        reserved               @ 10 : 2,
        sq_doorbell_offset     @ 12 : 4,
        llq_descriptors_offset @ 16 : 4,
        llq_headers_offset     @ 20 : 4,
    );
    // §4.6.2 DESTROY_SQ, 8 B.
    layout!(DestroySqCmd, size 8;
        common      @ 0 : 4,
        sq_idx      @ 4 : 2,
        sq_identity @ 6 : 1,
        reserved    @ 7 : 1,
    );
    // §4.6.3 CREATE_CQ, 20 B.
    layout!(CreateCqCmd, size 20;
        common      @ 0 : 4,
        cq_caps_1   @ 4 : 1,
        cq_caps_2   @ 5 : 1,
        cq_depth    @ 6 : 2,
        msix_vector @ 8 : 4,
        cq_ba       @ 12 : 8,
    );
    layout!(CreateCqResp, size 24;
        common                              @ 0 : 8,
        cq_idx                              @ 8 : 2,
        cq_actual_depth                     @ 10 : 2,
        numa_node_register_offset           @ 12 : 4,
        cq_head_db_register_offset          @ 16 : 4,
        cq_interrupt_unmask_register_offset @ 20 : 4,
    );
    // §4.6.4 DESTROY_CQ, 8 B.
    layout!(DestroyCqCmd, size 8;
        common   @ 0 : 4,
        cq_idx   @ 4 : 2,
        reserved @ 6 : 2,
    );
}

#[test]
fn layout_feature_commands() {
    // §4.6.5 GET/SET_FEATURE, 64 B: payload ("cmd+X") starts at AQ byte 20.
    layout!(FeatureCmd, size 64;
        common         @ 0 : 4,
        control_buffer @ 4 : 12,
        feat_common    @ 16 : 4,
        payload        @ 20 : 44,
    );
    layout!(FeatureCommon, size 4, base 16;
        flags           @ 16 : 1,
        feature_id      @ 17 : 1,
        feature_version @ 18 : 1,
        reserved        @ 19 : 1,
    );
    // GET response: payload ("resp+X") starts at ACQ byte 8.
    layout!(FeatureResp, size 64;
        common  @ 0 : 8,
        payload @ 8 : 56,
    );
}

#[test]
fn layout_feature_payloads() {
    // §4.6.6 DEVICE_ATTRIBUTES, resp 36 B.
    layout!(DeviceAttrFeature, size 36;
        impl_id                   @ 0 : 4,
        device_version            @ 4 : 4,
        supported_features        @ 8 : 4,
        capabilities              @ 12 : 4,
        phys_addr_width           @ 16 : 4,
        virt_addr_width           @ 20 : 4,
        mac_addr                  @ 24 : 6,
        flow_steering_max_entries @ 30 : 2,
        max_mtu                   @ 32 : 4,
    );
    // §4.6.7 MAX_QUEUES_EXT, resp 44 B.
    layout!(MaxQueuesExtFeature, size 44;
        version                 @ 0 : 1,
        reserved                @ 1 : 3,
        max_tx_sq_num           @ 4 : 4,
        max_tx_cq_num           @ 8 : 4,
        max_rx_sq_num           @ 12 : 4,
        max_rx_cq_num           @ 16 : 4,
        max_tx_sq_depth         @ 20 : 4,
        max_tx_cq_depth         @ 24 : 4,
        max_rx_sq_depth         @ 28 : 4,
        max_rx_cq_depth         @ 32 : 4,
        max_tx_header_size      @ 36 : 4,
        max_per_packet_tx_descs @ 40 : 2,
        max_per_packet_rx_descs @ 42 : 2,
    );
    // §4.6.8 MAX_QUEUES_NUM, resp 32 B.
    layout!(MaxQueuesFeature, size 32;
        max_sq_num           @ 0 : 4,
        max_sq_depth         @ 4 : 4,
        max_cq_num           @ 8 : 4,
        max_cq_depth         @ 12 : 4,
        max_legacy_llq_num   @ 16 : 4,
        max_legacy_llq_depth @ 20 : 4,
        max_header_size      @ 24 : 4,
        max_packet_tx_descs  @ 28 : 2,
        max_packet_rx_descs  @ 30 : 2,
    );
    // §4.6.9 HW_HINTS, resp 32 B (16 × u16).
    layout!(HwHints, size 32;
        mmio_read_timeout                             @ 0 : 2,
        driver_watchdog_timeout                       @ 2 : 2,
        missing_tx_completion_timeout                 @ 4 : 2,
        missed_tx_completion_count_threshold_to_reset @ 6 : 2,
        admin_completion_tx_timeout                   @ 8 : 2,
        netdev_wd_timeout                             @ 10 : 2,
        max_tx_sgl_size                               @ 12 : 2,
        max_rx_sgl_size                               @ 14 : 2,
        reserved                                      @ 16 : 16,
    );
    // §4.6.10 LLQ, 36 B. accel_mode (8 B @28): u16 flags @28, u16 max_tx_burst_size @30, 4 unused.
    layout!(LlqFeature, size 36;
        max_llq_num                       @ 0 : 4,
        max_llq_depth                     @ 4 : 4,
        header_location_ctrl_supported    @ 8 : 2,
        header_location_ctrl_enabled      @ 10 : 2,
        entry_size_ctrl_supported         @ 12 : 2,
        entry_size_ctrl_enabled           @ 14 : 2,
        desc_num_before_header_supported  @ 16 : 2,
        desc_num_before_header_enabled    @ 18 : 2,
        descriptors_stride_ctrl_supported @ 20 : 2,
        descriptors_stride_ctrl_enabled   @ 22 : 2,
        feature_version                   @ 24 : 1,
        entry_size_recommended            @ 25 : 1,
        max_wide_llq_depth                @ 26 : 2,
        accel_mode_flags                  @ 28 : 2,
        max_tx_burst_size                 @ 30 : 2,
        reserved                          @ 32 : 4,
    );
    // §4.6.11 AENQ_CONFIG, 8 B.
    layout!(AenqConfigFeature, size 8;
        supported_groups @ 0 : 4,
        enabled_groups   @ 4 : 4,
    );
    // §4.6.12 STATELESS_OFFLOAD_CONFIG, 12 B.
    layout!(OffloadFeature, size 12;
        tx           @ 0 : 4,
        rx_supported @ 4 : 4,
        rx_enabled   @ 8 : 4,
    );
    // §4.6.13 MTU.
    layout!(MtuFeature, size 4; mtu @ 0 : 4);
    // §4.6.14 HOST_ATTR_CONFIG, 20 B.
    layout!(HostAttrFeature, size 20;
        os_info_ba      @ 0 : 8,
        debug_ba        @ 8 : 8,
        debug_area_size @ 16 : 4,
    );
    // §4.6.14 host-info page, first 196 bytes.
    layout!(HostInfo, size 196;
        os_type                    @ 0 : 4,
        os_dist_str                @ 4 : 128,
        os_dist                    @ 132 : 4,
        kernel_ver_str             @ 136 : 32,
        kernel_ver                 @ 168 : 4,
        driver_version             @ 172 : 4,
        supported_network_features @ 176 : 8,
        ena_spec_version           @ 184 : 2,
        bdf                        @ 186 : 2,
        num_cpus                   @ 188 : 2,
        reserved                   @ 190 : 2,
        driver_supported_features  @ 192 : 4,
    );
    // §4.6.15 INTERRUPT_MODERATION: u16 resolution, u16 reserved.
    layout!(IntrModerationFeature, size 4;
        intr_delay_resolution @ 0 : 2,
        reserved              @ 2 : 2,
    );
    // §4.6.15 LINK_CONFIG, 12 B.
    layout!(LinkConfigFeature, size 12;
        speed     @ 0 : 4,
        supported @ 4 : 4,
        flags     @ 8 : 4,
    );
    // §4.6.15 FRAG_BYPASS: u8 enable @cmd+0 (padded to a 32-bit word as in the header).
    layout!(FragBypassFeature, size 4;
        enable   @ 0 : 1,
        reserved @ 1 : 3,
    );
    // §4.6.15 HW_TIMESTAMP: u8 version @0, tx @1, rx @2 (padded to a 32-bit word).
    layout!(HwTimestampFeature, size 4;
        version  @ 0 : 1,
        tx       @ 1 : 1,
        rx       @ 2 : 1,
        reserved @ 3 : 1,
    );
    // §4.6.15 PHC_CONFIG, 28 B.
    layout!(PhcConfigFeature, size 28;
        version             @ 0 : 1,
        reserved            @ 1 : 3,
        doorbell_offset     @ 4 : 4,
        expire_timeout_usec @ 8 : 4,
        block_timeout_usec  @ 12 : 4,
        output_address      @ 16 : 8,
        output_length       @ 24 : 4,
    );
}

#[test]
fn layout_rss() {
    // §9.2 hash function: inline 12 B, key control buffer 48 B.
    layout!(RssHashFunctionFeature, size 12;
        supported_func @ 0 : 4,
        selected_func  @ 4 : 4,
        init_val       @ 8 : 4,
    );
    layout!(RssHashKey, size 48;
        key_parts @ 0 : 4,
        reserved  @ 4 : 4,
        key       @ 8 : 40,
    );
    // §9.4 indirection table: 16 B, entries {u16 value, u16 reserved}.
    layout!(RssIndTableFeature, size 16;
        min_size     @ 0 : 2,
        max_size     @ 2 : 2,
        size         @ 4 : 2,
        flags        @ 6 : 1,
        reserved     @ 7 : 1,
        inline_index @ 8 : 4,
        inline_entry @ 12 : 4,
    );
    layout!(RssIndTableEntry, size 4;
        cq_idx   @ 0 : 2,
        reserved @ 2 : 2,
    );
    // §9.5 hash input: inline 4 B, control buffer 256 B of 4 × 16 × {u16 fields, u16 reserved}.
    layout!(RssHashInputFeature, size 4;
        supported_input_sort @ 0 : 2,
        enabled_input_sort   @ 2 : 2,
    );
    layout!(RssHashControl, size 256;
        supported_fields @ 0 : 64,
        selected_fields  @ 64 : 64,
        reserved2        @ 128 : 64,
        reserved3        @ 192 : 64,
    );
    layout!(RssHashFields, size 4;
        fields   @ 0 : 2,
        reserved @ 2 : 2,
    );
}

#[test]
fn layout_statistics() {
    // §4.6.16 GET_STATS, 32 B.
    layout!(GetStatsCmd, size 32;
        common            @ 0 : 4,
        control_buffer    @ 4 : 12,
        type_             @ 16 : 1,
        scope             @ 17 : 1,
        reserved          @ 18 : 2,
        queue_idx         @ 20 : 2,
        device_id         @ 22 : 2,
        requested_metrics @ 24 : 8,
    );
    // BASIC, 56 B: seven (u32 low, u32 high) counters.
    layout!(BasicStats, size 56;
        tx_bytes_low     @ 0 : 4,
        tx_bytes_high    @ 4 : 4,
        tx_pkts_low      @ 8 : 4,
        tx_pkts_high     @ 12 : 4,
        rx_bytes_low     @ 16 : 4,
        rx_bytes_high    @ 20 : 4,
        rx_pkts_low      @ 24 : 4,
        rx_pkts_high     @ 28 : 4,
        rx_drops_low     @ 32 : 4,
        rx_drops_high    @ 36 : 4,
        tx_drops_low     @ 40 : 4,
        tx_drops_high    @ 44 : 4,
        rx_overruns_low  @ 48 : 4,
        rx_overruns_high @ 52 : 4,
    );
    // ENI, 40 B.
    layout!(EniStats, size 40;
        bw_in_allowance_exceeded     @ 0 : 8,
        bw_out_allowance_exceeded    @ 8 : 8,
        pps_allowance_exceeded       @ 16 : 8,
        conntrack_allowance_exceeded @ 24 : 8,
        linklocal_allowance_exceeded @ 32 : 8,
    );
    // ENA_SRD, 40 B.
    layout!(EnaSrdStats, size 40;
        flags                        @ 0 : 8,
        ena_srd_tx_pkts              @ 8 : 8,
        ena_srd_eligible_tx_pkts     @ 16 : 8,
        ena_srd_rx_pkts              @ 24 : 8,
        ena_srd_resource_utilization @ 32 : 8,
    );
}

#[test]
fn layout_aenq() {
    // §5.3 entry header and entry.
    layout!(AenqCommonDesc, size 16;
        group          @ 0 : 2,
        syndrome       @ 2 : 2,
        flags          @ 4 : 1,
        reserved1      @ 5 : 3,
        timestamp_low  @ 8 : 4,
        timestamp_high @ 12 : 4,
    );
    layout!(AenqEntry, size 64;
        common  @ 0 : 16,
        payload @ 16 : 48,
    );
    // Payloads start at entry byte 16; rows use the spec's entry offsets.
    layout!(LinkChangeDesc, size 4, base 16; flags @ 16 : 4);
    layout!(KeepAliveDesc, size 24, base 16;
        rx_drops_low     @ 16 : 4,
        rx_drops_high    @ 20 : 4,
        tx_drops_low     @ 24 : 4,
        tx_drops_high    @ 28 : 4,
        rx_overruns_low  @ 32 : 4,
        rx_overruns_high @ 36 : 4,
    );
    layout!(ConfNotificationsDesc, size 16, base 16;
        notifications_bitmap @ 16 : 8,
        reserved             @ 24 : 8,
    );
    // NOTIFICATION / UPDATE_HINTS carries the 32-byte HW-hints structure at @16.
    assert_eq!(size_of::<UpdateHintsDesc>(), 32);
}

#[test]
fn layout_io_descriptors() {
    // §6.3 TX descriptor: four words.
    layout!(TxDesc, size 16;
        len_ctrl            @ 0 : 4,
        meta_ctrl           @ 4 : 4,
        buff_addr_lo        @ 8 : 4,
        buff_addr_hi_hdr_sz @ 12 : 4,
    );
    // §6.4 TX meta descriptor: four words.
    layout!(TxMetaDesc, size 16;
        len_ctrl @ 0 : 4,
        word1    @ 4 : 4,
        word2    @ 8 : 4,
        reserved @ 12 : 4,
    );
    // §6.6 TX completion, 8 B; extended 16 B.
    layout!(TxCdesc, size 8;
        req_id      @ 0 : 2,
        status      @ 2 : 1,
        flags       @ 3 : 1,
        sub_qid     @ 4 : 2,
        sq_head_idx @ 6 : 2,
    );
    layout!(TxCdescExt, size 16;
        base           @ 0 : 8,
        timestamp_low  @ 8 : 4,
        timestamp_high @ 12 : 4,
    );
    // §6.8 RX descriptor, 16 B.
    layout!(RxDesc, size 16;
        length         @ 0 : 2,
        reserved2      @ 2 : 1,
        ctrl           @ 3 : 1,
        req_id         @ 4 : 2,
        reserved6      @ 6 : 2,
        buff_addr_lo   @ 8 : 4,
        buff_addr_hi   @ 12 : 2,
        reserved16_w3  @ 14 : 2,
    );
    // §6.8 RX completion, 16 B; extended 32 B.
    layout!(RxCdesc, size 16;
        status   @ 0 : 4,
        length   @ 4 : 2,
        req_id   @ 6 : 2,
        hash     @ 8 : 4,
        sub_qid  @ 12 : 2,
        offset   @ 14 : 1,
        reserved @ 15 : 1,
    );
    layout!(RxCdescExt, size 32;
        base           @ 0 : 16,
        buff_addr_lo   @ 16 : 4,
        buff_addr_hi   @ 20 : 2,
        reserved16     @ 22 : 2,
        timestamp_low  @ 24 : 4,
        timestamp_high @ 28 : 4,
    );
    // §6.1 ring entry sizes.
    assert_eq!(io::SQ_DESC_SIZE, 16);
    assert_eq!(io::TX_CDESC_SIZE, 8);
    assert_eq!(io::RX_CDESC_SIZE, 16);
}

/// Feature payloads must fit the room the command or response leaves for them.
#[test]
fn feature_payloads_fit_their_slots() {
    // SET payloads: AQ bytes 20..63 (44 bytes).
    for (name, size) in [
        ("LlqFeature", size_of::<LlqFeature>()),
        ("AenqConfigFeature", size_of::<AenqConfigFeature>()),
        ("MtuFeature", size_of::<MtuFeature>()),
        ("HostAttrFeature", size_of::<HostAttrFeature>()),
        (
            "RssHashFunctionFeature",
            size_of::<RssHashFunctionFeature>(),
        ),
        ("RssIndTableFeature", size_of::<RssIndTableFeature>()),
        ("RssHashInputFeature", size_of::<RssHashInputFeature>()),
        ("FragBypassFeature", size_of::<FragBypassFeature>()),
        ("HwTimestampFeature", size_of::<HwTimestampFeature>()),
        ("PhcConfigFeature", size_of::<PhcConfigFeature>()),
    ] {
        assert!(
            size <= 44,
            "{name} ({size} B) does not fit the 44-byte SET payload"
        );
    }
    // GET payloads: ACQ bytes 8..63 (56 bytes).
    for (name, size) in [
        ("DeviceAttrFeature", size_of::<DeviceAttrFeature>()),
        ("MaxQueuesExtFeature", size_of::<MaxQueuesExtFeature>()),
        ("MaxQueuesFeature", size_of::<MaxQueuesFeature>()),
        ("HwHints", size_of::<HwHints>()),
        ("LlqFeature", size_of::<LlqFeature>()),
        ("AenqConfigFeature", size_of::<AenqConfigFeature>()),
        ("OffloadFeature", size_of::<OffloadFeature>()),
        (
            "RssHashFunctionFeature",
            size_of::<RssHashFunctionFeature>(),
        ),
        ("RssIndTableFeature", size_of::<RssIndTableFeature>()),
        ("RssHashInputFeature", size_of::<RssHashInputFeature>()),
        ("IntrModerationFeature", size_of::<IntrModerationFeature>()),
        ("LinkConfigFeature", size_of::<LinkConfigFeature>()),
        ("HwTimestampFeature", size_of::<HwTimestampFeature>()),
        ("PhcConfigFeature", size_of::<PhcConfigFeature>()),
        ("BasicStats", size_of::<BasicStats>()),
        ("EniStats", size_of::<EniStats>()),
        ("EnaSrdStats", size_of::<EnaSrdStats>()),
    ] {
        assert!(
            size <= 56,
            "{name} ({size} B) does not fit the 56-byte response payload"
        );
    }
    // AENQ payloads: entry bytes 16..63 (48 bytes).
    assert!(size_of::<KeepAliveDesc>() <= 48);
    assert!(size_of::<ConfNotificationsDesc>() <= 48);
    assert!(size_of::<UpdateHintsDesc>() <= 48);
}

/// The spec's own example of payload placement: AENQ_CONFIG enabled_groups is "cmd+4, i.e. AQ
/// byte 24"; a GET answer's resp+X is ACQ byte 8+X; a KEEP_ALIVE counter at entry @16.
#[test]
fn payloads_land_at_spec_entry_offsets() {
    let mut cmd = FeatureCmd::default();
    let aenq_cfg = AenqConfigFeature {
        supported_groups: 0,
        enabled_groups: 0x0000_00DF,
    };
    cmd.payload[..8].copy_from_slice(aenq_cfg.as_bytes());
    assert_eq!(&cmd.as_bytes()[24..28], &[0xDF, 0, 0, 0]);

    let mut cmd = FeatureCmd::default();
    cmd.payload[..4].copy_from_slice(MtuFeature { mtu: 9001 }.as_bytes());
    assert_eq!(&cmd.as_bytes()[20..24], &9001u32.to_le_bytes());

    let mut resp = FeatureResp::default();
    let attr = DeviceAttrFeature {
        max_mtu: 9216,
        mac_addr: [2, 0, 0, 0, 0, 1],
        ..Default::default()
    };
    resp.payload[..36].copy_from_slice(attr.as_bytes());
    assert_eq!(&resp.as_bytes()[8 + 24..8 + 30], &[2, 0, 0, 0, 0, 1]);
    assert_eq!(&resp.as_bytes()[8 + 32..8 + 36], &9216u32.to_le_bytes());

    let mut ev = AenqEntry::default();
    let ka = KeepAliveDesc {
        rx_overruns_high: 0xA1B2_C3D4,
        ..Default::default()
    };
    ev.payload[..24].copy_from_slice(ka.as_bytes());
    assert_eq!(&ev.as_bytes()[36..40], &0xA1B2_C3D4u32.to_le_bytes());
}

// ---------------------------------------------------------------------------------------------
// Bit fields
// ---------------------------------------------------------------------------------------------

/// The value types bit-field accessors take and return.
trait FieldValue: Copy + PartialEq + Debug {
    /// Bits the type can hold.
    const BITS: u32;
    /// Truncating conversion.
    fn from_u64(v: u64) -> Self;
    fn to_u64(self) -> u64;
}
macro_rules! int_field_value {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            const BITS: u32 = <$t>::BITS;
            fn from_u64(v: u64) -> Self { v as $t }
            fn to_u64(self) -> u64 { self as u64 }
        }
    )*};
}
int_field_value!(u8, u16, u32);
impl FieldValue for bool {
    const BITS: u32 = 1;
    fn from_u64(v: u64) -> Self {
        v & 1 == 1
    }
    fn to_u64(self) -> u64 {
        self as u64
    }
}

/// `len` bytes, all zero except `value` placed at bits `lo..` of the little-endian integer that
/// starts at byte `off` (spec §0.1: bit n of a field is the bit of value 2^n).
fn field_bytes(len: usize, off: usize, lo: u32, width: u32, value: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    for i in 0..width {
        if value >> i & 1 == 1 {
            let bit = off * 8 + (lo + i) as usize;
            bytes[bit / 8] |= 1 << (bit % 8);
        }
    }
    bytes
}

fn ones<T: FromBytes + IntoBytes>() -> T {
    let mut v = T::new_zeroed();
    v.as_mut_bytes().fill(0xFF);
    v
}

/// Checks one accessor pair against the bits `hi:lo` of the field starting at byte `off`.
fn check_bits<T, V>(name: &str, off: usize, hi: u32, lo: u32, set: fn(&mut T, V), get: fn(&T) -> V)
where
    T: FromBytes + IntoBytes + Immutable,
    V: FieldValue,
{
    assert!(hi >= lo, "{name}: bad table row {hi}:{lo}");
    let width = hi - lo + 1;
    assert!(
        width <= V::BITS,
        "{name}: {width}-bit field behind a {}-bit accessor",
        V::BITS
    );
    let len = size_of::<T>();
    assert!(
        off * 8 + (hi as usize) < len * 8,
        "{name}: bit {hi} @{off} lies outside the {len}-byte type"
    );
    let max = if width == 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    let mask = field_bytes(len, off, lo, width, max);

    // Maximum, lowest bit and an alternating pattern, each from zero: exactly those bits set.
    for value in [
        max,
        1,
        0x5555_5555_5555_5555 & max,
        0xAAAA_AAAA_AAAA_AAAA & max,
    ] {
        let mut v = T::new_zeroed();
        set(&mut v, V::from_u64(value));
        assert_eq!(
            v.as_bytes(),
            &field_bytes(len, off, lo, width, value)[..],
            "{name}: set({value:#x}) from zero must set exactly bits {hi}:{lo} of @{off}"
        );
        assert_eq!(get(&v).to_u64(), value, "{name}: get after set({value:#x})");
    }

    // A value wider than the field is truncated, never spilled into neighbours.
    if V::BITS > width {
        let mut v = T::new_zeroed();
        set(&mut v, V::from_u64(u64::MAX));
        assert_eq!(
            v.as_bytes(),
            &mask[..],
            "{name}: an all-ones value spilled outside bits {hi}:{lo}"
        );
        assert_eq!(get(&v).to_u64(), max, "{name}: get after an oversized set");
    }

    // From all-ones: the getter sees only its bits, and clearing the field leaves the rest intact.
    let mut v: T = ones();
    assert_eq!(get(&v).to_u64(), max, "{name}: get on an all-ones value");
    set(&mut v, V::from_u64(0));
    let cleared: Vec<u8> = mask.iter().map(|b| !b).collect();
    assert_eq!(
        v.as_bytes(),
        &cleared[..],
        "{name}: set(0) must clear exactly bits {hi}:{lo} of @{off}"
    );
    assert_eq!(get(&v).to_u64(), 0, "{name}: get after set(0)");
}

/// Low end of a bit range; a single bit `[n]` is `[n:n]`.
macro_rules! lo_bit {
    ($hi:literal) => {
        $hi
    };
    ($hi:literal, $lo:literal) => {
        $lo
    };
}

/// `bit_fields!(Type; getter / setter : value_type @ byte_offset [hi:lo], ...)`: `byte_offset` is
/// where the spec's word/byte holding the field starts; `[n]` is a single bit.
macro_rules! bit_fields {
    ($t:ty; $($get:ident / $set:ident : $vt:ident @ $off:literal [$hi:literal $(: $lo:literal)?]),+ $(,)?) => {
        $(check_bits::<$t, $vt>(
            concat!(stringify!($t), "::", stringify!($get)),
            $off,
            $hi,
            lo_bit!($hi $(, $lo)?),
            |d, v| d.$set(v),
            |d| d.$get(),
        );)+
    };
}

#[test]
fn bits_registers() {
    // §2.1 VERSION.
    bit_fields!(Version;
        minor / set_minor : u8 @ 0 [7:0],
        major / set_major : u8 @ 0 [15:8],
    );
    // §2.1 CONTROLLER_VERSION.
    bit_fields!(ControllerVersion;
        subminor / set_subminor : u8 @ 0 [7:0],
        minor / set_minor : u8 @ 0 [15:8],
        major / set_major : u8 @ 0 [23:16],
        impl_id / set_impl_id : u8 @ 0 [31:24],
        version / set_version : u32 @ 0 [23:0],
    );
    // §2.1 CAPS.
    bit_fields!(Caps;
        contiguous_queue_required / set_contiguous_queue_required : bool @ 0 [0],
        reset_timeout / set_reset_timeout : u8 @ 0 [5:1],
        dma_addr_width / set_dma_addr_width : u8 @ 0 [15:8],
        admin_cmd_to / set_admin_cmd_to : u8 @ 0 [19:16],
    );
    // §2.1 AQ_CAPS / ACQ_CAPS / AENQ_CAPS.
    bit_fields!(QueueCaps;
        depth / set_depth : u16 @ 0 [15:0],
        entry_size / set_entry_size : u16 @ 0 [31:16],
    );
    // §2.1 DEV_CTL.
    bit_fields!(DevCtl;
        dev_reset / set_dev_reset : bool @ 0 [0],
        aq_restart / set_aq_restart : bool @ 0 [1],
        quiescent / set_quiescent : bool @ 0 [2],
        io_resume / set_io_resume : bool @ 0 [3],
        reset_reason_ext / set_reset_reason_ext : u8 @ 0 [27:24],
        reset_reason / set_reset_reason : u8 @ 0 [31:28],
    );
    // §2.1 DEV_STS.
    bit_fields!(DevSts;
        ready / set_ready : bool @ 0 [0],
        aq_restart_in_progress / set_aq_restart_in_progress : bool @ 0 [1],
        aq_restart_finished / set_aq_restart_finished : bool @ 0 [2],
        reset_in_progress / set_reset_in_progress : bool @ 0 [3],
        reset_finished / set_reset_finished : bool @ 0 [4],
        fatal_error / set_fatal_error : bool @ 0 [5],
        quiescent_state_in_progress / set_quiescent_state_in_progress : bool @ 0 [6],
        quiescent_state_achieved / set_quiescent_state_achieved : bool @ 0 [7],
    );
    // §2.1 MMIO_REG_READ.
    bit_fields!(MmioRegReadReq;
        req_id / set_req_id : u16 @ 0 [15:0],
        reg_off / set_reg_off : u16 @ 0 [31:16],
    );
    // §2.1 RSS_IND_ENTRY_UPDATE.
    bit_fields!(RssIndEntryUpdate;
        index / set_index : u16 @ 0 [15:0],
        cq_idx / set_cq_idx : u16 @ 0 [31:16],
    );
    // §6.9 interrupt unmask register.
    bit_fields!(IntrReg;
        rx_intr_delay / set_rx_intr_delay : u16 @ 0 [14:0],
        tx_intr_delay / set_tx_intr_delay : u16 @ 0 [29:15],
        intr_unmask / set_intr_unmask : bool @ 0 [30],
        no_moderation_update / set_no_moderation_update : bool @ 0 [31],
    );
    // §6.10 NUMA register.
    bit_fields!(NumaReg;
        numa / set_numa : u8 @ 0 [7:0],
        enabled / set_enabled : bool @ 0 [31],
    );
}

#[test]
fn bits_admin() {
    // §4.4: command_id u16 @0 bits 11:0; flags u8 @3.
    bit_fields!(AqCommonDesc;
        cmd_id / set_cmd_id : u16 @ 0 [11:0],
        phase / set_phase : bool @ 3 [0],
        ctrl_data / set_ctrl_data : bool @ 3 [1],
        ctrl_data_indirect / set_ctrl_data_indirect : bool @ 3 [2],
    );
    bit_fields!(AcqCommonDesc;
        cmd_id / set_cmd_id : u16 @ 0 [11:0],
        phase / set_phase : bool @ 3 [0],
    );
    // §4.6.1: sq_identity u8 @4, sq_caps_2 u8 @6, sq_caps_3 u8 @7.
    bit_fields!(CreateSqCmd;
        direction / set_direction : u8 @ 4 [7:5],
        placement_policy / set_placement_policy : u8 @ 6 [3:0],
        completion_policy / set_completion_policy : u8 @ 6 [6:4],
        is_physically_contiguous / set_is_physically_contiguous : bool @ 7 [0],
    );
    // §4.6.2: sq_identity u8 @6.
    bit_fields!(DestroySqCmd;
        direction / set_direction : u8 @ 6 [7:5],
    );
    // §4.6.3: cq_caps_1 u8 @4, cq_caps_2 u8 @5.
    bit_fields!(CreateCqCmd;
        interrupt_mode_enabled / set_interrupt_mode_enabled : bool @ 4 [5],
        entry_size_words / set_entry_size_words : u8 @ 5 [4:0],
    );
}

#[test]
fn bits_aenq() {
    // §5.3: flags u8 @4 bit 0.
    bit_fields!(AenqCommonDesc;
        phase / set_phase : bool @ 4 [0],
    );
    // §5.3 LINK_CHANGE: u32 flags at entry @16 = payload @0, bit 0 link up.
    bit_fields!(LinkChangeDesc;
        link_status / set_link_status : bool @ 0 [0],
    );
}

#[test]
fn bits_tx_descriptors() {
    // §6.3 word 0 (@0), word 1 (@4), word 3 (@12).
    bit_fields!(TxDesc;
        length / set_length : u16 @ 0 [15:0],
        req_id_hi / set_req_id_hi : u16 @ 0 [21:16],
        mbz22 / set_mbz22 : bool @ 0 [22],
        meta_desc / set_meta_desc : bool @ 0 [23],
        phase / set_phase : bool @ 0 [24],
        first / set_first : bool @ 0 [26],
        last / set_last : bool @ 0 [27],
        comp_req / set_comp_req : bool @ 0 [28],
        l3_proto_idx / set_l3_proto_idx : u8 @ 4 [3:0],
        df / set_df : bool @ 4 [4],
        tso_en / set_tso_en : bool @ 4 [7],
        l4_proto_idx / set_l4_proto_idx : u8 @ 4 [12:8],
        l3_csum_en / set_l3_csum_en : bool @ 4 [13],
        l4_csum_en / set_l4_csum_en : bool @ 4 [14],
        ethernet_fcs_dis / set_ethernet_fcs_dis : bool @ 4 [15],
        l4_csum_partial / set_l4_csum_partial : bool @ 4 [17],
        req_id_lo / set_req_id_lo : u16 @ 4 [31:22],
        buff_addr_hi / set_buff_addr_hi : u16 @ 12 [15:0],
        header_length / set_header_length : u8 @ 12 [31:24],
    );
    // §6.4 word 0 (@0), word 2 (@8).
    bit_fields!(TxMetaDesc;
        req_id_lo / set_req_id_lo : u16 @ 0 [9:0],
        ext_valid / set_ext_valid : bool @ 0 [14],
        mss_hi / set_mss_hi : u16 @ 0 [19:16],
        eth_meta_type / set_eth_meta_type : bool @ 0 [20],
        meta_store / set_meta_store : bool @ 0 [21],
        meta_desc / set_meta_desc : bool @ 0 [23],
        phase / set_phase : bool @ 0 [24],
        first / set_first : bool @ 0 [26],
        last / set_last : bool @ 0 [27],
        comp_req / set_comp_req : bool @ 0 [28],
        l3_hdr_len / set_l3_hdr_len : u8 @ 8 [7:0],
        l3_hdr_off / set_l3_hdr_off : u8 @ 8 [15:8],
        l4_hdr_len_in_words / set_l4_hdr_len_in_words : u8 @ 8 [21:16],
        mss_lo / set_mss_lo : u16 @ 8 [31:22],
    );
    // §6.6: flags u8 @3.
    bit_fields!(TxCdesc;
        phase / set_phase : bool @ 3 [0],
        mbz / set_mbz : u8 @ 3 [7:6],
    );
}

#[test]
fn bits_rx_descriptors() {
    // §6.8 RX descriptor: ctrl u8 @3.
    bit_fields!(RxDesc;
        phase / set_phase : bool @ 3 [0],
        mbz1 / set_mbz1 : bool @ 3 [1],
        first / set_first : bool @ 3 [2],
        last / set_last : bool @ 3 [3],
        comp_req / set_comp_req : bool @ 3 [4],
        mbo5 / set_mbo5 : bool @ 3 [5],
    );
    // §6.8 RX completion: status u32 @0.
    bit_fields!(RxCdesc;
        l3_proto_idx / set_l3_proto_idx : u8 @ 0 [4:0],
        src_vlan_cnt / set_src_vlan_cnt : u8 @ 0 [6:5],
        mbz7 / set_mbz7 : bool @ 0 [7],
        l4_proto_idx / set_l4_proto_idx : u8 @ 0 [12:8],
        l3_csum_err / set_l3_csum_err : bool @ 0 [13],
        l4_csum_err / set_l4_csum_err : bool @ 0 [14],
        ipv4_frag / set_ipv4_frag : bool @ 0 [15],
        l4_csum_checked / set_l4_csum_checked : bool @ 0 [16],
        mbz17 / set_mbz17 : bool @ 0 [17],
        phase / set_phase : bool @ 0 [24],
        l3_csum2 / set_l3_csum2 : bool @ 0 [25],
        first / set_first : bool @ 0 [26],
        last / set_last : bool @ 0 [27],
        buffer / set_buffer : bool @ 0 [30],
    );
}

// ---------------------------------------------------------------------------------------------
// Combined accessors and whole-value golden vectors
// ---------------------------------------------------------------------------------------------

/// Little-endian u32 words of a value's bytes.
fn words(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn tx_desc_req_id_split() {
    // §6.3: req_id 15:10 in word 0 bits 21:16, req_id 9:0 in word 1 bits 31:22.
    let mut d = TxDesc::default();
    d.set_req_id(0xFFFF);
    assert_eq!(words(d.as_bytes()), [0x003F_0000, 0xFFC0_0000, 0, 0]);
    assert_eq!(d.req_id(), 0xFFFF);

    let mut d = TxDesc::default();
    d.set_req_id(0x0401); // hi part 1, lo part 1
    assert_eq!(words(d.as_bytes()), [0x0001_0000, 0x0040_0000, 0, 0]);
    assert_eq!(d.req_id(), 0x0401);

    // Re-setting replaces both halves and leaves every other bit alone.
    let mut d: TxDesc = ones();
    d.set_req_id(0);
    assert_eq!(words(d.as_bytes()), [!0x003F_0000, !0xFFC0_0000, !0, !0]);
    assert_eq!(d.req_id(), 0);
    d.set_req_id(0x1234);
    assert_eq!(d.req_id(), 0x1234);
    assert_eq!(d.req_id_hi(), 0x1234 >> 10);
    assert_eq!(d.req_id_lo(), 0x1234 & 0x3FF);
}

#[test]
fn tx_desc_buff_addr() {
    // §6.3: word 2 = address 31:0; word 3 bits 15:0 = address 47:32, 31:24 header_length.
    let mut d = TxDesc::default();
    d.set_header_length(0xA5);
    d.set_buff_addr(0x0000_ABCD_1234_5678);
    assert_eq!(words(d.as_bytes()), [0, 0, 0x1234_5678, 0xA500_ABCD]);
    assert_eq!(d.buff_addr(), 0x0000_ABCD_1234_5678);
    assert_eq!(d.header_length(), 0xA5);

    // Address bits above 47 are dropped, not written into word 3 bits 31:16.
    let mut d = TxDesc::default();
    d.set_buff_addr(u64::MAX);
    assert_eq!(words(d.as_bytes()), [0, 0, 0xFFFF_FFFF, 0x0000_FFFF]);
    assert_eq!(d.buff_addr(), 0xFFFF_FFFF_FFFF);
}

#[test]
fn tx_desc_golden_data0() {
    // A data_0 descriptor built from §6.3/§6.5: 1514-byte buffer, req_id 0x1234, first + last +
    // comp_req, phase 1, IPv4/TCP with both checksums, DF, 96 pushed header bytes.
    let mut d = TxDesc::default();
    d.set_length(1514);
    d.set_req_id(0x1234);
    d.set_phase(true);
    d.set_first(true);
    d.set_last(true);
    d.set_comp_req(true);
    d.set_l3_proto_idx(io::l3_proto::IPV4);
    d.set_l4_proto_idx(io::l4_proto::TCP);
    d.set_df(true);
    d.set_l3_csum_en(true);
    d.set_l4_csum_en(true);
    d.set_header_length(96);
    d.set_buff_addr(0x0000_7F01_2345_6780);
    // word 0: 0x05EA | (0x1234 >> 10 = 4) << 16 | 1 << 24 | 1 << 26 | 1 << 27 | 1 << 28
    // word 1: 8 | 1 << 4 | 12 << 8 | 1 << 13 | 1 << 14 | (0x1234 & 0x3FF = 0x234) << 22
    // word 3: 0x7F01 | 96 << 24
    assert_eq!(
        words(d.as_bytes()),
        [0x1D04_05EA, 0x8D00_6C18, 0x2345_6780, 0x6000_7F01]
    );
    assert!(!d.meta_desc());
}

#[test]
fn tx_meta_desc_mss_split() {
    // §6.4: mss 13:10 in word 0 bits 19:16, mss 9:0 in word 2 bits 31:22.
    let mut m = TxMetaDesc::default();
    m.set_mss(0x3FFF);
    assert_eq!(words(m.as_bytes()), [0x000F_0000, 0, 0xFFC0_0000, 0]);
    assert_eq!(m.mss(), 0x3FFF);

    // 16 bits in, 14 bits kept: nothing spills.
    let mut m = TxMetaDesc::default();
    m.set_mss(0xFFFF);
    assert_eq!(words(m.as_bytes()), [0x000F_0000, 0, 0xFFC0_0000, 0]);
    assert_eq!(m.mss(), 0x3FFF);

    let mut m: TxMetaDesc = ones();
    m.set_mss(0);
    assert_eq!(words(m.as_bytes()), [!0x000F_0000, !0, !0xFFC0_0000, !0]);
    m.set_mss(1460);
    assert_eq!(m.mss(), 1460);
}

#[test]
fn tx_meta_desc_golden_tso() {
    // A TSO meta descriptor per §6.4/§6.5: mss 1448, IPv4 header 20 B at offset 14, TCP header
    // 5 words; ext_valid, eth_meta_type, meta_store, meta_desc, phase, first.
    let mut m = TxMetaDesc::default();
    m.set_ext_valid(true);
    m.set_eth_meta_type(true);
    m.set_meta_store(true);
    m.set_meta_desc(true);
    m.set_phase(true);
    m.set_first(true);
    m.set_mss(1448);
    m.set_l3_hdr_len(20);
    m.set_l3_hdr_off(14);
    m.set_l4_hdr_len_in_words(5);
    // word 0: 1 << 14 | (1448 >> 10 = 1) << 16 | 1 << 20 | 1 << 21 | 1 << 23 | 1 << 24 | 1 << 26
    // word 2: 20 | 14 << 8 | 5 << 16 | (1448 & 0x3FF = 0x1A8) << 22
    assert_eq!(words(m.as_bytes()), [0x05B1_4000, 0, 0x6A05_0E14, 0]);
}

#[test]
fn rx_desc_buff_addr_and_length() {
    // §6.8: u32 address 31:0 @8, u16 address 47:32 @12, u16 reserved @14.
    let mut d = RxDesc::default();
    d.set_buff_addr(0x0000_ABCD_1234_5678);
    assert_eq!(
        &d.as_bytes()[8..16],
        &[0x78, 0x56, 0x34, 0x12, 0xCD, 0xAB, 0, 0]
    );
    assert_eq!(&d.as_bytes()[..8], &[0; 8]);
    assert_eq!(d.buff_addr(), 0x0000_ABCD_1234_5678);

    let mut d = RxDesc::default();
    d.set_buff_addr(u64::MAX);
    assert_eq!(
        &d.as_bytes()[8..16],
        &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]
    );
    assert_eq!(d.buff_addr(), 0xFFFF_FFFF_FFFF);

    // u16 length @0, 0 means 65536.
    for (raw, len) in [(0u16, 65536u32), (1, 1), (2048, 2048), (0xFFFF, 65535)] {
        let d = RxDesc {
            length: raw,
            ..Default::default()
        };
        assert_eq!(d.buffer_len(), len, "length field {raw:#x}");
        assert_eq!(&d.as_bytes()[..2], &raw.to_le_bytes());
    }
}

#[test]
fn rx_desc_golden_posted_buffer() {
    // What both drivers post (§6.8): first | last | comp_req on every descriptor, phase 1.
    let mut d = RxDesc {
        length: 2048,
        req_id: 17,
        ..Default::default()
    };
    d.set_phase(true);
    d.set_first(true);
    d.set_last(true);
    d.set_comp_req(true);
    d.set_buff_addr(0x0000_0001_0000_0800);
    assert_eq!(
        d.as_bytes(),
        &[0x00, 0x08, 0x00, 0x1D, 17, 0, 0, 0, 0x00, 0x08, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00]
    );
}

#[test]
fn rx_cdesc_golden_decode() {
    // A completion as a device would write it (§6.8): IPv4/TCP, L4 checksum verified, phase 1,
    // first and last, 1514 bytes into buffer 7, hash 0xA9828BD4, offset 2.
    let mut bytes = [0u8; 16];
    bytes[0..4].copy_from_slice(&0x0D01_0C08u32.to_le_bytes());
    bytes[4..6].copy_from_slice(&1514u16.to_le_bytes());
    bytes[6..8].copy_from_slice(&7u16.to_le_bytes());
    bytes[8..12].copy_from_slice(&0xA982_8BD4u32.to_le_bytes());
    bytes[14] = 2;
    let c = RxCdesc::read_from_bytes(&bytes[..]).expect("16 bytes");
    assert_eq!(c.l3_proto_idx(), io::l3_proto::IPV4);
    assert_eq!(c.l4_proto_idx(), io::l4_proto::TCP);
    assert!(c.l4_csum_checked() && !c.l4_csum_err() && !c.l3_csum_err() && !c.ipv4_frag());
    assert!(c.phase() && c.first() && c.last());
    assert!(!c.mbz7() && !c.mbz17() && !c.buffer() && !c.l3_csum2());
    assert_eq!(
        (c.length, c.req_id, c.hash, c.offset),
        (1514, 7, 0xA982_8BD4, 2)
    );
}

#[test]
fn tx_cdesc_golden_decode() {
    // §6.6: u16 req_id @0, u8 status @2, u8 flags @3 (bit 0 phase, 7:6 MBZ), u16 sub_qid @4,
    // u16 sq_head_idx @6.
    let c = TxCdesc::read_from_bytes(&[0x34, 0x12, 0, 0x01, 0, 0, 0x10, 0][..]).expect("8 bytes");
    assert_eq!((c.req_id, c.sq_head_idx), (0x1234, 16));
    assert!(c.phase());
    assert_eq!(c.mbz(), 0);
    let c = TxCdesc::read_from_bytes(&[0, 0, 0, 0xC0, 0, 0, 0, 0][..]).expect("8 bytes");
    assert!(!c.phase());
    assert_eq!(c.mbz(), 3);
}

#[test]
fn mem_addr_new_get() {
    let a = MemAddr::new(0x0000_ABCD_1234_5678);
    assert_eq!(a.as_bytes(), &[0x78, 0x56, 0x34, 0x12, 0xCD, 0xAB, 0, 0]);
    assert_eq!(a.get(), 0x0000_ABCD_1234_5678);
    // 48-bit format: high 16 bits of a u64 are dropped and the reserved half-word stays zero.
    let a = MemAddr::new(u64::MAX);
    assert_eq!(a.as_bytes(), &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]);
    assert_eq!(a.get(), 0xFFFF_FFFF_FFFF);
    assert_eq!(MemAddr::MAX, 0xFFFF_FFFF_FFFF);
    assert_eq!(MemAddr::new(0).as_bytes(), &[0; 8]);
    // §0.1: a little-endian u64 with the top 16 bits zero is the same bytes.
    assert_eq!(
        MemAddr::new(0x0000_0001_8000_0000).as_bytes(),
        &0x0000_0001_8000_0000u64.to_le_bytes()
    );
}

#[test]
fn dev_ctl_reset_reason_encoding() {
    // §3.1/§3.3: DEV_CTL = 1 | (reason_lo << 28) | (reason_hi << 24).
    for code in 0u8..=20 {
        let mut c = DevCtl::default();
        c.set_dev_reset(true);
        c.set_reset_reason(code & 0xF);
        c.set_reset_reason_ext(code >> 4);
        let expect = 1 | (u32::from(code) & 0xF) << 28 | (u32::from(code) >> 4) << 24;
        assert_eq!(c.0, expect, "reason {code}");
        assert_eq!(c.reason(), code);
    }
    // Typed-in samples: KEEP_ALIVE_TO (1), GENERIC (13), DEVICE_REQUEST (19), MISS_FIRST_INTERRUPT (20).
    assert_eq!(DevCtl(0x1000_0001).reason(), 1);
    assert_eq!(DevCtl(0xD000_0001).reason(), 13);
    assert_eq!(DevCtl(0x3100_0001).reason(), 19);
    assert_eq!(DevCtl(0x4100_0001).reason(), 20);
    assert!(DevCtl(0x4100_0001).dev_reset());
    assert_eq!(DevCtl(0xFF00_0000).reason(), 0xFF);
}

#[test]
fn register_golden_values() {
    // §2.1 values seen on real hardware and written by the drivers.
    let v = Version(0x0000_000A);
    assert_eq!((v.major(), v.minor()), (0, 10));

    let cv = ControllerVersion(0x0100_0001);
    assert_eq!(
        (cv.impl_id(), cv.major(), cv.minor(), cv.subminor()),
        (1, 0, 0, 1)
    );
    assert_eq!(cv.version(), 1);
    assert_eq!(ControllerVersion::MIN_SUPPORTED, 0x00_0001);
    assert!(cv.version() >= ControllerVersion::MIN_SUPPORTED);
    let cv = ControllerVersion(0x1234_5678);
    assert_eq!(cv.version(), 0x34_5678);
    assert_eq!(
        (cv.impl_id(), cv.major(), cv.minor(), cv.subminor()),
        (0x12, 0x34, 0x56, 0x78)
    );
    assert!(ControllerVersion(0xFF00_0000).version() < ControllerVersion::MIN_SUPPORTED);

    // §14.1 CAPS 0x00003014: dma width 48, reset_timeout 10, admin_cmd_to 0.
    let caps = Caps(0x0000_3014);
    assert_eq!(
        (
            caps.dma_addr_width(),
            caps.reset_timeout(),
            caps.admin_cmd_to()
        ),
        (48, 10, 0)
    );
    assert!(!caps.contiguous_queue_required());

    // §3.4 step 7: AQ_CAPS = ACQ_CAPS = 0x00400020, AENQ_CAPS = 0x00400010.
    assert_eq!(QueueCaps::new(32, 64).0, 0x0040_0020);
    assert_eq!(QueueCaps::new(16, 64).0, 0x0040_0010);
    assert_eq!(
        QueueCaps::new(admin::AQ_DEPTH, admin::AQ_ENTRY_SIZE as u16).0,
        0x0040_0020
    );
    assert_eq!(
        QueueCaps::new(aenq::AENQ_DEPTH, aenq::AENQ_ENTRY_SIZE as u16).0,
        0x0040_0010
    );
    let q = QueueCaps(0x0040_0020);
    assert_eq!((q.depth(), q.entry_size()), (32, 64));

    // §2.3: MMIO_REG_READ = (offset << 16) | req_id.
    assert_eq!(MmioRegReadReq::new(0x58, 1).0, 0x0058_0001);
    assert_eq!(MmioRegReadReq::new(0xFFFF, 0xFFFF).0, 0xFFFF_FFFF);
    let r = MmioRegReadReq(0x0008_0002);
    assert_eq!((r.reg_off(), r.req_id()), (regs::off::CAPS as u16, 2));

    // §3.2: DEV_STS at power-on = 0x00000001 (ready).
    assert!(DevSts(1).ready() && !DevSts(1).reset_in_progress());
    assert!(DevSts(0x9).reset_in_progress());

    // §6.9 a Linux-style unmask write: unmask, no_moderation_update, tx 64, rx 20.
    let mut i = IntrReg::default();
    i.set_rx_intr_delay(20);
    i.set_tx_intr_delay(64);
    i.set_intr_unmask(true);
    i.set_no_moderation_update(true);
    assert_eq!(i.0, 0x8000_0000 | 0x4000_0000 | 64 << 15 | 20);

    // §6.10: node 7 enabled.
    let mut n = NumaReg::default();
    n.set_numa(7);
    n.set_enabled(true);
    assert_eq!(n.0, 0x8000_0007);
}

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

#[test]
fn register_offsets() {
    use regs::off;
    // §2.1 register table.
    let table: [(&str, u32, u32); 25] = [
        ("VERSION", off::VERSION, 0x00),
        ("CONTROLLER_VERSION", off::CONTROLLER_VERSION, 0x04),
        ("CAPS", off::CAPS, 0x08),
        ("CAPS_EXT", off::CAPS_EXT, 0x0C),
        ("AQ_BASE_LO", off::AQ_BASE_LO, 0x10),
        ("AQ_BASE_HI", off::AQ_BASE_HI, 0x14),
        ("AQ_CAPS", off::AQ_CAPS, 0x18),
        ("ACQ_BASE_LO", off::ACQ_BASE_LO, 0x20),
        ("ACQ_BASE_HI", off::ACQ_BASE_HI, 0x24),
        ("ACQ_CAPS", off::ACQ_CAPS, 0x28),
        ("AQ_DB", off::AQ_DB, 0x2C),
        ("ACQ_TAIL", off::ACQ_TAIL, 0x30),
        ("AENQ_CAPS", off::AENQ_CAPS, 0x34),
        ("AENQ_BASE_LO", off::AENQ_BASE_LO, 0x38),
        ("AENQ_BASE_HI", off::AENQ_BASE_HI, 0x3C),
        ("AENQ_HEAD_DB", off::AENQ_HEAD_DB, 0x40),
        ("AENQ_TAIL", off::AENQ_TAIL, 0x44),
        ("INTR_MASK", off::INTR_MASK, 0x4C),
        ("DEV_CTL", off::DEV_CTL, 0x54),
        ("DEV_STS", off::DEV_STS, 0x58),
        ("MMIO_REG_READ", off::MMIO_REG_READ, 0x5C),
        ("MMIO_RESP_LO", off::MMIO_RESP_LO, 0x60),
        ("MMIO_RESP_HI", off::MMIO_RESP_HI, 0x64),
        ("RSS_IND_ENTRY_UPDATE", off::RSS_IND_ENTRY_UPDATE, 0x68),
        ("PHC_DB", off::PHC_DB, 0x100),
    ];
    for (name, ours, spec) in table {
        assert_eq!(ours, spec, "register {name}");
    }
    assert_eq!(regs::INTR_MASK_MGMNT, 1);
    assert_eq!(regs::MMIO_READ_POISON, 0xDEAD);
}

#[test]
fn reset_reasons() {
    // §3.1 table.
    let spec: [(u8, &str); 21] = [
        (0, "NORMAL"),
        (1, "KEEP_ALIVE_TO"),
        (2, "ADMIN_TO"),
        (3, "MISS_TX_CMPL"),
        (4, "INV_RX_REQ_ID"),
        (5, "INV_TX_REQ_ID"),
        (6, "TOO_MANY_RX_DESCS"),
        (7, "INIT_ERR"),
        (8, "DRIVER_INVALID_STATE"),
        (9, "OS_TRIGGER"),
        (10, "OS_NETDEV_WD"),
        (11, "SHUTDOWN"),
        (12, "USER_TRIGGER"),
        (13, "GENERIC"),
        (14, "MISS_INTERRUPT"),
        (15, "SUSPECTED_POLL_STARVATION"),
        (16, "RX_DESCRIPTOR_MALFORMED"),
        (17, "TX_DESCRIPTOR_MALFORMED"),
        (18, "MISSING_ADMIN_INTERRUPT"),
        (19, "DEVICE_REQUEST"),
        (20, "MISS_FIRST_INTERRUPT"),
    ];
    assert_eq!(ResetReason::ALL.len(), spec.len());
    for (code, name) in spec {
        let r = ResetReason::from_code(code).unwrap_or_else(|| panic!("reason {code} missing"));
        assert_eq!(r as u8, code);
        assert_eq!(r.name(), name, "reason {code}");
        assert_eq!(ResetReason::ALL[code as usize], r);
        assert_eq!(r.to_string(), format!("{name} ({code})"));
    }
    for code in 21..=u8::MAX {
        assert_eq!(ResetReason::from_code(code), None, "code {code}");
    }
    // Named variants the driver uses directly.
    assert_eq!(ResetReason::KeepAliveTimeout as u8, 1);
    assert_eq!(ResetReason::AdminTimeout as u8, 2);
    assert_eq!(ResetReason::MissingTxCompletion as u8, 3);
    assert_eq!(ResetReason::InvalidRxReqId as u8, 4);
    assert_eq!(ResetReason::InvalidTxReqId as u8, 5);
    assert_eq!(ResetReason::TooManyRxDescs as u8, 6);
    assert_eq!(ResetReason::DriverInvalidState as u8, 8);
    assert_eq!(ResetReason::Generic as u8, 13);
    assert_eq!(ResetReason::RxDescriptorMalformed as u8, 16);
    assert_eq!(ResetReason::TxDescriptorMalformed as u8, 17);
    assert_eq!(ResetReason::MissingAdminInterrupt as u8, 18);
    assert_eq!(ResetReason::DeviceRequest as u8, 19);
}

#[test]
fn admin_opcodes_and_status() {
    // §4.5.
    assert_eq!(opcode::CREATE_SQ, 1);
    assert_eq!(opcode::DESTROY_SQ, 2);
    assert_eq!(opcode::CREATE_CQ, 3);
    assert_eq!(opcode::DESTROY_CQ, 4);
    assert_eq!(opcode::GET_FEATURE, 8);
    assert_eq!(opcode::SET_FEATURE, 9);
    assert_eq!(opcode::GET_STATS, 11);

    assert_eq!(status::SUCCESS, 0);
    assert_eq!(status::RESOURCE_ALLOCATION_FAILURE, 1);
    assert_eq!(status::BAD_OPCODE, 2);
    assert_eq!(status::UNSUPPORTED_OPCODE, 3);
    assert_eq!(status::MALFORMED_REQUEST, 4);
    assert_eq!(status::ILLEGAL_PARAMETER, 5);
    assert_eq!(status::UNKNOWN_ERROR, 6);
    assert_eq!(status::RESOURCE_BUSY, 7);

    // §4.4 flags byte; §4.1 ring geometry.
    assert_eq!(aq_flags::PHASE, 0x01);
    assert_eq!(aq_flags::CTRL_DATA, 0x02);
    assert_eq!(aq_flags::CTRL_DATA_INDIRECT, 0x04);
    assert_eq!(admin::AQ_DEPTH, 32);

    // §4.6.1 / §4.6.3.
    assert_eq!(direction::TX, 1);
    assert_eq!(direction::RX, 2);
    assert_eq!(placement::HOST, 1);
    assert_eq!(placement::DEVICE, 3);
    assert_eq!(admin::MSIX_VECTOR_NONE, 0xFFFF_FFFF);
    // "direction TX (0x20) or RX (0x40)" in sq_identity.
    let mut c = CreateSqCmd::default();
    c.set_direction(direction::TX);
    assert_eq!(c.sq_identity, 0x20);
    c.set_direction(direction::RX);
    assert_eq!(c.sq_identity, 0x40);
}

#[test]
fn feature_ids_and_capabilities() {
    // §4.6.5 feature table.
    let table: [(&str, u8, u8); 20] = [
        ("DEVICE_ATTRIBUTES", feature::DEVICE_ATTRIBUTES, 1),
        ("MAX_QUEUES_NUM", feature::MAX_QUEUES_NUM, 2),
        ("HW_HINTS", feature::HW_HINTS, 3),
        ("LLQ", feature::LLQ, 4),
        (
            "EXTRA_PROPERTIES_STRINGS",
            feature::EXTRA_PROPERTIES_STRINGS,
            5,
        ),
        ("EXTRA_PROPERTIES_FLAGS", feature::EXTRA_PROPERTIES_FLAGS, 6),
        ("MAX_QUEUES_EXT", feature::MAX_QUEUES_EXT, 7),
        ("FRAG_BYPASS", feature::FRAG_BYPASS, 8),
        ("RSS_HASH_FUNCTION", feature::RSS_HASH_FUNCTION, 10),
        (
            "STATELESS_OFFLOAD_CONFIG",
            feature::STATELESS_OFFLOAD_CONFIG,
            11,
        ),
        (
            "RSS_INDIRECTION_TABLE_CONFIG",
            feature::RSS_INDIRECTION_TABLE_CONFIG,
            12,
        ),
        ("MTU", feature::MTU, 14),
        ("RSS_HASH_INPUT", feature::RSS_HASH_INPUT, 18),
        ("INTERRUPT_MODERATION", feature::INTERRUPT_MODERATION, 20),
        ("AENQ_CONFIG", feature::AENQ_CONFIG, 26),
        ("LINK_CONFIG", feature::LINK_CONFIG, 27),
        ("HOST_ATTR_CONFIG", feature::HOST_ATTR_CONFIG, 28),
        ("PHC_CONFIG", feature::PHC_CONFIG, 29),
        ("FLOW_STEERING_CONFIG", feature::FLOW_STEERING_CONFIG, 30),
        ("HW_TIMESTAMP", feature::HW_TIMESTAMP, 31),
    ];
    for (name, ours, spec) in table {
        assert_eq!(ours, spec, "feature {name}");
    }
    let bit = |id: u8| 1u32 << id;
    // §4.6.5 minimal bitmaps and the §14.1 example bitmap.
    assert_eq!(
        bit(feature::DEVICE_ATTRIBUTES)
            | bit(feature::MAX_QUEUES_EXT)
            | bit(feature::STATELESS_OFFLOAD_CONFIG)
            | bit(feature::RSS_INDIRECTION_TABLE_CONFIG)
            | bit(feature::AENQ_CONFIG),
        0x0400_1882
    );
    assert_eq!(
        bit(feature::DEVICE_ATTRIBUTES)
            | bit(feature::MAX_QUEUES_NUM)
            | bit(feature::STATELESS_OFFLOAD_CONFIG)
            | bit(feature::RSS_INDIRECTION_TABLE_CONFIG)
            | bit(feature::AENQ_CONFIG),
        0x0400_1806
    );
    assert_eq!(
        [1, 3, 4, 7, 10, 11, 12, 14, 20, 26, 28]
            .into_iter()
            .fold(0, |m, id| m | bit(id)),
        0x1410_5C9A
    );

    // §4.6.5 capabilities bitmap.
    assert_eq!(capability::ENI_STATS, 1 << 0);
    assert_eq!(capability::ENA_SRD_INFO, 1 << 1);
    assert_eq!(capability::CUSTOMER_METRICS, 1 << 2);
    assert_eq!(capability::EXTENDED_RESET_REASONS, 1 << 3);
    assert_eq!(capability::CDESC_MBZ, 1 << 4);

    // §4.6.7.
    assert_eq!(admin::MAX_QUEUES_EXT_VERSION, 1);
}

#[test]
fn offload_bits() {
    // §8.1 tx (u32 @0).
    assert_eq!(offload::TX_L3_CSUM_IPV4, 1 << 0);
    assert_eq!(offload::TX_L4_IPV4_CSUM_PART, 1 << 1);
    assert_eq!(offload::TX_L4_IPV4_CSUM_FULL, 1 << 2);
    assert_eq!(offload::TX_L4_IPV6_CSUM_PART, 1 << 3);
    assert_eq!(offload::TX_L4_IPV6_CSUM_FULL, 1 << 4);
    assert_eq!(offload::TX_TSO_IPV4, 1 << 5);
    assert_eq!(offload::TX_TSO_IPV6, 1 << 6);
    assert_eq!(offload::TX_TSO_ECN, 1 << 7);
    // §8.1 rx_supported (u32 @4).
    assert_eq!(offload::RX_L3_CSUM_IPV4, 1 << 0);
    assert_eq!(offload::RX_L4_IPV4_CSUM, 1 << 1);
    assert_eq!(offload::RX_L4_IPV6_CSUM, 1 << 2);
    assert_eq!(offload::RX_HASH, 1 << 3);
    // §14.1 example: tx 0x3F = bits 0-5, rx 0x0F = bits 0-3.
    assert_eq!(
        offload::TX_L3_CSUM_IPV4
            | offload::TX_L4_IPV4_CSUM_PART
            | offload::TX_L4_IPV4_CSUM_FULL
            | offload::TX_L4_IPV6_CSUM_PART
            | offload::TX_L4_IPV6_CSUM_FULL
            | offload::TX_TSO_IPV4,
        0x3F
    );
    assert_eq!(
        offload::RX_L3_CSUM_IPV4
            | offload::RX_L4_IPV4_CSUM
            | offload::RX_L4_IPV6_CSUM
            | offload::RX_HASH,
        0x0F
    );
}

#[test]
fn rss_constants() {
    // §9.2: bit number = function id (bit 1 Toeplitz, bit 2 CRC32); key = 10 parts, 40 bytes.
    assert_eq!(hash_func::TOEPLITZ, 1);
    assert_eq!(hash_func::CRC32, 2);
    assert_eq!(admin::RSS_KEY_PARTS, 10);
    assert_eq!(admin::RSS_KEY_LEN, 40);
    // §9.4: inline_index 0xFFFFFFFF = no inline entry.
    assert_eq!(admin::RSS_INLINE_INDEX_NONE, 0xFFFF_FFFF);
    // §9.5 flow types (array index) and field bits.
    assert_eq!(admin::RSS_FLOW_TYPES, 16);
    assert_eq!(flow_type::TCP4, 0);
    assert_eq!(flow_type::UDP4, 1);
    assert_eq!(flow_type::TCP6, 2);
    assert_eq!(flow_type::UDP6, 3);
    assert_eq!(flow_type::IP4, 4);
    assert_eq!(flow_type::IP6, 5);
    assert_eq!(flow_type::IP4_FRAG, 6);
    assert_eq!(flow_type::NOT_IP, 7);
    assert_eq!(flow_type::TCP6_EX, 8);
    assert_eq!(flow_type::IP6_EX, 9);
    assert_eq!(hash_field::L2_DA, 1 << 0);
    assert_eq!(hash_field::L2_SA, 1 << 1);
    assert_eq!(hash_field::L3_DA, 1 << 2);
    assert_eq!(hash_field::L3_SA, 1 << 3);
    assert_eq!(hash_field::L4_DP, 1 << 4);
    assert_eq!(hash_field::L4_SP, 1 << 5);
    // §9.5 Linux defaults: 0x3C for TCP/UDP, 0x0C for IP, 0x03 for non-IP.
    assert_eq!(
        hash_field::L3_SA | hash_field::L3_DA | hash_field::L4_SP | hash_field::L4_DP,
        0x3C
    );
    assert_eq!(hash_field::L3_SA | hash_field::L3_DA, 0x0C);
    assert_eq!(hash_field::L2_SA | hash_field::L2_DA, 0x03);
    // The selected-fields array of the control buffer starts at byte 64, slot TCP6 at 64 + 2 × 4.
    let mut ctl = RssHashControl::default();
    ctl.selected_fields[flow_type::TCP6].fields = 0x3C;
    assert_eq!(&ctl.as_bytes()[72..76], &[0x3C, 0, 0, 0]);
}

#[test]
fn host_info_and_stats_constants() {
    // §4.6.14.
    assert_eq!(os_type::LINUX, 1);
    assert_eq!(os_type::DPDK, 3);
    assert_eq!(os_type::FREEBSD, 4);
    assert_eq!(os_type::IPXE, 5);
    assert_eq!(admin::ENA_SPEC_VERSION, 0x0200);
    assert_eq!(host_info_features::RX_OFFSET, 1 << 1);
    assert_eq!(host_info_features::INTERRUPT_MODERATION, 1 << 2);
    assert_eq!(host_info_features::RX_BUF_MIRRORING, 1 << 3);
    assert_eq!(host_info_features::RSS_CONFIGURABLE_FUNCTION_KEY, 1 << 4);
    assert_eq!(host_info_features::RX_PAGE_REUSE, 1 << 6);
    assert_eq!(host_info_features::TX_IPV6_CSUM_OFFLOAD, 1 << 7);
    assert_eq!(host_info_features::PHC, 1 << 8);
    assert_eq!(host_info_features::DEBUG_AREA_EXT, 1 << 9);
    // §4.6.16.
    assert_eq!(stats_type::BASIC, 0);
    assert_eq!(stats_type::EXTENDED, 1);
    assert_eq!(stats_type::ENI, 2);
    assert_eq!(stats_type::ENA_SRD, 3);
    assert_eq!(stats_type::CUSTOMER_METRICS, 4);
    assert_eq!(customer_metric::BW_IN_ALLOWANCE_EXCEEDED, 0);
    assert_eq!(customer_metric::BW_OUT_ALLOWANCE_EXCEEDED, 1);
    assert_eq!(customer_metric::PPS_ALLOWANCE_EXCEEDED, 2);
    assert_eq!(customer_metric::CONNTRACK_ALLOWANCE_EXCEEDED, 3);
    assert_eq!(customer_metric::LINKLOCAL_ALLOWANCE_EXCEEDED, 4);
    assert_eq!(customer_metric::CONNTRACK_ALLOWANCE_AVAILABLE, 5);
    assert_eq!(
        admin::split_u64(0x0123_4567_89AB_CDEF),
        (0x89AB_CDEF, 0x0123_4567)
    );
    assert_eq!(
        admin::join_u64(0x89AB_CDEF, 0x0123_4567),
        0x0123_4567_89AB_CDEF
    );
}

#[test]
fn aenq_constants() {
    // §5.3 groups, §5.1 ring geometry.
    assert_eq!(group::LINK_CHANGE, 0);
    assert_eq!(group::FATAL_ERROR, 1);
    assert_eq!(group::WARNING, 2);
    assert_eq!(group::NOTIFICATION, 3);
    assert_eq!(group::KEEP_ALIVE, 4);
    assert_eq!(group::REFRESH_CAPABILITIES, 5);
    assert_eq!(group::CONF_NOTIFICATIONS, 6);
    assert_eq!(group::DEVICE_REQUEST_RESET, 7);
    assert_eq!(syndrome::UPDATE_HINTS, 2);
    assert_eq!(aenq::AENQ_DEPTH, 16);
    // Linux enables groups 0-4, 6, 7 = 0xDF.
    let linux = [
        group::LINK_CHANGE,
        group::FATAL_ERROR,
        group::WARNING,
        group::NOTIFICATION,
        group::KEEP_ALIVE,
        group::CONF_NOTIFICATIONS,
        group::DEVICE_REQUEST_RESET,
    ];
    assert_eq!(linux.into_iter().fold(0u32, |m, g| m | 1 << g), 0xDF);
}

#[test]
fn io_protocol_indices() {
    // §6.11.
    assert_eq!(l3_proto::UNKNOWN, 0);
    assert_eq!(l3_proto::IPV4, 8);
    assert_eq!(l3_proto::IPV6, 11);
    assert_eq!(l3_proto::FCOE, 21);
    assert_eq!(l3_proto::ROCE, 22);
    assert_eq!(l4_proto::UNKNOWN, 0);
    assert_eq!(l4_proto::TCP, 12);
    assert_eq!(l4_proto::UDP, 13);
    assert_eq!(l4_proto::ROUTEABLE_ROCE, 23);
}

#[test]
fn llq_encodings() {
    // §4.6.10 bitmask encodings.
    assert_eq!(llq::HEADER_LOCATION_INLINE, 1);
    assert_eq!(llq::HEADER_LOCATION_SEPARATE_RING, 2);
    assert_eq!(llq::ENTRY_SIZE_128, 1);
    assert_eq!(llq::ENTRY_SIZE_192, 2);
    assert_eq!(llq::ENTRY_SIZE_256, 4);
    assert_eq!(llq::DESCS_BEFORE_HEADER_1, 1);
    assert_eq!(llq::DESCS_BEFORE_HEADER_2, 2);
    assert_eq!(llq::DESCS_BEFORE_HEADER_4, 4);
    assert_eq!(llq::DESCS_BEFORE_HEADER_8, 8);
    assert_eq!(llq::STRIDE_SINGLE_DESC_PER_ENTRY, 1);
    assert_eq!(llq::STRIDE_MULTIPLE_DESCS_PER_ENTRY, 2);
    assert_eq!(llq::ACCEL_DISABLE_META_CACHING, 1 << 0);
    assert_eq!(llq::ACCEL_LIMIT_TX_BURST, 1 << 1);
    assert_eq!(llq::LLQ_FEATURE_VERSION, 1);
    // §7.2: entry sizes in bytes; only single-bit values name a size.
    assert_eq!(llq::entry_size_bytes(1), Some(128));
    assert_eq!(llq::entry_size_bytes(2), Some(192));
    assert_eq!(llq::entry_size_bytes(4), Some(256));
    for v in [0u16, 3, 5, 6, 7, 8, 0xFFFF] {
        assert_eq!(llq::entry_size_bytes(v), None, "entry size value {v:#x}");
    }
    // §14.1 example: entry sizes 0x5 = 128 + 256, descs-before-header 0x2, stride 0x3.
    assert_eq!(llq::ENTRY_SIZE_128 | llq::ENTRY_SIZE_256, 0x5);
    assert_eq!(
        llq::STRIDE_SINGLE_DESC_PER_ENTRY | llq::STRIDE_MULTIPLE_DESCS_PER_ENTRY,
        0x3
    );
    assert_eq!(
        llq::ACCEL_DISABLE_META_CACHING | llq::ACCEL_LIMIT_TX_BURST,
        0x3
    );
}

#[test]
fn pci_ids() {
    // §1.1.
    assert_eq!(ena_hw::PCI_VENDOR_AMAZON, 0x1D0F);
    for dev in [0x0EC2, 0x1EC2, 0xEC20, 0xEC21, 0x0051] {
        assert!(ena_hw::is_ena_pci_id(0x1D0F, dev), "device {dev:#06x}");
        assert!(!ena_hw::is_ena_pci_id(0x8086, dev));
    }
    assert!(!ena_hw::is_ena_pci_id(0x1D0F, 0x0EC3));
    assert_eq!(ena_hw::PCI_DEVICE_ENA_VF, 0xEC20);
    assert_eq!(ena_hw::PCI_DEVICE_ENA_VF_LLQ, 0xEC21);
}
