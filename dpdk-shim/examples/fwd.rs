//! `fwd`: forwards packets between port pairs, as DPDK's testpmd does in `io` and `macswap`
//! modes — the first program to run on a new machine.
//!
//! ```text
//! cargo run --release --example fwd                       # two simulated ports, generated traffic
//! cargo run --release --example fwd -- --duration 5 --json
//! fwd -l 0-4 -a 0000:00:06.0 -a 0000:00:07.0 -- --mode macswap   # two ENA functions, 4 workers
//! ```
//!
//! Ports are paired 0↔1, 2↔3, ... (an odd last port forwards to itself). Every worker lcore
//! owns queue `i` of every port: it receives a burst on port A's RX queue `i` and sends it on
//! port B's TX queue `i`, and the other way round; RSS spreads flows over the queues. What
//! `tx_burst` does not take is dropped and counted, so for each direction
//! `tx_packets = rx_packets - dropped`. The main lcore prints a line per port every second and
//! the summary at the end (Ctrl-C, or `--duration`); `--json` prints the summary as one JSON
//! object on stdout (and the per-second lines on stderr).
//!
//! Without `-a` or `--vdev` it runs on two in-process device models whose wires are the
//! simulator's traffic generator and sink (`net_ena_sim0,wire=gen:...`), so it works on any
//! Linux machine.

use clap::{Parser, ValueEnum};
use dpdk_shim::prelude::*;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most packets moved per burst.
const MAX_BURST: usize = 512;

/// Forwarding mode (testpmd's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Forward packets unchanged.
    Io,
    /// Swap the Ethernet source and destination addresses.
    Macswap,
}

/// The application's options (after the EAL's, past `--`).
#[derive(Parser, Debug, Clone)]
#[command(
    name = "fwd",
    about = "Forward packets between port pairs (testpmd io/macswap)"
)]
pub struct Opts {
    /// Forwarding mode.
    #[arg(long, value_enum, default_value = "io")]
    pub mode: Mode,
    /// Packets per burst (1-512).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub burst: u16,
    /// Stop after this many seconds (0: run until Ctrl-C).
    #[arg(long, default_value_t = 0.0)]
    pub duration: f64,
    /// When a TX ring is full, call tx_burst again up to this many times before dropping the
    /// rest (testpmd's burst-tx-retry; 0 drops at once, as a line-rate forwarder should).
    #[arg(long, default_value_t = 0)]
    pub tx_retry: u32,
    /// Queue pairs per port (default: one per worker lcore).
    #[arg(long)]
    pub queues: Option<u16>,
    /// RX ring size.
    #[arg(long, default_value_t = 1024)]
    pub rxd: u16,
    /// TX ring size.
    #[arg(long, default_value_t = 1024)]
    pub txd: u16,
    /// Ask the ports to compute IPv4/TCP/UDP checksums: fwd clears them in every packet it
    /// forwards and sets the offload flags, so only the device's computation makes them right
    /// (a test of TX checksum offload end to end).
    #[arg(long)]
    pub tx_csum: bool,
    /// Set the ports' MTU (e.g. 9000); frames larger than an mbuf arrive as chains (scatter RX)
    /// and leave as multi-segment packets.
    #[arg(long)]
    pub mtu: Option<u16>,
    /// Buffers in the mbuf pool (default: enough for every ring plus bursts in flight).
    #[arg(long)]
    pub mbufs: Option<u32>,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// No per-second lines.
    #[arg(long)]
    pub quiet: bool,
}

/// The EAL arguments used when none name a device: two simulated ports fed by generators.
pub fn default_sim_args() -> Vec<String> {
    let gen = "wire=gen:size=64:flows=1024:lossless";
    let mut v = vec![
        format!("--vdev=net_ena_sim0,{gen}"),
        format!("--vdev=net_ena_sim1,{gen}"),
    ];
    // Main and one worker lcore on the first two CPUs; the device models on the third.
    let cpus = dpdk_shim::args::allowed_cpus();
    if cpus.len() >= 2 {
        v.extend(["-l".into(), format!("{},{}", cpus[0], cpus[1])]);
    }
    if let Some(c) = cpus.get(2) {
        v.extend(["--sim-core".into(), c.to_string()]);
    }
    v
}

