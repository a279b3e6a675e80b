//! Small parsing helpers shared by the attribute macros.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Ident, LitStr, Token};

/// A name written as an identifier (`raw_prices`) or a string (`"raw_prices"`).
#[derive(Clone, Debug)]
pub struct Name {
    pub value: String,
    pub span: Span,
}

impl From<&LitStr> for Name {
    fn from(lit: &LitStr) -> Self {
        Name {
            value: lit.value(),
            span: lit.span(),
        }
    }
}

impl Name {
    pub fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(LitStr) {
            Ok(Name::from(&input.parse::<LitStr>()?))
        } else if input.peek(Ident::peek_any) {
            let ident = input.call(Ident::parse_any)?;
            Ok(Name {
                value: ident.unraw().to_string(),
                span: ident.span(),
            })
        } else {
            Err(input.error("expected a name: an identifier or a string literal"))
        }
    }

    /// The string literal of a `name = "..."` argument, checked as `what`.
    pub fn parse_literal(input: ParseStream, what: &str) -> syn::Result<Self> {
        let name = Name::from(&input.parse::<LitStr>()?);
        name.check(what)?;
        Ok(name)
    }

    /// Rejects names the ABI cannot carry (empty, or containing NUL).
    pub fn check(&self, what: &str) -> syn::Result<()> {
        if self.value.is_empty() {
            return Err(syn::Error::new(
                self.span,
                format!("{what} must not be empty"),
            ));
        }
        if self.value.contains('\0') {
            return Err(syn::Error::new(
                self.span,
                format!("{what} must not contain a NUL character"),
            ));
        }
        Ok(())
    }
}

/// `[a, "b", c]`.
pub fn name_list(input: ParseStream) -> syn::Result<Vec<Name>> {
    let content;
    syn::bracketed!(content in input);
    let mut names = Vec::new();
    while !content.is_empty() {
        names.push(Name::parse(&content)?);
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    Ok(names)
}

/// Parses `key = value, key = value, ...`; `on_key` parses each value and
/// returns false for an unknown key. Duplicated keys are refused.
pub fn key_values(
    tokens: proc_macro2::TokenStream,
    attribute: &str,
    known: &[&str],
    mut on_key: impl FnMut(&Ident, ParseStream) -> syn::Result<()>,
) -> syn::Result<()> {
    let parser = |input: ParseStream| {
        let mut seen: Vec<String> = Vec::new();
        while !input.is_empty() {
            let key = input.call(Ident::parse_any)?;
            let k = key.to_string();
            if !known.contains(&k.as_str()) {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown key `{k}` in #[{attribute}]; expected one of: {}",
                        known.join(", ")
                    ),
                ));
            }
            if seen.contains(&k) {
                return Err(syn::Error::new(
                    key.span(),
                    format!("duplicate `{k}` in #[{attribute}]"),
                ));
            }
            seen.push(k);
            input.parse::<Token![=]>()?;
            on_key(&key, input)?;
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(())
    };
    parser.parse2(tokens)
}

/// "500ms", "1s", "2m", "1h" -> milliseconds (> 0).
pub fn duration_ms(lit: &LitStr) -> syn::Result<u64> {
    let text = lit.value();
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        _ => 0,
    };
    let value: Option<u64> = digits.parse().ok();
    match (value, scale) {
        (Some(v), s) if s > 0 && v > 0 => v.checked_mul(s).ok_or_else(|| {
            syn::Error::new(lit.span(), "duration is too large")
        }),
        _ => Err(syn::Error::new(
            lit.span(),
            format!("invalid duration \"{text}\"; write a positive whole number with a unit: \"500ms\", \"1s\", \"5m\" or \"1h\""),
        )),
    }
}

/// Appends `more` to `acc` (so several independent mistakes show at once).
pub fn combine(acc: &mut Option<syn::Error>, more: syn::Error) {
    match acc {
        Some(e) => e.combine(more),
        None => *acc = Some(more),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse::Parser;

    #[test]
    fn durations() {
        let ms = |s: &str| duration_ms(&LitStr::new(s, Span::call_site()));
        assert_eq!(ms("500ms").unwrap(), 500);
        assert_eq!(ms("1s").unwrap(), 1000);
        assert_eq!(ms("5m").unwrap(), 300_000);
        assert_eq!(ms("2h").unwrap(), 7_200_000);
        assert!(ms("0s").is_err());
        assert!(ms("5").is_err());
        assert!(ms("1.5s").is_err());
        assert!(ms("soon").is_err());
    }

    #[test]
    fn names_and_lists() {
        let list = name_list.parse_str(r#"[a, "b-c", r#type]"#).unwrap();
        let values: Vec<_> = list.iter().map(|n| n.value.as_str()).collect();
        assert_eq!(values, ["a", "b-c", "type"]);
        assert!(name_list.parse_str("[1]").is_err());
        let empty = Name {
            value: String::new(),
            span: Span::call_site(),
        };
        assert!(empty.check("a name").is_err());
    }

    #[test]
    fn key_values_refuses_unknown_and_duplicate_keys() {
        let run = |s: &str| {
            key_values(s.parse().unwrap(), "x", &["a", "b"], |_, input| {
                input.parse::<syn::LitInt>().map(|_| ())
            })
        };
        assert!(run("a = 1, b = 2,").is_ok());
        let err = run("a = 1, c = 2").unwrap_err().to_string();
        assert!(err.contains("unknown key `c`"), "{err}");
        let err = run("a = 1, a = 2").unwrap_err().to_string();
        assert!(err.contains("duplicate `a`"), "{err}");
    }
}
