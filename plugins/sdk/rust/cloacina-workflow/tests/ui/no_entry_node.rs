use cloacina_workflow::*;

#[computation_graph(
    trigger = reactor("PriceReactor"),
    graph = {
        a: { inputs: ["raw_prices"], next: "b" },
        b: { next: "a" },
    },
)]
pub mod no_start {
    pub fn a(raw: serde_json::Value, from_b: serde_json::Value) -> serde_json::Value { raw }
    pub fn b(v: serde_json::Value) -> serde_json::Value { v }
}

fn main() {}
