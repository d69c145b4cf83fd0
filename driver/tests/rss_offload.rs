//! RSS steering and checksum offloads through the driver and the device model.

mod common;

use common::*;
use ena::mem::pool::ol;
use ena::pmd::{rx_offload, tx_offload, PortConf, PortOptions, RssConf, DEFAULT_RSS_KEY};
use ena::Mbuf;
use ena_sim::config::DeviceConfig;
use ena_sim::frames::{self, checksums_valid};
use ena_sim::rss::toeplitz;
use ena_sim::wire::Capture;

/// Microsoft's IPv4 RSS verification flows (the driver's default key is Microsoft's key).
type Flow = ([u8; 4], u16, [u8; 4], u16, u32);

fn ms_flows() -> Vec<Flow> {
    ena_sim::rss::vectors::MICROSOFT_IPV4
        .iter()
        .map(|v| (v.src, v.sport, v.dst, v.dport, v.l4_hash))
        .collect()
}

fn tuple(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&src);
    v.extend_from_slice(&dst);
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v
}

/// Pushes the flows and returns, per flow, (queue it arrived on, reported hash).
fn observe(b: &Bench, cap: &Capture, rx: &mut [ena::RxQueue], flows: &[Flow]) -> Vec<(u16, u32)> {
    let mut out = Vec::new();
    let mut burst: Vec<Option<Mbuf>> = (0..8).map(|_| None).collect();
    for &(src, sport, dst, dport, _) in flows {
        cap.push(frames::ipv4(true, src, dst, sport, dport, 20));
        b.step();
        let mut seen = None;
        for r in rx.iter_mut() {
            let k = r.rx_burst(&mut burst);
            for m in burst[..k].iter_mut().filter_map(Option::take) {
                assert!(seen.is_none(), "one packet, one queue");
                assert!(m.ol_flags() & ol::RX_RSS_HASH != 0);
                seen = Some((m.queue(), m.rss_hash()));
            }
        }
        out.push(seen.expect("packet received"));
    }
    out
}

#[test]
fn rss_hash_and_queue_follow_toeplitz_reta_and_key() {
    let cap = Capture::default();
    let mut b = manual(
        DeviceConfig::default(),
        Box::new(cap.clone()),
        PortOptions::default(),
    );
    let conf = PortConf {
        rss: Some(RssConf::default()),
        rx_offloads: rx_offload::RSS_HASH,
        ..Default::default()
    };
    let (mut rx, _tx) = b.start(4, 256, &conf);
    // Default key = Microsoft's: the published hashes come out; queue = RETA[hash % 128].
    let reta: Vec<u16> = b.port.rss_reta_query().to_vec();
    assert_eq!(reta, (0..128).map(|i| i % 4).collect::<Vec<u16>>());
    for ((q, h), (.., want)) in observe(&b, &cap, &mut rx, &ms_flows())
        .into_iter()
        .zip(ms_flows())
    {
        assert_eq!(h, want);
        assert_eq!(q, reta[(want % 128) as usize]);
    }
    // A RETA update moves the flows as predicted.
    let update: Vec<(u16, u16)> = (0..128).map(|i| (i, 3 - (i % 4))).collect();
    b.port.rss_reta_update(&update).unwrap();
    let reta: Vec<u16> = b.port.rss_reta_query().to_vec();
    for ((q, _), (.., want)) in observe(&b, &cap, &mut rx, &ms_flows())
        .into_iter()
        .zip(ms_flows())
    {
        assert_eq!(q, reta[(want % 128) as usize]);
    }
    // A new key changes hashes exactly as standard Toeplitz of that key predicts.
    let key: [u8; 40] = std::array::from_fn(|i| (i as u8).wrapping_mul(29).wrapping_add(7));
    b.port.rss_hash_update(key).unwrap();
    assert_eq!(b.port.rss_hash_conf_get().unwrap(), key);
    for ((q, h), (src, sport, dst, dport, _)) in observe(&b, &cap, &mut rx, &ms_flows())
        .into_iter()
        .zip(ms_flows())
    {
        let want = toeplitz(&key, &tuple(src, sport, dst, dport));
        assert_eq!(h, want);
        assert_eq!(q, reta[(want % 128) as usize]);
    }
    assert_ne!(key, DEFAULT_RSS_KEY);
    // Bad RETA input gets a clear error.
    let e = b.port.rss_reta_update(&[(200, 0)]).unwrap_err().to_string();
    assert!(e.contains("RETA entry (200, 0) is out of range"), "{e}");
}

