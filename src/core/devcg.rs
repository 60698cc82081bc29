// SPDX-License-Identifier: GPL-2.0

//! The `dev` cgroup controller: device memory charged to cgroups.
//!
//! Crate layout:
//! - [`logic`]: pure policy (parsing, hierarchical counters, protection),
//!   only `core`, also tested on the host;
//! - [`registry`]: registered devices and regions (the only global state);
//! - [`pool`]: per-cgroup pools and the charge fast path;
//! - [`files`]: the interface files;
//! - [`api`]: the driver API of `include/linux/cgroup_dev.h`;
//! - [`css`]: css references, the crate's window on cgroup core.
//!
//! `glue.c` holds what must be C: the `cgroup_subsys` and `cftype` tables and
//! trampolines into the `extern "C"` functions below.

use core::ffi::c_void;
use core::ptr::{self, NonNull};
use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_uint};
use kernel::prelude::*;

#[macro_use]
#[path = "../ffi_check.rs"]
mod ffi_check;

mod api;
mod css;
mod files;
// `pub` in logic/ is the host crate's API (cargo test); here it is crate-private.
#[allow(unreachable_pub)]
#[path = "logic/mod.rs"]
mod logic;
mod peak;
mod pool;
mod registry;

const __LOG_PREFIX: &[u8] = b"devcg\0";

use css::OwnedCss;
use files::File;
use pool::CgroupState;

// The glue.h prototypes (via bindgen) against the definitions below.
same_signature! {
    devcg_state_alloc: unsafe extern "C" fn(*mut bindings::cgroup_subsys_state, bool) -> *mut c_void;
    devcg_state_offline: unsafe extern "C" fn(*mut c_void);
    devcg_state_free: unsafe extern "C" fn(*mut c_void);
    devcg_file_show: unsafe extern "C" fn(*mut bindings::cgroup_subsys_state, *mut bindings::seq_file, c_uint, *mut c_void) -> c_int;
    devcg_file_write: unsafe extern "C" fn(*mut bindings::cgroup_subsys_state, c_uint, *mut c_void, *const c_char, usize) -> c_int;
    devcg_file_release: unsafe extern "C" fn(*mut bindings::cgroup_subsys_state, *mut c_void);
    devcg_pool_bytes: unsafe extern "C" fn() -> usize;
}

/// Allocates a cgroup's state; the root's allocation also sets up the registry.
///
/// # Safety
///
/// Called by glue.c's `css_alloc` with the css being allocated.
#[no_mangle]
pub unsafe extern "C" fn devcg_state_alloc(
    _css: *mut bindings::cgroup_subsys_state,
    is_root: bool,
) -> *mut c_void {
    if is_root && registry::init().is_err() {
        return ptr::null_mut();
    }
    match KBox::pin_init(CgroupState::new(), GFP_KERNEL) {
        // SAFETY: the state stays pinned: glue.c only stores the pointer and
        // hands it back to `devcg_state_free`.
        Ok(state) => KBox::into_raw(unsafe { Pin::into_inner_unchecked(state) }).cast(),
        Err(_) => ptr::null_mut(),
    }
}

/// # Safety
///
/// `state` must come from `devcg_state_alloc`.
#[no_mangle]
pub unsafe extern "C" fn devcg_state_offline(state: *mut c_void) {
    // SAFETY: valid until `devcg_state_free` (caller).
    let state = unsafe { &*state.cast::<CgroupState>() };
    state.offline();
}

/// # Safety
///
/// `state` must come from `devcg_state_alloc` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn devcg_state_free(state: *mut c_void) {
    // SAFETY: allocated by `devcg_state_alloc` as a `KBox<CgroupState>`.
    drop(unsafe { KBox::from_raw(state.cast::<CgroupState>()) });
}

/// # Safety
///
/// Called from a `seq_show` with the file's css and seq_file.
#[no_mangle]
pub unsafe extern "C" fn devcg_file_show(
    css: *mut bindings::cgroup_subsys_state,
    sf: *mut bindings::seq_file,
    file: c_uint,
    opener: *mut c_void,
) -> c_int {
    let (Some(css), Some(file)) = (NonNull::new(css), File::from_raw(file)) else {
        return EINVAL.to_errno();
    };
    // SAFETY: an open interface file pins its css.
    let css = unsafe { OwnedCss::from_borrowed(css) };
    match files::show(&css, file, opener as usize, &mut files::SeqWriter(sf)) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called from a cftype `write` with the file's css and the written bytes.
#[no_mangle]
pub unsafe extern "C" fn devcg_file_write(
    css: *mut bindings::cgroup_subsys_state,
    file: c_uint,
    opener: *mut c_void,
    buf: *const c_char,
    len: usize,
) -> c_int {
    let (Some(css), Some(file)) = (NonNull::new(css), File::from_raw(file)) else {
        return EINVAL.to_errno();
    };
    if buf.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: an open interface file pins its css.
    let css = unsafe { OwnedCss::from_borrowed(css) };
    // SAFETY: kernfs passes `len` readable bytes.
    let input = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) };
    match files::write(&css, file, opener as usize, input) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called from a cftype `release` with the file's css.
#[no_mangle]
pub unsafe extern "C" fn devcg_file_release(
    css: *mut bindings::cgroup_subsys_state,
    opener: *mut c_void,
) {
    let Some(css) = NonNull::new(css) else { return };
    // SAFETY: an open interface file pins its css.
    let css = unsafe { OwnedCss::from_borrowed(css) };
    files::release(&css, opener as usize);
}

/// Bytes of controller state one (cgroup, region) pool costs.
#[no_mangle]
pub(crate) unsafe extern "C" fn devcg_pool_bytes() -> usize {
    pool::POOL_BYTES
}
