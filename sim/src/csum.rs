//! The device's packet parser and its checksum / TCP-segmentation engine.
//!
//! Everything the model does to packet *contents* lives here, apart from the RSS hash:
//!
//! - [`parse`]: a checked parse of an Ethernet frame (Ethernet II with at most one 802.1Q tag,
//!   IPv4 with options, IPv6 with hop-by-hop / routing / destination-options / fragment
//!   extension headers, TCP, UDP). It never panics and never reads past the frame; what it
//!   could not make sense of is reported in [`PacketInfo::error`].
//! - TX ([`apply_tx_offloads`], [`tso_segments`] / [`TsoScratch`]): what the device does with
//!   the offload bits of a TX descriptor (spec §6.3–6.5, §8.2): IPv4 header checksum, TCP/UDP
//!   checksum in "full" (device adds the pseudo-header) or "partial" (driver pre-filled the
//!   pseudo-header sum) mode, and TSO.
//! - RX ([`rx_checksum`]): the status bits of an RX completion (spec §6.8, §8.3).
//! - [`internet_checksum`] and [`Checksum`]: the RFC 1071 ones' complement sum.
//!
//! The engine is strict where real hardware is silent: an offload request that disagrees with
//! the packet (wrong protocol index, metadata that does not describe the packet, an L4 checksum
//! on a fragment) is an error value the device counts, and the frame is then left exactly as the
//! driver wrote it — which is what would reach the wire if a real NIC checksummed the wrong
//! bytes: a frame whose peer sees a bad checksum. Nothing here panics on packet data.
//!
//! Decisions the spec leaves open (each has a test):
//! - **Metadata vs. parse.** The device trusts its own parse. When the request carries metadata
//!   (the meta descriptor or the SQ's cached copy) its `l3_hdr_off`/`l3_hdr_len` (and, for TSO,
//!   `l4_hdr_len`) must equal the parse, otherwise [`TxOffloadError::MetaMismatch`] and the frame
//!   is untouched. `l4_hdr_len` is not compared for plain checksum offload because Linux sends 0
//!   there (amzn/amzn-drivers kernel/linux/ena/ena_netdev.c, `ena_tx_csum`).
//! - **TSO implies both checksums.** Every segment gets a fresh IPv4 header checksum and TCP
//!   checksum whatever `l3_csum`/`l4_csum` say (a changed header with a stale checksum is never
//!   useful), and a TSO request may name the L4 protocol as unknown: DPDK sends `tso_en` with
//!   l4_proto 0 when the mbuf has TCP_SEG but not TCP_CKSUM (DPDK/dpdk
//!   drivers/net/ena/ena_ethdev.c, `ena_tx_mbuf_prepare`). `l4_partial` still selects how the
//!   TCP checksum is seeded.
//! - **Lengths.** Checksums cover the IP packet as its length field says (Ethernet padding is
//!   not summed). TSO rewrites the length fields, so it also accepts a superframe whose IP length
//!   field is 0 or larger than the frame (Linux BIG TCP writes 0) and then uses the frame end.
//! - **UDP zero checksum.** TX: a computed 0 is sent as 0xFFFF (RFC 768; RFC 8200 §8.1 for
//!   IPv6). RX over IPv4: 0 means "no checksum" — reported as checked and good, so the driver
//!   hands the packet up as verified, as the sender asked. RX over IPv6: 0 is invalid — reported
//!   as checked and bad.
//! - **IPv6.** The pseudo-header destination is the final destination when a routing header still
//!   has segments left (RFC 8200 §8.1: type 0 and 2 carry it last, type 4 (SRH, RFC 8754) first).
//!   With an unknown routing type the device cannot know it: full-mode TX is refused and RX does
//!   not verify. IPv6 fragments are never L4-verified; the completion's `ipv4_frag` bit stays
//!   clear for them because the field is IPv4-only.
//! - **RX with `RX_L3_CSUM_IPV4` off** reports `l3_csum_err` for every IPv4 packet: the spec's
//!   meaning of the bit is "bad *or not validated*".

use ena_hw::admin::offload;
use ena_hw::io::{l3_proto, l4_proto, RxCdesc};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_VLAN: u16 = 0x8100;

const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_NONE: u8 = 59;
const IPPROTO_DSTOPTS: u8 = 60;

const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// Offset of the checksum field inside a TCP header.
const TCP_CSUM_OFF: usize = 16;
/// Offset of the checksum field inside a UDP header.
const UDP_CSUM_OFF: usize = 6;

// ---------------------------------------------------------------------------------------------
// Checksum arithmetic
// ---------------------------------------------------------------------------------------------

/// Ones' complement sum of `data` read as big-endian 16-bit words (an odd last byte is the high
/// half of a word), folded to 16 bits.
///
/// Eight bytes at a time: each big-endian u64 is split into its two 32-bit halves, which are
/// added to a u64 without carries to propagate; folding at the end is exact because ones'
/// complement addition is associative and 2^16 ≡ 1 (RFC 1071 §2). The accumulator cannot
/// overflow for any slice shorter than 2^31 × 8 bytes.
fn ones_sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_be_bytes(word);
        acc += (w >> 32) + (w & 0xFFFF_FFFF);
    }
    let mut rest = chunks.remainder().chunks_exact(2);
    for pair in &mut rest {
        acc += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = rest.remainder() {
        acc += u64::from(*last) << 8;
    }
    fold(acc)
}

/// Folds a wide ones' complement accumulator to 16 bits.
#[inline]
fn fold(mut acc: u64) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

/// An incremental RFC 1071 ones' complement sum.
///
/// Pieces may be added in any sizes: the accumulator remembers whether the bytes so far have an
/// odd length and then adds the next piece byte-swapped, which is how a ones' complement sum
/// treats data shifted by one byte (RFC 1071 §2(B)). This lets the TX engine skip a checksum
/// field, or sum a header and a payload held in different places, without copying.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checksum {
    acc: u64,
    odd: bool,
}

impl Checksum {
    /// An empty sum.
    pub const fn new() -> Self {
        Self { acc: 0, odd: false }
    }

    /// A sum that starts from an already folded partial sum, such as the pseudo-header sum a
    /// driver leaves in the checksum field for "checksum partial" offload.
    pub const fn from_partial(partial: u16) -> Self {
        Self {
            acc: partial as u64,
            odd: false,
        }
    }

    /// Adds the next bytes of the checksummed data.
    pub fn add_bytes(&mut self, data: &[u8]) {
        let s = ones_sum(data);
        self.acc += u64::from(if self.odd { s.swap_bytes() } else { s });
        self.odd ^= data.len() % 2 == 1;
    }

    /// Adds one 16-bit word (host value; summed as its big-endian bytes). Same as
    /// `add_bytes(&value.to_be_bytes())`, without the general loop.
    #[inline]
    pub fn add_u16(&mut self, value: u16) {
        self.acc += u64::from(if self.odd { value.swap_bytes() } else { value });
    }

    /// Adds a 32-bit value as two 16-bit words (IPv6 pseudo-header length).
    #[inline]
    pub fn add_u32(&mut self, value: u32) {
        self.add_u16((value >> 16) as u16);
        self.add_u16(value as u16);
    }

    /// The folded sum, not complemented (what "checksum partial" drivers pre-fill).
    pub fn sum(&self) -> u16 {
        fold(self.acc)
    }

    /// The checksum to store: the complement of the folded sum.
    pub fn finish(&self) -> u16 {
        !self.sum()
    }
}

/// The Internet checksum (RFC 1071) of `data`: the complement of its ones' complement sum. A
/// region that already contains its correct checksum gives 0.
pub fn internet_checksum(data: &[u8]) -> u16 {
    !ones_sum(data)
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// The network-layer protocol of a frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum L3Kind {
    /// No IP header (other EtherType, or an IP header the parser could not accept).
    #[default]
    None,
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// The transport-layer header found after the IP header(s).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum L4Kind {
    /// No usable L4 header: no IP, a non-first fragment, or a truncated/invalid L4 header.
    #[default]
    None,
    /// TCP with a valid data offset, entirely inside the IP packet.
    Tcp,
    /// UDP, its 8-byte header inside the IP packet.
    Udp,
    /// Another upper-layer protocol (the IP protocol / next-header number).
    Other(u8),
}

/// What [`parse`] found wrong with a frame. The parse still reports everything before the
/// problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Shorter than the Ethernet (and VLAN) header.
    #[error("frame shorter than its Ethernet header")]
    TruncatedL2,
    /// The EtherType names IP but the fixed IP header does not fit in the frame.
    #[error("IP header truncated")]
    TruncatedL3,
    /// The IP version nibble disagrees with the EtherType.
    #[error("IP version disagrees with the EtherType")]
    BadIpVersion,
    /// IPv4 IHL below 5.
    #[error("IPv4 header length below 20 bytes")]
    BadIhl,
    /// The IPv4 total length / IPv6 payload length is smaller than the header or larger than
    /// the frame; the rest of the frame is then taken as the IP packet.
    #[error("IP length field disagrees with the frame")]
    BadIpLength,
    /// An IPv6 extension header runs past the IP packet.
    #[error("IPv6 extension header truncated")]
    TruncatedExtHeader,
    /// The TCP/UDP header runs past the IP packet.
    #[error("L4 header truncated")]
    TruncatedL4,
    /// TCP data offset below 5 words.
    #[error("TCP data offset below 5")]
    BadTcpDataOffset,
    /// UDP length field differs from the IP payload length.
    #[error("UDP length disagrees with the IP payload length")]
    BadUdpLength,
}

/// The result of [`parse`]: where each header of a frame is and what it says.
///
/// All offsets are from the first byte of the frame, and every header the fields describe lies
/// inside the frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketInfo {
    /// Ethernet header length: 14, 18 with an 802.1Q tag, 0 if the frame is shorter.
    pub l2_len: usize,
    /// The 802.1Q tag control information, if tagged.
    pub vlan_tci: Option<u16>,
    /// The EtherType after any VLAN tag (0 when the frame is too short to have one).
    pub ethertype: u16,
    /// Network-layer protocol.
    pub l3: L3Kind,
    /// Start of the L3 header (= `l2_len`).
    pub l3_offset: usize,
    /// L3 header length: IPv4 IHL × 4; IPv6 40 plus the extension headers before the L4 header
    /// (what Linux calls the network header length and DPDK `l3_len`). 0 without L3.
    pub l3_hdr_len: usize,
    /// One past the last byte of the IP packet according to its length field (so Ethernet
    /// padding is excluded); the frame length when that field is unusable. 0 without L3.
    pub l3_end: usize,
    /// The upper-layer protocol number (IPv4 protocol, last IPv6 next-header), if known.
    pub ip_proto: Option<u8>,
    /// Where the destination address for the TCP/UDP pseudo-header is (4 bytes for IPv4, 16 for
    /// IPv6): the IP destination, or the final destination of an IPv6 routing header with
    /// segments left. `None` without L3 or with an unknown routing type that has segments left.
    pub pseudo_dst_offset: Option<usize>,
    /// An IP fragment: IPv4 MF or fragment offset ≠ 0; an IPv6 fragment header with M or
    /// offset ≠ 0 (an "atomic" fragment header is not a fragment).
    pub ip_frag: bool,
    /// The IPv4 Don't-Fragment flag.
    pub ipv4_df: bool,
    /// Transport-layer header.
    pub l4: L4Kind,
    /// Start of the L4 header (= `l3_offset + l3_hdr_len`; 0 without L3).
    pub l4_offset: usize,
    /// L4 header length: TCP data offset × 4, 8 for UDP, 0 otherwise.
    pub l4_hdr_len: usize,
    /// The first inconsistency found, if any.
    pub error: Option<ParseError>,
}

