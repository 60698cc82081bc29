// SPDX-License-Identifier: GPL-2.0

//! Lock-free hierarchical byte counters.
//!
//! Each pool has a [`Counter`]; pools form the cgroup tree. A charge must fit
//! under every level's `max` from the charged pool to the root. Unlike a
//! speculative add-then-check, each level with a `max` is raised with a
//! compare-and-swap that only succeeds below it, so no reader ever sees a
//! level above its `max` (except after `max` is lowered below usage, which is
//! accepted and only blocks new charges). A failed charge rolls back the
//! levels it already raised, so nothing stays charged.
//!
//! A charge raises levels from the root down, and an uncharge lowers them
//! from the pool up. So every byte a level holds, charged or in flight, is
//! also held by each level above it, at every moment: a parent's usage is
//! never below the sum of its children's. That is what makes an uncharge
//! that a level does not cover (a driver bug) harmless to others: the level
//! gives up what it holds and the levels above are lowered by that much
//! only (see `lower_rest`), which never reaches a sibling's bytes, even when
//! a charge in flight made the level look covered. (Raising from the pool
//! up, as `page_counter` does, lets such a bug take a sibling's bytes from
//! the parent, and free the parent under the sibling's charge once the
//! device is gone; no repair in the roll-back of the charge in flight can
//! tell how far the bug's walk went.)
//!
//! # Closing, and who releases
//!
//! The usage word also carries two *close* flags, set once a pool stops
//! taking charges: [`CLOSED_OFFLINE`] (its cgroup went offline) and
//! [`CLOSED_DETACHED`] (its region's device is gone and the pool left its
//! table). A closed counter refuses every charge, so its usage only falls.
//! Exactly one party then owns whatever a flag stands for (a cgroup
//! reference, the pool's memory): whoever first finds the counter closed
//! *and* empty claims it, by setting the flag's *released* bit in the same
//! atomic operation. That is [`Counter::close`] when it finds no usage,
//! otherwise the uncharge that brings usage to zero, which receives the
//! flags through its `release` callback. Since the claim is a bit in the one
//! word, no two parties can both release, nor both leave it to the other,
//! even when a charge adds to a closed counter before it looks and takes its
//! bytes back. This is what lets a charge hold no reference: a pool with
//! usage cannot be freed under it.
//!
//! Per-consumer usage (`dev.stat`) is counted only where a charge is made
//! ([`Counter::local_usage`]); sums over a subtree are made when read. That
//! keeps the charge at one atomic operation per level, as `page_counter`.
//!
//! Counters and settings use relaxed atomics: they order no other memory.
//! The close protocol uses acquire/release, since it ends with a release of
//! memory. Cost is O(depth) (quadratic for a node that keeps no line, see
//! [`Node::line`]) and independent of how many cgroups or regions exist.

use super::sync::{AtomicU64, AtomicU8};
use core::ptr::NonNull;
use core::sync::atomic::Ordering::{AcqRel, Relaxed};

/// Number of consumer frameworks counted in `dev.stat`.
pub const NR_CONSUMERS: usize = 4;

/// Close flag: the pool's cgroup went offline.
pub const CLOSED_OFFLINE: u64 = 1 << 63;
/// Close flag: the pool was taken out of its cgroup's table (its region's
/// device is gone).
pub const CLOSED_DETACHED: u64 = 1 << 62;
const CLOSED: u64 = CLOSED_OFFLINE | CLOSED_DETACHED;
/// The *released* bit of each close flag, two bits below it.
const RELEASED: u64 = CLOSED >> 2;
/// The bytes of the usage word, below the flags and released bits.
const BYTES: u64 = (1 << 60) - 1;
/// Most bytes one counter holds (4 PiB), and what `max` means. Far below
/// [`BYTES`], which leaves room for charges added before they look.
pub const MAX_USAGE: u64 = (1 << 52) - 1;
/// Largest charge that is added before looking (see
/// `try_raise_speculative`). Even one such charge in flight from every task
/// at once cannot carry usage past [`BYTES`] into the flags.
pub const SPECULATIVE_MAX: u64 = 1 << 32;
/// `owner` before the first charge.
const NO_OWNER: u8 = u8::MAX;

/// What every charge writes, on a cache line of its own: CPUs charging the
/// same hierarchy then only contend for it, while what a charge only reads
/// (`max`, `peak`, the line and parent links) stays shared in their caches, as
/// `page_counter` lays out `usage`.
#[derive(Debug)]
#[repr(align(64))]
struct Hot {
    /// Bytes charged in this subtree (low bits) and close flags (high bits).
    usage: AtomicU64,
    /// Bytes charged to this very pool (not its descendants) by each
    /// consumer other than `owner`.
    local: [AtomicU64; NR_CONSUMERS],
    /// The first consumer to charge this pool; set once. Its bytes are not
    /// counted in `local`, but found when read as what the others leave of
    /// the pool's own usage: most pools serve one framework, whose charges
    /// then cost no atomic operation here. Read by every charge and
    /// uncharge of the pool, so it shares their line (which has room).
    owner: AtomicU8,
}

/// Usage, limits, protection, peak, events and per-consumer usage of one pool.
#[derive(Debug)]
pub struct Counter {
    hot: Hot,
    /// `max_set` clamped to [`MAX_USAGE`], which no usage exceeds: then a
    /// closed counter's usage word is always above it, and one comparison
    /// refuses both.
    max: AtomicU64,
    /// `max` as written, for reading back.
    max_set: AtomicU64,
    min: AtomicU64,
    low: AtomicU64,
    peak: AtomicU64,
    /// As `peak`, since the last reset through a `dev.peak` file descriptor
    /// (`memory.peak`'s local watermark); never above `peak`.
    peak_since_reset: AtomicU64,
    /// Refusals caused by this level's `max` or a descendant's (`dev.events`).
    events_max: AtomicU64,
    /// Refusals caused by this level's own `max` (`dev.events.local`).
    events_max_local: AtomicU64,
}

/// A node of the counter tree.
///
/// # Safety
///
/// [`Node::line`] must be empty, or the node's line, fixed for the node's
/// life: the nodes that [`Node::parent`] reaches from it, from the root
/// down. A charge raises the levels of the line (then the node), and its
/// uncharge lowers those `parent` reaches; if they differed, an uncharge
/// could take (and release) what others hold. [`fill_line`] makes such a
/// line.
pub unsafe trait Node: Sized {
    /// What releasing this node needs to know about it (see
    /// [`Node::release_info`]).
    type ReleaseInfo: Copy;
    /// This node's counter.
    fn counter(&self) -> &Counter;
    /// The parent node, `None` at the root.
    fn parent(&self) -> Option<&Self>;
    /// The node's line: its ancestors from the root down, the parent last,
    /// empty at the root (see the trait's safety section). A charge walks
    /// it: one load per level, where collecting the path through `parent`
    /// first would cost a loop and a stack array. A node may keep none (the
    /// kernel's pools nested deeper than [`LINE_MAX`] do not): its charges
    /// then find the levels through `parent`, in time quadratic in its depth.
    fn line(&self) -> &[AncestorLink<Self>];
    /// What a release of this node needs, read before each claim: once a
    /// close flag is claimed, the holder of another flag may free the node
    /// at any moment (the holder of `CLOSED_DETACHED` frees it), so a
    /// [`Released`] carries this instead of giving the node back.
    fn release_info(&self) -> Self::ReleaseInfo;
}

/// A link from a node to one of its ancestors: its parent, or a level of
/// its line (see [`Node::line`]). The one raw pointer of the counter tree,
/// kept in one place.
///
/// # Invariants
///
/// Points to an ancestor of the node that holds the link, which outlives
/// that node. The tree keeps that by how nodes are freed (see the module
/// docs): a node is released only once its usage is gone, and a parent's
/// usage holds every byte its children hold at every moment, charges in
/// flight included, so a node that still charges or uncharges through its
/// links keeps its ancestors' usage above zero. The loom models check it: a
/// freed counter's atomics panic on any access.
pub struct AncestorLink<N>(NonNull<N>);

// SAFETY: a link is a shared reference in all but name (see `get`), so it
// may move and be shared between threads when `&N` may.
unsafe impl<N: Sync> Send for AncestorLink<N> {}
// SAFETY: as above.
unsafe impl<N: Sync> Sync for AncestorLink<N> {}

impl<N> AncestorLink<N> {
    /// The ancestor linked to.
    #[inline(always)]
    pub fn get(&self) -> &N {
        // SAFETY: the ancestor outlives the node that holds `self`, which is
        // borrowed for as long as the result (type invariant).
        unsafe { self.0.as_ref() }
    }
}

/// A node's link to its parent node, `None` at the root.
pub struct ParentLink<N>(Option<AncestorLink<N>>);

impl<N> ParentLink<N> {
    /// The link of a root node.
    pub const fn root() -> Self {
        ParentLink(None)
    }

