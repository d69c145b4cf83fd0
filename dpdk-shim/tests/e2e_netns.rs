//! End to end through real Linux network stacks: traffic between network namespaces whose only
//! path is our driver on simulated ENA ports (TAP wires), forwarded by the `fwd` example or
//! load-balanced by the `l4lb` example; and capture files replayed through `fwd`.
//!
//! Run as root; the tests take turns (each pins lcores to the first two CPUs and measures):
//!
//! ```text
//! cargo test -p dpdk-shim --test e2e_netns -- --test-threads=1 --nocapture
//! ```
//!
//! | test | path | what must hold |
//! |---|---|---|
//! | `fwd_bridges_ping_and_100mb_of_tcp_over_two_queues` | kernel in `a` → TAP → port 0 → `fwd` (2 queue pairs, one worker) → port 1 → TAP → kernel in `b` | ping answered; 100 MiB of TCP in 4 streams arrive byte for byte; no frame lost; both queues of both ports used; `fwd`'s counters add up |
//! | `fwd_tx_checksum_offload_is_accepted_by_the_far_kernel` | the same, `fwd --tx-csum` (it zeroes every IPv4/TCP checksum; the device must fill them in) | the same, and no checksum error counted by either kernel |
//! | `fwd_carries_jumbo_frames_at_mtu_9000_with_scatter_rx` | the same at MTU 9000 (`fwd --mtu 9000`: chained mbufs) | `ping -s 8000 -M do` answered whole; 64 MiB of TCP in ~9000-byte frames |
//! | `fwd_replays_a_capture_unchanged_in_io_mode_and_swaps_only_macs_in_macswap` | pcap file → port 0 → `fwd` → port 1 → pcap file | io: the output capture is the input, byte for byte; macswap: only the MACs differ |
//! | `l4lb_spreads_1000_connections_over_three_backends_and_drains_one` | client → bridge → `l4lb` (a separate process) → IPIP → router → 3 backends, answers straight to the client | 1000 connections complete, within 10 % of even; each stays on its backend; a drained backend gets no new flow and finishes its established ones |
//!
//! Each test makes its own namespaces, TAP interfaces, veth pairs and bridges (support in
//! `tests/e2e/`), keeps every frame inside them (documentation addresses: 192.0.2.0/24,
//! 198.51.100.0/24, 203.0.113.0/24, 198.18.0.0/24), and removes them when it ends, also when it
//! fails; a run that crashed is cleaned up by the next. Where namespaces cannot be made (not
//! root, no `ip`, no `/dev/net/tun`), or fewer than two CPUs are available, a test prints
//! `SKIPPED: <reason>` and returns.
//!
//! Loss is judged by counting frames at both ends of the path, not by TCP's retransmission
//! counter alone: on a busy 2-core host a TCP timer can fire for a segment that was merely
//! late. So the namespaces run without tail-loss probes and with a 2 s minimum retransmission
//! timeout, and a retransmission passes only when nothing was dropped on the path and the
//! receiver reported the segment as a duplicate (D-SACK).
//!
//! The backends decapsulate IPIP in user space, doing what the kernel's `tunl0` does: the
//! kernel these tests were written on is built without `CONFIG_NET_IPIP` (see `e2e/ipip.rs`).

#[allow(dead_code)]
#[path = "../examples/fwd.rs"]
mod fwd;

mod e2e;

use dpdk_shim::vdev::WireHandle;
use e2e::backend::{Backend, Client};
use e2e::ipip::Decap;
use e2e::sock::{bulk_receive, bulk_send, connect, listen, ping, wait_for_path};
use e2e::{
    changed, fwd_opts, ip_ok, sysctl, FwdRun, L4lbProc, Lab, LinkStats, Snmp, CSUM_ERRORS,
    TCP_DETAIL,
};
use ena_sim::frames;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const A_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const MB: f64 = 1e6;

/// Accepts one connection on `l` within `within`.
fn accept_within(l: &TcpListener, within: Duration) -> std::io::Result<TcpStream> {
    l.set_nonblocking(true)?;
    let t0 = Instant::now();
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && t0.elapsed() < within => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => return Err(e),
        }
    }
}

/// Namespaces `a` and `b`, each with a persistent TAP (`fa`, `fb`) at `mtu` holding 192.0.2.1
/// and 192.0.2.2, and `fwd` between the two simulated ports behind them.
fn two_hosts_through_fwd(lab: &mut Lab, mtu: u32, opts: fwd::Opts) -> (String, String, FwdRun) {
    let a = lab.netns("a");
    let b = lab.netns("b");
    for (ns, tap, addr) in [(&a, "fa", A_IP), (&b, "fb", B_IP)] {
        lab.tap(ns, tap, mtu);
        ip_ok(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", tap]);
        // TCP timers that fire only because this busy 2-core host was slow, not because a
        // segment was lost, must not count: no tail-loss probes (an ACK a few milliseconds
        // late fires one), and a retransmission timeout of at least 2 s instead of 200 ms.
        // Loss itself is judged by counting frames at both ends (`judge_path`).
        sysctl(ns, &["net.ipv4.tcp_early_retrans=0"]);
        ip_ok(&[
            "-n",
            ns,
            "route",
            "replace",
            "192.0.2.0/24",
            "dev",
            tap,
            "proto",
            "kernel",
            "scope",
            "link",
            "src",
            &addr.to_string(),
            "rto_min",
            "2s",
        ]);
    }
    let dev_mtu = if mtu > 1500 {
        format!(",mtu={mtu}")
    } else {
        String::new()
    };
    let vdevs = [
        format!("net_ena_sim0,wire=tap:fa:netns={a}:up{dev_mtu}"),
        format!("net_ena_sim1,wire=tap:fb:netns={b}:up{dev_mtu}"),
    ];
    let run = FwdRun::start(&vdevs, opts).unwrap_or_else(|e| panic!("fwd: {e}"));
    (a, b, run)
}

/// What [`transfer`] measured.
struct Transfer {
    bytes: u64,
    secs: f64,
}

impl Transfer {
    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / MB / self.secs
    }
}

