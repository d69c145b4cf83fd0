//! What the Linux-facing wires ([`super::tap`], [`super::afpacket`]) share: entering a network
//! namespace to create their file descriptors there, the interface ioctls they need (index,
//! flags, MTU, MAC), a cheap watch on the interface's link state and MTU, and their counters.
//!
//! A network namespace belongs to a thread, and a socket or TAP file descriptor stays in the
//! namespace it was created in for its whole life. So a wire for namespace `NS` is created on a
//! short-lived helper thread that has joined `NS` (`setns(CLONE_NEWNET)`); the device's polling
//! thread, and every other thread, stays where it was. The same goes for the interface queries:
//! `/sys/class/net` shows the namespace of whoever mounted sysfs, not the wire's, so the link
//! state and MTU are read with `SIOCGIFFLAGS`/`SIOCGIFMTU` on a control socket that was itself
//! created inside the namespace.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a wire re-reads its interface's link state and MTU. The device asks for the link
/// state on every clock tick, which must not cost a system call each time.
pub const LINK_REFRESH: Duration = Duration::from_millis(100);

/// Where `ip netns add NAME` keeps its namespaces.
const NETNS_DIR: &str = "/var/run/netns";

/// The file that names network namespace `netns`: `/var/run/netns/<name>` for a name as `ip
/// netns` gives them, or the path itself when it contains a `/` (e.g. `/proc/<pid>/ns/net`).
pub fn netns_path(netns: &str) -> io::Result<PathBuf> {
    if netns.contains('/') {
        return Ok(PathBuf::from(netns));
    }
    if netns.is_empty() || netns == "." || netns == ".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("'{netns}' is not a network namespace name"),
        ));
    }
    Ok(PathBuf::from(NETNS_DIR).join(netns))
}

/// Runs `f` inside network namespace `netns` (on a helper thread that joins it and then ends),
/// or on the calling thread when `netns` is `None`. Whatever file descriptors `f` creates stay
/// in that namespace after the thread is gone.
pub fn in_netns<T: Send>(
    netns: Option<&str>,
    f: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    let Some(netns) = netns else { return f() };
    let path = netns_path(netns)?;
    let ns = File::open(&path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("network namespace {}: {e}", path.display()),
        )
    })?;
    std::thread::scope(|s| {
        let helper = std::thread::Builder::new()
            .name("ena-sim-netns".into())
            .spawn_scoped(s, move || {
                // SAFETY: `ns` is an open namespace file for the whole call; CLONE_NEWNET moves
                // only this helper thread, which ends when `f` returns.
                if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    let e = io::Error::last_os_error();
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot enter network namespace {netns}: {e}"),
                    ));
                }
                f()
            })?;
        helper
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("network namespace helper panicked")))
    })
}

/// An interface name as the kernel takes it: 1 to 15 bytes, no `/`, `:` or white space.
pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(format!(
            "interface name '{name}' must be 1 to {} bytes",
            libc::IFNAMSIZ - 1
        ));
    }
    if name == "."
        || name == ".."
        || name.contains(['/', ':', '\0'])
        || name.contains(char::is_whitespace)
    {
        return Err(format!("'{name}' is not a valid interface name"));
    }
    Ok(())
}

/// A control socket for one interface, created in the interface's namespace: the ioctls that
/// read and set its flags, MTU, MAC and index.
pub struct IfControl {
    ctl: OwnedFd,
    name: [libc::c_char; libc::IFNAMSIZ],
    name_str: String,
}

