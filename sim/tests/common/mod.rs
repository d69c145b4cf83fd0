//! A test-side host: the smallest driver that speaks the ENA protocol, used to exercise the
//! device model directly (our real driver lives in `driver/`). It reaches memory only through
//! the same safe `Dma` accessor the device uses, so tests need no `unsafe`.

#![allow(dead_code)]

use ena_hw::admin::*;
use ena_hw::aenq::AenqEntry;
use ena_hw::io::{RxCdesc, RxDesc, TxCdesc, TxDesc, TxMetaDesc};
use ena_hw::regs::{off, DevCtl, DevSts, MmioRegReadReq, QueueCaps};
use ena_hw::MemAddr;
use ena_sim::bar::BarMemory;
use ena_sim::config::DeviceConfig;
use ena_sim::dma::{Dma, DmaSpace};
use ena_sim::transport::inproc::{ClockChoice, SimDevice};
use ena_sim::wire::Wire;
use std::sync::Arc;
use zerocopy::{FromBytes, IntoBytes};

/// Allocates device-reachable memory: returns its device address.
pub type Alloc = Box<dyn FnMut(usize, usize) -> u64>;
/// Lets the device run (manual stepping, or a short wait for a threaded device).
pub type Step = Box<dyn FnMut()>;

pub struct TestHost {
    pub bar0: BarMemory,
    pub bar2: Option<BarMemory>,
    pub mem: Dma,
    alloc: Alloc,
    step: Step,
    pub readless: bool,
    mmio_seq: u16,
    mmio_resp: u64,
    aq: u64,
    acq: u64,
    aq_tail: u16,
    acq_head: u16,
    cmd_id: u16,
    aenq: u64,
    aenq_head: u16,
}

pub use ena_hw::admin::AQ_DEPTH;
pub const AENQ_DEPTH: u16 = 16;

/// An in-process device in manual mode on a manual clock, and a host attached to it.
pub fn manual(cfg: DeviceConfig, wire: Box<dyn Wire>) -> (SimDevice, TestHost) {
    let clock = ena_sim::clock::ManualClock::new();
    let sim = SimDevice::new(cfg, wire, ClockChoice::Manual(clock)).expect("sim device");
    let host = TestHost::in_process(&sim);
    (sim, host)
}

impl TestHost {
    pub fn in_process(sim: &SimDevice) -> Self {
        let dma = sim.dma.clone();
        let space: Arc<dyn DmaSpace> = dma.clone();
        let s = sim.clone();
        Self::new(
            sim.bar0.clone(),
            sim.bar2.clone(),
            space,
            Box::new(move |len, align| dma.alloc(len, align).expect("dma alloc").iova()),
            Box::new(move || {
                s.run_until_idle();
            }),
        )
    }

    pub fn new(
        bar0: BarMemory,
        bar2: Option<BarMemory>,
        space: Arc<dyn DmaSpace>,
        alloc: Alloc,
        step: Step,
    ) -> Self {
        let mut h = Self {
            bar0,
            bar2,
            mem: Dma::new(space),
            alloc,
            step,
            readless: true,
            mmio_seq: 0,
            mmio_resp: 0,
            aq: 0,
            acq: 0,
            aq_tail: 0,
            acq_head: 0,
            cmd_id: 0,
            aenq: 0,
            aenq_head: AENQ_DEPTH,
        };
        h.mmio_resp = h.alloc(8, 8);
        h.program_mmio_resp();
        h
    }

    pub fn alloc(&mut self, len: usize, align: usize) -> u64 {
        (self.alloc)(len, align)
    }

    pub fn step(&mut self) {
        (self.step)()
    }

    pub fn program_mmio_resp(&mut self) {
        self.bar0.write32(off::MMIO_RESP_LO, self.mmio_resp as u32);
        self.bar0
            .write32(off::MMIO_RESP_HI, (self.mmio_resp >> 32) as u32);
    }

