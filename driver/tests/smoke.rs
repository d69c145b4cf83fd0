mod common;
use common::*;
use ena::pmd::{PortConf, PortOptions};
use ena_sim::config::DeviceConfig;
use ena_sim::wire::Loopback;

#[test]
fn smoke_threaded_loopback() {
    let mut b = threaded(
        DeviceConfig::default(),
        Box::new(Loopback::new(4096, true)),
        PortOptions::default(),
    );
    let (mut rx, mut tx) = b.start(1, 512, &PortConf::default());
    let mut cache = b.pool.cache(256);
    let frame: Vec<u8> = (0..100u8).collect();
    let pkts = (0..1000).map(|_| mbuf(&mut cache, &frame)).collect();
    send_all(&b, &mut tx[0], pkts);
    let got = recv(&b, &mut rx[0], 1000);
    assert_eq!(got.len(), 1000);
    assert!(got.iter().all(|m| bytes(m) == frame));
}
