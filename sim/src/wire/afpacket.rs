//! `afpacket:IFACE`: the port cabled to an existing Linux interface through a raw `AF_PACKET`
//! socket — typically one end of a veth pair, whose other end (often in another network
//! namespace) is where the Linux stack, a tool or another program sits.
//!
//! Every frame the kernel receives on `IFACE` reaches the port; every frame the port sends
//! leaves through `IFACE` as if `IFACE` had sent it. Options (`:` or `,` between them):
//! `netns=NS` opens the socket inside network namespace `NS` (where `IFACE` lives); `up` brings
//! `IFACE` up; `lossless` is accepted and has no effect (the kernel drops when it must).
//!
//! Link, MTU and MAC:
//! - The link is up while `IFACE` is administratively up and has carrier (for a veth: its peer
//!   is up too) — see [`IfControl::link_up`] — re-read at most every
//!   [`super::netif::LINK_REFRESH`].
//! - [`Wire::mtu`] is `IFACE`'s MTU.
//! - [`Wire::mac`] is `IFACE`'s MAC: the port stands in for `IFACE`, so it answers to the address
//!   the peer already knows for that cable, and a physical NIC's address filter lets its frames
//!   in. (The socket also asks for promiscuous mode, so a driver that picks another MAC still
//!   receives.) Leave `IFACE` itself unconfigured — no addresses, IPv6 off — or its own stack
//!   answers alongside the port.
//!
//! What the socket does to frames, so that the port sees what a cable would carry:
//! - Frames `IFACE` transmits itself (including the port's own) are not received back
//!   (`PACKET_IGNORE_OUTGOING`, and a `PACKET_OUTGOING` check where older kernels lack it).
//! - A VLAN tag the kernel moved out of the frame into packet metadata (`PACKET_AUXDATA`) is put
//!   back in.
//! - A frame whose L4 checksum the sending stack left for hardware to finish (veth peers offer
//!   checksum offload, so local TCP/UDP leaves this way) has it completed here, from the
//!   `csum_start`/`csum_offset` the kernel reports in the `PACKET_VNET_HDR` header — the
//!   wire does what the sender's NIC would have done. Counted in
//!   [`NetifStats::rx_csum_completed`].
//! - Segmentation-offload super-frames (TCP sent over a veth with TSO/GSO on) and frames longer
//!   than the port takes are dropped and counted ([`NetifStats::rx_oversize`]); turn off
//!   segmentation on the peer (`ethtool -K PEER tso off gso off`) for TCP across this wire.
//!
//! Why plain `libc` and not `pnet_datalink`: its channel can be made non-blocking, but its
//! receiver cannot report the VLAN tag, the checksum state or a frame's real length, and
//! returns a freshly allocated error for every empty poll; the device polls the wire millions
//! of times a second. Reads and writes here are one non-blocking system call each, into and out
//! of the caller's buffer, allocating nothing.
#![allow(unsafe_code)]

use super::netif::{in_netns, IfControl, LinkWatch, NetifOptions, NetifStats};
use super::{Wire, MAX_FRAME};
use crate::csum::internet_checksum;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `struct virtio_net_hdr` (without the v1 `num_buffers` field): what `PACKET_VNET_HDR` puts
/// before every frame, and expects before every frame sent.
const VNET_HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` is not finished.
const VNET_F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_NONE`.
const VNET_GSO_NONE: u8 = 0;
/// `PACKET_OUTGOING` (`sll_pkttype` of a frame the interface transmitted).
const PACKET_OUTGOING: u8 = 4;
/// How many unusable frames (oversize, errors) one `receive` call skips before it gives the
/// device its turn back.
const MAX_SKIPS: usize = 64;

/// An `AF_PACKET` socket bound to one interface, as a wire.
pub struct AfPacket {
    socket: OwnedFd,
    watch: LinkWatch,
    mac: [u8; 6],
    opts: NetifOptions,
    vnet_rx: [u8; VNET_HDR_LEN],
    vnet_tx: [u8; VNET_HDR_LEN],
    stats: NetifStats,
}

