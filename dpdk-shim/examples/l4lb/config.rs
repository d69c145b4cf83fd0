//! The load balancer's configuration: a small TOML file, validated into [`Config`], and its
//! compiled form for the data path, [`Dataplane`].
//!
//! # File format
//!
//! ```toml
//! lb_mac = "02:00:00:00:10:01"          # our MAC: outer Ethernet source
//! next_hop_mac = "02:00:00:00:10:fe"    # toward the backends: outer Ethernet destination
//! outer_source_pool = "10.200.0.0/24"   # outer IPv4 sources, one per flow (see packet.rs)
//! mtu = 1500                            # optional, default 1500
//! conntrack_size = 65536                # optional: flows tracked per lcore
//! maglev_table_size = 65537             # optional: prime
//!
//! [[vip]]
//! address = "192.0.2.10"                # IPv4 or IPv6
//! protocol = "tcp"                      # tcp | udp
//! port = 80
//! backends = [
//!   { name = "web-1", address = "10.0.1.11", weight = 2 },   # weight: optional, default 1
//!   { name = "web-2", address = "10.0.1.12", state = "draining" },
//! ]
//! ```
//!
//! [`Config::parse`] refuses, with a message naming the VIP and backend: unknown keys, a
//! duplicate VIP (same address, protocol and port), an empty pool, a duplicate backend name
//! or address within a pool, weight 0 (remove the backend or drain it instead), bad IP or MAC
//! addresses, port 0, a non-prime or oversized Maglev table, more backends than table slots,
//! conntrack size 0, an MTU outside 576..=9216, no VIP at all.
//!
//! # Identities
//!
//! The data path keeps flows pinned by [`BackendId`] (in `conntrack.rs`), across
//! configuration reloads, so an id must mean the same backend in the next configuration. It
//! is therefore not an index but a stable 32-bit hash of (VIP address, protocol, port,
//! backend name) — FNV-1a, fixed — and the Maglev permutation is derived from it, so the
//! tables do not depend on the order of the file either. The same name under two VIPs is two
//! backends (own weight, own state, own counters). A hash collision is reported at build time
//! ("rename one of them") rather than silently merging two backends. VIPs get a stable
//! [`VipId::key`] the same way, for the per-VIP counters.
//!
//! # States
//!
//! An *active* backend is in its VIP's Maglev table; a *draining* one is not (no new flows)
//! but keeps its address and id, so flows that conntrack already pins to it keep flowing
//! until they end. A backend that disappears from the file is *removed*:
//! [`Dataplane::backend_state`] says so, and [`Dataplane::removed_since`] lists the ids whose
//! conntrack entries each lcore should drop after a swap.
//!
//! # Swapping
//!
//! [`Dataplane::build`] does all the allocation and table population off the data path; the
//! result is immutable, so the main loop publishes it with an atomic pointer swap (arc-swap or
//! similar) and lcores read it without locks. Lookups ([`Dataplane::vip`],
//! [`Dataplane::pick`], [`Dataplane::backend`]) are allocation-free hash-map reads.
//!
//! Dependencies: `serde` (derive) and `toml`; and the sibling module `maglev`, reached as
//! `super::maglev` — a test that includes this file with `#[path]` must include `maglev.rs`
//! next to it as `mod maglev`.
#![allow(dead_code)] // a small library: the example uses a subset of it

use super::maglev::{self, BackendId, MaglevTable};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Default MTU of the link toward the backends.
pub const DEFAULT_MTU: u16 = 1500;
/// Default flows tracked per lcore.
pub const DEFAULT_CONNTRACK_SIZE: usize = 65536;

/// Transport protocol of a VIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }

    /// The lowercase name used in the file and in labels.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// A backend's state. The file may say `active` or `draining`; `Removed` is what the data
/// path gets for an id the current configuration does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendState {
    #[default]
    Active,
    Draining,
    #[serde(skip)]
    Removed,
}

/// A backend as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendConfig {
    pub name: String,
    pub address: Ipv4Addr,
    pub weight: u32,
    /// `Active` or `Draining`.
    pub state: BackendState,
}

/// A VIP and its pool, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipConfig {
    pub address: IpAddr,
    pub protocol: Protocol,
    pub port: u16,
    pub backends: Vec<BackendConfig>,
}

