//! Every fault the device can inject is observable from the host side, exactly as injected.

mod common;

use common::frames;
use common::*;
use ena_hw::admin::*;
use ena_hw::aenq::{group, LinkChangeDesc};
use ena_hw::regs::{off, DevSts};
use ena_sim::config::DeviceConfig;
use ena_sim::events::Event;
use ena_sim::fault::Fault;
use ena_sim::transport::inproc::SimDevice;
use ena_sim::wire::Loopback;
use std::time::Duration;
use zerocopy::FromBytes;

fn up(groups: u32) -> (SimDevice, TestHost) {
    let (sim, mut h) = manual(
        DeviceConfig::default(),
        Box::new(Loopback::new(4096, false)),
    );
    h.bring_up(groups);
    (sim, h)
}

fn attr_cmd() -> Vec<u8> {
    let mut cmd = FeatureCmd::default();
    cmd.common.opcode = opcode::GET_FEATURE;
    cmd.feat_common.feature_id = feature::DEVICE_ATTRIBUTES;
    zerocopy::IntoBytes::as_bytes(&cmd).to_vec()
}

#[test]
fn admin_delay_completes_only_after_the_delay() {
    let (sim, mut h) = up(0);
    sim.faults.inject(Fault::AdminDelay {
        opcode: Some(opcode::GET_FEATURE),
        delay: Duration::from_millis(500),
        count: 1,
    });
    h.submit_raw(&attr_cmd());
    h.step();
    assert!(h.poll_acq().is_none(), "completed before the delay");
    sim.advance(Duration::from_millis(499));
    h.step();
    assert!(h.poll_acq().is_none());
    sim.advance(Duration::from_millis(2));
    h.step();
    assert_eq!(
        h.poll_acq()
            .expect("completion after the delay")
            .common
            .status,
        0
    );
    // Only one command was delayed.
    assert_eq!(h.admin(&attr_cmd()).common.status, 0);
}

#[test]
fn admin_error_returns_the_injected_status() {
    let (_sim, mut h) = up(0);
    _sim.faults.inject(Fault::AdminError {
        opcode: None,
        status: status::RESOURCE_BUSY,
        count: 2,
    });
    assert_eq!(h.admin(&attr_cmd()).common.status, status::RESOURCE_BUSY);
    assert_eq!(h.admin(&attr_cmd()).common.status, status::RESOURCE_BUSY);
    assert_eq!(h.admin(&attr_cmd()).common.status, 0);
}

#[test]
fn admin_timeout_never_completes_the_command() {
    let (sim, mut h) = up(0);
    sim.faults.inject(Fault::AdminTimeout {
        opcode: None,
        count: 1,
    });
    h.submit_raw(&attr_cmd());
    for _ in 0..10 {
        sim.advance(Duration::from_secs(1));
        h.step();
    }
    assert!(h.poll_acq().is_none());
    assert_eq!(
        sim.events
            .find(|e| matches!(e, Event::Admin { status: None, .. }))
            .len(),
        1
    );
    // The next command completes normally (in the slot after the lost one).
    assert_eq!(h.admin(&attr_cmd()).common.status, 0);
}

#[test]
fn keep_alive_stops_and_resumes() {
    let (sim, mut h) = up(1 << group::KEEP_ALIVE);
    let count = |h: &mut TestHost, secs: u32| {
        let mut n = 0;
        for _ in 0..secs {
            sim.advance(Duration::from_secs(1));
            h.step();
            n += h
                .poll_aenq()
                .iter()
                .filter(|e| e.common.group == group::KEEP_ALIVE)
                .count();
        }
        n
    };
    assert_eq!(count(&mut h, 3), 3);
    sim.faults.inject(Fault::StopKeepAlive);
    assert_eq!(count(&mut h, 5), 0);
    sim.faults.inject(Fault::ResumeKeepAlive);
    assert_eq!(count(&mut h, 2), 2);
}

#[test]
fn fatal_error_sets_dev_sts_posts_an_event_and_stops_until_reset() {
    let (sim, mut h) = up((1 << group::FATAL_ERROR) | (1 << group::KEEP_ALIVE));
    sim.faults.inject(Fault::FatalError);
    h.step();
    assert!(DevSts(h.read_reg(off::DEV_STS)).fatal_error());
    let ev = h.poll_aenq();
    assert!(ev.iter().any(|e| e.common.group == group::FATAL_ERROR));
    // Admin commands and keep-alives stop.
    h.submit_raw(&attr_cmd());
    for _ in 0..3 {
        sim.advance(Duration::from_secs(1));
        h.step();
    }
    assert!(h.poll_acq().is_none());
    assert!(h.poll_aenq().is_empty());
    // A reset clears it.
    h.reset(ena_hw::regs::ResetReason::KeepAliveTimeout as u8);
    assert!(!DevSts(h.read_reg(off::DEV_STS)).fatal_error());
    h.init_admin();
    assert_eq!(h.admin(&attr_cmd()).common.status, 0);
}

