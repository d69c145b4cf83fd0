//! Device counters: what GET_STATS and KEEP_ALIVE report, plus what observers of the model need.
//!
//! The device counts in plain fields on its own thread and publishes a snapshot after each poll
//! that did work, so the data path never touches a shared cache line per packet.

use std::sync::{Arc, Mutex};

/// Device-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets put on the wire.
    pub tx_pkts: u64,
    /// Bytes put on the wire.
    pub tx_bytes: u64,
    /// Packets delivered into RX buffers.
    pub rx_pkts: u64,
    /// Bytes delivered into RX buffers.
    pub rx_bytes: u64,
    /// Received packets dropped by the device for reasons other than missing buffers (no RX
    /// queue, link down, larger than the MTU, needing more buffers than a packet may use).
    pub rx_drops: u64,
    /// Packets the device did not send (wire refused, over MTU, headers not pushed in LLQ,
    /// malformed descriptor chain, allowance exceeded).
    pub tx_drops: u64,
    /// Received packets dropped because the chosen RX queue had no buffer posted.
    pub rx_overruns: u64,
    /// EC2 allowance counters (GET_STATS ENI).
    pub bw_in_allowance_exceeded: u64,
    /// EC2 allowance counters (GET_STATS ENI).
    pub bw_out_allowance_exceeded: u64,
    /// EC2 allowance counters (GET_STATS ENI).
    pub pps_allowance_exceeded: u64,
    /// EC2 allowance counters (GET_STATS ENI).
    pub conntrack_allowance_exceeded: u64,
    /// EC2 allowance counters (GET_STATS ENI).
    pub linklocal_allowance_exceeded: u64,
    /// Malformed TX descriptor chains seen.
    pub tx_malformed: u64,
    /// TX offload requests that did not match the packet.
    pub tx_offload_errors: u64,
    /// Admin commands completed.
    pub admin_commands: u64,
    /// AENQ events posted.
    pub aenq_events: u64,
    /// Resets performed.
    pub resets: u64,
    /// DMA misses (addresses outside registered memory).
    pub dma_misses: u64,
}

/// Per-queue counters (lifetime of the queue index).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounters {
    /// Packets.
    pub pkts: u64,
    /// Bytes.
    pub bytes: u64,
}

/// A published view of the counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Since the last device reset (what the driver is told).
    pub since_reset: Counters,
    /// Since the device was created.
    pub lifetime: Counters,
    /// Per TX SQ index, lifetime.
    pub tx_queues: Vec<QueueCounters>,
    /// Per RX SQ index, lifetime.
    pub rx_queues: Vec<QueueCounters>,
}

/// The shared, readable side of the counters.
#[derive(Clone, Default)]
pub struct StatsHandle {
    inner: Arc<Mutex<StatsSnapshot>>,
}

impl std::fmt::Debug for StatsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatsHandle")
    }
}

impl StatsHandle {
    /// The latest published counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Publishes new values without allocating (the vectors keep their capacity).
    pub(crate) fn publish(
        &self,
        since_reset: &Counters,
        lifetime: &Counters,
        tx: &[QueueCounters],
        rx: &[QueueCounters],
    ) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.since_reset = *since_reset;
        s.lifetime = *lifetime;
        s.tx_queues.clear();
        s.tx_queues.extend_from_slice(tx);
        s.rx_queues.clear();
        s.rx_queues.extend_from_slice(rx);
    }
}
