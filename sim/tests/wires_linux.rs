//! The wires that reach outside the process — `tap`, `afpacket`, `pcap` — against the real
//! Linux stack and real capture files.
//!
//! Each network test makes its own namespaces, veth pairs and TAP interfaces with `ip`, keeps
//! every frame inside them (addresses from 192.0.2.0/24, TEST-NET-1), and removes them when it
//! ends, also when it fails ([`Scratch`] deletes them on drop). Where namespaces cannot be made
//! (not root, no `ip`), a test prints `SKIPPED: <reason>` and passes. Tests act as the device
//! themselves, through the [`Wire`] trait; a few put the wire under the device model.
//!
//! Run with `--test-threads=1` when watching the output; the tests do not share names, so they
//! may also run in parallel.

mod common;

use common::{manual, RxRing, TxOffload, TxRing};
use ena_sim::clock::ManualClock;
use ena_sim::config::DeviceConfig;
use ena_sim::frames::checksums_valid;
use ena_sim::transport::inproc::{ClockChoice, SimDevice};
use ena_sim::wire::spec::{build, WireHandle, WireRequest};
use ena_sim::wire::{NetifStats, PcapHandle, Wire, MAX_FRAME};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};
use pnet_packet::arp::{ArpOperation, ArpOperations, ArpPacket, MutableArpPacket};
use pnet_packet::ethernet::{EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet_packet::icmp::{self, IcmpPacket, IcmpTypes, MutableIcmpPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{self, Ipv4Packet, MutableIpv4Packet};
use pnet_packet::udp::UdpPacket;
use pnet_packet::Packet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

// ---------------------------------------------------------------------------------------------
// Scratch namespaces and files
// ---------------------------------------------------------------------------------------------

/// Runs `ip` with `args`; the error carries its stderr.
fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Like [`ip`], for setup steps that must work once namespaces do.
fn ip_ok(args: &[&str]) -> String {
    ip(args).unwrap_or_else(|e| panic!("{e}"))
}

/// What a test made: network namespaces and files, removed on drop (also on panic).
struct Scratch {
    test: String,
    namespaces: Vec<String>,
    files: Vec<PathBuf>,
}

impl Scratch {
    fn new(test: &str) -> Self {
        Self {
            test: test.into(),
            namespaces: Vec::new(),
            files: Vec::new(),
        }
    }

    /// A test whose namespaces `suffixes` exist, or the reason they cannot be made.
    fn with_netns(test: &str, suffixes: &[&str]) -> Result<(Self, Vec<String>), String> {
        let mut s = Self::new(test);
        let mut names = Vec::new();
        for suffix in suffixes {
            let name = format!("ena-sim-{}-{test}-{suffix}", std::process::id());
            ip(&["netns", "add", &name])
                .map_err(|e| format!("cannot create network namespaces ({e})"))?;
            s.namespaces.push(name.clone());
            // Quiet namespaces: no IPv6 router solicitations, DAD or MLD among the frames a
            // test reads. Best effort: a kernel without IPv6 is quiet anyway.
            let _ = ip(&[
                "netns",
                "exec",
                &name,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ]);
            names.push(name);
        }
        Ok((s, names))
    }

    /// A file path for this test, removed on drop.
    fn file(&mut self, name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "ena-sim-{}-{}-{name}",
            std::process::id(),
            self.test
        ));
        let _ = std::fs::remove_file(&p);
        self.files.push(p.clone());
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Deleting a namespace deletes the interfaces in it, veth peers included.
        for ns in self.namespaces.iter().rev() {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("cleanup: {e}");
            }
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Unwraps a setup step or prints why the test is skipped and returns.
macro_rules! or_skip {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(why) => {
                println!("SKIPPED: {why}");
                return;
            }
        }
    };
}

/// The MAC of interface `dev` in namespace `ns`.
fn link_mac(ns: &str, dev: &str) -> [u8; 6] {
    let out = ip_ok(&["-n", ns, "-br", "link", "show", "dev", dev]);
    let word = out
        .split_whitespace()
        .nth(2)
        .expect("ip -br link: MAC column");
    let mut mac = [0u8; 6];
    let mut parts = word.split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next().expect("6 octets"), 16).expect("hex octet");
    }
    mac
}

fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Builds one wire from `spec` for a port with MAC `mac`.
fn one_wire(spec: &str, mac: [u8; 6]) -> (Box<dyn Wire>, WireHandle) {
    let mut built = build(&[WireRequest {
        name: "p0".into(),
        spec: spec.into(),
        mac,
    }])
    .unwrap_or_else(|e| panic!("{spec}: {e}"));
    built.pop().expect("one wire")
}

