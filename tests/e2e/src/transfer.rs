// SPDX-License-Identifier: GPL-2.0

//! Charge transfer: an allocator process in one cgroup hands dma-buf fds to
//! a client in another over `SCM_RIGHTS`, and the client pulls the charges
//! into its own cgroup with `DEV_CGROUP_IOC_TAKE`; `/proc/<pid>/fdinfo`
//! shows who pays. Through the real ioctls of the CMA and system heaps and
//! of vivid (`VIDIOC_EXPBUF`).

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::cg::{enable_dev, ensure, errno, set, Cgroup, ROOT};
use crate::heaps::{recv_fd, send_fd, socket_pair, Heap, Inside, CMA, SYSTEM};
use crate::v4l2::Capture;
use crate::{Test, TestResult};

const M: u64 = 1024 * 1024;

/// `_IOWR('b', 0x40, struct dev_cgroup_take)` from `<linux/dev_cgroup.h>`.
const DEV_CGROUP_IOC_TAKE: libc::c_ulong = 0xC010_6240;

#[repr(C)]
struct DevCgroupTake {
    flags: u64,
    bytes: u64,
}

/// `DEV_CGROUP_IOC_TAKE` on `fd` with `flags`: the bytes now charged to us,
/// or the errno.
fn take_with(fd: RawFd, flags: u64) -> Result<u64, i32> {
    let mut arg = DevCgroupTake { flags, bytes: 0 };
    // SAFETY: `arg` is the ioctl's argument structure, valid for the call.
    if unsafe { libc::ioctl(fd, DEV_CGROUP_IOC_TAKE, &mut arg) } < 0 {
        return Err(errno());
    }
    Ok(arg.bytes)
}

/// `DEV_CGROUP_IOC_TAKE` on `fd` with its argument (flags 0) in a read-only
/// page: the errno (0 if it succeeded).
fn take_into_read_only(fd: &impl AsRawFd) -> Result<i32, String> {
    // SAFETY: a new anonymous mapping, zeroed, unmapped below.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    ensure(page != libc::MAP_FAILED, || {
        format!("mmap: errno {}", errno())
    })?;
    // SAFETY: `page` is readable and holds a zeroed argument.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), DEV_CGROUP_IOC_TAKE, page) };
    let err = if ret < 0 { errno() } else { 0 };
    // SAFETY: the mapping made above.
    unsafe { libc::munmap(page, 4096) };
    Ok(err)
}

fn take(fd: &impl AsRawFd) -> Result<u64, i32> {
    take_with(fd.as_raw_fd(), 0)
}

/// The `dev_cgroup:` line of `fd`'s fdinfo in this process, without the key.
fn payer(fd: &impl AsRawFd) -> Result<Option<String>, String> {
    let path = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let text = fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("dev_cgroup:\t"))
        .map(str::to_string))
}

/// Fails unless `fd`'s fdinfo says `cg` pays `bytes` of `heap`'s region.
fn expect_payer(fd: &impl AsRawFd, cg: &Path, heap: &Heap, bytes: u64) -> TestResult {
    let relative = cg
        .strip_prefix(ROOT)
        .map_err(|_| format!("{} is not under {ROOT}", cg.display()))?;
    let want = format!(
        "/{} {} {}={bytes}",
        relative.display(),
        heap.device,
        heap.region
    );
    let got = payer(fd)?;
    ensure(got.as_deref() == Some(want.as_str()), || {
        format!("fdinfo dev_cgroup: expected {want:?}, got {got:?}")
    })
}

/// A process that joined `cg`, made buffers with `make`, sent them over a
/// socket and waits for [`Allocator::finish`] to exit.
struct Allocator {
    pid: libc::pid_t,
    sock: OwnedFd,
    buffers: Vec<OwnedFd>,
}

impl Allocator {
    fn spawn(
        cg: &Path,
        count: usize,
        make: fn() -> Result<OwnedFd, String>,
    ) -> Result<Self, String> {
        let (ours, theirs) = socket_pair()?;
        // SAFETY: this program is single-threaded, so the child may run anything.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: errno {}", errno()));
        }
        if pid == 0 {
            drop(ours);
            let mut ok = set(cg.join("cgroup.procs"), "0").is_ok();
            for _ in 0..count {
                ok = ok
                    && make().is_ok_and(|buf| send_fd(theirs.as_raw_fd(), buf.as_raw_fd()).is_ok());
            }
            // Until told to go: the buffers' first payer stays alive.
            let mut byte = [0u8; 1];
            // SAFETY: reads one byte into `byte`.
            unsafe { libc::read(theirs.as_raw_fd(), byte.as_mut_ptr().cast(), 1) };
            // SAFETY: leaves the child without running the parent's destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        drop(theirs);
        let mut allocator = Allocator {
            pid,
            sock: ours,
            buffers: Vec::new(),
        };
        for i in 0..count {
            let buffer = recv_fd(allocator.sock.as_raw_fd())
                .map_err(|e| format!("buffer {i} from the allocator: {e}"))?;
            allocator.buffers.push(buffer);
        }
        Ok(allocator)
    }

