//! IO queue descriptors (spec §6, `ena_eth_io_defs.h`): TX data and meta descriptors, TX and RX
//! completions, RX descriptors, and the per-CQ interrupt and NUMA registers.
//!
//! Each descriptor is a handful of little-endian words; fields are reached through typed
//! accessors named as in the ENA headers.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Size of one TX/RX submission descriptor.
pub const SQ_DESC_SIZE: usize = 16;
/// Size of a TX completion (without timestamps).
pub const TX_CDESC_SIZE: usize = 8;
/// Size of an RX completion (without timestamps).
pub const RX_CDESC_SIZE: usize = 16;

/// L3 protocol indices (spec §6.11).
pub mod l3_proto {
    /// Unknown.
    pub const UNKNOWN: u8 = 0;
    /// IPv4.
    pub const IPV4: u8 = 8;
    /// IPv6.
    pub const IPV6: u8 = 11;
    /// FCoE.
    pub const FCOE: u8 = 21;
    /// RoCE.
    pub const ROCE: u8 = 22;
}

/// L4 protocol indices (spec §6.11).
pub mod l4_proto {
    /// Unknown.
    pub const UNKNOWN: u8 = 0;
    /// TCP.
    pub const TCP: u8 = 12;
    /// UDP.
    pub const UDP: u8 = 13;
    /// Routable RoCE.
    pub const ROUTEABLE_ROCE: u8 = 23;
}

/// TX data descriptor (16 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct TxDesc {
    /// Word 0: length, req_id high bits, flags.
    pub len_ctrl: u32,
    /// Word 1: offload controls and req_id low bits.
    pub meta_ctrl: u32,
    /// Word 2: buffer address bits 31:0.
    pub buff_addr_lo: u32,
    /// Word 3: buffer address bits 47:32 and header length.
    pub buff_addr_hi_hdr_sz: u32,
}
assert_size!(TxDesc, 16);
impl TxDesc {
    bits!(/// Buffer length in bytes.
        length, set_length: u16 = len_ctrl[15:0]);
    bits!(/// req_id bits 15:10.
        req_id_hi, set_req_id_hi: u16 = len_ctrl[21:16]);
    flag!(/// Must-be-zero bit 22.
        mbz22, set_mbz22 = len_ctrl[22]);
    flag!(/// 0 for a data descriptor.
        meta_desc, set_meta_desc = len_ctrl[23]);
    flag!(/// Phase of the ring pass.
        phase, set_phase = len_ctrl[24]);
    flag!(/// First descriptor of the packet chain.
        first, set_first = len_ctrl[26]);
    flag!(/// Last descriptor of the packet chain.
        last, set_last = len_ctrl[27]);
    flag!(/// Request a completion for this packet.
        comp_req, set_comp_req = len_ctrl[28]);
    bits!(/// L3 protocol index (see [`l3_proto`]).
        l3_proto_idx, set_l3_proto_idx: u8 = meta_ctrl[3:0]);
    flag!(/// IPv4 don't-fragment mirror.
        df, set_df = meta_ctrl[4]);
    flag!(/// TCP segmentation offload.
        tso_en, set_tso_en = meta_ctrl[7]);
    bits!(/// L4 protocol index (see [`l4_proto`]).
        l4_proto_idx, set_l4_proto_idx: u8 = meta_ctrl[12:8]);
    flag!(/// Compute the IPv4 header checksum.
        l3_csum_en, set_l3_csum_en = meta_ctrl[13]);
    flag!(/// Compute the TCP/UDP checksum.
        l4_csum_en, set_l4_csum_en = meta_ctrl[14]);
    flag!(/// Do not append an FCS.
        ethernet_fcs_dis, set_ethernet_fcs_dis = meta_ctrl[15]);
    flag!(/// Partial L4 checksum: the driver pre-filled the pseudo-header sum.
        l4_csum_partial, set_l4_csum_partial = meta_ctrl[17]);
    bits!(/// req_id bits 9:0.
        req_id_lo, set_req_id_lo: u16 = meta_ctrl[31:22]);
    bits!(/// Buffer address bits 47:32.
        buff_addr_hi, set_buff_addr_hi: u16 = buff_addr_hi_hdr_sz[15:0]);
    bits!(/// Header length: bytes pushed inline (LLQ) or a hint (host mode).
        header_length, set_header_length: u8 = buff_addr_hi_hdr_sz[31:24]);

    /// The 16-bit request id split across words 0 and 1.
    #[inline(always)]
    pub fn req_id(&self) -> u16 {
        self.req_id_lo() | self.req_id_hi() << 10
    }
    /// Sets the request id.
    #[inline(always)]
    pub fn set_req_id(&mut self, req_id: u16) {
        self.set_req_id_lo(req_id & 0x3ff);
        self.set_req_id_hi(req_id >> 10);
    }
    /// The 48-bit buffer address.
    #[inline(always)]
    pub fn buff_addr(&self) -> u64 {
        self.buff_addr_lo as u64 | (self.buff_addr_hi() as u64) << 32
    }
    /// Sets the buffer address (bits above 47 are dropped).
    #[inline(always)]
    pub fn set_buff_addr(&mut self, addr: u64) {
        self.buff_addr_lo = addr as u32;
        self.set_buff_addr_hi((addr >> 32) as u16);
    }
}

