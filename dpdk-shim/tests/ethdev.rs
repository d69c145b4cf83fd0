//! The ethdev, mempool and EAL surface of the shim on simulated ports: what `dev_info`
//! reports, configuration checks, RSS (RETA and key) with hashes against Microsoft's published
//! vectors, events (link change, reset) through callbacks, statistics and their reset, the
//! port life cycle, and clear errors for bad input.

use dpdk_shim::prelude::*;
use dpdk_shim::vdev::WireHandle;
use ena::hw::regs::ResetReason;
use ena_sim::fault::Fault;
use ena_sim::frames;
use ena_sim::rss::vectors::{MICROSOFT_IPV4, MICROSOFT_KEY};
use ena_sim::wire::Capture;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn eal(vdevs: &[&str]) -> Eal {
    let mut argv = vec!["app".to_string(), "-l".into(), "0".into()];
    for v in vdevs {
        argv.push(format!("--vdev={v}"));
    }
    Eal::init(&argv).expect("EAL").0
}

fn capture(eal: &Eal, port: u16) -> Capture {
    match eal.sim_port(port).unwrap().wire {
        WireHandle::Capture(c) => c,
        other => panic!("{other:?}"),
    }
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Receives exactly one packet from any of `rx`: (queue, mbuf).
fn receive_one(rx: &mut [RxQueue]) -> (u16, Mbuf) {
    let mut burst: [Option<Mbuf>; 4] = Default::default();
    let mut got = None;
    wait_for("a packet", || {
        for r in rx.iter_mut() {
            let n = r.rx_burst(&mut burst);
            if n > 0 {
                assert_eq!(n, 1);
                got = Some((r.queue_id(), burst[0].take().unwrap()));
                return true;
            }
        }
        false
    });
    got.unwrap()
}

#[test]
fn dev_info_mac_and_configuration_checks() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let eal = eal(&[
        "net_ena_sim0,wire=loopback,queues=4,mac=02:12:34:56:78:9a",
        "net_ena_sim1,wire=none,llq=0",
    ]);
    assert_eq!(eal.port_count(), 2);
    assert_eq!(
        eal.ports().map(|p| p.port_id()).collect::<Vec<_>>(),
        vec![0, 1]
    );
    let p0 = eal.port(0).unwrap();
    let info = p0.dev_info();
    assert_eq!((info.max_rx_queues, info.max_tx_queues), (4, 4));
    assert_eq!(info.hash_key_size, 40);
    assert_eq!(info.reta_size, 128);
    assert!(info.max_rx_desc >= 1024 && info.min_desc <= 128);
    assert_ne!(info.rx_offload_capa & rx_offload::RSS_HASH, 0);
    assert_ne!(info.tx_offload_capa & tx_offload::IPV4_CKSUM, 0);
    assert!(info.llq.is_some());
    assert_eq!(p0.macaddr_get(), [0x02, 0x12, 0x34, 0x56, 0x78, 0x9a]);
    assert_eq!(p0.name(), "net_ena_sim0");
    assert!(
        eal.port(1).unwrap().dev_info().llq.is_none(),
        "llq=0: host TX rings"
    );
    assert!(
        !eal.port(1).unwrap().link_get().unwrap().up,
        "wire=none: link down"
    );
    assert_eq!(
        eal.port(7).unwrap_err().to_string(),
        "port 7 does not exist"
    );

    // Bad configurations are refused with the reason.
    let rss = |key: Option<Vec<u8>>, hf: u64| EthConf {
        rxmode: RxMode {
            mq_mode: MqMode::Rss,
            ..Default::default()
        },
        rss_conf: RssConf {
            rss_key: key,
            rss_hf: hf,
        },
        ..Default::default()
    };
    let err = |r: dpdk_shim::Result<()>| r.unwrap_err().to_string();
    assert!(
        err(p0.configure(4, 4, &rss(Some(vec![1; 10]), rss_hf::ALL)))
            .contains("RSS key is 10 bytes; ENA takes 40")
    );
    assert!(err(p0.configure(4, 4, &rss(None, 1 << 40)))
        .contains("RSS hash types 0x10000000000 are not offered"));
    let weird_rx = EthConf {
        rxmode: RxMode {
            offloads: 1 << 30,
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(err(p0.configure(1, 1, &weird_rx)).contains("RX offloads 0x40000000 are not offered"));
    assert!(err(p0.configure(5, 5, &EthConf::default())).contains("5"));
    p0.configure(1, 1, &EthConf::default()).unwrap();
    assert!(err(p0.tx_queue_setup(0, 512)).contains("no mbuf pool exists yet"));

    // Pools: DPDK's constraints, clear errors.
    let perr = |r: dpdk_shim::Result<PktmbufPool>| r.unwrap_err().to_string();
    assert!(
        perr(eal.pktmbuf_pool_create("a", 1024, 32, 8, MBUF_DEFAULT_BUF_SIZE))
            .contains("priv_size 8 is not supported")
    );
    assert!(
        perr(eal.pktmbuf_pool_create("a", 1024, 1000, 0, MBUF_DEFAULT_BUF_SIZE))
            .contains("cache size 1000")
    );
    assert!(perr(eal.pktmbuf_pool_create("a", 1024, 32, 0, 64))
        .contains("smaller than the 128-byte headroom"));
    let pool = eal
        .pktmbuf_pool_create("a", 1024, 32, 0, MBUF_DEFAULT_BUF_SIZE)
        .unwrap();
    assert!(
        perr(eal.pktmbuf_pool_create("a", 1024, 32, 0, MBUF_DEFAULT_BUF_SIZE)).contains("exists")
    );
    assert_eq!((pool.capacity(), pool.cache_size()), (1024, 32));
    let mut bulk: [Option<Mbuf>; 8] = Default::default();
    assert!(pool.alloc_bulk(&mut bulk));
    assert!(bulk.iter().all(Option::is_some));
    pktmbuf_free_bulk(&mut bulk);
    let mut too_many: Vec<Option<Mbuf>> = (0..2000).map(|_| None).collect();
    assert!(!pool.alloc_bulk(&mut too_many), "all or nothing");
    assert!(too_many.iter().all(Option::is_none));
    assert_eq!(pool.in_use(), 0);
    p0.tx_queue_setup(0, 512).unwrap();
}

#[test]
fn rss_hashes_reta_and_key_follow_the_published_vectors() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let eal = eal(&["net_ena_sim0,wire=capture,queues=4"]);
    let port = eal.port(0).unwrap();
    let cap = capture(&eal, 0);
    let pool = eal
        .pktmbuf_pool_create("p", 4095, 64, 0, MBUF_DEFAULT_BUF_SIZE)
        .unwrap();
    let conf = EthConf {
        rxmode: RxMode {
            mq_mode: MqMode::Rss,
            offloads: rx_offload::RSS_HASH,
            ..Default::default()
        },
        rss_conf: RssConf {
            rss_key: Some(MICROSOFT_KEY.to_vec()),
            rss_hf: rss_hf::NONFRAG_IPV4_TCP,
        },
        ..Default::default()
    };
    port.configure(4, 4, &conf).unwrap();
    for q in 0..4 {
        port.rx_queue_setup(q, 256, &pool).unwrap();
        port.tx_queue_setup(q, 256).unwrap();
    }
    port.start().unwrap();
    let mut rx: Vec<RxQueue> = (0..4).map(|q| port.take_rx_queue(q).unwrap()).collect();
    assert!(port
        .take_rx_queue(0)
        .unwrap_err()
        .to_string()
        .contains("already taken"));
    let reta = port.rss_reta_query().unwrap();
    assert_eq!(reta.len(), 128);

    let send_all = |rx: &mut [RxQueue], reta: &[u16]| {
        for v in &MICROSOFT_IPV4 {
            cap.push(frames::ipv4(true, v.src, v.dst, v.sport, v.dport, 20));
            let (q, m) = receive_one(rx);
            assert_ne!(m.ol_flags() & ol::RX_RSS_HASH, 0);
            assert_eq!(m.hash_rss(), v.l4_hash, "Microsoft's published hash");
            assert_eq!(
                q,
                reta[(v.l4_hash % 128) as usize],
                "queue = RETA[hash % 128]"
            );
            assert_eq!(m.port(), 0);
        }
    };
    send_all(&mut rx, &reta);
    // Every entry to queue 2.
    let update: Vec<(u16, u16)> = (0..128).map(|i| (i, 2)).collect();
    port.rss_reta_update(&update).unwrap();
    assert_eq!(port.rss_reta_query().unwrap(), vec![2; 128]);
    send_all(&mut rx, &[2; 128]);
    assert!(
        port.rss_reta_update(&[(0, 9)]).is_err(),
        "queue 9 does not exist"
    );

    let got = port.rss_hash_conf_get().unwrap();
    assert_eq!(got.rss_key.as_deref(), Some(&MICROSOFT_KEY[..]));
    assert_eq!(got.rss_hf, rss_hf::NONFRAG_IPV4_TCP);
    let key: Vec<u8> = (0..40).map(|i| i as u8 * 3 + 1).collect();
    port.rss_hash_update(&RssConf {
        rss_key: Some(key.clone()),
        rss_hf: rss_hf::NONFRAG_IPV4_TCP,
    })
    .unwrap();
    assert_eq!(port.rss_hash_conf_get().unwrap().rss_key, Some(key));
    let e = port
        .rss_hash_update(&RssConf {
            rss_key: Some(vec![0; 52]),
            rss_hf: 0,
        })
        .unwrap_err();
    assert!(e.to_string().contains("RSS key is 52 bytes"));
}

#[test]
fn link_and_reset_events_reach_the_callbacks_and_traffic_survives_a_reset() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Lossless: a frame sent right after the reset waits for the RX queue to re-post its
    // buffers (at its next burst) instead of being dropped.
    let eal = eal(&["net_ena_sim0,wire=loopback:lossless"]);
    let port = eal.port(0).unwrap();
    let sim = eal.sim_port(0).unwrap();
    let seen: Arc<Mutex<Vec<(u16, EthEvent)>>> = Arc::default();
    for ty in [
        EthEventType::IntrLsc,
        EthEventType::IntrReset,
        EthEventType::RecoverySuccess,
    ] {
        let s = seen.clone();
        port.callback_register(ty, move |p, ev| s.lock().unwrap().push((p, ev.clone())));
    }
    let pool = eal
        .pktmbuf_pool_create("p", 2047, 32, 0, MBUF_DEFAULT_BUF_SIZE)
        .unwrap();
    port.configure(1, 1, &EthConf::default()).unwrap();
    port.rx_queue_setup(0, 256, &pool).unwrap();
    port.tx_queue_setup(0, 256).unwrap();
    port.start().unwrap();
    let (mut rx, mut tx) = (
        port.take_rx_queue(0).unwrap(),
        port.take_tx_queue(0).unwrap(),
    );
    assert!(port.link_get().unwrap().up);

    sim.device.faults.inject(Fault::LinkDown);
    wait_for("link down event", || {
        seen.lock()
            .unwrap()
            .contains(&(0, EthEvent::IntrLsc(Link { up: false })))
    });
    assert!(!port.link_get().unwrap().up);
    sim.device.faults.inject(Fault::LinkUp);
    wait_for("link up event", || {
        seen.lock()
            .unwrap()
            .contains(&(0, EthEvent::IntrLsc(Link { up: true })))
    });

    let ping = |tx: &mut TxQueue, rx: &mut RxQueue, sport: u16| {
        let f = frames::ipv4(false, [10, 0, 0, 1], [10, 0, 0, 2], sport, 7, 32);
        let mut m = pool.alloc().unwrap();
        m.append(f.len() as u16).unwrap().copy_from_slice(&f);
        let mut b = [Some(m)];
        assert_eq!(tx.tx_burst(&mut b), 1);
        let (_, back) = receive_one(std::slice::from_mut(rx));
        assert_eq!(back.mtod(), &f[..]);
    };
    ping(&mut tx, &mut rx, 1);
    port.dev_reset().unwrap();
    {
        let ev = seen.lock().unwrap();
        let resets: Vec<&EthEvent> = ev
            .iter()
            .map(|(_, e)| e)
            .filter(|e| !matches!(e, EthEvent::IntrLsc(_)))
            .collect();
        assert_eq!(resets[0], &EthEvent::IntrReset(ResetReason::UserTrigger));
        assert!(matches!(
            resets[1],
            EthEvent::RecoverySuccess {
                reason: ResetReason::UserTrigger,
                ..
            }
        ));
    }
    ping(&mut tx, &mut rx, 2);
    let x = port.xstats_get().unwrap();
    let total_resets = x.iter().find(|(n, _)| n == "total_resets").unwrap().1;
    assert_eq!(total_resets, 1);
    port.xstats_reset().unwrap();
    assert!(port
        .xstats_get()
        .unwrap()
        .iter()
        .all(|(n, v)| n != "total_resets" || *v == 0));
}

