//! Attribute parsing shared by the macros: keys as named constants, a slot per key that
//! reports a repeated key at its second occurrence, and unknown keys reported with the list
//! of allowed ones. Values are parsed leniently so that one bad key does not hide the others.

use proc_macro2::Span;
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::{Expr, Lit, LitInt, LitStr, Token};

use crate::ctxt::Ctxt;

pub(crate) const NAME: &str = "name";
pub(crate) const VERSION: &str = "version";
pub(crate) const CRATE: &str = "crate";
pub(crate) const ID: &str = "id";
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency_key";
pub(crate) const EVENTS: &str = "events";
pub(crate) const VIS: &str = "vis";
pub(crate) const SNAPSHOT_EVERY: &str = "snapshot_every";
pub(crate) const SNAPSHOT_VERSION: &str = "snapshot_version";
pub(crate) const SKIP_UNKNOWN: &str = "skip_unknown";
pub(crate) const RENAMED_FROM: &str = "renamed_from";
pub(crate) const FROM: &str = "from";
pub(crate) const JSON: &str = "json";
pub(crate) const TYPED: &str = "typed";
pub(crate) const WITH: &str = "with";
pub(crate) const CONTEXT: &str = "context";
pub(crate) const VALIDATE: &str = "validate";

/// A value given at most once.
pub(crate) struct Slot<T> {
    key: &'static str,
    value: Option<T>,
}

impl<T> Slot<T> {
    pub(crate) fn new(key: &'static str) -> Self {
        Self { key, value: None }
    }

    /// Stores the value, or reports a duplicate spanned on `at`.
    pub(crate) fn set(&mut self, cx: &mut Ctxt, at: impl ToTokens, value: T) {
        if self.value.is_some() {
            cx.error_at(at, format!("duplicate `{}` key", self.key));
        } else {
            self.value = Some(value);
        }
    }

    pub(crate) fn get(self) -> Option<T> {
        self.value
    }
}

/// Skips the value of a key that will not be used (`= expr` or `(...)`).
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
    }
    Ok(())
}

/// Reports an unknown key, listing the allowed ones, and skips its value.
pub(crate) fn unknown_key(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
    attribute: &str,
    allowed: &[&str],
) -> syn::Result<()> {
    let key = meta.path.to_token_stream().to_string().replace(' ', "");
    let allowed = if allowed.is_empty() {
        format!("`#[{attribute}]` takes no keys")
    } else {
        let list: Vec<String> = allowed.iter().map(|k| format!("`{k}`")).collect();
        format!("expected one of: {}", list.join(", "))
    };
    cx.error_at(
        &meta.path,
        format!("unknown key `{key}` in `#[{attribute}]`; {allowed}"),
    );
    skip_value(meta)
}

/// Parses `= "text"`, reporting any other value on its own span.
pub(crate) fn string_value(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
) -> syn::Result<Option<LitStr>> {
    let key = meta.path.to_token_stream().to_string();
    let expr: Expr = meta.value()?.parse()?;
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(Some(s)),
        other => {
            cx.error_at(
                other,
                format!("`{key}` takes a string, as in `{key} = \"...\"`"),
            );
            Ok(None)
        }
    }
}

/// Parses `= "text"` or `= ["text", ...]`, reporting other values and empty strings.
pub(crate) fn string_list_value(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
) -> syn::Result<Vec<LitStr>> {
    let key = meta.path.to_token_stream().to_string();
    let expr: Expr = meta.value()?.parse()?;
    let items: Vec<&Expr> = match &expr {
        Expr::Array(array) => array.elems.iter().collect(),
        single => vec![single],
    };
    let mut strings = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) if !s.value().is_empty() => strings.push(s.clone()),
            other => cx.error_at(
                other,
                format!("`{key}` takes non-empty strings, as in `{key} = [\"A\", \"B\"]`"),
            ),
        }
    }
    Ok(strings)
}

/// Parses `= N` with N a whole number of at least 1.
pub(crate) fn positive_int_value(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
) -> syn::Result<Option<(u32, Span)>> {
    let key = meta.path.to_token_stream().to_string();
    let expr: Expr = meta.value()?.parse()?;
    let parsed = match &expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(int), ..
        }) => int_at_least_one(int),
        _ => None,
    };
    if parsed.is_none() {
        cx.error_at(
            &expr,
            format!("`{key}` takes a whole number from 1 up, as in `{key} = 2`"),
        );
    }
    Ok(parsed.map(|v| (v, expr_span(&expr))))
}

fn int_at_least_one(int: &LitInt) -> Option<u32> {
    int.base10_parse::<u32>().ok().filter(|v| *v >= 1)
}

fn expr_span(expr: &Expr) -> Span {
    syn::spanned::Spanned::span(expr)
}

/// Runs `parse` on every attribute named `name`, collecting all errors.
pub(crate) fn each_nested(
    cx: &mut Ctxt,
    attrs: &[syn::Attribute],
    name: &str,
    mut parse: impl FnMut(&mut Ctxt, &ParseNestedMeta<'_>) -> syn::Result<()>,
) {
    for attr in attrs.iter().filter(|a| a.path().is_ident(name)) {
        if let syn::Meta::Path(path) = &attr.meta {
            cx.error_at(
                path,
                format!("`#[{name}]` needs keys, as in `#[{name}(...)]`"),
            );
            continue;
        }
        let result = attr.parse_nested_meta(|meta| parse(cx, &meta));
        cx.ok(result);
    }
}

/// Whether `attr` is the marker `#[name]`, or one qualified by the crate's name, as in
/// `#[eventsmith::name]` (or the name the crate was renamed to).
pub(crate) fn is_marker(attr: &syn::Attribute, name: &str) -> bool {
    let path = attr.path();
    path.segments.len() <= 2 && path.segments.last().is_some_and(|last| last.ident == name)
}
