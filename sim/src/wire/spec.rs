//! Wire specifications: the text that names a port's far side, as `--vdev
//! net_ena_sim0,wire=...` (dpdk-shim) and the `ena-sim` program take it, and the wires built
//! from it.
//!
//! | spec | far side |
//! |---|---|
//! | `gen[:opt...]` | a traffic generator into RX; a counting sink for TX ([`super::generator`]) |
//! | `sink` | a counting sink for TX; nothing received |
//! | `loopback` | the port's TX back into its own RX |
//! | `pair:<tag>` | the other port with the same tag (a cable between two ports) |
//! | `capture` | frames a test pushes in; TX recorded ([`super::Capture`]) |
//! | `tap:<name>[:netns=<ns>][:up]` | the Linux stack, through TAP interface `<name>` (created if absent) ([`super::tap`]) |
//! | `afpacket:<iface>[:netns=<ns>][:up]` | an existing interface (e.g. a veth end) through a raw socket ([`super::afpacket`]) |
//! | `pcap:in=<file>,out=<file>[,loop\|loop=<n>]` | a capture replayed into RX; TX recorded to a pcap file ([`super::pcap`]) |
//! | `none` | unplugged (link down) |
//!
//! Generator options: `size=<frame bytes, no FCS>` (60), `flows=<n>` (1), `rate=<pps>`
//! (unpaced), `count=<frames>` (endless), `proto=udp|tcp`, `ipv6`, `src=<IPv4>` (198.18.0.1;
//! flows vary the source port, then the address), `dst=<IPv4>` (198.19.0.1), `sport=<n>`
//! (1024), `dport=<n>` (9), `verify` (the sink checks every frame). Every wire takes
//! `lossless`: a frame the port cannot place (no RX buffer) is held and offered again instead
//! of dropped, as a real cable would drop it (`tap` and `afpacket` accept it and still drop: the
//! kernel on the other side does).
//!
//! `tap`, `afpacket` and `pcap` options may be separated by `,` as well as `:`
//! (`pcap:in=a.pcap,out=b.pcap,lossless`). `netns=<ns>` names a namespace as `ip netns` does, or
//! is a path such as `/proc/<pid>/ns/net`. A `tap` port keeps its own MAC (the TAP interface is
//! its peer); an `afpacket` port takes the MAC of the interface it stands in for. Both report
//! the interface's MTU and link state to the device.

use super::generator::{GeneratorStats, IpVersion, L4Protocol};
use super::{
    pair, AfPacket, Capture, Generator, GeneratorConfig, Loopback, NetifOptions, NetifStats,
    PairEnd, PcapHandle, PcapOptions, PcapWire, Tap, Unplugged, Wire,
};
use std::collections::HashMap;

/// Frames a loopback or pair cable holds in flight each way.
pub const CABLE_CAPACITY: usize = 4096;

/// A bad wire specification; the message names the port and the option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

/// One port's request: its name (for messages), its spec, and the MAC the port takes (a
/// generator addresses its frames to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRequest {
    /// Port name, e.g. `net_ena_sim0`.
    pub name: String,
    /// The spec, e.g. `gen:size=64:lossless`.
    pub spec: String,
    /// The port's MAC address.
    pub mac: [u8; 6],
}

/// The far side of a port, as its owner can observe it.
#[derive(Clone)]
pub enum WireHandle {
    /// A generator: what it produced and what its sink took.
    Generator(GeneratorStats),
    /// A scripted wire: push frames in, take what was sent.
    Capture(Capture),
    /// A loopback cable.
    Loopback,
    /// One end of a cable to the port with the same tag.
    Pair(String),
    /// A TAP interface (its name) and the wire's counters.
    Tap(String, NetifStats),
    /// An `AF_PACKET` socket on an interface (its name) and the wire's counters.
    AfPacket(String, NetifStats),
    /// Capture files: replay/record counters, "replay done", flush.
    Pcap(PcapHandle),
    /// Nothing attached.
    Unplugged,
}

