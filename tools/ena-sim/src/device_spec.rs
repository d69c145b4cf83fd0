//! One `--dev` value: a device's wire and its settings, `WIRE[;KEY=VALUE...]`.
//!
//! Wire specs use ':' between their options and may use ',' and '=' inside one
//! (`pcap:in=a.pcap,out=b.pcap`), so the device's own settings are separated by ';', which no
//! wire spec uses. The first item is the wire unless it is written `wire=...`.

use std::collections::HashSet;

/// Most devices one `ena-sim` runs (the default PCI addresses and uio numbers stay distinct).
pub const MAX_DEVICES: usize = 32;
/// Queue pairs a device may offer (`DeviceConfig::with_queues` clamps to this).
pub const MAX_QUEUES: u32 = 128;
/// MTU bounds of the model (`DeviceConfig` `min_mtu`/`max_mtu`).
pub const MIN_MTU: u32 = 68;
/// Largest MTU the model accepts.
pub const MAX_MTU: u32 = 9216;

/// Settings every device takes unless its `--dev` says otherwise.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// Queue pairs.
    pub queues: u32,
    /// LLQ offered.
    pub llq: bool,
    /// Starting MTU.
    pub mtu: u32,
    /// Readless register reads (PCI class prog-if bit 0 clear).
    pub readless: bool,
}

/// Everything about one device, checked, before anything is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPlan {
    /// Position on the command line (port index).
    pub index: usize,
    /// The `--dev` text as given.
    pub text: String,
    /// The wire spec.
    pub wire: String,
    /// Queue pairs offered.
    pub queues: u32,
    /// LLQ offered (and BAR2 present).
    pub llq: bool,
    /// Starting MTU.
    pub mtu: u32,
    /// MAC address.
    pub mac: [u8; 6],
    /// PCI address, `dddd:bb:dd.f`.
    pub bdf: String,
    /// Readless register reads.
    pub readless: bool,
    /// The driver's hugepage file prefix for this device, if not the global one.
    pub file_prefix: Option<String>,
    /// `fault=` entries (the port is implied).
    pub faults: Vec<String>,
}

/// The device keys, for messages.
const KEYS: &str = "wire, queues, llq, mtu, mac, bdf, reads, prefix, fault";

/// Parses one `--dev` value for port `index`.
pub fn parse_dev(index: usize, text: &str, d: &Defaults) -> Result<PortPlan, String> {
    let bad = |m: String| format!("--dev '{text}': {m}");
    let mut plan = PortPlan {
        index,
        text: text.to_string(),
        wire: String::new(),
        queues: d.queues,
        llq: d.llq,
        mtu: d.mtu,
        mac: default_mac(index),
        bdf: default_bdf(index),
        readless: d.readless,
        file_prefix: None,
        faults: Vec::new(),
    };
    let mut seen: HashSet<&str> = HashSet::new();
    for (i, item) in text.split(';').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let keyed = item
            .split_once('=')
            .filter(|(k, _)| KEYS.split(", ").any(|known| known == *k));
        let (key, value) = match keyed {
            Some(kv) => kv,
            None if i == 0 => ("wire", item),
            None => {
                return Err(bad(format!(
                    "'{item}' is not KEY=VALUE with a known key ({KEYS}); put the wire first"
                )))
            }
        };
        if key != "fault" && !seen.insert(key) {
            return Err(bad(format!("'{key}' given twice")));
        }
        match key {
            "wire" => {
                if value.is_empty() {
                    return Err(bad("empty wire".into()));
                }
                plan.wire = value.to_string();
            }
            "queues" => {
                plan.queues = value
                    .parse()
                    .ok()
                    .filter(|q| (1..=MAX_QUEUES).contains(q))
                    .ok_or_else(|| bad(format!("queues={value} must be 1..={MAX_QUEUES}")))?;
            }
            "llq" => {
                plan.llq = parse_on_off(value).map_err(|m| bad(format!("llq={value}: {m}")))?
            }
            "mtu" => plan.mtu = parse_mtu(value).map_err(bad)?,
            "mac" => plan.mac = parse_mac(value).map_err(bad)?,
            "bdf" => plan.bdf = parse_bdf(value).map_err(bad)?,
            "reads" => plan.readless = parse_reads(value).map_err(bad)?,
            "prefix" => {
                check_prefix(value).map_err(bad)?;
                plan.file_prefix = Some(value.to_string());
            }
            "fault" => plan.faults.push(value.to_string()),
            other => return Err(bad(format!("unknown key '{other}' ({KEYS})"))),
        }
    }
    if plan.wire.is_empty() {
        return Err(bad(
            "no wire (e.g. --dev loopback, --dev 'pair:a;queues=4')".into(),
        ));
    }
    Ok(plan)
}

