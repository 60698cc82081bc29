// SPDX-License-Identifier: GPL-2.0

//! dma-buf: what the dev cgroup controller needs of a shared buffer, its
//! charge record.
//!
//! C header: [`include/linux/dma-buf.h`](srctree/include/linux/dma-buf.h).
//!
//! Part of the dev cgroup controller's overlay (`kernel/cgroup/dev`).

use crate::bindings;
use crate::types::Opaque;

#[cfg(CONFIG_CGROUP_DEV)]
use crate::cgroup::dev::buffer::BufferCharge;

/// A dma-buf (`struct dma_buf`).
///
/// # Invariants
///
/// A `&DmaBuf` points to a dma-buf that stays alive for as long as the
/// borrow lasts (someone holds its file).
#[repr(transparent)]
pub struct DmaBuf(Opaque<bindings::dma_buf>);

impl DmaBuf {
    /// Borrows the dma-buf at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a dma-buf whose file is held for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::dma_buf) -> &'a Self {
        // SAFETY: a transparent wrapper, alive for `'a` (caller).
        unsafe { &*ptr.cast() }
    }

    /// Bytes of the buffer.
    pub fn size(&self) -> usize {
        // SAFETY: alive (type invariant); `size` never changes.
        unsafe { (*self.0.get()).size }
    }

    /// The charge record its exporter gave with
    /// [`DmaBuf::set_charge_record`], if any.
    #[cfg(CONFIG_CGROUP_DEV)]
    pub fn charge_record(&self) -> Option<&BufferCharge> {
        // SAFETY: alive (type invariant); written only before the dma-buf
        // was shared (`set_charge_record`).
        let record = unsafe { (*self.0.get()).devcg_charge };
        // SAFETY: the record lives as long as the dma-buf, which outlives
        // the borrow of `self` (`set_charge_record`'s contract).
        (!record.is_null()).then(|| unsafe { BufferCharge::from_raw(record) })
    }

    /// Records the charge record of the exporter's buffer.
    ///
    /// # Safety
    ///
    /// Only the exporter may call it, before the dma-buf is shared (no
    /// file descriptor, no other user); `record` must be NULL or stay valid
    /// for as long as the dma-buf lives (it is in the buffer the dma-buf
    /// holds).
    #[cfg(CONFIG_CGROUP_DEV)]
    pub unsafe fn set_charge_record(&self, record: *mut bindings::dev_cgroup_charge) {
        // SAFETY: nobody else uses the dma-buf yet (caller).
        unsafe { (*self.0.get()).devcg_charge = record };
    }
}
