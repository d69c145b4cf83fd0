//! Test support: a fake system (sysfs, devfs, procfs and run trees in a temp dir) built the
//! way the kernel lays them out, a recorder of which files a command wrote and in what order,
//! and a runner for the `enactl` binary pointed at the fake trees.

#![allow(dead_code)]

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub const ENACTL: &str = env!("CARGO_BIN_EXE_enactl");

/// A fake machine under a temp dir: `sys/`, `dev/`, `proc/`, `run/`.
pub struct FakeSystem {
    pub tmp: tempfile::TempDir,
}

/// One fake PCI function.
pub struct FakeDevice<'a> {
    pub bdf: &'a str,
    pub vendor: u16,
    pub device: u16,
    pub class: u32,
    pub numa_node: i32,
    pub driver: Option<&'a str>,
    pub iommu_group: Option<&'a str>,
    /// (interface name, `flags` value).
    pub interfaces: &'a [(&'a str, u32)],
}

impl FakeDevice<'_> {
    /// An ENA VF bound to Linux's ena driver, no interface.
    pub fn ena(bdf: &str) -> FakeDevice<'_> {
        FakeDevice {
            bdf,
            vendor: 0x1d0f,
            device: 0xec20,
            class: 0x020000,
            numa_node: 0,
            driver: Some("ena"),
            iommu_group: None,
            interfaces: &[],
        }
    }
}

impl FakeSystem {
    /// An empty machine: the PCI bus, vfio's no-IOMMU parameter ("N"), no routes, the run dir.
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let s = Self { tmp };
        for d in [
            "sys/bus/pci/devices",
            "sys/bus/pci/drivers",
            "sys/devices/pci0000:00",
            "sys/kernel/iommu_groups",
            "sys/module/vfio/parameters",
            "dev",
            "proc/net",
            "proc/sys/vm",
            "run/enactl",
        ] {
            fs::create_dir_all(s.root().join(d)).expect("mkdir");
        }
        s.write(
            "sys/module/vfio/parameters/enable_unsafe_noiommu_mode",
            "N\n",
        );
        s.write("sys/bus/pci/drivers_probe", "");
        s.set_routes(&[]);
        s
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.path(rel);
        if let Some(d) = p.parent() {
            fs::create_dir_all(d).expect("mkdir");
        }
        fs::write(&p, content).expect("write");
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    /// A loaded driver: `sys/bus/pci/drivers/<name>/{bind,unbind}`.
    pub fn add_driver(&self, name: &str) {
        let d = format!("sys/bus/pci/drivers/{name}");
        self.write(&format!("{d}/bind"), "");
        self.write(&format!("{d}/unbind"), "");
    }

    /// An IOMMU group, which makes the machine one with an IOMMU.
    pub fn add_iommu_group(&self, group: &str) {
        fs::create_dir_all(self.path(&format!("sys/kernel/iommu_groups/{group}/devices")))
            .expect("mkdir");
    }

    /// A PCI function: its directory under `sys/devices/pci0000:00/`, linked from
    /// `sys/bus/pci/devices/`, with relative `driver` and `iommu_group` links as the kernel
    /// makes them.
    pub fn add_device(&self, d: &FakeDevice) {
        let rel = format!("sys/devices/pci0000:00/{}", d.bdf);
        self.write(&format!("{rel}/vendor"), &format!("0x{:04x}\n", d.vendor));
        self.write(&format!("{rel}/device"), &format!("0x{:04x}\n", d.device));
        self.write(&format!("{rel}/class"), &format!("0x{:06x}\n", d.class));
        self.write(&format!("{rel}/numa_node"), &format!("{}\n", d.numa_node));
        self.write(&format!("{rel}/driver_override"), "(null)\n");
        symlink(
            format!("../../../devices/pci0000:00/{}", d.bdf),
            self.path(&format!("sys/bus/pci/devices/{}", d.bdf)),
        )
        .expect("device link");
        if let Some(drv) = d.driver {
            self.add_driver(drv);
            self.set_driver(d.bdf, Some(drv));
        }
        if let Some(g) = d.iommu_group {
            self.add_iommu_group(g);
            symlink(
                format!("../../../kernel/iommu_groups/{g}"),
                self.path(&format!("{rel}/iommu_group")),
            )
            .expect("group link");
        }
        for (name, flags) in d.interfaces {
            self.write(&format!("{rel}/net/{name}/flags"), &format!("{flags:#x}\n"));
        }
    }

