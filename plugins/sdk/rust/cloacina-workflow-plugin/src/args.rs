//! Typed parameters from JSON inputs, and typed results to JSON outputs.
//!
//! The macros generate, for every node and accumulator function, one runner
//! generic over [`Args`]: the same code decodes borrowed FFI slices (a node
//! called by the host) or owned `serde_json::Value`s (a node run inside the
//! fused whole-graph function).

use crate::call::CallError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Where a function sits, for error messages.
#[derive(Debug)]
pub struct Site {
    /// e.g. "node `score` of graph `price_consumer`" or "accumulator `raw_prices`".
    pub what: &'static str,
    pub params: &'static [Param],
    /// A routing node: a unit variant (`"Variant"`) is normalised to `{"Variant": null}`.
    pub routing: bool,
}

/// One declared parameter of a node or accumulator function.
#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    /// The parameter's type as written (after `&` / `Option<&..>` are resolved).
    pub ty: &'static str,
    /// What feeds it, e.g. "cache input `raw_prices`" or "upstream node `score`".
    pub source: &'static str,
}

/// Inputs of one call, decoded on demand into the parameters' types.
pub trait Args {
    /// The encoded result: JSON bytes or a `serde_json::Value`.
    type Out;
    fn count(&self) -> usize;
    fn take<T: DeserializeOwned>(&mut self, site: &Site, index: usize) -> Result<T, CallError>;
    fn finish<T: Serialize + ?Sized>(
        &mut self,
        site: &Site,
        value: &T,
    ) -> Result<Self::Out, CallError>;

    /// Fails unless exactly as many inputs arrived as the function has parameters.
    fn check_count(&self, site: &Site) -> Result<(), CallError> {
        let expected = site.params.len();
        if self.count() == expected {
            return Ok(());
        }
        let listed: Vec<String> = site
            .params
            .iter()
            .map(|p| format!("{} <- {}", p.name, p.source))
            .collect();
        Err(CallError::invalid_input(format!(
            "{}: expected {expected} input(s) ({}), got {}",
            site.what,
            if listed.is_empty() {
                "none".to_string()
            } else {
                listed.join(", ")
            },
            self.count()
        )))
    }
}

fn decode_error(site: &Site, index: usize, err: serde_json::Error) -> CallError {
    let p = &site.params[index];
    CallError::invalid_input(format!(
        "{}: cannot decode parameter `{}` ({}) as `{}`: {err}",
        site.what, p.name, p.source, p.ty
    ))
}

fn encode_error(site: &Site, err: serde_json::Error) -> CallError {
    CallError::internal(format!(
        "{}: cannot encode the result as JSON: {err}",
        site.what
    ))
}

fn routed(site: &Site, value: Value) -> Value {
    match value {
        Value::String(variant) if site.routing => {
            let mut map = serde_json::Map::with_capacity(1);
            map.insert(variant, Value::Null);
            Value::Object(map)
        }
        other => other,
    }
}

/// Inputs borrowed from the host (`cloacina_slice`s).
pub struct SliceArgs<'a>(pub Vec<&'a [u8]>);

impl Args for SliceArgs<'_> {
    type Out = Vec<u8>;
    fn count(&self) -> usize {
        self.0.len()
    }
    fn take<T: DeserializeOwned>(&mut self, site: &Site, index: usize) -> Result<T, CallError> {
        serde_json::from_slice(self.0[index]).map_err(|e| decode_error(site, index, e))
    }
    fn finish<T: Serialize + ?Sized>(
        &mut self,
        site: &Site,
        value: &T,
    ) -> Result<Vec<u8>, CallError> {
        if site.routing {
            let v = serde_json::to_value(value).map_err(|e| encode_error(site, e))?;
            return serde_json::to_vec(&routed(site, v)).map_err(|e| encode_error(site, e));
        }
        serde_json::to_vec(value).map_err(|e| encode_error(site, e))
    }
}

/// Owned inputs inside the fused whole-graph function.
pub struct ValueArgs(pub Vec<Value>);

impl Args for ValueArgs {
    type Out = Value;
    fn count(&self) -> usize {
        self.0.len()
    }
    fn take<T: DeserializeOwned>(&mut self, site: &Site, index: usize) -> Result<T, CallError> {
        let v = std::mem::take(&mut self.0[index]);
        serde_json::from_value(v).map_err(|e| decode_error(site, index, e))
    }
    fn finish<T: Serialize + ?Sized>(
        &mut self,
        site: &Site,
        value: &T,
    ) -> Result<Value, CallError> {
        let v = serde_json::to_value(value).map_err(|e| encode_error(site, e))?;
        Ok(routed(site, v))
    }
}

/// Turns the `Err` of a node or accumulator returning `Result<T, E>` into a
/// `CLOACINA_STATUS_PLUGIN_ERROR` naming the function.
pub fn user_error<E: std::fmt::Display>(site: &Site, err: E) -> CallError {
    CallError::plugin(format!("{} failed: {err}", site.what))
}
