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
    println!(
        "{}",
        layout! {
            cloacina_slice { ptr, len }
            cloacina_buffer { data, len, release, private_data }
            cloacina_route { variant, target }
            cloacina_reactor_entry {
                name, accumulators, n_accumulators, criteria, criteria_accumulators,
                n_criteria_accumulators, input_strategy,
            }
            cloacina_accumulator_entry { name, kind, config_json, fn as r#fn }
            cloacina_node_entry { name, inputs, n_inputs, next, n_next, routes, n_routes, fn as r#fn }
            cloacina_graph_entry { name, trigger_reactor, nodes, n_nodes, node_entry_size, execute }
            cloacina_plugin_descriptor {
                struct_size, magic, abi_version, flags, package_name, package_version,
                reactors, n_reactors, reactor_entry_size,
                accumulators, n_accumulators, accumulator_entry_size,
                graphs, n_graphs, graph_entry_size, init, shutdown,
            }
        }
    );
}