    /// Points a device's `driver` link at another driver (what the kernel does on a bind).
    pub fn set_driver(&self, bdf: &str, driver: Option<&str>) {
        let link = self.path(&format!("sys/devices/pci0000:00/{bdf}/driver"));
        let _ = fs::remove_file(&link);
        if let Some(drv) = driver {
            symlink(format!("../../../bus/pci/drivers/{drv}"), link).expect("driver link");
        }
    }

    /// `/proc/net/route` with a default route on each of `default_ifaces`.
    pub fn set_routes(&self, default_ifaces: &[&str]) {
        let mut text = String::from(
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n",
        );
        for i in default_ifaces {
            text.push_str(&format!(
                "{i}\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
            ));
            text.push_str(&format!(
                "{i}\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
            ));
        }
        self.write("proc/net/route", &text);
    }

    /// The root options for the binary.
    pub fn root_args(&self) -> Vec<String> {
        vec![
            "--sysfs-root".into(),
            self.path("sys").display().to_string(),
            "--dev-root".into(),
            self.path("dev").display().to_string(),
            "--proc-root".into(),
            self.path("proc").display().to_string(),
            "--run-root".into(),
            self.path("run").display().to_string(),
        ]
    }

    /// Runs `enactl <args>` against this machine.
    pub fn enactl(&self, args: &[&str]) -> Output {
        Command::new(ENACTL)
            .args(self.root_args())
            .args(args)
            .output()
            .expect("run enactl")
    }
}

/// Runs `enactl <args>` with the default roots.
pub fn enactl(args: &[&str]) -> Output {
    Command::new(ENACTL)
        .args(args)
        .output()
        .expect("run enactl")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a clean failure: the exit status, exactly one line on stderr starting `enactl: `
/// and containing each of `needles`, and no panic.
pub fn assert_error(o: &Output, code: i32, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {err}",
        stdout(o)
    );
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(lines[0].starts_with("enactl: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err:?}");
    }
}

/// Records every file closed after writing under a set of directories, in order, with
/// inotify: one inotify instance queues the events of all its watches in the order they
/// happened, so the sequence of writes a command made comes out exactly.
pub struct WriteRecorder {
    fd: i32,
    watches: Vec<(i32, PathBuf)>,
    base: PathBuf,
}

impl WriteRecorder {
    /// Watches `dirs` (relative to `base`).
    pub fn new(base: &Path, dirs: &[&str]) -> Self {
        // SAFETY: inotify_init1 takes flags only and returns a new descriptor or -1.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        assert!(
            fd >= 0,
            "inotify_init1: {}",
            std::io::Error::last_os_error()
        );
        let mut watches = Vec::new();
        for d in dirs {
            let path = base.join(d);
            let c = CString::new(path.as_os_str().as_bytes()).expect("path");
            // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
            let wd = unsafe { libc::inotify_add_watch(fd, c.as_ptr(), libc::IN_CLOSE_WRITE) };
            assert!(
                wd >= 0,
                "watching {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
            watches.push((wd, PathBuf::from(d)));
        }
        Self {
            fd,
            watches,
            base: base.to_path_buf(),
        }
    }

    /// The files written since the last call, relative to the base, in order.
    pub fn take(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: `buf` is valid for `buf.len()` bytes of writes.
            let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            let data = &buf[..n as usize];
            let mut at = 0;
            // struct inotify_event { int wd; u32 mask; u32 cookie; u32 len; char name[len]; }
            while at + 16 <= data.len() {
                let wd = i32::from_ne_bytes(data[at..at + 4].try_into().expect("4 bytes"));
                let len = u32::from_ne_bytes(data[at + 12..at + 16].try_into().expect("4 bytes"))
                    as usize;
                let name = &data[at + 16..at + 16 + len];
                let name = String::from_utf8_lossy(name)
                    .trim_end_matches('\0')
                    .to_string();
                let dir = self
                    .watches
                    .iter()
                    .find(|(w, _)| *w == wd)
                    .map(|(_, d)| d.clone())
                    .unwrap_or_default();
                out.push(dir.join(name).display().to_string());
                at += 16 + len;
            }
        }
        out
    }

    pub fn base(&self) -> &Path {
        &self.base
    }
}

impl Drop for WriteRecorder {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe { libc::close(self.fd) };
    }
}
