//! `#[apply]` and `#[handle]` outside an `#[aggregate]` impl block, `#[on]` outside a
//! `#[projection]` one. Inside, the block's macro consumes them before they expand; reaching
//! this module means they are misplaced.

use proc_macro2::{Span, TokenStream};

pub(crate) fn expand(
    name: &str,
    block: &str,
    _args: TokenStream,
    item: TokenStream,
) -> TokenStream {
    let article = if block.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    let message = format!(
        "`#[{name}]` only works on a method inside {article} `#[{block}]` impl block: put `#[{block}]` on the impl block that holds this method"
    );
    let mut out = syn::Error::new(Span::call_site(), message).to_compile_error();
    // Re-emit the item so that the one mistake does not cascade into missing-item errors.
    out.extend(item);
    out
}
