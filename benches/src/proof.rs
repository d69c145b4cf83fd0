//! The proof that the data path neither allocates nor makes system calls per packet.
//!
//! fwd's own loop ([`crate::fwd::run_with`]) forwards on in-process devices while a watcher
//! thread, after a warm-up, looks at the worker lcore's thread (found by its name, `lcore-<N>`,
//! in `/proc/self/task`) over a window of steady forwarding:
//!
//! - heap allocations: the counting global allocator ([`crate::alloc_count`], installed by
//!   `ena-pps`) keeps a count per kernel thread id; the worker's count before and after;
//! - system calls: `strace -c -p <worker tid>` attached to that one thread for the window
//!   (ptrace stops the thread only at system calls, so a thread that makes none runs at full
//!   speed), and independently a sampling of `/proc/self/task/<tid>/syscall` (which names the
//!   system call the thread is in, or says `running`).
//!
//! Packets in the window are counted at the sink of the sending port (the device model's wire),
//! so the figures are per forwarded packet without touching fwd.

use crate::alloc_count;
use crate::fwd;
use crate::pps::{eal_argv, fwd_opts, gen_wire, tid_named, Cores, Point};
use dpdk_shim::prelude::*;
use serde::Serialize;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the proof found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProofReport {
    /// The configuration forwarded.
    pub point: String,
    /// Kernel thread id of the worker lcore.
    pub worker_tid: u32,
    /// Packets forwarded during the allocation/strace window.
    pub packets: u64,
    /// Length of that window, seconds.
    pub window_s: f64,
    /// Heap allocations by the worker in the window (None: the counting allocator is not
    /// this program's global allocator).
    pub allocations: Option<u64>,
    /// Allocations per million packets.
    pub allocations_per_mpkt: Option<f64>,
    /// System calls strace saw the worker make in the window (None: strace unavailable).
    pub syscalls: Option<u64>,
    /// System calls per million packets.
    pub syscalls_per_mpkt: Option<f64>,
    /// Why strace could not be used, if it could not.
    pub strace_error: Option<String>,
    /// `/proc/self/task/<tid>/syscall` samples taken (in a second window, strace detached).
    pub samples: u64,
    /// Samples that found the worker inside a system call.
    pub samples_in_syscall: u64,
    /// Packets forwarded during the sampling window.
    pub sampled_packets: u64,
    /// Whether both counts are zero.
    pub pass: bool,
}

/// Whether the thread is inside a system call now, per `/proc/self/task/<tid>/syscall`
/// ("running" in user space; otherwise the system call number, or -1 when blocked
/// elsewhere). `None` when it cannot be read.
fn in_syscall(tid: u32) -> Option<bool> {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    let first = s.split_whitespace().next()?;
    Some(first != "running" && first.parse::<i64>().is_ok_and(|n| n >= 0))
}

/// Parses the `total` row of `strace -c` output: the number of calls.
pub fn strace_total_calls(summary: &str) -> Option<u64> {
    let line = summary
        .lines()
        .rev()
        .find(|l| l.split_whitespace().last() == Some("total"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    // % time, seconds, usecs/call, calls, [errors], "total"
    fields.get(3)?.parse().ok()
}

/// A running `strace -c` attached to one thread.
struct Strace {
    child: std::process::Child,
    out: std::path::PathBuf,
}

impl Strace {
    fn attach(tid: u32) -> Result<Strace, String> {
        let out = std::env::temp_dir().join(format!("ena-pps-strace-{}-{tid}", std::process::id()));
        let _ = std::fs::remove_file(&out);
        let child = Command::new("strace")
            .args(["-c", "-o"])
            .arg(&out)
            .args(["-p", &tid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("strace: {e}"))?;
        Ok(Strace { child, out })
    }

    /// Detaches (SIGINT, as at a terminal) and returns the call count.
    fn finish(mut self) -> Result<u64, String> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let t0 = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if t0.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err("strace did not detach".into());
                }
            }
        }
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let _ = std::fs::remove_file(&self.out);
        if let Some(n) = strace_total_calls(&text) {
            return Ok(n);
        }
        // strace -c writes no table at all when it saw no system call; it still reports the
        // attach and detach on stderr (without -q), which tells that case from a failure.
        if err.contains("attached") && err.contains("detached") && text.trim().is_empty() {
            return Ok(0);
        }
        Err(format!(
            "no strace summary: {}",
            err.lines().next().unwrap_or("no output")
        ))
    }
}

