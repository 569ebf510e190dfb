//! Generates the `Saga` impl: enums of the decoded events, deadlines and rejections, the
//! routing of each as a `match` (on the stored name, the deadline name, the command name),
//! and a `Sends` impl per command type and a `SagaDeadline` impl per deadline type, spanned
//! at the user's types so that a command no aggregate handles is reported there.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::ast::{Key, Role, Saga, Takes};

pub(crate) fn generate(model: &Saga) -> TokenStream {
    let item = &model.item;
    let self_ty = &item.self_ty;
    let krate = model
        .args
        .krate
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::eventsmith));
    let p = quote!(#krate::__private);
    let name = &model.args.name;
    let steps_arg = |takes: &Takes| takes.steps.then(|| quote!(, &mut *steps));

    // Events.
    let event_variants = model.events.iter().enumerate().map(|(i, h)| {
        let (variant, ty) = (format_ident!("E{i}"), &h.event);
        quote!(#variant(#ty))
    });
    let decode_arms = model.events.iter().enumerate().map(|(i, h)| {
        let (variant, ty) = (format_ident!("E{i}"), &h.event);
        let stored_as = quote_spanned!(ty.span()=> <#ty as #p::Event>::is_stored_as);
        let key = match &h.key {
            Key::Field(field) => quote_spanned!(field.span()=> #p::saga_key(&__event.#field)),
            Key::With(path) => quote_spanned!(path.span()=> #p::saga_key(&#path(&__event))),
        };
        let role = match h.role {
            Role::Start => quote!(#p::Role::Start),
            Role::Continue => quote!(#p::Role::Continue),
            Role::End => quote!(#p::Role::End),
        };
        quote! {
            __name if #stored_as(__name) => {
                let __event = #p::saga_decode::<#ty, __C>(codec, event)?;
                let __key = #key;
                #p::Ok(#p::Some((
                    __SagaEvent::#variant(__event),
                    #p::Association { role: #role, key: __key },
                )))
            }
        }
    });
    let handle_arms = model.events.iter().enumerate().map(|(i, h)| {
        let (variant, method) = (format_ident!("E{i}"), &h.method);
        let envelope = h.takes.envelope.then(|| quote!(, envelope));
        let steps_arg = steps_arg(&h.takes);
        quote! {
            __SagaEvent::#variant(__event) => {
                let __out = self.#method(&__event #envelope #steps_arg);
                #p::Sends::<Self>::send_into(__out, steps);
            }
        }
    });
    let handles = model.events.iter().map(|h| {
        let ty = &h.event;
        quote_spanned!(ty.span()=> #p::HandledEvent::of::<#ty>())
    });

    // Deadlines.
    let deadline_variants = model.deadlines.iter().enumerate().map(|(i, h)| {
        let (variant, ty) = (format_ident!("D{i}"), &h.deadline);
        quote!(#variant(#ty))
    });
    let deadline_impls = model.deadlines.iter().map(|h| {
        let ty = &h.deadline;
        let name = deadline_name(ty);
        quote_spanned! {ty.span()=>
            #[automatically_derived]
            impl #p::SagaDeadline<#self_ty> for #ty {
                const NAME: &'static str = #name;
            }
        }
    });
    let decode_deadline_arms = model.deadlines.iter().enumerate().map(|(i, h)| {
        let (variant, ty) = (format_ident!("D{i}"), &h.deadline);
        quote! {
            __name if __name == <#ty as #p::SagaDeadline<#self_ty>>::NAME => {
                #p::serde_json::from_slice(payload).map(|d| #p::Some(__SagaDeadline::#variant(d)))
            }
        }
    });
    let deadline_arms = model.deadlines.iter().enumerate().map(|(i, h)| {
        let (variant, method) = (format_ident!("D{i}"), &h.method);
        let steps_arg = steps_arg(&h.takes);
        quote! {
            __SagaDeadline::#variant(__deadline) => {
                let __out = self.#method(&__deadline #steps_arg);
                #p::Sends::<Self>::send_into(__out, steps);
            }
        }
    });

    // Commands and their rejections.
    let rejection_variants = model.rejected.iter().enumerate().map(|(i, h)| {
        let (variant, ty) = (format_ident!("R{i}"), &h.command);
        quote!(#variant(#ty, <#ty as #p::HandledCommand>::Error))
    });
    let sends_impls = model.commands.iter().map(|ty| {
        let push = quote_spanned!(ty.span()=> #p::Steps::<#self_ty>::push_command::<#ty>);
        quote_spanned! {ty.span()=>
            #[automatically_derived]
            impl #p::Sends<#self_ty> for #ty {
                fn send_into(self, steps: &mut #p::Steps<#self_ty>) {
                    #push(steps, &self);
                }
            }
        }
    });
    let send_arms = model.commands.iter().map(|ty| {
        let rejected = model
            .rejected
            .iter()
            .position(|h| crate::types::same_type(&h.command, ty))
            .map_or_else(
                || quote!(#p::None),
                |i| {
                    let variant = format_ident!("R{i}");
                    quote!(#p::Some(|c, e| __SagaRejection::#variant(c, e)))
                },
            );
        let send = quote_spanned!(ty.span()=> #p::send_stored::<#ty, __B, __SagaRejection>);
        quote! {
            __name if __name == <#ty as #p::Command>::NAME => {
                #send(bus, command, <Self as #p::Saga>::NAME, #rejected).await
            }
        }
    });
    let rejected_arms = model.rejected.iter().enumerate().map(|(i, h)| {
        let (variant, method) = (format_ident!("R{i}"), &h.method);
        let steps_arg = steps_arg(&h.takes);
        quote! {
            __SagaRejection::#variant(__command, __error) => {
                let __out = self.#method(&__command, &__error #steps_arg);
                #p::Sends::<Self>::send_into(__out, steps);
            }
        }
    });

    quote! {
        #item

        const _: () = {
            #[doc(hidden)]
            pub enum __SagaEvent { #(#event_variants,)* }
            #[doc(hidden)]
            pub enum __SagaDeadline { #(#deadline_variants,)* }
            #[doc(hidden)]
            pub enum __SagaRejection { #(#rejection_variants,)* }

            #(#sends_impls)*
            #(#deadline_impls)*

            #[automatically_derived]
            impl #p::Saga for #self_ty {
                const NAME: &'static str = #name;
                const HANDLES: &'static [#p::HandledEvent] = &[#(#handles),*];
                type Event = __SagaEvent;
                type Deadline = __SagaDeadline;
                type Rejection = __SagaRejection;

                fn decode<__C: #p::Codec>(
                    codec: &__C,
                    event: &#p::RecordedEvent,
                ) -> #p::Result<#p::Option<(__SagaEvent, #p::Association)>, #p::DecodeError> {
                    match &*event.event_type {
                        #(#decode_arms)*
                        _ => #p::Ok(#p::None),
                    }
                }

                fn handle(
                    &mut self,
                    event: __SagaEvent,
                    envelope: &#p::RecordedEvent,
                    steps: &mut #p::Steps<Self>,
                ) {
                    let _ = envelope;
                    match event { #(#handle_arms)* }
                }

                fn decode_deadline(
                    name: &str,
                    payload: &[u8],
                ) -> #p::Result<#p::Option<__SagaDeadline>, #p::serde_json::Error> {
                    let _ = payload;
                    match name {
                        #(#decode_deadline_arms)*
                        _ => #p::Ok(#p::None),
                    }
                }

                fn on_deadline(&mut self, deadline: __SagaDeadline, steps: &mut #p::Steps<Self>) {
                    let _ = &steps;
                    match deadline { #(#deadline_arms)* }
                }

                async fn send<__B: #p::CommandBus>(
                    bus: &__B,
                    command: &#p::PendingCommand,
                ) -> #p::Sent<__SagaRejection> {
                    let _ = bus;
                    match &*command.name {
                        #(#send_arms)*
                        _ => #p::unknown_command(command),
                    }
                }

                fn on_rejected(&mut self, rejection: __SagaRejection, steps: &mut #p::Steps<Self>) {
                    let _ = &steps;
                    match rejection { #(#rejected_arms)* }
                }
            }
        };
    }
}

/// A deadline's stored name: its type's name, without the path.
fn deadline_name(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(path) => path
            .path
            .segments
            .last()
            .map_or_else(|| quote!(#ty).to_string(), |s| s.ident.to_string()),
        other => quote!(#other).to_string().replace(' ', ""),
    }
}
