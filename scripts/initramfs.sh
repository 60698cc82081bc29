#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the guest's base initramfs: busybox-static, /init, the project's
# end-to-end test programs (static binaries) under /usr/bin, the kernel's
# dmabuf-heaps selftest, v4l2-compliance, crun and runc with their libraries, and the test
# kernel's modules.
. "$(dirname "$0")/lib.sh"

build_e2e() {
	cd "$REPO/tests/e2e"
	RUSTFLAGS="-C target-feature=+crt-static" cargo build --release \
		--target x86_64-unknown-linux-gnu --target-dir "$GUEST/target"
}
phase "build guest test programs" "$LOGS/e2e-build.log" build_e2e

# The kernel's own dmabuf-heaps selftest, against this kernel's uapi headers.
build_selftests() {
	make -C "$TREE" O="$BUILD" "${KMAKE_VARS[@]}" headers
	gcc -static -O2 -Wall -I"$BUILD/usr/include" -I"$TREE/tools/testing/selftests" \
		-o "$GUEST/dmabuf-heap" "$TREE/tools/testing/selftests/dmabuf-heaps/dmabuf-heap.c"
}
phase "build kernel selftests (dmabuf-heaps)" "$LOGS/selftests-build.log" build_selftests

root=$GUEST/root
rm -rf "$root" && mkdir -p "$root/bin" "$root/usr/bin" "$root/sys/fs/cgroup"
cp /bin/busybox "$root/bin/busybox"
install -m 755 "$REPO/tests/e2e/guest/init" "$root/init"
for bin in "$GUEST"/target/x86_64-unknown-linux-gnu/release/devcg-*; do
	[ -x "$bin" ] && [ -f "$bin" ] && install -m 755 "$bin" "$root/usr/bin/"
done
install -m 755 "$GUEST/dmabuf-heap" "$root/usr/bin/dmabuf-heap"

# The test kernel's modules (bochs), installed as a distribution does, with
# depmod's index for the guest's modprobe.
install_modules() {
	make -C "$TREE" O="$BUILD" "${KMAKE_VARS[@]}" INSTALL_MOD_PATH="$root" \
		INSTALL_MOD_STRIP=1 modules_install
	ls "$root"/lib/modules/*/modules.dep >/dev/null
}
phase "install kernel modules" "$LOGS/modules-install.log" install_modules

# A dynamically linked host program, with the shared libraries it needs.
copy_with_libs() {
	local bin=$1 lib
	[ -x "$bin" ] || die "$bin is missing (run scripts/setup.sh)"
	install -D -m 755 "$bin" "$root$bin"
	for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
		install -D -m 755 "$(realpath "$lib")" "$root$lib"
	done
}
copy_with_libs /usr/bin/v4l2-compliance
copy_with_libs /usr/bin/crun
copy_with_libs /usr/sbin/runc
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) > "$GUEST/base.cpio.gz.tmp"
mv "$GUEST/base.cpio.gz.tmp" "$GUEST/base.cpio.gz"