impl PacketInfo {
    /// The ENA L3 protocol index (spec §6.11).
    pub fn l3_proto_idx(&self) -> u8 {
        match self.l3 {
            L3Kind::None => l3_proto::UNKNOWN,
            L3Kind::Ipv4 => l3_proto::IPV4,
            L3Kind::Ipv6 => l3_proto::IPV6,
        }
    }

    /// The ENA L4 protocol index (spec §6.11).
    pub fn l4_proto_idx(&self) -> u8 {
        match self.l4 {
            L4Kind::Tcp => l4_proto::TCP,
            L4Kind::Udp => l4_proto::UDP,
            L4Kind::None | L4Kind::Other(_) => l4_proto::UNKNOWN,
        }
    }

    /// An IPv4 fragment (the RX completion's `ipv4_frag`).
    pub fn ipv4_frag(&self) -> bool {
        self.l3 == L3Kind::Ipv4 && self.ip_frag
    }

    /// Bytes of L2 + L3 + L4 headers: where the TCP/UDP payload starts (or where the L3 payload
    /// starts without TCP/UDP, or the L2 payload without L3).
    pub fn headers_len(&self) -> usize {
        match (self.l3, self.l4) {
            (_, L4Kind::Tcp | L4Kind::Udp) => self.l4_offset + self.l4_hdr_len,
            (L3Kind::Ipv4 | L3Kind::Ipv6, _) => self.l3_offset + self.l3_hdr_len,
            (L3Kind::None, _) => self.l2_len,
        }
    }
}

/// Big-endian u16 at `off`, if it lies inside `b`.
#[inline]
fn rd16(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// Big-endian u32 at `off`, if it lies inside `b`.
#[inline]
fn rd32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Writes `bytes` at `off`. Callers only write where [`parse`] found a header, so a miss is an
/// internal bug (caught in debug builds); release builds skip the write rather than panic.
#[inline]
fn wr(b: &mut [u8], off: usize, bytes: &[u8]) {
    let dst = off
        .checked_add(bytes.len())
        .and_then(|end| b.get_mut(off..end));
    debug_assert!(dst.is_some(), "write outside the frame at {off}");
    if let Some(dst) = dst {
        dst.copy_from_slice(bytes);
    }
}

/// The Ethernet header's length, as [`parse`] reports it (14, 18 with an 802.1Q tag, 0 for a
/// frame too short to have one), without parsing further.
#[inline]
pub fn l2_len(frame: &[u8]) -> usize {
    match rd16(frame, 12) {
        None => 0,
        Some(ETHERTYPE_VLAN) if frame.len() < 18 => 0,
        Some(ETHERTYPE_VLAN) => 18,
        Some(_) => 14,
    }
}

/// Parses an Ethernet frame (no FCS). Never panics; see [`PacketInfo`] for what is reported.
pub fn parse(frame: &[u8]) -> PacketInfo {
    let mut info = PacketInfo::default();
    let Some(mut ethertype) = rd16(frame, 12) else {
        info.error = Some(ParseError::TruncatedL2);
        return info;
    };
    let mut l2_len = 14;
    if ethertype == ETHERTYPE_VLAN {
        match (rd16(frame, 14), rd16(frame, 16)) {
            (Some(tci), Some(inner)) => {
                info.vlan_tci = Some(tci);
                ethertype = inner;
                l2_len = 18;
            }
            _ => {
                info.error = Some(ParseError::TruncatedL2);
                return info;
            }
        }
    }
    info.l2_len = l2_len;
    info.ethertype = ethertype;
    info.l3_offset = l2_len;
    let result = match ethertype {
        ETHERTYPE_IPV4 => parse_ipv4(frame, &mut info),
        ETHERTYPE_IPV6 => parse_ipv6(frame, &mut info),
        _ => Ok(()),
    };
    info.error = result.err();
    info
}

fn parse_ipv4(frame: &[u8], info: &mut PacketInfo) -> Result<(), ParseError> {
    let off = info.l3_offset;
    let h = frame.get(off..off + 20).ok_or(ParseError::TruncatedL3)?;
    if h[0] >> 4 != 4 {
        return Err(ParseError::BadIpVersion);
    }
    let ihl = usize::from(h[0] & 0x0F) * 4;
    if ihl < 20 {
        return Err(ParseError::BadIhl);
    }
    if frame.len() < off + ihl {
        return Err(ParseError::TruncatedL3);
    }
    let total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let frag = u16::from_be_bytes([h[6], h[7]]);
    let proto = h[9];
    let available = frame.len() - off;
    let len_error = total_len < ihl || total_len > available;

    info.l3 = L3Kind::Ipv4;
    info.l3_hdr_len = ihl;
    info.l3_end = off + if len_error { available } else { total_len };
    info.ip_proto = Some(proto);
    info.pseudo_dst_offset = Some(off + 16);
    info.ipv4_df = frag & 0x4000 != 0;
    let frag_offset = frag & 0x1FFF;
    info.ip_frag = frag & 0x2000 != 0 || frag_offset != 0;
    info.l4_offset = off + ihl;

    // A non-first fragment carries no L4 header; its first bytes are payload.
    let l4_result = if frag_offset == 0 {
        parse_l4(frame, info, proto)
    } else {
        Ok(())
    };
    if len_error {
        return Err(ParseError::BadIpLength);
    }
    l4_result
}

fn parse_ipv6(frame: &[u8], info: &mut PacketInfo) -> Result<(), ParseError> {
    let off = info.l3_offset;
    let h = frame.get(off..off + 40).ok_or(ParseError::TruncatedL3)?;
    if h[0] >> 4 != 6 {
        return Err(ParseError::BadIpVersion);
    }
    let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let mut next = h[6];
    let available = frame.len() - off - 40;
    // Payload length 0 is only consistent with "no next header"; otherwise it is a jumbogram or
    // a superframe whose length the stack left for the NIC to fill in.
    let len_error = payload_len > available || (payload_len == 0 && next != IPPROTO_NONE);

    info.l3 = L3Kind::Ipv6;
    info.l3_hdr_len = 40;
    info.l3_end = off + 40 + if len_error { available } else { payload_len };
    info.pseudo_dst_offset = Some(off + 24);
    let end = info.l3_end;

    let mut pos = off + 40;
    let walk = loop {
        match next {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => {
                let (Some(nh), Some(&units)) = (frame.get(pos), frame.get(pos + 1)) else {
                    break Err(ParseError::TruncatedExtHeader);
                };
                let len = (usize::from(units) + 1) * 8;
                if pos + len > end {
                    break Err(ParseError::TruncatedExtHeader);
                }
                if next == IPPROTO_ROUTING {
                    routing_final_destination(frame, pos, len, info);
                }
                next = *nh;
                pos += len;
            }
            IPPROTO_FRAGMENT => {
                if pos + 8 > end {
                    break Err(ParseError::TruncatedExtHeader);
                }
                let (Some(&nh), Some(field)) = (frame.get(pos), rd16(frame, pos + 2)) else {
                    break Err(ParseError::TruncatedExtHeader);
                };
                let frag_offset = field >> 3;
                info.ip_frag |= frag_offset != 0 || field & 1 != 0;
                next = nh;
                pos += 8;
                if frag_offset != 0 {
                    // The rest is the middle of someone's payload: no further headers.
                    info.ip_proto = Some(next);
                    break Ok(false);
                }
            }
            _ => break Ok(true),
        }
    };
    info.l3_hdr_len = pos - off;
    info.l4_offset = pos;
    let l4_result = match walk {
        Ok(true) => parse_l4(frame, info, next),
        Ok(false) => Ok(()),
        Err(e) => Err(e),
    };
    if len_error {
        return Err(ParseError::BadIpLength);
    }
    l4_result
}

/// Records where the final destination of an IPv6 routing header at `pos` (`len` bytes, inside
/// the frame) is, when segments are left (RFC 8200 §8.1: the pseudo-header uses it).
fn routing_final_destination(frame: &[u8], pos: usize, len: usize, info: &mut PacketInfo) {
    let (Some(&units), Some(&kind), Some(&segments_left)) =
        (frame.get(pos + 1), frame.get(pos + 2), frame.get(pos + 3))
    else {
        return;
    };
    if segments_left == 0 {
        return;
    }
    let addresses = usize::from(units) / 2;
    info.pseudo_dst_offset = match kind {
        // Type 0 (deprecated, RFC 5095) lists the route in order; the last is the destination.
        0 if addresses > 0 => Some(pos + 8 + (addresses - 1) * 16),
        // Type 2 (Mobile IPv6, RFC 6275) carries exactly one address.
        2 if addresses == 1 => Some(pos + 8),
        // Type 4 (SRH, RFC 8754) stores the list in reverse: Segment List[0] is the last hop.
        4 if addresses > 0 && 8 + 16 <= len => Some(pos + 8),
        _ => None,
    };
}

fn parse_l4(frame: &[u8], info: &mut PacketInfo, proto: u8) -> Result<(), ParseError> {
    let start = info.l4_offset;
    let end = info.l3_end;
    info.ip_proto = Some(proto);
    match proto {
        IPPROTO_TCP => {
            if start + 20 > end {
                return Err(ParseError::TruncatedL4);
            }
            let doff = frame.get(start + 12).map_or(0, |b| b >> 4);
            if doff < 5 {
                return Err(ParseError::BadTcpDataOffset);
            }
            let hdr_len = usize::from(doff) * 4;
            if start + hdr_len > end {
                return Err(ParseError::TruncatedL4);
            }
            info.l4 = L4Kind::Tcp;
            info.l4_hdr_len = hdr_len;
        }
        IPPROTO_UDP => {
            if start + 8 > end {
                return Err(ParseError::TruncatedL4);
            }
            info.l4 = L4Kind::Udp;
            info.l4_hdr_len = 8;
            if rd16(frame, start + 4).map(usize::from) != Some(end - start) {
                return Err(ParseError::BadUdpLength);
            }
        }
        other => info.l4 = L4Kind::Other(other),
    }
    Ok(())
}

/// The pseudo-header sum without the length (source, destination, protocol).
fn pseudo_header_base(frame: &[u8], info: &PacketInfo) -> Option<Checksum> {
    let addr_len = match info.l3 {
        L3Kind::Ipv4 => 4,
        L3Kind::Ipv6 => 16,
        L3Kind::None => return None,
    };
    let src_off = info.l3_offset + if addr_len == 4 { 12 } else { 8 };
    let dst_off = info.pseudo_dst_offset?;
    let mut c = Checksum::new();
    if dst_off == src_off + addr_len {
        // The usual case: the destination follows the source in the header; one piece.
        c.add_bytes(frame.get(src_off..src_off + 2 * addr_len)?);
    } else {
        c.add_bytes(frame.get(src_off..src_off + addr_len)?);
        c.add_bytes(frame.get(dst_off..dst_off + addr_len)?);
    }
    c.add_u16(u16::from(info.ip_proto?));
    Some(c)
}

// ---------------------------------------------------------------------------------------------
// TX
// ---------------------------------------------------------------------------------------------

/// The offsets of a TX meta descriptor (spec §6.4), or the SQ's cached copy of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxMeta {
    /// Where the L3 header starts (the L2 length).
    pub l3_hdr_off: u8,
    /// L3 header length in bytes (IPv6: including extension headers).
    pub l3_hdr_len: u8,
    /// TCP header length in 4-byte words (TSO only; drivers send 0 otherwise).
    pub l4_hdr_len_words: u8,
}