/// Counters of one stream (an RX queue of one port into a TX queue of its peer), written by
/// the lcore that owns it and read by the main lcore.
#[derive(Default)]
#[repr(align(64))]
struct StreamCounters {
    rx: AtomicU64,
    tx: AtomicU64,
    dropped: AtomicU64,
    rx_bytes: AtomicU64,
    tx_bytes: AtomicU64,
}

struct Stream {
    to: u16,
    counters: Arc<StreamCounters>,
}

/// One direction's totals.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Direction {
    /// Receiving port.
    pub from: u16,
    /// Sending port.
    pub to: u16,
    /// Packets received on `from`.
    pub rx_packets: u64,
    /// Packets sent on `to`.
    pub tx_packets: u64,
    /// Packets `to` did not take (freed).
    pub dropped: u64,
    /// Forwarded packets per second, in millions.
    pub mpps: f64,
}

/// One port's totals.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PortSummary {
    /// Port id.
    pub port: u16,
    /// Device name.
    pub name: String,
    /// The port its packets go to.
    pub peer: u16,
    /// Packets received on this port.
    pub rx_packets: u64,
    /// Packets sent on this port.
    pub tx_packets: u64,
    /// Packets received here that the peer did not take.
    pub dropped: u64,
    /// Packets the device dropped for lack of RX buffers (its `imissed`).
    pub rx_missed: u64,
    /// Received packets with bad checksums, and packets the device refused to send.
    pub errors: u64,
    /// Received packets per second, in millions.
    pub mpps: f64,
    /// Sent packets per second, in millions.
    pub tx_mpps: f64,
}

/// What `fwd` prints at the end.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Forwarding mode.
    pub mode: Mode,
    /// Seconds forwarded.
    pub duration_s: f64,
    /// Worker lcores.
    pub workers: u32,
    /// Queue pairs per port.
    pub queues: u16,
    /// Packets per burst.
    pub burst: u16,
    /// Per port.
    pub ports: Vec<PortSummary>,
    /// Per direction.
    pub directions: Vec<Direction>,
    /// Forwarded packets per second over all ports, in millions.
    pub total_mpps: f64,
}

/// Parses `argv` (EAL arguments, `--`, fwd's), runs until `stop` is set or the duration ends,
/// and returns the summary with the options it ran with.
pub fn run(argv: &[String], stop: Arc<AtomicBool>) -> Result<(Summary, Opts), String> {
    let mut argv = argv.to_vec();
    if argv.is_empty() {
        argv.push("fwd".into());
    }
    // `cargo run --example fwd -- --duration 5` passes no `--` of its own: fwd's options then
    // start at the first one fwd knows.
    if !argv.iter().any(|a| a == "--") {
        if let Some(i) = argv.iter().position(|a| is_fwd_option(a)) {
            argv.insert(i, "--".into());
        }
    }
    let names_a_device = argv
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "-a" || a.starts_with("-a") || a.starts_with("--vdev") || a == "--allow");
    if !names_a_device {
        let defaults = default_sim_args();
        argv.splice(1..1, defaults);
    }
    let (eal, app) = Eal::init(&argv).map_err(|e| e.to_string())?;
    // clap adds usage and tips on further lines: an error is reported in one line. Help and
    // version are not errors: printed, and the program ends successfully.
    let one_line = |e: clap::Error| match e.kind() {
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
            print!("{e}");
            std::process::exit(0)
        }
        _ => e
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_string(),
    };
    let opts =
        Opts::try_parse_from(std::iter::once("fwd".to_string()).chain(app)).map_err(one_line)?;
    let summary = run_with(&eal, &opts, stop).map_err(|e| e.to_string())?;
    Ok((summary, opts))
}

fn is_fwd_option(a: &str) -> bool {
    const OPTS: [&str; 13] = [
        "--mode",
        "--burst",
        "--duration",
        "--queues",
        "--rxd",
        "--txd",
        "--mbufs",
        "--json",
        "--quiet",
        "--help",
        "--tx-retry",
        "--tx-csum",
        "--mtu",
    ];
    let name = a.split('=').next().unwrap_or(a);
    OPTS.contains(&name) || a == "-h"
}

