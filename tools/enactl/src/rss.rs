//! `enactl rss-hash`: the RSS hash an ENA device computes for a flow, and the RX queue that
//! hash selects — computed by the device model's own code (`ena_sim::rss`), so that the tool,
//! the model and the tests agree by construction.
//!
//! The key convention matters (spec §9.3): the device byte-reverses the key in its buffer and
//! XORs the Toeplitz hash with an init value. Drivers differ in what they hand it:
//!
//! - `ena` (this project's driver, and DPDK's ENA PMD): the key in standard Toeplitz order,
//!   given to the device byte-reversed, init value 0 — so the device's hash *is* the standard
//!   Toeplitz hash of the key (Microsoft's published vectors come out exactly);
//! - `linux` (Linux's ena driver, `ethtool -x`/`-X hkey`): the key exactly as the device
//!   holds it, init value 0xFFFFFFFF — AWS's calculator example gives 0x5b5eb8e5.
//!
//! The indirection table has 128 entries by default; the queue is `RETA[hash % 128]`, and the
//! default table maps entry `i` to queue `i % queues`.

use crate::error::{CliError, Result};
use ena::hw::admin::{flow_type, hash_field, RSS_KEY_LEN};
use ena_sim::rss::{self, FlowHeaders, L3Addrs, RssState};
use std::net::IpAddr;

/// Entries of the default indirection table.
pub const DEFAULT_RETA_SIZE: usize = 128;

/// Whose key convention `--key` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyConvention {
    /// ena-rs and DPDK's ENA PMD: standard key order, byte-reversed into the device, init 0.
    Ena,
    /// Linux's ena driver and ethtool: the key as the device holds it, init 0xFFFFFFFF.
    Linux,
}

/// The transport protocol of the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum L4 {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// A fully parsed `rss-hash` request.
#[derive(Debug, Clone)]
pub struct HashRequest {
    /// The key as the user gave it.
    pub key: [u8; RSS_KEY_LEN],
    /// How the key reaches the device.
    pub convention: KeyConvention,
    /// Init value override.
    pub init: Option<u32>,
    /// Model an older device whose key cannot be changed (fixed key, symmetric, 16 bits).
    pub fixed_key: bool,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// (source, destination) ports and protocol; `None` hashes the addresses only.
    pub l4: Option<(L4, u16, u16)>,
    /// The indirection table, when known.
    pub reta: Option<Vec<u16>>,
    /// Also print the plain Toeplitz hash of the key.
    pub standard: bool,
}

/// What the device does with the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashResult {
    /// The hash input string.
    pub input: Vec<u8>,
    /// The key in the device's buffer.
    pub device_key: [u8; RSS_KEY_LEN],
    /// The init value.
    pub init: u32,
    /// The hash the device reports (and steers by).
    pub hash: u32,
    /// Standard Toeplitz of the key as given.
    pub standard: u32,
    /// Indirection table index (`hash % table size`).
    pub index: usize,
    /// The queue, when the table is known.
    pub queue: Option<u16>,
}

/// Parses a 40-byte key written as hex, with optional `0x` and `:`/`-`/space/`,` separators
/// (as `ethtool -x` prints it).
pub fn parse_key(text: &str) -> Result<[u8; RSS_KEY_LEN]> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let digits: String = t
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | ' ' | ','))
        .collect();
    let bad = |why: String| CliError::Usage(format!("--key: {why}"));
    if let Some(c) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(bad(format!("{c:?} is not a hex digit")));
    }
    if digits.len() != RSS_KEY_LEN * 2 {
        return Err(bad(format!(
            "expected {RSS_KEY_LEN} bytes ({} hex digits), got {} digits",
            RSS_KEY_LEN * 2,
            digits.len()
        )));
    }
    let mut key = [0u8; RSS_KEY_LEN];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte =
            u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|e| bad(e.to_string()))?;
    }
    Ok(key)
}

/// Parses `--reta`: queue numbers separated by commas; the count must be a power of two up
/// to 65536 (the device's table sizes).
pub fn parse_reta(text: &str) -> Result<Vec<u16>> {
    let reta = text
        .split(',')
        .map(|q| {
            q.trim()
                .parse::<u16>()
                .map_err(|_| CliError::Usage(format!("--reta: {q:?} is not a queue number")))
        })
        .collect::<Result<Vec<u16>>>()?;
    if !reta.len().is_power_of_two() || reta.len() > 1 << rss::IND_TABLE_LOG2_LIMIT {
        return Err(CliError::Usage(format!(
            "--reta: {} entries; the table must have a power-of-two number of entries (128 on \
             ENA devices)",
            reta.len()
        )));
    }
    Ok(reta)
}

