//! `#[query]` methods of a `#[projection]` impl block: `fn name(&self, query: Query) -> Answer`,
//! or in a projection with a context `async fn name(&self, query: Query, db: &Context)`.

use syn::{FnArg, ImplItemFn, Type};

use super::method::{self, Rules};
use crate::ctxt::Ctxt;

const SHAPE: &str = "a `#[query]` method looks like `fn balance(&self, query: GetBalance) -> u64`, or in a projection with `context = Type`, `async fn balance(&self, query: GetBalance, db: &Type) -> Result<u64, E>`";

/// One `#[query]` method.
pub(crate) struct Query {
    pub(crate) method: syn::Ident,
    pub(crate) query: Type,
    /// The answer's type (`()` when the method returns nothing).
    pub(crate) output: Type,
    /// It takes the context after the query.
    pub(crate) takes_context: bool,
    /// An `async fn`, awaited.
    pub(crate) is_async: bool,
}

/// Checks the signature; reports every mistake.
pub(crate) fn signature(cx: &mut Ctxt, method: &ImplItemFn, has_context: bool) -> Option<Query> {
    let sig = &method.sig;
    let rules = Rules {
        kind: "`#[query]` methods",
        may_be_async: has_context,
        why_sync: " in a read model in memory: they read the model under its lock; a query that awaits statements belongs to a projection with a context",
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
    let takes_context = rest.len() >= 2 && has_context;
    if takes_context {
        if !matches!(rest[1], FnArg::Typed(pat) if matches!(&*pat.ty, Type::Reference(r) if r.mutability.is_none()))
        {
            cx.error_at(
                rest[1],
                format!(
                    "a query reads through the context by shared reference (`db: &Type`); {SHAPE}"
                ),
            );
            ok = false;
        }
        if sig.asyncness.is_none() {
            cx.error_at(
                sig.fn_token,
                "a `#[query]` method that takes the context is an `async fn`: it awaits its statements; write `async fn`",
            );
            ok = false;
        }
    }
    let allowed = 1 + usize::from(has_context);
    if let Some(extra) = rest.get(allowed) {
        cx.error_at(extra, format!("too many parameters; {SHAPE}"));
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
        takes_context,
        is_async: sig.asyncness.is_some(),
    })
}
