// SPDX-License-Identifier: GPL-2.0

//! The kernel API of `include/linux/cgroup_dev.h`, for drivers and adapters.
//!
//! These are the only functions C code outside the controller calls. Each
//! converts raw handles to owned Rust values at the edge and calls safe code.
//! Their C prototypes are checked against these definitions at compile time.
//!
//! The charge and uncharge entry points run for every device buffer, so
//! they go to `.text.hot`, where the linker puts the kernel's hot text
//! together, at the start of `.text`: there they never straddle a page,
//! which under QEMU's TCG costs a translation-block lookup per call.

use core::fmt::Write;
use core::ptr;
use kernel::bindings;
use kernel::cgroup::dev::buffer::eopnotsupp;
use kernel::cgroup::dev::{ChargeRecord, PoolHandleOf};
use kernel::ffi::{c_char, c_int, c_uint};
use kernel::prelude::*;
use kernel::seq_file::SeqFile;
use kernel::str::CStr;
use kernel::sync::{Arc, ArcBorrow};

use crate::logic::counter;
use crate::pool::{self, ChargeError, Fast, Pool, PoolHandle};
use crate::registry::{self, Device, HeldRegion, Region, RegionDesc, Registry};
use crate::DevCss;
use kernel::types::ARef;

type DeviceHandle = *mut bindings::dev_cgroup_device;
type RegionHandle = *mut bindings::dev_cgroup_region;

// Catch any drift between the C prototypes (via bindgen) and the definitions below.
same_signature! {
    dev_cgroup_register_device: unsafe extern "C" fn(*const c_char, *const bindings::dev_cgroup_region_desc, c_uint) -> DeviceHandle;
    dev_cgroup_device_region: unsafe extern "C" fn(DeviceHandle, c_uint) -> RegionHandle;
    dev_cgroup_unregister_device: unsafe extern "C" fn(DeviceHandle);
    dev_cgroup_device_get: unsafe extern "C" fn(DeviceHandle);
    dev_cgroup_device_put: unsafe extern "C" fn(DeviceHandle);
    dev_cgroup_try_charge: unsafe extern "C" fn(RegionHandle, u64, bindings::dev_cgroup_consumer, *mut PoolHandle, *mut PoolHandle) -> c_int;
    dev_cgroup_try_charge_css: unsafe extern "C" fn(*mut bindings::cgroup_subsys_state, RegionHandle, u64, bindings::dev_cgroup_consumer, *mut PoolHandle, *mut PoolHandle) -> c_int;
    dev_cgroup_try_charge_owner: unsafe extern "C" fn(*mut bindings::cgroup_subsys_state, RegionHandle, u64, bindings::dev_cgroup_consumer, *mut PoolHandle, *mut PoolHandle) -> c_int;
    dev_cgroup_uncharge: unsafe extern "C" fn(PoolHandle, u64);
    dev_cgroup_check_room: unsafe extern "C" fn(*const RegionHandle, *const u64, c_uint) -> c_int;
    dev_cgroup_evict_valuable: unsafe extern "C" fn(PoolHandle, PoolHandle, bool, *mut bool) -> bool;
    dev_cgroup_pool_put: unsafe extern "C" fn(PoolHandle);
    dev_cgroup_charge_buffer: unsafe extern "C" fn(*mut bindings::dev_cgroup_charge, RegionHandle, u64, bindings::dev_cgroup_consumer) -> c_int;
    dev_cgroup_uncharge_buffer: unsafe extern "C" fn(*mut bindings::dev_cgroup_charge);
    dev_cgroup_charge_take: unsafe extern "C" fn(*mut bindings::dev_cgroup_charge, *mut u64) -> c_int;
    dev_cgroup_charge_show: unsafe extern "C" fn(*mut bindings::dev_cgroup_charge, *mut bindings::seq_file);
}

/// Most regions a device may register in one call.
const MAX_REGIONS: usize = 64;

/// Registers a device and its regions.
///
/// # Safety
///
/// `name` must be a NUL-terminated string and `regions` must point to
/// `nr_regions` descriptors whose names are NUL-terminated strings.
#[no_mangle]
pub(crate) unsafe extern "C" fn dev_cgroup_register_device(
    name: *const c_char,
    regions: *const bindings::dev_cgroup_region_desc,
    nr_regions: c_uint,
) -> DeviceHandle {
    let nr = nr_regions as usize;
    if name.is_null() || regions.is_null() || nr == 0 || nr > MAX_REGIONS {
        return err_ptr(EINVAL);
    }
    // SAFETY: the caller passes a NUL-terminated `name`.
    let Ok(name) = unsafe { CStr::from_char_ptr(name) }.to_str() else {
        return err_ptr(EINVAL);
    };
    let mut descs = KVec::new();
    for i in 0..nr {
        // SAFETY: the caller passes `nr_regions` descriptors.
        let desc = unsafe { &*regions.add(i) };
        if desc.name.is_null() {
            return err_ptr(EINVAL);
        }
        // SAFETY: the caller passes NUL-terminated region names.
        let Ok(region_name) = unsafe { CStr::from_char_ptr(desc.name) }.to_str() else {
            return err_ptr(EINVAL);
        };
        if descs
            .push(
                RegionDesc {
                    name: region_name,
                    capacity: desc.capacity,
                },
                GFP_KERNEL,
            )
            .is_err()
        {
            return err_ptr(ENOMEM);
        }
    }
    match registry::get().and_then(|r| r.register(name, &descs)) {
        Ok(device) => Arc::into_raw(device).cast_mut().cast(),
        Err(e) => err_ptr(e),
    }
}

