//! Every fault the device model can inject: the driver detects it, resets the device with the
//! Linux driver's reason code, traffic resumes, and no buffer is lost or handed out twice.

mod common;

use common::*;
use ena::hw::regs::ResetReason;
use ena::pmd::{PortConf, PortEvent, PortOptions, WatchdogConfig};
use ena::{Mbuf, RxQueue, TxQueue};
use ena_sim::config::DeviceConfig;
use ena_sim::events::Event;
use ena_sim::fault::Fault;
use ena_sim::frames;
use ena_sim::wire::Loopback;
use std::time::Duration;

fn opts() -> PortOptions {
    PortOptions {
        watchdog: WatchdogConfig {
            keep_alive_timeout: Some(Duration::from_secs(3)),
            missing_tx_timeout: Some(Duration::from_millis(500)),
            missing_tx_threshold: Some(8),
        },
        ..Default::default()
    }
}

struct Rig {
    b: Bench,
    rx: Vec<RxQueue>,
    tx: Vec<TxQueue>,
    cache: ena::MbufCache,
    next: u32,
}

fn rig() -> Rig {
    let mut b = manual(
        DeviceConfig::default(),
        Box::new(Loopback::new(4096, false)),
        opts(),
    );
    let (rx, tx) = b.start(1, 256, &PortConf::default());
    let cache = b.pool.cache(256);
    Rig {
        b,
        rx,
        tx,
        cache,
        next: 0,
    }
}

impl Rig {
    /// Sends `n` packets and receives what comes back; returns packets received.
    fn traffic(&mut self, n: u32) -> usize {
        // A burst first, as a running application would have done: it resynchronises the queue
        // after a reset and (re)posts its buffers.
        let mut burst: Vec<Option<Mbuf>> = (0..64).map(|_| None).collect();
        self.rx[0].rx_burst(&mut burst);
        let mut pkts: Vec<Option<Mbuf>> = (0..n)
            .map(|i| {
                Some(mbuf(
                    &mut self.cache,
                    &frames::ipv4(
                        false,
                        [10, 0, 0, 1],
                        [10, 0, 0, 2],
                        (self.next + i) as u16,
                        9,
                        32,
                    ),
                ))
            })
            .collect();
        self.next += n;
        let mut at = 0;
        for _ in 0..50 {
            at += self.tx[0].tx_burst(&mut pkts[at..]);
            self.b.step();
            if at == pkts.len() {
                break;
            }
        }
        let mut got = 0;
        for _ in 0..20 {
            self.b.step();
            let k = self.rx[0].rx_burst(&mut burst);
            got += k;
            for m in burst[..k].iter_mut() {
                m.take();
            }
        }
        got
    }

    /// Runs the control path (and time) until a reset event arrives.
    fn expect_reset(&mut self, reason: ResetReason, max: Duration) -> Duration {
        let mut waited = Duration::ZERO;
        loop {
            for e in self.b.port.poll_control() {
                match e {
                    PortEvent::Reset {
                        reason: r,
                        recovery,
                    } => {
                        assert_eq!(r, reason, "reset reason");
                        let seen: Vec<u8> = self
                            .b
                            .sim
                            .events
                            .find(|e| matches!(e, Event::ResetStarted { .. }))
                            .into_iter()
                            .map(|e| {
                                if let Event::ResetStarted { reason } = e {
                                    reason
                                } else {
                                    0
                                }
                            })
                            .collect();
                        assert_eq!(
                            seen.last().copied(),
                            Some(reason as u8),
                            "the device saw the reason code"
                        );
                        return recovery;
                    }
                    PortEvent::ResetFailed { error, .. } => panic!("reset failed: {error}"),
                    _ => {}
                }
            }
            assert!(
                waited < max,
                "no reset for {reason} within {max:?}; xstats {:?}",
                self.b
                    .port
                    .xstats()
                    .unwrap()
                    .into_iter()
                    .filter(|(_, v)| *v != 0)
                    .collect::<Vec<_>>()
            );
            self.b.sim.advance(Duration::from_millis(100));
            self.b.step();
            // Keep the data path turning, as an application does.
            self.tx[0].tx_done_cleanup();
            let mut burst: Vec<Option<Mbuf>> = (0..64).map(|_| None).collect();
            self.rx[0].rx_burst(&mut burst);
            waited += Duration::from_millis(100);
        }
    }

    /// Traffic flows again, then everything is returned and nothing leaked.
    fn finish(mut self) {
        let got = self.traffic(32);
        assert!(
            got >= 30,
            "traffic resumed after the reset: got {got}; device {:?}; events {:?}; xstats {:?}",
            self.b.sim.stats.snapshot().since_reset,
            self.b
                .sim
                .events
                .snapshot()
                .into_iter()
                .rev()
                .take(12)
                .collect::<Vec<_>>(),
            self.b
                .port
                .xstats()
                .unwrap()
                .into_iter()
                .filter(|(_, v)| *v != 0)
                .collect::<Vec<_>>()
        );
        self.b.port.stop().unwrap();
        let Rig {
            b, rx, tx, cache, ..
        } = self;
        drop((rx, tx, cache));
        let pool = b.pool.clone();
        b.port.close().unwrap();
        assert_eq!(pool.available(), pool.capacity(), "buffers leaked");
    }
}

