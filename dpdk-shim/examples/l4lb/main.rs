//! `l4lb`: a layer-4 load balancer in the style of Google's Maglev and Facebook's Katran, on the
//! shim's DPDK-like API.
//!
//! ```text
//! cargo run --release --example l4lb                                   # simulated port, sample config
//! cargo run --release --example l4lb -- --duration 5 --json
//! l4lb -l 0-4 -a 0000:00:06.0 -- --config lb.toml --control /run/l4lb.sock
//! ```
//!
//! Clients send TCP/UDP to virtual IPs (VIPs). For each packet the load balancer finds the VIP
//! (`config.rs`), looks the flow up in the lcore's connection table (`conntrack.rs`) or, for a
//! new flow, picks a backend from the VIP's Maglev table (`maglev.rs`), and sends the client's
//! IP packet to the backend inside an outer IPv4 header (`packet.rs`, IPIP / 6in4): the
//! backend answers the client directly (direct server return). Everything it does not
//! forward is counted by reason (`stats.rs`; the policies are in `packet.rs`).
//!
//! One port, one-armed (as on EC2, where the backends are reached through the VPC): every
//! worker lcore owns RX and TX queue `i` of the port, and RSS keeps a flow on one queue, hence
//! one lcore and one connection table, with no locks. The configuration is an immutable
//! [`config::Dataplane`] behind an `ArcSwap`: the control thread builds a new one and swaps it
//! in; each lcore notices at its next burst, drops the connections of removed backends, and
//! carries on. Changes come from
//!
//! - `SIGHUP`: re-read the configuration file;
//! - the command socket (`--control PATH`, a Unix stream socket, one command per line):
//!   `reload`, `add <vip> <name> <ipv4> [weight]`, `remove <vip> <name>`,
//!   `drain <vip> <name>`, `activate <vip> <name>`, `weight <vip> <name> <w>`, `show`,
//!   `stats`. `<vip>` is written as `tcp/192.0.2.10:80` or `udp/[2001:db8::10]:53`.
//!
//! Established flows stay on their backend when backends are added, drained or re-weighted
//! (the connection table remembers them); only the flows of a *removed* backend move.
//!
//! Without `-a`/`--vdev`, it runs on one simulated port whose wire generates TCP flows to the
//! sample configuration's first VIP and counts what comes back.

mod config;
mod conntrack;
mod maglev;
mod packet;
mod stats;

use arc_swap::ArcSwap;
use clap::Parser;
use config::{BackendConfig, BackendState, Config, Dataplane, Protocol};
use conntrack::{ConnTrack, FlowKey};
use dpdk_shim::prelude::*;
use packet::{EncapParams, SourcePool};
use stats::Stats;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Most packets handled per burst.
const MAX_BURST: usize = 256;
/// How often an lcore publishes its counters, in milliseconds.
const PUBLISH_MS: u64 = 100;

/// The application's options (after the EAL's, past `--`).
#[derive(Parser, Debug, Clone)]
#[command(
    name = "l4lb",
    about = "Maglev/Katran-style L4 load balancer (IPIP, direct server return)"
)]
pub struct Opts {
    /// Configuration file (TOML); default: the sample, examples/l4lb/sample.toml.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Stop after this many seconds (0: run until Ctrl-C).
    #[arg(long, default_value_t = 0.0)]
    pub duration: f64,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// No per-second lines.
    #[arg(long)]
    pub quiet: bool,
    /// Packets per burst (1-256).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub burst: u16,
    /// Unix stream socket for control commands.
    #[arg(long)]
    pub control: Option<PathBuf>,
    /// Let the NIC compute the outer IPv4 checksum.
    #[arg(long)]
    pub hw_csum: bool,
    /// Forget flows idle for this many seconds.
    #[arg(long, default_value_t = 300)]
    pub idle_timeout: u64,
    /// The port to balance on.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Queue pairs (default: one per worker lcore).
    #[arg(long)]
    pub queues: Option<u16>,
    /// RX ring size.
    #[arg(long, default_value_t = 1024)]
    pub rxd: u16,
    /// TX ring size.
    #[arg(long, default_value_t = 1024)]
    pub txd: u16,
}

