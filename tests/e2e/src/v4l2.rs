// SPDX-License-Identifier: GPL-2.0

//! videobuf2 buffers charged through vivid's real ioctls: streaming capture,
//! limits on `VIDIOC_REQBUFS`, the region found from the memory (dma-contig
//! from CMA, vmalloc from system RAM), one CMA budget shared with the dma-buf
//! heaps, and the kernel's v4l2-compliance.
//!
//! The guest runs two vivid instances (scripts/vm-run.sh): `vivid-000-*`
//! allocates with dma-contig, `vivid-001-*` with vmalloc.

use std::fs::{self, File, OpenOptions};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::process::Command;

use crate::cg::{enable_dev, ensure, errno, Cgroup, ROOT};
use crate::heaps::{cma_pages_ever_taken, cma_pages_in_use, Heap, Inside, CMA, SYSTEM};
use crate::{Test, TestResult};

const VIDIOC_G_FMT: libc::c_ulong = 0xC0D0_5604;
const VIDIOC_REQBUFS: libc::c_ulong = 0xC014_5608;
const VIDIOC_QUERYBUF: libc::c_ulong = 0xC058_5609;
const VIDIOC_QBUF: libc::c_ulong = 0xC058_560F;
const VIDIOC_DQBUF: libc::c_ulong = 0xC058_5611;
const VIDIOC_STREAMON: libc::c_ulong = 0x4004_5612;
const VIDIOC_STREAMOFF: libc::c_ulong = 0x4004_5613;
const VIDIOC_CREATE_BUFS: libc::c_ulong = 0xC100_565C;
const VIDIOC_EXPBUF: libc::c_ulong = 0xC040_5610;
const BUF_TYPE_VIDEO_CAPTURE: u32 = 1;
const MEMORY_MMAP: u32 = 1;
const MEMORY_USERPTR: u32 = 2;
const MEMORY_DMABUF: u32 = 4;
const PAGE: u64 = 4096;

#[repr(C)]
#[derive(Default)]
struct RequestBuffers {
    count: u32,
    kind: u32,
    memory: u32,
    capabilities: u32,
    flags: u8,
    reserved: [u8; 3],
}

/// `struct v4l2_buffer` on 64-bit: only the fields used here are named.
#[repr(C)]
struct Buffer {
    index: u32,
    kind: u32,
    bytesused: u32,
    flags: u32,
    field: u32,
    _timestamp_and_timecode: [u32; 9],
    sequence: u32,
    memory: u32,
    offset: u64,
    length: u32,
    _reserved: [u32; 3],
}

/// `struct v4l2_create_buffers`: the format is `VIDIOC_G_FMT`'s, as is.
#[repr(C)]
struct CreateBuffers {
    index: u32,
    count: u32,
    memory: u32,
    _pad: u32,
    format: [u8; 208],
    capabilities: u32,
    flags: u32,
    max_num_buffers: u32,
    reserved: [u32; 5],
}

/// `struct v4l2_exportbuffer`.
#[repr(C)]
#[derive(Default)]
struct ExportBuffer {
    kind: u32,
    index: u32,
    plane: u32,
    flags: u32,
    fd: i32,
    reserved: [u32; 11],
}

const _: () = assert!(std::mem::size_of::<Buffer>() == 88);
const _: () = assert!(std::mem::size_of::<CreateBuffers>() == 256);
const _: () = assert!(std::mem::size_of::<ExportBuffer>() == 64);
const _: () = assert!(std::mem::size_of::<RequestBuffers>() == 20);

/// One vivid capture node, opened.
pub(crate) struct Capture {
    file: File,
    name: String,
}

