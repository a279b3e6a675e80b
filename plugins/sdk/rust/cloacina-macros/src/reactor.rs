//! `#[reactor(name = "R", accumulators = [a, b], criteria = when_any(a, b), input_strategy = latest)]`

use crate::parse::{key_values, name_list, Name};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::{Fields, Ident, ItemStruct, LitStr, Token};

const KEYS: &[&str] = &["name", "accumulators", "criteria", "input_strategy"];

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Mode {
    WhenAny,
    WhenAll,
}

#[derive(Debug)]
pub struct Criteria {
    pub mode: Mode,
    pub names: Vec<Name>,
}

#[derive(Default, Debug)]
pub struct ReactorArgs {
    pub name: Option<Name>,
    pub accumulators: Option<(Vec<Name>, proc_macro2::Span)>,
    pub criteria: Option<Criteria>,
    pub sequential: bool,
}

fn parse_criteria(input: syn::parse::ParseStream) -> syn::Result<Criteria> {
    let mode_ident = input.call(Ident::parse_any)?;
    let mode = match mode_ident.to_string().as_str() {
        "when_any" => Mode::WhenAny,
        "when_all" => Mode::WhenAll,
        other => {
            return Err(syn::Error::new(
                mode_ident.span(),
                format!(
                    "unknown reaction mode `{other}`; expected `when_any(..)` or `when_all(..)`"
                ),
            ))
        }
    };
    let mut names = Vec::new();
    if input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in input);
        while !content.is_empty() {
            names.push(Name::parse(&content)?);
            if content.is_empty() {
                break;
            }
            content.parse::<Token![,]>()?;
        }
    }
    Ok(Criteria { mode, names })
}

pub fn parse_args(tokens: TokenStream) -> syn::Result<ReactorArgs> {
    let mut args = ReactorArgs::default();
    key_values(tokens, "reactor", KEYS, |key, input| {
        match key.to_string().as_str() {
            "name" => {
                args.name = Some(Name::from(&input.parse::<LitStr>()?));
            }
            "accumulators" => {
                let span = input.span();
                args.accumulators = Some((name_list(input)?, span));
            }
            "criteria" => args.criteria = Some(parse_criteria(input)?),
            "input_strategy" => {
                let n = Name::parse(input)?;
                args.sequential = match n.value.as_str() {
                    "latest" => false,
                    "sequential" => true,
                    other => {
                        return Err(syn::Error::new(
                            n.span,
                            format!(
                            "unknown input strategy `{other}`; expected `latest` or `sequential`"
                        ),
                        ))
                    }
                };
            }
            _ => unreachable!(),
        }
        Ok(())
    })?;
    Ok(args)
}

/// Checks what the header requires of a reactor entry.
pub fn validate(args: &ReactorArgs, default_span: proc_macro2::Span) -> syn::Result<()> {
    if let Some(name) = &args.name {
        name.check("the reactor name")?;
    }
    let Some((accumulators, list_span)) = &args.accumulators else {
        return Err(syn::Error::new(
            default_span,
            "#[reactor] needs `accumulators = [..]`: the accumulators whose boundaries feed this reactor",
        ));
    };
    if accumulators.is_empty() {
        return Err(syn::Error::new(
            *list_span,
            "reactor `accumulators` list cannot be empty; name at least one accumulator, e.g. `accumulators = [raw_prices]`",
        ));
    }
    for (i, a) in accumulators.iter().enumerate() {
        a.check("an accumulator name")?;
        if accumulators[..i].iter().any(|b| b.value == a.value) {
            return Err(syn::Error::new(
                a.span,
                format!("accumulator `{}` is listed more than once in `accumulators`; list each accumulator once", a.value),
            ));
        }
    }
    if let Some(criteria) = &args.criteria {
        for (i, c) in criteria.names.iter().enumerate() {
            if !accumulators.iter().any(|a| a.value == c.value) {
                let known: Vec<&str> = accumulators.iter().map(|a| a.value.as_str()).collect();
                return Err(syn::Error::new(
                    c.span,
                    format!(
                        "criteria names accumulator `{}`, which is not in `accumulators` [{}]; add it there or remove it from the criteria",
                        c.value,
                        known.join(", ")
                    ),
                ));
            }
            if criteria.names[..i].iter().any(|b| b.value == c.value) {
                return Err(syn::Error::new(
                    c.span,
                    format!(
                        "accumulator `{}` is named more than once in the criteria",
                        c.value
                    ),
                ));
            }
        }
    }
    Ok(())
}

