// SPDX-License-Identifier: GPL-2.0

//! dma-buf heaps charged through the real `DMA_HEAP_IOCTL_ALLOC` on
//! `/dev/dma_heap/*`: limits, hierarchy, buffers outliving their allocator and
//! its cgroup, notifications, and the kernel's own dmabuf-heaps selftest.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::Command;

use crate::cg::{self, enable_dev, ensure, errno, set, Cgroup, ROOT};
use crate::{Test, TestResult};

const ENOMEM: i32 = libc::ENOMEM;
const K: u64 = 1024;
const M: u64 = 1024 * 1024;
const PAGE: u64 = 4096;

/// `_IOWR('H', 0x0, struct dma_heap_allocation_data)` from `<linux/dma-heap.h>`.
const DMA_HEAP_IOCTL_ALLOC: libc::c_ulong = 0xC018_4800;

#[repr(C)]
struct DmaHeapAllocationData {
    len: u64,
    fd: u32,
    fd_flags: u32,
    heap_flags: u64,
}

/// A dma-buf heap and the region its buffers are charged to.
pub struct Heap {
    pub name: &'static str,
    pub device: &'static str,
    pub region: &'static str,
}

pub const SYSTEM: Heap = Heap {
    name: "system",
    device: "system",
    region: "region.ram",
};

/// The CMA heap of the default area (`cma=64M` on the guest's command line).
pub const CMA: Heap = Heap {
    name: "reserved",
    device: "cma",
    region: "region.reserved",
};

impl Heap {
    /// The heap of a command line: `system` or `reserved` (the CMA heap).
    fn named(name: &str) -> Option<&'static Heap> {
        match name {
            "system" => Some(&SYSTEM),
            "reserved" => Some(&CMA),
            _ => None,
        }
    }

    fn path(&self) -> String {
        format!("/dev/dma_heap/{}", self.name)
    }

    /// Opens the heap's device node; the errno on failure.
    pub(crate) fn open(&self) -> Result<File, i32> {
        File::open(self.path()).map_err(|e| e.raw_os_error().unwrap_or(-1))
    }

    /// Allocates a buffer of `len` bytes; the errno on failure.
    pub fn alloc(&self, len: u64) -> Result<OwnedFd, i32> {
        self.alloc_from(&self.open()?, len)
    }

    /// Allocates a buffer of `len` bytes through `heap`, this heap's node
    /// opened with [`Heap::open`]: the ioctl alone, no other system call.
    pub(crate) fn alloc_from(&self, heap: &File, len: u64) -> Result<OwnedFd, i32> {
        let mut data = DmaHeapAllocationData {
            len,
            fd: 0,
            fd_flags: (libc::O_RDWR | libc::O_CLOEXEC) as u32,
            heap_flags: 0,
        };
        // SAFETY: `data` is the ioctl's argument structure, valid for the call.
        let ret = unsafe { libc::ioctl(heap.as_raw_fd(), DMA_HEAP_IOCTL_ALLOC, &mut data) };
        if ret < 0 {
            return Err(errno());
        }
        // SAFETY: the ioctl returned a new dma-buf fd that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(data.fd as RawFd) })
    }

    /// Like [`Heap::alloc`], failing the test on error.
    pub(crate) fn must_alloc(&self, len: u64) -> Result<OwnedFd, String> {
        self.alloc(len).map_err(|e| {
            format!(
                "{} heap: allocating {len} bytes failed with errno {e}",
                self.name
            )
        })
    }

    /// This heap's region in `file` (dev.current, dev.max...) of cgroup `dir`.
    pub(crate) fn value_in(&self, dir: &Path, file: &str, suffix: &str) -> Result<u64, String> {
        let text = cg::read(dir.join(file))?;
        let key = format!("{}{suffix}", self.region);
        let v = cg::value(&text, self.device, &key).ok_or_else(|| {
            format!(
                "{}: no {} {key} in {text:?}",
                dir.join(file).display(),
                self.device
            )
        })?;
        v.parse()
            .map_err(|_| format!("{}: {key}={v} is not a number", dir.join(file).display()))
    }

    pub(crate) fn current(&self, dir: &Path) -> Result<u64, String> {
        self.value_in(dir, "dev.current", "")
    }

    pub(crate) fn expect(&self, dir: &Path, file: &str, suffix: &str, want: u64) -> TestResult {
        let got = self.value_in(dir, file, suffix)?;
        ensure(got == want, || {
            format!(
                "{}: {} {}{suffix} is {got}, expected {want}",
                dir.join(file).display(),
                self.device,
                self.region
            )
        })
    }

    pub(crate) fn set_max(&self, dir: &Path, value: &str) -> TestResult {
        set(
            dir.join("dev.max"),
            &format!("{} {}={value}", self.device, self.region),
        )
    }
}