impl Capture {
    /// Opens the capture node of vivid instance `inst` (0: dma-contig, 1: vmalloc).
    pub(crate) fn open(inst: u32) -> Result<Self, String> {
        let want = format!("vivid-{inst:03}-vid-cap");
        let dir = fs::read_dir("/sys/class/video4linux")
            .map_err(|e| format!("/sys/class/video4linux: {e}"))?;
        for entry in dir.flatten() {
            let name = fs::read_to_string(entry.path().join("name")).unwrap_or_default();
            if name.trim() == want {
                let dev = format!("/dev/{}", entry.file_name().to_string_lossy());
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&dev)
                    .map_err(|e| format!("open {dev}: {e}"))?;
                return Ok(Capture { file, name: want });
            }
        }
        Err(format!(
            "no {want} video node (vivid.n_devs=2 on the command line?)"
        ))
    }

    fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    fn ioctl<T>(&self, request: libc::c_ulong, arg: &mut T) -> Result<(), i32> {
        // SAFETY: `arg` is the ioctl's argument structure, valid for the call.
        if unsafe { libc::ioctl(self.fd(), request, arg as *mut T) } < 0 {
            Err(errno())
        } else {
            Ok(())
        }
    }

    /// The current capture format, as `VIDIOC_G_FMT` returns it.
    fn format(&self) -> Result<[u8; 208], String> {
        let mut format = [0u8; 208];
        format[0..4].copy_from_slice(&BUF_TYPE_VIDEO_CAPTURE.to_ne_bytes());
        self.ioctl(VIDIOC_G_FMT, &mut format)
            .map_err(|e| format!("{}: G_FMT errno {e}", self.name))?;
        Ok(format)
    }

    /// Bytes one buffer is charged: the image size rounded to pages, as vb2 allocates.
    pub(crate) fn buffer_bytes(&self) -> Result<u64, String> {
        let format = self.format()?;
        let size = u32::from_ne_bytes(format[28..32].try_into().unwrap_or_default()) as u64;
        ensure(size > 0, || format!("{}: sizeimage 0", self.name))?;
        Ok(size.div_ceil(PAGE) * PAGE)
    }

    /// `VIDIOC_REQBUFS` for MMAP buffers: the count granted, or the errno.
    pub(crate) fn reqbufs(&self, count: u32) -> Result<u32, i32> {
        self.reqbufs_memory(count, MEMORY_MMAP)
    }

    fn reqbufs_memory(&self, count: u32, memory: u32) -> Result<u32, i32> {
        let mut req = RequestBuffers {
            count,
            kind: BUF_TYPE_VIDEO_CAPTURE,
            memory,
            ..Default::default()
        };
        self.ioctl(VIDIOC_REQBUFS, &mut req)?;
        Ok(req.count)
    }

    /// `VIDIOC_CREATE_BUFS` of `count` MMAP buffers in the current format:
    /// the count granted, or the errno.
    fn create_bufs(&self, count: u32) -> Result<u32, i32> {
        let mut create = CreateBuffers {
            index: 0,
            count,
            memory: MEMORY_MMAP,
            _pad: 0,
            format: self.format().map_err(|_| libc::EIO)?,
            capabilities: 0,
            flags: 0,
            max_num_buffers: 0,
            reserved: [0; 5],
        };
        self.ioctl(VIDIOC_CREATE_BUFS, &mut create)?;
        Ok(create.count)
    }

    /// `VIDIOC_EXPBUF` of buffer `index`: a dma-buf of it.
    pub(crate) fn export(&self, index: u32) -> Result<File, String> {
        let mut export = ExportBuffer {
            kind: BUF_TYPE_VIDEO_CAPTURE,
            index,
            flags: libc::O_CLOEXEC as u32,
            ..Default::default()
        };
        self.ioctl(VIDIOC_EXPBUF, &mut export)
            .map_err(|e| format!("EXPBUF {index}: errno {e}"))?;
        // SAFETY: EXPBUF returned a new file descriptor that nothing else owns.
        Ok(unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(export.fd) })
    }

    fn buffer(&self, index: u32) -> Buffer {
        Buffer {
            index,
            kind: BUF_TYPE_VIDEO_CAPTURE,
            bytesused: 0,
            flags: 0,
            field: 0,
            _timestamp_and_timecode: [0; 9],
            sequence: 0,
            memory: MEMORY_MMAP,
            offset: 0,
            length: 0,
            _reserved: [0; 3],
        }
    }

    /// Queues `count` buffers, streams until one frame is captured, stops.
    pub(crate) fn capture_one_frame(&self, count: u32) -> TestResult {
        for i in 0..count {
            let mut buf = self.buffer(i);
            self.ioctl(VIDIOC_QUERYBUF, &mut buf)
                .map_err(|e| format!("QUERYBUF {i}: errno {e}"))?;
            self.ioctl(VIDIOC_QBUF, &mut buf)
                .map_err(|e| format!("QBUF {i}: errno {e}"))?;
        }
        let mut kind = BUF_TYPE_VIDEO_CAPTURE as libc::c_int;
        self.ioctl(VIDIOC_STREAMON, &mut kind)
            .map_err(|e| format!("STREAMON: errno {e}"))?;
        let mut pfd = libc::pollfd {
            fd: self.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `pfd` is a valid pollfd. Generous: the guest is emulated.
        let ready = unsafe { libc::poll(&mut pfd, 1, 30_000) };
        let mut buf = self.buffer(0);
        let dequeued = if ready == 1 {
            self.ioctl(VIDIOC_DQBUF, &mut buf)
                .map_err(|e| format!("DQBUF: errno {e}"))
        } else {
            Err("no frame within 30 s".to_string())
        };
        self.ioctl(VIDIOC_STREAMOFF, &mut kind)
            .map_err(|e| format!("STREAMOFF: errno {e}"))?;
        dequeued?;
        ensure(buf.bytesused > 0, || "the captured frame is empty".into())
    }
}

