#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# check-hooks: every hook patch is caught by a test.
#
# For each patch in patches/ that calls into the controller, take its calls
# out of the working tree (scripts/hook_mutate.py: a call used as a statement
# is dropped, a call whose value is used gives what the code would get
# without the controller), rebuild incrementally, run the KUnit and e2e
# suites (scripts/test.sh with DEVCG_TESTS=guest), and require that at least
# one test fails. Prints a table patch -> failing tests and exits non-zero if
# any patch's calls can go unnoticed. The tree is restored afterwards (also on
# interruption) and rebuilt.
#
# Not part of make test: each patch costs a rebuild and a run of both guest
# suites, about 2 to 4 minutes here. Usage: scripts/check-hooks.sh [PATTERN]
# (only patches whose file name contains PATTERN).
. "$(dirname "$0")/lib.sh"

only=${1:-}
work=$CACHE/check-hooks
rm -rf "$work" && mkdir -p "$work/saved"
"$REPO/scripts/build.sh"
"$REPO/scripts/initramfs.sh"

# Files a patch touches, as paths in the tree.
patch_files() { sed -n 's#^+++ b/\([^\t]*\).*#\1#p' "$1"; }

saved=()
restore() {
	local f
	for f in "${saved[@]}"; do
		# Only what was changed: touching anything else (a header, Kconfig)
		# would rebuild half the kernel. Replace, never write through: tree
		# files may be hard links. The new mtime makes make rebuild it.
		cmp -s "$work/saved/$f" "$TREE/$f" && continue
		cp "$work/saved/$f" "$TREE/$f.devcg-restore" && mv "$TREE/$f.devcg-restore" "$TREE/$f"
	done
	saved=()
}
trap 'restore' EXIT

# Failing tests of the last guest run: KUnit cases and e2e tests.
failing_tests() {
	{
		sed 's/\x1b\[[0-9;]*m//g' "$LOGS/kunit.log" | sed -n 's/.*\[\(FAILED\|CRASHED\)\] \([a-z0-9_]*\)$/kunit:\2/p'
		tr -d '\r' < "$LOGS/e2e.log" | sed -n 's/^not ok [0-9]* \([^ #]*\).*/e2e:\1/p'
	} | sort -u
}

table=() missed=0
for patch in "$REPO"/patches/*.patch; do
	name=$(basename "$patch" .patch)
	[ -z "$only" ] || [[ $name == *"$only"* ]] || continue
	mapfile -t files < <(patch_files "$patch")
	for f in "${files[@]}"; do
		mkdir -p "$work/saved/$(dirname "$f")"
		cp -p "$TREE/$f" "$work/saved/$f"
		saved+=("$f")
	done
	if ! python3 "$REPO/scripts/hook_mutate.py" "$TREE" "$patch" > "$work/$name.calls"; then
		restore
		continue   # calls nothing in the controller (not a hook patch)
	fi
	echo "check-hooks: $name without its $(wc -l < "$work/$name.calls") calls into the controller"
	sed 's/^/    /' "$work/$name.calls"
	if ! "$REPO/scripts/build.sh" > "$work/$name.build" 2>&1; then
		table+=("$name|BUILD FAILED (see $work/$name.build)")
		missed=$((missed + 1))
		restore
		continue
	fi
	DEVCG_TESTS=guest "$REPO/scripts/test.sh" > "$work/$name.test" 2>&1 || true
	failing=$(failing_tests | tr '\n' ' ')
	if [ -z "$failing" ]; then
		if grep -q '^problem:' "$work/$name.test"; then
			failing="(no test failed, but: $(grep -m1 '^problem:' "$work/$name.test" | cut -c10-))"
		else
			failing="NOTHING FAILED"
			missed=$((missed + 1))
		fi
	fi
	table+=("$name|$failing")
	restore
done
trap - EXIT

echo "check-hooks: restoring the tree"
"$REPO/scripts/build.sh" > "$work/restore.build" 2>&1 || die "rebuild after restoring failed: $work/restore.build"

echo
printf '%-58s %s\n' "hook patch" "tests that fail without its calls"
for row in "${table[@]}"; do
	printf '%-58s %s\n' "${row%%|*}" "${row#*|}" | fold -s -w 160
done
[ "$missed" = 0 ] || { echo "check-hooks: $missed patch(es) not caught by any test"; exit 1; }
echo "check-hooks: every hook patch is caught"
