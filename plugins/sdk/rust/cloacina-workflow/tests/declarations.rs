//! End-to-end tests of the macros and the ABI shell in one process: the
//! declarations below are registered (feature `packaged`), `package!()` emits
//! `cloacina_plugin_entry` into this test binary, and the tests read the
//! descriptor and call every function pointer exactly as the host does.

use cloacina_workflow::*;
use cloacina_workflow_plugin::abi::*;
use cloacina_workflow_plugin::*;
use serde::{Deserialize, Serialize};
use std::ffi::CStr;
use std::os::raw::c_char;

// ---- declarations ---------------------------------------------------------

#[reactor(
    name = "PriceReactor",
    accumulators = [raw_prices, normalized_prices],
    criteria = when_any(raw_prices, normalized_prices),
)]
pub struct PriceReactor;

#[reactor(accumulators = ["left", "right"], criteria = when_all, input_strategy = sequential)]
pub struct PairReactor;

#[passthrough_accumulator]
pub async fn raw_prices(value: serde_json::Value) -> serde_json::Value {
    value
}

#[passthrough_accumulator(name = "normalized_prices")]
fn normalize(event: Tick) -> Tick {
    Tick {
        price: event.price / 100.0,
    }
}

#[batch_accumulator(max_buffer_size = 10, flush_interval = "250ms")]
pub fn batched(value: serde_json::Value) -> serde_json::Value {
    value
}

#[state_accumulator(capacity = -1)]
pub fn window(value: &serde_json::Value) -> Result<serde_json::Value, String> {
    if value.is_null() {
        return Err("null events are not allowed".to_string());
    }
    Ok(value.clone())
}

static POLLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[polling_accumulator(interval = "5s")]
pub fn poller() -> Option<u32> {
    let n = POLLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    (n % 2 == 1).then_some(n)
}

#[stream_accumulator(subject = "prices.btc", durable = "pricing")]
pub fn btc_ticks(tick: Tick) -> Tick {
    tick
}

#[stream_accumulator(name = "eth_ticks", subject = "prices.eth")]
pub fn eth(value: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "streamed": value })
}

#[passthrough_accumulator]
pub fn exploding(_value: serde_json::Value) -> serde_json::Value {
    panic!("accumulator exploded")
}

#[derive(Clone, Serialize, Deserialize, Debug, PartialEq)]
pub struct Tick {
    pub price: f64,
}

#[derive(Serialize, Deserialize)]
pub enum Route {
    High(Tick),
    Low { price: f64 },
    Nothing,
}

#[computation_graph(
    trigger = reactor("PriceReactor"),
    graph = {
        score: { inputs: ["raw_prices", "normalized_prices"], next: "publish" },
        publish: {},
    },
)]
pub mod price_consumer {
    use super::*;

    pub async fn score(raw: Option<Tick>, normalized: Option<&Tick>) -> f64 {
        match (raw, normalized) {
            (Some(r), Some(n)) if n.price != 0.0 => r.price / n.price,
            _ => 0.0,
        }
    }

    pub fn publish(ratio: f64) -> serde_json::Value {
        serde_json::json!({ "signal": ratio })
    }
}

#[computation_graph(
    trigger = reactor("PairReactor"),
    graph = {
        classify: { inputs: [left], routes: { High: "alert", Low: "log", Nothing: "idle" } },
        alert: { next: "join" },
        log: { next: ["join", "audit"] },
        idle: {},
        audit: {},
        join: { inputs: [right] },
    },
)]
pub mod router {
    use super::*;

