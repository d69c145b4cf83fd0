//! `dpdk-shim`: DPDK's programming model — EAL, lcores, ethdev, mbuf and mempool — in Rust,
//! over the `ena` driver, with DPDK's names so that a DPDK programmer finds their way.
//!
//! ```no_run
//! use dpdk_shim::prelude::*;
//!
//! let argv: Vec<String> = std::env::args().collect();
//! // e.g. app -l 0-1 --vdev net_ena_sim0,wire=loopback -- --my-option
//! let (eal, _app_args) = Eal::init(&argv)?;
//! let pool = eal.pktmbuf_pool_create("mbufs", 8191, 256, 0, MBUF_DEFAULT_BUF_SIZE)?;
//! let port = eal.port(0)?;
//! port.configure(1, 1, &EthConf::default())?;
//! port.rx_queue_setup(0, 1024, &pool)?;
//! port.tx_queue_setup(0, 1024)?;
//! port.start()?;
//! let (mut rx, mut tx) = (port.take_rx_queue(0)?, port.take_tx_queue(0)?);
//! let worker = eal.lcores().workers().next().expect("a worker lcore");
//! eal.lcores().remote_launch(worker, move || {
//!     let mut burst: [Option<Mbuf>; 32] = Default::default();
//!     loop {
//!         let n = rx.rx_burst(&mut burst);
//!         let sent = tx.tx_burst(&mut burst[..n]);
//!         pktmbuf_free_bulk(&mut burst[sent..n]);
//!     }
//! })?;
//! # Ok::<(), dpdk_shim::Error>(())
//! ```
//!
//! Where Rust's ownership does better than DPDK's conventions, the shim follows Rust and says
//! so: queues are values an lcore owns ([`ethdev::EthDev::take_rx_queue`]) instead of
//! `(port, queue)` indices any thread may use; a mempool's per-lcore cache is a value too
//! ([`mbuf::PktmbufPool::lcore_cache`]); a burst is a slice of `Option<Mbuf>`, and what
//! `tx_burst` did not take stays in the slice for the caller to retry or free.
//!
//! The fast path is the driver's own: `rx_burst`/`tx_burst` are the driver's methods on the
//! driver's queue types, so the shim adds nothing to it.

#![forbid(unsafe_code)]

pub mod args;
pub mod eal;
pub mod error;
pub mod ethdev;
pub mod lcore;
pub mod mbuf;
pub mod vdev;

pub use eal::Eal;
pub use error::{Error, Result};

/// Everything an application usually needs.
pub mod prelude {
    pub use crate::eal::Eal;
    pub use crate::error::{Error, Result};
    pub use crate::ethdev::{
        rss_hf, rx_offload, tx_offload, DevInfo, EthConf, EthDev, EthEvent, EthEventType, EthStats,
        Link, MqMode, RssConf, RxMode, RxQueue, TxMode, TxQueue,
    };
    pub use crate::lcore::{lcore_id, socket_id, LCORE_ID_ANY};
    pub use crate::mbuf::{
        ol, pktmbuf_free, pktmbuf_free_bulk, Mbuf, MbufCache, MbufExt, PktmbufPool,
        MBUF_DEFAULT_BUF_SIZE,
    };
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
