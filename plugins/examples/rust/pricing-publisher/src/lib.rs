use cloacina_workflow::*;
use cloacina_workflow_plugin::*;

// The reactor declaration. This is a unit struct with ACCUMULATORS
// + REACTION_MODE consts. The macro emits a ReactorEntry inventory
// submission so the reconciler can discover it.
#[reactor(
    name = "PriceReactor",
    accumulators = [raw_prices, normalized_prices],
    criteria = when_any(raw_prices, normalized_prices),
)]
pub struct PriceReactor;

// Accumulators that feed the reactor. Both are passthrough — the
// upstream producer (a Kafka stream or a WebSocket pusher) feeds
// them; the reactor fires when any new boundary arrives.
#[passthrough_accumulator]
pub async fn raw_prices(value: serde_json::Value) -> serde_json::Value {
    value
}

#[passthrough_accumulator]
pub async fn normalized_prices(value: serde_json::Value) -> serde_json::Value {
    value
}

// The unified plugin shell. Emits the FFI vtable for fidius-host.
#[cfg(feature = "packaged")]
cloacina::package!();
