// SPDX-License-Identifier: GPL-2.0

//! Error paths under the kernel's per-task fault injection. Each operation
//! that allocates on the controller's behalf is run once per allocation it
//! makes, with exactly that allocation failed (`/proc/thread-self/fail-nth`,
//! slab and page allocator), until a run gets through without reaching the
//! armed point. Every run must fail with a clean errno or succeed completely,
//! leave nothing half-applied, and give back every charge once undone; and
//! the kernel log must report no warning, BUG or oops meanwhile.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cg::{self, enable_dev, ensure, Cgroup, ROOT};
use crate::heaps::{cma_pages_in_use, Heap, Inside, CMA, SYSTEM};
use crate::kms::{self, Card, Framebuffer, FB_BYTES};
use crate::v4l2::Capture;
use crate::{Test, TestResult};

const ENOMEM: i32 = libc::ENOMEM;
/// TTM's "does not fit in VRAM", which a refused pin may also report.
const ENOSPC: i32 = libc::ENOSPC;

/// Far more injection points than any operation here has: a loop that gets
/// this far does not converge, and fails rather than spinning.
const MAX_POINTS: u32 = 2000;

/// The point armed for a warm-up run, which no operation reaches: that run
/// faults in the code and stack pages of the armed path, so that later runs
/// take their fault in the kernel, not in a page fault of this process.
const UNREACHED_POINT: u32 = u32::MAX;

pub fn tests() -> Vec<Test> {
    vec![
        Test {
            name: "fault_injection_dev_max_write_creating_pools",
            run: dev_max_write_creating_pools,
        },
        Test {
            name: "fault_injection_cma_heap_alloc",
            run: || heap_alloc(&CMA),
        },
        Test {
            name: "fault_injection_system_heap_alloc",
            run: || heap_alloc(&SYSTEM),
        },
        Test {
            name: "fault_injection_vivid_reqbufs_dma_contig",
            run: vivid_reqbufs_dma_contig,
        },
        Test {
            name: "fault_injection_bochs_dumb_buffer_scanout",
            run: bochs_dumb_buffer_scanout,
        },
        Test {
            name: "fault_injection_cgroup_mkdir",
            run: cgroup_mkdir,
        },
        Test {
            name: "fault_injection_cgroup_rmdir",
            run: cgroup_rmdir,
        },
    ]
}

/// This thread's `/proc/thread-self/fail-nth`. Written `n`, the `n`-th
/// fault-injection point (slab or page allocation) the thread passes fails;
/// the value counts down as points pass and reads 0 once the fault is in.
struct FailNth(File);

impl FailNth {
    fn open() -> Result<Self, String> {
        let path = "/proc/thread-self/fail-nth";
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map(FailNth)
            .map_err(|e| {
                format!("{path}: {e}: this kernel has no fault injection (CONFIG_FAULT_INJECTION)")
            })
    }

    fn put(&self, value: &[u8]) -> Result<(), i32> {
        // SAFETY: `value` is valid for reads of its length.
        let written =
            unsafe { libc::pwrite(self.0.as_raw_fd(), value.as_ptr().cast(), value.len(), 0) };
        if written == value.len() as isize {
            Ok(())
        } else {
            Err(cg::errno())
        }
    }

    /// Runs `op` with this thread's `n`-th injection point armed and disarms
    /// it again. Returns what `op` returned and whether the fault was injected
    /// (`false`: `op` passed fewer than `n` points). `op` must make system
    /// calls only: an allocation, or a page fault, of this process could
    /// take the fault instead.
    fn inject<T>(&self, n: u32, op: impl FnOnce() -> T) -> Result<(T, bool), String> {
        let armed = n.to_string();
        self.put(armed.as_bytes())
            .map_err(|e| format!("arming fail-nth with {n}: errno {e}"))?;
        let result = op();
        // Read back before disarming; nothing in between allocates.
        let mut left = [0u8; 16];
        // SAFETY: `left` is valid for writes of its length.
        let read =
            unsafe { libc::pread(self.0.as_raw_fd(), left.as_mut_ptr().cast(), left.len(), 0) };
        let read_errno = if read < 0 { cg::errno() } else { 0 };
        self.put(b"0")
            .map_err(|e| format!("disarming fail-nth: errno {e}"))?;
        ensure(read > 0, || {
            format!("reading fail-nth back: errno {read_errno}")
        })?;
        let text = String::from_utf8_lossy(&left[..read as usize]);
        let left: u32 = text
            .trim()
            .parse()
            .map_err(|_| format!("fail-nth reads {text:?}"))?;
        ensure(left <= n, || {
            format!("fail-nth reads {left} after being armed with {n}")
        })?;
        Ok((result, left == 0))
    }
}

const DEBUGFS: &str = "/sys/kernel/debug";

