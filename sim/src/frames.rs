//! Test frames: well-formed Ethernet/IPv4/IPv6 TCP/UDP frames built with pnet, and a checksum
//! validator — shared by the model's tests, the driver's tests and the examples' tests.

use pnet_packet::ethernet::{EtherTypes, MutableEthernetPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{self, MutableIpv4Packet};
use pnet_packet::ipv6::MutableIpv6Packet;
use pnet_packet::tcp::{self, MutableTcpPacket};
use pnet_packet::udp::{self, MutableUdpPacket};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Source MAC of test frames.
pub const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xaa];
/// Destination MAC of test frames.
pub const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xbb];

fn eth(buf: &mut [u8], ethertype: pnet_packet::ethernet::EtherType) {
    let mut e = MutableEthernetPacket::new(buf).unwrap();
    e.set_destination(DST_MAC.into());
    e.set_source(SRC_MAC.into());
    e.set_ethertype(ethertype);
}

/// An IPv4 UDP or TCP frame with valid checksums and a patterned payload.
pub fn ipv4(
    tcp: bool,
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    payload_len: usize,
) -> Vec<u8> {
    let l4 = if tcp { 20 } else { 8 };
    let mut f = vec![0u8; 14 + 20 + l4 + payload_len];
    eth(&mut f, EtherTypes::Ipv4);
    let total = (20 + l4 + payload_len) as u16;
    {
        let mut ip = MutableIpv4Packet::new(&mut f[14..]).unwrap();
        ip.set_version(4);
        ip.set_header_length(5);
        ip.set_total_length(total);
        ip.set_ttl(64);
        ip.set_identification(0x1234);
        ip.set_flags(2);
        ip.set_next_level_protocol(if tcp {
            IpNextHeaderProtocols::Tcp
        } else {
            IpNextHeaderProtocols::Udp
        });
        ip.set_source(Ipv4Addr::from(src));
        ip.set_destination(Ipv4Addr::from(dst));
        let c = ipv4::checksum(&ip.to_immutable());
        ip.set_checksum(c);
    }
    for (i, b) in f[14 + 20 + l4..].iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    let (s, d) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
    if tcp {
        let mut t = MutableTcpPacket::new(&mut f[34..]).unwrap();
        t.set_source(sport);
        t.set_destination(dport);
        t.set_sequence(1000);
        t.set_data_offset(5);
        t.set_flags(0x18);
        t.set_window(65535);
        let c = tcp::ipv4_checksum(&t.to_immutable(), &s, &d);
        t.set_checksum(c);
    } else {
        let mut u = MutableUdpPacket::new(&mut f[34..]).unwrap();
        u.set_source(sport);
        u.set_destination(dport);
        u.set_length((8 + payload_len) as u16);
        let c = udp::ipv4_checksum(&u.to_immutable(), &s, &d);
        u.set_checksum(c);
    }
    f
}

/// An IPv6 UDP or TCP frame with valid checksums.
pub fn ipv6(
    tcp: bool,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    sport: u16,
    dport: u16,
    payload_len: usize,
) -> Vec<u8> {
    let l4 = if tcp { 20 } else { 8 };
    let mut f = vec![0u8; 14 + 40 + l4 + payload_len];
    eth(&mut f, EtherTypes::Ipv6);
    {
        let mut ip = MutableIpv6Packet::new(&mut f[14..]).unwrap();
        ip.set_version(6);
        ip.set_payload_length((l4 + payload_len) as u16);
        ip.set_next_header(if tcp {
            IpNextHeaderProtocols::Tcp
        } else {
            IpNextHeaderProtocols::Udp
        });
        ip.set_hop_limit(64);
        ip.set_source(src);
        ip.set_destination(dst);
    }
    for (i, b) in f[54 + l4..].iter_mut().enumerate() {
        *b = (i * 5 + 1) as u8;
    }
    if tcp {
        let mut t = MutableTcpPacket::new(&mut f[54..]).unwrap();
        t.set_source(sport);
        t.set_destination(dport);
        t.set_data_offset(5);
        t.set_flags(0x10);
        let c = tcp::ipv6_checksum(&t.to_immutable(), &src, &dst);
        t.set_checksum(c);
    } else {
        let mut u = MutableUdpPacket::new(&mut f[54..]).unwrap();
        u.set_source(sport);
        u.set_destination(dport);
        u.set_length((8 + payload_len) as u16);
        let c = udp::ipv6_checksum(&u.to_immutable(), &src, &dst);
        u.set_checksum(c);
    }
    f
}

/// A non-IP frame (ARP ethertype) of `len` bytes.
pub fn non_ip(len: usize) -> Vec<u8> {
    let mut f = vec![0x5au8; len.max(60)];
    eth(&mut f, EtherTypes::Arp);
    f
}

/// Whether every checksum in an IPv4/IPv6 TCP/UDP frame is valid (pnet's computation).
pub fn checksums_valid(f: &[u8]) -> bool {
    use pnet_packet::ethernet::EthernetPacket;
    use pnet_packet::ipv4::Ipv4Packet;
    use pnet_packet::ipv6::Ipv6Packet;
    use pnet_packet::tcp::TcpPacket;
    use pnet_packet::udp::UdpPacket;
    use pnet_packet::Packet;
    let e = EthernetPacket::new(f).unwrap();
    match e.get_ethertype() {
        EtherTypes::Ipv4 => {
            let ip = Ipv4Packet::new(e.payload()).unwrap();
            if ipv4::checksum(&ip) != ip.get_checksum() {
                return false;
            }
            let (s, d) = (ip.get_source(), ip.get_destination());
            let end = ip.get_total_length() as usize;
            let l4 = &e.payload()[ip.get_header_length() as usize * 4..end];
            match ip.get_next_level_protocol() {
                IpNextHeaderProtocols::Tcp => {
                    let t = TcpPacket::new(l4).unwrap();
                    tcp::ipv4_checksum(&t, &s, &d) == t.get_checksum()
                }
                IpNextHeaderProtocols::Udp => {
                    let u = UdpPacket::new(l4).unwrap();
                    udp::ipv4_checksum(&u, &s, &d) == u.get_checksum()
                }
                _ => true,
            }
        }
        EtherTypes::Ipv6 => {
            let ip = Ipv6Packet::new(e.payload()).unwrap();
            let (s, d) = (ip.get_source(), ip.get_destination());
            match ip.get_next_header() {
                IpNextHeaderProtocols::Tcp => {
                    let t = TcpPacket::new(ip.payload()).unwrap();
                    tcp::ipv6_checksum(&t, &s, &d) == t.get_checksum()
                }
                IpNextHeaderProtocols::Udp => {
                    let u = UdpPacket::new(ip.payload()).unwrap();
                    udp::ipv6_checksum(&u, &s, &d) == u.get_checksum()
                }
                _ => true,
            }
        }
        _ => true,
    }
}
