// SPDX-License-Identifier: GPL-2.0

//! Charging buffers to the dev cgroup controller: the driver API of
//! `include/linux/cgroup_dev.h` as the controller's adapters use it.
//!
//! A [`Region`] is a registered device's memory region; regions of memory
//! the kernel knows at boot (system RAM, each CMA area) live forever, a
//! per-device DMA pool's as long as any buffer of it. A [`BufferCharge`] is
//! the record a framework keeps in each buffer: what was charged, to which
//! pool, given back by [`BufferCharge::uncharge`].

use crate::bindings;
use crate::cgroup::Css;
#[cfg(CONFIG_CMA)]
use crate::cma::Cma;
use crate::dma::{Allocation, Kind, SgTable};
use crate::error::{from_err_ptr, to_result, Result};
use crate::seq_file::SeqFile;
use crate::str::CStr;
use crate::types::Opaque;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

/// `EOPNOTSUPP`, which 6.12's `kernel::error::code` lacks: what a take
/// returns for a buffer the controller did not charge.
pub fn eopnotsupp() -> crate::error::Error {
    crate::error::Error::from_errno(-(bindings::EOPNOTSUPP as i32))
}

/// The framework a charge is counted for in `dev.stat`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Consumer {
    /// DRM (GEM, TTM).
    Drm,
    /// V4L2 (videobuf2).
    V4l2,
    /// dma-buf heaps.
    DmaHeap,
    /// Anything else.
    Other,
}

impl Consumer {
    fn as_raw(self) -> bindings::dev_cgroup_consumer {
        match self {
            Consumer::Drm => bindings::dev_cgroup_consumer_DEV_CGROUP_CONSUMER_DRM,
            Consumer::V4l2 => bindings::dev_cgroup_consumer_DEV_CGROUP_CONSUMER_V4L2,
            Consumer::DmaHeap => bindings::dev_cgroup_consumer_DEV_CGROUP_CONSUMER_DMA_HEAP,
            Consumer::Other => bindings::dev_cgroup_consumer_DEV_CGROUP_CONSUMER_OTHER,
        }
    }
}

/// A memory region of a device registered with the controller.
///
/// # Invariants
///
/// A `&'a Region` points to a region whose device stays registered, or at
/// least held, for `'a`.
#[repr(transparent)]
pub struct Region(Opaque<bindings::dev_cgroup_region>);

// SAFETY: regions are shared by every CPU; the controller synchronises what
// it changes in them.
unsafe impl Sync for Region {}

/// Turns what the controller's C functions return into a region: NULL is
/// memory no region accounts.
///
/// # Safety
///
/// `ptr` must be NULL or a region valid for `'a`.
unsafe fn region<'a>(ptr: *mut bindings::dev_cgroup_region) -> Option<&'a Region> {
    // SAFETY: a transparent wrapper, valid for `'a` (caller).
    (!ptr.is_null()).then(|| unsafe { &*ptr.cast::<Region>() })
}

fn region_ptr(region: Option<&Region>) -> *mut bindings::dev_cgroup_region {
    region.map_or(ptr::null_mut(), |r| r.0.get())
}

