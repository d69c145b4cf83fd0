//! `loopback`: every frame the port transmits comes back into its own RX.

use super::{Wire, MAX_FRAME};
use std::collections::VecDeque;

/// A cable from a port's TX to its own RX, holding up to `capacity` frames in flight.
#[derive(Debug)]
pub struct Loopback {
    queue: VecDeque<Vec<u8>>,
    spare: Vec<Vec<u8>>,
    capacity: usize,
    lossless: bool,
}

impl Loopback {
    /// A loopback holding up to `capacity` frames; with `lossless` the device holds a frame it
    /// cannot place instead of dropping it.
    pub fn new(capacity: usize, lossless: bool) -> Self {
        Self {
            queue: VecDeque::with_capacity(capacity),
            spare: Vec::new(),
            capacity: capacity.max(1),
            lossless,
        }
    }

    /// Frames waiting to be received.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }
}

impl Default for Loopback {
    fn default() -> Self {
        Self::new(4096, false)
    }
}

impl Wire for Loopback {
    fn transmit(&mut self, frame: &[u8]) -> bool {
        if self.queue.len() >= self.capacity || frame.len() > MAX_FRAME {
            return false;
        }
        // Buffers are recycled, so a steady flow allocates nothing.
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(frame);
        self.queue.push_back(buf);
        true
    }

    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        let frame = self.queue.pop_front()?;
        let n = frame.len().min(buf.len());
        buf[..n].copy_from_slice(&frame[..n]);
        self.spare.push(frame);
        Some(n)
    }

    fn backpressure(&self) -> bool {
        self.lossless
    }

    fn describe(&self) -> String {
        format!("loopback ({} in flight)", self.queue.len())
    }
}
