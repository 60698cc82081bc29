// SPDX-License-Identifier: GPL-2.0

//! A link from an object back to the [`Arc`] that owns it, for code that
//! reaches the object first (from a handle C gave back, say) and must get to
//! its owner. The link holds no reference: an owner cannot be kept alive by
//! what it owns.
//!
//! Part of the dev cgroup controller's overlay (`kernel/cgroup/dev`).

use crate::sync::{Arc, ArcBorrow};
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

/// A link to the owning `Arc<T>`, set once.
///
/// # Invariants
///
/// `owner` is null or the data pointer of an `Arc<T>` (what `Arc::into_raw`
/// returns); it changes only from null to such a pointer.
///
/// # Examples
///
/// ```
/// use kernel::sync::{owner_link::OwnerLink, Arc};
///
/// struct Part {
///     owner: OwnerLink<Whole>,
/// }
/// struct Whole {
///     part: Part,
/// }
///
/// let whole = Arc::new(Whole { part: Part { owner: OwnerLink::new() } }, GFP_KERNEL)?;
/// assert!(whole.part.owner.set(&whole));
/// assert!(whole.part.owner.is(&whole));
/// // SAFETY: `whole` is held for the whole borrow.
/// let back: Arc<Whole> = unsafe { whole.part.owner.get() }.ok_or(EINVAL)?.into();
/// assert!(Arc::ptr_eq(&back, &whole));
/// // Set once: a second owner is refused.
/// let other = Arc::new(Whole { part: Part { owner: OwnerLink::new() } }, GFP_KERNEL)?;
/// assert!(!whole.part.owner.set(&other));
/// # Ok::<(), Error>(())
/// ```
pub struct OwnerLink<T> {
    owner: AtomicPtr<T>,
}

impl<T> OwnerLink<T> {
    /// A link not set yet.
    pub const fn new() -> Self {
        // INVARIANT: null.
        OwnerLink {
            owner: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Links to `owner`, unless a link was set before: then returns false
    /// and keeps the first.
    pub fn set(&self, owner: &Arc<T>) -> bool {
        // From `Arc::into_raw`, whose pointer may step back to the `Arc`'s
        // allocation (a `&T` would only cover `T`); the extra reference is
        // dropped at once.
        let data = Arc::into_raw(owner.clone()).cast_mut();
        // SAFETY: the reference `into_raw` just leaked.
        drop(unsafe { Arc::from_raw(data) });
        // INVARIANT: from null to the data pointer of an `Arc<T>`.
        self.owner
            .compare_exchange(ptr::null_mut(), data, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    /// Whether the link points to `owner`.
    pub fn is(&self, owner: &T) -> bool {
        ptr::eq(self.owner.load(Ordering::Acquire), owner)
    }

    /// The owner, as `Arc::into_raw` returns it (null if not set): for
    /// handing back a reference that was leaked with `Arc::into_raw`.
    pub fn as_ptr(&self) -> *const T {
        self.owner.load(Ordering::Acquire)
    }

    /// The owner, borrowed; `None` if the link is not set. (The link may
    /// be read on any CPU, hence `T: Send + Sync`, as for sharing an `Arc`.)
    ///
    /// # Safety
    ///
    /// The caller must hold a reference on the linked owner for `'a`.
    pub unsafe fn get<'a>(&self) -> Option<ArcBorrow<'a, T>>
    where
        T: Send + Sync,
    {
        let owner = self.owner.load(Ordering::Acquire);
        if owner.is_null() {
            return None;
        }
        // SAFETY: by the type invariant `owner` is an `Arc<T>`'s data
        // pointer, and the caller holds a reference on it for `'a`.
        Some(unsafe { ArcBorrow::from_raw(owner) })
    }
}

impl<T> Default for OwnerLink<T> {
    fn default() -> Self {
        Self::new()
    }
}
