//! The receive queue: `rx_burst` polls the completion ring, turns completions into mbufs, and
//! refills the submission ring in batches with one doorbell.
//!
//! ```text
//!  RX SQ (host, depth × 16 B)   driver writes {buffer, req_id, phase}; doorbell = tail
//!  RX CQ (host, depth × 16 B)   device writes {length, req_id, flags, hash, status+phase last}
//! ```
//!
//! Buffers are tracked by request id (a free-id stack), since the device may consume them out of
//! order. Every completion is checked: phase, must-be-zero bits, req_id in range and naming a
//! posted buffer, `first`/`last` sequencing, length within the buffer, buffers per packet. A bad
//! completion is counted, reported to the control path (which resets the device with the Linux
//! driver's reason code) and stops the queue until then — the buffers stay owned, never lost.

use super::offload::{rx_flags, RxOffloads};
use super::queue::{IdRing, LocalStats, QueueShared, CLOSED, RUNNING};
use crate::mem::pool::{Mbuf, MbufCache, RxMeta, HEADROOM};
use crate::mem::DmaRegion;
use crate::platform::Mmio;
use ena_hw::io::{RxCdesc, RxDesc};
use ena_hw::regs::ResetReason;
use std::sync::Arc;

/// Largest refill batch.
const REFILL_BATCH: usize = 64;

/// A receive queue, owned by one thread.
pub struct RxQueue {
    shared: Arc<QueueShared>,
    /// The state word the queue is synchronised with.
    epoch_word: u64,
    port_id: u16,
    queue_id: u16,
    depth: u16,
    mask: u16,
    sq: Arc<DmaRegion>,
    cq: Arc<DmaRegion>,
    bar0: Mmio,
    doorbell: u32,
    /// Descriptors written (free-running).
    sq_tail: u16,
    /// Completions consumed (free-running).
    cq_head: u32,
    /// Buffers posted to the device, by request id.
    bufs: Vec<Option<Mbuf>>,
    /// Request ids without a posted buffer.
    free_ids: IdRing,
    cache: MbufCache,
    /// Bytes the device may write into one buffer.
    buf_len: u16,
    max_bufs_per_pkt: u16,
    refill_threshold: u16,
    offloads: RxOffloads,
    check_mbz: bool,
    /// A multi-buffer packet being assembled: head, segment count.
    partial: Option<(Mbuf, u16)>,
    /// Completions consumed that began a packet (`first` set): every packet the device
    /// delivers has exactly one, so `firsts − delivered − in progress` is what was discarded.
    firsts: u64,
    faulted: bool,
    stats: LocalStats,
}

pub(crate) struct RxQueueParams {
    pub shared: Arc<QueueShared>,
    pub port_id: u16,
    pub queue_id: u16,
    pub bar0: Mmio,
    pub cache: MbufCache,
    pub max_bufs_per_pkt: u16,
    pub offloads: RxOffloads,
    pub check_mbz: bool,
}

impl RxQueue {
    pub(crate) fn new(p: RxQueueParams) -> Self {
        let depth = p.shared.depth;
        let sq = p.shared.sq.clone().unwrap_or_else(|| p.shared.cq.clone());
        let buf_len = p.cache.pool().data_room().saturating_sub(HEADROOM);
        Self {
            cq: p.shared.cq.clone(),
            sq,
            epoch_word: 0,
            port_id: p.port_id,
            queue_id: p.queue_id,
            depth,
            mask: depth - 1,
            bar0: p.bar0,
            doorbell: 0,
            sq_tail: 0,
            cq_head: 0,
            bufs: (0..depth).map(|_| None).collect(),
            free_ids: IdRing::full(depth),
            cache: p.cache,
            buf_len,
            max_bufs_per_pkt: p.max_bufs_per_pkt.max(1),
            // Refill when an eighth of the ring (at most 256 buffers) is free, as DPDK does.
            refill_threshold: (depth / 8).clamp(1, 256),
            offloads: p.offloads,
            check_mbz: p.check_mbz,
            partial: None,
            firsts: 0,
            faulted: false,
            stats: LocalStats::default(),
            shared: p.shared,
        }
    }

