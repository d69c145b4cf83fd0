//! The command line: clap definitions and the help text that documents devices, wires, faults
//! and the output.

use crate::faults::parse_duration;
use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

const ABOUT: &str = "Software ENA devices as a process: each one a fake PCI function (the \
project's PCI rig) that the ena driver, dpdk-shim programs such as fwd, and Amazon's DPDK ENA PMD \
attach to as to hardware.";

const AFTER_HELP: &str = "\
Examples:
  ena-sim --hugepages 128 --dev pair:a --dev pair:a
  ena-sim --dev 'gen:size=64:flows=256:lossless;queues=4' --dev sink --json
  ena-sim --dev 'loopback;llq=off;reads=plain' --fault 2s:link_flap --duration 10

'ena-sim --help' explains device specs, wires, faults and the output.";

const AFTER_LONG_HELP: &str = "\
DEVICE SPEC (--dev WIRE[;KEY=VALUE...]):
  The wire comes first; the device's settings follow, separated by ';' (wire specs use ':'
  and ',' themselves, so quote the value in the shell). Keys:
    wire=SPEC        the wire, if not given first
    queues=N         queue pairs offered, 1-128 (default --queues)
    llq=on|off       offer LLQ (device-memory TX rings, BAR2) (default --llq)
    mtu=N            starting MTU, 68-9216 (default --mtu)
    mac=MAC          MAC address (default 02:00:00:e4:a0:01, :02, ... by position)
    bdf=ADDR         PCI address (default 0000:00:10.0, 0000:00:11.0, ... by position)
    reads=readless|plain   register reads (PCI class prog-if bit 0) (default --reads)
    prefix=PREFIX    the driver's hugepage file prefix for this device (default --file-prefix)
    fault=WHEN:NAME[:KEY=VALUE...]   a fault for this device (as --fault, port implied)

WIRES (what the port is cabled to):
  gen[:OPT...]       traffic generator into RX, counting sink for TX. OPT: size=BYTES (60),
                     flows=N, rate=PPS, count=N, proto=udp|tcp, ipv6, src=IP, dst=IP, sport=N,
                     dport=N, verify
  sink               counting sink for TX; nothing received
  loopback           the port's TX back into its own RX
  pair:TAG           a cable to the other port with the same TAG
  capture            TX frames counted (and discarded); nothing received
  none               unplugged (link down)
  tap:NAME[:netns=NS][:up]        the Linux stack through TAP interface NAME (created if absent)
  afpacket:IFACE[:netns=NS][:up]  an existing interface (e.g. a veth end), raw socket
  pcap:in=FILE,out=FILE[,loop|loop=N]   replay a capture into RX; record TX to a pcap file
  Every wire takes ':lossless' (hold frames the port has no buffer for instead of dropping).
  A tap/afpacket port starts at the interface's MTU (an afpacket port also takes its MAC).

FAULTS (--fault [PORT@]WHEN:NAME[:KEY=VALUE...], repeatable):
  PORT is a port index or PCI address (default: every port). WHEN is a time after the devices
  are up (2s, 500ms, 1.5) or every=PERIOD. DUR is such a time too. NAME:
FAULT_TABLE
  Examples: --fault 2s:link_flap  --fault 5s:keepalive_stop  --fault 1@every=3s:reset_request
            --fault 0000:00:10.0@1s:drop_tx_completions:count=32

RIG AND DRIVER ARGUMENTS:
  Each device gets its own rig under --rig-dir (port0/, port1/, ...), and <rig-dir>/pci lists
  all of them, so one driver process can take several. At start ena-sim prints, per device,
  the arguments a driver needs, e.g.
    -a 0000:00:10.0,wc=proceed --pci-sysfs /tmp/ena-sim-42/pci --huge-dir /dev/hugepages
    --file-prefix enasim42
  (wc=proceed keeps LLQ although the rig's BAR2 is not write-combining). The driver creates
  its DMA memory as <huge-dir>/<file-prefix>map_<n>; the devices find it there by name.
  Amazon's DPDK PMD also needs /dev/uioN (--uio-links) and /sys/class/uio bind-mounted from
  the device's rig (see the ready line's class_uio) in a private mount namespace.

