// SPDX-License-Identifier: GPL-2.0

//! Sequential files: what a `show` callback prints into.
//!
//! C header: [`include/linux/seq_file.h`](srctree/include/linux/seq_file.h).
//!
//! Part of the dev cgroup controller's overlay (`kernel/cgroup/dev`).

use crate::bindings;
use crate::types::Opaque;
use core::fmt;

/// The `struct seq_file` a `show` callback was handed.
///
/// Output that does not fit is not an error here: seq_file notices the
/// overflow and calls `show` again with a larger buffer.
///
/// # Invariants
///
/// A `&SeqFile` points to a seq_file that only the current `show` call
/// writes, for as long as the borrow lasts.
#[repr(transparent)]
pub struct SeqFile(Opaque<bindings::seq_file>);

impl SeqFile {
    /// The C `struct seq_file`.
    pub fn as_raw(&self) -> *mut bindings::seq_file {
        self.0.get()
    }

    /// Borrows the seq_file at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a seq_file that only the caller writes for `'a`
    /// (the one a `show` callback receives, for the callback's duration).
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::seq_file) -> &'a Self {
        // SAFETY: a transparent wrapper; valid and ours for `'a` (caller).
        unsafe { &*ptr.cast() }
    }
}

/// Appends to the file; never fails.
///
/// # Examples
///
/// ```
/// use core::fmt::Write;
/// use kernel::seq_file::SeqFile;
///
/// fn show(mut out: &SeqFile, name: &str, bytes: u64) -> core::fmt::Result {
///     out.write_str(name)?;
///     writeln!(out, " region.ram={bytes}")
/// }
/// # let mut buf = [0u8; 64];
/// # // SAFETY: `seq_write` only uses `buf`, `size` and `count`: zeroes and
/// # // the buffer set next make a seq_file it can write.
/// # let mut raw: kernel::bindings::seq_file = unsafe { core::mem::zeroed() };
/// # raw.buf = buf.as_mut_ptr().cast();
/// # raw.size = buf.len();
/// # // SAFETY: `raw` is only written through `sf` until `sf` is last used.
/// # let sf = unsafe { SeqFile::from_raw(&mut raw) };
/// show(sf, "system", 4096).map_err(|_| kernel::error::code::EINVAL)?;
/// assert_eq!(&buf[..raw.count], b"system region.ram=4096\n");
/// # Ok::<(), kernel::error::Error>(())
/// ```
impl fmt::Write for &SeqFile {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: the seq_file is ours (type invariant); `s` is valid for
        // `s.len()` bytes. A full buffer only marks the overflow.
        unsafe { bindings::seq_write(self.0.get(), s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}
