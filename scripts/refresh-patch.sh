#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Regenerates a patch of patches/ from the working kernel tree, after its
# files were edited there: keeps the patch's header (everything before the
# first "diff"), rewrites the diffs of the files it touches (and of any
# tree-relative paths given after it) against the pristine tree, and records
# the result as applied, so that the next graft neither reverts nor re-applies
# it (and nothing is rebuilt that did not change).
#   scripts/refresh-patch.sh patches/0002-....patch [path-in-tree ...]
# Only for files no other patch touches: their diffs would mix.
. "$(dirname "$0")/lib.sh"

patch_file=$(realpath "$1") && shift
[ -f "$patch_file" ] || die "no such patch: $patch_file"
mapfile -t files < <({ sed -n 's|^diff -ru a/\([^ ]*\) b/.*|\1|p' "$patch_file"; [ $# = 0 ] || printf '%s\n' "$@"; } | sort -u)
[ ${#files[@]} -gt 0 ] || die "no files in $patch_file"
for f in "${files[@]}"; do
	for other in "$REPO"/patches/*.patch; do
		[ "$other" = "$patch_file" ] && continue
		grep -q "^diff -ru a/$f b/$f\$" "$other" && die "$f is also in $(basename "$other")"
	done
done
tmp=$(mktemp)
sed '/^diff -ru /,$d' "$patch_file" > "$tmp"
for f in "${files[@]}"; do
	[ -f "$TREE/$f" ] || die "$f is not in the tree"
	(cd "$TREE/.." && diff -u --label "a/$f" --label "b/$f" "$(basename "$PRISTINE")/$f" "$(basename "$TREE")/$f") > "$tmp.d" && continue
	[ $? = 1 ] || die "diff failed on $f"
	echo "diff -ru a/$f b/$f" >> "$tmp"
	cat "$tmp.d" >> "$tmp"
done
rm -f "$tmp.d"
mv "$tmp" "$patch_file"
cp "$patch_file" "$TREE/.devcg-applied/$(basename "$patch_file")"
echo "refreshed $(basename "$patch_file"): ${#files[@]} files"