fn err_ptr<T>(e: Error) -> *mut T {
    // The kernel's ERR_PTR: a negative errno cast to a pointer.
    e.to_errno() as isize as *mut T
}

/// Borrows the device behind a handle.
///
/// # Safety
///
/// `dev` must be a handle from `dev_cgroup_register_device` on which the
/// caller holds a reference.
unsafe fn device<'a>(dev: DeviceHandle) -> ArcBorrow<'a, Device> {
    // SAFETY: handles are `Arc::into_raw` pointers, referenced by the caller.
    unsafe { ArcBorrow::from_raw(dev.cast_const().cast::<Device>()) }
}

/// The `index`-th region of a device, valid while the caller holds the device.
///
/// # Safety
///
/// `dev` must be a referenced device handle.
#[no_mangle]
pub(crate) unsafe extern "C" fn dev_cgroup_device_region(
    dev: DeviceHandle,
    index: c_uint,
) -> RegionHandle {
    if dev.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: forwarded from the caller.
    let device = unsafe { device(dev) };
    match device.region_at(index as usize) {
        Some(region) => ptr::from_ref::<Region>(region).cast_mut().cast(),
        None => ptr::null_mut(),
    }
}

/// Unregisters a device and drops the reference registration returned.
///
/// # Safety
///
/// `dev` must be a referenced device handle, unregistered only once.
#[no_mangle]
pub(crate) unsafe extern "C" fn dev_cgroup_unregister_device(dev: DeviceHandle) {
    if dev.is_null() {
        return;
    }
    // SAFETY: the caller gives us the reference registration returned.
    let device = unsafe { Arc::from_raw(dev.cast_const().cast::<Device>()) };
    if let Ok(registry) = registry::get() {
        registry.unregister(&device);
    }
}

/// Takes another reference on a device handle.
///
/// # Safety
///
/// `dev` must be a referenced device handle.
#[no_mangle]
pub(crate) unsafe extern "C" fn dev_cgroup_device_get(dev: DeviceHandle) {
    if !dev.is_null() {
        // SAFETY: forwarded from the caller.
        let extra: Arc<Device> = unsafe { device(dev) }.into();
        let _ = Arc::into_raw(extra);
    }
}

/// Drops a reference taken with `dev_cgroup_device_get`.
///
/// # Safety
///
/// `dev` must be a device handle on which the caller holds that reference.
#[no_mangle]
pub(crate) unsafe extern "C" fn dev_cgroup_device_put(dev: DeviceHandle) {
    if !dev.is_null() {
        // SAFETY: the caller gives its reference back.
        drop(unsafe { Arc::from_raw(dev.cast_const().cast::<Device>()) });
    }
}

/// The out-parameters of a charge entry point, checked and cleared:
/// `ret_pool` (required) and `ret_limit_pool` (optional; ignored if it is
/// `ret_pool` itself), or `None` if `ret_pool` is NULL.
///
/// # Safety
///
/// Each pointer must be NULL or valid for writes for `'a`.
#[inline(always)]
unsafe fn outputs<'a>(
    ret_pool: *mut PoolHandle,
    ret_limit_pool: *mut PoolHandle,
) -> Option<(&'a mut PoolHandle, Option<&'a mut PoolHandle>)> {
    // One location passed for both would make two `&mut` to it: then there
    // is no limit slot.
    let ret_limit_pool = if ptr::eq(ret_pool, ret_limit_pool) {
        ptr::null_mut()
    } else {
        ret_limit_pool
    };
    // SAFETY: NULL or writable for `'a` (caller), and not `ret_pool`.
    let limit = unsafe { ret_limit_pool.as_mut() }.map(|limit| {
        *limit = ptr::null_mut();
        limit
    });
    // SAFETY: as above.
    let pool = unsafe { ret_pool.as_mut() }?;
    *pool = ptr::null_mut();
    Some((pool, limit))
}

