// SPDX-License-Identifier: GPL-2.0

//! The dev cgroup controller's C side, for the controller's Rust core.
//!
//! The controller (`kernel/cgroup/dev`) keeps its `cgroup_subsys` and
//! interface file tables in C (`glue.c`); each css of it is the `css` member
//! of a `struct dev_cgroup` that carries a pointer to the Rust core's
//! per-cgroup state. This module is the one place that knows that layout:
//! [`DevCss`] is a css of the controller whose state can be borrowed, and
//! [`dev_cgroup_state!`](crate::dev_cgroup_state) is how the core says which
//! type that state is and provides the allocation entry points glue.c calls.
//!
//! C headers: [`include/linux/cgroup_dev.h`](srctree/include/linux/cgroup_dev.h)
//! and the controller's `src/core/glue.h`.

use crate::alloc::KBox;
use crate::bindings;
use crate::cgroup::Css;
use crate::error::Result;
use crate::types::{ARef, AlwaysRefCounted};
use core::ffi::c_void;
use core::marker::PhantomData;
use core::pin::Pin;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};

#[cfg(CONFIG_HAS_DMA)]
pub mod buffer;

/// What the controller does with its per-cgroup state; see [`State`].
pub trait StateOps: Send + Sync + Sized + 'static {
    /// Makes the state of a new cgroup (`is_root` for the root's, made
    /// when cgroup core starts).
    fn new(is_root: bool) -> Result<Pin<KBox<Self>>>;

    /// The cgroup went offline: removed by userspace, still referenced.
    fn offline(&self);
}

/// The type of the dev controller's per-cgroup state.
///
/// # Safety
///
/// At most one type implements it: the one whose boxes `devcg_state_alloc`
/// gives glue.c, so that every css of the controller carries a `Self`.
/// Only [`dev_cgroup_state!`](crate::dev_cgroup_state) implements it,
/// together with `devcg_state_alloc`, in built-in code only (the macro
/// refuses to compile in a module, where a second definition of that
/// symbol would not be caught): a second use fails to link.
pub unsafe trait State: StateOps {}

/// Declares the dev controller's per-cgroup state type, and defines the
/// `devcg_state_alloc`, `devcg_state_offline` and `devcg_state_free`
/// functions glue.c calls to make, take offline and free it.
///
/// Used once, by the controller's core: `kernel::dev_cgroup_state!(CgroupState);`
/// with `CgroupState: StateOps`.
#[macro_export]
macro_rules! dev_cgroup_state {
    ($state:ty) => {
        // A module's copy of `devcg_state_alloc` would not clash with the
        // built-in one at link time, which the `State` contract relies on.
        #[cfg(MODULE)]
        ::core::compile_error!("dev_cgroup_state! is for the built-in controller only");

        // SAFETY: this also defines `devcg_state_alloc` below, which hands
        // glue.c only boxes of `$state`; a second `State` type would define
        // it again and fail to link.
        unsafe impl $crate::cgroup::dev::State for $state {}

        /// Makes a cgroup's state; called by glue.c's `css_alloc`.
        #[no_mangle]
        unsafe extern "C" fn devcg_state_alloc(
            _css: *mut $crate::bindings::cgroup_subsys_state,
            is_root: bool,
        ) -> *mut ::core::ffi::c_void {
            $crate::cgroup::dev::state_alloc::<$state>(is_root)
        }

        /// # Safety
        ///
        /// `state` comes from `devcg_state_alloc` and was not freed.
        #[no_mangle]
        unsafe extern "C" fn devcg_state_offline(state: *mut ::core::ffi::c_void) {
            // SAFETY: forwarded from glue.c's `css_offline`.
            unsafe { $crate::cgroup::dev::state_offline::<$state>(state) }
        }

        /// # Safety
        ///
        /// `state` comes from `devcg_state_alloc` and is not used again.
        #[no_mangle]
        unsafe extern "C" fn devcg_state_free(state: *mut ::core::ffi::c_void) {
            // SAFETY: forwarded from glue.c's `css_free`.
            unsafe { $crate::cgroup::dev::state_free::<$state>(state) }
        }

        // The glue.h prototypes (via bindgen) against the definitions above.
        const _: unsafe extern "C" fn(
            *mut $crate::bindings::cgroup_subsys_state,
            bool,
        ) -> *mut ::core::ffi::c_void = $crate::bindings::devcg_state_alloc;
        const _: unsafe extern "C" fn(
            *mut $crate::bindings::cgroup_subsys_state,
            bool,
        ) -> *mut ::core::ffi::c_void = devcg_state_alloc;
        const _: unsafe extern "C" fn(*mut ::core::ffi::c_void) =
            $crate::bindings::devcg_state_offline;
        const _: unsafe extern "C" fn(*mut ::core::ffi::c_void) = devcg_state_offline;
        const _: unsafe extern "C" fn(*mut ::core::ffi::c_void) =
            $crate::bindings::devcg_state_free;
        const _: unsafe extern "C" fn(*mut ::core::ffi::c_void) = devcg_state_free;
    };
}