impl Region {
    /// Borrows the region at `ptr`; `None` for NULL.
    ///
    /// # Safety
    ///
    /// `ptr` must be NULL or point to a region whose device is held for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::dev_cgroup_region) -> Option<&'a Self> {
        // SAFETY: forwarded from the caller.
        unsafe { region(ptr) }
    }

    /// The C pointer (NULL for `None`), to hand back to C.
    pub fn as_raw(region: Option<&Self>) -> *mut bindings::dev_cgroup_region {
        region_ptr(region)
    }

    /// `system region.ram`: memory of the page allocator.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::cgroup::dev::buffer::Region;
    ///
    /// let ram = Region::system_ram().ok_or(kernel::error::code::ENODEV)?;
    /// # #[cfg(CONFIG_DMA_CMA)]
    /// # {
    /// let cma = kernel::cma::Cma::dma_default().ok_or(kernel::error::code::ENODEV)?;
    /// // Each CMA area is a region of its own (`cma region.reserved`).
    /// let area = Region::of_cma(cma).ok_or(kernel::error::code::ENODEV)?;
    /// assert!(!core::ptr::eq(area, ram));
    /// # }
    /// # Ok::<(), kernel::error::Error>(())
    /// ```
    pub fn system_ram() -> Option<&'static Self> {
        // SAFETY: no preconditions; a boot-time region or NULL.
        unsafe { region(bindings::dev_cgroup_system_ram_region()) }
    }

    /// The region of a CMA area, if it has one.
    #[cfg(CONFIG_CMA)]
    pub fn of_cma(cma: &Cma) -> Option<&'static Self> {
        // SAFETY: `cma` is an area; it is only compared against the
        // registered ones. The result is a boot-time region or NULL.
        unsafe { region(bindings::dev_cgroup_cma_region(cma.as_raw())) }
    }

    /// The region of the pages of `sgt` (its first page's: one allocation
    /// never spans two regions).
    pub fn of_sg_table(sgt: &SgTable) -> Option<&'static Self> {
        // SAFETY: a valid table (`SgTable` invariant). Pages are classified
        // into boot-time regions only.
        unsafe { region(bindings::dev_cgroup_sg_region(sgt.as_raw())) }
    }

    /// The region behind a kernel address (linear map or vmalloc).
    ///
    /// # Safety
    ///
    /// `addr` must be the start of a live allocation.
    pub unsafe fn of_kernel_address(addr: *const c_void) -> Option<&'static Self> {
        // SAFETY: a live allocation (caller); classified into boot-time
        // regions only.
        unsafe { region(bindings::dev_cgroup_virt_region(addr)) }
    }

    /// Where memory is charged that nothing can place (`why` is logged
    /// once per boot, and the buffer counted): system RAM.
    pub fn unclassified(why: &'static CStr) -> Option<&'static Self> {
        // SAFETY: a NUL-terminated string that lives forever.
        unsafe { region(bindings::dev_cgroup_unclassified_region(why.as_char_ptr())) }
    }

    /// The region the memory of a DMA allocation came from: the table's
    /// pages for a non-contiguous one, the page behind a non-coherent one's
    /// address; for `dma_alloc_attrs()`, the device's coherent pool if it
    /// has one (taken before the device's mapping is looked at), the page
    /// behind the DMA address of a directly mapped device, else the pages
    /// the DMA API reports; unclassified if it can report none.
    pub fn of_dma<'b>(alloc: &'b Allocation<'_>) -> Option<&'b Self> {
        let dev = alloc.device().as_raw();
        match alloc.kind() {
            Kind::Noncontiguous(sgt) => return Self::of_sg_table(sgt),
            // SAFETY: the linear-map address of a live allocation
            // (`Allocation` invariant).
            Kind::Noncoherent(_) => return unsafe { Self::of_kernel_address(alloc.cpu_addr()) },
            Kind::Attrs(_) => {}
        }
        // SAFETY: a live `dma_alloc_attrs()` allocation of `dev`; a pool's
        // region lives as long as any of its buffers, so for the borrow of
        // `alloc` (which `free` would end).
        if let Some(pool) =
            unsafe { region(bindings::dev_cgroup_dma_pool_region(dev, alloc.cpu_addr())) }
        {
            return Some(pool);
        }
        // SAFETY: as above; pages are classified into boot-time regions.
        if let Some(direct) = unsafe {
            region(bindings::dev_cgroup_dma_direct_region(
                dev,
                alloc.dma_addr(),
            ))
        } {
            return Some(direct);
        }
        match alloc.sg_table() {
            Ok(table) => Self::of_sg_table(&table),
            // The DMA API could not describe the memory in pages (no struct
            // pages, or no memory for a table): charge it, visibly, where a
            // limit still applies rather than fail the allocation.
            Err(_) => Self::unclassified(crate::c_str!("no page table from the DMA API")),
        }
    }
}

/// What the DMA layer really took for `alloc` from `region` (see
/// `dev_cgroup_dma_cost()`): a directly mapped device's page-allocator
/// memory comes in power-of-two blocks.
pub fn dma_cost(alloc: &Allocation<'_>, region: Option<&Region>) -> u64 {
    let pages_api = !matches!(alloc.kind(), Kind::Attrs(_));
    // SAFETY: `dev` is live (borrowed) and `region` NULL or valid.
    unsafe {
        bindings::dev_cgroup_dma_cost(
            alloc.device().as_raw(),
            region_ptr(region),
            alloc.size() as u64,
            pages_api,
        )
    }
}

/// A pool that limited a refused charge, referenced for the caller (TTM's
/// eviction walk): the C `struct dev_cgroup_pool *` a caller passed to be
/// filled, NULL until then.
#[repr(transparent)]
pub struct LimitPoolSlot(*mut bindings::dev_cgroup_pool);

/// The charge record a framework keeps in each buffer (`struct
/// dev_cgroup_charge`): the pool charged and how much.
///
/// # Invariants
///
/// The record is zeroed or was filled by this type's methods (or the C
/// functions behind them). Once its buffer is shared, its `pool` is only
/// read and written atomically (the controller's release swap and charge
/// transfers, which it serialises); before, only its allocator writes it.
#[repr(transparent)]
pub struct BufferCharge(Opaque<bindings::dev_cgroup_charge>);

impl Default for BufferCharge {
    fn default() -> Self {
        Self::new()
    }
}

