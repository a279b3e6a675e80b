use cloacina_workflow::*;

#[reactor(
    name = "PriceReactor",
    accumulators = [raw_prices, normalized_prices],
    criteria = when_all(raw_prices, fx_rates),
)]
pub struct PriceReactor;

fn main() {}
