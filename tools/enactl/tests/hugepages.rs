//! `enactl hugepages` against fake proc and sys trees. Where the kernel must answer with a
//! different count than the one written, the count file is a FIFO served by a thread that
//! plays the kernel: it takes the write, then answers the read-back.

mod common;

use common::*;
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

const NR: &str = "proc/sys/vm/nr_hugepages";

fn machine() -> FakeSystem {
    let m = FakeSystem::new();
    m.write(NR, "0\n");
    m.write(
        "proc/meminfo",
        "MemTotal:       16000000 kB\nHugePages_Total:       0\nHugepagesize:       2048 kB\n",
    );
    let dir = m.path("dev/hugepages");
    std::fs::create_dir_all(&dir).unwrap();
    m.write(
        "proc/mounts",
        &format!(
            "proc /proc proc rw 0 0\nhugetlbfs {} hugetlbfs rw,relatime,pagesize=2M 0 0\n",
            dir.display()
        ),
    );
    m
}

/// Replaces `path` with a FIFO whose "kernel" records the value written and answers `reply`.
fn kernel_fifo(path: &Path, reply: &'static str) -> mpsc::Receiver<String> {
    let _ = std::fs::remove_file(path);
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (tx, rx) = mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let mut written = String::new();
        std::fs::File::open(&path)
            .and_then(|mut f| f.read_to_string(&mut written))
            .expect("reading the tool's write");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("answering");
        f.write_all(reply.as_bytes()).expect("answer");
        drop(f);
        let _ = tx.send(written);
    });
    rx
}

#[test]
fn reserves_through_proc_and_finds_the_mount() {
    let m = machine();
    let o = m.enactl(&["hugepages", "64"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(m.read(NR), "64");
    assert_eq!(
        stdout(&o),
        format!(
            "2 MiB hugepages: requested 64, reserved 64 (128 MiB)\nhugetlbfs already mounted at {}\n",
            m.path("dev/hugepages").display()
        )
    );
}

#[test]
fn per_node_file() {
    let m = machine();
    let node1 = "sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages";
    m.write(node1, "0\n");
    let o = m.enactl(&["hugepages", "32", "--node", "1", "--no-mount"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(m.read(node1), "32");
    assert_eq!(m.read(NR), "0\n", "the global count is not touched");
    assert_eq!(
        stdout(&o),
        "2 MiB hugepages on NUMA node 1: requested 32, reserved 32 (64 MiB)\n"
    );
    assert_error(
        &m.enactl(&["hugepages", "32", "--node", "7"]),
        1,
        &["NUMA node 7 not found"],
    );
}

#[test]
fn non_2m_default_size_uses_the_2m_pool() {
    let m = machine();
    m.write("proc/meminfo", "Hugepagesize:    1048576 kB\n");
    let pool = "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
    m.write(pool, "0\n");
    let o = m.enactl(&["hugepages", "8", "--no-mount"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(m.read(pool), "8");
    assert_eq!(m.read(NR), "0\n");
}

#[test]
fn reports_fewer_pages_than_asked() {
    let m = machine();
    let written = kernel_fifo(&m.path(NR), "3\n");
    let o = m.enactl(&["hugepages", "512", "--no-mount"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        written.recv_timeout(Duration::from_secs(10)).unwrap(),
        "512"
    );
    let out = stdout(&o);
    assert!(
        out.starts_with("2 MiB hugepages: requested 512, reserved 3 (6 MiB)\n"),
        "{out}"
    );
    assert!(out.contains("fewer pages than asked"), "{out}");
}

#[test]
fn no_hugepages_is_an_error() {
    let m = machine();
    let written = kernel_fifo(&m.path(NR), "0\n");
    let o = m.enactl(&["hugepages", "256"]);
    assert_eq!(
        written.recv_timeout(Duration::from_secs(10)).unwrap(),
        "256"
    );
    assert_error(&o, 1, &["no hugepages", "hugepages=256"]);
}

#[test]
fn mount_with_the_wrong_page_size_is_refused() {
    let m = machine();
    m.write(
        "proc/mounts",
        &format!(
            "hugetlbfs {} hugetlbfs rw,pagesize=1024M 0 0\n",
            m.path("dev/hugepages").display()
        ),
    );
    assert_error(
        &m.enactl(&["hugepages", "4"]),
        1,
        &["pagesize=1024M", "2 MiB"],
    );
}

#[test]
fn bad_arguments() {
    let m = machine();
    let o = m.enactl(&["hugepages", "-3"]);
    assert_eq!(o.status.code(), Some(2));
    let o = m.enactl(&["hugepages", "lots"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("invalid value 'lots'"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(m.path(NR)).unwrap();
    assert_error(&m.enactl(&["hugepages", "4"]), 1, &["nr_hugepages"]);
}
