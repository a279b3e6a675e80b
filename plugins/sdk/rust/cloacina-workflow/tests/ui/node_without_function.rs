use cloacina_workflow::*;

#[computation_graph(
    graph = {
        score: { inputs: ["raw_prices"], next: "publish" },
        publish: {},
    },
)]
pub mod price_consumer {
    pub fn score(raw: serde_json::Value) -> serde_json::Value { raw }
}

fn main() {}
