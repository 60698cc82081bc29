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
//! This crate uses the controller only through the kernel crate's
//! `kernel::cgroup::dev::buffer` (the C API of `include/linux/cgroup_dev.h`),
//! like any driver.

use core::ptr;
#[macro_use]
#[path = "../ffi_check.rs"]
mod ffi_check;

use kernel::bindings;
use kernel::cgroup::dev::buffer::{
    BufferCharge, Consumer, LimitPoolSlot, Region, RegionDesc, Registration,
};
use kernel::cgroup::dev::PoolHandle;
use kernel::cgroup::Css;
use kernel::ffi::{c_char, c_int};
use kernel::fmt;
use kernel::prelude::*;
use kernel::str::{CStr, CString};

const __LOG_PREFIX: &[u8] = b"devcg_ttm\0";

type Record = *mut bindings::dev_cgroup_charge;
type RegionPtr = *mut bindings::dev_cgroup_region;
type CssPtr = *mut bindings::cgroup_subsys_state;
type DeviceHandle = *mut bindings::dev_cgroup_device;

same_signature! {
    dev_cgroup_drm_register_region: unsafe extern "C" fn(*const c_char, *const c_char, u64, *mut RegionPtr) -> DeviceHandle;
    dev_cgroup_ttm_charge: unsafe extern "C" fn(RegionPtr, CssPtr, u64, Record, *mut PoolHandle) -> c_int;
    dev_cgroup_ttm_uncharge: unsafe extern "C" fn(Record);
}

/// Registers `drm/<unique>` with one region; `None` (logged) on failure.
fn register_region(unique: &CStr, region: &CStr, capacity: u64) -> Option<(Registration, CString)> {
    let name = CString::try_from_fmt(fmt!("drm/{}", unique)).ok()?;
    match Registration::new(&name, &[RegionDesc::new(region, capacity)]) {
        Ok(device) => Some((device, name)),
        Err(e) => {
            pr_warn!(
                "{} not accounted: registration failed ({})\n",
                &*name,
                e.to_errno()
            );
            None
        }
    }
}

/// Registers a DRM device's managed memory as device `drm/<unique>` with one
/// region `region` of `capacity` bytes. Returns the device, which the caller
/// unregisters with `dev_cgroup_unregister_device()`, and its region in
/// `*ret_region`; NULL (and a NULL region) if it could not be registered:
/// the memory is then not accounted.
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
    ret_region: *mut RegionPtr,
) -> DeviceHandle {
    // SAFETY: writable (caller).
    let ret_region = unsafe { &mut *ret_region };
    *ret_region = ptr::null_mut();
    if unique.is_null() || region.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: NUL-terminated (caller).
    let (unique, region) = unsafe { (CStr::from_char_ptr(unique), CStr::from_char_ptr(region)) };
    let Some((device, _name)) = register_region(unique, region, capacity) else {
        return ptr::null_mut();
    };
    *ret_region = Region::as_raw(device.region(0));
    device.into_raw()
}

/// Charges a resource of `size` bytes in `region` (`None`: not accounted)
/// to `owner`'s cgroup (the current task's if `None`), as `errno` for TTM:
/// a refusal at a limit is "no space" (`-ENOSPC`), which makes TTM evict;
/// a region whose device is gone charges nothing.
fn charge(
    record: &BufferCharge,
    region: Option<&Region>,
    owner: Option<&Css>,
    size: u64,
    limit: Option<&mut LimitPoolSlot>,
) -> c_int {
    let result = match region {
        Some(region) => record.charge_owner(owner, region, size, Consumer::Drm, limit),
        None => record.charge(None, size, Consumer::Drm),
    };
    match result {
        Ok(()) => 0,
        Err(e) if e == EAGAIN => ENOSPC.to_errno(),
        Err(e) if e == ENODEV => 0,
        Err(e) => e.to_errno(),
    }
}

/// Charges `size` bytes of `region` to `owner` (NULL: the current task's
/// cgroup) and records the charge. A NULL `region` is memory nobody accounts.
///
/// Returns 0, `-ENOSPC` when a `dev.max` was hit (with a referenced limiting
/// pool in `*ret_limit_pool` if it is non-NULL, for
/// `dev_cgroup_evict_valuable()` and `dev_cgroup_pool_put()`), or `-ENOMEM`.
/// An owner whose cgroup was removed is charged through its nearest online
/// ancestor, as the memory controller reparents, never the task that
/// triggered the move; memory of a device being unregistered is not charged.
///
/// # Safety
///
/// `region` must be NULL or a region whose device the caller holds; `owner`
/// NULL or a dev css the caller holds a reference on; `record` valid for
/// writes and holding no live charge; `ret_limit_pool` NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_ttm_charge(
    region: RegionPtr,
    owner: CssPtr,
    size: u64,
    record: Record,
    ret_limit_pool: *mut PoolHandle,
) -> c_int {
    // SAFETY: NULL or held for the call (caller).
    let region = unsafe { Region::from_raw(region) };
    // SAFETY: referenced for the call (caller).
    let owner = (!owner.is_null()).then(|| unsafe { Css::from_raw(owner) });
    // SAFETY: the resource's empty record, ours for the call (caller).
    let record = unsafe { BufferCharge::from_raw(record) };
    // SAFETY: NULL or writable for the call (caller); a `LimitPoolSlot` is
    // a transparent pool pointer.
    let limit = unsafe { ret_limit_pool.cast::<LimitPoolSlot>().as_mut() };
    charge(record, region, owner, size, limit)
}

/// Uncharges a TTM resource; a no-op on an empty or already uncharged record.
///
/// # Safety
///
/// `record` must be zeroed or filled by `dev_cgroup_ttm_charge`.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_ttm_uncharge(record: Record) {
    // SAFETY: the resource's record, ours for the call (caller).
    unsafe { BufferCharge::from_raw(record) }.uncharge()
}
