//! `#[passthrough_accumulator]`, `#[batch_accumulator(..)]`,
//! `#[state_accumulator(..)]`, `#[polling_accumulator(..)]`,
//! `#[stream_accumulator(..)]` on a function.

use crate::function::{check_signature, generate, FnSpec};
use crate::parse::{duration_ms, key_values, Name};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{ItemFn, LitInt, LitStr, Token};

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Kind {
    Passthrough,
    Batch,
    State,
    Polling,
    Stream,
}

impl Kind {
    fn attribute(self) -> &'static str {
        match self {
            Kind::Passthrough => "passthrough_accumulator",
            Kind::Batch => "batch_accumulator",
            Kind::State => "state_accumulator",
            Kind::Polling => "polling_accumulator",
            Kind::Stream => "stream_accumulator",
        }
    }
    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Passthrough => &["name"],
            Kind::Batch => &["name", "max_buffer_size", "flush_interval"],
            Kind::State => &["name", "capacity"],
            Kind::Polling => &["name", "interval"],
            Kind::Stream => &["name", "subject", "durable"],
        }
    }
}

/// Parsed settings: the accumulator's name override and its config JSON.
#[derive(Debug)]
pub struct AccArgs {
    pub name: Option<Name>,
    pub config: Option<String>,
}

pub fn parse_args(
    kind: Kind,
    tokens: TokenStream,
    span: proc_macro2::Span,
) -> syn::Result<AccArgs> {
    let attribute = kind.attribute();
    let mut name = None;
    let mut fields: Vec<(String, String)> = Vec::new();
    key_values(tokens, attribute, kind.keys(), |key, input| {
        match key.to_string().as_str() {
            "name" => {
                name = Some(Name::parse_literal(input, "the accumulator name")?);
            }
            "max_buffer_size" => {
                let lit: LitInt = input.parse()?;
                let v: u64 = lit.base10_parse()?;
                if v == 0 {
                    return Err(syn::Error::new(
                        lit.span(),
                        "max_buffer_size must be at least 1",
                    ));
                }
                fields.push(("max_buffer_size".into(), v.to_string()));
            }
            "capacity" => {
                let negative = input.parse::<Option<Token![-]>>()?.is_some();
                let lit: LitInt = input.parse()?;
                let v: i64 = lit.base10_parse()?;
                let v = if negative { -v } else { v };
                if v == 0 || v < -1 {
                    return Err(syn::Error::new(
                        lit.span(),
                        "capacity must be a positive number of boundaries, or -1 for an unbounded window",
                    ));
                }
                fields.push(("capacity".into(), v.to_string()));
            }
            "flush_interval" => {
                let lit: LitStr = input.parse()?;
                fields.push(("flush_interval_ms".into(), duration_ms(&lit)?.to_string()));
            }
            "interval" => {
                let lit: LitStr = input.parse()?;
                fields.push(("interval_ms".into(), duration_ms(&lit)?.to_string()));
            }
            "subject" => {
                let lit: LitStr = input.parse()?;
                let subject = stream_subject(&lit)?;
                // checked: only [A-Za-z0-9_.-], nothing JSON has to escape
                fields.push(("subject".into(), format!("\"{subject}\"")));
            }
            "durable" => {
                let lit: LitStr = input.parse()?;
                let durable = stream_durable(&lit)?;
                fields.push(("durable".into(), format!("\"{durable}\"")));
            }
            _ => unreachable!(),
        }
        Ok(())
    })?;
    let required = match kind {
        Kind::State => Some(("capacity", "capacity = 10 (or -1 for unbounded)")),
        Kind::Polling => Some(("interval_ms", "interval = \"5s\"")),
        Kind::Stream => Some(("subject", "subject = \"prices.btc\"")),
        _ => None,
    };
    if let Some((field, example)) = required {
        if !fields.iter().any(|(k, _)| k == field) {
            return Err(syn::Error::new(
                span,
                format!("#[{attribute}] needs `{example}`"),
            ));
        }
    }
    let config = match kind {
        Kind::Passthrough => None,
        _ => Some(format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect::<Vec<_>>()
                .join(",")
        )),
    };
    Ok(AccArgs { name, config })
}

