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
//! This crate uses the controller only through the kernel crate's
//! `kernel::cgroup::dev::buffer` (the C API of `include/linux/cgroup_dev.h`),
//! like any driver.

use core::ffi::c_void;
#[macro_use]
#[path = "../ffi_check.rs"]
mod ffi_check;

use kernel::bindings;
use kernel::c_str;
use kernel::cgroup::dev::buffer::{dma_cost, BufferCharge, Consumer, Region};
use kernel::device::Device;
use kernel::dma::{Allocation, Kind, SgTable};
use kernel::ffi::{c_int, c_ulong};

type Record = *mut bindings::dev_cgroup_charge;

// Catch any drift between the C prototypes (via bindgen) and the definitions below.
same_signature! {
    dev_cgroup_vb2_charge_dma_contig: unsafe extern "C" fn(Record, *mut bindings::device, *mut c_void, bindings::dma_addr_t, *mut bindings::sg_table, u64, c_ulong) -> c_int;
    dev_cgroup_vb2_charge_sg: unsafe extern "C" fn(Record, *mut bindings::sg_table, u64) -> c_int;
    dev_cgroup_vb2_charge_vmalloc: unsafe extern "C" fn(Record, *mut c_void, u64) -> c_int;
    dev_cgroup_vb2_uncharge: unsafe extern "C" fn(Record);
}

/// Charges `record` for `size` bytes of `region` as a V4L2 buffer.
fn charge(record: &BufferCharge, region: Option<&Region>, size: u64) -> c_int {
    match record.charge(region, size, Consumer::V4l2) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Charges a dma-contig buffer what the DMA layer took for it.
fn charge_dma_contig(record: &BufferCharge, buffer: &Allocation<'_>) -> c_int {
    let region = Region::of_dma(buffer);
    charge(record, region, dma_cost(buffer, region))
}

/// Charges a dma-contig buffer. Returns 0 or `-ENOMEM`; on `-ENOMEM` the
/// memop frees the buffer and fails the allocation.
///
/// # Safety
///
/// `record` must be valid for writes and hold no live charge; `dev`,
/// `cookie`, `dma_addr` and `size` must describe a live allocation of `dev`:
/// made by `dma_alloc_noncontiguous()` if `sgt` (its table) is not NULL,
/// else by `dma_alloc_attrs()` with `attrs`.
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
    // SAFETY: the buffer's empty record, ours for the call (caller).
    let record = unsafe { BufferCharge::from_raw(record) };
    // SAFETY: the queue's device, live for the call (caller).
    let dev = unsafe { Device::as_ref(dev) };
    // SAFETY: NULL or the allocation's table, live for the call (caller).
    let kind = unsafe { Kind::from_table_or_attrs(sgt, attrs as usize) };
    // SAFETY: a live allocation so described (caller), not freed here.
    let buffer = unsafe { Allocation::from_raw(dev, cookie, dma_addr, size as usize, kind) };
    charge_dma_contig(record, &buffer)
}

/// Charges a dma-sg buffer described by `sgt`.
///
/// # Safety
///
/// `record` must be valid for writes and hold no live charge; `sgt` must be
/// NULL or a valid table of the buffer's pages.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_vb2_charge_sg(
    record: Record,
    sgt: *mut bindings::sg_table,
    size: u64,
) -> c_int {
    // SAFETY: the buffer's empty record, ours for the call (caller).
    let record = unsafe { BufferCharge::from_raw(record) };
    let region = if sgt.is_null() {
        Region::unclassified(c_str!("a buffer without a table"))
    } else {
        // SAFETY: the buffer's table, live for the call (caller).
        Region::of_sg_table(unsafe { SgTable::from_raw(sgt) })
    };
    charge(record, region, size)
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
    // SAFETY: the buffer's empty record, ours for the call (caller).
    let record = unsafe { BufferCharge::from_raw(record) };
    // SAFETY: the start of a live vmalloc allocation (caller).
    let region = unsafe { Region::of_kernel_address(vaddr) };
    charge(record, region, size)
}

/// Uncharges a vb2 buffer; a no-op on an empty or already uncharged record.
///
/// # Safety
///
/// `record` must be zeroed or filled by one of the charge functions above.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_vb2_uncharge(record: Record) {
    // SAFETY: the buffer's record, ours for the call (caller).
    unsafe { BufferCharge::from_raw(record) }.uncharge()
}