impl Default for Opts {
    fn default() -> Self {
        Opts::parse_from(["l4lb"])
    }
}

/// The EAL arguments used when none name a device: one simulated port whose generator sends
/// 4096 TCP flows to the sample's first VIP.
pub fn default_sim_args() -> Vec<String> {
    let mut v =
        vec!["--vdev=net_ena_sim0,wire=gen:proto=tcp:dst=192.0.2.10:dport=80:flows=4096:size=66:lossless".to_string()];
    let cpus = dpdk_shim::args::allowed_cpus();
    if cpus.len() >= 2 {
        v.extend(["-l".into(), format!("{},{}", cpus[0], cpus[1])]);
    }
    if let Some(c) = cpus.get(2) {
        v.extend(["--sim-core".into(), c.to_string()]);
    }
    v
}

/// A dataplane with its generation number (1 for the first, +1 per swap).
struct Plane {
    generation: u64,
    dp: Dataplane,
}

/// What the control path and the lcores share.
struct Shared {
    plane: ArcSwap<Plane>,
    /// The configuration the current plane was built from (control path only).
    config: Mutex<Config>,
    config_path: Option<PathBuf>,
    running: AtomicBool,
    /// Per lcore: its counters, published every [`PUBLISH_MS`], and the generation it runs.
    slots: Vec<Mutex<Stats>>,
    applied: Vec<AtomicU64>,
}

impl Shared {
    /// Builds and swaps in a new configuration.
    fn install(&self, cfg: Config) -> Result<u64, String> {
        let dp = Dataplane::build(&cfg)?;
        let mut cur = self.config.lock().unwrap_or_else(|e| e.into_inner());
        let generation = self.plane.load().generation + 1;
        self.plane.store(Arc::new(Plane { generation, dp }));
        *cur = cfg;
        Ok(generation)
    }

    /// Runs one control command; the reply is one line, `ok ...` or `error: ...`, or a JSON
    /// document for `stats`.
    fn command(&self, line: &str) -> String {
        let reply = match self.command_inner(line.trim()) {
            Ok(reply) => reply,
            Err(e) => format!("error: {e}"),
        };
        // One line per reply (TOML parse errors span several).
        reply
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn command_inner(&self, line: &str) -> Result<String, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let edit = |f: &dyn Fn(&mut Config) -> Result<(), String>| -> Result<String, String> {
            let mut cfg = self
                .config
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            f(&mut cfg)?;
            // Re-read as a file would be, so an edit passes the same validation.
            let cfg = Config::parse(&cfg.to_toml())?;
            let g = self.install(cfg)?;
            Ok(format!("ok generation {g}"))
        };
        match words.as_slice() {
            ["reload"] => {
                let path = self.config_path.as_ref().ok_or("running on the built-in sample; nothing to reload")?;
                let g = self.install(Config::from_file(path)?)?;
                Ok(format!("ok generation {g} from {}", path.display()))
            }
            ["add", vip, name, addr, rest @ ..] => {
                let address: Ipv4Addr = addr.parse().map_err(|_| format!("'{addr}' is not an IPv4 address"))?;
                let weight = match rest {
                    [] => 1,
                    [w] => w.parse().map_err(|_| format!("'{w}' is not a weight"))?,
                    _ => return Err("usage: add <vip> <name> <ipv4> [weight]".into()),
                };
                edit(&|c| {
                    let v = find_vip(c, vip)?;
                    v.backends.push(BackendConfig {
                        name: name.to_string(),
                        address,
                        weight,
                        state: BackendState::Active,
                    });
                    Ok(())
                })
            }
            ["remove", vip, name] => edit(&|c| {
                let v = find_vip(c, vip)?;
                let before = v.backends.len();
                v.backends.retain(|b| b.name != *name);
                if v.backends.len() == before {
                    return Err(format!("{vip} has no backend '{name}'"));
                }
                Ok(())
            }),
            ["drain", vip, name] => edit(&|c| {
                find_backend(c, vip, name)?.state = BackendState::Draining;
                Ok(())
            }),
            ["activate", vip, name] => edit(&|c| {
                find_backend(c, vip, name)?.state = BackendState::Active;
                Ok(())
            }),
            ["weight", vip, name, w] => {
                let w: u32 = w.parse().map_err(|_| format!("'{w}' is not a weight"))?;
                edit(&|c| {
                    find_backend(c, vip, name)?.weight = w;
                    Ok(())
                })
            }
            ["show"] => {
                let plane = self.plane.load();
                let mut out = format!("ok generation {}", plane.generation);
                for v in plane.dp.vips() {
                    out += &format!(" | {}:", v.label);
                    for &id in &v.backends {
                        if let Some(b) = plane.dp.backend(id) {
                            let state = if b.state == BackendState::Draining { " draining" } else { "" };
                            out += &format!(" {}={} w{}{state}", b.name, b.address, b.weight);
                        }
                    }
                }
                Ok(out)
            }
            ["stats"] => Ok(self.merged().to_json().to_string()),
            _ => Err(format!(
                "unknown command '{line}' (reload, add, remove, drain, activate, weight, show, stats)"
            )),
        }
    }

