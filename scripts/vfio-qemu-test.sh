#!/usr/bin/env bash
# scripts/vfio-qemu-test.sh - the VFIO backend (`ena::platform::vfio`) and `enactl` against the
# real Linux kernel: vfio, vfio_iommu_type1 and vfio-pci drive QEMU's `edu` and `e1000e` PCI
# devices inside a QEMU guest under software emulation (TCG), once behind an emulated Intel
# IOMMU (type1v2) and once in vfio's no-IOMMU mode. No host here can load vfio-pci itself.
#
# The guest runs Debian's own kernel (unpacked, never installed), its vfio/e1000e modules, a
# static busybox, and our binaries built statically: `enactl` and the `vfio` test binary of the
# `ena` crate (its `in_guest::` tests). scripts/vfio-qemu/init is the guest's PID 1; it runs the
# scenarios and reports one `@@ SCENARIO` line each, which this script turns into one line per
# scenario and a closing "N passed, N failed". The recipe and its reasons (Debian builds vfio
# without CONFIG_VFIO_NOIOMMU, so vfio.ko is rebuilt from Debian's source; QEMU comes from
# bookworm-backports; -accel tcg only; PVH boot of the vmlinux) are in
# /work/shared/vfio-in-qemu.md.
#
# Usage (as root, on Debian 12): scripts/vfio-qemu-test.sh
# Environment:
#   VFIO_QEMU_WORKDIR  cache and logs (default: <workspace>/target/vfio-qemu)
#   VFIO_QEMU_MODES    which guests to boot (default: "iommu noiommu")
#   VFIO_QEMU_TIMEOUT  seconds allowed per guest boot (default: 240)
#   VFIO_QEMU_KERNEL   a Debian kernel ABI name (e.g. 6.1.0-56-amd64); default: the newest one
#                      already cached, else the one linux-image-amd64 points to
#   VFIO_QEMU_REQUIRE  1: a missing prerequisite (SKIPPED) fails the run
# Exit status: 0 when every scenario passed (or everything was SKIPPED, see VFIO_QEMU_REQUIRE),
# 1 on any failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HERE=$ROOT/scripts/vfio-qemu
W=${VFIO_QEMU_WORKDIR:-$ROOT/target/vfio-qemu}
MODES=${VFIO_QEMU_MODES:-iommu noiommu}
BOOT_TIMEOUT=${VFIO_QEMU_TIMEOUT:-240}
TRIPLE=x86_64-unknown-linux-gnu
t_start=$(date +%s)

say() { echo "== $*"; }

skip() {
  echo "SKIPPED: $*"
  echo "0 passed, 0 failed"
  [ "${VFIO_QEMU_REQUIRE:-0}" = 1 ] && exit 1
  exit 0
}

die() {
  echo "FAIL: $*"
  echo "0 passed, 1 failed"
  exit 1
}

for m in $MODES; do
  case $m in iommu | noiommu) ;; *) die "VFIO_QEMU_MODES: unknown mode '$m' (iommu, noiommu)" ;; esac
done
[ "$(uname -m)" = x86_64 ] || skip "the guest image is x86_64 and this machine is $(uname -m)"

