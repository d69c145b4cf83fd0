//! The forwarding loop on stepped device models: deterministic, single-threaded, and split so
//! that the driver's work and the device model's work can be told apart.
//!
//! Each round steps both devices until idle (the generator fills every posted RX buffer, the
//! sink takes and completes every sent packet), then forwards: `rx_burst` on port 0, `tx_burst`
//! of what came on port 1, until RX is empty or TX is full. A packet TX did not take waits for
//! the next round (nothing is dropped), so a run forwards exactly the generated sequence and
//! executes the same instructions every time.
//!
//! The three calls go through `#[inline(never)]` wrappers — [`driver_rx_burst`],
//! [`driver_tx_burst`], [`sim_step`] — so that callgrind can attribute instructions to them
//! (`callgrind.sh` toggles collection on their names) even though `rx_burst`/`tx_burst` are
//! `#[inline]` and the release profile uses LTO.

use crate::fixture::{ManualOptions, ManualPair};
use ena::{Mbuf, RxQueue, TxQueue};

/// Largest burst the loop supports.
pub const MAX_BURST: usize = 512;

/// The driver's receive call, not inlined (a boundary for callgrind).
#[inline(never)]
pub fn driver_rx_burst(rx: &mut RxQueue, pkts: &mut [Option<Mbuf>]) -> usize {
    rx.rx_burst(pkts)
}

/// The driver's transmit call, not inlined (a boundary for callgrind).
#[inline(never)]
pub fn driver_tx_burst(tx: &mut TxQueue, pkts: &mut [Option<Mbuf>]) -> usize {
    tx.tx_burst(pkts)
}

/// Both device models until idle, not inlined (a boundary for callgrind).
#[inline(never)]
pub fn sim_step(pair: &ManualPair) {
    pair.step();
}

/// What a run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Forwarded {
    /// Packets sent on port 1.
    pub packets: u64,
    /// `rx_burst` calls that returned packets.
    pub rx_bursts: u64,
    /// `rx_burst` calls that returned nothing (one per round: the loop's exit test).
    pub rx_empty: u64,
    /// `tx_burst` calls.
    pub tx_bursts: u64,
    /// Device rounds.
    pub rounds: u64,
}

/// The forwarding state between calls: the burst array and packets waiting for TX room.
pub struct Forwarder {
    pkts: Box<[Option<Mbuf>]>,
    burst: usize,
    /// `pkts[head..tail]` were received and not sent yet.
    head: usize,
    tail: usize,
    /// Use the not-inlined wrappers (measured phase) or the plain calls (warm-up).
    wrapped: bool,
}

impl Forwarder {
    /// A forwarder moving up to `burst` packets per call (1..=[`MAX_BURST`]).
    pub fn new(burst: usize) -> Forwarder {
        Forwarder {
            pkts: (0..MAX_BURST).map(|_| None).collect(),
            burst: burst.clamp(1, MAX_BURST),
            head: 0,
            tail: 0,
            wrapped: true,
        }
    }

    /// Whether calls go through the named wrappers (default) or straight to the driver.
    pub fn set_wrapped(&mut self, wrapped: bool) {
        self.wrapped = wrapped;
    }

    /// One round: steps the devices, then forwards until RX is empty or TX is full.
    pub fn round(&mut self, pair: &mut ManualPair, out: &mut Forwarded) {
        if self.wrapped {
            sim_step(pair);
        } else {
            pair.step();
        }
        out.rounds += 1;
        self.forward(pair, out);
    }

    /// Forwards until RX is empty or TX is full, without stepping the devices (the part a
    /// criterion benchmark times).
    #[inline]
    pub fn forward(&mut self, pair: &mut ManualPair, out: &mut Forwarded) {
        loop {
            if self.head == self.tail {
                self.head = 0;
                let n = if self.wrapped {
                    driver_rx_burst(&mut pair.rx, &mut self.pkts[..self.burst])
                } else {
                    pair.rx.rx_burst(&mut self.pkts[..self.burst])
                };
                if n == 0 {
                    self.tail = 0;
                    out.rx_empty += 1;
                    return;
                }
                self.tail = n;
                out.rx_bursts += 1;
            }
            let sent = if self.wrapped {
                driver_tx_burst(&mut pair.tx, &mut self.pkts[self.head..self.tail])
            } else {
                pair.tx.tx_burst(&mut self.pkts[self.head..self.tail])
            };
            out.tx_bursts += 1;
            out.packets += sent as u64;
            self.head += sent;
            if self.head < self.tail {
                // TX ring full: the device must drain it first.
                return;
            }
        }
    }

    /// Forwards at least `packets` packets, round by round.
    pub fn run(&mut self, pair: &mut ManualPair, packets: u64) -> Forwarded {
        let mut out = Forwarded::default();
        let mut idle_rounds = 0;
        while out.packets < packets {
            let before = out.packets;
            self.round(pair, &mut out);
            // A device that stops producing (it cannot with a lossless generator) must not
            // hang the caller.
            idle_rounds = if out.packets == before {
                idle_rounds + 1
            } else {
                0
            };
            if idle_rounds > 1000 {
                break;
            }
        }
        out
    }

    /// Gives back packets still waiting (before the pair is dropped).
    pub fn drain(&mut self) {
        for m in self.pkts.iter_mut() {
            m.take();
        }
        self.head = 0;
        self.tail = 0;
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.drain();
    }
}

/// Opens a pair, warms up (`warmup` packets through the plain calls) and forwards `packets`
/// through the wrappers: what `ena-pps --callgrind-loop` runs under valgrind.
pub fn callgrind_run(
    opts: &ManualOptions,
    burst: usize,
    warmup: u64,
    packets: u64,
) -> Result<Forwarded, String> {
    let mut pair = ManualPair::open(opts)?;
    let mut f = Forwarder::new(burst);
    f.set_wrapped(false);
    f.run(&mut pair, warmup);
    f.set_wrapped(true);
    let out = f.run(&mut pair, packets);
    f.drain();
    Ok(out)
}
