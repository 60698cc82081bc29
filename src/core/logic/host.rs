// SPDX-License-Identifier: GPL-2.0

//! Host crate root of the pure logic, for `cargo test` only. The kernel
//! compiles the same files as `devcg::logic`.

#![no_std]

#[cfg(any(test, loom))]
extern crate std;

#[path = "mod.rs"]
pub mod logic;
