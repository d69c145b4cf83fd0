//! The transmit queue: `tx_burst` reclaims completed packets, writes each new packet as a chain
//! of descriptors (host ring) or LLQ entries (device memory, header pushed inline), and rings
//! the doorbell once per burst.
//!
//! ```text
//!  host:  [meta]? data_0 (first, comp_req, req_id, offload bits) data_1 … data_n (last)
//!  LLQ:   entry k  = [desc][desc][pushed header bytes …]      (2 descriptors before the header)
//!         entry k+1 = [desc][desc][desc] … (continuation)      packets start in a fresh entry
//! ```
//!
//! A meta descriptor is sent only when the offload context (MSS, L3 header offset and length,
//! L4 header length) differs from the one the device cached for this queue, or on every packet
//! when the device asked for meta caching to be disabled. Completions come back one per packet,
//! tagged with the request id; each is checked (phase, must-be-zero bits, id in range and in
//! flight) and a bad one is counted and reported for a reset — never followed blindly.

use super::offload::{seed_pseudo_header, tx_context, TxContext, TxOffloads};
use super::queue::{IdRing, LocalStats, QueueShared, CLOSED, RUNNING};
use crate::com::LlqConfig;
use crate::mem::pool::{Mbuf, MbufCache};
use crate::mem::DmaRegion;
use crate::platform::Mmio;
use ena_hw::io::{TxDesc, TxMetaDesc};
use ena_hw::regs::ResetReason;
use std::sync::Arc;
use zerocopy::IntoBytes;

/// Most descriptors a packet may use, meta included (spec: ≤ 19 on current devices).
const MAX_DESCS: usize = 19;
/// Largest LLQ entry (256 bytes) in 64-bit words.
const LLQ_MAX_ENTRY_WORDS: usize = 32;
/// `ol_flags` bits that ask for TX offloads (checksums, segmentation, the L3 type they need).
const TX_OFFLOAD_REQUESTS: u64 = crate::mem::pool::ol::TX_IP_CKSUM
    | crate::mem::pool::ol::TX_L4_MASK
    | crate::mem::pool::ol::TX_TCP_SEG;
/// Completions reclaimed per burst at most.
const CLEAN_BUDGET: usize = 256;

struct TxInfo {
    mbuf: Option<Mbuf>,
    /// Ring slots (host descriptors or LLQ entries) the packet occupies.
    slots: u16,
    /// Submission number (the queue's `submitted` count when it was sent): its age for the
    /// missing-completion watchdog.
    seq: u64,
}

/// A transmit queue, owned by one thread.
pub struct TxQueue {
    shared: Arc<QueueShared>,
    epoch_word: u64,
    queue_id: u16,
    depth: u16,
    mask: u16,
    sq: Option<Arc<DmaRegion>>,
    cq: Arc<DmaRegion>,
    bar0: Mmio,
    bar2: Option<Mmio>,
    doorbell: u32,
    llq: Option<LlqConfig>,
    llq_offset: usize,
    /// Slots (descriptors or LLQ entries) written, free-running.
    sq_tail: u16,
    /// Slots in use by packets not yet completed.
    in_flight: u16,
    cq_head: u32,
    info: Vec<TxInfo>,
    free_ids: IdRing,
    cache: MbufCache,
    max_descs: usize,
    max_header: usize,
    offloads: TxOffloads,
    check_mbz: bool,
    /// The metadata the device caches for this queue (None: nothing valid cached).
    meta_cache: Option<(u16, u8, u8, u8)>,
    /// LLQ entries left before the burst limit forces a doorbell.
    burst_left: usize,
    /// Slots written since the last doorbell.
    pending: u16,
    faulted: bool,
    /// The last missing-completion question answered (see `QueueShared`).
    miss_answered: u64,
    stats: LocalStats,
}

pub(crate) struct TxQueueParams {
    pub shared: Arc<QueueShared>,
    pub queue_id: u16,
    pub bar0: Mmio,
    pub bar2: Option<Mmio>,
    pub cache: MbufCache,
    pub max_descs: u16,
    pub max_header: u32,
    pub offloads: TxOffloads,
    pub check_mbz: bool,
}

