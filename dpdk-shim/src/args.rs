//! EAL command-line arguments, parsed as DPDK parses them: `-l`/`-c` lcores, `-n`, `-a` (PCI
//! allow list), `--vdev`, `--file-prefix`, `--huge-dir`, `--main-lcore`, then `--` and the
//! application's own arguments, returned untouched.
//!
//! Additions for this driver: `--pci-sysfs DIR` (where PCI devices are looked up; the PCI rig's
//! `pci` directory attaches to a device-model process) and `--sim-core N` (the core the
//! in-process device models poll on).

use crate::error::{Error, Result};
use std::path::PathBuf;

/// Parsed EAL arguments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EalArgs {
    /// The program name (argv\[0\]).
    pub program: String,
    /// CPU of each lcore, in lcore-id order (lcore 0 = the main lcore unless `--main-lcore`).
    pub lcores: Vec<usize>,
    /// Index into `lcores` of the main lcore.
    pub main_lcore: usize,
    /// PCI devices to use (`-a 0000:00:06.0[,devargs]`).
    pub allow: Vec<PciSpec>,
    /// In-process device models.
    pub vdevs: Vec<VdevSpec>,
    /// Prefix for this process's hugepage files (several processes can share a hugetlbfs).
    pub file_prefix: Option<String>,
    /// hugetlbfs directory for DMA memory.
    pub huge_dir: Option<PathBuf>,
    /// Where PCI devices are looked up (default `/sys/bus/pci/devices`, or `SYSFS_PCI_DEVICES`).
    pub pci_sysfs: Option<PathBuf>,
    /// Core for the in-process device models' thread.
    pub sim_core: Option<usize>,
}

/// `-a <address>[,key=value...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciSpec {
    /// The PCI address as given.
    pub bdf: String,
    /// Its device arguments.
    pub devargs: DevArgs,
}

/// Device arguments, as DPDK's ENA PMD takes them after `-a <address>,`: `llq_policy=0..3`
/// (0 host rings, 1 device's recommendation, 2 normal 128-byte entries, 3 large 256-byte),
/// `enable_llq=0|1` and `large_llq_hdr=0|1` (the 22.11 names), `miss_txc_to=<seconds>`
/// (0 turns the missing-TX-completion check off), and `wc=require|fallback|proceed` (what to
/// do without a write-combining BAR2; see [`ena::platform::pci::WcPolicy`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DevArgs {
    /// LLQ choice.
    pub llq_policy: Option<ena::com::LlqPolicy>,
    /// Missing TX completion timeout.
    pub miss_txc_to: Option<std::time::Duration>,
    /// Write-combining policy.
    pub wc: Option<ena::platform::pci::WcPolicy>,
}

/// Parses `key=value,key=value` device arguments.
pub fn parse_devargs(s: &str) -> Result<DevArgs> {
    use ena::com::LlqPolicy;
    use ena::platform::pci::WcPolicy;
    let mut d = DevArgs::default();
    let mut large = false;
    let mut enable: Option<bool> = None;
    for kv in s.split(',').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| Error::Args(format!("device argument '{kv}' is not key=value")))?;
        let flag = |v: &str| match v {
            "1" => Ok(true),
            "0" => Ok(false),
            _ => Err(Error::Args(format!("{k}={v} must be 0 or 1"))),
        };
        match k {
            "llq_policy" => {
                d.llq_policy = Some(match v {
                    "0" => LlqPolicy::Disabled,
                    "1" => LlqPolicy::Recommended,
                    "2" => LlqPolicy::Normal,
                    "3" => LlqPolicy::Large,
                    _ => return Err(Error::Args(format!("llq_policy={v} must be 0, 1, 2 or 3"))),
                })
            }
            "enable_llq" => enable = Some(flag(v)?),
            "large_llq_hdr" => large = flag(v)?,
            "miss_txc_to" => {
                let secs: u64 = v
                    .parse()
                    .ok()
                    .filter(|s| *s <= 60)
                    .ok_or_else(|| Error::Args(format!("miss_txc_to={v} must be 0..=60 seconds")))?;
                d.miss_txc_to = Some(std::time::Duration::from_secs(secs));
            }
            "wc" => {
                d.wc = Some(match v {
                    "require" => WcPolicy::Require,
                    "fallback" => WcPolicy::FallBackToHost,
                    "proceed" => WcPolicy::Proceed,
                    _ => return Err(Error::Args(format!("wc={v} must be require, fallback or proceed"))),
                })
            }
            _ => {
                return Err(Error::Args(format!(
                    "unknown device argument '{k}' (llq_policy, enable_llq, large_llq_hdr, miss_txc_to, wc)"
                )))
            }
        }
    }
    if d.llq_policy.is_none() {
        d.llq_policy = match (enable, large) {
            (Some(false), _) => Some(LlqPolicy::Disabled),
            (_, true) => Some(LlqPolicy::Large),
            (Some(true), false) => Some(LlqPolicy::Recommended),
            (None, false) => None,
        };
    }
    Ok(d)
}

