//! Traffic through the driver and the in-process device model: loopback and pair wiring, 1..8
//! queue pairs, rings wrapping many times, jumbo frames with scatter RX and multi-segment TX —
//! with host TX rings and with LLQ, on a threaded and on a manually stepped model.

mod common;

use common::*;
use ena::com::LlqPolicy;
use ena::pmd::{rx_offload, tx_offload, PortConf, PortOptions, RssConf};
use ena::Mbuf;
use ena_sim::config::DeviceConfig;
use ena_sim::frames;
use ena_sim::wire::{self, Loopback};
use std::collections::BTreeSet;

fn opts(llq: bool) -> PortOptions {
    PortOptions {
        llq_policy: if llq {
            LlqPolicy::Recommended
        } else {
            LlqPolicy::Disabled
        },
        ..Default::default()
    }
}

/// A UDP frame whose source port and payload carry `id`.
fn frame(id: u32, payload: usize) -> Vec<u8> {
    let mut f = frames::ipv4(
        false,
        [10, 0, (id >> 8) as u8, id as u8],
        [10, 1, 0, 1],
        1000 + (id % 50000) as u16,
        9,
        payload.max(4),
    );
    let at = f.len() - payload.max(4);
    f[at..at + 4].copy_from_slice(&id.to_be_bytes());
    f
}

