//! Sockets inside a network namespace, opened from the test process itself (no `ip netns
//! exec`, no tools that may be missing): TCP listeners and connections from a chosen source
//! port, an ICMP echo ("ping") with the don't-fragment bit, and a bulk TCP transfer whose
//! receiver checks every byte of the content.
//!
//! A socket belongs to the namespace it was created in for its whole life, so each is created
//! on a helper thread that entered the namespace (`ena_sim::wire::netif::in_netns`) and then
//! used from any thread.

use std::io::{self, Read, Write};
use std::mem::size_of;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Runs `f` on a thread inside namespace `ns`.
pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    ena_sim::wire::netif::in_netns(Some(ns), f)
}

/// A TCP listener on `addr` inside `ns`.
pub fn listen(ns: &str, addr: SocketAddrV4) -> io::Result<TcpListener> {
    in_ns(ns, move || TcpListener::bind(addr))
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `socket(AF_INET, kind, protocol)` as an owned descriptor.
fn socket(kind: libc::c_int, protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is checked before it is owned.
    let fd = unsafe { libc::socket(libc::AF_INET, kind | libc::SOCK_CLOEXEC, protocol) };
    check(fd)?;
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: T) -> io::Result<()> {
    // SAFETY: `value` is a live `T` for the call and the length passed is its size.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
}

fn timeval(d: Duration) -> libc::timeval {
    libc::timeval {
        tv_sec: d.as_secs() as libc::time_t,
        tv_usec: d.subsec_micros() as libc::suseconds_t,
    }
}

/// A TCP connection from inside `ns` to `dst`, from source address `src` when given (a fixed
/// source port makes the flow's hash, hence its RSS queue or Maglev backend, the same in every
/// run), giving up after `timeout`.
pub fn connect(
    ns: &str,
    src: Option<SocketAddrV4>,
    dst: SocketAddrV4,
    timeout: Duration,
) -> io::Result<TcpStream> {
    in_ns(ns, move || {
        let fd = socket(libc::SOCK_STREAM, 0)?;
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1 as libc::c_int)?;
        if let Some(src) = src {
            let sa = sockaddr(src);
            // SAFETY: `sa` is a valid sockaddr_in for the call, with its true size.
            check(unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&sa as *const libc::sockaddr_in).cast(),
                    size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            })
            .map_err(|e| io::Error::new(e.kind(), format!("bind {src}: {e}")))?;
        }
        // A blocking connect(2) gives up after the send timeout.
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_SNDTIMEO, timeval(timeout))?;
        let sa = sockaddr(dst);
        // SAFETY: as for bind above.
        check(unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        })
        .map_err(|e| io::Error::new(e.kind(), format!("connect {dst}: {e}")))?;
        let s = TcpStream::from(fd);
        s.set_write_timeout(Some(timeout))?;
        s.set_read_timeout(Some(timeout))?;
        Ok(s)
    })
}

// ---------------------------------------------------------------------------------------------
// ICMP echo
// ---------------------------------------------------------------------------------------------

/// The Internet checksum (RFC 1071).
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What [`ping`] saw.
#[derive(Debug, Default)]
pub struct PingReport {
    pub sent: u32,
    pub received: u32,
    pub rtts: Vec<Duration>,
}

impl PingReport {
    /// Average round trip, in milliseconds.
    pub fn avg_ms(&self) -> f64 {
        if self.rtts.is_empty() {
            return 0.0;
        }
        self.rtts.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / self.rtts.len() as f64
    }
}

/// Sends `count` ICMP echo requests of `payload` bytes from namespace `ns` to `dst`, one at a
/// time, each waiting up to `wait` for its reply (checked byte for byte), like `ping -c count
/// -s payload -W wait`; `dont_fragment` is `ping -M do`: the kernel refuses (EMSGSIZE) to send
/// a packet the route's MTU cannot carry whole, rather than fragmenting it.
pub fn ping(
    ns: &str,
    dst: Ipv4Addr,
    payload: usize,
    dont_fragment: bool,
    count: u32,
    wait: Duration,
) -> io::Result<PingReport> {
    let fd = in_ns(ns, || socket(libc::SOCK_RAW, libc::IPPROTO_ICMP))?;
    let pmtu = if dont_fragment {
        libc::IP_PMTUDISC_DO
    } else {
        libc::IP_PMTUDISC_DONT
    };
    setsockopt(&fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, pmtu)?;
    setsockopt(
        &fd,
        libc::SOL_SOCKET,
        libc::SO_RCVTIMEO,
        timeval(Duration::from_millis(50)),
    )?;
    let id = (std::process::id() as u16) ^ 0x5a5a;
    let to = sockaddr(SocketAddrV4::new(dst, 0));
    let mut report = PingReport::default();
    let mut buf = vec![0u8; 65_536];
    for seq in 1..=count as u16 {
        let mut req = vec![0u8; 8 + payload];
        req[0] = 8; // echo request
        req[4..6].copy_from_slice(&id.to_be_bytes());
        req[6..8].copy_from_slice(&seq.to_be_bytes());
        for (i, b) in req[8..].iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(13).wrapping_add(seq as u8);
        }
        let c = inet_checksum(&req);
        req[2..4].copy_from_slice(&c.to_be_bytes());
        let t0 = Instant::now();
        // SAFETY: `req` and `to` are valid for reads of the lengths passed during the call.
        let n = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                req.as_ptr().cast(),
                req.len(),
                0,
                (&to as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("ping {dst} with {payload} bytes: {e}"),
            ));
        }
        report.sent += 1;
        while t0.elapsed() < wait {
            // SAFETY: `buf` is valid for writes of its length during the call.
            let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 {
                continue;
            }
            let pkt = &buf[..n as usize];
            let ihl = usize::from(pkt[0] & 0x0f) * 4;
            if pkt.len() < ihl + 8 {
                continue;
            }
            let icmp = &pkt[ihl..];
            let is_ours = icmp[0] == 0
                && icmp[4..6] == id.to_be_bytes()
                && icmp[6..8] == seq.to_be_bytes()
                && pkt[12..16] == dst.octets();
            if is_ours {
                assert_eq!(icmp[8..], req[8..], "echo reply payload");
                assert_eq!(inet_checksum(icmp), 0, "echo reply checksum");
                report.received += 1;
                report.rtts.push(t0.elapsed());
                break;
            }
        }
    }
    Ok(report)
}

