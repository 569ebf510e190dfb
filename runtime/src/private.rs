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
pub use crate::envelope::RecordedEvent;
pub use crate::event::{
    DecodeFailure, Event, EventSet, HandlerOutput, IntoEvents, decode_current, unsupported_version,
};
pub use crate::projection::{
    HandledEvent, Projection, ProjectionError, decode_for as projection_decode,
    outcome as projection_outcome,
};
pub use crate::query::HandledQuery;
pub use crate::registry::{
    AggregateRegistration, EventRegistration, OldVersion, ProjectionRegistration,
};
pub use crate::shape::shape_of;
pub use crate::upcast::{UpcastInto, decode_json, decode_old, from_json, run_json, upcast_with};

/// Not public API. Used by generated code: encodes one event (bounded by `Event` so that a
/// type that is not an event is reported as such, not as a missing `Serialize`).
///
/// # Errors
/// The codec's error.
pub fn encode_event<E: Event, C: Codec>(codec: &C, event: &E) -> Result<Vec<u8>, CodecError> {
    codec.encode(event)
}

/// Not public API. Used by generated code: formats one event (bounded by `Event` for the same
/// reason as [`encode_event`]).
///
/// # Errors
/// The formatter's error.
pub fn debug_event<E: Event>(event: &E, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    core::fmt::Debug::fmt(event, f)
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
