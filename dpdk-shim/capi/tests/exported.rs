//! The exported functions called from Rust as a C program would call them: one EAL for the
//! whole test (as in a process), on a capture wire so that every frame can be checked byte
//! for byte, plus two lcores for the launch functions.
//!
//! Covers DPDK's argv convention, pool creation and lookup, mbuf alloc/free through the C
//! struct, port configuration (and what it refuses), bursts on caller arrays, the TX buffer
//! with its error callback, link and statistics, remote launch, close and cleanup.

use dpdk::eal::*;
use dpdk::errno::{dpdk_shim_errno_location, rte_strerror, E_RTE_NO_CONFIG};
use dpdk::ethdev::*;
use dpdk::mbuf::*;
use dpdk_shim::vdev::WireHandle;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

fn errno() -> c_int {
    // SAFETY: the calling thread's errno cell.
    unsafe { *dpdk_shim_errno_location() }
}

fn strerror(e: c_int) -> String {
    // SAFETY: rte_strerror returns a NUL-terminated string valid until the next call.
    unsafe { CStr::from_ptr(rte_strerror(e)) }
        .to_string_lossy()
        .into_owned()
}

/// A UDP-ish frame: destination, source, EtherType, then `fill` bytes of `tag`.
fn frame(dst: [u8; 6], src: [u8; 6], tag: u8, fill: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + fill);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend(std::iter::repeat_n(tag, fill));
    f
}

/// The bytes of an mbuf's first segment, as `rte_pktmbuf_mtod` sees them.
///
/// # Safety
/// `m` is a live mbuf the caller owns.
unsafe fn mtod(m: *mut rte_mbuf) -> &'static mut [u8] {
    // SAFETY: buf_addr + data_off .. + data_len is the packet data of an mbuf the caller owns.
    unsafe {
        let m = &*m;
        std::slice::from_raw_parts_mut(
            m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
            usize::from(m.data_len),
        )
    }
}

static LAUNCHED: AtomicU32 = AtomicU32::new(0);

unsafe extern "C" fn lcore_fn(arg: *mut c_void) -> c_int {
    // SAFETY: the test passes a pointer to a live AtomicU32.
    let hits = unsafe { &*arg.cast::<AtomicU32>() };
    hits.fetch_add(1, Ordering::SeqCst);
    LAUNCHED.fetch_or(1 << rte_lcore_id(), Ordering::SeqCst);
    40 + rte_lcore_id() as c_int
}

unsafe extern "C" fn slow_fn(_arg: *mut c_void) -> c_int {
    std::thread::sleep(Duration::from_millis(300));
    7
}