fn id_of(bytes: &[u8], payload: usize) -> u32 {
    let at = bytes.len() - payload.max(4);
    u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn loopback_traffic(mut b: Bench, queues: u16, ring: u16, count: u32, payload: usize) {
    let conf = PortConf {
        rss: (queues > 1).then(RssConf::default),
        rx_offloads: rx_offload::RSS_HASH,
        ..Default::default()
    };
    let (mut rx, mut tx) = b.start(queues, ring, &conf);
    let mut cache = b.pool.cache(256);
    let mut expected = BTreeSet::new();
    let mut got = BTreeSet::new();
    let mut sent = 0u32;
    let mut burst: Vec<Option<Mbuf>> = (0..32).map(|_| None).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while got.len() < count as usize {
        assert!(
            std::time::Instant::now() < deadline,
            "stalled: {} of {count}; device {:?}; xstats {:?}",
            got.len(),
            b.sim.stats.snapshot().since_reset,
            b.port
                .xstats()
                .unwrap()
                .into_iter()
                .filter(|(_, v)| *v != 0)
                .collect::<Vec<_>>()
        );
        // Keep at most a ring's worth in flight end to end (a lossy loopback drops the rest).
        let in_flight = sent as usize - got.len();
        if sent < count && in_flight < ring as usize / 2 {
            let q = (sent % queues as u32) as usize;
            let mut pkts: Vec<Option<Mbuf>> = (0..16.min(count - sent))
                .map(|k| {
                    let id = sent + k;
                    expected.insert(id);
                    Some(mbuf(&mut cache, &frame(id, payload)))
                })
                .collect();
            let n = pkts.len() as u32;
            let mut at = 0;
            while at < pkts.len() {
                at += tx[q].tx_burst(&mut pkts[at..]);
                b.step();
            }
            sent += n;
        }
        b.step();
        for r in rx.iter_mut() {
            let k = r.rx_burst(&mut burst);
            for m in burst[..k].iter_mut().filter_map(Option::take) {
                let data = bytes(&m);
                let id = id_of(&data, payload);
                assert_eq!(data, frame(id, payload), "packet {id} corrupted");
                if queues > 1 {
                    assert!(m.ol_flags() & ena::mem::pool::ol::RX_RSS_HASH != 0);
                }
                assert!(got.insert(id), "packet {id} received twice");
            }
        }
    }
    assert_eq!(got, expected);
    assert_eq!(tx[0].uses_llq(), b.port.info().llq.is_some());
    // Let TX completions come back, then every buffer must be accounted for.
    for t in tx.iter_mut() {
        for _ in 0..100 {
            b.step();
            t.tx_done_cleanup();
            if t.in_flight() == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(t.in_flight(), 0);
    }
    let s = b.sim.stats.snapshot().since_reset;
    assert_eq!((s.tx_pkts, s.rx_pkts), (count as u64, count as u64));
    assert_eq!(s.dma_misses, 0);
    b.port.stop().unwrap();
    drop((rx, tx, cache));
    b.port.close().unwrap();
    assert_eq!(b.pool.available(), b.pool.capacity(), "buffers leaked");
}

#[test]
fn loopback_one_queue_host_and_llq_manual() {
    for llq in [false, true] {
        loopback_traffic(
            manual(
                DeviceConfig::default(),
                Box::new(Loopback::new(4096, false)),
                opts(llq),
            ),
            1,
            256,
            3000,
            64,
        );
    }
}

#[test]
fn loopback_rings_wrap_many_times_threaded() {
    for llq in [false, true] {
        // 128-entry rings, 20 000 packets: ~150 laps of every ring.
        loopback_traffic(
            threaded(
                DeviceConfig::default(),
                Box::new(Loopback::new(4096, false)),
                opts(llq),
            ),
            1,
            128,
            20_000,
            40,
        );
    }
}

#[test]
fn loopback_1_to_8_queue_pairs() {
    for q in [1u16, 2, 4, 8] {
        for llq in [false, true] {
            loopback_traffic(
                threaded(
                    DeviceConfig::default(),
                    Box::new(Loopback::new(4096, false)),
                    opts(llq),
                ),
                q,
                256,
                4000,
                100,
            );
        }
    }
}

#[test]
fn pair_wiring_two_ports() {
    let (a_end, b_end) = wire::pair(4096, false);
    let mut a = threaded(DeviceConfig::default(), Box::new(a_end), opts(true));
    let mut b = threaded(
        DeviceConfig {
            mac: [2, 0, 0, 0, 0, 2],
            ..DeviceConfig::default()
        },
        Box::new(b_end),
        opts(false),
    );
    let (_arx, mut atx) = a.start(1, 512, &PortConf::default());
    let (mut brx, _btx) = b.start(1, 512, &PortConf::default());
    let mut cache = a.pool.cache(256);
    let pkts: Vec<Mbuf> = (0..400).map(|i| mbuf(&mut cache, &frame(i, 300))).collect();
    send_all(&a, &mut atx[0], pkts);
    let got = recv(&b, &mut brx[0], 400);
    assert_eq!(got.len(), 400);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(bytes(m), frame(i as u32, 300));
        assert_eq!(m.port(), 0);
    }
    assert_eq!(a.port.mac(), DeviceConfig::default().mac);
    assert_eq!(b.port.mac(), [2, 0, 0, 0, 0, 2]);
}

#[test]
fn jumbo_mtu_scatter_rx_and_multi_segment_tx() {
    for llq in [false, true] {
        let mut b = threaded(
            DeviceConfig::default(),
            Box::new(Loopback::new(4096, true)),
            opts(llq),
        );
        let conf = PortConf {
            mtu: Some(9000),
            rx_offloads: rx_offload::SCATTER,
            tx_offloads: tx_offload::MULTI_SEGS,
            ..Default::default()
        };
        let (mut rx, mut tx) = b.start(1, 256, &conf);
        let mut cache = b.pool.cache(256);
        let mut sent = Vec::new();
        let mut pkts = Vec::new();
        for i in 0..50u32 {
            let f = frame(i, 9000 - 28);
            assert_eq!(f.len(), 9014);
            // A chain of six 1800-byte (or smaller) segments.
            let mut head: Option<Mbuf> = None;
            for piece in f.chunks(1800) {
                let seg = mbuf(&mut cache, piece);
                head = Some(match head {
                    None => seg,
                    Some(h) => h.chain(seg),
                });
            }
            let head = head.unwrap();
            assert_eq!(head.nb_segs(), 6);
            assert_eq!(head.pkt_len(), 9014);
            sent.push(f);
            pkts.push(head);
        }
        send_all(&b, &mut tx[0], pkts);
        let got = recv(&b, &mut rx[0], 50);
        assert_eq!(got.len(), 50, "llq={llq}");
        for (m, f) in got.iter().zip(&sent) {
            assert_eq!(m.pkt_len(), 9014);
            assert_eq!(m.nb_segs(), 5, "9014 bytes in 2048-byte buffers");
            assert_eq!(&bytes(m), f);
        }
        assert_eq!(b.sim.view().features.mtu, 9000);
    }
}

#[test]
fn mtu_changes_and_limits() {
    let mut b = threaded(
        DeviceConfig::default(),
        Box::new(Loopback::default()),
        opts(false),
    );
    let _q = b.start(1, 256, &PortConf::default());
    b.port.set_mtu(4000).unwrap();
    assert_eq!(b.sim.view().features.mtu, 4000);
    let e = b.port.set_mtu(20000).unwrap_err().to_string();
    assert!(e.contains("MTU 20000 is outside 68..=9216"), "{e}");
}
