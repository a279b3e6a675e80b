use cloacina_workflow::*;

#[reactor(name = "R", accumulators = [a])]
pub struct R {
    pub state: u32,
}

fn main() {}