    /// A link to `parent`.
    ///
    /// # Safety
    ///
    /// `parent` must outlive the link (and so every node that holds it), as
    /// [`AncestorLink`]'s invariant says.
    pub unsafe fn new(parent: &N) -> Self {
        // INVARIANT: guaranteed by the caller.
        ParentLink(Some(AncestorLink(NonNull::from(parent))))
    }

    /// The parent, `None` at the root.
    #[inline(always)]
    pub fn get(&self) -> Option<&N> {
        self.0.as_ref().map(AncestorLink::get)
    }
}

/// `node`'s line if it names all its ancestors: a root's (empty), or one
/// kept; `None` for a node that keeps none while it has a parent.
#[inline(always)]
fn full_line<N: Node>(node: &N) -> Option<&[AncestorLink<N>]> {
    let line = node.line();
    (!line.is_empty() || node.parent().is_none()).then_some(line)
}

/// Deepest line worth keeping: a node at a deeper level (`LINE_MAX + 1`
/// ancestors or more) keeps none (see [`Node::line`]). Bounds a line's
/// memory (128 bytes here) and the allocation that makes it.
pub const LINE_MAX: usize = 16;

/// Room for the line of a node with `ancestors` ancestors (its level): one
/// link each, or none above [`LINE_MAX`].
pub const fn line_room(ancestors: usize) -> usize {
    if ancestors <= LINE_MAX {
        ancestors
    } else {
        0
    }
}

/// Makes the line of a child of `parent`: `parent`'s line, then `parent`,
/// each link passed to `push` in that order. Passes nothing and returns
/// `false` if `parent` keeps no line while it has a parent (see
/// [`Node::line`]): then neither may its child.
///
/// # Safety
///
/// The links must go, all and only them, into the line of a node whose
/// [`Node::parent`] is `parent` for the node's whole life, and never move
/// out of it.
pub unsafe fn fill_line<N: Node>(parent: &N, mut push: impl FnMut(AncestorLink<N>)) -> bool {
    let Some(line) = full_line(parent) else {
        return false;
    };
    // INVARIANT: `parent`'s line holds its ancestors, which outlive it, and
    // it outlives its child, whose line these links go into (caller).
    for level in line {
        push(AncestorLink(level.0));
    }
    push(AncestorLink(NonNull::from(parent)));
    true
}

/// Which value of a counter an interface file reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// `dev.max`
    Max,
    /// `dev.min`
    Min,
    /// `dev.low`
    Low,
}

/// Why a charge was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal<'a, N> {
    /// This level, the first from the charged node up, would exceed its `max`.
    Limit(&'a N),
    /// A level was closed: its cgroup is going away.
    Closed,
    /// No level's `max` refused it, but a level would hold more than
    /// [`MAX_USAGE`]: no memory could back such a charge. Not a `max` event.
    TooLarge,
}

impl Default for Counter {
    fn default() -> Self {
        Self::new()
    }
}

/// A counter with no usage, `max` = unlimited and no protection; `$local` is
/// the per-consumer array of zeroes (loom's atomics cannot be made in a
/// `const` context).
macro_rules! new_counter {
    ($local:expr) => {
        Counter {
            hot: Hot {
                usage: AtomicU64::new(0),
                local: $local,
                owner: AtomicU8::new(NO_OWNER),
            },
            max: AtomicU64::new(MAX_USAGE),
            max_set: AtomicU64::new(u64::MAX),
            min: AtomicU64::new(0),
            low: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            peak_since_reset: AtomicU64::new(0),
            events_max: AtomicU64::new(0),
            events_max_local: AtomicU64::new(0),
        }
    };
}

