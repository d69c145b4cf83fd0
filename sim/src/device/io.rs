//! IO queues: TX and RX submission queues, completion queues, and the packet path (spec §6, §7).
//!
//! ```text
//!   TX: driver ──desc──▶ TX SQ (host ring, or LLQ entries in BAR2) ──doorbell──▶ device
//!       device: gather buffers ─▶ offloads (checksum, TSO) ─▶ wire ─▶ TX CQ entry (req_id, phase)
//!   RX: wire ─▶ device: parse, checksum check, RSS ─▶ RX SQ buffers ─▶ RX CQ entries (phase last)
//! ```
//!
//! Counters are free-running u16 (SQ head/tail) and u32 (CQ tail); a slot is `counter & (depth−1)`
//! and the phase of a pass is `(counter / depth) & 1 == 0`. Every descriptor read from the
//! driver is checked; a bad one is counted and logged, and the packet it belongs to is dropped —
//! but still completed, so the driver gets its buffers back.

use super::{Device, LlqActive, MAX_QUEUE_INDEX, RX_DOORBELL_BASE, TX_DOORBELL_BASE};
use crate::config::{DeviceConfig, LlqOffer, RxNoBufferCounter};
use crate::csum::{self, TxMeta, TxOffloadRequest};
use crate::rss::Steer;
use crate::wire::MAX_FRAME;
use ena_hw::admin::{status, MSIX_VECTOR_NONE};
use ena_hw::io::{RxCdesc, RxDesc, TxCdesc, TxDesc, TxMetaDesc};
use std::collections::VecDeque;
use std::time::Duration;
use zerocopy::{FromBytes, IntoBytes};

/// Frames taken from the wire per poll (bounds the time one poll can take).
const RX_BUDGET: usize = 64;

#[derive(Debug)]
pub(super) struct Cq {
    base: u64,
    depth: u32,
    entry_size: usize,
    tail: u32,
    vector: u32,
    bound: bool,
}

impl Cq {
    /// Address and phase of the next entry, advancing the tail.
    #[inline]
    fn next(&mut self) -> (u64, bool) {
        let slot = self.tail & (self.depth - 1);
        let phase = (self.tail / self.depth) & 1 == 0;
        self.tail = self.tail.wrapping_add(1);
        (self.base + slot as u64 * self.entry_size as u64, phase)
    }
}

#[derive(Debug)]
pub(super) struct TxSq {
    cq: u16,
    depth: u32,
    base: u64,
    llq: Option<(LlqActive, usize)>,
    doorbell: u32,
    /// Descriptors (host) or entries (LLQ) consumed.
    head: u16,
    meta_cache: TxMetaDesc,
    last_completed: Option<u16>,
    delayed: VecDeque<(Duration, TxCdesc)>,
}

#[derive(Debug)]
pub(super) struct RxSq {
    cq: u16,
    depth: u32,
    base: u64,
    doorbell: u32,
    /// Buffers consumed.
    head: u16,
}

/// IO queue state (forgotten by a reset).
#[derive(Debug)]
pub(super) struct IoState {
    cqs: Vec<Option<Cq>>,
    tx: Vec<Option<TxSq>>,
    rx: Vec<Option<RxSq>>,
    /// Existing RX SQ indices, in order (for the default queue).
    rx_list: Vec<u16>,
    /// Existing TX SQ indices.
    tx_list: Vec<u16>,

    /// A frame the device could not place on a lossless wire, offered again next poll.
    held: Option<usize>,
    /// TX gather buffer.
    scratch: Vec<u8>,
    /// RX frame buffer (separate, so a held frame survives TX work).
    rx_frame: Vec<u8>,
    tso_scratch: csum::TsoScratch,
    llq_entry: Vec<u8>,
    allowance_tokens: f64,
    allowance_at: Duration,
}

impl IoState {
    pub(super) fn new(cfg: &DeviceConfig) -> Self {
        let n = cfg.max_queues as usize;
        Self {
            cqs: (0..2 * n).map(|_| None).collect(),
            tx: (0..n).map(|_| None).collect(),
            rx: (0..n).map(|_| None).collect(),
            rx_list: Vec::with_capacity(n),
            tx_list: Vec::with_capacity(n),

            held: None,
            scratch: vec![0; MAX_FRAME + 64 * 1024],
            rx_frame: vec![0; MAX_FRAME],
            tso_scratch: csum::TsoScratch::default(),
            llq_entry: vec![0; 256],
            allowance_tokens: cfg.pps_allowance.unwrap_or(0) as f64 / 10.0,
            allowance_at: Duration::ZERO,
        }
    }