impl BufferCharge {
    /// An empty record.
    pub const fn new() -> Self {
        // INVARIANT: zeroed.
        BufferCharge(Opaque::new(bindings::dev_cgroup_charge {
            pool: ptr::null_mut(),
            size: 0,
        }))
    }

    /// Borrows the record at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a record that is zeroed or was filled by the
    /// controller's charge functions, and that nobody else uses for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::dev_cgroup_charge) -> &'a Self {
        // SAFETY: a transparent wrapper, valid and ours for `'a` (caller).
        unsafe { &*ptr.cast() }
    }

    /// Bytes this record holds charged (0 if none).
    pub fn charged_bytes(&self) -> u64 {
        let charge = self.0.get();
        // SAFETY: a valid, aligned record (type invariant), whose `pool` is
        // accessed atomically once shared.
        let pool =
            unsafe { core::sync::atomic::AtomicPtr::from_ptr(ptr::addr_of_mut!((*charge).pool)) };
        if pool.load(core::sync::atomic::Ordering::Acquire).is_null() {
            0
        } else {
            // SAFETY: as above; `size` is written with the charge and never
            // changed by a transfer.
            unsafe { (*charge).size }
        }
    }

    /// Charges `size` bytes of `region` (`None`: memory nobody accounts,
    /// nothing charged) to the current task's cgroup for `consumer`.
    /// `ENOMEM` when a `dev.max` refuses it.
    ///
    /// A record that already holds a charge must be uncharged first: the
    /// old charge would be forgotten, never returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::cgroup::dev::buffer::{BufferCharge, Consumer, Region};
    ///
    /// let record = BufferCharge::new();
    /// record.charge(Region::system_ram(), 4096, Consumer::Other)?;
    /// assert_eq!(record.charged_bytes(), 4096);
    /// record.uncharge();
    /// assert_eq!(record.charged_bytes(), 0);
    /// // Uncharging an empty record does nothing.
    /// record.uncharge();
    /// record.charge(None, 4096, Consumer::Other)?;
    /// assert_eq!(record.charged_bytes(), 0);
    /// # Ok::<(), kernel::error::Error>(())
    /// ```
    pub fn charge(&self, region: Option<&Region>, size: u64, consumer: Consumer) -> Result {
        // SAFETY: a record of ours (type invariant); `region` is NULL or
        // held for the call (`Region` invariant).
        to_result(unsafe {
            bindings::dev_cgroup_charge_buffer(
                self.0.get(),
                region_ptr(region),
                size,
                consumer.as_raw(),
            )
        })
    }

    /// Charges `size` bytes of `region` to `owner`'s cgroup (the current
    /// task's if `None`), or, if it went offline, its nearest online
    /// ancestor's. On a refusal by a `dev.max`, `limit` (if given) receives
    /// the limiting pool, referenced. Returns the controller's errno as is;
    /// `EINVAL` if `owner` is not a css of the dev controller.
    pub fn charge_owner(
        &self,
        owner: Option<&Css>,
        region: &Region,
        size: u64,
        consumer: Consumer,
        limit: Option<&mut LimitPoolSlot>,
    ) -> Result {
        if let Some(owner) = owner {
            // SAFETY: `owner` is live (`Css` invariant); `ss` is set at
            // creation and never changes.
            let ss = unsafe { (*owner.as_raw()).ss };
            if !ptr::eq(ss, ptr::addr_of!(bindings::dev_cgrp_subsys)) {
                return Err(crate::error::code::EINVAL);
            }
        }
        let mut pool: *mut bindings::dev_cgroup_pool = ptr::null_mut();
        let limit = limit.map_or(ptr::null_mut(), |slot| ptr::from_mut(&mut slot.0));
        // SAFETY: `owner` is NULL or referenced for the call (`Css`
        // invariant) and a css of the dev controller (checked above);
        // `region` is held; `pool` and `limit` are writable.
        let ret = unsafe {
            bindings::dev_cgroup_try_charge_owner(
                owner.map_or(ptr::null_mut(), Css::as_raw),
                region.0.get(),
                size,
                consumer.as_raw(),
                &mut pool,
                limit,
            )
        };
        let charge = self.0.get();
        // SAFETY: a record of ours (type invariant), written in place.
        unsafe {
            (*charge).pool = pool;
            (*charge).size = if pool.is_null() { 0 } else { size };
        }
        to_result(ret)
    }

    /// Moves the charge to the current task's cgroup (see
    /// `DEV_CGROUP_IOC_TAKE` in `<uapi/linux/dev_cgroup.h>`): the bytes now
    /// charged to it. `ENOMEM` at a limit, with nothing changed;
    /// `EOPNOTSUPP` if the record holds no charge; `ENODEV` if its region is
    /// going away.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::cgroup::dev::buffer::{BufferCharge, Consumer, Region};
    ///
    /// let record = BufferCharge::new();
    /// assert_eq!(record.take(), Err(kernel::cgroup::dev::buffer::eopnotsupp()));
    /// record.charge(Region::system_ram(), 8192, Consumer::Other)?;
    /// // Already charged to the caller's cgroup: nothing moves.
    /// assert_eq!(record.take(), Ok(8192));
    /// assert_eq!(record.charged_bytes(), 8192);
    /// record.uncharge();
    /// # Ok::<(), kernel::error::Error>(())
    /// ```
    pub fn take(&self) -> Result<u64> {
        let mut bytes = 0;
        // SAFETY: a record of ours (type invariant), whose buffer lives for
        // the call; `bytes` is writable.
        to_result(unsafe { bindings::dev_cgroup_charge_take(self.0.get(), &mut bytes) })?;
        Ok(bytes)
    }

    /// Prints who pays for this record into `out` (the fdinfo line of a
    /// dma-buf); nothing if it holds no charge.
    pub fn show(&self, out: &SeqFile) {
        // SAFETY: a record of ours (type invariant) and a seq_file the
        // caller writes.
        unsafe { bindings::dev_cgroup_charge_show(self.0.get(), out.as_raw()) }
    }

    /// Gives the charge back; does nothing if the record holds none.
    pub fn uncharge(&self) {
        // SAFETY: a record of ours (type invariant).
        unsafe { bindings::dev_cgroup_uncharge_buffer(self.0.get()) }
    }
}