impl std::fmt::Debug for WireHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireHandle::Generator(_) => f.write_str("Generator"),
            WireHandle::Capture(_) => f.write_str("Capture"),
            WireHandle::Loopback => f.write_str("Loopback"),
            WireHandle::Pair(t) => write!(f, "Pair({t})"),
            WireHandle::Tap(n, _) => write!(f, "Tap({n})"),
            WireHandle::AfPacket(n, _) => write!(f, "AfPacket({n})"),
            WireHandle::Pcap(_) => f.write_str("Pcap"),
            WireHandle::Unplugged => f.write_str("Unplugged"),
        }
    }
}

/// A wire for the device, and the handle its owner keeps.
pub type BuiltWire = (Box<dyn Wire>, WireHandle);

/// Builds the wires of `ports`, in order (pairs are cabled between the two ports naming the
/// same tag).
pub fn build(ports: &[WireRequest]) -> Result<Vec<BuiltWire>, SpecError> {
    let mut pairs = pair_ends(ports)?;
    ports.iter().map(|p| make_wire(p, &mut pairs)).collect()
}

/// Splits a wire spec into its kind and options: `gen:size=64:lossless` → ("gen", [...]).
fn split(wire: &str) -> (&str, Vec<&str>) {
    let mut it = wire.split(':');
    let kind = it.next().unwrap_or_default();
    (kind, it.collect())
}

/// Pairs up `pair:<tag>` wires: exactly two ports per tag.
fn pair_ends(ports: &[WireRequest]) -> Result<HashMap<String, Vec<PairEnd>>, SpecError> {
    let mut tags: HashMap<String, (Vec<String>, bool)> = HashMap::new();
    for s in ports {
        let (kind, opts) = split(&s.spec);
        if kind != "pair" {
            continue;
        }
        let tag = opts
            .iter()
            .find(|o| **o != "lossless")
            .ok_or_else(|| SpecError(format!("{}: wire=pair needs a tag (pair:<tag>)", s.name)))?;
        let e = tags.entry(tag.to_string()).or_default();
        e.0.push(s.name.clone());
        e.1 |= opts.contains(&"lossless");
    }
    let mut ends = HashMap::new();
    for (tag, (names, lossless)) in tags {
        if names.len() != 2 {
            return Err(SpecError(format!(
                "wire=pair:{tag} joins exactly two ports; found {} ({})",
                names.len(),
                names.join(", ")
            )));
        }
        let (a, b) = pair(CABLE_CAPACITY, lossless);
        // Popped from the back: the first port named takes `a`.
        ends.insert(tag, vec![b, a]);
    }
    Ok(ends)
}

