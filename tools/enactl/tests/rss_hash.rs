//! `enactl rss-hash` against the published vectors in `ena_sim::rss::vectors`: every row of
//! Microsoft's IPv4 table (addresses only, and with ports), AWS's calculator example under
//! both drivers' key conventions, Microsoft's IPv6 rows, and queue selection.

mod common;

use common::*;
use ena_sim::rss::vectors::{
    Ipv4Vector, AWS_DEVICE_HASHES, AWS_FLOW, AWS_KEY, MICROSOFT_IPV4, MICROSOFT_KEY,
};
use std::net::Ipv4Addr;

fn hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of a `name: value` output line.
fn field(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name:?} line in {out}"))
        .trim()
        .to_string()
}

fn hash_of(out: &str, name: &str) -> u32 {
    let v = field(out, name);
    u32::from_str_radix(v.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("{v}"))
}

fn run(args: &[&str]) -> String {
    let mut all = vec!["rss-hash"];
    all.extend_from_slice(args);
    let o = enactl(&all);
    assert!(o.status.success(), "{all:?}: {}", stderr(&o));
    stdout(&o)
}

fn flow_args(v: &Ipv4Vector) -> [String; 4] {
    [
        Ipv4Addr::from(v.src).to_string(),
        Ipv4Addr::from(v.dst).to_string(),
        v.sport.to_string(),
        v.dport.to_string(),
    ]
}

#[test]
fn microsoft_ipv4_vectors_with_and_without_ports() {
    let key = hex(&MICROSOFT_KEY);
    for v in &MICROSOFT_IPV4 {
        let [src, dst, sport, dport] = flow_args(v);
        let out = run(&[
            "--key",
            &key,
            "--src",
            &src,
            "--dst",
            &dst,
            "--sport",
            &sport,
            "--dport",
            &dport,
            "--standard",
        ]);
        assert_eq!(hash_of(&out, "hash"), v.l4_hash, "{src}:{sport} {out}");
        assert_eq!(hash_of(&out, "toeplitz"), v.l4_hash, "{out}");
        assert_eq!(field(&out, "init value"), "0x00000000");
        assert_eq!(
            field(&out, "hash input"),
            v.input()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        );

        let out = run(&["--key", &key, "--src", &src, "--dst", &dst]);
        assert_eq!(hash_of(&out, "hash"), v.ip_hash, "{src} {out}");
        assert!(field(&out, "note").contains("only TCP and UDP"));
    }
}

#[test]
fn default_key_is_microsofts() {
    let v = &MICROSOFT_IPV4[0];
    let [src, dst, sport, dport] = flow_args(v);
    let out = run(&[
        "--src", &src, "--dst", &dst, "--sport", &sport, "--dport", &dport,
    ]);
    assert_eq!(hash_of(&out, "hash"), v.l4_hash);
}

#[test]
fn aws_calculator_example_under_both_conventions() {
    let key = hex(&AWS_KEY);
    let [src, dst, sport, dport] = flow_args(&AWS_FLOW);
    let base = [
        "--key", &key, "--src", &src, "--dst", &dst, "--sport", &sport, "--dport", &dport,
    ];
    // ena-rs / DPDK: reversed into the device, init 0 → the standard Toeplitz hash, entry 84.
    let out = run(&[&base[..], &["--standard"]].concat());
    assert_eq!(hash_of(&out, "hash"), AWS_FLOW.l4_hash);
    assert_eq!(hash_of(&out, "toeplitz"), AWS_FLOW.l4_hash);
    assert_eq!(field(&out, "reta index"), "84 (hash % 128)");
    let mut reversed = AWS_KEY;
    reversed.reverse();
    assert_eq!(field(&out, "device key").replace(':', ""), hex(&reversed));

    // Linux: the key as the device holds it, init 0xFFFFFFFF → entry 101.
    let out = run(&[&base[..], &["--driver", "linux", "--standard"]].concat());
    assert_eq!(hash_of(&out, "hash"), AWS_DEVICE_HASHES.1);
    assert_eq!(hash_of(&out, "toeplitz"), AWS_FLOW.l4_hash);
    assert_eq!(field(&out, "init value"), "0xffffffff");
    assert_eq!(field(&out, "device key").replace(':', ""), key);
    assert_eq!(field(&out, "reta index"), "101 (hash % 128)");

    // The same device buffer with init 0 → entry 26.
    let out = run(&[&base[..], &["--driver", "linux", "--init", "0"]].concat());
    assert_eq!(hash_of(&out, "hash"), AWS_DEVICE_HASHES.0);
    assert_eq!(field(&out, "reta index"), "26 (hash % 128)");

    // The key as `ethtool -x` prints it parses the same.
    let colons = AWS_KEY
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let out = run(&[
        "--key", &colons, "--src", &src, "--dst", &dst, "--sport", &sport, "--dport", &dport,
        "--driver", "linux",
    ]);
    assert_eq!(hash_of(&out, "hash"), AWS_DEVICE_HASHES.1);
}

