//! `generator`: a wire whose receive side is a synthetic traffic source and whose transmit side is
//! a counting sink.
//!
//! Benchmarks put one on each simulated port they drive: the device thread then plays a traffic
//! generator into RX on one port and a sink for TX on another, with no second device or host
//! stack in the loop. It is also the "gen" device the DPDK PMD conformance runs use.
//!
//! # Frames
//!
//! Every frame is a complete, valid Ethernet II / IPv4-or-IPv6 / UDP-or-TCP frame of exactly
//! [`GeneratorConfig::frame_size`] bytes (no FCS): the IP total length (or IPv6 payload length)
//! covers the whole rest of the frame, so there is never Ethernet padding, and the IPv4 header
//! checksum and the TCP/UDP checksum are correct. IPv4 packets carry DF and a zero
//! identification (RFC 6864 allows any value for atomic datagrams); TCP segments are PSH|ACK with
//! sequence and acknowledgement numbers 1.
//!
//! The L4 payload starts with a marker: the frame's sequence number (u64 big-endian, payload
//! bytes 0..8, [`SEQ_OFFSET`]) and its flow index (u32 big-endian, payload bytes 8..12,
//! [`FLOW_OFFSET`]); payload byte `k` after that is `k as u8`. Sequence numbers count every frame
//! the generator produces, from 0; frame `n` belongs to flow `n % flows`. [`read_marker`] finds
//! the marker in any such frame, and [`Generator::expected_frame`] rebuilds frame `n` from scratch
//! so tests can compare exact bytes.
//!
//! # Flows
//!
//! Flow `i` differs from flow 0 only in its source: source port `src_port + (i % 65536)` and the
//! low 16 bits of the source address `low16(src) + (i / 65536)`, both wrapping within 16 bits.
//! Every flow index below 2^32 therefore has its own 5-tuple, and the first 65536 flows share one
//! source address (so RSS tests that hash on addresses only see one bucket until then).
//!
//! # Cost per frame
//!
//! Nothing is allocated per frame. With at most [`TEMPLATE_FLOWS_MAX`] flows (and at most
//! [`TEMPLATE_BYTES_MAX`] bytes of templates) each flow gets a template built once with
//! `pnet_packet`; a frame is then one copy of its template, the sequence number stored into it
//! and the L4 checksum updated for it. With more flows a single template is patched per frame
//! instead (port, address low bits, flow index), and both checksums are updated incrementally
//! (RFC 1624) rather than recomputed.

use super::{Wire, MAX_FRAME};
use pnet_packet::ethernet::{EtherType, EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet_packet::ip::{IpNextHeaderProtocol, IpNextHeaderProtocols};
use pnet_packet::ipv4::{self, Ipv4Flags, Ipv4Packet, MutableIpv4Packet};
use pnet_packet::ipv6::{Ipv6Packet, MutableIpv6Packet};
use pnet_packet::tcp::{self, MutableTcpPacket, TcpFlags, TcpPacket};
use pnet_packet::udp::{self, MutableUdpPacket, UdpPacket};
use pnet_packet::MutablePacket;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The smallest Ethernet frame without FCS (64 bytes on the wire with it).
pub const MIN_FRAME: usize = 60;
/// Offset of the sequence number (u64 big-endian) from the start of the L4 payload.
pub const SEQ_OFFSET: usize = 0;
/// Offset of the flow index (u32 big-endian) from the start of the L4 payload.
pub const FLOW_OFFSET: usize = 8;
/// Bytes of L4 payload every frame needs for its marker.
pub const MARKER_LEN: usize = 12;
/// Up to this many flows get one prebuilt template each...
pub const TEMPLATE_FLOWS_MAX: u32 = 4096;
/// ...as long as the templates take no more than this many bytes; past either limit a single
/// template is patched per frame, which also keeps the copy source hot in the cache.
pub const TEMPLATE_BYTES_MAX: usize = 1 << 20;

const ETH_HDR: usize = 14;
const IPV4_HDR: usize = 20;
const IPV6_HDR: usize = 40;
const UDP_HDR: usize = 8;
const TCP_HDR: usize = 20;
const ETHERTYPE_VLAN: u16 = 0x8100;

/// The transport protocol of generated frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L4Protocol {
    /// UDP (IP protocol 17).
    Udp,
    /// TCP (IP protocol 6).
    Tcp,
}

/// The IP version of generated frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// IPv4, ethertype 0x0800.
    V4,
    /// IPv6, ethertype 0x86dd.
    V6,
}

/// What to generate. Start from [`Default`] (60-byte UDP/IPv4, one flow, unlimited, unpaced) and
/// set fields, or chain the `with_*` methods.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Frame length without FCS, from [`GeneratorConfig::min_frame_size`] (at least
    /// [`MIN_FRAME`]) to [`MAX_FRAME`].
    pub frame_size: usize,
    /// Distinct 5-tuples, used round-robin (at least 1).
    pub flows: u32,
    /// Stop after this many frames.
    pub count: Option<u64>,
    /// Pace the receive side to this many frames per second; `None` hands a frame every time
    /// the device asks.
    pub rate_pps: Option<f64>,
    /// UDP or TCP.
    pub protocol: L4Protocol,
    /// IPv4 or IPv6; picks which pair of base addresses is used.
    pub ip_version: IpVersion,
    /// Ethernet source of every frame.
    pub src_mac: [u8; 6],
    /// Also the MAC the port is asked to take ([`Wire::mac`]), so its unicast filter accepts
    /// the traffic.
    pub dst_mac: [u8; 6],
    /// Base source address for IPv4 flows (flows vary its low 16 bits past 65536 flows).
    pub src_ipv4: Ipv4Addr,
    /// Destination address of every IPv4 flow.
    pub dst_ipv4: Ipv4Addr,
    /// Base source address for IPv6 flows (flows vary its low 16 bits past 65536 flows).
    pub src_ipv6: Ipv6Addr,
    /// Destination address of every IPv6 flow.
    pub dst_ipv6: Ipv6Addr,
    /// Base source port (flow `i` uses `src_port + i % 65536`, wrapping).
    pub src_port: u16,
    /// Destination port of every flow.
    pub dst_port: u16,
    /// Returned by [`Wire::backpressure`]: a frame the device cannot place is offered again.
    pub lossless: bool,
    /// Make the sink parse every transmitted frame and count the malformed ones.
    pub verify_sink: bool,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            frame_size: MIN_FRAME,
            flows: 1,
            count: None,
            rate_pps: None,
            protocol: L4Protocol::Udp,
            ip_version: IpVersion::V4,
            // Locally administered unicast addresses.
            src_mac: [0x02, 0, 0, 0, 0, 0x01],
            dst_mac: [0x02, 0, 0, 0, 0, 0x02],
            // The benchmarking ranges: 198.18.0.0/15 (RFC 2544) and 2001:2::/48 (RFC 5180).
            src_ipv4: Ipv4Addr::new(198, 18, 0, 1),
            dst_ipv4: Ipv4Addr::new(198, 19, 0, 1),
            src_ipv6: Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1),
            dst_ipv6: Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 1),
            src_port: 1024,
            // The discard port.
            dst_port: 9,
            lossless: false,
            verify_sink: false,
        }
    }
}