impl VipConfig {
    /// `tcp/192.0.2.10:80`, `udp/[2001:db8::10]:53`.
    pub fn label(&self) -> String {
        vip_label(self.address, self.protocol, self.port)
    }
}

fn vip_label(address: IpAddr, protocol: Protocol, port: u16) -> String {
    format!("{}/{}", protocol.name(), SocketAddr::new(address, port))
}

/// The validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub lb_mac: [u8; 6],
    pub next_hop_mac: [u8; 6],
    /// Network address and prefix length of the outer source pool (host bits zero, prefix
    /// 8..=32); `packet::SourcePool::new(addr, len)` makes the data-path form.
    pub outer_source_pool: (Ipv4Addr, u8),
    pub mtu: u16,
    pub conntrack_size: usize,
    pub maglev_table_size: usize,
    pub vips: Vec<VipConfig>,
}

// ---- the file as written ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    lb_mac: String,
    next_hop_mac: String,
    outer_source_pool: String,
    #[serde(default = "default_mtu")]
    mtu: u16,
    #[serde(default = "default_conntrack_size")]
    conntrack_size: u64,
    #[serde(default = "default_table_size")]
    maglev_table_size: u64,
    #[serde(default, rename = "vip")]
    vips: Vec<RawVip>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVip {
    address: String,
    protocol: Protocol,
    port: u16,
    #[serde(default)]
    backends: Vec<RawBackend>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    name: String,
    address: String,
    #[serde(default = "default_weight")]
    weight: u32,
    #[serde(default)]
    state: BackendState,
}

fn default_mtu() -> u16 {
    DEFAULT_MTU
}
fn default_conntrack_size() -> u64 {
    DEFAULT_CONNTRACK_SIZE as u64
}
fn default_table_size() -> u64 {
    maglev::DEFAULT_TABLE_SIZE as u64
}
fn default_weight() -> u32 {
    1
}

