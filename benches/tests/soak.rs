//! `ena-pps --soak` as CI runs it: 60 seconds of forwarding with a fault every 3 seconds
//! (every fault of the driver's fault campaign at least once, on both ports), then the three
//! claims of the soak checked from the figures it prints: resident memory flat, the mbuf pool
//! whole, every packet accounted for. The equations are recomputed here from the raw counters
//! rather than taken from the report's own verdict.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

fn u(v: &Value, what: &str) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{what} is not an unsigned integer: {v}"))
}

fn f(v: &Value, what: &str) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"))
}

fn arr<'a>(v: &'a Value, what: &str) -> &'a Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what} is not an array: {v}"))
}

/// Every fault of `driver/tests/fault_campaign.rs`, by the model's name.
const ALL_FAULTS: [&str; 15] = [
    "admin_timeout",
    "admin_error",
    "fatal_error",
    "stop_keep_alive",
    "drop_tx_completions",
    "wrong_tx_phase",
    "bad_tx_req_id",
    "stale_tx_req_id",
    "tx_cdesc_mbz",
    "bad_rx_req_id",
    "bad_rx_length",
    "rx_cdesc_mbz",
    "rx_missing_last",
    "link_flap",
    "device_request_reset",
];

#[test]
fn sixty_second_soak_keeps_memory_flat_pools_whole_and_accounting_exact() {
    let out = Command::new(env!("CARGO_BIN_EXE_ena-pps"))
        .args(["--soak", "--duration", "60", "--json"])
        .output()
        .expect("run ena-pps --soak");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let r: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("ena-pps --soak did not print one JSON object ({e}):\n{stdout}\n{stderr}")
    });
    assert!(
        out.status.success(),
        "ena-pps --soak failed: {}\n{stderr}",
        r["failures"]
    );
    assert_eq!(r["tool"], "ena-pps");
    assert_eq!(r["mode"], "soak");
    assert_eq!(r["pass"], true, "failures: {}", r["failures"]);
    assert_eq!(arr(&r["failures"], "failures").len(), 0);

    // It forwarded, for the whole minute.
    let elapsed = f(&r["elapsed_s"], "elapsed_s");
    assert!(elapsed >= 60.0, "forwarded for {elapsed} s");
    let forwarded = u(&r["packets_forwarded"], "packets_forwarded");
    assert!(forwarded > 0, "nothing forwarded");
    let mpps = f(&r["mpps"], "mpps");
    assert!(
        (mpps - forwarded as f64 / elapsed / 1e6).abs() < 1e-9,
        "{mpps} Mpps is not {forwarded} packets over {elapsed} s"
    );

    // Every fault at least once, on both ports, queue faults on both queues; each one survived
    // with the outcome the campaign expects.
    let faults = arr(&r["faults"], "faults");
    assert_eq!(
        faults.len() as u64,
        u(&r["faults_injected"], "faults_injected")
    );
    assert!(
        faults.len() >= ALL_FAULTS.len(),
        "{} faults in 60 s at one every 3 s",
        faults.len()
    );
    let names: BTreeSet<&str> = faults.iter().filter_map(|x| x["fault"].as_str()).collect();
    for name in ALL_FAULTS {
        assert!(names.contains(name), "fault {name} never injected");
    }
    let ports: BTreeSet<u64> = faults.iter().map(|x| u(&x["port"], "port")).collect();
    assert_eq!(ports, BTreeSet::from([0, 1]));
    let queues: BTreeSet<u64> = faults.iter().filter_map(|x| x["queue"].as_u64()).collect();
    assert_eq!(queues, BTreeSet::from([0, 1]));
    let mut want_by_reason: BTreeMap<String, u64> = BTreeMap::new();
    for x in faults {
        assert_eq!(x["ok"], true, "fault {x}");
        let expect = x["expect"].as_str().expect("expect");
        let observed = x["observed"].as_str().expect("observed");
        if let Some(reason) = expect.strip_prefix("reset ") {
            assert_eq!(observed, expect, "fault {x}");
            *want_by_reason.entry(reason.to_string()).or_default() += 1;
            assert!(x["recovery_ms"].as_f64().is_some(), "fault {x}");
            assert!(x["resumed_ms"].as_f64().is_some(), "fault {x}");
        } else {
            assert!(!observed.contains("reset"), "fault {x}");
        }
        assert!(x["detected_ms"].as_f64().is_some(), "fault {x}");
    }
    let expected_resets: u64 = want_by_reason.values().sum();
    assert_eq!(u(&r["expected_resets"], "expected_resets"), expected_resets);
    assert!(expected_resets >= 13, "{expected_resets} faults that reset");
    let resets = u(&r["resets"], "resets");
    assert!(resets >= expected_resets, "{resets} resets");
    assert_eq!(u(&r["reset_failures"], "reset_failures"), 0);
    let by_reason = r["resets_by_reason"].as_object().expect("resets_by_reason");
    assert_eq!(
        by_reason.values().map(|v| u(v, "count")).sum::<u64>(),
        resets
    );
    for (reason, n) in &want_by_reason {
        let got = by_reason.get(reason).map_or(0, |v| u(v, reason));
        assert!(got >= *n, "{reason}: {got} resets for {n} faults");
    }

    // Resident memory: flat after the warm-up.
    let rss = &r["rss"];
    let (first, max, last) = (
        u(&rss["first_kib"], "first_kib"),
        u(&rss["max_kib"], "max_kib"),
        u(&rss["last_kib"], "last_kib"),
    );
    assert!(first > 0 && first <= max && last <= max, "{rss}");
    let growth = rss["growth_kib"].as_i64().expect("growth_kib");
    assert_eq!(growth, last as i64 - first as i64);
    let bound = u(&rss["bound_kib"], "bound_kib");
    assert!(bound <= 4096, "bound {bound} KiB");
    assert!(growth < bound as i64, "resident memory grew {growth} KiB");
    assert_eq!(rss["flat"], true);
    let samples = arr(&rss["samples_kib"], "samples_kib");
    assert!(samples.len() >= 60, "{} samples", samples.len());

    // The pool: every buffer back.
    let pools = &r["pools"];
    let capacity = u(&pools["capacity"], "capacity");
    assert!(capacity > 0);
    assert_eq!(
        u(&pools["available"], "available") + u(&pools["cached"], "cached"),
        capacity,
        "{pools}"
    );
    assert_eq!(u(&pools["in_use"], "in_use"), 0);
    assert!(u(&pools["in_use_max_running"], "in_use_max_running") > 0);
    assert_eq!(pools["exact"], true);

    // Accounting, per port and both directions, from the raw counters.
    let acct = &r["accounting"];
    assert_eq!(acct["exact"], true, "{}", acct["problems"]);
    assert_eq!(arr(&acct["problems"], "problems").len(), 0);
    let ports = arr(&acct["ports"], "ports");
    assert_eq!(ports.len(), 2);
    let g = |p: usize, k: &str| u(&ports[p][k], &format!("port {p} {k}"));
    let (mut rx_reset_drops, mut tx_reset_drops) = (0, 0);
    for p in 0..2 {
        let peer = p ^ 1;
        assert!(g(p, "generated") > 0, "port {p}: nothing generated");
        assert_eq!(
            g(p, "generated"),
            g(p, "dev_rx_pkts") + g(p, "dev_rx_drops") + g(p, "dev_rx_overruns"),
            "port {p}: generated = delivered + dropped + overrun"
        );
        assert_eq!(
            g(p, "dev_rx_pkts"),
            g(p, "received") + g(p, "rx_reset_drops"),
            "port {p}: delivered = received + reset drops"
        );
        assert_eq!(g(p, "rx_cnt"), g(p, "received"), "port {p}: rx_qN_cnt");
        assert_eq!(
            g(p, "received"),
            g(p, "forwarded") + g(p, "fwd_dropped"),
            "port {p}: received = forwarded + freed"
        );
        assert_eq!(g(p, "forwarded"), g(peer, "tx_sent"), "port {p} -> {peer}");
        assert_eq!(g(p, "tx_cnt"), g(p, "tx_sent"), "port {p}: tx_qN_cnt");
        assert_eq!(
            g(p, "tx_completed") + g(p, "tx_reset_drops"),
            g(p, "tx_sent"),
            "port {p}: sent = completed + reset drops"
        );
        assert_eq!(g(p, "dev_tx_pkts"), g(p, "sunk"), "port {p}: on the wire");
        let read = g(p, "dev_tx_pkts") + g(p, "dev_tx_drops");
        assert!(
            read <= g(p, "tx_sent"),
            "port {p}: device read more than sent"
        );
        assert_eq!(g(p, "tx_unread"), g(p, "tx_sent") - read);
        assert!(
            g(p, "tx_unread") <= g(p, "tx_reset_drops"),
            "port {p}: unread packets not covered by reset drops"
        );
        assert_eq!(g(p, "dma_misses"), 0, "port {p}");
        rx_reset_drops += g(p, "rx_reset_drops");
        tx_reset_drops += g(p, "tx_reset_drops");
    }
    // The faults did cost packets, and the counters caught them: the dropped TX completions
    // alone leave 512 packets in flight until the reset.
    assert!(rx_reset_drops > 0, "no RX packet lost to a reset");
    assert!(tx_reset_drops >= 512, "{tx_reset_drops} TX reset drops");
    let generated: u64 = (0..2).map(|p| g(p, "generated")).sum();
    let sunk: u64 = (0..2).map(|p| g(p, "sunk")).sum();
    assert_eq!(u(&acct["generated"], "generated"), generated);
    assert_eq!(u(&acct["sunk"], "sunk"), sunk);
    let explained: u64 = (0..2)
        .map(|p| {
            g(p, "dev_rx_drops")
                + g(p, "dev_rx_overruns")
                + g(p, "rx_reset_drops")
                + g(p, "fwd_dropped")
                + g(p, "dev_tx_drops")
                + g(p, "tx_unread")
        })
        .sum();
    assert_eq!(
        generated - sunk,
        explained,
        "every lost packet in a counter"
    );
    assert_eq!(u(&acct["lost_explained"], "lost_explained"), explained);
    // What reached the sinks is what was forwarded, less what the device never read or dropped.
    assert!(
        sunk <= forwarded
            && forwarded - sunk
                <= tx_reset_drops + (0..2).map(|p| g(p, "dev_tx_drops")).sum::<u64>()
    );
}