#[test]
fn tx_checksum_offload_and_tso_come_out_correct() {
    let cap = Capture::default();
    let mut b = manual(
        DeviceConfig::default(),
        Box::new(cap.clone()),
        PortOptions::default(),
    );
    let conf = PortConf {
        tx_offloads: tx_offload::IPV4_CKSUM
            | tx_offload::TCP_CKSUM
            | tx_offload::UDP_CKSUM
            | tx_offload::TCP_TSO,
        ..Default::default()
    };
    let (_rx, mut tx) = b.start(1, 256, &conf);
    let mut cache = b.pool.cache(64);
    let v6a: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
    let v6b: std::net::Ipv6Addr = "2001:db8::2".parse().unwrap();
    let cases: Vec<(Vec<u8>, u64, u8)> = vec![
        (
            frames::ipv4(false, [10, 0, 0, 1], [10, 0, 0, 2], 53, 53, 100),
            ol::TX_IPV4 | ol::TX_IP_CKSUM | ol::TX_UDP_CKSUM,
            8,
        ),
        (
            frames::ipv4(true, [10, 0, 0, 1], [10, 0, 0, 2], 80, 81, 500),
            ol::TX_IPV4 | ol::TX_IP_CKSUM | ol::TX_TCP_CKSUM,
            20,
        ),
        (
            frames::ipv6(false, v6a, v6b, 53, 53, 64),
            ol::TX_IPV6 | ol::TX_UDP_CKSUM,
            8,
        ),
        (
            frames::ipv6(true, v6a, v6b, 443, 1000, 200),
            ol::TX_IPV6 | ol::TX_TCP_CKSUM,
            20,
        ),
    ];
    let mut pkts = Vec::new();
    for (f, flags, l4) in &cases {
        let mut g = f.clone();
        let v4 = flags & ol::TX_IPV4 != 0;
        let l3 = if v4 { 20 } else { 40 };
        // Garbage where the checksums go: the device must compute them.
        if v4 {
            g[24..26].copy_from_slice(&[0xde, 0xad]);
        }
        let at = 14 + l3 + if *l4 == 20 { 16 } else { 6 };
        g[at..at + 2].copy_from_slice(&[0xbe, 0xef]);
        let mut m = mbuf(&mut cache, &g);
        m.set_ol_flags(*flags);
        m.set_l2_len(14);
        m.set_l3_len(l3 as u16);
        m.set_l4_len(*l4);
        pkts.push(m);
    }
    // TSO: 6000 bytes of TCP payload, MSS 1400 → 5 segments.
    let big = frames::ipv4(true, [10, 9, 9, 1], [10, 9, 9, 2], 5555, 80, 6000);
    let mut m = mbuf(&mut cache, &big[..1800]);
    for piece in big[1800..].chunks(1800) {
        m = m.chain(mbuf(&mut cache, piece));
    }
    m.set_ol_flags(ol::TX_IPV4 | ol::TX_IP_CKSUM | ol::TX_TCP_CKSUM | ol::TX_TCP_SEG);
    m.set_l2_len(14);
    m.set_l3_len(20);
    m.set_l4_len(20);
    m.set_tso_segsz(1400);
    pkts.push(m);
    send_all(&b, &mut tx[0], pkts);
    let sent = cap.take_sent();
    assert_eq!(sent.len(), 4 + 5);
    for (i, (s, (want, ..))) in sent.iter().zip(&cases).enumerate() {
        assert_eq!(s, want, "packet {i}: the device's checksums equal pnet's");
    }
    let mut payload = Vec::new();
    for s in &sent[4..] {
        assert!(checksums_valid(s));
        assert!(s.len() <= 14 + 20 + 20 + 1400);
        payload.extend_from_slice(&s[54..]);
    }
    assert_eq!(payload, big[54..]);
}

