// SPDX-License-Identifier: GPL-2.0

//! Model checking of the counters' lock-free protocol with `loom`.
//!
//! Each model runs the real `counter.rs` code, its atomics swapped for loom's
//! (see `sync`), in 2 or 3 threads, and loom runs it under every interleaving
//! of their atomic operations (and every value a relaxed load may return).
//! The trees are freed after each run, never leaked, and a release of a
//! detached counter marks its atomics freed: an access after release fails
//! the model (defect 1 of the proof issue was one).
//!
//! Invariants checked in every interleaving:
//! - each close flag is released exactly once, and only once no committed
//!   charge is left below it ("after the last byte is gone");
//! - nothing touches a counter after its release freed it;
//! - a legitimate uncharge always finds its bytes (usage never below 0);
//! - no level is seen above a `max` that was not lowered during the model, and
//!   `dev.peak` never exceeds the `max` of the level or an ancestor.
//!
//! Run with `scripts/loom.sh` (part of `make test`):
//! `RUSTFLAGS="--cfg loom" cargo test --release loom_models`. Every model
//! runs exhaustively but those with three threads, bounded at 3 or 4
//! preemptions (each says which); larger models would need
//! `LOOM_MAX_PREEMPTIONS`.

use super::counter::{
    self, fill_line, AncestorLink, Counter, Node, ParentLink, Refusal, Released, Setting,
    CLOSED_DETACHED, CLOSED_OFFLINE,
};
use core::ptr::NonNull;
use loom::thread;
use std::boxed::Box;
use std::sync::atomic::{AtomicU64 as ModelU64, Ordering::SeqCst};
use std::sync::Arc;
use std::vec::Vec;

/// A node of a model tree.
struct LNode {
    counter: Counter,
    parent: ParentLink<LNode>,
    line: Vec<AncestorLink<LNode>>,
    /// Close flags released so far (model bookkeeping, not under test).
    released: ModelU64,
    /// Close flags set so far.
    closed: ModelU64,
    /// Bytes of charges that succeeded and whose uncharge has not started,
    /// in this node's subtree.
    committed: ModelU64,
    /// Whether `release_info` reads the node through a model atomic (see
    /// there); only where a model needs it, as each read multiplies the
    /// interleavings.
    probe_release_info: bool,
}

// SAFETY: `line` is made by `fill_line` from `parent` (empty at the root),
// both set once, before the tree is shared.
unsafe impl Node for LNode {
    type ReleaseInfo = NonNull<LNode>;
    fn counter(&self) -> &Counter {
        &self.counter
    }
    fn parent(&self) -> Option<&Self> {
        self.parent.get()
    }
    fn line(&self) -> &[AncestorLink<Self>] {
        &self.line
    }
    /// Reads the node as the kernel's pools do (their css link): through a
    /// counter atomic here, so that reading a node another flag's holder has
    /// freed (`mark_freed`) fails the model.
    fn release_info(&self) -> NonNull<LNode> {
        if self.probe_release_info {
            let _ = self.counter.usage();
        }
        NonNull::from(self)
    }
}

/// Node `i`'s parent is `parents[i]`, an earlier node. Freed when the model
/// run ends, so each run starts from fresh memory.
struct Tree {
    nodes: Box<[LNode]>,
}

// SAFETY: nodes are shared through atomics only; parent pointers are written
// before the tree is shared and point into the same allocation.
unsafe impl Send for Tree {}
// SAFETY: as above.
unsafe impl Sync for Tree {}

impl Tree {
    fn new(parents: &[Option<usize>]) -> Arc<Tree> {
        Self::build(parents, false)
    }

    /// A tree whose nodes' `release_info` is a model access (see `LNode`).
    fn probing_release_info(parents: &[Option<usize>]) -> Arc<Tree> {
        Self::build(parents, true)
    }