    /// Every lcore's published counters, added up.
    fn merged(&self) -> Stats {
        let mut total = Stats::new();
        for s in &self.slots {
            total.merge(&s.lock().unwrap_or_else(|e| e.into_inner()));
        }
        total
    }
}

/// `tcp/192.0.2.10:80` or `udp/[2001:db8::10]:53` in `cfg`.
fn find_vip<'a>(cfg: &'a mut Config, label: &str) -> Result<&'a mut config::VipConfig, String> {
    let bad = || format!("'{label}' is not a VIP (write it as tcp/192.0.2.10:80)");
    let (proto, sa) = label.split_once('/').ok_or_else(bad)?;
    let proto = match proto {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        _ => return Err(bad()),
    };
    let sa: SocketAddr = sa.parse().map_err(|_| bad())?;
    cfg.vips
        .iter_mut()
        .find(|v| v.protocol == proto && v.address == sa.ip() && v.port == sa.port())
        .ok_or_else(|| format!("no VIP {label} in the configuration"))
}

fn find_backend<'a>(
    cfg: &'a mut Config,
    vip: &str,
    name: &str,
) -> Result<&'a mut BackendConfig, String> {
    find_vip(cfg, vip)?
        .backends
        .iter_mut()
        .find(|b| b.name == name)
        .ok_or_else(|| format!("{vip} has no backend '{name}'"))
}

/// One lcore's packet pipeline: everything but the queues, so that it can be driven (and
/// tested) on any mbufs.
struct Pipeline {
    ct: ConnTrack,
    stats: Stats,
    plane: Arc<Plane>,
    sources: SourcePool,
    params: EncapParams,
    hw_csum: bool,
}

impl Pipeline {
    fn new(plane: Arc<Plane>, hw_csum: bool) -> Result<Pipeline, String> {
        let cfg = plane.dp.config();
        let mut p = Pipeline {
            ct: ConnTrack::new(cfg.conntrack_size),
            stats: Stats::new(),
            sources: SourcePool::new(cfg.outer_source_pool.0, cfg.outer_source_pool.1)?,
            params: params(cfg, hw_csum),
            plane: plane.clone(),
            hw_csum,
        };
        p.register_labels();
        Ok(p)
    }

    fn register_labels(&mut self) {
        for v in self.plane.dp.vips() {
            self.stats.register_vip(v.id.key(), &v.label);
        }
        for b in self.plane.dp.backends() {
            self.stats.register_backend(b.id, &b.label);
        }
    }

