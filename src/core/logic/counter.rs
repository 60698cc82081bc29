// SPDX-License-Identifier: GPL-2.0

//! Lock-free hierarchical byte counters.
//!
//! Each pool has a [`Counter`]; pools form the cgroup tree. A charge walks
//! from the charged pool to the root and must fit under every level's `max`.
//! Unlike a speculative add-then-check, each level is raised with a
//! compare-and-swap that only succeeds below `max`, so no reader ever sees a
//! level above its `max` (except after `max` is lowered below usage, which is
//! accepted and only blocks new charges). A failed charge rolls back the
//! levels it already raised, so nothing stays charged.
//!
//! Everything here uses relaxed atomics: counters are statistics and limits,
//! they order no other memory. Cost is O(depth) and independent of how many
//! cgroups or regions exist.

use core::ptr;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Number of consumer frameworks counted in `dev.stat`.
pub const NR_CONSUMERS: usize = 4;

/// Usage, limits, protection, peak, events and per-consumer usage of one pool.
#[derive(Debug)]
pub struct Counter {
    usage: AtomicU64,
    max: AtomicU64,
    min: AtomicU64,
    low: AtomicU64,
    peak: AtomicU64,
    /// Refusals caused by this level's `max` or a descendant's (`dev.events`).
    events_max: AtomicU64,
    /// Refusals caused by this level's own `max` (`dev.events.local`).
    events_max_local: AtomicU64,
    /// Bytes currently charged in this subtree by each consumer (`dev.stat`).
    by_consumer: [AtomicU64; NR_CONSUMERS],
}

/// A node of the counter tree.
pub trait Node {
    /// This node's counter.
    fn counter(&self) -> &Counter;
    /// The parent node, `None` at the root.
    fn parent(&self) -> Option<&Self>;
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

impl Default for Counter {
    fn default() -> Self {
        Self::new()
    }
}

impl Counter {
    /// A counter with no usage, `max` = unlimited and no protection.
    pub const fn new() -> Self {
        Counter {
            usage: AtomicU64::new(0),
            max: AtomicU64::new(u64::MAX),
            min: AtomicU64::new(0),
            low: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            events_max: AtomicU64::new(0),
            events_max_local: AtomicU64::new(0),
            by_consumer: [const { AtomicU64::new(0) }; NR_CONSUMERS],
        }
    }

    /// Bytes charged in this subtree.
    pub fn usage(&self) -> u64 {
        self.usage.load(Relaxed)
    }

    /// Highest usage seen since creation or the last [`Counter::reset_peak`].
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

    /// Bytes of this subtree's usage charged by `consumer` (0 if out of range).
    pub fn consumer_usage(&self, consumer: usize) -> u64 {
        self.by_consumer
            .get(consumer)
            .map_or(0, |c| c.load(Relaxed))
    }

    fn setting_ref(&self, which: Setting) -> &AtomicU64 {
        match which {
            Setting::Max => &self.max,
            Setting::Min => &self.min,
            Setting::Low => &self.low,
        }
    }

    /// Reads `max`, `min` or `low`.
    pub fn setting(&self, which: Setting) -> u64 {
        self.setting_ref(which).load(Relaxed)
    }

    /// Sets `max`, `min` or `low`. A `max` below usage is accepted: it only
    /// makes new charges fail until usage drops.
    pub fn set(&self, which: Setting, value: u64) {
        self.setting_ref(which).store(value, Relaxed)
    }

    /// Restores the defaults of a cgroup that goes offline: no limit, no protection.
    pub fn reset_settings(&self) {
        self.set(Setting::Max, u64::MAX);
        self.set(Setting::Min, 0);
        self.set(Setting::Low, 0);
    }

    /// Makes the peak the current usage.
    pub fn reset_peak(&self) {
        self.peak.store(self.usage(), Relaxed)
    }