/// Charges the current task's cgroup.
///
/// # Safety
///
/// `region` must belong to a device the caller holds; `ret_pool` must be
/// valid for a write; `ret_limit_pool` must be NULL or valid for a write.
#[no_mangle]
#[link_section = ".text.hot.devcg"]
pub(crate) unsafe extern "C" fn dev_cgroup_try_charge(
    region: RegionHandle,
    size: u64,
    consumer: bindings::dev_cgroup_consumer,
    ret_pool: *mut PoolHandle,
    ret_limit_pool: *mut PoolHandle,
) -> c_int {
    // SAFETY: NULL or writable for the call (caller).
    let Some((ret_pool, ret_limit_pool)) = (unsafe { outputs(ret_pool, ret_limit_pool) }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: NULL or a region whose device the caller holds for the call.
    let Some(region) = (unsafe { held_region(region) }) else {
        return EINVAL.to_errno();
    };
    let Some(css) = DevCss::charged() else {
        return ENODEV.to_errno();
    };
    charge_as_current(
        css,
        region,
        size,
        consumer as usize,
        ret_pool,
        ret_limit_pool,
    )
}

/// Charges `css`, which was the current task's cgroup when it was looked up.
#[inline(always)]
fn charge_as_current(
    css: ARef<DevCss>,
    region: HeldRegion<'_>,
    size: u64,
    consumer: usize,
    ret_pool: &mut PoolHandle,
    mut ret_limit_pool: Option<&mut PoolHandle>,
) -> c_int {
    let ret = charge(
        &css,
        region,
        size,
        consumer,
        ret_pool,
        ret_limit_pool.as_deref_mut(),
    );
    if ret == ENOENT.to_errno() {
        return charge_current_again(css, region, size, consumer, ret_pool, ret_limit_pool);
    }
    ret
}

/// [`dev_cgroup_try_charge`] after the task's cgroup was found offline: the
/// task was migrated and its old cgroup removed between looking up the
/// task's cgroup and charging it. As the memory controller does, charge the
/// task's cgroup as it is now. If the task is still seen in the dying one (it
/// is exiting, or the migration is not visible yet), or its new cgroup went
/// offline too, walk up from there to the nearest online ancestor, which is
/// where a removed cgroup's charges end up anyway. The task's cgroup is
/// looked up once only, and each step after goes up, so this ends at the
/// latest at the root, which never goes offline. `-ENOENT` is only for a
/// cgroup named by the caller.
#[cold]
#[inline(never)]
fn charge_current_again(
    offline: ARef<DevCss>,
    region: HeldRegion<'_>,
    size: u64,
    consumer: usize,
    ret_pool: &mut PoolHandle,
    ret_limit_pool: Option<&mut PoolHandle>,
) -> c_int {
    let next = match DevCss::charged() {
        Some(now) if !ptr::eq(&*now, &*offline) => Some(now),
        _ => offline.parent().map(ARef::from),
    };
    charge_nearest_online(next, region, size, consumer, ret_pool, ret_limit_pool)
}

/// Charges `from`, or if its cgroup went offline the nearest online
/// ancestor: where a removed cgroup's charges end up anyway, as the memory
/// controller reparents them. Ends at the latest at the root, which never
/// goes offline; `-ENOENT` only if `from` is `None`.
fn charge_nearest_online(
    from: Option<ARef<DevCss>>,
    region: HeldRegion<'_>,
    size: u64,
    consumer: usize,
    ret_pool: &mut PoolHandle,
    mut ret_limit_pool: Option<&mut PoolHandle>,
) -> c_int {
    let mut next = from;
    while let Some(css) = next {
        let ret = charge(
            &css,
            region,
            size,
            consumer,
            ret_pool,
            ret_limit_pool.as_deref_mut(),
        );
        if ret != ENOENT.to_errno() {
            return ret;
        }
        next = css.parent().map(ARef::from);
    }
    ENOENT.to_errno()
}

/// Charges the cgroup that owns a buffer: `owner`, or if its cgroup was
/// removed since, its nearest online ancestor (never the task that happens
/// to trigger the charge, as when TTM moves a buffer back into VRAM). A NULL
/// `owner` charges the current task's cgroup.
///
/// # Safety
///
/// As [`dev_cgroup_try_charge`], and `owner` must be NULL or a css of the
/// dev controller on which the caller holds a reference for the call.
#[no_mangle]
pub(crate) unsafe extern "C" fn dev_cgroup_try_charge_owner(
    owner: *mut bindings::cgroup_subsys_state,
    region: RegionHandle,
    size: u64,
    consumer: bindings::dev_cgroup_consumer,
    ret_pool: *mut PoolHandle,
    ret_limit_pool: *mut PoolHandle,
) -> c_int {
    if owner.is_null() {
        // SAFETY: forwarded from the caller.
        return unsafe { dev_cgroup_try_charge(region, size, consumer, ret_pool, ret_limit_pool) };
    }
    // SAFETY: NULL or writable for the call (caller).
    let Some((ret_pool, ret_limit_pool)) = (unsafe { outputs(ret_pool, ret_limit_pool) }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: NULL or a region whose device the caller holds for the call.
    let Some(region) = (unsafe { held_region(region) }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: the caller holds a reference on `owner` for the call.
    let owner = ARef::from(unsafe { DevCss::from_raw(owner) });
    charge_nearest_online(
        Some(owner),
        region,
        size,
        consumer as usize,
        ret_pool,
        ret_limit_pool,
    )
}

/// Charges as [`dev_cgroup_try_charge`] would for a task whose cgroup was
/// found to be `css`, which may have gone offline: the KUnit suite's way to
/// reach the migration race deterministically.
///
/// # Safety
///
/// As [`dev_cgroup_try_charge_css`].
#[cfg(CONFIG_CGROUP_DEV_KUNIT_TEST)]
#[no_mangle]
pub(crate) unsafe extern "C" fn devcg_test_charge_current_from(
    css: *mut bindings::cgroup_subsys_state,
    region: RegionHandle,
    size: u64,
    consumer: bindings::dev_cgroup_consumer,
    ret_pool: *mut PoolHandle,
) -> c_int {
    // SAFETY: NULL or writable for the call (caller).
    let Some((ret_pool, _)) = (unsafe { outputs(ret_pool, ptr::null_mut()) }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: NULL or a region whose device the caller holds for the call.
    let (Some(region), false) = (unsafe { held_region(region) }, css.is_null()) else {
        return EINVAL.to_errno();
    };
    // SAFETY: the caller holds a reference on `css` for the call.
    let css = ARef::from(unsafe { DevCss::from_raw(css) });
    charge_as_current(css, region, size, consumer as usize, ret_pool, None)
}

/// How many pools the cgroup of `css` has: lets the KUnit suite check that
/// a failed write leaves none behind.
///
/// # Safety
///
/// `css` must be a css of the dev controller on which the caller holds a
/// reference for the call.
#[cfg(CONFIG_CGROUP_DEV_KUNIT_TEST)]
#[no_mangle]
pub(crate) unsafe extern "C" fn devcg_test_pool_count(
    css: *mut bindings::cgroup_subsys_state,
) -> usize {
    if css.is_null() {
        return 0;
    }
    // SAFETY: the caller holds a reference on `css` for the call.
    unsafe { DevCss::from_raw(css) }.state().pool_count()
}

/// Tells a caller about to take memory that may come from any one of `nr`
/// regions, `costs[i]` bytes if from `regions[i]`, whether charging it to
/// the current task's cgroup would surely be refused: 0 if some region has
/// room now (the charge made once the memory exists decides), else
/// `-ENOMEM`, with the refusal of the first region counted in `dev.events`
/// as a refused charge's would be. A NULL region (memory nobody accounts)
/// always has room. Nothing is charged and no pool is created.
///
/// # Safety
///
/// `regions` and `costs` must point to `nr` entries each; every non-NULL
/// region must belong to a device the caller holds.
#[no_mangle]
pub(crate) unsafe extern "C" fn dev_cgroup_check_room(
    regions: *const RegionHandle,
    costs: *const u64,
    nr: c_uint,
) -> c_int {
    if regions.is_null() || costs.is_null() || nr == 0 {
        return 0;
    }
    // SAFETY: `regions` and `costs` point to `nr` entries (caller).
    let (regions, costs) = unsafe {
        (
            core::slice::from_raw_parts(regions, nr as usize),
            core::slice::from_raw_parts(costs, nr as usize),
        )
    };
    if regions.iter().any(|region| region.is_null()) {
        // Memory nobody accounts always has room.
        return 0;
    }
    let candidates = regions.iter().zip(costs).filter_map(|(region, cost)| {
        // SAFETY: a region whose device the caller holds for the call.
        Some((unsafe { held_region(*region) }?, *cost))
    });
    match check_room(candidates) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// [`dev_cgroup_check_room`] for the current task's cgroup.
fn check_room<'a>(candidates: impl Iterator<Item = (HeldRegion<'a>, u64)> + Clone) -> Result {
    let Some(css) = DevCss::charged() else {
        return Ok(());
    };
    let Some((first, first_cost)) = candidates.clone().next() else {
        return Ok(());
    };
    if candidates
        .clone()
        .any(|(region, cost)| !pool::refused_now(&css, region, cost, false))
    {
        return Ok(());
    }
    if pool::refused_now(&css, first, first_cost, true) {
        Err(ENOMEM)
    } else {
        Ok(())
    }
}

/// Charges an explicit cgroup (tests, charge transfer).
///
/// # Safety
///
/// As `dev_cgroup_try_charge`, and `css` must be a css of the dev controller
/// on which the caller holds a reference.
#[no_mangle]
#[link_section = ".text.hot.devcg"]
pub(crate) unsafe extern "C" fn dev_cgroup_try_charge_css(
    css: *mut bindings::cgroup_subsys_state,
    region: RegionHandle,
    size: u64,
    consumer: bindings::dev_cgroup_consumer,
    ret_pool: *mut PoolHandle,
    ret_limit_pool: *mut PoolHandle,
) -> c_int {
    // SAFETY: NULL or writable for the call (caller).
    let Some((ret_pool, ret_limit_pool)) = (unsafe { outputs(ret_pool, ret_limit_pool) }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: NULL or a region whose device the caller holds for the call.
    let (Some(region), false) = (unsafe { held_region(region) }, css.is_null()) else {
        return EINVAL.to_errno();
    };
    // SAFETY: the caller holds a reference on `css` for the whole call, which
    // is as long as the borrow lives.
    let css = unsafe { DevCss::from_raw(css) };
    charge(
        css,
        region,
        size,
        consumer as usize,
        ret_pool,
        ret_limit_pool,
    )
}

/// Charges `css`: 0 with the charge's handle in `ret_pool`, or an errno
/// (`-EAGAIN` at a limit, with the limiting pool, referenced, in
/// `ret_limit_pool` if given).
#[inline(always)]
fn charge(
    css: &DevCss,
    region: HeldRegion<'_>,
    size: u64,
    consumer: usize,
    ret_pool: &mut PoolHandle,
    ret_limit_pool: Option<&mut PoolHandle>,
) -> c_int {
    // Anything but the common case ends in a tail call (see
    // `counter::raise_fast`).
    match pool::try_charge_fast(css, region, size, consumer) {
        Fast::Charged(raised) => {
            *ret_pool = raised.node().charge_handle(consumer);
            raised.commit(consumer);
            0
        }
        Fast::Refused(unfinished) => {
            let (pool, level, size, stop) = unfinished.into_parts();
            // SAFETY: the parts of an unfinished charge, used once.
            unsafe { charge_refused(pool, level, size, stop, consumer, region, ret_limit_pool) }
        }
        Fast::Slow => charge_slow(css, region, size, consumer, ret_pool, ret_limit_pool),
        Fast::Failed(e) => e.to_errno(),
    }
}

/// [`charge`] when a level refused.
///
/// # Safety
///
/// `pool`, `level`, `size` and `stop` must be the parts of an unfinished
/// charge, used once. (They travel apart so that they stay in registers.)
#[cold]
#[inline(never)]
unsafe fn charge_refused<'a>(
    pool: &'a Pool,
    level: &'a Pool,
    size: u64,
    stop: counter::Stop,
    consumer: usize,
    region: HeldRegion<'_>,
    ret_limit_pool: Option<&mut PoolHandle>,
) -> c_int {
    // SAFETY: forwarded from the caller.
    let unfinished = unsafe { counter::Unfinished::from_parts(pool, level, size, stop) };
    charge_failed(pool::refused(unfinished), consumer, region, ret_limit_pool)
}

/// [`charge`] when the cgroup has no pool for the region yet, or its pool
/// keeps no line, or for a charge too large for the fast path (see
/// `pool::Fast::Slow`).
#[cold]
#[inline(never)]
fn charge_slow(
    css: &DevCss,
    region: HeldRegion<'_>,
    size: u64,
    consumer: usize,
    ret_pool: &mut PoolHandle,
    ret_limit_pool: Option<&mut PoolHandle>,
) -> c_int {
    match pool::try_charge(css, region, size, consumer) {
        Ok(pool) => {
            *ret_pool = pool.charge_handle(consumer);
            0
        }
        Err(e) => charge_failed(e, consumer, region, ret_limit_pool),
    }
}

/// The errno of a failed charge; hands out the limiting pool if asked.
fn charge_failed(
    error: ChargeError<'_>,
    consumer: usize,
    region: HeldRegion<'_>,
    ret_limit_pool: Option<&mut PoolHandle>,
) -> c_int {
    match error {
        ChargeError::Limit(limiting) => {
            if let Some(ret_limit_pool) = ret_limit_pool {
                *ret_limit_pool = limiting.referenced_handle(consumer, region);
            }
            EAGAIN.to_errno()
        }
        ChargeError::Errno(e) => e.to_errno(),
    }
}

/// The region behind a handle, for as long as the caller holds its device;
/// `None` for NULL.
///
/// # Safety
///
/// `region` must be NULL or a region handle whose device the caller holds
/// for `'a`.
#[inline(always)]
unsafe fn held_region<'a>(region: RegionHandle) -> Option<HeldRegion<'a>> {
    if region.is_null() {
        return None;
    }
    // SAFETY: region handles point to the data of an `Arc<Region>` kept alive
    // by the device, which the caller holds.
    let region = unsafe { ArcBorrow::from_raw(region.cast_const().cast::<Region>()) };
    // SAFETY: the caller holds the device for `'a`.
    Some(unsafe { HeldRegion::new(region) })
}

/// Uncharges what a successful charge returned.
///
/// # Safety
///
/// `pool` must be a handle returned by a successful charge of `size` bytes,
/// uncharged once.
#[no_mangle]
#[link_section = ".text.hot.devcg"]
pub(crate) unsafe extern "C" fn dev_cgroup_uncharge(pool: PoolHandle, size: u64) {
    if pool.is_null() {
        return;
    }
    // SAFETY: the caller gives back a charge it holds, which keeps the pool.
    let (pool, consumer) = unsafe { Pool::from_pool_handle(pool) };
    // SAFETY: as above; the charge's bytes keep the pool and its ancestors alive.
    if let Err(size) = unsafe { pool::uncharge(pool, size, consumer) } {
        kernel::cgroup::dev::warn_underflow(size);
    }
}

/// Whether a buffer charged to `test_pool` may be evicted to make room under
/// `limit_pool` (NULL: the whole region).
///
/// # Safety
///
/// `test_pool` must be NULL or a charge's handle, `limit_pool` NULL or a
/// referenced handle, both on a region whose device the caller holds;
/// `ret_hit_low` must be NULL or valid for a write.
#[no_mangle]
pub(crate) unsafe extern "C" fn dev_cgroup_evict_valuable(
    limit_pool: PoolHandle,
    test_pool: PoolHandle,
    ignore_low: bool,
    ret_hit_low: *mut bool,
) -> bool {
    if test_pool.is_null() {
        // An uncharged buffer is protected by no one, but evicting it only
        // helps when the region itself is full: it frees no cgroup's budget.
        return limit_pool.is_null();
    }
    // SAFETY: the charge on `test_pool` keeps it alive for the call (caller).
    let test = unsafe { Pool::from_pool_handle(test_pool).0.as_ref() };
    // SAFETY: the handle's reference keeps the pool alive (caller).
    let limit =
        (!limit_pool.is_null()).then(|| unsafe { Pool::from_pool_handle(limit_pool).0.as_ref() });
    // SAFETY: the caller holds the region's device for the call.
    let region = unsafe { HeldRegion::new(test.region()) };
    let (evict, hit_low) = pool::evict_valuable(limit, test, region, ignore_low);
    if hit_low && !ret_hit_low.is_null() {
        // SAFETY: writable (caller).
        unsafe { *ret_hit_low = true };
    }
    evict
}

/// Drops the reference of a pool handle returned as the limiting pool of a
/// failed charge.
///
/// # Safety
///
/// `pool` must be NULL or such a handle, whose reference the caller owns.
#[no_mangle]
pub(crate) unsafe extern "C" fn dev_cgroup_pool_put(pool: PoolHandle) {
    if pool.is_null() {
        return;
    }
    let (css, device) = {
        // SAFETY: the handle's device reference keeps the pool alive (caller).
        let pool = unsafe { Pool::from_pool_handle(pool).0.as_ref() };
        (pool.css_ptr(), pool.region().device_ptr())
    };
    // SAFETY: `Pool::referenced_handle` took this reference for the handle,
    // which the caller gives back.
    drop(unsafe { ARef::from_raw(css) });
    // Last, and with no borrow of the pool used after it: dropping the
    // device may free the pool (see `pool::forget_regions`).
    // SAFETY: `Pool::referenced_handle` leaked this reference (from
    // `Arc::into_raw`, which `device_ptr` matches) for the handle.
    drop(unsafe { Arc::from_raw(device) });
}

/// Charges a buffer to the current task's cgroup and records the charge in
/// `record`; a limit hit is `-ENOMEM`, as allocators that cannot evict report it.
/// A NULL `region` is memory that no region accounts, and a zero `size` owes
/// nothing: then nothing is recorded and 0 is returned.
///
/// # Safety
///
/// `record` must be valid for writes and not hold a live charge; `region`
/// NULL or as for `dev_cgroup_try_charge`.
#[no_mangle]
pub(crate) unsafe extern "C" fn dev_cgroup_charge_buffer(
    record: *mut bindings::dev_cgroup_charge,
    region: RegionHandle,
    size: u64,
    consumer: bindings::dev_cgroup_consumer,
) -> c_int {
    // SAFETY: NULL or writable for the call (caller).
    let Some(record) = (unsafe { record.as_mut() }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: NULL or a region whose device the caller holds for the call.
    let region = unsafe { held_region(region) };
    let (pool, ret) = charge_buffer(region, size, consumer as usize);
    // On failure it records nothing, so a later `dev_cgroup_uncharge_buffer`
    // on it is a no-op.
    record.pool = pool;
    record.size = if pool.is_null() { 0 } else { size };
    ret
}

/// [`dev_cgroup_charge_buffer`]: the charge's handle (NULL if nothing was
/// charged) and the errno.
fn charge_buffer(
    region: Option<HeldRegion<'_>>,
    size: u64,
    consumer: usize,
) -> (PoolHandle, c_int) {
    let mut pool = ptr::null_mut();
    let ret = match region {
        Some(region) if size != 0 => match DevCss::charged() {
            Some(css) => charge_as_current(css, region, size, consumer, &mut pool, None),
            None => ENODEV.to_errno(),
        },
        _ => 0,
    };
    if ret == EAGAIN.to_errno() {
        (pool, ENOMEM.to_errno())
    } else {
        (pool, ret)
    }
}

/// Gives back what `record` holds, once: the record is emptied atomically, so a
/// second call (an error path followed by a release) uncharges nothing.
///
/// # Safety
///
/// `record` must be NULL, zeroed, or filled by `dev_cgroup_charge_buffer`.
#[no_mangle]
pub(crate) unsafe extern "C" fn dev_cgroup_uncharge_buffer(
    record: *mut bindings::dev_cgroup_charge,
) {
    if record.is_null() {
        return;
    }
    // SAFETY: valid for the call (caller); once a record is filled, its
    // `pool` is only written atomically: here, so a racing second release
    // finds NULL instead of uncharging twice, and by a take (which cannot
    // run once the release can); `size` was written with `pool`, before the
    // buffer was published.
    let record = unsafe { ChargeRecord::from_raw(record) };
    let pool = record.take_handle();
    // SAFETY: a non-NULL pool in a record is a charge's handle, taken once.
    unsafe { dev_cgroup_uncharge(pool, record.size()) };
}

/// The charge a record holds, which takes and fdinfo reads serialise on
/// `registry.transfers` (held while the record is borrowed): the record, the
/// charge's handle as read once, and its pool and consumer.
///
/// # Safety
///
/// `record` must be NULL or a charge record whose buffer stays alive for
/// `'a` (its dma-buf's file is held), and the caller must hold
/// `registry.transfers` for `'a`.
unsafe fn record_charge<'a>(
    record: *mut bindings::dev_cgroup_charge,
) -> Result<(ChargeRecord<'a>, Payment<'a>)> {
    if record.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: alive for `'a` (caller). Once the buffer is published its
    // `pool` is only written atomically: swapped out by
    // `dev_cgroup_uncharge_buffer`, replaced by a take; its size never.
    let record = unsafe { ChargeRecord::from_raw(record) };
    let handle = record.handle();
    if handle.is_null() {
        return Err(eopnotsupp());
    }
    // SAFETY: the record's charge keeps its pool alive for `'a`: the buffer
    // is not released while it is alive, and only takes, serialised by the
    // lock the caller holds, replace the charge.
    let (pool, consumer) = unsafe { Pool::from_pool_handle(handle) };
    // SAFETY: as above.
    let pool = unsafe { pool.as_ref() };
    Ok((
        record,
        Payment {
            handle,
            pool,
            consumer,
        },
    ))
}

/// A record's charge: its handle, read once, and what it names.
struct Payment<'a> {
    handle: PoolHandle,
    pool: &'a Pool,
    consumer: usize,
}

/// Moves the charge `record` holds to the current task's cgroup: charged
/// there first, under its limits, then uncharged from the previous payer.
/// 0 with the bytes in `*ret_bytes`, or `-ENOMEM` (a limit: counted,
/// nothing changed), `-EOPNOTSUPP` (no charge), `-ENODEV` (the region is
/// going away), `-EINVAL`.
///
/// # Safety
///
/// `record` must be NULL or a charge record whose buffer stays alive for
/// the call (its dma-buf's file is held), and `ret_bytes` NULL or writable.
#[no_mangle]
pub(crate) unsafe extern "C" fn dev_cgroup_charge_take(
    record: *mut bindings::dev_cgroup_charge,
    ret_bytes: *mut u64,
) -> c_int {
    // SAFETY: NULL or writable (caller).
    let (false, Some(ret_bytes)) = (record.is_null(), unsafe { ret_bytes.as_mut() }) else {
        return EINVAL.to_errno();
    };
    let registry = match registry::get() {
        Ok(registry) => registry,
        Err(e) => return e.to_errno(),
    };
    // Held until the old charge is gone too, so that no other take sees
    // both charges at once (a spurious refusal, a doubled peak).
    let _transfers = registry.transfers.lock();
    // SAFETY: a record whose buffer lives for the call (caller), read under
    // `transfers`.
    let charge = unsafe { record_charge(record) };
    let taken = charge.and_then(|(record, payment)| {
        let payer = Payer::of(registry, payment)?;
        take(&record, payer)
    });
    match taken {
        Ok(Taken::Already(bytes)) => {
            *ret_bytes = bytes;
            0
        }
        Ok(Taken::Moved(old, bytes)) => {
            // SAFETY: the record's old charge, ours now that the record
            // holds the new one: no one else can reach it.
            unsafe { dev_cgroup_uncharge(old, bytes) };
            *ret_bytes = bytes;
            0
        }
        Ok(Taken::Raced(new, bytes)) => {
            // SAFETY: the charge just made, held by nobody else.
            unsafe { dev_cgroup_uncharge(new, bytes) };
            eopnotsupp().to_errno()
        }
        Err(e) => e.to_errno(),
    }
}

/// The old charge a take found, with the region's device held.
struct Payer<'a> {
    charge: Payment<'a>,
    device: Arc<Device>,
}

impl<'a> Payer<'a> {
    /// Who pays for `charge`, or `-ENODEV` once its region's device is
    /// unregistered.
    fn of(registry: &Registry, charge: Payment<'a>) -> Result<Self> {
        let device = registry.holder_of(&charge.pool.region()).ok_or(ENODEV)?;
        Ok(Payer { charge, device })
    }

    /// The charged region, its device held by `self`.
    fn region(&self) -> Option<HeldRegion<'_>> {
        let region = self.charge.pool.region();
        self.device.regions().find(|r| ptr::eq(&**r, &*region))
    }
}