/// `--vdev net_ena_sim<N>[,key=value...]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VdevSpec {
    /// The full name (`net_ena_sim0`).
    pub name: String,
    /// `wire=...` (default `gen`).
    pub wire: String,
    /// `queues=N`: queue pairs the device offers (default 8).
    pub queues: Option<u32>,
    /// `llq=0|1` (default 1).
    pub llq: Option<bool>,
    /// `mac=02:00:...`.
    pub mac: Option<[u8; 6]>,
    /// `mtu=N`: the device's starting MTU.
    pub mtu: Option<u32>,
}

/// Splits `args` (argv, program name first) into EAL arguments and the application's.
pub fn parse(args: &[String]) -> Result<(EalArgs, Vec<String>)> {
    let mut e = EalArgs {
        program: args.first().cloned().unwrap_or_else(|| "app".into()),
        ..Default::default()
    };
    let mut i = 1;
    let mut lcores_given = false;
    let mut main_lcore: Option<usize> = None;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            return finish(e, main_lcore, lcores_given, args[i + 1..].to_vec());
        }
        // Accept both "--opt value" and "--opt=value"; "-lVALUE" for short options too.
        let (opt, inline) = match a.split_once('=') {
            Some((o, v)) if a.starts_with("--") => (o.to_string(), Some(v.to_string())),
            _ if a.starts_with('-') && !a.starts_with("--") && a.len() > 2 => {
                (a[..2].to_string(), Some(a[2..].to_string()))
            }
            _ => (a.clone(), None),
        };
        let mut value = |name: &str| -> Result<String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            i += 1;
            args.get(i)
                .cloned()
                .ok_or_else(|| Error::Args(format!("option '{name}' needs a value")))
        };
        match opt.as_str() {
            "-l" | "--lcores" => {
                e.lcores = parse_lcore_list(&value("-l")?)?;
                lcores_given = true;
            }
            "-c" => {
                e.lcores = parse_coremask(&value("-c")?)?;
                lcores_given = true;
            }
            "-n" => {
                let v = value("-n")?;
                v.parse::<u32>()
                    .map_err(|_| Error::Args(format!("invalid number of memory channels '{v}'")))?;
            }
            "-a" | "--allow" => {
                let v = value("-a")?;
                let (bdf, devargs) = v.split_once(',').unwrap_or((v.as_str(), ""));
                ena::platform::pci::PciAddress::parse(bdf)
                    .map_err(|err| Error::Args(err.to_string()))?;
                let devargs = parse_devargs(devargs).map_err(|err| match err {
                    Error::Args(m) => Error::Args(format!("{bdf}: {m}")),
                    other => other,
                })?;
                e.allow.push(PciSpec {
                    bdf: bdf.to_string(),
                    devargs,
                });
            }
            "--vdev" => e.vdevs.push(parse_vdev(&value("--vdev")?)?),
            "--file-prefix" => e.file_prefix = Some(value("--file-prefix")?),
            "--huge-dir" => e.huge_dir = Some(PathBuf::from(value("--huge-dir")?)),
            "--pci-sysfs" => e.pci_sysfs = Some(PathBuf::from(value("--pci-sysfs")?)),
            "--main-lcore" => {
                let v = value("--main-lcore")?;
                main_lcore = Some(
                    v.parse()
                        .map_err(|_| Error::Args(format!("invalid main lcore '{v}'")))?,
                );
            }
            "--sim-core" => {
                let v = value("--sim-core")?;
                e.sim_core = Some(
                    v.parse()
                        .map_err(|_| Error::Args(format!("invalid --sim-core '{v}'")))?,
                );
            }
            // Accepted for compatibility; nothing to do with them here.
            "--log-level" | "--socket-mem" | "-m" | "--proc-type" => {
                value(&opt)?;
            }
            "--no-huge" | "--in-memory" | "--no-pci" | "--no-telemetry" | "--legacy-mem" => {}
            _ if a.starts_with('-') => {
                return Err(Error::Args(format!(
                    "unknown EAL option '{a}' (application options go after '--')"
                )))
            }
            // DPDK stops at the first non-option argument too.
            _ => return finish(e, main_lcore, lcores_given, args[i..].to_vec()),
        }
        i += 1;
    }
    finish(e, main_lcore, lcores_given, Vec::new())
}