#[doc(hidden)]
pub fn state_alloc<T: State>(is_root: bool) -> *mut c_void {
    match T::new(is_root) {
        // SAFETY: the state stays pinned: glue.c only keeps the pointer and
        // hands it back to `state_free`, which drops it in place.
        Ok(state) => KBox::into_raw(unsafe { Pin::into_inner_unchecked(state) }).cast(),
        Err(_) => core::ptr::null_mut(),
    }
}

#[doc(hidden)]
/// # Safety
///
/// `state` must come from `state_alloc::<T>` and not be freed.
pub unsafe fn state_offline<T: State>(state: *mut c_void) {
    // SAFETY: a live `T` (caller).
    unsafe { &*state.cast::<T>() }.offline();
}

#[doc(hidden)]
/// # Safety
///
/// `state` must come from `state_alloc::<T>` and not be used again.
pub unsafe fn state_free<T: State>(state: *mut c_void) {
    // SAFETY: a `KBox<T>` leaked by `state_alloc` (caller).
    drop(unsafe { KBox::from_raw(state.cast::<T>()) });
}

/// The css the current task's charges go to, referenced: its cgroup's, or
/// the root's while a driver probes (see `dev_cgroup_probe_begin()`).
/// (cgroup core sets the controller up before any task can run this; a
/// NULL from C is still turned into `None`.)
///
/// # Examples
///
/// ```
/// // KUnit's test threads run in the root cgroup.
/// let css = kernel::cgroup::dev::charged_css().ok_or(kernel::error::code::ENODEV)?;
/// assert!(css.parent().is_none());
/// # Ok::<(), kernel::error::Error>(())
/// ```
#[inline]
pub fn charged_css() -> Option<ARef<Css>> {
    // SAFETY: no preconditions; returns a referenced css, or NULL if the
    // controller is not set up.
    let css = NonNull::new(unsafe { bindings::devcg_current_css() })?;
    // SAFETY: the reference `devcg_current_css` took is now the `ARef`'s.
    Some(unsafe { ARef::from_raw(css.cast()) })
}

/// The css of the current task's own cgroup, referenced, ignoring any probe
/// scope (see [`charged_css`]).
#[inline]
pub fn task_css() -> Option<ARef<Css>> {
    // SAFETY: no preconditions; returns a referenced css.
    let css = NonNull::new(unsafe { bindings::devcg_task_css() })?;
    // SAFETY: the reference `devcg_task_css` took is now the `ARef`'s.
    Some(unsafe { ARef::from_raw(css.cast()) })
}

/// A css of the dev controller, whose per-cgroup state is a `T`.
///
/// # Invariants
///
/// The css is the `css` member of a `struct dev_cgroup` whose `state` is a
/// pinned `T` made by `state_alloc::<T>` and freed only at `css_free`, after
/// the last reference on the css is gone. (`T: State` has one
/// implementation, so every css of the controller is a `DevCss<T>`.)
#[repr(transparent)]
pub struct DevCss<T: State>(Css, PhantomData<T>);

// SAFETY: as `Css`: its reference count.
unsafe impl<T: State> AlwaysRefCounted for DevCss<T> {
    #[inline]
    fn inc_ref(&self) {
        self.0.inc_ref()
    }

    #[inline]
    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: forwarded; `DevCss` is a transparent `Css`.
        unsafe { Css::dec_ref(obj.cast()) }
    }
}

