//! `#[saga]`: parse (`ast.rs`, with the handler rules) → generate (`expand.rs`).
//!
//! Enters: an inherent impl block of the saga's state type with `#[start(key = ...)]`,
//! `#[on(key = ...)]` and `#[end(key = ...)]` event handlers, `#[deadline]` and `#[rejected]`
//! handlers, and `#[saga(name = "...", crate = path)]`.
//! Reports: a missing name, no `#[start]` handler, a handler with no key, bad handler
//! signatures, two handlers of one type, unknown or repeated keys, all in one compile. With
//! errors, it still emits the impl block, so that the methods stay callable.

mod ast;
mod expand;

use proc_macro2::TokenStream;
use quote::ToTokens;

use crate::ctxt::Ctxt;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let args = ast::parse_args(&mut cx, args);
    let item_impl = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Impl(item_impl)) => item_impl,
        Ok(other) => {
            cx.push(syn::Error::new(
                proc_macro2::Span::call_site(),
                "`#[saga]` goes on the impl block that holds the saga's handlers, as in `#[saga(name = \"fulfilment\")] impl Fulfilment { ... }`",
            ));
            return cx.errors_then(other.into_token_stream());
        }
        Err(e) => {
            cx.push(e);
            return cx.errors_then(item);
        }
    };
    let model = ast::parse(&mut cx, args, item_impl);
    match cx.into_compile_errors() {
        None => expand::generate(&model),
        Some(mut errors) => {
            errors.extend(model.item.into_token_stream());
            errors
        }
    }
}