/// `on`/`off` and their usual spellings.
pub fn parse_on_off(v: &str) -> Result<bool, String> {
    match v {
        "on" | "1" | "true" | "yes" => Ok(true),
        "off" | "0" | "false" | "no" => Ok(false),
        _ => Err("must be on or off (1 or 0)".into()),
    }
}

/// `readless` or `plain`.
pub fn parse_reads(v: &str) -> Result<bool, String> {
    match v {
        "readless" => Ok(true),
        "plain" => Ok(false),
        _ => Err(format!("reads={v} must be readless or plain")),
    }
}

/// An L3 MTU within the model's bounds.
pub fn parse_mtu(v: &str) -> Result<u32, String> {
    v.parse()
        .ok()
        .filter(|m| (MIN_MTU..=MAX_MTU).contains(m))
        .ok_or_else(|| format!("mtu={v} must be {MIN_MTU}..={MAX_MTU}"))
}

/// Port `index`'s MAC: locally administered, `02:00:00:e4:a0:01` for port 0 (the model's
/// default), counting up.
pub fn default_mac(index: usize) -> [u8; 6] {
    let n = index + 1;
    [0x02, 0x00, 0x00, 0xe4, 0xa0 + (n >> 8) as u8, n as u8]
}

/// Port `index`'s PCI address: 0000:00:10.0, 0000:00:11.0, ... (device numbers 0x10 up, then
/// the next bus).
pub fn default_bdf(index: usize) -> String {
    let n = 0x10 + index;
    format!("0000:{:02x}:{:02x}.0", (n / 32) & 0xff, n % 32)
}

/// A PCI address `DDDD:BB:DD.F` (or `BB:DD.F`), returned as sysfs names it (lower-case, with
/// the domain).
pub fn parse_bdf(v: &str) -> Result<String, String> {
    let err = || format!("bdf={v} is not a PCI address DDDD:BB:DD.F (e.g. 0000:00:10.0)");
    let parts: Vec<&str> = v.split(':').collect();
    let (domain, bus, devfn) = match parts.as_slice() {
        [d, b, df] => (*d, *b, *df),
        [b, df] => ("0000", *b, *df),
        _ => return Err(err()),
    };
    let (dev, func) = devfn.split_once('.').ok_or_else(err)?;
    let hex = |s: &str, digits: usize| -> Result<u32, String> {
        if s.len() != digits || !s.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(err());
        }
        u32::from_str_radix(s, 16).map_err(|_| err())
    };
    let (domain, bus, dev) = (hex(domain, 4)?, hex(bus, 2)?, hex(dev, 2)?);
    let func = hex(func, 1)?;
    if dev > 0x1f || func > 7 {
        return Err(format!("bdf={v}: device must be 00..1f and function 0..7"));
    }
    Ok(format!("{domain:04x}:{bus:02x}:{dev:02x}.{func}"))
}

/// `aa:bb:cc:dd:ee:ff` (or with '-'); must be a unicast address.
pub fn parse_mac(v: &str) -> Result<[u8; 6], String> {
    let err = || format!("mac={v} is not a MAC address (aa:bb:cc:dd:ee:ff)");
    let parts: Vec<&str> = v.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(err());
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return Err(err());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| err())?;
    }
    if mac[0] & 1 != 0 {
        return Err(format!(
            "mac={v} is a multicast address; a port needs unicast"
        ));
    }
    Ok(mac)
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A hugepage file prefix: a plain file-name start, as DPDK's `--file-prefix` takes it.
pub fn check_prefix(v: &str) -> Result<(), String> {
    if v.is_empty()
        || v.len() > 64
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        || v.starts_with('.')
    {
        return Err(format!(
            "file prefix '{v}' must be 1-64 characters of A-Z a-z 0-9 _ - . (not starting with '.')"
        ));
    }
    Ok(())
}