fn netif_stats(h: &WireHandle) -> NetifStats {
    match h {
        WireHandle::Tap(_, s) | WireHandle::AfPacket(_, s) => s.clone(),
        other => panic!("not a tap/afpacket handle: {other:?}"),
    }
}

fn pcap_handle(h: &WireHandle) -> PcapHandle {
    match h {
        WireHandle::Pcap(p) => p.clone(),
        other => panic!("not a pcap handle: {other:?}"),
    }
}

/// Polls `cond` for up to `within`.
fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Receives frames from `wire` until one satisfies `want` or `within` passes; every frame
/// received is appended to `seen`.
fn receive_until(
    wire: &mut dyn Wire,
    within: Duration,
    seen: &mut Vec<Vec<u8>>,
    mut want: impl FnMut(&[u8]) -> bool,
) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; MAX_FRAME];
    let end = Instant::now() + within;
    while Instant::now() < end {
        match wire.receive(&mut buf) {
            Some(n) => {
                let f = buf[..n].to_vec();
                seen.push(f.clone());
                if want(&f) {
                    return Some(f);
                }
            }
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

const PORT_MAC: [u8; 6] = [0x02, 0xe5, 0xa5, 0x00, 0x00, 0x02];
const KERNEL_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PORT_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const BROADCAST: [u8; 6] = [0xff; 6];

fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + payload.len()];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&ethertype.to_be_bytes());
    f[14..].copy_from_slice(payload);
    f
}

/// An ARP packet in a minimum-size Ethernet frame.
fn arp_frame(
    op: ArpOperation,
    eth_dst: [u8; 6],
    sender: ([u8; 6], Ipv4Addr),
    target: ([u8; 6], Ipv4Addr),
) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    {
        let mut e = MutableEthernetPacket::new(&mut f).unwrap();
        e.set_destination(eth_dst.into());
        e.set_source(sender.0.into());
        e.set_ethertype(EtherTypes::Arp);
    }
    let mut a = MutableArpPacket::new(&mut f[14..]).unwrap();
    a.set_hardware_type(pnet_packet::arp::ArpHardwareTypes::Ethernet);
    a.set_protocol_type(EtherTypes::Ipv4);
    a.set_hw_addr_len(6);
    a.set_proto_addr_len(4);
    a.set_operation(op);
    a.set_sender_hw_addr(sender.0.into());
    a.set_sender_proto_addr(sender.1);
    a.set_target_hw_addr(target.0.into());
    a.set_target_proto_addr(target.1);
    f
}

/// An ICMP echo message (type 8 request, 0 reply) with its checksum.
fn icmp_echo(reply: bool, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 8 + payload.len()];
    b[0] = if reply { 0 } else { 8 };
    b[4..6].copy_from_slice(&id.to_be_bytes());
    b[6..8].copy_from_slice(&seq.to_be_bytes());
    b[8..].copy_from_slice(payload);
    let mut p = MutableIcmpPacket::new(&mut b).unwrap();
    let c = icmp::checksum(&p.to_immutable());
    p.set_checksum(c);
    b
}

fn ipv4_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    l4: &[u8],
) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + l4.len()];
    {
        let mut e = MutableEthernetPacket::new(&mut f).unwrap();
        e.set_destination(dst_mac.into());
        e.set_source(src_mac.into());
        e.set_ethertype(EtherTypes::Ipv4);
    }
    {
        let mut ip = MutableIpv4Packet::new(&mut f[14..34]).unwrap();
        ip.set_version(4);
        ip.set_header_length(5);
        ip.set_total_length((20 + l4.len()) as u16);
        ip.set_identification(0x5151);
        ip.set_ttl(64);
        ip.set_next_level_protocol(IpNextHeaderProtocols::Icmp);
        ip.set_source(src);
        ip.set_destination(dst);
        let c = ipv4::checksum(&ip.to_immutable());
        ip.set_checksum(c);
    }
    f[34..].copy_from_slice(l4);
    f
}

fn arp_of(f: &[u8]) -> Option<ArpPacket<'_>> {
    let e = EthernetPacket::new(f)?;
    if e.get_ethertype() != EtherTypes::Arp {
        return None;
    }
    ArpPacket::new(&f[14..])
}

