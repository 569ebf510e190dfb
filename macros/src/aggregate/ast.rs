//! The model of an `#[aggregate]` impl block: its arguments, `#[apply]` and `#[handle]`
//! methods. Parsing strips the marker attributes from the impl block that is re-emitted;
//! signature checks live in `check.rs`.

use proc_macro2::TokenStream;
use syn::{ImplItem, ImplItemFn, ItemImpl, LitStr};

use super::check;
use crate::attr::{self, Slot};
use crate::ctxt::Ctxt;

/// `#[aggregate(...)]` arguments.
pub(crate) struct Args {
    pub(crate) name: Option<LitStr>,
    pub(crate) events: Option<syn::Ident>,
    pub(crate) vis: Option<syn::Visibility>,
    pub(crate) krate: Option<syn::Path>,
    pub(crate) snapshot_every: Option<u32>,
    pub(crate) snapshot_version: Option<u32>,
    pub(crate) skip_unknown: Vec<LitStr>,
}

/// An `#[apply]` method: `fn method(&mut self, event: &Event)`.
pub(crate) struct Apply {
    pub(crate) method: syn::Ident,
    pub(crate) event: syn::Type,
    /// The variant of the generated enum: the event type's last path segment.
    pub(crate) variant: syn::Ident,
}

/// What a `#[handle]` method returns.
pub(crate) enum Output {
    /// `Result<T, E>` written out: the events type and the error type, so that errors about
    /// either point at it.
    Result {
        events: Box<syn::Type>,
        error: Box<syn::Type>,
    },
    /// Anything else (events alone, or an alias of `Result`): split through the runtime's
    /// `HandlerOutput`.
    Other(Box<syn::Type>),
}

/// A `#[handle]` method: `fn method(&self, command: Command) -> Output`, sync or async.
pub(crate) struct Handle {
    pub(crate) method: syn::Ident,
    pub(crate) command: syn::Type,
    pub(crate) output: Output,
    pub(crate) is_async: bool,
    /// `#[handle(validate = path)]`: the command's own check, run before anything loads.
    pub(crate) validate: Option<syn::Path>,
}

/// What the user wrote, with every valid method; invalid ones were reported and left out.
pub(crate) struct Aggregate {
    pub(crate) item: ItemImpl,
    pub(crate) ident: syn::Ident,
    pub(crate) args: Args,
    pub(crate) applies: Vec<Apply>,
    pub(crate) handles: Vec<Handle>,
}

/// The marker attributes `#[aggregate]` consumes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    Apply,
    Handle,
}

impl Marker {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Apply => "apply",
            Self::Handle => "handle",
        }
    }

    /// `#[apply]`, or qualified by the crate's name, as in `#[eventsmith::apply]` (or the
    /// name it was renamed to); the same for `handle`.
    pub(crate) fn of(attr: &syn::Attribute) -> Option<Self> {
        [Self::Apply, Self::Handle]
            .into_iter()
            .find(|marker| attr::is_marker(attr, marker.name()))
    }
}

pub(crate) fn parse_args(cx: &mut Ctxt, args: TokenStream) -> Args {
    let mut name = Slot::<LitStr>::new(attr::NAME);
    let mut events = Slot::<syn::Ident>::new(attr::EVENTS);
    let mut vis = Slot::<syn::Visibility>::new(attr::VIS);
    let mut krate = Slot::<syn::Path>::new(attr::CRATE);
    let mut snapshot_every = Slot::<u32>::new(attr::SNAPSHOT_EVERY);
    let mut snapshot_version = Slot::<u32>::new(attr::SNAPSHOT_VERSION);
    let mut skip_unknown = Slot::<Vec<LitStr>>::new(attr::SKIP_UNKNOWN);
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident(attr::NAME) {
            if let Some(lit) = attr::string_value(cx, &meta)? {
                if lit.value().is_empty() {
                    cx.error_at(&lit, "the aggregate name must not be empty");
                }
                name.set(cx, &meta.path, lit);
            }
        } else if meta.path.is_ident(attr::EVENTS) {
            let ident = meta.value()?.parse::<syn::Ident>()?;
            events.set(cx, &meta.path, ident);
        } else if meta.path.is_ident(attr::VIS) {
            let v = meta.value()?.parse::<syn::Visibility>()?;
            vis.set(cx, &meta.path, v);
        } else if meta.path.is_ident(attr::CRATE) {
            let path = meta.value()?.parse::<syn::Path>()?;
            krate.set(cx, &meta.path, path);
        } else if meta.path.is_ident(attr::SNAPSHOT_EVERY) {
            if let Some((n, _)) = attr::positive_int_value(cx, &meta)? {
                snapshot_every.set(cx, &meta.path, n);
            }
        } else if meta.path.is_ident(attr::SNAPSHOT_VERSION) {
            if let Some((n, _)) = attr::positive_int_value(cx, &meta)? {
                snapshot_version.set(cx, &meta.path, n);
            }
        } else if meta.path.is_ident(attr::SKIP_UNKNOWN) {
            let names = attr::string_list_value(cx, &meta)?;
            skip_unknown.set(cx, &meta.path, names);
        } else {
            attr::unknown_key(
                cx,
                &meta,
                "aggregate",
                &[
                    attr::NAME,
                    attr::EVENTS,
                    attr::VIS,
                    attr::CRATE,
                    attr::SNAPSHOT_EVERY,
                    attr::SNAPSHOT_VERSION,
                    attr::SKIP_UNKNOWN,
                ],
            )?;
        }
        Ok(())
    });
    let result = syn::parse::Parser::parse2(parser, args);
    cx.ok(result);
    let snapshot_every = snapshot_every.get();
    let snapshot_version = snapshot_version.get();
    if snapshot_every.is_none() && snapshot_version.is_some() {
        cx.push(syn::Error::new(
            proc_macro2::Span::call_site(),
            "`snapshot_version` needs `snapshot_every = N`: without it the aggregate takes no snapshots",
        ));
    }
    Args {
        name: name.get(),
        events: events.get(),
        vis: vis.get(),
        krate: krate.get(),
        snapshot_every,
        snapshot_version,
        skip_unknown: skip_unknown.get().unwrap_or_default(),
    }
}

