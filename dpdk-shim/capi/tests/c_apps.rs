//! C programs against libdpdk, the way DPDK users build them: `scripts/dpdk-shim-layout.sh`
//! lays out headers, libraries and `libdpdk.pc`; each program in `tests/c/` compiles with
//! `cc $(pkg-config --cflags --libs libdpdk)` and runs on `--vdev net_ena_sim<N>` ports whose
//! wires are the simulator's lossless traffic generators and a cable between two ports; the
//! counters each program prints must add up exactly.
//!
//! Also here: the headers declare exactly what the library exports, and every struct and
//! constant the C side and the Rust side both define agrees (a generated C program asserts
//! the Rust layout with static asserts, and checks the bit-fields at run time).
//!
//! Needs `cc`, `pkg-config` and `nm` (Debian: gcc, pkg-config, binutils).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

/// The programs pin their lcores to CPUs 0 and 1 and busy-poll, and compiling competes with
/// them for the CPUs: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The layout, made once per test run with the script users run.
fn layout() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dpdk-shim-layout");
        let mut cmd = Command::new(workspace().join("scripts/dpdk-shim-layout.sh"));
        cmd.arg("--out").arg(&out);
        if cfg!(debug_assertions) {
            cmd.arg("--debug");
        }
        let o = cmd.output().expect("run scripts/dpdk-shim-layout.sh");
        assert!(
            o.status.success(),
            "layout failed:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        out
    })
}

fn pkg_config(args: &[&str]) -> String {
    let o = Command::new("pkg-config")
        .args(args)
        .arg("libdpdk")
        .env("PKG_CONFIG_PATH", layout().join("lib/pkgconfig"))
        .output()
        .expect("pkg-config (apt install pkg-config)");
    assert!(o.status.success(), "pkg-config {args:?}: {o:?}");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn split(flags: &str) -> Vec<String> {
    flags.split_whitespace().map(String::from).collect()
}

/// Compiles `src` with warnings as errors; `link` is the linker part of the command line.
fn compile(src: &Path, name: &str, link: &[String]) -> PathBuf {
    let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let o = Command::new("cc")
        .args([
            "-O2",
            "-g",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-std=gnu11",
            "-o",
        ])
        .arg(&exe)
        .arg(src)
        .args(split(&pkg_config(&["--cflags"])))
        .args(link)
        .output()
        .expect("cc");
    assert!(
        o.status.success(),
        "cc {}: {}",
        src.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    exe
}

fn compile_app(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/c/{name}.c"));
    compile(&src, name, &split(&pkg_config(&["--libs"])))
}

/// Runs a forwarder until a run without a device reset, at most three times. On this shared
/// machine a device model can be starved of CPU for seconds (both CPUs are busy-polling
/// lcores); the driver's keep-alive watchdog then resets the device, correctly, and frames in
/// flight are lost, which would break the exact counts. Such a run says nothing about the C
/// API, so it is run again.
fn run_forwarder(exe: &Path, args: &[&str]) -> Output {
    for attempt in 1..=3 {
        let o = run(exe, args);
        let reset = String::from_utf8_lossy(&o.stderr).contains("IntrReset");
        if !reset || attempt == 3 {
            return o;
        }
        eprintln!("run {attempt}: the device was reset (starved model); running again");
    }
    unreachable!("the last attempt returns")
}

fn run(exe: &Path, args: &[&str]) -> Output {
    let o = Command::new(exe)
        .args(args)
        .output()
        .expect("run the C program");
    eprintln!(
        "== {} {}\n{}{}",
        exe.display(),
        args.join(" "),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// `PORT <p> key=value ...` lines: per port, its values (`link=` takes the rest of the line).
fn port_lines(stdout: &str) -> HashMap<u16, HashMap<String, String>> {
    let mut ports = HashMap::new();
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("PORT ") else {
            continue;
        };
        let (rest, link) = match rest.split_once(" link=") {
            Some((r, l)) => (r, Some(l)),
            None => (rest, None),
        };
        let mut words = rest.split_whitespace();
        let port: u16 = words.next().and_then(|p| p.parse().ok()).expect("port id");
        let mut kv: HashMap<String, String> = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(l) = link {
            kv.insert("link".into(), l.to_string());
        }
        ports.insert(port, kv);
    }
    ports
}

fn num(ports: &HashMap<u16, HashMap<String, String>>, port: u16, key: &str) -> i64 {
    ports
        .get(&port)
        .and_then(|kv| kv.get(key))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("port {port} has no number {key}: {ports:?}"))
}

fn pool_in_use(stdout: &str) -> Option<u64> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("POOL in_use="))
        .and_then(|v| v.parse().ok())
}