/// TX meta descriptor (16 bytes): offload metadata for the packet that follows.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct TxMetaDesc {
    /// Word 0: flags and mss high bits.
    pub len_ctrl: u32,
    /// Word 1: reserved (DPDK names 5:0 req_id 15:10; unused).
    pub word1: u32,
    /// Word 2: header offsets and mss low bits.
    pub word2: u32,
    /// Word 3: reserved.
    pub reserved: u32,
}
assert_size!(TxMetaDesc, 16);
impl TxMetaDesc {
    bits!(/// Reserved bits 9:0 (DPDK: req_id 9:0; never set).
        req_id_lo, set_req_id_lo: u16 = len_ctrl[9:0]);
    flag!(/// The offsets in word 2 are valid.
        ext_valid, set_ext_valid = len_ctrl[14]);
    bits!(/// MSS bits 13:10.
        mss_hi, set_mss_hi: u16 = len_ctrl[19:16]);
    flag!(/// 1: extended metadata descriptor.
        eth_meta_type, set_eth_meta_type = len_ctrl[20]);
    flag!(/// Store this metadata in the queue's cache.
        meta_store, set_meta_store = len_ctrl[21]);
    flag!(/// 1 for a meta descriptor.
        meta_desc, set_meta_desc = len_ctrl[23]);
    flag!(/// Phase of the ring pass.
        phase, set_phase = len_ctrl[24]);
    flag!(/// First descriptor of the chain (always 1 for meta).
        first, set_first = len_ctrl[26]);
    flag!(/// Last descriptor of the chain (0 in practice).
        last, set_last = len_ctrl[27]);
    flag!(/// Completion request (0 in practice).
        comp_req, set_comp_req = len_ctrl[28]);
    bits!(/// L3 header length in bytes.
        l3_hdr_len, set_l3_hdr_len: u8 = word2[7:0]);
    bits!(/// L3 header offset (the L2 length).
        l3_hdr_off, set_l3_hdr_off: u8 = word2[15:8]);
    bits!(/// L4 header length in 32-bit words.
        l4_hdr_len_in_words, set_l4_hdr_len_in_words: u8 = word2[21:16]);
    bits!(/// MSS bits 9:0.
        mss_lo, set_mss_lo: u16 = word2[31:22]);

    /// The 14-bit MSS split across words 0 and 2.
    #[inline(always)]
    pub fn mss(&self) -> u16 {
        self.mss_lo() | self.mss_hi() << 10
    }
    /// Sets the MSS.
    #[inline(always)]
    pub fn set_mss(&mut self, mss: u16) {
        self.set_mss_lo(mss & 0x3ff);
        self.set_mss_hi(mss >> 10);
    }
}

/// TX completion (8 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct TxCdesc {
    /// req_id copied from the packet's first data descriptor.
    pub req_id: u16,
    /// Status (ignored by drivers).
    pub status: u8,
    /// Bit 0 phase; 7:6 must be zero — written last.
    pub flags: u8,
    /// Sub-queue id (ignored).
    pub sub_qid: u16,
    /// SQ head after this packet (ignored).
    pub sq_head_idx: u16,
}
assert_size!(TxCdesc, 8);
impl TxCdesc {
    flag!(/// Phase bit.
        phase, set_phase = flags[0]);
    bits!(/// Must-be-zero bits 7:6 (checked with capability CDESC_MBZ).
        mbz, set_mbz: u8 = flags[7:6]);
}

/// TX completion with hardware timestamp (16 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct TxCdescExt {
    /// The base completion.
    pub base: TxCdesc,
    /// Timestamp (ns), low half.
    pub timestamp_low: u32,
    /// Timestamp (ns), high half.
    pub timestamp_high: u32,
}
assert_size!(TxCdescExt, 16);

/// RX descriptor (16 bytes): one posted buffer.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct RxDesc {
    /// Buffer length (0 means 65536).
    pub length: u16,
    /// Must be zero.
    pub reserved2: u8,
    /// Control bits.
    pub ctrl: u8,
    /// Driver buffer id.
    pub req_id: u16,
    /// Reserved.
    pub reserved6: u16,
    /// Buffer address bits 31:0.
    pub buff_addr_lo: u32,
    /// Buffer address bits 47:32.
    pub buff_addr_hi: u16,
    /// Reserved.
    pub reserved16_w3: u16,
}
assert_size!(RxDesc, 16);
impl RxDesc {
    flag!(/// Phase of the ring pass.
        phase, set_phase = ctrl[0]);
    flag!(/// Must-be-zero bit 1.
        mbz1, set_mbz1 = ctrl[1]);
    flag!(/// First (drivers always set it).
        first, set_first = ctrl[2]);
    flag!(/// Last (drivers always set it).
        last, set_last = ctrl[3]);
    flag!(/// Completion request (drivers always set it).
        comp_req, set_comp_req = ctrl[4]);
    flag!(/// Documented must-be-one, left 0 by drivers.
        mbo5, set_mbo5 = ctrl[5]);

