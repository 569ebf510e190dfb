//! Collects every error a macro finds, so that one compile reports them all, each spanned on
//! the offending token.

use std::fmt::Display;

use proc_macro2::TokenStream;
use quote::ToTokens;

/// The errors found so far.
#[derive(Default)]
pub(crate) struct Ctxt {
    errors: Option<syn::Error>,
}

impl Ctxt {
    /// Records an error spanned on `tokens`.
    pub(crate) fn error_at(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error already built.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.errors {
            Some(errors) => errors.combine(error),
            None => self.errors = Some(error),
        }
    }

    /// Records the error of a failed result, keeping its value otherwise.
    pub(crate) fn ok<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    /// The impl block a block macro (`#[projection]`, `#[saga]`, `#[publication]`) is on. On
    /// another item the error `misplaced` is recorded, on tokens that do not parse theirs, and
    /// the tokens to re-emit after the errors are answered.
    pub(crate) fn impl_block(
        &mut self,
        item: TokenStream,
        misplaced: &str,
    ) -> Result<syn::ItemImpl, TokenStream> {
        match syn::parse2::<syn::Item>(item.clone()) {
            Ok(syn::Item::Impl(item_impl)) => Ok(item_impl),
            Ok(other) => {
                self.push(syn::Error::new(proc_macro2::Span::call_site(), misplaced));
                Err(other.into_token_stream())
            }
            Err(e) => {
                self.push(e);
                Err(item)
            }
        }
    }

    /// What a block macro answers: `generate`'s code when nothing was wrong, else the errors
    /// followed by the block, so that its methods stay callable.
    pub(crate) fn generated_or_errors(
        self,
        item: &syn::ItemImpl,
        generate: impl FnOnce() -> TokenStream,
    ) -> TokenStream {
        match self.into_compile_errors() {
            None => generate(),
            Some(mut errors) => {
                errors.extend(item.to_token_stream());
                errors
            }
        }
    }

    /// The errors, then `item` re-emitted, so that the methods of a block with a mistake
    /// stay callable and one mistake does not cascade into missing-item errors.
    pub(crate) fn errors_then(self, item: TokenStream) -> TokenStream {
        let mut out = self.into_compile_errors().unwrap_or_default();
        out.extend(item);
        out
    }

    /// All the errors as `compile_error!` invocations, or `None` when there were none.
    pub(crate) fn into_compile_errors(self) -> Option<TokenStream> {
        self.errors.map(|e| e.to_compile_error())
    }
}
