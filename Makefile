# SPDX-License-Identifier: GPL-2.0
# Entry points. Everything big lives in $(DEVCG_CACHE) (default ~/.cache/devcg).
# V=1 shows full output of every phase.

.PHONY: all setup build run test test-debug bench fuzz vm-run clean-cache help

all: test

help:
	@echo "make run            build, boot and run the demo"
	@echo "make test           host cargo test + KUnit + end-to-end suite (what CI runs)"
	@echo "make vm-run PROG=f  run file f (script or static binary) as root in the guest"
	@echo "make build          set up, graft and build kernel + guest userspace"
	@echo "make test-debug     the same suites on a lockdep/KASAN/kmemleak kernel (clang)"
	@echo "make bench          fast path vs the C page_counter, heap ioctl overhead (a table)"
	@echo "make fuzz           coverage-guided fuzzing of the parser (FUZZ_SECONDS=60)"

setup:
	@scripts/setup.sh

build:
	@scripts/build.sh
	@scripts/initramfs.sh

run: build
	@VM_HIDE_KERNEL=1 scripts/vm-run.sh tests/e2e/demo.sh

test:
	@scripts/test.sh

test-debug:
	@DEVCG_FLAVOR=debug scripts/test.sh

bench:
	@scripts/bench.sh

fuzz:
	@scripts/fuzz.sh

vm-run:
	@test -n "$(PROG)" || { echo "usage: make vm-run PROG=<path>"; exit 2; }
	@test -f "$${DEVCG_CACHE:-$$HOME/.cache/devcg}/build/arch/x86/boot/bzImage" -a \
		-f "$${DEVCG_CACHE:-$$HOME/.cache/devcg}/guest/base.cpio.gz" || $(MAKE) --no-print-directory build
	@scripts/vm-run.sh "$(PROG)"

clean-cache:
	rm -rf "$${DEVCG_CACHE:-$$HOME/.cache/devcg}"