    /// Raises usage by `amount` if the result stays within `max`.
    fn try_raise(&self, amount: u64) -> bool {
        let mut old = self.usage.load(Relaxed);
        loop {
            let new = match old.checked_add(amount) {
                Some(new) if new <= self.max.load(Relaxed) => new,
                _ => return false,
            };
            match self.usage.compare_exchange_weak(old, new, Relaxed, Relaxed) {
                Ok(_) => return true,
                Err(seen) => old = seen,
            }
        }
    }

    /// Lowers usage by `amount`, clamping at zero. Returns `false` on underflow.
    fn lower(&self, amount: u64) -> bool {
        let mut clean = true;
        let _ = self.usage.fetch_update(Relaxed, Relaxed, |old| {
            clean = old >= amount;
            Some(old.saturating_sub(amount))
        });
        clean
    }

    /// Records usage seen after a committed charge. Called only once the whole
    /// charge succeeded, so a refused charge never shows up in `dev.peak`.
    fn update_peak(&self) {
        let usage = self.usage();
        if usage > self.peak.load(Relaxed) {
            self.peak.fetch_max(usage, Relaxed);
        }
    }

    fn lower_consumer(&self, consumer: usize, amount: u64) {
        if let Some(c) = self.by_consumer.get(consumer) {
            let _ = c.fetch_update(Relaxed, Relaxed, |old| Some(old.saturating_sub(amount)));
        }
    }

