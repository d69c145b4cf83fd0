//! `pcap:in=FILE,out=FILE`: the port cabled to capture files. Frames of the input capture arrive
//! at the port, in file order; every frame the port transmits is recorded to the output file
//! in the classic pcap format (magic `0xa1b2c3d4` in host byte order, version 2.4, microsecond
//! timestamps, snaplen 65535, link type 1 = Ethernet) that tcpdump, Wireshark and `pcap-file`
//! read.
//!
//! Options, separated by `,` or `:` (the spec splitter cuts at `:`, so both arrive here):
//! - `in=FILE`: replay `FILE` into RX, each frame once. Classic pcap (either byte order,
//!   micro- or nanosecond timestamps) and pcapng are read; every interface must be Ethernet.
//!   Records shorter than an Ethernet header or longer than the port takes ([`MAX_FRAME`]) are
//!   skipped and counted ([`PcapHandle::skipped`]); a record cut short by the capture's snaplen
//!   is replayed as captured. A file cut off in its last record is replayed up to that record.
//! - `loop`: replay the file over and over; `loop=N`: play it `N` times in all.
//! - `out=FILE`: record TX to `FILE` (created or truncated). Without `out=` transmitted frames
//!   are taken and forgotten, as by a sink.
//! - `lossless`: a frame the port has no RX buffer for waits for one instead of being dropped,
//!   so every frame of the file arrives (without it the device drops and counts as a cable
//!   would).
//!
//! File names therefore cannot contain `,` or `:`.
//!
//! The input is read and checked when the wire is built (a bad file is an error then, not a
//! surprise mid-run) and held in memory, so replay allocates nothing and never waits on the
//! disk. Recording goes through a 256 KiB buffer, written out to the file at most
//! [`FLUSH_INTERVAL`] after a frame was recorded (checked each time the device polls the wire),
//! by [`PcapWire::flush`] or [`PcapHandle::flush`], and when the wire is dropped: once the wire
//! is gone the file is complete. The file starts as a valid, empty capture (its header is
//! written at once).
//!
//! [`PcapHandle`] is the observer's handle: frames replayed and recorded, and whether the replay
//! is done, so a test can wait for "replay finished" ([`PcapHandle::wait_done`]).

use super::{Wire, MAX_FRAME};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapParser, PcapWriter};
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How long recorded frames may sit in the write buffer before they are flushed to the file.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Snaplen written in the output file's header: more than any frame the port sends.
pub const SNAPLEN: u32 = 65_535;

/// Size of the output file's write buffer.
const WRITE_BUFFER: usize = 256 * 1024;

/// How many times the input file is played.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Passes {
    /// `N` times in all (`N` ≥ 1; 1 without `loop`).
    Times(u64),
    /// Until the wire is dropped (`loop`).
    Forever,
}

/// A parsed `pcap:` spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcapOptions {
    /// Capture to replay into RX.
    pub input: Option<PathBuf>,
    /// File to record TX into.
    pub output: Option<PathBuf>,
    /// How often the input is played.
    pub passes: Passes,
    /// Frames wait for RX buffers instead of being dropped.
    pub lossless: bool,
}

