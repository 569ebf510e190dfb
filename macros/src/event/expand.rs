//! Generates the `Event` impl, the version-chain decoder, the crate-wide uniqueness guard of
//! the stored name and version, and the inventory registration.

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::ast::{EventModel, Step, Upcast};

// expands to:
// const _: () = {
//     impl Event for T {
//         const NAME = "T"; const VERSION = 3; const PREVIOUS_NAMES = &["Old"];
//         fn decode_stored(codec, version, payload) {
//             match version { 3 => current, 2 => { read V2; into T }, 1 => { json; ...; }, _ => error }
//         }
//     }
//     #[macro_export] macro_rules! eventsmith_stored_event__T__version_3 {}  // twice in a crate: E0428
//     inventory::submit! { EventRegistration { name, version, previous_names, rust_type, shapes } }
// };
pub(crate) fn generate(model: &EventModel<'_>, with_upcasts: bool) -> TokenStream {
    let EventModel {
        ident,
        name,
        version,
        krate,
        renamed_from,
        ..
    } = model;
    let p = quote!(#krate::__private);
    let decode = if with_upcasts && !model.upcasts.is_empty() {
        decode_stored(model)
    } else {
        TokenStream::new()
    };
    let guard = uniqueness_guard(model);
    let old_types = model.upcasts.iter().filter_map(|u| match &u.step {
        Step::Typed { ty, .. } if with_upcasts => {
            let from = u.from;
            Some(quote! {
                #p::OldVersion {
                    version: #from,
                    rust_type: ::core::stringify!(#ty),
                    shape: #p::shape_of::<#ty>,
                }
            })
        }
        _ => None,
    });
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #p::Event for #ident {
                const NAME: &'static str = #name;
                const VERSION: u32 = #version;
                const PREVIOUS_NAMES: &'static [&'static str] = &[#(#renamed_from),*];
                const OLD_VERSIONS: &'static [#p::OldVersion] = &[#(#old_types),*];
                #decode
            }
            #guard
            #p::inventory::submit! {
                #p::EventRegistration {
                    name: #name,
                    version: #version,
                    previous_names: <#ident as #p::Event>::PREVIOUS_NAMES,
                    rust_type: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)),
                    shape: #p::shape_of::<#ident>,
                    old_versions: <#ident as #p::Event>::OLD_VERSIONS,
                }
            }
        };
    }
}

/// A hidden exported macro named after the stored name and version: a second event with the
/// same name and version in one crate defines it again, which the compiler rejects (E0428),
/// pointing at both types.
fn uniqueness_guard(model: &EventModel<'_>) -> TokenStream {
    let mut encoded = String::new();
    for c in model.name.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' => encoded.push(c),
            '_' => encoded.push_str("__"),
            other => encoded.push_str(&format!("_u{:x}_", u32::from(other))),
        }
    }
    let guard = format_ident!(
        "eventsmith_stored_event_{}_version_{}_is_declared_twice",
        encoded,
        model.version,
        span = model.ident.span()
    );
    quote_spanned! {model.ident.span()=>
        #[doc(hidden)]
        #[macro_export]
        macro_rules! #guard { () => {}; }
    }
}

/// `decode_stored`: a `match` on the stored version whose arms walk the chain up to the
/// current type.
fn decode_stored(model: &EventModel<'_>) -> TokenStream {
    let p = {
        let krate = &model.krate;
        quote!(#krate::__private)
    };
    let current = model.version;
    let steps: BTreeMap<u32, &Upcast> = model.upcasts.iter().map(|u| (u.from, u)).collect();
    let arms = steps.keys().map(|&from| {
        let body = chain(&p, current, &steps, from);
        quote!(#from => { #body })
    });
    quote! {
        fn decode_stored<__C: #p::Codec>(
            codec: &__C,
            version: u32,
            payload: &[u8],
        ) -> #p::Result<Self, #p::DecodeFailure> {
            match version {
                #current => #p::decode_current::<Self, __C>(codec, payload),
                #(#arms)*
                _ => #p::Err(#p::unsupported_version::<Self>(version)),
            }
        }
    }
}

/// What `__v` holds while the chain is walked.
#[derive(Clone, Copy, PartialEq)]
enum Held {
    Bytes,
    Typed,
    Json,
}

/// The statements that read a payload stored at `from` and upcast it step by step.
fn chain(p: &TokenStream, current: u32, steps: &BTreeMap<u32, &Upcast>, from: u32) -> TokenStream {
    let mut out = TokenStream::new();
    let mut held = Held::Bytes;
    let mut at = from;
    while at < current {
        let Some(step) = steps.get(&at) else {
            return quote!(#p::Err(#p::unsupported_version::<Self>(version)));
        };
        match (&step.step, held) {
            (Step::Typed { ty, .. }, Held::Bytes) => out.extend(quote! {
                let __v: #ty = #p::decode_old::<Self, #ty, __C>(codec, #at, payload)?;
            }),
            (Step::Typed { ty, .. }, Held::Json) => out.extend(quote! {
                let __v: #ty = #p::from_json::<Self, #ty>(#at, __v)?;
            }),
            (Step::Json(_), Held::Bytes) => out.extend(quote! {
                let __v = #p::decode_json::<Self, __C>(codec, #at, payload)?;
            }),
            _ => {}
        }
        let next = at + 1;
        match &step.step {
            Step::Typed { ty, with } => {
                let target = if next == current {
                    quote!(Self)
                } else {
                    match steps.get(&next).map(|u| &u.step) {
                        Some(Step::Typed { ty, .. }) => quote!(#ty),
                        _ => quote!(Self),
                    }
                };
                out.extend(match with {
                    Some(convert) => quote_spanned! {convert.span()=>
                        let __v: #target = #p::upcast_with::<#ty, #target>(#convert, __v);
                    },
                    None => quote_spanned! {ty.span()=>
                        let __v: #target =
                            <#ty as #p::UpcastInto<#target, #next>>::upcast_into(__v);
                    },
                });
                held = Held::Typed;
            }
            Step::Json(convert) => {
                let convert = quote_spanned!(convert.span()=> #convert);
                out.extend(quote! {
                    let __v = #p::run_json::<Self>(#at, #convert, __v)?;
                });
                held = Held::Json;
            }
        }
        at = next;
    }
    out.extend(match held {
        Held::Json => quote!(#p::from_json::<Self, Self>(#current, __v)),
        _ => quote!(#p::Ok(__v)),
    });
    out
}
