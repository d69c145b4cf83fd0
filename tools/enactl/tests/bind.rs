//! `enactl bind` / `unbind` against fake sysfs trees: the exact files written, their contents
//! and their order; no-IOMMU mode only with `--noiommu`; refusal of interfaces that are up or
//! carry the default route; the error for each missing prerequisite.

mod common;

use common::*;
use std::os::unix::process::CommandExt;
use std::process::Command;

const DEV6: &str = "sys/devices/pci0000:00/0000:00:06.0";
const PARAM: &str = "sys/module/vfio/parameters/enable_unsafe_noiommu_mode";
const STATE6: &str = "run/enactl/0000:00:06.0.original-driver";

/// Three ENA functions on Linux's driver: eth0 (up, default route: the SSH session), eth1
/// (down: the one to bind), eth2 (up, no default route); vfio-pci loaded; no IOMMU.
fn machine() -> FakeSystem {
    let m = FakeSystem::new();
    for (bdf, ifaces) in [
        ("0000:00:05.0", &[("eth0", 0x1003u32)][..]),
        ("0000:00:06.0", &[("eth1", 0x1002)][..]),
        ("0000:00:07.0", &[("eth2", 0x1003)][..]),
    ] {
        m.add_device(&FakeDevice {
            interfaces: ifaces,
            ..FakeDevice::ena(bdf)
        });
    }
    m.add_driver("vfio-pci");
    m.set_routes(&["eth0"]);
    m
}

fn recorder(m: &FakeSystem) -> WriteRecorder {
    WriteRecorder::new(
        m.root(),
        &[
            "sys/module/vfio/parameters",
            "run/enactl",
            DEV6,
            "sys/devices/pci0000:00/0000:00:05.0",
            "sys/bus/pci",
            "sys/bus/pci/drivers/ena",
            "sys/bus/pci/drivers/vfio-pci",
        ],
    )
}

