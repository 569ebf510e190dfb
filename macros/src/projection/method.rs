//! What `#[on]` handlers and `#[query]` methods share: synchronous unless allowed, not
//! generic, a borrowed receiver of the right mutability.

use syn::{FnArg, Signature};

use crate::ctxt::Ctxt;

/// The rules of one kind of method, with the words of its errors.
pub(crate) struct Rules<'a> {
    /// "`#[on]` handlers are synchronous" and the like start with this.
    pub(crate) kind: &'a str,
    /// Whether it may be an `async fn`.
    pub(crate) may_be_async: bool,
    /// Why it cannot be async.
    pub(crate) why_sync: &'a str,
    /// Whether the receiver is `&mut self` (else `&self`).
    pub(crate) mutable: bool,
    /// The error for another receiver.
    pub(crate) receiver: &'a str,
    /// How the method looks, appended to every error.
    pub(crate) shape: &'a str,
}

/// Checks the shared rules, reporting every mistake. Answers whether all held and the
/// parameters after the receiver (`None` without a receiver: nothing more to check).
pub(crate) fn check<'s>(
    cx: &mut Ctxt,
    sig: &'s Signature,
    rules: &Rules<'_>,
) -> (bool, Option<Vec<&'s FnArg>>) {
    let shape = rules.shape;
    let mut ok = true;
    if let (Some(asyncness), false) = (sig.asyncness, rules.may_be_async) {
        cx.error_at(
            asyncness,
            format!("{} are synchronous{}; {shape}", rules.kind, rules.why_sync),
        );
        ok = false;
    }
    if !sig.generics.params.is_empty() {
        cx.error_at(
            &sig.generics,
            format!("{} are not generic; {shape}", rules.kind),
        );
        ok = false;
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r))
            if r.reference.is_some() && r.mutability.is_some() == rules.mutable => {}
        Some(other) => {
            cx.error_at(other, format!("{}; {shape}", rules.receiver));
            ok = false;
        }
        None => {
            cx.error_at(&sig.ident, format!("{}; {shape}", rules.receiver));
            return (false, None);
        }
    }
    (ok, Some(inputs.collect()))
}
