//! Ports on in-process device models, for measurements that must be exact or repeatable.
//!
//! A [`ManualPair`] is two device models sharing one DMA space and one mbuf pool, stepped by the
//! caller (`SimDrive::Manual` on a manual clock): port 0's wire is a lossless generator (RX),
//! port 1's a sink (TX). Nothing runs behind the caller's back, so the device's work can be kept
//! outside a timed section (criterion) or outside an instruction count (callgrind), and two runs
//! execute exactly the same instructions. This is how the driver's own tests open ports
//! (`driver/tests/common/mod.rs`), with the generator/sink wires of `ena_sim::wire::spec`.

use ena::com::LlqPolicy;
use ena::mem::pool::DEFAULT_DATA_ROOM;
use ena::platform::sim::{SimDrive, SimPlatform};
use ena::platform::Platform;
use ena::pmd::{PortConf, PortOptions};
use ena::{Mbuf, Mempool, Port, RxQueue, TxQueue};
use ena_sim::clock::ManualClock;
use ena_sim::config::DeviceConfig;
use ena_sim::dma::InProcessDma;
use ena_sim::transport::inproc::{ClockChoice, SimDevice};
use ena_sim::wire::spec::{self, WireHandle, WireRequest};
use std::sync::Arc;

/// Where TX descriptors go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// Host-memory TX rings (the device fetches descriptors and packets by DMA).
    Host,
    /// Low-latency queue: descriptors and the packet header written into device memory (BAR2).
    Llq,
}

impl Placement {
    /// Both, host first.
    pub const ALL: [Placement; 2] = [Placement::Host, Placement::Llq];

    /// The driver's LLQ policy for this placement.
    pub fn policy(self) -> LlqPolicy {
        match self {
            Placement::Host => LlqPolicy::Disabled,
            Placement::Llq => LlqPolicy::Recommended,
        }
    }

    /// `host` / `llq`.
    pub fn name(self) -> &'static str {
        match self {
            Placement::Host => "host",
            Placement::Llq => "llq",
        }
    }
}

/// One stepped device and the port the driver opened on it.
pub struct ManualPort {
    /// The device model (step it with `run_until_idle`).
    pub sim: SimDevice,
    /// The driver's port.
    pub port: Port,
    /// The wire's counters.
    pub wire: WireHandle,
}

/// A generator port (0) and a sink port (1) on stepped device models, one mbuf pool.
pub struct ManualPair {
    /// Port 0: lossless generator into RX.
    pub rx_port: ManualPort,
    /// Port 1: counting sink for TX.
    pub tx_port: ManualPort,
    /// The pool both queues use.
    pub pool: Mempool,
    /// The receive queue of port 0.
    pub rx: RxQueue,
    /// The transmit queue of port 1.
    pub tx: TxQueue,
}

/// Options for [`ManualPair::open`].
#[derive(Clone, Debug)]
pub struct ManualOptions {
    /// Generated frame length without FCS (60 = a 64-byte frame on the wire).
    pub frame_len: usize,
    /// TX placement on the sink port.
    pub placement: Placement,
    /// Ring size of both queues.
    pub ring: u16,
    /// Buffers in the pool.
    pub mbufs: u32,
}

impl Default for ManualOptions {
    fn default() -> Self {
        Self {
            frame_len: 60,
            placement: Placement::Llq,
            ring: 1024,
            mbufs: 8192,
        }
    }
}

fn open_port(
    wire_spec: &str,
    index: u8,
    placement: Placement,
    dma: &Arc<InProcessDma>,
    clock: &ManualClock,
) -> Result<(ManualPort, Arc<SimPlatform>), String> {
    let mac = [0x02, 0, 0, 0, 1, index];
    let mut built = spec::build(&[WireRequest {
        name: format!("bench{index}"),
        spec: wire_spec.to_string(),
        mac,
    }])
    .map_err(|e| e.to_string())?;
    let (wire, handle) = built.pop().ok_or("no wire built")?;
    let cfg = DeviceConfig {
        mac,
        ..DeviceConfig::default()
    };
    let sim = SimDevice::with_dma(cfg, wire, ClockChoice::Manual(clock.clone()), dma.clone())
        .map_err(|e| format!("device model: {e}"))?;
    let platform = Arc::new(SimPlatform::new(
        sim.clone(),
        SimDrive::Manual,
        true,
        &format!("bench{index}"),
    ));
    let opts = PortOptions {
        port_id: index as u16,
        llq_policy: placement.policy(),
        ..PortOptions::default()
    };
    let port = Port::open(platform.clone(), opts).map_err(|e| format!("port open: {e}"))?;
    Ok((
        ManualPort {
            sim,
            port,
            wire: handle,
        },
        platform,
    ))
}

