//! `--vdev net_ena_sim<N>`: in-process ENA device models as ports, and the wires on their far
//! side.
//!
//! Every model of one EAL shares one DMA space (so one mbuf pool serves all of them, as one
//! hugepage heap serves real ports) and one polling thread, pinned to `--sim-core` or else to
//! a CPU that is not an lcore when there is one.
//!
//! `wire=` takes:
//!
//! | wire | far side |
//! |---|---|
//! | `gen[:opt...]` (default) | a traffic generator into RX; a counting sink for TX |
//! | `sink` | a counting sink for TX; nothing received |
//! | `loopback` | the port's TX back into its own RX |
//! | `pair:<tag>` | the other `net_ena_sim` with the same tag (a cable between two ports) |
//! | `capture` | frames the application script pushes in; TX recorded (tests) |
//! | `none` | unplugged (link down) |
//!
//! Generator options: `size=<frame bytes, no FCS>` (60), `flows=<n>` (1), `rate=<pps>`
//! (unpaced), `count=<frames>` (endless), `proto=udp|tcp`, `ipv6`, `src=<IPv4>` (198.18.0.1;
//! flows vary the source port, then the address), `dst=<IPv4>` (198.19.0.1), `sport=<n>`
//! (1024), `dport=<n>` (9), `verify` (the sink checks every frame). Every wire takes `lossless`: a frame the port cannot place (no RX buffer) is
//! held and offered again instead of dropped, as a real cable would drop it.

use crate::args::VdevSpec;
use crate::error::{Error, Result};
use ena_sim::config::DeviceConfig;
use ena_sim::dma::InProcessDma;
use ena_sim::transport::inproc::{ClockChoice, SimDevice};
use ena_sim::wire::generator::{IpVersion, L4Protocol};
use ena_sim::wire::{
    pair, Capture, Generator, GeneratorConfig, GeneratorStats, Loopback, Unplugged, Wire,
};
use std::collections::HashMap;
use std::sync::Arc;

/// Frames a loopback or pair cable holds in flight each way.
const CABLE_CAPACITY: usize = 4096;

/// The far side of a simulated port, as the application can observe it.
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
            WireHandle::Unplugged => f.write_str("Unplugged"),
        }
    }
}

/// A simulated port: the device model and its wire.
#[derive(Clone)]
pub struct SimPort {
    /// The device model (statistics, fault injection, event log).
    pub device: SimDevice,
    /// Its wire.
    pub wire: WireHandle,
}

impl std::fmt::Debug for SimPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimPort")
            .field("wire", &self.wire)
            .finish_non_exhaustive()
    }
}

/// The MAC a vdev takes unless `mac=` says otherwise: locally administered, 02:00:00:00:01:<N>.
pub fn default_mac(spec: &VdevSpec) -> [u8; 6] {
    let n: u32 = spec
        .name
        .trim_start_matches("net_ena_sim")
        .parse()
        .unwrap_or(0);
    [0x02, 0, 0, 0, 1, n as u8]
}

/// Builds the device models for `specs`, in order, sharing `dma`.
pub fn build(specs: &[VdevSpec], dma: &Arc<InProcessDma>) -> Result<Vec<SimPort>> {
    let mut pairs = pair_ends(specs)?;
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let mac = spec.mac.unwrap_or_else(|| default_mac(spec));
        let (wire, handle) = make_wire(spec, mac, &mut pairs)?;
        let mut cfg = DeviceConfig {
            mac,
            ..DeviceConfig::default()
        };
        if let Some(q) = spec.queues {
            cfg.max_queues = q;
        }
        if let Some(m) = spec.mtu {
            cfg.mtu = m;
        }
        let device =
            SimDevice::with_dma(cfg, wire, ClockChoice::Real, dma.clone()).map_err(|e| {
                Error::Setup(format!(
                    "{}: cannot create the device model: {e}",
                    spec.name
                ))
            })?;
        out.push(SimPort {
            device,
            wire: handle,
        });
    }
    Ok(out)
}

/// Splits a wire spec into its kind and options: `gen:size=64:lossless` → ("gen", [...]).
fn split(wire: &str) -> (&str, Vec<&str>) {
    let mut it = wire.split(':');
    let kind = it.next().unwrap_or_default();
    (kind, it.collect())
}

