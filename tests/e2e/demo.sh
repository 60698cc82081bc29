#!/bin/sh
# The demo `make run` shows: the dev controller in a running kernel.
# Grows with each adapter. Exits 0 only if every check held.
set -u
cg=/sys/fs/cgroup
fail=0
step() { echo; echo "### $*"; }
check() { if eval "$1"; then echo "  ok: $2"; else echo "  FAILED: $2"; fail=1; fi; }

step "Controllers available at the root"
cat $cg/cgroup.controllers
check 'grep -qw dev $cg/cgroup.controllers' "cgroup.controllers lists dev"

step "Regions registered at boot (dev.capacity)"
cat $cg/dev.capacity
check 'grep -q "^cma region.reserved=67108864" $cg/dev.capacity' "the 64 MiB CMA area is a region"
check 'grep -q "^system region.ram=" $cg/dev.capacity' "system RAM is a region"

step "A child cgroup with a limit"
echo +dev > $cg/cgroup.subtree_control
mkdir -p $cg/demo
echo "cma region.reserved=16M" > $cg/demo/dev.max
echo '$ cat demo/dev.max'; cat $cg/demo/dev.max
check 'grep -q "^cma region.reserved=16777216" $cg/demo/dev.max' "dev.max reads back 16M in bytes"
echo '$ cat demo/dev.current'; cat $cg/demo/dev.current
echo '$ cat demo/dev.events'; cat $cg/demo/dev.events

step "Bad input is refused and changes nothing"
if echo "cma region.reserved=lots" > $cg/demo/dev.max 2>/dev/null; then r=accepted; else r=refused; fi
echo "  'cma region.reserved=lots' was $r"
check '[ $r = refused ] && grep -q "^cma region.reserved=16777216" $cg/demo/dev.max' "malformed value refused, limit unchanged"
if echo "gpu9 region.vram=1M" > $cg/demo/dev.max 2>/dev/null; then r=accepted; else r=refused; fi
check '[ $r = refused ]' "unknown device refused"

step "dma-buf heap buffers are charged, and refused at the limit"
echo "  This shell joins demo/ and allocates 4 MiB buffers from the CMA heap"
echo "  (/dev/dma_heap/reserved) until demo/dev.max (16M) refuses one:"
echo 0 > $cg/demo/cgroup.procs
out=$(devcg-e2e heap-alloc reserved 4194304 5 $cg/demo)
echo 0 > $cg/cgroup.procs
echo "$out"
check 'echo "$out" | grep -q "buffer 4: 4194304 bytes .*: ok"' "four 4 MiB buffers fit under 16M"
check 'echo "$out" | grep -q "buffer 5: .*refused, ENOMEM"' "the fifth is refused with ENOMEM"
check 'echo "$out" | grep -q "^cma region.reserved=16777216"' "dev.current showed 16M while they were held"
check 'grep -q "^cma region.reserved.max=1" $cg/demo/dev.events' "dev.events counted the refusal"
echo '$ cat demo/dev.current   (the buffers were freed when the program exited)'; cat $cg/demo/dev.current
check 'grep -q "^cma region.reserved=0" $cg/demo/dev.current' "everything was uncharged"

step "One CMA budget for dma-buf heaps and V4L2 (vivid, dma-contig)"
echo "  Holding 3 x 4 MiB CMA heap buffers, the shell asks vivid for 16 capture buffers:"
echo 0 > $cg/demo/cgroup.procs
out=$(devcg-e2e heap-alloc reserved 4194304 3 -- devcg-e2e v4l2-reqbufs 0 16 $cg/demo)
echo 0 > $cg/cgroup.procs
echo "$out"
granted=$(echo "$out" | sed -n 's/.*REQBUFS 16 .*ok, \([0-9]*\) granted/\1/p')
check '[ -n "$granted" ] && [ "$granted" -ge 2 ] && [ "$granted" -lt 16 ]' \
	"vivid got only what the 4 MiB left in the budget holds ($granted of 16 buffers)"
used=$(echo "$out" | sed -n 's/^cma region.reserved=\([0-9]*\)$/\1/p' | head -n 1)
check '[ -n "$used" ] && [ "$used" -le 16777216 ]' "heap + V4L2 together stayed within 16M ($used bytes)"
check 'echo "$out" | grep -q "region.reserved.dma_heap=12582912"' "dev.stat splits the budget by framework"
check 'grep -q "^cma region.reserved=0" $cg/demo/dev.current' "everything was uncharged"

step "VRAM on bochs (GEM VRAM helper on TTM): charged while scanned out"
vram=$(sed -n 's/^\(drm\/[^ ]*\) region.vram=.*/\1/p' $cg/dev.capacity)
echo "  The card's VRAM is device $vram. demo/ may keep 2 MiB of it resident:"
echo "$vram region.vram=2M" > $cg/demo/dev.max
echo 0 > $cg/demo/cgroup.procs
out=$(devcg-e2e kms-scanout 2 $cg/demo)
echo 0 > $cg/cgroup.procs
echo "$out"
check 'echo "$out" | grep -q "framebuffer 1 .*: ok, region.vram now 1228800"' "the first 1.2 MB framebuffer went to VRAM and was charged"
check 'echo "$out" | grep -q "framebuffer 2 .*: refused, .*region.vram now 1228800"' "the second did not fit under 2M and was refused"
echo '$ cat demo/dev.current   (the framebuffers were freed when the program exited)'; cat $cg/demo/dev.current
check "grep -q \"^\$vram region.vram=0\" $cg/demo/dev.current" "VRAM was uncharged"

rmdir $cg/demo
echo
[ $fail = 0 ] && echo "demo: all checks held" || echo "demo: some checks FAILED"
exit $fail
