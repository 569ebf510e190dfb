//! Not public API. Used by generated code: the macros emit `::eventsmith::__private::…`
//! paths only, so a user's own `serde`, `Result` or `Vec` cannot break an expansion.

pub use core::convert::{Infallible, Into};
pub use core::future::Future;
pub use core::marker::{Send, Sync};
pub use core::option::Option::{self, None, Some};
pub use core::result::Result::{self, Err, Ok};
pub use std::borrow::Cow;
pub use std::boxed::Box;
pub use std::string::String;
pub use std::vec::Vec;

pub use inventory;
pub use serde_json;

pub use crate::model::aggregate::Aggregate;
pub use crate::model::command::{AggregateId, Command, Decision, HandledCommand, IdempotencyKey};
pub use crate::model::envelope::RecordedEvent;
pub use crate::model::error::DecodeError;
pub use crate::model::event::{
    DecodeFailure, Event, EventSet, HandlerOutput, IntoEvents, decode_current, unsupported_version,
};
pub use crate::model::projection::{
    HandledEvent, Projection, ProjectionError, decode_for as projection_decode,
    outcome as projection_outcome,
};
pub use crate::model::query::HandledQuery;
pub use crate::model::registry::{
    AggregateRegistration, EventRegistration, ProjectionRegistration, PublicationRegistration,
};
pub use crate::outbox::{
    Publication, PublishError, Published, PublishedMessage, Subject,
    decode_for as publication_decode,
};
pub use crate::process::saga::{
    Association, CommandBus, Role, Saga, SagaDeadline, Sends, Sent, Steps,
    decode_event as saga_decode, key_of as saga_key, send_stored, unknown_command,
};
pub use crate::store::PendingCommand;
pub use crate::wire::codec::{Codec, CodecError};
pub use crate::wire::shape::OldVersion;
pub use crate::wire::shape::shape_of;
pub use crate::wire::upcast::{UpcastError, UpcastInto};

use serde::de::DeserializeOwned;
use serde_json::Value;

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

/// Not public API. Used by generated code: reads a stored payload as the old struct `T` of
/// `version`.
///
/// # Errors
/// [`DecodeFailure::Malformed`] naming the event `E` and the version.
#[doc(hidden)]
pub fn decode_old<E: Event, T: DeserializeOwned, C: Codec>(
    codec: &C,
    version: u32,
    payload: &[u8],
) -> Result<T, DecodeFailure> {
    codec
        .decode(payload)
        .map_err(|source| malformed::<E>(version, source))
}

/// Not public API. Used by generated code: reads a stored payload of `version` as JSON.
///
/// # Errors
/// [`DecodeFailure::Malformed`] naming the event `E` and the version.
#[doc(hidden)]
pub fn decode_json<E: Event, C: Codec>(
    codec: &C,
    version: u32,
    payload: &[u8],
) -> Result<Value, DecodeFailure> {
    decode_old::<E, Value, C>(codec, version, payload)
}

/// Not public API. Used by generated code: runs the JSON upcaster of version `from`.
///
/// # Errors
/// [`DecodeFailure::Upcast`] carrying the upcaster's error.
#[doc(hidden)]
pub fn run_json<E: Event>(
    from: u32,
    upcaster: fn(Value) -> Result<Value, UpcastError>,
    value: Value,
) -> Result<Value, DecodeFailure> {
    upcaster(value).map_err(|source| DecodeFailure::Upcast {
        name: E::NAME,
        from,
        cause: source,
    })
}

/// Not public API. Used by generated code: reads the JSON of `version` as its type `T`.
///
/// # Errors
/// [`DecodeFailure::Malformed`] when the JSON does not fit `T`.
#[doc(hidden)]
pub fn from_json<E: Event, T: DeserializeOwned>(
    version: u32,
    value: Value,
) -> Result<T, DecodeFailure> {
    serde_json::from_value(value).map_err(|e| malformed::<E>(version, CodecError::new(e)))
}

/// Not public API. Used by generated code: a typed step with a named conversion function.
#[doc(hidden)]
pub fn upcast_with<Old, Next>(convert: impl FnOnce(Old) -> Next, old: Old) -> Next {
    convert(old)
}

fn malformed<E: Event>(version: u32, source: CodecError) -> DecodeFailure {
    DecodeFailure::Malformed {
        name: E::NAME,
        version,
        cause: source,
    }
}