    /// A register read: readless (DMA answer) or a plain load.
    pub fn read_reg(&mut self, offset: u32) -> u32 {
        if !self.readless {
            self.step();
            return self.bar0.read32(offset);
        }
        self.mmio_seq = self.mmio_seq.wrapping_add(1);
        let seq = self.mmio_seq;
        self.mem
            .write(self.mmio_resp, &seq.wrapping_add(0xdead).to_le_bytes())
            .unwrap();
        self.bar0.write32(
            off::MMIO_REG_READ,
            MmioRegReadReq::new(offset as u16, seq).0,
        );
        for _ in 0..10_000 {
            self.step();
            let id = self.mem.load_u16_acquire(self.mmio_resp).unwrap();
            if id == seq {
                let mut b = [0u8; 8];
                self.mem.read(self.mmio_resp, &mut b).unwrap();
                assert_eq!(
                    u16::from_le_bytes([b[2], b[3]]) as u32,
                    offset,
                    "readless echo of the offset"
                );
                return u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
            }
            std::thread::yield_now();
        }
        panic!("readless read of {offset:#x} timed out");
    }

    /// The two-phase reset of spec §3.3.
    pub fn reset(&mut self, reason: u8) {
        let sts = DevSts(self.read_reg(off::DEV_STS));
        assert!(sts.ready(), "device not ready before reset");
        let mut ctl = DevCtl(0);
        ctl.set_dev_reset(true);
        ctl.set_reset_reason(reason & 0xf);
        ctl.set_reset_reason_ext(reason >> 4);
        self.bar0.write32(off::DEV_CTL, ctl.0);
        self.program_mmio_resp();
        self.wait_sts(|s| s.reset_in_progress());
        self.bar0.write32(off::DEV_CTL, 0);
        self.wait_sts(|s| !s.reset_in_progress());
        self.aq_tail = 0;
        self.acq_head = 0;
        self.cmd_id = 0;
        self.aenq_head = AENQ_DEPTH;
    }

    fn wait_sts(&mut self, f: impl Fn(DevSts) -> bool) {
        for _ in 0..1000 {
            if f(DevSts(self.read_reg(off::DEV_STS))) {
                return;
            }
        }
        panic!("DEV_STS never reached the expected state");
    }

    /// Admin queue and AENQ set-up (spec §3.4 step 7), polling mode.
    pub fn init_admin(&mut self) {
        self.aq = self.alloc(AQ_DEPTH as usize * 64, 4096);
        self.acq = self.alloc(AQ_DEPTH as usize * 64, 4096);
        self.aenq = self.alloc(AENQ_DEPTH as usize * 64, 4096);
        self.bar0.write32(off::AQ_BASE_LO, self.aq as u32);
        self.bar0.write32(off::AQ_BASE_HI, (self.aq >> 32) as u32);
        self.bar0.write32(off::ACQ_BASE_LO, self.acq as u32);
        self.bar0.write32(off::ACQ_BASE_HI, (self.acq >> 32) as u32);
        self.bar0
            .write32(off::AQ_CAPS, QueueCaps::new(AQ_DEPTH, 64).0);
        self.bar0
            .write32(off::ACQ_CAPS, QueueCaps::new(AQ_DEPTH, 64).0);
        self.bar0.write32(off::AENQ_BASE_LO, self.aenq as u32);
        self.bar0
            .write32(off::AENQ_BASE_HI, (self.aenq >> 32) as u32);
        self.bar0
            .write32(off::AENQ_CAPS, QueueCaps::new(AENQ_DEPTH, 64).0);
        self.bar0.write32(off::INTR_MASK, 1);
        self.aq_tail = 0;
        self.acq_head = 0;
    }

    /// Writes a command (its own size only) into the next slot and rings the doorbell.
    pub fn submit_raw(&mut self, cmd: &[u8]) -> u16 {
        assert!(cmd.len() <= 64);
        let mut bytes = cmd.to_vec();
        let phase = (self.aq_tail / AQ_DEPTH).is_multiple_of(2);
        let id = self.cmd_id;
        let mut common = AqCommonDesc::read_from_prefix(&bytes).unwrap().0;
        common.set_cmd_id(id);
        common.set_phase(phase);
        bytes[..4].copy_from_slice(common.as_bytes());
        let slot = self.aq_tail & (AQ_DEPTH - 1);
        self.mem.write(self.aq + slot as u64 * 64, &bytes).unwrap();
        self.cmd_id = (self.cmd_id + 1) & 0xfff;
        self.aq_tail = self.aq_tail.wrapping_add(1);
        self.bar0.write32(off::AQ_DB, self.aq_tail as u32);
        id
    }

