#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Benchmark of the development loop (issue 2's targets), printing numbers:
#   1. cold `make test`: a clean clone of HEAD with an empty cache (own DEVCG_CACHE),
#   2. warm `make test` after touching one Rust file of the core.
# Set-up is included but only costs its checks when the packages are installed.
# Usage: scripts/bench-build.sh [workdir]   (default: a fresh mktemp -d; removed at the end
# unless BENCH_KEEP=1). About 8 minutes on 2 cores; run it on an idle machine.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-$(mktemp -d /tmp/devcg-bench.XXXXXX)}
mkdir -p "$WORK"
cleanup() { [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$WORK"; }
trap cleanup EXIT

git clone -q "$REPO" "$WORK/clone"
export DEVCG_CACHE=$WORK/cache
cd "$WORK/clone"

timed() {
	local label=$1 log=$2 start end rc=0
	shift 2
	start=$(date +%s)
	"$@" >"$log" 2>&1 || rc=$?
	end=$(date +%s)
	printf '%-52s %4dm%02ds  exit %d  (%s)\n' "$label" $(((end - start) / 60)) \
		$(((end - start) % 60)) "$rc" "$(tail -n 1 "$log")"
	return $rc
}

echo "bench: $(nproc) CPUs, $(git rev-parse --short HEAD), cache $DEVCG_CACHE"
timed "cold make test (empty cache, clean clone)" "$WORK/cold.log" make test
touch src/core/pool.rs
timed "warm make test (touched src/core/pool.rs)" "$WORK/warm.log" make test
