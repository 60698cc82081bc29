// SPDX-License-Identifier: GPL-2.0

//! Registered devices and their regions.
//!
//! The registry is the only global state. Its mutex is taken by registration,
//! unregistration, and by the interface files only to copy the device list
//! (no walk of cgroups happens under it); never by the charge path: a charge
//! is given its [`Region`] by the driver.

use core::ops::Deref;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::once_box::OnceBox;
use kernel::sync::owner_link::OwnerLink;
use kernel::sync::{Arc, ArcBorrow, Mutex, SpinLock};
use kernel::{fmt, new_mutex, new_spinlock};

use crate::logic::idset;
use crate::logic::parse::{valid_device_name, valid_region_name};

/// Most regions registered at once, across all devices.
pub(crate) const MAX_REGIONS: usize = 4096;

/// Region slots in use, a bit each. Taken under the registry mutex, given
/// back from any context by [`Slot`]'s drop, hence atomics.
static SLOTS_IN_USE: [AtomicU64; MAX_REGIONS / 64] =
    [const { AtomicU64::new(0) }; MAX_REGIONS / 64];

/// A region's index in every cgroup's pool table, held until the region is
/// freed. Pools keep their region alive, so a slot is never reused while
/// some table may still hold a pool of its previous owner.
struct Slot(usize);

impl Slot {
    fn take() -> Option<Slot> {
        for (i, word) in SLOTS_IN_USE.iter().enumerate() {
            let mut used = word.load(Ordering::Relaxed);
            while used != u64::MAX {
                let bit = (!used).trailing_zeros();
                match word.compare_exchange(
                    used,
                    used | 1 << bit,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Some(Slot(i * 64 + bit as usize)),
                    Err(seen) => used = seen,
                }
            }
        }
        None
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        SLOTS_IN_USE[self.0 / 64].fetch_and(!(1 << (self.0 % 64)), Ordering::Release);
    }
}

/// One region of a device: a pool of memory with a capacity.
#[pin_data]
pub(crate) struct Region {
    name: CString,
    capacity: u64,
    slot: Slot,
    /// Set once at unregistration: new charges fail with `-ENODEV`.
    dead: AtomicBool,
    /// The device this region belongs to, which owns it: set before the
    /// device is published.
    device: OwnerLink<Device>,
    /// The css ids of the cgroups that have a pool of this region in their
    /// table (see `logic::idset`), so that unregistering visits those only.
    #[pin]
    pooled: SpinLock<KVec<u64>>,
    /// Set if a pool could not be recorded in `pooled` (no room was
    /// reserved): then `pooled` is not to be trusted.
    pooled_incomplete: AtomicBool,
}

/// A region whose device is held for `'a`.
///
/// # Invariants
///
/// The region's [`Device`] is not dropped during `'a`, so its pools stay in
/// their tables (see `pool`): a pool found with a `HeldRegion<'a>` is valid
/// for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct HeldRegion<'a>(ArcBorrow<'a, Region>);

impl<'a> HeldRegion<'a> {
    /// # Safety
    ///
    /// The caller must hold a reference on the region's device for `'a`.
    pub(crate) unsafe fn new(region: ArcBorrow<'a, Region>) -> Self {
        // INVARIANT: guaranteed by the caller.
        HeldRegion(region)
    }

    /// A new reference on the region.
    pub(crate) fn arc(&self) -> Arc<Region> {
        self.0.into()
    }

    /// A new reference on the region's device. (`None` only for a region
    /// not linked to its device, which `Registry::register` never publishes.)
    pub(crate) fn device(&self) -> Option<Arc<Device>> {
        // SAFETY: the device is held for `'a` (type invariant).
        unsafe { self.0.device.get() }.map(Arc::from)
    }
}

