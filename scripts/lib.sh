# SPDX-License-Identifier: GPL-2.0
# Shared settings and helpers for the project's scripts. Sourced, never run.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Everything big (pristine kernel tree, working tree, build dir, initramfs) lives here,
# never in the checkout. Override with DEVCG_CACHE=/some/dir.
CACHE=${DEVCG_CACHE:-$HOME/.cache/devcg}
KSRC_TARBALL=/usr/src/linux-source-6.12.tar.xz
PRISTINE=$CACHE/pristine        # unpacked once, never modified
TREE=$CACHE/tree                # hard-linked copy of PRISTINE + our links + patches
# DEVCG_FLAVOR=debug (make test-debug): the same suites on a debug kernel (lockdep,
# KASAN, kmemleak...), built with clang in its own build directory.
FLAVOR=${DEVCG_FLAVOR:-}
BUILD=$CACHE/build${FLAVOR:+-$FLAVOR}   # O= output directory, shared by kunit.py and QEMU runs
LOGS=$CACHE/logs${FLAVOR:+-$FLAVOR}
GUEST=$CACHE/guest              # initramfs and e2e binaries
BINDGEN_VERSION=0.73.2

export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
export BINDGEN=${BINDGEN:-$HOME/.cargo/bin/bindgen}
export LIBCLANG_PATH=/usr/lib/llvm-19/lib
KMAKE_VARS=(ARCH=x86_64 "RUSTC=$RUSTC" "RUSTDOC=$RUSTDOC" "BINDGEN=$BINDGEN")
KUNITCONFIGS=(--kunitconfig="$REPO/config/kernel.config")
# Devices the KUnit suites need besides kunit.py's: ivshmem's shared-memory
# BAR is memory that is not system RAM, for a per-device coherent DMA pool.
KUNIT_QEMU_DEVICES="-object memory-backend-ram,id=devcg-shm,size=4M -device ivshmem-plain,memdev=devcg-shm"
case "$FLAVOR" in
"") ;;
debug)
	# KASAN instruments Rust through LLVM, so the C side must be clang's too.
	KMAKE_VARS+=(LLVM=-19)
	KUNITCONFIGS+=(--kunitconfig="$REPO/config/debug.config")
	;;
*) echo "error: unknown DEVCG_FLAVOR=$FLAVOR" >&2; exit 1 ;;
esac

mkdir -p "$LOGS"
V=${V:-0}
_T0=${_T0:-$(date +%s)}
export _T0

# The exact Debian kernel version, e.g. "6.12.117-1~deb12u1".
kernel_package_version() {
	dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || echo unknown
}

die() { echo "error: $*" >&2; exit 1; }

# phase NAME LOG CMD...: run CMD with its output in LOG (or the terminal with V=1),
# print one line with the elapsed time and where the log is.
phase() {
	local name=$1 log=$2; shift 2
	local start=$(date +%s) rc=0
	printf '[%5ss] %-28s ... ' "$(( start - _T0 ))" "$name"
	if [ "$V" = 1 ]; then
		echo
		"$@" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
	else
		"$@" >"$log" 2>&1 || rc=$?
	fi
	local end=$(date +%s)
	if [ $rc -eq 0 ]; then
		printf 'ok (%ss)  log: %s\n' "$(( end - start ))" "$log"
	else
		printf 'FAILED (%ss, exit %s)  log: %s\n' "$(( end - start ))" "$rc" "$log"
		tail -n 25 "$log" | sed 's/^/    | /' >&2
	fi
	return $rc
}
