// SPDX-License-Identifier: GPL-2.0

//! Effective `min`/`low` protection, with the semantics of the memory controller.
//!
//! A cgroup's configured protection only holds as far as its ancestors grant
//! it. Seen from a *reclaim root* (the pool whose limit was hit, or the root
//! of the region), each child of the reclaim root gets its own setting; below
//! that, a child gets `min(usage, setting)`, unless all siblings together
//! claim more than their parent's effective protection, in which case the
//! parent's protection is shared in proportion to what each claims.
//! The reclaim root itself is never protected against its own limit.

/// Protection settings and usage of one pool, plus what its siblings claim.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Level {
    /// Bytes charged in this pool's subtree.
    pub usage: u64,
    /// Configured `dev.min`.
    pub min: u64,
    /// Configured `dev.low`.
    pub low: u64,
    /// Sum over the parent's children (this one included) of `min(usage, min)`.
    pub siblings_min_claim: u64,
    /// Sum over the parent's children (this one included) of `min(usage, low)`.
    pub siblings_low_claim: u64,
}

/// Effective protection of a pool relative to a reclaim root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effective {
    /// Bytes that are never evicted for the reclaim root.
    pub min: u64,
    /// Bytes evicted only when nothing unprotected is left.
    pub low: u64,
}

/// What eviction may do with a buffer of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The pool is over its protection: evict.
    Evictable,
    /// Within effective `low`: evict only when nothing else can go.
    BelowLow,
    /// Within effective `min`: never evict.
    BelowMin,
}

/// `min(usage, setting)`: the protection a pool claims.
pub fn claim(usage: u64, setting: u64) -> u64 {
    usage.min(setting)
}

/// One level of the calculation: the share of `parent_effective` this pool
/// gets, given what all siblings claim together.
pub fn effective_share(
    usage: u64,
    setting: u64,
    parent_effective: u64,
    siblings_claim: u64,
) -> u64 {
    let own = claim(usage, setting);
    if siblings_claim <= parent_effective {
        return own;
    }
    // Over-committed: split the parent's protection in proportion to claims.
    // siblings_claim > parent_effective >= 0, so the divisor is non-zero, and
    // own <= siblings_claim keeps the quotient below parent_effective.
    mul_div(own, parent_effective, siblings_claim)
}

/// `a * b / c` rounded down, exactly, for a quotient that fits in 64 bits.
///
/// The kernel has no 128-bit division helper (`__udivti3`), so the 128-bit
/// product is divided by shift-and-subtract. Only eviction decisions use it.
fn mul_div(a: u64, b: u64, c: u64) -> u64 {
    if c == 0 {
        return u64::MAX;
    }
    let product = u128::from(a) * u128::from(b);
    let divisor = u128::from(c);
    let mut remainder: u128 = 0;
    let mut quotient: u64 = 0;
    for bit in (0..128u32).rev() {
        remainder = (remainder << 1) | ((product >> bit) & 1);
        if remainder >= divisor {
            remainder -= divisor;
            // A quotient bit at 64 or above means the result overflows.
            quotient |= 1u64.checked_shl(bit).unwrap_or(u64::MAX);
        }
    }
    quotient
}

/// Effective protection at the end of `path`, the levels from a child of the
/// reclaim root down to the pool being tested. An empty path is the reclaim
/// root itself, which has no protection.
pub fn effective_along(path: impl IntoIterator<Item = Level>) -> Effective {
    let mut effective: Option<Effective> = None;
    for level in path {
        effective = Some(match effective {
            // A child of the reclaim root: its own setting, capped by usage.
            None => Effective {
                min: claim(level.usage, level.min),
                low: claim(level.usage, level.low),
            },
            Some(parent) => Effective {
                min: effective_share(level.usage, level.min, parent.min, level.siblings_min_claim),
                low: effective_share(level.usage, level.low, parent.low, level.siblings_low_claim),
            },
        });
    }
    effective.unwrap_or(Effective { min: 0, low: 0 })
}

