//! The rules of an `#[aggregate]` impl block, one function each, every one reporting into the
//! context and carrying on so that all mistakes surface in one compile.

use quote::ToTokens;
use syn::{FnArg, ImplItem, ImplItemFn, ItemImpl, ReturnType, Type};

use super::ast::{self, Apply, Handle, Marker};
use crate::ctxt::Ctxt;

/// The block must be an inherent impl of a plain, non-generic type: the macro implements
/// runtime traits for that type and names its event enum after it.
pub(crate) fn impl_block(cx: &mut Ctxt, item: &ItemImpl) -> Option<syn::Ident> {
    let mut ok = true;
    if let Some((_, path, _)) = &item.trait_ {
        cx.error_at(
            path,
            "`#[aggregate]` goes on the inherent impl block of the aggregate's state type (`impl BankAccount { ... }`), not on a trait impl",
        );
        ok = false;
    }
    if !item.generics.params.is_empty() {
        cx.error_at(
            &item.generics,
            "an aggregate cannot be generic: its stream names and event enum belong to one concrete type",
        );
        ok = false;
    }
    let ident = ast::last_segment(&item.self_ty)
        .filter(|s| s.arguments.is_empty())
        .map(|s| s.ident.clone());
    if ident.is_none() {
        cx.error_at(
            &item.self_ty,
            "`#[aggregate]` needs a plain struct type here, as in `impl BankAccount { ... }`",
        );
    }
    ident.filter(|_| ok)
}

/// Markers on consts, types or macros inside the block do nothing; say so rather than
/// silently ignoring them.
pub(crate) fn no_marker_on(cx: &mut Ctxt, item: &ImplItem) {
    let attrs = match item {
        ImplItem::Const(c) => &c.attrs,
        ImplItem::Type(t) => &t.attrs,
        ImplItem::Macro(m) => &m.attrs,
        _ => return,
    };
    for attr in attrs {
        if let Some(marker) = Marker::of(attr) {
            cx.error_at(attr, format!("`#[{}]` goes on a method", marker.name()));
        }
    }
}

/// `fn name(&mut self, event: &Event)`: the dispatch calls it with a shared reference to the
/// event inside the generated enum, and it must not be async because loading folds events
/// synchronously.
pub(crate) fn apply_signature(cx: &mut Ctxt, method: &ImplItemFn) -> Option<Apply> {
    const SHAPE: &str =
        "an `#[apply]` method looks like `fn on_event(&mut self, event: &EventType)`";
    let sig = &method.sig;
    let mut ok = plain_fn(cx, sig, Marker::Apply);
    if let Some(asyncness) = sig.asyncness {
        cx.error_at(
            asyncness,
            format!(
                "`#[apply]` methods cannot be async: applying an event only changes state; {SHAPE}"
            ),
        );
        ok = false;
    }
    ok &= receiver(cx, sig, true, SHAPE);
    if let ReturnType::Type(_, ty) = &sig.output {
        if !is_unit(ty) {
            cx.error_at(
                ty,
                format!(
                    "`#[apply]` methods return nothing: an event cannot fail to apply; {SHAPE}"
                ),
            );
            ok = false;
        }
    }
    let event = match single_arg(cx, sig, SHAPE)? {
        Type::Reference(r) if r.mutability.is_none() => (*r.elem).clone(),
        other => {
            cx.error_at(
                other,
                format!(
                    "`#[apply]` takes the event by shared reference: write `&{}`; {SHAPE}",
                    strip_ref(other)
                ),
            );
            return None;
        }
    };
    let Some(segment) = ast::last_segment(&event) else {
        cx.error_at(
            &event,
            format!("the event type must be a named type; {SHAPE}"),
        );
        return None;
    };
    let variant = segment.ident.clone();
    ok.then(|| Apply {
        method: sig.ident.clone(),
        event,
        variant,
    })
}

/// `fn name(&self, command: Command) -> Output`, sync or async: a decision reads the state
/// and consumes the command; it never mutates state (only applied events do).
pub(crate) fn handle_signature(cx: &mut Ctxt, method: &ImplItemFn) -> Option<Handle> {
    const SHAPE: &str = "a `#[handle]` method looks like `fn on_command(&self, command: CommandType) -> Result<EventType, DomainError>`";
    let sig = &method.sig;
    let mut ok = plain_fn(cx, sig, Marker::Handle);
    ok &= receiver(cx, sig, false, SHAPE);
    // No return type: the handler never decides an event (a check that only can reject
    // would return `Result<(), E>`).
    let output = match &sig.output {
        ReturnType::Type(_, ty) => ast::output(ty),
        ReturnType::Default => ast::Output::Other(Box::new(syn::parse_quote!(()))),
    };
    let command = match single_arg(cx, sig, SHAPE)? {
        Type::Reference(r) => {
            cx.error_at(
                r,
                format!(
                    "`#[handle]` takes the command by value: write `{}`; {SHAPE}",
                    r.elem.to_token_stream()
                ),
            );
            return None;
        }
        ty => ty.clone(),
    };
    ok.then(|| Handle {
        method: sig.ident.clone(),
        command,
        output,
        is_async: sig.asyncness.is_some(),
        validate: None,
    })
}

