//! Packet handling of the load balancer: classify a received frame into a [`Flow`], and
//! encapsulate it in IPv4 (IPIP, RFC 2003) toward a backend for direct server return.
//!
//! Everything here is allocation-free: parsing reads the frame in place through
//! `pnet_packet`'s borrowed views, encapsulation writes 20 bytes of headroom the mbuf already
//! has.
//!
//! # What is load-balanced, and what is not
//!
//! Only untagged Ethernet II frames carrying IPv4 or IPv6 with TCP or UDP are load-balanced.
//! [`parse`] reports everything else as a [`ParseError`], each with its own counter (the
//! `stats` module's policy counters carry the same names), and the caller drops it:
//!
//! | case | result | policy |
//! |---|---|---|
//! | not IPv4/IPv6 (ARP, LLDP, VLAN-tagged: ENA never delivers 802.1Q tags) | `NotIp` | not ours: count `not_ip`, drop |
//! | IPv4 fragment (MF set or offset ≠ 0), IPv6 Fragment header | `Fragment` | count `fragments`, drop. A first fragment carries the ports and could be hashed, but the later ones cannot, and sending them elsewhere would break reassembly; without a fragment table the only consistent choice is to drop all (Katran does the same) |
//! | IPv4 with options, IPv6 with extension headers | `Ok`, `ip_options = true` | count `ip_options`, load-balance normally; encapsulation keeps the inner packet, options included, unchanged |
//! | IP but not TCP/UDP (ICMP, ESP, GRE, …), IPv6 no-next-header, more than [`MAX_IPV6_EXT_HEADERS`] extension headers | `NotL4` | count `not_l4`, drop |
//! | truncated or inconsistent headers: short frame, wrong version, IHL < 5, total length beyond the frame, TCP data offset < 5, UDP length < 8, L4 header not in the first segment, the NIC's bad-IP-checksum flag | `Malformed` | count `malformed`, drop |
//!
//! Trailing Ethernet padding (frames under 60 bytes) is allowed: the IP total length wins.
//! Checksums are not verified in software: the packet is forwarded unchanged and the backend
//! verifies them; only an IPv4 header the NIC already flagged bad is refused (by
//! [`parse_mbuf`]).
//!
//! # Encapsulation ([`encap_ipip`])
//!
//! The client's IP packet is kept byte for byte (inner TTL untouched: the LB is not a router
//! hop for it) and 20 bytes are prepended, so the frame becomes Ethernet (to the next hop,
//! from the LB) + outer IPv4 + the original IP packet. Outer header: version 4, IHL 5, TOS
//! copied from the inner packet (RFC 2003 §3.1; for ECN this is RFC 6040's normal mode), total
//! length, ID 0 with DF set (an atomic datagram, RFC 6864), TTL 64, protocol 4 (IPv4 inner) or
//! 41 (IPv6 inner: 6in4, RFC 4213 §3.5 — the backends are IPv4 hosts in this example's
//! configuration, so IPv6 clients reach them over IPv4 rather than requiring IPv6 on the
//! backend network), source from [`SourcePool`], destination the backend.
//!
//! The outer source is chosen *per flow*: backends decapsulate in their kernel, and their NIC's
//! RSS hashes an IPIP packet on the outer addresses only, so one fixed source would land every
//! flow from this LB on one backend queue. Picking the source from a configured prefix by the
//! flow hash spreads flows over the backend's queues while keeping each flow on one (Katran
//! derives its IPIP source from the client address for the same reason).
//!
//! MTU: the outer packet is `20 + inner length` bytes. When that exceeds the given MTU the
//! packet is not sent ([`EncapError::TooBig`], counted `too_big`, dropped): DF is set, and
//! fragmenting every large packet at the LB would cost more than it saves. Deployments clamp
//! the TCP MSS on the VIP (1500 − 20 − 40 = 1440) or raise the LB↔backend MTU (ENA supports
//! jumbo frames inside a VPC). Sending ICMP "fragmentation needed" back is left out.
//!
//! Outer checksum: computed in software, or (`hw_csum`) left 0 with `TX_IPV4 | TX_IP_CKSUM`
//! set and `l2_len = 14`, `l3_len = 20` so that the NIC fills it in. Inner checksums are never
//! touched, and no inner offload flag is set.
#![allow(dead_code)] // a small library: the example uses a subset of it

use ena::mem::pool::ol;
use ena::Mbuf;
use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{self, Ipv4Flags, Ipv4Packet, MutableIpv4Packet};
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::tcp::TcpPacket;
use pnet_packet::udp::UdpPacket;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// Ethernet II header length (no VLAN tag).
pub const ETH_HLEN: usize = 14;
/// The outer IPv4 header the encapsulation adds.
pub const OUTER_IPV4_LEN: u16 = 20;
/// IPv6 extension headers walked before giving up (counted `not_l4`).
pub const MAX_IPV6_EXT_HEADERS: usize = 8;

const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_IPIP: u8 = 4;
const IPPROTO_IPV6: u8 = 41;

/// A load-balanced flow, as parsed from a frame. `src`/`dst` are both IPv4 or both IPv6,
/// as `ipv6` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// IP protocol: 6 (TCP) or 17 (UDP).
    pub proto: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub ipv6: bool,
    /// IPv4 options or IPv6 extension headers are present (forwarded unchanged).
    pub ip_options: bool,
    /// Length of the IP packet (header and payload), without Ethernet header and padding.
    pub ip_len: u16,
}

impl Flow {
    /// A hash of the 5-tuple, the same in every process and on every machine (fixed seeds),
    /// so that all load balancer instances pick the same backend for a flow from the same
    /// Maglev table. Collisions only share a table slot, so no keyed hash is needed here.
    #[inline]
    pub fn hash(&self) -> u32 {
        let bits = |a: IpAddr| -> u128 {
            match a {
                IpAddr::V4(v4) => u128::from(u32::from(v4)),
                IpAddr::V6(v6) => u128::from(v6),
            }
        };
        let (s, d) = (bits(self.src), bits(self.dst));
        let ports = u64::from(self.sport) << 32
            | u64::from(self.dport) << 16
            | u64::from(self.proto) << 8
            | u64::from(self.ipv6);
        let mut h = 0x243f_6a88_85a3_08d3u64;
        for w in [
            s as u64,
            (s >> 64) as u64,
            d as u64,
            (d >> 64) as u64,
            ports,
        ] {
            h = mix(h ^ w);
        }
        (h ^ (h >> 32)) as u32
    }
}

