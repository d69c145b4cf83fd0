//! What a queue shares with the port's control path, and the handshake that lets the control
//! path stop, reset and restart the device while another thread owns the queue.
//!
//! A queue (`RxQueue`/`TxQueue`) is owned by exactly one thread and touched by nobody else on the
//! data path. The control path owns the device. They meet in [`QueueShared`]:
//!
//! ```text
//!  state  = epoch << 2 | RUNNING | FROZEN | CLOSED     written by control, read by the queue
//!  busy   = the queue is inside a burst                 written by the queue, read by control
//!  error  = reset reason + 1 reported by the queue      written by the queue, taken by control
//! ```
//!
//! Each burst begins `busy = true; s = state` and ends `busy = false` (sequentially consistent,
//! so control and queue cannot both miss each other: Dekker's rule). To reset the device, control
//! sets FROZEN and waits until `busy` is false; from then on every burst returns at once. After
//! the device is re-created, control publishes the new queue binding and RUNNING with a new epoch;
//! the queue's next burst sees the new epoch and resynchronises its rings (re-posting its RX
//! buffers, reclaiming in-flight TX buffers) before it touches the device again.

use crate::mem::DmaRegion;
use ena_hw::regs::ResetReason;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Queue state bits (the low two bits of `state`).
pub(crate) const RUNNING: u64 = 1;
pub(crate) const FROZEN: u64 = 2;
pub(crate) const CLOSED: u64 = 3;

/// Where a queue lives on the device (changes at every start and reset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Binding {
    /// Device SQ index.
    pub sq_idx: u16,
    /// Device CQ index.
    pub cq_idx: u16,
    /// BAR0 offset of the SQ doorbell.
    pub doorbell: u32,
    /// BAR2 offset of the LLQ ring (TX with LLQ).
    pub llq_offset: u32,
    /// The LLQ layout in force, if the TX queue uses LLQ.
    pub llq: Option<crate::com::LlqConfig>,
}

/// Counters a queue publishes (plain stores by its owner after each burst; relaxed loads by
/// anyone). Names follow DPDK's ENA xstats.
#[derive(Debug, Default)]
pub(crate) struct PublishedStats {
    pub cnt: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
    pub bad_req_id: AtomicU64,
    pub bad_desc: AtomicU64,
    pub bad_desc_num: AtomicU64,
    pub mbuf_alloc_fail: AtomicU64,
    pub refill_partial: AtomicU64,
    pub l3_csum_bad: AtomicU64,
    pub l4_csum_bad: AtomicU64,
    pub l4_csum_good: AtomicU64,
    pub doorbells: AtomicU64,
    pub prepare_ctx_err: AtomicU64,
    pub reset_drops: AtomicU64,
    /// TX: packets handed to the device; RX: bursts.
    pub submitted: AtomicU64,
    /// TX: packets completed.
    pub completed: AtomicU64,
    /// Burst calls (to tell an idle queue from a stuck one).
    pub bursts: AtomicU64,
    /// RX: completions consumed (free-running), published so that the control path can count,
    /// after a reset or stop, the packets the device delivered that the queue never took.
    pub cq_head: AtomicU32,
    /// TX missing-completion check, asked by the control path: "how many packets still in
    /// flight were submitted before submission number `miss_cutoff`?" (0: no question). The
    /// queue answers at its next burst: `miss_count`, then `miss_answered` = the cutoff
    /// answered (release), so the control path never reads an answer to another question.
    pub miss_cutoff: AtomicU64,
    pub miss_count: AtomicU64,
    pub miss_answered: AtomicU64,
}

/// The part of a queue the control path can see.
pub(crate) struct QueueShared {
    state: AtomicU64,
    busy: AtomicBool,
    error: AtomicU8,
    /// The device does not own any of this queue's memory or buffers (no device queue exists,
    /// or the device was reset since). Set by control; only then may the queue free buffers
    /// the device could otherwise still write.
    detached: AtomicBool,
    /// Binding published by control while the queue is frozen.
    pub binding: Mutex<Binding>,
    /// Submission ring memory (host placement / RX); `None` for LLQ TX.
    pub sq: Option<Arc<DmaRegion>>,
    /// Completion ring memory.
    pub cq: Arc<DmaRegion>,
    /// Ring depth.
    pub depth: u16,
    /// Published counters.
    pub stats: PublishedStats,
}

