//! `--vdev net_ena_sim<N>`: in-process ENA device models as ports, and the wires on their far
//! side.
//!
//! Every model of one EAL shares one DMA space (so one mbuf pool serves all of them, as one
//! hugepage heap serves real ports) and one polling thread, pinned to `--sim-core` or else to
//! a CPU that is not an lcore when there is one.
//!
//! `wire=` takes the specs of [`ena_sim::wire::spec`]: `gen[:opt...]` (the default),
//! `sink`, `loopback`, `pair:<tag>`, `capture`, `none`, each optionally `:lossless`.

use crate::args::VdevSpec;
use crate::error::{Error, Result};
use ena_sim::config::DeviceConfig;
use ena_sim::dma::InProcessDma;
use ena_sim::transport::inproc::{ClockChoice, SimDevice};
use ena_sim::wire::spec::{self, WireRequest};
use std::sync::Arc;

pub use ena_sim::wire::spec::WireHandle;

/// A simulated port: the device model and its wire.
#[derive(Clone)]
pub struct SimPort {
    /// The device model (statistics, fault injection, event log).
    pub device: SimDevice,
    /// Its wire.
    pub wire: WireHandle,
}

impl std::fmt::Debug for SimPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimPort")
            .field("wire", &self.wire)
            .finish_non_exhaustive()
    }
}

/// The MAC a vdev takes unless `mac=` says otherwise: locally administered, 02:00:00:00:01:<N>.
pub fn default_mac(spec: &VdevSpec) -> [u8; 6] {
    let n: u32 = spec
        .name
        .trim_start_matches("net_ena_sim")
        .parse()
        .unwrap_or(0);
    [0x02, 0, 0, 0, 1, n as u8]
}

/// Builds the device models for `specs`, in order, sharing `dma`.
pub fn build(specs: &[VdevSpec], dma: &Arc<InProcessDma>) -> Result<Vec<SimPort>> {
    let requests: Vec<WireRequest> = specs
        .iter()
        .map(|s| WireRequest {
            name: s.name.clone(),
            spec: s.wire.clone(),
            mac: s.mac.unwrap_or_else(|| default_mac(s)),
        })
        .collect();
    let wires = spec::build(&requests).map_err(|e| Error::Args(e.0))?;
    let mut out = Vec::with_capacity(specs.len());
    for ((spec, req), (wire, handle)) in specs.iter().zip(&requests).zip(wires) {
        let mut cfg = DeviceConfig {
            mac: req.mac,
            ..DeviceConfig::default()
        };
        if let Some(q) = spec.queues {
            cfg.max_queues = q;
        }
        if let Some(m) = spec.mtu {
            cfg.mtu = m;
        }
        let device =
            SimDevice::with_dma(cfg, wire, ClockChoice::Real, dma.clone()).map_err(|e| {
                Error::Setup(format!(
                    "{}: cannot create the device model: {e}",
                    spec.name
                ))
            })?;
        out.push(SimPort {
            device,
            wire: handle,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse_vdev;

    fn specs(v: &[&str]) -> Vec<VdevSpec> {
        v.iter().map(|s| parse_vdev(s).unwrap()).collect()
    }

    #[test]
    fn vdevs_get_their_wires_and_bad_wires_are_eal_errors() {
        let dma = InProcessDma::new();
        let ports = build(
            &specs(&[
                "net_ena_sim0,wire=gen:size=128:lossless",
                "net_ena_sim1,wire=pair:x",
                "net_ena_sim2,wire=pair:x",
                "net_ena_sim3,wire=capture",
            ]),
            &dma,
        )
        .unwrap();
        assert!(matches!(ports[0].wire, WireHandle::Generator(_)));
        assert!(matches!(&ports[2].wire, WireHandle::Pair(t) if t == "x"));
        assert!(matches!(ports[3].wire, WireHandle::Capture(_)));
        assert_eq!(
            default_mac(&specs(&["net_ena_sim7"])[0]),
            [2, 0, 0, 0, 1, 7]
        );
        let err = build(&specs(&["net_ena_sim0,wire=pair:x"]), &dma)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid EAL arguments: wire=pair:x joins exactly two ports; found 1 (net_ena_sim0)"
        );
    }
}