/// First source port of [`transfer`]'s streams. With the driver's default RSS key
/// (Microsoft's) and two queues, the four flows from ports 40006-40009 to port 5001 hash two
/// to each queue in both directions (the low bit of the Toeplitz hash picks the queue), and
/// fixed ports make that the same in every run.
const FIRST_SOURCE_PORT: u16 = 40006;

/// `streams` parallel TCP transfers from `a` (source ports from [`FIRST_SOURCE_PORT`]) to a
/// receiver in `b`, `total` bytes in all, each checked
/// byte for byte by the receiver. Panics on any failure, or when a stream makes no progress for `stall`.
fn transfer(a: &str, b: &str, streams: u64, total: u64, stall: Duration) -> Transfer {
    let dst = SocketAddrV4::new(B_IP, 5001);
    let listener = listen(b, dst).expect("listener in b");
    let per_stream = total / streams;
    let receiver: JoinHandle<Result<u64, String>> = std::thread::spawn(move || {
        let mut rx = Vec::new();
        for i in 0..streams {
            let s = accept_within(&listener, Duration::from_secs(20))
                .map_err(|e| format!("accept #{i}: {e}"))?;
            s.set_read_timeout(Some(stall)).map_err(|e| e.to_string())?;
            rx.push(std::thread::spawn(move || bulk_receive(s)));
        }
        let mut got = 0;
        for (i, t) in rx.into_iter().enumerate() {
            got += t
                .join()
                .map_err(|_| "receiver panicked".to_string())?
                .map_err(|e| format!("receiver of stream {i}: {e}"))?;
        }
        Ok(got)
    });
    let t0 = Instant::now();
    let senders: Vec<JoinHandle<Result<u64, String>>> = (0..streams)
        .map(|i| {
            let a = a.to_string();
            std::thread::spawn(move || {
                let src = SocketAddrV4::new(A_IP, FIRST_SOURCE_PORT + i as u16);
                let s = connect(&a, Some(src), dst, Duration::from_secs(10))
                    .map_err(|e| e.to_string())?;
                s.set_write_timeout(Some(stall))
                    .map_err(|e| e.to_string())?;
                s.set_read_timeout(Some(stall)).map_err(|e| e.to_string())?;
                bulk_send(s, per_stream, i + 1)
                    .map(|(n, _)| n)
                    .map_err(|e| format!("sender of stream {i}: {e}"))
            })
        })
        .collect();
    let mut sent = 0;
    for s in senders {
        sent += s
            .join()
            .expect("sender thread")
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let secs = t0.elapsed().as_secs_f64();
    let got = receiver
        .join()
        .expect("receiver thread")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, sent, "bytes received");
    Transfer { bytes: got, secs }
}

/// The counters along the `a`-`b` path: the kernels' at both ends, and the device models'
/// and wires' of port 0 (behind `fa`) and port 1 (behind `fb`).
struct PathCounters {
    snmp: [Snmp; 2],
    link: [LinkStats; 2],
    device: [ena_sim::stats::Counters; 2],
    /// Frames the wire wrote that the kernel refused.
    wire_refused: [u64; 2],
}

impl PathCounters {
    /// Reads them once the interfaces are quiet.
    fn take(a: &str, b: &str, fwd: &FwdRun) -> PathCounters {
        let link = [LinkStats::settled(a, "fa"), LinkStats::settled(b, "fb")];
        let refused = |p: usize| match &fwd.wires[p] {
            WireHandle::Tap(_, st) => st.tx_errors(),
            _ => 0,
        };
        PathCounters {
            snmp: [Snmp::read(a), Snmp::read(b)],
            link,
            device: [0, 1].map(|p| fwd.devices[p].snapshot().lifetime),
            wire_refused: [refused(0), refused(1)],
        }
    }
}

