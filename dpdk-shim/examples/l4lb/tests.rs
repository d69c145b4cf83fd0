//! `l4lb` end to end on a simulated port: frames pushed into a scripted wire, what comes out
//! checked header by header with pnet; backend changes through the control path and the
//! command socket; the packet path's allocation count; the command line users type.

use super::*;
use ena_sim::frames;
use ena_sim::wire::Capture;
use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{self, Ipv4Flags, Ipv4Packet};
use pnet_packet::Packet;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

/// The tests pin lcores to CPUs 0 and 1; one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const VIP: [u8; 4] = [192, 0, 2, 10];

fn eal_with_capture() -> (Eal, Capture) {
    let argv = [
        "l4lb",
        "-l",
        "0-1",
        "--vdev",
        "net_ena_sim0,wire=capture:lossless",
    ];
    let (eal, _) = Eal::init(&argv).expect("EAL");
    let c = match eal.sim_port(0).expect("sim port").wire {
        dpdk_shim::vdev::WireHandle::Capture(c) => c,
        _ => unreachable!(),
    };
    (eal, c)
}

fn quiet() -> Opts {
    Opts {
        quiet: true,
        ..Opts::default()
    }
}

fn sample_plane() -> Dataplane {
    Dataplane::build(&Config::parse(Config::sample()).unwrap()).unwrap()
}

/// A TCP frame of flow `i` from client 198.51.100.(i / 250 + 1):(10000 + i) to `dst`:`dport`.
fn tcp_frame(i: u32, dst: [u8; 4], dport: u16, payload: usize) -> Vec<u8> {
    frames::ipv4(
        true,
        [198, 51, 100, (i / 250 + 1) as u8],
        dst,
        10_000 + (i % 250) as u16,
        dport,
        payload,
    )
}

/// Waits until `cond` holds (10 s at most).
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Rewrites an IPv4 frame's header byte `at` and fixes the header checksum.
fn patch_ipv4(mut f: Vec<u8>, at: usize, value: u8) -> Vec<u8> {
    f[at] = value;
    f[24] = 0;
    f[25] = 0;
    let sum = ipv4::checksum(&Ipv4Packet::new(&f[14..]).unwrap());
    f[24..26].copy_from_slice(&sum.to_be_bytes());
    f
}

/// Checks an encapsulated frame against the client frame it carries; returns the outer
/// (source, destination).
fn check_encap(out: &[u8], client: &[u8], cfg: &Config) -> (Ipv4Addr, Ipv4Addr) {
    let eth = EthernetPacket::new(out).unwrap();
    assert_eq!(
        eth.get_source().octets(),
        cfg.lb_mac,
        "outer Ethernet source"
    );
    assert_eq!(
        eth.get_destination().octets(),
        cfg.next_hop_mac,
        "outer Ethernet destination"
    );
    assert_eq!(eth.get_ethertype(), EtherTypes::Ipv4);
    let ip = Ipv4Packet::new(eth.payload()).unwrap();
    let inner = &client[14..];
    assert_eq!(ip.get_version(), 4);
    assert_eq!(ip.get_header_length(), 5);
    assert_eq!(usize::from(ip.get_total_length()), 20 + inner.len());
    assert_eq!(ip.get_flags(), Ipv4Flags::DontFragment);
    assert_eq!(ip.get_fragment_offset(), 0);
    assert_eq!(ip.get_ttl(), 64);
    let inner_v6 = client[12..14] == [0x86, 0xdd];
    let proto = if inner_v6 {
        IpNextHeaderProtocols::Ipv6
    } else {
        IpNextHeaderProtocols::Ipv4
    };
    assert_eq!(ip.get_next_level_protocol(), proto);
    assert_eq!(
        ip.get_checksum(),
        ipv4::checksum(&ip),
        "outer header checksum"
    );
    if !inner_v6 {
        assert_eq!(
            ip.get_dscp() << 2 | ip.get_ecn(),
            client[15],
            "TOS copied from the inner packet"
        );
    }
    assert_eq!(ip.payload(), inner, "the client's IP packet, byte for byte");
    let src = ip.get_source();
    let pool = u32::from(cfg.outer_source_pool.0);
    assert!(
        (pool + 1..pool + 255).contains(&u32::from(src)),
        "outer source {src} from the pool"
    );
    (src, ip.get_destination())
}

