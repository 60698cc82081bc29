#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Configure and build the kernel (incrementally) with kunit.py into $BUILD.
. "$(dirname "$0")/lib.sh"

"$REPO/scripts/setup.sh"
"$REPO/scripts/graft.sh"
mkdir -p "$BUILD"
phase "build kernel ($(cat "$TREE/.devcg-version"))" "$LOGS/build.log" \
	python3 "$TREE/tools/testing/kunit/kunit.py" build --arch=x86_64 \
	--build_dir="$BUILD" --kunitconfig="$REPO/config/kernel.config" \
	--jobs="$(nproc)" --make_options "RUSTC=$RUSTC" --make_options "RUSTDOC=$RUSTDOC" \
	--make_options "BINDGEN=$BINDGEN"
