// SPDX-License-Identifier: GPL-2.0

//! Pools: one cgroup's share of one region, and the charge fast path.
//!
//! # Lifetimes
//!
//! - A cgroup's [`CgroupState`] owns its pools, in a table indexed by region
//!   slot, filled lazily when the cgroup first charges or configures a region.
//!   The table is read without a lock: a charge finds its pool in a few loads.
//! - A charge holds no reference: its bytes keep its pool alive. A pool is
//!   freed only once nothing can find it *and* its usage is zero, and the
//!   counter's close protocol (see `logic::counter`) names who frees it.
//! - While its cgroup is online, a pool stays in the table. When the cgroup
//!   goes offline every pool is closed; a charged one takes a css reference,
//!   which the uncharge that empties it drops. So a css outlives the charges
//!   made to it, and its pools are freed with it (`css_free`).
//! - When a device is dropped (unregistered and its last reference put, so
//!   no charge or lookup can be under way on its regions), its regions'
//!   pools leave every table, children before parents, each taking a css
//!   reference. Empty ones are freed at once, charged ones by the uncharge
//!   that empties them, which also drops that reference.
//! - So a pool never outlives its css: in its table, it is freed with the
//!   table at the latest (`css_free`); out of it, it holds a reference.
//! - A pool points to its parent cgroup's pool, which outlives it: a parent
//!   css outlives its children, pools leave tables children first, and a
//!   detached parent's usage includes its children's.
//! - A region's slot is only reused once the region is freed, which its pools
//!   prevent: a slot never holds another region's pool.
//!
//! [`HeldRegion`] carries the "device not dropped" part of these rules in the
//! type: lookups take one, so a pool found in a table stays valid for as long
//! as the borrow lasts.

use core::mem::size_of;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use kernel::alloc::flags::{__GFP_NOWARN, GFP_NOWAIT};
use kernel::c_str;
use kernel::cgroup::dev::{DevCssLink, PoolHandleOf, PoolHandles};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::slot_table::{SlotTable, Spare};
use kernel::sync::{Arc, ArcBorrow, Mutex};

use crate::logic::counter::{
    self, AncestorLink, Counter, Node, ParentLink, Refusal, Released, CLOSED_DETACHED,
    CLOSED_OFFLINE, NR_CONSUMERS,
};
use crate::logic::protection::{self, Level, Verdict};
use crate::peak::PeakWatchers;
use crate::registry::{HeldRegion, Region};
use crate::DevCss;
use kernel::types::ARef;

/// What drivers hold for a charge or a referenced pool.
pub(crate) use kernel::cgroup::dev::PoolHandle;

/// One cgroup's share of one region.
///
/// # Invariants
///
/// - `parent` is the parent cgroup's pool for the same region (`None` at the
///   root), alive for as long as this pool is (see the module docs).
/// - Once published, `line` is empty or the pool's line made by
///   `counter::fill_line` from `parent`, and neither changes again.
/// - `css` is the cgroup this pool belongs to, which outlives it (see the
///   module docs).
pub(crate) struct Pool {
    counter: Counter,
    parent: ParentLink<Pool>,
    /// The ancestors' pools, which a charge raises from the root's down
    /// before this one (see `Node::line`); room for them is made with the
    /// pool, so that publishing it allocates nothing.
    line: KVec<AncestorLink<Pool>>,
    region: Arc<Region>,
    css: DevCssLink<CgroupState>,
    /// The css's id, under which the region records this pool while it is
    /// in its table (`indexed`).
    css_id: usize,
    indexed: AtomicBool,
    /// What drivers hold for a charge: one handle per consumer.
    handles: PoolHandles<NR_CONSUMERS>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Freed with its cgroup's table: no longer a pool of the region.
        self.unrecord();
    }
}

kernel::impl_has_pool_handles!(Pool, handles, NR_CONSUMERS);

