#!/usr/bin/env bash
# Builds libdpdk — DPDK's C API over the ena driver (dpdk-shim/capi) — and lays it out like an
# installed DPDK, so that C applications build against it the usual way:
#
#   target/dpdk-shim/include/             rte_eal.h, rte_ethdev.h, rte_mbuf.h, ...
#   target/dpdk-shim/lib/libdpdk.so       the shared library (applications find it by rpath)
#   target/dpdk-shim/lib/libdpdk.a        the static library
#   target/dpdk-shim/lib/pkgconfig/libdpdk.pc
#
#   scripts/dpdk-shim-layout.sh
#   export PKG_CONFIG_PATH=$PWD/target/dpdk-shim/lib/pkgconfig
#   cc -O2 -o app app.c $(pkg-config --cflags --libs libdpdk)
#   ./app -l 0-1 --vdev net_ena_sim0,wire=loopback -- <app options>
#
# Statically: cc app.c $(pkg-config --cflags libdpdk) $(pkg-config --variable=static_libs libdpdk)
#
# Options:
#   --debug      the dev profile (default: release)
#   --out DIR    lay out into DIR (default: <target dir>/dpdk-shim)
#   --no-build   use what target/<profile> already has
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
profile=release
out=""
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --debug) profile=debug ;;
    --release) profile=release ;;
    --out)
      [ $# -ge 2 ] || { echo "dpdk-shim-layout: --out needs a directory" >&2; exit 2; }
      out=$2
      shift
      ;;
    --no-build) build=0 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "dpdk-shim-layout: unknown option '$1' (--debug, --out DIR, --no-build)" >&2
      exit 2
      ;;
  esac
  shift
done

target_dir=${CARGO_TARGET_DIR:-$root/target}
case "$target_dir" in /*) ;; *) target_dir=$root/$target_dir ;; esac
out=${out:-$target_dir/dpdk-shim}

if [ "$build" = 1 ]; then
  flags=(-p dpdk-shim-capi --lib)
  [ "$profile" = release ] && flags+=(--release)
  (cd "$root" && "${CARGO:-cargo}" build "${flags[@]}")
fi

built=$target_dir/$profile
for f in libdpdk.so libdpdk.a; do
  [ -f "$built/$f" ] || { echo "dpdk-shim-layout: $built/$f is missing (build first, or drop --no-build)" >&2; exit 1; }
done

mkdir -p "$out/include" "$out/lib/pkgconfig"
out=$(cd "$out" && pwd)
rm -f "$out"/include/rte_*.h
cp "$root"/dpdk-shim/capi/include/*.h "$out/include/"
# Replace rather than overwrite: a running program may have the old library mapped.
for f in libdpdk.so libdpdk.a; do
  rm -f "$out/lib/$f"
  cp "$built/$f" "$out/lib/$f"
done

# What a Rust static library needs from the system (rustc --print native-static-libs).
native="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
cat >"$out/lib/pkgconfig/libdpdk.pc" <<PC
prefix=$out
includedir=\${prefix}/include
libdir=\${prefix}/lib
static_libs=\${libdir}/libdpdk.a $native

Name: DPDK (dpdk-shim)
Description: DPDK's C API (EAL, ethdev, mbuf, mempool, lcores) over the ena-rs driver
Version: 22.11.0
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -ldpdk
Libs.private: $native
Cflags: -I\${includedir}
PC

echo "dpdk-shim: $profile libdpdk laid out in $out"
echo "  export PKG_CONFIG_PATH=$out/lib/pkgconfig"
echo "  cc -O2 -o app app.c \$(pkg-config --cflags --libs libdpdk)"