#[test]
fn keep_alive_loss_resets_with_keep_alive_to() {
    let mut r = rig();
    assert_eq!(r.traffic(32), 32);
    r.b.sim.faults.inject(Fault::StopKeepAlive);
    r.expect_reset(ResetReason::KeepAliveTimeout, Duration::from_secs(10));
    r.b.sim.faults.inject(Fault::ResumeKeepAlive);
    r.finish();
}

#[test]
fn admin_timeout_resets_with_admin_to() {
    let mut r = rig();
    r.b.sim.faults.inject(Fault::AdminTimeout {
        opcode: None,
        count: 1,
    });
    assert!(matches!(
        r.b.port.stats(),
        Err(ena::Error::AdminTimeout { .. })
    ));
    r.expect_reset(ResetReason::AdminTimeout, Duration::from_secs(1));
    r.finish();
}

#[test]
fn admin_error_status_is_reported_without_reset() {
    let mut r = rig();
    r.b.sim.faults.inject(Fault::AdminError {
        opcode: None,
        status: 6,
        count: 1,
    });
    let e = r.b.port.stats().unwrap_err().to_string();
    assert!(e.contains("status 6 (unknown error)"), "{e}");
    assert!(r
        .b
        .port
        .poll_control()
        .iter()
        .all(|e| !matches!(e, PortEvent::Reset { .. })));
    assert!(r.b.port.stats().is_ok());
    r.finish();
}

#[test]
fn fatal_error_resets() {
    let mut r = rig();
    r.b.sim.faults.inject(Fault::FatalError);
    r.b.step();
    r.expect_reset(ResetReason::Generic, Duration::from_secs(1));
    r.finish();
}

#[test]
fn device_request_reset() {
    let mut r = rig();
    r.b.sim.faults.inject(Fault::DeviceRequestReset);
    r.b.step();
    r.expect_reset(ResetReason::DeviceRequest, Duration::from_secs(1));
    r.finish();
}

#[test]
fn missing_tx_completions_reset_with_miss_tx_cmpl() {
    for fault in [
        Fault::DropTxCompletions {
            queue: None,
            count: 64,
        },
        Fault::WrongTxPhase {
            queue: None,
            count: 1,
        },
    ] {
        let mut r = rig();
        r.b.sim.faults.inject(fault.clone());
        r.traffic(64);
        r.expect_reset(ResetReason::MissingTxCompletion, Duration::from_secs(5));
        r.finish();
    }
}

#[test]
fn bad_tx_completions_reset() {
    for (fault, reason) in [
        (
            Fault::BadTxReqId {
                queue: None,
                count: 1,
            },
            ResetReason::InvalidTxReqId,
        ),
        (
            Fault::StaleTxReqId {
                queue: None,
                count: 1,
            },
            ResetReason::InvalidTxReqId,
        ),
        (
            Fault::TxCdescMbz {
                queue: None,
                count: 1,
            },
            ResetReason::TxDescriptorMalformed,
        ),
    ] {
        let mut r = rig();
        r.traffic(8);
        r.b.sim.faults.inject(fault);
        r.traffic(8);
        r.expect_reset(reason, Duration::from_secs(1));
        r.finish();
    }
}

#[test]
fn bad_rx_completions_reset() {
    for (fault, reason) in [
        (
            Fault::BadRxReqId {
                queue: None,
                count: 1,
            },
            ResetReason::InvalidRxReqId,
        ),
        (
            Fault::BadRxLength {
                queue: None,
                count: 1,
            },
            ResetReason::RxDescriptorMalformed,
        ),
        (
            Fault::RxCdescMbz {
                queue: None,
                count: 1,
            },
            ResetReason::RxDescriptorMalformed,
        ),
        (
            Fault::RxMissingLast {
                queue: None,
                count: 1,
            },
            ResetReason::RxDescriptorMalformed,
        ),
    ] {
        let mut r = rig();
        r.b.sim.faults.inject(fault);
        r.traffic(8);
        r.expect_reset(reason, Duration::from_secs(1));
        r.finish();
    }
}

#[test]
fn link_flap_is_reported_and_needs_no_reset() {
    let mut r = rig();
    r.b.port.poll_control();
    assert!(r.b.port.link().up);
    r.b.sim.faults.inject(Fault::LinkFlap {
        down_for: Duration::from_millis(300),
    });
    r.b.step();
    let ev = r.b.port.poll_control();
    assert!(
        ev.contains(&PortEvent::LinkChange(ena::pmd::Link { up: false })),
        "{ev:?}"
    );
    r.b.sim.advance(Duration::from_millis(400));
    r.b.step();
    let ev = r.b.port.poll_control();
    assert!(
        ev.contains(&PortEvent::LinkChange(ena::pmd::Link { up: true })),
        "{ev:?}"
    );
    r.finish();
}

#[test]
fn delayed_tx_completions_within_the_timeout_are_fine() {
    let mut r = rig();
    r.b.sim.faults.inject(Fault::DelayTxCompletions {
        queue: None,
        delay: Duration::from_millis(200),
    });
    r.traffic(16);
    r.b.sim.advance(Duration::from_millis(300));
    r.b.step();
    r.b.sim.faults.inject(Fault::ResumeTxCompletions);
    r.b.step();
    r.tx[0].tx_done_cleanup();
    assert_eq!(r.tx[0].in_flight(), 0);
    assert!(r
        .b
        .port
        .poll_control()
        .iter()
        .all(|e| !matches!(e, PortEvent::Reset { .. })));
    r.finish();
}