OUTPUT:
  Once all devices are up: the driver arguments (or, with --json, a {\"event\":\"ready\",...}
  line, also written to --ready-file). Then one line per --interval with, per port: in =
  frames the device delivered to the driver (RX), out = frames the driver sent (TX), drops =
  rx_drops + rx_overruns + tx_drops. With --json every line is one JSON object: \"status\"
  (per port: rx_pkts, rx_bytes, tx_pkts, tx_bytes, rx_drops, rx_overruns, tx_drops, rates,
  link_up, queues, resets, dma_misses, and the wire's counters: generated/sunk, captured,
  if_rx_frames/if_tx_frames, replayed/recorded), \"fault\" (each injection) and a final
  \"summary\". Counters are the device's lifetime counters (they survive driver resets).

EXIT:
  SIGINT/SIGTERM (or --duration) stops the devices, removes every rig directory and BAR file,
  the ready file and the uio links, and gives back hugepages reserved with --hugepages; a
  second signal exits at once. Exit status: 0 after a clean stop, 2 for a bad command line,
  1 when the devices cannot be brought up here (not root, no hugetlbfs, rig dir in use).";

/// `on`/`off` for the LLQ default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// Offered.
    On,
    /// Not offered.
    Off,
}

/// Register read mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Reads {
    /// Registers are read through the readless mechanism (DMA'd responses), as on EC2.
    Readless,
    /// Registers are loaded straight from BAR0.
    Plain,
}

/// The options.
#[derive(Parser, Debug)]
#[command(
    name = "ena-sim",
    version,
    about = ABOUT,
    after_help = AFTER_HELP,
    after_long_help = long_help(),
    max_term_width = 100
)]
pub struct Cli {
    /// A device: its wire, then optional ';'-separated settings (see DEVICE SPEC in --help).
    /// Repeat for more devices.
    #[arg(long = "dev", value_name = "WIRE[;KEY=VALUE...]", required = true)]
    pub devs: Vec<String>,

    /// Queue pairs each device offers (1-128) unless its spec says queues=.
    #[arg(long, default_value_t = 8, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=128))]
    pub queues: u32,

    /// Whether devices offer LLQ unless their spec says llq=.
    #[arg(long, value_enum, default_value = "on", value_name = "on|off")]
    pub llq: OnOff,

    /// Starting MTU of each device (68-9216) unless its spec says mtu=.
    #[arg(long, default_value_t = 1500, value_name = "N",
          value_parser = clap::value_parser!(u32).range(68..=9216))]
    pub mtu: u32,

    /// Register reads of each device unless its spec says reads=.
    #[arg(
        long,
        value_enum,
        default_value = "readless",
        value_name = "readless|plain"
    )]
    pub reads: Reads,

    /// Where the rigs go (created, and removed at exit; must be empty if it exists).
    /// Default: <tmp>/ena-sim-<pid>.
    #[arg(long, value_name = "DIR")]
    pub rig_dir: Option<PathBuf>,

    /// The hugetlbfs mount the driver allocates from. Default: a 2 MiB hugetlbfs mount
    /// (/dev/hugepages first), or with --hugepages a private one.
    #[arg(long, value_name = "DIR")]
    pub huge_dir: Option<PathBuf>,

    /// The driver's hugepage file prefix (its --file-prefix). Default: enasim<pid>.
    #[arg(long, value_name = "PREFIX")]
    pub file_prefix: Option<String>,

    /// Add N 2 MiB hugepages to the system for the driver (and mount a private hugetlbfs
    /// unless --huge-dir is given); both are given back at exit.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub hugepages: Option<u32>,

    /// Inject a fault: [PORT@]WHEN:NAME[:KEY=VALUE...], e.g. 2s:link_flap or
    /// every=3s:keepalive_stop (see FAULTS in --help). Repeatable.
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<String>,

    /// Stop after this long (seconds, or 500ms, 2m). Default: run until SIGINT/SIGTERM.
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Time between status lines.
    #[arg(long, default_value = "1s", value_name = "TIME", value_parser = parse_interval)]
    pub interval: Duration,

    /// One JSON object per line on stdout (ready, status, fault, summary).
    #[arg(long)]
    pub json: bool,

    /// No status lines (the ready information, faults and the summary still appear).
    #[arg(long, short)]
    pub quiet: bool,

    /// Write the ready information (JSON) here once all devices are up; removed at exit.
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,

    /// Poll the devices on these CPUs, one thread per CPU, devices spread over them
    /// (e.g. 2,3). Default: one thread, not pinned.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub cores: Vec<usize>,

    /// Link /dev/uio<N> to device N's interrupt FIFO (for Amazon's DPDK PMD; refuses to
    /// replace an existing /dev/uio<N>).
    #[arg(long)]
    pub uio_links: bool,
}

fn long_help() -> String {
    AFTER_LONG_HELP.replace("FAULT_TABLE", crate::faults::FAULT_TABLE)
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(10) {
        return Err(format!("interval '{s}' is shorter than 10ms"));
    }
    Ok(d)
}
