//! The fused whole-graph function: runs a graph's nodes in one FFI call with
//! the same semantics as the host's node-by-node executor.

use crate::abi::{cloacina_buffer, cloacina_slice};
use crate::args::ValueArgs;
use crate::call::{ffi_call, guarded, input_slices, CallError};
use crate::registry::GraphDef;
use serde_json::{Map, Value};

/// Runs `graph` on a snapshot `{source: boundary}` (a missing source is
/// `null`) and returns `{terminal: output}` for the terminals that ran.
///
/// Entry nodes always run. Any other node runs when at least one upstream
/// edge delivered a value; an edge that did not (an untaken route) passes
/// `null`. A routing node's `{"Variant": inner}` delivers `inner` to that
/// route's target only.
pub fn execute(
    graph: &GraphDef,
    sources: &Map<String, Value>,
) -> Result<Map<String, Value>, CallError> {
    let nodes = graph.nodes;
    // delivered[i][k]: the value sent to node i by its k-th upstream node.
    let mut delivered: Vec<Vec<Option<Value>>> =
        nodes.iter().map(|n| vec![None; n.upstream.len()]).collect();
    let mut results = Map::new();
    for &i in graph.order {
        let node = &nodes[i];
        let from_upstream = std::mem::take(&mut delivered[i]);
        if !node.upstream.is_empty() && from_upstream.iter().all(Option::is_none) {
            continue;
        }
        let mut args = Vec::with_capacity(node.inputs.len() + from_upstream.len());
        args.extend(
            node.inputs
                .iter()
                .map(|s| sources.get(*s).cloned().unwrap_or(Value::Null)),
        );
        args.extend(from_upstream.into_iter().map(|v| v.unwrap_or(Value::Null)));
        let what = format!("node `{}` of graph `{}`", node.name, graph.name);
        let output = guarded(&what, || (node.run)(&mut ValueArgs(args)))?;

        let mut deliver = |target: usize, value: Value| {
            let slot = nodes[target]
                .upstream
                .iter()
                .position(|&u| u == i)
                .expect("macro-checked edge");
            delivered[target][slot] = Some(value);
        };
        if !node.routes.is_empty() {
            let (variant, inner) = match output {
                Value::Object(map) if map.len() == 1 => map.into_iter().next().expect("one key"),
                other => {
                    return Err(CallError::plugin(format!(
                        "{what} is a routing node but returned {other}; expected a one-key object {{\"Variant\": value}}"
                    )))
                }
            };
            let Some(k) = node.routes.iter().position(|(v, _)| *v == variant) else {
                let known: Vec<&str> = node.routes.iter().map(|(v, _)| *v).collect();
                return Err(CallError::plugin(format!(
                    "{what} returned variant `{variant}`, which has no route (routes: {})",
                    known.join(", ")
                )));
            };
            deliver(node.route_index[k], inner);
        } else if !node.next.is_empty() {
            let (last, rest) = node.next_index.split_last().expect("non-empty");
            for &t in rest {
                deliver(t, output.clone());
            }
            deliver(*last, output);
        } else {
            results.insert(node.name.to_string(), output);
        }
    }
    Ok(results)
}

/// The body of every generated `execute` function: one input, the JSON
/// object of sources.
///
/// # Safety
/// As for any `cloacina_call_fn`: `inputs` holds `n_inputs` valid slices and
/// `out` is a writable buffer.
pub unsafe fn ffi_execute(
    graph: &GraphDef,
    what: &str,
    inputs: *const cloacina_slice,
    n_inputs: u64,
    out: *mut cloacina_buffer,
) -> i32 {
    ffi_call(what, out, || {
        let slices = input_slices(inputs, n_inputs)?;
        if slices.len() != 1 {
            return Err(CallError::invalid_input(format!(
                "{what}: expected 1 input (the object of sources), got {}",
                slices.len()
            )));
        }
        let sources: Map<String, Value> = serde_json::from_slice(slices[0]).map_err(|e| {
            CallError::invalid_input(format!(
                "{what}: the input must be a JSON object {{\"<source>\": value, ...}}: {e}"
            ))
        })?;
        let results = execute(graph, &sources)?;
        serde_json::to_vec(&Value::Object(results))
            .map_err(|e| CallError::internal(format!("{what}: cannot encode the result: {e}")))
    })
}