    fn build(parents: &[Option<usize>], probe_release_info: bool) -> Arc<Tree> {
        let mut nodes: Box<[LNode]> = parents
            .iter()
            .map(|_| LNode {
                counter: Counter::new(),
                parent: ParentLink::root(),
                line: Vec::new(),
                released: ModelU64::new(0),
                closed: ModelU64::new(0),
                committed: ModelU64::new(0),
                probe_release_info,
            })
            .collect();
        let base = nodes.as_mut_ptr();
        for (i, p) in parents.iter().enumerate() {
            assert!(p.map_or(true, |p| p < i));
            if let Some(p) = *p {
                // SAFETY: `p < i < nodes.len()`; the boxed slice never moves
                // and is freed as a whole, after every node's last use.
                nodes[i].parent = unsafe { ParentLink::new(&*base.add(p)) };
            }
            let mut line = Vec::new();
            if let Some(parent) = nodes[i].parent() {
                // SAFETY: into node `i`'s own line, from the parent just set,
                // whose line is complete (`p < i`); neither changes
                // afterwards.
                unsafe { fill_line(parent, |link| line.push(link)) };
            }
            nodes[i].line = line;
        }
        Arc::new(Tree { nodes })
    }

    fn at(&self, i: usize) -> &LNode {
        &self.nodes[i]
    }

    /// Charges `amount` to node `i`; on success, counts it as committed.
    fn charge(&self, i: usize, amount: u64) -> bool {
        let node = self.at(i);
        match counter::try_charge(node, amount, 0, release) {
            Ok(()) => {
                for level in ancestors(node) {
                    level.committed.fetch_add(amount, SeqCst);
                }
                true
            }
            Err(Refusal::Limit(_) | Refusal::Closed | Refusal::TooLarge) => false,
        }
    }

    /// Uncharges a committed charge of `amount` from node `i`; returns
    /// whether every level covered it.
    fn uncharge(&self, i: usize, amount: u64) -> bool {
        let node = self.at(i);
        for level in ancestors(node) {
            level.committed.fetch_sub(amount, SeqCst);
        }
        // SAFETY: the caller holds a committed charge of `amount` on node `i`.
        unsafe { counter::uncharge(NonNull::from(node), amount, 0, release) }.is_ok()
    }

    /// A driver bug: gives back its committed charge of `charged` bytes on
    /// node `i` as an uncharge of `amount`, more than the node holds.
    fn over_uncharge(&self, i: usize, charged: u64, amount: u64) -> bool {
        let node = self.at(i);
        for level in ancestors(node) {
            level.committed.fetch_sub(charged, SeqCst);
        }
        // SAFETY: not the charge held, which is the point: the counter must
        // clamp without letting the bug free what others still hold.
        unsafe { counter::uncharge(NonNull::from(node), amount, 0, release) }.is_ok()
    }

    /// Closes node `i` with `flag`, releasing it if the close claimed it.
    fn close(&self, i: usize, flag: u64) {
        let node = self.at(i);
        node.closed.fetch_or(flag, SeqCst);
        // SAFETY: model nodes live as long as their tree; a model detaches
        // a node only once (the kernel does it once it took the node out of
        // its table).
        if let Some(released) = unsafe { counter::close_owned(NonNull::from(node), flag) } {
            release(released);
        }
    }

    /// Every close flag set was released exactly once (each release checked
    /// there that it was the first).
    fn assert_all_released(&self) {
        for (i, node) in self.nodes.iter().enumerate() {
            assert_eq!(
                node.released.load(SeqCst),
                node.closed.load(SeqCst),
                "node {i}: closed flags not released exactly once"
            );
        }
    }
}

fn ancestors(node: &LNode) -> impl Iterator<Item = &LNode> {
    let mut next = Some(node);
    core::iter::from_fn(move || {
        let this = next?;
        next = this.parent();
        Some(this)
    })
}

/// What the kernel's `release` does, checked: a flag is released once, only
/// when no committed charge is left in the subtree, and releasing a detached
/// counter frees it.
fn release(released: Released<LNode>) {
    // SAFETY: model nodes live as long as their tree; "freeing" only marks
    // the counter's atomics, and only bookkeeping is read here.
    let (node, flags) = (unsafe { released.info().as_ref() }, released.flags());
    assert_eq!(
        node.committed.load(SeqCst),
        0,
        "released while a committed charge is still held"
    );
    let before = node.released.fetch_or(flags, SeqCst);
    assert_eq!(before & flags, 0, "a close flag was released twice");
    if flags & CLOSED_DETACHED != 0 {
        node.counter.mark_freed();
    }
}

/// Runs `f` under every interleaving (no preemption bound, unless
/// `LOOM_MAX_PREEMPTIONS` sets one) and prints how many there were.
fn model(f: impl Fn() + Sync + Send + 'static) {
    check(loom::model::Builder::new(), f)
}

/// As [`model`], with at most `preemptions` preemptions per interleaving.
fn model_bounded(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    check(builder, f)
}

