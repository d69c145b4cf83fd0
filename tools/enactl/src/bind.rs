//! `enactl bind` / `enactl unbind`: hand an ENA function to vfio-pci and give it back.
//!
//! Binding uses `driver_override`, the mechanism DPDK's `dpdk-devbind.py` uses, because it
//! binds exactly one function (writing the vendor:device pair to vfio-pci's `new_id` would
//! grab every ENA function, including the one you are logged in through):
//!
//! 1. without an IOMMU, and only when asked (`--noiommu`): `Y` to vfio's
//!    `enable_unsafe_noiommu_mode` — vfio-pci refuses a device with no IOMMU group otherwise,
//!    so this must come before the bind;
//! 2. `vfio-pci` to `<dev>/driver_override`;
//! 3. the address to `<dev>/driver/unbind` (the current driver lets go);
//! 4. the address to `<sysfs>/bus/pci/drivers/vfio-pci/bind`.
//!
//! The original driver is recorded in `<run>/enactl/<addr>.original-driver` first (`/run` is
//! cleared at boot, as the binding is). Unbinding reverses it: an empty line to
//! `driver_override`, the address to `<dev>/driver/unbind`, then to the original driver's
//! `bind` (`--to`, else the recorded driver, else `ena`), or to `drivers_probe` when that
//! driver is not loaded or the device had none. A device a process still uses (BARs mapped,
//! VFIO group open) is refused unless `--force`: the process would lose it mid-flight.

use crate::error::{CliError, Result};
use crate::sysfs::{self, write_attr, PciFunction, Roots, ENA_KERNEL_DRIVER, VFIO_PCI};
use std::fs;
use std::io;

/// Recorded when the device had no driver before `bind`.
const NO_DRIVER: &str = "none";

/// What `bind` may do beyond the safe default.
#[derive(Debug, Clone, Copy, Default)]
pub struct BindOptions {
    /// Enable vfio's unsafe no-IOMMU mode when the machine has no IOMMU.
    pub noiommu: bool,
    /// Bind even a non-ENA function, or one whose interface is up or has the default route.
    pub force: bool,
}

/// Runs `enactl bind`.
pub fn bind(roots: &Roots, bdf: &str, opts: BindOptions) -> Result<()> {
    let addr = sysfs::parse_bdf(bdf)?;
    sysfs::require_root(roots, "bind")?;
    let f = PciFunction::read(roots, &addr)?;
    if f.driver.as_deref() == Some(VFIO_PCI) {
        println!("{addr} is already bound to vfio-pci");
        return Ok(());
    }
    if !f.is_ena() {
        refuse_or_warn(
            opts.force,
            format!(
                "{addr} is not an ENA device (vendor:device {:04x}:{:04x})",
                f.vendor, f.device
            ),
        )?;
    }
    let vfio_dir = roots.driver_dir(VFIO_PCI);
    if !vfio_dir.is_dir() {
        return Err(CliError::Prerequisite(format!(
            "vfio-pci is not loaded ({} is missing): run `modprobe vfio-pci`",
            vfio_dir.display()
        )));
    }
    check_not_in_use(roots, &f, opts.force)?;
    prepare_iommu(roots, opts.noiommu)?;

    record_original_driver(roots, &f)?;
    write_attr(&f.dir.join("driver_override"), VFIO_PCI)?;
    if f.driver.is_some() {
        write_attr(&f.dir.join("driver/unbind"), &addr.to_string())?;
    }
    write_attr(&vfio_dir.join("bind"), &addr.to_string()).map_err(|e| {
        CliError::Device(format!(
            "{e}; {addr} is now unbound (`enactl unbind {addr}` gives it back to its driver)"
        ))
    })?;

    println!(
        "{addr}: bound to vfio-pci (was {})",
        f.driver.as_deref().unwrap_or("unbound")
    );
    // vfio creates the group after the bind; in no-IOMMU mode its node is noiommu-<group>.
    if let Ok(Some(group)) = sysfs::link_name(&f.dir.join("iommu_group")) {
        for name in [format!("noiommu-{group}"), group] {
            let node = roots.dev.join("vfio").join(name);
            if node.exists() {
                println!("{addr}: VFIO group {}", node.display());
                break;
            }
        }
    }
    Ok(())
}