impl IfControl {
    /// A control socket for interface `name`, in the calling thread's network namespace.
    pub fn open(name: &str) -> io::Result<Self> {
        check_ifname(name).map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m))?;
        let cname = CString::new(name)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
        let mut ifname = [0 as libc::c_char; libc::IFNAMSIZ];
        for (d, s) in ifname.iter_mut().zip(cname.as_bytes()) {
            *d = *s as libc::c_char;
        }
        // SAFETY: plain socket(2) call; the result is checked before it is owned.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor nobody else owns.
        let ctl = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self {
            ctl,
            name: ifname,
            name_str: name.to_owned(),
        })
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name_str
    }

    fn request(&self) -> libc::ifreq {
        // SAFETY: `ifreq` is plain old data (a name and a union of integers, addresses and a
        // pointer); all-zero is a valid value of each.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        req.ifr_name = self.name;
        req
    }

    /// Issues interface ioctl `request` with `req`.
    ///
    /// # Safety
    /// `request` must read or write nothing but the `ifreq` itself, or (`SIOCETHTOOL`) also the
    /// buffer `req.ifr_ifru.ifru_data` points to, which must then be valid for that command.
    unsafe fn ioctl(&self, request: libc::c_ulong, req: &mut libc::ifreq) -> io::Result<()> {
        // SAFETY: `req` is a live `ifreq` for the call; what else the request touches is the
        // caller's promise.
        let rc =
            unsafe { libc::ioctl(self.ctl.as_raw_fd(), request as _, req as *mut libc::ifreq) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("{}: {e}", self.name_str)));
        }
        Ok(())
    }

    /// The interface flags (`IFF_UP`, `IFF_RUNNING`, ...): the low 16 bits, all this ioctl
    /// carries (no `IFF_LOWER_UP`).
    pub fn flags(&self) -> io::Result<i32> {
        let mut req = self.request();
        // SAFETY: SIOCGIFFLAGS touches only the ifreq.
        unsafe { self.ioctl(libc::SIOCGIFFLAGS, &mut req)? };
        // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member.
        Ok(i32::from(unsafe { req.ifr_ifru.ifru_flags }) & 0xffff)
    }

    /// Sets `IFF_UP` (`ip link set NAME up`).
    pub fn set_up(&self) -> io::Result<()> {
        let mut req = self.request();
        // SAFETY: SIOCGIFFLAGS touches only the ifreq.
        unsafe { self.ioctl(libc::SIOCGIFFLAGS, &mut req)? };
        // SAFETY: SIOCGIFFLAGS filled `ifru_flags`; it is written back with IFF_UP added.
        unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
        // SAFETY: SIOCSIFFLAGS touches only the ifreq.
        unsafe { self.ioctl(libc::SIOCSIFFLAGS, &mut req) }
    }

    /// The interface's MTU.
    pub fn mtu(&self) -> io::Result<u32> {
        let mut req = self.request();
        // SAFETY: SIOCGIFMTU touches only the ifreq.
        unsafe { self.ioctl(libc::SIOCGIFMTU, &mut req)? };
        // SAFETY: SIOCGIFMTU filled the `ifru_mtu` member.
        let mtu = unsafe { req.ifr_ifru.ifru_mtu };
        u32::try_from(mtu).map_err(|_| io::Error::other(format!("{}: MTU {mtu}", self.name_str)))
    }

    /// The interface's hardware (MAC) address.
    pub fn mac(&self) -> io::Result<[u8; 6]> {
        let mut req = self.request();
        // SAFETY: SIOCGIFHWADDR touches only the ifreq.
        unsafe { self.ioctl(libc::SIOCGIFHWADDR, &mut req)? };
        // SAFETY: SIOCGIFHWADDR filled the `ifru_hwaddr` member.
        let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
        if sa.sa_family != libc::ARPHRD_ETHER {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "{} is not an Ethernet interface (hardware type {})",
                    self.name_str, sa.sa_family
                ),
            ));
        }
        let mut mac = [0u8; 6];
        for (d, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
            *d = *s as u8;
        }
        Ok(mac)
    }

    /// The interface's index.
    pub fn index(&self) -> io::Result<i32> {
        let mut req = self.request();
        // SAFETY: SIOCGIFINDEX touches only the ifreq.
        unsafe { self.ioctl(libc::SIOCGIFINDEX, &mut req)? };
        // SAFETY: SIOCGIFINDEX filled the `ifru_ifindex` member.
        Ok(unsafe { req.ifr_ifru.ifru_ifindex })
    }

    /// Whether the interface has carrier (`ETHTOOL_GLINK`, which veth, TAP and most NICs
    /// answer from the carrier flag itself), or `None` where the driver does not say.
    pub fn carrier(&self) -> Option<bool> {
        /// `struct ethtool_value` with `ETHTOOL_GLINK` (linux/ethtool.h).
        #[repr(C)]
        struct EthtoolValue {
            cmd: u32,
            data: u32,
        }
        const ETHTOOL_GLINK: u32 = 0x0000_000a;
        let mut value = EthtoolValue {
            cmd: ETHTOOL_GLINK,
            data: 0,
        };
        let mut req = self.request();
        req.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
        // SAFETY: ETHTOOL_GLINK reads `cmd` and writes `data` of the `EthtoolValue` that
        // `ifru_data` points to, which outlives the call.
        unsafe { self.ioctl(libc::SIOCETHTOOL, &mut req) }.ok()?;
        Some(value.data != 0)
    }

    /// Whether the link can carry frames: administratively up (`IFF_UP`) with carrier (for a
    /// veth, the peer is up too; for a TAP, a file descriptor is attached). An interface that
    /// vanished is down. Carrier is read directly where the driver reports it: the
    /// operational state behind `IFF_RUNNING` is updated from a kernel work queue, up to a
    /// second after the carrier changed; `IFF_RUNNING` is the fallback.
    pub fn link_up(&self) -> bool {
        let Ok(flags) = self.flags() else {
            return false;
        };
        if flags & libc::IFF_UP == 0 {
            return false;
        }
        self.carrier().unwrap_or(flags & libc::IFF_RUNNING != 0)
    }
}