/// Forwards on the ports of an initialised EAL.
pub fn run_with(eal: &Eal, opts: &Opts, stop: Arc<AtomicBool>) -> dpdk_shim::Result<Summary> {
    let nports = eal.port_count();
    if nports == 0 {
        return Err(Error::Args(
            "no ports: give -a <PCI address> or --vdev net_ena_sim<N>".into(),
        ));
    }
    let workers: Vec<u32> = eal.lcores().workers().collect();
    if workers.is_empty() {
        return Err(Error::Args(
            "fwd forwards on worker lcores and there are none: give at least two lcores (-l 0-1)"
                .into(),
        ));
    }
    let nq = opts.queues.unwrap_or(workers.len() as u16).max(1);
    for p in eal.ports() {
        let max = p.dev_info().max_rx_queues.min(p.dev_info().max_tx_queues);
        if nq > max {
            return Err(Error::Args(format!(
                "port {} offers {max} queue pairs; {nq} asked",
                p.port_id()
            )));
        }
    }
    let peer = |p: u16| if p ^ 1 < nports { p ^ 1 } else { p };

    // Enough buffers for every RX ring, every TX ring, and a burst in every lcore's hands.
    let per_port = nq as u32 * (opts.rxd as u32 + opts.txd as u32);
    let mbufs = opts.mbufs.unwrap_or(
        (nports as u32 * per_port + workers.len() as u32 * 2 * MAX_BURST as u32 + 4096).max(8191),
    );
    let pool = eal.pktmbuf_pool_create("fwd_pool", mbufs, 256, 0, MBUF_DEFAULT_BUF_SIZE)?;

    let jumbo = opts.mtu.is_some_and(|m| m > 1500);
    let conf = EthConf {
        rxmode: RxMode {
            mq_mode: if nq > 1 { MqMode::Rss } else { MqMode::None },
            mtu: opts.mtu.map_or(0, u32::from),
            offloads: if jumbo { rx_offload::SCATTER } else { 0 },
        },
        txmode: TxMode {
            offloads: (if jumbo { tx_offload::MULTI_SEGS } else { 0 })
                | if opts.tx_csum {
                    tx_offload::IPV4_CKSUM | tx_offload::TCP_CKSUM | tx_offload::UDP_CKSUM
                } else {
                    0
                },
        },
        ..Default::default()
    };
    let mut rxqs = Vec::new();
    let mut txqs = Vec::new();
    for p in eal.ports() {
        p.configure(nq, nq, &conf)?;
        for q in 0..nq {
            p.rx_queue_setup(q, opts.rxd, &pool)?;
            p.tx_queue_setup(q, opts.txd)?;
        }
        // Count from here: the port receives as soon as it starts.
        p.stats_reset()?;
        p.start()?;
        rxqs.push(
            (0..nq)
                .map(|q| p.take_rx_queue(q))
                .collect::<Result<Vec<_>, _>>()?,
        );
        txqs.push(
            (0..nq)
                .map(|q| p.take_tx_queue(q))
                .collect::<Result<Vec<_>, _>>()?,
        );
    }

    // Queue q of every port goes to worker q % workers.
    let mut all_streams: Vec<Vec<Arc<StreamCounters>>> = vec![Vec::new(); nports as usize];
    let mut jobs: Vec<Vec<(Stream, RxQueue)>> = (0..workers.len()).map(|_| Vec::new()).collect();
    let mut job_tx: Vec<Vec<(u16, TxQueue)>> = (0..workers.len()).map(|_| Vec::new()).collect();
    for (port, queues) in rxqs.into_iter().enumerate() {
        for (q, rx) in queues.into_iter().enumerate() {
            let counters = Arc::new(StreamCounters::default());
            all_streams[port].push(counters.clone());
            let stream = Stream {
                to: peer(port as u16),
                counters,
            };
            jobs[q % workers.len()].push((stream, rx));
        }
    }
    for (port, queues) in txqs.into_iter().enumerate() {
        for (q, tx) in queues.into_iter().enumerate() {
            job_tx[q % workers.len()].push((port as u16, tx));
        }
    }

    let running = Arc::new(AtomicBool::new(true));
    for (i, (streams, txs)) in jobs.into_iter().zip(job_tx).enumerate() {
        let running = running.clone();
        let how = How {
            mode: opts.mode,
            burst: opts.burst as usize,
            tx_retry: opts.tx_retry,
            tx_csum: opts.tx_csum,
        };
        eal.lcores().remote_launch(workers[i], move || {
            forward(streams, txs, how, &running);
            0
        })?;
    }

    let started = Instant::now();
    let limit = (opts.duration > 0.0).then(|| Duration::from_secs_f64(opts.duration));
    let mut last = (Instant::now(), snapshot(&all_streams));
    let mut next_tick = Instant::now() + Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) && limit.is_none_or(|l| started.elapsed() < l) {
        std::thread::sleep(Duration::from_millis(10));
        if Instant::now() >= next_tick {
            next_tick += Duration::from_secs(1);
            let now = (Instant::now(), snapshot(&all_streams));
            if !opts.quiet {
                live_lines(eal, &last, &now, opts.json);
            }
            last = now;
        }
    }
    running.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let rc = eal.lcores().mp_wait_lcore();
    if rc != 0 {
        return Err(Error::Setup(format!("a worker lcore failed ({rc})")));
    }

    // Let the devices finish what is queued before reading their counters.
    std::thread::sleep(Duration::from_millis(100));
    let totals = snapshot(&all_streams);
    let mut ports = Vec::new();
    let mut directions = Vec::new();
    for p in eal.ports() {
        let id = p.port_id();
        let st = p.stats_get()?;
        let (rx, _, dropped) = totals.rx_of(id);
        let (tx, _) = totals.tx_of(id);
        ports.push(PortSummary {
            port: id,
            name: p.name().to_string(),
            peer: peer(id),
            rx_packets: rx,
            tx_packets: tx,
            dropped,
            rx_missed: st.imissed,
            errors: st.ierrors + st.oerrors,
            mpps: rx as f64 / elapsed / 1e6,
            tx_mpps: tx as f64 / elapsed / 1e6,
        });
        let fwd = rx - dropped;
        directions.push(Direction {
            from: id,
            to: peer(id),
            rx_packets: rx,
            tx_packets: fwd,
            dropped,
            mpps: fwd as f64 / elapsed / 1e6,
        });
        p.stop()?;
    }
    let total: u64 = directions.iter().map(|d| d.tx_packets).sum();
    Ok(Summary {
        mode: opts.mode,
        duration_s: elapsed,
        workers: workers.len() as u32,
        queues: nq,
        burst: opts.burst,
        ports,
        directions,
        total_mpps: total as f64 / elapsed / 1e6,
    })
}