/// Parses `aa:bb:cc:dd:ee:ff` (or with `-`).
fn parse_mac(what: &str, s: &str) -> Result<[u8; 6], String> {
    let bad =
        || format!("{what}: bad MAC address '{s}' (expected six hex bytes like 02:00:00:00:10:01)");
    let mut mac = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for b in &mut mac {
        let p = parts.next().ok_or_else(bad)?;
        if p.len() != 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    if mac[0] & 1 != 0 {
        return Err(format!("{what}: {s} is a multicast/broadcast MAC address"));
    }
    Ok(mac)
}

fn parse_pool(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let bad = |why: &str| format!("outer_source_pool '{s}': {why}");
    let (a, l) = s
        .split_once('/')
        .ok_or_else(|| bad("expected address/prefix-length, e.g. 10.200.0.0/24"))?;
    let addr: Ipv4Addr = a.trim().parse().map_err(|_| bad("bad IPv4 address"))?;
    let len: u8 = l.trim().parse().map_err(|_| bad("bad prefix length"))?;
    if !(8..=32).contains(&len) {
        return Err(bad("the prefix length must be 8 to 32"));
    }
    let host_mask = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
    if u32::from(addr) & host_mask != 0 {
        return Err(bad(&format!(
            "host bits are set (did you mean {}/{len}?)",
            Ipv4Addr::from(u32::from(addr) & !host_mask)
        )));
    }
    Ok((addr, len))
}

impl Config {
    /// Parses and validates a configuration file's text.
    pub fn parse(text: &str) -> Result<Config, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| format!("configuration: {e}"))?;
        let lb_mac = parse_mac("lb_mac", &raw.lb_mac)?;
        let next_hop_mac = parse_mac("next_hop_mac", &raw.next_hop_mac)?;
        let outer_source_pool = parse_pool(&raw.outer_source_pool)?;
        if !(576..=9216).contains(&raw.mtu) {
            return Err(format!("mtu {} is outside 576..=9216", raw.mtu));
        }
        let table = usize::try_from(raw.maglev_table_size).unwrap_or(usize::MAX);
        if table > maglev::MAX_TABLE_SIZE {
            return Err(maglev::MaglevError::TooLarge { size: table }.to_string());
        }
        if !maglev::is_prime(table as u64) {
            return Err(maglev::MaglevError::NotPrime {
                size: table,
                next_prime: maglev::next_prime(table),
            }
            .to_string());
        }
        if raw.conntrack_size == 0 || raw.conntrack_size > u64::from(u32::MAX - 1) {
            return Err(format!(
                "conntrack_size {} must be 1 to {}",
                raw.conntrack_size,
                u32::MAX - 1
            ));
        }
        if raw.vips.is_empty() {
            return Err("no [[vip]] configured".to_string());
        }

        let mut vips: Vec<VipConfig> = Vec::with_capacity(raw.vips.len());
        for (n, rv) in raw.vips.into_iter().enumerate() {
            let n = n + 1;
            let address: IpAddr = rv.address.trim().parse().map_err(|_| {
                format!(
                    "vip #{n}: bad address '{}' (expected an IPv4 or IPv6 address)",
                    rv.address
                )
            })?;
            let label = vip_label(address, rv.protocol, rv.port);
            let at = format!("vip #{n} ({label})");
            if address.is_unspecified() || address.is_multicast() {
                return Err(format!("{at}: {address} cannot be a VIP"));
            }
            if rv.port == 0 {
                return Err(format!("{at}: port 0"));
            }
            if let Some(m) = vips.iter().position(|v| {
                v.address == address && v.protocol == rv.protocol && v.port == rv.port
            }) {
                return Err(format!("{at}: duplicate VIP (also vip #{})", m + 1));
            }
            if rv.backends.is_empty() {
                return Err(format!("{at}: empty backend pool"));
            }
            if rv.backends.len() > table {
                return Err(format!(
                    "{at}: {} backends do not fit a Maglev table of {table} slots",
                    rv.backends.len()
                ));
            }
            let mut backends: Vec<BackendConfig> = Vec::with_capacity(rv.backends.len());
            for rb in rv.backends {
                let name = rb.name.trim().to_string();
                if name.is_empty() {
                    return Err(format!("{at}: a backend has an empty name"));
                }
                let bat = format!("{at}, backend '{name}'");
                let baddr: Ipv4Addr = rb.address.trim().parse().map_err(|_| {
                    format!(
                        "{bat}: bad address '{}' (backends are IPv4 addresses)",
                        rb.address
                    )
                })?;
                if baddr.is_unspecified() || baddr.is_multicast() || baddr.is_broadcast() {
                    return Err(format!("{bat}: {baddr} cannot be a backend"));
                }
                if rb.weight == 0 {
                    return Err(format!(
                        "{bat}: weight 0 (remove the backend, or set state = \"draining\")"
                    ));
                }
                if backends.iter().any(|b| b.name == name) {
                    return Err(format!("{bat}: duplicate backend name in this pool"));
                }
                if let Some(b) = backends.iter().find(|b| b.address == baddr) {
                    return Err(format!(
                        "{bat}: address {baddr} is already backend '{}' in this pool",
                        b.name
                    ));
                }
                backends.push(BackendConfig {
                    name,
                    address: baddr,
                    weight: rb.weight,
                    state: rb.state,
                });
            }
            vips.push(VipConfig {
                address,
                protocol: rv.protocol,
                port: rv.port,
                backends,
            });
        }
        Ok(Config {
            lb_mac,
            next_hop_mac,
            outer_source_pool,
            mtu: raw.mtu,
            conntrack_size: raw.conntrack_size as usize,
            maglev_table_size: table,
            vips,
        })
    }

    /// Reads and parses a file.
    pub fn from_file(path: &std::path::Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        Config::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The configuration as a file [`Config::parse`] reads back to the same value (the
    /// control path edits a `Config` and re-parses this text, so that every edit passes the
    /// same validation as a file).
    pub fn to_toml(&self) -> String {
        let mac = |m: [u8; 6]| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        let mut t = format!(
            "lb_mac = \"{}\"\nnext_hop_mac = \"{}\"\nouter_source_pool = \"{}/{}\"\nmtu = {}\nconntrack_size = {}\nmaglev_table_size = {}\n",
            mac(self.lb_mac),
            mac(self.next_hop_mac),
            self.outer_source_pool.0,
            self.outer_source_pool.1,
            self.mtu,
            self.conntrack_size,
            self.maglev_table_size
        );
        for v in &self.vips {
            t += &format!(
                "\n[[vip]]\naddress = \"{}\"\nprotocol = \"{}\"\nport = {}\nbackends = [\n",
                v.address,
                v.protocol.name(),
                v.port
            );
            for b in &v.backends {
                let state = match b.state {
                    BackendState::Draining => ", state = \"draining\"",
                    _ => "",
                };
                t += &format!(
                    "  {{ name = \"{}\", address = \"{}\", weight = {}{state} }},\n",
                    b.name.replace('\\', "\\\\").replace('"', "\\\""),
                    b.address,
                    b.weight
                );
            }
            t += "]\n";
        }
        t
    }

    /// A sample configuration (the text of the example's sample file): two VIPs on one IPv4
    /// address, one IPv6 VIP, weights and a draining backend.
    pub fn sample() -> &'static str {
        SAMPLE
    }
}

