#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install what the build needs when it is missing: Debian packages and a pinned bindgen-cli.
# Idempotent and quiet when everything is present.
. "$(dirname "$0")/lib.sh"

PACKAGES=(
	linux-source-6.12           # the kernel we overlay
	rustc-web rust-web-src      # rustc 1.96 with the core source the kernel's Rust needs
	libclang-19-dev clang-19 lld-19 llvm-19   # bindgen's libclang; clang for LLVM=-19 builds
	gcc make flex bison bc libelf-dev libssl-dev cpio kmod rsync python3
	qemu-system-x86 busybox-static
	v4l-utils                   # v4l2-compliance, run on vivid in the guest
	crun runc                   # OCI runtimes, run in the guest (tests/e2e/src/containers.rs)
)

missing=()
for p in "${PACKAGES[@]}"; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing Debian packages: ${missing[*]}"
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	{ $SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y \
		--no-install-recommends "${missing[@]}"; } >"$LOGS/apt.log" 2>&1 ||
		die "apt-get could not install: ${missing[*]} (see $LOGS/apt.log)"
fi

if ! "$BINDGEN" --version 2>/dev/null | grep -qx "bindgen $BINDGEN_VERSION"; then
	echo "setup: installing bindgen-cli $BINDGEN_VERSION from crates.io"
	command -v cargo >/dev/null || die "cargo is missing: it is needed to install bindgen-cli"
	cargo install bindgen-cli --locked --version "$BINDGEN_VERSION" >"$LOGS/bindgen.log" 2>&1 ||
		die "cargo could not install bindgen-cli $BINDGEN_VERSION from crates.io (see $LOGS/bindgen.log)"
fi

[ -r "$KSRC_TARBALL" ] || die "$KSRC_TARBALL is missing although linux-source-6.12 is installed"
[ -x /usr/bin/rustc ] || die "/usr/bin/rustc is missing (package rustc-web)"
