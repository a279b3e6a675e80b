use cloacina_workflow::*;

#[reactor(
    name = "PriceReactor",
    accumulators = [raw_prices, normalized_prices, raw_prices],
    criteria = when_any(raw_prices),
)]
pub struct PriceReactor;

fn main() {}