fn check(builder: loom::model::Builder, f: impl Fn() + Sync + Send + 'static) {
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = runs.clone();
    builder.check(move || {
        counted.fetch_add(1, SeqCst);
        f()
    });
    std::println!("loom: {} interleavings explored", runs.load(SeqCst));
}

/// Defect 1: the uncharge that empties a detached pool races the close that
/// detaches it. Whoever claims the release frees the pool, and the other
/// must not touch it afterwards.
#[test]
fn last_uncharge_vs_close_detached() {
    model(|| {
        // 0 <- 1: one charge of 1 byte on the leaf.
        let tree = Tree::new(&[None, Some(0)]);
        assert!(tree.charge(1, 1));
        let t = tree.clone();
        let uncharger = thread::spawn(move || assert!(t.uncharge(1, 1)));
        // The device goes: its pools are detached children first.
        tree.close(1, CLOSED_DETACHED);
        tree.close(0, CLOSED_DETACHED);
        uncharger.join().unwrap();
        tree.assert_all_released();
    });
}

/// Two pools under one parent emptied concurrently while the device goes:
/// the parent is released only after both children's bytes left it.
#[test]
fn uncharges_of_siblings_vs_close_detached() {
    model(|| {
        let tree = Tree::new(&[None, Some(0), Some(0)]);
        assert!(tree.charge(1, 1));
        assert!(tree.charge(2, 2));
        let t1 = tree.clone();
        let a = thread::spawn(move || assert!(t1.uncharge(1, 1)));
        let t2 = tree.clone();
        let b = thread::spawn(move || assert!(t2.uncharge(2, 2)));
        tree.close(1, CLOSED_DETACHED);
        tree.close(2, CLOSED_DETACHED);
        tree.close(0, CLOSED_DETACHED);
        a.join().unwrap();
        b.join().unwrap();
        tree.assert_all_released();
    });
}

/// A charge (refused or not by the parent's max) and its uncharge race the
/// cgroup going offline, with an older charge still held. Afterwards the
/// older charge is uncharged and the device goes.
#[test]
fn charge_vs_close_offline() {
    for parent_max in [u64::MAX, 2] {
        model(move || {
            let tree = Tree::new(&[None, Some(0)]);
            tree.at(0).counter.set(Setting::Max, parent_max);
            assert!(tree.charge(1, 1));
            let t = tree.clone();
            let charger = thread::spawn(move || {
                if t.charge(1, 2) {
                    assert!(t.uncharge(1, 2));
                }
            });
            tree.close(1, CLOSED_OFFLINE);
            charger.join().unwrap();
            assert!(tree.uncharge(1, 1));
            assert_eq!(tree.at(1).counter.usage(), 0);
            assert_eq!(tree.at(0).counter.usage(), 0);
            // Nothing charges a closed pool.
            assert!(!tree.charge(1, 1));
            tree.close(1, CLOSED_DETACHED);
            tree.close(0, CLOSED_DETACHED);
            tree.assert_all_released();
        });
    }
}

/// The last uncharge races a charge that a closed counter refuses after
/// adding before it looked: whichever leaves it empty releases it, once.
#[test]
fn last_uncharge_vs_refused_charge_on_offline_counter() {
    model(|| {
        let tree = Tree::new(&[None, Some(0)]);
        assert!(tree.charge(1, 1));
        tree.close(1, CLOSED_OFFLINE);
        let t = tree.clone();
        let charger = thread::spawn(move || assert!(!t.charge(1, 2)));
        assert!(tree.uncharge(1, 1));
        charger.join().unwrap();
        tree.close(1, CLOSED_DETACHED);
        tree.close(0, CLOSED_DETACHED);
        tree.assert_all_released();
    });
}

/// The offline close, then the detach, of a pool whose last charge is being
/// uncharged: two flags, each released once, the pool freed once, and the
/// holder of the offline flag never reads the pool after its claim (the
/// detach's holder may have freed it).
#[test]
fn last_uncharge_vs_close_offline_then_detached() {
    model(|| {
        let tree = Tree::probing_release_info(&[None, Some(0)]);
        assert!(tree.charge(1, 3));
        let t = tree.clone();
        let uncharger = thread::spawn(move || assert!(t.uncharge(1, 3)));
        // Offline and detach are serialised by the cgroup's table lock.
        tree.close(1, CLOSED_OFFLINE);
        tree.close(1, CLOSED_DETACHED);
        tree.close(0, CLOSED_DETACHED);
        uncharger.join().unwrap();
        tree.assert_all_released();
    });
}

