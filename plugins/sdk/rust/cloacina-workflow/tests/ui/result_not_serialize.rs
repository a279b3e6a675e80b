use cloacina_workflow::*;

pub struct Opaque;

#[passthrough_accumulator]
pub fn hide(v: serde_json::Value) -> Opaque {
    let _ = v;
    Opaque
}

fn main() {}
