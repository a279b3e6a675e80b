use cloacina_workflow::*;

#[stream_accumulator(subject = "prices.*")]
pub fn wildcard(v: serde_json::Value) -> serde_json::Value { v }

#[stream_accumulator(subject = "prices..btc", durable = "pricing")]
pub fn empty_token(v: serde_json::Value) -> serde_json::Value { v }

#[stream_accumulator(subject = "prices.btc", durable = "my durable")]
pub fn spaced_durable(v: serde_json::Value) -> serde_json::Value { v }

#[stream_accumulator(durable = "pricing")]
pub fn no_subject(v: serde_json::Value) -> serde_json::Value { v }

#[stream_accumulator(subject = "prices.btc")]
pub fn no_event() -> serde_json::Value { serde_json::Value::Null }

fn main() {}