/// Charges across two levels while the leaf's max is lowered: the parent,
/// whose max stays, is never seen above it, nor is any peak above the
/// lowest max on its path.
#[test]
fn charges_across_two_levels_vs_lowering_max() {
    model(|| {
        // 0 (max 2) <- 1 (no max): the leaf adds before it looks.
        let tree = Tree::new(&[None, Some(0)]);
        tree.at(0).counter.set(Setting::Max, 2);
        let t1 = tree.clone();
        let a = thread::spawn(move || t1.charge(1, 2));
        let t2 = tree.clone();
        let b = thread::spawn(move || {
            let charged = t2.charge(1, 1);
            assert!(t2.at(0).counter.usage() <= 2, "parent above its max");
            charged
        });
        tree.at(1).counter.set(Setting::Max, 1);
        assert!(tree.at(0).counter.usage() <= 2, "parent above its max");
        let held = [(a.join().unwrap(), 2), (b.join().unwrap(), 1)];
        // The parent's max never moved: at most one of them fits.
        assert!(!(held[0].0 && held[1].0));
        for i in 0..2 {
            let peak = tree.at(i).counter.peak();
            assert!(peak <= 2, "node {i}: peak {peak} above the parent's max");
        }
        for (charged, amount) in held {
            if charged {
                assert!(tree.uncharge(1, amount));
            }
        }
        assert_eq!(tree.at(0).counter.usage(), 0);
    });
}

/// Defect 3: a driver over-uncharges one pool while its sibling's charge is
/// uncharged and the device goes. The parent must not be emptied (and
/// released) by the bug while the sibling's bytes are still in it.
#[test]
fn over_uncharge_vs_close_detached() {
    model(|| {
        let tree = Tree::new(&[None, Some(0), Some(0)]);
        assert!(tree.charge(1, 1));
        assert!(tree.charge(2, 1));
        let t1 = tree.clone();
        let buggy = thread::spawn(move || assert!(!t1.over_uncharge(1, 1, 2)));
        let t2 = tree.clone();
        let sibling = thread::spawn(move || assert!(t2.uncharge(2, 1)));
        tree.close(1, CLOSED_DETACHED);
        tree.close(2, CLOSED_DETACHED);
        tree.close(0, CLOSED_DETACHED);
        buggy.join().unwrap();
        sibling.join().unwrap();
        tree.assert_all_released();
    });
}

/// Defect 6: two over-uncharges by another consumer than the pool's owner
/// race; the per-consumer count must end at zero, never wrapped.
#[test]
fn racing_over_uncharges_leave_no_wrapped_consumer_count() {
    model(|| {
        let tree = Tree::new(&[None]);
        // Consumer 0 owns the pool; consumer 1's bytes are counted apart.
        assert!(counter::try_charge(tree.at(0), 1, 0, release).is_ok());
        assert!(counter::try_charge(tree.at(0), 1, 1, release).is_ok());
        let over = |t: Arc<Tree>| {
            move || {
                // SAFETY: a deliberate driver bug on a live tree.
                let _ = unsafe { counter::uncharge(NonNull::from(t.at(0)), 2, 1, release) };
            }
        };
        let a = thread::spawn(over(tree.clone()));
        let b = thread::spawn(over(tree.clone()));
        a.join().unwrap();
        b.join().unwrap();
        let c = &tree.at(0).counter;
        assert_eq!(c.local_usage(1, c.usage()), 0);
    });
}

// ---- Races found in review: each failed before its fix. ----