/// What a TX packet's descriptors ask the device to do (spec §6.3–6.5, §8.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxOffloadRequest {
    /// `l3_csum_en`: insert the IPv4 header checksum.
    pub l3_csum: bool,
    /// `l4_csum_en`: insert the TCP/UDP checksum.
    pub l4_csum: bool,
    /// `l4_csum_partial`: the checksum field already holds the pseudo-header sum.
    pub l4_partial: bool,
    /// `l3_proto_idx` (§6.11).
    pub l3_proto_idx: u8,
    /// `l4_proto_idx` (§6.11).
    pub l4_proto_idx: u8,
    /// `tso_en`.
    pub tso: bool,
    /// TSO maximum segment size (TCP payload bytes per segment).
    pub mss: u16,
    /// The metadata in effect for this packet, if any (meta descriptor or cached copy).
    pub meta: Option<TxMeta>,
}

/// Why the device refused an offload request. The frame is left as the driver wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxOffloadError {
    /// The packet's headers are inconsistent where the offload needs them.
    #[error("malformed packet: {0}")]
    Malformed(ParseError),
    /// An offload requested for a frame without a usable IPv4/IPv6 header.
    #[error("offload requested for a frame without an IP header")]
    NotIp,
    /// The request's L3 protocol index does not describe the packet.
    #[error("l3_proto_idx {requested} but the packet is {packet}")]
    L3ProtoMismatch {
        /// Index in the descriptor.
        requested: u8,
        /// Index the parse gives.
        packet: u8,
    },
    /// The request's L4 protocol index does not describe the packet.
    #[error("l4_proto_idx {requested} but the packet is {packet}")]
    L4ProtoMismatch {
        /// Index in the descriptor.
        requested: u8,
        /// Index the parse gives.
        packet: u8,
    },
    /// `l3_csum_en` on a packet that is not IPv4.
    #[error("IPv4 header checksum requested for a non-IPv4 packet")]
    L3CsumNotIpv4,
    /// An L4 checksum or TSO requested for an IP fragment.
    #[error("L4 offload requested for an IP fragment")]
    Fragment,
    /// The metadata's offsets do not describe the packet.
    #[error(
        "meta (l3_hdr_off {}, l3_hdr_len {}, l4_hdr_len_words {}) disagrees with the packet \
         (l3 offset {l3_offset}, l3 header {l3_hdr_len} B, l4 header {l4_hdr_len} B)",
        meta.l3_hdr_off, meta.l3_hdr_len, meta.l4_hdr_len_words
    )]
    MetaMismatch {
        /// The metadata in effect.
        meta: TxMeta,
        /// The parsed L3 offset.
        l3_offset: usize,
        /// The parsed L3 header length.
        l3_hdr_len: usize,
        /// The parsed L4 header length.
        l4_hdr_len: usize,
    },
    /// Full-mode IPv6 checksum with a routing header of unknown type: the final destination
    /// for the pseudo-header cannot be found.
    #[error("IPv6 routing header of unknown type: pseudo-header destination unknown")]
    UnknownRoutingHeader,
    /// `tso_en` given to [`apply_tx_offloads`], which handles single packets only.
    #[error("TSO request passed to the non-TSO path")]
    TsoRequested,
    /// [`tso_segments`] called for a request without `tso_en`.
    #[error("segmentation of a request without tso_en")]
    NotTso,
    /// TSO of a packet that is not TCP over IPv4/IPv6.
    #[error("TSO of a packet that is not TCP over IP")]
    TsoNotTcp,
    /// TSO with MSS 0.
    #[error("TSO with MSS 0")]
    ZeroMss,
    /// A segment's IP length would not fit its 16-bit field.
    #[error("TSO segment too long for the IP length field")]
    SegmentTooLong,
}

/// Checks the request's L3 index against the packet.
fn check_l3(info: &PacketInfo, req: &TxOffloadRequest) -> Result<(), TxOffloadError> {
    if info.l3 == L3Kind::None {
        return Err(TxOffloadError::NotIp);
    }
    let packet = info.l3_proto_idx();
    if req.l3_proto_idx != packet {
        return Err(TxOffloadError::L3ProtoMismatch {
            requested: req.l3_proto_idx,
            packet,
        });
    }
    if req.l3_csum && info.l3 != L3Kind::Ipv4 {
        return Err(TxOffloadError::L3CsumNotIpv4);
    }
    Ok(())
}

/// Checks the metadata in effect (if any) against the packet; `tso` also compares the TCP
/// header length.
fn check_meta(info: &PacketInfo, req: &TxOffloadRequest, tso: bool) -> Result<(), TxOffloadError> {
    let Some(meta) = req.meta else { return Ok(()) };
    let ok = usize::from(meta.l3_hdr_off) == info.l3_offset
        && usize::from(meta.l3_hdr_len) == info.l3_hdr_len
        && (!tso || usize::from(meta.l4_hdr_len_words) * 4 == info.l4_hdr_len);
    if ok {
        Ok(())
    } else {
        Err(TxOffloadError::MetaMismatch {
            meta,
            l3_offset: info.l3_offset,
            l3_hdr_len: info.l3_hdr_len,
            l4_hdr_len: info.l4_hdr_len,
        })
    }
}

/// The IPv4 header checksum of the header at `l3_offset` (`len` bytes), its checksum field
/// taken as zero.
fn ipv4_header_checksum(frame: &[u8], l3_offset: usize, len: usize) -> Option<u16> {
    let h = frame.get(l3_offset..l3_offset + len)?;
    let mut c = Checksum::new();
    c.add_bytes(h.get(..10)?);
    c.add_bytes(h.get(12..)?);
    Some(c.finish())
}

/// Applies the checksum offloads of a non-TSO packet in place (spec §8.2).
///
/// Checks first, writes after: on `Err` the frame is unchanged. A request with neither checksum
/// bit is a no-op whatever else it says.
pub fn apply_tx_offloads(frame: &mut [u8], req: &TxOffloadRequest) -> Result<(), TxOffloadError> {
    if req.tso {
        return Err(TxOffloadError::TsoRequested);
    }
    if !req.l3_csum && !req.l4_csum {
        return Ok(());
    }
    let info = parse(frame);
    check_l3(&info, req)?;
    check_meta(&info, req, false)?;

    let l3_csum = if req.l3_csum {
        // The L3 header itself is sound whenever the parse reports IPv4.
        ipv4_header_checksum(frame, info.l3_offset, info.l3_hdr_len)
    } else {
        None
    };

    let l4_csum = if req.l4_csum {
        let packet = info.l4_proto_idx();
        if req.l4_proto_idx != packet || !matches!(info.l4, L4Kind::Tcp | L4Kind::Udp) {
            return Err(TxOffloadError::L4ProtoMismatch {
                requested: req.l4_proto_idx,
                packet,
            });
        }
        if let Some(e) = info.error {
            return Err(TxOffloadError::Malformed(e));
        }
        if info.ip_frag {
            return Err(TxOffloadError::Fragment);
        }
        Some(tx_l4_checksum(frame, &info, req.l4_partial)?)
    } else {
        None
    };

    if let Some(v) = l3_csum {
        wr(frame, info.l3_offset + 10, &v.to_be_bytes());
    }
    if let Some((off, v)) = l4_csum {
        wr(frame, off, &v.to_be_bytes());
    }
    Ok(())
}

/// The TCP/UDP checksum of a complete, non-fragmented packet and where it goes.
fn tx_l4_checksum(
    frame: &[u8],
    info: &PacketInfo,
    partial: bool,
) -> Result<(usize, u16), TxOffloadError> {
    let is_udp = info.l4 == L4Kind::Udp;
    let field = if is_udp { UDP_CSUM_OFF } else { TCP_CSUM_OFF };
    let malformed = TxOffloadError::Malformed(ParseError::TruncatedL4);
    let l4 = frame.get(info.l4_offset..info.l3_end).ok_or(malformed)?;
    let c = if partial {
        // The field holds the driver's pseudo-header sum; summing it in makes it the start value.
        let mut c = Checksum::new();
        c.add_bytes(l4);
        c
    } else {
        // Whatever the field holds is ignored: sum around it.
        let mut c = pseudo_header_base(frame, info).ok_or(TxOffloadError::UnknownRoutingHeader)?;
        c.add_u32(l4.len() as u32);
        c.add_bytes(l4.get(..field).ok_or(malformed)?);
        c.add_bytes(l4.get(field + 2..).ok_or(malformed)?);
        c
    };
    let mut v = c.finish();
    if is_udp && v == 0 {
        v = 0xFFFF;
    }
    Ok((info.l4_offset + field, v))
}

/// Reusable state for TSO: the buffer each segment is assembled in. After the first packets of
/// a given size it no longer allocates.
#[derive(Debug, Default)]
pub struct TsoScratch {
    segment: Vec<u8>,
}

impl TsoScratch {
    /// An empty scratch; it grows to the largest segment seen.
    pub fn new() -> Self {
        Self::default()
    }