fn finish(
    mut e: EalArgs,
    main: Option<usize>,
    given: bool,
    app: Vec<String>,
) -> Result<(EalArgs, Vec<String>)> {
    let cpus = allowed_cpus();
    if !given {
        // DPDK's default: every CPU the process may use is an lcore.
        e.lcores = cpus.clone();
    }
    if e.lcores.is_empty() {
        return Err(Error::Args("no lcores".into()));
    }
    if let Some(&bad) = e.lcores.iter().find(|c| !cpus.contains(c)) {
        return Err(Error::Args(format!(
            "lcore {bad} is not available: this process may use CPUs {}",
            format_cpu_list(&cpus)
        )));
    }
    e.main_lcore = match main {
        None => 0,
        Some(m) => e
            .lcores
            .iter()
            .position(|&c| c == m)
            .ok_or_else(|| Error::Args(format!("main lcore {m} is not in the lcore list")))?,
    };
    if let Some(c) = e.sim_core {
        if !cpus.contains(&c) {
            return Err(Error::Args(format!(
                "--sim-core {c} is not available: this process may use CPUs {}",
                format_cpu_list(&cpus)
            )));
        }
    }
    let mut names: Vec<&str> = e.vdevs.iter().map(|v| v.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::Args(format!("vdev '{}' given twice", w[0])));
    }
    Ok((e, app))
}

/// CPUs this process may use: the process's affinity (`Cpus_allowed_list` of its main
/// thread, which a thread pinned by an earlier EAL does not narrow), else as many as
/// `available_parallelism` counts.
pub fn allowed_cpus() -> Vec<usize> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|st| {
            st.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .and_then(|list| parse_lcore_list(list.trim()).ok())
        })
        .unwrap_or_else(|| {
            (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
        })
}

/// `0-3,6` for [0, 1, 2, 3, 6].
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            cpus[i].to_string()
        } else {
            format!("{}-{}", cpus[i], cpus[j])
        });
        i = j + 1;
    }
    out.join(",")
}

/// `0-3`, `0,2,4`, `1-2,5`.
pub fn parse_lcore_list(s: &str) -> Result<Vec<usize>> {
    let bad = || {
        Error::Args(format!(
            "invalid lcore list '{s}' (expected e.g. 0-3 or 0,2,4)"
        ))
    };
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b || b > 1023 {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    let mut seen = out.clone();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != out.len() || out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// `-c 0xf` (hex core mask).
pub fn parse_coremask(s: &str) -> Result<Vec<usize>> {
    let hex = s.trim_start_matches("0x").trim_start_matches("0X");
    let mask = u128::from_str_radix(hex, 16)
        .map_err(|_| Error::Args(format!("invalid coremask '{s}'")))?;
    let v: Vec<usize> = (0..128).filter(|b| mask & (1 << b) != 0).collect();
    if v.is_empty() {
        return Err(Error::Args(format!("coremask '{s}' selects no lcore")));
    }
    Ok(v)
}

/// `net_ena_sim0,wire=loopback,queues=4,llq=0,mac=02:00:00:00:00:01,mtu=9000`.
pub fn parse_vdev(s: &str) -> Result<VdevSpec> {
    let mut parts = s.split(',');
    let name = parts.next().unwrap_or_default().to_string();
    let n = name.strip_prefix("net_ena_sim").ok_or_else(|| {
        Error::Args(format!("unknown vdev driver '{name}' (this EAL has net_ena_sim<N>: an in-process ENA device model)"))
    })?;
    if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::Args(format!(
            "vdev name '{name}' must be net_ena_sim followed by a number"
        )));
    }
    let mut v = VdevSpec {
        name: name.clone(),
        wire: "gen".into(),
        ..Default::default()
    };
    for kv in parts {
        // `wire=pcap:in=a.pcap,out=b.pcap[,loop]`: the pcap wire's own options contain commas.
        let pcap_option = matches!(kv.split('=').next(), Some("in" | "out" | "loop"));
        if v.wire.starts_with("pcap") && pcap_option {
            v.wire.push(',');
            v.wire.push_str(kv);
            continue;
        }
        let (k, val) = kv
            .split_once('=')
            .ok_or_else(|| Error::Args(format!("{name}: '{kv}' is not key=value")))?;
        match k {
            "wire" => v.wire = val.to_string(),
            "queues" => {
                let q: u32 = val
                    .parse()
                    .map_err(|_| Error::Args(format!("{name}: queues={val} is not a number")))?;
                if !(1..=128).contains(&q) {
                    return Err(Error::Args(format!("{name}: queues={q} must be 1..=128")));
                }
                v.queues = Some(q);
            }
            "llq" => {
                v.llq = Some(match val {
                    "1" | "on" | "true" => true,
                    "0" | "off" | "false" => false,
                    _ => return Err(Error::Args(format!("{name}: llq={val} must be 0 or 1"))),
                })
            }
            "mac" => {
                v.mac = Some(parse_mac(val).ok_or_else(|| {
                    Error::Args(format!("{name}: mac={val} is not a MAC address"))
                })?)
            }
            "mtu" => {
                let m: u32 = val
                    .parse()
                    .map_err(|_| Error::Args(format!("{name}: mtu={val} is not a number")))?;
                if !(68..=9216).contains(&m) {
                    return Err(Error::Args(format!("{name}: mtu={m} must be 68..=9216")));
                }
                v.mtu = Some(m);
            }
            _ => {
                return Err(Error::Args(format!(
                    "{name}: unknown key '{k}' (wire, queues, llq, mac, mtu)"
                )))
            }
        }
    }
    Ok(v)
}

