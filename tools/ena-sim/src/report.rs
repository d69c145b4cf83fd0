//! What `ena-sim` prints: the ready block, one status line per interval, fault lines and the
//! summary, either for people or as one JSON object per line.

use crate::sim::{Port, ReadyInfo};
use ena_sim::wire::spec::WireHandle;
use serde::Serialize;
use std::io::Write;
use std::time::Duration;

/// Counters of what is on the far side of a port's wire, where the wire counts anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WireCounters {
    /// Frames a generator handed to the device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated: Option<u64>,
    /// Bytes of those.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_bytes: Option<u64>,
    /// Frames the sink took from the device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sunk: Option<u64>,
    /// Bytes of those.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sunk_bytes: Option<u64>,
    /// Sunk frames that were malformed (`verify` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sink_malformed: Option<u64>,
    /// Frames a capture wire recorded (and ena-sim discarded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub captured: Option<u64>,
    /// tap/afpacket: frames from the interface handed to the port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub if_rx_frames: Option<u64>,
    /// tap/afpacket: frames the port sent that the kernel took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub if_tx_frames: Option<u64>,
    /// tap/afpacket: frames the kernel refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub if_tx_errors: Option<u64>,
    /// tap/afpacket: frames from the interface too long for the port, dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub if_rx_oversize: Option<u64>,
    /// pcap: frames replayed from the input file (all passes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replayed: Option<u64>,
    /// pcap: whether the replay is over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_done: Option<bool>,
    /// pcap: frames recorded to the output file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<u64>,
    /// pcap: frames that could not be recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_errors: Option<u64>,
}

/// One port's counters at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct PortSample {
    /// Port index.
    pub port: usize,
    /// PCI address.
    pub bdf: String,
    /// Link state as the device reports it.
    pub link_up: bool,
    /// TX queues the driver has created (0: no driver attached, or it stopped).
    pub queues: usize,
    /// Frames delivered to the driver.
    pub rx_pkts: u64,
    /// Bytes delivered to the driver.
    pub rx_bytes: u64,
    /// Frames the driver sent.
    pub tx_pkts: u64,
    /// Bytes the driver sent.
    pub tx_bytes: u64,
    /// Received frames dropped (no queue, link down, too long, ...).
    pub rx_drops: u64,
    /// Received frames dropped for want of an RX buffer.
    pub rx_overruns: u64,
    /// Frames the device did not send.
    pub tx_drops: u64,
    /// RX frames per second over the last interval.
    pub rx_pps: f64,
    /// TX frames per second over the last interval.
    pub tx_pps: f64,
    /// Device resets.
    pub resets: u64,
    /// Admin commands completed.
    pub admin_commands: u64,
    /// AENQ events posted.
    pub aenq_events: u64,
    /// DMA addresses outside the driver's memory.
    pub dma_misses: u64,
    /// Interrupts written into the FIFO.
    pub interrupts: u64,
    /// The wire's own counters.
    pub wire: WireCounters,
}

impl PortSample {
    /// All drops together.
    pub fn drops(&self) -> u64 {
        self.rx_drops + self.rx_overruns + self.tx_drops
    }
}

/// `{"event":"status",...}`: every port's counters at time `t` (seconds since ready).
#[derive(Serialize)]
struct StatusLine<'a> {
    event: &'static str,
    t: f64,
    ports: &'a [PortSample],
}

/// `{"event":"fault",...}`: one injection into one port.
#[derive(Serialize)]
struct FaultLine<'a> {
    event: &'static str,
    t: f64,
    port: usize,
    bdf: &'a str,
    fault: &'a str,
    spec: &'a str,
}

/// `{"event":"summary",...}`: the last counters, and why the run ended.
#[derive(Serialize)]
struct SummaryLine<'a> {
    event: &'static str,
    t: f64,
    reason: &'a str,
    faults_injected: u64,
    ports: &'a [PortSample],
}

/// Samples ports and turns samples into lines.
pub struct Reporter {
    json: bool,
    last: Vec<PortSample>,
    last_t: Duration,
    /// Frames taken from capture wires so far, per port (capture keeps them in memory
    /// otherwise).
    captured: Vec<u64>,
}