/// A 64-bit mixer with full avalanche (the SplitMix64 finaliser).
#[inline(always)]
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Why a frame is not load-balanced (see the module doc's table for the policies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Not an untagged IPv4/IPv6 frame.
    NotIp,
    /// An IP fragment.
    Fragment,
    /// IP, but not TCP or UDP.
    NotL4,
    /// Truncated or inconsistent headers.
    Malformed,
}

impl ParseError {
    /// The policy counter this case goes to.
    pub fn counter_name(self) -> &'static str {
        match self {
            ParseError::NotIp => "not_ip",
            ParseError::Fragment => "fragments",
            ParseError::NotL4 => "not_l4",
            ParseError::Malformed => "malformed",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.counter_name())
    }
}

/// Parses a whole frame held in one slice.
pub fn parse(frame: &[u8]) -> Result<Flow, ParseError> {
    parse_headers(frame, frame.len())
}

/// Parses an mbuf: the headers must lie in its first segment (they always do for frames
/// ENA receives), lengths are checked against the whole packet. A frame whose IPv4 header
/// checksum the NIC flagged bad is `Malformed`.
pub fn parse_mbuf(m: &Mbuf) -> Result<Flow, ParseError> {
    if m.ol_flags() & ol::RX_IP_CKSUM_MASK == ol::RX_IP_CKSUM_BAD {
        return Err(ParseError::Malformed);
    }
    parse_headers(m.data(), m.pkt_len() as usize)
}

/// `headers`: the bytes at hand (at least the headers); `pkt_len`: the frame's full length.
fn parse_headers(headers: &[u8], pkt_len: usize) -> Result<Flow, ParseError> {
    let eth = EthernetPacket::new(headers).ok_or(ParseError::Malformed)?;
    let l3 = headers.get(ETH_HLEN..).ok_or(ParseError::Malformed)?;
    // IP bytes in the whole packet (first segment and any others).
    let l3_wire = pkt_len.saturating_sub(ETH_HLEN).max(l3.len());
    match eth.get_ethertype() {
        EtherTypes::Ipv4 => parse_ipv4(l3, l3_wire),
        EtherTypes::Ipv6 => parse_ipv6(l3, l3_wire),
        _ => Err(ParseError::NotIp),
    }
}

fn parse_ipv4(l3: &[u8], l3_wire: usize) -> Result<Flow, ParseError> {
    let ip = Ipv4Packet::new(l3).ok_or(ParseError::Malformed)?;
    let ihl = usize::from(ip.get_header_length()) * 4;
    let total = usize::from(ip.get_total_length());
    if ip.get_version() != 4 || ihl < 20 || ihl > l3.len() || total < ihl || total > l3_wire {
        return Err(ParseError::Malformed);
    }
    if ip.get_flags() & Ipv4Flags::MoreFragments != 0 || ip.get_fragment_offset() != 0 {
        return Err(ParseError::Fragment);
    }
    let proto = ip.get_next_level_protocol().0;
    // The L4 header as far as the first segment holds it, never past the IP packet.
    let l4 = l3
        .get(ihl..total.min(l3.len()))
        .ok_or(ParseError::Malformed)?;
    let (sport, dport) = ports(proto, l4, total - ihl)?;
    Ok(Flow {
        proto,
        src: IpAddr::V4(ip.get_source()),
        dst: IpAddr::V4(ip.get_destination()),
        sport,
        dport,
        ipv6: false,
        ip_options: ihl > 20,
        ip_len: total as u16,
    })
}

fn parse_ipv6(l3: &[u8], l3_wire: usize) -> Result<Flow, ParseError> {
    let ip = Ipv6Packet::new(l3).ok_or(ParseError::Malformed)?;
    let total = 40 + usize::from(ip.get_payload_length());
    if ip.get_version() != 6 || total > l3_wire || total > usize::from(u16::MAX) {
        return Err(ParseError::Malformed);
    }
    let in_first = &l3[..total.min(l3.len())];
    let mut next = ip.get_next_header().0;
    let mut off = 40usize;
    let mut ext = 0usize;
    loop {
        match next {
            IPPROTO_TCP | IPPROTO_UDP => break,
            // Hop-by-hop, routing, destination options: (length + 1) * 8 bytes.
            0 | 43 | 60 | 51 => {
                if ext == MAX_IPV6_EXT_HEADERS {
                    return Err(ParseError::NotL4);
                }
                let h = in_first.get(off..off + 2).ok_or(ParseError::Malformed)?;
                let len = if next == 51 {
                    // Authentication header: (length + 2) * 4 bytes (RFC 4302).
                    (usize::from(h[1]) + 2) * 4
                } else {
                    (usize::from(h[1]) + 1) * 8
                };
                next = h[0];
                off += len;
                ext += 1;
            }
            44 => return Err(ParseError::Fragment),
            _ => return Err(ParseError::NotL4),
        }
    }
    let l4 = in_first.get(off..).ok_or(ParseError::Malformed)?;
    let l4_wire = total.checked_sub(off).ok_or(ParseError::Malformed)?;
    let (sport, dport) = ports(next, l4, l4_wire)?;
    Ok(Flow {
        proto: next,
        src: IpAddr::V6(ip.get_source()),
        dst: IpAddr::V6(ip.get_destination()),
        sport,
        dport,
        ipv6: true,
        ip_options: ext > 0,
        ip_len: total as u16,
    })
}

/// The ports of a TCP or UDP header. `l4`: the header bytes at hand; `l4_len`: the L4
/// length the IP header declares.
fn ports(proto: u8, l4: &[u8], l4_len: usize) -> Result<(u16, u16), ParseError> {
    match proto {
        IPPROTO_TCP => {
            let tcp = TcpPacket::new(l4).ok_or(ParseError::Malformed)?;
            let doff = usize::from(tcp.get_data_offset()) * 4;
            if doff < 20 || doff > l4_len {
                return Err(ParseError::Malformed);
            }
            Ok((tcp.get_source(), tcp.get_destination()))
        }
        IPPROTO_UDP => {
            let udp = UdpPacket::new(l4).ok_or(ParseError::Malformed)?;
            let len = usize::from(udp.get_length());
            if len < 8 || len > l4_len {
                return Err(ParseError::Malformed);
            }
            Ok((udp.get_source(), udp.get_destination()))
        }
        _ => Err(ParseError::NotL4),
    }
}