impl<T: State> DevCss<T> {
    /// Borrows the css at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a css of the dev controller on which someone
    /// holds a reference for `'a`.
    #[inline(always)]
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::cgroup_subsys_state) -> &'a Self {
        // SAFETY: a transparent wrapper of a dev css live for `'a` (caller).
        unsafe { &*ptr.cast() }
    }

    /// # Safety
    ///
    /// `css` must be a css of the dev controller.
    #[inline(always)]
    unsafe fn from_css(css: &Css) -> &Self {
        // SAFETY: a transparent wrapper; a dev css (caller).
        unsafe { Self::from_raw(css.as_raw()) }
    }

    /// # Safety
    ///
    /// `css` must be a css of the dev controller.
    #[inline(always)]
    unsafe fn from_owned_css(css: ARef<Css>) -> ARef<Self> {
        // SAFETY: the reference moves to a transparent wrapper of the same
        // css, a dev css (caller).
        unsafe { ARef::from_raw(ARef::into_raw(css).cast()) }
    }

    /// The generic css.
    #[inline(always)]
    pub fn css(&self) -> &Css {
        &self.0
    }

    /// The css the current task's charges go to (see [`charged_css`]).
    #[inline]
    pub fn charged() -> Option<ARef<Self>> {
        // SAFETY: `devcg_current_css` returns css of the dev controller.
        charged_css().map(|css| unsafe { Self::from_owned_css(css) })
    }

    /// The css of the current task's own cgroup (see [`task_css`]).
    #[inline]
    pub fn of_current_task() -> Option<ARef<Self>> {
        // SAFETY: `devcg_task_css` returns a css of the dev controller.
        task_css().map(|css| unsafe { Self::from_owned_css(css) })
    }

    /// Calls `f` on every css of the controller that can be referenced,
    /// every child before its parent (see [`Css::for_each_descendant_post`]).
    pub fn for_each_post(mut f: impl FnMut(&Self)) {
        // SAFETY: no preconditions; the root css, never freed, or NULL
        // before the controller is set up.
        let root = unsafe { bindings::devcg_root_css() };
        if root.is_null() {
            return;
        }
        // SAFETY: the root css lives for as long as the system.
        let root = unsafe { Css::from_raw(root) };
        // SAFETY: the descendants of a dev css are dev csses.
        root.for_each_descendant_post(|css| f(unsafe { Self::from_css(css) }));
    }

    /// The css of the controller whose [`Css::id`] is `id`, referenced, if
    /// it is alive and can still be referenced. (No example: only the
    /// controller's one [`State`] type has csses.)
    pub fn from_id(id: i32) -> Option<ARef<Self>> {
        let _rcu = crate::cgroup::RcuReadLock::new();
        // SAFETY: under RCU, as `css_from_id()` requires; `dev_cgrp_subsys`
        // is the controller's subsystem, which lives as long as the system
        // (only its address is taken).
        let css = unsafe { bindings::css_from_id(id, &raw mut bindings::dev_cgrp_subsys) };
        let css = NonNull::new(css)?;
        // SAFETY: RCU keeps a css found in the id table in memory; a tryget
        // fails once its count is zero.
        if !unsafe { bindings::css_tryget(css.as_ptr()) } {
            return None;
        }
        // SAFETY: a css of the dev controller (the type's invariant holds
        // for every one), with the reference the tryget took, now the ARef's.
        Some(unsafe { ARef::from_raw(css.cast()) })
    }

    /// The controller's state of this cgroup.
    #[inline(always)]
    pub fn state(&self) -> &T {
        // SAFETY: the css is the `css` member of a `struct dev_cgroup`
        // (type invariant), so stepping back to it stays in bounds.
        let dcg = unsafe { crate::container_of!(self.0.as_raw(), bindings::dev_cgroup, css) };
        // SAFETY: `dcg` is live while `self` is borrowed; `state` is written
        // once, before the css is published.
        let state = unsafe { (*dcg).state };
        // SAFETY: a pinned `T` freed only after the last css reference is
        // gone (type invariant), so alive for the borrow of `self`.
        unsafe { &*state.cast::<T>() }
    }

    /// The parent cgroup's css, `None` at the root.
    #[inline(always)]
    pub fn parent(&self) -> Option<&Self> {
        // SAFETY: the parent of a dev css is a dev css.
        self.0.parent().map(|p| unsafe { Self::from_css(p) })
    }

    /// Calls `f` with each child's css that can still be referenced (see
    /// [`Css::for_each_child`]); `f` may sleep.
    pub fn for_each_child(&self, mut f: impl FnMut(&Self)) {
        // SAFETY: the children of a dev css are dev csses.
        self.0
            .for_each_child(|css| f(unsafe { Self::from_css(css) }))
    }

    /// Calls `f` with this css and each descendant's that can still be
    /// referenced, parents first; `f` may sleep.
    pub fn for_each_descendant_pre(&self, mut f: impl FnMut(&Self)) {
        // SAFETY: the descendants of a dev css are dev csses.
        self.0
            .for_each_descendant_pre(|css| f(unsafe { Self::from_css(css) }))
    }

    /// Wakes pollers of `dev.events.local` (`local`) or `dev.events`.
    pub fn notify_events(&self, local: bool) {
        // SAFETY: a `struct dev_cgroup` member (type invariant).
        let dcg = unsafe { crate::container_of!(self.0.as_raw(), bindings::dev_cgroup, css) };
        // SAFETY: `dcg` is live while `self` is borrowed; its cgroup_files
        // were set up by cgroup core when the files were created (or are
        // zero, which cgroup_file_notify() ignores).
        unsafe {
            bindings::cgroup_file_notify(if local {
                core::ptr::addr_of!((*dcg).events_local_file).cast_mut()
            } else {
                core::ptr::addr_of!((*dcg).events_file).cast_mut()
            })
        }
    }
}