fn tx_setup() -> (SimDevice, TestHost, TxRing) {
    let (sim, mut h) = up(0);
    let tx = TxRing::create(&mut h, 64, None);
    (sim, h, tx)
}

fn send(h: &mut TestHost, tx: &mut TxRing, ids: std::ops::Range<u16>) {
    for i in ids {
        let f = frames::ipv4(false, [10, 0, 0, 1], [10, 0, 0, 2], i, 9, 20);
        tx.queue(h, i, &f, 1, TxOffload::default(), 0);
    }
    tx.ring(h);
    h.step();
}

#[test]
fn tx_completion_faults() {
    // Dropped completions: the packets go out, two completions are missing.
    let (sim, mut h, mut tx) = tx_setup();
    sim.faults.inject(Fault::DropTxCompletions {
        queue: None,
        count: 2,
    });
    send(&mut h, &mut tx, 0..5);
    assert_eq!(
        tx.completions(&mut h)
            .iter()
            .map(|c| c.req_id)
            .collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    assert_eq!(sim.stats.snapshot().since_reset.tx_pkts, 5);

    // Delayed completions appear once the delay has passed.
    let (sim, mut h, mut tx) = tx_setup();
    sim.faults.inject(Fault::DelayTxCompletions {
        queue: Some(tx.sq_idx),
        delay: Duration::from_millis(300),
    });
    send(&mut h, &mut tx, 0..3);
    assert!(tx.completions(&mut h).is_empty());
    sim.advance(Duration::from_millis(301));
    h.step();
    assert_eq!(tx.completions(&mut h).len(), 3);
    sim.faults.inject(Fault::ResumeTxCompletions);
    send(&mut h, &mut tx, 3..4);
    assert_eq!(tx.completions(&mut h).len(), 1);

    // Out-of-range req_id.
    let (sim, mut h, mut tx) = tx_setup();
    sim.faults.inject(Fault::BadTxReqId {
        queue: None,
        count: 1,
    });
    send(&mut h, &mut tx, 0..2);
    let c = tx.completions(&mut h);
    assert!(
        c[0].req_id >= 64,
        "req_id {} should be outside the ring",
        c[0].req_id
    );
    assert_eq!(c[1].req_id, 1);

    // Stale in-range req_id: the previous packet's id again.
    let (sim, mut h, mut tx) = tx_setup();
    send(&mut h, &mut tx, 0..1);
    sim.faults.inject(Fault::StaleTxReqId {
        queue: None,
        count: 1,
    });
    send(&mut h, &mut tx, 1..2);
    assert_eq!(
        tx.completions(&mut h)
            .iter()
            .map(|c| c.req_id)
            .collect::<Vec<_>>(),
        vec![0, 0]
    );

    // Wrong phase: the host never sees that completion (nor any after it in the ring).
    let (sim, mut h, mut tx) = tx_setup();
    sim.faults.inject(Fault::WrongTxPhase {
        queue: None,
        count: 1,
    });
    send(&mut h, &mut tx, 0..3);
    assert!(tx.completions(&mut h).is_empty());
    assert_eq!(sim.stats.snapshot().since_reset.tx_pkts, 3);

    // Must-be-zero bits.
    let (sim, mut h, mut tx) = tx_setup();
    sim.faults.inject(Fault::TxCdescMbz {
        queue: None,
        count: 1,
    });
    send(&mut h, &mut tx, 0..1);
    assert_ne!(tx.completions(&mut h)[0].mbz(), 0);
}

#[test]
fn rx_completion_faults() {
    let setup = || {
        let cap = Capture::default();
        let (sim, mut h) = manual(DeviceConfig::default(), Box::new(cap.clone()));
        h.bring_up(0);
        let mut rx = RxRing::create(&mut h, 64, 2048);
        rx.post(&mut h, 63);
        (sim, h, rx, cap)
    };
    let pkt = frames::ipv4(false, [10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 100);

    let (sim, mut h, mut rx, cap) = setup();
    sim.faults.inject(Fault::BadRxReqId {
        queue: None,
        count: 1,
    });
    cap.push(pkt.clone());
    h.step();
    let c: ena_hw::io::RxCdesc = h.mem.read_obj(rx.cq_base).unwrap();
    assert!(c.req_id >= 64);
    let _ = rx.receive(&mut h);

    let (sim, mut h, mut rx, cap) = setup();
    sim.faults.inject(Fault::BadRxLength {
        queue: None,
        count: 1,
    });
    cap.push(pkt.clone());
    h.step();
    let p = rx.receive(&mut h);
    assert_eq!(p[0].cdescs[0].length, u16::MAX);

    let (sim, mut h, mut rx, cap) = setup();
    sim.faults.inject(Fault::RxCdescMbz {
        queue: None,
        count: 1,
    });
    cap.push(pkt.clone());
    h.step();
    assert!(rx.receive(&mut h)[0].last().mbz17());

    let (sim, mut h, mut rx, cap) = setup();
    sim.faults.inject(Fault::RxMissingLast {
        queue: None,
        count: 1,
    });
    cap.push(pkt.clone());
    cap.push(pkt.clone());
    h.step();
    // Two single-buffer packets; the first lacks `last`, so the second `first` arrives mid-packet.
    let a: ena_hw::io::RxCdesc = h.mem.read_obj(rx.cq_base).unwrap();
    let b: ena_hw::io::RxCdesc = h.mem.read_obj(rx.cq_base + 16).unwrap();
    assert!(a.first() && !a.last());
    assert!(b.first() && b.last());
    let _ = &mut rx;
}

#[test]
fn link_down_up_and_flap_are_posted() {
    let (sim, mut h) = up(1 << group::LINK_CHANGE);
    let link = |h: &mut TestHost| -> Vec<bool> {
        h.poll_aenq()
            .iter()
            .filter(|e| e.common.group == group::LINK_CHANGE)
            .map(|e| {
                LinkChangeDesc::read_from_prefix(&e.payload)
                    .unwrap()
                    .0
                    .link_status()
            })
            .collect()
    };
    assert_eq!(link(&mut h), vec![true]);
    sim.faults.inject(Fault::LinkDown);
    h.step();
    assert_eq!(link(&mut h), vec![false]);
    assert!(!sim.view().link_up);
    sim.faults.inject(Fault::LinkUp);
    h.step();
    assert_eq!(link(&mut h), vec![true]);
    sim.faults.inject(Fault::LinkFlap {
        down_for: Duration::from_millis(200),
    });
    h.step();
    assert_eq!(link(&mut h), vec![false]);
    sim.advance(Duration::from_millis(201));
    h.step();
    assert_eq!(link(&mut h), vec![true]);
}

#[test]
fn link_down_stops_traffic_both_ways() {
    let cap = Capture::default();
    let (sim, mut h) = manual(DeviceConfig::default(), Box::new(cap.clone()));
    h.bring_up(0);
    let mut rx = RxRing::create(&mut h, 64, 2048);
    rx.post(&mut h, 63);
    sim.faults.inject(Fault::LinkDown);
    h.step();
    cap.push(frames::ipv4(false, [10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 20));
    h.step();
    assert!(
        rx.receive(&mut h).is_empty(),
        "nothing arrives over a down link"
    );
    sim.faults.inject(Fault::LinkUp);
    h.step();
    assert_eq!(
        rx.receive(&mut h).len(),
        1,
        "the frame waiting on the wire arrives after link-up"
    );
}

#[test]
fn device_request_reset_is_posted() {
    let (sim, mut h) = up(1 << group::DEVICE_REQUEST_RESET);
    sim.faults.inject(Fault::DeviceRequestReset);
    h.step();
    let ev = h.poll_aenq();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].common.group, group::DEVICE_REQUEST_RESET);
    // Not posted when the group is disabled.
    let (sim, mut h) = up(1 << group::KEEP_ALIVE);
    sim.faults.inject(Fault::DeviceRequestReset);
    h.step();
    assert!(h
        .poll_aenq()
        .iter()
        .all(|e| e.common.group != group::DEVICE_REQUEST_RESET));
}

#[test]
fn every_fault_is_logged_by_name() {
    let (sim, mut h) = up(0);
    let faults = [
        Fault::StopKeepAlive,
        Fault::ResumeKeepAlive,
        Fault::LinkDown,
        Fault::LinkUp,
        Fault::DeviceRequestReset,
        Fault::BadTxReqId {
            queue: None,
            count: 0,
        },
    ];
    for f in &faults {
        sim.faults.inject(f.clone());
    }
    h.step();
    let names: Vec<_> = sim
        .events
        .find(|e| matches!(e, Event::FaultInjected { .. }))
        .into_iter()
        .map(|e| {
            if let Event::FaultInjected { name } = e {
                name
            } else {
                ""
            }
        })
        .collect();
    assert_eq!(names, faults.iter().map(|f| f.name()).collect::<Vec<_>>());
}