/// The IPv4 header and ICMP bytes of an ICMP-over-IPv4 frame.
fn icmp_of(f: &[u8]) -> Option<(Ipv4Packet<'_>, &[u8])> {
    let e = EthernetPacket::new(f)?;
    if e.get_ethertype() != EtherTypes::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new(&f[14..])?;
    if ip.get_next_level_protocol() != IpNextHeaderProtocols::Icmp {
        return None;
    }
    let start = 14 + usize::from(ip.get_header_length()) * 4;
    let end = 14 + usize::from(ip.get_total_length());
    let icmp = f.get(start..end)?;
    Some((ip, icmp))
}

/// Pings the kernel at KERNEL_IP from PORT_IP through `wire`, answering its ARP request, and
/// checks its echo reply byte for byte. Returns every frame received on the way.
fn ping_the_kernel(wire: &mut dyn Wire, port_mac: [u8; 6], kernel_mac: [u8; 6]) -> Vec<Vec<u8>> {
    let payload: Vec<u8> = (0..56u8).map(|i| i.wrapping_mul(29) ^ 0xa5).collect();
    let request = ipv4_frame(
        kernel_mac,
        port_mac,
        PORT_IP,
        KERNEL_IP,
        &icmp_echo(false, 0x4242, 7, &payload),
    );
    assert!(wire.transmit(&request), "echo request accepted");

    // The kernel must learn our MAC before it can answer.
    let mut seen = Vec::new();
    let who_has = receive_until(wire, Duration::from_secs(3), &mut seen, |f| {
        arp_of(f).is_some_and(|a| a.get_operation() == ArpOperations::Request)
    })
    .unwrap_or_else(|| panic!("no ARP request from the kernel; saw {} frames", seen.len()));
    let e = EthernetPacket::new(&who_has).unwrap();
    assert_eq!(e.get_destination().octets(), BROADCAST);
    assert_eq!(e.get_source().octets(), kernel_mac);
    let a = arp_of(&who_has).unwrap();
    assert_eq!(a.get_sender_hw_addr().octets(), kernel_mac);
    assert_eq!(a.get_sender_proto_addr(), KERNEL_IP);
    assert_eq!(a.get_target_proto_addr(), PORT_IP);

    let is_at = arp_frame(
        ArpOperations::Reply,
        kernel_mac,
        (port_mac, PORT_IP),
        (kernel_mac, KERNEL_IP),
    );
    assert!(wire.transmit(&is_at), "ARP reply accepted");

    let reply = receive_until(wire, Duration::from_secs(3), &mut seen, |f| {
        icmp_of(f).is_some_and(|(_, i)| i.first() == Some(&0))
    })
    .unwrap_or_else(|| panic!("no echo reply from the kernel; saw {} frames", seen.len()));
    let e = EthernetPacket::new(&reply).unwrap();
    assert_eq!(e.get_destination().octets(), port_mac);
    assert_eq!(e.get_source().octets(), kernel_mac);
    let (ip, icmp_bytes) = icmp_of(&reply).unwrap();
    assert_eq!(
        (ip.get_source(), ip.get_destination()),
        (KERNEL_IP, PORT_IP)
    );
    assert_eq!(
        ipv4::checksum(&ip),
        ip.get_checksum(),
        "IPv4 header checksum"
    );
    assert_eq!(
        icmp_bytes,
        &icmp_echo(true, 0x4242, 7, &payload)[..],
        "echo reply: same id, sequence and data"
    );
    let parsed = IcmpPacket::new(icmp_bytes).unwrap();
    assert_eq!(parsed.get_icmp_type(), IcmpTypes::EchoReply);
    seen
}

// ---------------------------------------------------------------------------------------------
// TAP
// ---------------------------------------------------------------------------------------------