/// How a take ended; each handle left in it is the caller's to uncharge.
enum Taken {
    /// The caller's cgroup already pays: nothing moved.
    Already(u64),
    /// Moved: the old charge's handle, and the bytes.
    Moved(PoolHandle, u64),
    /// The record changed under the take (an exporter broke its rules): the
    /// new charge's handle, to undo, and the bytes.
    Raced(PoolHandle, u64),
}

/// [`dev_cgroup_charge_take`], under `registry.transfers`.
fn take(record: &ChargeRecord<'_>, payer: Payer<'_>) -> Result<Taken> {
    let size = record.size();
    let region = payer.region().ok_or(ENODEV)?;
    // The caller's own cgroup, never a scope it runs in: a charge can only
    // be pulled by its future payer.
    let css = DevCss::of_current_task().ok_or(ENODEV)?;
    // Its device is held, so the pool is in its cgroup's table: the css is
    // alive (see `Pool::css`).
    if ptr::eq(payer.charge.pool.css(), &*css) {
        return Ok(Taken::Already(size));
    }
    // A missing pool is made here, where allocations may sleep, rather
    // than by the charge (which must not): a refusal below is then a limit,
    // not a failed atomic allocation. If it fails, the charge tries again.
    let _ = pool::get_or_create(&css, region, GFP_KERNEL);
    let mut new = ptr::null_mut();
    match charge_as_current(css, region, size, payer.charge.consumer, &mut new, None) {
        0 => {}
        e if e == EAGAIN.to_errno() => return Err(ENOMEM),
        e => return Err(Error::from_errno(e)),
    }
    // Only takes, serialised by the lock, replace a live record's charge,
    // and nothing releases it while the caller holds the dma-buf; should an
    // exporter break that, the record is left as it is found.
    if record.replace(payer.charge.handle, new) {
        Ok(Taken::Moved(payer.charge.handle, size))
    } else {
        Ok(Taken::Raced(new, size))
    }
}

