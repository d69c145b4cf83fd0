//! `capture`: a scripted wire for tests — frames pushed in arrive at the port, frames the port
//! sends are recorded. Clones share the same queues, so a test keeps one clone and gives the
//! device the other.

use super::Wire;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// A scripted, recording wire.
#[derive(Clone, Default)]
pub struct Capture {
    /// Frames the port transmitted, in order.
    pub sent: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Frames waiting to be received by the port.
    pub inbox: Arc<Mutex<VecDeque<Vec<u8>>>>,
    /// Hold frames the port cannot place instead of dropping them.
    pub lossless: bool,
}

impl Capture {
    /// Queues a frame for the port to receive.
    pub fn push(&self, frame: Vec<u8>) {
        self.inbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(frame);
    }

    /// Takes every frame transmitted so far.
    pub fn take_sent(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// How many frames were transmitted and not taken yet.
    pub fn sent_len(&self) -> usize {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Wire for Capture {
    fn transmit(&mut self, frame: &[u8]) -> bool {
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(frame.to_vec());
        true
    }

    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        let mut inbox = self.inbox.lock().unwrap_or_else(|e| e.into_inner());
        // A frame larger than any wire carries is lost on the cable.
        let f = loop {
            let f = inbox.pop_front()?;
            if f.len() <= buf.len() {
                break f;
            }
        };
        buf[..f.len()].copy_from_slice(&f);
        Some(f.len())
    }

    fn backpressure(&self) -> bool {
        self.lossless
    }

    fn describe(&self) -> String {
        "capture".into()
    }
}
