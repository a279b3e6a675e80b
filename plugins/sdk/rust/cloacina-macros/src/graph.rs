//! `#[computation_graph(trigger = reactor("R"), graph = { node: { inputs: [..], next: .., routes: {..} }, .. })]`
//! on an inline module of node functions.

use crate::function::{check_signature, generate, FnSpec};
use crate::parse::{combine, key_values, name_list, Name};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{Ident, Item, ItemFn, ItemMod, Token, Visibility};

const KEYS: &[&str] = &["name", "trigger", "graph"];
const NODE_KEYS: &[&str] = &["inputs", "next", "routes"];

#[derive(Debug)]
pub struct NodeSpec {
    pub name: Name,
    pub inputs: Vec<Name>,
    pub next: Vec<Name>,
    /// (variant, target)
    pub routes: Vec<(Name, Name)>,
}

#[derive(Debug, Default)]
pub struct GraphArgs {
    pub name: Option<Name>,
    pub trigger: Option<Name>,
    pub nodes: Option<(Vec<NodeSpec>, Span)>,
}

fn parse_trigger(input: ParseStream) -> syn::Result<Name> {
    let kind = input.call(Ident::parse_any)?;
    if kind != "reactor" {
        return Err(syn::Error::new(
            kind.span(),
            format!("unknown trigger `{kind}`; expected `trigger = reactor(\"ReactorName\")`, or no `trigger` at all for a trigger-less graph"),
        ));
    }
    if !input.peek(syn::token::Paren) {
        return Err(syn::Error::new(
            kind.span(),
            "write the reactor's name in parentheses: `trigger = reactor(\"ReactorName\")`",
        ));
    }
    let content;
    let parens = syn::parenthesized!(content in input);
    if content.is_empty() {
        return Err(syn::Error::new(
            parens.span.join(),
            "`reactor()` needs the reactor's name: `trigger = reactor(\"ReactorName\")`",
        ));
    }
    let name = Name::parse(&content)?;
    if !content.is_empty() {
        return Err(content.error("`reactor(..)` takes exactly one reactor name; bind a second reactor with a second graph"));
    }
    name.check("the trigger's reactor name")?;
    Ok(name)
}

fn parse_targets(input: ParseStream) -> syn::Result<Vec<Name>> {
    if input.peek(syn::token::Bracket) {
        name_list(input)
    } else {
        Ok(vec![Name::parse(input)?])
    }
}

