// SPDX-License-Identifier: GPL-2.0

//! TTM adapter: device memory managed by TTM (VRAM) charged to the cgroup
//! that owns each buffer object, while the object holds that memory.
//!
//! A DRM memory manager registers its memory as device `drm/<unique>` with
//! one region (the GEM VRAM helper: `region.vram`). TTM (patched by
//! `patches/0006`) records the creating task's cgroup in every buffer object
//! and charges it whenever a resource is allocated in a managed region, so a
//! buffer is charged while it is resident and uncharged when it moves out or
//! is freed. A charge refused at a limit reads as "no space" to TTM, which
//! then evicts, cgroup-aware, through `dev_cgroup_evict_valuable()`.
//!
//! This crate is a client of the controller's C API only, like any driver.

use core::ptr;
#[macro_use]
#[path = "../ffi_check.rs"]
mod ffi_check;

use kernel::bindings;
use kernel::ffi::{c_char, c_int};
use kernel::fmt;
use kernel::prelude::*;
use kernel::str::{CStr, CString};

const __LOG_PREFIX: &[u8] = b"devcg_ttm\0";

type Record = *mut bindings::dev_cgroup_charge;
type Region = *mut bindings::dev_cgroup_region;
type PoolHandle = *mut bindings::dev_cgroup_pool;
type Css = *mut bindings::cgroup_subsys_state;
type DeviceHandle = *mut bindings::dev_cgroup_device;

// Catch any drift between the C prototypes (via bindgen) and the definitions below.
same_signature! {
    dev_cgroup_drm_register_region: unsafe extern "C" fn(*const c_char, *const c_char, u64, *mut Region) -> DeviceHandle;
    dev_cgroup_ttm_charge: unsafe extern "C" fn(Region, Css, u64, Record, *mut PoolHandle) -> c_int;
    dev_cgroup_ttm_uncharge: unsafe extern "C" fn(Record);
}

/// Whether a pointer returned by the C API is an `ERR_PTR`.
fn is_err<T>(p: *mut T) -> bool {
    (p as isize) < 0 && (p as isize) >= -(bindings::MAX_ERRNO as isize)
}

/// Registers `drm/<unique>` with one region of `capacity` bytes and stores
/// the region in `*ret_region`. Returns the device, or NULL (the memory is
/// then simply not accounted; the reason is logged).
///
/// # Safety
///
/// `unique` and `region` must be NULL or NUL-terminated strings;
/// `ret_region` must be valid for a write.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_drm_register_region(
    unique: *const c_char,
    region: *const c_char,
    capacity: u64,
    ret_region: *mut Region,
) -> DeviceHandle {
    // SAFETY: `ret_region` is writable (caller).
    unsafe { *ret_region = ptr::null_mut() };
    if unique.is_null() || region.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: NUL-terminated (caller).
    let unique = unsafe { CStr::from_char_ptr(unique) };
    let Ok(name) = CString::try_from_fmt(fmt!("drm/{}", unique)) else {
        return ptr::null_mut();
    };
    let desc = bindings::dev_cgroup_region_desc {
        name: region,
        capacity,
    };
    // SAFETY: `name` and the region name are NUL-terminated; one descriptor.
    let device = unsafe { bindings::dev_cgroup_register_device(name.as_char_ptr(), &desc, 1) };
    if is_err(device) {
        pr_warn!(
            "{} not accounted: registration failed ({})\n",
            &*name,
            device as isize
        );
        return ptr::null_mut();
    }
    // SAFETY: `device` was just registered and we hold it; `ret_region` is writable.
    unsafe { *ret_region = bindings::dev_cgroup_device_region(device, 0) };
    device
}

/// Charges `size` bytes of `region` to `owner` (NULL: the current task's
/// cgroup) and records the charge. A NULL `region` is memory nobody accounts.
///
/// Returns 0, `-ENOSPC` when a `dev.max` was hit (with a referenced limiting
/// pool in `*ret_limit_pool` if it is non-NULL), or `-ENOMEM`. An owner whose
/// cgroup was removed is charged through its nearest online ancestor, as the
/// memory controller reparents, never the task that triggered the move;
/// memory of a device being unregistered is not charged.
///
/// # Safety
///
/// `region` must be NULL or a region of a device the caller holds; `owner`
/// NULL or a referenced dev css; `record` valid for writes; `ret_limit_pool`
/// NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_ttm_charge(
    region: Region,
    owner: Css,
    size: u64,
    record: Record,
    ret_limit_pool: *mut PoolHandle,
) -> c_int {
    let mut pool: PoolHandle = ptr::null_mut();
    let drm = bindings::dev_cgroup_consumer_DEV_CGROUP_CONSUMER_DRM;
    let mut ret = 0;
    if !region.is_null() {
        // SAFETY: forwarded from the caller.
        ret = unsafe {
            bindings::dev_cgroup_try_charge_owner(
                owner,
                region,
                size,
                drm,
                &mut pool,
                ret_limit_pool,
            )
        };
    }
    // SAFETY: `record` is writable (caller).
    unsafe {
        (*record).pool = pool;
        (*record).size = if pool.is_null() { 0 } else { size };
    }
    if ret == EAGAIN.to_errno() {
        ENOSPC.to_errno()
    } else if ret == ENODEV.to_errno() {
        0
    } else {
        ret
    }
}

/// Uncharges a TTM resource; a no-op on an empty or already uncharged record.
///
/// # Safety
///
/// `record` must be zeroed or filled by `dev_cgroup_ttm_charge`.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_ttm_uncharge(record: Record) {
    // SAFETY: forwarded from the caller.
    unsafe { bindings::dev_cgroup_uncharge_buffer(record) }
}