// SAFETY: `publish` sets `parent` and makes `line` from it with `fill_line`
// (or leaves it empty), once, before the pool can be found (type
// invariants).
unsafe impl Node for Pool {
    /// A release drops the css references its close flags left.
    type ReleaseInfo = NonNull<DevCss>;
    fn counter(&self) -> &Counter {
        &self.counter
    }
    fn release_info(&self) -> NonNull<DevCss> {
        self.css_ptr()
    }
    #[inline(always)]
    fn parent(&self) -> Option<&Self> {
        self.parent.get()
    }
    #[inline(always)]
    fn line(&self) -> &[AncestorLink<Self>] {
        &self.line
    }
}

impl Pool {
    pub(crate) fn counter(&self) -> &Counter {
        &self.counter
    }

    pub(crate) fn region(&self) -> ArcBorrow<'_, Region> {
        self.region.as_arc_borrow()
    }

    fn ancestors(&self) -> impl Iterator<Item = &Pool> {
        let mut next = Some(self);
        core::iter::from_fn(move || {
            let this = next?;
            next = this.parent();
            Some(this)
        })
    }

    /// The pool's cgroup, borrowed.
    pub(crate) fn css(&self) -> &DevCss {
        self.css.get()
    }

    /// Records the pool in its region's list of pooled cgroups (under its
    /// table's lock, once published).
    fn record(&self) {
        if self.region.record_pool(self.css_id) {
            self.indexed.store(true, Ordering::Relaxed);
        }
    }

    /// Undoes [`Pool::record`] (under its table's lock, or when dropped).
    fn unrecord(&self) {
        if self.indexed.swap(false, Ordering::Relaxed) {
            self.region.forget_pool(self.css_id);
        }
    }

    /// The handle of a charge by `consumer`; the charge's bytes keep it valid.
    pub(crate) fn charge_handle(&self, consumer: usize) -> PoolHandle {
        self.pool_handle(consumer)
    }

    /// A handle that holds a reference on the pool's css and one on its
    /// region's device, for a caller that goes on using the pool, as TTM does
    /// with the pool that limited a charge. The device reference keeps the
    /// pool in its table (see the module docs) until the handle is put
    /// (`dev_cgroup_pool_put`), even if the caller lets the device go first.
    ///
    /// `region` is the pool's own region, held; null for another region's
    /// (or a region not linked to its device, which is never published).
    pub(crate) fn referenced_handle(&self, consumer: usize, region: HeldRegion<'_>) -> PoolHandle {
        if !ptr::eq(&*self.region, &*region) {
            return ptr::null_mut();
        }
        let Some(device) = region.device() else {
            return ptr::null_mut();
        };
        let _ = Arc::into_raw(device);
        let _ = ARef::into_raw(ARef::from(self.css()));
        self.charge_handle(consumer)
    }

    /// The css behind [`Pool::css`], as `ARef::into_raw` returns it: for
    /// handing back the reference of a [`Pool::referenced_handle`].
    pub(crate) fn css_ptr(&self) -> NonNull<DevCss> {
        self.css.as_ptr()
    }
}

/// Releases what a closed pool's flags stand for, once its usage is gone:
/// called exactly once per close flag (see `logic::counter`).
#[cold]
#[inline(never)]
fn release(released: Released<Pool>) {
    // Not the pool: once our flags were claimed, the holder of another one
    // may free it (the close protocol read the css for us before).
    let (css, flags) = (released.info(), released.flags());
    let pool = released.into_raw();
    if flags & CLOSED_DETACHED != 0 {
        // SAFETY: a detached pool is in no table and its usage is gone, so
        // nothing else can reach it, and its release is ours; it was
        // allocated by `prepare` as a `KBox`.
        drop(unsafe { KBox::from_raw(pool.as_ptr()) });
    }
    // Last, with the pool gone or left in its table: each close flag left a
    // css reference (`close_pools`, `forget_in`) to whoever empties the
    // pool: us.
    for flag in [CLOSED_OFFLINE, CLOSED_DETACHED] {
        if flags & flag != 0 {
            // SAFETY: that reference, dropped once (one release per flag).
            drop(unsafe { ARef::from_raw(css) });
        }
    }
}

