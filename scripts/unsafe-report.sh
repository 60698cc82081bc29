#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Where the project's unsafe Rust is: per Rust file of rust/ (the kernel
# crate's abstractions) and src/ (controller and adapters), the number of
# `unsafe` blocks, of `unsafe fn`/`unsafe impl`/`unsafe trait` items, of
# `bindings::` uses and of lines, then totals per layer. Comments are not
# counted. The loom models and the host-only files are left out: they are
# not kernel code.
# With --where, lists instead each `unsafe` block of src/ that is not in an
# `extern "C"` entry point, with the function it is in: what the layering
# rule (Documentation/driver-api/cgroup-dev.rst) asks a reviewer to check.
#   scripts/unsafe-report.sh [--where] [git revision]   (default: the working tree)
set -eu
cd "$(dirname "$0")/.."
where=
[ "${1:-}" = --where ] && where=1 && shift
rev=${1:-}
list() { if [ -n "$rev" ]; then git ls-tree -r --name-only "$rev" -- rust src; else git ls-files -co --exclude-standard rust src; fi; }
show() { if [ -n "$rev" ]; then git show "$rev:$1"; else cat "$1"; fi; }
count() { grep -oE "$1" | wc -l; }
if [ -n "$where" ]; then
	for f in $(list | grep '^src/.*\.rs$' | grep -v -e loom_models -e logic/host.rs | sort); do
		show "$f" | sed -e 's|//.*$||' | awk -v file="$f" '
			/^#\[cfg\(.*test/ { exit }
			/(^|[^a-z_])fn [a-z_0-9]+/ {
				match($0, /fn [a-z_0-9]+/); name = substr($0, RSTART + 3, RLENGTH - 3)
				entry = ($0 ~ /extern "C" fn/); if (!entry) unsafe_fn = ($0 ~ /unsafe fn/)
			}
			/unsafe \{/ && !entry { n = gsub(/unsafe \{/, "&"); printf "%s:%d: %s%s (%d)\n", file, NR, unsafe_fn ? "unsafe fn " : "", name, n }'
	done
	exit 0
fi
printf '%-40s %7s %7s %9s %6s\n' file blocks items bindings lines
declare -A tb ti tn tl
for f in $(list | grep '\.rs$' | grep -v -e loom_models -e logic/host.rs | sort); do
	code=$(show "$f" | sed -e 's|//.*$||')
	b=$(count 'unsafe \{' <<<"$code")
	i=$(count 'unsafe (extern "C" )?(fn|impl|trait)' <<<"$code")
	n=$(count 'bindings::' <<<"$code")
	l=$(show "$f" | wc -l)
	printf '%-40s %7s %7s %9s %6s\n' "$f" "$b" "$i" "$n" "$l"
	case $f in rust/*) k=rust ;; src/core/logic/*) k=logic ;; src/core/*|src/ffi_check.rs) k=core ;; *) k=adapters ;; esac
	tb[$k]=$(( ${tb[$k]:-0} + b )) ti[$k]=$(( ${ti[$k]:-0} + i )) tn[$k]=$(( ${tn[$k]:-0} + n )) tl[$k]=$(( ${tl[$k]:-0} + l ))
done
echo
for k in rust core logic adapters; do
	printf '%-40s %7s %7s %9s %6s\n' "total $k" "${tb[$k]:-0}" "${ti[$k]:-0}" "${tn[$k]:-0}" "${tl[$k]:-0}"
done