    pub(super) fn tx_indices(&self) -> Vec<u16> {
        self.tx_list.clone()
    }
    pub(super) fn rx_indices(&self) -> Vec<u16> {
        self.rx_list.clone()
    }
    pub(super) fn cq_indices(&self) -> Vec<u16> {
        self.cqs
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some())
            .map(|(i, _)| i as u16)
            .collect()
    }
    /// Whether a received frame waits for RX buffers (lossless wires only).
    pub(super) fn held_frame(&self) -> bool {
        self.held.is_some()
    }

    pub(super) fn rx_exists(&self, idx: u16) -> bool {
        self.rx.get(idx as usize).is_some_and(Option::is_some)
    }
    pub(super) fn has_llq_queues(&self) -> bool {
        self.tx.iter().flatten().any(|q| q.llq.is_some())
    }

    pub(super) fn create_cq(
        &mut self,
        base: u64,
        depth: u32,
        entry_size: usize,
        vector: u32,
    ) -> Option<u16> {
        let idx = self.cqs.iter().position(Option::is_none)?;
        if idx > MAX_QUEUE_INDEX {
            return None;
        }
        self.cqs[idx] = Some(Cq {
            base,
            depth,
            entry_size,
            tail: 0,
            vector,
            bound: false,
        });
        Some(idx as u16)
    }

    pub(super) fn destroy_cq(&mut self, idx: u16) -> Result<(), u8> {
        match self.cqs.get_mut(idx as usize) {
            Some(slot @ Some(_)) => {
                if slot.as_ref().is_some_and(|c| c.bound) {
                    return Err(status::RESOURCE_BUSY);
                }
                *slot = None;
                Ok(())
            }
            _ => Err(status::ILLEGAL_PARAMETER),
        }
    }

    /// Binds `cq_idx` to a new SQ; checks it exists, is free, deep enough, and has the entry size
    /// of the direction (TX 8 or 16 bytes, RX 16 or 32).
    fn bind_cq(&mut self, cq_idx: u16, depth: u32, entry_sizes: [usize; 2]) -> Result<(), u8> {
        let Some(Some(cq)) = self.cqs.get_mut(cq_idx as usize) else {
            return Err(status::ILLEGAL_PARAMETER);
        };
        if cq.bound || cq.depth < depth || !entry_sizes.contains(&cq.entry_size) {
            return Err(status::ILLEGAL_PARAMETER);
        }
        cq.bound = true;
        Ok(())
    }

    fn unbind_cq(&mut self, cq_idx: u16) {
        if let Some(Some(cq)) = self.cqs.get_mut(cq_idx as usize) {
            cq.bound = false;
        }
    }

    pub(super) fn create_tx_sq(
        &mut self,
        cq_idx: u16,
        depth: u32,
        base: u64,
        llq: Option<LlqActive>,
        offer: Option<&LlqOffer>,
    ) -> Result<(u16, u32, u32), u8> {
        let idx = self
            .tx
            .iter()
            .position(Option::is_none)
            .ok_or(status::RESOURCE_ALLOCATION_FAILURE)?;
        let llq_window = match (llq, offer) {
            (Some(l), Some(o)) => {
                if idx >= o.max_llq_num as usize {
                    return Err(status::RESOURCE_ALLOCATION_FAILURE);
                }
                let window = o.max_llq_depth as usize * 128;
                if depth as usize * l.entry_size > window {
                    return Err(status::ILLEGAL_PARAMETER);
                }
                Some((l, idx * window))
            }
            (Some(_), None) => return Err(status::ILLEGAL_PARAMETER),
            _ => None,
        };
        self.bind_cq(cq_idx, depth, [8, 16])?;
        let doorbell = TX_DOORBELL_BASE + 4 * idx as u32;
        self.tx[idx] = Some(TxSq {
            cq: cq_idx,
            depth,
            base,
            llq: llq_window,
            doorbell,
            head: 0,
            meta_cache: TxMetaDesc::default(),
            last_completed: None,
            delayed: VecDeque::new(),
        });
        self.tx_list.push(idx as u16);
        self.tx_list.sort_unstable();
        Ok((
            idx as u16,
            doorbell,
            llq_window.map_or(0, |(_, off)| off as u32),
        ))
    }

    pub(super) fn create_rx_sq(
        &mut self,
        cq_idx: u16,
        depth: u32,
        base: u64,
    ) -> Result<(u16, u32, u32), u8> {
        let idx = self
            .rx
            .iter()
            .position(Option::is_none)
            .ok_or(status::RESOURCE_ALLOCATION_FAILURE)?;
        self.bind_cq(cq_idx, depth, [16, 32])?;
        let doorbell = RX_DOORBELL_BASE + 4 * idx as u32;
        self.rx[idx] = Some(RxSq {
            cq: cq_idx,
            depth,
            base,
            doorbell,
            head: 0,
        });
        self.rx_list.push(idx as u16);
        self.rx_list.sort_unstable();
        Ok((idx as u16, doorbell, 0))
    }

    pub(super) fn destroy_tx_sq(&mut self, idx: u16) -> Result<(), u8> {
        let sq = self
            .tx
            .get_mut(idx as usize)
            .and_then(Option::take)
            .ok_or(status::ILLEGAL_PARAMETER)?;
        self.unbind_cq(sq.cq);
        self.tx_list.retain(|&i| i != idx);
        Ok(())
    }

    pub(super) fn destroy_rx_sq(&mut self, idx: u16) -> Result<(), u8> {
        let sq = self
            .rx
            .get_mut(idx as usize)
            .and_then(Option::take)
            .ok_or(status::ILLEGAL_PARAMETER)?;
        self.unbind_cq(sq.cq);
        self.rx_list.retain(|&i| i != idx);
        Ok(())
    }
}

