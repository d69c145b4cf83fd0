//! Fault campaign: every fault the device model can inject, one at a time, while traffic runs on
//! four queue pairs of a threaded device model cabled in loopback, with RSS on (a non-default key
//! and RETA), a 4000-byte MTU and checksum/RSS offloads on.
//!
//! For each fault the campaign checks what a production deployment cares about:
//!
//! - the driver notices, and resets with the reason code Amazon's Linux driver uses for that
//!   condition (torvalds/linux drivers/net/ethernet/amazon/ena/ena_netdev.c and ena_eth_com.c;
//!   the extended codes from amzn/amzn-drivers kernel/linux/ena/ena_netdev.c) — or, for a link
//!   flap and an admin error status, does *not* reset;
//! - the queues and the configuration come back: the device model's own state (RSS key and
//!   indirection table, MTU, LLQ, queue count) equals the configuration, and every packet received
//!   afterwards carries the Toeplitz hash of the configured key, arrives on the queue the RETA
//!   names, and had its checksums computed by the device (the TX offloads) and checked (the RX
//!   offloads);
//! - traffic sent after the reset is received within 100 ms of the end of the reset;
//! - no panic, no buffer handed out twice, and the pool is whole at the end;
//! - every packet is accounted for: sent = received + losses, each loss in a named counter
//!   (the model's `tx_drops`, `rx_drops`, `rx_overruns`; the driver's `rx_qN_reset_drops`), and
//!   the packets the device never read before the reset bounded by the driver's
//!   `tx_qN_reset_drops` (no device can say which of the packets in flight it had read).
//!
//! `cargo test -p ena --test fault_campaign -- --nocapture` prints the table.

mod common;

use common::threaded;
use ena::hw::admin::{opcode, status};
use ena::hw::regs::ResetReason;
use ena::mem::pool::{ol, HEADROOM};
use ena::platform::Platform;
use ena::pmd::{rx_offload, tx_offload, PortConf, PortEvent, PortOptions, RssConf, WatchdogConfig};
use ena::{Mbuf, MbufCache, Mempool, RxQueue, TxQueue};
use ena_sim::config::DeviceConfig;
use ena_sim::fault::Fault;
use ena_sim::frames;
use ena_sim::rss::toeplitz;
use ena_sim::wire::Wire;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const QUEUES: u16 = 4;
const RING: u16 = 512;
const MTU: u32 = 4000;
const POOL: u32 = 8192;
/// Room for a whole 4000-byte-MTU frame in one buffer.
const DATA_ROOM: u16 = 4096 + HEADROOM;
/// Sequence numbers per TX queue the receive bitmaps have room for.
const MAX_SEQ: usize = 1 << 18;
/// L4 payload lengths sent, in turn (3000 needs the 4000-byte MTU).
const PAYLOADS: [usize; 6] = [18, 100, 400, 1000, 1400, 3000];
/// Packets per second each TX queue offers: well within what a debug build of the model carries
/// on two cores, so the model keeps time (keep-alives) and the losses are the faults' own.
const RATE_PER_QUEUE: u64 = 1000;
/// How long traffic must resume within after a reset.
const RESUME_LIMIT: Duration = Duration::from_millis(100);

/// A non-default RSS key (standard order).
const KEY: [u8; 40] = [
    0x3c, 0x91, 0x0a, 0x5e, 0xd7, 0x22, 0x6b, 0xf0, 0x48, 0x13, 0xae, 0x7c, 0x05, 0x99, 0xe1, 0x2d,
    0x6f, 0xb4, 0x30, 0x87, 0x1e, 0xc5, 0x52, 0x09, 0xfa, 0x64, 0x3b, 0xd0, 0x8e, 0x17, 0x75, 0xca,
    0x21, 0x5d, 0x9f, 0x46, 0xe8, 0x0c, 0xb3, 0x6a,
];

/// A non-default redirection table (the default is `i % 4`).
fn custom_reta() -> Vec<u16> {
    (0..128u16).map(|i| (i * 5 / 3 + i / 32) % QUEUES).collect()
}

fn device_config() -> DeviceConfig {
    DeviceConfig {
        keep_alive_interval: Duration::from_millis(50),
        // CAPS.admin_cmd_to, in 100 ms units: a lost admin completion is noticed in 300 ms.
        admin_cmd_timeout: 3,
        ..DeviceConfig::default()
    }
}

fn port_options() -> PortOptions {
    PortOptions {
        watchdog: WatchdogConfig {
            // Short, so the campaign is quick; long enough that a loaded 2-core machine does not
            // trip them by itself.
            keep_alive_timeout: Some(Duration::from_millis(1500)),
            missing_tx_timeout: Some(Duration::from_millis(1000)),
            missing_tx_threshold: Some(32),
        },
        ..Default::default()
    }
}

fn port_conf() -> PortConf {
    PortConf {
        rss: Some(RssConf {
            key: Some(KEY),
            ..Default::default()
        }),
        rx_offloads: rx_offload::IPV4_CKSUM
            | rx_offload::UDP_CKSUM
            | rx_offload::TCP_CKSUM
            | rx_offload::RSS_HASH,
        tx_offloads: tx_offload::IPV4_CKSUM | tx_offload::UDP_CKSUM | tx_offload::TCP_CKSUM,
        mtu: Some(MTU),
    }
}

// ----- the wire -----

