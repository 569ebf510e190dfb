//! The model of a `#[saga]` impl block: its keys, its event handlers (`#[start]`, `#[on]`,
//! `#[end]`, each with the association key of its event), its `#[deadline]` and
//! `#[rejected]` handlers, and the command types their return types name.

use proc_macro2::TokenStream;
use syn::{FnArg, ImplItem, ImplItemFn, ItemImpl, LitStr, Type};

use crate::attr::{self, Slot};
use crate::ctxt::Ctxt;
use crate::types::same_type;

const EVENT_SHAPE: &str = "a saga's event handler looks like `#[start(key = order_id)] fn placed(&mut self, event: &OrderPlaced, steps: &mut Steps<Self>) -> ReserveStock`, the envelope `&RecordedEvent` and the steps optional";
const DEADLINE_SHAPE: &str = "a `#[deadline]` handler looks like `fn timed_out(&mut self, deadline: &PaymentTimeout, steps: &mut Steps<Self>) -> CancelOrder`, the steps optional";
const REJECTED_SHAPE: &str = "a `#[rejected]` handler looks like `fn refused(&mut self, command: &ChargePayment, error: &PaymentError, steps: &mut Steps<Self>) -> ReleaseStock`, the steps optional";

pub(crate) struct Args {
    pub(crate) name: Option<LitStr>,
    pub(crate) krate: Option<syn::Path>,
}

/// What an event handler does to its instance.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Start,
    Continue,
    End,
}

impl Role {
    fn marker(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Continue => "on",
            Self::End => "end",
        }
    }
}

/// Where an event's association key comes from.
pub(crate) enum Key {
    /// `key = field`.
    Field(syn::Ident),
    /// `key_with = function`, called with the event.
    With(syn::Path),
}

/// What a handler takes after its first parameters.
#[derive(Default)]
pub(crate) struct Takes {
    pub(crate) envelope: bool,
    pub(crate) steps: bool,
}

pub(crate) struct EventHandler {
    pub(crate) method: syn::Ident,
    pub(crate) role: Role,
    pub(crate) event: Type,
    pub(crate) key: Key,
    pub(crate) takes: Takes,
}

pub(crate) struct DeadlineHandler {
    pub(crate) method: syn::Ident,
    pub(crate) deadline: Type,
    pub(crate) takes: Takes,
}

pub(crate) struct RejectedHandler {
    pub(crate) method: syn::Ident,
    pub(crate) command: Type,
    pub(crate) takes: Takes,
}

pub(crate) struct Saga {
    /// The impl block with the markers removed.
    pub(crate) item: ItemImpl,
    pub(crate) args: Args,
    pub(crate) events: Vec<EventHandler>,
    pub(crate) deadlines: Vec<DeadlineHandler>,
    pub(crate) rejected: Vec<RejectedHandler>,
    /// Every command type a handler returns, once each.
    pub(crate) commands: Vec<Type>,
}