    /// The next admin completion, if the device wrote one.
    pub fn poll_acq(&mut self) -> Option<AcqEntry> {
        let slot = self.acq_head & (AQ_DEPTH - 1);
        let addr = self.acq + slot as u64 * 64;
        let phase = (self.acq_head / AQ_DEPTH).is_multiple_of(2);
        let flags = self.mem.load_u32_acquire(addr).unwrap() >> 24;
        if (flags & 1 == 1) != phase {
            return None;
        }
        let e: AcqEntry = self.mem.read_obj(addr).unwrap();
        self.acq_head = self.acq_head.wrapping_add(1);
        Some(e)
    }

    /// Submits and waits for the completion.
    pub fn admin(&mut self, cmd: &[u8]) -> AcqEntry {
        let id = self.submit_raw(cmd);
        for _ in 0..10_000 {
            self.step();
            if let Some(e) = self.poll_acq() {
                assert_eq!(e.common.cmd_id(), id, "completion for another command");
                return e;
            }
            std::thread::yield_now();
        }
        panic!("admin command timed out");
    }

    pub fn get_feature(&mut self, id: u8, version: u8, buf: Option<(u64, u32)>) -> AcqEntry {
        let mut cmd = FeatureCmd::default();
        cmd.common.opcode = opcode::GET_FEATURE;
        if let Some((addr, len)) = buf {
            cmd.common.set_ctrl_data_indirect(true);
            cmd.control_buffer = CtrlBuffInfo {
                length: len,
                address: MemAddr::new(addr),
            };
        }
        cmd.feat_common.feature_id = id;
        cmd.feat_common.feature_version = version;
        self.admin(cmd.as_bytes())
    }

    pub fn set_feature(&mut self, id: u8, payload: &[u8], buf: Option<(u64, u32)>) -> AcqEntry {
        let mut cmd = FeatureCmd::default();
        cmd.common.opcode = opcode::SET_FEATURE;
        if let Some((addr, len)) = buf {
            cmd.common.set_ctrl_data_indirect(true);
            cmd.control_buffer = CtrlBuffInfo {
                length: len,
                address: MemAddr::new(addr),
            };
        }
        cmd.feat_common.feature_id = id;
        cmd.payload[..payload.len()].copy_from_slice(payload);
        self.admin(cmd.as_bytes())
    }

    /// Sends host info, enables AENQ groups and writes the head doorbell.
    pub fn enable_aenq(&mut self, groups: u32) {
        let page = self.alloc(4096, 4096);
        let mut info = HostInfo {
            os_type: os_type::LINUX,
            ena_spec_version: ENA_SPEC_VERSION,
            ..HostInfo::default()
        };
        info.driver_version = 0x0001_0000;
        self.mem.write_obj(page, &info).unwrap();
        let attr = HostAttrFeature {
            os_info_ba: MemAddr::new(page),
            ..Default::default()
        };
        assert_eq!(
            self.set_feature(feature::HOST_ATTR_CONFIG, attr.as_bytes(), None)
                .common
                .status,
            0
        );
        let cfg = AenqConfigFeature {
            supported_groups: 0,
            enabled_groups: groups,
        };
        assert_eq!(
            self.set_feature(feature::AENQ_CONFIG, cfg.as_bytes(), None)
                .common
                .status,
            0
        );
        self.aenq_head = AENQ_DEPTH;
        self.bar0.write32(off::AENQ_HEAD_DB, self.aenq_head as u32);
        self.step();
    }

    /// Consumes AENQ entries and acknowledges them with the head doorbell.
    pub fn poll_aenq(&mut self) -> Vec<AenqEntry> {
        let mut out = Vec::new();
        let mut consumed = self.aenq_head.wrapping_sub(AENQ_DEPTH);
        loop {
            let slot = consumed & (AENQ_DEPTH - 1);
            let addr = self.aenq + slot as u64 * 64;
            let phase = (consumed / AENQ_DEPTH).is_multiple_of(2);
            let mut flags = [0u8; 1];
            self.mem.read(addr + 4, &mut flags).unwrap();
            if (flags[0] & 1 == 1) != phase {
                break;
            }
            out.push(self.mem.read_obj(addr).unwrap());
            consumed = consumed.wrapping_add(1);
        }
        if !out.is_empty() {
            self.aenq_head = self.aenq_head.wrapping_add(out.len() as u16);
            self.bar0.write32(off::AENQ_HEAD_DB, self.aenq_head as u32);
        }
        out
    }