/// The controller's interface files, as glue.c numbers them in each
/// cftype's `private`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum InterfaceFile {
    /// `dev.capacity` (root only).
    Capacity,
    /// `dev.current`.
    Current,
    /// `dev.max`.
    Max,
    /// `dev.min`.
    Min,
    /// `dev.low`.
    Low,
    /// `dev.peak`.
    Peak,
    /// `dev.events`.
    Events,
    /// `dev.events.local`.
    EventsLocal,
    /// `dev.stat`.
    Stat,
}

impl InterfaceFile {
    /// The file glue.c numbered `file`, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::cgroup::dev::InterfaceFile;
    ///
    /// assert_eq!(InterfaceFile::from_raw(2), Some(InterfaceFile::Max));
    /// assert_eq!(InterfaceFile::from_raw(9), None);
    /// ```
    pub fn from_raw(file: u32) -> Option<Self> {
        Some(match file {
            bindings::devcg_file_DEVCG_FILE_CAPACITY => Self::Capacity,
            bindings::devcg_file_DEVCG_FILE_CURRENT => Self::Current,
            bindings::devcg_file_DEVCG_FILE_MAX => Self::Max,
            bindings::devcg_file_DEVCG_FILE_MIN => Self::Min,
            bindings::devcg_file_DEVCG_FILE_LOW => Self::Low,
            bindings::devcg_file_DEVCG_FILE_PEAK => Self::Peak,
            bindings::devcg_file_DEVCG_FILE_EVENTS => Self::Events,
            bindings::devcg_file_DEVCG_FILE_EVENTS_LOCAL => Self::EventsLocal,
            bindings::devcg_file_DEVCG_FILE_STAT => Self::Stat,
            _ => return None,
        })
    }
}

/// Warns, once, with a backtrace, that a driver uncharged more than it had
/// charged.
pub fn warn_underflow(size: u64) {
    // SAFETY: no preconditions.
    unsafe { bindings::devcg_warn_underflow(size) }
}

/// A link to a css of the controller that holds no reference, kept in an
/// object that the css outlives (one of the cgroup's own objects, which it
/// frees before it goes, or which hold a reference of their own until then).
///
/// # Invariants
///
/// Whenever [`DevCssLink::get`] can be called, the css is alive and
/// referenced (promised at [`DevCssLink::new`]).
///
/// (No example: only the controller's one [`State`] type has csses, and
/// the controller's pools are the link's user: `src/core/pool.rs`.)
pub struct DevCssLink<T: State>(NonNull<DevCss<T>>);

// SAFETY: the link is a shared borrow of a css, and `DevCss<T>` is shared
// between CPUs through its reference count and its state (`T: Sync`).
unsafe impl<T: State> Send for DevCssLink<T> {}
// SAFETY: as above.
unsafe impl<T: State> Sync for DevCssLink<T> {}

