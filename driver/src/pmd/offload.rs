//! Checksum and segmentation offloads: DPDK's offload words on the outside, ENA's descriptor and
//! completion bits on the inside (spec §8).
//!
//! RX: the completion's protocol indices and checksum bits become `RX_IP_CKSUM_*`,
//! `RX_L4_CKSUM_*` and `RX_RSS_HASH` in the mbuf, as DPDK's ENA PMD reports them.
//! TX: an mbuf's `TX_*` flags and `l2_len`/`l3_len`/`l4_len`/`tso_segsz` become a [`TxContext`]
//! — the data_0 offload bits and the meta descriptor's offsets.

use crate::mem::pool::{ol, Mbuf};
use ena_hw::admin::offload as cap;
use ena_hw::io::{l3_proto, l4_proto, RxCdesc};

/// Port RX offloads (DPDK's `RTE_ETH_RX_OFFLOAD_*` names and bits).
pub mod rx_offload {
    /// Verify IPv4 header checksums.
    pub const IPV4_CKSUM: u64 = 1 << 1;
    /// Verify UDP checksums.
    pub const UDP_CKSUM: u64 = 1 << 2;
    /// Verify TCP checksums.
    pub const TCP_CKSUM: u64 = 1 << 3;
    /// Receive packets larger than one buffer as chains.
    pub const SCATTER: u64 = 1 << 13;
    /// Deliver the RSS hash.
    pub const RSS_HASH: u64 = 1 << 19;
}

/// Port TX offloads (DPDK's `RTE_ETH_TX_OFFLOAD_*` names and bits).
pub mod tx_offload {
    /// IPv4 header checksum.
    pub const IPV4_CKSUM: u64 = 1 << 1;
    /// UDP checksum.
    pub const UDP_CKSUM: u64 = 1 << 2;
    /// TCP checksum.
    pub const TCP_CKSUM: u64 = 1 << 3;
    /// TCP segmentation.
    pub const TCP_TSO: u64 = 1 << 5;
    /// Packets made of several segments.
    pub const MULTI_SEGS: u64 = 1 << 15;
    /// All mbufs of a queue come from one pool and have refcount 1.
    pub const MBUF_FAST_FREE: u64 = 1 << 16;
}

/// DPDK packet types the RX path reports.
pub mod ptype {
    /// Ethernet.
    pub const L2_ETHER: u32 = 0x0000_0001;
    /// IPv4.
    pub const L3_IPV4: u32 = 0x0000_0010;
    /// IPv6.
    pub const L3_IPV6: u32 = 0x0000_0040;
    /// TCP.
    pub const L4_TCP: u32 = 0x0000_0100;
    /// UDP.
    pub const L4_UDP: u32 = 0x0000_0200;
    /// IP fragment.
    pub const L4_FRAG: u32 = 0x0000_0300;
}

/// What the RX path reports, as configured and as the device can.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxOffloads {
    /// Report IPv4 header checksum results.
    pub ip_cksum: bool,
    /// Report TCP/UDP checksum results.
    pub l4_cksum: bool,
    /// Deliver the RSS hash.
    pub rss_hash: bool,
}

impl RxOffloads {
    /// From the port's RX offload word and the device's RX capabilities.
    pub fn new(conf: u64, dev_rx: u32) -> Self {
        Self {
            ip_cksum: conf & rx_offload::IPV4_CKSUM != 0 && dev_rx & cap::RX_L3_CSUM_IPV4 != 0,
            l4_cksum: conf & (rx_offload::TCP_CKSUM | rx_offload::UDP_CKSUM) != 0
                && dev_rx & (cap::RX_L4_IPV4_CSUM | cap::RX_L4_IPV6_CSUM) != 0,
            rss_hash: conf & rx_offload::RSS_HASH != 0 && dev_rx & cap::RX_HASH != 0,
        }
    }
}