    pub fn create_cq(&mut self, depth: u16, words: u8, vector: u32) -> (CreateCqResp, u64) {
        let ring = self.alloc(depth as usize * words as usize * 4, 4096);
        let mut cmd = CreateCqCmd::default();
        cmd.common.opcode = opcode::CREATE_CQ;
        cmd.set_interrupt_mode_enabled(true);
        cmd.set_entry_size_words(words);
        cmd.cq_depth = depth;
        cmd.msix_vector = vector;
        cmd.cq_ba = MemAddr::new(ring);
        let e = self.admin(cmd.as_bytes());
        let mut resp = CreateCqResp::read_from_bytes(&e.as_bytes()[..24]).unwrap();
        resp.common = e.common;
        (resp, ring)
    }

    pub fn create_sq(
        &mut self,
        dir: u8,
        placement_policy: u8,
        cq_idx: u16,
        depth: u16,
        base: u64,
    ) -> CreateSqResp {
        let mut cmd = CreateSqCmd::default();
        cmd.common.opcode = opcode::CREATE_SQ;
        cmd.set_direction(dir);
        cmd.set_placement_policy(placement_policy);
        cmd.set_is_physically_contiguous(true);
        cmd.cq_idx = cq_idx;
        cmd.sq_depth = depth;
        cmd.sq_ba = MemAddr::new(base);
        let e = self.admin(cmd.as_bytes());
        let mut resp = CreateSqResp::read_from_bytes(&e.as_bytes()[..24]).unwrap();
        resp.common = e.common;
        resp
    }

    /// Brings the device up to the point where IO queues can be created.
    pub fn bring_up(&mut self, groups: u32) {
        self.reset(0);
        self.init_admin();
        self.enable_aenq(groups);
    }
}

/// One TX queue pair as the test drives it (host placement or LLQ).
pub struct TxRing {
    pub sq_idx: u16,
    pub cq_idx: u16,
    pub depth: u16,
    pub doorbell: u32,
    pub sq_base: u64,
    pub cq_base: u64,
    pub tail: u16,
    pub cq_head: u32,
    pub llq: Option<LlqRing>,
    pub bufs: u64,
    pub buf_size: usize,
}

pub struct LlqRing {
    pub offset: usize,
    pub entry_size: usize,
    pub descs_before_header: usize,
}

/// Offload request for one test packet.
#[derive(Clone, Copy, Default)]
pub struct TxOffload {
    pub l3_csum: bool,
    pub l4_csum: bool,
    pub l4_partial: bool,
    pub l3_proto: u8,
    pub l4_proto: u8,
    pub meta: Option<TxMetaDesc>,
    pub tso: bool,
}

impl TxRing {
    pub fn create(h: &mut TestHost, depth: u16, llq: Option<(usize, usize)>) -> Self {
        Self::create_with(h, depth, llq, 16384)
    }

    pub fn create_with(
        h: &mut TestHost,
        depth: u16,
        llq: Option<(usize, usize)>,
        buf_size: usize,
    ) -> Self {
        let (cq, cq_base) = h.create_cq(depth, 2, MSIX_VECTOR_NONE);
        assert_eq!(cq.common.status, 0, "CREATE_CQ");
        let (placement_policy, base) = match llq {
            Some(_) => (placement::DEVICE, 0),
            None => (placement::HOST, h.alloc(depth as usize * 16, 4096)),
        };
        let sq = h.create_sq(direction::TX, placement_policy, cq.cq_idx, depth, base);
        assert_eq!(sq.common.status, 0, "CREATE_SQ tx");
        let bufs = h.alloc(depth as usize * buf_size, 4096);
        Self {
            sq_idx: sq.sq_idx,
            cq_idx: cq.cq_idx,
            depth,
            doorbell: sq.sq_doorbell_offset,
            sq_base: base,
            cq_base,
            tail: 0,
            cq_head: 0,
            llq: llq.map(|(entry_size, dbh)| LlqRing {
                offset: sq.llq_descriptors_offset as usize,
                entry_size,
                descs_before_header: dbh,
            }),
            bufs,
            buf_size,
        }
    }

    fn phase_at(&self, pos: u16) -> bool {
        (pos as u32 / self.depth as u32) & 1 == 0
    }