    /// Lets the allocator exit and reaps it.
    fn finish(&mut self) -> TestResult {
        if self.pid == 0 {
            return Ok(());
        }
        // SAFETY: writes one byte from a valid buffer.
        unsafe { libc::write(self.sock.as_raw_fd(), [0u8].as_ptr().cast(), 1) };
        let mut status = 0;
        // SAFETY: `pid` is our child; `status` is writable.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
        self.pid = 0;
        ensure(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            || format!("allocator process failed (status {status:#x})"),
        )
    }
}

impl Drop for Allocator {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

pub fn tests() -> Vec<Test> {
    vec![
        Test {
            name: "take_pulls_heap_charges_into_the_receiver",
            run: take_pulls_heap_charges_into_the_receiver,
        },
        Test {
            name: "take_of_a_vivid_exported_buffer",
            run: take_of_a_vivid_exported_buffer,
        },
        Test {
            name: "takes_racing_while_the_allocator_exits",
            run: takes_racing_while_the_allocator_exits,
        },
        Test {
            name: "take_of_an_uncharged_dma_buf_is_not_supported",
            run: take_of_an_uncharged_dma_buf_is_not_supported,
        },
    ]
}

fn cma_mib() -> Result<OwnedFd, String> {
    CMA.must_alloc(M)
}

fn system_mib() -> Result<OwnedFd, String> {
    SYSTEM.must_alloc(M)
}

/// Four 1 MiB CMA heap buffers and one system heap buffer, made in cgroup
/// `a`, are taken by this process in cgroup `b`: `a` drops and `b` rises by
/// exactly their sizes, `dev.stat` keeps the consumer, fdinfo follows. Over
/// its limit `b` gets `ENOMEM`, nothing changes and the refusal is an event.
/// Once the allocator exited and `a` is removed, `b` still takes; closing
/// brings everything back to zero.
fn take_pulls_heap_charges_into_the_receiver() -> TestResult {
    enable_dev(ROOT)?;
    let parent = Cgroup::new(ROOT, "transfer")?;
    enable_dev(&parent.path)?;
    let a = Cgroup::new(&parent.path, "allocator")?;
    let b = Cgroup::new(&parent.path, "client")?;
    let root = Path::new(ROOT);
    let (cma_before, ram_before) = (CMA.current(root)?, SYSTEM.current(root)?);
    let mut cma = Allocator::spawn(&a.path, 4, cma_mib)?;
    let mut ram = Allocator::spawn(&a.path, 1, system_mib)?;
    ram.finish()?;
    CMA.expect(&a.path, "dev.current", "", 4 * M)?;
    SYSTEM.expect(&a.path, "dev.current", "", M)?;
    for buf in &cma.buffers {
        expect_payer(buf, &a.path, &CMA, M)?;
    }
    ensure(
        take_with(cma.buffers[0].as_raw_fd(), 1) == Err(libc::EINVAL),
        || "a take with flags 1 was not refused with EINVAL".into(),
    )?;
    CMA.set_max(&b.path, &(3 * M).to_string())?;
    {
        let _inside = Inside::new(&b.path)?;
        // An argument that cannot be written back: EFAULT, and nothing moved.
        ensure(
            take_into_read_only(&cma.buffers[0])? == libc::EFAULT,
            || "a take with a read-only argument did not fail with EFAULT".into(),
        )?;
        CMA.expect(&b.path, "dev.current", "", 0)?;
        expect_payer(&cma.buffers[0], &a.path, &CMA, M)?;
        for (i, buf) in cma.buffers[..3].iter().enumerate() {
            let bytes = take(buf).map_err(|e| format!("take of CMA buffer {i}: errno {e}"))?;
            ensure(bytes == M, || {
                format!("take of CMA buffer {i} reported {bytes} bytes")
            })?;
            expect_payer(buf, &b.path, &CMA, M)?;
        }
        // Taken again: nothing moves, the bytes are reported.
        ensure(take(&cma.buffers[0]) == Ok(M), || {
            "a second take did not report 1 MiB".into()
        })?;
        // The fourth does not fit under b's 3 MiB.
        ensure(take(&cma.buffers[3]) == Err(libc::ENOMEM), || {
            "a take over the receiver's dev.max was not refused with ENOMEM".into()
        })?;
        let bytes =
            take(&ram.buffers[0]).map_err(|e| format!("take of the system buffer: errno {e}"))?;
        ensure(bytes == M, || {
            format!("take of the system buffer reported {bytes}")
        })?;
    }
    CMA.expect(&a.path, "dev.current", "", M)?;
    CMA.expect(&b.path, "dev.current", "", 3 * M)?;
    CMA.expect(&b.path, "dev.stat", ".dma_heap", 3 * M)?;
    CMA.expect(&b.path, "dev.events", ".max", 1)?;
    CMA.expect(&b.path, "dev.events.local", ".max", 1)?;
    CMA.expect(&b.path, "dev.peak", "", 3 * M)?;
    SYSTEM.expect(&a.path, "dev.current", "", 0)?;
    SYSTEM.expect(&b.path, "dev.current", "", M)?;
    expect_payer(&cma.buffers[3], &a.path, &CMA, M)?;
    CMA.expect(&parent.path, "dev.current", "", 4 * M)?;

    // The allocator exits and its cgroup goes; its last buffer can still be taken.
    cma.finish()?;
    let last = cma.buffers.pop().ok_or("no fourth buffer")?;
    fs::remove_dir(&a.path).map_err(|e| format!("rmdir allocator cgroup: {e}"))?;
    CMA.set_max(&b.path, "max")?;
    {
        let _inside = Inside::new(&b.path)?;
        ensure(take(&last) == Ok(M), || {
            "take from the removed cgroup failed".into()
        })?;
    }
    CMA.expect(&b.path, "dev.current", "", 4 * M)?;
    expect_payer(&last, &b.path, &CMA, M)?;
    drop(last);
    cma.buffers.clear();
    ram.buffers.clear();
    CMA.expect(&b.path, "dev.current", "", 0)?;
    SYSTEM.expect(&b.path, "dev.current", "", 0)?;
    CMA.expect(&parent.path, "dev.current", "", 0)?;
    CMA.expect(root, "dev.current", "", cma_before)?;
    SYSTEM.expect(root, "dev.current", "", ram_before)
}

fn vivid_exported_buffer() -> Result<OwnedFd, String> {
    let capture = Capture::open(0)?;
    capture
        .reqbufs(1)
        .map_err(|e| format!("REQBUFS 1: errno {e}"))?;
    let exported = capture.export(0)?;
    // The queue's buffer goes with the device; the exported one stays.
    capture
        .reqbufs(0)
        .map_err(|e| format!("REQBUFS 0: errno {e}"))?;
    Ok(OwnedFd::from(exported))
}

/// The same with vivid: an allocator process exports an MMAP buffer with
/// `VIDIOC_EXPBUF`, closes the device and hands the dma-buf over.
fn take_of_a_vivid_exported_buffer() -> TestResult {
    enable_dev(ROOT)?;
    let parent = Cgroup::new(ROOT, "transfer_v4l2")?;
    enable_dev(&parent.path)?;
    let a = Cgroup::new(&parent.path, "allocator")?;
    let b = Cgroup::new(&parent.path, "client")?;
    let bytes = Capture::open(0)?.buffer_bytes()?;
    let mut allocator = Allocator::spawn(&a.path, 1, vivid_exported_buffer)?;
    allocator.finish()?;
    let buffer = allocator.buffers.pop().ok_or("no buffer")?;
    CMA.expect(&a.path, "dev.current", "", bytes)?;
    expect_payer(&buffer, &a.path, &CMA, bytes)?;
    {
        let _inside = Inside::new(&b.path)?;
        ensure(take(&buffer) == Ok(bytes), || {
            "take of the vivid buffer failed".into()
        })?;
    }
    CMA.expect(&a.path, "dev.current", "", 0)?;
    CMA.expect(&b.path, "dev.current", "", bytes)?;
    CMA.expect(&b.path, "dev.stat", ".v4l2", bytes)?;
    expect_payer(&buffer, &b.path, &CMA, bytes)?;
    drop(buffer);
    CMA.expect(&b.path, "dev.current", "", 0)?;
    CMA.expect(&parent.path, "dev.current", "", 0)
}

/// Two receiver processes, each in its own cgroup, take the same eight
/// buffers over and over while the allocator exits and its cgroup is
/// removed: every buffer ends charged exactly once (the receivers' usage
/// adds up to all of them, fdinfo names one payer), and everything returns
/// to zero once the last fd is closed.
fn takes_racing_while_the_allocator_exits() -> TestResult {
    const BUFFERS: usize = 8;
    const ROUNDS: usize = 200;
    enable_dev(ROOT)?;
    let parent = Cgroup::new(ROOT, "transfer_race")?;
    enable_dev(&parent.path)?;
    let a = Cgroup::new(&parent.path, "allocator")?;
    let receivers = [
        Cgroup::new(&parent.path, "r0")?,
        Cgroup::new(&parent.path, "r1")?,
    ];
    let mut allocator = Allocator::spawn(&a.path, BUFFERS, system_mib)?;
    let mut pids = Vec::new();
    for (n, cg) in receivers.iter().enumerate() {
        // SAFETY: single-threaded, so the child may run anything.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: errno {}", errno()));
        }
        if pid == 0 {
            let mut ok = set(cg.file("cgroup.procs"), "0").is_ok();
            for round in 0..ROUNDS {
                for i in 0..BUFFERS {
                    let buf = &allocator.buffers[(i + n * round) % BUFFERS];
                    ok = ok && take(buf) == Ok(M);
                }
            }
            // SAFETY: leaves the child without running the parent's destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        pids.push(pid);
    }
    // Meanwhile the allocator exits and its cgroup goes.
    allocator.finish()?;
    let removed = fs::remove_dir(&a.path);
    for pid in pids {
        let mut status = 0;
        // SAFETY: `pid` is our child; `status` is writable.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        ensure(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            || format!("a receiver's take failed (status {status:#x})"),
        )?;
    }
    removed.map_err(|e| format!("rmdir allocator cgroup: {e}"))?;
    let total: u64 = receivers
        .iter()
        .map(|cg| SYSTEM.current(&cg.path))
        .sum::<Result<u64, String>>()?;
    ensure(total == BUFFERS as u64 * M, || {
        format!(
            "the receivers hold {total} bytes, expected {}",
            BUFFERS as u64 * M
        )
    })?;
    SYSTEM.expect(&parent.path, "dev.current", "", BUFFERS as u64 * M)?;
    for buf in &allocator.buffers {
        let line = payer(buf)?.ok_or("a buffer with no payer")?;
        ensure(line.contains("/transfer_race/r"), || {
            format!("payer {line:?} is not a receiver")
        })?;
    }
    allocator.buffers.clear();
    for cg in &receivers {
        SYSTEM.expect(&cg.path, "dev.current", "", 0)?;
    }
    SYSTEM.expect(&parent.path, "dev.current", "", 0)
}

