//! `enactl list`: the machine's network PCI functions, with what decides whether one can be
//! handed to a userspace driver — its driver, IOMMU group, NUMA node and interface, and
//! whether that interface is up or carries the default route (never bind that one: it is
//! usually how you are logged in).

use crate::error::Result;
use crate::sysfs::{self, PciFunction, Roots};
use std::collections::BTreeSet;
use std::fmt::Write;

/// Renders the table `enactl list` prints.
pub fn render(functions: &[PciFunction], default_routes: &BTreeSet<String>) -> String {
    let header = [
        "ADDRESS",
        "VENDOR:DEVICE",
        "DRIVER",
        "IOMMU",
        "NUMA",
        "INTERFACE",
    ];
    let rows: Vec<[String; 6]> = functions
        .iter()
        .map(|f| {
            let ids = format!(
                "{:04x}:{:04x}{}",
                f.vendor,
                f.device,
                if f.is_ena() { " ENA" } else { "" }
            );
            let iface = if f.interfaces.is_empty() {
                "-".to_string()
            } else {
                f.interfaces
                    .iter()
                    .map(|i| {
                        let mut notes = Vec::new();
                        if i.up {
                            notes.push("up");
                        }
                        if default_routes.contains(&i.name) {
                            notes.push("default route");
                        }
                        if notes.is_empty() {
                            i.name.clone()
                        } else {
                            format!("{} ({})", i.name, notes.join(", "))
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            [
                f.addr.to_string(),
                ids,
                f.driver.clone().unwrap_or_else(|| "-".into()),
                f.iommu_group.clone().unwrap_or_else(|| "-".into()),
                f.numa_node.map_or_else(|| "-".into(), |n| n.to_string()),
                iface,
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                let _ = write!(l, "{cell:<w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

/// Runs `enactl list` (`all`: every PCI function, not only network controllers).
pub fn run(roots: &Roots, ena_only: bool, all: bool) -> Result<()> {
    let mut functions = sysfs::pci_functions(roots, all)?;
    if ena_only {
        functions.retain(PciFunction::is_ena);
    }
    if functions.is_empty() {
        println!(
            "no {}PCI devices under {}",
            if ena_only {
                "ENA "
            } else if all {
                ""
            } else {
                "network "
            },
            roots.pci_devices().display()
        );
        return Ok(());
    }
    let routes = sysfs::default_route_interfaces(&roots.proc)?;
    print!("{}", render(&functions, &routes));
    Ok(())
}