/// What the fault-injection attributes must say for fail-nth to reach every
/// allocation of an operation, and quietly.
const FAULT_SETTINGS: &[(&str, &str)] = &[
    // Also allocations that may sleep (GFP_KERNEL): the default skips them.
    ("failslab/ignore-gfp-wait", "N"),
    // No "forcing a failure" message with a stack dump per injected fault.
    ("failslab/verbose", "0"),
    ("fail_page_alloc/ignore-gfp-wait", "N"),
    ("fail_page_alloc/ignore-gfp-highmem", "N"),
    // Single pages too: the default, 1, skips order-0 allocations.
    ("fail_page_alloc/min-order", "0"),
    ("fail_page_alloc/verbose", "0"),
];

/// [`FAULT_SETTINGS`] applied; the previous values (and debugfs, if this
/// mounted it) restored when dropped.
struct FaultSettings {
    saved: Vec<(PathBuf, String)>,
    mounted_debugfs: bool,
}

impl FaultSettings {
    fn apply() -> Result<Self, String> {
        let mut settings = FaultSettings {
            saved: Vec::new(),
            mounted_debugfs: false,
        };
        if !Path::new(DEBUGFS).join("failslab").exists() {
            // SAFETY: plain mount(2) with NUL-terminated literals.
            syscall_result(unsafe {
                libc::mount(
                    c"debugfs".as_ptr(),
                    c"/sys/kernel/debug".as_ptr(),
                    c"debugfs".as_ptr(),
                    0,
                    std::ptr::null(),
                )
            })
            .map_err(|e| format!("mounting debugfs at {DEBUGFS}: {}", describe(e)))?;
            settings.mounted_debugfs = true;
        }
        for dir in ["failslab", "fail_page_alloc"] {
            ensure(Path::new(DEBUGFS).join(dir).is_dir(), || {
                format!(
                    "{DEBUGFS}/{dir} is missing: this kernel lacks CONFIG_FAILSLAB, \
                     CONFIG_FAIL_PAGE_ALLOC or CONFIG_FAULT_INJECTION_DEBUG_FS"
                )
            })?;
        }
        for (name, value) in FAULT_SETTINGS {
            let path = Path::new(DEBUGFS).join(name);
            let old = cg::read(&path)?;
            cg::set(&path, value)?;
            settings.saved.push((path.clone(), old.trim().to_string()));
            let now = cg::read(&path)?;
            ensure(now.trim() == *value, || {
                format!("{}: wrote {value}, reads {now:?}", path.display())
            })?;
        }
        Ok(settings)
    }
}

impl Drop for FaultSettings {
    fn drop(&mut self) {
        for (path, old) in self.saved.iter().rev() {
            let _ = cg::write(path, old);
        }
        if self.mounted_debugfs {
            // SAFETY: umount(2) of the mount made in `apply`.
            unsafe { libc::umount(c"/sys/kernel/debug".as_ptr()) };
        }
    }
}

const PRINTK: &str = "/proc/sys/kernel/printk";

/// The console loglevel lowered to KERN_ALERT while faults are injected: a
/// failed allocation can make the kernel print a report with a stack dump
/// (warn_alloc(), from vmalloc or the page allocator's slow path), which
/// scripts/test.sh would take for a kernel problem on the console. The
/// kernel log still gets everything, and [`KernelLog`] tells those reports
/// apart from real problems. Restored when dropped.
struct QuietConsole {
    saved: String,
}

impl QuietConsole {
    fn new() -> Result<Self, String> {
        let saved = cg::read(PRINTK)?.trim().to_string();
        cg::set(PRINTK, "1 4 1 7")?;
        Ok(QuietConsole { saved })
    }
}

impl Drop for QuietConsole {
    fn drop(&mut self) {
        let _ = cg::write(PRINTK, &self.saved);
    }
}

/// The kernel log from the moment it was opened, read from /dev/kmsg without
/// blocking, and checked for reports of kernel problems.
struct KernelLog {
    kmsg: File,
    reports: ProblemReports,
}

impl KernelLog {
    fn open() -> Result<Self, String> {
        let kmsg = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .map_err(|e| format!("/dev/kmsg: {e}"))?;
        // SAFETY: plain lseek(2) on our own fd: skip what was logged before.
        if unsafe { libc::lseek(kmsg.as_raw_fd(), 0, libc::SEEK_END) } < 0 {
            return Err(format!("seeking /dev/kmsg: errno {}", cg::errno()));
        }
        Ok(KernelLog {
            kmsg,
            reports: ProblemReports::default(),
        })
    }

    /// Reads what was logged since the last call; fails with the reports of
    /// problems in it. Called after each run, so that the ring buffer cannot
    /// overwrite records before they are read.
    fn check(&mut self) -> TestResult {
        // /dev/kmsg returns one record per read, and at most this much.
        let mut record = vec![0u8; 8192];
        loop {
            // SAFETY: `record` is valid for writes of its length.
            let n = unsafe {
                libc::read(
                    self.kmsg.as_raw_fd(),
                    record.as_mut_ptr().cast(),
                    record.len(),
                )
            };
            if n < 0 {
                match cg::errno() {
                    libc::EAGAIN => break,
                    libc::EINTR => continue,
                    libc::EPIPE => {
                        self.reports.lines.push(
                            "(kernel log records were overwritten before they could be checked)"
                                .to_string(),
                        );
                        continue;
                    }
                    e => return Err(format!("reading /dev/kmsg: errno {e}")),
                }
            }
            let text = String::from_utf8_lossy(&record[..n as usize]);
            // "<prio>,<seq>,<usec>,<flags>;<message>", then " KEY=value" lines.
            let first = text.lines().next().unwrap_or_default();
            self.reports
                .add(first.split_once(';').map_or(first, |(_, m)| m));
        }
        let lines = std::mem::take(&mut self.reports.lines);
        ensure(lines.is_empty(), || {
            format!("the kernel log reports:\n{}", lines.join("\n"))
        })
    }
}