    /// Queues one frame as `segs` buffers (host) or pushed header + buffers (LLQ). Rings nothing.
    pub fn queue(
        &mut self,
        h: &mut TestHost,
        req_id: u16,
        frame: &[u8],
        segs: usize,
        off: TxOffload,
        push: usize,
    ) {
        // Stage the payload bytes (after any pushed header) into this req_id's buffer area.
        let push = if self.llq.is_some() {
            push.min(frame.len())
        } else {
            0
        };
        let body = &frame[push..];
        let area = self.bufs + req_id as u64 * self.buf_size as u64;
        h.mem.write(area, body).unwrap();
        let segs = if body.is_empty() {
            0
        } else {
            segs.max(1).min(body.len())
        };
        let chunk = body.len().div_ceil(segs.max(1));
        let mut descs: Vec<[u8; 16]> = Vec::new();
        if let Some(m) = off.meta {
            let mut m = m;
            m.set_meta_desc(true);
            m.set_first(true);
            m.set_ext_valid(true);
            m.set_eth_meta_type(true);
            m.set_meta_store(true);
            descs.push(m.as_bytes().try_into().unwrap());
        }
        let nbufs = segs.max(1);
        for i in 0..nbufs {
            let mut d = TxDesc::default();
            let start = i * chunk;
            let len = if segs == 0 {
                0
            } else {
                chunk.min(body.len() - start)
            };
            d.set_length(len as u16);
            if len > 0 {
                d.set_buff_addr(area + start as u64);
            }
            if i == 0 {
                d.set_first(off.meta.is_none());
                d.set_comp_req(true);
                d.set_req_id(req_id);
                d.set_l3_csum_en(off.l3_csum);
                d.set_l4_csum_en(off.l4_csum);
                d.set_l4_csum_partial(off.l4_partial);
                d.set_l3_proto_idx(off.l3_proto);
                d.set_l4_proto_idx(off.l4_proto);
                d.set_tso_en(off.tso);
                d.set_header_length(push as u8);
            }
            d.set_last(i == nbufs - 1);
            descs.push(d.as_bytes().try_into().unwrap());
        }
        match &self.llq {
            None => {
                for mut d in descs {
                    let mut desc = TxDesc::read_from_bytes(&d).unwrap();
                    desc.set_phase(self.phase_at(self.tail));
                    d.copy_from_slice(desc.as_bytes());
                    let slot = self.tail & (self.depth - 1);
                    h.mem.write(self.sq_base + slot as u64 * 16, &d).unwrap();
                    self.tail = self.tail.wrapping_add(1);
                }
            }
            Some(l) => {
                let (entry_size, dbh, offset) = (l.entry_size, l.descs_before_header, l.offset);
                let per_entry = entry_size / 16;
                let mut it = descs.into_iter().peekable();
                let mut first = true;
                while it.peek().is_some() || first {
                    let mut entry = vec![0u8; entry_size];
                    let phase = self.phase_at(self.tail);
                    let slots = if first { dbh } else { per_entry };
                    for s in 0..slots {
                        let Some(d) = it.next() else { break };
                        let mut desc = TxDesc::read_from_bytes(&d).unwrap();
                        desc.set_phase(phase);
                        entry[s * 16..s * 16 + 16].copy_from_slice(desc.as_bytes());
                    }
                    if first {
                        entry[dbh * 16..dbh * 16 + push].copy_from_slice(&frame[..push]);
                    }
                    let slot = self.tail & (self.depth - 1);
                    let bar2 = h.bar2.as_ref().expect("bar2");
                    assert!(bar2.write_bytes(offset + slot as usize * entry_size, &entry));
                    self.tail = self.tail.wrapping_add(1);
                    first = false;
                }
            }
        }
    }

    pub fn ring(&self, h: &mut TestHost) {
        h.bar0.write32(self.doorbell, self.tail as u32);
    }

    /// Completions written so far.
    pub fn completions(&mut self, h: &mut TestHost) -> Vec<TxCdesc> {
        let mut out = Vec::new();
        loop {
            let slot = self.cq_head & (self.depth as u32 - 1);
            let addr = self.cq_base + slot as u64 * 8;
            let phase = (self.cq_head / self.depth as u32) & 1 == 0;
            let c: TxCdesc = h.mem.read_obj(addr).unwrap();
            if c.phase() != phase {
                break;
            }
            out.push(c);
            self.cq_head = self.cq_head.wrapping_add(1);
        }
        out
    }
}

/// One RX queue as the test drives it.
pub struct RxRing {
    pub sq_idx: u16,
    pub cq_idx: u16,
    pub depth: u16,
    pub doorbell: u32,
    pub sq_base: u64,
    pub cq_base: u64,
    pub tail: u16,
    pub cq_head: u32,
    pub bufs: u64,
    pub buf_size: usize,
}