    /// The 48-bit buffer address.
    #[inline(always)]
    pub fn buff_addr(&self) -> u64 {
        self.buff_addr_lo as u64 | (self.buff_addr_hi as u64) << 32
    }
    /// Sets the buffer address.
    #[inline(always)]
    pub fn set_buff_addr(&mut self, addr: u64) {
        self.buff_addr_lo = addr as u32;
        self.buff_addr_hi = (addr >> 32) as u16;
    }
    /// Buffer length in bytes (a zero field means 65536).
    #[inline(always)]
    pub fn buffer_len(&self) -> u32 {
        if self.length == 0 {
            65536
        } else {
            self.length as u32
        }
    }
}

/// RX completion (16 bytes): one consumed buffer.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct RxCdesc {
    /// Status word — written last (phase is bit 24).
    pub status: u32,
    /// Bytes written into this buffer.
    pub length: u16,
    /// req_id of the RX descriptor whose buffer was used.
    pub req_id: u16,
    /// RSS hash.
    pub hash: u32,
    /// Sub-queue id (ignored).
    pub sub_qid: u16,
    /// Start of packet data in the first buffer.
    pub offset: u8,
    /// Reserved.
    pub reserved: u8,
}
assert_size!(RxCdesc, 16);
impl RxCdesc {
    bits!(/// L3 protocol index (see [`l3_proto`]).
        l3_proto_idx, set_l3_proto_idx: u8 = status[4:0]);
    bits!(/// VLAN count (ignored).
        src_vlan_cnt, set_src_vlan_cnt: u8 = status[6:5]);
    flag!(/// Must-be-zero bit 7.
        mbz7, set_mbz7 = status[7]);
    bits!(/// L4 protocol index (see [`l4_proto`]).
        l4_proto_idx, set_l4_proto_idx: u8 = status[12:8]);
    flag!(/// IPv4 header checksum bad or not validated.
        l3_csum_err, set_l3_csum_err = status[13]);
    flag!(/// L4 checksum bad (meaningful with `l4_csum_checked`).
        l4_csum_err, set_l4_csum_err = status[14]);
    flag!(/// IPv4 fragment.
        ipv4_frag, set_ipv4_frag = status[15]);
    flag!(/// The L4 checksum was verified.
        l4_csum_checked, set_l4_csum_checked = status[16]);
    flag!(/// Must-be-zero bit 17.
        mbz17, set_mbz17 = status[17]);
    flag!(/// Phase bit.
        phase, set_phase = status[24]);
    flag!(/// Second checksum engine result (ignored).
        l3_csum2, set_l3_csum2 = status[25]);
    flag!(/// First completion of a packet.
        first, set_first = status[26]);
    flag!(/// Last completion of a packet.
        last, set_last = status[27]);
    flag!(/// 1: a buffer descriptor was used (ignored).
        buffer, set_buffer = status[30]);
}

/// RX completion with hardware timestamp (32 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct RxCdescExt {
    /// The base completion.
    pub base: RxCdesc,
    /// Buffer address bits 31:0.
    pub buff_addr_lo: u32,
    /// Buffer address bits 47:32.
    pub buff_addr_hi: u16,
    /// Reserved.
    pub reserved16: u16,
    /// Timestamp (ns), low half.
    pub timestamp_low: u32,
    /// Timestamp (ns), high half.
    pub timestamp_high: u32,
}
assert_size!(RxCdescExt, 32);

/// Per-CQ interrupt unmask register value (spec §6.9).
#[repr(transparent)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct IntrReg(pub u32);
impl IntrReg {
    bits!(/// RX interrupt delay (resolution units).
        rx_intr_delay, set_rx_intr_delay: u16 = 0[14:0]);
    bits!(/// TX interrupt delay (resolution units).
        tx_intr_delay, set_tx_intr_delay: u16 = 0[29:15]);
    flag!(/// Re-arm the vector.
        intr_unmask, set_intr_unmask = 0[30]);
    flag!(/// Keep the previous delays.
        no_moderation_update, set_no_moderation_update = 0[31]);
}

/// Per-CQ NUMA register value (spec §6.10).
#[repr(transparent)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct NumaReg(pub u32);
impl NumaReg {
    bits!(/// NUMA node.
        numa, set_numa: u8 = 0[7:0]);
    flag!(/// The node value is valid.
        enabled, set_enabled = 0[31]);
}
