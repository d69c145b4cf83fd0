//! Bad user input at the driver's API, as a DPDK application would pass it on: every mistake is
//! refused with an error that is one clear line (exact text asserted), before the device is
//! touched, and leaves the port usable.
//!
//! Ports on the device model cover queue counts, ring sizes and MTUs; PCI platforms opened on a
//! fake sysfs tree cover unknown, malformed, foreign and unbound PCI addresses, missing
//! hugepages, and missing permissions.

mod common;

use common::*;
use ena::platform::pci::{PciOptions, PciPlatform};
use ena::platform::Platform;
use ena::pmd::{PortConf, PortOptions};
use ena::{Error, Port};
use ena_sim::config::DeviceConfig;
use ena_sim::wire::Loopback;
use std::path::PathBuf;
use std::sync::Arc;

/// The error's text, checked to be one line.
fn line<T>(r: ena::Result<T>) -> String {
    let e = match r {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    };
    let s = e.to_string();
    assert!(!s.is_empty() && !s.contains('\n'), "not one line: {s:?}");
    s
}

fn bench() -> Bench {
    manual(
        DeviceConfig::default(),
        Box::new(Loopback::default()),
        PortOptions::default(),
    )
}

#[test]
fn queue_counts_above_the_device_maximum() {
    let mut b = bench();
    let max = b.port.info().max_rx_queues;
    assert_eq!(max, 8);
    let conf = PortConf::default();
    for (rx, tx) in [(9, 1), (1, 9), (9, 9), (u16::MAX, 1)] {
        assert_eq!(
            line(b.port.configure(rx, tx, &conf)),
            format!(
                "invalid configuration: {rx} RX / {tx} TX queues requested; the device has 8 / 8"
            )
        );
    }
    for (rx, tx) in [(0, 1), (1, 0), (0, 0)] {
        assert_eq!(
            line(b.port.configure(rx, tx, &conf)),
            "invalid configuration: a port needs at least one RX and one TX queue"
        );
    }
    // Still usable: the maximum is accepted.
    b.port.configure(8, 8, &conf).expect("8 queue pairs");
}

#[test]
fn ring_sizes_must_be_powers_of_two_within_the_device_limits() {
    let mut b = bench();
    b.port.configure(1, 1, &PortConf::default()).unwrap();
    let pool = b.pool.clone();
    let (max_rx, max_tx) = (b.port.info().max_rx_desc, b.port.info().max_tx_desc);
    assert!(max_rx.is_power_of_two() && max_tx.is_power_of_two());
    let bad = [
        0u16, 1, 2, 64, 100, 127, 129, 192, 300, 1000, 1023, 1025, 65535,
    ];
    for n in bad {
        assert_eq!(
            line(b.port.rx_queue_setup(0, n, &pool)),
            format!(
                "invalid configuration: ring size {n} must be a power of two in 128..={max_rx}"
            )
        );
        assert_eq!(
            line(b.port.tx_queue_setup(0, n, &pool)),
            format!(
                "invalid configuration: ring size {n} must be a power of two in 128..={max_tx}"
            )
        );
    }
    // Powers of two beyond the device's depth.
    assert_eq!(
        line(b.port.rx_queue_setup(0, max_rx * 2, &pool)),
        format!(
            "invalid configuration: ring size {} must be a power of two in 128..={max_rx}",
            max_rx * 2
        )
    );
    assert_eq!(
        line(b.port.tx_queue_setup(0, max_tx * 2, &pool)),
        format!(
            "invalid configuration: ring size {} must be a power of two in 128..={max_tx}",
            max_tx * 2
        )
    );
    // Every power of two in range is taken, and the port then starts.
    let mut n = 128;
    while n <= max_tx {
        b.port.rx_queue_setup(0, n, &pool).expect("rx ring");
        b.port.tx_queue_setup(0, n, &pool).expect("tx ring");
        n *= 2;
    }
    b.port.start().expect("start");
    b.port.stop().expect("stop");
}