/// What crossed the cable, counted by the cable itself.
#[derive(Default)]
struct WireCounters {
    /// Frames the device transmitted and the wire took.
    accepted: AtomicU64,
    /// Frames the wire refused (full).
    refused: AtomicU64,
    /// Frames handed to the device's receive side.
    delivered: AtomicU64,
}

/// A loopback cable that counts.
struct CountingLoopback {
    queue: VecDeque<Vec<u8>>,
    capacity: usize,
    c: Arc<WireCounters>,
}

impl Wire for CountingLoopback {
    fn transmit(&mut self, frame: &[u8]) -> bool {
        if self.queue.len() >= self.capacity {
            self.c.refused.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.queue.push_back(frame.to_vec());
        self.c.accepted.fetch_add(1, Ordering::Relaxed);
        true
    }

    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        let f = self.queue.pop_front()?;
        let n = f.len().min(buf.len());
        buf[..n].copy_from_slice(&f[..n]);
        self.c.delivered.fetch_add(1, Ordering::Relaxed);
        Some(n)
    }

    fn describe(&self) -> String {
        "counting loopback".into()
    }
}

// ----- traffic -----

/// What the packet with sequence number `seq` from TX queue `q` looks like.
struct Shape {
    tcp: bool,
    payload: usize,
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
}

fn shape(q: u16, seq: u64) -> Shape {
    Shape {
        tcp: seq.is_multiple_of(3),
        payload: PAYLOADS[((seq * 7 + q as u64) % PAYLOADS.len() as u64) as usize],
        src: [10, 0, q as u8, 1],
        dst: [10, 1, (seq >> 8) as u8, seq as u8],
        sport: 1024 + (seq % 4096) as u16,
        dport: 80 + q,
    }
}

fn tag(q: u16, seq: u64) -> [u8; 8] {
    ((q as u64) << 40 | seq).to_be_bytes()
}

/// The frame as it must arrive: checksums valid, tag at the start of the payload.
fn expected_frame(templates: &Templates, q: u16, seq: u64) -> Vec<u8> {
    let s = shape(q, seq);
    let mut f = templates.get(s.tcp, s.payload).to_vec();
    f[26..30].copy_from_slice(&s.src);
    f[30..34].copy_from_slice(&s.dst);
    f[34..36].copy_from_slice(&s.sport.to_be_bytes());
    f[36..38].copy_from_slice(&s.dport.to_be_bytes());
    let l4 = if s.tcp { 20 } else { 8 };
    f[34 + l4..34 + l4 + 8].copy_from_slice(&tag(q, seq));
    f
}

/// One frame per (protocol, payload length); addresses, ports and tag are patched in.
struct Templates(Vec<((bool, usize), Vec<u8>)>);

impl Templates {
    fn new() -> Self {
        let mut v = Vec::new();
        for tcp in [false, true] {
            for &p in &PAYLOADS {
                v.push(((tcp, p), frames::ipv4(tcp, [0; 4], [0; 4], 0, 0, p)));
            }
        }
        Templates(v)
    }

    fn get(&self, tcp: bool, payload: usize) -> &[u8] {
        self.0
            .iter()
            .find(|(k, _)| *k == (tcp, payload))
            .map(|(_, f)| f.as_slice())
            .unwrap_or(&[])
    }
}

/// State shared by the workers and the control thread of one run.
struct Traffic {
    stop_tx: AtomicBool,
    stop: AtomicBool,
    sent: AtomicU64,
    received: AtomicU64,
    /// Next sequence number per TX queue.
    next_seq: Vec<AtomicU64>,
    /// Per TX queue, per sequence number: received.
    seen: Vec<Vec<AtomicBool>>,
    /// Per mbuf index: held by the application right now.
    held: Vec<AtomicBool>,
    /// Problems found on the data path (first few kept).
    problems: Mutex<Vec<String>>,
    problem_count: AtomicU64,
    reta: Vec<u16>,
    epoch: Instant,
    /// Per TX queue, the first sequence number sent after the last reset (u64::MAX: none).
    resume_mark: Vec<AtomicU64>,
    /// When the first packet sent after the mark arrived (ns since `epoch`; u64::MAX: not yet).
    first_after_mark: AtomicU64,
}

impl Traffic {
    fn new() -> Self {
        let n = QUEUES as usize;
        Self {
            stop_tx: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            next_seq: (0..n).map(|_| AtomicU64::new(0)).collect(),
            seen: (0..n)
                .map(|_| (0..MAX_SEQ).map(|_| AtomicBool::new(false)).collect())
                .collect(),
            held: (0..POOL).map(|_| AtomicBool::new(false)).collect(),
            problems: Mutex::new(Vec::new()),
            problem_count: AtomicU64::new(0),
            reta: custom_reta(),
            epoch: Instant::now(),
            resume_mark: (0..n).map(|_| AtomicU64::new(u64::MAX)).collect(),
            first_after_mark: AtomicU64::new(u64::MAX),
        }
    }

    fn problem(&self, what: String) {
        self.problem_count.fetch_add(1, Ordering::Relaxed);
        let mut p = self.problems.lock().unwrap_or_else(|e| e.into_inner());
        if p.len() < 8 {
            p.push(what);
        }
    }

