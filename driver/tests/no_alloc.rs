//! The data path allocates nothing: a counting global allocator watches rx_burst/tx_burst after
//! warm-up, with the device model stepped manually in the same thread.

mod common;

use common::*;
use ena::pmd::{PortConf, PortOptions};
use ena::Mbuf;
use ena_sim::config::DeviceConfig;
use ena_sim::frames;
use ena_sim::wire::Loopback;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn rx_and_tx_bursts_allocate_nothing() {
    for llq in [false, true] {
        let opts = PortOptions {
            llq_policy: if llq {
                ena::com::LlqPolicy::Recommended
            } else {
                ena::com::LlqPolicy::Disabled
            },
            ..Default::default()
        };
        let mut b = manual(
            DeviceConfig::default(),
            Box::new(Loopback::new(8192, false)),
            opts,
        );
        let (mut rx, mut tx) = b.start(1, 512, &PortConf::default());
        let mut cache = b.pool.cache(256);
        let frame = frames::ipv4(false, [10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 18);
        let mut burst: Vec<Option<Mbuf>> = (0..32).map(|_| None).collect();
        let mut out: Vec<Option<Mbuf>> = (0..32).map(|_| None).collect();
        let mut forwarded = 0u64;
        // The loop a forwarder runs: receive, send what arrived, keep the wire fed. The device
        // model is stepped in between (its allocations are not counted: it is not the driver).
        let mut round =
            |count: bool, burst: &mut Vec<Option<Mbuf>>, out: &mut Vec<Option<Mbuf>>| {
                for slot in out.iter_mut().take(8) {
                    if slot.is_none() {
                        let mut m = cache.alloc().unwrap();
                        m.append(frame.len() as u16)
                            .unwrap()
                            .copy_from_slice(&frame);
                        *slot = Some(m);
                    }
                }
                COUNTING.store(count, Ordering::Relaxed);
                let sent = tx[0].tx_burst(&mut out[..8]);
                let n = rx[0].rx_burst(burst);
                COUNTING.store(false, Ordering::Relaxed);
                for m in burst[..n].iter_mut() {
                    m.take();
                }
                forwarded += sent as u64;
                b.sim.run_until_idle();
            };
        for _ in 0..200 {
            round(false, &mut burst, &mut out);
        }
        ALLOCS.store(0, Ordering::Relaxed);
        for _ in 0..5000 {
            round(true, &mut burst, &mut out);
        }
        assert!(
            forwarded > 20_000,
            "llq={llq}: too little traffic ({forwarded})"
        );
        assert_eq!(
            ALLOCS.load(Ordering::Relaxed),
            0,
            "llq={llq}: the data path allocated"
        );
    }
}