/// Why a TX chain could not be turned into a frame.
enum ChainError {
    /// The chain is not complete yet (the doorbell stopped in the middle of it).
    Incomplete,
    /// The chain is malformed; `used` slots/entries are consumed, `req_id` completed if known.
    Malformed {
        used: u16,
        req_id: Option<u16>,
        what: String,
    },
}

/// A parsed TX chain.
struct Chain {
    /// Slots (host) or entries (LLQ) used.
    used: u16,
    req_id: u16,
    data0: TxDesc,
    meta: Option<TxMetaDesc>,
    len: usize,
    /// Bytes pushed inline (LLQ).
    pushed: usize,
}

impl Device {
    pub(super) fn io_poll(&mut self) -> bool {
        let mut work = false;
        for i in 0..self.io.tx_list.len() {
            let idx = self.io.tx_list[i];
            work |= self.tx_poll(idx);
        }
        if !self.io.rx_list.is_empty() && self.link_up {
            work |= self.rx_poll();
        }
        work
    }

    /// Time-driven IO work: delayed TX completions.
    pub(super) fn io_tick(&mut self) -> bool {
        let mut work = false;
        for i in 0..self.io.tx_list.len() {
            let idx = self.io.tx_list[i] as usize;
            while let Some(sq) = self.io.tx[idx].as_mut() {
                let held = self
                    .active
                    .tx_delay
                    .is_some_and(|(q, _)| q.is_none_or(|q| q as usize == idx));
                match sq.delayed.front() {
                    Some((due, _)) if !held || *due <= self.now => {}
                    _ => break,
                }
                let Some((_, cdesc)) = sq.delayed.pop_front() else {
                    break;
                };
                let cq = sq.cq;
                self.write_tx_cdesc(cq, cdesc);
                work = true;
            }
        }
        work
    }

    // ----- TX -----

    fn tx_poll(&mut self, idx: u16) -> bool {
        let Some(sq) = self.io.tx[idx as usize].as_mut() else {
            return false;
        };
        let db = self.bar0.read32(sq.doorbell) as u16;
        if db == sq.head {
            return false;
        }
        // The LLQ burst limit (LIMIT_TX_BURST) cannot be checked here: a polling model sees only
        // the latest doorbell value, so two quick doorbells look like one large burst.
        let mut work = false;
        while let Some(sq) = self.io.tx[idx as usize].as_ref() {
            let avail = db.wrapping_sub(sq.head);
            if avail == 0 {
                break;
            }
            if avail as u32 > sq.depth {
                let what = format!(
                    "TX SQ {idx}: doorbell {db} is {avail} ahead of head {} (depth {})",
                    sq.head, sq.depth
                );
                self.malformed(what);
                // Nothing sane to do with an impossible doorbell: resynchronise to it.
                if let Some(sq) = self.io.tx[idx as usize].as_mut() {
                    sq.head = db;
                }
                break;
            }
            let parsed = if sq.llq.is_some() {
                self.tx_parse_llq(idx, avail)
            } else {
                self.tx_parse_host(idx, avail)
            };
            work = true;
            match parsed {
                Ok(chain) => self.tx_send(idx, chain),
                Err(ChainError::Incomplete) => break,
                Err(ChainError::Malformed { used, req_id, what }) => {
                    self.counters.tx_malformed += 1;
                    self.lifetime.tx_malformed += 1;
                    self.counters.tx_drops += 1;
                    self.lifetime.tx_drops += 1;
                    self.malformed(format!("TX SQ {idx}: {what}"));
                    self.tx_finish(idx, used, req_id);
                }
            }
        }
        if work {
            self.dirty_stats = true;
        }
        work
    }