/// One flow's addresses and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FiveTuple {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// UDP or TCP.
    pub protocol: L4Protocol,
}

impl GeneratorConfig {
    /// Sets [`GeneratorConfig::frame_size`].
    pub fn with_frame_size(mut self, frame_size: usize) -> Self {
        self.frame_size = frame_size;
        self
    }
    /// Sets [`GeneratorConfig::flows`].
    pub fn with_flows(mut self, flows: u32) -> Self {
        self.flows = flows;
        self
    }
    /// Stops after `count` frames.
    pub fn with_count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }
    /// Paces generation to `rate_pps` frames a second.
    pub fn with_rate_pps(mut self, rate_pps: f64) -> Self {
        self.rate_pps = Some(rate_pps);
        self
    }
    /// Sets the transport and IP version (the frame size is left alone: check
    /// [`GeneratorConfig::min_frame_size`]).
    pub fn with_protocol(mut self, protocol: L4Protocol, ip_version: IpVersion) -> Self {
        self.protocol = protocol;
        self.ip_version = ip_version;
        self
    }
    /// Sets [`GeneratorConfig::lossless`].
    pub fn with_lossless(mut self, lossless: bool) -> Self {
        self.lossless = lossless;
        self
    }
    /// Sets [`GeneratorConfig::verify_sink`].
    pub fn with_verify_sink(mut self, verify_sink: bool) -> Self {
        self.verify_sink = verify_sink;
        self
    }

    fn ip_header_len(&self) -> usize {
        match self.ip_version {
            IpVersion::V4 => IPV4_HDR,
            IpVersion::V6 => IPV6_HDR,
        }
    }

    fn l4_header_len(&self) -> usize {
        match self.protocol {
            L4Protocol::Udp => UDP_HDR,
            L4Protocol::Tcp => TCP_HDR,
        }
    }

    /// Offset of the L4 payload (and so of the marker) in every frame.
    pub fn payload_offset(&self) -> usize {
        ETH_HDR + self.ip_header_len() + self.l4_header_len()
    }

    /// The smallest frame that holds the headers and the marker: 60 for UDP/IPv4, 66 for
    /// TCP/IPv4, 74 for UDP/IPv6, 86 for TCP/IPv6.
    pub fn min_frame_size(&self) -> usize {
        (self.payload_offset() + MARKER_LEN).max(MIN_FRAME)
    }

    /// The 5-tuple of flow `flow` (see the module documentation for the scheme).
    pub fn flow_tuple(&self, flow: u32) -> FiveTuple {
        let src_port = self.src_port.wrapping_add(flow as u16);
        let addr_step = (flow >> 16) as u16;
        let (src, dst) = match self.ip_version {
            IpVersion::V4 => {
                let mut o = self.src_ipv4.octets();
                let low = u16::from_be_bytes([o[2], o[3]]).wrapping_add(addr_step);
                o[2..4].copy_from_slice(&low.to_be_bytes());
                (IpAddr::V4(o.into()), IpAddr::V4(self.dst_ipv4))
            }
            IpVersion::V6 => {
                let mut o = self.src_ipv6.octets();
                let low = u16::from_be_bytes([o[14], o[15]]).wrapping_add(addr_step);
                o[14..16].copy_from_slice(&low.to_be_bytes());
                (IpAddr::V6(o.into()), IpAddr::V6(self.dst_ipv6))
            }
        };
        FiveTuple {
            src,
            dst,
            src_port,
            dst_port: self.dst_port,
            protocol: self.protocol,
        }
    }

    fn validate(&self) -> Result<(), GeneratorError> {
        let min = self.min_frame_size();
        if self.frame_size < min || self.frame_size > MAX_FRAME {
            return Err(GeneratorError::FrameSize {
                size: self.frame_size,
                min,
                max: MAX_FRAME,
            });
        }
        if self.flows == 0 {
            return Err(GeneratorError::NoFlows);
        }
        if let Some(rate) = self.rate_pps {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(GeneratorError::Rate(rate));
            }
        }
        Ok(())
    }

    /// "udp4", "tcp6", ...
    fn kind(&self) -> String {
        let proto = match self.protocol {
            L4Protocol::Udp => "udp",
            L4Protocol::Tcp => "tcp",
        };
        let ver = match self.ip_version {
            IpVersion::V4 => '4',
            IpVersion::V6 => '6',
        };
        format!("{proto}{ver}")
    }
}

/// Why a [`GeneratorConfig`] was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeneratorError {
    /// `frame_size` cannot hold the headers and marker, or exceeds [`MAX_FRAME`].
    #[error("frame size {size} outside {min}..={max} for these headers")]
    FrameSize {
        /// The size asked for.
        size: usize,
        /// The smallest size for this protocol and IP version.
        min: usize,
        /// [`MAX_FRAME`].
        max: usize,
    },
    /// `flows` was zero.
    #[error("a generator needs at least one flow")]
    NoFlows,
    /// `rate_pps` was zero, negative, infinite or NaN.
    #[error("rate {0} pps is not a positive finite number")]
    Rate(f64),
}

/// The marker at the start of a generated frame's L4 payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    /// The frame's sequence number.
    pub seq: u64,
    /// The frame's flow index.
    pub flow: u32,
}

#[derive(Debug, Default)]
struct Counters {
    generated: AtomicU64,
    generated_bytes: AtomicU64,
    sunk: AtomicU64,
    sunk_bytes: AtomicU64,
    sink_malformed: AtomicU64,
}

/// The generator's counters, shared with whoever holds a clone; readable while the device thread
/// runs the generator.
#[derive(Debug, Clone, Default)]
pub struct GeneratorStats(Arc<Counters>);

impl GeneratorStats {
    /// Frames handed to the device's receive side.
    pub fn generated(&self) -> u64 {
        self.0.generated.load(Ordering::Relaxed)
    }
    /// Bytes of the generated frames (no FCS).
    pub fn generated_bytes(&self) -> u64 {
        self.0.generated_bytes.load(Ordering::Relaxed)
    }
    /// Frames the device transmitted into the sink.
    pub fn sunk(&self) -> u64 {
        self.0.sunk.load(Ordering::Relaxed)
    }
    /// Bytes of the sunk frames (no FCS).
    pub fn sunk_bytes(&self) -> u64 {
        self.0.sunk_bytes.load(Ordering::Relaxed)
    }
    /// Sunk frames that failed [`is_well_formed`] (counted only with `verify_sink`).
    pub fn sink_malformed(&self) -> u64 {
        self.0.sink_malformed.load(Ordering::Relaxed)
    }
}

