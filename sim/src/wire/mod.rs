//! Wires: what is on the other end of a simulated port's cable.
//!
//! A wire carries whole Ethernet frames (no preamble, no FCS). The device hands it every frame it
//! transmits and asks it for frames to receive. Wires here: [`loopback`] (a port's TX into its
//! own RX), [`pair`](mod@pair) (two devices cabled together), [`generator`] (synthetic flows
//! into RX, a counting sink for TX), [`capture`] (scripted frames for tests), and the ones that
//! reach outside the process: [`tap`] (a TAP interface: the Linux stack on the other end),
//! [`afpacket`] (a raw socket on an existing interface, e.g. one end of a veth pair) and
//! [`pcap`] (replay a capture file into RX, record TX to one); [`netif`] is what `tap` and
//! `afpacket` share. [`spec`] builds any of them from text such as `tap:t0:netns=blue:up`.

pub mod afpacket;
pub mod capture;
pub mod generator;
pub mod loopback;
pub mod netif;
pub mod pair;
pub mod pcap;
pub mod spec;
pub mod tap;

pub use afpacket::AfPacket;
pub use capture::Capture;
pub use generator::{Generator, GeneratorConfig, GeneratorStats};
pub use loopback::Loopback;
pub use netif::{NetifOptions, NetifStats};
pub use pair::{pair, PairEnd};
pub use pcap::{PcapHandle, PcapOptions, PcapWire};
pub use tap::Tap;

/// Largest frame a wire must carry: a 9216-byte L3 MTU plus Ethernet and VLAN headers.
pub const MAX_FRAME: usize = 9216 + 14 + 4;

/// The far side of a port.
pub trait Wire: Send {
    /// Takes a frame the device transmits. Returns false if the wire dropped it (the device
    /// counts it as a TX drop).
    fn transmit(&mut self, frame: &[u8]) -> bool;

    /// Hands the device the next frame to receive, copied into `buf` (at least [`MAX_FRAME`]
    /// bytes); returns its length, or `None` when nothing is waiting.
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize>;

    /// Whether the cable is connected (the device reports link changes through the AENQ).
    fn link_up(&self) -> bool {
        true
    }

    /// The wire's MTU (L3), if it imposes one.
    fn mtu(&self) -> Option<u32> {
        None
    }

    /// The MAC address the port should take, if the wire has one.
    fn mac(&self) -> Option<[u8; 6]> {
        None
    }

    /// If true, a received frame the device cannot place (no RX buffer posted) is held and
    /// offered again instead of dropped. Real cables drop; lossless wires exist for tests and
    /// benchmarks that must not lose packets.
    fn backpressure(&self) -> bool {
        false
    }

    /// A short description ("loopback", "pair", "generator 64B x 256 flows", ...).
    fn describe(&self) -> String;
}

/// A wire with nothing attached: transmitted frames vanish (counted by the device as sent), and
/// nothing is ever received.
#[derive(Debug, Default)]
pub struct Unplugged;

impl Wire for Unplugged {
    fn transmit(&mut self, _frame: &[u8]) -> bool {
        true
    }
    fn receive(&mut self, _buf: &mut [u8]) -> Option<usize> {
        None
    }
    fn link_up(&self) -> bool {
        false
    }
    fn describe(&self) -> String {
        "unplugged".into()
    }
}
