// SPDX-License-Identifier: GPL-2.0

//! Contiguous memory allocator (CMA) areas.
//!
//! C header: [`include/linux/cma.h`](srctree/include/linux/cma.h).
//!
//! Part of the dev cgroup controller's overlay (`kernel/cgroup/dev`).

use crate::bindings;
use crate::str::CStr;
use crate::types::Opaque;

/// A CMA area. Areas are set up at boot and never go away.
///
/// # Invariants
///
/// A `&Cma` points to a `struct cma` set up at boot, never freed.
#[repr(transparent)]
pub struct Cma(Opaque<bindings::cma>);

// SAFETY: an area is shared by every CPU; what `&Cma` reads is set at boot.
unsafe impl Sync for Cma {}

impl Cma {
    /// Borrows the area at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a CMA area (which is never freed).
    pub unsafe fn from_raw(ptr: *mut bindings::cma) -> &'static Self {
        // SAFETY: a transparent wrapper of an area that lives forever (caller).
        unsafe { &*ptr.cast() }
    }

    /// The C `struct cma`.
    pub fn as_raw(&self) -> *mut bindings::cma {
        self.0.get()
    }

    /// The default area of the DMA API (`cma=` on the command line), if
    /// there is one.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(CONFIG_DMA_CMA)]
    /// # {
    /// use kernel::cma::Cma;
    ///
    /// // This project's KUnit kernel boots with cma=64M, an area named
    /// // "reserved" (make test).
    /// let area = Cma::dma_default().ok_or(kernel::error::code::ENODEV)?;
    /// assert_eq!(area.name().as_bytes(), b"reserved");
    /// assert_eq!(area.size(), 64 << 20);
    /// # }
    /// # Ok::<(), kernel::error::Error>(())
    /// ```
    #[cfg(CONFIG_DMA_CMA)]
    pub fn dma_default() -> Option<&'static Self> {
        // SAFETY: set once at boot, before any caller can run.
        let area = unsafe { bindings::dma_contiguous_default_area };
        // SAFETY: an area set up at boot.
        (!area.is_null()).then(|| unsafe { Self::from_raw(area) })
    }

    /// The area's name.
    pub fn name(&self) -> &CStr {
        // SAFETY: an area (type invariant); its name is a NUL-terminated
        // string that lives as long as the area.
        unsafe { CStr::from_char_ptr(bindings::cma_get_name(self.as_raw())) }
    }

    /// The area's size in bytes.
    pub fn size(&self) -> u64 {
        // SAFETY: an area (type invariant).
        unsafe { bindings::cma_get_size(self.as_raw()) as u64 }
    }
}