    /// Reads the chain at the SQ head of a host-memory ring.
    fn tx_parse_host(&mut self, idx: u16, avail: u16) -> Result<Chain, ChainError> {
        let Some(sq) = self.io.tx[idx as usize].as_ref() else {
            return Err(ChainError::Incomplete);
        };
        let (base, depth, head) = (sq.base, sq.depth, sq.head);
        let max_descs = self.cfg.max_tx_descs_per_packet.max(2);
        let mut meta = None;
        let mut data0: Option<TxDesc> = None;
        let mut len = 0usize;
        let mut k: u16 = 0;
        loop {
            if k >= avail {
                return Err(ChainError::Incomplete);
            }
            if k >= max_descs {
                return Err(ChainError::Malformed {
                    used: k,
                    req_id: data0.map(|d| d.req_id()),
                    what: format!("chain longer than {max_descs} descriptors"),
                });
            }
            let pos = head.wrapping_add(k);
            let addr = base + (pos as u32 & (depth - 1)) as u64 * 16;
            let desc: TxDesc = match self.dma.read_obj(addr) {
                Ok(d) => d,
                Err(e) => {
                    self.dma_miss(e);
                    return Err(ChainError::Malformed {
                        used: k + 1,
                        req_id: None,
                        what: "ring not reachable".into(),
                    });
                }
            };
            let phase = (pos as u32 / depth) & 1 == 0;
            k += 1;
            if desc.phase() != phase {
                return Err(ChainError::Malformed {
                    used: k,
                    req_id: data0.map(|d| d.req_id()),
                    what: format!(
                        "descriptor at {pos} has phase {} (expected {phase})",
                        desc.phase()
                    ),
                });
            }
            if desc.meta_desc() {
                if k != 1 || !desc.first() {
                    return Err(ChainError::Malformed {
                        used: k,
                        req_id: None,
                        what: "meta descriptor inside a chain".into(),
                    });
                }
                meta = TxMetaDesc::read_from_bytes(desc.as_bytes()).ok();
                continue;
            }
            if data0.is_none() {
                if desc.first() == meta.is_some() {
                    return Err(ChainError::Malformed {
                        used: k,
                        req_id: Some(desc.req_id()),
                        what: "first flag misplaced".into(),
                    });
                }
                data0 = Some(desc);
            } else if desc.first() {
                return Err(ChainError::Malformed {
                    used: k,
                    req_id: data0.map(|d| d.req_id()),
                    what: "first flag mid-chain".into(),
                });
            }
            let off = len;
            len += desc.length() as usize;
            if len > self.io.scratch.len() {
                return Err(ChainError::Malformed {
                    used: k,
                    req_id: data0.map(|d| d.req_id()),
                    what: "packet too long".into(),
                });
            }
            if let Err(e) = self
                .dma
                .read(desc.buff_addr(), &mut self.io.scratch[off..len])
            {
                self.dma_miss(e);
                // Keep walking to the end of the chain so the whole packet is consumed.
                let rest = self.tx_skip_to_last(base, depth, head.wrapping_add(k), avail - k);
                return Err(ChainError::Malformed {
                    used: k + rest,
                    req_id: data0.map(|d| d.req_id()),
                    what: format!("buffer {:#x} not reachable", desc.buff_addr()),
                });
            }
            if desc.last() {
                let d0 = data0.unwrap_or(desc);
                return Ok(Chain {
                    used: k,
                    req_id: d0.req_id(),
                    data0: d0,
                    meta,
                    len,
                    pushed: 0,
                });
            }
        }
    }

    /// Counts descriptors up to and including the next `last` (bounded by `avail`).
    fn tx_skip_to_last(&mut self, base: u64, depth: u32, from: u16, avail: u16) -> u16 {
        for k in 0..avail {
            let pos = from.wrapping_add(k);
            let addr = base + (pos as u32 & (depth - 1)) as u64 * 16;
            match self.dma.read_obj::<TxDesc>(addr) {
                Ok(d) if !d.last() => continue,
                _ => return k + 1,
            }
        }
        avail
    }

