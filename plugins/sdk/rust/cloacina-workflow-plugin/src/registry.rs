//! What the macros declare: plain Rust statics, collected crate-wide into
//! linker sections (linkme distributed slices, no load-time constructors) and
//! turned into the C descriptor by `package!()`.

use crate::abi::cloacina_call_fn_ptr;
use crate::args::ValueArgs;
use crate::call::CallError;
use linkme::distributed_slice;
use serde_json::Value;

/// A `#[reactor]`.
#[derive(Debug)]
pub struct ReactorDef {
    pub name: &'static str,
    pub accumulators: &'static [&'static str],
    /// `CLOACINA_WHEN_ANY` | `CLOACINA_WHEN_ALL`.
    pub criteria: u32,
    /// Empty = all accumulators.
    pub criteria_accumulators: &'static [&'static str],
    /// `CLOACINA_LATEST` | `CLOACINA_SEQUENTIAL`.
    pub input_strategy: u32,
}

/// A `#[..._accumulator]` function.
#[derive(Debug)]
pub struct AccumulatorDef {
    pub name: &'static str,
    /// `CLOACINA_ACC_*`.
    pub kind: u32,
    pub config_json: Option<&'static str>,
    pub function: Option<cloacina_call_fn_ptr>,
}

/// A node of a `#[computation_graph]`.
pub struct NodeDef {
    pub name: &'static str,
    pub inputs: &'static [&'static str],
    pub next: &'static [&'static str],
    /// (variant, target node).
    pub routes: &'static [(&'static str, &'static str)],
    /// The node's own exported function (node-by-node execution by the host).
    pub function: cloacina_call_fn_ptr,
    /// The same node for the fused function, on owned values.
    pub run: fn(&mut ValueArgs) -> Result<Value, CallError>,
    /// Indices (into the graph's `nodes`) of the upstream nodes, in declaration order.
    pub upstream: &'static [usize],
    /// Indices of `next`, parallel to it.
    pub next_index: &'static [usize],
    /// Indices of the routes' targets, parallel to `routes`.
    pub route_index: &'static [usize],
}

/// A `#[computation_graph]` module.
pub struct GraphDef {
    pub name: &'static str,
    pub trigger_reactor: Option<&'static str>,
    /// In declaration order (the order the host passes upstream values in).
    pub nodes: &'static [NodeDef],
    /// A topological order of `nodes` (indices), checked by the macro.
    pub order: &'static [usize],
    /// The fused whole-graph function.
    pub execute: cloacina_call_fn_ptr,
}

#[distributed_slice]
pub static REACTORS: [&'static ReactorDef];

#[distributed_slice]
pub static ACCUMULATORS: [&'static AccumulatorDef];

#[distributed_slice]
pub static GRAPHS: [&'static GraphDef];
