#!/usr/bin/env bash
# The project's test command: installs what the tests need on a fresh Debian machine, then runs
# every test. Run as root (CI does); tests that change the machine (hugepages, mounts,
# namespaces) restore it themselves, and print "SKIPPED: <reason>" where a prerequisite is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v dpdk-testpmd >/dev/null 2>&1 || need_pkgs+=(dpdk-dev)
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v pkg-config >/dev/null 2>&1 || need_pkgs+=(pkg-config)
command -v cc >/dev/null 2>&1 || need_pkgs+=(gcc libc6-dev)
command -v strace >/dev/null 2>&1 || need_pkgs+=(strace)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q -o DPkg::Lock::Timeout=600 "${need_pkgs[@]}" >/dev/null
  else
    echo "SKIPPED: cannot install ${need_pkgs[*]} (need root and apt-get); tests that need them will say so"
  fi
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
# The example programs as plain binaries, for the tests that run them as users do: `cargo test`
# builds l4lb only as a test harness (its unit tests live with it), not as the program itself.
cargo build --workspace --examples
cargo test --workspace -- "$@"
# VFIO against the real kernel, in QEMU guests (installs QEMU and Debian's kernel on first run).
echo "== VFIO in QEMU"
scripts/vfio-qemu-test.sh