/// Moves this process into `dir`; back to the root when dropped.
pub(crate) struct Inside;

impl Inside {
    pub(crate) fn new(dir: &Path) -> Result<Self, String> {
        set(dir.join("cgroup.procs"), "0")?;
        Ok(Inside)
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        let _ = cg::write(format!("{ROOT}/cgroup.procs"), "0");
    }
}

fn root() -> &'static Path {
    Path::new(ROOT)
}

pub fn tests() -> Vec<Test> {
    vec![
        Test {
            name: "memory_and_dev_on_the_same_subtree",
            run: memory_and_dev_on_the_same_subtree,
        },
        Test {
            name: "heaps_present",
            run: heaps_present,
        },
        Test {
            name: "system_heap_limit_refuses_with_enomem",
            run: || limit_refuses_with_enomem(&SYSTEM),
        },
        Test {
            name: "cma_heap_limit_refuses_with_enomem",
            run: || limit_refuses_with_enomem(&CMA),
        },
        Test {
            name: "siblings_share_parent_limit",
            run: siblings_share_parent_limit,
        },
        Test {
            name: "deep_cgroups_are_charged_at_every_level",
            run: deep_cgroups_are_charged_at_every_level,
        },
        Test {
            name: "moving_task_does_not_move_charge",
            run: moving_task_does_not_move_charge,
        },
        Test {
            name: "peak_reset_is_per_descriptor",
            run: peak_reset_is_per_descriptor,
        },
        Test {
            name: "fd_passed_to_another_process_keeps_charge",
            run: fd_passed_to_another_process_keeps_charge,
        },
        Test {
            name: "limit_hit_wakes_poll_and_inotify",
            run: limit_hit_wakes_poll_and_inotify,
        },
        Test {
            name: "kernel_selftest_dmabuf_heaps",
            run: kernel_selftest_dmabuf_heaps,
        },
        Test {
            name: "no_heap_charge_left",
            run: no_heap_charge_left,
        },
    ]
}

fn heaps_present() -> TestResult {
    for heap in [&SYSTEM, &CMA] {
        ensure(Path::new(&heap.path()).exists(), || {
            format!("{} is missing", heap.path())
        })?;
    }
    Ok(())
}

/// A counter of the default CMA area (CONFIG_CMA_SYSFS): exact, unaffected
/// by per-CPU free lists.
fn cma_counter(name: &str) -> Result<u64, String> {
    let path = format!("/sys/kernel/mm/cma/reserved/{name}");
    cg::read(&path)?
        .trim()
        .parse::<u64>()
        .map_err(|e| format!("{path}: {e}"))
}

/// Pages of the default CMA area currently handed out.
pub(crate) fn cma_pages_in_use() -> Result<u64, String> {
    Ok(cma_counter("alloc_pages_success")? - cma_counter("release_pages_success")?)
}

/// Pages ever handed out by the default CMA area: a refusal that took CMA
/// pages and gave them back still moves it.
pub(crate) fn cma_pages_ever_taken() -> Result<u64, String> {
    cma_counter("alloc_pages_success")
}

/// Pages ever handed out by the page allocator, all zones (`pgalloc_*` in
/// /proc/vmstat: per-CPU event counters, summed exactly on read).
pub(crate) fn pages_ever_allocated() -> Result<u64, String> {
    let vmstat = cg::read("/proc/vmstat")?;
    let mut total = 0;
    for line in vmstat.lines().filter(|l| l.starts_with("pgalloc_")) {
        let value = line.split_whitespace().nth(1).unwrap_or("");
        total += value
            .parse::<u64>()
            .map_err(|e| format!("/proc/vmstat {line:?}: {e}"))?;
    }
    ensure(total > 0, || "no pgalloc_ counters in /proc/vmstat".into())?;
    Ok(total)
}

impl Heap {
    /// Pages this heap's allocator has ever handed out: the CMA area's
    /// counter, or the page allocator's. The latter also moves with any
    /// allocation the test itself makes (a few pages), never by a buffer's
    /// worth unless the buffer was allocated.
    pub(crate) fn pages_ever_taken(&self) -> Result<u64, String> {
        if self.device == CMA.device {
            cma_pages_ever_taken()
        } else {
            pages_ever_allocated()
        }
    }
}

