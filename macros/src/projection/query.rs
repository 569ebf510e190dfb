//! `#[query]` methods of a `#[projection]` impl block: `fn name(&self, query: Query) -> Answer`.

use syn::{FnArg, ImplItemFn, Type};

use super::method::{self, Rules};
use crate::ctxt::Ctxt;

const SHAPE: &str = "a `#[query]` method looks like `fn balance(&self, query: GetBalance) -> u64`";

/// One `#[query]` method.
pub(crate) struct Query {
    pub(crate) method: syn::Ident,
    pub(crate) query: Type,
    /// The answer's type (`()` when the method returns nothing).
    pub(crate) output: Type,
}

/// Checks the signature; reports every mistake.
pub(crate) fn signature(cx: &mut Ctxt, method: &ImplItemFn) -> Option<Query> {
    let sig = &method.sig;
    let rules = Rules {
        kind: "`#[query]` methods",
        may_be_async: false,
        why_sync: ": they read the read model in memory",
        mutable: false,
        receiver: "a `#[query]` method takes `&self`: queries read the model, only `#[on]` handlers change it",
        shape: SHAPE,
    };
    let (mut ok, rest) = method::check(cx, sig, &rules);
    let rest = rest?;
    let query = match rest.first() {
        Some(FnArg::Typed(pat)) => match &*pat.ty {
            Type::Reference(r) => {
                cx.error_at(
                    r,
                    format!("take the query by value (it is moved to the read model); {SHAPE}"),
                );
                None
            }
            other => Some(other.clone()),
        },
        _ => {
            cx.error_at(
                &sig.ident,
                format!("a `#[query]` method takes the query; {SHAPE}"),
            );
            None
        }
    };
    if rest.len() > 1 {
        cx.error_at(rest[1], format!("too many parameters; {SHAPE}"));
        ok = false;
    }
    let output = match &sig.output {
        syn::ReturnType::Type(_, ty) => (**ty).clone(),
        syn::ReturnType::Default => syn::parse_quote!(()),
    };
    let query = query?;
    ok.then(|| Query {
        method: sig.ident.clone(),
        query,
        output,
    })
}