pub(crate) fn parse_args(cx: &mut Ctxt, args: TokenStream) -> Args {
    let mut name = Slot::<LitStr>::new(attr::NAME);
    let mut krate = Slot::<syn::Path>::new(attr::CRATE);
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident(attr::NAME) {
            if let Some(lit) = attr::string_value(cx, &meta)? {
                if lit.value().is_empty() {
                    cx.error_at(&lit, "the saga name must not be empty");
                }
                name.set(cx, &meta.path, lit);
            }
        } else if meta.path.is_ident(attr::CRATE) {
            let path = meta.value()?.parse::<syn::Path>()?;
            krate.set(cx, &meta.path, path);
        } else {
            attr::unknown_key(cx, &meta, "saga", &[attr::NAME, attr::CRATE])?;
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

/// The markers a saga method may carry.
const MARKERS: [&str; 5] = ["start", "on", "end", "deadline", "rejected"];

pub(crate) fn parse(cx: &mut Ctxt, args: Args, mut item: ItemImpl) -> Saga {
    if args.name.is_none() {
        cx.error_at(
            &item.self_ty,
            "a saga keeps its position, instances and deadlines in storage under its name, so renaming the type would orphan them: declare it, `#[saga(name = \"fulfilment\")]`",
        );
    }
    if let Some((_, path, _)) = &item.trait_ {
        cx.error_at(
            path,
            "`#[saga]` goes on an inherent impl block (`impl Fulfilment { ... }`), not on a trait impl",
        );
    }
    if !item.generics.params.is_empty() {
        cx.error_at(
            &item.generics,
            "a saga cannot be generic: its name and stored state belong to one concrete type",
        );
    }
    let mut saga = Saga {
        item: item.clone(),
        args,
        events: Vec::new(),
        deadlines: Vec::new(),
        rejected: Vec::new(),
        commands: Vec::new(),
    };
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let markers = take_markers(method);
        if markers.len() > 1 {
            cx.error_at(
                &method.sig.ident,
                "a saga method has one role: `#[start]`, `#[on]`, `#[end]`, `#[deadline]` or `#[rejected]`",
            );
            continue;
        }
        let Some((marker, attribute)) = markers.into_iter().next() else {
            continue;
        };
        if check_receiver(cx, method) {
            collect_commands(&method.sig.output, &mut saga.commands);
        }
        match marker {
            "deadline" => {
                no_keys(cx, &attribute, marker);
                if let Some(h) = deadline(cx, method) {
                    saga.deadlines.push(h);
                }
            }
            "rejected" => {
                no_keys(cx, &attribute, marker);
                if let Some(h) = rejected(cx, method) {
                    saga.rejected.push(h);
                }
            }
            _ => {
                let role = match marker {
                    "start" => Role::Start,
                    "end" => Role::End,
                    _ => Role::Continue,
                };
                if let Some(h) = event_handler(cx, method, role, &attribute) {
                    if saga.events.iter().any(|o| same_type(&o.event, &h.event)) {
                        cx.error_at(
                            &h.event,
                            "a second handler takes this event; one handler per event type in a saga",
                        );
                    } else {
                        saga.events.push(h);
                    }
                }
            }
        }
    }
    if !saga.events.iter().any(|h| h.role == Role::Start) {
        cx.error_at(
            &item.self_ty,
            format!("this saga has no `#[start]` handler, so no instance ever begins: add one; {EVENT_SHAPE}"),
        );
    }
    for (i, h) in saga.deadlines.iter().enumerate() {
        if saga.deadlines[..i]
            .iter()
            .any(|o| same_type(&o.deadline, &h.deadline))
        {
            cx.error_at(
                &h.deadline,
                "a second `#[deadline]` handler takes this deadline type",
            );
        }
    }
    for (i, h) in saga.rejected.iter().enumerate() {
        if saga.rejected[..i]
            .iter()
            .any(|o| same_type(&o.command, &h.command))
        {
            cx.error_at(
                &h.command,
                "a second `#[rejected]` handler takes this command type",
            );
        }
    }
    saga.item = item;
    saga
}

/// Removes the saga markers (bare or qualified, `#[eventsmith::start]`), answering each
/// with its attribute.
fn take_markers(method: &mut ImplItemFn) -> Vec<(&'static str, syn::Attribute)> {
    let mut found = Vec::new();
    method
        .attrs
        .retain(|a| match MARKERS.iter().find(|m| attr::is_marker(a, m)) {
            Some(marker) => {
                found.push((*marker, a.clone()));
                false
            }
            None => true,
        });
    found
}

fn no_keys(cx: &mut Ctxt, attribute: &syn::Attribute, marker: &str) {
    if !matches!(attribute.meta, syn::Meta::Path(_)) {
        cx.error_at(&attribute.meta, format!("`#[{marker}]` takes no keys"));
    }
}

/// `&mut self`, synchronous, not generic; reports each mistake. Answers whether it held.
fn check_receiver(cx: &mut Ctxt, method: &ImplItemFn) -> bool {
    let sig = &method.sig;
    let mut ok = true;
    if let Some(asyncness) = sig.asyncness {
        cx.error_at(
            asyncness,
            "saga handlers are synchronous: they decide on the state, and the runner stores the decision and sends its commands",
        );
        ok = false;
    }
    if !sig.generics.params.is_empty() {
        cx.error_at(&sig.generics, "saga handlers are not generic");
        ok = false;
    }
    match sig.inputs.first() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_some() => {}
        Some(other) => {
            cx.error_at(
                other,
                "a saga handler takes `&mut self`: it changes the instance's state",
            );
            ok = false;
        }
        None => {
            cx.error_at(
                &sig.ident,
                "a saga handler takes `&mut self`: it changes the instance's state",
            );
            ok = false;
        }
    }
    ok
}

/// The type behind `&T`, or an error at the parameter.
fn shared_ref(
    cx: &mut Ctxt,
    arg: Option<&FnArg>,
    what: &str,
    shape: &str,
    at: &syn::Ident,
) -> Option<Type> {
    match arg {
        Some(FnArg::Typed(pat)) => match &*pat.ty {
            Type::Reference(r) if r.mutability.is_none() => Some((*r.elem).clone()),
            other => {
                cx.error_at(
                    other,
                    format!("take the {what} by shared reference (`&Type`); {shape}"),
                );
                None
            }
        },
        _ => {
            cx.error_at(at, format!("this handler takes the {what}; {shape}"));
            None
        }
    }
}

