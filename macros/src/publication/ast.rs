//! The model of a `#[publication]` impl block: its keys and its `#[publish]` handlers, with
//! the rules a handler's signature follows.

use proc_macro2::{Span, TokenStream};
use syn::{FnArg, ImplItem, ImplItemFn, ItemImpl, LitStr, Type};

use super::subject::{self, Part};
use crate::attr::{self, Slot};
use crate::ctxt::Ctxt;
use crate::types::{is_envelope, same_type};

const SHAPE: &str = "a `#[publish]` handler looks like `#[publish(subject = \"orders.{tenant}.placed\")] fn placed(&self, event: &OrderPlaced) -> OrderPlacedV1`, optionally taking `envelope: &RecordedEvent` after the event, and returning the message, an `Option` of it (`None` publishes nothing) or a `Vec` of them";

const SUBJECT: &str = "subject";

pub(crate) struct Args {
    pub(crate) name: Option<LitStr>,
    pub(crate) krate: Option<syn::Path>,
}

pub(crate) struct Publication {
    /// The impl block with the `#[publish]` markers removed.
    pub(crate) item: ItemImpl,
    pub(crate) name: LitStr,
    pub(crate) krate: Option<syn::Path>,
    pub(crate) handlers: Vec<Publish>,
}

/// How many messages a handler returns.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Returns {
    One,
    Optional,
    Many,
}

/// One `#[publish]` method.
pub(crate) struct Publish {
    pub(crate) method: syn::Ident,
    pub(crate) event: Type,
    pub(crate) takes_envelope: bool,
    /// The message type.
    pub(crate) message: Type,
    pub(crate) returns: Returns,
    pub(crate) subject: Vec<Part>,
    /// The template's literal, where a field it names is reported.
    pub(crate) subject_span: Span,
}

pub(crate) fn parse_args(cx: &mut Ctxt, args: TokenStream) -> Args {
    let mut name = Slot::<LitStr>::new(attr::NAME);
    let mut krate = Slot::<syn::Path>::new(attr::CRATE);
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident(attr::NAME) {
            if let Some(lit) = attr::string_value(cx, &meta)? {
                if lit.value().is_empty() {
                    cx.error_at(&lit, "the publication name must not be empty");
                }
                name.set(cx, &meta.path, lit);
            }
        } else if meta.path.is_ident(attr::CRATE) {
            let path = meta.value()?.parse::<syn::Path>()?;
            krate.set(cx, &meta.path, path);
        } else {
            attr::unknown_key(cx, &meta, "publication", &[attr::NAME, attr::CRATE])?;
        }
        Ok(())
    });
    let result = syn::parse::Parser::parse2(parser, args);
    cx.ok(result);
    Args {
        name: name.get(),
        krate: krate.get(),
    }
}

pub(crate) fn parse(cx: &mut Ctxt, args: Args, mut item: ItemImpl) -> Publication {
    let name = args.name.unwrap_or_else(|| {
        cx.error_at(
            &item.self_ty,
            "a publication needs a name: its relay's checkpoint and its message ids derive from it, so it must not change with the type's name; write `#[publication(name = \"orders.public\")]`",
        );
        LitStr::new("", Span::call_site())
    });
    if let Some((_, path, _)) = &item.trait_ {
        cx.error_at(
            path,
            "`#[publication]` goes on an inherent impl block (`impl OrdersContract { ... }`), not on a trait impl",
        );
    }
    if !item.generics.params.is_empty() {
        cx.error_at(
            &item.generics,
            "a publication cannot be generic: its name and checkpoint belong to one concrete type",
        );
    }
    let mut handlers: Vec<Publish> = Vec::new();
    let mut marked = false;
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let Some(subject) = take_publish(cx, method) else {
            continue;
        };
        marked = true;
        let Some(handler) = signature(cx, method, subject) else {
            continue;
        };
        if handlers.iter().any(|h| same_type(&h.event, &handler.event)) {
            cx.error_at(
                &handler.event,
                "a second `#[publish]` handler takes this event; one handler per event type, returning every message it makes (a `Vec`)",
            );
        } else {
            handlers.push(handler);
        }
    }
    if !marked {
        cx.error_at(
            &item.self_ty,
            format!("this publication publishes nothing: add a `#[publish]` method; {SHAPE}"),
        );
    }
    Publication {
        item,
        name,
        krate: args.krate,
        handlers,
    }
}