/// Fills a 1M limit exactly (page-rounded sizes), is refused with ENOMEM
/// without allocating, counts the refusals, and gives everything back.
fn limit_refuses_with_enomem(heap: &Heap) -> TestResult {
    let root_before = heap.current(root())?;
    enable_dev(ROOT)?;
    let cg = Cgroup::new(ROOT, "heap_limit")?;
    heap.set_max(&cg.path, "1M")?;
    let mut buffers = Vec::new();
    {
        let _inside = Inside::new(&cg.path)?;
        // The heaps round to whole pages.
        buffers.push(heap.must_alloc(1000)?);
        heap.expect(&cg.path, "dev.current", "", PAGE)?;
        for _ in 0..3 {
            buffers.push(heap.must_alloc(256 * K)?);
        }
        let used = PAGE + 3 * 256 * K;
        heap.expect(&cg.path, "dev.current", "", used)?;
        let taken_before = heap.pages_ever_taken()?;
        match heap.alloc(256 * K) {
            Err(ENOMEM) => {}
            other => return Err(format!("over the limit: expected ENOMEM, got {other:?}")),
        }
        // The heaps charge before they allocate: a refusal takes no buffer
        // pages at all (256K is 64 pages; the ioctl itself takes a few).
        let taken = heap.pages_ever_taken()? - taken_before;
        ensure(taken < 256 * K / PAGE, || {
            format!(
                "a refused 256K allocation took {taken} pages from the {} heap's allocator",
                heap.name
            )
        })?;
        heap.expect(&cg.path, "dev.current", "", used)?;
        // Exactly up to the limit is allowed, and the counter above does see
        // a buffer's pages when they are taken.
        let taken_before = heap.pages_ever_taken()?;
        buffers.push(heap.must_alloc(M - used)?);
        let taken = heap.pages_ever_taken()? - taken_before;
        ensure(taken >= (M - used) / PAGE, || {
            format!("{} pages counted for a {} byte buffer", taken, M - used)
        })?;
        heap.expect(&cg.path, "dev.current", "", M)?;
        ensure(heap.alloc(1).err() == Some(ENOMEM), || {
            "a page over a full limit was not refused".into()
        })?;
    }
    heap.expect(&cg.path, "dev.events", ".max", 2)?;
    heap.expect(&cg.path, "dev.events.local", ".max", 2)?;
    heap.expect(&cg.path, "dev.stat", ".dma_heap", M)?;
    heap.expect(&cg.path, "dev.stat", ".drm", 0)?;
    heap.expect(&cg.path, "dev.peak", "", M)?;
    heap.expect(root(), "dev.current", "", root_before + M)?;
    drop(buffers);
    heap.expect(&cg.path, "dev.current", "", 0)?;
    heap.expect(&cg.path, "dev.stat", ".dma_heap", 0)?;
    heap.expect(root(), "dev.current", "", root_before)
}

/// Two siblings under a limited parent share its limit; freeing in one lets
/// the other allocate. The refusal counts at the parent, whose limit was hit.
fn siblings_share_parent_limit() -> TestResult {
    let heap = &SYSTEM;
    enable_dev(ROOT)?;
    let parent = Cgroup::new(ROOT, "heap_parent")?;
    heap.set_max(&parent.path, "1M")?;
    enable_dev(&parent.path)?;
    let a = Cgroup::new(&parent.path, "a")?;
    let b = Cgroup::new(&parent.path, "b")?;
    let in_a = {
        let _inside = Inside::new(&a.path)?;
        heap.must_alloc(768 * K)?
    };
    let in_b = {
        let _inside = Inside::new(&b.path)?;
        ensure(heap.alloc(512 * K).err() == Some(ENOMEM), || {
            "b allocated past the parent's limit".into()
        })?;
        heap.must_alloc(256 * K)?
    };
    heap.expect(&parent.path, "dev.current", "", M)?;
    heap.expect(&a.path, "dev.current", "", 768 * K)?;
    heap.expect(&b.path, "dev.current", "", 256 * K)?;
    heap.expect(&parent.path, "dev.events", ".max", 1)?;
    heap.expect(&parent.path, "dev.events.local", ".max", 1)?;
    heap.expect(&b.path, "dev.events", ".max", 0)?;
    drop(in_a);
    let more_in_b = {
        let _inside = Inside::new(&b.path)?;
        heap.must_alloc(512 * K)?
    };
    heap.expect(&parent.path, "dev.current", "", 768 * K)?;
    drop((in_b, more_in_b));
    heap.expect(&parent.path, "dev.current", "", 0)
}