/// The controller's state for one cgroup.
#[pin_data]
pub(crate) struct CgroupState {
    /// The cgroup's pools, by region slot. The writer lock serialises
    /// creating pools, going offline and detaching; it guards `true` while
    /// the cgroup is online.
    #[pin]
    pools: SlotTable<Pool, bool>,
    /// `dev.peak` descriptors that were written to (see `peak`).
    #[pin]
    pub(crate) peak_watchers: Mutex<PeakWatchers>,
    /// Serialises writes to the cgroup's `dev.max`, `dev.min`, `dev.low`.
    #[pin]
    pub(crate) writes: Mutex<()>,
}

impl CgroupState {
    pub(crate) fn empty() -> impl PinInit<Self> {
        pin_init!(CgroupState {
            pools <- SlotTable::new(true, c_str!("devcg_pool_table"), kernel::static_lock_class!()),
            peak_watchers <- new_mutex!(PeakWatchers::new(), "devcg_peak_watchers"),
            writes <- new_mutex!((), "devcg_setting_writes"),
        })
    }

    /// This cgroup's pool for `region`, if it has one. Lock-free.
    #[inline(always)]
    pub(crate) fn pool<'a>(&'a self, region: HeldRegion<'a>) -> Option<&'a Pool> {
        // SAFETY: a pool leaves the table (`detach`), to be freed later by
        // the close protocol, only once its region's device is dropped,
        // which `region` rules out for `'a` (see the module docs); before
        // that, only `css_free` frees it, with the table.
        let pool = unsafe { self.pools.get(region.slot()) }?;
        ptr::eq(&*pool.region, &*region).then_some(pool)
    }

    /// How many pools this cgroup has (for the KUnit suite).
    #[cfg(CONFIG_CGROUP_DEV_KUNIT_TEST)]
    pub(crate) fn pool_count(&self) -> usize {
        let mut count = 0;
        self.pools.lock().for_each(|_| count += 1);
        count
    }

    /// Takes the cgroup offline: resets its settings and closes its pools, so
    /// they take no more charges and the css lives as long as their charges.
    pub(crate) fn close_pools(&self) {
        let mut writer = self.pools.lock();
        *writer = false;
        writer.for_each(|pool| {
            pool.counter.reset_settings();
            // A reference for `release` to drop, now or from the uncharge
            // that empties the pool.
            let _ = ARef::into_raw(ARef::from(pool.css()));
            if let Some(released) = counter::close_offline(pool) {
                release(released);
            }
        });
    }

    /// Takes this cgroup's pool for `region` out of the table, if any: the
    /// caller frees it by the close protocol.
    fn detach(&self, region: &Region) -> Option<NonNull<Pool>> {
        self.pools.lock().take(region.slot(), |p| {
            let ours = ptr::eq(&*p.region, region);
            if ours {
                // Still under the table's lock, as `publish` records it.
                p.unrecord();
            }
            ours
        })
    }

    fn len(&self) -> usize {
        self.pools.len()
    }
}

/// Takes the pools of a dropped device's `regions` out of every cgroup's
/// table, each cgroup's after its descendants'. Called when the device is
/// dropped: no charge or lookup can be under way on its regions. Does not
/// sleep.
///
/// Visits the cgroups the regions recorded as holding one of their pools
/// (see [`Region::record_pool`]), so unregistering costs what the device's
/// pools cost, not what every cgroup does. If a record is incomplete or the
/// list cannot be allocated without sleeping, walks every cgroup instead,
/// which needs no memory.
pub(crate) fn forget_regions(regions: &[Arc<Region>]) {
    match pooled_cgroups(regions) {
        // Deepest first: every cgroup after its descendants.
        Some(pooled) => {
            for css in pooled.iter() {
                for region in regions {
                    forget_in(css, region);
                }
            }
        }
        None => {
            for region in regions {
                DevCss::for_each_post(|css| forget_in(css, region));
            }
        }
    }
}