    /// Switches to a newer configuration: forgets the flows of removed backends, takes the
    /// new addresses and labels. Control work on the lcore, once per swap.
    fn adopt(&mut self, plane: Arc<Plane>) {
        for id in plane.dp.removed_since(&self.plane.dp) {
            self.ct.remove_backend(id);
        }
        let cfg = plane.dp.config();
        if let Ok(s) = SourcePool::new(cfg.outer_source_pool.0, cfg.outer_source_pool.1) {
            self.sources = s;
        }
        self.params = params(cfg, self.hw_csum);
        self.plane = plane;
        self.register_labels();
    }

    /// Load-balances `pkts` in place: what is to be sent is moved to the front, with its
    /// backend and length in `meta`; the rest is counted and freed. Returns how many to send.
    /// Allocation-free.
    fn process(&mut self, pkts: &mut [Option<Mbuf>], meta: &mut [(u32, u32)], now: u64) -> usize {
        let mut k = 0;
        for i in 0..pkts.len() {
            let Some(mut m) = pkts[i].take() else {
                continue;
            };
            let len = u64::from(m.pkt_len());
            self.stats.rx.add(len);
            match self.balance(&mut m, now) {
                Ok(backend) => {
                    meta[k] = (backend, m.pkt_len());
                    pkts[k] = Some(m);
                    k += 1;
                }
                Err(reason) => {
                    self.stats.policy.count(reason);
                }
            }
        }
        k
    }

    /// One packet: classify, pick, encapsulate. The error is the policy counter's name.
    #[inline]
    fn balance(&mut self, m: &mut Mbuf, now: u64) -> Result<u32, &'static str> {
        let flow = packet::parse_mbuf(m).map_err(|e| e.counter_name())?;
        if flow.ip_options {
            self.stats.policy.count("ip_options");
        }
        let dp = &self.plane.dp;
        let vip = dp.vip(flow.dst, flow.proto, flow.dport).ok_or("no_vip")?;
        self.stats.count_vip(vip.key(), u64::from(m.pkt_len()));
        let key = FlowKey::new(flow.src, flow.dst, flow.sport, flow.dport, flow.proto);
        let hash = flow.hash();
        let id = self
            .ct
            .lookup_or_insert(&key, now, || dp.pick(vip, hash).map(|(id, _)| id))
            .ok_or("no_backend")?;
        let backend = dp.backend(id).ok_or("no_backend")?.address;
        packet::encap_ipip(m, &self.params, self.sources.pick(hash), backend)
            .map_err(|e| e.counter_name())?;
        Ok(id)
    }

    /// Counts what `tx_burst` took (`sent` of the `meta` packets).
    fn count_sent(&mut self, meta: &[(u32, u32)], sent: usize) {
        for &(backend, len) in &meta[..sent] {
            self.stats.tx.add(u64::from(len));
            self.stats.count_backend(backend, u64::from(len));
        }
        for _ in sent..meta.len() {
            self.stats.policy.count("tx_full");
        }
    }

    /// Publishes the counters (with the connection table's) into `slot`.
    fn publish(&mut self, slot: &mut Stats) {
        let c = self.ct.counters();
        self.stats.conntrack = stats::ConntrackCounters {
            hits: c.hits,
            misses: c.misses,
            evictions: c.evictions,
            expired: c.expired,
            removed: c.removed,
            flows: self.ct.len() as u64,
        };
        self.stats.copy_into(slot);
    }
}

fn params(cfg: &Config, hw_csum: bool) -> EncapParams {
    EncapParams {
        lb_mac: cfg.lb_mac,
        next_hop_mac: cfg.next_hop_mac,
        mtu: cfg.mtu,
        hw_csum,
    }
}

/// A worker lcore: its queues, its pipeline, and its slot in [`Shared`].
struct Worker {
    rx: RxQueue,
    tx: TxQueue,
    pipe: Pipeline,
    shared: Arc<Shared>,
    slot: usize,
    burst: usize,
    idle_ms: u64,
}