/// The backend a new flow in `client` gets from `dp` (the test's own Maglev lookup).
fn expected_backend(dp: &Dataplane, client: &[u8]) -> Ipv4Addr {
    let flow = packet::parse(client).unwrap();
    let vip = dp.vip(flow.dst, flow.proto, flow.dport).unwrap();
    dp.pick(vip, flow.hash()).unwrap().1
}

fn backend_addr(name: &str) -> Ipv4Addr {
    let n: u8 = name.trim_start_matches("web-").parse().unwrap();
    Ipv4Addr::new(10, 0, 1, 10 + n)
}

#[test]
fn balances_vips_with_maglev_and_counts_every_policy() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (eal, wire) = eal_with_capture();
    let lb = Lb::start(&eal, &quiet()).expect("l4lb");
    let dp = sample_plane();
    let cfg = dp.config().clone();

    let mut forwarded: Vec<Vec<u8>> = Vec::new();
    forwarded.extend((0..600).map(|i| tcp_frame(i, VIP, 80, 20 + (i % 50) as usize)));
    forwarded
        .extend((0..50u16).map(|i| frames::ipv4(false, [198, 51, 100, 99], VIP, 5000 + i, 53, 30)));
    let v6 = |i: u16| Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, i + 1);
    forwarded.extend((0..20u16).map(|i| {
        frames::ipv6(
            true,
            v6(i),
            "2001:db8::10".parse().unwrap(),
            40000 + i,
            443,
            40,
        )
    }));
    // DSCP 46 (TOS 0xb8): copied to the outer header.
    forwarded.push(patch_ipv4(tcp_frame(999, VIP, 80, 10), 15, 0xb8));
    let no_vip: Vec<Vec<u8>> = (0..10).map(|i| tcp_frame(i, VIP, 8080, 10)).collect();
    let fragments: Vec<Vec<u8>> = (0..5)
        .map(|i| patch_ipv4(tcp_frame(i, VIP, 80, 10), 20, 0x20))
        .collect();
    let not_ip: Vec<Vec<u8>> = (0..5).map(|_| frames::non_ip(60)).collect();
    let icmp: Vec<Vec<u8>> = (0..3)
        .map(|i| patch_ipv4(tcp_frame(i, VIP, 80, 10), 23, 1))
        .collect();

    let mut all: Vec<&Vec<u8>> = Vec::new();
    all.extend(&forwarded);
    all.extend(&no_vip);
    all.extend(&fragments);
    all.extend(&not_ip);
    all.extend(&icmp);
    for f in &all {
        wire.push((*f).clone());
    }
    let total = all.len() as u64;
    wait_for("every frame counted", || lb.stats().rx.packets == total);
    wait_for("every forwarded frame on the wire", || {
        wire.sent_len() >= forwarded.len()
    });
    let (stats, summary) = lb.stop(&eal);

    let out = wire.take_sent();
    assert_eq!(out.len(), forwarded.len(), "nothing else was sent");
    let by_inner: HashMap<&[u8], &Vec<u8>> = forwarded.iter().map(|f| (&f[14..], f)).collect();
    let mut per_backend: HashMap<Ipv4Addr, u32> = HashMap::new();
    for o in &out {
        let client = by_inner
            .get(&o[34..])
            .expect("an encapsulated client packet");
        let (src, dst) = check_encap(o, client, &cfg);
        assert_eq!(dst, expected_backend(&dp, client), "Maglev's choice");
        let flow = packet::parse(client).unwrap();
        assert_eq!(
            src,
            SourcePool::new(cfg.outer_source_pool.0, 24)
                .unwrap()
                .pick(flow.hash())
        );
        *per_backend.entry(dst).or_default() += 1;
    }
    // The draining backend gets no new flow; weight 2 gets about twice weight 1.
    assert_eq!(per_backend.get(&backend_addr("web-4")), None);
    let (w1, w3) = (
        per_backend[&backend_addr("web-1")],
        per_backend[&backend_addr("web-3")],
    );
    assert!(w3 > w1 * 3 / 2 && w3 < w1 * 3, "web-1 {w1}, web-3 {w3}");

    let p = &stats.policy;
    assert_eq!((p.no_vip, p.fragments, p.not_ip, p.not_l4), (10, 5, 5, 3));
    assert_eq!(
        (p.malformed, p.too_big, p.no_backend, p.tx_full),
        (0, 0, 0, 0)
    );
    assert_eq!(stats.rx.packets, total);
    assert_eq!(stats.tx.packets, forwarded.len() as u64);
    assert_eq!(
        stats.rx.packets,
        stats.tx.packets + p.dropped(),
        "rx = tx + dropped"
    );
    let vip_key = |proto: u8, port: u16, addr: IpAddr| dp.vip(addr, proto, port).unwrap().key();
    assert_eq!(stats.vip(vip_key(6, 80, IpAddr::from(VIP))).packets, 601);
    assert_eq!(stats.vip(vip_key(17, 53, IpAddr::from(VIP))).packets, 50);
    assert_eq!(
        stats
            .vip(vip_key(6, 443, "2001:db8::10".parse().unwrap()))
            .packets,
        20
    );
    let backend_total: u64 = dp
        .backends()
        .iter()
        .map(|b| stats.backend(b.id).packets)
        .sum();
    assert_eq!(backend_total, stats.tx.packets);
    assert_eq!(summary["tx"]["packets"], forwarded.len());
    // The port counted the same.
    let st = eal.port(0).unwrap().stats_get().unwrap();
    assert_eq!((st.ipackets, st.opackets), (total, forwarded.len() as u64));
}

