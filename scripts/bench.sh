#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make bench: performance of the dev controller, printed as a table.
#  1. the charge+uncharge fast path against the kernel's C page_counter, at
#     depths 1, 4 and 8, on one CPU and on both CPUs at once, with 1 and 64
#     registered regions and with 1000 configured sibling cgroups;
#  2. DMA_HEAP_IOCTL_ALLOC + close of 64 KiB and 4 MiB from a dev cgroup,
#     against the same kernel booted with cgroup_disable=dev;
#  3. bytes of state per (cgroup, region) pool;
#  4. 10,000 cgroups: mkdir/rmdir and kernel memory per cgroup with no
#     controller, +dev, +memory, and booted with cgroup_disable=dev; slab per
#     pool; dev.current/dev.stat reads above 10,000 pools; registering and
#     unregistering a 64-region device, and the depth-4 fast path, while
#     they exist.
# Two guest boots under TCG, then HEAP_BOOTS (3) pairs of short ones for the
# heap ioctls' median; a few minutes. Numbers vary with the host: TCG
# emulation inflates absolute times, the ratios are what to read.
. "$(dirname "$0")/lib.sh"

"$REPO/scripts/build.sh"
"$REPO/scripts/initramfs.sh"
enabled=$LOGS/bench-enabled.log disabled=$LOGS/bench-disabled.log
VM_QUIET=1 phase "bench: controller enabled" "$LOGS/bench-enabled-run.log" \
	"$REPO/scripts/vm-run.sh" "$REPO/tests/bench/guest-bench.sh" "$enabled"
VM_QUIET=1 VM_APPEND="cgroup_disable=dev" phase "bench: cgroup_disable=dev" \
	"$LOGS/bench-disabled-run.log" "$REPO/scripts/vm-run.sh" "$REPO/tests/bench/guest-bench.sh" "$disabled"

# The heap ioctls' overhead is small against the noise between boots: more
# boots, alternating, for a median and a spread.
HEAP_BOOTS=${HEAP_BOOTS:-3}
heap_logs=()
for i in $(seq "$HEAP_BOOTS"); do
	for side in enabled disabled; do
		append="devcg_bench=heap"
		[ $side = disabled ] && append="$append cgroup_disable=dev"
		VM_QUIET=1 VM_APPEND="$append" phase "bench: heap ioctls, $side ($i of $HEAP_BOOTS)" \
			"$LOGS/bench-heap-$side-$i-run.log" "$REPO/scripts/vm-run.sh" \
			"$REPO/tests/bench/guest-bench.sh" "$LOGS/bench-heap-$side-$i.log"
		heap_logs+=("$LOGS/bench-heap-$side-$i.log")
	done
done

results=$(cat "$enabled" "$disabled" | tr -d '\r' | sed -n 's/^RESULT //p')
# Every boot's heap numbers, one per line, for the median.
heap_samples=$(cat "$enabled" "$disabled" "${heap_logs[@]}" | tr -d '\r' | sed -n 's/^RESULT \(.*_heap_.*\)/\1/p')
get() { echo "$results" | awk -v k="$1" '$1 == k { print $2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%+.1f%%", (a - b) * 100 / b; else print "n/a" }'; }

echo
echo "dev controller benchmark, Debian linux-source-6.12 $(kernel_package_version), $(nproc) host CPUs, QEMU TCG"
echo
printf '%-34s %6s %12s %12s %8s\n' "charge+uncharge (ns per pair)" CPUs "Rust dev" "C pg_counter" "Rust/C"
for d in 1 4 8; do
	for c in 1 2; do
		r=$(get "depth${d}_rust_1region_cpus$c") p=$(get "depth${d}_c_page_counter_cpus$c")
		printf '%-34s %6s %12s %12s %8s\n' "depth $d ($(get "depth${d}_levels") levels)" "$c" "$r" "$p" "$(ratio "$r" "$p")"
	done
done
echo
printf '%-34s %6s %12s %12s %8s\n' "scaling (ns per pair, depth 1)" CPUs "baseline" "scaled" "ratio"
for c in 1 2; do
	a=$(get "depth1_rust_1region_cpus$c") b=$(get "depth1_rust_64regions_cpus$c")
	printf '%-34s %6s %12s %12s %8s\n' "1 vs 64 registered regions" "$c" "$a" "$b" "$(ratio "$b" "$a")"
	b=$(get "siblings1000_rust_1region_cpus$c")
	printf '%-34s %6s %12s %12s %8s\n' "1 vs 1000 sibling cgroups" "$c" "$a" "$b" "$(ratio "$b" "$a")"