/// The longest broker subject a stream accumulator may name (the host's limit).
const MAX_SUBJECT: usize = 200;
/// The longest durable consumer name.
const MAX_DURABLE: usize = 64;

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// A stream accumulator's subject: 1-200 characters of dot-separated, non-empty tokens of
/// `[A-Za-z0-9_-]` (no wildcards, no spaces), as the host checks it at load time.
fn stream_subject(lit: &LitStr) -> syn::Result<String> {
    let subject = lit.value();
    let fail = |why: String| Err(syn::Error::new(lit.span(), why));
    let length = subject.chars().count();
    if length == 0 {
        return fail(
            "stream subject must not be empty; name the broker subject, e.g. \"prices.btc\"".into(),
        );
    }
    if length > MAX_SUBJECT {
        return fail(format!(
            "stream subject is {length} characters long; the limit is {MAX_SUBJECT}"
        ));
    }
    for token in subject.split('.') {
        if token.is_empty() {
            return fail(format!(
                "invalid stream subject \"{subject}\": it has an empty token; a subject may not start or end with a dot or have two dots in a row"
            ));
        }
        if !token.chars().all(is_token_char) {
            return fail(format!(
                "invalid stream subject \"{subject}\": token `{token}` may contain only letters, digits, `_` and `-` (no wildcards `*` or `>`, no spaces)"
            ));
        }
    }
    Ok(subject)
}

/// A durable consumer name: 1-64 of `[A-Za-z0-9_-]`.
fn stream_durable(lit: &LitStr) -> syn::Result<String> {
    let durable = lit.value();
    let length = durable.chars().count();
    if length == 0 || length > MAX_DURABLE || !durable.chars().all(is_token_char) {
        return Err(syn::Error::new(
            lit.span(),
            format!("invalid durable \"{durable}\": a durable name is 1-{MAX_DURABLE} letters, digits, `_` or `-`"),
        ));
    }
    Ok(durable)
}

