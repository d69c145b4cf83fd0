//! A backend's IPIP decapsulation in user space, for kernels built without `CONFIG_NET_IPIP`
//! (no `ipip` link type, no `tunl0`), as the one these tests were written on.
//!
//! It does what the kernel's fallback tunnel `tunl0` does, in two steps the kernel has:
//! a raw `IPPROTO_IPIP` socket receives every IPv4-in-IPv4 packet addressed to the namespace
//! (a raw socket that takes a protocol with no kernel handler also stops the kernel from
//! answering "protocol unreachable"), and the inner packet is handed back to the kernel as if
//! it had arrived on a TAP interface (`dec0`), where it is routed as any received packet: to
//! the VIP on `lo`. As with `tunl0`, `rp_filter` must be off, since the client is reached
//! through another interface; and replies go straight to the client (direct server return).

use super::sock::in_ns;
use ena_sim::wire::netif::NetifOptions;
use ena_sim::wire::tap::Tap;
use ena_sim::wire::Wire;
use std::collections::BTreeSet;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Source MAC of the frames the decapsulator hands to the kernel (the "tunnel" side).
const DECAP_MAC: [u8; 6] = [0x02, 0xe2, 0xe0, 0x00, 0x00, 0x01];

/// What a decapsulator saw.
#[derive(Debug, Default, Clone)]
pub struct DecapStats {
    /// Inner packets handed to the kernel.
    pub decapsulated: u64,
    /// Packets that were not a well-formed IPv4 packet inside IPv4.
    pub malformed: u64,
    /// Inner packets the TAP did not take.
    pub lost: u64,
    /// Outer (source, destination) addresses seen.
    pub outer: BTreeSet<(Ipv4Addr, Ipv4Addr)>,
}

/// A running decapsulator; dropping it stops it.
pub struct Decap {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Mutex<DecapStats>>,
}

impl Decap {
    /// Decapsulates the IPIP packets that reach namespace `ns` into TAP interface `tap`
    /// (created there, up).
    pub fn start(ns: &str, tap: &str) -> io::Result<Decap> {
        let raw = in_ns(ns, || {
            // SAFETY: plain socket(2); the result is checked before it is owned.
            let fd = unsafe {
                libc::socket(
                    libc::AF_INET,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    libc::IPPROTO_IPIP,
                )
            };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` is a new descriptor that nothing else owns.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        })?;
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 20_000,
        };
        // SAFETY: `timeout` is a live timeval for the call, passed with its size.
        let rc = unsafe {
            libc::setsockopt(
                raw.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut wire = Tap::open(&NetifOptions {
            name: tap.into(),
            netns: Some(ns.into()),
            up: true,
            lossless: false,
        })?;
        let kernel_mac = wire.kernel_mac()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(DecapStats::default()));
        let (s, st) = (stop.clone(), stats.clone());
        let thread = std::thread::Builder::new()
            .name(format!("decap-{tap}"))
            .spawn(move || {
                let mut buf = vec![0u8; 65_536];
                let mut frame = Vec::with_capacity(65_536);
                while !s.load(Ordering::Relaxed) {
                    // SAFETY: `buf` is valid for writes of its length during the call.
                    let n = unsafe {
                        libc::recv(raw.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0)
                    };
                    if n <= 0 {
                        continue;
                    }
                    let pkt = &buf[..n as usize];
                    let mut st = st.lock().unwrap_or_else(|e| e.into_inner());
                    let Some((outer, inner)) = split_ipip(pkt) else {
                        st.malformed += 1;
                        continue;
                    };
                    st.outer.insert(outer);
                    frame.clear();
                    frame.extend_from_slice(&kernel_mac);
                    frame.extend_from_slice(&DECAP_MAC);
                    frame.extend_from_slice(&0x0800u16.to_be_bytes());
                    frame.extend_from_slice(inner);
                    if wire.transmit(&frame) {
                        st.decapsulated += 1;
                    } else {
                        st.lost += 1;
                    }
                }
            })?;
        Ok(Decap {
            stop,
            thread: Some(thread),
            stats,
        })
    }

    /// What it has seen so far.
    pub fn stats(&self) -> DecapStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Decap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An IPv4 packet carrying IPv4 (protocol 4): the outer (source, destination) and the inner
/// packet, trimmed to its own total length; `None` for anything else.
pub fn split_ipip(pkt: &[u8]) -> Option<((Ipv4Addr, Ipv4Addr), &[u8])> {
    let ihl = usize::from(*pkt.first()? & 0x0f) * 4;
    if pkt[0] >> 4 != 4 || ihl < 20 || pkt.len() < ihl + 20 || pkt[9] != 4 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    let outer = (
        Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]),
        Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]),
    );
    let inner = pkt.get(ihl..total.min(pkt.len()))?;
    let inner_total = usize::from(u16::from_be_bytes([*inner.get(2)?, *inner.get(3)?]));
    if inner[0] >> 4 != 4 || inner_total < 20 || inner_total > inner.len() {
        return None;
    }
    Some((outer, &inner[..inner_total]))
}
