#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm-run.sh PROG [LOG]: boot the built kernel under QEMU (TCG, 2 vCPUs, -vga std,
# cma=64M, vivid instance 0 on dma-contig and 1 on vmalloc), run PROG (a script
# or static binary) as /prog, stream the console and exit with PROG's status.
# Exit 124: the guest timed out; 125: the guest died without reporting.
# VM_QUIET=1 shows nothing; VM_HIDE_KERNEL=1 shows only PROG's own lines and
# leaves the kernel's messages (timestamped) to the log, whose path it prints.
. "$(dirname "$0")/lib.sh"

prog=${1:?usage: vm-run.sh PROG [LOG]}
log=${2:-$LOGS/vm-run.log}
[ -f "$prog" ] || die "no such file: $prog"
kernel=$BUILD/arch/x86/boot/bzImage
[ -f "$kernel" ] || die "no kernel at $kernel: run 'make build' first"
[ -f "$GUEST/base.cpio.gz" ] || die "no initramfs: run 'make build' first"

append="console=ttyS0 cma=64M vivid.n_devs=2 vivid.allocators=1,0 kunit.enable=0 panic=-1"
# Kernel messages off the console while PROG runs; the guest prints them all
# (timestamped) after PROG, into the log only.
[ "${VM_HIDE_KERNEL:-0}" = 1 ] && append="$append loglevel=1 devcg_dmesg_at_exit"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/root"
install -m 755 "$prog" "$tmp/root/prog"
# The kernel unpacks concatenated archives in order: /prog lands on top of the base.
(cd "$tmp/root" && echo prog | cpio -o -H newc --quiet | gzip -1) > "$tmp/prog.cpio.gz"
cat "$GUEST/base.cpio.gz" "$tmp/prog.cpio.gz" > "$tmp/initrd.gz"

timeout "${VM_TIMEOUT:-600}" qemu-system-x86_64 -machine pc -accel tcg -smp 2 -m 2048 \
	-nodefaults -no-reboot -display none -vga std -serial stdio -monitor none \
	-kernel "$kernel" -initrd "$tmp/initrd.gz" \
	-append "$append ${VM_APPEND:-}" \
	</dev/null 2>&1 | tee "$log" | {
	if [ "${VM_QUIET:-0}" = 1 ]; then cat >/dev/null
	elif [ "${VM_HIDE_KERNEL:-0}" = 1 ]; then grep --line-buffered -avE '^\[ *[0-9]+\.[0-9]+\]' || true
	else cat; fi; }
rc=${PIPESTATUS[0]}
[ "${VM_HIDE_KERNEL:-0}" = 1 ] && echo "(the kernel's messages, with the whole console: $log)"
[ "$rc" = 124 ] && { echo "vm-run: guest timed out" >&2; exit 124; }
status=$(tr -d '\r' < "$log" | sed -n 's/^DEVCG-EXIT: \([0-9]*\)$/\1/p' | tail -n 1)
[ -n "$status" ] || { echo "vm-run: guest ended without reporting an exit status (see $log)" >&2; exit 125; }
exit "$status"