/// Offload flags and packet type for a completed packet (from its last completion), and
/// (l3 bad, l4 bad, l4 good) for the queue's counters.
#[inline(always)]
pub fn rx_flags(c: &RxCdesc, o: RxOffloads) -> (u64, (bool, bool, bool), u32) {
    let mut flags = 0u64;
    let mut ptype = ptype::L2_ETHER;
    let l3 = c.l3_proto_idx();
    let l4 = c.l4_proto_idx();
    let frag = c.ipv4_frag();
    let mut counts = (false, false, false);
    if l3 == l3_proto::IPV4 {
        ptype |= ptype::L3_IPV4;
        if o.ip_cksum {
            if c.l3_csum_err() {
                flags |= ol::RX_IP_CKSUM_BAD;
                counts.0 = true;
            } else {
                flags |= ol::RX_IP_CKSUM_GOOD;
            }
        }
    } else if l3 == l3_proto::IPV6 {
        ptype |= ptype::L3_IPV6;
    }
    let l4_known = l4 == l4_proto::TCP || l4 == l4_proto::UDP;
    if frag {
        ptype |= ptype::L4_FRAG;
    } else if l4 == l4_proto::TCP {
        ptype |= ptype::L4_TCP;
    } else if l4 == l4_proto::UDP {
        ptype |= ptype::L4_UDP;
    }
    if l4_known && !frag {
        if o.l4_cksum && c.l4_csum_checked() {
            if c.l4_csum_err() {
                flags |= ol::RX_L4_CKSUM_BAD;
                counts.1 = true;
            } else {
                flags |= ol::RX_L4_CKSUM_GOOD;
                counts.2 = true;
            }
        }
        if o.rss_hash {
            flags |= ol::RX_RSS_HASH;
        }
    }
    (flags, counts, ptype)
}

/// What the TX path may do, as configured and as the device can.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxOffloads {
    /// IPv4 header checksum enabled.
    pub ip_cksum: bool,
    /// TCP/UDP checksum enabled.
    pub l4_cksum: bool,
    /// TSO enabled.
    pub tso: bool,
    /// The device computes the full L4 checksum over IPv4 (else the driver seeds the pseudo
    /// header and asks for partial).
    pub full_v4: bool,
    /// The same over IPv6.
    pub full_v6: bool,
}

impl TxOffloads {
    /// From the port's TX offload word and the device's TX capabilities.
    pub fn new(conf: u64, dev_tx: u32) -> Self {
        Self {
            ip_cksum: conf & tx_offload::IPV4_CKSUM != 0 && dev_tx & cap::TX_L3_CSUM_IPV4 != 0,
            l4_cksum: conf & (tx_offload::TCP_CKSUM | tx_offload::UDP_CKSUM) != 0
                && dev_tx
                    & (cap::TX_L4_IPV4_CSUM_FULL
                        | cap::TX_L4_IPV4_CSUM_PART
                        | cap::TX_L4_IPV6_CSUM_FULL
                        | cap::TX_L4_IPV6_CSUM_PART)
                    != 0,
            tso: conf & tx_offload::TCP_TSO != 0 && dev_tx & cap::TX_TSO_IPV4 != 0,
            full_v4: dev_tx & cap::TX_L4_IPV4_CSUM_FULL != 0,
            full_v6: dev_tx & cap::TX_L4_IPV6_CSUM_FULL != 0,
        }
    }
}

/// The offload context of one TX packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxContext {
    /// Any offload requested (data_0 carries protocol and enable bits, metadata applies).
    pub offload: bool,
    /// Insert the IPv4 header checksum.
    pub l3_csum: bool,
    /// Insert the TCP/UDP checksum.
    pub l4_csum: bool,
    /// The pseudo-header sum is pre-filled (partial mode).
    pub l4_partial: bool,
    /// Segment (TSO).
    pub tso: bool,
    /// ENA L3 protocol index.
    pub l3_proto: u8,
    /// ENA L4 protocol index.
    pub l4_proto: u8,
    /// IPv4 DF mirror (1 for IPv6).
    pub df: bool,
    /// MSS (TSO).
    pub mss: u16,
    /// L3 header length.
    pub l3_hdr_len: u8,
    /// L3 header offset (L2 length).
    pub l3_hdr_off: u8,
    /// L4 header length in 32-bit words (TSO).
    pub l4_hdr_len_words: u8,
}

impl TxContext {
    /// The part the device caches (what decides whether a meta descriptor is needed).
    pub fn meta_key(&self) -> (u16, u8, u8, u8) {
        (
            self.mss,
            self.l3_hdr_len,
            self.l3_hdr_off,
            self.l4_hdr_len_words,
        )
    }
}