/// A pool of `n` default-size buffers in `platform`'s DMA memory.
pub fn pool_for(platform: &Arc<SimPlatform>, n: u32) -> Result<Mempool, String> {
    let p = platform.clone();
    Mempool::new("bench", n, DEFAULT_DATA_ROOM, &move |len, align| {
        p.alloc_dma(len, align)
    })
    .map_err(|e| format!("mempool: {e}"))
}

impl ManualPair {
    /// Opens, configures (one queue pair each) and starts both ports, and takes port 0's RX
    /// queue and port 1's TX queue.
    pub fn open(o: &ManualOptions) -> Result<ManualPair, String> {
        let dma = InProcessDma::new();
        let clock = ManualClock::new();
        let gen = format!("gen:size={}:flows=1024:lossless", o.frame_len);
        let (mut rx_port, platform) = open_port(&gen, 0, Placement::Host, &dma, &clock)?;
        let (mut tx_port, _) = open_port("sink", 1, o.placement, &dma, &clock)?;
        let pool = pool_for(&platform, o.mbufs)?;
        let conf = PortConf::default();
        for p in [&mut rx_port, &mut tx_port] {
            p.port.configure(1, 1, &conf).map_err(|e| e.to_string())?;
            p.port
                .rx_queue_setup(0, o.ring, &pool)
                .map_err(|e| e.to_string())?;
            p.port
                .tx_queue_setup(0, o.ring, &pool)
                .map_err(|e| e.to_string())?;
            p.port.start().map_err(|e| e.to_string())?;
        }
        let rx = rx_port.port.take_rx_queue(0).map_err(|e| e.to_string())?;
        let tx = tx_port.port.take_tx_queue(0).map_err(|e| e.to_string())?;
        let mut pair = ManualPair {
            rx_port,
            tx_port,
            pool,
            rx,
            tx,
        };
        // The first burst posts the RX buffers; the device then fills them.
        let mut none: [Option<Mbuf>; 0] = [];
        pair.rx.rx_burst(&mut none);
        pair.tx.tx_burst(&mut none);
        pair.step();
        Ok(pair)
    }

    /// Runs both device models until they have nothing left to do: completions for every
    /// posted RX buffer, every sent packet taken by the sink and completed.
    ///
    /// Not `run_until_idle`: with a lossless wire and a full RX ring the model holds the next
    /// frame and reports every poll that re-offers it (parse, RSS, checksum, no buffer) as work,
    /// so `run_until_idle` spins to its 100 000-poll bound each time. Here polling stops after
    /// two passes in a row that moved no frame (nothing generated, nothing sunk), or one that
    /// reports no work at all.
    pub fn step(&self) {
        let mut still = 0;
        loop {
            let before = (self.generated(), self.sunk());
            let busy = self.rx_port.sim.step() | self.tx_port.sim.step();
            if !busy {
                break;
            }
            if (self.generated(), self.sunk()) == before {
                still += 1;
                if still >= 2 {
                    break;
                }
            } else {
                still = 0;
            }
        }
    }

    /// Frames the sink has taken.
    pub fn sunk(&self) -> u64 {
        match &self.tx_port.wire {
            WireHandle::Generator(g) => g.sunk(),
            _ => 0,
        }
    }

    /// Frames the generator has produced.
    pub fn generated(&self) -> u64 {
        match &self.rx_port.wire {
            WireHandle::Generator(g) => g.generated(),
            _ => 0,
        }
    }
}

/// Stops the ports before the queues go, so the driver takes its buffers back (dropping a
/// queue of a running port abandons them, by design).
impl Drop for ManualPair {
    fn drop(&mut self) {
        let _ = self.rx_port.port.stop();
        let _ = self.tx_port.port.stop();
    }
}

/// Opens a single stepped port on `wire_spec` (for pool-only benchmarks that need DMA memory).
pub fn single_platform() -> Result<(SimDevice, Arc<SimPlatform>), String> {
    let dma = InProcessDma::new();
    let clock = ManualClock::new();
    let (p, platform) = open_port("sink", 0, Placement::Host, &dma, &clock)?;
    Ok((p.sim, platform))
}
