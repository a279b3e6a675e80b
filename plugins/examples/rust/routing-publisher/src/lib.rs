//! Publisher half of the routing example: a `when_all` reactor over two
//! accumulators. The reactor fires only once both an order and the current
//! limits have a new boundary, and hands the graph both.

use cloacina_workflow::*;
use cloacina_workflow_plugin::*;

#[reactor(
    name = "OrderReactor",
    accumulators = [orders, limits],
    criteria = when_all(orders, limits),
    input_strategy = latest,
)]
pub struct OrderReactor;

/// An order as pushed by clients; the accumulator refuses anything else
/// (the push fails with an "invalid input" error naming the field).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Order {
    pub id: String,
    pub symbol: String,
    pub quantity: u32,
    pub price: f64,
}

/// Validates the event's shape and normalises the symbol.
#[passthrough_accumulator]
pub fn orders(order: Order) -> Order {
    Order {
        symbol: order.symbol.to_uppercase(),
        ..order
    }
}

#[passthrough_accumulator]
pub async fn limits(value: serde_json::Value) -> serde_json::Value {
    value
}

#[cfg(feature = "packaged")]
cloacina::package!();