impl TxQueue {
    pub(crate) fn new(p: TxQueueParams) -> Self {
        let depth = p.shared.depth;
        Self {
            sq: p.shared.sq.clone(),
            cq: p.shared.cq.clone(),
            epoch_word: 0,
            queue_id: p.queue_id,
            depth,
            mask: depth - 1,
            bar0: p.bar0,
            bar2: p.bar2,
            doorbell: 0,
            llq: None,
            llq_offset: 0,
            sq_tail: 0,
            in_flight: 0,
            cq_head: 0,
            info: (0..depth)
                .map(|_| TxInfo {
                    mbuf: None,
                    slots: 0,
                    seq: 0,
                })
                .collect(),
            free_ids: IdRing::full(depth),
            cache: p.cache,
            max_descs: (p.max_descs as usize).clamp(2, MAX_DESCS),
            max_header: p.max_header as usize,
            offloads: p.offloads,
            check_mbz: p.check_mbz,
            meta_cache: None,
            burst_left: usize::MAX,
            pending: 0,
            faulted: false,
            miss_answered: 0,
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

    /// Packets handed to the device and not completed yet.
    pub fn in_flight(&self) -> usize {
        self.depth as usize - self.free_ids.len()
    }

    /// Whether the queue writes LLQ entries into device memory.
    pub fn uses_llq(&self) -> bool {
        self.llq.is_some()
    }

    /// Sends the packets at the front of `pkts` (DPDK's `rte_eth_tx_burst`): each one sent is
    /// taken out of its slot; the first that does not fit stops the burst and stays in place.
    /// Returns how many were sent.
    #[inline]
    pub fn tx_burst(&mut self, pkts: &mut [Option<Mbuf>]) -> usize {
        let s = self.shared.enter();
        if s != self.epoch_word && !self.sync(s) {
            self.shared.leave();
            return 0;
        }
        if self.faulted {
            self.shared.leave();
            return 0;
        }
        self.clean();
        self.answer_missing_check();
        let mut sent = 0;
        for slot in pkts.iter_mut() {
            let Some(m) = slot.take() else { break };
            match self.enqueue(m) {
                Ok(()) => sent += 1,
                Err(m) => {
                    *slot = Some(m);
                    break;
                }
            }
        }
        if self.pending > 0 {
            self.ring();
        }
        self.stats.bursts += 1;
        self.stats.publish(&self.shared.stats);
        self.shared.leave();
        sent
    }

    /// Checks packets against the queue's offload configuration before `tx_burst` (DPDK's
    /// `rte_eth_tx_prepare`): returns how many from the front are valid; the first invalid one
    /// stops the scan.
    pub fn tx_prepare(&mut self, pkts: &[Option<Mbuf>]) -> usize {
        let mut n = 0;
        for m in pkts.iter() {
            let Some(m) = m else { break };
            if m.nb_segs() as usize + 1 > self.max_descs || tx_context(m, self.offloads).is_err() {
                self.stats.prepare_ctx_err += 1;
                break;
            }
            n += 1;
        }
        n
    }

    /// Reclaims completed packets (also done at the start of every burst).
    pub fn tx_done_cleanup(&mut self) -> usize {
        let s = self.shared.enter();
        let n = if s == self.epoch_word && !self.faulted {
            let n = self.clean();
            self.answer_missing_check();
            n
        } else {
            0
        };
        // Reclaiming counts as activity for the missing-completion watchdog.
        self.stats.bursts += 1;
        self.stats.publish(&self.shared.stats);
        self.shared.leave();
        n
    }

    fn clean(&mut self) -> usize {
        let mut done = 0;
        while done < CLEAN_BUDGET {
            let off = (self.cq_head & self.mask as u32) as usize * 8;
            let word0 = self.cq.load_u32_acquire(off);
            let phase = self.cq_head & self.depth as u32 == 0;
            if (word0 >> 24) & 1 != phase as u32 {
                break;
            }
            let flags = (word0 >> 24) as u8;
            if self.check_mbz && flags & 0xc0 != 0 {
                self.stats.bad_desc += 1;
                self.fault(ResetReason::TxDescriptorMalformed);
                break;
            }
            let id = (word0 & 0xffff) as u16;
            let Some(info) = self.info.get_mut(id as usize) else {
                self.stats.bad_req_id += 1;
                self.fault(ResetReason::InvalidTxReqId);
                break;
            };
            let Some(m) = info.mbuf.take() else {
                // In range but not in flight: a stale or duplicate completion.
                self.stats.bad_req_id += 1;
                self.fault(ResetReason::InvalidTxReqId);
                break;
            };
            self.in_flight -= info.slots;
            info.slots = 0;
            self.free_ids.push(id);
            self.cache.free(m);
            self.cq_head = self.cq_head.wrapping_add(1);
            self.stats.completed += 1;
            done += 1;
        }
        done
    }

    /// Answers the control path's missing-completion question, if a new one was asked: how
    /// many packets in flight were submitted before the cutoff (i.e. are older than the
    /// watchdog's timeout). One pass over the ring per question (a few per second), so a
    /// lost completion is noticed even while later packets complete, as Linux's per-packet
    /// check does (torvalds/linux drivers/net/ethernet/amazon/ena/ena_netdev.c,
    /// check_missing_comp_in_tx_queue).
    #[inline]
    fn answer_missing_check(&mut self) {
        let p = &self.shared.stats;
        let cutoff = p.miss_cutoff.load(std::sync::atomic::Ordering::Relaxed);
        if cutoff == 0 || cutoff == self.miss_answered {
            return;
        }
        self.miss_answered = cutoff;
        let old = self
            .info
            .iter()
            .filter(|i| i.mbuf.is_some() && i.seq < cutoff)
            .count() as u64;
        p.miss_count
            .store(old, std::sync::atomic::Ordering::Relaxed);
        p.miss_answered
            .store(cutoff, std::sync::atomic::Ordering::Release);
    }

    fn fault(&mut self, reason: ResetReason) {
        tracing::error!(target: "ena", queue = self.queue_id, "TX completion invalid ({reason}); queue stopped until reset");
        self.faulted = true;
        self.shared.report(reason);
    }

    fn ring(&mut self) {
        self.bar0.write_doorbell(self.doorbell, self.sq_tail as u32);
        self.stats.doorbells += 1;
        self.pending = 0;
        if let Some(l) = self.llq {
            self.burst_left = l.max_entries_in_burst.unwrap_or(usize::MAX);
        }
    }

    /// Writes one packet; gives it back when it does not fit (or is invalid: then it is dropped
    /// and counted, since retrying cannot help).
    fn enqueue(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        // Most packets a forwarder sends are one segment with no offload request: they take
        // the short path, which writes the one descriptor (and the LLQ entry) directly.
        let simple = m.next().is_none()
            && m.data_len() > 0
            && m.ol_flags() & TX_OFFLOAD_REQUESTS == 0
            && match self.llq {
                None => true,
                // Room for the meta descriptor the device then wants on every packet.
                Some(l) => l.descs_before_header > usize::from(l.disable_meta_caching),
            };
        if simple {
            self.enqueue_one_segment(m)
        } else {
            self.enqueue_chain(m)
        }
    }

    /// The short path of [`Self::enqueue`]: one segment, no offload context, and a meta
    /// descriptor only when the device disabled meta caching (LLQ). Writes exactly what the
    /// general path would for such a packet.
    #[inline(always)]
    fn enqueue_one_segment(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        let len = m.data_len();
        let slots = 1usize;
        if self.in_flight as usize + slots >= self.depth as usize || self.free_ids.is_empty() {
            self.clean();
            if self.in_flight as usize + slots >= self.depth as usize || self.free_ids.is_empty() {
                return Err(m);
            }
        }
        if let Some(l) = self.llq {
            if l.max_entries_in_burst.is_some() && slots > self.burst_left {
                self.ring();
            }
        }
        let Some(req_id) = self.free_ids.pop() else {
            return Err(m);
        };
        let phase = self.sq_tail & self.depth == 0;
        match self.llq {
            None => {
                let [w0, w1] = data_desc_words(req_id, phase, len, m.data_iova(), 0, true);
                if let Some(sq) = &self.sq {
                    let slot = (self.sq_tail & self.mask) as usize * 16;
                    sq.write(slot, [w0, w1]);
                }
            }
            Some(l) => {
                // The header (up to max_header bytes) rides in the entry; a descriptor with
                // length 0 and no address when the whole packet fits.
                let data = m.data();
                let pushed = data.len().min(l.max_header);
                let rest = (len as usize - pushed) as u16;
                let addr = if rest > 0 {
                    m.data_iova() + pushed as u64
                } else {
                    0
                };
                let mut entry = [0u64; LLQ_MAX_ENTRY_WORDS];
                let words = (l.entry_size / 8).min(LLQ_MAX_ENTRY_WORDS);
                let with_meta = l.disable_meta_caching;
                if with_meta {
                    // The empty offload context (what DPDK's PMD sends in this case).
                    let ctx = TxContext::default();
                    let mut meta = meta_desc(&ctx);
                    meta.set_phase(phase);
                    let b = meta.as_bytes();
                    entry[0] = u64::from_le_bytes(b[..8].try_into().unwrap_or_default());
                    entry[1] = u64::from_le_bytes(b[8..].try_into().unwrap_or_default());
                    self.meta_cache = Some(ctx.meta_key());
                }
                let d = usize::from(with_meta) * 2;
                [entry[d], entry[d + 1]] =
                    data_desc_words(req_id, phase, rest, addr, pushed as u8, !with_meta);
                let at = l.descs_before_header * 16;
                entry.as_mut_bytes()[at..at + pushed].copy_from_slice(&data[..pushed]);
                if let Some(bar2) = &self.bar2 {
                    let slot = (self.sq_tail & self.mask) as usize;
                    let off = self.llq_offset + slot * l.entry_size;
                    // Sizes known at compile time unroll the stores (128 B is the default).
                    match words {
                        16 => bar2.write_entry::<16>(off, first_words(&entry)),
                        24 => bar2.write_entry::<24>(off, first_words(&entry)),
                        32 => bar2.write_entry::<32>(off, first_words(&entry)),
                        _ => bar2.write_words(off, &entry[..words]),
                    };
                }
                self.burst_left = self.burst_left.saturating_sub(1);
            }
        }
        self.sq_tail = self.sq_tail.wrapping_add(1);
        self.stats.bytes += u64::from(len);
        self.info[req_id as usize] = TxInfo {
            mbuf: Some(m),
            slots: slots as u16,
            seq: self.stats.submitted,
        };
        self.in_flight += slots as u16;
        self.pending += slots as u16;
        self.stats.cnt += 1;
        self.stats.submitted += 1;
        Ok(())
    }

    /// The general path of [`Self::enqueue`]: segment chains, offload requests, meta
    /// descriptors, LLQ continuation entries.
    fn enqueue_chain(&mut self, mut m: Mbuf) -> Result<(), Mbuf> {
        let ctx = match tx_context(&m, self.offloads) {
            Ok(c) => c,
            Err(_) => {
                self.stats.prepare_ctx_err += 1;
                self.stats.errors += 1;
                drop(m);
                return Ok(());
            }
        };
        let need_meta = match self.llq {
            Some(l) if l.disable_meta_caching => true,
            _ => ctx.offload && self.meta_cache != Some(ctx.meta_key()),
        };
        if ctx.l4_partial {
            seed_pseudo_header(&mut m, &ctx);
        }
        // Segments to describe (LLQ: after the pushed header; computed below).
        let mut segs: [(u64, u16); MAX_DESCS] = [(0, 0); MAX_DESCS];
        let mut header = [0u8; 256];
        let (nsegs, pushed) = match self.llq {
            None => {
                let mut n = 0;
                for s in m.segments() {
                    if s.data_len() == 0 {
                        continue;
                    }
                    if n >= MAX_DESCS {
                        n = MAX_DESCS + 1;
                        break;
                    }
                    segs[n] = (s.data_iova(), s.data_len());
                    n += 1;
                }
                (n, 0usize)
            }
            Some(l) => {
                let push = (m.pkt_len() as usize).min(l.max_header);
                let mut copied = 0usize;
                let mut n = 0usize;
                for s in m.segments() {
                    let d = s.data();
                    let take = (push - copied).min(d.len());
                    header[copied..copied + take].copy_from_slice(&d[..take]);
                    copied += take;
                    if take < d.len() {
                        if n >= MAX_DESCS {
                            n = MAX_DESCS + 1;
                            break;
                        }
                        segs[n] = (s.data_iova() + take as u64, (d.len() - take) as u16);
                        n += 1;
                    }
                }
                (n, copied)
            }
        };
        let data_descs = nsegs.max(1);
        let descs = data_descs + need_meta as usize;
        if nsegs > MAX_DESCS || descs > self.max_descs {
            self.stats.prepare_ctx_err += 1;
            self.stats.errors += 1;
            drop(m);
            return Ok(());
        }
        let slots = match self.llq {
            None => descs,
            Some(l) => {
                1 + descs
                    .saturating_sub(l.descs_before_header)
                    .div_ceil(l.descs_per_entry)
            }
        };
        let free = self.depth as usize - 1 - self.in_flight as usize;
        if slots > free || self.free_ids.is_empty() {
            self.clean();
            let free = self.depth as usize - 1 - self.in_flight as usize;
            if slots > free || self.free_ids.is_empty() {
                return Err(m);
            }
        }
        if let Some(l) = self.llq {
            if l.max_entries_in_burst.is_some() && slots > self.burst_left {
                self.ring();
            }
        }
        let Some(req_id) = self.free_ids.pop() else {
            return Err(m);
        };

        // Build the descriptor chain.
        let mut chain: [[u8; 16]; MAX_DESCS + 1] = [[0; 16]; MAX_DESCS + 1];
        let mut k = 0;
        if need_meta {
            let meta = meta_desc(&ctx);
            chain[0].copy_from_slice(meta.as_bytes());
            k = 1;
            self.meta_cache = Some(ctx.meta_key());
        }
        for (i, &(addr, len)) in segs[..data_descs].iter().enumerate() {
            let mut d = TxDesc::default();
            d.set_length(len);
            if len > 0 {
                d.set_buff_addr(addr);
            }
            if i == 0 {
                d.set_first(!need_meta);
                d.set_comp_req(true);
                d.set_req_id(req_id);
                d.set_df(ctx.df);
                d.set_header_length(if self.llq.is_some() { pushed as u8 } else { 0 });
                if ctx.offload {
                    d.set_l3_proto_idx(ctx.l3_proto);
                    d.set_l4_proto_idx(ctx.l4_proto);
                    d.set_l3_csum_en(ctx.l3_csum);
                    d.set_l4_csum_en(ctx.l4_csum);
                    d.set_l4_csum_partial(ctx.l4_partial);
                    d.set_tso_en(ctx.tso);
                }
            }
            d.set_last(i == data_descs - 1);
            chain[k].copy_from_slice(d.as_bytes());
            k += 1;
        }
        match self.llq {
            None => self.write_host(&mut chain[..k]),
            Some(l) => self.write_llq(l, &mut chain[..k], &header[..pushed]),
        }
        self.info[req_id as usize] = TxInfo {
            mbuf: Some(m),
            slots: slots as u16,
            seq: self.stats.submitted,
        };
        self.in_flight += slots as u16;
        self.pending += slots as u16;
        self.stats.cnt += 1;
        self.stats.submitted += 1;
        self.stats.bytes += self.info[req_id as usize]
            .mbuf
            .as_ref()
            .map_or(0, |m| m.pkt_len() as u64);
        Ok(())
    }

    /// Host ring: one 16-byte slot per descriptor, each with its pass's phase.
    #[inline]
    fn write_host(&mut self, chain: &mut [[u8; 16]]) {
        let Some(sq) = &self.sq else { return };
        for d in chain.iter_mut() {
            set_phase(d, self.sq_tail & self.depth == 0);
            let slot = (self.sq_tail & self.mask) as usize * 16;
            let words = [
                u64::from_le_bytes(d[..8].try_into().unwrap_or_default()),
                u64::from_le_bytes(d[8..].try_into().unwrap_or_default()),
            ];
            sq.write(slot, words);
            self.sq_tail = self.sq_tail.wrapping_add(1);
        }
    }

    /// LLQ: entries built in a local buffer, pushed with whole 64-bit stores.
    #[inline]
    fn write_llq(&mut self, l: LlqConfig, chain: &mut [[u8; 16]], header: &[u8]) {
        let Some(bar2) = &self.bar2 else { return };
        let mut entry = [0u64; 32];
        let words = l.entry_size / 8;
        let mut next = 0;
        let mut first = true;
        while next < chain.len() || first {
            entry[..words].fill(0);
            let phase = self.sq_tail & self.depth == 0;
            let cap = if first {
                l.descs_before_header
            } else {
                l.descs_per_entry
            };
            let bytes = entry.as_mut_bytes();
            for s in 0..cap {
                let Some(d) = chain.get_mut(next) else { break };
                set_phase(d, phase);
                bytes[s * 16..s * 16 + 16].copy_from_slice(d);
                next += 1;
            }
            if first {
                let at = l.descs_before_header * 16;
                bytes[at..at + header.len()].copy_from_slice(header);
            }
            let slot = (self.sq_tail & self.mask) as usize;
            bar2.write_words(self.llq_offset + slot * l.entry_size, &entry[..words]);
            self.sq_tail = self.sq_tail.wrapping_add(1);
            self.burst_left = self.burst_left.saturating_sub(1);
            first = false;
        }
    }

    /// Catches up with the control path after a start, stop or reset: packets that were in
    /// flight are reclaimed (counted as `reset_drops`), the rings start over.
    #[cold]
    fn sync(&mut self, s: u64) -> bool {
        match s & 3 {
            RUNNING => {}
            CLOSED => return false,
            _ => return false,
        }
        let b = self.shared.binding();
        self.reclaim_all();
        self.doorbell = b.doorbell;
        self.llq = b.llq;
        self.llq_offset = b.llq_offset as usize;
        if let Some(l) = self.llq {
            self.max_header = l.max_header;
            self.burst_left = l.max_entries_in_burst.unwrap_or(usize::MAX);
        }
        self.sq_tail = 0;
        self.cq_head = 0;
        self.in_flight = 0;
        self.pending = 0;
        self.meta_cache = None;
        self.faulted = false;
        self.epoch_word = s;
        true
    }

    /// Synchronises with the port now instead of at the first burst.
    pub(crate) fn prime(&mut self) {
        let s = self.shared.enter();
        if s != self.epoch_word {
            self.sync(s);
        }
        self.shared.leave();
    }

    fn reclaim_all(&mut self) {
        for (id, info) in self.info.iter_mut().enumerate() {
            if let Some(m) = info.mbuf.take() {
                self.cache.free(m);
                self.stats.reset_drops += 1;
                let _ = id;
            }
            info.slots = 0;
        }
        self.free_ids.reset();
    }
}

impl Drop for TxQueue {
    fn drop(&mut self) {
        if self.shared.detached() {
            self.reclaim_all();
            self.cache.flush();
        } else {
            // The device may still read in-flight buffers: abandon them rather than reuse them.
            for info in self.info.iter_mut() {
                if let Some(m) = info.mbuf.take() {
                    std::mem::forget(m);
                }
            }
            tracing::warn!(target: "ena", queue = self.queue_id, "TX queue dropped while the port runs; in-flight buffers are abandoned (stop the port first)");
        }
    }
}

/// The first `N` words of an LLQ entry buffer, as an array.
#[inline(always)]
fn first_words<const N: usize>(entry: &[u64; LLQ_MAX_ENTRY_WORDS]) -> &[u64; N] {
    const { assert!(N <= LLQ_MAX_ENTRY_WORDS) };
    entry
        .first_chunk::<N>()
        .expect("N fits (checked at compile time)")
}

/// The meta descriptor carrying `ctx` (stored in the device's per-queue cache).
#[inline(always)]
fn meta_desc(ctx: &TxContext) -> TxMetaDesc {
    let mut meta = TxMetaDesc::default();
    meta.set_ext_valid(true);
    meta.set_eth_meta_type(true);
    meta.set_meta_store(true);
    meta.set_meta_desc(true);
    meta.set_first(true);
    meta.set_mss(ctx.mss);
    meta.set_l3_hdr_len(ctx.l3_hdr_len);
    meta.set_l3_hdr_off(ctx.l3_hdr_off);
    meta.set_l4_hdr_len_in_words(ctx.l4_hdr_len_words);
    meta
}

/// The two 64-bit words of the last data descriptor of a one-segment packet, asking for a
/// completion, with no offload bits (`first` unless a meta descriptor leads): what
/// [`TxDesc`]'s setters produce, built in registers.
#[inline(always)]
fn data_desc_words(
    req_id: u16,
    phase: bool,
    len: u16,
    addr: u64,
    header_len: u8,
    first: bool,
) -> [u64; 2] {
    const LAST: u32 = 1 << 27;
    const COMP_REQ: u32 = 1 << 28;
    let len_ctrl = u32::from(len)
        | u32::from(req_id >> 10) << 16
        | u32::from(phase) << 24
        | u32::from(first) << 26
        | LAST
        | COMP_REQ;
    let meta_ctrl = u32::from(req_id & 0x3ff) << 22;
    let addr_lo = addr as u32;
    let addr_hi_hdr = ((addr >> 32) as u32 & 0xffff) | u32::from(header_len) << 24;
    [
        u64::from(len_ctrl) | u64::from(meta_ctrl) << 32,
        u64::from(addr_lo) | u64::from(addr_hi_hdr) << 32,
    ]
}

/// Sets the phase bit (bit 24 of word 0) of a TX data or meta descriptor.
#[inline(always)]
fn set_phase(d: &mut [u8; 16], phase: bool) {
    if phase {
        d[3] |= 1;
    } else {
        d[3] &= !1;
    }
}

impl std::fmt::Debug for TxQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxQueue")
            .field("queue_id", &self.queue_id)
            .field("depth", &self.depth)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::FromBytes;

    /// The short path's descriptor, built with shifts, is bit for bit what the general path
    /// builds with `TxDesc`'s setters.
    #[test]
    fn one_segment_descriptor_matches_the_setters() {
        for (req_id, phase, len, addr, hdr, first) in [
            (0u16, true, 60u16, 0x1234_5678_9abcu64, 0u8, true),
            (1023, false, 1514, 0xffff_ffff_ffff, 96, false),
            (1024, true, 0, 0, 60, true),
            (65535, false, 9000, 0x8000_0000_0040, 224, true),
        ] {
            let mut d = TxDesc::default();
            d.set_length(len);
            if len > 0 {
                d.set_buff_addr(addr);
            }
            d.set_first(first);
            d.set_comp_req(true);
            d.set_req_id(req_id);
            d.set_header_length(hdr);
            d.set_last(true);
            let mut bytes: [u8; 16] = d.as_bytes().try_into().unwrap();
            set_phase(&mut bytes, phase);
            let words = data_desc_words(
                req_id,
                phase,
                len,
                if len > 0 { addr } else { 0 },
                hdr,
                first,
            );
            let mut built = [0u8; 16];
            built[..8].copy_from_slice(&words[0].to_le_bytes());
            built[8..].copy_from_slice(&words[1].to_le_bytes());
            assert_eq!(built, bytes, "req_id {req_id} len {len} first {first}");
            let back = TxDesc::read_from_bytes(&built[..]).unwrap();
            assert_eq!(
                (
                    back.req_id(),
                    back.length(),
                    back.phase(),
                    back.first(),
                    back.last()
                ),
                (req_id, len, phase, first, true)
            );
        }
    }

    /// The meta descriptor for the empty context (sent on every packet when the device
    /// disables meta caching) has exactly the control bits DPDK's PMD sets and no offsets.
    #[test]
    fn empty_context_meta_descriptor() {
        let m = meta_desc(&TxContext::default());
        assert!(m.meta_desc() && m.first() && m.ext_valid() && m.meta_store());
        assert!(!m.last() && !m.comp_req());
        assert_eq!((m.mss(), m.l3_hdr_len(), m.l3_hdr_off()), (0, 0, 0));
    }
}