    /// The queue's index in its port.
    pub fn queue_id(&self) -> u16 {
        self.queue_id
    }

    /// Ring depth.
    pub fn ring_size(&self) -> u16 {
        self.depth
    }

    /// Buffers currently posted to the device.
    pub fn posted(&self) -> usize {
        self.depth as usize - self.free_ids.len()
    }

    /// Receives up to `pkts.len()` packets into the empty slots at the front of `pkts`
    /// (DPDK's `rte_eth_rx_burst`). Returns how many were received.
    #[inline]
    pub fn rx_burst(&mut self, pkts: &mut [Option<Mbuf>]) -> usize {
        let s = self.shared.enter();
        if s != self.epoch_word && !self.sync(s) {
            self.shared.leave();
            return 0;
        }
        let n = if self.faulted { 0 } else { self.receive(pkts) };
        if !self.faulted && self.free_ids.len() >= self.refill_threshold as usize {
            self.refill();
        }
        self.stats.bursts += 1;
        self.publish();
        self.shared.leave();
        n
    }

    /// Publishes the counters and the completion head (for the control path's count of
    /// packets left in the ring at a reset).
    #[inline]
    fn publish(&mut self) {
        self.stats.reset_drops = self
            .firsts
            .saturating_sub(self.stats.cnt)
            .saturating_sub(self.partial.is_some() as u64);
        self.stats.publish(&self.shared.stats);
        self.shared
            .stats
            .cq_head
            .store(self.cq_head, std::sync::atomic::Ordering::Relaxed);
    }

    fn receive(&mut self, pkts: &mut [Option<Mbuf>]) -> usize {
        let mut n = 0;
        while n < pkts.len() {
            let off = (self.cq_head & self.mask as u32) as usize * 16;
            let status = self.cq.load_u32_acquire(off);
            let phase = self.cq_head & self.depth as u32 == 0;
            if (status >> 24) & 1 != phase as u32 {
                break;
            }
            let mut c: RxCdesc = self.cq.read(off);
            // The status word was validated with acquire ordering; use that copy.
            c.status = status;
            self.cq_head = self.cq_head.wrapping_add(1);
            self.firsts += c.first() as u64;
            match self.take(c) {
                Ok(Some(m)) => {
                    pkts[n] = Some(m);
                    n += 1;
                }
                Ok(None) => {}
                Err(reason) => {
                    self.fault(reason);
                    break;
                }
            }
        }
        n
    }

