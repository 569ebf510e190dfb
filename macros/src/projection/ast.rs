//! The model of a `#[projection]` impl block: its keys and its `#[on]` handlers, with the
//! rules a handler's signature follows.

use proc_macro2::TokenStream;
use syn::{FnArg, ImplItem, ImplItemFn, ItemImpl, LitStr, Type};

use super::method::{self, Rules};
use super::query::{self, Query};
use crate::attr::{self, Slot};
use crate::ctxt::Ctxt;
use crate::types::{is_envelope, same_type};

const SHAPE: &str = "an `#[on]` handler looks like `fn on_event(&mut self, event: &EventType)`, optionally followed by `envelope: &RecordedEvent` and, in a projection with `context = Type`, `db: &Type` or `&mut Type` (then it is an `async fn`)";

pub(crate) struct Args {
    pub(crate) name: Option<LitStr>,
    pub(crate) krate: Option<syn::Path>,
    /// What handlers are given besides the event, such as a database connection.
    pub(crate) context: Option<Type>,
}

pub(crate) struct Projection {
    /// The impl block with the `#[on]` and `#[query]` markers removed, and the lint that the
    /// query's by-value parameter would trip allowed on each `#[query]` method.
    pub(crate) item: ItemImpl,
    pub(crate) args: Args,
    pub(crate) handlers: Vec<On>,
    pub(crate) queries: Vec<Query>,
}

/// What an `#[on]` handler takes after the event, in its order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extra {
    Envelope,
    Context,
}

/// One `#[on]` method.
pub(crate) struct On {
    pub(crate) method: syn::Ident,
    pub(crate) event: Type,
    pub(crate) extras: Vec<Extra>,
    /// An `async fn`, awaited.
    pub(crate) is_async: bool,
    /// The return type, or the method's name when it returns nothing.
    pub(crate) output_span: proc_macro2::Span,
}

pub(crate) fn parse_args(cx: &mut Ctxt, args: TokenStream) -> Args {
    let mut name = Slot::<LitStr>::new(attr::NAME);
    let mut krate = Slot::<syn::Path>::new(attr::CRATE);
    let mut context = Slot::<Type>::new(attr::CONTEXT);
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident(attr::NAME) {
            if let Some(lit) = attr::string_value(cx, &meta)? {
                if lit.value().is_empty() {
                    cx.error_at(&lit, "the projection name must not be empty");
                }
                name.set(cx, &meta.path, lit);
            }
        } else if meta.path.is_ident(attr::CRATE) {
            let path = meta.value()?.parse::<syn::Path>()?;
            krate.set(cx, &meta.path, path);
        } else if meta.path.is_ident(attr::CONTEXT) {
            let ty = meta.value()?.parse::<Type>()?;
            context.set(cx, &meta.path, ty);
        } else {
            attr::unknown_key(
                cx,
                &meta,
                "projection",
                &[attr::NAME, attr::CRATE, attr::CONTEXT],
            )?;
        }
        Ok(())
    });
    let result = syn::parse::Parser::parse2(parser, args);
    cx.ok(result);
    let args = Args {
        name: name.get(),
        krate: krate.get(),
        context: context.get(),
    };
    if let (None, Some(context)) = (&args.name, &args.context) {
        cx.error_at(
            context,
            "a projection with a context keeps its checkpoint and read model in storage under its name, so renaming the type would orphan them: declare the name, `#[projection(name = \"balances\", context = ...)]`",
        );
    }
    args
}

pub(crate) fn parse(cx: &mut Ctxt, args: Args, mut item: ItemImpl) -> Projection {
    if let Some((_, path, _)) = &item.trait_ {
        cx.error_at(
            path,
            "`#[projection]` goes on an inherent impl block (`impl Balances { ... }`), not on a trait impl",
        );
    }
    if !item.generics.params.is_empty() {
        cx.error_at(
            &item.generics,
            "a projection cannot be generic: its name and checkpoint belong to one concrete type",
        );
    }
    let mut handlers: Vec<On> = Vec::new();
    let mut queries: Vec<Query> = Vec::new();
    // A handler with a rejected signature still counts: "no handlers" would only repeat it.
    let mut marked_on = false;
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let is_on = take_marker(cx, method, "on");
        let is_query = take_marker(cx, method, "query");
        if is_on && is_query {
            cx.error_at(
                &method.sig.ident,
                "a method is either an `#[on]` handler (it changes the read model) or a `#[query]` (it reads it), not both",
            );
            continue;
        }
        if is_query {
            allow_query_by_value(method);
            if let Some(q) = query::signature(cx, method, args.context.is_some()) {
                if queries
                    .iter()
                    .any(|other| same_type(&other.query, &q.query))
                {
                    cx.error_at(
                        &q.query,
                        "a second `#[query]` method takes this query type; each query has one answer",
                    );
                } else {
                    queries.push(q);
                }
            }
            continue;
        }
        if !is_on {
            continue;
        }
        marked_on = true;
        if let Some(on) = signature(cx, method, args.context.is_some()) {
            if handlers.iter().any(|h| same_type(&h.event, &on.event)) {
                cx.error_at(
                    &on.event,
                    "a second `#[on]` handler takes this event; one handler per event type, so the order of effects is clear",
                );
            } else {
                handlers.push(on);
            }
        }
    }
    if !marked_on {
        cx.error_at(
            &item.self_ty,
            format!("this projection handles no events: add an `#[on]` method; {SHAPE}"),
        );
    }
    Projection {
        item,
        args,
        handlers,
        queries,
    }
}

