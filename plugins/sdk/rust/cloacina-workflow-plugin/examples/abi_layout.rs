//! Prints the Rust mirror's struct sizes and field offsets as JSON, in the
//! shape of the Python host's `cloacina_host.ffi.layout()`, so the host's
//! tests can compare cffi's view of the header with this mirror.
//!
//! `cargo run -p cloacina-workflow-plugin --example abi_layout`

use cloacina_workflow_plugin::abi::*;
use std::mem::{offset_of, size_of};

macro_rules! layout {
    ($($ty:ident { $($field:ident $(as $rust:ident)?),* $(,)? })*) => {{
        let mut structs = Vec::new();
        $(
            let mut fields = vec![format!("\"__size__\": {}", size_of::<$ty>())];
            $(
                fields.push(format!("\"{}\": {}", stringify!($field), layout!(@off $ty, $field $(, $rust)?)));
            )*
            structs.push(format!("\"{}\": {{{}}}", stringify!($ty), fields.join(", ")));
        )*
        format!("{{{}}}", structs.join(", "))
    }};
    (@off $ty:ident, $field:ident) => { offset_of!($ty, $field) };
    (@off $ty:ident, $field:ident, $rust:ident) => { offset_of!($ty, $rust) };
}

fn main() {
    println!("{}", cloacina_workflow_plugin::with_abi_structs!(layout));
}