/// A chain of cgroups deeper than the lines the controller keeps (16 levels:
/// a deeper pool's charge finds its levels through their parents instead):
/// charges at level 20 and in a leaf at level 16 reach every level up, a
/// limit at level 5 refuses both, and everything is uncharged at every
/// level.
fn deep_cgroups_are_charged_at_every_level() -> TestResult {
    const DEPTH: usize = 20;
    let heap = &SYSTEM;
    enable_dev(ROOT)?;
    let mut chain: Vec<Cgroup> = Vec::new();
    for level in 1..=DEPTH {
        let parent = chain
            .last()
            .map_or_else(|| root().to_path_buf(), |c| c.path.clone());
        if level > 1 {
            enable_dev(&parent)?;
        }
        chain.push(Cgroup::new(&parent, &format!("deep{level}"))?);
    }
    let at = |level: usize| chain[level - 1].path.as_path();
    heap.set_max(at(5), "1M")?;
    let deepest = {
        let _inside = Inside::new(at(DEPTH))?;
        let buffer = heap.must_alloc(768 * K)?;
        ensure(heap.alloc(512 * K).err() == Some(ENOMEM), || {
            format!("level {DEPTH} allocated past the limit at level 5")
        })?;
        buffer
    };
    let side = Cgroup::new(at(15), "side")?;
    let in_16 = {
        let _inside = Inside::new(&side.path)?;
        ensure(heap.alloc(512 * K).err() == Some(ENOMEM), || {
            "level 16 allocated past the limit at level 5".into()
        })?;
        heap.must_alloc(256 * K)?
    };
    for level in 1..=DEPTH {
        let want = if level <= 15 { M } else { 768 * K };
        heap.expect(at(level), "dev.current", "", want)?;
    }
    heap.expect(&side.path, "dev.current", "", 256 * K)?;
    heap.expect(at(5), "dev.events.local", ".max", 2)?;
    drop((deepest, in_16));
    for level in 1..=DEPTH {
        heap.expect(at(level), "dev.current", "", 0)?;
    }
    heap.expect(&side.path, "dev.current", "", 0)
}

/// A charge stays with the cgroup that allocated, wherever the task goes.
/// `dev.peak` opened for reading and writing, read from the start each time.
struct PeakFile(File);

impl PeakFile {
    fn open(dir: &Path) -> Result<Self, String> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join("dev.peak"))
            .map(PeakFile)
            .map_err(|e| format!("open {}/dev.peak: {e}", dir.display()))
    }

    fn read(&mut self, heap: &Heap) -> Result<u64, String> {
        let mut text = String::new();
        self.0
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.0.read_to_string(&mut text))
            .map_err(|e| format!("read dev.peak: {e}"))?;
        let v = cg::value(&text, heap.device, heap.region)
            .ok_or_else(|| format!("no {} {} in dev.peak: {text:?}", heap.device, heap.region))?;
        v.parse()
            .map_err(|_| format!("dev.peak: {v} is not a number"))
    }

    fn reset(&mut self) -> TestResult {
        self.0
            .write_all(b"reset\n")
            .map_err(|e| format!("write dev.peak: {e}"))
    }
}

/// `dev.peak` as `memory.peak` since 6.12: a write resets the peak for
/// reads through that descriptor only; other descriptors and new opens keep
/// theirs. A descriptor also keeps a peak reached between its own reset and
/// another's (where `memory.peak` would forget it).
fn peak_reset_is_per_descriptor() -> TestResult {
    let heap = &SYSTEM;
    enable_dev(ROOT)?;
    let cg = Cgroup::new(ROOT, "heap_peak_fds")?;
    let _inside = Inside::new(&cg.path)?;
    let first = heap.must_alloc(256 * K)?;
    let second = heap.must_alloc(128 * K)?;
    let (mut a, mut b) = (PeakFile::open(&cg.path)?, PeakFile::open(&cg.path)?);
    drop(second);
    let expect = |what: &str, got: u64, want: u64| {
        ensure(got == want, || {
            format!("{what}: dev.peak {got}, expected {want}")
        })
    };
    a.reset()?;
    expect("a after its reset", a.read(heap)?, 256 * K)?;
    expect("b", b.read(heap)?, 384 * K)?;
    expect("a new open", PeakFile::open(&cg.path)?.read(heap)?, 384 * K)?;
    let third = heap.must_alloc(64 * K)?;
    drop(third);
    expect("a after 64K more", a.read(heap)?, 320 * K)?;
    b.reset()?;
    expect("b after its reset", b.read(heap)?, 256 * K)?;
    expect("a after b's reset", a.read(heap)?, 320 * K)?;
    expect("a new open", PeakFile::open(&cg.path)?.read(heap)?, 384 * K)?;
    drop((a, b));
    drop(first);
    expect(
        "after close",
        PeakFile::open(&cg.path)?.read(heap)?,
        384 * K,
    )
}

