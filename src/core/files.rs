// SPDX-License-Identifier: GPL-2.0

//! The interface files: `dev.capacity`, `dev.current`, `dev.max`, `dev.min`,
//! `dev.low`, `dev.peak`, `dev.events`, `dev.events.local` and `dev.stat`.
//!
//! Every file prints one line per registered device, regions in registration
//! order. Writes are parsed completely and resolved completely before
//! anything is applied, so a rejected write changes nothing.

use core::fmt::{self, Write};
use core::ptr;
use kernel::cgroup::dev::InterfaceFile;
use kernel::prelude::*;

use crate::logic::counter::{Counter, Setting, NR_CONSUMERS};
use crate::logic::parse::{self, Value};
use crate::pool;
use crate::registry::{self, HeldRegion};
use crate::DevCss;

/// The files, as numbered in glue.h's `enum devcg_file`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum File {
    Capacity,
    Current,
    Setting(Setting),
    Peak,
    Events,
    EventsLocal,
    Stat,
}

impl File {
    pub(crate) fn from_raw(file: u32) -> Option<Self> {
        Some(match InterfaceFile::from_raw(file)? {
            InterfaceFile::Capacity => File::Capacity,
            InterfaceFile::Current => File::Current,
            InterfaceFile::Max => File::Setting(Setting::Max),
            InterfaceFile::Min => File::Setting(Setting::Min),
            InterfaceFile::Low => File::Setting(Setting::Low),
            InterfaceFile::Peak => File::Peak,
            InterfaceFile::Events => File::Events,
            InterfaceFile::EventsLocal => File::EventsLocal,
            InterfaceFile::Stat => File::Stat,
        })
    }
}

/// Consumer names in `dev.stat`, indexed like `enum dev_cgroup_consumer`.
const CONSUMER_NAMES: [&str; NR_CONSUMERS] = ["drm", "v4l2", "dma_heap", "other"];

/// Prints `file` of the cgroup `css`, opened as `opener`.
pub(crate) fn show(css: &DevCss, file: File, opener: usize, out: &mut impl Write) -> Result {
    // Held, and printed without the registry's lock: a `dev.stat` read walks
    // the cgroup's subtree, which must not hold up registration or other
    // cgroups' files.
    let devices = registry::get()?.devices()?;
    let state = css.state();
    // Taken for dev.peak only.
    let watchers = (file == File::Peak).then(|| state.peak_watchers.lock());
    let reader = watchers.as_ref().map(|w| w.reader(opener));
    for device in devices.iter() {
        let _ = out.write_str(device.name());
        for region in device.regions() {
            let counter = state.pool(region).map(pool::Pool::counter);
            if let Some(reader) = &reader {
                let peak = reader.shown(&region, counter);
                let _ = write!(out, " region.{}={peak}", region.name());
                continue;
            }
            let _ = print_region(out, css, file, region, counter);
        }
        let _ = out.write_char('\n');
    }
    Ok(())
}

fn print_region(
    out: &mut impl Write,
    css: &DevCss,
    file: File,
    region: HeldRegion<'_>,
    counter: Option<&Counter>,
) -> fmt::Result {
    let name = region.name();
    let default = Counter::new();
    let c = counter.unwrap_or(&default);
    match file {
        File::Capacity => write!(out, " region.{name}={}", region.capacity()),
        File::Current => write!(out, " region.{name}={}", c.usage()),
        File::Setting(which) => write!(out, " region.{name}={}", Value(c.setting(which))),
        // Printed by `show`, which knows the open file.
        File::Peak => Ok(()),
        File::Events => write!(out, " region.{name}.max={}", c.events().0),
        File::EventsLocal => write!(out, " region.{name}.max={}", c.events().1),
        File::Stat => {
            // Counted where charged; a cgroup's subtree is summed here, so
            // that charging costs one atomic per level.
            let usage = match counter {
                Some(_) => pool::subtree_usage(css, region),
                None => [0; NR_CONSUMERS],
            };
            CONSUMER_NAMES
                .iter()
                .zip(usage)
                .try_for_each(|(consumer, bytes)| write!(out, " region.{name}.{consumer}={bytes}"))
        }
    }
}

/// Applies a write to `file` of the cgroup `css`, opened as `opener`.
pub(crate) fn write(css: &DevCss, file: File, opener: usize, input: &[u8]) -> Result {
    if file == File::Peak {
        // Whatever is written, as for memory.peak (a write of zero bytes
        // never gets here).
        return reset_peak(css, opener);
    }
    let input = core::str::from_utf8(input).map_err(|_| EINVAL)?;
    match file {
        File::Setting(which) => write_setting(css, which, input),
        _ => Err(EINVAL),
    }
}

/// `dev.peak`: resets the peak of every region for reads through `opener`.
fn reset_peak(css: &DevCss, opener: usize) -> Result {
    let devices = registry::get()?.devices()?;
    let mut regions = KVec::new();
    for device in devices.iter() {
        for region in device.regions() {
            regions.push(region, GFP_KERNEL)?;
        }
    }
    let state = css.state();
    // Bound, so that the lock is let go before `devices`, whose drop may be
    // a device's last and walk cgroups.
    let mut watchers = state.peak_watchers.lock();
    watchers.reset(opener, &regions, |region| {
        state.pool(region).map(pool::Pool::counter)
    })
}

/// A descriptor of `css`'s `dev.peak` is being closed.
pub(crate) fn release(css: &DevCss, opener: usize) {
    css.state().peak_watchers.lock().forget(opener);
}

/// `dev.max`, `dev.min`, `dev.low`: all-or-nothing.
fn write_setting(css: &DevCss, which: Setting, input: &str) -> Result {
    // 1. Syntax of the whole write (-EINVAL; -ERANGE for a value that does
    //    not fit in 64 bits; -EINVAL for a blank one).
    let lines = parse::parse_write(input).map_err(|e| match e.kind() {
        parse::ErrorKind::Invalid => EINVAL,
        parse::ErrorKind::Range => ERANGE,
    })?;
    let known = registry::get()?.devices()?;
    // Writes to one cgroup's files apply one after the other, so that two
    // writes naming the same regions never mix; other cgroups' do not wait.
    let _writes = css.state().writes.lock();
    // 2. Resolve every name (-ENODEV for a device, -EINVAL for a region
    //    or a region named twice).
    let mut plan: KVec<(HeldRegion<'_>, u64)> = KVec::new();
    for line in lines {
        let device = known
            .iter()
            .find(|d| d.name() == line.device)
            .ok_or(ENODEV)?;
        for (name, value) in line.assignments() {
            let region = device.region(name).ok_or(EINVAL)?;
            if plan.iter().any(|(r, _)| ptr::eq(&**r, &*region)) {
                return Err(EINVAL);
            }
            plan.push((region, value), GFP_KERNEL)?;
        }
    }
    // 3. Allocate every missing pool (-ENOMEM), then publish them: a
    //    write that fails leaves no pool behind.
    let mut new = KVec::new();
    for (region, _) in plan.iter() {
        pool::prepare(css, *region, GFP_KERNEL, &mut new)?;
    }
    let mut pools: KVec<(&pool::Pool, u64)> = KVec::with_capacity(plan.len(), GFP_KERNEL)?;
    pool::publish(new)?;
    for (region, value) in plan.iter() {
        let pool = css.state().pool(*region).ok_or(EINVAL)?;
        pools.push((pool, *value), GFP_KERNEL)?;
    }
    // 4. Apply. Nothing above changed a setting.
    for (pool, value) in pools.iter() {
        pool.counter().set(which, *value);
    }
    Ok(())
}