/// Adds to a counter only the owning [`Generator`] writes. With a single writer a plain load and
/// store is exact and avoids a locked read-modify-write on every frame; readers see the value
/// some time later, as with any relaxed counter.
fn bump(counter: &AtomicU64, by: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

/// Paces the receive side: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64) -> Self {
        // Ten milliseconds of traffic: enough to make up for a device thread that was
        // descheduled for a time slice or two, small enough that the rate holds over any
        // interval a benchmark measures.
        let burst = (rate * 10e-3).max(1.0);
        Self {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        // The clock is read only when the bucket looks empty, so a frame that has a token
        // waiting costs no clock read.
        if self.tokens < 1.0 {
            let now = Instant::now();
            let elapsed = now.duration_since(self.last).as_secs_f64();
            self.last = now;
            self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
            if self.tokens < 1.0 {
                return false;
            }
        }
        self.tokens -= 1.0;
        true
    }
}

/// Where the per-frame stores go, all fixed by the configuration.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// IPv4 header checksum (unused for IPv6).
    ip_csum: usize,
    /// The low 16 bits of the source address.
    src_low: usize,
    /// Start of the L4 header (the source port).
    l4: usize,
    l4_csum: usize,
    /// Start of the L4 payload (the marker).
    payload: usize,
}

impl Layout {
    fn new(config: &GeneratorConfig) -> Self {
        let l4 = ETH_HDR + config.ip_header_len();
        let (ip_csum, src_low) = match config.ip_version {
            IpVersion::V4 => (ETH_HDR + 10, ETH_HDR + 14),
            IpVersion::V6 => (0, ETH_HDR + 22),
        };
        let l4_csum = match config.protocol {
            L4Protocol::Udp => l4 + 6,
            L4Protocol::Tcp => l4 + 16,
        };
        Self {
            ip_csum,
            src_low,
            l4,
            l4_csum,
            payload: config.payload_offset(),
        }
    }
}

/// A prebuilt frame plus the one's complement sums its checksums were computed from, so a frame
/// derived from it can have its checksums updated without reading the payload.
struct Template {
    frame: Box<[u8]>,
    /// Folded sum of everything the IPv4 header checksum covers (checksum field as zero).
    ip_sum: u16,
    /// Folded sum of everything the L4 checksum covers, pseudo-header included (checksum field
    /// as zero).
    l4_sum: u16,
}

