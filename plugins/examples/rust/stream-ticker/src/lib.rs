//! A reactor fed by a stream accumulator and a passthrough one.
//!
//! `quotes` declares where its events come from: the broker subject
//! `quotes.btc`, read through the durable consumer `quote-watch`. Without a
//! broker (the embedded runtime, or a server without an event plane) the host
//! takes events pushed to it exactly like the passthrough `manual_quotes`.

use cloacina_workflow::*;
use cloacina_workflow_plugin::*;
use serde::{Deserialize, Serialize};

#[reactor(name = "QuoteReactor", accumulators = [quotes, manual_quotes], criteria = when_any)]
pub struct QuoteReactor;

#[derive(Serialize, Deserialize)]
pub struct Quote {
    pub symbol: String,
    pub price: f64,
}

/// Called once per event from the subject, like a passthrough function:
/// marks where the quote came from.
#[stream_accumulator(subject = "quotes.btc", durable = "quote-watch")]
pub fn quotes(quote: Quote) -> serde_json::Value {
    serde_json::json!({ "symbol": quote.symbol, "price": quote.price, "via": "stream" })
}

#[passthrough_accumulator]
pub fn manual_quotes(value: serde_json::Value) -> serde_json::Value {
    value
}

#[computation_graph(
    trigger = reactor("QuoteReactor"),
    graph = { watch: { inputs: [quotes, manual_quotes] } },
)]
pub mod quote_watch {
    pub fn watch(
        streamed: Option<serde_json::Value>,
        manual: Option<serde_json::Value>,
    ) -> serde_json::Value {
        serde_json::json!({ "streamed": streamed, "manual": manual })
    }
}

#[cfg(feature = "packaged")]
cloacina::package!();