/// Four ports: generators on 0 and 3 (n0 and n3 frames), a lossless cable between 1 and 2.
fn four_ports(n0: u64, n3: u64) -> Vec<String> {
    [
        format!("net_ena_sim0,wire=gen:count={n0}:lossless"),
        "net_ena_sim1,wire=pair:a:lossless".into(),
        "net_ena_sim2,wire=pair:a:lossless".into(),
        format!("net_ena_sim3,wire=gen:count={n3}:lossless"),
    ]
    .into_iter()
    .flat_map(|v| ["--vdev".to_string(), v])
    .collect()
}

/// The counters of a forwarder paired 0<->1, 2<->3 on [`four_ports`] add up: every
/// generated frame was received, what each port sent crossed the cable or reached the
/// generator's sink, and the device counted what the program counted.
fn check_conservation(p: &HashMap<u16, HashMap<String, String>>, n0: i64, n3: i64) {
    let v = |port, key| num(p, port, key);
    assert_eq!(v(0, "rx"), n0, "port 0 received every generated frame");
    assert_eq!(v(3, "rx"), n3, "port 3 received every generated frame");
    // First hop onto the cable, second hop out to the generators' sinks.
    assert_eq!(v(1, "tx") + v(1, "dropped"), v(0, "rx"));
    assert_eq!(v(2, "tx") + v(2, "dropped"), v(3, "rx"));
    assert_eq!(v(2, "rx"), v(1, "tx"), "the cable is lossless");
    assert_eq!(v(1, "rx"), v(2, "tx"), "the cable is lossless");
    assert_eq!(v(3, "tx") + v(3, "dropped"), v(2, "rx"));
    assert_eq!(v(0, "tx") + v(0, "dropped"), v(1, "rx"));
    for port in 0..4 {
        assert_eq!(
            v(port, "ipackets"),
            v(port, "rx"),
            "port {port}: device RX count"
        );
        assert_eq!(
            v(port, "opackets"),
            v(port, "tx"),
            "port {port}: device TX count"
        );
    }
    // Drops happen only when a TX ring is full; with these volumes they stay rare.
    let dropped: i64 = (0..4).map(|port| v(port, "dropped")).sum();
    assert!(dropped * 20 < n0 + n3, "{dropped} dropped");
}

#[test]
fn pkg_config_describes_the_layout() {
    let dir = layout();
    for h in [
        "rte_eal.h",
        "rte_ethdev.h",
        "rte_mbuf.h",
        "rte_mempool.h",
        "rte_lcore.h",
        "rte_launch.h",
        "rte_cycles.h",
        "rte_ether.h",
        "rte_common.h",
        "rte_log.h",
        "rte_debug.h",
        "rte_errno.h",
        "rte_prefetch.h",
        "rte_malloc.h",
        "rte_branch_prediction.h",
        "rte_memory.h",
        "rte_per_lcore.h",
        "rte_byteorder.h",
    ] {
        assert!(dir.join("include").join(h).is_file(), "{h}");
    }
    assert!(dir.join("lib/libdpdk.so").is_file());
    assert!(dir.join("lib/libdpdk.a").is_file());
    let d = dir.display();
    assert_eq!(
        pkg_config(&["--cflags", "--libs"]),
        format!("-I{d}/include -L{d}/lib -Wl,-rpath,{d}/lib -ldpdk")
    );
    assert_eq!(pkg_config(&["--modversion"]), "22.11.0");
    assert_eq!(
        pkg_config(&["--variable=static_libs"]),
        format!("{d}/lib/libdpdk.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc")
    );
}