    /// Consumes one completion; returns a finished packet when it was the last buffer.
    #[inline]
    fn take(&mut self, c: RxCdesc) -> Result<Option<Mbuf>, ResetReason> {
        if self.check_mbz && (c.mbz7() || c.mbz17()) {
            self.stats.bad_desc += 1;
            return Err(ResetReason::RxDescriptorMalformed);
        }
        let id = c.req_id;
        let Some(slot) = self.bufs.get_mut(id as usize) else {
            self.stats.bad_req_id += 1;
            return Err(ResetReason::InvalidRxReqId);
        };
        let Some(mut m) = slot.take() else {
            self.stats.bad_req_id += 1;
            return Err(ResetReason::InvalidRxReqId);
        };
        self.free_ids.push(id);
        if self.partial.is_none() && c.first() && c.last() {
            return self.take_one_buffer(c, m).map(Some);
        }
        let first = self.partial.is_none();
        if c.first() != first {
            self.stats.bad_desc += 1;
            // The buffer is ours again; give it back before faulting.
            self.cache.free(m);
            return Err(ResetReason::RxDescriptorMalformed);
        }
        let offset = if first { c.offset as u16 } else { 0 };
        if c.length as u32 + offset as u32 > self.buf_len as u32 || (first && c.length == 0) {
            self.stats.bad_desc += 1;
            self.cache.free(m);
            return Err(ResetReason::RxDescriptorMalformed);
        }
        if !(m.set_data_off(HEADROOM + offset) && m.set_data_len(c.length)) {
            self.stats.bad_desc += 1;
            self.cache.free(m);
            return Err(ResetReason::RxDescriptorMalformed);
        }
        m.set_pkt_len(c.length as u32);
        let (head, segs) = match self.partial.take() {
            None => (m, 1u16),
            Some((mut head, segs)) => {
                if segs >= self.max_bufs_per_pkt {
                    self.stats.bad_desc_num += 1;
                    self.cache.free(m);
                    self.cache.free(head);
                    return Err(ResetReason::TooManyRxDescs);
                }
                head = match head.try_chain(m) {
                    Ok(h) => h,
                    Err((h, m)) => {
                        self.stats.bad_desc_num += 1;
                        self.cache.free(m);
                        self.cache.free(h);
                        return Err(ResetReason::TooManyRxDescs);
                    }
                };
                (head, segs + 1)
            }
        };
        if !c.last() {
            if segs >= self.max_bufs_per_pkt {
                self.stats.bad_desc_num += 1;
                self.cache.free(head);
                return Err(ResetReason::TooManyRxDescs);
            }
            self.partial = Some((head, segs));
            return Ok(None);
        }
        let mut head = head;
        let (flags, csum_bad, ptype) = rx_flags(&c, self.offloads);
        head.set_ol_flags(flags);
        head.set_packet_type(ptype);
        if flags & crate::mem::pool::ol::RX_RSS_HASH != 0 {
            head.set_rss_hash(c.hash);
        }
        head.set_port(self.port_id);
        head.set_queue(self.queue_id);
        self.count_delivered(csum_bad, 0);
        self.stats.bytes += u64::from(head.pkt_len());
        Ok(Some(head))
    }

    /// [`Self::take`] for the common case: a whole packet in one buffer, nothing in progress.
    /// The same checks and results as the general path, with the mbuf filled in one go.
    #[inline(always)]
    fn take_one_buffer(&mut self, c: RxCdesc, mut m: Mbuf) -> Result<Mbuf, ResetReason> {
        let (flags, csum, ptype) = rx_flags(&c, self.offloads);
        let meta = RxMeta {
            ol_flags: flags,
            packet_type: ptype,
            rss_hash: if flags & crate::mem::pool::ol::RX_RSS_HASH != 0 {
                c.hash
            } else {
                0
            },
            port: self.port_id,
            queue: self.queue_id,
        };
        if c.length == 0 || !m.set_rx(HEADROOM + u16::from(c.offset), c.length, meta) {
            self.stats.bad_desc += 1;
            self.cache.free(m);
            return Err(ResetReason::RxDescriptorMalformed);
        }
        self.count_delivered(csum, c.length);
        Ok(m)
    }

    /// Counts a delivered packet and its checksum verdicts.
    #[inline(always)]
    fn count_delivered(&mut self, csum: (bool, bool, bool), len: u16) {
        self.stats.l3_csum_bad += csum.0 as u64;
        self.stats.l4_csum_bad += csum.1 as u64;
        self.stats.l4_csum_good += csum.2 as u64;
        if csum.0 || csum.1 {
            self.stats.errors += 1;
        }
        self.stats.cnt += 1;
        self.stats.bytes += u64::from(len);
    }

    fn fault(&mut self, reason: ResetReason) {
        tracing::error!(target: "ena", queue = self.queue_id, "RX completion invalid ({reason}); queue stopped until reset");
        self.faulted = true;
        self.shared.report(reason);
    }