/// Prints who pays for `record` into `m`: `dev_cgroup:\t<cgroup path>
/// <device> region.<name>=<bytes>`, the path from the reader's cgroup
/// namespace; nothing if the record holds no charge (or it cannot be told:
/// the region is going away, no memory for the path).
///
/// # Safety
///
/// `record` must be NULL or a charge record whose buffer stays alive for
/// the call; `m` NULL or the seq_file of the `show` call the caller is in.
#[no_mangle]
pub(crate) unsafe extern "C" fn dev_cgroup_charge_show(
    record: *mut bindings::dev_cgroup_charge,
    m: *mut bindings::seq_file,
) {
    if m.is_null() {
        return;
    }
    // SAFETY: the seq_file of the caller's `show` call.
    let out = unsafe { SeqFile::from_raw(m) };
    let Ok(mut path) = KVec::from_elem(0u8, PATH_MAX, GFP_KERNEL) else {
        return;
    };
    let Ok(registry) = registry::get() else {
        return;
    };
    let _transfers = registry.transfers.lock();
    // SAFETY: a record whose buffer lives for the call (caller), read under
    // `transfers`.
    let Ok((record, payment)) = (unsafe { record_charge(record) }) else {
        return;
    };
    if let Ok(payer) = Payer::of(registry, payment) {
        let _ = show_payer(&payer, record.size(), &mut path, out);
    }
}

/// Most bytes of a cgroup path (`PATH_MAX`).
const PATH_MAX: usize = 4096;

/// [`dev_cgroup_charge_show`], under `registry.transfers`.
fn show_payer(payer: &Payer<'_>, size: u64, path: &mut [u8], mut out: &SeqFile) -> Result {
    let region = payer.region().ok_or(ENODEV)?;
    // The device is held: the css is alive (see `Pool::css`).
    let path = payer.charge.pool.css().css().path(path)?;
    writeln!(
        out,
        "dev_cgroup:\t{path} {} region.{}={size}",
        payer.device.name(),
        region.name()
    )
    .map_err(|_| EINVAL)
}
