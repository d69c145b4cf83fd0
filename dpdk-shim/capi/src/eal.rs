//! The EAL (rte_eal.h, rte_lcore.h, rte_launch.h, rte_debug.h): `rte_eal_init` and
//! `rte_eal_cleanup` around [`dpdk_shim::Eal`], the lcore queries, and launching C functions
//! on worker lcores.
//!
//! # Arguments
//!
//! `rte_eal_init` parses with [`dpdk_shim::args::parse`] (DPDK's options; see rte_eal.h) and
//! returns how many arguments it used, as DPDK's does: with `argc - 1 - n` EAL arguments
//! before the application's `n`, it returns `argc - 1 - n` and stores the program name in
//! `argv[argc - 1 - n]` (where `--` was, or the last EAL argument), so that after
//! `argc -= ret; argv += ret;` the application sees `argv[0]` = program name and its own
//! options from `argv[1]` — what DPDK's examples rely on before calling getopt.

use crate::errno;
use crate::log::{self, TYPE_EAL};
use crate::{LcoreTable, PortSlot, Shim, LIFECYCLE, RTE_MAX_ETHPORTS, RTE_MAX_LCORE, SHIM};
use dpdk_shim::lcore::{lcore_id, LcoreState};
use dpdk_shim::Eal;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::atomic::Ordering;

fn init_error(code: c_int, msg: &str) -> c_int {
    log::error(TYPE_EAL, msg);
    errno::set(code);
    -1
}

/// The global level `--log-level` asks for (the last one that names no log type), before
/// `--`.
fn log_level_arg(args: &[String]) -> Option<u32> {
    let mut level = None;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        let v = match a.strip_prefix("--log-level") {
            Some("") => it.next().map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(l) = v.and_then(log::parse_level) {
            level = Some(l);
        }
    }
    level
}

/// `rte_eal_init(argc, argv)`: see the module doc. -1 with `rte_errno` on failure.
///
/// # Safety
/// `argv` holds `argc` pointers to NUL-terminated strings (as `main` receives them).
#[no_mangle]
pub unsafe extern "C" fn rte_eal_init(argc: c_int, argv: *mut *mut c_char) -> c_int {
    let _guard = LIFECYCLE.lock().unwrap_or_else(|e| e.into_inner());
    if !SHIM.load(Ordering::Acquire).is_null() {
        return init_error(libc::EALREADY, "EAL: already initialised");
    }
    if argc < 1 || argv.is_null() {
        return init_error(libc::EINVAL, "EAL: argc must be at least 1, with argv[0]");
    }
    let mut args = Vec::with_capacity(argc as usize);
    for i in 0..argc as usize {
        // SAFETY: `argv` holds `argc` entries (the caller's promise).
        let p = unsafe { *argv.add(i) };
        if p.is_null() {
            return init_error(libc::EINVAL, &format!("EAL: argv[{i}] is NULL"));
        }
        // SAFETY: each entry is a NUL-terminated string.
        match unsafe { CStr::from_ptr(p) }.to_str() {
            Ok(s) => args.push(s.to_string()),
            Err(_) => {
                return init_error(libc::EINVAL, &format!("EAL: argv[{i}] is not UTF-8"));
            }
        }
    }
    if let Some(level) = log_level_arg(&args) {
        log::rte_log_set_global_level(level);
    }
    let (eal_args, app) = match dpdk_shim::args::parse(&args) {
        Ok(p) => p,
        Err(e) => return init_error(libc::EINVAL, &format!("EAL: {e}")),
    };
    if let Some(c) = eal_args.lcores.iter().find(|&&c| c >= RTE_MAX_LCORE) {
        return init_error(
            libc::EINVAL,
            &format!("EAL: lcore {c} is not below RTE_MAX_LCORE ({RTE_MAX_LCORE})"),
        );
    }
    let nb_ports = eal_args.allow.len() + eal_args.vdevs.len();
    if nb_ports > RTE_MAX_ETHPORTS {
        return init_error(
            libc::EINVAL,
            &format!("EAL: {nb_ports} devices; at most RTE_MAX_ETHPORTS ({RTE_MAX_ETHPORTS})"),
        );
    }
    log::install_tracing(log::rte_log_get_global_level());
    let eal = match Eal::with_args(eal_args) {
        Ok(e) => e,
        Err(e) => return init_error(crate::errno_of(&e), &format!("EAL: {e}")),
    };
    let mut enabled = [false; RTE_MAX_LCORE];
    for id in eal.lcores().ids() {
        enabled[id as usize] = true;
    }
    let lcores = LcoreTable {
        enabled,
        main: eal.lcores().main(),
        count: eal.lcores().count(),
    };
    let ports: Box<[PortSlot]> = eal.ports().map(PortSlot::new).collect();
    let hz = crate::cycles::rte_get_tsc_hz();
    log::log(
        log::INFO,
        TYPE_EAL,
        &format!(
            "{} lcores (main {}), {} ports, TSC {} MHz",
            lcores.count,
            lcores.main,
            ports.len(),
            hz / 1_000_000
        ),
    );
    let used = argc - 1 - app.len() as c_int;
    // SAFETY: 0 <= used < argc: argv has that entry; DPDK leaves the program name there.
    unsafe { *argv.add(used as usize) = *argv };
    let shim = Box::new(Shim {
        ports,
        lcores,
        pools: Default::default(),
        eal,
    });
    SHIM.store(Box::into_raw(shim), Ordering::Release);
    used
}

