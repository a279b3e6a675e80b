//! Authoring API of the cloacina Rust SDK. `use cloacina_workflow::*;` brings:
//!
//! * the attributes [`reactor`], [`passthrough_accumulator`],
//!   [`batch_accumulator`], [`state_accumulator`], [`polling_accumulator`],
//!   [`stream_accumulator`] and [`computation_graph`];
//! * the value types [`ReactionMode`], [`InputStrategy`], [`AccumulatorKind`],
//!   [`Boundary`] and [`GraphError`];
//! * [`run_graph`], to run a declared graph in-process (unit tests);
//! * a re-export of `serde_json`.
//!
//! With the `packaged` feature every declaration is registered for
//! `cloacina::package!()` from `cloacina-workflow-plugin`, which exports the
//! plugin's C ABI descriptor. See docs/rust-sdk.md for the full reference.

pub use cloacina_macros::{
    batch_accumulator, computation_graph, passthrough_accumulator, polling_accumulator, reactor,
    state_accumulator, stream_accumulator,
};
pub use serde_json;

/// A boundary: the JSON value an accumulator hands its reactor.
pub type Boundary = serde_json::Value;

/// The failure of a node, accumulator or graph run: a `CLOACINA_STATUS_*`
/// code and the message the host shows.
pub use cloacina_workflow_plugin::__rt::CallError as GraphError;

/// When a reactor fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReactionMode {
    /// Fire when any watched accumulator has a new boundary.
    WhenAny,
    /// Fire when every watched accumulator has a new boundary.
    WhenAll,
}

/// How a reactor treats boundaries that arrive between fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputStrategy {
    /// A boundary overwrites its slot; fires coalesce.
    Latest,
    /// Boundaries queue; one fire per boundary.
    Sequential,
}

/// The kinds of accumulator (`CLOACINA_ACC_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccumulatorKind {
    Passthrough,
    Batch,
    State,
    Polling,
    /// Events come from a broker subject (`#[stream_accumulator]`).
    Stream,
}

/// Runs a declared graph in-process, with the same semantics as the fused
/// function the host calls: `sources` is `{"<source>": value, ..}` (a missing
/// source is `null`); the result is `{"<terminal>": output, ..}` for the
/// terminals that ran. Panics in nodes come back as errors.
///
/// ```ignore
/// let out = run_graph(&price_consumer::__CLOACINA_GRAPH, json!({"raw_prices": {"price": 2.0}}))?;
/// ```
pub fn run_graph(
    graph: &'static cloacina_workflow_plugin::__rt::GraphDef,
    sources: serde_json::Value,
) -> Result<serde_json::Value, GraphError> {
    let serde_json::Value::Object(sources) = sources else {
        return Err(GraphError::invalid_input(format!(
            "graph `{}`: sources must be a JSON object {{\"<source>\": value, ..}}",
            graph.name
        )));
    };
    let what = format!("graph `{}`", graph.name);
    cloacina_workflow_plugin::__rt::guarded(&what, || {
        cloacina_workflow_plugin::__rt::execute(graph, &sources).map(serde_json::Value::Object)
    })
}

/// Support for the code the attribute macros generate; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use cloacina_workflow_plugin::__rt::*;
    pub use cloacina_workflow_plugin::abi;
}

/// Emits its tokens only when this crate's `packaged` feature is on (the
/// macros wrap registrations in it).
#[cfg(feature = "packaged")]
#[doc(hidden)]
#[macro_export]
macro_rules! __cloacina_packaged {
    ($($item:tt)*) => { $($item)* };
}

#[cfg(not(feature = "packaged"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __cloacina_packaged {
    ($($item:tt)*) => {};
}