pub fn tests() -> Vec<Test> {
    vec![
        Test {
            name: "dma_contig_capture_charges_cma",
            run: dma_contig_capture_charges_cma,
        },
        Test {
            name: "vmalloc_capture_charges_system_ram",
            run: vmalloc_capture_charges_system_ram,
        },
        Test {
            name: "reqbufs_over_limit_fails_with_enomem",
            run: reqbufs_over_limit_fails_with_enomem,
        },
        Test {
            name: "create_bufs_charged_refused_and_uncharged",
            run: create_bufs_charged_refused_and_uncharged,
        },
        Test {
            name: "exported_buffer_outlives_its_queue_charged",
            run: exported_buffer_outlives_its_queue_charged,
        },
        Test {
            name: "reqbufs_without_room_anywhere_takes_no_memory",
            run: reqbufs_without_room_anywhere_takes_no_memory,
        },
        Test {
            name: "one_cma_budget_across_heaps_and_v4l2",
            run: one_cma_budget_across_heaps_and_v4l2,
        },
        Test {
            name: "imported_and_userptr_buffers_not_charged",
            run: imported_and_userptr_buffers_not_charged,
        },
        Test {
            name: "v4l2_compliance_on_vivid",
            run: v4l2_compliance_on_vivid,
        },
    ]
}

/// Streams from `inst` in a fresh cgroup; checks `heap`'s region of it holds
/// exactly the buffers while allocated, and nothing after `release`.
fn capture_charges(
    inst: u32,
    region_of: &Heap,
    other: &Heap,
    free_with_reqbufs0: bool,
) -> TestResult {
    enable_dev(ROOT)?;
    let cg = Cgroup::new(ROOT, &format!("v4l2_capture{inst}"))?;
    let capture = Capture::open(inst)?;
    let bytes = capture.buffer_bytes()?;
    let granted = {
        let _inside = Inside::new(&cg.path)?;
        capture
            .reqbufs(4)
            .map_err(|e| format!("REQBUFS 4: errno {e}"))?
    };
    ensure(granted >= 2, || {
        format!("REQBUFS granted {granted} buffers")
    })?;
    let total = granted as u64 * bytes;
    region_of.expect(&cg.path, "dev.current", "", total)?;
    region_of.expect(&cg.path, "dev.stat", ".v4l2", total)?;
    other.expect(&cg.path, "dev.current", "", 0)?;
    // Streaming runs in the root cgroup: the buffers stay charged to cg.
    capture.capture_one_frame(granted)?;
    region_of.expect(&cg.path, "dev.current", "", total)?;
    if free_with_reqbufs0 {
        capture
            .reqbufs(0)
            .map_err(|e| format!("REQBUFS 0: errno {e}"))?;
    } else {
        drop(capture);
    }
    region_of.expect(&cg.path, "dev.current", "", 0)?;
    region_of.expect(&cg.path, "dev.stat", ".v4l2", 0)
}

