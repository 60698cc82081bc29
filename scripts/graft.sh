#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the working kernel tree: a pristine 6.12 tree unpacked once into the cache, a
# hard-linked working copy of it, the project's files linked in (so editing them here
# triggers incremental rebuilds there), and patches/ applied idempotently.
. "$(dirname "$0")/lib.sh"

# Project files grafted into the kernel tree: "<path in repo> <path in tree>".
LINKS=(
	". kernel/cgroup/dev"
	"include/linux/cgroup_dev.h include/linux/cgroup_dev.h"
	"include/linux/cgroup_dmem.h include/linux/cgroup_dmem.h"
	"include/uapi/linux/dev_cgroup.h include/uapi/linux/dev_cgroup.h"
	"Documentation/admin-guide/cgroup-dev.rst Documentation/admin-guide/cgroup-dev.rst"
	"Documentation/driver-api/cgroup-dev.rst Documentation/driver-api/cgroup-dev.rst"
)

unpack_pristine() {
	rm -rf "$PRISTINE.tmp" && mkdir -p "$PRISTINE.tmp"
	tar -C "$PRISTINE.tmp" -xf "$KSRC_TARBALL"
	local top; top=$(ls "$PRISTINE.tmp")
	[ "$(echo "$top" | wc -l)" = 1 ] || die "unexpected layout in $KSRC_TARBALL"
	echo "$(kernel_package_version)" > "$PRISTINE.tmp/$top/.devcg-version"
	rm -rf "$PRISTINE" && mv "$PRISTINE.tmp/$top" "$PRISTINE" && rmdir "$PRISTINE.tmp"
}

if [ ! -f "$PRISTINE/.devcg-version" ] || [ "$(cat "$PRISTINE/.devcg-version")" != "$(kernel_package_version)" ]; then
	phase "unpack linux-source-6.12" "$LOGS/unpack.log" unpack_pristine
	rm -rf "$TREE" "$BUILD"   # a new kernel version invalidates everything derived
fi

if [ ! -f "$TREE/.devcg-version" ]; then
	# Hard links: cheap, and `patch` replaces files rather than writing through the link,
	# so the pristine copy is never modified.
	rm -rf "$TREE.tmp" && cp -al "$PRISTINE" "$TREE.tmp" && mv "$TREE.tmp" "$TREE"
fi

# rust/: the Rust abstractions, new files in the tree's rust/ (the lines that
# make the kernel crate use them are in patches/0002).
while IFS= read -r f; do
	LINKS+=("$f $f")
done < <(cd "$REPO" && find rust -type f | sort)

for l in "${LINKS[@]}"; do
	set -- $l
	src=$REPO/$1 dst=$TREE/$2
	[ "$(readlink "$dst" 2>/dev/null)" = "$(realpath "$src")" ] && continue
	mkdir -p "$(dirname "$dst")"
	rm -rf "$dst" && ln -s "$(realpath "$src")" "$dst"
done

# Idempotent patch series: $TREE/.devcg-applied holds copies of what is applied, in order.
# Keep the longest common prefix with patches/, reverse the rest, apply the new tail.
STATE=$TREE/.devcg-applied
mkdir -p "$STATE"
mapfile -t applied < <(cd "$STATE" && ls | sort)
mapfile -t wanted < <(cd "$REPO/patches" && ls -- *.patch 2>/dev/null | sort)
keep=0
while [ $keep -lt ${#applied[@]} ] && [ $keep -lt ${#wanted[@]} ] &&
	[ "${applied[$keep]}" = "${wanted[$keep]}" ] &&
	cmp -s "$STATE/${applied[$keep]}" "$REPO/patches/${wanted[$keep]}"; do
	keep=$((keep + 1))
done
for (( i = ${#applied[@]} - 1; i >= keep; i-- )); do
	echo "graft: reverting ${applied[$i]}"
	patch -s -R -p1 -d "$TREE" --no-backup-if-mismatch < "$STATE/${applied[$i]}" ||
		die "could not revert ${applied[$i]}; delete $TREE to start over"
	rm "$STATE/${applied[$i]}"
done
for (( i = keep; i < ${#wanted[@]}; i++ )); do
	p=$REPO/patches/${wanted[$i]}
	echo "graft: applying ${wanted[$i]}"
	patch -s -p1 -d "$TREE" --dry-run --no-backup-if-mismatch < "$p" >/dev/null ||
		die "patch ${wanted[$i]} does not apply to $(cat "$PRISTINE/.devcg-version")"
	patch -s -p1 -d "$TREE" --no-backup-if-mismatch < "$p"
	cp "$p" "$STATE/${wanted[$i]}"
done
# Written fresh (not copied): the hard-linked copy would be the pristine file itself.
rm -f "$TREE/.devcg-version" && cat "$PRISTINE/.devcg-version" > "$TREE/.devcg-version"
