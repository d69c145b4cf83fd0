//! `enactl info`: bring a device up with the driver and print what it offers.
//!
//! The device is reached through the platform its binding calls for:
//!
//! | bound to | platform |
//! |---|---|
//! | `uio_pci_generic`, `igb_uio` | [`PciPlatform`]: BARs from sysfs, DMA from hugepages by physical address |
//! | `vfio-pci` | [`VfioPlatform`]: VFIO container/group/device, with the IOMMU or in no-IOMMU mode |
//! | a kernel driver (`ena`) or none | refused: `enactl bind` it first |
//!
//! `--access sysfs` takes the sysfs path for a vfio-pci device too, which works only in
//! no-IOMMU mode (the device is given physical addresses) and needs no `/dev/vfio` node.
//!
//! `--vdev SPEC` instead builds an in-process device model on a wire (loopback by default),
//! the same way `--vdev net_ena_sim<N>` does for applications.
//!
//! Bring-up runs twice: once with the core ([`EnaDevice`]) for the registers and bitmaps only
//! it keeps (versions, features, capabilities), then as a [`Port`] for what an application
//! sees ([`DevInfo`]) and the link state, which arrives as an AENQ event after bring-up.

use crate::error::{CliError, Result};
use crate::sysfs::{self, PciFunction, Roots, HUGEPAGE_KB, VFIO_PCI};
use ena::com::{DeviceInfo, EnaDevice, LlqConfig, LlqPolicy};
use ena::hw::admin::{capability, feature};
use ena::hw::regs::{ControllerVersion, ResetReason, Version};
use ena::platform::pci::{PciOptions, PciPlatform};
use ena::platform::sim::{SimDrive, SimPlatform};
use ena::platform::vfio::{VfioOptions, VfioPlatform};
use ena::platform::Platform;
use ena::pmd::{rss_hf, rx_offload, tx_offload, DevInfo, PortOptions};
use ena::Port;
use ena_sim::config::DeviceConfig;
use ena_sim::transport::inproc::{ClockChoice, RunnerOptions, SimDevice, SimRunner};
use ena_sim::wire::spec::{self, WireRequest};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A `--vdev` specification: `[net_ena_sim<N>,][wire=]<wire spec>[,mac=..][,queues=..]
/// [,mtu=..][,llq=0|1]`, or just a wire spec such as `loopback` or `gen:size=64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VdevSpec {
    /// Port name.
    pub name: String,
    /// Wire spec (`ena_sim::wire::spec`).
    pub wire: String,
    /// MAC address.
    pub mac: [u8; 6],
    /// Queue pairs the model offers.
    pub queues: Option<u32>,
    /// The model's MTU at reset.
    pub mtu: Option<u32>,
    /// Whether the model offers LLQ.
    pub llq: bool,
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| {
            (p.len() == 2)
                .then(|| u8::from_str_radix(p, 16).ok())
                .flatten()
        })
        .collect::<Option<_>>()?;
    parts.try_into().ok()
}

/// Parses a `--vdev` specification.
pub fn parse_vdev(text: &str) -> Result<VdevSpec> {
    let bad = |why: String| CliError::Usage(format!("--vdev {text}: {why}"));
    let mut name = "net_ena_sim0".to_string();
    let mut wire = None;
    let (mut mac, mut queues, mut mtu, mut llq) = (None, None, None, true);
    for (i, token) in text.split(',').enumerate() {
        let token = token.trim();
        if i == 0 && token.starts_with("net_ena_sim") {
            if token["net_ena_sim".len()..].parse::<u8>().is_err() {
                return Err(bad(format!(
                    "{token:?}: a name must be net_ena_sim followed by a number"
                )));
            }
            name = token.to_string();
            continue;
        }
        let number = |v: &str, what: &str| {
            v.parse::<u32>()
                .map_err(|_| bad(format!("{what}={v} is not a number")))
        };
        match token.split_once('=') {
            Some(("wire", v)) => wire = Some(v.to_string()),
            Some(("mac", v)) => {
                mac = Some(parse_mac(v).ok_or_else(|| bad(format!("mac={v} is not a MAC")))?)
            }
            Some(("queues", v)) => {
                let q = number(v, "queues")?;
                if !(1..=128).contains(&q) {
                    return Err(bad(format!("queues={q} must be 1..=128")));
                }
                queues = Some(q);
            }
            Some(("mtu", v)) => mtu = Some(number(v, "mtu")?),
            Some(("llq", "0")) => llq = false,
            Some(("llq", "1")) => llq = true,
            Some(("llq", v)) => return Err(bad(format!("llq={v} must be 0 or 1"))),
            _ if i == 0 => wire = Some(token.to_string()),
            _ => return Err(bad(format!("unknown option {token:?}"))),
        }
    }
    let n: u8 = name["net_ena_sim".len()..].parse().unwrap_or(0);
    Ok(VdevSpec {
        mac: mac.unwrap_or([0x02, 0, 0, 0, 1, n]),
        name,
        wire: wire.unwrap_or_else(|| "loopback".into()),
        queues,
        mtu,
        llq,
    })
}

/// Everything `info` prints.
#[derive(Debug, Clone)]
pub struct Report {
    /// The platform's description.
    pub device: String,
    /// Registers and bitmaps from the core.
    pub core: DeviceInfo,
    /// The LLQ configuration the core chose.
    pub llq: Option<LlqConfig>,
    /// What a port offers.
    pub port: DevInfo,
    /// Link up after bring-up (within the wait).
    pub link_up: bool,
}

/// Brings the device behind `platform` up and collects the [`Report`]; waits up to
/// `link_wait` for the link-up event.
pub fn probe(platform: Arc<dyn Platform>, link_wait: Duration) -> Result<Report> {
    let failed =
        |e: ena::Error| CliError::Device(format!("{}: bring-up failed: {e}", platform.describe()));
    let dev = EnaDevice::init(
        platform.clone(),
        ResetReason::Normal,
        LlqPolicy::Recommended,
    )
    .map_err(failed)?;
    let core = dev.info().clone();
    let llq = dev.llq();
    dev.shutdown(ResetReason::Normal).map_err(failed)?;

    let mut port = Port::open(platform.clone(), PortOptions::default()).map_err(failed)?;
    let deadline = Instant::now() + link_wait;
    loop {
        port.poll_control();
        if port.link().up || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let report = Report {
        device: platform.describe(),
        core,
        llq,
        port: port.info().clone(),
        link_up: port.link().up,
    };
    if let Err(e) = port.close() {
        eprintln!("enactl: warning: closing {}: {e}", report.device);
    }
    Ok(report)
}

const FEATURE_NAMES: [(u8, &str); 20] = [
    (feature::DEVICE_ATTRIBUTES, "device-attributes"),
    (feature::MAX_QUEUES_NUM, "max-queues-num"),
    (feature::HW_HINTS, "hw-hints"),
    (feature::LLQ, "llq"),
    (
        feature::EXTRA_PROPERTIES_STRINGS,
        "extra-properties-strings",
    ),
    (feature::EXTRA_PROPERTIES_FLAGS, "extra-properties-flags"),
    (feature::MAX_QUEUES_EXT, "max-queues-ext"),
    (feature::FRAG_BYPASS, "frag-bypass"),
    (feature::RSS_HASH_FUNCTION, "rss-hash-function"),
    (feature::STATELESS_OFFLOAD_CONFIG, "stateless-offload"),
    (
        feature::RSS_INDIRECTION_TABLE_CONFIG,
        "rss-indirection-table",
    ),
    (feature::MTU, "mtu"),
    (feature::RSS_HASH_INPUT, "rss-hash-input"),
    (feature::INTERRUPT_MODERATION, "interrupt-moderation"),
    (feature::AENQ_CONFIG, "aenq-config"),
    (feature::LINK_CONFIG, "link-config"),
    (feature::HOST_ATTR_CONFIG, "host-attr-config"),
    (feature::PHC_CONFIG, "phc"),
    (feature::FLOW_STEERING_CONFIG, "flow-steering"),
    (feature::HW_TIMESTAMP, "hw-timestamp"),
];

const CAPABILITY_NAMES: [(u32, &str); 5] = [
    (capability::ENI_STATS, "eni-stats"),
    (capability::ENA_SRD_INFO, "srd-info"),
    (capability::CUSTOMER_METRICS, "customer-metrics"),
    (capability::EXTENDED_RESET_REASONS, "extended-reset-reasons"),
    (capability::CDESC_MBZ, "cdesc-mbz"),
];

const RX_OFFLOAD_NAMES: [(u64, &str); 5] = [
    (rx_offload::IPV4_CKSUM, "ipv4-cksum"),
    (rx_offload::UDP_CKSUM, "udp-cksum"),
    (rx_offload::TCP_CKSUM, "tcp-cksum"),
    (rx_offload::SCATTER, "scatter"),
    (rx_offload::RSS_HASH, "rss-hash"),
];

const TX_OFFLOAD_NAMES: [(u64, &str); 6] = [
    (tx_offload::IPV4_CKSUM, "ipv4-cksum"),
    (tx_offload::UDP_CKSUM, "udp-cksum"),
    (tx_offload::TCP_CKSUM, "tcp-cksum"),
    (tx_offload::TCP_TSO, "tcp-tso"),
    (tx_offload::MULTI_SEGS, "multi-segs"),
    (tx_offload::MBUF_FAST_FREE, "mbuf-fast-free"),
];

const RSS_HF_NAMES: [(u64, &str); 4] = [
    (rss_hf::NONFRAG_IPV4_TCP, "ipv4-tcp"),
    (rss_hf::NONFRAG_IPV4_UDP, "ipv4-udp"),
    (rss_hf::NONFRAG_IPV6_TCP, "ipv6-tcp"),
    (rss_hf::NONFRAG_IPV6_UDP, "ipv6-udp"),
];

/// The names of the bits set in `value`, then any unnamed bits in hex.
fn bit_names<T>(value: T, names: &[(T, &str)]) -> String
where
    T: Copy
        + PartialEq
        + Default
        + std::ops::BitAnd<Output = T>
        + std::ops::BitOr<Output = T>
        + std::ops::Not<Output = T>
        + std::fmt::LowerHex,
{
    let mut out: Vec<String> = names
        .iter()
        .filter(|(bit, _)| value & *bit != T::default())
        .map(|(_, n)| n.to_string())
        .collect();
    let known = names.iter().fold(T::default(), |acc, (bit, _)| acc | *bit);
    let rest = value & !known;
    if rest != T::default() {
        out.push(format!("{rest:#x}"));
    }
    if out.is_empty() {
        "none".into()
    } else {
        out.join(" ")
    }
}

fn feature_names(bitmap: u32) -> String {
    let names: Vec<(u32, &str)> = FEATURE_NAMES
        .iter()
        .map(|&(id, n)| (1u32 << id, n))
        .collect();
    bit_names(bitmap, &names)
}

/// Renders the report as `name: value` lines.
pub fn render(r: &Report) -> String {
    let c = &r.core;
    let p = &r.port;
    let v = Version(c.version);
    let cv = ControllerVersion(c.controller_version);
    let mac = p
        .mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let llq = match &r.llq {
        None => "not used (TX rings in host memory)".to_string(),
        Some(l) => format!(
            "{}-byte entries, {} header bytes, {} descriptors before the header, tx depth {}{}{}",
            l.entry_size,
            l.max_header,
            l.descs_before_header,
            l.max_depth,
            l.max_entries_in_burst
                .map_or_else(String::new, |b| format!(", burst {b} entries")),
            if l.disable_meta_caching {
                ", meta descriptor on every packet"
            } else {
                ""
            }
        ),
    };
    let rss = if p.reta_size == 0 {
        "not offered".to_string()
    } else {
        format!(
            "{}-entry table, {}-byte key, hashes {}",
            p.reta_size,
            p.hash_key_size,
            bit_names(p.flow_type_rss_offloads, &RSS_HF_NAMES)
        )
    };
    let lines = [
        format!("device:       {}", r.device),
        format!("driver:       {}", p.driver_name),
        format!(
            "version:      {}.{} (VERSION {:#010x})",
            v.major(),
            v.minor(),
            c.version
        ),
        format!(
            "controller:   {}.{}.{} implementation {} (CONTROLLER_VERSION {:#010x})",
            cv.major(),
            cv.minor(),
            cv.subminor(),
            cv.impl_id(),
            c.controller_version
        ),
        format!("dma width:    {} bits", c.dma_width),
        format!("mac:          {mac}"),
        format!(
            "mtu:          {}..={} (largest frame {} bytes)",
            p.min_mtu, p.max_mtu, p.max_rx_pktlen
        ),
        format!(
            "queues:       {} rx, {} tx",
            p.max_rx_queues, p.max_tx_queues
        ),
        format!(
            "ring sizes:   rx {}..={}, tx {}..={}",
            p.min_desc, p.max_rx_desc, p.min_desc, p.max_tx_desc
        ),
        format!(
            "segments:     {} per tx packet, {} buffers per rx packet",
            p.max_tx_segs, p.max_rx_segs
        ),
        format!("llq:          {llq}"),
        format!(
            "rx offloads:  {}",
            bit_names(p.rx_offload_capa, &RX_OFFLOAD_NAMES)
        ),
        format!(
            "tx offloads:  {}",
            bit_names(p.tx_offload_capa, &TX_OFFLOAD_NAMES)
        ),
        format!("rss:          {rss}"),
        format!(
            "features:     {:#010x} {}",
            c.supported_features,
            feature_names(c.supported_features)
        ),
        format!(
            "capabilities: {:#010x} {}",
            c.capabilities,
            bit_names(c.capabilities, &CAPABILITY_NAMES)
        ),
        format!("link:         {}", if r.link_up { "up" } else { "down" }),
    ];
    lines.join("\n") + "\n"
}

/// Runs `enactl info --vdev SPEC`.
pub fn run_vdev(text: &str, link_wait: Duration) -> Result<()> {
    let spec = parse_vdev(text)?;
    let request = WireRequest {
        name: spec.name.clone(),
        spec: spec.wire.clone(),
        mac: spec.mac,
    };
    let (wire, _handle) = spec::build(&[request])
        .map_err(|e| CliError::Usage(format!("--vdev {text}: {}", e.0)))?
        .pop()
        .ok_or_else(|| CliError::Device("the wire spec built no wire".into()))?;
    let mut cfg = DeviceConfig {
        mac: spec.mac,
        ..DeviceConfig::default()
    };
    if let Some(q) = spec.queues {
        cfg = cfg.with_queues(q);
    }
    if let Some(m) = spec.mtu {
        cfg.mtu = m;
    }
    if !spec.llq {
        cfg = cfg.without_llq();
    }
    let sim = SimDevice::new(cfg, wire, ClockChoice::Real).map_err(|e| CliError::Io {
        what: format!("{}: creating the device model", spec.name),
        source: e,
    })?;
    let runner =
        SimRunner::spawn(std::slice::from_ref(&sim), RunnerOptions::default()).map_err(|e| {
            CliError::Io {
                what: "starting the device-model thread".into(),
                source: e,
            }
        })?;
    let platform = Arc::new(SimPlatform::new(sim, SimDrive::Threaded, true, &spec.name));
    let report = probe(platform, link_wait);
    runner.stop();
    let mut report = report?;
    report.device = format!("{} (device model, wire {})", spec.name, spec.wire);
    print!("{}", render(&report));
    Ok(())
}

/// How a PCI function is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Access {
    /// By the bound driver: vfio-pci through VFIO, uio through sysfs.
    Auto,
    /// BARs from sysfs resource files, physical addresses (uio, or vfio-pci in no-IOMMU mode).
    Sysfs,
    /// VFIO's container/group/device interface (vfio-pci, with or without an IOMMU).
    Vfio,
}

/// Chooses the access path for `f` (never [`Access::Auto`]), or says why there is none.
pub fn access_for(roots: &Roots, f: &PciFunction, asked: Access) -> Result<Access> {
    let addr = f.addr;
    let driver = match f.driver.as_deref() {
        None => {
            return Err(CliError::Prerequisite(format!(
                "{addr} is not bound to any driver: run `enactl bind {addr}` first"
            )))
        }
        Some(d) if !ena::platform::pci::USERSPACE_DRIVERS.contains(&d) => {
            return Err(CliError::InUse(format!(
                "{addr} is bound to the kernel driver {d}: run `enactl bind {addr}` first"
            )))
        }
        Some(d) => d,
    };
    match (asked, driver == VFIO_PCI) {
        (Access::Auto, true) | (Access::Vfio, true) => Ok(Access::Vfio),
        (Access::Auto, false) | (Access::Sysfs, false) => Ok(Access::Sysfs),
        (Access::Vfio, false) => Err(CliError::Usage(format!(
            "--access vfio: {addr} is bound to {driver}, not vfio-pci"
        ))),
        (Access::Sysfs, true) if sysfs::has_iommu(roots) => Err(CliError::Usage(format!(
            "--access sysfs: {addr} is behind an IOMMU, so it cannot be given physical \
             addresses; use VFIO (the default)"
        ))),
        (Access::Sysfs, true) => Ok(Access::Sysfs),
    }
}

/// How `enactl info <BDF>` reaches the device and its DMA memory.
#[derive(Debug, Clone)]
pub struct PciInfoOptions {
    /// Which access path.
    pub access: Access,
    /// hugetlbfs directory (default `<dev>/hugepages`).
    pub hugepage_dir: Option<PathBuf>,
    /// Hugepage file prefix (default: the driver's, per process).
    pub file_prefix: Option<String>,
    /// How long to wait for link up.
    pub link_wait: Duration,
}

/// Runs `enactl info <BDF>`.
pub fn run_pci(roots: &Roots, bdf: &str, opts: &PciInfoOptions) -> Result<()> {
    let addr = sysfs::parse_bdf(bdf)?;
    sysfs::require_root(roots, "info")?;
    let f = PciFunction::read(roots, &addr)?;
    if !f.is_ena() {
        return Err(CliError::NotFound(format!(
            "{addr} is not an ENA device (vendor:device {:04x}:{:04x})",
            f.vendor, f.device
        )));
    }
    let access = access_for(roots, &f, opts.access)?;
    let free = roots.sysfs.join(format!(
        "kernel/mm/hugepages/hugepages-{HUGEPAGE_KB}kB/free_hugepages"
    ));
    if sysfs::read_attr(&free)?.is_some_and(|n| n.trim() == "0") {
        return Err(CliError::Prerequisite(
            "no hugepages: the driver takes its DMA memory from 2 MiB hugepages; run \
             `enactl hugepages 256`"
                .into(),
        ));
    }
    let hugepage_dir = opts
        .hugepage_dir
        .clone()
        .unwrap_or_else(|| roots.dev.join("hugepages"));
    let failed = |e: ena::Error| CliError::Device(format!("{addr}: {e}"));
    let platform: Arc<dyn Platform> = match access {
        Access::Vfio => {
            let mut vfio = VfioOptions {
                sysfs_root: roots.sysfs.clone(),
                dev_root: roots.dev.clone(),
                hugepage_dir,
                ..VfioOptions::default()
            };
            if let Some(prefix) = &opts.file_prefix {
                vfio.hugepage_prefix = prefix.clone();
            }
            Arc::new(VfioPlatform::open(&addr.to_string(), vfio).map_err(failed)?)
        }
        Access::Sysfs | Access::Auto => {
            let mut pci = PciOptions {
                sysfs_devices: roots.pci_devices(),
                hugepage_dir,
                ..PciOptions::default()
            };
            if let Some(prefix) = &opts.file_prefix {
                pci.hugepage_prefix = prefix.clone();
            }
            Arc::new(PciPlatform::open(&addr.to_string(), pci).map_err(failed)?)
        }
    };
    let report = probe(platform, opts.link_wait)?;
    print!("{}", render(&report));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vdev_specs() {
        let s = parse_vdev("loopback").unwrap();
        assert_eq!(
            (s.name.as_str(), s.wire.as_str(), s.mac, s.llq),
            ("net_ena_sim0", "loopback", [2, 0, 0, 0, 1, 0], true)
        );
        let s = parse_vdev(
            "net_ena_sim3,wire=gen:size=64,queues=4,mtu=9001,llq=0,mac=02:aa:bb:cc:dd:ee",
        )
        .unwrap();
        assert_eq!(s.wire, "gen:size=64");
        assert_eq!(s.queues, Some(4));
        assert_eq!(s.mtu, Some(9001));
        assert!(!s.llq);
        assert_eq!(s.mac, [2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);
        assert_eq!(parse_vdev("net_ena_sim2").unwrap().mac, [2, 0, 0, 0, 1, 2]);
        for bad in [
            "net_ena_simx",
            "loopback,color=red",
            "loopback,queues=0",
            "loopback,llq=2",
            "loopback,mac=zz",
        ] {
            assert!(matches!(parse_vdev(bad), Err(CliError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn bit_names_lists_unknown_bits() {
        assert_eq!(bit_names(0u32, &CAPABILITY_NAMES), "none");
        assert_eq!(
            bit_names(capability::ENI_STATS | 1 << 9, &CAPABILITY_NAMES),
            "eni-stats 0x200"
        );
    }
}