/// A buggy over-uncharge on one leaf races a charge to the same leaf that
/// the full parent refuses. The charge in flight (the leaf has no max, so it
/// added before it looked) makes the leaf "cover" the bug, which then takes
/// the sibling's byte from the parent, unreported; the parent was freed
/// under the sibling's charge once the device went. Raising from the root
/// down, a leaf never holds bytes its parent does not.
#[test]
fn over_uncharge_masked_by_a_charge_in_flight_vs_close_detached() {
    model(|| {
        // 0 (max 2) <- {1, 2}: the leaves have no max.
        let tree = Tree::new(&[None, Some(0), Some(0)]);
        tree.at(0).counter.set(Setting::Max, 2);
        assert!(tree.charge(1, 1)); // the buggy driver's charge
        assert!(tree.charge(2, 1)); // the sibling's charge
        let t1 = tree.clone();
        // Usually refused: the parent is full.
        let charger = thread::spawn(move || t1.charge(1, 1));
        let t2 = tree.clone();
        let buggy = thread::spawn(move || {
            let _ = t2.over_uncharge(1, 1, 2);
        });
        let charged = charger.join().unwrap();
        buggy.join().unwrap();
        if charged {
            // Its bytes may have been taken by the bug: that damage stays
            // in the buggy driver's own pool, and is not what this checks.
            let _ = tree.uncharge(1, 1);
        }
        // No charge in flight any more: the device may go.
        tree.close(1, CLOSED_DETACHED);
        tree.close(2, CLOSED_DETACHED);
        tree.close(0, CLOSED_DETACHED);
        assert!(tree.uncharge(2, 1), "the sibling's byte was taken");
        tree.assert_all_released();
    });
}

/// A `max` lowered below usage between a charge's raise and its commit
/// (accepted, see `Counter::set`) must not cap `dev.peak` below a usage that
/// was really reached (and below `dev.current`).
#[test]
fn peak_not_below_usage_when_max_lowered_during_charge() {
    model(|| {
        let tree = Tree::new(&[None]);
        tree.at(0).counter.set(Setting::Max, 2);
        let t = tree.clone();
        let charger = thread::spawn(move || t.charge(0, 2));
        tree.at(0).counter.set(Setting::Max, 1);
        if charger.join().unwrap() {
            let c = &tree.at(0).counter;
            assert!(
                c.peak() >= c.usage(),
                "peak {} below usage {}",
                c.peak(),
                c.usage()
            );
            assert!(tree.uncharge(0, 2));
        }
    });
}

/// A charge refused by a closed parent that has no max (so it added before
/// it looked) races the last uncharge and the close of the leaf: each flag
/// released exactly once.
#[test]
fn refused_at_closed_parent_vs_last_uncharge_and_close() {
    model(|| {
        let tree = Tree::new(&[None, Some(0)]);
        assert!(tree.charge(1, 1));
        tree.close(0, CLOSED_OFFLINE);
        let t1 = tree.clone();
        let charger = thread::spawn(move || assert!(!t1.charge(1, 2)));
        tree.close(1, CLOSED_OFFLINE);
        assert!(tree.uncharge(1, 1));
        charger.join().unwrap();
        tree.close(1, CLOSED_DETACHED);
        tree.close(0, CLOSED_DETACHED);
        tree.assert_all_released();
    });
}

/// Two charges refused by an offline counter (both add before they look)
/// race its last uncharge. Three threads: bounded at 3 preemptions.
#[test]
fn two_refused_charges_vs_last_uncharge_on_offline_counter() {
    model_bounded(3, || {
        let tree = Tree::new(&[None, Some(0)]);
        assert!(tree.charge(1, 1));
        tree.close(1, CLOSED_OFFLINE);
        let t1 = tree.clone();
        let a = thread::spawn(move || assert!(!t1.charge(1, 2)));
        let t2 = tree.clone();
        let b = thread::spawn(move || assert!(!t2.charge(1, 3)));
        assert!(tree.uncharge(1, 1));
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(tree.at(1).counter.usage(), 0);
        tree.close(1, CLOSED_DETACHED);
        tree.close(0, CLOSED_DETACHED);
        tree.assert_all_released();
    });
}

/// A refusal is `Limit` or `TooLarge` by the `max` the refusing level
/// compared against: a `max` raised to "max" meanwhile must not turn a limit
/// refusal of a tiny charge into `TooLarge` (-ENOMEM, not -EAGAIN: TTM then
/// neither evicts nor retries).
#[test]
fn raising_max_during_refusal_is_not_too_large() {
    model(|| {
        let tree = Tree::new(&[None]);
        tree.at(0).counter.set(Setting::Max, 1);
        let t = tree.clone();
        let charger = thread::spawn(move || {
            match counter::try_charge(t.at(0), 2, 0, release) {
                Ok(()) => {
                    // SAFETY: the charge just made.
                    assert!(
                        unsafe { counter::uncharge(NonNull::from(t.at(0)), 2, 0, release) }.is_ok()
                    );
                }
                Err(Refusal::TooLarge) => panic!("a 2-byte charge refused as too large"),
                Err(Refusal::Limit(_) | Refusal::Closed) => {}
            }
        });
        tree.at(0).counter.set(Setting::Max, u64::MAX);
        charger.join().unwrap();
    });
}

