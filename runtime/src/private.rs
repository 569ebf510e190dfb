//! Not public API. Used by generated code: the macros emit `::eventsmith::__private::…`
//! paths only, so a user's own `serde`, `Result` or `Vec` cannot break an expansion.

pub use core::convert::Infallible;
pub use core::future::Future;
pub use core::marker::{Send, Sync};
pub use core::option::Option::{self, None, Some};
pub use core::result::Result::{self, Err, Ok};
pub use std::borrow::Cow;
pub use std::boxed::Box;
pub use std::string::String;
pub use std::vec::Vec;

pub use inventory;

pub use crate::aggregate::Aggregate;
pub use crate::codec::{Codec, CodecError};
pub use crate::command::{AggregateId, Command, Decision, HandledCommand, IdempotencyKey};
pub use crate::event::{DecodeFailure, Event, EventSet, IntoEvents, decode_event};
pub use crate::registry::{AggregateRegistration, EventRegistration};

/// Not public API. Used by generated code: splits a handler's return type named `Result`
/// (`std`'s or an alias of it) into its events and its domain error.
pub trait HandlerResult {
    /// The events.
    type Ok;
    /// The domain error.
    type Err;
    /// The value as a plain `Result`.
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
}

impl<T, E> HandlerResult for Result<T, E> {
    type Ok = T;
    type Err = E;
    fn into_result(self) -> Self {
        self
    }
}

/// Not public API. Used by generated code: collects a handler's returned events.
pub fn collect_events<Ev, T: IntoEvents<Ev>>(events: T) -> Vec<Ev> {
    let mut out = Vec::with_capacity(1);
    events.into_events(&mut out);
    out
}

/// Not public API. Used by generated code: the error for a stored name no event of the set has.
#[must_use]
pub fn unknown_event(name: &str, known: &'static [&'static str]) -> DecodeFailure {
    DecodeFailure::UnknownEvent {
        name: name.to_owned(),
        known,
    }
}