    /// Posts fresh buffers for every free request id (in batches), with one doorbell.
    fn refill(&mut self) {
        // Usable capacity is depth − 1 (a full ring looks empty).
        let posted = self.depth as usize - self.free_ids.len();
        let mut room = (self.depth as usize - 1).saturating_sub(posted);
        let mut wrote = false;
        while room > 0 {
            let want = room.min(REFILL_BATCH);
            let mut batch: [Option<Mbuf>; REFILL_BATCH] = [const { None }; REFILL_BATCH];
            let mut got = want;
            while !self.cache.alloc_bulk(&mut batch[..got]) {
                got /= 2;
                if got == 0 {
                    break;
                }
            }
            if got < want {
                self.stats.mbuf_alloc_fail += 1;
                self.stats.refill_partial += 1;
            }
            if got == 0 {
                break;
            }
            for m in batch[..got].iter_mut() {
                let Some(m) = m.take() else { continue };
                self.post(m);
            }
            wrote = true;
            room -= got;
            if got < want {
                break;
            }
        }
        if wrote {
            self.bar0.write_doorbell(self.doorbell, self.sq_tail as u32);
            self.stats.doorbells += 1;
        }
    }

    #[inline]
    fn post(&mut self, m: Mbuf) {
        let Some(id) = self.free_ids.pop() else {
            // Cannot happen (room was computed from free ids); keep the buffer safe anyway.
            self.cache.free(m);
            return;
        };
        let slot = self.sq_tail & self.mask;
        let mut d = RxDesc {
            length: self.buf_len,
            req_id: id,
            ..Default::default()
        };
        d.set_phase(self.sq_tail & self.depth == 0);
        d.set_first(true);
        d.set_last(true);
        d.set_comp_req(true);
        d.set_buff_addr(m.buf_iova() + HEADROOM as u64);
        self.sq.write(slot as usize * 16, d);
        self.bufs[id as usize] = Some(m);
        self.sq_tail = self.sq_tail.wrapping_add(1);
    }

    /// Catches up with the control path after a start, stop or reset.
    #[cold]
    fn sync(&mut self, s: u64) -> bool {
        match s & 3 {
            RUNNING => {}
            CLOSED => return false,
            _ => return false,
        }
        // The device queue was (re)created over our ring memory, zeroed by the control path.
        let b = self.shared.binding();
        self.doorbell = b.doorbell;
        self.sq_tail = 0;
        self.cq_head = 0;
        self.faulted = false;
        if let Some((head, _)) = self.partial.take() {
            self.cache.free(head);
        }
        // Every buffer we still hold goes back into the fresh ring under a new request id.
        let held: Vec<Mbuf> = self.bufs.iter_mut().filter_map(Option::take).collect();
        self.free_ids.reset();
        for m in held {
            if (self.sq_tail as usize) < self.depth as usize - 1 {
                self.post(m);
            } else {
                self.cache.free(m);
            }
        }
        self.refill();
        if self.stats.doorbells == 0 || self.sq_tail != 0 {
            self.bar0.write_doorbell(self.doorbell, self.sq_tail as u32);
        }
        self.epoch_word = s;
        true
    }

    /// Synchronises with the port now (posting RX buffers) instead of at the first burst.
    pub(crate) fn prime(&mut self) {
        let s = self.shared.enter();
        if s != self.epoch_word && self.sync(s) {
            self.publish();
        }
        self.shared.leave();
    }

    /// Returns every buffer the queue holds to the pool (the queue must not be running).
    pub(crate) fn release_buffers(&mut self) {
        for m in self.bufs.iter_mut().filter_map(Option::take) {
            self.cache.free(m);
        }
        if let Some((head, _)) = self.partial.take() {
            self.cache.free(head);
        }
        self.free_ids.reset();
        self.cache.flush();
    }
}

impl Drop for RxQueue {
    fn drop(&mut self) {
        if self.shared.detached() {
            self.release_buffers();
        } else {
            // The device may still write into posted buffers: never hand them out again.
            let leaked = self.bufs.iter().filter(|b| b.is_some()).count();
            tracing::warn!(target: "ena", queue = self.queue_id, leaked, "RX queue dropped while the port runs; its posted buffers are abandoned (stop the port first)");
            for m in self.bufs.iter_mut().filter_map(Option::take) {
                std::mem::forget(m);
            }
            if let Some((head, _)) = self.partial.take() {
                self.cache.free(head);
            }
        }
    }
}

impl std::fmt::Debug for RxQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RxQueue")
            .field("queue_id", &self.queue_id)
            .field("depth", &self.depth)
            .finish()
    }
}