/// The optional parameters after the first ones: `&RecordedEvent` (when allowed) and
/// `&mut Steps<Self>`, in that order.
fn takes(cx: &mut Ctxt, rest: &[&FnArg], envelope_allowed: bool, shape: &str) -> Option<Takes> {
    let mut takes = Takes::default();
    let mut ok = true;
    for arg in rest {
        let FnArg::Typed(pat) = arg else {
            continue;
        };
        let last = |ty: &Type| match ty {
            Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
            _ => None,
        };
        match &*pat.ty {
            Type::Reference(r)
                if r.mutability.is_none()
                    && envelope_allowed
                    && !takes.envelope
                    && !takes.steps
                    && last(&r.elem).as_deref() == Some("RecordedEvent") =>
            {
                takes.envelope = true;
            }
            Type::Reference(r)
                if r.mutability.is_some()
                    && !takes.steps
                    && last(&r.elem).as_deref() == Some("Steps") =>
            {
                takes.steps = true;
            }
            other => {
                cx.error_at(other, format!("an unexpected parameter; {shape}"));
                ok = false;
            }
        }
    }
    ok.then_some(takes)
}

fn event_handler(
    cx: &mut Ctxt,
    method: &ImplItemFn,
    role: Role,
    attribute: &syn::Attribute,
) -> Option<EventHandler> {
    let marker = role.marker();
    let mut key = Slot::<Key>::new("key");
    if let syn::Meta::Path(path) = &attribute.meta {
        cx.error_at(
            path,
            format!("`#[{marker}]` needs the association key of its event: `#[{marker}(key = field)]`, or `#[{marker}(key_with = function)]` for a function of the event"),
        );
    } else {
        let parsed = attribute.parse_nested_meta(|meta| {
            if meta.path.is_ident("key") {
                let field: syn::Ident = meta.value()?.parse()?;
                key.set(cx, &meta.path, Key::Field(field));
            } else if meta.path.is_ident("key_with") {
                let path: syn::Path = meta.value()?.parse()?;
                key.set(cx, &meta.path, Key::With(path));
            } else {
                attr::unknown_key(cx, &meta, marker, &["key", "key_with"])?;
            }
            Ok(())
        });
        cx.ok(parsed);
    }
    let sig = &method.sig;
    let inputs: Vec<&FnArg> = sig.inputs.iter().skip(1).collect();
    let event = shared_ref(
        cx,
        inputs.first().copied(),
        "event",
        EVENT_SHAPE,
        &sig.ident,
    );
    let takes = takes(cx, inputs.get(1..).unwrap_or_default(), true, EVENT_SHAPE);
    Some(EventHandler {
        method: sig.ident.clone(),
        role,
        event: event?,
        key: key.get()?,
        takes: takes?,
    })
}

fn deadline(cx: &mut Ctxt, method: &ImplItemFn) -> Option<DeadlineHandler> {
    let sig = &method.sig;
    let inputs: Vec<&FnArg> = sig.inputs.iter().skip(1).collect();
    let deadline = shared_ref(
        cx,
        inputs.first().copied(),
        "deadline",
        DEADLINE_SHAPE,
        &sig.ident,
    );
    let takes = takes(
        cx,
        inputs.get(1..).unwrap_or_default(),
        false,
        DEADLINE_SHAPE,
    );
    Some(DeadlineHandler {
        method: sig.ident.clone(),
        deadline: deadline?,
        takes: takes?,
    })
}

fn rejected(cx: &mut Ctxt, method: &ImplItemFn) -> Option<RejectedHandler> {
    let sig = &method.sig;
    let inputs: Vec<&FnArg> = sig.inputs.iter().skip(1).collect();
    let command = shared_ref(
        cx,
        inputs.first().copied(),
        "command",
        REJECTED_SHAPE,
        &sig.ident,
    );
    let error = shared_ref(
        cx,
        inputs.get(1).copied(),
        "domain error",
        REJECTED_SHAPE,
        &sig.ident,
    );
    let takes = takes(
        cx,
        inputs.get(2..).unwrap_or_default(),
        false,
        REJECTED_SHAPE,
    );
    error?;
    Some(RejectedHandler {
        method: sig.ident.clone(),
        command: command?,
        takes: takes?,
    })
}

/// The command types a return type names: a command, `Option`/`Vec` of one, tuples of them.
fn collect_commands(output: &syn::ReturnType, into: &mut Vec<Type>) {
    let syn::ReturnType::Type(_, ty) = output else {
        return;
    };
    walk(ty, into);
}

fn walk(ty: &Type, into: &mut Vec<Type>) {
    match ty {
        Type::Tuple(tuple) => tuple.elems.iter().for_each(|t| walk(t, into)),
        Type::Paren(inner) => walk(&inner.elem, into),
        Type::Path(path) => {
            let last = path.path.segments.last();
            let wrapped = last.and_then(|s| match (&s.arguments, s.ident.to_string().as_str()) {
                (syn::PathArguments::AngleBracketed(args), "Option" | "Vec") => {
                    match args.args.first() {
                        Some(syn::GenericArgument::Type(inner)) if args.args.len() == 1 => {
                            Some(inner)
                        }
                        _ => None,
                    }
                }
                _ => None,
            });
            match wrapped {
                Some(inner) => walk(inner, into),
                None if !into.iter().any(|t| same_type(t, ty)) => into.push(ty.clone()),
                None => {}
            }
        }
        other if !into.iter().any(|t| same_type(t, other)) => into.push(other.clone()),
        _ => {}
    }
}