fn parse_routes(input: ParseStream, node: &Name) -> syn::Result<Vec<(Name, Name)>> {
    let content;
    let braces = syn::braced!(content in input);
    let mut routes = Vec::new();
    while !content.is_empty() {
        let variant = Name::parse(&content)?;
        content.parse::<Token![:]>()?;
        let target = Name::parse(&content)?;
        routes.push((variant, target));
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    if routes.is_empty() {
        return Err(syn::Error::new(
            braces.span.join(),
            format!("node `{}` has empty `routes`; map at least one variant to a node (`routes: {{ Variant: \"node\" }}`) or remove `routes`", node.value),
        ));
    }
    Ok(routes)
}

fn parse_node(input: ParseStream) -> syn::Result<NodeSpec> {
    let ident = input.call(Ident::parse_any)?;
    let name = Name {
        value: ident.unraw().to_string(),
        span: ident.span(),
    };
    input.parse::<Token![:]>()?;
    let content;
    syn::braced!(content in input);
    let mut node = NodeSpec {
        name,
        inputs: Vec::new(),
        next: Vec::new(),
        routes: Vec::new(),
    };
    let mut seen: Vec<String> = Vec::new();
    while !content.is_empty() {
        let key = content.call(Ident::parse_any)?;
        let k = key.to_string();
        if !NODE_KEYS.contains(&k.as_str()) {
            return Err(syn::Error::new(
                key.span(),
                format!(
                    "unknown key `{k}` in node `{}`; expected `inputs`, `next` or `routes`",
                    node.name.value
                ),
            ));
        }
        if seen.contains(&k) {
            return Err(syn::Error::new(
                key.span(),
                format!("duplicate `{k}` in node `{}`", node.name.value),
            ));
        }
        seen.push(k.clone());
        content.parse::<Token![:]>()?;
        match k.as_str() {
            "inputs" => node.inputs = name_list(&content)?,
            "next" => node.next = parse_targets(&content)?,
            _ => node.routes = parse_routes(&content, &node.name)?,
        }
        if seen.iter().any(|s| s == "next") && seen.iter().any(|s| s == "routes") {
            return Err(syn::Error::new(
                key.span(),
                format!("node `{}` has both `next` and `routes`; a node either continues to its `next` node(s) or branches on `routes`, not both", node.name.value),
            ));
        }
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    Ok(node)
}

fn parse_topology(input: ParseStream) -> syn::Result<(Vec<NodeSpec>, Span)> {
    let content;
    let braces = syn::braced!(content in input);
    let mut nodes = Vec::new();
    while !content.is_empty() {
        nodes.push(parse_node(&content)?);
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    Ok((nodes, braces.span.join()))
}

pub fn parse_args(tokens: TokenStream) -> syn::Result<GraphArgs> {
    let mut args = GraphArgs::default();
    key_values(tokens, "computation_graph", KEYS, |key, input| {
        match key.to_string().as_str() {
            "name" => {
                args.name = Some(Name::parse_literal(input, "the graph name")?);
            }
            "trigger" => args.trigger = Some(parse_trigger(input)?),
            "graph" => args.nodes = Some(parse_topology(input)?),
            _ => unreachable!(),
        }
        Ok(())
    })?;
    Ok(args)
}

/// The checked topology, as indices into the declared nodes.
#[derive(Debug)]
pub struct Plan {
    /// Topological order; ties broken by declaration order.
    pub order: Vec<usize>,
    /// Upstream nodes of each node, in declaration order.
    pub upstream: Vec<Vec<usize>>,
    pub next_index: Vec<Vec<usize>>,
    pub route_index: Vec<Vec<usize>>,
}

fn list(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    names
        .into_iter()
        .map(|n| n.as_ref().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Validates the topology alone (no functions involved).
pub fn plan(graph: &str, nodes: &[NodeSpec], span: Span) -> syn::Result<Plan> {
    if nodes.is_empty() {
        return Err(syn::Error::new(span, format!("graph `{graph}` has no nodes and so no entry node; declare at least one node, e.g. `graph = {{ step: {{ inputs: [\"source\"] }} }}`")));
    }
    let index = |name: &str| nodes.iter().position(|n| n.name.value == name);
    let declared = list(nodes.iter().map(|n| &n.name.value));
    let mut error: Option<syn::Error> = None;
    for (i, node) in nodes.iter().enumerate() {
        if nodes[..i].iter().any(|n| n.name.value == node.name.value) {
            combine(
                &mut error,
                syn::Error::new(
                    node.name.span,
                    format!(
                        "node `{}` is declared more than once in graph `{graph}`",
                        node.name.value
                    ),
                ),
            );
        }
        for (k, input) in node.inputs.iter().enumerate() {
            if let Err(e) = input.check("an input name") {
                combine(&mut error, e);
            } else if node.inputs[..k].iter().any(|o| o.value == input.value) {
                combine(
                    &mut error,
                    syn::Error::new(
                        input.span,
                        format!(
                            "node `{}` lists input `{}` more than once",
                            node.name.value, input.value
                        ),
                    ),
                );
            }
        }
        let targets = node.next.iter().chain(node.routes.iter().map(|(_, t)| t));
        for target in targets {
            if index(&target.value).is_none() {
                combine(&mut error, syn::Error::new(
                    target.span,
                    format!("unknown node `{}` in graph `{graph}` (referenced by node `{}`); declared nodes are: {declared}. Declare `{}: {{ .. }}` in `graph = {{ .. }}` or fix the name", target.value, node.name.value, target.value),
                ));
            } else if target.value == node.name.value {
                combine(&mut error, syn::Error::new(target.span, format!("cycle in graph `{graph}`: node `{}` points to itself; graphs must be acyclic", node.name.value)));
            }
        }
        for (k, target) in node.next.iter().enumerate() {
            if node.next[..k].iter().any(|o| o.value == target.value) {
                combine(
                    &mut error,
                    syn::Error::new(
                        target.span,
                        format!(
                            "node `{}` lists `{}` in `next` more than once",
                            node.name.value, target.value
                        ),
                    ),
                );
            }
        }
        for (k, (variant, _)) in node.routes.iter().enumerate() {
            if let Err(e) = variant.check("a route variant") {
                combine(&mut error, e);
            } else if node.routes[..k]
                .iter()
                .any(|(o, _)| o.value == variant.value)
            {
                combine(
                    &mut error,
                    syn::Error::new(
                        variant.span,
                        format!(
                            "node `{}` routes variant `{}` more than once",
                            node.name.value, variant.value
                        ),
                    ),
                );
            }
        }
    }
    if let Some(e) = error {
        return Err(e);
    }
    let next_index: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| n.next.iter().map(|t| index(&t.value).unwrap()).collect())
        .collect();
    let route_index: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            n.routes
                .iter()
                .map(|(_, t)| index(&t.value).unwrap())
                .collect()
        })
        .collect();
    let mut upstream: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, targets) in next_index
        .iter()
        .zip(&route_index)
        .map(|(a, b)| a.iter().chain(b))
        .enumerate()
    {
        for &t in targets {
            if !upstream[t].contains(&i) {
                upstream[t].push(i);
            }
        }
    }
    for u in &mut upstream {
        u.sort_unstable();
    }
    if upstream.iter().all(|u| !u.is_empty()) {
        return Err(syn::Error::new(
            span,
            format!("graph `{graph}` has no entry node: every node has an upstream edge, so nothing can start it. Make at least one node a start by removing the edges into it (an entry node reads only its `inputs`)"),
        ));
    }
    // Kahn's algorithm, smallest declaration index first.
    let mut remaining: Vec<usize> = upstream.iter().map(Vec::len).collect();
    let mut done = vec![false; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = (0..nodes.len()).find(|&i| !done[i] && remaining[i] == 0) {
        done[i] = true;
        order.push(i);
        for (t, ups) in upstream.iter().enumerate() {
            if ups.contains(&i) {
                remaining[t] -= 1;
            }
        }
    }
    if order.len() < nodes.len() {
        // Walk backwards along upstream edges among the unsorted nodes until one repeats.
        let mut path = vec![(0..nodes.len()).find(|&i| !done[i]).unwrap()];
        loop {
            let last = *path.last().unwrap();
            let prev = *upstream[last]
                .iter()
                .find(|&&u| !done[u])
                .expect("an unsorted node has an unsorted upstream");
            if let Some(pos) = path.iter().position(|&p| p == prev) {
                // Edges run against the walk; start at the first-declared node.
                let mut cycle: Vec<usize> = path[pos..].iter().rev().copied().collect();
                let first = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
                cycle.rotate_left(first);
                cycle.push(cycle[0]);
                let cycle: Vec<&str> = cycle
                    .iter()
                    .map(|&i| nodes[i].name.value.as_str())
                    .collect();
                return Err(syn::Error::new(
                    nodes[prev].name.span,
                    format!("cycle in graph `{graph}`: {}; graphs must be acyclic, remove one of these edges", cycle.join(" -> ")),
                ));
            }
            path.push(prev);
        }
    }
    Ok(Plan {
        order,
        upstream,
        next_index,
        route_index,
    })
}

pub fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut module: ItemMod = syn::parse2(item).map_err(|e| {
        syn::Error::new(e.span(), "#[computation_graph] must be applied to an inline module: `pub mod my_graph { use super::*; pub async fn step(..) -> .. { .. } }`")
    })?;
    let args = parse_args(args)?;
    let graph_name = args
        .name
        .as_ref()
        .map_or_else(|| module.ident.unraw().to_string(), |n| n.value.clone());
    let Some((nodes, topo_span)) = &args.nodes else {
        return Err(syn::Error::new(
            module.ident.span(),
            "#[computation_graph] needs `graph = { node: { inputs: [..], next: \"..\" }, .. }` describing the topology",
        ));
    };
    let plan = plan(&graph_name, nodes, *topo_span)?;
    let Some((_, items)) = &mut module.content else {
        return Err(syn::Error::new(
            module.ident.span(),
            format!("#[computation_graph] needs the module's body inline: write `mod {} {{ .. }}`, not `mod {};`", module.ident, module.ident),
        ));
    };

    let functions: Vec<&ItemFn> = items
        .iter()
        .filter_map(|i| if let Item::Fn(f) = i { Some(f) } else { None })
        .collect();
    let mut error: Option<syn::Error> = None;
    // Every node needs a function.
    for node in nodes {
        if !functions
            .iter()
            .any(|f| f.sig.ident.unraw() == node.name.value)
        {
            combine(&mut error, syn::Error::new(
                node.name.span,
                format!("node `{}` is in the topology of graph `{graph_name}` but module `{}` has no function `{}`; add `pub async fn {}(..)` to the module or remove the node", node.name.value, module.ident, node.name.value, node.name.value),
            ));
        }
    }
    // Every public function must be a node (private functions are helpers).
    for f in &functions {
        let name = f.sig.ident.unraw().to_string();
        if !matches!(f.vis, Visibility::Inherited) && !nodes.iter().any(|n| n.name.value == name) {
            combine(&mut error, syn::Error::new(
                f.sig.ident.span(),
                format!("function `{name}` is not in the topology of graph `{graph_name}`; add `{name}: {{ .. }}` to `graph = {{ .. }}`, or make it private (drop `pub`) if it is a helper"),
            ));
        }
    }
    if let Some(e) = error {
        return Err(e);
    }

    let rt = quote!(::cloacina_workflow::__private);
    let mut generated = Vec::new();
    let mut node_defs = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let f = *functions
            .iter()
            .find(|f| f.sig.ident.unraw() == node.name.value)
            .unwrap();
        check_signature(f, "a node function")?;
        let mut sources: Vec<String> = node
            .inputs
            .iter()
            .map(|s| format!("cache input `{}`", s.value))
            .collect();
        sources.extend(
            plan.upstream[i]
                .iter()
                .map(|&u| format!("upstream node `{}`", nodes[u].name.value)),
        );
        if f.sig.inputs.len() != sources.len() {
            let gets = if sources.is_empty() {
                "nothing".to_string()
            } else {
                list(&sources)
            };
            combine(&mut error, syn::Error::new_spanned(
                &f.sig.inputs,
                format!(
                    "node `{}` takes {} parameter(s) but graph `{graph_name}` gives it {}: {gets}. Parameters are the node's `inputs` in order, then one per upstream node in declaration order",
                    node.name.value,
                    f.sig.inputs.len(),
                    sources.len()
                ),
            ));
            continue;
        }
        let what = format!("node `{}` of graph `{graph_name}`", node.name.value);
        let g = generate(&FnSpec {
            item: f,
            what,
            sources,
            routing: !node.routes.is_empty(),
        });
        let name = &node.name.value;
        let inputs = node.inputs.iter().map(|n| &n.value);
        let next = node.next.iter().map(|n| &n.value);
        let routes = node.routes.iter().map(|(v, t)| {
            let (v, t) = (&v.value, &t.value);
            quote!((#v, #t))
        });
        let upstream = &plan.upstream[i];
        let next_index = &plan.next_index[i];
        let route_index = &plan.route_index[i];
        let runner = &g.runner;
        let ffi = &g.ffi;
        node_defs.push(quote! {
            #rt::NodeDef {
                name: #name,
                inputs: &[#(#inputs),*],
                next: &[#(#next),*],
                routes: &[#(#routes),*],
                function: #ffi,
                run: #runner::<#rt::ValueArgs>,
                upstream: &[#(#upstream),*],
                next_index: &[#(#next_index),*],
                route_index: &[#(#route_index),*],
            }
        });
        generated.push(g.tokens);
    }
    if let Some(e) = error {
        return Err(e);
    }
    let order = &plan.order;
    let trigger = match &args.trigger {
        Some(t) => {
            let t = &t.value;
            quote!(::std::option::Option::Some(#t))
        }
        None => quote!(::std::option::Option::None),
    };
    let execute_what = format!("fused function of graph `{graph_name}`");
    let def = format_ident!("__CLOACINA_GRAPH");
    let execute = format_ident!("__cloacina_execute");
    let entry = format_ident!("__CLOACINA_GRAPH_ENTRY");
    let extra: Vec<Item> = vec![
        syn::parse_quote! {
            /// This graph's declaration (for in-process runs: `cloacina_workflow::run_graph`).
            #[doc(hidden)]
            pub static #def: #rt::GraphDef = #rt::GraphDef {
                name: #graph_name,
                trigger_reactor: #trigger,
                nodes: &[#(#node_defs),*],
                order: &[#(#order),*],
                execute: #execute,
            };
        },
        syn::parse_quote! {
            #[doc(hidden)]
            #[allow(dead_code, unused_unsafe)]
            unsafe extern "C" fn #execute(
                _ctx: *mut ::core::ffi::c_void,
                inputs: *const #rt::abi::cloacina_slice,
                n_inputs: u64,
                out: *mut #rt::abi::cloacina_buffer,
            ) -> i32 {
                unsafe { #rt::ffi_execute(&#def, #execute_what, inputs, n_inputs, out) }
            }
        },
        syn::parse_quote! {
            ::cloacina_workflow::__cloacina_packaged! {
                #[#rt::linkme::distributed_slice(#rt::GRAPHS)]
                #[linkme(crate = #rt::linkme)]
                #[doc(hidden)]
                #[allow(non_upper_case_globals)]
                static #entry: &'static #rt::GraphDef = &#def;
            }
        },
    ];
    for tokens in generated {
        let file: syn::File = syn::parse2(tokens)?;
        items.extend(file.items);
    }
    items.extend(extra);
    Ok(quote!(#module))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(src: &str) -> syn::Result<Plan> {
        let args = parse_args(format!("graph = {src}").parse().unwrap())?;
        let (nodes, span) = args.nodes.unwrap();
        plan("g", &nodes, span)
    }

    fn err(src: &str) -> String {
        plan_of(src).unwrap_err().to_string()
    }

    #[test]
    fn tutorial_topology() {
        let p = plan_of(r#"{ score: { inputs: ["raw_prices", "normalized_prices"], next: "publish" }, publish: {}, }"#).unwrap();
        assert_eq!(p.order, [0, 1]);
        assert_eq!(p.upstream, [vec![], vec![0]]);
        assert_eq!(p.next_index, [vec![1], vec![]]);
    }

    #[test]
    fn order_follows_edges_not_declaration() {
        let p = plan_of(r#"{ c: {}, b: { next: "c" }, a: { inputs: [x], next: ["b", "c"] } }"#)
            .unwrap();
        assert_eq!(p.order, [2, 1, 0]);
        // c's upstream nodes, in declaration order: b (1) then a (2).
        assert_eq!(p.upstream[0], [1, 2]);
    }

    #[test]
    fn routes_and_fan_in() {
        let p = plan_of(r#"{ classify: { inputs: [e], routes: { High: "alert", Low: "log" } }, alert: { next: "join" }, log: { next: "join" }, join: {} }"#).unwrap();
        assert_eq!(p.route_index[0], [1, 2]);
        assert_eq!(p.upstream[3], [1, 2]);
        assert_eq!(p.order, [0, 1, 2, 3]);
    }

    #[test]
    fn topology_errors_say_what_to_fix() {
        assert!(err(r#"{ a: { next: "b" } }"#).contains("unknown node `b`"));
        assert!(err(r#"{ a: { next: "b" }, b: { next: "a" } }"#).contains("has no entry node"));
        let cycle =
            err(r#"{ s: { next: "a" }, a: { next: "b" }, b: { next: "c" }, c: { next: "a" } }"#);
        assert!(cycle.contains("cycle in graph `g`"), "{cycle}");
        assert!(cycle.contains("a -> b -> c -> a"), "{cycle}");
        assert!(err(r#"{ a: { next: "a" } }"#).contains("points to itself"));
        assert!(err("{}").contains("has no nodes"));
        assert!(err(r#"{ a: {}, a: {} }"#).contains("declared more than once"));
        assert!(err(r#"{ a: { next: ["b", "b"] }, b: {} }"#).contains("more than once"));
        assert!(err(r#"{ a: { inputs: [x, x] } }"#).contains("more than once"));
        assert!(err(r#"{ a: { routes: {} } }"#).contains("empty `routes`"));
        assert!(err(r#"{ a: { next: "b", routes: { X: "b" } }, b: {} }"#)
            .contains("both `next` and `routes`"));
        assert!(err(r#"{ a: { nxt: "b" } }"#).contains("unknown key `nxt`"));
    }

    #[test]
    fn trigger_forms() {
        let a =
            parse_args(r#"trigger = reactor("R"), graph = { a: {} }"#.parse().unwrap()).unwrap();
        assert_eq!(a.trigger.unwrap().value, "R");
        let a = parse_args(r#"trigger = reactor(R), graph = { a: {} }"#.parse().unwrap()).unwrap();
        assert_eq!(a.trigger.unwrap().value, "R");
        let bad = |s: &str| parse_args(s.parse().unwrap()).unwrap_err().to_string();
        assert!(bad(r#"trigger = cron("* * *")"#).contains("unknown trigger `cron`"));
        assert!(bad("trigger = reactor()").contains("needs the reactor's name"));
        assert!(bad("trigger = reactor").contains("in parentheses"));
        assert!(bad(r#"trigger = reactor("")"#).contains("must not be empty"));
        assert!(bad(r#"trigger = reactor("A", "B")"#).contains("exactly one"));
    }
}
