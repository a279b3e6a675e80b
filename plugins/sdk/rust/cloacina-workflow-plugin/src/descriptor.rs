//! Builds the `cloacina_plugin_descriptor` once, from every declaration in
//! the crate, with leaked (library-lifetime) allocations.

use crate::abi::*;
use crate::registry::{AccumulatorDef, GraphDef, ReactorDef, ACCUMULATORS, GRAPHS, REACTORS};
use core::ffi::c_char;
use std::ffi::CString;
use std::mem::size_of;
use std::sync::OnceLock;

struct Built(cloacina_plugin_descriptor);
// The descriptor only points at leaked, never-mutated allocations and at
// 'static functions: sharing it between threads is sound.
unsafe impl Send for Built {}
unsafe impl Sync for Built {}

static DESCRIPTOR: OnceLock<Built> = OnceLock::new();

fn leak_str(s: &str) -> *const c_char {
    // The macros reject names containing NUL at compile time.
    CString::new(s)
        .expect("declaration names contain no NUL byte")
        .into_raw()
}

fn leak_slice<T>(items: Vec<T>) -> *const T {
    if items.is_empty() {
        return std::ptr::null();
    }
    Box::leak(items.into_boxed_slice()).as_ptr()
}

fn leak_list(items: &[&str]) -> (*const *const c_char, u32) {
    let ptrs: Vec<*const c_char> = items.iter().map(|s| leak_str(s)).collect();
    (leak_slice(ptrs), items.len() as u32)
}

fn reactor_entry(r: &ReactorDef) -> cloacina_reactor_entry {
    let (accumulators, n_accumulators) = leak_list(r.accumulators);
    let (criteria_accumulators, n_criteria_accumulators) = leak_list(r.criteria_accumulators);
    cloacina_reactor_entry {
        name: leak_str(r.name),
        accumulators,
        n_accumulators,
        criteria: r.criteria,
        criteria_accumulators,
        n_criteria_accumulators,
        input_strategy: r.input_strategy,
    }
}

fn accumulator_entry(a: &AccumulatorDef) -> cloacina_accumulator_entry {
    cloacina_accumulator_entry {
        name: leak_str(a.name),
        kind: a.kind,
        config_json: a.config_json.map_or(std::ptr::null(), leak_str),
        r#fn: a.function,
    }
}

fn graph_entry(g: &GraphDef) -> cloacina_graph_entry {
    let nodes: Vec<cloacina_node_entry> = g
        .nodes
        .iter()
        .map(|n| {
            let (inputs, n_inputs) = leak_list(n.inputs);
            let (next, n_next) = leak_list(n.next);
            let routes: Vec<cloacina_route> = n
                .routes
                .iter()
                .map(|(variant, target)| cloacina_route {
                    variant: leak_str(variant),
                    target: leak_str(target),
                })
                .collect();
            cloacina_node_entry {
                name: leak_str(n.name),
                inputs,
                n_inputs,
                next,
                n_next,
                n_routes: routes.len() as u32,
                routes: leak_slice(routes),
                r#fn: Some(n.function),
            }
        })
        .collect();
    cloacina_graph_entry {
        name: leak_str(g.name),
        trigger_reactor: g.trigger_reactor.map_or(std::ptr::null(), leak_str),
        n_nodes: nodes.len() as u32,
        nodes: leak_slice(nodes),
        node_entry_size: size_of::<cloacina_node_entry>() as u32,
        execute: Some(g.execute),
    }
}

fn build(package_name: &str, package_version: &str) -> cloacina_plugin_descriptor {
    // Link order is not declaration order; sort by name for a stable descriptor.
    let mut reactors: Vec<&ReactorDef> = REACTORS.iter().copied().collect();
    reactors.sort_by_key(|r| r.name);
    let mut accumulators: Vec<&AccumulatorDef> = ACCUMULATORS.iter().copied().collect();
    accumulators.sort_by_key(|a| a.name);
    let mut graphs: Vec<&GraphDef> = GRAPHS.iter().copied().collect();
    graphs.sort_by_key(|g| g.name);

    let reactors: Vec<_> = reactors.into_iter().map(reactor_entry).collect();
    let accumulators: Vec<_> = accumulators.into_iter().map(accumulator_entry).collect();
    let graphs: Vec<_> = graphs.into_iter().map(graph_entry).collect();
    let mut magic = [0 as c_char; 8];
    for (m, b) in magic.iter_mut().zip(CLOACINA_MAGIC) {
        *m = b as c_char;
    }
    cloacina_plugin_descriptor {
        struct_size: size_of::<cloacina_plugin_descriptor>() as u32,
        magic,
        abi_version: CLOACINA_ABI_VERSION,
        flags: CLOACINA_FLAG_THREAD_SAFE,
        package_name: leak_str(package_name),
        package_version: leak_str(package_version),
        n_reactors: reactors.len() as u32,
        reactor_entry_size: size_of::<cloacina_reactor_entry>() as u32,
        reactors: leak_slice(reactors),
        n_accumulators: accumulators.len() as u32,
        accumulator_entry_size: size_of::<cloacina_accumulator_entry>() as u32,
        accumulators: leak_slice(accumulators),
        n_graphs: graphs.len() as u32,
        graph_entry_size: size_of::<cloacina_graph_entry>() as u32,
        graphs: leak_slice(graphs),
        init: None,
        shutdown: None,
    }
}

/// The body of `cloacina_plugin_entry()`: the descriptor of every reactor,
/// accumulator and graph linked into this library, built on first use.
/// Returns NULL (which the host reports) if building it panicked.
pub fn entry(
    package_name: &'static str,
    package_version: &'static str,
) -> *const cloacina_plugin_descriptor {
    let built = std::panic::catch_unwind(|| {
        &DESCRIPTOR
            .get_or_init(|| Built(build(package_name, package_version)))
            .0 as *const cloacina_plugin_descriptor
    });
    built.unwrap_or(std::ptr::null())
}