/// `02:00:00:00:00:01`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in mac.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        std::iter::once("app")
            .chain(s.split_whitespace())
            .map(String::from)
            .collect()
    }

    #[test]
    fn eal_and_app_arguments_split_at_double_dash() {
        let (e, app) = parse(&argv("-l 0-1 -n 4 --vdev net_ena_sim0,wire=loopback --vdev=net_ena_sim1 --file-prefix x -- --burst 32 -q")).unwrap();
        assert_eq!(e.lcores, vec![0, 1]);
        assert_eq!(e.vdevs.len(), 2);
        assert_eq!(e.vdevs[0].wire, "loopback");
        assert_eq!(e.vdevs[1].wire, "gen");
        assert_eq!(e.file_prefix.as_deref(), Some("x"));
        assert_eq!(app, vec!["--burst", "32", "-q"]);
        let (e, _) = parse(&argv(
            "-l 0 --vdev net_ena_sim0,wire=pcap:in=/tmp/a.pcap,out=/tmp/b.pcap,loop,queues=2",
        ))
        .unwrap();
        assert_eq!(e.vdevs[0].wire, "pcap:in=/tmp/a.pcap,out=/tmp/b.pcap,loop");
        assert_eq!(e.vdevs[0].queues, Some(2));
        let (e, app) = parse(&argv("-l0 -a 0000:00:06.0,llq_policy=0,miss_txc_to=0")).unwrap();
        assert!(app.is_empty());
        assert_eq!(e.allow[0].bdf, "0000:00:06.0");
        assert_eq!(
            e.allow[0].devargs.llq_policy,
            Some(ena::com::LlqPolicy::Disabled)
        );
        assert_eq!(
            e.allow[0].devargs.miss_txc_to,
            Some(std::time::Duration::ZERO)
        );
    }

    #[test]
    fn lcore_lists_and_masks() {
        assert_eq!(parse_lcore_list("0-3").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse_lcore_list("1-2,5").unwrap(), vec![1, 2, 5]);
        assert_eq!(parse_coremask("0x5").unwrap(), vec![0, 2]);
        for bad in ["", "3-1", "a", "0,0", "1-x"] {
            assert!(
                parse_lcore_list(bad)
                    .unwrap_err()
                    .to_string()
                    .contains("invalid lcore list"),
                "{bad}"
            );
        }
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 6, 8, 9]), "0-3,6,8-9");
        assert!(parse_coremask("0x0")
            .unwrap_err()
            .to_string()
            .contains("selects no lcore"));
    }

    #[test]
    fn errors_are_clear() {
        let err = |s: &str| parse(&argv(s)).unwrap_err().to_string();
        assert_eq!(
            err("--bogus"),
            "invalid EAL arguments: unknown EAL option '--bogus' (application options go after '--')"
        );
        assert_eq!(
            err("-l"),
            "invalid EAL arguments: option '-l' needs a value"
        );
        assert!(
            err("-l 0-999").contains("invalid lcore list")
                || err("-l 0-999").contains("is not available")
        );
        assert!(err("-l 512").contains("lcore 512 is not available: this process may use CPUs"));
        assert!(err("--vdev net_tap0").contains("unknown vdev driver 'net_tap0'"));
        assert!(err("--vdev net_ena_sim").contains("must be net_ena_sim followed by a number"));
        assert!(err("--vdev net_ena_sim0,queues=0").contains("queues=0 must be 1..=128"));
        assert!(err("--vdev net_ena_sim0,llq=2").contains("llq=2 must be 0 or 1"));
        assert!(err("--vdev net_ena_sim0,color=red").contains("unknown key 'color'"));
        assert!(err("--vdev net_ena_sim0,mac=zz").contains("mac=zz is not a MAC address"));
        assert!(err("--vdev net_ena_sim0 --vdev net_ena_sim0").contains("given twice"));
        assert!(err("-a 00:xx").contains("00:xx"));
        assert!(err("-l 0 --main-lcore 1").contains("main lcore 1 is not in the lcore list"));
        assert_eq!(
            err("-a 0000:00:06.0,large_llq_hdr=2"),
            "invalid EAL arguments: 0000:00:06.0: large_llq_hdr=2 must be 0 or 1"
        );
        assert!(err("-a 0000:00:06.0,foo=1").contains("unknown device argument 'foo'"));
    }
}