fn moving_task_does_not_move_charge() -> TestResult {
    let heap = &SYSTEM;
    enable_dev(ROOT)?;
    let a = Cgroup::new(ROOT, "heap_move_a")?;
    let b = Cgroup::new(ROOT, "heap_move_b")?;
    let first = {
        let _inside = Inside::new(&a.path)?;
        heap.must_alloc(256 * K)?
    };
    let _inside = Inside::new(&b.path)?;
    heap.expect(&a.path, "dev.current", "", 256 * K)?;
    heap.expect(&b.path, "dev.current", "", 0)?;
    let second = heap.must_alloc(4 * K)?;
    drop(first); // freed by a task now in b
    heap.expect(&a.path, "dev.current", "", 0)?;
    heap.expect(&b.path, "dev.current", "", 4 * K)?;
    drop(second);
    heap.expect(&b.path, "dev.current", "", 0)
}

/// Calls `f` with a one-byte message whose control buffer has room for one
/// fd, the layout send_fd() and recv_fd() share.
fn with_fd_message<R>(f: impl FnOnce(&mut libc::msghdr) -> R) -> R {
    let mut byte = [0u8; 1];
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(mem::size_of::<RawFd>() as u32) } as usize;
    let mut control = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: msghdr is a plain C structure for which all zeroes is valid.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // `msg` points at `byte`, `iov` and `control`, which outlive the call.
    f(&mut msg)
}

/// A connected pair of unix stream sockets, for passing fds between processes.
pub(crate) fn socket_pair() -> Result<(OwnedFd, OwnedFd), String> {
    let mut socks = [0; 2];
    // SAFETY: `socks` has room for the two fds.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            socks.as_mut_ptr(),
        )
    } != 0
    {
        return Err(format!("socketpair: errno {}", errno()));
    }
    // SAFETY: socketpair() returned two new fds that we own.
    Ok(unsafe {
        (
            OwnedFd::from_raw_fd(socks[0]),
            OwnedFd::from_raw_fd(socks[1]),
        )
    })
}

/// Sends `fd` over a unix socket with SCM_RIGHTS.
pub(crate) fn send_fd(sock: RawFd, fd: RawFd) -> Result<(), i32> {
    with_fd_message(|msg| {
        // SAFETY: `msg` has room for one SCM_RIGHTS header and fd, filled as
        // cmsg(3) describes; its buffers live for the whole call.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(mem::size_of::<RawFd>() as u32) as usize;
            libc::CMSG_DATA(cmsg).cast::<RawFd>().write_unaligned(fd);
            if libc::sendmsg(sock, msg, 0) != 1 {
                return Err(errno());
            }
        }
        Ok(())
    })
}

/// Receives one fd sent with [`send_fd`].
pub(crate) fn recv_fd(sock: RawFd) -> Result<OwnedFd, String> {
    with_fd_message(|msg| {
        // SAFETY: as in send_fd; the received fd is new and owned by us.
        unsafe {
            if libc::recvmsg(sock, msg, libc::MSG_CMSG_CLOEXEC) != 1 {
                return Err(format!("recvmsg: errno {}", errno()));
            }
            let cmsg = libc::CMSG_FIRSTHDR(msg);
            if cmsg.is_null() || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
                return Err("no fd received".into());
            }
            Ok(OwnedFd::from_raw_fd(
                libc::CMSG_DATA(cmsg).cast::<RawFd>().read_unaligned(),
            ))
        }
    })
}