fn dma_contig_capture_charges_cma() -> TestResult {
    capture_charges(0, &CMA, &SYSTEM, true)
}

fn vmalloc_capture_charges_system_ram() -> TestResult {
    capture_charges(1, &SYSTEM, &CMA, false)
}

/// A limit below vivid's minimum of 2 buffers: REQBUFS fails with ENOMEM,
/// nothing stays allocated, the refusal is counted; raising the limit makes
/// the device usable again.
fn reqbufs_over_limit_fails_with_enomem() -> TestResult {
    enable_dev(ROOT)?;
    let cg = Cgroup::new(ROOT, "v4l2_limit")?;
    let capture = Capture::open(0)?;
    let bytes = capture.buffer_bytes()?;
    CMA.set_max(&cg.path, &(bytes + bytes / 2).to_string())?;
    let _inside = Inside::new(&cg.path)?;
    let cma_before = cma_pages_in_use()?;
    match capture.reqbufs(4) {
        Err(libc::ENOMEM) => {}
        other => {
            return Err(format!(
                "REQBUFS 4 under a 1.5-buffer limit: expected ENOMEM, got {other:?}"
            ))
        }
    }
    let cma_after = cma_pages_in_use()?;
    ensure(cma_after == cma_before, || {
        format!("the refused REQBUFS kept CMA pages: {cma_before} -> {cma_after} in use")
    })?;
    CMA.expect(&cg.path, "dev.current", "", 0)?;
    CMA.expect(&cg.path, "dev.events", ".max", 1)?;
    CMA.set_max(&cg.path, "max")?;
    let granted = capture
        .reqbufs(4)
        .map_err(|e| format!("REQBUFS after raising the limit: errno {e}"))?;
    CMA.expect(&cg.path, "dev.current", "", granted as u64 * bytes)?;
    capture
        .reqbufs(0)
        .map_err(|e| format!("REQBUFS 0: errno {e}"))?;
    CMA.expect(&cg.path, "dev.current", "", 0)
}

/// `VIDIOC_CREATE_BUFS` adds buffers to a queue: each is charged like a
/// REQBUFS one, refused at the limit with ENOMEM (no buffer added, nothing
/// kept), and uncharged when the queue is freed.
fn create_bufs_charged_refused_and_uncharged() -> TestResult {
    enable_dev(ROOT)?;
    let cg = Cgroup::new(ROOT, "v4l2_create_bufs")?;
    let capture = Capture::open(0)?;
    let bytes = capture.buffer_bytes()?;
    CMA.set_max(&cg.path, &(3 * bytes).to_string())?;
    let _inside = Inside::new(&cg.path)?;
    let granted = capture
        .reqbufs(2)
        .map_err(|e| format!("REQBUFS 2: errno {e}"))?;
    ensure(granted == 2, || format!("REQBUFS 2 granted {granted}"))?;
    let created = capture
        .create_bufs(1)
        .map_err(|e| format!("CREATE_BUFS 1 within the limit: errno {e}"))?;
    ensure(created == 1, || format!("CREATE_BUFS 1 created {created}"))?;
    CMA.expect(&cg.path, "dev.current", "", 3 * bytes)?;
    CMA.expect(&cg.path, "dev.stat", ".v4l2", 3 * bytes)?;
    let in_use = cma_pages_in_use()?;
    match capture.create_bufs(1) {
        Err(libc::ENOMEM) => {}
        other => {
            return Err(format!(
                "CREATE_BUFS over the limit: expected ENOMEM, got {other:?}"
            ))
        }
    }
    let now = cma_pages_in_use()?;
    ensure(now == in_use, || {
        format!("the refused CREATE_BUFS kept CMA pages: {in_use} -> {now} in use")
    })?;
    CMA.expect(&cg.path, "dev.current", "", 3 * bytes)?;
    CMA.expect(&cg.path, "dev.events", ".max", 1)?;
    capture
        .reqbufs(0)
        .map_err(|e| format!("REQBUFS 0: errno {e}"))?;
    CMA.expect(&cg.path, "dev.current", "", 0)
}