/// One region of a device to register: its name and capacity in bytes.
#[repr(transparent)]
pub struct RegionDesc<'a>(bindings::dev_cgroup_region_desc, PhantomData<&'a CStr>);

impl<'a> RegionDesc<'a> {
    /// A region named `name` (`[A-Za-z0-9_.-]+`, unique in its device) of
    /// `capacity` bytes.
    pub fn new(name: &'a CStr, capacity: u64) -> Self {
        RegionDesc(
            bindings::dev_cgroup_region_desc {
                name: name.as_char_ptr(),
                capacity,
            },
            PhantomData,
        )
    }
}

/// A device registered with the controller, unregistered when dropped
/// (its pools go once their last charge is given back).
///
/// # Invariants
///
/// `self.0` is a device this value holds the registration of.
pub struct Registration(NonNull<bindings::dev_cgroup_device>);

// SAFETY: a registration may be dropped on any CPU.
unsafe impl Send for Registration {}
// SAFETY: `&Registration` only looks regions up, which is thread-safe.
unsafe impl Sync for Registration {}

impl Registration {
    /// Registers the device `name` with `regions`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::c_str;
    /// use kernel::cgroup::dev::buffer::{BufferCharge, Consumer, RegionDesc, Registration};
    ///
    /// let device = Registration::new(
    ///     c_str!("doctest"),
    ///     &[RegionDesc::new(c_str!("vram"), 1 << 20)],
    /// )?;
    /// let vram = device.region(0).ok_or(kernel::error::code::EINVAL)?;
    /// assert!(device.region(1).is_none());
    /// let record = BufferCharge::new();
    /// record.charge(Some(vram), 4096, Consumer::Drm)?;
    /// assert_eq!(record.charged_bytes(), 4096);
    /// record.uncharge();
    /// // A name taken is refused.
    /// assert!(Registration::new(c_str!("doctest"), &[RegionDesc::new(c_str!("vram"), 1)]).is_err());
    /// # Ok::<(), kernel::error::Error>(())
    /// ```
    pub fn new(name: &CStr, regions: &[RegionDesc<'_>]) -> Result<Self> {
        // SAFETY: `name` and the region names are NUL-terminated; `regions`
        // holds `regions.len()` descriptors (a transparent wrapper). The
        // controller copies what it keeps.
        let device = from_err_ptr(unsafe {
            bindings::dev_cgroup_register_device(
                name.as_char_ptr(),
                regions.as_ptr().cast(),
                regions
                    .len()
                    .try_into()
                    .map_err(|_| crate::error::code::EINVAL)?,
            )
        })?;
        // INVARIANT: registered just above, ours.
        NonNull::new(device)
            .map(Registration)
            .ok_or(crate::error::code::ENOMEM)
    }

    /// Region `index`, in registration order.
    pub fn region(&self, index: u32) -> Option<&Region> {
        // SAFETY: we hold the device (type invariant); the region lives as
        // long as the borrow of `self`.
        unsafe { region(bindings::dev_cgroup_device_region(self.0.as_ptr(), index)) }
    }

    /// Gives the registration to C, which unregisters it with
    /// `dev_cgroup_unregister_device()`.
    pub fn into_raw(self) -> *mut bindings::dev_cgroup_device {
        core::mem::ManuallyDrop::new(self).0.as_ptr()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: ours to give up (type invariant).
        unsafe { bindings::dev_cgroup_unregister_device(self.0.as_ptr()) }
    }
}