/// The link state and MTU of an interface, as a wire reports them: read again at most every
/// [`LINK_REFRESH`], so asking often costs a clock read, not a system call.
pub struct LinkWatch {
    ctl: IfControl,
    next_check: Cell<Instant>,
    up: Cell<bool>,
    mtu: Cell<Option<u32>>,
}

impl LinkWatch {
    /// Watches the interface `ctl` controls, reading its state now.
    pub fn new(ctl: IfControl) -> Self {
        Self {
            up: Cell::new(ctl.link_up()),
            mtu: Cell::new(ctl.mtu().ok()),
            next_check: Cell::new(Instant::now() + LINK_REFRESH),
            ctl,
        }
    }

    /// The control socket.
    pub fn control(&self) -> &IfControl {
        &self.ctl
    }

    fn refresh(&self) {
        let now = Instant::now();
        if now < self.next_check.get() {
            return;
        }
        self.next_check.set(now + LINK_REFRESH);
        self.up.set(self.ctl.link_up());
        // A vanished interface keeps its last known MTU; the link is down anyway.
        if let Ok(m) = self.ctl.mtu() {
            self.mtu.set(Some(m));
        }
    }

    /// Whether the link is up (at most [`LINK_REFRESH`] old).
    pub fn link_up(&self) -> bool {
        self.refresh();
        self.up.get()
    }

    /// The interface's MTU (at most [`LINK_REFRESH`] old).
    pub fn mtu(&self) -> Option<u32> {
        self.refresh();
        self.mtu.get()
    }
}

#[derive(Debug, Default)]
struct Counters {
    rx_frames: AtomicU64,
    rx_bytes: AtomicU64,
    tx_frames: AtomicU64,
    tx_bytes: AtomicU64,
    tx_errors: AtomicU64,
    rx_oversize: AtomicU64,
    rx_errors: AtomicU64,
    rx_csum_completed: AtomicU64,
}

/// Counters of a TAP or AF_PACKET wire, shared between the wire and whoever keeps this handle.
#[derive(Clone, Debug, Default)]
pub struct NetifStats(Arc<Counters>);

impl NetifStats {
    /// Frames handed to the port.
    pub fn rx_frames(&self) -> u64 {
        self.0.rx_frames.load(Ordering::Relaxed)
    }
    /// Bytes handed to the port.
    pub fn rx_bytes(&self) -> u64 {
        self.0.rx_bytes.load(Ordering::Relaxed)
    }
    /// Frames the port sent that the kernel took.
    pub fn tx_frames(&self) -> u64 {
        self.0.tx_frames.load(Ordering::Relaxed)
    }
    /// Bytes the port sent that the kernel took.
    pub fn tx_bytes(&self) -> u64 {
        self.0.tx_bytes.load(Ordering::Relaxed)
    }
    /// Frames the port sent that the kernel refused (interface down, too long, queue full).
    pub fn tx_errors(&self) -> u64 {
        self.0.tx_errors.load(Ordering::Relaxed)
    }
    /// Frames from the kernel too long for the port (or segmentation-offload super-frames),
    /// dropped.
    pub fn rx_oversize(&self) -> u64 {
        self.0.rx_oversize.load(Ordering::Relaxed)
    }
    /// Read errors other than "nothing waiting".
    pub fn rx_errors(&self) -> u64 {
        self.0.rx_errors.load(Ordering::Relaxed)
    }
    /// Frames whose checksum the kernel had left to hardware and the wire completed.
    pub fn rx_csum_completed(&self) -> u64 {
        self.0.rx_csum_completed.load(Ordering::Relaxed)
    }

