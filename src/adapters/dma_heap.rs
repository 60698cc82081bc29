// SPDX-License-Identifier: GPL-2.0

//! dma-buf heaps adapter: the CMA and system heaps charge each buffer to the
//! region its memory comes from, in the allocating task's context.
//!
//! The heaps (patched by `patches/0003`) call in twice per buffer: once before
//! any memory is taken, to charge, and once when the dma-buf is released (or on
//! the allocation's error path), to uncharge. The charge lives in the buffer's
//! `struct dev_cgroup_charge`, so whoever drops the last reference to the
//! dma-buf, in whatever cgroup, gives back exactly what the allocator was
//! charged.
//!
//! Which region is charged:
//! - CMA heap: the region of the heap's CMA area (`cma region.<area>`);
//! - system heap: `system region.ram` (the heap takes pages from the buddy
//!   allocator).
//!
//! A heap whose memory has no region (a CMA area created after boot) charges
//! nothing rather than failing allocations.
//!
//! This crate is a client of the controller's C API only, like any driver.

#[macro_use]
#[path = "../ffi_check.rs"]
mod ffi_check;

use kernel::bindings;
use kernel::ffi::c_int;

type Record = *mut bindings::dev_cgroup_charge;

// Catch any drift between the C prototypes (via bindgen) and the definitions below.
same_signature! {
    dev_cgroup_dma_heap_charge_cma: unsafe extern "C" fn(Record, *mut bindings::cma, u64) -> c_int;
    dev_cgroup_dma_heap_charge_system: unsafe extern "C" fn(Record, u64) -> c_int;
    dev_cgroup_dma_heap_uncharge: unsafe extern "C" fn(Record);
}

/// Charges `record` for `size` bytes of `region` (NULL: memory without a
/// region, not charged) as a dma-buf heap buffer.
///
/// # Safety
///
/// `record` must be valid for writes and hold no live charge; `region` must be
/// NULL or a region of a boot-time device (never unregistered).
unsafe fn charge(record: Record, region: *mut bindings::dev_cgroup_region, size: u64) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe {
        bindings::dev_cgroup_charge_buffer(
            record,
            region,
            size,
            bindings::dev_cgroup_consumer_DEV_CGROUP_CONSUMER_DMA_HEAP,
        )
    }
}

/// Charges a CMA heap buffer of `size` bytes to `cma`'s region. Returns 0 or
/// `-ENOMEM` (a `dev.max` was hit); the heap must then fail the allocation.
///
/// # Safety
///
/// `record` must be valid for writes and hold no live charge; `cma` must be a
/// CMA area.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_dma_heap_charge_cma(
    record: Record,
    cma: *mut bindings::cma,
    size: u64,
) -> c_int {
    // SAFETY: `cma` is only compared against the registered areas.
    let region = unsafe { bindings::dev_cgroup_cma_region(cma) };
    // SAFETY: forwarded from the caller; CMA regions are boot-time regions.
    unsafe { charge(record, region, size) }
}

/// Charges a system heap buffer of `size` bytes to `system region.ram`.
///
/// # Safety
///
/// `record` must be valid for writes and hold no live charge.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_dma_heap_charge_system(record: Record, size: u64) -> c_int {
    // SAFETY: no preconditions.
    let region = unsafe { bindings::dev_cgroup_system_ram_region() };
    // SAFETY: forwarded from the caller; system RAM is a boot-time region.
    unsafe { charge(record, region, size) }
}

/// Uncharges a heap buffer; a no-op on an empty or already uncharged record.
///
/// # Safety
///
/// `record` must be zeroed or filled by one of the charge functions above.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_dma_heap_uncharge(record: Record) {
    // SAFETY: forwarded from the caller.
    unsafe { bindings::dev_cgroup_uncharge_buffer(record) }
}