/// Runs `enactl unbind`.
pub fn unbind(roots: &Roots, bdf: &str, to: Option<&str>, force: bool) -> Result<()> {
    let addr = sysfs::parse_bdf(bdf)?;
    if to == Some(VFIO_PCI) {
        return Err(CliError::Usage(
            "--to vfio-pci: use `enactl bind` to bind to vfio-pci".into(),
        ));
    }
    sysfs::require_root(roots, "unbind")?;
    let f = PciFunction::read(roots, &addr)?;
    let state_file = roots.state_file(&addr);
    let recorded = sysfs::read_attr(&state_file)?;
    match f.driver.as_deref() {
        Some(d) if d != VFIO_PCI && !ena::platform::pci::USERSPACE_DRIVERS.contains(&d) => {
            println!("{addr} is bound to {d}, not to a userspace driver: nothing to do");
            return Ok(());
        }
        _ => {}
    }
    let users = sysfs::processes_using(roots, &f);
    if !users.is_empty() {
        refuse_or_warn(
            force,
            format!(
                "{addr} is in use by {}: stop it first, or pass --force",
                users.join(", ")
            ),
        )?;
    }
    // `--to` wins; then what `bind` recorded; then Linux's ENA driver.
    let target: Option<String> = match (to, recorded.as_deref()) {
        (Some(t), _) => Some(t.to_string()),
        (None, Some(NO_DRIVER)) => None,
        (None, Some(r)) if !r.is_empty() => Some(r.to_string()),
        _ => Some(ENA_KERNEL_DRIVER.to_string()),
    };

    write_attr(&f.dir.join("driver_override"), "\n")?;
    if f.driver.is_some() {
        write_attr(&f.dir.join("driver/unbind"), &addr.to_string())?;
    }
    let bound_to = match target {
        Some(t) if roots.driver_dir(&t).is_dir() => {
            write_attr(&roots.driver_dir(&t).join("bind"), &addr.to_string())?;
            t
        }
        other => {
            write_attr(&roots.drivers_probe(), &addr.to_string())?;
            match other {
                Some(t) => {
                    format!("whichever driver the kernel picks ({t} is not loaded: `modprobe {t}`)")
                }
                None => "whichever driver the kernel picks".to_string(),
            }
        }
    };
    match fs::remove_file(&state_file) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(CliError::io("removing", &state_file, e)),
    }
    println!(
        "{addr}: unbound from {}, handed to {bound_to}",
        f.driver.as_deref().unwrap_or("no driver")
    );
    Ok(())
}

/// Refuses (or, with `--force`, warns about) a function whose interface carries the default
/// route or is up: taking it from the kernel would cut whatever uses it.
fn check_not_in_use(roots: &Roots, f: &PciFunction, force: bool) -> Result<()> {
    let routes = sysfs::default_route_interfaces(&roots.proc)?;
    for i in &f.interfaces {
        if routes.contains(&i.name) {
            refuse_or_warn(
                force,
                format!(
                    "{} is in use: its interface {} carries the default route (probably your \
                     connection to this machine); pick another device, or pass --force",
                    f.addr, i.name
                ),
            )?;
        } else if i.up {
            refuse_or_warn(
                force,
                format!(
                    "{} is in use: its interface {} is up; run `ip link set {} down` first, or \
                     pass --force",
                    f.addr, i.name, i.name
                ),
            )?;
        }
    }
    Ok(())
}

fn refuse_or_warn(force: bool, why: String) -> Result<()> {
    if force {
        eprintln!("enactl: warning: {why} (continuing: --force)");
        Ok(())
    } else {
        Err(CliError::InUse(why))
    }
}

/// Without an IOMMU, vfio-pci takes a device only in unsafe no-IOMMU mode; turn it on when
/// `--noiommu` allows, otherwise say what is needed.
fn prepare_iommu(roots: &Roots, noiommu: bool) -> Result<()> {
    if sysfs::has_iommu(roots) {
        if noiommu {
            eprintln!("enactl: note: this machine has an IOMMU; --noiommu is not needed");
        }
        return Ok(());
    }
    let param = roots.noiommu_param();
    let value = sysfs::read_attr(&param)?.ok_or_else(|| {
        CliError::Prerequisite(format!(
            "this machine has no IOMMU and vfio has no no-IOMMU mode ({} is missing: the \
             kernel was built without CONFIG_VFIO_NOIOMMU); use a kernel that has it, or \
             igb_uio from dpdk-kmods",
            param.display()
        ))
    })?;
    if matches!(value.as_str(), "Y" | "y" | "1") {
        return Ok(());
    }
    if !noiommu {
        return Err(CliError::Prerequisite(format!(
            "this machine has no IOMMU, so vfio-pci needs its unsafe no-IOMMU mode: rerun with \
             --noiommu, or `echo Y > {}`",
            param.display()
        )));
    }
    write_attr(&param, "Y")?;
    eprintln!(
        "enactl: enabled vfio's unsafe no-IOMMU mode (the device can DMA anywhere in memory)"
    );
    Ok(())
}

/// Records the driver the device had, unless an earlier `bind` already did (a repeated bind
/// must not overwrite the original with an intermediate driver).
fn record_original_driver(roots: &Roots, f: &PciFunction) -> Result<()> {
    let path = roots.state_file(&f.addr);
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| CliError::io("creating", dir, e))?;
    }
    let driver = f.driver.as_deref().unwrap_or(NO_DRIVER);
    fs::write(&path, format!("{driver}\n")).map_err(|e| CliError::io("writing", &path, e))
}
