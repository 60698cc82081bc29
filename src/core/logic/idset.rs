// SPDX-License-Identifier: GPL-2.0

//! A set of small non-negative ids kept as bits of `u64` words, for the
//! cgroups (by css id) that have a pool of a region: the caller owns the
//! words and grows them (see [`words_for`]); these functions never allocate.

/// Words a set needs to hold `id`.
pub fn words_for(id: usize) -> usize {
    id / 64 + 1
}

/// Adds `id`; false if the words are too few to hold it.
pub fn insert(words: &mut [u64], id: usize) -> bool {
    match words.get_mut(id / 64) {
        Some(word) => {
            *word |= 1 << (id % 64);
            true
        }
        None => false,
    }
}

/// Removes `id` (nothing if it is not there).
pub fn remove(words: &mut [u64], id: usize) {
    if let Some(word) = words.get_mut(id / 64) {
        *word &= !(1 << (id % 64));
    }
}

/// How many ids the set holds.
pub fn len(words: &[u64]) -> usize {
    words.iter().map(|w| w.count_ones() as usize).sum()
}

/// The ids in the set, in increasing order.
pub fn ids(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(i, &word)| {
        let mut left = word;
        core::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            let bit = left.trailing_zeros() as usize;
            left &= left - 1;
            Some(i * 64 + bit)
        })
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn holds_what_fits_and_lists_it_in_order() {
        let mut words = [0u64; 2];
        assert_eq!(words_for(0), 1);
        assert_eq!(words_for(63), 1);
        assert_eq!(words_for(64), 2);
        for id in [127, 0, 64, 5, 63] {
            assert!(insert(&mut words, id));
        }
        assert!(!insert(&mut words, 128), "no third word");
        assert_eq!(len(&words), 5);
        assert_eq!(ids(&words).collect::<Vec<_>>(), [0, 5, 63, 64, 127]);
        remove(&mut words, 64);
        remove(&mut words, 64);
        remove(&mut words, 4096);
        assert_eq!(ids(&words).collect::<Vec<_>>(), [0, 5, 63, 127]);
        assert_eq!(len(&words), 4);
    }
}