/// The sample file, `examples/l4lb/sample.toml`.
const SAMPLE: &str = include_str!("sample.toml");

// ---- the compiled form ----

/// FNV-1a 64 folded to 32 bits: a fixed hash for stable ids.
fn stable_id(parts: &[&[u8]]) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, p) in parts.iter().enumerate() {
        // A separator between parts, so ("ab","c") and ("a","bc") differ.
        for &b in p.iter().chain(std::iter::once(&(0xff ^ i as u8))) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    (h ^ (h >> 32)) as u32
}

fn ip_bytes(a: IpAddr) -> [u8; 17] {
    let mut out = [0u8; 17];
    match a {
        IpAddr::V4(v4) => out[1..5].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => {
            out[0] = 6;
            out[1..].copy_from_slice(&v6.octets());
        }
    }
    out
}

/// The stable id of a VIP's key.
fn vip_key(address: IpAddr, proto: u8, port: u16) -> u32 {
    stable_id(&[b"vip", &ip_bytes(address), &[proto], &port.to_be_bytes()])
}

/// The stable id of a backend of a VIP.
fn backend_id(address: IpAddr, proto: u8, port: u16, name: &str) -> BackendId {
    stable_id(&[
        b"backend",
        &ip_bytes(address),
        &[proto],
        &port.to_be_bytes(),
        name.as_bytes(),
    ])
}

/// A small fast hasher for the data-path maps (keys come from the configuration, so there
/// is no flooding concern): Fx-style word mixing with a final avalanche so that hashbrown's
/// low-bit bucket choice is well spread.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl FxHasher {
    #[inline(always)]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^ (x >> 33)
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A VIP of one [`Dataplane`]: its position there plus its stable key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VipId {
    index: u32,
    key: u32,
}

impl VipId {
    /// Position in [`Dataplane::vips`] (valid for the dataplane that gave it).
    pub fn index(self) -> usize {
        self.index as usize
    }

    /// Stable across reloads (from address, protocol and port): key the per-VIP counters by it.
    pub fn key(self) -> u32 {
        self.key
    }
}

/// A VIP in the data path.
#[derive(Clone, Debug)]
pub struct Vip {
    pub id: VipId,
    pub address: IpAddr,
    /// IP protocol number.
    pub proto: u8,
    pub port: u16,
    /// `tcp/192.0.2.10:80`.
    pub label: String,
    /// All its backends, active and draining.
    pub backends: Vec<BackendId>,
    table: MaglevTable,
}

impl Vip {
    /// The Maglev table over its active backends.
    pub fn table(&self) -> &MaglevTable {
        &self.table
    }
}

/// A backend in the data path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    pub id: BackendId,
    pub name: String,
    /// `tcp/192.0.2.10:80/web-1`.
    pub label: String,
    pub address: Ipv4Addr,
    pub weight: u32,
    /// `Active` or `Draining`.
    pub state: BackendState,
    pub vip: VipId,
}

/// The immutable, compiled configuration the lcores read. See the module doc.
pub struct Dataplane {
    config: Config,
    vips: Vec<Vip>,
    by_vip: FxMap<(IpAddr, u8, u16), u32>,
    backends: Vec<Backend>,
    by_backend: FxMap<BackendId, u32>,
}

impl fmt::Debug for Dataplane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataplane")
            .field("vips", &self.vips.len())
            .field("backends", &self.backends.len())
            .finish()
    }
}