/// Pings `dst` from `ns` until one reply comes back or `within` passes (ARP, a port that is
/// still starting): the path is up.
pub fn wait_for_path(ns: &str, dst: Ipv4Addr, within: Duration) -> Result<Duration, String> {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        match ping(ns, dst, 56, false, 1, Duration::from_millis(500)) {
            Ok(r) if r.received == 1 => return Ok(t0.elapsed()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!("no echo reply from {dst} within {within:?}"))
}

// ---------------------------------------------------------------------------------------------
// Bulk transfer
// ---------------------------------------------------------------------------------------------

/// Bytes per chunk of [`Content`].
const CHUNK: usize = 64 * 1024;
/// Size of [`Content`]'s random pool.
const POOL: usize = 1024 * 1024;

/// The content of stream `seed`: chunk `i` (64 KiB) is the piece of a 1 MiB random pool that
/// starts at an offset only `i` gives, so every byte depends on its position in the stream
/// and the seed: a lost, repeated or reordered segment, or bytes of another stream, differ from
/// what is expected there. Producing and checking it is a copy and a compare (a hash computed
/// in Rust runs at about 16 MB/s in a debug build, slower than the path under test).
pub struct Content {
    pool: Vec<u8>,
    seed: u64,
}

impl Content {
    pub fn new(seed: u64) -> Self {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut pool = vec![0u8; POOL + CHUNK];
        for w in pool.chunks_exact_mut(8) {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            w.copy_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        Self { pool, seed }
    }

    /// The bytes of the stream from position `pos` to the end of its chunk.
    pub fn at(&self, pos: u64) -> &[u8] {
        let chunk = pos / CHUNK as u64;
        let words = (POOL / 8) as u64;
        let start = (chunk.wrapping_mul(0x9e37_79b1).wrapping_add(self.seed) % words) as usize * 8;
        let within = (pos % CHUNK as u64) as usize;
        &self.pool[start + within..start + CHUNK]
    }
}

/// The sender's side of a bulk transfer: an 8-byte length, then `len` bytes of [`Content`]
/// `seed`; then it waits for the receiver's verdict (1 = every byte as expected, and the
/// count it received). Returns the bytes sent and the seconds until the verdict.
pub fn bulk_send(mut s: TcpStream, len: u64, seed: u64) -> io::Result<(u64, f64)> {
    let t0 = Instant::now();
    let content = Content::new(seed);
    s.write_all(&len.to_be_bytes())?;
    s.write_all(&seed.to_be_bytes())?;
    let mut pos = 0u64;
    while pos < len {
        let piece = content.at(pos);
        let n = piece.len().min((len - pos) as usize);
        s.write_all(&piece[..n])?;
        pos += n as u64;
    }
    let mut verdict = [0u8; 9];
    s.read_exact(&mut verdict)?;
    let counted = u64::from_be_bytes(verdict[1..].try_into().unwrap_or_default());
    if verdict[0] != 1 || counted != len {
        return Err(io::Error::other(format!(
            "stream {seed}: the receiver found the content wrong (verdict {}, {counted} of {len} bytes)",
            verdict[0]
        )));
    }
    Ok((len, t0.elapsed().as_secs_f64()))
}

/// The receiver's side of [`bulk_send`]: reads the length and the seed, checks every byte of
/// the content against what the seed gives at that position, answers with its verdict, and
/// returns the bytes received, or an error naming the first wrong byte or where the stream was
/// cut short.
pub fn bulk_receive(mut s: TcpStream) -> io::Result<u64> {
    let mut head = [0u8; 16];
    s.read_exact(&mut head)?;
    let len = u64::from_be_bytes(head[..8].try_into().unwrap_or_default());
    let seed = u64::from_be_bytes(head[8..].try_into().unwrap_or_default());
    let content = Content::new(seed);
    let mut buf = vec![0u8; 256 * 1024];
    let mut pos = 0u64;
    let mut first_bad: Option<u64> = None;
    while pos < len {
        let want = buf.len().min((len - pos) as usize);
        let n = s.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("stream {seed} cut after {pos} of {len} bytes"),
            ));
        }
        let mut got = &buf[..n];
        while !got.is_empty() {
            let expected = content.at(pos);
            let k = expected.len().min(got.len());
            if first_bad.is_none() && got[..k] != expected[..k] {
                let i = (0..k).find(|&i| got[i] != expected[i]).unwrap_or(0);
                first_bad = Some(pos + i as u64);
            }
            got = &got[k..];
            pos += k as u64;
        }
    }
    let mut verdict = vec![u8::from(first_bad.is_none())];
    verdict.extend_from_slice(&pos.to_be_bytes());
    s.write_all(&verdict)?;
    match first_bad {
        Some(at) => Err(io::Error::other(format!(
            "stream {seed}: byte {at} of {len} differs from what was sent"
        ))),
        None => Ok(len),
    }
}