/// Text of a kernel log line that reports a kernel problem.
const PROBLEMS: &[&str] = &[
    "WARNING:",
    "BUG:",
    "Oops",
    "kernel BUG",
    "general protection",
    "Kernel panic",
    "Call Trace:",
    "RIP: ",
];

/// Lines of a stack dump that an allocation-failure report contains without
/// anything being wrong: the trace, and the user registers at the system
/// call it ends in.
const STACK_DUMP: &[&str] = &["Call Trace:", "RIP: "];

/// Lines of a problem's report kept after its first, for the stack.
const REPORT_LINES: usize = 40;

/// Kernel log messages sorted into reports of problems and the rest. An
/// allocation-failure report (warn_alloc(), which an injected fault without
/// __GFP_NOWARN causes) is not a problem, and neither is its stack dump.
#[derive(Default)]
struct ProblemReports {
    /// Inside the stack dump of an allocation-failure report, which ends
    /// with the " </TASK>" line closing the trace.
    in_allocation_failure: bool,
    /// Lines still to keep of the problem being reported.
    keep: usize,
    /// Allocation-failure reports seen (warn_alloc() allows one per 10 s).
    allocation_failures: u32,
    /// The problems' lines, with their stacks.
    lines: Vec<String>,
}

impl ProblemReports {
    fn add(&mut self, message: &str) {
        let ends_stack = message.trim() == "</TASK>";
        if is_allocation_failure_report(message) {
            self.in_allocation_failure = true;
            self.allocation_failures += 1;
            self.keep = 0;
        } else if self.in_allocation_failure && STACK_DUMP.iter().any(|s| message.contains(s)) {
            // Part of the allocation-failure report.
        } else if PROBLEMS.iter().any(|p| message.contains(p)) {
            // A new report: what follows belongs to it.
            self.in_allocation_failure = false;
            self.lines.push(message.to_string());
            self.keep = REPORT_LINES;
        } else if self.keep > 0 {
            self.lines.push(message.to_string());
            self.keep = if ends_stack { 0 } else { self.keep - 1 };
        }
        if ends_stack {
            self.in_allocation_failure = false;
        }
    }
}

/// The first line of warn_alloc()'s report, "<comm>: page allocation
/// failure: order:0, mode:0x...(...), nodemask=..." (or "vmalloc error:").
fn is_allocation_failure_report(message: &str) -> bool {
    (message.contains("page allocation failure: order:") || message.contains("vmalloc error: "))
        && message.contains(", mode:0x")
}

/// Fault injection set up for one test, with its kernel-log check; every
/// setting is restored when dropped.
struct Injection {
    fail_nth: FailNth,
    log: KernelLog,
    _console: QuietConsole,
    _settings: FaultSettings,
}

/// What one run of an operation with one injection point armed did.
struct Run {
    /// The armed point was reached: the fault was injected.
    injected: bool,
    /// The errno the operation failed with; `None` if it succeeded.
    errno: Option<i32>,
}

impl Injection {
    fn start() -> Result<Self, String> {
        let fail_nth = FailNth::open()?;
        let settings = FaultSettings::apply()?;
        let log = KernelLog::open()?;
        let console = QuietConsole::new()?;
        Ok(Injection {
            fail_nth,
            log,
            _console: console,
            _settings: settings,
        })
    }