#[test]
fn tap_wire_talks_to_the_kernel_stack() {
    if !Path::new("/dev/net/tun").exists() {
        println!("SKIPPED: no /dev/net/tun");
        return;
    }
    let (_scratch, ns) = or_skip!(Scratch::with_netns("tap", &["a"]));
    let ns = &ns[0];
    let (mut wire, handle) = one_wire(&format!("tap:enatap0:netns={ns}:up"), PORT_MAC);
    let WireHandle::Tap(name, stats) = &handle else {
        panic!("tap handle")
    };
    assert_eq!(name, "enatap0");
    assert_eq!(wire.describe(), format!("tap enatap0 in netns {ns}"));

    // The interface exists in the namespace only, and is up.
    let show = ip_ok(&["-n", ns, "-br", "link", "show", "dev", "enatap0"]);
    assert!(show.contains("UP"), "{show}");
    assert!(
        ip(&["-br", "link", "show", "dev", "enatap0"]).is_err(),
        "not in the host namespace"
    );
    ip_ok(&["-n", ns, "addr", "add", "192.0.2.1/24", "dev", "enatap0"]);
    let kernel_mac = link_mac(ns, "enatap0");

    // The port keeps its own MAC: the TAP interface is its peer.
    assert_eq!(wire.mac(), None);
    assert_ne!(kernel_mac, PORT_MAC);
    assert!(wire.link_up());
    assert_eq!(wire.mtu(), Some(1500));

    ping_the_kernel(wire.as_mut(), PORT_MAC, kernel_mac);
    assert_eq!(stats.tx_frames(), 2, "echo request and ARP reply");
    assert!(stats.rx_frames() >= 2, "ARP request and echo reply");
    assert_eq!((stats.tx_errors(), stats.rx_oversize()), (0, 0));
    let neigh = ip_ok(&["-n", ns, "neigh", "show", "192.0.2.2", "dev", "enatap0"]);
    assert!(
        neigh.contains(&mac_text(PORT_MAC)),
        "kernel learned the port: {neigh}"
    );

    // MTU and link follow the interface.
    ip_ok(&["-n", ns, "link", "set", "enatap0", "mtu", "1400"]);
    assert!(eventually(Duration::from_secs(1), || wire.mtu() == Some(1400)));
    ip_ok(&["-n", ns, "link", "set", "enatap0", "down"]);
    assert!(eventually(Duration::from_secs(1), || !wire.link_up()));
    assert!(!wire.transmit(&arp_frame(
        ArpOperations::Reply,
        kernel_mac,
        (PORT_MAC, PORT_IP),
        (kernel_mac, KERNEL_IP)
    )));
    assert_eq!(stats.tx_errors(), 1, "the kernel refuses frames while down");
    ip_ok(&["-n", ns, "link", "set", "enatap0", "up"]);
    assert!(eventually(Duration::from_secs(1), || wire.link_up()));

    // The device starts at the wire's MTU.
    let sim = SimDevice::new(
        DeviceConfig::default(),
        wire,
        ClockChoice::Manual(ManualClock::new()),
    )
    .expect("sim device");
    assert_eq!(sim.view().features.mtu, 1400);
    assert!(sim.view().link_up);
    drop(sim);
    // Closing the wire removes the interface it created.
    assert!(eventually(Duration::from_secs(1), || ip(&[
        "-n", ns, "link", "show", "dev", "enatap0"
    ])
    .is_err()));
}

// ---------------------------------------------------------------------------------------------
// AF_PACKET
// ---------------------------------------------------------------------------------------------

/// Namespaces `a` and `b` joined by a veth pair: `va` in `a`, `vb` in `b`.
fn veth_pair(test: &str) -> Result<(Scratch, String, String), String> {
    let (s, ns) = Scratch::with_netns(test, &["a", "b"])?;
    let (a, b) = (ns[0].clone(), ns[1].clone());
    ip_ok(&[
        "-n", &a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", &b,
    ]);
    Ok((s, a, b))
}

#[test]
fn afpacket_wire_stands_in_for_a_veth_end() {
    let (_scratch, a, b) = or_skip!(veth_pair("afk"));
    ip_ok(&["-n", &b, "addr", "add", "192.0.2.1/24", "dev", "vb"]);
    ip_ok(&["-n", &b, "link", "set", "vb", "up"]);
    let (mut wire, handle) = one_wire(&format!("afpacket:va:netns={a}:up"), PORT_MAC);
    let stats = netif_stats(&handle);
    let (va_mac, vb_mac) = (link_mac(&a, "va"), link_mac(&b, "vb"));

    // The port takes the MAC of the interface it stands in for.
    assert_eq!(wire.mac(), Some(va_mac));
    assert!(eventually(Duration::from_secs(1), || wire.link_up()));
    assert_eq!(wire.mtu(), Some(1500));
    assert_eq!(wire.describe(), format!("afpacket va in netns {a}"));

    let seen = ping_the_kernel(wire.as_mut(), va_mac, vb_mac);
    assert!(
        seen.iter().all(|f| f[6..12] != va_mac),
        "the wire never receives its own frames back"
    );
    let neigh = ip_ok(&["-n", &b, "neigh", "show", "192.0.2.2", "dev", "vb"]);
    assert!(neigh.contains(&mac_text(va_mac)), "{neigh}");
    assert_eq!(stats.tx_frames(), 2);
    assert_eq!(stats.rx_frames(), seen.len() as u64);
}