#[test]
fn rx_checksum_flags_good_bad_unknown() {
    let cap = Capture::default();
    let mut b = manual(
        DeviceConfig::default(),
        Box::new(cap.clone()),
        PortOptions::default(),
    );
    let conf = PortConf {
        rx_offloads: rx_offload::IPV4_CKSUM | rx_offload::TCP_CKSUM | rx_offload::UDP_CKSUM,
        ..Default::default()
    };
    let (mut rx, _tx) = b.start(1, 256, &conf);
    let good = frames::ipv4(false, [10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 50);
    let mut bad_ip = good.clone();
    bad_ip[24] ^= 1;
    let mut bad_l4 = good.clone();
    let n = bad_l4.len();
    bad_l4[n - 1] ^= 1;
    for f in [good, bad_ip, bad_l4, frames::non_ip(60)] {
        cap.push(f);
    }
    let got = recv(&b, &mut rx[0], 4);
    let flags: Vec<u64> = got.iter().map(|m| m.ol_flags()).collect();
    assert_eq!(flags[0] & ol::RX_IP_CKSUM_MASK, ol::RX_IP_CKSUM_GOOD);
    assert_eq!(flags[0] & ol::RX_L4_CKSUM_MASK, ol::RX_L4_CKSUM_GOOD);
    assert_eq!(flags[1] & ol::RX_IP_CKSUM_MASK, ol::RX_IP_CKSUM_BAD);
    assert_eq!(flags[2] & ol::RX_L4_CKSUM_MASK, ol::RX_L4_CKSUM_BAD);
    assert_eq!(
        flags[3] & (ol::RX_IP_CKSUM_MASK | ol::RX_L4_CKSUM_MASK),
        0,
        "non-IP: unknown"
    );
    let s = b.port.stats().unwrap();
    assert_eq!(s.ierrors, 2);
    let x = b.port.xstats().unwrap();
    let get = |k: &str| x.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    assert_eq!(get("rx_q0_l3_csum_bad"), Some(1));
    assert_eq!(get("rx_q0_l4_csum_bad"), Some(1));
}

#[test]
fn offloads_not_enabled_are_refused() {
    let cap = Capture::default();
    let mut b = manual(
        DeviceConfig::default(),
        Box::new(cap.clone()),
        PortOptions::default(),
    );
    let (_rx, mut tx) = b.start(1, 256, &PortConf::default());
    let mut cache = b.pool.cache(64);
    let mut m = mbuf(
        &mut cache,
        &frames::ipv4(false, [10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 50),
    );
    m.set_ol_flags(ol::TX_IPV4 | ol::TX_UDP_CKSUM);
    m.set_l2_len(14);
    m.set_l3_len(20);
    let mut pkts = vec![Some(m)];
    assert_eq!(
        tx[0].tx_prepare(&pkts),
        0,
        "UDP checksum offload was not enabled"
    );
    assert_eq!(
        tx[0].tx_burst(&mut pkts),
        1,
        "tx_burst consumes (drops) an invalid packet"
    );
    b.step();
    assert!(cap.take_sent().is_empty());
    let x = b.port.xstats().unwrap();
    assert!(x
        .iter()
        .any(|(n, v)| n == "tx_q0_prepare_ctx_err" && *v == 2));
    // Configuring an offload the device lacks is a clear error.
    let nc = DeviceConfig {
        tx_offloads: 0,
        ..DeviceConfig::default()
    };
    let mut b2 = manual(nc, Box::new(Capture::default()), PortOptions::default());
    let e = b2
        .port
        .configure(
            1,
            1,
            &PortConf {
                tx_offloads: tx_offload::TCP_TSO,
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("TX offloads 0x20 are not available"), "{e}");
}