/// Judges what happened on the path between `before` and `after` (`fwd_dropped`: what `fwd`
/// dropped in each direction, 0 -> 1 and 1 -> 0, over its whole run):
/// - no checksum was found bad, at either end;
/// - every frame one kernel handed to its TAP and the other kernel did not get was counted
///   dropped on the way (by the device model for lack of RX buffers, by `fwd`, by the far
///   kernel): nothing was lost silently, and nothing arrived that was not sent;
/// - when nothing was dropped anywhere, TCP retransmitted nothing, or only segments the
///   receiver reports it already had (a timer fired while the host was busy). A busy host can
///   also make the device run out of RX buffers, as a real NIC does; the retransmissions that
///   follow are then TCP doing its job, printed but not judged.
fn judge_path(test: &str, before: &PathCounters, after: &PathCounters, fwd_dropped: [u64; 2]) {
    let [la, lb] = [0, 1].map(|i| after.link[i].since(&before.link[i]));
    let [d0, d1] = [0, 1].map(|i| {
        let (x, y) = (&after.device[i], &before.device[i]);
        (
            x.rx_overruns + x.rx_drops - y.rx_overruns - y.rx_drops,
            x.tx_drops - y.tx_drops,
        )
    });
    let refused = [0, 1].map(|i| after.wire_refused[i] - before.wire_refused[i]);
    // Dropped on the way a -> b: port 0's device on receive, fwd, port 1's device on send,
    // the TAP write into b, b's kernel on receive; and the other way round.
    let counted_ab = d0.0 + fwd_dropped[0] + d1.1 + refused[1] + lb.rx_dropped;
    let counted_ba = d1.0 + fwd_dropped[1] + d0.1 + refused[0] + la.rx_dropped;
    println!(
        "[{test}] frames a->b: kernel a sent {} into fa, kernel b got {} from fb, {counted_ab} counted dropped; \
         b->a: sent {}, got {}, {counted_ba} counted dropped",
        la.tx_packets, lb.rx_packets, lb.tx_packets, la.rx_packets
    );
    let mut csum_errors = Vec::new();
    let mut retrans = [0; 2];
    let mut spurious = [0; 2];
    for (i, ns) in ["a", "b"].iter().enumerate() {
        let (s0, s1) = (&before.snmp[i], &after.snmp[i]);
        println!("[{test}] TCP in {ns}: {:?}", changed(s0, s1, &TCP_DETAIL));
        retrans[i] = s1.delta(s0, "Tcp.RetransSegs");
        spurious[i] = s1.delta(s0, "TcpExt.TCPDSACKRecv");
        csum_errors.extend(
            changed(s0, s1, &CSUM_ERRORS)
                .into_iter()
                .map(|c| format!("{ns}:{c}")),
        );
    }
    assert!(csum_errors.is_empty(), "checksum errors: {csum_errors:?}");
    for (dir, sent, got, counted) in [
        ("a -> b", la.tx_packets, lb.rx_packets, counted_ab),
        ("b -> a", lb.tx_packets, la.rx_packets, counted_ba),
    ] {
        assert!(got <= sent, "{dir}: {got} frames arrived, {sent} were sent");
        assert!(
            sent - got <= counted,
            "{dir}: {} frames lost, {counted} counted dropped",
            sent - got
        );
    }
    let dropped = counted_ab + counted_ba + la.tx_dropped + lb.tx_dropped;
    if dropped == 0 {
        // Nothing was lost, so a retransmission can only have been a timer that fired while
        // this host was too busy to deliver the ACK in time: the receiver then had the
        // segment already and said so with a D-SACK.
        for (i, ns) in ["a", "b"].iter().enumerate() {
            assert!(
                retrans[i] <= spurious[i],
                "{ns} retransmitted {} segments with nothing dropped on the path; the peer \
                 reported only {} of them as duplicates",
                retrans[i],
                spurious[i]
            );
        }
        if retrans != [0, 0] {
            println!(
                "[{test}] NOTE: TCP retransmitted {retrans:?} segments (a, b), each reported a \
                 duplicate by the receiver: the host was slow, nothing was lost"
            );
        }
    } else {
        println!(
            "[{test}] NOTE: {dropped} frames dropped on the way (the host did not keep up); \
             TCP retransmitted {retrans:?} segments (a, b)"
        );
    }
}

/// Prints the counters of the simulated ports' wires and device models.
fn print_wires(test: &str, fwd: &FwdRun) {
    for (w, d) in fwd.wires.iter().zip(&fwd.devices) {
        if let WireHandle::Tap(name, st) = w {
            println!(
                "[{test}] wire {name}: frames from kernel {} ({} bytes), to kernel {}, refused {}, oversize {}",
                st.rx_frames(),
                st.rx_bytes(),
                st.tx_frames(),
                st.tx_errors(),
                st.rx_oversize(),
            );
        }
        let c = d.snapshot().lifetime;
        println!(
            "[{test}]   device: rx {} (dropped {}, no buffer {}), tx {} (dropped {}, malformed {}, bad offload {})",
            c.rx_pkts, c.rx_drops, c.rx_overruns, c.tx_pkts, c.tx_drops, c.tx_malformed, c.tx_offload_errors
        );
    }
}

/// Frames and bytes the kernel sent into the TAP of port `port` so far.
fn frames_from_kernel(fwd: &FwdRun, port: usize) -> (u64, u64) {
    match &fwd.wires[port] {
        WireHandle::Tap(_, st) => (st.rx_frames(), st.rx_bytes()),
        other => panic!("port {port} has wire {other:?}"),
    }
}

/// What `fwd` dropped, 0 -> 1 and 1 -> 0.
fn fwd_dropped(r: &e2e::FwdResult) -> [u64; 2] {
    [0, 1].map(|i| r.summary.directions[i].dropped)
}

/// Prints `fwd`'s summary and checks its arithmetic.
fn check_fwd(test: &str, r: &e2e::FwdResult) {
    for p in &r.summary.ports {
        println!(
            "[{test}] fwd port {}: rx {} tx {} dropped {} missed {} errors {}; per-queue RX {:?}",
            p.port,
            p.rx_packets,
            p.tx_packets,
            p.dropped,
            p.rx_missed,
            p.errors,
            r.stats[p.port as usize].q_ipackets
        );
    }
    e2e::check_fwd_counters(&r.summary);
    for p in &r.summary.ports {
        assert_eq!(p.errors, 0, "port {} errors", p.port);
    }
}