#[test]
fn queue_selection() {
    let key = hex(&AWS_KEY);
    let [src, dst, sport, dport] = flow_args(&AWS_FLOW);
    let base = [
        "--key", &key, "--src", &src, "--dst", &dst, "--sport", &sport, "--dport", &dport,
    ];
    // Entry 84 of the default table for 5 queues: 84 % 5 = 4.
    let out = run(&[&base[..], &["--queues", "5"]].concat());
    assert_eq!(field(&out, "queue"), "4");
    // Without a table the queue is unknown.
    let out = run(&base);
    assert!(field(&out, "queue").contains("--queues"));
    // An explicit 128-entry table: entry 84 names queue 7.
    let reta: Vec<String> = (0..128)
        .map(|i| if i == 84 { "7".into() } else { "0".into() })
        .collect();
    let out = run(&[&base[..], &["--reta", &reta.join(",")]].concat());
    assert_eq!(field(&out, "queue"), "7");
    // An 8-entry table: index 0xa9828bd4 % 8 = 4.
    let out = run(&[&base[..], &["--reta", "10,11,12,13,14,15,16,17"]].concat());
    assert_eq!(field(&out, "reta index"), "4 (hash % 8)");
    assert_eq!(field(&out, "queue"), "14");
}

/// Microsoft's IPv6 rows ("Verifying the RSS Hash Calculation", learn.microsoft.com):
/// (destination, destination port, source, source port, addresses-only hash, with ports).
const MICROSOFT_IPV6: [(&str, u16, &str, u16, u32, u32); 3] = [
    (
        "3ffe:2501:200:3::1",
        1766,
        "3ffe:2501:200:1fff::7",
        2794,
        0x2cc18cd5,
        0x40207d3d,
    ),
    (
        "ff02::1",
        4739,
        "3ffe:501:8::260:97ff:fe40:efab",
        14230,
        0x0f0c461c,
        0xdde51bbf,
    ),
    (
        "fe80::200:f8ff:fe21:67cf",
        38024,
        "3ffe:1900:4545:3:200:f8ff:fe21:67cf",
        44251,
        0x4b61e985,
        0x02d1feef,
    ),
];

#[test]
fn microsoft_ipv6_vectors() {
    let key = hex(&MICROSOFT_KEY);
    for (dst, dport, src, sport, ip_hash, l4_hash) in MICROSOFT_IPV6 {
        let (sport, dport) = (sport.to_string(), dport.to_string());
        let out = run(&[
            "--key", &key, "--src", src, "--dst", dst, "--sport", &sport, "--dport", &dport,
            "--l4", "udp",
        ]);
        assert_eq!(hash_of(&out, "hash"), l4_hash, "{out}");
        assert!(field(&out, "flow").starts_with("UDP/IPv6 ["), "{out}");
        let out = run(&["--key", &key, "--src", src, "--dst", dst]);
        assert_eq!(hash_of(&out, "hash"), ip_hash, "{out}");
    }
}

#[test]
fn fixed_key_device_is_symmetric_and_16_bit() {
    let fwd = run(&[
        "--fixed-key",
        "--src",
        "1.2.3.5",
        "--sport",
        "7000",
        "--dst",
        "1.2.3.4",
        "--dport",
        "6000",
        "--l4",
        "udp",
    ]);
    let rev = run(&[
        "--fixed-key",
        "--src",
        "1.2.3.4",
        "--sport",
        "6000",
        "--dst",
        "1.2.3.5",
        "--dport",
        "7000",
        "--l4",
        "udp",
    ]);
    let h = hash_of(&fwd, "hash");
    assert_eq!(h, hash_of(&rev, "hash"));
    assert_eq!(h >> 16, h & 0xffff);
    // The smaller address and port first, fixed key, init 0xFFFFFFFF, folded to 16 bits.
    let raw = 0xffff_ffff
        ^ ena_sim::rss::toeplitz(
            &ena_sim::rss::FIXED_KEY_EFFECTIVE,
            &[1, 2, 3, 4, 1, 2, 3, 5, 0x17, 0x70, 0x1b, 0x58],
        );
    assert_eq!(h, (raw & 0xffff) | (raw << 16));
    assert_eq!(
        field(&fwd, "hash input"),
        "01:02:03:04:01:02:03:05:17:70:1b:58"
    );
}

#[test]
fn bad_arguments_are_one_line_usage_errors() {
    let flow = ["--src", "1.2.3.4", "--dst", "1.2.3.5"];
    let with = |extra: &[&str]| enactl(&[&["rss-hash"][..], &flow, extra].concat());
    assert_error(
        &with(&["--key", "00112233"]),
        2,
        &["--key", "80 hex digits", "got 8"],
    );
    assert_error(
        &with(&["--key", &"zz".repeat(40)]),
        2,
        &["'z' is not a hex digit"],
    );
    assert_error(
        &enactl(&["rss-hash", "--src", "1.2.3.4", "--dst", "::1"]),
        2,
        &["must both be IPv4 or both IPv6"],
    );
    assert_error(
        &with(&["--sport", "1", "--dport", "2", "--reta", "0,1,2"]),
        2,
        &["--reta", "power-of-two"],
    );
    assert_error(
        &with(&["--sport", "1", "--dport", "2", "--reta", "0,x"]),
        2,
        &["\"x\" is not a queue number"],
    );
    assert_error(&with(&["--init", "xyz"]), 2, &["--init"]);
    // clap's own errors (several lines) keep status 2.
    assert_eq!(with(&["--sport", "1"]).status.code(), Some(2));
    assert_eq!(with(&["--queues", "0"]).status.code(), Some(2));
    assert_eq!(
        with(&["--queues", "2", "--reta", "0,1"]).status.code(),
        Some(2)
    );
}