/// Why a packet's offload request cannot be honoured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxPrepareError {
    /// The flag asks for an offload the queue does not have enabled (or the device lacks).
    #[error("offload not enabled on this queue")]
    NotEnabled,
    /// TX_IPV4 or TX_IPV6 is missing, or both are set.
    #[error("L3 type missing or ambiguous")]
    L3Type,
    /// l2_len/l3_len/l4_len are zero, too large, or beyond the first segment.
    #[error("header lengths invalid")]
    HeaderLengths,
    /// TSO without an MSS or on something other than TCP.
    #[error("TSO request invalid")]
    Tso,
}

/// Builds the offload context of `m` (DPDK's `ena_tx_mbuf_prepare`, with the checks of its
/// `tx_prepare`).
#[inline]
pub fn tx_context(m: &Mbuf, o: TxOffloads) -> Result<TxContext, TxPrepareError> {
    let f = m.ol_flags();
    let want_ip = f & ol::TX_IP_CKSUM != 0;
    let l4 = f & ol::TX_L4_MASK;
    let want_tso = f & ol::TX_TCP_SEG != 0;
    if !want_ip && l4 == 0 && !want_tso {
        return Ok(TxContext::default());
    }
    if (want_ip && !o.ip_cksum) || (l4 != 0 && !o.l4_cksum) || (want_tso && !o.tso) {
        return Err(TxPrepareError::NotEnabled);
    }
    let v4 = f & ol::TX_IPV4 != 0;
    let v6 = f & ol::TX_IPV6 != 0;
    if v4 == v6 {
        return Err(TxPrepareError::L3Type);
    }
    if want_ip && !v4 {
        return Err(TxPrepareError::L3Type);
    }
    let (l2, l3, l4len) = (
        m.l2_len() as usize,
        m.l3_len() as usize,
        m.l4_len() as usize,
    );
    if l2 == 0 || l3 == 0 || l2 > 255 || l3 > 255 || l2 + l3 > m.data_len() as usize {
        return Err(TxPrepareError::HeaderLengths);
    }
    let l4_proto = if want_tso || l4 == ol::TX_TCP_CKSUM {
        l4_proto::TCP
    } else if l4 == ol::TX_UDP_CKSUM {
        l4_proto::UDP
    } else if l4 == 0 {
        l4_proto::UNKNOWN
    } else {
        return Err(TxPrepareError::NotEnabled);
    };
    if want_tso && (m.tso_segsz() == 0 || !(20..=60).contains(&l4len)) {
        return Err(TxPrepareError::Tso);
    }
    let df = if v4 {
        m.data().get(l2 + 6).is_some_and(|b| b & 0x40 != 0)
    } else {
        true
    };
    let full = if v4 { o.full_v4 } else { o.full_v6 };
    Ok(TxContext {
        offload: true,
        l3_csum: want_ip,
        l4_csum: l4 != 0 || want_tso,
        l4_partial: (l4 != 0 || want_tso) && !full,
        tso: want_tso,
        l3_proto: if v4 { l3_proto::IPV4 } else { l3_proto::IPV6 },
        l4_proto,
        df,
        mss: if want_tso { m.tso_segsz() } else { 0 },
        l3_hdr_len: l3 as u8,
        l3_hdr_off: l2 as u8,
        l4_hdr_len_words: if want_tso { (l4len / 4) as u8 } else { 0 },
    })
}

/// Partial mode: writes the pseudo-header sum (not inverted) into the L4 checksum field, which
/// the device then completes over the L4 header and payload (spec §8.2). For TSO the length is
/// left out of the sum (each segment's length is added by the device).
pub fn seed_pseudo_header(m: &mut Mbuf, ctx: &TxContext) {
    let l2 = ctx.l3_hdr_off as usize;
    let l3 = ctx.l3_hdr_len as usize;
    let csum_at = l2 + l3 + if ctx.l4_proto == l4_proto::TCP { 16 } else { 6 };
    let pkt_len = m.pkt_len() as usize;
    let d = m.data_mut();
    if d.len() < csum_at + 2 {
        return;
    }
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
        }
    };
    let l4_len = pkt_len.saturating_sub(l2 + l3);
    if ctx.l3_proto == l3_proto::IPV4 {
        add(&d[l2 + 12..l2 + 20]);
        add(&[0, d[l2 + 9]]);
    } else {
        add(&d[l2 + 8..l2 + 40]);
        add(&[0, d[l2 + 6]]);
    }
    if !ctx.tso {
        add(&(l4_len as u16).to_be_bytes());
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    d[csum_at..csum_at + 2].copy_from_slice(&(sum as u16).to_be_bytes());
}