    /// Reads the chain at the SQ head of an LLQ (entries in BAR2).
    fn tx_parse_llq(&mut self, idx: u16, avail: u16) -> Result<Chain, ChainError> {
        let Some(sq) = self.io.tx[idx as usize].as_ref() else {
            return Err(ChainError::Incomplete);
        };
        let Some((l, window)) = sq.llq else {
            return Err(ChainError::Incomplete);
        };
        let (depth, head) = (sq.depth, sq.head);
        let Some(bar2) = self.bar2.clone() else {
            return Err(ChainError::Malformed {
                used: avail,
                req_id: None,
                what: "LLQ without BAR2".into(),
            });
        };
        let max_descs = self.cfg.max_tx_descs_per_packet.max(2) as usize;
        let mut meta = None;
        let mut data0: Option<TxDesc> = None;
        let mut len = 0usize;
        let mut pushed = 0usize;
        let mut descs = 0usize;
        let mut entry: u16 = 0;
        loop {
            if entry >= avail {
                return Err(ChainError::Incomplete);
            }
            let pos = head.wrapping_add(entry);
            let phase = (pos as u32 / depth) & 1 == 0;
            let off = window + (pos as u32 & (depth - 1)) as usize * l.entry_size;
            let buf = &mut self.io.llq_entry[..l.entry_size];
            if !bar2.read_bytes(off, buf) {
                return Err(ChainError::Malformed {
                    used: entry + 1,
                    req_id: None,
                    what: "LLQ entry outside BAR2".into(),
                });
            }
            entry += 1;
            let slots = if entry == 1 {
                l.descs_before_header
            } else {
                l.descs_per_entry
            };
            for s in 0..slots {
                let desc = TxDesc::read_from_bytes(&self.io.llq_entry[s * 16..s * 16 + 16])
                    .unwrap_or_default();
                descs += 1;
                let req = data0.map(|d| d.req_id());
                if desc.phase() != phase {
                    return Err(ChainError::Malformed {
                        used: entry,
                        req_id: req,
                        what: format!(
                            "LLQ entry {pos} slot {s} has phase {} (expected {phase})",
                            desc.phase()
                        ),
                    });
                }
                if descs > max_descs {
                    return Err(ChainError::Malformed {
                        used: entry,
                        req_id: req,
                        what: "LLQ chain too long".into(),
                    });
                }
                if desc.meta_desc() {
                    if descs != 1 || !desc.first() {
                        return Err(ChainError::Malformed {
                            used: entry,
                            req_id: req,
                            what: "meta descriptor inside a chain".into(),
                        });
                    }
                    meta = TxMetaDesc::read_from_bytes(desc.as_bytes()).ok();
                    continue;
                }
                if data0.is_none() {
                    if desc.first() == meta.is_some() {
                        return Err(ChainError::Malformed {
                            used: entry,
                            req_id: Some(desc.req_id()),
                            what: "first flag misplaced".into(),
                        });
                    }
                    // The pushed header sits after the leading descriptors of the first entry.
                    pushed = desc.header_length() as usize;
                    if pushed > l.max_header() {
                        return Err(ChainError::Malformed {
                            used: entry,
                            req_id: Some(desc.req_id()),
                            what: format!(
                                "header_length {pushed} exceeds the {} bytes an entry holds",
                                l.max_header()
                            ),
                        });
                    }
                    let hdr_at = l.descs_before_header * 16;
                    self.io.scratch[..pushed]
                        .copy_from_slice(&self.io.llq_entry[hdr_at..hdr_at + pushed]);
                    len = pushed;
                    data0 = Some(desc);
                } else if desc.first() {
                    return Err(ChainError::Malformed {
                        used: entry,
                        req_id: req,
                        what: "first flag mid-chain".into(),
                    });
                }
                let n = desc.length() as usize;
                if n > 0 {
                    if len + n > self.io.scratch.len() {
                        return Err(ChainError::Malformed {
                            used: entry,
                            req_id: req,
                            what: "packet too long".into(),
                        });
                    }
                    if let Err(e) = self
                        .dma
                        .read(desc.buff_addr(), &mut self.io.scratch[len..len + n])
                    {
                        self.dma_miss(e);
                        return Err(ChainError::Malformed {
                            used: entry,
                            req_id: data0.map(|d| d.req_id()),
                            what: format!("buffer {:#x} not reachable", desc.buff_addr()),
                        });
                    }
                    len += n;
                }
                if desc.last() {
                    let d0 = data0.unwrap_or(desc);
                    return Ok(Chain {
                        used: entry,
                        req_id: d0.req_id(),
                        data0: d0,
                        meta,
                        len,
                        pushed,
                    });
                }
            }
        }
    }