/// `rte_eal_cleanup()`: 0; -1 with `rte_errno` EBUSY while a worker lcore runs a function,
/// EALREADY when the EAL is not up.
#[no_mangle]
pub extern "C" fn rte_eal_cleanup() -> c_int {
    let _guard = LIFECYCLE.lock().unwrap_or_else(|e| e.into_inner());
    let p = SHIM.load(Ordering::Acquire);
    let Some(shim) = crate::shim() else {
        log::log(log::WARNING, TYPE_EAL, "cleanup: nothing to release");
        errno::set(libc::EALREADY);
        return -1;
    };
    let lcores = shim.eal.lcores();
    let busy: Vec<u32> = lcores
        .workers()
        .filter(|&id| lcores.state(id).ok() == Some(LcoreState::Running))
        .collect();
    if !busy.is_empty() {
        log::error(
            TYPE_EAL,
            &format!(
                "cleanup: lcores {busy:?} are running a function; wait for them \
                 (rte_eal_mp_wait_lcore) first"
            ),
        );
        errno::set(libc::EBUSY);
        return -1;
    }
    SHIM.store(std::ptr::null_mut(), Ordering::Release);
    // SAFETY: `p` came from Box::into_raw in rte_eal_init; it is unpublished now, and by the
    // C API's contract nothing else uses it during cleanup.
    drop(unsafe { Box::from_raw(p) });
    0
}

/// `rte_exit`'s work (the header's inline `rte_exit` formats `msg`): logs it, releases the
/// EAL when it can, and exits with `exit_code`.
///
/// # Safety
/// `msg` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn dpdk_shim_exit(exit_code: c_int, msg: *const c_char) -> ! {
    let msg = if msg.is_null() {
        String::new()
    } else {
        // SAFETY: the caller passes a NUL-terminated string.
        unsafe { CStr::from_ptr(msg) }
            .to_string_lossy()
            .into_owned()
    };
    let cause = msg.strip_suffix('\n').unwrap_or(&msg);
    log::log(
        log::CRIT,
        TYPE_EAL,
        &format!("Error - exiting with code: {exit_code}\n  Cause: {cause}"),
    );
    if crate::shim().is_some() && rte_eal_cleanup() != 0 && errno::get() != libc::EALREADY {
        log::log(log::CRIT, TYPE_EAL, "EAL could not release all resources");
    }
    std::process::exit(exit_code)
}

/// `rte_panic`'s work: logs `PANIC in func():` and `msg`, then aborts.
///
/// # Safety
/// `func` and `msg` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn dpdk_shim_panic(func: *const c_char, msg: *const c_char) -> ! {
    let text = |p: *const c_char| {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: the caller passes NUL-terminated strings.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    log::log(
        log::CRIT,
        TYPE_EAL,
        &format!("PANIC in {}():\n{}", text(func), text(msg)),
    );
    std::process::abort()
}