impl Reporter {
    /// A reporter for `ports` ports.
    pub fn new(json: bool, ports: usize) -> Self {
        Self {
            json,
            last: Vec::new(),
            last_t: Duration::ZERO,
            captured: vec![0; ports],
        }
    }

    /// Reads every port's counters at time `t`, with rates since the previous sample.
    pub fn sample(&mut self, ports: &[Port], t: Duration) -> Vec<PortSample> {
        let dt = (t - self.last_t.min(t)).as_secs_f64();
        let samples: Vec<PortSample> = ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let c = p.device.stats.snapshot().lifetime;
                let view = p.device.view();
                let mut wire = WireCounters::default();
                match &p.wire {
                    WireHandle::Generator(g) => {
                        wire.generated = Some(g.generated());
                        wire.generated_bytes = Some(g.generated_bytes());
                        wire.sunk = Some(g.sunk());
                        wire.sunk_bytes = Some(g.sunk_bytes());
                        wire.sink_malformed = Some(g.sink_malformed());
                    }
                    WireHandle::Capture(cap) => {
                        if let Some(n) = self.captured.get_mut(i) {
                            *n += cap.take_sent().len() as u64;
                            wire.captured = Some(*n);
                        }
                    }
                    WireHandle::Tap(_, n) | WireHandle::AfPacket(_, n) => {
                        wire.if_rx_frames = Some(n.rx_frames());
                        wire.if_tx_frames = Some(n.tx_frames());
                        wire.if_tx_errors = Some(n.tx_errors());
                        wire.if_rx_oversize = Some(n.rx_oversize());
                    }
                    WireHandle::Pcap(h) => {
                        wire.replayed = Some(h.replayed());
                        wire.replay_done = Some(h.done());
                        wire.recorded = Some(h.recorded());
                        wire.record_errors = Some(h.record_errors());
                    }
                    // Cables: the device counters say it all.
                    _other => {}
                }
                let (prev_rx, prev_tx) =
                    self.last.get(i).map_or((0, 0), |s| (s.rx_pkts, s.tx_pkts));
                let rate = |now: u64, before: u64| {
                    if dt > 0.0 {
                        now.saturating_sub(before) as f64 / dt
                    } else {
                        0.0
                    }
                };
                PortSample {
                    port: p.plan.index,
                    bdf: p.plan.bdf.clone(),
                    link_up: view.link_up,
                    queues: view.tx_queues.len(),
                    rx_pkts: c.rx_pkts,
                    rx_bytes: c.rx_bytes,
                    tx_pkts: c.tx_pkts,
                    tx_bytes: c.tx_bytes,
                    rx_drops: c.rx_drops,
                    rx_overruns: c.rx_overruns,
                    tx_drops: c.tx_drops,
                    rx_pps: round1(rate(c.rx_pkts, prev_rx)),
                    tx_pps: round1(rate(c.tx_pkts, prev_tx)),
                    resets: c.resets,
                    admin_commands: c.admin_commands,
                    aenq_events: c.aenq_events,
                    dma_misses: c.dma_misses,
                    interrupts: p.device.irq.snapshot().delivered,
                    wire,
                }
            })
            .collect();
        self.last = samples.clone();
        self.last_t = t;
        samples
    }

    /// The ready block (people) or the ready line (JSON).
    pub fn ready(&self, info: &ReadyInfo) {
        if self.json {
            emit(&json_line(info));
            return;
        }
        let n = info.ports.len();
        let mut out = format!(
            "ena-sim: {n} device{} up (pid {}), rigs in {}, hugepages in {}{}\n",
            if n == 1 { "" } else { "s" },
            info.pid,
            info.rig_dir.display(),
            info.huge_dir.display(),
            if info.hugepages_reserved > 0 {
                format!(" ({} pages reserved)", info.hugepages_reserved)
            } else {
                String::new()
            }
        );
        for p in &info.ports {
            out += &format!(
                "  port {}  {}  wire {}  mac {}  {} queue{}  {}  {} reads  mtu {}\n",
                p.port,
                p.bdf,
                p.wire,
                p.mac,
                p.queues,
                if p.queues == 1 { "" } else { "s" },
                if p.llq { "LLQ" } else { "no LLQ" },
                if p.readless { "readless" } else { "plain" },
                p.mtu
            );
        }
        out += "Driver arguments (dpdk-shim EAL, e.g. fwd -l 0-1 <arguments> -- ...):\n";
        for p in &info.ports {
            out += &format!("  port {}: {}\n", p.port, shell_words(&p.eal_args));
        }
        if n > 1 {
            out += &format!("  together: {}\n", shell_words(&info.eal_args));
        }
        emit(out.trim_end());
    }

    /// One status line.
    pub fn status(&self, t: Duration, samples: &[PortSample]) {
        if self.json {
            emit(&json_line(&StatusLine {
                event: "status",
                t: round3(t.as_secs_f64()),
                ports: samples,
            }));
            return;
        }
        let parts: Vec<String> = samples
            .iter()
            .map(|s| {
                let mut line = format!(
                    "p{}: in {} ({}/s) out {} ({}/s) drops {}",
                    s.port,
                    s.rx_pkts,
                    si(s.rx_pps),
                    s.tx_pkts,
                    si(s.tx_pps),
                    s.drops()
                );
                if !s.link_up {
                    line += ", link down";
                }
                if s.queues == 0 {
                    line += ", no queues";
                }
                line
            })
            .collect();
        emit(&format!("[{:7.1}s] {}", t.as_secs_f64(), parts.join(" | ")));
    }

    /// A fault was injected.
    pub fn fault(&self, t: Duration, port: &Port, name: &str, spec: &str) {
        if self.json {
            emit(&json_line(&FaultLine {
                event: "fault",
                t: round3(t.as_secs_f64()),
                port: port.plan.index,
                bdf: &port.plan.bdf,
                fault: name,
                spec,
            }));
        } else {
            emit(&format!(
                "[{:7.1}s] fault {name} -> port {} ({})",
                t.as_secs_f64(),
                port.plan.index,
                port.plan.bdf
            ));
        }
    }

    /// The final summary.
    pub fn summary(&self, t: Duration, reason: &str, faults: u64, samples: &[PortSample]) {
        if self.json {
            emit(&json_line(&SummaryLine {
                event: "summary",
                t: round3(t.as_secs_f64()),
                reason,
                faults_injected: faults,
                ports: samples,
            }));
            return;
        }
        let secs = t.as_secs_f64();
        let mut out = format!(
            "ena-sim: stopped after {secs:.1}s ({reason}); {faults} fault{} injected\n",
            if faults == 1 { "" } else { "s" }
        );
        for s in samples {
            let avg = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
            out += &format!(
                "  port {} {}: in {} ({}/s avg) out {} ({}/s avg) drops {} (rx {} overruns {} tx {}) resets {} dma misses {}\n",
                s.port,
                s.bdf,
                s.rx_pkts,
                si(avg(s.rx_pkts)),
                s.tx_pkts,
                si(avg(s.tx_pkts)),
                s.drops(),
                s.rx_drops,
                s.rx_overruns,
                s.tx_drops,
                s.resets,
                s.dma_misses
            );
        }
        emit(out.trim_end());
    }
}

/// Writes one line to stdout; a closed stdout (the reader went away) is not our problem, so
/// errors are dropped rather than panicking as `println!` would.
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn json_line<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v)
        .unwrap_or_else(|e| format!("{{\"event\":\"error\",\"error\":\"{e}\"}}"))
}

/// Arguments joined for a shell, quoting those that need it.
pub fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:,=@+".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// 1234567.0 → "1.23M".
fn si(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_quote_only_what_needs_it() {
        let args: Vec<String> = ["-a", "0000:00:10.0,wc=proceed", "/tmp/a b", "it's"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            shell_words(&args),
            r"-a 0000:00:10.0,wc=proceed '/tmp/a b' 'it'\''s'"
        );
    }

    #[test]
    fn rates_read_as_people_write_them() {
        assert_eq!(si(0.0), "0");
        assert_eq!(si(999.4), "999");
        assert_eq!(si(412_345.0), "412.3k");
        assert_eq!(si(14_880_952.0), "14.88M");
        assert_eq!(si(2.5e9), "2.50G");
    }
}
