//! `#[query]` methods of a `#[projection]` impl block: `fn name(&self, query: Query) -> Answer`.

use syn::{FnArg, ImplItemFn, Type};

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
    let mut ok = true;
    if let Some(asyncness) = sig.asyncness {
        cx.error_at(
            asyncness,
            format!(
                "`#[query]` methods are synchronous: they read the read model in memory; {SHAPE}"
            ),
        );
        ok = false;
    }
    if !sig.generics.params.is_empty() {
        cx.error_at(
            &sig.generics,
            format!("`#[query]` methods are not generic; {SHAPE}"),
        );
        ok = false;
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        Some(other) => {
            cx.error_at(
                other,
                format!("a `#[query]` method takes `&self`: queries read the model, only `#[on]` handlers change it; {SHAPE}"),
            );
            ok = false;
        }
        None => {
            cx.error_at(
                &sig.ident,
                format!("a `#[query]` method takes `&self`; {SHAPE}"),
            );
            return None;
        }
    }
    let rest: Vec<&FnArg> = inputs.collect();
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
