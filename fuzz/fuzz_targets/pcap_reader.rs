//! Fuzzes the pcap wire's capture reader (`ena_sim::wire::pcap`, classic pcap and pcapng):
//! whatever the file holds, opening it is a clean error or a replay of frames the port can
//! take (each at least an Ethernet header, at most `MAX_FRAME`), never a panic — including a
//! panic inside the third-party `pcap-file` parser, which the wire catches but which this
//! target reports (libfuzzer's panic hook aborts before the catch).
#![no_main]

use ena_sim::wire::pcap::{PcapOptions, PcapWire};
use ena_sim::wire::{Wire, MAX_FRAME};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

fn scratch() -> PathBuf {
    // One file per fuzzing process (the reader takes a path, as `wire=pcap:in=FILE` does).
    std::env::temp_dir().join(format!("ena-fuzz-pcap-{}.pcap", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let opts = PcapOptions {
        input: Some(path),
        output: None,
        passes: ena_sim::wire::pcap::Passes::Times(1),
        lossless: false,
    };
    let Ok(mut wire) = PcapWire::open(&opts) else {
        return;
    };
    let n = wire.input_frames();
    let mut buf = vec![0u8; MAX_FRAME];
    let mut got = 0;
    while let Some(len) = wire.receive(&mut buf) {
        assert!(
            (14..=MAX_FRAME).contains(&len),
            "replayed a {len}-byte frame"
        );
        got += 1;
        assert!(got <= n, "more frames replayed than the file holds");
    }
    assert_eq!(got, n, "every frame of one pass is replayed");
});