impl<T: State> DevCssLink<T> {
    /// A link to `css`.
    ///
    /// # Safety
    ///
    /// Whenever [`DevCssLink::get`] may be called on the link, the css must
    /// be alive and referenced by someone (as a borrowed [`DevCss`] always
    /// is): e.g. the link's holder is reachable only while some reference
    /// is held, or holds one of its own.
    pub unsafe fn new(css: &DevCss<T>) -> Self {
        // INVARIANT: promised by the caller.
        DevCssLink(NonNull::from(css))
    }

    /// The css.
    #[inline(always)]
    pub fn get(&self) -> &DevCss<T> {
        // SAFETY: alive and referenced whenever this can be called (type
        // invariant), for the borrow of `self`.
        unsafe { self.0.as_ref() }
    }

    /// The css, as [`ARef::into_raw`] returns it: for dropping a reference
    /// that was leaked (with `ARef::into_raw`) to keep the css alive for
    /// the link's sake.
    pub fn as_ptr(&self) -> NonNull<DevCss<T>> {
        self.0
    }
}

/// The addresses the controller hands to C as `struct dev_cgroup_pool *`
/// for one of its objects: `N` distinct addresses inside the object, one per
/// index (a consumer). C only keeps, compares and passes them back;
/// [`PoolHandleOf::from_pool_handle`] finds the object and the index again.
///
/// # Invariants
///
/// Byte `i` holds `i`, and `N` is at most 256.
#[repr(transparent)]
pub struct PoolHandles<const N: usize>([u8; N]);

impl<const N: usize> PoolHandles<N> {
    /// The handles of a new object.
    pub const fn new() -> Self {
        // A `u8` names each handle.
        const { assert!(N >= 1 && N <= 256) };
        let mut indices = [0u8; N];
        let mut i = 0;
        while i < N {
            indices[i] = i as u8;
            i += 1;
        }
        // INVARIANT: byte `i` holds `i`.
        PoolHandles(indices)
    }
}

impl<const N: usize> Default for PoolHandles<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// An object with [`PoolHandles`] at a fixed offset, so that a handle leads
/// back to it. Implemented with [`impl_has_pool_handles!`](crate::impl_has_pool_handles);
/// its handles are made and resolved by [`PoolHandleOf`], which every
/// implementor gets and none can override.
///
/// # Safety
///
/// `HANDLES_OFFSET` must be the byte offset in `Self` of a field of type
/// `PoolHandles<N>` (the field itself, not a pointer to one).
///
/// # Examples
///
/// ```
/// use kernel::cgroup::dev::{PoolHandleOf, PoolHandles};
///
/// struct Pool {
///     usage: u64,
///     handles: PoolHandles<4>,
/// }
/// kernel::impl_has_pool_handles!(Pool, handles, 4);
///
/// let pool = KBox::new(Pool { usage: 7, handles: PoolHandles::new() }, GFP_KERNEL)?;
/// let handle = pool.pool_handle(2);
/// assert_ne!(handle, pool.pool_handle(1));
/// // Out of range: the last one.
/// assert_eq!(pool.pool_handle(9), pool.pool_handle(3));
/// // SAFETY: `handle` is from `pool_handle` on `pool`, which is alive.
/// let (back, index) = unsafe { Pool::from_pool_handle(handle) };
/// assert!(core::ptr::eq(back.as_ptr(), &*pool));
/// assert_eq!((index, pool.usage), (2, 7));
/// # Ok::<(), Error>(())
/// ```
pub unsafe trait HasPoolHandles<const N: usize>: Sized {
    /// Where the `PoolHandles<N>` field is.
    const HANDLES_OFFSET: usize;
}

/// The handles of an object with [`PoolHandles`]: implemented for every
/// [`HasPoolHandles`] type, and only there.
pub trait PoolHandleOf<const N: usize>: HasPoolHandles<N> {
    /// The handle for `index` (the last one if `index` is out of range),
    /// valid for as long as `self` is allocated.
    fn pool_handle(&self, index: usize) -> PoolHandle;

    /// The object and the index behind a handle.
    ///
    /// # Safety
    ///
    /// `handle` must come from [`PoolHandleOf::pool_handle`] on a `Self`
    /// that is still allocated.
    unsafe fn from_pool_handle(handle: PoolHandle) -> (NonNull<Self>, usize);
}

