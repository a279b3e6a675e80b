//! Attribute macros of the cloacina Rust SDK. Use them through
//! `cloacina_workflow` (`use cloacina_workflow::*;`): the code they generate
//! refers to `::cloacina_workflow::__private`, so the plugin crate must depend
//! on `cloacina-workflow` under that name.
//!
//! Every declaration is checked here, at compile time, and a mistake is
//! reported on the offending token with what to change. See docs/rust-sdk.md.

use proc_macro::TokenStream;

mod accumulator;
mod function;
mod graph;
mod parse;
mod reactor;

fn expand(result: syn::Result<proc_macro2::TokenStream>) -> TokenStream {
    result.unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Declares a reactor on a unit struct:
/// `#[reactor(name = "R", accumulators = [a, b], criteria = when_any(a, b), input_strategy = latest)]`.
#[proc_macro_attribute]
pub fn reactor(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(reactor::expand(args.into(), item.into()))
}

/// A passthrough accumulator function: one event in, one boundary out.
#[proc_macro_attribute]
pub fn passthrough_accumulator(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(accumulator::expand(
        accumulator::Kind::Passthrough,
        args.into(),
        item.into(),
    ))
}

/// A batch accumulator: `#[batch_accumulator(max_buffer_size = 100, flush_interval = "1s")]`.
#[proc_macro_attribute]
pub fn batch_accumulator(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(accumulator::expand(
        accumulator::Kind::Batch,
        args.into(),
        item.into(),
    ))
}

/// A state accumulator: `#[state_accumulator(capacity = 10)]` (`-1` = unbounded).
#[proc_macro_attribute]
pub fn state_accumulator(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(accumulator::expand(
        accumulator::Kind::State,
        args.into(),
        item.into(),
    ))
}

/// A polling accumulator: `#[polling_accumulator(interval = "5s")]` on a
/// function without parameters returning `Option<T>`.
#[proc_macro_attribute]
pub fn polling_accumulator(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(accumulator::expand(
        accumulator::Kind::Polling,
        args.into(),
        item.into(),
    ))
}

/// A stream accumulator, fed by a broker subject:
/// `#[stream_accumulator(subject = "prices.btc", durable = "pricing")]`
/// (`durable` optional) on a function of one parameter, the event, returning the
/// boundary. The subject and durable are checked here; without a broker the host
/// takes pushed events like a passthrough accumulator's.
#[proc_macro_attribute]
pub fn stream_accumulator(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(accumulator::expand(
        accumulator::Kind::Stream,
        args.into(),
        item.into(),
    ))
}

/// Declares a computation graph on an inline `pub mod` of node functions:
/// `#[computation_graph(trigger = reactor("R"), graph = { a: { inputs: ["x"], next: "b" }, b: {} })]`.
#[proc_macro_attribute]
pub fn computation_graph(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(graph::expand(args.into(), item.into()))
}
