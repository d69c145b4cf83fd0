//! `pair`: two simulated ports cabled back to back. Each end is a [`Wire`] for one device; the
//! devices may run on different threads (the queues are lock-free and recycle their buffers).

use super::{Wire, MAX_FRAME};
use crossbeam::queue::ArrayQueue;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

struct Direction {
    frames: ArrayQueue<Vec<u8>>,
    spare: ArrayQueue<Vec<u8>>,
}

impl Direction {
    fn new(capacity: usize) -> Self {
        Self {
            frames: ArrayQueue::new(capacity),
            spare: ArrayQueue::new(capacity),
        }
    }
}

/// One end of a cable between two ports.
pub struct PairEnd {
    out: Arc<Direction>,
    inc: Arc<Direction>,
    link: Arc<AtomicBool>,
    lossless: bool,
}

/// A cable with up to `capacity` frames in flight each way; both ends share one link state.
pub fn pair(capacity: usize, lossless: bool) -> (PairEnd, PairEnd) {
    let a = Arc::new(Direction::new(capacity.max(1)));
    let b = Arc::new(Direction::new(capacity.max(1)));
    let link = Arc::new(AtomicBool::new(true));
    (
        PairEnd {
            out: a.clone(),
            inc: b.clone(),
            link: link.clone(),
            lossless,
        },
        PairEnd {
            out: b,
            inc: a,
            link,
            lossless,
        },
    )
}

impl PairEnd {
    /// Plugs or unplugs the cable (both ends see it).
    pub fn set_link(&self, up: bool) {
        self.link.store(up, Ordering::Release);
    }
}

impl Wire for PairEnd {
    fn transmit(&mut self, frame: &[u8]) -> bool {
        if !self.link_up() || frame.len() > MAX_FRAME {
            return false;
        }
        let mut buf = self.out.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(frame);
        match self.out.frames.push(buf) {
            Ok(()) => true,
            Err(buf) => {
                let _ = self.out.spare.push(buf);
                false
            }
        }
    }

    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        let frame = self.inc.frames.pop()?;
        let n = frame.len().min(buf.len());
        buf[..n].copy_from_slice(&frame[..n]);
        let _ = self.inc.spare.push(frame);
        Some(n)
    }

    fn link_up(&self) -> bool {
        self.link.load(Ordering::Acquire)
    }

    fn backpressure(&self) -> bool {
        self.lossless
    }

    fn describe(&self) -> String {
        format!("pair ({} waiting)", self.inc.frames.len())
    }
}