    fn raise_consumer(&self, consumer: usize, amount: u64) {
        if let Some(c) = self.by_consumer.get(consumer) {
            c.fetch_add(amount, Relaxed);
        }
    }
}

fn ancestors<N: Node>(node: &N) -> impl Iterator<Item = &N> {
    let mut next = Some(node);
    core::iter::from_fn(move || {
        let this = next?;
        next = this.parent();
        Some(this)
    })
}

/// Charges `amount` bytes from `node` up to the root, on behalf of `consumer`.
///
/// On success every level was raised. On failure nothing stays charged and the
/// first level whose `max` would have been exceeded is returned; the refusal
/// is counted in its `events.local` and in `events` of it and every ancestor.
pub fn try_charge<N: Node>(node: &N, amount: u64, consumer: usize) -> Result<(), &N> {
    for level in ancestors(node) {
        if !level.counter().try_raise(amount) {
            for raised in ancestors(node).take_while(|n| !ptr::eq(*n, level)) {
                raised.counter().lower(amount);
                raised.counter().lower_consumer(consumer, amount);
            }
            level.counter().events_max_local.fetch_add(1, Relaxed);
            for hit in ancestors(level) {
                hit.counter().events_max.fetch_add(1, Relaxed);
            }
            return Err(level);
        }
        level.counter().raise_consumer(consumer, amount);
    }
    for level in ancestors(node) {
        level.counter().update_peak();
    }
    Ok(())
}

/// Uncharges `amount` bytes from `node` up to the root.
///
/// Returns `false` if some level had less usage than `amount`: the caller
/// uncharged what it never charged. Usage is clamped at zero, never wrapped.
pub fn uncharge<N: Node>(node: &N, amount: u64, consumer: usize) -> bool {
    let mut clean = true;
    for level in ancestors(node) {
        clean &= level.counter().lower(amount);
        level.counter().lower_consumer(consumer, amount);
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// A test tree node; trees are leaked so parents can be `&'static`.
    struct TNode {
        counter: Counter,
        parent: Option<&'static TNode>,
    }

    impl Node for TNode {
        fn counter(&self) -> &Counter {
            &self.counter
        }
        fn parent(&self) -> Option<&Self> {
            self.parent
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
                nodes.push(std::boxed::Box::leak(std::boxed::Box::new(TNode {
                    counter: Counter::new(),
                    parent,
                })));
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

    #[test]
    fn charge_walks_to_the_root_and_rolls_back() {
        // 0 <- 1 <- 2
        let t = Tree::new(std::vec![None, Some(0), Some(1)]);
        t.counters[1].set(Setting::Max, 100);
        assert!(try_charge(t.at(2), 60, 0).is_ok());
        assert_eq!(
            [
                t.counters[0].usage(),
                t.counters[1].usage(),
                t.counters[2].usage()
            ],
            [60, 60, 60]
        );
        let err = try_charge(t.at(2), 41, 1).err().unwrap();
        assert_eq!(index_of(&t, err.counter()), 1);
        assert_eq!(
            [
                t.counters[0].usage(),
                t.counters[1].usage(),
                t.counters[2].usage()
            ],
            [60, 60, 60]
        );
        assert_eq!(t.counters[2].consumer_usage(1), 0);
        assert_eq!(t.counters[1].events(), (1, 1));
        assert_eq!(t.counters[0].events(), (1, 0));
        assert_eq!(t.counters[2].events(), (0, 0));
        assert!(try_charge(t.at(2), 40, 1).is_ok());
        assert_eq!(t.counters[0].consumer_usage(1), 40);
        assert_eq!(t.counters[0].consumer_usage(0), 60);
        assert!(uncharge(t.at(2), 100, 0));
        assert_eq!(t.counters[0].usage(), 0);
        assert_eq!(t.counters[2].peak(), 100);
    }

    #[test]
    fn uncharge_underflow_is_reported_and_clamped() {
        let t = Tree::new(std::vec![None, Some(0)]);
        assert!(try_charge(t.at(1), 10, 3).is_ok());
        assert!(!uncharge(t.at(1), 11, 3));
        assert_eq!(t.counters[1].usage(), 0);
        assert_eq!(t.counters[0].usage(), 0);
        assert_eq!(t.counters[0].consumer_usage(3), 0);
    }

    #[test]
    fn limit_below_usage_is_accepted_and_blocks_new_charges() {
        let t = Tree::new(std::vec![None, Some(0)]);
        assert!(try_charge(t.at(1), 50, 0).is_ok());
        t.counters[1].set(Setting::Max, 10);
        assert!(try_charge(t.at(1), 1, 0).is_err());
        assert!(uncharge(t.at(1), 45, 0));
        assert!(try_charge(t.at(1), 5, 0).is_ok());
        assert!(try_charge(t.at(1), 1, 0).is_err());
    }

    #[test]
    fn huge_amounts_never_wrap() {
        let t = Tree::new(std::vec![None, Some(0)]);
        assert!(try_charge(t.at(1), u64::MAX - 1, 0).is_ok());
        assert!(try_charge(t.at(1), 2, 0).is_err());
        assert_eq!(t.counters[0].usage(), u64::MAX - 1);
    }

    #[test]
    fn peak_reset_takes_current_usage() {
        let t = Tree::new(std::vec![None]);
        assert!(try_charge(t.at(0), 70, 0).is_ok());
        assert!(uncharge(t.at(0), 50, 0));
        assert_eq!(t.counters[0].peak(), 70);
        t.counters[0].reset_peak();
        assert_eq!(t.counters[0].peak(), 20);
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
                        match try_charge(t.at(node), amount, consumer) {
                            Ok(()) => {
                                assert_eq!(first_over, None);
                                live.push((node, amount, consumer));
                            }
                            Err(at) => {
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
                        assert!(uncharge(t.at(node), amount, consumer));
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
                        let by: u64 = live
                            .iter()
                            .filter(|(c, _, kk)| in_subtree(c) && *kk == k)
                            .map(|(_, a, _)| a)
                            .sum();
                        assert_eq!(t.counters[i].consumer_usage(k), by);
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
                        if try_charge(leaf, amount, 0).is_ok() {
                            held.push_back(amount);
                        }
                        if held.len() > 2 || rng.below(2) == 0 {
                            if let Some(amount) = held.pop_front() {
                                assert!(uncharge(leaf, amount, 0));
                            }
                        }
                    }
                    for amount in held {
                        assert!(uncharge(leaf, amount, 0));
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