#[test]
fn established_flows_keep_their_backend_when_the_set_changes() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (eal, wire) = eal_with_capture();
    let lb = Lb::start(&eal, &quiet()).expect("l4lb");
    let cfg = Config::parse(Config::sample()).unwrap();
    let dst_of = |o: &Vec<u8>| Ipv4Packet::new(&o[14..]).unwrap().get_destination();
    let sport_of = |o: &Vec<u8>| u16::from_be_bytes([o[34 + 20], o[34 + 21]]);
    let client_of = |o: &Vec<u8>| o[34 + 12 + 3];

    // 400 established flows.
    for i in 0..400 {
        wire.push(tcp_frame(i, VIP, 80, 10));
    }
    wait_for("400 first packets", || wire.sent_len() == 400);
    let before: HashMap<(u8, u16), Ipv4Addr> = wire
        .take_sent()
        .iter()
        .map(|o| ((client_of(o), sport_of(o)), dst_of(o)))
        .collect();
    assert_eq!(before.len(), 400);

    let vip = "tcp/192.0.2.10:80";
    assert_eq!(
        lb.command(&format!("add {vip} web-5 10.0.1.15 2")),
        "ok generation 2"
    );
    assert_eq!(lb.command(&format!("drain {vip} web-2")), "ok generation 3");
    assert_eq!(
        lb.command(&format!("weight {vip} web-1 3")),
        "ok generation 4"
    );
    assert_eq!(
        lb.command(&format!("remove {vip} web-3")),
        "ok generation 5"
    );
    // Refused edits change nothing.
    assert_eq!(
        lb.command(&format!("drain {vip} nope")),
        "error: tcp/192.0.2.10:80 has no backend 'nope'"
    );
    assert!(lb
        .command(&format!("add {vip} web-6 10.0.1.11"))
        .contains("already backend 'web-1'"));
    assert!(lb
        .command(&format!("weight {vip} web-1 0"))
        .contains("weight 0"));
    assert!(lb
        .command("add tcp/192.0.2.99:80 x 10.0.0.1")
        .contains("no VIP tcp/192.0.2.99:80"));
    assert!(lb
        .command("frobnicate")
        .starts_with("error: unknown command"));
    assert_eq!(lb.generation(), 5);
    let show = lb.command("show");
    assert!(show.starts_with("ok generation 5"), "{show}");
    assert!(
        show.contains("web-2=10.0.1.12 w1 draining")
            && show.contains("web-5=10.0.1.15 w2")
            && !show.contains("web-3=10.0.1.13 w2"),
        "{show}"
    );
    assert!(
        lb.wait_applied(Duration::from_secs(5)),
        "every lcore runs generation 5"
    );

    // The same 400 flows again, and 400 new ones.
    for i in 0..400 {
        wire.push(tcp_frame(i, VIP, 80, 30));
    }
    for i in 400..800 {
        wire.push(tcp_frame(i, VIP, 80, 10));
    }
    wait_for("800 more packets", || wire.sent_len() == 800);
    let out = wire.take_sent();
    let (web2, web3, web5) = (
        backend_addr("web-2"),
        backend_addr("web-3"),
        backend_addr("web-5"),
    );
    let mut moved = 0;
    let mut kept_on_draining = 0;
    for o in &out[..400] {
        let was = before[&(client_of(o), sport_of(o))];
        let now = dst_of(o);
        if was == web3 {
            assert_ne!(now, web3, "a removed backend's flows move");
            moved += 1;
        } else {
            assert_eq!(now, was, "an established flow keeps its backend");
            kept_on_draining += u32::from(was == web2);
        }
    }
    assert!(
        moved > 0 && kept_on_draining > 0,
        "moved {moved}, kept on draining {kept_on_draining}"
    );
    let new_dsts: Vec<Ipv4Addr> = out[400..].iter().map(dst_of).collect();
    assert!(
        !new_dsts.contains(&web2),
        "no new flow to a draining backend"
    );
    assert!(
        !new_dsts.contains(&web3),
        "no new flow to a removed backend"
    );
    assert!(
        new_dsts.contains(&web5),
        "new flows reach the added backend"
    );
    let (stats, _) = lb.stop(&eal);
    assert_eq!(
        stats.conntrack.removed, moved as u64,
        "the removed backend's entries were dropped"
    );
    let _ = cfg;
}