#[test]
fn stats_lifecycle_and_close() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let eal = eal(&["net_ena_sim0,wire=loopback"]);
    let port = eal.port(0).unwrap();
    let pool = eal
        .pktmbuf_pool_create("p", 2047, 32, 0, MBUF_DEFAULT_BUF_SIZE)
        .unwrap();
    port.configure(1, 1, &EthConf::default()).unwrap();
    port.rx_queue_setup(0, 256, &pool).unwrap();
    port.tx_queue_setup(0, 256).unwrap();
    port.start().unwrap();
    assert!(port.is_started());
    let (mut rx, mut tx) = (
        port.take_rx_queue(0).unwrap(),
        port.take_tx_queue(0).unwrap(),
    );
    let mut cache = pool.lcore_cache();
    let f = frames::ipv4(true, [10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 100);
    let mut sent = 0;
    while sent < 100 {
        let mut b: Vec<Option<Mbuf>> = (0..10)
            .map(|_| {
                let mut m = cache.alloc().unwrap();
                m.append(f.len() as u16).unwrap().copy_from_slice(&f);
                Some(m)
            })
            .collect();
        sent += tx.tx_burst(&mut b);
    }
    let mut got = 0;
    let mut burst: [Option<Mbuf>; 32] = Default::default();
    wait_for("100 packets back", || {
        let n = rx.rx_burst(&mut burst);
        got += n;
        pktmbuf_free_bulk(&mut burst[..n]);
        got >= 100
    });
    let st = port.stats_get().unwrap();
    assert_eq!((st.ipackets, st.opackets), (100, 100));
    assert_eq!(st.ibytes, 100 * f.len() as u64);
    assert_eq!(st.q_ipackets, vec![100]);
    port.stats_reset().unwrap();
    let st = port.stats_get().unwrap();
    assert_eq!((st.ipackets, st.opackets, st.q_ipackets[0]), (0, 0, 0));

    port.mtu_set(9000).unwrap();
    assert!(port.mtu_set(65000).is_err());
    port.stop().unwrap();
    assert!(!port.is_started());
    port.start().unwrap();
    port.close().unwrap();
    for e in [
        port.start().unwrap_err(),
        port.stats_get().unwrap_err(),
        port.close().unwrap_err(),
    ] {
        assert_eq!(e.to_string(), "port is closed");
    }
    drop((rx, tx, cache));
    drop(eal);
}

#[test]
fn mixing_devices_and_bad_arguments_are_clear_errors() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let err = |a: &[&str]| Eal::init(a).unwrap_err().to_string();
    assert!(err(&[
        "app",
        "-l",
        "0",
        "-a",
        "0000:00:06.0",
        "--vdev",
        "net_ena_sim0"
    ])
    .contains("cannot share a process"));
    assert!(err(&[
        "app",
        "-l",
        "0",
        "-a",
        "0000:00:06.0",
        "--pci-sysfs",
        "/nonexistent"
    ])
    .contains("PCI device 0000:00:06.0 not found under /nonexistent"));
    assert!(
        err(&["app", "-l", "0", "--vdev", "net_ena_sim0,wire=pair:a"])
            .contains("joins exactly two ports")
    );
    // No device: an EAL without ports, and pools say why they cannot exist.
    let (eal, _) = Eal::init(&["app", "-l", "0"]).unwrap();
    assert_eq!(eal.port_count(), 0);
    let e = eal
        .pktmbuf_pool_create("p", 1024, 0, 0, MBUF_DEFAULT_BUF_SIZE)
        .unwrap_err();
    assert!(e.to_string().contains("give -a or --vdev"), "{e}");
}