#[test]
fn every_header_compiles_on_its_own_in_c11_and_cxx17() {
    let _g = serial();
    let include = layout().join("include");
    let mut headers: Vec<String> = std::fs::read_dir(&include)
        .expect("include/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    headers.sort();
    assert!(headers.len() >= 25, "{headers:?}");
    let cxx = Command::new("c++").arg("--version").output().is_ok();
    if !cxx {
        eprintln!("SKIPPED (C++ part): no c++ compiler");
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for h in &headers {
        let src = dir.join("one-header.c");
        std::fs::write(
            &src,
            format!("#include <{h}>\nint main(void) {{ return 0; }}\n"),
        )
        .expect("write");
        let mut runs = vec![("cc", src.clone(), "-std=c11")];
        if cxx {
            let cpp = dir.join("one-header.cpp");
            std::fs::copy(&src, &cpp).expect("copy");
            runs.push(("c++", cpp, "-std=c++17"));
        }
        for (compiler, file, std) in runs {
            let o = Command::new(compiler)
                .args([std, "-Wall", "-Wextra", "-Werror", "-fsyntax-only"])
                .arg(format!("-I{}", include.display()))
                .args(if compiler == "cc" {
                    &["-pedantic"][..]
                } else {
                    &[][..]
                })
                .arg(&file)
                .output()
                .expect("compiler");
            assert!(
                o.status.success(),
                "{compiler} {std}: {h}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
}

/// Function names the headers declare (not the inline ones they define).
fn declared_functions() -> Vec<String> {
    let mut names = Vec::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("include/")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("header");
        let mut prev = "";
        for line in text.lines() {
            let skip = line.starts_with(char::is_whitespace)
                || line.starts_with('#')
                || line.starts_with("static")
                || prev.starts_with("static")
                || line.starts_with("typedef")
                || line.starts_with("/*")
                || line.starts_with(" *");
            prev = line;
            if skip {
                continue;
            }
            let Some(open) = line.find('(') else {
                continue;
            };
            let before = &line[..open];
            let name: String = before
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if name.starts_with("rte_") || name.starts_with("dpdk_shim_") {
                names.push(name);
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn headers_declare_exactly_what_libdpdk_exports() {
    let o = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(layout().join("lib/libdpdk.so"))
        .output()
        .expect("nm (binutils)");
    assert!(o.status.success());
    let mut exported: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|s| s.starts_with("rte_") || s.starts_with("dpdk_shim_"))
        .map(String::from)
        .collect();
    exported.sort();
    let declared = declared_functions();
    let missing: Vec<_> = declared.iter().filter(|d| !exported.contains(d)).collect();
    let undeclared: Vec<_> = exported.iter().filter(|e| !declared.contains(e)).collect();
    assert!(missing.is_empty(), "declared but not exported: {missing:?}");
    assert!(
        undeclared.is_empty(),
        "exported but not declared: {undeclared:?}"
    );
    for f in [
        "rte_eal_init",
        "rte_eth_dev_configure",
        "rte_pktmbuf_pool_create",
        "rte_eal_mp_remote_launch",
        "dpdk_shim_rx_burst",
        "dpdk_shim_tx_burst",
        "rte_eth_tx_buffer_count_callback",
    ] {
        assert!(exported.iter().any(|e| e == f), "{f}");
    }
    assert!(exported.len() > 90, "{} symbols", exported.len());
}

#[test]
fn structs_and_constants_match_between_c_and_rust() {
    let _g = serial();
    let src = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance.c");
    std::fs::write(&src, conformance::program()).expect("write conformance.c");
    let exe = compile(&src, "conformance", &split(&pkg_config(&["--libs"])));
    let o = run(&exe, &[]);
    assert!(o.status.success(), "conformance program failed");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "conformance ok");
}

#[test]
fn basic_forwarder_forwards_every_packet_across_four_ports() {
    let _g = serial();
    let exe = compile_app("basicfwd");
    let (n0, n3) = (6000, 4000);
    let mut args = vec!["-l".to_string(), "0".into(), "-n".into(), "4".into()];
    args.extend(four_ports(n0, n3));
    let total = 2 * (n0 + n3);
    args.extend(
        [
            "--",
            "--packets",
            &total.to_string(),
            "--idle-ms",
            "2000",
            "--timeout-ms",
            "60000",
        ]
        .map(String::from),
    );
    let o = run_forwarder(&exe, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let p = port_lines(&stdout);
    assert_eq!(p.len(), 4, "{stdout}");
    check_conservation(&p, n0 as i64, n3 as i64);
    for port in 0..4 {
        assert_eq!(p[&port]["link"], "Link up at None FDX Fixed");
        assert!(
            stdout.contains(&format!(
                "Port {port} MAC: 02 00 00 00 01 0{port} driver net_ena_rs"
            )),
            "{stdout}"
        );
        // ENA, as DPDK reports it: no promiscuous mode.
        assert!(stdout.contains(&format!("Port {port} promiscuous: Operation not supported")));
    }
    assert_eq!(pool_in_use(&stdout), Some(0), "every mbuf back in the pool");
}

#[test]
fn basic_forwarder_links_statically() {
    let _g = serial();
    let exe = compile(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/basicfwd.c"),
        "basicfwd-static",
        &split(&pkg_config(&["--variable=static_libs"])),
    );
    let o = Command::new("readelf")
        .arg("-d")
        .arg(&exe)
        .output()
        .expect("readelf (binutils)");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("libdpdk.so"));
    let o = run_forwarder(
        &exe,
        &[
            "-l",
            "0",
            "--vdev",
            "net_ena_sim0,wire=gen:count=3000:lossless",
            "--vdev",
            "net_ena_sim1,wire=sink",
            "--",
            "--packets",
            "3000",
            "--idle-ms",
            "2000",
            "--burst",
            "16",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let p = port_lines(&stdout);
    assert_eq!(num(&p, 0, "rx"), 3000);
    assert_eq!(num(&p, 1, "tx") + num(&p, 1, "dropped"), 3000);
    assert_eq!(num(&p, 1, "opackets"), num(&p, 1, "tx"));
    assert_eq!(num(&p, 1, "rx"), 0);
    assert_eq!(pool_in_use(&stdout), Some(0));
}

#[test]
fn l2fwd_forwards_on_two_lcores_with_tx_buffers_and_mac_rewrite() {
    let _g = serial();
    let exe = compile_app("l2fwd");
    let (n0, n3) = (12_000, 8_000);
    let mut args = vec!["-l".to_string(), "0-1".into()];
    args.extend(four_ports(n0, n3));
    let total = 2 * (n0 + n3);
    args.extend(
        [
            "--",
            "-p",
            "f",
            "-q",
            "2",
            "--packets",
            &total.to_string(),
            "--idle-ms",
            "2000",
            "--timeout-ms",
            "90000",
        ]
        .map(String::from),
    );
    let o = run_forwarder(&exe, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let p = port_lines(&stdout);
    assert_eq!(p.len(), 4, "{stdout}");
    check_conservation(&p, n0 as i64, n3 as i64);
    // Two ports per lcore: 0 and 1 on the main lcore, 2 and 3 on the worker.
    for (port, lcore) in [(0, 0), (1, 0), (2, 1), (3, 1)] {
        assert_eq!(num(&p, port, "lcore"), lcore, "port {port}");
    }
    // What crossed the cable was rewritten by the hop before it: port 1 -> 2 carries frames
    // from port 0, rewritten for port 1, and the other way round.
    assert_eq!(num(&p, 2, "rewritten"), num(&p, 2, "rx"));
    assert_eq!(num(&p, 2, "from"), 1);
    assert_eq!(num(&p, 1, "rewritten"), num(&p, 1, "rx"));
    assert_eq!(num(&p, 1, "from"), 2);
    assert_eq!(
        num(&p, 0, "rewritten"),
        0,
        "the generators' frames are not ours"
    );
    assert_eq!(num(&p, 3, "rewritten"), 0);
    assert!(stdout.contains("MAC updating enabled"));
    assert_eq!(pool_in_use(&stdout), Some(0), "every mbuf back in the pool");
    assert!(stdout.contains("Bye..."));
}

#[test]
fn errors_exit_through_rte_exit_with_the_cause() {
    let _g = serial();
    let exe = compile_app("l2fwd");
    // The EAL refuses the device: the program's rte_exit reports its own cause.
    let o = run(&exe, &["-l", "0", "--vdev", "net_bogus0", "--", "-p", "1"]);
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("EAL: invalid EAL arguments: unknown vdev driver 'net_bogus0'"),
        "{stderr}"
    );
    assert!(stderr.contains("EAL: Error - exiting with code: 1\n  Cause: Invalid EAL arguments"));
    // The EAL is fine; the application's own options (after "--", from argv[1]) are not.
    let o = run(
        &exe,
        &[
            "-l",
            "0",
            "--vdev",
            "net_ena_sim0,wire=loopback",
            "--",
            "-p",
            "0",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("Cause: Invalid L2FWD arguments"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("-- -p PORTMASK"));
}

/// The generated C program that checks the C and Rust views of every shared struct and
/// constant.
mod conformance {
    use dpdk::ethdev::*;
    use dpdk::mbuf::{rte_mbuf, rte_mempool, RTE_MBUF_DEFAULT_BUF_SIZE, RTE_PKTMBUF_HEADROOM};
    use std::fmt::Write;
    use std::mem::{offset_of, size_of};

    /// Asserts the offsets of the fields named (C `offsetof` = Rust `offset_of!`).
    macro_rules! offsets {
        ($out:ident, $c:literal, $t:ty, [$($f:ident $(. $g:ident)?),* $(,)?]) => {
            $(
                writeln!(
                    $out,
                    "CHECK_OFF({}, {}, {});",
                    $c,
                    concat!(stringify!($f) $(, ".", stringify!($g))?),
                    offset_of!($t, $f)
                )
                .unwrap();
            )*
        };
    }

    /// Asserts the size, then the offsets.
    macro_rules! fields {
        ($out:ident, $c:literal, $t:ty, [$($f:tt)*]) => {
            writeln!($out, "CHECK_SIZE({}, {});", $c, size_of::<$t>()).unwrap();
            offsets!($out, $c, $t, [$($f)*]);
        };
    }

    pub fn program() -> String {
        let mut s = String::from(
            "#include <stddef.h>\n#include <stdio.h>\n#include <string.h>\n\
             #include <rte_ethdev.h>\n#include <rte_mbuf.h>\n#include <rte_mempool.h>\n\
             #include <rte_errno.h>\n#include <rte_log.h>\n\
             #define CHECK_SIZE(t, n) _Static_assert(sizeof(t) == (n), \"sizeof \" #t)\n\
             #define CHECK_OFF(t, f, n) _Static_assert(offsetof(t, f) == (n), #t \".\" #f)\n\
             #define CHECK_EQ(a, b) _Static_assert((unsigned long long)(a) == \
             (unsigned long long)(b), #a)\n",
        );
        fields!(
            s,
            "struct rte_mbuf",
            rte_mbuf,
            [
                buf_addr,
                ol_flags,
                next,
                pool_private,
                pkt_len,
                hash,
                packet_type,
                data_off,
                data_len,
                nb_segs,
                port,
                queue,
                tso_segsz,
                l3_len,
                region_private,
                buf_len,
                l2_len,
                l4_len,
            ]
        );
        // The C struct ends at its public fields; Rust's carries the pool after them.
        offsets!(
            s,
            "struct rte_mempool",
            rte_mempool,
            [
                name,
                socket_id,
                size,
                cache_size,
                elt_size,
                private_data_size,
            ]
        );
        fields!(s, "struct rte_ether_addr", rte_ether_addr, [addr_bytes]);
        fields!(s, "struct rte_eth_link", rte_eth_link, [link_speed]);
        fields!(
            s,
            "struct rte_eth_rss_conf",
            rte_eth_rss_conf,
            [rss_key, rss_key_len, rss_hf, algorithm,]
        );
        fields!(
            s,
            "struct rte_eth_rxmode",
            rte_eth_rxmode,
            [
                mq_mode,
                mtu,
                max_lro_pkt_size,
                split_hdr_size,
                offloads,
                reserved_64s,
                reserved_ptrs,
            ]
        );
        fields!(
            s,
            "struct rte_eth_txmode",
            rte_eth_txmode,
            [mq_mode, offloads, pvid, reserved_64s, reserved_ptrs,]
        );
        fields!(
            s,
            "struct rte_eth_conf",
            rte_eth_conf,
            [
                link_speeds,
                rxmode,
                txmode,
                lpbk_mode,
                rx_adv_conf.rss_conf,
                dcb_capability_en,
                intr_conf,
            ]
        );
        fields!(
            s,
            "struct rte_eth_thresh",
            rte_eth_thresh,
            [pthresh, hthresh, wthresh]
        );
        fields!(
            s,
            "struct rte_eth_rxconf",
            rte_eth_rxconf,
            [
                rx_thresh,
                rx_free_thresh,
                rx_drop_en,
                rx_deferred_start,
                rx_nseg,
                share_group,
                share_qid,
                offloads,
                reserved_64s,
                reserved_ptrs,
            ]
        );
        fields!(
            s,
            "struct rte_eth_txconf",
            rte_eth_txconf,
            [
                tx_thresh,
                tx_rs_thresh,
                tx_free_thresh,
                tx_deferred_start,
                offloads,
                reserved_64s,
                reserved_ptrs,
            ]
        );
        fields!(
            s,
            "struct rte_eth_desc_lim",
            rte_eth_desc_lim,
            [nb_max, nb_min, nb_align, nb_seg_max, nb_mtu_seg_max,]
        );
        fields!(
            s,
            "struct rte_eth_dev_portconf",
            rte_eth_dev_portconf,
            [burst_size, ring_size, nb_queues,]
        );
        fields!(
            s,
            "struct rte_eth_dev_info",
            rte_eth_dev_info,
            [
                device,
                driver_name,
                if_index,
                min_mtu,
                max_mtu,
                dev_flags,
                min_rx_bufsize,
                max_rx_bufsize,
                max_rx_pktlen,
                max_lro_pkt_size,
                max_rx_queues,
                max_tx_queues,
                max_mac_addrs,
                max_hash_mac_addrs,
                max_vfs,
                max_vmdq_pools,
                rx_offload_capa,
                tx_offload_capa,
                rx_queue_offload_capa,
                tx_queue_offload_capa,
                reta_size,
                hash_key_size,
                rss_algo_capa,
                flow_type_rss_offloads,
                default_rxconf,
                default_txconf,
                vmdq_queue_base,
                vmdq_queue_num,
                vmdq_pool_base,
                rx_desc_lim,
                tx_desc_lim,
                speed_capa,
                nb_rx_queues,
                nb_tx_queues,
                max_rx_mempools,
                default_rxportconf,
                default_txportconf,
                dev_capa,
                err_handle_mode,
                reserved_64s,
                reserved_ptrs,
            ]
        );
        fields!(
            s,
            "struct rte_eth_stats",
            rte_eth_stats,
            [
                ipackets, opackets, ibytes, obytes, imissed, ierrors, oerrors, rx_nombuf,
                q_ipackets, q_opackets, q_ibytes, q_obytes, q_errors,
            ]
        );
        fields!(
            s,
            "struct rte_eth_dev_tx_buffer",
            rte_eth_dev_tx_buffer,
            [error_callback, error_userdata, size, length, pkts,]
        );

        // Constants both sides define: the C names against the driver's values.
        use dpdk_shim::ethdev::{rss_hf, rx_offload, tx_offload};
        use dpdk_shim::mbuf::ol;
        let consts: &[(&str, u64)] = &[
            ("RTE_MBUF_F_RX_RSS_HASH", ol::RX_RSS_HASH),
            ("RTE_MBUF_F_RX_L4_CKSUM_BAD", ol::RX_L4_CKSUM_BAD),
            ("RTE_MBUF_F_RX_IP_CKSUM_BAD", ol::RX_IP_CKSUM_BAD),
            ("RTE_MBUF_F_RX_IP_CKSUM_GOOD", ol::RX_IP_CKSUM_GOOD),
            ("RTE_MBUF_F_RX_L4_CKSUM_GOOD", ol::RX_L4_CKSUM_GOOD),
            ("RTE_MBUF_F_RX_IP_CKSUM_MASK", ol::RX_IP_CKSUM_MASK),
            ("RTE_MBUF_F_RX_L4_CKSUM_MASK", ol::RX_L4_CKSUM_MASK),
            ("RTE_MBUF_F_TX_TCP_SEG", ol::TX_TCP_SEG),
            ("RTE_MBUF_F_TX_TCP_CKSUM", ol::TX_TCP_CKSUM),
            ("RTE_MBUF_F_TX_SCTP_CKSUM", ol::TX_SCTP_CKSUM),
            ("RTE_MBUF_F_TX_UDP_CKSUM", ol::TX_UDP_CKSUM),
            ("RTE_MBUF_F_TX_L4_MASK", ol::TX_L4_MASK),
            ("RTE_MBUF_F_TX_IP_CKSUM", ol::TX_IP_CKSUM),
            ("RTE_MBUF_F_TX_IPV4", ol::TX_IPV4),
            ("RTE_MBUF_F_TX_IPV6", ol::TX_IPV6),
            ("RTE_ETH_RX_OFFLOAD_IPV4_CKSUM", rx_offload::IPV4_CKSUM),
            ("RTE_ETH_RX_OFFLOAD_UDP_CKSUM", rx_offload::UDP_CKSUM),
            ("RTE_ETH_RX_OFFLOAD_TCP_CKSUM", rx_offload::TCP_CKSUM),
            ("RTE_ETH_RX_OFFLOAD_SCATTER", rx_offload::SCATTER),
            ("RTE_ETH_RX_OFFLOAD_RSS_HASH", rx_offload::RSS_HASH),
            ("RTE_ETH_TX_OFFLOAD_IPV4_CKSUM", tx_offload::IPV4_CKSUM),
            ("RTE_ETH_TX_OFFLOAD_UDP_CKSUM", tx_offload::UDP_CKSUM),
            ("RTE_ETH_TX_OFFLOAD_TCP_CKSUM", tx_offload::TCP_CKSUM),
            ("RTE_ETH_TX_OFFLOAD_TCP_TSO", tx_offload::TCP_TSO),
            ("RTE_ETH_TX_OFFLOAD_MULTI_SEGS", tx_offload::MULTI_SEGS),
            (
                "RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE",
                tx_offload::MBUF_FAST_FREE,
            ),
            ("RTE_ETH_RSS_NONFRAG_IPV4_TCP", rss_hf::NONFRAG_IPV4_TCP),
            ("RTE_ETH_RSS_NONFRAG_IPV4_UDP", rss_hf::NONFRAG_IPV4_UDP),
            ("RTE_ETH_RSS_NONFRAG_IPV6_TCP", rss_hf::NONFRAG_IPV6_TCP),
            ("RTE_ETH_RSS_NONFRAG_IPV6_UDP", rss_hf::NONFRAG_IPV6_UDP),
            ("RTE_ETH_MQ_RX_RSS", u64::from(RTE_ETH_MQ_RX_RSS_FLAG)),
            (
                "RTE_MBUF_DEFAULT_BUF_SIZE",
                u64::from(RTE_MBUF_DEFAULT_BUF_SIZE),
            ),
            ("RTE_PKTMBUF_HEADROOM", u64::from(RTE_PKTMBUF_HEADROOM)),
            ("RTE_MAX_LCORE", dpdk::RTE_MAX_LCORE as u64),
            ("RTE_MAX_ETHPORTS", dpdk::RTE_MAX_ETHPORTS as u64),
            (
                "RTE_ETHDEV_QUEUE_STAT_CNTRS",
                dpdk::RTE_ETHDEV_QUEUE_STAT_CNTRS as u64,
            ),
            ("RTE_MEMPOOL_NAMESIZE", dpdk::RTE_MEMPOOL_NAMESIZE as u64),
            ("RTE_ETH_NAME_MAX_LEN", RTE_ETH_NAME_MAX_LEN as u64),
            ("RTE_PTYPE_UNKNOWN", u64::from(RTE_PTYPE_UNKNOWN)),
            (
                "RTE_MEMPOOL_CACHE_MAX_SIZE",
                dpdk_shim::mbuf::MEMPOOL_CACHE_MAX_SIZE as u64,
            ),
            ("E_RTE_NO_CONFIG", dpdk::errno::E_RTE_NO_CONFIG as u64),
            ("RTE_LOG_ERR", u64::from(dpdk::log::ERR)),
            ("RTE_LOG_INFO", u64::from(dpdk::log::INFO)),
            ("RTE_LOG_DEBUG", u64::from(dpdk::log::DEBUG)),
            ("RTE_LOGTYPE_EAL", u64::from(dpdk::log::TYPE_EAL)),
            (
                "RTE_LOGTYPE_FIRST_EXT_ID",
                u64::from(dpdk::log::FIRST_EXT_ID),
            ),
        ];
        for (name, v) in consts {
            writeln!(s, "CHECK_EQ({name}, {v:#x}ULL);").unwrap();
        }

        // The link's bit-fields, where the Rust side puts them.
        write!(
            s,
            "int main(void)\n{{\n\
             \tstruct rte_eth_link l;\n\tuint16_t flags;\n\
             \tmemset(&l, 0, sizeof(l));\n\
             \tl.link_duplex = 1;\n\tmemcpy(&flags, (char *)&l + 4, 2);\n\
             \tif (flags != {duplex}) return 1;\n\
             \tmemset(&l, 0, sizeof(l));\n\tl.link_autoneg = 1;\n\
             \tmemcpy(&flags, (char *)&l + 4, 2);\n\tif (flags != {autoneg}) return 2;\n\
             \tmemset(&l, 0, sizeof(l));\n\tl.link_status = 1;\n\
             \tmemcpy(&flags, (char *)&l + 4, 2);\n\tif (flags != {status}) return 3;\n\
             \tif (offsetof(struct rte_eth_link, link_speed) + 4 != {flags_off}) return 4;\n\
             \tputs(\"conformance ok\");\n\treturn 0;\n}}\n",
            duplex = LINK_DUPLEX_BIT,
            autoneg = LINK_AUTONEG_BIT,
            status = LINK_STATUS_BIT,
            flags_off = offset_of!(rte_eth_link, flags),
        )
        .unwrap();
        s
    }
}
