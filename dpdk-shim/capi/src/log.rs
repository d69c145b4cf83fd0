//! Logging (rte_log.h): levels per type and a global one, messages to stderr.
//!
//! C code formats its messages itself (the inline `rte_log`/`rte_vlog` in the header) and
//! hands the finished text to [`dpdk_shim_log_write`], since stable Rust cannot define a C
//! variadic function. The library's own messages (ethdev errors and the like) come through
//! [`log`] with DPDK's `TYPE: ` prefixes; the driver's `tracing` events are printed too, at
//! the matching level, once `rte_eal_init` has installed a subscriber.

use std::ffi::{c_char, c_int, CStr};
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// `RTE_LOG_EMERG` .. `RTE_LOG_DEBUG`.
pub const EMERG: u32 = 1;
/// `RTE_LOG_CRIT`.
pub const CRIT: u32 = 3;
/// `RTE_LOG_ERR`.
pub const ERR: u32 = 4;
/// `RTE_LOG_WARNING`.
pub const WARNING: u32 = 5;
/// `RTE_LOG_NOTICE`.
pub const NOTICE: u32 = 6;
/// `RTE_LOG_INFO`.
pub const INFO: u32 = 7;
/// `RTE_LOG_DEBUG`.
pub const DEBUG: u32 = 8;

/// `RTE_LOGTYPE_EAL`.
pub const TYPE_EAL: u32 = 0;
/// `RTE_LOGTYPE_MALLOC`.
pub const TYPE_MALLOC: u32 = 1;
/// `RTE_LOGTYPE_MEMPOOL`.
pub const TYPE_MEMPOOL: u32 = 3;
/// `RTE_LOGTYPE_MBUF`.
pub const TYPE_MBUF: u32 = 16;
/// `RTE_LOGTYPE_FIRST_EXT_ID`: registered types start here.
pub const FIRST_EXT_ID: u32 = 32;
/// ethdev's type (registered first, as "lib.ethdev").
pub const TYPE_ETHDEV: u32 = FIRST_EXT_ID;

/// Log types this library keeps levels for.
const MAX_TYPES: usize = 512;

static GLOBAL_LEVEL: AtomicU32 = AtomicU32::new(INFO);
static TYPE_LEVELS: [AtomicU32; MAX_TYPES] = [const { AtomicU32::new(DEBUG) }; MAX_TYPES];
/// Names of registered types, from FIRST_EXT_ID on.
static REGISTERED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn type_name(logtype: u32) -> &'static str {
    match logtype {
        TYPE_EAL => "EAL",
        TYPE_MALLOC => "MALLOC",
        TYPE_MEMPOOL => "MEMPOOL",
        TYPE_MBUF => "MBUF",
        TYPE_ETHDEV => "ETHDEV",
        _ => "USER",
    }
}

/// Whether a message of `logtype` at `level` is written.
pub fn can_log(logtype: u32, level: u32) -> bool {
    if level > GLOBAL_LEVEL.load(Ordering::Relaxed) {
        return false;
    }
    TYPE_LEVELS
        .get(logtype as usize)
        .is_none_or(|l| level <= l.load(Ordering::Relaxed))
}

/// Writes `msg` (one write, so that lines from several lcores do not interleave).
fn write(msg: &[u8]) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(msg);
    let _ = err.flush();
}

/// Logs one of the library's own messages, `TYPE: msg`, with a newline.
pub fn log(level: u32, logtype: u32, msg: &str) {
    if can_log(logtype, level) {
        write(format!("{}: {msg}\n", type_name(logtype)).as_bytes());
    }
}

/// [`log`] at `RTE_LOG_ERR`.
pub fn error(logtype: u32, msg: &str) {
    log(ERR, logtype, msg);
}

/// Parses a `--log-level` value that sets the global level: a number (1-8) or a level name
/// (`debug`, `info`, `notice`, `warning`, `err`, `crit`, `alert`, `emerg`). Values naming a log
/// type (`type:level`) are not global: `None`.
pub fn parse_level(v: &str) -> Option<u32> {
    if let Ok(n) = v.parse::<u32>() {
        return (EMERG..=DEBUG).contains(&n).then_some(n);
    }
    Some(match v.to_ascii_lowercase().as_str() {
        "emerg" | "emergency" => EMERG,
        "alert" => 2,
        "crit" | "critical" => CRIT,
        "err" | "error" => ERR,
        "warning" | "warn" => WARNING,
        "notice" => NOTICE,
        "info" => INFO,
        "debug" => DEBUG,
        _ => return None,
    })
}