    /// Calls `run_once(fail_nth, n)` for n = 1, 2, ... until a run does not
    /// reach its armed point: that run must succeed. A run that failed must
    /// have failed with one of the `clean` errnos. `run_once` checks the state
    /// the run left, undoes it and checks that nothing stays charged. Prints
    /// the number of injection points as a KTAP diagnostic.
    fn every_point(
        &mut self,
        op: &str,
        clean: &[i32],
        mut run_once: impl FnMut(&FailNth, u32) -> Result<Run, String>,
    ) -> TestResult {
        let start = Instant::now();
        let warm = run_once(&self.fail_nth, UNREACHED_POINT)
            .map_err(|e| format!("{op}, without a fault: {e}"))?;
        self.log.check()?;
        ensure(!warm.injected && warm.errno.is_none(), || {
            format!(
                "{op}, without a fault: {}",
                warm.errno
                    .map_or("reached 2^32-1 injection points".into(), describe)
            )
        })?;
        let (mut failed, mut recovered) = (0u32, 0u32);
        let allocation_failures_before = self.log.reports.allocation_failures;
        for n in 1..=MAX_POINTS {
            let at = |e: String| format!("{op}, fault at injection point {n}: {e}");
            let run = run_once(&self.fail_nth, n).map_err(at)?;
            self.log.check().map_err(at)?;
            match (run.injected, run.errno) {
                (false, None) => {
                    let points = n - 1;
                    let reports = self.log.reports.allocation_failures - allocation_failures_before;
                    println!(
                        "# faults: {op}: {points} injection points \
                         ({failed} failed cleanly, {recovered} recovered; \
                         {reports} allocation-failure reports logged; {:.1} s)",
                        start.elapsed().as_secs_f64()
                    );
                    return ensure(points > 0, || {
                        format!(
                            "{op}: no injection point at all: fault injection is not taking effect"
                        )
                    });
                }
                (false, Some(e)) => {
                    return Err(at(format!(
                        "the fault was not injected, and still it failed with {}",
                        describe(e)
                    )))
                }
                (true, None) => recovered += 1,
                (true, Some(e)) if clean.contains(&e) => failed += 1,
                (true, Some(e)) => {
                    return Err(at(format!(
                        "failed with {}, expected one of {}",
                        describe(e),
                        clean
                            .iter()
                            .map(|&c| describe(c))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
            }
        }
        Err(format!(
            "{op}: still reaching injection points after {MAX_POINTS} runs: raise the bound \
             or find why it does not converge"
        ))
    }

    /// The last check of the kernel log; restores every setting.
    fn finish(mut self) -> TestResult {
        self.log.check()
    }
}

fn describe(errno: i32) -> String {
    format!("errno {errno} ({})", io::Error::from_raw_os_error(errno))
}

/// The result of a system call that returns 0 or -1 and errno.
fn syscall_result(ret: libc::c_int) -> Result<(), i32> {
    if ret == 0 {
        Ok(())
    } else {
        Err(cg::errno())
    }
}

fn c_path(path: &Path) -> Result<CString, String> {
    CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())
}

/// Every `region.<...>=<number>` of `file` in cgroup `dir`, summed: all of
/// its usage in dev.current, all of its limit hits in dev.events.
fn sum_of(dir: &Path, file: &str) -> Result<u64, String> {
    let text = cg::read(dir.join(file))?;
    text.split_whitespace()
        .filter(|word| word.starts_with("region."))
        .map(|pair| {
            pair.split_once('=')
                .and_then(|(_, v)| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{}: bad pair {pair:?}", dir.join(file).display()))
        })
        .sum()
}

fn usage(dir: &Path) -> Result<u64, String> {
    sum_of(dir, "dev.current")
}

fn expect_no_usage(dir: &Path) -> TestResult {
    let used = usage(dir)?;
    ensure(used == 0, || {
        format!(
            "{} still has {used} bytes charged: {:?}",
            dir.display(),
            cg::read(dir.join("dev.current")).unwrap_or_default()
        )
    })
}

fn root_usage() -> Result<String, String> {
    cg::read(format!("{ROOT}/dev.current"))
}

/// The cgroups of one run: a fresh parent with dev enabled for its children
/// and a fresh worker below it that the operation runs in. Fresh every run,
/// because a pool, once created, would spare the next run that allocation
/// and shift the injection points past it.
struct Fresh {
    parent: Cgroup,
    worker: Cgroup,
}

impl Fresh {
    fn new() -> Result<Self, String> {
        let parent = Cgroup::new(ROOT, "faults")?;
        enable_dev(&parent.path)?;
        let worker = Cgroup::new(&parent.path, "worker")?;
        Ok(Fresh { parent, worker })
    }

    /// Checks that nothing stays charged to either cgroup and that neither
    /// counted a limit hit, removes both, and checks that the root's usage is
    /// back to `root_before`, which it would not be if a charge outlived its
    /// cgroup.
    fn remove(self, root_before: &str) -> TestResult {
        for cgroup in [&self.worker, &self.parent] {
            expect_no_usage(&cgroup.path)?;
            // Neither has a limit: a failed allocation is no limit hit.
            let hits = sum_of(&cgroup.path, "dev.events")?;
            ensure(hits == 0, || {
                format!(
                    "{} counts {hits} limit hits without a limit: {:?}",
                    cgroup.path.display(),
                    cgroup.read("dev.events").unwrap_or_default()
                )
            })?;
            std::fs::remove_dir(&cgroup.path)
                .map_err(|e| format!("rmdir {}: {e}", cgroup.path.display()))?;
        }
        let root_after = root_usage()?;
        ensure(root_after == root_before, || {
            format!("the root's dev.current went from {root_before:?} to {root_after:?}")
        })
    }
}

/// One assignment of a dev.max write.
struct Limit {
    device: String,
    region: String,
    bytes: u64,
}

/// A limit on every region dev.capacity lists, each a different number of
/// MiB, so that a limit applied to the wrong region reads back wrong.
fn limits_on_every_region() -> Result<Vec<Limit>, String> {
    let capacity = cg::read(format!("{ROOT}/dev.capacity"))?;
    let mut limits = Vec::new();
    for line in capacity.lines() {
        let mut words = line.split_whitespace();
        let Some(device) = words.next() else { continue };
        for pair in words {
            let region = pair
                .strip_prefix("region.")
                .and_then(|p| p.split_once('='))
                .map(|(region, _)| region)
                .ok_or_else(|| format!("dev.capacity: bad pair {pair:?}"))?;
            limits.push(Limit {
                device: device.to_string(),
                region: region.to_string(),
                bytes: (limits.len() as u64 + 1) << 20,
            });
        }
    }
    ensure(limits.len() >= 2, || {
        format!("dev.capacity lists fewer than two regions: {capacity:?}")
    })?;
    Ok(limits)
}

/// `limits` as one dev.max write, a line per device.
fn limits_text(limits: &[Limit]) -> String {
    let mut text = String::new();
    let mut device = None;
    for limit in limits {
        if device != Some(&limit.device) {
            if device.is_some() {
                text.push('\n');
            }
            text.push_str(&limit.device);
            device = Some(&limit.device);
        }
        text.push_str(&format!(" region.{}={}", limit.region, limit.bytes));
    }
    text.push('\n');
    text
}

fn expect_limits(dir: &Path, limits: &[Limit]) -> TestResult {
    let max = cg::read(dir.join("dev.max"))?;
    for limit in limits {
        let got = cg::value(&max, &limit.device, &format!("region.{}", limit.region));
        ensure(got == Some(limit.bytes.to_string()), || {
            format!(
                "{}: {} region.{} reads {got:?}, {} was written",
                dir.display(),
                limit.device,
                limit.region,
                limit.bytes
            )
        })?;
    }
    Ok(())
}

/// A limit on every region, written to a fresh cgroup's dev.max, which
/// creates a pool per region there and in its parent. A failed write must
/// leave dev.max (and the parent's) as it was; a successful one must have
/// applied every limit.
fn dev_max_write_creating_pools() -> TestResult {
    let mut injection = Injection::start()?;
    enable_dev(ROOT)?;
    let limits = limits_on_every_region()?;
    let text = limits_text(&limits);
    let root_before = root_usage()?;
    injection.every_point("dev.max write creating pools", &[ENOMEM], |fail_nth, n| {
        let fresh = Fresh::new()?;
        let run = {
            let _inside = Inside::new(&fresh.worker.path)?;
            let max = fresh.worker.file("dev.max");
            let before = cg::read(&max)?;
            let parent_before = fresh.parent.read("dev.max")?;
            let file = OpenOptions::new()
                .write(true)
                .open(&max)
                .map_err(|e| format!("open {}: {e}", max.display()))?;
            let (written, injected) = fail_nth.inject(n, || {
                // SAFETY: `text` is valid for reads of its length.
                let ret =
                    unsafe { libc::write(file.as_raw_fd(), text.as_ptr().cast(), text.len()) };
                if ret < 0 {
                    Err(cg::errno())
                } else {
                    Ok(ret as usize)
                }
            })?;
            match written {
                Ok(count) => {
                    ensure(count == text.len(), || {
                        format!("a short write: {count} of {} bytes", text.len())
                    })?;
                    expect_limits(&fresh.worker.path, &limits)?;
                }
                Err(e) => {
                    let after = cg::read(&max)?;
                    ensure(after == before, || {
                        format!(
                            "the write failed ({}) but dev.max changed from {before:?} to {after:?}",
                            describe(e)
                        )
                    })?;
                }
            }
            let parent_after = fresh.parent.read("dev.max")?;
            ensure(parent_after == parent_before, || {
                format!("the parent's dev.max changed from {parent_before:?} to {parent_after:?}")
            })?;
            Run {
                injected,
                errno: written.err(),
            }
        };
        fresh.remove(&root_before)?;
        Ok(run)
    })?;
    injection.finish()
}

/// 65 pages. CMA takes them in one piece; the system heap as four 64 KiB
/// chunks (order 4), which fall back to single pages when one fails, and a
/// single page, whose failure fails the allocation with a warn_alloc()
/// report (the heap asks for single pages without __GFP_NOWARN).
const HEAP_BUFFER: u64 = 256 * 1024 + 4096;

/// DMA_HEAP_IOCTL_ALLOC on an opened heap: either a buffer charged exactly
/// its size to the heap's region (and, for CMA, holding exactly that many
/// CMA pages), or an error with nothing charged or held.
fn heap_alloc(heap: &Heap) -> TestResult {
    let mut injection = Injection::start()?;
    enable_dev(ROOT)?;
    let root_before = root_usage()?;
    let is_cma = heap.name == CMA.name;
    let op = format!("{} heap allocation", heap.name);
    injection.every_point(&op, &[ENOMEM], |fail_nth, n| {
        let fresh = Fresh::new()?;
        let run = {
            let _inside = Inside::new(&fresh.worker.path)?;
            let worker = fresh.worker.path.as_path();
            let node = heap
                .open()
                .map_err(|e| format!("open the {} heap: {}", heap.name, describe(e)))?;
            let cma_before = cma_pages_in_use()?;
            let (buffer, injected) = fail_nth.inject(n, || heap.alloc_from(&node, HEAP_BUFFER))?;
            let charged = usage(worker)?;
            // Only the CMA heap takes CMA pages: the system heap's never move.
            let expect_cma_pages = |what: &str, pages: u64| -> TestResult {
                let now = cma_pages_in_use()?;
                ensure(!is_cma || now == cma_before + pages, || {
                    format!("{what}: {now} CMA pages in use, {cma_before} before")
                })
            };
            match &buffer {
                Ok(_) => {
                    heap.expect(worker, "dev.current", "", HEAP_BUFFER)?;
                    heap.expect(worker, "dev.stat", ".dma_heap", HEAP_BUFFER)?;
                    ensure(charged == HEAP_BUFFER, || {
                        format!("{charged} bytes charged in all for a {HEAP_BUFFER}-byte buffer")
                    })?;
                    expect_cma_pages("with the buffer", HEAP_BUFFER / 4096)?;
                }
                Err(e) => {
                    ensure(charged == 0, || {
                        format!(
                            "failed with {} but {charged} bytes stay charged",
                            describe(*e)
                        )
                    })?;
                    expect_cma_pages(&format!("failed with {}", describe(*e)), 0)?;
                }
            }
            let errno = buffer.as_ref().err().copied();
            drop(buffer);
            expect_no_usage(worker)?;
            expect_cma_pages("after freeing", 0)?;
            Run { injected, errno }
        };
        fresh.remove(&root_before)?;
        Ok(run)
    })?;
    injection.finish()
}

/// vb2 may grant fewer buffers than asked when an allocation fails partway,
/// but never fewer than vivid's capture queue minimum (min_reqbufs_allocation).
const VIVID_MIN_BUFFERS: u32 = 2;

/// VIDIOC_REQBUFS for MMAP buffers on vivid instance 0 (dma-contig): either
/// every granted buffer charged in full and able to stream, or an error
/// with nothing charged; nothing charged and no CMA page held once freed.
fn vivid_reqbufs_dma_contig() -> TestResult {
    const COUNT: u32 = 4;
    let mut injection = Injection::start()?;
    enable_dev(ROOT)?;
    let bytes = Capture::open(0)?.buffer_bytes()?;
    let root_before = root_usage()?;
    injection.every_point("vivid REQBUFS (MMAP, dma-contig)", &[ENOMEM], |fail_nth, n| {
        let fresh = Fresh::new()?;
        let run = {
            let _inside = Inside::new(&fresh.worker.path)?;
            let worker = fresh.worker.path.as_path();
            let capture = Capture::open(0)?;
            let cma_before = cma_pages_in_use()?;
            let (granted, injected) = fail_nth.inject(n, || capture.reqbufs(COUNT))?;
            let charged = usage(worker)?;
            match granted {
                Ok(count) => {
                    ensure((VIVID_MIN_BUFFERS..=COUNT).contains(&count), || {
                        format!("REQBUFS {COUNT} granted {count} buffers")
                    })?;
                    ensure(charged == u64::from(count) * bytes, || {
                        format!("{count} buffers of {bytes} bytes granted, {charged} bytes charged")
                    })?;
                    // dma-contig takes the buffers from CMA, or from the page
                    // allocator if CMA fails: whichever it was, each is
                    // charged to the region its memory is in.
                    let cma_held = cma_pages_in_use()?
                        .checked_sub(cma_before)
                        .ok_or("fewer CMA pages in use than before REQBUFS")?
                        * 4096;
                    let cma_charged = CMA.current(worker)?;
                    ensure(cma_charged == cma_held, || {
                        format!(
                            "the {count} buffers hold {cma_held} bytes of CMA, \
                             but {cma_charged} bytes are charged to it: {:?}",
                            cg::read(worker.join("dev.current")).unwrap_or_default()
                        )
                    })?;
                    capture.capture_one_frame(count)?;
                    capture
                        .reqbufs(0)
                        .map_err(|e| format!("REQBUFS 0: {}", describe(e)))?;
                }
                Err(e) => {
                    ensure(charged == 0, || {
                        format!("failed with {} but {charged} bytes stay charged", describe(e))
                    })?;
                    let cma_now = cma_pages_in_use()?;
                    ensure(cma_now == cma_before, || {
                        format!(
                            "failed with {} but CMA pages in use went from {cma_before} to {cma_now}",
                            describe(e)
                        )
                    })?;
                }
            }
            drop(capture);
            expect_no_usage(worker)?;
            let cma_after = cma_pages_in_use()?;
            ensure(cma_after == cma_before, || {
                format!("{cma_before} CMA pages in use before, {cma_after} after freeing")
            })?;
            Run {
                injected,
                errno: granted.err(),
            }
        };
        fresh.remove(&root_before)?;
        Ok(run)
    })?;
    injection.finish()
}

/// What an armed dumb-buffer-and-scanout run built before it stopped.
#[derive(Default)]
struct Built {
    handle: Option<u32>,
    fb_id: Option<u32>,
}

/// CREATE_DUMB, ADDFB2 and SETCRTC in turn, up to the first that fails:
/// what was built, and how it ended. System calls only: this runs armed.
fn build_and_scan_out(card: &Card) -> (Built, Result<(), i32>) {
    let mut built = Built::default();
    let mut steps = || {
        let (handle, pitch) = card.create_dumb()?;
        built.handle = Some(handle);
        let fb_id = card.add_framebuffer(handle, pitch)?;
        built.fb_id = Some(fb_id);
        card.scanout(&Framebuffer { handle, fb_id })
    };
    let result = steps();
    (built, result)
}

/// A dumb buffer, a framebuffer on it and its scanout on bochs: either the
/// buffer pinned in VRAM and charged exactly once, or an error with at most
/// the unpinned buffer still resident; nothing charged once removed.
fn bochs_dumb_buffer_scanout() -> TestResult {
    let mut injection = Injection::start()?;
    enable_dev(ROOT)?;
    let root_before = root_usage()?;
    injection.every_point(
        "bochs dumb buffer + scanout",
        &[ENOMEM, ENOSPC],
        |fail_nth, n| {
            let fresh = Fresh::new()?;
            let run = {
                let _inside = Inside::new(&fresh.worker.path)?;
                let worker = fresh.worker.path.as_path();
                let card = Card::open()?;
                let ((built, result), injected) =
                    fail_nth.inject(n, || build_and_scan_out(&card))?;
                let vram = kms::vram(worker, "dev.current", "")?;
                match result {
                    Ok(()) => ensure(vram == FB_BYTES, || {
                        format!("scanned out, but {vram} bytes of VRAM charged, not {FB_BYTES}")
                    })?,
                    // A pin that failed late leaves the buffer where it was
                    // moved, in VRAM, until evicted or freed.
                    Err(e) if built.fb_id.is_some() => {
                        ensure(vram == 0 || vram == FB_BYTES, || {
                            format!(
                                "SETCRTC failed with {} and left {vram} bytes of VRAM charged",
                                describe(e)
                            )
                        })?
                    }
                    Err(e) => ensure(vram == 0, || {
                        format!(
                            "no framebuffer was made ({}) but {vram} bytes of VRAM are charged",
                            describe(e)
                        )
                    })?,
                }
                if let Some(fb_id) = built.fb_id {
                    card.remove_framebuffer(fb_id)
                        .map_err(|e| format!("RMFB: {}", describe(e)))?;
                }
                if let Some(handle) = built.handle {
                    card.destroy_dumb(handle)
                        .map_err(|e| format!("DESTROY_DUMB: {}", describe(e)))?;
                }
                drop(card);
                expect_no_usage(worker)?;
                Run {
                    injected,
                    errno: result.err(),
                }
            };
            fresh.remove(&root_before)?;
            Ok(run)
        },
    )?;
    injection.finish()
}

/// mkdir of a cgroup below one with dev enabled: either a complete cgroup
/// whose dev files read the defaults, or an error and no directory at all.
fn cgroup_mkdir() -> TestResult {
    let mut injection = Injection::start()?;
    enable_dev(ROOT)?;
    let root_before = root_usage()?;
    injection.every_point("cgroup mkdir", &[ENOMEM], |fail_nth, n| {
        let fresh = Fresh::new()?;
        let made = fresh.parent.path.join("made");
        let made_c = c_path(&made)?;
        // The worker was made the same way and never configured.
        let default_max = fresh.worker.read("dev.max")?;
        let run = {
            let _inside = Inside::new(&fresh.worker.path)?;
            let (result, injected) = fail_nth.inject(n, || {
                // SAFETY: `made_c` is a NUL-terminated path.
                syscall_result(unsafe { libc::mkdir(made_c.as_ptr(), 0o755) })
            })?;
            match result {
                Ok(()) => {
                    let max = cg::read(made.join("dev.max"))?;
                    ensure(max == default_max, || {
                        format!("the new cgroup's dev.max reads {max:?}, not {default_max:?}")
                    })?;
                    expect_no_usage(&made)?;
                    std::fs::remove_dir(&made)
                        .map_err(|e| format!("rmdir {}: {e}", made.display()))?;
                }
                Err(e) => ensure(!made.exists(), || {
                    format!(
                        "mkdir failed with {} but left {}",
                        describe(e),
                        made.display()
                    )
                })?,
            }
            Run {
                injected,
                errno: result.err(),
            }
        };
        fresh.remove(&root_before)?;
        Ok(run)
    })?;
    injection.finish()
}

/// rmdir of a cgroup with a pool on every region (limits set): either gone,
/// or an error and the cgroup still there with its limits, and removable.
fn cgroup_rmdir() -> TestResult {
    let mut injection = Injection::start()?;
    enable_dev(ROOT)?;
    let limits = limits_on_every_region()?;
    let text = limits_text(&limits);
    let root_before = root_usage()?;
    injection.every_point("cgroup rmdir", &[ENOMEM], |fail_nth, n| {
        let fresh = Fresh::new()?;
        let doomed = Cgroup::new(&fresh.parent.path, "doomed")?;
        cg::set(doomed.file("dev.max"), &text)?;
        let doomed_c = c_path(&doomed.path)?;
        let run = {
            let _inside = Inside::new(&fresh.worker.path)?;
            let (result, injected) = fail_nth.inject(n, || {
                // SAFETY: `doomed_c` is a NUL-terminated path.
                syscall_result(unsafe { libc::rmdir(doomed_c.as_ptr()) })
            })?;
            match result {
                Ok(()) => ensure(!doomed.path.exists(), || {
                    format!(
                        "rmdir succeeded but {} is still there",
                        doomed.path.display()
                    )
                })?,
                Err(e) => {
                    ensure(doomed.path.exists(), || {
                        format!("rmdir failed with {} but the cgroup is gone", describe(e))
                    })?;
                    expect_limits(&doomed.path, &limits)?;
                    std::fs::remove_dir(&doomed.path).map_err(|e| {
                        format!("rmdir {} after the failed one: {e}", doomed.path.display())
                    })?;
                }
            }
            Run {
                injected,
                errno: result.err(),
            }
        };
        drop(doomed);
        fresh.remove(&root_before)?;
        Ok(run)
    })?;
    injection.finish()
}

#[cfg(test)]
mod tests {
    use super::ProblemReports;

    /// warn_alloc()'s report, as 6.12 prints it for an order-0 page failed
    /// in a system call (stack shortened, memory report cut).
    const ALLOCATION_FAILURE: &[&str] = &[
        "devcg-e2e: page allocation failure: order:0, mode:0x140dc2(GFP_HIGHUSER|__GFP_COMP|__GFP_ZERO), nodemask=(null),cpuset=/,mems_allowed=0",
        "CPU: 1 UID: 0 PID: 71 Comm: devcg-e2e Not tainted 6.12.57 #1",
        "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014",
        "Call Trace:",
        " <TASK>",
        " dump_stack_lvl+0x5d/0x80",
        " warn_alloc+0x15d/0x1c0",
        " __alloc_pages_noprof+0x10c4/0x1170",
        " system_heap_allocate+0x1b4/0x4b0",
        " dma_heap_ioctl+0x1d1/0x2f0",
        " do_syscall_64+0x82/0x190",
        " entry_SYSCALL_64_after_hwframe+0x76/0x7e",
        "RIP: 0033:0x4a5b3b",
        "Code: 00 48 89 44 24 18 31 c0 48 8d 44 24 60 c7 04 24 10 00 00 00",
        "RSP: 002b:00007ffd2b5a1f40 EFLAGS: 00000246 ORIG_RAX: 0000000000000010",
        " </TASK>",
        "Mem-Info:",
        "active_anon:0 inactive_anon:0 isolated_anon:0",
    ];

    const WARNING: &[&str] = &[
        "------------[ cut here ]------------",
        "WARNING: CPU: 0 PID: 71 at kernel/cgroup/dev/src/core/pool.rs:123 devcg_uncharge+0x42/0x50",
        "Modules linked in:",
        "RIP: 0010:devcg_uncharge+0x42/0x50",
        "Call Trace:",
        " <TASK>",
        " dma_buf_release+0x3a/0x90",
        " </TASK>",
        "---[ end trace 0000000000000000 ]---",
        "cma: cma_alloc: reserved: alloc failed, req-size: 64 pages, ret: -12",
    ];

    fn reported(messages: &[&str]) -> Vec<String> {
        let mut reports = ProblemReports::default();
        for message in messages {
            reports.add(message);
        }
        reports.lines
    }

    #[test]
    fn allocation_failure_report_is_not_a_problem() {
        let mut reports = ProblemReports::default();
        for message in ALLOCATION_FAILURE {
            reports.add(message);
        }
        assert_eq!(reports.lines, Vec::<String>::new());
        assert_eq!(reports.allocation_failures, 1);
    }

    #[test]
    fn warning_is_reported_with_its_stack() {
        let lines = reported(WARNING);
        assert_eq!(lines.first().map(String::as_str), Some(WARNING[1]));
        assert!(lines.iter().any(|l| l.contains("dma_buf_release")));
        // The report ends with its stack: a later, harmless line is not in it.
        assert!(!lines.iter().any(|l| l.contains("cma_alloc")));
    }

    #[test]
    fn warning_after_an_allocation_failure_is_reported() {
        let mut messages = ALLOCATION_FAILURE.to_vec();
        messages.extend(WARNING);
        assert_eq!(reported(&messages), reported(WARNING));
        // Also when it interrupts the allocation failure's stack dump.
        let mut interrupted = ALLOCATION_FAILURE[..6].to_vec();
        interrupted.extend(WARNING);
        assert_eq!(reported(&interrupted), reported(WARNING));
    }

    #[test]
    fn stack_dump_outside_an_allocation_failure_is_reported() {
        let stack = &ALLOCATION_FAILURE[1..];
        let lines = reported(stack);
        assert!(lines.iter().any(|l| l == "Call Trace:"));
        assert!(lines.iter().any(|l| l.starts_with("RIP: ")));
    }
}
