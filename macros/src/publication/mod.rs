//! `#[publication]`: parse (`ast.rs`, with the subject templates of `subject.rs`) → generate
//! (`expand.rs`).
//!
//! Enters: an inherent impl block with `#[publish(subject = "...")]` methods that map a
//! domain event to integration messages, and `#[publication(name = "...", crate = path)]`.
//! Reports: the wrong kind of item, trait impls, generics, a missing name, no handlers, bad
//! handler signatures, bad subject templates, two handlers of one event type, unknown or
//! repeated keys, all in one compile. With errors, it still emits the impl block.

mod ast;
mod expand;
mod subject;

use proc_macro2::TokenStream;

use crate::ctxt::Ctxt;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let args = ast::parse_args(&mut cx, args);
    let misplaced = "`#[publication]` goes on the impl block that holds the `#[publish]` handlers, as in `#[publication(name = \"orders.public\")] impl OrdersContract { ... }`";
    let item_impl = match cx.impl_block(item, misplaced) {
        Ok(item_impl) => item_impl,
        Err(item) => return cx.errors_then(item),
    };
    let model = ast::parse(&mut cx, args, item_impl);
    cx.generated_or_errors(&model.item, || expand::generate(&model))
}