fn make_wire(
    spec: &WireRequest,
    pairs: &mut HashMap<String, Vec<PairEnd>>,
) -> Result<BuiltWire, SpecError> {
    let (name, mac) = (&spec.name, spec.mac);
    let bad = |m: String| SpecError(format!("{name}: {m}"));
    let (kind, opts) = split(&spec.spec);
    let lossless = opts.contains(&"lossless");
    match kind {
        "gen" | "sink" => {
            let mut g = GeneratorConfig {
                dst_mac: mac,
                lossless,
                ..GeneratorConfig::default()
            };
            if kind == "sink" {
                g.count = Some(0);
            }
            for o in opts.iter().filter(|o| **o != "lossless") {
                let (k, v) = o.split_once('=').unwrap_or((o, ""));
                let port = |v: &str| -> Result<u16, SpecError> {
                    v.parse::<u16>()
                        .map_err(|_| bad(format!("wire option {k}={v} is not a port number")))
                };
                let num = |v: &str| -> Result<f64, SpecError> {
                    v.parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite() && *x >= 0.0)
                        .ok_or_else(|| bad(format!("wire option {k}={v} is not a number")))
                };
                match (k, kind) {
                    ("size", "gen") => g.frame_size = num(v)? as usize,
                    ("flows", "gen") => g.flows = num(v)? as u32,
                    ("rate", "gen") => g.rate_pps = Some(num(v)?),
                    ("count", "gen") => g.count = Some(num(v)? as u64),
                    ("proto", "gen") => {
                        g.protocol = match v {
                            "udp" => L4Protocol::Udp,
                            "tcp" => L4Protocol::Tcp,
                            _ => return Err(bad(format!("proto={v} must be udp or tcp"))),
                        }
                    }
                    ("ipv6", "gen") => g.ip_version = IpVersion::V6,
                    ("src", "gen") => {
                        g.src_ipv4 = v.parse().map_err(|_| bad(format!("src={v} is not an IPv4 address")))?
                    }
                    ("dst", "gen") => {
                        g.dst_ipv4 = v.parse().map_err(|_| bad(format!("dst={v} is not an IPv4 address")))?
                    }
                    ("sport", "gen") => g.src_port = port(v)?,
                    ("dport", "gen") => g.dst_port = port(v)?,
                    ("verify", _) => g.verify_sink = true,
                    _ => {
                        return Err(bad(format!(
                            "unknown {kind} wire option '{o}' (size, flows, rate, count, proto, ipv6, src, dst, sport, dport, verify, lossless)"
                        )))
                    }
                }
            }
            let generator =
                Generator::new(g).map_err(|e| bad(format!("wire={}: {e}", spec.spec)))?;
            let stats = generator.stats();
            Ok((Box::new(generator), WireHandle::Generator(stats)))
        }
        "loopback" => {
            no_options(&opts, kind, &bad)?;
            Ok((
                Box::new(Loopback::new(CABLE_CAPACITY, lossless)),
                WireHandle::Loopback,
            ))
        }
        "pair" => {
            let tag = opts
                .iter()
                .find(|o| **o != "lossless")
                .map(|t| t.to_string())
                .unwrap_or_default();
            let end = pairs
                .get_mut(&tag)
                .and_then(Vec::pop)
                .ok_or_else(|| bad(format!("wire=pair:{tag} has no free end")))?;
            Ok((Box::new(end), WireHandle::Pair(tag)))
        }
        "capture" => {
            no_options(&opts, kind, &bad)?;
            let c = Capture {
                lossless,
                ..Capture::default()
            };
            Ok((Box::new(c.clone()), WireHandle::Capture(c)))
        }
        "tap" => {
            let o = NetifOptions::parse(kind, &opts).map_err(bad)?;
            let tap = Tap::open(&o).map_err(|e| bad(format!("wire={}: {e}", spec.spec)))?;
            let handle = WireHandle::Tap(o.name, tap.stats());
            Ok((Box::new(tap), handle))
        }
        "afpacket" => {
            let o = NetifOptions::parse(kind, &opts).map_err(bad)?;
            let sock = AfPacket::open(&o).map_err(|e| bad(format!("wire={}: {e}", spec.spec)))?;
            let handle = WireHandle::AfPacket(o.name, sock.stats());
            Ok((Box::new(sock), handle))
        }
        "pcap" => {
            let o = PcapOptions::parse(&opts).map_err(bad)?;
            let w = PcapWire::open(&o).map_err(|e| bad(format!("wire={}: {e}", spec.spec)))?;
            let handle = WireHandle::Pcap(w.stats());
            Ok((Box::new(w), handle))
        }
        "none" => {
            no_options(&opts, kind, &bad)?;
            Ok((Box::new(Unplugged), WireHandle::Unplugged))
        }
        _ => Err(bad(format!(
            "unknown wire '{kind}' (gen, sink, loopback, pair:<tag>, capture, tap:<name>, afpacket:<iface>, pcap:in=<file>,out=<file>, none)"
        ))),
    }
}