/// A buffer exported with `VIDIOC_EXPBUF` keeps its memory after the queue
/// frees its buffers and the device is closed: it stays charged to the
/// cgroup that allocated it until the last dma-buf reference is gone.
fn exported_buffer_outlives_its_queue_charged() -> TestResult {
    enable_dev(ROOT)?;
    let cg = Cgroup::new(ROOT, "v4l2_expbuf")?;
    let capture = Capture::open(0)?;
    let bytes = capture.buffer_bytes()?;
    let granted = {
        let _inside = Inside::new(&cg.path)?;
        capture
            .reqbufs(2)
            .map_err(|e| format!("REQBUFS 2: errno {e}"))?
    };
    let exported = capture.export(0)?;
    CMA.expect(&cg.path, "dev.current", "", granted as u64 * bytes)?;
    capture
        .reqbufs(0)
        .map_err(|e| format!("REQBUFS 0 with an exported buffer: errno {e}"))?;
    CMA.expect(&cg.path, "dev.current", "", bytes)?;
    drop(capture);
    CMA.expect(&cg.path, "dev.current", "", bytes)?;
    CMA.expect(&cg.path, "dev.stat", ".v4l2", bytes)?;
    drop(exported);
    CMA.expect(&cg.path, "dev.current", "", 0)?;
    CMA.expect(&cg.path, "dev.stat", ".v4l2", 0)
}

/// With no room for a buffer in the CMA area nor in the page allocator,
/// REQBUFS fails before dma-contig asks the CMA area for any page (which
/// would migrate other users' pages only to give them back); with room in
/// the page allocator it tries, and the charge refuses the CMA buffer.
fn reqbufs_without_room_anywhere_takes_no_memory() -> TestResult {
    enable_dev(ROOT)?;
    let cg = Cgroup::new(ROOT, "v4l2_no_room")?;
    let capture = Capture::open(0)?;
    let bytes = capture.buffer_bytes()?;
    CMA.set_max(&cg.path, &(bytes / 2).to_string())?;
    SYSTEM.set_max(&cg.path, "0")?;
    let _inside = Inside::new(&cg.path)?;
    let reqbufs_taking = || -> Result<u64, String> {
        let before = cma_pages_ever_taken()?;
        match capture.reqbufs(4) {
            Err(libc::ENOMEM) => {}
            other => {
                return Err(format!(
                    "REQBUFS 4 without room: expected ENOMEM, got {other:?}"
                ))
            }
        }
        Ok(cma_pages_ever_taken()? - before)
    };
    let taken = reqbufs_taking()?;
    ensure(taken == 0, || {
        format!("REQBUFS without room anywhere took {taken} CMA pages")
    })?;
    CMA.expect(&cg.path, "dev.events", ".max", 1)?;
    SYSTEM.set_max(&cg.path, "max")?;
    let taken = reqbufs_taking()?;
    ensure(taken > 0, || {
        "with room in the page allocator, dma-contig did not try the CMA area".into()
    })?;
    CMA.expect(&cg.path, "dev.events", ".max", 2)?;
    CMA.expect(&cg.path, "dev.current", "", 0)?;
    SYSTEM.expect(&cg.path, "dev.current", "", 0)
}

