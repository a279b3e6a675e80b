use cloacina_workflow::*;

#[computation_graph(
    trigger = reactor("PriceReactor"),
    graph = {
        start: { inputs: ["raw_prices"], next: "a" },
        a: { next: "b" },
        b: { next: "a" },
    },
)]
pub mod looping {
    pub fn start(v: serde_json::Value) -> serde_json::Value { v }
    pub fn a(v: serde_json::Value, w: serde_json::Value) -> serde_json::Value { v }
    pub fn b(v: serde_json::Value) -> serde_json::Value { v }
}

fn main() {}