/// A buffer allocated by a process that then exits, passed to us over a unix
/// socket, stays charged to the allocator's cgroup until our last close, also
/// after that cgroup is removed (its parent keeps counting it).
fn fd_passed_to_another_process_keeps_charge() -> TestResult {
    let heap = &SYSTEM;
    enable_dev(ROOT)?;
    let parent = Cgroup::new(ROOT, "heap_pass")?;
    enable_dev(&parent.path)?;
    let allocator_cg = Cgroup::new(&parent.path, "allocator")?;
    let root_before = heap.current(root())?;
    let (ours, theirs) = socket_pair()?;
    // SAFETY: this program is single-threaded, so the child may run anything.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: errno {}", errno()));
    }
    if pid == 0 {
        // The allocator: join its cgroup, allocate, send the buffer, exit.
        let ok = set(allocator_cg.file("cgroup.procs"), "0").is_ok()
            && heap
                .alloc(512 * K)
                .is_ok_and(|buf| send_fd(theirs.as_raw_fd(), buf.as_raw_fd()).is_ok());
        // SAFETY: leaves the child without running the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    drop(theirs);
    let received = recv_fd(ours.as_raw_fd());
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is writable.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let buffer = received?;
    ensure(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        || format!("allocator process failed (status {status:#x})"),
    )?;
    heap.expect(&allocator_cg.path, "dev.current", "", 512 * K)?;
    heap.expect(&parent.path, "dev.current", "", 512 * K)?;
    // The allocator has exited: its cgroup can go, the charge stays counted above.
    fs::remove_dir(&allocator_cg.path).map_err(|e| format!("rmdir allocator cgroup: {e}"))?;
    heap.expect(&parent.path, "dev.current", "", 512 * K)?;
    heap.expect(root(), "dev.current", "", root_before + 512 * K)?;
    drop(buffer);
    heap.expect(&parent.path, "dev.current", "", 0)?;
    heap.expect(root(), "dev.current", "", root_before)
}