#[test]
fn reload_and_the_command_socket() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("l4lb-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("lb.toml");
    let sock = dir.join("control.sock");
    std::fs::write(&conf, Config::sample()).unwrap();
    let (eal, wire) = eal_with_capture();
    let opts = Opts {
        config: Some(conf.clone()),
        control: Some(sock.clone()),
        ..quiet()
    };
    let lb = Lb::start(&eal, &opts).expect("l4lb");
    let mut client = UnixStream::connect(&sock).expect("control socket");
    let mut replies = BufReader::new(client.try_clone().unwrap()).lines();
    let mut ask = |cmd: &str| -> String {
        writeln!(client, "{cmd}").unwrap();
        replies.next().unwrap().unwrap()
    };
    assert!(ask("show").starts_with("ok generation 1"));

    // Drain web-1 and web-2 in the file, reload (what SIGHUP does): new flows avoid them.
    let text = Config::sample()
        .replace(
            r#"{ name = "web-1", address = "10.0.1.11", weight = 1 }"#,
            r#"{ name = "web-1", address = "10.0.1.11", weight = 1, state = "draining" }"#,
        )
        .replace(
            r#"{ name = "web-2", address = "10.0.1.12", weight = 1 }"#,
            r#"{ name = "web-2", address = "10.0.1.12", weight = 1, state = "draining" }"#,
        );
    assert_ne!(text, Config::sample());
    std::fs::write(&conf, &text).unwrap();
    let reply = ask("reload");
    assert!(reply.starts_with("ok generation 2 from "), "{reply}");
    assert!(lb.wait_applied(Duration::from_secs(5)));
    for i in 0..200 {
        wire.push(tcp_frame(i, VIP, 80, 10));
    }
    wait_for("200 packets", || wire.sent_len() == 200);
    for o in wire.take_sent() {
        let d = Ipv4Packet::new(&o[14..]).unwrap().get_destination();
        assert_eq!(d, backend_addr("web-3"), "the only active backend left");
    }
    // A broken file is refused and the running configuration stays.
    std::fs::write(&conf, "lb_mac = ").unwrap();
    assert!(ask("reload").starts_with("error: "));
    assert!(ask("show").starts_with("ok generation 2"));
    let stats: serde_json::Value = serde_json::from_str(&ask("stats")).unwrap();
    assert!(stats["rx"]["packets"].as_u64().unwrap() <= 200);
    drop(client);
    lb.stop(&eal);
    assert!(!sock.exists(), "the socket is removed at stop");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_packet_path_allocates_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Only for packet memory: no workers, no queues.
    let (eal, _) = Eal::init(&["l4lb", "-l", "0", "--vdev", "net_ena_sim0,wire=none"]).unwrap();
    let pool = eal
        .pktmbuf_pool_create("t", 1023, 0, 0, MBUF_DEFAULT_BUF_SIZE)
        .unwrap();
    let plane = Arc::new(Plane {
        generation: 1,
        dp: sample_plane(),
    });
    let mut pipe = Pipeline::new(plane, false).unwrap();
    let mut slot = Stats::new();
    pipe.publish(&mut slot);
    let mut meta = [(0u32, 0u32); MAX_BURST];
    for round in 0..4u64 {
        let mut pkts: Vec<Option<Mbuf>> = (0..64)
            .map(|i| {
                let f = if i % 8 == 7 {
                    tcp_frame(i, VIP, 8080, 10)
                } else {
                    tcp_frame(i, VIP, 80, 10)
                };
                let mut m = pool.alloc().unwrap();
                m.append(f.len() as u16).unwrap().copy_from_slice(&f);
                Some(m)
            })
            .collect();
        let (k, allocs) = conntrack::tests::count_allocations(|| {
            let k = pipe.process(&mut pkts, &mut meta, round);
            pipe.count_sent(&meta[..k], k - 1);
            pipe.publish(&mut slot);
            k
        });
        assert_eq!(k, 56, "7 of 8 are for a VIP");
        assert_eq!(
            allocs, 0,
            "round {round}: parse, conntrack, Maglev, encapsulation, counters"
        );
    }
    assert_eq!(slot.conntrack.misses, 56);
    assert_eq!(slot.conntrack.hits, 3 * 56);
    assert_eq!(slot.policy.no_vip, 32);
    assert_eq!(slot.policy.tx_full, 4);
}

