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
#[macro_use]
#[path = "../ffi_check.rs"]
mod ffi_check;

use kernel::bindings;
use kernel::ffi::c_int;

type Record = *mut bindings::dev_cgroup_charge;

// Catch any drift between the C prototypes (via bindgen) and the definitions below.
same_signature! {
    dev_cgroup_drm_gem_dma_charge: unsafe extern "C" fn(Record, *mut bindings::device, *mut *mut c_void, bindings::dma_addr_t, u64, bool) -> c_int;
    dev_cgroup_drm_gem_dma_uncharge: unsafe extern "C" fn(Record);
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
/// `dma_alloc_noncoherent()` if `noncoherent`, else by `dma_alloc_wc()`, and
/// `vaddr` must be valid for writes.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_drm_gem_dma_charge(
    record: Record,
    dev: *mut bindings::device,
    vaddr: *mut *mut c_void,
    dma_addr: bindings::dma_addr_t,
    size: u64,
    noncoherent: bool,
) -> c_int {
    // SAFETY: `vaddr` is valid (caller).
    let addr = unsafe { *vaddr };
    let region = if noncoherent {
        // SAFETY: `addr` is the kernel address of the live allocation (caller).
        unsafe { bindings::dev_cgroup_virt_region(addr) }
    } else {
        // SAFETY: a live `dma_alloc_wc()` allocation (caller), which is
        // `dma_alloc_attrs()` with `DMA_ATTR_WRITE_COMBINE`.
        unsafe {
            bindings::dev_cgroup_dma_region(
                dev,
                addr,
                dma_addr,
                core::ptr::null_mut(),
                size,
                bindings::DMA_ATTR_WRITE_COMBINE as kernel::ffi::c_ulong,
            )
        }
    };
    // SAFETY: no preconditions.
    let cost = unsafe { bindings::dev_cgroup_dma_cost(dev, region, size, noncoherent) };
    // SAFETY: `record` is writable and empty (caller); the region is a
    // boot-time one, or that of the coherent pool holding this live buffer,
    // which is released only once all its buffers are freed.
    let ret = unsafe {
        bindings::dev_cgroup_charge_buffer(
            record,
            region,
            cost,
            bindings::dev_cgroup_consumer_DEV_CGROUP_CONSUMER_DRM,
        )
    };
    if ret != 0 {
        // SAFETY: the live allocation described above (caller), freed once:
        // `*vaddr` is cleared right after, so the object's put frees nothing.
        unsafe {
            bindings::dev_cgroup_dma_free(dev, size, addr, dma_addr, noncoherent);
            *vaddr = core::ptr::null_mut();
        }
    }
    ret
}

/// Uncharges a GEM DMA object; a no-op on an empty or already uncharged record.
///
/// # Safety
///
/// `record` must be zeroed or filled by `dev_cgroup_drm_gem_dma_charge`.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_drm_gem_dma_uncharge(record: Record) {
    // SAFETY: forwarded from the caller.
    unsafe { bindings::dev_cgroup_uncharge_buffer(record) }
}
