//! Bring-up and teardown, many times: no buffer leaked, no state left behind in the device.

mod common;

use common::*;
use ena::pmd::{PortConf, PortOptions};
use ena::Port;
use ena_sim::config::DeviceConfig;
use ena_sim::events::Event;
use ena_sim::frames;
use ena_sim::wire::Loopback;

#[test]
fn bring_up_and_teardown_100_times() {
    let b = threaded(
        DeviceConfig::default(),
        Box::new(Loopback::new(4096, false)),
        PortOptions::default(),
    );
    let Bench {
        sim,
        platform,
        port,
        pool,
        runner,
        ..
    } = b;
    drop(port);
    for round in 0..100u32 {
        let mut port = Port::open(platform.clone(), PortOptions::default()).expect("open");
        let q = 1 + (round % 4) as u16;
        // Without RSS every packet arrives on RX queue 0, the one this test polls.
        let conf = PortConf::default();
        port.configure(q, q, &conf).unwrap();
        for i in 0..q {
            port.rx_queue_setup(i, 256, &pool).unwrap();
            port.tx_queue_setup(i, 256, &pool).unwrap();
        }
        port.start().unwrap();
        let mut rx = port.take_rx_queue(0).unwrap();
        let mut tx = port.take_tx_queue(0).unwrap();
        let mut cache = pool.cache(64);
        // A little traffic each round, some of it left in flight on purpose.
        let pkts = (0..20)
            .map(|i| {
                mbuf(
                    &mut cache,
                    &frames::ipv4(false, [10, 0, 0, 1], [10, 0, 0, 2], i, 9, 40),
                )
            })
            .collect();
        let bench = Bench {
            sim: sim.clone(),
            platform: platform.clone(),
            port,
            pool: pool.clone(),
            runner: None,
            manual: false,
        };
        send_all(&bench, &mut tx, pkts);
        let got = recv(&bench, &mut rx, 5);
        assert!(got.len() >= 5, "round {round}");
        drop(got);
        let Bench { mut port, .. } = bench;
        if round % 2 == 0 {
            port.stop().unwrap();
            drop((rx, tx, cache));
            port.close().unwrap();
        } else {
            // Closing with queues still held: they stop for good and return buffers on drop.
            port.close().unwrap();
            drop((rx, tx, cache));
        }
        assert_eq!(
            pool.available(),
            pool.capacity(),
            "round {round}: buffers leaked"
        );
        let v = sim.view();
        assert!(
            v.rx_queues.is_empty() && v.tx_queues.is_empty() && v.cqs.is_empty(),
            "round {round}: queues left in the device"
        );
    }
    let resets = sim
        .events
        .find(|e| matches!(e, Event::ResetStarted { .. }))
        .len();
    assert!(
        resets >= 200,
        "every open and close resets the device ({resets})"
    );
    assert_eq!(sim.stats.snapshot().lifetime.dma_misses, 0);
    // The model's allocator holds no more DMA blocks than one port needs at a time.
    assert!(
        sim.dma.allocations() < 64,
        "DMA blocks leaked: {}",
        sim.dma.allocations()
    );
    drop(runner);
}

#[test]
fn bad_user_input_gets_clear_errors() {
    let mut b = manual(
        DeviceConfig::default(),
        Box::new(Loopback::default()),
        PortOptions::default(),
    );
    let e = |r: ena::Result<()>| r.unwrap_err().to_string();
    assert!(e(b.port.configure(9, 1, &PortConf::default()))
        .contains("9 RX / 1 TX queues requested; the device has 8 / 8"));
    assert!(e(b.port.configure(0, 1, &PortConf::default()))
        .contains("at least one RX and one TX queue"));
    assert!(e(b.port.rx_queue_setup(0, 256, &b.pool.clone())).contains("not configured"));
    b.port.configure(1, 1, &PortConf::default()).unwrap();
    assert!(e(b.port.rx_queue_setup(0, 300, &b.pool.clone()))
        .contains("ring size 300 must be a power of two in 128..="));
    assert!(e(b.port.rx_queue_setup(0, 64, &b.pool.clone())).contains("ring size 64"));
    assert!(e(b.port.tx_queue_setup(3, 256, &b.pool.clone()))
        .contains("queue 3 is beyond the 1 configured"));
    assert!(e(b.port.start()).contains("some queue is not set up"));
    let mtu = PortConf {
        mtu: Some(10_000),
        ..Default::default()
    };
    assert!(e(b.port.configure(1, 1, &mtu)).contains("MTU 10000 is outside 68..=9216"));
    assert!(b
        .port
        .take_rx_queue(0)
        .unwrap_err()
        .to_string()
        .contains("RX queue 0 is not set up"));
}
