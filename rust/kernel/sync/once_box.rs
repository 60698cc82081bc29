// SPDX-License-Identifier: GPL-2.0

//! A pinned value made once, at run time, and then shared for as long as its
//! holder lives: for global state that needs an initialiser a `static`
//! cannot run (a mutex with its lock class, say).
//!
//! Part of the dev cgroup controller's overlay (`kernel/cgroup/dev`).

use crate::alloc::{Flags, KBox};
use crate::error::Error;
use crate::init::{InPlaceInit, PinInit};
use core::pin::Pin;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

/// A slot for one pinned, boxed `T`, filled at most once.
///
/// Readers pay one acquire load. Once filled, the value stays where it is
/// until the `OnceBox` itself is dropped, which a `static` never is.
///
/// # Invariants
///
/// `value` is null or a pointer from `KBox::into_raw` of a box whose
/// contents were pinned; it changes only from null to such a pointer, and
/// the box is freed only by `drop`.
///
/// # Examples
///
/// ```
/// use kernel::sync::once_box::OnceBox;
/// use kernel::{new_mutex, sync::Mutex};
///
/// let once: OnceBox<Mutex<u32>> = OnceBox::new();
/// assert!(once.get().is_none());
/// let first = once.get_or_try_init(new_mutex!(1), GFP_KERNEL)?;
/// *first.lock() += 1;
/// // A second initialiser is not used: the first value stays.
/// let again = once.get_or_try_init(new_mutex!(10), GFP_KERNEL)?;
/// assert!(core::ptr::eq(first, again));
/// assert_eq!(*once.get().unwrap().lock(), 2);
/// # Ok::<(), Error>(())
/// ```
pub struct OnceBox<T> {
    value: AtomicPtr<T>,
}

// SAFETY: the `OnceBox` owns its `T`, which it may drop wherever it is
// dropped.
unsafe impl<T: Send> Send for OnceBox<T> {}
// SAFETY: `&OnceBox<T>` gives `&T` to any thread (so `T: Sync`), and any
// thread may be the one that makes the `T` which another then drops (so
// `T: Send`).
unsafe impl<T: Send + Sync> Sync for OnceBox<T> {}

impl<T> OnceBox<T> {
    /// An empty slot.
    pub const fn new() -> Self {
        // INVARIANT: null.
        OnceBox {
            value: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The value, once made.
    pub fn get(&self) -> Option<&T> {
        // SAFETY: by the type invariant, a non-null pointer is a live box that
        // is freed only when `self` is dropped, which the borrow of `self`
        // rules out; the acquire pairs with the release that published it.
        unsafe { self.value.load(Ordering::Acquire).as_ref() }
    }

    /// The value, pinned: it never moves once made.
    pub fn get_pinned(&self) -> Option<Pin<&T>> {
        // SAFETY: the box's contents were pinned when made and are never
        // moved or handed out by value (type invariant).
        self.get().map(|value| unsafe { Pin::new_unchecked(value) })
    }

    /// The value, made with `init` in a new box if there is none yet. When
    /// two callers race, both may run their initialiser; one value is
    /// published and the other dropped, and both callers get the published
    /// one. Fails, leaving the slot empty, if allocating or `init` fails.
    pub fn get_or_try_init<E>(&self, init: impl PinInit<T, E>, flags: Flags) -> Result<&T, Error>
    where
        Error: From<E>,
    {
        if let Some(value) = self.get() {
            return Ok(value);
        }
        let new = KBox::pin_init(init, flags)?;
        // SAFETY: the box is leaked, then freed only in place (`drop` below,
        // or here if it loses the race), so its contents never move.
        let new = KBox::into_raw(unsafe { Pin::into_inner_unchecked(new) });
        // INVARIANT: from null to a pinned box's pointer, published with
        // release so that readers see it initialised.
        match self
            .value
            .compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {}
            Err(_) => {
                // SAFETY: `new` came from `KBox::into_raw` above and was never
                // published, so nothing else can reach it.
                drop(unsafe { KBox::from_raw(new) });
            }
        }
        // Published by us or by the caller that won the race.
        self.get().ok_or(crate::error::code::EINVAL)
    }
}

impl<T> Default for OnceBox<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for OnceBox<T> {
    fn drop(&mut self) {
        let value = *self.value.get_mut();
        if !value.is_null() {
            // SAFETY: by the type invariant a non-null pointer is a box owned
            // by `self`, freed only here; dropping it in place keeps the pin.
            drop(unsafe { KBox::from_raw(value) });
        }
    }
}