/// Pairs up `pair:<tag>` wires: exactly two ports per tag.
fn pair_ends(specs: &[VdevSpec]) -> Result<HashMap<String, Vec<ena_sim::wire::PairEnd>>> {
    let mut tags: HashMap<String, (Vec<String>, bool)> = HashMap::new();
    for s in specs {
        let (kind, opts) = split(&s.wire);
        if kind != "pair" {
            continue;
        }
        let tag = opts.iter().find(|o| **o != "lossless").ok_or_else(|| {
            Error::Args(format!("{}: wire=pair needs a tag (pair:<tag>)", s.name))
        })?;
        let e = tags.entry(tag.to_string()).or_default();
        e.0.push(s.name.clone());
        e.1 |= opts.contains(&"lossless");
    }
    let mut ends = HashMap::new();
    for (tag, (names, lossless)) in tags {
        if names.len() != 2 {
            return Err(Error::Args(format!(
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
    spec: &VdevSpec,
    mac: [u8; 6],
    pairs: &mut HashMap<String, Vec<ena_sim::wire::PairEnd>>,
) -> Result<(Box<dyn Wire>, WireHandle)> {
    let name = &spec.name;
    let bad = |m: String| Error::Args(format!("{name}: {m}"));
    let (kind, opts) = split(&spec.wire);
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
                let port = |v: &str| -> Result<u16> {
                    v.parse::<u16>()
                        .map_err(|_| bad(format!("wire option {k}={v} is not a port number")))
                };
                let num = |v: &str| -> Result<f64> {
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
                Generator::new(g).map_err(|e| bad(format!("wire={}: {e}", spec.wire)))?;
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
        "none" => {
            no_options(&opts, kind, &bad)?;
            Ok((Box::new(Unplugged), WireHandle::Unplugged))
        }
        _ => Err(bad(format!(
            "unknown wire '{kind}' (gen, sink, loopback, pair:<tag>, capture, none)"
        ))),
    }
}

fn no_options(opts: &[&str], kind: &str, bad: &dyn Fn(String) -> Error) -> Result<()> {
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
    use crate::args::parse_vdev;

    fn specs(v: &[&str]) -> Vec<VdevSpec> {
        v.iter().map(|s| parse_vdev(s).unwrap()).collect()
    }

    #[test]
    fn wires_are_built_from_their_specs() {
        let dma = InProcessDma::new();
        let ports = build(
            &specs(&[
                "net_ena_sim0,wire=gen:size=128:flows=16:dst=192.0.2.10:dport=80:proto=tcp:lossless",
                "net_ena_sim1,wire=pair:x",
                "net_ena_sim2,wire=pair:x",
                "net_ena_sim3,wire=capture",
                "net_ena_sim4,wire=loopback,mac=02:aa:00:00:00:01",
            ]),
            &dma,
        )
        .unwrap();
        assert!(matches!(ports[0].wire, WireHandle::Generator(_)));
        assert!(matches!(&ports[1].wire, WireHandle::Pair(t) if t == "x"));
        assert!(matches!(ports[3].wire, WireHandle::Capture(_)));
        assert_eq!(ports.len(), 5);
    }

    #[test]
    fn bad_wires_are_clear_errors() {
        let dma = InProcessDma::new();
        let err = |v: &[&str]| build(&specs(v), &dma).unwrap_err().to_string();
        assert_eq!(
            err(&["net_ena_sim0,wire=pair:x"]),
            "invalid EAL arguments: wire=pair:x joins exactly two ports; found 1 (net_ena_sim0)"
        );
        assert!(err(&["net_ena_sim0,wire=gen:size=abc"]).contains("size=abc is not a number"));
        assert!(err(&["net_ena_sim0,wire=gen:size=20"]).contains("net_ena_sim0: wire=gen:size=20"));
        assert!(err(&["net_ena_sim0,wire=gen:color=red"]).contains("unknown gen wire option"));
        assert!(err(&["net_ena_sim0,wire=tap"]).contains("unknown wire 'tap'"));
        assert!(
            err(&["net_ena_sim0,wire=gen:dst=1.2.3"]).contains("dst=1.2.3 is not an IPv4 address")
        );
        assert!(err(&["net_ena_sim0,wire=gen:dport=70000"])
            .contains("dport=70000 is not a port number"));
        assert!(err(&["net_ena_sim0,wire=loopback:fast"]).contains("takes no option 'fast'"));
    }
}