#[test]
fn afpacket_carries_frames_exactly_both_ways() {
    let (_scratch, a, b) = or_skip!(veth_pair("afx"));
    // Two raw sockets, one on each end: the `b` one plays the far side.
    let (mut wa, ha) = one_wire(&format!("afpacket:va,netns={a},up"), PORT_MAC);
    let (mut wb, _hb) = one_wire(&format!("afpacket:vb:netns={b}:up"), PORT_MAC);
    let sa = netif_stats(&ha);
    assert!(eventually(Duration::from_secs(1), || wa.link_up() && wb.link_up()));
    let (va_mac, vb_mac) = (wa.mac().unwrap(), wb.mac().unwrap());
    assert_eq!((va_mac, vb_mac), (link_mac(&a, "va"), link_mac(&b, "vb")));

    let pattern = |n: usize, k: u8| -> Vec<u8> { (0..n).map(|i| (i as u8) ^ k).collect() };
    let foreign = [0x02, 0, 0, 0, 0, 0x99];
    let mut tagged = ethernet(va_mac, vb_mac, 0x8100, &pattern(50, 3));
    tagged[14..18].copy_from_slice(&[0x20, 0x64, 0x88, 0xb5]); // PCP 1, VID 100; then 0x88b5
    let mut qinq = ethernet(va_mac, vb_mac, 0x88a8, &pattern(60, 4));
    qinq[14..18].copy_from_slice(&[0x00, 0x07, 0x88, 0xb5]); // 802.1ad, VID 7
    let to_a = vec![
        ethernet(va_mac, vb_mac, 0x88b5, &pattern(46, 1)),
        ethernet(foreign, vb_mac, 0x88b5, &pattern(1500, 2)),
        tagged,
        qinq,
    ];
    for f in &to_a {
        assert!(wb.transmit(f));
    }
    let mut seen = Vec::new();
    for (i, f) in to_a.iter().enumerate() {
        let got = receive_until(wa.as_mut(), Duration::from_secs(2), &mut seen, |_| true)
            .unwrap_or_else(|| panic!("frame {i} did not arrive"));
        // VLAN tags the kernel moved into metadata are back in place.
        assert_eq!(&got, f, "frame {i}");
    }

    let to_b = vec![
        ethernet(vb_mac, va_mac, 0x88b5, &pattern(46, 5)),
        ethernet(BROADCAST, va_mac, 0x88b5, &pattern(1000, 6)),
    ];
    for f in &to_b {
        assert!(wa.transmit(f));
    }
    for (i, f) in to_b.iter().enumerate() {
        let got = receive_until(wb.as_mut(), Duration::from_secs(2), &mut seen, |_| true)
            .unwrap_or_else(|| panic!("frame {i} did not reach the far side"));
        assert_eq!(&got, f, "frame {i} the other way");
    }
    // Neither end hears its own transmissions.
    std::thread::sleep(Duration::from_millis(100));
    let mut buf = vec![0u8; MAX_FRAME];
    assert_eq!(wa.receive(&mut buf), None);
    assert_eq!(wb.receive(&mut buf), None);
    assert_eq!((sa.rx_frames(), sa.tx_frames()), (4, 2));

    // MTU follows the interface; a frame longer than the port takes is dropped and counted,
    // and the next one still arrives.
    ip_ok(&["-n", &a, "link", "set", "va", "mtu", "9500"]);
    ip_ok(&["-n", &b, "link", "set", "vb", "mtu", "9500"]);
    assert!(eventually(Duration::from_secs(1), || wa.mtu() == Some(9500)));
    let giant = ethernet(va_mac, vb_mac, 0x88b5, &pattern(9500, 7));
    let after = ethernet(va_mac, vb_mac, 0x88b5, &pattern(100, 8));
    assert!(wb.transmit(&giant));
    assert!(wb.transmit(&after));
    let got = receive_until(wa.as_mut(), Duration::from_secs(2), &mut seen, |_| true);
    assert_eq!(got.as_ref(), Some(&after));
    assert_eq!(sa.rx_oversize(), 1);

    // The device offers the driver the wire's MTU within its own limit.
    let sim = SimDevice::new(
        DeviceConfig::default(),
        wa,
        ClockChoice::Manual(ManualClock::new()),
    )
    .expect("sim device");
    assert_eq!(sim.view().features.mtu, DeviceConfig::default().max_mtu);
}

