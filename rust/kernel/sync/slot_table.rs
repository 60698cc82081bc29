// SPDX-License-Identifier: GPL-2.0

//! A table of boxed entries indexed by small integers ("slots"), looked up
//! without any lock or atomic read-modify-write, for per-object tables that
//! a hot path reads and that rarely change (the dev cgroup controller's
//! per-cgroup pools, one slot per registered region).
//!
//! Writers are serialised by a spin lock that also guards a value of the
//! user's. Growing publishes a copy of the slot array and keeps the old one
//! until the table is dropped, since readers may still be reading it: each
//! array is filled to its capacity, which callers double (see
//! [`SlotTable::spare`]), so all of them together cost at most twice the
//! current one. Nothing that was ever published is freed before the table is,
//! except an entry its owner took out ([`Writer::take`]) and then freed by
//! its own protocol.
//!
//! Part of the dev cgroup controller's overlay (`kernel/cgroup/dev`).

use crate::alloc::{Flags, KBox, KVec};
use crate::error::Result;
use crate::init::PinInit;
use crate::pin_init;
use crate::prelude::{pin_data, pinned_drop};
use crate::sync::lock::{spinlock::SpinLockBackend, Guard};
use crate::sync::{LockClassKey, SpinLock};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};

/// One published array of slots.
struct Array<T> {
    slots: KVec<AtomicPtr<T>>,
    /// The array this one replaced, kept for readers still reading it.
    previous: Option<KBox<Array<T>>>,
}

/// An empty slot array allocated ahead of [`Writer::grow`], which must not
/// allocate (it runs under a spin lock).
pub struct Spare<T>(KBox<Array<T>>);

/// A lock-free readable table of `KBox<T>` entries, with a writer lock
/// guarding a `W`.
///
/// # Invariants
///
/// - `current` is null or a leaked `KBox<Array<T>>`, replaced only under
///   `writer` and freed only by `drop`; the arrays it replaced are kept in
///   its `previous` chain.
/// - Every non-null slot of the current array is a leaked `KBox<T>` owned
///   by the table; older arrays hold a subset of those, or entries taken
///   out since, which are then their taker's. An entry is put in or taken
///   out only under `writer`.
#[pin_data(PinnedDrop)]
pub struct SlotTable<T, W> {
    current: AtomicPtr<Array<T>>,
    #[pin]
    writer: SpinLock<W>,
}

// SAFETY: the table owns `T`s (dropped wherever the table is) and hands out
// `&T` to any thread; `W` is behind a lock.
unsafe impl<T: Send + Sync, W: Send> Send for SlotTable<T, W> {}
// SAFETY: as above; lookups only read atomics and `&T`.
unsafe impl<T: Send + Sync, W: Send> Sync for SlotTable<T, W> {}

impl<T, W> SlotTable<T, W> {
    /// An empty table whose writer lock guards `value`.
    pub fn new(
        value: W,
        name: &'static crate::str::CStr,
        key: &'static LockClassKey,
    ) -> impl PinInit<Self> {
        pin_init!(SlotTable {
            current: AtomicPtr::new(ptr::null_mut()),
            writer <- SpinLock::new(value, name, key),
        })
    }

    #[inline(always)]
    fn array(&self) -> Option<&Array<T>> {
        // SAFETY: a published array is freed only when `self` is (invariant).
        unsafe { self.current.load(Ordering::Acquire).as_ref() }
    }

