//! Subscriber half of the routing example, bound to `OrderReactor` by name.
//!
//! ```text
//!            ┌── Approved ──> execute ──┬──> settle
//! check ─────┤                          └──> audit
//!            └── Rejected ──> reject ───────> settle
//! ```
//!
//! `check` is a routing node: it returns an enum and only the matching
//! route's target runs. `settle` fans in from `execute` and `reject`; the edge
//! that did not run delivers `null`, hence the `Option` parameters.

use cloacina_workflow::*;
use cloacina_workflow_plugin::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub symbol: String,
    pub quantity: u32,
    pub price: f64,
}

#[derive(Serialize, Deserialize)]
pub struct Limits {
    pub max_notional: f64,
}

/// Serialised as `{"Approved": {..}}` or `{"Rejected": {..}}`.
#[derive(Serialize, Deserialize)]
pub enum Decision {
    Approved(Order),
    Rejected { id: String, reason: String },
}

#[derive(Serialize, Deserialize)]
pub struct Fill {
    pub id: String,
    pub notional: f64,
}

#[computation_graph(
    trigger = reactor("OrderReactor"),
    graph = {
        check: { inputs: [orders, limits], routes: { Approved: "execute", Rejected: "reject" } },
        execute: { next: ["settle", "audit"] },
        reject: { next: "settle" },
        settle: {},
        audit: {},
    },
)]
pub mod order_router {
    use super::*;

    pub fn check(order: Order, limits: Option<Limits>) -> Decision {
        let notional = order.price * order.quantity as f64;
        match limits {
            Some(l) if notional <= l.max_notional => Decision::Approved(order),
            Some(l) => Decision::Rejected {
                id: order.id,
                reason: format!("notional {notional} exceeds the limit {}", l.max_notional),
            },
            None => Decision::Rejected {
                id: order.id,
                reason: "no limits known".to_string(),
            },
        }
    }

    pub async fn execute(order: Order) -> Fill {
        Fill {
            notional: order.price * order.quantity as f64,
            id: order.id,
        }
    }

    pub fn reject(rejection: serde_json::Value) -> serde_json::Value {
        rejection
    }

    pub fn settle(filled: Option<Fill>, rejected: Option<serde_json::Value>) -> serde_json::Value {
        match (filled, rejected) {
            (Some(f), _) => {
                serde_json::json!({"status": "filled", "id": f.id, "notional": f.notional})
            }
            (None, Some(r)) => {
                serde_json::json!({"status": "rejected", "id": r["id"], "reason": r["reason"]})
            }
            (None, None) => serde_json::json!({"status": "unknown"}),
        }
    }

    pub fn audit(fill: &Fill) -> String {
        format!("{} filled for {}", fill.id, fill.notional)
    }
}

#[cfg(feature = "packaged")]
cloacina::package!();
