// SPDX-License-Identifier: GPL-2.0

//! Control groups: references on a controller's per-cgroup state.
//!
//! A controller keeps one `struct cgroup_subsys_state` (css) per cgroup in
//! which it is enabled. A css is reference counted: [`ARef<Css>`](crate::types::ARef) owns one
//! reference, `&Css` borrows someone else's. The parent of a css is pinned
//! by its children, so borrowing it for as long as the child is borrowed is
//! sound. Walking children and descendants takes an RCU read-side section
//! and hands the walker only the csses it could reference (`css_tryget()`),
//! that is never one that is being destroyed.
//!
//! C header: [`include/linux/cgroup.h`](srctree/include/linux/cgroup.h).
//!
//! Part of the dev cgroup controller's overlay (`kernel/cgroup/dev`), which
//! adds [`dev`] for its own C side.

use crate::bindings;
use crate::error::{code, Error, Result};
use crate::types::{AlwaysRefCounted, Opaque};
use core::ptr::{self, NonNull};

#[cfg(CONFIG_CGROUP_DEV)]
pub mod dev;

/// A cgroup subsystem state: one controller's state in one cgroup.
///
/// # Invariants
///
/// A `&Css` points to a live `struct cgroup_subsys_state` on which someone
/// holds a reference for as long as the borrow lasts; an [`ARef<Css>`] owns
/// one.
#[repr(transparent)]
pub struct Css(Opaque<bindings::cgroup_subsys_state>);

// SAFETY: A css reference may be taken, used and dropped on any CPU; cgroup
// core protects what it shares with atomics, locks and RCU.
unsafe impl Send for Css {}
// SAFETY: As above; `&Css` only allows operations cgroup core makes
// thread-safe.
unsafe impl Sync for Css {}

// SAFETY: `css_get` and `css_put` keep the css alive while the count is
// held, and are callable in any context.
unsafe impl AlwaysRefCounted for Css {
    #[inline]
    fn inc_ref(&self) {
        // SAFETY: `self` is live (type invariant), so taking one more
        // reference is allowed.
        unsafe { bindings::css_get(self.as_raw()) }
    }

    #[inline]
    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller owns the reference it gives up.
        unsafe { bindings::css_put(obj.cast().as_ptr()) }
    }
}

