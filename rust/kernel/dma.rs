// SPDX-License-Identifier: GPL-2.0

//! The DMA API, as far as an accountant of DMA memory needs it: a live
//! allocation as its allocator returned it, the scatter-gather table that
//! describes its pages, and freeing it.
//!
//! C headers: [`include/linux/dma-mapping.h`](srctree/include/linux/dma-mapping.h),
//! [`include/linux/scatterlist.h`](srctree/include/linux/scatterlist.h).
//!
//! Part of the dev cgroup controller's overlay (`kernel/cgroup/dev`).

use crate::bindings;
use crate::device::Device;
use crate::error::{to_result, Result};
use crate::types::Opaque;
use core::ffi::c_void;
use core::ops::Deref;

/// A scatter-gather table (`struct sg_table`) someone else owns.
///
/// # Invariants
///
/// A `&SgTable` points to a valid, initialised table that is not changed
/// for as long as the borrow lasts.
#[repr(transparent)]
pub struct SgTable(Opaque<bindings::sg_table>);

impl SgTable {
    /// Borrows the table at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid table that nobody changes or frees for
    /// `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::sg_table) -> &'a Self {
        // SAFETY: a transparent wrapper, valid for `'a` (caller).
        unsafe { &*ptr.cast() }
    }

    /// The C `struct sg_table`.
    pub fn as_raw(&self) -> *mut bindings::sg_table {
        self.0.get()
    }

    /// Number of entries of the table as the CPU sees it (`orig_nents`).
    pub fn entries(&self) -> usize {
        // SAFETY: a valid table (type invariant).
        unsafe { (*self.as_raw()).orig_nents as usize }
    }
}

/// A scatter-gather table this code built, freed (`sg_free_table()`) when
/// dropped.
///
/// # Invariants
///
/// The table was filled by the DMA API and is freed only by `drop`.
pub struct OwnedSgTable(SgTable);

impl Deref for OwnedSgTable {
    type Target = SgTable;

    fn deref(&self) -> &SgTable {
        &self.0
    }
}

impl Drop for OwnedSgTable {
    fn drop(&mut self) {
        // SAFETY: filled by the DMA API and not freed before (invariant).
        unsafe { bindings::sg_free_table(self.0.as_raw()) }
    }
}

/// `DMA_ATTR_WRITE_COMBINE`: what `dma_alloc_wc()` passes to
/// `dma_alloc_attrs()`.
pub const ATTR_WRITE_COMBINE: usize = bindings::DMA_ATTR_WRITE_COMBINE as usize;

/// Which way data moves (`enum dma_data_direction`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Direction {
    /// `DMA_BIDIRECTIONAL`.
    Bidirectional,
    /// `DMA_TO_DEVICE`.
    ToDevice,
    /// `DMA_FROM_DEVICE`.
    FromDevice,
}

impl Direction {
    fn as_raw(self) -> bindings::dma_data_direction {
        match self {
            Direction::Bidirectional => bindings::dma_data_direction_DMA_BIDIRECTIONAL,
            Direction::ToDevice => bindings::dma_data_direction_DMA_TO_DEVICE,
            Direction::FromDevice => bindings::dma_data_direction_DMA_FROM_DEVICE,
        }
    }
}

/// How an [`Allocation`] was made, which says how it is freed and how its
/// pages are found.
#[derive(Clone, Copy)]
pub enum Kind<'a> {
    /// `dma_alloc_attrs()` (`dma_alloc_coherent()`, `dma_alloc_wc()`) with
    /// these attributes.
    Attrs(usize),
    /// `dma_alloc_noncoherent()` for this direction: memory of the linear
    /// map.
    Noncoherent(Direction),
    /// `dma_alloc_noncontiguous()`: the pages of this table. (Its maker
    /// frees it: freeing needs the direction it was made for.)
    Noncontiguous(&'a SgTable),
}

impl<'a> Kind<'a> {
    /// The kind of a framework's contiguous buffer described as videobuf2's
    /// dma-contig memop describes it: by its table when it has one (made by
    /// `dma_alloc_noncontiguous()`), else by the attributes given to
    /// `dma_alloc_attrs()`.
    ///
    /// # Safety
    ///
    /// `sgt` must be NULL or point to a valid table that nobody changes or
    /// frees for `'a`.
    pub unsafe fn from_table_or_attrs(sgt: *mut bindings::sg_table, attrs: usize) -> Self {
        if sgt.is_null() {
            Kind::Attrs(attrs)
        } else {
            // SAFETY: a valid table for `'a` (caller).
            Kind::Noncontiguous(unsafe { SgTable::from_raw(sgt) })
        }
    }
}