    pub(crate) fn count_rx(&self, len: usize) {
        self.0.rx_frames.fetch_add(1, Ordering::Relaxed);
        self.0.rx_bytes.fetch_add(len as u64, Ordering::Relaxed);
    }
    pub(crate) fn count_tx(&self, len: usize) {
        self.0.tx_frames.fetch_add(1, Ordering::Relaxed);
        self.0.tx_bytes.fetch_add(len as u64, Ordering::Relaxed);
    }
    pub(crate) fn count_tx_error(&self) {
        self.0.tx_errors.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn count_rx_oversize(&self) {
        self.0.rx_oversize.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn count_rx_error(&self) {
        self.0.rx_errors.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn count_csum_completed(&self) {
        self.0.rx_csum_completed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Options every Linux-facing wire takes after its interface name, in either separator style
/// (`tap:t0:netns=a:up` or `tap:t0,netns=a,up`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetifOptions {
    /// The interface.
    pub name: String,
    /// The network namespace it lives in (`None`: the caller's).
    pub netns: Option<String>,
    /// Bring the interface up.
    pub up: bool,
    /// `lossless` was given (accepted; a kernel interface drops frames anyway).
    pub lossless: bool,
}

impl NetifOptions {
    /// Parses `NAME[,netns=NS][,up][,lossless]`, each part separated by `:` or `,`; `kind` names
    /// the wire in messages.
    pub fn parse(kind: &str, opts: &[&str]) -> Result<Self, String> {
        let mut parts = opts
            .iter()
            .flat_map(|o| o.split(','))
            .filter(|p| !p.is_empty());
        let name = parts
            .next()
            .ok_or_else(|| format!("wire={kind} needs an interface name ({kind}:NAME)"))?;
        if name.contains('=') || name == "up" || name == "lossless" {
            return Err(format!(
                "wire={kind}: the interface name comes first ({kind}:NAME[:netns=NS][:up]), not '{name}'"
            ));
        }
        check_ifname(name).map_err(|m| format!("wire={kind}: {m}"))?;
        let mut o = Self {
            name: name.to_owned(),
            ..Self::default()
        };
        for p in parts {
            match p.split_once('=') {
                Some(("netns", ns)) => {
                    netns_path(ns).map_err(|e| format!("wire={kind}: {e}"))?;
                    o.netns = Some(ns.to_owned());
                }
                None if p == "up" => o.up = true,
                None if p == "lossless" => o.lossless = true,
                _ => {
                    return Err(format!(
                        "unknown {kind} wire option '{p}' (netns=NS, up, lossless)"
                    ))
                }
            }
        }
        Ok(o)
    }

    /// `NAME` or `NAME in netns NS`, for descriptions.
    pub fn where_(&self) -> String {
        match &self.netns {
            Some(ns) => format!("{} in netns {ns}", self.name),
            None => self.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_in_both_separator_styles() {
        let want = NetifOptions {
            name: "tap0".into(),
            netns: Some("blue".into()),
            up: true,
            lossless: true,
        };
        assert_eq!(
            NetifOptions::parse("tap", &["tap0", "netns=blue", "up", "lossless"]).unwrap(),
            want
        );
        assert_eq!(
            NetifOptions::parse("tap", &["tap0,netns=blue,up", "lossless"]).unwrap(),
            want
        );
        let plain = NetifOptions::parse("afpacket", &["veth0"]).unwrap();
        assert_eq!(plain.name, "veth0");
        assert_eq!(plain.netns, None);
        assert!(!plain.up && !plain.lossless);
        assert_eq!(
            NetifOptions::parse("tap", &["t", "netns=/proc/1/ns/net"])
                .unwrap()
                .netns
                .as_deref(),
            Some("/proc/1/ns/net")
        );
    }

    #[test]
    fn bad_options_are_refused() {
        let err = |o: &[&str]| NetifOptions::parse("tap", o).unwrap_err();
        assert!(err(&[]).contains("needs an interface name"));
        assert!(err(&["netns=x"]).contains("the interface name comes first"));
        assert!(err(&["abcdefghijklmnop"]).contains("1 to 15 bytes"));
        assert!(err(&["a b"]).contains("not a valid interface name"));
        assert!(err(&["t0", "fast"]).contains("unknown tap wire option 'fast'"));
        assert!(err(&["t0", "netns="]).contains("is not a network namespace name"));
        assert!(err(&["t0", "netns=.."]).contains("is not a network namespace name"));
    }

    #[test]
    fn namespace_names_map_to_ip_netns_files() {
        assert_eq!(netns_path("a").unwrap(), PathBuf::from("/var/run/netns/a"));
        assert_eq!(
            netns_path("/proc/self/ns/net").unwrap(),
            PathBuf::from("/proc/self/ns/net")
        );
        let e = in_netns(Some("ena-sim-no-such-namespace"), || Ok(())).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e
            .to_string()
            .contains("/var/run/netns/ena-sim-no-such-namespace"));
    }

    #[test]
    fn loopback_interface_is_read_through_the_control_socket() {
        // Every namespace has `lo`: up, running, MTU 65536, hardware type loopback.
        let lo = IfControl::open("lo").unwrap();
        assert!(lo.index().unwrap() >= 1);
        assert_eq!(lo.mtu().unwrap(), 65536);
        assert!(lo.link_up());
        assert_eq!(lo.mac().unwrap_err().kind(), io::ErrorKind::Unsupported);
        let missing = IfControl::open("ena-sim-none").unwrap();
        assert!(!missing.link_up());
        assert!(missing.mtu().is_err());
        let w = LinkWatch::new(lo);
        assert_eq!(w.mtu(), Some(65536));
        assert!(w.link_up());
    }
}
