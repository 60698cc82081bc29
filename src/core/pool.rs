// SPDX-License-Identifier: GPL-2.0

//! Pools: one cgroup's share of one region, and the charge fast path.
//!
//! # Lifetimes
//!
//! - A cgroup's [`CgroupState`] holds its pools in a table indexed by region
//!   slot, created lazily when the cgroup first charges or configures a region.
//! - A [`Pool`] holds a reference on its cgroup's css and on its parent pool,
//!   so ancestors outlive descendants and `dev.current` of every ancestor keeps
//!   counting a charge until it is uncharged.
//! - Every successful charge owns one reference on its pool, released by the
//!   uncharge. Hence a charge stays with the pool it was made to, whatever
//!   happens to the task that made it.
//! - When a cgroup goes offline its table is emptied (after its settings are
//!   reset), which breaks the css -> table -> pool -> css cycle: the css is
//!   freed once the last charge of its pools is uncharged.
//! - When a device is unregistered, every table forgets its regions' pools:
//!   the region's memory is freed once the last charge against it is gone.

use core::mem::{offset_of, size_of};
use core::ptr;
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow, SpinLock};
use kernel::{bindings, new_spinlock};

use crate::css::{self, OwnedCss};
use crate::logic::counter::{self, Counter, Node, NR_CONSUMERS};
use crate::logic::protection::{self, Level, Verdict};
use crate::registry::Region;

/// The address handed to drivers for a charge: `&pool.handles[consumer]`.
/// One pool serves every consumer, and the handle says which one it was for.
///
/// # Invariants
///
/// A `ChargeHandle` only exists inside [`Pool::handles`], at index `self.0`.
#[repr(transparent)]
pub(crate) struct ChargeHandle(u8);

/// One cgroup's share of one region.
pub(crate) struct Pool {
    counter: Counter,
    parent: Option<Arc<Pool>>,
    region: Arc<Region>,
    css: OwnedCss,
    handles: [ChargeHandle; NR_CONSUMERS],
}

impl Node for Pool {
    fn counter(&self) -> &Counter {
        &self.counter
    }
    fn parent(&self) -> Option<&Self> {
        self.parent.as_deref()
    }
}

impl Pool {
    pub(crate) fn counter(&self) -> &Counter {
        &self.counter
    }

    fn ancestors(self: &Arc<Self>) -> impl Iterator<Item = &Arc<Pool>> {
        let mut next = Some(self);
        core::iter::from_fn(move || {
            let this = next?;
            next = this.parent.as_ref();
            Some(this)
        })
    }

    /// Turns a reference into the handle drivers hold for a charge by `consumer`.
    pub(crate) fn into_handle(this: Arc<Self>, consumer: usize) -> *mut bindings::dev_cgroup_pool {
        let consumer = consumer.min(NR_CONSUMERS - 1);
        let pool = Arc::into_raw(this);
        // SAFETY: `pool` points to a live `Pool` (we leaked one reference),
        // and `consumer` is in bounds.
        let handle = unsafe { ptr::addr_of!((*pool).handles[consumer]) };
        handle.cast_mut().cast()
    }

    /// Takes back the reference behind `handle`, with the consumer it names.
    ///
    /// # Safety
    ///
    /// `handle` must come from [`Pool::into_handle`] and its reference must not
    /// have been taken back already.
    pub(crate) unsafe fn from_handle(handle: *mut bindings::dev_cgroup_pool) -> (Arc<Self>, usize) {
        let handle = handle.cast::<ChargeHandle>().cast_const();
        // SAFETY: `handle` points into a live pool (caller's reference).
        let consumer = usize::from(unsafe { (*handle).0 });
        let offset = offset_of!(Pool, handles) + consumer * size_of::<ChargeHandle>();
        // SAFETY: by the type invariant `handle` is `&pool.handles[consumer]`,
        // so stepping back `offset` bytes stays inside the pool allocation.
        let pool = unsafe { handle.cast::<u8>().sub(offset) }.cast::<Pool>();
        // SAFETY: `pool` came from `Arc::into_raw` in `into_handle`, and the
        // caller gives its reference back to us.
        (unsafe { Arc::from_raw(pool) }, consumer)
    }

    /// Borrows the pool behind `handle` without taking its reference.
    ///
    /// # Safety
    ///
    /// As for [`Pool::from_handle`], and the reference must stay held while
    /// the returned `Arc` clone is created.
    pub(crate) unsafe fn clone_from_handle(handle: *mut bindings::dev_cgroup_pool) -> Arc<Self> {
        // SAFETY: forwarded from the caller.
        let (pool, consumer) = unsafe { Self::from_handle(handle) };
        let clone = pool.clone();
        // Give the caller's reference back.
        let _ = Self::into_handle(pool, consumer);
        clone
    }
}

