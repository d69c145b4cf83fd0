//! `ena-pps` as CI runs it: the quick sweep and the allocation/system-call proof. These check
//! that the harness runs and reports numbers; how fast is the benchmark's business
//! (`benches/README.md`), never a timed test's.

use serde_json::Value;
use std::process::Command;

fn ena_pps(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ena-pps"))
        .args(args)
        .output()
        .expect("run ena-pps");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ena-pps {args:?} failed:\n{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "ena-pps {args:?} did not print one JSON object ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn positive(v: &Value, what: &str) -> f64 {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"));
    assert!(x.is_finite() && x > 0.0, "{what} = {x}");
    x
}

#[test]
fn quick_sweep_prints_medians_and_spreads_for_each_point() {
    let v = ena_pps(&["--quick", "--json"]);
    assert_eq!(v["tool"], "ena-pps");
    assert_eq!(v["mode"], "quick");
    let runs = v["runs"].as_u64().expect("runs");
    assert!(runs >= 5, "each point is repeated at least 5 times");
    let points = v["points"].as_array().expect("points");
    assert_eq!(
        points.len(),
        3,
        "the quick subset: burst 8 and 32 on LLQ, 32 on host"
    );
    for p in points {
        let label = p["label"].as_str().expect("label");
        let mpps = &p["mpps"];
        let median = positive(&mpps["median"], &format!("{label} Mpps median"));
        let (min, max) = (positive(&mpps["min"], "min"), positive(&mpps["max"], "max"));
        assert!(
            min <= median && median <= max,
            "{label}: {min} <= {median} <= {max}"
        );
        assert_eq!(mpps["runs"].as_array().map(Vec::len), Some(runs as usize));
        let ns = positive(&p["ns_per_pkt"]["median"], &format!("{label} ns/packet"));
        // ns per packet and Mpps describe the same runs.
        assert!(
            (ns * median / 1000.0 - 1.0).abs() < 1.0,
            "{label}: {ns} ns vs {median} Mpps"
        );
        positive(&p["driver_ns_per_pkt"]["median"], "driver ns/packet");
    }
    let ceiling = &v["ceilings"][0];
    assert_eq!(ceiling["frame_size"], 64);
    positive(&ceiling["wire"]["median"], "generator -> sink ceiling");
    positive(&ceiling["sim_rx"]["median"], "sim RX ceiling");
    positive(&ceiling["sim_tx"]["median"], "sim TX ceiling");
    assert!(!v["targets"].as_array().expect("targets").is_empty());
}

#[test]
fn proof_finds_no_allocation_and_no_system_call_on_the_worker_lcore() {
    let v = ena_pps(&["--proof", "--json", "--duration", "1"]);
    positive(&v["packets"], "packets forwarded in the window");
    assert_eq!(v["allocations"], 0, "heap allocations on the worker lcore");
    assert_eq!(
        v["samples_in_syscall"], 0,
        "samples of the worker inside a system call"
    );
    positive(&v["samples"], "samples of /proc/self/task/<tid>/syscall");
    match v["strace_error"].as_str() {
        None => assert_eq!(v["syscalls"], 0, "system calls strace counted"),
        Some(e) => println!("SKIPPED: the strace count ({e}); the syscall samples still ran"),
    }
}