impl Worker {
    fn run(mut self) {
        let t0 = Instant::now();
        let mut pkts: [Option<Mbuf>; MAX_BURST] = std::array::from_fn(|_| None);
        let mut meta = [(0u32, 0u32); MAX_BURST];
        let (mut last_publish, mut last_expire) = (0u64, 0u64);
        self.shared.applied[self.slot].store(self.pipe.plane.generation, Ordering::Release);
        while self.shared.running.load(Ordering::Relaxed) {
            // A new configuration? (A lock-free pointer load per burst.)
            let plane = self.shared.plane.load();
            if !Arc::ptr_eq(&plane, &self.pipe.plane) {
                let generation = plane.generation;
                self.pipe.adopt(arc_swap::Guard::into_inner(plane));
                self.shared.applied[self.slot].store(generation, Ordering::Release);
            } else {
                drop(plane);
            }
            let now = t0.elapsed().as_millis() as u64;
            let n = self.rx.rx_burst(&mut pkts[..self.burst]);
            if n > 0 {
                let k = self.pipe.process(&mut pkts[..n], &mut meta, now);
                let sent = self.tx.tx_burst(&mut pkts[..k]);
                pkts[sent..k].iter_mut().for_each(|s| *s = None);
                self.pipe.count_sent(&meta[..k], sent);
            } else if self.tx.in_flight() > 0 {
                self.tx.tx_done_cleanup();
            }
            if now >= last_expire + 10 {
                last_expire = now;
                self.pipe.ct.expire_idle(now, self.idle_ms, 256);
            }
            if now >= last_publish + PUBLISH_MS {
                last_publish = now;
                // Never wait for the main thread: publish next time if it is reading.
                if let Ok(mut slot) = self.shared.slots[self.slot].try_lock() {
                    self.pipe.publish(&mut slot);
                }
            }
        }
        let mut slot = self.shared.slots[self.slot]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.pipe.publish(&mut slot);
    }
}

/// A running load balancer.
pub struct Lb {
    shared: Arc<Shared>,
    started: Instant,
    control: Option<(PathBuf, JoinHandle<()>)>,
}