/// A received packet: bytes and its completions.
pub struct RxPacket {
    pub data: Vec<u8>,
    pub cdescs: Vec<RxCdesc>,
}

impl RxPacket {
    pub fn last(&self) -> &RxCdesc {
        self.cdescs.last().unwrap()
    }
}

impl RxRing {
    pub fn create(h: &mut TestHost, depth: u16, buf_size: usize) -> Self {
        let (cq, cq_base) = h.create_cq(depth, 4, MSIX_VECTOR_NONE);
        assert_eq!(cq.common.status, 0, "CREATE_CQ rx");
        let base = h.alloc(depth as usize * 16, 4096);
        let sq = h.create_sq(direction::RX, placement::HOST, cq.cq_idx, depth, base);
        assert_eq!(sq.common.status, 0, "CREATE_SQ rx");
        let bufs = h.alloc(depth as usize * buf_size, 4096);
        Self {
            sq_idx: sq.sq_idx,
            cq_idx: cq.cq_idx,
            depth,
            doorbell: sq.sq_doorbell_offset,
            sq_base: base,
            cq_base,
            tail: 0,
            cq_head: 0,
            bufs,
            buf_size,
        }
    }

    /// Posts `n` buffers (req_id = slot index) and rings the doorbell.
    pub fn post(&mut self, h: &mut TestHost, n: u16) {
        for _ in 0..n {
            let slot = self.tail & (self.depth - 1);
            let mut d = RxDesc {
                length: self.buf_size as u16,
                ..Default::default()
            };
            d.set_phase((self.tail as u32 / self.depth as u32) & 1 == 0);
            d.set_first(true);
            d.set_last(true);
            d.set_comp_req(true);
            d.req_id = slot;
            d.set_buff_addr(self.bufs + slot as u64 * self.buf_size as u64);
            h.mem
                .write_obj(self.sq_base + slot as u64 * 16, &d)
                .unwrap();
            self.tail = self.tail.wrapping_add(1);
        }
        h.bar0.write32(self.doorbell, self.tail as u32);
    }

    /// Packets completed so far (whole packets only).
    pub fn receive(&mut self, h: &mut TestHost) -> Vec<RxPacket> {
        let mut out = Vec::new();
        let mut cur: Option<RxPacket> = None;
        loop {
            let slot = self.cq_head & (self.depth as u32 - 1);
            let addr = self.cq_base + slot as u64 * 16;
            let phase = (self.cq_head / self.depth as u32) & 1 == 0;
            let c: RxCdesc = h.mem.read_obj(addr).unwrap();
            if c.phase() != phase {
                break;
            }
            self.cq_head = self.cq_head.wrapping_add(1);
            let p = cur.get_or_insert_with(|| RxPacket {
                data: Vec::new(),
                cdescs: Vec::new(),
            });
            let buf = self.bufs + (c.req_id as u64 % self.depth as u64) * self.buf_size as u64;
            let start = if p.cdescs.is_empty() {
                c.offset as u64
            } else {
                0
            };
            let mut bytes = vec![0u8; (c.length as usize).min(self.buf_size)];
            h.mem.read(buf + start, &mut bytes).unwrap();
            p.data.extend_from_slice(&bytes);
            p.cdescs.push(c);
            if c.last() {
                out.extend(cur.take());
            }
        }
        out
    }
}

#[allow(unused_imports)]
pub use ena_sim::wire::Capture;

#[allow(unused_imports)]
pub use ena_sim::frames;

/// Sets up LLQ with `entry_size` bytes (128 or 256) and 2 descriptors before the header.
pub fn set_llq(h: &mut TestHost, entry_size: usize, accel: u16) -> u8 {
    use ena_hw::llq;
    let v = LlqFeature {
        header_location_ctrl_enabled: llq::HEADER_LOCATION_INLINE,
        entry_size_ctrl_enabled: if entry_size == 256 {
            llq::ENTRY_SIZE_256
        } else {
            llq::ENTRY_SIZE_128
        },
        desc_num_before_header_enabled: 2,
        descriptors_stride_ctrl_enabled: llq::STRIDE_MULTIPLE_DESCS_PER_ENTRY,
        accel_mode_flags: accel,
        ..Default::default()
    };
    h.set_feature(feature::LLQ, v.as_bytes(), None)
        .common
        .status
}
