#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make test: host cargo test of the pure logic, KUnit in QEMU (kunit.py), and the
# end-to-end suite in QEMU. Ends with "N passed, N failed[, N skipped]"; exits
# non-zero on any failure, on zero tests, or on a guest that crashed, timed out
# or logged an oops/BUG/WARN.
. "$(dirname "$0")/lib.sh"

passed=0 failed=0 skipped=0 problems=()
add() { passed=$((passed + $1)); failed=$((failed + $2)); skipped=$((skipped + $3)); }

# Kernel log lines that fail a run whatever the tests said.
kernel_trouble() {
	grep -E -m 5 'WARNING: |BUG: |Oops|Kernel panic|general protection fault|RIP: |Call Trace:' "$1" || true
}

echo "dev controller tests on Debian linux-source-6.12 $(kernel_package_version)"

# DEVCG_TESTS=guest (scripts/check-hooks.sh) runs only the suites in QEMU.
host_tests=yes
[ "${DEVCG_TESTS:-all}" = guest ] && host_tests=
# 1. Host: pure logic.
if [ -z "$host_tests" ]; then :
elif phase "host: cargo test (logic)" "$LOGS/cargo-test.log" cargo test --manifest-path "$REPO/Cargo.toml"; then :; else
	problems+=("cargo test failed")
fi
if [ -n "$host_tests" ]; then
	read -r p f s < <(awk '/^test result:/ { p += $4; f += $6; s += $8 } END { print p+0, f+0, s+0 }' "$LOGS/cargo-test.log")
	add "$p" "$f" "$s"
	echo "         host: $p passed, $f failed"

	# 1b. Host: loom models of the counter protocol, every interleaving.
	if phase "host: loom models (counter)" "$LOGS/loom.log" "$REPO/scripts/loom.sh"; then :; else
		problems+=("loom models failed (see $LOGS/loom.log)")
	fi
	read -r p f s < <(awk '/^test result:/ { p += $4; f += $6; s += $8 } END { print p+0, f+0, s+0 }' "$LOGS/loom.log")
	[ "$p" -gt 0 ] || problems+=("loom ran no model (see $LOGS/loom.log)")
	add "$p" "$f" "$s"
	explored=$(grep -o 'loom: [0-9]* interleavings' "$LOGS/loom.log" || true)
	echo "         loom: $p passed, $f failed ($(echo "$explored" | grep -c . || true) models, $(echo "$explored" | awk '{ n += $2 } END { print n+0 }') interleavings)"
fi

# 2. Build once: kernel and guest userspace.
"$REPO/scripts/build.sh" || { echo "0 passed, 1 failed"; echo "build failed" >&2; exit 1; }
"$REPO/scripts/initramfs.sh" || { echo "0 passed, 1 failed"; exit 1; }

# 3. KUnit in QEMU, same kernel image.
kunit_log=$LOGS/kunit.log
phase "kunit: dev_cgroup suites (QEMU)" "$kunit_log" \
	python3 "$TREE/tools/testing/kunit/kunit.py" exec --arch=x86_64 --build_dir="$BUILD" \
	--kernel_args="cma=64M" --qemu_args="-smp 2 $KUNIT_QEMU_DEVICES" --timeout=900 || true
summary=$(grep -o 'Ran [0-9]* tests:.*' "$kunit_log" | tail -n 1 | sed 's/\x1b\[[0-9;]*m//g')
count() { echo "$summary" | grep -o "$1: [0-9]*" | grep -o '[0-9]*' || echo 0; }
kp=$(count passed) kf=$(count failed) kc=$(count crashed) ks=$(count skipped)
add "$kp" "$((kf + kc))" "$ks"
echo "         kunit: ${summary:-no result}"
[ -n "$summary" ] || problems+=("KUnit produced no result (see $kunit_log)")
[ "$kc" = 0 ] || problems+=("KUnit: $kc crashed")
trouble=$(kernel_trouble "$BUILD/test.log")
[ -z "$trouble" ] || problems+=("KUnit guest log has: $trouble")

# 4. End-to-end suite in QEMU.
e2e_log=$LOGS/e2e.log
# The debug kernel (KASAN, lockdep) runs the suite about five times slower.
[ "$FLAVOR" = debug ] && export VM_TIMEOUT=${VM_TIMEOUT:-1500}
VM_QUIET=1 phase "e2e: devcg-e2e in the guest" "$LOGS/e2e-run.log" \
	"$REPO/scripts/vm-run.sh" "$GUEST/root/usr/bin/devcg-e2e" "$e2e_log" || true
ep=$(tr -d '\r' < "$e2e_log" | grep -cE '^ok [0-9]+ ' || true)
ef=$(tr -d '\r' < "$e2e_log" | grep -cE '^not ok [0-9]+ ' || true)
es=$(tr -d '\r' < "$e2e_log" | grep -cE '^ok [0-9]+ .*# SKIP' || true)
ep=$((ep - es))
add "$ep" "$ef" "$es"
echo "         e2e: $ep passed, $ef failed, $es skipped ($(tr -d '\r' < "$e2e_log" | grep -m1 DEVCG-GUEST | cut -d' ' -f2-))"
tr -d '\r' < "$e2e_log" | grep -E '^not ok|^# ' | sed 's/^/           /' | head -40
planned=$(tr -d '\r' < "$e2e_log" | sed -n 's/^1\.\.\([0-9]*\)$/\1/p' | head -n 1)
[ -n "$planned" ] && [ "$planned" = $((ep + ef + es)) ] ||
	problems+=("e2e: planned ${planned:-no} tests, reported $((ep + ef + es)) (crash or timeout? see $e2e_log)")
trouble=$(kernel_trouble "$e2e_log")
[ -z "$trouble" ] || problems+=("e2e guest log has: $trouble")

for p in "${problems[@]}"; do echo "problem: $p"; done
[ $((passed + failed + skipped)) -gt 0 ] || problems+=("no tests ran")
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" = 0 ] && [ ${#problems[@]} = 0 ]