    /// The entry in `slot`, if any. No lock, no atomic read-modify-write.
    ///
    /// # Safety
    ///
    /// The entry must not be freed while the returned reference is used:
    /// an entry is freed only with the table or by whoever took it out
    /// ([`Writer::take`]), so the caller must know that no such taker frees
    /// it meanwhile (the table's owner states how, e.g. by a rule on when
    /// entries are taken out). Under the writer lock, [`Writer::get`] needs
    /// no such care.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::sync::slot_table::SlotTable;
    /// use kernel::prelude::*;
    ///
    /// let table = KBox::pin_init(
    ///     SlotTable::<u64, bool>::new(true, kernel::c_str!("doctest_slots"), kernel::static_lock_class!()),
    ///     GFP_KERNEL,
    /// )?;
    /// // SAFETY: nothing is taken out of `table` while these are used.
    /// assert_eq!(unsafe { table.get(3) }, None);
    /// let spare = SlotTable::<u64, bool>::spare(4, GFP_KERNEL)?;
    /// let entry = KBox::new(42u64, GFP_KERNEL)?;
    /// {
    ///     let mut writer = table.lock();
    ///     assert!(*writer);
    ///     writer.grow(spare, 3)?;
    ///     assert!(writer.insert(3, entry).is_none());
    /// }
    /// // SAFETY: as above.
    /// assert_eq!(unsafe { table.get(3) }, Some(&42));
    /// assert_eq!(table.len(), 4);
    /// // Growing again keeps the entry; each array is filled to its capacity.
    /// let spare = SlotTable::<u64, bool>::spare(8, GFP_KERNEL)?;
    /// table.lock().grow(spare, 5)?;
    /// assert_eq!(table.len(), 8);
    /// assert_eq!(table.lock().get(3), Some(&42));
    /// // Taken out (from every array that holds it): the taker owns it now.
    /// let taken = table.lock().take(3, |v| *v == 42).ok_or(ENOENT)?;
    /// assert_eq!(table.lock().get(3), None);
    /// // SAFETY: taken out above, and no reference from `get` is left.
    /// drop(unsafe { KBox::from_raw(taken.as_ptr()) });
    /// # Ok::<(), Error>(())
    /// ```
    #[inline(always)]
    pub unsafe fn get(&self, slot: usize) -> Option<&T> {
        let entry = self.array()?.slots.get(slot)?.load(Ordering::Acquire);
        // SAFETY: an entry in the table is a live box (invariant), freed
        // with the table or by a taker, which the caller rules out while
        // the reference is used.
        unsafe { entry.as_ref() }
    }

    /// Slots of the current array.
    pub fn len(&self) -> usize {
        self.array().map_or(0, |a| a.slots.len())
    }

    /// Whether no slot exists yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An empty array with room for `slots` slots, for [`Writer::grow`]
    /// (which fills it to that capacity). Pass at least twice the current
    /// length, so that the arrays kept for readers stay within twice the
    /// current one.
    pub fn spare(slots: usize, flags: Flags) -> Result<Spare<T>> {
        Ok(Spare(KBox::new(
            Array {
                slots: KVec::with_capacity(slots, flags)?,
                previous: None,
            },
            flags,
        )?))
    }

    /// Takes the writer lock.
    pub fn lock(&self) -> Writer<'_, T, W> {
        Writer {
            table: self,
            guard: self.writer.lock(),
        }
    }
}

/// The writer lock of a [`SlotTable`], held; derefs to the guarded value.
pub struct Writer<'a, T, W> {
    table: &'a SlotTable<T, W>,
    guard: Guard<'a, W, SpinLockBackend>,
}

impl<T, W> core::ops::Deref for Writer<'_, T, W> {
    type Target = W;

    fn deref(&self) -> &W {
        &self.guard
    }
}

impl<T, W> core::ops::DerefMut for Writer<'_, T, W> {
    fn deref_mut(&mut self) -> &mut W {
        &mut self.guard
    }
}