impl Deref for HeldRegion<'_> {
    type Target = Region;

    fn deref(&self) -> &Region {
        &self.0
    }
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
        self.slot.0
    }
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// Makes room to record a pool of the cgroup with css id `id` (see
    /// [`Region::record_pool`]), allocating with `flags`.
    pub(crate) fn reserve_pool_record(&self, id: usize, flags: kernel::alloc::Flags) -> Result {
        let needed = idset::words_for(id);
        if self.pooled.lock().len() >= needed {
            return Ok(());
        }
        // Allocated without the lock, then swapped in if still needed.
        let mut bigger = KVec::from_elem(0u64, needed.next_power_of_two(), flags)?;
        let mut pooled = self.pooled.lock();
        if pooled.len() < needed {
            bigger[..pooled.len()].copy_from_slice(&pooled);
            core::mem::swap(&mut *pooled, &mut bigger);
        }
        drop(pooled);
        Ok(())
    }

    /// Records that the cgroup with css id `id` has a pool of this region;
    /// false if no room was reserved for it, which marks the record
    /// incomplete for good.
    pub(crate) fn record_pool(&self, id: usize) -> bool {
        let recorded = idset::insert(&mut self.pooled.lock(), id);
        if !recorded {
            self.pooled_incomplete.store(true, Ordering::Relaxed);
        }
        recorded
    }

    /// Whether every pool of the region is recorded.
    pub(crate) fn pool_record_complete(&self) -> bool {
        !self.pooled_incomplete.load(Ordering::Relaxed)
    }

    /// Forgets what [`Region::record_pool`] recorded.
    pub(crate) fn forget_pool(&self, id: usize) {
        idset::remove(&mut self.pooled.lock(), id)
    }

    /// Appends the css ids recorded for this region to `out`, allocating
    /// with `flags`.
    pub(crate) fn pooled_ids(&self, out: &mut KVec<usize>, flags: kernel::alloc::Flags) -> Result {
        let count = idset::len(&self.pooled.lock());
        out.reserve(count, flags)?;
        // What the lock saw above, or fewer: `out` has room for them.
        for id in idset::ids(&self.pooled.lock()).take(count) {
            out.push(id, flags)?;
        }
        Ok(())
    }

    /// The region's device, as `Arc::into_raw` returns it: for handing back
    /// a reference that [`HeldRegion::device`] gave and C kept.
    pub(crate) fn device_ptr(&self) -> *const Device {
        self.device.as_ptr()
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
    pub(crate) fn regions(&self) -> impl Iterator<Item = HeldRegion<'_>> {
        // INVARIANT: `&self` borrows a device someone holds, so it cannot be
        // dropped during the borrow.
        self.regions.iter().map(|r| HeldRegion(r.as_arc_borrow()))
    }
    pub(crate) fn region(&self, name: &str) -> Option<HeldRegion<'_>> {
        self.regions().find(|r| r.name() == name)
    }
    pub(crate) fn region_at(&self, index: usize) -> Option<&Region> {
        self.regions.get(index).map(|r| &**r)
    }
}

impl Drop for Device {
    /// Nobody holds the device any more, so no charge can be under way on
    /// its regions: their pools can leave the cgroups' tables.
    fn drop(&mut self) {
        crate::pool::forget_regions(&self.regions);
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
    /// Serialises charge transfers (`api::take`) and the reads of a
    /// record's payer, the only writers and readers of a live buffer's
    /// record besides its allocator and its release.
    #[pin]
    pub(crate) transfers: Mutex<()>,
}

/// Made once, when cgroup_init() allocates the root css, and never freed.
static REGISTRY: OnceBox<Registry> = OnceBox::new();

/// Creates the registry. Called from the root's `css_alloc`, before any
/// initcall can register a device.
pub(crate) fn init() -> Result {
    REGISTRY.get_or_try_init(
        pin_init!(Registry {
            devices <- new_mutex!(KVec::new(), "devcg_registry"),
            transfers <- new_mutex!((), "devcg_transfers"),
        }),
        GFP_KERNEL,
    )?;
    Ok(())
}

/// The registry, once the controller is initialised.
pub(crate) fn get() -> Result<&'static Registry> {
    REGISTRY.get().ok_or(ENODEV)
}

impl Registry {
    /// The registered devices, in registration order, held: a snapshot taken
    /// under the registry lock, which callers then use without it, so that
    /// no reader or writer of a cgroup's files holds the lock for longer
    /// than the copy.
    pub(crate) fn devices(&self) -> Result<KVec<Arc<Device>>> {
        let devices = self.devices.lock();
        let mut held = KVec::with_capacity(devices.len(), GFP_KERNEL)?;
        for device in devices.iter().flatten() {
            held.push(device.clone(), GFP_KERNEL)?;
        }
        Ok(held)
    }

    /// The registered device that owns `region`, held, or `None` once it
    /// is unregistered.
    pub(crate) fn holder_of(&self, region: &Region) -> Option<Arc<Device>> {
        let devices = self.devices.lock();
        let holder = devices
            .iter()
            .flatten()
            .find(|d| d.regions.iter().any(|r| ptr::eq(&**r, region)))?;
        Some(holder.clone())
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

        let mut regions = KVec::with_capacity(descs.len(), GFP_KERNEL)?;
        for desc in descs {
            let slot = Slot::take().ok_or(ENOSPC)?;
            let name = CString::try_from_fmt(fmt!("{}", desc.name))?;
            let region = pin_init!(Region {
                slot,
                name,
                capacity: desc.capacity,
                dead: AtomicBool::new(false),
                device: OwnerLink::new(),
                pooled <- new_spinlock!(KVec::new(), "devcg_region_pooled"),
                pooled_incomplete: AtomicBool::new(false),
            });
            regions.push(Arc::pin_init(region, GFP_KERNEL)?, GFP_KERNEL)?;
        }
        let device = Arc::new(
            Device {
                name: CString::try_from_fmt(fmt!("{}", name))?,
                regions,
            },
            GFP_KERNEL,
        )?;
        for region in device.regions.iter() {
            // New regions: nothing else could link them.
            region.device.set(&device);
        }

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

    /// Removes `device` from the listings and fails its future charges. Its
    /// pools leave the cgroups' tables once the device's last holder lets go
    /// (`Device::drop`); pools that still hold charges, and their regions,
    /// live until the last uncharge.
    pub(crate) fn unregister(&self, device: &Arc<Device>) {
        let mut devices = self.devices.lock();
        for entry in devices.iter_mut() {
            if entry.as_ref().is_some_and(|d| Arc::ptr_eq(d, device)) {
                *entry = None;
            }
        }
        for region in device.regions.iter() {
            region.dead.store(true, Ordering::Release);
        }
    }
}
