// SPDX-License-Identifier: GPL-2.0

//! Registered devices and their regions.
//!
//! The registry is the only global state. Its mutex is taken by registration,
//! unregistration and the interface files, never by the charge path: a charge
//! is given its [`Region`] by the driver.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::{Arc, Mutex};
use kernel::{fmt, new_mutex};

use crate::logic::parse::{valid_device_name, valid_region_name};

/// One region of a device: a pool of memory with a capacity.
pub(crate) struct Region {
    name: CString,
    capacity: u64,
    /// Index of this region's pool in every cgroup's pool table. Unique among
    /// registered regions; reused only after unregistration removed every
    /// table entry of the previous owner.
    slot: usize,
    /// Set once at unregistration: new charges fail with `-ENODEV`.
    dead: AtomicBool,
}

impl Region {
    pub(crate) fn name(&self) -> &str {
        // Validated as ASCII at registration.
        self.name.to_str().unwrap_or("")
    }
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }
    pub(crate) fn slot(&self) -> usize {
        self.slot
    }
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }
}

/// A registered device: a name and its regions, in registration order.
pub(crate) struct Device {
    name: CString,
    regions: KVec<Arc<Region>>,
}

impl Device {
    pub(crate) fn name(&self) -> &str {
        // Validated as ASCII at registration.
        self.name.to_str().unwrap_or("")
    }
    pub(crate) fn regions(&self) -> &[Arc<Region>] {
        &self.regions
    }
    pub(crate) fn region(&self, name: &str) -> Option<&Arc<Region>> {
        self.regions.iter().find(|r| r.name() == name)
    }
}

/// What a new region is registered with.
pub(crate) struct RegionDesc<'a> {
    pub(crate) name: &'a str,
    pub(crate) capacity: u64,
}

/// The registered devices, in registration order. `None` marks a device that
/// was unregistered; holes are compacted on the next registration.
#[pin_data]
pub(crate) struct Registry {
    #[pin]
    devices: Mutex<KVec<Option<Arc<Device>>>>,
}

/// Set once, when cgroup_init() allocates the root css, and never freed.
static REGISTRY: AtomicPtr<Registry> = AtomicPtr::new(ptr::null_mut());

/// Creates the registry. Called from the root's `css_alloc`, before any
/// initcall can register a device.
pub(crate) fn init() -> Result {
    if !REGISTRY.load(Ordering::Acquire).is_null() {
        return Ok(());
    }
    let registry = KBox::pin_init(
        pin_init!(Registry { devices <- new_mutex!(KVec::new(), "devcg_registry") }),
        GFP_KERNEL,
    )?;
    // SAFETY: the registry is leaked below and never moved or freed again.
    let registry = KBox::into_raw(unsafe { Pin::into_inner_unchecked(registry) });
    REGISTRY.store(registry, Ordering::Release);
    Ok(())
}

/// The registry, once the controller is initialised.
pub(crate) fn get() -> Result<&'static Registry> {
    let registry = REGISTRY.load(Ordering::Acquire);
    // SAFETY: a non-null value was stored by `init` and is never freed.
    unsafe { registry.as_ref() }.ok_or(ENODEV)
}

impl Registry {
    /// Calls `f` with the registered devices, in registration order, under the
    /// registry lock (so `f` sees a consistent set and may sleep).
    pub(crate) fn with_devices<R>(
        &self,
        f: impl FnOnce(&mut dyn Iterator<Item = &Arc<Device>>) -> R,
    ) -> R {
        let devices = self.devices.lock();
        f(&mut devices.iter().flatten())
    }

    /// Registers a device. Names are validated and must be unique.
    pub(crate) fn register(&self, name: &str, descs: &[RegionDesc<'_>]) -> Result<Arc<Device>> {
        if !valid_device_name(name) || descs.is_empty() {
            return Err(EINVAL);
        }
        for (i, desc) in descs.iter().enumerate() {
            let duplicate = descs[..i].iter().any(|d| d.name == desc.name);
            if !valid_region_name(desc.name) || duplicate {
                return Err(EINVAL);
            }
        }
        let mut devices = self.devices.lock();
        if devices.iter().flatten().any(|d| d.name() == name) {
            return Err(EEXIST);
        }

        // Free slots: those of no registered region.
        let mut used = KVec::new();
        for region in devices.iter().flatten().flat_map(|d| d.regions.iter()) {
            if used.len() <= region.slot {
                used.extend_with(region.slot + 1 - used.len(), false, GFP_KERNEL)?;
            }
            used[region.slot] = true;
        }
        let mut free_slots = (0..).filter(|s| !used.get(*s).copied().unwrap_or(false));

        let mut regions = KVec::with_capacity(descs.len(), GFP_KERNEL)?;
        for desc in descs {
            let region = Region {
                name: CString::try_from_fmt(fmt!("{}", desc.name))?,
                capacity: desc.capacity,
                slot: free_slots.next().ok_or(ENOSPC)?,
                dead: AtomicBool::new(false),
            };
            regions.push(Arc::new(region, GFP_KERNEL)?, GFP_KERNEL)?;
        }
        let device = Arc::new(
            Device {
                name: CString::try_from_fmt(fmt!("{}", name))?,
                regions,
            },
            GFP_KERNEL,
        )?;

        if devices.iter().any(Option::is_none) {
            let mut compact = KVec::with_capacity(devices.len(), GFP_KERNEL)?;
            for d in devices.iter().flatten() {
                compact.push(Some(d.clone()), GFP_KERNEL)?;
            }
            *devices = compact;
        }
        devices.push(Some(device.clone()), GFP_KERNEL)?;
        Ok(device)
    }

    /// Removes `device` from the listings and fails its future charges. Pools
    /// that still hold charges keep the regions alive until the last uncharge.
    pub(crate) fn unregister(&self, device: &Arc<Device>) {
        {
            let mut devices = self.devices.lock();
            for entry in devices.iter_mut() {
                if entry.as_ref().is_some_and(|d| Arc::ptr_eq(d, device)) {
                    *entry = None;
                }
            }
            for region in device.regions() {
                region.dead.store(true, Ordering::Release);
            }
        }
        // Drop every cgroup's table entry so that only charges keep pools,
        // and the region's memory, alive.
        for region in device.regions() {
            crate::pool::forget_region(region);
        }
    }
}