mkdir -p "$W/dl" "$W/kernel"
scratch=$(mktemp -d "$W/scratch.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# ---------------------------------------------------------------------------------------------
# 1. Host packages.
#
# QEMU comes from bookworm-backports (10.0): bookworm's own 7.2 would make apt remove the
# machine's qemu-utils 10.0 (also from backports). The backports suite is added for our apt
# commands only, through a private SourceParts folder that copies the machine's deb822 sources;
# /etc/apt is never changed. busybox-static and the kernel are downloaded and unpacked into the
# work dir, not installed. Only qemu-system-x86 and (for the no-IOMMU vfio.ko, once per kernel)
# linux-headers are installed.

APT=(apt-get -q -o DPkg::Lock::Timeout=600 -o APT::Sandbox::User=root
  -o "Dir::Etc::SourceParts=$W/apt-parts" -o Dir::Etc::SourceList=/dev/null)
apt_ready=0
apt_prepare() {  # once per run, and only when something must be fetched
  [ $apt_ready = 1 ] && return 0
  [ "$(id -u)" = 0 ] || skip "packages are missing and installing them needs root (run as root)"
  command -v apt-get >/dev/null || skip "packages are missing and there is no apt-get (Debian 12 expected)"
  ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1 \
    || skip "no deb822 sources in /etc/apt/sources.list.d to derive the backports entry from"
  rm -rf "$W/apt-parts" && mkdir -p "$W/apt-parts"
  cp /etc/apt/sources.list.d/*.sources "$W/apt-parts/"
  local uri
  uri=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=http://deb.debian.org/debian
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
    "$uri" /usr/share/keyrings/debian-archive-keyring.gpg >"$W/apt-parts/bookworm-backports.sources"
  say "apt-get update (with bookworm-backports for this script only)"
  DEBIAN_FRONTEND=noninteractive "${APT[@]}" update -qq >"$W/apt.log" 2>&1 \
    || { tail -n 5 "$W/apt.log"; skip "apt-get update failed (no network to the Debian archive?)"; }
  apt_ready=1
}
apt_install() {  # <apt-get install args...>
  apt_prepare
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq --no-install-recommends "$@" >"$W/apt.log" 2>&1 \
    || { tail -n 5 "$W/apt.log"; skip "could not install $*"; }
}
FETCHED=
apt_fetch() {  # <package[=version]>: download its .deb into $W/dl; its path in $FETCHED
  apt_prepare
  rm -f "$W/dl/${1%%=*}"_*.deb
  (cd "$W/dl" && "${APT[@]}" download "$1" >"$W/apt.log" 2>&1) || { tail -n 5 "$W/apt.log"; skip "could not download $1"; }
  FETCHED=$(ls "$W/dl/${1%%=*}"_*.deb)
}

qemu_ok() {
  command -v qemu-system-x86_64 >/dev/null &&
    qemu-system-x86_64 -device help 2>/dev/null | grep -q '"edu"' &&
    qemu-system-x86_64 -device help 2>/dev/null | grep -q '"isa-debug-exit"'
}
if ! qemu_ok; then
  apt_install -t bookworm-backports qemu-system-x86
  qemu_ok || skip "qemu-system-x86_64 with the edu and isa-debug-exit devices is not available"
fi
for tool in gcc make objcopy strip gzip xz timeout cargo; do
  command -v $tool >/dev/null || skip "$tool is not installed"
done

# A static busybox for the guest (the shell, insmod, cpio, mount ...), unpacked from its .deb.
BUSYBOX=$W/busybox/bin/busybox
if [ ! -x "$BUSYBOX" ]; then
  apt_fetch busybox-static && deb=$FETCHED
  rm -rf "$W/busybox" && mkdir -p "$W/busybox"
  dpkg-deb -x "$deb" "$W/busybox"
  rm -f "$deb"
  [ -x "$BUSYBOX" ] || die "busybox-static's .deb has no bin/busybox"
fi

# ---------------------------------------------------------------------------------------------
# 2. Debian's kernel, cached by ABI name under $W/kernel/<KVER>/: vmlinux (booted through its PVH
# entry point: decompressing the xz bzImage costs ~4 s under TCG), the modules the guest needs
# (decompressed, with their load order), and the no-IOMMU vfio.ko.

KVER=${VFIO_QEMU_KERNEL:-}
if [ -z "$KVER" ]; then
  KVER=$(ls -1 "$W/kernel" 2>/dev/null | while read -r k; do
    [ -f "$W/kernel/$k/ready" ] && echo "$k"; done | sort -V | tail -n1)
fi
if [ -z "$KVER" ]; then
  apt_prepare
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
  [ -n "$kpkg" ] || skip "cannot resolve linux-image-amd64 to a kernel package"
  KVER=${kpkg#linux-image-}
fi
K=$W/kernel/$KVER
KSER=$(echo "$KVER" | cut -d. -f1,2)  # 6.1
say "guest kernel $KVER"

# The modules the guest loads, by name; their dependencies are found from .modinfo.
ROOT_MODULES="vfio_iommu_type1 vfio_pci e1000e"

modinfo_field() {  # <field> <.ko>
  objcopy -O binary --only-section=.modinfo "$2" /dev/stdout 2>/dev/null | tr '\0' '\n' |
    sed -n "s/^$1=//p"
}

if [ ! -f "$K/ready" ]; then
  rm -rf "$K" && mkdir -p "$K/modules"
  apt_fetch "linux-image-$KVER" && deb=$FETCHED
  say "unpacking linux-image-$KVER (kernel and the modules the guest needs)"
  u=$scratch/kimage && mkdir -p "$u"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$u" --wildcards \
    "./boot/vmlinuz-$KVER" "./boot/config-$KVER" \
    "./lib/modules/$KVER/kernel/drivers/vfio/*" "./lib/modules/$KVER/kernel/virt/lib/*" \
    "./lib/modules/$KVER/kernel/drivers/net/ethernet/intel/e1000e/*" \
    "./lib/modules/$KVER/kernel/drivers/ptp/*" "./lib/modules/$KVER/kernel/drivers/pps/*" \
    "./lib/modules/$KVER/kernel/drivers/dca/*"
  cp "$u/boot/config-$KVER" "$K/config"
  find "$u/lib/modules/$KVER/kernel" -name '*.ko*' | while read -r f; do
    name=$(basename "$f"); name=${name%.xz}; name=${name%.zst}
    case $f in *.xz) xz -dc "$f" ;; *.zst) zstd -qdc "$f" ;; *) cat "$f" ;; esac >"$K/modules/${name//-/_}"
  done
  # Load order: each module after what its .modinfo `depends=` names (the .deb has no
  # modules.dep, and busybox insmod takes explicit paths).
  order=()
  visit() {
    local m=${1//-/_} d
    for d in "${order[@]:-}"; do [ "$d" = "$m" ] && return 0; done
    [ -f "$K/modules/$m.ko" ] || die "module $m (needed by the guest) is not in linux-image-$KVER where expected"
    for d in $(modinfo_field depends "$K/modules/$m.ko" | tr ',' ' '); do visit "$d"; done
    order+=("$m")
  }
  for m in $ROOT_MODULES; do visit "$m"; done
  printf '%s\n' "${order[@]}" >"$K/modules/order"
  # The ELF inside the bzImage, for a PVH boot (CONFIG_PVH=y in Debian's config).
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$u/boot/vmlinuz-$KVER" | head -n1 | cut -d: -f1 || true)
  if [ -n "$off" ] && grep -q '^CONFIG_PVH=y' "$K/config"; then
    # xz stops after its stream and tail gets SIGPIPE: judge by the result, not the pipe.
    { tail -c +$((off + 1)) "$u/boot/vmlinuz-$KVER" | xz -dc --single-stream >"$K/vmlinux"; } 2>/dev/null || true
  fi
  if [ "$(head -c 4 "$K/vmlinux" 2>/dev/null | od -An -c | tr -d ' ')" != '177ELF' ]; then
    cp "$u/boot/vmlinuz-$KVER" "$K/vmlinux"  # not xz, or no PVH: boot the bzImage as it is
  fi
  rm -rf "$u" "$deb"
  touch "$K/ready"
fi
for c in CONFIG_INTEL_IOMMU=y CONFIG_IRQ_REMAP=y CONFIG_DEVTMPFS=y CONFIG_HUGETLBFS=y; do
  grep -q "^$c" "$K/config" || die "kernel $KVER lacks $c, which the guest needs"
done

# No-IOMMU mode: Debian builds vfio without CONFIG_VFIO_NOIOMMU, so vfio.ko alone is rebuilt
# from Debian's source of this exact kernel, against its headers, with the option on. Its
# exported symbols must keep Debian's CRCs, or Debian's vfio-pci-core.ko refuses it.
if [[ " $MODES " == *" noiommu "* ]] && [ ! -f "$K/noiommu/vfio.ko" ]; then
  hdr=/usr/src/linux-headers-$KVER
  [ -f "$hdr/Module.symvers" ] || apt_install "linux-headers-$KVER"
  srcver=$(dpkg-query -W -f '${Version}' "linux-headers-$KVER")
  apt_fetch "linux-source-$KSER=$srcver" && deb=$FETCHED
  say "rebuilding vfio.ko with CONFIG_VFIO_NOIOMMU from linux-source-$KSER $srcver"
  b=$scratch/noiommu && mkdir -p "$b/src" "$b/mod"
  # only drivers/vfio is kept, but tar has to stream the whole source tarball
  dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/linux-source-$KSER.tar.xz" |
    tar -xJ -C "$b/src" "linux-source-$KSER/drivers/vfio"
  cp "$b/src/linux-source-$KSER/drivers/vfio/"*.[ch] "$b/src/linux-source-$KSER/drivers/vfio/Makefile" "$b/mod/"
  cat >"$b/mod/Kbuild" <<'KBUILD'
include $(src)/Makefile
ccflags-y += -DCONFIG_VFIO_NOIOMMU=1
obj-y :=
obj-m := vfio.o
KBUILD
  make -s -C "$hdr" M="$b/mod" modules >"$b/build.log" 2>&1 || { cat "$b/build.log"; die "building the no-IOMMU vfio.ko failed"; }
  cmp <(awk '$3 ~ /drivers\/vfio\/vfio$/ { print $1, $2 }' "$hdr/Module.symvers" | sort) \
    <(awk '{ print $1, $2 }' "$b/mod/Module.symvers" | sort) >/dev/null ||
    die "the rebuilt vfio.ko exports symbols with CRCs other than Debian's; vfio-pci-core would refuse it"
  mkdir -p "$K/noiommu"
  strip --strip-debug -o "$K/noiommu/vfio.ko" "$b/mod/vfio.ko"
  rm -f "$deb"
fi

# ---------------------------------------------------------------------------------------------
# 3. Our binaries, linked statically (glibc's static-pie) so the guest needs no libraries.
# --target keeps the flag off build scripts and proc-macros.

say "building enactl and the ena crate's vfio test binary (static, $TRIPLE)"
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
artifact() {  # <cargo json lines> <target name> <kind>: its executable
  grep '"reason":"compiler-artifact"' "$1" | grep "\"name\":\"$2\"" | grep "\"kind\":\[\"$3\"\]" |
    grep -o '"executable":"[^"]*"' | tail -n1 | cut -d'"' -f4
}
(cd "$ROOT" && cargo build -q -p enactl --target $TRIPLE --message-format=json-render-diagnostics \
  >"$scratch/enactl.json") || die "cargo build -p enactl failed"
(cd "$ROOT" && cargo test -q -p ena --test vfio --no-run --target $TRIPLE \
  --message-format=json-render-diagnostics >"$scratch/vfio.json") || die "cargo test -p ena --test vfio --no-run failed"
ENACTL=$(artifact "$scratch/enactl.json" enactl bin)
VFIO_TEST=$(artifact "$scratch/vfio.json" vfio test)
[ -x "$ENACTL" ] || die "cargo reported no enactl executable"
[ -x "$VFIO_TEST" ] || die "cargo reported no vfio test executable"

# ---------------------------------------------------------------------------------------------
# 4. The initramfs, one for both modes: busybox, /init, the modules (with both vfio.ko), ours.

say "initramfs"
r=$scratch/root
mkdir -p "$r/bin" "$r/dev" "$r/proc" "$r/sys" "$r/run" "$r/tmp" "$r/test" "$r/lib/modules/noiommu"
cp "$BUSYBOX" "$r/bin/busybox"
install -m 0755 "$HERE/init" "$r/init"
cp "$K/modules/"*.ko "$K/modules/order" "$r/lib/modules/"
[ -f "$K/noiommu/vfio.ko" ] && cp "$K/noiommu/vfio.ko" "$r/lib/modules/noiommu/"
strip --strip-debug -o "$r/bin/enactl" "$ENACTL"
strip --strip-debug -o "$r/test/vfio" "$VFIO_TEST"
(cd "$r" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1) >"$W/initramfs.cpio.gz"

# ---------------------------------------------------------------------------------------------
# 5. One boot per mode. The guest writes its verdict to QEMU's isa-debug-exit port, so QEMU
# exits with (code << 1) | 1: 1 = every scenario passed, 3 = one failed. A guest panic exits 0
# (panic=-1, -no-reboot) and a hang is ended by timeout (124): both count as failures, and so
# does a scenario the guest never reported.

SCENARIOS="enactl backend msix not-ena release"
title() {  # <mode> <scenario id>
  case $1:$2 in
    iommu:enactl) echo "enactl list, bind --force (refused without it), unbind, on the real sysfs" ;;
    noiommu:enactl) echo "enactl list, bind --force --noiommu (refused without either), unbind, on the real sysfs" ;;
    iommu:backend) echo "VfioDevice on edu, type1v2: BAR0, config, hugepage DMA both ways, refused after unmap" ;;
    noiommu:backend) echo "VfioDevice on edu, no-IOMMU: BAR0, config, hugepage DMA at pagemap physical addresses" ;;
    *:msix) echo "admin-vector path: e1000e MSI-X vector 0 delivered to an eventfd (after reset)" ;;
    *:not-ena) echo "driver bring-up on e1000e fails cleanly: not an ENA device" ;;
    *:release) echo "enactl unbind after use gives e1000e back to its driver" ;;
  esac
}
pass=0
fail=0
for mode in $MODES; do
  if [ "$mode" = iommu ]; then
    # intremap=on: without interrupt remapping VFIO_SET_IOMMU fails with EPERM
    devices=(-device intel-iommu,intremap=on -device edu)
    kargs="intel_iommu=on"
  else
    # without an IOMMU edu sees physical addresses, and its DMA mask is 28 bits by default
    [ -f "$K/noiommu/vfio.ko" ] || die "no no-IOMMU vfio.ko for $KVER"
    devices=(-device edu,dma_mask=0xffffffffffffffff)
    kargs=""
  fi
  log=$W/log-$mode.txt
  say "booting the $mode guest (log $log)"
  s=$(date +%s.%N)
  set +e
  # -accel tcg: /dev/kvm exists on these machines but a KVM guest hangs (no vmx)
  timeout -k 10 "$BOOT_TIMEOUT" qemu-system-x86_64 -machine q35 -accel tcg -cpu max -m 1G -smp 2 \
    -nodefaults -display none -serial stdio -monitor none -no-reboot \
    "${devices[@]}" -device e1000e,romfile= -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -kernel "$K/vmlinux" -initrd "$W/initramfs.cpio.gz" \
    -append "console=ttyS0 panic=-1 loglevel=4 $kargs vfiotest=$mode" </dev/null >"$log" 2>&1
  rc=$?
  set -e
  secs=$(awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  case $rc in
    1) why="" ;;
    3) why="the guest reported a failure" ;;
    0) why="the guest died before reporting (kernel panic?)" ;;
    124 | 137) why="the guest did not finish within ${BOOT_TIMEOUT}s" ;;
    *) why="QEMU exited with status $rc" ;;
  esac
  mode_failed=0
  for id in $SCENARIOS; do
    line=$(grep -a "^@@ SCENARIO $id " "$log" | tail -n1 | tr -d '\r' || true)
    status=$(echo "$line" | awk '{ print $4 }')
    detail=$(echo "$line" | cut -d' ' -f5-)
    case $status in
      PASS) pass=$((pass + 1)); printf 'PASS  %-7s %s\n' "$mode" "$(title "$mode" "$id")" ;;
      FAIL) fail=$((fail + 1)); mode_failed=1; printf 'FAIL  %-7s %s: %s\n' "$mode" "$(title "$mode" "$id")" "$detail" ;;
      SKIPPED) fail=$((fail + 1)); mode_failed=1; printf 'SKIPPED: %s %s: %s\n' "$mode" "$(title "$mode" "$id")" "$detail" ;;
      *) fail=$((fail + 1)); mode_failed=1; printf 'FAIL  %-7s %s: no result (%s)\n' "$mode" "$(title "$mode" "$id")" "${why:-the guest never ran it}" ;;
    esac
  done
  if [ $rc != 1 ] && [ $mode_failed = 0 ]; then  # every line passed but the guest disagrees
    fail=$((fail + 1)); mode_failed=1
    echo "FAIL  $mode guest verdict: $why"
  fi
  echo "      $mode guest: ${secs}s, QEMU exit $rc"
  if [ $mode_failed = 1 ]; then
    echo "---- last 60 lines of $log"
    tail -n 60 "$log"
    echo "----"
  fi
done
echo "total $(($(date +%s) - t_start))s"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
