use cloacina_workflow::*;

#[computation_graph(
    trigger = reactor("PriceReactor"),
    graph = {
        score: { inputs: ["raw_prices"] },
    },
)]
pub mod price_consumer {
    pub fn score(raw: serde_json::Value) -> serde_json::Value { raw }
    pub fn publish(v: serde_json::Value) -> serde_json::Value { v }
}

fn main() {}
