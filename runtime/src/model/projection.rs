//! Projections: read models built from events of any aggregate. `#[projection]` on an impl
//! block with `#[on]` handlers implements [`Projection`]: the stored names it needs (so a
//! store can filter before anything is decoded) and the routing, a `match` on the name.
//!
//! ```
//! use eventsmith::{Event, Projection, RecordedEvent, projection};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize, Event)]
//! struct MoneyDeposited { amount: u64 }
//!
//! #[derive(Default)]
//! struct Totals { deposited: u64, last_position: u64 }
//!
//! #[projection(name = "totals")]
//! impl Totals {
//!     #[on]
//!     fn deposited(&mut self, event: &MoneyDeposited, envelope: &RecordedEvent) {
//!         self.deposited += event.amount;
//!         self.last_position = envelope.global_position;
//!     }
//! }
//!
//! assert_eq!(Totals::NAME, "totals");
//! assert_eq!(eventsmith::projection::stored_names::<Totals>(), ["MoneyDeposited"]);
//! ```

use std::error::Error as StdError;

use crate::model::envelope::RecordedEvent;
use crate::model::error::DecodeError;
use crate::model::event::Event;
use crate::wire::codec::Codec;

/// The names one handled event type is stored under: its name and any previous ones.
#[derive(Debug, Clone, Copy)]
pub struct HandledEvent {
    /// The current stored name.
    pub name: &'static str,
    /// Names it was stored under before a rename.
    pub previous_names: &'static [&'static str],
}

impl HandledEvent {
    /// The names of `E`.
    #[must_use]
    pub const fn of<E: Event>() -> Self {
        Self {
            name: E::NAME,
            previous_names: E::PREVIOUS_NAMES,
        }
    }
}

/// A read model fed by events, in global order. Implemented by `#[projection]`.
pub trait Projection: Send + 'static {
    /// The projection's unique name; its checkpoint is stored under it.
    const NAME: &'static str;

    /// The event types its `#[on]` handlers take.
    const HANDLES: &'static [HandledEvent];

    /// What handlers are given besides the event: `()` for a read model in memory, a
    /// database connection inside the runner's transaction for a SQL read model
    /// (`#[projection(name = "...", context = SqliteConnection)]`, whose handlers that take
    /// it are `async fn`s awaiting their statements).
    type Context: Send + Sync;

    /// Decodes `event` and calls its `#[on]` handler. Answers `Ok(false)` for an event of a
    /// name it does not handle (a store that filters never sends one).
    ///
    /// The future of a read model in memory is ready at once (its handlers are synchronous);
    /// a SQL read model's awaits the statements of its handler.
    ///
    /// # Errors
    /// [`ProjectionError::Decode`] when the payload does not decode through the event's
    /// upcasters, [`ProjectionError::Handler`] when the handler returns an error.
    fn handle<'a, C: Codec>(
        &'a mut self,
        codec: &'a C,
        event: &'a RecordedEvent,
        context: &'a mut Self::Context,
    ) -> impl Future<Output = Result<bool, ProjectionError>> + Send + 'a;
}

/// Every stored name `P` needs: the current and the previous names of each handled event.
#[must_use]
pub fn stored_names<P: Projection>() -> Vec<&'static str> {
    names_of(P::HANDLES)
}

/// Every stored name of `handles`: the current and the previous names of each.
pub(crate) fn names_of(handles: &[HandledEvent]) -> Vec<&'static str> {
    let mut names = Vec::with_capacity(handles.len());
    for handled in handles {
        names.push(handled.name);
        names.extend_from_slice(handled.previous_names);
    }
    names
}

/// An error a boxed handler error can carry.
pub type HandlerError = Box<dyn StdError + Send + Sync + 'static>;

/// A projection could not handle an event; says which and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// The event did not decode.
    #[error("projection `{projection}`: {cause}")]
    Decode {
        /// The projection's name.
        projection: &'static str,
        /// Which event and why.
        cause: Box<DecodeError>,
    },
    /// The `#[on]` handler returned an error.
    #[error(
        "projection `{projection}` failed on `{event_type}` (stream `{stream}` version {version}, global position {position}): {cause}"
    )]
    Handler {
        /// The projection's name.
        projection: &'static str,
        /// The stored event name.
        event_type: String,
        /// The stream.
        stream: String,
        /// The stream version.
        version: u64,
        /// The global position.
        position: u64,
        /// The handler's error.
        cause: HandlerError,
    },
}

/// What an `#[on]` handler may return: nothing, or a `Result` whose error converts into a
/// boxed error.
#[diagnostic::on_unimplemented(
    message = "an `#[on]` handler cannot return `{Self}`",
    label = "return nothing, or a `Result<(), E>` whose error is a `std::error::Error`",
    note = "a projection handler updates the read model; report failures as `Err(e)`, and the projection's error policy decides what happens next"
)]
pub trait OnOutput {
    /// The handler's outcome.
    ///
    /// # Errors
    /// The handler's error, boxed.
    fn into_outcome(self) -> Result<(), HandlerError>;
}

impl OnOutput for () {
    fn into_outcome(self) -> Result<(), HandlerError> {
        Ok(())
    }
}

impl<E: Into<HandlerError>> OnOutput for Result<(), E> {
    fn into_outcome(self) -> Result<(), HandlerError> {
        self.map_err(Into::into)
    }
}

/// Not public API. Used by generated code: decodes one handled event.
///
/// # Errors
/// [`ProjectionError::Decode`] naming the projection and the event.
#[doc(hidden)]
pub fn decode_for<P: Projection, E: Event, C: Codec>(
    codec: &C,
    event: &RecordedEvent,
) -> Result<E, ProjectionError> {
    E::decode_stored(codec, event.schema_version, &event.payload).map_err(|source| {
        ProjectionError::Decode {
            projection: P::NAME,
            cause: Box::new(DecodeError::new(event, source)),
        }
    })
}

/// Not public API. Used by generated code: turns a handler's outcome into the projection's.
///
/// # Errors
/// [`ProjectionError::Handler`] with the event's coordinates.
#[doc(hidden)]
pub fn outcome<P: Projection, O: OnOutput>(
    output: O,
    event: &RecordedEvent,
) -> Result<bool, ProjectionError> {
    output
        .into_outcome()
        .map(|()| true)
        .map_err(|source| ProjectionError::handler::<P>(event, source))
}

impl ProjectionError {
    /// A handler's error on `event`.
    pub(crate) fn handler<P: Projection>(event: &RecordedEvent, source: HandlerError) -> Self {
        Self::Handler {
            projection: P::NAME,
            event_type: event.event_type.to_string(),
            stream: event.stream_id.to_string(),
            version: event.stream_version,
            position: event.global_position,
            cause: source,
        }
    }
}
