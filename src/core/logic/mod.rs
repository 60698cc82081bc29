// SPDX-License-Identifier: GPL-2.0

//! The controller's pure logic: no kernel types, no allocation, only `core`.
//!
//! Compiled twice: into the kernel as a module of the `devcg` crate, and on
//! the host by `cargo test` (see `host.rs`), where it is tested against
//! reference models.

pub mod counter;
pub mod idset;
pub mod parse;
pub mod protection;
mod sync;

#[cfg(all(test, loom))]
mod loom_models;
