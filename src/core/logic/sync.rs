// SPDX-License-Identifier: GPL-2.0

//! The atomics the counters use: `core`'s, except under `cfg(loom)`, where the
//! host's model checker (`cargo test` with `--cfg loom`, see
//! `loom_models.rs`) swaps in its own, so that the models run the very code
//! the kernel runs.
//!
//! Under loom every atomic also carries a *freed* mark, set when the model
//! frees the counter that holds it (see `Counter::mark_freed`). Any later
//! access panics: a use-after-free in the release protocol is then a failed
//! model, not memory silently reused.

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU64, AtomicU8};

#[cfg(loom)]
pub(crate) use checked::{AtomicU64, AtomicU8};

#[cfg(loom)]
mod checked {
    use core::sync::atomic::Ordering;
    // Not a loom atomic: loom runs one thread at a time, and the mark is
    // bookkeeping of the model, not a memory access of the code under test.
    use std::sync::atomic::AtomicBool;

    macro_rules! checked_atomic {
        ($name:ident, $int:ty) => {
            /// A loom atomic that refuses every access once freed.
            #[derive(Debug)]
            pub(crate) struct $name {
                inner: loom::sync::atomic::$name,
                freed: AtomicBool,
            }

            impl $name {
                pub(crate) fn new(value: $int) -> Self {
                    $name {
                        inner: loom::sync::atomic::$name::new(value),
                        freed: AtomicBool::new(false),
                    }
                }

                /// Runs `access` on the inner atomic of a live counter,
                /// checked before and again after: loom may run another
                /// thread at the access itself, after the check before it,
                /// and that thread may free the counter meanwhile.
                fn checked<R>(&self, access: impl FnOnce(&loom::sync::atomic::$name) -> R) -> R {
                    self.still_live();
                    let result = access(&self.inner);
                    self.still_live();
                    result
                }

                fn still_live(&self) {
                    assert!(
                        !self.freed.load(Ordering::SeqCst),
                        "use after free: an atomic of a released counter was accessed"
                    );
                }

                /// Marks the atomic freed: every later access panics.
                pub(crate) fn mark_freed(&self) {
                    self.still_live();
                    self.freed.store(true, Ordering::SeqCst);
                }

                pub(crate) fn load(&self, order: Ordering) -> $int {
                    self.checked(|a| a.load(order))
                }

                pub(crate) fn store(&self, value: $int, order: Ordering) {
                    self.checked(|a| a.store(value, order))
                }

                pub(crate) fn swap(&self, value: $int, order: Ordering) -> $int {
                    self.checked(|a| a.swap(value, order))
                }

                pub(crate) fn fetch_add(&self, value: $int, order: Ordering) -> $int {
                    self.checked(|a| a.fetch_add(value, order))
                }

                pub(crate) fn fetch_max(&self, value: $int, order: Ordering) -> $int {
                    self.checked(|a| a.fetch_max(value, order))
                }

                pub(crate) fn compare_exchange(
                    &self,
                    current: $int,
                    new: $int,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$int, $int> {
                    self.checked(|a| a.compare_exchange(current, new, success, failure))
                }

                pub(crate) fn compare_exchange_weak(
                    &self,
                    current: $int,
                    new: $int,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$int, $int> {
                    self.checked(|a| a.compare_exchange_weak(current, new, success, failure))
                }
            }
        };
    }

    checked_atomic!(AtomicU64, u64);
    checked_atomic!(AtomicU8, u8);
}