/// Builds the model from an impl block, reporting structural mistakes. `None` when the block
/// cannot be an aggregate at all.
pub(crate) fn parse(cx: &mut Ctxt, args: Args, mut item: ItemImpl) -> Option<Aggregate> {
    let ident = check::impl_block(cx, &item)?;
    let mut applies = Vec::new();
    let mut handles = Vec::new();
    for impl_item in &mut item.items {
        if let ImplItem::Fn(method) = impl_item {
            match take_marker(cx, method) {
                Some((Marker::Apply, attr)) => {
                    no_arguments(cx, &attr, Marker::Apply);
                    applies.extend(check::apply_signature(cx, method));
                }
                Some((Marker::Handle, attr)) => {
                    let validate = handle_args(cx, &attr);
                    handles.extend(
                        check::handle_signature(cx, method)
                            .map(|handle| Handle { validate, ..handle }),
                    );
                }
                None => {}
            }
        } else {
            check::no_marker_on(cx, impl_item);
        }
    }
    check::unique_events(cx, &mut applies);
    check::unique_commands(cx, &mut handles);
    Some(Aggregate {
        item,
        ident,
        args,
        applies,
        handles,
    })
}

/// Reports arguments given to a marker that takes none.
fn no_arguments(cx: &mut Ctxt, attr: &syn::Attribute, marker: Marker) {
    if !matches!(attr.meta, syn::Meta::Path(_)) {
        cx.error_at(
            &attr.meta,
            format!("`#[{}]` takes no arguments", marker.name()),
        );
    }
}

/// The arguments of `#[handle]`: `validate = path`, a function of `&Command` answering
/// `Result<(), E>` with `E` convertible into the handler's error.
fn handle_args(cx: &mut Ctxt, attr: &syn::Attribute) -> Option<syn::Path> {
    if matches!(attr.meta, syn::Meta::Path(_)) {
        return None;
    }
    let mut validate = Slot::<syn::Path>::new(attr::VALIDATE);
    let parsed = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident(attr::VALIDATE) {
            let path: syn::Path = meta.value()?.parse()?;
            validate.set(cx, &meta.path, path);
        } else {
            attr::unknown_key(cx, &meta, "handle", &[attr::VALIDATE])?;
        }
        Ok(())
    });
    cx.ok(parsed);
    validate.get()
}

/// Removes the marker attributes of a method and says which one it had (with the attribute,
/// for its arguments), reporting repeated markers and both markers on one method.
fn take_marker(cx: &mut Ctxt, method: &mut ImplItemFn) -> Option<(Marker, syn::Attribute)> {
    let mut found: Option<(Marker, syn::Attribute)> = None;
    let mut kept = Vec::with_capacity(method.attrs.len());
    for attr in std::mem::take(&mut method.attrs) {
        let Some(marker) = Marker::of(&attr) else {
            kept.push(attr);
            continue;
        };
        match &found {
            Some((first, _)) if *first == marker => cx.error_at(
                &attr,
                format!("duplicate `#[{}]` on one method", marker.name()),
            ),
            Some((first, _)) => cx.error_at(
                &attr,
                format!(
                    "a method cannot be both `#[{}]` and `#[{}]`: applying an event and deciding on a command are separate methods",
                    first.name(),
                    marker.name()
                ),
            ),
            None => found = Some((marker, attr)),
        }
    }
    method.attrs = kept;
    found
}

/// The last path segment of a plain path type (`a::b::Opened` → `Opened`).
pub(crate) fn last_segment(ty: &syn::Type) -> Option<&syn::PathSegment> {
    match ty {
        syn::Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        syn::Type::Group(g) => last_segment(&g.elem),
        syn::Type::Paren(p) => last_segment(&p.elem),
        _ => None,
    }
}

/// Splits a handler's return type.
pub(crate) fn output(ty: &syn::Type) -> Output {
    let Some(segment) = last_segment(ty).filter(|s| s.ident == "Result") else {
        return Output::Other(Box::new(ty.clone()));
    };
    if let syn::PathArguments::AngleBracketed(args) = &segment.arguments {
        let types: Vec<&syn::Type> = args
            .args
            .iter()
            .filter_map(|a| match a {
                syn::GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect();
        if let [events, error] = types[..] {
            return Output::Result {
                events: Box::new(events.clone()),
                error: Box::new(error.clone()),
            };
        }
    }
    Output::Other(Box::new(ty.clone()))
}