/// A live allocation of the DMA API, described by what its allocator
/// returned.
///
/// # Invariants
///
/// `dev`, `cpu_addr`, `dma_addr`, `size` and `kind` describe an allocation
/// made for `dev` in the way `kind` says, live for `'a`; if it was made
/// with `dma_alloc_noncontiguous()`, `cpu_addr` is its vmap or NULL.
pub struct Allocation<'a> {
    dev: &'a Device,
    cpu_addr: *mut c_void,
    dma_addr: bindings::dma_addr_t,
    size: usize,
    kind: Kind<'a>,
}

impl<'a> Allocation<'a> {
    /// Describes a live allocation.
    ///
    /// # Safety
    ///
    /// The arguments must describe an allocation made for `dev` as `kind`
    /// says, with the address and size the allocator returned and was asked
    /// for, and it must stay live for `'a`. It may be freed only through
    /// this value ([`Allocation::free`], at most once, since it consumes the
    /// value): no other `Allocation` may describe it, and once it is freed
    /// nobody may use the memory.
    pub unsafe fn from_raw(
        dev: &'a Device,
        cpu_addr: *mut c_void,
        dma_addr: bindings::dma_addr_t,
        size: usize,
        kind: Kind<'a>,
    ) -> Self {
        // INVARIANT: guaranteed by the caller.
        Allocation {
            dev,
            cpu_addr,
            dma_addr,
            size,
            kind,
        }
    }

    /// The device it was made for.
    pub fn device(&self) -> &'a Device {
        self.dev
    }

    /// The CPU address the allocator returned (for `dma_alloc_attrs()`, its
    /// "cookie", which need not be a kernel address).
    pub fn cpu_addr(&self) -> *mut c_void {
        self.cpu_addr
    }

    /// The device's address of the memory.
    pub fn dma_addr(&self) -> bindings::dma_addr_t {
        self.dma_addr
    }

    /// Bytes asked for.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How it was made.
    pub fn kind(&self) -> Kind<'a> {
        self.kind
    }

    /// The table of the allocation's pages, as `dma_get_sgtable_attrs()`
    /// builds it for a `dma_alloc_attrs()` allocation; `EINVAL` for other
    /// kinds (their pages are known otherwise), and the DMA API's error when
    /// it cannot describe the memory in pages.
    pub fn sg_table(&self) -> Result<OwnedSgTable> {
        let Kind::Attrs(attrs) = self.kind else {
            return Err(crate::error::code::EINVAL);
        };
        // SAFETY: all-zero is an empty `struct sg_table` (pointers and counts).
        let table = Opaque::new(unsafe { core::mem::zeroed::<bindings::sg_table>() });
        // SAFETY: a live `dma_alloc_attrs()` allocation (invariant); `table`
        // is a zeroed table for the DMA API to fill.
        to_result(unsafe {
            bindings::dma_get_sgtable_attrs(
                self.dev.as_raw(),
                table.get(),
                self.cpu_addr,
                self.dma_addr,
                self.size,
                attrs as _,
            )
        })?;
        // INVARIANT: filled by the DMA API just above.
        Ok(OwnedSgTable(SgTable(table)))
    }

    /// Frees the memory, as the allocator's counterpart does; `EINVAL`,
    /// freeing nothing, for a non-contiguous allocation (see [`Kind`]).
    pub fn free(self) -> Result {
        let dev = self.dev.as_raw();
        match self.kind {
            // SAFETY: a live allocation of this kind (invariant), freed
            // once: `self` is consumed, and nobody uses the memory after
            // (the constructor's contract).
            Kind::Attrs(attrs) => unsafe {
                bindings::dma_free_attrs(dev, self.size, self.cpu_addr, self.dma_addr, attrs as _)
            },
            // SAFETY: as above.
            Kind::Noncoherent(dir) => unsafe {
                bindings::dma_free_noncoherent(
                    dev,
                    self.size,
                    self.cpu_addr,
                    self.dma_addr,
                    dir.as_raw(),
                )
            },
            Kind::Noncontiguous(_) => return Err(crate::error::code::EINVAL),
        }
        Ok(())
    }
}