/// Installs a `tracing` subscriber (once per process; kept if the process has one) that
/// prints the driver's events at the level matching `level`.
pub fn install_tracing(level: u32) {
    use tracing_subscriber::filter::LevelFilter;
    let filter = match level {
        0..=ERR => LevelFilter::ERROR,
        WARNING => LevelFilter::WARN,
        NOTICE | INFO => LevelFilter::INFO,
        _ => LevelFilter::DEBUG,
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(filter)
        .with_target(false)
        .with_ansi(false)
        .without_time()
        .try_init();
}

/// `rte_log_set_global_level`.
#[no_mangle]
pub extern "C" fn rte_log_set_global_level(level: u32) {
    GLOBAL_LEVEL.store(level, Ordering::Relaxed);
}

/// `rte_log_get_global_level`.
#[no_mangle]
pub extern "C" fn rte_log_get_global_level() -> u32 {
    GLOBAL_LEVEL.load(Ordering::Relaxed)
}

/// `rte_log_set_level`: 0, or -1 for an unknown type or a bad level.
#[no_mangle]
pub extern "C" fn rte_log_set_level(logtype: u32, level: u32) -> c_int {
    match TYPE_LEVELS.get(logtype as usize) {
        Some(l) if (EMERG..=DEBUG).contains(&level) => {
            l.store(level, Ordering::Relaxed);
            0
        }
        _ => -1,
    }
}

/// `rte_log_get_level`: the type's level, or -1 for an unknown type.
#[no_mangle]
pub extern "C" fn rte_log_get_level(logtype: u32) -> c_int {
    TYPE_LEVELS
        .get(logtype as usize)
        .map_or(-1, |l| l.load(Ordering::Relaxed) as c_int)
}

/// `rte_log_can_log`.
#[no_mangle]
pub extern "C" fn rte_log_can_log(logtype: u32, level: u32) -> c_int {
    c_int::from(can_log(logtype, level))
}

/// `rte_log_register(name)`: the type id for `name` (the same for the same name), or -1.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn rte_log_register(name: *const c_char) -> c_int {
    if name.is_null() {
        return -1;
    }
    // SAFETY: the caller passes a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned();
    let mut reg = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
    if reg.is_empty() {
        reg.push("lib.ethdev".into());
    }
    if let Some(i) = reg.iter().position(|n| *n == name) {
        return (FIRST_EXT_ID as usize + i) as c_int;
    }
    if FIRST_EXT_ID as usize + reg.len() >= MAX_TYPES {
        return -1;
    }
    reg.push(name);
    (FIRST_EXT_ID as usize + reg.len() - 1) as c_int
}

/// `rte_log_register_type_and_pick_level`: registers `name` with level `level_def`.
///
/// # Safety
/// As [`rte_log_register`].
#[no_mangle]
pub unsafe extern "C" fn rte_log_register_type_and_pick_level(
    name: *const c_char,
    level_def: u32,
) -> c_int {
    // SAFETY: same contract as ours.
    let t = unsafe { rte_log_register(name) };
    if t >= 0 {
        rte_log_set_level(t as u32, level_def);
    }
    t
}

/// Writes a message the application formatted (`rte_log`/`rte_vlog`/`RTE_LOG`): 0, or -1
/// when its level is filtered out.
///
/// # Safety
/// `msg` points to `len` readable bytes (it need not be NUL-terminated).
#[no_mangle]
pub unsafe extern "C" fn dpdk_shim_log_write(
    level: u32,
    logtype: u32,
    msg: *const c_char,
    len: usize,
) -> c_int {
    if !can_log(logtype, level) {
        return -1;
    }
    if msg.is_null() || len == 0 {
        return 0;
    }
    // SAFETY: the caller passes `len` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(msg.cast::<u8>(), len) };
    write(bytes);
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_filter_and_names_parse() {
        assert_eq!(parse_level("8"), Some(DEBUG));
        assert_eq!(parse_level("warning"), Some(WARNING));
        assert_eq!(parse_level("9"), None);
        assert_eq!(parse_level("lib.eal:debug"), None);
        assert_eq!(rte_log_set_level(200, NOTICE), 0);
        assert!(can_log(200, NOTICE));
        assert!(!can_log(200, INFO), "the type's level filters");
        assert_eq!(rte_log_get_level(200), NOTICE as c_int);
        assert_eq!(rte_log_set_level(200, 0), -1, "no level 0");
        assert_eq!(rte_log_get_level(MAX_TYPES as u32), -1);
        // SAFETY: NUL-terminated literals.
        let (a, b, a2) = unsafe {
            (
                rte_log_register(c"app.a".as_ptr()),
                rte_log_register(c"app.b".as_ptr()),
                rte_log_register(c"app.a".as_ptr()),
            )
        };
        assert!(a > TYPE_ETHDEV as c_int && b == a + 1 && a2 == a);
    }
}