impl PcapOptions {
    /// Parses the options after `pcap:`, separated by `,` or `:`.
    pub fn parse(opts: &[&str]) -> Result<Self, String> {
        let mut o = Self {
            input: None,
            output: None,
            passes: Passes::Times(1),
            lossless: false,
        };
        let mut looped = false;
        for p in opts
            .iter()
            .flat_map(|o| o.split(','))
            .filter(|p| !p.is_empty())
        {
            match p.split_once('=') {
                Some(("in", f)) if !f.is_empty() => o.input = Some(PathBuf::from(f)),
                Some(("out", f)) if !f.is_empty() => o.output = Some(PathBuf::from(f)),
                Some(("in" | "out", _)) => {
                    return Err(format!("wire=pcap: '{p}' needs a file name"))
                }
                Some(("loop", n)) => {
                    let n = n.parse::<u64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        format!("wire=pcap: loop={n} must be a count of at least 1")
                    })?;
                    o.passes = Passes::Times(n);
                    looped = true;
                }
                None if p == "loop" => {
                    o.passes = Passes::Forever;
                    looped = true;
                }
                None if p == "lossless" => o.lossless = true,
                _ => {
                    return Err(format!(
                        "unknown pcap wire option '{p}' (in=FILE, out=FILE, loop, loop=N, lossless)"
                    ))
                }
            }
        }
        if o.input.is_none() && o.output.is_none() {
            return Err("wire=pcap needs in=FILE, out=FILE or both".into());
        }
        if looped && o.input.is_none() {
            return Err("wire=pcap: loop needs in=FILE".into());
        }
        Ok(o)
    }
}

#[derive(Debug, Default)]
struct Counters {
    replayed: AtomicU64,
    passes: AtomicU64,
    done: AtomicBool,
    skipped: AtomicU64,
    recorded: AtomicU64,
    record_errors: AtomicU64,
}

/// The output file's buffered writer, shared by the wire (which records into it) and its
/// [`PcapHandle`] (which may flush it from another thread).
#[derive(Clone)]
struct SharedOutput(Arc<Mutex<BufWriter<File>>>);

impl SharedOutput {
    fn lock(&self) -> std::sync::MutexGuard<'_, BufWriter<File>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Write for SharedOutput {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.lock().write(b)
    }
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        self.lock().write_all(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.lock().flush()
    }
}

/// What a pcap wire has done, shared between the wire and whoever keeps this handle.
#[derive(Clone, Default)]
pub struct PcapHandle {
    counters: Arc<Counters>,
    output: Option<SharedOutput>,
}

impl std::fmt::Debug for PcapHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapHandle")
            .field("counters", &self.counters)
            .field("output", &self.output.is_some())
            .finish()
    }
}

impl PcapHandle {
    /// Writes what was recorded so far through to the output file (the wire also does this on
    /// its own when idle and when dropped).
    pub fn flush(&self) -> io::Result<()> {
        match &self.output {
            Some(o) => o.lock().flush(),
            None => Ok(()),
        }
    }