/// Refuses a device list that would clash: too many devices, or two at one PCI address.
pub fn check_ports(ports: &[PortPlan]) -> Result<(), String> {
    if ports.len() > MAX_DEVICES {
        return Err(format!(
            "{} devices given; ena-sim runs at most {MAX_DEVICES}",
            ports.len()
        ));
    }
    let mut seen: HashSet<&str> = HashSet::new();
    for p in ports {
        if !seen.insert(&p.bdf) {
            return Err(format!(
                "two devices at PCI address {} (set bdf= on one of them)",
                p.bdf
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            queues: 8,
            llq: true,
            mtu: 1500,
            readless: true,
        }
    }

    #[test]
    fn a_bare_wire_takes_the_defaults() {
        let p = parse_dev(1, "gen:size=64:flows=256:lossless", &defaults()).unwrap();
        assert_eq!(p.wire, "gen:size=64:flows=256:lossless");
        assert_eq!((p.queues, p.llq, p.mtu, p.readless), (8, true, 1500, true));
        assert_eq!(p.bdf, "0000:00:11.0");
        assert_eq!(p.mac, [0x02, 0x00, 0x00, 0xe4, 0xa0, 0x02]);
        assert_eq!(p.file_prefix, None);
    }

    #[test]
    fn settings_follow_the_wire_after_semicolons() {
        let p = parse_dev(
            0,
            "pcap:in=a.pcap,out=b.pcap;queues=4;llq=off;mtu=9000;mac=02:11:22:33:44:55;\
             bdf=00:1f.3;reads=plain;prefix=drv1;fault=2s:link_flap;fault=every=3s:keepalive_stop",
            &defaults(),
        )
        .unwrap();
        assert_eq!(p.wire, "pcap:in=a.pcap,out=b.pcap");
        assert_eq!(
            (p.queues, p.llq, p.mtu, p.readless),
            (4, false, 9000, false)
        );
        assert_eq!(p.mac, [0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
        assert_eq!(p.bdf, "0000:00:1f.3");
        assert_eq!(p.file_prefix.as_deref(), Some("drv1"));
        assert_eq!(p.faults, vec!["2s:link_flap", "every=3s:keepalive_stop"]);
        let p = parse_dev(0, "queues=2;wire=loopback", &defaults()).unwrap();
        assert_eq!((p.wire.as_str(), p.queues), ("loopback", 2));
    }

    #[test]
    fn bad_settings_name_the_device_and_the_key() {
        let e = |s: &str| parse_dev(0, s, &defaults()).unwrap_err();
        assert_eq!(
            e("loopback;queues=0"),
            "--dev 'loopback;queues=0': queues=0 must be 1..=128"
        );
        assert!(e("loopback;llq=maybe").contains("llq=maybe: must be on or off"));
        assert!(e("loopback;mtu=20").contains("mtu=20 must be 68..=9216"));
        assert!(e("loopback;mac=01:00:00:00:00:01").contains("multicast"));
        assert!(e("loopback;mac=zz").contains("not a MAC address"));
        assert!(e("loopback;bdf=0000:00:20.0").contains("device must be 00..1f"));
        assert!(e("loopback;bdf=../x").contains("not a PCI address"));
        assert!(e("loopback;reads=fast").contains("must be readless or plain"));
        assert!(e("loopback;color=red").contains("not KEY=VALUE with a known key"));
        assert!(e("loopback;queues=2;queues=3").contains("'queues' given twice"));
        assert!(e("queues=2").contains("no wire"));
        assert!(e("loopback;prefix=a/b").contains("file prefix 'a/b'"));
    }

    #[test]
    fn default_addresses_count_up_and_stay_distinct() {
        assert_eq!(default_bdf(0), "0000:00:10.0");
        assert_eq!(default_bdf(15), "0000:00:1f.0");
        assert_eq!(default_bdf(16), "0000:01:00.0");
        let plans: Vec<PortPlan> = (0..MAX_DEVICES)
            .map(|i| parse_dev(i, "sink", &defaults()).unwrap())
            .collect();
        assert!(check_ports(&plans).is_ok());
        let mut dup = plans[..2].to_vec();
        dup[1].bdf = dup[0].bdf.clone();
        assert!(check_ports(&dup)
            .unwrap_err()
            .contains("two devices at PCI address 0000:00:10.0"));
        assert_eq!(format_mac(&default_mac(0)), "02:00:00:e4:a0:01");
        assert_eq!(format_mac(&default_mac(255)), "02:00:00:e4:a1:00");
    }
}
