//! `enactl info`: a simulated device (`--vdev`) brought up by the driver, the refusals for PCI
//! devices that are not ready, and — where root and hugepages allow — a PCI device through the
//! device model's PCI rig (fake sysfs tree, BAR files, DMA from hugepages by physical address),
//! the same path a uio-bound ENA takes on EC2.

mod common;

use common::*;
use ena_sim::config::DeviceConfig;

fn field(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name:?} line in {out}"))
        .trim()
        .to_string()
}

#[test]
fn vdev_loopback_prints_what_the_model_offers() {
    let o = enactl(&["info", "--vdev", "loopback"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let cfg = DeviceConfig::default();
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        [
            "device",
            "driver",
            "version",
            "controller",
            "dma width",
            "mac",
            "mtu",
            "queues",
            "ring sizes",
            "segments",
            "llq",
            "rx offloads",
            "tx offloads",
            "rss",
            "features",
            "capabilities",
            "link"
        ]
    );
    assert_eq!(
        field(&out, "device"),
        "net_ena_sim0 (device model, wire loopback)"
    );
    assert_eq!(field(&out, "driver"), "net_ena_rs");
    assert_eq!(
        field(&out, "version"),
        format!("0.{} (VERSION {:#010x})", cfg.version & 0xff, cfg.version)
    );
    assert_eq!(
        field(&out, "controller"),
        format!(
            "{}.{}.{} implementation {} (CONTROLLER_VERSION {:#010x})",
            cfg.controller_version >> 16 & 0xff,
            cfg.controller_version >> 8 & 0xff,
            cfg.controller_version & 0xff,
            cfg.controller_version >> 24,
            cfg.controller_version
        )
    );
    assert_eq!(
        field(&out, "dma width"),
        format!("{} bits", cfg.dma_addr_width)
    );
    // A vdev's MAC is 02:00:00:00:01:<N>, as for applications' --vdev.
    assert_eq!(field(&out, "mac"), "02:00:00:00:01:00");
    assert_eq!(
        field(&out, "mtu"),
        format!(
            "68..={} (largest frame {} bytes)",
            cfg.max_mtu,
            cfg.max_mtu + 18
        )
    );
    assert_eq!(
        field(&out, "queues"),
        format!("{} rx, {} tx", cfg.max_queues, cfg.max_queues)
    );
    assert_eq!(
        field(&out, "ring sizes"),
        format!(
            "rx 128..={}, tx 128..={}",
            cfg.max_rx_depth, cfg.max_tx_depth
        )
    );
    assert!(
        field(&out, "llq")
            .starts_with("128-byte entries, 96 header bytes, 2 descriptors before the header"),
        "{out}"
    );
    assert_eq!(
        field(&out, "rx offloads"),
        "ipv4-cksum udp-cksum tcp-cksum scatter rss-hash"
    );
    assert_eq!(
        field(&out, "tx offloads"),
        "ipv4-cksum udp-cksum tcp-cksum tcp-tso multi-segs mbuf-fast-free"
    );
    assert_eq!(
        field(&out, "rss"),
        "128-entry table, 40-byte key, hashes ipv4-tcp ipv4-udp ipv6-tcp ipv6-udp"
    );
    assert_eq!(
        field(&out, "features"),
        format!(
            "{:#010x} device-attributes hw-hints llq max-queues-ext rss-hash-function \
             stateless-offload rss-indirection-table mtu interrupt-moderation aenq-config \
             host-attr-config",
            cfg.supported_features
        )
    );
    assert_eq!(
        field(&out, "capabilities"),
        format!(
            "{:#010x} eni-stats extended-reset-reasons cdesc-mbz",
            cfg.capabilities
        )
    );
    assert_eq!(field(&out, "link"), "up");
}

#[test]
fn vdev_options_change_what_is_offered() {
    let o = enactl(&[
        "info",
        "--vdev",
        "net_ena_sim3,wire=gen:size=64,queues=4,llq=0,mac=02:aa:bb:cc:dd:ee",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(
        field(&out, "device"),
        "net_ena_sim3 (device model, wire gen:size=64)"
    );
    assert_eq!(field(&out, "queues"), "4 rx, 4 tx");
    assert_eq!(field(&out, "mac"), "02:aa:bb:cc:dd:ee");
    assert_eq!(field(&out, "llq"), "not used (TX rings in host memory)");
    assert!(!field(&out, "features").contains(" llq "), "{out}");

    // An unplugged wire: the link stays down.
    let o = enactl(&["info", "--vdev", "none", "--link-wait", "0.2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(field(&stdout(&o), "link"), "down");
}

#[test]
fn vdev_errors() {
    assert_error(
        &enactl(&["info", "--vdev", "pair:x"]),
        2,
        &["joins exactly two ports"],
    );
    assert_error(
        &enactl(&["info", "--vdev", "loopback,queues=0"]),
        2,
        &["queues=0 must be 1..=128"],
    );
    assert_error(
        &enactl(&["info", "--vdev", "loopback,color=red"]),
        2,
        &["unknown option"],
    );
    let o = enactl(&["info"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("required"), "{}", stderr(&o));
    let o = enactl(&["info", "0000:00:06.0", "--vdev", "loopback"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn pci_device_that_is_not_ready() {
    let m = FakeSystem::new();
    m.add_device(&FakeDevice::ena("0000:00:06.0"));
    assert_error(
        &m.enactl(&["info", "0000:00:06.0"]),
        1,
        &["bound to the kernel driver ena", "enactl bind 0000:00:06.0"],
    );
    m.set_driver("0000:00:06.0", None);
    assert_error(
        &m.enactl(&["info", "0000:00:06.0"]),
        1,
        &["not bound to any driver"],
    );
    assert_error(&m.enactl(&["info", "0000:00:09.0"]), 1, &["not found"]);

    // vfio-pci goes through the VFIO backend, which needs /dev/vfio/vfio.
    m.add_driver("vfio-pci");
    m.set_driver("0000:00:06.0", Some("vfio-pci"));
    assert_error(
        &m.enactl(&["info", "0000:00:06.0"]),
        1,
        &[
            "0000:00:06.0: ",
            "vfio is not available",
            "dev/vfio/vfio is missing",
        ],
    );
    // The sysfs path cannot give a device behind an IOMMU physical addresses.
    m.add_iommu_group("3");
    assert_error(
        &m.enactl(&["info", "0000:00:06.0", "--access", "sysfs"]),
        2,
        &["--access sysfs", "IOMMU"],
    );
    std::fs::remove_dir_all(m.path("sys/kernel/iommu_groups/3")).unwrap();

    // No free hugepages.
    m.write(
        "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
        "0\n",
    );
    assert_error(
        &m.enactl(&["info", "0000:00:06.0", "--access", "sysfs"]),
        1,
        &["no hugepages", "enactl hugepages"],
    );

    // Hugepages, but no BARs in this fake tree: the driver's error, on one line.
    m.write(
        "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
        "16\n",
    );
    assert_error(
        &m.enactl(&["info", "0000:00:06.0", "--access", "sysfs"]),
        1,
        &["0000:00:06.0: "],
    );
    m.set_driver("0000:00:06.0", Some("uio_pci_generic"));
    assert_error(
        &m.enactl(&["info", "0000:00:06.0", "--access", "vfio"]),
        2,
        &["not vfio-pci"],
    );

    m.add_device(&FakeDevice {
        vendor: 0x8086,
        device: 0x10ed,
        driver: Some("uio_pci_generic"),
        ..FakeDevice::ena("0000:00:07.0")
    });
    assert_error(
        &m.enactl(&["info", "0000:00:07.0"]),
        1,
        &["not an ENA device"],
    );
}

/// `enactl info <BDF>` on the PCI rig: needs root, hugepages and physical addresses.
#[test]
fn pci_device_through_the_rig() {
    use ena_sim::transport::inproc::{RunnerOptions, SimRunner};
    use ena_sim::transport::pci_rig::{
        pagemap_phys_addr, HugepageDma, HugepageReservation, Rig, RigConfig, RigDevice,
    };
    use ena_sim::wire::Loopback;

    if let Err(why) = HugepageReservation::available() {
        println!("SKIPPED: {why}");
        return;
    }
    let probe = Box::new(std::hint::black_box(1u64));
    if let Err(e) = pagemap_phys_addr(&*probe as *const u64 as usize) {
        println!("SKIPPED: {e}");
        return;
    }
    let res = match HugepageReservation::ensure(16, None) {
        Ok(r) => r,
        Err(e) => {
            println!("SKIPPED: hugepages: {e}");
            return;
        }
    };
    let pid = std::process::id();
    let m = FakeSystem::new();
    let mut rc = RigConfig::new(m.path("rig"));
    rc.shm_prefix = format!("enactl-rig-{pid}");
    let rig = Rig::create(rc).expect("rig");
    // The rig lists its function in <rig>/pci; the tool looks in <sysfs>/bus/pci/devices.
    std::fs::remove_dir(m.path("sys/bus/pci/devices")).unwrap();
    std::os::unix::fs::symlink(rig.sysfs_pci_devices(), m.path("sys/bus/pci/devices")).unwrap();
    let prefix = format!("enactl{pid}-");
    let dma = HugepageDma::new(res.dir(), &format!("{prefix}map_")).expect("device DMA");
    let dev = RigDevice::new(
        &rig,
        DeviceConfig::default(),
        Box::new(Loopback::new(64, false)),
        dma,
    )
    .expect("device");
    let runner =
        SimRunner::spawn_shared(vec![dev.shared()], RunnerOptions::default()).expect("runner");

    let huge_dir = res.dir().display().to_string();
    let o = m.enactl(&[
        "info",
        "0000:00:10.0",
        "--huge-dir",
        &huge_dir,
        "--file-prefix",
        &prefix,
    ]);
    runner.stop();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        field(&out, "device").starts_with("0000:00:10.0 (uio_pci_generic"),
        "{out}"
    );
    assert_eq!(field(&out, "mac"), "02:00:00:e4:a0:01");
    assert_eq!(field(&out, "queues"), "8 rx, 8 tx");
    assert_eq!(field(&out, "link"), "up");
    // No resource2_wc in the rig: TX rings fall back to host memory.
    assert_eq!(field(&out, "llq"), "not used (TX rings in host memory)");
}