fn no_options(
    opts: &[&str],
    kind: &str,
    bad: &dyn Fn(String) -> SpecError,
) -> Result<(), SpecError> {
    match opts.iter().find(|o| **o != "lossless") {
        Some(o) => Err(bad(format!(
            "wire {kind} takes no option '{o}' (only lossless)"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, spec: &str) -> WireRequest {
        WireRequest {
            name: name.into(),
            spec: spec.into(),
            mac: [2, 0, 0, 0, 1, 0],
        }
    }

    #[test]
    fn wires_are_built_from_their_specs() {
        let w = build(&[
            req(
                "p0",
                "gen:size=128:flows=16:dst=192.0.2.10:dport=80:proto=tcp:lossless",
            ),
            req("p1", "pair:x"),
            req("p2", "pair:x"),
            req("p3", "capture"),
            req("p4", "loopback"),
            req("p5", "sink"),
            req("p6", "none"),
        ])
        .unwrap();
        assert!(matches!(w[0].1, WireHandle::Generator(_)));
        assert!(w[0].0.backpressure(), "lossless");
        assert_eq!(
            w[0].0.mac(),
            Some([2, 0, 0, 0, 1, 0]),
            "the generator addresses the port"
        );
        assert!(matches!(&w[1].1, WireHandle::Pair(t) if t == "x"));
        assert!(matches!(w[3].1, WireHandle::Capture(_)));
        assert!(!w[6].0.link_up());
    }

    #[test]
    fn bad_specs_are_clear_errors() {
        let err = |v: &[(&str, &str)]| {
            let reqs: Vec<WireRequest> = v.iter().map(|(n, s)| req(n, s)).collect();
            build(&reqs).err().expect("an error").to_string()
        };
        assert_eq!(
            err(&[("p0", "pair:x")]),
            "wire=pair:x joins exactly two ports; found 1 (p0)"
        );
        assert!(err(&[("p0", "gen:size=abc")]).contains("p0: wire option size=abc is not a number"));
        assert!(err(&[("p0", "gen:size=20")]).contains("p0: wire=gen:size=20"));
        assert!(err(&[("p0", "gen:color=red")]).contains("unknown gen wire option"));
        assert!(err(&[("p0", "vde")]).contains("unknown wire 'vde'"));
        assert!(err(&[("p0", "tap")]).contains("p0: wire=tap needs an interface name"));
        assert!(err(&[("p0", "afpacket:eth0:mtu=9000")])
            .contains("p0: unknown afpacket wire option 'mtu=9000'"));
        assert!(err(&[("p0", "tap:t0,netns=")]).contains("is not a network namespace name"));
        assert!(err(&[("p0", "pcap")]).contains("p0: wire=pcap needs in=FILE, out=FILE or both"));
        assert!(err(&[("p0", "pcap:out=/x.pcap,loop")]).contains("loop needs in=FILE"));
        assert!(err(&[("p0", "pcap:in=/nonexistent/ena-sim.pcap")])
            .contains("p0: wire=pcap:in=/nonexistent/ena-sim.pcap: pcap input /nonexistent/ena-sim.pcap: No such file"));
        assert!(err(&[("p0", "afpacket:ena-sim-nonex")])
            .contains("p0: wire=afpacket:ena-sim-nonex: ena-sim-nonex:"));
        assert!(err(&[("p0", "loopback:fast")]).contains("takes no option 'fast'"));
        assert!(err(&[("p0", "gen:dst=1.2.3")]).contains("dst=1.2.3 is not an IPv4 address"));
        assert!(err(&[("p0", "gen:dport=70000")]).contains("dport=70000 is not a port number"));
    }

    #[test]
    fn pcap_wires_are_built_in_either_separator_style() {
        let dir = std::env::temp_dir().join(format!("ena-sim-spec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out_a = dir.join("a.pcap");
        let out_b = dir.join("b.pcap");
        let w = build(&[
            req("p0", &format!("pcap:out={},lossless", out_a.display())),
            req("p1", &format!("pcap:out={}:lossless", out_b.display())),
            req("p2", &format!("pcap:in={}", out_a.display())),
        ]);
        // p2 reads p0's file, created (header only) when p0 was built: an empty replay.
        let w = w.unwrap();
        assert!(matches!(w[0].1, WireHandle::Pcap(_)));
        assert!(w[0].0.backpressure() && w[1].0.backpressure());
        assert!(!w[2].0.backpressure());
        let WireHandle::Pcap(h) = &w[2].1 else {
            panic!("pcap handle")
        };
        assert!(h.done(), "nothing to replay");
        assert_eq!(format!("{:?}", w[1].1), "Pcap");
        drop(w);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