/// A refused charge wakes poll(POLLPRI) on dev.events and inotify watchers.
fn limit_hit_wakes_poll_and_inotify() -> TestResult {
    let heap = &SYSTEM;
    enable_dev(ROOT)?;
    let cg = Cgroup::new(ROOT, "heap_notify")?;
    heap.set_max(&cg.path, "64K")?;
    let events = cg.file("dev.events");
    let mut opened = OpenOptions::new()
        .read(true)
        .open(&events)
        .map_err(|e| format!("open {}: {e}", events.display()))?;
    let mut text = String::new();
    opened
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    // SAFETY: no preconditions.
    let inotify = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    ensure(inotify >= 0, || format!("inotify_init1: errno {}", errno()))?;
    // SAFETY: inotify_init1() returned a new fd that we own.
    let inotify = unsafe { OwnedFd::from_raw_fd(inotify) };
    let path =
        std::ffi::CString::new(events.to_string_lossy().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: `path` is a NUL-terminated string.
    let watch =
        unsafe { libc::inotify_add_watch(inotify.as_raw_fd(), path.as_ptr(), libc::IN_MODIFY) };
    ensure(watch >= 0, || {
        format!("inotify_add_watch: errno {}", errno())
    })?;
    {
        let _inside = Inside::new(&cg.path)?;
        ensure(heap.alloc(128 * K).err() == Some(ENOMEM), || {
            "allocation over 64K was not refused".into()
        })?;
    }
    let mut fds = [
        libc::pollfd {
            fd: opened.as_raw_fd(),
            events: libc::POLLPRI,
            revents: 0,
        },
        libc::pollfd {
            fd: inotify.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // Both wake-ups come within a few jiffies (cgroup_file_notify rate-limits); allow 10 s.
    // A descriptor that has fired is set to -1, which poll() skips.
    let (mut polled, mut notified) = (false, false);
    for _ in 0..100 {
        // SAFETY: `fds` holds two valid pollfd entries.
        unsafe { libc::poll(fds.as_mut_ptr(), 2, 100) };
        if fds[0].revents & libc::POLLPRI != 0 {
            polled = true;
            fds[0].fd = -1;
        }
        if fds[1].revents & libc::POLLIN != 0 {
            notified = true;
            fds[1].fd = -1;
        }
        if polled && notified {
            break;
        }
    }
    ensure(polled, || "poll(POLLPRI) on dev.events did not wake".into())?;
    ensure(notified, || {
        "inotify IN_MODIFY on dev.events did not arrive".into()
    })?;
    heap.expect(&cg.path, "dev.events", ".max", 1)
}

/// tools/testing/selftests/dmabuf-heaps, built by scripts/initramfs.sh, run in
/// a cgroup whose limits it stays under, so every buffer it takes is charged.
fn kernel_selftest_dmabuf_heaps() -> TestResult {
    let bin = "/usr/bin/dmabuf-heap";
    ensure(Path::new(bin).exists(), || {
        format!("{bin} missing from the initramfs")
    })?;
    enable_dev(ROOT)?;
    let cg = Cgroup::new(ROOT, "heap_selftest")?;
    for heap in [&SYSTEM, &CMA] {
        heap.set_max(&cg.path, "48M")?;
    }
    let output = {
        let _inside = Inside::new(&cg.path)?;
        Command::new(bin)
            .output()
            .map_err(|e| format!("run {bin}: {e}"))?
    };
    let log = String::from_utf8_lossy(&output.stdout);
    let peak_system = SYSTEM.value_in(&cg.path, "dev.peak", "")?;
    let peak_cma = CMA.value_in(&cg.path, "dev.peak", "")?;
    ensure(output.status.success(), || {
        format!("{bin} failed ({}):\n{log}", output.status)
    })?;
    let totals = log.lines().find(|l| l.starts_with("# Totals: pass:"));
    let totals = totals.ok_or_else(|| format!("no kselftest totals:\n{log}"))?;
    println!("# dmabuf-heap selftest {}", totals.trim_start_matches("# "));
    ensure(totals.contains(" fail:0 "), || {
        format!("kselftest failures:\n{log}")
    })?;
    ensure(peak_system > 0 && peak_cma > 0, || {
        format!("selftest buffers were not charged: peak system {peak_system}, cma {peak_cma}")
    })?;
    for heap in [&SYSTEM, &CMA] {
        heap.expect(&cg.path, "dev.current", "", 0)?;
    }
    Ok(())
}

/// Nothing else in the guest allocates from the heaps: once every test has
/// freed its buffers, the root's usage of both heap regions is 0.
fn no_heap_charge_left() -> TestResult {
    for heap in [&SYSTEM, &CMA] {
        heap.expect(root(), "dev.current", "", 0)?;
    }
    Ok(())
}

/// `devcg-e2e heap-alloc <heap> <size> <count> [cgroup] [-- command...]`:
/// for the demo. Allocates up to `count` buffers, printing each outcome, then
/// the cgroup's dev.current and dev.events while the buffers are held, runs
/// `command` (if any) while still holding them, then frees them.
pub fn cli(args: &[String]) -> i32 {
    let (args, then) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let [heap, size, count, rest @ ..] = args else {
        eprintln!("usage: devcg-e2e heap-alloc <system|reserved> <bytes> <count> [cgroup dir] [-- command...]");
        return 2;
    };
    let Some(heap) = Heap::named(heap) else {
        eprintln!("unknown heap {heap}");
        return 2;
    };
    let (Ok(size), Ok(count)) = (size.parse::<u64>(), count.parse::<u32>()) else {
        eprintln!("size and count must be numbers");
        return 2;
    };
    let mut held = Vec::new();
    for i in 1..=count {
        match heap.alloc(size) {
            Ok(fd) => {
                println!(
                    "  buffer {i}: {size} bytes from /dev/dma_heap/{}: ok",
                    heap.name
                );
                held.push(fd);
            }
            Err(e) => println!(
                "  buffer {i}: {size} bytes from /dev/dma_heap/{}: refused, {}",
                heap.name,
                if e == ENOMEM {
                    "ENOMEM".to_string()
                } else {
                    format!("errno {e}")
                }
            ),
        }
    }
    if let Some(dir) = rest.first() {
        for file in ["dev.current", "dev.events"] {
            let text = cg::read(Path::new(dir).join(file)).unwrap_or_else(|e| e);
            println!("  {file} while holding {} buffers:\n{text}", held.len());
        }
    }
    if let [program, program_args @ ..] = then {
        println!(
            "  still holding {} buffers: $ {}",
            held.len(),
            then.join(" ")
        );
        match Command::new(program).args(program_args).status() {
            Ok(status) if status.success() => {}
            Ok(status) => println!("  {program}: {status}"),
            Err(e) => println!("  {program}: {e}"),
        }
    }
    0
}

/// `devcg-e2e heap-bench <system|reserved> <bytes> <iterations>`: for
/// `make bench`. Times DMA_HEAP_IOCTL_ALLOC + close, after a warm-up, and
/// prints "heap_<name>_<bytes> <ns per pair>" (best of 7 rounds).
pub fn bench_cli(args: &[String]) -> i32 {
    let [heap, size, iterations] = args else {
        eprintln!("usage: devcg-e2e heap-bench <system|reserved> <bytes> <iterations>");
        return 2;
    };
    let Some(heap) = Heap::named(heap) else {
        eprintln!("unknown heap {heap}");
        return 2;
    };
    let (Ok(size), Ok(iterations)) = (size.parse::<u64>(), iterations.parse::<u32>()) else {
        eprintln!("bytes and iterations must be numbers");
        return 2;
    };
    for _ in 0..iterations.div_ceil(10) {
        drop(heap.alloc(size));
    }
    // Best of 7 rounds: the guest's vCPUs share the host's CPUs.
    let mut best = u128::MAX;
    for _ in 0..7 {
        let start = std::time::Instant::now();
        for _ in 0..iterations {
            match heap.alloc(size) {
                Ok(fd) => drop(fd),
                Err(e) => {
                    eprintln!("allocation failed: errno {e}");
                    return 1;
                }
            }
        }
        best = best.min(start.elapsed().as_nanos() / u128::from(iterations.max(1)));
    }
    println!("heap_{}_{size} {best}", heap.name);
    0
}

/// dev next to the memory controller, as on a distribution's system: both
/// enabled on the same subtree, a cgroup limited by both. Heap buffers are
/// charged to dev and refused at its limit; memory's files work alongside;
/// everything goes back to zero.
fn memory_and_dev_on_the_same_subtree() -> TestResult {
    let heap = &CMA;
    let controllers = cg::read(format!("{ROOT}/cgroup.controllers"))?;
    for wanted in ["cpuset", "cpu", "io", "memory", "pids", "dev"] {
        ensure(controllers.split_whitespace().any(|c| c == wanted), || {
            format!("cgroup.controllers lacks {wanted}: {controllers:?}")
        })?;
    }
    set(
        format!("{ROOT}/cgroup.subtree_control"),
        "+memory +pids +dev",
    )?;
    let parent = Cgroup::new(ROOT, "with_memory")?;
    set(parent.file("cgroup.subtree_control"), "+memory +pids +dev")?;
    let cg = Cgroup::new(&parent.path, "c")?;
    let enabled = cg::read(parent.file("cgroup.subtree_control"))?;
    ensure(
        enabled.contains("memory") && enabled.contains("dev"),
        || format!("subtree_control is {enabled:?}"),
    )?;
    set(cg.file("memory.max"), "256M")?;
    set(cg.file("pids.max"), "64")?;
    heap.set_max(&cg.path, "8M")?;
    let buffers = {
        let _inside = Inside::new(&cg.path)?;
        let mut buffers = Vec::new();
        for _ in 0..4 {
            buffers.push(heap.must_alloc(2 * M)?);
        }
        ensure(heap.alloc(2 * M).err() == Some(ENOMEM), || {
            "a fifth 2 MiB buffer was not refused at dev.max".into()
        })?;
        buffers
    };
    heap.expect(&cg.path, "dev.current", "", 8 * M)?;
    heap.expect(&parent.path, "dev.current", "", 8 * M)?;
    heap.expect(&cg.path, "dev.events", ".max", 1)?;
    let memory: u64 = cg::read(cg.file("memory.current"))?
        .trim()
        .parse()
        .map_err(|e| format!("memory.current: {e}"))?;
    ensure(memory < 256 * M, || {
        format!("memory.current {memory} above memory.max")
    })?;
    let oom = cg::read(cg.file("memory.events"))?;
    ensure(oom.lines().any(|l| l == "oom 0"), || {
        format!("memory.events: {oom:?}")
    })?;
    drop(buffers);
    heap.expect(&cg.path, "dev.current", "", 0)?;
    heap.expect(&parent.path, "dev.current", "", 0)
}

/// `devcg-e2e heap-hold <system|reserved> <bytes>`: for each line read on
/// stdin (a count), allocates that many buffers of `bytes` bytes and prints
/// `allocated <n> refused <m> errno <e>` (`e` of the first refusal, 0 if
/// none); keeps every buffer until stdin closes. What a containerised
/// allocator runs, driven through its runtime's stdio.
pub fn hold_cli(args: &[String]) -> i32 {
    let [heap, size] = args else {
        eprintln!("usage: devcg-e2e heap-hold <system|reserved> <bytes>");
        return 2;
    };
    let Some(heap) = Heap::named(heap) else {
        eprintln!("unknown heap {heap}");
        return 2;
    };
    let Ok(size) = size.parse::<u64>() else {
        eprintln!("size must be a number");
        return 2;
    };
    let mut held = Vec::new();
    for line in std::io::stdin().lines() {
        let Ok(count) = line
            .map_err(|_| ())
            .and_then(|l| l.trim().parse::<u32>().map_err(|_| ()))
        else {
            eprintln!("heap-hold: expected a count per line");
            return 2;
        };
        let (mut allocated, mut refused, mut first_errno) = (0, 0, 0);
        for _ in 0..count {
            match heap.alloc(size) {
                Ok(fd) => {
                    held.push(fd);
                    allocated += 1;
                }
                Err(e) => {
                    refused += 1;
                    if first_errno == 0 {
                        first_errno = e;
                    }
                }
            }
        }
        println!("allocated {allocated} refused {refused} errno {first_errno}");
    }
    0
}