/// The default table for `queues` RX queues: entry `i` → queue `i % queues`.
pub fn default_reta(queues: u16) -> Vec<u16> {
    (0..DEFAULT_RETA_SIZE)
        .map(|i| (i % usize::from(queues.max(1))) as u16)
        .collect()
}

/// Computes what the device does with the flow.
pub fn compute(req: &HashRequest) -> Result<HashResult> {
    let (l3, base_type) = match (req.src, req.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (
            L3Addrs::V4 {
                src: s.octets(),
                dst: d.octets(),
            },
            [flow_type::TCP4, flow_type::UDP4, flow_type::IP4],
        ),
        (IpAddr::V6(s), IpAddr::V6(d)) => (
            L3Addrs::V6 {
                src: s.octets(),
                dst: d.octets(),
            },
            [flow_type::TCP6, flow_type::UDP6, flow_type::IP6],
        ),
        _ => {
            return Err(CliError::Usage(
                "--src and --dst must both be IPv4 or both IPv6".into(),
            ))
        }
    };
    let (ft, ports, fields) = match req.l4 {
        Some((proto, sport, dport)) => (
            if proto == L4::Tcp {
                base_type[0]
            } else {
                base_type[1]
            },
            Some((sport, dport)),
            hash_field::L3_SA | hash_field::L3_DA | hash_field::L4_SP | hash_field::L4_DP,
        ),
        None => (base_type[2], None, hash_field::L3_SA | hash_field::L3_DA),
    };
    let flow = FlowHeaders {
        flow_type: ft,
        l2_src: [0; 6],
        l2_dst: [0; 6],
        l3,
        ports,
    };

    let mut state = if req.fixed_key {
        RssState::fixed_key_device()
    } else {
        let mut s = RssState::new(true);
        let (device_key, init) = match req.convention {
            KeyConvention::Ena => (rss::reversed_key(&req.key), 0),
            KeyConvention::Linux => (req.key, 0xffff_ffff),
        };
        s.set_key(&device_key);
        s.set_init_val(req.init.unwrap_or(init));
        s
    };
    let reta = req.reta.clone().unwrap_or_else(|| default_reta(1));
    let log2 = reta.len().trailing_zeros() as u16;
    state
        .set_indirection_table(log2, &reta)
        .map_err(|e| CliError::Usage(format!("--reta: {e}")))?;

    let input = flow.hash_input(fields, state.enabled_sort());
    let hash = state.hash_for(input.as_bytes());
    let queue = req.reta.is_some().then(|| state.queue_for_hash(hash));
    Ok(HashResult {
        input: input.as_bytes().to_vec(),
        device_key: *state.key(),
        init: state.init_val(),
        hash,
        standard: rss::toeplitz(&req.key, input.as_bytes()),
        index: hash as usize % reta.len(),
        queue,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Renders the result as `name: value` lines.
pub fn render(req: &HashRequest, r: &HashResult) -> String {
    let endpoint = |ip: IpAddr, port: Option<u16>| match (ip, port) {
        (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
        (a, Some(p)) => format!("{a}:{p}"),
        (a, None) => a.to_string(),
    };
    let (proto, sport, dport) = match req.l4 {
        Some((L4::Tcp, s, d)) => ("TCP", Some(s), Some(d)),
        Some((L4::Udp, s, d)) => ("UDP", Some(s), Some(d)),
        None => ("IP", None, None),
    };
    let family = if req.src.is_ipv4() { "IPv4" } else { "IPv6" };
    let mut out = vec![
        format!(
            "flow:        {proto}/{family} {} -> {}",
            endpoint(req.src, sport),
            endpoint(req.dst, dport)
        ),
        format!("hash input:  {}", hex(&r.input)),
    ];
    if req.fixed_key {
        out.push(
            "device:      fixed key, symmetric input, 16-bit hash (older ENA hardware)".into(),
        );
    } else {
        out.push(format!("key:         {}", hex(&req.key)));
    }
    out.push(format!("device key:  {}", hex(&r.device_key)));
    out.push(format!("init value:  {:#010x}", r.init));
    out.push(format!("hash:        {:#010x}", r.hash));
    if req.standard {
        out.push(format!("toeplitz:    {:#010x}", r.standard));
    }
    let size = req.reta.as_ref().map_or(DEFAULT_RETA_SIZE, Vec::len);
    out.push(format!("reta index:  {} (hash % {size})", r.index));
    match r.queue {
        Some(q) => out.push(format!("queue:       {q}")),
        None => out.push("queue:       (give --queues N or --reta LIST)".into()),
    }
    if req.l4.is_none() {
        out.push(
            "note:        ENA devices hash only TCP and UDP unless they let the driver choose \
             the hash input; other packets go to queue 0"
                .into(),
        );
    }
    out.join("\n") + "\n"
}
