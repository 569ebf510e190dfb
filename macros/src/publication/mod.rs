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
                "`#[publication]` goes on the impl block that holds the `#[publish]` handlers, as in `#[publication(name = \"orders.public\")] impl OrdersContract { ... }`",
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
