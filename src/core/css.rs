// SPDX-License-Identifier: GPL-2.0

//! Reference-counted handles on the controller's css (cgroup subsystem state).
//!
//! All `unsafe` that touches cgroup core is here and in `glue.c`; the rest of
//! the crate sees an [`OwnedCss`], which holds a reference and releases it
//! when dropped, or a [`CssRef`], a borrow of someone else's reference that
//! is passed around in a register.

use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::bindings;

use crate::pool::CgroupState;

/// A counted reference on a css of the `dev` controller.
///
/// # Invariants
///
/// `self.0` points to a css of `dev_cgrp_subsys` on which this value owns one
/// reference, so the css (and the [`CgroupState`] glue.c attached to it at
/// `css_alloc`) stays valid while this value exists.
pub(crate) struct OwnedCss(NonNull<bindings::cgroup_subsys_state>);

// SAFETY: A css reference may be taken, used and released on any CPU; the
// css's state is shared through atomics and locks only.
unsafe impl Send for OwnedCss {}
// SAFETY: As above; `&OwnedCss` only allows thread-safe operations.
unsafe impl Sync for OwnedCss {}

impl OwnedCss {
    /// The css of the current task's cgroup.
    pub(crate) fn current() -> Option<Self> {
        // SAFETY: `devcg_current_css` has no preconditions; it returns a
        // referenced css (the root's at least) or NULL if dev is not set up.
        let css = unsafe { bindings::devcg_current_css() };
        // INVARIANT: the reference taken by `task_get_css` is now ours.
        NonNull::new(css).map(OwnedCss)
    }

    /// Takes a new reference on `css`.
    ///
    /// # Safety
    ///
    /// `css` must point to a css of the dev controller on which the caller
    /// holds a reference for the duration of this call.
    pub(crate) unsafe fn from_borrowed(css: NonNull<bindings::cgroup_subsys_state>) -> Self {
        // SAFETY: `css` is live (caller's reference); getting another is allowed.
        unsafe { bindings::devcg_css_get(css.as_ptr()) };
        // INVARIANT: we took the reference above.
        OwnedCss(css)
    }

    /// Borrows this reference.
    pub(crate) fn borrow(&self) -> CssRef<'_> {
        // INVARIANT: we hold a reference for as long as the borrow lasts.
        CssRef(self.0, PhantomData)
    }

    /// The raw pointer, for comparisons and for C callers.
    pub(crate) fn as_ptr(&self) -> *mut bindings::cgroup_subsys_state {
        self.0.as_ptr()
    }

    /// The css pointer, for structures that know by other means that it is live.
    pub(crate) fn as_non_null(&self) -> NonNull<bindings::cgroup_subsys_state> {
        self.0
    }

    /// Gives up the reference without dropping it, for [`OwnedCss::from_raw`].
    pub(crate) fn into_raw(self) -> NonNull<bindings::cgroup_subsys_state> {
        core::mem::ManuallyDrop::new(self).0
    }

    /// Takes back a reference given up by [`OwnedCss::into_raw`].
    ///
    /// # Safety
    ///
    /// `css` must come from `into_raw`, and each such reference be taken back once.
    pub(crate) unsafe fn from_raw(css: NonNull<bindings::cgroup_subsys_state>) -> Self {
        // INVARIANT: the reference `into_raw` kept is now ours again.
        OwnedCss(css)
    }

    /// The parent cgroup's css, `None` for the root.
    pub(crate) fn parent(&self) -> Option<Self> {
        // SAFETY: `self.0` is live (type invariant).
        let parent = NonNull::new(unsafe { bindings::devcg_css_parent(self.as_ptr()) })?;
        // SAFETY: a css pins its parent, and we hold a reference on the child.
        Some(unsafe { Self::from_borrowed(parent) })
    }

    /// The controller's per-cgroup state.
    pub(crate) fn state(&self) -> &CgroupState {
        self.borrow().state()
    }

    /// Calls `f` on this css and every descendant, parents first, in an RCU
    /// read-side section: `f` must not sleep.
    pub(crate) fn for_each_descendant(&self, mut f: impl FnMut(&OwnedCss)) {
        for_each_with(
            |fun, data| {
                // SAFETY: `self.0` is live; `fun` and `data` are valid for the call.
                unsafe { bindings::devcg_for_each_descendant_pre(self.as_ptr(), fun, data) }
            },
            &mut f,
        )
    }
}