/// How a worker forwards.
#[derive(Clone, Copy)]
struct How {
    mode: Mode,
    burst: usize,
    tx_retry: u32,
    tx_csum: bool,
}

/// A worker lcore's loop: every stream, a burst at a time, until told to stop.
fn forward(
    mut streams: Vec<(Stream, RxQueue)>,
    mut txs: Vec<(u16, TxQueue)>,
    how: How,
    running: &AtomicBool,
) {
    let How {
        mode,
        burst,
        tx_retry,
        tx_csum,
    } = how;
    let mut pkts: [Option<Mbuf>; MAX_BURST] = std::array::from_fn(|_| None);
    // Local totals, published with plain stores once per burst (one writer per counter).
    let mut totals: Vec<[u64; 5]> = vec![[0; 5]; streams.len()];
    while running.load(Ordering::Relaxed) {
        let mut idle = true;
        for (i, (s, rx)) in streams.iter_mut().enumerate() {
            let n = rx.rx_burst(&mut pkts[..burst]);
            if n == 0 {
                continue;
            }
            idle = false;
            let mut bytes = 0u64;
            for m in pkts[..n].iter_mut().flatten() {
                bytes += u64::from(m.pkt_len());
                if mode == Mode::Macswap {
                    swap_macs(m);
                }
                if tx_csum {
                    request_checksums(m);
                }
            }
            let Some((_, tx)) = txs.iter_mut().find(|(p, _)| *p == s.to) else {
                continue;
            };
            let mut sent = tx.tx_burst(&mut pkts[..n]);
            let mut retries = 0;
            while sent < n && retries < tx_retry && running.load(Ordering::Relaxed) {
                std::hint::spin_loop();
                sent += tx.tx_burst(&mut pkts[sent..n]);
                retries += 1;
            }
            let mut unsent_bytes = 0u64;
            for m in pkts[sent..n].iter_mut().filter_map(Option::take) {
                unsent_bytes += u64::from(m.pkt_len());
            }
            let t = &mut totals[i];
            t[0] += n as u64;
            t[1] += sent as u64;
            t[2] += (n - sent) as u64;
            t[3] += bytes;
            t[4] += bytes - unsent_bytes;
            let c = &s.counters;
            c.rx.store(t[0], Ordering::Relaxed);
            c.tx.store(t[1], Ordering::Relaxed);
            c.dropped.store(t[2], Ordering::Relaxed);
            c.rx_bytes.store(t[3], Ordering::Relaxed);
            c.tx_bytes.store(t[4], Ordering::Relaxed);
        }
        // When traffic stops, give sent buffers back to the pool (tx_burst does it otherwise).
        if idle {
            for (_, tx) in txs.iter_mut() {
                if tx.in_flight() > 0 {
                    tx.tx_done_cleanup();
                }
            }
        }
    }
}

