use cloacina_workflow::*;
use cloacina_workflow_plugin::*;

// This is the cross-package binding. The macro references
// `reactor(PriceReactor)` by name — but PriceReactor is declared
// in the publisher package, NOT here. The reconciler resolves the
// reference at load time by looking up "PriceReactor" in the host
// runtime's reactor registry.
//
// The accumulator names ("raw_prices", "normalized_prices") MUST
// be a subset of the reactor's declared accumulators. The macro
// validates this at compile time within a single crate, but
// across packages the reconciler enforces it at load time and
// rejects the load with a clear error if the binding is invalid.
#[computation_graph(
    trigger = reactor("PriceReactor"),
    graph = {
        score: { inputs: ["raw_prices", "normalized_prices"], next: "publish" },
        publish: {},
    },
)]
pub mod price_consumer {
    use super::*;

    pub async fn score(
        raw: serde_json::Value,
        normalized: serde_json::Value,
    ) -> ScoreOutput {
        // Compute a derived signal from the two upstream feeds.
        ScoreOutput {
            ratio: extract_ratio(&raw, &normalized),
        }
    }

    pub async fn publish(scored: ScoreOutput) -> serde_json::Value {
        // Terminal node — output is collected by the host.
        serde_json::json!({"signal": scored.ratio})
    }
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct ScoreOutput {
    pub ratio: f64,
}

fn extract_ratio(raw: &serde_json::Value, normalized: &serde_json::Value) -> f64 {
    // The one change to the tutorial's code (it had a `0.0` stand-in):
    // raw price / normalized price, read from the `price` field of each
    // boundary. A missing or non-numeric price on either side (e.g. the
    // source never produced a boundary, so it is `null`), or a normalized
    // price of 0, gives 0.0.
    let price = |v: &serde_json::Value| v.get("price").and_then(serde_json::Value::as_f64);
    match (price(raw), price(normalized)) {
        (Some(r), Some(n)) if n != 0.0 => r / n,
        _ => 0.0,
    }
}

#[cfg(feature = "packaged")]
cloacina::package!();
