// SPDX-License-Identifier: GPL-2.0

//! dma-buf adapter: handing a buffer's charge over to whoever receives it.
//!
//! Allocator services, media servers and compositors allocate on behalf of
//! clients and pass the buffers on as dma-buf file descriptors. The client
//! then pulls the charge into its own cgroup with `DEV_CGROUP_IOC_TAKE`
//! (`<uapi/linux/dev_cgroup.h>`) on the fd: charged first under the
//! client's limits, then uncharged from the previous payer. A charge can
//! only be pulled by the caller's own cgroup, never pushed onto another.
//!
//! An exporter whose buffer holds a charge record opts in with
//! `dev_cgroup_dma_buf_export()` once the dma-buf exists (the dma-buf heaps,
//! the videobuf2 memops' `VIDIOC_EXPBUF`, the GEM DMA helper's PRIME
//! export: `patches/0010`). The dma-buf core (same patch) calls the two
//! other entry points from its ioctl and its fdinfo, which gains the line
//! `dev_cgroup:\t<cgroup path> <device> region.<name>=<bytes>`.
//!
//! This crate uses the controller only through the kernel crate's
//! `kernel::cgroup::dev::buffer` (the C API of `include/linux/cgroup_dev.h`),
//! like any driver.

#[macro_use]
#[path = "../ffi_check.rs"]
mod ffi_check;

use kernel::bindings;
use kernel::cgroup::dev::buffer::eopnotsupp;
use kernel::dma_buf::DmaBuf;
use kernel::ffi::c_long;
use kernel::prelude::*;
use kernel::seq_file::SeqFile;
use kernel::uaccess::{UserPtr, UserSlice};

type Record = *mut bindings::dev_cgroup_charge;

// Catch any drift between the C prototypes (via bindgen) and the definitions below.
same_signature! {
    dev_cgroup_dma_buf_export: unsafe extern "C" fn(*mut bindings::dma_buf, Record);
    dev_cgroup_dma_buf_take: unsafe extern "C" fn(*mut bindings::dma_buf, *mut core::ffi::c_void) -> c_long;
    dev_cgroup_dma_buf_show_fdinfo: unsafe extern "C" fn(*mut bindings::seq_file, *mut bindings::dma_buf);
}

/// Records the charge of the buffer behind a newly exported dma-buf.
///
/// # Safety
///
/// `dmabuf` must be a dma-buf the caller just exported and has not shared
/// yet; `record` NULL or the charge record of the buffer the dma-buf holds.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_dma_buf_export(dmabuf: *mut bindings::dma_buf, record: Record) {
    if dmabuf.is_null() {
        return;
    }
    // SAFETY: a dma-buf the caller holds.
    let dmabuf = unsafe { DmaBuf::from_raw(dmabuf) };
    // SAFETY: not shared yet, and the record lives in the buffer the
    // dma-buf holds (caller).
    unsafe { dmabuf.set_charge_record(record) };
}

/// `struct dev_cgroup_take`'s layout: `flags` then `bytes`, both `__u64`.
const TAKE_FLAGS: usize = 0;
const TAKE_BYTES: usize = 8;
const TAKE_SIZE: usize = 16;

/// `DEV_CGROUP_IOC_TAKE` on `dmabuf`, whose argument is at user address `arg`.
fn take(dmabuf: &DmaBuf, arg: UserPtr) -> Result {
    let flags: u64 = UserSlice::new(arg + TAKE_FLAGS, 8).reader().read()?;
    if flags != 0 {
        return Err(EINVAL);
    }
    let record = dmabuf.charge_record().ok_or_else(eopnotsupp)?;
    let bytes_out = || UserSlice::new(arg + TAKE_BYTES, TAKE_SIZE - TAKE_BYTES).writer();
    // `bytes` is written once before anything moves, so that an argument
    // that cannot be written fails with EFAULT having changed nothing.
    bytes_out().write(&0u64)?;
    let bytes = record.take()?;
    // Only a concurrent unmapping can make this fail now; the take is done
    // then, and taking again changes nothing and reports the bytes.
    bytes_out().write(&bytes)
}

/// The dma-buf core's `DEV_CGROUP_IOC_TAKE`.
///
/// # Safety
///
/// `dmabuf` must be the dma-buf of the file the ioctl was called on.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_dma_buf_take(
    dmabuf: *mut bindings::dma_buf,
    arg: *mut core::ffi::c_void,
) -> c_long {
    if dmabuf.is_null() {
        return EINVAL.to_errno() as c_long;
    }
    // SAFETY: the ioctl's file holds the dma-buf for the call (caller).
    let dmabuf = unsafe { DmaBuf::from_raw(dmabuf) };
    match take(dmabuf, arg as UserPtr) {
        Ok(()) => 0,
        Err(e) => e.to_errno() as c_long,
    }
}

/// The dma-buf core's fdinfo: who pays for the buffer.
///
/// # Safety
///
/// `m` must be the seq_file of the fdinfo `show` call the caller is in, and
/// `dmabuf` the dma-buf of the file it shows.
#[no_mangle]
pub unsafe extern "C" fn dev_cgroup_dma_buf_show_fdinfo(
    m: *mut bindings::seq_file,
    dmabuf: *mut bindings::dma_buf,
) {
    if m.is_null() || dmabuf.is_null() {
        return;
    }
    // SAFETY: the shown file holds the dma-buf for the call (caller).
    let dmabuf = unsafe { DmaBuf::from_raw(dmabuf) };
    // SAFETY: the seq_file of the caller's `show` call.
    let out = unsafe { SeqFile::from_raw(m) };
    if let Some(record) = dmabuf.charge_record() {
        record.show(out);
    }
}
