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

use crate::ctxt::Ctxt;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let args = ast::parse_args(&mut cx, args);
    let misplaced = "`#[saga]` goes on the impl block that holds the saga's handlers, as in `#[saga(name = \"fulfilment\")] impl Fulfilment { ... }`";
    let item_impl = match cx.impl_block(item, misplaced) {
        Ok(item_impl) => item_impl,
        Err(item) => return cx.errors_then(item),
    };
    let model = ast::parse(&mut cx, args, item_impl);
    cx.generated_or_errors(&model.item, || expand::generate(&model))
}