/// Whether a buffer of a pool with `usage` and `effective` protection may go.
pub fn verdict(usage: u64, effective: Effective) -> Verdict {
    if usage == 0 {
        // Nothing charged: nothing to protect, nothing gained by evicting
        // either, but the buffer does not belong to a protected pool.
        Verdict::Evictable
    } else if usage <= effective.min {
        Verdict::BelowMin
    } else if usage <= effective.low {
        Verdict::BelowLow
    } else {
        Verdict::Evictable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn share_is_own_claim_when_parent_affords_it() {
        assert_eq!(effective_share(100, 40, 1000, 90), 40);
        assert_eq!(effective_share(30, 40, 1000, 90), 30);
        assert_eq!(effective_share(100, u64::MAX, u64::MAX, u64::MAX), 100);
    }

    #[test]
    fn mul_div_is_exact() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let c = (x >> 1) | 1;
            let (a, b) = (x % c, (x.rotate_left(17)) % c);
            let want = (u128::from(a) * u128::from(b) / u128::from(c)) as u64;
            assert_eq!(mul_div(a, b, c), want, "{a} * {b} / {c}");
        }
        assert_eq!(mul_div(u64::MAX - 1, u64::MAX - 1, u64::MAX), u64::MAX - 2);
        assert_eq!(mul_div(5, 7, 0), u64::MAX);
    }

    #[test]
    fn share_is_proportional_when_overcommitted() {
        // Two siblings claim 60 + 40 = 100 of a parent's 50.
        assert_eq!(effective_share(60, 60, 50, 100), 30);
        assert_eq!(effective_share(40, 40, 50, 100), 20);
        assert_eq!(
            effective_share(u64::MAX, u64::MAX, u64::MAX - 1, u64::MAX),
            u64::MAX - 1
        );
    }

    #[test]
    fn reclaim_root_is_unprotected_and_children_get_their_setting() {
        assert_eq!(effective_along([]), Effective { min: 0, low: 0 });
        let child = Level {
            usage: 100,
            min: 30,
            low: 80,
            ..Default::default()
        };
        assert_eq!(effective_along([child]), Effective { min: 30, low: 80 });
        assert_eq!(
            verdict(100, Effective { min: 30, low: 80 }),
            Verdict::Evictable
        );
        assert_eq!(
            verdict(80, Effective { min: 30, low: 80 }),
            Verdict::BelowLow
        );
        assert_eq!(
            verdict(30, Effective { min: 30, low: 80 }),
            Verdict::BelowMin
        );
    }

    #[test]
    fn a_child_cannot_have_more_than_its_parent_grants() {
        // Parent min 10 over usage 100; child claims min 100 of its 100.
        let parent = Level {
            usage: 100,
            min: 10,
            low: 0,
            ..Default::default()
        };
        let child = Level {
            usage: 100,
            min: 100,
            low: 0,
            siblings_min_claim: 100,
            siblings_low_claim: 0,
        };
        assert_eq!(effective_along([parent, child]).min, 10);
    }

    /// A reference model: a whole random tree evaluated top-down recursively,
    /// compared with the per-path computation the kernel does, plus the
    /// invariants the memory controller guarantees.
    #[test]
    fn path_computation_matches_whole_tree_model() {
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut rng = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..500 {
            let n = 1 + rng(10) as usize;
            let parents: Vec<Option<usize>> = (0..n)
                .map(|i| {
                    if i == 0 {
                        None
                    } else {
                        Some(rng(i as u64) as usize)
                    }
                })
                .collect();
            // Local usage per node; subtree usage is the sum.
            let local: Vec<u64> = (0..n).map(|_| rng(100)).collect();
            let pick = |r: u64, rng: &mut dyn FnMut(u64) -> u64| match rng(4) {
                0 => 0,
                1 => u64::MAX,
                _ => r,
            };
            let mins: Vec<u64> = (0..n)
                .map(|_| {
                    let r = rng(300);
                    pick(r, &mut rng)
                })
                .collect();
            let lows: Vec<u64> = (0..n)
                .map(|_| {
                    let r = rng(300);
                    pick(r, &mut rng)
                })
                .collect();
            let parents_ref = &parents;
            let children = |p: usize| (0..n).filter(move |&c| parents_ref[c] == Some(p));
            fn subtree(i: usize, local: &[u64], parents: &[Option<usize>]) -> u64 {
                local[i]
                    + (0..local.len())
                        .filter(|&c| parents[c] == Some(i))
                        .map(|c| subtree(c, local, parents))
                        .sum::<u64>()
            }
            let usage: Vec<u64> = (0..n).map(|i| subtree(i, &local, &parents)).collect();
            // Model: recursive from the reclaim root 0.
            let mut model = std::vec![Effective { min: 0, low: 0 }; n];
            let mut stack = std::vec![0usize];
            while let Some(p) = stack.pop() {
                let kids: Vec<usize> = children(p).collect();
                let sib_min: u64 = kids
                    .iter()
                    .map(|&c| claim(usage[c], mins[c]))
                    .fold(0, u64::saturating_add);
                let sib_low: u64 = kids
                    .iter()
                    .map(|&c| claim(usage[c], lows[c]))
                    .fold(0, u64::saturating_add);
                for &c in &kids {
                    model[c] = if p == 0 {
                        Effective {
                            min: claim(usage[c], mins[c]),
                            low: claim(usage[c], lows[c]),
                        }
                    } else {
                        Effective {
                            min: effective_share(usage[c], mins[c], model[p].min, sib_min),
                            low: effective_share(usage[c], lows[c], model[p].low, sib_low),
                        }
                    };
                    stack.push(c);
                }
                // Invariant: children never share out more than the parent has.
                if p != 0 {
                    let given_min = kids
                        .iter()
                        .map(|&c| model[c].min)
                        .fold(0, u64::saturating_add);
                    let given_low = kids
                        .iter()
                        .map(|&c| model[c].low)
                        .fold(0, u64::saturating_add);
                    assert!(given_min <= model[p].min && given_low <= model[p].low);
                }
            }
            for i in 0..n {
                let mut path = std::vec![];
                let mut at = i;
                while let Some(p) = parents[at] {
                    let sibs: Vec<usize> = children(p).collect();
                    path.push(Level {
                        usage: usage[at],
                        min: mins[at],
                        low: lows[at],
                        siblings_min_claim: sibs
                            .iter()
                            .map(|&c| claim(usage[c], mins[c]))
                            .fold(0, u64::saturating_add),
                        siblings_low_claim: sibs
                            .iter()
                            .map(|&c| claim(usage[c], lows[c]))
                            .fold(0, u64::saturating_add),
                    });
                    at = p;
                }
                path.reverse();
                let got = effective_along(path);
                assert_eq!(got, model[i], "node {i}");
                assert!(got.min <= usage[i] && got.low <= usage[i]);
                assert!(got.min <= mins[i] && got.low <= lows[i]);
            }
        }
    }
}
