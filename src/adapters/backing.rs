// SPDX-License-Identifier: GPL-2.0

//! Which region backs a DMA API allocation, for the adapters whose frameworks
//! allocate through the DMA API (videobuf2 dma-contig, the GEM DMA helper).
//!
//! The answer comes from the memory, never from the device: the DMA layer may
//! serve one device from a per-device CMA area, the default area or the
//! page allocator, depending on size and availability. The allocation's
//! first page decides (one allocation never spans allocators); its region is
//! looked up in `memory_regions.c`: from the DMA address for a directly
//! mapped device, which allocates nothing, else from a table the DMA API
//! builds.

use core::ffi::c_void;
#[macro_use]
#[path = "../ffi_check.rs"]
mod ffi_check;

use kernel::bindings;
use kernel::cgroup::dev::buffer::Region;
use kernel::device::Device;
use kernel::dma::{Allocation, Kind};
use kernel::ffi::c_ulong;

// Catch any drift between the C prototypes (via bindgen) and the definitions below.
same_signature! {
    dev_cgroup_dma_region: unsafe extern "C" fn(*mut bindings::device, *mut c_void, bindings::dma_addr_t, *mut bindings::sg_table, u64, c_ulong) -> *mut bindings::dev_cgroup_region;
}

/// The region behind a DMA allocation (`kernel::cgroup::dev::buffer::Region::of_dma`):
/// from `sgt` when the allocator built one (`dma_alloc_noncontiguous()`),
/// else for a `dma_alloc_attrs()` allocation with `attrs`.
///
/// # Safety
///
/// `dev` (NULL: no region), `cookie`, `dma_addr`, `sgt`, `size` and `attrs`
/// must describe a live allocation so made.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_dma_region(
    dev: *mut bindings::device,
    cookie: *mut c_void,
    dma_addr: bindings::dma_addr_t,
    sgt: *mut bindings::sg_table,
    size: u64,
    attrs: c_ulong,
) -> *mut bindings::dev_cgroup_region {
    if dev.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: the allocation's device, live for the call (caller).
    let dev = unsafe { Device::as_ref(dev) };
    // SAFETY: NULL or the allocation's table, live for the call (caller).
    let kind = unsafe { Kind::from_table_or_attrs(sgt, attrs as usize) };
    // SAFETY: a live allocation so described (caller), not freed here.
    let buffer = unsafe { Allocation::from_raw(dev, cookie, dma_addr, size as usize, kind) };
    Region::as_raw(Region::of_dma(&buffer))
}