/// Scenario 1: ping and 100 MB of TCP between two namespaces whose only path is `fwd` on two
/// queue pairs; with `tx_csum`, `fwd` clears every IPv4/TCP checksum and the device's offload
/// must restore them for the far kernel to accept the segments.
fn bulk_through_fwd(test: &str, tx_csum: bool) {
    let _serial = e2e::serial();
    let mut lab = or_skip!(Lab::new(test));
    let mut opts = fwd_opts();
    opts.queues = Some(2);
    opts.tx_csum = tx_csum;
    // Let a momentarily full TX ring drain rather than drop.
    opts.tx_retry = 1000;
    let (a, b, fwd) = two_hosts_through_fwd(&mut lab, 1500, opts);

    let up = wait_for_path(&a, B_IP, Duration::from_secs(20)).expect("path a -> b");
    let p = ping(&a, B_IP, 56, true, 10, Duration::from_secs(2)).expect("ping");
    println!(
        "[{test}] path up after {:.2} s; ping: {}/{} replies, avg {:.2} ms",
        up.as_secs_f64(),
        p.received,
        p.sent,
        p.avg_ms()
    );
    assert_eq!(p.received, p.sent, "every echo answered");

    let before = PathCounters::take(&a, &b, &fwd);
    let t = transfer(&a, &b, 4, 100 * 1024 * 1024, Duration::from_secs(20));
    println!(
        "[{test}] TCP: {:.1} MB in 4 streams in {:.2} s = {:.2} MB/s, every byte checked",
        t.bytes as f64 / MB,
        t.secs,
        t.mb_per_s()
    );
    let after = PathCounters::take(&a, &b, &fwd);
    print_wires(test, &fwd);
    let r = fwd.finish().expect("fwd");
    check_fwd(test, &r);
    judge_path(test, &before, &after, fwd_dropped(&r));
    for (i, st) in r.stats.iter().enumerate() {
        assert_eq!(st.q_ipackets.len(), 2);
        assert!(
            st.q_ipackets.iter().all(|&n| n > 1000),
            "port {i}: both queues carry traffic: {:?}",
            st.q_ipackets
        );
    }
    lab.close();
}

#[test]
fn fwd_bridges_ping_and_100mb_of_tcp_over_two_queues() {
    bulk_through_fwd("bulk", false);
}

#[test]
fn fwd_tx_checksum_offload_is_accepted_by_the_far_kernel() {
    bulk_through_fwd("csum", true);
}

// ---------------------------------------------------------------------------------------------
// Scenario 4: MTU 9000
// ---------------------------------------------------------------------------------------------

#[test]
fn fwd_carries_jumbo_frames_at_mtu_9000_with_scatter_rx() {
    let test = "jumbo";
    let _serial = e2e::serial();
    let mut lab = or_skip!(Lab::new(test));
    let mut opts = fwd_opts();
    // Frames up to 9014 bytes arrive in 2 KiB mbufs as chains and leave as multi-segment
    // packets.
    opts.mtu = Some(9000);
    opts.tx_retry = 1000;
    // A jumbo frame takes five 2 KiB RX buffers: 4096 of them hold about 800 frames, a TCP
    // window's worth, for when the worker lcore is kept off its CPU for a moment.
    opts.rxd = 4096;
    let (a, b, fwd) = two_hosts_through_fwd(&mut lab, 9000, opts);
    wait_for_path(&a, B_IP, Duration::from_secs(20)).expect("path a -> b");

    // ping -s 8000 -M do: 8028-byte IP packets, never fragmented.
    let before = PathCounters::take(&a, &b, &fwd);
    let p = ping(&a, B_IP, 8000, true, 10, Duration::from_secs(2)).expect("ping -s 8000 -M do");
    let after = PathCounters::take(&a, &b, &fwd);
    println!(
        "[{test}] ping -s 8000 -M do: {}/{} replies, avg {:.2} ms",
        p.received,
        p.sent,
        p.avg_ms()
    );
    assert_eq!(p.received, p.sent, "every 8000-byte echo answered");
    assert_eq!(
        after.snmp[1].delta(&before.snmp[1], "Ip.ReasmReqds"),
        0,
        "b reassembled nothing: the echoes crossed whole"
    );
    // With the don't-fragment bit the kernel refuses what the 9000-byte MTU cannot carry.
    let e = ping(&a, B_IP, 9000, true, 1, Duration::from_secs(1)).expect_err("9028 > MTU");
    assert!(
        e.to_string()
            .contains(&format!("os error {}", libc::EMSGSIZE)),
        "{e}"
    );

    let before = PathCounters::take(&a, &b, &fwd);
    let (frames0, bytes0) = frames_from_kernel(&fwd, 0);
    let t = transfer(&a, &b, 2, 64 * 1024 * 1024, Duration::from_secs(20));
    let (frames1, bytes1) = frames_from_kernel(&fwd, 0);
    println!(
        "[{test}] TCP: {:.1} MB in 2 streams in {:.2} s = {:.2} MB/s, every byte checked",
        t.bytes as f64 / MB,
        t.secs,
        t.mb_per_s()
    );
    let after = PathCounters::take(&a, &b, &fwd);
    print_wires(test, &fwd);
    // Only data goes a -> b (the ACKs go the other way): jumbo frames, each longer than the
    // 2 KiB mbufs it was received into.
    let avg = (bytes1 - bytes0) as f64 / (frames1 - frames0).max(1) as f64;
    println!(
        "[{test}] a -> b: {} frames, {avg:.0} bytes on average",
        frames1 - frames0
    );
    assert!(
        avg > 8500.0,
        "jumbo frames a -> b: {avg:.0} bytes on average"
    );
    let r = fwd.finish().expect("fwd");
    check_fwd(test, &r);
    judge_path(test, &before, &after, fwd_dropped(&r));
    lab.close();
}