    /// Frames handed to the port from the input file (all passes).
    pub fn replayed(&self) -> u64 {
        self.counters.replayed.load(Ordering::Acquire)
    }
    /// Complete passes over the input file.
    pub fn passes(&self) -> u64 {
        self.counters.passes.load(Ordering::Acquire)
    }
    /// Whether the replay is over: every pass played (immediately true without `in=`; never
    /// with `loop`).
    pub fn done(&self) -> bool {
        self.counters.done.load(Ordering::Acquire)
    }
    /// Records of the input file that are not replayable Ethernet frames (per pass).
    pub fn skipped(&self) -> u64 {
        self.counters.skipped.load(Ordering::Acquire)
    }
    /// Frames recorded to the output file.
    pub fn recorded(&self) -> u64 {
        self.counters.recorded.load(Ordering::Acquire)
    }
    /// Frames that could not be written to the output file.
    pub fn record_errors(&self) -> u64 {
        self.counters.record_errors.load(Ordering::Acquire)
    }
    /// Waits until the replay is done, for at most `timeout`; returns whether it is.
    pub fn wait_done(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while !self.done() {
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }
}

/// The input capture's frames, back to back, and where each one is.
#[derive(Debug, Default)]
struct Replay {
    bytes: Vec<u8>,
    frames: Vec<(usize, usize)>,
    skipped: u64,
}

impl Replay {
    fn push(&mut self, frame: &[u8]) {
        if frame.len() < 14 || frame.len() > MAX_FRAME {
            self.skipped += 1;
            return;
        }
        self.frames.push((self.bytes.len(), frame.len()));
        self.bytes.extend_from_slice(frame);
    }
}

/// Reads the capture in `data` (classic pcap or pcapng) into a [`Replay`].
fn load_capture(data: &[u8]) -> Result<Replay, String> {
    let magic = data.get(..4).ok_or("shorter than a capture file header")?;
    let mut replay = Replay::default();
    match magic {
        [0x0a, 0x0d, 0x0d, 0x0a] => load_pcapng(data, &mut replay)?,
        _ => load_pcap(data, &mut replay)?,
    }
    Ok(replay)
}

fn load_pcap(data: &[u8], replay: &mut Replay) -> Result<(), String> {
    let (mut rest, parser) =
        PcapParser::new(data).map_err(|e| format!("not a pcap or pcapng file ({e})"))?;
    let header = parser.header();
    if header.datalink != DataLink::ETHERNET {
        return Err(format!(
            "link type {:?} is not Ethernet (1)",
            header.datalink
        ));
    }
    while !rest.is_empty() {
        // Raw records: the checked parse refuses records whose original length exceeds the
        // snaplen, which is exactly what a capture with a small snaplen holds.
        match parser.next_raw_packet(rest) {
            Ok((r, pkt)) => {
                replay.push(&pkt.data);
                rest = r;
            }
            Err(PcapError::IncompleteBuffer) => {
                tracing::warn!(target: "ena_sim", "pcap input ends inside a record; replaying the {} before it", replay.frames.len());
                break;
            }
            Err(e) => return Err(format!("record {}: {e}", replay.frames.len() + 1)),
        }
    }
    Ok(())
}

fn load_pcapng(data: &[u8], replay: &mut Replay) -> Result<(), String> {
    let (mut rest, mut parser) =
        PcapNgParser::new(data).map_err(|e| format!("bad pcapng section header ({e})"))?;
    while !rest.is_empty() {
        let (r, block) = match parser.next_block(rest) {
            Ok(b) => b,
            Err(PcapError::IncompleteBuffer) => {
                tracing::warn!(target: "ena_sim", "pcapng input ends inside a block; replaying the {} before it", replay.frames.len());
                break;
            }
            Err(e) => return Err(format!("block after frame {}: {e}", replay.frames.len())),
        };
        rest = r;
        let interface = |id: u32| -> Result<(), String> {
            match parser.interfaces().get(id as usize) {
                Some(i) if i.linktype == DataLink::ETHERNET => Ok(()),
                Some(i) => Err(format!(
                    "interface {id} has link type {:?}, not Ethernet (1)",
                    i.linktype
                )),
                None => Err(format!(
                    "a packet names interface {id}, which is not described"
                )),
            }
        };
        match block {
            Block::EnhancedPacket(p) => {
                interface(p.interface_id)?;
                replay.push(&p.data);
            }
            Block::SimplePacket(p) => {
                interface(0)?;
                replay.push(&p.data);
            }
            Block::Packet(p) => {
                interface(u32::from(p.interface_id))?;
                replay.push(&p.data);
            }
            _ => {}
        }
    }
    Ok(())
}

/// A wire to capture files.
pub struct PcapWire {
    opts: PcapOptions,
    replay: Replay,
    next: usize,
    writer: Option<PcapWriter<SharedOutput>>,
    unflushed_since: Option<Instant>,
    stats: PcapHandle,
}

impl PcapWire {
    /// Reads the input capture (if any) and creates the output file (if any).
    pub fn open(opts: &PcapOptions) -> io::Result<Self> {
        let replay = match &opts.input {
            Some(path) => read_capture(path)?,
            None => Replay::default(),
        };
        let (writer, output) = match &opts.output {
            Some(path) => {
                let (w, o) = create_capture(path)?;
                (Some(w), Some(o))
            }
            None => (None, None),
        };
        let stats = PcapHandle {
            counters: Arc::default(),
            output,
        };
        stats
            .counters
            .skipped
            .store(replay.skipped, Ordering::Release);
        if replay.frames.is_empty() {
            // Nothing to play (no input, or no replayable frame in it).
            stats.counters.done.store(true, Ordering::Release);
        }
        Ok(Self {
            opts: opts.clone(),
            replay,
            next: 0,
            writer,
            unflushed_since: None,
            stats,
        })
    }