    fn ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// The application takes ownership of buffer `m` (from the pool or from `rx_burst`).
    fn take(&self, m: &Mbuf, from: &str) {
        if let Some(h) = self.held.get(m.index() as usize) {
            if h.swap(true, Ordering::Relaxed) {
                self.problem(format!(
                    "mbuf {} handed out twice ({from} while the application holds it)",
                    m.index()
                ));
            }
        } else {
            self.problem(format!("mbuf index {} outside the pool", m.index()));
        }
    }

    /// The application gives buffer `m` away (to `tx_burst` or back to the pool).
    fn give(&self, m: &Mbuf) {
        if let Some(h) = self.held.get(m.index() as usize) {
            h.store(false, Ordering::Relaxed);
        }
    }

    /// From now on, the first packet received that was sent after this point (or, with
    /// `any`, the first packet received at all) measures the resumption of traffic.
    fn mark_resume(&self, any: bool) {
        self.first_after_mark.store(u64::MAX, Ordering::SeqCst);
        for (q, m) in self.resume_mark.iter().enumerate() {
            let from = if any {
                0
            } else {
                self.next_seq[q].load(Ordering::SeqCst)
            };
            m.store(from, Ordering::SeqCst);
        }
    }
}

struct Worker {
    rx: Vec<RxQueue>,
    tx: Vec<TxQueue>,
    cache: MbufCache,
}

