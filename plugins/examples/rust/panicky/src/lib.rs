//! Test fixture (not an example to copy): a node and an accumulator that
//! panic when the event asks them to, to prove a panic comes back to the host
//! as an error of that graph or push and never takes the host down.

use cloacina_workflow::*;
use cloacina_workflow_plugin::*;

#[reactor(name = "PanicReactor", accumulators = [volatile, touchy], criteria = when_any)]
pub struct PanicReactor;

/// Panics on `{"panic": true}`; passes anything else through.
#[passthrough_accumulator]
pub fn touchy(value: serde_json::Value) -> serde_json::Value {
    if value["panic"] == true {
        panic!("touchy accumulator was asked to panic");
    }
    value
}

#[passthrough_accumulator]
pub fn volatile(value: serde_json::Value) -> serde_json::Value {
    value
}

/// Panics in a node on `{"panic": true}` from `volatile`.
#[computation_graph(
    trigger = reactor("PanicReactor"),
    graph = { explode: { inputs: [volatile], next: "report" }, report: {} },
)]
pub mod fragile {
    pub fn explode(v: serde_json::Value) -> serde_json::Value {
        if v["panic"] == true {
            panic!("node explode was asked to panic: {v}");
        }
        v
    }
    pub fn report(v: serde_json::Value) -> serde_json::Value {
        serde_json::json!({ "seen": v })
    }
}

/// A second graph on the same reactor that never fails: it keeps working
/// while `fragile` panics.
#[computation_graph(
    trigger = reactor("PanicReactor"),
    graph = { count: { inputs: [volatile, touchy] } },
)]
pub mod steady {
    pub fn count(volatile: Option<serde_json::Value>, touchy: Option<serde_json::Value>) -> u32 {
        volatile.is_some() as u32 + touchy.is_some() as u32
    }
}

#[cfg(feature = "packaged")]
cloacina::package!();