/// A cgroup's pools, indexed by region slot.
pub(crate) struct PoolTable {
    online: bool,
    slots: KVec<Option<Arc<Pool>>>,
}

/// The controller's state for one cgroup.
#[pin_data]
pub(crate) struct CgroupState {
    #[pin]
    table: SpinLock<PoolTable>,
}

impl CgroupState {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(CgroupState {
            table <- new_spinlock!(PoolTable { online: true, slots: KVec::new() }, "devcg_pool_table"),
        })
    }

    /// This cgroup's pool for `region`, if it has one.
    pub(crate) fn pool(&self, region: &Region) -> Option<Arc<Pool>> {
        let table = self.table.lock();
        let pool = table.slots.get(region.slot())?.as_ref()?;
        // A slot may still hold an unregistered region's pool for a moment.
        ptr::eq(&*pool.region, region).then(|| pool.clone())
    }

    /// Calls `f` on every pool of this cgroup, under its table lock.
    pub(crate) fn for_each_pool(&self, mut f: impl FnMut(&Pool)) {
        let table = self.table.lock();
        table.slots.iter().flatten().for_each(|p| f(p));
    }

    /// Takes the cgroup offline: resets its settings and drops the table's
    /// references, so its pools live only as long as their charges.
    pub(crate) fn offline(&self) {
        let slots = {
            let mut table = self.table.lock();
            table.online = false;
            core::mem::take(&mut table.slots)
        };
        for pool in slots.iter().flatten() {
            pool.counter.reset_settings();
        }
    }
}

/// Drops every table entry for `region`, in every cgroup.
pub(crate) fn forget_region(region: &Region) {
    css::for_each_css(|css| {
        let forgotten = {
            let mut table = css.state().table.lock();
            match table.slots.get_mut(region.slot()) {
                Some(slot) if slot.as_ref().is_some_and(|p| ptr::eq(&*p.region, region)) => {
                    slot.take()
                }
                _ => None,
            }
        };
        drop(forgotten);
    });
}

/// The pool of `css` for `region`, created with its missing ancestors.
///
/// Fails with `-ENODEV` once the region is unregistered, `-ENOENT` if the
/// cgroup went offline, `-ENOMEM` if an allocation with `flags` fails.
pub(crate) fn get_or_create(
    css: &OwnedCss,
    region: ArcBorrow<'_, Region>,
    flags: kernel::alloc::Flags,
) -> Result<Arc<Pool>> {
    if let Some(pool) = css.state().pool(&region) {
        return Ok(pool);
    }
    // Collect the cgroups from `css` up to the nearest one that has a pool.
    let mut missing = KVec::new();
    let mut parent_pool = None;
    let mut at = Some(css.clone());
    while let Some(c) = at {
        if let Some(pool) = c.state().pool(&region) {
            parent_pool = Some(pool);
            break;
        }
        at = c.parent();
        missing.push(c, flags)?;
    }
    for c in missing.iter().rev() {
        parent_pool = Some(insert(c, region, parent_pool, flags)?);
    }
    parent_pool.ok_or(EINVAL)
}

fn insert(
    css: &OwnedCss,
    region: ArcBorrow<'_, Region>,
    parent: Option<Arc<Pool>>,
    flags: kernel::alloc::Flags,
) -> Result<Arc<Pool>> {
    let new = Arc::new(
        Pool {
            counter: Counter::new(),
            parent,
            region: region.into(),
            css: css.clone(),
            handles: [
                ChargeHandle(0),
                ChargeHandle(1),
                ChargeHandle(2),
                ChargeHandle(3),
            ],
        },
        flags,
    )?;
    let slot = region.slot();
    let mut table = css.state().table.lock();
    if table.slots.len() <= slot {
        // Grow the table outside its spinlock: `flags` may allow sleeping
        // (GFP_KERNEL from interface writes).
        drop(table);
        let mut bigger = KVec::with_capacity(slot + 1, flags)?;
        table = css.state().table.lock();
        if table.slots.len() <= slot {
            core::mem::swap(&mut table.slots, &mut bigger);
            // `table.slots` has room for every entry: none of this allocates.
            for entry in bigger.iter_mut() {
                table.slots.push(entry.take(), GFP_ATOMIC)?;
            }
            let grow = slot + 1 - table.slots.len();
            table.slots.extend_with(grow, None, GFP_ATOMIC)?;
        }
    }
    if region.is_dead() {
        return Err(ENODEV);
    }
    if !table.online {
        return Err(ENOENT);
    }
    let entry = &mut table.slots[slot];
    match entry {
        // Someone else created it meanwhile: use theirs.
        Some(existing) if ptr::eq(&*existing.region, &*region) => Ok(existing.clone()),
        // Empty, or left over from an unregistered region that had this slot.
        _ => {
            let stale = entry.replace(new.clone());
            drop(table);
            drop(stale);
            Ok(new)
        }
    }
}