/// Removes the `#[publish(subject = "...")]` attributes; answers the subject's parts (or
/// `Some(None)`-like: an empty template after an error) when the method had one.
fn take_publish(cx: &mut Ctxt, method: &mut ImplItemFn) -> Option<Option<(Vec<Part>, Span)>> {
    let mut found: Vec<syn::Attribute> = Vec::new();
    method.attrs.retain(|a| {
        if attr::is_marker(a, "publish") {
            found.push(a.clone());
            false
        } else {
            true
        }
    });
    let first = found.first()?;
    if found.len() > 1 {
        cx.error_at(
            &found[1],
            "duplicate `#[publish]` on one method: one handler publishes to one subject template",
        );
    }
    let mut template = Slot::<LitStr>::new(SUBJECT);
    if let syn::Meta::Path(path) = &first.meta {
        cx.error_at(
            path,
            "`#[publish]` needs the subject: `#[publish(subject = \"orders.{tenant}.placed\")]`",
        );
        return Some(None);
    }
    let result = first.parse_nested_meta(|meta| {
        if meta.path.is_ident(SUBJECT) {
            if let Some(lit) = attr::string_value(cx, &meta)? {
                template.set(cx, &meta.path, lit);
            }
        } else {
            attr::unknown_key(cx, &meta, "publish", &[SUBJECT])?;
        }
        Ok(())
    });
    cx.ok(result);
    let Some(lit) = template.get() else {
        cx.error_at(
            &first.meta,
            "`#[publish]` needs the subject: `#[publish(subject = \"orders.{tenant}.placed\")]`",
        );
        return Some(None);
    };
    Some(subject::parse(cx, &lit).map(|parts| (parts, lit.span())))
}

/// `fn name(&self, event: &Event[, envelope: &RecordedEvent]) -> Message`.
fn signature(
    cx: &mut Ctxt,
    method: &ImplItemFn,
    subject: Option<(Vec<Part>, Span)>,
) -> Option<Publish> {
    let sig = &method.sig;
    let mut ok = subject.is_some();
    if let Some(asyncness) = sig.asyncness {
        cx.error_at(
            asyncness,
            format!(
                "`#[publish]` handlers are synchronous: they only map an event to messages; {SHAPE}"
            ),
        );
        ok = false;
    }
    if !sig.generics.params.is_empty() {
        cx.error_at(
            &sig.generics,
            format!("`#[publish]` handlers are not generic; {SHAPE}"),
        );
        ok = false;
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        Some(other) => {
            cx.error_at(
                other,
                format!("a `#[publish]` handler takes `&self`; {SHAPE}"),
            );
            ok = false;
        }
        None => {
            cx.error_at(
                &sig.ident,
                format!("a `#[publish]` handler takes `&self`; {SHAPE}"),
            );
            return None;
        }
    }
    let event = match inputs.next() {
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
                format!("a `#[publish]` handler takes the event; {SHAPE}"),
            );
            None
        }
    };
    let mut takes_envelope = false;
    for (i, arg) in inputs.enumerate() {
        if i == 0 && is_envelope(arg) {
            takes_envelope = true;
        } else {
            cx.error_at(
                arg,
                format!("a `#[publish]` handler takes the event and, optionally, `&RecordedEvent`; {SHAPE}"),
            );
            ok = false;
        }
    }
    let output = match &sig.output {
        syn::ReturnType::Type(_, ty) => Some(returns(ty)),
        syn::ReturnType::Default => {
            cx.error_at(
                &sig.ident,
                format!(
                    "a `#[publish]` handler returns the message it makes of the event; {SHAPE}"
                ),
            );
            None
        }
    };
    let (event, (message, returns), (subject, subject_span)) = (event?, output?, subject?);
    ok.then(|| Publish {
        method: sig.ident.clone(),
        event,
        takes_envelope,
        message,
        returns,
        subject,
        subject_span,
    })
}

/// The message type and how many a return type holds: `Option<M>`, `Vec<M>` or `M`.
fn returns(ty: &Type) -> (Type, Returns) {
    if let Type::Path(path) = ty {
        if let Some(last) = path.path.segments.last() {
            let kind = match last.ident.to_string().as_str() {
                "Option" => Some(Returns::Optional),
                "Vec" => Some(Returns::Many),
                _ => None,
            };
            if let (Some(kind), syn::PathArguments::AngleBracketed(args)) = (kind, &last.arguments)
            {
                if let [syn::GenericArgument::Type(inner)] =
                    args.args.iter().collect::<Vec<_>>().as_slice()
                {
                    return ((*inner).clone(), kind);
                }
            }
        }
    }
    (ty.clone(), Returns::One)
}