/// The outer source addresses: a prefix from which each flow gets one address by its hash.
/// For prefixes up to /30 the network and broadcast addresses are skipped; a /31 gives both
/// addresses and a /32 the one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourcePool {
    first: u32,
    count: u32,
}

impl SourcePool {
    /// The pool `network/prefix_len`, 8 <= prefix_len <= 32, host bits zero.
    pub fn new(network: Ipv4Addr, prefix_len: u8) -> Result<SourcePool, String> {
        if !(8..=32).contains(&prefix_len) {
            return Err(format!(
                "outer source pool {network}/{prefix_len}: the prefix length must be 8 to 32"
            ));
        }
        let net = u32::from(network);
        let host_bits = 32 - u32::from(prefix_len);
        let size = 1u64 << host_bits;
        if u64::from(net) & (size - 1) != 0 {
            return Err(format!(
                "outer source pool {network}/{prefix_len}: host bits are set (did you mean {}/{prefix_len}?)",
                Ipv4Addr::from(net & !((size - 1) as u32))
            ));
        }
        let (first, count) = if prefix_len <= 30 {
            (net + 1, (size - 2) as u32)
        } else {
            (net, size as u32)
        };
        Ok(SourcePool { first, count })
    }

    /// Parses `"a.b.c.d/len"`.
    pub fn parse(s: &str) -> Result<SourcePool, String> {
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| format!("outer source pool '{s}': expected address/prefix-length"))?;
        let addr: Ipv4Addr = addr
            .trim()
            .parse()
            .map_err(|_| format!("outer source pool '{s}': bad IPv4 address"))?;
        let len: u8 = len
            .trim()
            .parse()
            .map_err(|_| format!("outer source pool '{s}': bad prefix length"))?;
        SourcePool::new(addr, len)
    }

    /// How many addresses the pool hands out.
    pub fn len(&self) -> u32 {
        self.count
    }

    /// Never empty (a /32 has one address); for clippy's `len` convention.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The source address for a flow hash. The hash is remixed first so that the choice is
    /// independent of the Maglev slot (`hash mod M`): each backend sees its flows spread over
    /// the whole pool.
    #[inline]
    pub fn pick(&self, flow_hash: u32) -> Ipv4Addr {
        let h = mix(u64::from(flow_hash)) as u32;
        let i = (u64::from(h) * u64::from(self.count)) >> 32;
        Ipv4Addr::from(self.first.wrapping_add(i as u32))
    }
}

/// Fixed parameters of the encapsulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncapParams {
    /// The load balancer's MAC (outer Ethernet source).
    pub lb_mac: [u8; 6],
    /// The next hop toward the backends (outer Ethernet destination; in a VPC, the subnet
    /// gateway's MAC).
    pub next_hop_mac: [u8; 6],
    /// The largest outer IP packet that may be sent (the link MTU, e.g. 1500).
    pub mtu: u16,
    /// Leave the outer IPv4 checksum to the NIC (`TX_IPV4 | TX_IP_CKSUM`) instead of
    /// computing it.
    pub hw_csum: bool,
}

/// Why a packet could not be encapsulated. The mbuf is unchanged in every case except that
/// trailing Ethernet padding may already have been trimmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncapError {
    /// The outer packet would exceed the MTU (counted `too_big`, dropped).
    TooBig,
    /// Fewer than 20 bytes of headroom in the mbuf.
    NoHeadroom,
    /// The frame is not an Ethernet + IPv4/IPv6 packet of consistent length.
    Malformed,
}

impl EncapError {
    /// The policy counter this case goes to.
    pub fn counter_name(self) -> &'static str {
        match self {
            EncapError::TooBig => "too_big",
            EncapError::NoHeadroom => "no_headroom",
            EncapError::Malformed => "malformed",
        }
    }
}

impl fmt::Display for EncapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.counter_name())
    }
}

