//! Comparisons of the types in a signature that more than one macro makes.

use syn::{FnArg, Type};

/// Whether two types are written alike (two handlers of one event type, say).
pub(crate) fn same_type(a: &Type, b: &Type) -> bool {
    quote::quote!(#a).to_string() == quote::quote!(#b).to_string()
}

/// Whether the parameter's type is `&RecordedEvent` (by the last path segment): the
/// envelope a handler may take after the event.
pub(crate) fn is_envelope(arg: &FnArg) -> bool {
    let FnArg::Typed(pat) = arg else {
        return false;
    };
    match &*pat.ty {
        Type::Reference(r) => match &*r.elem {
            Type::Path(p) => p
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "RecordedEvent"),
            _ => false,
        },
        _ => false,
    }
}