impl Counter {
    /// A counter with no usage, `max` = unlimited and no protection.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        new_counter!([const { AtomicU64::new(0) }; NR_CONSUMERS])
    }

    /// A counter with no usage, `max` = unlimited and no protection.
    #[cfg(loom)]
    pub fn new() -> Self {
        new_counter!(core::array::from_fn(|_| AtomicU64::new(0)))
    }

    /// Marks every atomic of this counter freed: the loom models' stand-in
    /// for freeing the pool that holds it (see `sync`).
    #[cfg(loom)]
    pub(crate) fn mark_freed(&self) {
        let Counter {
            hot:
                Hot {
                    usage,
                    local,
                    owner,
                },
            max,
            max_set,
            min,
            low,
            peak,
            peak_since_reset,
            events_max,
            events_max_local,
        } = self;
        for atomic in [
            usage,
            max,
            max_set,
            min,
            low,
            peak,
            peak_since_reset,
            events_max,
            events_max_local,
        ]
        .into_iter()
        .chain(local)
        {
            atomic.mark_freed();
        }
        owner.mark_freed();
    }

    /// Bytes charged in this subtree.
    pub fn usage(&self) -> u64 {
        self.hot.usage.load(Relaxed) & BYTES
    }

    /// Whether [`Counter::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.hot.usage.load(Relaxed) & CLOSED != 0
    }

    /// Highest usage seen since creation (see [`update_peaks`] for what is
    /// seen): `dev.peak`.
    pub fn peak(&self) -> u64 {
        self.peak.load(Relaxed)
    }

    /// `(events, events.local)` counts of refused charges.
    pub fn events(&self) -> (u64, u64) {
        (
            self.events_max.load(Relaxed),
            self.events_max_local.load(Relaxed),
        )
    }

    /// Bytes `consumer` charged to this very counter, descendants not
    /// included (0 if out of range). `own_usage` is the counter's usage
    /// less its children's, which the caller knows and this counter does not.
    pub fn local_usage(&self, consumer: usize, own_usage: u64) -> u64 {
        let Some(local) = self.hot.local.get(consumer) else {
            return 0;
        };
        if usize::from(self.hot.owner.load(Relaxed)) != consumer {
            return local.load(Relaxed);
        }
        let others: u64 = self
            .hot
            .local
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != consumer)
            .map(|(_, c)| c.load(Relaxed))
            .fold(0, u64::saturating_add);
        own_usage.saturating_sub(others)
    }

    /// The counter of `consumer`'s own bytes, or `None` for the owner.
    #[inline(always)]
    fn local_of(&self, consumer: u8) -> Option<&AtomicU64> {
        // The owner's own charges first: the common case, in one comparison.
        if self.hot.owner.load(Relaxed) == consumer {
            return None;
        }
        self.local_of_other(consumer)
    }

    /// [`Counter::local_of`] for a consumer that is not the owner, or the
    /// first charge of the counter (which makes its consumer the owner).
    #[cold]
    #[inline(never)]
    fn local_of_other(&self, consumer: u8) -> Option<&AtomicU64> {
        let owner = match self.hot.owner.load(Relaxed) {
            NO_OWNER => match self
                .hot
                .owner
                .compare_exchange(NO_OWNER, consumer, Relaxed, Relaxed)
            {
                Ok(_) => consumer,
                Err(owner) => owner,
            },
            owner => owner,
        };
        (owner != consumer).then(|| &self.hot.local[usize::from(consumer)])
    }

    fn setting_ref(&self, which: Setting) -> &AtomicU64 {
        match which {
            Setting::Max => &self.max_set,
            Setting::Min => &self.min,
            Setting::Low => &self.low,
        }
    }

    /// Reads `max`, `min` or `low` as written; `u64::MAX` is "max".
    pub fn setting(&self, which: Setting) -> u64 {
        self.setting_ref(which).load(Relaxed)
    }

    /// Sets `max`, `min` or `low`. A `max` below usage is accepted: it only
    /// makes new charges fail until usage drops. A `max` of [`MAX_USAGE`] or
    /// more, which no usage can exceed, acts as "max" but reads back as
    /// written.
    pub fn set(&self, which: Setting, value: u64) {
        self.setting_ref(which).store(value, Relaxed);
        if which == Setting::Max {
            // Concurrent writers: whoever stores last makes `max` follow the
            // final `max_set`.
            loop {
                let set = self.max_set.load(Relaxed);
                self.max.store(set.min(MAX_USAGE), Relaxed);
                if self.max_set.load(Relaxed) == set {
                    break;
                }
            }
        }
    }

    /// Restores the defaults of a cgroup that goes offline: no limit, no protection.
    pub fn reset_settings(&self) {
        self.set(Setting::Max, u64::MAX);
        self.set(Setting::Min, 0);
        self.set(Setting::Low, 0);
    }

    /// Highest usage since the last [`Counter::reset_peak_since`], or since
    /// creation: what a `dev.peak` file descriptor that was written to reads.
    pub fn peak_since_reset(&self) -> u64 {
        self.peak_since_reset.load(Relaxed)
    }

    /// Starts a new [`Counter::peak_since_reset`] from the current usage;
    /// returns the one it ends, for the readers that still follow it.
    pub fn reset_peak_since(&self) -> u64 {
        // Capped at `peak`, which a reset does not move: `usage` may include
        // charges in flight that will be refused.
        let usage = self.usage().min(self.peak());
        self.peak_since_reset.swap(usage, Relaxed)
    }

    /// Stops charges to this counter for good. Returns the close flags the
    /// caller must release now, having found no usage (`flag`, usually), or
    /// 0: then the uncharge that empties the counter gets them from
    /// [`uncharge`].
    ///
    /// The flag is set, and claimed if no usage is left, in one atomic
    /// operation: once it is set, the uncharge that empties the counter may
    /// claim it and free the counter, so `close` must not look again.
    ///
    /// Private to the protocol's module: outside it, nodes are closed
    /// through [`close_offline`] and [`close_owned`], which say who may set
    /// `CLOSED_DETACHED` (whose holder frees the node).
    pub(super) fn close(&self, flag: u64) -> u64 {
        let flag = flag & CLOSED;
        let mut old = self.hot.usage.load(Relaxed);
        loop {
            let closed = old | flag;
            // Every other flag of an empty counter was claimed when it
            // emptied or was closed, so this claims at most `flag`.
            let claimed = if closed & BYTES == 0 {
                unreleased(closed)
            } else {
                0
            };
            match self
                .hot
                .usage
                .compare_exchange_weak(old, closed | claimed >> 2, AcqRel, Relaxed)
            {
                Ok(_) => return claimed,
                Err(seen) => old = seen,
            }
        }
    }

    /// Raises usage by `amount` if the result stays within `max` and the
    /// counter is open, by a compare-and-swap; returns the new usage. On
    /// failure, says how it stopped (see [`Stop`]).
    fn try_raise(&self, amount: u64) -> Result<u64, Stop> {
        let mut old = self.hot.usage.load(Relaxed);
        loop {
            // A closed counter's word exceeds any `max` (see `max`).
            let max = self.max.load(Relaxed);
            let Some(new) = old.checked_add(amount).filter(|new| *new <= max) else {
                // Decided by the `max` compared against, not one read later.
                return Err(Stop(if max == MAX_USAGE { Stop::TOO_LARGE } else { 0 }));
            };
            match self
                .hot
                .usage
                .compare_exchange_weak(old, new, Relaxed, Relaxed)
            {
                Ok(_) => return Ok(new),
                Err(seen) => old = seen,
            }
        }
    }

    /// [`Counter::try_raise`] for an `amount` of at most [`SPECULATIVE_MAX`],
    /// which a level without a `max` adds before it looks.
    #[inline(always)]
    fn try_raise_speculative(&self, amount: u64) -> Result<u64, Stop> {
        if self.max.load(Relaxed) != MAX_USAGE {
            return self.try_raise(amount);
        }
        // No max to overshoot: add first and look, as page_counter does,
        // which contending CPUs never have to retry.
        let old = self.hot.usage.fetch_add(amount, Relaxed);
        let new = old.wrapping_add(amount);
        if old | new <= MAX_USAGE {
            Ok(new)
        } else {
            // Closed, or past what a counter holds: no max refused it.
            Err(Stop(Stop::RAISED | Stop::TOO_LARGE))
        }
    }

    /// Lowers usage by `amount` if the counter is open and covers it; else
    /// leaves it to [`Counter::lower`].
    #[inline(always)]
    fn lower_open(&self, amount: u64) -> bool {
        let mut old = self.hot.usage.load(Relaxed);
        loop {
            let new = old.wrapping_sub(amount);
            // Either is above MAX_USAGE when closed, not covered, or in the
            // rare moment when charges added before looking overshoot.
            if old | new > MAX_USAGE {
                return false;
            }
            match self
                .hot
                .usage
                .compare_exchange_weak(old, new, AcqRel, Relaxed)
            {
                Ok(_) => return true,
                Err(seen) => old = seen,
            }
        }
    }

    /// Lowers usage by `amount`, clamping at zero. Returns the bytes really
    /// taken (less than `amount` only if usage did not cover it), and the
    /// close flags whose release this claimed by leaving a closed counter
    /// empty (the caller now owns their release).
    fn lower(&self, amount: u64) -> (u64, u64) {
        let mut old = self.hot.usage.load(Relaxed);
        loop {
            let bytes = old & BYTES;
            let taken = bytes.min(amount);
            let left = bytes - taken;
            // Emptying a closed counter claims its unreleased flags.
            let claimed = if left == 0 { unreleased(old) } else { 0 };
            let new = (old & !BYTES) | left | claimed >> 2;
            match self
                .hot
                .usage
                .compare_exchange_weak(old, new, AcqRel, Relaxed)
            {
                Ok(_) => return (taken, claimed),
                Err(seen) => old = seen,
            }
        }
    }

    /// Whether this level alone would refuse `amount` more bytes now: it is
    /// closed, or its usage would pass its `max` (or [`MAX_USAGE`]).
    fn would_refuse(&self, amount: u64) -> bool {
        self.is_closed() || self.usage().saturating_add(amount) > self.max.load(Relaxed)
    }

    /// Records usage seen after a committed charge, capped at `cap`, the
    /// lowest `max` from this level up (see [`update_peaks`]).
    fn update_peak(&self, cap: u64) {
        let usage = self.usage().min(cap);
        if usage > self.peak_since_reset.load(Relaxed) {
            self.peak_since_reset.fetch_max(usage, Relaxed);
        }
        if usage > self.peak.load(Relaxed) {
            self.peak.fetch_max(usage, Relaxed);
        }
    }
}

/// A closed node whose release the close protocol gave to its holder: the
/// close flags it claimed, the node's pointer, and what the node said about
/// itself before the claim ([`Node::release_info`]).
///
/// It does not give the node back: the node stays alive only until it is
/// freed by whoever holds its `CLOSED_DETACHED` release, which may be
/// another party, at any moment after this claim. So only a holder whose
/// flags include that one may use the pointer (to free the node).
///
/// Only the protocol makes one: [`close`] on a counter it empties, and the
/// uncharges that empty a closed counter (their `release` callbacks).
///
/// # Invariants
///
/// `flags` were claimed on `node` for this holder alone; `info` was read
/// from the node before the claim.
#[must_use]
pub struct Released<N: Node> {
    node: NonNull<N>,
    flags: u64,
    info: N::ReleaseInfo,
}

impl<N: Node> Released<N> {
    /// # Safety
    ///
    /// The caller must have claimed `flags` on `node` (no one else may
    /// release them), and read `info` from the node before the claim.
    unsafe fn new(node: NonNull<N>, flags: u64, info: N::ReleaseInfo) -> Self {
        // INVARIANT: guaranteed by the caller.
        Released { node, flags, info }
    }

    /// The close flags released.
    pub fn flags(&self) -> u64 {
        self.flags
    }

    /// What the node said about itself before the claim.
    pub fn info(&self) -> N::ReleaseInfo {
        self.info
    }

    /// The node's pointer: alive, and the holder's to free, if the flags
    /// include `CLOSED_DETACHED`; otherwise possibly freed already.
    pub fn into_raw(self) -> NonNull<N> {
        self.node
    }
}

/// Closes `node` with `CLOSED_OFFLINE` (see [`Counter::close`]): the
/// release, if this claimed it because no usage was left; otherwise the
/// uncharge that empties the node gets it. (That release never frees the
/// node, so the node may stay wherever others find it.)
pub fn close_offline<N: Node>(node: &N) -> Option<Released<N>> {
    // SAFETY: borrowed, so alive for the call; `CLOSED_OFFLINE` does not
    // make the node's release free it.
    unsafe { close_owned(NonNull::from(node), CLOSED_OFFLINE) }
}

/// Closes the node at `node` with `flag` (`CLOSED_OFFLINE` or
/// `CLOSED_DETACHED`), known by its pointer: once closed, the node may be
/// freed by the uncharge that empties it (for `CLOSED_DETACHED`), so no
/// reference to it may outlive the call.
///
/// # Safety
///
/// `node` must be alive for the call; for `CLOSED_DETACHED`, the caller
/// must own it, taken out of every place others could find it, since the
/// holder of that flag's release frees it.
pub unsafe fn close_owned<N: Node>(node: NonNull<N>, flag: u64) -> Option<Released<N>> {
    // SAFETY: alive (caller).
    let node_ref = unsafe { node.as_ref() };
    let info = node_ref.release_info();
    // `close` looks at the counter in one atomic operation, after which the
    // node may be freed: nothing here touches it again.
    let claimed = node_ref.counter().close(flag);
    // SAFETY: `close` claimed `claimed`; `info` was read before.
    (claimed != 0).then(|| unsafe { Released::new(node, claimed, info) })
}

/// The close flags of a usage word whose released bit is not set yet.
fn unreleased(word: u64) -> u64 {
    word & CLOSED & !((word & RELEASED) << 2)
}

