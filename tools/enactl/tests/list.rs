//! `enactl list` against a fake sysfs tree: only network functions, ENA ids marked, driver,
//! IOMMU group, NUMA node, interfaces with their state and the default route.

mod common;

use common::*;

fn machine() -> FakeSystem {
    let m = FakeSystem::new();
    // A host bridge: not a network device, not listed.
    m.add_device(&FakeDevice {
        vendor: 0x8086,
        device: 0x1237,
        class: 0x060000,
        driver: None,
        ..FakeDevice::ena("0000:00:00.0")
    });
    m.add_device(&FakeDevice {
        interfaces: &[("eth0", 0x1003)],
        ..FakeDevice::ena("0000:00:05.0")
    });
    m.add_device(&FakeDevice {
        device: 0xec21,
        driver: Some("vfio-pci"),
        iommu_group: Some("0"),
        numa_node: -1,
        ..FakeDevice::ena("0000:00:06.0")
    });
    m.add_device(&FakeDevice {
        interfaces: &[("eth1", 0x1002)],
        ..FakeDevice::ena("0000:00:07.0")
    });
    m.add_device(&FakeDevice {
        vendor: 0x8086,
        device: 0x10ed,
        driver: Some("ixgbevf"),
        numa_node: 1,
        interfaces: &[("eth2", 0x1003)],
        ..FakeDevice::ena("0000:01:00.0")
    });
    m.set_routes(&["eth0"]);
    m
}

#[test]
fn lists_network_functions_with_driver_group_node_and_interface() {
    let m = machine();
    let o = m.enactl(&["list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "\
ADDRESS       VENDOR:DEVICE  DRIVER    IOMMU  NUMA  INTERFACE
0000:00:05.0  1d0f:ec20 ENA  ena       -      0     eth0 (up, default route)
0000:00:06.0  1d0f:ec21 ENA  vfio-pci  0      -     -
0000:00:07.0  1d0f:ec20 ENA  ena       -      0     eth1
0000:01:00.0  8086:10ed      ixgbevf   -      1     eth2 (up)
"
    );
}

#[test]
fn ena_only_and_empty() {
    let m = machine();
    let o = m.enactl(&["list", "--ena"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(!out.contains("8086"), "{out}");

    let empty = FakeSystem::new();
    let o = empty.enactl(&["list"]);
    assert!(o.status.success());
    assert!(
        stdout(&o).starts_with("no network PCI devices under "),
        "{}",
        stdout(&o)
    );
}

#[test]
fn missing_sysfs_is_a_clean_error() {
    let m = FakeSystem::new();
    std::fs::remove_dir_all(m.path("sys/bus")).unwrap();
    assert_error(&m.enactl(&["list"]), 1, &["listing", "bus/pci/devices"]);
}

#[test]
fn all_lists_every_function() {
    let m = machine();
    let o = m.enactl(&["list", "--all"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 6, "{out}");
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("0000:00:00.0  8086:1237")),
        "the host bridge is listed: {out}"
    );
    let o = m.enactl(&["list", "--all", "--ena"]);
    assert_eq!(o.status.code(), Some(2), "--all and --ena conflict");
}