/// The cgroups that have a pool of one of `regions`, from the regions'
/// records, referenced and deepest first; `None` if a record is incomplete
/// or the list cannot be made without sleeping. A cgroup already released
/// is left out: its pools go with its table.
fn pooled_cgroups(regions: &[Arc<Region>]) -> Option<KVec<ARef<DevCss>>> {
    let flags = GFP_NOWAIT | __GFP_NOWARN;
    let mut ids = KVec::new();
    for region in regions {
        if !region.pool_record_complete() {
            return None;
        }
        region.pooled_ids(&mut ids, flags).ok()?;
    }
    ids.sort_unstable();
    let mut csses = KVec::with_capacity(ids.len(), flags).ok()?;
    let mut last = None;
    for &id in ids.iter() {
        if last.replace(id) == Some(id) {
            continue;
        }
        let css = i32::try_from(id).ok().and_then(DevCss::from_id);
        if let Some(css) = css {
            csses.push(css, flags).ok()?;
        }
    }
    csses.sort_unstable_by_key(|css| core::cmp::Reverse(css.css().level()));
    Some(csses)
}

/// Takes `css`'s pool for `region` out of its table, closed: freed now if
/// empty, else by the uncharge that empties it.
fn forget_in(css: &DevCss, region: &Region) {
    if let Some(pool) = css.state().detach(region) {
        // A reference for `release` to drop, now or from the uncharge that
        // empties the pool: out of its table, it keeps its css.
        let _ = ARef::into_raw(ARef::from(css));
        // SAFETY: it was in the table until now, and is ours: out of the
        // table, with no charge or lookup under way (the device is gone).
        if let Some(released) = unsafe { counter::close_owned(pool, CLOSED_DETACHED) } {
            release(released);
        }
    }
}

/// The pool of `css` for `region`, created with its missing ancestors.
///
/// Fails with `-ENODEV` once the region is unregistered, `-ENOENT` if the
/// cgroup went offline, `-ENOMEM` if an allocation with `flags` fails; then
/// no pool was created, unless a race with device removal or rmdir made
/// publishing them fail midway.
pub(crate) fn get_or_create<'a>(
    css: &'a DevCss,
    region: HeldRegion<'a>,
    flags: kernel::alloc::Flags,
) -> Result<&'a Pool> {
    if let Some(pool) = css.state().pool(region) {
        return Ok(pool);
    }
    // An offline cgroup takes no new pool: say so before allocating any
    // (its charges go to an ancestor, which a caller may retry with).
    if !*css.state().pools.lock() {
        return Err(ENOENT);
    }
    let mut new = KVec::new();
    prepare(css, region, flags, &mut new)?;
    publish(new)?;
    css.state().pool(region).ok_or(EINVAL)
}

/// A pool allocated for a cgroup's table, with what publishing it needs,
/// before anything is published.
pub(crate) struct NewPool<'a> {
    css: ARef<DevCss>,
    region: HeldRegion<'a>,
    pool: KBox<Pool>,
    /// A bigger table, if the cgroup's was too small when this was made.
    bigger: Option<Spare<Pool>>,
}

/// Allocates the pools `css` and its ancestors miss for `region`, into
/// `out`, parents first. Publishes nothing, so a failure leaves nothing.
pub(crate) fn prepare<'a>(
    css: &DevCss,
    region: HeldRegion<'a>,
    flags: kernel::alloc::Flags,
    out: &mut KVec<NewPool<'a>>,
) -> Result {
    let first = out.len();
    let slot = region.slot();
    let mut at = Some(ARef::from(css));
    while let Some(c) = at {
        if c.state().pool(region).is_some() {
            break;
        }
        let css_id = usize::try_from(c.css().id()).map_err(|_| EINVAL)?;
        // Best effort: without room the pool is still made, its region's
        // record is then marked incomplete, and unregistering walks instead.
        let _ = region.reserve_pool_record(css_id, flags | __GFP_NOWARN);
        let pool = KBox::new(
            // INVARIANT: `publish` sets `parent` before the pool is
            // published; the table keeps the css alive while the pool is in it.
            Pool {
                counter: Counter::new(),
                parent: ParentLink::root(),
                // Room for a link to each ancestor's pool: none at the root,
                // nor nested deeper than a line is kept.
                line: KVec::with_capacity(
                    usize::try_from(c.css().level()).map_or(0, counter::line_room),
                    flags,
                )?,
                region: region.arc(),
                // SAFETY: the pool does not outlive the css (module docs).
                css: unsafe { DevCssLink::new(&c) },
                css_id,
                indexed: AtomicBool::new(false),
                handles: PoolHandles::new(),
            },
            flags,
        )?;
        let bigger = if c.state().len() <= slot {
            let capacity = (slot + 1).next_power_of_two().max(4);
            Some(SlotTable::<Pool, bool>::spare(capacity, flags)?)
        } else {
            None
        };
        at = c.parent().map(ARef::from);
        out.push(
            NewPool {
                css: c,
                region,
                pool,
                bigger,
            },
            flags,
        )?;
    }
    out.as_mut_slice()[first..].reverse();
    Ok(())
}