impl<T, W> Writer<'_, T, W> {
    /// The entry in `slot`, if any: nothing can take it out while the
    /// writer lock is held.
    pub fn get(&self, slot: usize) -> Option<&T> {
        let entry = self.table.array()?.slots.get(slot)?.load(Ordering::Relaxed);
        // SAFETY: entries leave the table only under the writer lock, which
        // `self` holds for as long as the reference lives.
        unsafe { entry.as_ref() }
    }

    /// Calls `f` with every entry.
    pub fn for_each(&self, mut f: impl FnMut(&T)) {
        let Some(array) = self.table.array() else {
            return;
        };
        for slot in array.slots.iter() {
            // SAFETY: entries leave the table only under the writer lock,
            // which we hold.
            if let Some(entry) = unsafe { slot.load(Ordering::Acquire).as_ref() } {
                f(entry);
            }
        }
    }

    /// Publishes a copy of the current array with room for `slot`, made in
    /// `spare` (which must have the capacity: `EINVAL` otherwise). Does
    /// nothing if there is room already.
    pub fn grow(&mut self, mut spare: Spare<T>, slot: usize) -> Result {
        let current = self.table.current.load(Ordering::Relaxed);
        // SAFETY: we hold the writer lock, so `current` is not being
        // replaced, and it is freed only with the table.
        let old = unsafe { current.as_ref() };
        let old_len = old.map_or(0, |a| a.slots.len());
        if old_len > slot {
            return Ok(());
        }
        if spare.0.slots.capacity() <= slot {
            return Err(crate::error::code::EINVAL);
        }
        // Within the capacity checked above, pushing never allocates.
        let no_alloc = crate::alloc::flags::GFP_ATOMIC;
        if let Some(old) = old {
            for entry in old.slots.iter() {
                spare
                    .0
                    .slots
                    .push(AtomicPtr::new(entry.load(Ordering::Relaxed)), no_alloc)?;
            }
        }
        // Filled to its capacity: the next slots need no new array.
        while spare.0.slots.len() < spare.0.slots.capacity() {
            spare
                .0
                .slots
                .push(AtomicPtr::new(ptr::null_mut()), no_alloc)?;
        }
        // SAFETY: `current` is null or the leaked current array (invariant),
        // now kept by its successor for readers still reading it.
        spare.0.previous = (!current.is_null()).then(|| unsafe { KBox::from_raw(current) });
        // INVARIANT: replaced under the writer lock; the old array is kept.
        self.table
            .current
            .store(KBox::into_raw(spare.0), Ordering::Release);
        Ok(())
    }

    /// Puts `entry` in `slot`, unless the slot is taken (or does not exist):
    /// then gives it back.
    pub fn insert(&mut self, slot: usize, entry: KBox<T>) -> Option<KBox<T>> {
        let Some(array) = self.table.array() else {
            return Some(entry);
        };
        let Some(cell) = array.slots.get(slot) else {
            return Some(entry);
        };
        if !cell.load(Ordering::Relaxed).is_null() {
            return Some(entry);
        }
        // INVARIANT: a leaked box, owned by the table from now on, put in
        // under the writer lock.
        cell.store(KBox::into_raw(entry), Ordering::Release);
        None
    }

    /// Takes the entry in `slot` out of the table if `which` says it is the
    /// one, and gives its ownership to the caller, as the pointer of a
    /// leaked `KBox<T>`: readers that found it before may still be using
    /// it, so the caller frees it (`KBox::from_raw`) only once they cannot.
    pub fn take(&mut self, slot: usize, which: impl FnOnce(&T) -> bool) -> Option<NonNull<T>> {
        let entry = NonNull::from(self.get(slot).filter(|entry| which(entry))?);
        self.forget(slot, entry);
        Some(entry)
    }

    /// Takes `entry` out of `slot` (every array that holds it).
    fn forget(&mut self, slot: usize, entry: NonNull<T>) {
        // Out of the current array and of every older one that still shows
        // it (older arrays hold a subset of the current one's entries).
        let mut array = self.table.array();
        while let Some(a) = array {
            if let Some(cell) = a.slots.get(slot) {
                if cell.load(Ordering::Relaxed) == entry.as_ptr() {
                    cell.store(ptr::null_mut(), Ordering::Relaxed);
                }
            }
            array = a.previous.as_deref();
        }
    }
}

#[pinned_drop]
impl<T, W> PinnedDrop for SlotTable<T, W> {
    fn drop(self: core::pin::Pin<&mut Self>) {
        let current = self.current.swap(ptr::null_mut(), Ordering::Acquire);
        if current.is_null() {
            return;
        }
        // SAFETY: the leaked current array, unreachable now (invariant).
        let mut array = unsafe { KBox::from_raw(current) };
        for slot in array.slots.iter() {
            let entry = slot.load(Ordering::Relaxed);
            if !entry.is_null() {
                // SAFETY: entries of the current array are leaked boxes the
                // table owns (invariant), and nobody can look them up now.
                drop(unsafe { KBox::from_raw(entry) });
            }
        }
        // The older arrays one by one: dropping the chain recursively would
        // take a stack frame per array.
        let mut older = array.previous.take();
        while let Some(mut a) = older {
            older = a.previous.take();
        }
    }
}
