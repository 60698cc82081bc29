#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Configure and build the kernel (incrementally) with kunit.py into $BUILD.
. "$(dirname "$0")/lib.sh"

"$REPO/scripts/setup.sh"
"$REPO/scripts/graft.sh"
mkdir -p "$BUILD"
phase "build ${FLAVOR:+$FLAVOR }kernel ($(cat "$TREE/.devcg-version"))" "$LOGS/build.log" \
	python3 "$TREE/tools/testing/kunit/kunit.py" build --arch=x86_64 \
	--build_dir="$BUILD" "${KUNITCONFIGS[@]}" --jobs="$(nproc)" \
	$(printf -- '--make_options %s ' "${KMAKE_VARS[@]:1}")
