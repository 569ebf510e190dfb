//! `#[derive(Event)]`: parse (`ast.rs`) → check (`check.rs`) → generate (`expand.rs`).
//!
//! Enters: a struct or enum with optional `#[event(name = "...", version = N, renamed_from =
//! [...], crate = path)]` and one `#[upcast(from = N, typed = Old | json = path)]` per older
//! version.
//! Reports: unions, generic types, unknown or repeated keys, values of the wrong kind (an
//! empty name, a version below 1), an older version with no upcaster, two upcasters for one
//! version, an upcaster of the current version or beyond, and a typed step followed by a JSON
//! one, all in one compile. Two events of one crate with the same stored name and version
//! are rejected by the compiler through a generated guard.

mod ast;
mod check;
mod expand;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::ctxt::Ctxt;

pub(crate) fn expand(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let model = ast::parse(&mut cx, input);
    check::check(&mut cx, &model);
    match cx.into_compile_errors() {
        None => expand::generate(&model, true),
        // Next to the errors, a stub impl (without the version chain) keeps the uses of the
        // event from cascading.
        Some(mut errors) => {
            let stub_fits =
                input.generics.params.is_empty() && !matches!(input.data, syn::Data::Union(_));
            if stub_fits {
                errors.extend(expand::generate(&model, false));
            }
            errors
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(input: DeriveInput) -> Vec<String> {
        let mut cx = Ctxt::default();
        let model = ast::parse(&mut cx, &input);
        check::check(&mut cx, &model);
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
        let model = ast::parse(&mut cx, &input);
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

    #[test]
    fn a_complete_chain_is_accepted() {
        let input: DeriveInput = syn::parse_quote! {
            #[event(version = 4, renamed_from = ["Old"])]
            #[upcast(from = 1, json = a)]
            #[upcast(from = 2, typed = B)]
            #[upcast(from = 3, typed = C, with = c)]
            struct Opened;
        };
        assert!(errors(input).is_empty());
    }

    #[test]
    fn every_chain_mistake_is_reported() {
        let input: DeriveInput = syn::parse_quote! {
            #[event(version = 5, renamed_from = ["Opened"])]
            #[upcast(from = 1, typed = A)]
            #[upcast(from = 2, json = b)]
            #[upcast(from = 2, json = c)]
            #[upcast(from = 5, json = d)]
            #[upcast(json = e)]
            #[upcast(from = 4, json = f, typed = F)]
            #[upcast(from = 4, json = g, with = h)]
            struct Opened;
        };
        let found = errors(input);
        assert_eq!(found.len(), 8, "{found:#?}");
        let expected = [
            "needs `from = N`",
            "either `json = path::to_fn` or `typed = OldType`",
            "`with` names the conversion of a `typed` step",
            "an upcaster reads an older version (1 to 4)",
            "a second upcaster reads version 2",
            "nothing upcasts stored version 3",
            "version 2 is upcast as JSON",
            "`Opened` is the current name",
        ];
        for (found, expected) in found.iter().zip(expected) {
            assert!(found.contains(expected), "{found} lacks {expected}");
        }
    }
}