    /// Applies offloads and checks to a gathered frame, puts it on the wire, completes it.
    fn tx_send(&mut self, idx: u16, chain: Chain) {
        let d0 = chain.data0;
        let llq = self.io.tx[idx as usize].as_ref().and_then(|s| s.llq);
        // Meta descriptors update the queue's cache; offloaded packets without one use the cache.
        let meta = {
            let Some(sq) = self.io.tx[idx as usize].as_mut() else {
                return;
            };
            if let Some(m) = chain.meta {
                if m.meta_store() {
                    sq.meta_cache = m;
                }
            }
            chain.meta.unwrap_or(sq.meta_cache)
        };
        if let Some((l, _)) = llq {
            if l.accel_flags & ena_hw::llq::ACCEL_DISABLE_META_CACHING != 0 && chain.meta.is_none()
            {
                self.malformed(format!(
                    "TX SQ {idx}: no meta descriptor although meta caching is disabled"
                ));
            }
        }
        let frame_len = chain.len;
        let mut ok = true;
        let offload = d0.l3_csum_en() || d0.l4_csum_en() || d0.tso_en();
        let partly_pushed = llq.is_some() && frame_len > chain.pushed;
        // The protocol headers matter only to offloads and to an LLQ packet not wholly pushed;
        // otherwise the MTU check needs just the Ethernet header's length.
        let info = (offload || partly_pushed).then(|| csum::parse(&self.io.scratch[..frame_len]));
        let l2_len = match &info {
            Some(i) => i.l2_len,
            None => csum::l2_len(&self.io.scratch[..frame_len]),
        };
        let headers_len = info.as_ref().map_or(0, |i| i.headers_len());
        // LLQ: the device drops packets whose protocol headers were not pushed (spec §7.4).
        if partly_pushed && headers_len > chain.pushed {
            ok = false;
        }
        // MTU: the L3 length must fit (for TSO, each segment's).
        let l3_limit = l2_len + self.feat.mtu as usize;
        let too_long = if d0.tso_en() {
            headers_len + meta.mss() as usize > l3_limit
        } else {
            frame_len > l3_limit
        };
        if too_long {
            ok = false;
        }
        let req = TxOffloadRequest {
            l3_csum: d0.l3_csum_en(),
            l4_csum: d0.l4_csum_en(),
            l4_partial: d0.l4_csum_partial(),
            l3_proto_idx: d0.l3_proto_idx(),
            l4_proto_idx: d0.l4_proto_idx(),
            tso: d0.tso_en(),
            mss: meta.mss(),
            // A queue's cache starts zeroed (no valid metadata): the engine then relies on its own
            // parse of the headers.
            meta: meta.ext_valid().then(|| TxMeta {
                l3_hdr_off: meta.l3_hdr_off(),
                l3_hdr_len: meta.l3_hdr_len(),
                l4_hdr_len_words: meta.l4_hdr_len_in_words(),
            }),
        };
        if ok && !self.allowance_take() {
            self.counters.pps_allowance_exceeded += 1;
            self.lifetime.pps_allowance_exceeded += 1;
            ok = false;
        }
        let mut sent = 0u64;
        let mut bytes = 0u64;
        if ok {
            if d0.tso_en() {
                let wire = &mut self.wire;
                let mut dropped = false;
                let r = csum::tso_segments(
                    &self.io.scratch[..frame_len],
                    &req,
                    &mut self.io.tso_scratch,
                    &mut |seg| {
                        if wire.transmit(seg) {
                            sent += 1;
                            bytes += seg.len() as u64;
                        } else {
                            dropped = true;
                        }
                        true
                    },
                );
                if r.is_err() {
                    self.counters.tx_offload_errors += 1;
                    self.lifetime.tx_offload_errors += 1;
                    ok = false;
                } else if dropped {
                    self.counters.tx_drops += 1;
                    self.lifetime.tx_drops += 1;
                }
            } else {
                if offload
                    && csum::apply_tx_offloads(&mut self.io.scratch[..frame_len], &req).is_err()
                {
                    // A request that does not match the packet leaves it untouched; the frame
                    // still goes out (as real NICs do) and the mismatch is counted.
                    self.counters.tx_offload_errors += 1;
                    self.lifetime.tx_offload_errors += 1;
                }
                if self.wire.transmit(&self.io.scratch[..frame_len]) {
                    sent = 1;
                    bytes = frame_len as u64;
                } else {
                    ok = false;
                }
            }
        }
        if !ok {
            self.counters.tx_drops += 1;
            self.lifetime.tx_drops += 1;
        }
        self.counters.tx_pkts += sent;
        self.counters.tx_bytes += bytes;
        self.lifetime.tx_pkts += sent;
        self.lifetime.tx_bytes += bytes;
        if let Some(q) = self.txq_counters.get_mut(idx as usize) {
            q.pkts += sent;
            q.bytes += bytes;
        }
        self.tx_finish(idx, chain.used, Some(chain.req_id));
    }

    /// Consumes `used` slots and writes the packet's completion (subject to faults).
    fn tx_finish(&mut self, idx: u16, used: u16, req_id: Option<u16>) {
        let Some(sq) = self.io.tx[idx as usize].as_mut() else {
            return;
        };
        sq.head = sq.head.wrapping_add(used);
        let Some(mut req_id) = req_id else { return };
        let mut cdesc = TxCdesc {
            req_id,
            status: 0,
            flags: 0,
            sub_qid: 0,
            sq_head_idx: sq.head,
        };
        let mut wrong_phase = false;
        if self.active.io_armed {
            let a = &mut self.active;
            if a.tx_drop_completion.hit(idx) {
                return;
            }
            if a.tx_bad_req_id.hit(idx) {
                req_id = sq.depth as u16 | 0x8000;
            } else if a.tx_stale_req_id.hit(idx) {
                // The previous packet's id: in range, already completed, no longer in flight.
                req_id = sq
                    .last_completed
                    .unwrap_or((req_id + 1) & (sq.depth as u16 - 1));
            }
            if a.tx_mbz.hit(idx) {
                cdesc.set_mbz(1);
            }
            wrong_phase = a.tx_wrong_phase.hit(idx);
            cdesc.req_id = req_id;
            if let Some((q, delay)) = a.tx_delay {
                if q.is_none_or(|q| q == idx) {
                    sq.delayed.push_back((self.now + delay, cdesc));
                    self.active.rearm();
                    return;
                }
            }
            self.active.rearm();
        }
        sq.last_completed = Some(cdesc.req_id);
        let cq = sq.cq;
        if wrong_phase {
            self.write_tx_cdesc_phase(cq, cdesc, true);
        } else {
            self.write_tx_cdesc(cq, cdesc);
        }
    }