done
echo
printf '%-30s %22s %22s %8s %7s\n' "heap alloc+close (ns)" "enabled: median (range)" \
	"disabled: median (range)" overhead target
for s in 65536 4194304; do
	stats() { # key: "median min max n"
		echo "$heap_samples" | awk -v k="$1" '$1 == k { print $2 }' | sort -n |
			awk '{ v[NR] = $1 } END { if (NR == 0) exit; m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
				printf "%d %d %d %d", m, v[1], v[NR], NR }'
	}
	read -r em emin emax en <<<"$(stats "enabled_heap_system_$s")"
	read -r dm dmin dmax dn <<<"$(stats "disabled_heap_system_$s")"
	target=$([ "$s" = 65536 ] && echo 2 || echo 5)
	# Met: the medians' overhead is within the target. Noise: it is not,
	# but the spreads overlap within it (enabled's fastest boot against
	# disabled's slowest). Otherwise not met.
	verdict=$(awk -v em="$em" -v dm="$dm" -v a="$emin" -v b="$dmax" -v t="$target" 'BEGIN {
		if ((em - dm) * 100 / dm <= t) print "met"; else if ((a - b) * 100 / b <= t) print "noise"; else print "not met" }')
	printf '%-30s %22s %22s %8s %7s\n' "system heap, $((s / 1024)) KiB ($en+$dn boots)" \
		"$em ($emin-$emax)" "$dm ($dmin-$dmax)" "$(pct "$em" "$dm")" "$target%: $verdict"
done
echo "  (median of each side's boots; met: the medians' overhead is within the target;"
echo "   noise: it is not, but enabled's fastest boot against disabled's slowest is)"
echo
echo "state per (cgroup, region) pool: $(get depth1_pool_bytes) bytes"
echo
printf '%-40s %11s %11s %11s %11s\n' "10,000 cgroups under one parent" "none" "+dev" "+memory" "dev off"
for k in mkdir_ns rmdir_ns slab_bytes_per_cgroup percpu_bytes_per_cgroup; do
	printf '%-40s %11s %11s %11s %11s\n' "$k" "$(get scale_none_$k)" "$(get scale_dev_$k)" \
		"$(get scale_memory_$k)" "$(get disabled_scale_none_$k)"
done
echo "  (none: no controller enabled for the children; dev off: the same, booted with cgroup_disable=dev;"
echo "   slab: unreclaimable, from /proc/meminfo)"
printf '%-40s %11s\n' "+dev mkdir vs cgroup_disable=dev" "$(ratio "$(get scale_dev_mkdir_ns)" "$(get disabled_scale_none_mkdir_ns)")"
printf '%-40s %11s\n' "+dev rmdir vs cgroup_disable=dev" "$(ratio "$(get scale_dev_rmdir_ns)" "$(get disabled_scale_none_rmdir_ns)")"
printf '%-40s %11s\n' "first dev.max write per cgroup (ns)" "$(get scale_dev_first_dev_max_write_ns)"
printf '%-40s %11s\n' "unreclaimable slab per pool (bytes)" "$(get scale_dev_slab_bytes_per_pool)"
printf '%-40s %11s %11s\n' "interface read (ns)" "parent" "a leaf"
for f in dev_current dev_stat; do
	printf '%-40s %11s %11s\n' "$f (10,000 pools below the parent)" "$(get scale_dev_${f}_read_ns_parent)" \
		"$(get scale_dev_${f}_read_ns_leaf)"
done
printf '%-40s %11s %11s %11s\n' "device with 64 regions (ns)" "~20 cgroups" "1,000" "11,000"
for k in register64_ns unregister64_ns; do
	printf '%-40s %11s %11s %11s\n' "$k" "$(get depth1_$k)" "$(get siblings1000_$k)" "$(get scale10k_depth4_$k)"
done
printf '%-40s %11s %11s %8s\n' "charge+uncharge depth 4, 1 CPU (ns)" "$(get depth4_rust_1region_cpus1)" \
	"$(get scale10k_depth4_rust_1region_cpus1)" \
	"$(ratio "$(get scale10k_depth4_rust_1region_cpus1)" "$(get depth4_rust_1region_cpus1)")"
echo "  (without, and with 10,000 more cgroups)"
[ -n "$(get depth8_rust_1region_cpus1)" ] && [ -n "$(get disabled_heap_system_65536)" ] &&
	[ -n "$(get scale_memory_rmdir_ns)" ] && [ -n "$(get scale10k_depth4_unregister64_ns)" ] &&
	[ -n "$(get disabled_scale_none_rmdir_ns)" ] ||
	die "benchmark incomplete: see $enabled and $disabled"