// ---------------------------------------------------------------------------------------------
// Scenario 3: a capture replayed through fwd
// ---------------------------------------------------------------------------------------------

/// The frames of the capture: IPv4 TCP and UDP of every length from the minimum frame to
/// 1514 bytes, IPv6, 802.1Q-tagged IPv4, and non-IP frames, each unique (its position is in
/// its ports or payload).
fn capture_frames() -> Vec<Vec<u8>> {
    let v6a: std::net::Ipv6Addr = "2001:db8::1".parse().expect("address");
    let v6b: std::net::Ipv6Addr = "2001:db8::2".parse().expect("address");
    let mut out = Vec::new();
    for i in 0..1500u16 {
        let f = match i % 10 {
            0..=5 => frames::ipv4(
                i % 2 == 0,
                [198, 51, 100, (i % 250) as u8 + 1],
                [203, 0, 113, 7],
                10_000 + i,
                80,
                usize::from(i) % 1461,
            ),
            6 | 7 => frames::ipv6(i % 2 == 0, v6a, v6b, 20_000 + i, 443, usize::from(i) % 1420),
            8 => {
                // An 802.1Q tag (VLAN 100) in front of the IPv4 header.
                let f = frames::ipv4(false, [198, 51, 100, 9], [203, 0, 113, 9], i, 53, 100);
                let mut t = f[..12].to_vec();
                t.extend_from_slice(&[0x81, 0x00, 0x00, 100]);
                t.extend_from_slice(&f[12..]);
                t
            }
            _ => {
                let mut f = frames::non_ip(60 + usize::from(i) % 900);
                f[14..16].copy_from_slice(&i.to_be_bytes());
                f
            }
        };
        out.push(f);
    }
    out
}

fn write_pcap(path: &std::path::Path, frames: &[Vec<u8>]) {
    let file = std::fs::File::create(path).expect("create capture");
    let mut w = PcapWriter::with_header(
        file,
        PcapHeader {
            endianness: Endianness::Little,
            ts_resolution: TsResolution::MicroSecond,
            datalink: DataLink::ETHERNET,
            ..PcapHeader::default()
        },
    )
    .expect("pcap header");
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(&PcapPacket::new(
            Duration::new(1_700_000_000, 1000 * i as u32),
            f.len() as u32,
            f,
        ))
        .expect("pcap record");
    }
}

fn read_pcap(path: &std::path::Path) -> Vec<Vec<u8>> {
    let file = std::fs::File::open(path).expect("open capture");
    let mut r = PcapReader::new(file).expect("pcap header");
    assert_eq!(r.header().datalink, DataLink::ETHERNET);
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.expect("pcap record");
        assert_eq!(p.orig_len as usize, p.data.len(), "recorded whole");
        out.push(p.data.into_owned());
    }
    out
}

/// Replays `input` into port 0 (every frame, waiting for RX buffers), records what port 1
/// sends into `output`, and returns fwd's result once all of it is recorded.
fn replay_through_fwd(
    input: &std::path::Path,
    output: &std::path::Path,
    mode: fwd::Mode,
    count: u64,
) -> e2e::FwdResult {
    let mut opts = fwd_opts();
    opts.mode = mode;
    // One queue pair, and no drops when a TX ring is full: the output must be the input, in
    // order.
    opts.queues = Some(1);
    opts.tx_retry = u32::MAX;
    let vdevs = [
        format!("net_ena_sim0,wire=pcap:in={}:lossless", input.display()),
        format!("net_ena_sim1,wire=pcap:out={}", output.display()),
    ];
    let run = FwdRun::start(&vdevs, opts).expect("fwd");
    let WireHandle::Pcap(rec) = run.wires[1].clone() else {
        panic!("port 1 wire {:?}", run.wires[1])
    };
    let t0 = Instant::now();
    while rec.recorded() < count && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(rec.recorded(), count, "frames recorded within 30 s");
    // Dropping the EAL (when fwd returns) closes the capture file.
    run.finish().expect("fwd")
}