// ---- Over-uncharges masked by charges in flight. ----
//
// Charges raised from the pool up, with a roll-back that gave back to the
// levels it never raised what a masked over-uncharge took there, failed
// every model of this section but the last; raising from the root down
// (with no compensation) passes them all.

impl Tree {
    /// No level holds bytes that no committed charge accounts for: once
    /// nothing is in flight, a level's usage may fall short of its committed
    /// bytes (a driver bug's damage) but never exceed them, or the excess
    /// would block its `max` and its release forever.
    fn assert_no_phantom_bytes(&self) {
        let phantom: Vec<(usize, u64, u64)> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (i, n.counter.usage(), n.committed.load(SeqCst)))
            .filter(|(_, usage, committed)| usage > committed)
            .collect();
        assert!(
            phantom.is_empty(),
            "phantom bytes (node, usage, committed): {phantom:?}"
        );
    }
}

/// A roll-back that gave back `amount - taken` to the levels it never
/// raised (bottom-up raising). That is only what the over-uncharge took there if its walk
/// was not clamped above: here the parent holds just the buggy driver's own
/// byte, so the bug takes 1 there, not 2, and the compensation leaves a
/// phantom byte in a parent whose `max` is 1: every later charge is refused,
/// and the detached parent is never released.
#[test]
fn over_uncharge_clamped_above_leaves_no_phantom_bytes() {
    model(|| {
        // 0 (max 1) <- 1 (no max).
        let tree = Tree::new(&[None, Some(0)]);
        tree.at(0).counter.set(Setting::Max, 1);
        assert!(tree.charge(1, 1)); // the buggy driver's charge
        let t1 = tree.clone();
        // Refused while the parent is full.
        let charger = thread::spawn(move || t1.charge(1, 1));
        let t2 = tree.clone();
        let buggy = thread::spawn(move || {
            let _ = t2.over_uncharge(1, 1, 2);
        });
        if charger.join().unwrap() {
            let _ = tree.uncharge(1, 1);
        }
        buggy.join().unwrap();
        tree.assert_no_phantom_bytes();
        tree.close(1, CLOSED_DETACHED);
        tree.close(0, CLOSED_DETACHED);
        tree.assert_all_released();
    });
}

/// Raising bottom-up, an over-uncharge (of bytes the
/// driver never charged) masked by the charge's bytes in the leaf can pass
/// the middle level before the charge raises it, and take nothing there nor
/// above. The charge then raises the middle level and is refused by the full
/// root: its roll-back finds the leaf empty, stops (nothing left to take), so
/// never takes its byte back from the middle level, and compensates the root
/// for bytes the bug never took there.
#[test]
fn over_uncharge_before_a_raise_leaves_no_phantom_bytes() {
    model(|| {
        // 0 (max 1) <- 1 <- 2, and 0 <- 3: only 0 has a max.
        let tree = Tree::new(&[None, Some(0), Some(1), Some(0)]);
        tree.at(0).counter.set(Setting::Max, 1);
        assert!(tree.charge(3, 1)); // the sibling fills the root
        let t1 = tree.clone();
        let charger = thread::spawn(move || t1.charge(2, 1));
        let t2 = tree.clone();
        // A driver uncharges a byte it never charged.
        let buggy = thread::spawn(move || {
            let _ = t2.over_uncharge(2, 0, 1);
        });
        if charger.join().unwrap() {
            let _ = tree.uncharge(2, 1);
        }
        buggy.join().unwrap();
        tree.assert_no_phantom_bytes();
        assert!(tree.uncharge(3, 1), "the sibling's byte was taken");
        for i in [2, 1, 3, 0] {
            tree.close(i, CLOSED_DETACHED);
        }
        tree.assert_all_released();
    });
}