    pub fn classify(t: Tick) -> Route {
        if t.price < 0.0 {
            Route::Nothing
        } else if t.price > 100.0 {
            Route::High(t)
        } else {
            Route::Low { price: t.price }
        }
    }
    pub fn alert(t: Tick) -> String {
        format!("alert {}", t.price)
    }
    pub fn log(v: serde_json::Value) -> serde_json::Value {
        v
    }
    pub fn idle(v: serde_json::Value) -> bool {
        v.is_null()
    }
    pub fn audit(v: &serde_json::Value) -> usize {
        v.as_object().map_or(0, |m| m.len())
    }
    pub fn join(
        right: serde_json::Value,
        from_alert: Option<String>,
        from_log: Option<serde_json::Value>,
    ) -> serde_json::Value {
        serde_json::json!({ "right": right, "alert": from_alert, "log": from_log })
    }
}

#[computation_graph(graph = { double: { inputs: [n], next: "check" }, check: {} })]
pub mod triggerless {
    pub async fn double(n: i64) -> i64 {
        // An async node that really suspends: woken from another thread.
        let (tx, rx) = std::sync::mpsc::channel();
        let fut = Handoff {
            rx,
            started: false,
            tx: Some(tx),
        };
        fut.await;
        n * 2
    }
    pub fn check(n: i64) -> Result<i64, String> {
        if n > 1000 {
            Err(format!("{n} is too large"))
        } else {
            Ok(n)
        }
    }
    fn _helper_is_allowed() {}

    pub(crate) struct Handoff {
        pub rx: std::sync::mpsc::Receiver<()>,
        pub tx: Option<std::sync::mpsc::Sender<()>>,
        pub started: bool,
    }
    impl std::future::Future for Handoff {
        type Output = ();
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            if self.rx.try_recv().is_ok() {
                return std::task::Poll::Ready(());
            }
            if !self.started {
                self.started = true;
                let tx = self.tx.take().unwrap();
                let waker = cx.waker().clone();
                std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    tx.send(()).unwrap();
                    waker.wake();
                });
            }
            std::task::Poll::Pending
        }
    }
}

#[computation_graph(trigger = reactor(PairReactor), graph = { boom: { inputs: [left], next: "after" }, after: {} })]
pub mod panicky {
    pub fn boom(v: serde_json::Value) -> serde_json::Value {
        if v == serde_json::json!("panic") {
            panic!("node exploded on {v}");
        }
        v
    }
    pub fn after(v: serde_json::Value) -> serde_json::Value {
        v
    }
}

cloacina::package!();

// ---- helpers ----------------------------------------------------------------

fn s(p: *const c_char) -> &'static str {
    assert!(!p.is_null());
    unsafe { CStr::from_ptr(p) }.to_str().unwrap()
}

fn names(p: *const *const c_char, n: u32) -> Vec<&'static str> {
    (0..n as usize).map(|i| s(unsafe { *p.add(i) })).collect()
}

fn descriptor() -> &'static cloacina_plugin_descriptor {
    unsafe { &*cloacina_plugin_entry() }
}

fn entries<T>(p: *const T, n: u32, stride: u32) -> Vec<&'static T> {
    assert_eq!(stride as usize, std::mem::size_of::<T>());
    (0..n as usize).map(|i| unsafe { &*p.add(i) }).collect()
}

fn graph(name: &str) -> &'static cloacina_graph_entry {
    let d = descriptor();
    entries(d.graphs, d.n_graphs, d.graph_entry_size)
        .into_iter()
        .find(|g| s(g.name) == name)
        .unwrap_or_else(|| panic!("no graph {name}"))
}

fn node(g: &cloacina_graph_entry, name: &str) -> &'static cloacina_node_entry {
    entries(g.nodes, g.n_nodes, g.node_entry_size)
        .into_iter()
        .find(|n| s(n.name) == name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

fn accumulator(name: &str) -> &'static cloacina_accumulator_entry {
    let d = descriptor();
    entries(d.accumulators, d.n_accumulators, d.accumulator_entry_size)
        .into_iter()
        .find(|a| s(a.name) == name)
        .unwrap_or_else(|| panic!("no accumulator {name}"))
}

