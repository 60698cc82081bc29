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
//! This crate uses the controller only through the kernel crate's
//! `kernel::cgroup::dev::buffer` (the C API of `include/linux/cgroup_dev.h`),
//! like any driver.

#[macro_use]
#[path = "../ffi_check.rs"]
mod ffi_check;

use kernel::bindings;
use kernel::cgroup::dev::buffer::{BufferCharge, Consumer, Region};
use kernel::cma::Cma;
use kernel::ffi::c_int;

type Record = *mut bindings::dev_cgroup_charge;

// Catch any drift between the C prototypes (via bindgen) and the definitions below.
same_signature! {
    dev_cgroup_dma_heap_charge_cma: unsafe extern "C" fn(Record, *mut bindings::cma, u64) -> c_int;
    dev_cgroup_dma_heap_charge_system: unsafe extern "C" fn(Record, u64) -> c_int;
    dev_cgroup_dma_heap_uncharge: unsafe extern "C" fn(Record);
}

/// Charges `record` for `size` bytes of `region` (`None`: memory without a
/// region, not charged) as a dma-buf heap buffer.
fn charge(record: &BufferCharge, region: Option<&Region>, size: u64) -> c_int {
    match record.charge(region, size, Consumer::DmaHeap) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Charges a CMA heap buffer of `size` bytes to `cma`'s region. Returns 0 or
/// `-ENOMEM` (a `dev.max` was hit); the heap must then fail the allocation.
///
/// # Safety
///
/// `record` must be valid for writes and hold no live charge; `cma` must be
/// NULL or a CMA area.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_dma_heap_charge_cma(
    record: Record,
    cma: *mut bindings::cma,
    size: u64,
) -> c_int {
    // SAFETY: the heap's empty record, ours for the call (caller).
    let record = unsafe { BufferCharge::from_raw(record) };
    // SAFETY: the heap's CMA area (caller).
    let region = (!cma.is_null()).then(|| unsafe { Cma::from_raw(cma) });
    charge(record, region.and_then(Region::of_cma), size)
}

/// Charges a system heap buffer of `size` bytes to `system region.ram`.
///
/// # Safety
///
/// `record` must be valid for writes and hold no live charge.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_dma_heap_charge_system(record: Record, size: u64) -> c_int {
    // SAFETY: the heap's empty record, ours for the call (caller).
    let record = unsafe { BufferCharge::from_raw(record) };
    charge(record, Region::system_ram(), size)
}

/// Uncharges a heap buffer; a no-op on an empty or already uncharged record.
///
/// # Safety
///
/// `record` must be zeroed or filled by one of the charge functions above.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_dma_heap_uncharge(record: Record) {
    // SAFETY: the buffer's record, ours for the call (caller).
    unsafe { BufferCharge::from_raw(record) }.uncharge()
}