fn ancestors<N: Node>(node: &N) -> impl Iterator<Item = &N> {
    let mut next = Some(node);
    core::iter::from_fn(move || {
        let this = next?;
        next = this.parent();
        Some(this)
    })
}

/// Charges `amount` bytes from `node` up to the root, on behalf of `consumer`
/// (an out-of-range consumer counts as the last one).
///
/// On success every level was raised. On failure nothing stays charged; a
/// limit refusal names the first level whose `max` would have been exceeded
/// and is counted in its `events.local` and in `events` of it and every
/// ancestor. `release` is called as for [`uncharge`], for a level that was
/// closed meanwhile and that rolling back emptied.
///
/// This is [`raise`], then [`Raised::commit`] or [`Unfinished::roll_back`].
pub fn try_charge<'a, N: Node>(
    node: &'a N,
    amount: u64,
    consumer: usize,
    release: impl FnMut(Released<N>),
) -> Result<(), Refusal<'a, N>> {
    match raise(node, amount) {
        Ok(raised) => {
            raised.commit(consumer);
            Ok(())
        }
        Err(unfinished) => Err(unfinished.roll_back(release)),
    }
}

/// A charge that raised every level; [`Raised::commit`] completes it.
#[must_use]
pub struct Raised<'a, N> {
    node: &'a N,
    amount: u64,
    stale_peak: bool,
}

/// How a level refused a charge: [`Stop::RAISED`] and [`Stop::TOO_LARGE`]
/// bits, in one byte so that it travels in one register (a pair of `bool`s
/// would take two, and push a caller's sixth argument onto the stack).
#[derive(Clone, Copy, Debug)]
pub struct Stop(u8);

impl Stop {
    /// The level holds the charge anyway (it added before looking).
    const RAISED: u8 = 1;
    /// No `max` refused it: the level was closed, or would hold more than
    /// [`MAX_USAGE`].
    const TOO_LARGE: u8 = 2;

    fn raised(self) -> bool {
        self.0 & Self::RAISED != 0
    }

    fn too_large(self) -> bool {
        self.0 & Self::TOO_LARGE != 0
    }
}

/// A charge that a level refused, with the levels above it still raised:
/// [`Unfinished::roll_back`] undoes them.
#[must_use]
pub struct Unfinished<'a, N> {
    node: &'a N,
    level: &'a N,
    amount: u64,
    stop: Stop,
}

/// First step of a charge: raises every level from the root down to `node`
/// (see the module docs for why in that order), along the node's line and
/// then the node, or stops at the first one that refuses.
pub fn raise<N: Node>(node: &N, amount: u64) -> Result<Raised<'_, N>, Unfinished<'_, N>> {
    raise_fast(node, amount).unwrap_or_else(|| raise_slow(node, amount))
}

/// [`raise`] in the common case; `None`, having raised nothing, for a charge
/// too large to add before looking or a node that keeps no line, which
/// [`raise`] handles. A caller's fast path uses it to reach everything rare
/// through a call of its own, in a tail position.
//
// Everything rare is `#[cold]` and out of line, so that the common case
// stays short: the size is tested once, not at every level.
#[inline(always)]
pub fn raise_fast<N: Node>(
    node: &N,
    amount: u64,
) -> Option<Result<Raised<'_, N>, Unfinished<'_, N>>> {
    if amount > SPECULATIVE_MAX {
        return None;
    }
    Some(raise_line(node, full_line(node)?, amount, true))
}

/// Raises `line`, then `node` (see [`raise_level`] for `speculative`).
#[inline(always)]
fn raise_line<'a, N: Node>(
    node: &'a N,
    line: &'a [AncestorLink<N>],
    amount: u64,
    speculative: bool,
) -> Result<Raised<'a, N>, Unfinished<'a, N>> {
    let mut stale_peak = false;
    for link in line {
        stale_peak |= raise_level(node, link.get(), amount, speculative)?;
    }
    stale_peak |= raise_level(node, node, amount, speculative)?;
    Ok(Raised {
        node,
        amount,
        stale_peak,
    })
}

/// [`raise`] for a charge above [`SPECULATIVE_MAX`], which no level adds
/// before looking, or to a node that keeps no line while it has a parent:
/// each of its levels is then found again from the node, from the root
/// down, in time quadratic in its depth.
#[cold]
#[inline(never)]
fn raise_slow<N: Node>(node: &N, amount: u64) -> Result<Raised<'_, N>, Unfinished<'_, N>> {
    let speculative = amount <= SPECULATIVE_MAX;
    if let Some(line) = full_line(node) {
        return raise_line(node, line, amount, speculative);
    }
    let mut stale_peak = false;
    let above = ancestors(node).count().saturating_sub(1);
    for up in (1..=above).rev() {
        if let Some(level) = ancestors(node).nth(up) {
            stale_peak |= raise_level(node, level, amount, speculative)?;
        }
    }
    stale_peak |= raise_level(node, node, amount, speculative)?;
    Ok(Raised {
        node,
        amount,
        stale_peak,
    })
}

/// Raises one level of a charge to `node`, adding before looking where that
/// is allowed if `speculative` (`amount` is then at most
/// [`SPECULATIVE_MAX`]); says whether the level's peak is stale.
#[inline(always)]
fn raise_level<'a, N: Node>(
    node: &'a N,
    level: &'a N,
    amount: u64,
    speculative: bool,
) -> Result<bool, Unfinished<'a, N>> {
    let counter = level.counter();
    let raised = if speculative {
        counter.try_raise_speculative(amount)
    } else {
        counter.try_raise(amount)
    };
    match raised {
        // `peak_since_reset` never exceeds `peak`: one comparison finds both
        // stale.
        Ok(new) => Ok(new > counter.peak_since_reset.load(Relaxed)),
        Err(stop) => Err(Unfinished {
            node,
            level,
            amount,
            stop,
        }),
    }
}

impl<'a, N: Node> Raised<'a, N> {
    /// The charged node.
    pub fn node(&self) -> &'a N {
        self.node
    }

    /// Completes the charge: counts it for `consumer` (an out-of-range one
    /// counts as the last) and brings `dev.peak` up to date.
    #[inline(always)]
    pub fn commit(self, consumer: usize) {
        let consumer = consumer.min(NR_CONSUMERS - 1) as u8;
        if let Some(local) = self.node.counter().local_of(consumer) {
            local.fetch_add(self.amount, Relaxed);
        }
        if self.stale_peak {
            update_peaks(self.node);
        }
    }
}

impl<'a, N: Node> Unfinished<'a, N> {
    /// Splits the charge into its node, refusing level, amount and how that
    /// level stopped it, so that a caller can pass them in registers (a
    /// larger value goes through memory).
    pub fn into_parts(self) -> (&'a N, &'a N, u64, Stop) {
        (self.node, self.level, self.amount, self.stop)
    }

    /// Rebuilds what [`Unfinished::into_parts`] split.
    ///
    /// # Safety
    ///
    /// The parts must come from `into_parts`, used once.
    pub unsafe fn from_parts(node: &'a N, level: &'a N, amount: u64, stop: Stop) -> Self {
        Unfinished {
            node,
            level,
            amount,
            stop,
        }
    }

    /// Rolls back the levels that were raised, calling `release` as for
    /// [`uncharge`], and counts a limit refusal in `dev.events`.
    #[cold]
    #[inline(never)]
    pub fn roll_back(self, release: impl FnMut(Released<N>)) -> Refusal<'a, N> {
        let Unfinished {
            node,
            level,
            amount,
            stop,
        } = self;
        let closed = level.counter().is_closed();
        // The levels above `level` were raised (from the root down), and
        // `level` itself if it added before it looked.
        let from = if stop.raised() {
            Some(level)
        } else {
            level.parent()
        };
        if let Some(from) = from {
            // SAFETY: every level from `from` up holds our `amount` until
            // `lower_levels` takes it back. (Using `level` below is fine even
            // if this released it: a charge's caller keeps its levels alive
            // otherwise than by their bytes — the kernel's by holding the
            // region's device, so no level can be detached meanwhile, and
            // its css, which holds its ancestors' and so their pools.)
            let _ = unsafe { lower_levels(NonNull::from(from), amount, release) };
        }
        // The refusal names the first level from `node` up that refuses, as
        // the memory controller's bottom-up walk finds it: the most specific
        // limit, which `dev.events.local` counts and eviction works under.
        // The levels below `level` were not raised; they are only looked at.
        let below = ancestors(node)
            .take_while(|l| !core::ptr::eq(*l, level))
            .find(|l| l.counter().would_refuse(amount));
        let (level, closed, too_large) = match below {
            Some(l) => {
                let c = l.counter();
                (l, c.is_closed(), c.max.load(Relaxed) == MAX_USAGE)
            }
            None => (level, closed, stop.too_large()),
        };
        if closed {
            return Refusal::Closed;
        }
        if too_large {
            // Refused without a max: the sum would not fit in a counter.
            return Refusal::TooLarge;
        }
        count_limit_event(level);
        Refusal::Limit(level)
    }
}