/// Makes `line`, empty, the line of a child of `parent` if it has room for
/// it all (as `prepare` makes it for a cgroup no deeper than `LINE_MAX`);
/// otherwise leaves it empty, which is a line too (see `Node::line`).
fn fill_line(line: &mut KVec<AncestorLink<Pool>>, parent: &Pool) {
    let mut fits = true;
    // SAFETY: the links go into the line of `parent`'s child, once (the
    // pool's type invariants), and stay there: a line only ever loses them
    // all at once, dropped just below.
    let complete = unsafe {
        counter::fill_line(parent, |link| {
            // Only into the room made: publishing allocates nothing.
            if line.len() < line.capacity() {
                fits &= line.push(link, GFP_NOWAIT).is_ok();
            } else {
                fits = false;
            }
        })
    };
    if !(complete && fits) {
        *line = KVec::new();
    }
}

/// Publishes pools made by [`prepare`], in their order (parents first).
/// Allocates nothing; fails only if a region or a cgroup is going away.
pub(crate) fn publish(new: KVec<NewPool<'_>>) -> Result {
    for NewPool {
        css,
        region,
        mut pool,
        bigger,
    } in new
    {
        // The parent's pool exists: it was there, or published just before.
        if let Some(parent) = css.parent() {
            let parent = parent.state().pool(region).ok_or(EINVAL)?;
            // SAFETY: a pool outlives its children (see the module docs).
            pool.parent = unsafe { ParentLink::new(parent) };
            fill_line(&mut pool.line, parent);
        }
        let mut writer = css.state().pools.lock();
        // Before growing: a table grown for a gone region or cgroup is waste.
        if region.is_dead() {
            return Err(ENODEV);
        }
        if !*writer {
            return Err(ENOENT);
        }
        if let Some(bigger) = bigger {
            writer.grow(bigger, region.slot())?;
        }
        // If someone else created it meanwhile, theirs stays and ours is
        // dropped. (A slot only ever holds pools of the region that owns it.)
        match writer.insert(region.slot(), pool) {
            // Recorded under the table's lock, as `detach` unrecords it.
            None => {
                if let Some(published) = writer.get(region.slot()) {
                    published.record();
                }
            }
            // No slot to put it in: `grow` would have made one.
            Some(_) if css.state().pool(region).is_none() => return Err(EINVAL),
            Some(_) => {}
        }
    }
    Ok(())
}

/// Why a charge failed.
pub(crate) enum ChargeError<'a> {
    /// The `max` of this pool refused it (`-EAGAIN`).
    Limit(&'a Pool),
    /// Any other failure.
    Errno(Error),
}