#[test]
fn afpacket_finishes_checksums_the_kernel_left_to_hardware() {
    let (_scratch, a, b) = or_skip!(veth_pair("afc"));
    let (mut wire, handle) = one_wire(&format!("afpacket:va:netns={a}:up"), PORT_MAC);
    let stats = netif_stats(&handle);
    let va_mac = wire.mac().unwrap();
    ip_ok(&["-n", &b, "addr", "add", "192.0.2.1/24", "dev", "vb"]);
    ip_ok(&["-n", &b, "link", "set", "vb", "up"]);
    ip_ok(&[
        "-n",
        &b,
        "neigh",
        "replace",
        "192.0.2.2",
        "lladdr",
        &mac_text(va_mac),
        "dev",
        "vb",
        "nud",
        "permanent",
    ]);
    assert!(eventually(Duration::from_secs(1), || wire.link_up()));
    // A UDP datagram from the stack in `b`; veth offers checksum offload, so the stack leaves
    // the UDP checksum for "hardware" to finish.
    let out = Command::new("ip")
        .args(["netns", "exec", &b, "bash", "-c"])
        .arg("printf ena-sim-udp > /dev/udp/192.0.2.2/7777")
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seen = Vec::new();
    let f = receive_until(wire.as_mut(), Duration::from_secs(2), &mut seen, |f| {
        EthernetPacket::new(f).is_some_and(|e| e.get_ethertype() == EtherTypes::Ipv4)
            && Ipv4Packet::new(&f[14..])
                .is_some_and(|ip| ip.get_next_level_protocol() == IpNextHeaderProtocols::Udp)
    })
    .expect("the UDP datagram");
    let ip4 = Ipv4Packet::new(&f[14..]).unwrap();
    let udp = UdpPacket::new(ip4.payload()).unwrap();
    assert_eq!(udp.get_destination(), 7777);
    assert_eq!(udp.payload(), b"ena-sim-udp");
    assert!(checksums_valid(&f), "IPv4 and UDP checksums are complete");
    assert_eq!(stats.rx_csum_completed(), 1, "the wire finished it");
}

#[test]
fn afpacket_link_follows_the_peer() {
    let (_scratch, a, b) = or_skip!(veth_pair("afl"));
    let (wire, _h) = one_wire(&format!("afpacket:va:netns={a}:up"), PORT_MAC);
    assert!(!wire.link_up(), "down while the peer is down");
    ip_ok(&["-n", &b, "link", "set", "vb", "up"]);
    assert!(
        eventually(Duration::from_secs(1), || wire.link_up()),
        "up with the peer up"
    );
    ip_ok(&["-n", &b, "link", "set", "vb", "down"]);
    assert!(
        eventually(Duration::from_secs(1), || !wire.link_up()),
        "down with the peer down"
    );
    ip_ok(&["-n", &b, "link", "set", "vb", "up"]);
    assert!(
        eventually(Duration::from_secs(1), || wire.link_up()),
        "up again"
    );
    ip_ok(&["-n", &a, "link", "set", "va", "down"]);
    assert!(
        eventually(Duration::from_secs(1), || !wire.link_up()),
        "down with itself down"
    );
    ip_ok(&["-n", &a, "link", "del", "va"]);
    assert!(!wire.link_up(), "a deleted interface is down");
}

// ---------------------------------------------------------------------------------------------
// pcap
// ---------------------------------------------------------------------------------------------

fn test_frame(len: usize, k: u8) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(13) ^ k).collect();
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f
}

/// Writes `frames` to a classic capture at `path`.
fn write_capture(path: &Path, frames: &[Vec<u8>]) {
    let header = PcapHeader {
        endianness: Endianness::Little,
        ts_resolution: TsResolution::NanoSecond,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(std::fs::File::create(path).unwrap(), header).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(&PcapPacket::new(
            Duration::new(1_700_000_000, i as u32),
            f.len() as u32,
            f,
        ))
        .unwrap();
    }
}

