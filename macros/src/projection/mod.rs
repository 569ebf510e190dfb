//! `#[projection]`: parse (`ast.rs`, with the signature rules) → generate (`expand.rs`).
//!
//! Enters: an inherent impl block of the read model's type with `#[on]` methods (and
//! `#[query]` methods that answer queries from the model), and
//! `#[projection(name = "...", crate = path)]`.
//! Reports: the wrong kind of item, trait impls, generics, no handlers, bad handler signatures,
//! two handlers of one event type, unknown or repeated keys, all in one compile. With errors,
//! it still emits the impl block, so that the methods stay callable.

mod ast;
mod expand;
mod method;
mod query;

use proc_macro2::TokenStream;

use crate::ctxt::Ctxt;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let args = ast::parse_args(&mut cx, args);
    let misplaced = "`#[projection]` goes on the impl block that holds the `#[on]` handlers, as in `#[projection] impl Balances { ... }`";
    let item_impl = match cx.impl_block(item, misplaced) {
        Ok(item_impl) => item_impl,
        Err(item) => return cx.errors_then(item),
    };
    let model = ast::parse(&mut cx, args, item_impl);
    cx.generated_or_errors(&model.item, || expand::generate(&model))
}

#[cfg(test)]
mod tests {
    use quote::ToTokens;

    use super::*;

    /// The re-emitted methods, by name, with their attributes.
    fn methods(item: syn::ItemImpl) -> Vec<(String, String)> {
        item.items
            .into_iter()
            .filter_map(|item| match item {
                syn::ImplItem::Fn(f) => Some((
                    f.sig.ident.to_string(),
                    f.attrs
                        .iter()
                        .map(|a| a.to_token_stream().to_string())
                        .collect::<Vec<_>>()
                        .join(" "),
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_query_method_may_read_its_query_by_reference() {
        let mut cx = Ctxt::default();
        let args = ast::parse_args(&mut cx, TokenStream::new());
        let item = syn::parse_quote! {
            impl Accounts {
                #[on]
                fn opened(&mut self, event: &Opened) {}

                /// Whether `owner` opened one.
                #[query]
                #[expect(clippy::needless_pass_by_value)]
                fn opened_by(&self, query: OpenedBy) -> bool { false }
            }
        };
        let model = ast::parse(&mut cx, args, item);
        assert!(cx.into_compile_errors().is_none());
        let methods = methods(model.item);
        let (on, query) = (&methods[0], &methods[1]);
        assert_eq!(on, &("opened".to_owned(), String::new()));
        assert_eq!(query.0, "opened_by");
        // Before the user's attributes: an `#[expect]` of the same lint wins and is met.
        let allow = query.1.find("allow (clippy :: needless_pass_by_value");
        let expect = query.1.find("expect (clippy :: needless_pass_by_value");
        assert!(allow.is_some() && allow < expect, "{}", query.1);
        assert!(!query.1.contains("# [query]"), "{}", query.1);
    }
}