/// `rte_eal_process_type`: `RTE_PROC_PRIMARY` (there are no secondary processes).
#[no_mangle]
pub extern "C" fn rte_eal_process_type() -> c_int {
    0
}

/// `rte_eal_has_hugepages`: whether packet memory is hugepages (PCI ports), 1 or 0.
#[no_mangle]
pub extern "C" fn rte_eal_has_hugepages() -> c_int {
    crate::shim().map_or(0, |s| c_int::from(!s.eal.args().allow.is_empty()))
}

/// `rte_eal_has_pci`: whether the ports are PCI functions, 1 or 0.
#[no_mangle]
pub extern "C" fn rte_eal_has_pci() -> c_int {
    rte_eal_has_hugepages()
}

const VERSION: &CStr = match CStr::from_bytes_with_nul(
    concat!(
        "dpdk-shim ",
        env!("CARGO_PKG_VERSION"),
        " (DPDK 22.11 API)\0"
    )
    .as_bytes(),
) {
    Ok(s) => s,
    Err(_) => panic!("the version string is NUL-terminated"),
};

/// `rte_version()`.
#[no_mangle]
pub extern "C" fn rte_version() -> *const c_char {
    VERSION.as_ptr()
}

/// `rte_lcore_id()`: the calling lcore, or `LCORE_ID_ANY` (`UINT32_MAX`).
#[no_mangle]
pub extern "C" fn rte_lcore_id() -> c_uint {
    lcore_id()
}

/// `rte_get_main_lcore()`.
#[no_mangle]
pub extern "C" fn rte_get_main_lcore() -> c_uint {
    crate::shim().map_or(0, |s| s.lcores.main)
}

/// `rte_lcore_count()`.
#[no_mangle]
pub extern "C" fn rte_lcore_count() -> c_uint {
    crate::shim().map_or(0, |s| s.lcores.count)
}

/// `rte_lcore_index(lcore_id)`: position among the lcores, -1 if not one; negative means
/// the calling lcore.
#[no_mangle]
pub extern "C" fn rte_lcore_index(lcore: c_int) -> c_int {
    let id = if lcore < 0 { lcore_id() } else { lcore as u32 };
    crate::shim()
        .and_then(|s| s.eal.lcores().index(id))
        .map_or(-1, |i| i as c_int)
}

/// `rte_socket_id()`: 0 (one NUMA node, as the shim models it).
#[no_mangle]
pub extern "C" fn rte_socket_id() -> c_uint {
    dpdk_shim::lcore::socket_id() as c_uint
}

/// `rte_socket_count()`.
#[no_mangle]
pub extern "C" fn rte_socket_count() -> c_uint {
    1
}

/// `rte_lcore_to_socket_id()`.
#[no_mangle]
pub extern "C" fn rte_lcore_to_socket_id(_lcore: c_uint) -> c_uint {
    rte_socket_id()
}

/// `rte_lcore_is_enabled(lcore_id)`.
#[no_mangle]
pub extern "C" fn rte_lcore_is_enabled(lcore: c_uint) -> c_int {
    crate::shim()
        .and_then(|s| s.lcores.enabled.get(lcore as usize).copied())
        .map_or(0, c_int::from)
}

/// `rte_get_next_lcore(i, skip_main, wrap)`: the next enabled lcore after `i` (in id order),
/// or `RTE_MAX_LCORE`.
#[no_mangle]
pub extern "C" fn rte_get_next_lcore(i: c_uint, skip_main: c_int, wrap: c_int) -> c_uint {
    let max = RTE_MAX_LCORE as c_uint;
    let Some(s) = crate::shim() else {
        return max;
    };
    let mut i = i.wrapping_add(1);
    if wrap != 0 {
        i %= max;
    }
    // At most one pass over the ids (and one wrap).
    for _ in 0..=RTE_MAX_LCORE {
        if i >= max {
            return max;
        }
        let usable = s.lcores.enabled[i as usize] && !(skip_main != 0 && i == s.lcores.main);
        if usable {
            return i;
        }
        i += 1;
        if wrap != 0 {
            i %= max;
        }
    }
    max
}

