#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make fuzz: coverage-guided fuzzing (cargo-fuzz, libFuzzer) of the interface
# parser and formatter for FUZZ_SECONDS (default 60), from the corpus in
# fuzz/corpus/parse (new finds are added there). The machine's stable
# toolchain is used with RUSTC_BOOTSTRAP=1 for libFuzzer's -Z flags; no
# sanitizer, since only panics (assertions) are looked for.
. "$(dirname "$0")/lib.sh"

CARGO_FUZZ_VERSION=0.12.0
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
	phase "install cargo-fuzz $CARGO_FUZZ_VERSION" "$LOGS/cargo-fuzz-install.log" \
		cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" ||
		die "cargo could not install cargo-fuzz $CARGO_FUZZ_VERSION from crates.io"
fi
cd "$REPO/fuzz"
seconds=${FUZZ_SECONDS:-60}
echo "fuzzing the parser for ${seconds}s (corpus: fuzz/corpus/parse)"
rc=0
RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none parse corpus/parse -- \
	-max_total_time="$seconds" -print_final_stats=1 >"$LOGS/fuzz.log" 2>&1 || rc=$?
grep -E '^#[0-9]+.*DONE|^stat::number_of_executed_units|^stat::new_units_added|panicked' "$LOGS/fuzz.log" || true
[ $rc = 0 ] || die "the fuzzer failed (exit $rc): see $LOGS/fuzz.log and fuzz/artifacts/"
echo "fuzz: no failure in ${seconds}s"
