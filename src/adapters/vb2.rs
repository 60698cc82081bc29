// SPDX-License-Identifier: GPL-2.0

//! videobuf2 adapter: every buffer a vb2 memop allocates for `V4L2_MEMORY_MMAP`
//! is charged, as `v4l2`, to the region that actually backs it.
//!
//! The memops (patched by `patches/0004`) call in once the memory is
//! allocated, in the context of the task doing `VIDIOC_REQBUFS` or
//! `VIDIOC_CREATE_BUFS`, and free the buffer again if the charge is refused;
//! their `put` gives the charge back when the last user of the buffer (queue,
//! mappings, exported dma-bufs) is gone. Imported (`DMABUF`) and `USERPTR`
//! buffers never reach these calls: their memory is someone else's.
//!
//! The region is found from the memory, never from the device:
//! - dma-contig: the first page of the allocation (from its sg table, or the
//!   DMA API's `dma_get_sgtable_attrs()` for coherent memory): in a CMA area,
//!   that area's region, else `system region.ram`;
//! - dma-sg and vmalloc: their pages come from the page allocator, never
//!   movable, so never from CMA; the first page is still looked up so the rule
//!   is the same everywhere.
//!
//! A dma-contig buffer is charged what the DMA layer really took
//! (`dev_cgroup_dma_cost()`: a whole power-of-two block for page-allocator
//! memory of a directly mapped device), and its memop first asks
//! `dev_cgroup_dma_check_room()`, so that a task with no room left in any
//! region its buffer could come from is refused before any memory is taken.
//!
//! This crate is a client of the controller's C API only, like any driver.

use core::ffi::c_void;
#[macro_use]
#[path = "../ffi_check.rs"]
mod ffi_check;

use kernel::bindings;
use kernel::ffi::{c_int, c_ulong};

type Record = *mut bindings::dev_cgroup_charge;
type Region = *mut bindings::dev_cgroup_region;

// Catch any drift between the C prototypes (via bindgen) and the definitions below.
same_signature! {
    dev_cgroup_vb2_charge_dma_contig: unsafe extern "C" fn(Record, *mut bindings::device, *mut c_void, bindings::dma_addr_t, *mut bindings::sg_table, u64, c_ulong) -> c_int;
    dev_cgroup_vb2_charge_sg: unsafe extern "C" fn(Record, *mut bindings::sg_table, u64) -> c_int;
    dev_cgroup_vb2_charge_vmalloc: unsafe extern "C" fn(Record, *mut c_void, u64) -> c_int;
    dev_cgroup_vb2_uncharge: unsafe extern "C" fn(Record);
}

/// # Safety
///
/// `record` must be valid for writes and hold no live charge; `region` must be
/// NULL or a region that outlives the call: a boot-time region, or the
/// region of a coherent pool the caller holds a live buffer of (a pool is
/// released only once all its buffers are freed).
unsafe fn charge(record: Record, region: Region, size: u64) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe {
        bindings::dev_cgroup_charge_buffer(
            record,
            region,
            size,
            bindings::dev_cgroup_consumer_DEV_CGROUP_CONSUMER_V4L2,
        )
    }
}

/// Charges a dma-contig buffer. Returns 0 or `-ENOMEM`; on `-ENOMEM` the
/// memop frees the buffer and fails the allocation.
///
/// # Safety
///
/// `record` must be valid for writes and hold no live charge; the other
/// arguments as for `dev_cgroup_dma_region()`.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_vb2_charge_dma_contig(
    record: Record,
    dev: *mut bindings::device,
    cookie: *mut c_void,
    dma_addr: bindings::dma_addr_t,
    sgt: *mut bindings::sg_table,
    size: u64,
    attrs: c_ulong,
) -> c_int {
    // SAFETY: forwarded from the caller.
    let region =
        unsafe { bindings::dev_cgroup_dma_region(dev, cookie, dma_addr, sgt, size, attrs) };
    // A table comes with dma_alloc_noncontiguous() (non-coherent buffers).
    // SAFETY: no preconditions.
    let cost = unsafe { bindings::dev_cgroup_dma_cost(dev, region, size, !sgt.is_null()) };
    // SAFETY: forwarded from the caller; the region is a boot-time one or
    // that of the pool holding this live buffer (see `charge`).
    unsafe { charge(record, region, cost) }
}

/// Charges a dma-sg buffer described by `sgt`.
///
/// # Safety
///
/// `record` must be valid for writes and hold no live charge; `sgt` must be a
/// valid table of the buffer's pages.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_vb2_charge_sg(
    record: Record,
    sgt: *mut bindings::sg_table,
    size: u64,
) -> c_int {
    // SAFETY: `sgt` is valid (caller).
    let region = unsafe { bindings::dev_cgroup_sg_region(sgt) };
    // SAFETY: forwarded from the caller; memory regions are boot-time regions.
    unsafe { charge(record, region, size) }
}

/// Charges a vmalloc buffer starting at `vaddr`.
///
/// # Safety
///
/// `record` must be valid for writes and hold no live charge; `vaddr` must be
/// the start of a live vmalloc allocation.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_vb2_charge_vmalloc(
    record: Record,
    vaddr: *mut c_void,
    size: u64,
) -> c_int {
    // SAFETY: `vaddr` is a live vmalloc address (caller).
    let region = unsafe { bindings::dev_cgroup_virt_region(vaddr) };
    // SAFETY: forwarded from the caller; memory regions are boot-time regions.
    unsafe { charge(record, region, size) }
}

/// Uncharges a vb2 buffer; a no-op on an empty or already uncharged record.
///
/// # Safety
///
/// `record` must be zeroed or filled by one of the charge functions above.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_vb2_uncharge(record: Record) {
    // SAFETY: forwarded from the caller.
    unsafe { bindings::dev_cgroup_uncharge_buffer(record) }
}
