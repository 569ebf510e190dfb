//! `#[derive(Event)]`.
//!
//! Enters: a struct or enum with optional `#[event(name = "...", version = N, crate = path)]`.
//! Reports: unions, generic types, unknown or repeated keys, and values of the wrong kind
//! (an empty name, a version below 1), all in one compile.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, LitStr};

use crate::attr::{self, Slot};
use crate::ctxt::Ctxt;

/// What the user wrote, checked.
struct EventModel<'a> {
    ident: &'a syn::Ident,
    name: String,
    version: u32,
    krate: syn::Path,
}

fn parse<'a>(cx: &mut Ctxt, input: &'a DeriveInput) -> EventModel<'a> {
    let mut name = Slot::<LitStr>::new(attr::NAME);
    let mut version = Slot::<u32>::new(attr::VERSION);
    let mut krate = Slot::<syn::Path>::new(attr::CRATE);
    attr::each_nested(cx, &input.attrs, "event", |cx, meta| {
        if meta.path.is_ident(attr::NAME) {
            if let Some(lit) = attr::string_value(cx, meta)? {
                if lit.value().is_empty() {
                    cx.error_at(&lit, "the event name must not be empty");
                }
                name.set(cx, &meta.path, lit);
            }
        } else if meta.path.is_ident(attr::VERSION) {
            if let Some((v, _)) = attr::positive_int_value(cx, meta)? {
                version.set(cx, &meta.path, v);
            }
        } else if meta.path.is_ident(attr::CRATE) {
            let path = meta.value()?.parse::<syn::Path>()?;
            krate.set(cx, &meta.path, path);
        } else {
            attr::unknown_key(cx, meta, "event", &[attr::NAME, attr::VERSION, attr::CRATE])?;
        }
        Ok(())
    });
    if let syn::Data::Union(u) = &input.data {
        cx.error_at(
            u.union_token,
            "`#[derive(Event)]` works on a struct or an enum, not a union",
        );
    }
    if !input.generics.params.is_empty() {
        cx.error_at(
            &input.generics,
            "an event cannot be generic: its stored name and version must name one shape; use one concrete type per event",
        );
    }
    EventModel {
        ident: &input.ident,
        name: name
            .get()
            .map_or_else(|| input.ident.to_string(), |l| l.value()),
        version: version.get().unwrap_or(1),
        krate: krate
            .get()
            .unwrap_or_else(|| syn::parse_quote!(::eventsmith)),
    }
}

// expands to:
// const _: () = {
//     impl Event for T { const NAME = "T"; const VERSION = 1; }
//     inventory::submit! { EventRegistration { name, version, rust_type } }
// };
pub(crate) fn expand(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let model = parse(&mut cx, input);
    match cx.into_compile_errors() {
        None => generate(model),
        // Next to the errors, a stub impl keeps the uses of the event from cascading.
        Some(mut errors) => {
            let stub_fits =
                input.generics.params.is_empty() && !matches!(input.data, syn::Data::Union(_));
            if stub_fits {
                errors.extend(generate(model));
            }
            errors
        }
    }
}

fn generate(model: EventModel<'_>) -> TokenStream {
    let EventModel {
        ident,
        name,
        version,
        krate,
    } = model;
    let p = quote!(#krate::__private);
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #p::Event for #ident {
                const NAME: &'static str = #name;
                const VERSION: u32 = #version;
            }
            #p::inventory::submit! {
                #p::EventRegistration {
                    name: #name,
                    version: #version,
                    rust_type: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)),
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(input: DeriveInput) -> Vec<String> {
        let mut cx = Ctxt::default();
        parse(&mut cx, &input);
        cx.into_compile_errors()
            .map(|ts| {
                ts.to_string()
                    .split("compile_error !")
                    .skip(1)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn defaults_to_type_name_and_version_one() {
        let input: DeriveInput = syn::parse_quote!(
            struct Opened {
                a: u8,
            }
        );
        let mut cx = Ctxt::default();
        let model = parse(&mut cx, &input);
        assert!(cx.into_compile_errors().is_none());
        assert_eq!((model.name.as_str(), model.version), ("Opened", 1));
    }

    #[test]
    fn every_mistake_is_reported() {
        let input: DeriveInput = syn::parse_quote! {
            #[event(nme = "x", version = "2", name = "a", name = "b", version = 0)]
            struct Opened<T>(T);
        };
        let found = errors(input);
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(found[0].contains("unknown key `nme`"));
        assert!(found[1].contains("`version` takes a whole number"));
        assert!(found[2].contains("duplicate `name` key"));
        assert!(found[3].contains("`version` takes a whole number"));
        assert!(found[4].contains("cannot be generic"));
    }
}