/// `tcpdump -r` must read `path` and print `count` packets (skipped without tcpdump).
fn tcpdump_reads(path: &Path, count: usize) {
    let Ok(out) = Command::new("tcpdump")
        .args(["-nn", "-r"])
        .arg(path)
        .args(["-c", &count.to_string()])
        .output()
    else {
        println!("note: tcpdump not installed; skipping the tcpdump check");
        return;
    };
    assert!(
        out.status.success(),
        "tcpdump -r: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One line per packet; tcpdump adds indented hex dumps for ethertypes it does not know.
    let text = String::from_utf8_lossy(&out.stdout);
    let packets = text.lines().filter(|l| !l.starts_with([' ', '\t'])).count();
    assert_eq!(packets, count, "{text}");
}

#[test]
fn pcap_records_transmitted_frames_as_a_standard_capture() {
    let mut scratch = Scratch::new("pcapout");
    let out = scratch.file("out.pcap");
    let (mut wire, handle) = one_wire(&format!("pcap:out={}", out.display()), PORT_MAC);
    let h = pcap_handle(&handle);
    let frames = vec![
        test_frame(60, 1),
        test_frame(1514, 2),
        test_frame(MAX_FRAME, 3),
    ];
    let before = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    for f in &frames {
        assert!(wire.transmit(f));
    }
    let after = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    assert_eq!((h.recorded(), h.record_errors()), (3, 0));
    drop(wire);

    let bytes = std::fs::read(&out).unwrap();
    // The global header: magic (microseconds, host order), version 2.4, snaplen, Ethernet.
    assert_eq!(&bytes[0..4], &0xa1b2_c3d4u32.to_ne_bytes());
    assert_eq!(
        &bytes[4..8],
        &[2u16.to_ne_bytes(), 4u16.to_ne_bytes()].concat()[..]
    );
    assert_eq!(&bytes[16..20], &65_535u32.to_ne_bytes());
    assert_eq!(&bytes[20..24], &1u32.to_ne_bytes());
    assert_eq!(
        bytes.len(),
        24 + frames.iter().map(|f| 16 + f.len()).sum::<usize>()
    );

    let mut r = PcapReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    assert_eq!(r.header().datalink, DataLink::ETHERNET);
    assert_eq!(r.header().snaplen, 65_535);
    let mut got = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        assert_eq!(p.orig_len as usize, p.data.len());
        // Microsecond resolution: compare at that grain.
        let us = Duration::from_micros(1);
        assert!(
            p.timestamp + us >= before && p.timestamp <= after + us,
            "timestamp"
        );
        got.push(p.data.into_owned());
    }
    assert_eq!(got, frames);
    tcpdump_reads(&out, 3);
}

#[test]
fn pcap_output_is_flushed_while_the_port_idles() {
    let mut scratch = Scratch::new("pcapidle");
    let out = scratch.file("idle.pcap");
    let (mut wire, handle) = one_wire(&format!("pcap:out={}", out.display()), PORT_MAC);
    assert_eq!(
        std::fs::metadata(&out).unwrap().len(),
        24,
        "header on disk at once"
    );
    let f = test_frame(100, 9);
    assert!(wire.transmit(&f));
    let mut buf = vec![0u8; MAX_FRAME];
    // The device keeps polling receive; after the flush interval the record is on disk.
    assert!(eventually(Duration::from_secs(2), || {
        assert_eq!(wire.receive(&mut buf), None);
        std::fs::metadata(&out).unwrap().len() == 24 + 16 + 100
    }));
    // The handle flushes too, from any thread.
    assert!(wire.transmit(&f));
    pcap_handle(&handle).flush().unwrap();
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 24 + 2 * (16 + 100));
}

#[test]
fn pcap_replays_each_frame_once_in_order_or_loops() {
    let mut scratch = Scratch::new("pcapin");
    let input = scratch.file("in.pcap");
    let frames: Vec<Vec<u8>> = (0..5).map(|i| test_frame(60 + 97 * i, i as u8)).collect();
    write_capture(&input, &frames);
    let mut buf = vec![0u8; MAX_FRAME];
    let mut drain = |wire: &mut dyn Wire, limit: usize| -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        while got.len() < limit {
            match wire.receive(&mut buf) {
                Some(n) => got.push(buf[..n].to_vec()),
                None => break,
            }
        }
        got
    };

    let (mut once, h) = one_wire(&format!("pcap:in={}", input.display()), PORT_MAC);
    let h = pcap_handle(&h);
    assert!(!h.done());
    assert_eq!(drain(once.as_mut(), 100), frames);
    assert!(h.wait_done(Duration::from_secs(1)));
    assert_eq!((h.replayed(), h.passes(), h.skipped()), (5, 1, 0));
    assert_eq!(
        drain(once.as_mut(), 100),
        Vec::<Vec<u8>>::new(),
        "once only"
    );

    let (mut three, h) = one_wire(&format!("pcap:in={}:loop=3", input.display()), PORT_MAC);
    let h = pcap_handle(&h);
    let want: Vec<Vec<u8>> = frames.iter().cycle().take(15).cloned().collect();
    assert_eq!(drain(three.as_mut(), 100), want);
    assert!(h.done());
    assert_eq!((h.replayed(), h.passes()), (15, 3));

    let (mut forever, h) = one_wire(&format!("pcap:in={},loop", input.display()), PORT_MAC);
    let h = pcap_handle(&h);
    let want: Vec<Vec<u8>> = frames.iter().cycle().take(52).cloned().collect();
    assert_eq!(drain(forever.as_mut(), 52), want);
    assert!(!h.done() && !h.wait_done(Duration::from_millis(20)));
    assert_eq!((h.replayed(), h.passes()), (52, 10));
}

