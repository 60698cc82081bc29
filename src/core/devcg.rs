// SPDX-License-Identifier: GPL-2.0

//! The `dev` cgroup controller: device memory charged to cgroups.
//!
//! Crate layout:
//! - [`logic`]: pure policy (parsing, hierarchical counters, protection),
//!   only `core`, also tested on the host;
//! - [`registry`]: registered devices and regions (the only global state);
//! - [`pool`]: per-cgroup pools and the charge fast path;
//! - [`files`]: the interface files;
//! - [`api`]: the driver API of `include/linux/cgroup_dev.h`.
//!
//! Cgroup core, seq_file and glue.c's side are reached through the kernel
//! crate's abstractions (`kernel::cgroup`, `kernel::cgroup::dev`,
//! `kernel::seq_file`, in the project's `rust/`).
//!
//! `glue.c` holds what must be C: the `cgroup_subsys` and `cftype` tables and
//! trampolines into the `extern "C"` functions below.

use core::ffi::c_void;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::cgroup::dev::StateOps;
use kernel::ffi::{c_char, c_int, c_uint};
use kernel::prelude::*;
use kernel::seq_file::SeqFile;

#[macro_use]
#[path = "../ffi_check.rs"]
mod ffi_check;

mod api;
mod files;
// `pub` in logic/ is the host crate's API (cargo test); here it is crate-private.
#[allow(unreachable_pub)]
#[path = "logic/mod.rs"]
mod logic;
mod peak;
mod pool;
mod registry;

const __LOG_PREFIX: &[u8] = b"devcg\0";

use files::File;
use pool::CgroupState;

/// A css of this controller (see `kernel::cgroup::dev`).
pub(crate) type DevCss = kernel::cgroup::dev::DevCss<CgroupState>;

// glue.c's css_alloc, css_offline and css_free make, close and free a
// `CgroupState`.
kernel::dev_cgroup_state!(CgroupState);

impl StateOps for CgroupState {
    fn new(is_root: bool) -> Result<Pin<KBox<Self>>> {
        // The root's state is made when cgroup core starts, before any
        // device can register: the registry is set up with it.
        if is_root {
            registry::init()?;
        }
        KBox::pin_init(CgroupState::empty(), GFP_KERNEL)
    }

    fn offline(&self) {
        self.close_pools();
    }
}

// The glue.h prototypes (via bindgen) against the definitions below.
same_signature! {
    devcg_file_show: unsafe extern "C" fn(*mut bindings::cgroup_subsys_state, *mut bindings::seq_file, c_uint, *mut c_void) -> c_int;
    devcg_file_write: unsafe extern "C" fn(*mut bindings::cgroup_subsys_state, c_uint, *mut c_void, *const c_char, usize) -> c_int;
    devcg_file_release: unsafe extern "C" fn(*mut bindings::cgroup_subsys_state, *mut c_void);
    devcg_pool_bytes: unsafe extern "C" fn() -> usize;
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
    if sf.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: an open interface file pins its css.
    let css = unsafe { DevCss::from_raw(css.as_ptr()) };
    // SAFETY: the seq_file of this `seq_show` call, ours until it returns.
    let mut out = unsafe { SeqFile::from_raw(sf) };
    match files::show(css, file, opener as usize, &mut out) {
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
    let css = unsafe { DevCss::from_raw(css.as_ptr()) };
    // SAFETY: kernfs passes `len` readable bytes.
    let input = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) };
    match files::write(css, file, opener as usize, input) {
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
    let css = unsafe { DevCss::from_raw(css.as_ptr()) };
    files::release(css, opener as usize);
}

/// Bytes of controller state one (cgroup, region) pool costs.
#[no_mangle]
pub(crate) unsafe extern "C" fn devcg_pool_bytes() -> usize {
    pool::POOL_BYTES
}
