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
use core::mem::MaybeUninit;
#[macro_use]
#[path = "../ffi_check.rs"]
mod ffi_check;

use kernel::bindings;
use kernel::c_str;
use kernel::ffi::c_ulong;

// Catch any drift between the C prototypes (via bindgen) and the definitions below.
same_signature! {
    dev_cgroup_dma_region: unsafe extern "C" fn(*mut bindings::device, *mut c_void, bindings::dma_addr_t, *mut bindings::sg_table, u64, c_ulong) -> Region;
}

type Region = *mut bindings::dev_cgroup_region;

/// The region behind a DMA allocation: from `sgt` when the allocator built
/// one, else from a table the DMA API builds for the coherent buffer.
///
/// # Safety
///
/// `sgt` must be NULL or a valid table; otherwise `dev`, `cookie`,
/// `dma_addr`, `size` and `attrs` must describe a live `dma_alloc_attrs()`
/// allocation.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_dma_region(
    dev: *mut bindings::device,
    cookie: *mut c_void,
    dma_addr: bindings::dma_addr_t,
    sgt: *mut bindings::sg_table,
    size: u64,
    attrs: c_ulong,
) -> Region {
    if !sgt.is_null() {
        // SAFETY: `sgt` is a valid table (caller).
        return unsafe { bindings::dev_cgroup_sg_region(sgt) };
    }
    // SAFETY: `dev` and `cookie` describe a live allocation (caller).
    let pool = unsafe { bindings::dev_cgroup_dma_pool_region(dev, cookie) };
    if !pool.is_null() {
        return pool;
    }
    // SAFETY: `dev` and `dma_addr` describe a live allocation (caller).
    let direct = unsafe { bindings::dev_cgroup_dma_direct_region(dev, dma_addr) };
    if !direct.is_null() {
        return direct;
    }
    let mut table = MaybeUninit::<bindings::sg_table>::zeroed();
    // SAFETY: the allocation is live (caller); `table` is a zeroed table for
    // the DMA API to fill.
    let ret = unsafe {
        bindings::dma_get_sgtable_attrs(
            dev,
            table.as_mut_ptr(),
            cookie,
            dma_addr,
            size as usize,
            attrs,
        )
    };
    if ret != 0 {
        // The DMA API could not describe the memory in pages (the mapping
        // has no struct pages, or no table could be allocated): charge it,
        // visibly, where a limit still applies rather than fail the
        // allocation.
        // SAFETY: a NUL-terminated string.
        return unsafe {
            bindings::dev_cgroup_unclassified_region(
                c_str!("no page table from the DMA API").as_char_ptr(),
            )
        };
    }
    // SAFETY: `table` was filled by the DMA API; it is freed right after use.
    unsafe {
        let region = bindings::dev_cgroup_sg_region(table.as_ptr());
        bindings::sg_free_table(table.as_mut_ptr());
        region
    }
}