/// How far [`try_charge_fast`] got.
pub(crate) enum Fast<'a> {
    /// Every level was raised: commit it.
    Charged(counter::Raised<'a, Pool>),
    /// A level refused: pass it to [`refused`].
    Refused(counter::Unfinished<'a, Pool>),
    /// The cgroup has no pool for the region yet, or the charge is larger
    /// than a level adds before looking, or its pool keeps no line (see
    /// `counter::raise_fast`): use [`try_charge`].
    Slow,
    Failed(Error),
}

/// What a charge rejects before looking at any counter.
#[inline(always)]
fn check_charge(region: HeldRegion<'_>, size: u64, consumer: usize) -> Result {
    if consumer >= NR_CONSUMERS || size == 0 {
        return Err(EINVAL);
    }
    if region.is_dead() {
        return Err(ENODEV);
    }
    Ok(())
}

/// The charge fast path: everything but creating a pool and handling a
/// refusal, which callers reach by tail calls (see `counter::raise_fast`).
#[inline(always)]
pub(crate) fn try_charge_fast<'a>(
    css: &'a DevCss,
    region: HeldRegion<'a>,
    size: u64,
    consumer: usize,
) -> Fast<'a> {
    // One comparison sends both a zero size (which `try_charge` refuses) and
    // one larger than a level adds before looking to the slow path, so that
    // the size test inlined from `counter::raise_fast` folds away.
    if size.wrapping_sub(1) >= counter::SPECULATIVE_MAX {
        return Fast::Slow;
    }
    if let Err(e) = check_charge(region, size, consumer) {
        return Fast::Failed(e);
    }
    match css.state().pool(region) {
        Some(pool) => match counter::raise_fast(pool, size) {
            Some(Ok(raised)) => Fast::Charged(raised),
            Some(Err(unfinished)) => Fast::Refused(unfinished),
            None => Fast::Slow,
        },
        None => Fast::Slow,
    }
}

/// Charges `size` bytes of `region` to `css` for `consumer`, creating the
/// pool if needed. The charge holds the returned pool until [`uncharge`].
pub(crate) fn try_charge<'a>(
    css: &'a DevCss,
    region: HeldRegion<'a>,
    size: u64,
    consumer: usize,
) -> core::result::Result<&'a Pool, ChargeError<'a>> {
    check_charge(region, size, consumer).map_err(ChargeError::Errno)?;
    let pool = get_or_create(css, region, GFP_ATOMIC).map_err(ChargeError::Errno)?;
    match counter::try_charge(pool, size, consumer, release) {
        Ok(()) => Ok(pool),
        Err(refusal) => Err(refusal_error(refusal)),
    }
}

/// Whether a charge of `size` bytes of `region` to `css` would be refused
/// now (see `counter::refusal_now`), creating no pool: the nearest pool from
/// `css` up decides, as a cgroup without a pool of its own has no limit of
/// its own. If `count`, a limit refusal is counted and notified as a refused
/// charge's is. A closed pool (a cgroup going away) is left to the charge,
/// which retries elsewhere: not a refusal here.
pub(crate) fn refused_now(css: &DevCss, region: HeldRegion<'_>, size: u64, count: bool) -> bool {
    if check_charge(region, size, 0).is_err() {
        return false;
    }
    let mut at = css;
    loop {
        if let Some(pool) = at.state().pool(region) {
            return match counter::refusal_now(pool, size) {
                None | Some(Refusal::Closed) => false,
                Some(refusal) => {
                    if count {
                        refusal.count();
                        if let Refusal::Limit(limiting) = refusal {
                            notify_limit(limiting);
                        }
                    }
                    true
                }
            };
        }
        match at.parent() {
            Some(parent) => at = parent,
            None => return false,
        }
    }
}