/// `cma region.reserved` limited to 4 vivid buffers: heap buffers and vivid's
/// dma-contig buffers share it, never exceed it, and freeing one side lets
/// the other allocate.
fn one_cma_budget_across_heaps_and_v4l2() -> TestResult {
    enable_dev(ROOT)?;
    let cg = Cgroup::new(ROOT, "one_budget")?;
    let capture = Capture::open(0)?;
    let bytes = capture.buffer_bytes()?;
    let budget = 4 * bytes;
    CMA.set_max(&cg.path, &budget.to_string())?;
    let _inside = Inside::new(&cg.path)?;
    // The heap takes three buffers' worth: vivid cannot get its minimum of 2.
    let mut heap_buffers: Vec<_> = (0..3)
        .map(|_| CMA.alloc(bytes))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("heap allocation under the budget: errno {e}"))?;
    match capture.reqbufs(4) {
        Err(libc::ENOMEM) => {}
        other => {
            return Err(format!(
                "REQBUFS with 1 buffer of budget left: expected ENOMEM, got {other:?}"
            ))
        }
    }
    CMA.expect(&cg.path, "dev.current", "", 3 * bytes)?;
    // Freeing one heap buffer leaves room for vivid's 2, and no more.
    heap_buffers.pop();
    let granted = capture
        .reqbufs(4)
        .map_err(|e| format!("REQBUFS after freeing heap buffers: errno {e}"))?;
    ensure(granted == 2, || {
        format!("REQBUFS granted {granted}, room was for 2")
    })?;
    CMA.expect(&cg.path, "dev.current", "", budget)?;
    CMA.expect(&cg.path, "dev.stat", ".v4l2", 2 * bytes)?;
    CMA.expect(&cg.path, "dev.stat", ".dma_heap", 2 * bytes)?;
    ensure(CMA.alloc(PAGE).err() == Some(libc::ENOMEM), || {
        "the heap allocated past the shared budget".into()
    })?;
    let peak = CMA.value_in(&cg.path, "dev.peak", "")?;
    ensure(peak <= budget, || {
        format!("dev.peak {peak} over the budget {budget}")
    })?;
    capture
        .reqbufs(0)
        .map_err(|e| format!("REQBUFS 0: errno {e}"))?;
    CMA.expect(&cg.path, "dev.current", "", 2 * bytes)?;
    drop(heap_buffers);
    CMA.expect(&cg.path, "dev.current", "", 0)
}