/// Turns the client's frame in `m` into an IPIP (or 6in4) frame toward `backend` (see the
/// module doc for every header field). Allocation-free; the inner IP packet is not touched.
pub fn encap_ipip(
    m: &mut Mbuf,
    params: &EncapParams,
    outer_src: Ipv4Addr,
    backend: Ipv4Addr,
) -> Result<(), EncapError> {
    // Validate everything before changing anything.
    let data = m.data();
    let (inner_proto, inner_len, tos) = {
        let eth = EthernetPacket::new(data).ok_or(EncapError::Malformed)?;
        let l3 = data.get(ETH_HLEN..).ok_or(EncapError::Malformed)?;
        match eth.get_ethertype() {
            EtherTypes::Ipv4 => {
                let ip = Ipv4Packet::new(l3).ok_or(EncapError::Malformed)?;
                if ip.get_version() != 4 {
                    return Err(EncapError::Malformed);
                }
                let tos = ip.get_dscp() << 2 | ip.get_ecn();
                (IPPROTO_IPIP, usize::from(ip.get_total_length()), tos)
            }
            EtherTypes::Ipv6 => {
                let ip = Ipv6Packet::new(l3).ok_or(EncapError::Malformed)?;
                if ip.get_version() != 6 {
                    return Err(EncapError::Malformed);
                }
                let len = 40 + usize::from(ip.get_payload_length());
                (IPPROTO_IPV6, len, ip.get_traffic_class())
            }
            _ => return Err(EncapError::Malformed),
        }
    };
    let pkt_len = m.pkt_len() as usize;
    if ETH_HLEN + inner_len > pkt_len {
        return Err(EncapError::Malformed);
    }
    let outer_len = usize::from(OUTER_IPV4_LEN) + inner_len;
    if outer_len > usize::from(params.mtu) || outer_len > usize::from(u16::MAX) {
        return Err(EncapError::TooBig);
    }
    if m.headroom() < OUTER_IPV4_LEN {
        return Err(EncapError::NoHeadroom);
    }
    let pad = pkt_len - ETH_HLEN - inner_len;
    if pad > 0 {
        // Ethernet padding after the IP packet must not become part of the outer packet.
        let pad = u16::try_from(pad).map_err(|_| EncapError::Malformed)?;
        if !m.trim(pad) {
            return Err(EncapError::Malformed);
        }
    }

    // The old Ethernet header (14 bytes) plus 20 new bytes in front of it become the new
    // Ethernet header and the outer IPv4 header; the inner packet stays where it is.
    m.prepend(OUTER_IPV4_LEN).ok_or(EncapError::NoHeadroom)?;
    let frame = m.data_mut();
    let hdrs = frame
        .get_mut(..ETH_HLEN + usize::from(OUTER_IPV4_LEN))
        .ok_or(EncapError::Malformed)?;
    hdrs[0..6].copy_from_slice(&params.next_hop_mac);
    hdrs[6..12].copy_from_slice(&params.lb_mac);
    hdrs[12..14].copy_from_slice(&EtherTypes::Ipv4.0.to_be_bytes());
    let mut outer = MutableIpv4Packet::new(&mut hdrs[ETH_HLEN..]).ok_or(EncapError::Malformed)?;
    outer.set_version(4);
    outer.set_header_length(5);
    outer.set_dscp(tos >> 2);
    outer.set_ecn(tos & 3);
    outer.set_total_length(outer_len as u16);
    outer.set_identification(0);
    outer.set_flags(Ipv4Flags::DontFragment);
    outer.set_fragment_offset(0);
    outer.set_ttl(64);
    outer.set_next_level_protocol(if inner_proto == IPPROTO_IPIP {
        IpNextHeaderProtocols::Ipv4
    } else {
        IpNextHeaderProtocols::Ipv6
    });
    outer.set_checksum(0);
    outer.set_source(outer_src);
    outer.set_destination(backend);
    if !params.hw_csum {
        let sum = ipv4::checksum(&outer.to_immutable());
        outer.set_checksum(sum);
    }

    m.set_l2_len(ETH_HLEN as u8);
    m.set_l3_len(OUTER_IPV4_LEN);
    let tx_bits = ol::TX_IPV4 | ol::TX_IPV6 | ol::TX_IP_CKSUM | ol::TX_L4_MASK | ol::TX_TCP_SEG;
    let mut flags = m.ol_flags() & !tx_bits;
    if params.hw_csum {
        flags |= ol::TX_IPV4 | ol::TX_IP_CKSUM;
    }
    m.set_ol_flags(flags);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ena::mem::DmaRegion;
    use ena::Mempool;
    use pnet_packet::ip::IpNextHeaderProtocol;
    use pnet_packet::ipv6::MutableIpv6Packet;
    use pnet_packet::tcp::{self, MutableTcpPacket};
    use pnet_packet::udp::{self, MutableUdpPacket};
    use pnet_packet::Packet;
    use std::alloc::Layout;
    use std::net::Ipv6Addr;
    use std::ptr::NonNull;
    use std::sync::Arc;

    const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xc1];
    const LB_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x10, 0x01];
    const GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x10, 0xfe];
    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
    const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
    const BACKEND: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 11);
    const OUTER_SRC: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 33);

    /// Zeroed heap memory standing in for DMA memory (no device reads it in these tests).
    struct HeapBlock {
        ptr: NonNull<u8>,
        layout: Layout,
    }

    // SAFETY: the block is plain memory owned by this value; the pool that uses it
    // synchronises access to the buffers itself.
    unsafe impl Send for HeapBlock {}
    // SAFETY: as for Send.
    unsafe impl Sync for HeapBlock {}

    impl Drop for HeapBlock {
        fn drop(&mut self) {
            // SAFETY: `ptr` came from `alloc_zeroed(layout)` and is freed only here.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
        }
    }

    fn heap_dma(len: usize, align: usize) -> ena::Result<DmaRegion> {
        let layout = Layout::from_size_align(len, align.max(64))
            .map_err(|_| ena::Error::NoMemory("bad layout".into()))?;
        // SAFETY: the layout has a non-zero size (the pool asks for whole regions).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).ok_or_else(|| ena::Error::NoMemory("heap".into()))?;
        let block = Arc::new(HeapBlock { ptr, layout });
        // SAFETY: `ptr..ptr + len` is zeroed, writable memory that lives as long as `block`;
        // no device is involved, so using the host address as the IOVA is harmless.
        Ok(unsafe { DmaRegion::new(ptr, ptr.as_ptr() as u64, len, block) })
    }

    fn pool() -> Mempool {
        Mempool::new(
            "l4lb-test",
            64,
            ena::mem::pool::DEFAULT_DATA_ROOM,
            &heap_dma,
        )
        .unwrap()
    }

    fn mbuf(pool: &Mempool, frame: &[u8]) -> Mbuf {
        let mut m = pool.alloc().unwrap();
        m.append(frame.len() as u16).unwrap().copy_from_slice(frame);
        m
    }

    fn eth(ethertype: u16, l3: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; ETH_HLEN + l3.len()];
        f[0..6].copy_from_slice(&LB_MAC);
        f[6..12].copy_from_slice(&CLIENT_MAC);
        f[12..14].copy_from_slice(&ethertype.to_be_bytes());
        f[ETH_HLEN..].copy_from_slice(l3);
        f
    }

    /// An IPv4 packet with valid IP and L4 checksums. `options`: IPv4 option bytes
    /// (a multiple of 4).
    fn ipv4_packet(proto: u8, sport: u16, dport: u16, payload: &[u8], options: &[u8]) -> Vec<u8> {
        let ihl = 20 + options.len();
        let l4_hdr = match proto {
            IPPROTO_TCP => 20,
            IPPROTO_UDP => 8,
            _ => 0,
        };
        let total = ihl + l4_hdr + payload.len();
        let mut p = vec![0u8; total];
        {
            let mut ip = MutableIpv4Packet::new(&mut p).unwrap();
            ip.set_version(4);
            ip.set_header_length((ihl / 4) as u8);
            ip.set_dscp(10);
            ip.set_ecn(1);
            ip.set_total_length(total as u16);
            ip.set_identification(0x1234);
            ip.set_flags(Ipv4Flags::DontFragment);
            ip.set_ttl(57);
            ip.set_next_level_protocol(IpNextHeaderProtocol(proto));
            ip.set_source(CLIENT);
            ip.set_destination(VIP);
        }
        p[20..ihl].copy_from_slice(options);
        match proto {
            IPPROTO_TCP => {
                let mut t = MutableTcpPacket::new(&mut p[ihl..]).unwrap();
                t.set_source(sport);
                t.set_destination(dport);
                t.set_sequence(0x0102_0304);
                t.set_data_offset(5);
                t.set_flags(0x18);
                t.set_window(1024);
                t.set_payload(payload);
                let sum = tcp::ipv4_checksum(&t.to_immutable(), &CLIENT, &VIP);
                t.set_checksum(sum);
            }
            IPPROTO_UDP => {
                let mut u = MutableUdpPacket::new(&mut p[ihl..]).unwrap();
                u.set_source(sport);
                u.set_destination(dport);
                u.set_length((8 + payload.len()) as u16);
                u.set_payload(payload);
                let sum = udp::ipv4_checksum(&u.to_immutable(), &CLIENT, &VIP);
                u.set_checksum(sum);
            }
            _ => p[ihl..].copy_from_slice(payload),
        }
        let sum = ipv4::checksum(&Ipv4Packet::new(&p).unwrap());
        MutableIpv4Packet::new(&mut p).unwrap().set_checksum(sum);
        p
    }

    fn client6() -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 7)
    }
    fn vip6() -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 10)
    }

    /// An IPv6 packet; `ext` is a chain of extension headers (with their next-header bytes
    /// filled in by the caller) placed between the fixed header and the L4 header.
    fn ipv6_packet(first_next: u8, ext: &[u8], l4: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 40 + ext.len() + l4.len()];
        {
            let mut ip = MutableIpv6Packet::new(&mut p).unwrap();
            ip.set_version(6);
            ip.set_traffic_class(0xb8);
            ip.set_flow_label(0x12345);
            ip.set_payload_length((ext.len() + l4.len()) as u16);
            ip.set_next_header(IpNextHeaderProtocol(first_next));
            ip.set_hop_limit(33);
            ip.set_source(client6());
            ip.set_destination(vip6());
        }
        p[40..40 + ext.len()].copy_from_slice(ext);
        p[40 + ext.len()..].copy_from_slice(l4);
        p
    }

    fn tcp6_segment(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut s = vec![0u8; 20 + payload.len()];
        let mut t = MutableTcpPacket::new(&mut s).unwrap();
        t.set_source(sport);
        t.set_destination(dport);
        t.set_data_offset(5);
        t.set_flags(0x02);
        t.set_payload(payload);
        let sum = tcp::ipv6_checksum(&t.to_immutable(), &client6(), &vip6());
        t.set_checksum(sum);
        s
    }

    // ---- parse ----

    #[test]
    fn packet_parse_tcp_and_udp_ipv4() {
        let f = eth(0x0800, &ipv4_packet(IPPROTO_TCP, 40000, 80, b"GET /", &[]));
        let flow = parse(&f).unwrap();
        assert_eq!(
            flow,
            Flow {
                proto: 6,
                src: IpAddr::V4(CLIENT),
                dst: IpAddr::V4(VIP),
                sport: 40000,
                dport: 80,
                ipv6: false,
                ip_options: false,
                ip_len: 45,
            }
        );
        let f = eth(0x0800, &ipv4_packet(IPPROTO_UDP, 5353, 53, b"q", &[]));
        let flow = parse(&f).unwrap();
        assert_eq!(
            (flow.proto, flow.sport, flow.dport, flow.ip_len),
            (17, 5353, 53, 29)
        );
    }

    #[test]
    fn packet_parse_accepts_ethernet_padding() {
        // 14 + 28 = 42 bytes padded to the 60-byte minimum.
        let mut f = eth(0x0800, &ipv4_packet(IPPROTO_UDP, 1, 2, b"", &[]));
        f.resize(60, 0);
        assert_eq!(parse(&f).unwrap().ip_len, 28);
    }

    #[test]
    fn packet_parse_ipv4_options_are_flagged_and_forwarded() {
        // Record-route-like option padded with NOPs to 4 bytes, then TCP.
        let f = eth(
            0x0800,
            &ipv4_packet(IPPROTO_TCP, 1234, 443, b"x", &[0x01, 0x01, 0x01, 0x00]),
        );
        let flow = parse(&f).unwrap();
        assert!(flow.ip_options);
        assert_eq!((flow.sport, flow.dport, flow.ip_len), (1234, 443, 45));
    }

    #[test]
    fn packet_parse_not_ip() {
        assert_eq!(parse(&eth(0x0806, &[0u8; 28])), Err(ParseError::NotIp)); // ARP
        let mut tagged = eth(0x8100, &[0u8; 4]);
        tagged.extend(ipv4_packet(IPPROTO_TCP, 1, 2, b"", &[]));
        assert_eq!(parse(&tagged), Err(ParseError::NotIp));
        assert_eq!(ParseError::NotIp.counter_name(), "not_ip");
    }

    #[test]
    fn packet_parse_ipv4_fragments_are_dropped() {
        let mut p = ipv4_packet(IPPROTO_UDP, 1, 2, &[0; 16], &[]);
        // First fragment: MF set, offset 0 (ports present, still dropped by policy).
        MutableIpv4Packet::new(&mut p)
            .unwrap()
            .set_flags(Ipv4Flags::MoreFragments);
        assert_eq!(parse(&eth(0x0800, &p)), Err(ParseError::Fragment));
        // Last fragment: MF clear, offset 3 (x 8 bytes).
        let mut ip = MutableIpv4Packet::new(&mut p).unwrap();
        ip.set_flags(0);
        ip.set_fragment_offset(3);
        assert_eq!(parse(&eth(0x0800, &p)), Err(ParseError::Fragment));
    }

    #[test]
    fn packet_parse_not_l4() {
        let icmp = ipv4_packet(1, 0, 0, &[8, 0, 0, 0, 0, 1, 0, 1], &[]);
        assert_eq!(parse(&eth(0x0800, &icmp)), Err(ParseError::NotL4));
        let gre = ipv4_packet(47, 0, 0, &[0; 8], &[]);
        assert_eq!(parse(&eth(0x0800, &gre)), Err(ParseError::NotL4));
        // ICMPv6 and no-next-header.
        let p = ipv6_packet(58, &[], &[128, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(parse(&eth(0x86dd, &p)), Err(ParseError::NotL4));
        let p = ipv6_packet(59, &[], &[]);
        assert_eq!(parse(&eth(0x86dd, &p)), Err(ParseError::NotL4));
    }

    #[test]
    fn packet_parse_malformed() {
        let good = ipv4_packet(IPPROTO_TCP, 1, 2, b"abc", &[]);
        let frame = eth(0x0800, &good);
        // Short frames: no Ethernet header, no IP header, header cut in the middle.
        assert_eq!(parse(&frame[..10]), Err(ParseError::Malformed));
        assert_eq!(parse(&frame[..ETH_HLEN]), Err(ParseError::Malformed));
        assert_eq!(parse(&frame[..30]), Err(ParseError::Malformed));
        // Total length beyond the frame (truncated packet).
        assert_eq!(parse(&frame[..frame.len() - 1]), Err(ParseError::Malformed));
        let bad = |f: &dyn Fn(&mut MutableIpv4Packet)| {
            let mut p = good.clone();
            f(&mut MutableIpv4Packet::new(&mut p).unwrap());
            parse(&eth(0x0800, &p))
        };
        assert_eq!(bad(&|ip| ip.set_version(6)), Err(ParseError::Malformed));
        assert_eq!(
            bad(&|ip| ip.set_header_length(4)),
            Err(ParseError::Malformed)
        );
        assert_eq!(
            bad(&|ip| ip.set_header_length(15)),
            Err(ParseError::Malformed)
        );
        assert_eq!(
            bad(&|ip| ip.set_total_length(19)),
            Err(ParseError::Malformed)
        );
        // Total length that leaves no room for the TCP header.
        assert_eq!(
            bad(&|ip| ip.set_total_length(30)),
            Err(ParseError::Malformed)
        );
        // TCP data offset below 5 or past the packet.
        let mut p = good.clone();
        MutableTcpPacket::new(&mut p[20..])
            .unwrap()
            .set_data_offset(4);
        assert_eq!(parse(&eth(0x0800, &p)), Err(ParseError::Malformed));
        // 6 words = 24 bytes, but the segment is 20 + 3 = 23 bytes.
        MutableTcpPacket::new(&mut p[20..])
            .unwrap()
            .set_data_offset(6);
        assert_eq!(parse(&eth(0x0800, &p)), Err(ParseError::Malformed));
        MutableTcpPacket::new(&mut p[20..])
            .unwrap()
            .set_data_offset(5);
        assert!(parse(&eth(0x0800, &p)).is_ok());
    }

    #[test]
    fn packet_parse_udp_length_is_checked() {
        let good = ipv4_packet(IPPROTO_UDP, 1, 2, b"abcd", &[]);
        for (len, ok) in [(12u16, true), (8, true), (7, false), (13, false)] {
            let mut p = good.clone();
            MutableUdpPacket::new(&mut p[20..]).unwrap().set_length(len);
            assert_eq!(parse(&eth(0x0800, &p)).is_ok(), ok, "UDP length {len}");
        }
    }

    #[test]
    fn packet_parse_ipv6() {
        let seg = tcp6_segment(50000, 443, b"hi");
        let f = eth(0x86dd, &ipv6_packet(IPPROTO_TCP, &[], &seg));
        let flow = parse(&f).unwrap();
        assert_eq!(
            flow,
            Flow {
                proto: 6,
                src: IpAddr::V6(client6()),
                dst: IpAddr::V6(vip6()),
                sport: 50000,
                dport: 443,
                ipv6: true,
                ip_options: false,
                ip_len: 62,
            }
        );
        // Hop-by-hop (8 bytes: next=60, len 0, PadN) then destination options (16 bytes).
        let mut ext = vec![60, 0, 1, 4, 0, 0, 0, 0];
        ext.extend([IPPROTO_TCP, 1, 1, 12]);
        ext.extend([0u8; 12]);
        let f = eth(0x86dd, &ipv6_packet(0, &ext, &seg));
        let flow = parse(&f).unwrap();
        assert!(flow.ip_options);
        assert_eq!((flow.sport, flow.dport, flow.ip_len), (50000, 443, 86));
        // Fragment header.
        let frag = [IPPROTO_TCP, 0, 0, 1, 0, 0, 0, 1];
        let f = eth(0x86dd, &ipv6_packet(44, &frag, &seg));
        assert_eq!(parse(&f), Err(ParseError::Fragment));
        // An extension header running past the packet.
        let f = eth(
            0x86dd,
            &ipv6_packet(0, &[IPPROTO_TCP, 9, 0, 0, 0, 0, 0, 0], &seg),
        );
        assert_eq!(parse(&f), Err(ParseError::Malformed));
        // Nine chained destination-options headers: more than we walk.
        let mut ext = Vec::new();
        for _ in 0..9 {
            ext.extend([60, 0, 1, 4, 0, 0, 0, 0]);
        }
        let n = ext.len();
        ext[n - 8] = IPPROTO_TCP;
        let f = eth(0x86dd, &ipv6_packet(60, &ext, &seg));
        assert_eq!(parse(&f), Err(ParseError::NotL4));
        // Payload length beyond the frame.
        let mut p = ipv6_packet(IPPROTO_TCP, &[], &seg);
        MutableIpv6Packet::new(&mut p)
            .unwrap()
            .set_payload_length(23);
        assert_eq!(parse(&eth(0x86dd, &p)), Err(ParseError::Malformed));
    }

    #[test]
    fn packet_parse_mbuf_uses_the_nic_ip_checksum_verdict() {
        let pool = pool();
        let f = eth(0x0800, &ipv4_packet(IPPROTO_TCP, 1, 2, b"", &[]));
        let mut m = mbuf(&pool, &f);
        assert!(parse_mbuf(&m).is_ok());
        m.set_ol_flags(ol::RX_IP_CKSUM_GOOD | ol::RX_RSS_HASH);
        assert!(parse_mbuf(&m).is_ok());
        m.set_ol_flags(ol::RX_IP_CKSUM_BAD);
        assert_eq!(parse_mbuf(&m), Err(ParseError::Malformed));
        // "NONE" (both bits) means not verified but intact: accepted.
        m.set_ol_flags(ol::RX_IP_CKSUM_NONE);
        assert!(parse_mbuf(&m).is_ok());
    }

    #[test]
    fn packet_flow_hash_is_stable_and_sensitive_to_every_field() {
        let f = parse(&eth(0x0800, &ipv4_packet(IPPROTO_TCP, 40000, 80, b"", &[]))).unwrap();
        let h = f.hash();
        assert_eq!(h, f.hash());
        let variants = [
            Flow { sport: 40001, ..f },
            Flow { dport: 81, ..f },
            Flow { proto: 17, ..f },
            Flow {
                src: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 8)),
                ..f
            },
            Flow {
                dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)),
                ..f
            },
        ];
        for v in variants {
            assert_ne!(v.hash(), h, "{v:?}");
        }
        // Options do not change the flow's identity.
        assert_eq!(
            Flow {
                ip_options: true,
                ..f
            }
            .hash(),
            h
        );
        // Pinned: all LB instances (and versions) must agree on flow hashes.
        let pinned = Flow {
            proto: 6,
            src: IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)),
            dst: IpAddr::V4(Ipv4Addr::new(5, 6, 7, 8)),
            sport: 1,
            dport: 2,
            ipv6: false,
            ip_options: false,
            ip_len: 40,
        };
        assert_eq!(pinned.hash(), PINNED_HASH);
    }

    const PINNED_HASH: u32 = 0x7e0d_f975;

    // ---- source pool ----

    #[test]
    fn packet_source_pool_ranges_and_errors() {
        let p = SourcePool::parse("10.200.0.0/24").unwrap();
        assert_eq!(p.len(), 254);
        let mut seen = std::collections::HashSet::new();
        for h in 0..100_000u32 {
            let a = u32::from(p.pick(h.wrapping_mul(2_654_435_761)));
            assert!((0x0ac8_0001..=0x0ac8_00fe).contains(&a), "{a:#x}");
            seen.insert(a);
        }
        assert_eq!(seen.len(), 254, "every usable address gets used");
        assert_eq!(
            SourcePool::parse("10.1.2.3/32").unwrap().pick(77),
            Ipv4Addr::new(10, 1, 2, 3)
        );
        let p31 = SourcePool::parse("10.1.2.2/31").unwrap();
        assert_eq!(p31.len(), 2);
        assert_eq!(SourcePool::parse("10.200.0.0/16").unwrap().len(), 65534);
        let err = SourcePool::parse("10.200.0.5/24").unwrap_err();
        assert!(
            err.contains("host bits") && err.contains("10.200.0.0/24"),
            "{err}"
        );
        assert!(SourcePool::parse("10.0.0.0/7").is_err());
        assert!(SourcePool::parse("10.0.0.0/33").is_err());
        assert!(SourcePool::parse("10.0.0/24").is_err());
        assert!(SourcePool::parse("10.0.0.0").is_err());
        // Deterministic per flow.
        let p = SourcePool::parse("10.200.0.0/24").unwrap();
        assert_eq!(p.pick(12345), p.pick(12345));
    }

    // ---- encapsulation ----

    fn params(hw_csum: bool) -> EncapParams {
        EncapParams {
            lb_mac: LB_MAC,
            next_hop_mac: GW_MAC,
            mtu: 1500,
            hw_csum,
        }
    }

    /// Checks every outer field and that the inner packet is `inner` byte for byte.
    fn check_outer(m: &Mbuf, inner: &[u8], proto: u8, tos: u8, hw_csum: bool) {
        let out = m.data();
        assert_eq!(m.pkt_len() as usize, 34 + inner.len());
        assert_eq!(out.len(), 34 + inner.len());
        let e = EthernetPacket::new(out).unwrap();
        assert_eq!(e.get_destination().octets(), GW_MAC);
        assert_eq!(e.get_source().octets(), LB_MAC);
        assert_eq!(e.get_ethertype(), EtherTypes::Ipv4);
        let ip = Ipv4Packet::new(e.payload()).unwrap();
        assert_eq!(ip.get_version(), 4);
        assert_eq!(ip.get_header_length(), 5);
        assert_eq!(ip.get_dscp() << 2 | ip.get_ecn(), tos);
        assert_eq!(usize::from(ip.get_total_length()), 20 + inner.len());
        assert_eq!(ip.get_identification(), 0);
        assert_eq!(ip.get_flags(), Ipv4Flags::DontFragment);
        assert_eq!(ip.get_fragment_offset(), 0);
        assert_eq!(ip.get_ttl(), 64);
        assert_eq!(ip.get_next_level_protocol().0, proto);
        assert_eq!(ip.get_source(), OUTER_SRC);
        assert_eq!(ip.get_destination(), BACKEND);
        if hw_csum {
            assert_eq!(ip.get_checksum(), 0);
        } else {
            assert_ne!(ip.get_checksum(), 0);
            assert_eq!(ip.get_checksum(), ipv4::checksum(&ip));
        }
        assert_eq!(ip.payload(), inner, "inner packet changed");
        assert_eq!((m.l2_len(), m.l3_len()), (14, 20));
    }

    #[test]
    fn packet_encap_ipv4_tcp_software_checksum_byte_exact() {
        let pool = pool();
        let inner = ipv4_packet(IPPROTO_TCP, 40000, 80, b"GET / HTTP/1.1\r\n\r\n", &[]);
        let mut m = mbuf(&pool, &eth(0x0800, &inner));
        m.set_ol_flags(ol::RX_RSS_HASH | ol::RX_IP_CKSUM_GOOD);
        encap_ipip(&mut m, &params(false), OUTER_SRC, BACKEND).unwrap();
        check_outer(&m, &inner, 4, (10 << 2) | 1, false);
        // RX flags are kept, no TX offload is requested.
        assert_eq!(m.ol_flags(), ol::RX_RSS_HASH | ol::RX_IP_CKSUM_GOOD);
        // The exact outer header, from RFC 791's field layout.
        let sum = u16::from_be_bytes([m.data()[24], m.data()[25]]);
        let total = (20 + inner.len()) as u16;
        let mut want = vec![0x45, 0x29];
        want.extend(total.to_be_bytes());
        want.extend([0, 0, 0x40, 0x00, 64, 4]);
        want.extend(sum.to_be_bytes());
        want.extend(OUTER_SRC.octets());
        want.extend(BACKEND.octets());
        assert_eq!(&m.data()[14..34], &want[..]);
        // The checksum is the one's complement sum of the header words.
        let mut s: u32 = m.data()[14..34]
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        assert_eq!(s, 0xffff);
        // Inner checksums untouched and still valid; inner TTL untouched.
        let inner_ip = Ipv4Packet::new(&m.data()[34..]).unwrap();
        assert_eq!(inner_ip.get_ttl(), 57);
        assert_eq!(inner_ip.get_checksum(), ipv4::checksum(&inner_ip));
        let t = TcpPacket::new(inner_ip.payload()).unwrap();
        assert_eq!(t.get_checksum(), tcp::ipv4_checksum(&t, &CLIENT, &VIP));
    }

    #[test]
    fn packet_encap_hw_checksum_sets_offload_flags() {
        let pool = pool();
        let inner = ipv4_packet(IPPROTO_UDP, 5353, 53, b"query", &[]);
        let mut m = mbuf(&pool, &eth(0x0800, &inner));
        // Stale TX flags from somewhere else must not survive.
        m.set_ol_flags(ol::RX_RSS_HASH | ol::TX_UDP_CKSUM | ol::TX_IPV6);
        encap_ipip(&mut m, &params(true), OUTER_SRC, BACKEND).unwrap();
        check_outer(&m, &inner, 4, (10 << 2) | 1, true);
        assert_eq!(
            m.ol_flags(),
            ol::RX_RSS_HASH | ol::TX_IPV4 | ol::TX_IP_CKSUM
        );
        let inner_ip = Ipv4Packet::new(&m.data()[34..]).unwrap();
        let u = UdpPacket::new(inner_ip.payload()).unwrap();
        assert_eq!(u.get_checksum(), udp::ipv4_checksum(&u, &CLIENT, &VIP));
    }

    #[test]
    fn packet_encap_keeps_ipv4_options() {
        let pool = pool();
        let inner = ipv4_packet(IPPROTO_TCP, 1, 80, b"x", &[0x01, 0x01, 0x01, 0x00]);
        let mut m = mbuf(&pool, &eth(0x0800, &inner));
        encap_ipip(&mut m, &params(false), OUTER_SRC, BACKEND).unwrap();
        check_outer(&m, &inner, 4, (10 << 2) | 1, false);
    }

    #[test]
    fn packet_encap_ipv6_is_6in4() {
        let pool = pool();
        let inner = ipv6_packet(IPPROTO_TCP, &[], &tcp6_segment(50000, 443, b"hello"));
        let mut m = mbuf(&pool, &eth(0x86dd, &inner));
        encap_ipip(&mut m, &params(false), OUTER_SRC, BACKEND).unwrap();
        check_outer(&m, &inner, 41, 0xb8, false);
        let inner_ip = Ipv6Packet::new(&m.data()[34..]).unwrap();
        assert_eq!(inner_ip.get_hop_limit(), 33);
        let t = TcpPacket::new(inner_ip.payload()).unwrap();
        assert_eq!(
            t.get_checksum(),
            tcp::ipv6_checksum(&t, &client6(), &vip6())
        );
    }

    #[test]
    fn packet_encap_trims_ethernet_padding() {
        let pool = pool();
        let inner = ipv4_packet(IPPROTO_UDP, 1, 2, b"", &[]);
        let mut f = eth(0x0800, &inner);
        f.resize(60, 0xee);
        let mut m = mbuf(&pool, &f);
        encap_ipip(&mut m, &params(false), OUTER_SRC, BACKEND).unwrap();
        check_outer(&m, &inner, 4, (10 << 2) | 1, false);
        assert_eq!(m.pkt_len(), 14 + 20 + 28);
    }

    #[test]
    fn packet_encap_at_the_mtu_edge() {
        let pool = pool();
        // Inner 1480 bytes: the outer packet is exactly 1500.
        let inner = ipv4_packet(IPPROTO_TCP, 1, 80, &[0x5a; 1480 - 40], &[]);
        assert_eq!(inner.len(), 1480);
        let mut m = mbuf(&pool, &eth(0x0800, &inner));
        encap_ipip(&mut m, &params(false), OUTER_SRC, BACKEND).unwrap();
        check_outer(&m, &inner, 4, (10 << 2) | 1, false);
        assert_eq!(m.pkt_len(), 1514);

        // One byte more does not fit: refused, mbuf untouched.
        let inner = ipv4_packet(IPPROTO_TCP, 1, 80, &[0x5a; 1481 - 40], &[]);
        let frame = eth(0x0800, &inner);
        let mut m = mbuf(&pool, &frame);
        assert_eq!(
            encap_ipip(&mut m, &params(false), OUTER_SRC, BACKEND),
            Err(EncapError::TooBig)
        );
        assert_eq!(m.data(), &frame[..]);
        assert_eq!(EncapError::TooBig.counter_name(), "too_big");
        // With a jumbo MTU it fits.
        let jumbo = EncapParams {
            mtu: 9001,
            ..params(false)
        };
        encap_ipip(&mut m, &jumbo, OUTER_SRC, BACKEND).unwrap();
        check_outer(&m, &inner, 4, (10 << 2) | 1, false);
    }

    #[test]
    fn packet_encap_refuses_without_headroom_or_with_bad_frames() {
        let pool = pool();
        let frame = eth(0x0800, &ipv4_packet(IPPROTO_TCP, 1, 80, b"x", &[]));
        let mut m = pool.alloc().unwrap();
        assert!(m.set_data_off(19));
        m.append(frame.len() as u16)
            .unwrap()
            .copy_from_slice(&frame);
        assert_eq!(
            encap_ipip(&mut m, &params(false), OUTER_SRC, BACKEND),
            Err(EncapError::NoHeadroom)
        );
        assert_eq!(m.data(), &frame[..]);

        // Not IP, truncated, or an IP length past the frame.
        for bad in [
            eth(0x0806, &[0u8; 28]),
            frame[..20].to_vec(),
            frame[..frame.len() - 1].to_vec(),
        ] {
            let mut m = mbuf(&pool, &bad);
            assert_eq!(
                encap_ipip(&mut m, &params(false), OUTER_SRC, BACKEND),
                Err(EncapError::Malformed)
            );
            assert_eq!(m.data(), &bad[..]);
        }
    }

    #[test]
    fn packet_parse_then_encap_round_trip_with_source_pool() {
        let pool = pool();
        let inner = ipv4_packet(IPPROTO_TCP, 40000, 80, b"abc", &[]);
        let mut m = mbuf(&pool, &eth(0x0800, &inner));
        let flow = parse_mbuf(&m).unwrap();
        let sources = SourcePool::parse("10.200.0.0/24").unwrap();
        let src = sources.pick(flow.hash());
        encap_ipip(&mut m, &params(false), src, BACKEND).unwrap();
        let ip = Ipv4Packet::new(&m.data()[14..]).unwrap();
        assert_eq!(ip.get_source(), src);
        // The encapsulated frame is itself IPv4 but protocol 4: not load-balanced again.
        assert_eq!(parse_mbuf(&m), Err(ParseError::NotL4));
    }
}