#[test]
fn the_command_line_users_type_works_and_counters_add_up() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // As `cargo run --example l4lb -- --duration 1 --json` passes it.
    let argv: Vec<String> = ["l4lb", "--duration", "1", "--json", "--quiet"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let no = || Arc::new(AtomicBool::new(false));
    let (v, opts) = run(&argv, no(), no()).expect("l4lb");
    assert!(opts.json);
    let n = |p: &serde_json::Value| p.as_u64().unwrap();
    let (rx, tx, dropped) = (
        n(&v["rx"]["packets"]),
        n(&v["tx"]["packets"]),
        n(&v["dropped"]),
    );
    assert!(rx > 1000, "{v}");
    assert_eq!(rx, tx + dropped, "{v}");
    let backend = |name: &str| {
        v["backends"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == name)
            .map(|b| n(&b["packets"]))
            .unwrap()
    };
    assert_eq!(backend("tcp/192.0.2.10:80/web-4"), 0, "draining");
    let sum: u64 = ["web-1", "web-2", "web-3"]
        .iter()
        .map(|w| backend(&format!("tcp/192.0.2.10:80/{w}")))
        .sum();
    assert_eq!(sum, tx);
    let bad = run(
        &[
            "l4lb".to_string(),
            "--config".into(),
            "/nonexistent.toml".into(),
        ],
        no(),
        no(),
    )
    .unwrap_err();
    assert!(bad.contains("/nonexistent.toml"), "{bad}");
}
