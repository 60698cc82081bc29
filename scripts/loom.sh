#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Model-checks the counters' lock-free protocol: the real counter.rs, its
# atomics swapped for loom's (--cfg loom), every interleaving of each model in
# src/core/logic/loom_models.rs. Part of make test; about a minute warm.
# Extra arguments go to the test harness.
. "$(dirname "$0")/lib.sh"
cd "$REPO"
RUSTFLAGS="--cfg loom" exec cargo test --release --target-dir "$REPO/target/loom" \
	--lib loom_models -- --nocapture --test-threads 1 "$@"