    /// The wire's counters.
    pub fn stats(&self) -> PcapHandle {
        self.stats.clone()
    }

    /// Frames in one pass over the input.
    pub fn input_frames(&self) -> usize {
        self.replay.frames.len()
    }

    /// Writes what was recorded so far through to the output file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.unflushed_since = None;
        self.stats.flush()
    }

    fn flush_if_due(&mut self) {
        if let Some(since) = self.unflushed_since {
            if since.elapsed() >= FLUSH_INTERVAL {
                if let Err(e) = self.flush() {
                    tracing::warn!(target: "ena_sim", "pcap output: {e}");
                }
            }
        }
    }
}

fn read_capture(path: &Path) -> io::Result<Replay> {
    let data = std::fs::read(path)
        .map_err(|e| io::Error::new(e.kind(), format!("pcap input {}: {e}", path.display())))?;
    // The pcapng parser comes from a third-party crate and this file from anywhere: a panic in
    // it must be an error here, not a crashed simulator.
    let loaded = std::panic::catch_unwind(|| load_capture(&data))
        .unwrap_or_else(|_| Err("the capture parser failed on this file".into()));
    loaded.map_err(|m| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("pcap input {}: {m}", path.display()),
        )
    })
}

fn create_capture(path: &Path) -> io::Result<(PcapWriter<SharedOutput>, SharedOutput)> {
    let file = File::create(path)
        .map_err(|e| io::Error::new(e.kind(), format!("pcap output {}: {e}", path.display())))?;
    let header = PcapHeader {
        version_major: 2,
        version_minor: 4,
        ts_correction: 0,
        ts_accuracy: 0,
        snaplen: SNAPLEN,
        datalink: DataLink::ETHERNET,
        ts_resolution: TsResolution::MicroSecond,
        endianness: Endianness::native(),
    };
    let output = SharedOutput(Arc::new(Mutex::new(BufWriter::with_capacity(
        WRITE_BUFFER,
        file,
    ))));
    let writer = PcapWriter::with_header(output.clone(), header)
        .map_err(|e| io::Error::other(format!("pcap output {}: {e}", path.display())))?;
    // From now on the file is a valid capture, if an empty one.
    output.lock().flush()?;
    Ok((writer, output))
}