/// An lcore function with its argument, to run on another lcore.
#[derive(Clone, Copy)]
struct Launch {
    f: unsafe extern "C" fn(*mut c_void) -> c_int,
    arg: *mut c_void,
}

// SAFETY: DPDK's contract for remote launch: the application hands `arg` to the lcore and
// synchronises whatever it points to; the function pointer is plain code.
unsafe impl Send for Launch {}
// SAFETY: as for Send; the launcher shares only the pair itself.
unsafe impl Sync for Launch {}

impl Launch {
    fn call(self) -> c_int {
        // SAFETY: the application's lcore function, called with its argument as DPDK does.
        unsafe { (self.f)(self.arg) }
    }
}

fn launch_error(e: &dpdk_shim::Error) -> c_int {
    let code = crate::errno_of(e);
    log::log(log::NOTICE, TYPE_EAL, &format!("remote launch: {e}"));
    -code
}

/// `rte_eal_remote_launch(f, arg, worker_id)`: 0, `-EBUSY` if the worker is running
/// something, `-EINVAL` for the main lcore, a non-lcore or a NULL function.
#[no_mangle]
pub extern "C" fn rte_eal_remote_launch(
    f: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    arg: *mut c_void,
    worker_id: c_uint,
) -> c_int {
    let (Some(s), Some(f)) = (crate::shim(), f) else {
        return -libc::EINVAL;
    };
    let l = Launch { f, arg };
    match s.eal.lcores().remote_launch(worker_id, move || l.call()) {
        Ok(()) => 0,
        Err(e) => launch_error(&e),
    }
}

/// `rte_eal_mp_remote_launch(f, arg, call_main)`: `f(arg)` on every worker, and on the
/// calling (main) lcore before returning when `call_main` is `CALL_MAIN` (1). 0, or
/// `-EBUSY` when a worker is not idle (nothing is launched then).
#[no_mangle]
pub extern "C" fn rte_eal_mp_remote_launch(
    f: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    arg: *mut c_void,
    call_main: c_int,
) -> c_int {
    let (Some(s), Some(f)) = (crate::shim(), f) else {
        return -libc::EINVAL;
    };
    let l = Launch { f, arg };
    match s
        .eal
        .lcores()
        .mp_remote_launch(move |_lcore| l.call(), call_main != 0)
    {
        Ok(_) => 0,
        Err(e) => launch_error(&e),
    }
}

/// `rte_eal_get_lcore_state(id)`: `RUNNING` (1) or `WAIT` (0; also for the main lcore).
#[no_mangle]
pub extern "C" fn rte_eal_get_lcore_state(worker_id: c_uint) -> c_int {
    crate::shim()
        .and_then(|s| s.eal.lcores().state(worker_id).ok())
        .map_or(0, |st| c_int::from(st == LcoreState::Running))
}

/// `rte_eal_wait_lcore(id)`: waits for the function on `id` and returns its value; 0 if the
/// lcore was idle (or is the main lcore).
#[no_mangle]
pub extern "C" fn rte_eal_wait_lcore(worker_id: c_uint) -> c_int {
    crate::shim()
        .and_then(|s| s.eal.lcores().wait_lcore(worker_id).ok())
        .unwrap_or(0)
}

/// `rte_eal_mp_wait_lcore()`: waits for every worker.
#[no_mangle]
pub extern "C" fn rte_eal_mp_wait_lcore() {
    if let Some(s) = crate::shim() {
        s.eal.lcores().mp_wait_lcore();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn log_level_comes_from_the_eal_part_only() {
        assert_eq!(log_level_arg(&argv("app --log-level 8")), Some(8));
        assert_eq!(
            log_level_arg(&argv("app --log-level=warning -l 0")),
            Some(5)
        );
        assert_eq!(log_level_arg(&argv("app --log-level=lib.eal:debug")), None);
        assert_eq!(log_level_arg(&argv("app -- --log-level 8")), None);
    }
}
