//! `tap:NAME`: the port cabled to the Linux network stack through a TAP interface.
//!
//! The wire opens (or creates) TAP interface `NAME` in Ethernet mode without the packet-info
//! prefix (`IFF_TAP | IFF_NO_PI`), so every read is one whole frame the kernel sent out of
//! `NAME` and every write is one frame the kernel receives on it. The kernel side is an ordinary
//! interface: give it an address (`ip addr add 192.0.2.1/24 dev NAME`) and the stack ARPs,
//! answers pings and routes through the simulated port. An interface the wire created goes
//! away when the wire is dropped; a persistent one (`ip tuntap add NAME mode tap`) stays.
//!
//! Options (`:` or `,` between them): `netns=NS` creates the interface inside network namespace
//! `NS` (`ip netns` name, or a path such as `/proc/PID/ns/net`) so tests and scenarios keep their
//! traffic there; `up` brings the interface up (otherwise it is up when someone runs `ip link
//! set NAME up`); `lossless` is accepted and has no effect: the kernel drops when its queue is
//! full, whatever the port does.
//!
//! Link, MTU and MAC:
//! - The link is up while the interface is administratively up and has carrier (a TAP has it
//!   while a descriptor is attached) — see [`IfControl::link_up`] — re-read at most every
//!   [`super::netif::LINK_REFRESH`]. While it is down the kernel refuses our writes, so the
//!   device reporting the link down is the truth.
//! - [`Wire::mtu`] is the interface's MTU, so the device offers the driver no more than the
//!   kernel side will take.
//! - [`Wire::mac`] is `None`: the port keeps its own MAC. The TAP interface is the *other* end
//!   of the cable and has its own address; a port with the same MAC as its peer would see the
//!   kernel's frames to it as frames from itself.
//!
//! Frames: the kernel gives a TAP without `IFF_VNET_HDR` no checksum or segmentation offload,
//! so every frame read here is complete and at most MTU plus headers long; a longer one (an MTU
//! raised past what the port takes) is dropped and counted ([`NetifStats::rx_oversize`]).
//! Reads and writes are non-blocking and reuse one buffer: nothing is allocated per frame.
//!
//! The descriptor comes from the `tun` crate (meh/rust-tun), which does the `TUNSETIFF`
//! request; the wire reads and writes it directly so that it can use `readv` to tell an
//! oversize frame from one that fits.
#![allow(unsafe_code)]

use super::netif::{in_netns, IfControl, LinkWatch, NetifOptions, NetifStats};
use super::{Wire, MAX_FRAME};
use std::io;
use std::os::fd::AsRawFd;

/// Bytes past the port's buffer a read may spill into, so an oversize frame is seen as such
/// (and dropped) instead of arriving cut short: the largest frame a TAP can hold.
const OVERFLOW: usize = 65_536;

/// A TAP interface as a wire.
pub struct Tap {
    device: tun::Device,
    watch: LinkWatch,
    opts: NetifOptions,
    overflow: Box<[u8]>,
    stats: NetifStats,
}

impl Tap {
    /// Opens or creates the TAP interface `opts` names (in its namespace, brought up if asked).
    pub fn open(opts: &NetifOptions) -> io::Result<Self> {
        let name = opts.name.clone();
        let up = opts.up;
        let (device, ctl) = in_netns(opts.netns.as_deref(), move || {
            let mut cfg = tun::Configuration::default();
            // The crate always asks for IFF_NO_PI: a read is exactly one Ethernet frame.
            cfg.tun_name(&name).layer(tun::Layer::L2);
            let device = tun::create(&cfg)
                .map_err(|e| io::Error::other(format!("cannot open TAP interface {name}: {e}")))?;
            device.set_nonblock()?;
            let ctl = IfControl::open(&name)?;
            if up {
                ctl.set_up()?;
            }
            Ok((device, ctl))
        })?;
        Ok(Self {
            device,
            watch: LinkWatch::new(ctl),
            opts: opts.clone(),
            overflow: vec![0u8; OVERFLOW].into_boxed_slice(),
            stats: NetifStats::default(),
        })
    }

    /// The wire's counters.
    pub fn stats(&self) -> NetifStats {
        self.stats.clone()
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.opts.name
    }

    /// The kernel side's MAC address (the TAP interface's own).
    pub fn kernel_mac(&self) -> io::Result<[u8; 6]> {
        self.watch.control().mac()
    }
}

impl Wire for Tap {
    fn transmit(&mut self, frame: &[u8]) -> bool {
        // SAFETY: `frame` is valid for reads of `frame.len()` bytes during the call; the
        // descriptor is ours and non-blocking.
        let n = unsafe { libc::write(self.device.as_raw_fd(), frame.as_ptr().cast(), frame.len()) };
        if n == frame.len() as isize {
            self.stats.count_tx(frame.len());
            true
        } else {
            // EIO while the interface is down, EINVAL for a runt: the frame is lost on the cable.
            self.stats.count_tx_error();
            false
        }
    }

    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        let fd = self.device.as_raw_fd();
        loop {
            let iov = [
                libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: buf.len(),
                },
                libc::iovec {
                    iov_base: self.overflow.as_mut_ptr().cast(),
                    iov_len: self.overflow.len(),
                },
            ];
            // SAFETY: both vectors point into buffers borrowed mutably for the call, with their
            // true lengths; the descriptor is non-blocking, so this returns at once.
            let n = unsafe { libc::readv(fd, iov.as_ptr(), iov.len() as libc::c_int) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => return None,
                    io::ErrorKind::Interrupted => continue,
                    _ => {
                        self.stats.count_rx_error();
                        return None;
                    }
                }
            }
            let n = n as usize;
            if n == 0 {
                return None;
            }
            if n > buf.len() || n > MAX_FRAME {
                self.stats.count_rx_oversize();
                continue;
            }
            self.stats.count_rx(n);
            return Some(n);
        }
    }

    fn link_up(&self) -> bool {
        self.watch.link_up()
    }

    fn mtu(&self) -> Option<u32> {
        self.watch.mtu()
    }

    fn describe(&self) -> String {
        format!("tap {}", self.opts.where_())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_options() {
        let o = NetifOptions::parse("tap", &["enatap0", "netns=red", "up"]).unwrap();
        assert_eq!(o.name, "enatap0");
        assert_eq!(o.netns.as_deref(), Some("red"));
        assert!(o.up);
        assert_eq!(o.where_(), "enatap0 in netns red");
        let e = NetifOptions::parse("tap", &["enatap0", "speed=10"]).unwrap_err();
        assert_eq!(
            e,
            "unknown tap wire option 'speed=10' (netns=NS, up, lossless)"
        );
    }

    #[test]
    fn a_missing_namespace_is_a_clear_error() {
        let o = NetifOptions::parse("tap", &["enatap0", "netns=ena-sim-absent-ns"]).unwrap();
        let e = Tap::open(&o).err().expect("no such namespace");
        assert!(e.to_string().contains("ena-sim-absent-ns"), "{e}");
    }
}