/// Counts a limit refusal at `level`: in its `events.local`, and in `events`
/// of it and every ancestor.
fn count_limit_event<N: Node>(level: &N) {
    level.counter().events_max_local.fetch_add(1, Relaxed);
    for hit in ancestors(level) {
        hit.counter().events_max.fetch_add(1, Relaxed);
    }
}

/// Looks, without raising anything, whether a charge of `amount` bytes to
/// `node` would be refused now, and if so gives the refusal a charge would
/// give. Counts nothing: [`Refusal::count`] does, for a caller that acts on
/// it. For callers that can refuse before they take memory whose region they
/// cannot know yet; the answer may be stale by the time they charge, and the
/// charge decides.
pub fn refusal_now<N: Node>(node: &N, amount: u64) -> Option<Refusal<'_, N>> {
    let level = ancestors(node).find(|l| l.counter().would_refuse(amount))?;
    let c = level.counter();
    Some(if c.is_closed() {
        Refusal::Closed
    } else if c.max.load(Relaxed) == MAX_USAGE {
        Refusal::TooLarge
    } else {
        Refusal::Limit(level)
    })
}

impl<N: Node> Refusal<'_, N> {
    /// Counts a limit refusal in `dev.events` as a refused charge does (see
    /// [`refusal_now`]); other refusals are not events.
    pub fn count(&self) {
        if let Refusal::Limit(level) = self {
            count_limit_event(*level);
        }
    }
}

/// Brings `dev.peak` up to date after a charge raised usage above it.
///
/// What a level records is its usage read now, which may include charges
/// still in flight that a level above will refuse (a level without a `max`
/// adds before it looks). Capping it at the lowest `max` from the level up
/// keeps such charges from showing a peak that no committed usage could
/// reach. A `max` lowered below its level's usage (accepted, see
/// [`Counter::set`]) caps at that usage instead, which committed charges did
/// reach. (Quadratic in depth, but only run when a peak moves.)
#[cold]
#[inline(never)]
fn update_peaks<N: Node>(node: &N) {
    for level in ancestors(node) {
        let cap = ancestors(level)
            .map(|above| {
                let c = above.counter();
                c.max.load(Relaxed).max(c.usage())
            })
            .fold(MAX_USAGE, u64::min);
        level.counter().update_peak(cap);
    }
}

/// Uncharges `amount` bytes that `consumer` charged to `node`, from `node` up
/// to the root.
///
/// When a level's usage reaches zero while it is closed, `release` is called
/// with that level and its close flags; the walk does not touch that level
/// again. Fails with `amount` if some level had less usage than that: the
/// caller uncharged what it never charged. Usage is clamped at zero, never
/// wrapped.
///
/// # Safety
///
/// `node` must be a node on which `amount` bytes were charged and not yet
/// uncharged; those bytes keep every level alive until this function has
/// lowered it (a released level is not touched after its claim: `release`
/// gets what it needs in [`Released`]).
#[inline(always)]
pub unsafe fn uncharge<N: Node>(
    node: NonNull<N>,
    amount: u64,
    consumer: usize,
    release: impl FnMut(Released<N>),
) -> Result<(), u64> {
    let consumer = consumer.min(NR_CONSUMERS - 1) as u8;
    // SAFETY: `node` holds our bytes, so it is alive (caller). Its owner was
    // set before our charge was counted, so this finds the same counter.
    if unsafe { node.as_ref() }.counter().hot.owner.load(Relaxed) != consumer {
        // SAFETY: forwarded from the caller.
        return unsafe { uncharge_other(node, amount, consumer, release) };
    }
    // SAFETY: as above, for every level up to the root.
    unsafe { lower_levels(node, amount, release) }
}

/// [`uncharge`] by a consumer that is not the pool's owner, whose bytes are
/// also counted apart.
///
/// # Safety
///
/// As [`uncharge`].
#[cold]
#[inline(never)]
unsafe fn uncharge_other<N: Node>(
    node: NonNull<N>,
    amount: u64,
    consumer: u8,
    release: impl FnMut(Released<N>),
) -> Result<(), u64> {
    // SAFETY: `node` holds our bytes, so it is alive (caller).
    if let Some(local) = unsafe { node.as_ref() }.counter().local_of(consumer) {
        // Clamped in one step: a driver that uncharges more than it charged
        // (the usage walk reports it) must not leave it wrapped, even for a
        // moment, nor race another uncharge into wrapping it for good.
        let mut old = local.load(Relaxed);
        while let Err(seen) =
            local.compare_exchange_weak(old, old.saturating_sub(amount), Relaxed, Relaxed)
        {
            old = seen;
        }
    }
    // SAFETY: as above, for every level up to the root.
    unsafe { lower_levels(node, amount, release) }
}

/// The levels from `from` up to the root, as pointers. Each level's parent
/// is read before the level is yielded: once its caller has lowered a level,
/// that level may be freed by someone else.
///
/// # Safety
///
/// Every level in that range must stay alive until it has been yielded and
/// its caller is done with it.
#[inline(always)]
unsafe fn levels<N: Node>(from: NonNull<N>) -> impl Iterator<Item = NonNull<N>> {
    let mut at = Some(from);
    core::iter::from_fn(move || {
        let level = at?;
        // SAFETY: `level` is alive until its caller is done with it (caller).
        at = unsafe { level.as_ref() }.parent().map(NonNull::from);
        Some(level)
    })
}

/// Lowers every level from `from` up to the root. Fails with `amount` if
/// some level did not cover it (see [`uncharge`]).
///
/// # Safety
///
/// Every level in that range must hold `amount` bytes of the caller's.
#[inline(always)]
unsafe fn lower_levels<N: Node>(
    from: NonNull<N>,
    amount: u64,
    release: impl FnMut(Released<N>),
) -> Result<(), u64> {
    // SAFETY: the caller's bytes keep each level alive until they are taken.
    for level in unsafe { levels(from) } {
        // SAFETY: as above.
        if !unsafe { level.as_ref() }.counter().lower_open(amount) {
            // Out of line by a call whose result is returned as it is, so
            // that an inlined caller keeps nothing across it.
            // SAFETY: forwarded from the caller.
            return unsafe { lower_rest(level, amount, release) };
        }
    }
    Ok(())
}