#[test]
fn bind_with_noiommu_writes_param_state_override_unbind_bind_in_order() {
    let m = machine();
    let rec = recorder(&m);
    let o = m.enactl(&["bind", "0000:00:06.0", "--noiommu"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        rec.take(),
        vec![
            PARAM.to_string(),
            STATE6.to_string(),
            format!("{DEV6}/driver_override"),
            "sys/bus/pci/drivers/ena/unbind".to_string(),
            "sys/bus/pci/drivers/vfio-pci/bind".to_string(),
        ]
    );
    assert_eq!(m.read(PARAM), "Y");
    assert_eq!(m.read(STATE6), "ena\n");
    assert_eq!(m.read(&format!("{DEV6}/driver_override")), "vfio-pci");
    assert_eq!(m.read("sys/bus/pci/drivers/ena/unbind"), "0000:00:06.0");
    assert_eq!(m.read("sys/bus/pci/drivers/vfio-pci/bind"), "0000:00:06.0");
    assert_eq!(m.read("sys/bus/pci/drivers_probe"), "");
    assert_eq!(stdout(&o), "0000:00:06.0: bound to vfio-pci (was ena)\n");
    assert!(
        stderr(&o).contains("unsafe no-IOMMU mode"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bind_short_address_and_vfio_group_node() {
    let m = machine();
    // What the kernel shows after the bind in no-IOMMU mode: group 0, /dev/vfio/noiommu-0.
    m.write("dev/vfio/noiommu-0", "");
    m.add_iommu_group("0");
    std::os::unix::fs::symlink(
        "../../../kernel/iommu_groups/0",
        m.path(&format!("{DEV6}/iommu_group")),
    )
    .unwrap();
    let rec = recorder(&m);
    let o = m.enactl(&["bind", "00:06.0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // An IOMMU group exists, so no-IOMMU mode is not touched.
    assert_eq!(
        rec.take(),
        vec![
            STATE6.to_string(),
            format!("{DEV6}/driver_override"),
            "sys/bus/pci/drivers/ena/unbind".to_string(),
            "sys/bus/pci/drivers/vfio-pci/bind".to_string(),
        ]
    );
    assert_eq!(m.read(PARAM), "N\n");
    let out = stdout(&o);
    assert!(out.contains("VFIO group "), "{out}");
    assert!(out.trim_end().ends_with("dev/vfio/noiommu-0"), "{out}");
}

#[test]
fn without_noiommu_flag_bind_explains_and_writes_nothing() {
    let m = machine();
    let rec = recorder(&m);
    let o = m.enactl(&["bind", "0000:00:06.0"]);
    assert_error(
        &o,
        1,
        &["no IOMMU", "--noiommu", "enable_unsafe_noiommu_mode"],
    );
    assert_eq!(rec.take(), Vec::<String>::new());
    assert_eq!(m.read(PARAM), "N\n");
    assert!(!m.path(STATE6).exists());

    // Already enabled (e.g. `modprobe vfio enable_unsafe_noiommu_mode=1`): no flag needed,
    // and the parameter is not written again.
    m.write(PARAM, "Y\n");
    assert_eq!(rec.take(), vec![PARAM.to_string()], "the test's own write");
    let o = m.enactl(&["bind", "0000:00:06.0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let writes = rec.take();
    assert!(!writes.contains(&PARAM.to_string()), "{writes:?}");
    assert_eq!(writes.len(), 4, "{writes:?}");
}

#[test]
fn vfio_noiommu_groups_do_not_count_as_an_iommu() {
    // Once a device is bound in no-IOMMU mode, vfio lists a fake group named "vfio-noiommu"
    // under /sys/kernel/iommu_groups (found in a QEMU guest): that is still a machine without
    // an IOMMU.
    let m = machine();
    m.add_iommu_group("0");
    m.write("sys/kernel/iommu_groups/0/name", "vfio-noiommu\n");
    let rec = recorder(&m);
    let o = m.enactl(&["bind", "0000:00:06.0"]);
    assert_error(&o, 1, &["no IOMMU", "--noiommu"]);
    assert_eq!(rec.take(), Vec::<String>::new());
}

#[test]
fn noiommu_flag_is_ignored_with_an_iommu() {
    let m = machine();
    m.add_iommu_group("7");
    let rec = recorder(&m);
    let o = m.enactl(&["bind", "0000:00:06.0", "--noiommu"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("has an IOMMU"), "{}", stderr(&o));
    assert!(!rec.take().contains(&PARAM.to_string()));
    assert_eq!(m.read(PARAM), "N\n");
}

#[test]
fn refuses_the_default_route_interface_unless_forced() {
    let m = machine();
    m.write(PARAM, "Y\n");
    let rec = recorder(&m);
    let o = m.enactl(&["bind", "0000:00:05.0"]);
    assert_error(&o, 1, &["eth0", "default route", "--force"]);
    assert_eq!(rec.take(), Vec::<String>::new());

    let o = m.enactl(&["bind", "0000:00:05.0", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning"), "{}", stderr(&o));
    assert_eq!(
        rec.take(),
        vec![
            "run/enactl/0000:00:05.0.original-driver".to_string(),
            "sys/devices/pci0000:00/0000:00:05.0/driver_override".to_string(),
            "sys/bus/pci/drivers/ena/unbind".to_string(),
            "sys/bus/pci/drivers/vfio-pci/bind".to_string(),
        ]
    );
}

#[test]
fn refuses_the_default_route_interface_over_ipv6() {
    let m = machine();
    m.write(PARAM, "Y\n");
    m.set_routes(&[]);
    m.write(
        "proc/net/ipv6_route",
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
         fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth1\n",
    );
    let o = m.enactl(&["bind", "0000:00:06.0"]);
    assert_error(&o, 1, &["eth1", "default route"]);
}

#[test]
fn refuses_an_interface_that_is_up() {
    let m = machine();
    m.write(PARAM, "Y\n");
    let rec = recorder(&m);
    let o = m.enactl(&["bind", "0000:00:07.0"]);
    assert_error(&o, 1, &["eth2 is up", "ip link set eth2 down"]);
    assert_eq!(rec.take(), Vec::<String>::new());
}

#[test]
fn bind_errors() {
    let m = machine();
    m.write(PARAM, "Y\n");
    assert_error(
        &m.enactl(&["bind", "0000:00:09.0"]),
        1,
        &["0000:00:09.0 not found"],
    );
    assert_error(&m.enactl(&["bind", "0000:00:6.0"]), 2, &["bad PCI address"]);
    assert_error(&m.enactl(&["bind", "nonsense"]), 2, &["bad PCI address"]);

    // A non-ENA NIC is refused without --force.
    m.add_device(&FakeDevice {
        vendor: 0x8086,
        device: 0x1521,
        driver: Some("igb"),
        ..FakeDevice::ena("0000:00:08.0")
    });
    assert_error(
        &m.enactl(&["bind", "0000:00:08.0"]),
        1,
        &["not an ENA device", "8086:1521"],
    );

    // Already bound: nothing to do.
    m.set_driver("0000:00:06.0", Some("vfio-pci"));
    let o = m.enactl(&["bind", "0000:00:06.0"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), "0000:00:06.0 is already bound to vfio-pci\n");

    // vfio-pci not loaded.
    std::fs::remove_dir_all(m.path("sys/bus/pci/drivers/vfio-pci")).unwrap();
    assert_error(
        &m.enactl(&["bind", "0000:00:07.0"]),
        1,
        &["vfio-pci is not loaded", "modprobe vfio-pci"],
    );

    // No IOMMU and a vfio without no-IOMMU support.
    m.add_driver("vfio-pci");
    m.set_driver("0000:00:06.0", Some("ena"));
    std::fs::remove_file(m.path(PARAM)).unwrap();
    assert_error(
        &m.enactl(&["bind", "0000:00:06.0"]),
        1,
        &["no no-IOMMU mode", "CONFIG_VFIO_NOIOMMU"],
    );
}

#[test]
fn unbind_restores_the_recorded_driver_in_order() {
    let m = machine();
    m.write(PARAM, "Y\n");
    let o = m.enactl(&["bind", "0000:00:06.0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The kernel would now show the device on vfio-pci.
    m.set_driver("0000:00:06.0", Some("vfio-pci"));

    let rec = recorder(&m);
    let o = m.enactl(&["unbind", "0000:00:06.0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        rec.take(),
        vec![
            format!("{DEV6}/driver_override"),
            "sys/bus/pci/drivers/vfio-pci/unbind".to_string(),
            "sys/bus/pci/drivers/ena/bind".to_string(),
        ]
    );
    assert_eq!(m.read(&format!("{DEV6}/driver_override")), "\n");
    assert_eq!(
        m.read("sys/bus/pci/drivers/vfio-pci/unbind"),
        "0000:00:06.0"
    );
    assert_eq!(m.read("sys/bus/pci/drivers/ena/bind"), "0000:00:06.0");
    assert!(!m.path(STATE6).exists(), "the record is removed");
    assert_eq!(
        stdout(&o),
        "0000:00:06.0: unbound from vfio-pci, handed to ena\n"
    );
}

#[test]
fn unbind_to_another_driver_or_to_the_kernels_choice() {
    let m = machine();
    m.set_driver("0000:00:06.0", Some("vfio-pci"));
    m.add_driver("uio_pci_generic");

    // --to wins over the record.
    m.write(STATE6, "ena\n");
    let rec = recorder(&m);
    let o = m.enactl(&["unbind", "0000:00:06.0", "--to", "uio_pci_generic"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        m.read("sys/bus/pci/drivers/uio_pci_generic/bind"),
        "0000:00:06.0"
    );
    assert_eq!(m.read("sys/bus/pci/drivers/ena/bind"), "");
    rec.take();

    // A driver that is not loaded: the kernel is asked to probe.
    let o = m.enactl(&["unbind", "0000:00:06.0", "--to", "ixgbevf"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        rec.take(),
        vec![
            format!("{DEV6}/driver_override"),
            "sys/bus/pci/drivers/vfio-pci/unbind".to_string(),
            "sys/bus/pci/drivers_probe".to_string(),
        ]
    );
    assert_eq!(m.read("sys/bus/pci/drivers_probe"), "0000:00:06.0");
    assert!(stdout(&o).contains("modprobe ixgbevf"), "{}", stdout(&o));

    // A device that had no driver before bind goes back to the kernel's choice.
    m.write(STATE6, "none\n");
    m.write("sys/bus/pci/drivers_probe", "");
    let o = m.enactl(&["unbind", "0000:00:06.0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(m.read("sys/bus/pci/drivers_probe"), "0000:00:06.0");
    assert_eq!(m.read("sys/bus/pci/drivers/ena/bind"), "");

    // Without a record, Linux's ena driver.
    let o = m.enactl(&["unbind", "0000:00:06.0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(m.read("sys/bus/pci/drivers/ena/bind"), "0000:00:06.0");
}

#[test]
fn unbind_of_a_kernel_bound_device_does_nothing() {
    let m = machine();
    let rec = recorder(&m);
    let o = m.enactl(&["unbind", "0000:00:06.0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "0000:00:06.0 is bound to ena, not to a userspace driver: nothing to do\n"
    );
    assert_eq!(rec.take(), Vec::<String>::new());
    assert_error(
        &m.enactl(&["unbind", "0000:00:06.0", "--to", "vfio-pci"]),
        2,
        &["enactl bind"],
    );
    assert_error(&m.enactl(&["unbind", "0000:00:0a.0"]), 1, &["not found"]);
}

#[test]
fn changing_the_real_system_needs_root() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    for args in [
        &["bind", "0000:00:06.0"][..],
        &["unbind", "0000:00:06.0"],
        &["hugepages", "16"],
        &["info", "0000:00:06.0"],
    ] {
        let mut cmd = Command::new(ENACTL);
        cmd.args(args);
        if root {
            // Drop to nobody: the check must stop the command before it touches /sys.
            cmd.uid(65534).gid(65534);
        }
        let o = cmd.output().expect("run enactl");
        assert_error(&o, 1, &["needs root", "sudo"]);
    }
}

#[test]
fn unbind_refuses_a_device_a_process_uses() {
    let m = machine();
    m.set_driver("0000:00:06.0", Some("vfio-pci"));
    // fwd has BAR0 mapped from sysfs (the no-IOMMU path).
    m.write(
        "proc/4242/maps",
        "7f0000000000-7f0000004000 rw-s 00000000 00:15 1234 \
         /sys/devices/pci0000:00/0000:00:06.0/resource0\n",
    );
    m.write("proc/4242/comm", "fwd\n");
    // Another process maps a different device: not a user of this one.
    m.write(
        "proc/4243/maps",
        "7f0000000000-7f0000004000 rw-s 00000000 00:15 1234 \
         /sys/devices/pci0000:00/0000:00:07.0/resource0\n",
    );
    let rec = recorder(&m);
    let o = m.enactl(&["unbind", "0000:00:06.0"]);
    assert_error(&o, 1, &["in use by 4242 (fwd)", "--force"]);
    assert_eq!(rec.take(), Vec::<String>::new());

    // A process holding the VFIO group node open counts too.
    std::fs::remove_dir_all(m.path("proc/4242")).unwrap();
    m.add_iommu_group("0");
    std::os::unix::fs::symlink(
        "../../../kernel/iommu_groups/0",
        m.path(&format!("{DEV6}/iommu_group")),
    )
    .unwrap();
    std::fs::create_dir_all(m.path("proc/77/fd")).unwrap();
    m.write("proc/77/comm", "l4lb\n");
    std::os::unix::fs::symlink(m.path("dev/vfio/noiommu-0"), m.path("proc/77/fd/9")).unwrap();
    assert_error(
        &m.enactl(&["unbind", "0000:00:06.0"]),
        1,
        &["in use by 77 (l4lb)"],
    );

    let o = m.enactl(&["unbind", "0000:00:06.0", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning"), "{}", stderr(&o));
    assert_eq!(m.read("sys/bus/pci/drivers/ena/bind"), "0000:00:06.0");
}
