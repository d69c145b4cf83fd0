//! `enactl`: the command-line companion of the `ena` userspace driver.
//!
//! It does what a user has to do before and around running a poll-mode application on EC2:
//! find the ENA functions (`list`), hand one to vfio-pci and give it back (`bind`, `unbind`),
//! reserve hugepages (`hugepages`), check that the driver can bring a device up and see what it
//! offers (`info`), and predict which RX queue a flow lands on (`rss-hash`).
//!
//! Every path under /sys, /dev, /proc and /run goes through `--sysfs-root`, `--dev-root`,
//! `--proc-root` and `--run-root`, so the tests run each command against a fake tree.

mod bind;
mod error;
mod hugepages;
mod info;
mod list;
mod rss;
mod sysfs;

use clap::{ArgGroup, Args, Parser, Subcommand};
use error::{CliError, Result};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "enactl",
    version,
    about = "List, bind and inspect AWS ENA devices for the ena userspace driver",
    long_about = "List, bind and inspect AWS ENA devices for the ena userspace driver.\n\n\
        Typical use on an EC2 instance: `enactl list` to find an ENA function that is not the \
        one you are logged in through, `enactl bind <BDF> --noiommu` to give it to vfio-pci, \
        `enactl hugepages 1024` for DMA memory, `enactl info <BDF>` to check that the driver \
        brings it up, and `enactl unbind <BDF>` to give it back to the kernel."
)]
struct Cli {
    #[command(flatten)]
    roots: RootArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where the system trees are (for tests and chroots).
#[derive(Args, Debug)]
struct RootArgs {
    /// Where sysfs is mounted.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/sys",
        help_heading = "System trees"
    )]
    sysfs_root: PathBuf,
    /// Where devfs is mounted (the hugetlbfs default is <DIR>/hugepages).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/dev",
        help_heading = "System trees"
    )]
    dev_root: PathBuf,
    /// Where procfs is mounted.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/proc",
        help_heading = "System trees"
    )]
    proc_root: PathBuf,
    /// Runtime state directory; `bind` records the original driver in <DIR>/enactl/.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/run",
        help_heading = "System trees"
    )]
    run_root: PathBuf,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List network PCI devices: address, ids (ENA marked), driver, IOMMU group, NUMA node,
    /// interface.
    List {
        /// Only ENA devices.
        #[arg(long)]
        ena: bool,
        /// Every PCI function, not only network controllers (e.g. to find a test device).
        #[arg(long, conflicts_with = "ena")]
        all: bool,
    },
    /// Give a device to vfio-pci (driver_override, unbind, bind); records the original driver.
    #[command(long_about = "Give a device to vfio-pci.\n\n\
        Writes `vfio-pci` to the device's driver_override, unbinds it from its driver and binds \
        it to vfio-pci; the original driver is recorded under <run-root>/enactl/ for `unbind`. \
        Refuses a device whose interface is up or carries the default route (your SSH session, \
        most likely) unless --force. On a machine without an IOMMU (most EC2 instances) \
        vfio-pci needs its unsafe no-IOMMU mode, which only --noiommu turns on.")]
    Bind {
        /// PCI address, DDDD:BB:DD.F (or BB:DD.F).
        bdf: String,
        /// Without an IOMMU, enable vfio's unsafe no-IOMMU mode
        /// (/sys/module/vfio/parameters/enable_unsafe_noiommu_mode = Y).
        #[arg(long)]
        noiommu: bool,
        /// Bind even if the interface is up, carries the default route, or is not ENA.
        #[arg(long)]
        force: bool,
    },
    /// Give a device back to its kernel driver (clears driver_override, unbinds, binds).
    Unbind {
        /// PCI address, DDDD:BB:DD.F (or BB:DD.F).
        bdf: String,
        /// Driver to bind to (default: the one `bind` recorded, else ena).
        #[arg(long, value_name = "DRIVER")]
        to: Option<String>,
        /// Unbind even while a process has the device's BARs mapped or its VFIO group open.
        #[arg(long)]
        force: bool,
    },
    /// Reserve 2 MiB hugepages and mount hugetlbfs; reports how many the kernel gave.
    Hugepages {
        /// Number of 2 MiB pages (0 releases them).
        count: u64,
        /// Reserve on this NUMA node only.
        #[arg(long, value_name = "N")]
        node: Option<u32>,
        /// Mount hugetlbfs here if it is not mounted (default <dev-root>/hugepages).
        #[arg(long, value_name = "DIR")]
        mount: Option<PathBuf>,
        /// Only reserve; do not mount.
        #[arg(long, conflicts_with = "mount")]
        no_mount: bool,
    },
    /// Bring a device up and print what it offers: versions, MAC, MTU, queues, LLQ, offloads,
    /// RSS, link.
    #[command(group(ArgGroup::new("target").required(true).args(["bdf", "vdev"])))]
    Info {
        /// PCI address of a device bound to vfio-pci, uio_pci_generic or igb_uio.
        bdf: Option<String>,
        /// A simulated device instead: a wire spec (`loopback`, `gen:size=64`, `none`, ...) or
        /// `net_ena_sim<N>,wire=<spec>[,queues=N][,mtu=N][,mac=..][,llq=0]`.
        #[arg(long, value_name = "SPEC")]
        vdev: Option<String>,
        /// hugetlbfs directory for DMA memory (default <dev-root>/hugepages).
        #[arg(long, value_name = "DIR")]
        huge_dir: Option<PathBuf>,
        /// How to reach the device: by its driver (vfio-pci through VFIO, uio through sysfs),
        /// or sysfs for a vfio-pci device in no-IOMMU mode.
        #[arg(long, value_enum, default_value = "auto")]
        access: info::Access,
        /// Hugepage files are <DIR>/<PREFIX>map_<n> (default: ena-rs-<pid>-).
        #[arg(long, value_name = "PREFIX")]
        file_prefix: Option<String>,
        /// Seconds to wait for the link-up event.
        #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
        link_wait: f64,
    },
    /// The RSS hash an ENA device computes for a flow, and the RX queue it selects.
    #[command(
        long_about = "The RSS hash an ENA device computes for a flow, and the RX queue it \
        selects (RETA[hash % 128]; the default table maps entry i to queue i % queues).\n\n\
        The device byte-reverses the key it holds and XORs the Toeplitz hash with an init \
        value. With --driver ena (ena-rs, DPDK's ENA PMD) the key is the one given to the \
        application; the driver hands it to the device reversed with init 0, so the hash is \
        the standard Toeplitz hash. With --driver linux the key is as `ethtool -x` shows it \
        and init is 0xFFFFFFFF.",
        group(ArgGroup::new("table").args(["reta", "queues"]))
    )]
    RssHash {
        /// The 40-byte key in hex (`6d5a56da...` or `6d:5a:56:da:...`); default: ena-rs's
        /// default key (Microsoft's verification key).
        #[arg(long, value_name = "HEX", conflicts_with = "fixed_key")]
        key: Option<String>,
        /// Source address (IPv4 or IPv6).
        #[arg(long, value_name = "IP")]
        src: IpAddr,
        /// Destination address.
        #[arg(long, value_name = "IP")]
        dst: IpAddr,
        /// Source port (with --dport: hash the 4-tuple).
        #[arg(long, value_name = "N", requires = "dport")]
        sport: Option<u16>,
        /// Destination port.
        #[arg(long, value_name = "N", requires = "sport")]
        dport: Option<u16>,
        /// Transport protocol (default tcp when ports are given).
        #[arg(long, value_enum, requires = "sport")]
        l4: Option<rss::L4>,
        /// Whose key convention --key follows.
        #[arg(long, value_enum, default_value = "ena")]
        driver: rss::KeyConvention,
        /// Override the init value (hex).
        #[arg(long, value_name = "HEX", conflicts_with = "fixed_key")]
        init: Option<String>,
        /// Model an older device whose key cannot be changed (fixed key, symmetric, 16 bits).
        #[arg(long)]
        fixed_key: bool,
        /// Also print the plain (standard) Toeplitz hash of the key.
        #[arg(long)]
        standard: bool,
        /// The indirection table: comma-separated queue numbers (128 entries on ENA).
        #[arg(long, value_name = "LIST")]
        reta: Option<String>,
        /// Number of RX queues: the default table, entry i → queue i % N.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        queues: Option<u16>,
    },
}