/// Adds the carries back in (RFC 1071) until the sum fits 16 bits.
fn fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn put_u16(frame: &mut [u8], at: usize, value: u16) {
    frame[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

/// Builds frame `seq` of flow `flow` from nothing, computing every checksum in full. Returns the
/// frame and the sums behind its checksums; `None` only for a size `validate` refuses.
fn build_frame(config: &GeneratorConfig, flow: u32, seq: u64) -> Option<Template> {
    let size = config.frame_size;
    if size < config.min_frame_size() || size > MAX_FRAME {
        return None;
    }
    let tuple = config.flow_tuple(flow);
    let next_header = match config.protocol {
        L4Protocol::Udp => IpNextHeaderProtocols::Udp,
        L4Protocol::Tcp => IpNextHeaderProtocols::Tcp,
    };
    let l4_len = size - ETH_HDR - config.ip_header_len();
    let l4_len16 = u16::try_from(l4_len).ok()?;
    let mut frame = vec![0u8; size].into_boxed_slice();

    // pnet's MAC type lives in pnet_base, which this crate does not depend on: the addresses
    // are plain bytes at the front of the frame.
    frame[..6].copy_from_slice(&config.dst_mac);
    frame[6..12].copy_from_slice(&config.src_mac);
    let mut eth = MutableEthernetPacket::new(&mut frame)?;
    eth.set_ethertype(match config.ip_version {
        IpVersion::V4 => EtherTypes::Ipv4,
        IpVersion::V6 => EtherTypes::Ipv6,
    });
    let l3 = eth.payload_mut();

    // The L4 segment first: its checksum needs only the addresses, not the IP header.
    let ip_hdr = config.ip_header_len();
    let segment = &mut l3[ip_hdr..];
    let payload_at = config.l4_header_len();
    let payload = &mut segment[payload_at..];
    for (k, byte) in payload.iter_mut().enumerate().skip(MARKER_LEN) {
        *byte = k as u8;
    }
    payload[SEQ_OFFSET..SEQ_OFFSET + 8].copy_from_slice(&seq.to_be_bytes());
    payload[FLOW_OFFSET..FLOW_OFFSET + 4].copy_from_slice(&flow.to_be_bytes());

    // pnet's checksum functions return the complement of the folded sum; the sum is never zero
    // here (the headers are not all zero), so complementing back recovers it exactly.
    let raw = match (config.protocol, tuple.src, tuple.dst) {
        (L4Protocol::Udp, src, dst) => {
            let mut udp = MutableUdpPacket::new(segment)?;
            udp.set_source(tuple.src_port);
            udp.set_destination(tuple.dst_port);
            udp.set_length(l4_len16);
            let raw = match (src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => udp::ipv4_checksum(&udp.to_immutable(), &s, &d),
                (IpAddr::V6(s), IpAddr::V6(d)) => udp::ipv6_checksum(&udp.to_immutable(), &s, &d),
                _ => return None,
            };
            // A computed zero goes out as all ones: zero means "no checksum" (RFC 768).
            udp.set_checksum(if raw == 0 { 0xffff } else { raw });
            raw
        }
        (L4Protocol::Tcp, src, dst) => {
            let mut tcp = MutableTcpPacket::new(segment)?;
            tcp.set_source(tuple.src_port);
            tcp.set_destination(tuple.dst_port);
            tcp.set_sequence(1);
            tcp.set_acknowledgement(1);
            tcp.set_data_offset((TCP_HDR / 4) as u8);
            tcp.set_flags(TcpFlags::PSH | TcpFlags::ACK);
            tcp.set_window(0xffff);
            let raw = match (src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => tcp::ipv4_checksum(&tcp.to_immutable(), &s, &d),
                (IpAddr::V6(s), IpAddr::V6(d)) => tcp::ipv6_checksum(&tcp.to_immutable(), &s, &d),
                _ => return None,
            };
            tcp.set_checksum(raw);
            raw
        }
    };
    let l4_sum = !raw;

    let ip_sum = match (tuple.src, tuple.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let mut ip = MutableIpv4Packet::new(&mut l3[..IPV4_HDR])?;
            ip.set_version(4);
            ip.set_header_length((IPV4_HDR / 4) as u8);
            ip.set_total_length(u16::try_from(size - ETH_HDR).ok()?);
            ip.set_flags(Ipv4Flags::DontFragment);
            ip.set_ttl(64);
            ip.set_next_level_protocol(next_header);
            ip.set_source(src);
            ip.set_destination(dst);
            let raw = ipv4::checksum(&ip.to_immutable());
            ip.set_checksum(raw);
            !raw
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let mut ip = MutableIpv6Packet::new(&mut l3[..IPV6_HDR])?;
            ip.set_version(6);
            ip.set_payload_length(l4_len16);
            ip.set_next_header(next_header);
            ip.set_hop_limit(64);
            ip.set_source(src);
            ip.set_destination(dst);
            0
        }
        _ => return None,
    };
    Some(Template {
        frame,
        ip_sum,
        l4_sum,
    })
}

/// A traffic source on the receive side and a counting sink on the transmit side.
pub struct Generator {
    config: GeneratorConfig,
    /// One per flow, or a single one (flow 0) patched per frame; see `patch`.
    templates: Vec<Template>,
    patch: bool,
    layout: Layout,
    /// Flow 0's source port and source-address low bits, which a patched frame replaces.
    base_port: u16,
    base_src_low: u16,
    next_seq: u64,
    /// `next_seq % flows`, kept as a counter to save a division per frame.
    next_flow: u32,
    bucket: Option<TokenBucket>,
    stats: GeneratorStats,
}

impl Generator {
    /// A generator for `config`, with its templates built.
    pub fn new(config: GeneratorConfig) -> Result<Self, GeneratorError> {
        config.validate()?;
        let size_error = || GeneratorError::FrameSize {
            size: config.frame_size,
            min: config.min_frame_size(),
            max: MAX_FRAME,
        };
        let patch = config.flows > TEMPLATE_FLOWS_MAX
            || (config.flows as usize).saturating_mul(config.frame_size) > TEMPLATE_BYTES_MAX;
        let template_flows = if patch { 1 } else { config.flows };
        let templates = (0..template_flows)
            .map(|flow| build_frame(&config, flow, 0).ok_or_else(size_error))
            .collect::<Result<Vec<_>, _>>()?;
        let layout = Layout::new(&config);
        let first = &templates[0].frame;
        let base_port = u16::from_be_bytes([first[layout.l4], first[layout.l4 + 1]]);
        let base_src_low = u16::from_be_bytes([first[layout.src_low], first[layout.src_low + 1]]);
        Ok(Self {
            bucket: config.rate_pps.map(TokenBucket::new),
            config,
            templates,
            patch,
            layout,
            base_port,
            base_src_low,
            next_seq: 0,
            next_flow: 0,
            stats: GeneratorStats::default(),
        })
    }

    /// The counters, shared: the clone stays live while the generator runs elsewhere.
    pub fn stats(&self) -> GeneratorStats {
        self.stats.clone()
    }

    /// The configuration the generator was built from.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The sequence number the next generated frame will carry (= frames generated so far).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Frame `seq` exactly as the receive side produces it, built from scratch with every
    /// checksum computed in full (the slow path, for tests).
    pub fn expected_frame(&self, seq: u64) -> Vec<u8> {
        let flow = (seq % u64::from(self.config.flows)) as u32;
        // Cannot be None: `new` refused any configuration `build_frame` cannot build.
        build_frame(&self.config, flow, seq)
            .map(|t| t.frame.into_vec())
            .unwrap_or_default()
    }

    /// Writes the next frame into `out` (exactly `frame_size` bytes).
    fn fill(&self, out: &mut [u8], seq: u64, flow: u32) {
        let l = self.layout;
        let template = if self.patch {
            &self.templates[0]
        } else {
            &self.templates[flow as usize]
        };
        out.copy_from_slice(&template.frame);

        // The template's marker is zero where the sequence number goes, so the sum only gains
        // the new words (RFC 1624 eqn. 3 with m = 0).
        out[l.payload + SEQ_OFFSET..l.payload + SEQ_OFFSET + 8].copy_from_slice(&seq.to_be_bytes());
        let mut l4_sum = u32::from(template.l4_sum)
            + (seq >> 48) as u32
            + ((seq >> 32) & 0xffff) as u32
            + ((seq >> 16) & 0xffff) as u32
            + (seq & 0xffff) as u32;

        if self.patch {
            // The template is flow 0: swap in this flow's port and address low bits (each
            // subtraction is adding the complement), and add the flow index the template has
            // as zero.
            let port = self.base_port.wrapping_add(flow as u16);
            let src_low = self.base_src_low.wrapping_add((flow >> 16) as u16);
            put_u16(out, l.l4, port);
            put_u16(out, l.src_low, src_low);
            out[l.payload + FLOW_OFFSET..l.payload + FLOW_OFFSET + 4]
                .copy_from_slice(&flow.to_be_bytes());
            let addr_delta = u32::from(!self.base_src_low) + u32::from(src_low);
            l4_sum += u32::from(!self.base_port)
                + u32::from(port)
                + addr_delta
                + (flow >> 16)
                + (flow & 0xffff);
            if self.config.ip_version == IpVersion::V4 {
                put_u16(
                    out,
                    l.ip_csum,
                    !fold(u32::from(template.ip_sum) + addr_delta),
                );
            }
        }

        let mut csum = !fold(l4_sum);
        if csum == 0 && self.config.protocol == L4Protocol::Udp {
            csum = 0xffff;
        }
        put_u16(out, l.l4_csum, csum);
    }
}

impl fmt::Debug for Generator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("config", &self.config)
            .field("patch", &self.patch)
            .field("next_seq", &self.next_seq)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Wire for Generator {
    /// The sink: counts the frame (and checks it with `verify_sink`); never drops.
    fn transmit(&mut self, frame: &[u8]) -> bool {
        let c = &self.stats.0;
        bump(&c.sunk, 1);
        bump(&c.sunk_bytes, frame.len() as u64);
        if self.config.verify_sink && !is_well_formed(frame) {
            bump(&c.sink_malformed, 1);
        }
        true
    }

    /// The source: the next frame, unless `count` is reached, the rate limiter has no token, or
    /// `buf` is shorter than a frame (the trait promises [`MAX_FRAME`], so that is a caller bug;
    /// nothing is consumed then).
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        if self
            .config
            .count
            .is_some_and(|count| self.next_seq >= count)
        {
            return None;
        }
        let size = self.config.frame_size;
        let out = buf.get_mut(..size)?;
        if let Some(bucket) = &mut self.bucket {
            if !bucket.take() {
                return None;
            }
        }
        self.fill(out, self.next_seq, self.next_flow);
        self.next_seq += 1;
        self.next_flow += 1;
        if self.next_flow == self.config.flows {
            self.next_flow = 0;
        }
        let c = &self.stats.0;
        bump(&c.generated, 1);
        bump(&c.generated_bytes, size as u64);
        Some(size)
    }

    /// The port takes the address the traffic is sent to.
    fn mac(&self) -> Option<[u8; 6]> {
        Some(self.config.dst_mac)
    }

    fn backpressure(&self) -> bool {
        self.config.lossless
    }

    fn describe(&self) -> String {
        let c = &self.config;
        let mut s = format!(
            "generator {} {}B x {} flow{}",
            c.kind(),
            c.frame_size,
            c.flows,
            if c.flows == 1 { "" } else { "s" }
        );
        if let Some(rate) = c.rate_pps {
            s += &format!(" at {rate} pps");
        }
        if let Some(count) = c.count {
            s += &format!(", {count} frames");
        }
        s
    }
}

