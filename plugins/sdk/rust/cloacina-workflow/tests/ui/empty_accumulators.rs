use cloacina_workflow::*;

#[reactor(name = "PriceReactor", accumulators = [], criteria = when_any)]
pub struct PriceReactor;

fn main() {}
