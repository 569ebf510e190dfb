//! `#[derive(Command)]`.
//!
//! Enters: a struct whose target-aggregate id field is marked `#[command(id)]`, optionally an
//! idempotency-key field marked `#[command(idempotency_key)]`, and container keys
//! `#[command(name = "...", crate = path)]`.
//! Reports: enums and unions, a missing or repeated id field, a repeated key field, generic
//! commands, unknown or repeated keys, all in one compile.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, LitStr};

use crate::attr::{self, Slot};
use crate::ctxt::Ctxt;

/// A marked field: how to reach it and its type (for spans).
struct MarkedField<'a> {
    member: syn::Member,
    ty: &'a syn::Type,
}

struct CommandModel<'a> {
    ident: &'a syn::Ident,
    name: String,
    krate: syn::Path,
    id: Option<MarkedField<'a>>,
    key: Option<MarkedField<'a>>,
}

fn parse<'a>(cx: &mut Ctxt, input: &'a DeriveInput) -> CommandModel<'a> {
    let mut name = Slot::<LitStr>::new(attr::NAME);
    let mut krate = Slot::<syn::Path>::new(attr::CRATE);
    attr::each_nested(cx, &input.attrs, "command", |cx, meta| {
        if meta.path.is_ident(attr::NAME) {
            if let Some(lit) = attr::string_value(cx, meta)? {
                name.set(cx, &meta.path, lit);
            }
        } else if meta.path.is_ident(attr::CRATE) {
            let path = meta.value()?.parse::<syn::Path>()?;
            krate.set(cx, &meta.path, path);
        } else if meta.path.is_ident(attr::ID) || meta.path.is_ident(attr::IDEMPOTENCY_KEY) {
            cx.error_at(
                &meta.path,
                format!(
                    "`{}` marks a field: put `#[command({0})]` on the field, not on the struct",
                    meta.path
                        .get_ident()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
            );
        } else {
            attr::unknown_key(cx, meta, "command", &[attr::NAME, attr::CRATE])?;
        }
        Ok(())
    });

    let mut id = Slot::<MarkedField<'a>>::new(attr::ID);
    let mut key = Slot::<MarkedField<'a>>::new(attr::IDEMPOTENCY_KEY);
    let fields = match &input.data {
        syn::Data::Struct(s) => Some(&s.fields),
        syn::Data::Enum(e) => {
            cx.error_at(e.enum_token, "`#[derive(Command)]` works on a struct, not an enum: make one command struct per request");
            None
        }
        syn::Data::Union(u) => {
            cx.error_at(
                u.union_token,
                "`#[derive(Command)]` works on a struct, not a union",
            );
            None
        }
    };
    for (index, field) in fields.into_iter().flatten().enumerate() {
        let member = field.ident.clone().map_or_else(
            || syn::Member::Unnamed(syn::Index::from(index)),
            syn::Member::Named,
        );
        attr::each_nested(cx, &field.attrs, "command", |cx, meta| {
            let marked = MarkedField {
                member: member.clone(),
                ty: &field.ty,
            };
            if meta.path.is_ident(attr::ID) {
                id.set(cx, &meta.path, marked);
            } else if meta.path.is_ident(attr::IDEMPOTENCY_KEY) {
                key.set(cx, &meta.path, marked);
            } else {
                attr::unknown_key(cx, meta, "command", &[attr::ID, attr::IDEMPOTENCY_KEY])?;
            }
            Ok(())
        });
    }
    let id = id.get();
    if fields.is_some() && id.is_none() {
        cx.push(syn::Error::new(
            input.ident.span(),
            format!(
                "command `{}` has no target: mark the field that holds the aggregate's id with `#[command(id)]`",
                input.ident
            ),
        ));
    }
    if !input.generics.params.is_empty() {
        cx.error_at(
            &input.generics,
            "a command cannot be generic: the aggregate that handles it must be one type",
        );
    }
    CommandModel {
        ident: &input.ident,
        name: name
            .get()
            .map_or_else(|| input.ident.to_string(), |l| l.value()),
        krate: krate
            .get()
            .unwrap_or_else(|| syn::parse_quote!(::eventsmith)),
        id,
        key: key.get(),
    }
}

// expands to:
// const _: () = {
//     impl Command for T {
//         const NAME = "T";
//         fn aggregate_id(&self) -> Cow<str> { AggregateId::to_aggregate_id(&self.id) }
//         fn idempotency_key(&self) -> Option<Cow<str>> { IdempotencyKey::to_idempotency_key(&self.key) }
//     }
// };
pub(crate) fn expand(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let model = parse(&mut cx, input);
    match cx.into_compile_errors() {
        None => generate(&model),
        // Next to the errors, a stub impl keeps the uses of the command from cascading.
        Some(mut errors) => {
            if input.generics.params.is_empty() {
                errors.extend(generate(&model));
            }
            errors
        }
    }
}

fn generate(model: &CommandModel<'_>) -> TokenStream {
    let CommandModel {
        ident,
        name,
        krate,
        id,
        key,
    } = model;
    let p = quote!(#krate::__private);
    // Spanned at the field's type, so a type that is not an id is reported there. Without an
    // id field (already reported) the stub answers an empty id.
    let id_expr = match id {
        Some(id) => {
            let member = &id.member;
            quote_spanned! {id.ty.span()=>
                #p::AggregateId::to_aggregate_id(&self.#member)
            }
        }
        None => quote!(#p::Cow::Borrowed("")),
    };
    let key_fn = key.as_ref().map(|key| {
        let member = &key.member;
        let key_expr = quote_spanned! {key.ty.span()=>
            #p::IdempotencyKey::to_idempotency_key(&self.#member)
        };
        quote! {
            fn idempotency_key(&self) -> #p::Option<#p::Cow<'_, str>> {
                #key_expr
            }
        }
    });
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #p::Command for #ident {
                const NAME: &'static str = #name;

                fn aggregate_id(&self) -> #p::Cow<'_, str> {
                    #id_expr
                }

                #key_fn
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_count(input: DeriveInput) -> (usize, String) {
        let mut cx = Ctxt::default();
        parse(&mut cx, &input);
        let text = cx
            .into_compile_errors()
            .map(|t| t.to_string())
            .unwrap_or_default();
        (text.matches("compile_error").count(), text)
    }

    #[test]
    fn finds_id_and_key_fields() {
        let input: DeriveInput = syn::parse_quote! {
            struct Deposit { #[command(id)] account: String, #[command(idempotency_key)] key: Option<String> }
        };
        let mut cx = Ctxt::default();
        let model = parse(&mut cx, &input);
        assert!(cx.into_compile_errors().is_none());
        assert!(matches!(&model.id, Some(f) if f.member == syn::parse_quote!(account)));
        assert!(model.key.is_some());
    }

    #[test]
    fn reports_all_mistakes() {
        let input: DeriveInput = syn::parse_quote! {
            #[command(nam = "x", id)]
            struct Deposit { #[command(idd)] account: String, #[command(idempotency_key)] a: String, #[command(idempotency_key)] b: String }
        };
        let (count, text) = error_count(input);
        assert_eq!(count, 5, "{text}");
        assert!(text.contains("unknown key `nam`"));
        assert!(text.contains("put `#[command(id)]` on the field"));
        assert!(text.contains("unknown key `idd`"));
        assert!(text.contains("duplicate `idempotency_key` key"));
        assert!(text.contains("has no target"));
    }
}