impl QueueShared {
    pub fn new(sq: Option<Arc<DmaRegion>>, cq: Arc<DmaRegion>, depth: u16) -> Self {
        Self {
            state: AtomicU64::new(FROZEN),
            busy: AtomicBool::new(false),
            error: AtomicU8::new(0),
            detached: AtomicBool::new(true),
            binding: Mutex::new(Binding::default()),
            sq,
            cq,
            depth,
            stats: PublishedStats::default(),
        }
    }

    // ----- queue side -----

    /// Enters a burst; returns the state word seen.
    #[inline(always)]
    pub fn enter(&self) -> u64 {
        self.busy.store(true, Ordering::SeqCst);
        self.state.load(Ordering::SeqCst)
    }

    /// Leaves a burst.
    #[inline(always)]
    pub fn leave(&self) {
        self.busy.store(false, Ordering::Release);
    }

    /// Reports a device misbehaviour that needs a reset (first report wins).
    pub fn report(&self, reason: ResetReason) {
        let _ =
            self.error
                .compare_exchange(0, reason as u8 + 1, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// Whether the device owns nothing of this queue (buffers may be freed).
    pub fn detached(&self) -> bool {
        self.detached.load(Ordering::Acquire)
    }

    /// The binding for the current epoch.
    pub fn binding(&self) -> Binding {
        *self.binding.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ----- control side -----

    /// Takes a reported error.
    pub fn take_error(&self) -> Option<ResetReason> {
        match self.error.swap(0, Ordering::AcqRel) {
            0 => None,
            n => ResetReason::from_code(n - 1),
        }
    }

    /// Freezes the queue and waits until no burst is running. Returns false on timeout (the
    /// owner is stuck inside a burst; the caller must not touch the device queue).
    pub fn freeze(&self, timeout: Duration) -> bool {
        let s = self.state.load(Ordering::SeqCst);
        if s & 3 != CLOSED {
            self.state.store((s & !3) | FROZEN, Ordering::SeqCst);
        }
        let start = Instant::now();
        while self.busy.load(Ordering::SeqCst) {
            if start.elapsed() > timeout {
                return false;
            }
            std::hint::spin_loop();
        }
        true
    }

    /// Records that the device no longer owns the queue's memory (after DESTROY or a reset).
    pub fn set_detached(&self, detached: bool) {
        self.detached.store(detached, Ordering::Release);
    }

    /// Publishes a binding and lets the queue run again under a new epoch.
    pub fn resume(&self, binding: Binding) {
        self.set_detached(false);
        *self.binding.lock().unwrap_or_else(|e| e.into_inner()) = binding;
        let epoch = (self.state.load(Ordering::SeqCst) >> 2) + 1;
        self.state.store(epoch << 2 | RUNNING, Ordering::SeqCst);
    }

    /// Closes the queue for good (the port is gone).
    pub fn close(&self) {
        let s = self.state.load(Ordering::SeqCst);
        self.state.store((s & !3) | CLOSED, Ordering::SeqCst);
    }
}

/// Local copy of counters kept by a queue, published after each burst.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LocalStats {
    pub cnt: u64,
    pub bytes: u64,
    pub errors: u64,
    pub bad_req_id: u64,
    pub bad_desc: u64,
    pub bad_desc_num: u64,
    pub mbuf_alloc_fail: u64,
    pub refill_partial: u64,
    pub l3_csum_bad: u64,
    pub l4_csum_bad: u64,
    pub l4_csum_good: u64,
    pub doorbells: u64,
    pub prepare_ctx_err: u64,
    /// TX: packets in flight when the rings were reset. RX: packets the device delivered that
    /// the queue discarded (a bad completion, or a partly received packet at a resync).
    pub reset_drops: u64,
    pub submitted: u64,
    pub completed: u64,
    pub bursts: u64,
}

impl LocalStats {
    /// Stores every counter (relaxed plain stores: one writer).
    #[inline]
    pub fn publish(&self, p: &PublishedStats) {
        let r = Ordering::Relaxed;
        p.cnt.store(self.cnt, r);
        p.bytes.store(self.bytes, r);
        p.errors.store(self.errors, r);
        p.bad_req_id.store(self.bad_req_id, r);
        p.bad_desc.store(self.bad_desc, r);
        p.bad_desc_num.store(self.bad_desc_num, r);
        p.mbuf_alloc_fail.store(self.mbuf_alloc_fail, r);
        p.refill_partial.store(self.refill_partial, r);
        p.l3_csum_bad.store(self.l3_csum_bad, r);
        p.l4_csum_bad.store(self.l4_csum_bad, r);
        p.l4_csum_good.store(self.l4_csum_good, r);
        p.doorbells.store(self.doorbells, r);
        p.prepare_ctx_err.store(self.prepare_ctx_err, r);
        p.reset_drops.store(self.reset_drops, r);
        p.submitted.store(self.submitted, r);
        p.completed.store(self.completed, r);
        p.bursts.store(self.bursts, r);
    }
}

/// Free request ids, handed out first-in first-out: an id is reused only after every other free
/// id, so a stale completion (an id completed before) almost never names a packet in flight
/// and is caught (as the Linux and DPDK drivers' free-id rings do).
pub(crate) struct IdRing {
    /// Storage, a power of two long (positions wrap with `mask`); ids live in `0..n`.
    ids: Box<[u16]>,
    mask: usize,
    /// Ids in the ring when all are free.
    n: usize,
    head: usize,
    len: usize,
}

impl IdRing {
    /// All ids `0..n` free.
    pub fn full(n: u16) -> Self {
        let cap = (n as usize).max(1).next_power_of_two();
        let mut ids: Box<[u16]> = (0..cap as u32).map(|i| i as u16).collect();
        ids[n as usize..].fill(0);
        Self {
            ids,
            mask: cap - 1,
            n: n as usize,
            head: 0,
            len: n as usize,
        }
    }

    /// Free ids.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no id is free.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes the oldest free id.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<u16> {
        if self.len == 0 {
            return None;
        }
        let id = self.ids[self.head & self.mask];
        self.head = (self.head + 1) & self.mask;
        self.len -= 1;
        Some(id)
    }

    /// Returns an id.
    #[inline(always)]
    pub fn push(&mut self, id: u16) {
        if self.len < self.n {
            let at = (self.head + self.len) & self.mask;
            self.ids[at] = id;
            self.len += 1;
        }
    }

    /// Every id free again.
    pub fn reset(&mut self) {
        for (i, v) in self.ids.iter_mut().take(self.n).enumerate() {
            *v = i as u16;
        }
        self.head = 0;
        self.len = self.n;
    }
}

#[cfg(test)]
mod tests {
    use super::IdRing;

    /// Ids come back oldest first, never more than `n` are held, and a ring whose size is not
    /// a power of two behaves the same.
    #[test]
    fn id_ring_is_fifo_and_bounded() {
        for n in [1u16, 6, 8, 1024] {
            let mut r = IdRing::full(n);
            let taken: Vec<u16> = (0..n).map(|_| r.pop().unwrap()).collect();
            assert_eq!(taken, (0..n).collect::<Vec<_>>());
            assert!(r.pop().is_none() && r.is_empty());
            // Give back in a scrambled order, several laps around the storage.
            for lap in 0..3u16 {
                let back: Vec<u16> = (0..n).map(|i| (i * 5 + lap) % n).collect();
                for &id in &back {
                    r.push(id);
                }
                r.push(0); // one too many: ignored
                assert_eq!(r.len(), n as usize);
                let again: Vec<u16> = (0..n).map(|_| r.pop().unwrap()).collect();
                assert_eq!(again, back, "n {n} lap {lap}");
            }
            r.reset();
            assert_eq!(r.pop(), Some(0));
            assert_eq!(r.len(), n as usize - 1);
        }
    }
}