/// A css of the `dev` controller borrowed for `'a`, without a reference of
/// its own.
///
/// # Invariants
///
/// Someone holds a reference on `self.0` for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct CssRef<'a>(
    NonNull<bindings::cgroup_subsys_state>,
    PhantomData<&'a OwnedCss>,
);

impl<'a> CssRef<'a> {
    /// # Safety
    ///
    /// `css` must point to a css of the dev controller on which someone
    /// holds a reference for `'a`.
    pub(crate) unsafe fn from_raw(css: NonNull<bindings::cgroup_subsys_state>) -> Self {
        // INVARIANT: guaranteed by the caller.
        CssRef(css, PhantomData)
    }

    /// A reference of our own.
    pub(crate) fn to_owned(self) -> OwnedCss {
        // SAFETY: `self.0` is live for `'a` (type invariant).
        unsafe { OwnedCss::from_borrowed(self.0) }
    }

    /// The controller's per-cgroup state.
    #[inline(always)]
    pub(crate) fn state(self) -> &'a CgroupState {
        // SAFETY: every css of the controller is the `css` member of a
        // `struct dev_cgroup` (glue.c's `css_alloc`), live for `'a`.
        let state =
            unsafe { (*kernel::container_of!(self.0.as_ptr(), bindings::dev_cgroup, css)).state };
        // SAFETY: glue.c stores the pointer `devcg_state_alloc` returned, a
        // pinned `CgroupState` freed only at `css_free`, which cannot run while
        // the css is referenced, that is during `'a`.
        unsafe { &*state.cast::<CgroupState>() }
    }

    /// Wakes pollers of `dev.events` (`local == false`) or `dev.events.local`.
    pub(crate) fn notify_events(self, local: bool) {
        // SAFETY: `self.0` is live (type invariant).
        unsafe { bindings::devcg_notify_events(self.0.as_ptr(), local) }
    }

    /// Calls `f` on every online child's css, in an RCU read-side section:
    /// `f` must not sleep.
    pub(crate) fn for_each_child(self, mut f: impl FnMut(&OwnedCss)) {
        for_each_with(
            |fun, data| {
                // SAFETY: `self.0` is live; `fun` and `data` are valid for the call.
                unsafe { bindings::devcg_for_each_child(self.0.as_ptr(), fun, data) }
            },
            &mut f,
        )
    }
}

/// Calls `f` on every css of the controller, children before their parent,
/// in an RCU read-side section: `f` must not sleep.
pub(crate) fn for_each_css_post(mut f: impl FnMut(&OwnedCss)) {
    // SAFETY: `fun` and `data` are valid for the duration of the call.
    for_each_with(
        |fun, data| unsafe { bindings::devcg_for_each_css_post(fun, data) },
        &mut f,
    )
}

/// Drives one of glue.c's css iterators with a Rust closure.
fn for_each_with<F: FnMut(&OwnedCss)>(
    walk: impl FnOnce(bindings::devcg_css_fn, *mut c_void),
    f: &mut F,
) {
    unsafe extern "C" fn trampoline<F: FnMut(&OwnedCss)>(
        css: *mut bindings::cgroup_subsys_state,
        data: *mut c_void,
    ) {
        // SAFETY: `data` is the `&mut F` passed to `walk` below, alive for the walk.
        let f = unsafe { &mut *data.cast::<F>() };
        // SAFETY: the iterator hands out csses that RCU keeps in memory for
        // this call; a tryget is allowed on them and fails on a dying one.
        if !css.is_null() && unsafe { bindings::devcg_css_tryget(css) } {
            if let Some(css) = NonNull::new(css) {
                // INVARIANT: the reference from the tryget is now ours.
                f(&OwnedCss(css));
            }
        }
    }
    walk(Some(trampoline::<F>), (f as *mut F).cast())
}

impl Clone for OwnedCss {
    fn clone(&self) -> Self {
        // SAFETY: we hold a reference on `self.0` (type invariant).
        unsafe { Self::from_borrowed(self.0) }
    }
}

impl Drop for OwnedCss {
    fn drop(&mut self) {
        // SAFETY: we own one reference on `self.0` (type invariant).
        unsafe { bindings::devcg_css_put(self.as_ptr()) }
    }
}