/// Outcome of a refused charge.
pub(crate) struct LimitHit {
    /// The pool whose `max` refused the charge.
    pub(crate) pool: Arc<Pool>,
}

/// Charges `size` bytes of `region` to `css` for `consumer`.
pub(crate) fn try_charge(
    css: &OwnedCss,
    region: ArcBorrow<'_, Region>,
    size: u64,
    consumer: usize,
) -> core::result::Result<Arc<Pool>, ChargeError> {
    if consumer >= NR_CONSUMERS {
        return Err(ChargeError::Errno(EINVAL));
    }
    if region.is_dead() {
        return Err(ChargeError::Errno(ENODEV));
    }
    let pool = get_or_create(css, region, GFP_ATOMIC).map_err(ChargeError::Errno)?;
    match counter::try_charge(&*pool, size, consumer) {
        Ok(()) => Ok(pool),
        Err(limiting) => {
            let limiting = pool
                .ancestors()
                .find(|p| ptr::eq(&***p, limiting))
                .cloned()
                .unwrap_or(pool.clone());
            limiting.css.notify_events(true);
            for level in limiting.ancestors() {
                level.css.notify_events(false);
            }
            Err(ChargeError::Limit(LimitHit { pool: limiting }))
        }
    }
}

/// Why a charge failed.
pub(crate) enum ChargeError {
    /// A `max` was hit (`-EAGAIN`).
    Limit(LimitHit),
    /// Any other failure.
    Errno(Error),
}

/// Uncharges `size` bytes from `pool`. Returns `false` on underflow.
pub(crate) fn uncharge(pool: &Pool, size: u64, consumer: usize) -> bool {
    counter::uncharge(pool, size, consumer)
}

/// Whether a buffer charged to `test` may be evicted to make room under
/// `limit` (the region's root pool when `None`), as the memory controller
/// decides reclaim: only inside the limiting subtree, never below effective
/// `min`, below effective `low` only when `ignore_low`.
///
/// Returns `(evict, hit_low)`; `hit_low` says a `low` protection was honoured.
pub(crate) fn evict_valuable(limit: Option<&Pool>, test: &Pool, ignore_low: bool) -> (bool, bool) {
    let limit = match limit {
        Some(limit) => limit,
        None => {
            let mut root = test;
            while let Some(parent) = root.parent.as_deref() {
                root = parent;
            }
            root
        }
    };
    if ptr::eq(limit, test) {
        return (true, false);
    }
    // Depth of `test` below `limit`, or not in the limiting subtree at all.
    let mut depth = 0usize;
    let mut at = Some(test);
    while let Some(pool) = at {
        if ptr::eq(pool, limit) {
            break;
        }
        depth += 1;
        at = pool.parent.as_deref();
    }
    if at.is_none() {
        return (false, false);
    }
    // Levels from the child of `limit` down to `test`, top-down, without
    // allocating (this may run under a driver's locks).
    let levels = (1..=depth).rev().filter_map(|distance| {
        let mut pool = test;
        for _ in 1..distance {
            pool = pool.parent.as_deref()?;
        }
        Some(level_of(pool))
    });
    let effective = protection::effective_along(levels);
    match protection::verdict(test.counter.usage(), effective) {
        Verdict::Evictable => (true, false),
        Verdict::BelowLow if ignore_low => (true, false),
        Verdict::BelowLow => (false, true),
        Verdict::BelowMin => (false, false),
    }
}

/// A pool's protection inputs, with what its siblings claim.
fn level_of(pool: &Pool) -> Level {
    let counter = &pool.counter;
    let usage = counter.usage();
    let mut level = Level {
        usage,
        min: counter.setting(counter::Setting::Min),
        low: counter.setting(counter::Setting::Low),
        siblings_min_claim: 0,
        siblings_low_claim: 0,
    };
    match &pool.parent {
        Some(parent) => parent.css.for_each_child(|child| {
            if let Some(sibling) = child.state().pool(&pool.region) {
                let c = &sibling.counter;
                level.siblings_min_claim = level.siblings_min_claim.saturating_add(
                    protection::claim(c.usage(), c.setting(counter::Setting::Min)),
                );
                level.siblings_low_claim = level.siblings_low_claim.saturating_add(
                    protection::claim(c.usage(), c.setting(counter::Setting::Low)),
                );
            }
        }),
        None => {
            level.siblings_min_claim = protection::claim(usage, level.min);
            level.siblings_low_claim = protection::claim(usage, level.low);
        }
    }
    level
}
