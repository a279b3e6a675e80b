use cloacina_workflow::*;

pub struct NotSerde;

#[computation_graph(graph = { only: { inputs: [x] } })]
pub mod g {
    use super::*;
    pub fn only(x: NotSerde) -> u32 { let _ = x; 1 }
}

fn main() {}