/// A compensating roll-back (bottom-up raising) may land before the over-uncharge's walk reaches the
/// levels it gives back to: until then they hold the bug's bytes and the
/// compensation both, above a `max` they were full at. Readers (and the
/// refused charger itself, right after) see `dev.current` above `dev.max`.
#[test]
fn masked_over_uncharge_never_shows_a_level_above_its_max() {
    model(|| {
        // 0 (max 2) <- {1, 2}: the leaves have no max.
        let tree = Tree::new(&[None, Some(0), Some(0)]);
        tree.at(0).counter.set(Setting::Max, 2);
        assert!(tree.charge(1, 1)); // the buggy driver's charge
        assert!(tree.charge(2, 1)); // the sibling's charge
        let t1 = tree.clone();
        let charger = thread::spawn(move || {
            let charged = t1.charge(1, 1);
            let usage = t1.at(0).counter.usage();
            assert!(usage <= 2, "parent at {usage}, above its max of 2");
            charged
        });
        let t2 = tree.clone();
        let buggy = thread::spawn(move || {
            let _ = t2.over_uncharge(1, 1, 2);
        });
        if charger.join().unwrap() {
            let _ = tree.uncharge(1, 1);
        }
        buggy.join().unwrap();
        assert!(tree.uncharge(2, 1), "the sibling's byte was taken");
    });
}

/// As above, but what is seen above `max` stays: a charge committed in that
/// window brings `dev.peak` up to the inflated usage, which `update_peaks`
/// does not cap since usage is above `max` (as after a lowered `max`).
/// Three threads: bounded at 4 preemptions (3 do not reach it).
#[test]
fn masked_over_uncharge_does_not_raise_peak_above_max() {
    model_bounded(4, || {
        // 0 (max 3) <- {1, 2}: the leaves have no max.
        let tree = Tree::new(&[None, Some(0), Some(0)]);
        tree.at(0).counter.set(Setting::Max, 3);
        assert!(tree.charge(1, 1)); // the buggy driver's charge
        assert!(tree.charge(2, 1)); // the sibling's charge
        let t1 = tree.clone();
        let charger = thread::spawn(move || t1.charge(1, 2));
        let t2 = tree.clone();
        let buggy = thread::spawn(move || {
            let _ = t2.over_uncharge(1, 1, 3);
        });
        let sibling = tree.charge(2, 1);
        let charged = charger.join().unwrap();
        buggy.join().unwrap();
        let peak = tree.at(0).counter.peak();
        assert!(peak <= 3, "parent's peak {peak} above its max of 3");
        if charged {
            let _ = tree.uncharge(1, 2);
        }
        if sibling {
            assert!(tree.uncharge(2, 1));
        }
    });
}

/// The refusing level itself may be closed (the cgroups go offline while the
/// charge is in flight; `dev_cgroup_try_charge_css` charges a named cgroup
/// that may be dying): it then adds before it looks, after the masked
/// over-uncharge passed it. The bug's walk takes the middle level's own
/// committed byte there, empties it, and releases its offline reference
/// while that charge is still held; no roll-back can undo a release. (In the
/// kernel that css reference is what keeps the pool, freed with the css,
/// alive under the charge.) The root's max makes the charge always refused.
#[test]
fn masked_over_uncharge_does_not_release_a_closing_level_under_a_charge() {
    model(|| {
        // 0 (max 2) <- 1 <- 2.
        let tree = Tree::new(&[None, Some(0), Some(1)]);
        tree.at(0).counter.set(Setting::Max, 2);
        assert!(tree.charge(1, 1)); // a charge made to the middle level itself
        assert!(tree.charge(2, 1)); // the buggy driver's charge
        let t1 = tree.clone();
        let charger = thread::spawn(move || assert!(!t1.charge(2, 1)));
        let t2 = tree.clone();
        let buggy = thread::spawn(move || {
            // Offline, children first, then the driver's bug.
            t2.close(2, CLOSED_OFFLINE);
            t2.close(1, CLOSED_OFFLINE);
            let _ = t2.over_uncharge(2, 1, 2);
        });
        charger.join().unwrap();
        buggy.join().unwrap();
        assert!(tree.uncharge(1, 1), "the middle level's byte was taken");
        tree.assert_no_phantom_bytes();
        for i in [2, 1, 0] {
            tree.close(i, CLOSED_DETACHED);
        }
        tree.assert_all_released();
    });
}

