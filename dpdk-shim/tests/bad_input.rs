//! Bad user input to the example programs, as users type it: each mistake must end the program
//! with a non-zero exit status and exactly one line on stderr, `fwd: …` or `l4lb: …`, that
//! says what is wrong — never a panic or a backtrace.
//!
//! The programs are the example binaries cargo builds next to this test
//! (`target/<profile>/examples/{fwd,l4lb}`; `cargo build -p dpdk-shim --examples` builds them, and
//! `scripts/test.sh` does so before `cargo test`, which builds l4lb only as a test harness). PCI cases
//! run against a fake sysfs tree (`--pci-sysfs`), the way the driver's own PCI tests do.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// An example binary built by cargo for this profile.
fn example(name: &str) -> PathBuf {
    // This test runs as target/<profile>/deps/bad_input-<hash>.
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile> above the test binary");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build -p dpdk-shim --examples` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Runs `program` with `args` (optionally through `wrapper`, e.g. to drop privileges) and
/// checks the failure is reported properly; returns the one line of stderr.
fn fails_with_one_line(wrapper: &[&str], program: &str, args: &[&str]) -> String {
    let bin = example(program);
    let mut cmd = match wrapper.split_first() {
        Some((w, rest)) => {
            let mut c = Command::new(w);
            c.args(rest).arg(&bin);
            c
        }
        None => Command::new(&bin),
    };
    // A backtrace, if there were a panic, would show; logging stays off.
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn the example");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{program} {args:?} did not fail within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let what = format!("{program} {args:?}: status {status}, stderr {stderr:?}, stdout {stdout:?}");
    assert!(!status.success(), "succeeded: {what}");
    assert!(
        status.code().is_some_and(|c| c != 0),
        "not a plain non-zero exit (killed by a signal?): {what}"
    );
    assert!(
        !stderr.contains("panicked") && !stdout.contains("panicked"),
        "panicked: {what}"
    );
    assert!(
        stderr.ends_with('\n') && stderr.matches('\n').count() == 1,
        "not exactly one line on stderr: {what}"
    );
    assert!(
        stderr.starts_with(&format!("{program}: ")),
        "stderr does not start with '{program}: ': {what}"
    );
    stderr.trim_end().to_string()
}

fn fails(program: &str, args: &[&str]) -> String {
    fails_with_one_line(&[], program, args)
}

fn expect(line: &str, wanted: &str) {
    assert!(line.contains(wanted), "{line:?} does not say {wanted:?}");
}

/// A fake sysfs tree with one ENA function at 0000:00:06.0.
struct FakeSysfs {
    root: PathBuf,
}

const BDF: &str = "0000:00:06.0";

impl FakeSysfs {
    fn new(tag: &str) -> FakeSysfs {
        let root =
            std::env::temp_dir().join(format!("ena-shim-bad-input-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let s = FakeSysfs { root };
        std::fs::create_dir_all(s.dev()).unwrap();
        std::fs::create_dir_all(s.root.join("drivers/uio_pci_generic")).unwrap();
        s.write("vendor", "0x1d0f\n");
        s.write("device", "0xec20\n");
        s.write("class", "0x020000\n");
        s.write("numa_node", "0\n");
        let mut res = vec![
            "0x00000000febf0000 0x00000000febf3fff 0x0000000000040200",
            "0x0000000000000000 0x0000000000000000 0x0000000000000000",
            "0x00000000fe800000 0x00000000fe8fffff 0x000000000014220c",
        ];
        res.resize(
            13,
            "0x0000000000000000 0x0000000000000000 0x0000000000000000",
        );
        s.write("resource", &(res.join("\n") + "\n"));
        for (name, len) in [("resource0", 16 * 1024), ("resource2", 1024 * 1024)] {
            std::fs::File::create(s.dev().join(name))
                .unwrap()
                .set_len(len)
                .unwrap();
        }
        let mut config = [0u8; 256];
        config[0..4].copy_from_slice(&[0x0f, 0x1d, 0x20, 0xec]);
        config[9..12].copy_from_slice(&[0x00, 0x00, 0x02]);
        std::fs::write(s.dev().join("config"), config).unwrap();
        s.bind(Some("uio_pci_generic"));
        s
    }

    fn devices(&self) -> String {
        self.root.join("devices").display().to_string()
    }

    fn dev(&self) -> PathBuf {
        self.root.join("devices").join(BDF)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dev().join(name), text).unwrap();
    }

    fn bind(&self, driver: Option<&str>) {
        let link = self.dev().join("driver");
        let _ = std::fs::remove_file(&link);
        if let Some(d) = driver {
            std::os::unix::fs::symlink(format!("../../drivers/{d}"), link).unwrap();
        }
    }
}

impl Drop for FakeSysfs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

// ----- EAL arguments -----

#[test]
fn unknown_eal_option() {
    for p in ["fwd", "l4lb"] {
        let l = fails(p, &["--bogus"]);
        expect(&l, "unknown EAL option '--bogus'");
    }
}

#[test]
fn eal_option_without_its_value() {
    for p in ["fwd", "l4lb"] {
        expect(&fails(p, &["-l"]), "option '-l' needs a value");
    }
}

#[test]
fn lcore_that_does_not_exist() {
    let l = fails("fwd", &["-l", "5000", "--vdev", "net_ena_sim0"]);
    expect(&l, "lcore 5000 is not available: this process may use CPUs");
    let l = fails("l4lb", &["-l", "0-4096", "--vdev", "net_ena_sim0"]);
    expect(&l, "invalid lcore list '0-4096'");
    expect(&fails("fwd", &["-c", "zz"]), "invalid coremask 'zz'");
}

#[test]
fn bad_vdev_arguments() {
    let l = fails("fwd", &["-l", "0-1", "--vdev", "net_ena_sim0,wire=bogus"]);
    expect(&l, "unknown wire 'bogus'");
    let l = fails("fwd", &["-l", "0-1", "--vdev", "net_ena_sim0,queues=999"]);
    expect(&l, "queues=999 must be 1..=128");
    let l = fails("l4lb", &["-l", "0-1", "--vdev", "nope0"]);
    expect(&l, "unknown vdev driver 'nope0'");
}

// ----- application arguments -----

#[test]
fn unknown_application_option() {
    for p in ["fwd", "l4lb"] {
        let l = fails(p, &["-l", "0-1", "--vdev", "net_ena_sim0", "--", "--bogus"]);
        expect(&l, "unexpected argument '--bogus' found");
    }
}

#[test]
fn application_value_out_of_range() {
    let l = fails(
        "fwd",
        &["-l", "0-1", "--vdev", "net_ena_sim0", "--", "--burst", "0"],
    );
    expect(&l, "invalid value '0' for '--burst <BURST>'");
    let l = fails(
        "l4lb",
        &["-l", "0-1", "--vdev", "net_ena_sim0", "--", "--burst", "x"],
    );
    expect(&l, "invalid value 'x' for '--burst <BURST>'");
}

#[test]
fn queue_count_above_the_device_maximum() {
    let l = fails(
        "fwd",
        &[
            "-l",
            "0-1",
            "--vdev",
            "net_ena_sim0,queues=2",
            "--",
            "--queues",
            "4",
        ],
    );
    expect(&l, "port 0 offers 2 queue pairs; 4 asked");
}

#[test]
fn ring_size_not_a_power_of_two() {
    for (p, opt, n) in [
        ("fwd", "--rxd", "300"),
        ("fwd", "--txd", "100"),
        ("l4lb", "--rxd", "1000"),
        ("l4lb", "--txd", "129"),
    ] {
        let l = fails(p, &["-l", "0-1", "--vdev", "net_ena_sim0", "--", opt, n]);
        expect(
            &l,
            &format!("ring size {n} must be a power of two in 128..="),
        );
    }
}

#[test]
fn mtu_out_of_range() {
    for mtu in ["20", "10000"] {
        let l = fails(
            "fwd",
            &["-l", "0-1", "--vdev", "net_ena_sim0", "--", "--mtu", mtu],
        );
        expect(&l, &format!("MTU {mtu} is outside 68..=9216"));
    }
    // l4lb takes its MTU from its configuration file.
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/l4lb/sample.toml");
    let text = std::fs::read_to_string(sample).expect("sample configuration");
    assert!(text.contains("\nmtu = "), "the sample sets the MTU");
    let bad: String = text
        .lines()
        .map(|l| {
            if l.starts_with("mtu = ") {
                "mtu = 100"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = std::env::temp_dir().join(format!("ena-bad-mtu-{}.toml", std::process::id()));
    std::fs::write(&path, bad).unwrap();
    let l = fails(
        "l4lb",
        &[
            "-l",
            "0-1",
            "--vdev",
            "net_ena_sim0",
            "--",
            "--config",
            path.to_str().unwrap(),
        ],
    );
    let _ = std::fs::remove_file(&path);
    expect(&l, "mtu 100 is outside 576..=9216");
}

#[test]
fn l4lb_configuration_file_missing_or_port_missing() {
    let l = fails(
        "l4lb",
        &[
            "-l",
            "0-1",
            "--vdev",
            "net_ena_sim0",
            "--",
            "--config",
            "/nonexistent/lb.toml",
        ],
    );
    expect(&l, "/nonexistent/lb.toml: No such file or directory");
    let l = fails(
        "l4lb",
        &["-l", "0-1", "--vdev", "net_ena_sim0", "--", "--port", "5"],
    );
    expect(&l, "port 5 does not exist");
}

// ----- PCI devices -----

#[test]
fn malformed_pci_address() {
    for p in ["fwd", "l4lb"] {
        let l = fails(p, &["-l", "0-1", "-a", "zz:00"]);
        expect(&l, "bad PCI address \"zz:00\": expected DDDD:BB:DD.F");
    }
}

#[test]
fn unknown_pci_address() {
    let fake = FakeSysfs::new("unknown");
    for p in ["fwd", "l4lb"] {
        let l = fails(
            p,
            &[
                "-l",
                "0-1",
                "-a",
                "0000:00:07.0",
                "--pci-sysfs",
                &fake.devices(),
            ],
        );
        expect(
            &l,
            &format!("PCI device 0000:00:07.0 not found under {}", fake.devices()),
        );
    }
}

#[test]
fn pci_address_of_another_device() {
    let fake = FakeSysfs::new("virtio");
    fake.write("vendor", "0x1af4\n");
    fake.write("device", "0x1000\n");
    let l = fails(
        "fwd",
        &["-l", "0-1", "-a", BDF, "--pci-sysfs", &fake.devices()],
    );
    expect(
        &l,
        "0000:00:06.0 is not an ENA device (vendor:device 1af4:1000)",
    );
}

#[test]
fn pci_address_busy_with_the_kernel_driver_or_unbound() {
    let fake = FakeSysfs::new("busy");
    fake.bind(Some("ena"));
    for p in ["fwd", "l4lb"] {
        let l = fails(p, &["-l", "0-1", "-a", BDF, "--pci-sysfs", &fake.devices()]);
        expect(
            &l,
            "0000:00:06.0 is bound to `ena`, not to a userspace driver (uio_pci_generic, igb_uio, vfio-pci); bind it with `enactl bind 0000:00:06.0`",
        );
    }
    fake.bind(None);
    let l = fails(
        "fwd",
        &["-l", "0-1", "-a", BDF, "--pci-sysfs", &fake.devices()],
    );
    expect(&l, "0000:00:06.0 is not bound to a userspace driver");
}

#[test]
fn missing_hugepages() {
    let fake = FakeSysfs::new("huge");
    for p in ["fwd", "l4lb"] {
        let l = fails(
            p,
            &[
                "-l",
                "0-1",
                "-a",
                BDF,
                "--pci-sysfs",
                &fake.devices(),
                "--huge-dir",
                "/nonexistent/hugepages",
            ],
        );
        expect(&l, "/nonexistent/hugepages: No such file or directory");
    }
    // A directory that is not a hugetlbfs mount.
    let plain = std::env::temp_dir();
    let l = fails(
        "fwd",
        &[
            "-l",
            "0-1",
            "-a",
            BDF,
            "--pci-sysfs",
            &fake.devices(),
            "--huge-dir",
            plain.to_str().unwrap(),
        ],
    );
    expect(
        &l,
        &format!(
            "{} is not a hugetlbfs mount; mount one with",
            plain.display()
        ),
    );
}

/// Without permission to the device's files. As root (which ignores file modes) the program
/// runs as `nobody` through setpriv(1); as another user the files' modes suffice.
#[test]
fn missing_permissions() {
    let fake = FakeSysfs::new("perm");
    // /proc/self belongs to the process's effective user.
    let root = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(0)
            == 0
    };
    let setpriv = [
        "/usr/bin/setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let wrapper: &[&str] = if root {
        if !Path::new(setpriv[0]).exists() {
            eprintln!("missing_permissions: running as root without setpriv(1); not tested");
            return;
        }
        // `nobody` reaches the tree (created 0755) but may not open the device's files.
        &setpriv
    } else {
        &[]
    };
    use std::os::unix::fs::PermissionsExt;
    for f in ["config", "resource0", "resource2"] {
        std::fs::set_permissions(fake.dev().join(f), std::fs::Permissions::from_mode(0o600))
            .unwrap();
    }
    if !root {
        // Not ours to open either way: take the owner's rights away too.
        for f in ["config", "resource0", "resource2"] {
            std::fs::set_permissions(fake.dev().join(f), std::fs::Permissions::from_mode(0o000))
                .unwrap();
        }
    }
    let l = fails_with_one_line(
        wrapper,
        "fwd",
        &["-l", "0-1", "-a", BDF, "--pci-sysfs", &fake.devices()],
    );
    expect(&l, "Permission denied");
}

#[test]
fn l4lb_refuses_more_queue_pairs_than_worker_lcores() {
    let l = fails(
        "l4lb",
        &["-l", "0-1", "--", "--queues", "3", "--duration", "1"],
    );
    expect(
        &l,
        "--queues 3: each queue pair needs its own worker lcore, and there are 1 (give more lcores with -l)",
    );
}

#[test]
fn help_is_not_an_error() {
    for program in ["fwd", "l4lb"] {
        let out = Command::new(example(program))
            .args([
                "-l",
                "0",
                "--vdev",
                "net_ena_sim0,wire=none",
                "--",
                "--help",
            ])
            .output()
            .expect("run");
        assert!(out.status.success(), "{program} --help: {:?}", out.status);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage:"), "{program}: {text}");
        assert!(
            out.stderr.is_empty(),
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