/// Runs fwd's loop on `point` and watches its worker: `warmup`, then a `window` under strace
/// with allocation counting, then a `window` of `/proc` sampling.
pub fn run_proof(
    point: &Point,
    cores: &Cores,
    warmup: Duration,
    window: Duration,
) -> Result<ProofReport, String> {
    crate::pps::isolated(|| run_proof_here(point, cores, warmup, window))
}

fn run_proof_here(
    point: &Point,
    cores: &Cores,
    warmup: Duration,
    window: Duration,
) -> Result<ProofReport, String> {
    let argv = eal_argv(point, cores, &[&gen_wire(point), "sink"]);
    let eal = Eal::init(&argv)
        .map(|(e, _)| e)
        .map_err(|e| format!("EAL: {e}"))?;
    let sink = match eal.sim_port(1).map(|p| p.wire) {
        Some(dpdk_shim::vdev::WireHandle::Generator(g)) => g,
        _ => return Err("port 1 has no sink".into()),
    };
    let worker = *cores.workers.first().ok_or("no worker core")?;
    let total = warmup + window * 2 + Duration::from_millis(500);
    let opts = fwd_opts(point, total);
    let counting = alloc_count::installed();
    let label = point.label();
    let watcher = std::thread::Builder::new()
        .name("proof-watch".into())
        .spawn(move || -> Result<ProofReport, String> {
            std::thread::sleep(warmup);
            let tid = tid_named(&format!("lcore-{worker}"))
                .ok_or_else(|| format!("no thread named lcore-{worker}"))?;
            let mut r = ProofReport {
                point: label,
                worker_tid: tid,
                ..ProofReport::default()
            };
            let strace = if Path::new("/usr/bin/strace").exists() {
                Strace::attach(tid)
            } else {
                Err("strace not installed".into())
            };
            // Let strace finish attaching before the window opens.
            std::thread::sleep(Duration::from_millis(200));
            let (a0, p0, t0) = (alloc_count::of_tid(tid), sink.sunk(), Instant::now());
            std::thread::sleep(window);
            let (a1, p1, t1) = (alloc_count::of_tid(tid), sink.sunk(), Instant::now());
            r.packets = p1 - p0;
            r.window_s = (t1 - t0).as_secs_f64();
            let mpkt = r.packets.max(1) as f64 / 1e6;
            if counting {
                let n = a1.unwrap_or(0) - a0.unwrap_or(0);
                r.allocations = Some(n);
                r.allocations_per_mpkt = Some(n as f64 / mpkt);
            }
            match strace.and_then(Strace::finish) {
                Ok(n) => {
                    r.syscalls = Some(n);
                    r.syscalls_per_mpkt = Some(n as f64 / mpkt);
                }
                Err(e) => r.strace_error = Some(e),
            }
            let p2 = sink.sunk();
            let t2 = Instant::now();
            while t2.elapsed() < window {
                if let Some(inside) = in_syscall(tid) {
                    r.samples += 1;
                    r.samples_in_syscall += inside as u64;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            r.sampled_packets = sink.sunk() - p2;
            // Both witnesses must have looked: the allocator counted and strace attached.
            r.pass = r.allocations == Some(0)
                && r.syscalls == Some(0)
                && r.samples_in_syscall == 0
                && r.packets > 0;
            Ok(r)
        })
        .map_err(|e| e.to_string())?;
    fwd::run_with(&eal, &opts, Arc::new(AtomicBool::new(false))).map_err(|e| e.to_string())?;
    watcher
        .join()
        .map_err(|_| "the watcher thread panicked".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strace_summary_totals() {
        let with_errors = "% time     seconds  usecs/call     calls    errors syscall\n\
            ------ ----------- ----------- --------- --------- ----------------\n\
            100.00    0.000012           4         3         1 futex\n\
            ------ ----------- ----------- --------- --------- ----------------\n\
            100.00    0.000012           4         3         1 total\n";
        assert_eq!(strace_total_calls(with_errors), Some(3));
        let none = "% time     seconds  usecs/call     calls    errors syscall\n\
            ------ ----------- ----------- --------- --------- ----------------\n\
            100.00    0.000000           0         0           total\n";
        assert_eq!(strace_total_calls(none), Some(0));
        assert_eq!(strace_total_calls(""), None);
    }

    #[test]
    fn finds_its_own_named_thread() {
        let t = std::thread::Builder::new()
            .name("proof-probe".into())
            .spawn(|| {
                let tid = tid_named("proof-probe");
                // SAFETY: gettid has no arguments and cannot fail.
                let me = unsafe { libc::gettid() } as u32;
                (tid, me)
            })
            .unwrap();
        let (found, me) = t.join().unwrap();
        assert_eq!(found, Some(me));
        assert_eq!(tid_named("no-such-thread-name"), None);
    }
}