/// Clears the IPv4 header checksum and the TCP/UDP checksum of an untagged IPv4/IPv6 packet and
/// asks the device to fill them in (`TX_IPV4|TX_IP_CKSUM`, `TX_TCP_CKSUM`/`TX_UDP_CKSUM` with
/// `l2_len`/`l3_len`, as DPDK applications do). Other packets are left alone.
fn request_checksums(m: &mut Mbuf) {
    let d = m.mtod_mut();
    if d.len() < 14 + 20 {
        return;
    }
    let ethertype = u16::from_be_bytes([d[12], d[13]]);
    let (l3_len, proto, v4) = match ethertype {
        0x0800 => {
            let ihl = usize::from(d[14] & 0x0f) * 4;
            let frag = u16::from_be_bytes([d[20], d[21]]) & 0x3fff != 0;
            if ihl < 20 || frag {
                return;
            }
            (ihl, d[23], true)
        }
        // IPv6 without extension headers.
        0x86dd if d.len() >= 14 + 40 => (40, d[20], false),
        _ => return,
    };
    let l4 = 14 + l3_len;
    let (l4_flag, csum_at) = match proto {
        6 => (ol::TX_TCP_CKSUM, l4 + 16),
        17 => (ol::TX_UDP_CKSUM, l4 + 6),
        _ => (0, 0),
    };
    if l4_flag != 0 && csum_at + 2 > d.len() {
        return;
    }
    if v4 {
        d[24] = 0;
        d[25] = 0;
    }
    if l4_flag != 0 {
        d[csum_at] = 0;
        d[csum_at + 1] = 0;
    }
    let l3_flags = if v4 {
        ol::TX_IPV4 | ol::TX_IP_CKSUM
    } else {
        ol::TX_IPV6
    };
    m.set_ol_flags(l3_flags | l4_flag);
    m.set_l2_len(14);
    m.set_l3_len(l3_len as u16);
}

/// Swaps the Ethernet destination and source addresses (testpmd's macswap).
fn swap_macs(m: &mut Mbuf) {
    let d = m.mtod_mut();
    if d.len() >= 12 {
        let (dst, rest) = d.split_at_mut(6);
        dst.swap_with_slice(&mut rest[..6]);
    }
}

/// Every stream's counters at one moment: `[port][queue] = (rx, tx, dropped, rx_bytes,
/// tx_bytes)` plus where each stream sends.
struct Snapshot {
    streams: Vec<Vec<[u64; 5]>>,
    peers: Vec<u16>,
}