    fn write_tx_cdesc(&mut self, cq: u16, cdesc: TxCdesc) {
        self.write_tx_cdesc_phase(cq, cdesc, false);
    }

    fn write_tx_cdesc_phase(&mut self, cq_idx: u16, mut cdesc: TxCdesc, invert: bool) {
        let Some(Some(cq)) = self.io.cqs.get_mut(cq_idx as usize) else {
            return;
        };
        let (addr, phase) = cq.next();
        let vector = cq.vector;
        cdesc.set_phase(phase != invert);
        // Word 1 first, then word 0 (req_id, status, and the flags byte with the phase bit,
        // which the driver polls) with one release store.
        let b = cdesc.as_bytes();
        let word0 = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let r = self
            .dma
            .write(addr + 4, &b[4..8])
            .and_then(|_| self.dma.store_u32_release(addr, word0));
        if let Err(e) = r {
            self.dma_miss(e);
        }
        self.raise_io(vector);
    }

    fn raise_io(&mut self, vector: u32) {
        if vector != MSIX_VECTOR_NONE {
            self.irq.raise(vector);
        }
    }

    /// EC2's PPS allowance, as a token bucket refilled from device time.
    fn allowance_take(&mut self) -> bool {
        let Some(pps) = self.cfg.pps_allowance else {
            return true;
        };
        let now = self.now;
        let elapsed = now.saturating_sub(self.io.allowance_at).as_secs_f64();
        self.io.allowance_at = now;
        let burst = (pps as f64 / 10.0).max(1.0);
        self.io.allowance_tokens = (self.io.allowance_tokens + elapsed * pps as f64).min(burst);
        if self.io.allowance_tokens >= 1.0 {
            self.io.allowance_tokens -= 1.0;
            true
        } else {
            false
        }
    }

    // ----- RX -----

    fn rx_poll(&mut self) -> bool {
        let mut work = false;
        for _ in 0..RX_BUDGET {
            // A held frame waits for buffers: while no RX queue has any posted, offering it
            // again would only repeat its classification (parse, hash, checksum) to hold it.
            if self.io.held.is_some() && !self.rx_any_posted() && self.wire.backpressure() {
                break;
            }
            let len = match self.io.held.take() {
                Some(len) => len,
                None => match self.wire.receive(&mut self.io.rx_frame) {
                    Some(n) => n,
                    None => break,
                },
            };
            work = true;
            if !self.rx_deliver(len) {
                // Lossless wire and no room: offer the same frame again on the next poll.
                self.io.held = Some(len);
                break;
            }
        }
        if work {
            self.dirty_stats = true;
        }
        work
    }

    /// Whether any RX SQ has a buffer posted that the device has not used yet.
    fn rx_any_posted(&self) -> bool {
        self.io.rx_list.iter().any(|&i| {
            self.io.rx[i as usize]
                .as_ref()
                .is_some_and(|sq| self.bar0.read32(sq.doorbell) as u16 != sq.head)
        })
    }