/// Splits off an Ethernet header and at most one 802.1Q tag: (ethertype, L3 bytes).
fn ethernet_l3(frame: &[u8]) -> Option<(EtherType, &[u8])> {
    let eth = EthernetPacket::new(frame)?;
    let ethertype = eth.get_ethertype();
    let l3 = frame.get(ETH_HDR..)?;
    if ethertype.0 == ETHERTYPE_VLAN {
        let inner = u16::from_be_bytes([*l3.get(2)?, *l3.get(3)?]);
        return Some((EtherType(inner), l3.get(4..)?));
    }
    Some((ethertype, l3))
}

/// Whether `frame` is a well-formed Ethernet frame carrying IPv4 or IPv6 (optionally behind one
/// VLAN tag): IP version, header and lengths consistent with the frame, a correct IPv4 header
/// checksum, and, for TCP or UDP that is not an IP fragment and directly follows the fixed IP
/// header, a correct L4 checksum (a UDP/IPv4 checksum of zero means none). Non-IP frames are not
/// well formed: nothing a benchmark sends should be anything else. Never panics.
pub fn is_well_formed(frame: &[u8]) -> bool {
    let Some((ethertype, l3)) = ethernet_l3(frame) else {
        return false;
    };
    match ethertype {
        EtherTypes::Ipv4 => ipv4_well_formed(l3),
        EtherTypes::Ipv6 => ipv6_well_formed(l3),
        _ => false,
    }
}

fn ipv4_well_formed(l3: &[u8]) -> bool {
    let Some(ip) = Ipv4Packet::new(l3) else {
        return false;
    };
    let header_len = usize::from(ip.get_header_length()) * 4;
    let total = usize::from(ip.get_total_length());
    if ip.get_version() != 4 || header_len < IPV4_HDR || total < header_len || total > l3.len() {
        return false;
    }
    if ipv4::checksum(&ip) != ip.get_checksum() {
        return false;
    }
    let fragment = ip.get_flags() & Ipv4Flags::MoreFragments != 0 || ip.get_fragment_offset() != 0;
    if fragment {
        // Only the whole datagram has an L4 checksum to check.
        return true;
    }
    let (src, dst) = (ip.get_source(), ip.get_destination());
    let segment = &l3[header_len..total];
    l4_well_formed(
        ip.get_next_level_protocol(),
        segment,
        true,
        |udp| udp::ipv4_checksum(udp, &src, &dst),
        |tcp| tcp::ipv4_checksum(tcp, &src, &dst),
    )
}

fn ipv6_well_formed(l3: &[u8]) -> bool {
    let Some(ip) = Ipv6Packet::new(l3) else {
        return false;
    };
    let end = IPV6_HDR + usize::from(ip.get_payload_length());
    if ip.get_version() != 6 || end > l3.len() {
        return false;
    }
    let (src, dst) = (ip.get_source(), ip.get_destination());
    let segment = &l3[IPV6_HDR..end];
    l4_well_formed(
        ip.get_next_header(),
        segment,
        false,
        |udp| udp::ipv6_checksum(udp, &src, &dst),
        |tcp| tcp::ipv6_checksum(tcp, &src, &dst),
    )
}

fn l4_well_formed(
    protocol: IpNextHeaderProtocol,
    segment: &[u8],
    over_ipv4: bool,
    udp_checksum: impl Fn(&UdpPacket) -> u16,
    tcp_checksum: impl Fn(&TcpPacket) -> u16,
) -> bool {
    match protocol {
        IpNextHeaderProtocols::Udp => {
            let Some(udp) = UdpPacket::new(segment) else {
                return false;
            };
            let len = usize::from(udp.get_length());
            if len < UDP_HDR || len > segment.len() {
                return false;
            }
            let stored = udp.get_checksum();
            if stored == 0 {
                // No checksum: allowed over IPv4 only (RFC 8200 section 8.1).
                return over_ipv4;
            }
            let Some(udp) = UdpPacket::new(&segment[..len]) else {
                return false;
            };
            let computed = udp_checksum(&udp);
            stored == computed || (computed == 0 && stored == 0xffff)
        }
        IpNextHeaderProtocols::Tcp => {
            let Some(tcp) = TcpPacket::new(segment) else {
                return false;
            };
            let header_len = usize::from(tcp.get_data_offset()) * 4;
            header_len >= TCP_HDR
                && header_len <= segment.len()
                && tcp_checksum(&tcp) == tcp.get_checksum()
        }
        _ => true,
    }
}