    /// A scratch that can hold a segment of `bytes` without allocating.
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            segment: Vec::with_capacity(bytes),
        }
    }

    /// Segments a TCP superframe (spec §8.2 \[model\] TSO recommendations) and hands each
    /// segment, checksums filled in, to `out`; `out` returns false to stop after that segment
    /// (no room on the wire). Returns how many segments were handed to `out`. On `Err` nothing
    /// was handed out.
    ///
    /// Per segment: headers replicated; IPv4 total length and ID (+1 per segment, wrapping) or
    /// IPv6 payload length; TCP sequence advanced by the payload before it; FIN and PSH only
    /// on the last segment and CWR only on the first; IPv4 header checksum and TCP checksum
    /// recomputed. In partial mode the checksum field holds the pseudo-header sum *without* the
    /// TCP length (spec §8.2), and each segment adds its own length. A superframe with no
    /// payload is sent as one segment.
    pub fn segment(
        &mut self,
        frame: &[u8],
        req: &TxOffloadRequest,
        out: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<usize, TxOffloadError> {
        if !req.tso {
            return Err(TxOffloadError::NotTso);
        }
        let info = parse(frame);
        check_l3(&info, req)?;
        if info.l4 != L4Kind::Tcp {
            return Err(TxOffloadError::L4ProtoMismatch {
                requested: req.l4_proto_idx,
                packet: info.l4_proto_idx(),
            });
        }
        if req.l4_proto_idx != l4_proto::TCP && req.l4_proto_idx != l4_proto::UNKNOWN {
            return Err(TxOffloadError::L4ProtoMismatch {
                requested: req.l4_proto_idx,
                packet: l4_proto::TCP,
            });
        }
        match info.error {
            // TSO rewrites the IP length; the parse then took the frame end as the packet end.
            None | Some(ParseError::BadIpLength) => {}
            Some(e) => return Err(TxOffloadError::Malformed(e)),
        }
        if info.ip_frag {
            return Err(TxOffloadError::Fragment);
        }
        check_meta(&info, req, true)?;
        if req.mss == 0 {
            return Err(TxOffloadError::ZeroMss);
        }
        let mss = usize::from(req.mss);
        let l3 = info.l3_offset;
        let tcp = info.l4_offset;
        let hdr_len = info.headers_len();
        let is_v4 = info.l3 == L3Kind::Ipv4;
        // The IPv6 payload length excludes the fixed header; IPv4's total length includes it.
        let ip_len_base = if is_v4 {
            hdr_len - l3
        } else {
            hdr_len - l3 - 40
        };
        if ip_len_base + mss > usize::from(u16::MAX) {
            return Err(TxOffloadError::SegmentTooLong);
        }
        let malformed = TxOffloadError::Malformed(ParseError::TruncatedL4);
        let headers = frame.get(..hdr_len).ok_or(malformed)?;
        let payload = frame.get(hdr_len..info.l3_end).ok_or(malformed)?;
        let seed = if req.l4_partial {
            Checksum::from_partial(rd16(frame, tcp + TCP_CSUM_OFF).ok_or(malformed)?)
        } else {
            pseudo_header_base(frame, &info).ok_or(TxOffloadError::UnknownRoutingHeader)?
        };
        let first_seq = rd32(frame, tcp + 4).ok_or(malformed)?;
        let first_id = if is_v4 {
            rd16(frame, l3 + 4).ok_or(malformed)?
        } else {
            0
        };
        let flags = *frame.get(tcp + 13).ok_or(malformed)?;

        let count = payload.len().div_ceil(mss).max(1);
        for i in 0..count {
            let start = i * mss;
            let chunk = payload
                .get(start..payload.len().min(start + mss))
                .unwrap_or(&[]);
            let seg = &mut self.segment;
            seg.clear();
            seg.extend_from_slice(headers);
            seg.extend_from_slice(chunk);

            let ip_len = (ip_len_base + chunk.len()) as u16;
            if is_v4 {
                wr(seg, l3 + 2, &ip_len.to_be_bytes());
                wr(seg, l3 + 4, &first_id.wrapping_add(i as u16).to_be_bytes());
                let v = ipv4_header_checksum(seg, l3, info.l3_hdr_len).ok_or(malformed)?;
                wr(seg, l3 + 10, &v.to_be_bytes());
            } else {
                wr(seg, l3 + 4, &ip_len.to_be_bytes());
            }

            let mut seg_flags = flags;
            if i + 1 < count {
                seg_flags &= !(TCP_FIN | TCP_PSH);
            }
            if i > 0 {
                seg_flags &= !TCP_CWR;
            }
            // Sequence numbers are modulo 2^32: the truncating cast is the wrap.
            wr(
                seg,
                tcp + 4,
                &first_seq.wrapping_add(start as u32).to_be_bytes(),
            );
            wr(seg, tcp + 13, &[seg_flags]);
            wr(seg, tcp + TCP_CSUM_OFF, &[0, 0]);
            let tcp_bytes = seg.get(tcp..).ok_or(malformed)?;
            let mut c = seed;
            c.add_u32(tcp_bytes.len() as u32);
            c.add_bytes(tcp_bytes);
            wr(seg, tcp + TCP_CSUM_OFF, &c.finish().to_be_bytes());

            if !out(seg) {
                return Ok(i + 1);
            }
        }
        Ok(count)
    }
}

/// Segments a TSO superframe with `scratch` as the segment buffer: see [`TsoScratch::segment`].
/// The device keeps one [`TsoScratch`] per TX queue (or port), so segmentation does not
/// allocate once the scratch has grown to the largest segment.
pub fn tso_segments(
    frame: &[u8],
    req: &TxOffloadRequest,
    scratch: &mut TsoScratch,
    out: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<usize, TxOffloadError> {
    scratch.segment(frame, req, out)
}

// ---------------------------------------------------------------------------------------------
// RX
// ---------------------------------------------------------------------------------------------

/// The checksum/protocol part of an RX completion's status word (spec §6.8, §8.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxChecksumResult {
    /// L3 protocol index.
    pub l3_proto_idx: u8,
    /// L4 protocol index.
    pub l4_proto_idx: u8,
    /// IPv4 header checksum bad or not validated (IPv4 only).
    pub l3_csum_err: bool,
    /// The L4 checksum was verified.
    pub l4_csum_checked: bool,
    /// The L4 checksum was verified and is bad.
    pub l4_csum_err: bool,
    /// IPv4 fragment.
    pub ipv4_frag: bool,
}

impl RxChecksumResult {
    /// Writes these fields into a completion's status word; other bits are left alone.
    pub fn apply(&self, cdesc: &mut RxCdesc) {
        cdesc.set_l3_proto_idx(self.l3_proto_idx);
        cdesc.set_l4_proto_idx(self.l4_proto_idx);
        cdesc.set_l3_csum_err(self.l3_csum_err);
        cdesc.set_l4_csum_err(self.l4_csum_err);
        cdesc.set_ipv4_frag(self.ipv4_frag);
        cdesc.set_l4_csum_checked(self.l4_csum_checked);
    }
}

/// What the device reports about a received frame, given the STATELESS_OFFLOAD_CONFIG
/// `rx_supported` bits it advertises (`ena_hw::admin::offload::RX_*`).
pub fn rx_checksum(frame: &[u8], rx_caps: u32) -> RxChecksumResult {
    rx_checksum_parsed(frame, &parse(frame), rx_caps)
}

/// [`rx_checksum`] for a frame the caller has already parsed (`info` must be `parse(frame)`).
pub fn rx_checksum_parsed(frame: &[u8], info: &PacketInfo, rx_caps: u32) -> RxChecksumResult {
    let mut r = RxChecksumResult {
        l3_proto_idx: info.l3_proto_idx(),
        l4_proto_idx: info.l4_proto_idx(),
        ipv4_frag: info.ipv4_frag(),
        ..RxChecksumResult::default()
    };
    if info.l3 == L3Kind::Ipv4 {
        let header = frame.get(info.l3_offset..info.l3_offset + info.l3_hdr_len);
        let header_good = matches!(header, Some(h) if internet_checksum(h) == 0);
        r.l3_csum_err = rx_caps & offload::RX_L3_CSUM_IPV4 == 0 || !header_good;
    }
    let l4_cap = match info.l3 {
        L3Kind::Ipv4 => offload::RX_L4_IPV4_CSUM,
        L3Kind::Ipv6 => offload::RX_L4_IPV6_CSUM,
        L3Kind::None => 0,
    };
    if rx_caps & l4_cap != 0
        && matches!(info.l4, L4Kind::Tcp | L4Kind::Udp)
        && !info.ip_frag
        && info.error.is_none()
    {
        if let Some(good) = rx_l4_checksum_good(frame, info) {
            r.l4_csum_checked = true;
            r.l4_csum_err = !good;
        }
    }
    r
}