impl Wire for PcapWire {
    fn transmit(&mut self, frame: &[u8]) -> bool {
        let Some(w) = &mut self.writer else {
            return true;
        };
        let ts = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let Ok(len) = u32::try_from(frame.len()) else {
            self.stats
                .counters
                .record_errors
                .fetch_add(1, Ordering::Relaxed);
            return false;
        };
        match w.write_packet(&PcapPacket::new(ts, len, frame)) {
            Ok(_) => {
                self.stats.counters.recorded.fetch_add(1, Ordering::Release);
                self.unflushed_since.get_or_insert_with(Instant::now);
                true
            }
            Err(_) => {
                self.stats
                    .counters
                    .record_errors
                    .fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        self.flush_if_due();
        let &(off, len) = self.replay.frames.get(self.next)?;
        let dst = buf.get_mut(..len)?;
        dst.copy_from_slice(&self.replay.bytes[off..off + len]);
        self.next += 1;
        let s = &self.stats.counters;
        s.replayed.fetch_add(1, Ordering::Release);
        if self.next == self.replay.frames.len() {
            let passes = s.passes.fetch_add(1, Ordering::AcqRel) + 1;
            match self.opts.passes {
                Passes::Times(n) if passes >= n => {
                    // `next` stays past the end: nothing more to receive.
                    s.done.store(true, Ordering::Release);
                }
                _ => self.next = 0,
            }
        }
        Some(len)
    }

    fn backpressure(&self) -> bool {
        self.opts.lossless
    }

    fn describe(&self) -> String {
        let mut d = String::from("pcap");
        if let Some(i) = &self.opts.input {
            d += &format!(" in={} ({} frames", i.display(), self.replay.frames.len());
            match self.opts.passes {
                Passes::Forever => d += ", looped)",
                Passes::Times(1) => d += ")",
                Passes::Times(n) => d += &format!(" x {n})"),
            }
        }
        if let Some(o) = &self.opts.output {
            d += &format!(" out={}", o.display());
        }
        d
    }
}

impl Drop for PcapWire {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(target: "ena_sim", "pcap output: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::RawPcapPacket;
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
    use pcap_file::pcapng::PcapNgWriter;
    use std::borrow::Cow;

    fn frame(len: usize, tag: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(7) ^ tag).collect()
    }

    #[test]
    fn options_parse_with_commas_or_colons() {
        let o = PcapOptions::parse(&["in=a.pcap,out=b.pcap,loop=3", "lossless"]).unwrap();
        assert_eq!(
            o,
            PcapOptions {
                input: Some("a.pcap".into()),
                output: Some("b.pcap".into()),
                passes: Passes::Times(3),
                lossless: true,
            }
        );
        let o = PcapOptions::parse(&["in=/tmp/x.pcap", "loop"]).unwrap();
        assert_eq!(o.passes, Passes::Forever);
        assert_eq!(o.output, None);
        let o = PcapOptions::parse(&["out=/tmp/y.pcap"]).unwrap();
        assert_eq!(
            (o.input, o.passes, o.lossless),
            (None, Passes::Times(1), false)
        );
    }

    #[test]
    fn bad_options_are_refused() {
        let err = |o: &[&str]| PcapOptions::parse(o).unwrap_err();
        assert_eq!(err(&[]), "wire=pcap needs in=FILE, out=FILE or both");
        assert_eq!(
            err(&["lossless"]),
            "wire=pcap needs in=FILE, out=FILE or both"
        );
        assert_eq!(err(&["in="]), "wire=pcap: 'in=' needs a file name");
        assert_eq!(
            err(&["in=a,loop=0"]),
            "wire=pcap: loop=0 must be a count of at least 1"
        );
        assert_eq!(err(&["out=b,loop"]), "wire=pcap: loop needs in=FILE");
        assert!(err(&["in=a,speed=2"]).starts_with("unknown pcap wire option 'speed=2'"));
    }

    /// A classic capture, big-endian with nanosecond timestamps (not what we write), holding
    /// `records` as (captured bytes, original length).
    fn classic_capture(records: &[(Vec<u8>, u32)], snaplen: u32) -> Vec<u8> {
        let header = PcapHeader {
            snaplen,
            ts_resolution: TsResolution::NanoSecond,
            endianness: Endianness::Big,
            ..PcapHeader::default()
        };
        let mut w = PcapWriter::with_header(Vec::new(), header).unwrap();
        for (i, (data, orig)) in records.iter().enumerate() {
            w.write_raw_packet(&RawPcapPacket {
                ts_sec: 1_700_000_000 + i as u32,
                ts_frac: 5,
                incl_len: data.len() as u32,
                orig_len: *orig,
                data: Cow::Borrowed(data),
            })
            .unwrap();
        }
        w.into_writer()
    }

    fn frames_of(r: &Replay) -> Vec<&[u8]> {
        r.frames.iter().map(|&(o, l)| &r.bytes[o..o + l]).collect()
    }

    #[test]
    fn classic_captures_load_in_order_skipping_what_no_port_takes() {
        let a = frame(60, 1);
        let b = frame(1514, 2);
        let cut = frame(96, 3); // captured with snaplen 96 from a 1500-byte frame
        let runt = frame(13, 4);
        let giant = frame(MAX_FRAME + 1, 5);
        let c = frame(MAX_FRAME, 6);
        let file = classic_capture(
            &[
                (a.clone(), 60),
                (runt, 13),
                (b.clone(), 1514),
                (cut.clone(), 1500),
                (giant, MAX_FRAME as u32 + 1),
                (c.clone(), MAX_FRAME as u32),
            ],
            65_535,
        );
        let r = load_capture(&file).unwrap();
        assert_eq!(frames_of(&r), vec![&a[..], &b[..], &cut[..], &c[..]]);
        assert_eq!(r.skipped, 2);

        // A small snaplen: records whose original length exceeds it are replayed as captured.
        let r = load_capture(&classic_capture(&[(cut.clone(), 1500)], 96)).unwrap();
        assert_eq!(frames_of(&r), vec![&cut[..]]);

        // A file cut inside its last record replays the records before it.
        let r = load_capture(&file[..file.len() - 100]).unwrap();
        assert_eq!(frames_of(&r), vec![&a[..], &b[..], &cut[..]]);
    }

    #[test]
    fn pcapng_captures_load_and_non_ethernet_is_refused() {
        let a = frame(64, 9);
        let b = frame(200, 10);
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        w.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::ETHERNET, 0))
            .unwrap();
        for (i, f) in [&a, &b].into_iter().enumerate() {
            w.write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: Duration::from_micros(i as u64),
                original_len: f.len() as u32,
                data: Cow::Borrowed(f),
                options: vec![],
            })
            .unwrap();
        }
        let r = load_capture(&w.into_inner()).unwrap();
        assert_eq!(frames_of(&r), vec![&a[..], &b[..]]);

        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        w.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::RAW, 0))
            .unwrap();
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::ZERO,
            original_len: 20,
            data: Cow::Borrowed(&[0x45; 20]),
            options: vec![],
        })
        .unwrap();
        let e = load_capture(&w.into_inner()).unwrap_err();
        assert!(
            e.contains("interface 0 has link type RAW, not Ethernet (1)"),
            "{e}"
        );
    }

    #[test]
    fn non_captures_are_refused() {
        assert_eq!(
            load_capture(b"ab").unwrap_err(),
            "shorter than a capture file header"
        );
        let e = load_capture(&[0x55; 64]).unwrap_err();
        assert!(e.starts_with("not a pcap or pcapng file"), "{e}");
        let mut linux_sll = classic_capture(&[], 65_535);
        linux_sll[20..24].copy_from_slice(&113u32.to_be_bytes());
        let e = load_capture(&linux_sll).unwrap_err();
        assert!(e.contains("is not Ethernet (1)"), "{e}");
    }

    #[test]
    fn replay_hands_frames_over_once_then_reports_done() {
        let dir = std::env::temp_dir().join(format!("ena-sim-pcap-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("in.pcap");
        let (a, b) = (frame(60, 1), frame(1000, 2));
        std::fs::write(
            &input,
            classic_capture(&[(a.clone(), 60), (b.clone(), 1000)], 65_535),
        )
        .unwrap();
        let opts = PcapOptions::parse(&[&format!("in={},loop=2", input.display())]).unwrap();
        let mut w = PcapWire::open(&opts).unwrap();
        let h = w.stats();
        let mut buf = vec![0u8; MAX_FRAME];
        let mut got = Vec::new();
        while let Some(n) = w.receive(&mut buf) {
            got.push(buf[..n].to_vec());
            assert!(got.len() <= 4, "two passes of two frames");
        }
        assert_eq!(got, vec![a.clone(), b.clone(), a, b]);
        assert_eq!((h.replayed(), h.passes(), h.done()), (4, 2, true));
        assert!(
            w.describe().ends_with("in.pcap (2 frames x 2)"),
            "{}",
            w.describe()
        );
        // A buffer too small for the next frame leaves it waiting.
        let mut w =
            PcapWire::open(&PcapOptions::parse(&[&format!("in={}", input.display())]).unwrap())
                .unwrap();
        assert_eq!(w.receive(&mut buf[..59]), None);
        assert_eq!(w.receive(&mut buf), Some(60));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