#[test]
fn the_c_api_end_to_end_on_a_capture_wire() {
    // Before the EAL: calls fail the DPDK way.
    // SAFETY: a NUL-terminated name.
    let none = unsafe {
        rte_pktmbuf_pool_create(c"early".as_ptr(), 64, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0)
    };
    assert!(none.is_null());
    assert_eq!(errno(), E_RTE_NO_CONFIG);
    assert_eq!(rte_eth_dev_count_avail(), 0);
    assert_eq!(rte_eth_find_next(0), RTE_MAX_ETHPORTS_U16);
    assert_eq!(rte_eal_cleanup(), -1);
    assert_eq!(errno(), libc::EALREADY);

    // rte_eal_init: EAL options, "--", then the application's; argv[ret] = program name.
    let args = [
        "capi-test",
        "-l",
        "0-1",
        "--vdev",
        "net_ena_sim0,wire=capture:lossless",
        "--log-level=warning",
        "--",
        "-p",
        "3",
    ];
    let owned: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
    let mut argv: Vec<*mut c_char> = owned.iter().map(|a| a.as_ptr().cast_mut()).collect();
    // SAFETY: argv holds argc NUL-terminated strings that outlive the call.
    let ret = unsafe { rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
    assert_eq!(ret, 6, "six EAL arguments before the application's");
    let app: Vec<&str> = argv[ret as usize..]
        .iter()
        // SAFETY: every entry still points to one of `owned`.
        .map(|&p| unsafe { CStr::from_ptr(p) }.to_str().unwrap())
        .collect();
    assert_eq!(app, ["capi-test", "-p", "3"], "argc -= ret; argv += ret;");
    assert_eq!(
        // SAFETY: as above.
        unsafe { rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) },
        -1
    );
    assert_eq!(errno(), libc::EALREADY);

    // Lcores: ids are CPU numbers; the test thread is the main lcore.
    assert_eq!(rte_lcore_count(), 2);
    assert_eq!(rte_get_main_lcore(), 0);
    assert_eq!(rte_lcore_id(), 0);
    assert_eq!((rte_lcore_is_enabled(1), rte_lcore_is_enabled(2)), (1, 0));
    assert_eq!(rte_get_next_lcore(u32::MAX, 1, 0), 1, "the first worker");
    assert_eq!(rte_get_next_lcore(1, 1, 0), RTE_MAX_LCORE_U32);
    assert_eq!(rte_get_next_lcore(1, 0, 1), 0, "wraps to the main lcore");
    assert_eq!((rte_lcore_index(1), rte_lcore_index(5)), (1, -1));

    // Remote launch on the worker; the main lcore is not a worker.
    let hits = AtomicU32::new(0);
    let arg = (&hits as *const AtomicU32).cast_mut().cast::<c_void>();
    assert_eq!(rte_eal_remote_launch(Some(lcore_fn), arg, 1), 0);
    assert_eq!(rte_eal_wait_lcore(1), 41);
    assert_eq!(rte_eal_remote_launch(Some(lcore_fn), arg, 0), -libc::EINVAL);
    assert_eq!(rte_eal_remote_launch(Some(slow_fn), arg, 1), 0);
    assert_eq!(rte_eal_get_lcore_state(1), 1, "RUNNING");
    assert_eq!(rte_eal_remote_launch(Some(lcore_fn), arg, 1), -libc::EBUSY);
    assert_eq!(
        rte_eal_mp_remote_launch(Some(lcore_fn), arg, 1),
        -libc::EBUSY
    );
    assert_eq!(rte_eal_cleanup(), -1, "a worker is running");
    assert_eq!(errno(), libc::EBUSY);
    assert_eq!(rte_eal_wait_lcore(1), 7);
    assert_eq!(rte_eal_get_lcore_state(1), 0, "WAIT");
    LAUNCHED.store(0, Ordering::SeqCst);
    assert_eq!(rte_eal_mp_remote_launch(Some(lcore_fn), arg, 1), 0);
    rte_eal_mp_wait_lcore();
    assert_eq!(
        LAUNCHED.load(Ordering::SeqCst),
        0b11,
        "CALL_MAIN ran it on lcores 0 and 1"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    // Port 0.
    assert_eq!(rte_eth_dev_count_avail(), 1);
    assert_eq!((rte_eth_find_next(0), rte_eth_find_next(1)), (0, 32));
    assert_eq!(
        (rte_eth_dev_is_valid_port(0), rte_eth_dev_is_valid_port(1)),
        (1, 0)
    );
    assert_eq!(
        (rte_eth_dev_socket_id(0), rte_eth_dev_socket_id(9)),
        (0, -1)
    );
    let mut info = MaybeUninit::<rte_eth_dev_info>::uninit();
    // SAFETY: a writable struct.
    assert_eq!(unsafe { rte_eth_dev_info_get(0, info.as_mut_ptr()) }, 0);
    // SAFETY: filled by the call.
    let info = unsafe { info.assume_init() };
    // SAFETY: a NUL-terminated name owned by the port.
    assert_eq!(unsafe { CStr::from_ptr(info.driver_name) }, c"net_ena_rs");
    assert!(info.max_rx_queues >= 1 && info.tx_desc_lim.nb_min == 128);
    assert_ne!(info.tx_offload_capa & tx_offload_fast_free(), 0);
    let mut mac = rte_ether_addr::default();
    // SAFETY: writable.
    assert_eq!(unsafe { rte_eth_macaddr_get(0, &mut mac) }, 0);
    assert_eq!(mac.addr_bytes, [2, 0, 0, 0, 1, 0]);
    let mut name = [0 as c_char; RTE_ETH_NAME_MAX_LEN];
    assert_eq!(
        // SAFETY: RTE_ETH_NAME_MAX_LEN bytes.
        unsafe { rte_eth_dev_get_name_by_port(0, name.as_mut_ptr()) },
        0
    );
    // SAFETY: NUL-terminated by the call.
    assert_eq!(unsafe { CStr::from_ptr(name.as_ptr()) }, c"net_ena_sim0");

    // A pool; names are unique; lookup finds it.
    // SAFETY: NUL-terminated names.
    let pool = unsafe {
        rte_pktmbuf_pool_create(
            c"pool0".as_ptr(),
            2047,
            32,
            0,
            RTE_MBUF_DEFAULT_BUF_SIZE,
            -1,
        )
    };
    assert!(!pool.is_null(), "{}", strerror(errno()));
    // SAFETY: as above.
    unsafe {
        let again =
            rte_pktmbuf_pool_create(c"pool0".as_ptr(), 64, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
        assert!(again.is_null());
        assert_eq!(errno(), libc::EEXIST);
        let bad = rte_pktmbuf_pool_create(c"p".as_ptr(), 64, 0, 8, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
        assert!(bad.is_null(), "priv_size must be 0");
        assert_eq!(errno(), libc::EINVAL);
        assert_eq!(rte_mempool_lookup(c"pool0".as_ptr()), pool);
        assert!(rte_mempool_lookup(c"nope".as_ptr()).is_null());
        assert_eq!(errno(), libc::ENOENT);
        assert_eq!(CStr::from_ptr((*pool).name.as_ptr()), c"pool0");
        assert_eq!(((*pool).size, (*pool).cache_size), (2047, 32));
        assert_eq!(rte_pktmbuf_data_room_size(pool), RTE_MBUF_DEFAULT_BUF_SIZE);
        assert_eq!(rte_mempool_avail_count(pool), 2047);
    }

    // mbufs through the C struct.
    // SAFETY: a live pool; the mbufs are ours until freed.
    unsafe {
        let m = rte_pktmbuf_alloc(pool);
        assert!(!m.is_null());
        assert_eq!(((*m).data_off, (*m).data_len, (*m).pkt_len), (128, 0, 0));
        assert_eq!(((*m).nb_segs, (*m).port, (*m).buf_len), (1, u16::MAX, 2176));
        assert!((*m).next.is_null());
        assert_eq!(rte_mempool_in_use_count(pool), 1);
        let mut many = [std::ptr::null_mut(); 8];
        assert_eq!(rte_pktmbuf_alloc_bulk(pool, many.as_mut_ptr(), 8), 0);
        assert_eq!(rte_mempool_in_use_count(pool), 9);
        // A chain: freeing the head frees the tail too.
        (*m).next = many[0];
        many[0] = std::ptr::null_mut();
        rte_pktmbuf_free(m);
        assert_eq!(rte_mempool_in_use_count(pool), 7);
        rte_pktmbuf_free_bulk(many.as_mut_ptr(), 8);
        assert_eq!(rte_mempool_in_use_count(pool), 0);
        rte_pktmbuf_free(std::ptr::null_mut());
    }

    // Configuration: what ENA has, and what it refuses.
    // SAFETY: all-zero is a valid rte_eth_conf (NONE modes, no key, no offloads).
    let mut conf: rte_eth_conf = unsafe { std::mem::zeroed() };
    conf.rxmode.mq_mode = 4; // VMDq
    assert_eq!(
        // SAFETY: a readable configuration.
        unsafe { rte_eth_dev_configure(0, 1, 1, &conf) },
        -libc::EINVAL
    );
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS_FLAG;
    conf.rx_adv_conf.rss_conf.rss_hf = 1 << 2; // RTE_ETH_RSS_IPV4: not an ENA hash type
    assert_eq!(
        // SAFETY: as above.
        unsafe { rte_eth_dev_configure(0, 1, 1, &conf) },
        -libc::EINVAL
    );
    conf.rx_adv_conf.rss_conf.rss_hf = 0;
    conf.rxmode.mq_mode = 0;
    conf.txmode.offloads = tx_offload_fast_free();
    // SAFETY: as above.
    assert_eq!(unsafe { rte_eth_dev_configure(0, 1, 1, &conf) }, 0);
    let mut mtu = 0u16;
    // SAFETY: writable.
    assert_eq!(unsafe { rte_eth_dev_get_mtu(0, &mut mtu) }, 0);
    assert_eq!(mtu, 1500, "rxmode.mtu 0 is RTE_ETHER_MTU");
    let (mut nrx, mut ntx) = (1000u16, 0u16);
    assert_eq!(
        // SAFETY: writable.
        unsafe { rte_eth_dev_adjust_nb_rx_tx_desc(0, &mut nrx, &mut ntx) },
        0
    );
    assert_eq!((nrx, ntx), (1024, 128));
    let mut rxconf = info.default_rxconf;
    rxconf.offloads = 1 << 1; // IPv4 checksum: not enabled on the port
    assert_eq!(
        // SAFETY: a readable rxconf and a live pool.
        unsafe { rte_eth_rx_queue_setup(0, 0, 256, 0, &rxconf, pool) },
        -libc::EINVAL
    );
    assert_eq!(
        // SAFETY: as above (NULL rxconf: the defaults).
        unsafe { rte_eth_rx_queue_setup(0, 0, 1000, 0, std::ptr::null(), pool) },
        -libc::EINVAL,
        "not a power of two"
    );
    assert_eq!(
        // SAFETY: as above.
        unsafe { rte_eth_rx_queue_setup(0, 0, 256, 0, std::ptr::null(), pool) },
        0
    );
    let mut txconf = info.default_txconf;
    txconf.offloads = tx_offload_fast_free();
    // SAFETY: a readable txconf.
    assert_eq!(unsafe { rte_eth_tx_queue_setup(0, 0, 256, 0, &txconf) }, 0);

    // Before start, bursts find no queue.
    let mut burst = [std::ptr::null_mut::<rte_mbuf>(); 32];
    assert_eq!(
        // SAFETY: 32 entries.
        unsafe { dpdk_shim_rx_burst(0, 0, burst.as_mut_ptr(), 32) },
        0
    );
    assert_eq!(rte_eth_dev_start(0), 0);
    assert_eq!(rte_eth_promiscuous_enable(0), -libc::ENOTSUP);
    assert_eq!(strerror(libc::ENOTSUP), "Operation not supported");
    assert_eq!(rte_eth_promiscuous_get(0), 0);
    assert_eq!(rte_eth_dev_close(0), -libc::EINVAL, "started");

    // The link comes up once the device's LSC event is processed (control thread, 100 ms).
    let t0 = Instant::now();
    let mut link = rte_eth_link::default();
    loop {
        // SAFETY: writable.
        assert_eq!(unsafe { rte_eth_link_get_nowait(0, &mut link) }, 0);
        if link.flags & LINK_STATUS_BIT != 0 || t0.elapsed() > Duration::from_secs(5) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(link.flags, LINK_STATUS_BIT | LINK_DUPLEX_BIT);
    assert_eq!(link.link_speed, 0, "ENA reports no speed");

    // Frames in through the capture wire, received into a caller array full of garbage.
    let capture = dpdk::with_eal(|e| match e.sim_port(0).expect("a vdev").wire {
        WireHandle::Capture(c) => c,
        other => panic!("wire {other:?}"),
    })
    .expect("EAL up");
    let sent: Vec<Vec<u8>> = (0..40u8)
        .map(|i| frame(mac.addr_bytes, [2, 0, 0, 0, 9, i], i, 46 + usize::from(i)))
        .collect();
    for f in &sent {
        capture.push(f.clone());
    }
    let mut got: Vec<*mut rte_mbuf> = Vec::new();
    let t0 = Instant::now();
    while got.len() < sent.len() && t0.elapsed() < Duration::from_secs(10) {
        // Stale pointers, as a C array holds after the previous burst was sent: the burst
        // must overwrite them, not free them.
        burst.fill(0xdead_beef_usize as *mut rte_mbuf);
        // SAFETY: 32 entries; this thread is the queue's only poller.
        let n = unsafe { dpdk_shim_rx_burst(0, 0, burst.as_mut_ptr(), 32) };
        got.extend_from_slice(&burst[..usize::from(n)]);
        assert!(burst[usize::from(n)..].iter().all(|p| p.is_null()));
    }
    assert_eq!(got.len(), sent.len());
    for (i, &m) in got.iter().enumerate() {
        // SAFETY: received mbufs are ours.
        unsafe {
            assert_eq!(mtod(m), &sent[i][..], "frame {i}");
            assert_eq!(((*m).port, (*m).pkt_len), (0, sent[i].len() as u32));
            // Swap the MAC addresses, as a macswap forwarder does.
            let d = mtod(m);
            let (dst, src) = d.split_at_mut(6);
            dst.swap_with_slice(&mut src[..6]);
        }
    }

    // Out through a TX buffer of 16: two flushes when full, the rest on an explicit flush.
    let layout = std::alloc::Layout::from_size_align(24 + 16 * 8, 8).unwrap();
    // SAFETY: a non-zero-sized layout; zeroed, as rte_zmalloc would give it.
    let buf = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<rte_eth_dev_tx_buffer>();
    let mut dropped = 0u64;
    // SAFETY: the buffer has room for 16 packets; the callback's counter outlives its use.
    unsafe {
        assert_eq!(rte_eth_tx_buffer_init(buf, 16), 0);
        assert_eq!(
            rte_eth_tx_buffer_set_err_callback(
                buf,
                Some(rte_eth_tx_buffer_count_callback),
                (&mut dropped as *mut u64).cast()
            ),
            0
        );
    }
    let mut sent_by_flush = 0u32;
    for &m in &got {
        // SAFETY: the buffer's struct and `pkts` array, as the header's inline function uses
        // them; the mbufs are ours to send.
        unsafe {
            let b = &mut *buf;
            *b.pkts.as_mut_ptr().add(usize::from(b.length)) = m;
            b.length += 1;
            if b.length == b.size {
                let n = b.length;
                let s = dpdk_shim_tx_burst(0, 0, b.pkts.as_mut_ptr(), n);
                sent_by_flush += u32::from(s);
                b.length = 0;
                assert_eq!(s, n, "the ring has room");
            }
        }
    }
    // SAFETY: flush what is left: 40 - 32 = 8.
    unsafe {
        let b = &mut *buf;
        assert_eq!(b.length, 8);
        let s = dpdk_shim_tx_burst(0, 0, b.pkts.as_mut_ptr(), b.length);
        assert_eq!(s, 8);
        assert_eq!(
            std::slice::from_raw_parts(b.pkts.as_ptr(), 8),
            &got[32..],
            "the array is left as passed, as DPDK leaves it"
        );
        sent_by_flush += u32::from(s);
        b.length = 0;
    }
    assert_eq!((sent_by_flush, dropped), (40, 0));
    let t0 = Instant::now();
    while capture.sent_len() < sent.len() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = capture.take_sent();
    assert_eq!(out.len(), sent.len());
    for (i, f) in out.iter().enumerate() {
        let mut want = sent[i].clone();
        let (d, s) = want.split_at_mut(6);
        d.swap_with_slice(&mut s[..6]);
        assert_eq!(f, &want, "sent frame {i}");
    }

    // What the queue does not take goes to the error callback: a stopped port takes none.
    assert_eq!(rte_eth_dev_stop(0), 0);
    // SAFETY: a live pool and the TX buffer above; the callback frees and counts.
    unsafe {
        let b = &mut *buf;
        for _ in 0..3 {
            *b.pkts.as_mut_ptr().add(usize::from(b.length)) = rte_pktmbuf_alloc(pool);
            b.length += 1;
        }
        let n = b.length;
        let s = dpdk_shim_tx_burst(0, 0, b.pkts.as_mut_ptr(), n);
        assert_eq!(s, 0);
        b.length = 0;
        let cb = b.error_callback.expect("set");
        cb(b.pkts.as_mut_ptr(), n - s, b.error_userdata);
        std::alloc::dealloc(buf.cast(), layout);
    }
    assert_eq!(dropped, 3);

    // Statistics since start: 40 in, 40 out.
    let mut st = MaybeUninit::<rte_eth_stats>::uninit();
    // SAFETY: writable.
    assert_eq!(unsafe { rte_eth_stats_get(0, st.as_mut_ptr()) }, 0);
    // SAFETY: filled by the call.
    let st = unsafe { st.assume_init() };
    let bytes: u64 = sent.iter().map(|f| f.len() as u64).sum();
    assert_eq!((st.ipackets, st.opackets), (40, 40));
    assert_eq!((st.ibytes, st.obytes), (bytes, bytes));
    assert_eq!((st.q_ipackets[0], st.q_opackets[0]), (40, 40));

    // Close: the port is gone; every mbuf is back in the pool.
    assert_eq!(rte_eth_dev_close(0), 0);
    assert_eq!(rte_eth_dev_count_avail(), 0);
    assert_eq!(rte_eth_dev_is_valid_port(0), 0);
    assert_eq!(rte_eth_dev_start(0), -libc::ENODEV);
    // SAFETY: a live pool.
    assert_eq!(unsafe { rte_mempool_in_use_count(pool) }, 0);
    // SAFETY: released once.
    unsafe { rte_mempool_free(pool) };

    assert_eq!(rte_eal_cleanup(), 0);
    assert_eq!(rte_lcore_count(), 0);
    assert_eq!(rte_eal_cleanup(), -1);
    assert_eq!(errno(), libc::EALREADY);
}

const RTE_MAX_ETHPORTS_U16: u16 = dpdk::RTE_MAX_ETHPORTS as u16;
const RTE_MAX_LCORE_U32: u32 = dpdk::RTE_MAX_LCORE as u32;

fn tx_offload_fast_free() -> u64 {
    dpdk_shim::ethdev::tx_offload::MBUF_FAST_FREE
}