/// Whether the TCP/UDP checksum of a complete packet verifies; `None` if it cannot be checked.
fn rx_l4_checksum_good(frame: &[u8], info: &PacketInfo) -> Option<bool> {
    let l4 = frame.get(info.l4_offset..info.l3_end)?;
    if info.l4 == L4Kind::Udp && rd16(l4, UDP_CSUM_OFF)? == 0 {
        // IPv4: the sender sent no checksum. IPv6: a zero UDP checksum is not allowed.
        return Some(info.l3 == L3Kind::Ipv4);
    }
    let mut c = pseudo_header_base(frame, info)?;
    c.add_u32(l4.len() as u32);
    c.add_bytes(l4);
    Some(c.sum() == 0xFFFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet_packet::ethernet::{EtherType, EtherTypes, MutableEthernetPacket};
    use pnet_packet::ip::{IpNextHeaderProtocol, IpNextHeaderProtocols};
    use pnet_packet::ipv4::{self, Ipv4Flags, Ipv4Packet, MutableIpv4Packet};
    use pnet_packet::ipv6::{Ipv6Packet, MutableIpv6Packet};
    use pnet_packet::tcp::{self, MutableTcpPacket, TcpFlags, TcpPacket};
    use pnet_packet::udp::{self, MutableUdpPacket, UdpPacket};
    use pnet_packet::vlan::MutableVlanPacket;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const SRC4: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 17);
    const DST4: Ipv4Addr = Ipv4Addr::new(192, 168, 200, 3);
    const SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 0x11);
    const DST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 2, 0, 0, 0xabcd, 0x22);
    const HOME6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x77, 0, 0, 0, 0, 0x99);

    const ALL_RX: u32 =
        offload::RX_L3_CSUM_IPV4 | offload::RX_L4_IPV4_CSUM | offload::RX_L4_IPV6_CSUM;

    // ----- packet builders (pnet) -----

    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// A TCP segment with `opt_words` words of NOP options.
    fn tcp_segment(opt_words: usize, data: &[u8], flags: u8, seq: u32) -> Vec<u8> {
        let hl = 20 + opt_words * 4;
        let mut b = vec![0u8; hl + data.len()];
        {
            let mut t = MutableTcpPacket::new(&mut b).unwrap();
            t.set_source(40_000);
            t.set_destination(443);
            t.set_sequence(seq);
            t.set_acknowledgement(0x0102_0304);
            t.set_data_offset((hl / 4) as u8);
            t.set_flags(flags);
            t.set_window(0xFFFF);
        }
        b[20..hl].fill(1); // NOP options
        b[hl..].copy_from_slice(data);
        b
    }

    fn udp_datagram(data: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 8 + data.len()];
        {
            let mut u = MutableUdpPacket::new(&mut b).unwrap();
            u.set_source(5353);
            u.set_destination(4789);
            u.set_length((8 + data.len()) as u16);
        }
        b[8..].copy_from_slice(data);
        b
    }

    fn ethernet(vlan: Option<u16>, ethertype: EtherType, l3: &[u8]) -> Vec<u8> {
        let l2 = if vlan.is_some() { 18 } else { 14 };
        let mut b = vec![0u8; l2 + l3.len()];
        b[..12].copy_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
        {
            let mut e = MutableEthernetPacket::new(&mut b).unwrap();
            e.set_ethertype(if vlan.is_some() {
                EtherTypes::Vlan
            } else {
                ethertype
            });
        }
        if let Some(vid) = vlan {
            let mut v = MutableVlanPacket::new(&mut b[14..]).unwrap();
            v.set_vlan_identifier(vid);
            v.set_ethertype(ethertype);
        }
        b[l2..].copy_from_slice(l3);
        b
    }

    struct V4 {
        options: Vec<u8>,
        flags: u8,
        frag_offset: u16,
        id: u16,
    }

    impl Default for V4 {
        fn default() -> Self {
            Self {
                options: vec![],
                flags: Ipv4Flags::DontFragment,
                frag_offset: 0,
                id: 0x4242,
            }
        }
    }

    fn ipv4(p: &V4, proto: IpNextHeaderProtocol, l4: &[u8]) -> Vec<u8> {
        let hl = 20 + p.options.len();
        let mut b = vec![0u8; hl + l4.len()];
        {
            let mut ip = MutableIpv4Packet::new(&mut b).unwrap();
            ip.set_version(4);
            ip.set_header_length((hl / 4) as u8);
            ip.set_total_length((hl + l4.len()) as u16);
            ip.set_identification(p.id);
            ip.set_flags(p.flags);
            ip.set_fragment_offset(p.frag_offset);
            ip.set_ttl(64);
            ip.set_next_level_protocol(proto);
            ip.set_source(SRC4);
            ip.set_destination(DST4);
        }
        b[20..hl].copy_from_slice(&p.options);
        b[hl..].copy_from_slice(l4);
        b
    }

    /// Extension header bytes: (its own type, body after the 2-byte next/len prefix). The body
    /// length + 2 must be a multiple of 8 (fragment: exactly 6).
    fn ipv6(ext: &[(u8, Vec<u8>)], proto: IpNextHeaderProtocol, l4: &[u8]) -> Vec<u8> {
        let mut chain = Vec::new();
        for (i, (_, body)) in ext.iter().enumerate() {
            let next = ext.get(i + 1).map_or(proto.0, |e| e.0);
            let units = if ext[i].0 == IPPROTO_FRAGMENT {
                0
            } else {
                (body.len() + 2) / 8 - 1
            };
            chain.push(next);
            chain.push(units as u8);
            chain.extend_from_slice(body);
        }
        let mut b = vec![0u8; 40 + chain.len() + l4.len()];
        {
            let mut ip = MutableIpv6Packet::new(&mut b).unwrap();
            ip.set_version(6);
            ip.set_flow_label(0x12345);
            ip.set_payload_length((chain.len() + l4.len()) as u16);
            ip.set_next_header(ext.first().map_or(proto, |e| IpNextHeaderProtocol(e.0)));
            ip.set_hop_limit(64);
            ip.set_source(SRC6);
            ip.set_destination(DST6);
        }
        b[40..40 + chain.len()].copy_from_slice(&chain);
        b[40 + chain.len()..].copy_from_slice(l4);
        b
    }

    /// Hop-by-hop / destination options body: one PadN option filling 8 × `units8` − 2 bytes.
    fn pad_options(units8: usize) -> Vec<u8> {
        let mut body = vec![0u8; units8 * 8 - 2];
        body[0] = 1;
        body[1] = (body.len() - 2) as u8;
        body
    }

    fn fragment_body(offset8: u16, more: bool) -> Vec<u8> {
        let field = (offset8 << 3) | u16::from(more);
        let mut b = field.to_be_bytes().to_vec();
        b.extend_from_slice(&0xdead_beefu32.to_be_bytes());
        b
    }

    /// A type-2 routing header naming `home` with `segments_left`.
    fn routing2_body(home: Ipv6Addr, segments_left: u8) -> Vec<u8> {
        let mut b = vec![2, segments_left, 0, 0, 0, 0];
        b.extend_from_slice(&home.octets());
        b
    }

    fn v4_tcp_frame(vlan: Option<u16>, options: Vec<u8>, data: &[u8]) -> Vec<u8> {
        let tcp = tcp_segment(3, data, TcpFlags::ACK | TcpFlags::PSH, 1000);
        let ip = ipv4(
            &V4 {
                options,
                ..V4::default()
            },
            IpNextHeaderProtocols::Tcp,
            &tcp,
        );
        ethernet(vlan, EtherTypes::Ipv4, &ip)
    }

    fn v4_udp_frame(data: &[u8]) -> Vec<u8> {
        let ip = ipv4(
            &V4::default(),
            IpNextHeaderProtocols::Udp,
            &udp_datagram(data),
        );
        ethernet(None, EtherTypes::Ipv4, &ip)
    }

    fn v6_frame(ext: &[(u8, Vec<u8>)], tcp: bool, data: &[u8]) -> Vec<u8> {
        let (proto, l4) = if tcp {
            (
                IpNextHeaderProtocols::Tcp,
                tcp_segment(2, data, TcpFlags::ACK, 77),
            )
        } else {
            (IpNextHeaderProtocols::Udp, udp_datagram(data))
        };
        ethernet(None, EtherTypes::Ipv6, &ipv6(ext, proto, &l4))
    }

    // ----- reference values (pnet, and an independent pseudo-header sum) -----

    fn pnet_ipv4_header(frame: &[u8], l3: usize) -> u16 {
        ipv4::checksum(&Ipv4Packet::new(&frame[l3..]).unwrap())
    }

    /// pnet's L4 checksum of the frame's TCP/UDP segment, with the RFC 768 0 → 0xFFFF rule for
    /// UDP that pnet does not apply. `dst6` overrides the IPv6 destination (routing headers).
    fn pnet_l4(frame: &[u8], info: &PacketInfo, dst6: Option<Ipv6Addr>) -> u16 {
        let seg = &frame[info.l4_offset..info.l3_end];
        let l3 = &frame[info.l3_offset..];
        let v = match (info.l3, info.l4) {
            (L3Kind::Ipv4, L4Kind::Tcp) => {
                let ip = Ipv4Packet::new(l3).unwrap();
                tcp::ipv4_checksum(
                    &TcpPacket::new(seg).unwrap(),
                    &ip.get_source(),
                    &ip.get_destination(),
                )
            }
            (L3Kind::Ipv4, L4Kind::Udp) => {
                let ip = Ipv4Packet::new(l3).unwrap();
                udp::ipv4_checksum(
                    &UdpPacket::new(seg).unwrap(),
                    &ip.get_source(),
                    &ip.get_destination(),
                )
            }
            (L3Kind::Ipv6, L4Kind::Tcp) => {
                let ip = Ipv6Packet::new(l3).unwrap();
                let dst = dst6.unwrap_or(ip.get_destination());
                tcp::ipv6_checksum(&TcpPacket::new(seg).unwrap(), &ip.get_source(), &dst)
            }
            (L3Kind::Ipv6, L4Kind::Udp) => {
                let ip = Ipv6Packet::new(l3).unwrap();
                let dst = dst6.unwrap_or(ip.get_destination());
                udp::ipv6_checksum(&UdpPacket::new(seg).unwrap(), &ip.get_source(), &dst)
            }
            other => panic!("no L4 checksum for {other:?}"),
        };
        if info.l4 == L4Kind::Udp && v == 0 {
            0xFFFF
        } else {
            v
        }
    }

    /// The folded, uncomplemented pseudo-header sum a Linux/DPDK driver pre-fills for partial
    /// offload (`~csum_tcpudp_magic(...)`, `rte_ipv4_phdr_cksum`), computed the plain way.
    /// `len = None` leaves the length out, as for TSO.
    fn pseudo_prefill(src: &[u8], dst: &[u8], proto: u8, len: Option<u32>) -> u16 {
        let mut sum: u32 = 0;
        for w in src.chunks(2).chain(dst.chunks(2)) {
            sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
        sum += u32::from(proto);
        if let Some(len) = len {
            sum += len >> 16;
            sum += len & 0xFFFF;
        }
        while sum > 0xFFFF {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        sum as u16
    }

    fn prefill_partial(frame: &mut [u8], info: &PacketInfo, with_len: bool) {
        let (src, dst) = match info.l3 {
            L3Kind::Ipv4 => (
                info.l3_offset + 12..info.l3_offset + 16,
                info.l3_offset + 16,
            ),
            _ => (
                info.l3_offset + 8..info.l3_offset + 24,
                info.pseudo_dst_offset.unwrap(),
            ),
        };
        let alen = src.len();
        let len = (info.l3_end - info.l4_offset) as u32;
        let v = pseudo_prefill(
            &frame[src],
            &frame[dst..dst + alen],
            info.ip_proto.unwrap(),
            with_len.then_some(len),
        );
        let field = info.l4_offset + if info.l4 == L4Kind::Udp { 6 } else { 16 };
        frame[field..field + 2].copy_from_slice(&v.to_be_bytes());
    }

    fn stored(frame: &[u8], off: usize) -> u16 {
        u16::from_be_bytes([frame[off], frame[off + 1]])
    }

    fn l4_field(info: &PacketInfo) -> usize {
        info.l4_offset + if info.l4 == L4Kind::Udp { 6 } else { 16 }
    }

    fn request(info: &PacketInfo, l3_csum: bool, partial: bool) -> TxOffloadRequest {
        TxOffloadRequest {
            l3_csum,
            l4_csum: true,
            l4_partial: partial,
            l3_proto_idx: info.l3_proto_idx(),
            l4_proto_idx: info.l4_proto_idx(),
            meta: Some(TxMeta {
                l3_hdr_off: info.l3_offset as u8,
                l3_hdr_len: info.l3_hdr_len as u8,
                l4_hdr_len_words: 0,
            }),
            ..TxOffloadRequest::default()
        }
    }

    // ----- checksum arithmetic -----

    #[test]
    fn rfc1071_example_sum() {
        // RFC 1071 §3: these bytes sum to 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        let mut c = Checksum::new();
        c.add_bytes(&data);
        assert_eq!(c.sum(), 0xddf2);
        assert_eq!(internet_checksum(&data), !0xddf2);
    }

    #[test]
    fn known_ipv4_header_checksum() {
        // The widely published example header (checksum field zeroed) → 0xb861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(internet_checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(internet_checksum(&h), 0);
    }

    #[test]
    fn odd_length_and_split_sums() {
        let data = payload(1001);
        let whole = internet_checksum(&data);
        assert_eq!(whole, pnet_packet::util::checksum(&data, usize::MAX));
        for split in [0, 1, 2, 3, 7, 8, 9, 500, 1000, 1001] {
            let mut c = Checksum::new();
            c.add_bytes(&data[..split]);
            c.add_bytes(&data[split..]);
            assert_eq!(c.finish(), whole, "split at {split}");
        }
    }

    // ----- parse -----

    #[test]
    fn parse_ipv4_tcp_with_options_and_vlan() {
        let frame = v4_tcp_frame(
            Some(0x123),
            vec![0x01, 0x01, 0x01, 0x00, 0x94, 0x04, 0, 0],
            b"hi",
        );
        let info = parse(&frame);
        assert_eq!(info.error, None);
        assert_eq!(info.vlan_tci, Some(0x123));
        assert_eq!(info.l2_len, 18);
        assert_eq!(info.l3, L3Kind::Ipv4);
        assert_eq!(info.l3_offset, 18);
        assert_eq!(info.l3_hdr_len, 28);
        assert_eq!(info.l4, L4Kind::Tcp);
        assert_eq!(info.l4_offset, 46);
        assert_eq!(info.l4_hdr_len, 32);
        assert_eq!(info.headers_len(), 78);
        assert_eq!(info.l3_end, frame.len());
        assert!(info.ipv4_df);
        assert!(!info.ip_frag);
        assert_eq!((info.l3_proto_idx(), info.l4_proto_idx()), (8, 12));
    }

    #[test]
    fn parse_padding_is_not_ip_payload() {
        let mut frame = v4_udp_frame(b"ab"); // 14 + 20 + 10 = 44 bytes
        frame.resize(60, 0xEE); // Ethernet minimum
        let info = parse(&frame);
        assert_eq!(info.error, None);
        assert_eq!(info.l3_end, 44);
        assert_eq!(info.l4, L4Kind::Udp);
        assert_eq!((info.l3_proto_idx(), info.l4_proto_idx()), (8, 13));
    }

    #[test]
    fn parse_ipv6_extension_headers() {
        let ext = vec![
            (IPPROTO_HOPOPTS, pad_options(1)),
            (IPPROTO_DSTOPTS, pad_options(2)),
            (IPPROTO_ROUTING, routing2_body(HOME6, 1)),
            (IPPROTO_FRAGMENT, fragment_body(0, false)),
        ];
        let frame = v6_frame(&ext, false, b"payload");
        let info = parse(&frame);
        assert_eq!(info.error, None);
        assert_eq!(info.l3, L3Kind::Ipv6);
        assert_eq!(info.l3_hdr_len, 40 + 8 + 16 + 24 + 8);
        assert_eq!(info.l4, L4Kind::Udp);
        assert_eq!(info.ip_proto, Some(17));
        assert!(!info.ip_frag, "an atomic fragment header is not a fragment");
        // The routing header's address, not the IPv6 destination, is the pseudo destination.
        let dst = info.pseudo_dst_offset.unwrap();
        assert_eq!(frame[dst..dst + 16], HOME6.octets());
        assert_eq!((info.l3_proto_idx(), info.l4_proto_idx()), (11, 13));
    }

    #[test]
    fn parse_fragments() {
        // IPv4 first fragment: L4 header present, frag flagged.
        let tcp = tcp_segment(0, &payload(32), TcpFlags::ACK, 1);
        let first = V4 {
            flags: Ipv4Flags::MoreFragments,
            ..V4::default()
        };
        let frame = ethernet(
            None,
            EtherTypes::Ipv4,
            &ipv4(&first, IpNextHeaderProtocols::Tcp, &tcp),
        );
        let info = parse(&frame);
        assert!(info.ip_frag && info.ipv4_frag() && !info.ipv4_df);
        assert_eq!(info.l4, L4Kind::Tcp);

        // IPv4 later fragment: no L4 header.
        let later = V4 {
            flags: 0,
            frag_offset: 185,
            ..V4::default()
        };
        let frame = ethernet(
            None,
            EtherTypes::Ipv4,
            &ipv4(&later, IpNextHeaderProtocols::Tcp, &tcp),
        );
        let info = parse(&frame);
        assert!(info.ip_frag);
        assert_eq!(info.l4, L4Kind::None);
        assert_eq!(info.ip_proto, Some(6));
        assert_eq!(info.headers_len(), 34);

        // IPv6 later fragment.
        let ext = vec![(IPPROTO_FRAGMENT, fragment_body(100, true))];
        let info = parse(&v6_frame(&ext, true, b"x"));
        assert!(info.ip_frag && !info.ipv4_frag());
        assert_eq!(info.l4, L4Kind::None);
        assert_eq!(info.l3_hdr_len, 48);
        assert_eq!(info.error, None);
    }

    #[test]
    fn parse_reports_truncation() {
        let frame = v4_tcp_frame(None, vec![], &payload(100));
        assert_eq!(parse(&frame[..10]).error, Some(ParseError::TruncatedL2));
        assert_eq!(parse(&frame[..10]).l3, L3Kind::None);
        let info = parse(&frame[..30]);
        assert_eq!(
            (info.l3, info.error),
            (L3Kind::None, Some(ParseError::TruncatedL3))
        );
        // IP header complete, TCP cut: L3 known, L4 none, and the IP length is wrong too.
        let info = parse(&frame[..14 + 20 + 10]);
        assert_eq!(info.l3, L3Kind::Ipv4);
        assert_eq!(info.l4, L4Kind::None);
        assert_eq!(info.error, Some(ParseError::BadIpLength));
        // Consistent IP length that leaves no room for the TCP header.
        let tcp = tcp_segment(0, &[], TcpFlags::ACK, 1);
        let ip = ipv4(&V4::default(), IpNextHeaderProtocols::Tcp, &tcp[..12]);
        let info = parse(&ethernet(None, EtherTypes::Ipv4, &ip));
        assert_eq!(
            (info.l4, info.error),
            (L4Kind::None, Some(ParseError::TruncatedL4))
        );
        // Bad TCP data offset.
        let mut bad = frame.clone();
        bad[14 + 20 + 12] = 0x40;
        assert_eq!(parse(&bad).error, Some(ParseError::BadTcpDataOffset));
        // IPv6 extension header running past the packet.
        let ext = vec![(IPPROTO_DSTOPTS, pad_options(1))];
        let mut v6 = v6_frame(&ext, false, b"");
        v6[14 + 41] = 20; // claims 168 bytes
        let info = parse(&v6);
        assert_eq!((info.l3, info.l4), (L3Kind::Ipv6, L4Kind::None));
        assert_eq!(info.error, Some(ParseError::TruncatedExtHeader));
        // Wrong version nibble.
        let mut v = frame.clone();
        v[14] = 0x65;
        assert_eq!(parse(&v).error, Some(ParseError::BadIpVersion));
        assert_eq!(parse(&v).l3, L3Kind::None);
    }

    #[test]
    fn parse_non_ip_and_other_l4() {
        let arp = ethernet(None, EtherTypes::Arp, &[0u8; 28]);
        let info = parse(&arp);
        assert_eq!(
            (info.l3, info.error, info.headers_len()),
            (L3Kind::None, None, 14)
        );
        let icmp = ethernet(
            None,
            EtherTypes::Ipv4,
            &ipv4(
                &V4::default(),
                IpNextHeaderProtocols::Icmp,
                &[8, 0, 0, 0, 0, 1, 0, 1],
            ),
        );
        let info = parse(&icmp);
        assert_eq!(info.l4, L4Kind::Other(1));
        assert_eq!(info.l4_proto_idx(), 0);
    }

    // ----- TX checksum offload -----

    #[test]
    fn tx_full_and_partial_match_pnet() {
        let frames: Vec<(&str, Vec<u8>, Option<Ipv6Addr>)> = vec![
            ("v4 tcp", v4_tcp_frame(None, vec![], &payload(1001)), None),
            (
                "v4 tcp opts vlan",
                v4_tcp_frame(Some(7), vec![1, 1, 1, 0], &payload(333)),
                None,
            ),
            ("v4 udp", v4_udp_frame(&payload(555)), None),
            ("v6 tcp", v6_frame(&[], true, &payload(1400)), None),
            ("v6 udp", v6_frame(&[], false, &payload(99)), None),
            (
                "v6 udp ext",
                v6_frame(&[(IPPROTO_HOPOPTS, pad_options(1))], false, &payload(64)),
                None,
            ),
            (
                "v6 tcp routing",
                v6_frame(
                    &[(IPPROTO_ROUTING, routing2_body(HOME6, 1))],
                    true,
                    &payload(77),
                ),
                Some(HOME6),
            ),
        ];
        for (name, frame, dst6) in frames {
            let info = parse(&frame);
            assert_eq!(info.error, None, "{name}");
            let is_v4 = info.l3 == L3Kind::Ipv4;
            let expect_l4 = pnet_l4(&frame, &info, dst6);

            // Full mode, garbage in both checksum fields.
            let mut full = frame.clone();
            let field = l4_field(&info);
            full[field..field + 2].copy_from_slice(&[0xA5, 0x5A]);
            if is_v4 {
                full[info.l3_offset + 10..info.l3_offset + 12].copy_from_slice(&[0x12, 0x34]);
            }
            apply_tx_offloads(&mut full, &request(&info, is_v4, false)).unwrap();
            assert_eq!(stored(&full, field), expect_l4, "{name} full");
            if is_v4 {
                assert_eq!(
                    stored(&full, info.l3_offset + 10),
                    pnet_ipv4_header(&frame, info.l3_offset),
                    "{name} ip"
                );
            }
            assert!(!rx_checksum(&full, ALL_RX).l4_csum_err, "{name} rx");
            assert!(rx_checksum(&full, ALL_RX).l4_csum_checked, "{name} rx");

            // Partial mode: the driver pre-fills the pseudo-header sum, as Linux does.
            let mut part = frame.clone();
            prefill_partial(&mut part, &info, true);
            apply_tx_offloads(&mut part, &request(&info, false, true)).unwrap();
            assert_eq!(stored(&part, field), expect_l4, "{name} partial");
            // Only the checksum field changed.
            let mut expect = frame.clone();
            expect[field..field + 2].copy_from_slice(&expect_l4.to_be_bytes());
            assert_eq!(part, expect, "{name} partial bytes");
        }
    }

    #[test]
    fn tx_full_mode_ignores_checksum_field() {
        let frame = v4_tcp_frame(None, vec![], &payload(200));
        let info = parse(&frame);
        let field = l4_field(&info);
        let mut results = Vec::new();
        for garbage in [[0, 0], [0xFF, 0xFF], [0x12, 0x34], [0xBE, 0xEF]] {
            let mut f = frame.clone();
            f[field..field + 2].copy_from_slice(&garbage);
            apply_tx_offloads(&mut f, &request(&info, false, false)).unwrap();
            results.push(stored(&f, field));
        }
        assert!(
            results.iter().all(|&v| v == pnet_l4(&frame, &info, None)),
            "{results:x?}"
        );
    }

    #[test]
    fn tx_partial_mode_starts_from_the_field() {
        // With 0 in the field the device adds no pseudo-header at all: the result is the plain
        // checksum of the TCP segment. With 0x1234 there, that value is part of the sum.
        let frame = v4_tcp_frame(None, vec![], &payload(201));
        let info = parse(&frame);
        let field = l4_field(&info);
        for seed in [0u16, 0x1234] {
            let mut f = frame.clone();
            f[field..field + 2].copy_from_slice(&seed.to_be_bytes());
            let expect = internet_checksum(&f[info.l4_offset..]);
            apply_tx_offloads(&mut f, &request(&info, false, true)).unwrap();
            assert_eq!(stored(&f, field), expect, "seed {seed:#x}");
        }
        assert_ne!(
            pnet_l4(&frame, &info, None),
            internet_checksum(&frame[info.l4_offset..])
        );
    }

    #[test]
    fn tx_non_ip_and_no_offload() {
        let arp = ethernet(None, EtherTypes::Arp, &[0u8; 28]);
        let mut f = arp.clone();
        let req = TxOffloadRequest {
            l3_csum: true,
            l3_proto_idx: l3_proto::IPV4,
            ..TxOffloadRequest::default()
        };
        assert_eq!(apply_tx_offloads(&mut f, &req), Err(TxOffloadError::NotIp));
        // Nothing requested: nothing checked, nothing written, even with nonsense indices.
        let req = TxOffloadRequest {
            l3_proto_idx: 3,
            meta: Some(TxMeta::default()),
            ..TxOffloadRequest::default()
        };
        assert_eq!(apply_tx_offloads(&mut f, &req), Ok(()));
        assert_eq!(f, arp);
    }

    #[test]
    fn tx_udp_zero_result_is_sent_as_ffff() {
        // Make a datagram whose UDP checksum computes to 0 by choosing two payload bytes.
        let mut frame = v4_udp_frame(&[0u8; 16]);
        let info = parse(&frame);
        let mut c = pseudo_header_base(&frame, &info).unwrap();
        c.add_u32((info.l3_end - info.l4_offset) as u32);
        c.add_bytes(&frame[info.l4_offset..info.l3_end]);
        // The first two payload bytes are zero and word-aligned: putting `!sum` there makes the
        // total 0xFFFF (x + !x = negative zero in ones' complement), so the checksum is 0.
        let patch = !c.sum();
        frame[info.headers_len()..info.headers_len() + 2].copy_from_slice(&patch.to_be_bytes());
        assert_eq!(
            udp::ipv4_checksum(
                &UdpPacket::new(&frame[info.l4_offset..]).unwrap(),
                &SRC4,
                &DST4
            ),
            0
        );
        apply_tx_offloads(&mut frame, &request(&info, false, false)).unwrap();
        assert_eq!(stored(&frame, l4_field(&info)), 0xFFFF);
        let r = rx_checksum(&frame, ALL_RX);
        assert!(r.l4_csum_checked && !r.l4_csum_err);
    }

    #[test]
    fn tx_meta_mismatch_is_an_error_and_leaves_the_frame() {
        let frame = v4_tcp_frame(None, vec![1, 1, 1, 0], &payload(50));
        let info = parse(&frame);
        let mut req = request(&info, true, false);
        req.meta = Some(TxMeta {
            l3_hdr_off: 14,
            l3_hdr_len: 20,
            l4_hdr_len_words: 0,
        });
        let mut f = frame.clone();
        assert_eq!(
            apply_tx_offloads(&mut f, &req),
            Err(TxOffloadError::MetaMismatch {
                meta: req.meta.unwrap(),
                l3_offset: 14,
                l3_hdr_len: 24,
                l4_hdr_len: 32,
            })
        );
        assert_eq!(f, frame);
        // Correct metadata (and l4_hdr_len 0, as Linux sends without TSO) is accepted.
        req.meta = Some(TxMeta {
            l3_hdr_off: 14,
            l3_hdr_len: 24,
            l4_hdr_len_words: 0,
        });
        assert_eq!(apply_tx_offloads(&mut f, &req), Ok(()));
        // No metadata at all: the parse alone decides.
        req.meta = None;
        assert_eq!(apply_tx_offloads(&mut f, &req), Ok(()));
    }

    #[test]
    fn tx_protocol_mismatches_are_errors() {
        let frame = v4_udp_frame(&payload(40));
        let info = parse(&frame);
        let mut f = frame.clone();
        let mut req = request(&info, false, false);
        req.l4_proto_idx = l4_proto::TCP;
        assert_eq!(
            apply_tx_offloads(&mut f, &req),
            Err(TxOffloadError::L4ProtoMismatch {
                requested: 12,
                packet: 13
            })
        );
        let mut req = request(&info, false, false);
        req.l3_proto_idx = l3_proto::IPV6;
        assert_eq!(
            apply_tx_offloads(&mut f, &req),
            Err(TxOffloadError::L3ProtoMismatch {
                requested: 11,
                packet: 8
            })
        );
        assert_eq!(f, frame);

        let v6 = v6_frame(&[], true, b"abc");
        let info6 = parse(&v6);
        let mut f6 = v6.clone();
        assert_eq!(
            apply_tx_offloads(&mut f6, &request(&info6, true, false)),
            Err(TxOffloadError::L3CsumNotIpv4)
        );
        assert_eq!(f6, v6);

        // L4 checksum of a first fragment.
        let tcp = tcp_segment(0, &payload(32), TcpFlags::ACK, 1);
        let frag = V4 {
            flags: Ipv4Flags::MoreFragments,
            ..V4::default()
        };
        let mut ff = ethernet(
            None,
            EtherTypes::Ipv4,
            &ipv4(&frag, IpNextHeaderProtocols::Tcp, &tcp),
        );
        let infof = parse(&ff);
        assert_eq!(
            apply_tx_offloads(&mut ff, &request(&infof, false, false)),
            Err(TxOffloadError::Fragment)
        );
        // Only the IPv4 header checksum of a fragment is fine.
        let mut req = request(&infof, true, false);
        req.l4_csum = false;
        assert_eq!(apply_tx_offloads(&mut ff, &req), Ok(()));
        assert_eq!(stored(&ff, 24), pnet_ipv4_header(&ff, 14));
    }

    #[test]
    fn tx_unknown_routing_type_refuses_full_mode_only() {
        let mut body = routing2_body(HOME6, 1);
        body[0] = 3; // RPL source route: the device cannot find the final destination
        let frame = v6_frame(&[(IPPROTO_ROUTING, body)], false, &payload(20));
        let info = parse(&frame);
        assert_eq!(info.pseudo_dst_offset, None);
        let mut f = frame.clone();
        assert_eq!(
            apply_tx_offloads(&mut f, &request(&info, false, false)),
            Err(TxOffloadError::UnknownRoutingHeader)
        );
        assert_eq!(f, frame);
        // Partial mode works: the driver knows the destination. Prefill with HOME6 by hand.
        let mut fp = frame.clone();
        let v = pseudo_prefill(&SRC6.octets(), &HOME6.octets(), 17, Some(28));
        fp[l4_field(&info)..l4_field(&info) + 2].copy_from_slice(&v.to_be_bytes());
        apply_tx_offloads(&mut fp, &request(&info, false, true)).unwrap();
        assert_eq!(
            stored(&fp, l4_field(&info)),
            pnet_l4(&frame, &info, Some(HOME6))
        );
        // And RX does not claim to have verified it.
        assert!(!rx_checksum(&fp, ALL_RX).l4_csum_checked);
    }

    // ----- TSO -----

    fn tso_frame_v4(data: &[u8], flags: u8) -> Vec<u8> {
        let tcp = tcp_segment(3, data, flags, 0xFFFF_F000);
        let ip = ipv4(
            &V4 {
                id: 0xFFFE,
                ..V4::default()
            },
            IpNextHeaderProtocols::Tcp,
            &tcp,
        );
        ethernet(Some(5), EtherTypes::Ipv4, &ip)
    }

    fn tso_request(info: &PacketInfo, mss: u16, partial: bool) -> TxOffloadRequest {
        TxOffloadRequest {
            l3_csum: info.l3 == L3Kind::Ipv4,
            l4_csum: true,
            l4_partial: partial,
            l3_proto_idx: info.l3_proto_idx(),
            l4_proto_idx: l4_proto::TCP,
            tso: true,
            mss,
            meta: Some(TxMeta {
                l3_hdr_off: info.l3_offset as u8,
                l3_hdr_len: info.l3_hdr_len as u8,
                l4_hdr_len_words: (info.l4_hdr_len / 4) as u8,
            }),
        }
    }

    fn collect(frame: &[u8], req: &TxOffloadRequest) -> Result<Vec<Vec<u8>>, TxOffloadError> {
        let mut segs = Vec::new();
        let n = tso_segments(frame, req, &mut TsoScratch::new(), &mut |s| {
            segs.push(s.to_vec());
            true
        })?;
        assert_eq!(n, segs.len());
        Ok(segs)
    }

    #[test]
    fn tso_ipv4_9000_bytes_mss_1448() {
        let data = payload(9000);
        let flags = TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN | TcpFlags::CWR;
        let frame = tso_frame_v4(&data, flags);
        let info = parse(&frame);
        for partial in [false, true] {
            let mut f = frame.clone();
            if partial {
                prefill_partial(&mut f, &info, false);
            } else {
                f[l4_field(&info)..l4_field(&info) + 2].copy_from_slice(&[0xDE, 0xAD]);
            }
            let segs = collect(&f, &tso_request(&info, 1448, partial)).unwrap();
            assert_eq!(segs.len(), 7, "ceil(9000 / 1448)");
            let mut joined = Vec::new();
            for (i, seg) in segs.iter().enumerate() {
                let chunk = if i < 6 { 1448 } else { 9000 - 6 * 1448 };
                assert_eq!(seg.len(), 18 + 20 + 32 + chunk);
                assert_eq!(seg[..18], frame[..18], "L2 replicated");
                let ip = Ipv4Packet::new(&seg[18..]).unwrap();
                assert_eq!(usize::from(ip.get_total_length()), 20 + 32 + chunk);
                assert_eq!(ip.get_identification(), 0xFFFEu16.wrapping_add(i as u16));
                assert_eq!(ip.get_flags(), Ipv4Flags::DontFragment);
                assert_eq!(ip.get_checksum(), ipv4::checksum(&ip));
                let t = TcpPacket::new(&seg[38..]).unwrap();
                assert_eq!(
                    t.get_sequence(),
                    0xFFFF_F000u32.wrapping_add((i * 1448) as u32)
                );
                assert_eq!(t.get_acknowledgement(), 0x0102_0304);
                let expect_flags = match i {
                    0 => TcpFlags::ACK | TcpFlags::CWR,
                    6 => TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN,
                    _ => TcpFlags::ACK,
                };
                assert_eq!(t.get_flags(), expect_flags, "segment {i}");
                assert_eq!(
                    seg[38 + 20..38 + 32],
                    frame[38 + 20..38 + 32],
                    "TCP options"
                );
                assert_eq!(t.get_checksum(), tcp::ipv4_checksum(&t, &SRC4, &DST4));
                let r = rx_checksum(seg, ALL_RX);
                assert!(!r.l3_csum_err && r.l4_csum_checked && !r.l4_csum_err);
                joined.extend_from_slice(&seg[70..]);
            }
            assert_eq!(joined, data);
        }
    }

    #[test]
    fn tso_ipv6_with_extension_header_full_and_partial() {
        let data = payload(5000);
        let frame = v6_frame(&[(IPPROTO_DSTOPTS, pad_options(1))], true, &data);
        let info = parse(&frame);
        assert_eq!(info.l3_hdr_len, 48);
        for partial in [false, true] {
            let mut f = frame.clone();
            if partial {
                prefill_partial(&mut f, &info, false);
            }
            let mut req = tso_request(&info, 1000, partial);
            req.l4_proto_idx = l4_proto::UNKNOWN; // as DPDK sends TSO without TCP_CKSUM
            req.l4_csum = false;
            let segs = collect(&f, &req).unwrap();
            assert_eq!(segs.len(), 5);
            let mut joined = Vec::new();
            for (i, seg) in segs.iter().enumerate() {
                let ip = Ipv6Packet::new(&seg[14..]).unwrap();
                assert_eq!(ip.get_payload_length(), 8 + 28 + 1000);
                assert_eq!(seg[54..62], frame[54..62], "extension header replicated");
                let t = TcpPacket::new(&seg[62..]).unwrap();
                assert_eq!(t.get_sequence(), 77 + (i as u32) * 1000);
                assert_eq!(t.get_checksum(), tcp::ipv6_checksum(&t, &SRC6, &DST6));
                joined.extend_from_slice(&seg[62 + 28..]);
            }
            assert_eq!(joined, data);
        }
    }

    #[test]
    fn tso_stops_when_out_refuses_and_checks_requests() {
        let frame = tso_frame_v4(&payload(4000), TcpFlags::ACK);
        let info = parse(&frame);
        let req = tso_request(&info, 1000, false);
        let mut seen = 0;
        let n = tso_segments(&frame, &req, &mut TsoScratch::new(), &mut |_| {
            seen += 1;
            seen < 2
        });
        assert_eq!((n, seen), (Ok(2), 2));

        let mut bad = req;
        bad.mss = 0;
        assert_eq!(collect(&frame, &bad), Err(TxOffloadError::ZeroMss));
        let mut bad = req;
        bad.meta = Some(TxMeta {
            l4_hdr_len_words: 5,
            ..req.meta.unwrap()
        });
        assert!(matches!(
            collect(&frame, &bad),
            Err(TxOffloadError::MetaMismatch { .. })
        ));
        let mut bad = req;
        bad.l4_proto_idx = l4_proto::UDP;
        assert!(matches!(
            collect(&frame, &bad),
            Err(TxOffloadError::L4ProtoMismatch { .. })
        ));
        let mut bad = req;
        bad.tso = false;
        assert_eq!(collect(&frame, &bad), Err(TxOffloadError::NotTso));
        let mut f = frame.clone();
        assert_eq!(
            apply_tx_offloads(&mut f, &req),
            Err(TxOffloadError::TsoRequested)
        );

        let udp = v4_udp_frame(&payload(3000));
        let uinfo = parse(&udp);
        let mut ureq = tso_request(&uinfo, 1000, false);
        ureq.l4_proto_idx = l4_proto::TCP;
        assert!(matches!(
            collect(&udp, &ureq),
            Err(TxOffloadError::L4ProtoMismatch { .. })
        ));
    }

    #[test]
    fn tso_small_payload_and_zero_ip_length() {
        // Payload smaller than the MSS: one segment, flags untouched.
        let flags = TcpFlags::ACK | TcpFlags::PSH | TcpFlags::CWR;
        let frame = tso_frame_v4(&payload(100), flags);
        let info = parse(&frame);
        let segs = collect(&frame, &tso_request(&info, 1448, false)).unwrap();
        assert_eq!(segs.len(), 1);
        assert_eq!(TcpPacket::new(&segs[0][38..]).unwrap().get_flags(), flags);

        // An IPv4 total length of 0 (Linux BIG TCP) is rewritten from the frame.
        let mut big = tso_frame_v4(&payload(3000), TcpFlags::ACK);
        big[18 + 2..18 + 4].copy_from_slice(&[0, 0]);
        let binfo = parse(&big);
        assert_eq!(binfo.error, Some(ParseError::BadIpLength));
        let segs = collect(&big, &tso_request(&binfo, 1448, false)).unwrap();
        assert_eq!(
            segs.iter().map(|s| s.len() - 70).collect::<Vec<_>>(),
            vec![1448, 1448, 104]
        );
        for s in &segs {
            let r = rx_checksum(s, ALL_RX);
            assert!(!r.l3_csum_err && r.l4_csum_checked && !r.l4_csum_err);
        }
    }

    #[test]
    fn tso_scratch_does_not_reallocate_after_warm_up() {
        let frame = tso_frame_v4(&payload(6000), TcpFlags::ACK);
        let info = parse(&frame);
        let req = tso_request(&info, 1448, false);
        let mut scratch = TsoScratch::new();
        scratch.segment(&frame, &req, &mut |_| true).unwrap();
        let ptr = scratch.segment.as_ptr();
        let cap = scratch.segment.capacity();
        for _ in 0..10 {
            assert_eq!(scratch.segment(&frame, &req, &mut |_| true), Ok(5));
        }
        assert_eq!(
            (scratch.segment.as_ptr(), scratch.segment.capacity()),
            (ptr, cap)
        );
    }

    // ----- RX -----

    #[test]
    fn rx_good_and_corrupted_packets() {
        let mut frame = v4_tcp_frame(None, vec![], &payload(300));
        let info = parse(&frame);
        apply_tx_offloads(&mut frame, &request(&info, true, false)).unwrap();
        let good = rx_checksum(&frame, ALL_RX);
        assert_eq!(
            good,
            RxChecksumResult {
                l3_proto_idx: 8,
                l4_proto_idx: 12,
                l3_csum_err: false,
                l4_csum_checked: true,
                l4_csum_err: false,
                ipv4_frag: false,
            }
        );
        let mut cdesc = RxCdesc::default();
        cdesc.set_phase(true);
        cdesc.set_l4_csum_err(true); // stale bit must be cleared
        good.apply(&mut cdesc);
        assert_eq!(cdesc.status, (1 << 24) | (1 << 16) | (12 << 8) | 8);

        let mut ip_flip = frame.clone();
        ip_flip[14 + 8] ^= 0x01; // TTL
        let r = rx_checksum(&ip_flip, ALL_RX);
        assert!(r.l3_csum_err);
        assert!(
            r.l4_csum_checked && !r.l4_csum_err,
            "TTL is not in the pseudo-header"
        );

        let mut data_flip = frame.clone();
        let last = data_flip.len() - 1;
        data_flip[last] ^= 0x80;
        let r = rx_checksum(&data_flip, ALL_RX);
        assert!(!r.l3_csum_err && r.l4_csum_checked && r.l4_csum_err);
        let mut cdesc = RxCdesc::default();
        r.apply(&mut cdesc);
        assert_eq!(cdesc.status, (1 << 16) | (1 << 14) | (12 << 8) | 8);

        // Capabilities off: the L3 bit means "not validated", L4 is not checked.
        let r = rx_checksum(&frame, 0);
        assert!(r.l3_csum_err && !r.l4_csum_checked && !r.l4_csum_err);
        let r = rx_checksum(&frame, offload::RX_L3_CSUM_IPV4 | offload::RX_L4_IPV6_CSUM);
        assert!(!r.l3_csum_err && !r.l4_csum_checked);
    }

    #[test]
    fn rx_ipv6_and_udp_zero_checksum() {
        for ext in [vec![], vec![(IPPROTO_ROUTING, routing2_body(HOME6, 1))]] {
            let mut frame = v6_frame(&ext, false, &payload(123));
            let info = parse(&frame);
            apply_tx_offloads(&mut frame, &request(&info, false, false)).unwrap();
            let r = rx_checksum(&frame, ALL_RX);
            assert_eq!((r.l3_proto_idx, r.l4_proto_idx), (11, 13));
            assert!(r.l4_csum_checked && !r.l4_csum_err && !r.l3_csum_err);
            assert!(!rx_checksum(&frame, offload::RX_L4_IPV4_CSUM).l4_csum_checked);
            let last = frame.len() - 1;
            frame[last] ^= 1;
            assert!(rx_checksum(&frame, ALL_RX).l4_csum_err);

            // Zero UDP checksum over IPv6 is invalid.
            let field = l4_field(&info);
            frame[field..field + 2].copy_from_slice(&[0, 0]);
            let r = rx_checksum(&frame, ALL_RX);
            assert!(r.l4_csum_checked && r.l4_csum_err);
        }
        // Zero UDP checksum over IPv4 means "none": checked and good.
        let mut frame = v4_udp_frame(&payload(50));
        let info = parse(&frame);
        let mut req = request(&info, true, false);
        req.l4_csum = false;
        apply_tx_offloads(&mut frame, &req).unwrap();
        assert_eq!(stored(&frame, l4_field(&info)), 0);
        let r = rx_checksum(&frame, ALL_RX);
        assert!(!r.l3_csum_err && r.l4_csum_checked && !r.l4_csum_err);
    }

    #[test]
    fn rx_fragments_and_truncated_frames() {
        let tcp = tcp_segment(0, &payload(32), TcpFlags::ACK, 1);
        let frag = V4 {
            flags: Ipv4Flags::MoreFragments,
            ..V4::default()
        };
        let mut frame = ethernet(
            None,
            EtherTypes::Ipv4,
            &ipv4(&frag, IpNextHeaderProtocols::Tcp, &tcp),
        );
        let info = parse(&frame);
        let mut req = request(&info, true, false);
        req.l4_csum = false;
        apply_tx_offloads(&mut frame, &req).unwrap();
        let r = rx_checksum(&frame, ALL_RX);
        assert!(r.ipv4_frag && !r.l3_csum_err && !r.l4_csum_checked);
        let mut cdesc = RxCdesc::default();
        r.apply(&mut cdesc);
        assert!(cdesc.ipv4_frag() && !cdesc.l4_csum_checked());

        // IPv6 fragment: never L4-verified, ipv4_frag stays clear.
        let v6 = v6_frame(&[(IPPROTO_FRAGMENT, fragment_body(0, true))], false, b"abc");
        let r = rx_checksum(&v6, ALL_RX);
        assert!(!r.ipv4_frag && !r.l4_csum_checked);
        assert_eq!(r.l4_proto_idx, 13);

        // Truncated: IP length exceeds the frame, nothing verified.
        let good = v4_tcp_frame(None, vec![], &payload(100));
        let r = rx_checksum(&good[..good.len() - 10], ALL_RX);
        assert_eq!(r.l3_proto_idx, 8);
        assert!(!r.l4_csum_checked);
        let r = rx_checksum(&good[..20], ALL_RX);
        assert_eq!(r, RxChecksumResult::default());
    }

    // ----- robustness -----

    fn templates() -> Vec<Vec<u8>> {
        vec![
            v4_tcp_frame(Some(3), vec![1, 1, 1, 0], &payload(200)),
            v4_udp_frame(&payload(60)),
            v6_frame(
                &[
                    (IPPROTO_HOPOPTS, pad_options(1)),
                    (IPPROTO_ROUTING, routing2_body(HOME6, 1)),
                    (IPPROTO_FRAGMENT, fragment_body(0, false)),
                ],
                true,
                &payload(300),
            ),
            v6_frame(&[], false, &payload(10)),
        ]
    }

    fn exercise(frame: &[u8], seed: u64) {
        let info = parse(frame);
        assert!(info.headers_len() <= frame.len());
        assert!(info.l3_end <= frame.len());
        let mut req = TxOffloadRequest {
            l3_csum: seed & 1 != 0,
            l4_csum: seed & 2 != 0,
            l4_partial: seed & 4 != 0,
            l3_proto_idx: if seed & 8 != 0 {
                info.l3_proto_idx()
            } else {
                (seed >> 8) as u8 & 0xF
            },
            l4_proto_idx: if seed & 16 != 0 {
                info.l4_proto_idx()
            } else {
                (seed >> 12) as u8
            },
            tso: false,
            mss: (seed >> 20) as u16 % 3000,
            meta: (seed & 32 != 0).then_some(TxMeta {
                l3_hdr_off: info.l3_offset as u8,
                l3_hdr_len: info.l3_hdr_len as u8,
                l4_hdr_len_words: (info.l4_hdr_len / 4) as u8,
            }),
        };
        let mut f = frame.to_vec();
        let _ = apply_tx_offloads(&mut f, &req);
        req.tso = true;
        let _ = tso_segments(frame, &req, &mut TsoScratch::new(), &mut |s| {
            let _ = rx_checksum(s, seed as u32);
            true
        });
        let _ = rx_checksum(frame, seed as u32);
    }

    proptest! {
        #[test]
        fn never_panics_on_random_bytes(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..400),
            ethertype in prop::sample::select(vec![0x0800u16, 0x86DD, 0x8100, 0x0806]),
            seed in any::<u64>(),
        ) {
            if bytes.len() >= 15 {
                bytes[12..14].copy_from_slice(&ethertype.to_be_bytes());
                bytes[14] = (bytes[14] & 0x0F) | if seed & 64 != 0 { 0x40 } else { 0x60 };
            }
            exercise(&bytes, seed);
        }

        #[test]
        fn never_panics_on_mutated_packets(
            which in 0usize..4,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
            cut in any::<prop::sample::Index>(),
            seed in any::<u64>(),
        ) {
            let mut frame = templates().swap_remove(which);
            for (at, value) in edits {
                let i = at.index(frame.len());
                frame[i] = value;
            }
            let len = cut.index(frame.len() + 1);
            if seed & 128 != 0 {
                frame.truncate(len);
            }
            exercise(&frame, seed);
        }

        #[test]
        fn checksum_matches_naive_sum(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            split in any::<prop::sample::Index>(),
        ) {
            let mut naive: u32 = 0;
            for w in data.chunks(2) {
                naive += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
            }
            while naive > 0xFFFF {
                naive = (naive & 0xFFFF) + (naive >> 16);
            }
            prop_assert_eq!(internet_checksum(&data), !(naive as u16));
            let at = split.index(data.len() + 1);
            let mut c = Checksum::new();
            c.add_bytes(&data[..at]);
            c.add_bytes(&data[at..]);
            prop_assert_eq!(c.sum(), naive as u16);
        }

        #[test]
        fn l2_len_is_what_parse_reports(
            frame in proptest::collection::vec(any::<u8>(), 0..40),
            tag in any::<bool>(),
        ) {
            let mut frame = frame;
            if tag && frame.len() >= 14 {
                frame[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            }
            prop_assert_eq!(l2_len(&frame), parse(&frame).l2_len);
        }

        #[test]
        fn word_adds_equal_adding_their_bytes(
            lead in proptest::collection::vec(any::<u8>(), 0..9),
            w16 in any::<u16>(),
            w32 in any::<u32>(),
        ) {
            // After an odd or even number of bytes alike.
            let (mut words, mut bytes) = (Checksum::new(), Checksum::new());
            words.add_bytes(&lead);
            bytes.add_bytes(&lead);
            words.add_u16(w16);
            bytes.add_bytes(&w16.to_be_bytes());
            words.add_u32(w32);
            bytes.add_bytes(&w32.to_be_bytes());
            prop_assert_eq!(words.sum(), bytes.sum());
            prop_assert_eq!(words.odd, bytes.odd);
        }
    }
}