impl<T: HasPoolHandles<N>, const N: usize> PoolHandleOf<N> for T {
    #[inline(always)]
    fn pool_handle(&self, index: usize) -> PoolHandle {
        let index = index.min(N - 1);
        // Derived from the whole object, so that `from_pool_handle` may step
        // back to its start.
        core::ptr::from_ref(self)
            .cast::<u8>()
            .wrapping_add(Self::HANDLES_OFFSET + index)
            .cast_mut()
            .cast()
    }

    #[inline(always)]
    unsafe fn from_pool_handle(handle: PoolHandle) -> (NonNull<Self>, usize) {
        let handle = handle.cast::<u8>().cast_const();
        // SAFETY: `handle` is byte `index` of the object's `PoolHandles`
        // field (`HasPoolHandles`' and the caller's contracts), which holds
        // `index` (its invariant), and the object is allocated (caller).
        let index = usize::from(unsafe { *handle });
        // SAFETY: byte `index` of the field at `HANDLES_OFFSET`: stepping
        // back by both lands on the object's start, in the same allocation.
        let object = unsafe { handle.sub(Self::HANDLES_OFFSET + index) };
        // SAFETY: a pointer into an allocated object is not null.
        let object = unsafe { NonNull::new_unchecked(object.cast::<Self>().cast_mut()) };
        (object, index)
    }
}

/// Implements [`HasPoolHandles`] for a type and its `PoolHandles` field:
/// `impl_has_pool_handles!(Pool, handles, 4)`.
#[macro_export]
macro_rules! impl_has_pool_handles {
    ($type:ty, $field:ident, $n:expr) => {
        // SAFETY: the offset is that of `$field`, whose type the function
        // below checks to be `PoolHandles<$n>` itself.
        unsafe impl $crate::cgroup::dev::HasPoolHandles<{ $n }> for $type {
            const HANDLES_OFFSET: usize = ::core::mem::offset_of!($type, $field);
        }
        // Through raw pointers, which never dereference a field that only
        // derefs to the handles (a `Box` of them, say): the field's own type
        // must be `PoolHandles<$n>`.
        const _: fn(*const $type) -> *const $crate::cgroup::dev::PoolHandles<{ $n }> =
            // SAFETY: only a place projection, never called.
            |object| unsafe { ::core::ptr::addr_of!((*object).$field) };
    };
}

/// What C holds for a charge: a [`PoolHandleOf::pool_handle`].
pub type PoolHandle = *mut bindings::dev_cgroup_pool;

/// A buffer's charge record (`struct dev_cgroup_charge`), which an exporter
/// embeds in its buffer: the handle of the buffer's charge and its size.
///
/// # Invariants
///
/// `pool` is the record's `pool` field, valid for `'a` and accessed only
/// atomically while `self` exists; `size` is the record's size, which
/// nothing changes while the record holds a charge.
pub struct ChargeRecord<'a> {
    pool: &'a AtomicPtr<bindings::dev_cgroup_pool>,
    size: u64,
}

impl<'a> ChargeRecord<'a> {
    /// The record at `record`.
    ///
    /// # Safety
    ///
    /// `record` must be valid and aligned for `'a`, its `pool` field
    /// accessed only atomically for `'a` (once a buffer is published, the
    /// controller only swaps it, and its exporter never writes it), and its
    /// `size` not written for `'a`.
    pub unsafe fn from_raw(record: *mut bindings::dev_cgroup_charge) -> Self {
        // SAFETY: valid and aligned for `'a`, accessed atomically (caller).
        let pool = unsafe { AtomicPtr::from_ptr(&raw mut (*record).pool) };
        // SAFETY: valid, and not written meanwhile (caller).
        let size = unsafe { (*record).size };
        // INVARIANT: from the caller's contract.
        ChargeRecord { pool, size }
    }

    /// The size the charge was made for.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The charge's handle; null if the record holds none.
    pub fn handle(&self) -> PoolHandle {
        self.pool.load(Ordering::Acquire)
    }

    /// Empties the record and returns the handle it held (null if none):
    /// of two racing callers, only one gets it.
    pub fn take_handle(&self) -> PoolHandle {
        self.pool.swap(core::ptr::null_mut(), Ordering::AcqRel)
    }

    /// Replaces the handle `old` with `new`; false, changing nothing, if the
    /// record no longer holds `old`.
    pub fn replace(&self, old: PoolHandle, new: PoolHandle) -> bool {
        self.pool
            .compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}
