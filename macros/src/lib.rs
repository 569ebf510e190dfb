//! Procedural macros of eventsmith. Use them through the `eventsmith` crate, which re-exports
//! them; generated code refers only to `::eventsmith::__private` paths.
//!
//! Each macro lives in its own module as parse → check → generate; this file only declares
//! the entry points.

mod aggregate;
mod attr;
mod command;
mod ctxt;
mod event;
mod misplaced;
mod projection;
mod publication;
mod saga;
mod types;

use proc_macro::TokenStream;

/// Derives `eventsmith::Event`: a stored name (default: the type's name) and a schema version
/// (default 1). Keys: `#[event(name = "...", version = N, renamed_from = ["..."], crate =
/// path)]`, and one `#[upcast(from = N, typed = OldType | json = path)]` per older version.
#[proc_macro_derive(Event, attributes(event, upcast))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    event::expand(&input).into()
}

/// Derives `eventsmith::Command`. Mark the target aggregate's id field `#[command(id)]` and,
/// optionally, an idempotency-key field `#[command(idempotency_key)]`. Container keys:
/// `#[command(name = "...", crate = path)]`.
#[proc_macro_derive(Command, attributes(command))]
pub fn derive_command(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    command::expand(&input).into()
}

/// Turns an impl block of an aggregate's state type into an aggregate: `#[apply]` methods
/// evolve the state, `#[handle]` methods decide. Keys:
/// `#[aggregate(name = "...", events = EnumName, vis = pub(crate), crate = path)]`.
#[proc_macro_attribute]
pub fn aggregate(args: TokenStream, item: TokenStream) -> TokenStream {
    aggregate::expand(args.into(), item.into()).into()
}

/// Marks an event-applying method inside an `#[aggregate]` impl block. On its own it is an
/// error.
#[proc_macro_attribute]
pub fn apply(args: TokenStream, item: TokenStream) -> TokenStream {
    misplaced::expand("apply", "aggregate", args.into(), item.into()).into()
}

/// Marks a command-handling method inside an `#[aggregate]` impl block. On its own it is an
/// error.
#[proc_macro_attribute]
pub fn handle(args: TokenStream, item: TokenStream) -> TokenStream {
    misplaced::expand("handle", "aggregate", args.into(), item.into()).into()
}

/// Turns an impl block of a read model's type into a projection: each `#[on]` method handles
/// one event type. Keys: `#[projection(name = "...", crate = path)]`; the name (default: the
/// type's name) keys the projection's checkpoint.
#[proc_macro_attribute]
pub fn projection(args: TokenStream, item: TokenStream) -> TokenStream {
    projection::expand(args.into(), item.into()).into()
}

/// Turns an impl block into a publication: its `#[publish(subject = "...")]` methods map
/// domain events to integration messages, which a relay publishes to a broker. Keys:
/// `#[publication(name = "...", crate = path)]`; the name keys the relay's checkpoint and the
/// message ids.
#[proc_macro_attribute]
pub fn publication(args: TokenStream, item: TokenStream) -> TokenStream {
    publication::expand(args.into(), item.into()).into()
}

/// Marks a handler inside a `#[publication]` impl block: `#[publish(subject = "...")]`. On
/// its own it is an error.
#[proc_macro_attribute]
pub fn publish(args: TokenStream, item: TokenStream) -> TokenStream {
    misplaced::expand("publish", "publication", args.into(), item.into()).into()
}

/// Marks a query method inside a `#[projection]` impl block: `fn name(&self, query: Q) -> A`
/// answers `Q` for `App::query`. On its own it is an error.
#[proc_macro_attribute]
pub fn query(args: TokenStream, item: TokenStream) -> TokenStream {
    misplaced::expand("query", "projection", args.into(), item.into()).into()
}

/// Marks an event handler inside a `#[projection]` impl block (or, with a key, a `#[saga]`
/// one). On its own it is an error.
#[proc_macro_attribute]
pub fn on(args: TokenStream, item: TokenStream) -> TokenStream {
    misplaced::expand("on", "projection", args.into(), item.into()).into()
}

/// Turns an impl block of a saga's state type into a saga (a process manager): `#[start]`,
/// `#[on]` and `#[end]` methods handle events found by an association key, `#[deadline]`
/// methods the deadlines it set, `#[rejected]` methods the commands an aggregate refused;
/// each returns the commands to send. Keys: `#[saga(name = "...", crate = path)]`; the name
/// keys its stored state.
#[proc_macro_attribute]
pub fn saga(args: TokenStream, item: TokenStream) -> TokenStream {
    saga::expand(args.into(), item.into()).into()
}

/// Marks the handler of the event that starts a saga instance, inside a `#[saga]` impl
/// block: `#[start(key = field)]`. On its own it is an error.
#[proc_macro_attribute]
pub fn start(args: TokenStream, item: TokenStream) -> TokenStream {
    misplaced::expand("start", "saga", args.into(), item.into()).into()
}

/// Marks the handler of the event that ends a saga instance, inside a `#[saga]` impl block:
/// `#[end(key = field)]`. On its own it is an error.
#[proc_macro_attribute]
pub fn end(args: TokenStream, item: TokenStream) -> TokenStream {
    misplaced::expand("end", "saga", args.into(), item.into()).into()
}

/// Marks the handler of a deadline inside a `#[saga]` impl block. On its own it is an error.
#[proc_macro_attribute]
pub fn deadline(args: TokenStream, item: TokenStream) -> TokenStream {
    misplaced::expand("deadline", "saga", args.into(), item.into()).into()
}

/// Marks the handler of a rejected command inside a `#[saga]` impl block. On its own it is an
/// error.
#[proc_macro_attribute]
pub fn rejected(args: TokenStream, item: TokenStream) -> TokenStream {
    misplaced::expand("rejected", "saga", args.into(), item.into()).into()
}