/// One worker thread's loop: send on its TX queues, receive and check on its RX queues.
fn worker(mut w: Worker, t: Arc<Traffic>, templates: Arc<Templates>) -> Worker {
    let mut burst: Vec<Option<Mbuf>> = (0..32).map(|_| None).collect();
    let mut out: Vec<Option<Mbuf>> = Vec::with_capacity(16);
    let start = Instant::now();
    let mut offered = vec![0u64; w.tx.len()];
    while !t.stop.load(Ordering::Relaxed) {
        let mut busy = false;
        let allowed = start.elapsed().as_micros() as u64 * RATE_PER_QUEUE / 1_000_000;
        for (i, txq) in w.tx.iter_mut().enumerate() {
            let q = txq.queue_id();
            if t.stop_tx.load(Ordering::Relaxed) {
                txq.tx_done_cleanup();
                continue;
            }
            out.clear();
            let due = allowed.saturating_sub(offered[i]).min(8);
            if due == 0 {
                // Reclaim completions while idle, as an application's burst loop does.
                txq.tx_done_cleanup();
                continue;
            }
            offered[i] += due;
            for _ in 0..due {
                let seq = t.next_seq[q as usize].load(Ordering::Relaxed);
                if seq as usize >= MAX_SEQ {
                    break;
                }
                let Some(mut m) = w.cache.alloc() else { break };
                t.take(&m, "allocation");
                t.next_seq[q as usize].store(seq + 1, Ordering::Relaxed);
                let mut f = expected_frame(&templates, q, seq);
                let tcp = shape(q, seq).tcp;
                // Garbage where the checksums go: the device computes them (TX offloads).
                f[24..26].copy_from_slice(&[0xde, 0xad]);
                let at = if tcp { 34 + 16 } else { 34 + 6 };
                f[at..at + 2].copy_from_slice(&[0xbe, 0xef]);
                let Some(room) = m.append(f.len() as u16) else {
                    t.problem(format!("no room for {} bytes", f.len()));
                    t.give(&m);
                    break;
                };
                room.copy_from_slice(&f);
                m.set_ol_flags(
                    ol::TX_IPV4
                        | ol::TX_IP_CKSUM
                        | if tcp {
                            ol::TX_TCP_CKSUM
                        } else {
                            ol::TX_UDP_CKSUM
                        },
                );
                m.set_l2_len(14);
                m.set_l3_len(20);
                m.set_l4_len(if tcp { 20 } else { 8 });
                out.push(Some(m));
            }
            if out.is_empty() {
                continue;
            }
            // The driver owns what it accepts; mark before the call (a burst hands buffers
            // over one by one).
            for m in out.iter().flatten() {
                t.give(m);
            }
            let n = txq.tx_burst(&mut out);
            t.sent.fetch_add(n as u64, Ordering::Relaxed);
            for m in out[n..].iter_mut().filter_map(Option::take) {
                // Not accepted: back to the pool (its sequence number is simply never sent).
                drop(m);
            }
            busy |= n > 0;
        }
        for rxq in w.rx.iter_mut() {
            let k = rxq.rx_burst(&mut burst);
            if k == 0 {
                continue;
            }
            busy = true;
            let now = t.ns();
            for m in burst[..k].iter_mut().filter_map(Option::take) {
                t.take(&m, "rx_burst");
                check_packet(&t, &templates, &m, rxq.queue_id(), now);
                t.give(&m);
                drop(m);
            }
        }
        if !busy {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    w
}

/// Checks one received packet against what was sent and what the configuration promises.
fn check_packet(t: &Traffic, templates: &Templates, m: &Mbuf, rxq: u16, now: u64) {
    let data = m.data();
    let l4 = match data.get(23) {
        Some(6) => 20,
        Some(17) => 8,
        _ => {
            t.problem(format!(
                "received a frame that is not TCP/UDP over IPv4: {data:02x?}"
            ));
            return;
        }
    };
    let Some(tag_bytes) = data.get(34 + l4..34 + l4 + 8) else {
        t.problem(format!("received a {}-byte frame", data.len()));
        return;
    };
    let v = u64::from_be_bytes(tag_bytes.try_into().unwrap_or_default());
    let (q, seq) = ((v >> 40) as u16, v & ((1 << 40) - 1));
    if q >= QUEUES || seq as usize >= MAX_SEQ {
        t.problem(format!("received a frame with a bad tag {v:#x}"));
        return;
    }
    let want = expected_frame(templates, q, seq);
    let mut got = data.to_vec();
    if got.len() != want.len() || !frames::checksums_valid(&got) {
        t.problem(format!(
            "q{q} seq {seq}: {} bytes (want {}), checksums valid: {}",
            got.len(),
            want.len(),
            frames::checksums_valid(&got)
        ));
        return;
    }
    // Compare all but the checksums (computed by the device, checked above).
    let csum_at = if l4 == 20 { 34 + 16 } else { 34 + 6 };
    for at in [24, csum_at] {
        got[at..at + 2].copy_from_slice(&want[at..at + 2]);
    }
    if got != want {
        t.problem(format!("q{q} seq {seq}: contents differ"));
        return;
    }
    let flags = m.ol_flags();
    let want_flags = ol::RX_RSS_HASH | ol::RX_IP_CKSUM_GOOD | ol::RX_L4_CKSUM_GOOD;
    if flags & want_flags != want_flags || flags & (ol::RX_IP_CKSUM_BAD | ol::RX_L4_CKSUM_BAD) != 0
    {
        t.problem(format!("q{q} seq {seq}: RX offload flags {flags:#x}"));
    }
    let mut tuple = Vec::with_capacity(12);
    tuple.extend_from_slice(&data[26..34]);
    tuple.extend_from_slice(&data[34..38]);
    let hash = toeplitz(&KEY, &tuple);
    if m.rss_hash() != hash {
        t.problem(format!(
            "q{q} seq {seq}: RSS hash {:#010x}, the configured key gives {hash:#010x}",
            m.rss_hash()
        ));
    }
    let want_q = t.reta[(hash % 128) as usize];
    if rxq != want_q || m.queue() != rxq {
        t.problem(format!(
            "q{q} seq {seq}: arrived on RX queue {rxq} (mbuf says {}); the RETA says {want_q}",
            m.queue()
        ));
    }
    if t.seen[q as usize][seq as usize].swap(true, Ordering::Relaxed) {
        t.problem(format!("q{q} seq {seq}: received twice"));
        return;
    }
    t.received.fetch_add(1, Ordering::Relaxed);
    if seq >= t.resume_mark[q as usize].load(Ordering::SeqCst) {
        t.first_after_mark.fetch_min(now, Ordering::SeqCst);
    }
}

// ----- the campaign -----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// A reset with this reason.
    Reset(ResetReason),
    /// Link down then up, no reset.
    LinkFlap,
    /// The admin command fails with its status; no reset.
    AdminError,
}

struct Case {
    name: &'static str,
    fault: Fault,
    expect: Expect,
    /// What Amazon's Linux driver does (for the table).
    linux: &'static str,
    /// Injected when the reset is seen (ends a fault that would otherwise persist).
    after: Option<Fault>,
}

fn cases() -> Vec<Case> {
    use ResetReason::*;
    let q = None;
    vec![
        Case {
            name: "admin command timeout",
            fault: Fault::AdminTimeout {
                opcode: Some(opcode::GET_STATS),
                count: 1,
            },
            expect: Expect::Reset(AdminTimeout),
            linux: "ADMIN_TO",
            after: None,
        },
        Case {
            name: "admin error status",
            fault: Fault::AdminError {
                opcode: Some(opcode::GET_STATS),
                status: status::ILLEGAL_PARAMETER,
                count: 1,
            },
            expect: Expect::AdminError,
            linux: "none (-EINVAL)",
            after: None,
        },
        Case {
            name: "fatal error",
            fault: Fault::FatalError,
            expect: Expect::Reset(Generic),
            linux: "KEEP_ALIVE_TO*",
            after: None,
        },
        Case {
            name: "missing keep-alives",
            fault: Fault::StopKeepAlive,
            expect: Expect::Reset(KeepAliveTimeout),
            linux: "KEEP_ALIVE_TO",
            after: Some(Fault::ResumeKeepAlive),
        },
        Case {
            name: "missed TX completions",
            fault: Fault::DropTxCompletions {
                queue: q,
                count: 512,
            },
            expect: Expect::Reset(MissingTxCompletion),
            linux: "MISS_TX_CMPL",
            after: None,
        },
        Case {
            name: "TX completion wrong phase",
            fault: Fault::WrongTxPhase { queue: q, count: 1 },
            expect: Expect::Reset(MissingTxCompletion),
            linux: "MISS_TX_CMPL",
            after: None,
        },
        Case {
            name: "bad TX req_id",
            fault: Fault::BadTxReqId { queue: q, count: 1 },
            expect: Expect::Reset(InvalidTxReqId),
            linux: "INV_TX_REQ_ID",
            after: None,
        },
        Case {
            name: "stale in-range TX req_id",
            fault: Fault::StaleTxReqId { queue: q, count: 1 },
            expect: Expect::Reset(InvalidTxReqId),
            linux: "INV_TX_REQ_ID",
            after: None,
        },
        Case {
            name: "TX completion MBZ bit",
            fault: Fault::TxCdescMbz { queue: q, count: 1 },
            expect: Expect::Reset(TxDescriptorMalformed),
            linux: "TX_DESCRIPTOR_MALFORMED",
            after: None,
        },
        Case {
            name: "bad RX req_id",
            fault: Fault::BadRxReqId { queue: q, count: 1 },
            expect: Expect::Reset(InvalidRxReqId),
            linux: "INV_RX_REQ_ID",
            after: None,
        },
        Case {
            name: "RX length out of range",
            fault: Fault::BadRxLength { queue: q, count: 1 },
            expect: Expect::Reset(RxDescriptorMalformed),
            linux: "RX_DESCRIPTOR_MALFORMED*",
            after: None,
        },
        Case {
            name: "RX completion MBZ bit",
            fault: Fault::RxCdescMbz { queue: q, count: 1 },
            expect: Expect::Reset(RxDescriptorMalformed),
            linux: "RX_DESCRIPTOR_MALFORMED",
            after: None,
        },
        Case {
            name: "RX packet missing last",
            fault: Fault::RxMissingLast { queue: q, count: 1 },
            expect: Expect::Reset(RxDescriptorMalformed),
            linux: "RX_DESCRIPTOR_MALFORMED",
            after: None,
        },
        Case {
            name: "link flap",
            fault: Fault::LinkFlap {
                down_for: Duration::from_millis(200),
            },
            expect: Expect::LinkFlap,
            linux: "none (carrier off/on)",
            after: None,
        },
        Case {
            name: "device-requested reset",
            fault: Fault::DeviceRequestReset,
            expect: Expect::Reset(DeviceRequest),
            linux: "DEVICE_REQUEST",
            after: None,
        },
    ]
}

/// One row of the table.
#[derive(Default)]
struct Row {
    name: String,
    detected: String,
    reason: String,
    linux: String,
    recovery: String,
    resume: String,
    sent: u64,
    received: u64,
    lost: u64,
    explained: String,
    leaks: String,
    failures: Vec<String>,
}

fn xsum(x: &[(String, u64)], prefix: &str, suffix: &str) -> u64 {
    x.iter()
        .filter(|(n, _)| n.starts_with(prefix) && n.ends_with(suffix))
        .map(|(_, v)| v)
        .sum()
}

/// Checks the device model's view of the configuration against what the port was given.
fn check_device_state(sim: &ena_sim::transport::inproc::SimDevice, reta: &[u16]) -> Vec<String> {
    let mut f = Vec::new();
    let v = sim.view();
    if v.features.mtu != MTU {
        f.push(format!("device MTU {} (configured {MTU})", v.features.mtu));
    }
    let mut dev_key = KEY;
    dev_key.reverse();
    if v.features.rss.key() != &dev_key {
        f.push("device RSS key is not the configured key".into());
    }
    if v.rx_queues.len() != QUEUES as usize || v.tx_queues.len() != QUEUES as usize {
        f.push(format!(
            "device has {} RX / {} TX queues",
            v.rx_queues.len(),
            v.tx_queues.len()
        ));
    } else {
        let want: Vec<u16> = reta.iter().map(|&q| v.rx_queues[q as usize]).collect();
        if v.features.rss.indirection_table() != want.as_slice() {
            f.push("device RSS indirection table is not the configured RETA".into());
        }
    }
    if v.features.llq.is_none() {
        f.push("LLQ is not active on the device".into());
    }
    f
}

fn run_case(case: &Case) -> Row {
    let mut row = Row {
        name: case.name.into(),
        linux: case.linux.into(),
        ..Default::default()
    };
    let wire = Arc::new(WireCounters::default());
    let mut b = threaded(
        device_config(),
        Box::new(CountingLoopback {
            queue: VecDeque::new(),
            capacity: 4096,
            c: wire.clone(),
        }),
        port_options(),
    );
    let platform = b.platform.clone();
    let pool = Mempool::new("campaign", POOL, DATA_ROOM, &move |len, align| {
        platform.alloc_dma(len, align)
    })
    .expect("pool");
    let conf = port_conf();
    b.port.configure(QUEUES, QUEUES, &conf).expect("configure");
    for q in 0..QUEUES {
        b.port.rx_queue_setup(q, RING, &pool).expect("rx setup");
        b.port.tx_queue_setup(q, RING, &pool).expect("tx setup");
    }
    b.port.start().expect("start");
    let reta = custom_reta();
    let update: Vec<(u16, u16)> = reta
        .iter()
        .enumerate()
        .map(|(i, &q)| (i as u16, q))
        .collect();
    b.port.rss_reta_update(&update).expect("RETA update");
    assert_eq!(b.port.rss_reta_query(), reta.as_slice());
    row.failures.extend(check_device_state(&b.sim, &reta));

    let t = Arc::new(Traffic::new());
    let templates = Arc::new(Templates::new());
    let mut handles = Vec::new();
    for w in 0..2u16 {
        let mut rx = Vec::new();
        let mut tx = Vec::new();
        for q in [2 * w, 2 * w + 1] {
            rx.push(b.port.take_rx_queue(q).expect("rx queue"));
            tx.push(b.port.take_tx_queue(q).expect("tx queue"));
        }
        let worker_state = Worker {
            rx,
            tx,
            cache: pool.cache(256),
        };
        let (t, templates) = (t.clone(), templates.clone());
        handles.push(
            std::thread::Builder::new()
                .name(format!("worker{w}"))
                .spawn(move || worker(worker_state, t, templates))
                .expect("worker thread"),
        );
    }

    // Warm up: traffic must flow before the fault.
    let t0 = Instant::now();
    while t.received.load(Ordering::Relaxed) < 2000 && t0.elapsed() < Duration::from_secs(5) {
        for e in b.port.poll_control() {
            // The link coming up after start is expected; nothing else is.
            if e != PortEvent::LinkChange(ena::pmd::Link { up: true }) {
                row.failures.push(format!("before the fault: {e:?}"));
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if t.received.load(Ordering::Relaxed) < 2000 {
        row.failures.push("no traffic before the fault".into());
    }

    b.sim.faults.inject(case.fault.clone());
    let injected = Instant::now();
    let mut detected: Option<Duration> = None;
    let mut reasons: Vec<ResetReason> = Vec::new();
    let mut links: Vec<bool> = Vec::new();
    let mut marked_at: Option<Instant> = None;
    let mut last_stats = Instant::now();
    let deadline = Duration::from_secs(4);
    // For the cases without a reset, how long to watch that none happens.
    let quiet_watch = Duration::from_millis(600);
    loop {
        for e in b.port.poll_control() {
            match e {
                PortEvent::Reset { reason, recovery } => {
                    detected.get_or_insert(injected.elapsed());
                    reasons.push(reason);
                    row.recovery = format!("{:.1} ms", recovery.as_secs_f64() * 1e3);
                    if let Some(f) = &case.after {
                        b.sim.faults.inject(f.clone());
                    }
                    // The configuration is back in the device before traffic is.
                    row.failures.extend(
                        check_device_state(&b.sim, &reta)
                            .into_iter()
                            .map(|s| format!("after the reset: {s}")),
                    );
                    t.mark_resume(false);
                    marked_at = Some(Instant::now());
                }
                PortEvent::ResetFailed { reason, error } => {
                    row.failures
                        .push(format!("reset ({reason}) failed: {error}"));
                }
                // After a reset the driver learns the link state afresh (and reports it up).
                PortEvent::LinkChange(l) if case.expect == Expect::LinkFlap => {
                    detected.get_or_insert(injected.elapsed());
                    links.push(l.up);
                    if l.up {
                        // What was sent while the link was down is still on the wire, ahead
                        // of anything new: the link is back when receiving is.
                        t.mark_resume(true);
                        marked_at = Some(Instant::now());
                    }
                }
                PortEvent::LinkChange(_) => {}
                PortEvent::ConfNotification(_) => {}
            }
        }
        // The application's periodic statistics read (what runs into admin faults).
        if last_stats.elapsed() >= Duration::from_millis(50) {
            last_stats = Instant::now();
            match b.port.stats() {
                Ok(_) => {}
                Err(e) => {
                    let s = e.to_string();
                    let expected = match case.expect {
                        Expect::AdminError => s.contains("status 5 (illegal parameter)"),
                        Expect::Reset(ResetReason::AdminTimeout) => {
                            matches!(e, ena::Error::AdminTimeout { .. })
                                || s.contains("admin queue is not running")
                        }
                        _ => false,
                    };
                    if expected {
                        if case.expect == Expect::AdminError {
                            detected.get_or_insert(injected.elapsed());
                        }
                    } else if !s.contains("resetting") {
                        row.failures.push(format!("stats: {s}"));
                    }
                }
            }
        }
        let elapsed = injected.elapsed();
        let resumed = t.first_after_mark.load(Ordering::SeqCst) != u64::MAX;
        let done = match case.expect {
            Expect::Reset(_) => {
                !reasons.is_empty()
                    && resumed
                    && marked_at.is_some_and(|m| m.elapsed() > Duration::from_millis(200))
            }
            Expect::LinkFlap => links.len() >= 2 && resumed && elapsed > quiet_watch,
            Expect::AdminError => detected.is_some() && elapsed > quiet_watch,
        };
        if done || elapsed > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    row.detected = match detected {
        Some(d) => format!("yes, {:.0} ms", d.as_secs_f64() * 1e3),
        None => "NO".into(),
    };
    row.reason = match (case.expect, reasons.as_slice()) {
        (_, []) => "none".into(),
        (_, r) => r
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    match case.expect {
        Expect::Reset(want) => {
            if reasons != [want] {
                row.failures
                    .push(format!("resets {reasons:?}, expected exactly [{want:?}]"));
            }
            // The device saw the reason code.
            let last = b.sim.view().last_reset_reason;
            if last != Some(want as u8) {
                row.failures.push(format!(
                    "device saw reset reason {last:?}, expected {}",
                    want as u8
                ));
            }
        }
        Expect::LinkFlap => {
            if links != [false, true] {
                row.failures
                    .push(format!("link changes {links:?}, expected [down, up]"));
            }
            if !reasons.is_empty() {
                row.failures
                    .push(format!("a link flap reset the device: {reasons:?}"));
            }
            if !b.port.link().up {
                row.failures.push("link reported down at the end".into());
            }
        }
        Expect::AdminError => {
            if detected.is_none() {
                row.failures.push("the admin error was not reported".into());
            }
            if !reasons.is_empty() {
                row.failures.push(format!(
                    "an admin error status reset the device: {reasons:?}"
                ));
            }
        }
    }
    if detected.is_none() {
        row.failures.push("fault not detected".into());
    }
    if case.expect != Expect::AdminError {
        let first = t.first_after_mark.load(Ordering::SeqCst);
        match marked_at {
            Some(m) if first != u64::MAX => {
                let mark_ns = m.duration_since(t.epoch).as_nanos() as u64;
                let d = Duration::from_nanos(first.saturating_sub(mark_ns));
                row.resume = format!("{:.1} ms", d.as_secs_f64() * 1e3);
                if d > RESUME_LIMIT {
                    row.failures.push(format!(
                        "traffic resumed only after {d:?} (limit {RESUME_LIMIT:?})"
                    ));
                }
            }
            _ => {
                row.resume = "never".into();
                row.failures.push("traffic did not resume".into());
            }
        }
    } else {
        row.resume = "-".into();
    }

    // Quiesce: stop sending, let everything on the wire arrive.
    t.stop_tx.store(true, Ordering::SeqCst);
    let mut stable_since = Instant::now();
    let mut last = (u64::MAX, u64::MAX);
    let q0 = Instant::now();
    loop {
        for e in b.port.poll_control() {
            if !matches!(e, PortEvent::LinkChange(_)) {
                row.failures.push(format!("while draining: {e:?}"));
            }
        }
        let now = (
            t.received.load(Ordering::Relaxed),
            wire.delivered.load(Ordering::Relaxed),
        );
        let on_wire = wire.accepted.load(Ordering::Relaxed) - now.1;
        if now != last || on_wire != 0 {
            last = now;
            stable_since = Instant::now();
        }
        if stable_since.elapsed() > Duration::from_millis(150)
            || q0.elapsed() > Duration::from_secs(5)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    t.stop.store(true, Ordering::SeqCst);
    let mut rxs = Vec::new();
    let mut txs = Vec::new();
    let mut caches = Vec::new();
    for h in handles {
        match h.join() {
            Ok(w) => {
                rxs.extend(w.rx);
                txs.extend(w.tx);
                caches.push(w.cache);
            }
            Err(_) => row.failures.push("a worker panicked".into()),
        }
    }
    for tx in txs.iter_mut() {
        tx.tx_done_cleanup();
        if tx.in_flight() != 0 {
            row.failures.push(format!(
                "TX queue {} still has {} slots in flight",
                tx.queue_id(),
                tx.in_flight()
            ));
        }
    }
    b.port.stop().expect("stop");
    let x = b.port.xstats().expect("xstats");
    let dev = b.sim.stats.snapshot().lifetime;

    // Packet accounting.
    let sent = t.sent.load(Ordering::SeqCst);
    let received = t.received.load(Ordering::SeqCst);
    let tx_cnt = xsum(&x, "tx_q", "_cnt");
    let tx_completed = xsum(&x, "tx_q", "_completed");
    let tx_reset_drops = xsum(&x, "tx_q", "_reset_drops");
    let rx_reset_drops = xsum(&x, "rx_q", "_reset_drops");
    let w_acc = wire.accepted.load(Ordering::SeqCst);
    let w_ref = wire.refused.load(Ordering::SeqCst);
    let w_del = wire.delivered.load(Ordering::SeqCst);
    let mut acct = |ok: bool, what: String| {
        if !ok {
            row.failures.push(format!("accounting: {what}"));
        }
    };
    acct(tx_cnt == sent, format!("tx_qN_cnt {tx_cnt} != sent {sent}"));
    acct(
        tx_completed + tx_reset_drops == sent,
        format!("tx completed {tx_completed} + reset_drops {tx_reset_drops} != sent {sent}"),
    );
    acct(
        dev.tx_pkts == w_acc && dev.tx_drops == w_ref,
        format!(
            "device tx_pkts {} / tx_drops {} != wire accepted {w_acc} / refused {w_ref}",
            dev.tx_pkts, dev.tx_drops
        ),
    );
    acct(
        w_acc == w_del,
        format!("{} frames left on the wire", w_acc - w_del),
    );
    acct(
        w_del == dev.rx_pkts + dev.rx_drops + dev.rx_overruns,
        format!(
            "wire delivered {w_del} != device rx_pkts {} + rx_drops {} + rx_overruns {}",
            dev.rx_pkts, dev.rx_drops, dev.rx_overruns
        ),
    );
    acct(
        dev.rx_pkts == received + rx_reset_drops,
        format!(
            "device rx_pkts {} != received {received} + rx_qN_reset_drops {rx_reset_drops}",
            dev.rx_pkts
        ),
    );
    let device_read = dev.tx_pkts + dev.tx_drops;
    let unread = sent.saturating_sub(device_read);
    acct(
        device_read <= sent && unread <= tx_reset_drops,
        format!(
            "device read {device_read} of {sent} packets; the {unread} unread exceed \
             tx_qN_reset_drops {tx_reset_drops}"
        ),
    );
    if dev.dma_misses != 0 {
        let misses: Vec<_> = b
            .sim
            .events
            .snapshot()
            .into_iter()
            .filter(|r| matches!(r.event, ena_sim::events::Event::DmaMiss { .. }))
            .take(4)
            .collect();
        row.failures.push(format!(
            "{} DMA accesses outside mapped memory: {misses:?}",
            dev.dma_misses
        ));
    }
    row.sent = sent;
    row.received = received;
    row.lost = sent - received.min(sent);
    row.explained = format!(
        "tx_drops {} + rx_drops {} + rx_overruns {} + rx_reset_drops {rx_reset_drops} + unread {unread} (<= tx_reset_drops {tx_reset_drops})",
        dev.tx_drops, dev.rx_drops, dev.rx_overruns
    );
    let explained = dev.tx_drops + dev.rx_drops + dev.rx_overruns + rx_reset_drops + unread;
    if explained != row.lost {
        row.failures.push(format!(
            "lost {} but counters explain {explained}",
            row.lost
        ));
    }
    if t.problem_count.load(Ordering::SeqCst) != 0 {
        let p = t.problems.lock().unwrap_or_else(|e| e.into_inner());
        row.failures.push(format!(
            "{} data-path problems, e.g. {:?}",
            t.problem_count.load(Ordering::SeqCst),
            *p
        ));
    }

    // Everything back: the pool must be whole, never more than whole.
    drop((rxs, txs, caches));
    let sim = b.sim.clone();
    let runner = b.runner.take();
    let port = b.port;
    if let Err(e) = port.close() {
        row.failures.push(format!("close: {e}"));
    }
    drop(runner);
    drop(sim);
    let (avail, cached, cap) = (pool.available(), pool.cached(), pool.capacity());
    row.leaks = if avail + cached == cap {
        "none".into()
    } else {
        format!("{} of {cap} out", cap as i64 - (avail + cached) as i64)
    };
    if avail + cached != cap {
        row.failures.push(format!(
            "pool: {avail} available + {cached} cached != capacity {cap} (leak or double free)"
        ));
    }
    row
}

/// The tests here measure time on threaded device models: one at a time, so that they do not
/// slow each other down.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn fault_campaign() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let rows: Vec<Row> = cases().iter().map(run_case).collect();
    println!();
    println!(
        "{:<26} {:<12} {:<28} {:<25} {:>9} {:>8} {:>7} {:>7} {:>5} {:<6}",
        "fault",
        "detected",
        "reset reason",
        "Linux",
        "recovery",
        "resume",
        "sent",
        "recv",
        "lost",
        "leaks"
    );
    for r in &rows {
        println!(
            "{:<26} {:<12} {:<28} {:<25} {:>9} {:>8} {:>7} {:>7} {:>5} {:<6}",
            r.name,
            r.detected,
            r.reason,
            r.linux,
            r.recovery,
            r.resume,
            r.sent,
            r.received,
            r.lost,
            r.leaks
        );
    }
    println!("\nlosses, each from a named counter:");
    for r in &rows {
        println!("  {:<26} {}", r.name, r.explained);
    }
    println!(
        "\n* fatal error: Linux has no FATAL_ERROR handler and resets with KEEP_ALIVE_TO once the \
         silent device misses its keep-alives; this driver resets at once with GENERIC.\n\
         * RX length: upstream Linux does not check the length; amzn-drivers and this driver treat \
         it as a malformed descriptor.\n\
         campaign took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let failed: Vec<String> = rows
        .iter()
        .flat_map(|r| r.failures.iter().map(move |f| format!("{}: {f}", r.name)))
        .collect();
    assert!(failed.is_empty(), "failures:\n{}", failed.join("\n"));
}

/// A reset must not release the old admin/AENQ memory before the device is reset: a device that
/// posts an event (here a keep-alive every 20 µs) in between would write into freed memory —
/// on real hardware, memory the host may already have reused. The model counts such writes as
/// DMA misses once its small cache of recently used regions has moved on, which traffic over
/// the whole pool between the resets makes sure of.
#[test]
fn resets_never_leave_the_device_writing_into_freed_memory() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cfg = DeviceConfig {
        keep_alive_interval: Duration::from_micros(20),
        ..DeviceConfig::default()
    };
    let wire = Arc::new(WireCounters::default());
    let mut b = threaded(
        cfg,
        Box::new(CountingLoopback {
            queue: VecDeque::new(),
            capacity: 4096,
            c: wire,
        }),
        PortOptions::default(),
    );
    let (mut rx, mut tx) = b.start(1, 1024, &PortConf::default());
    let mut cache = b.pool.cache(256);
    let frame = frames::ipv4(false, [10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 64);
    let mut burst: Vec<Option<Mbuf>> = (0..64).map(|_| None).collect();
    let mut resets = 0;
    for _ in 0..100 {
        // 512 packets: buffers from all over the pool pass through the device.
        for _ in 0..8 {
            let mut pkts: Vec<Option<Mbuf>> = (0..64)
                .map(|_| Some(common::mbuf(&mut cache, &frame)))
                .collect();
            tx[0].tx_burst(&mut pkts);
            rx[0].rx_burst(&mut burst);
            burst.iter_mut().for_each(|m| drop(m.take()));
        }
        b.port.schedule_reset(ResetReason::UserTrigger);
        for e in b.port.poll_control() {
            match e {
                PortEvent::Reset { .. } => resets += 1,
                PortEvent::ResetFailed { error, .. } => panic!("reset failed: {error}"),
                _ => {}
            }
        }
    }
    assert_eq!(resets, 100);
    let misses = b.sim.stats.snapshot().lifetime.dma_misses;
    assert_eq!(
        misses, 0,
        "the device wrote into freed memory {misses} times"
    );
}
