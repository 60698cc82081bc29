// SPDX-License-Identifier: GPL-2.0

//! `dev.peak` per open file, as `memory.peak` works since Linux 6.12.
//!
//! A file descriptor that was never written to reads the cgroup's own
//! high-water mark ([`Counter::peak`]). Writing anything to it resets the peak
//! *for reads through that descriptor only*: from then on it reads the
//! highest usage since its reset. Other descriptors, and new opens, keep
//! what they saw, so two monitoring tools never clobber each other.
//!
//! Each counter keeps one more high-water mark, [`Counter::peak_since_reset`],
//! which restarts at every reset through any descriptor. A descriptor that
//! was written to remembers, per region, the most that mark reached in the
//! periods that ended since its own reset: a reset through another
//! descriptor hands the ending period's mark to every other one. It reads
//! the larger of that and the current period's mark. (`memory.peak` hands
//! the others the usage at the new reset instead, which forgets a peak
//! reached between two resets; this does not.)

use core::ptr;
use kernel::prelude::*;
use kernel::sync::Arc;

use crate::logic::counter::Counter;
use crate::registry::{HeldRegion, Region};

/// What one written-to descriptor remembers.
struct Watcher {
    /// The open file (`struct kernfs_open_file *`), as an identity only.
    file: usize,
    /// Per region: the highest mark of the periods that ended since the
    /// descriptor's reset. A region not listed has had no period end since.
    ended: KVec<(Arc<Region>, u64)>,
}

impl Watcher {
    fn ended(&self, region: &Region) -> u64 {
        self.ended
            .iter()
            .find(|(r, _)| ptr::eq(&**r, region))
            .map_or(0, |(_, mark)| *mark)
    }

    /// Sets the mark of `region` to `f` of the old one (0 if none). Needs room
    /// for one more entry, reserved beforehand, when `region` is new here.
    fn update(&mut self, region: HeldRegion<'_>, f: impl FnOnce(u64) -> u64) -> Result {
        match self.ended.iter_mut().find(|(r, _)| ptr::eq(&**r, &*region)) {
            Some((_, mark)) => *mark = f(*mark),
            None => self.ended.push((region.arc(), f(0)), GFP_KERNEL)?,
        }
        Ok(())
    }
}

/// What one open file of `dev.peak` reads: its watcher, if it was written to.
pub(crate) struct PeakReader<'a>(Option<&'a Watcher>);

impl PeakReader<'_> {
    /// What `dev.peak` shows for a region of `counter` (`None`: the cgroup
    /// has no pool for it).
    pub(crate) fn shown(&self, region: &Region, counter: Option<&Counter>) -> u64 {
        match (self.0, counter) {
            (Some(watcher), Some(counter)) => watcher.ended(region).max(counter.peak_since_reset()),
            (None, Some(counter)) => counter.peak(),
            (_, None) => 0,
        }
    }
}

/// The written-to descriptors of one cgroup's `dev.peak`. A closed
/// descriptor's slot is emptied and reused.
pub(crate) struct PeakWatchers(KVec<Option<Watcher>>);

impl PeakWatchers {
    pub(crate) fn new() -> Self {
        PeakWatchers(KVec::new())
    }

    fn position(&self, file: usize) -> Option<usize> {
        self.0
            .iter()
            .position(|w| w.as_ref().is_some_and(|w| w.file == file))
    }

    /// What reads of `dev.peak` through the open file `file` show, looked up
    /// once for all regions.
    pub(crate) fn reader(&self, file: usize) -> PeakReader<'_> {
        PeakReader(self.position(file).and_then(|at| self.0[at].as_ref()))
    }

    /// Resets the peak of `file` for every region in `regions`, whose pools
    /// `pool_of` finds. All or nothing: every allocation is made first.
    pub(crate) fn reset<'a>(
        &mut self,
        file: usize,
        regions: &[HeldRegion<'a>],
        pool_of: impl Fn(HeldRegion<'a>) -> Option<&'a Counter>,
    ) -> Result {
        let (at, new) = match self.position(file) {
            Some(at) => (at, false),
            None => (self.insert(file)?, true),
        };
        // Room for every region in every watcher, and out with the regions
        // whose device is gone (their entries would keep them allocated).
        let room = self.0.iter_mut().flatten().try_for_each(|w| {
            let mut fresh = KVec::with_capacity(w.ended.len() + regions.len(), GFP_KERNEL)?;
            for (region, mark) in w.ended.iter().filter(|(r, _)| !r.is_dead()) {
                fresh.push((region.clone(), *mark), GFP_KERNEL)?;
            }
            w.ended = fresh;
            Ok::<(), kernel::alloc::AllocError>(())
        });
        if let Err(e) = room {
            if new {
                self.0[at] = None;
            }
            return Err(e.into());
        }
        for &region in regions {
            let Some(counter) = pool_of(region) else {
                // No pool: nothing was charged, and the mark of a pool
                // created later starts from zero, which is what it shows.
                continue;
            };
            let ended = counter.reset_peak_since();
            for (i, watcher) in self.0.iter_mut().enumerate() {
                let Some(watcher) = watcher else { continue };
                if i == at {
                    // This descriptor's own period starts now.
                    watcher.update(region, |_| 0)?;
                } else {
                    watcher.update(region, |mark| mark.max(ended))?;
                }
            }
        }
        Ok(())
    }

    fn insert(&mut self, file: usize) -> Result<usize> {
        let watcher = Watcher {
            file,
            ended: KVec::new(),
        };
        if let Some(free) = self.0.iter().position(Option::is_none) {
            self.0[free] = Some(watcher);
            return Ok(free);
        }
        self.0.push(Some(watcher), GFP_KERNEL)?;
        Ok(self.0.len() - 1)
    }

    /// Forgets `file`, which is being closed.
    pub(crate) fn forget(&mut self, file: usize) {
        if let Some(at) = self.position(file) {
            self.0[at] = None;
        }
    }
}