/// Sets an integer socket option.
fn set_int_option(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` lives across the call and its size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Opens the socket for `ifindex`: created listening to nothing, configured, then bound to all
/// protocols on that interface only, so no frame of another interface is ever queued on it.
fn open_socket(ifindex: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; protocol 0 receives nothing until bound.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("AF_PACKET socket: {e}")));
    }
    // SAFETY: `fd` is a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    set_int_option(&fd, libc::SOL_PACKET, libc::PACKET_VNET_HDR, 1)?;
    set_int_option(&fd, libc::SOL_PACKET, libc::PACKET_AUXDATA, 1)?;
    // Linux 4.20 and later; before that the PACKET_OUTGOING check in `receive` does the work.
    let _ = set_int_option(&fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1);

    // SAFETY: all-zero is a valid `sockaddr_ll`; the fields that matter are set below.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as libc::c_ushort;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sll.sll_ifindex = ifindex;
    // SAFETY: `sll` is a valid `sockaddr_ll` of the size passed.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }

    let mreq = libc::packet_mreq {
        mr_ifindex: ifindex,
        mr_type: libc::PACKET_MR_PROMISC as libc::c_ushort,
        mr_alen: 0,
        mr_address: [0; 8],
    };
    // SAFETY: `mreq` lives across the call and its size is passed with it. The membership ends
    // when the socket is closed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            (&mreq as *const libc::packet_mreq).cast(),
            std::mem::size_of::<libc::packet_mreq>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

impl AfPacket {
    /// Binds a socket to the interface `opts` names (in its namespace, brought up if asked).
    pub fn open(opts: &NetifOptions) -> io::Result<Self> {
        let name = opts.name.clone();
        let up = opts.up;
        let (socket, ctl, mac) = in_netns(opts.netns.as_deref(), move || {
            let ctl = IfControl::open(&name)?;
            let ifindex = ctl.index()?;
            let mac = ctl.mac()?;
            if up {
                ctl.set_up()?;
            }
            let socket = open_socket(ifindex)
                .map_err(|e| io::Error::new(e.kind(), format!("afpacket {name}: {e}")))?;
            Ok((socket, ctl, mac))
        })?;
        Ok(Self {
            socket,
            watch: LinkWatch::new(ctl),
            mac,
            opts: opts.clone(),
            vnet_rx: [0; VNET_HDR_LEN],
            vnet_tx: [0; VNET_HDR_LEN],
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
}

/// What the kernel said about one received frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct RxMeta {
    /// Frame length as the kernel had it (before a VLAN tag is put back).
    len: usize,
    /// `struct virtio_net_hdr` fields that matter here.
    needs_csum: bool,
    gso: bool,
    csum_start: usize,
    csum_offset: usize,
    /// A VLAN tag taken out of the frame: (TPID, TCI).
    vlan: Option<(u16, u16)>,
}

impl RxMeta {
    fn from_vnet(vnet: &[u8; VNET_HDR_LEN], len: usize) -> Self {
        // The kernel writes the header in host order (legacy virtio on this host).
        let u16_at = |i: usize| usize::from(u16::from_ne_bytes([vnet[i], vnet[i + 1]]));
        Self {
            len,
            needs_csum: vnet[0] & VNET_F_NEEDS_CSUM != 0,
            gso: vnet[1] != VNET_GSO_NONE,
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
            vlan: None,
        }
    }
}

/// Turns the frame the kernel handed over (`buf[..meta.len]`) into the frame the cable carried:
/// VLAN tag back in, pending checksum finished. Returns its length and whether a checksum was
/// finished, or `None` when it does not fit `buf` (or the port) and must be dropped as
/// oversize.
fn restore_frame(buf: &mut [u8], meta: &RxMeta) -> Option<(usize, bool)> {
    let limit = buf.len().min(MAX_FRAME);
    let mut len = meta.len;
    if meta.gso || len > limit {
        return None;
    }
    let mut csum_start = meta.csum_start;
    if let Some((tpid, tci)) = meta.vlan {
        if len + 4 > limit || len < 12 {
            return None;
        }
        buf.copy_within(12..len, 16);
        buf[12..14].copy_from_slice(&tpid.to_be_bytes());
        buf[14..16].copy_from_slice(&tci.to_be_bytes());
        len += 4;
        csum_start += 4;
    }
    let mut completed = false;
    if meta.needs_csum {
        let field = csum_start + meta.csum_offset;
        // The field holds the pseudo-header sum the sending stack put there, so the checksum
        // of everything from csum_start on, field included, is the finished one. A zero result
        // goes out as 0xffff: the same value in ones' complement, and the only form UDP allows.
        if csum_start <= len && field + 2 <= len {
            let c = match internet_checksum(&buf[csum_start..len]) {
                0 => 0xffff,
                c => c,
            };
            buf[field..field + 2].copy_from_slice(&c.to_be_bytes());
            completed = true;
        }
    }
    Some((len, completed))
}

impl Wire for AfPacket {
    fn transmit(&mut self, frame: &[u8]) -> bool {
        let iov = [
            libc::iovec {
                iov_base: self.vnet_tx.as_mut_ptr().cast(),
                iov_len: VNET_HDR_LEN,
            },
            libc::iovec {
                iov_base: frame.as_ptr() as *mut libc::c_void,
                iov_len: frame.len(),
            },
        ];
        // SAFETY: all-zero is a valid `msghdr`; the vector is set below.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = iov.len() as _;
        // SAFETY: `msg` points at `iov`, whose two buffers are valid for the call; sendmsg only
        // reads them (the `*mut` is the C signature's). The socket is non-blocking.
        let n = unsafe { libc::sendmsg(self.socket.as_raw_fd(), &msg, libc::MSG_DONTWAIT) };
        if n == (VNET_HDR_LEN + frame.len()) as isize {
            self.stats.count_tx(frame.len());
            true
        } else {
            // ENETDOWN, EMSGSIZE (longer than the MTU), ENOBUFS/EAGAIN: lost on the cable.
            self.stats.count_tx_error();
            false
        }
    }

    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        for _ in 0..MAX_SKIPS {
            let mut iov = [
                libc::iovec {
                    iov_base: self.vnet_rx.as_mut_ptr().cast(),
                    iov_len: VNET_HDR_LEN,
                },
                libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: buf.len(),
                },
            ];
            // Room for one PACKET_AUXDATA message, aligned as cmsghdr needs.
            let mut control = [0u64; 8];
            // SAFETY: all-zero is a valid `sockaddr_ll` and `msghdr`; the fields are set below.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
            msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            msg.msg_iov = iov.as_mut_ptr();
            msg.msg_iovlen = iov.len() as _;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&control) as _;
            // SAFETY: every pointer in `msg` refers to a live buffer of the length given; the
            // socket is non-blocking. MSG_TRUNC makes the result the frame's real length.
            let n = unsafe {
                libc::recvmsg(
                    self.socket.as_raw_fd(),
                    &mut msg,
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => return None,
                    io::ErrorKind::Interrupted => continue,
                    // ENETDOWN after the interface went down, EINVAL for a frame the kernel
                    // could not describe in a vnet header: that frame is gone, try the next.
                    _ => {
                        self.stats.count_rx_error();
                        continue;
                    }
                }
            }
            let n = n as usize;
            if n < VNET_HDR_LEN {
                self.stats.count_rx_error();
                continue;
            }
            if from.sll_pkttype == PACKET_OUTGOING {
                continue;
            }
            let mut meta = RxMeta::from_vnet(&self.vnet_rx, n - VNET_HDR_LEN);
            meta.vlan = auxdata_vlan(&msg);
            match restore_frame(buf, &meta) {
                Some((len, completed)) => {
                    if completed {
                        self.stats.count_csum_completed();
                    }
                    self.stats.count_rx(len);
                    return Some(len);
                }
                None => self.stats.count_rx_oversize(),
            }
        }
        None
    }

    fn link_up(&self) -> bool {
        self.watch.link_up()
    }

    fn mtu(&self) -> Option<u32> {
        self.watch.mtu()
    }

    fn mac(&self) -> Option<[u8; 6]> {
        Some(self.mac)
    }

    fn describe(&self) -> String {
        format!("afpacket {}", self.opts.where_())
    }
}

/// The VLAN tag the kernel reported in the `PACKET_AUXDATA` message of `msg`, if any.
fn auxdata_vlan(msg: &libc::msghdr) -> Option<(u16, u16)> {
    // SAFETY: `msg` was filled by recvmsg, so its control fields describe a valid (possibly
    // empty) list of control messages inside the buffer it names.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is non-null and was returned by CMSG_FIRSTHDR/CMSG_NXTHDR for `msg`.
        let hdr = unsafe { &*cmsg };
        let want = std::mem::size_of::<libc::tpacket_auxdata>();
        // SAFETY: CMSG_LEN is a pure computation.
        let full = unsafe { libc::CMSG_LEN(want as u32) } as usize;
        if hdr.cmsg_level == libc::SOL_PACKET
            && hdr.cmsg_type == libc::PACKET_AUXDATA
            && hdr.cmsg_len as usize >= full
        {
            // SAFETY: the message is at least `full` bytes, so its data holds a whole
            // `tpacket_auxdata`; the data may be unaligned for it, hence read_unaligned.
            let aux: libc::tpacket_auxdata = unsafe {
                std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::tpacket_auxdata>())
            };
            if aux.tp_status & libc::TP_STATUS_VLAN_VALID == 0 {
                return None;
            }
            let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                aux.tp_vlan_tpid
            } else {
                0x8100
            };
            return Some((tpid, aux.tp_vlan_tci));
        }
        // SAFETY: `cmsg` belongs to `msg`; CMSG_NXTHDR returns null past the last one.
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet_packet::ipv4::{checksum as ipv4_checksum, MutableIpv4Packet};
    use pnet_packet::udp::{ipv4_checksum as udp_checksum, MutableUdpPacket, UdpPacket};
    use std::net::Ipv4Addr;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    /// An Ethernet/IPv4/UDP frame with `payload`, its UDP checksum field holding the
    /// pseudo-header sum as a stack that leaves the checksum to hardware writes it.
    fn udp_frame_partial(payload: &[u8]) -> Vec<u8> {
        let udp_len = 8 + payload.len();
        let mut f = vec![0u8; 14 + 20 + udp_len];
        f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        {
            let mut ip = MutableIpv4Packet::new(&mut f[14..34]).unwrap();
            ip.set_version(4);
            ip.set_header_length(5);
            ip.set_total_length((20 + udp_len) as u16);
            ip.set_ttl(64);
            ip.set_next_level_protocol(pnet_packet::ip::IpNextHeaderProtocols::Udp);
            ip.set_source(SRC);
            ip.set_destination(DST);
            let c = ipv4_checksum(&ip.to_immutable());
            ip.set_checksum(c);
        }
        let mut udp = MutableUdpPacket::new(&mut f[34..]).unwrap();
        udp.set_source(40_000);
        udp.set_destination(7);
        udp.set_length(udp_len as u16);
        udp.set_payload(payload);
        // Pseudo-header sum, folded, not complemented.
        let mut c = crate::csum::Checksum::new();
        c.add_bytes(&SRC.octets());
        c.add_bytes(&DST.octets());
        c.add_u16(17);
        c.add_u16(udp_len as u16);
        udp.set_checksum(c.sum());
        f
    }

    fn meta_for(len: usize) -> RxMeta {
        RxMeta {
            len,
            ..RxMeta::default()
        }
    }

    #[test]
    fn vnet_header_fields_are_read_in_host_order() {
        let mut h = [0u8; VNET_HDR_LEN];
        h[0] = VNET_F_NEEDS_CSUM;
        h[6..8].copy_from_slice(&34u16.to_ne_bytes());
        h[8..10].copy_from_slice(&6u16.to_ne_bytes());
        let m = RxMeta::from_vnet(&h, 100);
        assert!(m.needs_csum && !m.gso);
        assert_eq!((m.len, m.csum_start, m.csum_offset), (100, 34, 6));
        h[1] = 1; // VIRTIO_NET_HDR_GSO_TCPV4
        assert!(RxMeta::from_vnet(&h, 100).gso);
    }

    #[test]
    fn a_pending_udp_checksum_is_finished() {
        let f = udp_frame_partial(b"hello, cable");
        let mut buf = vec![0u8; MAX_FRAME];
        buf[..f.len()].copy_from_slice(&f);
        let meta = RxMeta {
            needs_csum: true,
            csum_start: 34,
            csum_offset: 6,
            ..meta_for(f.len())
        };
        assert_eq!(restore_frame(&mut buf, &meta), Some((f.len(), true)));
        let udp = UdpPacket::new(&buf[34..f.len()]).unwrap();
        assert_eq!(udp.get_checksum(), udp_checksum(&udp, &SRC, &DST));
        assert_ne!(udp.get_checksum(), 0);
        assert_eq!(&buf[..34], &f[..34], "headers before csum_start untouched");
        assert_eq!(&buf[42..f.len()], &f[42..], "payload untouched");
    }

    #[test]
    fn a_vlan_tag_is_put_back_and_checksum_offsets_follow_it() {
        let f = udp_frame_partial(b"tagged");
        let mut buf = vec![0u8; MAX_FRAME];
        buf[..f.len()].copy_from_slice(&f);
        let meta = RxMeta {
            needs_csum: true,
            csum_start: 34,
            csum_offset: 6,
            vlan: Some((0x8100, 0x6064)), // PCP 3, VID 100
            ..meta_for(f.len())
        };
        let (len, done) = restore_frame(&mut buf, &meta).unwrap();
        assert_eq!((len, done), (f.len() + 4, true));
        assert_eq!(&buf[..12], &f[..12]);
        assert_eq!(&buf[12..16], &[0x81, 0x00, 0x60, 0x64]);
        assert_eq!(
            &buf[16..16 + 20 + 2],
            &f[12..12 + 20 + 2],
            "ethertype and IP header follow"
        );
        let udp = UdpPacket::new(&buf[38..len]).unwrap();
        assert_eq!(udp.get_checksum(), udp_checksum(&udp, &SRC, &DST));
    }

    #[test]
    fn a_plain_frame_passes_unchanged() {
        let f: Vec<u8> = (0..60u8).collect();
        let mut buf = vec![0u8; MAX_FRAME];
        buf[..60].copy_from_slice(&f);
        assert_eq!(restore_frame(&mut buf, &meta_for(60)), Some((60, false)));
        assert_eq!(&buf[..60], &f[..]);
    }

    #[test]
    fn oversize_gso_and_bad_offsets_are_handled() {
        let mut buf = vec![0u8; 2000];
        // Longer than the buffer (MSG_TRUNC reported the real length).
        assert_eq!(restore_frame(&mut buf, &meta_for(2001)), None);
        // Tag would not fit.
        let tagged = RxMeta {
            vlan: Some((0x8100, 1)),
            ..meta_for(1998)
        };
        assert_eq!(restore_frame(&mut buf, &tagged), None);
        // Segmentation-offload super-frame.
        let gso = RxMeta {
            gso: true,
            ..meta_for(100)
        };
        assert_eq!(restore_frame(&mut buf, &gso), None);
        // A checksum position past the frame is left alone rather than trusted.
        buf[..100].fill(0xaa);
        let bad = RxMeta {
            needs_csum: true,
            csum_start: 90,
            csum_offset: 9,
            ..meta_for(100)
        };
        assert_eq!(restore_frame(&mut buf, &bad), Some((100, false)));
        assert!(buf[..100].iter().all(|b| *b == 0xaa));
    }

    #[test]
    fn afpacket_options() {
        let o = NetifOptions::parse("afpacket", &["veth0,netns=blue", "up"]).unwrap();
        assert_eq!(
            (o.name.as_str(), o.netns.as_deref(), o.up),
            ("veth0", Some("blue"), true)
        );
        let e = NetifOptions::parse("afpacket", &["veth0", "promisc"]).unwrap_err();
        assert_eq!(
            e,
            "unknown afpacket wire option 'promisc' (netns=NS, up, lossless)"
        );
        let e = AfPacket::open(&NetifOptions::parse("afpacket", &["ena-sim-nope"]).unwrap())
            .err()
            .expect("no such interface");
        assert!(e.to_string().contains("ena-sim-nope"), "{e}");
    }
}