impl Lb {
    /// Configures the port, launches a worker on every worker lcore, and starts the command
    /// socket if asked for.
    pub fn start(eal: &Eal, opts: &Opts) -> Result<Lb, String> {
        let cfg = match &opts.config {
            Some(p) => Config::from_file(p)?,
            None => Config::parse(Config::sample())?,
        };
        let plane = Arc::new(Plane {
            generation: 1,
            dp: Dataplane::build(&cfg)?,
        });
        let workers: Vec<u32> = eal.lcores().workers().collect();
        if workers.is_empty() {
            return Err("l4lb balances on worker lcores and there are none: give at least two lcores (-l 0-1)".into());
        }
        let port = eal.port(opts.port).map_err(|e| e.to_string())?;
        let nq = opts.queues.unwrap_or(workers.len() as u16);
        if nq == 0 || nq as usize > workers.len() {
            return Err(format!(
                "--queues {nq}: each queue pair needs its own worker lcore, and there are {} (give more lcores with -l)",
                workers.len()
            ));
        }
        let info = port.dev_info();
        if nq > info.max_rx_queues.min(info.max_tx_queues) {
            return Err(format!(
                "port {} offers fewer than {nq} queue pairs",
                opts.port
            ));
        }
        let hw_csum = opts.hw_csum && info.tx_offload_capa & tx_offload::IPV4_CKSUM != 0;
        if opts.hw_csum && !hw_csum {
            eprintln!("l4lb: the port has no IPv4 checksum offload; computing outer checksums in software");
        }
        let mbufs = (nq as u32 * (opts.rxd as u32 + opts.txd as u32)
            + 2 * MAX_BURST as u32 * nq as u32
            + 2048)
            .max(8191);
        let pool = eal
            .pktmbuf_pool_create("l4lb_pool", mbufs, 256, 0, MBUF_DEFAULT_BUF_SIZE)
            .map_err(|e| e.to_string())?;
        let conf = EthConf {
            rxmode: RxMode {
                mq_mode: if nq > 1 { MqMode::Rss } else { MqMode::None },
                ..Default::default()
            },
            txmode: TxMode {
                offloads: if hw_csum { tx_offload::IPV4_CKSUM } else { 0 },
            },
            ..Default::default()
        };
        let setup = || -> dpdk_shim::Result<Vec<(RxQueue, TxQueue)>> {
            port.configure(nq, nq, &conf)?;
            for q in 0..nq {
                port.rx_queue_setup(q, opts.rxd, &pool)?;
                port.tx_queue_setup(q, opts.txd)?;
            }
            port.stats_reset()?;
            port.start()?;
            (0..nq)
                .map(|q| Ok((port.take_rx_queue(q)?, port.take_tx_queue(q)?)))
                .collect()
        };
        let queues = setup().map_err(|e| e.to_string())?;

        let shared = Arc::new(Shared {
            plane: ArcSwap::new(plane.clone()),
            config: Mutex::new(cfg),
            config_path: opts.config.clone(),
            running: AtomicBool::new(true),
            slots: (0..nq).map(|_| Mutex::new(Stats::new())).collect(),
            applied: (0..nq).map(|_| AtomicU64::new(0)).collect(),
        });
        for (slot, (rx, tx)) in queues.into_iter().enumerate() {
            let w = Worker {
                rx,
                tx,
                pipe: Pipeline::new(plane.clone(), hw_csum)?,
                shared: shared.clone(),
                slot,
                burst: opts.burst as usize,
                idle_ms: opts.idle_timeout.saturating_mul(1000),
            };
            eal.lcores()
                .remote_launch(workers[slot], move || {
                    w.run();
                    0
                })
                .map_err(|e| e.to_string())?;
        }
        let control = match &opts.control {
            Some(path) => Some((path.clone(), serve_control(path, shared.clone())?)),
            None => None,
        };
        Ok(Lb {
            shared,
            started: Instant::now(),
            control,
        })
    }

    /// Runs a control command, as the socket does.
    pub fn command(&self, line: &str) -> String {
        self.shared.command(line)
    }

    /// The current configuration generation.
    pub fn generation(&self) -> u64 {
        self.shared.plane.load().generation
    }

    /// Waits until every lcore runs the current configuration.
    pub fn wait_applied(&self, timeout: Duration) -> bool {
        let g = self.generation();
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if self
                .shared
                .applied
                .iter()
                .all(|a| a.load(Ordering::Acquire) >= g)
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    /// The counters every lcore published last (at most [`PUBLISH_MS`] old).
    pub fn stats(&self) -> Stats {
        self.shared.merged()
    }

    /// Stops the workers and returns the final counters and the summary as JSON.
    pub fn stop(mut self, eal: &Eal) -> (Stats, serde_json::Value) {
        self.shared.running.store(false, Ordering::Relaxed);
        let _ = eal.lcores().mp_wait_lcore();
        if let Some((path, t)) = self.control.take() {
            let _ = t.join();
            let _ = std::fs::remove_file(path);
        }
        let secs = self.started.elapsed().as_secs_f64();
        let stats = self.shared.merged();
        let mut v = stats.to_json();
        v["duration_s"] = secs.into();
        v["rx_mpps"] = (stats.rx.packets as f64 / secs / 1e6).into();
        v["tx_mpps"] = (stats.tx.packets as f64 / secs / 1e6).into();
        v["generation"] = self.generation().into();
        (stats, v)
    }
}

/// Serves the command socket until the load balancer stops.
fn serve_control(path: &PathBuf, shared: Arc<Shared>) -> Result<JoinHandle<()>, String> {
    let _ = std::fs::remove_file(path);
    let listener =
        UnixListener::bind(path).map_err(|e| format!("control socket {}: {e}", path.display()))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("control socket: {e}"))?;
    std::thread::Builder::new()
        .name("l4lb-control".into())
        .spawn(move || {
            while shared.running.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Err(e) = serve_client(stream, &shared) {
                            eprintln!("l4lb: control client: {e}");
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Err(e) => {
                        eprintln!("l4lb: control socket: {e}");
                        break;
                    }
                }
            }
        })
        .map_err(|e| format!("control thread: {e}"))
}

