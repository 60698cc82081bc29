// SPDX-License-Identifier: GPL-2.0

//! The compile-time check every crate of the controller (the core and each
//! adapter) runs on the functions it exports to C: each definition must have
//! exactly the prototype bindgen read from the C header, so the two sides
//! cannot drift apart silently. Included with `#[macro_use] #[path]`.

/// `same_signature! { name: fn-type; ... }`: both `bindings::name` (the C
/// prototype) and `name` (the Rust definition) must coerce to `fn-type`.
macro_rules! same_signature {
    ($($name:ident: $ty:ty;)*) => {
        $(
            const _: $ty = kernel::bindings::$name;
            const _: $ty = $name;
        )*
    };
}