/// A dma-buf heap buffer queued as `V4L2_MEMORY_DMABUF`, and user memory
/// queued as `V4L2_MEMORY_USERPTR`, are not charged to V4L2: the heap already
/// charged the first, the second is the process's own memory.
fn imported_and_userptr_buffers_not_charged() -> TestResult {
    enable_dev(ROOT)?;
    let cg = Cgroup::new(ROOT, "v4l2_import")?;
    let _inside = Inside::new(&cg.path)?;

    let dma_contig = Capture::open(0)?;
    let bytes = dma_contig.buffer_bytes()?;
    let exported = CMA.must_alloc(bytes)?;
    dma_contig
        .reqbufs_memory(2, MEMORY_DMABUF)
        .map_err(|e| format!("REQBUFS DMABUF: errno {e}"))?;
    let mut buf = dma_contig.buffer(0);
    buf.memory = MEMORY_DMABUF;
    buf.offset = exported.as_raw_fd() as u64;
    buf.length = bytes as u32;
    dma_contig
        .ioctl(VIDIOC_QBUF, &mut buf)
        .map_err(|e| format!("QBUF of a heap dma-buf: errno {e}"))?;
    CMA.expect(&cg.path, "dev.stat", ".dma_heap", bytes)?;
    CMA.expect(&cg.path, "dev.stat", ".v4l2", 0)?;
    CMA.expect(&cg.path, "dev.current", "", bytes)?;
    dma_contig
        .reqbufs_memory(0, MEMORY_DMABUF)
        .map_err(|e| format!("REQBUFS DMABUF 0: errno {e}"))?;
    drop(dma_contig);
    drop(exported);

    let vmalloc = Capture::open(1)?;
    let bytes = vmalloc.buffer_bytes()?;
    let mut user_memory = vec![0u8; bytes as usize + PAGE as usize];
    let aligned = (user_memory.as_mut_ptr() as u64).div_ceil(PAGE) * PAGE;
    vmalloc
        .reqbufs_memory(2, MEMORY_USERPTR)
        .map_err(|e| format!("REQBUFS USERPTR: errno {e}"))?;
    let mut buf = vmalloc.buffer(0);
    buf.memory = MEMORY_USERPTR;
    buf.offset = aligned;
    buf.length = bytes as u32;
    vmalloc
        .ioctl(VIDIOC_QBUF, &mut buf)
        .map_err(|e| format!("QBUF of user memory: errno {e}"))?;
    SYSTEM.expect(&cg.path, "dev.stat", ".v4l2", 0)?;
    CMA.expect(&cg.path, "dev.stat", ".v4l2", 0)?;
    vmalloc
        .reqbufs_memory(0, MEMORY_USERPTR)
        .map_err(|e| format!("REQBUFS USERPTR 0: errno {e}"))?;
    drop(vmalloc);
    drop(user_memory);
    CMA.expect(&cg.path, "dev.current", "", 0)
}

/// Tests v4l2-compliance 1.22.1 (Debian bookworm) fails on any 6.12 vivid,
/// controller or not: the kernel grew controls and format names, and reuses
/// `v4l2_create_buffers.reserved` (for `max_num_buffers`), which the older
/// tool still expects to be zero.
const COMPLIANCE_VERSION_SKEW: &[&str] = &[
    "VIDIOC_QUERY_EXT_CTRL/QUERYMENU",
    "VIDIOC_QUERYCTRL",
    "VIDIOC_G/S_CTRL",
    "VIDIOC_G/S/TRY_EXT_CTRLS",
    "VIDIOC_ENUM_FMT/FRAMESIZES/FRAMEINTERVALS",
    "VIDIOC_REQBUFS/CREATE_BUFS/QUERYBUF",
];

/// Runs v4l2-compliance with streaming on `node` from inside `dir`; returns
/// its totals line and the names of the failed tests, in order.
fn compliance_run(node: &Path, dir: &Path) -> Result<(String, Vec<String>), String> {
    let bin = "/usr/bin/v4l2-compliance";
    ensure(Path::new(bin).exists(), || {
        format!("{bin} missing from the initramfs")
    })?;
    let output = {
        let _inside = Inside::new(dir)?;
        Command::new(bin)
            .arg("-s5")
            .arg("-d")
            .arg(node)
            .output()
            .map_err(|e| format!("run {bin}: {e}"))?
    };
    let log = String::from_utf8_lossy(&output.stdout);
    let total = log
        .lines()
        .find(|l| l.starts_with("Total for "))
        .ok_or_else(|| format!("no totals from v4l2-compliance:\n{log}"))?;
    let failed = log
        .lines()
        .filter_map(|l| l.trim().strip_prefix("test ")?.strip_suffix(": FAIL"))
        .map(str::to_string)
        .collect();
    Ok((total.to_string(), failed))
}