/// The marker (sequence number and flow index) of a generated frame, found by parsing its
/// Ethernet (one VLAN tag allowed), IPv4/IPv6 and UDP/TCP headers; `None` if the frame is not
/// UDP or TCP over IP or its payload is shorter than [`MARKER_LEN`]. Checks no checksums.
pub fn read_marker(frame: &[u8]) -> Option<Marker> {
    let (ethertype, l3) = ethernet_l3(frame)?;
    let (protocol, segment) = match ethertype {
        EtherTypes::Ipv4 => {
            let header_len = usize::from(*l3.first()? & 0x0f) * 4;
            (*l3.get(9)?, l3.get(header_len.max(IPV4_HDR)..)?)
        }
        EtherTypes::Ipv6 => (*l3.get(6)?, l3.get(IPV6_HDR..)?),
        _ => return None,
    };
    let payload_at = match IpNextHeaderProtocol(protocol) {
        IpNextHeaderProtocols::Udp => UDP_HDR,
        IpNextHeaderProtocols::Tcp => (usize::from(*segment.get(12)? >> 4) * 4).max(TCP_HDR),
        _ => return None,
    };
    let marker = segment.get(payload_at..payload_at + MARKER_LEN)?;
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&marker[SEQ_OFFSET..SEQ_OFFSET + 8]);
    let mut flow = [0u8; 4];
    flow.copy_from_slice(&marker[FLOW_OFFSET..FLOW_OFFSET + 4]);
    Some(Marker {
        seq: u64::from_be_bytes(seq),
        flow: u32::from_be_bytes(flow),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet_packet::Packet;
    use std::collections::HashSet;
    use std::time::Duration;

    const KINDS: [(L4Protocol, IpVersion); 4] = [
        (L4Protocol::Udp, IpVersion::V4),
        (L4Protocol::Tcp, IpVersion::V4),
        (L4Protocol::Udp, IpVersion::V6),
        (L4Protocol::Tcp, IpVersion::V6),
    ];

    fn generator(config: GeneratorConfig) -> Generator {
        Generator::new(config).expect("valid config")
    }

    /// The default configuration for this kind, at the smallest frame that kind allows.
    fn smallest(proto: L4Protocol, ver: IpVersion) -> GeneratorConfig {
        let config = GeneratorConfig::default().with_protocol(proto, ver);
        let min = config.min_frame_size();
        config.with_frame_size(min)
    }

    fn next(g: &mut Generator) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; MAX_FRAME];
        let n = g.receive(&mut buf)?;
        buf.truncate(n);
        Some(buf)
    }

    /// An RFC 1071 checksum written independently of pnet and of the code under test: the
    /// complement of the folded 16-bit big-endian sum of `parts` laid end to end.
    fn rfc1071(parts: &[&[u8]]) -> u16 {
        let bytes: Vec<u8> = parts.concat();
        let mut sum: u64 = 0;
        for chunk in bytes.chunks(2) {
            let hi = u64::from(chunk[0]) << 8;
            sum += hi | chunk.get(1).map_or(0, |&b| u64::from(b));
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// Checks lengths and checksums of a generated frame by hand (offsets from the standards,
    /// not from the code under test). Returns the L4 checksum field.
    fn check_frame_by_hand(f: &[u8], proto: L4Protocol, ver: IpVersion) -> u16 {
        let l4_at = match ver {
            IpVersion::V4 => {
                assert_eq!(&f[12..14], &[0x08, 0x00]);
                assert_eq!(f[14], 0x45);
                assert_eq!(
                    usize::from(u16::from_be_bytes([f[16], f[17]])),
                    f.len() - 14,
                    "IPv4 total length"
                );
                assert_eq!(rfc1071(&[&f[14..34]]), 0, "IPv4 header checksum");
                34
            }
            IpVersion::V6 => {
                assert_eq!(&f[12..14], &[0x86, 0xdd]);
                assert_eq!(f[14] >> 4, 6);
                assert_eq!(
                    usize::from(u16::from_be_bytes([f[18], f[19]])),
                    f.len() - 54,
                    "IPv6 payload length"
                );
                54
            }
        };
        let (next_header, csum_at) = match proto {
            L4Protocol::Udp => (17u8, l4_at + 6),
            L4Protocol::Tcp => (6u8, l4_at + 16),
        };
        let segment = &f[l4_at..];
        let seg_len = segment.len() as u32;
        let pseudo: Vec<u8> = match ver {
            IpVersion::V4 => {
                assert_eq!(f[23], next_header);
                [
                    &f[26..34],
                    &[0, next_header],
                    &(seg_len as u16).to_be_bytes()[..],
                ]
                .concat()
            }
            IpVersion::V6 => {
                assert_eq!(f[20], next_header);
                [
                    &f[22..54],
                    &seg_len.to_be_bytes()[..],
                    &[0, 0, 0, next_header],
                ]
                .concat()
            }
        };
        if proto == L4Protocol::Udp {
            assert_eq!(
                usize::from(u16::from_be_bytes([segment[4], segment[5]])),
                segment.len(),
                "UDP length"
            );
        }
        let field = u16::from_be_bytes([f[csum_at], f[csum_at + 1]]);
        // A correct checksum makes the whole covered sum fold to all ones (complement zero);
        // for UDP, 0xffff stands for a computed zero, and a stored zero would mean "none".
        assert_eq!(rfc1071(&[&pseudo, segment]), 0, "L4 checksum");
        if proto == L4Protocol::Udp {
            assert_ne!(field, 0);
        }
        field
    }

    fn check_frame_with_pnet(f: &[u8], proto: L4Protocol) {
        let eth = EthernetPacket::new(f).unwrap();
        let l3 = eth.payload();
        let (segment, v4, v6) = match eth.get_ethertype() {
            EtherTypes::Ipv4 => {
                let ip = Ipv4Packet::new(l3).unwrap();
                assert_eq!(ipv4::checksum(&ip), ip.get_checksum());
                (
                    &l3[20..],
                    Some((ip.get_source(), ip.get_destination())),
                    None,
                )
            }
            EtherTypes::Ipv6 => {
                let ip = Ipv6Packet::new(l3).unwrap();
                (
                    &l3[40..],
                    None,
                    Some((ip.get_source(), ip.get_destination())),
                )
            }
            other => panic!("ethertype {other}"),
        };
        match proto {
            L4Protocol::Udp => {
                let udp = UdpPacket::new(segment).unwrap();
                let computed = match (v4, v6) {
                    (Some((s, d)), _) => udp::ipv4_checksum(&udp, &s, &d),
                    (_, Some((s, d))) => udp::ipv6_checksum(&udp, &s, &d),
                    _ => unreachable!(),
                };
                let expect = if computed == 0 { 0xffff } else { computed };
                assert_eq!(udp.get_checksum(), expect);
            }
            L4Protocol::Tcp => {
                let tcp = TcpPacket::new(segment).unwrap();
                let computed = match (v4, v6) {
                    (Some((s, d)), _) => tcp::ipv4_checksum(&tcp, &s, &d),
                    (_, Some((s, d))) => tcp::ipv6_checksum(&tcp, &s, &d),
                    _ => unreachable!(),
                };
                assert_eq!(tcp.get_checksum(), computed);
                assert_eq!(tcp.get_flags(), TcpFlags::PSH | TcpFlags::ACK);
            }
        }
        assert!(is_well_formed(f));
    }

    #[test]
    fn first_udp4_frame_matches_hand_computed_bytes() {
        // Built and checksummed outside this crate (a 20-line Python script over the layout
        // the module documentation describes).
        let expected = "02000000000202000000000108004500002e000040004011ae97c6120001c6130001\
                        04000009001a455c0000000000000000000000000c0d0e0f1011";
        let mut g = generator(GeneratorConfig::default());
        let frame = next(&mut g).unwrap();
        let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
        assert_eq!(g.expected_frame(0), frame);
    }

    #[test]
    fn frames_are_exact_size_with_valid_checksums() {
        for (proto, ver) in KINDS {
            let base = GeneratorConfig::default().with_protocol(proto, ver);
            let min = base.min_frame_size();
            for size in [min, 60, 64, 65, 1500, 9000, MAX_FRAME] {
                if size < min {
                    assert!(Generator::new(base.clone().with_frame_size(size)).is_err());
                    continue;
                }
                let mut g = generator(base.clone().with_frame_size(size).with_flows(3));
                for seq in 0..7u64 {
                    let f = next(&mut g).unwrap();
                    assert_eq!(f.len(), size, "{proto:?} {ver:?} {size}");
                    check_frame_by_hand(&f, proto, ver);
                    check_frame_with_pnet(&f, proto);
                    assert_eq!(
                        f,
                        g.expected_frame(seq),
                        "{proto:?} {ver:?} {size} seq {seq}"
                    );
                    assert_eq!(
                        read_marker(&f),
                        Some(Marker {
                            seq,
                            flow: (seq % 3) as u32
                        })
                    );
                }
            }
        }
    }

    #[test]
    fn min_frame_sizes_per_kind() {
        let sizes: Vec<usize> = KINDS
            .iter()
            .map(|&(p, v)| {
                GeneratorConfig::default()
                    .with_protocol(p, v)
                    .min_frame_size()
            })
            .collect();
        assert_eq!(sizes, [60, 66, 74, 86]);
    }

    #[test]
    fn flows_cycle_round_robin_with_distinct_tuples() {
        for (proto, ver) in KINDS {
            let flows = 7;
            let config = GeneratorConfig::default()
                .with_protocol(proto, ver)
                .with_flows(flows)
                .with_frame_size(128);
            let mut g = generator(config.clone());
            let mut tuples = Vec::new();
            for n in 0..3 * flows {
                let f = next(&mut g).unwrap();
                let (src, dst, l4) = match ver {
                    IpVersion::V4 => (f[26..30].to_vec(), f[30..34].to_vec(), 34),
                    IpVersion::V6 => (f[22..38].to_vec(), f[38..54].to_vec(), 54),
                };
                let ports = (
                    u16::from_be_bytes([f[l4], f[l4 + 1]]),
                    u16::from_be_bytes([f[l4 + 2], f[l4 + 3]]),
                );
                let tuple = (src, dst, ports);
                let expected = config.flow_tuple(n % flows);
                assert_eq!(ports, (expected.src_port, expected.dst_port));
                assert_eq!(ports.0, 1024 + (n % flows) as u16);
                assert_eq!(read_marker(&f).unwrap().flow, n % flows);
                tuples.push(tuple);
            }
            let distinct: HashSet<_> = tuples.iter().cloned().collect();
            assert_eq!(distinct.len(), flows as usize);
            for n in 0..(2 * flows) as usize {
                assert_eq!(tuples[n], tuples[n + flows as usize]);
            }
        }
    }

    #[test]
    fn many_flows_patch_a_template_and_match_full_build() {
        // 70000 flows: past the template limit, and past 65536 so the source address changes.
        let flows = 70_000u32;
        let config = GeneratorConfig::default()
            .with_flows(flows)
            .with_frame_size(100);
        let mut g = generator(config.clone());
        assert!(g.patch);
        let mut tuples = HashSet::new();
        for n in 0..u64::from(flows) + 5 {
            let f = next(&mut g).unwrap();
            if n % 1013 == 0 || (65_530..65_542).contains(&n) || n >= u64::from(flows) - 3 {
                assert_eq!(f, g.expected_frame(n), "seq {n}");
                check_frame_by_hand(&f, L4Protocol::Udp, IpVersion::V4);
            }
            if n < u64::from(flows) {
                let src = u32::from_be_bytes([f[26], f[27], f[28], f[29]]);
                tuples.insert((src, u16::from_be_bytes([f[34], f[35]])));
            }
        }
        assert_eq!(tuples.len(), flows as usize);
        let last = config.flow_tuple(flows - 1);
        assert_eq!(last.src, IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)));
        assert_eq!(last.src_port, 1024u16.wrapping_add((flows - 1) as u16));

        // Jumbo frames over many flows would need too many template bytes: patched as well,
        // here over TCP/IPv6 (no IP header checksum to patch).
        let config = GeneratorConfig::default()
            .with_protocol(L4Protocol::Tcp, IpVersion::V6)
            .with_flows(300)
            .with_frame_size(9000);
        let mut g = generator(config);
        assert!(g.patch);
        for n in 0..600 {
            let f = next(&mut g).unwrap();
            check_frame_by_hand(&f, L4Protocol::Tcp, IpVersion::V6);
            if n % 37 == 0 {
                assert_eq!(f, g.expected_frame(n));
            }
        }
    }

    #[test]
    fn udp_checksum_never_zero_across_all_sums() {
        // Sequence numbers 0..65536 sweep the low checksum word through every value, so one
        // frame has a computed checksum of zero and must carry 0xffff instead.
        for ver in [IpVersion::V4, IpVersion::V6] {
            for flows in [1, 5000] {
                let config = smallest(L4Protocol::Udp, ver).with_flows(flows);
                let mut g = generator(config);
                let mut all_ones = 0;
                let csum_at = g.layout.l4_csum;
                for n in 0..70_000u64 {
                    let f = next(&mut g).unwrap();
                    let field = u16::from_be_bytes([f[csum_at], f[csum_at + 1]]);
                    assert_ne!(field, 0, "seq {n}");
                    if field == 0xffff {
                        all_ones += 1;
                        assert_eq!(f, g.expected_frame(n));
                        check_frame_by_hand(&f, L4Protocol::Udp, ver);
                        assert!(is_well_formed(&f));
                    }
                }
                assert!(all_ones > 0, "{ver:?} {flows}");
            }
        }
    }

    #[test]
    fn count_stops_generation() {
        let mut g = generator(GeneratorConfig::default().with_count(5));
        for _ in 0..5 {
            assert!(next(&mut g).is_some());
        }
        for _ in 0..3 {
            assert!(next(&mut g).is_none());
        }
        assert_eq!(g.stats().generated(), 5);
        assert_eq!(g.stats().generated_bytes(), 5 * 60);
        assert_eq!(g.next_seq(), 5);
    }

    #[test]
    fn rate_limit_gives_roughly_the_asked_rate() {
        // Timing on a shared two-core machine: a starved test thread can lose more than the
        // bucket saves up, so the measurement gets three tries. A limiter that does not limit
        // (or never refills) fails all three.
        let rate = 5_000.0;
        let mut attempts = Vec::new();
        for _ in 0..3 {
            let mut g = generator(GeneratorConfig::default().with_rate_pps(rate));
            let mut buf = vec![0u8; MAX_FRAME];
            let start = Instant::now();
            let (mut got, mut refused) = (0u64, 0u64);
            while start.elapsed() < Duration::from_millis(200) {
                match g.receive(&mut buf) {
                    Some(_) => got += 1,
                    None => refused += 1,
                }
            }
            let expected = rate * start.elapsed().as_secs_f64();
            assert!(refused > 0);
            assert_eq!(g.stats().generated(), got);
            if (got as f64) > expected * 0.5 && (got as f64) < expected * 1.5 {
                return;
            }
            attempts.push((got, expected));
        }
        panic!("(frames, expected) per attempt: {attempts:?}");
    }

    #[test]
    fn sink_counts_and_detects_malformed_frames() {
        let config = GeneratorConfig::default()
            .with_flows(2)
            .with_verify_sink(true);
        let mut source = generator(
            config
                .clone()
                .with_protocol(L4Protocol::Tcp, IpVersion::V6)
                .with_frame_size(128),
        );
        let mut sink = generator(config);
        let stats = sink.stats();

        let good = next(&mut source).unwrap();
        assert!(sink.transmit(&good));
        let udp4 = sink.expected_frame(1);
        assert!(sink.transmit(&udp4));
        assert_eq!((stats.sunk(), stats.sink_malformed()), (2, 0));

        let mut bad_ip_csum = udp4.clone();
        bad_ip_csum[24] ^= 0x01;
        let mut bad_payload = good.clone();
        let last = bad_payload.len() - 1;
        bad_payload[last] ^= 0x40;
        let truncated = &udp4[..40];
        let mut not_ip = udp4.clone();
        not_ip[12..14].copy_from_slice(&[0x08, 0x06]);
        let mut bad_total_length = udp4.clone();
        bad_total_length[16..18].copy_from_slice(&100u16.to_be_bytes());
        for frame in [
            &bad_ip_csum[..],
            &bad_payload[..],
            truncated,
            &not_ip[..],
            &bad_total_length[..],
            &[][..],
        ] {
            assert!(sink.transmit(frame));
        }
        assert_eq!(stats.sunk(), 8);
        assert_eq!(stats.sink_malformed(), 6);
        let bytes = 2 * good.len() + 4 * udp4.len() + 40;
        assert_eq!(stats.sunk_bytes(), bytes as u64);

        // A UDP/IPv4 checksum of zero means "none" and is fine; over IPv6 it is not.
        let mut no_csum = udp4.clone();
        no_csum[40..42].copy_from_slice(&[0, 0]);
        assert!(is_well_formed(&no_csum));
        let mut udp6 = generator(smallest(L4Protocol::Udp, IpVersion::V6));
        let mut f = next(&mut udp6).unwrap();
        f[60..62].copy_from_slice(&[0, 0]);
        assert!(!is_well_formed(&f));

        // One VLAN tag is looked through.
        let mut tagged = udp4[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        tagged.extend_from_slice(&udp4[12..]);
        assert!(is_well_formed(&tagged));
        assert_eq!(read_marker(&tagged), Some(Marker { seq: 1, flow: 1 }));

        // Without verify_sink nothing is parsed.
        let mut plain = generator(GeneratorConfig::default());
        assert!(plain.transmit(&not_ip));
        assert_eq!(
            (plain.stats().sunk(), plain.stats().sink_malformed()),
            (1, 0)
        );
    }

    #[test]
    fn sequence_numbers_increase() {
        for (proto, ver) in KINDS {
            let mut g = generator(smallest(proto, ver).with_flows(4));
            let seqs: Vec<u64> = (0..100)
                .map(|_| read_marker(&next(&mut g).unwrap()).unwrap().seq)
                .collect();
            assert_eq!(seqs, (0..100).collect::<Vec<u64>>());
        }
    }

    #[test]
    fn stats_are_readable_from_another_thread() {
        let mut g = generator(GeneratorConfig::default().with_count(1000));
        let stats = g.stats();
        let device = std::thread::spawn(move || {
            let mut buf = vec![0u8; MAX_FRAME];
            while g.receive(&mut buf).is_some() {}
            let frame = g.expected_frame(0);
            g.transmit(&frame);
        });
        device.join().unwrap();
        assert_eq!(
            (
                stats.generated(),
                stats.generated_bytes(),
                stats.sunk(),
                stats.sunk_bytes()
            ),
            (1000, 60_000, 1, 60)
        );
    }

    #[test]
    fn rejects_bad_configs() {
        let d = GeneratorConfig::default();
        assert_eq!(
            Generator::new(d.clone().with_frame_size(59)).unwrap_err(),
            GeneratorError::FrameSize {
                size: 59,
                min: 60,
                max: MAX_FRAME
            }
        );
        assert!(Generator::new(d.clone().with_frame_size(MAX_FRAME + 1)).is_err());
        assert!(Generator::new(
            d.clone()
                .with_protocol(L4Protocol::Tcp, IpVersion::V6)
                .with_frame_size(85)
        )
        .is_err());
        assert_eq!(
            Generator::new(d.clone().with_flows(0)).unwrap_err(),
            GeneratorError::NoFlows
        );
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                Generator::new(d.clone().with_rate_pps(rate)),
                Err(GeneratorError::Rate(_))
            ));
        }
    }

    #[test]
    fn short_buffer_gets_nothing_and_consumes_nothing() {
        let mut g = generator(GeneratorConfig::default().with_frame_size(100));
        let mut small = [0u8; 99];
        assert_eq!(g.receive(&mut small), None);
        assert_eq!(g.next_seq(), 0);
        let mut exact = [0u8; 100];
        assert_eq!(g.receive(&mut exact), Some(100));
        assert_eq!(&exact[..], &g.expected_frame(0)[..]);
    }

    #[test]
    fn describe_mac_and_backpressure() {
        let g = generator(
            GeneratorConfig::default()
                .with_frame_size(64)
                .with_flows(256),
        );
        assert_eq!(g.describe(), "generator udp4 64B x 256 flows");
        assert!(!g.backpressure());
        assert_eq!(g.mac(), Some([0x02, 0, 0, 0, 0, 0x02]));
        let g = generator(
            GeneratorConfig::default()
                .with_protocol(L4Protocol::Tcp, IpVersion::V6)
                .with_frame_size(1500)
                .with_rate_pps(1000.0)
                .with_count(10)
                .with_lossless(true),
        );
        assert_eq!(
            g.describe(),
            "generator tcp6 1500B x 1 flow at 1000 pps, 10 frames"
        );
        assert!(g.backpressure());
    }
}