/// Calls `f` like the host: borrowed input slices, a zeroed buffer, then one release.
fn call(f: cloacina_call_fn, inputs: &[&str]) -> (i32, String) {
    let f = f.expect("function pointer");
    let slices: Vec<cloacina_slice> = inputs
        .iter()
        .map(|i| cloacina_slice {
            ptr: i.as_ptr(),
            len: i.len() as u64,
        })
        .collect();
    let mut out = cloacina_buffer::zeroed();
    let status = unsafe {
        f(
            std::ptr::null_mut(),
            slices.as_ptr(),
            slices.len() as u64,
            &mut out,
        )
    };
    assert!(!out.data.is_null());
    let text = unsafe { std::slice::from_raw_parts(out.data, out.len as usize) };
    let text = String::from_utf8(text.to_vec()).unwrap();
    let release = out.release.expect("release callback");
    unsafe { release(&mut out) };
    assert!(out.release.is_none(), "release sets release = NULL");
    // A second release through the stored pointer is harmless.
    unsafe { release(&mut out) };
    (status, text)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

// ---- tests ------------------------------------------------------------------

#[test]
fn descriptor_header() {
    let d = descriptor();
    assert_eq!(
        d.struct_size as usize,
        std::mem::size_of::<cloacina_plugin_descriptor>()
    );
    assert_eq!(d.magic.map(|c| c as u8), CLOACINA_MAGIC);
    assert_eq!(d.abi_version, CLOACINA_ABI_VERSION);
    assert_eq!(d.flags, CLOACINA_FLAG_THREAD_SAFE);
    assert_eq!(s(d.package_name), "cloacina-workflow");
    assert_eq!(s(d.package_version), env!("CARGO_PKG_VERSION"));
    assert!(d.init.is_none() && d.shutdown.is_none());
    // Built once: the same pointer every time.
    assert!(std::ptr::eq(d, descriptor()));
}

#[test]
fn reactors() {
    let d = descriptor();
    let rs = entries(d.reactors, d.n_reactors, d.reactor_entry_size);
    let got: Vec<_> = rs.iter().map(|r| s(r.name)).collect();
    assert_eq!(got, ["PairReactor", "PriceReactor"]);
    let pair = rs[0];
    assert_eq!(
        names(pair.accumulators, pair.n_accumulators),
        ["left", "right"]
    );
    assert_eq!(pair.criteria, CLOACINA_WHEN_ALL);
    assert_eq!(pair.n_criteria_accumulators, 0);
    assert!(pair.criteria_accumulators.is_null());
    assert_eq!(pair.input_strategy, CLOACINA_SEQUENTIAL);
    let price = rs[1];
    assert_eq!(
        names(price.accumulators, price.n_accumulators),
        ["raw_prices", "normalized_prices"]
    );
    assert_eq!(
        names(price.criteria_accumulators, price.n_criteria_accumulators),
        ["raw_prices", "normalized_prices"]
    );
    assert_eq!(price.criteria, CLOACINA_WHEN_ANY);
    assert_eq!(price.input_strategy, CLOACINA_LATEST);

    assert_eq!(PriceReactor::NAME, "PriceReactor");
    assert_eq!(
        PriceReactor::ACCUMULATORS,
        ["raw_prices", "normalized_prices"]
    );
    assert_eq!(PriceReactor::REACTION_MODE, ReactionMode::WhenAny);
    assert_eq!(PairReactor::NAME, "PairReactor");
    assert_eq!(PairReactor::REACTION_MODE, ReactionMode::WhenAll);
    assert_eq!(PairReactor::INPUT_STRATEGY, InputStrategy::Sequential);
}

#[test]
fn accumulators() {
    let a = accumulator("raw_prices");
    assert_eq!(a.kind, CLOACINA_ACC_PASSTHROUGH);
    assert!(a.config_json.is_null());
    let (status, out) = call(a.r#fn, &[r#"{"symbol":"BTCUSD","price":42000}"#]);
    assert_eq!(
        (status, json(&out)),
        (0, serde_json::json!({"symbol": "BTCUSD", "price": 42000}))
    );

    // A typed accumulator under an explicit name.
    let n = accumulator("normalized_prices");
    assert_eq!(
        call(n.r#fn, &[r#"{"price":4200}"#]),
        (0, r#"{"price":42.0}"#.into())
    );
    let (status, msg) = call(n.r#fn, &[r#"{"cost":1}"#]);
    assert_eq!(status, CLOACINA_STATUS_INVALID_INPUT);
    assert!(msg.contains("accumulator `normalized_prices`: cannot decode parameter `event` (the pushed event) as `Tick`"), "{msg}");
    let (status, msg) = call(n.r#fn, &[]);
    assert_eq!(status, CLOACINA_STATUS_INVALID_INPUT);
    assert!(msg.contains("expected 1 input(s)"), "{msg}");

    let b = accumulator("batched");
    assert_eq!(b.kind, CLOACINA_ACC_BATCH);
    assert_eq!(
        s(b.config_json),
        r#"{"max_buffer_size":10,"flush_interval_ms":250}"#
    );

    let w = accumulator("window");
    assert_eq!(w.kind, CLOACINA_ACC_STATE);
    assert_eq!(s(w.config_json), r#"{"capacity":-1}"#);
    assert_eq!(call(w.r#fn, &["[1,2]"]), (0, "[1,2]".into()));
    let (status, msg) = call(w.r#fn, &["null"]);
    assert_eq!(status, CLOACINA_STATUS_PLUGIN_ERROR);
    assert_eq!(
        msg,
        "accumulator `window` failed: null events are not allowed"
    );

    let p = accumulator("poller");
    assert_eq!(p.kind, CLOACINA_ACC_POLLING);
    assert_eq!(s(p.config_json), r#"{"interval_ms":5000}"#);
    let first = call(p.r#fn, &[]);
    let second = call(p.r#fn, &[]);
    assert_eq!(first, (0, "null".into()));
    assert_eq!(second, (0, "1".into()));
}

#[test]
fn stream_accumulators() {
    let btc = accumulator("btc_ticks");
    assert_eq!(btc.kind, CLOACINA_ACC_STREAM);
    assert_eq!(
        s(btc.config_json),
        r#"{"subject":"prices.btc","durable":"pricing"}"#
    );
    assert_eq!(
        call(btc.r#fn, &[r#"{"price":4200}"#]),
        (0, r#"{"price":4200.0}"#.into())
    );
    let (status, msg) = call(btc.r#fn, &[]);
    assert_eq!(status, CLOACINA_STATUS_INVALID_INPUT);
    assert!(msg.contains("expected 1 input(s)"), "{msg}");

    let eth = accumulator("eth_ticks");
    assert_eq!(eth.kind, CLOACINA_ACC_STREAM);
    assert_eq!(s(eth.config_json), r#"{"subject":"prices.eth"}"#);
    assert_eq!(call(eth.r#fn, &["7"]), (0, r#"{"streamed":7}"#.into()));
}

#[test]
fn a_panicking_accumulator_returns_a_status() {
    let (status, msg) = call(accumulator("exploding").r#fn, &["1"]);
    assert_eq!(status, CLOACINA_STATUS_PANIC);
    assert!(
        msg.starts_with("accumulator `exploding` panicked: accumulator exploded (at "),
        "{msg}"
    );
    assert!(
        msg.contains("declarations.rs:"),
        "the location is reported: {msg}"
    );
    // Still usable afterwards.
    assert_eq!(
        call(accumulator("raw_prices").r#fn, &["2"]),
        (0, "2".into())
    );
}

#[test]
fn tutorial_graph_entries_and_nodes() {
    let g = graph("price_consumer");
    assert_eq!(s(g.trigger_reactor), "PriceReactor");
    assert_eq!(
        g.node_entry_size as usize,
        std::mem::size_of::<cloacina_node_entry>()
    );
    let score = node(g, "score");
    assert_eq!(
        names(score.inputs, score.n_inputs),
        ["raw_prices", "normalized_prices"]
    );
    assert_eq!(names(score.next, score.n_next), ["publish"]);
    assert_eq!(score.n_routes, 0);
    let publish = node(g, "publish");
    assert_eq!(
        (publish.n_inputs, publish.n_next, publish.n_routes),
        (0, 0, 0)
    );

    assert_eq!(
        call(score.r#fn, &[r#"{"price":6}"#, r#"{"price":3}"#]),
        (0, "2.0".into())
    );
    assert_eq!(
        call(score.r#fn, &["null", r#"{"price":3}"#]),
        (0, "0.0".into())
    );
    assert_eq!(
        call(publish.r#fn, &["2.0"]),
        (0, r#"{"signal":2.0}"#.into())
    );
    let (status, msg) = call(publish.r#fn, &[r#""two""#]);
    assert_eq!(status, CLOACINA_STATUS_INVALID_INPUT);
    assert!(msg.starts_with("node `publish` of graph `price_consumer`: cannot decode parameter `ratio` (upstream node `score`) as `f64`"), "{msg}");
    let (status, msg) = call(score.r#fn, &["1"]);
    assert_eq!(status, CLOACINA_STATUS_INVALID_INPUT);
    assert!(msg.contains("expected 2 input(s) (raw <- cache input `raw_prices`, normalized <- cache input `normalized_prices`), got 1"), "{msg}");

    let (status, out) = call(
        g.execute,
        &[r#"{"raw_prices":{"price":10},"normalized_prices":{"price":4}}"#],
    );
    assert_eq!(
        (status, json(&out)),
        (0, serde_json::json!({"publish": {"signal": 2.5}}))
    );
    // A source that never produced a boundary is null.
    let (status, out) = call(g.execute, &[r#"{"raw_prices":{"price":10}}"#]);
    assert_eq!(
        (status, json(&out)),
        (0, serde_json::json!({"publish": {"signal": 0.0}}))
    );
    let (status, msg) = call(g.execute, &["[1]"]);
    assert_eq!(status, CLOACINA_STATUS_INVALID_INPUT);
    assert!(msg.contains("must be a JSON object"), "{msg}");
}

#[test]
fn routing_and_fan_in() {
    let g = graph("router");
    let classify = node(g, "classify");
    let routes: Vec<(&str, &str)> = (0..classify.n_routes as usize)
        .map(|i| unsafe { &*classify.routes.add(i) })
        .map(|r| (s(r.variant), s(r.target)))
        .collect();
    assert_eq!(
        routes,
        [("High", "alert"), ("Low", "log"), ("Nothing", "idle")]
    );
    assert_eq!(classify.n_next, 0);
    let log = node(g, "log");
    assert_eq!(names(log.next, log.n_next), ["join", "audit"]);

    // Node by node: a routing node returns {"Variant": inner} ...
    assert_eq!(
        call(classify.r#fn, &[r#"{"price":150}"#]),
        (0, r#"{"High":{"price":150.0}}"#.into())
    );
    assert_eq!(
        call(classify.r#fn, &[r#"{"price":5}"#]),
        (0, r#"{"Low":{"price":5.0}}"#.into())
    );
    let bad = call(classify.r#fn, &[r#"{"price":null}"#]);
    assert_eq!(bad.0, CLOACINA_STATUS_INVALID_INPUT);

    let run = |left: &str| {
        let (status, out) = call(g.execute, &[&format!(r#"{{"left":{left},"right":"R"}}"#)]);
        assert_eq!(status, 0, "{out}");
        json(&out)
    };
    // High -> alert -> join; log (and so audit) did not run: join gets null for it.
    assert_eq!(
        run(r#"{"price":150}"#),
        serde_json::json!({"join": {"right": "R", "alert": "alert 150", "log": null}})
    );
    // Low -> log -> join + audit.
    assert_eq!(
        run(r#"{"price":5}"#),
        serde_json::json!({"join": {"right": "R", "alert": null, "log": {"price": 5.0}}, "audit": 1})
    );
    // The same through run_graph, in-process.
    let direct = run_graph(
        &router::__CLOACINA_GRAPH,
        serde_json::json!({"left": {"price": 5}, "right": "R"}),
    )
    .unwrap();
    assert_eq!(direct, run(r#"{"price":5}"#));
}

#[test]
fn unit_variant_routes_with_null() {
    let g = graph("router");
    // serde encodes a unit variant as "Nothing"; the SDK sends {"Nothing": null}.
    let classify = node(g, "classify");
    assert_eq!(
        call(classify.r#fn, &[r#"{"price":-1}"#]),
        (0, r#"{"Nothing":null}"#.into())
    );
    let (status, out) = call(g.execute, &[r#"{"left":{"price":-1},"right":"R"}"#]);
    assert_eq!((status, json(&out)), (0, serde_json::json!({"idle": true})));
}

#[test]
fn triggerless_graph_with_async_and_result_nodes() {
    let g = graph("triggerless");
    assert!(g.trigger_reactor.is_null());
    let (status, out) = call(g.execute, &[r#"{"n":21}"#]);
    assert_eq!((status, json(&out)), (0, serde_json::json!({"check": 42})));
    let (status, msg) = call(g.execute, &[r#"{"n":600}"#]);
    assert_eq!(status, CLOACINA_STATUS_PLUGIN_ERROR);
    assert_eq!(
        msg,
        "node `check` of graph `triggerless` failed: 1200 is too large"
    );
    let (status, msg) = call(g.execute, &[r#"{}"#]);
    assert_eq!(status, CLOACINA_STATUS_INVALID_INPUT);
    assert!(msg.contains("node `double` of graph `triggerless`: cannot decode parameter `n` (cache input `n`) as `i64`"), "{msg}");
}

#[test]
fn a_panicking_node_returns_a_status_naming_it() {
    let g = graph("panicky");
    let boom = node(g, "boom");
    let (status, msg) = call(boom.r#fn, &[r#""panic""#]);
    assert_eq!(status, CLOACINA_STATUS_PANIC);
    assert!(
        msg.starts_with(
            r#"node `boom` of graph `panicky` panicked: node exploded on "panic" (at "#
        ),
        "{msg}"
    );
    assert!(msg.contains("declarations.rs:"), "{msg}");
    let (status, msg) = call(g.execute, &[r#"{"left":"panic"}"#]);
    assert_eq!(status, CLOACINA_STATUS_PANIC);
    assert!(
        msg.starts_with("node `boom` of graph `panicky` panicked: node exploded"),
        "{msg}"
    );
    assert_eq!(
        call(g.execute, &[r#"{"left":1}"#]),
        (0, r#"{"after":1}"#.into())
    );
    let err = run_graph(
        &panicky::__CLOACINA_GRAPH,
        serde_json::json!({"left": "panic"}),
    )
    .unwrap_err();
    assert_eq!(err.status, CLOACINA_STATUS_PANIC);
}

#[test]
fn concurrent_calls() {
    let g = graph("price_consumer");
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let execute = g.execute;
            std::thread::spawn(move || {
                for k in 1..200 {
                    let input = format!(
                        r#"{{"raw_prices":{{"price":{}}},"normalized_prices":{{"price":{k}}}}}"#,
                        i * k
                    );
                    let (status, out) = call(execute, &[&input]);
                    assert_eq!(status, 0);
                    assert_eq!(
                        json(&out),
                        serde_json::json!({"publish": {"signal": i as f64}})
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