    /// Delivers the frame in `rx_frame[..len]`. Returns false only when the frame must be held
    /// (lossless wire, no buffer); every other outcome is delivered or dropped-and-counted.
    fn rx_deliver(&mut self, len: usize) -> bool {
        let frame = &self.io.rx_frame[..len];
        let info = csum::parse(frame);
        if len > info.l2_len + self.feat.mtu as usize {
            self.counters.rx_drops += 1;
            self.lifetime.rx_drops += 1;
            return true;
        }
        let steer = self.feat.rss.steer_parsed(frame, &info);
        let (hash, sq_idx) = match steer {
            Steer::Hashed { hash, rx_sq } if self.io.rx_exists(rx_sq) => (hash, rx_sq),
            Steer::Hashed { hash, .. } => (hash, self.default_rx_queue()),
            Steer::Default => (0, self.default_rx_queue()),
        };
        let rx_csum = csum::rx_checksum_parsed(frame, &info, self.cfg.rx_offloads);
        let Some(sq) = self.io.rx[sq_idx as usize].as_ref() else {
            self.counters.rx_drops += 1;
            self.lifetime.rx_drops += 1;
            return true;
        };
        let (base, depth, head, cq_idx, doorbell) =
            (sq.base, sq.depth, sq.head, sq.cq, sq.doorbell);
        let tail = self.bar0.read32(doorbell) as u16;
        let posted = tail.wrapping_sub(head);
        if posted as u32 > depth {
            self.malformed(format!(
                "RX SQ {sq_idx}: doorbell {tail} is {posted} ahead of head {head} (depth {depth})"
            ));
            if let Some(sq) = self.io.rx[sq_idx as usize].as_mut() {
                sq.head = tail;
            }
            self.counters.rx_drops += 1;
            self.lifetime.rx_drops += 1;
            return true;
        }
        // Find the buffers this frame needs (one RX descriptor per buffer).
        let offset = self.cfg.rx_offset as usize;
        let max_bufs = self.cfg.max_rx_descs_per_packet.max(1) as usize;
        let mut descs = [RxDesc::default(); 32];
        let mut need = 0usize;
        let mut room = 0usize;
        while room < len {
            if need >= max_bufs || need >= descs.len() {
                // Would take more buffers than a packet may use: the device drops it.
                self.counters.rx_drops += 1;
                self.lifetime.rx_drops += 1;
                return true;
            }
            if need >= posted as usize {
                if self.wire.backpressure() {
                    return false;
                }
                match self.cfg.rx_no_buffer_counter {
                    RxNoBufferCounter::Overruns => {
                        self.counters.rx_overruns += 1;
                        self.lifetime.rx_overruns += 1;
                    }
                    RxNoBufferCounter::Drops => {
                        self.counters.rx_drops += 1;
                        self.lifetime.rx_drops += 1;
                    }
                }
                return true;
            }
            let pos = head.wrapping_add(need as u16);
            let addr = base + (pos as u32 & (depth - 1)) as u64 * 16;
            let d: RxDesc = match self.dma.read_obj(addr) {
                Ok(d) => d,
                Err(e) => {
                    self.dma_miss(e);
                    self.counters.rx_drops += 1;
                    self.lifetime.rx_drops += 1;
                    return true;
                }
            };
            let phase = (pos as u32 / depth) & 1 == 0;
            if d.phase() != phase {
                self.malformed(format!(
                    "RX SQ {sq_idx}: descriptor at {pos} has phase {} (expected {phase})",
                    d.phase()
                ));
                self.counters.rx_drops += 1;
                self.lifetime.rx_drops += 1;
                return true;
            }
            let cap = d.buffer_len() as usize;
            let usable = if need == 0 {
                cap.saturating_sub(offset)
            } else {
                cap
            };
            descs[need] = d;
            need += 1;
            room += usable;
        }
        // Copy the frame into the buffers, then write one completion per buffer, status last.
        let mut done = 0usize;
        let mut lens = [0u16; 32];
        for (i, d) in descs[..need].iter().enumerate() {
            let start = if i == 0 { offset } else { 0 };
            let n = (d.buffer_len() as usize - start).min(len - done);
            if let Err(e) = self.dma.write(
                d.buff_addr() + start as u64,
                &self.io.rx_frame[done..done + n],
            ) {
                self.dma_miss(e);
            }
            lens[i] = n as u16;
            done += n;
        }
        if let Some(sq) = self.io.rx[sq_idx as usize].as_mut() {
            sq.head = head.wrapping_add(need as u16);
        }
        let Some(Some(cq)) = self.io.cqs.get_mut(cq_idx as usize) else {
            return true;
        };
        let vector = cq.vector;
        let faults = self.active.io_armed;
        for i in 0..need {
            let (addr, phase) = cq.next();
            let mut c = RxCdesc {
                status: 0,
                length: lens[i],
                req_id: descs[i].req_id,
                hash,
                sub_qid: 0,
                offset: 0,
                reserved: 0,
            };
            c.set_phase(phase);
            c.set_buffer(true);
            if i == 0 {
                c.set_first(true);
                c.offset = offset as u8;
            }
            if i == need - 1 {
                c.set_last(true);
                rx_csum.apply(&mut c);
            }
            if faults {
                let a = &mut self.active;
                if a.rx_bad_req_id.hit(sq_idx) {
                    c.req_id = depth as u16 | 0x8000;
                }
                if a.rx_bad_length.hit(sq_idx) {
                    c.length = u16::MAX;
                }
                if a.rx_mbz.hit(sq_idx) {
                    c.set_mbz17(true);
                }
                if i == need - 1 && a.rx_missing_last.hit(sq_idx) {
                    c.set_last(false);
                }
                a.rearm();
            }
            let b = c.as_bytes();
            let r = self
                .dma
                .write(addr + 4, &b[4..])
                .and_then(|_| self.dma.store_u32_release(addr, c.status));
            if let Err(e) = r {
                self.counters.dma_misses += 1;
                self.lifetime.dma_misses += 1;
                tracing::error!(target: "ena_sim", "{e}");
            }
        }
        self.raise_io(vector);
        self.counters.rx_pkts += 1;
        self.counters.rx_bytes += len as u64;
        self.lifetime.rx_pkts += 1;
        self.lifetime.rx_bytes += len as u64;
        if let Some(q) = self.rxq_counters.get_mut(sq_idx as usize) {
            q.pkts += 1;
            q.bytes += len as u64;
        }
        true
    }

    /// Where unhashed traffic goes: RX SQ 0 if it exists, else the lowest existing one.
    fn default_rx_queue(&self) -> u16 {
        self.io.rx_list.first().copied().unwrap_or(0)
    }
}