#[test]
fn pcap_through_the_device_lossless_replay_and_recording() {
    let mut scratch = Scratch::new("pcapdev");
    let input = scratch.file("dev-in.pcap");
    let output = scratch.file("dev-out.pcap");
    let frames: Vec<Vec<u8>> = (0..6)
        .map(|i| ena_sim::frames::ipv4(false, [192, 0, 2, 1], [192, 0, 2, 2], 1000 + i, 9, 64))
        .collect();
    write_capture(&input, &frames);
    let (wire, handle) = one_wire(
        &format!(
            "pcap:in={},out={},lossless",
            input.display(),
            output.display()
        ),
        PORT_MAC,
    );
    let h = pcap_handle(&handle);
    assert!(wire.backpressure());
    let (sim, mut host) = manual(DeviceConfig::default(), wire);
    host.bring_up(0);
    let mut rx = RxRing::create(&mut host, 64, 2048);
    let mut tx = TxRing::create(&mut host, 64, None);

    // Two buffers: two frames; the rest wait on the lossless wire instead of being dropped.
    rx.post(&mut host, 2);
    host.step();
    let first = rx.receive(&mut host);
    assert_eq!(first.len(), 2);
    assert!(!h.done());
    rx.post(&mut host, 10);
    host.step();
    let rest = rx.receive(&mut host);
    let got: Vec<Vec<u8>> = first.into_iter().chain(rest).map(|p| p.data).collect();
    assert_eq!(got, frames);
    assert!(h.done());
    let s = sim.stats.snapshot().since_reset;
    assert_eq!((s.rx_pkts, s.rx_overruns, s.rx_drops), (6, 0, 0));

    // What the driver sends is recorded.
    for (i, f) in frames.iter().take(3).enumerate() {
        tx.queue(&mut host, i as u16, f, 1, TxOffload::default(), 0);
    }
    tx.ring(&mut host);
    host.step();
    assert_eq!(tx.completions(&mut host).len(), 3);
    assert_eq!(h.recorded(), 3);
    drop(sim);
    drop(host);
    let mut r = PcapReader::new(std::fs::File::open(&output).unwrap()).unwrap();
    let mut recorded = Vec::new();
    while let Some(p) = r.next_packet() {
        recorded.push(p.unwrap().data.into_owned());
    }
    assert_eq!(recorded, frames[..3].to_vec());
    tcpdump_reads(&output, 3);
}

// ---------------------------------------------------------------------------------------------
// The device follows the wire's MTU
// ---------------------------------------------------------------------------------------------

/// A wire that only has an MTU.
struct MtuOnly(Option<u32>);

impl Wire for MtuOnly {
    fn transmit(&mut self, _frame: &[u8]) -> bool {
        true
    }
    fn receive(&mut self, _buf: &mut [u8]) -> Option<usize> {
        None
    }
    fn mtu(&self) -> Option<u32> {
        self.0
    }
    fn describe(&self) -> String {
        "mtu only".into()
    }
}

#[test]
fn device_starts_at_the_wire_mtu_within_its_limits() {
    let cfg = DeviceConfig::default();
    let start = |mtu: Option<u32>| {
        SimDevice::new(
            cfg.clone(),
            Box::new(MtuOnly(mtu)),
            ClockChoice::Manual(ManualClock::new()),
        )
        .expect("sim device")
        .view()
        .features
        .mtu
    };
    assert_eq!(start(None), cfg.mtu);
    assert_eq!(start(Some(1280)), 1280);
    assert_eq!(start(Some(65_536)), cfg.max_mtu);
    assert_eq!(start(Some(20)), cfg.min_mtu);
}
