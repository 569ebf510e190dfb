//! Generates the `Publication` impl: the handled event names and the routing as a `match` on
//! the stored name, each arm decoding the event, calling the handler and pushing its
//! messages with their subjects.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::ast::{Publication, Publish, Returns};
use super::subject::Part;

// expands to:
// impl OrdersContract { ... }                // the user's block, markers removed
// const _: () = {
//     impl Publication for OrdersContract {
//         const NAME = "orders.public"; const HANDLES = &[HandledEvent::of::<A>(), ...];
//         const MESSAGES = &[PublishedMessage::of::<M>("orders.{tenant}.placed", "M"), ...];
//         fn publish(&self, codec, event, out) -> Result<bool, PublishError> {
//             match &*event.event_type {
//                 __name if <A as Event>::is_stored_as(__name) => {
//                     let __event = decode::<A>;
//                     let __output = self.on_a(&__event);
//                     // one message, `if let Some`, or `for` over a Vec:
//                     out.push(codec, subject_of(&message), &message)?;
//                     Ok(true)
//                 }
//                 _ => Ok(false),
//             }
//         }
//     }
//     inventory::submit! { PublicationRegistration { name, rust_type } }
// };
pub(crate) fn generate(model: &Publication) -> TokenStream {
    let item = &model.item;
    let self_ty = &item.self_ty;
    let krate = model
        .krate
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::eventsmith));
    let p = quote!(#krate::__private);
    let name = &model.name;
    let arms = model.handlers.iter().map(|h| arm(&p, h));
    let handles = model.handlers.iter().map(|h| {
        let ty = &h.event;
        quote_spanned!(ty.span()=> #p::HandledEvent::of::<#ty>())
    });
    let messages = model.handlers.iter().map(|h| {
        let ty = &h.message;
        let template = template(&h.subject);
        let rust_type = quote!(#ty).to_string().replace(' ', "");
        quote_spanned!(ty.span()=> #p::PublishedMessage::of::<#ty>(#template, #rust_type))
    });
    quote! {
        #item

        const _: () = {
            #[automatically_derived]
            impl #p::Publication for #self_ty {
                const NAME: &'static str = #name;
                const HANDLES: &'static [#p::HandledEvent] = &[#(#handles),*];
                const MESSAGES: &'static [#p::PublishedMessage] = &[#(#messages),*];

                fn publish<__C: #p::Codec>(
                    &self,
                    codec: &__C,
                    event: &#p::RecordedEvent,
                    out: &mut #p::Published<'_>,
                ) -> #p::Result<bool, #p::PublishError> {
                    match &*event.event_type {
                        #(#arms)*
                        _ => #p::Ok(false),
                    }
                }
            }

            #p::inventory::submit! {
                #p::PublicationRegistration {
                    name: <#self_ty as #p::Publication>::NAME,
                    rust_type: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#self_ty)),
                }
            }
        };
    }
}

fn arm(p: &TokenStream, h: &Publish) -> TokenStream {
    let (method, ty, message) = (&h.method, &h.event, &h.message);
    let stored_as = quote_spanned!(ty.span()=> <#ty as #p::Event>::is_stored_as);
    let decode = quote_spanned!(ty.span()=> #p::publication_decode::<Self, #ty, __C>);
    let envelope = h.takes_envelope.then(|| quote!(, event));
    let subject = subject(p, h);
    // Spanned at the message type: one that is not an integration message is reported there.
    let push = quote_spanned! {message.span()=>
        out.push::<#message, __C>(codec, #subject, __message)?;
    };
    let publish = match h.returns {
        Returns::One => quote! { let __message = &__output; #push },
        Returns::Optional => quote! { if let #p::Some(__message) = &__output { #push } },
        Returns::Many => quote! { for __message in &__output { #push } },
    };
    quote! {
        __name if #stored_as(__name) => {
            let __event = #decode(codec, event)?;
            let __output = self.#method(&__event #envelope);
            #publish
            #p::Ok(true)
        }
    }
}

/// The subject template as written.
fn template(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|part| match part {
            Part::Text(text) => text.clone(),
            Part::Tenant => "{tenant}".to_owned(),
            Part::Stream => "{stream}".to_owned(),
            Part::Field(field) => format!("{{{field}}}"),
        })
        .collect()
}

/// The subject of `__message`: a literal when the template has no placeholder.
fn subject(p: &TokenStream, h: &Publish) -> TokenStream {
    if let [Part::Text(text)] = h.subject.as_slice() {
        return quote!(#p::String::from(#text));
    }
    let pieces = h.subject.iter().map(|part| match part {
        Part::Text(text) => quote!(.text(#text)),
        Part::Tenant => quote!(.tenant(event)),
        Part::Stream => quote!(.stream(event)),
        Part::Field(field) => {
            // Spanned at the template: a field the message lacks is reported there.
            let field = syn::Ident::new(field, h.subject_span);
            quote_spanned!(h.subject_span=> .token(&__message.#field))
        }
    });
    quote!(#p::Subject::new() #(#pieces)* .finish())
}
