//! Code generation shared by nodes and accumulators: a typed Rust function
//! becomes (1) a runner generic over `Args` that decodes each parameter from
//! JSON and encodes the result, and (2) an `extern "C"` function with the
//! ABI's calling convention that calls the runner under `ffi_call`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, Pat, PathArguments, ReturnType, Type};

/// How a decoded value is handed to the user's function.
enum Pass {
    Owned,
    Ref,
    RefMut,
    OptionRef,
}

struct Param {
    name: String,
    decode: Type,
    pass: Pass,
}

/// What the generator needs to know about one function.
pub struct FnSpec<'a> {
    pub item: &'a ItemFn,
    /// "node `score` of graph `price_consumer`"
    pub what: String,
    /// One description per parameter, e.g. "cache input `raw_prices`".
    pub sources: Vec<String>,
    pub routing: bool,
}

/// The generated items' names for function `f`.
pub struct Generated {
    pub tokens: TokenStream,
    pub runner: syn::Ident,
    pub ffi: syn::Ident,
}

/// Checks the shape every node/accumulator function must have.
pub fn check_signature(item: &ItemFn, role: &str) -> syn::Result<()> {
    let sig = &item.sig;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            format!("{role} `{}` cannot be generic: the host calls it with JSON, so each parameter needs one concrete type", sig.ident),
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new(
            v.span(),
            format!("{role} cannot be variadic"),
        ));
    }
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(r) => {
                return Err(syn::Error::new(
                    r.span(),
                    format!(
                        "{role} `{}` cannot take `self`; write a free function",
                        sig.ident
                    ),
                ))
            }
            FnArg::Typed(t) => {
                if let Type::ImplTrait(_) = &*t.ty {
                    return Err(syn::Error::new(
                        t.ty.span(),
                        format!("{role} parameters need a concrete type that implements serde::Deserialize, not `impl Trait`"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `T` of `Option<T>`, if `ty` is spelled `Option<..>`.
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) if args.args.len() == 1 => Some(t),
        _ => None,
    }
}

/// The owned type to decode for a borrowed parameter (`&str` -> `String`,
/// `&[T]` -> `Vec<T>`, `&T` -> `T`).
fn owned_of(elem: &Type) -> Type {
    match elem {
        Type::Path(p) if p.qself.is_none() && p.path.is_ident("str") => {
            syn::parse_quote!(::std::string::String)
        }
        Type::Slice(s) => {
            let e = &s.elem;
            syn::parse_quote!(::std::vec::Vec<#e>)
        }
        other => other.clone(),
    }
}

fn plan_param(arg: &FnArg, index: usize) -> Param {
    let FnArg::Typed(t) = arg else {
        unreachable!("checked by check_signature")
    };
    let name = match &*t.pat {
        Pat::Ident(p) => p.ident.to_string(),
        _ => format!("#{index}"),
    };
    let ty = &*t.ty;
    if let Type::Reference(r) = ty {
        let pass = if r.mutability.is_some() {
            Pass::RefMut
        } else {
            Pass::Ref
        };
        return Param {
            name,
            decode: owned_of(&r.elem),
            pass,
        };
    }
    if let Some(Type::Reference(r)) = option_inner(ty) {
        let inner = owned_of(&r.elem);
        return Param {
            name,
            decode: syn::parse_quote!(::std::option::Option<#inner>),
            pass: Pass::OptionRef,
        };
    }
    Param {
        name,
        decode: ty.clone(),
        pass: Pass::Owned,
    }
}

/// Readable type text for error messages ("serde_json::Value", "Option<&T>").
pub fn type_text(tokens: impl ToTokens) -> String {
    let mut s = tokens.to_token_stream().to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" < ", "<"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        (" ,", ","),
        ("& ", "&"),
    ] {
        s = s.replace(from, to);
    }
    s
}

/// Does the function return `Result<..>` (or a `...::Result<..>` alias)?
fn returns_result(item: &ItemFn) -> bool {
    match &item.sig.output {
        ReturnType::Type(_, ty) => match &**ty {
            Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
            _ => false,
        },
        ReturnType::Default => false,
    }
}

/// Generates the site, the runner and the `extern "C"` function for `spec`.
pub fn generate(spec: &FnSpec<'_>) -> Generated {
    let item = spec.item;
    let f = &item.sig.ident;
    let rt = quote!(::cloacina_workflow::__private);
    let site = format_ident!("__CLOACINA_SITE_{}", f);
    let runner = format_ident!("__cloacina_run_{}", f);
    let ffi = format_ident!("__cloacina_ffi_{}", f);
    let what = &spec.what;
    let routing = spec.routing;

    let params: Vec<Param> = item
        .sig
        .inputs
        .iter()
        .enumerate()
        .map(|(i, a)| plan_param(a, i))
        .collect();
    let site_params = params.iter().zip(&spec.sources).map(|(p, source)| {
        let name = &p.name;
        let ty = type_text(&p.decode);
        quote!(#rt::Param { name: #name, ty: #ty, source: #source })
    });
    let locals: Vec<syn::Ident> = (0..params.len())
        .map(|i| format_ident!("__cloacina_p{}", i))
        .collect();
    let decodes = params.iter().zip(&locals).enumerate().map(|(i, (p, local))| {
        let ty = &p.decode;
        let span = item.sig.inputs[i].span();
        let binding = if matches!(p.pass, Pass::RefMut) { quote!(mut #local) } else { quote!(#local) };
        // Spelled out (not `#rt`) so that a type without `Deserialize` is
        // reported on the parameter rather than on the attribute.
        quote_spanned!(span=> let #binding: #ty = ::cloacina_workflow::__private::Args::take::<#ty>(__cloacina_args, __cloacina_site, #i)?;)
    });
    let call_args = params.iter().zip(&locals).map(|(p, local)| match p.pass {
        Pass::Owned => quote!(#local),
        Pass::Ref => quote!(&#local),
        Pass::RefMut => quote!(&mut #local),
        Pass::OptionRef => quote!(#local.as_ref()),
    });
    let mut call = quote!(#f(#(#call_args),*));
    if item.sig.asyncness.is_some() {
        call = quote!(#rt::block_on(#call));
    }
    let unwrap = if returns_result(item) {
        quote! {
            let __cloacina_result = match __cloacina_result {
                ::std::result::Result::Ok(v) => v,
                ::std::result::Result::Err(e) => {
                    return ::std::result::Result::Err(#rt::user_error(__cloacina_site, e))
                }
            };
        }
    } else {
        quote!()
    };
    // A result type without `Serialize` is reported on the return type.
    let out_span = match &item.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => item.sig.ident.span(),
    };
    let finish = quote_spanned! {out_span=>
        ::cloacina_workflow::__private::Args::finish(__cloacina_args, __cloacina_site, &__cloacina_result)
    };
    let span = Span::call_site();
    let tokens = quote_spanned! {span=>
        #[doc(hidden)]
        #[allow(non_upper_case_globals, dead_code)]
        static #site: #rt::Site = #rt::Site {
            what: #what,
            params: &[#(#site_params),*],
            routing: #routing,
        };

        #[doc(hidden)]
        #[allow(non_snake_case, dead_code, clippy::all)]
        fn #runner<A: #rt::Args>(
            __cloacina_args: &mut A,
        ) -> ::std::result::Result<A::Out, #rt::CallError> {
            let __cloacina_site = &#site;
            #rt::Args::check_count(__cloacina_args, __cloacina_site)?;
            #(#decodes)*
            let __cloacina_result = #call;
            #unwrap
            #finish
        }

        #[doc(hidden)]
        #[allow(non_snake_case, dead_code, unused_unsafe, clippy::all)]
        unsafe extern "C" fn #ffi(
            _ctx: *mut ::core::ffi::c_void,
            inputs: *const #rt::abi::cloacina_slice,
            n_inputs: u64,
            out: *mut #rt::abi::cloacina_buffer,
        ) -> i32 {
            unsafe {
                #rt::ffi_call(#what, out, || {
                    let mut args = #rt::SliceArgs(#rt::input_slices(inputs, n_inputs)?);
                    #runner(&mut args)
                })
            }
        }
    };
    Generated {
        tokens,
        runner,
        ffi,
    }
}