pub fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let item: ItemStruct = syn::parse2(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            "#[reactor] must be applied to a unit struct, e.g. `pub struct PriceReactor;`",
        )
    })?;
    if !matches!(item.fields, Fields::Unit) || !item.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &item.ident,
            format!(
                "#[reactor] must be applied to a unit struct without generics: `pub struct {};`",
                item.ident
            ),
        ));
    }
    let args = parse_args(args)?;
    validate(&args, item.ident.span())?;
    let ident = &item.ident;
    let name = args
        .name
        .as_ref()
        .map_or_else(|| ident.to_string(), |n| n.value.clone());
    let accumulators: Vec<String> = args
        .accumulators
        .as_ref()
        .map(|(a, _)| a.iter().map(|n| n.value.clone()).collect())
        .unwrap_or_default();
    let (mode, criteria): (Mode, Vec<String>) = match &args.criteria {
        Some(c) => (c.mode, c.names.iter().map(|n| n.value.clone()).collect()),
        None => (Mode::WhenAny, Vec::new()),
    };
    let rt = quote!(::cloacina_workflow::__private);
    let (mode_tokens, mode_code) = match mode {
        Mode::WhenAny => (quote!(WhenAny), quote!(#rt::abi::CLOACINA_WHEN_ANY)),
        Mode::WhenAll => (quote!(WhenAll), quote!(#rt::abi::CLOACINA_WHEN_ALL)),
    };
    let (strategy_tokens, strategy_code) = if args.sequential {
        (quote!(Sequential), quote!(#rt::abi::CLOACINA_SEQUENTIAL))
    } else {
        (quote!(Latest), quote!(#rt::abi::CLOACINA_LATEST))
    };
    let entry = format_ident!("__CLOACINA_REACTOR_{}", ident);
    Ok(quote! {
        #item

        impl #ident {
            /// The reactor's name, as graphs bind to it: `trigger = reactor("...")`.
            pub const NAME: &'static str = #name;
            /// The accumulators feeding this reactor, in declaration order.
            pub const ACCUMULATORS: &'static [&'static str] = &[#(#accumulators),*];
            /// The accumulators the criteria watch (empty = all of them).
            pub const CRITERIA_ACCUMULATORS: &'static [&'static str] = &[#(#criteria),*];
            /// `when_any` or `when_all`.
            pub const REACTION_MODE: ::cloacina_workflow::ReactionMode = ::cloacina_workflow::ReactionMode::#mode_tokens;
            /// `latest` or `sequential`.
            pub const INPUT_STRATEGY: ::cloacina_workflow::InputStrategy = ::cloacina_workflow::InputStrategy::#strategy_tokens;
        }

        ::cloacina_workflow::__cloacina_packaged! {
            #[#rt::linkme::distributed_slice(#rt::REACTORS)]
            #[linkme(crate = #rt::linkme)]
            #[doc(hidden)]
            #[allow(non_upper_case_globals)]
            static #entry: &'static #rt::ReactorDef = &#rt::ReactorDef {
                name: #name,
                accumulators: &[#(#accumulators),*],
                criteria: #mode_code,
                criteria_accumulators: &[#(#criteria),*],
                input_strategy: #strategy_code,
            };
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(src: &str) -> syn::Result<ReactorArgs> {
        let args = parse_args(src.parse().unwrap())?;
        validate(&args, proc_macro2::Span::call_site())?;
        Ok(args)
    }

    #[test]
    fn tutorial_reactor_parses() {
        let a = check(r#"name = "PriceReactor", accumulators = [raw_prices, normalized_prices], criteria = when_any(raw_prices, normalized_prices),"#).unwrap();
        assert_eq!(a.name.unwrap().value, "PriceReactor");
        assert_eq!(a.accumulators.unwrap().0.len(), 2);
        let c = a.criteria.unwrap();
        assert_eq!(c.mode, Mode::WhenAny);
        assert_eq!(c.names.len(), 2);
        assert!(!a.sequential);
    }

    #[test]
    fn modes_and_strategies() {
        let a =
            check(r#"accumulators = ["a", "b"], criteria = when_all, input_strategy = sequential"#)
                .unwrap();
        assert_eq!(a.criteria.unwrap().mode, Mode::WhenAll);
        assert!(a.sequential);
        let err = check("accumulators = [a], criteria = when_some(a)")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown reaction mode `when_some`"), "{err}");
        let err = check("accumulators = [a], input_strategy = newest")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown input strategy `newest`"), "{err}");
    }

    #[test]
    fn accumulator_list_errors() {
        let err = check("accumulators = []").unwrap_err().to_string();
        assert!(err.contains("cannot be empty"), "{err}");
        let err = check("accumulators = [a, b, a]").unwrap_err().to_string();
        assert!(err.contains("`a` is listed more than once"), "{err}");
        let err = check("accumulators = [a], criteria = when_any(a, c)")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`c`, which is not in `accumulators` [a]"),
            "{err}"
        );
        let err = check("name = \"R\"").unwrap_err().to_string();
        assert!(err.contains("needs `accumulators"), "{err}");
        let err = check("name = \"\", accumulators = [a]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("must not be empty"), "{err}");
    }
}