/// Rolls back a charge [`try_charge_fast`] left unfinished.
#[cold]
#[inline(never)]
pub(crate) fn refused(unfinished: counter::Unfinished<'_, Pool>) -> ChargeError<'_> {
    refusal_error(unfinished.roll_back(release))
}

/// The error of a refusal; wakes `dev.events` pollers on a limit.
fn refusal_error(refusal: Refusal<'_, Pool>) -> ChargeError<'_> {
    match refusal {
        Refusal::Closed => ChargeError::Errno(ENOENT),
        // No memory could back it: not a limit, so not worth evicting for.
        Refusal::TooLarge => ChargeError::Errno(ENOMEM),
        Refusal::Limit(limiting) => {
            notify_limit(limiting);
            ChargeError::Limit(limiting)
        }
    }
}

/// Wakes the `dev.events` pollers of a limit refusal at `limiting`.
fn notify_limit(limiting: &Pool) {
    limiting.css().notify_events(true);
    for level in limiting.ancestors() {
        level.css().notify_events(false);
    }
}

/// Uncharges `size` bytes that `consumer` charged to `pool`. Fails with
/// `size` on underflow (see `counter::uncharge`).
///
/// # Safety
///
/// `pool` must hold a charge of `size` bytes by `consumer`, uncharged once.
#[inline(always)]
pub(crate) unsafe fn uncharge(
    pool: NonNull<Pool>,
    size: u64,
    consumer: usize,
) -> core::result::Result<(), u64> {
    // SAFETY: forwarded from the caller; the charge keeps the levels alive.
    unsafe { counter::uncharge(pool, size, consumer, release) }
}

/// Bytes each consumer charged in `css`'s subtree of `region` (`dev.stat`):
/// a snapshot, which charges in flight may skew.
pub(crate) fn subtree_usage(css: &DevCss, region: HeldRegion<'_>) -> [u64; NR_CONSUMERS] {
    let mut sum = [0u64; NR_CONSUMERS];
    css.for_each_descendant_pre(|d| {
        let Some(pool) = d.state().pool(region) else {
            return;
        };
        let mut children = 0u64;
        d.for_each_child(|child| {
            if let Some(p) = child.state().pool(region) {
                children = children.saturating_add(p.counter.usage());
            }
        });
        let own = pool.counter.usage().saturating_sub(children);
        for (i, total) in sum.iter_mut().enumerate() {
            *total = total.saturating_add(pool.counter.local_usage(i, own));
        }
    });
    sum
}

/// Whether a buffer charged to `test` may be evicted to make room under
/// `limit` (the region's root pool when `None`), as the memory controller
/// decides reclaim: only inside the limiting subtree, never below effective
/// `min`, below effective `low` only when `ignore_low`. `region` is the
/// pools' region.
///
/// Returns `(evict, hit_low)`; `hit_low` says a `low` protection was honoured.
pub(crate) fn evict_valuable(
    limit: Option<&Pool>,
    test: &Pool,
    region: HeldRegion<'_>,
    ignore_low: bool,
) -> (bool, bool) {
    let limit = match limit {
        Some(limit) => limit,
        None => test.ancestors().last().unwrap_or(test),
    };
    if ptr::eq(limit, test) {
        return (true, false);
    }
    // Depth of `test` below `limit`, or not in the limiting subtree at all.
    let Some(depth) = test.ancestors().position(|p| ptr::eq(p, limit)) else {
        return (false, false);
    };
    // Levels from the child of `limit` down to `test`, top-down, without
    // allocating (this may run under a driver's locks).
    let levels = (1..=depth)
        .rev()
        .filter_map(|distance| test.ancestors().nth(distance - 1))
        .map(|pool| level_of(pool, region));
    let effective = protection::effective_along(levels);
    match protection::verdict(test.counter.usage(), effective) {
        Verdict::Evictable => (true, false),
        Verdict::BelowLow if ignore_low => (true, false),
        Verdict::BelowLow => (false, true),
        Verdict::BelowMin => (false, false),
    }
}

/// A pool's protection inputs, with what its siblings claim.
fn level_of(pool: &Pool, region: HeldRegion<'_>) -> Level {
    let counter = &pool.counter;
    let usage = counter.usage();
    let mut level = Level {
        usage,
        min: counter.setting(counter::Setting::Min),
        low: counter.setting(counter::Setting::Low),
        siblings_min_claim: 0,
        siblings_low_claim: 0,
    };
    match pool.parent() {
        Some(parent) => parent.css().for_each_child(|child| {
            if let Some(sibling) = child.state().pool(region) {
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

/// Bytes of controller state one (cgroup, region) pool costs: the pool and
/// its slot in the cgroup's table. (Its line adds 8 bytes per ancestor, up
/// to `LINE_MAX`, in an allocation of its own.)
pub(crate) const POOL_BYTES: usize = size_of::<Pool>() + size_of::<AtomicPtr<Pool>>();