#[test]
fn fwd_replays_a_capture_unchanged_in_io_mode_and_swaps_only_macs_in_macswap() {
    let test = "pcap";
    let _serial = e2e::serial();
    or_skip!(e2e::two_lcores());
    let mut files = e2e::TempFiles::new(test);
    let (input, out_io, out_swap) = (
        files.file("in.pcap"),
        files.file("io.pcap"),
        files.file("macswap.pcap"),
    );
    let sent = capture_frames();
    write_pcap(&input, &sent);
    let n = sent.len() as u64;

    let t0 = Instant::now();
    let r = replay_through_fwd(&input, &out_io, fwd::Mode::Io, n);
    check_fwd(test, &r);
    assert_eq!(
        (r.summary.ports[0].rx_packets, r.summary.ports[1].tx_packets),
        (n, n)
    );
    let got = read_pcap(&out_io);
    assert_eq!(got.len(), sent.len(), "io: frames in the output capture");
    for (i, (g, s)) in got.iter().zip(&sent).enumerate() {
        assert_eq!(g, s, "io: frame {i} differs");
    }
    println!(
        "[{test}] io: {n} frames ({} bytes) replayed and recorded byte for byte in {:.2} s",
        sent.iter().map(Vec::len).sum::<usize>(),
        t0.elapsed().as_secs_f64()
    );

    let t0 = Instant::now();
    let r = replay_through_fwd(&input, &out_swap, fwd::Mode::Macswap, n);
    check_fwd(test, &r);
    let got = read_pcap(&out_swap);
    assert_eq!(
        got.len(),
        sent.len(),
        "macswap: frames in the output capture"
    );
    for (i, (g, s)) in got.iter().zip(&sent).enumerate() {
        assert_eq!(g.len(), s.len(), "macswap: frame {i} length");
        assert_eq!(
            g[0..6],
            s[6..12],
            "macswap: frame {i} destination <- source"
        );
        assert_eq!(
            g[6..12],
            s[0..6],
            "macswap: frame {i} source <- destination"
        );
        assert_eq!(g[12..], s[12..], "macswap: frame {i} past the MACs");
    }
    println!(
        "[{test}] macswap: {n} frames, MACs swapped and nothing else, in {:.2} s",
        t0.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// Scenario 2: l4lb in front of three backends
// ---------------------------------------------------------------------------------------------

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const VIP_LABEL: &str = "tcp/192.0.2.10:80";
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const LB_MAC: &str = "02:00:00:e2:00:01";
const ROUTER_MAC: &str = "02:00:00:e2:00:fe";
const BACKENDS: [(&str, Ipv4Addr); 3] = [
    ("web-1", Ipv4Addr::new(203, 0, 113, 11)),
    ("web-2", Ipv4Addr::new(203, 0, 113, 12)),
    ("web-3", Ipv4Addr::new(203, 0, 113, 13)),
];

/// The load balancer's configuration for the topology of [`l4lb_topology`].
fn l4lb_config() -> String {
    let backends: Vec<String> = BACKENDS
        .iter()
        .map(|(name, addr)| format!("  {{ name = \"{name}\", address = \"{addr}\" }},"))
        .collect();
    format!(
        r#"# Written by the e2e_netns test.
lb_mac = "{LB_MAC}"
next_hop_mac = "{ROUTER_MAC}"
outer_source_pool = "198.18.0.0/24"
mtu = 1500

[[vip]]
address = "{VIP}"
protocol = "tcp"
port = 80
backends = [
{}
]
"#,
        backends.join("\n")
    )
}

/// The namespaces of the load-balancing test:
///
/// ```text
///  cl (client 198.51.100.2) ─┐                 ┌─ lb0: TAP, the l4lb port (its MAC: lb_mac)
///                           br0 in namespace lb
///  rt (router) front ────────┘   198.51.100.1, MAC = next_hop_mac; forwards to br1:
///  rt br1 203.0.113.1/24 ── be1 (203.0.113.11), be2 (.12), be3 (.13): VIP on lo, dec0
/// ```
///
/// The client reaches the VIP through lb_mac (a static neighbour entry, as a VPC route to
/// the load balancer would); l4lb sends each packet IPIP-encapsulated to the router's MAC;
/// the router routes it on the outer address to the backend, which decapsulates it (into
/// `dec0`, see `e2e/ipip.rs`) and delivers it to the VIP on its loopback; the backend answers
/// the client directly through the router (direct server return). Returns the namespaces
/// (client, lb, router, backends).
fn l4lb_topology(lab: &mut Lab) -> (String, String, String, Vec<String>) {
    let cl = lab.netns("cl");
    let lb = lab.netns("lb");
    let rt = lab.netns("rt");
    // The switch, with the load balancer's TAP (persistent: the l4lb process opens it).
    ip_ok(&["-n", &lb, "link", "add", "br0", "type", "bridge"]);
    ip_ok(&["-n", &lb, "link", "set", "br0", "up"]);
    lab.tap(&lb, "lb0", 1500);
    lab.veth(&lb, "tocl", &cl, "eth0");
    lab.veth(&lb, "tort", &rt, "front");
    for port in ["lb0", "tocl", "tort"] {
        ip_ok(&["-n", &lb, "link", "set", port, "master", "br0"]);
    }
    // The client: the VIP is on the link, at the load balancer's MAC. Packets of at most 1480
    // bytes, so that they still fit the 1500-byte MTU with the 20-byte outer header.
    ip_ok(&[
        "-n",
        &cl,
        "addr",
        "add",
        &format!("{CLIENT_IP}/24"),
        "dev",
        "eth0",
    ]);
    ip_ok(&[
        "-n",
        &cl,
        "route",
        "add",
        &format!("{VIP}/32"),
        "dev",
        "eth0",
        "mtu",
        "lock",
        "1480",
    ]);
    ip_ok(&[
        "-n",
        &cl,
        "neigh",
        "replace",
        &VIP.to_string(),
        "lladdr",
        LB_MAC,
        "dev",
        "eth0",
        "nud",
        "permanent",
    ]);
    // The router: next_hop_mac on the client side, the backends' network on br1.
    ip_ok(&["-n", &rt, "link", "set", "front", "down"]);
    ip_ok(&[
        "-n", &rt, "link", "set", "front", "address", ROUTER_MAC, "up",
    ]);
    ip_ok(&["-n", &rt, "addr", "add", "198.51.100.1/24", "dev", "front"]);
    ip_ok(&["-n", &rt, "link", "add", "br1", "type", "bridge"]);
    ip_ok(&["-n", &rt, "link", "set", "br1", "up"]);
    ip_ok(&["-n", &rt, "addr", "add", "203.0.113.1/24", "dev", "br1"]);
    sysctl(
        &rt,
        &[
            "net.ipv4.ip_forward=1",
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
        ],
    );
    let mut backends = Vec::new();
    for (i, (_, addr)) in BACKENDS.iter().enumerate() {
        let be = lab.netns(&format!("be{}", i + 1));
        let port = format!("be{}", i + 1);
        lab.veth(&rt, &port, &be, "eth0");
        ip_ok(&["-n", &rt, "link", "set", &port, "master", "br1"]);
        ip_ok(&[
            "-n",
            &be,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ]);
        ip_ok(&["-n", &be, "route", "add", "default", "via", "203.0.113.1"]);
        ip_ok(&["-n", &be, "addr", "add", &format!("{VIP}/32"), "dev", "lo"]);
        // Packets come in through the tunnel and their answers leave through eth0; and the
        // VIP on lo is nobody's business on eth0.
        sysctl(
            &be,
            &[
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
                "net.ipv4.conf.all.arp_ignore=1",
                "net.ipv4.conf.all.arp_announce=2",
            ],
        );
        backends.push(be);
    }
    (cl, lb, rt, backends)
}

/// One short connection from source port `port`: one request, its answer, close. Returns the
/// backend's name.
fn short_connection(cl: &str, id: u32, port: u16) -> Result<String, String> {
    let s = connect(
        cl,
        Some(SocketAddrV4::new(CLIENT_IP, port)),
        SocketAddrV4::new(VIP, 80),
        Duration::from_secs(10),
    )
    .map_err(|e| format!("connection {id}: {e}"))?;
    let mut c = Client::new(s).map_err(|e| e.to_string())?;
    c.request(id, 100 + (id as usize * 37) % 900)
        .map_err(|e| format!("connection {id}: {e}"))
}

/// `count` short connections (ids from `first_id`, source port `first_port + k`), `parallel`
/// at a time. Returns each id's backend, and the seconds it took.
fn many_connections(
    cl: &str,
    first_id: u32,
    first_port: u16,
    count: u32,
    parallel: u32,
) -> (Vec<(u32, String)>, f64) {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let t0 = Instant::now();
    type Answers = Result<Vec<(u32, String)>, String>;
    let workers: Vec<JoinHandle<Answers>> = (0..parallel)
        .map(|_| {
            let (cl, next) = (cl.to_string(), next.clone());
            std::thread::spawn(move || {
                let mut out = Vec::new();
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if k >= count {
                        return Ok(out);
                    }
                    let id = first_id + k;
                    let name = short_connection(&cl, id, first_port + k as u16)?;
                    out.push((id, name));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(
            w.join()
                .expect("client thread")
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    all.sort();
    (all, t0.elapsed().as_secs_f64())
}

/// How many of `conns` each backend answered, in [`BACKENDS`] order.
fn spread(conns: &[(u32, String)]) -> [usize; 3] {
    BACKENDS.map(|(name, _)| conns.iter().filter(|(_, n)| n == name).count())
}

#[test]
fn l4lb_spreads_1000_connections_over_three_backends_and_drains_one() {
    let test = "l4lb";
    let _serial = e2e::serial();
    let mut lab = or_skip!(Lab::new(test));
    let bin = e2e::l4lb_binary().unwrap_or_else(|e| panic!("{e}"));
    let (cl, lb, _rt, be_ns) = l4lb_topology(&mut lab);
    let config = lab.file("l4lb.toml");
    std::fs::write(&config, l4lb_config()).expect("write config");
    let control = lab.file("l4lb.sock");

    // Backends: decapsulation and the server, named after the backend.
    let mut decaps = Vec::new();
    let mut servers = Vec::new();
    for ((name, _), ns) in BACKENDS.iter().zip(&be_ns) {
        decaps.push(Decap::start(ns, "dec0").expect("decapsulator"));
        sysctl(ns, &["net.ipv4.conf.dec0.rp_filter=0"]);
        let l = listen(ns, SocketAddrV4::new(VIP, 80)).expect("listen on the VIP");
        servers.push(Backend::start(name, l).expect("server"));
    }

    let eal_args = vec![
        "-l".to_string(),
        e2e::two_lcores().expect("two lcores"),
        "--vdev".into(),
        format!("net_ena_sim0,wire=tap:lb0:netns={lb}:up,mac={LB_MAC}"),
    ];
    let app_args = vec![
        "--config".to_string(),
        config.display().to_string(),
        "--control".into(),
        control.display().to_string(),
        "--quiet".into(),
        "--json".into(),
    ];
    let lbp = L4lbProc::start(&bin, &eal_args, &app_args, &control).expect("l4lb");
    println!("[{test}] l4lb: {}", lbp.command("show").expect("show"));

    // The path works (l4lb's port is up, ARP between router and client is done).
    let t0 = Instant::now();
    let mut probe = 0;
    let first = loop {
        match short_connection(&cl, 9000 + probe, 29000 + probe as u16) {
            Ok(name) => break name,
            Err(e) if t0.elapsed() < Duration::from_secs(20) => {
                println!("[{test}] not yet: {e}");
                probe += 1;
            }
            Err(e) => panic!("no connection through l4lb within 20 s: {e}"),
        }
    };
    println!(
        "[{test}] first connection answered by {first} after {:.2} s",
        t0.elapsed().as_secs_f64()
    );

    // Long-lived connections, opened before the drain and finished after it.
    let mut long: Vec<(u32, Client)> = (0..12u32)
        .map(|k| {
            let id = 5000 + k;
            let s = connect(
                &cl,
                Some(SocketAddrV4::new(CLIENT_IP, 30000 + k as u16)),
                SocketAddrV4::new(VIP, 80),
                Duration::from_secs(10),
            )
            .expect("long-lived connection");
            let mut c = Client::new(s).expect("client");
            c.request(id, 500).expect("first request");
            (id, c)
        })
        .collect();

    // 1000 short connections, each source port once: the spread is Maglev's on these
    // 5-tuples, the same in every run.
    let (conns, secs) = many_connections(&cl, 0, 20000, 1000, 8);
    let counts = spread(&conns);
    println!(
        "[{test}] 1000 connections in {secs:.2} s ({:.0}/s); per backend {:?}",
        1000.0 / secs,
        BACKENDS.iter().map(|b| b.0).zip(counts).collect::<Vec<_>>()
    );
    assert_eq!(conns.len(), 1000, "every connection completed");
    for (c, (name, _)) in counts.iter().zip(BACKENDS) {
        assert!(
            (300..=366).contains(c),
            "{name} took {c} of 1000 connections, more than 10 % off 333"
        );
    }
    // Each answer came from the server that saw the whole request.
    for (s, (name, _)) in servers.iter().zip(BACKENDS) {
        let served = s.served();
        for (id, n) in &conns {
            assert_eq!(
                served.contains_key(id),
                n == name,
                "connection {id} on {name}"
            );
        }
    }

    // Drain the backend holding the most long-lived connections.
    let held = |name: &str| {
        long.iter()
            .filter(|(_, c)| c.backend.as_deref() == Some(name))
            .count()
    };
    let drained = BACKENDS
        .iter()
        .map(|b| b.0)
        .max_by_key(|n| held(n))
        .expect("backends");
    assert!(held(drained) > 0);
    let reply = lbp
        .command(&format!("drain {VIP_LABEL} {drained}"))
        .expect("drain");
    assert!(reply.starts_with("ok"), "drain: {reply}");
    let show = lbp.command("show").expect("show");
    println!(
        "[{test}] drained {drained} ({} long-lived connections on it): {show}",
        held(drained)
    );
    assert!(
        show.contains(&format!("{drained}=")) && show.contains("draining"),
        "{show}"
    );

    let (after, secs) = many_connections(&cl, 2000, 21000, 300, 8);
    let after_counts = spread(&after);
    println!(
        "[{test}] after the drain: 300 connections in {secs:.2} s; per backend {:?}",
        BACKENDS
            .iter()
            .map(|b| b.0)
            .zip(after_counts)
            .collect::<Vec<_>>()
    );
    assert_eq!(after.len(), 300);
    for (c, (name, _)) in after_counts.iter().zip(BACKENDS) {
        if name == drained {
            assert_eq!(*c, 0, "new connections on the drained {name}");
        } else {
            assert!(*c > 50, "{name} took only {c} of 300 new connections");
        }
    }

    // The established connections finish where they began, the drained backend's included.
    for (id, c) in &mut long {
        let was = c.backend.clone();
        let name = c
            .request(*id, 1200)
            .unwrap_or_else(|e| panic!("long-lived {id}: {e}"));
        assert_eq!(Some(name), was);
    }
    for (s, (name, _)) in servers.iter().zip(BACKENDS) {
        for (id, c) in &long {
            if c.backend.as_deref() == Some(name) {
                assert_eq!(
                    s.served().get(id),
                    Some(&2),
                    "{name}: both requests of {id}"
                );
            }
        }
        assert!(s.errors().is_empty(), "{name}: {:?}", s.errors());
    }
    drop(long);

    let stats = lbp.command("stats").expect("stats");
    println!("[{test}] l4lb stats: {stats}");
    let summary = lbp.stop().expect("l4lb stops");
    println!("[{test}] l4lb summary: {}", summary.trim());
    let v: serde_json::Value = serde_json::from_str(summary.trim()).expect("l4lb's JSON summary");
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or(u64::MAX);
    assert_eq!(
        n(&v["rx"]["packets"]),
        n(&v["tx"]["packets"]) + n(&v["dropped"]),
        "l4lb: received = sent + dropped"
    );
    for reason in ["too_big", "tx_full", "malformed", "no_backend", "fragments"] {
        assert_eq!(n(&v["policy"][reason]), 0, "l4lb dropped {reason}");
    }

    // Every packet l4lb sent toward a backend reached it, addressed to it, from the
    // configured pool, and was decapsulated.
    std::thread::sleep(Duration::from_millis(200));
    for ((name, addr), d) in BACKENDS.iter().zip(&decaps) {
        let st = d.stats();
        let sent = v["backends"]
            .as_array()
            .and_then(|b| {
                b.iter()
                    .find(|b| b["name"].as_str() == Some(&format!("{VIP_LABEL}/{name}")))
            })
            .map_or(0, |b| n(&b["packets"]));
        println!(
            "[{test}] {name}: l4lb sent {sent} packets, the backend decapsulated {} (from {} outer sources); malformed {}, lost {}",
            st.decapsulated,
            st.outer.len(),
            st.malformed,
            st.lost
        );
        assert_eq!(st.decapsulated, sent, "{name}: tunnel packets lost");
        assert_eq!((st.malformed, st.lost), (0, 0), "{name}");
        for (src, dst) in &st.outer {
            assert_eq!(dst, addr, "{name}: outer destination");
            assert_eq!(
                src.octets()[..3],
                [198, 18, 0],
                "{name}: outer source {src}"
            );
        }
    }
    drop(servers);
    drop(decaps);
    lab.close();
}
