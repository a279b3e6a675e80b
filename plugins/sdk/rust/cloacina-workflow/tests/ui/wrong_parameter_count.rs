use cloacina_workflow::*;

#[computation_graph(
    trigger = reactor("PriceReactor"),
    graph = {
        score: { inputs: ["raw_prices", "normalized_prices"], next: "publish" },
        publish: {},
    },
)]
pub mod price_consumer {
    pub fn score(raw: serde_json::Value) -> f64 { 0.0 }
    pub fn publish(ratio: f64) -> f64 { ratio }
}

fn main() {}