#[test]
fn mtu_out_of_range() {
    let mut b = bench();
    let (min, max) = (b.port.info().min_mtu, b.port.info().max_mtu);
    assert_eq!((min, max), (68, 9216));
    for mtu in [0, 67, 9217, u32::MAX] {
        let conf = PortConf {
            mtu: Some(mtu),
            ..Default::default()
        };
        assert_eq!(
            line(b.port.configure(1, 1, &conf)),
            format!("invalid configuration: MTU {mtu} is outside 68..=9216")
        );
        assert_eq!(
            line(b.port.set_mtu(mtu)),
            format!("invalid configuration: MTU {mtu} is outside 68..=9216")
        );
    }
    // The device's MTU was not touched, and a valid one still goes through.
    assert_eq!(b.sim.view().features.mtu, 1500);
    b.port.set_mtu(9000).expect("MTU 9000");
    b.step();
    assert_eq!(b.sim.view().features.mtu, 9000);
}

// ----- PCI -----

const BDF: &str = "0000:00:06.0";

/// A fake sysfs tree with one ENA function at [`BDF`], bound to uio_pci_generic.
struct FakeSysfs {
    root: PathBuf,
}

impl FakeSysfs {
    fn new(tag: &str) -> FakeSysfs {
        let root = std::env::temp_dir().join(format!("ena-bad-input-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let s = FakeSysfs { root };
        std::fs::create_dir_all(s.dev()).unwrap();
        s.write("vendor", "0x1d0f\n");
        s.write("device", "0xec20\n");
        s.write("class", "0x020000\n");
        s.write("numa_node", "0\n");
        let mut res = vec![
            "0x00000000febf0000 0x00000000febf3fff 0x0000000000040200",
            "0x0000000000000000 0x0000000000000000 0x0000000000000000",
            "0x00000000fe800000 0x00000000fe8fffff 0x000000000014220c",
        ];
        res.resize(
            13,
            "0x0000000000000000 0x0000000000000000 0x0000000000000000",
        );
        s.write("resource", &(res.join("\n") + "\n"));
        for (name, len) in [("resource0", 16 * 1024), ("resource2", 1024 * 1024)] {
            std::fs::File::create(s.dev().join(name))
                .unwrap()
                .set_len(len)
                .unwrap();
        }
        let mut config = [0u8; 256];
        config[0..4].copy_from_slice(&[0x0f, 0x1d, 0x20, 0xec]);
        config[9..12].copy_from_slice(&[0x00, 0x00, 0x02]);
        std::fs::write(s.dev().join("config"), config).unwrap();
        s.bind(Some("uio_pci_generic"));
        s
    }

    fn devices(&self) -> PathBuf {
        self.root.join("devices")
    }

    fn dev(&self) -> PathBuf {
        self.devices().join(BDF)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dev().join(name), text).unwrap();
    }

    fn bind(&self, driver: Option<&str>) {
        let link = self.dev().join("driver");
        let _ = std::fs::remove_file(&link);
        if let Some(d) = driver {
            std::os::unix::fs::symlink(format!("../../../bus/pci/drivers/{d}"), link).unwrap();
        }
    }

    fn opts(&self, huge: &str) -> PciOptions {
        PciOptions {
            sysfs_devices: self.devices(),
            hugepage_dir: PathBuf::from(huge),
            ..PciOptions::default()
        }
    }
}

impl Drop for FakeSysfs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[test]
fn unknown_and_malformed_pci_addresses() {
    let fake = FakeSysfs::new("unknown");
    assert_eq!(
        line(PciPlatform::open(
            "0000:00:07.0",
            fake.opts("/dev/hugepages")
        )),
        format!(
            "invalid configuration: PCI device 0000:00:07.0 not found under {}",
            fake.devices().display()
        )
    );
    for bad in [
        "",
        "0000:00:06",
        "00:06.0.0",
        "0000:zz:06.0",
        "../../etc/passwd",
        "0000:00:06.0\n",
    ] {
        assert_eq!(
            line(PciPlatform::open(bad, fake.opts("/dev/hugepages"))),
            format!(
                "invalid configuration: bad PCI address {bad:?}: expected DDDD:BB:DD.F in hex, e.g. 0000:00:06.0"
            )
        );
    }
}

#[test]
fn pci_address_bound_to_the_kernel_driver_or_to_nothing() {
    let fake = FakeSysfs::new("busy");
    fake.bind(Some("ena"));
    assert_eq!(
        line(PciPlatform::open(BDF, fake.opts("/dev/hugepages"))),
        "invalid configuration: 0000:00:06.0 is bound to `ena`, not to a userspace driver \
         (uio_pci_generic, igb_uio, vfio-pci); bind it with `enactl bind 0000:00:06.0`"
    );
    fake.bind(None);
    assert_eq!(
        line(PciPlatform::open(BDF, fake.opts("/dev/hugepages"))),
        "invalid configuration: 0000:00:06.0 is not bound to a userspace driver; bind it with \
         `enactl bind 0000:00:06.0`"
    );
    // Another vendor's function.
    fake.bind(Some("uio_pci_generic"));
    fake.write("vendor", "0x8086\n");
    fake.write("device", "0x10d3\n");
    assert_eq!(
        line(PciPlatform::open(BDF, fake.opts("/dev/hugepages"))),
        "unsupported device: 0000:00:06.0 is not an ENA device (vendor:device 8086:10d3)"
    );
}

/// The platform opens without hugepages (nothing needs DMA memory yet); bringing the port up
/// needs it at once, and fails with the reason.
#[test]
fn missing_hugepages() {
    let fake = FakeSysfs::new("huge");
    let cases = [
        (
            "/nonexistent/hugepages".to_string(),
            "statfs /nonexistent/hugepages: No such file or directory (os error 2)".to_string(),
        ),
        (
            fake.root.display().to_string(),
            format!(
                "invalid configuration: {} is not a hugetlbfs mount; mount one with `mount -t hugetlbfs nodev /dev/hugepages`",
                fake.root.display()
            ),
        ),
    ];
    for (dir, want) in cases {
        let platform = PciPlatform::open(BDF, fake.opts(&dir)).expect("opens without DMA");
        assert_eq!(line(platform.alloc_dma(4096, 4096)), want);
        let platform: Arc<dyn Platform> = Arc::new(platform);
        assert_eq!(line(Port::open(platform, PortOptions::default())), want);
    }
}

/// The device's files not readable or writable by the process. Root ignores file modes, so as
/// root this checks what can be checked — a device file that is not there at all — and the
/// permission case itself is covered at the program level (dpdk-shim/tests/bad_input.rs runs
/// the example as `nobody`).
#[test]
fn missing_permissions() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let fake = FakeSysfs::new("perm");
    let root = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
        == 0;
    if root {
        std::fs::remove_file(fake.dev().join("resource0")).unwrap();
        let e = line(PciPlatform::open(BDF, fake.opts("/dev/hugepages")));
        assert!(
            e.contains("resource0") && e.contains("No such file or directory"),
            "{e}"
        );
    } else {
        for f in ["config", "resource0", "resource2"] {
            std::fs::set_permissions(fake.dev().join(f), std::fs::Permissions::from_mode(0o000))
                .unwrap();
        }
        let e = line(PciPlatform::open(BDF, fake.opts("/dev/hugepages")));
        assert!(e.contains("Permission denied"), "{e}");
    }
}

/// Calls in the wrong state are refused with the state named.
#[test]
fn calls_in_the_wrong_state() {
    let mut b = bench();
    let pool = b.pool.clone();
    assert_eq!(
        line(b.port.rx_queue_setup(0, 256, &pool)),
        "port is not configured"
    );
    assert_eq!(
        line(b.port.start()),
        "port is not configured, or some queue is not set up"
    );
    let (_rx, _tx) = b.start(1, 256, &PortConf::default());
    assert_eq!(
        line(b.port.configure(1, 1, &PortConf::default())),
        "port is started; stop it before configuring"
    );
    assert_eq!(
        line(b.port.rx_queue_setup(0, 256, &pool)),
        "port is started; stop it before setting up queues"
    );
    assert!(matches!(
        b.port.take_rx_queue(0),
        Err(Error::Config(m)) if m == "RX queue 0 is not set up, or already taken"
    ));
}