/// v4l2-compliance, streaming included, on both vivid instances: run inside
/// a limited dev cgroup that charges every buffer, it fails nothing but the
/// tool's known version skew and what also fails from the root cgroup.
fn v4l2_compliance_on_vivid() -> TestResult {
    enable_dev(ROOT)?;
    let cg = Cgroup::new(ROOT, "v4l2_compliance")?;
    CMA.set_max(&cg.path, "48M")?;
    SYSTEM.set_max(&cg.path, "256M")?;
    for inst in [0, 1] {
        let node = {
            let capture = Capture::open(inst)?;
            fs::read_link(format!("/proc/self/fd/{}", capture.fd())).map_err(|e| e.to_string())?
        };
        let (root_total, root_failed) = compliance_run(&node, Path::new(ROOT))?;
        let (total, failed) = compliance_run(&node, &cg.path)?;
        println!("# v4l2-compliance vivid-{inst:03} in a dev cgroup: {total}");
        // Every failure in the cgroup is known version skew or also failed
        // without a limit. v4l2-compliance has timing-sensitive tests that a
        // slow debug kernel can fail either way, so a failure seen only in
        // the cgroup must happen again in a second run there to count.
        let mut unexpected: Vec<_> = failed
            .iter()
            .filter(|t| !COMPLIANCE_VERSION_SKEW.contains(&t.as_str()) && !root_failed.contains(t))
            .cloned()
            .collect();
        if !unexpected.is_empty() {
            let (again, failed_again) = compliance_run(&node, &cg.path)?;
            println!("# v4l2-compliance vivid-{inst:03} failed {unexpected:?} in the cgroup; again: {again}");
            unexpected.retain(|t| failed_again.contains(t));
        }
        ensure(unexpected.is_empty(), || {
            format!("v4l2-compliance failed {unexpected:?} in the cgroup only; from the root: {root_total}")
        })?;
        for heap in [&CMA, &SYSTEM] {
            heap.expect(&cg.path, "dev.current", "", 0)?;
        }
    }
    let peak =
        CMA.value_in(&cg.path, "dev.peak", "")? + SYSTEM.value_in(&cg.path, "dev.peak", "")?;
    ensure(peak > 0, || {
        "v4l2-compliance's buffers were not charged".into()
    })
}

/// `devcg-e2e v4l2-reqbufs <vivid instance> <count> [cgroup dir]`: for the
/// demo. Requests `count` MMAP buffers on the instance's capture node, prints
/// what was granted, then the cgroup's dev.current and dev.stat while they are
/// held; the buffers are freed on exit.
pub fn cli(args: &[String]) -> i32 {
    let [inst, count, rest @ ..] = args else {
        eprintln!("usage: devcg-e2e v4l2-reqbufs <0|1> <count> [cgroup dir]");
        return 2;
    };
    let (Ok(inst), Ok(count)) = (inst.parse::<u32>(), count.parse::<u32>()) else {
        eprintln!("instance and count must be numbers");
        return 2;
    };
    let capture = match Capture::open(inst) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let bytes = capture.buffer_bytes().unwrap_or(0);
    match capture.reqbufs(count) {
        Ok(granted) => println!(
            "  REQBUFS {count} x {bytes} bytes on {}: ok, {granted} granted",
            capture.name
        ),
        Err(e) => println!(
            "  REQBUFS {count} x {bytes} bytes on {}: refused, {}",
            capture.name,
            if e == libc::ENOMEM {
                "ENOMEM".to_string()
            } else {
                format!("errno {e}")
            }
        ),
    }
    if let Some(dir) = rest.first() {
        for file in ["dev.current", "dev.stat"] {
            let text = crate::cg::read(Path::new(dir).join(file)).unwrap_or_else(|e| e);
            println!("  {file} while holding them:\n{text}");
        }
    }
    0
}

/// Opens vivid instance `inst`'s capture node and requests `count` MMAP
/// buffers on it; they live as long as the returned node.
pub(crate) fn open_and_request(inst: u32, count: u32) -> Result<Capture, String> {
    let capture = Capture::open(inst)?;
    capture
        .reqbufs(count)
        .map_err(|e| format!("REQBUFS {count}: errno {e}"))?;
    Ok(capture)
}
