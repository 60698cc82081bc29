#!/bin/sh
# Runs inside the guest for scripts/bench.sh; prints "RESULT <key> <value>" lines.
# Booted with cgroup_disable=dev it only times the heap ioctls; otherwise also
# the fast path (tests/bench/devcg_bench.c).
set -u
cg=/sys/fs/cgroup
mode=full
grep -qw cgroup_disable=dev /proc/cmdline && mode=heap
heap_bench() { # prefix of the results: DMA_HEAP_IOCTL_ALLOC + close, 64 KiB and 4 MiB
	for spec in "system 65536 1000" "system 4194304 100"; do
		devcg-e2e heap-bench $spec | sed "s/^/RESULT $1/"
	done
}
# devcg_bench=heap: only the heap ioctls (the extra boots that give their
# overhead a median), enabled or not.
if grep -qw devcg_bench=heap /proc/cmdline; then
	side=enabled
	if [ "$mode" = full ]; then
		mkdir $cg/heap && echo 0 > $cg/heap/cgroup.procs
	else
		side=disabled
	fi
	heap_bench ${side}_
	exit 0
fi
if [ "$mode" = heap ]; then
	heap_bench disabled_
	echo "bench: 10000 cgroups, controller disabled" >&2
	devcg-e2e cgroup-scale 10000 | sed 's/^/RESULT disabled_scale_/'
	exit 0
fi
mount -t debugfs debugfs /sys/kernel/debug
echo +dev > $cg/cgroup.subtree_control
dir=$cg
for level in 1 2 3 4 5 6 7 8; do
	dir=$dir/b$level
	mkdir $dir
	[ $level = 8 ] || echo +dev > $dir/cgroup.subtree_control
done
run() { # label, leaf
	echo "$2 100000" > /sys/kernel/debug/dev_cgroup_bench || exit 1
	sed "s/^/RESULT $1_/" /sys/kernel/debug/dev_cgroup_bench
}
# A first run, not reported: the boot's own work (module loading, deferred
# initcalls) can still take the CPUs for its first seconds.
echo "$cg/b1 100000" > /sys/kernel/debug/dev_cgroup_bench || exit 1
run depth1 $cg/b1
run depth4 $cg/b1/b2/b3/b4
run depth8 $cg/b1/b2/b3/b4/b5/b6/b7/b8
echo "bench: making 1000 configured siblings" >&2
i=0
while [ $i -lt 1000 ]; do
	mkdir $cg/s$i && echo "system region.ram=1G" > $cg/s$i/dev.max
	i=$((i + 1))
done
run siblings1000 $cg/b1
mkdir $cg/heap && echo 0 > $cg/heap/cgroup.procs
heap_bench enabled_
echo "bench: 10000 cgroups made and removed, without and with +dev, +memory" >&2
devcg-e2e cgroup-scale 10000 | sed 's/^/RESULT scale_/'
echo "bench: the fast path and registration while 10000 more cgroups exist" >&2
devcg-e2e cgroup-scale hold 10000
run scale10k_depth4 $cg/b1/b2/b3/b4
devcg-e2e cgroup-scale unhold 10000