fn roots(a: &RootArgs) -> sysfs::Roots {
    sysfs::Roots {
        sysfs: a.sysfs_root.clone(),
        dev: a.dev_root.clone(),
        proc: a.proc_root.clone(),
        run: a.run_root.clone(),
    }
}

fn link_wait(seconds: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| CliError::Usage(format!("--link-wait {seconds}: not a duration")))
}

fn parse_init(text: &str) -> Result<u32> {
    let t = text.trim();
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    u32::from_str_radix(digits, 16)
        .map_err(|_| CliError::Usage(format!("--init {text}: not a 32-bit hex value")))
}

fn run(cli: Cli) -> Result<()> {
    let roots = roots(&cli.roots);
    match cli.command {
        Command::List { ena, all } => list::run(&roots, ena, all),
        Command::Bind {
            bdf,
            noiommu,
            force,
        } => bind::bind(&roots, &bdf, bind::BindOptions { noiommu, force }),
        Command::Unbind { bdf, to, force } => bind::unbind(&roots, &bdf, to.as_deref(), force),
        Command::Hugepages {
            count,
            node,
            mount,
            no_mount,
        } => hugepages::run(
            &roots,
            &hugepages::HugepageRequest {
                count,
                node,
                mount,
                no_mount,
            },
        ),
        Command::Info {
            bdf,
            vdev,
            huge_dir,
            access,
            file_prefix,
            link_wait: wait,
        } => {
            let wait = link_wait(wait)?;
            match (bdf, vdev) {
                (_, Some(spec)) => info::run_vdev(&spec, wait),
                (Some(bdf), None) => info::run_pci(
                    &roots,
                    &bdf,
                    &info::PciInfoOptions {
                        access,
                        hugepage_dir: huge_dir,
                        file_prefix,
                        link_wait: wait,
                    },
                ),
                (None, None) => Err(CliError::Usage("give a PCI address or --vdev".into())),
            }
        }
        Command::RssHash {
            key,
            src,
            dst,
            sport,
            dport,
            l4,
            driver,
            init,
            fixed_key,
            standard,
            reta,
            queues,
        } => {
            let key = match key {
                Some(k) => rss::parse_key(&k)?,
                None => ena::pmd::DEFAULT_RSS_KEY,
            };
            let reta = match (reta, queues) {
                (Some(list), _) => Some(rss::parse_reta(&list)?),
                (None, Some(n)) => Some(rss::default_reta(n)),
                (None, None) => None,
            };
            let req = rss::HashRequest {
                key,
                convention: driver,
                init: init.as_deref().map(parse_init).transpose()?,
                fixed_key,
                src,
                dst,
                l4: sport
                    .zip(dport)
                    .map(|(s, d)| (l4.unwrap_or(rss::L4::Tcp), s, d)),
                reta,
                standard,
            };
            let result = rss::compute(&req)?;
            print!("{}", rss::render(&req, &result));
            Ok(())
        }
    }
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("enactl: {e}");
        std::process::exit(e.exit_code());
    }
}
