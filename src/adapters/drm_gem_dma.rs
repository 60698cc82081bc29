// SPDX-License-Identifier: GPL-2.0

//! GEM DMA helper adapter: every object `drm_gem_dma_create()` allocates
//! memory for is charged, as `drm`, to the region that backs it, in the
//! context of the task whose ioctl creates it (dumb create, driver create
//! ioctls). Every driver using `DRM_GEM_DMA_DRIVER_OPS` (tidss, and the other
//! display controllers built on the helper) is covered without changes.
//!
//! The helper (patched by `patches/0005`) first asks whether the task's
//! cgroup has room in any region the memory could come from
//! (`dev_cgroup_dma_check_room()`), and fails with `-ENOMEM` before taking any
//! if not. Once the memory exists it calls in to charge it; a refused charge
//! frees the memory here, then the helper drops the object and fails with
//! `-ENOMEM`. `drm_gem_dma_free()` gives the charge back. Imported
//! dma-bufs (`drm_gem_dma_prime_import_sg_table()`) never allocate, so they
//! are never charged: the exporter paid.
//!
//! Region: write-combined memory from `dma_alloc_wc()` is described by the
//! DMA API (`dev_cgroup_dma_region()`); non-coherent memory from
//! `dma_alloc_noncoherent()` is a kernel address whose page decides.

use core::ffi::c_void;
use core::ptr;
#[macro_use]
#[path = "../ffi_check.rs"]
mod ffi_check;

use kernel::bindings;
use kernel::cgroup::dev::buffer::{dma_cost, BufferCharge, Consumer, Region};
use kernel::device::Device;
use kernel::dma::{Allocation, Direction, Kind, ATTR_WRITE_COMBINE};
use kernel::ffi::c_int;
use kernel::prelude::*;

type Record = *mut bindings::dev_cgroup_charge;

// Catch any drift between the C prototypes (via bindgen) and the definitions below.
same_signature! {
    dev_cgroup_drm_gem_dma_charge: unsafe extern "C" fn(Record, *mut bindings::device, *mut *mut c_void, bindings::dma_addr_t, u64, bool) -> c_int;
    dev_cgroup_drm_gem_dma_uncharge: unsafe extern "C" fn(Record);
}

/// Charges the object's memory `buffer`, whose kernel address is in the
/// object's `vaddr`; on a refusal frees it and clears `vaddr`.
fn charge_object(record: &BufferCharge, buffer: Allocation<'_>, vaddr: &mut *mut c_void) -> Result {
    let region = Region::of_dma(&buffer);
    let refusal = match record.charge(region, dma_cost(&buffer, region), Consumer::Drm) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    // Never fails for these kinds; if it did the memory would stay with
    // the object, whose put frees it.
    if buffer.free().is_ok() {
        *vaddr = ptr::null_mut();
    }
    Err(refusal)
}

/// Charges a GEM DMA object's memory, for what it really took (see
/// `dev_cgroup_dma_cost()`). Returns 0, or `-ENOMEM` once the memory is freed
/// and `*vaddr` cleared.
///
/// A refused object is dropped by the helper, and a driver's `free_object`
/// may keep an object whose `vaddr` is set instead of freeing it: vc4 caches
/// it and hands it out again, uncharged, on the next create of that size.
/// Freeing the memory here first means no driver ever sees a refused buffer.
///
/// # Safety
///
/// `record` must be valid for writes and hold no live charge; `dev`, `*vaddr`,
/// `dma_addr` and `size` must describe the object's live allocation, made by
/// `dma_alloc_noncoherent()` (to the device) if `noncoherent`, else by
/// `dma_alloc_wc()`, which nothing else uses during the call; `vaddr` must be
/// valid for writes.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_drm_gem_dma_charge(
    record: Record,
    dev: *mut bindings::device,
    vaddr: *mut *mut c_void,
    dma_addr: bindings::dma_addr_t,
    size: u64,
    noncoherent: bool,
) -> c_int {
    // SAFETY: the object's empty record, ours for the call (caller).
    let record = unsafe { BufferCharge::from_raw(record) };
    // SAFETY: the object's device, live for the call (caller).
    let dev = unsafe { Device::as_ref(dev) };
    // SAFETY: the object's `vaddr`, writable and ours for the call (caller).
    let vaddr = unsafe { &mut *vaddr };
    let kind = if noncoherent {
        Kind::Noncoherent(Direction::ToDevice)
    } else {
        // `dma_alloc_wc()` is `dma_alloc_attrs()` with write-combining.
        Kind::Attrs(ATTR_WRITE_COMBINE)
    };
    // SAFETY: the object's live allocation, so described (caller); freed
    // only by `charge_object`, which then clears `vaddr`, so that the
    // object's put frees nothing.
    let buffer = unsafe { Allocation::from_raw(dev, *vaddr, dma_addr, size as usize, kind) };
    match charge_object(record, buffer, vaddr) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Uncharges a GEM DMA object; a no-op on an empty or already uncharged record.
///
/// # Safety
///
/// `record` must be zeroed or filled by `dev_cgroup_drm_gem_dma_charge`.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_drm_gem_dma_uncharge(record: Record) {
    // SAFETY: the object's record, ours for the call (caller).
    unsafe { BufferCharge::from_raw(record) }.uncharge()
}