/// `_IOW('u', 0x42, struct udmabuf_create)` from `<linux/udmabuf.h>`.
const UDMABUF_CREATE: libc::c_ulong = 0x4018_7542;

#[repr(C)]
struct UdmabufCreate {
    memfd: u32,
    flags: u32,
    offset: u64,
    size: u64,
}

/// A dma-buf of `size` bytes of a memfd, made by udmabuf, an exporter that
/// charges nothing.
fn udmabuf(size: u64) -> Result<OwnedFd, String> {
    // SAFETY: a NUL-terminated name; the flags are valid.
    let memfd = unsafe { libc::memfd_create(c"devcg-udmabuf".as_ptr(), libc::MFD_ALLOW_SEALING) };
    ensure(memfd >= 0, || format!("memfd_create: errno {}", errno()))?;
    // SAFETY: memfd_create() returned a new fd that we own.
    let memfd = unsafe { OwnedFd::from_raw_fd(memfd) };
    // SAFETY: plain system calls on our fd.
    let sealed = unsafe {
        libc::ftruncate(memfd.as_raw_fd(), size as libc::off_t) == 0
            && libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_SHRINK) == 0
    };
    ensure(sealed, || format!("memfd size/seal: errno {}", errno()))?;
    let dev = fs::File::open("/dev/udmabuf").map_err(|e| format!("/dev/udmabuf: {e}"))?;
    let mut create = UdmabufCreate {
        memfd: memfd.as_raw_fd() as u32,
        flags: 0x01, // UDMABUF_FLAGS_CLOEXEC
        offset: 0,
        size,
    };
    // SAFETY: `create` is the ioctl's argument structure, valid for the call.
    let fd = unsafe { libc::ioctl(dev.as_raw_fd(), UDMABUF_CREATE, &mut create) };
    ensure(fd >= 0, || format!("UDMABUF_CREATE: errno {}", errno()))?;
    // SAFETY: the ioctl returned a new dma-buf fd that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A dma-buf the controller did not charge (udmabuf's) cannot be taken:
/// `EOPNOTSUPP`, nothing charged anywhere, and no payer in its fdinfo.
fn take_of_an_uncharged_dma_buf_is_not_supported() -> TestResult {
    enable_dev(ROOT)?;
    let cg = Cgroup::new(ROOT, "transfer_udmabuf")?;
    let buffer = udmabuf(64 * 1024)?;
    ensure(payer(&buffer)?.is_none(), || {
        "an uncharged dma-buf names a payer".into()
    })?;
    {
        let _inside = Inside::new(&cg.path)?;
        ensure(take(&buffer) == Err(libc::EOPNOTSUPP), || {
            format!(
                "take of a udmabuf: expected EOPNOTSUPP, got {:?}",
                take(&buffer)
            )
        })?;
    }
    SYSTEM.expect(&cg.path, "dev.current", "", 0)?;
    CMA.expect(&cg.path, "dev.current", "", 0)
}
