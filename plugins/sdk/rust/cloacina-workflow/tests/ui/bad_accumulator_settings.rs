use cloacina_workflow::*;

#[batch_accumulator(max_buffer_size = 10, flush_interval = "soon")]
pub fn batched(v: serde_json::Value) -> serde_json::Value { v }

#[polling_accumulator(interval = "5s")]
pub fn poller(v: serde_json::Value) -> Option<u32> { None }

#[passthrough_accumulator]
pub fn two(a: serde_json::Value, b: serde_json::Value) -> serde_json::Value { a }

fn main() {}
