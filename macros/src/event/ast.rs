//! The model of a `#[derive(Event)]` input: its `#[event(...)]` keys and one `#[upcast(...)]`
//! per older version, each keeping the tokens that errors point at.

use proc_macro2::Span;
use syn::{DeriveInput, LitStr};

use crate::attr::{self, Slot};
use crate::ctxt::Ctxt;

/// What the user wrote.
pub(crate) struct EventModel<'a> {
    pub(crate) ident: &'a syn::Ident,
    pub(crate) name: String,
    pub(crate) version: u32,
    /// The `version = N` value, where a missing upcaster is reported.
    pub(crate) version_span: Span,
    pub(crate) krate: syn::Path,
    pub(crate) renamed_from: Vec<LitStr>,
    pub(crate) upcasts: Vec<Upcast>,
}

/// One `#[upcast(from = N, ...)]`.
pub(crate) struct Upcast {
    pub(crate) from: u32,
    pub(crate) from_span: Span,
    pub(crate) step: Step,
}

/// How an upcaster turns version `from` into version `from + 1`.
pub(crate) enum Step {
    /// `json = path`: a `fn(Value) -> Result<Value, UpcastError>`.
    Json(syn::Path),
    /// `typed = Old` (and optionally `with = path`): the payload read as `Old`, then converted
    /// by `From` or by the named function.
    Typed {
        ty: Box<syn::Type>,
        with: Option<syn::Path>,
    },
}

pub(crate) fn parse<'a>(cx: &mut Ctxt, input: &'a DeriveInput) -> EventModel<'a> {
    let mut name = Slot::<LitStr>::new(attr::NAME);
    let mut version = Slot::<(u32, Span)>::new(attr::VERSION);
    let mut krate = Slot::<syn::Path>::new(attr::CRATE);
    let mut renamed_from = Slot::<Vec<LitStr>>::new(attr::RENAMED_FROM);
    attr::each_nested(cx, &input.attrs, "event", |cx, meta| {
        if meta.path.is_ident(attr::NAME) {
            if let Some(lit) = attr::string_value(cx, meta)? {
                if lit.value().is_empty() {
                    cx.error_at(&lit, "the event name must not be empty");
                }
                name.set(cx, &meta.path, lit);
            }
        } else if meta.path.is_ident(attr::VERSION) {
            if let Some(v) = attr::positive_int_value(cx, meta)? {
                version.set(cx, &meta.path, v);
            }
        } else if meta.path.is_ident(attr::CRATE) {
            let path = meta.value()?.parse::<syn::Path>()?;
            krate.set(cx, &meta.path, path);
        } else if meta.path.is_ident(attr::RENAMED_FROM) {
            let names = attr::string_list_value(cx, meta)?;
            renamed_from.set(cx, &meta.path, names);
        } else {
            attr::unknown_key(
                cx,
                meta,
                "event",
                &[attr::NAME, attr::VERSION, attr::RENAMED_FROM, attr::CRATE],
            )?;
        }
        Ok(())
    });
    let upcasts = input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("upcast"))
        .filter_map(|a| parse_upcast(cx, a))
        .collect();
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
    let (version, version_span) = version.get().unwrap_or((1, input.ident.span()));
    EventModel {
        ident: &input.ident,
        name: name
            .get()
            .map_or_else(|| input.ident.to_string(), |l| l.value()),
        version,
        version_span,
        krate: krate
            .get()
            .unwrap_or_else(|| syn::parse_quote!(::eventsmith)),
        renamed_from: renamed_from.get().unwrap_or_default(),
        upcasts,
    }
}

/// Parses one `#[upcast(from = N, json = path)]` or `#[upcast(from = N, typed = T[, with =
/// path])]`; `None` (with the errors recorded) when it is incomplete.
fn parse_upcast(cx: &mut Ctxt, attribute: &syn::Attribute) -> Option<Upcast> {
    let mut from = Slot::<(u32, Span)>::new(attr::FROM);
    let mut json = Slot::<syn::Path>::new(attr::JSON);
    let mut typed = Slot::<syn::Type>::new(attr::TYPED);
    let mut with = Slot::<syn::Path>::new(attr::WITH);
    let mut with_key = None;
    let mut json_key = None;
    attr::each_nested(cx, std::slice::from_ref(attribute), "upcast", |cx, meta| {
        if meta.path.is_ident(attr::FROM) {
            if let Some(v) = attr::positive_int_value(cx, meta)? {
                from.set(cx, &meta.path, v);
            }
        } else if meta.path.is_ident(attr::JSON) {
            json_key = Some(meta.path.clone());
            json.set(cx, &meta.path, meta.value()?.parse()?);
        } else if meta.path.is_ident(attr::TYPED) {
            typed.set(cx, &meta.path, meta.value()?.parse()?);
        } else if meta.path.is_ident(attr::WITH) {
            with_key = Some(meta.path.clone());
            with.set(cx, &meta.path, meta.value()?.parse()?);
        } else {
            attr::unknown_key(
                cx,
                meta,
                "upcast",
                &[attr::FROM, attr::JSON, attr::TYPED, attr::WITH],
            )?;
        }
        Ok(())
    });
    let (json, typed, with) = (json.get(), typed.get(), with.get());
    let step = match (json, typed) {
        (Some(path), None) => {
            if let Some(key) = &with_key {
                cx.error_at(
                    key,
                    "`with` names the conversion of a `typed` step; a `json` function converts by itself",
                );
            }
            Some(Step::Json(path))
        }
        (None, Some(ty)) => Some(Step::Typed {
            ty: Box::new(ty),
            with,
        }),
        (Some(_), Some(_)) => {
            cx.error_at(
                &json_key,
                "an upcaster is either `json = path::to_fn` or `typed = OldType`, not both",
            );
            None
        }
        (None, None) => {
            cx.error_at(
                attribute,
                "`#[upcast]` needs a step: `typed = OldType` (an old struct converted by `From`) or `json = path::to_fn` (a `fn(Value) -> Result<Value, UpcastError>`)",
            );
            None
        }
    };
    let Some((from, from_span)) = from.get() else {
        cx.error_at(
            attribute,
            "`#[upcast]` needs `from = N`, the stored version it reads",
        );
        return None;
    };
    step.map(|step| Upcast {
        from,
        from_span,
        step,
    })
}