/// Removes the `#[marker]` attributes (`on`, `query`, bare or qualified by the crate's name,
/// as in `#[eventsmith::on]`); `true` when the method had one.
fn take_marker(cx: &mut Ctxt, method: &mut ImplItemFn, marker: &str) -> bool {
    let before = method.attrs.len();
    method.attrs.retain(|a| {
        if !attr::is_marker(a, marker) {
            return true;
        }
        if !matches!(a.meta, syn::Meta::Path(_)) {
            cx.error_at(&a.meta, format!("`#[{marker}]` takes no arguments"));
        }
        false
    });
    let markers = before - method.attrs.len();
    if markers > 1 {
        cx.error_at(
            &method.sig.ident,
            format!("duplicate `#[{marker}]` on one method"),
        );
    }
    markers > 0
}

/// Quiets `clippy::needless_pass_by_value` on a `#[query]` method: the framework hands the
/// query over by value (a borrowed one is an error), so a method that only reads it must not
/// be told to borrow it. The query is the only parameter besides `&self`, so nothing else is
/// hidden. First among the attributes, so that an `#[expect]` of the user's still counts.
fn allow_query_by_value(method: &mut ImplItemFn) {
    method.attrs.insert(
        0,
        syn::parse_quote!(#[allow(
            clippy::needless_pass_by_value,
            reason = "`#[query]` takes the query by value; the method may only read it"
        )]),
    );
}

/// `fn name(&mut self, event: &Event[, envelope: &RecordedEvent][, context: &Context])`,
/// an `async fn` when it takes the context, and only in a projection with one.
fn signature(cx: &mut Ctxt, method: &ImplItemFn, has_context: bool) -> Option<On> {
    let sig = &method.sig;
    let rules = Rules {
        kind: "`#[on]` handlers",
        may_be_async: has_context,
        why_sync: " in a read model in memory: it changes under its lock, between queries; a handler that awaits statements belongs to a projection with a context, `#[projection(name = \"...\", context = SqliteConnection)]`",
        mutable: true,
        receiver: "an `#[on]` handler takes `&mut self`",
        shape: SHAPE,
    };
    let (mut ok, rest) = method::check(cx, sig, &rules);
    let rest = rest?;
    let event = match rest.first() {
        Some(FnArg::Typed(pat)) => match &*pat.ty {
            Type::Reference(r) if r.mutability.is_none() => Some((*r.elem).clone()),
            other => {
                cx.error_at(
                    other,
                    format!("take the event by shared reference (`&EventType`); {SHAPE}"),
                );
                None
            }
        },
        _ => {
            cx.error_at(
                &sig.ident,
                format!("an `#[on]` handler takes the event; {SHAPE}"),
            );
            None
        }
    };
    let mut extras = Vec::new();
    for arg in rest.iter().skip(1) {
        let extra = extra(arg);
        if extras.contains(&extra) || extras.len() == 2 {
            cx.error_at(arg, format!("too many parameters; {SHAPE}"));
            ok = false;
        } else if extra == Extra::Context && !has_context {
            cx.error_at(
                arg,
                "this parameter is neither the event nor `&RecordedEvent`; to give handlers a context (a database connection), declare its type on the block: `#[projection(context = Type)]`",
            );
            ok = false;
        } else if extra == Extra::Context && sig.asyncness.is_none() {
            cx.error_at(
                sig.fn_token,
                "an `#[on]` handler that takes the context is an `async fn`: it awaits its statements, as in `db.execute(sql, params).await?`; write `async fn`",
            );
            ok = false;
        } else {
            extras.push(extra);
        }
    }
    let event = event?;
    ok.then(|| On {
        method: sig.ident.clone(),
        event,
        extras,
        is_async: sig.asyncness.is_some(),
        output_span: match &sig.output {
            syn::ReturnType::Type(_, ty) => syn::spanned::Spanned::span(&**ty),
            syn::ReturnType::Default => sig.ident.span(),
        },
    })
}

/// A parameter after the event: the envelope when its type is `&RecordedEvent` (by the last
/// path segment), else the context.
fn extra(arg: &FnArg) -> Extra {
    if is_envelope(arg) {
        Extra::Envelope
    } else {
        Extra::Context
    }
}