impl Dataplane {
    /// Compiles `config`: ids, Maglev tables over the active backends, lookup maps.
    /// Control path: allocates, and populating a 65537-slot table takes a few milliseconds.
    pub fn build(config: &Config) -> Result<Dataplane, String> {
        let mut vips = Vec::with_capacity(config.vips.len());
        let mut by_vip = FxMap::default();
        let mut backends: Vec<Backend> = Vec::new();
        let mut by_backend: FxMap<BackendId, u32> = FxMap::default();
        let mut vip_keys: FxMap<u32, String> = FxMap::default();
        for (i, vc) in config.vips.iter().enumerate() {
            let proto = vc.protocol.number();
            let label = vc.label();
            let id = VipId {
                index: i as u32,
                key: vip_key(vc.address, proto, vc.port),
            };
            if let Some(other) = vip_keys.insert(id.key, label.clone()) {
                return Err(format!(
                    "VIPs {other} and {label} have the same stable key {:#010x}; change one",
                    id.key
                ));
            }
            if by_vip
                .insert((vc.address, proto, vc.port), i as u32)
                .is_some()
            {
                return Err(format!("{label}: duplicate VIP"));
            }
            let mut ids = Vec::with_capacity(vc.backends.len());
            let mut active = Vec::with_capacity(vc.backends.len());
            for bc in &vc.backends {
                let bid = backend_id(vc.address, proto, vc.port, &bc.name);
                let blabel = format!("{label}/{}", bc.name);
                if let Some(&j) = by_backend.get(&bid) {
                    let other = backends.get(j as usize).map_or("?", |b| b.label.as_str());
                    return Err(format!(
                        "backends {other} and {blabel} have the same id {bid:#010x}; rename one of them"
                    ));
                }
                by_backend.insert(bid, backends.len() as u32);
                backends.push(Backend {
                    id: bid,
                    name: bc.name.clone(),
                    label: blabel,
                    address: bc.address,
                    weight: bc.weight,
                    state: bc.state,
                    vip: id,
                });
                ids.push(bid);
                if bc.state == BackendState::Active {
                    active.push((bid, bc.weight));
                }
            }
            let table = MaglevTable::build(&active, config.maglev_table_size)
                .map_err(|e| format!("{label}: {e}"))?;
            vips.push(Vip {
                id,
                address: vc.address,
                proto,
                port: vc.port,
                label,
                backends: ids,
                table,
            });
        }
        Ok(Dataplane {
            config: config.clone(),
            vips,
            by_vip,
            backends,
            by_backend,
        })
    }

    /// The configuration this was built from (MACs, MTU, source pool, sizes).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The VIP a packet to `dst`:`dport` over `proto` is for (from a parsed flow:
    /// `vip(flow.dst, flow.proto, flow.dport)`).
    #[inline]
    pub fn vip(&self, dst: IpAddr, proto: u8, dport: u16) -> Option<VipId> {
        let &i = self.by_vip.get(&(dst, proto, dport))?;
        self.vips.get(i as usize).map(|v| v.id)
    }

    /// The backend for a *new* flow of `vip` with flow hash `hash` (Maglev over the active
    /// backends): its id and address. `None` when the VIP has no active backend, or `vip`
    /// came from another dataplane and does not name a VIP of this one.
    #[inline]
    pub fn pick(&self, vip: VipId, hash: u32) -> Option<(BackendId, Ipv4Addr)> {
        let v = self.vips.get(vip.index as usize).filter(|v| v.id == vip)?;
        let id = v.table.lookup(hash)?;
        let b = self.backend(id)?;
        Some((id, b.address))
    }

    /// A backend by id (active or draining); `None` if removed.
    #[inline]
    pub fn backend(&self, id: BackendId) -> Option<&Backend> {
        let &i = self.by_backend.get(&id)?;
        self.backends.get(i as usize)
    }

    /// `Active`, `Draining`, or `Removed` for an id this configuration does not have.
    #[inline]
    pub fn backend_state(&self, id: BackendId) -> BackendState {
        self.backend(id).map_or(BackendState::Removed, |b| b.state)
    }

    /// All VIPs, in file order (`vips()[id.index()]`).
    pub fn vips(&self) -> &[Vip] {
        &self.vips
    }