impl Css {
    /// Borrows the css at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a css on which someone holds a reference for
    /// `'a`.
    #[inline(always)]
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::cgroup_subsys_state) -> &'a Self {
        // SAFETY: `Css` is a transparent wrapper of the C struct, live for
        // `'a` (caller).
        unsafe { &*ptr.cast() }
    }

    /// The C `struct cgroup_subsys_state`.
    #[inline(always)]
    pub fn as_raw(&self) -> *mut bindings::cgroup_subsys_state {
        self.0.get()
    }

    /// The css's id among its controller's csses (`css->id`): unique among
    /// the csses alive, and reused only once a css is freed.
    #[inline(always)]
    pub fn id(&self) -> i32 {
        // SAFETY: `self` is live (type invariant); `id` is set before the css
        // is published and never changes.
        unsafe { (*self.as_raw()).id }
    }

    /// The depth of the css's cgroup (`cgroup->level`): 0 at the root.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(CONFIG_CGROUP_DEV)]
    /// # {
    /// let root = kernel::cgroup::dev::charged_css().ok_or(kernel::error::code::ENODEV)?;
    /// assert_eq!(root.level(), 0);
    /// # }
    /// # Ok::<(), kernel::error::Error>(())
    /// ```
    #[inline(always)]
    pub fn level(&self) -> i32 {
        // SAFETY: `self` is live (type invariant), and so is its cgroup, whose
        // `level` is set at creation and never changes.
        unsafe { (*(*self.as_raw()).cgroup).level }
    }

    /// The parent cgroup's css of the same controller; `None` at the root.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::cgroup::Css;
    ///
    /// fn depth(css: &Css) -> usize {
    ///     let mut depth = 0;
    ///     let mut at = css;
    ///     while let Some(parent) = at.parent() {
    ///         depth += 1;
    ///         at = parent;
    ///     }
    ///     depth
    /// }
    /// # #[cfg(CONFIG_CGROUP_DEV)]
    /// # {
    /// // KUnit runs in the root cgroup, whose css has no parent.
    /// let css = kernel::cgroup::dev::charged_css().ok_or(kernel::error::code::ENODEV)?;
    /// assert_eq!(depth(&css), 0);
    /// # }
    /// # Ok::<(), kernel::error::Error>(())
    /// ```
    #[inline(always)]
    pub fn parent(&self) -> Option<&Css> {
        // SAFETY: `self` is live (type invariant); `parent` is set at
        // creation and never changes.
        let parent = unsafe { (*self.as_raw()).parent };
        // SAFETY: a css holds a reference on its parent until it is freed,
        // which cannot happen while `self` is borrowed.
        (!parent.is_null()).then(|| unsafe { Css::from_raw(parent) })
    }

    /// The path of this css's cgroup as the current task sees it (from the
    /// root of its cgroup namespace), written into `buf`; `ENAMETOOLONG` if
    /// it does not fit.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(CONFIG_CGROUP_DEV)]
    /// # {
    /// let root = kernel::cgroup::dev::charged_css().ok_or(kernel::error::code::ENODEV)?;
    /// let mut buf = [0u8; 16];
    /// assert_eq!(root.path(&mut buf)?, "/");
    /// # }
    /// # Ok::<(), kernel::error::Error>(())
    /// ```
    pub fn path<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str> {
        // SAFETY: `self` is live (type invariant): so is its cgroup, and
        // `cgroup_path_ns` writes at most `buf.len()` bytes, NUL included.
        let len = unsafe {
            bindings::cgroup_path_ns(
                (*self.as_raw()).cgroup,
                buf.as_mut_ptr().cast(),
                buf.len(),
                bindings::current_cgroup_ns(),
            )
        };
        let len = usize::try_from(len).map_err(|_| Error::from_errno(len))?;
        if len >= buf.len() {
            return Err(Error::from_errno(-(bindings::ENAMETOOLONG as i32)));
        }
        core::str::from_utf8(&buf[..len]).map_err(|_| code::EINVAL)
    }

    /// Calls `f` with each child's css that can still be referenced (a
    /// removed cgroup's css too, until its last reference is gone). `f` may
    /// sleep.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(CONFIG_CGROUP_DEV)]
    /// # {
    /// let root = kernel::cgroup::dev::charged_css().ok_or(kernel::error::code::ENODEV)?;
    /// root.for_each_child(|child| {
    ///     assert!(core::ptr::eq(child.parent().unwrap(), &*root));
    /// });
    /// # }
    /// # Ok::<(), kernel::error::Error>(())
    /// ```
    pub fn for_each_child(&self, f: impl FnMut(&Css)) {
        self.walk(
            |pos, root| {
                // SAFETY: `pos` is NULL or a child of `root` found in this
                // RCU section; `root` is live.
                unsafe { bindings::css_next_child(pos, root) }
            },
            f,
        )
    }

    /// Calls `f` with this css and each descendant's that can still be
    /// referenced, every parent before its children. `f` may sleep.
    pub fn for_each_descendant_pre(&self, f: impl FnMut(&Css)) {
        self.walk(
            |pos, root| {
                // SAFETY: as in `for_each_child`.
                unsafe { bindings::css_next_descendant_pre(pos, root) }
            },
            f,
        )
    }

    /// Calls `f` with this css and each descendant's that can still be
    /// referenced, every child before its parent. `f` may sleep.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(CONFIG_CGROUP_DEV)]
    /// # {
    /// let root = kernel::cgroup::dev::charged_css().ok_or(kernel::error::code::ENODEV)?;
    /// let (mut pre, mut post) = (0, 0);
    /// let mut last = core::ptr::null();
    /// root.for_each_descendant_pre(|_| pre += 1);
    /// root.for_each_descendant_post(|css| {
    ///     post += 1;
    ///     last = css as *const _;
    /// });
    /// // Both walks include the root itself; the post-order walk ends there.
    /// assert!(pre >= 1 && post >= 1);
    /// assert!(core::ptr::eq(last, &*root));
    /// # }
    /// # Ok::<(), kernel::error::Error>(())
    /// ```
    pub fn for_each_descendant_post(&self, f: impl FnMut(&Css)) {
        self.walk(
            |pos, root| {
                // SAFETY: as in `for_each_child`.
                unsafe { bindings::css_next_descendant_post(pos, root) }
            },
            f,
        )
    }

    /// Drives one of cgroup core's css iterators (`next(pos, root)`) over
    /// `self`: each step under RCU, `f` outside it, on a css referenced for
    /// the call (the C pattern of `css_for_each_child()` users that sleep).
    fn walk(
        &self,
        next: impl Fn(
            *mut bindings::cgroup_subsys_state,
            *mut bindings::cgroup_subsys_state,
        ) -> *mut bindings::cgroup_subsys_state,
        mut f: impl FnMut(&Css),
    ) {
        let root = self.as_raw();
        let mut rcu = RcuReadLock::new();
        let mut pos = next(ptr::null_mut(), root);
        while !pos.is_null() {
            // SAFETY: RCU keeps `pos` in memory in this section, and a
            // tryget is allowed on it; it fails once the count is zero.
            let referenced = unsafe { bindings::css_tryget(pos) };
            if referenced {
                drop(rcu);
                // SAFETY: we hold the reference the tryget took.
                f(unsafe { Css::from_raw(pos) });
                rcu = RcuReadLock::new();
            }
            // `pos` is referenced, or RCU has kept it since it was found:
            // the iterators accept a `pos` that was removed meanwhile.
            let at = pos;
            pos = next(pos, root);
            if referenced {
                // SAFETY: the reference taken above; RCU keeps `at` in
                // memory until the section ends, and it is not used again.
                unsafe { bindings::css_put(at) };
            }
        }
        drop(rcu);
    }
}

/// An RCU read-side critical section, ended when dropped.
pub(crate) struct RcuReadLock;

impl RcuReadLock {
    pub(crate) fn new() -> Self {
        // SAFETY: no preconditions; ended by `drop`.
        unsafe { bindings::rcu_read_lock() };
        RcuReadLock
    }
}

impl Drop for RcuReadLock {
    fn drop(&mut self) {
        // SAFETY: the section `new` began.
        unsafe { bindings::rcu_read_unlock() };
    }
}