/// A compensating roll-back (bottom-up raising) may add to a level that is closed and already released.
/// The middle level refuses the charge without raising (its `max` was read
/// before the offline reset, and its word is closed): it is `until`, so the
/// compensation starts there. But the over-uncharge, masked by the charge's
/// byte in the leaf, emptied it meanwhile (it held only the bug's own byte,
/// so its walk was clamped there) and released its offline reference. The
/// byte given back is phantom: the detached pool is then never released,
/// and nothing releases it again. The root's `max` makes the charge always
/// refused. Only the middle level is checked here (the root's own phantom
/// is the clamp above, see the first model of this section).
#[test]
fn refused_charge_adds_nothing_to_a_closed_released_level() {
    model(|| {
        // 0 (max 1) <- 1 (max 2) <- 2 (no max).
        let tree = Tree::new(&[None, Some(0), Some(1)]);
        tree.at(0).counter.set(Setting::Max, 1);
        tree.at(1).counter.set(Setting::Max, 2);
        assert!(tree.charge(2, 1)); // the buggy driver's charge
        let t1 = tree.clone();
        let charger = thread::spawn(move || assert!(!t1.charge(2, 1)));
        let t2 = tree.clone();
        let buggy = thread::spawn(move || {
            // Offline, children first, then the driver's bug.
            t2.close(2, CLOSED_OFFLINE);
            t2.close(1, CLOSED_OFFLINE);
            let _ = t2.over_uncharge(2, 1, 2);
        });
        charger.join().unwrap();
        buggy.join().unwrap();
        let usage = tree.at(1).counter.usage();
        assert_eq!(usage, 0, "{usage} bytes added to a closed, released level");
        tree.close(2, CLOSED_DETACHED);
        tree.close(1, CLOSED_DETACHED);
        for i in [2, 1] {
            let node = tree.at(i);
            assert_eq!(
                node.released.load(SeqCst),
                node.closed.load(SeqCst),
                "node {i}: detached pool never released"
            );
        }
    });
}

/// Bottom-up, a charge's byte is in the leaf before it is in the parent, so
/// an over-uncharge masked by it takes a sibling's byte from the parent
/// until the charge raises it (here it then succeeds: no roll-back, no
/// compensation). In that window the sibling's own, legitimate uncharge
/// finds the parent short and is reported as an underflow (WARN_ONCE naming
/// the wrong driver), as the model invariant "a legitimate uncharge always
/// finds its bytes" forbids.
#[test]
fn sibling_uncharge_is_not_short_while_a_masked_over_uncharge_runs() {
    model(|| {
        // 0 <- {1, 2}: no max anywhere, so the charge succeeds.
        let tree = Tree::new(&[None, Some(0), Some(0)]);
        assert!(tree.charge(1, 1)); // the buggy driver's charge
        assert!(tree.charge(2, 1)); // the sibling's charge
        let t1 = tree.clone();
        let charger = thread::spawn(move || assert!(t1.charge(1, 1)));
        let t2 = tree.clone();
        let buggy = thread::spawn(move || {
            let _ = t2.over_uncharge(1, 1, 2);
            // Another driver, on the sibling, gives back what it charged.
            assert!(
                t2.uncharge(2, 1),
                "a legitimate uncharge found a level short"
            );
        });
        charger.join().unwrap();
        buggy.join().unwrap();
        let _ = tree.uncharge(1, 1);
        tree.assert_no_phantom_bytes();
    });
}

/// Two refused charges in flight on the buggy driver's pool, one masked
/// over-uncharge whose walk the parent covers: the roll-backs' shortfalls
/// add up to exactly what the bug took from the parent beyond its own byte,
/// whatever their order against the bug's walk. Three threads: bounded at 4
/// preemptions.
#[test]
fn two_refused_charges_vs_a_covered_over_uncharge() {
    model_bounded(4, || {
        // 0 (max 3) <- {1, 2}: the leaves have no max.
        let tree = Tree::new(&[None, Some(0), Some(0)]);
        tree.at(0).counter.set(Setting::Max, 3);
        assert!(tree.charge(1, 1)); // the buggy driver's charge
        assert!(tree.charge(2, 2)); // the sibling's, filling the parent
        let t1 = tree.clone();
        let a = thread::spawn(move || t1.charge(1, 1));
        let t2 = tree.clone();
        let b = thread::spawn(move || t2.charge(1, 1));
        let _ = tree.over_uncharge(1, 1, 3);
        for charged in [a.join().unwrap(), b.join().unwrap()] {
            if charged {
                let _ = tree.uncharge(1, 1);
            }
        }
        tree.assert_no_phantom_bytes();
        assert!(tree.uncharge(2, 2), "the sibling's bytes were taken");
        assert_eq!(tree.at(0).counter.usage(), 0);
        for i in [1, 2, 0] {
            tree.close(i, CLOSED_DETACHED);
        }
        tree.assert_all_released();
    });
}