    /// All backends (active and draining), in file order.
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// Backends of `old` that this dataplane no longer has: after swapping `self` in, each
    /// lcore calls `ConnTrack::remove_backend` for each of them.
    pub fn removed_since(&self, old: &Dataplane) -> Vec<BackendId> {
        old.backends
            .iter()
            .map(|b| b.id)
            .filter(|id| !self.by_backend.contains_key(id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn sample() -> Config {
        Config::parse(Config::sample()).unwrap()
    }

    #[test]
    fn to_toml_reads_back_to_the_same_config() {
        let c = sample();
        assert_eq!(Config::parse(&c.to_toml()).unwrap(), c);
        let mut edited = c.clone();
        edited.vips[0].backends[0].name = "odd \"name\"".into();
        edited.vips[0].backends[1].state = BackendState::Draining;
        assert_eq!(Config::parse(&edited.to_toml()).unwrap(), edited);
    }

    /// The sample with `from` replaced by `to` (which must occur).
    fn edited(from: &str, to: &str) -> String {
        assert!(SAMPLE.contains(from), "{from}");
        SAMPLE.replacen(from, to, 1)
    }

    fn err(text: &str) -> String {
        Config::parse(text).unwrap_err()
    }

    #[test]
    fn config_sample_parses_to_the_expected_values() {
        let c = sample();
        assert_eq!(c.lb_mac, [0x02, 0, 0, 0, 0x10, 0x01]);
        assert_eq!(c.next_hop_mac, [0x02, 0, 0, 0, 0x10, 0xfe]);
        assert_eq!(c.outer_source_pool, (Ipv4Addr::new(10, 200, 0, 0), 24));
        assert_eq!(
            (c.mtu, c.conntrack_size, c.maglev_table_size),
            (1500, 65536, 65537)
        );
        assert_eq!(c.vips.len(), 3);
        let web = &c.vips[0];
        assert_eq!(web.label(), "tcp/192.0.2.10:80");
        assert_eq!(web.backends.len(), 4);
        assert_eq!(
            web.backends[3],
            BackendConfig {
                name: "web-4".into(),
                address: Ipv4Addr::new(10, 0, 1, 14),
                weight: 1,
                state: BackendState::Draining,
            }
        );
        assert_eq!(web.backends[2].weight, 2);
        let dns = &c.vips[1];
        assert_eq!((dns.protocol, dns.port), (Protocol::Udp, 53));
        assert!(dns
            .backends
            .iter()
            .all(|b| b.weight == 1 && b.state == BackendState::Active));
        assert_eq!(c.vips[2].label(), "tcp/[2001:db8::10]:443");
    }

    #[test]
    fn config_defaults() {
        let text = r#"
            lb_mac = "02:00:00:00:00:01"
            next_hop_mac = "02-00-00-00-00-02"
            outer_source_pool = "10.9.0.0/16"
            [[vip]]
            address = "192.0.2.1"
            protocol = "udp"
            port = 4789
            backends = [{ name = "a", address = "10.0.0.1" }]
        "#;
        let c = Config::parse(text).unwrap();
        assert_eq!(
            (c.mtu, c.conntrack_size, c.maglev_table_size),
            (1500, 65536, 65537)
        );
        assert_eq!(c.next_hop_mac, [2, 0, 0, 0, 0, 2]);
        assert_eq!(c.vips[0].backends[0].weight, 1);
        assert_eq!(c.vips[0].backends[0].state, BackendState::Active);
    }

    #[test]
    fn config_errors_are_clear() {
        let cases: &[(String, &[&str])] = &[
            (
                edited("protocol = \"udp\"\nport = 53", "protocol = \"tcp\"\nport = 80"),
                &["vip #2 (tcp/192.0.2.10:80)", "duplicate VIP", "vip #1"],
            ),
            (
                edited(
                    "  { name = \"dns-1\", address = \"10.0.2.21\" },\n  { name = \"dns-2\", address = \"10.0.2.22\" },\n",
                    "",
                ),
                &["vip #2 (udp/192.0.2.10:53)", "empty backend pool"],
            ),
            (
                edited("weight = 2", "weight = 0"),
                &["backend 'web-3'", "weight 0"],
            ),
            (
                edited("\"10.0.1.13\"", "\"10.0.1.x\""),
                &["backend 'web-3'", "bad address '10.0.1.x'"],
            ),
            (
                edited("\"10.0.1.13\"", "\"2001:db8::13\""),
                &["backend 'web-3'", "IPv4"],
            ),
            (
                edited("address = \"192.0.2.10\"", "address = \"192.0.2\""),
                &["vip #1", "bad address '192.0.2'"],
            ),
            (
                edited("maglev_table_size = 65537", "maglev_table_size = 65536"),
                &["65536 is not prime", "65537"],
            ),
            (
                edited("maglev_table_size = 65537", "maglev_table_size = 3"),
                &["vip #1", "4 backends do not fit a Maglev table of 3 slots"],
            ),
            (
                edited("lb_mac = \"02:00:00:00:10:01\"", "lb_mac = \"02:00:00:00:10\""),
                &["lb_mac", "bad MAC address"],
            ),
            (
                edited("next_hop_mac = \"02:00:00:00:10:fe\"", "next_hop_mac = \"ff:ff:ff:ff:ff:ff\""),
                &["next_hop_mac", "multicast"],
            ),
            (
                edited("\"10.200.0.0/24\"", "\"10.200.0.1/24\""),
                &["outer_source_pool", "host bits", "10.200.0.0/24"],
            ),
            (
                edited("conntrack_size = 65536", "conntrack_size = 0"),
                &["conntrack_size 0"],
            ),
            (edited("mtu = 1500", "mtu = 100"), &["mtu 100"]),
            (edited("mtu = 1500", "mtu = 70000"), &["mtu"]),
            (edited("port = 80", "port = 0"), &["tcp/192.0.2.10:0", "port 0"]),
            (
                edited("protocol = \"tcp\"", "protocol = \"sctp\""),
                &["sctp", "tcp", "udp"],
            ),
            (
                edited("state = \"draining\"", "state = \"removed\""),
                &["removed"],
            ),
            (edited("mtu = 1500", "mtu = 1500\nmtus = 1"), &["mtus"]),
            (
                edited("name = \"web-2\"", "name = \"web-1\""),
                &["backend 'web-1'", "duplicate backend name"],
            ),
            (
                edited("\"10.0.1.12\", weight = 1", "\"10.0.1.11\", weight = 1"),
                &["backend 'web-2'", "already backend 'web-1'"],
            ),
            (
                SAMPLE.split("[[vip]]").next().unwrap().to_string(),
                &["no [[vip]]"],
            ),
            ("lb_mac = ".to_string(), &["configuration"]),
        ];
        for (text, wants) in cases {
            let e = err(text);
            for w in *wants {
                assert!(e.contains(w), "error {e:?} lacks {w:?}");
            }
        }
    }

    #[test]
    fn config_dataplane_lookups() {
        let c = sample();
        let dp = Dataplane::build(&c).unwrap();
        let vip4: IpAddr = Ipv4Addr::new(192, 0, 2, 10).into();
        let web = dp.vip(vip4, 6, 80).unwrap();
        let dns = dp.vip(vip4, 17, 53).unwrap();
        let v6: IpAddr = "2001:db8::10".parse::<Ipv6Addr>().unwrap().into();
        let web6 = dp.vip(v6, 6, 443).unwrap();
        assert_eq!((web.index(), dns.index(), web6.index()), (0, 1, 2));
        assert_eq!(dp.vip(vip4, 17, 80), None);
        assert_eq!(dp.vip(vip4, 6, 81), None);
        assert_eq!(dp.vip(Ipv4Addr::new(192, 0, 2, 11).into(), 6, 80), None);
        assert_eq!(dp.vips()[0].label, "tcp/192.0.2.10:80");

        // New flows go to active backends only, in weight proportion 1:1:2.
        let mut counts: HashMap<Ipv4Addr, u32> = HashMap::new();
        for h in 0..65537u32 {
            let (id, addr) = dp.pick(web, h).unwrap();
            assert_eq!(dp.backend_state(id), BackendState::Active);
            assert_eq!(dp.backend(id).unwrap().address, addr);
            *counts.entry(addr).or_default() += 1;
        }
        assert_eq!(counts.len(), 3);
        assert!(
            !counts.contains_key(&Ipv4Addr::new(10, 0, 1, 14)),
            "draining got new flows"
        );
        let web3 = counts[&Ipv4Addr::new(10, 0, 1, 13)] as f64;
        assert!((web3 / 65537.0 - 0.5).abs() < 0.005, "{web3}");

        // The draining backend is still known, with its address, for pinned flows.
        let web4 = dp.backends().iter().find(|b| b.name == "web-4").unwrap();
        assert_eq!(dp.backend_state(web4.id), BackendState::Draining);
        assert_eq!(
            dp.backend(web4.id).unwrap().address,
            Ipv4Addr::new(10, 0, 1, 14)
        );
        assert_eq!(web4.label, "tcp/192.0.2.10:80/web-4");
        assert_eq!(web4.vip, web);
        assert_eq!(dp.backend_state(0x1234_5678), BackendState::Removed);
        // The same name under two VIPs is two backends.
        let named: Vec<_> = dp.backends().iter().filter(|b| b.name == "web-1").collect();
        assert_eq!(named.len(), 2);
        assert_ne!(named[0].id, named[1].id);
    }

    #[test]
    fn config_vip_with_only_draining_backends_picks_none() {
        let text = edited(
            "{ name = \"dns-1\", address = \"10.0.2.21\" },\n  { name = \"dns-2\", address = \"10.0.2.22\" },",
            "{ name = \"dns-1\", address = \"10.0.2.21\", state = \"draining\" },",
        );
        let dp = Dataplane::build(&Config::parse(&text).unwrap()).unwrap();
        let dns = dp.vip(Ipv4Addr::new(192, 0, 2, 10).into(), 17, 53).unwrap();
        assert_eq!(dp.pick(dns, 12345), None);
        assert!(dp.vips()[1].table().is_empty());
    }

    #[test]
    fn config_ids_are_stable_across_reorder_and_edits() {
        let a = Dataplane::build(&sample()).unwrap();
        // Same backends, other order, one more backend, and another VIP removed.
        let mut c = sample();
        c.vips[0].backends.reverse();
        c.vips[0].backends.push(BackendConfig {
            name: "web-5".into(),
            address: Ipv4Addr::new(10, 0, 1, 15),
            weight: 1,
            state: BackendState::Active,
        });
        c.vips.remove(1);
        let b = Dataplane::build(&c).unwrap();
        for old in a.backends().iter().filter(|x| x.label.starts_with("tcp/")) {
            let new = b.backends().iter().find(|x| x.label == old.label).unwrap();
            assert_eq!(new.id, old.id, "{}", old.label);
        }
        assert_eq!(a.vips()[0].id.key(), b.vips()[0].id.key());
        assert_eq!(a.vips()[2].id.key(), b.vips()[1].id.key());
        // Reordering alone gives the identical table.
        let mut r = sample();
        r.vips[0].backends.reverse();
        let r = Dataplane::build(&r).unwrap();
        assert_eq!(r.vips()[0].table(), a.vips()[0].table());
        // The removed VIP's backends are reported for conntrack cleanup.
        let mut removed = b.removed_since(&a);
        removed.sort_unstable();
        let mut want: Vec<_> = a.vips()[1].backends.clone();
        want.sort_unstable();
        assert_eq!(removed, want);
        assert!(a.removed_since(&a).is_empty());
        // A VipId from the old dataplane does not pick in the new one when the index moved.
        let old_v6 = a.vips()[2].id;
        assert_eq!(b.pick(old_v6, 1), None);
        assert!(b.pick(b.vips()[1].id, 1).is_some());
    }

    #[test]
    fn config_stable_ids_are_pinned() {
        // All instances and versions must derive the same ids (they key conntrack and the
        // Maglev permutations).
        let v: IpAddr = Ipv4Addr::new(192, 0, 2, 10).into();
        assert_eq!(backend_id(v, 6, 80, "web-1"), backend_id(v, 6, 80, "web-1"));
        assert_ne!(
            backend_id(v, 6, 80, "web-1"),
            backend_id(v, 17, 80, "web-1")
        );
        assert_ne!(backend_id(v, 6, 80, "web-1"), backend_id(v, 6, 81, "web-1"));
        assert_ne!(vip_key(v, 6, 80), backend_id(v, 6, 80, ""));
        assert_eq!(stable_id(&[]), 0xcbf2_9ce4 ^ 0x8422_2325);
        assert_eq!(backend_id(v, 6, 80, "web-1"), PINNED_WEB1);
    }

    const PINNED_WEB1: u32 = 0x2d06_a44a;
}