fn snapshot(all: &[Vec<Arc<StreamCounters>>]) -> Snapshot {
    let n = all.len() as u16;
    Snapshot {
        streams: all
            .iter()
            .map(|qs| {
                qs.iter()
                    .map(|c| {
                        [
                            c.rx.load(Ordering::Relaxed),
                            c.tx.load(Ordering::Relaxed),
                            c.dropped.load(Ordering::Relaxed),
                            c.rx_bytes.load(Ordering::Relaxed),
                            c.tx_bytes.load(Ordering::Relaxed),
                        ]
                    })
                    .collect()
            })
            .collect(),
        peers: (0..n).map(|p| if p ^ 1 < n { p ^ 1 } else { p }).collect(),
    }
}

impl Snapshot {
    /// Received on `port`: (packets, bytes, dropped by the peer).
    fn rx_of(&self, port: u16) -> (u64, u64, u64) {
        self.streams[port as usize]
            .iter()
            .fold((0, 0, 0), |a, s| (a.0 + s[0], a.1 + s[3], a.2 + s[2]))
    }

    /// Sent on `port`: (packets, bytes) — what the streams whose peer is `port` sent.
    fn tx_of(&self, port: u16) -> (u64, u64) {
        self.peers
            .iter()
            .enumerate()
            .filter(|(_, &to)| to == port)
            .flat_map(|(from, _)| self.streams[from].iter())
            .fold((0, 0), |a, s| (a.0 + s[1], a.1 + s[4]))
    }
}

fn live_lines(eal: &Eal, last: &(Instant, Snapshot), now: &(Instant, Snapshot), to_stderr: bool) {
    let dt = now.0.duration_since(last.0).as_secs_f64().max(1e-9);
    for p in eal.ports() {
        let id = p.port_id();
        let (rx1, rxb1, dr1) = now.1.rx_of(id);
        let (rx0, rxb0, dr0) = last.1.rx_of(id);
        let (tx1, txb1) = now.1.tx_of(id);
        let (tx0, txb0) = last.1.tx_of(id);
        let (errors, missed) = p
            .stats_get()
            .map(|s| (s.ierrors + s.oerrors + s.rx_nombuf, s.imissed))
            .unwrap_or_default();
        let line = format!(
            "port {id}: RX {:7.3} Mpps {:7.3} Gbit/s | TX {:7.3} Mpps {:7.3} Gbit/s | dropped {} | missed {} | errors {}",
            (rx1 - rx0) as f64 / dt / 1e6,
            (rxb1 - rxb0) as f64 * 8.0 / dt / 1e9,
            (tx1 - tx0) as f64 / dt / 1e6,
            (txb1 - txb0) as f64 * 8.0 / dt / 1e9,
            dr1 - dr0,
            missed,
            errors,
        );
        if to_stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
}

fn print_summary(s: &Summary) {
    println!(
        "\n---- fwd summary: {:?} mode, {:.2} s, {} worker lcore(s), {} queue pair(s) per port, burst {} ----",
        s.mode, s.duration_s, s.workers, s.queues, s.burst
    );
    for p in &s.ports {
        println!(
            "port {} ({}) -> port {}: RX {} ({:.3} Mpps)  TX {} ({:.3} Mpps)  dropped {}  missed {}  errors {}",
            p.port, p.name, p.peer, p.rx_packets, p.mpps, p.tx_packets, p.tx_mpps, p.dropped, p.rx_missed, p.errors
        );
    }
    println!("total forwarded: {:.3} Mpps", s.total_mpps);
}

#[allow(dead_code)] // the tests include this file as a module and call `run`
fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            eprintln!("fwd: cannot handle signal {sig}: {e}");
        }
    }
    let argv: Vec<String> = std::env::args().collect();
    match run(&argv, stop) {
        Ok((s, opts)) if opts.json => {
            println!("{}", serde_json::to_string(&s).expect("summary serialises"));
        }
        Ok((s, _)) => print_summary(&s),
        Err(e) => {
            eprintln!("fwd: {e}");
            std::process::exit(1);
        }
    }
}
