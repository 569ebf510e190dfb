//! `#[aggregate]`: parse (`ast.rs`) → check (`check.rs`) → generate (`expand.rs`).
//!
//! Enters: an inherent impl block of the aggregate's state type with `#[apply]` and
//! `#[handle]` methods, and `#[aggregate(name = "...", events = Ident, vis = ..., crate = path)]`.
//! Reports: the wrong kind of item, trait impls, generics, bad method signatures, repeated
//! events or commands, unknown or repeated keys, all in one compile. With errors, it still
//! emits the impl block and the code for every valid method, so that one mistake does not
//! cascade into errors about the aggregate being missing. Two aggregates of one crate
//! handling one command are rejected by the compiler through a generated guard.

mod ast;
mod check;
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
                format!(
                    "`#[aggregate]` goes on the impl block that holds the `#[apply]` and `#[handle]` methods, as in `#[aggregate] impl BankAccount {{ ... }}`, not on {}",
                    describe(&other)
                ),
            ));
            return with_errors(cx, other.into_token_stream());
        }
        Err(e) => {
            cx.push(e);
            return with_errors(cx, item);
        }
    };
    let original = item_impl.to_token_stream();
    match ast::parse(&mut cx, args, item_impl) {
        Some(model) => with_errors(cx, expand::generate(&model)),
        None => with_errors(cx, original),
    }
}

fn with_errors(cx: Ctxt, mut output: TokenStream) -> TokenStream {
    if let Some(errors) = cx.into_compile_errors() {
        output.extend(errors);
    }
    output
}

fn describe(item: &syn::Item) -> &'static str {
    match item {
        syn::Item::Struct(_) => "a struct (put `#[aggregate]` on its impl block)",
        syn::Item::Enum(_) => "an enum",
        syn::Item::Fn(_) => "a function",
        syn::Item::Trait(_) => "a trait",
        syn::Item::Mod(_) => "a module",
        _ => "this item",
    }
}
