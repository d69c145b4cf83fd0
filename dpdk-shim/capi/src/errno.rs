//! `rte_errno` and `rte_strerror` (rte_errno.h): a thread-local error slot — DPDK keeps it per
//! lcore; every lcore is a thread here — reached through `dpdk_shim_errno_location`, as
//! glibc's `errno` is through `__errno_location`.

use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_char, c_int, CStr};

/// `RTE_MIN_ERRNO` (glibc's `__ELASTERROR`).
pub const RTE_MIN_ERRNO: c_int = 1000;
/// `E_RTE_SECONDARY`: not allowed in a secondary process.
pub const E_RTE_SECONDARY: c_int = RTE_MIN_ERRNO + 1;
/// `E_RTE_NO_CONFIG`: the EAL is not initialised.
pub const E_RTE_NO_CONFIG: c_int = RTE_MIN_ERRNO + 2;
/// `RTE_MAX_ERRNO`.
pub const RTE_MAX_ERRNO: c_int = RTE_MIN_ERRNO + 3;

const STRERROR_LEN: usize = 256;

thread_local! {
    static RTE_ERRNO: Cell<c_int> = const { Cell::new(0) };
    static STRERROR_BUF: UnsafeCell<[c_char; STRERROR_LEN]> =
        const { UnsafeCell::new([0; STRERROR_LEN]) };
}

/// Sets the calling thread's `rte_errno`.
pub fn set(code: c_int) {
    RTE_ERRNO.with(|e| e.set(code));
}

/// The calling thread's `rte_errno`.
pub fn get() -> c_int {
    RTE_ERRNO.with(Cell::get)
}

/// Where the calling thread's `rte_errno` lives (the `rte_errno` macro dereferences it).
#[no_mangle]
pub extern "C" fn dpdk_shim_errno_location() -> *mut c_int {
    // The cell lives as long as the thread; C code reads and writes it only from this thread.
    RTE_ERRNO.with(Cell::as_ptr)
}

/// `rte_strerror(errnum)`: the text for an errno value or one of DPDK's own codes, in a
/// per-thread buffer that the next call on the same thread overwrites.
#[no_mangle]
pub extern "C" fn rte_strerror(errnum: c_int) -> *const c_char {
    let own: Option<&CStr> = match errnum {
        E_RTE_SECONDARY => Some(c"Invalid call in secondary process"),
        E_RTE_NO_CONFIG => Some(c"Missing rte_config structure"),
        RTE_MIN_ERRNO..=RTE_MAX_ERRNO => Some(c"Unknown error"),
        _ => None,
    };
    if let Some(s) = own {
        return s.as_ptr();
    }
    STRERROR_BUF.with(|b| {
        let buf = b.get().cast::<c_char>();
        // SAFETY: the buffer is this thread's, STRERROR_LEN bytes long; strerror_r (the XSI
        // version, which the libc crate binds) writes at most that many, terminated.
        let rc = unsafe { libc::strerror_r(errnum, buf, STRERROR_LEN) };
        if rc != 0 {
            let msg = format!("Unknown error {errnum}\0");
            let n = msg.len().min(STRERROR_LEN);
            // SAFETY: copying at most STRERROR_LEN bytes into the thread's buffer; the text
            // ends in NUL and is shorter than the buffer.
            unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr().cast::<c_char>(), buf, n) };
        }
        buf.cast_const()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(errnum: c_int) -> String {
        // SAFETY: rte_strerror returns a NUL-terminated string valid until the next call here.
        unsafe { CStr::from_ptr(rte_strerror(errnum)) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn errno_is_per_thread_and_strerror_knows_dpdk_codes() {
        set(libc::EBUSY);
        // SAFETY: the location is this thread's cell.
        assert_eq!(unsafe { *dpdk_shim_errno_location() }, libc::EBUSY);
        std::thread::spawn(|| assert_eq!(get(), 0)).join().unwrap();
        assert_eq!(text(libc::ENOTSUP), "Operation not supported");
        assert_eq!(text(libc::EINVAL), "Invalid argument");
        assert_eq!(text(E_RTE_NO_CONFIG), "Missing rte_config structure");
        assert_eq!(text(E_RTE_SECONDARY), "Invalid call in secondary process");
    }
}
