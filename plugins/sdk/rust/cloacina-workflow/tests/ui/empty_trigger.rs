use cloacina_workflow::*;

#[computation_graph(
    trigger = reactor(),
    graph = { tick: {} },
)]
pub mod ticking {
    pub fn tick() -> u32 { 1 }
}

fn main() {}