fn serve_client(stream: UnixStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut out = stream.try_clone()?;
    for line in BufReader::new(stream).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        writeln!(out, "{}", shared.command(&line))?;
    }
    Ok(())
}

/// Parses `argv`, runs until `stop` or the duration, and returns the summary and options.
pub fn run(
    argv: &[String],
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
) -> Result<(serde_json::Value, Opts), String> {
    let mut argv = argv.to_vec();
    if argv.is_empty() {
        argv.push("l4lb".into());
    }
    if !argv.iter().any(|a| a == "--") {
        if let Some(i) = argv.iter().position(|a| is_app_option(a)) {
            argv.insert(i, "--".into());
        }
    }
    let names_a_device = argv
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a.starts_with("-a") || a.starts_with("--vdev") || a == "--allow");
    if !names_a_device {
        argv.splice(1..1, default_sim_args());
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
        Opts::try_parse_from(std::iter::once("l4lb".to_string()).chain(app)).map_err(one_line)?;
    let lb = Lb::start(&eal, &opts)?;
    let limit = (opts.duration > 0.0).then(|| Duration::from_secs_f64(opts.duration));
    let mut last = (Instant::now(), Stats::new());
    let mut next_tick = Instant::now() + Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) && limit.is_none_or(|l| lb.started.elapsed() < l) {
        std::thread::sleep(Duration::from_millis(10));
        if reload.swap(false, Ordering::Relaxed) {
            eprintln!("l4lb: SIGHUP: {}", lb.command("reload"));
        }
        if Instant::now() >= next_tick {
            next_tick += Duration::from_secs(1);
            let now = (Instant::now(), lb.stats());
            if !opts.quiet {
                let dt = now.0.duration_since(last.0).as_secs_f64().max(1e-9);
                let line = format!(
                    "RX {:7.3} Mpps | TX {:7.3} Mpps | dropped {} | flows {} | generation {}",
                    (now.1.rx.packets - last.1.rx.packets) as f64 / dt / 1e6,
                    (now.1.tx.packets - last.1.tx.packets) as f64 / dt / 1e6,
                    now.1.policy.dropped() - last.1.policy.dropped(),
                    now.1.conntrack.flows,
                    lb.generation(),
                );
                if opts.json {
                    eprintln!("{line}");
                } else {
                    println!("{line}");
                }
            }
            last = now;
        }
    }
    let (_, summary) = lb.stop(&eal);
    Ok((summary, opts))
}

fn is_app_option(a: &str) -> bool {
    const OPTS: [&str; 13] = [
        "--config",
        "--duration",
        "--json",
        "--quiet",
        "--burst",
        "--control",
        "--hw-csum",
        "--idle-timeout",
        "--port",
        "--queues",
        "--rxd",
        "--txd",
        "--help",
    ];
    OPTS.contains(&a.split('=').next().unwrap_or(a)) || a == "-h"
}

fn main() {
    let stop = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            eprintln!("l4lb: cannot handle signal {sig}: {e}");
        }
    }
    if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGHUP, reload.clone()) {
        eprintln!("l4lb: cannot handle SIGHUP: {e}");
    }
    let argv: Vec<String> = std::env::args().collect();
    match run(&argv, stop, reload) {
        Ok((summary, opts)) if opts.json => println!("{summary}"),
        Ok((summary, _)) => println!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("summary serialises")
        ),
        Err(e) => {
            eprintln!("l4lb: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
