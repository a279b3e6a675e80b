use cloacina_workflow::*;

#[reactor(name = "R", accumulators = [a, b], criteria = when_some(a))]
pub struct R;

fn main() {}