/// Neither generic nor `const`/`unsafe`/`extern`: the generated dispatch calls the method
/// with concrete types in a plain call.
fn plain_fn(cx: &mut Ctxt, sig: &syn::Signature, marker: Marker) -> bool {
    let mut ok = true;
    if !sig.generics.params.is_empty() {
        cx.error_at(
            &sig.generics,
            format!(
                "`#[{}]` methods cannot be generic: each takes one concrete type",
                marker.name()
            ),
        );
        ok = false;
    }
    for (bad, what) in [
        (sig.constness.map(|t| t.to_token_stream()), "const"),
        (sig.unsafety.map(|t| t.to_token_stream()), "unsafe"),
        (sig.abi.as_ref().map(ToTokens::to_token_stream), "extern"),
    ] {
        if let Some(tokens) = bad {
            cx.error_at(
                tokens,
                format!("`#[{}]` methods cannot be {what}", marker.name()),
            );
            ok = false;
        }
    }
    ok
}

/// `&mut self` for `#[apply]`, `&self` for `#[handle]`.
fn receiver(cx: &mut Ctxt, sig: &syn::Signature, mutable: bool, shape: &str) -> bool {
    let want = if mutable { "&mut self" } else { "&self" };
    match sig.inputs.first() {
        Some(FnArg::Receiver(r))
            if r.reference.is_some()
                && r.mutability.is_some() == mutable
                && r.colon_token.is_none() =>
        {
            true
        }
        Some(FnArg::Receiver(r)) => {
            cx.error_at(r, format!("this method must take `{want}`; {shape}"));
            false
        }
        _ => {
            cx.error_at(
                &sig.ident,
                format!("this method must take `{want}` first; {shape}"),
            );
            false
        }
    }
}

/// The one argument after the receiver.
fn single_arg<'a>(cx: &mut Ctxt, sig: &'a syn::Signature, shape: &str) -> Option<&'a Type> {
    let args: Vec<&syn::PatType> = sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Typed(t) => Some(t),
            FnArg::Receiver(_) => None,
        })
        .collect();
    match args[..] {
        [one] => Some(&one.ty),
        [] => {
            cx.error_at(
                &sig.inputs,
                format!("this method takes one argument after `self`; {shape}"),
            );
            None
        }
        [_, extra, ..] => {
            cx.error_at(
                extra,
                format!("this method takes exactly one argument after `self`; {shape}"),
            );
            None
        }
    }
}

/// One `#[apply]` per event type: two would make the dispatch ambiguous. Variants are named
/// after the type's last segment, so two types with one name in different modules clash too.
pub(crate) fn unique_events(cx: &mut Ctxt, applies: &mut Vec<Apply>) {
    // (event type, variant, method) of each kept apply
    let mut seen: Vec<(String, String, String)> = Vec::new();
    applies.retain(|apply| {
        let ty = apply.event.to_token_stream().to_string();
        let variant = apply.variant.to_string();
        if let Some((_, _, first)) = seen.iter().find(|(t, _, _)| *t == ty) {
            cx.error_at(
                &apply.event,
                format!("`{ty}` already has an `#[apply]` method (`{first}`): keep one method per event type"),
            );
            return false;
        }
        if seen.iter().any(|(_, v, _)| *v == variant) {
            cx.error_at(
                &apply.event,
                format!("two event types of this aggregate are named `{variant}`; rename one of them"),
            );
            return false;
        }
        seen.push((ty, variant, apply.method.to_string()));
        true
    });
}

/// One `#[handle]` per command type in an aggregate: the route of a command must be unique.
/// (Two aggregates handling one command are caught by the compiler, through a guard of the
/// expansion: see `expand::one_handler_guard`.)
pub(crate) fn unique_commands(cx: &mut Ctxt, handles: &mut Vec<Handle>) {
    let mut seen: Vec<(String, String)> = Vec::new();
    handles.retain(|handle| {
        let ty = handle.command.to_token_stream().to_string();
        if let Some((_, first)) = seen.iter().find(|(t, _)| *t == ty) {
            cx.error_at(
                &handle.command,
                format!(
                    "`{ty}` is already handled by `{first}`: a command has exactly one handler"
                ),
            );
            return false;
        }
        seen.push((ty, handle.method.to_string()));
        true
    });
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

fn strip_ref(ty: &Type) -> String {
    match ty {
        Type::Reference(r) => r.elem.to_token_stream().to_string(),
        other => other.to_token_stream().to_string(),
    }
}