pub fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let attribute = kind.attribute();
    let item: ItemFn = syn::parse2(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("#[{attribute}] must be applied to a function"),
        )
    })?;
    let args = parse_args(kind, args, item.sig.ident.span())?;
    check_signature(&item, "an accumulator function")?;
    let f = &item.sig.ident;
    let n = item.sig.inputs.len();
    match kind {
        Kind::Polling if n != 0 => {
            return Err(syn::Error::new_spanned(
                &item.sig.inputs,
                format!("polling accumulator `{f}` must take no parameters: the host calls it every interval and it returns `Option<T>` (None = nothing new)"),
            ))
        }
        Kind::Passthrough | Kind::Batch | Kind::State | Kind::Stream if n != 1 => {
            return Err(syn::Error::new_spanned(
                &item.sig,
                format!("accumulator `{f}` must take exactly one parameter, the pushed event (e.g. `value: serde_json::Value`), and return the boundary"),
            ))
        }
        _ => {}
    }
    let name = args
        .name
        .as_ref()
        .map_or_else(|| f.to_string(), |n| n.value.clone());
    let what = format!("accumulator `{name}`");
    let sources = if n == 1 {
        vec!["the pushed event".to_string()]
    } else {
        vec![]
    };
    let generated = generate(&FnSpec {
        item: &item,
        what,
        sources,
        routing: false,
    });
    let tokens = &generated.tokens;
    let ffi = &generated.ffi;
    let rt = quote!(::cloacina_workflow::__private);
    let kind_code = match kind {
        Kind::Passthrough => quote!(#rt::abi::CLOACINA_ACC_PASSTHROUGH),
        Kind::Batch => quote!(#rt::abi::CLOACINA_ACC_BATCH),
        Kind::State => quote!(#rt::abi::CLOACINA_ACC_STATE),
        Kind::Polling => quote!(#rt::abi::CLOACINA_ACC_POLLING),
        Kind::Stream => quote!(#rt::abi::CLOACINA_ACC_STREAM),
    };
    let config = match &args.config {
        Some(c) => quote!(::std::option::Option::Some(#c)),
        None => quote!(::std::option::Option::None),
    };
    let entry = format_ident!("__CLOACINA_ACCUMULATOR_{}", f);
    Ok(quote! {
        #item

        #tokens

        ::cloacina_workflow::__cloacina_packaged! {
            #[#rt::linkme::distributed_slice(#rt::ACCUMULATORS)]
            #[linkme(crate = #rt::linkme)]
            #[doc(hidden)]
            #[allow(non_upper_case_globals)]
            static #entry: &'static #rt::AccumulatorDef = &#rt::AccumulatorDef {
                name: #name,
                kind: #kind_code,
                config_json: #config,
                function: ::std::option::Option::Some(#ffi),
            };
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::Span;

    fn config(kind: Kind, src: &str) -> syn::Result<Option<String>> {
        parse_args(kind, src.parse().unwrap(), Span::call_site()).map(|a| a.config)
    }

    #[test]
    fn configs_match_the_header() {
        assert_eq!(config(Kind::Passthrough, "").unwrap(), None);
        assert_eq!(
            config(
                Kind::Batch,
                r#"max_buffer_size = 50, flush_interval = "2s""#
            )
            .unwrap()
            .unwrap(),
            r#"{"max_buffer_size":50,"flush_interval_ms":2000}"#
        );
        assert_eq!(config(Kind::Batch, "").unwrap().unwrap(), "{}");
        assert_eq!(
            config(Kind::State, "capacity = 10").unwrap().unwrap(),
            r#"{"capacity":10}"#
        );
        assert_eq!(
            config(Kind::State, "capacity = -1").unwrap().unwrap(),
            r#"{"capacity":-1}"#
        );
        assert_eq!(
            config(Kind::Polling, r#"interval = "250ms""#)
                .unwrap()
                .unwrap(),
            r#"{"interval_ms":250}"#
        );
    }

    #[test]
    fn stream_configs_match_the_header() {
        assert_eq!(
            config(Kind::Stream, r#"subject = "prices.btc""#)
                .unwrap()
                .unwrap(),
            r#"{"subject":"prices.btc"}"#
        );
        assert_eq!(
            config(
                Kind::Stream,
                r#"name = "ticks", subject = "prices.btc-usd_1", durable = "pricing-2_a""#
            )
            .unwrap()
            .unwrap(),
            r#"{"subject":"prices.btc-usd_1","durable":"pricing-2_a"}"#
        );
        let longest = ["a"; 100].join(".");
        assert_eq!(longest.len(), 199);
        let subject = format!("subject = \"b{longest}\", durable = \"{}\"", "d".repeat(64));
        assert!(config(Kind::Stream, &subject).is_ok());
    }

    #[test]
    fn bad_stream_settings_are_refused() {
        let error = |src: &str| config(Kind::Stream, src).unwrap_err().to_string();
        assert_eq!(
            error(""),
            "#[stream_accumulator] needs `subject = \"prices.btc\"`"
        );
        assert_eq!(
            error(r#"durable = "pricing""#),
            "#[stream_accumulator] needs `subject = \"prices.btc\"`"
        );
        for wild in [
            "prices.*",
            "prices.>",
            ">",
            "prices btc",
            "prices.b/c",
            "prix.é",
        ] {
            assert!(
                error(&format!("subject = \"{wild}\"")).contains("may contain only letters"),
                "{wild}"
            );
        }
        for empty in [".prices", "prices.", "prices..btc", "."] {
            assert!(
                error(&format!("subject = \"{empty}\"")).contains("has an empty token"),
                "{empty}"
            );
        }
        assert!(error(r#"subject = """#).contains("must not be empty"));
        let long = format!("subject = \"{}\"", "a".repeat(201));
        assert_eq!(
            error(&long),
            "stream subject is 201 characters long; the limit is 200"
        );
        for durable in ["", "a b", "a.b", "ünï"] {
            assert!(
                error(&format!("subject = \"a\", durable = \"{durable}\"")).starts_with(&format!(
                    "invalid durable \"{durable}\": a durable name is 1-64"
                )),
                "{durable}"
            );
        }
        let long = format!("subject = \"a\", durable = \"{}\"", "d".repeat(65));
        assert!(error(&long).starts_with("invalid durable"));
        assert!(error(r#"subject = "a", queue = "q""#).contains("unknown key `queue`"));
        assert!(error("subject = 42").contains("expected string literal"));
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(config(Kind::State, "capacity = 0").is_err());
        assert!(config(Kind::State, "capacity = -2").is_err());
        assert!(config(Kind::State, "")
            .unwrap_err()
            .to_string()
            .contains("needs `capacity"));
        assert!(config(Kind::Polling, "")
            .unwrap_err()
            .to_string()
            .contains("needs `interval"));
        assert!(config(Kind::Batch, "max_buffer_size = 0").is_err());
        assert!(config(Kind::Passthrough, "capacity = 3")
            .unwrap_err()
            .to_string()
            .contains("unknown key `capacity`"));
    }
}
