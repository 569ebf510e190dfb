//! Generates the `Projection` impl: the handled event names and the routing as a `match` on
//! the stored name, then an inventory registration.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::ast::Projection;

// expands to:
// impl Balances { ... }                      // the user's block, markers removed
// const _: () = {
//     impl Projection for Balances {
//         const NAME = "Balances"; const HANDLES = &[HandledEvent::of::<A>(), ...];
//         fn handle(&mut self, codec, event, context) -> impl Future { async move {
//             match &*event.event_type {
//                 // its name or a previous one; as cheap as a literal pattern when not renamed
//                 name if <A as Event>::is_stored_as(name) => {
//                     let e = decode::<A>; outcome(self.on_a(&e))  // `.await`ed when async
//                 }
//                 _ => Ok(false),
//             }
//         } }
//     }
//     impl HandledQuery for GetBalance { type Projection = Balances; type Output = u64; ... }
//     inventory::submit! { ProjectionRegistration { name, rust_type, events } }
// };
pub(crate) fn generate(model: &Projection) -> TokenStream {
    let item = &model.item;
    let self_ty = &item.self_ty;
    let krate = model
        .args
        .krate
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::eventsmith));
    let p = quote!(#krate::__private);
    let name = model.args.name.as_ref().map_or_else(
        || {
            let ty = quote!(#self_ty).to_string().replace(' ', "");
            quote!(#ty)
        },
        |lit| quote!(#lit),
    );
    let context = model
        .args
        .context
        .as_ref()
        .map_or_else(|| quote!(()), |ty| quote!(#ty));
    let call = |h: &super::ast::On| {
        let (method, ty) = (&h.method, &h.event);
        let extras = h.extras.iter().map(|extra| match extra {
            super::ast::Extra::Envelope => quote!(event),
            super::ast::Extra::Context => quote!(&mut *context),
        });
        let args = quote!(&__event #(, #extras)*);
        // The paths are spanned at the user's tokens: a type that is not an event is reported
        // at the parameter, a return type that is not allowed at the return type. The locals
        // stay at the call site, so a projection written by a `macro_rules!` still sees them.
        let decode = quote_spanned!(ty.span()=> #p::projection_decode::<Self, #ty, __C>);
        let outcome = quote_spanned!(h.output_span=> #p::projection_outcome::<Self, _>);
        let awaited = h.is_async.then(|| quote!(.await));
        quote! {{
            let __event = #decode(codec, event)?;
            #outcome(self.#method(#args)#awaited, event)
        }}
    };
    let arms = model.handlers.iter().map(|h| {
        let ty = &h.event;
        let stored_as = quote_spanned!(ty.span()=> <#ty as #p::Event>::is_stored_as);
        let call = call(h);
        quote!(__name if #stored_as(__name) => #call,)
    });
    let handles = model.handlers.iter().map(|h| {
        let ty = &h.event;
        quote_spanned!(ty.span()=> #p::HandledEvent::of::<#ty>())
    });
    let queries = model.queries.iter().map(|q| {
        let (method, query, output) = (&q.method, &q.query, &q.output);
        let (context, passed) = if q.takes_context {
            (quote!(context), quote!(, context))
        } else {
            (quote!(_), TokenStream::new())
        };
        let awaited = q.is_async.then(|| quote!(.await));
        quote_spanned! {query.span()=>
            #[automatically_derived]
            impl #p::HandledQuery for #query {
                type Projection = #self_ty;
                type Output = #output;

                async fn answer(
                    projection: &#self_ty,
                    query: Self,
                    #context: &<#self_ty as #p::Projection>::Context,
                ) -> #output {
                    <#self_ty>::#method(projection, query #passed) #awaited
                }
            }
        }
    });
    quote! {
        #item

        const _: () = {
            #(#queries)*

            #[automatically_derived]
            impl #p::Projection for #self_ty {
                const NAME: &'static str = #name;
                const HANDLES: &'static [#p::HandledEvent] = &[#(#handles),*];
                type Context = #context;

                fn handle<'__a, __C: #p::Codec>(
                    &'__a mut self,
                    codec: &'__a __C,
                    event: &'__a #p::RecordedEvent,
                    context: &'__a mut Self::Context,
                ) -> impl ::core::future::Future<
                    Output = #p::Result<bool, #p::ProjectionError>,
                > + ::core::marker::Send + '__a {
                    async move {
                        match &*event.event_type {
                            #(#arms)*
                            _ => #p::Ok(false),
                        }
                    }
                }
            }

            #p::inventory::submit! {
                #p::ProjectionRegistration {
                    name: <#self_ty as #p::Projection>::NAME,
                    rust_type: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#self_ty)),
                }
            }
        };
    }
}