/// [`lower_levels`] from a level that is closed or does not cover `amount`:
/// the general case, which may hand emptied levels to `release`.
///
/// A level that held less than `amount` (a driver uncharging what it never
/// charged) gives up what it held, and the levels above are lowered by that
/// much only: a parent's usage includes its children's, so taking the full
/// amount there would take bytes a sibling still holds, and could empty and
/// release the parent under the sibling's charge.
///
/// # Safety
///
/// As [`lower_levels`].
#[cold]
#[inline(never)]
unsafe fn lower_rest<N: Node>(
    from: NonNull<N>,
    amount: u64,
    mut release: impl FnMut(Released<N>),
) -> Result<(), u64> {
    let mut left = amount;
    // SAFETY: as in `lower_levels`; `release` is the last use of a level.
    for level in unsafe { levels(from) } {
        // SAFETY: as above.
        let node = unsafe { level.as_ref() };
        // Before the claim: after it, another flag's holder may free it.
        let info = node.release_info();
        let (taken, released) = node.counter().lower(left);
        left = taken;
        if released != 0 {
            // SAFETY: `lower` claimed these flags for us, after `info` was
            // read; nothing here touches `level` again.
            release(unsafe { Released::new(level, released, info) });
        }
        if left == 0 {
            // Nothing to take above, and no bytes of ours keep those
            // levels alive any more.
            break;
        }
    }
    if left == amount {
        Ok(())
    } else {
        Err(amount)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use core::ptr;
    use std::vec::Vec;

    /// A test tree node; trees are leaked so parents can be `&'static`.
    struct TNode {
        counter: Counter,
        parent: Option<&'static TNode>,
        line: Vec<AncestorLink<TNode>>,
    }

    // SAFETY: `line` is made by `fill_line` from `parent`, or left empty,
    // both set once.
    unsafe impl Node for TNode {
        /// Test trees are leaked: a release may look at its node.
        type ReleaseInfo = &'static TNode;
        fn counter(&self) -> &Counter {
            &self.counter
        }
        fn parent(&self) -> Option<&Self> {
            self.parent
        }
        fn line(&self) -> &[AncestorLink<Self>] {
            &self.line
        }
        fn release_info(&self) -> &'static TNode {
            // SAFETY: test nodes are leaked, never freed.
            unsafe { &*(self as *const TNode) }
        }
    }

    /// Node `i` has parent `parents[i]`, which must be smaller than `i`.
    struct Tree {
        nodes: Vec<&'static TNode>,
        parents: Vec<Option<usize>>,
        counters: Vec<&'static Counter>,
    }

    impl Tree {
        fn new(parents: Vec<Option<usize>>) -> Self {
            let mut nodes: Vec<&'static TNode> = Vec::new();
            for p in &parents {
                let parent = p.map(|i| nodes[i]);
                let mut node = std::boxed::Box::new(TNode {
                    counter: Counter::new(),
                    parent,
                    line: Vec::new(),
                });
                // As the kernel's pools: a line only where it has room.
                if let Some(parent) = parent.filter(|p| line_room(ancestors(*p).count()) != 0) {
                    // SAFETY: into the node's own line; its parent never
                    // changes.
                    unsafe { fill_line(parent, |link| node.line.push(link)) };
                }
                nodes.push(std::boxed::Box::leak(node));
            }
            let counters = nodes.iter().map(|n| &n.counter).collect();
            Tree {
                nodes,
                parents,
                counters,
            }
        }
        fn at(&self, i: usize) -> &'static TNode {
            self.nodes[i]
        }
        fn path(&self, mut i: usize) -> Vec<usize> {
            let mut path = std::vec![i];
            while let Some(p) = self.parents[i] {
                path.push(p);
                i = p;
            }
            path
        }
    }

    fn index_of(tree: &Tree, counter: &Counter) -> usize {
        tree.counters
            .iter()
            .position(|c| ptr::eq(*c, counter))
            .unwrap()
    }

    /// Charges with a release callback that must never run: nothing is closed.
    fn tc<N: Node>(node: &N, amount: u64, consumer: usize) -> Result<(), Refusal<'_, N>> {
        try_charge(node, amount, consumer, |_: Released<N>| {
            panic!("released an open counter")
        })
    }

    fn un<N: Node>(node: &N, amount: u64, consumer: usize) -> bool {
        // SAFETY: the tests' trees are leaked, so every node stays alive.
        unsafe {
            uncharge(NonNull::from(node), amount, consumer, |_: Released<N>| {
                panic!("released an open counter")
            })
        }
        .is_ok()
    }

    /// What node `n` itself holds for `consumer`, as `dev.stat` reads it.
    fn local(t: &Tree, n: usize, consumer: usize) -> u64 {
        let children: u64 = (0..t.nodes.len())
            .filter(|c| t.parents[*c] == Some(n))
            .map(|c| t.counters[c].usage())
            .sum();
        t.counters[n].local_usage(consumer, t.counters[n].usage() - children)
    }

    /// What `dev.stat` shows for `consumer` at node `i`: its subtree's local usage.
    fn subtree_consumer(t: &Tree, i: usize, consumer: usize) -> u64 {
        (0..t.nodes.len())
            .filter(|n| t.path(*n).contains(&i))
            .map(|n| local(t, n, consumer))
            .sum()
    }

    #[test]
    fn charge_walks_to_the_root_and_rolls_back() {
        // 0 <- 1 <- 2
        let t = Tree::new(std::vec![None, Some(0), Some(1)]);
        t.counters[1].set(Setting::Max, 100);
        assert!(tc(t.at(2), 60, 0).is_ok());
        assert_eq!(
            [
                t.counters[0].usage(),
                t.counters[1].usage(),
                t.counters[2].usage()
            ],
            [60, 60, 60]
        );
        let Err(Refusal::Limit(hit)) = tc(t.at(2), 41, 1) else {
            panic!("not refused by a limit")
        };
        assert_eq!(index_of(&t, hit.counter()), 1);
        assert_eq!(
            [
                t.counters[0].usage(),
                t.counters[1].usage(),
                t.counters[2].usage()
            ],
            [60, 60, 60]
        );
        assert_eq!(local(&t, 2, 1), 0);
        assert_eq!(t.counters[1].events(), (1, 1));
        assert_eq!(t.counters[0].events(), (1, 0));
        assert_eq!(t.counters[2].events(), (0, 0));
        assert!(tc(t.at(2), 40, 1).is_ok());
        assert_eq!(local(&t, 2, 1), 40);
        assert_eq!(local(&t, 0, 1), 0);
        assert_eq!(subtree_consumer(&t, 0, 1), 40);
        assert_eq!(subtree_consumer(&t, 1, 0), 60);
        assert!(un(t.at(2), 100, 0));
        assert_eq!(t.counters[0].usage(), 0);
        assert_eq!(t.counters[2].peak(), 100);
    }

    #[test]
    fn a_node_deeper_than_any_line_is_charged_along_its_parents() {
        let parents = (0..LINE_MAX + 4).map(|i| i.checked_sub(1)).collect();
        let t = Tree::new(parents);
        let deepest = t.nodes.len() - 1;
        assert_eq!(t.at(LINE_MAX).line.len(), LINE_MAX);
        assert!(t.at(LINE_MAX + 1).line.is_empty());
        assert!(t.at(deepest).line.is_empty());
        for node in [deepest, LINE_MAX] {
            assert!(tc(t.at(node), 10, 0).is_ok());
            for i in 0..=deepest {
                let expected = if i <= node { 10 } else { 0 };
                assert_eq!(t.counters[i].usage(), expected, "level {i}");
            }
            // Refused at level 5: the levels above are rolled back.
            t.counters[5].set(Setting::Max, 15);
            match tc(t.at(node), 10, 0) {
                Err(Refusal::Limit(level)) => assert_eq!(index_of(&t, level.counter()), 5),
                _ => panic!("not refused at level 5"),
            }
            assert_eq!(t.counters[0].usage(), 10);
            assert_eq!(t.counters[node].usage(), 10);
            // Too large to add before looking: the other slow path.
            t.counters[5].set(Setting::Max, u64::MAX);
            assert!(tc(t.at(node), SPECULATIVE_MAX + 1, 0).is_ok());
            assert!(un(t.at(node), SPECULATIVE_MAX + 1, 0));
            assert!(un(t.at(node), 10, 0));
            assert!(t.counters.iter().all(|c| c.usage() == 0));
        }
    }

    #[test]
    fn a_line_is_kept_only_where_it_has_room() {
        assert_eq!(
            [0, 1, LINE_MAX, LINE_MAX + 1].map(line_room),
            [0, 1, LINE_MAX, 0]
        );
        let t = Tree::new((0..LINE_MAX + 3).map(|i| i.checked_sub(1)).collect());
        let mut pushed = 0;
        // SAFETY: nothing is pushed (the parent keeps no line).
        assert!(!unsafe { fill_line(t.at(LINE_MAX + 1), |_| pushed += 1) });
        assert_eq!(pushed, 0);
        let mut line = Vec::new();
        // SAFETY: the links are only compared, and dropped with `line`
        // before the (leaked) tree could go.
        assert!(unsafe { fill_line(t.at(LINE_MAX - 1), |link| line.push(link)) });
        let expected = t.path(LINE_MAX - 1);
        assert_eq!(line.len(), LINE_MAX);
        for (link, i) in line.iter().zip(expected.iter().rev()) {
            assert!(ptr::eq(link.get(), t.at(*i)));
        }
    }

    #[test]
    fn a_non_owner_over_uncharge_is_reported_and_clamped() {
        let t = Tree::new(std::vec![None, Some(0)]);
        assert!(tc(t.at(1), 10, 0).is_ok());
        assert!(tc(t.at(1), 10, 1).is_ok());
        assert!(!un(t.at(1), 21, 1));
        assert_eq!(local(&t, 1, 1), 0);
        assert_eq!(t.counters[1].usage(), 0);
        assert_eq!(t.counters[0].usage(), 0);
    }

    #[test]
    fn uncharge_underflow_is_reported_and_clamped() {
        let t = Tree::new(std::vec![None, Some(0)]);
        assert!(tc(t.at(1), 10, 3).is_ok());
        assert!(!un(t.at(1), 11, 3));
        assert_eq!(t.counters[1].usage(), 0);
        assert_eq!(t.counters[0].usage(), 0);
        assert_eq!(local(&t, 1, 3), 0);
    }

    #[test]
    fn limit_below_usage_is_accepted_and_blocks_new_charges() {
        let t = Tree::new(std::vec![None, Some(0)]);
        assert!(tc(t.at(1), 50, 0).is_ok());
        t.counters[1].set(Setting::Max, 10);
        assert!(tc(t.at(1), 1, 0).is_err());
        assert!(un(t.at(1), 45, 0));
        assert!(tc(t.at(1), 5, 0).is_ok());
        assert!(tc(t.at(1), 1, 0).is_err());
    }

    #[test]
    fn huge_amounts_never_wrap() {
        let t = Tree::new(std::vec![None, Some(0)]);
        assert!(tc(t.at(1), u64::MAX - 1, 0).is_err());
        assert!(tc(t.at(1), MAX_USAGE - 1, 0).is_ok());
        assert!(tc(t.at(1), 2, 0).is_err());
        assert!(tc(t.at(1), 1, 0).is_ok());
        assert_eq!(t.counters[0].usage(), MAX_USAGE);
        assert!(!t.counters[0].is_closed());
        assert!(un(t.at(1), MAX_USAGE, 0));
        assert_eq!(t.counters[0].usage(), 0);
    }

    #[test]
    fn a_max_no_usage_can_exceed_reads_back_as_written_and_acts_as_max() {
        let t = Tree::new(std::vec![None]);
        let c = t.counters[0];
        assert_eq!(c.setting(Setting::Max), u64::MAX);
        c.set(Setting::Max, MAX_USAGE - 1);
        assert_eq!(c.setting(Setting::Max), MAX_USAGE - 1);
        assert!(tc(t.at(0), MAX_USAGE, 0).is_err());
        for huge in [
            MAX_USAGE,
            MAX_USAGE + 1,
            18_446_744_073_709_551,
            u64::MAX - 1,
        ] {
            c.set(Setting::Max, huge);
            assert_eq!(c.setting(Setting::Max), huge);
            assert!(tc(t.at(0), MAX_USAGE, 0).is_ok());
            assert!(un(t.at(0), MAX_USAGE, 0));
        }
        c.set(Setting::Min, u64::MAX - 1);
        assert_eq!(c.setting(Setting::Min), u64::MAX - 1);
    }

    #[test]
    fn closing_an_empty_counter_leaves_the_release_to_the_closer() {
        let t = Tree::new(std::vec![None, Some(0)]);
        assert!(tc(t.at(1), 10, 0).is_ok());
        assert!(un(t.at(1), 10, 0));
        assert_eq!(t.counters[1].close(CLOSED_OFFLINE), CLOSED_OFFLINE);
        assert!(t.counters[1].is_closed());
        assert!(matches!(tc(t.at(1), 1, 0), Err(Refusal::Closed)));
        assert_eq!(t.counters[0].usage(), 0);
        assert_eq!(t.counters[1].events(), (0, 0));
    }

    #[test]
    fn the_uncharge_that_empties_a_closed_counter_releases_it_once() {
        // 0 <- 1 <- 2: node 2 is closed twice while charged, node 1 once.
        let t = Tree::new(std::vec![None, Some(0), Some(1)]);
        assert!(tc(t.at(2), 30, 1).is_ok());
        assert!(tc(t.at(2), 20, 1).is_ok());
        assert_eq!(t.counters[2].close(CLOSED_OFFLINE), 0);
        assert_eq!(t.counters[2].close(CLOSED_DETACHED), 0);
        assert_eq!(t.counters[1].close(CLOSED_DETACHED), 0);
        assert_eq!(t.counters[2].usage(), 50);
        let released = std::cell::RefCell::new(Vec::new());
        let record = |r: Released<TNode>| {
            released
                .borrow_mut()
                .push((index_of(&t, &r.info().counter), r.flags()))
        };
        // SAFETY: leaked tree.
        assert!(unsafe { uncharge(NonNull::from(t.at(2)), 30, 1, record) }.is_ok());
        assert!(released.borrow().is_empty());
        // SAFETY: leaked tree.
        assert!(unsafe { uncharge(NonNull::from(t.at(2)), 20, 1, record) }.is_ok());
        let released = released.into_inner();
        assert_eq!(
            released,
            [(2, CLOSED_OFFLINE | CLOSED_DETACHED), (1, CLOSED_DETACHED)]
        );
        assert_eq!(t.counters[0].usage(), 0);
        assert_eq!(local(&t, 2, 1), 0);
    }

    #[test]
    fn a_rolled_back_charge_releases_a_level_closed_meanwhile() {
        // Node 1 is closed while a charge to it is held; a charge to node 2
        // (its child) that fails above must not leave node 1 unreleased.
        let t = Tree::new(std::vec![None, Some(0), Some(1)]);
        t.counters[0].set(Setting::Max, 10);
        assert!(tc(t.at(2), 5, 0).is_ok());
        assert_eq!(t.counters[2].close(CLOSED_OFFLINE), 0);
        assert_eq!(t.counters[1].close(CLOSED_OFFLINE), 0);
        // Closed levels refuse, and refusing rolls back without releasing
        // anything that still has usage.
        assert!(matches!(tc(t.at(2), 1, 0), Err(Refusal::Closed)));
        assert_eq!(t.counters[0].usage(), 5);
        let mut released = Vec::new();
        // SAFETY: leaked tree.
        assert!(unsafe {
            uncharge(NonNull::from(t.at(2)), 5, 0, |r: Released<TNode>| {
                released.push((index_of(&t, &r.info().counter), r.flags()))
            })
        }
        .is_ok());
        assert_eq!(released, [(2, CLOSED_OFFLINE), (1, CLOSED_OFFLINE)]);
    }

    /// Charges that add before they look (no max), refused ones taking their
    /// bytes back, racing a closer and unchargers: still exactly one release,
    /// and a second close flag on an emptied counter is released once more.
    #[test]
    fn close_racing_charges_added_before_looking_releases_once() {
        for round in 0..100u64 {
            let t = Tree::new(std::vec![None, Some(0)]);
            let leaf = t.at(1);
            let releases: &'static std::sync::atomic::AtomicU64 =
                std::boxed::Box::leak(std::boxed::Box::new(std::sync::atomic::AtomicU64::new(0)));
            let count = move |r: Released<TNode>| {
                assert_eq!(r.flags(), CLOSED_OFFLINE);
                releases.fetch_add(1, Relaxed);
            };
            let workers: Vec<_> = (0..3)
                .map(|w| {
                    std::thread::spawn(move || {
                        for i in 0..2000u64 {
                            let amount = 1 + (w + i + round) % 5;
                            if try_charge(leaf, amount, 0, count).is_ok() {
                                // SAFETY: leaked tree.
                                assert!(unsafe { uncharge(NonNull::from(leaf), amount, 0, count) }
                                    .is_ok());
                            }
                        }
                    })
                })
                .collect();
            std::thread::yield_now();
            if t.counters[1].close(CLOSED_OFFLINE) != 0 {
                releases.fetch_add(1, Relaxed);
            }
            for w in workers {
                w.join().unwrap();
            }
            assert_eq!(releases.load(Relaxed), 1, "round {round}");
            assert_eq!(t.counters[1].usage(), 0);
            assert_eq!(t.counters[0].usage(), 0);
            assert_eq!(t.counters[1].close(CLOSED_DETACHED), CLOSED_DETACHED);
            assert_eq!(t.counters[1].close(CLOSED_DETACHED), 0);
        }
    }

    /// Unchargers racing one closer: exactly one party releases.
    #[test]
    fn close_and_last_uncharge_race_releases_exactly_once() {
        for round in 0..200u64 {
            let t = Tree::new(std::vec![None, Some(0)]);
            let leaf = t.at(1);
            for _ in 0..4 {
                assert!(tc(leaf, 1 + round % 7, 0).is_ok());
            }
            let releases: &'static std::sync::atomic::AtomicU64 =
                std::boxed::Box::leak(std::boxed::Box::new(std::sync::atomic::AtomicU64::new(0)));
            let unchargers: Vec<_> = (0..4)
                .map(|_| {
                    std::thread::spawn(move || {
                        // SAFETY: leaked tree.
                        unsafe {
                            uncharge(
                                NonNull::from(leaf),
                                1 + round % 7,
                                0,
                                |r: Released<TNode>| {
                                    assert_eq!(r.flags(), CLOSED_OFFLINE);
                                    releases.fetch_add(1, Relaxed);
                                },
                            )
                        }
                        .is_ok()
                    })
                })
                .collect();
            if t.counters[1].close(CLOSED_OFFLINE) != 0 {
                releases.fetch_add(1, Relaxed);
            }
            for u in unchargers {
                assert!(u.join().unwrap());
            }
            assert_eq!(releases.load(Relaxed), 1, "round {round}");
            assert_eq!(t.counters[0].usage(), 0);
        }
    }

    /// Defect 7 of the proof issue: a sum past what a counter holds, on
    /// levels without a max, is no `max` event (it was counted as one).
    #[test]
    fn too_large_is_not_a_max_event() {
        let t = Tree::new(std::vec![None, Some(0)]);
        assert!(tc(t.at(1), MAX_USAGE, 0).is_ok());
        assert!(matches!(
            tc(t.at(1), SPECULATIVE_MAX, 0),
            Err(Refusal::TooLarge)
        ));
        assert!(matches!(
            tc(t.at(1), u64::MAX / 2, 0),
            Err(Refusal::TooLarge)
        ));
        assert_eq!(t.counters[1].events(), (0, 0));
        assert_eq!(t.counters[0].events(), (0, 0));
        // A level that has a max still counts its refusals.
        t.counters[0].set(Setting::Max, MAX_USAGE - 1);
        assert!(un(t.at(1), MAX_USAGE, 0));
        assert!(matches!(tc(t.at(1), MAX_USAGE, 0), Err(Refusal::Limit(_))));
        assert_eq!(t.counters[0].events(), (1, 1));
        assert_eq!(t.counters[0].usage(), 0);
    }

    /// Defect 5: a charge refused above a level without a max must not show
    /// in that level's peak beyond what the limit above lets through.
    #[test]
    fn peak_never_exceeds_the_lowest_max_above() {
        // 0 (max 100) <- 1 (no max): the leaf adds before it looks.
        let t = Tree::new(std::vec![None, Some(0)]);
        t.counters[0].set(Setting::Max, 100);
        // A charge of 150 in flight on the leaf, to be refused by the root...
        let refused = raise(t.at(1), 150).err().expect("refused at the root");
        // ...while a charge of 1 commits and brings the peaks up to date.
        assert!(tc(t.at(1), 1, 0).is_ok());
        assert!(matches!(
            refused.roll_back(|_: Released<TNode>| ()),
            Refusal::Limit(_)
        ));
        assert_eq!(t.counters[1].usage(), 1);
        assert!(t.counters[1].peak() <= 100, "peak {}", t.counters[1].peak());
        assert!(un(t.at(1), 1, 0));
    }

    /// A look before taking memory gives the refusal a charge would give,
    /// counts a limit event as a charge would, and raises nothing.
    #[test]
    fn refusal_now_answers_as_a_charge_without_charging() {
        // 0 <- 1 (max 100) <- 2
        let t = Tree::new(std::vec![None, Some(0), Some(1)]);
        t.counters[1].set(Setting::Max, 100);
        assert!(tc(t.at(2), 60, 0).is_ok());
        assert!(refusal_now(t.at(2), 40).is_none());
        let refusal = refusal_now(t.at(2), 41);
        assert!(matches!(refusal, Some(Refusal::Limit(l)) if core::ptr::eq(l, t.at(1))));
        assert_eq!(t.counters[1].events(), (0, 0));
        refusal.expect("refused").count();
        assert!(matches!(tc(t.at(2), 41, 0), Err(Refusal::Limit(l)) if core::ptr::eq(l, t.at(1))));
        assert_eq!(t.counters[1].events(), (2, 2));
        assert_eq!(t.counters[0].events(), (2, 0));
        assert!(matches!(
            refusal_now(t.at(2), MAX_USAGE),
            Some(Refusal::TooLarge)
        ));
        assert_eq!(t.counters[1].events(), (2, 2));
        for c in &t.counters {
            assert_eq!(c.usage(), 60);
        }
        t.counters[2].close(CLOSED_OFFLINE);
        assert!(matches!(refusal_now(t.at(2), 1), Some(Refusal::Closed)));
    }

    #[test]
    fn peak_reset_takes_current_usage() {
        let t = Tree::new(std::vec![None]);
        assert!(tc(t.at(0), 70, 0).is_ok());
        assert!(un(t.at(0), 50, 0));
        assert_eq!(t.counters[0].peak(), 70);
        assert_eq!(t.counters[0].reset_peak_since(), 70);
        assert_eq!(t.counters[0].peak_since_reset(), 20);
        assert_eq!(t.counters[0].peak(), 70);
        assert!(tc(t.at(0), 10, 0).is_ok());
        assert_eq!(t.counters[0].peak_since_reset(), 30);
        assert_eq!(t.counters[0].peak(), 70);
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Random trees and operations checked against a model that recomputes
    /// every subtree's usage from the list of live charges.
    #[test]
    fn matches_a_reference_model() {
        for seed in 0..200 {
            let mut rng = Rng(seed);
            let n = 1 + rng.below(12) as usize;
            let parents: Vec<Option<usize>> = (0..n)
                .map(|i| {
                    if i == 0 {
                        None
                    } else {
                        Some(rng.below(i as u64) as usize)
                    }
                })
                .collect();
            let t = Tree::new(parents);
            let mut max = std::vec![u64::MAX; n];
            let mut live: Vec<(usize, u64, usize)> = Vec::new();
            let mut events = std::vec![(0u64, 0u64); n];
            for _ in 0..300 {
                match rng.below(10) {
                    0..=4 => {
                        let (node, amount, consumer) = (
                            rng.below(n as u64) as usize,
                            rng.below(64),
                            rng.below(4) as usize,
                        );
                        let path = t.path(node);
                        let model_usage = |i: usize| -> u64 {
                            live.iter()
                                .filter(|(c, _, _)| t.path(*c).contains(&i))
                                .map(|(_, a, _)| a)
                                .sum()
                        };
                        let first_over = path
                            .iter()
                            .copied()
                            .find(|&i| model_usage(i) + amount > max[i]);
                        match tc(t.at(node), amount, consumer) {
                            Ok(()) => {
                                assert_eq!(first_over, None);
                                live.push((node, amount, consumer));
                            }
                            Err(Refusal::Closed) => panic!("nothing is closed"),
                            Err(Refusal::TooLarge) => panic!("amounts are small"),
                            Err(Refusal::Limit(at)) => {
                                let hit = index_of(&t, at.counter());
                                assert_eq!(first_over, Some(hit));
                                events[hit].1 += 1;
                                for i in t.path(hit) {
                                    events[i].0 += 1;
                                }
                            }
                        }
                    }
                    5..=7 if !live.is_empty() => {
                        let (node, amount, consumer) =
                            live.swap_remove(rng.below(live.len() as u64) as usize);
                        assert!(un(t.at(node), amount, consumer));
                    }
                    _ => {
                        let i = rng.below(n as u64) as usize;
                        max[i] = if rng.below(3) == 0 {
                            u64::MAX
                        } else {
                            rng.below(200)
                        };
                        t.counters[i].set(Setting::Max, max[i]);
                    }
                }
                for i in 0..n {
                    let in_subtree = |c: &usize| t.path(*c).contains(&i);
                    let usage: u64 = live
                        .iter()
                        .filter(|(c, _, _)| in_subtree(c))
                        .map(|(_, a, _)| a)
                        .sum();
                    assert_eq!(t.counters[i].usage(), usage, "seed {seed} node {i}");
                    assert!(t.counters[i].peak() >= usage);
                    assert_eq!(t.counters[i].events(), events[i]);
                    for k in 0..NR_CONSUMERS {
                        let by = |here: &dyn Fn(&usize) -> bool| -> u64 {
                            live.iter()
                                .filter(|(c, _, kk)| here(c) && *kk == k)
                                .map(|(_, a, _)| a)
                                .sum()
                        };
                        assert_eq!(local(&t, i, k), by(&|c| *c == i));
                        assert_eq!(subtree_consumer(&t, i, k), by(&in_subtree));
                    }
                }
            }
        }
    }

    /// Threads charging one hierarchy concurrently never push any level over
    /// its max (as seen by a concurrent reader) and leave zero behind.
    #[test]
    fn concurrent_charges_never_overshoot() {
        // 0 <- 1 <- {2, 3}: leaves charge concurrently under two limits.
        let t = Tree::new(std::vec![None, Some(0), Some(1), Some(1)]);
        let limits = [u64::MAX, 1000, 700, 600];
        for (i, max) in limits.iter().enumerate() {
            t.counters[i].set(Setting::Max, *max);
        }
        let counters = t.counters.clone();
        let stop: &'static std::sync::atomic::AtomicBool = std::boxed::Box::leak(
            std::boxed::Box::new(std::sync::atomic::AtomicBool::new(false)),
        );
        let reader = std::thread::spawn(move || {
            let mut worst = [0u64; 4];
            while !stop.load(Relaxed) {
                for (w, c) in worst.iter_mut().zip(&counters) {
                    *w = (*w).max(c.usage());
                }
            }
            worst
        });
        let workers: Vec<_> = (0..4u64)
            .map(|w| {
                let leaf = t.at(2 + (w % 2) as usize);
                std::thread::spawn(move || {
                    let mut rng = Rng(w);
                    let mut held = std::collections::VecDeque::new();
                    for _ in 0..100_000 {
                        let amount = 1 + rng.below(300);
                        if tc(leaf, amount, 0).is_ok() {
                            held.push_back(amount);
                        }
                        if held.len() > 2 || rng.below(2) == 0 {
                            if let Some(amount) = held.pop_front() {
                                assert!(un(leaf, amount, 0));
                            }
                        }
                    }
                    for amount in held {
                        assert!(un(leaf, amount, 0));
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        stop.store(true, Relaxed);
        let worst = reader.join().unwrap();
        for i in 0..4 {
            assert!(worst[i] <= limits[i], "level {i} reached {}", worst[i]);
            assert!(t.counters[i].peak() <= limits[i]);
            assert_eq!(t.counters[i].usage(), 0);
        }
        assert!(t.counters[1].events().0 > 0, "the test never hit a limit");
    }
}
